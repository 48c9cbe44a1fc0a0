//! The real kernel behind the [`Backend`] interface.
//!
//! Each process of a scenario is a real process running the `bpfsim-agent` binary (see
//! [`agent`]), driven by this process (the controller) over a Unix stream socket with the
//! small request/reply protocol of [`wire`]. Every bpf() call is a raw `bpf(2)` in the agent,
//! its attr built with the simulator's encoders (`sim::attr`, `MapCreateAttr::encode`,
//! `ProgLoadAttr::encode`), its pointers the addresses of buffers in the agent that end at a
//! guard page. `fork` forks the agent (the child shares every open file description and
//! gets its own control socket, passed to the controller with `SCM_RIGHTS`), `exit` `_exit`s
//! it and returns once the process is gone, so its fds are closed: `waitpid` for agents this
//! process spawned, a pidfd for forked ones (the controller is a child subreaper, so a forked
//! agent whose parent agent exited first is reaped here, not left a zombie). `pass_fd` relays
//! an fd from one agent to another through this process with `SCM_RIGHTS` on both control
//! sockets, keeping no copy.
//!
//! Everything the backend creates lives under a fresh `mkdtemp` directory in `/tmp`
//! ([`Backend::scratch_dir`]); dropping the backend (also while a test panics) kills the
//! remaining agents, detaches every mount under that directory (deepest first) and removes it.

pub mod agent;
pub mod sys;
pub mod wire;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sim::Errno;
use sim::attr::{AttrBuf, off};
use sim::uapi::cmd;

use self::sys::{become_subreaper, bpf_typed, pidfd_kill, pidfd_open, pidfd_reap, pidfd_wait};
use self::wire::{Reply, Request};
use super::{Backend, BpfCall, BpfRet, FsCall, Kind, ProcId, TestRunCall, TestRunOut};

/// How long the controller waits for an agent's reply or exit before calling it hung.
const AGENT_TIMEOUT: Duration = Duration::from_secs(30);

/// One agent process.
#[derive(Debug)]
struct Agent {
    /// The controller's end of the control socket.
    sock: UnixStream,
    /// The agent's pid.
    pid: i32,
    /// A pidfd for it (kill and wait without pid reuse races).
    pidfd: OwnedFd,
    /// For agents this process spawned (its children): the handle to reap them.
    child: Option<Child>,
}

impl Agent {
    /// Sends `req` and reads the reply (and an fd passed with it).
    fn call(&mut self, req: &Request) -> (Reply, Option<OwnedFd>) {
        self.call_passing(req, None)
    }

    /// Sends `req` with `pass` attached (`SCM_RIGHTS`), closes `pass` as soon as it is sent
    /// (the message in flight holds the file until the agent receives it), and reads the
    /// reply (and an fd passed with it).
    fn call_passing(&mut self, req: &Request, pass: Option<OwnedFd>) -> (Reply, Option<OwnedFd>) {
        let pid = self.pid;
        let sent = wire::send_frame(
            self.sock.as_fd(),
            &wire::encode_request(req),
            pass.as_ref().map(AsFd::as_fd),
        );
        drop(pass);
        if let Err(e) = sent {
            panic!("bpfsim-agent {pid}: sending {req:?}: {e}");
        }
        let (frame, mut fds) = wire::recv_frame(self.sock.as_fd())
            .unwrap_or_else(|e| panic!("bpfsim-agent {pid}: no reply to {req:?}: {e}"));
        let reply = wire::decode_reply(&frame)
            .unwrap_or_else(|e| panic!("bpfsim-agent {pid}: bad reply: {e}"));
        (reply, fds.pop())
    }

    /// Waits until the process is gone (reaping it if it is our child).
    fn wait_gone(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.wait().is_ok(),
            None => {
                let gone = pidfd_wait(self.pidfd.as_fd(), AGENT_TIMEOUT.as_millis() as i32);
                if gone {
                    pidfd_reap(self.pidfd.as_fd());
                }
                gone
            }
        }
    }

    /// SIGKILL and wait.
    fn kill(mut self) {
        let _ = pidfd_kill(self.pidfd.as_fd(), libc::SIGKILL);
        if !self.wait_gone() {
            eprintln!("bpfsim: agent {} did not die after SIGKILL", self.pid);
        }
    }
}

/// [`Backend`] over the running Linux kernel. Needs root (and bpf(), and bpffs mounts);
/// [`LinuxBackend::new`] says why not when it cannot run.
#[derive(Debug)]
pub struct LinuxBackend {
    agent_path: PathBuf,
    scratch: String,
    procs: BTreeMap<u32, Agent>,
    next_proc: u32,
}

/// [`LinuxBackend::new`]: the kernel tier, or the reason it cannot run here.
pub fn kernel_tier() -> Result<LinuxBackend, String> {
    LinuxBackend::new()
}

/// Where the agent binary is when no path is given: `$BPFSIM_AGENT`, else next to the current
/// executable or one directory up (test binaries live in `target/<profile>/deps/`).
fn find_agent() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BPFSIM_AGENT") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("bpfsim-agent"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "bpfsim-agent not found near {} (set BPFSIM_AGENT)",
                exe.display()
            )
        })
}

/// `BPF_MAP_CREATE` of a one-element array and close: may this process use bpf()?
fn probe_bpf() -> Result<(), Errno> {
    let a = sim::MapCreateAttr::new(sim::uapi::map_type::ARRAY, 4, 4, 1).encode();
    let (fd, _) = bpf_typed(cmd::MAP_CREATE, a)?;
    // SAFETY: closing the fd bpf() just returned, owned by nobody else.
    unsafe { libc::close(fd as i32) };
    Ok(())
}

/// The mount points under `dir` (itself included), from `/proc/self/mountinfo`.
fn mounts_under(dir: &str) -> Vec<String> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    let prefix = format!("{dir}/");
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|m| m == dir || m.starts_with(&prefix))
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `umount2(MNT_DETACH)` of every mount under `dir`, deepest first, until none is left.
fn unmount_all_under(dir: &str) {
    for _ in 0..64 {
        let mut ms = mounts_under(dir);
        if ms.is_empty() {
            return;
        }
        ms.sort_by_key(|m| std::cmp::Reverse(m.matches('/').count()));
        for m in ms {
            let Ok(c) = CString::new(m.clone()) else {
                continue;
            };
            // SAFETY: a NUL-terminated path that lives across the call.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
                eprintln!("bpfsim: umount2({m}): {}", std::io::Error::last_os_error());
            }
        }
    }
    eprintln!("bpfsim: mounts left under {dir}: {:?}", mounts_under(dir));
}

/// Whether `path` is an absolute path inside `scratch`, without `..` components.
fn inside(scratch: &str, path: &str) -> bool {
    path.strip_prefix(scratch)
        .is_some_and(|rest| rest.starts_with('/'))
        && !path.split('/').any(|c| c == "..")
}

impl LinuxBackend {
    /// The kernel tier with the agent binary found by [`find_agent`]-style lookup
    /// (`$BPFSIM_AGENT`, or next to the current executable).
    pub fn new() -> Result<LinuxBackend, String> {
        Self::check_privilege()?;
        LinuxBackend::with_agent(find_agent()?)
    }

    /// The kernel tier with the agent binary at `agent` (integration tests pass
    /// `env!("CARGO_BIN_EXE_bpfsim-agent")`). `Err` says why the kernel tier cannot run here:
    /// not root, bpf() not permitted, or bpffs mounts not permitted.
    pub fn with_agent(agent: impl Into<PathBuf>) -> Result<LinuxBackend, String> {
        Self::check_privilege()?;
        let agent_path = agent.into();
        if !agent_path.is_file() {
            return Err(format!("agent binary {} not found", agent_path.display()));
        }
        let mut tmpl = *b"/tmp/bpfsim.XXXXXX\0";
        // SAFETY: mkdtemp rewrites the X's of the NUL-terminated template in place.
        if unsafe { libc::mkdtemp(tmpl.as_mut_ptr().cast()) }.is_null() {
            return Err(format!("mkdtemp: {}", std::io::Error::last_os_error()));
        }
        let scratch = String::from_utf8_lossy(&tmpl[..tmpl.len() - 1]).into_owned();
        become_subreaper();
        // From here on, Drop cleans up.
        let b = LinuxBackend {
            agent_path,
            scratch,
            procs: BTreeMap::new(),
            next_proc: 1,
        };
        // Like the simulator's /tmp: world-writable and sticky, so unprivileged processes can
        // reach what a scenario puts here.
        std::fs::set_permissions(
            &b.scratch,
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .map_err(|e| format!("chmod {}: {e}", b.scratch))?;
        b.probe_mount()?;
        Ok(b)
    }

    fn check_privilege() -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(format!("not root (euid {euid})"));
        }
        probe_bpf().map_err(|e| format!("bpf() not permitted ({e:?})"))
    }

    /// Mount and unmount a bpffs under the scratch directory.
    fn probe_mount(&self) -> Result<(), String> {
        let dir = format!("{}/.probe", self.scratch);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        let c = CString::new(dir.clone()).expect("no NUL in a mkdtemp path");
        // SAFETY: NUL-terminated strings that live across the call; NULL data.
        let r = unsafe {
            libc::mount(
                c"bpf".as_ptr(),
                c.as_ptr(),
                c"bpf".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if r != 0 {
            return Err(format!(
                "mounting bpffs not permitted ({})",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: as above.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        std::fs::remove_dir(&dir).map_err(|e| format!("rmdir {dir}: {e}"))
    }

    /// The pid of process `p`, if it is alive.
    pub fn pid(&self, p: ProcId) -> Option<i32> {
        self.procs.get(&p.0).map(|a| a.pid)
    }

    fn add(&mut self, a: Agent) -> ProcId {
        let id = self.next_proc;
        self.next_proc += 1;
        self.procs.insert(id, a);
        ProcId(id)
    }

    fn call(&mut self, p: ProcId, req: &Request) -> Reply {
        match self.procs.get_mut(&p.0) {
            Some(a) => a.call(req).0,
            None => Err(Errno::ESRCH),
        }
    }

    /// A path argument must stay inside the scratch directory: the backend never touches the
    /// rest of the machine (`/sys/fs/bpf` included).
    fn guard_path(&self, path: &str) {
        assert!(
            inside(&self.scratch, path),
            "LinuxBackend: path {path:?} is outside the scratch directory {}",
            self.scratch
        );
    }
}

impl Drop for LinuxBackend {
    fn drop(&mut self) {
        for (_, a) in std::mem::take(&mut self.procs) {
            a.kill();
        }
        unmount_all_under(&self.scratch);
        if let Err(e) = std::fs::remove_dir_all(&self.scratch) {
            eprintln!("bpfsim: removing {}: {e}", self.scratch);
        }
    }
}

fn expect_fd(r: Reply) -> Result<i32, Errno> {
    match r? {
        BpfRet::Fd(fd) => Ok(fd),
        other => panic!("bpfsim-agent: expected an fd, got {other:?}"),
    }
}

impl Backend for LinuxBackend {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn scratch_dir(&self) -> &str {
        &self.scratch
    }

    fn spawn(&mut self, root: bool) -> Result<ProcId, String> {
        let (ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        let theirs_fd = theirs.as_raw_fd();
        let mut cmd = Command::new(&self.agent_path);
        cmd.arg(if root { "root" } else { "user" })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .current_dir(Path::new(&self.scratch));
        // SAFETY: between fork and exec the closure only calls dup2, which is
        // async-signal-safe. dup2 leaves the new fd without FD_CLOEXEC, so the agent's end
        // survives exec at CONTROL_FD while the original (close-on-exec) goes away.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(theirs_fd, agent::CONTROL_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", self.agent_path.display()))?;
        drop(theirs);
        let pid = child.id() as i32;
        let pidfd = pidfd_open(pid).map_err(|e| format!("pidfd_open({pid}): {e:?}"))?;
        ours.set_read_timeout(Some(AGENT_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let a = Agent {
            sock: ours,
            pid,
            pidfd,
            child: Some(child),
        };
        // The agent greets with its pid once it is ready (privileges dropped).
        let hello = wire::recv_frame(a.sock.as_fd())
            .map_err(|e| e.to_string())
            .and_then(|(f, _)| wire::decode_reply(&f));
        match hello {
            Ok(Ok(BpfRet::Id(p))) if p as i32 == pid => Ok(self.add(a)),
            other => {
                a.kill();
                Err(format!("agent {pid} did not start: {other:?}"))
            }
        }
    }

    fn fork(&mut self, p: ProcId) -> Result<ProcId, Errno> {
        let a = self.procs.get_mut(&p.0).ok_or(Errno::ESRCH)?;
        let (reply, fd) = a.call(&Request::Fork);
        let pid = match reply? {
            BpfRet::Id(pid) => pid as i32,
            other => panic!("bpfsim-agent: fork replied {other:?}"),
        };
        let sock = UnixStream::from(fd.expect("fork reply carries the child's control socket"));
        sock.set_read_timeout(Some(AGENT_TIMEOUT))
            .map_err(|_| Errno(libc::EIO))?;
        // The child blocks reading its socket until told otherwise, so `pid` cannot be reused
        // before this pidfd_open.
        let pidfd = pidfd_open(pid)?;
        Ok(self.add(Agent {
            sock,
            pid,
            pidfd,
            child: None,
        }))
    }

    fn exit(&mut self, p: ProcId) -> Result<(), Errno> {
        let mut a = self.procs.remove(&p.0).ok_or(Errno::ESRCH)?;
        if let Err(e) =
            wire::send_frame(a.sock.as_fd(), &wire::encode_request(&Request::Exit), None)
        {
            panic!("bpfsim-agent {}: sending exit: {e}", a.pid);
        }
        assert!(a.wait_gone(), "bpfsim-agent {} did not exit", a.pid);
        Ok(())
    }

    fn close(&mut self, p: ProcId, fd: i32) -> Result<(), Errno> {
        self.call(p, &Request::Close(fd)).map(drop)
    }

    fn dup(&mut self, p: ProcId, fd: i32) -> Result<i32, Errno> {
        expect_fd(self.call(p, &Request::Dup(fd)))
    }

    /// `from` sends `fd` to this process over its control socket (`SCM_RIGHTS`, after an
    /// `F_GETFD` check that answers `EBADF`), which forwards it to `to` the same way and closes
    /// its own copy right after sending; `to` receives it without `MSG_CMSG_CLOEXEC`, so it
    /// lands at `to`'s lowest free fd, not close-on-exec. Errors come in the simulator's
    /// order: `ESRCH` for `from`, `EBADF`, `ESRCH` for `to`, `EMFILE`.
    fn pass_fd(&mut self, from: ProcId, fd: i32, to: ProcId) -> Result<i32, Errno> {
        let a = self.procs.get_mut(&from.0).ok_or(Errno::ESRCH)?;
        let pid = a.pid;
        let (reply, passed) = a.call(&Request::SendFd(fd));
        match reply? {
            BpfRet::Unit => {}
            other => panic!("bpfsim-agent {pid}: SendFd replied {other:?}"),
        }
        let passed =
            passed.unwrap_or_else(|| panic!("bpfsim-agent {pid}: SendFd reply without the fd"));
        // Without `to`, `passed` is closed here and the file keeps only `from`'s reference.
        let b = self.procs.get_mut(&to.0).ok_or(Errno::ESRCH)?;
        let (reply, stray) = b.call_passing(&Request::RecvFd, Some(passed));
        assert!(stray.is_none(), "bpfsim-agent: RecvFd reply carried an fd");
        expect_fd(reply)
    }

    fn bpf(&mut self, p: ProcId, call: &BpfCall) -> Result<BpfRet, Errno> {
        if let BpfCall::Pin { path, .. } = call {
            self.guard_path(path);
        }
        match self.call(p, &Request::Bpf(call.clone())) {
            // The agent answers a test run with its outcome, failed or not.
            Ok(BpfRet::TestRun(TestRunOut { result: Err(e), .. })) => Err(e),
            r => r,
        }
    }

    fn prog_test_run(&mut self, p: ProcId, call: &TestRunCall) -> Result<TestRunOut, Errno> {
        match self.call(p, &Request::Bpf(BpfCall::TestRun(call.clone())))? {
            BpfRet::TestRun(out) => Ok(out),
            other => panic!("bpfsim-agent: a test run replied {other:?}"),
        }
    }

    fn fs(&mut self, p: ProcId, call: &FsCall) -> Result<(), Errno> {
        match call {
            FsCall::MountBpffs(a)
            | FsCall::Umount(a)
            | FsCall::Mkdir(a, _)
            | FsCall::Rmdir(a)
            | FsCall::Unlink(a) => self.guard_path(a),
            FsCall::Link(a, b) | FsCall::Rename(a, b) => {
                self.guard_path(a);
                self.guard_path(b);
            }
        }
        self.call(p, &Request::Fs(call.clone())).map(drop)
    }

    fn id_exists(&mut self, kind: Kind, id: u32) -> bool {
        // Never open the object: an fd by id takes a user reference, and closing it can clear
        // (or, racing a pending clear, leak) a prog_array. GET_NEXT_ID(id - 1) == id instead.
        let Some(start) = id.checked_sub(1) else {
            return false;
        };
        let c = match kind {
            Kind::Map => cmd::MAP_GET_NEXT_ID,
            Kind::Prog => cmd::PROG_GET_NEXT_ID,
        };
        match bpf_typed(c, AttrBuf::default().u32(off::id::START_ID, start)) {
            Ok((_, out)) => out.0[off::id::NEXT_ID..off::id::NEXT_ID + 4] == id.to_le_bytes(),
            Err(_) => false,
        }
    }

    fn settle(&mut self, done: &mut dyn FnMut(&mut dyn Backend) -> bool, timeout_ms: u64) -> bool {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Tell the user, past the test harness's output capture, that the kernel tier did not run
/// here and why (a skipped tier must say so in the test output, not only in `--nocapture`).
pub fn say_skipped(why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "kernel tier skipped: {why}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_and_scratch_paths() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b\134c"), r"/tmp/a b\c");
        assert_eq!(unescape_mountinfo(r"/x\04"), r"/x\04");
        assert!(inside("/tmp/bpfsim.abc", "/tmp/bpfsim.abc/fs/m"));
        assert!(!inside("/tmp/bpfsim.abc", "/tmp/bpfsim.abc"));
        assert!(!inside("/tmp/bpfsim.abc", "/tmp/bpfsim.abcd/x"));
        assert!(!inside("/tmp/bpfsim.abc", "/tmp/bpfsim.abc/../x"));
        assert!(!inside("/tmp/bpfsim.abc", "/sys/fs/bpf/x"));
    }
}

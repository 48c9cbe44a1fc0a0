//! The agent: one real process of a [`super::LinuxBackend`], driven over its control socket.
//!
//! The control socket sits at a high fd ([`CONTROL_FD`] at start, `>= CONTROL_FD` after a
//! fork), so the first fd a bpf() call returns is 3, as in a simulated process, and an fd
//! passed in (`RecvFd`) lands at the lowest free fd as well. The control socket itself is not
//! a scenario fd: `Close`, `Dup` and `SendFd` of it are `EBADF`. The agent runs one request at
//! a time and answers each with one reply; `Exit` is answered by `_exit`.

use std::os::fd::{BorrowedFd, RawFd};

use sim::Errno;
use sim::attr::{AttrBuf, off};
use sim::uapi::cmd;

use super::sys::{GuardBuf, bpf_raw, bpf_typed, check, cpath, last_errno};
use super::wire::{self, Reply, Request};
use crate::backend::{BpfCall, BpfRet, FsCall, Kind, TestRunCall, TestRunOut};

/// Where the controller puts an agent's end of the control socket before `exec`.
pub const CONTROL_FD: RawFd = 1000;

/// The unprivileged user and group (`nobody`/`nogroup`).
const NOBODY: libc::uid_t = 65534;

fn die(msg: &str) -> ! {
    eprintln!("bpfsim-agent[{}]: {msg}", std::process::id());
    // SAFETY: _exit never returns and takes no pointers.
    unsafe { libc::_exit(2) }
}

/// Drops every privilege: no supplementary groups, gid and uid 65534 (real, effective and
/// saved), which clears the permitted, effective and ambient capability sets.
fn drop_privileges() -> Result<(), String> {
    // SAFETY: plain credential syscalls with no pointers except setgroups' empty list.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(format!("setgroups: {}", last_errno().0));
        }
        if libc::setresgid(NOBODY, NOBODY, NOBODY) != 0 {
            return Err(format!("setresgid: {}", last_errno().0));
        }
        if libc::setresuid(NOBODY, NOBODY, NOBODY) != 0 {
            return Err(format!("setresuid: {}", last_errno().0));
        }
    }
    // Check, rather than trust, that no capability is left. Reading /proc opens (and closes)
    // fd 3 before any bpf fd exists.
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    for line in status.lines() {
        if let Some(v) = ["CapPrm:", "CapEff:", "CapAmb:"]
            .iter()
            .find_map(|k| line.strip_prefix(k))
        {
            if u64::from_str_radix(v.trim(), 16) != Ok(0) {
                return Err(format!("capabilities left: {line}"));
            }
        }
    }
    Ok(())
}

/// The agent's `main`: `bpfsim-agent root|user`.
pub fn agent_main() -> ! {
    let args: Vec<String> = std::env::args().collect();
    // SAFETY: umask and signal take no pointers; SIG_IGN for SIGCHLD makes the kernel reap
    // this agent's forked children itself, so nothing waits on them here.
    unsafe {
        libc::umask(0o022);
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
    }
    match args.get(1).map(String::as_str) {
        Some("root") => {}
        Some("user") => {
            if let Err(e) = drop_privileges() {
                die(&e)
            }
        }
        _ => die("usage: bpfsim-agent root|user (started by harness::backend::LinuxBackend)"),
    }
    let mut ctl = CONTROL_FD;
    // SAFETY (for every `BorrowedFd::borrow_raw(ctl)` below): `ctl` is the control socket,
    // open for as long as the agent runs (it is replaced only in a forked child, after the
    // new one is in place).
    let hello: Reply = Ok(BpfRet::Id(std::process::id()));
    if wire::send_frame(
        unsafe { BorrowedFd::borrow_raw(ctl) },
        &wire::encode_reply(&hello),
        None,
    )
    .is_err()
    {
        die("cannot greet the controller");
    }
    loop {
        // Without MSG_CMSG_CLOEXEC: an fd passed with `RecvFd` is installed as SCM_RIGHTS
        // installs it for any process, at the lowest free fd and not close-on-exec. Fds that
        // come with any other request are closed when `got` goes.
        let got = match wire::recv_frame_with(unsafe { BorrowedFd::borrow_raw(ctl) }, false) {
            Ok(r) => r,
            // The controller is gone: so is this process (its objects with it).
            // SAFETY: _exit never returns.
            Err(_) => unsafe { libc::_exit(0) },
        };
        let req = wire::decode_request(&got.payload).unwrap_or_else(|e| die(&e));
        // The control socket is not one of the scenario's fds.
        let visible = |fd: RawFd| if fd == ctl { -1 } else { fd };
        let mut pass = None;
        let reply = match req {
            // SAFETY: _exit never returns; the kernel closes every fd.
            Request::Exit => unsafe { libc::_exit(0) },
            Request::Fork => {
                fork(&mut ctl);
                continue;
            }
            Request::Bpf(c) => run_bpf(&c),
            Request::Fs(c) => run_fs(&c).map(|()| BpfRet::Unit),
            // SAFETY: close/dup/fcntl of an fd number the scenario chose; a bad number is
            // EBADF.
            Request::Close(fd) => {
                check(unsafe { libc::close(visible(fd)) } as libc::c_long).map(|_| BpfRet::Unit)
            }
            // SAFETY: as above.
            Request::Dup(fd) => check(unsafe { libc::dup(visible(fd)) } as libc::c_long)
                .map(|n| BpfRet::Fd(n as i32)),
            // SAFETY: as above.
            Request::SendFd(fd) => check(
                unsafe { libc::fcntl(visible(fd), libc::F_GETFD) } as libc::c_long
            )
            .map(|_| {
                pass = Some(fd);
                BpfRet::Unit
            }),
            Request::RecvFd => recv_fd(got),
        };
        // SAFETY: `pass` was open a moment ago (F_GETFD) and nothing closed it since.
        let pass = pass.map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
        if wire::send_frame(
            unsafe { BorrowedFd::borrow_raw(ctl) },
            &wire::encode_reply(&reply),
            pass,
        )
        .is_err()
        {
            // SAFETY: _exit never returns.
            unsafe { libc::_exit(0) }
        }
    }
}

/// The fd a `RecvFd` request came with: already installed by `recvmsg` at the lowest free fd
/// (the control socket lives at a high fd, out of the way), without close-on-exec, as a
/// process receiving an `SCM_RIGHTS` message gets it. `EMFILE` when the kernel dropped it.
fn recv_fd(mut got: wire::Received) -> Reply {
    use std::os::fd::IntoRawFd as _;
    match (got.fds.pop(), got.fds.is_empty(), got.truncated) {
        (Some(fd), true, false) => Ok(BpfRet::Fd(fd.into_raw_fd())),
        (None, _, true) => Err(Errno::EMFILE),
        (fd, _, _) => die(&format!(
            "RecvFd came with {} fds (truncated: {})",
            got.fds.len() + usize::from(fd.is_some()),
            got.truncated
        )),
    }
}

/// Moves `fd` to the lowest free fd at or above [`CONTROL_FD`] and closes the original, so the
/// fd numbers a scenario sees are not disturbed.
fn to_high_fd(fd: RawFd) -> Result<RawFd, Errno> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) and close on fds this function owns.
    unsafe {
        let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, CONTROL_FD);
        let e = last_errno();
        libc::close(fd);
        if high < 0 { Err(e) } else { Ok(high) }
    }
}

/// `fork()`: a new control socket pair at high fds; the child keeps one end (and closes the
/// parent's control socket), the parent passes the other end to the controller with the
/// child's pid and closes both.
fn fork(ctl: &mut RawFd) {
    let mut pair = [-1; 2];
    // SAFETY: socketpair writes two fds into `pair`.
    let made = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    };
    let reply = |ctl: RawFd, r: Reply, pass: Option<RawFd>| {
        // SAFETY: `ctl` and `pass` are open fds of this process for the duration of the call.
        let (c, p) = unsafe {
            (
                BorrowedFd::borrow_raw(ctl),
                pass.map(|f| BorrowedFd::borrow_raw(f)),
            )
        };
        if wire::send_frame(c, &wire::encode_reply(&r), p).is_err() {
            // SAFETY: _exit never returns.
            unsafe { libc::_exit(0) }
        }
    };
    if made != 0 {
        return reply(*ctl, Err(last_errno()), None);
    }
    let (theirs, mine) = match (to_high_fd(pair[0]), to_high_fd(pair[1])) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            for fd in [a, b].into_iter().flatten() {
                // SAFETY: closing an fd made above.
                unsafe { libc::close(fd) };
            }
            return reply(*ctl, Err(Errno::EMFILE), None);
        }
    };
    // SAFETY: the agent is single-threaded, so the child may run any code after fork.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => {
            let e = last_errno();
            // SAFETY: closing the pair made above.
            unsafe {
                libc::close(theirs);
                libc::close(mine);
            }
            reply(*ctl, Err(e), None)
        }
        0 => {
            // SAFETY: the child closes the parent's control socket and the controller's end.
            unsafe {
                libc::close(*ctl);
                libc::close(theirs);
            }
            *ctl = mine;
        }
        child => {
            // SAFETY: the parent closes the child's end.
            unsafe { libc::close(mine) };
            reply(*ctl, Ok(BpfRet::Id(child as u32)), Some(theirs));
            // SAFETY: passed to the controller; our copy goes.
            unsafe { libc::close(theirs) };
        }
    }
}

fn fd_ret(r: i64) -> BpfRet {
    BpfRet::Fd(r as i32)
}

/// The `u32` at `off` of an attr after the call.
fn out_u32(a: &AttrBuf, off: usize) -> u32 {
    u32::from_le_bytes(a.0[off..off + 4].try_into().expect("4 bytes"))
}

fn cstr_buf(path: &str) -> Result<GuardBuf, Errno> {
    GuardBuf::input(cpath(path)?.as_bytes_with_nul())
}

/// One bpf() call, its attr built with the simulator's encoders and offsets, its pointers the
/// addresses of guard-page buffers in this process. Also `bpfsim --kernel`'s bpf() (`cli::host`).
pub fn run_bpf(call: &BpfCall) -> Reply {
    use off::elem as e;
    match call {
        BpfCall::MapCreate(a) => bpf_typed(cmd::MAP_CREATE, a.encode()).map(|(r, _)| fd_ret(r)),
        BpfCall::Lookup {
            fd,
            key,
            value_len,
            flags,
        } => {
            let (k, v) = (GuardBuf::input(key)?, GuardBuf::output(*value_len)?);
            let a = AttrBuf::default()
                .u32(e::MAP_FD, *fd as u32)
                .u64(e::KEY, k.addr())
                .u64(e::VALUE, v.addr())
                .u64(e::FLAGS, *flags);
            bpf_typed(cmd::MAP_LOOKUP_ELEM, a)?;
            Ok(BpfRet::Bytes(v.to_vec()))
        }
        BpfCall::Update {
            fd,
            key,
            value,
            flags,
        } => {
            let (k, v) = (GuardBuf::input(key)?, GuardBuf::input(value)?);
            let a = AttrBuf::default()
                .u32(e::MAP_FD, *fd as u32)
                .u64(e::KEY, k.addr())
                .u64(e::VALUE, v.addr())
                .u64(e::FLAGS, *flags);
            bpf_typed(cmd::MAP_UPDATE_ELEM, a).map(|_| BpfRet::Unit)
        }
        BpfCall::Delete { fd, key } => {
            let k = GuardBuf::input(key)?;
            let a = AttrBuf::default()
                .u32(e::MAP_FD, *fd as u32)
                .u64(e::KEY, k.addr());
            bpf_typed(cmd::MAP_DELETE_ELEM, a).map(|_| BpfRet::Unit)
        }
        BpfCall::NextKey { fd, key, key_len } => {
            let k = key.as_deref().map(GuardBuf::input).transpose()?;
            let n = GuardBuf::output(*key_len)?;
            let a = AttrBuf::default()
                .u32(e::MAP_FD, *fd as u32)
                .u64(e::KEY, k.as_ref().map_or(0, GuardBuf::addr))
                .u64(e::NEXT_KEY, n.addr());
            bpf_typed(cmd::MAP_GET_NEXT_KEY, a)?;
            Ok(BpfRet::Bytes(n.to_vec()))
        }
        BpfCall::LookupAndDelete { fd, key, value_len } => {
            let (k, v) = (GuardBuf::input(key)?, GuardBuf::output(*value_len)?);
            let a = AttrBuf::default()
                .u32(e::MAP_FD, *fd as u32)
                .u64(e::KEY, k.addr())
                .u64(e::VALUE, v.addr());
            bpf_typed(cmd::MAP_LOOKUP_AND_DELETE_ELEM, a)?;
            Ok(BpfRet::Bytes(v.to_vec()))
        }
        BpfCall::Freeze { fd } => bpf_typed(
            cmd::MAP_FREEZE,
            AttrBuf::default().u32(e::MAP_FD, *fd as u32),
        )
        .map(|_| BpfRet::Unit),
        BpfCall::ProgLoad { .. } => {
            let a = call.prog_load_attr().expect("a ProgLoad call");
            let i = GuardBuf::input(&sim::prog::insn::encode(&a.insns))?;
            let mut lic = a.license.clone().into_bytes();
            lic.push(0);
            let l = GuardBuf::input(&lic)?;
            bpf_typed(cmd::PROG_LOAD, a.encode(i.addr(), l.addr(), 0, 0)).map(|(r, _)| fd_ret(r))
        }
        BpfCall::BindMap { prog_fd, map_fd } => {
            let a = AttrBuf::default()
                .u32(off::bind_map::PROG_FD, *prog_fd as u32)
                .u32(off::bind_map::MAP_FD, *map_fd as u32);
            bpf_typed(cmd::PROG_BIND_MAP, a).map(|_| BpfRet::Unit)
        }
        BpfCall::Pin { fd, path } => {
            let p = cstr_buf(path)?;
            let a = AttrBuf::default()
                .u64(off::obj::PATHNAME, p.addr())
                .u32(off::obj::BPF_FD, *fd as u32);
            bpf_typed(cmd::OBJ_PIN, a).map(|_| BpfRet::Unit)
        }
        BpfCall::Get { path, flags } => {
            let p = cstr_buf(path)?;
            let a = AttrBuf::default()
                .u64(off::obj::PATHNAME, p.addr())
                .u32(off::obj::FILE_FLAGS, *flags);
            bpf_typed(cmd::OBJ_GET, a).map(|(r, _)| fd_ret(r))
        }
        BpfCall::NextId { kind, start } => {
            let c = match kind {
                Kind::Map => cmd::MAP_GET_NEXT_ID,
                Kind::Prog => cmd::PROG_GET_NEXT_ID,
            };
            let (_, out) = bpf_typed(c, AttrBuf::default().u32(off::id::START_ID, *start))?;
            Ok(BpfRet::Id(out_u32(&out, off::id::NEXT_ID)))
        }
        BpfCall::FdById {
            kind: Kind::Map,
            id,
            flags,
        } => {
            let a = AttrBuf::default()
                .u32(off::id::START_ID, *id)
                .u32(off::id::OPEN_FLAGS, *flags);
            bpf_typed(cmd::MAP_GET_FD_BY_ID, a).map(|(r, _)| fd_ret(r))
        }
        BpfCall::FdById {
            kind: Kind::Prog,
            id,
            ..
        } => bpf_typed(
            cmd::PROG_GET_FD_BY_ID,
            AttrBuf::default().u32(off::id::START_ID, *id),
        )
        .map(|(r, _)| fd_ret(r)),
        BpfCall::Info { fd } => info(*fd),
        BpfCall::BtfLoad { data } => {
            let d = GuardBuf::input(data)?;
            let a = sim::kernel::btf::load_attr(d.addr(), data.len() as u32, 0, 0, 0);
            bpf_typed(cmd::BTF_LOAD, a).map(|(r, _)| fd_ret(r))
        }
        BpfCall::ProgLoadFull(a) => {
            let i = GuardBuf::input(&sim::prog::insn::encode(&a.insns))?;
            let mut lic = a.license.clone().into_bytes();
            lic.push(0);
            let l = GuardBuf::input(&lic)?;
            let opt = |b: &[u8]| {
                if b.is_empty() {
                    Ok(None)
                } else {
                    GuardBuf::input(b).map(Some)
                }
            };
            let (fi, li) = (opt(&a.func_info)?, opt(&a.line_info)?);
            let addr = |b: &Option<GuardBuf>| b.as_ref().map_or(0, GuardBuf::addr);
            let attr = a.encode_btf(a.encode(i.addr(), l.addr(), 0, 0), addr(&fi), addr(&li));
            bpf_typed(cmd::PROG_LOAD, attr).map(|(r, _)| fd_ret(r))
        }
        BpfCall::Records { fd } => records(*fd),
        BpfCall::TestRun(c) => test_run(c),
        BpfCall::Raw { cmd, attr, size } => {
            let mut a = GuardBuf::filled(attr)?;
            // SAFETY: `a` ends at a guard page, so a `size` past the bytes faults (EFAULT);
            // pointers inside a raw attr are not translated: the scenario only passes attrs
            // without pointers (or with addresses that fault).
            let ret = unsafe { bpf_raw(*cmd, a.ptr(), *size) }?;
            Ok(BpfRet::Raw {
                ret,
                attr: a.to_vec(),
            })
        }
    }
}

/// `BPF_PROG_TEST_RUN` with guard-page buffers: the reply is always `Ok(TestRun)` once the
/// buffers exist, with the call's errno inside and whatever the kernel wrote back (the
/// controller's `bpf()` turns a failed result into its errno).
fn test_run(c: &TestRunCall) -> Reply {
    let din = c.data_in.as_deref().map(GuardBuf::input).transpose()?;
    let dout = c
        .data_out
        .map(|n| GuardBuf::output(n as usize))
        .transpose()?;
    let cin = c.ctx_in.as_deref().map(GuardBuf::input).transpose()?;
    let cout = c
        .ctx_out
        .map(|n| GuardBuf::output(n as usize))
        .transpose()?;
    let addr = |b: &Option<GuardBuf>| b.as_ref().map_or(0, GuardBuf::addr);
    let mut a = c.attr(addr(&din), addr(&dout), addr(&cin), addr(&cout));
    let len = a.1;
    // SAFETY: `a.0` holds `len` bytes; every pointer in it is the address of a live
    // `GuardBuf` above (or 0), so the kernel's accesses stay inside one or fault at its guard
    // page.
    let result = unsafe { bpf_raw(cmd::PROG_TEST_RUN, a.0[..len].as_mut_ptr(), len as u32) };
    let bytes = |b: &Option<GuardBuf>| b.as_ref().map_or_else(Vec::new, GuardBuf::to_vec);
    Ok(BpfRet::TestRun(TestRunOut::from_attr(
        result.map(drop),
        &a.0,
        bytes(&dout),
        bytes(&cout),
    )))
}

/// `OBJ_GET_INFO_BY_FD` as `Kernel::obj_get_info_by_fd` does it: a probe with a full-size
/// program info struct; for a program, a second call fetching up to 64 map ids and the whole
/// translated program.
fn info(fd: i32) -> Reply {
    use sim::maps::info::{PROG_INFO_SIZE, prog_info as pi};
    let rd =
        |b: &[u8], off: usize| u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"));
    let call = |buf: &GuardBuf| {
        let a = AttrBuf::default()
            .u32(off::info::BPF_FD, fd as u32)
            .u32(off::info::INFO_LEN, PROG_INFO_SIZE as u32)
            .u64(off::info::INFO, buf.addr());
        bpf_typed(cmd::OBJ_GET_INFO_BY_FD, a)
            .map(|(_, out)| out_u32(&out, off::info::INFO_LEN) as usize)
    };
    let probe = GuardBuf::output(PROG_INFO_SIZE)?;
    let len = call(&probe)?;
    if len != PROG_INFO_SIZE {
        let mut info = probe.to_vec();
        info.truncate(len);
        return Ok(BpfRet::Info {
            info,
            map_ids: vec![],
            xlated: vec![],
        });
    }
    let p = probe.to_vec();
    let nr_maps = rd(&p, pi::NR_MAP_IDS).min(64);
    let xlen = rd(&p, pi::XLATED_PROG_LEN);
    let ids = GuardBuf::output(64 * 4)?;
    let x = GuardBuf::output(xlen as usize)?;
    let mut req = vec![0u8; PROG_INFO_SIZE];
    req[pi::NR_MAP_IDS..pi::NR_MAP_IDS + 4].copy_from_slice(&nr_maps.to_le_bytes());
    req[pi::MAP_IDS..pi::MAP_IDS + 8].copy_from_slice(&ids.addr().to_le_bytes());
    req[pi::XLATED_PROG_LEN..pi::XLATED_PROG_LEN + 4].copy_from_slice(&xlen.to_le_bytes());
    req[pi::XLATED_PROG_INSNS..pi::XLATED_PROG_INSNS + 8].copy_from_slice(&x.addr().to_le_bytes());
    let info = GuardBuf::filled(&req)?;
    call(&info)?;
    let info = info.to_vec();
    let n = (rd(&info, pi::NR_MAP_IDS) as usize).min(nr_maps as usize);
    let map_ids = ids.as_slice()[..4 * n]
        .chunks(4)
        .map(|c| rd(c, 0))
        .collect();
    let xl = (rd(&info, pi::XLATED_PROG_LEN) as usize).min(xlen as usize);
    let mut xlated = x.to_vec();
    xlated.truncate(xl);
    Ok(BpfRet::Info {
        info,
        map_ids,
        xlated,
    })
}

/// [`BpfCall::Records`]: learn the counts, then fetch the records into guard-page buffers.
fn records(fd: i32) -> Reply {
    let call = |req: &[u8]| -> Result<Vec<u8>, Errno> {
        let info = GuardBuf::filled(req)?;
        bpf_typed(
            cmd::OBJ_GET_INFO_BY_FD,
            crate::backend::prog_info_attr(fd, info.addr()),
        )?;
        Ok(info.to_vec())
    };
    let probe = call(&crate::backend::records_request(0, 0, 0, 0))?;
    let (nfi, nli) = crate::backend::record_counts(&probe);
    let fi = GuardBuf::output(8 * nfi as usize)?;
    let li = GuardBuf::output(16 * nli as usize)?;
    call(&crate::backend::records_request(
        nfi,
        fi.addr(),
        nli,
        li.addr(),
    ))?;
    Ok(BpfRet::Records {
        func_info: fi.to_vec(),
        line_info: li.to_vec(),
    })
}

/// One filesystem call, made by this process (also `bpfsim --kernel`'s, `cli::host`).
pub fn run_fs(call: &FsCall) -> Result<(), Errno> {
    // SAFETY (every call below): the path arguments are NUL-terminated C strings that live
    // across the call; mount's data argument is NULL.
    let r = match call {
        FsCall::MountBpffs(p) => {
            let p = cpath(p)?;
            unsafe {
                libc::mount(
                    c"bpf".as_ptr(),
                    p.as_ptr(),
                    c"bpf".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            }
        }
        FsCall::Umount(p) => {
            let p = cpath(p)?;
            unsafe { libc::umount2(p.as_ptr(), 0) }
        }
        FsCall::Mkdir(p, mode) => {
            let p = cpath(p)?;
            unsafe { libc::mkdir(p.as_ptr(), *mode as libc::mode_t) }
        }
        FsCall::Rmdir(p) => {
            let p = cpath(p)?;
            unsafe { libc::rmdir(p.as_ptr()) }
        }
        FsCall::Unlink(p) => {
            let p = cpath(p)?;
            unsafe { libc::unlink(p.as_ptr()) }
        }
        FsCall::Link(a, b) => {
            let (a, b) = (cpath(a)?, cpath(b)?);
            unsafe { libc::link(a.as_ptr(), b.as_ptr()) }
        }
        FsCall::Rename(a, b) => {
            let (a, b) = (cpath(a)?, cpath(b)?);
            unsafe { libc::rename(a.as_ptr(), b.as_ptr()) }
        }
    };
    check(r as libc::c_long).map(drop)
}

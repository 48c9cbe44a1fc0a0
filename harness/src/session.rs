//! A traced session on the simulated kernel.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sim::uapi::{map_type, prog_type};
use sim::{Cred, Kernel, KernelConfig, MapCreateAttr, ObjRef, Pid, ProgLoadAttr, SysResult};

/// Renumbers what differs between runs or machines: object ids (per kind, in order of first
/// appearance: `map@1`, `prog@1`), pids (`pid@1`) and fds (per process, in order of first
/// appearance: `fd@1`).
#[derive(Clone, Debug, Default)]
pub struct Normalizer {
    maps: BTreeMap<u32, usize>,
    progs: BTreeMap<u32, usize>,
    pids: BTreeMap<u32, usize>,
    fds: BTreeMap<(u32, i32), usize>,
}

impl Normalizer {
    fn number(table: &mut BTreeMap<u32, usize>, id: u32) -> usize {
        let next = table.len() + 1;
        *table.entry(id).or_insert(next)
    }

    /// `map@N` for map id `id`.
    pub fn map(&mut self, id: u32) -> String {
        format!("map@{}", Self::number(&mut self.maps, id))
    }

    /// `prog@N` for program id `id`.
    pub fn prog(&mut self, id: u32) -> String {
        format!("prog@{}", Self::number(&mut self.progs, id))
    }

    /// `pid@N`.
    pub fn pid(&mut self, pid: Pid) -> String {
        format!("pid@{}", Self::number(&mut self.pids, pid.0))
    }

    /// `fd@N` for `fd` of `pid`. A number reused after a close gets a new name, since it names
    /// a new description.
    pub fn fd(&mut self, pid: Pid, fd: i32) -> String {
        let per_proc = self.fds.keys().filter(|(p, _)| *p == pid.0).count();
        let n = *self.fds.entry((pid.0, fd)).or_insert(per_proc + 1);
        format!("fd@{n}")
    }

    fn forget_fd(&mut self, pid: Pid, fd: i32) {
        // Keep the numbering monotonic per process: re-key the closed fd out of the way.
        if let Some(n) = self.fds.remove(&(pid.0, fd)) {
            self.fds.insert((pid.0, i32::MIN + n as i32), n);
        }
    }
}

/// A simulated machine plus a trace of everything done to it.
#[derive(Clone, Debug)]
pub struct Session {
    /// The kernel.
    pub k: Kernel,
    norm: Normalizer,
    trace: String,
    /// Run the invariant checker after every call and panic on a violation (tests).
    pub check_invariants: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session::new(KernelConfig::default())
    }
}

fn errno_text(r: &SysResult<impl std::fmt::Display>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => format!("-1 {}", e.name().unwrap_or("?")),
    }
}

impl Session {
    /// A fresh machine with `cfg`.
    pub fn new(cfg: KernelConfig) -> Session {
        Session {
            k: Kernel::new(cfg),
            norm: Normalizer::default(),
            trace: String::new(),
            check_invariants: true,
        }
    }

    /// The trace so far, one line per call.
    pub fn trace(&self) -> &str {
        &self.trace
    }

    fn line(&mut self, pid: Option<Pid>, text: String) {
        if let Some(p) = pid {
            let p = self.norm.pid(p);
            let _ = write!(self.trace, "{p}: ");
        }
        self.trace.push_str(&text);
        self.trace.push('\n');
        if self.check_invariants {
            let bad = sim::invariants::check(&self.k);
            assert!(
                bad.is_empty(),
                "invariants violated after `{text}`:\n{}",
                bad.join("\n")
            );
        }
    }

    /// Describe what `fd` of `pid` refers to: `fd@N <map@M>`.
    fn fd_text(&mut self, pid: Pid, fd: i32) -> String {
        let f = self.norm.fd(pid, fd);
        match self.obj_id(pid, fd) {
            Some((true, id)) => format!("{f} <{}>", self.norm.map(id)),
            Some((false, id)) => format!("{f} <{}>", self.norm.prog(id)),
            None => f,
        }
    }

    fn obj_id(&self, pid: Pid, fd: i32) -> Option<(bool, u32)> {
        let obj = self.k.obj_of_fd(pid, fd)?;
        let ex = self.k.explain(obj);
        Some((matches!(obj, ObjRef::Map(_)), ex.id))
    }

    fn result_fd(&mut self, pid: Pid, r: &SysResult<i32>) -> String {
        match r {
            Ok(fd) => self.fd_text(pid, *fd),
            Err(_) => errno_text(r),
        }
    }

    /// Start a process.
    pub fn spawn(&mut self, comm: &str, cred: Cred) -> Pid {
        let pid = self.k.spawn(comm, cred);
        self.line(Some(pid), format!("spawn {comm:?} uid={}", cred.uid));
        pid
    }

    /// `fork()`.
    pub fn fork(&mut self, parent: Pid) -> SysResult<Pid> {
        let r = self.k.fork(parent);
        let text = match r {
            Ok(child) => self.norm.pid(child),
            Err(e) => format!("-1 {}", e.name().unwrap_or("?")),
        };
        self.line(Some(parent), format!("fork() = {text}"));
        r
    }

    /// `exit()`: every fd closes.
    pub fn exit(&mut self, pid: Pid) -> SysResult<()> {
        let r = self.k.exit(pid);
        self.line(Some(pid), format!("exit() = {}", errno_text(&r.map(|_| 0))));
        r
    }

    /// `close(fd)`.
    pub fn close(&mut self, pid: Pid, fd: i32) -> SysResult<()> {
        let f = self.norm.fd(pid, fd);
        let r = self.k.close(pid, fd);
        self.norm.forget_fd(pid, fd);
        self.line(
            Some(pid),
            format!("close({f}) = {}", errno_text(&r.map(|_| 0))),
        );
        r
    }

    /// `dup(fd)`.
    pub fn dup(&mut self, pid: Pid, fd: i32) -> SysResult<i32> {
        let f = self.norm.fd(pid, fd);
        let r = self.k.dup(pid, fd);
        let res = self.result_fd(pid, &r);
        self.line(Some(pid), format!("dup({f}) = {res}"));
        r
    }

    /// `mount -t bpf bpf PATH`.
    pub fn mount_bpffs(&mut self, pid: Pid, path: &str) -> SysResult<()> {
        let r = self.k.mount_bpffs(pid, path).map(drop);
        self.line(
            Some(pid),
            format!(
                "mount(\"bpf\", {path:?}, \"bpf\") = {}",
                errno_text(&r.map(|_| 0))
            ),
        );
        r
    }

    /// `umount PATH`.
    pub fn umount(&mut self, pid: Pid, path: &str) -> SysResult<()> {
        let r = self.k.umount(pid, path);
        self.line(
            Some(pid),
            format!("umount({path:?}) = {}", errno_text(&r.map(|_| 0))),
        );
        r
    }

    /// `unlink PATH`.
    pub fn unlink(&mut self, pid: Pid, path: &str) -> SysResult<()> {
        let r = self.k.unlink(pid, path);
        self.line(
            Some(pid),
            format!("unlink({path:?}) = {}", errno_text(&r.map(|_| 0))),
        );
        r
    }

    /// `BPF_MAP_CREATE`.
    pub fn map_create(&mut self, pid: Pid, a: &MapCreateAttr) -> SysResult<i32> {
        let r = self.k.map_create(pid, a);
        let res = self.result_fd(pid, &r);
        let name = sim::maps::name_to_string(&a.map_name);
        let ty = map_type::name(a.map_type).unwrap_or("?");
        self.line(
            Some(pid),
            format!(
                "bpf(BPF_MAP_CREATE, {{map_type={ty}, key_size={}, value_size={}, max_entries={}, map_flags={:#x}, map_name={name:?}}}) = {res}",
                a.key_size, a.value_size, a.max_entries, a.map_flags
            ),
        );
        r
    }

    /// `BPF_PROG_LOAD`; ld_imm64 map fds in the instructions are shown as the fds they are.
    pub fn prog_load(&mut self, pid: Pid, a: &ProgLoadAttr) -> SysResult<i32> {
        let maps: Vec<String> = a
            .insns
            .iter()
            .filter(|i| i.code == 0x18 && (i.src == 1 || i.src == 2))
            .map(|i| self.fd_text(pid, i.imm))
            .collect();
        let r = self.k.prog_load(pid, a);
        let res = self.result_fd(pid, &r);
        let name = sim::maps::name_to_string(&a.prog_name);
        let ty = prog_type::name(a.prog_type).unwrap_or("?");
        self.line(
            Some(pid),
            format!(
                "bpf(BPF_PROG_LOAD, {{prog_type={ty}, insn_cnt={}, map_fds=[{}], license={:?}, prog_name={name:?}}}) = {res}",
                a.insns.len(),
                maps.join(", "),
                a.license
            ),
        );
        r
    }

    /// `BPF_OBJ_PIN`.
    pub fn obj_pin(&mut self, pid: Pid, fd: i32, path: &str) -> SysResult<()> {
        let f = self.fd_text(pid, fd);
        let r = self.k.obj_pin(pid, fd, path);
        self.line(
            Some(pid),
            format!(
                "bpf(BPF_OBJ_PIN, {{pathname={path:?}, bpf_fd={f}}}) = {}",
                errno_text(&r.map(|_| 0))
            ),
        );
        r
    }

    /// `BPF_OBJ_GET`.
    pub fn obj_get(&mut self, pid: Pid, path: &str, flags: u32) -> SysResult<i32> {
        let r = self.k.obj_get(pid, path, flags);
        let res = self.result_fd(pid, &r);
        self.line(
            Some(pid),
            format!("bpf(BPF_OBJ_GET, {{pathname={path:?}, file_flags={flags:#x}}}) = {res}"),
        );
        r
    }

    /// `BPF_MAP_UPDATE_ELEM`.
    pub fn map_update(
        &mut self,
        pid: Pid,
        fd: i32,
        key: &[u8],
        value: &[u8],
        flags: u64,
    ) -> SysResult<()> {
        let f = self.fd_text(pid, fd);
        let r = self.k.map_update_elem(pid, fd, key, value, flags);
        self.line(
            Some(pid),
            format!("bpf(BPF_MAP_UPDATE_ELEM, {{map_fd={f}, key={key:02x?}, value={value:02x?}, flags={flags}}}) = {}", errno_text(&r.map(|_| 0))),
        );
        r
    }

    /// A `bpftool map show`-like walk: `BPF_MAP_GET_NEXT_ID` from 0 until `ENOENT`, as `pid`.
    /// Returns the ids; the trace shows them normalized.
    pub fn list_maps(&mut self, pid: Pid) -> Vec<u32> {
        let ids = walk_ids(|id| self.k.map_get_next_id(pid, id));
        let names: Vec<String> = ids.iter().map(|&i| self.norm.map(i)).collect();
        self.line(
            Some(pid),
            format!("BPF_MAP_GET_NEXT_ID walk = [{}]", names.join(", ")),
        );
        ids
    }

    /// The same for programs (`BPF_PROG_GET_NEXT_ID`).
    pub fn list_progs(&mut self, pid: Pid) -> Vec<u32> {
        let ids = walk_ids(|id| self.k.prog_get_next_id(pid, id));
        let names: Vec<String> = ids.iter().map(|&i| self.norm.prog(i)).collect();
        self.line(
            Some(pid),
            format!("BPF_PROG_GET_NEXT_ID walk = [{}]", names.join(", ")),
        );
        ids
    }

    /// Run the kernel's deferred releases (an RCU grace period and the work it queues).
    pub fn synchronize(&mut self) {
        self.k.synchronize();
        self.line(None, "-- grace period --".to_string());
    }

    /// Add a free-form comment line to the trace.
    pub fn note(&mut self, text: &str) {
        self.trace.push_str("# ");
        self.trace.push_str(text);
        self.trace.push('\n');
    }

    /// The normalizer, to name ids the same way the trace does.
    pub fn norm(&mut self) -> &mut Normalizer {
        &mut self.norm
    }

    /// Every live object, bpftool-style with holders, named as the trace names them.
    pub fn show(&mut self) -> String {
        crate::show_objects(&self.k, &mut self.norm)
    }
}

/// Every id a `*_GET_NEXT_ID` command yields, from 0 until it fails.
fn walk_ids(mut next: impl FnMut(u32) -> SysResult<u32>) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut id = 0;
    while let Ok(n) = next(id) {
        ids.push(n);
        id = n;
    }
    ids
}

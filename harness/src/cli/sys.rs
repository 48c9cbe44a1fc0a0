//! One invocation of `bpfsim` as one process ([`Proc`]): the bpf() and file system calls a
//! bpftool run makes, each recorded as a strace-like line (`bpf(BPF_MAP_GET_NEXT_ID,
//! {start_id=0, next_id=1}) = 0`) and answered by a [`Calls`]: the simulated machine
//! ([`SimCalls`]) or, under `--kernel`, the running kernel (`super::host`); and the files it
//! reads, served from the host or from the state journal ([`FileSource`]).

use std::collections::BTreeMap;

use sim::loader::load::LoadSys;

use super::info::{Info, MapFdinfo, map_fdinfo, prog_memlock};
use sim::uapi::{map_type, prog_type};
use sim::{Errno, Kernel, MapCreateAttr, Pid, ProgLoadAttr, SysResult, TestRunAttr, TestRunResult};

/// Where an invocation's input files come from: the host (recorded, so the journal can replay
/// them) or a journal entry.
pub trait FileSource {
    /// The bytes of `path`, or the host's error text (`No such file or directory`).
    fn read(&mut self, path: &str) -> Result<Vec<u8>, String>;
    /// Every (path, bytes) read so far, in order, first read of each path only.
    fn recorded(&self) -> Vec<(String, Vec<u8>)>;
    /// Writes an output file (`data_out`); a replay writes nothing.
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), String>;
}

/// Files read from the host file system, each remembered in the order read.
#[derive(Debug, Default)]
pub struct HostFiles {
    /// (path, bytes) of every successful read.
    pub read: Vec<(String, Vec<u8>)>,
    /// Files served without touching the host (embedded objects of `bpfsim seed`).
    pub overlay: BTreeMap<String, Vec<u8>>,
}

impl FileSource for HostFiles {
    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let bytes = match self.overlay.get(path) {
            Some(b) => b.clone(),
            None => std::fs::read(path).map_err(|e| io_text(&e))?,
        };
        if !self.read.iter().any(|(p, _)| p == path) {
            self.read.push((path.to_string(), bytes.clone()));
        }
        Ok(bytes)
    }
    fn recorded(&self) -> Vec<(String, Vec<u8>)> {
        self.read.clone()
    }
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), String> {
        std::fs::write(path, bytes).map_err(|e| io_text(&e))
    }
}

/// Files as a journal entry recorded them: the same path read twice gets the same bytes.
#[derive(Debug, Default)]
pub struct RecordedFiles(pub Vec<(String, Vec<u8>)>);

impl FileSource for RecordedFiles {
    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        self.0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| "No such file or directory".to_string())
    }
    fn recorded(&self) -> Vec<(String, Vec<u8>)> {
        self.0.clone()
    }
    fn write(&mut self, _path: &str, _bytes: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// The text glibc's `strerror` gives for an `io::Error` (without Rust's " (os error N)").
pub fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => strerror(Errno(n)).to_string(),
        None => e.to_string(),
    }
}

/// glibc's `strerror()` text for the errnos the model returns.
pub fn strerror(e: Errno) -> std::borrow::Cow<'static, str> {
    let s = match e.0 {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        3 => "No such process",
        7 => "Argument list too long",
        9 => "Bad file descriptor",
        11 => "Resource temporarily unavailable",
        12 => "Cannot allocate memory",
        13 => "Permission denied",
        14 => "Bad address",
        16 => "Device or resource busy",
        17 => "File exists",
        18 => "Invalid cross-device link",
        19 => "No such device",
        20 => "Not a directory",
        21 => "Is a directory",
        22 => "Invalid argument",
        24 => "Too many open files",
        28 => "No space left on device",
        36 => "File name too long",
        39 => "Directory not empty",
        40 => "Too many levels of symbolic links",
        71 => "Protocol error",
        77 => "File descriptor in bad state",
        95 => "Operation not supported",
        n => return format!("Unknown error {n}").into(),
    };
    s.into()
}

/// strace's rendering of a result.
fn ret<T: std::fmt::Display>(r: &SysResult<T>) -> String {
    match r {
        Ok(v) => format!("{v}"),
        Err(e) => format!("-1 {} ({})", e.name().unwrap_or("E?"), strerror(*e)),
    }
}

fn quoted(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    format!("{:?}", String::from_utf8_lossy(&b[..end]))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The system calls one `bpfsim` process makes, without their log: answered by the
/// simulated machine ([`SimCalls`]) or by the running kernel (`super::host::HostCalls`,
/// `--kernel`). Each is the call bpftool makes, with the kernel's result.
pub trait Calls {
    /// `BPF_MAP_GET_NEXT_ID` / `BPF_PROG_GET_NEXT_ID`.
    fn get_next_id(&mut self, prog: bool, start: u32) -> SysResult<u32>;
    /// `BPF_MAP_GET_FD_BY_ID` / `BPF_PROG_GET_FD_BY_ID`.
    fn get_fd_by_id(&mut self, prog: bool, id: u32) -> SysResult<i32>;
    /// `BPF_OBJ_GET_INFO_BY_FD` (a program's map ids and translated instructions too).
    fn info(&mut self, fd: i32) -> SysResult<Info>;
    /// `BPF_OBJ_GET`.
    fn obj_get(&mut self, path: &str, flags: u32) -> SysResult<i32>;
    /// `BPF_OBJ_PIN`.
    fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()>;
    /// `close(fd)`.
    fn close(&mut self, fd: i32) -> SysResult<()>;
    /// `fcntl(fd, F_DUPFD_CLOEXEC, 0)`.
    fn dupfd(&mut self, fd: i32) -> SysResult<i32>;
    /// `BPF_MAP_LOOKUP_ELEM` into a `value_len`-byte buffer.
    fn lookup(&mut self, fd: i32, key: &[u8], value_len: usize) -> SysResult<Vec<u8>>;
    /// `BPF_MAP_UPDATE_ELEM`.
    fn update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()>;
    /// `BPF_MAP_DELETE_ELEM`.
    fn delete(&mut self, fd: i32, key: &[u8]) -> SysResult<()>;
    /// `BPF_MAP_GET_NEXT_KEY` (`None`: a NULL key) into a `key_len`-byte buffer.
    fn next_key(&mut self, fd: i32, key: Option<&[u8]>, key_len: usize) -> SysResult<Vec<u8>>;
    /// `BPF_MAP_FREEZE`.
    fn freeze(&mut self, fd: i32) -> SysResult<()>;
    /// `BPF_MAP_CREATE`.
    fn map_create(&mut self, a: &MapCreateAttr) -> SysResult<i32>;
    /// `BPF_PROG_LOAD`.
    fn prog_load(&mut self, a: &ProgLoadAttr) -> SysResult<i32>;
    /// `BPF_BTF_LOAD` of `data`.
    fn btf_load(&mut self, data: &[u8]) -> SysResult<i32>;
    /// `BPF_OBJ_GET_INFO_BY_FD` of program `fd` asking for its `func_info` and `line_info`
    /// records (8 and 16 bytes each, as bpftool asks): (func_info, line_info).
    fn prog_records(&mut self, fd: i32) -> SysResult<(Vec<u8>, Vec<u8>)>;
    /// `BPF_BTF_GET_FD_BY_ID`.
    fn btf_get_fd_by_id(&mut self, id: u32) -> SysResult<i32>;
    /// `BPF_OBJ_GET_INFO_BY_FD` of BTF `fd` (the size first, then the blob): its bytes.
    fn btf_data(&mut self, fd: i32) -> SysResult<Vec<u8>>;
    /// `BPF_PROG_TEST_RUN`: the result, and what was written back (also after a failure).
    fn test_run(&mut self, fd: i32, a: &TestRunAttr) -> (SysResult<()>, TestRunResult);
    /// `mkdir(path, 0700)`.
    fn mkdir(&mut self, path: &str) -> SysResult<()>;
    /// `mount("bpf", path, "bpf", 0, NULL)`.
    fn mount_bpffs(&mut self, path: &str) -> SysResult<()>;
    /// `umount2(path, 0)`.
    fn umount(&mut self, path: &str) -> SysResult<()>;
    /// `unlink(path)`.
    fn unlink(&mut self, path: &str) -> SysResult<()>;
    /// `statfs(path)`: whether it is on a bpffs.
    fn statfs_bpffs(&mut self, path: &str) -> SysResult<bool>;
    /// Whether `path` exists (bpftool's `mount --make-private` fails on a missing one).
    fn exists(&self, path: &str) -> SysResult<()>;
    /// The kind of object `fd` refers to (`get_fd_type`): `Some(true)` a program,
    /// `Some(false)` a map.
    fn fd_is_prog(&self, fd: i32) -> Option<bool>;
    /// The fdinfo of map `fd` (id `id`): memlock, frozen, prog_array owner.
    fn map_fdinfo(&self, fd: i32, id: u32) -> MapFdinfo;
    /// The fdinfo `memlock` of program `fd` (translated length `xlated_len`).
    fn prog_memlock(&self, fd: i32, xlated_len: u32) -> u64;
    /// Every pinned path of the program (`prog`) or map with id `id` (`-f`), in the order
    /// bpftool prints them: its walk of every bpffs mount in directory order, then its
    /// hashmap's order (`host::pins_in_table_order`); `id` is never 0.
    fn pinned_paths(&mut self, prog: bool, id: u32) -> Vec<String>;
    /// A program's `load_time` (ns since boot) as seconds since the epoch (bpftool's
    /// `print_boot_time`).
    fn wall_secs(&self, load_time_ns: u64) -> i64;
    /// The process id.
    fn pid(&self) -> u32;
    /// `exit_group`: every fd closes.
    fn exit(&mut self);
    /// The simulated machine, when the calls go to one.
    fn model(&mut self) -> Option<&mut Kernel>;
    /// The simulated machine, read-only.
    fn model_ref(&self) -> Option<&Kernel>;
}

/// The simulated machine's answers: the calls of process `pid` of `k`.
pub struct SimCalls<'k> {
    /// The machine.
    pub k: &'k mut Kernel,
    /// The process.
    pub pid: Pid,
}

impl Calls for SimCalls<'_> {
    fn get_next_id(&mut self, prog: bool, start: u32) -> SysResult<u32> {
        if prog {
            self.k.prog_get_next_id(self.pid, start)
        } else {
            self.k.map_get_next_id(self.pid, start)
        }
    }
    fn get_fd_by_id(&mut self, prog: bool, id: u32) -> SysResult<i32> {
        if prog {
            self.k.prog_get_fd_by_id(self.pid, id)
        } else {
            self.k.map_get_fd_by_id(self.pid, id, 0)
        }
    }
    fn info(&mut self, fd: i32) -> SysResult<Info> {
        self.k
            .obj_get_info_by_fd(self.pid, fd)
            .map(|i| Info::decode(&i.info, i.map_ids, i.xlated))
    }
    fn obj_get(&mut self, path: &str, flags: u32) -> SysResult<i32> {
        self.k.obj_get(self.pid, path, flags)
    }
    fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()> {
        self.k.obj_pin(self.pid, fd, path)
    }
    fn close(&mut self, fd: i32) -> SysResult<()> {
        self.k.close(self.pid, fd)
    }
    fn dupfd(&mut self, fd: i32) -> SysResult<i32> {
        self.k.dupfd(self.pid, fd, 0, true)
    }
    fn lookup(&mut self, fd: i32, key: &[u8], value_len: usize) -> SysResult<Vec<u8>> {
        let mut v = vec![0u8; value_len];
        self.k.map_lookup_elem(self.pid, fd, key, &mut v, 0)?;
        Ok(v)
    }
    fn update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        self.k.map_update_elem(self.pid, fd, key, value, flags)
    }
    fn delete(&mut self, fd: i32, key: &[u8]) -> SysResult<()> {
        self.k.map_delete_elem(self.pid, fd, key)
    }
    fn next_key(&mut self, fd: i32, key: Option<&[u8]>, key_len: usize) -> SysResult<Vec<u8>> {
        let mut next = vec![0u8; key_len];
        self.k.map_get_next_key(self.pid, fd, key, &mut next)?;
        Ok(next)
    }
    fn freeze(&mut self, fd: i32) -> SysResult<()> {
        self.k.map_freeze(self.pid, fd)
    }
    fn map_create(&mut self, a: &MapCreateAttr) -> SysResult<i32> {
        self.k.map_create(self.pid, a)
    }
    fn prog_load(&mut self, a: &ProgLoadAttr) -> SysResult<i32> {
        self.k.prog_load(self.pid, a)
    }
    fn btf_load(&mut self, data: &[u8]) -> SysResult<i32> {
        self.k.btf_load(self.pid, data)
    }
    fn prog_records(&mut self, fd: i32) -> SysResult<(Vec<u8>, Vec<u8>)> {
        use crate::backend::{prog_info_attr, record_counts, records_request};
        let (k, pid) = (&mut *self.k, self.pid);
        let mut call = |req: &mut [u8], fi: &mut [u8], li: &mut [u8]| {
            let mut m = sim::UserBufs::new();
            let i = m.output(req);
            m.output(fi);
            m.output(li);
            let mut a = prog_info_attr(fd, i);
            let len = a.1;
            let cmd = sim::uapi::cmd::OBJ_GET_INFO_BY_FD;
            k.bpf(pid, cmd, &mut a.0[..len], len as u32, &mut m)
                .map(drop)
        };
        let mut probe = records_request(0, 0, 0, 0);
        call(&mut probe, &mut [], &mut [])?;
        let (nfi, nli) = record_counts(&probe);
        let mut fi = vec![0u8; 8 * nfi as usize];
        let mut li = vec![0u8; 16 * nli as usize];
        let (a1, a2) = (sim::UserBufs::addr(1), sim::UserBufs::addr(2));
        let mut req = records_request(nfi, a1, nli, a2);
        call(&mut req, &mut fi, &mut li)?;
        Ok((fi, li))
    }
    fn btf_get_fd_by_id(&mut self, id: u32) -> SysResult<i32> {
        self.k.btf_get_fd_by_id(self.pid, id)
    }
    fn btf_data(&mut self, fd: i32) -> SysResult<Vec<u8>> {
        self.k.btf_info(self.pid, fd).map(|(_, data)| data)
    }
    fn test_run(&mut self, fd: i32, a: &TestRunAttr) -> (SysResult<()>, TestRunResult) {
        self.k.prog_test_run_partial(self.pid, fd, a)
    }
    fn mkdir(&mut self, path: &str) -> SysResult<()> {
        self.k.mkdir(self.pid, path, 0o700)
    }
    fn mount_bpffs(&mut self, path: &str) -> SysResult<()> {
        self.k.mount_bpffs(self.pid, path).map(drop)
    }
    fn umount(&mut self, path: &str) -> SysResult<()> {
        self.k.umount(self.pid, path)
    }
    fn unlink(&mut self, path: &str) -> SysResult<()> {
        self.k.unlink(self.pid, path)
    }
    fn statfs_bpffs(&mut self, path: &str) -> SysResult<bool> {
        self.k
            .stat(self.pid, path)
            .map(|s| s.fs != sim::vfs::FsKind::Host)
    }
    fn exists(&self, path: &str) -> SysResult<()> {
        self.k.stat(self.pid, path).map(drop)
    }
    fn fd_is_prog(&self, fd: i32) -> Option<bool> {
        self.k
            .obj_of_fd(self.pid, fd)
            .map(|o| matches!(o, sim::ObjRef::Prog(_)))
    }
    fn map_fdinfo(&self, _fd: i32, id: u32) -> MapFdinfo {
        map_fdinfo(self.k, id).unwrap_or_default()
    }
    fn prog_memlock(&self, _fd: i32, xlated_len: u32) -> u64 {
        prog_memlock(xlated_len)
    }
    fn pinned_paths(&mut self, prog: bool, id: u32) -> Vec<String> {
        let want = if prog {
            self.k.prog_by_id(id).map(sim::ObjRef::Prog)
        } else {
            self.k.map_by_id(id).map(sim::ObjRef::Map)
        };
        // bpftool's walk (`build_pinned_obj_table`: every bpffs mount, `nftw` depth first in
        // directory order) over the model's file system, then its hashmap's order.
        let vfs = self.k.vfs();
        let mut found = Vec::new();
        let mut dirs: Vec<String> = vfs
            .mounts()
            .into_iter()
            .filter(|m| matches!(m.fs, sim::vfs::FsKind::Bpf { .. }))
            .map(|m| m.path)
            .collect();
        dirs.dedup();
        fn walk(
            vfs: &sim::vfs::Vfs,
            dir: &str,
            prog: bool,
            want: Option<sim::ObjRef>,
            id: u32,
            out: &mut Vec<(u32, String)>,
        ) {
            let Ok(entries) = vfs.readdir(&sim::Cred::ROOT, dir) else {
                return;
            };
            for (name, st) in entries {
                let path = format!("{}/{name}", dir.trim_end_matches('/'));
                match st.kind {
                    sim::vfs::FileKind::Dir => walk(vfs, &path, prog, want, id, out),
                    sim::vfs::FileKind::Pin(obj) if matches!(obj, sim::ObjRef::Prog(_)) == prog => {
                        out.push((if Some(obj) == want { id } else { 0 }, path));
                    }
                    _ => {}
                }
            }
        }
        for d in &dirs {
            walk(vfs, d, prog, want, id, &mut found);
        }
        super::host::pins_in_table_order(&found, id)
    }
    fn wall_secs(&self, load_time_ns: u64) -> i64 {
        super::time::wall_secs(load_time_ns)
    }
    fn pid(&self) -> u32 {
        self.pid.0
    }
    fn exit(&mut self) {
        let _ = self.k.exit(self.pid);
    }
    fn model(&mut self) -> Option<&mut Kernel> {
        Some(self.k)
    }
    fn model_ref(&self) -> Option<&Kernel> {
        Some(self.k)
    }
}

/// One process running one `bpfsim` command, with its call log: a simulated process, or
/// (`--kernel`) this process on the running kernel. The log lines are the same either way.
pub struct Proc<'k> {
    /// Where the calls go.
    sys: Box<dyn Calls + 'k>,
    /// One strace-like line per call, in order.
    pub trace: Vec<String>,
}

impl<'k> Proc<'k> {
    /// A new process called `comm` (root: the user ran the command with the rights bpftool
    /// needs) on `k`.
    pub fn spawn(k: &'k mut Kernel, comm: &str) -> Proc<'k> {
        let pid = k.spawn(comm, sim::Cred::ROOT);
        Proc::with(Box::new(SimCalls { k, pid }))
    }

    /// A process whose calls go to `sys`.
    pub fn with(sys: Box<dyn Calls + 'k>) -> Proc<'k> {
        Proc {
            sys,
            trace: Vec::new(),
        }
    }

    /// The process id (the simulated pid, or this process's on the kernel).
    pub fn pid(&self) -> u32 {
        self.sys.pid()
    }

    /// The simulated machine, `None` on the running kernel.
    pub fn model(&mut self) -> Option<&mut Kernel> {
        self.sys.model()
    }

    /// The simulated machine, read-only; `None` on the running kernel.
    pub fn model_ref(&self) -> Option<&Kernel> {
        self.sys.model_ref()
    }

    /// `exit_group`: every fd closes.
    pub fn exit(mut self, code: i32) -> Vec<String> {
        self.sys.exit();
        let mut trace = self.trace;
        trace.push(format!("+++ exited with {} +++", code & 0xff));
        trace
    }

    fn log(&mut self, line: String) {
        self.trace.push(line);
    }

    /// `BPF_MAP_GET_NEXT_ID` / `BPF_PROG_GET_NEXT_ID`.
    pub fn get_next_id(&mut self, prog: bool, start: u32) -> SysResult<u32> {
        let r = self.sys.get_next_id(prog, start);
        let cmd = if prog { "PROG" } else { "MAP" };
        let next = r
            .as_ref()
            .map(|n| format!(", next_id={n}"))
            .unwrap_or_default();
        let rv = ret(&r.map(|_| 0));
        self.log(format!(
            "bpf(BPF_{cmd}_GET_NEXT_ID, {{start_id={start}{next}}}) = {rv}"
        ));
        r
    }

    /// `BPF_MAP_GET_FD_BY_ID` / `BPF_PROG_GET_FD_BY_ID`.
    pub fn get_fd_by_id(&mut self, prog: bool, id: u32) -> SysResult<i32> {
        let r = self.sys.get_fd_by_id(prog, id);
        let (cmd, field) = if prog {
            ("PROG", "prog_id")
        } else {
            ("MAP", "map_id")
        };
        self.log(format!(
            "bpf(BPF_{cmd}_GET_FD_BY_ID, {{{field}={id}}}) = {}",
            ret(&r)
        ));
        r
    }

    /// `BPF_OBJ_GET_INFO_BY_FD` (for a program, the sizes first, then the arrays).
    pub fn info(&mut self, fd: i32) -> SysResult<Info> {
        let r = self.sys.info(fd);
        self.log(format!(
            "bpf(BPF_OBJ_GET_INFO_BY_FD, {{bpf_fd={fd}}}) = {}",
            ret(&r.as_ref().map(|_| 0).map_err(|e| *e))
        ));
        r
    }

    /// `BPF_OBJ_GET` of `path`.
    pub fn obj_get(&mut self, path: &str, flags: u32) -> SysResult<i32> {
        let r = self.sys.obj_get(path, flags);
        self.log(format!(
            "bpf(BPF_OBJ_GET, {{pathname={path:?}, file_flags={flags}}}) = {}",
            ret(&r)
        ));
        r
    }

    /// `BPF_OBJ_PIN` of `fd` at `path`.
    pub fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()> {
        let r = self.sys.obj_pin(fd, path);
        self.log(format!(
            "bpf(BPF_OBJ_PIN, {{pathname={path:?}, bpf_fd={fd}, file_flags=0}}) = {}",
            ret(&r.map(|_| 0))
        ));
        r
    }

    /// `close(fd)`.
    pub fn close(&mut self, fd: i32) -> SysResult<()> {
        let r = self.sys.close(fd);
        self.log(format!("close({fd}) = {}", ret(&r.map(|_| 0))));
        r
    }

    /// `fcntl(fd, F_DUPFD_CLOEXEC, 0)`.
    pub fn dupfd(&mut self, fd: i32) -> SysResult<i32> {
        let r = self.sys.dupfd(fd);
        self.log(format!("fcntl({fd}, F_DUPFD_CLOEXEC, 0) = {}", ret(&r)));
        r
    }

    /// `BPF_MAP_LOOKUP_ELEM` into a `value_len`-byte buffer.
    pub fn lookup(&mut self, fd: i32, key: &[u8], value_len: usize) -> SysResult<Vec<u8>> {
        let r = self.sys.lookup(fd, key, value_len);
        self.log(format!(
            "bpf(BPF_MAP_LOOKUP_ELEM, {{map_fd={fd}, key={}, flags=0}}) = {}",
            hex(key),
            ret(&r.as_ref().map(|_| 0).map_err(|e| *e))
        ));
        r
    }

    /// `BPF_MAP_UPDATE_ELEM`.
    pub fn update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        let r = self.sys.update(fd, key, value, flags);
        self.log(format!(
            "bpf(BPF_MAP_UPDATE_ELEM, {{map_fd={fd}, key={}, value={}, flags={flags}}}) = {}",
            hex(key),
            hex(value),
            ret(&r.map(|_| 0))
        ));
        r
    }

    /// `BPF_MAP_DELETE_ELEM`.
    pub fn delete(&mut self, fd: i32, key: &[u8]) -> SysResult<()> {
        let r = self.sys.delete(fd, key);
        self.log(format!(
            "bpf(BPF_MAP_DELETE_ELEM, {{map_fd={fd}, key={}}}) = {}",
            hex(key),
            ret(&r.map(|_| 0))
        ));
        r
    }

    /// `BPF_MAP_GET_NEXT_KEY` (`None`: a NULL key).
    pub fn next_key(&mut self, fd: i32, key: Option<&[u8]>, key_len: usize) -> SysResult<Vec<u8>> {
        let r = self.sys.next_key(fd, key, key_len);
        self.log(format!(
            "bpf(BPF_MAP_GET_NEXT_KEY, {{map_fd={fd}, key={}}}) = {}",
            key.map_or("NULL".to_string(), hex),
            ret(&r.as_ref().map(|_| 0).map_err(|e| *e))
        ));
        r
    }

    /// `BPF_MAP_FREEZE`.
    pub fn freeze(&mut self, fd: i32) -> SysResult<()> {
        let r = self.sys.freeze(fd);
        self.log(format!(
            "bpf(BPF_MAP_FREEZE, {{map_fd={fd}}}) = {}",
            ret(&r.map(|_| 0))
        ));
        r
    }

    /// `BPF_OBJ_GET_INFO_BY_FD` of program `fd` fetching its `func_info` and `line_info`
    /// records: (func_info, line_info).
    pub fn prog_records(&mut self, fd: i32) -> SysResult<(Vec<u8>, Vec<u8>)> {
        let r = self.sys.prog_records(fd);
        let counts = r
            .as_ref()
            .map(|(f, l)| {
                format!(
                    ", nr_func_info={}, nr_line_info={}",
                    f.len() / 8,
                    l.len() / 16
                )
            })
            .unwrap_or_default();
        self.log(format!(
            "bpf(BPF_OBJ_GET_INFO_BY_FD, {{bpf_fd={fd}{counts}}}) = {}",
            ret(&r.as_ref().map(|_| 0).map_err(|e| *e))
        ));
        r
    }

    /// `BPF_BTF_GET_FD_BY_ID`.
    pub fn btf_get_fd_by_id(&mut self, id: u32) -> SysResult<i32> {
        let r = self.sys.btf_get_fd_by_id(id);
        self.log(format!(
            "bpf(BPF_BTF_GET_FD_BY_ID, {{btf_id={id}}}) = {}",
            ret(&r)
        ));
        r
    }

    /// `BPF_OBJ_GET_INFO_BY_FD` of BTF `fd`: the blob.
    pub fn btf_data(&mut self, fd: i32) -> SysResult<Vec<u8>> {
        let r = self.sys.btf_data(fd);
        let size = r
            .as_ref()
            .map(|d| format!(", btf_size={}", d.len()))
            .unwrap_or_default();
        self.log(format!(
            "bpf(BPF_OBJ_GET_INFO_BY_FD, {{bpf_fd={fd}{size}}}) = {}",
            ret(&r.as_ref().map(|_| 0).map_err(|e| *e))
        ));
        r
    }

    /// `BPF_PROG_TEST_RUN`.
    pub fn test_run(&mut self, fd: i32, a: &TestRunAttr) -> (SysResult<()>, TestRunResult) {
        let (r, out) = self.sys.test_run(fd, a);
        self.log(format!(
            "bpf(BPF_PROG_TEST_RUN, {{prog_fd={fd}, data_size_in={}, repeat={}}}) = {}",
            a.data_in.len(),
            a.repeat,
            ret(&r.map(|_| 0))
        ));
        (r, out)
    }

    /// `mkdir(path, 0700)`.
    pub fn mkdir(&mut self, path: &str) -> SysResult<()> {
        let r = self.sys.mkdir(path);
        self.log(format!("mkdir({path:?}, 0700) = {}", ret(&r.map(|_| 0))));
        r
    }

    /// `mount("bpf", path, "bpf", 0, NULL)`.
    pub fn mount_bpffs(&mut self, path: &str) -> SysResult<()> {
        let r = self.sys.mount_bpffs(path);
        self.log(format!(
            "mount(\"bpf\", {path:?}, \"bpf\", 0, NULL) = {}",
            ret(&r.map(|_| 0))
        ));
        r
    }

    /// `umount2(path, 0)`.
    pub fn umount(&mut self, path: &str) -> SysResult<()> {
        let r = self.sys.umount(path);
        self.log(format!("umount2({path:?}, 0) = {}", ret(&r.map(|_| 0))));
        r
    }

    /// `unlink(path)`.
    pub fn unlink_path(&mut self, path: &str) -> SysResult<()> {
        let r = self.sys.unlink(path);
        self.log(format!("unlink({path:?}) = {}", ret(&r.map(|_| 0))));
        r
    }

    /// `statfs(path)`: whether `path` is on a bpffs (`BPF_FS_MAGIC`), as bpftool's
    /// `is_bpffs()` asks.
    pub fn is_bpffs(&mut self, path: &str) -> bool {
        let r = self.sys.statfs_bpffs(path);
        let on = matches!(r, Ok(true));
        self.log(format!(
            "statfs({path:?}) = {}",
            match &r {
                Ok(true) => "0 {f_type=BPF_FS_MAGIC}".to_string(),
                Ok(false) => "0".to_string(),
                Err(e) => ret::<i32>(&Err(*e)),
            }
        ));
        on
    }

    /// Whether `path` exists (not logged: the model has no call for it).
    pub fn exists(&self, path: &str) -> SysResult<()> {
        self.sys.exists(path)
    }

    /// What `fd` refers to: `Some(true)` a program, `Some(false)` a map (bpftool reads the
    /// fd's `/proc/self/fd` link; not logged).
    pub fn fd_is_prog(&self, fd: i32) -> Option<bool> {
        self.sys.fd_is_prog(fd)
    }

    /// The fdinfo of map `fd` with id `id` (not logged).
    pub fn map_fdinfo(&self, fd: i32, id: u32) -> MapFdinfo {
        self.sys.map_fdinfo(fd, id)
    }

    /// The fdinfo `memlock` of program `fd` (not logged).
    pub fn prog_memlock(&self, fd: i32, xlated_len: u32) -> u64 {
        self.sys.prog_memlock(fd, xlated_len)
    }

    /// A `load_time` as seconds since the epoch: the simulated machine's fixed boot instant,
    /// or the running kernel's boot time from the clocks, as bpftool computes it.
    pub fn wall_secs(&self, load_time_ns: u64) -> i64 {
        self.sys.wall_secs(load_time_ns)
    }

    /// The pinned paths of an object (`-f`; not logged).
    pub fn pinned_paths(&mut self, prog: bool, id: u32) -> Vec<String> {
        self.sys.pinned_paths(prog, id)
    }
}

impl LoadSys for Proc<'_> {
    fn map_create(&mut self, a: &MapCreateAttr) -> SysResult<i32> {
        let r = self.sys.map_create(a);
        self.log(format!(
            "bpf(BPF_MAP_CREATE, {{map_type={}, key_size={}, value_size={}, max_entries={}, map_flags={:#x}, inner_map_fd={}, map_name={}{}}}) = {}",
            map_type::name(a.map_type).map_or(a.map_type.to_string(), |n| format!("BPF_MAP_TYPE_{}", n.to_uppercase())),
            a.key_size,
            a.value_size,
            a.max_entries,
            a.map_flags,
            a.inner_map_fd,
            quoted(&a.map_name),
            if a.btf_fd != 0 {
                format!(
                    ", btf_fd={}, btf_key_type_id={}, btf_value_type_id={}",
                    a.btf_fd, a.btf_key_type_id, a.btf_value_type_id
                )
            } else {
                String::new()
            },
            ret(&r)
        ));
        r
    }
    fn map_update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        self.update(fd, key, value, flags)
    }
    fn map_freeze(&mut self, fd: i32) -> SysResult<()> {
        self.freeze(fd)
    }
    fn map_info(&mut self, fd: i32) -> SysResult<(u32, u32, u32, u32, u32)> {
        match self.info(fd)? {
            Info::Map(m) => Ok((m.map_type, m.key_size, m.value_size, m.max_entries, m.flags)),
            Info::Prog(_) => Err(Errno::EINVAL),
        }
    }
    fn prog_load(&mut self, a: &ProgLoadAttr) -> SysResult<i32> {
        let r = self.sys.prog_load(a);
        self.log(format!(
            "bpf(BPF_PROG_LOAD, {{prog_type={}, insn_cnt={}, license={:?}, prog_flags={:#x}, prog_name={}, expected_attach_type={}{}}}) = {}",
            prog_type::name(a.prog_type).map_or(a.prog_type.to_string(), |n| format!("BPF_PROG_TYPE_{}", n.to_uppercase())),
            a.insns.len(),
            a.license,
            a.prog_flags,
            quoted(&a.prog_name),
            a.expected_attach_type,
            if a.prog_btf_fd != 0 {
                format!(
                    ", prog_btf_fd={}, func_info_cnt={}, line_info_cnt={}",
                    a.prog_btf_fd, a.func_info_cnt, a.line_info_cnt
                )
            } else {
                String::new()
            },
            ret(&r)
        ));
        r
    }
    fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()> {
        Proc::obj_pin(self, fd, path)
    }
    fn obj_get(&mut self, path: &str) -> SysResult<i32> {
        Proc::obj_get(self, path, 0)
    }
    fn unlink(&mut self, path: &str) -> SysResult<()> {
        self.unlink_path(path)
    }
    fn close(&mut self, fd: i32) -> SysResult<()> {
        Proc::close(self, fd)
    }
    fn btf_load(&mut self, data: &[u8]) -> SysResult<i32> {
        let r = self.sys.btf_load(data);
        self.log(format!(
            "bpf(BPF_BTF_LOAD, {{btf_size={}}}) = {}",
            data.len(),
            ret(&r)
        ));
        r
    }
}

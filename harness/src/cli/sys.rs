//! One invocation of `bpfsim` as one simulated process ([`Proc`]): the bpf() and file system
//! calls a bpftool run makes, each recorded as a strace-like line (`bpf(BPF_MAP_GET_NEXT_ID,
//! {start_id=0}) = 0 {next_id=1}`), and the files it reads, served from the host or from the
//! state journal ([`FileSource`]).

use std::collections::BTreeMap;

use sim::loader::load::LoadSys;

use super::info::Info;
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

/// One simulated process running one `bpfsim` command, with its call log.
pub struct Proc<'k> {
    /// The machine.
    pub k: &'k mut Kernel,
    /// The process.
    pub pid: Pid,
    /// One strace-like line per call, in order.
    pub trace: Vec<String>,
}

impl<'k> Proc<'k> {
    /// A new process called `comm` (root: the user ran the command with the rights bpftool
    /// needs) on `k`.
    pub fn spawn(k: &'k mut Kernel, comm: &str) -> Proc<'k> {
        let pid = k.spawn(comm, sim::Cred::ROOT);
        Proc {
            k,
            pid,
            trace: Vec::new(),
        }
    }

    /// `exit_group`: every fd closes.
    pub fn exit(self, code: i32) -> Vec<String> {
        let mut trace = self.trace;
        let _ = self.k.exit(self.pid);
        trace.push(format!("+++ exited with {} +++", code & 0xff));
        trace
    }

    fn log(&mut self, line: String) {
        self.trace.push(line);
    }

    /// `BPF_MAP_GET_NEXT_ID` / `BPF_PROG_GET_NEXT_ID`.
    pub fn get_next_id(&mut self, prog: bool, start: u32) -> SysResult<u32> {
        let r = if prog {
            self.k.prog_get_next_id(self.pid, start)
        } else {
            self.k.map_get_next_id(self.pid, start)
        };
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
        let r = if prog {
            self.k.prog_get_fd_by_id(self.pid, id)
        } else {
            self.k.map_get_fd_by_id(self.pid, id, 0)
        };
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
        let r = self
            .k
            .obj_get_info_by_fd(self.pid, fd)
            .map(|i| Info::decode(&i.info, i.map_ids, i.xlated));
        self.log(format!(
            "bpf(BPF_OBJ_GET_INFO_BY_FD, {{bpf_fd={fd}}}) = {}",
            ret(&r.as_ref().map(|_| 0).map_err(|e| *e))
        ));
        r
    }

    /// `BPF_OBJ_GET` of `path`.
    pub fn obj_get(&mut self, path: &str, flags: u32) -> SysResult<i32> {
        let r = self.k.obj_get(self.pid, path, flags);
        self.log(format!(
            "bpf(BPF_OBJ_GET, {{pathname={path:?}, file_flags={flags}}}) = {}",
            ret(&r)
        ));
        r
    }

    /// `BPF_OBJ_PIN` of `fd` at `path`.
    pub fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()> {
        let r = self.k.obj_pin(self.pid, fd, path);
        self.log(format!(
            "bpf(BPF_OBJ_PIN, {{pathname={path:?}, bpf_fd={fd}, file_flags=0}}) = {}",
            ret(&r.map(|_| 0))
        ));
        r
    }

    /// `close(fd)`.
    pub fn close(&mut self, fd: i32) -> SysResult<()> {
        let r = self.k.close(self.pid, fd);
        self.log(format!("close({fd}) = {}", ret(&r.map(|_| 0))));
        r
    }

    /// `BPF_MAP_LOOKUP_ELEM` into a `value_len`-byte buffer.
    pub fn lookup(&mut self, fd: i32, key: &[u8], value_len: usize) -> SysResult<Vec<u8>> {
        let mut v = vec![0u8; value_len];
        let r = self.k.map_lookup_elem(self.pid, fd, key, &mut v, 0);
        self.log(format!(
            "bpf(BPF_MAP_LOOKUP_ELEM, {{map_fd={fd}, key={}, flags=0}}) = {}",
            hex(key),
            ret(&r.map(|_| 0))
        ));
        r.map(|_| v)
    }

    /// `BPF_MAP_UPDATE_ELEM`.
    pub fn update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        let r = self.k.map_update_elem(self.pid, fd, key, value, flags);
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
        let r = self.k.map_delete_elem(self.pid, fd, key);
        self.log(format!(
            "bpf(BPF_MAP_DELETE_ELEM, {{map_fd={fd}, key={}}}) = {}",
            hex(key),
            ret(&r.map(|_| 0))
        ));
        r
    }

    /// `BPF_MAP_GET_NEXT_KEY` (`None`: a NULL key).
    pub fn next_key(&mut self, fd: i32, key: Option<&[u8]>, key_len: usize) -> SysResult<Vec<u8>> {
        let mut next = vec![0u8; key_len];
        let r = self.k.map_get_next_key(self.pid, fd, key, &mut next);
        self.log(format!(
            "bpf(BPF_MAP_GET_NEXT_KEY, {{map_fd={fd}, key={}}}) = {}",
            key.map_or("NULL".to_string(), hex),
            ret(&r.map(|_| 0))
        ));
        r.map(|_| next)
    }

    /// `BPF_MAP_FREEZE`.
    pub fn freeze(&mut self, fd: i32) -> SysResult<()> {
        let r = self.k.map_freeze(self.pid, fd);
        self.log(format!(
            "bpf(BPF_MAP_FREEZE, {{map_fd={fd}}}) = {}",
            ret(&r.map(|_| 0))
        ));
        r
    }

    /// `BPF_PROG_TEST_RUN`.
    pub fn test_run(&mut self, fd: i32, a: &TestRunAttr) -> (SysResult<()>, TestRunResult) {
        let (r, out) = self.k.prog_test_run_partial(self.pid, fd, a);
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
        let r = self.k.mkdir(self.pid, path, 0o700);
        self.log(format!("mkdir({path:?}, 0700) = {}", ret(&r.map(|_| 0))));
        r
    }

    /// `mount("bpf", path, "bpf", 0, NULL)`.
    pub fn mount_bpffs(&mut self, path: &str) -> SysResult<()> {
        let r = self.k.mount_bpffs(self.pid, path).map(drop);
        self.log(format!(
            "mount(\"bpf\", {path:?}, \"bpf\", 0, NULL) = {}",
            ret(&r.map(|_| 0))
        ));
        r
    }

    /// `umount2(path, 0)`.
    pub fn umount(&mut self, path: &str) -> SysResult<()> {
        let r = self.k.umount(self.pid, path);
        self.log(format!("umount2({path:?}, 0) = {}", ret(&r.map(|_| 0))));
        r
    }

    /// `unlink(path)`.
    pub fn unlink_path(&mut self, path: &str) -> SysResult<()> {
        let r = self.k.unlink(self.pid, path);
        self.log(format!("unlink({path:?}) = {}", ret(&r.map(|_| 0))));
        r
    }

    /// `statfs(path)`: whether `path` is on a bpffs (`BPF_FS_MAGIC`), as bpftool's
    /// `is_bpffs()` asks.
    pub fn is_bpffs(&mut self, path: &str) -> bool {
        let r = self.k.stat(self.pid, path);
        let on = matches!(&r, Ok(s) if s.fs != sim::vfs::FsKind::Host);
        self.log(format!(
            "statfs({path:?}) = {}",
            match &r {
                Ok(_) if on => "0 {f_type=BPF_FS_MAGIC}".to_string(),
                Ok(_) => "0".to_string(),
                Err(e) => ret::<i32>(&Err(*e)),
            }
        ));
        on
    }
}

impl LoadSys for Proc<'_> {
    fn map_create(&mut self, a: &MapCreateAttr) -> SysResult<i32> {
        let r = self.k.map_create(self.pid, a);
        self.log(format!(
            "bpf(BPF_MAP_CREATE, {{map_type={}, key_size={}, value_size={}, max_entries={}, map_flags={:#x}, inner_map_fd={}, map_name={}}}) = {}",
            map_type::name(a.map_type).map_or(a.map_type.to_string(), |n| format!("BPF_MAP_TYPE_{}", n.to_uppercase())),
            a.key_size,
            a.value_size,
            a.max_entries,
            a.map_flags,
            a.inner_map_fd,
            quoted(&a.map_name),
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
        let r = self.k.prog_load(self.pid, a);
        self.log(format!(
            "bpf(BPF_PROG_LOAD, {{prog_type={}, insn_cnt={}, license={:?}, prog_flags={:#x}, prog_name={}, expected_attach_type={}}}) = {}",
            prog_type::name(a.prog_type).map_or(a.prog_type.to_string(), |n| format!("BPF_PROG_TYPE_{}", n.to_uppercase())),
            a.insns.len(),
            a.license,
            a.prog_flags,
            quoted(&a.prog_name),
            a.expected_attach_type,
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
}

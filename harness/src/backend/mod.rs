//! One interface, two machines: the simulated kernel ([`SimBackend`]) and, where the user may,
//! the real one (`LinuxBackend`, each simulated process a real child process). A scenario
//! drives either through [`Backend`], with the same attr encoding (`sim`'s encoders) on both,
//! so the same scenario, loader and test body run on both and can be compared.
//!
//! Handles are the backend's own numbers: real fds and real ids. The scenario runner keeps
//! names for them and renumbers them in order of appearance before comparing.

pub mod linux;
mod load;
mod sim_backend;

pub use linux::{LinuxBackend, kernel_tier};
pub use load::BackendProc;
pub use sim_backend::SimBackend;

use sim::{Errno, Insn, MapCreateAttr};

/// A process of a backend (an index the backend hands out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcId(pub u32);

/// Which kind of object an id or fd names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A map.
    Map,
    /// A program.
    Prog,
}

/// One bpf() command with its arguments; fds and ids are the backend's real numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    missing_docs,
    reason = "fields are the command's attr fields, named as in the uapi"
)]
pub enum BpfCall {
    /// `BPF_MAP_CREATE`.
    MapCreate(MapCreateAttr),
    /// `BPF_MAP_LOOKUP_ELEM` into a `value_len`-byte buffer.
    Lookup {
        fd: i32,
        key: Vec<u8>,
        value_len: usize,
        flags: u64,
    },
    /// `BPF_MAP_UPDATE_ELEM`.
    Update {
        fd: i32,
        key: Vec<u8>,
        value: Vec<u8>,
        flags: u64,
    },
    /// `BPF_MAP_DELETE_ELEM`.
    Delete { fd: i32, key: Vec<u8> },
    /// `BPF_MAP_GET_NEXT_KEY` (`key: None` is a NULL key) into a `key_len`-byte buffer.
    NextKey {
        fd: i32,
        key: Option<Vec<u8>>,
        key_len: usize,
    },
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` into a `value_len`-byte buffer.
    LookupAndDelete {
        fd: i32,
        key: Vec<u8>,
        value_len: usize,
    },
    /// `BPF_MAP_FREEZE`.
    Freeze { fd: i32 },
    /// `BPF_PROG_LOAD` (ld_imm64 map references hold real fds).
    ProgLoad {
        prog_type: u32,
        insns: Vec<Insn>,
        name: String,
        license: String,
        expected_attach_type: u32,
        prog_flags: u32,
    },
    /// `BPF_PROG_BIND_MAP`.
    BindMap { prog_fd: i32, map_fd: i32 },
    /// `BPF_OBJ_PIN`; `path` is absolute, inside the backend's bpffs.
    Pin { fd: i32, path: String },
    /// `BPF_OBJ_GET` with `file_flags`.
    Get { path: String, flags: u32 },
    /// `BPF_MAP_GET_NEXT_ID` / `BPF_PROG_GET_NEXT_ID`.
    NextId { kind: Kind, start: u32 },
    /// `BPF_MAP_GET_FD_BY_ID` (with `open_flags`) / `BPF_PROG_GET_FD_BY_ID`.
    FdById { kind: Kind, id: u32, flags: u32 },
    /// `BPF_OBJ_GET_INFO_BY_FD`, full struct; programs also fetch map ids and xlated insns.
    Info { fd: i32 },
    /// Any command with raw attr bytes (`size` may differ from `attr.len()`); pointers inside
    /// are not translated, so use it for attrs without pointers (bad-input tests).
    Raw { cmd: u32, attr: Vec<u8>, size: u32 },
}

impl BpfCall {
    /// The attr a `ProgLoad` call loads with (`None` for other calls): both backends build it
    /// here, so both submit the same bytes.
    pub fn prog_load_attr(&self) -> Option<sim::ProgLoadAttr> {
        let BpfCall::ProgLoad {
            prog_type,
            insns,
            name,
            license,
            expected_attach_type,
            prog_flags,
        } = self
        else {
            return None;
        };
        Some(
            sim::ProgLoadAttr::new(*prog_type, insns)
                .name(name)
                .license(license)
                .attach_type(*expected_attach_type)
                .flags(*prog_flags),
        )
    }
}

/// What a successful [`BpfCall`] returned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(missing_docs, reason = "fields are described in the variant docs")]
pub enum BpfRet {
    /// A new fd.
    Fd(i32),
    /// Success with nothing to return (0).
    Unit,
    /// Bytes the call wrote: a looked-up value, a next key.
    Bytes(Vec<u8>),
    /// An id (`*_GET_NEXT_ID`).
    Id(u32),
    /// `OBJ_GET_INFO_BY_FD`: the info struct as the kernel copied it, plus for programs the
    /// map ids and the translated instructions.
    Info {
        info: Vec<u8>,
        map_ids: Vec<u32>,
        xlated: Vec<u8>,
    },
    /// A raw call's return value, and the attr bytes after the call.
    Raw { ret: i64, attr: Vec<u8> },
}

/// A filesystem call; paths are absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsCall {
    /// `mount -t bpf bpf PATH`.
    MountBpffs(String),
    /// `umount PATH`.
    Umount(String),
    /// `mkdir PATH MODE`.
    Mkdir(String, u32),
    /// `rmdir PATH`.
    Rmdir(String),
    /// `unlink PATH`.
    Unlink(String),
    /// `link OLD NEW`.
    Link(String, String),
    /// `rename OLD NEW`.
    Rename(String, String),
}

/// A machine a scenario can run on.
pub trait Backend {
    /// `"sim"` or `"linux"`.
    fn name(&self) -> &'static str;

    /// A directory on this machine under which the scenario may mount bpffs instances and
    /// create directories; removed (with everything in it) when the backend is dropped.
    fn scratch_dir(&self) -> &str;

    /// Start a process: root (every capability) or an unprivileged user.
    fn spawn(&mut self, root: bool) -> Result<ProcId, String>;

    /// `fork()` of `p`: the child shares `p`'s open file descriptions.
    fn fork(&mut self, p: ProcId) -> Result<ProcId, Errno>;

    /// `exit()` of `p`: every fd closes; returns once the process is gone.
    fn exit(&mut self, p: ProcId) -> Result<(), Errno>;

    /// `close(fd)` in `p`.
    fn close(&mut self, p: ProcId, fd: i32) -> Result<(), Errno>;

    /// `dup(fd)` in `p`.
    fn dup(&mut self, p: ProcId, fd: i32) -> Result<i32, Errno>;

    /// Pass `fd` of `from` to `to` over a Unix socket (`SCM_RIGHTS`): the new fd in `to`
    /// shares the open file description. A backend without it answers `EOPNOTSUPP`.
    fn pass_fd(&mut self, from: ProcId, fd: i32, to: ProcId) -> Result<i32, Errno> {
        let _ = (from, fd, to);
        Err(Errno::EOPNOTSUPP)
    }

    /// One bpf() call in `p`.
    fn bpf(&mut self, p: ProcId, call: &BpfCall) -> Result<BpfRet, Errno>;

    /// One filesystem call in `p`.
    fn fs(&mut self, p: ProcId, call: &FsCall) -> Result<(), Errno>;

    /// Whether the object with this id still exists (its id is allocated), as root sees it.
    fn id_exists(&mut self, kind: Kind, id: u32) -> bool;

    /// Let the kernel finish what it defers (RCU grace periods, work items). The simulator
    /// runs them now; the real kernel is polled until `done` holds or `timeout_ms` passes, and
    /// the result says which.
    fn settle(&mut self, done: &mut dyn FnMut(&mut dyn Backend) -> bool, timeout_ms: u64) -> bool;
}

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

use sim::attr::AttrBuf;
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
    /// `BPF_PROG_TEST_RUN`: `Ok(BpfRet::TestRun(..))` when the call succeeds, its errno when
    /// it fails; [`Backend::prog_test_run`] also returns what was written back on failure.
    TestRun(TestRunCall),
    /// `BPF_BTF_LOAD` of a BTF blob (`btf`, `btf_size`; no log).
    BtfLoad { data: Vec<u8> },
    /// `BPF_PROG_LOAD` with every field of the typed attr, the BTF ones too (`prog_btf_fd`,
    /// the func_info and line_info records with their sizes and counts); no log buffer.
    ProgLoadFull(sim::ProgLoadAttr),
    /// `BPF_OBJ_GET_INFO_BY_FD` of a program fetching its `func_info` and `line_info` records
    /// (all of them, in the kernel's 8- and 16-byte record sizes): `BpfRet::Records`.
    Records { fd: i32 },
}

/// `BPF_PROG_TEST_RUN`'s attr (`union bpf_attr.test`), with buffers in place of the user
/// pointers. Each size field is passed as given, independently of its buffer's length, so
/// a size past the buffer reaches the end of the buffer: on the kernel a guard page
/// (`EFAULT`), in the simulator the end of a `UserBufs` buffer (`EFAULT`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRunCall {
    /// `prog_fd`.
    pub prog_fd: i32,
    /// The bytes `data_in` points at; `None` passes NULL.
    pub data_in: Option<Vec<u8>>,
    /// `data_size_in`.
    pub data_size_in: u32,
    /// A zeroed `data_out` buffer of this many bytes; `None` passes NULL.
    pub data_out: Option<u32>,
    /// `data_size_out` (0: no limit, the kernel copies the whole packet).
    pub data_size_out: u32,
    /// The bytes `ctx_in` points at; `None` passes NULL.
    pub ctx_in: Option<Vec<u8>>,
    /// `ctx_size_in`.
    pub ctx_size_in: u32,
    /// A zeroed `ctx_out` buffer of this many bytes; `None` passes NULL.
    pub ctx_out: Option<u32>,
    /// `ctx_size_out`.
    pub ctx_size_out: u32,
    /// `repeat` (0 runs once).
    pub repeat: u32,
    /// `flags`.
    pub flags: u32,
    /// `cpu`.
    pub cpu: u32,
    /// `batch_size`.
    pub batch_size: u32,
}

impl TestRunCall {
    /// One run of `prog_fd` on `data`, with an output buffer a page larger than the packet
    /// and `data_size_out` 0 (the whole output packet wanted), no context.
    pub fn new(prog_fd: i32, data: &[u8]) -> TestRunCall {
        TestRunCall {
            prog_fd,
            data_in: Some(data.to_vec()),
            data_size_in: data.len() as u32,
            data_out: Some(data.len() as u32 + 4096),
            ..TestRunCall::default()
        }
    }

    /// The same with `ctx_in` = `ctx` and a `ctx_out` buffer of the same size.
    pub fn ctx(mut self, ctx: &[u8]) -> TestRunCall {
        self.ctx_in = Some(ctx.to_vec());
        self.ctx_size_in = ctx.len() as u32;
        self.ctx_out = Some(ctx.len() as u32);
        self.ctx_size_out = ctx.len() as u32;
        self
    }

    /// The attr both backends pass (`sim::attr::cmd_end` bytes are significant), given the
    /// user addresses of the four buffers (0 for NULL).
    pub fn attr(&self, data_in: u64, data_out: u64, ctx_in: u64, ctx_out: u64) -> AttrBuf {
        use sim::attr::off::test as t;
        AttrBuf::for_cmd(sim::uapi::cmd::PROG_TEST_RUN)
            .u32(t::PROG_FD, self.prog_fd as u32)
            .u32(t::DATA_SIZE_IN, self.data_size_in)
            .u32(t::DATA_SIZE_OUT, self.data_size_out)
            .u64(t::DATA_IN, data_in)
            .u64(t::DATA_OUT, data_out)
            .u32(t::REPEAT, self.repeat)
            .u32(t::CTX_SIZE_IN, self.ctx_size_in)
            .u32(t::CTX_SIZE_OUT, self.ctx_size_out)
            .u64(t::CTX_IN, ctx_in)
            .u64(t::CTX_OUT, ctx_out)
            .u32(t::FLAGS, self.flags)
            .u32(t::CPU, self.cpu)
            .u32(t::BATCH_SIZE, self.batch_size)
    }
}

/// What `BPF_PROG_TEST_RUN` returned and wrote back. After a failure the kernel may still
/// have written some of it (`ENOSPC`: the truncated packet, its full size, retval).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRunOut {
    /// The call's result: `Ok` or its errno.
    pub result: Result<(), Errno>,
    /// `retval` as written back.
    pub retval: u32,
    /// `duration` as written back (nanoseconds on the kernel, instructions in the model:
    /// never compared).
    pub duration: u32,
    /// `data_size_out` as written back.
    pub data_size_out: u32,
    /// The whole `data_out` buffer after the call (empty for NULL).
    pub data_out: Vec<u8>,
    /// `ctx_size_out` as written back.
    pub ctx_size_out: u32,
    /// The whole `ctx_out` buffer after the call (empty for NULL).
    pub ctx_out: Vec<u8>,
}

impl Default for TestRunOut {
    fn default() -> Self {
        TestRunOut {
            result: Ok(()),
            retval: 0,
            duration: 0,
            data_size_out: 0,
            data_out: vec![],
            ctx_size_out: 0,
            ctx_out: vec![],
        }
    }
}

impl TestRunOut {
    /// Reads the fields the kernel writes back from the attr after the call.
    pub fn from_attr(
        result: Result<(), Errno>,
        attr: &[u8],
        data_out: Vec<u8>,
        ctx_out: Vec<u8>,
    ) -> TestRunOut {
        use sim::attr::off::test as t;
        let u = |o: usize| u32::from_le_bytes(attr[o..o + 4].try_into().expect("4 bytes"));
        TestRunOut {
            result,
            retval: u(t::RETVAL),
            duration: u(t::DURATION),
            data_size_out: u(t::DATA_SIZE_OUT),
            data_out,
            ctx_size_out: u(t::CTX_SIZE_OUT),
            ctx_out,
        }
    }
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

/// The `bpf_prog_info` request (`PROG_INFO_SIZE` bytes) asking for `nfi` func_info records
/// at user address `fi` and `nli` line_info records at `li`, in the kernel's record sizes (8
/// and 16 bytes), and nothing else: both backends pass these bytes for [`BpfCall::Records`].
pub fn records_request(nfi: u32, fi: u64, nli: u32, li: u64) -> Vec<u8> {
    use sim::maps::info::{PROG_INFO_SIZE, prog_info as pi};
    let mut r = vec![0u8; PROG_INFO_SIZE];
    let mut put = |o: usize, b: &[u8]| r[o..o + b.len()].copy_from_slice(b);
    put(pi::NR_FUNC_INFO, &nfi.to_le_bytes());
    put(pi::FUNC_INFO_REC_SIZE, &8u32.to_le_bytes());
    put(pi::FUNC_INFO, &fi.to_le_bytes());
    put(pi::NR_LINE_INFO, &nli.to_le_bytes());
    put(pi::LINE_INFO_REC_SIZE, &16u32.to_le_bytes());
    put(pi::LINE_INFO, &li.to_le_bytes());
    r
}

/// `OBJ_GET_INFO_BY_FD`'s attr for `fd` with a `PROG_INFO_SIZE`-byte info buffer at `info`.
pub fn prog_info_attr(fd: i32, info: u64) -> AttrBuf {
    use sim::attr::off::info as o;
    AttrBuf::for_cmd(sim::uapi::cmd::OBJ_GET_INFO_BY_FD)
        .u32(o::BPF_FD, fd as u32)
        .u32(o::INFO_LEN, sim::maps::info::PROG_INFO_SIZE as u32)
        .u64(o::INFO, info)
}

/// The `(nr_func_info, nr_line_info)` an info struct reports.
pub fn record_counts(info: &[u8]) -> (u32, u32) {
    use sim::maps::info::prog_info as pi;
    let u = |o: usize| u32::from_le_bytes(info[o..o + 4].try_into().expect("4 bytes"));
    (u(pi::NR_FUNC_INFO), u(pi::NR_LINE_INFO))
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
    /// `BPF_PROG_TEST_RUN`'s results.
    TestRun(TestRunOut),
    /// A program's `func_info` records (8 bytes each: insn_off, type_id) and `line_info`
    /// records (16 bytes each: insn_off, file_name_off, line_off, line_col) as reported.
    Records {
        func_info: Vec<u8>,
        line_info: Vec<u8>,
    },
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

    /// `BPF_PROG_TEST_RUN` in `p`, returning what the call wrote back also when it failed
    /// (the errno is in [`TestRunOut::result`]); `Err` only when the call could not be made
    /// (no such process, no memory for the buffers).
    fn prog_test_run(&mut self, p: ProcId, call: &TestRunCall) -> Result<TestRunOut, Errno>;

    /// One filesystem call in `p`.
    fn fs(&mut self, p: ProcId, call: &FsCall) -> Result<(), Errno>;

    /// Whether the object with this id still exists (its id is allocated), as root sees it.
    fn id_exists(&mut self, kind: Kind, id: u32) -> bool;

    /// Let the kernel finish what it defers (RCU grace periods, work items). The simulator
    /// runs them now; the real kernel is polled until `done` holds or `timeout_ms` passes, and
    /// the result says which.
    fn settle(&mut self, done: &mut dyn FnMut(&mut dyn Backend) -> bool, timeout_ms: u64) -> bool;
}

//! The simulated kernel: one value holding every process, file, object, id space and bpffs
//! instance of a machine. No I/O, no clock, no threads: time moves only through
//! [`Kernel::advance`], deferred frees only through [`Kernel::synchronize`].

use std::collections::VecDeque;

use crate::maps::Map;
use crate::object::{Deferred, EventLog, Idr, MapIdx, ProgIdx, Slab};
use crate::prog::Prog;
use crate::prog::tag::TagHash;
use crate::task::{File, ProcTable};
use crate::vfs::Vfs;

pub mod btf;
mod fs;
pub mod helper_table;
mod helpers;
mod packet;
mod sock_ops;
mod syscall;
mod test_run;

pub use helpers::TraceEntry;
pub use sock_ops::{BpfSockCtx, CgroupSockResult, SockOpsCtx, SockOpsResult};
pub use test_run::{PKT_DATA, PKT_PAGE};
pub use test_run::{TestRunAttr, TestRunResult};

/// How the simulated machine is configured; `Default` is the 6.18 machine the spec was
/// measured on.
#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// The digest behind program tags: SHA-256 on 6.18, SHA-1 up to 6.17.
    pub tag_hash: TagHash,
    /// `kernel.unprivileged_bpf_disabled` (2 with `CONFIG_BPF_UNPRIV_DEFAULT_OFF`).
    pub unprivileged_bpf_disabled: u8,
    /// `CONFIG_BPF_PRELOAD`: every new bpffs holds `maps.debug` and `progs.debug`.
    pub bpf_preload: bool,
    /// Seed of the machine's one random source (per-map hash seeds). Same seed, same run.
    pub seed: u64,
    /// The most memory one map may allocate before `MAP_CREATE` fails with `ENOMEM` (the real
    /// kernel's limit is the machine's memory).
    pub max_map_bytes: u64,
    /// How many reference events the log keeps (0: no log).
    pub event_log_capacity: usize,
    /// The first map/prog id the id spaces hand out (1 on a fresh kernel).
    pub first_id: u32,
    /// `RLIMIT_NOFILE` of new processes.
    pub fd_limit: u32,
    /// The instruction budget of one program run in `BPF_PROG_TEST_RUN` (per repetition);
    /// see [`crate::vm::DEFAULT_BUDGET`].
    pub run_budget: u64,
    /// The engine that runs programs in `BPF_PROG_TEST_RUN` and [`Kernel::run_sock_ops`].
    pub engine: RunEngine,
}

/// Which engine runs programs ([`KernelConfig::engine`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunEngine {
    /// Our interpreter ([`crate::vm::Interpreter`]).
    #[default]
    Interpreter,
    /// rbpf 0.4.1 ([`crate::vm::rbpf_engine::RbpfEngine`]): only the context region is
    /// reachable, helpers get host addresses, and `duration` is 0 (rbpf counts nothing).
    Rbpf,
    /// Both, each on its own copy of the machine: our result is the answer, and any
    /// difference in r0 (or the error's kind), in the bytes of the packet, context or map
    /// values, or in a map's contents fails the run with `EIO` and a
    /// [`CrossCheckReport::Differ`] in [`Kernel::last_cross_check`]. A program rbpf does
    /// not run gives [`CrossCheckReport::NotRunByRbpf`] and our result.
    CrossCheck,
}

/// What the last cross-checked run found ([`RunEngine::CrossCheck`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrossCheckReport {
    /// rbpf does not run the program (its first unsupported instruction).
    NotRunByRbpf {
        /// The instruction.
        pc: usize,
        /// What it is.
        what: &'static str,
    },
    /// Same r0 (or error kind), same region bytes, same maps.
    Agree,
    /// The engines differ.
    Differ {
        /// Our r0 or error.
        ours: Result<u64, crate::vm::VmError>,
        /// rbpf's.
        rbpf: Result<u64, crate::vm::VmError>,
        /// The kinds of the regions whose bytes differ.
        regions: Vec<crate::vm::RegionKind>,
        /// The ids of the maps whose contents differ.
        maps: Vec<u32>,
    },
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            tag_hash: TagHash::Sha256,
            unprivileged_bpf_disabled: 2,
            bpf_preload: true,
            seed: 0x5eed_b9f5_1a0b_0001,
            max_map_bytes: 16 << 30,
            event_log_capacity: 1 << 16,
            first_id: 1,
            fd_limit: 1024,
            run_budget: crate::vm::DEFAULT_BUDGET,
            engine: RunEngine::Interpreter,
        }
    }
}

/// The simulated kernel. Methods named after bpf() commands (`map_create`, `obj_pin`, ...)
/// model the command of that name; [`Kernel::bpf`] is the raw entry point they all go through.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub(crate) cfg: KernelConfig,
    pub(crate) procs: ProcTable,
    pub(crate) next_pid: u32,
    pub(crate) files: Slab<File>,
    pub(crate) maps: Slab<Map>,
    pub(crate) progs: Slab<Prog>,
    pub(crate) map_ids: Idr<MapIdx>,
    pub(crate) prog_ids: Idr<ProgIdx>,
    /// Loaded BTF objects.
    pub(crate) btfs: Slab<btf::BtfObj>,
    /// The BTF id space.
    pub(crate) btf_ids: Idr<btf::BtfIdx>,
    pub(crate) vfs: Vfs,
    pub(crate) deferred: VecDeque<Deferred>,
    pub(crate) events: EventLog,
    /// Monotonic creation counter for objects (their serial numbers).
    pub(crate) serials: u64,
    /// How many bpf() calls were made.
    pub(crate) syscalls: u64,
    /// Virtual `CLOCK_BOOTTIME`, nanoseconds.
    pub(crate) now_ns: u64,
    /// State of the machine's random source (SplitMix64).
    pub(crate) rng: u64,
    /// Why the last failed call failed, like the verifier log or a kernel message.
    pub(crate) last_error: String,
    /// State of `bpf_get_prandom_u32`'s generator (SplitMix64, its own stream so program
    /// runs do not shift the hash seeds of maps created later).
    pub(crate) prandom: u64,
    /// What `bpf_trace_printk` wrote, oldest first (the model's `trace_pipe`).
    pub(crate) trace: Vec<TraceEntry>,
    /// Why the last `BPF_PROG_TEST_RUN` that ran a program stopped early, if it did.
    pub(crate) last_run_error: Option<crate::vm::VmError>,
    /// What the last cross-checked run found.
    pub(crate) last_cross_check: Option<CrossCheckReport>,
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel::new(KernelConfig::default())
    }
}

impl Kernel {
    /// A freshly booted machine: no processes, no objects, nothing mounted.
    pub fn new(cfg: KernelConfig) -> Kernel {
        Kernel {
            procs: ProcTable::default(),
            next_pid: 1,
            files: Slab::default(),
            maps: Slab::default(),
            progs: Slab::default(),
            map_ids: Idr::new(cfg.first_id),
            prog_ids: Idr::new(cfg.first_id),
            btfs: Slab::default(),
            btf_ids: Idr::new(cfg.first_id),
            vfs: Vfs::new(cfg.bpf_preload),
            deferred: VecDeque::new(),
            events: EventLog::new(cfg.event_log_capacity),
            serials: 0,
            syscalls: 0,
            now_ns: 1_000_000_000,
            rng: cfg.seed,
            last_error: String::new(),
            prandom: cfg.seed ^ 0x7072_616e_646f_6d00,
            trace: Vec::new(),
            last_run_error: None,
            last_cross_check: None,
            cfg,
        }
    }

    /// The configuration it was booted with.
    pub fn config(&self) -> &KernelConfig {
        &self.cfg
    }

    /// Advance the virtual clock (`CLOCK_BOOTTIME`) by `ns`.
    pub fn advance(&mut self, ns: u64) {
        self.now_ns += ns;
    }

    /// The virtual clock, nanoseconds since boot.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// The next value of the machine's random source (SplitMix64 over the configured seed).
    pub(crate) fn random_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next `bpf_get_prandom_u32` value.
    pub(crate) fn prandom_u32(&mut self) -> u32 {
        self.prandom = self.prandom.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.prandom;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }

    /// What `bpf_trace_printk` wrote since boot (or the last [`Kernel::take_trace`]), oldest
    /// first: the model's `/sys/kernel/debug/tracing/trace_pipe`.
    pub fn trace_pipe(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// Reads and empties the trace log, as reading `trace_pipe` consumes it.
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        std::mem::take(&mut self.trace)
    }

    /// The typed reason the last `BPF_PROG_TEST_RUN` that started a program stopped without
    /// reaching `exit` (cleared when a run starts); [`Kernel::last_error`] has it as text.
    pub fn last_run_error(&self) -> Option<&crate::vm::VmError> {
        self.last_run_error.as_ref()
    }

    /// What the last run under [`RunEngine::CrossCheck`] found (cleared when a run starts).
    pub fn last_cross_check(&self) -> Option<&CrossCheckReport> {
        self.last_cross_check.as_ref()
    }

    pub(crate) fn next_serial(&mut self) -> u64 {
        self.serials += 1;
        self.serials
    }

    /// Why the last failed bpf() call failed, in the words of the kernel's log.
    pub fn last_error(&self) -> &str {
        &self.last_error
    }

    /// The reference event log.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    /// The simulated filesystem (read-only view).
    pub fn vfs(&self) -> &Vfs {
        &self.vfs
    }

    /// How many bpf() calls have been made.
    pub fn syscall_count(&self) -> u64 {
        self.syscalls
    }

    /// Introspection (no syscall, no capability check): the live map with this index.
    pub fn map(&self, m: MapIdx) -> Option<&Map> {
        self.maps.get(m.0)
    }

    /// Introspection: the live program with this index.
    pub fn prog(&self, p: ProgIdx) -> Option<&Prog> {
        self.progs.get(p.0)
    }

    /// Introspection: every map id in use, ascending, with its map.
    pub fn map_id_table(&self) -> impl Iterator<Item = (u32, MapIdx)> + '_ {
        self.map_ids.iter()
    }

    /// Introspection: every program id in use, ascending, with its program.
    pub fn prog_id_table(&self) -> impl Iterator<Item = (u32, ProgIdx)> + '_ {
        self.prog_ids.iter()
    }
}

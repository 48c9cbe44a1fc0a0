//! `sim`: a deterministic model of the Linux bpf() syscall.
//!
//! A [`Kernel`] is one simulated machine: processes with fd tables, open file descriptions,
//! maps and programs in arenas with the kernel's reference counts (`refcnt`, `usercnt`), the
//! per-kind cyclic id spaces, bpffs instances with pins, and the work the kernel defers past a
//! system call (RCU grace periods, work items), which runs only at [`Kernel::synchronize`].
//!
//! Every command goes through one raw entry point, [`Kernel::bpf`], which decodes the 6.18
//! `union bpf_attr` with the kernel's checks (`E2BIG` past the union, `EINVAL` past a
//! command's last field); the typed methods (`map_create`, `prog_load`, `obj_pin`, ...) build
//! attr bytes and call it. Errors are [`Errno`]s with the kernel's numbers; the reason goes to
//! [`Kernel::last_error`], like the verifier log.
//!
//! What is not modeled, and what happens instead:
//! - the verifier's semantic pass (`do_check`): programs it would reject for their semantics
//!   load here; load runs only the structural checks before it ([`prog`]);
//! - map types other than hash, array, prog_array, array/hash of maps: `EOPNOTSUPP`;
//! - commands other than the ones listed in [`Kernel::bpf`]: `EOPNOTSUPP`;
//! - links, BTF objects, tokens, JIT images (info reports no JIT image).
//!
//! Determinism: no clock (a virtual one advanced by [`Kernel::advance`]), no OS randomness
//! (one SplitMix64 seeded from [`KernelConfig::seed`]), no hash-map iteration.

pub mod attr;
pub mod errno;
pub mod explain;
pub mod invariants;
pub mod kernel;
pub mod loader;
pub mod maps;
pub mod mem;
pub mod object;
pub mod prog;
pub mod task;
pub mod uapi;
pub mod vfs;
pub mod vm;
mod wrappers;

pub use errno::{Errno, SysResult};
pub use kernel::{
    BpfSockCtx, CgroupSockResult, CrossCheckReport, Kernel, KernelConfig, RunEngine, SockOpsCtx,
    SockOpsResult, TestRunAttr, TestRunResult, TraceEntry,
};
pub use maps::create::MapCreateAttr;
pub use mem::{UserBufs, UserMem};
pub use object::{MapIdx, ObjRef, ProgIdx};
pub use prog::{Insn, ProgLoadAttr};
pub use task::{CapSet, Cred, Pid};

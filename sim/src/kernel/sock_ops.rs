//! Running `sock_ops` and `cgroup_sock` programs: model-only entry points, beyond the kernel
//! (which has no test run for either: `ENOTSUPP`, kept by the model's `BPF_PROG_TEST_RUN`).
//!
//! The kernel has no `BPF_PROG_TEST_RUN` for `BPF_PROG_TYPE_SOCK_OPS` (it answers `ENOTSUPP`,
//! 524, and so does the model's `BPF_PROG_TEST_RUN`). [`Kernel::run_sock_ops`] runs one
//! anyway, on a `struct bpf_sock_ops` (224 bytes, uapi offsets) the caller fills through
//! [`SockOpsCtx`], with the helpers [`super::helper_table`] gives sock_ops programs. The
//! context is writable where the kernel's `sock_ops_is_valid_access` lets a program write
//! (`reply`/`replylong[]` at 4..20, `sk_txhash` at 164); a store elsewhere faults. There is
//! no socket behind it: `sk`, `skb_data` and `skb_data_end` are 0.
//!
//! The run is a bpf() call in all but name: the caller must hold the program's fd, the
//! virtual clock advances by the instructions executed, map changes stay, and a run that
//! stops early is an error as in [`Kernel::prog_test_run`] (`last_run_error`).

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::task::Pid;
use crate::uapi::prog_type;
use crate::vm::{Memory, RegionKind};

/// `sizeof(struct bpf_sock_ops)`.
pub const SOCK_OPS_SIZE: usize = 224;

/// A `struct bpf_sock_ops` as the program reads it; fields at the uapi offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockOpsCtx {
    /// The raw struct (setters below write into it).
    pub bytes: [u8; SOCK_OPS_SIZE],
}

impl Default for SockOpsCtx {
    fn default() -> Self {
        SockOpsCtx {
            bytes: [0; SOCK_OPS_SIZE],
        }
    }
}

impl SockOpsCtx {
    /// A context for callback `op` (`BPF_SOCK_OPS_*`), everything else 0.
    pub fn new(op: u32) -> SockOpsCtx {
        SockOpsCtx::default().u32_at(0, op)
    }

    /// Sets the u32 at byte offset `off` (little-endian).
    pub fn u32_at(mut self, off: usize, v: u32) -> SockOpsCtx {
        self.bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
        self
    }

    /// `args[i]` (offset 4 + 4i).
    pub fn arg(self, i: usize, v: u32) -> SockOpsCtx {
        self.u32_at(4 + 4 * i, v)
    }

    /// An IPv4 connection: `family` AF_INET, `remote_ip4`/`local_ip4` (network order, as
    /// the octets), `remote_port` (network order in the upper 16 bits, as the kernel
    /// stores it) and `local_port` (host order), `is_fullsock` 1.
    pub fn ipv4(self, local: [u8; 4], lport: u16, remote: [u8; 4], rport: u16) -> SockOpsCtx {
        self.u32_at(20, 2)
            .u32_at(24, u32::from_le_bytes(remote))
            .u32_at(28, u32::from_le_bytes(local))
            .u32_at(64, (rport.to_be() as u32) << 16)
            .u32_at(68, lport as u32)
            .u32_at(72, 1)
    }

    /// The u32 at byte offset `off`.
    pub fn get_u32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.bytes[off..off + 4].try_into().expect("4 bytes"))
    }
}

/// What a sock_ops run returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockOpsResult {
    /// r0 (the program's return value; 1 on the kernel means "ok").
    pub retval: u64,
    /// `reply` after the run (what the kernel hands back to TCP).
    pub reply: u32,
    /// The whole context after the run.
    pub ctx: SockOpsCtx,
    /// Instructions executed.
    pub duration: u32,
}

/// `sizeof(struct bpf_sock)`.
pub const BPF_SOCK_SIZE: usize = 80;

/// A `struct bpf_sock` as a cgroup_sock program reads it (`cgroup/sock_create` and friends);
/// fields at the uapi offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfSockCtx {
    /// The raw struct.
    pub bytes: [u8; BPF_SOCK_SIZE],
}

impl Default for BpfSockCtx {
    fn default() -> Self {
        BpfSockCtx {
            bytes: [0; BPF_SOCK_SIZE],
        }
    }
}

impl BpfSockCtx {
    /// A socket being created: `family`, `type`, `protocol` (what `socket(2)` got).
    pub fn new(family: u32, sock_type: u32, protocol: u32) -> BpfSockCtx {
        BpfSockCtx::default()
            .u32_at(4, family)
            .u32_at(8, sock_type)
            .u32_at(12, protocol)
    }

    /// Sets the u32 at byte offset `off` (little-endian).
    pub fn u32_at(mut self, off: usize, v: u32) -> BpfSockCtx {
        self.bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
        self
    }

    /// The u32 at byte offset `off`.
    pub fn get_u32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.bytes[off..off + 4].try_into().expect("4 bytes"))
    }
}

/// What a cgroup_sock run returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupSockResult {
    /// r0 (1: allow the socket, 0: `EPERM` to the caller of `socket(2)`).
    pub retval: u64,
    /// The context after the run (`bound_dev_if`, `mark`, `priority` are writable).
    pub ctx: BpfSockCtx,
    /// Instructions executed.
    pub duration: u32,
}

impl Kernel {
    /// Runs program `fd` of `pid`, which must have type `ptype`, once on a context of
    /// `bytes`, writable in the byte ranges `writable` (ascending, disjoint): (r0, duration,
    /// the context after).
    fn run_on_ctx(
        &mut self,
        pid: Pid,
        fd: i32,
        ptype: u32,
        bytes: &[u8],
        writable: &[(usize, usize)],
    ) -> SysResult<(u64, u32, Vec<u8>)> {
        let (_, p) = self.fd_prog(pid, fd)?;
        if self.progs[p.0].prog_type != ptype {
            let name = prog_type::name(ptype).unwrap_or("?");
            return self.fail(Errno::EINVAL, &format!("not a {name} program"));
        }
        // The context as consecutive regions at the addresses they have in the struct,
        // read-only except the writable ranges.
        let mut cuts = vec![(0, writable.first().map_or(bytes.len(), |w| w.0), false)];
        for (i, &(s, e)) in writable.iter().enumerate() {
            cuts.push((s, e, true));
            let next = writable.get(i + 1).map_or(bytes.len(), |w| w.0);
            cuts.push((e, next, false));
        }
        cuts.retain(|&(s, e, _)| s < e);
        let mut vm = Memory::new();
        let first = vm
            .map(bytes[..cuts[0].1].to_vec(), cuts[0].2, RegionKind::Context)
            .map_err(|_| Errno::ENOMEM)?;
        let base = vm.region(first).base;
        let mut ids = vec![first];
        for &(s, e, w) in &cuts[1..] {
            ids.push(
                vm.add(
                    base + s as u64,
                    bytes[s..e].to_vec(),
                    w,
                    RegionKind::Context,
                )
                .map_err(|_| Errno::ENOMEM)?,
            );
        }
        let (retval, duration) = self.test_run_prog(pid, p, &mut vm, base, &mut None, 1, 0)?;
        let mut out = Vec::with_capacity(bytes.len());
        for id in ids {
            out.extend_from_slice(&vm.region(id).bytes);
        }
        Ok((retval as u64, duration, out))
    }

    /// Runs the sock_ops program behind `fd` of process `pid` once on `ctx` (model only; see
    /// the module docs). `EBADF`/`EINVAL` for a bad fd or a program of another type.
    pub fn run_sock_ops(
        &mut self,
        pid: Pid,
        fd: i32,
        ctx: &SockOpsCtx,
    ) -> SysResult<SockOpsResult> {
        let (retval, duration, bytes) = self.run_on_ctx(
            pid,
            fd,
            prog_type::SOCK_OPS,
            &ctx.bytes,
            &[(4, 20), (164, 168)],
        )?;
        let mut out = SockOpsCtx::default();
        out.bytes.copy_from_slice(&bytes);
        Ok(SockOpsResult {
            retval,
            reply: out.get_u32(4),
            ctx: out,
            duration,
        })
    }

    /// Runs the cgroup_sock program behind `fd` of process `pid` once on `ctx`, as
    /// `socket(2)` in its cgroup would (model only: the kernel cannot test-run cgroup_sock,
    /// `BPF_PROG_TEST_RUN` stays `ENOTSUPP`). `bound_dev_if`, `mark` and `priority` are
    /// writable (`sock_filter_is_valid_access` for `sock_create`); `EBADF`/`EINVAL` for a bad
    /// fd or a program of another type.
    pub fn run_cgroup_sock(
        &mut self,
        pid: Pid,
        fd: i32,
        ctx: &BpfSockCtx,
    ) -> SysResult<CgroupSockResult> {
        let (retval, duration, bytes) = self.run_on_ctx(
            pid,
            fd,
            prog_type::CGROUP_SOCK,
            &ctx.bytes,
            &[(0, 4), (16, 24)],
        )?;
        let mut out = BpfSockCtx::default();
        out.bytes.copy_from_slice(&bytes);
        Ok(CgroupSockResult {
            retval,
            ctx: out,
            duration,
        })
    }
}

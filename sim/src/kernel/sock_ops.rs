//! Running a `sock_ops` program: a model-only entry point, beyond the kernel.
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

impl Kernel {
    /// Runs the sock_ops program behind `fd` of process `pid` once on `ctx` (model only; see
    /// the module docs). `EBADF`/`EINVAL` for a bad fd or a program of another type.
    pub fn run_sock_ops(
        &mut self,
        pid: Pid,
        fd: i32,
        ctx: &SockOpsCtx,
    ) -> SysResult<SockOpsResult> {
        let (_, p) = self.fd_prog(pid, fd)?;
        if self.progs[p.0].prog_type != prog_type::SOCK_OPS {
            return self.fail(Errno::EINVAL, "run_sock_ops: not a sock_ops program");
        }
        let mut vm = Memory::new();
        // The read-only part, then the writable reply and sk_txhash as their own regions
        // at the addresses they have in the struct.
        let base = vm
            .map(ctx.bytes[..4].to_vec(), false, RegionKind::Context)
            .map_err(|_| Errno::ENOMEM)?;
        let b = vm.region(base).base;
        let parts = [
            (4, 20, true),
            (20, 164, false),
            (164, 168, true),
            (168, SOCK_OPS_SIZE, false),
        ];
        let mut ids = vec![base];
        for (s, e, w) in parts {
            ids.push(
                vm.add(
                    b + s as u64,
                    ctx.bytes[s..e].to_vec(),
                    w,
                    RegionKind::Context,
                )
                .map_err(|_| Errno::ENOMEM)?,
            );
        }
        let (retval, duration) = self.test_run_prog(pid, p, &mut vm, b, None, 1, 0)?;
        let mut out = SockOpsCtx::default();
        let mut at = 0;
        for id in ids {
            let bytes = &vm.region(id).bytes;
            out.bytes[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        }
        Ok(SockOpsResult {
            retval: retval as u64,
            reply: out.get_u32(4),
            ctx: out,
            duration,
        })
    }
}

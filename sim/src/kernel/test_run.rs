//! `BPF_PROG_TEST_RUN` (`kernel/bpf/syscall.c bpf_prog_test_run`, `net/bpf/test_run.c`) for
//! XDP, socket-filter, cgroup_skb and tc (sched_cls, sched_act) programs, run by the engine
//! [`crate::KernelConfig::engine`] names (our interpreter by default, rbpf, or both
//! cross-checked) with the helpers of [`super::helpers`] and the packet of [`super::packet`].
//!
//! What the program sees:
//! - XDP: `struct xdp_md` (24 bytes, read-only) whose `data`, `data_end` and `data_meta` hold
//!   the packet region's addresses as 32-bit values. The kernel rewrites those loads into
//!   loads of the real 64-bit pointers; the model instead places the packet below 4 GiB
//!   (`data` always at [`PKT_DATA`]), so the 32-bit value *is* the address and the
//!   program's `(void *)(long)ctx->data` works unchanged. `ingress_ifindex` is 1 (the
//!   loopback device, the only one the model has) and `rx_queue_index` 0. The packet region
//!   is `[data_meta, data_end)`, writable; bytes outside it (the kernel's headroom and
//!   tailroom) fault. With a context, `xdp_md.data` is the metadata's size and
//!   `xdp_md.data_end` the linear part's end (both from the start of `data_in`, which holds
//!   the metadata first); `data_end` may be below `data_size_in` (a zero context, as with
//!   `ctx_out` alone, is `data_end` 0). The linear part is at most a page minus the headroom
//!   and `skb_shared_info` (3520 bytes without metadata); the rest of `data_in` becomes
//!   page-sized fragments (at most `MAX_SKB_FRAGS` = 17, else `ENOMEM`), which the program
//!   does not see except through `bpf_xdp_adjust_tail`, and which `data_out` gets after the
//!   linear part. `data_size_in` minus the metadata below `ETH_HLEN` is `EINVAL`.
//! - socket filter: `struct __sk_buff` (192 bytes) at the uapi offsets. As on the kernel the
//!   Ethernet header is pulled first (an IPv4 or IPv6 EtherType needs its 20- or 40-byte
//!   header after it, else `EINVAL`, for every skb type; other EtherTypes run on a bare
//!   14-byte frame): `len` = data_size_in - 14, `protocol` the frame's
//!   EtherType as the kernel stores it (big-endian u16), `pkt_type` from the destination
//!   address as `eth_type_trans` sets it against the loopback's all-zero address, `ifindex`
//!   1, `mark`/`priority`/`cb`/`tstamp`/`wire_len`/`gso_*`/`hwtstamp` from `ctx_in`, and
//!   `data`/`data_end` as for XDP (the kernel's verifier refuses those two fields to socket
//!   filters; the model has no verifier, so they are there). The packet (after the Ethernet
//!   header) is read-only and is what `LD_ABS`/`LD_IND` read. Writes to the context are
//!   allowed; only `cb[]` is read back (the fields a socket filter may write). The output
//!   packet has its Ethernet header zeroed, as `bpf_prog_test_run_skb` does for programs
//!   that do not see L2.
//! - cgroup_skb: as a socket filter (measured: `len` and `data_end - data` are the frame
//!   minus 14, `data_out` has the Ethernet header zeroed); the packet is read-only.
//! - tc (`is_l2` in the kernel): the same `__sk_buff`, but `data` is the Ethernet header,
//!   `len` the whole frame, the packet writable (directly and through the skb helpers),
//!   `data_out` the frame as the program left it (its size follows `bpf_skb_change_tail`),
//!   and `mark`, `priority`, `tstamp` and `cb[]` come back in `ctx_out`.
//!
//! Duration: the model does not measure time. Each repetition advances the virtual clock by
//! the number of instructions it executed (1 ns per instruction), and `duration` is the
//! average per repetition, rounded down, as the kernel reports its average: the instruction
//! count of one run. `bpf_ktime_get_ns` returns the virtual clock, so it moves between
//! repetitions, not within one.
//!
//! Repetitions share the packet and the context (as on the kernel: a program that changes
//! the packet sees its own change the next time).
//!
//! A run that stops without reaching `exit` (a fault, an unknown helper, the instruction
//! budget [`crate::KernelConfig::run_budget`] running out) is an error the kernel cannot
//! produce, because its verifier would not have loaded the program. The model answers with
//! the errno the verifier gives for that kind of program at load: `E2BIG` for a program that
//! runs past the budget ("BPF program is too large"), `EACCES` for an out-of-bounds or
//! read-only access ("invalid mem access"), `EINVAL` for the rest ("unknown func", invalid
//! instructions). The typed error is [`Kernel::last_run_error`], its text
//! [`Kernel::last_error`]. Map changes the program made before it stopped stay.
//!
//! Copies out (`data_out`, `ctx_out`) go through [`UserMem::write`], which like
//! `copy_to_user` stores the bytes before a fault: an output buffer shorter than the copy
//! gets its bytes, and the call fails with `EFAULT`.
//!
//! Not modeled (`EOPNOTSUPP` with a reason): `BPF_F_TEST_XDP_LIVE_FRAMES` and the program
//! types whose test runs the kernel has but the model does not (lwt, flow dissector, raw_tp,
//! tracing, struct_ops, sk_lookup, syscall, netfilter, ext). Types the kernel cannot test-run get its `ENOTSUPP` (524); sock_ops has a
//! model-only run instead ([`Kernel::run_sock_ops`]). `BPF_F_TEST_SKB_CHECKSUM_COMPLETE` is
//! accepted and has no effect (the model keeps no `skb->csum`).
//!
//! Engines: under [`crate::RunEngine::CrossCheck`] the run happens twice, on our interpreter
//! and, on a clone of the machine, on rbpf; the answer is ours, and any difference in r0
//! (or the error's kind), in region bytes or in map contents is `EIO` with the details in
//! [`Kernel::last_cross_check`]. rbpf counts no instructions: under
//! [`crate::RunEngine::Rbpf`] `duration` is 0 and the clock does not move.

use crate::attr::{Attr, AttrBuf, put_u32};
use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::kernel::helpers::RunEnv;
use crate::kernel::packet::{PacketState, PktKind, SKB_MAX_ALLOC, XDP_FRAME_SIZE};
use crate::kernel::{CrossCheckReport, RunEngine};
use crate::maps::MapData;
use crate::mem::{UserBufs, UserMem};
use crate::object::ProgIdx;
use crate::task::Pid;
use crate::uapi::{cmd, prog_type};
use crate::vm::rbpf_engine::RbpfEngine;
use crate::vm::{Engine, Interpreter, Memory, RegionKind, VmError};

use crate::attr::off::test as t;

/// `ETH_HLEN`.
const ETH_HLEN: u32 = 14;
/// `PAGE_SIZE`.
const PAGE: u32 = 4096;
/// `XDP_PACKET_HEADROOM`.
const XDP_HEADROOM: u32 = 256;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86_64.
const SHINFO: u32 = 320;
/// `NET_SKB_PAD + NET_IP_ALIGN` on x86_64.
const SKB_HEADROOM: u32 = 64;
/// `sizeof(struct xdp_md)`.
const XDP_MD_SIZE: usize = 24;
/// `sizeof(struct __sk_buff)`.
const SK_BUFF_SIZE: usize = 192;
/// The loopback device's ifindex.
const LO_IFINDEX: u32 = 1;
/// `BPF_F_TEST_XDP_LIVE_FRAMES`.
const F_XDP_LIVE_FRAMES: u32 = 1 << 1;
/// `BPF_F_TEST_SKB_CHECKSUM_COMPLETE`.
const F_SKB_CHECKSUM_COMPLETE: u32 = 1 << 2;
/// `MAX_SKB_FRAGS`: the most fragments an XDP test run's frame may have.
const MAX_SKB_FRAGS: usize = 17;
/// `ETH_P_IP`, `ETH_P_IPV6`.
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
/// `sizeof(struct iphdr)`, `sizeof(struct ipv6hdr)`.
const IPV4_HLEN: u32 = 20;
const IPV6_HLEN: u32 = 40;
/// `TEST_XDP_MAX_BATCH`.
const XDP_MAX_BATCH: u32 = 256;
/// `BPF_XDP_DEVMAP`, `BPF_XDP_CPUMAP` (`enum bpf_attach_type`).
const BPF_XDP_DEVMAP: u32 = 33;
const BPF_XDP_CPUMAP: u32 = 35;
/// `GSO_MAX_SEGS`, `GSO_LEGACY_MAX_SIZE`.
const GSO_MAX_SEGS: u32 = 65535;
const GSO_LEGACY_MAX_SIZE: u32 = 65536;

/// Where the page holding the packet starts: below 4 GiB, so 32-bit context fields can hold
/// packet addresses.
pub const PKT_PAGE: u64 = 0x0100_0000;
/// Where an XDP packet's `data` is (after `XDP_PACKET_HEADROOM`).
pub const PKT_DATA: u64 = PKT_PAGE + XDP_HEADROOM as u64;

/// A typed `BPF_PROG_TEST_RUN` request (see [`Kernel::prog_test_run`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRunAttr {
    /// The packet (`data_in`, `data_size_in`); empty passes a NULL pointer.
    pub data_in: Vec<u8>,
    /// The output buffer: `None` passes NULL (nothing is copied; sizes still come back);
    /// `Some(0)` a buffer with no size hint (`data_size_out` = 0: the kernel copies the whole
    /// packet, the wrapper's buffer is large enough for any packet a helper can make); `Some(n)` a buffer of `n` bytes and
    /// `data_size_out = n` (a larger packet is `ENOSPC`, with the first `n` bytes copied).
    pub data_out: Option<u32>,
    /// `ctx_in` (and `ctx_size_in`).
    pub ctx_in: Option<Vec<u8>>,
    /// A `ctx_out` buffer of this many bytes (`ctx_size_out`).
    pub ctx_out: Option<u32>,
    /// `repeat` (0 runs once).
    pub repeat: u32,
    /// `flags`.
    pub flags: u32,
    /// `cpu`.
    pub cpu: u32,
    /// `batch_size`.
    pub batch_size: u32,
}

impl TestRunAttr {
    /// One run on `data`, the whole output packet wanted.
    pub fn new(data: impl Into<Vec<u8>>) -> TestRunAttr {
        TestRunAttr {
            data_in: data.into(),
            data_out: Some(0),
            ..TestRunAttr::default()
        }
    }

    /// The same with `repeat`.
    pub fn repeat(mut self, n: u32) -> TestRunAttr {
        self.repeat = n;
        self
    }
}

/// What `BPF_PROG_TEST_RUN` wrote back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRunResult {
    /// `retval`: r0 of the last run, as a `u32`.
    pub retval: u32,
    /// `duration`: average instructions per run (see the module docs).
    pub duration: u32,
    /// The bytes copied to `data_out`.
    pub data_out: Vec<u8>,
    /// `data_size_out` as written back: the whole output packet's size.
    pub data_size_out: u32,
    /// The bytes copied to `ctx_out`.
    pub ctx_out: Vec<u8>,
    /// `ctx_size_out` as written back.
    pub ctx_size_out: u32,
}

fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("in range"))
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// The errno a run that did not reach `exit` gives; see the module docs.
fn run_errno(e: &VmError) -> Errno {
    match e {
        VmError::BudgetExceeded { .. } => Errno::E2BIG,
        VmError::OutOfBounds { .. } | VmError::ReadOnly { .. } => Errno::EACCES,
        _ => Errno::EINVAL,
    }
}

impl Kernel {
    /// `BPF_PROG_TEST_RUN`: runs the program behind `fd` on `a.data_in`; see
    /// [`TestRunAttr`]. An `ENOSPC` (output buffer too small) is an error here; use
    /// [`Kernel::prog_test_run_partial`] to see what was copied anyway.
    pub fn prog_test_run(
        &mut self,
        pid: Pid,
        fd: i32,
        a: &TestRunAttr,
    ) -> SysResult<TestRunResult> {
        let (r, out) = self.prog_test_run_partial(pid, fd, a);
        r.map(|()| out)
    }

    /// `BPF_PROG_TEST_RUN`, returning what the kernel wrote back even when the call failed
    /// (after `ENOSPC`: the truncated packet, its full size, retval and duration).
    pub fn prog_test_run_partial(
        &mut self,
        pid: Pid,
        fd: i32,
        a: &TestRunAttr,
    ) -> (SysResult<()>, TestRunResult) {
        let mut data_buf = vec![
            0u8;
            match a.data_out {
                // Room for what bpf_skb_change_tail can grow the packet to.
                Some(0) => a.data_in.len().max(SKB_MAX_ALLOC as usize) + PAGE as usize,
                Some(n) => n as usize,
                None => 0,
            }
        ];
        let mut ctx_buf = vec![0u8; a.ctx_out.unwrap_or(0) as usize];
        let (r, attr) = {
            let mut m = UserBufs::new();
            let din = if a.data_in.is_empty() {
                0
            } else {
                m.input(&a.data_in)
            };
            let dout = if a.data_out.is_some() {
                m.output(&mut data_buf)
            } else {
                0
            };
            let cin = a.ctx_in.as_ref().map_or(0, |c| m.input(c));
            let cout = if a.ctx_out.is_some() {
                m.output(&mut ctx_buf)
            } else {
                0
            };
            let attr = AttrBuf::for_cmd(cmd::PROG_TEST_RUN)
                .u32(t::PROG_FD, fd as u32)
                .u32(t::DATA_SIZE_IN, a.data_in.len() as u32)
                .u32(t::DATA_SIZE_OUT, a.data_out.unwrap_or(0))
                .u64(t::DATA_IN, din)
                .u64(t::DATA_OUT, dout)
                .u32(t::REPEAT, a.repeat)
                .u32(
                    t::CTX_SIZE_IN,
                    a.ctx_in.as_ref().map_or(0, |c| c.len() as u32),
                )
                .u32(t::CTX_SIZE_OUT, a.ctx_out.unwrap_or(0))
                .u64(t::CTX_IN, cin)
                .u64(t::CTX_OUT, cout)
                .u32(t::FLAGS, a.flags)
                .u32(t::CPU, a.cpu)
                .u32(t::BATCH_SIZE, a.batch_size);
            let (mut bytes, len) = (attr.0, attr.1);
            let r = self.bpf(
                pid,
                cmd::PROG_TEST_RUN,
                &mut bytes[..len],
                len as u32,
                &mut m,
            );
            (r, bytes)
        };
        let mut out = TestRunResult {
            retval: get32(&attr, t::RETVAL),
            duration: get32(&attr, t::DURATION),
            data_size_out: get32(&attr, t::DATA_SIZE_OUT),
            ctx_size_out: get32(&attr, t::CTX_SIZE_OUT),
            ..TestRunResult::default()
        };
        if matches!(r, Ok(_) | Err(Errno::ENOSPC)) {
            let n = (out.data_size_out as usize).min(data_buf.len());
            data_buf.truncate(n);
            out.data_out = data_buf;
            let n = (out.ctx_size_out as usize).min(ctx_buf.len());
            ctx_buf.truncate(n);
            out.ctx_out = ctx_buf;
        }
        (r.map(drop), out)
    }

    /// `BPF_PROG_TEST_RUN` (`bpf_prog_test_run`): attr checks, the program, then the type's
    /// `test_run`.
    pub(crate) fn sys_prog_test_run(
        &mut self,
        pid: Pid,
        a: &Attr,
        user: &mut [u8],
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        a.check_unused(t::END)?;
        let (csi, ci) = (a.u32(t::CTX_SIZE_IN), a.u64(t::CTX_IN));
        let (cso, co) = (a.u32(t::CTX_SIZE_OUT), a.u64(t::CTX_OUT));
        if (csi != 0) != (ci != 0) || (cso != 0) != (co != 0) {
            return self.fail(
                Errno::EINVAL,
                "ctx size and ctx pointer must be both set or both 0",
            );
        }
        let (_, p) = self.fd_prog(pid, a.u32(t::PROG_FD) as i32)?;
        let ptype = self.progs[p.0].prog_type;
        let name = prog_type::name(ptype).unwrap_or("?");
        use prog_type as pt;
        match ptype {
            pt::XDP => self.test_run_xdp(pid, p, a, user, mem),
            pt::SOCKET_FILTER | pt::SCHED_CLS | pt::SCHED_ACT | pt::CGROUP_SKB => {
                self.test_run_skb(pid, p, a, user, mem)
            }
            pt::LWT_IN
            | pt::LWT_OUT
            | pt::LWT_XMIT
            | pt::RAW_TRACEPOINT
            | pt::RAW_TRACEPOINT_WRITABLE
            | pt::FLOW_DISSECTOR
            | pt::TRACING
            | pt::STRUCT_OPS
            | pt::SK_LOOKUP
            | pt::SYSCALL
            | pt::NETFILTER
            | pt::EXT => self.fail(
                Errno::EOPNOTSUPP,
                &format!("test runs of {name} programs are not modeled"),
            ),
            _ => self.fail(
                Errno::ENOTSUPP,
                &format!("{name} programs have no test_run"),
            ),
        }
    }

    /// `bpf_ctx_init`: the context the caller passed (zero-extended to `size`), `None` when
    /// neither `ctx_in` nor `ctx_out` is set; bytes past `size` must be zero (`E2BIG`).
    fn test_ctx_init(
        &mut self,
        a: &Attr,
        mem: &dyn UserMem,
        size: usize,
    ) -> SysResult<Option<Vec<u8>>> {
        let (ci, co, csi) = (
            a.u64(t::CTX_IN),
            a.u64(t::CTX_OUT),
            a.u32(t::CTX_SIZE_IN) as usize,
        );
        if ci == 0 && co == 0 {
            return Ok(None);
        }
        let mut ctx = vec![0u8; size];
        if ci != 0 {
            if csi > PAGE as usize {
                return Err(Errno::E2BIG);
            }
            if csi > size {
                let mut tail = vec![0u8; csi - size];
                mem.read(ci + size as u64, &mut tail)?;
                if tail.iter().any(|&b| b != 0) {
                    return self.fail(Errno::E2BIG, "ctx_in has non-zero bytes past the context");
                }
            }
            let n = csi.min(size);
            mem.read(ci, &mut ctx[..n])?;
        }
        Ok(Some(ctx))
    }

    /// `bpf_test_finish`: the packet to `data_out` (clamped to a non-zero `data_size_out`:
    /// `ENOSPC`), then `data_size_out`, `retval`, `duration`.
    fn test_finish(
        &mut self,
        a: &Attr,
        user: &mut [u8],
        mem: &mut dyn UserMem,
        data: &[u8],
        retval: u32,
        duration: u32,
    ) -> SysResult<()> {
        let size = data.len() as u32;
        let dso = a.u32(t::DATA_SIZE_OUT);
        let (copy, nospc) = if dso != 0 && size > dso {
            (dso, true)
        } else {
            (size, false)
        };
        let out = a.u64(t::DATA_OUT);
        if out != 0 {
            mem.write(out, &data[..copy as usize])?;
        }
        put_u32(user, t::DATA_SIZE_OUT, size)?;
        put_u32(user, t::RETVAL, retval)?;
        put_u32(user, t::DURATION, duration)?;
        if nospc {
            return self.fail(
                Errno::ENOSPC,
                &format!("data_out holds {dso} bytes, the packet has {size}"),
            );
        }
        Ok(())
    }

    /// `bpf_ctx_finish`: the context to `ctx_out` (clamped to `ctx_size_out`: `ENOSPC`).
    fn test_ctx_finish(
        &mut self,
        a: &Attr,
        user: &mut [u8],
        mem: &mut dyn UserMem,
        ctx: Option<&[u8]>,
    ) -> SysResult<()> {
        let out = a.u64(t::CTX_OUT);
        let Some(ctx) = ctx.filter(|_| out != 0) else {
            return Ok(());
        };
        let size = ctx.len() as u32;
        let cso = a.u32(t::CTX_SIZE_OUT);
        let copy = size.min(cso);
        mem.write(out, &ctx[..copy as usize])?;
        put_u32(user, t::CTX_SIZE_OUT, size)?;
        if copy < size {
            return self.fail(
                Errno::ENOSPC,
                &format!("ctx_out holds {cso} bytes, the context has {size}"),
            );
        }
        Ok(())
    }

    /// Runs `p` `repeat` times (0: once) with r1 = `ctx` on the configured engine
    /// ([`crate::KernelConfig::engine`]): (retval, duration). `pkt` is the packet before the
    /// run and, after it, as the program left it (our interpreter's, under a cross-check).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn test_run_prog(
        &mut self,
        pid: Pid,
        p: ProgIdx,
        mem: &mut Memory,
        ctx: u64,
        pkt: &mut Option<PacketState>,
        repeat: u32,
        cpu: u32,
    ) -> SysResult<(u32, u32)> {
        let repeat = repeat.max(1);
        self.last_run_error = None;
        self.last_cross_check = None;
        let r = match self.cfg.engine {
            RunEngine::Interpreter => self.run_repeats(pid, p, mem, ctx, pkt, repeat, cpu, false),
            RunEngine::Rbpf => self.run_repeats(pid, p, mem, ctx, pkt, repeat, cpu, true),
            RunEngine::CrossCheck => {
                let mut shadow = self.clone();
                let mut smem = mem.clone();
                let mut spkt = pkt.clone();
                let ours = self.run_repeats(pid, p, mem, ctx, pkt, repeat, cpu, false);
                let theirs =
                    shadow.run_repeats(pid, p, &mut smem, ctx, &mut spkt, repeat, cpu, true);
                let report = self.compare_runs(&shadow, mem, &smem, &ours, &theirs);
                let differ = matches!(report, CrossCheckReport::Differ { .. });
                self.last_cross_check = Some(report);
                if differ {
                    return self.fail(
                        Errno(5),
                        "BPF_PROG_TEST_RUN: cross-check: our interpreter and rbpf differ \
                         (Kernel::last_cross_check)",
                    );
                }
                ours
            }
        };
        match r {
            Ok((r0, total)) => {
                let duration = (total / repeat as u64).min(u32::MAX as u64) as u32;
                Ok((r0 as u32, duration))
            }
            Err(e) => {
                let errno = run_errno(&e);
                self.last_error = format!("BPF_PROG_TEST_RUN: the program stopped: {e}");
                self.last_run_error = Some(e);
                Err(errno)
            }
        }
    }

    /// The repetitions on one engine: (r0 of the last, instructions executed in all; rbpf
    /// counts none).
    #[allow(clippy::too_many_arguments)]
    fn run_repeats(
        &mut self,
        pid: Pid,
        p: ProgIdx,
        mem: &mut Memory,
        ctx: u64,
        pkt: &mut Option<PacketState>,
        repeat: u32,
        cpu: u32,
        rbpf: bool,
    ) -> Result<(u64, u64), VmError> {
        let program = self.progs[p.0].runnable.clone();
        let mut interp = Interpreter::with_budget(self.cfg.run_budget);
        let mut env = RunEnv::new(self, pid, cpu, p, mem);
        env.ctx_addr = ctx;
        env.pkt = pkt.take();
        let (mut total, mut r0) = (0u64, 0u64);
        let mut result = Ok(());
        for _ in 0..repeat {
            let r = if rbpf {
                RbpfEngine.run(&program, [ctx, 0, 0, 0, 0], mem, &mut env)
            } else {
                let r = interp.run(&program, [ctx, 0, 0, 0, 0], mem, &mut env);
                total += interp.executed();
                env.k.now_ns += interp.executed();
                r
            };
            env.flush(mem, None);
            match r {
                Ok(v) => r0 = v,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        *pkt = env.pkt.take();
        result.map(|()| (r0, total))
    }

    /// What a cross-check found: rbpf's refusal, or agreement, or the differences in r0,
    /// the regions' bytes (packet, context, map values) and the maps' contents.
    fn compare_runs(
        &self,
        shadow: &Kernel,
        ours_mem: &Memory,
        rbpf_mem: &Memory,
        ours: &Result<(u64, u64), VmError>,
        rbpf: &Result<(u64, u64), VmError>,
    ) -> CrossCheckReport {
        if let Err(VmError::NotSupportedByRbpf { pc, what }) = rbpf {
            return CrossCheckReport::NotRunByRbpf { pc: *pc, what };
        }
        let same_result = match (ours, rbpf) {
            (Ok(a), Ok(b)) => a.0 == b.0,
            (Err(a), Err(b)) => std::mem::discriminant(a) == std::mem::discriminant(b),
            _ => false,
        };
        let a: Vec<_> = ours_mem
            .regions()
            .map(|(_, r)| (r.kind, r.bytes.clone()))
            .collect();
        let b: Vec<_> = rbpf_mem
            .regions()
            .map(|(_, r)| (r.kind, r.bytes.clone()))
            .collect();
        let mut regions: Vec<RegionKind> = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x != y)
            .map(|(x, _)| x.0)
            .collect();
        if a.len() != b.len() {
            regions.extend(
                a.iter()
                    .skip(b.len())
                    .chain(b.iter().skip(a.len()))
                    .map(|x| x.0),
            );
        }
        let maps: Vec<u32> = self
            .map_ids
            .iter()
            .filter(|&(_, m)| {
                let other = shadow.maps.get(m.0);
                other.is_none_or(|o| map_contents(&self.maps[m.0].data) != map_contents(&o.data))
            })
            .map(|(id, _)| id)
            .collect();
        if same_result && regions.is_empty() && maps.is_empty() {
            return CrossCheckReport::Agree;
        }
        CrossCheckReport::Differ {
            ours: ours.as_ref().map(|r| r.0).map_err(Clone::clone),
            rbpf: rbpf.as_ref().map(|r| r.0).map_err(Clone::clone),
            regions,
            maps,
        }
    }

    /// `bpf_prog_test_run_xdp`.
    fn test_run_xdp(
        &mut self,
        pid: Pid,
        p: ProgIdx,
        a: &Attr,
        user: &mut [u8],
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        let eat = self.progs[p.0].expected_attach_type;
        if eat == BPF_XDP_DEVMAP || eat == BPF_XDP_CPUMAP {
            return self.fail(
                Errno::EINVAL,
                "devmap/cpumap XDP programs cannot be test-run",
            );
        }
        let flags = a.u32(t::FLAGS);
        if flags & !F_XDP_LIVE_FRAMES != 0 {
            return Err(Errno::EINVAL);
        }
        let batch = a.u32(t::BATCH_SIZE);
        if flags & F_XDP_LIVE_FRAMES != 0 {
            if batch > XDP_MAX_BATCH {
                return Err(Errno::E2BIG);
            }
            return self.fail(
                Errno::EOPNOTSUPP,
                "BPF_F_TEST_XDP_LIVE_FRAMES is not modeled",
            );
        }
        if batch != 0 {
            return self.fail(
                Errno::EINVAL,
                "batch_size without BPF_F_TEST_XDP_LIVE_FRAMES",
            );
        }
        let mut ctx = self.test_ctx_init(a, mem, XDP_MD_SIZE)?;
        let size = a.u32(t::DATA_SIZE_IN);
        let mut headroom = XDP_HEADROOM;
        let (mut meta, mut linear) = (0, size);
        if let Some(c) = &ctx {
            let (data, data_end, data_meta) = (get32(c, 0), get32(c, 4), get32(c, 8));
            if data_meta != 0 || data_end > size || data > data_end {
                return self.fail(Errno::EINVAL, "xdp_md: invalid data/data_end/data_meta");
            }
            // xdp_metalen_invalid (a multiple of 4, at most 255), and the xdp_frame stays
            // free in the headroom.
            if data % 4 != 0 || data > 255 || data > headroom - XDP_FRAME_SIZE as u32 {
                return self.fail(Errno::EINVAL, "xdp_md: invalid metadata size");
            }
            headroom -= data;
            meta = data;
            linear = data_end;
        }
        let max = PAGE - headroom - SHINFO;
        let linear = linear.min(max);
        if size - meta < ETH_HLEN {
            return self.fail(
                Errno::EINVAL,
                "data_size_in minus the metadata is smaller than ETH_HLEN (14)",
            );
        }
        let mut pkt = vec![0u8; linear as usize];
        mem.read(a.u64(t::DATA_IN), &mut pkt)?;
        if let Some(c) = &ctx {
            let (ingress, rxq, egress) = (get32(c, 12), get32(c, 16), get32(c, 20));
            if egress != 0 || (ingress == 0 && rxq != 0) {
                return self.fail(Errno::EINVAL, "xdp_md: invalid ifindex/rx_queue_index");
            }
            if ingress != 0 && ingress != LO_IFINDEX {
                return self.fail(Errno::ENODEV, "xdp_md: no device with that ingress_ifindex");
            }
            if ingress != 0 && rxq >= 1 {
                return self.fail(
                    Errno::EINVAL,
                    "xdp_md: rx_queue_index past the device's queues",
                );
            }
        }
        // The rest of data_in, past the linear part: page-sized fragments.
        let mut frags = Vec::new();
        let mut at = linear;
        while at < size {
            if frags.len() == MAX_SKB_FRAGS {
                return self.fail(Errno::ENOMEM, "data_in needs more than MAX_SKB_FRAGS pages");
            }
            let n = (size - at).min(PAGE);
            let mut frag = vec![0u8; n as usize];
            mem.read(a.u64(t::DATA_IN) + at as u64, &mut frag)?;
            frags.push(frag);
            at += n;
        }
        // The region is [data_meta, data_end), with data at PKT_DATA (a context's `data`
        // is where data starts after data_meta; without one there is no metadata).
        let base = PKT_DATA - meta as u64;
        let mut vm = Memory::new();
        let pr = vm
            .add(base, pkt, true, RegionKind::Packet)
            .expect("fresh address space");
        let mut md = [0u8; XDP_MD_SIZE];
        put32(&mut md, 0, PKT_DATA as u32);
        put32(&mut md, 4, (base + linear as u64) as u32);
        put32(&mut md, 8, base as u32);
        put32(&mut md, 12, LO_IFINDEX);
        let cr = vm
            .map(md.to_vec(), false, RegionKind::Context)
            .expect("fresh address space");
        let ctx_addr = vm.region(cr).base;
        let mut buf = vec![0u8; (PAGE - SHINFO) as usize];
        let start = (base - PKT_PAGE) as usize;
        buf[start..start + vm.region(pr).bytes.len()].copy_from_slice(&vm.region(pr).bytes);
        let mut pkt = Some(PacketState {
            kind: PktKind::Xdp,
            region: pr,
            ctx: cr,
            hard_start: PKT_PAGE,
            len: vm.region(pr).bytes.len(),
            buf,
            hard_end: (PAGE - SHINFO) as usize,
            start,
            meta: meta as usize,
            l2_hidden: 0,
            writable: true,
            frags,
        });
        let (retval, duration) = self.test_run_prog(
            pid,
            p,
            &mut vm,
            ctx_addr,
            &mut pkt,
            a.u32(t::REPEAT),
            a.u32(t::CPU),
        )?;
        let frags = pkt.map(|p| p.frags).unwrap_or_default();
        self.test_finish_xdp(a, user, mem, &vm.region(pr).bytes, &frags, retval, duration)?;
        if let Some(c) = &mut ctx {
            // xdp_convert_buff_to_md: offsets relative to data_meta.
            let md = &vm.region(cr).bytes;
            let (data, end, dmeta) = (get32(md, 0), get32(md, 4), get32(md, 8));
            put32(c, 0, data - dmeta);
            put32(c, 4, end - dmeta);
        }
        self.test_ctx_finish(a, user, mem, ctx.as_deref())?;
        Ok(0)
    }

    /// `bpf_test_finish` with an XDP frame's fragments: the size is the linear part plus
    /// the fragments; with a `data_size_out` below it the linear part is cut to what is left
    /// after the fragments (`ENOSPC`, and with nothing written back when the fragments alone
    /// are larger), then the fragments follow.
    #[allow(clippy::too_many_arguments)]
    fn test_finish_xdp(
        &mut self,
        a: &Attr,
        user: &mut [u8],
        mem: &mut dyn UserMem,
        linear: &[u8],
        frags: &[Vec<u8>],
        retval: u32,
        duration: u32,
    ) -> SysResult<()> {
        if frags.is_empty() {
            return self.test_finish(a, user, mem, linear, retval, duration);
        }
        let frags_size: u32 = frags.iter().map(|f| f.len() as u32).sum();
        let size = linear.len() as u32 + frags_size;
        let dso = a.u32(t::DATA_SIZE_OUT);
        let (copy, mut nospc) = if dso != 0 && size > dso {
            (dso, true)
        } else {
            (size, false)
        };
        let out = a.u64(t::DATA_OUT);
        if out != 0 {
            let Some(len) = copy.checked_sub(frags_size) else {
                return self.fail(
                    Errno::ENOSPC,
                    &format!("data_out holds {dso} bytes, the fragments alone {frags_size}"),
                );
            };
            mem.write(out, &linear[..len as usize])?;
            let mut off = len;
            for f in frags {
                if off >= copy {
                    nospc = true;
                    break;
                }
                let n = (copy - off).min(f.len() as u32);
                mem.write(out + off as u64, &f[..n as usize])?;
                off += n;
            }
        }
        put_u32(user, t::DATA_SIZE_OUT, size)?;
        put_u32(user, t::RETVAL, retval)?;
        put_u32(user, t::DURATION, duration)?;
        if nospc {
            return self.fail(
                Errno::ENOSPC,
                &format!("data_out holds {dso} bytes, the frame has {size}"),
            );
        }
        Ok(())
    }

    /// `bpf_prog_test_run_skb`: socket filters and cgroup_skb (the Ethernet header pulled,
    /// the packet read-only), tc (`is_l2`: the frame from its Ethernet header, writable).
    fn test_run_skb(
        &mut self,
        pid: Pid,
        p: ProgIdx,
        a: &Attr,
        user: &mut [u8],
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        let ptype = self.progs[p.0].prog_type;
        let is_l2 = matches!(ptype, prog_type::SCHED_CLS | prog_type::SCHED_ACT);
        if a.u32(t::FLAGS) & !F_SKB_CHECKSUM_COMPLETE != 0
            || a.u32(t::CPU) != 0
            || a.u32(t::BATCH_SIZE) != 0
        {
            return Err(Errno::EINVAL);
        }
        let size = a.u32(t::DATA_SIZE_IN);
        if !(ETH_HLEN..=PAGE - SKB_HEADROOM - SHINFO).contains(&size) {
            return self.fail(
                Errno::EINVAL,
                "data_size_in must be at least ETH_HLEN (14) and fit a page",
            );
        }
        let mut frame = vec![0u8; size as usize];
        mem.read(a.u64(t::DATA_IN), &mut frame)?;
        let ctx = self.test_ctx_init(a, mem, SK_BUFF_SIZE)?;
        if ctx.as_ref().is_some_and(|c| get32(c, 40) > LO_IFINDEX) {
            return self.fail(Errno::ENODEV, "__sk_buff: no device with that ifindex");
        }
        // eth_type_trans against the loopback device (address 00:00:00:00:00:00).
        let dest = &frame[..6];
        let pkt_type = if dest[0] & 1 != 0 {
            if dest.iter().all(|&b| b == 0xff) {
                1
            } else {
                2
            }
        } else if dest.iter().any(|&b| b != 0) {
            3
        } else {
            0
        };
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let proto: u16 = if ethertype >= 0x0600 {
            ethertype
        } else if frame.len() >= 16 && frame[14..16] == [0xff, 0xff] {
            0x0001
        } else {
            0x0004
        };
        // The L3 header the protocol names must be there (the 6.18 stable fix for
        // fa5cb548ced6); other protocols run on whatever follows the Ethernet header, even
        // nothing.
        let l3 = size - ETH_HLEN;
        if (proto == ETH_P_IP && l3 < IPV4_HLEN) || (proto == ETH_P_IPV6 && l3 < IPV6_HLEN) {
            return self.fail(
                Errno::EINVAL,
                "the frame is shorter than the IPv4/IPv6 header its EtherType names",
            );
        }
        // convert___skb_to_skb
        let mut sk = [0u8; SK_BUFF_SIZE];
        let mut wire_len = if is_l2 { size } else { size - ETH_HLEN };
        if let Some(c) = &ctx {
            const ALLOWED: [(usize, usize); 10] = [
                (8, 12),    // mark
                (32, 36),   // priority
                (36, 40),   // ingress_ifindex
                (40, 44),   // ifindex
                (48, 68),   // cb
                (152, 160), // tstamp
                (160, 164), // wire_len
                (164, 168), // gso_segs
                (176, 180), // gso_size
                (184, 192), // hwtstamp
            ];
            let bad = (0..SK_BUFF_SIZE)
                .any(|i| c[i] != 0 && !ALLOWED.iter().any(|&(s, e)| (s..e).contains(&i)));
            if bad {
                return self.fail(Errno::EINVAL, "__sk_buff: a field that must be zero is set");
            }
            let wl = get32(c, 160);
            if wl != 0 {
                if wl < wire_len || wl > GSO_LEGACY_MAX_SIZE {
                    return self.fail(Errno::EINVAL, "__sk_buff: invalid wire_len");
                }
                wire_len = wl;
            }
            if get32(c, 164) > GSO_MAX_SEGS {
                return self.fail(Errno::EINVAL, "__sk_buff: gso_segs too large");
            }
            for &(s, e) in &ALLOWED {
                sk[s..e].copy_from_slice(&c[s..e]);
            }
        }
        let hidden = if is_l2 { 0 } else { ETH_HLEN };
        let data = PKT_PAGE + (SKB_HEADROOM + hidden) as u64;
        let len = size - hidden;
        put32(&mut sk, 0, len);
        put32(&mut sk, 4, pkt_type);
        sk[16..18].copy_from_slice(&proto.to_be_bytes());
        put32(&mut sk, 40, LO_IFINDEX);
        put32(&mut sk, 76, data as u32);
        put32(&mut sk, 80, (data + len as u64) as u32);
        put32(&mut sk, 140, data as u32);
        put32(&mut sk, 160, wire_len);
        let mut vm = Memory::new();
        let pr = vm
            .add(
                data,
                frame[hidden as usize..].to_vec(),
                is_l2,
                RegionKind::Packet,
            )
            .expect("fresh address space");
        vm.set_packet(Some(pr));
        let cr = vm
            .map(sk.to_vec(), true, RegionKind::Context)
            .expect("fresh address space");
        let ctx_addr = vm.region(cr).base;
        let mut buf = vec![0u8; (SKB_HEADROOM + size) as usize];
        buf[SKB_HEADROOM as usize..].copy_from_slice(&frame);
        let pkt = PacketState {
            kind: PktKind::Skb,
            region: pr,
            ctx: cr,
            hard_start: PKT_PAGE,
            buf,
            hard_end: 0,
            start: (SKB_HEADROOM + hidden) as usize,
            len: len as usize,
            meta: 0,
            l2_hidden: hidden as usize,
            writable: is_l2,
            frags: Vec::new(),
        };
        let (retval, duration) = self.test_run_prog(
            pid,
            p,
            &mut vm,
            ctx_addr,
            &mut Some(pkt),
            a.u32(t::REPEAT),
            0,
        )?;
        let mut out = vec![0u8; hidden as usize];
        out.extend_from_slice(&vm.region(pr).bytes);
        self.test_finish(a, user, mem, &out, retval, duration)?;
        let ctx_out = ctx.map(|mut c| {
            // convert_skb_to___skb
            let after = &vm.region(cr).bytes;
            c[48..68].copy_from_slice(&after[48..68]);
            if is_l2 {
                // mark, priority, tstamp: the fields a tc program may write.
                c[8..12].copy_from_slice(&after[8..12]);
                c[32..36].copy_from_slice(&after[32..36]);
                c[152..160].copy_from_slice(&after[152..160]);
            }
            put32(&mut c, 40, LO_IFINDEX);
            put32(&mut c, 160, wire_len);
            c
        });
        self.test_ctx_finish(a, user, mem, ctx_out.as_deref())?;
        Ok(0)
    }
}

/// A map's contents as comparable bytes (the cross-check): array values, hash elements in
/// bucket order, slots' occupants.
fn map_contents(d: &MapData) -> Vec<Vec<u8>> {
    match d {
        MapData::Array { values } => vec![values.clone()],
        MapData::Hash { table } => table
            .iter()
            .flat_map(|(k, v)| [k.to_vec(), v.to_vec()])
            .collect(),
        MapData::ProgArray { slots, .. } => slots
            .iter()
            .map(|s| s.map_or(vec![], |p| (p.0 as u64).to_le_bytes().to_vec()))
            .collect(),
        MapData::ArrayOfMaps { slots, .. } => slots
            .iter()
            .map(|s| s.map_or(vec![], |m| (m.0 as u64).to_le_bytes().to_vec()))
            .collect(),
        MapData::HashOfMaps { table, .. } => table
            .iter()
            .flat_map(|(k, v)| [k.to_vec(), (v.0 as u64).to_le_bytes().to_vec()])
            .collect(),
    }
}

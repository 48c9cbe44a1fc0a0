//! rbpf 0.4.1 as a second, independent [`Engine`], and [`cross_check`], which runs a program
//! on both engines and reports any difference.
//!
//! What rbpf runs (`../shared/spec/rbpf-0.4.1.md`): the v1–v3 instruction set without
//! atomics (0.4.1's verifier and interpreter reject even plain `lock add`: "XADD
//! instructions are not supported"), with helper calls and bpf-to-bpf calls. Before a run,
//! [`unsupported`] scans the program; the first instruction outside that subset, or one rbpf
//! would run differently from the kernel on purpose (legacy `LD_ABS`/`LD_IND`: no byte
//! swap, an 8-byte check), ends the run with [`VmError::NotSupportedByRbpf`] naming it.
//! Only rbpf's interpreter is used, never its JIT or cranelift (spec section 4).
//!
//! How a run maps onto rbpf's `EbpfVmRaw`:
//! - Memory: the one region `args[0]` (r1) points into is copied into a host buffer with
//!   [`GUARD`] guard bytes on both sides, rbpf runs on the middle part as its `mem`, and the
//!   bytes are copied back afterwards (also after an error). rbpf checks `mem` accesses
//!   byte-exactly (`check_mem` compares both ends); the guard bytes are checked after the
//!   run anyway. No range is registered with `register_allowed_memory` (whose check looks at
//!   an access's first byte only), so the other regions of [`Memory`] are not reachable
//!   from rbpf: a program touching them faults here. Read-only is not enforced by rbpf.
//! - Registers: `EbpfVmRaw` sets r1 to the buffer (or 0) and r2..r5 to 0. A prologue of
//!   `mov`/`ld_imm64` instructions sets r1 (when `args[0]` is not the region's start) and
//!   r2..r5 to `args`; it only shifts pcs (jumps and calls are relative), and every pc
//!   reported is the program's own.
//! - Helpers: rbpf helpers are bare `fn(u64, u64, u64, u64, u64) -> u64`, so the `Env` of
//!   the run is reached through a thread-local pointer set for the duration of the run, and
//!   every helper id `0..256` the program calls is registered as a function monomorphised
//!   for that id ([`bridge`]). The helper gets the caller's [`Memory`], but its pointer
//!   arguments are rbpf's host addresses, so a helper that dereferences one faults (map
//!   helpers need a shared address space, left for later). A helper error stops the run by
//!   unwinding out of rbpf (`resume_unwind`, no panic message) and is reported with the pc
//!   of the first `call` of that helper id in the program (rbpf does not tell which call).
//! - Errors: rbpf's are strings; out-of-bounds accesses and unknown helpers become the
//!   typed variants ([`VmError::OutOfBounds`] with the address translated back when it is
//!   inside the buffer, else rbpf's host address), the rest [`VmError::Rbpf`]. A panic
//!   inside rbpf (e.g. falling off the end: `unreachable!`) is caught and reported as
//!   [`VmError::Rbpf`].
//! - No instruction budget: rbpf has none, so a program that loops forever hangs the run.
//! - Stack: rbpf's own 512 bytes, split between frames (256 bytes per caller frame); it is
//!   not visible in [`Memory`], whose frames stay empty.
//!
//! `unsafe` here: only the thread-local `Env` bridge (see the SAFETY comments).

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use super::{Engine, Env, EnvError, Interpreter, Memory, Program, RegionId, VmError};
use crate::prog::insn::*;
use crate::uapi::pseudo;

/// Guard bytes on each side of the host buffer rbpf runs on.
pub const GUARD: usize = 64;
/// The guard bytes' value.
const GUARD_BYTE: u8 = 0xa5;
/// Helper ids that can be bridged to [`Env::call_helper`] (the kernel's go up to ~212).
pub const BRIDGED_HELPERS: usize = 256;

/// The rbpf 0.4.1 interpreter as an [`Engine`]; see the module docs.
#[derive(Clone, Copy, Debug, Default)]
pub struct RbpfEngine;

impl RbpfEngine {
    /// The engine.
    pub fn new() -> RbpfEngine {
        RbpfEngine
    }
}

fn atomic_name(size: u8, imm: i32) -> &'static str {
    let w = size == BPF_W;
    match (imm, w) {
        (0x00, true) => "lock add32",
        (0x00, false) => "lock add",
        (0x01, true) => "lock fetch add32",
        (0x01, false) => "lock fetch add",
        (0x40, true) => "lock or32",
        (0x40, false) => "lock or",
        (0x41, true) => "lock fetch or32",
        (0x41, false) => "lock fetch or",
        (0x50, true) => "lock and32",
        (0x50, false) => "lock and",
        (0x51, true) => "lock fetch and32",
        (0x51, false) => "lock fetch and",
        (0xa0, true) => "lock xor32",
        (0xa0, false) => "lock xor",
        (0xa1, true) => "lock fetch xor32",
        (0xa1, false) => "lock fetch xor",
        (0xe1, true) => "lock xchg32",
        (0xe1, false) => "lock xchg",
        (0xf1, true) => "lock cmpxchg32",
        (0xf1, false) => "lock cmpxchg",
        (0x100, _) => "load-acquire",
        (0x110, _) => "store-release",
        _ => "atomic",
    }
}

/// Every instruction of `prog` rbpf 0.4.1 does not run (or would run differently from the
/// kernel on purpose), with its pc and name, in program order.
pub fn unsupported(prog: &Program) -> Vec<(usize, &'static str)> {
    let insns = prog.insns();
    let mut out = Vec::new();
    let mut pc = 0;
    while pc < insns.len() {
        let i = insns[pc];
        let what = match i.class() {
            BPF_LD if i.code == LD_IMM64 => {
                let w = (i.src != 0).then_some("ld_imm64 with a non-zero src_reg");
                pc += 1;
                w
            }
            BPF_LD if matches!(mode(i.code), BPF_ABS | BPF_IND) => {
                Some("ld_abs/ld_ind (rbpf reads them without the byte swap)")
            }
            BPF_LDX if mode(i.code) == BPF_MEMSX => Some(match size(i.code) {
                BPF_B => "ldxsb (sign-extending load)",
                BPF_H => "ldxsh (sign-extending load)",
                BPF_W => "ldxsw (sign-extending load)",
                _ => "ldxs (sign-extending load)",
            }),
            BPF_STX if mode(i.code) == BPF_ATOMIC => Some(atomic_name(size(i.code), i.imm)),
            BPF_ALU | BPF_ALU64 => match op(i.code) {
                BPF_MOV if i.off != 0 => Some("movsx"),
                BPF_DIV if i.off != 0 => Some("sdiv"),
                BPF_MOD if i.off != 0 => Some("smod"),
                BPF_END if i.class() == BPF_ALU64 => Some("bswap"),
                _ => None,
            },
            BPF_JMP32 if op(i.code) == BPF_JA => Some("gotol (32-bit ja)"),
            BPF_JMP => match op(i.code) {
                BPF_JCOND => Some("may_goto"),
                BPF_CALL if src_kind(i.code) == BPF_X => Some("callx"),
                BPF_CALL if i.src == 0 && i.imm == BPF_FUNC_TAIL_CALL => Some("bpf_tail_call"),
                BPF_CALL if i.src == pseudo::KFUNC_CALL => Some("kfunc call"),
                _ => None,
            },
            _ => None,
        };
        if let Some(w) = what {
            out.push((pc - usize::from(i.code == LD_IMM64), w));
        }
        pc += 1;
    }
    out
}

// ---- the Env bridge ------------------------------------------------------------------------

/// The run's environment and memory, as raw pointers, while rbpf runs.
type Current = (*mut (dyn Env + 'static), *mut Memory);

thread_local! {
    /// Set by [`run`](RbpfEngine::run) for the duration of `execute_program`, `None`
    /// otherwise and while a helper runs (so a nested use cannot alias it).
    static CURRENT: Cell<Option<Current>> = const { Cell::new(None) };
    /// The first helper failure of the run: (helper id, error).
    static FAILED: Cell<Option<(i32, EnvError)>> = const { Cell::new(None) };
}

/// The unwind payload a failed helper stops rbpf with.
struct HelperFailed;

/// Restores the previous [`CURRENT`] when the run ends, also by unwinding.
struct Installed(Option<Current>);

impl Drop for Installed {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0.take()));
    }
}

/// Helper `ID` as rbpf calls it: forwards to the running [`Env::call_helper`].
fn bridge<const ID: i32>(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
    let Some((env, mem)) = CURRENT.with(|c| c.take()) else {
        FAILED.with(|f| f.set(Some((ID, EnvError::UnknownHelper))));
        resume_unwind(Box::new(HelperFailed));
    };
    // SAFETY: `env` and `mem` come from the `&mut dyn Env` and `&mut Memory` that
    // `RbpfEngine::run` holds for the whole of `execute_program` and does not use until it
    // returns (the `Installed` guard clears them before `run` returns, also on unwind).
    // Taking them out of `CURRENT` while the helper runs makes this the only live
    // reference; rbpf's buffer is a separate allocation, so `mem` aliases nothing rbpf
    // touches.
    let result = unsafe { (*env).call_helper(ID, [a, b, c, d, e], &mut *mem) };
    CURRENT.with(|c| c.set(Some((env, mem))));
    match result {
        Ok(v) => v,
        Err(err) => {
            FAILED.with(|f| f.set(Some((ID, err))));
            resume_unwind(Box::new(HelperFailed))
        }
    }
}

macro_rules! row {
    ($r:literal) => {
        [
            bridge::<{ $r * 16 }>,
            bridge::<{ $r * 16 + 1 }>,
            bridge::<{ $r * 16 + 2 }>,
            bridge::<{ $r * 16 + 3 }>,
            bridge::<{ $r * 16 + 4 }>,
            bridge::<{ $r * 16 + 5 }>,
            bridge::<{ $r * 16 + 6 }>,
            bridge::<{ $r * 16 + 7 }>,
            bridge::<{ $r * 16 + 8 }>,
            bridge::<{ $r * 16 + 9 }>,
            bridge::<{ $r * 16 + 10 }>,
            bridge::<{ $r * 16 + 11 }>,
            bridge::<{ $r * 16 + 12 }>,
            bridge::<{ $r * 16 + 13 }>,
            bridge::<{ $r * 16 + 14 }>,
            bridge::<{ $r * 16 + 15 }>,
        ]
    };
}

/// `BRIDGES[r][c]` forwards helper `16 * r + c`.
static BRIDGES: [[rbpf::Helper; 16]; BRIDGED_HELPERS / 16] = [
    row!(0),
    row!(1),
    row!(2),
    row!(3),
    row!(4),
    row!(5),
    row!(6),
    row!(7),
    row!(8),
    row!(9),
    row!(10),
    row!(11),
    row!(12),
    row!(13),
    row!(14),
    row!(15),
];

// ---- running -------------------------------------------------------------------------------

/// `dst = v` as instructions: `mov` when `v` is a sign-extended 32-bit value, else
/// `ld_imm64`.
fn set_reg(out: &mut Vec<Insn>, dst: u8, v: u64) {
    if v as i64 == i64::from(v as i32) {
        out.push(Insn::mov64_imm(dst, v as i32));
    } else {
        out.push(Insn::raw(LD_IMM64, dst, 0, 0, v as u32 as i32));
        out.push(Insn::raw(0, 0, 0, 0, (v >> 32) as u32 as i32));
    }
}

/// The first `call id` (helper) in the program, for errors rbpf reports without a pc.
fn first_call(prog: &Program, id: i32) -> usize {
    prog.insns()
        .iter()
        .position(|i| i.code == BPF_JMP | BPF_CALL && i.src == 0 && i.imm == id)
        .unwrap_or(prog.len())
}

/// The number after `key` in rbpf's message (`insn #12`, `addr 0x1f`, `size 8`, `id: 0x5`).
fn number_after(msg: &str, key: &str) -> Option<u64> {
    let rest = &msg[msg.find(key)? + key.len()..];
    let rest = rest.trim_start();
    let (digits, radix) = match rest.strip_prefix("0x") {
        Some(h) => (h, 16),
        None => (rest, 10),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_hexdigit() || (radix == 10 && !c.is_ascii_digit()))
        .unwrap_or(digits.len());
    u64::from_str_radix(&digits[..end], radix).ok()
}

/// Where the r1 region's bytes sit on the host during a run.
struct Buffer {
    /// Host address of the region's first byte.
    host: u64,
    /// Its virtual base in [`Memory`].
    base: u64,
    len: usize,
}

/// rbpf's error message as a [`VmError`]; `shift` is the prologue's length.
fn map_error(msg: &str, prog: &Program, shift: usize, buf: Option<&Buffer>) -> VmError {
    let pc_of = |n: u64| (n as usize).saturating_sub(shift);
    let named_pc = number_after(msg, "insn #");
    if msg.contains("out of bounds memory") {
        let addr = number_after(msg, "addr ").unwrap_or(0);
        let addr = match buf {
            Some(b) if addr.wrapping_sub(b.host) < (b.len + GUARD) as u64 => {
                b.base.wrapping_add(addr.wrapping_sub(b.host))
            }
            _ => addr,
        };
        return VmError::OutOfBounds {
            // rbpf names the instruction after the faulting one.
            pc: pc_of(named_pc.unwrap_or(0).saturating_sub(1)),
            addr,
            len: number_after(msg, "size ").unwrap_or(0) as usize,
            write: msg.contains("memory store"),
        };
    }
    if msg.contains("unknown helper function")
        && let Some(id) = number_after(msg, "id: ")
    {
        let id = id as u32 as i32;
        return VmError::UnknownHelper {
            pc: first_call(prog, id),
            id,
        };
    }
    VmError::Rbpf {
        pc: named_pc.map_or(prog.len(), pc_of),
        message: msg.to_string(),
    }
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

impl Engine for RbpfEngine {
    fn run(
        &mut self,
        prog: &Program,
        args: [u64; 5],
        mem: &mut Memory,
        env: &mut dyn Env,
    ) -> Result<u64, VmError> {
        if let Some(&(pc, what)) = unsupported(prog).first() {
            return Err(VmError::NotSupportedByRbpf { pc, what });
        }
        mem.reset_frames();

        // The region r1 points into, copied between guard bytes.
        let region: Option<RegionId> = mem
            .regions()
            .find(|(_, r)| {
                let off = args[0].wrapping_sub(r.base);
                off < r.bytes.len() as u64 || (off == 0 && r.bytes.is_empty())
            })
            .map(|(id, _)| id);
        let bytes: &[u8] = region.map_or(&[], |id| &mem.region(id).bytes);
        let n = bytes.len();
        let mut host = vec![GUARD_BYTE; GUARD + n + GUARD];
        host[GUARD..GUARD + n].copy_from_slice(bytes);
        let data = &mut host[GUARD..GUARD + n];
        let host_addr = data.as_ptr() as u64;
        let buf = region.map(|id| Buffer {
            host: host_addr,
            base: mem.region(id).base,
            len: n,
        });

        // The prologue: what rbpf does not set itself.
        let mut code = Vec::new();
        let r1 = match &buf {
            Some(b) => b.host.wrapping_add(args[0].wrapping_sub(b.base)),
            None => args[0],
        };
        let rbpf_r1 = if n > 0 { host_addr } else { 0 };
        if r1 != rbpf_r1 {
            set_reg(&mut code, 1, r1);
        }
        for (r, &v) in (2u8..=5).zip(&args[1..]) {
            if v != 0 {
                set_reg(&mut code, r, v);
            }
        }
        let shift = code.len();
        code.extend_from_slice(prog.insns());
        let bytes = encode(&code);

        let mut vm = match rbpf::EbpfVmRaw::new(Some(&bytes)) {
            Ok(vm) => vm,
            Err(e) => return Err(map_error(&e.to_string(), prog, shift, buf.as_ref())),
        };
        let mut ids: Vec<i32> = prog
            .insns()
            .iter()
            .filter(|i| i.code == BPF_JMP | BPF_CALL && i.src == 0)
            .map(|i| i.imm)
            .filter(|&id| (0..BRIDGED_HELPERS as i32).contains(&id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let f = BRIDGES[id as usize / 16][id as usize % 16];
            if let Err(e) = vm.register_helper(id as u32, f) {
                return Err(map_error(&e.to_string(), prog, shift, buf.as_ref()));
            }
        }

        // SAFETY (of the lifetime erasure): the pointer is only dereferenced by `bridge`
        // while `execute_program` runs, inside this call, where `env` is alive and unused;
        // `_installed` clears it before this function returns.
        let env_ptr: *mut (dyn Env + 'static) =
            unsafe { std::mem::transmute::<*mut (dyn Env + '_), *mut (dyn Env + 'static)>(env) };
        FAILED.with(|f| f.set(None));
        let outcome = {
            let _installed = Installed(CURRENT.with(|c| c.replace(Some((env_ptr, mem)))));
            catch_unwind(AssertUnwindSafe(|| vm.execute_program(data)))
        };
        drop(vm);

        let guards_intact = host[..GUARD]
            .iter()
            .chain(&host[GUARD + n..])
            .all(|&b| b == GUARD_BYTE);
        if let Some(id) = region {
            mem.bytes_mut(id).copy_from_slice(&host[GUARD..GUARD + n]);
        }
        if !guards_intact {
            return Err(VmError::Rbpf {
                pc: prog.len(),
                message: "wrote outside its memory buffer (guard bytes changed)".to_string(),
            });
        }
        match outcome {
            Ok(Ok(r0)) => Ok(r0),
            Ok(Err(e)) => Err(map_error(&e.to_string(), prog, shift, buf.as_ref())),
            Err(payload) if payload.is::<HelperFailed>() => {
                let (id, error) = FAILED
                    .with(|f| f.take())
                    .unwrap_or((-1, EnvError::Other("helper failed")));
                let pc = first_call(prog, id);
                Err(match error {
                    EnvError::UnknownHelper => VmError::UnknownHelper { pc, id },
                    EnvError::Fault(f) => VmError::mem(pc, f),
                    error => VmError::Env { pc, error },
                })
            }
            Err(payload) => Err(VmError::Rbpf {
                pc: prog.len(),
                message: format!("panicked: {}", panic_message(&*payload)),
            }),
        }
    }
}

// ---- cross-check ---------------------------------------------------------------------------

/// What [`cross_check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrossCheck {
    /// rbpf does not run the program; `ours` is our interpreter's result.
    NotSupportedByRbpf {
        /// The first instruction rbpf does not run.
        pc: usize,
        /// What it is.
        what: &'static str,
        /// Our interpreter's result.
        ours: Result<u64, VmError>,
    },
    /// Same r0 (or the same kind of error) and the same bytes in every region.
    Agree(Result<u64, VmError>),
    /// A different r0 or error kind, or different region bytes.
    Differ {
        /// Our interpreter's result.
        ours: Result<u64, VmError>,
        /// rbpf's.
        rbpf: Result<u64, VmError>,
        /// The regions whose bytes differ afterwards.
        regions: Vec<RegionId>,
    },
}

/// Runs `prog` on our [`Interpreter`] and on rbpf, each on its own copy of `mem`, and
/// compares r0 (or the error's kind: pcs and addresses may differ, rbpf's addresses are
/// host addresses) and every region's bytes afterwards. `env` serves both runs, ours first.
pub fn cross_check(prog: &Program, args: [u64; 5], mem: &Memory, env: &mut dyn Env) -> CrossCheck {
    let mut ours_mem = mem.clone();
    let ours = Interpreter::new().run(prog, args, &mut ours_mem, env);
    let mut rbpf_mem = mem.clone();
    let rbpf = RbpfEngine.run(prog, args, &mut rbpf_mem, env);
    if let Err(VmError::NotSupportedByRbpf { pc, what }) = rbpf {
        return CrossCheck::NotSupportedByRbpf { pc, what, ours };
    }
    let regions: Vec<RegionId> = ours_mem
        .regions()
        .zip(rbpf_mem.regions())
        .filter(|((_, a), (_, b))| a.bytes != b.bytes)
        .map(|((id, _), _)| id)
        .collect();
    let same_result = match (&ours, &rbpf) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => std::mem::discriminant(a) == std::mem::discriminant(b),
        _ => false,
    };
    if same_result && regions.is_empty() {
        CrossCheck::Agree(ours)
    } else {
        CrossCheck::Differ {
            ours,
            rbpf,
            regions,
        }
    }
}

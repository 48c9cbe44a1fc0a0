//! The instruction-level passes `BPF_PROG_LOAD` runs before the verifier's semantic walk
//! (`kernel/bpf/verifier.c bpf_check`, Linux 6.18), in the kernel's order:
//!
//! 1. [`check_subprogs`]: `add_subprog_and_kfunc` + `check_subprogs` — subprogram
//!    boundaries, jumps stay inside their subprogram, each subprogram ends in `exit`/`ja`.
//! 2. (BTF info, then the program tag: `super::tag`.)
//! 3. [`check_ldimm64_and_opcodes`]: the structural loop of `resolve_pseudo_ldimm64` —
//!    `ld_imm64` pairs, `BPF_LDX` reserved fields, the opcode whitelist; map references are
//!    handed to a caller-supplied resolver.
//! 4. [`check_cfg`]: `check_cfg` — depth-first walk from insn 0: jump targets in range, no
//!    jump into the middle of an `ld_imm64`, no back-edges without `CAP_BPF`, no unreachable
//!    instruction.
//!
//! Every error is `EINVAL` (except `E2BIG` for too many subprograms and whatever the
//! `ld_imm64` resolver returns) with the verifier-log line in [`CheckError::msg`].
//!
//! Not modeled here (rejected later, by `do_check`, and only on reachable instructions):
//! the reserved-field checks of the other classes ("BPF_ALU uses reserved fields",
//! "BPF_STX uses reserved fields", "BPF_ST uses reserved fields", "BPF_JA uses reserved
//! fields", "BPF_EXIT uses reserved fields", "BPF_CALL uses reserved fields",
//! "BPF_LD_[ABS|IND] uses reserved fields", "invalid BPF_LD_IMM insn", "invalid may_goto
//! imm"). Nothing here needs kernel BTF: the model has none, so kfunc calls and
//! `BPF_PSEUDO_BTF_ID` loads are rejected (see the functions for the exact errno), and the
//! BTF-declared exception callback (`bpf_find_exception_callback_insn_off`) never exists.
//!
//! All passes are linear in the number of instructions, iterative (programs may have
//! 1,000,000 instructions), and total: any instruction bytes give `Ok` or a `CheckError`.

use std::fmt;

use super::insn::*;
use super::opcodes::opcode_in_insntable;
use crate::errno::Errno;
use crate::uapi::pseudo;

/// `BPF_MAX_SUBPROGS` (`include/linux/bpf_verifier.h`): the most subprograms, main program
/// included, one program may have.
pub const BPF_MAX_SUBPROGS: usize = 256;

/// A rejected program: the errno `bpf(BPF_PROG_LOAD)` returns, the instruction the verifier
/// blamed, and the line it printed to the log (without the trailing newline).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CheckError {
    /// The errno the syscall returns.
    pub errno: Errno,
    /// Index of the instruction the error is about.
    pub insn: usize,
    /// The verifier-log line, worded as the kernel words it.
    pub msg: String,
}

impl CheckError {
    /// An `EINVAL` rejection, the verifier's usual errno for a malformed program.
    pub fn einval(insn: usize, msg: impl Into<String>) -> CheckError {
        CheckError {
            errno: Errno::EINVAL,
            insn,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: insn {}: {}", self.errno, self.insn, self.msg)
    }
}

impl std::error::Error for CheckError {}

/// `i + delta + 1` as the kernel computes it in `int`: the value for range checks (exact,
/// in `i64`) and the value it prints with `%d` (wrapped to 32 bits, as the C addition does).
fn target(i: usize, delta: i32) -> (i64, i32) {
    let exact = (i as i64)
        .saturating_add(i64::from(delta))
        .saturating_add(1);
    (exact, exact as i32)
}

/// Whether `t` is a valid instruction index of a program of `len` instructions.
fn in_range(t: i64, len: usize) -> Option<usize> {
    usize::try_from(t).ok().filter(|&t| t < len)
}

/// `bpf_pseudo_call()`: a bpf-to-bpf call (`JMP|CALL`, `src_reg = BPF_PSEUDO_CALL`).
fn is_pseudo_call(insn: &Insn) -> bool {
    insn.code == BPF_JMP | BPF_CALL && insn.src == pseudo::CALL
}

/// `bpf_pseudo_kfunc_call()`: a kfunc call (`JMP|CALL`, `src_reg = BPF_PSEUDO_KFUNC_CALL`).
fn is_kfunc_call(insn: &Insn) -> bool {
    insn.code == BPF_JMP | BPF_CALL && insn.src == pseudo::KFUNC_CALL
}

/// `bpf_pseudo_func()`: an `ld_imm64` of a callback address (`src_reg = BPF_PSEUDO_FUNC`).
fn is_pseudo_func(insn: &Insn) -> bool {
    insn.code == LD_IMM64 && insn.src == pseudo::FUNC
}

/// `kernel/bpf/verifier.c add_subprog`: records a subprogram start, keeping the list sorted
/// and duplicate-free.
fn add_subprog(
    starts: &mut Vec<usize>,
    at: usize,
    target: (i64, i32),
    len: usize,
) -> Result<(), CheckError> {
    let Some(off) = in_range(target.0, len) else {
        return Err(CheckError::einval(at, "call to invalid destination"));
    };
    if let Err(pos) = starts.binary_search(&off) {
        if starts.len() >= BPF_MAX_SUBPROGS {
            return Err(CheckError {
                errno: Errno::E2BIG,
                insn: at,
                msg: "too many subprograms".into(),
            });
        }
        starts.insert(pos, off);
    }
    Ok(())
}

/// Finds the subprograms and checks their boundaries: `kernel/bpf/verifier.c
/// add_subprog_and_kfunc` followed by `check_subprogs`, assuming a `bpf_capable()` caller
/// (see [`check_subprogs_caps`] for the unprivileged `EPERM`).
///
/// Subprograms start at 0 and at the target `i + imm + 1` of every `BPF_PSEUDO_CALL` call and
/// `BPF_PSEUDO_FUNC` `ld_imm64`; a target outside the program is `EINVAL` ("call to invalid
/// destination"), the 257th distinct start is `E2BIG` ("too many subprograms"). A kfunc call
/// is `EINVAL` ("kernel btf_id %u is not a function"): the model has no kernel BTF, so no id
/// names a kfunc — what a real kernel answers for an id that is not one (it also rejects
/// module kfuncs, `off != 0`, with other errnos, `EPROTO` without `fd_array`; not modeled).
///
/// Then, in instruction order, every `JMP`/`JMP32`-class instruction other than `CALL` and
/// `EXIT` must jump (`i + off + 1`; `JMP32|JA` uses `imm`) inside its own subprogram, else
/// `EINVAL` "jump out of range from insn %d to %d"; and the last instruction of each
/// subprogram must be `JMP|EXIT`, `JMP|JA` or `JMP32|JA`, else `EINVAL` "last insn is not an
/// exit or jmp". Opcodes are not validated yet (that is [`check_ldimm64_and_opcodes`]), so a
/// bogus jump-class code is range-checked like a jump, as in the kernel.
///
/// Returns the sorted subprogram starts, `0` first. An empty program is `EINVAL` ("call to
/// invalid destination", from adding the main program); `bpf_prog_load` rejects it earlier
/// with `E2BIG`.
pub fn check_subprogs(insns: &[Insn]) -> Result<Vec<usize>, CheckError> {
    let len = insns.len();
    let mut starts = Vec::new();
    add_subprog(&mut starts, 0, (0, 0), len)?;
    for (i, insn) in insns.iter().enumerate() {
        if is_pseudo_func(insn) || is_pseudo_call(insn) {
            add_subprog(&mut starts, i, target(i, insn.imm), len)?;
        } else if is_kfunc_call(insn) {
            let msg = format!("kernel btf_id {} is not a function", insn.imm as u32);
            return Err(CheckError::einval(i, msg));
        }
    }

    let mut cur = 0;
    let mut start = starts[0];
    let mut end = starts.get(1).copied().unwrap_or(len);
    for (i, insn) in insns.iter().enumerate() {
        let code = insn.code;
        let cls = class(code);
        let is_jump =
            (cls == BPF_JMP || cls == BPF_JMP32) && op(code) != BPF_EXIT && op(code) != BPF_CALL;
        if is_jump {
            let delta = if code == BPF_JMP32 | BPF_JA {
                insn.imm
            } else {
                i32::from(insn.off)
            };
            let (t, shown) = target(i, delta);
            if t < start as i64 || t >= end as i64 {
                return Err(CheckError::einval(
                    i,
                    format!("jump out of range from insn {i} to {shown}"),
                ));
            }
        }
        if i + 1 == end {
            // No fall-through from one subprogram into the next.
            if code != BPF_JMP | BPF_EXIT && code != BPF_JMP32 | BPF_JA && code != BPF_JMP | BPF_JA
            {
                return Err(CheckError::einval(i, "last insn is not an exit or jmp"));
            }
            cur += 1;
            start = end;
            end = starts.get(cur + 1).copied().unwrap_or(len);
        }
    }
    Ok(starts)
}

/// [`check_subprogs`] for a caller with or without `bpf_capable()`: `add_subprog_and_kfunc`
/// rejects the first `BPF_PSEUDO_CALL`, `BPF_PSEUDO_KFUNC_CALL` or `BPF_PSEUDO_FUNC`
/// instruction of an unprivileged program with `EPERM` ("loading/calling other bpf or kernel
/// functions are allowed for CAP_BPF and CAP_SYS_ADMIN") before looking at its target.
pub fn check_subprogs_caps(insns: &[Insn], bpf_capable: bool) -> Result<Vec<usize>, CheckError> {
    if !bpf_capable {
        let first = insns
            .iter()
            .position(|i| is_pseudo_func(i) || is_pseudo_call(i) || is_kfunc_call(i));
        if let Some(i) = first {
            return Err(CheckError {
                errno: Errno::EPERM,
                insn: i,
                msg: "loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN".into(),
            });
        }
    }
    check_subprogs(insns)
}

/// The structural loop of `kernel/bpf/verifier.c resolve_pseudo_ldimm64` (6.18; renamed
/// `check_and_resolve_insns` in bpf-next), without the tag computation that precedes it.
///
/// In instruction order:
/// * `BPF_LDX` whose mode is not `MEM`/`MEMSX`, or with `imm != 0`: `EINVAL` "BPF_LDX uses
///   reserved fields" (checked before the opcode whitelist, so it wins for e.g. `LDX|ABS`);
/// * `ld_imm64` (`0x18`) that is the last instruction, or whose next instruction has a
///   non-zero `code`, `dst_reg`, `src_reg` or `off`: `EINVAL` "invalid bpf_ld_imm64 insn";
///   then by `src_reg`: `0` plain constant, `BPF_PSEUDO_FUNC` (4) accepted as is;
///   `BPF_PSEUDO_BTF_ID` (3) `EINVAL` — the kernel resolves it against vmlinux/module BTF
///   (`check_pseudo_btf_id`; `ENOENT` for an id beyond the BTF, `EINVAL` for one that is not a
///   `VAR`/`FUNC`), and the model has no BTF; `BPF_PSEUDO_MAP_FD` (1) and
///   `BPF_PSEUDO_MAP_IDX` (5) need the second half's `imm == 0`, `BPF_PSEUDO_MAP_VALUE` (2) and
///   `BPF_PSEUDO_MAP_IDX_VALUE` (6) take any, and any other `src_reg` is `EINVAL`
///   "unrecognized bpf_ld_imm64 insn". For 1, 2, 5 and 6 `on_ldimm64(i, &insns[i],
///   &insns[i + 1])` runs — the caller resolves the map (`EBADF`, `EINVAL`, `EPROTO`, `E2BIG`
///   … are its to return). The second half is then skipped;
/// * any other instruction whose code `opcode_in_insntable` rejects: `EINVAL` "unknown
///   opcode %02x".
pub fn check_ldimm64_and_opcodes(
    insns: &[Insn],
    on_ldimm64: &mut dyn FnMut(usize, &Insn, &Insn) -> Result<(), CheckError>,
) -> Result<(), CheckError> {
    let mut i = 0;
    while i < insns.len() {
        let insn = &insns[i];
        if insn.class() == BPF_LDX
            && ((mode(insn.code) != BPF_MEM && mode(insn.code) != BPF_MEMSX) || insn.imm != 0)
        {
            return Err(CheckError::einval(i, "BPF_LDX uses reserved fields"));
        }
        if insn.is_ldimm64() {
            let next = match insns.get(i + 1) {
                Some(n) if n.code == 0 && n.dst == 0 && n.src == 0 && n.off == 0 => n,
                _ => return Err(CheckError::einval(i, "invalid bpf_ld_imm64 insn")),
            };
            match insn.src {
                0 | pseudo::FUNC => {}
                pseudo::BTF_ID => {
                    let msg = format!(
                        "pseudo btf_id {} in ldimm64 isn't KIND_VAR or KIND_FUNC",
                        insn.imm
                    );
                    return Err(CheckError::einval(i, msg));
                }
                pseudo::MAP_FD | pseudo::MAP_IDX if next.imm == 0 => on_ldimm64(i, insn, next)?,
                pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE => on_ldimm64(i, insn, next)?,
                _ => return Err(CheckError::einval(i, "unrecognized bpf_ld_imm64 insn")),
            }
            i += 2;
            continue;
        }
        if !opcode_in_insntable(insn.code) {
            return Err(CheckError::einval(
                i,
                format!("unknown opcode {:02x}", insn.code),
            ));
        }
        i += 1;
    }
    Ok(())
}

// `insn_state` values of `check_cfg`, as in verifier.c.
const DISCOVERED: u8 = 0x10;
const EXPLORED: u8 = 0x20;
const FALLTHROUGH: u8 = 1;
const BRANCH: u8 = 2;

/// What `push_insn`/`visit_insn` tell the walk loop (the kernel's `DONE_EXPLORING` /
/// `KEEP_EXPLORING`).
#[derive(PartialEq, Eq)]
enum Walk {
    Done,
    Keep,
}

/// The depth-first walk of `check_cfg`: `insn_state` per instruction and the explicit stack.
struct Cfg<'a> {
    insns: &'a [Insn],
    state: Vec<u8>,
    stack: Vec<usize>,
    allow_back_edges: bool,
}

impl Cfg<'_> {
    /// `kernel/bpf/verifier.c push_insn`: follow edge `e` from `t` to `w`.
    fn push(&mut self, t: usize, w: (i64, i32), e: u8) -> Result<Walk, CheckError> {
        if self.state[t] >= DISCOVERED | e {
            return Ok(Walk::Done);
        }
        let Some(w_idx) = in_range(w.0, self.insns.len()) else {
            return Err(CheckError::einval(
                t,
                format!("jump out of range from insn {t} to {}", w.1),
            ));
        };
        let ws = self.state[w_idx];
        if ws == 0 {
            // Tree edge.
            self.state[t] = DISCOVERED | e;
            self.state[w_idx] = DISCOVERED;
            self.stack.push(w_idx);
            Ok(Walk::Keep)
        } else if ws & 0xf0 == DISCOVERED {
            if self.allow_back_edges {
                return Ok(Walk::Done);
            }
            Err(CheckError::einval(
                t,
                format!("back-edge from insn {t} to {w_idx}"),
            ))
        } else {
            // Forward or cross edge into an explored instruction.
            self.state[t] = DISCOVERED | e;
            Ok(Walk::Done)
        }
    }

    /// `kernel/bpf/verifier.c visit_func_call_insn`: the fall-through edge past a call (or a
    /// `BPF_PSEUDO_FUNC` `ld_imm64`), then, for bpf-to-bpf calls and callbacks, the edge
    /// into the callee.
    fn visit_call(&mut self, t: usize, visit_callee: bool) -> Result<Walk, CheckError> {
        let insn = self.insns[t];
        let size = if insn.is_ldimm64() { 2 } else { 1 };
        let r = self.push(t, target(t, size - 1), FALLTHROUGH)?;
        if r == Walk::Keep || !visit_callee {
            return Ok(r);
        }
        self.push(t, target(t, insn.imm), BRANCH)
    }

    /// `kernel/bpf/verifier.c visit_insn`: the out-edges of instruction `t`.
    fn visit(&mut self, t: usize) -> Result<Walk, CheckError> {
        let insn = self.insns[t];
        if is_pseudo_func(&insn) {
            return self.visit_call(t, true);
        }
        let cls = insn.class();
        if cls != BPF_JMP && cls != BPF_JMP32 {
            let size = if insn.is_ldimm64() { 2 } else { 1 };
            return self.push(t, target(t, size - 1), FALLTHROUGH);
        }
        match op(insn.code) {
            BPF_EXIT => Ok(Walk::Done),
            // Helper calls (the tail call included) only fall through; kfunc calls too.
            BPF_CALL => self.visit_call(t, insn.src == pseudo::CALL),
            BPF_JA => {
                if src_kind(insn.code) != BPF_K {
                    // `gotox` is 6.19; 6.18 returns -EINVAL here without a log line
                    // (unreachable after the opcode whitelist).
                    return Err(CheckError::einval(t, ""));
                }
                let delta = if cls == BPF_JMP {
                    i32::from(insn.off)
                } else {
                    insn.imm
                };
                self.push(t, target(t, delta), FALLTHROUGH)
            }
            _ => {
                let r = self.push(t, target(t, 0), FALLTHROUGH)?;
                if r == Walk::Keep {
                    return Ok(r);
                }
                self.push(t, target(t, i32::from(insn.off)), BRANCH)
            }
        }
    }
}

/// `kernel/bpf/verifier.c check_cfg`: an iterative depth-first walk of the control-flow
/// graph from instruction 0, then a scan for instructions the walk never finished.
///
/// Edges: fall-through (`i + 2` after an `ld_imm64`); `JA` to its target (`JMP32|JA` by
/// `imm`); conditional jumps to `i + 1` and `i + off + 1`; `EXIT` none; calls to `i + 1`,
/// plus the callee entry `i + imm + 1` for `BPF_PSEUDO_CALL` calls and `BPF_PSEUDO_FUNC`
/// loads (helper calls, `bpf_tail_call` included, and kfunc calls only fall through). So
/// subprograms are reached through the calls that created them, exactly as in the kernel;
/// a subprogram only referenced from dead code is unreachable. `subprogs` (from
/// [`check_subprogs`]) is not needed for that: the kernel's only other root, the
/// BTF-declared exception callback, does not exist in the model. It is taken so the call
/// site reads like the kernel's pipeline, and ignored.
///
/// Errors, all `EINVAL`, in the order the kernel finds them: "jump out of range from insn
/// %d to %d" when an edge leaves the program (found during the walk); "back-edge from insn %d
/// to %d" for an edge to an instruction still on the DFS stack unless `allow_back_edges`
/// (the kernel allows them when `bpf_capable()`); then, scanning in order, "unreachable insn
/// %d" and "jump into the middle of ldimm64 insn %d" (blaming the `ld_imm64`'s first half;
/// second halves are not themselves checked for reachability). An empty program passes.
pub fn check_cfg(
    insns: &[Insn],
    subprogs: &[usize],
    allow_back_edges: bool,
) -> Result<(), CheckError> {
    let _ = subprogs;
    let len = insns.len();
    if len == 0 {
        return Ok(());
    }
    let mut cfg = Cfg {
        insns,
        state: vec![0; len],
        stack: Vec::new(),
        allow_back_edges,
    };
    cfg.state[0] = DISCOVERED;
    cfg.stack.push(0);
    while let Some(&t) = cfg.stack.last() {
        if cfg.visit(t)? == Walk::Done {
            cfg.state[t] = EXPLORED;
            cfg.stack.pop();
        }
    }

    let mut i = 0;
    while i < len {
        if cfg.state[i] != EXPLORED {
            return Err(CheckError::einval(i, format!("unreachable insn {i}")));
        }
        if insns[i].is_ldimm64() {
            if cfg.state.get(i + 1).is_some_and(|&s| s != 0) {
                return Err(CheckError::einval(
                    i,
                    format!("jump into the middle of ldimm64 insn {i}"),
                ));
            }
            i += 1;
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "check_random_tests.rs"]
mod random_tests;

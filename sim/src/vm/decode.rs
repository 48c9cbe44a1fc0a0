//! The pre-decoded form of a program, made once per [`Program`](super::Program) and cached in
//! it: one [`Op`] per instruction slot, with registers checked, immediates sign-extended (or
//! masked, for shifts), jump targets made absolute and checked against the program, and the
//! length of the straight-line run that starts at each slot (what the interpreter charges to
//! the instruction budget at once).
//!
//! The decoder never reports an error. A slot becomes a fast [`Op`] only when the reference
//! path ([`Run::step`](super::interp)) would run it without any error that depends on the
//! instruction alone (opcode, reserved fields, registers, `off`/`imm` variants, division by
//! an immediate zero, jump target); everything else, valid or not, becomes [`Op::Slow`] or
//! [`Op::SlowStraight`], which the interpreter hands to that reference path when (and if) the
//! run reaches it. So a bad instruction is still reported at its own pc, only when reached,
//! with the same error as before.

use super::fields::check_reserved;
use crate::prog::Insn;
use crate::prog::insn::*;
use crate::prog::opcodes::opcode_in_insntable;

/// `bpf_tail_call`'s helper id: that call goes through the reference path.
const BPF_FUNC_TAIL_CALL: i32 = 12;

/// One pre-decoded instruction slot.
///
/// Register fields are at most 10 (9 for a written register); jump targets `t` are slots of
/// the same program. `K` variants take an immediate, `X` variants a source register; `64` and
/// `32` are the ALU / JMP class widths. 32-bit immediates are stored as the kernel's runtime
/// uses them: `imm as u32` for ALU32, `imm as i64 as u64` for ALU64 and for jumps (a JMP32
/// compare uses the low half of that, which is `imm as u32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the variants are named after the instructions they run
pub(super) enum Op {
    Add64K {
        d: u8,
        k: u64,
    },
    Sub64K {
        d: u8,
        k: u64,
    },
    Mul64K {
        d: u8,
        k: u64,
    },
    /// `k != 0`.
    Div64K {
        d: u8,
        k: u64,
    },
    /// `k != 0`.
    Mod64K {
        d: u8,
        k: u64,
    },
    Or64K {
        d: u8,
        k: u64,
    },
    And64K {
        d: u8,
        k: u64,
    },
    Xor64K {
        d: u8,
        k: u64,
    },
    /// `k` already masked to 63.
    Lsh64K {
        d: u8,
        k: u32,
    },
    Rsh64K {
        d: u8,
        k: u32,
    },
    Arsh64K {
        d: u8,
        k: u32,
    },
    Mov64K {
        d: u8,
        k: u64,
    },
    Add64X {
        d: u8,
        s: u8,
    },
    Sub64X {
        d: u8,
        s: u8,
    },
    Mul64X {
        d: u8,
        s: u8,
    },
    Div64X {
        d: u8,
        s: u8,
    },
    Mod64X {
        d: u8,
        s: u8,
    },
    Or64X {
        d: u8,
        s: u8,
    },
    And64X {
        d: u8,
        s: u8,
    },
    Xor64X {
        d: u8,
        s: u8,
    },
    Lsh64X {
        d: u8,
        s: u8,
    },
    Rsh64X {
        d: u8,
        s: u8,
    },
    Arsh64X {
        d: u8,
        s: u8,
    },
    Mov64X {
        d: u8,
        s: u8,
    },
    Neg64 {
        d: u8,
    },
    Add32K {
        d: u8,
        k: u32,
    },
    Sub32K {
        d: u8,
        k: u32,
    },
    Mul32K {
        d: u8,
        k: u32,
    },
    /// `k != 0`.
    Div32K {
        d: u8,
        k: u32,
    },
    /// `k != 0`.
    Mod32K {
        d: u8,
        k: u32,
    },
    Or32K {
        d: u8,
        k: u32,
    },
    And32K {
        d: u8,
        k: u32,
    },
    Xor32K {
        d: u8,
        k: u32,
    },
    /// `k` already masked to 31.
    Lsh32K {
        d: u8,
        k: u32,
    },
    Rsh32K {
        d: u8,
        k: u32,
    },
    Arsh32K {
        d: u8,
        k: u32,
    },
    Mov32K {
        d: u8,
        k: u32,
    },
    Add32X {
        d: u8,
        s: u8,
    },
    Sub32X {
        d: u8,
        s: u8,
    },
    Mul32X {
        d: u8,
        s: u8,
    },
    Div32X {
        d: u8,
        s: u8,
    },
    Mod32X {
        d: u8,
        s: u8,
    },
    Or32X {
        d: u8,
        s: u8,
    },
    And32X {
        d: u8,
        s: u8,
    },
    Xor32X {
        d: u8,
        s: u8,
    },
    Lsh32X {
        d: u8,
        s: u8,
    },
    Rsh32X {
        d: u8,
        s: u8,
    },
    Arsh32X {
        d: u8,
        s: u8,
    },
    Mov32X {
        d: u8,
        s: u8,
    },
    Neg32 {
        d: u8,
    },
    /// Any other valid ALU64 instruction (`sdiv`, `smod`, `movsx`) with an immediate, through
    /// [`alu64`](super::alu::alu64).
    Alu64K {
        op: u8,
        d: u8,
        off: i16,
        k: u64,
    },
    /// The same with a source register.
    Alu64X {
        op: u8,
        d: u8,
        s: u8,
        off: i16,
    },
    /// Any other valid ALU32 instruction, through [`alu32`](super::alu::alu32).
    Alu32K {
        op: u8,
        d: u8,
        off: i16,
        k: u32,
    },
    /// The same with a source register.
    Alu32X {
        op: u8,
        d: u8,
        s: u8,
        off: i16,
    },
    /// `le`/`be`/`bswap` of `bits` (16, 32, 64); `swap` for `be` and ALU64's `bswap`.
    Swap {
        d: u8,
        bits: u8,
        swap: bool,
    },
    LdxB {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxH {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxW {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxDW {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxSB {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxSH {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxSW {
        d: u8,
        s: u8,
        off: i16,
    },
    StB {
        d: u8,
        off: i16,
        k: u64,
    },
    StH {
        d: u8,
        off: i16,
        k: u64,
    },
    StW {
        d: u8,
        off: i16,
        k: u64,
    },
    StDW {
        d: u8,
        off: i16,
        k: u64,
    },
    StxB {
        d: u8,
        s: u8,
        off: i16,
    },
    StxH {
        d: u8,
        s: u8,
        off: i16,
    },
    StxW {
        d: u8,
        s: u8,
        off: i16,
    },
    StxDW {
        d: u8,
        s: u8,
        off: i16,
    },
    /// `ld_imm64` of a constant (src_reg 0); takes two slots.
    LdImm64 {
        d: u8,
        k: u64,
    },
    Ja {
        t: u32,
    },
    Jeq64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jne64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jgt64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jge64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jlt64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jle64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jset64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jsgt64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jsge64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jslt64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jsle64K {
        d: u8,
        k: u64,
        t: u32,
    },
    Jeq64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jne64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jgt64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jge64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jlt64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jle64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jset64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsgt64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsge64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jslt64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsle64X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jeq32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jne32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jgt32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jge32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jlt32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jle32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jset32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jsgt32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jsge32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jslt32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jsle32K {
        d: u8,
        k: u32,
        t: u32,
    },
    Jeq32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jne32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jgt32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jge32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jlt32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jle32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jset32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsgt32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsge32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jslt32X {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsle32X {
        d: u8,
        s: u8,
        t: u32,
    },
    // Two instructions fused (the op of the second slot stays as it is, for jumps to it):
    // `Mov<bin>K`: `d = s` then `d = d bin k` (`k` sign-extended; masked for shifts);
    // `Mov<bin>X`: `d = s` then `d = d bin s2`; `AddJ<cond>K`: `d += add` then
    // `if d cond k goto t` (64-bit, both immediates sign-extended), a loop counter's step and
    // test; `AddJ<cond>X`: the same against register `s`.
    MovAddK {
        d: u8,
        s: u8,
        k: i32,
    },
    MovSubK {
        d: u8,
        s: u8,
        k: i32,
    },
    MovMulK {
        d: u8,
        s: u8,
        k: i32,
    },
    MovOrK {
        d: u8,
        s: u8,
        k: i32,
    },
    MovAndK {
        d: u8,
        s: u8,
        k: i32,
    },
    MovXorK {
        d: u8,
        s: u8,
        k: i32,
    },
    MovLshK {
        d: u8,
        s: u8,
        k: i32,
    },
    MovRshK {
        d: u8,
        s: u8,
        k: i32,
    },
    MovArshK {
        d: u8,
        s: u8,
        k: i32,
    },
    MovAddX {
        d: u8,
        s: u8,
        s2: u8,
    },
    MovSubX {
        d: u8,
        s: u8,
        s2: u8,
    },
    MovMulX {
        d: u8,
        s: u8,
        s2: u8,
    },
    MovOrX {
        d: u8,
        s: u8,
        s2: u8,
    },
    MovAndX {
        d: u8,
        s: u8,
        s2: u8,
    },
    MovXorX {
        d: u8,
        s: u8,
        s2: u8,
    },
    MovLshX {
        d: u8,
        s: u8,
        s2: u8,
    },
    MovRshX {
        d: u8,
        s: u8,
        s2: u8,
    },
    MovArshX {
        d: u8,
        s: u8,
        s2: u8,
    },
    AddJEqK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJNeK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJGtK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJGeK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJLtK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJLeK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJSetK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJSgtK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJSgeK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJSltK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJSleK {
        d: u8,
        add: i32,
        k: i32,
        t: u32,
    },
    AddJEqX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJNeX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJGtX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJGeX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJLtX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJLeX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJSetX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJSgtX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJSgeX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJSltX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    AddJSleX {
        d: u8,
        s: u8,
        add: i32,
        t: u32,
    },
    /// `call id`, a helper (src_reg 0, not `bpf_tail_call`).
    Helper {
        id: i32,
    },
    Exit,
    /// Run by the reference path; may change the pc or end the run (calls, `may_goto`,
    /// `LD_ABS`, jumps with a bad target, invalid JMP-class instructions).
    Slow,
    /// Run by the reference path; never changes the pc except to the next instruction (one
    /// slot, two for an `ld_imm64`) or by an error (atomics, `ld_imm64` of a map, invalid
    /// ALU / load / store instructions).
    SlowStraight,
    /// One past the last slot: the run fell off the end.
    End,
}

/// The ALU64 operation of a fused `Mov<bin>K` / `Mov<bin>X` op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub(super) enum Bin {
    Add,
    Sub,
    Mul,
    Or,
    And,
    Xor,
    Lsh,
    Rsh,
    Arsh,
}

impl Bin {
    /// `a bin b` with ALU64 semantics (shift amounts masked to 63).
    #[inline(always)]
    pub(super) fn apply(self, a: u64, b: u64) -> u64 {
        match self {
            Bin::Add => a.wrapping_add(b),
            Bin::Sub => a.wrapping_sub(b),
            Bin::Mul => a.wrapping_mul(b),
            Bin::Or => a | b,
            Bin::And => a & b,
            Bin::Xor => a ^ b,
            Bin::Lsh => a.wrapping_shl(b as u32),
            Bin::Rsh => a.wrapping_shr(b as u32),
            Bin::Arsh => (a as i64).wrapping_shr(b as u32) as u64,
        }
    }
}

/// The condition of a fused `AddJ<cond>K` / `AddJ<cond>X` op (a 64-bit compare).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub(super) enum Cond {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Set,
    Sgt,
    Sge,
    Slt,
    Sle,
}

impl Cond {
    /// Whether the jump is taken for `a` (dst) and `b` (src or immediate).
    #[inline(always)]
    pub(super) fn test(self, a: u64, b: u64) -> bool {
        let (sa, sb) = (a as i64, b as i64);
        match self {
            Cond::Eq => a == b,
            Cond::Ne => a != b,
            Cond::Gt => a > b,
            Cond::Ge => a >= b,
            Cond::Lt => a < b,
            Cond::Le => a <= b,
            Cond::Set => a & b != 0,
            Cond::Sgt => sa > sb,
            Cond::Sge => sa >= sb,
            Cond::Slt => sa < sb,
            Cond::Sle => sa <= sb,
        }
    }
}

impl Op {
    /// Instruction slots the op covers when it does not jump.
    fn width(self) -> usize {
        match self {
            Op::LdImm64 { .. } => 2,
            op if op.fused() => 2,
            _ => 1,
        }
    }

    /// Instructions the op executes (fused ops: two).
    pub(super) fn insns(self) -> u64 {
        match self {
            op if op.fused() => 2,
            _ => 1,
        }
    }

    /// Whether the op is two instructions fused.
    fn fused(self) -> bool {
        matches!(
            self,
            Op::MovAddK { .. }
                | Op::MovSubK { .. }
                | Op::MovMulK { .. }
                | Op::MovOrK { .. }
                | Op::MovAndK { .. }
                | Op::MovXorK { .. }
                | Op::MovLshK { .. }
                | Op::MovRshK { .. }
                | Op::MovArshK { .. }
                | Op::MovAddX { .. }
                | Op::MovSubX { .. }
                | Op::MovMulX { .. }
                | Op::MovOrX { .. }
                | Op::MovAndX { .. }
                | Op::MovXorX { .. }
                | Op::MovLshX { .. }
                | Op::MovRshX { .. }
                | Op::MovArshX { .. }
                | Op::AddJEqK { .. }
                | Op::AddJNeK { .. }
                | Op::AddJGtK { .. }
                | Op::AddJGeK { .. }
                | Op::AddJLtK { .. }
                | Op::AddJLeK { .. }
                | Op::AddJSetK { .. }
                | Op::AddJSgtK { .. }
                | Op::AddJSgeK { .. }
                | Op::AddJSltK { .. }
                | Op::AddJSleK { .. }
                | Op::AddJEqX { .. }
                | Op::AddJNeX { .. }
                | Op::AddJGtX { .. }
                | Op::AddJGeX { .. }
                | Op::AddJLtX { .. }
                | Op::AddJLeX { .. }
                | Op::AddJSetX { .. }
                | Op::AddJSgtX { .. }
                | Op::AddJSgeX { .. }
                | Op::AddJSltX { .. }
                | Op::AddJSleX { .. }
        )
    }

    /// Whether the op ends a straight-line run: after it, the budget is charged again.
    fn ends_run(self) -> bool {
        matches!(
            self,
            Op::Ja { .. }
                | Op::AddJEqK { .. }
                | Op::AddJNeK { .. }
                | Op::AddJGtK { .. }
                | Op::AddJGeK { .. }
                | Op::AddJLtK { .. }
                | Op::AddJLeK { .. }
                | Op::AddJSetK { .. }
                | Op::AddJSgtK { .. }
                | Op::AddJSgeK { .. }
                | Op::AddJSltK { .. }
                | Op::AddJSleK { .. }
                | Op::AddJEqX { .. }
                | Op::AddJNeX { .. }
                | Op::AddJGtX { .. }
                | Op::AddJGeX { .. }
                | Op::AddJLtX { .. }
                | Op::AddJLeX { .. }
                | Op::AddJSetX { .. }
                | Op::AddJSgtX { .. }
                | Op::AddJSgeX { .. }
                | Op::AddJSltX { .. }
                | Op::AddJSleX { .. }
                | Op::Jeq64K { .. }
                | Op::Jne64K { .. }
                | Op::Jgt64K { .. }
                | Op::Jge64K { .. }
                | Op::Jlt64K { .. }
                | Op::Jle64K { .. }
                | Op::Jset64K { .. }
                | Op::Jsgt64K { .. }
                | Op::Jsge64K { .. }
                | Op::Jslt64K { .. }
                | Op::Jsle64K { .. }
                | Op::Jeq64X { .. }
                | Op::Jne64X { .. }
                | Op::Jgt64X { .. }
                | Op::Jge64X { .. }
                | Op::Jlt64X { .. }
                | Op::Jle64X { .. }
                | Op::Jset64X { .. }
                | Op::Jsgt64X { .. }
                | Op::Jsge64X { .. }
                | Op::Jslt64X { .. }
                | Op::Jsle64X { .. }
                | Op::Jeq32K { .. }
                | Op::Jne32K { .. }
                | Op::Jgt32K { .. }
                | Op::Jge32K { .. }
                | Op::Jlt32K { .. }
                | Op::Jle32K { .. }
                | Op::Jset32K { .. }
                | Op::Jsgt32K { .. }
                | Op::Jsge32K { .. }
                | Op::Jslt32K { .. }
                | Op::Jsle32K { .. }
                | Op::Jeq32X { .. }
                | Op::Jne32X { .. }
                | Op::Jgt32X { .. }
                | Op::Jge32X { .. }
                | Op::Jlt32X { .. }
                | Op::Jle32X { .. }
                | Op::Jset32X { .. }
                | Op::Jsgt32X { .. }
                | Op::Jsge32X { .. }
                | Op::Jslt32X { .. }
                | Op::Jsle32X { .. }
                | Op::Helper { .. }
                | Op::Exit
                | Op::Slow
                | Op::End
        )
    }
}

/// A program, pre-decoded: `ops[pc]` for every slot plus [`Op::End`] at `ops[len]`, and
/// `run_len[pc]`: how many instructions execute from `pc` up to and including the first op
/// that ends a run (or up to the end of the program), if none of them fails.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(super) ops: Box<[Op]>,
    pub(super) run_len: Box<[u32]>,
}

impl Decoded {
    /// Decodes `insns`.
    pub(crate) fn new(insns: &[Insn]) -> Decoded {
        let len = insns.len();
        let mut ops: Vec<Op> = (0..len).map(|pc| decode(insns, pc)).collect();
        ops.push(Op::End);
        for pc in 0..len.saturating_sub(1) {
            if let Some(f) = fuse(ops[pc], ops[pc + 1]) {
                ops[pc] = f;
            }
        }
        let mut run_len = vec![0u32; len + 1];
        for pc in (0..len).rev() {
            let op = ops[pc];
            let next = pc + width(insns, &ops, pc);
            let n = op.insns() as u32;
            run_len[pc] = if op.ends_run() || next > len {
                n
            } else {
                run_len[next].saturating_add(n)
            };
        }
        Decoded {
            ops: ops.into_boxed_slice(),
            run_len: run_len.into_boxed_slice(),
        }
    }

    /// How many instructions a straight-line run from `start` executes up to and including
    /// `pc` (the interpreter's exact count when a run stops early).
    pub(super) fn steps(&self, insns: &[Insn], start: usize, pc: usize) -> u64 {
        let (mut q, mut n) = (start, 0u64);
        while q <= pc && q < insns.len() {
            n += self.ops[q].insns();
            q += width(insns, &self.ops, q);
        }
        n
    }

    /// The last instruction of the straight-line run from `start` that reached the end.
    pub(super) fn last_before_end(&self, insns: &[Insn], start: usize) -> usize {
        let mut q = start;
        loop {
            let next = q + width(insns, &self.ops, q);
            if next >= insns.len() {
                // A fused op's last instruction is its second slot.
                return q + self.ops[q].insns() as usize - 1;
            }
            q = next;
        }
    }
}

/// Slots a non-failing straight-line op at `pc` advances by.
fn width(insns: &[Insn], ops: &[Op], pc: usize) -> usize {
    match ops[pc] {
        Op::SlowStraight if insns[pc].code == LD_IMM64 => 2,
        op => op.width(),
    }
}

/// Two adjacent fast ops as one, where clang's code has a common pair: a register copy then
/// an operation on the copy (three-address code), and a counter's step then its test.
fn fuse(a: Op, b: Op) -> Option<Op> {
    let k32 = |k: u64| i32::try_from(k as i64).ok();
    Some(match (a, b) {
        (Op::Mov64X { d, s }, b) => {
            let (bin, d2, rhs) = match b {
                Op::Add64K { d, k } => (Bin::Add, d, Ok(k32(k)?)),
                Op::Sub64K { d, k } => (Bin::Sub, d, Ok(k32(k)?)),
                Op::Mul64K { d, k } => (Bin::Mul, d, Ok(k32(k)?)),
                Op::Or64K { d, k } => (Bin::Or, d, Ok(k32(k)?)),
                Op::And64K { d, k } => (Bin::And, d, Ok(k32(k)?)),
                Op::Xor64K { d, k } => (Bin::Xor, d, Ok(k32(k)?)),
                Op::Lsh64K { d, k } => (Bin::Lsh, d, Ok(k as i32)),
                Op::Rsh64K { d, k } => (Bin::Rsh, d, Ok(k as i32)),
                Op::Arsh64K { d, k } => (Bin::Arsh, d, Ok(k as i32)),
                Op::Add64X { d, s } => (Bin::Add, d, Err(s)),
                Op::Sub64X { d, s } => (Bin::Sub, d, Err(s)),
                Op::Mul64X { d, s } => (Bin::Mul, d, Err(s)),
                Op::Or64X { d, s } => (Bin::Or, d, Err(s)),
                Op::And64X { d, s } => (Bin::And, d, Err(s)),
                Op::Xor64X { d, s } => (Bin::Xor, d, Err(s)),
                Op::Lsh64X { d, s } => (Bin::Lsh, d, Err(s)),
                Op::Rsh64X { d, s } => (Bin::Rsh, d, Err(s)),
                Op::Arsh64X { d, s } => (Bin::Arsh, d, Err(s)),
                _ => return None,
            };
            if d2 != d {
                return None;
            }
            match (bin, rhs) {
                (Bin::Add, Ok(k)) => Op::MovAddK { d, s, k },
                (Bin::Add, Err(s2)) => Op::MovAddX { d, s, s2 },
                (Bin::Sub, Ok(k)) => Op::MovSubK { d, s, k },
                (Bin::Sub, Err(s2)) => Op::MovSubX { d, s, s2 },
                (Bin::Mul, Ok(k)) => Op::MovMulK { d, s, k },
                (Bin::Mul, Err(s2)) => Op::MovMulX { d, s, s2 },
                (Bin::Or, Ok(k)) => Op::MovOrK { d, s, k },
                (Bin::Or, Err(s2)) => Op::MovOrX { d, s, s2 },
                (Bin::And, Ok(k)) => Op::MovAndK { d, s, k },
                (Bin::And, Err(s2)) => Op::MovAndX { d, s, s2 },
                (Bin::Xor, Ok(k)) => Op::MovXorK { d, s, k },
                (Bin::Xor, Err(s2)) => Op::MovXorX { d, s, s2 },
                (Bin::Lsh, Ok(k)) => Op::MovLshK { d, s, k },
                (Bin::Lsh, Err(s2)) => Op::MovLshX { d, s, s2 },
                (Bin::Rsh, Ok(k)) => Op::MovRshK { d, s, k },
                (Bin::Rsh, Err(s2)) => Op::MovRshX { d, s, s2 },
                (Bin::Arsh, Ok(k)) => Op::MovArshK { d, s, k },
                (Bin::Arsh, Err(s2)) => Op::MovArshX { d, s, s2 },
            }
        }
        (Op::Add64K { d, k: add }, b) => {
            let add = k32(add)?;
            let (cond, d2, rhs, t) = match b {
                Op::Jeq64K { d, k, t } => (Cond::Eq, d, Ok(k), t),
                Op::Jne64K { d, k, t } => (Cond::Ne, d, Ok(k), t),
                Op::Jgt64K { d, k, t } => (Cond::Gt, d, Ok(k), t),
                Op::Jge64K { d, k, t } => (Cond::Ge, d, Ok(k), t),
                Op::Jlt64K { d, k, t } => (Cond::Lt, d, Ok(k), t),
                Op::Jle64K { d, k, t } => (Cond::Le, d, Ok(k), t),
                Op::Jset64K { d, k, t } => (Cond::Set, d, Ok(k), t),
                Op::Jsgt64K { d, k, t } => (Cond::Sgt, d, Ok(k), t),
                Op::Jsge64K { d, k, t } => (Cond::Sge, d, Ok(k), t),
                Op::Jslt64K { d, k, t } => (Cond::Slt, d, Ok(k), t),
                Op::Jsle64K { d, k, t } => (Cond::Sle, d, Ok(k), t),
                Op::Jeq64X { d, s, t } => (Cond::Eq, d, Err(s), t),
                Op::Jne64X { d, s, t } => (Cond::Ne, d, Err(s), t),
                Op::Jgt64X { d, s, t } => (Cond::Gt, d, Err(s), t),
                Op::Jge64X { d, s, t } => (Cond::Ge, d, Err(s), t),
                Op::Jlt64X { d, s, t } => (Cond::Lt, d, Err(s), t),
                Op::Jle64X { d, s, t } => (Cond::Le, d, Err(s), t),
                Op::Jset64X { d, s, t } => (Cond::Set, d, Err(s), t),
                Op::Jsgt64X { d, s, t } => (Cond::Sgt, d, Err(s), t),
                Op::Jsge64X { d, s, t } => (Cond::Sge, d, Err(s), t),
                Op::Jslt64X { d, s, t } => (Cond::Slt, d, Err(s), t),
                Op::Jsle64X { d, s, t } => (Cond::Sle, d, Err(s), t),
                _ => return None,
            };
            if d2 != d {
                return None;
            }
            let rhs = match rhs {
                Ok(k) => Ok(k32(k)?),
                Err(s) => Err(s),
            };
            match (cond, rhs) {
                (Cond::Eq, Ok(k)) => Op::AddJEqK { d, add, k, t },
                (Cond::Eq, Err(s)) => Op::AddJEqX { d, s, add, t },
                (Cond::Ne, Ok(k)) => Op::AddJNeK { d, add, k, t },
                (Cond::Ne, Err(s)) => Op::AddJNeX { d, s, add, t },
                (Cond::Gt, Ok(k)) => Op::AddJGtK { d, add, k, t },
                (Cond::Gt, Err(s)) => Op::AddJGtX { d, s, add, t },
                (Cond::Ge, Ok(k)) => Op::AddJGeK { d, add, k, t },
                (Cond::Ge, Err(s)) => Op::AddJGeX { d, s, add, t },
                (Cond::Lt, Ok(k)) => Op::AddJLtK { d, add, k, t },
                (Cond::Lt, Err(s)) => Op::AddJLtX { d, s, add, t },
                (Cond::Le, Ok(k)) => Op::AddJLeK { d, add, k, t },
                (Cond::Le, Err(s)) => Op::AddJLeX { d, s, add, t },
                (Cond::Set, Ok(k)) => Op::AddJSetK { d, add, k, t },
                (Cond::Set, Err(s)) => Op::AddJSetX { d, s, add, t },
                (Cond::Sgt, Ok(k)) => Op::AddJSgtK { d, add, k, t },
                (Cond::Sgt, Err(s)) => Op::AddJSgtX { d, s, add, t },
                (Cond::Sge, Ok(k)) => Op::AddJSgeK { d, add, k, t },
                (Cond::Sge, Err(s)) => Op::AddJSgeX { d, s, add, t },
                (Cond::Slt, Ok(k)) => Op::AddJSltK { d, add, k, t },
                (Cond::Slt, Err(s)) => Op::AddJSltX { d, s, add, t },
                (Cond::Sle, Ok(k)) => Op::AddJSleK { d, add, k, t },
                (Cond::Sle, Err(s)) => Op::AddJSleX { d, s, add, t },
            }
        }
        _ => return None,
    })
}

/// `rel` from `pc` as an absolute slot, if it is one.
fn target(len: usize, pc: usize, rel: i64) -> Option<u32> {
    let t = pc as i64 + 1 + rel;
    (0..len as i64)
        .contains(&t)
        .then(|| u32::try_from(t).ok())
        .flatten()
}

fn straight_or_slow(insn: &Insn) -> Op {
    match insn.class() {
        BPF_ALU | BPF_ALU64 | BPF_LDX | BPF_ST | BPF_STX => Op::SlowStraight,
        _ if insn.code == LD_IMM64 => Op::SlowStraight,
        _ => Op::Slow,
    }
}

/// The op for slot `pc`.
fn decode(insns: &[Insn], pc: usize) -> Op {
    let insn = &insns[pc];
    if !opcode_in_insntable(insn.code) || check_reserved(insn).is_err() {
        return straight_or_slow(insn);
    }
    let fast = match insn.class() {
        BPF_ALU64 => alu64(insn),
        BPF_ALU => alu32(insn),
        BPF_JMP | BPF_JMP32 => jmp(insns.len(), pc, insn),
        BPF_LDX => ldx(insn),
        BPF_ST | BPF_STX => store(insn),
        _ => ld_imm64(insns, pc),
    };
    fast.unwrap_or_else(|| straight_or_slow(insn))
}

/// Whether `r` may be read / written.
fn readable(r: u8) -> bool {
    r <= 10
}

fn writable(r: u8) -> bool {
    r <= 9
}

/// The checks `Run::alu` makes, before the arithmetic: `None` if it would fail.
fn alu_ok(insn: &Insn, is64: bool) -> Option<()> {
    let o = op(insn.code);
    let x = src_kind(insn.code) == BPF_X;
    if !writable(insn.dst) {
        return None;
    }
    if o == BPF_END {
        return (insn.off == 0 && matches!(insn.imm, 16 | 32 | 64)).then_some(());
    }
    if x && !readable(insn.src) {
        return None;
    }
    let off_ok = match o {
        BPF_DIV | BPF_MOD => matches!(insn.off, 0 | 1),
        BPF_MOV if x => matches!(insn.off, 0 | 8 | 16) || (is64 && insn.off == 32),
        _ => insn.off == 0,
    };
    if !off_ok || (!x && insn.imm == 0 && matches!(o, BPF_DIV | BPF_MOD)) {
        return None;
    }
    Some(())
}

fn alu64(insn: &Insn) -> Option<Op> {
    alu_ok(insn, true)?;
    let (d, s, o, off) = (insn.dst, insn.src, op(insn.code), insn.off);
    let k = insn.imm as i64 as u64;
    let sh = (insn.imm as u32) & 63;
    Some(if src_kind(insn.code) == BPF_X && o != BPF_END {
        match (o, off) {
            (BPF_ADD, 0) => Op::Add64X { d, s },
            (BPF_SUB, 0) => Op::Sub64X { d, s },
            (BPF_MUL, 0) => Op::Mul64X { d, s },
            (BPF_DIV, 0) => Op::Div64X { d, s },
            (BPF_MOD, 0) => Op::Mod64X { d, s },
            (BPF_OR, 0) => Op::Or64X { d, s },
            (BPF_AND, 0) => Op::And64X { d, s },
            (BPF_XOR, 0) => Op::Xor64X { d, s },
            (BPF_LSH, 0) => Op::Lsh64X { d, s },
            (BPF_RSH, 0) => Op::Rsh64X { d, s },
            (BPF_ARSH, 0) => Op::Arsh64X { d, s },
            (BPF_MOV, 0) => Op::Mov64X { d, s },
            (op, off) => Op::Alu64X { op, d, s, off },
        }
    } else {
        match (o, off) {
            (BPF_ADD, 0) => Op::Add64K { d, k },
            (BPF_SUB, 0) => Op::Sub64K { d, k },
            (BPF_MUL, 0) => Op::Mul64K { d, k },
            (BPF_DIV, 0) => Op::Div64K { d, k },
            (BPF_MOD, 0) => Op::Mod64K { d, k },
            (BPF_OR, 0) => Op::Or64K { d, k },
            (BPF_AND, 0) => Op::And64K { d, k },
            (BPF_XOR, 0) => Op::Xor64K { d, k },
            (BPF_LSH, 0) => Op::Lsh64K { d, k: sh },
            (BPF_RSH, 0) => Op::Rsh64K { d, k: sh },
            (BPF_ARSH, 0) => Op::Arsh64K { d, k: sh },
            (BPF_MOV, 0) => Op::Mov64K { d, k },
            (BPF_NEG, 0) => Op::Neg64 { d },
            // ALU64's only byte swap is `bswap`.
            (BPF_END, _) => Op::Swap {
                d,
                bits: insn.imm as u8,
                swap: true,
            },
            (op, off) => Op::Alu64K { op, d, off, k },
        }
    })
}

fn alu32(insn: &Insn) -> Option<Op> {
    alu_ok(insn, false)?;
    let (d, s, o, off) = (insn.dst, insn.src, op(insn.code), insn.off);
    let k = insn.imm as u32;
    let sh = k & 31;
    if o == BPF_END {
        return Some(Op::Swap {
            d,
            bits: insn.imm as u8,
            swap: src_kind(insn.code) == BPF_TO_BE,
        });
    }
    Some(if src_kind(insn.code) == BPF_X {
        match (o, off) {
            (BPF_ADD, 0) => Op::Add32X { d, s },
            (BPF_SUB, 0) => Op::Sub32X { d, s },
            (BPF_MUL, 0) => Op::Mul32X { d, s },
            (BPF_DIV, 0) => Op::Div32X { d, s },
            (BPF_MOD, 0) => Op::Mod32X { d, s },
            (BPF_OR, 0) => Op::Or32X { d, s },
            (BPF_AND, 0) => Op::And32X { d, s },
            (BPF_XOR, 0) => Op::Xor32X { d, s },
            (BPF_LSH, 0) => Op::Lsh32X { d, s },
            (BPF_RSH, 0) => Op::Rsh32X { d, s },
            (BPF_ARSH, 0) => Op::Arsh32X { d, s },
            (BPF_MOV, 0) => Op::Mov32X { d, s },
            (op, off) => Op::Alu32X { op, d, s, off },
        }
    } else {
        match (o, off) {
            (BPF_ADD, 0) => Op::Add32K { d, k },
            (BPF_SUB, 0) => Op::Sub32K { d, k },
            (BPF_MUL, 0) => Op::Mul32K { d, k },
            (BPF_DIV, 0) => Op::Div32K { d, k },
            (BPF_MOD, 0) => Op::Mod32K { d, k },
            (BPF_OR, 0) => Op::Or32K { d, k },
            (BPF_AND, 0) => Op::And32K { d, k },
            (BPF_XOR, 0) => Op::Xor32K { d, k },
            (BPF_LSH, 0) => Op::Lsh32K { d, k: sh },
            (BPF_RSH, 0) => Op::Rsh32K { d, k: sh },
            (BPF_ARSH, 0) => Op::Arsh32K { d, k: sh },
            (BPF_MOV, 0) => Op::Mov32K { d, k },
            (BPF_NEG, 0) => Op::Neg32 { d },
            (op, off) => Op::Alu32K { op, d, off, k },
        }
    })
}

fn jmp(len: usize, pc: usize, insn: &Insn) -> Option<Op> {
    let is32 = insn.class() == BPF_JMP32;
    let o = op(insn.code);
    match o {
        BPF_JA => {
            let rel = if is32 {
                insn.imm as i64
            } else {
                insn.off as i64
            };
            return Some(Op::Ja {
                t: target(len, pc, rel)?,
            });
        }
        BPF_CALL if insn.src == 0 && insn.imm != BPF_FUNC_TAIL_CALL => {
            return Some(Op::Helper { id: insn.imm });
        }
        BPF_EXIT => return Some(Op::Exit),
        BPF_CALL | BPF_JCOND => return None,
        _ => {}
    }
    let x = src_kind(insn.code) == BPF_X;
    if !readable(insn.dst) || (x && !readable(insn.src)) {
        return None;
    }
    let t = target(len, pc, insn.off as i64)?;
    let (d, s) = (insn.dst, insn.src);
    let k = insn.imm as i64 as u64;
    let k32 = insn.imm as u32;
    Some(match (is32, x, o) {
        (false, false, BPF_JEQ) => Op::Jeq64K { d, k, t },
        (false, false, BPF_JNE) => Op::Jne64K { d, k, t },
        (false, false, BPF_JGT) => Op::Jgt64K { d, k, t },
        (false, false, BPF_JGE) => Op::Jge64K { d, k, t },
        (false, false, BPF_JLT) => Op::Jlt64K { d, k, t },
        (false, false, BPF_JLE) => Op::Jle64K { d, k, t },
        (false, false, BPF_JSET) => Op::Jset64K { d, k, t },
        (false, false, BPF_JSGT) => Op::Jsgt64K { d, k, t },
        (false, false, BPF_JSGE) => Op::Jsge64K { d, k, t },
        (false, false, BPF_JSLT) => Op::Jslt64K { d, k, t },
        (false, false, BPF_JSLE) => Op::Jsle64K { d, k, t },
        (false, true, BPF_JEQ) => Op::Jeq64X { d, s, t },
        (false, true, BPF_JNE) => Op::Jne64X { d, s, t },
        (false, true, BPF_JGT) => Op::Jgt64X { d, s, t },
        (false, true, BPF_JGE) => Op::Jge64X { d, s, t },
        (false, true, BPF_JLT) => Op::Jlt64X { d, s, t },
        (false, true, BPF_JLE) => Op::Jle64X { d, s, t },
        (false, true, BPF_JSET) => Op::Jset64X { d, s, t },
        (false, true, BPF_JSGT) => Op::Jsgt64X { d, s, t },
        (false, true, BPF_JSGE) => Op::Jsge64X { d, s, t },
        (false, true, BPF_JSLT) => Op::Jslt64X { d, s, t },
        (false, true, BPF_JSLE) => Op::Jsle64X { d, s, t },
        (true, false, BPF_JEQ) => Op::Jeq32K { d, k: k32, t },
        (true, false, BPF_JNE) => Op::Jne32K { d, k: k32, t },
        (true, false, BPF_JGT) => Op::Jgt32K { d, k: k32, t },
        (true, false, BPF_JGE) => Op::Jge32K { d, k: k32, t },
        (true, false, BPF_JLT) => Op::Jlt32K { d, k: k32, t },
        (true, false, BPF_JLE) => Op::Jle32K { d, k: k32, t },
        (true, false, BPF_JSET) => Op::Jset32K { d, k: k32, t },
        (true, false, BPF_JSGT) => Op::Jsgt32K { d, k: k32, t },
        (true, false, BPF_JSGE) => Op::Jsge32K { d, k: k32, t },
        (true, false, BPF_JSLT) => Op::Jslt32K { d, k: k32, t },
        (true, false, BPF_JSLE) => Op::Jsle32K { d, k: k32, t },
        (true, true, BPF_JEQ) => Op::Jeq32X { d, s, t },
        (true, true, BPF_JNE) => Op::Jne32X { d, s, t },
        (true, true, BPF_JGT) => Op::Jgt32X { d, s, t },
        (true, true, BPF_JGE) => Op::Jge32X { d, s, t },
        (true, true, BPF_JLT) => Op::Jlt32X { d, s, t },
        (true, true, BPF_JLE) => Op::Jle32X { d, s, t },
        (true, true, BPF_JSET) => Op::Jset32X { d, s, t },
        (true, true, BPF_JSGT) => Op::Jsgt32X { d, s, t },
        (true, true, BPF_JSGE) => Op::Jsge32X { d, s, t },
        (true, true, BPF_JSLT) => Op::Jslt32X { d, s, t },
        (true, true, BPF_JSLE) => Op::Jsle32X { d, s, t },
        _ => return None,
    })
}

fn ldx(insn: &Insn) -> Option<Op> {
    if !writable(insn.dst) || !readable(insn.src) {
        return None;
    }
    let (d, s, off) = (insn.dst, insn.src, insn.off);
    Some(match (mode(insn.code), size(insn.code)) {
        (BPF_MEM, BPF_B) => Op::LdxB { d, s, off },
        (BPF_MEM, BPF_H) => Op::LdxH { d, s, off },
        (BPF_MEM, BPF_W) => Op::LdxW { d, s, off },
        (BPF_MEM, BPF_DW) => Op::LdxDW { d, s, off },
        (BPF_MEMSX, BPF_B) => Op::LdxSB { d, s, off },
        (BPF_MEMSX, BPF_H) => Op::LdxSH { d, s, off },
        (BPF_MEMSX, BPF_W) => Op::LdxSW { d, s, off },
        _ => return None,
    })
}

fn store(insn: &Insn) -> Option<Op> {
    if mode(insn.code) != BPF_MEM || !readable(insn.dst) {
        return None;
    }
    let (d, s, off) = (insn.dst, insn.src, insn.off);
    if insn.class() == BPF_ST {
        let k = insn.imm as i64 as u64;
        return Some(match size(insn.code) {
            BPF_B => Op::StB { d, off, k },
            BPF_H => Op::StH { d, off, k },
            BPF_W => Op::StW { d, off, k },
            _ => Op::StDW { d, off, k },
        });
    }
    if !readable(s) {
        return None;
    }
    Some(match size(insn.code) {
        BPF_B => Op::StxB { d, s, off },
        BPF_H => Op::StxH { d, s, off },
        BPF_W => Op::StxW { d, s, off },
        _ => Op::StxDW { d, s, off },
    })
}

/// A complete, constant `ld_imm64` (the checks of `Run::ld`, in its order).
fn ld_imm64(insns: &[Insn], pc: usize) -> Option<Op> {
    let insn = &insns[pc];
    if insn.code != LD_IMM64 || insn.src != 0 || !writable(insn.dst) {
        return None;
    }
    let next = insns.get(pc + 1)?;
    if next.code != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
        return None;
    }
    Some(Op::LdImm64 {
        d: insn.dst,
        k: insn.imm as u32 as u64 | (next.imm as u32 as u64) << 32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_op_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Op>(), 16);
    }

    #[test]
    fn runs_end_at_jumps_and_count_ld_imm64_once() {
        let [l0, l1] = Insn::ld_imm64(1, 5);
        let p = [
            Insn::mov64_imm(0, 0),
            l0,
            l1,
            Insn::alu64_imm(BPF_ADD, 0, 1),
            Insn::jeq_imm(0, 3, -2),
            Insn::mov64_imm(0, 1),
        ];
        let d = Decoded::new(&p);
        assert_eq!(&d.run_len[..], &[4, 3, 1, 2, 1, 1, 0]);
        assert_eq!(d.ops[6], Op::End);
        // Slots 3 and 4 (the counter's step and test) also run as one fused op at 3.
        assert_eq!(
            d.ops[3],
            Op::AddJEqK {
                d: 0,
                add: 1,
                k: 3,
                t: 3
            }
        );
        assert_eq!(d.ops[4], Op::Jeq64K { d: 0, k: 3, t: 3 });
        assert_eq!(d.steps(&p, 0, 1), 2);
        assert_eq!(d.steps(&p, 0, 3), 4);
        assert_eq!(d.last_before_end(&p, 5), 5);
        // A jump out of the program, division by an immediate 0 and a write to r10 are left
        // to the reference path, which reports them when reached.
        let bad = [
            Insn::ja(7),
            Insn::alu64_imm(BPF_DIV, 0, 0),
            Insn::mov64_imm(10, 0),
            Insn::raw(0xff, 0, 0, 0, 0),
        ];
        let d = Decoded::new(&bad);
        assert_eq!(
            &d.ops[..],
            &[
                Op::Slow,
                Op::SlowStraight,
                Op::SlowStraight,
                Op::SlowStraight,
                Op::End
            ]
        );
    }
}

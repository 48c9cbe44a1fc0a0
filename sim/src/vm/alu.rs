//! The pure semantics of one instruction's arithmetic: ALU operations, byte swaps, jump
//! conditions, sign extension. No state, no memory; `interp` decodes and applies them.

use super::error::{Malformed, VmError};
use crate::prog::insn::*;

pub(super) fn size_bytes(code: u8) -> usize {
    match size(code) {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}

pub(super) fn read_le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |v, &x| v << 8 | x as u64)
}

pub(super) fn sign_extend(v: u64, n: usize) -> u64 {
    let shift = 64 - 8 * n as u32;
    (((v << shift) as i64) >> shift) as u64
}

/// `BPF_END`: `le` truncates (the machine is little-endian), `be` and ALU64's `bswap` swap.
pub(super) fn byte_swap(pc: usize, insn: Insn, d: u64) -> Result<u64, VmError> {
    let swap = insn.class() == BPF_ALU64 || src_kind(insn.code) == BPF_TO_BE;
    Ok(match (insn.imm, swap) {
        (16, false) => d as u16 as u64,
        (32, false) => d as u32 as u64,
        (64, false) => d,
        (16, true) => (d as u16).swap_bytes() as u64,
        (32, true) => (d as u32).swap_bytes() as u64,
        (64, true) => d.swap_bytes(),
        (imm, _) => {
            return Err(VmError::Malformed {
                pc,
                what: Malformed::Imm(imm),
            });
        }
    })
}

/// A 64-bit ALU operation; `off` selects signed division (1) or `movsx` width (8/16/32).
pub(super) fn alu64(op: u8, d: u64, s: u64, off: i16) -> u64 {
    let (sd, ss) = (d as i64, s as i64);
    match op {
        BPF_ADD => d.wrapping_add(s),
        BPF_SUB => d.wrapping_sub(s),
        BPF_MUL => d.wrapping_mul(s),
        BPF_DIV if off == 1 => match ss {
            0 => 0,
            _ => sd.wrapping_div(ss) as u64,
        },
        BPF_DIV => d.checked_div(s).unwrap_or(0),
        BPF_MOD if off == 1 => match ss {
            0 => d,
            _ => sd.wrapping_rem(ss) as u64,
        },
        BPF_MOD => d.checked_rem(s).unwrap_or(d),
        BPF_OR => d | s,
        BPF_AND => d & s,
        BPF_XOR => d ^ s,
        BPF_LSH => d << (s & 63),
        BPF_RSH => d >> (s & 63),
        BPF_ARSH => (sd >> (s & 63)) as u64,
        BPF_NEG => d.wrapping_neg(),
        BPF_MOV => match off {
            8 => s as i8 as u64,
            16 => s as i16 as u64,
            32 => s as i32 as u64,
            _ => s,
        },
        _ => d,
    }
}

/// A 32-bit ALU operation on the low halves; the caller zero-extends the result.
pub(super) fn alu32(op: u8, d: u32, s: u32, off: i16) -> u32 {
    let (sd, ss) = (d as i32, s as i32);
    match op {
        BPF_ADD => d.wrapping_add(s),
        BPF_SUB => d.wrapping_sub(s),
        BPF_MUL => d.wrapping_mul(s),
        BPF_DIV if off == 1 => match ss {
            0 => 0,
            _ => sd.wrapping_div(ss) as u32,
        },
        BPF_DIV => d.checked_div(s).unwrap_or(0),
        BPF_MOD if off == 1 => match ss {
            0 => d,
            _ => sd.wrapping_rem(ss) as u32,
        },
        BPF_MOD => d.checked_rem(s).unwrap_or(d),
        BPF_OR => d | s,
        BPF_AND => d & s,
        BPF_XOR => d ^ s,
        BPF_LSH => d << (s & 31),
        BPF_RSH => d >> (s & 31),
        BPF_ARSH => (sd >> (s & 31)) as u32,
        BPF_NEG => d.wrapping_neg(),
        BPF_MOV => match off {
            8 => s as i8 as u32,
            16 => s as i16 as u32,
            _ => s,
        },
        _ => d,
    }
}

/// A conditional jump's test, given the operands unsigned and signed.
pub(super) fn cond(op: u8, a: u64, b: u64, sa: i64, sb: i64) -> bool {
    match op {
        BPF_JEQ => a == b,
        BPF_JNE => a != b,
        BPF_JGT => a > b,
        BPF_JGE => a >= b,
        BPF_JLT => a < b,
        BPF_JLE => a <= b,
        BPF_JSET => a & b != 0,
        BPF_JSGT => sa > sb,
        BPF_JSGE => sa >= sb,
        BPF_JSLT => sa < sb,
        BPF_JSLE => sa <= sb,
        _ => false,
    }
}

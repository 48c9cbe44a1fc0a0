//! The verifier's reserved-field rules (`kernel/bpf/verifier.c`: "BPF_ALU uses reserved
//! fields", "BPF_JA uses reserved fields", ...): a field an instruction does not use must be
//! zero. The kernel rejects such a program at load; here the run stops at the instruction.
//!
//! One rule is relaxed on purpose: the verifier also rejects a shift by an immediate at or
//! above the operand width ("invalid shift"); here it is masked like a register amount, as
//! RFC 9669 defines it and the conformance suite expects (`lsh32-imm-high` and friends).

use super::error::Malformed;
use crate::prog::insn::*;
use crate::uapi::pseudo;

/// `src_reg` of `JMP|JCOND`: `may_goto`.
pub(super) const BPF_MAY_GOTO: u8 = 0;

fn zero_src(insn: &Insn) -> Result<(), Malformed> {
    match insn.src {
        0 => Ok(()),
        s => Err(Malformed::Src(s)),
    }
}

fn zero_dst(insn: &Insn) -> Result<(), Malformed> {
    match insn.dst {
        0 => Ok(()),
        d => Err(Malformed::Dst(d)),
    }
}

fn zero_imm(insn: &Insn) -> Result<(), Malformed> {
    match insn.imm {
        0 => Ok(()),
        i => Err(Malformed::Imm(i)),
    }
}

fn zero_off(insn: &Insn) -> Result<(), Malformed> {
    match insn.off {
        0 => Ok(()),
        o => Err(Malformed::Off(o)),
    }
}

/// The unused operand of a K/X instruction: src for K, imm for X.
fn unused_operand(insn: &Insn) -> Result<(), Malformed> {
    if src_kind(insn.code) == BPF_X {
        zero_imm(insn)
    } else {
        zero_src(insn)
    }
}

/// Checks the fields `insn` does not use; `insn.code` is in the kernel's opcode table.
pub(super) fn check_reserved(insn: &Insn) -> Result<(), Malformed> {
    let x = src_kind(insn.code) == BPF_X;
    match insn.class() {
        BPF_ALU | BPF_ALU64 => match op(insn.code) {
            BPF_NEG => zero_src(insn).and(zero_off(insn)).and(zero_imm(insn)),
            BPF_END => zero_src(insn).and(zero_off(insn)),
            BPF_MOV if !x => zero_src(insn).and(zero_off(insn)),
            BPF_MOV => zero_imm(insn),
            BPF_DIV | BPF_MOD => unused_operand(insn),
            _ => unused_operand(insn).and(zero_off(insn)),
        },
        BPF_JMP | BPF_JMP32 => match op(insn.code) {
            BPF_CALL => {
                zero_dst(insn)?;
                if insn.src != pseudo::KFUNC_CALL {
                    zero_off(insn)?;
                }
                Ok(())
            }
            BPF_JA => {
                zero_src(insn).and(zero_dst(insn))?;
                if insn.class() == BPF_JMP {
                    zero_imm(insn)
                } else {
                    zero_off(insn)
                }
            }
            BPF_EXIT => zero_src(insn).and(zero_dst(insn)).and(zero_imm(insn)),
            BPF_JCOND => match insn.src {
                BPF_MAY_GOTO => zero_dst(insn).and(zero_imm(insn)),
                s => Err(Malformed::Src(s)),
            },
            _ => unused_operand(insn),
        },
        BPF_LDX => zero_imm(insn),
        BPF_ST => zero_src(insn),
        BPF_STX if mode(insn.code) == BPF_MEM => zero_imm(insn),
        BPF_LD if mode(insn.code) != BPF_IMM => {
            zero_dst(insn).and(zero_off(insn))?;
            if mode(insn.code) == BPF_ABS {
                zero_src(insn)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

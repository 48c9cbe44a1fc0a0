//! The opcode whitelist of Linux 6.18: `kernel/bpf/core.c bpf_opcode_in_insntable()`, which
//! is `BPF_INSN_MAP` (every opcode the interpreter implements for user space) plus the cBPF
//! carry-overs `LD_ABS`/`LD_IND` and `JMP|JCOND` (`may_goto`).
//!
//! The verifier calls it from `kernel/bpf/verifier.c resolve_pseudo_ldimm64` on every
//! instruction that is not part of an `ld_imm64` and rejects the rest with `EINVAL`
//! ("unknown opcode %02x"). Only the `code` byte is checked here; whether `off`, `imm`,
//! `src_reg`, `dst_reg` are allowed for that opcode is decided later, in `do_check`.
//!
//! Version notes, so a reader can tell which kernel this table is: `JMP32|JA` (`gotol`) and
//! `LDX|MEMSX` arrived in 6.6, `JMP|JCOND` in 6.9, `STX|ATOMIC|B`/`H` (load-acquire,
//! store-release) in 6.15. `JMP|JA|X` (`gotox`, indirect jump through an insn-array map)
//! arrives in 6.19 and is **not** in this table. Internal opcodes the verifier itself emits
//! (`BPF_TAIL_CALL`, `BPF_CALL_ARGS`, `BPF_NOSPEC`, `BPF_PROBE_MEM*`) are not user-visible and
//! are not here either.

use super::insn::*;

/// The 128 opcodes `bpf_opcode_in_insntable()` accepts on 6.18, grouped as `BPF_INSN_MAP`
/// lists them (`kernel/bpf/core.c`), then the extra entries of `public_insntable`.
pub const INSN_TABLE: &[u8] = &[
    // 32-bit ALU, register source.
    BPF_ALU | BPF_ADD | BPF_X,
    BPF_ALU | BPF_SUB | BPF_X,
    BPF_ALU | BPF_AND | BPF_X,
    BPF_ALU | BPF_OR | BPF_X,
    BPF_ALU | BPF_LSH | BPF_X,
    BPF_ALU | BPF_RSH | BPF_X,
    BPF_ALU | BPF_XOR | BPF_X,
    BPF_ALU | BPF_MUL | BPF_X,
    BPF_ALU | BPF_MOV | BPF_X,
    BPF_ALU | BPF_ARSH | BPF_X,
    BPF_ALU | BPF_DIV | BPF_X,
    BPF_ALU | BPF_MOD | BPF_X,
    BPF_ALU | BPF_NEG,
    BPF_ALU | BPF_END | BPF_TO_BE,
    BPF_ALU | BPF_END | BPF_TO_LE,
    // 32-bit ALU, immediate source.
    BPF_ALU | BPF_ADD | BPF_K,
    BPF_ALU | BPF_SUB | BPF_K,
    BPF_ALU | BPF_AND | BPF_K,
    BPF_ALU | BPF_OR | BPF_K,
    BPF_ALU | BPF_LSH | BPF_K,
    BPF_ALU | BPF_RSH | BPF_K,
    BPF_ALU | BPF_XOR | BPF_K,
    BPF_ALU | BPF_MUL | BPF_K,
    BPF_ALU | BPF_MOV | BPF_K,
    BPF_ALU | BPF_ARSH | BPF_K,
    BPF_ALU | BPF_DIV | BPF_K,
    BPF_ALU | BPF_MOD | BPF_K,
    // 64-bit ALU, register source.
    BPF_ALU64 | BPF_ADD | BPF_X,
    BPF_ALU64 | BPF_SUB | BPF_X,
    BPF_ALU64 | BPF_AND | BPF_X,
    BPF_ALU64 | BPF_OR | BPF_X,
    BPF_ALU64 | BPF_LSH | BPF_X,
    BPF_ALU64 | BPF_RSH | BPF_X,
    BPF_ALU64 | BPF_XOR | BPF_X,
    BPF_ALU64 | BPF_MUL | BPF_X,
    BPF_ALU64 | BPF_MOV | BPF_X,
    BPF_ALU64 | BPF_ARSH | BPF_X,
    BPF_ALU64 | BPF_DIV | BPF_X,
    BPF_ALU64 | BPF_MOD | BPF_X,
    BPF_ALU64 | BPF_NEG,
    // `bswap`: only the TO_LE encoding exists for ALU64 (0xd7; 0xdf is unknown).
    BPF_ALU64 | BPF_END | BPF_TO_LE,
    // 64-bit ALU, immediate source.
    BPF_ALU64 | BPF_ADD | BPF_K,
    BPF_ALU64 | BPF_SUB | BPF_K,
    BPF_ALU64 | BPF_AND | BPF_K,
    BPF_ALU64 | BPF_OR | BPF_K,
    BPF_ALU64 | BPF_LSH | BPF_K,
    BPF_ALU64 | BPF_RSH | BPF_K,
    BPF_ALU64 | BPF_XOR | BPF_K,
    BPF_ALU64 | BPF_MUL | BPF_K,
    BPF_ALU64 | BPF_MOV | BPF_K,
    BPF_ALU64 | BPF_ARSH | BPF_K,
    BPF_ALU64 | BPF_DIV | BPF_K,
    BPF_ALU64 | BPF_MOD | BPF_K,
    // Call and exit (JMP class only: 0x86 and 0x96 are unknown).
    BPF_JMP | BPF_CALL,
    BPF_JMP | BPF_EXIT,
    // 32-bit conditional jumps, register source.
    BPF_JMP32 | BPF_JEQ | BPF_X,
    BPF_JMP32 | BPF_JNE | BPF_X,
    BPF_JMP32 | BPF_JGT | BPF_X,
    BPF_JMP32 | BPF_JLT | BPF_X,
    BPF_JMP32 | BPF_JGE | BPF_X,
    BPF_JMP32 | BPF_JLE | BPF_X,
    BPF_JMP32 | BPF_JSGT | BPF_X,
    BPF_JMP32 | BPF_JSLT | BPF_X,
    BPF_JMP32 | BPF_JSGE | BPF_X,
    BPF_JMP32 | BPF_JSLE | BPF_X,
    BPF_JMP32 | BPF_JSET | BPF_X,
    // 32-bit conditional jumps, immediate source.
    BPF_JMP32 | BPF_JEQ | BPF_K,
    BPF_JMP32 | BPF_JNE | BPF_K,
    BPF_JMP32 | BPF_JGT | BPF_K,
    BPF_JMP32 | BPF_JLT | BPF_K,
    BPF_JMP32 | BPF_JGE | BPF_K,
    BPF_JMP32 | BPF_JLE | BPF_K,
    BPF_JMP32 | BPF_JSGT | BPF_K,
    BPF_JMP32 | BPF_JSLT | BPF_K,
    BPF_JMP32 | BPF_JSGE | BPF_K,
    BPF_JMP32 | BPF_JSLE | BPF_K,
    BPF_JMP32 | BPF_JSET | BPF_K,
    // 64-bit conditional jumps, register source.
    BPF_JMP | BPF_JEQ | BPF_X,
    BPF_JMP | BPF_JNE | BPF_X,
    BPF_JMP | BPF_JGT | BPF_X,
    BPF_JMP | BPF_JLT | BPF_X,
    BPF_JMP | BPF_JGE | BPF_X,
    BPF_JMP | BPF_JLE | BPF_X,
    BPF_JMP | BPF_JSGT | BPF_X,
    BPF_JMP | BPF_JSLT | BPF_X,
    BPF_JMP | BPF_JSGE | BPF_X,
    BPF_JMP | BPF_JSLE | BPF_X,
    BPF_JMP | BPF_JSET | BPF_X,
    // 64-bit conditional jumps, immediate source.
    BPF_JMP | BPF_JEQ | BPF_K,
    BPF_JMP | BPF_JNE | BPF_K,
    BPF_JMP | BPF_JGT | BPF_K,
    BPF_JMP | BPF_JLT | BPF_K,
    BPF_JMP | BPF_JGE | BPF_K,
    BPF_JMP | BPF_JLE | BPF_K,
    BPF_JMP | BPF_JSGT | BPF_K,
    BPF_JMP | BPF_JSLT | BPF_K,
    BPF_JMP | BPF_JSGE | BPF_K,
    BPF_JMP | BPF_JSLE | BPF_K,
    BPF_JMP | BPF_JSET | BPF_K,
    // Unconditional jumps: `goto` (off) and `gotol` (imm).
    BPF_JMP | BPF_JA,
    BPF_JMP32 | BPF_JA,
    // Atomics (the operation is in `imm`; B and H only for load-acquire/store-release).
    BPF_STX | BPF_ATOMIC | BPF_B,
    BPF_STX | BPF_ATOMIC | BPF_H,
    BPF_STX | BPF_ATOMIC | BPF_W,
    BPF_STX | BPF_ATOMIC | BPF_DW,
    // Stores of a register.
    BPF_STX | BPF_MEM | BPF_B,
    BPF_STX | BPF_MEM | BPF_H,
    BPF_STX | BPF_MEM | BPF_W,
    BPF_STX | BPF_MEM | BPF_DW,
    // Stores of an immediate.
    BPF_ST | BPF_MEM | BPF_B,
    BPF_ST | BPF_MEM | BPF_H,
    BPF_ST | BPF_MEM | BPF_W,
    BPF_ST | BPF_MEM | BPF_DW,
    // Loads, plain and sign-extending (no 8-byte MEMSX: 0x99 is unknown).
    BPF_LDX | BPF_MEM | BPF_B,
    BPF_LDX | BPF_MEM | BPF_H,
    BPF_LDX | BPF_MEM | BPF_W,
    BPF_LDX | BPF_MEM | BPF_DW,
    BPF_LDX | BPF_MEMSX | BPF_B,
    BPF_LDX | BPF_MEMSX | BPF_H,
    BPF_LDX | BPF_MEMSX | BPF_W,
    // 64-bit immediate load (first half; the second half is skipped by the caller).
    BPF_LD | BPF_IMM | BPF_DW,
    // `public_insntable` extras: cBPF carry-over packet loads, rewritten by the verifier.
    BPF_LD | BPF_ABS | BPF_B,
    BPF_LD | BPF_ABS | BPF_H,
    BPF_LD | BPF_ABS | BPF_W,
    BPF_LD | BPF_IND | BPF_B,
    BPF_LD | BPF_IND | BPF_H,
    BPF_LD | BPF_IND | BPF_W,
    // `public_insntable` extra: `may_goto`.
    BPF_JMP | BPF_JCOND,
];

/// `INSN_TABLE` as the kernel's 256-entry lookup array.
const PUBLIC_INSNTABLE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < INSN_TABLE.len() {
        t[INSN_TABLE[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `code` is an opcode user space may submit: `kernel/bpf/core.c
/// bpf_opcode_in_insntable` as of Linux 6.18.
pub fn opcode_in_insntable(code: u8) -> bool {
    PUBLIC_INSNTABLE[code as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_128_distinct_opcodes() {
        let n = (0..=255u8).filter(|&c| opcode_in_insntable(c)).count();
        assert_eq!(n, 128);
        assert_eq!(INSN_TABLE.len(), 128, "no duplicates in the listed table");
    }

    #[test]
    fn known_codes_accepted() {
        for code in [
            0xb7, 0xbf, 0x95, 0x85, 0x05, 0x06, 0x18, 0x61, 0x79, 0x91, 0x89, 0x81, 0xc3, 0xdb,
            0xcb, 0xd3, 0x7b, 0x72, 0xd4, 0xdc, 0xd7, 0x84, 0x87, 0x20, 0x28, 0x30, 0x40, 0x48,
            0x50, 0xe5, 0x16, 0x1e, 0x15, 0x1d, 0xa5, 0xdd,
        ] {
            assert!(opcode_in_insntable(code), "{code:02x} must be accepted");
        }
    }

    #[test]
    fn unknown_codes_rejected() {
        // 0x00 (LD|IMM|W), 0xff, ALU64 END TO_BE, NEG|X, JMP32 CALL/EXIT, MEMSX DW,
        // gotox (6.19), JMP32 JCOND, LD|MEM, LDX|ABS, ST|ATOMIC, JMP|0xf0.
        for code in [
            0x00, 0xff, 0xdf, 0x8c, 0x8f, 0x86, 0x96, 0x99, 0x0d, 0x0e, 0xe6, 0x60, 0x21, 0xc2,
            0xf5, 0xe4, 0x08, 0x10,
        ] {
            assert!(!opcode_in_insntable(code), "{code:02x} must be rejected");
        }
    }
}

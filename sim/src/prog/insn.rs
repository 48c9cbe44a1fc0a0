//! One eBPF instruction as user space hands it to `BPF_PROG_LOAD`: `struct bpf_insn`
//! (`include/uapi/linux/bpf.h`), its 8-byte little-endian encoding, and the opcode field
//! constants of `include/uapi/linux/bpf_common.h` and `bpf.h`.
//!
//! Byte layout, as the kernel reads it on a little-endian machine: byte 0 `code`, byte 1
//! `dst_reg:4` (low nibble) and `src_reg:4` (high nibble), bytes 2..4 `off` (`__s16`),
//! bytes 4..8 `imm` (`__s32`).
//!
//! The constructors (`Insn::mov64_imm`, `Insn::ld_map_fd`, …) mirror the kernel's
//! `include/linux/filter.h` macros (`BPF_MOV64_IMM`, `BPF_LD_MAP_FD`, …) so tests read like
//! `tools/testing/selftests/bpf/verifier/*.c`.

// ---- instruction classes: `BPF_CLASS(code)`, the low 3 bits -------------------------------

/// `BPF_LD`: non-register loads (`ld_imm64`, legacy `LD_ABS`/`LD_IND`).
pub const BPF_LD: u8 = 0x00;
/// `BPF_LDX`: register-based loads from memory.
pub const BPF_LDX: u8 = 0x01;
/// `BPF_ST`: stores of an immediate.
pub const BPF_ST: u8 = 0x02;
/// `BPF_STX`: stores of a register, and atomics.
pub const BPF_STX: u8 = 0x03;
/// `BPF_ALU`: 32-bit arithmetic.
pub const BPF_ALU: u8 = 0x04;
/// `BPF_JMP`: 64-bit compares and jumps, calls, exit.
pub const BPF_JMP: u8 = 0x05;
/// `BPF_JMP32`: 32-bit compares and jumps (and `gotol`).
pub const BPF_JMP32: u8 = 0x06;
/// `BPF_ALU64`: 64-bit arithmetic.
pub const BPF_ALU64: u8 = 0x07;

// ---- source operand: `BPF_SRC(code)`, bit 3 -----------------------------------------------

/// `BPF_K`: the operand is `imm`.
pub const BPF_K: u8 = 0x00;
/// `BPF_X`: the operand is `src_reg`.
pub const BPF_X: u8 = 0x08;
/// `BPF_TO_LE` (= `BPF_K`): byte-swap target little endian (`BPF_END`).
pub const BPF_TO_LE: u8 = 0x00;
/// `BPF_TO_BE` (= `BPF_X`): byte-swap target big endian (`BPF_END`).
pub const BPF_TO_BE: u8 = 0x08;

// ---- ALU operations: `BPF_OP(code)`, the high 4 bits --------------------------------------

/// `BPF_ADD`.
pub const BPF_ADD: u8 = 0x00;
/// `BPF_SUB`.
pub const BPF_SUB: u8 = 0x10;
/// `BPF_MUL`.
pub const BPF_MUL: u8 = 0x20;
/// `BPF_DIV` (`off == 1`: signed).
pub const BPF_DIV: u8 = 0x30;
/// `BPF_OR`.
pub const BPF_OR: u8 = 0x40;
/// `BPF_AND`.
pub const BPF_AND: u8 = 0x50;
/// `BPF_LSH`.
pub const BPF_LSH: u8 = 0x60;
/// `BPF_RSH`.
pub const BPF_RSH: u8 = 0x70;
/// `BPF_NEG`.
pub const BPF_NEG: u8 = 0x80;
/// `BPF_MOD` (`off == 1`: signed).
pub const BPF_MOD: u8 = 0x90;
/// `BPF_XOR`.
pub const BPF_XOR: u8 = 0xa0;
/// `BPF_MOV` (`off` 8/16/32: sign-extending `movsx`).
pub const BPF_MOV: u8 = 0xb0;
/// `BPF_ARSH`.
pub const BPF_ARSH: u8 = 0xc0;
/// `BPF_END`: byte swap (`ALU64|END` is the unconditional `bswap`).
pub const BPF_END: u8 = 0xd0;

// ---- jump operations: `BPF_OP(code)` -----------------------------------------------------

/// `BPF_JA`: unconditional jump (`JMP`: by `off`; `JMP32`: `gotol`, by `imm`).
pub const BPF_JA: u8 = 0x00;
/// `BPF_JEQ`.
pub const BPF_JEQ: u8 = 0x10;
/// `BPF_JGT`.
pub const BPF_JGT: u8 = 0x20;
/// `BPF_JGE`.
pub const BPF_JGE: u8 = 0x30;
/// `BPF_JSET`.
pub const BPF_JSET: u8 = 0x40;
/// `BPF_JNE`.
pub const BPF_JNE: u8 = 0x50;
/// `BPF_JSGT`.
pub const BPF_JSGT: u8 = 0x60;
/// `BPF_JSGE`.
pub const BPF_JSGE: u8 = 0x70;
/// `BPF_CALL`: helper (`src 0`), bpf-to-bpf (`src 1`) or kfunc (`src 2`) call.
pub const BPF_CALL: u8 = 0x80;
/// `BPF_EXIT`.
pub const BPF_EXIT: u8 = 0x90;
/// `BPF_JLT`.
pub const BPF_JLT: u8 = 0xa0;
/// `BPF_JLE`.
pub const BPF_JLE: u8 = 0xb0;
/// `BPF_JSLT`.
pub const BPF_JSLT: u8 = 0xc0;
/// `BPF_JSLE`.
pub const BPF_JSLE: u8 = 0xd0;
/// `BPF_JCOND`: pseudo conditional jump (`may_goto`, `src_reg == BPF_MAY_GOTO`).
pub const BPF_JCOND: u8 = 0xe0;

// ---- load/store size: `BPF_SIZE(code)`, bits 3..5 ----------------------------------------

/// `BPF_W`: 4 bytes.
pub const BPF_W: u8 = 0x00;
/// `BPF_H`: 2 bytes.
pub const BPF_H: u8 = 0x08;
/// `BPF_B`: 1 byte.
pub const BPF_B: u8 = 0x10;
/// `BPF_DW`: 8 bytes.
pub const BPF_DW: u8 = 0x18;

// ---- load/store mode: `BPF_MODE(code)`, the high 3 bits -----------------------------------

/// `BPF_IMM`: immediate (`ld_imm64`).
pub const BPF_IMM: u8 = 0x00;
/// `BPF_ABS`: legacy packet access at an absolute offset.
pub const BPF_ABS: u8 = 0x20;
/// `BPF_IND`: legacy packet access at a register-relative offset.
pub const BPF_IND: u8 = 0x40;
/// `BPF_MEM`: plain memory access.
pub const BPF_MEM: u8 = 0x60;
/// `BPF_MEMSX`: sign-extending load.
pub const BPF_MEMSX: u8 = 0x80;
/// `BPF_ATOMIC`: atomic operation, the operation in `imm`.
pub const BPF_ATOMIC: u8 = 0xc0;

/// `BPF_LD | BPF_IMM | BPF_DW`: the first half of the two-slot 64-bit immediate load.
pub const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;

/// `BPF_FUNC_tail_call`: the helper id of `bpf_tail_call` (an ordinary helper call to
/// `check_cfg`).
pub const BPF_FUNC_TAIL_CALL: i32 = 12;

/// `BPF_CLASS(code)`.
pub const fn class(code: u8) -> u8 {
    code & 0x07
}

/// `BPF_OP(code)`: the ALU or jump operation, `code & 0xf0`.
pub const fn op(code: u8) -> u8 {
    code & 0xf0
}

/// `BPF_SRC(code)`.
pub const fn src_kind(code: u8) -> u8 {
    code & 0x08
}

/// `BPF_SIZE(code)`.
pub const fn size(code: u8) -> u8 {
    code & 0x18
}

/// `BPF_MODE(code)`.
pub const fn mode(code: u8) -> u8 {
    code & 0xe0
}

/// `struct bpf_insn`. `dst` and `src` are 4-bit fields in the encoding: `to_bytes` keeps only
/// their low nibble, `from_bytes` yields values 0..=15.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Insn {
    /// `code`: class, operation/size, source/mode.
    pub code: u8,
    /// `dst_reg`.
    pub dst: u8,
    /// `src_reg` (for `ld_imm64` and calls: the `BPF_PSEUDO_*` kind).
    pub src: u8,
    /// `off`: signed jump or memory offset.
    pub off: i16,
    /// `imm`: signed immediate.
    pub imm: i32,
}

impl Insn {
    /// Decodes one `struct bpf_insn` from its 8 little-endian bytes.
    pub fn from_bytes(b: &[u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Encodes as the 8 bytes the kernel copies from user space (and hashes for the tag).
    pub fn to_bytes(&self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// `BPF_RAW_INSN(code, dst, src, off, imm)`.
    pub const fn raw(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// `bpf_is_ldimm64()`: the first half of a 64-bit immediate load (`code == 0x18`).
    pub const fn is_ldimm64(&self) -> bool {
        self.code == LD_IMM64
    }

    /// `BPF_CLASS(insn->code)`.
    pub const fn class(&self) -> u8 {
        class(self.code)
    }

    /// `BPF_MOV64_IMM(dst, imm)`.
    pub const fn mov64_imm(dst: u8, imm: i32) -> Insn {
        Insn::raw(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
    }

    /// `BPF_MOV64_REG(dst, src)`.
    pub const fn mov64_reg(dst: u8, src: u8) -> Insn {
        Insn::raw(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
    }

    /// `BPF_ALU64_IMM(op, dst, imm)`.
    pub const fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::raw(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm)
    }

    /// `BPF_ALU32_IMM(op, dst, imm)`.
    pub const fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::raw(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
    }

    /// `BPF_EXIT_INSN()`.
    pub const fn exit() -> Insn {
        Insn::raw(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }

    /// `BPF_JMP_A(off)`: `goto +off`.
    pub const fn ja(off: i16) -> Insn {
        Insn::raw(BPF_JMP | BPF_JA, 0, 0, off, 0)
    }

    /// `BPF_JMP32_A(imm)`: `gotol +imm` (offset in `imm`).
    pub const fn ja32(imm: i32) -> Insn {
        Insn::raw(BPF_JMP32 | BPF_JA, 0, 0, 0, imm)
    }

    /// `BPF_JMP_IMM(op, dst, imm, off)`: `if dst <op> imm goto +off`.
    pub const fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
        Insn::raw(BPF_JMP | op | BPF_K, dst, 0, off, imm)
    }

    /// `BPF_JMP_REG(op, dst, src, off)`: `if dst <op> src goto +off`.
    pub const fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::raw(BPF_JMP | op | BPF_X, dst, src, off, 0)
    }

    /// `BPF_JMP32_IMM(op, dst, imm, off)`.
    pub const fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
        Insn::raw(BPF_JMP32 | op | BPF_K, dst, 0, off, imm)
    }

    /// `BPF_JMP_IMM(BPF_JEQ, dst, imm, off)`.
    pub const fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::jmp_imm(BPF_JEQ, dst, imm, off)
    }

    /// `BPF_EMIT_CALL(id)`: call helper `id`.
    pub const fn call_helper(id: i32) -> Insn {
        Insn::raw(BPF_JMP | BPF_CALL, 0, 0, 0, id)
    }

    /// `BPF_CALL_REL(off)`: bpf-to-bpf call (`src_reg = BPF_PSEUDO_CALL`) of the subprogram
    /// starting at `this + off + 1`.
    pub const fn call_pseudo(off: i32) -> Insn {
        Insn::raw(BPF_JMP | BPF_CALL, 0, crate::uapi::pseudo::CALL, 0, off)
    }

    /// `BPF_CALL_KFUNC(off, btf_id)`: kfunc call (`src_reg = BPF_PSEUDO_KFUNC_CALL`).
    pub const fn call_kfunc(btf_id: i32, off: i16) -> Insn {
        Insn::raw(
            BPF_JMP | BPF_CALL,
            0,
            crate::uapi::pseudo::KFUNC_CALL,
            off,
            btf_id,
        )
    }

    /// `BPF_LD_IMM64_RAW_FULL(dst, src, 0, 0, imm1, imm2)`: both halves of an `ld_imm64`.
    pub const fn ld_imm64_raw(dst: u8, src: u8, imm_lo: i32, imm_hi: i32) -> [Insn; 2] {
        [
            Insn::raw(LD_IMM64, dst, src, 0, imm_lo),
            Insn::raw(0, 0, 0, 0, imm_hi),
        ]
    }

    /// `BPF_LD_IMM64(dst, value)`: `dst = value` (plain 64-bit constant, `src_reg = 0`).
    pub const fn ld_imm64(dst: u8, value: u64) -> [Insn; 2] {
        Insn::ld_imm64_raw(dst, 0, value as u32 as i32, (value >> 32) as u32 as i32)
    }

    /// `BPF_LD_MAP_FD(dst, fd)`: `dst = map` (`src_reg = BPF_PSEUDO_MAP_FD`).
    pub const fn ld_map_fd(dst: u8, fd: i32) -> [Insn; 2] {
        Insn::ld_imm64_raw(dst, crate::uapi::pseudo::MAP_FD, fd, 0)
    }

    /// `BPF_LD_MAP_VALUE(dst, fd, off)`: `dst = &map->value[off]`
    /// (`src_reg = BPF_PSEUDO_MAP_VALUE`, offset in the second half's `imm`).
    pub const fn ld_map_value(dst: u8, fd: i32, off: i32) -> [Insn; 2] {
        Insn::ld_imm64_raw(dst, crate::uapi::pseudo::MAP_VALUE, fd, off)
    }

    /// `dst = &subprog` (`src_reg = BPF_PSEUDO_FUNC`): the callback address of the
    /// subprogram starting at `this + off + 1`.
    pub const fn ld_func(dst: u8, off: i32) -> [Insn; 2] {
        Insn::ld_imm64_raw(dst, crate::uapi::pseudo::FUNC, off, 0)
    }

    /// `BPF_LDX_MEM(size, dst, src, off)`: `dst = *(size *)(src + off)`.
    pub const fn ldx_mem(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::raw(BPF_LDX | BPF_MEM | size, dst, src, off, 0)
    }

    /// `BPF_STX_MEM(size, dst, src, off)`: `*(size *)(dst + off) = src`.
    pub const fn stx_mem(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::raw(BPF_STX | BPF_MEM | size, dst, src, off, 0)
    }

    /// `BPF_ST_MEM(size, dst, off, imm)`: `*(size *)(dst + off) = imm`.
    pub const fn st_mem(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
        Insn::raw(BPF_ST | BPF_MEM | size, dst, 0, off, imm)
    }
}

/// Splits user-space program bytes into instructions, as the kernel's
/// `copy_from_bpfptr(prog->insns, …, bpf_prog_insn_size(prog))` in
/// `kernel/bpf/syscall.c bpf_prog_load` reinterprets them. Trailing bytes that do not fill a
/// whole instruction are ignored (the syscall passes `insn_cnt`, never a byte length).
pub fn decode(bytes: &[u8]) -> Vec<Insn> {
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            Insn::from_bytes(&b)
        })
        .collect()
}

/// Encodes instructions back into the bytes user space would pass (`insn_cnt * 8` bytes).
pub fn encode(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_layout_is_struct_bpf_insn() {
        let i = Insn::raw(0xbf, 1, 10, -2, -3);
        let b = i.to_bytes();
        assert_eq!(b, [0xbf, 0xa1, 0xfe, 0xff, 0xfd, 0xff, 0xff, 0xff]);
        assert_eq!(Insn::from_bytes(&b), i);
    }

    #[test]
    fn mov_exit_encoding_matches_kernel_bytes() {
        let bytes = encode(&[Insn::mov64_imm(0, 0), Insn::exit()]);
        assert_eq!(
            bytes,
            [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn decode_ignores_trailing_partial_insn() {
        let mut bytes = encode(&[Insn::exit()]);
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode(&bytes), vec![Insn::exit()]);
        assert!(decode(&[]).is_empty());
    }

    #[test]
    fn decode_encode_round_trip_every_byte_pattern_of_byte1() {
        for b1 in 0..=255u8 {
            let bytes = [0x18, b1, 0x34, 0x12, 1, 2, 3, 4];
            assert_eq!(Insn::from_bytes(&bytes).to_bytes(), bytes);
        }
    }

    #[test]
    fn ld_imm64_constructors() {
        let [a, b] = Insn::ld_imm64(3, 0x1122_3344_5566_7788);
        assert_eq!((a.code, a.dst, a.src, a.imm), (0x18, 3, 0, 0x5566_7788));
        assert_eq!(b, Insn::raw(0, 0, 0, 0, 0x1122_3344));
        let [m, n] = Insn::ld_map_value(1, 7, 8);
        assert_eq!((m.src, m.imm, n.imm), (2, 7, 8));
    }
}

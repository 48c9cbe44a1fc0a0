//! The program tag and digest: `kernel/bpf/core.c bpf_prog_calc_tag`, the first statement of
//! `kernel/bpf/verifier.c resolve_pseudo_ldimm64`. It hashes the instructions exactly as user
//! space supplied them (before map fds are resolved and before any verifier rewrite), with
//! the unstable parts of map references masked out.
//!
//! Linux 6.18 stores the full SHA-256 in `prog->digest[32]` (compared against an exclusive
//! map's `excl_prog_hash`); the tag (`bpf_prog_info.tag`, fdinfo `prog_tag`) is its first 8
//! bytes. Up to 6.17 the kernel used SHA-1 and kept only the 8-byte tag. On 6.12 it ran
//! `sha1_transform` over blocks it padded itself (`0x80`, zeros, the big-endian bit length
//! in the last 8 bytes of the final block, an extra block when fewer than 8 bytes remain) —
//! the FIPS 180 padding, so the result is the standard SHA-1 digest (checked by a test
//! below); later kernels call the `sha1()` library directly.

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::insn::{Insn, LD_IMM64, encode};
use crate::uapi::pseudo;

/// Which hash the modeled kernel uses for the tag.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TagHash {
    /// Linux 6.18 and later: SHA-256 (`sha256()` into `prog->digest`).
    Sha256,
    /// Linux 6.17 and earlier: SHA-1 (`sha1()`, or `sha1_transform` on ≤ 6.12).
    Sha1,
}

/// The instructions as `bpf_prog_calc_tag` hashes them: a copy in which every
/// `BPF_LD|BPF_IMM|BPF_DW` with `src_reg` `BPF_PSEUDO_MAP_FD` (1) or `BPF_PSEUDO_MAP_VALUE`
/// (2) has `imm = 0`, and so has the instruction right after it when that one looks like a
/// second half (`code`, `dst_reg`, `src_reg`, `off` all zero) — the map fd and the
/// `MAP_VALUE` offset are excluded. `MAP_IDX` (5), `MAP_IDX_VALUE` (6), `BTF_ID` (3) and
/// `FUNC` (4) loads are hashed as is.
///
/// The kernel's scan is a small state machine (`was_ld_map`), reproduced exactly: an
/// instruction that directly follows a masked first half is never itself treated as a
/// first half, even if it is one.
pub fn masked_insns(insns: &[Insn]) -> Vec<Insn> {
    let mut out = insns.to_vec();
    let mut was_ld_map = false;
    for insn in &mut out {
        if !was_ld_map
            && insn.code == LD_IMM64
            && (insn.src == pseudo::MAP_FD || insn.src == pseudo::MAP_VALUE)
        {
            was_ld_map = true;
            insn.imm = 0;
        } else if was_ld_map && insn.code == 0 && insn.dst == 0 && insn.src == 0 && insn.off == 0 {
            was_ld_map = false;
            insn.imm = 0;
        } else {
            was_ld_map = false;
        }
    }
    out
}

/// `prog->digest` of `kernel/bpf/core.c bpf_prog_calc_tag`: the hash of the
/// [`masked_insns`] as their raw 8-byte encodings. SHA-1's 20 bytes are zero-padded to 32
/// (≤ 6.17 kernels keep only the tag, so the padding is never observable).
pub fn prog_digest(insns: &[Insn], hash: TagHash) -> [u8; 32] {
    let bytes = encode(&masked_insns(insns));
    let mut digest = [0u8; 32];
    match hash {
        TagHash::Sha256 => digest.copy_from_slice(&Sha256::digest(&bytes)),
        TagHash::Sha1 => digest[..20].copy_from_slice(&Sha1::digest(&bytes)),
    }
    digest
}

/// `prog->tag` (`BPF_TAG_SIZE` = 8 bytes), as `bpf_prog_info.tag` and fdinfo `prog_tag`
/// report it: the first 8 bytes of [`prog_digest`].
pub fn prog_tag(insns: &[Insn], hash: TagHash) -> [u8; 8] {
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&prog_digest(insns, hash)[..8]);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prog::insn::decode;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn mov0_exit() -> Vec<Insn> {
        decode(&[0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])
    }

    fn with_map(fd: i32) -> Vec<Insn> {
        let [a, b] = Insn::ld_map_fd(1, fd);
        vec![a, b, Insn::mov64_imm(0, 0), Insn::exit()]
    }

    #[test]
    fn tag_sha256_of_mov0_exit_matches_real_6_18_kernel() {
        assert_eq!(
            hex(&prog_tag(&mov0_exit(), TagHash::Sha256)),
            "59f4a931744dcdc6"
        );
    }

    #[test]
    fn tag_sha1_of_mov0_exit_matches_sha1_kernels() {
        assert_eq!(
            hex(&prog_tag(&mov0_exit(), TagHash::Sha1)),
            "a04f5eef06a7f555"
        );
    }

    #[test]
    fn digest_is_full_sha256_and_sha1_zero_padded() {
        let d = prog_digest(&mov0_exit(), TagHash::Sha256);
        assert_eq!(hex(&d[..8]), "59f4a931744dcdc6");
        assert_ne!(d[20..], [0u8; 12]);
        let d1 = prog_digest(&mov0_exit(), TagHash::Sha1);
        assert_eq!(d1[20..], [0u8; 12]);
    }

    #[test]
    fn masking_map_fd_is_excluded_from_tag() {
        for h in [TagHash::Sha256, TagHash::Sha1] {
            assert_eq!(prog_tag(&with_map(3), h), prog_tag(&with_map(9999), h));
        }
    }

    #[test]
    fn masking_map_value_fd_and_offset_are_excluded() {
        let prog = |fd, off| {
            let [a, b] = Insn::ld_map_value(1, fd, off);
            vec![a, b, Insn::mov64_imm(0, 0), Insn::exit()]
        };
        let t = prog_tag(&prog(3, 0), TagHash::Sha256);
        assert_eq!(t, prog_tag(&prog(4, 8), TagHash::Sha256));
        // Equal to the hash of the program with both imms zeroed by hand.
        let zeroed = prog(0, 0);
        assert_eq!(t, Sha256::digest(encode(&zeroed))[..8]);
    }

    #[test]
    fn masking_map_idx_is_not_masked() {
        let prog = |src, idx| {
            let [a, b] = Insn::ld_imm64_raw(1, src, idx, 0);
            vec![a, b, Insn::mov64_imm(0, 0), Insn::exit()]
        };
        for src in [
            pseudo::MAP_IDX,
            pseudo::MAP_IDX_VALUE,
            pseudo::BTF_ID,
            pseudo::FUNC,
            0,
        ] {
            assert_ne!(
                prog_tag(&prog(src, 0), TagHash::Sha256),
                prog_tag(&prog(src, 1), TagHash::Sha256)
            );
        }
        let [a, _] = Insn::ld_imm64_raw(1, pseudo::MAP_IDX_VALUE, 0, 0);
        let with_off = |off| vec![a, Insn::raw(0, 0, 0, 0, off), Insn::exit()];
        assert_ne!(
            prog_tag(&with_off(0), TagHash::Sha256),
            prog_tag(&with_off(8), TagHash::Sha256)
        );
    }

    #[test]
    fn masking_second_half_only_when_it_looks_like_one() {
        let [a, _] = Insn::ld_map_fd(1, 5);
        let bad_half = Insn::raw(0, 1, 0, 0, 77);
        let masked = masked_insns(&[a, bad_half]);
        assert_eq!((masked[0].imm, masked[1].imm), (0, 77));
        // An unpaired map load at the end: its imm is still masked.
        assert_eq!(masked_insns(&[a])[0].imm, 0);
    }

    #[test]
    fn masking_state_machine_skips_insn_right_after_first_half() {
        // Two map first halves back to back: the second is not masked (was_ld_map).
        let [a, _] = Insn::ld_map_fd(1, 5);
        let m = masked_insns(&[a, a, a]);
        assert_eq!((m[0].imm, m[1].imm, m[2].imm), (0, 5, 0));
    }

    /// `sha1_transform` (`lib/crypto/sha1.c`): one 64-byte block into the 5-word state.
    fn sha1_transform(h: &mut [u32; 5], block: &[u8]) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = *h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i / 20 {
                0 => ((b & c) | (!b & d), 0x5a82_7999),
                1 => (b ^ c ^ d, 0x6ed9_eba1),
                2 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }

    /// The ≤ 6.12 kernel's own padding (`bpf_prog_calc_tag` with `sha1_transform`) gives the
    /// standard SHA-1 digest for every program length.
    #[test]
    fn sha1_kernel_padding_equals_standard_sha1() {
        for n in 0..40usize {
            let insns: Vec<Insn> = (0..n)
                .map(|i| Insn::mov64_imm((i % 10) as u8, i as i32 * 7919))
                .collect();
            let mut raw = encode(&insns);
            // raw[psize++] = 0x80; bsize = round_up(psize, 64); the bit count goes in the
            // last 8 bytes of block bsize/64, or of one extra block if fewer than 8 remain.
            let bits = (raw.len() as u64) * 8;
            raw.push(0x80);
            let psize = raw.len();
            let mut bsize = psize.div_ceil(64) * 64;
            if bsize - psize < 8 {
                bsize += 64;
            }
            raw.resize(bsize, 0);
            raw[bsize - 8..].copy_from_slice(&bits.to_be_bytes());
            let mut h = [
                0x6745_2301u32,
                0xefcd_ab89,
                0x98ba_dcfe,
                0x1032_5476,
                0xc3d2_e1f0,
            ];
            for block in raw.chunks_exact(64) {
                sha1_transform(&mut h, block);
            }
            let kernel: Vec<u8> = h.iter().flat_map(|w| w.to_be_bytes()).collect();
            assert_eq!(kernel[..8], prog_tag(&insns, TagHash::Sha1), "n = {n}");
            assert_eq!(
                kernel[..],
                prog_digest(&insns, TagHash::Sha1)[..20],
                "n = {n}"
            );
        }
    }
}

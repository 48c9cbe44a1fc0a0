//! Randomized tests of `super`: a deterministic LCG corpus that must never panic any pass,
//! and `check_cfg` against a breadth-first reachability reference model.

use super::tests::{all, ldimm};
use super::*;
use crate::prog::tag::{TagHash, prog_digest, prog_tag};

// ---- totality: no input panics ----------------------------------------------------------

/// Deterministic 64-bit LCG (Knuth's MMIX constants), so the corpus is the same every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }
}

/// A random instruction, biased toward jump/call/ld_imm64/exit codes and small offsets so
/// the interesting paths run, not just "unknown opcode".
fn random_insn(rng: &mut Lcg, len: usize) -> Insn {
    let r = rng.next();
    let code = match r % 8 {
        0 => 0x18,
        1 => 0x95,
        2 => 0x85,
        3 => [0x05, 0x06, 0x15, 0x1d, 0x16, 0xe5, 0x0d][(r >> 3) as usize % 7],
        4 => 0,
        _ => (r >> 8) as u8,
    };
    let small = |x: u64| (x % (2 * len as u64 + 4)) as i64 - len as i64 - 2;
    let (off, imm) = if (r >> 16) % 4 == 0 {
        ((r >> 20) as i16, (r >> 36) as i32)
    } else {
        (small(r >> 20) as i16, small(r >> 36) as i32)
    };
    Insn {
        code,
        dst: (r >> 56) as u8 & 0xf,
        src: ((r >> 60) as u8) % 8,
        off,
        imm,
    }
}

#[test]
fn random_programs_never_panic() {
    let mut rng = Lcg(0x5eed);
    let mut outcomes = [0usize; 4];
    for n in 0..10_000 {
        let len = (rng.next() % 24) as usize;
        let insns: Vec<Insn> = if n % 4 == 0 {
            // Raw random bytes, decoded.
            let bytes: Vec<u8> = (0..len * 8 + (n % 8)).map(|_| rng.next() as u8).collect();
            crate::prog::insn::decode(&bytes)
        } else {
            (0..len).map(|_| random_insn(&mut rng, len)).collect()
        };
        let starts = check_subprogs(&insns);
        let ld = ldimm(&insns);
        let cfg_strict = check_cfg(&insns, starts.as_deref().unwrap_or(&[0]), false);
        let cfg_priv = check_cfg(&insns, &[0], true);
        let _ = (
            prog_tag(&insns, TagHash::Sha1),
            prog_digest(&insns, TagHash::Sha256),
        );
        let full = all(&insns, n % 2 == 0);
        for (k, r) in [starts.map(|_| ()), ld, cfg_strict.and(cfg_priv), full]
            .into_iter()
            .enumerate()
        {
            outcomes[k] += usize::from(r.is_ok());
        }
    }
    // The corpus must exercise both outcomes of every pass, or it tests nothing.
    assert!(
        outcomes.iter().all(|&ok| ok > 20 && ok < 9_980),
        "{outcomes:?}"
    );
}

/// Reference model of `check_cfg` with back-edges allowed: plain breadth-first
/// reachability from insn 0 over a set-based successor function, then the same scan.
fn reference_cfg_ok(insns: &[Insn]) -> bool {
    let len = insns.len() as i64;
    let mut seen = vec![false; insns.len()];
    let mut queue = std::collections::VecDeque::new();
    if len > 0 {
        seen[0] = true;
        queue.push_back(0usize);
    }
    while let Some(t) = queue.pop_front() {
        let i = insns[t];
        let ti = t as i64;
        let succ: Vec<i64> = if i.code == LD_IMM64 && i.src == pseudo::FUNC {
            vec![ti + 2, ti + i64::from(i.imm) + 1]
        } else if i.class() != BPF_JMP && i.class() != BPF_JMP32 {
            vec![ti + if i.is_ldimm64() { 2 } else { 1 }]
        } else {
            match op(i.code) {
                BPF_EXIT => vec![],
                BPF_CALL if i.src == pseudo::CALL => vec![ti + 1, ti + i64::from(i.imm) + 1],
                BPF_CALL => vec![ti + 1],
                BPF_JA if src_kind(i.code) == BPF_X => return false,
                BPF_JA if i.class() == BPF_JMP32 => vec![ti + i64::from(i.imm) + 1],
                BPF_JA => vec![ti + i64::from(i.off) + 1],
                _ => vec![ti + 1, ti + i64::from(i.off) + 1],
            }
        };
        for w in succ {
            if w < 0 || w >= len {
                return false;
            }
            if !seen[w as usize] {
                seen[w as usize] = true;
                queue.push_back(w as usize);
            }
        }
    }
    let mut i = 0;
    while i < insns.len() {
        if !seen[i] {
            return false;
        }
        if insns[i].is_ldimm64() && i + 1 < insns.len() {
            if seen[i + 1] {
                return false;
            }
            i += 1;
        }
        i += 1;
    }
    true
}

#[test]
fn cfg_matches_reachability_reference_when_back_edges_allowed() {
    let mut rng = Lcg(0xcf6);
    let mut oks = 0;
    for _ in 0..20_000 {
        let len = 1 + (rng.next() % 12) as usize;
        let insns: Vec<Insn> = (0..len)
            .map(|_| {
                let mut i = random_insn(&mut rng, len);
                // Mostly real control flow, so many programs are well-formed.
                if rng.next() % 3 != 0 {
                    i.code =
                        [0xb7, 0x95, 0x05, 0x15, 0x06, 0x85, 0x18, 0x00][(rng.next() % 8) as usize];
                }
                i
            })
            .collect();
        let ok = check_cfg(&insns, &[0], true).is_ok();
        assert_eq!(ok, reference_cfg_ok(&insns), "{insns:?}");
        oks += usize::from(ok);
    }
    assert!(
        oks > 500,
        "only {oks} accepted programs: the corpus is too hostile"
    );
}

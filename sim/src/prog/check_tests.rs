//! Tests of `super` (the pre-verifier instruction checks), one per rule, named after it.
//! Most go through the `check_*` helpers below: a program in, the expected outcome (`Ok`
//! or errno, blamed insn, log line) out.

use super::*;

fn e(errno: Errno, insn: usize, msg: &str) -> CheckError {
    CheckError {
        errno,
        insn,
        msg: msg.into(),
    }
}

fn einval(insn: usize, msg: &str) -> Result<(), CheckError> {
    Err(e(Errno::EINVAL, insn, msg))
}

fn prog(parts: &[&[Insn]]) -> Vec<Insn> {
    parts.concat()
}

/// Runs `check_subprogs`, returning only the outcome.
fn subprogs(insns: &[Insn]) -> Result<(), CheckError> {
    check_subprogs(insns).map(|_| ())
}

/// Runs `check_ldimm64_and_opcodes` with a resolver that accepts every map reference.
pub(super) fn ldimm(insns: &[Insn]) -> Result<(), CheckError> {
    check_ldimm64_and_opcodes(insns, &mut |_, _, _| Ok(()))
}

/// Runs `check_cfg` without `CAP_BPF` (back-edges rejected).
fn cfg(insns: &[Insn]) -> Result<(), CheckError> {
    let starts = check_subprogs(insns).unwrap_or_else(|_| vec![0]);
    check_cfg(insns, &starts, false)
}

/// All three passes in the kernel's order, as `bpf_check` runs them for a privileged caller.
pub(super) fn all(insns: &[Insn], allow_back_edges: bool) -> Result<(), CheckError> {
    let starts = check_subprogs(insns)?;
    ldimm(insns)?;
    check_cfg(insns, &starts, allow_back_edges)
}

const EXIT: Insn = Insn::exit();
const MOV0: Insn = Insn::mov64_imm(0, 0);

// ---- check_subprogs ---------------------------------------------------------------------

#[test]
fn subprogs_main_only() {
    assert_eq!(check_subprogs(&[MOV0, EXIT]), Ok(vec![0]));
}

#[test]
fn subprogs_pseudo_call_adds_sorted_starts() {
    // 0: call +3 (-> 4); 1: call +4 (-> 6); 2: r0 = 0; 3: exit; 4-5: sub A; 6-7: sub B
    let p = [
        Insn::call_pseudo(3),
        Insn::call_pseudo(4),
        MOV0,
        EXIT,
        MOV0,
        EXIT,
        MOV0,
        EXIT,
    ];
    assert_eq!(check_subprogs(&p), Ok(vec![0, 4, 6]));
}

#[test]
fn subprogs_pseudo_func_ld_imm64_adds_start() {
    // 0-1 r2 = &subprog(0 + 3 + 1); 2 r0 = 0; 3 exit; 4-5 subprog
    let p = prog(&[&Insn::ld_func(2, 3), &[MOV0, EXIT], &[MOV0, EXIT]]);
    assert_eq!(check_subprogs(&p), Ok(vec![0, 4]));
}

#[test]
fn subprogs_call_to_invalid_destination() {
    assert_eq!(
        subprogs(&[Insn::call_pseudo(5), EXIT]),
        einval(0, "call to invalid destination")
    );
    assert_eq!(
        subprogs(&[MOV0, Insn::call_pseudo(-3), EXIT]),
        einval(1, "call to invalid destination")
    );
    assert_eq!(
        subprogs(&[Insn::call_pseudo(i32::MAX), EXIT]),
        einval(0, "call to invalid destination")
    );
    assert_eq!(
        subprogs(&[Insn::call_pseudo(i32::MIN), EXIT]),
        einval(0, "call to invalid destination")
    );
    let p = prog(&[&Insn::ld_func(1, 2), &[EXIT]]);
    assert_eq!(subprogs(&p), einval(0, "call to invalid destination"));
}

#[test]
fn subprogs_kfunc_call_rejected_without_btf() {
    let p = [Insn::call_kfunc(1234, 0), EXIT];
    assert_eq!(
        subprogs(&p),
        einval(0, "kernel btf_id 1234 is not a function")
    );
}

#[test]
fn subprogs_unprivileged_call_is_eperm() {
    let p = [Insn::call_pseudo(1), EXIT, MOV0, EXIT];
    let msg =
        "loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN";
    assert_eq!(check_subprogs_caps(&p, false), Err(e(Errno::EPERM, 0, msg)));
    assert_eq!(check_subprogs_caps(&p, true), Ok(vec![0, 2]));
    // EPERM wins over a bad target; plain programs are fine unprivileged.
    assert_eq!(
        check_subprogs_caps(&[Insn::call_pseudo(99), EXIT], false)
            .unwrap_err()
            .errno,
        Errno::EPERM
    );
    assert_eq!(check_subprogs_caps(&[MOV0, EXIT], false), Ok(vec![0]));
}

/// `n` subprograms: insn 0 calls each of the others, each is `r0 = 0; exit`.
fn many_subprogs(n: usize) -> Vec<Insn> {
    let calls = n - 1;
    let mut p: Vec<Insn> = (0..calls)
        .map(|i| Insn::call_pseudo((calls - i + 1 + 2 * i) as i32))
        .collect();
    p.extend([MOV0, EXIT]);
    for _ in 0..calls {
        p.extend([MOV0, EXIT]);
    }
    p
}

#[test]
fn subprogs_max_256_then_e2big() {
    let p = many_subprogs(BPF_MAX_SUBPROGS);
    assert_eq!(check_subprogs(&p).map(|s| s.len()), Ok(BPF_MAX_SUBPROGS));
    assert_eq!(all(&p, false), Ok(()));
    let p = many_subprogs(BPF_MAX_SUBPROGS + 1);
    assert_eq!(
        subprogs(&p),
        Err(e(Errno::E2BIG, 255, "too many subprograms"))
    );
}

#[test]
fn subprogs_duplicate_targets_count_once() {
    let p = [
        Insn::call_pseudo(3),
        Insn::call_pseudo(2),
        MOV0,
        EXIT,
        MOV0,
        EXIT,
    ];
    assert_eq!(check_subprogs(&p), Ok(vec![0, 4]));
}

#[test]
fn jump_out_of_range() {
    let p = [Insn::jeq_imm(1, 0, 5), MOV0, EXIT];
    assert_eq!(
        subprogs(&p),
        einval(0, "jump out of range from insn 0 to 6")
    );
    let p = [MOV0, Insn::ja(-3), EXIT];
    assert_eq!(
        subprogs(&p),
        einval(1, "jump out of range from insn 1 to -1")
    );
    let p = [MOV0, Insn::ja32(i32::MAX), EXIT];
    assert_eq!(
        subprogs(&p),
        einval(1, "jump out of range from insn 1 to -2147483647")
    );
}

#[test]
fn jump_out_of_range_into_other_subprog() {
    // main: 0 call +2; 1 goto +1 (-> 3, in the subprog); 2 exit; sub: 3 r0=0; 4 exit
    let p = [Insn::call_pseudo(2), Insn::ja(1), EXIT, MOV0, EXIT];
    assert_eq!(
        subprogs(&p),
        einval(1, "jump out of range from insn 1 to 3")
    );
    // and from the subprog back into main
    let p = [Insn::call_pseudo(1), EXIT, Insn::jeq_imm(1, 0, -3), EXIT];
    assert_eq!(
        subprogs(&p),
        einval(2, "jump out of range from insn 2 to 0")
    );
}

#[test]
fn jump_out_of_range_checks_bogus_jump_class_codes() {
    // 0xf5 is not an opcode, but check_subprogs runs first and treats it as a jump.
    let p = [Insn::raw(0xf5, 0, 0, 9, 0), EXIT];
    assert_eq!(
        subprogs(&p),
        einval(0, "jump out of range from insn 0 to 10")
    );
    // JMP32 EXIT/CALL (also not opcodes) are skipped like JMP ones.
    assert_eq!(subprogs(&[Insn::raw(0x86, 0, 0, 99, 0), EXIT]), Ok(()));
}

#[test]
fn last_insn_is_not_an_exit_or_jmp() {
    assert_eq!(
        subprogs(&[MOV0]),
        einval(0, "last insn is not an exit or jmp")
    );
    assert_eq!(
        subprogs(&[MOV0, Insn::jeq_imm(0, 0, -2)]),
        einval(1, "last insn is not an exit or jmp")
    );
    // Each subprogram, not just the last one: main falls into the subprogram.
    let p = [Insn::call_pseudo(1), MOV0, MOV0, EXIT];
    assert_eq!(subprogs(&p), einval(1, "last insn is not an exit or jmp"));
    // A call is not an exit.
    assert_eq!(
        subprogs(&[Insn::call_helper(5)]),
        einval(0, "last insn is not an exit or jmp")
    );
}

#[test]
fn last_insn_may_be_ja_or_gotol() {
    assert_eq!(subprogs(&[MOV0, EXIT, Insn::ja(-3)]), Ok(()));
    assert_eq!(subprogs(&[MOV0, EXIT, Insn::ja32(-3)]), Ok(()));
}

#[test]
fn subprogs_empty_program_is_einval() {
    assert_eq!(subprogs(&[]), einval(0, "call to invalid destination"));
}

// ---- check_ldimm64_and_opcodes ----------------------------------------------------------

#[test]
fn ldx_uses_reserved_fields() {
    let ok = Insn::ldx_mem(BPF_W, 0, 1, 0);
    assert_eq!(ldimm(&[ok, EXIT]), Ok(()));
    let imm = Insn { imm: 1, ..ok };
    assert_eq!(
        ldimm(&[imm, EXIT]),
        einval(0, "BPF_LDX uses reserved fields")
    );
    let memsx = Insn::raw(BPF_LDX | BPF_MEMSX | BPF_B, 0, 1, 0, 0);
    assert_eq!(ldimm(&[memsx, EXIT]), Ok(()));
    // LDX|ABS: the reserved-field check fires before the opcode whitelist.
    let abs = Insn::raw(BPF_LDX | BPF_ABS | BPF_W, 0, 1, 0, 0);
    assert_eq!(
        ldimm(&[abs, EXIT]),
        einval(0, "BPF_LDX uses reserved fields")
    );
    // MEMSX with DW is not an opcode but passes the LDX check.
    let memsx_dw = Insn::raw(BPF_LDX | BPF_MEMSX | BPF_DW, 0, 1, 0, 0);
    assert_eq!(ldimm(&[memsx_dw, EXIT]), einval(0, "unknown opcode 99"));
}

#[test]
fn invalid_bpf_ld_imm64_insn_truncated() {
    let [a, _] = Insn::ld_imm64(0, 1);
    assert_eq!(ldimm(&[MOV0, a]), einval(1, "invalid bpf_ld_imm64 insn"));
}

#[test]
fn invalid_bpf_ld_imm64_insn_bad_second_half() {
    let [a, b] = Insn::ld_imm64(0, 1);
    for bad in [
        Insn { code: 0x95, ..b },
        Insn { dst: 1, ..b },
        Insn { src: 1, ..b },
        Insn { off: 1, ..b },
    ] {
        assert_eq!(
            ldimm(&[a, bad, EXIT]),
            einval(0, "invalid bpf_ld_imm64 insn")
        );
    }
    // The second half's imm is the high word: anything goes.
    assert_eq!(ldimm(&[a, Insn { imm: -1, ..b }, EXIT]), Ok(()));
}

#[test]
fn ld_imm64_src_kinds() {
    let half = |src, lo, hi| prog(&[&Insn::ld_imm64_raw(1, src, lo, hi), &[EXIT]]);
    assert_eq!(ldimm(&half(0, 5, 6)), Ok(()));
    assert_eq!(ldimm(&half(pseudo::FUNC, 5, 6)), Ok(()));
    assert_eq!(ldimm(&half(pseudo::MAP_FD, 5, 0)), Ok(()));
    assert_eq!(ldimm(&half(pseudo::MAP_IDX, 5, 0)), Ok(()));
    assert_eq!(ldimm(&half(pseudo::MAP_VALUE, 5, 8)), Ok(()));
    assert_eq!(ldimm(&half(pseudo::MAP_IDX_VALUE, 5, 8)), Ok(()));
    assert_eq!(
        ldimm(&half(pseudo::BTF_ID, 5, 0)),
        einval(0, "pseudo btf_id 5 in ldimm64 isn't KIND_VAR or KIND_FUNC")
    );
}

#[test]
fn unrecognized_bpf_ld_imm64_insn() {
    let half = |src, hi| prog(&[&Insn::ld_imm64_raw(1, src, 3, hi), &[EXIT]]);
    assert_eq!(
        ldimm(&half(pseudo::MAP_FD, 1)),
        einval(0, "unrecognized bpf_ld_imm64 insn")
    );
    assert_eq!(
        ldimm(&half(pseudo::MAP_IDX, 1)),
        einval(0, "unrecognized bpf_ld_imm64 insn")
    );
    for src in 7..16 {
        assert_eq!(
            ldimm(&half(src, 0)),
            einval(0, "unrecognized bpf_ld_imm64 insn")
        );
    }
}

#[test]
fn ld_imm64_resolver_sees_map_refs_in_order_and_its_error_wins() {
    let p = prog(&[
        &Insn::ld_map_fd(1, 7),
        &Insn::ld_imm64(2, 9),
        &Insn::ld_map_value(3, 8, 16),
        &Insn::ld_imm64_raw(4, pseudo::MAP_IDX, 0, 0),
        &Insn::ld_imm64_raw(5, pseudo::MAP_IDX_VALUE, 1, 4),
        &Insn::ld_func(6, 0),
        &[EXIT],
    ]);
    let mut seen = Vec::new();
    let r = check_ldimm64_and_opcodes(&p, &mut |i, a, b| {
        seen.push((i, a.src, a.imm, b.imm));
        Ok(())
    });
    assert_eq!(r, Ok(()));
    assert_eq!(
        seen,
        [(0, 1, 7, 0), (4, 2, 8, 16), (6, 5, 0, 0), (8, 6, 1, 4)]
    );

    let r = check_ldimm64_and_opcodes(&p, &mut |i, _, _| {
        Err(e(Errno::EBADF, i, "fd 7 is not pointing to valid bpf_map"))
    });
    assert_eq!(
        r,
        Err(e(Errno::EBADF, 0, "fd 7 is not pointing to valid bpf_map"))
    );
}

#[test]
fn ld_imm64_second_half_is_not_opcode_checked() {
    // code 0 is not an opcode on its own ...
    assert_eq!(
        ldimm(&[Insn::raw(0, 0, 0, 0, 0), EXIT]),
        einval(0, "unknown opcode 00")
    );
    // ... but as a second half it is skipped.
    assert_eq!(ldimm(&prog(&[&Insn::ld_imm64(0, 0), &[EXIT]])), Ok(()));
}

#[test]
fn unknown_opcode() {
    assert_eq!(
        ldimm(&[Insn::raw(0xff, 0, 0, 0, 0), EXIT]),
        einval(0, "unknown opcode ff")
    );
    assert_eq!(
        ldimm(&[MOV0, Insn::raw(0x0d, 0, 0, 0, 0), EXIT]),
        einval(1, "unknown opcode 0d")
    );
    // The first problem in instruction order wins.
    let [a, _] = Insn::ld_imm64(0, 0);
    assert_eq!(
        ldimm(&[Insn::raw(0xdf, 0, 0, 0, 0), a]),
        einval(0, "unknown opcode df")
    );
}

// ---- check_cfg --------------------------------------------------------------------------

#[test]
fn cfg_straight_line_and_branches_ok() {
    let p = [MOV0, Insn::jeq_imm(1, 0, 1), MOV0, EXIT];
    assert_eq!(cfg(&p), Ok(()));
    let p = prog(&[&Insn::ld_imm64(0, 1), &[Insn::ja(0), EXIT]]);
    assert_eq!(cfg(&p), Ok(()));
}

#[test]
fn unreachable_insn() {
    let p = [MOV0, EXIT, MOV0, EXIT];
    assert_eq!(cfg(&p), einval(2, "unreachable insn 2"));
    let p = [MOV0, Insn::ja(1), MOV0, EXIT];
    assert_eq!(cfg(&p), einval(2, "unreachable insn 2"));
}

#[test]
fn unreachable_subprog_only_called_from_dead_code() {
    // 0 r0=0; 1 exit; 2 call +1 (dead); 3 exit;  sub at 4
    let p = [MOV0, EXIT, Insn::call_pseudo(1), EXIT, MOV0, EXIT];
    assert_eq!(all(&p, true), einval(2, "unreachable insn 2"));
}

#[test]
fn cfg_pseudo_call_and_func_reach_subprogs() {
    let p = [Insn::call_pseudo(1), EXIT, MOV0, EXIT];
    assert_eq!(all(&p, false), Ok(()));
    let p = prog(&[&Insn::ld_func(2, 3), &[MOV0, EXIT], &[MOV0, EXIT]]);
    assert_eq!(all(&p, false), Ok(()));
    // A helper call (the tail call too) only falls through.
    let p = [Insn::call_helper(BPF_FUNC_TAIL_CALL), MOV0, EXIT];
    assert_eq!(all(&p, false), Ok(()));
}

#[test]
fn jump_into_the_middle_of_ldimm64() {
    // 0 if r1 == 0 goto +2 (-> 3, the second half of insn 2); 1 r0=0; 2-3 ld_imm64; 4 exit
    let p = prog(&[
        &[Insn::jeq_imm(1, 0, 2), MOV0],
        &Insn::ld_imm64(0, 1),
        &[EXIT],
    ]);
    assert_eq!(
        all(&p, false),
        einval(2, "jump into the middle of ldimm64 insn 2")
    );
    // Backwards too (privileged, so the back-edge itself is fine).
    let p = prog(&[&Insn::ld_imm64(0, 1), &[Insn::jeq_imm(0, 0, -2), EXIT]]);
    assert_eq!(
        all(&p, true),
        einval(0, "jump into the middle of ldimm64 insn 0")
    );
}

#[test]
fn cfg_jump_out_of_range_found_during_walk() {
    // check_cfg alone (no check_subprogs first): the edge is checked when walked.
    assert_eq!(
        cfg(&[Insn::jeq_imm(0, 0, 7), EXIT]),
        einval(0, "jump out of range from insn 0 to 8")
    );
    assert_eq!(
        cfg(&[MOV0]),
        einval(0, "jump out of range from insn 0 to 1")
    );
    let [a, _] = Insn::ld_imm64(0, 1);
    assert_eq!(
        cfg(&[MOV0, a]),
        einval(1, "jump out of range from insn 1 to 3")
    );
    // Not walked, not checked: out-of-range jump in dead code is reported as unreachable.
    assert_eq!(cfg(&[EXIT, Insn::ja(100)]), einval(1, "unreachable insn 1"));
}

#[test]
fn back_edge_rejected_without_cap_bpf() {
    // 0 r0=0; 1 if r0 == 0 goto -2 (-> 0); 2 exit
    let p = [MOV0, Insn::jeq_imm(0, 0, -2), EXIT];
    assert_eq!(all(&p, false), einval(1, "back-edge from insn 1 to 0"));
    assert_eq!(all(&p, true), Ok(()));
    // Self-loop.
    let p = [Insn::ja(-1), EXIT];
    assert_eq!(
        check_cfg(&p, &[0], false),
        einval(0, "back-edge from insn 0 to 0")
    );
    // With back-edges allowed, the self-loop makes the exit unreachable.
    assert_eq!(check_cfg(&p, &[0], true), einval(1, "unreachable insn 1"));
}

#[test]
fn back_edge_via_recursive_call() {
    // The subprogram calls itself: an edge to an insn still on the DFS stack.
    let p = [Insn::call_pseudo(1), EXIT, Insn::call_pseudo(-1), EXIT];
    assert_eq!(all(&p, false), einval(2, "back-edge from insn 2 to 2"));
}

#[test]
fn cfg_forward_and_cross_edges_ok() {
    // Diamond: both arms join at insn 4.
    let p = [Insn::jeq_imm(1, 0, 2), MOV0, Insn::ja(1), MOV0, EXIT];
    assert_eq!(all(&p, false), Ok(()));
    // Two calls to the same subprogram.
    let p = [Insn::call_pseudo(2), Insn::call_pseudo(1), EXIT, MOV0, EXIT];
    assert_eq!(all(&p, false), Ok(()));
}

#[test]
fn cfg_gotol_uses_imm() {
    let p = [Insn::ja32(1), EXIT, EXIT];
    assert_eq!(all(&p, false), einval(1, "unreachable insn 1"));
    let p = [Insn::ja32(0), EXIT];
    assert_eq!(all(&p, false), Ok(()));
}

#[test]
fn cfg_empty_program_passes() {
    assert_eq!(check_cfg(&[], &[], false), Ok(()));
}

#[test]
fn deep_program_one_million_insns_straight_line() {
    let mut p = vec![MOV0; 999_999];
    p.push(EXIT);
    assert_eq!(all(&p, false), Ok(()));
}

#[test]
fn deep_program_one_million_insns_chain_of_branches() {
    // Every insn a conditional jump to the next-but-one: the DFS stack grows to ~1M.
    let n = 1_000_000;
    let mut p: Vec<Insn> = (0..n - 2).map(|_| Insn::jeq_imm(1, 0, 1)).collect();
    p.extend([MOV0, EXIT]);
    assert_eq!(all(&p, false), Ok(()));
    // And the same backwards with CAP_BPF: each insn jumps back to the start.
    let mut p: Vec<Insn> = vec![MOV0];
    p.extend((1..n - 1).map(|i| Insn::jeq_imm(1, 0, -((i % 30_000) as i16) - 1)));
    p.push(EXIT);
    assert_eq!(all(&p, true), Ok(()));
}

//! The fast path (pre-decoded ops, the budget charged per straight-line run) against the
//! reference path (every instruction through `Run::step`, the budget checked before each):
//! the same result or error, the same instruction count, the same bytes in every region and
//! live frame, on random programs, on every budget around a run's end, and on the corpus.

use super::tests_random::{Anything, Rng, insn};
use super::*;
use crate::prog::insn::*;

/// What a run leaves behind.
#[derive(Debug, PartialEq)]
struct Outcome {
    result: Result<u64, VmError>,
    executed: u64,
    regions: Vec<Vec<u8>>,
    frames: Vec<Vec<u8>>,
}

/// The address space both paths get: a writable packet, a read-only context and a writable
/// map value, `r1` = the packet.
fn memory() -> (Memory, [u64; 5]) {
    let mut mem = Memory::new();
    let pkt = mem
        .map((0..64).collect(), true, RegionKind::Packet)
        .expect("packet");
    mem.set_packet(Some(pkt));
    let ctx = mem
        .map(vec![0x5a; 24], false, RegionKind::Context)
        .expect("ctx");
    mem.map(vec![0; 16], true, RegionKind::MapValue)
        .expect("value");
    let args = [mem.region(pkt).base, 64, mem.region(ctx).base, 0, 0];
    (mem, args)
}

fn outcome(prog: &Program, budget: u64, reference: bool) -> Outcome {
    let (mut mem, args) = memory();
    let mut vm = Interpreter::with_budget(budget);
    let result = if reference {
        vm.run_reference(prog, args, &mut mem, &mut Anything)
    } else {
        vm.run(prog, args, &mut mem, &mut Anything)
    };
    Outcome {
        result,
        executed: vm.executed(),
        regions: mem.regions().map(|(_, r)| r.bytes.clone()).collect(),
        frames: (0..mem.frames())
            .filter_map(|i| mem.frame(i).map(<[u8]>::to_vec))
            .collect(),
    }
}

/// Both paths agree on `prog` with `budget`; returns the outcome.
fn agree(prog: &Program, budget: u64) -> Outcome {
    let fast = outcome(prog, budget, false);
    let reference = outcome(prog, budget, true);
    assert_eq!(fast, reference, "budget {budget}: {:#?}", prog.insns());
    fast
}

/// Rewrites some adjacent slots into the pairs the decoder fuses: `mov d, s` then an ALU64
/// operation on `d`, and `add d, k` then a 64-bit conditional jump on `d` (sometimes with
/// the registers or the operation not matching, so the near misses run too).
fn pairs(rng: &mut Rng, insns: &mut [Insn]) {
    let len = insns.len();
    for i in 0..len.saturating_sub(1) {
        let r = rng.next();
        if r % 3 != 0 {
            continue;
        }
        let d = (r >> 8) as u8 % 10;
        let s = (r >> 12) as u8 % 11;
        let d2 = if (r >> 16) % 8 == 0 { (d + 1) % 10 } else { d };
        let ops = [
            BPF_ADD, BPF_SUB, BPF_MUL, BPF_OR, BPF_AND, BPF_XOR, BPF_LSH, BPF_RSH, BPF_ARSH,
            BPF_DIV,
        ];
        let conds = [
            BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE, BPF_JSET, BPF_JSGT, BPF_JSGE,
            BPF_JSLT, BPF_JSLE,
        ];
        let imm = ((r >> 24) as i32 % 70) - 5;
        let x = (r >> 20) & 1 == 1;
        let off = ((r >> 32) % (len as u64 + 2)) as i16 - (i as i16 + 1);
        if (r >> 4) & 1 == 0 {
            let o = ops[(r >> 40) as usize % ops.len()];
            insns[i] = Insn::mov64_reg(d, s);
            insns[i + 1] = if x {
                // The source may be the copy itself: `mov d, s; d += d`.
                let s2 = [s, d, (r >> 48) as u8 % 11][(r >> 44) as usize % 3];
                Insn::raw(BPF_ALU64 | o | BPF_X, d2, s2, 0, 0)
            } else {
                Insn::alu64_imm(o, d2, imm)
            };
        } else {
            let c = conds[(r >> 40) as usize % conds.len()];
            insns[i] = Insn::alu64_imm(BPF_ADD, d, imm);
            insns[i + 1] = if x {
                Insn::jmp_reg(c, d2, s, off)
            } else {
                Insn::jmp_imm(c, d2, imm, off)
            };
        }
    }
}

#[test]
fn random_programs_run_the_same_on_both_paths() {
    let mut rng = Rng(0xfa57);
    let mut outcomes = [0usize; 2];
    let mut budget_stops = 0;
    let mut fused = 0;
    for _ in 0..6_000 {
        let len = 1 + (rng.next() % 32) as usize;
        let mut insns: Vec<Insn> = (0..len).map(|_| insn(&mut rng, len)).collect();
        pairs(&mut rng, &mut insns);
        let prog = Program::new(insns);
        let full = agree(&prog, 3_000);
        outcomes[full.result.is_ok() as usize] += 1;
        let ops = &prog.decoded.get().expect("decoded").ops;
        fused += ops.iter().filter(|op| op.insns() == 2).count();
        // Every budget up to the run's length and one past it: the stop must come before the
        // same instruction with the same count, wherever it falls inside a straight-line run.
        for budget in 0..=full.executed.min(40) + 1 {
            let o = agree(&prog, budget);
            budget_stops += matches!(o.result, Err(VmError::BudgetExceeded { .. })) as usize;
        }
    }
    assert!(outcomes[1] > 100, "some programs finish: {outcomes:?}");
    assert!(outcomes[0] > 100, "some programs fail: {outcomes:?}");
    assert!(budget_stops > 1_000, "budget stops: {budget_stops}");
    assert!(fused > 100, "fused ops: {fused}");
}

#[test]
fn loops_calls_and_faults_run_the_same_on_both_paths() {
    let [l0, l1] = Insn::ld_imm64(3, 0x1_0000_0001);
    let progs: Vec<Vec<Insn>> = vec![
        // A counted loop with an ld_imm64 inside the run, falling off the end after it.
        vec![
            Insn::mov64_imm(0, 0),
            Insn::alu64_imm(BPF_ADD, 0, 3),
            l0,
            l1,
            Insn::raw(BPF_ALU64 | BPF_ADD | BPF_X, 0, 3, 0, 0),
            Insn::jmp_imm(BPF_JLT, 0, 100, -5),
            Insn::mov64_imm(2, 0),
        ],
        // A subprogram that stores through the caller's stack, then a fault in the middle of
        // a run (r4 holds a scalar, not a pointer).
        vec![
            Insn::mov64_reg(1, 10),
            Insn::call_pseudo(4),
            Insn::ldx_mem(BPF_DW, 0, 10, -8),
            Insn::mov64_imm(4, 64),
            Insn::ldx_mem(BPF_B, 5, 4, 0),
            Insn::st_mem(BPF_DW, 1, -8, 7),
            Insn::mov64_imm(0, 1),
            Insn::exit(),
        ],
        // A store into the read-only context, after a few instructions.
        vec![
            Insn::mov64_imm(0, 1),
            Insn::mov64_imm(4, 2),
            Insn::raw(BPF_STX | BPF_MEM | BPF_W, 3, 4, 0, 0),
            Insn::exit(),
        ],
        // An infinite loop.
        vec![
            Insn::mov64_imm(0, 0),
            Insn::alu64_imm(BPF_ADD, 0, 1),
            Insn::ja(-2),
        ],
        // A subprogram whose exit returns to one past the end.
        vec![Insn::call_pseudo(0), Insn::exit()],
        // A tail call (the env answers by index: 2 = a program) then the new program's end.
        vec![
            Insn::mov64_imm(3, 2),
            Insn::call_helper(12),
            Insn::mov64_imm(0, 9),
            Insn::exit(),
        ],
    ];
    for p in progs {
        let prog = Program::new(p);
        let full = agree(&prog, 10_000);
        for budget in 0..=full.executed.min(700) + 1 {
            agree(&prog, budget);
        }
    }
}

#[test]
fn corpus_programs_run_the_same_on_both_paths() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    names.sort();
    let mut ran = 0;
    for path in names {
        let bytes = std::fs::read(&path).expect("read");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let obj = crate::loader::Object::parse(name, &bytes).expect("parse");
        let fds: Vec<i32> = (0..obj.maps.len() as i32).collect();
        for linked in crate::loader::relocate(&obj, &fds).expect("relocate") {
            let prog = Program::new(linked.insns);
            let full = agree(&prog, 100_000);
            agree(&prog, full.executed / 2);
            ran += 1;
        }
    }
    assert!(ran >= 15, "corpus programs: {ran}");
}

#[test]
fn the_decoded_form_is_made_once_and_shared_by_clones() {
    let prog = Program::new(vec![Insn::mov64_imm(0, 1), Insn::exit()]);
    let copy = prog.clone();
    assert!(prog.decoded.get().is_none());
    Interpreter::new()
        .run(&copy, [0; 5], &mut Memory::new(), &mut NoEnv)
        .expect("runs");
    let made = prog.decoded.get().expect("decoded by the run of a clone");
    Interpreter::new()
        .run(&prog, [0; 5], &mut Memory::new(), &mut NoEnv)
        .expect("runs");
    assert!(std::ptr::eq(made, prog.decoded.get().expect("still there")));
    assert_eq!(
        prog,
        Program::new(vec![Insn::mov64_imm(0, 1), Insn::exit()])
    );
}

//! Calls: bpf-to-bpf frames, tail calls, helpers, and what the environment resolves.

use super::tests::{region, run, run_in};
use super::*;
use crate::prog::insn::*;

#[test]
fn calls_get_fresh_frames_and_keep_callee_saved_registers() {
    let p = [
        Insn::mov64_imm(6, 6),
        Insn::mov64_imm(9, 9),
        Insn::st_mem(BPF_DW, 10, -8, 0x77),
        Insn::mov64_reg(1, 10),
        Insn::call_pseudo(5), // -> 9
        Insn::jeq_imm(6, 6, 1),
        Insn::mov64_imm(0, -1), // r6 lost
        Insn::exit(),
        Insn::exit(),
        // callee: r0 = its own fresh slot (0) + caller's slot via r1 (0x77) + differs(r10)
        Insn::mov64_imm(6, 0),
        Insn::mov64_imm(9, 0),
        Insn::ldx_mem(BPF_DW, 0, 10, -8),
        Insn::ldx_mem(BPF_DW, 2, 1, -8),
        Insn::alu64_imm(BPF_ADD, 0, 0),
        Insn::raw(BPF_ALU64 | BPF_ADD | BPF_X, 0, 2, 0, 0),
        Insn::st_mem(BPF_DW, 10, -8, 0x55),
        Insn::exit(),
    ];
    let mut mem = Memory::new();
    assert_eq!(run_in(&p, &mut mem, &mut NoEnv, [0; 5]), Ok(0x77));
    let after = [
        p[..5].to_vec(),
        vec![
            Insn::ldx_mem(BPF_DW, 0, 10, -8),
            Insn::alu64_imm(BPF_ADD, 0, 0),
            Insn::raw(BPF_ALU64 | BPF_ADD | BPF_X, 0, 9, 0, 0),
            Insn::exit(),
        ],
        p[9..].to_vec(),
    ]
    .concat();
    let fixed: Vec<Insn> = after
        .iter()
        .enumerate()
        .map(|(i, x)| if i == 4 { Insn::call_pseudo(4) } else { *x })
        .collect();
    assert_eq!(
        run(&fixed),
        Ok(0x77 + 9),
        "caller's slot and r9 survive the call"
    );
}

#[test]
fn call_depth_is_bounded_by_max_call_frames() {
    // f(n): if r1 == 0 return 0; r1 -= 1; call f; exit — main calls f(depth).
    let prog = |depth: i32| {
        vec![
            Insn::mov64_imm(1, depth),
            Insn::call_pseudo(1),
            Insn::exit(),
            Insn::jeq_imm(1, 0, 2),
            Insn::alu64_imm(BPF_SUB, 1, 1),
            Insn::call_pseudo(-3),
            Insn::mov64_imm(0, 5),
            Insn::exit(),
        ]
    };
    // main + 7 frames of f = MAX_CALL_FRAMES.
    assert_eq!(run(&prog(6)), Ok(5));
    assert_eq!(run(&prog(7)), Err(VmError::CallDepthExceeded { pc: 5 }));
}

/// A prog_array of one slot whose program bumps a counter in a global region, then tail
/// calls slot 0 again.
struct Chain {
    slot: Option<Program>,
    lookups: u32,
}

impl Env for Chain {
    fn tail_call(&mut self, map: u64, index: u32) -> Result<TailCallTarget, EnvError> {
        self.lookups += 1;
        match (map, index, &self.slot) {
            (0xa, 0, Some(p)) => Ok(TailCallTarget::Prog(p.clone())),
            (0xa, 0, None) => Ok(TailCallTarget::Empty),
            (0xa, 1, _) => Ok(TailCallTarget::Prog(Program::new(vec![
                Insn::mov64_imm(0, 99),
                Insn::exit(),
            ]))),
            (0xa, _, _) => Ok(TailCallTarget::OutOfRange),
            _ => Err(EnvError::NotProgArray { map }),
        }
    }
}

#[test]
fn tail_calls_stop_after_max_tail_call_cnt() {
    let body = vec![
        Insn::ld_imm64(6, 0)[0], // patched below
        Insn::ld_imm64(6, 0)[1],
        Insn::ldx_mem(BPF_DW, 0, 6, 0),
        Insn::alu64_imm(BPF_ADD, 0, 1),
        Insn::stx_mem(BPF_DW, 6, 0, 0),
        Insn::mov64_imm(2, 0xa),
        Insn::mov64_imm(3, 0),
        Insn::call_helper(BPF_FUNC_TAIL_CALL),
        Insn::exit(),
    ];
    let mut mem = Memory::new();
    let (_, g) = region(&mut mem, 8, true);
    mem.store(g, 8, 0).expect("zero");
    let mut p = body.clone();
    let [lo, hi] = Insn::ld_imm64(6, g);
    (p[0], p[1]) = (lo, hi);
    let prog = Program::new(p);
    let mut env = Chain {
        slot: Some(prog.clone()),
        lookups: 0,
    };
    let r0 = Interpreter::new().run(&prog, [0; 5], &mut mem, &mut env);
    assert_eq!(
        r0,
        Ok(MAX_TAIL_CALL_CNT as u64 + 1),
        "the first run plus 33 tail calls"
    );
    // `n` failed tail calls through slot `idx`, then one through slot 1 (a program returning
    // 99): empty slots count against the limit, out-of-range indexes do not.
    let tries = |idx: i32, n: i32| {
        let p = [
            Insn::mov64_imm(6, 0),
            Insn::mov64_imm(2, 0xa),
            Insn::mov64_imm(3, idx),
            Insn::call_helper(BPF_FUNC_TAIL_CALL),
            Insn::alu64_imm(BPF_ADD, 6, 1),
            Insn::jmp_imm(BPF_JLT, 6, n, -3),
            Insn::mov64_imm(3, 1),
            Insn::call_helper(BPF_FUNC_TAIL_CALL),
            Insn::mov64_imm(0, 7),
            Insn::exit(),
        ];
        let mut env = Chain {
            slot: None,
            lookups: 0,
        };
        run_in(&p, &mut Memory::new(), &mut env, [0; 5])
    };
    assert_eq!(
        tries(0, 32),
        Ok(99),
        "32 empty slots, then the 33rd call runs"
    );
    assert_eq!(tries(0, 33), Ok(7), "33 empty slots use up the count");
    assert_eq!(tries(5, 100), Ok(99), "out of range: not counted");
    let mut empty = Chain {
        slot: None,
        lookups: 0,
    };
    let bad = [
        Insn::mov64_imm(2, 0xb),
        Insn::call_helper(BPF_FUNC_TAIL_CALL),
        Insn::exit(),
    ];
    let got = run_in(&bad, &mut Memory::new(), &mut empty, [0; 5]);
    assert_eq!(
        got,
        Err(VmError::Env {
            pc: 1,
            error: EnvError::NotProgArray { map: 0xb }
        })
    );
}

#[test]
fn ld_imm64_map_forms_go_through_the_env() {
    struct Maps;
    impl Env for Maps {
        fn ld_imm64(&mut self, src: u8, imm: i32, next: i32) -> Result<u64, EnvError> {
            Ok(((src as u64) << 56) | ((imm as u64) << 8) | next as u64)
        }
    }
    let p = [Insn::ld_map_value(0, 3, 4).to_vec(), vec![Insn::exit()]].concat();
    assert_eq!(
        run_in(&p, &mut Memory::new(), &mut Maps, [0; 5]),
        Ok(0x0200_0000_0000_0304)
    );
    assert_eq!(
        run(&p),
        Err(VmError::Env {
            pc: 0,
            error: EnvError::UnresolvedLdImm64 { src: 2 }
        })
    );
}

#[test]
fn ld_abs_reads_big_endian_and_ends_with_zero_outside_the_packet() {
    let mut mem = Memory::new();
    let (id, _) = region(&mut mem, 6, false);
    mem.set_packet(Some(id));
    let abs = |size: u8, imm: i32| {
        [
            Insn::raw(BPF_LD | BPF_ABS | size, 0, 0, 0, imm),
            Insn::exit(),
        ]
    };
    assert_eq!(
        run_in(&abs(BPF_W, 1), &mut mem, &mut NoEnv, [0; 5]),
        Ok(0x0102_0304)
    );
    assert_eq!(
        run_in(&abs(BPF_H, 4), &mut mem, &mut NoEnv, [0; 5]),
        Ok(0x0405)
    );
    let ind = [
        Insn::mov64_imm(7, 3),
        Insn::raw(BPF_LD | BPF_IND | BPF_W, 0, 7, 0, 0),
        Insn::mov64_imm(0, 9),
        Insn::exit(),
    ];
    assert_eq!(
        run_in(&ind, &mut mem, &mut NoEnv, [0; 5]),
        Ok(0),
        "3 + 4 > 6: r0 = 0, exit"
    );
    assert_eq!(run_in(&abs(BPF_B, -1), &mut mem, &mut NoEnv, [0; 5]), Ok(0));
    assert_eq!(run(&abs(BPF_B, 0)), Err(VmError::NoPacket { pc: 0 }));
}

#[test]
fn helpers_see_memory_and_their_faults_carry_the_call_pc() {
    struct Copy;
    impl Env for Copy {
        fn call_helper(&mut self, id: i32, a: [u64; 5], mem: &mut Memory) -> Result<u64, EnvError> {
            let mut buf = [0u8; 4];
            mem.read(a[0], &mut buf)?;
            mem.write(a[1], &buf)?;
            Ok(id as u64)
        }
    }
    let p = [
        Insn::st_mem(BPF_W, 10, -4, 0x1234),
        Insn::mov64_reg(1, 10),
        Insn::alu64_imm(BPF_ADD, 1, -4),
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, -8),
        Insn::call_helper(1),
        Insn::ldx_mem(BPF_W, 0, 10, -8),
        Insn::exit(),
    ];
    assert_eq!(
        run_in(&p, &mut Memory::new(), &mut Copy, [0; 5]),
        Ok(0x1234)
    );
    let mut bad = p;
    bad[4] = Insn::alu64_imm(BPF_ADD, 2, -2);
    let top = Memory::frame_top(0);
    assert_eq!(
        run_in(&bad, &mut Memory::new(), &mut Copy, [0; 5]),
        Err(VmError::OutOfBounds {
            pc: 5,
            addr: top - 2,
            len: 4,
            write: true
        })
    );
}

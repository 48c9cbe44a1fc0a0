//! One test per rule of the interpreter, each named after the rule.

use super::*;
use crate::prog::insn::*;

pub(super) fn run_in(
    insns: &[Insn],
    mem: &mut Memory,
    env: &mut dyn Env,
    args: [u64; 5],
) -> Result<u64, VmError> {
    Interpreter::new().run(&Program::new(insns.to_vec()), args, mem, env)
}

pub(super) fn run(insns: &[Insn]) -> Result<u64, VmError> {
    run_in(insns, &mut Memory::new(), &mut NoEnv, [0; 5])
}

/// `r0 = a; r1 = b; r0 <op> r1; exit` in `class`.
fn alu_reg(class: u8, op: u8, off: i16, a: u64, b: u64) -> u64 {
    let mut p = Vec::new();
    p.extend(Insn::ld_imm64(0, a));
    p.extend(Insn::ld_imm64(1, b));
    p.push(Insn::raw(class | op | BPF_X, 0, 1, off, 0));
    p.push(Insn::exit());
    run(&p).expect("runs")
}

/// A region of `len` bytes (pattern `i as u8`) at an auto-placed address.
pub(super) fn region(mem: &mut Memory, len: usize, writable: bool) -> (RegionId, u64) {
    let id = mem
        .map(
            (0..len).map(|i| i as u8).collect(),
            writable,
            RegionKind::Other,
        )
        .expect("maps");
    (id, mem.region(id).base)
}

#[test]
fn division_by_zero_register_is_defined_as_the_kernel_runtime() {
    assert_eq!(alu_reg(BPF_ALU64, BPF_DIV, 0, 7, 0), 0);
    assert_eq!(alu_reg(BPF_ALU64, BPF_MOD, 0, 7, 0), 7);
    assert_eq!(alu_reg(BPF_ALU64, BPF_DIV, 1, 7, 0), 0, "sdiv");
    assert_eq!(
        alu_reg(BPF_ALU64, BPF_MOD, 1, u64::MAX, 0),
        u64::MAX,
        "smod keeps dst"
    );
    // 32-bit: the divisor is the low half; mod keeps the low half, zero-extended.
    assert_eq!(alu_reg(BPF_ALU, BPF_DIV, 0, 7, 1 << 32), 0);
    assert_eq!(alu_reg(BPF_ALU, BPF_MOD, 0, 0xffff_ffff_0000_0007, 0), 7);
    assert_eq!(
        alu_reg(BPF_ALU, BPF_MOD, 1, 0xffff_ffff_ffff_fff6, 0),
        0xffff_fff6
    );
}

#[test]
fn division_by_immediate_zero_is_rejected_at_its_pc() {
    for code in [0x37, 0x97, 0x34, 0x94] {
        let p = [
            Insn::mov64_imm(0, 1),
            Insn::raw(code, 0, 0, 0, 0),
            Insn::exit(),
        ];
        assert_eq!(run(&p), Err(VmError::DivisionByZero { pc: 1 }), "{code:#x}");
    }
}

#[test]
fn signed_division_of_int_min_by_minus_one_does_not_trap() {
    assert_eq!(alu_reg(BPF_ALU64, BPF_DIV, 1, 1 << 63, u64::MAX), 1 << 63);
    assert_eq!(alu_reg(BPF_ALU64, BPF_MOD, 1, 1 << 63, u64::MAX), 0);
    assert_eq!(
        alu_reg(BPF_ALU, BPF_DIV, 1, 0x8000_0000, 0xffff_ffff),
        0x8000_0000
    );
    assert_eq!(alu_reg(BPF_ALU, BPF_MOD, 1, 0x8000_0000, 0xffff_ffff), 0);
    // Truncated division: the remainder takes the dividend's sign.
    assert_eq!(
        alu_reg(BPF_ALU64, BPF_MOD, 1, -7i64 as u64, 2),
        -1i64 as u64
    );
    assert_eq!(
        alu_reg(BPF_ALU64, BPF_DIV, 1, -7i64 as u64, 2),
        -3i64 as u64
    );
}

#[test]
fn shift_amounts_are_masked_to_the_operand_width() {
    assert_eq!(alu_reg(BPF_ALU64, BPF_LSH, 0, 1, 65), 2);
    assert_eq!(alu_reg(BPF_ALU64, BPF_RSH, 0, 4, 64 + 1), 2);
    assert_eq!(alu_reg(BPF_ALU, BPF_LSH, 0, 1, 33), 2);
    assert_eq!(alu_reg(BPF_ALU, BPF_RSH, 0, u64::MAX, 36), 0x0fff_ffff);
    assert_eq!(alu_reg(BPF_ALU, BPF_ARSH, 0, 0x8000_0000, 63), 0xffff_ffff);
    assert_eq!(alu_reg(BPF_ALU64, BPF_ARSH, 0, 1 << 63, 127), u64::MAX);
}

#[test]
fn alu32_results_zero_extend() {
    assert_eq!(alu_reg(BPF_ALU, BPF_ADD, 0, u64::MAX, 1), 0);
    assert_eq!(alu_reg(BPF_ALU, BPF_MOV, 0, 0, u64::MAX), 0xffff_ffff);
    let neg = [
        Insn::ld_imm64(0, 1),
        [Insn::raw(0x84, 0, 0, 0, 0), Insn::exit()],
    ]
    .concat();
    assert_eq!(run(&neg), Ok(0xffff_ffff));
    let imm = [Insn::raw(0xb4, 0, 0, 0, -1), Insn::exit()];
    assert_eq!(run(&imm), Ok(0xffff_ffff), "mov32 imm is not sign-extended");
}

#[test]
fn sign_extension_movsx_memsx_and_64_bit_immediates() {
    assert_eq!(
        alu_reg(BPF_ALU64, BPF_MOV, 8, 0, 0x80),
        0xffff_ffff_ffff_ff80
    );
    assert_eq!(
        alu_reg(BPF_ALU64, BPF_MOV, 32, 0, 0x8000_0000),
        0xffff_ffff_8000_0000
    );
    assert_eq!(alu_reg(BPF_ALU, BPF_MOV, 16, 0, 0x8000), 0xffff_8000);
    let bad = [Insn::raw(0xbc, 0, 1, 32, 0), Insn::exit()];
    assert_eq!(
        run(&bad),
        Err(VmError::Malformed {
            pc: 0,
            what: Malformed::Off(32)
        }),
        "no movsx32 into a 32-bit register"
    );
    let p = [
        Insn::st_mem(BPF_W, 10, -4, -2),
        Insn::raw(BPF_LDX | BPF_MEMSX | BPF_B, 0, 10, -4, 0),
        Insn::raw(BPF_LDX | BPF_MEMSX | BPF_W, 1, 10, -4, 0),
        Insn::jmp_reg(BPF_JNE, 0, 1, 2),
        Insn::jeq_imm(0, -2, 1),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ];
    assert_eq!(run(&p), Ok(-2i64 as u64));
    // 64-bit compares sign-extend imm; 32-bit compares use the low halves.
    let j = [
        &Insn::ld_imm64(1, 0xffff_ffff_8000_0000)[..],
        &[
            Insn::mov64_imm(0, 0),
            Insn::jmp_imm(BPF_JEQ, 1, i32::MIN, 1),
            Insn::exit(),
            Insn::jmp_imm(BPF_JSLT, 1, 0, 1),
            Insn::exit(),
            Insn::jmp32_imm(BPF_JSGT, 1, 0, 1),
            Insn::mov64_imm(0, 1),
            Insn::exit(),
        ],
    ]
    .concat();
    assert_eq!(run(&j), Ok(1));
}

#[test]
fn byte_swaps_le_be_and_bswap() {
    let swap = |code: u8, imm: i32| {
        let p = [
            Insn::ld_imm64(0, 0x1122_3344_5566_7788),
            [Insn::raw(code, 0, 0, 0, imm), Insn::exit()],
        ]
        .concat();
        run(&p)
    };
    assert_eq!(swap(0xd4, 16), Ok(0x7788));
    assert_eq!(swap(0xd4, 64), Ok(0x1122_3344_5566_7788));
    assert_eq!(swap(0xdc, 32), Ok(0x8877_6655));
    assert_eq!(swap(0xd7, 16), Ok(0x8877));
    assert_eq!(swap(0xd7, 64), Ok(0x8877_6655_4433_2211));
    assert_eq!(
        swap(0xdc, 8),
        Err(VmError::Malformed {
            pc: 2,
            what: Malformed::Imm(8)
        })
    );
}

#[test]
fn atomics_fetch_xchg_and_cmpxchg_in_32_and_64_bits() {
    let mut mem = Memory::new();
    let (id, base) = region(&mut mem, 16, true);
    mem.bytes_mut(id).fill(0);
    mem.store(base, 8, 0x1_0000_0005).expect("store");
    let at = |op: i32, size: u8| Insn::raw(BPF_STX | BPF_ATOMIC | size, 1, 2, 0, op);
    let p = [
        Insn::mov64_imm(2, 3),
        at(0x01, BPF_DW), // r2 = fetch_add(*r1, 3) = 0x1_0000_0005
        Insn::mov64_reg(6, 2),
        Insn::mov64_imm(2, -1),
        at(0x01, BPF_W), // 32-bit: low half 8 + 0xffffffff = 7, r2 = 8
        Insn::mov64_reg(7, 2),
        Insn::mov64_imm(0, 7),
        Insn::mov64_imm(2, 0x42),
        at(0xf1, BPF_W), // cmpxchg32 succeeds: low half = 0x42, r0 = 7
        Insn::mov64_reg(8, 0),
        Insn::mov64_imm(0, 0),
        at(0xf1, BPF_DW), // fails: r0 = old
        Insn::mov64_imm(2, 9),
        at(0xe1, BPF_DW), // xchg: r2 = old, mem = 9
        Insn::mov64_imm(3, 0xc),
        Insn::raw(BPF_STX | BPF_ATOMIC | BPF_DW, 1, 3, 8, 0x40), // or, no fetch
        Insn::exit(),
    ];
    let mut env = NoEnv;
    let r0 = run_in(&p, &mut mem, &mut env, [base, 0, 0, 0, 0]);
    assert_eq!(r0, Ok(0x1_0000_0042));
    assert_eq!(mem.load(base, 8), Ok(9));
    assert_eq!(mem.load(base + 8, 8), Ok(0xc));
    // The fetched registers, read back through a second run.
    let q = [p[..14].to_vec(), vec![Insn::mov64_reg(0, 2), Insn::exit()]].concat();
    mem.store(base, 8, 0x1_0000_0005).expect("store");
    assert_eq!(
        run_in(&q, &mut mem, &mut env, [base, 0, 0, 0, 0]),
        Ok(0x1_0000_0042)
    );
    let r = [p[..6].to_vec(), vec![Insn::mov64_reg(0, 7), Insn::exit()]].concat();
    mem.store(base, 8, 0x1_0000_0005).expect("store");
    assert_eq!(
        run_in(&r, &mut mem, &mut env, [base, 0, 0, 0, 0]),
        Ok(8),
        "32-bit fetch zero-extends"
    );
}

#[test]
fn atomics_need_a_writable_region_and_a_known_operation() {
    let mut mem = Memory::new();
    let (_, base) = region(&mut mem, 8, false);
    let p = [
        Insn::raw(BPF_STX | BPF_ATOMIC | BPF_DW, 1, 2, 0, 0x00),
        Insn::exit(),
    ];
    let got = run_in(&p, &mut mem, &mut NoEnv, [base, 0, 0, 0, 0]);
    assert_eq!(
        got,
        Err(VmError::ReadOnly {
            pc: 0,
            addr: base,
            len: 8
        })
    );
    let bad = [
        Insn::raw(BPF_STX | BPF_ATOMIC | BPF_DW, 10, 2, -8, 0x10),
        Insn::exit(),
    ];
    assert_eq!(
        run(&bad),
        Err(VmError::Malformed {
            pc: 0,
            what: Malformed::Imm(0x10)
        })
    );
}

#[test]
fn out_of_bounds_is_byte_exact_at_region_edges() {
    let mut mem = Memory::new();
    let (_, b) = region(&mut mem, 8, true);
    let load = |mem: &mut Memory, size: u8, off: i16| {
        let p = [Insn::ldx_mem(size, 0, 1, off), Insn::exit()];
        run_in(&p, mem, &mut NoEnv, [b, 0, 0, 0, 0])
    };
    assert_eq!(load(&mut mem, BPF_DW, 0), Ok(0x0706_0504_0302_0100));
    assert_eq!(load(&mut mem, BPF_W, 4), Ok(0x0706_0504));
    let oob = |addr: u64, len: usize, write: bool| {
        Err(VmError::OutOfBounds {
            pc: 0,
            addr,
            len,
            write,
        })
    };
    assert_eq!(load(&mut mem, BPF_W, 5), oob(b + 5, 4, false));
    assert_eq!(load(&mut mem, BPF_B, 8), oob(b + 8, 1, false));
    assert_eq!(load(&mut mem, BPF_B, -1), oob(b - 1, 1, false));
    let st = [Insn::st_mem(BPF_H, 1, 7, 0), Insn::exit()];
    assert_eq!(
        run_in(&st, &mut mem, &mut NoEnv, [b, 0, 0, 0, 0]),
        oob(b + 7, 2, true)
    );
    // The stack: [r10 - 512, r10) and nothing else.
    let top = Memory::frame_top(0);
    let stack = |size: u8, off: i16| run(&[Insn::ldx_mem(size, 0, 10, off), Insn::exit()]);
    assert_eq!(stack(BPF_B, -512), Ok(0));
    assert_eq!(stack(BPF_DW, -8), Ok(0));
    assert_eq!(stack(BPF_B, -513), oob(top - 513, 1, false));
    assert_eq!(stack(BPF_DW, -4), oob(top - 4, 8, false));
    assert_eq!(stack(BPF_B, 0), oob(top, 1, false));
    // A wrapping address is out of bounds, not a panic.
    let wrap = [
        Insn::mov64_imm(1, -1),
        Insn::ldx_mem(BPF_DW, 0, 1, 0),
        Insn::exit(),
    ];
    assert_eq!(
        run(&wrap),
        Err(VmError::OutOfBounds {
            pc: 1,
            addr: u64::MAX,
            len: 8,
            write: false
        })
    );
}

#[test]
fn unknown_helper_is_reported_with_its_id() {
    let p = [Insn::mov64_imm(0, 0), Insn::call_helper(77), Insn::exit()];
    assert_eq!(run(&p), Err(VmError::UnknownHelper { pc: 1, id: 77 }));
}

#[test]
fn unknown_opcodes_are_rejected_where_reached() {
    for code in [0x00, 0x8d, 0xff, 0x86, 0xdf, 0x99] {
        let p = [
            Insn::mov64_imm(0, 0),
            Insn::raw(code, 0, 0, 0, 0),
            Insn::exit(),
        ];
        assert_eq!(
            run(&p),
            Err(VmError::InvalidOpcode { pc: 1, code }),
            "{code:#x}"
        );
    }
    let skipped = [
        Insn::ja(1),
        Insn::raw(0xff, 0, 0, 0, 0),
        Insn::mov64_imm(0, 3),
        Insn::exit(),
    ];
    assert_eq!(
        run(&skipped),
        Ok(3),
        "an unreached bad instruction is harmless"
    );
}

#[test]
fn control_flow_faults_carry_the_pc() {
    assert_eq!(
        run(&[Insn::mov64_imm(0, 0)]),
        Err(VmError::FellOffEnd { pc: 0 })
    );
    assert_eq!(run(&[]), Err(VmError::FellOffEnd { pc: 0 }));
    assert_eq!(
        run(&[Insn::ja(5), Insn::exit()]),
        Err(VmError::JumpOutOfRange { pc: 0, target: 6 })
    );
    assert_eq!(
        run(&[Insn::ja32(-2), Insn::exit()]),
        Err(VmError::JumpOutOfRange { pc: 0, target: -1 })
    );
    assert_eq!(
        run(&[Insn::call_pseudo(1), Insn::exit()]),
        Err(VmError::BadCallTarget { pc: 0, target: 2 })
    );
    let half = [Insn::mov64_imm(0, 0), Insn::raw(LD_IMM64, 0, 0, 0, 1)];
    assert_eq!(
        run(&half),
        Err(VmError::Malformed {
            pc: 1,
            what: Malformed::LdImm64Incomplete
        })
    );
    let fp = [Insn::mov64_imm(10, 0), Insn::exit()];
    assert_eq!(
        run(&fp),
        Err(VmError::Malformed {
            pc: 0,
            what: Malformed::FramePointerWrite
        })
    );
    let r11 = [Insn::mov64_reg(0, 11), Insn::exit()];
    assert_eq!(
        run(&r11),
        Err(VmError::Malformed {
            pc: 0,
            what: Malformed::Register(11)
        })
    );
    let kfunc = [Insn::call_kfunc(5, 0), Insn::exit()];
    assert_eq!(run(&kfunc), Err(VmError::UnsupportedCall { pc: 0, src: 2 }));
}

#[test]
fn budget_exhaustion_on_an_infinite_loop_names_the_loop() {
    let p = [
        Insn::mov64_imm(0, 0),
        Insn::alu64_imm(BPF_ADD, 0, 1),
        Insn::ja(-2),
    ];
    let mut vm = Interpreter::with_budget(1001);
    let got = vm.run(
        &Program::new(p.to_vec()),
        [0; 5],
        &mut Memory::new(),
        &mut NoEnv,
    );
    assert_eq!(
        got,
        Err(VmError::BudgetExceeded {
            pc: 1,
            executed: 1001
        })
    );
    assert_eq!(vm.executed(), 1001);
    let mut exact = Interpreter::with_budget(2);
    let done = exact.run(
        &Program::new(vec![Insn::mov64_imm(0, 4), Insn::exit()]),
        [0; 5],
        &mut Memory::new(),
        &mut NoEnv,
    );
    assert_eq!(
        done,
        Ok(4),
        "a budget of exactly the instructions needed suffices"
    );
}

#[test]
fn may_goto_falls_through_bpf_max_loops_times() {
    let p = [
        Insn::mov64_imm(0, 0),
        Insn::raw(BPF_JMP | BPF_JCOND, 0, 0, 2, 0),
        Insn::alu64_imm(BPF_ADD, 0, 1),
        Insn::ja(-3),
        Insn::exit(),
    ];
    assert_eq!(run(&p), Ok(BPF_MAX_LOOPS as u64));
}

#[test]
fn regions_may_not_overlap_each_other_or_the_stack() {
    let mut mem = Memory::new();
    mem.add(0x1000, vec![0; 16], true, RegionKind::Context)
        .expect("first");
    assert_eq!(
        mem.add(0x100f, vec![0; 1], true, RegionKind::Other),
        Err(RegionError::Overlaps)
    );
    assert_eq!(
        mem.add(0xff8, vec![0; 9], true, RegionKind::Other),
        Err(RegionError::Overlaps)
    );
    assert!(mem.add(0x1010, vec![0; 1], true, RegionKind::Other).is_ok());
    assert_eq!(
        mem.add(u64::MAX, vec![0; 2], true, RegionKind::Other),
        Err(RegionError::Wraps)
    );
    let stack = Memory::frame_top(0) - 1;
    assert_eq!(
        mem.add(stack, vec![0; 1], true, RegionKind::Other),
        Err(RegionError::Overlaps)
    );
}

#[test]
fn reserved_fields_must_be_zero_as_the_verifier_requires() {
    let bad = |insn: Insn| run(&[Insn::mov64_imm(0, 0), insn, Insn::exit()]);
    let err = |what| Err(VmError::Malformed { pc: 1, what });
    assert_eq!(
        bad(Insn::raw(0x07, 0, 1, 0, 1)),
        err(Malformed::Src(1)),
        "add64 imm, src set"
    );
    assert_eq!(
        bad(Insn::raw(0x0f, 0, 1, 0, 1)),
        err(Malformed::Imm(1)),
        "add64 reg, imm set"
    );
    assert_eq!(
        bad(Insn::raw(0x07, 0, 0, 1, 1)),
        err(Malformed::Off(1)),
        "add64, off set"
    );
    assert_eq!(
        bad(Insn::raw(0x95, 1, 0, 0, 0)),
        err(Malformed::Dst(1)),
        "exit, dst set"
    );
    assert_eq!(
        bad(Insn::raw(0x05, 0, 0, 0, 1)),
        err(Malformed::Imm(1)),
        "goto, imm set"
    );
    assert_eq!(
        bad(Insn::raw(0x61, 0, 10, -4, 1)),
        err(Malformed::Imm(1)),
        "ldxw, imm set"
    );
    assert_eq!(
        bad(Insn::raw(0x62, 10, 1, -4, 1)),
        err(Malformed::Src(1)),
        "stw, src set"
    );
    // The kernel does not check `off` of `exit`; neither do we.
    assert_eq!(bad(Insn::raw(0x95, 0, 0, 7, 0)), Ok(0));
}

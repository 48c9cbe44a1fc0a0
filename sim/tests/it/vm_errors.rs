//! Issue 4's error rules for the interpreter, through the public engine API: a program that
//! loops forever ends with the budget error naming the instruction it would run next; an
//! access outside the stack frame, the context, the packet or a map value ends with a typed
//! fault naming the instruction, the address and the length; division by an immediate zero
//! is the verifier's error at its pc; division by a zero register and `INT_MIN / -1` give the
//! kernel runtime's results, not an error.

use sim::Insn;
use sim::prog::insn::*;
use sim::vm::{Engine, Env, EnvError, Interpreter, Memory, Program, RegionKind, VmError};

const CTX: u64 = 0x0200_0000;
const PKT: u64 = 0x0100_0100;
const VALUE: u64 = 0x0300_0000;

/// An XDP-like address space: a read-only 24-byte `xdp_md` whose `data`/`data_end` hold the
/// packet's addresses, a 64-byte packet and one 8-byte map value.
fn memory() -> Memory {
    let mut mem = Memory::new();
    mem.add(PKT, vec![0xaa; 64], true, RegionKind::Packet)
        .expect("packet");
    let mut ctx = vec![0u8; 24];
    ctx[0..4].copy_from_slice(&(PKT as u32).to_le_bytes());
    ctx[4..8].copy_from_slice(&((PKT + 64) as u32).to_le_bytes());
    mem.add(CTX, ctx, false, RegionKind::Context).expect("ctx");
    mem.add(VALUE, vec![7; 8], true, RegionKind::MapValue)
        .expect("value");
    mem
}

/// `bpf_map_lookup_elem` (helper 1) answering the one map value for key 0, NULL otherwise.
struct OneValue;

impl Env for OneValue {
    fn call_helper(&mut self, id: i32, a: [u64; 5], mem: &mut Memory) -> Result<u64, EnvError> {
        match id {
            1 => Ok(if mem.load(a[1], 4)? == 0 { VALUE } else { 0 }),
            _ => Err(EnvError::UnknownHelper),
        }
    }
}

fn run_with(insns: &[Insn], budget: u64) -> (Result<u64, VmError>, u64) {
    let mut vm = Interpreter::with_budget(budget);
    let r = vm.run(
        &Program::new(insns.to_vec()),
        [CTX, 0, 0, 0, 0],
        &mut memory(),
        &mut OneValue,
    );
    (r, vm.executed())
}

fn run(insns: &[Insn]) -> Result<u64, VmError> {
    run_with(insns, 10_000).0
}

fn oob(pc: usize, addr: u64, len: usize, write: bool) -> Result<u64, VmError> {
    Err(VmError::OutOfBounds {
        pc,
        addr,
        len,
        write,
    })
}

#[test]
fn a_loop_that_never_ends_stops_at_the_budget_before_the_same_instruction() {
    // r0 += 1 until it wraps (2^64 turns); then a `while (1)` and a loop around a call.
    let counter = [
        Insn::mov64_imm(0, 0),
        Insn::alu64_imm(BPF_ADD, 0, 1),
        Insn::jmp_imm(BPF_JNE, 0, 0, -2),
        Insn::exit(),
    ];
    // 1 + 2k instructions end after a jump: the next is the add at 1; one more and the jump
    // at 2 is next.
    for (budget, pc) in [(1001, 1), (1000, 2), (1, 1), (0, 0), (2, 2)] {
        let (r, executed) = run_with(&counter, budget);
        assert_eq!(
            r,
            Err(VmError::BudgetExceeded {
                pc,
                executed: budget
            }),
            "budget {budget}"
        );
        assert_eq!(executed, budget);
    }
    let forever = [Insn::mov64_imm(0, 2), Insn::ja(-1), Insn::exit()];
    assert_eq!(
        run_with(&forever, 50).0,
        Err(VmError::BudgetExceeded {
            pc: 1,
            executed: 50
        })
    );
    let calls = [
        Insn::call_pseudo(1),
        Insn::ja(-2),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ];
    // call, mov, exit, ja: four per turn.
    assert_eq!(
        run_with(&calls, 4 * 25 + 2).0,
        Err(VmError::BudgetExceeded {
            pc: 3,
            executed: 102
        })
    );
}

#[test]
fn stack_accesses_outside_the_frame_fault_with_pc_and_address() {
    let top = Memory::frame_top(0);
    let at = |insn: Insn| run(&[Insn::mov64_imm(0, 0), insn, Insn::exit()]);
    assert_eq!(at(Insn::ldx_mem(BPF_DW, 0, 10, -512)), Ok(0));
    assert_eq!(
        at(Insn::ldx_mem(BPF_B, 0, 10, -513)),
        oob(1, top - 513, 1, false)
    );
    assert_eq!(at(Insn::ldx_mem(BPF_B, 0, 10, 0)), oob(1, top, 1, false));
    assert_eq!(
        at(Insn::ldx_mem(BPF_DW, 0, 10, -4)),
        oob(1, top - 4, 8, false)
    );
    assert_eq!(
        at(Insn::st_mem(BPF_W, 10, -514, 1)),
        oob(1, top - 514, 4, true)
    );
    assert_eq!(
        at(Insn::raw(BPF_STX | BPF_MEM | BPF_DW, 10, 1, 4, 0)),
        oob(1, top + 4, 8, true)
    );
    // A callee's frame is gone after its exit: a pointer into it faults.
    let dangling = [
        Insn::call_pseudo(3),
        Insn::ldx_mem(BPF_DW, 0, 0, 0),
        Insn::exit(),
        Insn::exit(),
        Insn::mov64_reg(0, 10),
        Insn::alu64_imm(BPF_ADD, 0, -8),
        Insn::exit(),
    ];
    assert_eq!(run(&dangling), oob(1, Memory::frame_top(1) - 8, 8, false));
}

#[test]
fn context_accesses_past_its_end_fault_and_stores_into_it_are_read_only() {
    let ctx = |insns: &[Insn]| run(&[insns, &[Insn::exit()]].concat());
    assert_eq!(ctx(&[Insn::ldx_mem(BPF_W, 0, 1, 20)]), Ok(0));
    assert_eq!(
        ctx(&[Insn::ldx_mem(BPF_W, 0, 1, 24)]),
        oob(0, CTX + 24, 4, false)
    );
    assert_eq!(
        ctx(&[Insn::ldx_mem(BPF_DW, 0, 1, 20)]),
        oob(0, CTX + 20, 8, false)
    );
    assert_eq!(
        ctx(&[Insn::ldx_mem(BPF_B, 0, 1, -1)]),
        oob(0, CTX - 1, 1, false)
    );
    assert_eq!(
        ctx(&[Insn::mov64_imm(0, 0), Insn::st_mem(BPF_W, 1, 4, 0)]),
        Err(VmError::ReadOnly {
            pc: 1,
            addr: CTX + 4,
            len: 4
        })
    );
}

#[test]
fn packet_accesses_past_data_end_fault_with_pc_and_address() {
    // r2 = ctx->data, then the access.
    let pkt = |insn: Insn| {
        run(&[
            Insn::ldx_mem(BPF_W, 2, 1, 0),
            Insn::mov64_imm(0, 2),
            insn,
            Insn::exit(),
        ])
    };
    assert_eq!(pkt(Insn::ldx_mem(BPF_B, 3, 2, 63)), Ok(2));
    assert_eq!(
        pkt(Insn::ldx_mem(BPF_B, 3, 2, 64)),
        oob(2, PKT + 64, 1, false)
    );
    assert_eq!(
        pkt(Insn::ldx_mem(BPF_W, 3, 2, 62)),
        oob(2, PKT + 62, 4, false)
    );
    assert_eq!(
        pkt(Insn::st_mem(BPF_H, 2, 63, 1)),
        oob(2, PKT + 63, 2, true)
    );
    assert_eq!(pkt(Insn::st_mem(BPF_B, 2, -1, 1)), oob(2, PKT - 1, 1, true));
}

#[test]
fn map_value_accesses_past_the_value_fault_with_pc_and_address() {
    // v = lookup(map, &0); if (!v) return 0; then the access.
    let value = |insn: Insn| {
        run(&[
            Insn::st_mem(BPF_W, 10, -4, 0),
            Insn::mov64_reg(2, 10),
            Insn::alu64_imm(BPF_ADD, 2, -4),
            Insn::call_helper(1),
            Insn::jeq_imm(0, 0, 2),
            insn,
            Insn::mov64_imm(0, 1),
            Insn::exit(),
        ])
    };
    assert_eq!(value(Insn::ldx_mem(BPF_DW, 3, 0, 0)), Ok(1));
    assert_eq!(value(Insn::st_mem(BPF_DW, 0, 0, 5)), Ok(1));
    assert_eq!(
        value(Insn::ldx_mem(BPF_DW, 3, 0, 8)),
        oob(5, VALUE + 8, 8, false)
    );
    assert_eq!(
        value(Insn::ldx_mem(BPF_W, 3, 0, 6)),
        oob(5, VALUE + 6, 4, false)
    );
    assert_eq!(
        value(Insn::st_mem(BPF_DW, 0, 4, 5)),
        oob(5, VALUE + 4, 8, true)
    );
    assert_eq!(
        value(Insn::raw(
            BPF_STX | BPF_ATOMIC | BPF_DW,
            0,
            3,
            1,
            BPF_ADD as i32
        )),
        oob(5, VALUE + 1, 8, true)
    );
}

#[test]
fn division_by_an_immediate_zero_is_the_verifiers_error_at_its_pc() {
    for class in [BPF_ALU, BPF_ALU64] {
        for op in [BPF_DIV, BPF_MOD] {
            for off in [0, 1] {
                let p = [
                    Insn::mov64_imm(0, 9),
                    Insn::raw(class | op | BPF_K, 0, 0, off, 0),
                    Insn::exit(),
                ];
                assert_eq!(
                    run(&p),
                    Err(VmError::DivisionByZero { pc: 1 }),
                    "class {class:#x} op {op:#x} off {off}"
                );
            }
        }
    }
}

#[test]
fn division_by_a_zero_register_and_int_min_by_minus_one_give_the_runtimes_results() {
    // r0 = a; r1 = b; r0 op= r1.
    let div = |class: u8, op: u8, off: i16, a: u64, b: u64| {
        let mut p = Insn::ld_imm64(0, a).to_vec();
        p.extend(Insn::ld_imm64(1, b));
        p.extend([Insn::raw(class | op | BPF_X, 0, 1, off, 0), Insn::exit()]);
        run(&p)
    };
    let min64 = i64::MIN as u64;
    let min32 = i32::MIN as u32 as u64;
    let cases = [
        (BPF_ALU64, BPF_DIV, 0, 7, 0, 0),
        (BPF_ALU64, BPF_MOD, 0, 7, 0, 7),
        (BPF_ALU64, BPF_DIV, 1, 7, 0, 0),
        (BPF_ALU64, BPF_MOD, 1, u64::MAX, 0, u64::MAX),
        (BPF_ALU, BPF_DIV, 0, 7, 0, 0),
        (BPF_ALU, BPF_MOD, 0, 0xffff_ffff_0000_0007, 0, 7),
        (BPF_ALU, BPF_DIV, 1, 7, 0, 0),
        (BPF_ALU, BPF_MOD, 1, 0xffff_ffff_ffff_fff6, 0, 0xffff_fff6),
        (BPF_ALU64, BPF_DIV, 1, min64, u64::MAX, min64),
        (BPF_ALU64, BPF_MOD, 1, min64, u64::MAX, 0),
        (BPF_ALU, BPF_DIV, 1, min32, u64::MAX, min32),
        (BPF_ALU, BPF_MOD, 1, min32, u64::MAX, 0),
    ];
    for (class, op, off, a, b, want) in cases {
        assert_eq!(
            div(class, op, off, a, b),
            Ok(want),
            "class {class:#x} op {op:#x} off {off}: {a:#x} by {b:#x}"
        );
    }
    // The same with an immediate -1: no error either.
    let p = [
        Insn::mov64_imm(0, i32::MIN),
        Insn::raw(BPF_ALU64 | BPF_DIV | BPF_K, 0, 0, 1, -1),
        Insn::exit(),
    ];
    assert_eq!(run(&p), Ok(0x8000_0000), "-2^31 / -1");
}

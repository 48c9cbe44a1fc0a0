//! The interpreter. A run executes the program's pre-decoded form ([`super::decode`], made
//! once per [`Program`] and cached in it): a dense `match` over [`Op`]s, with the instruction
//! budget charged once per straight-line run (up to the next jump, call, exit or instruction
//! handed to the reference path) instead of once per instruction.
//!
//! The reference path is [`Run::step`]: one raw instruction at a time, decoded where it runs,
//! with the kernel runtime's semantics (see the module docs of [`super`]). It runs every
//! instruction the decoder did not turn into a fast op (calls, atomics, `LD_ABS`, map
//! `ld_imm64`s, and every instruction that fails on its own fields), and the tail of a run
//! whose budget would run out inside the next straight-line run ([`Run::exec_stepwise`]). So
//! a bad instruction is reported at its own pc and only if it is reached; the budget stops a
//! run before the same instruction, with the same count, as checking it before every
//! instruction would; and a fault in the middle of a run leaves [`Interpreter::executed`]
//! exact. Tests run every program both ways and compare (`tests_fast.rs`).

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use super::alu::{alu32, alu64, byte_swap, cond, read_le, sign_extend, size_bytes};
use super::decode::{Bin, Cond, Decoded, Op};
use super::error::{EnvError, Malformed, VmError};
use super::fields::{BPF_MAY_GOTO, check_reserved};
use super::memory::Memory;
use super::{
    BPF_MAX_LOOPS, DEFAULT_BUDGET, Engine, Env, MAX_TAIL_CALL_CNT, Program, TailCallTarget,
};
use crate::prog::insn::*;
use crate::prog::opcodes::opcode_in_insntable;
use crate::uapi::pseudo;

/// Atomic operations (`imm` of `STX|ATOMIC`, `include/uapi/linux/bpf.h`).
const BPF_FETCH: i32 = 0x01;
const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;
const BPF_LOAD_ACQ: i32 = 0x100;
const BPF_STORE_REL: i32 = 0x110;

/// Our interpreter. `budget` bounds the instructions of one run (tail-called programs and
/// subprograms included); [`Interpreter::executed`] tells how many the last run took.
#[derive(Clone, Debug)]
pub struct Interpreter {
    /// The most instructions one run may execute.
    pub budget: u64,
    executed: u64,
}

impl Default for Interpreter {
    fn default() -> Interpreter {
        Interpreter::new()
    }
}

impl Interpreter {
    /// An interpreter with [`DEFAULT_BUDGET`].
    pub fn new() -> Interpreter {
        Interpreter::with_budget(DEFAULT_BUDGET)
    }

    /// An interpreter that stops a run after `budget` instructions.
    pub fn with_budget(budget: u64) -> Interpreter {
        Interpreter {
            budget,
            executed: 0,
        }
    }

    /// Instructions executed by the last run (also when it failed).
    pub fn executed(&self) -> u64 {
        self.executed
    }

    /// Runs `prog` on the reference path only: every instruction through [`Run::step`], the
    /// budget checked before each. The same contract as [`Engine::run`]; tests compare the
    /// two.
    #[cfg(test)]
    pub(super) fn run_reference(
        &mut self,
        prog: &Program,
        args: [u64; 5],
        mem: &mut Memory,
        env: &mut dyn Env,
    ) -> Result<u64, VmError> {
        let mut run = Run::new(prog, args, mem, env);
        let mut left = self.budget;
        let r = run.exec_stepwise(0, 0, &mut left, self.budget);
        self.executed = self.budget - left;
        r
    }
}

impl Engine for Interpreter {
    fn run(
        &mut self,
        prog: &Program,
        args: [u64; 5],
        mem: &mut Memory,
        env: &mut dyn Env,
    ) -> Result<u64, VmError> {
        let mut run = Run::new(prog, args, mem, env);
        // The frames stay readable (`Memory::frame`) until the next run, for a post-mortem.
        let mut at = Pos {
            pc: 0,
            last: 0,
            left: self.budget,
        };
        let r = run.exec(&mut at, self.budget);
        self.executed = self.budget - at.left;
        r
    }
}

/// A caller's state, saved across a bpf-to-bpf call. The kernel's interpreter runs a callee
/// with its own register array, so all of the caller's r1..r10 come back on return (the
/// verifier makes r1..r5 unreadable after a call; r6..r9 are the callee-saved ones).
struct Frame<'a> {
    prog: Cow<'a, Program>,
    ret_pc: usize,
    saved: [u64; 10],
    may_goto: u32,
}

/// What an instruction does to the pc.
enum Flow {
    /// Go to the next instruction.
    Next,
    /// Skip the next slot too (`ld_imm64`).
    Skip,
    /// Go to an instruction of the (possibly new) current program.
    Jump(usize),
    /// The run is over with this r0.
    Done(u64),
}

/// Where a run is, between stretches of one program's decoded ops.
struct Pos {
    /// The next instruction.
    pc: usize,
    /// The last instruction that ended a straight-line run (what `FellOffEnd` names when
    /// the next run is empty).
    last: usize,
    /// Budget left.
    left: u64,
}

/// Why [`Run::exec_decoded`] returned without an error.
enum Stop {
    /// The main frame's `exit`, with r0.
    Done(u64),
    /// The current program changed (tail call, return into another program): go on at
    /// `Pos::pc` of the new one.
    Switch,
}

/// One run's state. `regs` has 16 entries so a register number masked to 4 bits indexes it
/// without a bounds check; only r0..r10 are ever used (the decoder and `reg`/`wreg` check).
struct Run<'a> {
    regs: [u64; 16],
    /// The running program: the caller's until a tail call replaces it (no reference count
    /// is touched on the way in).
    prog: Cow<'a, Program>,
    callers: Vec<Frame<'a>>,
    may_goto: u32,
    tail_calls: u32,
    mem: &'a mut Memory,
    env: &'a mut dyn Env,
}

impl<'a> Run<'a> {
    fn new(
        prog: &'a Program,
        args: [u64; 5],
        mem: &'a mut Memory,
        env: &'a mut dyn Env,
    ) -> Run<'a> {
        mem.reset_frames();
        mem.push_frame();
        let mut regs = [0u64; 16];
        regs[1..6].copy_from_slice(&args);
        regs[10] = Memory::frame_top(0);
        Run {
            regs,
            prog: Cow::Borrowed(prog),
            callers: Vec::new(),
            may_goto: BPF_MAX_LOOPS,
            tail_calls: 0,
            mem,
            env,
        }
    }
}

/// `p`'s decoded form, made on first use.
fn decoded(p: &Program) -> &Decoded {
    p.decoded.get_or_init(|| Decoded::new(&p.insns))
}

impl<'a> Run<'a> {
    /// Runs to the end: the decoded ops of the current program, again after each switch.
    fn exec(&mut self, at: &mut Pos, budget: u64) -> Result<u64, VmError> {
        loop {
            let stop = match &self.prog {
                Cow::Borrowed(p) => {
                    let p: &'a Program = p;
                    self.exec_decoded(decoded(p), &p.insns, &p.decoded, at, budget)?
                }
                Cow::Owned(p) => {
                    let p = p.clone();
                    self.exec_decoded(decoded(&p), &p.insns, &p.decoded, at, budget)?
                }
            };
            if let Stop::Done(r0) = stop {
                return Ok(r0);
            }
        }
    }

    /// The reference loop: from `pc`, one instruction at a time through [`Run::step`], the
    /// budget checked before each; `last` is the instruction executed before `pc`.
    fn exec_stepwise(
        &mut self,
        mut pc: usize,
        mut last: usize,
        left: &mut u64,
        budget: u64,
    ) -> Result<u64, VmError> {
        loop {
            let Some(&insn) = self.prog.insns().get(pc) else {
                return Err(VmError::FellOffEnd { pc: last });
            };
            if *left == 0 {
                return Err(VmError::BudgetExceeded {
                    pc,
                    executed: budget,
                });
            }
            *left -= 1;
            last = pc;
            pc = match self.step(pc, insn)? {
                Flow::Next => pc + 1,
                Flow::Skip => pc + 2,
                Flow::Jump(t) => t,
                Flow::Done(r0) => return Ok(r0),
            };
        }
    }

    /// Runs the decoded ops of the current program (`dec`, of `insns`, cached in `cell`)
    /// from `at.pc` until the run ends or the program changes.
    fn exec_decoded(
        &mut self,
        dec: &Decoded,
        insns: &[Insn],
        cell: &Arc<OnceLock<Decoded>>,
        at: &mut Pos,
        budget: u64,
    ) -> Result<Stop, VmError> {
        let ops = &dec.ops[..];
        let runs = &dec.run_len[..];
        let mut pc = at.pc;
        let mut left = at.left;
        macro_rules! r {
            ($r:expr) => {
                self.regs[($r & 15) as usize]
            };
        }
        'run: loop {
            let n = u64::from(runs[pc]);
            if n > left {
                // The budget runs out inside this run: finish instruction by instruction.
                at.left = left;
                let r = self.exec_stepwise(pc, at.last, &mut at.left, budget);
                return r.map(Stop::Done);
            }
            left -= n;
            let start = pc;
            // Stops the run at `pc` with an error, counting exactly the instructions done.
            macro_rules! fail {
                ($e:expr) => {{
                    at.left = left + n - dec.steps(insns, start, pc);
                    return Err($e);
                }};
            }
            // Ends the straight-line run; the next one starts at `$to`.
            macro_rules! goto {
                ($to:expr) => {{
                    at.last = pc;
                    pc = $to;
                    continue 'run;
                }};
            }
            macro_rules! jcc {
                ($taken:expr, $t:expr) => {
                    goto!(if $taken { $t as usize } else { pc + 1 })
                };
            }
            macro_rules! ldx {
                ($n:literal, $d:expr, $s:expr, $off:expr) => {
                    match self
                        .mem
                        .load_n::<$n>(r!($s).wrapping_add($off as i64 as u64))
                    {
                        Ok(v) => v,
                        Err(f) => fail!(VmError::mem(pc, f)),
                    }
                };
            }
            macro_rules! st {
                ($n:literal, $d:expr, $off:expr, $v:expr) => {
                    if let Err(f) = self
                        .mem
                        .store_n::<$n>(r!($d).wrapping_add($off as i64 as u64), $v)
                    {
                        fail!(VmError::mem(pc, f))
                    }
                };
            }
            // The ops after a jump, call or slow instruction; how control leaves the run.
            macro_rules! flow {
                ($flow:expr) => {{
                    let to = match $flow {
                        Flow::Next => pc + 1,
                        Flow::Skip => pc + 2,
                        Flow::Jump(t) => t,
                        Flow::Done(r0) => {
                            at.left = left;
                            return Ok(Stop::Done(r0));
                        }
                    };
                    if !Arc::ptr_eq(&self.prog.decoded, cell) {
                        at.last = pc;
                        at.pc = to;
                        at.left = left;
                        return Ok(Stop::Switch);
                    }
                    goto!(to)
                }};
            }
            // `d = s; d = d bin rhs` (`rhs` read after the copy: it may be `d`).
            macro_rules! mov3 {
                ($d:expr, $bin:expr, $s:expr, $rhs:expr) => {{
                    r!($d) = $s;
                    r!($d) = $bin.apply(r!($d), $rhs);
                    pc += 2;
                    continue;
                }};
            }
            // `d += add; if d cond rhs goto t`, the jump at `pc + 1`.
            macro_rules! addj {
                ($d:expr, $add:expr, $cond:expr, $rhs:expr, $t:expr) => {{
                    r!($d) = r!($d).wrapping_add($add as i64 as u64);
                    pc += 1;
                    jcc!($cond.test(r!($d), $rhs), $t)
                }};
            }
            loop {
                match ops[pc] {
                    Op::Add64K { d, k } => r!(d) = r!(d).wrapping_add(k),
                    Op::Sub64K { d, k } => r!(d) = r!(d).wrapping_sub(k),
                    Op::Mul64K { d, k } => r!(d) = r!(d).wrapping_mul(k),
                    Op::Div64K { d, k } => r!(d) = r!(d).checked_div(k).unwrap_or(0),
                    Op::Mod64K { d, k } => r!(d) = r!(d).checked_rem(k).unwrap_or(r!(d)),
                    Op::Or64K { d, k } => r!(d) |= k,
                    Op::And64K { d, k } => r!(d) &= k,
                    Op::Xor64K { d, k } => r!(d) ^= k,
                    Op::Lsh64K { d, k } => r!(d) = r!(d).wrapping_shl(k),
                    Op::Rsh64K { d, k } => r!(d) = r!(d).wrapping_shr(k),
                    Op::Arsh64K { d, k } => r!(d) = (r!(d) as i64).wrapping_shr(k) as u64,
                    Op::Mov64K { d, k } => r!(d) = k,
                    Op::Add64X { d, s } => r!(d) = r!(d).wrapping_add(r!(s)),
                    Op::Sub64X { d, s } => r!(d) = r!(d).wrapping_sub(r!(s)),
                    Op::Mul64X { d, s } => r!(d) = r!(d).wrapping_mul(r!(s)),
                    Op::Div64X { d, s } => r!(d) = r!(d).checked_div(r!(s)).unwrap_or(0),
                    Op::Mod64X { d, s } => r!(d) = r!(d).checked_rem(r!(s)).unwrap_or(r!(d)),
                    Op::Or64X { d, s } => r!(d) |= r!(s),
                    Op::And64X { d, s } => r!(d) &= r!(s),
                    Op::Xor64X { d, s } => r!(d) ^= r!(s),
                    Op::Lsh64X { d, s } => r!(d) = r!(d).wrapping_shl(r!(s) as u32),
                    Op::Rsh64X { d, s } => r!(d) = r!(d).wrapping_shr(r!(s) as u32),
                    Op::Arsh64X { d, s } => {
                        r!(d) = (r!(d) as i64).wrapping_shr(r!(s) as u32) as u64
                    }
                    Op::Mov64X { d, s } => r!(d) = r!(s),
                    Op::Neg64 { d } => r!(d) = r!(d).wrapping_neg(),
                    Op::Add32K { d, k } => r!(d) = (r!(d) as u32).wrapping_add(k) as u64,
                    Op::Sub32K { d, k } => r!(d) = (r!(d) as u32).wrapping_sub(k) as u64,
                    Op::Mul32K { d, k } => r!(d) = (r!(d) as u32).wrapping_mul(k) as u64,
                    Op::Div32K { d, k } => {
                        r!(d) = (r!(d) as u32).checked_div(k).unwrap_or(0) as u64
                    }
                    Op::Mod32K { d, k } => {
                        let v = r!(d) as u32;
                        r!(d) = v.checked_rem(k).unwrap_or(v) as u64
                    }
                    Op::Or32K { d, k } => r!(d) = (r!(d) as u32 | k) as u64,
                    Op::And32K { d, k } => r!(d) = (r!(d) as u32 & k) as u64,
                    Op::Xor32K { d, k } => r!(d) = (r!(d) as u32 ^ k) as u64,
                    Op::Lsh32K { d, k } => r!(d) = (r!(d) as u32).wrapping_shl(k) as u64,
                    Op::Rsh32K { d, k } => r!(d) = (r!(d) as u32).wrapping_shr(k) as u64,
                    Op::Arsh32K { d, k } => {
                        r!(d) = (r!(d) as u32 as i32).wrapping_shr(k) as u32 as u64
                    }
                    Op::Mov32K { d, k } => r!(d) = k as u64,
                    Op::Add32X { d, s } => r!(d) = (r!(d) as u32).wrapping_add(r!(s) as u32) as u64,
                    Op::Sub32X { d, s } => r!(d) = (r!(d) as u32).wrapping_sub(r!(s) as u32) as u64,
                    Op::Mul32X { d, s } => r!(d) = (r!(d) as u32).wrapping_mul(r!(s) as u32) as u64,
                    Op::Div32X { d, s } => {
                        r!(d) = (r!(d) as u32).checked_div(r!(s) as u32).unwrap_or(0) as u64
                    }
                    Op::Mod32X { d, s } => {
                        let v = r!(d) as u32;
                        r!(d) = v.checked_rem(r!(s) as u32).unwrap_or(v) as u64
                    }
                    Op::Or32X { d, s } => r!(d) = (r!(d) as u32 | r!(s) as u32) as u64,
                    Op::And32X { d, s } => r!(d) = (r!(d) as u32 & r!(s) as u32) as u64,
                    Op::Xor32X { d, s } => r!(d) = (r!(d) as u32 ^ r!(s) as u32) as u64,
                    Op::Lsh32X { d, s } => r!(d) = (r!(d) as u32).wrapping_shl(r!(s) as u32) as u64,
                    Op::Rsh32X { d, s } => r!(d) = (r!(d) as u32).wrapping_shr(r!(s) as u32) as u64,
                    Op::Arsh32X { d, s } => {
                        r!(d) = (r!(d) as u32 as i32).wrapping_shr(r!(s) as u32) as u32 as u64
                    }
                    Op::Mov32X { d, s } => r!(d) = r!(s) as u32 as u64,
                    Op::Neg32 { d } => r!(d) = (r!(d) as u32).wrapping_neg() as u64,
                    Op::Alu64K { op, d, off, k } => r!(d) = alu64(op, r!(d), k, off),
                    Op::Alu64X { op, d, s, off } => r!(d) = alu64(op, r!(d), r!(s), off),
                    Op::Alu32K { op, d, off, k } => r!(d) = alu32(op, r!(d) as u32, k, off) as u64,
                    Op::Alu32X { op, d, s, off } => {
                        r!(d) = alu32(op, r!(d) as u32, r!(s) as u32, off) as u64
                    }
                    Op::Swap { d, bits, swap } => {
                        let v = r!(d);
                        r!(d) = match (bits, swap) {
                            (16, false) => v as u16 as u64,
                            (32, false) => v as u32 as u64,
                            (16, true) => (v as u16).swap_bytes() as u64,
                            (32, true) => (v as u32).swap_bytes() as u64,
                            (_, true) => v.swap_bytes(),
                            (_, false) => v,
                        }
                    }
                    Op::LdxB { d, s, off } => r!(d) = ldx!(1, d, s, off),
                    Op::LdxH { d, s, off } => r!(d) = ldx!(2, d, s, off),
                    Op::LdxW { d, s, off } => r!(d) = ldx!(4, d, s, off),
                    Op::LdxDW { d, s, off } => r!(d) = ldx!(8, d, s, off),
                    Op::LdxSB { d, s, off } => r!(d) = sign_extend(ldx!(1, d, s, off), 1),
                    Op::LdxSH { d, s, off } => r!(d) = sign_extend(ldx!(2, d, s, off), 2),
                    Op::LdxSW { d, s, off } => r!(d) = sign_extend(ldx!(4, d, s, off), 4),
                    Op::StB { d, off, k } => st!(1, d, off, k),
                    Op::StH { d, off, k } => st!(2, d, off, k),
                    Op::StW { d, off, k } => st!(4, d, off, k),
                    Op::StDW { d, off, k } => st!(8, d, off, k),
                    Op::StxB { d, s, off } => st!(1, d, off, r!(s)),
                    Op::StxH { d, s, off } => st!(2, d, off, r!(s)),
                    Op::StxW { d, s, off } => st!(4, d, off, r!(s)),
                    Op::StxDW { d, s, off } => st!(8, d, off, r!(s)),
                    Op::LdImm64 { d, k } => {
                        r!(d) = k;
                        pc += 2;
                        continue;
                    }
                    Op::Ja { t } => goto!(t as usize),
                    Op::Jeq64K { d, k, t } => jcc!(r!(d) == k, t),
                    Op::Jne64K { d, k, t } => jcc!(r!(d) != k, t),
                    Op::Jgt64K { d, k, t } => jcc!(r!(d) > k, t),
                    Op::Jge64K { d, k, t } => jcc!(r!(d) >= k, t),
                    Op::Jlt64K { d, k, t } => jcc!(r!(d) < k, t),
                    Op::Jle64K { d, k, t } => jcc!(r!(d) <= k, t),
                    Op::Jset64K { d, k, t } => jcc!(r!(d) & k != 0, t),
                    Op::Jsgt64K { d, k, t } => jcc!((r!(d) as i64) > k as i64, t),
                    Op::Jsge64K { d, k, t } => jcc!((r!(d) as i64) >= k as i64, t),
                    Op::Jslt64K { d, k, t } => jcc!((r!(d) as i64) < k as i64, t),
                    Op::Jsle64K { d, k, t } => jcc!((r!(d) as i64) <= k as i64, t),
                    Op::Jeq64X { d, s, t } => jcc!(r!(d) == r!(s), t),
                    Op::Jne64X { d, s, t } => jcc!(r!(d) != r!(s), t),
                    Op::Jgt64X { d, s, t } => jcc!(r!(d) > r!(s), t),
                    Op::Jge64X { d, s, t } => jcc!(r!(d) >= r!(s), t),
                    Op::Jlt64X { d, s, t } => jcc!(r!(d) < r!(s), t),
                    Op::Jle64X { d, s, t } => jcc!(r!(d) <= r!(s), t),
                    Op::Jset64X { d, s, t } => jcc!(r!(d) & r!(s) != 0, t),
                    Op::Jsgt64X { d, s, t } => jcc!((r!(d) as i64) > r!(s) as i64, t),
                    Op::Jsge64X { d, s, t } => jcc!((r!(d) as i64) >= r!(s) as i64, t),
                    Op::Jslt64X { d, s, t } => jcc!((r!(d) as i64) < r!(s) as i64, t),
                    Op::Jsle64X { d, s, t } => jcc!((r!(d) as i64) <= r!(s) as i64, t),
                    Op::Jeq32K { d, k, t } => jcc!(r!(d) as u32 == k, t),
                    Op::Jne32K { d, k, t } => jcc!(r!(d) as u32 != k, t),
                    Op::Jgt32K { d, k, t } => jcc!(r!(d) as u32 > k, t),
                    Op::Jge32K { d, k, t } => jcc!(r!(d) as u32 >= k, t),
                    Op::Jlt32K { d, k, t } => jcc!((r!(d) as u32) < k, t),
                    Op::Jle32K { d, k, t } => jcc!(r!(d) as u32 <= k, t),
                    Op::Jset32K { d, k, t } => jcc!(r!(d) as u32 & k != 0, t),
                    Op::Jsgt32K { d, k, t } => jcc!(r!(d) as u32 as i32 > k as i32, t),
                    Op::Jsge32K { d, k, t } => jcc!(r!(d) as u32 as i32 >= k as i32, t),
                    Op::Jslt32K { d, k, t } => jcc!((r!(d) as u32 as i32) < k as i32, t),
                    Op::Jsle32K { d, k, t } => jcc!(r!(d) as u32 as i32 <= k as i32, t),
                    Op::Jeq32X { d, s, t } => jcc!(r!(d) as u32 == r!(s) as u32, t),
                    Op::Jne32X { d, s, t } => jcc!(r!(d) as u32 != r!(s) as u32, t),
                    Op::Jgt32X { d, s, t } => jcc!(r!(d) as u32 > r!(s) as u32, t),
                    Op::Jge32X { d, s, t } => jcc!(r!(d) as u32 >= r!(s) as u32, t),
                    Op::Jlt32X { d, s, t } => jcc!((r!(d) as u32) < r!(s) as u32, t),
                    Op::Jle32X { d, s, t } => jcc!(r!(d) as u32 <= r!(s) as u32, t),
                    Op::Jset32X { d, s, t } => jcc!(r!(d) as u32 & r!(s) as u32 != 0, t),
                    Op::Jsgt32X { d, s, t } => {
                        jcc!(r!(d) as u32 as i32 > r!(s) as u32 as i32, t)
                    }
                    Op::Jsge32X { d, s, t } => {
                        jcc!(r!(d) as u32 as i32 >= r!(s) as u32 as i32, t)
                    }
                    Op::Jslt32X { d, s, t } => {
                        jcc!((r!(d) as u32 as i32) < r!(s) as u32 as i32, t)
                    }
                    Op::Jsle32X { d, s, t } => {
                        jcc!(r!(d) as u32 as i32 <= r!(s) as u32 as i32, t)
                    }
                    Op::MovAddK { d, s, k } => mov3!(d, Bin::Add, r!(s), k as i64 as u64),
                    Op::MovSubK { d, s, k } => mov3!(d, Bin::Sub, r!(s), k as i64 as u64),
                    Op::MovMulK { d, s, k } => mov3!(d, Bin::Mul, r!(s), k as i64 as u64),
                    Op::MovOrK { d, s, k } => mov3!(d, Bin::Or, r!(s), k as i64 as u64),
                    Op::MovAndK { d, s, k } => mov3!(d, Bin::And, r!(s), k as i64 as u64),
                    Op::MovXorK { d, s, k } => mov3!(d, Bin::Xor, r!(s), k as i64 as u64),
                    Op::MovLshK { d, s, k } => mov3!(d, Bin::Lsh, r!(s), k as i64 as u64),
                    Op::MovRshK { d, s, k } => mov3!(d, Bin::Rsh, r!(s), k as i64 as u64),
                    Op::MovArshK { d, s, k } => mov3!(d, Bin::Arsh, r!(s), k as i64 as u64),
                    Op::MovAddX { d, s, s2 } => mov3!(d, Bin::Add, r!(s), r!(s2)),
                    Op::MovSubX { d, s, s2 } => mov3!(d, Bin::Sub, r!(s), r!(s2)),
                    Op::MovMulX { d, s, s2 } => mov3!(d, Bin::Mul, r!(s), r!(s2)),
                    Op::MovOrX { d, s, s2 } => mov3!(d, Bin::Or, r!(s), r!(s2)),
                    Op::MovAndX { d, s, s2 } => mov3!(d, Bin::And, r!(s), r!(s2)),
                    Op::MovXorX { d, s, s2 } => mov3!(d, Bin::Xor, r!(s), r!(s2)),
                    Op::MovLshX { d, s, s2 } => mov3!(d, Bin::Lsh, r!(s), r!(s2)),
                    Op::MovRshX { d, s, s2 } => mov3!(d, Bin::Rsh, r!(s), r!(s2)),
                    Op::MovArshX { d, s, s2 } => mov3!(d, Bin::Arsh, r!(s), r!(s2)),
                    Op::AddJEqK { d, add, k, t } => addj!(d, add, Cond::Eq, k as i64 as u64, t),
                    Op::AddJNeK { d, add, k, t } => addj!(d, add, Cond::Ne, k as i64 as u64, t),
                    Op::AddJGtK { d, add, k, t } => addj!(d, add, Cond::Gt, k as i64 as u64, t),
                    Op::AddJGeK { d, add, k, t } => addj!(d, add, Cond::Ge, k as i64 as u64, t),
                    Op::AddJLtK { d, add, k, t } => addj!(d, add, Cond::Lt, k as i64 as u64, t),
                    Op::AddJLeK { d, add, k, t } => addj!(d, add, Cond::Le, k as i64 as u64, t),
                    Op::AddJSetK { d, add, k, t } => addj!(d, add, Cond::Set, k as i64 as u64, t),
                    Op::AddJSgtK { d, add, k, t } => addj!(d, add, Cond::Sgt, k as i64 as u64, t),
                    Op::AddJSgeK { d, add, k, t } => addj!(d, add, Cond::Sge, k as i64 as u64, t),
                    Op::AddJSltK { d, add, k, t } => addj!(d, add, Cond::Slt, k as i64 as u64, t),
                    Op::AddJSleK { d, add, k, t } => addj!(d, add, Cond::Sle, k as i64 as u64, t),
                    Op::AddJEqX { d, s, add, t } => addj!(d, add, Cond::Eq, r!(s), t),
                    Op::AddJNeX { d, s, add, t } => addj!(d, add, Cond::Ne, r!(s), t),
                    Op::AddJGtX { d, s, add, t } => addj!(d, add, Cond::Gt, r!(s), t),
                    Op::AddJGeX { d, s, add, t } => addj!(d, add, Cond::Ge, r!(s), t),
                    Op::AddJLtX { d, s, add, t } => addj!(d, add, Cond::Lt, r!(s), t),
                    Op::AddJLeX { d, s, add, t } => addj!(d, add, Cond::Le, r!(s), t),
                    Op::AddJSetX { d, s, add, t } => addj!(d, add, Cond::Set, r!(s), t),
                    Op::AddJSgtX { d, s, add, t } => addj!(d, add, Cond::Sgt, r!(s), t),
                    Op::AddJSgeX { d, s, add, t } => addj!(d, add, Cond::Sge, r!(s), t),
                    Op::AddJSltX { d, s, add, t } => addj!(d, add, Cond::Slt, r!(s), t),
                    Op::AddJSleX { d, s, add, t } => addj!(d, add, Cond::Sle, r!(s), t),
                    Op::Helper { id } => match self.helper(pc, id) {
                        Ok(()) => goto!(pc + 1),
                        Err(e) => fail!(e),
                    },
                    Op::Exit => flow!(self.exit()),
                    Op::Slow => match self.step(pc, insns[pc]) {
                        Ok(f) => flow!(f),
                        Err(e) => fail!(e),
                    },
                    Op::SlowStraight => match self.step(pc, insns[pc]) {
                        Ok(Flow::Next) => {}
                        Ok(Flow::Skip) => {
                            pc += 2;
                            continue;
                        }
                        // Never: only jumps, calls, exits and LD_ABS change the flow.
                        Ok(f) => flow!(f),
                        Err(e) => fail!(e),
                    },
                    Op::End => {
                        at.left = left;
                        let pc = if pc == start {
                            at.last
                        } else {
                            dec.last_before_end(insns, start)
                        };
                        return Err(VmError::FellOffEnd { pc });
                    }
                }
                pc += 1;
            }
        }
    }

    fn step(&mut self, pc: usize, insn: Insn) -> Result<Flow, VmError> {
        if !opcode_in_insntable(insn.code) {
            return Err(VmError::InvalidOpcode {
                pc,
                code: insn.code,
            });
        }
        check_reserved(&insn).map_err(|what| VmError::Malformed { pc, what })?;
        match insn.class() {
            BPF_ALU | BPF_ALU64 => self.alu(pc, insn).map(|()| Flow::Next),
            BPF_JMP | BPF_JMP32 => self.jmp(pc, insn),
            BPF_LDX => self.ldx(pc, insn).map(|()| Flow::Next),
            BPF_ST | BPF_STX => self.store(pc, insn).map(|()| Flow::Next),
            _ => self.ld(pc, insn),
        }
    }

    /// Reads register `r`.
    fn reg(&self, pc: usize, r: u8) -> Result<u64, VmError> {
        match r {
            0..=10 => Ok(self.regs[r as usize]),
            _ => Err(VmError::Malformed {
                pc,
                what: Malformed::Register(r),
            }),
        }
    }

    /// Checks that register `r` may be written and returns its index.
    fn wreg(&self, pc: usize, r: u8) -> Result<usize, VmError> {
        match r {
            0..=9 => Ok(r as usize),
            10 => Err(VmError::Malformed {
                pc,
                what: Malformed::FramePointerWrite,
            }),
            _ => Err(VmError::Malformed {
                pc,
                what: Malformed::Register(r),
            }),
        }
    }

    fn load(&self, pc: usize, addr: u64, size: usize) -> Result<u64, VmError> {
        self.mem.load(addr, size).map_err(|f| VmError::mem(pc, f))
    }

    fn store_mem(&mut self, pc: usize, addr: u64, size: usize, v: u64) -> Result<(), VmError> {
        self.mem
            .store(addr, size, v)
            .map_err(|f| VmError::mem(pc, f))
    }

    // ---- ALU -------------------------------------------------------------------------

    fn alu(&mut self, pc: usize, insn: Insn) -> Result<(), VmError> {
        let is64 = insn.class() == BPF_ALU64;
        let op = op(insn.code);
        let dst = self.wreg(pc, insn.dst)?;
        let d = self.regs[dst];
        let bad_off = Err(VmError::Malformed {
            pc,
            what: Malformed::Off(insn.off),
        });
        if op == BPF_END {
            if insn.off != 0 {
                return bad_off;
            }
            self.regs[dst] = byte_swap(pc, insn, d)?;
            return Ok(());
        }
        let x = src_kind(insn.code) == BPF_X;
        let s = if x {
            self.reg(pc, insn.src)?
        } else if is64 {
            insn.imm as i64 as u64
        } else {
            insn.imm as u32 as u64
        };
        let off_ok = match op {
            BPF_DIV | BPF_MOD => matches!(insn.off, 0 | 1),
            BPF_MOV if x => matches!(insn.off, 0 | 8 | 16) || (is64 && insn.off == 32),
            _ => insn.off == 0,
        };
        if !off_ok {
            return bad_off;
        }
        if !x && insn.imm == 0 && matches!(op, BPF_DIV | BPF_MOD) {
            return Err(VmError::DivisionByZero { pc });
        }
        self.regs[dst] = if is64 {
            alu64(op, d, s, insn.off)
        } else {
            alu32(op, d as u32, s as u32, insn.off) as u64
        };
        Ok(())
    }

    // ---- jumps, calls, exit ----------------------------------------------------------

    fn target(&self, pc: usize, rel: i64) -> Result<usize, VmError> {
        let target = pc as i64 + 1 + rel;
        if target < 0 || target >= self.prog.len() as i64 {
            return Err(VmError::JumpOutOfRange { pc, target });
        }
        Ok(target as usize)
    }

    fn jmp(&mut self, pc: usize, insn: Insn) -> Result<Flow, VmError> {
        let is32 = insn.class() == BPF_JMP32;
        match op(insn.code) {
            BPF_JA => {
                let rel = if is32 {
                    insn.imm as i64
                } else {
                    insn.off as i64
                };
                return self.target(pc, rel).map(Flow::Jump);
            }
            BPF_CALL => return self.call(pc, insn),
            BPF_EXIT => return Ok(self.exit()),
            BPF_JCOND => return self.may_goto(pc, insn),
            _ => {}
        }
        let d = self.reg(pc, insn.dst)?;
        let s = if src_kind(insn.code) == BPF_X {
            self.reg(pc, insn.src)?
        } else {
            insn.imm as i64 as u64
        };
        let taken = if is32 {
            cond(
                op(insn.code),
                d as u32 as u64,
                s as u32 as u64,
                d as i32 as i64,
                s as i32 as i64,
            )
        } else {
            cond(op(insn.code), d, s, d as i64, s as i64)
        };
        if taken {
            self.target(pc, insn.off as i64).map(Flow::Jump)
        } else {
            Ok(Flow::Next)
        }
    }

    /// `may_goto`: falls through `BPF_MAX_LOOPS` times per frame, then jumps.
    fn may_goto(&mut self, pc: usize, insn: Insn) -> Result<Flow, VmError> {
        if insn.src != BPF_MAY_GOTO {
            return Err(VmError::Malformed {
                pc,
                what: Malformed::Src(insn.src),
            });
        }
        if self.may_goto == 0 {
            return self.target(pc, insn.off as i64).map(Flow::Jump);
        }
        self.may_goto -= 1;
        Ok(Flow::Next)
    }

    fn exit(&mut self) -> Flow {
        let Some(f) = self.callers.pop() else {
            return Flow::Done(self.regs[0]);
        };
        self.regs[1..11].copy_from_slice(&f.saved);
        self.prog = f.prog;
        self.may_goto = f.may_goto;
        self.mem.pop_frame();
        Flow::Jump(f.ret_pc)
    }

    fn call(&mut self, pc: usize, insn: Insn) -> Result<Flow, VmError> {
        match insn.src {
            0 if insn.imm == BPF_FUNC_TAIL_CALL => self.tail_call(pc),
            0 => self.helper(pc, insn.imm).map(|()| Flow::Next),
            pseudo::CALL => {
                let target = pc as i64 + 1 + insn.imm as i64;
                if target < 0 || target >= self.prog.len() as i64 {
                    return Err(VmError::BadCallTarget { pc, target });
                }
                if !self.mem.push_frame() {
                    return Err(VmError::CallDepthExceeded { pc });
                }
                let mut saved = [0u64; 10];
                saved.copy_from_slice(&self.regs[1..11]);
                self.callers.push(Frame {
                    prog: self.prog.clone(),
                    ret_pc: pc + 1,
                    saved,
                    may_goto: self.may_goto,
                });
                self.may_goto = BPF_MAX_LOOPS;
                self.regs[10] = Memory::frame_top(self.mem.frames() - 1);
                Ok(Flow::Jump(target as usize))
            }
            pseudo::KFUNC_CALL => Err(VmError::UnsupportedCall { pc, src: insn.src }),
            src => Err(VmError::Malformed {
                pc,
                what: Malformed::Src(src),
            }),
        }
    }

    /// A helper call: r1..r5 to the environment, its answer to r0.
    fn helper(&mut self, pc: usize, id: i32) -> Result<(), VmError> {
        let mut args = [0u64; 5];
        args.copy_from_slice(&self.regs[1..6]);
        match self.env.call_helper(id, args, &mut *self.mem) {
            Ok(r0) => {
                self.regs[0] = r0;
                Ok(())
            }
            Err(EnvError::UnknownHelper) => Err(VmError::UnknownHelper { pc, id }),
            Err(EnvError::Fault(f)) => Err(VmError::mem(pc, f)),
            Err(error) => Err(VmError::Env { pc, error }),
        }
    }

    /// `bpf_tail_call(ctx, map, index)`, in the order of the kernel's `JMP_TAIL_CALL`:
    /// index range, count, then the slot. On success the target runs in the current frame
    /// with every register as it is; on failure the next instruction runs.
    fn tail_call(&mut self, pc: usize) -> Result<Flow, VmError> {
        let (map, index) = (self.regs[2], self.regs[3] as u32);
        let target = self
            .env
            .tail_call(map, index)
            .map_err(|error| VmError::Env { pc, error })?;
        if matches!(target, TailCallTarget::OutOfRange) || self.tail_calls >= MAX_TAIL_CALL_CNT {
            return Ok(Flow::Next);
        }
        self.tail_calls += 1;
        let TailCallTarget::Prog(prog) = target else {
            return Ok(Flow::Next);
        };
        self.prog = Cow::Owned(prog);
        self.may_goto = BPF_MAX_LOOPS;
        Ok(Flow::Jump(0))
    }

    // ---- memory ----------------------------------------------------------------------

    fn ldx(&mut self, pc: usize, insn: Insn) -> Result<(), VmError> {
        let dst = self.wreg(pc, insn.dst)?;
        let addr = self.reg(pc, insn.src)?.wrapping_add(insn.off as i64 as u64);
        let n = size_bytes(insn.code);
        let v = self.load(pc, addr, n)?;
        self.regs[dst] = if mode(insn.code) == BPF_MEMSX {
            sign_extend(v, n)
        } else {
            v
        };
        Ok(())
    }

    fn store(&mut self, pc: usize, insn: Insn) -> Result<(), VmError> {
        let addr = self.reg(pc, insn.dst)?.wrapping_add(insn.off as i64 as u64);
        let n = size_bytes(insn.code);
        if mode(insn.code) == BPF_ATOMIC {
            return self.atomic(pc, insn, addr, n);
        }
        let v = if insn.class() == BPF_STX {
            self.reg(pc, insn.src)?
        } else {
            insn.imm as i64 as u64
        };
        self.store_mem(pc, addr, n, v)
    }

    fn atomic(&mut self, pc: usize, insn: Insn, addr: u64, n: usize) -> Result<(), VmError> {
        let bad_imm = Err(VmError::Malformed {
            pc,
            what: Malformed::Imm(insn.imm),
        });
        match insn.imm {
            BPF_LOAD_ACQ => {
                // dst = *(src + off): the address comes from src for this one.
                let dst = self.wreg(pc, insn.dst)?;
                let a = self.reg(pc, insn.src)?.wrapping_add(insn.off as i64 as u64);
                self.regs[dst] = self.load(pc, a, n)?;
                return Ok(());
            }
            BPF_STORE_REL => {
                let v = self.reg(pc, insn.src)?;
                return self.store_mem(pc, addr, n, v);
            }
            _ if n < 4 => return bad_imm,
            _ => {}
        }
        let s = self.reg(pc, insn.src)?;
        let mask = if n == 4 { u32::MAX as u64 } else { u64::MAX };
        let old = self
            .mem
            .slice_mut(addr, n)
            .map(|b| read_le(b))
            .map_err(|f| VmError::mem(pc, f))?;
        let (new, fetch_into) = match insn.imm {
            BPF_CMPXCHG => {
                let new = if old == self.regs[0] & mask { s } else { old };
                (new, Some(0))
            }
            BPF_XCHG => (s, Some(self.wreg(pc, insn.src)?)),
            imm => {
                let new = match imm & !BPF_FETCH {
                    0x00 => old.wrapping_add(s),
                    0x40 => old | s,
                    0x50 => old & s,
                    0xa0 => old ^ s,
                    _ => return bad_imm,
                };
                let fetch = if imm & BPF_FETCH != 0 {
                    Some(self.wreg(pc, insn.src)?)
                } else {
                    None
                };
                (new, fetch)
            }
        };
        self.store_mem(pc, addr, n, new & mask)?;
        if let Some(r) = fetch_into {
            self.regs[r] = old;
        }
        Ok(())
    }

    fn ld(&mut self, pc: usize, insn: Insn) -> Result<Flow, VmError> {
        if mode(insn.code) != BPF_IMM {
            return self.ld_abs(pc, insn);
        }
        let dst = self.wreg(pc, insn.dst)?;
        let Some(&next) = self.prog.insns().get(pc + 1) else {
            return Err(VmError::Malformed {
                pc,
                what: Malformed::LdImm64Incomplete,
            });
        };
        if next.code != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
            return Err(VmError::Malformed {
                pc,
                what: Malformed::LdImm64SecondSlot,
            });
        }
        self.regs[dst] = if insn.src == 0 {
            insn.imm as u32 as u64 | (next.imm as u32 as u64) << 32
        } else {
            self.env
                .ld_imm64(insn.src, insn.imm, next.imm)
                .map_err(|error| VmError::Env { pc, error })?
        };
        Ok(Flow::Skip)
    }

    /// Legacy packet loads, as `bpf_gen_ld_abs` compiles them: the offset is `imm` (ABS) or
    /// `src + imm` (IND) truncated to an `int`; the bytes are big-endian; an offset outside
    /// the packet ends the program with r0 = 0. Negative (`SKF_*_OFF`) offsets are not
    /// modeled: they end it too.
    fn ld_abs(&mut self, pc: usize, insn: Insn) -> Result<Flow, VmError> {
        let base = if mode(insn.code) == BPF_IND {
            self.reg(pc, insn.src)?
        } else {
            0
        };
        let off = base.wrapping_add(insn.imm as i64 as u64) as i32;
        let n = size_bytes(insn.code);
        let Some(pkt) = self.mem.packet() else {
            return Err(VmError::NoPacket { pc });
        };
        let bytes = usize::try_from(off)
            .ok()
            .and_then(|o| pkt.get(o..o.checked_add(n)?));
        let Some(bytes) = bytes else {
            return Ok(Flow::Done(0));
        };
        self.regs[0] = bytes.iter().fold(0u64, |v, &b| v << 8 | b as u64);
        Ok(Flow::Next)
    }
}

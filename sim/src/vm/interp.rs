//! The interpreter: one instruction at a time, with the kernel runtime's semantics (see the
//! module docs of [`super`]). Each instruction is decoded where it runs, so a bad one is
//! reported at its own pc and only if it is reached.

use super::alu::{alu32, alu64, byte_swap, cond, read_le, sign_extend, size_bytes};
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
}

impl Engine for Interpreter {
    fn run(
        &mut self,
        prog: &Program,
        args: [u64; 5],
        mem: &mut Memory,
        env: &mut dyn Env,
    ) -> Result<u64, VmError> {
        mem.reset_frames();
        mem.push_frame();
        let mut regs = [0u64; 11];
        regs[1..6].copy_from_slice(&args);
        regs[10] = Memory::frame_top(0);
        let mut run = Run {
            regs,
            prog: prog.clone(),
            callers: Vec::new(),
            may_goto: BPF_MAX_LOOPS,
            tail_calls: 0,
            mem,
            env,
        };
        // The frames stay readable (`Memory::frame`) until the next run, for a post-mortem.
        run.exec(self.budget, &mut self.executed)
    }
}

/// A caller's state, saved across a bpf-to-bpf call. The kernel's interpreter runs a callee
/// with its own register array, so all of the caller's r1..r10 come back on return (the
/// verifier makes r1..r5 unreadable after a call; r6..r9 are the callee-saved ones).
struct Frame {
    prog: Program,
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

/// One run's state.
struct Run<'a> {
    regs: [u64; 11],
    prog: Program,
    callers: Vec<Frame>,
    may_goto: u32,
    tail_calls: u32,
    mem: &'a mut Memory,
    env: &'a mut dyn Env,
}

impl Run<'_> {
    fn exec(&mut self, budget: u64, executed: &mut u64) -> Result<u64, VmError> {
        *executed = 0;
        let mut pc = 0usize;
        let mut last = 0usize;
        loop {
            let Some(&insn) = self.prog.insns().get(pc) else {
                return Err(VmError::FellOffEnd { pc: last });
            };
            if *executed >= budget {
                return Err(VmError::BudgetExceeded {
                    pc,
                    executed: *executed,
                });
            }
            *executed += 1;
            last = pc;
            pc = match self.step(pc, insn)? {
                Flow::Next => pc + 1,
                Flow::Skip => pc + 2,
                Flow::Jump(t) => t,
                Flow::Done(r0) => return Ok(r0),
            };
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
        self.regs
            .get(r as usize)
            .copied()
            .ok_or(VmError::Malformed {
                pc,
                what: Malformed::Register(r),
            })
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
        self.regs[1..].copy_from_slice(&f.saved);
        self.prog = f.prog;
        self.may_goto = f.may_goto;
        self.mem.pop_frame();
        Flow::Jump(f.ret_pc)
    }

    fn call(&mut self, pc: usize, insn: Insn) -> Result<Flow, VmError> {
        match insn.src {
            0 if insn.imm == BPF_FUNC_TAIL_CALL => self.tail_call(pc),
            0 => {
                let mut args = [0u64; 5];
                args.copy_from_slice(&self.regs[1..6]);
                let id = insn.imm;
                match self.env.call_helper(id, args, &mut *self.mem) {
                    Ok(r0) => {
                        self.regs[0] = r0;
                        Ok(Flow::Next)
                    }
                    Err(EnvError::UnknownHelper) => Err(VmError::UnknownHelper { pc, id }),
                    Err(EnvError::Fault(f)) => Err(VmError::mem(pc, f)),
                    Err(error) => Err(VmError::Env { pc, error }),
                }
            }
            pseudo::CALL => {
                let target = pc as i64 + 1 + insn.imm as i64;
                if target < 0 || target >= self.prog.len() as i64 {
                    return Err(VmError::BadCallTarget { pc, target });
                }
                if !self.mem.push_frame() {
                    return Err(VmError::CallDepthExceeded { pc });
                }
                let mut saved = [0u64; 10];
                saved.copy_from_slice(&self.regs[1..]);
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
        self.prog = prog;
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

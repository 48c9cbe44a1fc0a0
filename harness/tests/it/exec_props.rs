//! The three-way execution property: random programs the kernel's verifier accepts (as root)
//! run on our interpreter (directly, and through the simulated kernel's `BPF_PROG_TEST_RUN`),
//! on rbpf 0.4.1 (where it supports every instruction) and on the real kernel (its
//! `BPF_PROG_TEST_RUN`, through the `LinuxBackend`), and must give the same result.
//!
//! The generator writes socket filters: `r6 = r1` (the context, never touched again), every
//! other register initialised, a 64-byte stack area written before anything reads it, then
//! straight-line ALU64/ALU32 (division and modulo by registers, shifts, `movsx`, `sdiv`/`smod`,
//! `le`/`be`/`bswap`, `neg`), stack loads and stores of every size (sign-extending loads
//! too), atomics on the stack (add/or/and/xor with and without fetch, xchg, cmpxchg, 32 and 64
//! bits), forward JMP/JMP32 branches (if, if/else with `ja` or `gotol`) and bounded loops
//! (a counter in r9 that the body leaves alone). Half the programs stay within what rbpf runs
//! (no atomics, no v4 instructions). The end folds every register and the stack area into r0
//! (`r0 = r0 * K + rX`), stores r0's halves in `skb->cb[0]`/`cb[1]` (the kernel's retval is
//! only r0's low 32 bits; `ctx_out` brings `cb` back) and returns r0.
//!
//! rbpf 0.4.1 has two known bugs these programs reach: it compares 64-bit
//! `jeq/jne/jgt/jge/jlt/jle` with a negative immediate as if the immediate were zero-extended
//! (`sim/tests/it/conformance.rs`), and a 32-bit `mod` by a zero register leaves dst's upper
//! half (the kernel zero-extends; `../shared/spec/rbpf-0.4.1.md`). A program whose rbpf result
//! differs is rebuilt with those instructions written out the way rbpf reads them (the jump
//! as a compare against the zero-extended constant in a register, the `mod` skipped when the
//! divisor is zero); when the interpreter's result on that program equals rbpf's, the
//! difference is a known bug: counted and printed, not a failure.
//!
//! A verifier rejection of a generated program is a bug of the generator: the test fails
//! and prints the verifier's log. Any disagreement is shrunk (items dropped while it lasts)
//! and printed with the program. Without root the kernel part prints the skip line; the
//! interpreter, simulated-kernel and rbpf parts still run.
//!
//! `BPFSIM_SEED` (default fixed) and `BPFSIM_EXEC_CASES` (default 2000) set the campaign.

use std::collections::BTreeMap;

use harness::backend::linux::{kernel_tier, say_skipped};
use harness::backend::{Backend, BpfCall, BpfRet, ProcId, SimBackend, TestRunCall};
use sim::prog::insn::*;
use sim::uapi::prog_type;
use sim::vm::rbpf_engine::{RbpfEngine, unsupported};
use sim::vm::{Engine, Interpreter, Memory, NoEnv, Program, RegionKind};

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    /// An immediate: small, a boundary value, or anything.
    fn imm(&mut self) -> i32 {
        match self.below(4) {
            0 => self.below(33) as i32 - 16,
            1 => self.pick(&[
                0,
                1,
                -1,
                i32::MIN,
                i32::MAX,
                0x7f,
                0x80,
                0xff,
                0x7fff,
                0x8000,
                0xffff,
                -0x80,
                -0x8000,
            ]),
            _ => self.next() as i32,
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---- programs as items -----------------------------------------------------------------------

/// Registers the body may read and write (r6 holds the context, r10 the frame).
const REGS: [u8; 9] = [0, 1, 2, 3, 4, 5, 7, 8, 9];
/// The loop counter: not written inside loop bodies.
const COUNTER: u8 = 9;
/// The stack area the body uses: `[r10 - 64, r10)`, written by the prologue.
const AREA: i16 = 64;
/// A slot below the area, for the rbpf-bug rewrite's spill.
const SPILL: i16 = -72;
/// `skb->cb[0]`.
const CB: i16 = 48;
/// Generator-internal op codes for the v4 forms (the real op codes are multiples of 0x10).
const SDIV: u8 = 0x01;
const SMOD: u8 = 0x02;
const MOVSX: u8 = 0x03;
/// The fold's multiplier.
const K: i32 = 0x2545_f491;

/// One piece of a program body; every item is valid on its own, so the shrinker can drop any.
#[derive(Clone, Debug)]
enum Item {
    /// Straight-line instructions (an `ld_imm64` is its two slots).
    Plain(Vec<Insn>),
    /// `if cond goto end; then...; end:`.
    If { cond: Insn, then: Vec<Item> },
    /// `if cond goto b; a...; ja end; b: b...; end:` (`gotol` when `long`).
    IfElse {
        cond: Insn,
        a: Vec<Item>,
        b: Vec<Item>,
        long: bool,
    },
    /// `r9 = n; top: body...; r9 -= 1; if r9 != 0 goto top`.
    Loop { n: i32, body: Vec<Item> },
}

/// What the generator may use.
#[derive(Clone, Copy)]
struct Profile {
    /// Atomics and the v4 instructions (movsx, sdiv/smod, bswap, ldsx, gotol).
    full: bool,
}

struct Gen<'r> {
    rng: &'r mut Rng,
    p: Profile,
}

impl Gen<'_> {
    fn reg(&mut self, in_loop: bool) -> u8 {
        loop {
            let r = self.rng.pick(&REGS);
            if !(in_loop && r == COUNTER) {
                return r;
            }
        }
    }

    fn any_reg(&mut self) -> u8 {
        self.rng.pick(&REGS)
    }

    fn alu(&mut self, in_loop: bool) -> Vec<Insn> {
        let r = &mut *self.rng;
        let wide = r.chance(2);
        let class = if wide { BPF_ALU64 } else { BPF_ALU };
        let width = if wide { 64 } else { 32 };
        let dst = self.reg(in_loop);
        let src = self.any_reg();
        let r = &mut *self.rng;
        let mut ops = vec![
            BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_NEG,
            BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH, BPF_END,
        ];
        if self.p.full {
            ops.extend([SDIV, SMOD, MOVSX]);
        }
        let op = r.pick(&ops);
        let x = r.chance(2);
        let insn = match op {
            SDIV | SMOD => {
                let o = if op == SDIV { BPF_DIV } else { BPF_MOD };
                if x {
                    Insn::raw(class | o | BPF_X, dst, src, 1, 0)
                } else {
                    let imm = match r.imm() {
                        0 => -1,
                        v => v,
                    };
                    Insn::raw(class | o | BPF_K, dst, 0, 1, imm)
                }
            }
            MOVSX => {
                let off = if wide {
                    r.pick(&[8i16, 16, 32])
                } else {
                    r.pick(&[8i16, 16])
                };
                Insn::raw(class | BPF_MOV | BPF_X, dst, src, off, 0)
            }
            BPF_NEG => Insn::raw(class | BPF_NEG | BPF_K, dst, 0, 0, 0),
            BPF_END => {
                let imm = r.pick(&[16, 32, 64]);
                if self.p.full && wide {
                    Insn::raw(BPF_ALU64 | BPF_END | BPF_K, dst, 0, 0, imm)
                } else {
                    let kind = if r.chance(2) { BPF_TO_LE } else { BPF_TO_BE };
                    Insn::raw(BPF_ALU | BPF_END | kind, dst, 0, 0, imm)
                }
            }
            BPF_LSH | BPF_RSH | BPF_ARSH if !x => {
                Insn::raw(class | op | BPF_K, dst, 0, 0, r.below(width) as i32)
            }
            BPF_DIV | BPF_MOD if !x => {
                let imm = match r.imm() {
                    0 => 7,
                    v => v,
                };
                Insn::raw(class | op | BPF_K, dst, 0, 0, imm)
            }
            _ if x => Insn::raw(class | op | BPF_X, dst, src, 0, 0),
            _ => Insn::raw(class | op | BPF_K, dst, 0, 0, r.imm()),
        };
        vec![insn]
    }

    /// An offset in the area aligned to `size` bytes.
    fn slot(&mut self, size: i16) -> i16 {
        -AREA + size * self.rng.below((AREA / size) as u64) as i16
    }

    fn mem(&mut self, in_loop: bool) -> Vec<Insn> {
        let (sz, bytes) = self
            .rng
            .pick(&[(BPF_B, 1i16), (BPF_H, 2), (BPF_W, 4), (BPF_DW, 8)]);
        let off = self.slot(bytes);
        let choice = self.rng.below(if self.p.full { 6 } else { 3 });
        match choice {
            0 => {
                let src = self.any_reg();
                vec![Insn::raw(BPF_STX | BPF_MEM | sz, 10, src, off, 0)]
            }
            1 => vec![Insn::raw(BPF_ST | BPF_MEM | sz, 10, 0, off, self.rng.imm())],
            2 => {
                let dst = self.reg(in_loop);
                vec![Insn::raw(BPF_LDX | BPF_MEM | sz, dst, 10, off, 0)]
            }
            3 if sz != BPF_DW => {
                let dst = self.reg(in_loop);
                vec![Insn::raw(BPF_LDX | BPF_MEMSX | sz, dst, 10, off, 0)]
            }
            _ => {
                // An atomic: 32 or 64 bits, aligned.
                let (sz, bytes) = self.rng.pick(&[(BPF_W, 4i16), (BPF_DW, 8)]);
                let off = self.slot(bytes);
                let imm = self
                    .rng
                    .pick(&[0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1]);
                // Fetching forms write src (cmpxchg writes r0): never the loop counter there.
                let src = self.reg(in_loop);
                let mut v = vec![];
                if imm == 0xf1 && in_loop && self.rng.chance(2) {
                    // Make the compare succeed sometimes: r0 = the slot's current value.
                    v.push(Insn::raw(BPF_LDX | BPF_MEM | sz, 0, 10, off, 0));
                }
                v.push(Insn::raw(BPF_STX | BPF_ATOMIC | sz, 10, src, off, imm));
                v
            }
        }
    }

    fn cond(&mut self) -> Insn {
        let r = &mut *self.rng;
        let class = if r.chance(2) { BPF_JMP } else { BPF_JMP32 };
        let op = r.pick(&[
            BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT, BPF_JLE,
            BPF_JSLT, BPF_JSLE,
        ]);
        let dst = self.any_reg();
        let src = self.any_reg();
        if self.rng.chance(2) {
            Insn::raw(class | op | BPF_X, dst, src, 0, 0)
        } else {
            Insn::raw(class | op | BPF_K, dst, 0, 0, self.rng.imm())
        }
    }

    fn block(&mut self, n: usize, depth: u32, in_loop: bool) -> Vec<Item> {
        let mut out = Vec::new();
        for _ in 0..n {
            let k = self.rng.below(20);
            let item = match k {
                0..=8 => Item::Plain(self.alu(in_loop)),
                9 => {
                    let dst = self.reg(in_loop);
                    let v = self.rng.next();
                    Item::Plain(Insn::ld_imm64(dst, v).to_vec())
                }
                10..=13 => Item::Plain(self.mem(in_loop)),
                14 | 15 if depth < 2 => {
                    let cond = self.cond();
                    let len = 1 + self.rng.below(4) as usize;
                    Item::If {
                        cond,
                        then: self.block(len, depth + 1, in_loop),
                    }
                }
                16 if depth < 2 => {
                    let cond = self.cond();
                    let (la, lb) = (1 + self.rng.below(3), 1 + self.rng.below(3));
                    let long = self.p.full && self.rng.chance(3);
                    Item::IfElse {
                        cond,
                        a: self.block(la as usize, depth + 1, in_loop),
                        b: self.block(lb as usize, depth + 1, in_loop),
                        long,
                    }
                }
                17 if !in_loop && depth == 0 => {
                    let n = 1 + self.rng.below(6) as i32;
                    let len = 1 + self.rng.below(5) as usize;
                    Item::Loop {
                        n,
                        body: self.block(len, 1, true),
                    }
                }
                _ => Item::Plain(self.alu(in_loop)),
            };
            out.push(item);
        }
        out
    }
}

/// One generated program: its body items and the profile it was generated with.
#[derive(Clone, Debug)]
struct Case {
    body: Vec<Item>,
    init: Vec<Insn>,
}

fn gen_case(rng: &mut Rng) -> (Case, Profile) {
    let p = Profile {
        full: !rng.chance(2),
    };
    let mut init = vec![Insn::mov64_reg(6, 1)];
    for r in REGS {
        match rng.below(3) {
            0 => init.push(Insn::mov64_imm(r, rng.imm())),
            1 => init.push(Insn::alu32_imm(BPF_MOV, r, rng.imm())),
            _ => init.extend(Insn::ld_imm64(r, rng.next())),
        }
    }
    for i in 0..(AREA / 8) {
        let off = -8 * (i + 1);
        if rng.chance(2) {
            let src = rng.pick(&REGS);
            init.push(Insn::raw(BPF_STX | BPF_MEM | BPF_DW, 10, src, off, 0));
        } else {
            init.push(Insn::raw(BPF_ST | BPF_MEM | BPF_DW, 10, 0, off, rng.imm()));
        }
    }
    let n = 4 + rng.below(28) as usize;
    let body = Gen { rng, p }.block(n, 0, false);
    (Case { body, init }, p)
}

// ---- emission --------------------------------------------------------------------------------

/// An instruction before label resolution.
enum Op {
    I(Insn),
    /// A jump to a label: conditional (off), `ja` (off) or `gotol` (imm).
    J(Insn, usize),
    L(usize),
}

struct Emit {
    ops: Vec<Op>,
    labels: usize,
    /// Which of rbpf's known bugs to write out ([`Reading`]).
    reading: Reading,
}

/// A program as rbpf 0.4.1 reads it, for its known bugs (`../shared/spec/rbpf-0.4.1.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Reading {
    /// 64-bit `jeq/jne/jgt/jge/jlt/jle` with a negative immediate compare against the
    /// immediate zero-extended.
    jump_imm: bool,
    /// A 32-bit `mod` by a zero register leaves all 64 bits of dst (the kernel zero-extends).
    mod32_zero: bool,
}

impl Emit {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }

    /// `if cond goto target`, or, in the rbpf reading, the same compare against the
    /// zero-extended immediate held in a spare register.
    fn branch(&mut self, cond: Insn, target: usize) {
        let affected = cond.class() == BPF_JMP
            && src_kind(cond.code) == BPF_K
            && cond.imm < 0
            && matches!(
                op(cond.code),
                BPF_JEQ | BPF_JNE | BPF_JGT | BPF_JGE | BPF_JLT | BPF_JLE
            );
        if !(self.reading.jump_imm && affected) {
            self.ops.push(Op::J(cond, target));
            return;
        }
        let t = if cond.dst == 1 { 2 } else { 1 };
        let (taken, fall) = (self.label(), self.label());
        self.ops.extend([
            Op::I(Insn::raw(BPF_STX | BPF_MEM | BPF_DW, 10, t, SPILL, 0)),
            Op::I(Insn::alu32_imm(BPF_MOV, t, cond.imm)),
            Op::J(
                Insn::raw(BPF_JMP | op(cond.code) | BPF_X, cond.dst, t, 0, 0),
                taken,
            ),
            Op::I(Insn::raw(BPF_LDX | BPF_MEM | BPF_DW, t, 10, SPILL, 0)),
            Op::J(Insn::ja(0), fall),
            Op::L(taken),
            Op::I(Insn::raw(BPF_LDX | BPF_MEM | BPF_DW, t, 10, SPILL, 0)),
            Op::J(Insn::ja(0), target),
            Op::L(fall),
        ]);
    }

    fn items(&mut self, items: &[Item]) {
        for it in items {
            match it {
                Item::Plain(v) => {
                    for &i in v {
                        if self.reading.mod32_zero
                            && i.code == BPF_ALU | BPF_MOD | BPF_X
                            && i.off == 0
                        {
                            // if wsrc == 0 goto end; wdst %= wsrc; end:
                            let end = self.label();
                            self.ops
                                .push(Op::J(Insn::jmp32_imm(BPF_JEQ, i.src, 0, 0), end));
                            self.ops.push(Op::I(i));
                            self.ops.push(Op::L(end));
                        } else {
                            self.ops.push(Op::I(i));
                        }
                    }
                }
                Item::If { cond, then } => {
                    let end = self.label();
                    self.branch(*cond, end);
                    self.items(then);
                    self.ops.push(Op::L(end));
                }
                Item::IfElse { cond, a, b, long } => {
                    let (lb, end) = (self.label(), self.label());
                    self.branch(*cond, lb);
                    self.items(a);
                    let ja = if *long { Insn::ja32(0) } else { Insn::ja(0) };
                    self.ops.push(Op::J(ja, end));
                    self.ops.push(Op::L(lb));
                    self.items(b);
                    self.ops.push(Op::L(end));
                }
                Item::Loop { n, body } => {
                    let top = self.label();
                    self.ops.push(Op::I(Insn::mov64_imm(COUNTER, *n)));
                    self.ops.push(Op::L(top));
                    self.items(body);
                    self.ops.push(Op::I(Insn::alu64_imm(BPF_SUB, COUNTER, 1)));
                    self.ops
                        .push(Op::J(Insn::jmp_imm(BPF_JNE, COUNTER, 0, 0), top));
                }
            }
        }
    }

    /// Resolves labels into offsets.
    fn finish(self) -> Vec<Insn> {
        let mut at = vec![0usize; self.labels];
        let mut pc = 0;
        for o in &self.ops {
            match o {
                Op::L(l) => at[*l] = pc,
                Op::I(_) | Op::J(..) => pc += 1,
            }
        }
        let mut out = Vec::with_capacity(pc);
        for o in self.ops {
            match o {
                Op::L(_) => {}
                Op::I(i) => out.push(i),
                Op::J(mut i, l) => {
                    let rel = at[l] as i64 - out.len() as i64 - 1;
                    if i.class() == BPF_JMP32 && op(i.code) == BPF_JA {
                        i.imm = rel as i32;
                    } else {
                        i.off = rel as i16;
                    }
                    out.push(i);
                }
            }
        }
        out
    }
}

/// The program's instructions: prologue, body, the fold into r0 and `cb`, exit.
fn emit(c: &Case, reading: Reading) -> Vec<Insn> {
    let mut e = Emit {
        ops: c.init.iter().map(|&i| Op::I(i)).collect(),
        labels: 0,
        reading,
    };
    e.items(&c.body);
    let mut tail = vec![];
    for r in REGS.into_iter().filter(|&r| r != 0) {
        tail.push(Insn::alu64_imm(BPF_MUL, 0, K));
        tail.push(Insn::raw(BPF_ALU64 | BPF_ADD | BPF_X, 0, r, 0, 0));
    }
    for i in 0..(AREA / 8) {
        tail.push(Insn::raw(
            BPF_LDX | BPF_MEM | BPF_DW,
            1,
            10,
            -8 * (i + 1),
            0,
        ));
        tail.push(Insn::alu64_imm(BPF_MUL, 0, K));
        tail.push(Insn::raw(BPF_ALU64 | BPF_XOR | BPF_X, 0, 1, 0, 0));
    }
    tail.push(Insn::raw(BPF_STX | BPF_MEM | BPF_W, 6, 0, CB, 0));
    tail.push(Insn::mov64_reg(1, 0));
    tail.push(Insn::alu64_imm(BPF_RSH, 1, 32));
    tail.push(Insn::raw(BPF_STX | BPF_MEM | BPF_W, 6, 1, CB + 4, 0));
    tail.push(Insn::exit());
    e.ops.extend(tail.into_iter().map(Op::I));
    e.finish()
}

// ---- the engines -----------------------------------------------------------------------------

const SK_BUFF: usize = 192;

/// A direct run on an engine: r1 = a zeroed 192-byte context. r0 and `cb[0..2]` as a u64.
fn direct(engine: &mut dyn Engine, insns: &[Insn]) -> Result<(u64, u64), String> {
    let mut mem = Memory::new();
    let id = mem
        .map(vec![0; SK_BUFF], true, RegionKind::Context)
        .map_err(|e| format!("{e:?}"))?;
    let base = mem.region(id).base;
    let r0 = engine
        .run(
            &Program::new(insns.to_vec()),
            [base, 0, 0, 0, 0],
            &mut mem,
            &mut NoEnv,
        )
        .map_err(|e| format!("{e}"))?;
    let cb = &mem.region(id).bytes[CB as usize..CB as usize + 8];
    Ok((r0, u64::from_le_bytes(cb.try_into().expect("8 bytes"))))
}

/// A load and `BPF_PROG_TEST_RUN` on a backend: (retval, cb[0..2] as a u64), or the errno
/// of the load (`load: ...`) or of the run.
fn via_test_run(b: &mut dyn Backend, p: ProcId, insns: &[Insn]) -> Result<(u64, u64), String> {
    let load = BpfCall::ProgLoad {
        prog_type: prog_type::SOCKET_FILTER,
        insns: insns.to_vec(),
        name: "exec_props".into(),
        license: "GPL".into(),
        expected_attach_type: 0,
        prog_flags: 0,
    };
    let fd = match b.bpf(p, &load) {
        Ok(BpfRet::Fd(fd)) => fd,
        Ok(other) => return Err(format!("load: {other:?}")),
        Err(e) => return Err(format!("load: {e:?}")),
    };
    // An ARP-typed frame: no L3 header for the kernel to require.
    let mut pkt = vec![0u8; 64];
    pkt[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let call = TestRunCall::new(fd, &pkt).ctx(&[0; SK_BUFF]);
    let out = b.prog_test_run(p, &call).map_err(|e| format!("{e:?}"));
    b.close(p, fd).expect("close");
    let out = out?;
    out.result.map_err(|e| format!("run: {e:?}"))?;
    let cb = &out.ctx_out[CB as usize..CB as usize + 8];
    Ok((
        out.retval as u64,
        u64::from_le_bytes(cb.try_into().expect("8 bytes")),
    ))
}

/// The verifier's log for `insns` (root only), for reporting a rejected program.
fn verifier_log(insns: &[Insn]) -> String {
    use harness::backend::linux::sys::{GuardBuf, bpf_raw};
    let a = sim::ProgLoadAttr::new(prog_type::SOCKET_FILTER, insns).license("GPL");
    let (Ok(i), Ok(l), Ok(log)) = (
        GuardBuf::input(&sim::prog::insn::encode(insns)),
        GuardBuf::input(b"GPL\0"),
        GuardBuf::output(1 << 16),
    ) else {
        return "no memory for the log".into();
    };
    let mut attr = a.encode(i.addr(), l.addr(), log.addr(), 1 << 16);
    attr = attr.u32(sim::attr::off::prog_load::LOG_LEVEL, 1);
    let len = sim::attr::cmd_end(sim::uapi::cmd::PROG_LOAD);
    // SAFETY: `attr.0` holds `len` bytes; its pointers are the three live guard buffers.
    let r = unsafe {
        bpf_raw(
            sim::uapi::cmd::PROG_LOAD,
            attr.0[..len].as_mut_ptr(),
            len as u32,
        )
    };
    if let Ok(fd) = r {
        // SAFETY: closing the fd bpf() just returned.
        unsafe { libc::close(fd as i32) };
    }
    let text = log.to_vec();
    let n = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    String::from_utf8_lossy(&text[..n]).into_owned()
}

/// What one program did everywhere.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Everyone agreed; whether rbpf ran it, and whether it differed by its known bug.
    Agreed { rbpf: RbpfRun },
    /// The kernel's verifier refused it (a generator bug).
    Rejected(String),
    /// Someone disagreed.
    Differ(String),
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum RbpfRun {
    Ran,
    Skipped,
    /// It differed, exactly as the program read with these known bugs.
    KnownBug(Reading),
}

struct Machines {
    sim: SimBackend,
    sim_p: ProcId,
    kernel: Option<(harness::backend::LinuxBackend, ProcId)>,
}

fn judge(m: &mut Machines, c: &Case) -> Verdict {
    let insns = emit(c, Reading::default());
    let ours = match direct(&mut Interpreter::new(), &insns) {
        Ok(v) => v,
        Err(e) => return Verdict::Differ(format!("interpreter: {e}")),
    };
    if ours.0 != ours.1 {
        return Verdict::Differ(format!(
            "interpreter: r0 {:#x} but cb {:#x}",
            ours.0, ours.1
        ));
    }
    let expect_run = (ours.0 & 0xffff_ffff, ours.1);
    match via_test_run(&mut m.sim, m.sim_p, &insns) {
        Ok(v) if v == expect_run => {}
        other => {
            return Verdict::Differ(format!(
                "interpreter {ours:#x?}, simulated test run {other:#x?}"
            ));
        }
    }
    if let Some((k, p)) = m.kernel.as_mut() {
        match via_test_run(k, *p, &insns) {
            Ok(v) if v == expect_run => {}
            Err(e) if e.starts_with("load") => return Verdict::Rejected(e),
            other => {
                return Verdict::Differ(format!(
                    "interpreter {ours:#x?}, kernel test run {other:#x?}"
                ));
            }
        }
    }
    let prog = Program::new(insns.clone());
    let rbpf = if unsupported(&prog).is_empty() {
        match direct(&mut RbpfEngine::new(), &insns) {
            Ok(v) if v == ours => RbpfRun::Ran,
            other => {
                let explained = [(true, false), (false, true), (true, true)]
                    .into_iter()
                    .map(|(jump_imm, mod32_zero)| Reading {
                        jump_imm,
                        mod32_zero,
                    })
                    .find(|&r| {
                        let read = emit(c, r);
                        read != insns && direct(&mut Interpreter::new(), &read) == other
                    });
                match explained {
                    Some(r) => RbpfRun::KnownBug(r),
                    None => {
                        return Verdict::Differ(format!(
                            "interpreter {ours:#x?}, rbpf {other:#x?}"
                        ));
                    }
                }
            }
        }
    } else {
        RbpfRun::Skipped
    };
    Verdict::Agreed { rbpf }
}

/// Drops items (depth first, outermost first) while the case still fails the same way.
fn shrink(m: &mut Machines, mut c: Case) -> Case {
    fn failing(v: &Verdict) -> bool {
        !matches!(v, Verdict::Agreed { .. })
    }
    fn removals(items: &[Item]) -> Vec<Vec<Item>> {
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut v = items.to_vec();
            v.remove(i);
            out.push(v);
            let inner: Vec<Vec<Item>> = match &items[i] {
                Item::Plain(_) => vec![],
                Item::If { cond, then } => removals(then)
                    .into_iter()
                    .map(|t| {
                        vec![Item::If {
                            cond: *cond,
                            then: t,
                        }]
                    })
                    .collect(),
                Item::IfElse { cond, a, b, long } => removals(a)
                    .into_iter()
                    .map(|a| (a, b.clone()))
                    .chain(removals(b).into_iter().map(|b| (a.clone(), b)))
                    .map(|(a, b)| {
                        vec![Item::IfElse {
                            cond: *cond,
                            a,
                            b,
                            long: *long,
                        }]
                    })
                    .collect(),
                Item::Loop { n, body } => removals(body)
                    .into_iter()
                    .map(|b| vec![Item::Loop { n: *n, body: b }])
                    .collect(),
            };
            for rep in inner {
                let mut v = items.to_vec();
                v.splice(i..=i, rep);
                out.push(v);
            }
        }
        out
    }
    let kind = |v: &Verdict| std::mem::discriminant(v);
    let first = judge(m, &c);
    'outer: loop {
        for body in removals(&c.body) {
            let t = Case {
                body,
                init: c.init.clone(),
            };
            let v = judge(m, &t);
            if failing(&v) && kind(&v) == kind(&first) {
                c = t;
                continue 'outer;
            }
        }
        return c;
    }
}

fn show(insns: &[Insn]) -> String {
    sim::prog::disasm::disasm(insns, &Default::default())
}

/// A line on stderr, past the test harness's capture.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn exec_props() {
    let seed = env_u64("BPFSIM_SEED", 0xe7ec_0001);
    let cases = env_u64("BPFSIM_EXEC_CASES", 2000);
    let mut sim = SimBackend::default();
    let sim_p = sim.spawn(true).expect("spawn");
    let kernel = match kernel_tier() {
        Ok(mut k) => {
            let p = k.spawn(true).expect("spawn");
            Some((k, p))
        }
        Err(why) => {
            say_skipped(&why);
            None
        }
    };
    let on_kernel = kernel.is_some();
    let mut m = Machines { sim, sim_p, kernel };
    let mut rng = Rng(seed);
    let (mut insns_total, mut ran, mut skipped) = (0usize, 0, 0);
    let mut known: BTreeMap<&str, usize> = BTreeMap::new();
    let mut full = 0;
    let mut rejected = Vec::new();
    let mut differ = Vec::new();
    let mut op_seen: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..cases {
        let (c, p) = gen_case(&mut rng);
        full += usize::from(p.full);
        let insns = emit(&c, Reading::default());
        insns_total += insns.len();
        for i in &insns {
            let what = match (i.class(), mode(i.code)) {
                (BPF_STX, BPF_ATOMIC) => "atomic",
                (BPF_LDX, BPF_MEMSX) => "ldsx",
                (BPF_JMP | BPF_JMP32, _) if i.off < 0 => "back edge",
                _ => continue,
            };
            *op_seen.entry(what).or_default() += 1;
        }
        match judge(&mut m, &c) {
            Verdict::Agreed { rbpf } => match rbpf {
                RbpfRun::Ran => ran += 1,
                RbpfRun::Skipped => skipped += 1,
                RbpfRun::KnownBug(r) => {
                    let what = match (r.jump_imm, r.mod32_zero) {
                        (true, false) => "jump imm",
                        (false, true) => "mod32 by zero",
                        _ => "both",
                    };
                    *known.entry(what).or_default() += 1;
                }
            },
            Verdict::Rejected(e) => {
                if rejected.len() < 3 {
                    let small = shrink(&mut m, c);
                    let insns = emit(&small, Reading::default());
                    rejected.push(format!(
                        "{e}\n{}\nverifier log:\n{}",
                        show(&insns),
                        verifier_log(&insns)
                    ));
                } else {
                    rejected.push(e);
                }
            }
            Verdict::Differ(d) => {
                if differ.len() < 3 {
                    let small = shrink(&mut m, c);
                    let insns = emit(&small, Reading::default());
                    let now = judge(&mut m, &small);
                    differ.push(format!("{d}\nshrunk: {now:?}\n{}", show(&insns)));
                } else {
                    differ.push(d);
                }
            }
        }
    }
    let who = if on_kernel {
        "interpreter/rbpf/kernel"
    } else {
        "interpreter/rbpf (kernel skipped)"
    };
    let b: usize = known.values().sum();
    say(&format!(
        "exec_props: {cases} programs ({insns_total} insns), {who} agreed; rbpf ran {}, skipped \
         {skipped}, known-bug differences {b} ({})",
        ran + b,
        known
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    assert!(
        rejected.is_empty(),
        "{} generated programs were rejected by the verifier (generator bugs); the first:\n{}",
        rejected.len(),
        rejected.join("\n\n")
    );
    assert!(
        differ.is_empty(),
        "{} programs disagree; the first, shrunk:\n{}",
        differ.len(),
        differ.join("\n\n")
    );
    // The campaign is not vacuous.
    if cases >= 100 {
        assert!(full > 0 && full < cases as usize, "both profiles ran");
        assert!(ran > 0, "rbpf ran some programs");
        for what in ["atomic", "ldsx", "back edge"] {
            assert!(
                op_seen.get(what).is_some_and(|&n| n > 0),
                "no {what} generated"
            );
        }
    }
}

/// The prologue with every register 0 but `set`, and the stack area zeroed.
fn zeroed_init<const N: usize>(set: [(u8, i32); N]) -> Vec<Insn> {
    let mut v = vec![Insn::mov64_reg(6, 1)];
    for r in REGS {
        let imm = set.iter().find(|s| s.0 == r).map_or(0, |s| s.1);
        v.push(Insn::mov64_imm(r, imm));
    }
    for i in 0..(AREA / 8) {
        v.push(Insn::raw(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8 * (i + 1), 0));
    }
    v
}

/// The rbpf readings really are what rbpf 0.4.1 does: on a program with one negative-immediate
/// 64-bit compare (one 32-bit mod by zero), rbpf agrees with our interpreter running the
/// rewritten program, and not with the original.
#[test]
fn the_rbpf_reading_models_its_known_bug() {
    // r1 = -1 (64-bit); if r1 == -1 goto +1; r0 = 1; exit  (r0 = 2 before).
    let c = Case {
        init: zeroed_init([(0, 2), (1, -1)]),
        body: vec![Item::If {
            cond: Insn::jmp_imm(BPF_JEQ, 1, -1, 0),
            then: vec![Item::Plain(vec![Insn::mov64_imm(0, 1)])],
        }],
    };
    let jump = Reading {
        jump_imm: true,
        mod32_zero: false,
    };
    let (orig, reading) = (emit(&c, Reading::default()), emit(&c, jump));
    assert_ne!(orig, reading);
    let ours = direct(&mut Interpreter::new(), &orig).expect("runs");
    let rbpf = direct(&mut RbpfEngine::new(), &orig).expect("runs");
    let as_rbpf = direct(&mut Interpreter::new(), &reading).expect("runs");
    assert_ne!(ours, rbpf, "rbpf takes the other branch");
    assert_eq!(rbpf, as_rbpf);

    // r2 = -4 (64-bit); w3 = 0; w2 %= w3: the kernel leaves (u32)-4, rbpf all of -4.
    let c = Case {
        init: zeroed_init([(2, -4)]),
        body: vec![Item::Plain(vec![
            Insn::raw(BPF_ALU | BPF_MOD | BPF_X, 2, 3, 0, 0),
            Insn::mov64_reg(0, 2),
        ])],
    };
    let modz = Reading {
        jump_imm: false,
        mod32_zero: true,
    };
    let (orig, reading) = (emit(&c, Reading::default()), emit(&c, modz));
    let ours = direct(&mut Interpreter::new(), &orig).expect("runs");
    let rbpf = direct(&mut RbpfEngine::new(), &orig).expect("runs");
    assert_ne!(ours, rbpf, "rbpf keeps the upper half");
    assert_eq!(
        rbpf,
        direct(&mut Interpreter::new(), &reading).expect("runs")
    );
}

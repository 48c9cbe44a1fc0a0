//! Totality: random instruction bytes never panic the interpreter, and a run is a function of
//! its inputs (the same program twice gives the same result and the same memory).

use super::*;
use crate::prog::insn::*;

/// SplitMix64, so the corpus is the same every run.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Answers everything, including helpers that fault, so those paths run too.
pub(super) struct Anything;

impl Env for Anything {
    fn call_helper(&mut self, id: i32, a: [u64; 5], mem: &mut Memory) -> Result<u64, EnvError> {
        match id.rem_euclid(4) {
            0 => Err(EnvError::UnknownHelper),
            1 => Ok(mem.load(a[0], 8)?),
            2 => Ok(a[0]),
            _ => Err(EnvError::Other("refused")),
        }
    }

    fn ld_imm64(&mut self, src: u8, imm: i32, _: i32) -> Result<u64, EnvError> {
        match src {
            1 | 2 => Ok(DATA_BASE.wrapping_add(imm as u64 & 0xff)),
            _ => Err(EnvError::UnresolvedLdImm64 { src }),
        }
    }

    fn tail_call(&mut self, _: u64, index: u32) -> Result<TailCallTarget, EnvError> {
        Ok(match index % 3 {
            0 => TailCallTarget::OutOfRange,
            1 => TailCallTarget::Empty,
            _ => TailCallTarget::Prog(Program::new(vec![Insn::mov64_imm(0, 1), Insn::exit()])),
        })
    }
}

/// An instruction with a plausible opcode most of the time, so runs get past the first one.
pub(super) fn insn(rng: &mut Rng, len: usize) -> Insn {
    let r = rng.next();
    let valid = crate::prog::opcodes::INSN_TABLE;
    let code = if r % 8 == 0 {
        (r >> 8) as u8
    } else {
        valid[(r >> 8) as usize % valid.len()]
    };
    let reg = |x: u64| {
        if x % 16 == 0 {
            (x >> 4) as u8 & 0xf
        } else {
            (x % 11) as u8
        }
    };
    let small = (r >> 40) % (2 * len as u64 + 2);
    let off = if r & (1 << 20) == 0 {
        small as i16 - len as i16
    } else {
        (r >> 24) as i16
    };
    let imm = match (r >> 21) % 4 {
        0 => (r >> 32) as i32,
        1 => small as i32 - len as i32,
        2 => [0, 1, 16, 32, 64, 0xe1, 0xf1, 0x01, 12, 5][(r >> 32) as usize % 10],
        _ => -((r >> 60) as i32),
    };
    let mut insn = Insn::raw(code, reg(r >> 12), reg(r >> 16), off, imm);
    // Mostly clear the fields the verifier wants zero, so runs get past them.
    for _ in 0..(r % 4 != 0) as usize * 4 {
        match super::fields::check_reserved(&insn) {
            Err(Malformed::Src(_)) => insn.src = 0,
            Err(Malformed::Dst(_)) => insn.dst = 0,
            Err(Malformed::Off(_)) => insn.off = 0,
            Err(Malformed::Imm(_)) => insn.imm = 0,
            _ => break,
        }
    }
    insn
}

#[test]
fn random_programs_never_panic_and_are_deterministic() {
    let mut rng = Rng(0x5eed);
    let mut outcomes = [0usize; 2];
    for _ in 0..10_000 {
        let len = 1 + (rng.next() % 24) as usize;
        let prog = Program::new((0..len).map(|_| insn(&mut rng, len)).collect::<Vec<_>>());
        let run = || {
            let mut mem = Memory::new();
            let id = mem
                .map(vec![0xab; 64], true, RegionKind::Packet)
                .expect("region");
            mem.set_packet(Some(id));
            let base = mem.region(id).base;
            let mut vm = Interpreter::with_budget(2_000);
            let r = vm.run(&prog, [base, 64, 0, 0, 0], &mut mem, &mut Anything);
            (r, mem.region(id).bytes.clone(), vm.executed())
        };
        let first = run();
        assert_eq!(first, run(), "{:?}", prog.insns());
        outcomes[first.0.is_ok() as usize] += 1;
    }
    assert!(
        outcomes[1] > 100,
        "some random programs finish: {outcomes:?}"
    );
}

#[test]
fn random_raw_bytes_never_panic() {
    let mut rng = Rng(7);
    for _ in 0..10_000 {
        let n = (rng.next() % 200) as usize;
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let mut mem = Memory::new();
        let mut vm = Interpreter::with_budget(1_000);
        let _ = vm.run(
            &Program::from_bytes(&bytes),
            [0; 5],
            &mut mem,
            &mut Anything,
        );
    }
}

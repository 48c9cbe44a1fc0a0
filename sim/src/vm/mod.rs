//! Execution: an exact eBPF interpreter of our own, behind an [`Engine`] interface that a
//! second engine (rbpf) and `BPF_PROG_TEST_RUN` build on.
//!
//! What runs: the whole instruction set through ISA v4 (RFC 9669) with the semantics of the
//! kernel's runtime, i.e. `kernel/bpf/core.c ___bpf_prog_run` *after* the verifier's
//! rewrites in `do_misc_fixups` (which define division by a zero register and signed
//! division by -1):
//!
//! - ALU32/ALU64: 32-bit results zero-extend; shift amounts are masked to 31/63;
//!   `x / 0 = 0`, `x % 0 = x` (32-bit: `(u32)x`); `sdiv` by -1 negates, `smod` by -1 gives 0
//!   (so `INT_MIN / -1 = INT_MIN`, no trap); `movsx`, `neg`, `le`/`be`, v4 `bswap`.
//! - Loads and stores of 1/2/4/8 bytes, sign-extending loads (`MEMSX`), every atomic
//!   (`add`/`or`/`and`/`xor` with and without `FETCH`, `xchg`, `cmpxchg` against r0, in 32
//!   and 64 bits, plus 6.15's load-acquire/store-release), `ld_imm64` (plain constants here;
//!   the map forms through [`Env::ld_imm64`]), legacy `LD_ABS`/`LD_IND` (big-endian, against
//!   [`Memory::set_packet`]'s region; an offset outside it ends the program with r0 = 0, as
//!   the code `bpf_gen_ld_abs` emits does).
//! - JMP and JMP32, immediates sign-extended to 64 bits for 64-bit compares; `goto` (`off`)
//!   and `gotol` (JMP32, `imm`); `may_goto` with the kernel's `BPF_MAX_LOOPS` per frame.
//! - Helper calls (`call imm`, src_reg 0) through [`Env::call_helper`]; `bpf_tail_call`
//!   (helper 12) through [`Env::tail_call`] with `MAX_TAIL_CALL_CNT` = 33; bpf-to-bpf calls
//!   (src_reg 1, pc-relative) with a fresh, zeroed 512-byte frame each and at most
//!   [`MAX_CALL_FRAMES`] frames.
//!
//! Differences from the kernel, on purpose:
//! - The kernel's verifier bounds the *sum* of the frames' stack depths along a call chain
//!   to `MAX_BPF_STACK` (512) using each subprogram's computed depth. There is no verifier
//!   pass here that computes depths, so every frame gets the full 512 bytes and only the
//!   frame count is bounded (`MAX_CALL_FRAMES` = 8, the kernel's limit). A program the
//!   kernel rejects for its combined depth can run here.
//! - Things the verifier rejects at load are runtime errors here, at the pc where they
//!   happen: an opcode outside the kernel's table, an `off` that selects no variant,
//!   division by an immediate zero, a write to r10, a jump or call outside the program,
//!   falling off the end, a reserved field that is not zero (`fields`). A shift by an
//!   immediate at or above the width, which the verifier rejects, is masked instead (RFC
//!   9669; the conformance suite expects it).
//! - The instruction budget has no kernel counterpart at run time (the verifier bounds
//!   execution statically); see [`DEFAULT_BUDGET`].
//!
//! Memory is virtual: the program sees addresses, [`Memory`] maps them to regions it owns
//! (stack frames, and whatever the caller registers: context, packet, map values, global
//! data). Every access is checked byte-exactly against one region; no host address is ever
//! formed from guest data, so there is no `unsafe` here.
//!
//! Determinism: same program, arguments, memory and environment answers → same result,
//! same memory, same error.

mod alu;
mod decode;
mod error;
mod fields;
mod interp;
mod memory;
pub mod rbpf_engine;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_calls;
#[cfg(test)]
mod tests_fast;
#[cfg(test)]
mod tests_random;

use std::sync::{Arc, OnceLock};

pub use error::{EnvError, Malformed, MemFault, VmError};
pub use interp::Interpreter;
pub use memory::{
    DATA_BASE, FRAME_STRIDE, Memory, Region, RegionError, RegionId, RegionKind, STACK_BASE,
};

use crate::prog::Insn;

/// `MAX_BPF_STACK`: the bytes of one stack frame (r10 points at its end).
pub const STACK_SIZE: usize = 512;

/// `MAX_CALL_FRAMES` (`include/linux/bpf_verifier.h`): the most frames a call chain may
/// have, the main program's included.
pub const MAX_CALL_FRAMES: usize = 8;

/// `MAX_TAIL_CALL_CNT` (`include/linux/bpf.h`): the most tail calls one run may take.
pub const MAX_TAIL_CALL_CNT: u32 = 33;

/// `BPF_MAX_LOOPS` (`include/linux/bpf.h`): how many times `may_goto` falls through in one
/// frame before it jumps.
pub const BPF_MAX_LOOPS: u32 = 8 * 1024 * 1024;

/// `BPF_COMPLEXITY_LIMIT_INSNS`: the most instructions the verifier processes for one
/// program.
pub const BPF_COMPLEXITY_LIMIT_INSNS: u64 = 1_000_000;

/// The default instruction budget of one run: `(MAX_TAIL_CALL_CNT + 1) *
/// BPF_COMPLEXITY_LIMIT_INSNS` = 34,000,000.
///
/// The kernel has no run-time budget: the verifier walks every path, loop iterations
/// included, and gives up after `BPF_COMPLEXITY_LIMIT_INSNS` processed instructions, so one
/// accepted program executes at most about that many per run; a run may chain 33 tail
/// calls, hence the factor. A program that needs more is one the kernel would not have
/// loaded (helper-driven loops such as `bpf_loop` aside, which count their callbacks'
/// instructions here too). At ~100 M instructions/s a runaway loop ends in well under a
/// second.
pub const DEFAULT_BUDGET: u64 = (MAX_TAIL_CALL_CNT as u64 + 1) * BPF_COMPLEXITY_LIMIT_INSNS;

/// A program as an engine runs it: the translated instructions, shared (cloning is cheap,
/// so a prog_array lookup can hand one out), and the interpreter's pre-decoded form of them,
/// made on the first run and shared by every clone.
#[derive(Clone)]
pub struct Program {
    insns: Arc<[Insn]>,
    decoded: Arc<OnceLock<decode::Decoded>>,
}

impl PartialEq for Program {
    fn eq(&self, other: &Program) -> bool {
        self.insns == other.insns
    }
}

impl Eq for Program {}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("insns", &self.insns)
            .finish()
    }
}

impl Program {
    /// A program of these instructions. Nothing is checked here: the engine reports a bad
    /// instruction when (and if) it reaches it.
    pub fn new(insns: impl Into<Arc<[Insn]>>) -> Program {
        Program {
            insns: insns.into(),
            decoded: Arc::default(),
        }
    }

    /// Decodes user-space bytes (`insn_cnt * 8`; a trailing partial instruction is ignored).
    pub fn from_bytes(bytes: &[u8]) -> Program {
        Program::new(crate::prog::insn::decode(bytes))
    }

    /// The instructions.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// How many instruction slots (an `ld_imm64` takes two).
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether the program has no instructions.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

/// What a prog_array slot holds, as `bpf_tail_call` sees it (`kernel/bpf/core.c`,
/// `JMP_TAIL_CALL`): the order of the checks matters for the count.
#[derive(Clone, Debug)]
pub enum TailCallTarget {
    /// `index >= max_entries`: the call falls through and is not counted.
    OutOfRange,
    /// An empty slot: the call falls through, but counts against `MAX_TAIL_CALL_CNT`.
    Empty,
    /// The program in the slot; it replaces the running one.
    Prog(Program),
}

/// What a run may ask of its caller (the simulated kernel, a test): helpers, `ld_imm64`
/// resolution and prog_array lookups. Memory is separate ([`Memory`]) so a helper can read
/// and write it while the environment holds the kernel state.
///
/// Every method has a default that refuses, so a test implements only what it uses.
pub trait Env {
    /// `call id` (src_reg 0) with r1..r5; the result goes to r0. Helper 12
    /// (`bpf_tail_call`) never arrives here. `Err(EnvError::UnknownHelper)` becomes
    /// [`VmError::UnknownHelper`]; a [`EnvError::Fault`] becomes the matching memory error.
    fn call_helper(&mut self, id: i32, args: [u64; 5], mem: &mut Memory) -> Result<u64, EnvError> {
        let _ = (id, args, mem);
        Err(EnvError::UnknownHelper)
    }

    /// An `ld_imm64` whose src_reg is not 0 (`BPF_PSEUDO_MAP_FD`, `MAP_VALUE`, `BTF_ID`,
    /// `FUNC`, `MAP_IDX`, `MAP_IDX_VALUE`): the 64-bit value to load, from both halves'
    /// `imm`. Typically a map handle or a map value's address in [`Memory`].
    fn ld_imm64(&mut self, src: u8, imm: i32, next_imm: i32) -> Result<u64, EnvError> {
        let _ = (imm, next_imm);
        Err(EnvError::UnresolvedLdImm64 { src })
    }

    /// `bpf_tail_call(ctx, map, index)`: what slot `index` of the prog_array `map` (the value
    /// in r2, as `ld_imm64` produced it) holds.
    fn tail_call(&mut self, map: u64, index: u32) -> Result<TailCallTarget, EnvError> {
        let _ = (map, index);
        Err(EnvError::NotProgArray { map })
    }
}

/// An environment with nothing in it: no helpers, no maps, no prog_arrays.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEnv;

impl Env for NoEnv {}

/// An execution engine: runs `prog` from its first instruction with r1..r5 = `args` and r10
/// at the top of a fresh stack frame, until the main frame's `exit`, and returns r0.
///
/// `mem` holds the regions the program may touch besides its stack; the engine resets the
/// stack frames at entry and leaves every region's bytes (and the frames that were live)
/// as the program left them, so the caller can read a changed packet or map value
/// afterwards, also after an error.
pub trait Engine {
    /// Runs `prog`; see the trait docs.
    fn run(
        &mut self,
        prog: &Program,
        args: [u64; 5],
        mem: &mut Memory,
        env: &mut dyn Env,
    ) -> Result<u64, VmError>;
}

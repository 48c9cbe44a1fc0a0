//! Typed errors of a run. Every variant carries the pc (instruction index in the running
//! program) where the run stopped, so a test can assert on it.

use std::fmt;

/// Why a run stopped without reaching the main frame's `exit`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VmError {
    /// An access `[addr, addr + len)` not entirely inside one region (or, for a stack
    /// address, inside a live frame).
    OutOfBounds {
        /// The faulting instruction.
        pc: usize,
        /// First byte of the access.
        addr: u64,
        /// Bytes accessed.
        len: usize,
        /// Whether it was a store (atomics count as stores).
        write: bool,
    },
    /// A store into a region registered read-only.
    ReadOnly {
        /// The faulting instruction.
        pc: usize,
        /// First byte of the access.
        addr: u64,
        /// Bytes accessed.
        len: usize,
    },
    /// A helper id the environment does not provide.
    UnknownHelper {
        /// The `call`.
        pc: usize,
        /// Its `imm`.
        id: i32,
    },
    /// The instruction budget ran out before instruction `pc`.
    BudgetExceeded {
        /// The instruction that would have run next.
        pc: usize,
        /// Instructions executed (= the budget).
        executed: u64,
    },
    /// An opcode the kernel does not accept (`bpf_opcode_in_insntable`), e.g. `callx`.
    InvalidOpcode {
        /// The instruction.
        pc: usize,
        /// Its `code` byte.
        code: u8,
    },
    /// A known opcode with fields the verifier would reject (reserved fields set, a register
    /// above r10, a write to r10, an `off`/`imm` that selects no variant).
    Malformed {
        /// The instruction.
        pc: usize,
        /// Which field.
        what: Malformed,
    },
    /// `div`/`mod` by an immediate 0, which the verifier rejects ("division by zero"). A
    /// zero *register* is not an error: the kernel's runtime defines it.
    DivisionByZero {
        /// The instruction.
        pc: usize,
    },
    /// A jump whose target is not an instruction of the program.
    JumpOutOfRange {
        /// The jump.
        pc: usize,
        /// Where it would go.
        target: i64,
    },
    /// The last instruction was executed and it neither jumped nor exited.
    FellOffEnd {
        /// The last instruction.
        pc: usize,
    },
    /// A bpf-to-bpf call whose target is not an instruction of the program.
    BadCallTarget {
        /// The call.
        pc: usize,
        /// Where it would go.
        target: i64,
    },
    /// A bpf-to-bpf call past `MAX_CALL_FRAMES` frames.
    CallDepthExceeded {
        /// The call.
        pc: usize,
    },
    /// A call kind this engine does not run (src_reg 2: kfunc).
    UnsupportedCall {
        /// The call.
        pc: usize,
        /// Its src_reg.
        src: u8,
    },
    /// `LD_ABS`/`LD_IND` with no packet registered.
    NoPacket {
        /// The instruction.
        pc: usize,
    },
    /// The environment refused a request (unresolved `ld_imm64`, not a prog_array, a
    /// helper's own error).
    Env {
        /// The instruction.
        pc: usize,
        /// The environment's answer.
        error: EnvError,
    },
    /// The rbpf engine (`rbpf_engine`) does not run this instruction: outside rbpf 0.4.1's
    /// subset, or one it would run differently from the kernel. Checked before running.
    NotSupportedByRbpf {
        /// The first such instruction.
        pc: usize,
        /// What it is (`"lock fetch add"`, `"sdiv"`, ...).
        what: &'static str,
    },
    /// rbpf failed with an error that has no typed counterpart here (its verifier's
    /// rejection, its call-depth limit, a panic inside it); `pc` is the instruction its
    /// message names, else the program's length.
    Rbpf {
        /// The instruction rbpf named.
        pc: usize,
        /// rbpf's message.
        message: String,
    },
}

impl VmError {
    /// The pc the run stopped at.
    pub fn pc(&self) -> usize {
        match *self {
            VmError::OutOfBounds { pc, .. }
            | VmError::ReadOnly { pc, .. }
            | VmError::UnknownHelper { pc, .. }
            | VmError::BudgetExceeded { pc, .. }
            | VmError::InvalidOpcode { pc, .. }
            | VmError::Malformed { pc, .. }
            | VmError::DivisionByZero { pc }
            | VmError::JumpOutOfRange { pc, .. }
            | VmError::FellOffEnd { pc }
            | VmError::BadCallTarget { pc, .. }
            | VmError::CallDepthExceeded { pc }
            | VmError::UnsupportedCall { pc, .. }
            | VmError::NoPacket { pc }
            | VmError::Env { pc, .. }
            | VmError::NotSupportedByRbpf { pc, .. }
            | VmError::Rbpf { pc, .. } => pc,
        }
    }

    /// A memory fault at `pc`.
    pub(crate) fn mem(pc: usize, f: MemFault) -> VmError {
        if f.read_only {
            VmError::ReadOnly {
                pc,
                addr: f.addr,
                len: f.len,
            }
        } else {
            VmError::OutOfBounds {
                pc,
                addr: f.addr,
                len: f.len,
                write: f.write,
            }
        }
    }
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmError::OutOfBounds {
                pc,
                addr,
                len,
                write,
            } => {
                let what = if *write { "store" } else { "load" };
                write!(
                    f,
                    "insn {pc}: out-of-bounds {what} of {len} bytes at {addr:#x}"
                )
            }
            VmError::ReadOnly { pc, addr, len } => {
                write!(
                    f,
                    "insn {pc}: store of {len} bytes at {addr:#x} into a read-only region"
                )
            }
            VmError::UnknownHelper { pc, id } => write!(f, "insn {pc}: unknown helper {id}"),
            VmError::BudgetExceeded { pc, executed } => {
                write!(
                    f,
                    "insn {pc}: instruction budget exhausted after {executed} instructions"
                )
            }
            VmError::InvalidOpcode { pc, code } => {
                write!(f, "insn {pc}: unknown opcode {code:#04x}")
            }
            VmError::Malformed { pc, what } => write!(f, "insn {pc}: {what}"),
            VmError::DivisionByZero { pc } => write!(f, "insn {pc}: division by zero"),
            VmError::JumpOutOfRange { pc, target } => {
                write!(f, "insn {pc}: jump out of range to {target}")
            }
            VmError::FellOffEnd { pc } => write!(f, "insn {pc}: fell off the end of the program"),
            VmError::BadCallTarget { pc, target } => {
                write!(f, "insn {pc}: call to {target}, outside the program")
            }
            VmError::CallDepthExceeded { pc } => {
                write!(
                    f,
                    "insn {pc}: more than {} call frames",
                    super::MAX_CALL_FRAMES
                )
            }
            VmError::UnsupportedCall { pc, src } => {
                write!(f, "insn {pc}: call with src_reg {src} is not supported")
            }
            VmError::NoPacket { pc } => write!(f, "insn {pc}: LD_ABS/LD_IND without a packet"),
            VmError::Env { pc, error } => write!(f, "insn {pc}: {error}"),
            VmError::NotSupportedByRbpf { pc, what } => {
                write!(f, "insn {pc}: {what} is not supported by rbpf 0.4.1")
            }
            VmError::Rbpf { pc, message } => write!(f, "insn {pc}: rbpf: {message}"),
        }
    }
}

impl std::error::Error for VmError {}

/// The field of a malformed instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// A register number above 10.
    Register(u8),
    /// A write to r10 ("frame pointer is read only").
    FramePointerWrite,
    /// An `off` that must be zero, or that selects no variant (sdiv/smod, movsx).
    Off(i16),
    /// An `imm` that must be zero, or that selects no variant (byte-swap width, atomic
    /// operation).
    Imm(i32),
    /// A src_reg that must be zero, or that selects no variant (`JCOND`, `call`).
    Src(u8),
    /// A dst_reg that must be zero.
    Dst(u8),
    /// An `ld_imm64` in the last slot.
    LdImm64Incomplete,
    /// An `ld_imm64` whose second slot is not all zero but `imm`.
    LdImm64SecondSlot,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Register(r) => write!(f, "invalid register r{r}"),
            Malformed::FramePointerWrite => write!(f, "frame pointer is read only"),
            Malformed::Off(o) => write!(f, "invalid off {o}"),
            Malformed::Imm(i) => write!(f, "invalid imm {i}"),
            Malformed::Src(s) => write!(f, "invalid src_reg {s}"),
            Malformed::Dst(d) => write!(f, "invalid dst_reg {d}"),
            Malformed::LdImm64Incomplete => write!(f, "incomplete ld_imm64"),
            Malformed::LdImm64SecondSlot => write!(f, "invalid second slot of ld_imm64"),
        }
    }
}

/// A memory access that is not allowed; the interpreter adds the pc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemFault {
    /// First byte of the access.
    pub addr: u64,
    /// Bytes accessed.
    pub len: usize,
    /// Whether it was a store.
    pub write: bool,
    /// Whether the bytes are inside a region that is read-only (else: outside every region).
    pub read_only: bool,
}

/// What an [`Env`](super::Env) answers instead of a value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvError {
    /// No helper with this id.
    UnknownHelper,
    /// A helper touched memory it may not.
    Fault(MemFault),
    /// An `ld_imm64` with this src_reg cannot be resolved.
    UnresolvedLdImm64 {
        /// Its src_reg.
        src: u8,
    },
    /// r2 of a tail call is not a prog_array.
    NotProgArray {
        /// The value of r2.
        map: u64,
    },
    /// Anything else, for the environment to explain.
    Other(&'static str),
}

impl From<MemFault> for EnvError {
    fn from(f: MemFault) -> EnvError {
        EnvError::Fault(f)
    }
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::UnknownHelper => write!(f, "unknown helper"),
            EnvError::Fault(m) => write!(
                f,
                "helper access of {} bytes at {:#x} not allowed",
                m.len, m.addr
            ),
            EnvError::UnresolvedLdImm64 { src } => {
                write!(f, "ld_imm64 with src_reg {src} not resolved")
            }
            EnvError::NotProgArray { map } => {
                write!(f, "tail call through {map:#x}: not a prog_array")
            }
            EnvError::Other(s) => f.write_str(s),
        }
    }
}

//! Programs: the object (`struct bpf_prog`), `BPF_PROG_LOAD` up to (not including) the
//! verifier's semantic pass, `BPF_PROG_BIND_MAP`, and the translated program a dump shows
//! (`xlated`: the verifier's rewrites, shown but not run).
//!
//! What load checks, in the kernel's order (`kernel/bpf/syscall.c bpf_prog_load`, then
//! `kernel/bpf/verifier.c bpf_check`): unused attr bytes, `prog_flags`, privilege, instruction
//! count (`E2BIG`), expected attach type, user memory (`EFAULT`), program type, name, log
//! attributes, subprogram layout (`check_subprogs`), ld_imm64 and opcode well-formedness with
//! map resolution (`resolve_pseudo_ldimm64`, which first computes the tag), control flow
//! (`check_cfg`), and the prog_array owner check of `bpf_check_tail_call`. What it does not
//! model is `do_check`: a program the verifier would reject for its semantics (an
//! uninitialized `r0`, an out-of-bounds access, an unknown helper) loads here.

pub mod check;
pub mod disasm;
pub mod insn;
mod load;
pub mod opcodes;
pub mod tag;
pub mod xlated;

pub use insn::Insn;
pub use load::ProgLoadAttr;

use crate::object::MapIdx;
use crate::task::Pid;

/// A loaded program.
#[derive(Clone, Debug)]
pub struct Prog {
    /// Creation serial number.
    pub serial: u64,
    /// Its id; 0 once removed.
    pub id: u32,
    /// `aux->refcnt`.
    pub refcnt: u64,
    /// `type`.
    pub prog_type: u32,
    /// `expected_attach_type` (after `bpf_prog_load_fixup_attach_type`).
    pub expected_attach_type: u32,
    /// `prog_flags` as loaded.
    pub prog_flags: u32,
    /// `aux->name`, NUL-padded.
    pub name: [u8; 16],
    /// `gpl_compatible`.
    pub gpl_compatible: bool,
    /// The instructions as submitted.
    pub insns: Vec<Insn>,
    /// The program the engines run: the submitted instructions with map references as map
    /// ids (`bpf_insn_prepare_dump`'s form of them), decoded once and shared by every test
    /// run and tail call that reaches this program.
    pub runnable: crate::vm::Program,
    /// The program as a dump shows it (`xlated_prog_insns`): the verifier's rewrites as the
    /// model translates them ([`xlated`]).
    pub translated: xlated::Xlated,
    /// Where each subprogram starts (0 first).
    pub subprogs: Vec<usize>,
    /// `tag`: the first 8 bytes of `digest`.
    pub tag: [u8; 8],
    /// `digest`: the hash of the masked instructions.
    pub digest: [u8; 32],
    /// `aux->used_maps`: each map once, in first-reference order, then bound maps.
    pub used_maps: Vec<MapIdx>,
    /// `aux->btf`: the BTF object of its func_info/line_info (held until `refcnt` is 0).
    pub btf: Option<crate::kernel::btf::BtfIdx>,
    /// `aux->func_info`: one record per function, `insn_off` in the translated program.
    pub func_info: Vec<FuncInfo>,
    /// `aux->linfo`: line records, `insn_off` in the translated program (adjusted as the
    /// kernel's `bpf_adj_linfo` / `bpf_adj_linfo_after_remove` do).
    pub line_info: Vec<LineInfo>,
    /// `aux->load_time`: the virtual boot-time clock at load.
    pub load_time: u64,
    /// `aux->user`'s uid.
    pub uid: u32,
    /// The process that loaded it.
    pub created_by: Pid,
    /// The bpf() call number that loaded it.
    pub created_at: u64,
}

/// `struct bpf_func_info`: where a function starts and its `BTF_KIND_FUNC` type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuncInfo {
    /// Instruction index of the function's first instruction.
    pub insn_off: u32,
    /// Its `FUNC` type id in the program's BTF.
    pub type_id: u32,
}

/// `struct bpf_line_info`: the source line of an instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineInfo {
    /// Instruction index.
    pub insn_off: u32,
    /// String offset of the file name in the program's BTF.
    pub file_name_off: u32,
    /// String offset of the source line.
    pub line_off: u32,
    /// `line_col`: line number << 10 | column.
    pub line_col: u32,
}

impl LineInfo {
    /// `BPF_LINE_INFO_LINE_NUM`.
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }
    /// `BPF_LINE_INFO_LINE_COL`.
    pub fn col(&self) -> u32 {
        self.line_col & 0x3ff
    }
}

impl Prog {
    /// The name as text.
    pub fn name_str(&self) -> String {
        crate::maps::name_to_string(&self.name)
    }

    /// The tag as bpftool prints it (16 hex digits).
    pub fn tag_hex(&self) -> String {
        self.tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

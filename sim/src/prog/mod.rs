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
    /// `aux->load_time`: the virtual boot-time clock at load.
    pub load_time: u64,
    /// `aux->user`'s uid.
    pub uid: u32,
    /// The process that loaded it.
    pub created_by: Pid,
    /// The bpf() call number that loaded it.
    pub created_at: u64,
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

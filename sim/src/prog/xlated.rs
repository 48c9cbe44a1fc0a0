//! The translated ("xlated") program: what `bpftool prog dump xlated` shows for a loaded
//! program, i.e. the instructions the verifier leaves behind after its rewrites
//! (`kernel/bpf/verifier.c bpf_check`: `convert_ctx_accesses`, `do_misc_fixups`,
//! `opt_remove_nops`, `jit_subprogs`), with map pointers shown as map ids
//! (`kernel/bpf/syscall.c bpf_insn_prepare_dump`).
//!
//! **What runs vs what is shown.** The simulator's interpreter runs the submitted (uapi)
//! program with map references resolved (`Prog::runnable`), because that is the program whose
//! meaning the uapi defines; this module only builds what `BPF_OBJ_GET_INFO_BY_FD` reports as
//! `xlated_prog_insns` (`Prog::translated`), so a user can see what the kernel would run.
//!
//! Modeled, each after the kernel function named on it:
//! - context field accesses (`convert_ctx_accesses` → the program type's
//!   `convert_ctx_access`): data-driven tables ([`CTX_REWRITES`]) measured on Linux 6.18.44
//!   (x86_64) by loading one access per field and reading the kernel's xlated program. The
//!   struct offsets in them (`sk_buff`, `xdp_buff`, `sock`, ...) are those of that kernel build;
//!   another build may differ. An access the table does not hold (a narrow load, a field not
//!   measured, a program type not measured) is kept as submitted and listed in
//!   [`Xlated::unmodeled`].
//! - map helper calls with a known map (`do_misc_fixups`): `bpf_map_lookup_elem` inlined
//!   (`array_map_gen_lookup`, `array_of_map_gen_lookup`, `htab_map_gen_lookup`,
//!   `htab_of_map_gen_lookup`); update/delete bound to the map type's function
//!   (`htab_map_update_elem`, `array_map_delete_elem`, ...). Which map a call uses is found
//!   the way the verifier records it (`insn_aux_data.map_ptr_state`): a forward data flow over
//!   every path, registers and 8-byte stack spills, through bpf-to-bpf calls; two different
//!   maps at one call site "poison" it and the generic helper stays.
//! - every other helper call bound to its kernel function (`imm = fn - __bpf_call_base`);
//!   the model's addresses are its own ([`kernel_fn_imm`], [`call_syms`]): only the names are
//!   the kernel's. `bpf_tail_call` shows as `call bpf_tail_call#12`, as the dump converts it
//!   back.
//! - division and modulo by a register (`do_misc_fixups`' `chk_and_div`, `chk_and_mod`,
//!   `chk_and_sdiv`, `chk_and_smod`), measured on the same kernel.
//! - `goto pc+0` removed (`opt_remove_nops`, privileged loads).
//! - bpf-to-bpf calls in the layout a JIT kernel leaves (`jit_subprogs`: pc-relative offset
//!   in `off`, subprogram index in `imm`), and each subprogram's tag, computed on its
//!   instructions as `jit_subprogs` hashes them ([`Xlated::func_tags`], `prog_tags` in the
//!   prog info). The names bpftool gives subprograms are `bpf_prog_<tag>_F` without BTF
//!   (`jit_subprogs` names them `F`), which is how the project's loader loads.
//!
//! Not modeled (listed in [`Xlated::unmodeled`] when a program needs it): dead-code removal
//! and branch hard-wiring, which need the verifier's value tracking (`opt_remove_dead_code`,
//! `opt_hard_wire_dead_code_branches`); prologues (`tc` direct packet writes); the helpers
//! the kernel inlines besides map lookups (`bpf_get_smp_processor_id`, `bpf_jiffies64`, ...);
//! `LD_ABS`/`LD_IND`; kfunc calls; unprivileged loads (Spectre masking, `sanitize_dead_code`).
//! Arrays are assumed created with `CAP_PERFMON` (`bypass_spec_v1`: no index masking).

use std::collections::BTreeMap;

use super::disasm::{DisasmOpts, HELPER_NAMES};
use super::insn::*;
use super::tag::{TagHash, prog_tag};
use crate::uapi::{flags::BPF_F_INNER_MAP, map_type as mt, prog_type as pt, pseudo};

/// `BPF_REG_AX`, the verifier's scratch register (r11).
const AX: u8 = 11;
/// `BPF_FUNC_map_lookup_elem`.
const FUNC_MAP_LOOKUP: i32 = 1;
/// `BPF_FUNC_map_update_elem`.
const FUNC_MAP_UPDATE: i32 = 2;
/// `BPF_FUNC_map_delete_elem`.
const FUNC_MAP_DELETE: i32 = 3;
/// `BPF_TAIL_CALL`: the internal opcode `do_misc_fixups` gives a tail call.
const BPF_TAIL_CALL: u8 = 0xf0;
/// `offsetof(struct bpf_array, value)` on the measured 6.18 build.
const ARRAY_VALUE_OFF: i32 = 312;
/// `offsetof(struct htab_elem, key)` on the measured 6.18 build (`r0 += 56` for 4-byte keys).
const HTAB_ELEM_KEY_OFF: i32 = 48;
/// Helpers 6.18 inlines on x86_64 that the model leaves as calls: `bpf_get_smp_processor_id`
/// (8) and `bpf_jiffies64` (118) (measured), `bpf_get_func_ip` (173), `bpf_loop` (181),
/// `bpf_get_current_task{,_btf}` (35, 158) (`do_misc_fixups`, `inline_bpf_loop`).
const INLINED_HELPERS: &[i32] = &[8, 35, 118, 158, 173, 181];

/// What the translation needs to know of a map an instruction references (`struct bpf_map`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MapDesc {
    /// `map_type`.
    pub map_type: u32,
    /// `key_size`.
    pub key_size: u32,
    /// `value_size`.
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags`.
    pub map_flags: u32,
    /// For a map of maps, its `inner_map_meta` (what a lookup in it returns).
    pub inner: Option<Box<MapDesc>>,
}

impl crate::kernel::Kernel {
    /// What the translation needs of map `m`.
    pub(crate) fn map_desc(&self, m: crate::object::MapIdx) -> MapDesc {
        let map = &self.maps[m.0];
        let inner = match &map.data {
            crate::maps::MapData::ArrayOfMaps { inner, .. }
            | crate::maps::MapData::HashOfMaps { inner, .. } => Some(Box::new(MapDesc {
                map_type: inner.map_type,
                key_size: inner.key_size,
                value_size: inner.value_size,
                max_entries: inner.max_entries,
                map_flags: inner.map_flags,
                inner: None,
            })),
            _ => None,
        };
        MapDesc {
            map_type: map.map_type,
            key_size: map.key_size,
            value_size: map.value_size,
            max_entries: map.max_entries,
            map_flags: map.map_flags,
            inner,
        }
    }
}

/// The translated program of one load.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Xlated {
    /// The instructions as the dump shows them (`xlated_prog_insns`).
    pub insns: Vec<Insn>,
    /// Where each function starts in [`Xlated::insns`] (0 first).
    pub func_starts: Vec<usize>,
    /// Each function's tag (`bpf_prog_info.prog_tags`); empty for a program without
    /// subprograms, whose only tag is the program's own.
    pub func_tags: Vec<[u8; 8]>,
    /// Rewrites the kernel would do that the model did not, one line each (`insn N: why`).
    pub unmodeled: Vec<String>,
    /// Where each submitted instruction's translation starts (one entry per submitted
    /// instruction, plus the end): what line_info is adjusted with.
    pub starts: Vec<usize>,
}

/// One context field access and what the kernel replaces it with.
#[derive(Clone, Copy, Debug)]
pub struct CtxRewrite {
    /// The program types this rewrite was measured for.
    pub types: &'static [u32],
    /// A store (`STX`) rather than a load (`LDX`).
    pub store: bool,
    /// Offset of the field in the uapi context struct.
    pub off: i16,
    /// Access size in bytes (4 or 8).
    pub size: u8,
    /// The replacement, with register placeholders.
    pub seq: &'static [T],
}

/// A register in a [`CtxRewrite`] template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum R {
    /// The register that holds the context pointer.
    C,
    /// The other register of the access: a load's destination, a store's source.
    V,
    /// `BPF_REG_AX`.
    AX,
    /// Register field unused (0).
    Z,
}

/// One instruction of a [`CtxRewrite`] template: code, dst, src, off, imm.
#[derive(Clone, Copy, Debug)]
pub struct T(pub u8, pub R, pub R, pub i16, pub i32);

const fn t(code: u8, dst: R, src: R, off: i16, imm: i32) -> T {
    T(code, dst, src, off, imm)
}

use R::{AX as A, C, V, Z};

/// The context rewrites of Linux 6.18.44 (x86_64), as measured: one aligned 4- or 8-byte
/// load or store of each offset of `__sk_buff` (`bpf_convert_ctx_access`,
/// `tc_cls_act_convert_ctx_access`, `sk_filter` and `cg_skb` variants), `xdp_md`
/// (`xdp_convert_ctx_access`), `bpf_sock` (`bpf_sock_convert_ctx_access`) and
/// `bpf_sock_ops` (`sock_ops_convert_ctx_access`) that the verifier accepted, with the
/// kernel's output. Templates needing other scratch registers are left out.
pub const CTX_REWRITES: &[CtxRewrite] = &[
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 0,
        size: 4,
        seq: &[t(0x61, V, C, 112, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 4,
        size: 4,
        seq: &[t(0x71, V, C, 128, 0), t(0x54, V, Z, 0, 7)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 8,
        size: 4,
        seq: &[t(0x61, V, C, 164, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 12,
        size: 4,
        seq: &[t(0x69, V, C, 124, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 16,
        size: 4,
        seq: &[t(0x69, V, C, 176, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 20,
        size: 4,
        seq: &[
            t(0x61, V, C, 152, 0),
            t(0x15, V, Z, 1, 0),
            t(0xb4, V, Z, 0, 1),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 24,
        size: 4,
        seq: &[t(0x69, V, C, 154, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 28,
        size: 4,
        seq: &[t(0x69, V, C, 152, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 32,
        size: 4,
        seq: &[t(0x61, V, C, 140, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 36,
        size: 4,
        seq: &[t(0x61, V, C, 144, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::CGROUP_SKB],
        store: false,
        off: 40,
        size: 4,
        seq: &[
            t(0x79, V, C, 16, 0),
            t(0x15, V, Z, 1, 0),
            t(0x61, V, V, 224, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 44,
        size: 4,
        seq: &[t(0x69, V, C, 132, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 48,
        size: 4,
        seq: &[t(0x61, V, C, 48, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 48,
        size: 4,
        seq: &[t(0x63, C, V, 48, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 48,
        size: 8,
        seq: &[t(0x79, V, C, 48, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 48,
        size: 8,
        seq: &[t(0x7b, C, V, 48, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 52,
        size: 4,
        seq: &[t(0x61, V, C, 52, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 52,
        size: 4,
        seq: &[t(0x63, C, V, 52, 0)],
    },
    CtxRewrite {
        types: &[
            pt::SOCKET_FILTER,
            pt::SCHED_CLS,
            pt::CGROUP_SKB,
            pt::CGROUP_SOCK,
        ],
        store: false,
        off: 56,
        size: 4,
        seq: &[t(0x61, V, C, 56, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 56,
        size: 4,
        seq: &[t(0x63, C, V, 56, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 56,
        size: 8,
        seq: &[t(0x79, V, C, 56, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 56,
        size: 8,
        seq: &[t(0x7b, C, V, 56, 0)],
    },
    CtxRewrite {
        types: &[
            pt::SOCKET_FILTER,
            pt::SCHED_CLS,
            pt::CGROUP_SKB,
            pt::CGROUP_SOCK,
        ],
        store: false,
        off: 60,
        size: 4,
        seq: &[t(0x61, V, C, 60, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 60,
        size: 4,
        seq: &[t(0x63, C, V, 60, 0)],
    },
    CtxRewrite {
        types: &[
            pt::SOCKET_FILTER,
            pt::SCHED_CLS,
            pt::CGROUP_SKB,
            pt::CGROUP_SOCK,
        ],
        store: false,
        off: 64,
        size: 4,
        seq: &[t(0x61, V, C, 64, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 64,
        size: 4,
        seq: &[t(0x63, C, V, 64, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 68,
        size: 4,
        seq: &[t(0x61, V, C, 148, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 84,
        size: 4,
        seq: &[
            t(0x61, V, C, 156, 0),
            t(0x35, V, Z, 1, 257),
            t(0xb7, V, Z, 0, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 164,
        size: 4,
        seq: &[
            t(0x61, A, C, 188, 0),
            t(0x79, V, C, 192, 0),
            t(0x0f, V, A, 0, 0),
            t(0x69, V, V, 6, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 168,
        size: 8,
        seq: &[t(0x79, V, C, 24, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCKET_FILTER, pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 176,
        size: 4,
        seq: &[
            t(0x61, A, C, 188, 0),
            t(0x79, V, C, 192, 0),
            t(0x0f, V, A, 0, 0),
            t(0x69, V, V, 4, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 8,
        size: 4,
        seq: &[t(0x63, C, V, 164, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS],
        store: true,
        off: 12,
        size: 4,
        seq: &[t(0x35, V, Z, 1, 65535), t(0x6b, C, V, 124, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 32,
        size: 4,
        seq: &[t(0x63, C, V, 140, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS],
        store: false,
        off: 40,
        size: 4,
        seq: &[t(0x79, V, C, 16, 0), t(0x61, V, V, 224, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS],
        store: true,
        off: 44,
        size: 4,
        seq: &[t(0x6b, C, V, 132, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS],
        store: false,
        off: 72,
        size: 4,
        seq: &[t(0x69, V, C, 46, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS],
        store: true,
        off: 72,
        size: 4,
        seq: &[t(0x6b, C, V, 46, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 76,
        size: 4,
        seq: &[t(0x79, V, C, 200, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 80,
        size: 4,
        seq: &[t(0x79, V, C, 80, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS],
        store: false,
        off: 140,
        size: 4,
        seq: &[t(0x79, V, C, 72, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 152,
        size: 8,
        seq: &[
            t(0x71, A, C, 129, 0),
            t(0x46, A, Z, 1, 4),
            t(0x05, Z, Z, 4, 0),
            t(0x46, A, Z, 1, 3),
            t(0x05, Z, Z, 2, 0),
            t(0xb7, V, Z, 0, 0),
            t(0x05, Z, Z, 1, 0),
            t(0x79, V, C, 32, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS, pt::CGROUP_SKB],
        store: true,
        off: 152,
        size: 8,
        seq: &[
            t(0x71, A, C, 129, 0),
            t(0x46, A, Z, 1, 4),
            t(0x05, Z, Z, 2, 0),
            t(0x54, A, Z, 0, -4),
            t(0x73, C, A, 129, 0),
            t(0x7b, C, V, 32, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS],
        store: false,
        off: 160,
        size: 4,
        seq: &[t(0x61, V, C, 40, 0)],
    },
    CtxRewrite {
        types: &[pt::SCHED_CLS, pt::CGROUP_SKB],
        store: false,
        off: 184,
        size: 8,
        seq: &[
            t(0x61, A, C, 188, 0),
            t(0x79, V, C, 192, 0),
            t(0x0f, V, A, 0, 0),
            t(0x79, V, V, 16, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 88,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x69, V, V, 16, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 92,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 0, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 96,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 4, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 100,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 56, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 104,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 60, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 108,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 64, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 112,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 68, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 116,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 72, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 120,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 76, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 124,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 80, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 128,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x61, V, V, 84, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 132,
        size: 4,
        seq: &[
            t(0x79, V, C, 24, 0),
            t(0x69, V, V, 12, 0),
            t(0x64, V, Z, 0, 16),
        ],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SKB],
        store: false,
        off: 136,
        size: 4,
        seq: &[t(0x79, V, C, 24, 0), t(0x69, V, V, 14, 0)],
    },
    CtxRewrite {
        types: &[pt::XDP],
        store: false,
        off: 0,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0)],
    },
    CtxRewrite {
        types: &[pt::XDP],
        store: false,
        off: 4,
        size: 4,
        seq: &[t(0x79, V, C, 8, 0)],
    },
    CtxRewrite {
        types: &[pt::XDP],
        store: false,
        off: 8,
        size: 4,
        seq: &[t(0x79, V, C, 16, 0)],
    },
    CtxRewrite {
        types: &[pt::XDP],
        store: false,
        off: 12,
        size: 4,
        seq: &[
            t(0x79, V, C, 32, 0),
            t(0x79, V, V, 0, 0),
            t(0x61, V, V, 224, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::XDP],
        store: false,
        off: 16,
        size: 4,
        seq: &[t(0x79, V, C, 32, 0), t(0x61, V, V, 8, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 0,
        size: 4,
        seq: &[t(0x61, V, C, 20, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: true,
        off: 0,
        size: 4,
        seq: &[t(0x63, C, V, 20, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 4,
        size: 4,
        seq: &[t(0x69, V, C, 16, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 8,
        size: 4,
        seq: &[t(0x69, V, C, 534, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 12,
        size: 4,
        seq: &[t(0x69, V, C, 532, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 16,
        size: 4,
        seq: &[t(0x61, V, C, 524, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: true,
        off: 16,
        size: 4,
        seq: &[t(0x63, C, V, 524, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 20,
        size: 4,
        seq: &[t(0x61, V, C, 520, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: true,
        off: 20,
        size: 4,
        seq: &[t(0x63, C, V, 520, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 48,
        size: 4,
        seq: &[t(0x69, V, C, 12, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 52,
        size: 4,
        seq: &[t(0x61, V, C, 0, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 68,
        size: 4,
        seq: &[t(0x61, V, C, 68, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 72,
        size: 4,
        seq: &[t(0x71, V, C, 18, 0)],
    },
    CtxRewrite {
        types: &[pt::CGROUP_SOCK],
        store: false,
        off: 76,
        size: 4,
        seq: &[
            t(0x69, V, C, 122, 0),
            t(0x55, V, Z, 1, 65535),
            t(0xb7, V, Z, 0, -1),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 0,
        size: 4,
        seq: &[t(0x71, V, C, 48, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 4,
        size: 4,
        seq: &[t(0x61, V, C, 8, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: true,
        off: 4,
        size: 4,
        seq: &[t(0x63, C, V, 8, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 8,
        size: 4,
        seq: &[t(0x61, V, C, 12, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 12,
        size: 4,
        seq: &[t(0x61, V, C, 16, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 16,
        size: 4,
        seq: &[t(0x61, V, C, 20, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 20,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x69, V, V, 16, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 24,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 0, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 28,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 4, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 32,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 56, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 36,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 60, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 40,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 64, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 44,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 68, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 48,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 72, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 52,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 76, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 56,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 80, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 60,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 84, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 64,
        size: 4,
        seq: &[
            t(0x79, V, C, 0, 0),
            t(0x69, V, V, 12, 0),
            t(0x64, V, Z, 0, 16),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 68,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x69, V, V, 14, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 72,
        size: 4,
        seq: &[t(0x71, V, C, 49, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 76,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1444, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 80,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1680, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 84,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x71, V, V, 2232, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 88,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x71, V, V, 18, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 92,
        size: 4,
        seq: &[t(0x79, V, C, 0, 0), t(0x61, V, V, 1500, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 96,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1492, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 100,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1664, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 104,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1668, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 108,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1672, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 112,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1440, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 116,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x71, V, V, 1640, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 120,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1780, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 124,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1784, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 128,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1684, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 132,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1480, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 136,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 2200, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 140,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1760, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 144,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1764, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 148,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1536, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 152,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1540, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 156,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1452, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 160,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 1456, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 164,
        size: 4,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x61, V, V, 564, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 168,
        size: 8,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x79, V, V, 1752, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 176,
        size: 8,
        seq: &[
            t(0x71, V, C, 50, 0),
            t(0x15, V, Z, 2, 0),
            t(0x79, V, C, 0, 0),
            t(0x79, V, V, 1824, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 184,
        size: 8,
        seq: &[
            t(0x71, V, C, 49, 0),
            t(0x15, V, Z, 1, 0),
            t(0x79, V, C, 0, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 192,
        size: 8,
        seq: &[
            t(0x79, V, C, 32, 0),
            t(0x15, V, Z, 1, 0),
            t(0x79, V, V, 200, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 200,
        size: 8,
        seq: &[t(0x79, V, C, 40, 0)],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 208,
        size: 4,
        seq: &[
            t(0x79, V, C, 32, 0),
            t(0x15, V, Z, 1, 0),
            t(0x61, V, V, 112, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 212,
        size: 4,
        seq: &[
            t(0x79, V, C, 32, 0),
            t(0x15, V, Z, 1, 0),
            t(0x69, V, V, 52, 0),
        ],
    },
    CtxRewrite {
        types: &[pt::SOCK_OPS],
        store: false,
        off: 216,
        size: 8,
        seq: &[
            t(0x79, V, C, 32, 0),
            t(0x15, V, Z, 4, 0),
            t(0x61, A, V, 188, 0),
            t(0x79, V, V, 192, 0),
            t(0x0f, V, A, 0, 0),
            t(0x79, V, V, 16, 0),
        ],
    },
];

/// The kernel functions the model's translation can call besides the helpers' own, each with
/// the model's stand-in for its address relative to `__bpf_call_base`.
const KERNEL_FNS: &[(&str, i32)] = &[
    ("__htab_map_lookup_elem", -0x20_0000),
    ("htab_map_update_elem", -0x20_0010),
    ("htab_map_delete_elem", -0x20_0020),
    ("array_map_lookup_elem", -0x20_0030),
    ("array_map_update_elem", -0x20_0040),
    ("array_map_delete_elem", -0x20_0050),
    // BPF_FUNC_get_prandom_u32's proto calls bpf_user_rnd_u32 (measured).
    ("bpf_user_rnd_u32", -0x20_0060),
];

/// The model's address (relative to `__bpf_call_base`, as a call's `imm` holds it) of a
/// kernel function the translation calls: a stand-in, never a helper id, stable across runs.
/// Functions not in the model's table get the address of helper `id`'s function,
/// `-0x10_0000 - 16 * id`.
pub fn kernel_fn_imm(name: &str) -> Option<i32> {
    if let Some(&(_, imm)) = KERNEL_FNS.iter().find(|(n, _)| *n == name) {
        return Some(imm);
    }
    HELPER_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|id| -0x10_0000 - 16 * id as i32)
}

/// The kernel function a helper call is bound to (`fn->func` of the helper's proto).
fn helper_fn(id: i32) -> &'static str {
    match id {
        7 => "bpf_user_rnd_u32",
        _ => usize::try_from(id)
            .ok()
            .and_then(|i| HELPER_NAMES.get(i))
            .copied()
            .unwrap_or("bpf_unspec"),
    }
}

/// `/proc/kallsyms` as the model's dump sees it: the name of every kernel function a
/// translated call can hold, keyed by the call's `imm` (for [`DisasmOpts::call_syms`]).
pub fn call_syms() -> BTreeMap<i32, String> {
    let mut m: BTreeMap<i32, String> = KERNEL_FNS
        .iter()
        .map(|(n, imm)| (*imm, (*n).to_owned()))
        .collect();
    for (id, n) in HELPER_NAMES.iter().enumerate() {
        m.insert(-0x10_0000 - 16 * id as i32, (*n).to_owned());
    }
    m
}

fn call_fn(name: &str) -> Insn {
    Insn::raw(
        BPF_JMP | BPF_CALL,
        0,
        0,
        0,
        kernel_fn_imm(name).unwrap_or(0),
    )
}

/// What the data flow knows of a register or a spilled stack slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// Anything (or unknown).
    Any,
    /// The context pointer (`PTR_TO_CTX`, unmodified).
    Ctx,
    /// A map pointer (`CONST_PTR_TO_MAP`): an index into the analysis' map table.
    Map(usize),
    /// A known 64-bit constant.
    Const(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    regs: [Val; 11],
    /// 8-byte spills by frame-pointer offset.
    stack: BTreeMap<i16, Val>,
}

impl State {
    fn entry(args: &[Val; 5]) -> State {
        let mut regs = [Val::Any; 11];
        regs[1..6].copy_from_slice(args);
        State {
            regs,
            stack: BTreeMap::new(),
        }
    }

    fn join(&self, o: &State) -> State {
        let mut regs = self.regs;
        for (r, b) in regs.iter_mut().zip(o.regs) {
            if *r != b {
                *r = Val::Any;
            }
        }
        let stack = self
            .stack
            .iter()
            .filter(|(k, v)| o.stack.get(k) == Some(v))
            .map(|(k, v)| (*k, *v))
            .collect();
        State { regs, stack }
    }

    fn clobber(&mut self, off: i16, len: i16) {
        let (lo, hi) = (i32::from(off), i32::from(off) + i32::from(len));
        self.stack
            .retain(|&k, _| i32::from(k) + 8 <= lo || i32::from(k) >= hi);
    }

    fn reg(&self, r: u8) -> Val {
        self.regs.get(usize::from(r)).copied().unwrap_or(Val::Any)
    }

    fn set(&mut self, r: u8, v: Val) {
        if let Some(x) = self.regs.get_mut(usize::from(r)) {
            *x = v;
        }
    }
}

fn size_bytes(code: u8) -> i16 {
    match size(code) {
        BPF_W => 4,
        BPF_H => 2,
        BPF_B => 1,
        _ => 8,
    }
}

/// The verifier's view, reduced to what the rewrites need: the state before each
/// instruction (`None`: never reached).
struct Flow {
    at: Vec<Option<State>>,
}

/// Forward data flow over every path of every function, to a fixed point.
fn flow(insns: &[Insn], maps: &Maps) -> Flow {
    let n = insns.len();
    let mut at: Vec<Option<State>> = vec![None; n];
    let mut work: Vec<usize> = Vec::new();
    let merge = |at: &mut Vec<Option<State>>, work: &mut Vec<usize>, j: usize, s: State| {
        let Some(slot) = at.get_mut(j) else { return };
        let new = match slot {
            None => s,
            Some(old) => old.join(&s),
        };
        if slot.as_ref() != Some(&new) {
            *slot = Some(new);
            work.push(j);
        }
    };
    if n > 0 {
        let mut args = [Val::Any; 5];
        args[0] = Val::Ctx;
        merge(&mut at, &mut work, 0, State::entry(&args));
    }
    while let Some(i) = work.pop() {
        let Some(mut s) = at[i].clone() else { continue };
        let ins = insns[i];
        let code = ins.code;
        let (dst, src) = (ins.dst, ins.src);
        let mut next: Vec<usize> = vec![i + 1];
        match class(code) {
            BPF_ALU | BPF_ALU64 => {
                let v = if code == BPF_ALU64 | BPF_MOV | BPF_X && ins.off == 0 {
                    s.reg(src)
                } else if code == BPF_ALU64 | BPF_MOV | BPF_K {
                    Val::Const(i64::from(ins.imm))
                } else if code == BPF_ALU | BPF_MOV | BPF_K {
                    Val::Const(i64::from(ins.imm as u32))
                } else {
                    Val::Any
                };
                s.set(dst, v);
            }
            BPF_LDX => {
                let v = if src == 10 && code == BPF_LDX | BPF_MEM | BPF_DW {
                    s.stack.get(&ins.off).copied().unwrap_or(Val::Any)
                } else {
                    Val::Any
                };
                s.set(dst, v);
            }
            BPF_STX | BPF_ST => {
                if dst == 10 {
                    s.clobber(ins.off, size_bytes(code));
                    if code == BPF_STX | BPF_MEM | BPF_DW {
                        let v = s.reg(src);
                        s.stack.insert(ins.off, v);
                    }
                }
                if mode(code) == BPF_ATOMIC && ins.imm & 1 != 0 {
                    // BPF_FETCH: the old value comes back (in r0 for cmpxchg).
                    let r = if ins.imm == 0xf1 { 0 } else { src };
                    s.set(r, Val::Any);
                }
            }
            BPF_LD => {
                if code == LD_IMM64 {
                    let v = match maps.at.get(&i) {
                        Some(&k) if src == pseudo::MAP_FD => Val::Map(k),
                        _ => Val::Any,
                    };
                    s.set(dst, v);
                    next = vec![i + 2];
                } else {
                    for r in 0..=5 {
                        s.set(r, Val::Any);
                    }
                }
            }
            _ => {
                // BPF_JMP | BPF_JMP32
                let op = op(code);
                if op == BPF_CALL {
                    if src == pseudo::CALL {
                        let callee = i as i64 + i64::from(ins.imm) + 1;
                        if let Ok(c) = usize::try_from(callee) {
                            let args = [s.reg(1), s.reg(2), s.reg(3), s.reg(4), s.reg(5)];
                            merge(&mut at, &mut work, c, State::entry(&args));
                        }
                        s.set(0, Val::Any);
                    } else {
                        let r0 = match s.reg(1) {
                            Val::Map(k) if src == 0 && ins.imm == FUNC_MAP_LOOKUP => maps
                                .inner
                                .get(k)
                                .copied()
                                .flatten()
                                .map_or(Val::Any, Val::Map),
                            _ => Val::Any,
                        };
                        s.set(0, r0);
                    }
                    for r in 1..=5 {
                        s.set(r, Val::Any);
                    }
                } else if op == BPF_EXIT {
                    next.clear();
                } else {
                    let rel = if code == BPF_JMP32 | BPF_JA {
                        i64::from(ins.imm)
                    } else {
                        i64::from(ins.off)
                    };
                    let target = usize::try_from(i as i64 + rel + 1).ok();
                    if op == BPF_JA && code != BPF_JMP | BPF_JCOND {
                        next.clear();
                    }
                    next.extend(target);
                }
            }
        }
        for j in next {
            if j < n {
                merge(&mut at, &mut work, j, s.clone());
            }
        }
    }
    Flow { at }
}

/// The maps a program references: a table of descriptions, the `ld_imm64` that loads each,
/// and for each map of maps the table index of its inner-map template.
struct Maps {
    descs: Vec<MapDesc>,
    at: BTreeMap<usize, usize>,
    inner: Vec<Option<usize>>,
}

impl Maps {
    fn new(refs: &BTreeMap<usize, MapDesc>) -> Maps {
        let mut m = Maps {
            descs: vec![],
            at: BTreeMap::new(),
            inner: vec![],
        };
        for (&at, d) in refs {
            let k = m.descs.len();
            m.descs.push(d.clone());
            m.inner.push(None);
            if let Some(inner) = &d.inner {
                m.descs.push((**inner).clone());
                m.inner.push(None);
                m.inner[k] = Some(k + 1);
            }
            m.at.insert(at, k);
        }
        m
    }
}

/// `map->ops->map_gen_lookup` for `bpf_map_lookup_elem(map in r1, key in r2)` with the result
/// in r0 (`array_map_gen_lookup`, `array_of_map_gen_lookup`, `htab_map_gen_lookup`,
/// `htab_of_map_gen_lookup`); `None` where the type has none or refuses (`BPF_F_INNER_MAP`).
fn gen_lookup(d: &MapDesc) -> Option<Vec<Insn>> {
    let elem = d.value_size.div_ceil(8).saturating_mul(8);
    let scale = |v: &mut Vec<Insn>, elem: u32| {
        if elem.is_power_of_two() {
            v.push(Insn::alu64_imm(BPF_LSH, 0, elem.trailing_zeros() as i32));
        } else {
            v.push(Insn::alu64_imm(BPF_MUL, 0, elem as i32));
        }
    };
    let ldx =
        |sz: u8, dst: u8, src: u8, off: i16| Insn::raw(BPF_LDX | BPF_MEM | sz, dst, src, off, 0);
    let htab_off = HTAB_ELEM_KEY_OFF + (d.key_size.div_ceil(8) * 8) as i32;
    match d.map_type {
        mt::ARRAY if d.map_flags & BPF_F_INNER_MAP == 0 => {
            let mut v = vec![
                Insn::alu64_imm(BPF_ADD, 1, ARRAY_VALUE_OFF),
                ldx(BPF_W, 0, 2, 0),
                Insn::jmp_imm(BPF_JGE, 0, d.max_entries as i32, 3),
            ];
            scale(&mut v, elem);
            v.extend([
                Insn::raw(BPF_ALU64 | BPF_ADD | BPF_X, 0, 1, 0, 0),
                Insn::ja(1),
                Insn::mov64_imm(0, 0),
            ]);
            Some(v)
        }
        mt::ARRAY_OF_MAPS => {
            let mut v = vec![
                Insn::alu64_imm(BPF_ADD, 1, ARRAY_VALUE_OFF),
                ldx(BPF_W, 0, 2, 0),
                Insn::jmp_imm(BPF_JGE, 0, d.max_entries as i32, 5),
            ];
            scale(&mut v, 8);
            v.extend([
                Insn::raw(BPF_ALU64 | BPF_ADD | BPF_X, 0, 1, 0, 0),
                ldx(BPF_DW, 0, 0, 0),
                Insn::jeq_imm(0, 0, 1),
                Insn::ja(1),
                Insn::mov64_imm(0, 0),
            ]);
            Some(v)
        }
        mt::HASH => Some(vec![
            call_fn("__htab_map_lookup_elem"),
            Insn::jeq_imm(0, 0, 1),
            Insn::alu64_imm(BPF_ADD, 0, htab_off),
        ]),
        mt::HASH_OF_MAPS => Some(vec![
            call_fn("__htab_map_lookup_elem"),
            Insn::jeq_imm(0, 0, 2),
            Insn::alu64_imm(BPF_ADD, 0, htab_off),
            ldx(BPF_DW, 0, 0, 0),
        ]),
        _ => None,
    }
}

/// `ops->map_{lookup,update,delete}_elem` for a call whose map is known but not inlined.
fn map_op_fn(d: &MapDesc, helper: i32) -> Option<&'static str> {
    let hash = matches!(d.map_type, mt::HASH | mt::HASH_OF_MAPS);
    let array = matches!(d.map_type, mt::ARRAY | mt::ARRAY_OF_MAPS);
    match (helper, hash, array) {
        (FUNC_MAP_LOOKUP, true, _) => Some("__htab_map_lookup_elem"),
        (FUNC_MAP_LOOKUP, _, true) => Some("array_map_lookup_elem"),
        (FUNC_MAP_UPDATE, true, _) => Some("htab_map_update_elem"),
        (FUNC_MAP_UPDATE, _, true) => Some("array_map_update_elem"),
        (FUNC_MAP_DELETE, true, _) => Some("htab_map_delete_elem"),
        (FUNC_MAP_DELETE, _, true) => Some("array_map_delete_elem"),
        _ => None,
    }
}

/// `do_misc_fixups`' guard around a division or modulo by a register (measured on 6.18):
/// `chk_and_div`, `chk_and_mod`, `chk_and_sdiv`, `chk_and_smod`.
fn div_guard(ins: Insn) -> Vec<Insn> {
    let is64 = class(ins.code) == BPF_ALU64;
    let isdiv = op(ins.code) == BPF_DIV;
    let signed = ins.off == 1;
    let (jmp, alu) = if is64 {
        (BPF_JMP, BPF_ALU64)
    } else {
        (BPF_JMP32, BPF_ALU)
    };
    let (d, s) = (ins.dst, ins.src);
    let mov32 = |dst, src| Insn::raw(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
    match (isdiv, signed) {
        (true, false) => vec![
            Insn::raw(jmp | BPF_JNE | BPF_K, s, 0, 2, 0),
            Insn::raw(BPF_ALU | BPF_XOR | BPF_X, d, d, 0, 0),
            Insn::ja(1),
            ins,
        ],
        (false, false) if is64 => vec![Insn::raw(jmp | BPF_JEQ | BPF_K, s, 0, 1, 0), ins],
        (false, false) => vec![
            Insn::raw(jmp | BPF_JEQ | BPF_K, s, 0, 2, 0),
            ins,
            Insn::ja(1),
            mov32(d, d),
        ],
        (true, true) => vec![
            Insn::mov64_reg(AX, s),
            Insn::raw(alu | BPF_ADD | BPF_K, AX, 0, 0, 1),
            Insn::raw(jmp | BPF_JGT | BPF_K, AX, 0, 4, 1),
            Insn::raw(jmp | BPF_JEQ | BPF_K, AX, 0, 1, 0),
            Insn::raw(alu | BPF_MOV | BPF_K, d, 0, 0, 0),
            Insn::raw(alu | BPF_NEG | BPF_K, d, 0, 0, 0),
            Insn::ja(1),
            ins,
        ],
        (false, true) => {
            let mut v = vec![
                Insn::mov64_reg(AX, s),
                Insn::raw(alu | BPF_ADD | BPF_K, AX, 0, 0, 1),
                Insn::raw(jmp | BPF_JGT | BPF_K, AX, 0, 3, 1),
                Insn::raw(jmp | BPF_JEQ | BPF_K, AX, 0, if is64 { 3 } else { 4 }, 1),
                Insn::raw(BPF_ALU | BPF_MOV | BPF_K, d, 0, 0, 0),
                Insn::ja(1),
                ins,
            ];
            if !is64 {
                v.extend([Insn::ja(1), mov32(d, d)]);
            }
            v
        }
    }
}

/// The context rewrite of an access through the context pointer, if measured.
fn ctx_rewrite(prog_type: u32, ins: Insn) -> Result<Vec<Insn>, String> {
    let store = class(ins.code) == BPF_STX;
    let (ctx, val) = if store {
        (ins.dst, ins.src)
    } else {
        (ins.src, ins.dst)
    };
    let sz = size_bytes(ins.code);
    let Some(rw) = CTX_REWRITES.iter().find(|r| {
        r.types.contains(&prog_type)
            && r.store == store
            && r.off == ins.off
            && i16::from(r.size) == sz
            && mode(ins.code) == BPF_MEM
    }) else {
        return Err(format!(
            "{} of {sz} bytes at context offset {} (program type {prog_type}) not in the measured table",
            if store { "store" } else { "load" },
            ins.off
        ));
    };
    let reg = |r: R| match r {
        R::C => ctx,
        R::V => val,
        R::AX => AX,
        R::Z => 0,
    };
    // The template reads the context register after writing the value register: valid only
    // when they differ (the kernel uses another sequence when they are the same).
    if ctx == val && !store {
        let mut written = false;
        for x in rw.seq {
            if written && (x.2 == R::C || (x.1 == R::C && class(x.0) == BPF_STX)) {
                return Err(format!(
                    "context load into its own pointer register at offset {} needs a sequence not measured",
                    ins.off
                ));
            }
            written |= x.1 == R::V;
        }
    }
    Ok(rw
        .seq
        .iter()
        .map(|x| Insn::raw(x.0, reg(x.1), reg(x.2), x.3, x.4))
        .collect())
}

enum Patch {
    /// The instruction (both halves of an `ld_imm64`) as it was; jumps and calls retargeted.
    Keep,
    /// Replaced (empty: removed); the replacement's own jumps are relative to itself.
    With(Vec<Insn>),
}

/// Translates a loaded program. `insns` are the submitted instructions with map references
/// already shown as map ids (`ld_imm64` `src_reg` 1 or 2, `imm` = id); `subprogs` the
/// function starts (0 first); `maps` what each `BPF_PSEUDO_MAP_FD`/`MAP_VALUE` `ld_imm64`
/// (by index) references; `privileged` is `bpf_capable()` of the loader.
pub fn translate(
    insns: &[Insn],
    subprogs: &[usize],
    prog_type: u32,
    maps: &BTreeMap<usize, MapDesc>,
    privileged: bool,
    hash: TagHash,
) -> Xlated {
    let maps = Maps::new(maps);
    let fl = flow(insns, &maps);
    let mut unmodeled = Vec::new();
    if !privileged {
        unmodeled.push("unprivileged load: the kernel's Spectre hardening is not modeled".into());
    }
    let n = insns.len();
    let mut patches: Vec<Patch> = Vec::with_capacity(n);
    let mut poke = 0i32;
    let mut tail_imm: BTreeMap<usize, i32> = BTreeMap::new();
    let mut i = 0;
    while i < n {
        let ins = insns[i];
        let st = fl.at[i].as_ref();
        let code = ins.code;
        let cls = class(code);
        let p = if code == LD_IMM64 {
            Patch::Keep
        } else if (cls == BPF_LDX
            && mode(code) == BPF_MEM
            && st.is_some_and(|s| s.reg(ins.src) == Val::Ctx))
            || (cls == BPF_STX
                && mode(code) == BPF_MEM
                && st.is_some_and(|s| s.reg(ins.dst) == Val::Ctx))
        {
            match ctx_rewrite(prog_type, ins) {
                Ok(v) => Patch::With(v),
                Err(e) => {
                    unmodeled.push(format!("insn {i}: {e}"));
                    Patch::Keep
                }
            }
        } else if cls == BPF_LD {
            unmodeled.push(format!("insn {i}: LD_ABS/LD_IND (gen_ld_abs) not modeled"));
            Patch::Keep
        } else if code == BPF_JMP | BPF_CALL && ins.src == 0 {
            let map = match st.map(|s| s.reg(1)) {
                Some(Val::Map(k)) => maps.descs.get(k),
                _ => None,
            };
            if ins.imm == BPF_FUNC_TAIL_CALL {
                // The dump shows `call bpf_tail_call#12`; jit_subprogs hashes the internal
                // form, with the poke descriptor's index + 1 for a known map and key.
                let key_ok = match (map, st.map(|s| s.reg(3))) {
                    (Some(d), Some(Val::Const(c))) => c >= 0 && c < i64::from(d.max_entries),
                    _ => false,
                };
                if privileged && key_ok {
                    poke += 1;
                    tail_imm.insert(i, poke);
                } else {
                    tail_imm.insert(i, 0);
                }
                Patch::Keep
            } else if matches!(ins.imm, FUNC_MAP_LOOKUP | FUNC_MAP_UPDATE | FUNC_MAP_DELETE)
                && map.is_some()
            {
                let d = map.expect("checked");
                match (ins.imm == FUNC_MAP_LOOKUP)
                    .then(|| gen_lookup(d))
                    .flatten()
                {
                    Some(v) => Patch::With(v),
                    None => match map_op_fn(d, ins.imm) {
                        Some(f) => Patch::With(vec![call_fn(f)]),
                        None => Patch::With(vec![call_fn(helper_fn(ins.imm))]),
                    },
                }
            } else {
                if INLINED_HELPERS.contains(&ins.imm) {
                    unmodeled.push(format!(
                        "insn {i}: helper {} is inlined by the kernel, not by the model",
                        helper_fn(ins.imm)
                    ));
                }
                Patch::With(vec![call_fn(helper_fn(ins.imm))])
            }
        } else if code == BPF_JMP | BPF_CALL && ins.src == pseudo::KFUNC_CALL {
            unmodeled.push(format!("insn {i}: kfunc call not modeled"));
            Patch::Keep
        } else if matches!(cls, BPF_ALU | BPF_ALU64)
            && matches!(op(code), BPF_DIV | BPF_MOD)
            && src_kind(code) == BPF_X
        {
            Patch::With(div_guard(ins))
        } else if code == BPF_JMP | BPF_JA && ins.off == 0 && privileged {
            Patch::With(vec![])
        } else {
            Patch::Keep
        };
        patches.push(p);
        if code == LD_IMM64 {
            patches.push(Patch::With(vec![])); // the second half travels with the first
            i += 2;
        } else {
            i += 1;
        }
    }
    // New positions: where each original instruction's translation starts.
    let mut start = Vec::with_capacity(n + 1);
    let mut pos = 0usize;
    for (i, p) in patches.iter().enumerate() {
        start.push(pos);
        pos += match p {
            Patch::Keep if insns[i].code == LD_IMM64 => 2,
            Patch::Keep => 1,
            Patch::With(v) => v.len(),
        };
    }
    start.push(pos);
    let new_of = |old: i64| {
        usize::try_from(old)
            .ok()
            .and_then(|o| start.get(o).copied())
    };
    let func_idx = |old: i64| {
        usize::try_from(old)
            .ok()
            .and_then(|o| subprogs.binary_search(&o).ok())
    };
    let mut out = Vec::with_capacity(pos);
    // (new index, callee subprogram) of every pseudo call, and new index -> tail-call imm.
    let mut calls = Vec::new();
    let mut tails = BTreeMap::new();
    for (i, p) in patches.iter().enumerate() {
        match p {
            Patch::With(v) => out.extend_from_slice(v),
            Patch::Keep => {
                let mut ins = insns[i];
                let here = out.len() as i64;
                let code = ins.code;
                let is_jmp = matches!(class(code), BPF_JMP | BPF_JMP32);
                if let Some(&t) = tail_imm.get(&i) {
                    tails.insert(out.len(), t);
                }
                if is_jmp && op(code) == BPF_CALL && ins.src == pseudo::CALL {
                    let target = i as i64 + i64::from(ins.imm) + 1;
                    if let (Some(t), Some(f)) = (new_of(target), func_idx(target)) {
                        ins.off = (t as i64 - here - 1) as i16;
                        ins.imm = f as i32;
                        calls.push((out.len(), f));
                    }
                } else if is_jmp && !matches!(op(code), BPF_CALL | BPF_EXIT) {
                    let wide = code == BPF_JMP32 | BPF_JA;
                    let rel = if wide {
                        i64::from(ins.imm)
                    } else {
                        i64::from(ins.off)
                    };
                    if let Some(t) = new_of(i as i64 + rel + 1) {
                        let r = t as i64 - here - 1;
                        if wide {
                            ins.imm = r as i32;
                        } else {
                            ins.off = r as i16;
                        }
                    }
                } else if code == LD_IMM64 && ins.src == pseudo::FUNC {
                    let target = i as i64 + i64::from(ins.imm) + 1;
                    if let (Some(t), Some(f)) = (new_of(target), func_idx(target)) {
                        ins.imm = (t as i64 - here - 1) as i32;
                        ins.off = 0;
                        out.push(ins);
                        let mut hi = insns.get(i + 1).copied().unwrap_or_default();
                        hi.imm = f as i32;
                        out.push(hi);
                        continue;
                    }
                }
                out.push(ins);
                if code == LD_IMM64 {
                    out.push(insns.get(i + 1).copied().unwrap_or_default());
                }
            }
        }
    }
    let func_starts: Vec<usize> = subprogs
        .iter()
        .filter_map(|&s| start.get(s).copied())
        .collect();
    let func_tags = if func_starts.len() > 1 {
        func_tags(&out, &func_starts, &calls, &tails, hash)
    } else {
        vec![]
    };
    Xlated {
        insns: out,
        func_starts,
        func_tags,
        unmodeled,
        starts: start,
    }
}

/// `bpf_prog_calc_tag(func[i])` in `jit_subprogs`: each function's instructions as they are
/// when it is split off: a pseudo call holds the callee's index in `off` and 1 in `imm`, a
/// tail call is `BPF_JMP|BPF_TAIL_CALL` with its poke index + 1 (0 without one), map
/// `ld_imm64`s are masked as for the program's tag.
fn func_tags(
    insns: &[Insn],
    starts: &[usize],
    calls: &[(usize, usize)],
    tails: &BTreeMap<usize, i32>,
    hash: TagHash,
) -> Vec<[u8; 8]> {
    let mut form = insns.to_vec();
    for &(at, f) in calls {
        form[at].off = f as i16;
        form[at].imm = 1;
    }
    for (&at, &imm) in tails {
        form[at].code = BPF_JMP | BPF_TAIL_CALL;
        form[at].imm = imm;
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let e = starts.get(k + 1).copied().unwrap_or(form.len());
            prog_tag(&form[s..e.max(s)], hash)
        })
        .collect()
}

/// The symbols bpftool would find for the program's JITed functions
/// (`bpf_prog_info.jited_ksyms` through kallsyms, `bpf_prog_ksym_set_name`): one function,
/// `bpf_prog_<tag>_<name>`; several, `bpf_prog_<functag>_F` each (no BTF `func_info`).
pub fn jited_ksyms(x: &Xlated, tag: &[u8; 8], name: &str) -> Vec<String> {
    let hex = |t: &[u8; 8]| t.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if x.func_tags.is_empty() {
        let suffix = if name.is_empty() {
            String::new()
        } else {
            format!("_{name}")
        };
        vec![format!("bpf_prog_{}{suffix}", hex(tag))]
    } else {
        x.func_tags
            .iter()
            .map(|t| format!("bpf_prog_{}_F", hex(t)))
            .collect()
    }
}

/// [`DisasmOpts`] for dumping a translation the way bpftool dumps the kernel's: the model's
/// kernel symbols and the program's JITed function names.
pub fn dump_opts(
    x: &Xlated,
    tag: &[u8; 8],
    name: &str,
    dialect: super::disasm::Dialect,
) -> DisasmOpts {
    DisasmOpts {
        dialect,
        call_syms: call_syms(),
        jited_ksyms: jited_ksyms(x, tag, name),
        ..Default::default()
    }
}

/// `bpftool prog dump xlated` of a loaded program in the model: its translation
/// ([`Prog::translated`](super::Prog::translated)) disassembled with the model's kernel
/// symbols, in `dialect`'s syntax.
pub fn dump(p: &super::Prog, dialect: super::disasm::Dialect) -> String {
    let x = &p.translated;
    super::disasm::disasm(&x.insns, &dump_opts(x, &p.tag, &p.name_str(), dialect))
}

#[cfg(test)]
#[path = "xlated_tests.rs"]
mod tests;

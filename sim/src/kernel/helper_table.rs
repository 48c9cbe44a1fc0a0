//! The table of helpers: which helper a program of each type may call, on the kernel and in
//! the model, and the load-time check built on it (the verifier's `check_helper_call` up to
//! `get_func_proto`, plus the GPL rule).
//!
//! Two tables, both data:
//! - the kernel's: for each program type the model can run, the helper ids the 6.18 kernel's
//!   `*_func_proto` offers it, measured on the real kernel (root, GPL program, every id from 1
//!   to 211 loaded in a two-instruction program; an id is offered when the verifier does not
//!   answer "program of this type cannot use helper"). See `docs/kernel-notes.md`.
//! - the model's ([`SUPPORTED_HELPERS`]): the helpers the model implements, with the program
//!   types that get each one. Every entry is a subset of the kernel's row for that type
//!   (a test checks it), and `docs/helpers.md` lists the same rows (a test checks that too).
//!
//! The check ([`check_helper_calls`]), for the program types in [`RUNNABLE_TYPES`], on every
//! `call` with src_reg 0, in program order:
//! 1. an id outside `1..=211` (`__BPF_FUNC_MAX_ID` is 212): `EINVAL`, "invalid func unknown#N";
//! 2. an id the kernel does not offer the type: `EINVAL`, "program of this type cannot use
//!    helper bpf_xxx#N" (the 6.18 text; older kernels said "unknown func bpf_xxx#N");
//! 3. an id the kernel offers but the model does not implement: `EINVAL`, "helper bpf_xxx#N is
//!    not implemented by the model (bpfsim)": a deliberate difference from the kernel, which
//!    would load the program; the model refuses at load rather than fail at run time;
//! 4. a GPL-only helper (`bpf_trace_printk`) in a program whose license is not GPL-compatible:
//!    `EINVAL`, "cannot call GPL-restricted function from non-GPL compatible program".
//!
//! Program types the model cannot run (kprobe, tracepoint, lwt, ...) are not checked:
//! their loads are accepted as before.

use crate::prog::Insn;
use crate::prog::disasm::helper_name;
use crate::uapi::prog_type as pt;

/// `__BPF_FUNC_MAX_ID` on 6.18: ids at or above it are "invalid func unknown#N".
pub const BPF_FUNC_MAX_ID: i32 = 212;

/// The program types the model runs (test runs, [`crate::Kernel::run_sock_ops`],
/// [`crate::Kernel::run_cgroup_sock`]); only
/// these get the load-time helper check.
pub const RUNNABLE_TYPES: &[u32] = &[
    pt::SOCKET_FILTER,
    pt::SCHED_CLS,
    pt::SCHED_ACT,
    pt::XDP,
    pt::CGROUP_SKB,
    pt::SOCK_OPS,
    pt::CGROUP_SOCK,
];

/// One helper the model implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperSpec {
    /// `enum bpf_func_id` value.
    pub id: i32,
    /// The kernel's name (`bpf_` + the `BPF_FUNC_` suffix).
    pub name: &'static str,
    /// The program types that get it in the model (`BPF_PROG_TYPE_*`).
    pub prog_types: &'static [u32],
    /// The kernel's `gpl_only`: a non-GPL program may not call it.
    pub gpl_only: bool,
}

/// Every type the model runs.
const ALL: &[u32] = RUNNABLE_TYPES;
/// The `__sk_buff` types.
const SKB: &[u32] = &[
    pt::SOCKET_FILTER,
    pt::SCHED_CLS,
    pt::SCHED_ACT,
    pt::CGROUP_SKB,
];
/// tc.
const TC: &[u32] = &[pt::SCHED_CLS, pt::SCHED_ACT];
/// tc and XDP.
const TC_XDP: &[u32] = &[pt::SCHED_CLS, pt::SCHED_ACT, pt::XDP];
/// XDP.
const XDP: &[u32] = &[pt::XDP];

const fn h(id: i32, name: &'static str, prog_types: &'static [u32]) -> HelperSpec {
    HelperSpec {
        id,
        name,
        prog_types,
        gpl_only: false,
    }
}

/// The helpers the model implements, by id (the published table; `docs/helpers.md`).
pub const SUPPORTED_HELPERS: &[HelperSpec] = &[
    h(1, "bpf_map_lookup_elem", ALL),
    h(2, "bpf_map_update_elem", ALL),
    h(3, "bpf_map_delete_elem", ALL),
    h(5, "bpf_ktime_get_ns", ALL),
    HelperSpec {
        id: 6,
        name: "bpf_trace_printk",
        prog_types: ALL,
        gpl_only: true,
    },
    h(7, "bpf_get_prandom_u32", ALL),
    h(8, "bpf_get_smp_processor_id", ALL),
    h(9, "bpf_skb_store_bytes", TC),
    h(10, "bpf_l3_csum_replace", TC),
    h(11, "bpf_l4_csum_replace", TC),
    h(12, "bpf_tail_call", ALL),
    h(14, "bpf_get_current_pid_tgid", ALL),
    h(15, "bpf_get_current_uid_gid", ALL),
    h(16, "bpf_get_current_comm", ALL),
    h(23, "bpf_redirect", TC_XDP),
    h(26, "bpf_skb_load_bytes", SKB),
    h(28, "bpf_csum_diff", TC_XDP),
    h(38, "bpf_skb_change_tail", TC),
    h(39, "bpf_skb_pull_data", TC),
    h(44, "bpf_xdp_adjust_head", XDP),
    h(54, "bpf_xdp_adjust_meta", XDP),
    h(65, "bpf_xdp_adjust_tail", XDP),
    h(125, "bpf_ktime_get_boot_ns", ALL),
];

/// The model's entry for `id`, if it implements it for `ptype`.
pub fn supported(ptype: u32, id: i32) -> Option<&'static HelperSpec> {
    SUPPORTED_HELPERS
        .iter()
        .find(|s| s.id == id && s.prog_types.contains(&ptype))
}

/// The helper ids the 6.18 kernel offers `ptype` (measured; see the module docs), `None`
/// for a type outside [`RUNNABLE_TYPES`].
pub fn kernel_allowed(ptype: u32) -> Option<&'static [i32]> {
    Some(match ptype {
        pt::SOCKET_FILTER => K_SOCKET_FILTER,
        pt::SCHED_CLS => K_SCHED_CLS,
        pt::SCHED_ACT => K_SCHED_ACT,
        pt::XDP => K_XDP,
        pt::CGROUP_SKB => K_CGROUP_SKB,
        pt::SOCK_OPS => K_SOCK_OPS,
        pt::CGROUP_SOCK => K_CGROUP_SOCK,
        _ => return None,
    })
}

/// Why a program's helper call is refused at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelperRefusal {
    /// The `call` instruction.
    pub insn: usize,
    /// The helper id.
    pub id: i32,
    /// The verifier log line.
    pub msg: String,
}

/// The load-time check of the module docs over `insns` of a program of type `ptype`;
/// `gpl` is whether its license is GPL-compatible. Types outside [`RUNNABLE_TYPES`] pass.
pub fn check_helper_calls(ptype: u32, insns: &[Insn], gpl: bool) -> Result<(), HelperRefusal> {
    if !RUNNABLE_TYPES.contains(&ptype) {
        return Ok(());
    }
    let allowed = kernel_allowed(ptype).unwrap_or(&[]);
    let mut pc = 0;
    while pc < insns.len() {
        let i = &insns[pc];
        if i.code == 0x18 {
            pc += 2;
            continue;
        }
        if i.code == 0x85 && i.src == 0 {
            let id = i.imm;
            let refuse = |msg: String| Err(HelperRefusal { insn: pc, id, msg });
            let name = match helper_name(id) {
                Some(n) if id > 0 && id < BPF_FUNC_MAX_ID => n,
                _ => return refuse(format!("invalid func unknown#{id}")),
            };
            if !allowed.contains(&id) {
                return refuse(format!(
                    "program of this type cannot use helper {name}#{id}"
                ));
            }
            let Some(spec) = supported(ptype, id) else {
                return refuse(format!(
                    "helper {name}#{id} is not implemented by the model (bpfsim)"
                ));
            };
            if spec.gpl_only && !gpl {
                return refuse(
                    "cannot call GPL-restricted function from non-GPL compatible program".into(),
                );
            }
        }
        pc += 1;
    }
    Ok(())
}

// The kernel's rows, measured on 6.18.44 (see the module docs).

/// `socket_filter`.
const K_SOCKET_FILTER: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 80, 87, 88,
    89, 93, 94, 105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132,
    133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169,
    170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201,
    202, 203, 208, 209, 210, 211,
];

/// `sched_cls`.
const K_SCHED_CLS: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28,
    29, 30, 31, 32, 33, 34, 35, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48, 50, 55, 66, 68, 69, 79, 80,
    83, 84, 85, 86, 87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 100, 105, 106, 107, 108, 109, 110, 112,
    113, 114, 115, 117, 118, 120, 122, 123, 124, 125, 130, 131, 132, 133, 134, 135, 136, 137, 138,
    139, 140, 141, 148, 149, 151, 152, 153, 154, 155, 156, 157, 158, 160, 163, 164, 165, 169, 170,
    171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 192, 194, 195, 196, 197, 198, 199, 200, 201,
    202, 203, 204, 205, 206, 207, 208, 209, 210, 211,
];

/// `sched_act`.
const K_SCHED_ACT: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28,
    29, 30, 31, 32, 33, 34, 35, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48, 50, 55, 66, 68, 69, 79, 80,
    83, 84, 85, 86, 87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 100, 105, 106, 107, 108, 109, 110, 112,
    113, 114, 115, 117, 118, 120, 122, 123, 124, 125, 130, 131, 132, 133, 134, 135, 136, 137, 138,
    139, 140, 141, 148, 149, 151, 152, 153, 154, 155, 156, 157, 158, 160, 163, 164, 165, 169, 170,
    171, 172, 175, 176, 177, 178, 180, 181, 182, 191, 192, 194, 195, 196, 197, 198, 199, 200, 201,
    202, 203, 204, 205, 206, 207, 208, 209, 210, 211,
];

/// `xdp`.
const K_XDP: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 23, 25, 28, 35, 37, 42, 44, 51, 54, 55, 65, 69,
    80, 84, 85, 86, 87, 88, 89, 93, 94, 99, 100, 105, 106, 109, 110, 112, 113, 114, 115, 117, 118,
    120, 123, 125, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156,
    157, 158, 160, 163, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 188, 189,
    190, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210,
    211,
];

/// `cgroup_skb`.
const K_CGROUP_SKB: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 79, 80, 81,
    83, 84, 85, 86, 87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 105, 106, 107, 108, 109, 112, 113, 114,
    115, 117, 118, 120, 122, 123, 125, 128, 129, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140,
    141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178,
    180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

/// `sock_ops`.
const K_SOCK_OPS: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 46, 49, 53, 55, 57, 59, 70, 80,
    81, 87, 88, 89, 93, 94, 96, 105, 106, 107, 108, 109, 112, 113, 114, 115, 117, 118, 120, 122,
    123, 125, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 142, 143, 144, 148, 149, 153,
    154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 191,
    194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

/// `cgroup_sock`.
const K_CGROUP_SOCK: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 35, 37, 42, 46, 55, 80, 81, 87, 88, 89, 93,
    94, 105, 106, 107, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133,
    134, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175, 176, 177,
    180, 181, 182, 186, 187, 191, 194, 195, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
];

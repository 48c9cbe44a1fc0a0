//! libbpf's `SEC()` name table (`section_defs` in `src/libbpf.c`): which program type and
//! expected attach type a section name implies, as data.
//!
//! Matching follows `sec_def_matches`: an entry ending in `/` matches any name with that
//! prefix; an entry ending in `+` matches the name itself or the name followed by `/...`;
//! any other entry matches only exactly. The first matching entry wins, so order matters
//! (`tc/ingress` before `tc`). The table is libbpf's current one (after 1.7); a leading `?`
//! (autoload off) is stripped before the lookup, as `bpf_object__init_prog` does.

use super::error::LoadError;
use crate::uapi::prog_type as pt;

/// `enum bpf_attach_type` values (`include/uapi/linux/bpf.h`).
#[allow(missing_docs)]
pub mod attach_type {
    /// No expected attach type (0, which is also `BPF_CGROUP_INET_INGRESS`).
    pub const NONE: u32 = 0;
    pub const CGROUP_INET_INGRESS: u32 = 0;
    pub const CGROUP_INET_EGRESS: u32 = 1;
    pub const CGROUP_INET_SOCK_CREATE: u32 = 2;
    pub const CGROUP_SOCK_OPS: u32 = 3;
    pub const SK_SKB_STREAM_PARSER: u32 = 4;
    pub const SK_SKB_STREAM_VERDICT: u32 = 5;
    pub const CGROUP_DEVICE: u32 = 6;
    pub const SK_MSG_VERDICT: u32 = 7;
    pub const CGROUP_INET4_BIND: u32 = 8;
    pub const CGROUP_INET6_BIND: u32 = 9;
    pub const CGROUP_INET4_CONNECT: u32 = 10;
    pub const CGROUP_INET6_CONNECT: u32 = 11;
    pub const CGROUP_INET4_POST_BIND: u32 = 12;
    pub const CGROUP_INET6_POST_BIND: u32 = 13;
    pub const CGROUP_UDP4_SENDMSG: u32 = 14;
    pub const CGROUP_UDP6_SENDMSG: u32 = 15;
    pub const LIRC_MODE2: u32 = 16;
    pub const FLOW_DISSECTOR: u32 = 17;
    pub const CGROUP_SYSCTL: u32 = 18;
    pub const CGROUP_UDP4_RECVMSG: u32 = 19;
    pub const CGROUP_UDP6_RECVMSG: u32 = 20;
    pub const CGROUP_GETSOCKOPT: u32 = 21;
    pub const CGROUP_SETSOCKOPT: u32 = 22;
    pub const TRACE_RAW_TP: u32 = 23;
    pub const TRACE_FENTRY: u32 = 24;
    pub const TRACE_FEXIT: u32 = 25;
    pub const MODIFY_RETURN: u32 = 26;
    pub const LSM_MAC: u32 = 27;
    pub const TRACE_ITER: u32 = 28;
    pub const CGROUP_INET4_GETPEERNAME: u32 = 29;
    pub const CGROUP_INET6_GETPEERNAME: u32 = 30;
    pub const CGROUP_INET4_GETSOCKNAME: u32 = 31;
    pub const CGROUP_INET6_GETSOCKNAME: u32 = 32;
    pub const XDP_DEVMAP: u32 = 33;
    pub const CGROUP_INET_SOCK_RELEASE: u32 = 34;
    pub const XDP_CPUMAP: u32 = 35;
    pub const SK_LOOKUP: u32 = 36;
    pub const XDP: u32 = 37;
    pub const SK_SKB_VERDICT: u32 = 38;
    pub const SK_REUSEPORT_SELECT: u32 = 39;
    pub const SK_REUSEPORT_SELECT_OR_MIGRATE: u32 = 40;
    pub const PERF_EVENT: u32 = 41;
    pub const TRACE_KPROBE_MULTI: u32 = 42;
    pub const LSM_CGROUP: u32 = 43;
    pub const STRUCT_OPS: u32 = 44;
    pub const NETFILTER: u32 = 45;
    pub const TCX_INGRESS: u32 = 46;
    pub const TCX_EGRESS: u32 = 47;
    pub const TRACE_UPROBE_MULTI: u32 = 48;
    pub const CGROUP_UNIX_CONNECT: u32 = 49;
    pub const CGROUP_UNIX_SENDMSG: u32 = 50;
    pub const CGROUP_UNIX_RECVMSG: u32 = 51;
    pub const CGROUP_UNIX_GETPEERNAME: u32 = 52;
    pub const CGROUP_UNIX_GETSOCKNAME: u32 = 53;
    pub const NETKIT_PRIMARY: u32 = 54;
    pub const NETKIT_PEER: u32 = 55;
    pub const TRACE_KPROBE_SESSION: u32 = 56;
    pub const TRACE_UPROBE_SESSION: u32 = 57;
    pub const TRACE_FSESSION: u32 = 58;
    pub const TRACE_FENTRY_MULTI: u32 = 59;
    pub const TRACE_FEXIT_MULTI: u32 = 60;
    pub const TRACE_FSESSION_MULTI: u32 = 61;
}

use attach_type as at;

/// `SEC_SLEEPABLE`: the program loads with `BPF_F_SLEEPABLE`.
pub const F_SLEEPABLE: u8 = 1 << 0;
/// `SEC_XDP_FRAGS`: XDP programs load with `BPF_F_XDP_HAS_FRAGS`.
pub const F_XDP_FRAGS: u8 = 1 << 1;
/// `SEC_ATTACH_BTF`: needs a BTF attach target named after the `/`.
pub const F_ATTACH_BTF: u8 = 1 << 2;
/// `SEC_USDT`: USDT probe.
pub const F_USDT: u8 = 1 << 3;

/// One `SEC()` table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecDef {
    /// The pattern (`"xdp"`, `"kprobe+"`, `"cgroup_skb/ingress"`).
    pub sec: &'static str,
    /// `enum bpf_prog_type`.
    pub prog_type: u32,
    /// `enum bpf_attach_type` passed as `expected_attach_type`.
    pub expected_attach_type: u32,
    /// `F_*` flags.
    pub flags: u8,
}

impl SecDef {
    /// Whether `name` matches this entry (`sec_def_matches`).
    pub fn matches(&self, name: &str) -> bool {
        if let Some(prefix) = self.sec.strip_suffix('+') {
            match name.strip_prefix(prefix) {
                Some(rest) => rest.is_empty() || rest.starts_with('/'),
                None => false,
            }
        } else if self.sec.ends_with('/') {
            name.starts_with(self.sec)
        } else {
            name == self.sec
        }
    }

    /// `prog_flags` libbpf adds at load (`libbpf_prepare_prog_load`).
    pub fn prog_flags(&self) -> u32 {
        use crate::uapi::flags::{BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS};
        let mut f = 0;
        if self.flags & F_SLEEPABLE != 0 {
            f |= BPF_F_SLEEPABLE;
        }
        if self.flags & F_XDP_FRAGS != 0 && self.prog_type == pt::XDP {
            f |= BPF_F_XDP_HAS_FRAGS;
        }
        f
    }
}

const fn d(sec: &'static str, prog_type: u32, expected_attach_type: u32, flags: u8) -> SecDef {
    SecDef {
        sec,
        prog_type,
        expected_attach_type,
        flags,
    }
}

/// The table, in libbpf's order.
pub static SECTION_DEFS: &[SecDef] = &[
    d("socket", pt::SOCKET_FILTER, at::NONE, 0),
    d(
        "sk_reuseport/migrate",
        pt::SK_REUSEPORT,
        at::SK_REUSEPORT_SELECT_OR_MIGRATE,
        0,
    ),
    d("sk_reuseport", pt::SK_REUSEPORT, at::SK_REUSEPORT_SELECT, 0),
    d("kprobe+", pt::KPROBE, at::NONE, 0),
    d("uprobe+", pt::KPROBE, at::NONE, 0),
    d("uprobe.s+", pt::KPROBE, at::NONE, F_SLEEPABLE),
    d("kretprobe+", pt::KPROBE, at::NONE, 0),
    d("uretprobe+", pt::KPROBE, at::NONE, 0),
    d("uretprobe.s+", pt::KPROBE, at::NONE, F_SLEEPABLE),
    d("kprobe.multi+", pt::KPROBE, at::TRACE_KPROBE_MULTI, 0),
    d("kretprobe.multi+", pt::KPROBE, at::TRACE_KPROBE_MULTI, 0),
    d("kprobe.session+", pt::KPROBE, at::TRACE_KPROBE_SESSION, 0),
    d("uprobe.multi+", pt::KPROBE, at::TRACE_UPROBE_MULTI, 0),
    d("uretprobe.multi+", pt::KPROBE, at::TRACE_UPROBE_MULTI, 0),
    d("uprobe.session+", pt::KPROBE, at::TRACE_UPROBE_SESSION, 0),
    d(
        "uprobe.multi.s+",
        pt::KPROBE,
        at::TRACE_UPROBE_MULTI,
        F_SLEEPABLE,
    ),
    d(
        "uretprobe.multi.s+",
        pt::KPROBE,
        at::TRACE_UPROBE_MULTI,
        F_SLEEPABLE,
    ),
    d(
        "uprobe.session.s+",
        pt::KPROBE,
        at::TRACE_UPROBE_SESSION,
        F_SLEEPABLE,
    ),
    d("ksyscall+", pt::KPROBE, at::NONE, 0),
    d("kretsyscall+", pt::KPROBE, at::NONE, 0),
    d("usdt+", pt::KPROBE, at::NONE, F_USDT),
    d("usdt.s+", pt::KPROBE, at::NONE, F_USDT | F_SLEEPABLE),
    d("tc/ingress", pt::SCHED_CLS, at::TCX_INGRESS, 0),
    d("tc/egress", pt::SCHED_CLS, at::TCX_EGRESS, 0),
    d("tcx/ingress", pt::SCHED_CLS, at::TCX_INGRESS, 0),
    d("tcx/egress", pt::SCHED_CLS, at::TCX_EGRESS, 0),
    d("tc", pt::SCHED_CLS, at::NONE, 0),
    d("classifier", pt::SCHED_CLS, at::NONE, 0),
    d("action", pt::SCHED_ACT, at::NONE, 0),
    d("netkit/primary", pt::SCHED_CLS, at::NETKIT_PRIMARY, 0),
    d("netkit/peer", pt::SCHED_CLS, at::NETKIT_PEER, 0),
    d("tracepoint+", pt::TRACEPOINT, at::NONE, 0),
    d("tp+", pt::TRACEPOINT, at::NONE, 0),
    d("tracepoint.s+", pt::TRACEPOINT, at::NONE, F_SLEEPABLE),
    d("tp.s+", pt::TRACEPOINT, at::NONE, F_SLEEPABLE),
    d("raw_tracepoint+", pt::RAW_TRACEPOINT, at::NONE, 0),
    d("raw_tp+", pt::RAW_TRACEPOINT, at::NONE, 0),
    d(
        "raw_tracepoint.s+",
        pt::RAW_TRACEPOINT,
        at::NONE,
        F_SLEEPABLE,
    ),
    d("raw_tp.s+", pt::RAW_TRACEPOINT, at::NONE, F_SLEEPABLE),
    d(
        "raw_tracepoint.w+",
        pt::RAW_TRACEPOINT_WRITABLE,
        at::NONE,
        0,
    ),
    d("raw_tp.w+", pt::RAW_TRACEPOINT_WRITABLE, at::NONE, 0),
    d("tp_btf+", pt::TRACING, at::TRACE_RAW_TP, F_ATTACH_BTF),
    d(
        "tp_btf.s+",
        pt::TRACING,
        at::TRACE_RAW_TP,
        F_ATTACH_BTF | F_SLEEPABLE,
    ),
    d("fentry+", pt::TRACING, at::TRACE_FENTRY, F_ATTACH_BTF),
    d("fmod_ret+", pt::TRACING, at::MODIFY_RETURN, F_ATTACH_BTF),
    d("fexit+", pt::TRACING, at::TRACE_FEXIT, F_ATTACH_BTF),
    d(
        "fentry.s+",
        pt::TRACING,
        at::TRACE_FENTRY,
        F_ATTACH_BTF | F_SLEEPABLE,
    ),
    d(
        "fmod_ret.s+",
        pt::TRACING,
        at::MODIFY_RETURN,
        F_ATTACH_BTF | F_SLEEPABLE,
    ),
    d(
        "fexit.s+",
        pt::TRACING,
        at::TRACE_FEXIT,
        F_ATTACH_BTF | F_SLEEPABLE,
    ),
    d("fsession+", pt::TRACING, at::TRACE_FSESSION, F_ATTACH_BTF),
    d(
        "fsession.s+",
        pt::TRACING,
        at::TRACE_FSESSION,
        F_ATTACH_BTF | F_SLEEPABLE,
    ),
    d("fsession.multi+", pt::TRACING, at::TRACE_FSESSION_MULTI, 0),
    d(
        "fsession.multi.s+",
        pt::TRACING,
        at::TRACE_FSESSION_MULTI,
        F_SLEEPABLE,
    ),
    d("fentry.multi+", pt::TRACING, at::TRACE_FENTRY_MULTI, 0),
    d("fexit.multi+", pt::TRACING, at::TRACE_FEXIT_MULTI, 0),
    d(
        "fentry.multi.s+",
        pt::TRACING,
        at::TRACE_FENTRY_MULTI,
        F_SLEEPABLE,
    ),
    d(
        "fexit.multi.s+",
        pt::TRACING,
        at::TRACE_FEXIT_MULTI,
        F_SLEEPABLE,
    ),
    d("freplace+", pt::EXT, at::NONE, F_ATTACH_BTF),
    d("lsm+", pt::LSM, at::LSM_MAC, F_ATTACH_BTF),
    d("lsm.s+", pt::LSM, at::LSM_MAC, F_ATTACH_BTF | F_SLEEPABLE),
    d("lsm_cgroup+", pt::LSM, at::LSM_CGROUP, F_ATTACH_BTF),
    d("iter+", pt::TRACING, at::TRACE_ITER, F_ATTACH_BTF),
    d(
        "iter.s+",
        pt::TRACING,
        at::TRACE_ITER,
        F_ATTACH_BTF | F_SLEEPABLE,
    ),
    d("syscall", pt::SYSCALL, at::NONE, F_SLEEPABLE),
    d("xdp.frags/devmap", pt::XDP, at::XDP_DEVMAP, F_XDP_FRAGS),
    d("xdp/devmap", pt::XDP, at::XDP_DEVMAP, 0),
    d("xdp.frags/cpumap", pt::XDP, at::XDP_CPUMAP, F_XDP_FRAGS),
    d("xdp/cpumap", pt::XDP, at::XDP_CPUMAP, 0),
    d("xdp.frags", pt::XDP, at::XDP, F_XDP_FRAGS),
    d("xdp", pt::XDP, at::XDP, 0),
    d("perf_event", pt::PERF_EVENT, at::NONE, 0),
    d("lwt_in", pt::LWT_IN, at::NONE, 0),
    d("lwt_out", pt::LWT_OUT, at::NONE, 0),
    d("lwt_xmit", pt::LWT_XMIT, at::NONE, 0),
    d("lwt_seg6local", pt::LWT_SEG6LOCAL, at::NONE, 0),
    d("sockops", pt::SOCK_OPS, at::CGROUP_SOCK_OPS, 0),
    d(
        "sk_skb/stream_parser",
        pt::SK_SKB,
        at::SK_SKB_STREAM_PARSER,
        0,
    ),
    d(
        "sk_skb/stream_verdict",
        pt::SK_SKB,
        at::SK_SKB_STREAM_VERDICT,
        0,
    ),
    d("sk_skb/verdict", pt::SK_SKB, at::SK_SKB_VERDICT, 0),
    d("sk_skb", pt::SK_SKB, at::NONE, 0),
    d("sk_msg", pt::SK_MSG, at::SK_MSG_VERDICT, 0),
    d("lirc_mode2", pt::LIRC_MODE2, at::LIRC_MODE2, 0),
    d("flow_dissector", pt::FLOW_DISSECTOR, at::FLOW_DISSECTOR, 0),
    d(
        "cgroup_skb/ingress",
        pt::CGROUP_SKB,
        at::CGROUP_INET_INGRESS,
        0,
    ),
    d(
        "cgroup_skb/egress",
        pt::CGROUP_SKB,
        at::CGROUP_INET_EGRESS,
        0,
    ),
    d("cgroup/skb", pt::CGROUP_SKB, at::NONE, 0),
    d(
        "cgroup/sock_create",
        pt::CGROUP_SOCK,
        at::CGROUP_INET_SOCK_CREATE,
        0,
    ),
    d(
        "cgroup/sock_release",
        pt::CGROUP_SOCK,
        at::CGROUP_INET_SOCK_RELEASE,
        0,
    ),
    d(
        "cgroup/sock",
        pt::CGROUP_SOCK,
        at::CGROUP_INET_SOCK_CREATE,
        0,
    ),
    d(
        "cgroup/post_bind4",
        pt::CGROUP_SOCK,
        at::CGROUP_INET4_POST_BIND,
        0,
    ),
    d(
        "cgroup/post_bind6",
        pt::CGROUP_SOCK,
        at::CGROUP_INET6_POST_BIND,
        0,
    ),
    d(
        "cgroup/bind4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET4_BIND,
        0,
    ),
    d(
        "cgroup/bind6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET6_BIND,
        0,
    ),
    d(
        "cgroup/connect4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET4_CONNECT,
        0,
    ),
    d(
        "cgroup/connect6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET6_CONNECT,
        0,
    ),
    d(
        "cgroup/connect_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_CONNECT,
        0,
    ),
    d(
        "cgroup/sendmsg4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UDP4_SENDMSG,
        0,
    ),
    d(
        "cgroup/sendmsg6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UDP6_SENDMSG,
        0,
    ),
    d(
        "cgroup/sendmsg_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_SENDMSG,
        0,
    ),
    d(
        "cgroup/recvmsg4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UDP4_RECVMSG,
        0,
    ),
    d(
        "cgroup/recvmsg6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UDP6_RECVMSG,
        0,
    ),
    d(
        "cgroup/recvmsg_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_RECVMSG,
        0,
    ),
    d(
        "cgroup/getpeername4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET4_GETPEERNAME,
        0,
    ),
    d(
        "cgroup/getpeername6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET6_GETPEERNAME,
        0,
    ),
    d(
        "cgroup/getpeername_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_GETPEERNAME,
        0,
    ),
    d(
        "cgroup/getsockname4",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET4_GETSOCKNAME,
        0,
    ),
    d(
        "cgroup/getsockname6",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_INET6_GETSOCKNAME,
        0,
    ),
    d(
        "cgroup/getsockname_unix",
        pt::CGROUP_SOCK_ADDR,
        at::CGROUP_UNIX_GETSOCKNAME,
        0,
    ),
    d("cgroup/sysctl", pt::CGROUP_SYSCTL, at::CGROUP_SYSCTL, 0),
    d(
        "cgroup/getsockopt",
        pt::CGROUP_SOCKOPT,
        at::CGROUP_GETSOCKOPT,
        0,
    ),
    d(
        "cgroup/setsockopt",
        pt::CGROUP_SOCKOPT,
        at::CGROUP_SETSOCKOPT,
        0,
    ),
    d("cgroup/dev", pt::CGROUP_DEVICE, at::CGROUP_DEVICE, 0),
    d("struct_ops+", pt::STRUCT_OPS, at::NONE, 0),
    d("struct_ops.s+", pt::STRUCT_OPS, at::NONE, F_SLEEPABLE),
    d("sk_lookup", pt::SK_LOOKUP, at::SK_LOOKUP, 0),
    d("netfilter", pt::NETFILTER, at::NETFILTER, 0),
];

/// The entry for section name `name` (`find_sec_def`), or [`LoadError::UnknownSection`].
pub fn find(name: &str) -> Result<&'static SecDef, LoadError> {
    let name = name.strip_prefix('?').unwrap_or(name);
    SECTION_DEFS
        .iter()
        .find(|d| d.matches(name))
        .ok_or_else(|| LoadError::UnknownSection(name.to_owned()))
}

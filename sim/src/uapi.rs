//! The kernel's user-space ABI for bpf(): command numbers, object types, flags, and the byte
//! layout of `union bpf_attr`, `struct bpf_map_info` and `struct bpf_prog_info` as Linux 6.18
//! defines them (`include/uapi/linux/bpf.h`). Offsets are written out so the decoder reads the
//! same bytes the kernel does.

/// `enum bpf_cmd` values.
#[allow(missing_docs)]
pub mod cmd {
    pub const MAP_CREATE: u32 = 0;
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const MAP_GET_NEXT_KEY: u32 = 4;
    pub const PROG_LOAD: u32 = 5;
    pub const OBJ_PIN: u32 = 6;
    pub const OBJ_GET: u32 = 7;
    pub const PROG_ATTACH: u32 = 8;
    pub const PROG_DETACH: u32 = 9;
    pub const PROG_TEST_RUN: u32 = 10;
    pub const PROG_GET_NEXT_ID: u32 = 11;
    pub const MAP_GET_NEXT_ID: u32 = 12;
    pub const PROG_GET_FD_BY_ID: u32 = 13;
    pub const MAP_GET_FD_BY_ID: u32 = 14;
    pub const OBJ_GET_INFO_BY_FD: u32 = 15;
    pub const PROG_QUERY: u32 = 16;
    pub const RAW_TRACEPOINT_OPEN: u32 = 17;
    pub const BTF_LOAD: u32 = 18;
    pub const BTF_GET_FD_BY_ID: u32 = 19;
    pub const TASK_FD_QUERY: u32 = 20;
    pub const MAP_LOOKUP_AND_DELETE_ELEM: u32 = 21;
    pub const MAP_FREEZE: u32 = 22;
    pub const BTF_GET_NEXT_ID: u32 = 23;
    pub const MAP_LOOKUP_BATCH: u32 = 24;
    pub const MAP_LOOKUP_AND_DELETE_BATCH: u32 = 25;
    pub const MAP_UPDATE_BATCH: u32 = 26;
    pub const MAP_DELETE_BATCH: u32 = 27;
    pub const LINK_CREATE: u32 = 28;
    pub const LINK_UPDATE: u32 = 29;
    pub const LINK_GET_FD_BY_ID: u32 = 30;
    pub const LINK_GET_NEXT_ID: u32 = 31;
    pub const ENABLE_STATS: u32 = 32;
    pub const ITER_CREATE: u32 = 33;
    pub const LINK_DETACH: u32 = 34;
    pub const PROG_BIND_MAP: u32 = 35;
    pub const TOKEN_CREATE: u32 = 36;
    pub const PROG_STREAM_READ_BY_FD: u32 = 37;

    /// The symbolic name strace prints (`"BPF_MAP_CREATE"`), `None` for an unknown number.
    pub fn name(cmd: u32) -> Option<&'static str> {
        const NAMES: [&str; 38] = [
            "BPF_MAP_CREATE",
            "BPF_MAP_LOOKUP_ELEM",
            "BPF_MAP_UPDATE_ELEM",
            "BPF_MAP_DELETE_ELEM",
            "BPF_MAP_GET_NEXT_KEY",
            "BPF_PROG_LOAD",
            "BPF_OBJ_PIN",
            "BPF_OBJ_GET",
            "BPF_PROG_ATTACH",
            "BPF_PROG_DETACH",
            "BPF_PROG_TEST_RUN",
            "BPF_PROG_GET_NEXT_ID",
            "BPF_MAP_GET_NEXT_ID",
            "BPF_PROG_GET_FD_BY_ID",
            "BPF_MAP_GET_FD_BY_ID",
            "BPF_OBJ_GET_INFO_BY_FD",
            "BPF_PROG_QUERY",
            "BPF_RAW_TRACEPOINT_OPEN",
            "BPF_BTF_LOAD",
            "BPF_BTF_GET_FD_BY_ID",
            "BPF_TASK_FD_QUERY",
            "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
            "BPF_MAP_FREEZE",
            "BPF_BTF_GET_NEXT_ID",
            "BPF_MAP_LOOKUP_BATCH",
            "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
            "BPF_MAP_UPDATE_BATCH",
            "BPF_MAP_DELETE_BATCH",
            "BPF_LINK_CREATE",
            "BPF_LINK_UPDATE",
            "BPF_LINK_GET_FD_BY_ID",
            "BPF_LINK_GET_NEXT_ID",
            "BPF_ENABLE_STATS",
            "BPF_ITER_CREATE",
            "BPF_LINK_DETACH",
            "BPF_PROG_BIND_MAP",
            "BPF_TOKEN_CREATE",
            "BPF_PROG_STREAM_READ_BY_FD",
        ];
        NAMES.get(cmd as usize).copied()
    }
}

/// `enum bpf_map_type` values (the ones this model implements, and the range the kernel knows).
#[allow(missing_docs)]
pub mod map_type {
    pub const UNSPEC: u32 = 0;
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PROG_ARRAY: u32 = 3;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const STACK_TRACE: u32 = 7;
    pub const CGROUP_ARRAY: u32 = 8;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const LPM_TRIE: u32 = 11;
    pub const ARRAY_OF_MAPS: u32 = 12;
    pub const HASH_OF_MAPS: u32 = 13;
    pub const DEVMAP: u32 = 14;
    pub const SOCKMAP: u32 = 15;
    pub const CPUMAP: u32 = 16;
    pub const XSKMAP: u32 = 17;
    pub const SOCKHASH: u32 = 18;
    pub const QUEUE: u32 = 22;
    pub const STACK: u32 = 23;
    pub const RINGBUF: u32 = 27;
    /// `__MAX_BPF_MAP_TYPE` on 6.18: types at or above it are `EINVAL`.
    pub const MAX: u32 = 34;

    /// bpftool's name for a map type (`"array"`), `None` when unknown.
    pub fn name(t: u32) -> Option<&'static str> {
        const NAMES: [&str; 34] = [
            "unspec",
            "hash",
            "array",
            "prog_array",
            "perf_event_array",
            "percpu_hash",
            "percpu_array",
            "stack_trace",
            "cgroup_array",
            "lru_hash",
            "lru_percpu_hash",
            "lpm_trie",
            "array_of_maps",
            "hash_of_maps",
            "devmap",
            "sockmap",
            "cpumap",
            "xskmap",
            "sockhash",
            "cgroup_storage",
            "reuseport_sockarray",
            "percpu_cgroup_storage",
            "queue",
            "stack",
            "sk_storage",
            "devmap_hash",
            "struct_ops",
            "ringbuf",
            "inode_storage",
            "task_storage",
            "bloom_filter",
            "user_ringbuf",
            "cgrp_storage",
            "arena",
        ];
        NAMES.get(t as usize).copied()
    }
}

/// `enum bpf_prog_type` values.
#[allow(missing_docs)]
pub mod prog_type {
    pub const UNSPEC: u32 = 0;
    pub const SOCKET_FILTER: u32 = 1;
    pub const KPROBE: u32 = 2;
    pub const SCHED_CLS: u32 = 3;
    pub const SCHED_ACT: u32 = 4;
    pub const TRACEPOINT: u32 = 5;
    pub const XDP: u32 = 6;
    pub const PERF_EVENT: u32 = 7;
    pub const CGROUP_SKB: u32 = 8;
    pub const CGROUP_SOCK: u32 = 9;
    pub const LWT_IN: u32 = 10;
    pub const LWT_OUT: u32 = 11;
    pub const LWT_XMIT: u32 = 12;
    pub const SOCK_OPS: u32 = 13;
    pub const SK_SKB: u32 = 14;
    pub const CGROUP_DEVICE: u32 = 15;
    pub const SK_MSG: u32 = 16;
    pub const RAW_TRACEPOINT: u32 = 17;
    pub const CGROUP_SOCK_ADDR: u32 = 18;
    pub const LWT_SEG6LOCAL: u32 = 19;
    pub const LIRC_MODE2: u32 = 20;
    pub const SK_REUSEPORT: u32 = 21;
    pub const FLOW_DISSECTOR: u32 = 22;
    pub const CGROUP_SYSCTL: u32 = 23;
    pub const RAW_TRACEPOINT_WRITABLE: u32 = 24;
    pub const CGROUP_SOCKOPT: u32 = 25;
    pub const TRACING: u32 = 26;
    pub const STRUCT_OPS: u32 = 27;
    pub const EXT: u32 = 28;
    pub const LSM: u32 = 29;
    pub const SK_LOOKUP: u32 = 30;
    pub const SYSCALL: u32 = 31;
    pub const NETFILTER: u32 = 32;
    /// `__MAX_BPF_PROG_TYPE` on 6.18.
    pub const MAX: u32 = 33;

    /// bpftool's name for a program type (`"sock_ops"`), `None` when unknown.
    pub fn name(t: u32) -> Option<&'static str> {
        const NAMES: [&str; 33] = [
            "unspec",
            "socket_filter",
            "kprobe",
            "sched_cls",
            "sched_act",
            "tracepoint",
            "xdp",
            "perf_event",
            "cgroup_skb",
            "cgroup_sock",
            "lwt_in",
            "lwt_out",
            "lwt_xmit",
            "sock_ops",
            "sk_skb",
            "cgroup_device",
            "sk_msg",
            "raw_tracepoint",
            "cgroup_sock_addr",
            "lwt_seg6local",
            "lirc_mode2",
            "sk_reuseport",
            "flow_dissector",
            "cgroup_sysctl",
            "raw_tracepoint_writable",
            "cgroup_sockopt",
            "tracing",
            "struct_ops",
            "ext",
            "lsm",
            "sk_lookup",
            "syscall",
            "netfilter",
        ];
        NAMES.get(t as usize).copied()
    }
}

/// Flags of `map_flags`, element updates, fd access and pinning.
#[allow(missing_docs)]
pub mod flags {
    pub const BPF_ANY: u64 = 0;
    pub const BPF_NOEXIST: u64 = 1;
    pub const BPF_EXIST: u64 = 2;
    pub const BPF_F_LOCK: u64 = 4;

    pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
    pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
    pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
    pub const BPF_F_RDONLY: u32 = 1 << 3;
    pub const BPF_F_WRONLY: u32 = 1 << 4;
    pub const BPF_F_STACK_BUILD_ID: u32 = 1 << 5;
    pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
    pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
    pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
    pub const BPF_F_CLONE: u32 = 1 << 9;
    pub const BPF_F_MMAPABLE: u32 = 1 << 10;
    pub const BPF_F_PRESERVE_ELEMS: u32 = 1 << 11;
    pub const BPF_F_INNER_MAP: u32 = 1 << 12;
    pub const BPF_F_LINK: u32 = 1 << 13;
    pub const BPF_F_PATH_FD: u32 = 1 << 14;
    pub const BPF_F_VTYPE_BTF_OBJ_FD: u32 = 1 << 15;
    pub const BPF_F_TOKEN_FD: u32 = 1 << 16;
    pub const BPF_F_SEGV_ON_FAULT: u32 = 1 << 17;
    pub const BPF_F_NO_USER_CONV: u32 = 1 << 18;

    /// `BPF_F_ACCESS_MASK`: the fd access-mode flags of a map.
    pub const BPF_F_ACCESS_MASK: u32 = BPF_F_RDONLY | BPF_F_WRONLY;

    // prog_flags
    pub const BPF_F_STRICT_ALIGNMENT: u32 = 1 << 0;
    pub const BPF_F_ANY_ALIGNMENT: u32 = 1 << 1;
    pub const BPF_F_TEST_RND_HI32: u32 = 1 << 2;
    pub const BPF_F_TEST_STATE_FREQ: u32 = 1 << 3;
    pub const BPF_F_SLEEPABLE: u32 = 1 << 4;
    pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;
    pub const BPF_F_XDP_DEV_BOUND_ONLY: u32 = 1 << 6;
    pub const BPF_F_TEST_REG_INVARIANTS: u32 = 1 << 7;
}

/// Pseudo `src_reg` values of `BPF_LD | BPF_IMM | BPF_DW` (ld_imm64).
#[allow(missing_docs)]
pub mod pseudo {
    pub const MAP_FD: u8 = 1;
    pub const MAP_VALUE: u8 = 2;
    pub const BTF_ID: u8 = 3;
    pub const FUNC: u8 = 4;
    pub const MAP_IDX: u8 = 5;
    pub const MAP_IDX_VALUE: u8 = 6;
    /// `src_reg` of a `BPF_CALL` to a bpf-to-bpf subprogram.
    pub const CALL: u8 = 1;
    /// `src_reg` of a `BPF_CALL` to a kfunc.
    pub const KFUNC_CALL: u8 = 2;
}

/// Sizes and limits.
pub mod limits {
    /// `sizeof(union bpf_attr)` on 6.18.
    pub const ATTR_SIZE: usize = 168;
    /// `PAGE_SIZE`: the largest `size` bpf() accepts.
    pub const PAGE_SIZE: usize = 4096;
    /// `BPF_OBJ_NAME_LEN`.
    pub const OBJ_NAME_LEN: usize = 16;
    /// `BPF_COMPLEXITY_LIMIT_INSNS`: the most instructions a privileged load may submit.
    pub const MAX_INSNS_PRIV: u32 = 1_000_000;
    /// `BPF_MAXINSNS`: the most instructions an unprivileged load may submit.
    pub const MAX_INSNS_UNPRIV: u32 = 4096;
    /// `MAX_USED_MAPS`.
    pub const MAX_USED_MAPS: usize = 64;
    /// `INT_MAX`: ids are allocated in `[1, INT_MAX)`.
    pub const ID_END: u32 = i32::MAX as u32;
    /// `PATH_MAX`.
    pub const PATH_MAX: usize = 4096;
    /// `NAME_MAX`: the longest path component.
    pub const NAME_MAX: usize = 255;
}

/// Linux capability numbers (`include/uapi/linux/capability.h`).
#[allow(missing_docs)]
pub mod cap {
    pub const CHOWN: u32 = 0;
    pub const FSETID: u32 = 4;
    pub const DAC_OVERRIDE: u32 = 1;
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const FOWNER: u32 = 3;
    pub const NET_ADMIN: u32 = 12;
    pub const SYS_ADMIN: u32 = 21;
    pub const PERFMON: u32 = 38;
    pub const BPF: u32 = 39;
}

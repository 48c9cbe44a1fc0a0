//! `struct bpf_map_info` / `struct bpf_prog_info` as bpftool reads them, decoded from the
//! bytes `BPF_OBJ_GET_INFO_BY_FD` wrote, plus what bpftool reads from `/proc/PID/fdinfo/FD`
//! (`memlock`, `frozen`, `owner_prog_type`, `owner_jited`).

use sim::maps::info::{map_info as mi, prog_info as pi};
use sim::uapi::map_type;
use sim::{Kernel, maps::MapData};

/// A decoded info struct.
#[derive(Clone, Debug)]
pub enum Info {
    /// `bpf_map_info`.
    Map(MapInfo),
    /// `bpf_prog_info` with its map ids and translated instructions.
    Prog(ProgInfo),
}

/// The `bpf_map_info` fields bpftool prints.
#[derive(Clone, Debug, Default)]
pub struct MapInfo {
    /// `type`.
    pub map_type: u32,
    /// `id`.
    pub id: u32,
    /// `key_size`.
    pub key_size: u32,
    /// `value_size`.
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags`.
    pub flags: u32,
    /// `name`.
    pub name: String,
    /// `btf_id` (0: none).
    pub btf_id: u32,
    /// `btf_key_type_id` (0: none).
    pub btf_key_type_id: u32,
    /// `btf_value_type_id` (0: none; bpftool formats values only with one).
    pub btf_value_type_id: u32,
    /// `btf_vmlinux_value_type_id` (struct_ops maps; 0 for every map the model creates).
    pub btf_vmlinux_value_type_id: u32,
}

/// The `bpf_prog_info` fields bpftool prints.
#[derive(Clone, Debug, Default)]
pub struct ProgInfo {
    /// `type`.
    pub prog_type: u32,
    /// `id`.
    pub id: u32,
    /// `tag`.
    pub tag: [u8; 8],
    /// `jited_prog_len` (0: not jited; the model does not JIT).
    pub jited_len: u32,
    /// `xlated_prog_len`.
    pub xlated_len: u32,
    /// `load_time`, ns since boot.
    pub load_time: u64,
    /// `created_by_uid`.
    pub uid: u32,
    /// `name`.
    pub name: String,
    /// `gpl_compatible`.
    pub gpl: bool,
    /// `btf_id` (0: none).
    pub btf_id: u32,
    /// `map_ids`.
    pub map_ids: Vec<u32>,
    /// `xlated_prog_insns`.
    pub xlated: Vec<u8>,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

fn name_at(b: &[u8], off: usize) -> String {
    let s = b.get(off..off + 16).unwrap_or(&[]);
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

impl Info {
    /// Decodes the info bytes (a map's are shorter than a program's).
    pub fn decode(info: &[u8], map_ids: Vec<u32>, xlated: Vec<u8>) -> Info {
        if info.len() < sim::maps::info::PROG_INFO_SIZE {
            return Info::Map(MapInfo {
                map_type: u32_at(info, mi::TYPE),
                id: u32_at(info, mi::ID),
                key_size: u32_at(info, mi::KEY_SIZE),
                value_size: u32_at(info, mi::VALUE_SIZE),
                max_entries: u32_at(info, mi::MAX_ENTRIES),
                flags: u32_at(info, mi::MAP_FLAGS),
                name: name_at(info, mi::NAME),
                btf_id: u32_at(info, mi::BTF_ID),
                btf_key_type_id: u32_at(info, mi::BTF_KEY_TYPE_ID),
                btf_value_type_id: u32_at(info, mi::BTF_VALUE_TYPE_ID),
                btf_vmlinux_value_type_id: u32_at(info, mi::BTF_VMLINUX_VALUE_TYPE_ID),
            });
        }
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&info[pi::TAG..pi::TAG + 8]);
        Info::Prog(ProgInfo {
            prog_type: u32_at(info, pi::TYPE),
            id: u32_at(info, pi::ID),
            tag,
            jited_len: u32_at(info, pi::JITED_PROG_LEN),
            xlated_len: u32_at(info, pi::XLATED_PROG_LEN),
            load_time: u64_at(info, pi::LOAD_TIME),
            uid: u32_at(info, pi::CREATED_BY_UID),
            name: name_at(info, pi::NAME),
            gpl: u32_at(info, pi::GPL_COMPATIBLE) & 1 != 0,
            btf_id: u32_at(info, pi::BTF_ID),
            map_ids,
            xlated,
        })
    }
}

/// `PAGE_SIZE`.
const PAGE: u64 = 4096;
/// `sizeof(struct bpf_array)`: where an array's values start (the verifier's `r1 += 312`).
const BPF_ARRAY_SIZE: u64 = 312;
/// `sizeof(struct bpf_htab)` on 6.18 x86_64 (fits the spec's `memlock 6160B` for a 64-entry
/// hash with 4-byte keys and 8-byte values on 2 CPUs).
const BPF_HTAB_SIZE: u64 = 832;
/// `sizeof(struct bucket)`.
const BUCKET_SIZE: u64 = 16;
/// `sizeof(struct htab_elem)` without key and value.
const HTAB_ELEM_SIZE: u64 = 48;
/// `HASHTAB_MAP_LOCK_COUNT`.
const HTAB_LOCKS: u64 = 8;
/// `num_possible_cpus()` of the modeled machine (the spec's VM has 2 vCPUs).
pub const POSSIBLE_CPUS: u64 = 2;
/// `sizeof(struct bpf_prog)` up to `insns[]`.
const BPF_PROG_HDR: u64 = 72;

fn page_align(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

/// What `/proc/PID/fdinfo/FD` of a map says, as far as bpftool reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapFdinfo {
    /// `memlock`: `bpf_map_memory_usage()`.
    pub memlock: u64,
    /// `frozen`.
    pub frozen: bool,
    /// `owner_prog_type` and `owner_jited`, for a prog_array whose owner is set.
    pub owner: Option<(u32, bool)>,
}

/// The fdinfo of map `id` (`bpf_map_show_fdinfo`), `None` if no map has the id.
pub fn map_fdinfo(k: &Kernel, id: u32) -> Option<MapFdinfo> {
    let m = k.map(k.map_by_id(id)?)?;
    let entries = u64::from(m.max_entries);
    let memlock = match m.map_type {
        // array_map_mem_usage: the header, then max_entries 8-aligned values (page-aligned
        // both when mmapable); fd arrays share it.
        map_type::ARRAY
        | map_type::PROG_ARRAY
        | map_type::ARRAY_OF_MAPS
        | map_type::PERF_EVENT_ARRAY
        | map_type::CGROUP_ARRAY => {
            let elem = u64::from(m.value_size).div_ceil(8) * 8;
            if m.map_flags & sim::uapi::flags::BPF_F_MMAPABLE != 0 {
                page_align(BPF_ARRAY_SIZE) + page_align(entries * elem)
            } else {
                BPF_ARRAY_SIZE + entries * elem
            }
        }
        // htab_map_mem_usage, preallocated, not per-CPU, not LRU: buckets, per-CPU locks,
        // max_entries + one extra element per CPU, one extra-element pointer per CPU.
        _ => {
            let buckets = entries.next_power_of_two();
            let elem = HTAB_ELEM_SIZE
                + u64::from(m.key_size).div_ceil(8) * 8
                + u64::from(m.value_size).div_ceil(8) * 8;
            let prealloc = m.map_flags & sim::uapi::flags::BPF_F_NO_PREALLOC == 0;
            let mut n = BPF_HTAB_SIZE + BUCKET_SIZE * buckets + 4 * POSSIBLE_CPUS * HTAB_LOCKS;
            if prealloc {
                n += elem * (entries + POSSIBLE_CPUS) + 8 * POSSIBLE_CPUS;
            } else {
                n += elem * count_elems(&m.data);
            }
            n
        }
    };
    let owner = match &m.data {
        MapData::ProgArray { owner: Some(o), .. } => Some((o.prog_type, false)),
        _ => None,
    };
    Some(MapFdinfo {
        memlock,
        frozen: m.frozen,
        owner,
    })
}

fn count_elems(d: &MapData) -> u64 {
    match d {
        MapData::Hash { table } => table.len() as u64,
        _ => 0,
    }
}

/// The fdinfo `memlock` of a program: its pages (`bpf_prog_size()` of its translated length,
/// rounded up to pages).
pub fn prog_memlock(xlated_len: u32) -> u64 {
    page_align(BPF_PROG_HDR + u64::from(xlated_len))
}

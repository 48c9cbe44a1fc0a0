//! Maps: the object (`struct bpf_map`), the types this model implements, their creation checks
//! and their element operations.
//!
//! Modeled types: `HASH`, `ARRAY`, `PROG_ARRAY`, `ARRAY_OF_MAPS`, `HASH_OF_MAPS`. Every other
//! type the kernel knows is refused with `EOPNOTSUPP` and a "not modeled" reason (the kernel
//! would create it); unknown types are `EINVAL` as in the kernel.

pub mod create;
pub mod htab;
pub mod info;
pub mod jhash;
mod ops;

use crate::object::{MapIdx, ObjRef, ProgIdx};
use crate::task::Pid;
use htab::HashTable;

/// The metadata an outer map keeps of its `inner_map_fd` template (`bpf_map_meta_alloc`,
/// `kernel/bpf/map_in_map.c`): the template map itself is not held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InnerMeta {
    /// `map_type` of the template.
    pub map_type: u32,
    /// `key_size`.
    pub key_size: u32,
    /// `value_size`.
    pub value_size: u32,
    /// `max_entries` (compared for arrays unless `BPF_F_INNER_MAP`).
    pub max_entries: u32,
    /// `map_flags`.
    pub map_flags: u32,
}

/// Which programs a prog_array may hold (`map->owner`, set by the first program inserted or
/// loaded with a reference to the map; `__bpf_prog_map_compatible`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgOwner {
    /// The owner's program type.
    pub prog_type: u32,
    /// The owner's expected attach type.
    pub expected_attach_type: u32,
    /// `BPF_F_XDP_HAS_FRAGS` of the owner.
    pub xdp_has_frags: bool,
}

/// The contents of a map, by type.
#[derive(Clone, Debug)]
pub enum MapData {
    /// `BPF_MAP_TYPE_ARRAY`: `max_entries` values, zero-initialized, stored back to back.
    Array {
        /// The values.
        values: Vec<u8>,
    },
    /// `BPF_MAP_TYPE_HASH`.
    Hash {
        /// The elements, in the kernel's bucket order.
        table: HashTable<Box<[u8]>>,
    },
    /// `BPF_MAP_TYPE_PROG_ARRAY`: slots hold program references.
    ProgArray {
        /// The slots.
        slots: Vec<Option<ProgIdx>>,
        /// The program type every member must have, once known.
        owner: Option<ProgOwner>,
        /// `prog_array_map_clear`'s work item is queued.
        clear_pending: bool,
    },
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`: slots hold inner-map references.
    ArrayOfMaps {
        /// The slots.
        slots: Vec<Option<MapIdx>>,
        /// What an inner map must look like.
        inner: InnerMeta,
    },
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`: values are inner-map references.
    HashOfMaps {
        /// The elements.
        table: HashTable<MapIdx>,
        /// What an inner map must look like.
        inner: InnerMeta,
    },
}

impl MapData {
    /// Whether the map holds references to other objects (its free is then deferred work).
    pub fn holds_objects(&self) -> bool {
        match self {
            MapData::Array { .. } | MapData::Hash { .. } => false,
            MapData::ProgArray { slots, .. } => slots.iter().any(Option::is_some),
            MapData::ArrayOfMaps { slots, .. } => slots.iter().any(Option::is_some),
            MapData::HashOfMaps { table, .. } => !table.is_empty(),
        }
    }

    /// Every object the map holds, with its slot (array index, or position in hash order).
    pub fn held(&self) -> Vec<(u32, ObjRef)> {
        match self {
            MapData::Array { .. } | MapData::Hash { .. } => Vec::new(),
            MapData::ProgArray { slots, .. } => slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|p| (i as u32, ObjRef::Prog(p))))
                .collect(),
            MapData::ArrayOfMaps { slots, .. } => slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|m| (i as u32, ObjRef::Map(m))))
                .collect(),
            MapData::HashOfMaps { table, .. } => table
                .iter()
                .enumerate()
                .map(|(i, (_, &m))| (i as u32, ObjRef::Map(m)))
                .collect(),
        }
    }

    /// Empty the map of the objects it holds (`ops->map_free`), returning them.
    pub fn take_held(&mut self) -> Vec<(u32, ObjRef)> {
        let held = self.held();
        match self {
            MapData::Array { .. } | MapData::Hash { .. } => {}
            MapData::ProgArray { slots, .. } => slots.iter_mut().for_each(|s| *s = None),
            MapData::ArrayOfMaps { slots, .. } => slots.iter_mut().for_each(|s| *s = None),
            MapData::HashOfMaps { table, .. } => drop(table.clear()),
        }
        held
    }
}

/// A map (`struct bpf_map`).
#[derive(Clone, Debug)]
pub struct Map {
    /// Creation serial number: which object this is, even after its id is gone.
    pub serial: u64,
    /// Its id; 0 once removed from the id space.
    pub id: u32,
    /// `refcnt`: every holder.
    pub refcnt: u64,
    /// `usercnt`: fds and pins.
    pub usercnt: u64,
    /// `map_type`.
    pub map_type: u32,
    /// `key_size`.
    pub key_size: u32,
    /// `value_size`.
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags` as stored (without `BPF_F_RDONLY`/`BPF_F_WRONLY`).
    pub map_flags: u32,
    /// `map_extra`.
    pub map_extra: u64,
    /// `name`, NUL-padded.
    pub name: [u8; 16],
    /// `BPF_MAP_FREEZE` was called.
    pub frozen: bool,
    /// The contents.
    pub data: MapData,
    /// References taken by the kernel's prog_array clear race and never dropped.
    pub leaked_refs: u64,
    /// `map->btf`: the BTF object it holds a reference on (MAP_CREATE with BTF type ids).
    pub btf: Option<crate::kernel::btf::BtfIdx>,
    /// `btf_key_type_id`.
    pub btf_key_type_id: u32,
    /// `btf_value_type_id`.
    pub btf_value_type_id: u32,
    /// `btf_vmlinux_value_type_id`.
    pub btf_vmlinux_value_type_id: u32,
    /// The process that created it.
    pub created_by: Pid,
    /// The bpf() call number that created it.
    pub created_at: u64,
}

impl Map {
    /// The name as text (bytes before the first NUL; Latin-1 bytes as their code points).
    pub fn name_str(&self) -> String {
        name_to_string(&self.name)
    }
}

/// A NUL-padded object name as text.
pub fn name_to_string(name: &[u8; 16]) -> String {
    name.iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect()
}

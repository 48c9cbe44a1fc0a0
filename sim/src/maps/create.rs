//! `BPF_MAP_CREATE` (`kernel/bpf/syscall.c map_create`), with each type's `map_alloc_check` and
//! `map_alloc` sizing rules.

use super::{InnerMeta, Map, MapData, ProgOwner, htab::HashTable};
use crate::attr::{Attr, off::map_create as o};
use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::object::{EventKind, MapIdx, ObjRef};
use crate::task::{Cred, FileObj, Pid};
use crate::uapi::{cap, flags::*, map_type as mt};

/// `BPF_F_ACCESS_MASK` as map creation uses it (fd access + program access flags).
const CREATE_ACCESS_MASK: u32 = BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
/// `ARRAY_CREATE_FLAG_MASK` (`kernel/bpf/arraymap.c`).
const ARRAY_CREATE_FLAG_MASK: u32 =
    BPF_F_NUMA_NODE | BPF_F_MMAPABLE | CREATE_ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
/// `HTAB_CREATE_FLAG_MASK` (`kernel/bpf/hashtab.c`).
const HTAB_CREATE_FLAG_MASK: u32 = BPF_F_NO_PREALLOC
    | BPF_F_NO_COMMON_LRU
    | BPF_F_NUMA_NODE
    | CREATE_ACCESS_MASK
    | BPF_F_ZERO_SEED;
/// `KMALLOC_MAX_SIZE` on x86_64 (4 MiB).
const KMALLOC_MAX_SIZE: u64 = 4 << 20;
/// `sizeof(struct htab_elem)` on x86_64 (measured: key + value must stay below 4194256).
const HTAB_ELEM_SIZE: u64 = 48;
/// `sizeof(struct bucket)`: `n_buckets` above `U32_MAX / 16` is `E2BIG`.
const BUCKET_SIZE: u64 = 16;

/// The parameters of a `BPF_MAP_CREATE` call, decoded from the attr.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapCreateAttr {
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
    /// `inner_map_fd` (map-in-map templates).
    pub inner_map_fd: u32,
    /// `numa_node` (looked at only with `BPF_F_NUMA_NODE`).
    pub numa_node: u32,
    /// `map_name`, 16 bytes as submitted.
    pub map_name: [u8; 16],
    /// `map_extra`.
    pub map_extra: u64,
    /// `btf_fd`.
    pub btf_fd: u32,
    /// `btf_key_type_id`.
    pub btf_key_type_id: u32,
    /// `btf_value_type_id`.
    pub btf_value_type_id: u32,
    /// `btf_vmlinux_value_type_id`.
    pub btf_vmlinux_value_type_id: u32,
}

impl MapCreateAttr {
    /// A map of `map_type` with these sizes, no flags, no name.
    pub fn new(map_type: u32, key_size: u32, value_size: u32, max_entries: u32) -> Self {
        MapCreateAttr {
            map_type,
            key_size,
            value_size,
            max_entries,
            ..Default::default()
        }
    }

    /// The same with `name` copied into `map_name` (at most 16 bytes, no terminator added).
    pub fn name(mut self, name: &str) -> Self {
        self.map_name = [0; 16];
        let n = name.len().min(16);
        self.map_name[..n].copy_from_slice(&name.as_bytes()[..n]);
        self
    }

    /// The same with `map_flags`.
    pub fn flags(mut self, flags: u32) -> Self {
        self.map_flags = flags;
        self
    }

    /// The same with `inner_map_fd`.
    pub fn inner(mut self, fd: i32) -> Self {
        self.inner_map_fd = fd as u32;
        self
    }

    pub(crate) fn decode(a: &Attr) -> Self {
        MapCreateAttr {
            map_type: a.u32(o::MAP_TYPE),
            key_size: a.u32(o::KEY_SIZE),
            value_size: a.u32(o::VALUE_SIZE),
            max_entries: a.u32(o::MAX_ENTRIES),
            map_flags: a.u32(o::MAP_FLAGS),
            inner_map_fd: a.u32(o::INNER_MAP_FD),
            numa_node: a.u32(o::NUMA_NODE),
            map_name: a.name(o::MAP_NAME),
            map_extra: a.u64(o::MAP_EXTRA),
            btf_fd: a.u32(o::BTF_FD),
            btf_key_type_id: a.u32(o::BTF_KEY_TYPE_ID),
            btf_value_type_id: a.u32(o::BTF_VALUE_TYPE_ID),
            btf_vmlinux_value_type_id: a.u32(o::BTF_VMLINUX_VALUE_TYPE_ID),
        }
    }

    /// Encode into attr bytes.
    pub fn encode(&self) -> crate::attr::AttrBuf {
        crate::attr::AttrBuf::default()
            .u32(o::MAP_TYPE, self.map_type)
            .u32(o::KEY_SIZE, self.key_size)
            .u32(o::VALUE_SIZE, self.value_size)
            .u32(o::MAX_ENTRIES, self.max_entries)
            .u32(o::MAP_FLAGS, self.map_flags)
            .u32(o::INNER_MAP_FD, self.inner_map_fd)
            .u32(o::NUMA_NODE, self.numa_node)
            .bytes(o::MAP_NAME, &self.map_name)
            .u64(o::MAP_EXTRA, self.map_extra)
            .u32(o::BTF_FD, self.btf_fd)
            .u32(o::BTF_KEY_TYPE_ID, self.btf_key_type_id)
            .u32(o::BTF_VALUE_TYPE_ID, self.btf_value_type_id)
            .u32(o::BTF_VMLINUX_VALUE_TYPE_ID, self.btf_vmlinux_value_type_id)
    }
}

/// `isalnum()` of the kernel's Latin-1 ctype table (`lib/ctype.c`).
fn kernel_isalnum(b: u8) -> bool {
    b.is_ascii_alphanumeric() || (0xC0..=0xFF).contains(&b) && b != 0xD7 && b != 0xF7
}

/// `bpf_obj_name_cpy()`: the name up to the first NUL, every byte `isalnum`, `_` or `.`; no
/// NUL within the 16 bytes is `EINVAL`. Returns the stored (NUL-padded) name.
pub fn obj_name_cpy(src: &[u8; 16]) -> SysResult<[u8; 16]> {
    let mut dst = [0u8; 16];
    for (i, &b) in src.iter().enumerate() {
        if b == 0 {
            return Ok(dst);
        }
        if !kernel_isalnum(b) && b != b'_' && b != b'.' {
            return Err(Errno::EINVAL);
        }
        dst[i] = b;
    }
    Err(Errno::EINVAL)
}

/// `bpf_map_flags_access_ok()`: not both `BPF_F_RDONLY_PROG` and `BPF_F_WRONLY_PROG`.
fn flags_access_ok(flags: u32) -> bool {
    flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)
}

/// `bpf_get_file_flag()`: the fd access mode of `BPF_F_RDONLY`/`BPF_F_WRONLY` as (read, write).
pub(crate) fn file_mode(flags: u32) -> SysResult<(bool, bool)> {
    match (flags & BPF_F_RDONLY != 0, flags & BPF_F_WRONLY != 0) {
        (true, true) => Err(Errno::EINVAL),
        (true, false) => Ok((true, false)),
        (false, true) => Ok((false, true)),
        (false, false) => Ok((true, true)),
    }
}

fn round_up8(v: u64) -> u64 {
    v.div_ceil(8) * 8
}

impl Kernel {
    /// `BPF_MAP_CREATE`: check, allocate, name, id, fd (`map_create`). A failed create
    /// consumes no id.
    pub(crate) fn sys_map_create(&mut self, pid: Pid, attr: &Attr) -> SysResult<i64> {
        attr.check_unused(o::END)?;
        let a = MapCreateAttr::decode(attr);
        let cred = self.proc(pid)?.cred;
        let mut flags = a.map_flags & !BPF_F_TOKEN_FD;
        if a.map_flags & BPF_F_TOKEN_FD != 0 {
            return self.fail(Errno::EINVAL, "BPF tokens are not modeled");
        }
        let (btf_key, btf_value) = (attr.u32(o::BTF_KEY_TYPE_ID), attr.u32(o::BTF_VALUE_TYPE_ID));
        if attr.u32(o::BTF_VMLINUX_VALUE_TYPE_ID) != 0 {
            if a.map_type != 26 || btf_key != 0 || btf_value != 0 {
                return Err(Errno::EINVAL);
            }
        } else if btf_key != 0 && btf_value == 0 {
            return Err(Errno::EINVAL);
        }
        if a.map_type != 30 && a.map_type != 33 && a.map_extra != 0 {
            return Err(Errno::EINVAL);
        }
        let (read, write) = file_mode(flags)?;
        if flags & BPF_F_NUMA_NODE != 0 && a.numa_node != 0 {
            return self.fail(Errno::EINVAL, "the simulated machine has one NUMA node (0)");
        }
        if a.map_type >= mt::MAX {
            return Err(Errno::EINVAL);
        }
        let modeled = matches!(
            a.map_type,
            mt::HASH | mt::ARRAY | mt::PROG_ARRAY | mt::ARRAY_OF_MAPS | mt::HASH_OF_MAPS
        );
        if !modeled {
            let what = if a.map_type == mt::UNSPEC {
                None
            } else {
                mt::name(a.map_type)
            };
            return match what {
                None => Err(Errno::EINVAL),
                Some(n) => self.fail(Errno::EOPNOTSUPP, &format!("map type {n} is not modeled")),
            };
        }
        // ops->map_alloc_check
        self.map_alloc_check(&a, flags, &cred)?;
        // privilege: unprivileged_bpf_disabled blocks map creation without CAP_BPF; the modeled
        // types are all "unprivileged" types otherwise.
        if self.cfg.unprivileged_bpf_disabled != 0 && !cred.caps.bpf_capable() {
            return Err(Errno::EPERM);
        }
        // ops->map_alloc
        let data = self.map_alloc(pid, &a, &mut flags)?;
        let name = obj_name_cpy(&a.map_name)?;
        // bpf_map_flags_retain_permanent: RDONLY/WRONLY describe the fd, not the map.
        flags &= !(BPF_F_RDONLY | BPF_F_WRONLY);
        let btf_vmlinux = attr.u32(o::BTF_VMLINUX_VALUE_TYPE_ID);
        // The BTF check, after the allocation as in map_create; takes the map's reference.
        let btf = if btf_key != 0 || btf_value != 0 || btf_vmlinux != 0 {
            let b = self.fd_btf(pid, attr.u32(o::BTF_FD) as i32)?;
            if btf_value != 0 {
                if let Err(e) = self.map_check_btf(&a, b, btf_key, btf_value) {
                    return self.fail(e, "map_check_btf: key/value types do not match the map");
                }
            }
            self.btf_inc(b);
            Some(b)
        } else {
            None
        };
        let serial = self.next_serial();
        let idx = MapIdx(self.maps.insert(Map {
            serial,
            id: 0,
            refcnt: 1,
            usercnt: 1,
            map_type: a.map_type,
            key_size: a.key_size,
            value_size: a.value_size,
            max_entries: a.max_entries,
            map_flags: flags,
            map_extra: a.map_extra,
            name,
            frozen: false,
            data,
            leaked_refs: 0,
            btf,
            btf_key_type_id: if btf.is_some() { btf_key } else { 0 },
            btf_value_type_id: if btf.is_some() { btf_value } else { 0 },
            btf_vmlinux_value_type_id: if btf.is_some() { btf_vmlinux } else { 0 },
            created_by: pid,
            created_at: self.syscalls,
        }));
        let Some(id) = self.map_ids.alloc(idx) else {
            if let Some(b) = btf {
                self.btf_put(b);
            }
            self.maps.remove(idx.0);
            return Err(Errno::ENOSPC);
        };
        self.maps[idx.0].id = id;
        match self.install_file(pid, FileObj::Map(idx), read, write) {
            Ok(fd) => {
                self.log_created(ObjRef::Map(idx), id, pid, fd);
                Ok(fd as i64)
            }
            Err(e) => {
                // bpf_map_new_fd failed: bpf_map_put_with_uref; the id was consumed.
                let holder = Some(crate::object::Holder::NewObject);
                self.log(ObjRef::Map(idx), EventKind::Created(id), holder);
                self.map_put_with_uref(idx, crate::object::Holder::NewObject);
                Err(e)
            }
        }
    }

    /// `map_check_btf`: the key type's size (when given) and the value type's size must be
    /// the map's; then the type's `map_check_btf` (arrays: a 32-bit INT key, or no key for a
    /// single-entry array of a DATASEC value; map-in-map: `ENOTSUPP`, they take no BTF;
    /// prog_array takes BTF with only the size checks, measured on 6.18).
    fn map_check_btf(
        &self,
        a: &MapCreateAttr,
        b: crate::kernel::btf::BtfIdx,
        key: u32,
        value: u32,
    ) -> SysResult<()> {
        use crate::loader::btf::{Extra, kind};
        let btf = &self.btfs[b.0].btf;
        let sized = |id: u32| -> Option<u32> {
            let t = btf.type_by_id(id)?;
            if matches!(
                t.kind,
                kind::FUNC | kind::FUNC_PROTO | kind::VAR | kind::FWD | kind::DECL_TAG
            ) {
                return None;
            }
            btf.resolve_size(id).ok()
        };
        // Types without `ops->map_check_btf` need a key type (prog_array: measured on 6.18).
        let has_own_check = !matches!(a.map_type, mt::HASH | mt::PROG_ARRAY);
        if key != 0 {
            if sized(key) != Some(a.key_size) {
                return Err(Errno::EINVAL);
            }
        } else if !has_own_check {
            return Err(Errno::EINVAL);
        }
        if sized(value) != Some(a.value_size) {
            return Err(Errno::EINVAL);
        }
        match a.map_type {
            mt::ARRAY => {
                if key == 0 {
                    let value = btf.skip_mods_and_typedefs(value).unwrap_or(0);
                    let is_datasec = btf
                        .type_by_id(value)
                        .is_some_and(|t| t.kind == kind::DATASEC);
                    if a.max_entries != 1 || !is_datasec {
                        return Err(Errno::EINVAL);
                    }
                    return Ok(());
                }
                // btf_type_id_size hands the check the type past modifiers and typedefs.
                let key = btf.skip_mods_and_typedefs(key).unwrap_or(0);
                match btf.type_by_id(key) {
                    Some(t) if t.kind == kind::INT => match t.extra {
                        Extra::Word(enc) if enc & 0xff == 32 && (enc >> 16) & 0xff == 0 => Ok(()),
                        _ => Err(Errno::EINVAL),
                    },
                    _ => Err(Errno::EINVAL),
                }
            }
            mt::ARRAY_OF_MAPS | mt::HASH_OF_MAPS => Err(Errno::ENOTSUPP),
            _ => Ok(()),
        }
    }

    /// The type's `map_alloc_check`.
    fn map_alloc_check(&mut self, a: &MapCreateAttr, flags: u32, cred: &Cred) -> SysResult<()> {
        match a.map_type {
            mt::ARRAY | mt::PROG_ARRAY | mt::ARRAY_OF_MAPS => {
                // array_map_alloc_check
                if a.max_entries == 0
                    || a.key_size != 4
                    || a.value_size == 0
                    || flags & !ARRAY_CREATE_FLAG_MASK != 0
                    || !flags_access_ok(flags)
                {
                    return Err(Errno::EINVAL);
                }
                if a.map_type != mt::ARRAY && flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP) != 0 {
                    return Err(Errno::EINVAL);
                }
                if flags & BPF_F_PRESERVE_ELEMS != 0 {
                    return Err(Errno::EINVAL);
                }
                if a.value_size > i32::MAX as u32 {
                    return Err(Errno::E2BIG);
                }
                // fd_array_map_alloc_check: values are fds; the program side has no access.
                if a.map_type != mt::ARRAY
                    && (a.value_size != 4 || flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != 0)
                {
                    return Err(Errno::EINVAL);
                }
                Ok(())
            }
            mt::HASH | mt::HASH_OF_MAPS => {
                // htab_map_alloc_check (+ fd_htab_map_alloc_check for hash of maps)
                if flags & BPF_F_ZERO_SEED != 0 && !cred.caps.has(cap::SYS_ADMIN) {
                    return Err(Errno::EPERM);
                }
                if flags & !HTAB_CREATE_FLAG_MASK != 0 || !flags_access_ok(flags) {
                    return Err(Errno::EINVAL);
                }
                if flags & BPF_F_NO_COMMON_LRU != 0 {
                    return Err(Errno::EINVAL); // percpu LRU flag without an LRU type
                }
                if a.max_entries == 0 || a.key_size == 0 || a.value_size == 0 {
                    return Err(Errno::EINVAL);
                }
                if a.key_size as u64 + a.value_size as u64 >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE {
                    return Err(Errno::E2BIG);
                }
                if a.map_type == mt::HASH_OF_MAPS && a.value_size != 4 {
                    return Err(Errno::EINVAL);
                }
                Ok(())
            }
            _ => unreachable!("only modeled types reach map_alloc_check"),
        }
    }

    /// The type's `map_alloc`: sizes, memory, the inner-map template, the hash seed.
    fn map_alloc(&mut self, pid: Pid, a: &MapCreateAttr, flags: &mut u32) -> SysResult<MapData> {
        let limit = self.cfg.max_map_bytes;
        match a.map_type {
            mt::ARRAY => {
                let elem = round_up8(a.value_size as u64);
                let mut bytes = a.max_entries as u64 * elem;
                if *flags & BPF_F_MMAPABLE != 0 {
                    bytes = bytes.div_ceil(4096) * 4096;
                }
                if bytes > limit {
                    return self.fail(Errno::ENOMEM, "array larger than the model's max_map_bytes");
                }
                Ok(MapData::Array {
                    values: vec![0; (a.max_entries as u64 * a.value_size as u64) as usize],
                })
            }
            mt::PROG_ARRAY => {
                self.check_mem(a.max_entries as u64 * 8)?;
                Ok(MapData::ProgArray {
                    slots: vec![None; a.max_entries as usize],
                    owner: None::<ProgOwner>,
                    clear_pending: false,
                })
            }
            mt::ARRAY_OF_MAPS => {
                let inner = self.map_meta_alloc(pid, a.inner_map_fd)?;
                self.check_mem(a.max_entries as u64 * 8)?;
                Ok(MapData::ArrayOfMaps {
                    slots: vec![None; a.max_entries as usize],
                    inner,
                })
            }
            mt::HASH | mt::HASH_OF_MAPS => {
                let inner = if a.map_type == mt::HASH_OF_MAPS {
                    Some(self.map_meta_alloc(pid, a.inner_map_fd)?)
                } else {
                    None
                };
                let n_buckets = (a.max_entries as u64).next_power_of_two();
                if n_buckets > u32::MAX as u64 / BUCKET_SIZE {
                    return Err(Errno::E2BIG);
                }
                let elem =
                    HTAB_ELEM_SIZE + round_up8(a.key_size as u64) + round_up8(a.value_size as u64);
                let prealloc = *flags & BPF_F_NO_PREALLOC == 0;
                let bytes = n_buckets * BUCKET_SIZE
                    + if prealloc {
                        a.max_entries as u64 * elem
                    } else {
                        0
                    };
                self.check_mem(bytes)?;
                let hashrnd = if *flags & BPF_F_ZERO_SEED != 0 {
                    0
                } else {
                    self.random_u64() as u32
                };
                let (max, key) = (a.max_entries, a.key_size);
                Ok(match inner {
                    None => MapData::Hash {
                        table: HashTable::new(max, key, hashrnd),
                    },
                    Some(inner) => MapData::HashOfMaps {
                        table: HashTable::new(max, key, hashrnd),
                        inner,
                    },
                })
            }
            _ => unreachable!("only modeled types reach map_alloc"),
        }
    }

    fn check_mem(&mut self, bytes: u64) -> SysResult<()> {
        if bytes > self.cfg.max_map_bytes {
            return self.fail(Errno::ENOMEM, "map larger than the model's max_map_bytes");
        }
        Ok(())
    }

    /// `bpf_map_meta_alloc(inner_map_fd)`: copy what an inner map must match; the template is
    /// not held.
    fn map_meta_alloc(&mut self, pid: Pid, ufd: u32) -> SysResult<InnerMeta> {
        let m = self.fd_map(pid, ufd as i32)?.1;
        let inner = &self.maps[m.0];
        match inner.map_type {
            mt::ARRAY_OF_MAPS | mt::HASH_OF_MAPS => Err(Errno::EINVAL),
            // no ops->map_meta_equal
            mt::PROG_ARRAY => Err(Errno::ENOTSUPP),
            _ => Ok(InnerMeta {
                map_type: inner.map_type,
                key_size: inner.key_size,
                value_size: inner.value_size,
                max_entries: inner.max_entries,
                map_flags: inner.map_flags,
            }),
        }
    }
}

/// `map_meta_equal` of the inner template: `bpf_map_meta_equal` (type, sizes, flags) and, for
/// arrays, `max_entries` unless the template has `BPF_F_INNER_MAP`.
pub(crate) fn meta_equal(meta: &InnerMeta, m: &Map) -> bool {
    let base = meta.map_type == m.map_type
        && meta.key_size == m.key_size
        && meta.value_size == m.value_size
        && meta.map_flags == m.map_flags;
    if !base {
        return false;
    }
    if meta.map_type == mt::ARRAY && meta.map_flags & BPF_F_INNER_MAP == 0 {
        return meta.max_entries == m.max_entries;
    }
    true
}

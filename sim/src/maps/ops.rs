//! Element commands: `BPF_MAP_LOOKUP_ELEM`, `BPF_MAP_UPDATE_ELEM`, `BPF_MAP_DELETE_ELEM`,
//! `BPF_MAP_GET_NEXT_KEY`, `BPF_MAP_LOOKUP_AND_DELETE_ELEM`, `BPF_MAP_FREEZE`
//! (`kernel/bpf/syscall.c` `map_*`), and each type's element semantics
//! (`kernel/bpf/arraymap.c`, `hashtab.c`, `map_in_map.c`).

use super::create::meta_equal;
use super::{Map, MapData, ProgOwner};
use crate::attr::{Attr, off::elem as o};
use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mem::UserMem;
use crate::object::{Holder, MapIdx, ObjRef, ProgIdx};
use crate::task::{FileIdx, FileObj, Pid};
use crate::uapi::flags::{BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST};
use crate::uapi::prog_type;

/// Scratch space for a key or value copied in from user memory: small ones stay on the stack.
/// The caller owns it and the copy is read in place (moving a copied key around defeats
/// store-to-load forwarding on the hot lookup path).
pub(crate) struct Scratch {
    inline: [u8; Scratch::INLINE],
    heap: Vec<u8>,
}

impl Scratch {
    const INLINE: usize = 32;

    #[inline(always)]
    pub(crate) fn new() -> Scratch {
        Scratch {
            inline: [0; Scratch::INLINE],
            heap: Vec::new(),
        }
    }

    /// `copy_from_user` of `len` bytes at `addr` into the scratch.
    #[inline(always)]
    pub(crate) fn read(&mut self, mem: &dyn UserMem, addr: u64, len: usize) -> SysResult<&[u8]> {
        let buf = if len <= Self::INLINE {
            &mut self.inline[..len]
        } else {
            self.heap.resize(len, 0);
            &mut self.heap[..]
        };
        mem.read(addr, buf)?;
        Ok(buf)
    }
}

/// The first four bytes as a little-endian `u32` (array indexes, fds).
#[inline(always)]
fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// `__bpf_copy_key()`: `key_size` bytes from `ukey`; a map without keys takes no pointer.
#[inline(always)]
fn copy_key<'s>(
    mem: &dyn UserMem,
    ukey: u64,
    key_size: u32,
    s: &'s mut Scratch,
) -> SysResult<&'s [u8]> {
    if key_size > 0 {
        return s.read(mem, ukey, key_size as usize);
    }
    if ukey != 0 {
        Err(Errno::EINVAL)
    } else {
        Ok(&[])
    }
}

/// `bpf_map_value_size()`: what user space reads or writes per element (fd maps: a `u32`).
fn value_size(m: &Map) -> usize {
    match m.data {
        MapData::Array { .. } | MapData::Hash { .. } => m.value_size as usize,
        _ => 4,
    }
}

impl Kernel {
    /// `__bpf_map_get(fdget(fd))`: `EBADF` for an fd that is not open, `EINVAL` for one that is
    /// not a map.
    pub(crate) fn fd_map(&self, pid: Pid, fd: i32) -> SysResult<(FileIdx, MapIdx)> {
        let (idx, f) = self.fd_file(pid, fd)?;
        match f.obj {
            FileObj::Map(m) => Ok((idx, m)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `bpf_prog_get(fd)`: `EBADF` for an fd that is not open, `EINVAL` for a non-program.
    pub(crate) fn fd_prog(&self, pid: Pid, fd: i32) -> SysResult<(FileIdx, ProgIdx)> {
        let (idx, f) = self.fd_file(pid, fd)?;
        match f.obj {
            FileObj::Prog(p) => Ok((idx, p)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `map_get_sys_perms()`: the fd's (read, write) access; a frozen map is never writable
    /// from user space.
    fn sys_perms(&self, file: FileIdx, m: MapIdx) -> (bool, bool) {
        let f = &self.files[file.0];
        (f.read, f.write && !self.maps[m.0].frozen)
    }

    /// `BPF_MAP_LOOKUP_ELEM` (`map_lookup_elem`).
    pub(crate) fn sys_map_lookup_elem(
        &mut self,
        pid: Pid,
        a: &Attr,
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        a.check_unused(o::END_FLAGS)?;
        let flags = a.u64(o::FLAGS);
        if flags & !BPF_F_LOCK != 0 {
            return Err(Errno::EINVAL);
        }
        let (file, m) = self.fd_map(pid, a.u32(o::MAP_FD) as i32)?;
        if !self.sys_perms(file, m).0 {
            return Err(Errno::EPERM);
        }
        if flags & BPF_F_LOCK != 0 {
            return self.fail(Errno::EINVAL, "BPF_F_LOCK on a map without a bpf_spin_lock");
        }
        let map = &self.maps[m.0];
        let mut ks = Scratch::new();
        let key = copy_key(mem, a.u64(o::KEY), map.key_size, &mut ks)?;
        let uvalue = a.u64(o::VALUE);
        match &map.data {
            MapData::Array { values } => {
                let i = le32(key);
                if i >= map.max_entries {
                    return Err(Errno::ENOENT);
                }
                let vs = map.value_size as usize;
                mem.write(uvalue, &values[i as usize * vs..(i as usize + 1) * vs])?;
            }
            MapData::Hash { table } => {
                let v = table.lookup(key).ok_or(Errno::ENOENT)?;
                mem.write(uvalue, v)?;
            }
            MapData::ProgArray { slots, .. } => {
                let p = slots
                    .get(le32(key) as usize)
                    .copied()
                    .flatten()
                    .ok_or(Errno::ENOENT)?;
                mem.write(uvalue, &self.progs[p.0].id.to_le_bytes())?;
            }
            MapData::ArrayOfMaps { slots, .. } => {
                let inner = slots
                    .get(le32(key) as usize)
                    .copied()
                    .flatten()
                    .ok_or(Errno::ENOENT)?;
                mem.write(uvalue, &self.maps[inner.0].id.to_le_bytes())?;
            }
            MapData::HashOfMaps { table, .. } => {
                let inner = *table.lookup(key).ok_or(Errno::ENOENT)?;
                mem.write(uvalue, &self.maps[inner.0].id.to_le_bytes())?;
            }
        }
        Ok(0)
    }

    /// `BPF_MAP_UPDATE_ELEM` (`map_update_elem` -> `bpf_map_update_value`).
    pub(crate) fn sys_map_update_elem(
        &mut self,
        pid: Pid,
        a: &Attr,
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        a.check_unused(o::END_FLAGS)?;
        let (file, m) = self.fd_map(pid, a.u32(o::MAP_FD) as i32)?;
        if !self.sys_perms(file, m).1 {
            return Err(Errno::EPERM);
        }
        let flags = a.u64(o::FLAGS);
        if flags & BPF_F_LOCK != 0 {
            return self.fail(Errno::EINVAL, "BPF_F_LOCK on a map without a bpf_spin_lock");
        }
        let map = &self.maps[m.0];
        let mut ks = Scratch::new();
        let key = copy_key(mem, a.u64(o::KEY), map.key_size, &mut ks)?;
        let mut vs = Scratch::new();
        let value = vs.read(mem, a.u64(o::VALUE), value_size(map))?;
        self.map_update(pid, m, key, value, flags)?;
        Ok(0)
    }

    /// The type's update: `array_map_update_elem`, `htab_map_update_elem`,
    /// `bpf_fd_array_map_update_elem`, `bpf_fd_htab_map_update_elem`.
    pub(crate) fn map_update(
        &mut self,
        pid: Pid,
        m: MapIdx,
        key: &[u8],
        value: &[u8],
        flags: u64,
    ) -> SysResult<()> {
        let map = &mut self.maps[m.0];
        let max = map.max_entries;
        let index = || u32::from_le_bytes([key[0], key[1], key[2], key[3]]);
        match &mut map.data {
            MapData::Array { values } => {
                if flags & !BPF_F_LOCK > BPF_EXIST {
                    return Err(Errno::EINVAL);
                }
                let i = index();
                if i >= max {
                    return Err(Errno::E2BIG);
                }
                if flags & BPF_NOEXIST != 0 {
                    return Err(Errno::EEXIST);
                }
                let vs = value.len();
                values[i as usize * vs..(i as usize + 1) * vs].copy_from_slice(value);
                Ok(())
            }
            MapData::Hash { table } => table.update_bytes(key, value, flags),
            MapData::ProgArray { .. } => {
                if flags != BPF_ANY {
                    return Err(Errno::EINVAL);
                }
                let i = index();
                if i >= max {
                    return Err(Errno::E2BIG);
                }
                let ufd = u32::from_le_bytes(value.try_into().expect("4-byte fd")) as i32;
                let p = self.prog_fd_array_get_ptr(pid, m, ufd)?;
                let map_id = self.maps[m.0].id;
                self.prog_inc(
                    p,
                    Holder::TailCallSlot {
                        map: m,
                        map_id,
                        index: i,
                    },
                );
                let MapData::ProgArray { slots, .. } = &mut self.maps[m.0].data else {
                    unreachable!()
                };
                if let Some(old) = slots[i as usize].replace(p) {
                    self.prog_put(
                        old,
                        Holder::TailCallSlot {
                            map: m,
                            map_id,
                            index: i,
                        },
                    );
                }
                Ok(())
            }
            MapData::ArrayOfMaps { .. } => {
                if flags != BPF_ANY {
                    return Err(Errno::EINVAL);
                }
                let i = index();
                if i >= max {
                    return Err(Errno::E2BIG);
                }
                let inner = self.map_fd_get_ptr(pid, m, value)?;
                let outer_id = self.maps[m.0].id;
                self.map_inc(inner, Holder::InnerOf { outer: m, outer_id });
                let MapData::ArrayOfMaps { slots, .. } = &mut self.maps[m.0].data else {
                    unreachable!()
                };
                if let Some(old) = slots[i as usize].replace(inner) {
                    self.map_put(old, Holder::InnerOf { outer: m, outer_id });
                }
                Ok(())
            }
            MapData::HashOfMaps { .. } => {
                let inner = self.map_fd_get_ptr(pid, m, value)?;
                let outer_id = self.maps[m.0].id;
                let MapData::HashOfMaps { table, .. } = &mut self.maps[m.0].data else {
                    unreachable!()
                };
                // bpf_fd_htab_map_update_elem -> htab_map_update_elem_in_place (6.8+): a
                // replaced inner map keeps its element's place in the bucket chain.
                let old = table.update_in_place(key, inner, flags)?;
                self.map_inc(inner, Holder::InnerOf { outer: m, outer_id });
                if let Some(old) = old {
                    self.map_put(old, Holder::InnerOf { outer: m, outer_id });
                }
                Ok(())
            }
        }
    }

    /// `prog_fd_array_get_ptr()`: the program behind `ufd`, compatible with the array's owner
    /// (which the first member fixes); extension programs are refused.
    fn prog_fd_array_get_ptr(&mut self, pid: Pid, m: MapIdx, ufd: i32) -> SysResult<ProgIdx> {
        let (_, p) = self.fd_prog(pid, ufd)?;
        if self.progs[p.0].prog_type == prog_type::EXT || !self.prog_map_compatible(m, p) {
            return self.fail(
                Errno::EINVAL,
                "program is not compatible with the prog_array's owner",
            );
        }
        Ok(p)
    }

    /// `__bpf_prog_map_compatible()`: the first program fixes the owner; later ones must match.
    pub(crate) fn prog_map_compatible(&mut self, m: MapIdx, p: ProgIdx) -> bool {
        let prog = &self.progs[p.0];
        let want = ProgOwner {
            prog_type: prog.prog_type,
            expected_attach_type: prog.expected_attach_type,
            xdp_has_frags: prog.prog_flags & crate::uapi::flags::BPF_F_XDP_HAS_FRAGS != 0,
        };
        let MapData::ProgArray { owner, .. } = &mut self.maps[m.0].data else {
            return true;
        };
        match owner {
            None => {
                *owner = Some(want);
                true
            }
            Some(o) => *o == want,
        }
    }

    /// `bpf_map_fd_get_ptr()`: the inner map behind the fd in `value`, checked against the
    /// outer map's template.
    fn map_fd_get_ptr(&mut self, pid: Pid, outer: MapIdx, value: &[u8]) -> SysResult<MapIdx> {
        let ufd = u32::from_le_bytes(value.try_into().expect("4-byte fd")) as i32;
        let (_, inner) = self.fd_map(pid, ufd)?;
        let meta = match &self.maps[outer.0].data {
            MapData::ArrayOfMaps { inner, .. } | MapData::HashOfMaps { inner, .. } => *inner,
            _ => unreachable!("outer map"),
        };
        if !meta_equal(&meta, &self.maps[inner.0]) {
            return self.fail(
                Errno::EINVAL,
                "inner map does not match the outer map's template",
            );
        }
        Ok(inner)
    }

    /// `BPF_MAP_DELETE_ELEM` (`map_delete_elem`).
    pub(crate) fn sys_map_delete_elem(
        &mut self,
        pid: Pid,
        a: &Attr,
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        a.check_unused(o::END_KEY)?;
        let (file, m) = self.fd_map(pid, a.u32(o::MAP_FD) as i32)?;
        if !self.sys_perms(file, m).1 {
            return Err(Errno::EPERM);
        }
        let map = &mut self.maps[m.0];
        let mut ks = Scratch::new();
        let key = copy_key(mem, a.u64(o::KEY), map.key_size, &mut ks)?;
        let (max, id) = (map.max_entries, map.id);
        let i = if key.len() >= 4 { le32(key) } else { 0 };
        match &mut map.data {
            MapData::Array { .. } => Err(Errno::EINVAL),
            MapData::Hash { table } => table.delete(key).map(|_| 0).ok_or(Errno::ENOENT),
            MapData::ProgArray { slots, .. } => {
                if i >= max {
                    return Err(Errno::E2BIG);
                }
                let old = slots[i as usize].take().ok_or(Errno::ENOENT)?;
                self.prog_put(
                    old,
                    Holder::TailCallSlot {
                        map: m,
                        map_id: id,
                        index: i,
                    },
                );
                Ok(0)
            }
            MapData::ArrayOfMaps { slots, .. } => {
                if i >= max {
                    return Err(Errno::E2BIG);
                }
                let old = slots[i as usize].take().ok_or(Errno::ENOENT)?;
                self.map_put(
                    old,
                    Holder::InnerOf {
                        outer: m,
                        outer_id: id,
                    },
                );
                Ok(0)
            }
            MapData::HashOfMaps { table, .. } => {
                let old = table.delete(key).ok_or(Errno::ENOENT)?;
                self.map_put(
                    old,
                    Holder::InnerOf {
                        outer: m,
                        outer_id: id,
                    },
                );
                Ok(0)
            }
        }
        .map(|_| 0)
    }

    /// `BPF_MAP_GET_NEXT_KEY` (`map_get_next_key`).
    pub(crate) fn sys_map_get_next_key(
        &mut self,
        pid: Pid,
        a: &Attr,
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        a.check_unused(o::END_NEXT_KEY)?;
        let (file, m) = self.fd_map(pid, a.u32(o::MAP_FD) as i32)?;
        if !self.sys_perms(file, m).0 {
            return Err(Errno::EPERM);
        }
        let map = &self.maps[m.0];
        let ukey = a.u64(o::KEY);
        let mut ks = Scratch::new();
        let key = if ukey != 0 {
            Some(copy_key(mem, ukey, map.key_size, &mut ks)?)
        } else {
            None
        };
        let next: Vec<u8> = match &map.data {
            MapData::Array { .. } | MapData::ProgArray { .. } | MapData::ArrayOfMaps { .. } => {
                // array_map_get_next_key: no key or an out-of-range key restarts at 0.
                let next = match key.map(le32) {
                    Some(i) if i < map.max_entries => {
                        if i == map.max_entries - 1 {
                            return Err(Errno::ENOENT);
                        }
                        i + 1
                    }
                    _ => 0,
                };
                next.to_le_bytes().to_vec()
            }
            MapData::Hash { table } => table.get_next_key(key).ok_or(Errno::ENOENT)?.to_vec(),
            MapData::HashOfMaps { table, .. } => {
                table.get_next_key(key).ok_or(Errno::ENOENT)?.to_vec()
            }
        };
        mem.write(a.u64(o::NEXT_KEY), &next)?;
        Ok(0)
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (`map_lookup_and_delete_elem`): hash maps only; other
    /// modeled types are `ENOTSUPP` (524).
    pub(crate) fn sys_map_lookup_and_delete_elem(
        &mut self,
        pid: Pid,
        a: &Attr,
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        a.check_unused(o::END_FLAGS)?;
        let flags = a.u64(o::FLAGS);
        if flags & !BPF_F_LOCK != 0 {
            return Err(Errno::EINVAL);
        }
        let (file, m) = self.fd_map(pid, a.u32(o::MAP_FD) as i32)?;
        let (r, w) = self.sys_perms(file, m);
        if !r || !w {
            return Err(Errno::EPERM);
        }
        if flags & BPF_F_LOCK != 0 {
            return self.fail(Errno::EINVAL, "BPF_F_LOCK on a map without a bpf_spin_lock");
        }
        let map = &mut self.maps[m.0];
        let mut ks = Scratch::new();
        let key = copy_key(mem, a.u64(o::KEY), map.key_size, &mut ks)?;
        let MapData::Hash { table } = &mut map.data else {
            return Err(Errno::ENOTSUPP);
        };
        // The element is unlinked before copy_to_user: a bad value pointer is EFAULT with the
        // element already gone.
        let v = table.delete(key).ok_or(Errno::ENOENT)?;
        mem.write(a.u64(o::VALUE), &v)?;
        Ok(0)
    }

    /// `BPF_MAP_FREEZE` (`map_freeze`): user space can no longer write the map. Freezing strips
    /// write access first, so a second freeze is `EPERM`, not `EBUSY`.
    pub(crate) fn sys_map_freeze(&mut self, pid: Pid, a: &Attr) -> SysResult<i64> {
        a.check_unused(o::END_MAP_FD)?;
        let (file, m) = self.fd_map(pid, a.u32(o::MAP_FD) as i32)?;
        if !self.sys_perms(file, m).1 {
            return Err(Errno::EPERM);
        }
        if self.maps[m.0].frozen {
            return Err(Errno::EBUSY);
        }
        self.maps[m.0].frozen = true;
        Ok(0)
    }

    /// The objects a map's slots hold, for explanations: (slot, object).
    pub fn map_slots(&self, m: MapIdx) -> Vec<(u32, ObjRef)> {
        self.maps
            .get(m.0)
            .map(|map| map.data.held())
            .unwrap_or_default()
    }
}

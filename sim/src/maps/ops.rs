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

/// A key or value copied in from user memory; small ones stay on the stack.
pub(crate) struct Bytes {
    inline: [u8; 64],
    heap: Vec<u8>,
    len: usize,
}

impl Bytes {
    #[inline]
    pub(crate) fn read(mem: &dyn UserMem, addr: u64, len: usize) -> SysResult<Bytes> {
        let mut b = Bytes {
            inline: [0; 64],
            heap: Vec::new(),
            len,
        };
        if len > 64 {
            b.heap = vec![0; len];
        }
        mem.read(addr, b.as_mut())?;
        Ok(b)
    }

    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        if self.len > 64 {
            &mut self.heap
        } else {
            &mut self.inline[..self.len]
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> &[u8] {
        if self.len > 64 {
            &self.heap
        } else {
            &self.inline[..self.len]
        }
    }

    #[inline]
    fn u32(&self) -> u32 {
        let b = self.get();
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// `__bpf_copy_key()`: `key_size` bytes from `ukey`; a map without keys takes no pointer.
#[inline]
fn copy_key(mem: &dyn UserMem, ukey: u64, key_size: u32) -> SysResult<Option<Bytes>> {
    if key_size > 0 {
        return Bytes::read(mem, ukey, key_size as usize).map(Some);
    }
    if ukey != 0 {
        Err(Errno::EINVAL)
    } else {
        Ok(None)
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
        let key = copy_key(mem, a.u64(o::KEY), map.key_size)?.expect("modeled maps have keys");
        let uvalue = a.u64(o::VALUE);
        match &map.data {
            MapData::Array { values } => {
                let i = key.u32();
                if i >= map.max_entries {
                    return Err(Errno::ENOENT);
                }
                let vs = map.value_size as usize;
                mem.write(uvalue, &values[i as usize * vs..(i as usize + 1) * vs])?;
            }
            MapData::Hash { table } => {
                let v = table.lookup(key.get()).ok_or(Errno::ENOENT)?;
                mem.write(uvalue, v)?;
            }
            MapData::ProgArray { slots, .. } => {
                let p = slots
                    .get(key.u32() as usize)
                    .copied()
                    .flatten()
                    .ok_or(Errno::ENOENT)?;
                mem.write(uvalue, &self.progs[p.0].id.to_le_bytes())?;
            }
            MapData::ArrayOfMaps { slots, .. } => {
                let inner = slots
                    .get(key.u32() as usize)
                    .copied()
                    .flatten()
                    .ok_or(Errno::ENOENT)?;
                mem.write(uvalue, &self.maps[inner.0].id.to_le_bytes())?;
            }
            MapData::HashOfMaps { table, .. } => {
                let inner = *table.lookup(key.get()).ok_or(Errno::ENOENT)?;
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
        let key = copy_key(mem, a.u64(o::KEY), map.key_size)?.expect("modeled maps have keys");
        let value = Bytes::read(mem, a.u64(o::VALUE), value_size(map))?;
        self.map_update(pid, m, key.get(), value.get(), flags)?;
        Ok(0)
    }

    /// The type's update: `array_map_update_elem`, `htab_map_update_elem`,
    /// `bpf_fd_array_map_update_elem`, `bpf_fd_htab_map_update_elem`.
    fn map_update(
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
            MapData::Hash { table } => table.update(key, value.into(), flags).map(drop),
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
        let key = copy_key(mem, a.u64(o::KEY), map.key_size)?.expect("modeled maps have keys");
        let (max, id) = (map.max_entries, map.id);
        let i = if key.get().len() >= 4 { key.u32() } else { 0 };
        match &mut map.data {
            MapData::Array { .. } => Err(Errno::EINVAL),
            MapData::Hash { table } => table.delete(key.get()).map(|_| 0).ok_or(Errno::ENOENT),
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
                let old = table.delete(key.get()).ok_or(Errno::ENOENT)?;
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
        let key = if ukey != 0 {
            copy_key(mem, ukey, map.key_size)?
        } else {
            None
        };
        let next: Vec<u8> = match &map.data {
            MapData::Array { .. } | MapData::ProgArray { .. } | MapData::ArrayOfMaps { .. } => {
                // array_map_get_next_key: no key or an out-of-range key restarts at 0.
                let next = match key.map(|k| k.u32()) {
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
            MapData::Hash { table } => table
                .get_next_key(key.as_ref().map(Bytes::get))
                .ok_or(Errno::ENOENT)?
                .to_vec(),
            MapData::HashOfMaps { table, .. } => table
                .get_next_key(key.as_ref().map(Bytes::get))
                .ok_or(Errno::ENOENT)?
                .to_vec(),
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
        let key = copy_key(mem, a.u64(o::KEY), map.key_size)?.expect("modeled maps have keys");
        let MapData::Hash { table } = &mut map.data else {
            return Err(Errno::ENOTSUPP);
        };
        // The element is unlinked before copy_to_user: a bad value pointer is EFAULT with the
        // element already gone.
        let v = table.delete(key.get()).ok_or(Errno::ENOENT)?;
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

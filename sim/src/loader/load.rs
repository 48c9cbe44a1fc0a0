//! The load half of libbpf's pipeline, against any kernel that takes bpf() calls
//! ([`LoadSys`]): create every map in the object's order (internal maps get their initial
//! image and `.rodata*` is frozen; `LIBBPF_PIN_BY_NAME` maps are reused when a compatible one
//! is pinned, pinned otherwise; map-in-map templates are created for the outer map and closed
//! after), fill map-in-map `.values` slots, relocate, load each program, fill prog_array
//! `.values` slots. A failure part-way closes what was created and unpins what was pinned, as
//! libbpf does (`bpf_object_load`, `bpf_object__create_maps`, `init_prog_arrays`).

use std::fmt;

use super::btf::Btf;
use super::maps::{MapDef, MapKind, SlotTarget};
use super::reloc::relocate;
use super::{LoadError, Object};
use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::maps::create::MapCreateAttr;
use crate::prog::ProgLoadAttr;
use crate::task::Pid;
use crate::uapi::map_type;

/// What the loader needs of a kernel: the bpf() calls libbpf makes, in one process.
pub trait LoadSys {
    /// `BPF_MAP_CREATE`.
    fn map_create(&mut self, a: &MapCreateAttr) -> SysResult<i32>;
    /// `BPF_MAP_UPDATE_ELEM`.
    fn map_update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()>;
    /// `BPF_MAP_FREEZE`.
    fn map_freeze(&mut self, fd: i32) -> SysResult<()>;
    /// `BPF_OBJ_GET_INFO_BY_FD` of a map: (type, key size, value size, max entries, flags).
    fn map_info(&mut self, fd: i32) -> SysResult<(u32, u32, u32, u32, u32)>;
    /// `BPF_PROG_LOAD`.
    fn prog_load(&mut self, a: &ProgLoadAttr) -> SysResult<i32>;
    /// `BPF_OBJ_PIN`.
    fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()>;
    /// `BPF_OBJ_GET` (read-write).
    fn obj_get(&mut self, path: &str) -> SysResult<i32>;
    /// `unlink(path)`.
    fn unlink(&mut self, path: &str) -> SysResult<()>;
    /// `close(fd)`.
    fn close(&mut self, fd: i32) -> SysResult<()>;
    /// `BPF_BTF_LOAD` of `data`. A kernel without it answers `EOPNOTSUPP` (the default):
    /// the loader then goes on without BTF, as libbpf does when loading BTF fails.
    fn btf_load(&mut self, data: &[u8]) -> SysResult<i32> {
        let _ = data;
        Err(Errno::EOPNOTSUPP)
    }
}

/// The simulated kernel as a [`LoadSys`]: the calls of process `pid`.
pub struct KernelProc<'k> {
    /// The kernel.
    pub k: &'k mut Kernel,
    /// The loading process.
    pub pid: Pid,
}

impl LoadSys for KernelProc<'_> {
    fn map_create(&mut self, a: &MapCreateAttr) -> SysResult<i32> {
        self.k.map_create(self.pid, a)
    }
    fn map_update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        self.k.map_update_elem(self.pid, fd, key, value, flags)
    }
    fn map_freeze(&mut self, fd: i32) -> SysResult<()> {
        self.k.map_freeze(self.pid, fd)
    }
    fn map_info(&mut self, fd: i32) -> SysResult<(u32, u32, u32, u32, u32)> {
        let i = self.k.obj_get_info_by_fd(self.pid, fd)?;
        use crate::maps::info::map_info as m;
        Ok((
            i.u32(m::TYPE),
            i.u32(m::KEY_SIZE),
            i.u32(m::VALUE_SIZE),
            i.u32(m::MAX_ENTRIES),
            i.u32(m::MAP_FLAGS),
        ))
    }
    fn prog_load(&mut self, a: &ProgLoadAttr) -> SysResult<i32> {
        self.k.prog_load(self.pid, a)
    }
    fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()> {
        self.k.obj_pin(self.pid, fd, path)
    }
    fn obj_get(&mut self, path: &str) -> SysResult<i32> {
        self.k.obj_get(self.pid, path, 0)
    }
    fn unlink(&mut self, path: &str) -> SysResult<()> {
        self.k.unlink(self.pid, path)
    }
    fn close(&mut self, fd: i32) -> SysResult<()> {
        self.k.close(self.pid, fd)
    }
    fn btf_load(&mut self, data: &[u8]) -> SysResult<i32> {
        self.k.btf_load(self.pid, data)
    }
}

/// Where `LIBBPF_PIN_BY_NAME` maps are pinned (libbpf's default `pin_root_path`).
#[derive(Clone, Debug)]
pub struct LoadOpts {
    /// The directory pin-by-name maps are pinned in.
    pub pin_root: String,
}

impl Default for LoadOpts {
    fn default() -> Self {
        LoadOpts {
            pin_root: "/sys/fs/bpf".into(),
        }
    }
}

/// A map the loader created or reused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedMap {
    /// libbpf's map name.
    pub name: String,
    /// Its fd in the loading process.
    pub fd: i32,
    /// A compatible pinned map was reused instead of creating one.
    pub reused: bool,
    /// Where the loader pinned it (pin-by-name maps it created).
    pub pinned: Option<String>,
}

/// A program the loader loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedProg {
    /// The function name.
    pub name: String,
    /// The `SEC()` name.
    pub section: String,
    /// Its fd in the loading process.
    pub fd: i32,
}

/// What a successful load holds: fds the caller owns (closing them, or exiting, releases
/// whatever nothing else holds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Every map, in the object's order.
    pub maps: Vec<LoadedMap>,
    /// Every loaded program, in the object's order.
    pub progs: Vec<LoadedProg>,
}

/// Why a load failed, and at which step; everything created before it was released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadFailure {
    /// The object could not be relocated.
    Object(LoadError),
    /// A map step failed (`create`, `populate`, `freeze`, `reuse`, `pin`, `slot N`).
    Map {
        /// The map.
        name: String,
        /// The step.
        step: String,
        /// The kernel's answer.
        errno: Errno,
    },
    /// `BPF_PROG_LOAD` failed.
    Prog {
        /// The program.
        name: String,
        /// The kernel's answer.
        errno: Errno,
    },
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadFailure::Object(e) => write!(f, "{e}"),
            LoadFailure::Map { name, step, errno } => {
                write!(f, "map '{name}': {step} failed: {errno}")
            }
            LoadFailure::Prog { name, errno } => {
                write!(f, "program '{name}': load failed: {errno}")
            }
        }
    }
}

impl std::error::Error for LoadFailure {}

/// A name as libbpf passes it to the kernel: at most 15 bytes (`libbpf_strlcpy` into 16).
fn kname(name: &str) -> String {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

fn create_attr(name: &str, def: &MapDef) -> MapCreateAttr {
    MapCreateAttr {
        numa_node: def.numa_node,
        map_extra: def.map_extra,
        ..MapCreateAttr::new(def.map_type, def.key_size, def.value_size, def.max_entries)
    }
    .flags(def.map_flags)
    .name(&kname(name))
}

/// What is created so far, to release on failure.
struct Unwind<'s> {
    sys: &'s mut dyn LoadSys,
    fds: Vec<i32>,
    pins: Vec<String>,
}

impl Unwind<'_> {
    fn fail<T>(mut self, f: LoadFailure) -> Result<T, LoadFailure> {
        for p in self.pins.drain(..).rev() {
            let _ = self.sys.unlink(&p);
        }
        for fd in self.fds.drain(..).rev() {
            let _ = self.sys.close(fd);
        }
        Err(f)
    }
}

/// Load `obj` through `sys`: libbpf's `bpf_object__load` on an opened object.
pub fn load(obj: &Object, sys: &mut dyn LoadSys, opts: &LoadOpts) -> Result<Loaded, LoadFailure> {
    let mut u = Unwind {
        sys,
        fds: Vec::new(),
        pins: Vec::new(),
    };
    let mut loaded = Loaded::default();
    // bpf_object__sanitize_and_load_btf: the fixed-up BTF (nothing to sanitize on the
    // kernels modeled); a failure is only a warning, the object loads without BTF.
    let btf_fd = obj
        .btf
        .as_ref()
        .and_then(Btf::to_bytes)
        .and_then(|b| u.sys.btf_load(&b).ok());
    if let Some(fd) = btf_fd {
        u.fds.push(fd);
    }
    let map_err = |name: &str, step: &str, errno| LoadFailure::Map {
        name: name.into(),
        step: step.into(),
        errno,
    };
    // bpf_object__create_maps
    for m in &obj.maps {
        let pin_path = (m.def.pinning == 1).then(|| format!("{}/{}", opts.pin_root, m.name));
        if let Some(path) = &pin_path {
            // bpf_object__reuse_map: a pinned map is reused if it is compatible.
            match u.sys.obj_get(path) {
                Ok(fd) => {
                    u.fds.push(fd);
                    let info = match u.sys.map_info(fd) {
                        Ok(i) => i,
                        Err(e) => return u.fail(map_err(&m.name, "reuse", e)),
                    };
                    let d = &m.def;
                    if info
                        != (
                            d.map_type,
                            d.key_size,
                            d.value_size,
                            d.max_entries,
                            d.map_flags,
                        )
                    {
                        return u.fail(map_err(
                            &m.name,
                            "reuse (incompatible pinned map)",
                            Errno::EINVAL,
                        ));
                    }
                    loaded.maps.push(LoadedMap {
                        name: m.name.clone(),
                        fd,
                        reused: true,
                        pinned: None,
                    });
                    continue;
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return u.fail(map_err(&m.name, "reuse", e)),
            }
        }
        let mut attr = create_attr(&m.name, &m.def);
        if let Some(bfd) = btf_fd {
            // bpf_object__create_map: the object's BTF and the map's type ids, except for
            // the types that take none.
            attr.btf_fd = bfd as u32;
            if !matches!(
                m.def.map_type,
                map_type::ARRAY_OF_MAPS | map_type::HASH_OF_MAPS
            ) && !NO_BTF_TYPES.contains(&m.def.map_type)
            {
                attr.btf_key_type_id = m.def.btf_key_type_id;
                attr.btf_value_type_id = m.def.btf_value_type_id;
            }
        }
        let mut template = None;
        if matches!(
            m.def.map_type,
            map_type::ARRAY_OF_MAPS | map_type::HASH_OF_MAPS
        ) {
            let Some(inner) = &m.inner else {
                return u.fail(map_err(
                    &m.name,
                    "create (no inner map definition)",
                    Errno::EINVAL,
                ));
            };
            match u
                .sys
                .map_create(&create_attr(&format!("{}.inner", m.name), inner))
            {
                Ok(fd) => {
                    u.fds.push(fd);
                    template = Some(fd);
                    attr = attr.inner(fd);
                }
                Err(e) => return u.fail(map_err(&m.name, "create inner template", e)),
            }
        }
        let mut created = u.sys.map_create(&attr);
        if created.is_err() && (attr.btf_key_type_id != 0 || attr.btf_value_type_id != 0) {
            // "Error in bpf_create_map_xattr(...). Retrying without BTF."
            attr.btf_fd = 0;
            attr.btf_key_type_id = 0;
            attr.btf_value_type_id = 0;
            created = u.sys.map_create(&attr);
        }
        let fd = match created {
            Ok(fd) => fd,
            Err(e) => return u.fail(map_err(&m.name, "create", e)),
        };
        u.fds.push(fd);
        if let Some(t) = template {
            // libbpf destroys the template once the outer map exists: the outer map keeps
            // only its metadata.
            let _ = u.sys.close(t);
            u.fds.retain(|&x| x != t);
        }
        if let Some(image) = m.initial_value() {
            if let Err(e) = u.sys.map_update(fd, &0u32.to_le_bytes(), &image, 0) {
                return u.fail(map_err(&m.name, "populate", e));
            }
            if m.kind == MapKind::Rodata {
                if let Err(e) = u.sys.map_freeze(fd) {
                    return u.fail(map_err(&m.name, "freeze", e));
                }
            }
        }
        let mut pinned = None;
        if let Some(path) = pin_path {
            if let Err(e) = u.sys.obj_pin(fd, &path) {
                return u.fail(map_err(&m.name, "pin", e));
            }
            u.pins.push(path.clone());
            pinned = Some(path);
        }
        loaded.maps.push(LoadedMap {
            name: m.name.clone(),
            fd,
            reused: false,
            pinned,
        });
    }
    // init_map_in_map_slots
    let map_fds: Vec<i32> = loaded.maps.iter().map(|m| m.fd).collect();
    let by_map = |t: &SlotTarget| match t {
        SlotTarget::Map(n) => Some(
            loaded
                .maps
                .iter()
                .find(|x| &x.name == n)
                .map(|x| x.fd)
                .ok_or(format!("no map '{n}'")),
        ),
        SlotTarget::Prog(_) => None,
    };
    if let Err(f) = fill_slots(obj, &map_fds, &mut *u.sys, by_map) {
        return u.fail(f);
    }
    // bpf_object__relocate, then bpf_object__load_progs
    let linked = match relocate(obj, &map_fds) {
        Ok(l) => l,
        Err(e) => return u.fail(LoadFailure::Object(e)),
    };
    for p in linked {
        let mut a = ProgLoadAttr::new(p.prog_type, &p.insns)
            .name(&kname(&p.name))
            .license(&obj.license)
            .attach_type(p.expected_attach_type)
            .flags(p.prog_flags);
        if let (Some(bfd), Some(ext)) = (btf_fd, &obj.btf_ext) {
            let (fi, fcnt) = ext_records(obj, &ext.func_info, &p.parts);
            let (li, lcnt) = ext_records(obj, &ext.line_info, &p.parts);
            if fcnt > 0 || lcnt > 0 {
                a.prog_btf_fd = bfd as u32;
            }
            if fcnt > 0 {
                a.func_info = fi;
                a.func_info_cnt = fcnt;
                a.func_info_rec_size = ext.func_info.record_size;
            }
            if lcnt > 0 {
                a.line_info = li;
                a.line_info_cnt = lcnt;
                a.line_info_rec_size = ext.line_info.record_size;
            }
        }
        match u.sys.prog_load(&a) {
            Ok(fd) => {
                u.fds.push(fd);
                loaded.progs.push(LoadedProg {
                    name: p.name,
                    section: p.section,
                    fd,
                });
            }
            Err(errno) => {
                return u.fail(LoadFailure::Prog {
                    name: p.name,
                    errno,
                });
            }
        }
    }
    // bpf_object__init_prog_arrays
    let by_prog = |t: &SlotTarget| match t {
        SlotTarget::Prog(n) => Some(
            loaded
                .progs
                .iter()
                .find(|x| &x.name == n)
                .map(|x| x.fd)
                .ok_or(format!("no program '{n}'")),
        ),
        SlotTarget::Map(_) => None,
    };
    if let Err(f) = fill_slots(obj, &map_fds, &mut *u.sys, by_prog) {
        return u.fail(f);
    }
    // bpf_object__close frees the object's BTF: its fd goes; maps and programs keep the BTF.
    if let Some(fd) = btf_fd {
        let _ = u.sys.close(fd);
    }
    Ok(loaded)
}

/// Map types libbpf creates without BTF type ids (`bpf_object__create_map`).
const NO_BTF_TYPES: [u32; 14] = [4, 8, 7, 12, 13, 14, 25, 16, 17, 15, 18, 22, 23, 33];

/// `reloc_prog_func_and_line_info` / `adjust_prog_btf_ext_info`: the records of each part of
/// a linked program (its ELF section's records inside the function), `insn_off` turned from
/// section bytes into instructions of the linked program. Returns the bytes and the count.
fn ext_records(
    obj: &Object,
    info: &super::btf_ext::ExtInfo,
    parts: &[(usize, usize)],
) -> (Vec<u8>, u32) {
    let (mut out, mut n) = (Vec::new(), 0u32);
    let rec = info.record_size as usize;
    let Some(btf) = &obj.btf else {
        return (out, 0);
    };
    for &(pi, at) in parts {
        let p = &obj.programs[pi];
        let sec_name = obj.section_names.get(p.section).map_or("", String::as_str);
        for s in &info.sections {
            if btf.name(s.name_off) != sec_name || rec < 4 {
                continue;
            }
            for r in s.data.chunks_exact(rec) {
                let off = u32::from_le_bytes(r[..4].try_into().expect("4")) as usize / 8;
                if off < p.insn_offset || off >= p.insn_offset + p.insns.len() {
                    continue;
                }
                let new = (off - p.insn_offset + at) as u32;
                out.extend_from_slice(&new.to_le_bytes());
                out.extend_from_slice(&r[4..]);
                n += 1;
            }
        }
    }
    (out, n)
}

/// Put the fd of each `.values` slot target `resolve` knows (it answers `None` for targets of
/// the other kind) into its map's slot.
fn fill_slots(
    obj: &Object,
    map_fds: &[i32],
    sys: &mut dyn LoadSys,
    resolve: impl Fn(&SlotTarget) -> Option<Result<i32, String>>,
) -> Result<(), LoadFailure> {
    for (m, &map_fd) in obj.maps.iter().zip(map_fds) {
        for (slot, target) in m.init_slots.iter().enumerate() {
            let Some(found) = target.as_ref().and_then(&resolve) else {
                continue;
            };
            let err = |step: String, errno| LoadFailure::Map {
                name: m.name.clone(),
                step,
                errno,
            };
            let fd = found.map_err(|why| err(format!("slot {slot} ({why})"), Errno::EINVAL))?;
            sys.map_update(map_fd, &(slot as u32).to_le_bytes(), &fd.to_le_bytes(), 0)
                .map_err(|e| err(format!("slot {slot}"), e))?;
        }
    }
    Ok(())
}

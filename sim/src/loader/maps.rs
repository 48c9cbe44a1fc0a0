//! Map definitions as libbpf reads them at open: legacy `SEC("maps")` records
//! (`bpf_object__init_user_maps`, libbpf ≤ 0.8), BTF-defined `SEC(".maps")` variables
//! (`bpf_object__init_user_btf_map`, `parse_btf_map_def`) and internal maps for global
//! data (`bpf_object__init_internal_map`, `internal_map_name`, `map_is_mmapable`).

use super::btf::{self, Btf, Extra, kind};
use super::elf::{Elf, STB_LOCAL, STT_SECTION, Section};
use super::error::{LoadError, MapProblem, Place};
use crate::uapi::flags::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};
use crate::uapi::map_type;

/// `BPF_OBJ_NAME_LEN`.
pub const BPF_OBJ_NAME_LEN: usize = 16;
/// `sizeof(struct bpf_map_def)` of libbpf 0.x: five `unsigned int`s.
pub const LEGACY_DEF_SIZE: usize = 20;
/// `LIBBPF_PIN_BY_NAME`.
pub const PIN_BY_NAME: u32 = 1;

/// The attributes `BPF_MAP_CREATE` needs (`struct btf_map_def` / `struct bpf_map_def`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapDef {
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
    /// `numa_node`.
    pub numa_node: u32,
    /// `map_extra`.
    pub map_extra: u64,
    /// `pinning` (`LIBBPF_PIN_NONE` 0 or `LIBBPF_PIN_BY_NAME` 1).
    pub pinning: u32,
    /// BTF id of the key type (`__type(key, T)`), 0 when none.
    pub btf_key_type_id: u32,
    /// BTF id of the value type (`__type(value, T)`; internal maps: the DATASEC), 0 when none.
    pub btf_value_type_id: u32,
}

/// Where a map definition came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// A record in the legacy `maps` section.
    Legacy,
    /// A variable in `.maps`.
    Btf,
    /// `.data`, `.data.*`.
    Data,
    /// `.rodata`, `.rodata.*` (`BPF_F_RDONLY_PROG`, frozen after its initial image).
    Rodata,
    /// `.bss`, `.bss.*` (initial image all zeroes).
    Bss,
}

impl MapKind {
    /// Whether the map holds global data (libbpf's `bpf_map__is_internal`).
    pub fn is_internal(self) -> bool {
        matches!(self, MapKind::Data | MapKind::Rodata | MapKind::Bss)
    }
}

/// What a `.values` slot initializer points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotTarget {
    /// A BTF-defined map, by name (map-in-map).
    Map(String),
    /// An entry program, by function name (prog_array).
    Prog(String),
}

/// One map of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map {
    /// libbpf's `map->name`: the variable/symbol name, or the internal map name.
    pub name: String,
    /// Where it came from.
    pub kind: MapKind,
    /// ELF section holding the definition (internal maps: the data section).
    pub section: usize,
    /// Offset of the definition in that section (internal maps: 0).
    pub section_offset: u64,
    /// Internal maps: the ELF section name (`map->real_name`); otherwise the name.
    pub real_name: String,
    /// The definition.
    pub def: MapDef,
    /// `__array(values, struct inner)`: the inner map definition (named `<name>.inner`).
    pub inner: Option<MapDef>,
    /// `.values = { ... }` initializers by slot; `None` for slots left empty.
    pub init_slots: Vec<Option<SlotTarget>>,
    /// `.data*`/`.rodata*` maps: the initial value image (the section's bytes). Empty for
    /// other maps and for `.bss*`, whose image is `value_size` zeroes
    /// ([`Map::initial_value`]).
    pub data: Vec<u8>,
    /// Index of this map's variable in the `.maps` DATASEC (BTF maps only).
    pub(crate) btf_var_idx: usize,
}

impl Map {
    /// The value libbpf writes at key 0 after creating an internal map
    /// (`bpf_object__populate_internal_map`): the section's bytes, zeroes for `.bss*`.
    /// `None` for maps that are not internal.
    pub fn initial_value(&self) -> Option<Vec<u8>> {
        match self.kind {
            MapKind::Data | MapKind::Rodata => Some(self.data.clone()),
            MapKind::Bss => Some(vec![0; self.def.value_size as usize]),
            MapKind::Legacy | MapKind::Btf => None,
        }
    }
}

/// libbpf's object name: the basename up to the first `.`, at most 15 bytes
/// (`bpf_object__new`). Truncation is by bytes, as `libbpf_strlcpy` does.
pub fn object_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let bytes = base.as_bytes();
    let bytes = &bytes[..bytes.len().min(BPF_OBJ_NAME_LEN - 1)];
    let bytes = match bytes.iter().position(|&b| b == b'.') {
        Some(dot) => &bytes[..dot],
        None => bytes,
    };
    String::from_utf8_lossy(bytes).into_owned()
}

/// libbpf's `internal_map_name`: up to `16 - max(7, len(section)) - 1` bytes of the object
/// name, then the section name (at most 15 bytes); no prefix when the section name has a
/// second `.`; bytes other than `[A-Za-z0-9_.]` become `_`.
pub fn internal_map_name(obj_name: &str, sec_name: &str) -> String {
    let sec = sec_name.as_bytes();
    let sfx_len = sec.len().clamp(7, BPF_OBJ_NAME_LEN - 1);
    let pfx_len = if sec.len() > 1 && sec[1..].contains(&b'.') {
        0
    } else {
        (BPF_OBJ_NAME_LEN - sfx_len - 1).min(obj_name.len())
    };
    let mut name: Vec<u8> = obj_name.as_bytes()[..pfx_len].to_vec();
    name.extend_from_slice(&sec[..sec.len().min(sfx_len)]);
    name.truncate(BPF_OBJ_NAME_LEN - 1);
    for b in &mut name {
        if !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.') {
            *b = b'_';
        }
    }
    String::from_utf8_lossy(&name).into_owned()
}

fn map_err(sec: &Section<'_>, offset: u64, map: &str, problem: MapProblem) -> LoadError {
    LoadError::Map {
        at: sec.place(offset),
        map: map.to_owned(),
        problem,
    }
}

/// Legacy `maps` records (libbpf 0.8 `bpf_object__init_user_maps`): one per non-section
/// symbol in the section, each `size / count` bytes; records shorter than
/// `struct bpf_map_def` are zero-extended, longer ones must have zero extra bytes.
pub fn legacy_maps(elf: &Elf<'_>, sec: &Section<'_>) -> Result<Vec<Map>, LoadError> {
    let data = sec.data()?;
    let in_sec =
        |s: &&super::elf::Symbol| s.shndx as usize == sec.index && s.st_type != STT_SECTION;
    let count = elf.symbols.iter().filter(in_sec).count() as u64;
    let size = data.len() as u64;
    if size == 0 || count == 0 || size % count != 0 {
        let problem = MapProblem::LegacyRecordSize {
            size,
            symbols: count,
        };
        return Err(map_err(sec, 0, "", problem));
    }
    let def_sz = size / count;
    let mut maps = Vec::new();
    for sym in elf.symbols.iter().filter(in_sec) {
        let name = sym.name.clone().ok_or(LoadError::StringOffset {
            at: Place::sec(elf.symtab, "", sym.index as u64 * 24),
            offset: sym.name_off,
        })?;
        if sym.bind == STB_LOCAL {
            return Err(map_err(sec, sym.value, &name, MapProblem::LegacyStatic));
        }
        let rec = sym
            .value
            .checked_add(def_sz)
            .filter(|&end| end <= size)
            .map(|end| &data[sym.value as usize..end as usize])
            .ok_or_else(|| map_err(sec, sym.value, &name, MapProblem::LegacyOutOfSection))?;
        let mut raw = [0u8; LEGACY_DEF_SIZE];
        let n = rec.len().min(LEGACY_DEF_SIZE);
        raw[..n].copy_from_slice(&rec[..n]);
        if rec[n..].iter().any(|&b| b != 0) {
            return Err(map_err(sec, sym.value, &name, MapProblem::LegacyExtraBytes));
        }
        let w = |i: usize| {
            u32::from_le_bytes([raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]])
        };
        let def = MapDef {
            map_type: w(0),
            key_size: w(1),
            value_size: w(2),
            max_entries: w(3),
            map_flags: w(4),
            ..MapDef::default()
        };
        maps.push(Map {
            real_name: name.clone(),
            name,
            kind: MapKind::Legacy,
            section: sec.index,
            section_offset: sym.value,
            def,
            inner: None,
            init_slots: Vec::new(),
            data: Vec::new(),
            btf_var_idx: 0,
        });
    }
    Ok(maps)
}

/// BTF-defined maps: every variable of the `.maps` DATASEC (`datasec_id`), in DATASEC
/// order (sorted by offset by the fixup).
pub fn btf_maps(btf: &Btf, datasec_id: u32, sec: &Section<'_>) -> Result<Vec<Map>, LoadError> {
    let datasec = btf
        .type_by_id(datasec_id)
        .ok_or(LoadError::MissingMapsDatasec)?;
    // The section's bytes, not `sh_size`: a NOBITS `.maps` has none to hold definitions.
    let sec_size = sec.data()?.len() as u64;
    let mut maps = Vec::new();
    for (idx, vi) in datasec.members().iter().enumerate() {
        let var = btf.type_by_id(vi.type_id);
        let name = var.map(|v| btf.name(v.name_off)).unwrap_or_default();
        let err = |p| map_err(sec, u64::from(vi.offset), &name, p);
        if name.is_empty() {
            return Err(err(MapProblem::EmptyName));
        }
        if u64::from(vi.offset) + u64::from(vi.size) > sec_size {
            return Err(err(MapProblem::OutOfSection));
        }
        let var = var
            .filter(|v| v.kind == kind::VAR)
            .ok_or_else(|| err(MapProblem::NotVar))?;
        let linkage = match var.extra {
            Extra::Word(l) => l,
            _ => btf::VAR_STATIC,
        };
        if linkage != btf::VAR_GLOBAL_ALLOCATED {
            return Err(err(MapProblem::Linkage(linkage)));
        }
        let def_id = skip(btf, var.size_or_type, sec)?;
        let def_t = btf
            .type_by_id(def_id)
            .filter(|t| t.kind == kind::STRUCT && t.size_or_type <= vi.size)
            .ok_or_else(|| err(MapProblem::NotStruct))?;
        let (def, inner) = parse_btf_map_def(btf, def_t, true, &name, sec, vi.offset)?;
        maps.push(Map {
            real_name: name.clone(),
            name,
            kind: MapKind::Btf,
            section: sec.index,
            section_offset: u64::from(vi.offset),
            def,
            inner,
            init_slots: Vec::new(),
            data: Vec::new(),
            btf_var_idx: idx,
        });
    }
    Ok(maps)
}

fn skip(btf: &Btf, id: u32, sec: &Section<'_>) -> Result<u32, LoadError> {
    btf.skip_mods_and_typedefs(id)
        .map_err(|problem| LoadError::Btf {
            at: sec.place(0),
            problem,
        })
}

/// `get_map_field_int`: the member's type (after modifiers) must be a pointer to an array;
/// the value is the array's element count.
fn field_int(btf: &Btf, member_type: u32) -> Option<u32> {
    let ptr = btf.type_by_id(btf.skip_mods_and_typedefs(member_type).ok()?)?;
    if ptr.kind != kind::PTR {
        return None;
    }
    match btf.type_by_id(ptr.size_or_type)? {
        btf::Type {
            kind: kind::ARRAY,
            extra: Extra::Array { nelems, .. },
            ..
        } => Some(*nelems),
        _ => None,
    }
}

/// `get_map_field_long`: `__uint()` or a one-value enum (`__ulong()`).
fn field_long(btf: &Btf, member_type: u32) -> Option<u64> {
    let t = btf.type_by_id(btf.skip_mods_and_typedefs(member_type).ok()?)?;
    if t.kind == kind::PTR {
        return field_int(btf, member_type).map(u64::from);
    }
    match (&t.extra, t.kind) {
        (Extra::Enum(vals), kind::ENUM | kind::ENUM64) if vals.len() == 1 => Some(vals[0].1 as u64),
        _ => None,
    }
}

/// `__type(key, T)`: a pointer to T; returns (T's id, sizeof(T)).
fn field_type(btf: &Btf, member_type: u32) -> Option<Result<(u32, u32), btf::Type>> {
    let t = btf.type_by_id(member_type)?;
    if t.kind != kind::PTR {
        return Some(Err(t.clone()));
    }
    btf.resolve_size(t.size_or_type)
        .ok()
        .map(|sz| Ok((t.size_or_type, sz)))
}

/// `parse_btf_map_def`, strict (unknown members are errors). `outer` is true for a map's
/// own definition, false for the `values` inner definition.
fn parse_btf_map_def(
    btf: &Btf,
    def_t: &btf::Type,
    outer: bool,
    name: &str,
    sec: &Section<'_>,
    offset: u32,
) -> Result<(MapDef, Option<MapDef>), LoadError> {
    let err = |p| map_err(sec, u64::from(offset), name, p);
    let mut def = MapDef::default();
    let mut inner = None;
    let members = def_t.members();
    for (i, m) in members.iter().enumerate() {
        let field = btf.name(m.name_off);
        let int = || {
            field_int(btf, m.type_id).ok_or_else(|| err(MapProblem::NotPtrToArray(field.clone())))
        };
        match field.as_str() {
            "type" => def.map_type = int()?,
            "max_entries" => def.max_entries = int()?,
            "map_flags" => def.map_flags = int()?,
            "numa_node" => def.numa_node = int()?,
            "key_size" | "value_size" => {
                let sz = int()?;
                let slot = if field == "key_size" {
                    &mut def.key_size
                } else {
                    &mut def.value_size
                };
                if *slot != 0 && *slot != sz {
                    return Err(err(MapProblem::ConflictingSize(field)));
                }
                *slot = sz;
            }
            "key" | "value" => {
                let (id, sz) = match field_type(btf, m.type_id) {
                    Some(Ok(v)) => v,
                    _ => return Err(err(MapProblem::NotPtr(field))),
                };
                let (slot, tid) = if field == "key" {
                    (&mut def.key_size, &mut def.btf_key_type_id)
                } else {
                    (&mut def.value_size, &mut def.btf_value_type_id)
                };
                if *slot != 0 && *slot != sz {
                    return Err(err(MapProblem::ConflictingSize(field)));
                }
                *slot = sz;
                *tid = id;
            }
            "values" => {
                inner = parse_values(
                    btf,
                    &mut def,
                    m.type_id,
                    i + 1 == members.len(),
                    outer,
                    name,
                    sec,
                    offset,
                )?
            }
            "pinning" => {
                if !outer {
                    return Err(err(MapProblem::BadPinning));
                }
                let v = int()?;
                if v > PIN_BY_NAME {
                    return Err(err(MapProblem::BadPinning));
                }
                def.pinning = v;
            }
            "map_extra" => {
                def.map_extra = field_long(btf, m.type_id)
                    .ok_or_else(|| err(MapProblem::BadLong(field.clone())))?
            }
            _ => return Err(err(MapProblem::UnknownField(field))),
        }
    }
    if def.map_type == map_type::UNSPEC {
        return Err(err(MapProblem::NoType));
    }
    Ok((def, inner))
}

/// The `values` member: a zero-sized array of pointers to an inner map definition
/// (map-in-map) or to a function prototype (prog_array). Sets value_size to 4.
#[allow(clippy::too_many_arguments)]
fn parse_values(
    btf: &Btf,
    def: &mut MapDef,
    member_type: u32,
    last: bool,
    outer: bool,
    name: &str,
    sec: &Section<'_>,
    offset: u32,
) -> Result<Option<MapDef>, LoadError> {
    let err = |p| map_err(sec, u64::from(offset), name, p);
    let is_map_in_map = matches!(
        def.map_type,
        map_type::ARRAY_OF_MAPS | map_type::HASH_OF_MAPS
    );
    let is_prog_array = def.map_type == map_type::PROG_ARRAY;
    if !outer {
        return Err(err(MapProblem::NestedInner));
    }
    if !last {
        return Err(err(MapProblem::ValuesNotLast));
    }
    if !is_map_in_map && !is_prog_array {
        return Err(err(MapProblem::ValuesWrongType));
    }
    if def.value_size != 0 && def.value_size != 4 {
        return Err(err(MapProblem::ConflictingSize("values".into())));
    }
    def.value_size = 4;
    let elem = match btf.type_by_id(member_type) {
        Some(btf::Type {
            kind: kind::ARRAY,
            extra: Extra::Array {
                elem, nelems: 0, ..
            },
            ..
        }) => *elem,
        _ => return Err(err(MapProblem::BadValues)),
    };
    let ptr = btf
        .type_by_id(skip(btf, elem, sec)?)
        .filter(|t| t.kind == kind::PTR);
    let ptr = ptr.ok_or_else(|| err(MapProblem::BadValues))?;
    let target_id = skip(btf, ptr.size_or_type, sec)?;
    let target = btf
        .type_by_id(target_id)
        .ok_or_else(|| err(MapProblem::BadValues))?;
    if is_prog_array {
        return if target.kind == kind::FUNC_PROTO {
            Ok(None)
        } else {
            Err(err(MapProblem::BadValues))
        };
    }
    if target.kind != kind::STRUCT {
        return Err(err(MapProblem::BadValues));
    }
    let inner_name = format!("{name}.inner");
    let (inner, _) = parse_btf_map_def(btf, target, false, &inner_name, sec, offset)?;
    Ok(Some(inner))
}

/// An internal map for data section `sec` (`bpf_object__init_internal_map`). `btf` decides
/// `BPF_F_MMAPABLE`: set when the BTF type named like the section is a DATASEC with a
/// non-static variable (`map_is_mmapable`, libbpf ≥ 1.0; 0.x always set it).
pub fn internal_map(
    obj_name: &str,
    sec: &Section<'_>,
    kind: MapKind,
    btf: Option<&Btf>,
) -> Result<Map, LoadError> {
    // `.bss` has no bytes in the file; its image (zeroes) is not materialized here, so a
    // huge `sh_size` costs nothing until a kernel accepts the map.
    let (data, size) = match kind {
        MapKind::Bss => (Vec::new(), sec.size),
        _ => {
            let d = sec.data()?.to_vec();
            let n = d.len() as u64;
            (d, n)
        }
    };
    let value_size = u32::try_from(size).map_err(|_| LoadError::SectionData(sec.place(0)))?;
    let mut flags = if kind == MapKind::Rodata {
        BPF_F_RDONLY_PROG
    } else {
        0
    };
    let value_type = btf.and_then(|b| b.find_by_name(&sec.name).map(|id| (b, id)));
    if let Some((b, id)) = value_type {
        let t = b.type_by_id(id);
        let mmapable = t.filter(|t| t.kind == kind::DATASEC).is_some_and(|t| {
            t.members().iter().any(|vi| {
                b.type_by_id(vi.type_id)
                    .is_some_and(|v| v.kind == kind::VAR && v.extra != Extra::Word(btf::VAR_STATIC))
            })
        });
        if mmapable {
            flags |= BPF_F_MMAPABLE;
        }
    }
    Ok(Map {
        name: internal_map_name(obj_name, &sec.name),
        kind,
        section: sec.index,
        section_offset: 0,
        real_name: sec.name.clone(),
        def: MapDef {
            map_type: map_type::ARRAY,
            key_size: 4,
            value_size,
            max_entries: 1,
            map_flags: flags,
            btf_value_type_id: value_type.map_or(0, |(_, id)| id),
            ..MapDef::default()
        },
        inner: None,
        init_slots: Vec::new(),
        data,
        btf_var_idx: 0,
    })
}

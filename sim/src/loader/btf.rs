//! `.BTF`: the type graph as far as the loader needs it, parsed and validated the way
//! libbpf's `btf__new` does (`btf_parse_hdr`, `btf_parse_str_sec`, `btf_parse_type_sec`,
//! `btf_sanity_check` in `src/btf.c`).
//!
//! Every kind up to `ENUM64` (19) is decoded with its record size; kinds past that are
//! skipped using the optional layout section (`struct btf_layout { info_sz, elem_sz,
//! flags }` per kind) when the header has one, and rejected otherwise. Type ids and string
//! offsets referenced by a type are checked once, at parse time, so lookups afterwards only
//! fail on cycles, which libbpf bounds with `MAX_RESOLVE_DEPTH` (32).

use super::error::BtfProblem;

/// `BTF_MAGIC`.
pub const BTF_MAGIC: u16 = 0xeb9f;
/// libbpf's `MAX_RESOLVE_DEPTH`: how many `type` links a lookup follows.
pub const MAX_RESOLVE_DEPTH: usize = 32;
/// `sizeof(struct btf_header)` without the layout fields.
const HDR_BASE: usize = 24;
/// `sizeof(struct btf_type)`.
const TYPE_BASE: usize = 12;
/// `BTF_MAX_STR_OFFSET` in libbpf.
const MAX_STR_OFFSET: u32 = 0x7fff_ffff;

/// `BTF_KIND_*`.
#[allow(missing_docs)]
pub mod kind {
    pub const UNKN: u8 = 0;
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

/// `BTF_VAR_STATIC`.
pub const VAR_STATIC: u32 = 0;
/// `BTF_VAR_GLOBAL_ALLOCATED`.
pub const VAR_GLOBAL_ALLOCATED: u32 = 1;
/// `BTF_VAR_GLOBAL_EXTERN`.
pub const VAR_GLOBAL_EXTERN: u32 = 2;

/// A struct/union member, func_proto parameter (`offset` 0) or datasec entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Member/parameter name offset (datasec entries: 0).
    pub name_off: u32,
    /// Member/parameter/variable type id.
    pub type_id: u32,
    /// Member: bit offset (with the bitfield size in the top byte when `kind_flag`);
    /// datasec entry: byte offset in the section.
    pub offset: u32,
    /// Datasec entry: variable size; otherwise 0.
    pub size: u32,
}

/// Kind-specific data after `struct btf_type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extra {
    /// Nothing (PTR, FWD, TYPEDEF, modifiers, FUNC, FLOAT, TYPE_TAG, skipped kinds).
    None,
    /// INT's encoding word; VAR's linkage; DECL_TAG's component index.
    Word(u32),
    /// ARRAY.
    Array {
        /// Element type.
        elem: u32,
        /// Index type.
        index: u32,
        /// Number of elements.
        nelems: u32,
    },
    /// STRUCT/UNION members, FUNC_PROTO parameters, DATASEC variables.
    Members(Vec<Member>),
    /// ENUM/ENUM64 values (name offset, value).
    Enum(Vec<(u32, i64)>),
}

/// One type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type {
    /// `name_off`.
    pub name_off: u32,
    /// `BTF_INFO_KIND(info)` (7 bits).
    pub kind: u8,
    /// `BTF_INFO_VLEN(info)`.
    pub vlen: u32,
    /// `BTF_INFO_KFLAG(info)`.
    pub kflag: bool,
    /// `size` or `type`, depending on the kind.
    pub size_or_type: u32,
    /// The rest.
    pub extra: Extra,
}

impl Type {
    /// Members, parameters or datasec entries (empty for other kinds).
    pub fn members(&self) -> &[Member] {
        match &self.extra {
            Extra::Members(m) => m,
            _ => &[],
        }
    }
}

/// A parsed `.BTF` section: types by id (id 0 is `void`, not stored) and strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
}

/// A BTF error with the byte offset inside the `.BTF` section.
pub type BtfResult<T> = Result<T, (u64, BtfProblem)>;

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn range(base: usize, off: u32, len: u32) -> Option<std::ops::Range<usize>> {
    let start = base.checked_add(off as usize)?;
    Some(start..start.checked_add(len as usize)?)
}

impl Btf {
    /// Parses and validates `.BTF` bytes. Errors carry the offset inside the section.
    pub fn parse(data: &[u8]) -> BtfResult<Btf> {
        let bad = |off: usize, p: BtfProblem| (off as u64, p);
        if data.len() < HDR_BASE {
            return Err(bad(0, BtfProblem::Header));
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic != BTF_MAGIC {
            return Err(bad(0, BtfProblem::Magic(magic)));
        }
        // libbpf does not check the version; the kernel does (`btf_parse_hdr`), so an
        // object with another version could never have its BTF loaded.
        if data[2] != 1 {
            return Err(bad(2, BtfProblem::Version(data[2])));
        }
        let hdr_len = u32_at(data, 4).unwrap_or(0) as usize;
        if hdr_len < HDR_BASE || hdr_len > data.len() {
            return Err(bad(4, BtfProblem::Header));
        }
        let field = |i: usize| {
            if 8 + 4 * i + 4 <= hdr_len {
                u32_at(data, 8 + 4 * i)
            } else {
                None
            }
        };
        let (type_off, type_len) = (field(0).unwrap_or(0), field(1).unwrap_or(0));
        let (str_off, str_len) = (field(2).unwrap_or(0), field(3).unwrap_or(0));
        let (layout_off, layout_len) = (field(4).unwrap_or(0), field(5).unwrap_or(0));
        let meta_left = (data.len() - hdr_len) as u64;
        if u64::from(str_off) + u64::from(str_len) > meta_left
            || u64::from(type_off) + u64::from(type_len) > u64::from(str_off)
            || type_off % 4 != 0
        {
            return Err(bad(8, BtfProblem::Layout));
        }
        let layout = if layout_len == 0 {
            &[][..]
        } else {
            if layout_off % 4 != 0
                || u64::from(layout_off) < u64::from(type_off) + u64::from(type_len)
                || u64::from(layout_off) + u64::from(layout_len) > u64::from(str_off)
                || layout_len % 4 != 0
            {
                return Err(bad(24, BtfProblem::Layout));
            }
            range(hdr_len, layout_off, layout_len)
                .and_then(|r| data.get(r))
                .ok_or(bad(24, BtfProblem::Layout))?
        };
        let str_range = range(hdr_len, str_off, str_len).ok_or(bad(16, BtfProblem::Layout))?;
        let str_start = str_range.start;
        let strings = data.get(str_range).ok_or(bad(16, BtfProblem::Layout))?;
        if strings.is_empty()
            || str_len - 1 > MAX_STR_OFFSET
            || strings[0] != 0
            || strings[strings.len() - 1] != 0
        {
            return Err(bad(str_start, BtfProblem::Strings));
        }
        let types_range = range(hdr_len, type_off, type_len).ok_or(bad(8, BtfProblem::Layout))?;
        let types_base = types_range.start;
        let types_data = data.get(types_range).ok_or(bad(8, BtfProblem::Layout))?;
        let (types, offsets) =
            parse_types(types_data, layout).map_err(|(o, p)| (o + types_base as u64, p))?;
        let btf = Btf {
            types,
            strings: strings.to_vec(),
        };
        btf.sanity_check(&offsets, types_base)?;
        Ok(btf)
    }

    /// The raw bytes libbpf hands `BPF_BTF_LOAD` (`btf__raw_data` of a modified BTF): a
    /// 24-byte header, the types as they are now (after the DATASEC fixups), the strings.
    /// `None` when a type's kind cannot be written back (kinds past `ENUM64`).
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        let mut t = Vec::new();
        let w = |t: &mut Vec<u8>, v: u32| t.extend_from_slice(&v.to_le_bytes());
        for ty in &self.types {
            if ty.kind == kind::UNKN || ty.kind > kind::ENUM64 {
                return None;
            }
            w(&mut t, ty.name_off);
            w(
                &mut t,
                (u32::from(ty.kflag) << 31) | (u32::from(ty.kind) << 24) | ty.vlen,
            );
            w(&mut t, ty.size_or_type);
            match (&ty.extra, ty.kind) {
                (Extra::Word(v), _) => w(&mut t, *v),
                (
                    Extra::Array {
                        elem,
                        index,
                        nelems,
                    },
                    _,
                ) => {
                    w(&mut t, *elem);
                    w(&mut t, *index);
                    w(&mut t, *nelems);
                }
                (Extra::Members(ms), kind::DATASEC) => {
                    for m in ms {
                        w(&mut t, m.type_id);
                        w(&mut t, m.offset);
                        w(&mut t, m.size);
                    }
                }
                (Extra::Members(ms), kind::FUNC_PROTO) => {
                    for m in ms {
                        w(&mut t, m.name_off);
                        w(&mut t, m.type_id);
                    }
                }
                (Extra::Members(ms), _) => {
                    for m in ms {
                        w(&mut t, m.name_off);
                        w(&mut t, m.type_id);
                        w(&mut t, m.offset);
                    }
                }
                (Extra::Enum(vs), kind::ENUM64) => {
                    for (n, v) in vs {
                        w(&mut t, *n);
                        w(&mut t, *v as u64 as u32);
                        w(&mut t, (*v as u64 >> 32) as u32);
                    }
                }
                (Extra::Enum(vs), _) => {
                    for (n, v) in vs {
                        w(&mut t, *n);
                        w(&mut t, *v as i32 as u32);
                    }
                }
                (Extra::None, _) => {}
            }
        }
        let mut out = Vec::with_capacity(HDR_BASE + t.len() + self.strings.len());
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for v in [
            HDR_BASE as u32,
            0,
            t.len() as u32,
            t.len() as u32,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&t);
        out.extend_from_slice(&self.strings);
        Some(out)
    }

    /// Number of type ids including `void` (`btf__type_cnt`).
    pub fn type_cnt(&self) -> u32 {
        self.types.len() as u32 + 1
    }

    /// The type with id `id` (`None` for `void` and ids past the end).
    pub fn type_by_id(&self, id: u32) -> Option<&Type> {
        self.types.get((id as usize).checked_sub(1)?)
    }

    /// Mutable access, for libbpf's DATASEC fixups.
    pub fn type_by_id_mut(&mut self, id: u32) -> Option<&mut Type> {
        self.types.get_mut((id as usize).checked_sub(1)?)
    }

    /// The NUL-terminated string at `off` (`btf__str_by_offset`).
    pub fn str_at(&self, off: u32) -> Option<&[u8]> {
        let rest = self.strings.get(off as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..end])
    }

    /// The string at `off` as text (lossy), `""` when out of range.
    pub fn name(&self, off: u32) -> String {
        String::from_utf8_lossy(self.str_at(off).unwrap_or_default()).into_owned()
    }

    /// First type id whose name is `name` (`btf__find_by_name`).
    pub fn find_by_name(&self, name: &str) -> Option<u32> {
        (1..self.type_cnt()).find(|&id| {
            self.type_by_id(id).and_then(|t| self.str_at(t.name_off)) == Some(name.as_bytes())
        })
    }

    /// Follows modifiers and typedefs (`skip_mods_and_typedefs`); returns the id reached,
    /// which may be 0 (`void`). A chain longer than [`MAX_RESOLVE_DEPTH`] is a cycle.
    pub fn skip_mods_and_typedefs(&self, id: u32) -> Result<u32, BtfProblem> {
        let mut id = id;
        for _ in 0..MAX_RESOLVE_DEPTH {
            match self.type_by_id(id) {
                Some(t)
                    if matches!(
                        t.kind,
                        kind::TYPEDEF
                            | kind::VOLATILE
                            | kind::CONST
                            | kind::RESTRICT
                            | kind::TYPE_TAG
                    ) =>
                {
                    id = t.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(BtfProblem::Cycle(id))
    }

    /// Size in bytes of type `id` (`btf__resolve_size`, pointers are 8 bytes).
    pub fn resolve_size(&self, id: u32) -> Result<u32, BtfProblem> {
        let start = id;
        let mut id = id;
        let mut nelems: u32 = 1;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = match self.type_by_id(id) {
                Some(t) if t.kind != kind::UNKN => t,
                _ => return Err(BtfProblem::Size(start)),
            };
            let size = match t.kind {
                kind::INT
                | kind::STRUCT
                | kind::UNION
                | kind::ENUM
                | kind::ENUM64
                | kind::DATASEC
                | kind::FLOAT => t.size_or_type,
                kind::PTR => 8,
                kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT
                | kind::VAR
                | kind::DECL_TAG
                | kind::TYPE_TAG => {
                    id = t.size_or_type;
                    continue;
                }
                kind::ARRAY => {
                    let Extra::Array {
                        elem, nelems: n, ..
                    } = t.extra
                    else {
                        return Err(BtfProblem::Size(start));
                    };
                    nelems = nelems.checked_mul(n).ok_or(BtfProblem::Size(start))?;
                    id = elem;
                    continue;
                }
                _ => return Err(BtfProblem::Size(start)),
            };
            return size.checked_mul(nelems).ok_or(BtfProblem::Size(start));
        }
        Err(BtfProblem::Cycle(start))
    }

    /// Checks every referenced string offset and type id (`btf_sanity_check`). `offsets`
    /// holds each type's offset in the type section, for error places.
    fn sanity_check(&self, offsets: &[usize], base: usize) -> BtfResult<()> {
        let n = self.type_cnt();
        for (i, t) in self.types.iter().enumerate() {
            let id = i as u32 + 1;
            let at = (base + offsets.get(i).copied().unwrap_or(0)) as u64;
            let str_ok = |off: u32| {
                if (off as usize) < self.strings.len() {
                    Ok(())
                } else {
                    Err((at, BtfProblem::StringOffset(off)))
                }
            };
            let id_ok = |r: u32| {
                if r < n {
                    Ok(())
                } else {
                    Err((at, BtfProblem::TypeId(r)))
                }
            };
            str_ok(t.name_off)?;
            match t.kind {
                kind::PTR
                | kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT
                | kind::VAR
                | kind::DECL_TAG
                | kind::TYPE_TAG => id_ok(t.size_or_type)?,
                kind::FUNC => {
                    id_ok(t.size_or_type)?;
                    if self.type_by_id(t.size_or_type).map(|p| p.kind) != Some(kind::FUNC_PROTO) {
                        return Err((at, BtfProblem::FuncNotProto(id)));
                    }
                }
                _ => {}
            }
            match &t.extra {
                Extra::Array { elem, index, .. } => {
                    id_ok(*elem)?;
                    id_ok(*index)?;
                }
                Extra::Members(ms) => {
                    for m in ms {
                        if t.kind != kind::DATASEC {
                            str_ok(m.name_off)?;
                        }
                        id_ok(m.type_id)?;
                    }
                }
                Extra::Enum(vals) => {
                    for &(name_off, _) in vals {
                        str_ok(name_off)?;
                    }
                }
                Extra::None | Extra::Word(_) => {}
            }
        }
        Ok(())
    }
}

/// Record size of a known kind after `struct btf_type`, `None` for unknown kinds.
fn known_rest_size(kind: u8, vlen: usize) -> Option<usize> {
    Some(match kind {
        kind::FWD
        | kind::CONST
        | kind::VOLATILE
        | kind::RESTRICT
        | kind::PTR
        | kind::TYPEDEF
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => 0,
        kind::INT | kind::VAR | kind::DECL_TAG => 4,
        kind::ENUM | kind::FUNC_PROTO => vlen.checked_mul(8)?,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => vlen.checked_mul(12)?,
        _ => return None,
    })
}

/// Size of an unknown kind from the layout section (`btf_type_size_unknown`).
fn layout_rest_size(layout: &[u8], kind: u8, vlen: usize) -> Option<usize> {
    let l = layout.get(kind as usize * 4..kind as usize * 4 + 4)?;
    let (info_sz, elem_sz) = (l[0] as usize, l[1] as usize);
    if info_sz % 4 != 0 || elem_sz % 4 != 0 {
        return None;
    }
    info_sz.checked_add(vlen.checked_mul(elem_sz)?)
}

/// Walks the type section (`btf_parse_type_sec`). Offsets in errors are relative to it.
fn parse_types(data: &[u8], layout: &[u8]) -> BtfResult<(Vec<Type>, Vec<usize>)> {
    let mut types = Vec::new();
    let mut offsets = Vec::new();
    let mut off = 0usize;
    while off + TYPE_BASE <= data.len() {
        let w = |i: usize| u32_at(data, off + 4 * i).unwrap_or(0);
        let (name_off, info, size_or_type) = (w(0), w(1), w(2));
        let kind = ((info >> 24) & 0x7f) as u8;
        let vlen = (info & 0xff_ffff) as usize;
        let rest = match known_rest_size(kind, vlen) {
            Some(r) => r,
            None => layout_rest_size(layout, kind, vlen)
                .ok_or((off as u64, BtfProblem::UnknownKind(kind)))?,
        };
        let body_start = off + TYPE_BASE;
        let end = body_start
            .checked_add(rest)
            .filter(|&e| e <= data.len())
            .ok_or((off as u64, BtfProblem::TypeTruncated))?;
        let body = &data[body_start..end];
        let b = |i: usize| u32_at(body, 4 * i).unwrap_or(0);
        let extra = match kind {
            kind::INT | kind::VAR | kind::DECL_TAG => Extra::Word(b(0)),
            kind::ARRAY => Extra::Array {
                elem: b(0),
                index: b(1),
                nelems: b(2),
            },
            kind::STRUCT | kind::UNION => Extra::Members(
                (0..vlen)
                    .map(|i| Member {
                        name_off: b(3 * i),
                        type_id: b(3 * i + 1),
                        offset: b(3 * i + 2),
                        size: 0,
                    })
                    .collect(),
            ),
            kind::DATASEC => Extra::Members(
                (0..vlen)
                    .map(|i| Member {
                        name_off: 0,
                        type_id: b(3 * i),
                        offset: b(3 * i + 1),
                        size: b(3 * i + 2),
                    })
                    .collect(),
            ),
            kind::FUNC_PROTO => Extra::Members(
                (0..vlen)
                    .map(|i| Member {
                        name_off: b(2 * i),
                        type_id: b(2 * i + 1),
                        offset: 0,
                        size: 0,
                    })
                    .collect(),
            ),
            kind::ENUM => Extra::Enum(
                (0..vlen)
                    .map(|i| (b(2 * i), i64::from(b(2 * i + 1) as i32)))
                    .collect(),
            ),
            kind::ENUM64 => Extra::Enum(
                (0..vlen)
                    .map(|i| {
                        (
                            b(3 * i),
                            ((u64::from(b(3 * i + 2)) << 32) | u64::from(b(3 * i + 1))) as i64,
                        )
                    })
                    .collect(),
            ),
            _ => Extra::None,
        };
        types.push(Type {
            name_off,
            kind,
            vlen: vlen as u32,
            kflag: info >> 31 != 0,
            size_or_type,
            extra,
        });
        offsets.push(off);
        off = end;
    }
    if off != data.len() {
        return Err((off as u64, BtfProblem::TypeTruncated));
    }
    Ok((types, offsets))
}

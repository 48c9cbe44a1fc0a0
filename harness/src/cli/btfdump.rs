//! bpftool's `btf_dumper` (`btf_dumper.c`) for map keys and values: a key or value printed
//! through its BTF type into a [`JsonWriter`], as `map dump`/`map lookup` print them when
//! the map has BTF (`btf_value_type_id` set): in plain mode a pretty JSON writer of its own
//! (`is_plain_text`), with `-j` a `"formatted"` object next to the hex bytes.

use sim::loader::btf::{Btf, Extra, MAX_RESOLVE_DEPTH, kind};

use super::info::MapInfo;
use super::json::JsonWriter;

/// One dumper: the map's BTF and whether it prints for people (`is_plain_text`: pointers as
/// `%p`, 128-bit and bitfield numbers unquoted, a non-printable `char` as `0x%hhx`).
pub struct Dumper<'b> {
    /// The map's BTF.
    pub btf: &'b Btf,
    /// `is_plain_text`.
    pub plain: bool,
}

/// `len` bytes of `data` from `off`, zero past its end (the model never hands a short
/// buffer, but a malformed BTF may point past one).
fn take(data: &[u8], off: usize, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    if let Some(s) = data.get(off..) {
        let n = s.len().min(len);
        v[..n].copy_from_slice(&s[..n]);
    }
    v
}

fn le(b: &[u8]) -> u128 {
    b.iter()
        .rev()
        .fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
}

/// `btf_int128_print`.
fn int128(w: &mut JsonWriter, v: u128, plain: bool) {
    if plain {
        w.raw(&format!("{v:#x}"));
    } else {
        w.raw(&format!("\"{v:#x}\""));
    }
}

/// `btf_dumper_bitfield`: `nr_bits` bits from bit `bit_offset` of `data`.
fn bitfield(w: &mut JsonWriter, nr_bits: u32, bit_offset: u32, data: &[u8], plain: bool) {
    let bytes = (bit_offset + nr_bits).div_ceil(8).min(16) as usize;
    let raw = le(&take(data, 0, bytes));
    let shifted = raw.checked_shr(bit_offset).unwrap_or(0);
    let v = if nr_bits >= 128 {
        shifted
    } else {
        shifted & ((1u128 << nr_bits) - 1)
    };
    int128(w, v, plain);
}

impl Dumper<'_> {
    /// `btf__resolve_type`: through typedefs, modifiers and variables.
    fn resolve(&self, mut id: u32) -> Option<u32> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.btf.type_by_id(id)?;
            match t.kind {
                kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT
                | kind::TYPE_TAG
                | kind::VAR => id = t.size_or_type,
                _ => return Some(id),
            }
            if id == 0 {
                return Some(0);
            }
        }
        None
    }

    /// `btf_dumper_type`: `data` as type `id`.
    pub fn dump(&self, w: &mut JsonWriter, id: u32, data: &[u8]) {
        self.do_type(w, id, 0, data);
    }

    fn do_type(&self, w: &mut JsonWriter, id: u32, bit_offset: u32, data: &[u8]) {
        let Some(t) = self.btf.type_by_id(id) else {
            w.raw("(unknown)");
            return;
        };
        match t.kind {
            kind::INT => {
                let word = match t.extra {
                    Extra::Word(x) => x,
                    _ => 0,
                };
                self.int(w, word, bit_offset, data);
            }
            kind::STRUCT | kind::UNION => {
                w.start_object();
                for m in t.members() {
                    let (bits, size) = if t.kflag {
                        (m.offset & 0x00ff_ffff, m.offset >> 24)
                    } else {
                        (m.offset, 0)
                    };
                    w.name(&self.btf.name(m.name_off));
                    let at = data.get((bits / 8) as usize..).unwrap_or(&[]);
                    if size != 0 {
                        bitfield(w, size, bits % 8, at, self.plain);
                    } else {
                        self.do_type(w, m.type_id, bits % 8, at);
                    }
                }
                w.end_object();
            }
            kind::ARRAY => {
                let Extra::Array { elem, nelems, .. } = t.extra else {
                    return;
                };
                if let Some(s) = self.str_array(elem, nelems, data) {
                    w.string(&s);
                    return;
                }
                let Ok(esize) = self.btf.resolve_size(elem) else {
                    return;
                };
                w.start_array();
                for i in 0..nelems as usize {
                    let at = data.get(i * esize as usize..).unwrap_or(&[]);
                    self.do_type(w, elem, 0, at);
                }
                w.end_array();
            }
            kind::ENUM | kind::ENUM64 => self.enumeration(w, t, data),
            kind::PTR => {
                let v = u64::from_le_bytes(take(data, 0, 8).try_into().expect("8 bytes"));
                if !self.plain {
                    w.raw(&v.to_string());
                } else if v == 0 {
                    w.raw("(nil)");
                } else {
                    w.raw(&format!("{v:#x}"));
                }
            }
            kind::UNKN => w.raw("(unknown)"),
            kind::FWD => w.raw("(fwd-kind-invalid)"),
            kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT => {
                if let Some(r) = self.resolve(id) {
                    self.do_type(w, r, bit_offset, data);
                }
            }
            kind::VAR => {
                w.start_object();
                w.name(&self.btf.name(t.name_off));
                self.do_type(w, t.size_or_type, bit_offset, data);
                w.end_object();
            }
            kind::DATASEC => {
                w.start_object();
                w.name(&self.btf.name(t.name_off));
                w.start_array();
                for v in t.members() {
                    let at = data.get(v.offset as usize..).unwrap_or(&[]);
                    self.do_type(w, v.type_id, 0, at);
                }
                w.end_array();
                w.end_object();
            }
            _ => w.raw("(unsupported-kind"),
        }
    }

    /// `btf_dumper_int`: `word` is the INT's encoding word.
    fn int(&self, w: &mut JsonWriter, word: u32, bit_offset: u32, data: &[u8]) {
        let (enc, off, bits) = ((word >> 24) & 0x0f, (word >> 16) & 0xff, word & 0xff);
        if bit_offset != 0 || off != 0 || bits % 8 != 0 {
            let total = bit_offset + off;
            let at = data.get((total / 8) as usize..).unwrap_or(&[]);
            bitfield(w, bits, total % 8, at, self.plain);
            return;
        }
        if bits == 128 {
            int128(w, le(&take(data, 0, 16)), self.plain);
            return;
        }
        let u = le(&take(data, 0, (bits / 8) as usize)) as u64;
        match enc {
            0 if matches!(bits, 8 | 16 | 32 | 64) => w.raw(&u.to_string()),
            1 if matches!(bits, 8 | 16 | 32 | 64) => {
                let sh = 64 - bits;
                w.raw(&(((u << sh) as i64) >> sh).to_string());
            }
            0 | 1 => bitfield(w, bits, 0, data, self.plain),
            2 => {
                let c = u as u8;
                if (0x20..0x7f).contains(&c) {
                    let mut s = String::new();
                    s.push('"');
                    s.push(c as char);
                    s.push('"');
                    w.raw(&s);
                } else if self.plain {
                    w.raw(&format!("{c:#x}"));
                } else {
                    w.raw(&format!("\"\\u00{c:02x}\""));
                }
            }
            // `jsonw_bool(jw, *(int *)data)`: four bytes, whatever the size.
            4 => w.bool(le(&take(data, 0, 4)) != 0),
            _ => {}
        }
    }

    /// `btf_dumper_enum` / `btf_dumper_enum64`: the enumerator's name, else the number.
    fn enumeration(&self, w: &mut JsonWriter, t: &sim::loader::btf::Type, data: &[u8]) {
        let Extra::Enum(vals) = &t.extra else {
            return;
        };
        let size = if t.kind == kind::ENUM64 {
            8
        } else {
            t.size_or_type
        };
        if !matches!(size, 1 | 2 | 4 | 8) {
            return;
        }
        let u = le(&take(data, 0, size as usize)) as u64;
        let sh = 64 - 8 * size;
        let value = ((u << sh) as i64) >> sh;
        let hit = vals.iter().find(|(_, v)| {
            if t.kind == kind::ENUM64 {
                *v as u64 == u
            } else {
                i64::from(*v as i32) == value
            }
        });
        match hit {
            Some((name, _)) => w.string(&self.btf.name(*name)),
            None if t.kind == kind::ENUM64 => w.raw(&(u as i64).to_string()),
            None => w.raw(&value.to_string()),
        }
    }

    /// `is_str_array`: a char array holding a NUL-terminated printable string.
    fn str_array(&self, elem: u32, nelems: u32, data: &[u8]) -> Option<String> {
        if nelems == 0 {
            return None;
        }
        let mut e = self.btf.type_by_id(elem)?;
        // Modifiers only: a typedef to char is not a string.
        for _ in 0..MAX_RESOLVE_DEPTH {
            if !matches!(
                e.kind,
                kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG
            ) {
                break;
            }
            e = self.btf.type_by_id(e.size_or_type)?;
        }
        let enc = match e.extra {
            Extra::Word(x) => (x >> 24) & 0x0f,
            _ => 0,
        };
        if e.kind != kind::INT
            || e.size_or_type != 1
            || (enc != 2 && self.btf.name(e.name_off) != "char")
        {
            return None;
        }
        let s = take(data, 0, nelems as usize);
        let end = s.iter().position(|&c| c == 0)?;
        s[..end]
            .iter()
            .all(|c| (0x20..0x7f).contains(c))
            .then(|| String::from_utf8_lossy(&s[..end]).into_owned())
    }

    /// `do_dump_btf`: `{"key": ..., "value": ...}`, the key only when the map has a key
    /// type (per-CPU maps are not modeled).
    pub fn entry(&self, w: &mut JsonWriter, m: &MapInfo, key: &[u8], value: &[u8]) {
        w.start_object();
        if m.btf_key_type_id != 0 {
            w.name("key");
            self.dump(w, m.btf_key_type_id, key);
        }
        w.name("value");
        self.dump(w, m.btf_value_type_id, value);
        w.end_object();
    }
}

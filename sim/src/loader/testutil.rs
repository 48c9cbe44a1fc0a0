//! Test fixtures built in memory: a tiny ELF64 writer (sections, one symbol table, REL
//! sections) and a BTF builder, so unit tests need neither clang nor committed objects.

use super::btf::kind;

/// A section to write. `rel_for`: this is `.rel<target>` for the named section.
pub struct Sec {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub data: Vec<u8>,
    pub nobits_size: u64,
    pub rels: Vec<(u64, u32, u32)>,
    pub rel_target: Option<String>,
}

/// A symbol to write; `section` by name (`None`: undefined).
pub struct SymSpec {
    pub name: String,
    pub section: Option<String>,
    pub st_type: u8,
    pub bind: u8,
    pub value: u64,
    pub size: u64,
}

#[derive(Default)]
pub struct ElfBuilder {
    pub secs: Vec<Sec>,
    pub syms: Vec<SymSpec>,
    pub machine: u16,
}

pub const SHF_ALLOC_EXEC: u64 = 0x6;

impl ElfBuilder {
    pub fn new() -> Self {
        ElfBuilder {
            machine: 247,
            ..Default::default()
        }
    }

    pub fn section(&mut self, name: &str, sh_type: u32, flags: u64, data: Vec<u8>) -> &mut Self {
        let s = Sec {
            name: name.into(),
            sh_type,
            flags,
            data,
            nobits_size: 0,
            rels: vec![],
            rel_target: None,
        };
        self.secs.push(s);
        self
    }

    pub fn code(&mut self, name: &str, insns: &[[u8; 8]]) -> &mut Self {
        self.section(name, 1, SHF_ALLOC_EXEC, insns.concat())
    }

    pub fn bss(&mut self, name: &str, size: u64) -> &mut Self {
        self.section(name, 8, 3, vec![]);
        self.secs.last_mut().unwrap().nobits_size = size;
        self
    }

    /// `.rel<target>` with (offset, symbol index, type) entries; symbol indices count the
    /// null symbol as 0, so the first `sym()` is 1.
    pub fn rel(&mut self, target: &str, rels: Vec<(u64, u32, u32)>) -> &mut Self {
        self.section(&format!(".rel{target}"), 9, 0, vec![]);
        let s = self.secs.last_mut().unwrap();
        s.rels = rels;
        s.rel_target = Some(target.into());
        self
    }

    pub fn sym(
        &mut self,
        name: &str,
        section: &str,
        st_type: u8,
        bind: u8,
        value: u64,
        size: u64,
    ) -> &mut Self {
        self.syms.push(SymSpec {
            name: name.into(),
            section: Some(section.into()),
            st_type,
            bind,
            value,
            size,
        });
        self
    }

    /// Layout: header, section data, .strtab, .symtab, .shstrtab, section headers.
    pub fn build(&self) -> Vec<u8> {
        let sec_index = |n: &str| {
            self.secs
                .iter()
                .position(|s| s.name == n)
                .map_or(0, |i| i + 1)
        };
        let n_user = self.secs.len();
        let (strtab_idx, symtab_idx, shstrtab_idx) = (n_user + 1, n_user + 2, n_user + 3);
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24];
        for s in &self.syms {
            let name_off = if s.name.is_empty() {
                0
            } else {
                strtab.len() as u32
            };
            if !s.name.is_empty() {
                strtab.extend_from_slice(s.name.as_bytes());
                strtab.push(0);
            }
            symtab.extend_from_slice(&name_off.to_le_bytes());
            symtab.push((s.bind << 4) | s.st_type);
            symtab.push(0);
            let shndx = s.section.as_deref().map_or(0, sec_index) as u16;
            symtab.extend_from_slice(&shndx.to_le_bytes());
            symtab.extend_from_slice(&s.value.to_le_bytes());
            symtab.extend_from_slice(&s.size.to_le_bytes());
        }
        let mut shstrtab = vec![0u8];
        let mut name_offs = vec![];
        let names: Vec<&str> = self
            .secs
            .iter()
            .map(|s| s.name.as_str())
            .chain([".strtab", ".symtab", ".shstrtab"])
            .collect();
        for n in &names {
            name_offs.push(shstrtab.len() as u32);
            shstrtab.extend_from_slice(n.as_bytes());
            shstrtab.push(0);
        }
        let mut out = vec![0u8; 64];
        let mut headers: Vec<[u64; 8]> = vec![[0; 8]];
        let place = |out: &mut Vec<u8>, data: &[u8]| {
            while out.len() % 8 != 0 {
                out.push(0);
            }
            let off = out.len() as u64;
            out.extend_from_slice(data);
            off
        };
        for (i, s) in self.secs.iter().enumerate() {
            let mut data = s.data.clone();
            for &(off, sym, ty) in &s.rels {
                data.extend_from_slice(&off.to_le_bytes());
                data.extend_from_slice(&((u64::from(sym) << 32) | u64::from(ty)).to_le_bytes());
            }
            let off = place(&mut out, &data);
            let size = if s.sh_type == 8 {
                s.nobits_size
            } else {
                data.len() as u64
            };
            let (link, info, entsize) = match &s.rel_target {
                Some(t) => (symtab_idx as u64, sec_index(t) as u64, 16),
                None => (0, 0, 0),
            };
            headers.push([
                u64::from(name_offs[i]),
                u64::from(s.sh_type),
                s.flags,
                off,
                size,
                link,
                info,
                entsize,
            ]);
        }
        let off = place(&mut out, &strtab);
        headers.push([
            u64::from(name_offs[n_user]),
            3,
            0,
            off,
            strtab.len() as u64,
            0,
            0,
            0,
        ]);
        let off = place(&mut out, &symtab);
        headers.push([
            u64::from(name_offs[n_user + 1]),
            2,
            0,
            off,
            symtab.len() as u64,
            strtab_idx as u64,
            1,
            24,
        ]);
        let off = place(&mut out, &shstrtab);
        headers.push([
            u64::from(name_offs[n_user + 2]),
            3,
            0,
            off,
            shstrtab.len() as u64,
            0,
            0,
            0,
        ]);
        let shoff = place(&mut out, &[]);
        for h in &headers {
            out.extend_from_slice(&(h[0] as u32).to_le_bytes());
            out.extend_from_slice(&(h[1] as u32).to_le_bytes());
            out.extend_from_slice(&h[2].to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes());
            out.extend_from_slice(&h[3].to_le_bytes());
            out.extend_from_slice(&h[4].to_le_bytes());
            out.extend_from_slice(&(h[5] as u32).to_le_bytes());
            out.extend_from_slice(&(h[6] as u32).to_le_bytes());
            out.extend_from_slice(&8u64.to_le_bytes());
            out.extend_from_slice(&h[7].to_le_bytes());
        }
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        out[16..18].copy_from_slice(&1u16.to_le_bytes());
        out[18..20].copy_from_slice(&self.machine.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[40..48].copy_from_slice(&shoff.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[58..60].copy_from_slice(&64u16.to_le_bytes());
        out[60..62].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        out[62..64].copy_from_slice(&(shstrtab_idx as u16).to_le_bytes());
        out
    }
}

/// A BTF builder: `add` returns the new type id.
pub struct BtfBuilder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl BtfBuilder {
    pub fn new() -> Self {
        BtfBuilder {
            types: vec![],
            strings: vec![0],
            next_id: 1,
        }
    }

    pub fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Adds a raw type: name, kind, vlen, size/type, then the extra words.
    pub fn add(&mut self, name: &str, k: u8, vlen: u32, size_or_type: u32, extra: &[u32]) -> u32 {
        let name_off = self.str(name);
        for w in [name_off, (u32::from(k) << 24) | vlen, size_or_type]
            .iter()
            .chain(extra)
        {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }

    pub fn int(&mut self, name: &str, size: u32) -> u32 {
        self.add(name, kind::INT, 0, size, &[size * 8])
    }

    pub fn ptr(&mut self, to: u32) -> u32 {
        self.add("", kind::PTR, 0, to, &[])
    }

    pub fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        self.add("", kind::ARRAY, 0, 0, &[elem, index, n])
    }

    /// `__uint(name, n)`: `int (*name)[n]`.
    pub fn uint_field(&mut self, int: u32, n: u32) -> u32 {
        let a = self.array(int, int, n);
        self.ptr(a)
    }

    /// A struct with members (name, type); offsets 64 bits apart.
    pub fn strukt(&mut self, name: &str, members: &[(&str, u32)]) -> u32 {
        let mut extra = vec![];
        for (i, (n, t)) in members.iter().enumerate() {
            let off = self.str(n);
            extra.extend_from_slice(&[off, *t, i as u32 * 64]);
        }
        self.add(
            name,
            kind::STRUCT,
            members.len() as u32,
            members.len() as u32 * 8,
            &extra,
        )
    }

    pub fn var(&mut self, name: &str, ty: u32, linkage: u32) -> u32 {
        self.add(name, kind::VAR, 0, ty, &[linkage])
    }

    /// A DATASEC with (var, offset, size) entries.
    pub fn datasec(&mut self, name: &str, size: u32, vars: &[(u32, u32, u32)]) -> u32 {
        let extra: Vec<u32> = vars.iter().flat_map(|&(t, o, s)| [t, o, s]).collect();
        self.add(name, kind::DATASEC, vars.len() as u32, size, &extra)
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = vec![];
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&24u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// Instruction helpers.
pub fn ld_imm64() -> [[u8; 8]; 2] {
    [[0x18, 0x01, 0, 0, 0, 0, 0, 0], [0; 8]]
}

pub fn exit() -> [u8; 8] {
    [0x95, 0, 0, 0, 0, 0, 0, 0]
}

pub fn mov_r0_0() -> [u8; 8] {
    [0xb7, 0, 0, 0, 0, 0, 0, 0]
}

pub fn call_pseudo() -> [u8; 8] {
    [0x85, 0x10, 0, 0, 0xff, 0xff, 0xff, 0xff]
}

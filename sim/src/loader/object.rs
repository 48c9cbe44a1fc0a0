//! [`Object::parse`]: libbpf's `bpf_object_open` up to (not including) anything that needs
//! a kernel: `bpf_object__elf_collect` (sections, license, version, programs, BTF),
//! `bpf_object_fixup_btf`, `bpf_object__init_maps`, `bpf_object_init_progs` (section
//! table) and `bpf_object__collect_relos` (in [`super::relocs`]).

use super::btf::{self, Btf, kind};
use super::btf_ext::BtfExt;
use super::elf::{self, Elf, Section};
use super::error::{LoadError, Place};
use super::maps::{self, Map, MapKind};
use super::relocs;
use super::secdef::{self, SecDef};
use crate::prog::insn::{self, Insn};

/// `sizeof(struct bpf_insn)`.
pub const INSN_SIZE: u64 = 8;
/// `obj->license` is `char[64]`: at most 63 bytes are kept.
const LICENSE_MAX: usize = 63;

/// One relocation of a program, as ELF records it (libbpf's `bpf_program__record_reloc`
/// input: the instruction and the symbol, not yet classified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloc {
    /// Instruction index inside the program (not the section).
    pub insn: usize,
    /// `R_BPF_64_64` (1) or `R_BPF_64_32` (10).
    pub r_type: u32,
    /// Symbol index.
    pub sym_index: usize,
    /// Symbol name; for section symbols with no name, the section's name (as libbpf).
    pub sym_name: String,
    /// `st_shndx` (0 for undefined/extern symbols).
    pub sym_section: usize,
    /// `st_value`.
    pub sym_value: u64,
    /// `ELF64_ST_TYPE`.
    pub sym_type: u8,
    /// `ELF64_ST_BIND`.
    pub sym_bind: u8,
}

/// One BPF function: an entry program or a `.text` subprogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Function (symbol) name.
    pub name: String,
    /// `SEC()` name, without a leading `?`.
    pub section_name: String,
    /// ELF section index.
    pub section: usize,
    /// `false` for `SEC("?...")`.
    pub autoload: bool,
    /// First instruction's index in its section (`sec_insn_off`).
    pub insn_offset: usize,
    /// The instructions, as in the ELF.
    pub insns: Vec<Insn>,
    /// Relocations, sorted by instruction.
    pub relocs: Vec<Reloc>,
    /// In `.text`: a subprogram, never loaded on its own (`prog_is_subprog`).
    pub is_subprog: bool,
    /// Global or weak symbol (`sym_global`).
    pub global: bool,
    /// The `SEC()` table entry, `None` when the name is not in the table.
    pub sec_def: Option<SecDef>,
}

impl Program {
    /// The section table entry, or [`LoadError::UnknownSection`] (libbpf opens such
    /// objects and fails at load: "missing BPF prog type").
    pub fn sec_def(&self) -> Result<&SecDef, LoadError> {
        self.sec_def
            .as_ref()
            .ok_or_else(|| LoadError::UnknownSection(self.section_name.clone()))
    }

    /// `prog_type` from the section table (0 when unknown).
    pub fn prog_type(&self) -> u32 {
        self.sec_def.map_or(0, |d| d.prog_type)
    }

    /// `expected_attach_type` from the section table (0 when unknown).
    pub fn expected_attach_type(&self) -> u32 {
        self.sec_def.map_or(0, |d| d.expected_attach_type)
    }
}

/// A parsed BPF object: what libbpf knows after `bpf_object__open`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// libbpf's object name ([`maps::object_name`]).
    pub name: String,
    /// `license` section up to its first NUL (at most 63 bytes); empty when absent.
    pub license: String,
    /// `version` section; `None` when absent (libbpf then uses the running kernel's).
    pub kern_version: Option<u32>,
    /// Maps in libbpf's order: legacy, BTF-defined, internal.
    pub maps: Vec<Map>,
    /// Programs ordered by (section index, offset), subprograms included.
    pub programs: Vec<Program>,
    /// Section names by ELF index (index 0: `""`).
    pub section_names: Vec<String>,
    /// `.text` section index, when it holds code.
    pub text_section: Option<usize>,
    /// `.maps` section index.
    pub maps_section: Option<usize>,
    /// Legacy `maps` section index.
    pub legacy_maps_section: Option<usize>,
    /// `.BTF`, after libbpf's DATASEC fixups.
    pub btf: Option<Btf>,
    /// `.BTF.ext` record counts.
    pub btf_ext: Option<BtfExt>,
    /// Problems libbpf only warns about (unusable `.BTF` when nothing needs it, a bad
    /// `.BTF.ext`), in the order met.
    pub warnings: Vec<LoadError>,
}

/// What `bpf_object__elf_collect` remembers about sections.
#[derive(Default)]
pub(crate) struct Collected {
    pub data_secs: Vec<(usize, MapKind)>,
    pub rel_secs: Vec<usize>,
    pub btf: Option<usize>,
    pub btf_ext: Option<usize>,
}

/// `ignore_elf_section`: sections libbpf never looks at.
fn ignored(s: &Section<'_>) -> bool {
    let dwarf = |n: &str| n.starts_with(".debug_");
    s.sh_type == elf::SHT_STRTAB
        || s.sh_type == elf::SHT_LLVM_ADDRSIG
        || (s.sh_type == elf::SHT_PROGBITS && s.size == 0 && s.name == ".text")
        || dwarf(&s.name)
        || s.name
            .strip_prefix(".rel")
            .is_some_and(|n| dwarf(n) || n == ".BTF" || n == ".BTF.ext")
}

fn is_named(name: &str, base: &str) -> bool {
    name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.'))
}

impl Object {
    /// Parses an object file. `name` is its path or file name (for the object name).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Object, LoadError> {
        let elf = Elf::parse(bytes)?;
        let mut obj = Object {
            name: maps::object_name(name),
            license: String::new(),
            kern_version: None,
            maps: Vec::new(),
            programs: Vec::new(),
            section_names: elf.sections.iter().map(|s| s.name.clone()).collect(),
            text_section: None,
            maps_section: None,
            legacy_maps_section: None,
            btf: None,
            btf_ext: None,
            warnings: Vec::new(),
        };
        let col = obj.collect_sections(&elf)?;
        obj.programs.sort_by_key(|p| (p.section, p.insn_offset));
        obj.init_btf(&elf, &col)?;
        if let Some(b) = obj.btf.as_mut() {
            fixup_datasecs(b, &elf)?;
        }
        obj.init_maps(&elf, &col)?;
        for p in &mut obj.programs {
            p.sec_def = secdef::find(&p.section_name).ok().copied();
        }
        relocs::collect(&mut obj, &elf, &col.rel_secs)?;
        Ok(obj)
    }

    /// The second pass of `bpf_object__elf_collect`.
    fn collect_sections(&mut self, elf: &Elf<'_>) -> Result<Collected, LoadError> {
        let mut col = Collected::default();
        for s in elf.sections.iter().skip(1) {
            if ignored(s) {
                continue;
            }
            match s.name.as_str() {
                "license" => {
                    let d = s.data()?;
                    let d = &d[..d.len().min(LICENSE_MAX)];
                    let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
                    self.license = String::from_utf8_lossy(&d[..end]).into_owned();
                }
                "version" => {
                    let d = s.data()?;
                    let w: [u8; 4] = d
                        .try_into()
                        .map_err(|_| LoadError::KernVersion(s.place(0)))?;
                    self.kern_version = Some(u32::from_le_bytes(w));
                }
                "maps" => self.legacy_maps_section = Some(s.index),
                ".maps" => self.maps_section = Some(s.index),
                ".BTF" | ".BTF.ext" => {
                    if s.sh_type != elf::SHT_PROGBITS {
                        return Err(LoadError::BtfSectionType(s.place(0)));
                    }
                    let slot = if s.name == ".BTF" {
                        &mut col.btf
                    } else {
                        &mut col.btf_ext
                    };
                    *slot = Some(s.index);
                }
                _ if s.sh_type == elf::SHT_SYMTAB => {}
                _ if s.sh_type == elf::SHT_PROGBITS && s.size > 0 => {
                    let _ = s.data()?;
                    if s.is_exec() {
                        if s.name == ".text" {
                            self.text_section = Some(s.index);
                        }
                        self.add_programs(elf, s)?;
                    } else if is_named(&s.name, ".data") {
                        col.data_secs.push((s.index, MapKind::Data));
                    } else if is_named(&s.name, ".rodata") {
                        col.data_secs.push((s.index, MapKind::Rodata));
                    }
                }
                _ if s.sh_type == elf::SHT_REL => {
                    let target = s.info as usize;
                    if s.entsize != elf::REL_SIZE {
                        return Err(LoadError::RelocEntsize(s.place(0)));
                    }
                    let Some(t) = elf.section(target) else {
                        return Err(LoadError::SectionIndex {
                            at: s.place(0),
                            index: target as u64,
                        });
                    };
                    // Only code and `.maps` relocations matter (struct_ops is not modeled).
                    if t.is_exec() || s.name == ".rel.maps" {
                        col.rel_secs.push(s.index);
                    }
                }
                _ if s.sh_type == elf::SHT_NOBITS && is_named(&s.name, ".bss") => {
                    col.data_secs.push((s.index, MapKind::Bss));
                }
                _ => {}
            }
        }
        Ok(col)
    }

    /// `bpf_object__add_programs`: one program per `STT_FUNC` symbol of the section.
    fn add_programs(&mut self, elf: &Elf<'_>, s: &Section<'_>) -> Result<(), LoadError> {
        let data = s.data()?;
        for sym in elf
            .symbols
            .iter()
            .filter(|y| y.shndx as usize == s.index && y.st_type == elf::STT_FUNC)
        {
            let at = s.place(sym.value);
            let name = sym.name.clone().ok_or(LoadError::StringOffset {
                at: Place::sec(elf.symtab, "", sym.index as u64 * 24),
                offset: sym.name_off,
            })?;
            let bounds = || LoadError::ProgramBounds {
                at: at.clone(),
                name: name.clone(),
            };
            let end = sym
                .value
                .checked_add(sym.size)
                .filter(|&e| e <= data.len() as u64)
                .ok_or_else(bounds)?;
            if Some(s.index) != self.text_section && sym.bind == elf::STB_LOCAL {
                return Err(LoadError::StaticProgram { at, name });
            }
            if sym.size == 0 || sym.size % INSN_SIZE != 0 || sym.value % INSN_SIZE != 0 {
                return Err(bounds());
            }
            let (autoload, sec_name) = match s.name.strip_prefix('?') {
                Some(rest) => (false, rest),
                None => (true, s.name.as_str()),
            };
            self.programs.push(Program {
                name,
                section_name: sec_name.to_owned(),
                section: s.index,
                autoload,
                insn_offset: (sym.value / INSN_SIZE) as usize,
                insns: insn::decode(&data[sym.value as usize..end as usize]),
                relocs: Vec::new(),
                is_subprog: Some(s.index) == self.text_section,
                global: sym.bind != elf::STB_LOCAL,
                sec_def: None,
            });
        }
        Ok(())
    }

    /// `bpf_object__init_btf`: a bad `.BTF` is fatal only when something needs BTF
    /// (`libbpf_needs_btf`: a `.maps` section here); a bad `.BTF.ext` never is.
    fn init_btf(&mut self, elf: &Elf<'_>, col: &Collected) -> Result<(), LoadError> {
        if let Some(s) = col.btf.and_then(|i| elf.section(i)) {
            match Btf::parse(s.data()?) {
                Ok(b) => self.btf = Some(b),
                Err((off, problem)) => {
                    let e = LoadError::Btf {
                        at: s.place(off),
                        problem,
                    };
                    if self.maps_section.is_some() {
                        return Err(e);
                    }
                    self.warnings.push(e);
                }
            }
        }
        if let (Some(s), Some(_)) = (col.btf_ext.and_then(|i| elf.section(i)), &self.btf) {
            match s.data().map(BtfExt::parse) {
                Ok(Ok(ext)) => self.btf_ext = Some(ext),
                Ok(Err((off, problem))) => self.warnings.push(LoadError::BtfExt {
                    at: s.place(off),
                    problem,
                }),
                Err(e) => self.warnings.push(e),
            }
        }
        Ok(())
    }

    /// `bpf_object__init_maps` (libbpf 0.x order): legacy, BTF-defined, then internal maps
    /// for the non-empty data sections in section order.
    fn init_maps(&mut self, elf: &Elf<'_>, col: &Collected) -> Result<(), LoadError> {
        if let Some(s) = self.legacy_maps_section.and_then(|i| elf.section(i)) {
            let legacy = maps::legacy_maps(elf, s)?;
            self.maps.extend(legacy);
        }
        if let Some(s) = self.maps_section.and_then(|i| elf.section(i)) {
            let b = self
                .btf
                .as_ref()
                .ok_or_else(|| LoadError::MissingBtf(s.place(0)))?;
            let id = maps_datasec(b).ok_or(LoadError::MissingMapsDatasec)?;
            let user = maps::btf_maps(b, id, s)?;
            self.maps.extend(user);
        }
        for &(idx, kind) in &col.data_secs {
            let Some(s) = elf.section(idx) else { continue };
            if s.size == 0 {
                continue;
            }
            let m = maps::internal_map(&self.name, s, kind, self.btf.as_ref())?;
            self.maps.push(m);
        }
        Ok(())
    }

    /// The program called `name` that is not a subprogram (`bpf_object__find_program_by_name`).
    pub fn entry_program(&self, name: &str) -> Option<&Program> {
        self.programs
            .iter()
            .find(|p| !p.is_subprog && p.name == name)
    }

    /// The map called `name` (`bpf_object__find_map_by_name`).
    pub fn map_by_name(&self, name: &str) -> Option<&Map> {
        self.maps.iter().find(|m| m.name == name)
    }
}

/// Id of the DATASEC named `.maps`.
pub(crate) fn maps_datasec(b: &Btf) -> Option<u32> {
    (1..b.type_cnt()).find(|&id| {
        b.type_by_id(id)
            .is_some_and(|t| t.kind == kind::DATASEC && b.str_at(t.name_off) == Some(b".maps"))
    })
}

/// `bpf_object_fixup_btf` / `btf_fixup_datasec`: DATASEC sizes and variable offsets from
/// the ELF when clang left them 0, hidden globals turned static, variables sorted by offset
/// (a stable sort where libbpf's `qsort` is unspecified on ties).
fn fixup_datasecs(b: &mut Btf, elf: &Elf<'_>) -> Result<(), LoadError> {
    for id in 1..b.type_cnt() {
        let Some(t) = b.type_by_id(id).filter(|t| t.kind == kind::DATASEC) else {
            continue;
        };
        let sec_name = b.name(t.name_off);
        let mut vars = t.members().to_vec();
        let mut size = t.size_or_type;
        let mut hide = Vec::new();
        if sec_name != ".kconfig" && sec_name != ".ksyms" {
            let fix_offsets = size == 0;
            if fix_offsets {
                size = elf
                    .section_by_name(&sec_name)
                    .map(|s| s.size)
                    .filter(|&s| s != 0)
                    .and_then(|s| u32::try_from(s).ok())
                    .ok_or_else(|| LoadError::DatasecFixup {
                        datasec: sec_name.clone(),
                        var: String::new(),
                    })?;
            }
            for vi in &mut vars {
                let var = b.type_by_id(vi.type_id).filter(|v| v.kind == kind::VAR);
                let var = var.ok_or_else(|| LoadError::DatasecFixup {
                    datasec: sec_name.clone(),
                    var: String::new(),
                })?;
                let linkage = match var.extra {
                    btf::Extra::Word(l) => l,
                    _ => btf::VAR_STATIC,
                };
                if linkage == btf::VAR_STATIC || linkage == btf::VAR_GLOBAL_EXTERN {
                    continue;
                }
                let var_name = b.name(var.name_off);
                let sym = elf.symbols.iter().find(|s| {
                    s.st_type == elf::STT_OBJECT
                        && (s.bind == elf::STB_GLOBAL || s.bind == elf::STB_WEAK)
                        && s.name.as_deref() == Some(var_name.as_str())
                });
                let sym = sym.ok_or_else(|| LoadError::DatasecFixup {
                    datasec: sec_name.clone(),
                    var: var_name,
                })?;
                if fix_offsets {
                    vi.offset = sym.value as u32;
                }
                if sym.visibility == elf::STV_HIDDEN || sym.visibility == elf::STV_INTERNAL {
                    hide.push(vi.type_id);
                }
            }
        }
        vars.sort_by_key(|v| v.offset);
        if let Some(t) = b.type_by_id_mut(id) {
            t.size_or_type = size;
            t.extra = btf::Extra::Members(vars);
        }
        for vid in hide {
            if let Some(v) = b.type_by_id_mut(vid) {
                v.extra = btf::Extra::Word(btf::VAR_STATIC);
            }
        }
    }
    Ok(())
}

//! The ELF layer: `object`'s reader turned into plain tables of sections, symbols and
//! relocation entries, with the checks libbpf's `bpf_object__elf_init` and the first pass of
//! `bpf_object__elf_collect` make. Nothing here knows about BPF programs or maps.
//!
//! `object` checks the header and the section header table (entry size, offsets, extended
//! `e_shnum`/`e_shstrndx`) and reads little-endian tables at any alignment (its `unaligned`
//! feature); this module adds what libbpf requires on top: ELFCLASS64, little endian,
//! EM_BPF, ET_REL, exactly one symbol table, a valid string table link.

use object::LittleEndian as Le;
use object::elf::{FileHeader64, Rel64, SectionHeader64, Sym64};
use object::read::elf::{FileHeader, Rel, SectionHeader, SectionTable, Sym};

use super::error::{LoadError, Place};

/// `SHT_PROGBITS`.
pub const SHT_PROGBITS: u32 = 1;
/// `SHT_SYMTAB`.
pub const SHT_SYMTAB: u32 = 2;
/// `SHT_STRTAB`.
pub const SHT_STRTAB: u32 = 3;
/// `SHT_NOBITS`.
pub const SHT_NOBITS: u32 = 8;
/// `SHT_REL`.
pub const SHT_REL: u32 = 9;
/// `SHT_LLVM_ADDRSIG`.
pub const SHT_LLVM_ADDRSIG: u32 = 0x6fff_4c03;
/// `SHF_EXECINSTR`.
pub const SHF_EXECINSTR: u64 = 1 << 2;
/// `STT_OBJECT`.
pub const STT_OBJECT: u8 = 1;
/// `STT_FUNC`.
pub const STT_FUNC: u8 = 2;
/// `STT_SECTION`.
pub const STT_SECTION: u8 = 3;
/// `STB_LOCAL`.
pub const STB_LOCAL: u8 = 0;
/// `STB_GLOBAL`.
pub const STB_GLOBAL: u8 = 1;
/// `STB_WEAK`.
pub const STB_WEAK: u8 = 2;
/// `STV_INTERNAL`.
pub const STV_INTERNAL: u8 = 1;
/// `STV_HIDDEN`.
pub const STV_HIDDEN: u8 = 2;
/// `EM_BPF`.
pub const EM_BPF: u16 = 247;
/// `ET_REL`.
const ET_REL: u16 = 1;
/// `sizeof(Elf64_Rel)`.
pub const REL_SIZE: u64 = 16;

/// One section header with its name and (when inside the file) its bytes.
#[derive(Clone, Debug)]
pub struct Section<'a> {
    /// ELF section index.
    pub index: usize,
    /// Name from `.shstrtab`.
    pub name: String,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_size` (also for `SHT_NOBITS`, whose data is empty).
    pub size: u64,
    /// `sh_link`.
    pub link: u32,
    /// `sh_info`.
    pub info: u32,
    /// `sh_entsize`.
    pub entsize: u64,
    /// The bytes; `None` when `sh_offset + sh_size` lies outside the file. Like libelf,
    /// only sections that are used are required to be readable.
    data: Option<&'a [u8]>,
}

impl<'a> Section<'a> {
    /// The section's bytes, or [`LoadError::SectionData`].
    pub fn data(&self) -> Result<&'a [u8], LoadError> {
        self.data
            .ok_or_else(|| LoadError::SectionData(self.place(0)))
    }

    /// A place inside this section.
    pub fn place(&self, offset: u64) -> Place {
        Place::sec(self.index, &self.name, offset)
    }

    /// `SHF_EXECINSTR`.
    pub fn is_exec(&self) -> bool {
        self.flags & SHF_EXECINSTR != 0
    }
}

/// One `Elf64_Sym`.
#[derive(Clone, Debug)]
pub struct Symbol {
    /// Index in the symbol table.
    pub index: usize,
    /// Name from the linked string table; `None` when `st_name` is out of range.
    pub name: Option<String>,
    /// `st_name`.
    pub name_off: u32,
    /// `ELF64_ST_TYPE(st_info)`.
    pub st_type: u8,
    /// `ELF64_ST_BIND(st_info)`.
    pub bind: u8,
    /// `ELF64_ST_VISIBILITY(st_other)`.
    pub visibility: u8,
    /// `st_shndx` as stored (reserved values included).
    pub shndx: u16,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
}

/// One `Elf64_Rel`.
#[derive(Clone, Copy, Debug)]
pub struct RelEntry {
    /// `r_offset`.
    pub offset: u64,
    /// `ELF64_R_SYM(r_info)`.
    pub sym: u32,
    /// `ELF64_R_TYPE(r_info)`.
    pub r_type: u32,
}

/// A parsed ELF file: sections by index (index 0 is the null section) and symbols.
#[derive(Debug)]
pub struct Elf<'a> {
    /// All sections, `sections[i].index == i`.
    pub sections: Vec<Section<'a>>,
    /// The symbol table, by index.
    pub symbols: Vec<Symbol>,
    /// Index of the `SHT_SYMTAB` section.
    pub symtab: usize,
}

fn elf_err(at: Place, e: object::read::Error) -> LoadError {
    LoadError::Elf {
        at,
        detail: e.to_string(),
    }
}

impl<'a> Elf<'a> {
    /// Parses the header, the section table and the symbol table.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>, LoadError> {
        let ident = bytes.get(..16).ok_or_else(|| LoadError::Elf {
            at: Place::file(0),
            detail: "shorter than an ELF identification".into(),
        })?;
        if ident[..4] != [0x7f, b'E', b'L', b'F'] {
            return Err(LoadError::Elf {
                at: Place::file(0),
                detail: "bad ELF magic".into(),
            });
        }
        if ident[4] != 2 {
            return Err(LoadError::WrongClass(ident[4]));
        }
        if ident[5] != 1 {
            return Err(LoadError::WrongEndian(ident[5]));
        }
        let header = FileHeader64::<Le>::parse(bytes).map_err(|e| elf_err(Place::file(0), e))?;
        let e = Le;
        let machine = header.e_machine(e).0;
        // libbpf (`bpf_object__elf_init`) also accepts EM_NONE, which old LLVM emitted.
        if machine != EM_BPF && machine != 0 {
            return Err(LoadError::WrongMachine(machine));
        }
        let e_type = header.e_type(e).0;
        if e_type != ET_REL {
            return Err(LoadError::NotRelocatable(e_type));
        }
        let shoff = header.e_shoff(e);
        let table = header
            .sections(e, bytes)
            .map_err(|err| elf_err(Place::file(shoff), err))?;
        let sections = read_sections(&table, bytes)?;
        let (symtab, symbols) = read_symbols(&table, &sections, bytes)?;
        Ok(Elf {
            sections,
            symbols,
            symtab,
        })
    }

    /// The section with ELF index `index`, if any (index 0 included).
    pub fn section(&self, index: usize) -> Option<&Section<'a>> {
        self.sections.get(index)
    }

    /// The first section called `name`.
    pub fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().skip(1).find(|s| s.name == name)
    }

    /// Reads the `Elf64_Rel` entries of `rel` (whose `sh_entsize` was checked).
    pub fn rels(&self, rel: &Section<'a>) -> Result<Vec<RelEntry>, LoadError> {
        let data = rel.data()?;
        let whole = data.len() - data.len() % REL_SIZE as usize;
        let entries: &[Rel64<Le>] = object::pod::slice_from_all_bytes(&data[..whole])
            .map_err(|()| LoadError::SectionData(rel.place(0)))?;
        Ok(entries
            .iter()
            .map(|r| RelEntry {
                offset: r.r_offset(Le),
                sym: r.r_sym(Le),
                r_type: r.r_type(Le).0,
            })
            .collect())
    }
}

fn read_sections<'a>(
    table: &SectionTable<'a, FileHeader64<Le>, &'a [u8]>,
    bytes: &'a [u8],
) -> Result<Vec<Section<'a>>, LoadError> {
    let e = Le;
    let mut out = Vec::with_capacity(table.len());
    for (i, sh) in table.iter().enumerate() {
        let sh: &SectionHeader64<Le> = sh;
        let name = if i == 0 {
            String::new()
        } else {
            let raw = table
                .section_name(e, sh)
                .map_err(|_| LoadError::StringOffset {
                    at: Place::sec(i, "", 0),
                    offset: sh.sh_name(e),
                })?;
            String::from_utf8_lossy(raw).into_owned()
        };
        let sh_type = sh.sh_type(e).0;
        let data = if sh_type == SHT_NOBITS {
            Some(&[][..])
        } else {
            sh.data(e, bytes).ok()
        };
        out.push(Section {
            index: i,
            name,
            sh_type,
            flags: sh.sh_flags(e).0,
            size: sh.sh_size(e),
            link: sh.sh_link(e),
            info: sh.sh_info(e),
            entsize: sh.sh_entsize(e),
            data,
        });
    }
    Ok(out)
}

fn read_symbols<'a>(
    table: &SectionTable<'a, FileHeader64<Le>, &'a [u8]>,
    sections: &[Section<'a>],
    bytes: &'a [u8],
) -> Result<(usize, Vec<Symbol>), LoadError> {
    let mut symtabs = sections.iter().filter(|s| s.sh_type == SHT_SYMTAB);
    let symtab = symtabs.next().ok_or(LoadError::NoSymbolTable)?;
    if let Some(second) = symtabs.next() {
        return Err(LoadError::MultipleSymbolTables(second.place(0)));
    }
    // libbpf: the string table link must name a section (`!strtabidx || strtabidx > idx`).
    let strtab_index = symtab.link as usize;
    if strtab_index == 0 || strtab_index >= sections.len() {
        return Err(LoadError::SectionIndex {
            at: symtab.place(0),
            index: strtab_index as u64,
        });
    }
    let strings = table
        .strings(Le, bytes, object::SectionIndex(strtab_index))
        .map_err(|err| elf_err(sections[strtab_index].place(0), err))?;
    let data = symtab.data()?;
    let sym_size = std::mem::size_of::<Sym64<Le>>();
    let whole = data.len() - data.len() % sym_size;
    let syms: &[Sym64<Le>] = object::pod::slice_from_all_bytes(&data[..whole])
        .map_err(|()| LoadError::SectionData(symtab.place(0)))?;
    let e = Le;
    let symbols = syms
        .iter()
        .enumerate()
        .map(|(index, s)| Symbol {
            index,
            name: s
                .name(e, strings)
                .ok()
                .map(|n| String::from_utf8_lossy(n).into_owned()),
            name_off: s.st_name(e),
            st_type: s.st_type().0,
            bind: s.st_bind().0,
            visibility: s.st_visibility().0,
            shndx: s.st_shndx(e).0,
            value: s.st_value(e),
            size: s.st_size(e),
        })
        .collect();
    Ok((symtab.index, symbols))
}

//! `LoadError`: why an object could not be parsed, naming the section and the offset.
//!
//! libbpf reports these as `-LIBBPF_ERRNO__FORMAT`, `-EINVAL`, `-ENOTSUP`, ... plus a
//! `pr_warn` line; here each case is a variant with the place it happened, so a test can
//! match on it and a user can find the byte.

use std::fmt;

/// Where in the object a malformed thing was found: a section (by index and name) and a
/// byte offset inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// ELF section index (0 when the place is the file itself).
    pub section: usize,
    /// Section name, `""` when unknown.
    pub name: String,
    /// Byte offset inside the section (inside the file for section 0).
    pub offset: u64,
}

impl Place {
    /// A place inside the file, outside any section (headers).
    pub fn file(offset: u64) -> Place {
        Place {
            section: 0,
            name: String::new(),
            offset,
        }
    }

    /// A place inside section `section` called `name`.
    pub fn sec(section: usize, name: &str, offset: u64) -> Place {
        Place {
            section,
            name: name.to_owned(),
            offset,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.section == 0 && self.name.is_empty() {
            write!(f, "file offset {:#x}", self.offset)
        } else {
            write!(
                f,
                "section {} '{}' offset {:#x}",
                self.section, self.name, self.offset
            )
        }
    }
}

/// What is wrong with a `.BTF` or `.BTF.ext` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BtfProblem {
    /// Shorter than its header, or a header length past the data.
    Header,
    /// Magic is not `0xeB9F` (a byte-swapped magic counts as bad: objects are little endian).
    Magic(u16),
    /// Version other than 1.
    Version(u8),
    /// `.BTF.ext` flags other than 0.
    Flags(u8),
    /// Type, string or layout (or func/line info) ranges outside the data, overlapping, or
    /// misaligned.
    Layout,
    /// The string section is empty, does not start or end with NUL, or is too long.
    Strings,
    /// A string offset past the string section.
    StringOffset(u32),
    /// A kind this parser does not know and the layout section does not describe.
    UnknownKind(u8),
    /// A type record runs past the end of the type section.
    TypeTruncated,
    /// A referenced type id past the last type.
    TypeId(u32),
    /// A `FUNC` whose type is not a `FUNC_PROTO`.
    FuncNotProto(u32),
    /// Following `type` links did not end within libbpf's `MAX_RESOLVE_DEPTH` (32).
    Cycle(u32),
    /// The size of a type cannot be determined (void, function, forward) or overflows u32.
    Size(u32),
    /// A `.BTF.ext` info record size below the minimum or not a multiple of 4.
    RecordSize(u32),
    /// A `.BTF.ext` section entry with no records, or records past the info's length.
    Records,
}

/// Why a map definition was rejected (`parse_btf_map_def`, `bpf_object__init_user_maps`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapProblem {
    /// The `.maps` variable has no name.
    EmptyName,
    /// The variable's `offset + size` is past the `.maps` section.
    OutOfSection,
    /// The DATASEC entry is not a `VAR`.
    NotVar,
    /// Static or extern map variable (libbpf: "unsupported map linkage").
    Linkage(u32),
    /// The variable's type (after typedefs/modifiers) is not a struct, or is larger than
    /// the variable.
    NotStruct,
    /// An `__uint()` member is not a pointer to an array.
    NotPtrToArray(String),
    /// A `__type()` member is not a pointer.
    NotPtr(String),
    /// A `__ulong()` member is neither a pointer to an array nor a one-value enum.
    BadLong(String),
    /// Two members give different key or value sizes.
    ConflictingSize(String),
    /// `values` in an inner map definition.
    NestedInner,
    /// `values` is not the last member.
    ValuesNotLast,
    /// `values` in a map that is neither map-in-map nor prog_array.
    ValuesWrongType,
    /// `values` is not a zero-sized array of pointers to a struct (or to a function).
    BadValues,
    /// `pinning` in an inner map, or a value other than 0 or 1.
    BadPinning,
    /// A member libbpf does not know (libbpf is strict by default).
    UnknownField(String),
    /// No `type` member.
    NoType,
    /// Legacy `maps`: the section size is 0 or not a multiple of the number of symbols.
    LegacyRecordSize {
        /// Section size.
        size: u64,
        /// Number of non-section symbols in it.
        symbols: u64,
    },
    /// Legacy `maps`: a record runs past the section.
    LegacyOutOfSection,
    /// Legacy `maps`: a static (STB_LOCAL) map symbol.
    LegacyStatic,
    /// Legacy `maps`: a record larger than `struct bpf_map_def` with non-zero extra bytes.
    LegacyExtraBytes,
}

/// Why a program relocation cannot be applied (`bpf_program__record_reloc`,
/// `bpf_object__reloc_code`, `bpf_object__relocate_data`; libbpf: `-LIBBPF_ERRNO__RELOC`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelocProblem {
    /// The relocated instruction is neither an `ld_imm64` nor a call (its `code`).
    WrongInsn(u8),
    /// A call whose `src_reg` is not `BPF_PSEUDO_CALL` ("incorrect bpf_call opcode").
    CallOpcode(u8),
    /// A call against a symbol outside `.text` (the symbol's section name).
    CallOutsideText(String),
    /// A call or function address whose symbol offset (or `imm`) is not a multiple of 8.
    Misaligned(u64),
    /// An extern symbol (`.kconfig`, `.ksyms`, kfuncs: not modeled).
    Extern,
    /// An undefined or special-section symbol (its `st_shndx`): "forgot to initialize
    /// global var?".
    SpecialSection(u64),
    /// A symbol in a section holding neither maps nor global data (the section name).
    NotMapOrData(String),
    /// No map defined at the symbol's section and offset.
    NoMap {
        /// The symbol's section.
        section: String,
        /// The symbol's value.
        offset: u64,
    },
    /// An `ld_imm64` in the last slot of its program: no second half.
    TruncatedLdImm64,
    /// A call or function address targeting instruction `index` of `.text`, which no
    /// `.text` function covers ("no .text section found yet sub-program call exists").
    NoSubprog(i64),
    /// A relocation other than a call or function address on a bpf-to-bpf call or a
    /// `BPF_PSEUDO_FUNC` load.
    UnexpectedReloc,
    /// A `BPF_PSEUDO_FUNC` load without a relocation.
    MissingFuncReloc,
    /// No fd was given for the map (its name).
    NoMapFd(String),
}

/// An object that cannot be opened. Each variant names where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The ELF header or the section header table is truncated or inconsistent
    /// (`object`'s message in `detail`).
    Elf {
        /// Where.
        at: Place,
        /// What `object` reported.
        detail: String,
    },
    /// Not ELFCLASS64.
    WrongClass(u8),
    /// Not little endian (ELFDATA2LSB).
    WrongEndian(u8),
    /// `e_machine` is neither EM_BPF (247) nor EM_NONE (0, accepted like libbpf).
    WrongMachine(u16),
    /// `e_type` is not ET_REL.
    NotRelocatable(u16),
    /// A section's data lies outside the file, or a table section has a bad entry size.
    SectionData(Place),
    /// A section index (a symbol's `st_shndx`, a relocation's `sh_info`, a string table
    /// link) past the last section.
    SectionIndex {
        /// Where the index was read.
        at: Place,
        /// The index.
        index: u64,
    },
    /// No `SHT_SYMTAB` section (stripped object).
    NoSymbolTable,
    /// More than one `SHT_SYMTAB` section.
    MultipleSymbolTables(Place),
    /// A name offset past its string table.
    StringOffset {
        /// Where the offset was read.
        at: Place,
        /// The offset.
        offset: u32,
    },
    /// `version` is not exactly 4 bytes.
    KernVersion(Place),
    /// `.BTF` or `.BTF.ext` is not `SHT_PROGBITS`.
    BtfSectionType(Place),
    /// A program symbol crosses its section's end, or its offset or size is not a
    /// multiple of 8 (`bpf_object__init_prog`: "corrupted program").
    ProgramBounds {
        /// The program's section and offset.
        at: Place,
        /// The function symbol.
        name: String,
    },
    /// A static (STB_LOCAL) function outside `.text` (libbpf: not supported).
    StaticProgram {
        /// The program's section and offset.
        at: Place,
        /// The function symbol.
        name: String,
    },
    /// A relocation section whose `sh_entsize` is not 16 (`Elf64_Rel`).
    RelocEntsize(Place),
    /// A relocation offset past the target section or not on an instruction boundary.
    RelocOffset(Place),
    /// A relocation against a symbol index past the symbol table.
    RelocSymbol {
        /// The relocation entry.
        at: Place,
        /// The symbol index.
        index: u64,
    },
    /// A relocation type this loader does not apply (programs: R_BPF_64_64 = 1 and
    /// R_BPF_64_32 = 10; `.maps`: R_BPF_64_ABS64 = 2).
    RelocType {
        /// The relocation entry.
        at: Place,
        /// `ELF64_R_TYPE`.
        r_type: u32,
    },
    /// A `.maps` relocation that does not name a valid slot of an initializable map.
    MapsReloc {
        /// The relocation entry.
        at: Place,
        /// The symbol it refers to.
        symbol: String,
    },
    /// Malformed `.BTF` (offset inside the section).
    Btf {
        /// Where.
        at: Place,
        /// What.
        problem: BtfProblem,
    },
    /// Malformed `.BTF.ext` (offset inside the section).
    BtfExt {
        /// Where.
        at: Place,
        /// What.
        problem: BtfProblem,
    },
    /// A `.maps` section but no usable `.BTF` (libbpf: "BTF is required").
    MissingBtf(Place),
    /// `.BTF` has no `DATASEC` named `.maps`.
    MissingMapsDatasec,
    /// A DATASEC libbpf cannot fix up: no ELF section of its name, or a global variable
    /// without an ELF symbol (`btf_fixup_datasec`).
    DatasecFixup {
        /// The DATASEC name.
        datasec: String,
        /// The variable, empty when the section itself is missing.
        var: String,
    },
    /// An invalid map definition.
    Map {
        /// The map's definition place (`.maps` or `maps` section, variable offset).
        at: Place,
        /// The map name.
        map: String,
        /// What.
        problem: MapProblem,
    },
    /// `SEC()` name with no entry in libbpf's `section_defs` table.
    UnknownSection(String),
    /// A program relocation libbpf would refuse.
    Reloc {
        /// The relocated instruction: its program's section, byte offset in it.
        at: Place,
        /// The program being relocated (the entry program, for appended code).
        prog: String,
        /// The symbol (empty when the instruction has no relocation).
        symbol: String,
        /// What.
        problem: RelocProblem,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LoadError as E;
        match self {
            E::Elf { at, detail } => write!(f, "malformed ELF at {at}: {detail}"),
            E::WrongClass(c) => write!(f, "ELF class {c} is not ELFCLASS64"),
            E::WrongEndian(d) => write!(f, "ELF data encoding {d} is not little endian"),
            E::WrongMachine(m) => write!(f, "ELF machine {m} is not EM_BPF (247)"),
            E::NotRelocatable(t) => write!(f, "ELF type {t} is not ET_REL"),
            E::SectionData(at) => write!(f, "section data outside the file: {at}"),
            E::SectionIndex { at, index } => {
                write!(f, "section index {index} out of range at {at}")
            }
            E::NoSymbolTable => write!(f, "no symbol table (stripped object?)"),
            E::MultipleSymbolTables(at) => write!(f, "second symbol table at {at}"),
            E::StringOffset { at, offset } => {
                write!(f, "string offset {offset:#x} out of range at {at}")
            }
            E::KernVersion(at) => write!(f, "invalid kernel version section at {at}"),
            E::BtfSectionType(at) => write!(f, "BTF section is not PROGBITS: {at}"),
            E::ProgramBounds { at, name } => write!(f, "corrupted program '{name}' at {at}"),
            E::StaticProgram { at, name } => {
                write!(f, "static program '{name}' is not supported at {at}")
            }
            E::RelocEntsize(at) => write!(f, "relocation entry size is not 16 at {at}"),
            E::RelocOffset(at) => write!(f, "relocation outside its target section: {at}"),
            E::RelocSymbol { at, index } => {
                write!(f, "relocation against unknown symbol #{index} at {at}")
            }
            E::RelocType { at, r_type } => {
                write!(f, "unsupported relocation type {r_type} at {at}")
            }
            E::MapsReloc { at, symbol } => {
                write!(f, "invalid .maps initializer '{symbol}' at {at}")
            }
            E::Btf { at, problem } => write!(f, "malformed BTF at {at}: {problem:?}"),
            E::BtfExt { at, problem } => write!(f, "malformed BTF.ext at {at}: {problem:?}"),
            E::MissingBtf(at) => write!(f, "BTF is required by {at}, but missing or corrupted"),
            E::MissingMapsDatasec => write!(f, "DATASEC '.maps' not found in BTF"),
            E::DatasecFixup { datasec, var } => {
                write!(f, "cannot fix up DATASEC '{datasec}' variable '{var}'")
            }
            E::Map { at, map, problem } => write!(f, "map '{map}' at {at}: {problem:?}"),
            E::UnknownSection(s) => write!(f, "unrecognized program section name '{s}'"),
            E::Reloc {
                at,
                prog,
                symbol,
                problem,
            } => write!(
                f,
                "prog '{prog}': bad relocation against '{symbol}' at {at}: {problem:?}"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

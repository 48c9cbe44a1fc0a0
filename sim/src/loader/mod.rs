//! The ELF loader: libbpf's pipeline on real objects (see issue "The ELF loader"). Parsing
//! is a pure function of the object's bytes; only loading talks to a kernel.
//!
//! Parsing ([`Object::parse`]) follows libbpf's `bpf_object__open`:
//! - ELF ([`elf`], with the `object` crate): 64-bit little-endian `ET_REL` for EM_BPF (or
//!   EM_NONE, as libbpf), one symbol table, sections by index;
//! - `license`, `version`, programs per `STT_FUNC` symbol of each executable section
//!   (several per section; `.text` functions are subprograms), sorted by section and offset;
//! - `.BTF` ([`btf`]) and `.BTF.ext` ([`btf_ext`]), with libbpf's DATASEC fixups;
//! - maps ([`maps`]) in libbpf 0.x order: legacy `maps` records (libbpf ≤ 0.8 only; 1.x
//!   refuses them, this loader keeps accepting them), `.maps` BTF definitions, then one
//!   internal map per non-empty `.data*`/`.rodata*`/`.bss*` section;
//! - the `SEC()` table ([`secdef`]) for program type and expected attach type;
//! - relocations ([`relocs`]): per program, unclassified; `.maps` ones as `.values` slots.
//!
//! Relocation ([`relocate`], in [`reloc`]) is libbpf's `bpf_object__relocate` as a pure
//! function of the object and the map fds: relocations classified as
//! `bpf_program__record_reloc` does, subprograms appended to each entry program in
//! `bpf_object__reloc_code`'s order, map and data references rewritten to
//! `BPF_PSEUDO_MAP_FD`/`BPF_PSEUDO_MAP_VALUE`.
//!
//! What is rejected, with a [`LoadError`] naming the section and offset: truncated or
//! corrupted ELF, wrong class/endianness/machine/type, indices out of range, relocations
//! outside their section, against unknown symbols or of unsupported types, malformed BTF
//! (when `.maps` needs it; otherwise it is dropped with a warning, as libbpf does), invalid
//! map definitions, odd legacy record sizes. No input panics.
//!
//! Not modeled: externs (`.kconfig`, `.ksyms`), struct_ops, arenas, CO-RE relocations,
//! jump tables, custom section handlers.

pub mod btf;
pub mod btf_ext;
pub mod elf;
pub mod error;
pub mod load;
pub mod maps;
pub mod object;
pub mod reloc;
pub mod relocs;
pub mod secdef;

#[cfg(test)]
mod btf_tests;
#[cfg(test)]
mod mutate;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use error::{BtfProblem, LoadError, MapProblem, Place, RelocProblem};
pub use maps::{Map, MapDef, MapKind, SlotTarget};
pub use object::{Object, Program, Reloc};
pub use reloc::{Linked, relocate};
pub use secdef::SecDef;

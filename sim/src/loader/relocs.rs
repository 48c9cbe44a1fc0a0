//! `bpf_object__collect_relos`: program relocations (`bpf_object__collect_prog_relos`)
//! recorded per program, and `.maps` relocations (`bpf_object__collect_map_relos`) turned
//! into `.values` initializer slots.
//!
//! Stricter than libbpf in one way: libbpf never looks at the relocation type (it checks
//! the instruction instead, when it classifies the relocation); here a program relocation
//! must be `R_BPF_64_64` (1) or `R_BPF_64_32` (10), and a `.maps` one `R_BPF_64_ABS64` (2),
//! the only types clang emits there. Relocations of debug and BTF sections (types 2–4) are
//! never read, like libbpf's `ignore_elf_section`.

use super::btf::kind;
use super::elf::{self, Elf, RelEntry, Section};
use super::error::LoadError;
use super::maps::{MapKind, SlotTarget};
use super::object::{INSN_SIZE, Object, Reloc, maps_datasec};
use crate::uapi::map_type;

/// `R_BPF_64_64`: a 64-bit immediate (`ld_imm64`).
pub const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_ABS64`: a 64-bit data word (`.maps` initializers, debug sections).
pub const R_BPF_64_ABS64: u32 = 2;
/// `R_BPF_64_32`: a call's 32-bit immediate.
pub const R_BPF_64_32: u32 = 10;
/// `sizeof(Elf64_Rel)`, for error offsets.
const REL_SIZE: u64 = elf::REL_SIZE;

/// Collects every relocation section kept by `collect_sections`, in section order.
pub(crate) fn collect(
    obj: &mut Object,
    elf: &Elf<'_>,
    rel_secs: &[usize],
) -> Result<(), LoadError> {
    for &idx in rel_secs {
        let Some(rel) = elf.section(idx) else {
            continue;
        };
        let target = rel.info as usize;
        let entries = elf.rels(rel)?;
        if Some(target) == obj.maps_section {
            map_relos(obj, elf, rel, &entries)?;
        } else {
            prog_relos(obj, elf, rel, &entries)?;
        }
    }
    for p in &mut obj.programs {
        p.relocs.sort_by_key(|r| r.insn);
    }
    Ok(())
}

/// Checks the symbol of relocation `i` and returns it.
fn symbol<'e>(
    elf: &'e Elf<'_>,
    rel: &Section<'_>,
    i: usize,
    r: &RelEntry,
) -> Result<&'e elf::Symbol, LoadError> {
    let at = rel.place(i as u64 * REL_SIZE);
    let sym = elf
        .symbols
        .get(r.sym as usize)
        .ok_or(LoadError::RelocSymbol {
            at: at.clone(),
            index: u64::from(r.sym),
        })?;
    if sym.shndx as usize >= elf.sections.len() {
        return Err(LoadError::SectionIndex {
            at,
            index: u64::from(sym.shndx),
        });
    }
    Ok(sym)
}

fn prog_relos(
    obj: &mut Object,
    elf: &Elf<'_>,
    rel: &Section<'_>,
    entries: &[RelEntry],
) -> Result<(), LoadError> {
    let target = rel.info as usize;
    let tsec = elf.section(target).ok_or(LoadError::SectionIndex {
        at: rel.place(0),
        index: target as u64,
    })?;
    let tsize = tsec.data()?.len() as u64;
    for (i, r) in entries.iter().enumerate() {
        let at = rel.place(i as u64 * REL_SIZE);
        let sym = symbol(elf, rel, i, r)?;
        if r.offset % INSN_SIZE != 0 || r.offset >= tsize {
            return Err(LoadError::RelocOffset(tsec.place(r.offset)));
        }
        if r.r_type != R_BPF_64_64 && r.r_type != R_BPF_64_32 {
            return Err(LoadError::RelocType {
                at,
                r_type: r.r_type,
            });
        }
        let sym_name = if sym.st_type == elf::STT_SECTION && sym.name_off == 0 {
            elf.section(sym.shndx as usize).map(|s| s.name.clone())
        } else {
            sym.name.clone()
        };
        let insn_idx = (r.offset / INSN_SIZE) as usize;
        // No program covers the instruction: libbpf skips it ("probably overridden weak
        // function").
        let Some(prog) = obj.programs.iter_mut().find(|p| {
            p.section == target
                && p.insn_offset <= insn_idx
                && insn_idx < p.insn_offset + p.insns.len()
        }) else {
            continue;
        };
        prog.relocs.push(Reloc {
            insn: insn_idx - prog.insn_offset,
            r_type: r.r_type,
            sym_index: sym.index,
            sym_name: sym_name.unwrap_or_else(|| "<?".to_owned()),
            sym_section: sym.shndx as usize,
            sym_value: sym.value,
            sym_type: sym.st_type,
            sym_bind: sym.bind,
        });
    }
    Ok(())
}

/// `.maps` relocations: each fills one slot of a prog_array or map-in-map's `values`.
fn map_relos(
    obj: &mut Object,
    elf: &Elf<'_>,
    rel: &Section<'_>,
    entries: &[RelEntry],
) -> Result<(), LoadError> {
    let maps_idx = obj.maps_section.unwrap_or(0);
    let Some(btf) = obj.btf.as_ref() else {
        return Err(LoadError::MissingBtf(rel.place(0)));
    };
    let datasec_id = maps_datasec(btf).ok_or(LoadError::MissingMapsDatasec)?;
    let vars = btf
        .type_by_id(datasec_id)
        .map(|t| t.members().to_vec())
        .unwrap_or_default();
    for (i, r) in entries.iter().enumerate() {
        let at = rel.place(i as u64 * REL_SIZE);
        let sym = symbol(elf, rel, i, r)?;
        let name = sym.name.clone().unwrap_or_else(|| "<?>".to_owned());
        let bad = || LoadError::MapsReloc {
            at: at.clone(),
            symbol: name.clone(),
        };
        if r.r_type != R_BPF_64_ABS64 {
            return Err(LoadError::RelocType {
                at: at.clone(),
                r_type: r.r_type,
            });
        }
        // The BTF map whose variable holds the 8-byte slot.
        let map_pos = obj.maps.iter().position(|m| {
            m.kind == MapKind::Btf
                && vars.get(m.btf_var_idx).is_some_and(|vi| {
                    u64::from(vi.offset) <= r.offset
                        && r.offset.saturating_add(8) <= u64::from(vi.offset) + u64::from(vi.size)
                })
        });
        let map_pos = map_pos.ok_or_else(bad)?;
        let map = &obj.maps[map_pos];
        let vi = vars[map.btf_var_idx];
        let target = match map.def.map_type {
            map_type::ARRAY_OF_MAPS | map_type::HASH_OF_MAPS => {
                if sym.shndx as usize != maps_idx
                    || (map.def.map_type == map_type::HASH_OF_MAPS && map.def.key_size != 4)
                    || obj.map_by_name(&name).is_none()
                {
                    return Err(bad());
                }
                SlotTarget::Map(name.clone())
            }
            map_type::PROG_ARRAY => {
                let p = obj.entry_program(&name).ok_or_else(bad)?;
                if p.section != sym.shndx as usize || p.insn_offset as u64 * INSN_SIZE != sym.value
                {
                    return Err(bad());
                }
                SlotTarget::Prog(name.clone())
            }
            _ => return Err(bad()),
        };
        // The slot index: offset past the last member, which must be `values`.
        let var = btf.type_by_id(vi.type_id).ok_or_else(bad)?;
        let def_id = btf
            .skip_mods_and_typedefs(var.size_or_type)
            .map_err(|_| bad())?;
        let def = btf
            .type_by_id(def_id)
            .filter(|t| t.kind == kind::STRUCT)
            .ok_or_else(bad)?;
        let last = def.members().last().ok_or_else(bad)?;
        if btf.str_at(last.name_off) != Some(b"values") {
            return Err(bad());
        }
        let bit_off = if def.kflag {
            last.offset & 0xff_ffff
        } else {
            last.offset
        };
        let moff = u64::from(bit_off / 8);
        let rel_off = r.offset - u64::from(vi.offset);
        let slot_off = rel_off
            .checked_sub(moff)
            .filter(|o| o % 8 == 0)
            .ok_or_else(bad)?;
        let slot = usize::try_from(slot_off / 8).map_err(|_| bad())?;
        let slots = &mut obj.maps[map_pos].init_slots;
        if slot >= slots.len() {
            slots.resize(slot + 1, None);
        }
        slots[slot] = Some(target);
    }
    Ok(())
}

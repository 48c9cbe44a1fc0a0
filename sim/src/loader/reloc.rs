//! Program relocation: what libbpf does between opening an object and `BPF_PROG_LOAD`,
//! as a pure function of the parsed [`Object`] and the map fds.
//!
//! Three steps, each libbpf's (v1.1, the version whose kernel tags `corpus/README.md`
//! records; current libbpf does the same for everything modeled here):
//! 1. classify every relocation of every program (`bpf_program__record_reloc`, which
//!    libbpf runs at open for all programs, so a bad relocation anywhere fails the object):
//!    a call → subprogram call, an `ld_imm64` against a `.text` function → its address,
//!    against a `.maps`/`maps` symbol → map fd, against a `.data*`/`.rodata*`/`.bss*`
//!    symbol → map value;
//! 2. per entry program (not a `.text` subprogram, autoload on), in ELF order, append every
//!    subprogram it uses, transitively, at the end, each once, in the order the calls are
//!    first met by `bpf_object__reloc_code`'s depth-first walk (the walk suspends the scan of
//!    the current function at a call to a function not yet appended, appends and walks that
//!    one, then resumes), and rewrite each call's `imm` to the new relative offset
//!    (`bpf_object__relocate_calls`);
//! 3. per entry program, in ELF order, apply the map and data relocations of the main code
//!    and of every appended copy (`bpf_object__relocate_data`): map →
//!    `src_reg = BPF_PSEUDO_MAP_FD, imm = fd`; data → `insn[1].imm = insn[0].imm + st_value`
//!    (a variable symbol has its offset in `st_value` and clang leaves `imm` 0; a section
//!    symbol, used for statics and string literals, has `st_value` 0 and the offset in
//!    `imm`), then `src_reg = BPF_PSEUDO_MAP_VALUE, imm = fd`.
//!
//! libbpf 1.1's other instruction rewrite, `bpf_object__sanitize_prog` (the
//! `probe_read_{kernel,user}` helpers → `probe_read` on kernels without them), changes
//! nothing on the kernels modeled here and is not applied. Calls must target `.text`, as in
//! every libbpf version: a call from one entry program to another (even in the same
//! section) is rejected ([`RelocProblem::CallOutsideText`]); several entry programs of one
//! section are relocated independently, each with its own copy of the subprograms it uses.
//!
//! Not modeled (typed errors instead): externs (`.kconfig`, `.ksyms`, kfuncs), CO-RE,
//! `.kconfig` maps, maps with `autocreate` off (libbpf poisons their loads), gen_loader.

use super::error::{LoadError, Place, RelocProblem};
use super::object::{INSN_SIZE, Object, Program, Reloc};
use crate::prog::insn::{BPF_CALL, BPF_JMP, BPF_K, Insn, LD_IMM64};
use crate::uapi::pseudo;

/// One entry program after relocation: what libbpf submits to BPF_PROG_LOAD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linked {
    /// The function name (`prog->name`; the kernel keeps its first 15 bytes).
    pub name: String,
    /// The `SEC()` name, without a leading `?`.
    pub section: String,
    /// `prog_type` from the `SEC()` table (0 when the name is not in it: libbpf then fails
    /// the load with "missing BPF prog type", see [`Program::sec_def`]).
    pub prog_type: u32,
    /// `expected_attach_type` from the `SEC()` table.
    pub expected_attach_type: u32,
    /// `prog_flags` libbpf adds (`BPF_F_XDP_HAS_FRAGS` for `xdp.frags`, `BPF_F_SLEEPABLE`
    /// for `.s` sections).
    pub prog_flags: u32,
    /// The relocated instructions: the program's own, then the appended subprograms.
    pub insns: Vec<Insn>,
    /// The functions in [`Linked::insns`]: (index in `obj.programs`, first instruction),
    /// the entry program first at 0, then each appended subprogram (what libbpf's
    /// `reloc_prog_func_and_line_info` uses to place their func/line info).
    pub parts: Vec<(usize, usize)>,
}

/// `ELF64_ST_TYPE` / `ELF64_ST_BIND` values used by the classification.
const STT_NOTYPE: u8 = 0;
const STT_FUNC: u8 = 2;
const STT_SECTION: u8 = 3;
const STB_LOCAL: u8 = 0;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;

/// libbpf's `enum reloc_type`, for the kinds modeled. `sym_off` is libbpf's `int sym_off`:
/// the symbol's `st_value`, truncated to 32 bits as C does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `RELO_LD64`: map `map` (index in `obj.maps`).
    Ld64 { map: usize },
    /// `RELO_DATA`: internal map `map`, `sym_off` added to the offset.
    Data { map: usize, sym_off: i32 },
    /// `RELO_CALL`: a bpf-to-bpf call.
    Call { sym_off: i32 },
    /// `RELO_SUBPROG_ADDR`: an `ld_imm64` of a `.text` function's address (callbacks).
    SubprogAddr { sym_off: i32 },
}

/// One classified relocation (`struct reloc_desc`), plus where it came from for errors.
#[derive(Clone, Debug)]
struct Desc {
    /// Instruction index in the code holding it (the function; after appending, the main
    /// program's combined code).
    insn: usize,
    kind: Kind,
    /// Program (index in `obj.programs`) and instruction index there, for error places.
    origin: (usize, usize),
}

/// Relocate every entry (non-subprogram, autoload) program of `obj`, in ELF order, with map i
/// (in `obj.maps` order) at fd `map_fds[i]`.
pub fn relocate(obj: &Object, map_fds: &[i32]) -> Result<Vec<Linked>, LoadError> {
    // Step 1 (at open in libbpf): classify, for every program.
    let descs = obj
        .programs
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            p.relocs
                .iter()
                .map(|r| classify(obj, pi, r))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    // `bpf_object__relocate`: mark function-address loads so the call walk sees them.
    let code: Vec<Vec<Insn>> = obj
        .programs
        .iter()
        .zip(&descs)
        .map(|(p, ds)| {
            let mut insns = p.insns.clone();
            for d in ds {
                if matches!(d.kind, Kind::SubprogAddr { .. }) {
                    insns[d.insn].src = pseudo::FUNC;
                }
            }
            insns
        })
        .collect();
    let entries: Vec<usize> = (0..obj.programs.len())
        .filter(|&i| !obj.programs[i].is_subprog && obj.programs[i].autoload)
        .collect();
    // Step 2: calls, for every entry program, before any data relocation (libbpf's order,
    // which decides which error is reported first).
    let mut linked = Vec::with_capacity(entries.len());
    for &main in &entries {
        linked.push(relocate_calls(obj, &code, &descs, main)?);
    }
    // Step 3: data.
    let mut out = Vec::with_capacity(entries.len());
    for (&main, (mut insns, relos, parts)) in entries.iter().zip(linked) {
        relocate_data(obj, &mut insns, &relos, map_fds)?;
        let p = &obj.programs[main];
        out.push(Linked {
            name: p.name.clone(),
            section: p.section_name.clone(),
            prog_type: p.prog_type(),
            expected_attach_type: p.expected_attach_type(),
            prog_flags: p.sec_def.map_or(0, |d| d.prog_flags()),
            insns,
            parts,
        });
    }
    Ok(out)
}

/// The place of instruction `insn` of program `prog`.
fn insn_place(obj: &Object, prog: &Program, insn: usize) -> Place {
    let name = obj
        .section_names
        .get(prog.section)
        .map_or("", String::as_str);
    Place::sec(
        prog.section,
        name,
        (prog.insn_offset + insn) as u64 * INSN_SIZE,
    )
}

fn reloc_err(obj: &Object, pi: usize, insn: usize, symbol: &str, p: RelocProblem) -> LoadError {
    let prog = &obj.programs[pi];
    LoadError::Reloc {
        at: insn_place(obj, prog, insn),
        prog: prog.name.clone(),
        symbol: symbol.to_owned(),
        problem: p,
    }
}

fn is_ldimm64(insn: &Insn) -> bool {
    insn.code == LD_IMM64
}

fn is_call(insn: &Insn) -> bool {
    insn.code == BPF_JMP | BPF_CALL
}

/// libbpf's `insn_is_subprog_call`.
fn is_subprog_call(insn: &Insn) -> bool {
    insn.code == BPF_JMP | BPF_CALL | BPF_K
        && insn.src == pseudo::CALL
        && insn.dst == 0
        && insn.off == 0
}

/// libbpf's `insn_is_pseudo_func`.
fn is_pseudo_func(insn: &Insn) -> bool {
    is_ldimm64(insn) && insn.src == pseudo::FUNC
}

/// `.data`, `.data.*` (and the same for `.rodata`, `.bss`): libbpf's `SEC_DATA` & co.
fn is_data_section(name: &str) -> bool {
    [".data", ".rodata", ".bss"]
        .iter()
        .any(|base| name == *base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.')))
}

/// `bpf_program__record_reloc`.
fn classify(obj: &Object, pi: usize, r: &Reloc) -> Result<Desc, LoadError> {
    let prog = &obj.programs[pi];
    let err = |p| reloc_err(obj, pi, r.insn, &r.sym_name, p);
    let insn = prog.insns[r.insn];
    let desc = |kind| Desc {
        insn: r.insn,
        kind,
        origin: (pi, r.insn),
    };
    // `int sym_off = sym->st_value`.
    let sym_off = r.sym_value as i32;
    if !is_call(&insn) && !is_ldimm64(&insn) {
        return Err(err(RelocProblem::WrongInsn(insn.code)));
    }
    let shndx = r.sym_section;
    if shndx == 0
        && (r.sym_bind == STB_GLOBAL || r.sym_bind == STB_WEAK)
        && r.sym_type == STT_NOTYPE
    {
        return Err(err(RelocProblem::Extern));
    }
    let sec_name = || obj.section_names.get(shndx).cloned().unwrap_or_default();
    if is_call(&insn) {
        if insn.src != pseudo::CALL {
            return Err(err(RelocProblem::CallOpcode(insn.src)));
        }
        if shndx == 0 || Some(shndx) != obj.text_section {
            return Err(err(RelocProblem::CallOutsideText(sec_name())));
        }
        if r.sym_value % INSN_SIZE != 0 {
            return Err(err(RelocProblem::Misaligned(r.sym_value)));
        }
        return Ok(desc(Kind::Call { sym_off }));
    }
    if shndx == 0 {
        return Err(err(RelocProblem::SpecialSection(shndx as u64)));
    }
    // `sym_is_subprog`: a `.text` section symbol (static function) or global function.
    if Some(shndx) == obj.text_section
        && ((r.sym_bind == STB_LOCAL && r.sym_type == STT_SECTION)
            || (r.sym_bind == STB_GLOBAL && r.sym_type == STT_FUNC))
    {
        if r.sym_value % INSN_SIZE != 0 || insn.imm % INSN_SIZE as i32 != 0 {
            let off = r.sym_value.wrapping_add(insn.imm as i64 as u64);
            return Err(err(RelocProblem::Misaligned(off)));
        }
        return Ok(desc(Kind::SubprogAddr { sym_off }));
    }
    // Global data: the internal map of the symbol's section.
    if let Some(map) = obj
        .maps
        .iter()
        .position(|m| m.kind.is_internal() && m.section == shndx)
    {
        if r.insn + 1 >= prog.insns.len() {
            return Err(err(RelocProblem::TruncatedLdImm64));
        }
        return Ok(desc(Kind::Data { map, sym_off }));
    }
    let no_map = || {
        err(RelocProblem::NoMap {
            section: sec_name(),
            offset: r.sym_value,
        })
    };
    if is_data_section(&sec_name()) {
        return Err(no_map());
    }
    // A map: `.maps` (or the legacy `maps`, which libbpf 1.x refuses at open), found by
    // section and offset.
    if Some(shndx) != obj.maps_section && Some(shndx) != obj.legacy_maps_section {
        return Err(err(RelocProblem::NotMapOrData(sec_name())));
    }
    let map = obj
        .maps
        .iter()
        .position(|m| {
            !m.kind.is_internal() && m.section == shndx && m.section_offset == r.sym_value
        })
        .ok_or_else(no_map)?;
    Ok(desc(Kind::Ld64 { map }))
}

/// `bpf_object__relocate_calls` + `bpf_object__reloc_code` for entry program `main`: its
/// code with the subprograms appended and calls fixed, and the relocations of all of it
/// (`append_subprog_relos`). The recursion of `bpf_object__reloc_code` is an explicit stack
/// here (same order: a call to a function not yet appended appends it and walks it before
/// the caller's scan resumes), so a long chain of functions cannot overflow the stack.
/// Combined code, its relocations, and where each function went ([`Linked::parts`]).
type CallsLinked = (Vec<Insn>, Vec<Desc>, Vec<(usize, usize)>);

fn relocate_calls(
    obj: &Object,
    code: &[Vec<Insn>],
    descs: &[Vec<Desc>],
    main: usize,
) -> Result<CallsLinked, LoadError> {
    let mut parts = vec![(main, 0usize)];
    let mut insns = code[main].clone();
    let mut relos = descs[main].clone();
    // `sub_insn_off`, per program; 0 = not appended yet (the main program's is 0 too).
    let mut sub_off = vec![0usize; obj.programs.len()];
    // (function, next instruction to scan).
    let mut stack = vec![(main, 0usize)];
    while let Some(top) = stack.last_mut() {
        let (pi, i) = *top;
        if i >= code[pi].len() {
            stack.pop();
            continue;
        }
        top.1 += 1;
        let at = sub_off[pi] + i;
        let insn = insns[at];
        if !is_subprog_call(&insn) && !is_pseudo_func(&insn) {
            continue;
        }
        let relo = descs[pi].iter().find(|d| d.insn == i);
        let sym = obj.programs[pi]
            .relocs
            .iter()
            .find(|r| r.insn == i)
            .map_or("", |r| r.sym_name.as_str());
        let err = |p| reloc_err(obj, pi, i, sym, p);
        let target: i64 = match relo.map(|d| d.kind) {
            Some(Kind::Call { sym_off }) => {
                i64::from(sym_off) / INSN_SIZE as i64 + i64::from(insn.imm) + 1
            }
            Some(Kind::SubprogAddr { sym_off }) => {
                (i64::from(sym_off) + i64::from(insn.imm)) / INSN_SIZE as i64
            }
            Some(_) => return Err(err(RelocProblem::UnexpectedReloc)),
            None if is_pseudo_func(&insn) => return Err(err(RelocProblem::MissingFuncReloc)),
            // A call with no relocation: `imm` is relative to the instruction's place in
            // its section, and the target is looked up in `.text` (libbpf's rule, whatever
            // the caller's section).
            None => obj.programs[pi].insn_offset as i64 + i as i64 + i64::from(insn.imm) + 1,
        };
        // `find_prog_by_sec_insn(obj, text_shndx, sub_insn_idx)`: the `.text` function
        // containing the target (not necessarily at its start).
        let sub = obj.text_section.and_then(|text| {
            usize::try_from(target).ok().and_then(|t| {
                obj.programs.iter().position(|p| {
                    p.section == text && p.insn_offset <= t && t < p.insn_offset + p.insns.len()
                })
            })
        });
        let sub = sub.ok_or_else(|| err(RelocProblem::NoSubprog(target)))?;
        let newly = sub_off[sub] == 0;
        if newly {
            sub_off[sub] = insns.len();
            parts.push((sub, insns.len()));
            insns.extend_from_slice(&code[sub]);
            relos.extend(descs[sub].iter().map(|d| Desc {
                insn: d.insn + sub_off[sub],
                ..d.clone()
            }));
        }
        insns[at].imm = (sub_off[sub] as i64 - at as i64 - 1) as i32;
        if newly {
            stack.push((sub, 0));
        }
    }
    Ok((insns, relos, parts))
}

/// `bpf_object__relocate_data` on an entry program's combined code.
fn relocate_data(
    obj: &Object,
    insns: &mut [Insn],
    relos: &[Desc],
    map_fds: &[i32],
) -> Result<(), LoadError> {
    for d in relos {
        let (Kind::Ld64 { map } | Kind::Data { map, .. }) = d.kind else {
            continue;
        };
        let fd = map_fds.get(map).copied().ok_or_else(|| {
            let (pi, i) = d.origin;
            let sym = obj.programs[pi]
                .relocs
                .iter()
                .find(|r| r.insn == i)
                .map_or("", |r| r.sym_name.as_str());
            reloc_err(
                obj,
                pi,
                i,
                sym,
                RelocProblem::NoMapFd(obj.maps[map].name.clone()),
            )
        })?;
        if let Kind::Data { sym_off, .. } = d.kind {
            insns[d.insn + 1].imm = insns[d.insn].imm.wrapping_add(sym_off);
            insns[d.insn].src = pseudo::MAP_VALUE;
        } else {
            insns[d.insn].src = pseudo::MAP_FD;
        }
        insns[d.insn].imm = fd;
    }
    Ok(())
}

#[cfg(test)]
#[path = "reloc_tests.rs"]
mod tests;

//! Tests of [`super::relocate`]: the corpus against the kernel's tags, the rules on objects
//! built in memory, and snapshots of every corpus program's relocated instructions.

use std::path::PathBuf;

use super::*;
use crate::loader::object::Object;
use crate::prog::insn::{Insn, LD_IMM64};
use crate::prog::tag::{TagHash, prog_tag};
use crate::uapi::pseudo;

/// The kernel tags of `corpus/README.md` (Linux 6.18, SHA-256; `bpftool prog loadall`,
/// libbpf 1.1): (object, program, tag).
const KERNEL_TAGS: &[(&str, &str, &str)] = &[
    ("atomics.o", "xdp_atomics", "8b58cc2937e95a57"),
    ("bounded_loop.o", "sock_loop100", "6e02756c6e12dbd6"),
    ("cgroup.o", "cg_ingress", "5614e865d8baaeb7"),
    ("cgroup.o", "cg_sock_create", "bc55a81d9e1ea57d"),
    ("cpu_v4.o", "xdp_cpu_v4", "766f342d7c4f921c"),
    ("global_data.o", "xdp_globals", "3debe6578aba2ca4"),
    ("map_in_map.o", "xdp_mim", "b96e9c3c71be5e8b"),
    ("pin_by_name.o", "sock_pinned", "d4d950593910dd42"),
    ("seed_btf_lookup.o", "my_prog", "10d32ccf82798ce3"),
    ("seed_btf_nolookup.o", "my_prog", "b11459a0e11ca14c"),
    ("subprog.o", "sock_subprog", "10bca4f77f102f5d"),
    ("tailcall.o", "tail_entry", "cb7d5bbb76561022"),
    ("tailcall.o", "tail_target0", "2cfdddc59eb681c4"),
    ("tailcall.o", "tail_target1", "bf91f9eacd3d02e3"),
    ("xdp_loop.o", "xdp_loop1000", "6520b4405e266320"),
    ("xdp_parser.o", "xdp_parse", "85f423ff9e8f3e8b"),
    ("xdp_trivial.o", "xdp_pass", "614b434cd8324ecc"),
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

fn open(file: &str) -> Object {
    let bytes = std::fs::read(corpus_dir().join(file)).unwrap();
    Object::parse(file, &bytes).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Arbitrary fds: 3, 4, 5, ... in map order.
fn fds(obj: &Object) -> Vec<i32> {
    (3..).take(obj.maps.len()).collect()
}

#[test]
fn corpus_tags_equal_the_kernels() {
    let mut bad = vec![];
    for &(file, prog, want) in KERNEL_TAGS {
        let obj = open(file);
        let linked = relocate(&obj, &fds(&obj)).unwrap();
        let l = linked.iter().find(|l| l.name == prog).unwrap();
        let got = hex(&prog_tag(&l.insns, TagHash::Sha256));
        if got != want {
            bad.push(format!("{file} {prog}: got {got}, kernel {want}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Every entry program of every corpus object is in [`KERNEL_TAGS`] (except the legacy
/// seeds, which libbpf 1.x refuses), so the tag test covers the whole corpus.
#[test]
fn kernel_tags_cover_every_corpus_program() {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".o"))
        .collect();
    files.sort();
    let mut n = 0;
    for file in &files {
        let obj = open(file);
        let linked = relocate(&obj, &fds(&obj)).unwrap();
        if file.starts_with("seed_legacy_") {
            continue;
        }
        for l in &linked {
            assert!(
                KERNEL_TAGS
                    .iter()
                    .any(|&(f, p, _)| f == file && p == l.name),
                "{file} {}: no kernel tag recorded",
                l.name
            );
            n += 1;
        }
    }
    assert_eq!(n, KERNEL_TAGS.len());
}

fn tag_of(l: &Linked) -> String {
    hex(&prog_tag(&l.insns, TagHash::Sha256))
}

/// The legacy seeds (libbpf 1.x refuses them, so no kernel tag) relocate to the same
/// instructions as the BTF seeds: the tags of kernel-observations §1.5.
#[test]
fn legacy_seeds_have_the_btf_seeds_tags() {
    for (legacy, btf) in [
        ("seed_legacy_lookup.o", "seed_btf_lookup.o"),
        ("seed_legacy_nolookup.o", "seed_btf_nolookup.o"),
    ] {
        let (a, b) = (open(legacy), open(btf));
        let la = relocate(&a, &fds(&a)).unwrap();
        let lb = relocate(&b, &fds(&b)).unwrap();
        assert_eq!(la.len(), 1);
        assert_eq!(la[0].insns, lb[0].insns, "{legacy} vs {btf}");
        assert_eq!(tag_of(&la[0]), tag_of(&lb[0]));
    }
}

/// The tags really depend on the relocation: unrelocated code (or code without its
/// subprograms) gives other tags, and different fds give the same ones.
#[test]
fn tags_need_the_relocation_but_not_the_fds() {
    let obj = open("subprog.o");
    let main = obj.entry_program("sock_subprog").unwrap();
    let l = &relocate(&obj, &fds(&obj)).unwrap()[0];
    assert_ne!(
        prog_tag(&main.insns, TagHash::Sha256),
        prog_tag(&l.insns, TagHash::Sha256)
    );
    let other = relocate(&obj, &[77; 8]).unwrap();
    assert_eq!(tag_of(&other[0]), tag_of(l));
    assert_ne!(other[0].insns, l.insns);
    let g = open("global_data.o");
    let lg = &relocate(&g, &fds(&g)).unwrap()[0];
    let raw = &g.entry_program("xdp_globals").unwrap().insns;
    assert_eq!(raw.len(), lg.insns.len());
    assert_ne!(
        prog_tag(raw, TagHash::Sha256),
        prog_tag(&lg.insns, TagHash::Sha256)
    );
}

/// `subprog.o`: `clamp_len` (global, `.text` insn 0) and `bump` (static, insn 9) appended
/// once each, calls pointing at them, and `bump`'s own map reference relocated in the copy.
#[test]
fn subprog_corpus_layout() {
    let obj = open("subprog.o");
    let l = &relocate(&obj, &fds(&obj)).unwrap()[0];
    let main = obj.entry_program("sock_subprog").unwrap();
    let text: Vec<&Program> = obj.programs.iter().filter(|p| p.is_subprog).collect();
    let total: usize = main.insns.len() + text.iter().map(|p| p.insns.len()).sum::<usize>();
    assert_eq!(l.insns.len(), total);
    let calls: Vec<(usize, i32)> = l
        .insns
        .iter()
        .enumerate()
        .filter(|(_, i)| is_subprog_call(i))
        .map(|(k, i)| (k, i.imm))
        .collect();
    assert!(!calls.is_empty());
    // Every call lands on the first instruction of an appended function.
    let mut starts = vec![];
    let mut at = main.insns.len();
    for p in &text {
        starts.push(at);
        at += p.insns.len();
    }
    for (k, imm) in calls {
        let target = (k as i64 + i64::from(imm) + 1) as usize;
        assert!(starts.contains(&target), "call at {k} lands at {target}");
    }
    let map_loads = l
        .insns
        .iter()
        .filter(|i| i.code == LD_IMM64 && i.src == pseudo::MAP_FD)
        .count();
    assert!(map_loads >= 1);
}

/// Corrupted relocation inputs never panic: for every relocation of every corpus object,
/// the relocated instruction turned into calls and loads with odd immediates, the symbol
/// moved to odd values and sections, and the program cut short.
#[test]
fn odd_relocation_inputs_never_panic() {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".o"))
        .collect();
    files.sort();
    let (mut runs, mut errs) = (0, 0);
    for file in &files {
        let obj = open(file);
        for pi in 0..obj.programs.len() {
            for ri in 0..obj.programs[pi].relocs.len() {
                for variant in 0..12 {
                    let mut o = obj.clone();
                    let p = &mut o.programs[pi];
                    let r = &mut p.relocs[ri];
                    let insn = &mut p.insns[r.insn];
                    match variant {
                        0 => {
                            *insn = Insn {
                                code: 0x85,
                                src: 1,
                                imm: -1,
                                ..*insn
                            }
                        }
                        1 => {
                            *insn = Insn {
                                code: 0x85,
                                src: 1,
                                imm: i32::MIN,
                                ..*insn
                            }
                        }
                        2 => {
                            *insn = Insn {
                                code: 0x85,
                                src: 1,
                                imm: i32::MAX,
                                ..*insn
                            }
                        }
                        3 => {
                            *insn = Insn {
                                code: LD_IMM64,
                                src: pseudo::FUNC,
                                ..*insn
                            }
                        }
                        4 => insn.imm = i32::MIN,
                        5 => r.sym_value = 3,
                        6 => r.sym_value = u64::MAX,
                        7 => r.sym_section = o.text_section.unwrap_or(0),
                        8 => r.sym_section = 0,
                        9 => r.sym_section = o.section_names.len() + 5,
                        10 => {
                            let keep = r.insn + 1;
                            p.insns.truncate(keep);
                            p.relocs.retain(|r| r.insn < keep);
                        }
                        _ => {
                            r.sym_type = 3;
                            r.sym_bind = 0;
                        }
                    }
                    runs += 1;
                    if relocate(&o, &fds(&o)).is_err() {
                        errs += 1;
                    }
                }
            }
        }
    }
    assert!(
        runs > 100 && errs > 0 && errs < runs,
        "{runs} runs, {errs} errors"
    );
}

// ---- rules, on objects built in memory ------------------------------------------------------

mod rules {
    use super::super::*;
    use crate::loader::error::{LoadError, RelocProblem};
    use crate::loader::object::Object;
    use crate::loader::testutil::*;
    use crate::prog::insn::Insn;
    use crate::uapi::{flags, prog_type as pt, pseudo};

    const GLOBAL: u8 = 1;
    const LOCAL: u8 = 0;
    const NOTYPE: u8 = 0;
    const OBJECT: u8 = 1;
    const FUNC: u8 = 2;
    const SECTION: u8 = 3;
    const R64: u32 = 1;
    const R32: u32 = 10;

    fn mov(imm: i32) -> [u8; 8] {
        let mut b = [0xb7, 0, 0, 0, 0, 0, 0, 0];
        b[4..].copy_from_slice(&imm.to_le_bytes());
        b
    }

    fn call(imm: i32) -> [u8; 8] {
        let mut b = call_pseudo();
        b[4..].copy_from_slice(&imm.to_le_bytes());
        b
    }

    fn ld(imm: i32) -> [[u8; 8]; 2] {
        let [mut a, b] = ld_imm64();
        a[1] = 0x01; // r1
        a[4..].copy_from_slice(&imm.to_le_bytes());
        [a, b]
    }

    fn parse(e: &ElfBuilder) -> Result<Object, LoadError> {
        Object::parse("rules.o", &e.build())
    }

    fn link(e: &ElfBuilder, fds: &[i32]) -> Result<Vec<Linked>, LoadError> {
        relocate(&parse(e)?, fds)
    }

    fn problem(r: Result<Vec<Linked>, LoadError>) -> (String, u64, String, RelocProblem) {
        match r {
            Err(LoadError::Reloc {
                at,
                symbol,
                problem,
                ..
            }) => (at.name, at.offset, symbol, problem),
            other => panic!("expected a relocation error, got {other:?}"),
        }
    }

    fn by_name<'a>(l: &'a [Linked], n: &str) -> &'a [Insn] {
        &l.iter().find(|l| l.name == n).unwrap().insns
    }

    fn imms(insns: &[Insn]) -> Vec<i32> {
        insns.iter().map(|i| i.imm).collect()
    }

    /// libbpf's own example (`bpf_object__relocate_calls`): mainA calls subA, mainB calls
    /// subC, subA and subC both call subB. mainA = mainA|subA|subB, mainB = mainB|subC|subB.
    /// Also: the walk is depth-first (mainA calls subA then subD; subA's callee subB comes
    /// before subD), each function is appended once, and two entry programs share a section.
    #[test]
    fn subprograms_append_depth_first_once_per_main() {
        let mut e = ElfBuilder::new();
        // .text: subA 0..3 (call subB; call subB; exit), subB 3..5, subC 5..7, subD 7..9
        e.code(
            ".text",
            &[
                call(-1),
                call(-1),
                exit(),
                mov(2),
                exit(),
                call(-1),
                exit(),
                mov(4),
                exit(),
            ],
        )
        // xdp: mainA 0..4 (call subA; call subD; call subA; exit), mainB 4..6
        .code(
            "xdp",
            &[call(-1), call(-1), call(-1), exit(), call(-1), exit()],
        )
        .section("license", 1, 3, b"GPL\0".to_vec())
        .sym("subA", ".text", FUNC, GLOBAL, 0, 24) // 1
        .sym("subB", ".text", FUNC, GLOBAL, 24, 16) // 2
        .sym("subC", ".text", FUNC, GLOBAL, 40, 16) // 3
        .sym("subD", ".text", FUNC, GLOBAL, 56, 16) // 4
        .sym("mainA", "xdp", FUNC, GLOBAL, 0, 32) // 5
        .sym("mainB", "xdp", FUNC, GLOBAL, 32, 16) // 6
        .rel(".text", vec![(0, 2, R32), (8, 2, R32), (40, 2, R32)])
        .rel(
            "xdp",
            vec![(0, 1, R32), (8, 4, R32), (16, 1, R32), (32, 3, R32)],
        );
        let l = link(&e, &[]).unwrap();
        assert_eq!(
            l.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["mainA", "mainB"]
        );
        // mainA(4) | subA(3) @4 | subB(2) @7 | subD(2) @9
        let a = by_name(&l, "mainA");
        assert_eq!(a.len(), 11);
        assert_eq!(imms(&a[..4]), [4 - 1, 9 - 2, 4 - 3, 0]);
        assert_eq!(imms(&a[4..7]), [7 - 5, 7 - 6, 0]);
        assert_eq!(imms(&a[7..]), [2, 0, 4, 0]);
        // mainB(2) | subC(2) @2 | subB(2) @4
        let b = by_name(&l, "mainB");
        assert_eq!(b.len(), 6);
        assert_eq!(imms(b), [2 - 1, 0, 4 - 3, 0, 2, 0]);
    }

    /// Calls against the `.text` section symbol (static functions: `imm` = target - 1) and
    /// calls with no relocation at all (relative to their place in `.text`).
    #[test]
    fn static_calls_by_section_symbol_and_without_relocation() {
        let mut e = ElfBuilder::new();
        // .text: f 0..2 (call +1 -> g, no reloc; exit), g 2..4
        e.code(".text", &[call(1), exit(), mov(7), exit()])
            .code("socket", &[call(1), exit()])
            .sym("", ".text", SECTION, LOCAL, 0, 0) // 1
            .sym("f", ".text", FUNC, LOCAL, 0, 16) // 2
            .sym("g", ".text", FUNC, LOCAL, 16, 16) // 3
            .sym("prog", "socket", FUNC, GLOBAL, 0, 16) // 4
            // prog calls `.text` + 0 with imm 1: instruction 0 + 1 + 1 = 2, `g`.
            .rel("socket", vec![(0, 1, R32)]);
        let l = link(&e, &[]).unwrap();
        // prog(2) | g(2) @2 only: f is never called.
        assert_eq!(imms(&l[0].insns), [1, 0, 7, 0]);
        let mut e2 = ElfBuilder::new();
        e2.code(".text", &[call(1), exit(), mov(7), exit()])
            .code("socket", &[call(-1), exit()])
            .sym("f", ".text", FUNC, GLOBAL, 0, 16) // 1
            .sym("g", ".text", FUNC, LOCAL, 16, 16) // 2
            .sym("prog", "socket", FUNC, GLOBAL, 0, 16) // 3
            .rel("socket", vec![(0, 1, R32)]);
        let l = link(&e2, &[]).unwrap();
        // prog(2) | f(2) @2 | g(2) @4 (found through f's relocation-less call)
        assert_eq!(imms(&l[0].insns), [1, 0, 1, 0, 7, 0]);
        assert_eq!(l[0].prog_type, pt::SOCKET_FILTER);
    }

    /// Map and data references, in the main code and in an appended subprogram (relocated
    /// in each main program's copy), with variable symbols (`st_value` = offset) and section
    /// symbols (offset in `imm`).
    #[test]
    fn map_and_data_references() {
        let mut e = ElfBuilder::new();
        let [a0, a1] = ld(0);
        let [s0, s1] = ld(4);
        let [v0, v1] = ld(0);
        let [m0, m1] = ld(0);
        e.code(".text", &[m0, m1, exit()])
            .code("xdp", &[a0, a1, s0, s1, v0, v1, call(-1), exit()])
            .code("tc", &[call(-1), exit()])
            .section("maps", 1, 3, vec![0; 40])
            .section(".data", 1, 3, vec![0; 16])
            .bss(".bss", 8)
            .section("license", 1, 3, b"GPL\0".to_vec())
            .sym("m0", "maps", OBJECT, GLOBAL, 0, 20) // 1
            .sym("m1", "maps", OBJECT, GLOBAL, 20, 20) // 2
            .sym("", ".data", SECTION, LOCAL, 0, 0) // 3
            .sym("var", ".data", OBJECT, GLOBAL, 8, 8) // 4
            .sym("cnt", ".bss", OBJECT, GLOBAL, 0, 8) // 5
            .sym("sub", ".text", FUNC, GLOBAL, 0, 24) // 6
            .sym("main", "xdp", FUNC, GLOBAL, 0, 64) // 7
            .sym("other", "tc", FUNC, GLOBAL, 0, 16) // 8
            .rel(".text", vec![(0, 2, R64)])
            .rel(
                "xdp",
                vec![(0, 1, R64), (16, 3, R64), (32, 4, R64), (48, 6, R32)],
            )
            .rel("tc", vec![(0, 6, R32)]);
        let obj = parse(&e).unwrap();
        let names: Vec<&str> = obj.maps.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["m0", "m1", "rules.data", "rules.bss"]);
        let l = relocate(&obj, &[10, 11, 12, 13]).unwrap();
        let x = by_name(&l, "main");
        let ld = |i: &Insn| (i.src, i.imm);
        assert_eq!((ld(&x[0]), x[1].imm), ((pseudo::MAP_FD, 10), 0));
        assert_eq!((ld(&x[2]), x[3].imm), ((pseudo::MAP_VALUE, 12), 4));
        assert_eq!((ld(&x[4]), x[5].imm), ((pseudo::MAP_VALUE, 12), 8));
        assert_eq!(x[6].imm, 1);
        assert_eq!((ld(&x[8]), x[9].imm), ((pseudo::MAP_FD, 11), 0));
        let t = by_name(&l, "other");
        assert_eq!(t.len(), 5);
        assert_eq!((ld(&t[2]), t[3].imm), ((pseudo::MAP_FD, 11), 0));
        // The parsed object is untouched.
        assert!(obj.programs[0].is_subprog);
        assert_eq!(
            (obj.programs[0].insns[0].src, obj.programs[0].insns[0].imm),
            (0, 0)
        );
        // Too few fds: a typed error naming the map.
        let (sec, off, sym, p) = problem(relocate(&obj, &[10]));
        assert_eq!((sec.as_str(), off, sym.as_str()), ("xdp", 16, ".data"));
        assert_eq!(p, RelocProblem::NoMapFd("rules.data".into()));
    }

    /// `ld_imm64` of a `.text` function's address (a callback): `BPF_PSEUDO_FUNC` with the
    /// relative offset, the function appended.
    #[test]
    fn function_address_loads() {
        let mut e = ElfBuilder::new();
        let [f0, f1] = ld(0);
        e.code(".text", &[mov(3), exit()])
            .code("xdp", &[f0, f1, exit()])
            .sym("cb", ".text", FUNC, GLOBAL, 0, 16) // 1
            .sym("main", "xdp", FUNC, GLOBAL, 0, 24) // 2
            .rel("xdp", vec![(0, 1, R64)]);
        let l = link(&e, &[]).unwrap();
        let x = &l[0].insns;
        assert_eq!((x[0].src, x[0].imm), (pseudo::FUNC, 2));
        assert_eq!(x[3].imm, 3);
    }

    /// Programs with autoload off are not relocated; `prog_flags` and attach types come
    /// from the section table.
    #[test]
    fn autoload_and_section_attributes() {
        let mut e = ElfBuilder::new();
        e.code("?xdp", &[mov(0), exit()])
            .code("xdp.frags", &[mov(0), exit()])
            .code("cgroup/sock_create", &[mov(1), exit()])
            .sym("off", "?xdp", FUNC, GLOBAL, 0, 16)
            .sym("frags", "xdp.frags", FUNC, GLOBAL, 0, 16)
            .sym("sock", "cgroup/sock_create", FUNC, GLOBAL, 0, 16);
        let l = link(&e, &[]).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].name, "frags");
        assert_eq!(l[0].section, "xdp.frags");
        assert_eq!(l[0].prog_flags, flags::BPF_F_XDP_HAS_FRAGS);
        assert_eq!(l[0].prog_type, pt::XDP);
        assert_eq!(l[1].prog_flags, 0);
        assert_eq!(l[1].prog_type, pt::CGROUP_SOCK);
        assert_eq!(l[1].expected_attach_type, 2);
    }

    /// A one-program object with `code` in `xdp` (at insn 0) and relocations `rels` against
    /// symbols 1 = `main`, 2 = `v` in `.data`, 3 = `ext` (undefined), 4 = `lic` in
    /// `license`, 5 = `m` in legacy `maps`, 6 = `f` in `.text`, 7 = the `maps` section
    /// symbol with value 4 (where no map starts).
    fn one(code: &[[u8; 8]], rels: Vec<(u64, u32, u32)>) -> ElfBuilder {
        let mut e = ElfBuilder::new();
        e.code("xdp", code)
            .code(".text", &[mov(0), exit()])
            .section(".data", 1, 3, vec![0; 8])
            .section("license", 1, 3, b"GPL\0".to_vec())
            .section("maps", 1, 3, vec![0; 20])
            .sym("main", "xdp", FUNC, GLOBAL, 0, code.len() as u64 * 8)
            .sym("v", ".data", OBJECT, GLOBAL, 0, 8);
        e.syms.push(SymSpec {
            name: "ext".into(),
            section: None,
            st_type: NOTYPE,
            bind: GLOBAL,
            value: 0,
            size: 0,
        });
        e.sym("lic", "license", OBJECT, GLOBAL, 0, 4)
            .sym("m", "maps", OBJECT, GLOBAL, 0, 20)
            .sym("f", ".text", FUNC, GLOBAL, 0, 16)
            .sym("", "maps", SECTION, LOCAL, 4, 0)
            .rel("xdp", rels);
        e
    }

    #[test]
    fn errors_name_the_section_and_offset() {
        let [l0, l1] = ld(0);
        // A relocation on an instruction that is neither ld_imm64 nor a call.
        let r = link(&one(&[mov(0), mov(0), exit()], vec![(8, 2, R64)]), &[1, 2]);
        let (sec, off, sym, p) = problem(r);
        assert_eq!((sec.as_str(), off, sym.as_str()), ("xdp", 8, "v"));
        assert_eq!(p, RelocProblem::WrongInsn(0xb7));
        // An extern (undefined global) symbol.
        let r = link(&one(&[l0, l1, exit()], vec![(0, 3, R64)]), &[1, 2]);
        assert_eq!(problem(r).3, RelocProblem::Extern);
        // A symbol in a section holding neither maps nor data.
        let r = link(&one(&[l0, l1, exit()], vec![(0, 4, R64)]), &[1, 2]);
        assert_eq!(problem(r).3, RelocProblem::NotMapOrData("license".into()));
        // A data reference in the last slot: no second half to write.
        let r = link(&one(&[mov(0), exit(), l0], vec![(16, 2, R64)]), &[1, 2]);
        let (_, off, _, p) = problem(r);
        assert_eq!((off, p), (16, RelocProblem::TruncatedLdImm64));
        // A call against a non-.text function (another entry program).
        let r = link(&one(&[call(-1), exit()], vec![(0, 1, R32)]), &[1, 2]);
        assert_eq!(problem(r).3, RelocProblem::CallOutsideText("xdp".into()));
        // A call landing past every .text function.
        let r = link(&one(&[call(5), exit()], vec![(0, 6, R32)]), &[1, 2]);
        assert_eq!(problem(r).3, RelocProblem::NoSubprog(6));
        // A helper call (src 0) with a relocation.
        let r = link(
            &one(&[[0x85, 0, 0, 0, 1, 0, 0, 0], exit()], vec![(0, 6, R32)]),
            &[1, 2],
        );
        assert_eq!(problem(r).3, RelocProblem::CallOpcode(0));
        // A map reference to an offset where no map starts.
        let r = link(&one(&[l0, l1, exit()], vec![(0, 7, R64)]), &[1, 2]);
        assert_eq!(
            problem(r).3,
            RelocProblem::NoMap {
                section: "maps".into(),
                offset: 4
            }
        );
        // A BPF_PSEUDO_FUNC load without a relocation.
        let mut f0 = l0;
        f0[1] = 0x41;
        let r = link(&one(&[f0, l1, exit()], vec![]), &[1, 2]);
        assert_eq!(problem(r).3, RelocProblem::MissingFuncReloc);
        // The well-formed version of the same object links.
        let l = link(&one(&[l0, l1, exit()], vec![(0, 5, R64)]), &[1, 2]).unwrap();
        assert_eq!((l[0].insns[0].src, l[0].insns[0].imm), (pseudo::MAP_FD, 1));
    }

    /// Errors the parser already reports, before relocation: an unknown symbol index and a
    /// relocation outside its section.
    #[test]
    fn parse_time_relocation_errors() {
        let [l0, l1] = ld(0);
        let r = link(&one(&[l0, l1, exit()], vec![(0, 99, R64)]), &[1, 2]);
        assert!(
            matches!(r, Err(LoadError::RelocSymbol { index: 99, .. })),
            "{r:?}"
        );
        let r = link(&one(&[l0, l1, exit()], vec![(64, 2, R64)]), &[1, 2]);
        assert!(
            matches!(&r, Err(LoadError::RelocOffset(at)) if at.name == "xdp" && at.offset == 64),
            "{r:?}"
        );
    }
}

// ---- snapshots ----------------------------------------------------------------------------

/// bpftool's `prog dump xlated ... opcodes` text for relocated (not yet loaded)
/// instructions. Two differences from a dump of a loaded program: `map[id:N]` shows fd N,
/// and a bpf-to-bpf call prints its offset from `imm` (`call pc+11`), where user space
/// keeps it; a JITed kernel moves it to `off` before bpftool sees it.
fn render(insns: &[Insn]) -> String {
    use crate::prog::disasm::{DisasmOpts, insn_text};
    use std::fmt::Write;
    let opts = DisasmOpts::default();
    let hex8 = |i: &Insn| {
        i.to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = String::new();
    let mut i = 0;
    while i < insns.len() {
        let insn = &insns[i];
        let text = if is_subprog_call(insn) {
            format!("({:02x}) call pc{:+}", insn.code, insn.imm)
        } else {
            insn_text(insn, insns.get(i + 1), &opts)
        };
        let _ = writeln!(out, "{i:>4}: {text}");
        let mut bytes = hex8(insn);
        if insn.code == LD_IMM64 {
            if let Some(next) = insns.get(i + 1) {
                bytes = format!("{bytes} {}", hex8(next));
            }
            i += 1;
        }
        let _ = writeln!(out, "       {bytes}");
        i += 1;
    }
    out
}

/// Every corpus program's relocated instructions, in bpftool's syntax ([`render`]), with
/// maps at fds 3, 4, 5, ... in `obj.maps` order, into `snapshots/loader/`.
#[test]
fn corpus_snapshots() {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".o"))
        .collect();
    files.sort();
    let mut n = 0;
    for file in &files {
        let obj = open(file);
        let fds = fds(&obj);
        let linked = relocate(&obj, &fds).unwrap();
        let stem = file.trim_end_matches(".o");
        for l in &linked {
            let mut text = format!(
                "object {file}, program {} · SEC(\"{}\")\nprog_type {} expected_attach_type {} prog_flags {:#x}\n{} insns, tag (sha256) {}\n",
                l.name,
                l.section,
                l.prog_type,
                l.expected_attach_type,
                l.prog_flags,
                l.insns.len(),
                tag_of(l),
            );
            text.push_str("maps (fd: name):");
            for (m, fd) in obj.maps.iter().zip(&fds) {
                text.push_str(&format!(" {fd}: {}", m.name));
            }
            text.push_str("\n\n");
            text.push_str(&render(&l.insns));
            let name = format!("{stem}__{}", l.name);
            insta::with_settings!({
                snapshot_path => "../../../snapshots/loader",
                prepend_module_to_snapshot => false,
            }, {
                insta::assert_snapshot!(name, text);
            });
            n += 1;
        }
    }
    assert_eq!(
        n,
        KERNEL_TAGS.len() + 2,
        "every corpus program has a snapshot"
    );
}

//! Unit tests of the parsing rules, on objects built in memory ([`super::testutil`]).

use super::btf::{VAR_GLOBAL_ALLOCATED, VAR_STATIC, kind};
use super::error::{BtfProblem, LoadError, MapProblem};
use super::maps::{MapKind, SlotTarget, internal_map_name, object_name};
use super::object::Object;
use super::secdef::{self, attach_type as at};
use super::testutil::*;
use crate::uapi::{flags, map_type, prog_type as pt};

const GLOBAL: u8 = 1;
const LOCAL: u8 = 0;
const FUNC: u8 = 2;
const OBJECT: u8 = 1;
const SECTION: u8 = 3;

/// BTF for `struct { __uint(type, T); __type(key, u32); __type(value, long); __uint(max_entries, N); } name`
/// as the only variable of `.maps`, plus whatever `extra` adds to the struct.
fn seed_btf(
    map_type: u32,
    max_entries: u32,
    extra: impl FnOnce(&mut BtfBuilder, u32) -> Vec<(&'static str, u32)>,
) -> Vec<u8> {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let u32_t = b.int("unsigned int", 4);
    let typedef = b.add("u32", kind::TYPEDEF, 0, u32_t, &[]);
    let konst = b.add("", kind::CONST, 0, typedef, &[]);
    let long = b.int("long", 8);
    let ty = b.uint_field(int, map_type);
    let key = b.ptr(konst);
    let value = b.ptr(long);
    let max = b.uint_field(int, max_entries);
    let mut members = vec![
        ("type", ty),
        ("key", key),
        ("value", value),
        ("max_entries", max),
    ];
    members.extend(extra(&mut b, int));
    let s = b.strukt("", &members);
    let size = members.len() as u32 * 8;
    let var = b.var("my_map", s, VAR_GLOBAL_ALLOCATED);
    b.datasec(".maps", size, &[(var, 0, size)]);
    b.build()
}

/// The seed, BTF flavour: a `.maps` map and a sockops program that loads it.
fn seed_object(btf: Vec<u8>, maps_size: usize) -> ElfBuilder {
    let mut e = ElfBuilder::new();
    let [l0, l1] = ld_imm64();
    e.code("sockops", &[mov_r0_0(), l0, l1, exit()])
        .rel("sockops", vec![(8, 2, 1)])
        .section(".maps", 1, 3, vec![0; maps_size])
        .section("license", 1, 3, b"GPL\0".to_vec())
        .section(".BTF", 1, 0, btf)
        .sym("my_prog", "sockops", FUNC, GLOBAL, 0, 32)
        .sym("my_map", ".maps", OBJECT, GLOBAL, 0, maps_size as u64);
    e
}

fn parse(e: &ElfBuilder) -> Result<Object, LoadError> {
    Object::parse("/some/dir/seed.bpf.o", &e.build())
}

fn map_problem(r: Result<Object, LoadError>) -> MapProblem {
    match r {
        Err(LoadError::Map { problem, .. }) => problem,
        other => panic!("expected a map error, got {other:?}"),
    }
}

#[test]
fn btf_seed_map_is_decoded_like_libbpf() {
    let obj = parse(&seed_object(
        seed_btf(map_type::ARRAY, 10, |_, _| vec![]),
        32,
    ))
    .unwrap();
    assert_eq!(obj.name, "seed");
    assert_eq!(obj.license, "GPL");
    assert_eq!(obj.kern_version, None);
    assert_eq!(obj.maps.len(), 1);
    let m = &obj.maps[0];
    assert_eq!((m.name.as_str(), m.kind), ("my_map", MapKind::Btf));
    // key: pointer to const typedef u32 -> 4; value: pointer to long -> 8.
    let d = &m.def;
    assert_eq!(
        (d.map_type, d.key_size, d.value_size, d.max_entries),
        (map_type::ARRAY, 4, 8, 10)
    );
    let p = &obj.programs[0];
    assert_eq!(
        (p.name.as_str(), p.prog_type(), p.expected_attach_type()),
        ("my_prog", pt::SOCK_OPS, at::CGROUP_SOCK_OPS)
    );
    assert_eq!(p.insns.len(), 4);
    let r = &p.relocs[0];
    assert_eq!(
        (r.insn, r.r_type, r.sym_name.as_str(), r.sym_value),
        (1, 1, "my_map", 0)
    );
    assert_eq!(obj.section_names[r.sym_section], ".maps");
}

#[test]
fn btf_map_optional_members() {
    let obj = parse(&seed_object(
        seed_btf(map_type::HASH, 4, |b, int| {
            let flags = b.uint_field(int, flags::BPF_F_NO_PREALLOC);
            let pin = b.uint_field(int, 1);
            let numa = b.uint_field(int, 3);
            let e = b.str("V");
            let en = b.add("", kind::ENUM, 1, 4, &[e, 0xffff_fff0]);
            vec![
                ("map_flags", flags),
                ("pinning", pin),
                ("numa_node", numa),
                ("map_extra", en),
            ]
        }),
        64,
    ))
    .unwrap();
    let d = &obj.maps[0].def;
    assert_eq!(
        (d.map_flags, d.pinning, d.numa_node),
        (flags::BPF_F_NO_PREALLOC, 1, 3)
    );
    // An enum's s32 value sign-extends into the u64, as libbpf's `*res = e->val`.
    assert_eq!(d.map_extra, 0xffff_ffff_ffff_fff0);
}

#[test]
fn btf_map_definition_errors() {
    let check = |extra: fn(&mut BtfBuilder, u32) -> Vec<(&'static str, u32)>| {
        map_problem(parse(&seed_object(seed_btf(map_type::ARRAY, 1, extra), 64)))
    };
    assert_eq!(
        check(|b, int| vec![("key_size", b.uint_field(int, 8))]),
        MapProblem::ConflictingSize("key_size".into())
    );
    assert_eq!(
        check(|b, int| vec![("frobnicate", b.uint_field(int, 1))]),
        MapProblem::UnknownField("frobnicate".into())
    );
    assert_eq!(
        check(|b, int| vec![("pinning", b.uint_field(int, 2))]),
        MapProblem::BadPinning
    );
    assert_eq!(
        check(|_, int| vec![("map_flags", int)]),
        MapProblem::NotPtrToArray("map_flags".into())
    );
    // `values` in a plain array map.
    assert_eq!(
        check(|b, int| {
            let p = b.ptr(int);
            vec![("values", b.array(p, int, 0))]
        }),
        MapProblem::ValuesWrongType
    );
}

#[test]
fn btf_map_without_type_or_with_bad_linkage() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let max = b.uint_field(int, 1);
    let s = b.strukt("", &[("max_entries", max)]);
    let var = b.var("my_map", s, VAR_GLOBAL_ALLOCATED);
    b.datasec(".maps", 8, &[(var, 0, 8)]);
    assert_eq!(
        map_problem(parse(&seed_object(b.build(), 8))),
        MapProblem::NoType
    );

    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let ty = b.uint_field(int, 2);
    let s = b.strukt("", &[("type", ty)]);
    let var = b.var("my_map", s, VAR_STATIC);
    b.datasec(".maps", 8, &[(var, 0, 8)]);
    assert_eq!(
        map_problem(parse(&seed_object(b.build(), 8))),
        MapProblem::Linkage(VAR_STATIC)
    );
}

/// A prog_array with `.values = { [1] = &tail }` and a map-in-map with an inner definition.
#[test]
fn values_initializers_and_inner_maps() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let ty = b.uint_field(int, map_type::PROG_ARRAY);
    let ks = b.uint_field(int, 4);
    let max = b.uint_field(int, 2);
    let proto = b.add("", kind::FUNC_PROTO, 0, int, &[]);
    let pproto = b.ptr(proto);
    let vals = b.array(pproto, int, 0);
    let s = b.strukt(
        "",
        &[
            ("type", ty),
            ("key_size", ks),
            ("max_entries", max),
            ("values", vals),
        ],
    );
    let jmp = b.var("jmp", s, VAR_GLOBAL_ALLOCATED);
    // outer: ARRAY_OF_MAPS with `__array(values, struct { __uint(type, ARRAY); ... })`.
    let ity = b.uint_field(int, map_type::ARRAY);
    let inner = b.strukt(
        "inner_def",
        &[("type", ity), ("key_size", ks), ("max_entries", max)],
    );
    let pinner = b.ptr(inner);
    let ivals = b.array(pinner, int, 0);
    let oty = b.uint_field(int, map_type::ARRAY_OF_MAPS);
    let os = b.strukt(
        "",
        &[
            ("type", oty),
            ("key_size", ks),
            ("max_entries", max),
            ("values", ivals),
        ],
    );
    let outer = b.var("outer", os, VAR_GLOBAL_ALLOCATED);
    let inner_var = b.var("target", s, VAR_GLOBAL_ALLOCATED);
    // `values` is at byte 24 of each definition; the variables holding two initialized
    // slots are 40 bytes, slot 1 at +32.
    b.datasec(
        ".maps",
        112,
        &[(jmp, 0, 40), (outer, 40, 40), (inner_var, 80, 32)],
    );
    let mut e = ElfBuilder::new();
    e.code("tc", &[mov_r0_0(), exit(), mov_r0_0(), exit()])
        .section(".maps", 1, 3, vec![0; 112])
        .rel(".maps", vec![(32, 2, 2), (72, 4, 2)])
        .section(".BTF", 1, 0, b.build())
        .sym("entry", "tc", FUNC, GLOBAL, 0, 16)
        .sym("tail", "tc", FUNC, GLOBAL, 16, 16)
        .sym("jmp", ".maps", OBJECT, GLOBAL, 0, 40)
        .sym("target", ".maps", OBJECT, GLOBAL, 80, 32)
        .sym("outer", ".maps", OBJECT, GLOBAL, 40, 40);
    let obj = parse(&e).unwrap();
    let names: Vec<_> = obj.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["jmp", "outer", "target"]);
    assert_eq!(obj.maps[0].def.value_size, 4);
    assert_eq!(
        obj.maps[0].init_slots,
        vec![None, Some(SlotTarget::Prog("tail".into()))]
    );
    let inner = obj.maps[1].inner.as_ref().unwrap();
    assert_eq!(
        (inner.map_type, inner.key_size, inner.max_entries),
        (map_type::ARRAY, 4, 2)
    );
    assert_eq!(
        obj.maps[1].init_slots,
        vec![None, Some(SlotTarget::Map("target".into()))]
    );
    // Two programs in one section, split by symbol.
    let progs: Vec<_> = obj
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.insn_offset))
        .collect();
    assert_eq!(progs, [("entry", 0), ("tail", 2)]);
    assert_eq!(obj.programs[1].prog_type(), pt::SCHED_CLS);
}

fn legacy(record: &[u8], nsyms: usize, bind: u8) -> Result<Object, LoadError> {
    let mut e = ElfBuilder::new();
    e.code("socket", &[mov_r0_0(), exit()])
        .section("maps", 1, 3, record.repeat(nsyms.max(1)));
    e.sym("prog", "socket", FUNC, GLOBAL, 0, 16);
    for i in 0..nsyms {
        e.sym(
            &format!("m{i}"),
            "maps",
            OBJECT,
            bind,
            (i * record.len()) as u64,
            record.len() as u64,
        );
    }
    parse(&e)
}

fn def_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn legacy_record_sizes_follow_libbpf_0x() {
    // 20-byte records, one per symbol.
    let obj = legacy(&def_bytes(&[1, 4, 8, 10, 0]), 2, GLOBAL).unwrap();
    let got: Vec<_> = obj
        .maps
        .iter()
        .map(|m| (m.name.as_str(), m.kind, m.section_offset, m.def.max_entries))
        .collect();
    assert_eq!(
        got,
        [
            ("m0", MapKind::Legacy, 0, 10),
            ("m1", MapKind::Legacy, 20, 10)
        ]
    );
    // Shorter records are zero-extended (16 bytes: no map_flags).
    let obj = legacy(&def_bytes(&[2, 4, 8, 3]), 1, GLOBAL).unwrap();
    assert_eq!(
        (
            obj.maps[0].def.map_type,
            obj.maps[0].def.max_entries,
            obj.maps[0].def.map_flags
        ),
        (2, 3, 0)
    );
    // Longer records are fine when the extra bytes are zero (iproute2's 28-byte records)...
    assert!(legacy(&def_bytes(&[2, 4, 8, 3, 0, 0, 0]), 2, GLOBAL).is_ok());
    // ...and rejected when not.
    let r = legacy(&def_bytes(&[2, 4, 8, 3, 0, 0, 1]), 2, GLOBAL);
    assert_eq!(map_problem(r), MapProblem::LegacyExtraBytes);
    // Section size not a multiple of the symbol count: 3 symbols over 2 records of 20.
    let mut e = ElfBuilder::new();
    e.code("socket", &[mov_r0_0(), exit()])
        .section("maps", 1, 3, vec![0; 40]);
    e.sym("prog", "socket", FUNC, GLOBAL, 0, 16);
    for i in 0..3 {
        e.sym(&format!("m{i}"), "maps", OBJECT, GLOBAL, i * 13, 13);
    }
    assert_eq!(
        map_problem(parse(&e)),
        MapProblem::LegacyRecordSize {
            size: 40,
            symbols: 3
        }
    );
    // Static map symbols are refused.
    assert_eq!(
        map_problem(legacy(&def_bytes(&[1, 4, 8, 10, 0]), 1, LOCAL)),
        MapProblem::LegacyStatic
    );
}

#[test]
fn object_and_internal_map_names_follow_spec_j3() {
    assert_eq!(
        object_name("/a/b/my_long_object_name.bpf.o"),
        "my_long_object_"
    );
    assert_eq!(object_name("seed.bpf.o"), "seed");
    assert_eq!(object_name("a.very.long.name"), "a");
    let obj = "my_long_object_name";
    let cases = [
        (".data", "my_long_.data"),
        (".rodata", "my_long_.rodata"),
        (".bss", "my_long_.bss"),
        (".rodata.str1.1", ".rodata.str1.1"),
        (".kconfig", "my_long.kconfig"),
        (".rodata.abracadabra", ".rodata.abracad"),
        (".data.custom", ".data.custom"),
    ];
    for (sec, want) in cases {
        assert_eq!(internal_map_name(obj, sec), want, "{sec}");
    }
    assert_eq!(internal_map_name("my-obj", ".data"), "my_obj.data");
}

/// `.data` with a global variable (MMAPABLE), `.rodata` with a hidden one (not MMAPABLE),
/// `.bss` with no BTF at all, `.rodata.str1.1` with no DATASEC.
#[test]
fn internal_maps_flags_order_and_images() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let g = b.var("g", int, VAR_GLOBAL_ALLOCATED);
    b.datasec(".data", 0, &[(g, 0, 4)]);
    let h = b.var("h", int, VAR_GLOBAL_ALLOCATED);
    b.datasec(".rodata", 4, &[(h, 0, 4)]);
    let mut e = ElfBuilder::new();
    e.code("xdp", &[mov_r0_0(), exit()])
        .section(".rodata", 1, 2, vec![1, 2, 3, 4])
        .section(".data", 1, 3, vec![5, 6, 7, 8])
        .bss(".bss", 16)
        .section(".rodata.str1.1", 1, 0x32, b"hi\0".to_vec())
        .section(".data.empty", 1, 3, vec![])
        .section(".BTF", 1, 0, b.build())
        .sym("prog", "xdp", FUNC, GLOBAL, 0, 16)
        .sym("g", ".data", OBJECT, GLOBAL, 0, 4)
        .sym("h", ".rodata", OBJECT, GLOBAL, 0, 4);
    // STV_HIDDEN on `h` (st_other byte of symbol 3).
    let mut bytes = e.build();
    let symtab_off = find_symtab(&bytes);
    bytes[symtab_off + 3 * 24 + 5] = 2;
    let obj = Object::parse("my_long_object_name.o", &bytes).unwrap();
    let got: Vec<_> = obj
        .maps
        .iter()
        .map(|m| (m.name.as_str(), m.kind, m.def.map_flags, m.def.value_size))
        .collect();
    assert_eq!(
        got,
        [
            (
                "my_long_.rodata",
                MapKind::Rodata,
                flags::BPF_F_RDONLY_PROG,
                4
            ),
            ("my_long_.data", MapKind::Data, flags::BPF_F_MMAPABLE, 4),
            ("my_long_.bss", MapKind::Bss, 0, 16),
            (
                ".rodata.str1.1",
                MapKind::Rodata,
                flags::BPF_F_RDONLY_PROG,
                3
            ),
        ]
    );
    assert_eq!(obj.maps[1].initial_value().unwrap(), [5, 6, 7, 8]);
    assert_eq!(obj.maps[2].initial_value().unwrap(), [0; 16]);
    // DATASEC size 0 was fixed up from the ELF section.
    let b = obj.btf.as_ref().unwrap();
    let ds = b.type_by_id(b.find_by_name(".data").unwrap()).unwrap();
    assert_eq!(ds.size_or_type, 4);
}

fn find_symtab(bytes: &[u8]) -> usize {
    let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes(bytes[60..62].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| &bytes[shoff + 64 * i..shoff + 64 * (i + 1)])
        .find(|h| u32::from_le_bytes(h[4..8].try_into().unwrap()) == 2)
        .map(|h| u64::from_le_bytes(h[24..32].try_into().unwrap()) as usize)
        .unwrap()
}

#[test]
fn text_subprograms_sections_and_autoload() {
    let mut e = ElfBuilder::new();
    e.code(".text", &[mov_r0_0(), exit(), mov_r0_0(), exit()])
        .code("?xdp.frags", &[call_pseudo(), exit()])
        .rel("?xdp.frags", vec![(0, 4, 10)])
        .section("version", 1, 0, 0x0006_1200u32.to_le_bytes().to_vec())
        .sym("helper", ".text", FUNC, LOCAL, 0, 16)
        .sym("global_fn", ".text", FUNC, GLOBAL, 16, 16)
        .sym("main", "?xdp.frags", FUNC, GLOBAL, 0, 16)
        .sym("", ".text", SECTION, LOCAL, 0, 0);
    let obj = parse(&e).unwrap();
    assert_eq!(obj.kern_version, Some(0x0006_1200));
    let progs: Vec<_> = obj
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.is_subprog, p.global, p.autoload))
        .collect();
    assert_eq!(
        progs,
        [
            ("helper", true, false, true),
            ("global_fn", true, true, true),
            ("main", false, true, false)
        ]
    );
    let main = &obj.programs[2];
    assert_eq!(main.section_name, "xdp.frags");
    assert_eq!(
        main.sec_def().unwrap().prog_flags(),
        flags::BPF_F_XDP_HAS_FRAGS
    );
    // A relocation against the unnamed `.text` section symbol takes the section's name.
    assert_eq!(
        (main.relocs[0].sym_name.as_str(), main.relocs[0].r_type),
        (".text", 10)
    );
}

#[test]
fn section_table_lookups() {
    let cases: &[(&str, u32, u32)] = &[
        ("socket", pt::SOCKET_FILTER, 0),
        ("sockops", pt::SOCK_OPS, at::CGROUP_SOCK_OPS),
        ("xdp", pt::XDP, at::XDP),
        ("tc", pt::SCHED_CLS, 0),
        ("tc/ingress", pt::SCHED_CLS, at::TCX_INGRESS),
        ("classifier", pt::SCHED_CLS, 0),
        ("action", pt::SCHED_ACT, 0),
        (
            "cgroup_skb/ingress",
            pt::CGROUP_SKB,
            at::CGROUP_INET_INGRESS,
        ),
        ("cgroup_skb/egress", pt::CGROUP_SKB, at::CGROUP_INET_EGRESS),
        ("cgroup/skb", pt::CGROUP_SKB, 0),
        ("cgroup/sock", pt::CGROUP_SOCK, at::CGROUP_INET_SOCK_CREATE),
        (
            "cgroup/sock_create",
            pt::CGROUP_SOCK,
            at::CGROUP_INET_SOCK_CREATE,
        ),
        (
            "cgroup/connect4",
            pt::CGROUP_SOCK_ADDR,
            at::CGROUP_INET4_CONNECT,
        ),
        ("kprobe/do_sys_open", pt::KPROBE, 0),
        ("kprobe", pt::KPROBE, 0),
        ("tracepoint/syscalls/sys_enter_open", pt::TRACEPOINT, 0),
        ("raw_tracepoint/sched_switch", pt::RAW_TRACEPOINT, 0),
        ("perf_event", pt::PERF_EVENT, 0),
        ("sk_skb/stream_parser", pt::SK_SKB, at::SK_SKB_STREAM_PARSER),
        ("sk_msg", pt::SK_MSG, at::SK_MSG_VERDICT),
        ("lwt_in", pt::LWT_IN, 0),
        ("flow_dissector", pt::FLOW_DISSECTOR, at::FLOW_DISSECTOR),
        ("sk_lookup", pt::SK_LOOKUP, at::SK_LOOKUP),
        ("syscall", pt::SYSCALL, 0),
        ("?socket", pt::SOCKET_FILTER, 0),
    ];
    for &(name, ty, eat) in cases {
        let d = secdef::find(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((d.prog_type, d.expected_attach_type), (ty, eat), "{name}");
    }
    assert_eq!(
        secdef::find("syscall").unwrap().prog_flags(),
        flags::BPF_F_SLEEPABLE
    );
    for bad in ["kprobefoo", "xdpx", "socket/x", "cgroup_skb", ""] {
        assert_eq!(
            secdef::find(bad),
            Err(LoadError::UnknownSection(bad.into())),
            "{bad}"
        );
    }
}

#[test]
fn unknown_section_opens_and_fails_at_sec_def() {
    let mut e = ElfBuilder::new();
    e.code("frob", &[mov_r0_0(), exit()])
        .sym("p", "frob", FUNC, GLOBAL, 0, 16);
    let obj = parse(&e).unwrap();
    assert_eq!(
        obj.programs[0].sec_def(),
        Err(LoadError::UnknownSection("frob".into()))
    );
}

/// Each ELF-level rejection, from a valid object with one thing broken.
#[test]
fn elf_errors_name_the_place() {
    let base = || seed_object(seed_btf(map_type::ARRAY, 10, |_, _| vec![]), 32);
    let good = base().build();
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        Object::parse("x.o", &b)
    };
    assert_eq!(with(&|b| b[4] = 1), Err(LoadError::WrongClass(1)));
    assert_eq!(with(&|b| b[5] = 2), Err(LoadError::WrongEndian(2)));
    assert_eq!(with(&|b| b[18] = 62), Err(LoadError::WrongMachine(62)));
    assert_eq!(with(&|b| b[16] = 2), Err(LoadError::NotRelocatable(2)));
    assert!(matches!(
        with(&|b| b.truncate(40)),
        Err(LoadError::Elf { .. })
    ));
    assert!(matches!(
        with(&|b| b.truncate(b.len() - 10)),
        Err(LoadError::Elf { .. })
    ));

    let mut e = base();
    e.secs[1].rels = vec![(40, 2, 1)];
    assert!(
        matches!(parse(&e), Err(LoadError::RelocOffset(p)) if p.offset == 40 && p.name == "sockops")
    );
    e.secs[1].rels = vec![(12, 2, 1)];
    assert!(matches!(parse(&e), Err(LoadError::RelocOffset(_))));
    e.secs[1].rels = vec![(8, 99, 1)];
    assert!(matches!(
        parse(&e),
        Err(LoadError::RelocSymbol { index: 99, .. })
    ));
    e.secs[1].rels = vec![(8, 2, 3)];
    assert!(
        matches!(parse(&e), Err(LoadError::RelocType { r_type: 3, at }) if at.name == ".relsockops")
    );

    let mut e = base();
    e.syms[0].size = 40;
    assert!(matches!(parse(&e), Err(LoadError::ProgramBounds { name, .. }) if name == "my_prog"));
    e.syms[0].size = 12;
    assert!(matches!(parse(&e), Err(LoadError::ProgramBounds { .. })));
    let mut e = base();
    e.syms[0].bind = LOCAL;
    assert!(matches!(parse(&e), Err(LoadError::StaticProgram { .. })));
    let mut e = base();
    e.section("version", 1, 0, vec![1, 2, 3]);
    assert!(matches!(parse(&e), Err(LoadError::KernVersion(_))));
    let mut e = base();
    e.machine = 0;
    assert!(parse(&e).is_ok(), "EM_NONE is accepted, as libbpf does");
    // `.maps` needs BTF.
    let mut e = base();
    e.secs[4].data[0] ^= 0xff;
    assert!(matches!(
        parse(&e),
        Err(LoadError::Btf {
            problem: BtfProblem::Magic(_),
            ..
        })
    ));
}

#[test]
fn bad_btf_is_a_warning_when_nothing_needs_it() {
    let mut e = ElfBuilder::new();
    e.code("socket", &[mov_r0_0(), exit()])
        .section(".BTF", 1, 0, vec![0x9f, 0xeb, 2, 0])
        .sym("p", "socket", FUNC, GLOBAL, 0, 16);
    let obj = parse(&e).unwrap();
    assert!(obj.btf.is_none());
    assert!(matches!(
        obj.warnings[..],
        [LoadError::Btf {
            problem: BtfProblem::Header,
            ..
        }]
    ));
}

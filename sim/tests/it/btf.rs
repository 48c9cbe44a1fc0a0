//! BTF objects (`BPF_BTF_LOAD` and friends) and the BTF fields of MAP_CREATE and PROG_LOAD,
//! with the errnos a 6.18 kernel gives (`docs/kernel-notes.md`, "BTF"), and the ELF loader
//! loading each corpus object's BTF, map type ids and func/line info.

use std::path::PathBuf;

use crate::support::*;
use sim::loader::Object;
use sim::loader::load::{KernelProc, LoadOpts, load};
use sim::maps::info::{map_info as mi, prog_info as pi};
use sim::uapi::{map_type, prog_type};
use sim::{Cred, Errno, Insn, MapCreateAttr, ProgLoadAttr};

/// A small valid BTF: 1 `int` (4 bytes, 32 bits), 2 `func_proto int(void)`, 3 `FUNC f`,
/// 4 `u64`-sized INT (8 bytes, 64 bits). Strings: "", "int", "f", "long", "a.c", "x".
fn blob() -> Vec<u8> {
    let strs = b"\0int\0f\0long\0a.c\0x\0".to_vec();
    let mut t = Vec::new();
    let mut w = |v: u32| t.extend_from_slice(&v.to_le_bytes());
    // INT int size 4, encoding signed 32 bits
    w(1);
    w(1 << 24);
    w(4);
    w((1 << 24) | 32);
    // FUNC_PROTO returning int, no params
    w(0);
    w(13 << 24);
    w(1);
    // FUNC f -> 2 (global linkage in vlen)
    w(5);
    w((12 << 24) | 1);
    w(2);
    // INT long size 8
    w(7);
    w(1 << 24);
    w(8);
    w(64);
    with_sections(&t, &strs)
}

fn with_sections(types: &[u8], strs: &[u8]) -> Vec<u8> {
    let mut out = vec![0x9f, 0xeb, 1, 0];
    for v in [
        24u32,
        0,
        types.len() as u32,
        types.len() as u32,
        strs.len() as u32,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(types);
    out.extend_from_slice(strs);
    out
}

fn set32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn btf_load_checks_the_header_and_sections_with_the_kernels_errnos() {
    let mut s = Sys::new();
    let root = s.root;
    let good = blob();
    let cases: Vec<(&str, Vec<u8>, Errno)> = vec![
        ("too short", good[..6].to_vec(), Errno::EINVAL),
        (
            "magic",
            {
                let mut b = good.clone();
                b[0] = 0;
                b
            },
            Errno::EINVAL,
        ),
        (
            "version",
            {
                let mut b = good.clone();
                b[2] = 2;
                b
            },
            Errno::ENOTSUPP,
        ),
        (
            "flags",
            {
                let mut b = good.clone();
                b[3] = 1;
                b
            },
            Errno::ENOTSUPP,
        ),
        (
            "hdr_len past the data",
            {
                let mut b = good.clone();
                set32(&mut b, 4, 4096);
                b
            },
            Errno::EINVAL,
        ),
        ("no data", good[..24].to_vec(), Errno::EINVAL),
        (
            "str_len too long",
            {
                let mut b = good.clone();
                set32(&mut b, 20, 1000);
                b
            },
            Errno::EINVAL,
        ),
        (
            "gap",
            {
                let mut b = good.clone();
                set32(&mut b, 16, 4);
                set32(&mut b, 20, 1);
                b
            },
            Errno::EINVAL,
        ),
        (
            "strings not NUL-terminated",
            {
                let mut b = good.clone();
                *b.last_mut().unwrap() = b'x';
                b
            },
            Errno::EINVAL,
        ),
        ("no types", with_sections(&[], b"\0"), Errno::EINVAL),
        (
            "func_proto return type past the last type",
            {
                let mut b = good.clone();
                set32(&mut b, 24 + 24, 9);
                b
            },
            Errno::EINVAL,
        ),
        (
            "kind 0",
            {
                let mut b = good.clone();
                set32(&mut b, 28, 0);
                b
            },
            Errno::EINVAL,
        ),
        (
            "unused info bits",
            {
                let mut b = good.clone();
                set32(&mut b, 28, (1 << 24) | (1 << 20));
                b
            },
            Errno::EINVAL,
        ),
    ];
    for (what, b, want) in cases {
        assert_eq!(s.run(|k| k.btf_load(root, &b)), Err(want), "{what}");
    }
    // A longer header with a non-zero byte past the known fields: E2BIG.
    let mut long = good.clone();
    set32(&mut long, 4, 28);
    long.splice(24..24, [0, 0, 0, 1]);
    assert_eq!(s.run(|k| k.btf_load(root, &long)), Err(Errno::E2BIG));
    long[27] = 0;
    let fd = s.run(|k| k.btf_load(root, &long)).expect("zero tail loads");
    s.run(|k| k.close(root, fd)).expect("close");
    // Log rules as PROG_LOAD's: a buffer without a level is EINVAL; a short log is ENOSPC.
    let (r, _) = s.run(|k| k.btf_load_with_log(root, &good, 0, 64));
    assert_eq!(r, Err(Errno::EINVAL));
    let mut bad = good.clone();
    bad[0] = 0;
    let (r, log) = s.run(|k| k.btf_load_with_log(root, &bad, 1, 4096));
    assert_eq!(r, Err(Errno::EINVAL));
    assert!(log.contains("Invalid magic"), "{log}");
    let (r, _) = s.run(|k| k.btf_load_with_log(root, &bad, 1, 4));
    assert_eq!(r, Err(Errno::ENOSPC));
    // Unprivileged: EPERM.
    let user = s.k.spawn("user", Cred::user(1000, 1000));
    assert_eq!(s.run(|k| k.btf_load(user, &good)), Err(Errno::EPERM));
    // Over 16 MiB: E2BIG before anything is read.
    let mut a = sim::kernel::btf::load_attr(0, (16 << 20) + 1, 0, 0, 0);
    let r = s.raw(
        root,
        sim::uapi::cmd::BTF_LOAD,
        &mut a.0[..40],
        40,
        &mut sim::UserBufs::new(),
    );
    assert_eq!(r, Err(Errno::E2BIG));
}

#[test]
fn btf_objects_have_ids_fds_info_and_cannot_be_pinned() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let b = blob();
    let fd = s.run(|k| k.btf_load(root, &b)).expect("load");
    let (info, data) = s.run(|k| k.btf_info(root, fd)).expect("info");
    let id = u32::from_le_bytes(info[12..16].try_into().unwrap());
    assert!(id > 0);
    assert_eq!(data, b, "the info copies the BTF back");
    assert_eq!(
        u32::from_le_bytes(info[8..12].try_into().unwrap()),
        b.len() as u32
    );
    assert_eq!(s.run(|k| k.btf_get_next_id(root, 0)), Ok(id));
    assert_eq!(s.run(|k| k.btf_get_next_id(root, id)), Err(Errno::ENOENT));
    assert_eq!(
        s.run(|k| k.obj_pin(root, fd, "/sys/fs/bpf/b")),
        Err(Errno::EINVAL)
    );
    let fd2 = s.run(|k| k.btf_get_fd_by_id(root, id)).expect("by id");
    s.run(|k| k.close(root, fd)).expect("close");
    assert_eq!(
        s.run(|k| k.btf_get_next_id(root, 0)),
        Ok(id),
        "fd2 keeps it"
    );
    s.run(|k| k.close(root, fd2)).expect("close");
    assert_eq!(s.run(|k| k.btf_get_next_id(root, 0)), Err(Errno::ENOENT));
    assert_eq!(s.run(|k| k.btf_get_fd_by_id(root, id)), Err(Errno::ENOENT));
}

#[test]
fn map_create_checks_btf_type_sizes_and_the_map_holds_its_btf() {
    let mut s = Sys::new();
    let root = s.root;
    let bfd = s.run(|k| k.btf_load(root, &blob())).expect("btf");
    let with = |key, value, ks, vs| MapCreateAttr {
        btf_fd: bfd as u32,
        btf_key_type_id: key,
        btf_value_type_id: value,
        ..MapCreateAttr::new(map_type::HASH, ks, vs, 4)
    };
    assert_eq!(
        s.run(|k| k.map_create(root, &with(1, 4, 8, 8))),
        Err(Errno::EINVAL),
        "key size"
    );
    assert_eq!(
        s.run(|k| k.map_create(root, &with(1, 4, 4, 4))),
        Err(Errno::EINVAL),
        "value size"
    );
    assert_eq!(
        s.run(|k| k.map_create(root, &with(1, 3, 4, 8))),
        Err(Errno::EINVAL),
        "FUNC is unsized"
    );
    assert_eq!(
        s.run(|k| k.map_create(root, &with(1, 0, 4, 8))),
        Err(Errno::EINVAL),
        "key without value"
    );
    let not_btf = s.array(root);
    let mut a = with(1, 4, 4, 8);
    a.btf_fd = not_btf as u32;
    assert_eq!(
        s.run(|k| k.map_create(root, &a)),
        Err(Errno::EINVAL),
        "not a BTF fd"
    );
    a.btf_fd = 999;
    assert_eq!(s.run(|k| k.map_create(root, &a)), Err(Errno::EBADF));
    let pa = MapCreateAttr {
        btf_fd: bfd as u32,
        btf_key_type_id: 1,
        btf_value_type_id: 1,
        ..MapCreateAttr::new(map_type::PROG_ARRAY, 4, 4, 4)
    };
    // prog_array takes BTF (no map_check_btf of its own, measured on 6.18), but then needs a
    // key type; map-in-map maps take none.
    let pa_fd = s
        .run(|k| k.map_create(root, &pa))
        .expect("prog_array with BTF");
    s.run(|k| k.close(root, pa_fd)).expect("close");
    let pa0 = MapCreateAttr {
        btf_key_type_id: 0,
        ..pa.clone()
    };
    assert_eq!(s.run(|k| k.map_create(root, &pa0)), Err(Errno::EINVAL));
    let inner = s.array(root);
    let aom = MapCreateAttr {
        map_type: map_type::ARRAY_OF_MAPS,
        inner_map_fd: inner as u32,
        ..pa
    };
    assert_eq!(s.run(|k| k.map_create(root, &aom)), Err(Errno::ENOTSUPP));
    let m = s
        .run(|k| k.map_create(root, &with(1, 4, 4, 8)))
        .expect("create");
    let info = s.run(|k| k.obj_get_info_by_fd(root, m)).expect("info");
    let btf_id = s.run(|k| k.btf_get_next_id(root, 0)).expect("btf id");
    assert_eq!(info.u32(mi::BTF_ID), btf_id);
    assert_eq!(
        (
            info.u32(mi::BTF_KEY_TYPE_ID),
            info.u32(mi::BTF_VALUE_TYPE_ID)
        ),
        (1, 4)
    );
    s.run(|k| k.close(root, bfd)).expect("close btf");
    assert_eq!(
        s.run(|k| k.btf_get_next_id(root, 0)),
        Ok(btf_id),
        "the map holds it"
    );
    s.run(|k| k.close(root, m)).expect("close map");
    // The map's free is deferred work: the BTF id lives until it runs.
    assert_eq!(s.run(|k| k.btf_get_next_id(root, 0)), Ok(btf_id));
    s.k.synchronize();
    s.check();
    assert_eq!(s.run(|k| k.btf_get_next_id(root, 0)), Err(Errno::ENOENT));
}

fn finfo(recs: &[(u32, u32)]) -> Vec<u8> {
    recs.iter()
        .flat_map(|&(o, t)| [o.to_le_bytes(), t.to_le_bytes()])
        .flatten()
        .collect()
}

fn linfo(recs: &[u32]) -> Vec<u8> {
    recs.iter()
        .flat_map(|&o| [o, 9, 13, (7 << 10) | 2].map(u32::to_le_bytes))
        .flatten()
        .collect()
}

/// `r0 = 0; call +1 (subprog at 3); exit; r0 = 0; exit`: two functions, at 0 and 3.
fn two_funcs() -> Vec<Insn> {
    vec![
        Insn::mov64_imm(0, 0),
        Insn {
            code: 0x85,
            src: 1,
            imm: 1,
            ..Default::default()
        },
        Insn::exit(),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ]
}

#[test]
fn prog_load_checks_func_info_and_line_info_and_reports_them() {
    let mut s = Sys::new();
    let root = s.root;
    let bfd = s.run(|k| k.btf_load(root, &blob())).expect("btf");
    let base = |f: &[(u32, u32)], l: &[u32]| ProgLoadAttr {
        prog_btf_fd: bfd as u32,
        func_info: finfo(f),
        func_info_rec_size: 8,
        func_info_cnt: f.len() as u32,
        line_info: linfo(l),
        line_info_rec_size: 16,
        line_info_cnt: l.len() as u32,
        ..ProgLoadAttr::new(prog_type::SOCKET_FILTER, &two_funcs())
    };
    let bad: Vec<(&str, ProgLoadAttr, Errno)> = vec![
        ("count != subprogs", base(&[(0, 3)], &[0, 3]), Errno::EINVAL),
        (
            "first insn_off",
            base(&[(1, 3), (3, 3)], &[0, 3]),
            Errno::EINVAL,
        ),
        (
            "not a FUNC",
            base(&[(0, 1), (3, 3)], &[0, 3]),
            Errno::EINVAL,
        ),
        (
            "off != subprog start",
            base(&[(0, 3), (2, 3)], &[0, 3]),
            Errno::EINVAL,
        ),
        (
            "rec size",
            ProgLoadAttr {
                func_info_rec_size: 6,
                ..base(&[(0, 3), (3, 3)], &[0, 3])
            },
            Errno::EINVAL,
        ),
        (
            "line past the end",
            base(&[(0, 3), (3, 3)], &[0, 3, 5]),
            Errno::EINVAL,
        ),
        (
            "line missing for func#1",
            base(&[(0, 3), (3, 3)], &[0, 4]),
            Errno::EINVAL,
        ),
        (
            "line not increasing",
            base(&[(0, 3), (3, 3)], &[0, 3, 3]),
            Errno::EINVAL,
        ),
        (
            "bad btf fd",
            ProgLoadAttr {
                prog_btf_fd: 999,
                ..base(&[(0, 3), (3, 3)], &[0, 3])
            },
            Errno::EBADF,
        ),
    ];
    for (what, a, want) in bad {
        assert_eq!(s.run(|k| k.prog_load(root, &a)), Err(want), "{what}");
    }
    // A non-zero tail in a bigger record: E2BIG.
    let mut big = base(&[(0, 3), (3, 3)], &[0, 3]);
    big.func_info = [0u32, 3, 1, 3, 3, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    big.func_info_rec_size = 12;
    assert_eq!(s.run(|k| k.prog_load(root, &big)), Err(Errno::E2BIG));
    let fd = s
        .run(|k| k.prog_load(root, &base(&[(0, 3), (3, 3)], &[0, 1, 3])))
        .expect("load");
    let info = s.run(|k| k.obj_get_info_by_fd(root, fd)).expect("info");
    let btf_id = s.run(|k| k.btf_get_next_id(root, 0)).expect("btf id");
    assert_eq!(info.u32(pi::BTF_ID), btf_id);
    assert_eq!(
        (info.u32(pi::NR_FUNC_INFO), info.u32(pi::NR_LINE_INFO)),
        (2, 3)
    );
    let p = s.k.prog_id_table().next().map(|(_, p)| p).expect("prog");
    let prog = s.k.prog(p).expect("prog");
    let offs: Vec<u32> = prog.func_info.iter().map(|f| f.insn_off).collect();
    assert_eq!(offs, vec![0, 3]);
    assert_eq!(prog.line_info[2].line(), 7);
    s.run(|k| k.close(root, bfd)).expect("close btf");
    s.run(|k| k.close(root, fd)).expect("close prog");
    // The program puts its BTF when its refcnt reaches zero, before the grace period.
    assert_eq!(s.run(|k| k.btf_get_next_id(root, 0)), Err(Errno::ENOENT));
    s.k.synchronize();
}

#[test]
fn line_info_follows_the_translated_program() {
    use sim::kernel::btf::adjust_line_info;
    use sim::prog::LineInfo;
    let l = |o| LineInfo {
        insn_off: o,
        file_name_off: 0,
        line_off: 0,
        line_col: o,
    };
    // insn 1 grows to 3 instructions, insn 3 is removed (its record is inherited by insn 4,
    // which has none), insn 5 is removed and insn 6 has its own record.
    let starts = [0, 1, 4, 5, 5, 6, 6, 7];
    let out = adjust_line_info(&[l(0), l(1), l(2), l(3), l(5), l(6)], &starts);
    let got: Vec<(u32, u32)> = out.iter().map(|x| (x.insn_off, x.line_col)).collect();
    assert_eq!(got, vec![(0, 0), (1, 1), (4, 2), (5, 3), (6, 6)]);
}

fn corpus_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn the_loader_loads_each_objects_btf_and_gives_maps_and_programs_their_btf() {
    for name in corpus_names() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../corpus/{name}.o"));
        let obj = Object::parse(&format!("{name}.o"), &std::fs::read(path).unwrap()).unwrap();
        let mut s = Sys::new();
        let root = s.root;
        s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
            .expect("mount");
        let pid = s.k.spawn("loader", Cred::ROOT);
        let loaded = load(
            &obj,
            &mut KernelProc { k: &mut s.k, pid },
            &LoadOpts::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        s.check();
        let btf_ids: Vec<u32> = s.k.btf_id_table().map(|(id, _)| id).collect();
        assert_eq!(
            btf_ids.len(),
            1,
            "{name}: one BTF object, its loader fd closed"
        );
        for (m, def) in loaded.maps.iter().zip(&obj.maps) {
            let i = s.run(|k| k.obj_get_info_by_fd(pid, m.fd)).expect("info");
            let t = i.u32(mi::TYPE);
            // Maps with a value type (a `.rodata.str1.1` has no DATASEC: no BTF).
            if matches!(t, map_type::ARRAY | map_type::HASH)
                && !m.reused
                && def.def.btf_value_type_id != 0
            {
                assert_eq!(i.u32(mi::BTF_ID), btf_ids[0], "{name}: map {}", m.name);
                assert_ne!(i.u32(mi::BTF_VALUE_TYPE_ID), 0, "{name}: map {}", m.name);
            }
        }
        for p in &loaded.progs {
            let i = s.run(|k| k.obj_get_info_by_fd(pid, p.fd)).expect("info");
            assert_eq!(i.u32(pi::BTF_ID), btf_ids[0], "{name}: prog {}", p.name);
            assert!(i.u32(pi::NR_FUNC_INFO) >= 1, "{name}: prog {}", p.name);
            assert!(i.u32(pi::NR_LINE_INFO) >= 1, "{name}: prog {}", p.name);
        }
        s.k.exit(pid).expect("exit");
        let _ = s.k.umount(root, "/sys/fs/bpf");
        s.k.synchronize();
        s.check();
        assert!(
            s.k.btf_id_table().next().is_none(),
            "{name}: BTF freed with its holders"
        );
    }
}

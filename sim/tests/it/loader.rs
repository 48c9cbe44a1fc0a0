//! The ELF loader end to end on the corpus (`corpus/*.o`): every object loads into the
//! simulator; the seed's answer; global data; slots; pin by name; unwinding; and a snapshot of
//! each object's loaded state (`snapshots/loader/`).

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::support::*;
use sim::loader::Object;
use sim::loader::load::{KernelProc, LoadFailure, LoadOpts, load};
use sim::uapi::{map_type, prog_type};
use sim::{Cred, Errno, ObjRef};

fn corpus(name: &str) -> Object {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(format!("{name}.o"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Object::parse(&format!("{name}.o"), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
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

/// A machine with bpffs at /sys/fs/bpf and a loader process.
fn machine() -> (Sys, sim::Pid) {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let loader = s.k.spawn("loader", Cred::ROOT);
    (s, loader)
}

/// The loaded state, normalized: maps and programs in id order with what bpftool shows.
fn state(s: &Sys) -> String {
    let k = &s.k;
    let mut out = String::new();
    let ids: Vec<u32> = k.map_id_table().map(|(id, _)| id).collect();
    let n = |id: u32| ids.iter().position(|&x| x == id).map_or(0, |i| i + 1);
    for (id, m) in k.map_id_table() {
        let m = k.map(m).expect("map");
        let _ = writeln!(
            out,
            "map@{}: {} name {} key {} value {} max {} flags {:#x}{}",
            n(id),
            map_type::name(m.map_type).unwrap_or("?"),
            m.name_str(),
            m.key_size,
            m.value_size,
            m.max_entries,
            m.map_flags,
            if m.frozen { " frozen" } else { "" }
        );
    }
    for (_, p) in k.prog_id_table() {
        let p = k.prog(p).expect("prog");
        let maps: Vec<String> = p
            .used_maps
            .iter()
            .map(|m| format!("map@{}", n(k.map(*m).expect("used").id)))
            .collect();
        let _ = writeln!(
            out,
            "prog: {} name {} tag {} map_ids [{}]",
            prog_type::name(p.prog_type).unwrap_or("?"),
            p.name_str(),
            p.tag_hex(),
            maps.join(", ")
        );
    }
    out
}

#[test]
fn every_corpus_object_loads_and_its_state_matches_the_snapshot() {
    let names = corpus_names();
    assert!(names.len() >= 16, "corpus objects: {}", names.len());
    for name in names {
        let obj = corpus(&name);
        let (mut s, loader) = machine();
        let loaded = load(
            &obj,
            &mut KernelProc {
                k: &mut s.k,
                pid: loader,
            },
            &LoadOpts::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        s.check();
        assert!(!loaded.progs.is_empty(), "{name}: no program loaded");
        insta::with_settings!({ snapshot_path => "../../../snapshots/loader", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("{name}__state"), state(&s));
        });
    }
}

/// The seed, end to end through the real objects: bpftool loads, pins the first program,
/// exits. The map survives exactly when the program references it, for the BTF objects and
/// for the legacy ones (which libbpf 1.x refuses and this loader accepts, as libbpf 0.x did).
#[test]
fn seed_objects_answer_the_seed_question() {
    for (name, survives) in [
        ("seed_btf_lookup", true),
        ("seed_btf_nolookup", false),
        ("seed_legacy_lookup", true),
        ("seed_legacy_nolookup", false),
    ] {
        let obj = corpus(name);
        let (mut s, loader) = machine();
        let loaded = load(
            &obj,
            &mut KernelProc {
                k: &mut s.k,
                pid: loader,
            },
            &LoadOpts::default(),
        )
        .expect("load");
        let prog = loaded.progs[0].fd;
        s.run(|k| k.obj_pin(loader, prog, "/sys/fs/bpf/my_prog"))
            .expect("pin");
        s.run(|k| k.exit(loader)).expect("exit");
        let alive = s.k.map_id_table().count() == 1;
        assert_eq!(alive, survives, "{name}");
        let names: Vec<String> =
            s.k.map_id_table()
                .map(|(_, m)| s.k.map(m).expect("map").name_str())
                .collect();
        if survives {
            assert_eq!(names, ["my_map"], "{name}");
        }
    }
}

#[test]
fn global_data_maps_are_populated_and_rodata_frozen() {
    let obj = corpus("global_data");
    let (mut s, loader) = machine();
    load(
        &obj,
        &mut KernelProc {
            k: &mut s.k,
            pid: loader,
        },
        &LoadOpts::default(),
    )
    .expect("load");
    let maps: Vec<(String, u32, bool)> =
        s.k.map_id_table()
            .map(|(_, m)| {
                let m = s.k.map(m).expect("map");
                (m.name_str(), m.map_flags, m.frozen)
            })
            .collect();
    let rodata = maps
        .iter()
        .find(|m| m.0.ends_with(".rodata"))
        .expect("a .rodata map");
    assert_eq!((rodata.1 & 0x80, rodata.2), (0x80, true), "{maps:?}");
    let data = maps
        .iter()
        .find(|m| m.0.ends_with(".data"))
        .expect("a .data map");
    assert!(!data.2, "{maps:?}");
}

#[test]
fn tail_call_and_map_in_map_initializers_fill_their_slots() {
    let obj = corpus("tailcall");
    let (mut s, loader) = machine();
    let loaded = load(
        &obj,
        &mut KernelProc {
            k: &mut s.k,
            pid: loader,
        },
        &LoadOpts::default(),
    )
    .expect("load");
    let jmp = loaded
        .maps
        .iter()
        .find(|m| m.name == "jmp_table")
        .expect("jmp_table");
    let obj_ref = s.k.obj_of_fd(loader, jmp.fd).expect("fd");
    let ObjRef::Map(idx) = obj_ref else {
        panic!("a map")
    };
    assert_eq!(s.k.map_slots(idx).len(), 1, "slot 0 holds tail_target0");
    // bpftool does not pin the table: the loader's exit empties it (the tail-call gotcha).
    s.run(|k| k.exit(loader)).expect("exit");
    s.run(|k| k.synchronize());

    let obj = corpus("map_in_map");
    let (mut s, loader) = machine();
    let loaded = load(
        &obj,
        &mut KernelProc {
            k: &mut s.k,
            pid: loader,
        },
        &LoadOpts::default(),
    )
    .expect("load");
    let outers: Vec<usize> = loaded
        .maps
        .iter()
        .filter_map(|m| match s.k.obj_of_fd(loader, m.fd) {
            Some(ObjRef::Map(i)) if matches!(s.k.map(i).map(|x| x.map_type), Some(12 | 13)) => {
                Some(s.k.map_slots(i).len())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        outers.iter().sum::<usize>(),
        3,
        "ARRAY_OF_MAPS slots 0 and 2, HASH_OF_MAPS one key: {outers:?}"
    );
}

#[test]
fn pin_by_name_pins_then_reuses() {
    let obj = corpus("pin_by_name");
    let (mut s, loader) = machine();
    let first = load(
        &obj,
        &mut KernelProc {
            k: &mut s.k,
            pid: loader,
        },
        &LoadOpts::default(),
    )
    .expect("load");
    let pinned: Vec<&String> = first
        .maps
        .iter()
        .filter_map(|m| m.pinned.as_ref())
        .collect();
    assert_eq!(pinned.len(), 1, "{first:?}");
    let ids_before = s.k.map_id_table().count();
    let second = load(
        &obj,
        &mut KernelProc {
            k: &mut s.k,
            pid: loader,
        },
        &LoadOpts::default(),
    )
    .expect("reload");
    assert!(second.maps.iter().any(|m| m.reused), "{second:?}");
    assert_eq!(
        s.k.map_id_table().count(),
        ids_before,
        "the pinned map was reused, not created again"
    );
}

#[test]
fn a_failed_load_unwinds_everything_it_created() {
    let obj = corpus("pin_by_name");
    // No bpffs mounted at the pin root: pinning the map fails, and nothing is left.
    let mut s = Sys::new();
    let loader = s.k.spawn("loader", Cred::ROOT);
    let r = load(
        &obj,
        &mut KernelProc {
            k: &mut s.k,
            pid: loader,
        },
        &LoadOpts::default(),
    );
    assert!(
        matches!(r, Err(LoadFailure::Map { ref step, errno: Errno::EPERM, .. }) if step == "pin"),
        "{r:?}"
    );
    s.check();
    assert_eq!(s.k.map_id_table().count(), 0);
    assert_eq!(s.k.prog_id_table().count(), 0);
    assert_eq!(s.k.bpf_fds(), vec![]);
    // An unprivileged loader fails at the first map create.
    let user = s.k.spawn("user", Cred::user(1000, 1000));
    let obj = corpus("seed_btf_lookup");
    let r = load(
        &obj,
        &mut KernelProc {
            k: &mut s.k,
            pid: user,
        },
        &LoadOpts::default(),
    );
    assert!(
        matches!(
            r,
            Err(LoadFailure::Map {
                errno: Errno::EPERM,
                ..
            })
        ),
        "{r:?}"
    );
}

mod mutations {
    //! A property test: any mutation of any corpus object (bit flips, overwritten words,
    //! truncation, splices with another object) goes through parse, relocate and load into
    //! the simulator without a panic, and a load that fails leaves nothing behind.

    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed, TestRunner};

    #[derive(Clone, Debug)]
    enum Mutation {
        Flip(usize, u8),
        Word(usize, u32),
        Truncate(usize),
        Splice(usize, usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            4 => (any::<usize>(), 0u8..8).prop_map(|(o, b)| Mutation::Flip(o, b)),
            2 => (any::<usize>(), any::<u32>()).prop_map(|(o, w)| Mutation::Word(o, w)),
            1 => any::<usize>().prop_map(Mutation::Truncate),
            1 => (any::<usize>(), any::<usize>()).prop_map(|(other, at)| Mutation::Splice(other, at)),
        ]
    }

    fn apply(objs: &[Vec<u8>], mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
        if bytes.is_empty() {
            return bytes;
        }
        match *m {
            Mutation::Flip(o, b) => {
                let o = o % bytes.len();
                bytes[o] ^= 1 << b;
            }
            Mutation::Word(o, w) => {
                let o = o % bytes.len();
                for (i, x) in w.to_le_bytes().iter().enumerate() {
                    if let Some(b) = bytes.get_mut(o + i) {
                        *b = *x;
                    }
                }
            }
            Mutation::Truncate(n) => bytes.truncate(n % bytes.len()),
            Mutation::Splice(other, at) => {
                let other = &objs[other % objs.len()];
                let at = at % bytes.len();
                bytes.truncate(at);
                bytes.extend_from_slice(&other[at.min(other.len())..]);
            }
        }
        bytes
    }

    #[test]
    fn mutated_objects_parse_relocate_and_load_without_panic() {
        let objs: Vec<Vec<u8>> = corpus_names()
            .iter()
            .map(|n| {
                std::fs::read(
                    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("../corpus")
                        .join(format!("{n}.o")),
                )
                .expect("read")
            })
            .collect();
        let cases = std::env::var("BPFSIM_LOADER_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512);
        let mut runner = TestRunner::new(Config {
            cases,
            rng_seed: RngSeed::Fixed(0x10ad),
            ..Config::default()
        });
        let strategy = (0..objs.len(), proptest::collection::vec(mutation(), 1..6));
        let (parsed, loaded) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
        runner
            .run(&strategy, |(i, muts)| {
                let bytes = muts.iter().fold(objs[i].clone(), |b, m| apply(&objs, b, m));
                let Ok(obj) = Object::parse("mutant.o", &bytes) else {
                    return Ok(());
                };
                parsed.set(parsed.get() + 1);
                let (mut s, loader) = machine();
                let r = load(
                    &obj,
                    &mut KernelProc {
                        k: &mut s.k,
                        pid: loader,
                    },
                    &LoadOpts::default(),
                );
                let bad = sim::invariants::check(&s.k);
                prop_assert!(bad.is_empty(), "{bad:?}");
                if r.is_ok() {
                    loaded.set(loaded.get() + 1);
                } else {
                    prop_assert_eq!(s.k.bpf_fds(), vec![], "a failed load left fds behind");
                }
                Ok(())
            })
            .unwrap();
        eprintln!(
            "loader mutations: {cases} cases, {} parsed, {} loaded",
            parsed.get(),
            loaded.get()
        );
    }
}

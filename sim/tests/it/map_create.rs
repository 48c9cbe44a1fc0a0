//! `BPF_MAP_CREATE` validation (spec I, C7, B7) and the limits measured on the 6.18 machine:
//! every row of the errno table, the flag bits each modeled type accepts, names, fd access
//! flags, map-in-map templates, privilege, and the types the model refuses.

use crate::support::*;
use sim::maps::info::map_info as mi;
use sim::uapi::flags::*;
use sim::uapi::map_type as mt;
use sim::{Cred, Errno, MapCreateAttr, Pid};

fn create(s: &mut Sys, a: &MapCreateAttr) -> Result<i32, Errno> {
    let root = s.root;
    s.run(|k| k.map_create(root, a))
}

fn create_as(s: &mut Sys, pid: Pid, a: &MapCreateAttr) -> Result<i32, Errno> {
    s.run(|k| k.map_create(pid, a))
}

fn hash(key: u32, value: u32, max: u32) -> MapCreateAttr {
    MapCreateAttr::new(mt::HASH, key, value, max)
}

fn array(key: u32, value: u32, max: u32) -> MapCreateAttr {
    MapCreateAttr::new(mt::ARRAY, key, value, max)
}

/// `map_flags` and name as `BPF_OBJ_GET_INFO_BY_FD` reports them.
fn flags_and_name(s: &mut Sys, fd: i32) -> (u32, String) {
    let root = s.root;
    let info = s.run(|k| k.obj_get_info_by_fd(root, fd)).expect("info");
    (info.u32(mi::MAP_FLAGS), info.name(mi::NAME))
}

/// A map with a raw 16-byte `map_name`.
fn with_name(name: [u8; 16]) -> MapCreateAttr {
    let mut a = array(4, 8, 1);
    a.map_name = name;
    a
}

fn name16(bytes: &[u8]) -> [u8; 16] {
    let mut n = [0u8; 16];
    n[..bytes.len()].copy_from_slice(bytes);
    n
}

#[test]
fn map_type_unspec_and_past_max_are_einval() {
    let mut s = Sys::new();
    for t in [0, 36, 37, 1000, 9999, u32::MAX] {
        assert_eq!(
            create(&mut s, &MapCreateAttr::new(t, 4, 8, 1)),
            Err(Errno::EINVAL),
            "map_type {t}"
        );
    }
    assert_eq!(s.live_maps(), 0);
}

#[test]
fn hash_zero_key_value_or_max_entries_is_einval() {
    let mut s = Sys::new();
    for a in [hash(0, 8, 1), hash(4, 0, 1), hash(4, 8, 0)] {
        assert_eq!(create(&mut s, &a), Err(Errno::EINVAL), "{a:?}");
    }
}

#[test]
fn array_key_not_4_zero_value_or_zero_max_entries_is_einval() {
    let mut s = Sys::new();
    for a in [
        array(0, 8, 1),
        array(8, 8, 1),
        array(4, 0, 1),
        array(4, 8, 0),
    ] {
        assert_eq!(create(&mut s, &a), Err(Errno::EINVAL), "{a:?}");
    }
}

#[test]
fn array_value_size_up_to_int_max_ok_above_is_e2big() {
    let mut s = Sys::new();
    let fd = create(&mut s, &array(4, 0x7fff_ffff, 1)).expect("value_size INT_MAX");
    let root = s.root;
    s.run(|k| k.close(root, fd)).expect("close");
    assert_eq!(create(&mut s, &array(4, 0x8000_0000, 1)), Err(Errno::E2BIG));
    assert_eq!(create(&mut s, &array(4, u32::MAX, 1)), Err(Errno::E2BIG));
}

#[test]
fn array_huge_total_size_is_enomem() {
    let mut s = Sys::new();
    assert_eq!(
        create(&mut s, &array(4, 8, 0xffff_ffff)),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        create(&mut s, &array(4, 1 << 30, 1 << 20)),
        Err(Errno::ENOMEM)
    );
    assert_eq!(s.live_maps(), 0);
}

#[test]
fn hash_max_entries_2_pow_27_ok_one_more_is_e2big() {
    let mut s = Sys::new();
    create(&mut s, &hash(4, 8, 0x800_0000)).expect("2^27 entries");
    for max in [0x800_0001, 1 << 31, (1 << 31) + 1, u32::MAX] {
        assert_eq!(
            create(&mut s, &hash(4, 8, max)),
            Err(Errno::E2BIG),
            "max_entries {max:#x}"
        );
    }
}

#[test]
fn hash_key_plus_value_at_4194256_is_e2big() {
    let mut s = Sys::new();
    assert_eq!(
        create(&mut s, &hash(4_194_256 - 8, 8, 1)),
        Err(Errno::E2BIG)
    );
    assert_eq!(
        create(&mut s, &hash(8, 4_194_256 - 8, 1)),
        Err(Errno::E2BIG)
    );
    assert_eq!(
        create(&mut s, &hash(u32::MAX, u32::MAX, 1)),
        Err(Errno::E2BIG)
    );
    create(&mut s, &hash(4_194_255 - 8, 8, 1)).expect("one byte below the limit");
}

#[test]
fn hash_one_mib_keys_work() {
    let mut s = Sys::new();
    let fd = create(&mut s, &hash(1 << 20, 8, 2)).expect("1 MiB keys");
    let root = s.root;
    let mut key = vec![0u8; 1 << 20];
    key[(1 << 20) - 1] = 7;
    s.run(|k| k.map_update_elem(root, fd, &key, &[9; 8], BPF_ANY))
        .expect("update");
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_elem(root, fd, &key, &mut v, 0))
        .expect("lookup");
    assert_eq!(v, [9; 8]);
}

#[test]
fn unknown_map_flag_bit_is_einval() {
    let mut s = Sys::new();
    for a in [hash(4, 8, 1), array(4, 8, 1)] {
        assert_eq!(
            create(&mut s, &a.clone().flags(0x8000_0000)),
            Err(Errno::EINVAL)
        );
    }
}

/// Which single `map_flags` bits each type accepts, as measured: every other bit is `EINVAL`.
#[test]
fn single_flag_bits_accepted_per_type() {
    let mut s = Sys::new();
    let template = create(&mut s, &array(4, 8, 1)).expect("inner template");
    let table: [(&str, MapCreateAttr, &[u32]); 5] = [
        (
            "hash",
            hash(4, 8, 4),
            &[0x1, 0x4, 0x8, 0x10, 0x40, 0x80, 0x100],
        ),
        (
            "array",
            array(4, 8, 4),
            &[0x4, 0x8, 0x10, 0x80, 0x100, 0x400, 0x1000],
        ),
        (
            "prog_array",
            MapCreateAttr::new(mt::PROG_ARRAY, 4, 4, 4),
            &[0x4, 0x8, 0x10],
        ),
        (
            "array_of_maps",
            MapCreateAttr::new(mt::ARRAY_OF_MAPS, 4, 4, 4).inner(template),
            &[0x4, 0x8, 0x10],
        ),
        (
            "hash_of_maps",
            MapCreateAttr::new(mt::HASH_OF_MAPS, 4, 4, 4).inner(template),
            &[0x1, 0x4, 0x8, 0x10, 0x40, 0x80, 0x100],
        ),
    ];
    let root = s.root;
    for (name, base, ok) in table {
        for bit in 0..32 {
            let flag = 1u32 << bit;
            let r = create(&mut s, &base.clone().flags(flag));
            if ok.contains(&flag) {
                let fd = r.unwrap_or_else(|e| panic!("{name} flag {flag:#x}: {e:?}"));
                s.run(|k| k.close(root, fd)).expect("close");
            } else {
                assert_eq!(r, Err(Errno::EINVAL), "{name} flag {flag:#x}");
            }
        }
    }
    // A closed prog_array lives until its clearing work has run.
    s.run(|k| k.synchronize());
    assert_eq!(s.live_maps(), 1, "only the template is left");
}

#[test]
fn hash_with_mmapable_is_einval() {
    let mut s = Sys::new();
    assert_eq!(
        create(&mut s, &hash(4, 8, 1).flags(BPF_F_MMAPABLE)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn array_with_zero_seed_or_no_prealloc_is_einval() {
    let mut s = Sys::new();
    for f in [BPF_F_ZERO_SEED, BPF_F_NO_PREALLOC] {
        assert_eq!(create(&mut s, &array(4, 8, 1).flags(f)), Err(Errno::EINVAL));
    }
}

#[test]
fn rdonly_with_wronly_or_rdonly_prog_with_wronly_prog_is_einval() {
    let mut s = Sys::new();
    for a in [hash(4, 8, 1), array(4, 8, 1)] {
        for f in [
            BPF_F_RDONLY | BPF_F_WRONLY,
            BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG,
        ] {
            assert_eq!(create(&mut s, &a.clone().flags(f)), Err(Errno::EINVAL));
        }
    }
}

#[test]
fn numa_node_other_than_0_is_einval() {
    let mut s = Sys::new();
    let mut a = array(4, 8, 1).flags(BPF_F_NUMA_NODE);
    a.numa_node = 1;
    assert_eq!(create(&mut s, &a), Err(Errno::EINVAL));
    a.numa_node = 0;
    create(&mut s, &a).expect("node 0");
}

#[test]
fn map_extra_on_hash_or_array_is_einval() {
    let mut s = Sys::new();
    for mut a in [hash(4, 8, 1), array(4, 8, 1)] {
        a.map_extra = 1;
        assert_eq!(create(&mut s, &a), Err(Errno::EINVAL));
    }
}

#[test]
fn prog_array_value_size_not_4_is_einval() {
    let mut s = Sys::new();
    for v in [0, 1, 8] {
        assert_eq!(
            create(&mut s, &MapCreateAttr::new(mt::PROG_ARRAY, 4, v, 4)),
            Err(Errno::EINVAL),
            "value_size {v}"
        );
    }
    create(&mut s, &MapCreateAttr::new(mt::PROG_ARRAY, 4, 4, 4)).expect("value_size 4");
}

#[test]
fn map_in_map_inner_fd_0_is_einval_and_closed_fd_is_ebadf() {
    let mut s = Sys::new();
    for t in [mt::ARRAY_OF_MAPS, mt::HASH_OF_MAPS] {
        let a = MapCreateAttr::new(t, 4, 4, 4);
        assert_eq!(create(&mut s, &a.clone().inner(0)), Err(Errno::EINVAL));
        assert_eq!(create(&mut s, &a.clone().inner(9999)), Err(Errno::EBADF));
    }
    let root = s.root;
    let null = s.run(|k| k.open_null(root)).expect("/dev/null");
    let a = MapCreateAttr::new(mt::ARRAY_OF_MAPS, 4, 4, 4).inner(null);
    assert_eq!(create(&mut s, &a), Err(Errno::EINVAL));
}

#[test]
fn map_in_map_inner_prog_array_is_enotsupp() {
    let mut s = Sys::new();
    let pa = create(&mut s, &MapCreateAttr::new(mt::PROG_ARRAY, 4, 4, 4)).expect("prog_array");
    for t in [mt::ARRAY_OF_MAPS, mt::HASH_OF_MAPS] {
        let r = create(&mut s, &MapCreateAttr::new(t, 4, 4, 4).inner(pa));
        assert_eq!(r, Err(Errno::ENOTSUPP));
        assert_eq!(r.unwrap_err().0, 524);
    }
}

#[test]
fn map_in_map_inner_map_in_map_is_einval() {
    let mut s = Sys::new();
    let inner = create(&mut s, &array(4, 8, 1)).expect("array");
    let aom = create(
        &mut s,
        &MapCreateAttr::new(mt::ARRAY_OF_MAPS, 4, 4, 4).inner(inner),
    )
    .expect("array_of_maps");
    let hom = create(
        &mut s,
        &MapCreateAttr::new(mt::HASH_OF_MAPS, 4, 4, 4).inner(inner),
    )
    .expect("hash_of_maps");
    for t in [mt::ARRAY_OF_MAPS, mt::HASH_OF_MAPS] {
        for outer in [aom, hom] {
            assert_eq!(
                create(&mut s, &MapCreateAttr::new(t, 4, 4, 4).inner(outer)),
                Err(Errno::EINVAL)
            );
        }
    }
}

#[test]
fn map_in_map_value_size_must_be_4() {
    let mut s = Sys::new();
    let inner = create(&mut s, &array(4, 8, 1)).expect("array");
    for t in [mt::ARRAY_OF_MAPS, mt::HASH_OF_MAPS] {
        for v in [0, 8] {
            assert_eq!(
                create(&mut s, &MapCreateAttr::new(t, 4, v, 4).inner(inner)),
                Err(Errno::EINVAL),
                "type {t} value_size {v}"
            );
        }
        // The value_size check (map_alloc_check) comes before the inner fd (map_alloc).
        assert_eq!(
            create(&mut s, &MapCreateAttr::new(t, 4, 8, 4).inner(9999)),
            Err(Errno::EINVAL)
        );
    }
}

#[test]
fn map_in_map_template_is_not_held() {
    let mut s = Sys::new();
    let root = s.root;
    let inner = create(&mut s, &array(4, 8, 1)).expect("array");
    let inner_id = s.id_of(root, inner);
    let outer = create(
        &mut s,
        &MapCreateAttr::new(mt::ARRAY_OF_MAPS, 4, 4, 4).inner(inner),
    )
    .expect("outer");
    assert_eq!(s.map_counts(inner_id), Some((1, 1)));
    s.run(|k| k.close(root, inner)).expect("close template");
    assert!(!s.map_listed(inner_id), "the template dies with its fd");
    // The outer map still accepts maps matching the template's metadata.
    let other = create(&mut s, &array(4, 8, 1)).expect("array");
    s.run(|k| k.map_update_elem(root, outer, &le32(0), &le32(other as u32), BPF_ANY))
        .expect("matching inner");
}

#[test]
fn name_with_dash_or_space_is_einval() {
    let mut s = Sys::new();
    for n in ["my-map", "my map", "array(10)", "a/b", "x:y"] {
        assert_eq!(
            create(&mut s, &array(4, 8, 1).name(n)),
            Err(Errno::EINVAL),
            "{n:?}"
        );
    }
    assert_eq!(s.live_maps(), 0);
}

#[test]
fn name_of_16_bytes_without_nul_is_einval() {
    let mut s = Sys::new();
    assert_eq!(
        create(&mut s, &with_name(*b"abcdefghijklmnop")),
        Err(Errno::EINVAL)
    );
    let fd = create(&mut s, &with_name(name16(b"abcdefghijklmno"))).expect("15 chars");
    assert_eq!(flags_and_name(&mut s, fd).1, "abcdefghijklmno");
}

#[test]
fn name_letters_digits_dot_underscore_ok() {
    let mut s = Sys::new();
    for n in ["", "a", "A_b.9", "._.", "0123456789"] {
        let fd = create(&mut s, &array(4, 8, 1).name(n)).expect(n);
        assert_eq!(flags_and_name(&mut s, fd).1, n);
    }
}

#[test]
fn name_latin1_letters_accepted_like_kernel_isalnum() {
    let mut s = Sys::new();
    let fd = create(&mut s, &with_name(name16(&[b'c', b'a', b'f', 0xE9]))).expect("caf\\xe9");
    assert_eq!(flags_and_name(&mut s, fd).1, "caf\u{e9}");
    for b in [0xC0u8, 0xD6, 0xD8, 0xF6, 0xF8, 0xFF] {
        create(&mut s, &with_name(name16(&[b]))).unwrap_or_else(|e| panic!("{b:#x}: {e:?}"));
    }
    for b in [0x80u8, 0xA0, 0xAA, 0xB5, 0xBF, 0xD7, 0xF7, 0x7F, 0x01] {
        assert_eq!(
            create(&mut s, &with_name(name16(&[b]))),
            Err(Errno::EINVAL),
            "{b:#x}"
        );
    }
}

#[test]
fn name_bytes_after_first_nul_are_ignored() {
    let mut s = Sys::new();
    let fd = create(&mut s, &with_name(name16(b"ab\0-- !!"))).expect("junk after NUL");
    assert_eq!(flags_and_name(&mut s, fd).1, "ab");
    let fd = create(&mut s, &with_name(*b"\0bcdefghijklmnop")).expect("empty name");
    assert_eq!(flags_and_name(&mut s, fd).1, "");
}

#[test]
fn name_is_checked_after_allocation() {
    let mut s = Sys::new();
    // A size the allocation refuses wins over a bad name.
    assert_eq!(
        create(&mut s, &hash(4, 8, 0x800_0001).name("bad-name")),
        Err(Errno::E2BIG)
    );
    assert_eq!(
        create(&mut s, &array(4, 8, 0xffff_ffff).name("bad-name")),
        Err(Errno::ENOMEM)
    );
    // So does the privilege check.
    let user = s.k.spawn("user", Cred::user(1000, 1000));
    assert_eq!(
        create_as(&mut s, user, &array(4, 8, 1).name("bad-name")),
        Err(Errno::EPERM)
    );
}

#[test]
fn rdonly_makes_creators_fd_read_only_and_is_not_stored() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = create(&mut s, &array(4, 8, 2).flags(BPF_F_RDONLY)).expect("rdonly");
    assert_eq!(
        s.run(|k| k.map_update_elem(root, fd, &le32(0), &[1; 8], BPF_ANY)),
        Err(Errno::EPERM)
    );
    let mut v = [1u8; 8];
    s.run(|k| k.map_lookup_elem(root, fd, &le32(0), &mut v, 0))
        .expect("lookup");
    assert_eq!(v, [0; 8]);
    assert_eq!(flags_and_name(&mut s, fd).0, 0);
    // An fd opened by id is read-write again: the flag described the creator's fd only.
    let id = s.id_of(root, fd);
    let rw = s.run(|k| k.map_get_fd_by_id(root, id, 0)).expect("by id");
    s.run(|k| k.map_update_elem(root, rw, &le32(0), &[1; 8], BPF_ANY))
        .expect("update through a read-write fd");
}

#[test]
fn wronly_makes_creators_fd_write_only_and_is_not_stored() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = create(&mut s, &hash(4, 8, 2).flags(BPF_F_WRONLY)).expect("wronly");
    s.run(|k| k.map_update_elem(root, fd, &le32(1), &[1; 8], BPF_ANY))
        .expect("update");
    let mut v = [0u8; 8];
    assert_eq!(
        s.run(|k| k.map_lookup_elem(root, fd, &le32(1), &mut v, 0)),
        Err(Errno::EPERM)
    );
    assert_eq!(flags_and_name(&mut s, fd).0, 0);
}

#[test]
fn rdonly_prog_is_stored_and_syscall_writes_still_allowed() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = create(&mut s, &array(4, 8, 2).flags(BPF_F_RDONLY_PROG)).expect("rdonly_prog");
    assert_eq!(flags_and_name(&mut s, fd).0, 0x80);
    s.run(|k| k.map_update_elem(root, fd, &le32(1), &[5; 8], BPF_ANY))
        .expect("syscall write");
    let fd = create(&mut s, &hash(4, 8, 2).flags(BPF_F_WRONLY_PROG)).expect("wronly_prog");
    assert_eq!(flags_and_name(&mut s, fd).0, 0x100);
}

#[test]
fn other_flags_are_stored_in_map_flags() {
    let mut s = Sys::new();
    let fd = create(
        &mut s,
        &hash(4, 8, 2).flags(BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED),
    )
    .expect("hash");
    assert_eq!(flags_and_name(&mut s, fd).0, 0x41);
    let fd = create(
        &mut s,
        &array(4, 8, 2).flags(BPF_F_MMAPABLE | BPF_F_INNER_MAP),
    )
    .expect("array");
    assert_eq!(flags_and_name(&mut s, fd).0, 0x1400);
}

#[test]
fn unprivileged_create_is_eperm() {
    let mut s = Sys::new();
    let user = s.k.spawn("user", Cred::user(1000, 1000));
    for a in [
        array(4, 8, 1),
        hash(4, 8, 1),
        MapCreateAttr::new(mt::PROG_ARRAY, 4, 4, 1),
    ] {
        assert_eq!(create_as(&mut s, user, &a), Err(Errno::EPERM), "{a:?}");
    }
    // map_alloc_check runs before the privilege check.
    assert_eq!(create_as(&mut s, user, &array(8, 8, 1)), Err(Errno::EINVAL));
    assert_eq!(s.live_maps(), 0);
}

#[test]
fn cap_bpf_alone_may_create() {
    let mut s = Sys::new();
    let mut cred = Cred::user(1000, 1000);
    cred.caps = sim::CapSet::of(&[sim::uapi::cap::BPF]);
    let p = s.k.spawn("bpf", cred);
    create_as(&mut s, p, &array(4, 8, 1)).expect("CAP_BPF creates maps");
}

#[test]
fn zero_seed_needs_cap_sys_admin() {
    let mut s = Sys::new();
    let mut cred = Cred::user(1000, 1000);
    cred.caps = sim::CapSet::of(&[sim::uapi::cap::BPF]);
    let p = s.k.spawn("bpf", cred);
    assert_eq!(
        create_as(&mut s, p, &hash(4, 8, 1).flags(BPF_F_ZERO_SEED)),
        Err(Errno::EPERM)
    );
    create_as(&mut s, p, &hash(4, 8, 1)).expect("without the seed flag");
}

/// The model's choice: map types the kernel has but the model does not implement are refused
/// with `EOPNOTSUPP` and a reason (the kernel would create them).
#[test]
fn unmodeled_map_types_are_eopnotsupp_with_a_reason() {
    let mut s = Sys::new();
    for (t, name) in [
        (mt::PERF_EVENT_ARRAY, "perf_event_array"),
        (mt::PERCPU_HASH, "percpu_hash"),
        (mt::PERCPU_ARRAY, "percpu_array"),
        (mt::LRU_HASH, "lru_hash"),
        (mt::LPM_TRIE, "lpm_trie"),
        (mt::QUEUE, "queue"),
        (mt::RINGBUF, "ringbuf"),
    ] {
        assert_eq!(
            create(&mut s, &MapCreateAttr::new(t, 4, 8, 4096)),
            Err(Errno::EOPNOTSUPP),
            "{name}"
        );
        let why = s.k.last_error();
        assert!(
            why.contains(name) && why.contains("not modeled"),
            "{name}: {why:?}"
        );
    }
    assert_eq!(s.live_maps(), 0);
}

#[test]
fn created_map_reports_its_attributes() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = create(&mut s, &hash(8, 16, 32).name("h")).expect("hash");
    let info = s.run(|k| k.obj_get_info_by_fd(root, fd)).expect("info");
    assert_eq!(info.u32(mi::TYPE), mt::HASH);
    assert_eq!(info.u32(mi::KEY_SIZE), 8);
    assert_eq!(info.u32(mi::VALUE_SIZE), 16);
    assert_eq!(info.u32(mi::MAX_ENTRIES), 32);
    assert_eq!(info.u32(mi::ID), s.id_of(root, fd));
    assert_eq!(info.name(mi::NAME), "h");
}

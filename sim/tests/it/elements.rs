//! Map element commands (spec H, C7, G5 and kernel-observations section 5): the common prefix
//! (fd, mode, flags, pointers), arrays, hashes and their iteration order, fd arrays and
//! map-in-map slots, freeze, and lookup-and-delete.

use crate::support::*;
use sim::attr::{AttrBuf, off};
use sim::uapi::flags::*;
use sim::uapi::{cmd, map_type as mt};
use sim::{Errno, MapCreateAttr, UserBufs};

fn new_map(s: &mut Sys, a: MapCreateAttr) -> i32 {
    let root = s.root;
    s.run(|k| k.map_create(root, &a)).expect("map_create")
}

/// ARRAY(key 4, value 8, max 10), as in the errno table.
fn array10(s: &mut Sys) -> i32 {
    new_map(s, MapCreateAttr::new(mt::ARRAY, 4, 8, 10))
}

/// HASH(key 4, value 8, max `max`).
fn hash(s: &mut Sys, max: u32) -> i32 {
    new_map(s, MapCreateAttr::new(mt::HASH, 4, 8, max))
}

fn update(s: &mut Sys, fd: i32, key: u32, value: u64, flags: u64) -> Result<(), Errno> {
    let root = s.root;
    s.run(|k| k.map_update_elem(root, fd, &le32(key), &value.to_le_bytes(), flags))
}

fn lookup(s: &mut Sys, fd: i32, key: u32) -> Result<u64, Errno> {
    let root = s.root;
    let mut v = [0xAAu8; 8];
    s.run(|k| k.map_lookup_elem(root, fd, &le32(key), &mut v, 0))?;
    Ok(u64::from_le_bytes(v))
}

/// Lookup of a 4-byte value (fd arrays return ids).
fn lookup32(s: &mut Sys, fd: i32, key: u32) -> Result<u32, Errno> {
    let root = s.root;
    let mut v = [0xAAu8; 4];
    s.run(|k| k.map_lookup_elem(root, fd, &le32(key), &mut v, 0))?;
    Ok(u32::from_le_bytes(v))
}

fn update32(s: &mut Sys, fd: i32, key: u32, value: i32, flags: u64) -> Result<(), Errno> {
    let root = s.root;
    s.run(|k| k.map_update_elem(root, fd, &le32(key), &le32(value as u32), flags))
}

fn delete(s: &mut Sys, fd: i32, key: u32) -> Result<(), Errno> {
    let root = s.root;
    s.run(|k| k.map_delete_elem(root, fd, &le32(key)))
}

fn next_key(s: &mut Sys, fd: i32, key: Option<u32>) -> Result<u32, Errno> {
    let root = s.root;
    let mut n = [0xAAu8; 4];
    let k4 = key.map(le32);
    s.run(|k| k.map_get_next_key(root, fd, k4.as_ref().map(|b| &b[..]), &mut n))?;
    Ok(u32::from_le_bytes(n))
}

/// Every key in `BPF_MAP_GET_NEXT_KEY` order, starting from NULL.
fn all_keys(s: &mut Sys, fd: i32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut cur = None;
    loop {
        match next_key(s, fd, cur) {
            Ok(k) => {
                out.push(k);
                cur = Some(k);
            }
            Err(e) => {
                assert_eq!(e, Errno::ENOENT);
                return out;
            }
        }
    }
}

fn lookup_and_delete(s: &mut Sys, fd: i32, key: u32) -> Result<u64, Errno> {
    let root = s.root;
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_and_delete_elem(root, fd, &le32(key), &mut v))?;
    Ok(u64::from_le_bytes(v))
}

fn freeze(s: &mut Sys, fd: i32) -> Result<(), Errno> {
    let root = s.root;
    s.run(|k| k.map_freeze(root, fd))
}

/// A raw element command on `fd` with key buffer `key` (address 0 when `None`), an 8-byte
/// writable value buffer (not for DELETE, whose attr ends at `key`) and `flags`.
fn raw_elem(
    s: &mut Sys,
    c: u32,
    fd: i32,
    key: Option<&[u8]>,
    flags: u64,
) -> Result<(i64, [u8; 8]), Errno> {
    let root = s.root;
    let mut value = [0u8; 8];
    let r = {
        let mut m = UserBufs::new();
        let k = key.map(|k| m.input(k)).unwrap_or(0);
        let v = if c == cmd::MAP_DELETE_ELEM {
            0
        } else {
            m.output(&mut value)
        };
        let mut a = AttrBuf::default()
            .u32(off::elem::MAP_FD, fd as u32)
            .u64(off::elem::KEY, k)
            .u64(off::elem::VALUE, v)
            .u64(off::elem::FLAGS, flags);
        s.raw(root, c, &mut a.0, 168, &mut m)
    };
    r.map(|r| (r, value))
}

// ---- common prefix ----

#[test]
fn elem_ops_on_unopened_fd_are_ebadf() {
    let mut s = Sys::new();
    assert_eq!(lookup(&mut s, 9999, 0), Err(Errno::EBADF));
    assert_eq!(update(&mut s, 9999, 0, 0, BPF_ANY), Err(Errno::EBADF));
    assert_eq!(delete(&mut s, 9999, 0), Err(Errno::EBADF));
    assert_eq!(next_key(&mut s, 9999, None), Err(Errno::EBADF));
    assert_eq!(lookup_and_delete(&mut s, 9999, 0), Err(Errno::EBADF));
    assert_eq!(freeze(&mut s, 9999), Err(Errno::EBADF));
    assert_eq!(lookup(&mut s, -1, 0), Err(Errno::EBADF));
}

#[test]
fn elem_ops_on_non_map_fd_are_einval() {
    let mut s = Sys::new();
    let root = s.root;
    let null = s.run(|k| k.open_null(root)).expect("/dev/null");
    let prog = s.run(|k| load(k, root, "p", &trivial())).expect("prog");
    for fd in [0, null, prog] {
        assert_eq!(lookup(&mut s, fd, 0), Err(Errno::EINVAL), "fd {fd}");
        assert_eq!(update(&mut s, fd, 0, 0, BPF_ANY), Err(Errno::EINVAL));
        assert_eq!(delete(&mut s, fd, 0), Err(Errno::EINVAL));
        assert_eq!(next_key(&mut s, fd, None), Err(Errno::EINVAL));
        assert_eq!(lookup_and_delete(&mut s, fd, 0), Err(Errno::EINVAL));
    }
}

#[test]
fn map_freeze_on_prog_or_dev_null_is_einval_and_closed_fd_is_ebadf() {
    let mut s = Sys::new();
    let root = s.root;
    let null = s.run(|k| k.open_null(root)).expect("/dev/null");
    let prog = s.run(|k| load(k, root, "p", &trivial())).expect("prog");
    assert_eq!(freeze(&mut s, prog), Err(Errno::EINVAL));
    assert_eq!(freeze(&mut s, null), Err(Errno::EINVAL));
    assert_eq!(freeze(&mut s, 9999), Err(Errno::EBADF));
}

#[test]
fn lookup_any_flag_is_einval() {
    let mut s = Sys::new();
    let a = array10(&mut s);
    let h = hash(&mut s, 4);
    update(&mut s, h, 1, 1, BPF_ANY).expect("update");
    for fd in [a, h] {
        for f in [1u64, 2, 3, BPF_F_LOCK, 8, 1 << 63] {
            let r = raw_elem(&mut s, cmd::MAP_LOOKUP_ELEM, fd, Some(&le32(1)), f);
            assert_eq!(r.map(|_| ()), Err(Errno::EINVAL), "fd {fd} flags {f:#x}");
        }
        raw_elem(&mut s, cmd::MAP_LOOKUP_ELEM, fd, Some(&le32(1)), 0).expect("flags 0");
    }
}

#[test]
fn lookup_flags_checked_before_fd() {
    let mut s = Sys::new();
    // flags & ~BPF_F_LOCK is refused before the fd is looked at ...
    let r = raw_elem(&mut s, cmd::MAP_LOOKUP_ELEM, 9999, Some(&le32(0)), 1);
    assert_eq!(r.map(|_| ()), Err(Errno::EINVAL));
    // ... BPF_F_LOCK (no spin lock) only after.
    let r = raw_elem(
        &mut s,
        cmd::MAP_LOOKUP_ELEM,
        9999,
        Some(&le32(0)),
        BPF_F_LOCK,
    );
    assert_eq!(r.map(|_| ()), Err(Errno::EBADF));
}

#[test]
fn update_with_f_lock_on_map_without_spin_lock_is_einval() {
    let mut s = Sys::new();
    let a = array10(&mut s);
    let h = hash(&mut s, 4);
    for fd in [a, h] {
        assert_eq!(update(&mut s, fd, 1, 1, BPF_F_LOCK), Err(Errno::EINVAL));
        assert_eq!(
            update(&mut s, fd, 1, 1, BPF_F_LOCK | BPF_EXIST),
            Err(Errno::EINVAL)
        );
    }
    assert_eq!(
        lookup(&mut s, h, 1),
        Err(Errno::ENOENT),
        "nothing was written"
    );
}

#[test]
fn null_key_pointer_is_efault() {
    let mut s = Sys::new();
    let a = array10(&mut s);
    let h = hash(&mut s, 4);
    for fd in [a, h] {
        for c in [
            cmd::MAP_LOOKUP_ELEM,
            cmd::MAP_UPDATE_ELEM,
            cmd::MAP_DELETE_ELEM,
            cmd::MAP_LOOKUP_AND_DELETE_ELEM,
        ] {
            let r = raw_elem(&mut s, c, fd, None, 0);
            assert_eq!(r.map(|_| ()), Err(Errno::EFAULT), "fd {fd} cmd {c}");
        }
    }
}

#[test]
fn short_key_buffer_is_efault() {
    let mut s = Sys::new();
    let h = new_map(&mut s, MapCreateAttr::new(mt::HASH, 8, 8, 4));
    let r = raw_elem(&mut s, cmd::MAP_UPDATE_ELEM, h, Some(&[1, 2, 3, 4]), 0);
    assert_eq!(r.map(|_| ()), Err(Errno::EFAULT));
    assert_eq!(
        next_key(&mut s, h, None),
        Err(Errno::ENOENT),
        "nothing inserted"
    );
}

#[test]
fn fd_is_checked_before_key_pointer() {
    let mut s = Sys::new();
    let r = raw_elem(&mut s, cmd::MAP_LOOKUP_ELEM, 9999, None, 0);
    assert_eq!(r.map(|_| ()), Err(Errno::EBADF));
    let root = s.root;
    let ro = new_map(
        &mut s,
        MapCreateAttr::new(mt::ARRAY, 4, 8, 1).flags(BPF_F_RDONLY),
    );
    let r = raw_elem(&mut s, cmd::MAP_UPDATE_ELEM, ro, None, 0);
    assert_eq!(r.map(|_| ()), Err(Errno::EPERM), "mode before key copy");
    let _ = root;
}

#[test]
fn bad_value_pointer_is_efault() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array10(&mut s);
    // Lookup into a read-only buffer: copy_to_user faults.
    let key = le32(1);
    let value = [0u8; 8];
    let r = {
        let mut m = UserBufs::new();
        let k = m.input(&key);
        let v = m.input(&value);
        let mut attr = AttrBuf::default()
            .u32(off::elem::MAP_FD, a as u32)
            .u64(off::elem::KEY, k)
            .u64(off::elem::VALUE, v);
        s.raw(root, cmd::MAP_LOOKUP_ELEM, &mut attr.0, 168, &mut m)
    };
    assert_eq!(r, Err(Errno::EFAULT));
    // Update from an unmapped value.
    let r = {
        let mut m = UserBufs::new();
        let k = m.input(&key);
        let mut attr = AttrBuf::default()
            .u32(off::elem::MAP_FD, a as u32)
            .u64(off::elem::KEY, k)
            .u64(off::elem::VALUE, 0xdead_0000);
        s.raw(root, cmd::MAP_UPDATE_ELEM, &mut attr.0, 168, &mut m)
    };
    assert_eq!(r, Err(Errno::EFAULT));
    // Get-next-key into an unmapped buffer.
    let r = {
        let mut m = UserBufs::new();
        let mut attr = AttrBuf::default()
            .u32(off::elem::MAP_FD, a as u32)
            .u64(off::elem::NEXT_KEY, 0);
        s.raw(root, cmd::MAP_GET_NEXT_KEY, &mut attr.0, 168, &mut m)
    };
    assert_eq!(r, Err(Errno::EFAULT));
}

#[test]
fn fd_mode_gates_elem_ops() {
    let mut s = Sys::new();
    let root = s.root;
    let rw = hash(&mut s, 4);
    update(&mut s, rw, 1, 11, BPF_ANY).expect("update");
    let id = s.id_of(root, rw);
    let ro = s
        .run(|k| k.map_get_fd_by_id(root, id, BPF_F_RDONLY))
        .expect("rdonly");
    let wo = s
        .run(|k| k.map_get_fd_by_id(root, id, BPF_F_WRONLY))
        .expect("wronly");
    assert_eq!(lookup(&mut s, ro, 1), Ok(11));
    assert_eq!(next_key(&mut s, ro, None), Ok(1));
    assert_eq!(update(&mut s, ro, 2, 0, BPF_ANY), Err(Errno::EPERM));
    assert_eq!(delete(&mut s, ro, 1), Err(Errno::EPERM));
    assert_eq!(freeze(&mut s, ro), Err(Errno::EPERM));
    assert_eq!(lookup_and_delete(&mut s, ro, 1), Err(Errno::EPERM));
    assert_eq!(lookup(&mut s, wo, 1), Err(Errno::EPERM));
    assert_eq!(next_key(&mut s, wo, None), Err(Errno::EPERM));
    assert_eq!(lookup_and_delete(&mut s, wo, 1), Err(Errno::EPERM));
    update(&mut s, wo, 2, 22, BPF_ANY).expect("update through wronly");
    delete(&mut s, wo, 2).expect("delete through wronly");
    assert_eq!(lookup(&mut s, rw, 1), Ok(11), "refused ops changed nothing");
}

// ---- H1: arrays ----

#[test]
fn array_errno_table() {
    let mut s = Sys::new();
    let a = array10(&mut s);
    assert_eq!(lookup(&mut s, a, 3), Ok(0), "never written reads as zero");
    assert_eq!(lookup(&mut s, a, 10), Err(Errno::ENOENT));
    assert_eq!(update(&mut s, a, 10, 1, BPF_ANY), Err(Errno::E2BIG));
    assert_eq!(update(&mut s, a, 3, 1, BPF_NOEXIST), Err(Errno::EEXIST));
    assert_eq!(update(&mut s, a, 3, 5, BPF_EXIST), Ok(()));
    assert_eq!(lookup(&mut s, a, 3), Ok(5));
    assert_eq!(update(&mut s, a, 3, 1, 99), Err(Errno::EINVAL));
    assert_eq!(delete(&mut s, a, 3), Err(Errno::EINVAL));
    assert_eq!(next_key(&mut s, a, None), Ok(0));
    assert_eq!(next_key(&mut s, a, Some(9)), Err(Errno::ENOENT));
    assert_eq!(next_key(&mut s, a, Some(50)), Ok(0));
    assert_eq!(lookup(&mut s, a, 3), Ok(5), "failed calls changed nothing");
}

#[test]
fn array_update_checks_flags_then_index_then_noexist() {
    let mut s = Sys::new();
    let a = array10(&mut s);
    assert_eq!(update(&mut s, a, 10, 1, 3), Err(Errno::EINVAL));
    assert_eq!(update(&mut s, a, 10, 1, BPF_NOEXIST), Err(Errno::E2BIG));
    assert_eq!(update(&mut s, a, u32::MAX, 1, BPF_EXIST), Err(Errno::E2BIG));
    assert_eq!(update(&mut s, a, 0, 1, BPF_ANY), Ok(()));
    assert_eq!(update(&mut s, a, 0, 2, BPF_NOEXIST), Err(Errno::EEXIST));
    assert_eq!(lookup(&mut s, a, 0), Ok(1));
}

#[test]
fn array_delete_is_always_einval() {
    let mut s = Sys::new();
    let a = array10(&mut s);
    update(&mut s, a, 2, 7, BPF_ANY).expect("update");
    for key in [0, 2, 9, 10, u32::MAX] {
        assert_eq!(delete(&mut s, a, key), Err(Errno::EINVAL), "key {key}");
    }
    assert_eq!(lookup(&mut s, a, 2), Ok(7));
}

#[test]
fn array_get_next_key_walks_every_index_and_restarts_out_of_range() {
    let mut s = Sys::new();
    let a = array10(&mut s);
    assert_eq!(all_keys(&mut s, a), (0..10).collect::<Vec<_>>());
    assert_eq!(next_key(&mut s, a, Some(3)), Ok(4));
    assert_eq!(next_key(&mut s, a, Some(10)), Ok(0));
    assert_eq!(next_key(&mut s, a, Some(u32::MAX)), Ok(0));
    let one = new_map(&mut s, MapCreateAttr::new(mt::ARRAY, 4, 8, 1));
    assert_eq!(next_key(&mut s, one, None), Ok(0));
    assert_eq!(next_key(&mut s, one, Some(0)), Err(Errno::ENOENT));
}

#[test]
fn array_values_are_per_index_and_full_width() {
    let mut s = Sys::new();
    let root = s.root;
    let a = new_map(&mut s, MapCreateAttr::new(mt::ARRAY, 4, 5, 3));
    s.run(|k| k.map_update_elem(root, a, &le32(1), &[1, 2, 3, 4, 5], BPF_ANY))
        .expect("update");
    let mut v = [0u8; 5];
    s.run(|k| k.map_lookup_elem(root, a, &le32(1), &mut v, 0))
        .expect("lookup");
    assert_eq!(v, [1, 2, 3, 4, 5]);
    s.run(|k| k.map_lookup_elem(root, a, &le32(2), &mut v, 0))
        .expect("lookup");
    assert_eq!(v, [0; 5]);
}

// ---- H2: hashes ----

#[test]
fn hash_errno_table() {
    let mut s = Sys::new();
    let h = hash(&mut s, 2);
    assert_eq!(lookup(&mut s, h, 1), Err(Errno::ENOENT));
    assert_eq!(update(&mut s, h, 1, 10, BPF_EXIST), Err(Errno::ENOENT));
    assert_eq!(update(&mut s, h, 1, 10, BPF_NOEXIST), Ok(()));
    assert_eq!(update(&mut s, h, 1, 11, BPF_NOEXIST), Err(Errno::EEXIST));
    assert_eq!(update(&mut s, h, 2, 20, BPF_ANY), Ok(()));
    assert_eq!(update(&mut s, h, 3, 30, BPF_ANY), Err(Errno::E2BIG));
    assert_eq!(
        update(&mut s, h, 2, 21, BPF_ANY),
        Ok(()),
        "full, but exists"
    );
    assert_eq!(update(&mut s, h, 1, 12, BPF_EXIST), Ok(()));
    assert_eq!(delete(&mut s, h, 5), Err(Errno::ENOENT));
    let first = next_key(&mut s, h, None).expect("first");
    assert!(first == 1 || first == 2);
    assert_eq!(
        next_key(&mut s, h, Some(42)),
        Ok(first),
        "missing key restarts"
    );
    assert_eq!(lookup(&mut s, h, 1), Ok(12));
    assert_eq!(lookup(&mut s, h, 2), Ok(21));
    assert_eq!(lookup(&mut s, h, 3), Err(Errno::ENOENT));
}

#[test]
fn hash_update_flags_above_exist_are_einval() {
    let mut s = Sys::new();
    let h = hash(&mut s, 4);
    for f in [3u64, 8, 99, 1 << 32] {
        assert_eq!(
            update(&mut s, h, 1, 1, f),
            Err(Errno::EINVAL),
            "flags {f:#x}"
        );
    }
    assert_eq!(next_key(&mut s, h, None), Err(Errno::ENOENT), "still empty");
}

#[test]
fn hash_full_is_e2big_with_and_without_prealloc() {
    let mut s = Sys::new();
    for flags in [0, BPF_F_NO_PREALLOC] {
        let h = new_map(&mut s, MapCreateAttr::new(mt::HASH, 4, 8, 3).flags(flags));
        for k in 0..3 {
            update(&mut s, h, k, k as u64, BPF_ANY).expect("room");
        }
        assert_eq!(update(&mut s, h, 3, 3, BPF_ANY), Err(Errno::E2BIG));
        assert_eq!(update(&mut s, h, 3, 3, BPF_NOEXIST), Err(Errno::E2BIG));
        assert_eq!(update(&mut s, h, 0, 9, BPF_EXIST), Ok(()));
        delete(&mut s, h, 1).expect("delete");
        assert_eq!(update(&mut s, h, 3, 3, BPF_ANY), Ok(()), "room again");
    }
}

#[test]
fn hash_delete_then_lookup_is_enoent() {
    let mut s = Sys::new();
    let h = hash(&mut s, 4);
    update(&mut s, h, 7, 70, BPF_ANY).expect("update");
    delete(&mut s, h, 7).expect("delete");
    assert_eq!(lookup(&mut s, h, 7), Err(Errno::ENOENT));
    assert_eq!(delete(&mut s, h, 7), Err(Errno::ENOENT));
}

#[test]
fn hash_get_next_key_on_empty_map_is_enoent() {
    let mut s = Sys::new();
    let h = hash(&mut s, 4);
    assert_eq!(next_key(&mut s, h, None), Err(Errno::ENOENT));
    assert_eq!(next_key(&mut s, h, Some(1)), Err(Errno::ENOENT));
}

#[test]
fn hash_get_next_key_last_is_enoent_and_visits_each_key_once() {
    let mut s = Sys::new();
    let h = hash(&mut s, 64);
    for k in 0..40 {
        update(&mut s, h, k * 3, k as u64, BPF_ANY).expect("update");
    }
    let keys = all_keys(&mut s, h);
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, (0..40).map(|k| k * 3).collect::<Vec<_>>());
    let last = *keys.last().expect("non-empty");
    assert_eq!(next_key(&mut s, h, Some(last)), Err(Errno::ENOENT));
    // An absent key restarts at the first key.
    assert_eq!(next_key(&mut s, h, Some(1)), Ok(keys[0]));
}

/// Measured on 6.18: keys 1..10 (u32 LE) inserted in order into a `BPF_F_ZERO_SEED` hash of
/// 16 entries iterate as 10, 4, 5, 7, 2, 1, 8, 9, 6, 3.
#[test]
fn hash_zero_seed_iteration_order_matches_kernel() {
    let mut s = Sys::new();
    let h = new_map(
        &mut s,
        MapCreateAttr::new(mt::HASH, 4, 8, 16).flags(BPF_F_ZERO_SEED),
    );
    for k in 1..=10 {
        update(&mut s, h, k, k as u64, BPF_NOEXIST).expect("insert");
    }
    assert_eq!(all_keys(&mut s, h), [10, 4, 5, 7, 2, 1, 8, 9, 6, 3]);
    // Within a bucket chain (10 then 4 share one), the next key is the older element.
    assert_eq!(next_key(&mut s, h, Some(10)), Ok(4));
    assert_eq!(next_key(&mut s, h, Some(3)), Err(Errno::ENOENT));
}

#[test]
fn hash_update_of_existing_key_moves_it_to_bucket_head() {
    let mut s = Sys::new();
    let h = new_map(
        &mut s,
        MapCreateAttr::new(mt::HASH, 4, 8, 16).flags(BPF_F_ZERO_SEED),
    );
    for k in 1..=10 {
        update(&mut s, h, k, k as u64, BPF_ANY).expect("insert");
    }
    update(&mut s, h, 4, 40, BPF_EXIST).expect("replace 4");
    assert_eq!(all_keys(&mut s, h), [4, 10, 5, 7, 2, 1, 8, 9, 6, 3]);
    update(&mut s, h, 2, 20, BPF_ANY).expect("replace 2");
    assert_eq!(all_keys(&mut s, h), [4, 10, 5, 2, 7, 1, 8, 9, 6, 3]);
    // A key alone in its bucket does not move.
    update(&mut s, h, 5, 50, BPF_ANY).expect("replace 5");
    assert_eq!(all_keys(&mut s, h), [4, 10, 5, 2, 7, 1, 8, 9, 6, 3]);
    assert_eq!(lookup(&mut s, h, 4), Ok(40));
}

#[test]
fn hash_delete_and_reinsert_goes_to_bucket_head() {
    let mut s = Sys::new();
    let h = new_map(
        &mut s,
        MapCreateAttr::new(mt::HASH, 4, 8, 16).flags(BPF_F_ZERO_SEED),
    );
    for k in 1..=10 {
        update(&mut s, h, k, k as u64, BPF_ANY).expect("insert");
    }
    delete(&mut s, h, 7).expect("delete");
    assert_eq!(all_keys(&mut s, h), [10, 4, 5, 2, 1, 8, 9, 6, 3]);
    assert_eq!(next_key(&mut s, h, Some(7)), Ok(10), "deleted key restarts");
    update(&mut s, h, 7, 7, BPF_NOEXIST).expect("reinsert");
    assert_eq!(all_keys(&mut s, h), [10, 4, 5, 7, 2, 1, 8, 9, 6, 3]);
}

#[test]
fn hash_order_without_zero_seed_depends_on_the_seed() {
    // Same machine seed, same order; the model's per-map seeds differ between maps.
    let order = |seed: u64| {
        let mut s = sys_with(sim::KernelConfig {
            seed,
            ..Default::default()
        });
        let h = hash(&mut s, 64);
        for k in 0..32 {
            update(&mut s, h, k, 0, BPF_ANY).expect("insert");
        }
        all_keys(&mut s, h)
    };
    assert_eq!(order(1), order(1));
    assert_ne!(order(1), order(2));
}

// ---- H3: fd arrays and map-in-map ----

fn prog_array(s: &mut Sys, max: u32) -> i32 {
    new_map(s, MapCreateAttr::new(mt::PROG_ARRAY, 4, 4, max))
}

#[test]
fn prog_array_lookup_returns_prog_id_and_empty_slot_is_enoent() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, 4);
    let p = s.run(|k| load(k, root, "tail", &trivial())).expect("prog");
    let pid_ = s.id_of(root, p);
    assert_eq!(lookup32(&mut s, pa, 1), Err(Errno::ENOENT));
    update32(&mut s, pa, 1, p, BPF_ANY).expect("insert prog");
    assert_eq!(lookup32(&mut s, pa, 1), Ok(pid_));
    assert_eq!(lookup32(&mut s, pa, 0), Err(Errno::ENOENT));
    assert_eq!(lookup32(&mut s, pa, 4), Err(Errno::ENOENT));
}

#[test]
fn prog_array_update_rules() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, 4);
    let p = s.run(|k| load(k, root, "tail", &trivial())).expect("prog");
    let m = array10(&mut s);
    assert_eq!(
        update32(&mut s, pa, 0, m, BPF_ANY),
        Err(Errno::EINVAL),
        "map fd"
    );
    assert_eq!(update32(&mut s, pa, 0, 9999, BPF_ANY), Err(Errno::EBADF));
    assert_eq!(update32(&mut s, pa, 0, p, BPF_EXIST), Err(Errno::EINVAL));
    assert_eq!(update32(&mut s, pa, 0, p, BPF_NOEXIST), Err(Errno::EINVAL));
    assert_eq!(update32(&mut s, pa, 4, p, BPF_ANY), Err(Errno::E2BIG));
    // The flags are checked first, then the index, then the fd.
    assert_eq!(update32(&mut s, pa, 4, 9999, BPF_EXIST), Err(Errno::EINVAL));
    assert_eq!(update32(&mut s, pa, 4, 9999, BPF_ANY), Err(Errno::E2BIG));
    assert_eq!(
        lookup32(&mut s, pa, 0),
        Err(Errno::ENOENT),
        "nothing stored"
    );
    update32(&mut s, pa, 3, p, BPF_ANY).expect("last slot");
}

#[test]
fn prog_array_delete_empty_is_enoent_out_of_range_e2big() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, 4);
    assert_eq!(delete(&mut s, pa, 0), Err(Errno::ENOENT));
    assert_eq!(delete(&mut s, pa, 4), Err(Errno::E2BIG));
    let p = s.run(|k| load(k, root, "tail", &trivial())).expect("prog");
    update32(&mut s, pa, 0, p, BPF_ANY).expect("insert");
    delete(&mut s, pa, 0).expect("delete");
    assert_eq!(lookup32(&mut s, pa, 0), Err(Errno::ENOENT));
    assert_eq!(delete(&mut s, pa, 0), Err(Errno::ENOENT));
}

#[test]
fn prog_array_slot_holds_the_program() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, 4);
    let p = s.run(|k| load(k, root, "tail", &trivial())).expect("prog");
    let id = s.id_of(root, p);
    update32(&mut s, pa, 2, p, BPF_ANY).expect("insert");
    s.run(|k| k.close(root, p)).expect("close prog");
    assert!(s.prog_listed(id), "the slot keeps the program");
    delete(&mut s, pa, 2).expect("delete");
    assert!(!s.prog_listed(id), "deleting the slot drops it");
}

#[test]
fn fd_array_get_next_key_like_array() {
    let mut s = Sys::new();
    let pa = prog_array(&mut s, 3);
    let inner = array10(&mut s);
    let aom = new_map(
        &mut s,
        MapCreateAttr::new(mt::ARRAY_OF_MAPS, 4, 4, 3).inner(inner),
    );
    for fd in [pa, aom] {
        assert_eq!(all_keys(&mut s, fd), [0, 1, 2], "empty slots are keys too");
        assert_eq!(next_key(&mut s, fd, Some(2)), Err(Errno::ENOENT));
        assert_eq!(next_key(&mut s, fd, Some(3)), Ok(0));
        assert_eq!(next_key(&mut s, fd, Some(1)), Ok(2));
    }
}

#[test]
fn array_of_maps_lookup_returns_inner_map_id() {
    let mut s = Sys::new();
    let root = s.root;
    let template = array10(&mut s);
    let aom = new_map(
        &mut s,
        MapCreateAttr::new(mt::ARRAY_OF_MAPS, 4, 4, 2).inner(template),
    );
    let inner = array10(&mut s);
    let inner_id = s.id_of(root, inner);
    assert_eq!(lookup32(&mut s, aom, 0), Err(Errno::ENOENT));
    update32(&mut s, aom, 0, inner, BPF_ANY).expect("insert");
    assert_eq!(lookup32(&mut s, aom, 0), Ok(inner_id));
    assert_eq!(s.map_counts(inner_id), Some((2, 1)), "slot: ref, no uref");
}

#[test]
fn array_of_maps_update_rules() {
    let mut s = Sys::new();
    let root = s.root;
    let template = array10(&mut s);
    let aom = new_map(
        &mut s,
        MapCreateAttr::new(mt::ARRAY_OF_MAPS, 4, 4, 2).inner(template),
    );
    let good = array10(&mut s);
    let other_max = new_map(&mut s, MapCreateAttr::new(mt::ARRAY, 4, 8, 11));
    let other_value = new_map(&mut s, MapCreateAttr::new(mt::ARRAY, 4, 16, 10));
    let other_type = hash(&mut s, 10);
    let prog = s.run(|k| load(k, root, "p", &trivial())).expect("prog");
    for bad in [other_max, other_value, other_type, prog] {
        assert_eq!(update32(&mut s, aom, 0, bad, BPF_ANY), Err(Errno::EINVAL));
    }
    assert_eq!(update32(&mut s, aom, 0, 9999, BPF_ANY), Err(Errno::EBADF));
    assert_eq!(
        update32(&mut s, aom, 0, good, BPF_NOEXIST),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        update32(&mut s, aom, 0, good, BPF_EXIST),
        Err(Errno::EINVAL)
    );
    assert_eq!(update32(&mut s, aom, 2, good, BPF_ANY), Err(Errno::E2BIG));
    assert_eq!(delete(&mut s, aom, 0), Err(Errno::ENOENT));
    assert_eq!(delete(&mut s, aom, 2), Err(Errno::E2BIG));
    update32(&mut s, aom, 1, good, BPF_ANY).expect("matching inner");
    delete(&mut s, aom, 1).expect("delete");
    assert_eq!(lookup32(&mut s, aom, 1), Err(Errno::ENOENT));
}

#[test]
fn array_of_maps_inner_max_entries_ignored_with_inner_map_flag() {
    let mut s = Sys::new();
    let template = new_map(
        &mut s,
        MapCreateAttr::new(mt::ARRAY, 4, 8, 10).flags(BPF_F_INNER_MAP),
    );
    let aom = new_map(
        &mut s,
        MapCreateAttr::new(mt::ARRAY_OF_MAPS, 4, 4, 2).inner(template),
    );
    let bigger = new_map(
        &mut s,
        MapCreateAttr::new(mt::ARRAY, 4, 8, 99).flags(BPF_F_INNER_MAP),
    );
    update32(&mut s, aom, 0, bigger, BPF_ANY).expect("max_entries may differ");
    let no_flag = new_map(&mut s, MapCreateAttr::new(mt::ARRAY, 4, 8, 10));
    assert_eq!(
        update32(&mut s, aom, 1, no_flag, BPF_ANY),
        Err(Errno::EINVAL),
        "map_flags must match"
    );
}

fn hash_of_maps(s: &mut Sys) -> (i32, i32) {
    let template = array10(s);
    let hom = new_map(
        s,
        MapCreateAttr::new(mt::HASH_OF_MAPS, 4, 4, 4).inner(template),
    );
    (hom, template)
}

#[test]
fn hash_of_maps_update_flags() {
    let mut s = Sys::new();
    let (hom, _) = hash_of_maps(&mut s);
    let inner = array10(&mut s);
    assert_eq!(
        update32(&mut s, hom, 1, inner, BPF_EXIST),
        Err(Errno::ENOENT)
    );
    update32(&mut s, hom, 1, inner, BPF_NOEXIST).expect("insert");
    assert_eq!(
        update32(&mut s, hom, 1, inner, BPF_NOEXIST),
        Err(Errno::EEXIST)
    );
    update32(&mut s, hom, 1, inner, BPF_EXIST).expect("replace");
    assert_eq!(update32(&mut s, hom, 2, inner, 3), Err(Errno::EINVAL));
    assert_eq!(
        update32(&mut s, hom, 2, inner, BPF_F_LOCK),
        Err(Errno::EINVAL)
    );
    assert_eq!(lookup32(&mut s, hom, 2), Err(Errno::ENOENT));
}

#[test]
fn hash_of_maps_value_fd_rules() {
    let mut s = Sys::new();
    let root = s.root;
    let (hom, _) = hash_of_maps(&mut s);
    let prog = s.run(|k| load(k, root, "p", &trivial())).expect("prog");
    let mismatched = new_map(&mut s, MapCreateAttr::new(mt::ARRAY, 4, 8, 3));
    assert_eq!(update32(&mut s, hom, 1, 9999, BPF_ANY), Err(Errno::EBADF));
    assert_eq!(update32(&mut s, hom, 1, prog, BPF_ANY), Err(Errno::EINVAL));
    assert_eq!(
        update32(&mut s, hom, 1, mismatched, BPF_ANY),
        Err(Errno::EINVAL)
    );
    // The fd is resolved before the flags are looked at.
    assert_eq!(update32(&mut s, hom, 1, 9999, 3), Err(Errno::EBADF));
    assert_eq!(
        next_key(&mut s, hom, None),
        Err(Errno::ENOENT),
        "still empty"
    );
}

#[test]
fn hash_of_maps_lookup_returns_inner_map_id() {
    let mut s = Sys::new();
    let root = s.root;
    let (hom, _) = hash_of_maps(&mut s);
    let a = array10(&mut s);
    let b = array10(&mut s);
    let (ida, idb) = (s.id_of(root, a), s.id_of(root, b));
    update32(&mut s, hom, 7, a, BPF_ANY).expect("insert");
    assert_eq!(lookup32(&mut s, hom, 7), Ok(ida));
    update32(&mut s, hom, 7, b, BPF_ANY).expect("replace");
    assert_eq!(lookup32(&mut s, hom, 7), Ok(idb));
    assert_eq!(s.map_counts(ida), Some((1, 1)), "the replaced map was put");
    assert_eq!(s.map_counts(idb), Some((2, 1)));
    assert_eq!(next_key(&mut s, hom, None), Ok(7));
    delete(&mut s, hom, 7).expect("delete");
    assert_eq!(delete(&mut s, hom, 7), Err(Errno::ENOENT));
    assert_eq!(s.map_counts(idb), Some((1, 1)));
}

// ---- H4: freeze ----

#[test]
fn freeze_blocks_user_writes_but_not_reads() {
    let mut s = Sys::new();
    let root = s.root;
    let h = hash(&mut s, 4);
    update(&mut s, h, 1, 10, BPF_ANY).expect("update");
    freeze(&mut s, h).expect("freeze");
    assert_eq!(update(&mut s, h, 1, 11, BPF_ANY), Err(Errno::EPERM));
    assert_eq!(update(&mut s, h, 2, 20, BPF_ANY), Err(Errno::EPERM));
    assert_eq!(delete(&mut s, h, 1), Err(Errno::EPERM));
    assert_eq!(lookup_and_delete(&mut s, h, 1), Err(Errno::EPERM));
    assert_eq!(lookup(&mut s, h, 1), Ok(10));
    assert_eq!(next_key(&mut s, h, None), Ok(1));
    // Every fd, including ones opened later, loses write access.
    let id = s.id_of(root, h);
    let again = s.run(|k| k.map_get_fd_by_id(root, id, 0)).expect("by id");
    assert_eq!(update(&mut s, again, 1, 12, BPF_ANY), Err(Errno::EPERM));
    let a = array10(&mut s);
    freeze(&mut s, a).expect("freeze array");
    assert_eq!(update(&mut s, a, 0, 1, BPF_ANY), Err(Errno::EPERM));
    assert_eq!(lookup(&mut s, a, 0), Ok(0));
}

#[test]
fn second_freeze_is_eperm() {
    let mut s = Sys::new();
    let a = array10(&mut s);
    freeze(&mut s, a).expect("freeze");
    assert_eq!(freeze(&mut s, a), Err(Errno::EPERM));
}

#[test]
fn freeze_through_read_only_fd_is_eperm() {
    let mut s = Sys::new();
    let ro = new_map(
        &mut s,
        MapCreateAttr::new(mt::ARRAY, 4, 8, 1).flags(BPF_F_RDONLY),
    );
    assert_eq!(freeze(&mut s, ro), Err(Errno::EPERM));
}

#[test]
fn freeze_of_fd_arrays() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, 2);
    let p = s.run(|k| load(k, root, "tail", &trivial())).expect("prog");
    freeze(&mut s, pa).expect("freeze prog_array");
    assert_eq!(update32(&mut s, pa, 0, p, BPF_ANY), Err(Errno::EPERM));
}

// ---- LOOKUP_AND_DELETE ----

#[test]
fn lookup_and_delete_on_array_is_enotsupp_even_out_of_range() {
    let mut s = Sys::new();
    let a = array10(&mut s);
    update(&mut s, a, 1, 5, BPF_ANY).expect("update");
    for key in [1, 10, u32::MAX] {
        let r = lookup_and_delete(&mut s, a, key);
        assert_eq!(r, Err(Errno::ENOTSUPP), "key {key}");
        assert_eq!(r.unwrap_err().0, 524);
    }
    assert_eq!(lookup(&mut s, a, 1), Ok(5));
}

#[test]
fn lookup_and_delete_on_fd_arrays_is_enotsupp() {
    let mut s = Sys::new();
    let (hom, template) = hash_of_maps(&mut s);
    let pa = prog_array(&mut s, 2);
    let aom = new_map(
        &mut s,
        MapCreateAttr::new(mt::ARRAY_OF_MAPS, 4, 4, 2).inner(template),
    );
    for fd in [pa, aom, hom] {
        let root = s.root;
        let mut v = [0u8; 4];
        let r = s.run(|k| k.map_lookup_and_delete_elem(root, fd, &le32(0), &mut v));
        assert_eq!(r, Err(Errno::ENOTSUPP), "fd {fd}");
    }
}

#[test]
fn lookup_and_delete_on_hash_returns_and_deletes() {
    let mut s = Sys::new();
    let h = hash(&mut s, 4);
    update(&mut s, h, 3, 33, BPF_ANY).expect("update");
    update(&mut s, h, 4, 44, BPF_ANY).expect("update");
    assert_eq!(lookup_and_delete(&mut s, h, 3), Ok(33));
    assert_eq!(lookup(&mut s, h, 3), Err(Errno::ENOENT));
    assert_eq!(lookup_and_delete(&mut s, h, 3), Err(Errno::ENOENT));
    assert_eq!(all_keys(&mut s, h), [4]);
}

#[test]
fn lookup_and_delete_flags_are_einval() {
    let mut s = Sys::new();
    let h = hash(&mut s, 4);
    update(&mut s, h, 3, 33, BPF_ANY).expect("update");
    for f in [1u64, 2, BPF_F_LOCK] {
        let r = raw_elem(
            &mut s,
            cmd::MAP_LOOKUP_AND_DELETE_ELEM,
            h,
            Some(&le32(3)),
            f,
        );
        assert_eq!(r.map(|_| ()), Err(Errno::EINVAL), "flags {f}");
    }
    assert_eq!(lookup(&mut s, h, 3), Ok(33), "still there");
    let (_, v) = raw_elem(
        &mut s,
        cmd::MAP_LOOKUP_AND_DELETE_ELEM,
        h,
        Some(&le32(3)),
        0,
    )
    .expect("flags 0");
    assert_eq!(u64::from_le_bytes(v), 33);
}

#[test]
fn lookup_and_delete_needs_read_and_write() {
    let mut s = Sys::new();
    let root = s.root;
    let h = hash(&mut s, 4);
    update(&mut s, h, 1, 1, BPF_ANY).expect("update");
    let id = s.id_of(root, h);
    for mode in [BPF_F_RDONLY, BPF_F_WRONLY] {
        let fd = s
            .run(|k| k.map_get_fd_by_id(root, id, mode))
            .expect("by id");
        assert_eq!(lookup_and_delete(&mut s, fd, 1), Err(Errno::EPERM));
    }
    assert_eq!(lookup(&mut s, h, 1), Ok(1));
}

/// The key_size-0 rule of `__bpf_copy_key` (a non-NULL key on a map without keys is EINVAL)
/// needs queue/stack maps, which the model refuses; this pins that refusal so the rule gets a
/// test when they are modeled.
#[test]
fn key_size_zero_maps_are_not_modeled() {
    let mut s = Sys::new();
    let root = s.root;
    for t in [mt::QUEUE, mt::STACK] {
        let r = s.run(|k| k.map_create(root, &MapCreateAttr::new(t, 0, 8, 4)));
        assert_eq!(r, Err(Errno::EOPNOTSUPP));
    }
}

/// 6.18's `bpf_fd_htab_map_update_elem` replaces an inner map with
/// `htab_map_update_elem_in_place`: unlike a plain hash, the element keeps its place.
#[test]
fn hash_of_maps_replace_keeps_the_element_in_place() {
    let mut s = Sys::new();
    let template = array10(&mut s);
    let hom = new_map(
        &mut s,
        MapCreateAttr::new(mt::HASH_OF_MAPS, 4, 4, 16)
            .inner(template)
            .flags(BPF_F_ZERO_SEED),
    );
    let inner = array10(&mut s);
    let other = array10(&mut s);
    for k in 1..=10 {
        update32(&mut s, hom, k, inner, BPF_NOEXIST).expect("insert");
    }
    assert_eq!(all_keys(&mut s, hom), [10, 4, 5, 7, 2, 1, 8, 9, 6, 3]);
    update32(&mut s, hom, 4, other, BPF_EXIST).expect("replace 4");
    update32(&mut s, hom, 2, other, BPF_ANY).expect("replace 2");
    assert_eq!(all_keys(&mut s, hom), [10, 4, 5, 7, 2, 1, 8, 9, 6, 3]);
    let root = s.root;
    let other_id = s.id_of(root, other);
    assert_eq!(lookup32(&mut s, hom, 4), Ok(other_id));
}

#[test]
fn hash_of_maps_full_is_e2big_and_takes_no_reference() {
    let mut s = Sys::new();
    let root = s.root;
    let template = array10(&mut s);
    let hom = new_map(
        &mut s,
        MapCreateAttr::new(mt::HASH_OF_MAPS, 4, 4, 1).inner(template),
    );
    let inner = array10(&mut s);
    let id = s.id_of(root, inner);
    update32(&mut s, hom, 1, inner, BPF_ANY).expect("insert");
    assert_eq!(update32(&mut s, hom, 2, inner, BPF_ANY), Err(Errno::E2BIG));
    assert_eq!(s.map_counts(id), Some((2, 1)), "one slot, one reference");
    update32(&mut s, hom, 1, inner, BPF_ANY).expect("replace when full");
    assert_eq!(s.map_counts(id), Some((2, 1)));
}

/// `map_lookup_and_delete_elem` deletes the element in the kernel, then copies the value out:
/// a bad value pointer is `EFAULT` with the element already gone.
#[test]
fn lookup_and_delete_bad_value_pointer_is_efault_after_the_delete() {
    let mut s = Sys::new();
    let root = s.root;
    let h = hash(&mut s, 4);
    update(&mut s, h, 1, 10, BPF_ANY).expect("update");
    let key = le32(1);
    let value = [0u8; 8];
    let r = {
        let mut m = UserBufs::new();
        let k = m.input(&key);
        let v = m.input(&value);
        let mut a = AttrBuf::default()
            .u32(off::elem::MAP_FD, h as u32)
            .u64(off::elem::KEY, k)
            .u64(off::elem::VALUE, v);
        s.raw(root, cmd::MAP_LOOKUP_AND_DELETE_ELEM, &mut a.0, 168, &mut m)
    };
    assert_eq!(r, Err(Errno::EFAULT));
    assert_eq!(lookup(&mut s, h, 1), Err(Errno::ENOENT), "deleted anyway");
}

#[test]
fn get_next_key_with_unmapped_key_pointer_is_efault() {
    let mut s = Sys::new();
    let root = s.root;
    let h = hash(&mut s, 4);
    update(&mut s, h, 1, 1, BPF_ANY).expect("update");
    let mut next = [0u8; 4];
    let r = {
        let mut m = UserBufs::new();
        let n = m.output(&mut next);
        let mut a = AttrBuf::default()
            .u32(off::elem::MAP_FD, h as u32)
            .u64(off::elem::KEY, 0xdead_0000)
            .u64(off::elem::NEXT_KEY, n);
        s.raw(root, cmd::MAP_GET_NEXT_KEY, &mut a.0, 168, &mut m)
    };
    assert_eq!(
        r,
        Err(Errno::EFAULT),
        "a non-NULL key is copied, not treated as NULL"
    );
}

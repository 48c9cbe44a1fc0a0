//! The syscall entry (spec A: attr size, tail and per-command last-field checks, unknown
//! commands) and object ids (spec B: cyclic allocation, GET_NEXT_ID, GET_FD_BY_ID, access
//! modes, capabilities, wrap-around).

use crate::support::*;
use sim::attr::{AttrBuf, off};
use sim::uapi::flags::*;
use sim::uapi::{cap, cmd, map_type as mt};
use sim::{CapSet, Cred, Errno, KernelConfig, MapCreateAttr, UserBufs};

const INT_MAX: u32 = i32::MAX as u32;

/// MAP_CREATE of ARRAY(4, 8, 1) as raw bytes.
fn array_attr() -> AttrBuf {
    MapCreateAttr::new(mt::ARRAY, 4, 8, 1).encode()
}

/// Raw MAP_CREATE with the caller's attr memory `user` and `size`.
fn raw_create(s: &mut Sys, user: &mut [u8], size: u32) -> Result<i64, Errno> {
    let root = s.root;
    s.raw(root, cmd::MAP_CREATE, user, size, &mut UserBufs::new())
}

/// A 4096-byte attr buffer starting with `a`.
fn page(a: &AttrBuf) -> Vec<u8> {
    let mut v = vec![0u8; 4096];
    v[..168].copy_from_slice(&a.0);
    v
}

fn create(s: &mut Sys, a: &MapCreateAttr) -> Result<i32, Errno> {
    let root = s.root;
    s.run(|k| k.map_create(root, a))
}

fn array(s: &mut Sys) -> i32 {
    create(s, &MapCreateAttr::new(mt::ARRAY, 4, 8, 1)).expect("array")
}

fn close(s: &mut Sys, fd: i32) {
    let root = s.root;
    s.run(|k| k.close(root, fd)).expect("close");
}

fn user(s: &mut Sys, caps: CapSet) -> sim::Pid {
    let mut c = Cred::user(1000, 1000);
    c.caps = caps;
    s.k.spawn("user", c)
}

// ---- A: attr size and tail ----

#[test]
fn attr_size_over_page_is_e2big() {
    let mut s = Sys::new();
    let mut v = page(&array_attr());
    v.push(0);
    assert_eq!(raw_create(&mut s, &mut v, 4097), Err(Errno::E2BIG));
    assert_eq!(raw_create(&mut s, &mut v, u32::MAX), Err(Errno::E2BIG));
    assert_eq!(s.live_maps(), 0);
}

#[test]
fn attr_size_4096_with_zero_tail_is_ok() {
    let mut s = Sys::new();
    let mut v = page(&array_attr());
    assert_eq!(raw_create(&mut s, &mut v, 4096), Ok(3));
}

#[test]
fn attr_nonzero_byte_past_union_is_e2big() {
    let mut s = Sys::new();
    for at in [168usize, 169, 1000, 4095] {
        let mut v = page(&array_attr());
        v[at] = 1;
        assert_eq!(
            raw_create(&mut s, &mut v, 4096),
            Err(Errno::E2BIG),
            "byte at {at}"
        );
    }
    // A non-zero byte past `size` is never read.
    let mut v = page(&array_attr());
    v[168] = 1;
    assert_eq!(raw_create(&mut s, &mut v, 168), Ok(3));
}

#[test]
fn attr_nonzero_byte_inside_union_past_last_field_is_einval() {
    let mut s = Sys::new();
    for at in [92usize, 100, 167] {
        let mut v = page(&array_attr());
        v[at] = 1;
        assert_eq!(
            raw_create(&mut s, &mut v, 4096),
            Err(Errno::EINVAL),
            "byte at {at}"
        );
    }
    assert_eq!(s.live_maps(), 0);
}

#[test]
fn attr_tail_check_comes_before_command_dispatch() {
    let mut s = Sys::new();
    let root = s.root;
    let mut v = vec![0u8; 4097];
    for c in [1000, cmd::PROG_TEST_RUN, cmd::MAP_CREATE] {
        assert_eq!(
            s.raw(root, c, &mut v, 4097, &mut UserBufs::new()),
            Err(Errno::E2BIG),
            "cmd {c}"
        );
    }
}

#[test]
fn attr_short_size_is_zero_filled() {
    let mut s = Sys::new();
    // Sizes 20 and 28 reach max_entries / map_flags: enough for a map.
    for size in [16u32, 20, 28] {
        let mut a = array_attr().0;
        // A name the kernel would refuse, past `size`: never copied in.
        a[off::map_create::MAP_NAME] = b'-';
        assert!(raw_create(&mut s, &mut a, size).is_ok(), "size {size}");
    }
    // Size 12 cuts max_entries off: max_entries 0 is EINVAL.
    let mut a = array_attr().0;
    assert_eq!(raw_create(&mut s, &mut a, 12), Err(Errno::EINVAL));
}

#[test]
fn attr_size_0_is_all_zero_attr() {
    let mut s = Sys::new();
    let root = s.root;
    let mut a = array_attr().0;
    assert_eq!(
        raw_create(&mut s, &mut a, 0),
        Err(Errno::EINVAL),
        "map_type 0"
    );
    // GET_NEXT_ID with size 0: start_id reads as 0, whatever the buffer says.
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    let mut g = AttrBuf::default().u32(off::id::START_ID, id + 5).0;
    assert_eq!(
        s.raw(root, cmd::MAP_GET_NEXT_ID, &mut g, 0, &mut UserBufs::new()),
        Ok(0)
    );
    assert_eq!(u32::from_le_bytes(g[4..8].try_into().unwrap()), id);
}

#[test]
fn attr_buffer_shorter_than_size_is_efault() {
    let mut s = Sys::new();
    let mut a = array_attr().0;
    assert_eq!(raw_create(&mut s, &mut a[..100], 168), Err(Errno::EFAULT));
    assert_eq!(raw_create(&mut s, &mut a[..0], 1), Err(Errno::EFAULT));
    assert_eq!(s.live_maps(), 0);
    assert_eq!(raw_create(&mut s, &mut a[..100], 100), Ok(3));
}

#[test]
fn unknown_commands_are_einval() {
    let mut s = Sys::new();
    let root = s.root;
    for c in [38u32, 39, 1000, i32::MAX as u32, u32::MAX] {
        let mut a = [0u8; 168];
        assert_eq!(
            s.raw(root, c, &mut a, 168, &mut UserBufs::new()),
            Err(Errno::EINVAL),
            "cmd {c}"
        );
    }
}

/// The model's choice: a command the 6.18 kernel knows (up to 37) but the model does not
/// implement returns `EOPNOTSUPP` with a "not modeled" reason, never the kernel's result.
#[test]
fn known_but_unmodeled_commands_are_eopnotsupp() {
    let mut s = Sys::new();
    let root = s.root;
    let unmodeled = [
        cmd::PROG_ATTACH,
        cmd::PROG_DETACH,
        cmd::PROG_QUERY,
        cmd::RAW_TRACEPOINT_OPEN,
        cmd::TASK_FD_QUERY,
        cmd::MAP_LOOKUP_BATCH,
        cmd::MAP_LOOKUP_AND_DELETE_BATCH,
        cmd::MAP_UPDATE_BATCH,
        cmd::MAP_DELETE_BATCH,
        cmd::LINK_CREATE,
        cmd::LINK_UPDATE,
        cmd::LINK_GET_FD_BY_ID,
        cmd::LINK_GET_NEXT_ID,
        cmd::ENABLE_STATS,
        cmd::ITER_CREATE,
        cmd::LINK_DETACH,
        cmd::TOKEN_CREATE,
        cmd::PROG_STREAM_READ_BY_FD,
    ];
    assert_eq!(cmd::TOKEN_CREATE, 36);
    assert_eq!(cmd::PROG_STREAM_READ_BY_FD, 37);
    for c in unmodeled {
        let mut a = [0u8; 168];
        assert_eq!(
            s.raw(root, c, &mut a, 168, &mut UserBufs::new()),
            Err(Errno::EOPNOTSUPP),
            "cmd {c}"
        );
        let why = s.k.last_error().to_string();
        assert!(why.contains("not modeled"), "cmd {c}: {why:?}");
        assert!(why.contains(cmd::name(c).unwrap()), "cmd {c}: {why:?}");
    }
}

/// The fixture every last-field case runs on: an array (fd 3, id 1), a hash holding key 0
/// (fd 4), a program (fd 5, id 1) and a pin of the array at /sys/fs/bpf/pinned.
struct Fx {
    s: Sys,
    arr: u32,
    hash: u32,
    prog: u32,
    arr_id: u32,
    prog_id: u32,
}

fn fixture() -> Fx {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let arr = array(&mut s);
    let hash = create(&mut s, &MapCreateAttr::new(mt::HASH, 4, 8, 4)).expect("hash");
    s.run(|k| k.map_update_elem(root, hash, &le32(0), &[0; 8], BPF_ANY))
        .expect("update");
    let prog = s.run(|k| load(k, root, "p", &trivial())).expect("prog");
    s.run(|k| k.obj_pin(root, arr, "/sys/fs/bpf/pinned"))
        .expect("pin");
    let (arr_id, prog_id) = (s.id_of(root, arr), s.id_of(root, prog));
    Fx {
        s,
        arr: arr as u32,
        hash: hash as u32,
        prog: prog as u32,
        arr_id,
        prog_id,
    }
}

/// A valid attr for `c` in the fixture: buffer 0 is a 4-byte key (0), buffer 1 an 8-byte
/// value, buffer 2 the path "/sys/fs/bpf/new", buffer 3 "/sys/fs/bpf/pinned".
fn valid_attr(fx: &Fx, c: u32) -> AttrBuf {
    let (key, val) = (UserBufs::addr(0), UserBufs::addr(1));
    let (new_path, pinned) = (UserBufs::addr(2), UserBufs::addr(3));
    let elem = |fd: u32| AttrBuf::default().u32(off::elem::MAP_FD, fd);
    match c {
        cmd::MAP_CREATE => array_attr(),
        cmd::MAP_LOOKUP_ELEM | cmd::MAP_UPDATE_ELEM => elem(fx.arr)
            .u64(off::elem::KEY, key)
            .u64(off::elem::VALUE, val),
        cmd::MAP_LOOKUP_AND_DELETE_ELEM => elem(fx.hash)
            .u64(off::elem::KEY, key)
            .u64(off::elem::VALUE, val),
        cmd::MAP_DELETE_ELEM => elem(fx.hash).u64(off::elem::KEY, key),
        cmd::MAP_GET_NEXT_KEY => elem(fx.arr).u64(off::elem::NEXT_KEY, val),
        cmd::MAP_FREEZE => elem(fx.arr),
        cmd::OBJ_PIN => AttrBuf::default()
            .u64(off::obj::PATHNAME, new_path)
            .u32(off::obj::BPF_FD, fx.arr),
        cmd::OBJ_GET => AttrBuf::default().u64(off::obj::PATHNAME, pinned),
        cmd::MAP_GET_NEXT_ID | cmd::PROG_GET_NEXT_ID => AttrBuf::default(),
        cmd::MAP_GET_FD_BY_ID => AttrBuf::default().u32(off::id::START_ID, fx.arr_id),
        cmd::PROG_GET_FD_BY_ID => AttrBuf::default().u32(off::id::START_ID, fx.prog_id),
        cmd::OBJ_GET_INFO_BY_FD => AttrBuf::default()
            .u32(off::info::BPF_FD, fx.arr)
            .u32(off::info::INFO_LEN, 8)
            .u64(off::info::INFO, val),
        cmd::PROG_BIND_MAP => AttrBuf::default()
            .u32(off::bind_map::PROG_FD, fx.prog)
            .u32(off::bind_map::MAP_FD, fx.arr),
        _ => unreachable!("no fixture for cmd {c}"),
    }
}

/// Run `c` on a fresh fixture with its valid attr and byte `at` set to `byte`.
fn run_with_byte(c: u32, at: Option<usize>, byte: u8) -> Result<i64, Errno> {
    let mut fx = fixture();
    let mut a = valid_attr(&fx, c);
    if let Some(at) = at {
        a.0[at] = byte;
    }
    let mut key = [0u8; 4];
    let mut val = [0u8; 8];
    let new_path = b"/sys/fs/bpf/new\0";
    let pinned = b"/sys/fs/bpf/pinned\0";
    let mut m = UserBufs::new();
    m.output(&mut key);
    m.output(&mut val);
    m.input(new_path);
    m.input(pinned);
    let root = fx.s.root;
    fx.s.raw(root, c, &mut a.0, 168, &mut m)
}

/// Each command's `CHECK_ATTR` boundary: the bytes measured (or specified) as ignored leave
/// the call succeeding, the first byte past the command's last field is `EINVAL`.
#[test]
fn check_attr_last_field_per_command() {
    use cmd::*;
    let ok = |_: i64| ();
    let einval: Result<(), Errno> = Err(Errno::EINVAL);
    // (command, byte offset, expected)
    let table: &[(u32, usize, Result<(), Errno>)] = &[
        (MAP_CREATE, 92, einval),
        (MAP_CREATE, 167, einval),
        (MAP_LOOKUP_ELEM, 4, Ok(())),
        (MAP_LOOKUP_ELEM, 32, einval),
        (MAP_LOOKUP_ELEM, 167, einval),
        (MAP_UPDATE_ELEM, 32, einval),
        (MAP_LOOKUP_AND_DELETE_ELEM, 32, einval),
        (MAP_DELETE_ELEM, 4, Ok(())),
        (MAP_DELETE_ELEM, 7, Ok(())),
        (MAP_DELETE_ELEM, 16, einval),
        (MAP_DELETE_ELEM, 24, einval),
        (MAP_GET_NEXT_KEY, 24, einval),
        (MAP_FREEZE, 4, einval),
        (MAP_FREEZE, 8, einval),
        (OBJ_PIN, 20, einval),
        (OBJ_GET, 20, einval),
        (MAP_GET_NEXT_ID, 4, Ok(())),
        (MAP_GET_NEXT_ID, 7, Ok(())),
        (MAP_GET_NEXT_ID, 8, einval),
        (PROG_GET_NEXT_ID, 4, Ok(())),
        (PROG_GET_NEXT_ID, 8, einval),
        (MAP_GET_FD_BY_ID, 4, Ok(())),
        (MAP_GET_FD_BY_ID, 12, einval),
        (MAP_GET_FD_BY_ID, 16, einval),
        (PROG_GET_FD_BY_ID, 4, einval),
        (PROG_GET_FD_BY_ID, 7, einval),
        (PROG_GET_FD_BY_ID, 8, einval),
        (PROG_GET_FD_BY_ID, 12, einval),
        (PROG_GET_FD_BY_ID, 15, einval),
        (OBJ_GET_INFO_BY_FD, 16, einval),
        (PROG_BIND_MAP, 12, einval),
    ];
    for &(c, at, want) in table {
        assert_eq!(
            run_with_byte(c, None, 0).map(ok),
            Ok(()),
            "{} without the stray byte",
            cmd::name(c).unwrap()
        );
        assert_eq!(
            run_with_byte(c, Some(at), 1).map(ok),
            want,
            "{} byte at {at}",
            cmd::name(c).unwrap()
        );
    }
}

#[test]
fn map_get_fd_by_id_open_flags_other_than_rdonly_wronly_are_einval() {
    let mut fx = fixture();
    let root = fx.s.root;
    let id = fx.arr_id;
    for f in [1u32, 2, 4, BPF_F_RDONLY_PROG, 0x20, 1 << 31] {
        assert_eq!(
            fx.s.run(|k| k.map_get_fd_by_id(root, id, f)),
            Err(Errno::EINVAL),
            "open_flags {f:#x}"
        );
    }
    assert_eq!(
        fx.s.run(|k| k.map_get_fd_by_id(root, id, BPF_F_RDONLY | BPF_F_WRONLY)),
        Err(Errno::EINVAL)
    );
    for f in [0, BPF_F_RDONLY, BPF_F_WRONLY] {
        fx.s.run(|k| k.map_get_fd_by_id(root, id, f))
            .unwrap_or_else(|e| panic!("open_flags {f:#x}: {e:?}"));
    }
}

// ---- B: ids ----

#[test]
fn map_ids_are_cyclic_and_never_reused() {
    let mut s = Sys::new();
    let root = s.root;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let fd = array(&mut s);
        ids.push(s.id_of(root, fd));
        close(&mut s, fd);
    }
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    let fd = array(&mut s);
    assert_eq!(s.id_of(root, fd), 6);
}

#[test]
fn prog_ids_are_cyclic_and_never_reused() {
    let mut s = Sys::new();
    let root = s.root;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let fd = s.run(|k| load(k, root, "p", &trivial())).expect("load");
        ids.push(s.id_of(root, fd));
        close(&mut s, fd);
    }
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    let fd = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    assert_eq!(s.id_of(root, fd), 6);
}

#[test]
fn map_and_prog_id_spaces_are_independent() {
    let mut s = Sys::new();
    let root = s.root;
    let m1 = array(&mut s);
    let m2 = array(&mut s);
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    assert_eq!((s.id_of(root, m1), s.id_of(root, m2)), (1, 2));
    assert_eq!(s.id_of(root, p), 1);
}

#[test]
fn failed_map_creates_consume_no_id() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s);
    let unpriv = user(&mut s, CapSet::NONE);
    let bad = [
        MapCreateAttr::new(mt::ARRAY, 8, 8, 1), // EINVAL (alloc check)
        MapCreateAttr::new(mt::HASH, 4, 8, 0x800_0001), // E2BIG (alloc)
        MapCreateAttr::new(mt::ARRAY, 4, 8, u32::MAX), // ENOMEM
        MapCreateAttr::new(mt::ARRAY, 4, 8, 1).name("bad-name"), // EINVAL after alloc
        MapCreateAttr::new(mt::PERCPU_HASH, 4, 8, 1), // EOPNOTSUPP (model)
    ];
    for b in &bad {
        assert!(create(&mut s, b).is_err(), "{b:?}");
    }
    assert_eq!(
        s.run(|k| k.map_create(unpriv, &MapCreateAttr::new(mt::ARRAY, 4, 8, 1))),
        Err(Errno::EPERM)
    );
    let b = array(&mut s);
    assert_eq!(s.id_of(root, b), s.id_of(root, a) + 1);
}

#[test]
fn failed_prog_loads_consume_no_id() {
    let mut s = Sys::new();
    let root = s.root;
    let a = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    // No exit instruction: rejected.
    assert!(
        s.run(|k| load(k, root, "p", &[sim::Insn::mov64_imm(0, 0)]))
            .is_err()
    );
    assert_eq!(
        s.run(|k| load(k, root, "bad-name", &trivial())),
        Err(Errno::EINVAL)
    );
    let b = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    assert_eq!(s.id_of(root, b), s.id_of(root, a) + 1);
}

#[test]
fn id_removed_when_refcnt_hits_zero() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s);
    let b = array(&mut s);
    let (ia, ib) = (s.id_of(root, a), s.id_of(root, b));
    close(&mut s, a);
    assert!(!s.map_listed(ia));
    assert_eq!(
        s.run(|k| k.map_get_next_id(root, 0)),
        Ok(ib),
        "freed id skipped"
    );
    assert_eq!(
        s.run(|k| k.map_get_fd_by_id(root, ia, 0)),
        Err(Errno::ENOENT)
    );
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let ip = s.id_of(root, p);
    close(&mut s, p);
    assert_eq!(s.run(|k| k.prog_get_next_id(root, 0)), Err(Errno::ENOENT));
    assert_eq!(s.run(|k| k.prog_get_fd_by_id(root, ip)), Err(Errno::ENOENT));
}

#[test]
fn get_next_id_returns_smallest_id_above_start() {
    let mut s = Sys::new();
    let root = s.root;
    let fds: Vec<i32> = (0..3).map(|_| array(&mut s)).collect();
    let ids: Vec<u32> = fds.iter().map(|&fd| s.id_of(root, fd)).collect();
    assert_eq!(s.run(|k| k.map_get_next_id(root, 0)), Ok(ids[0]));
    assert_eq!(s.run(|k| k.map_get_next_id(root, ids[0])), Ok(ids[1]));
    assert_eq!(s.run(|k| k.map_get_next_id(root, ids[1])), Ok(ids[2]));
}

#[test]
fn get_next_id_past_the_last_is_enoent() {
    let mut s = Sys::new();
    let root = s.root;
    assert_eq!(s.run(|k| k.map_get_next_id(root, 0)), Err(Errno::ENOENT));
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    assert_eq!(s.run(|k| k.map_get_next_id(root, id)), Err(Errno::ENOENT));
    assert_eq!(
        s.run(|k| k.map_get_next_id(root, INT_MAX - 1)),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        s.run(|k| k.prog_get_next_id(root, INT_MAX - 1)),
        Err(Errno::ENOENT)
    );
}

#[test]
fn get_next_id_start_at_or_above_int_max_is_einval_even_unprivileged() {
    let mut s = Sys::new();
    let root = s.root;
    let unpriv = user(&mut s, CapSet::NONE);
    for pid in [root, unpriv] {
        for start in [INT_MAX, INT_MAX + 1, u32::MAX] {
            assert_eq!(s.run(|k| k.map_get_next_id(pid, start)), Err(Errno::EINVAL));
            assert_eq!(
                s.run(|k| k.prog_get_next_id(pid, start)),
                Err(Errno::EINVAL)
            );
        }
    }
}

#[test]
fn id_commands_need_cap_sys_admin() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let (mid, pid_) = (s.id_of(root, fd), s.id_of(root, p));
    let nobody = user(&mut s, CapSet::NONE);
    let bpf_only = user(
        &mut s,
        CapSet::of(&[cap::BPF, cap::PERFMON, cap::NET_ADMIN]),
    );
    for who in [nobody, bpf_only] {
        assert_eq!(s.run(|k| k.map_get_next_id(who, 0)), Err(Errno::EPERM));
        assert_eq!(s.run(|k| k.prog_get_next_id(who, 0)), Err(Errno::EPERM));
        assert_eq!(
            s.run(|k| k.map_get_fd_by_id(who, mid, 0)),
            Err(Errno::EPERM)
        );
        assert_eq!(s.run(|k| k.prog_get_fd_by_id(who, pid_)), Err(Errno::EPERM));
        // Even for ids that do not exist.
        assert_eq!(
            s.run(|k| k.map_get_fd_by_id(who, 12345, 0)),
            Err(Errno::EPERM)
        );
    }
    let admin = user(&mut s, CapSet::of(&[cap::SYS_ADMIN]));
    assert_eq!(s.run(|k| k.map_get_next_id(admin, 0)), Ok(mid));
    s.run(|k| k.map_get_fd_by_id(admin, mid, 0)).expect("admin");
}

#[test]
fn get_fd_by_id_of_0_freed_or_int_max_is_enoent() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let freed = s.id_of(root, fd);
    close(&mut s, fd);
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let freed_prog = s.id_of(root, p);
    close(&mut s, p);
    for id in [0, freed, 77, INT_MAX, u32::MAX] {
        assert_eq!(
            s.run(|k| k.map_get_fd_by_id(root, id, 0)),
            Err(Errno::ENOENT),
            "map id {id}"
        );
    }
    for id in [0, freed_prog, INT_MAX] {
        assert_eq!(
            s.run(|k| k.prog_get_fd_by_id(root, id)),
            Err(Errno::ENOENT),
            "prog id {id}"
        );
    }
}

#[test]
fn map_get_fd_by_id_rdonly_with_wronly_is_einval() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    assert_eq!(
        s.run(|k| k.map_get_fd_by_id(root, id, BPF_F_RDONLY | BPF_F_WRONLY)),
        Err(Errno::EINVAL)
    );
    // The flags are checked before the id.
    assert_eq!(
        s.run(|k| k.map_get_fd_by_id(root, 0, BPF_F_RDONLY | BPF_F_WRONLY)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn map_fd_by_id_takes_ref_and_uref_and_keeps_map_alive() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    assert_eq!(s.map_counts(id), Some((1, 1)));
    let by_id = s.run(|k| k.map_get_fd_by_id(root, id, 0)).expect("by id");
    assert_ne!(by_id, fd, "a new fd");
    assert_eq!(s.map_counts(id), Some((2, 2)));
    close(&mut s, fd);
    assert_eq!(s.map_counts(id), Some((1, 1)));
    assert!(s.map_listed(id), "kept alive by the fd from its id");
    s.run(|k| k.map_update_elem(root, by_id, &le32(0), &[3; 8], BPF_ANY))
        .expect("usable");
    close(&mut s, by_id);
    assert!(!s.map_listed(id));
}

#[test]
fn prog_fd_by_id_takes_a_ref_and_keeps_prog_alive() {
    let mut s = Sys::new();
    let root = s.root;
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let id = s.id_of(root, p);
    let by_id = s.run(|k| k.prog_get_fd_by_id(root, id)).expect("by id");
    close(&mut s, p);
    assert!(s.prog_listed(id));
    assert_eq!(s.id_of(root, by_id), id);
    close(&mut s, by_id);
    assert!(!s.prog_listed(id));
}

#[test]
fn rdonly_fd_by_id_update_eperm_lookup_ok() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    let ro = s
        .run(|k| k.map_get_fd_by_id(root, id, BPF_F_RDONLY))
        .expect("rdonly");
    assert_eq!(
        s.run(|k| k.map_update_elem(root, ro, &le32(0), &[1; 8], BPF_ANY)),
        Err(Errno::EPERM)
    );
    let mut v = [9u8; 8];
    s.run(|k| k.map_lookup_elem(root, ro, &le32(0), &mut v, 0))
        .expect("lookup");
    assert_eq!(v, [0; 8]);
}

#[test]
fn wronly_fd_by_id_lookup_and_next_key_eperm() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    let wo = s
        .run(|k| k.map_get_fd_by_id(root, id, BPF_F_WRONLY))
        .expect("wronly");
    let mut v = [0u8; 8];
    assert_eq!(
        s.run(|k| k.map_lookup_elem(root, wo, &le32(0), &mut v, 0)),
        Err(Errno::EPERM)
    );
    let mut n = [0u8; 4];
    assert_eq!(
        s.run(|k| k.map_get_next_key(root, wo, None, &mut n)),
        Err(Errno::EPERM)
    );
    s.run(|k| k.map_update_elem(root, wo, &le32(0), &[1; 8], BPF_ANY))
        .expect("update");
}

/// Skipping an id still live from the previous lap needs a full lap of 2^31 allocations (the
/// cursor can only be placed by `first_id`); what is reachable: the wrap to 1, freed top ids
/// not reused by it, and live top ids untouched by it.
#[test]
fn ids_wrap_to_1_after_int_max_minus_1_and_leave_live_ids_alone() {
    let mut s = sys_with(KernelConfig {
        first_id: INT_MAX - 2,
        ..Default::default()
    });
    let root = s.root;
    let a = array(&mut s);
    let b = array(&mut s);
    assert_eq!(s.id_of(root, a), INT_MAX - 2);
    assert_eq!(s.id_of(root, b), INT_MAX - 1, "the largest id");
    close(&mut s, b);
    // The cursor is past the end: the next id wraps to 1, not to the freed INT_MAX - 1.
    let c = array(&mut s);
    assert_eq!(s.id_of(root, c), 1);
    let d = array(&mut s);
    assert_eq!(s.id_of(root, d), 2);
    // The live high id is still listed and still names its map.
    assert_eq!(s.run(|k| k.map_get_next_id(root, 2)), Ok(INT_MAX - 2));
    let again = s
        .run(|k| k.map_get_fd_by_id(root, INT_MAX - 2, 0))
        .expect("live high id");
    assert_eq!(s.id_of(root, again), INT_MAX - 2);

    // Wrapping straight from the first allocation; the cursor then moves on from 1.
    let mut s = sys_with(KernelConfig {
        first_id: INT_MAX - 1,
        ..Default::default()
    });
    let root = s.root;
    let top = array(&mut s);
    assert_eq!(s.id_of(root, top), INT_MAX - 1);
    let one = array(&mut s);
    assert_eq!(s.id_of(root, one), 1);
    close(&mut s, top);
    let two = array(&mut s);
    assert_eq!(s.id_of(root, two), 2, "the freed top id is not reused");
}

#[test]
fn prog_ids_wrap_too() {
    let mut s = sys_with(KernelConfig {
        first_id: INT_MAX - 1,
        ..Default::default()
    });
    let root = s.root;
    let a = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let b = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    assert_eq!((s.id_of(root, a), s.id_of(root, b)), (INT_MAX - 1, 1));
}

#[test]
fn id_command_attr_checks_come_before_the_capability_check() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    let nobody = user(&mut s, CapSet::NONE);
    // Unknown open_flags bits: EINVAL before EPERM; RDONLY|WRONLY only after it.
    assert_eq!(
        s.run(|k| k.map_get_fd_by_id(nobody, id, 1)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        s.run(|k| k.map_get_fd_by_id(nobody, id, BPF_F_RDONLY | BPF_F_WRONLY)),
        Err(Errno::EPERM)
    );
    // CHECK_ATTR before EPERM.
    for (c, at) in [
        (cmd::MAP_GET_NEXT_ID, 8),
        (cmd::PROG_GET_NEXT_ID, 8),
        (cmd::PROG_GET_FD_BY_ID, 4),
        (cmd::MAP_GET_FD_BY_ID, 12),
    ] {
        let mut a = AttrBuf::default().u32(off::id::START_ID, id).0;
        a[at] = 1;
        assert_eq!(
            s.raw(nobody, c, &mut a, 168, &mut UserBufs::new()),
            Err(Errno::EINVAL),
            "{}",
            cmd::name(c).unwrap()
        );
    }
}

#[test]
fn map_fd_by_id_revives_usercnt_of_a_map_only_a_program_holds() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s);
    let id = s.id_of(root, m);
    let _p = s.run(|k| load(k, root, "p", &uses_map(m))).expect("load");
    close(&mut s, m);
    assert_eq!(s.map_counts(id), Some((1, 0)), "held by used_maps only");
    assert!(s.map_listed(id), "still visible");
    let fd = s.run(|k| k.map_get_fd_by_id(root, id, 0)).expect("by id");
    assert_eq!(s.map_counts(id), Some((2, 1)));
    assert_eq!(s.id_of(root, fd), id);
}

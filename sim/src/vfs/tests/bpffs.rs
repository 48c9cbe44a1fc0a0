//! bpffs rules (`kernel/bpf/inode.c`): instances, pins, `BPF_OBJ_GET`, dotted names.

use super::*;

#[test]
fn mount_bpffs_needs_cap_sys_admin() {
    let mut s = bare();
    let u = with_caps(0, &[cap::BPF, cap::DAC_OVERRIDE]);
    assert_eq!(s.mount_bpffs(&u, "/sys/fs/bpf", None), Err(Errno::EPERM));
    let admin = with_caps(1000, &[cap::SYS_ADMIN]);
    assert_eq!(s.mount_bpffs(&admin, "/sys/fs/bpf", None), Ok(1));
}

#[test]
fn mount_bpffs_target_lookup_fails_before_eperm() {
    let mut s = bare();
    assert_eq!(
        s.mount_bpffs(&user(1000), "/nope", None),
        Err(Errno::ENOENT)
    );
    assert_eq!(s.mount_bpffs(&ROOT, "/nope", None), Err(Errno::ENOENT));
}

#[test]
fn mount_bpffs_on_non_directory_is_enotdir() {
    let mut s = bare();
    assert_eq!(s.mount_bpffs(&ROOT, "/dev/null", None), Err(Errno::ENOTDIR));
    // a failed mount consumes no instance number
    assert_eq!(s.mount_bpffs(&ROOT, "/sys/fs/bpf", None), Ok(1));
}

#[test]
fn mount_bpffs_root_is_sticky_0777_owned_by_mounter() {
    let mut s = bare();
    let admin = Cred {
        uid: 1000,
        gid: 100,
        caps: CapSet::of(&[cap::SYS_ADMIN]),
        umask: 0o077,
    };
    s.mount_bpffs(&admin, "/sys/fs/bpf", None).unwrap();
    let root = st(&s, "/sys/fs/bpf");
    assert_eq!(
        (root.mode, root.uid, root.gid, root.nlink),
        (0o1777, 1000, 100, 2)
    );
    assert_eq!(root.fs, FsKind::Bpf { instance: 1 });
}

#[test]
fn mount_bpffs_mode_option_keeps_sticky_bit() {
    let mut s = bare();
    s.mount_bpffs(&ROOT, "/sys/fs/bpf", Some(0o700)).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf").mode, 0o1700);
    assert_eq!(
        s.pin(&user(1000), None, "/sys/fs/bpf/p", map(1)),
        Err(Errno::EACCES)
    );
}

#[test]
fn mount_bpffs_every_mount_is_a_new_instance() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/tmp/b2", 0o755).unwrap();
    assert_eq!(s.mount_bpffs(&ROOT, "/tmp/b2", None), Ok(2));
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/tmp/b2/p", Access::Read),
        Err(Errno::ENOENT)
    );
    assert!(names(&s, "/tmp/b2").is_empty());
}

#[test]
fn mount_bpffs_over_a_mount_stacks_on_top() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/lower", map(1)).unwrap();
    assert_eq!(s.mount_bpffs(&ROOT, "/sys/fs/bpf", None), Ok(2));
    assert_eq!(st(&s, "/sys/fs/bpf").fs, FsKind::Bpf { instance: 2 });
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/lower", Access::Read),
        Err(Errno::ENOENT)
    );
}

#[test]
fn preload_populates_maps_debug_and_progs_debug() {
    let mut s = Sim(Vfs::new(true));
    let admin = with_caps(7, &[cap::SYS_ADMIN]);
    s.mount_bpffs(&admin, "/sys/fs/bpf", None).unwrap();
    let list = s.readdir(&ROOT, "/sys/fs/bpf").unwrap();
    let got: Vec<_> = list
        .iter()
        .map(|(n, st)| (n.as_str(), st.kind, st.mode, st.uid))
        .collect();
    assert_eq!(
        got,
        [
            ("progs.debug", FileKind::Regular, 0o400, 7),
            ("maps.debug", FileKind::Regular, 0o400, 7)
        ]
    );
    // links are not modeled: OBJ_GET on them is EACCES
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/maps.debug", Access::ReadWrite),
        Err(Errno::EACCES)
    );
    // they are found although their names have dots; new dotted names stay EPERM
    assert_eq!(
        s.pin(&ROOT, None, "/sys/fs/bpf/maps.debug", map(1)),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        s.pin(&ROOT, None, "/sys/fs/bpf/maps.debug2", map(1)),
        Err(Errno::EPERM)
    );
    assert!(s.pins().is_empty());
}

#[test]
fn without_preload_a_new_instance_is_empty() {
    let s = sim();
    assert!(names(&s, "/sys/fs/bpf").is_empty());
}

#[test]
fn pin_dotted_name_in_bpffs_is_eperm() {
    let mut s = sim();
    assert_eq!(
        s.pin(&ROOT, None, "/sys/fs/bpf/a.b", map(1)),
        Err(Errno::EPERM)
    );
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/a.b", Access::Read),
        Err(Errno::EPERM)
    );
    assert_eq!(s.stat(&ROOT, "/sys/fs/bpf/.hidden"), Err(Errno::EPERM));
    // the dotted-name check precedes the trailing-slash ENOENT
    assert_eq!(
        s.pin(&ROOT, None, "/sys/fs/bpf/a.b/", map(1)),
        Err(Errno::EPERM)
    );
}

#[test]
fn dotted_names_are_fine_on_the_host() {
    let mut s = sim();
    s.create_file(&ROOT, "/tmp/a.b", 0o644).unwrap();
    s.mkdir(&ROOT, None, "/tmp/c.d", 0o755).unwrap();
    assert_eq!(s.pin(&ROOT, None, "/tmp/e.f", map(1)), Err(Errno::EPERM)); // not bpffs
    assert_eq!(s.stat(&ROOT, "/tmp/x.y"), Err(Errno::ENOENT));
}

#[test]
fn bpf_lookup_allows_dots_in_a_mode_zero_directory() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/z", 0).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/z").mode, 0);
    s.pin(&ROOT, None, "/sys/fs/bpf/z/a.b", map(1)).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/z/a.b", Access::Read),
        Ok(map(1))
    );
}

#[test]
fn pin_missing_parent_is_enoent() {
    let mut s = sim();
    assert_eq!(
        s.pin(&ROOT, None, "/sys/fs/bpf/nodir/p", map(1)),
        Err(Errno::ENOENT)
    );
}

#[test]
fn pin_trailing_slash_is_enoent() {
    let mut s = sim();
    assert_eq!(
        s.pin(&ROOT, None, "/sys/fs/bpf/p/", map(1)),
        Err(Errno::ENOENT)
    );
}

#[test]
fn pin_existing_name_is_eexist_for_every_kind() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.symlink(&ROOT, "/nowhere", "/sys/fs/bpf/dangling")
        .unwrap();
    for path in [
        "/sys/fs/bpf/p",
        "/sys/fs/bpf/d",
        "/sys/fs/bpf/dangling",
        "/sys/fs/bpf/p/",
    ] {
        assert_eq!(
            s.pin(&ROOT, None, path, map(2)),
            Err(Errno::EEXIST),
            "{path}"
        );
    }
    // a . / .. / "/" last component is EEXIST too (filename_create)
    for path in ["/sys/fs/bpf/.", "/sys/fs/bpf/d/..", "/"] {
        assert_eq!(
            s.pin(&ROOT, None, path, map(2)),
            Err(Errno::EEXIST),
            "{path}"
        );
    }
}

#[test]
fn pin_parent_not_bpffs_is_eperm() {
    let mut s = bare();
    assert_eq!(s.pin(&ROOT, None, "/tmp/p", map(1)), Err(Errno::EPERM));
    assert_eq!(
        s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)),
        Err(Errno::EPERM)
    );
}

#[test]
fn pin_check_order_lookup_then_bpffs_parent_then_permission() {
    let mut s = bare();
    let u = user(1000);
    // EEXIST (lookup) beats the not-bpffs EPERM
    assert_eq!(s.pin(&u, None, "/tmp", map(1)), Err(Errno::EEXIST));
    // not-bpffs EPERM beats the EACCES the user would get on a root 0755 dir
    assert_eq!(s.pin(&u, None, "/sys/fs/bpf/p", map(1)), Err(Errno::EPERM));
    // walk EACCES beats everything
    s.mkdir(&ROOT, None, "/tmp/closed", 0o700).unwrap();
    assert_eq!(s.pin(&u, None, "/tmp/closed/p", map(1)), Err(Errno::EACCES));
}

#[test]
fn pin_without_write_permission_on_parent_is_eacces() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(
        s.pin(&user(1000), None, "/sys/fs/bpf/d/p", map(1)),
        Err(Errno::EACCES)
    );
    let ovr = with_caps(1000, &[cap::DAC_OVERRIDE]);
    s.pin(&ovr, None, "/sys/fs/bpf/d/p", map(1)).unwrap();
}

#[test]
fn pin_inode_mode_is_0600_minus_umask_owned_by_caller() {
    let mut s = sim();
    let u = Cred {
        uid: 1000,
        gid: 50,
        caps: CapSet::NONE,
        umask: 0o077,
    };
    s.pin(&u, None, "/sys/fs/bpf/p", map(1)).unwrap();
    let p = st(&s, "/sys/fs/bpf/p");
    assert_eq!(
        (p.kind, p.mode, p.uid, p.gid, p.nlink, p.size),
        (FileKind::Pin(map(1)), 0o600, 1000, 50, 1, 0)
    );
    let u2 = Cred { umask: 0o277, ..u };
    s.pin(&u2, None, "/sys/fs/bpf/q", prog(1)).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/q").mode, 0o400);
}

#[test]
fn pin_of_the_same_object_twice_makes_two_inodes() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/a", map(1)).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/b", map(1)).unwrap();
    assert_eq!(s.pins().len(), 2);
    assert_eq!(s.unlink(&ROOT, None, "/sys/fs/bpf/a"), Ok(Some(map(1))));
}

#[test]
fn pin_in_setgid_directory_takes_its_group() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/g", 0o777).unwrap();
    s.chown(&ROOT, "/sys/fs/bpf/g", 0, 300).unwrap();
    s.chmod(&ROOT, "/sys/fs/bpf/g", 0o2777).unwrap();
    s.pin(&user(1000), None, "/sys/fs/bpf/g/p", map(1)).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/g/p").gid, 300);
    s.mkdir(&user(1000), None, "/sys/fs/bpf/g/sub", 0o755)
        .unwrap();
    let sub = st(&s, "/sys/fs/bpf/g/sub");
    assert_eq!((sub.gid, sub.mode), (300, 0o2755));
}

#[test]
fn obj_get_follows_symlinks() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.symlink(&ROOT, "p", "/sys/fs/bpf/l").unwrap();
    s.symlink(&ROOT, "/sys/fs/bpf/l", "/tmp/l2").unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/l", Access::Read),
        Ok(map(1))
    );
    assert_eq!(s.get(&ROOT, None, "/tmp/l2", Access::Read), Ok(map(1)));
    s.symlink(&ROOT, "/sys/fs/bpf/gone", "/tmp/dangling")
        .unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/tmp/dangling", Access::Read),
        Err(Errno::ENOENT)
    );
}

#[test]
fn obj_get_missing_is_enoent() {
    let s = sim();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/nope", Access::Read),
        Err(Errno::ENOENT)
    );
}

#[test]
fn obj_get_directory_is_eacces() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/d", Access::Read),
        Err(Errno::EACCES)
    );
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf", Access::Read),
        Err(Errno::EACCES)
    );
}

#[test]
fn obj_get_non_bpf_file_is_eacces() {
    let mut s = sim();
    s.create_file(&ROOT, "/tmp/f", 0o644).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/tmp/f", Access::Read),
        Err(Errno::EACCES)
    );
    assert_eq!(
        s.get(&ROOT, None, "/dev/null", Access::ReadWrite),
        Err(Errno::EACCES)
    );
}

#[test]
fn obj_get_by_non_owner_of_0600_pin_is_eacces() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    let u = user(1000);
    assert_eq!(
        s.get(&u, None, "/sys/fs/bpf/p", Access::Read),
        Err(Errno::EACCES)
    );
    assert_eq!(
        s.get(&u, None, "/sys/fs/bpf/p", Access::Write),
        Err(Errno::EACCES)
    );
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/p", Access::ReadWrite),
        Ok(map(1))
    );
}

#[test]
fn obj_get_checks_the_requested_access_mode() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.chmod(&ROOT, "/sys/fs/bpf/p", 0o644).unwrap();
    let u = user(1000);
    assert_eq!(s.get(&u, None, "/sys/fs/bpf/p", Access::Read), Ok(map(1)));
    assert_eq!(
        s.get(&u, None, "/sys/fs/bpf/p", Access::Write),
        Err(Errno::EACCES)
    );
    assert_eq!(
        s.get(&u, None, "/sys/fs/bpf/p", Access::ReadWrite),
        Err(Errno::EACCES)
    );
    // the owner class applies alone: an owner without bits is denied though others may
    s.chown(&ROOT, "/sys/fs/bpf/p", 1000, 1000).unwrap();
    s.chmod(&ROOT, "/sys/fs/bpf/p", 0o077).unwrap();
    assert_eq!(
        s.get(&u, None, "/sys/fs/bpf/p", Access::Read),
        Err(Errno::EACCES)
    );
    assert_eq!(
        s.get(&user(2000), None, "/sys/fs/bpf/p", Access::ReadWrite),
        Ok(map(1))
    );
}

#[test]
fn obj_get_group_class_applies_to_group_members() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.chown(&ROOT, "/sys/fs/bpf/p", 0, 500).unwrap();
    s.chmod(&ROOT, "/sys/fs/bpf/p", 0o640).unwrap();
    assert_eq!(
        s.get(&Cred::user(1000, 500), None, "/sys/fs/bpf/p", Access::Read),
        Ok(map(1))
    );
    assert_eq!(
        s.get(&Cred::user(1000, 501), None, "/sys/fs/bpf/p", Access::Read),
        Err(Errno::EACCES)
    );
}

#[test]
fn cap_dac_override_bypasses_read_and_write() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.chmod(&ROOT, "/sys/fs/bpf/p", 0).unwrap();
    let ovr = with_caps(1000, &[cap::DAC_OVERRIDE]);
    assert_eq!(
        s.get(&ovr, None, "/sys/fs/bpf/p", Access::ReadWrite),
        Ok(map(1))
    );
}

#[test]
fn cap_dac_read_search_bypasses_read_only() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    let rs = with_caps(1000, &[cap::DAC_READ_SEARCH]);
    assert_eq!(s.get(&rs, None, "/sys/fs/bpf/p", Access::Read), Ok(map(1)));
    assert_eq!(
        s.get(&rs, None, "/sys/fs/bpf/p", Access::Write),
        Err(Errno::EACCES)
    );
    assert_eq!(
        s.get(&rs, None, "/sys/fs/bpf/p", Access::ReadWrite),
        Err(Errno::EACCES)
    );
}

#[test]
fn create_file_in_bpffs_is_eacces() {
    let mut s = sim();
    assert_eq!(
        s.create_file(&ROOT, "/sys/fs/bpf/f", 0o644),
        Err(Errno::EACCES)
    );
    assert_eq!(
        s.create_file(&ROOT, "/sys/fs/bpf/f.x", 0o644),
        Err(Errno::EPERM)
    );
}

#[test]
fn symlink_in_bpffs_stores_target_verbatim() {
    let mut s = sim();
    s.symlink(&user(1000), "../../weird//target", "/sys/fs/bpf/l")
        .unwrap();
    let l = s.lstat(&ROOT, "/sys/fs/bpf/l").unwrap();
    assert_eq!(
        (l.kind, l.mode, l.uid, l.size),
        (FileKind::Symlink, 0o777, 1000, 0)
    );
    s.symlink(&ROOT, "abc", "/tmp/l").unwrap();
    assert_eq!(s.lstat(&ROOT, "/tmp/l").unwrap().size, 3);
    assert_eq!(s.symlink(&ROOT, "x", "/sys/fs/bpf/l.x"), Err(Errno::EPERM));
}

#[test]
fn symlink_empty_target_is_enoent() {
    let mut s = sim();
    assert_eq!(s.symlink(&ROOT, "", "/sys/fs/bpf/l"), Err(Errno::ENOENT));
    assert_eq!(s.symlink(&ROOT, "x", "/sys/fs/bpf/l/"), Err(Errno::ENOENT));
    assert_eq!(s.symlink(&ROOT, "x", "/sys/fs/bpf"), Err(Errno::EEXIST));
}

#[test]
fn pin_returns_the_new_pin_inode() {
    let mut s = sim();
    let ino = s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    let pins = s.pins();
    assert_eq!((pins[0].ino, pins[0].obj), (ino, map(1)));
}

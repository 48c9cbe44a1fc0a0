//! Namespace operations: unlink, rmdir, mkdir, link, create, chmod, chown, readdir.

use super::*;

#[test]
fn unlink_directory_is_eisdir() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(s.unlink(&ROOT, None, "/sys/fs/bpf/d"), Err(Errno::EISDIR));
    assert_eq!(s.unlink(&ROOT, None, "/sys/fs/bpf/d/"), Err(Errno::EISDIR));
    assert_eq!(s.unlink(&ROOT, None, "/sys/fs/bpf/."), Err(Errno::EISDIR));
    assert_eq!(s.unlink(&ROOT, None, "/"), Err(Errno::EISDIR));
}

#[test]
fn unlink_missing_is_enoent() {
    let mut s = sim();
    assert_eq!(
        s.unlink(&ROOT, None, "/sys/fs/bpf/nope"),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        s.unlink(&ROOT, None, "/sys/fs/bpf/nope/"),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        s.unlink(&ROOT, None, "/sys/fs/bpf/no.pe"),
        Err(Errno::EPERM)
    );
}

#[test]
fn unlink_trailing_slash_on_pin_is_enotdir() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(s.unlink(&ROOT, None, "/sys/fs/bpf/p/"), Err(Errno::ENOTDIR));
}

#[test]
fn unlink_returns_object_only_when_last_link_goes() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.link(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/q").unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/q").nlink, 2);
    assert_eq!(s.unlink(&ROOT, None, "/sys/fs/bpf/p"), Ok(None));
    assert_eq!(st(&s, "/sys/fs/bpf/q").nlink, 1);
    assert_eq!(s.unlink(&ROOT, None, "/sys/fs/bpf/q"), Ok(Some(map(1))));
    assert!(s.pins().is_empty());
}

#[test]
fn unlink_of_a_symlink_removes_the_link_not_the_pin() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.symlink(&ROOT, "p", "/sys/fs/bpf/l").unwrap();
    assert_eq!(s.unlink(&ROOT, None, "/sys/fs/bpf/l"), Ok(None));
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/p", Access::Read),
        Ok(map(1))
    );
}

#[test]
fn unlink_needs_write_and_search_on_parent() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/d/p", map(1)).unwrap();
    s.chown(&ROOT, "/sys/fs/bpf/d/p", 1000, 1000).unwrap();
    assert_eq!(
        s.unlink(&user(1000), None, "/sys/fs/bpf/d/p"),
        Err(Errno::EACCES)
    );
}

#[test]
fn sticky_root_forbids_unlinking_others_pins() {
    let mut s = sim();
    let (a, b) = (user(1000), user(2000));
    s.pin(&a, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(s.unlink(&b, None, "/sys/fs/bpf/p"), Err(Errno::EPERM));
    assert_eq!(
        s.rename(&b, "/sys/fs/bpf/p", "/sys/fs/bpf/q"),
        Err(Errno::EPERM)
    );
    // CAP_FOWNER, the directory's owner, or the entry's owner may
    let fowner = with_caps(3000, &[cap::FOWNER]);
    s.rename(&fowner, "/sys/fs/bpf/p", "/sys/fs/bpf/q").unwrap();
    s.rename(&ROOT, "/sys/fs/bpf/q", "/sys/fs/bpf/p").unwrap();
    assert_eq!(s.unlink(&a, None, "/sys/fs/bpf/p"), Ok(Some(map(1))));
}

#[test]
fn sticky_directory_owner_may_unlink_others_pins() {
    let mut s = bare();
    let owner = Cred {
        caps: CapSet::of(&[cap::SYS_ADMIN]),
        ..user(1000)
    };
    s.mount_bpffs(&owner, "/sys/fs/bpf", None).unwrap();
    s.pin(&user(2000), None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.unlink(&user(1000), None, "/sys/fs/bpf/p"),
        Ok(Some(map(1)))
    );
}

#[test]
fn sticky_rule_comes_after_the_permission_check() {
    let mut s = sim();
    s.pin(&user(1000), None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.chmod(&ROOT, "/sys/fs/bpf", 0o1755).unwrap();
    assert_eq!(
        s.unlink(&user(2000), None, "/sys/fs/bpf/p"),
        Err(Errno::EACCES)
    );
}

#[test]
fn rmdir_of_non_directory_is_enotdir() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(s.rmdir(&ROOT, None, "/sys/fs/bpf/p"), Err(Errno::ENOTDIR));
    assert_eq!(s.rmdir(&ROOT, None, "/dev/null"), Err(Errno::ENOTDIR));
}

#[test]
fn rmdir_non_empty_is_enotempty() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/d/p", map(1)).unwrap();
    assert_eq!(s.rmdir(&ROOT, None, "/sys/fs/bpf/d"), Err(Errno::ENOTEMPTY));
    s.unlink(&ROOT, None, "/sys/fs/bpf/d/p").unwrap();
    s.rmdir(&ROOT, None, "/sys/fs/bpf/d/").unwrap();
    assert_eq!(s.rmdir(&ROOT, None, "/sys/fs/bpf/d"), Err(Errno::ENOENT));
}

#[test]
fn rmdir_of_a_mountpoint_is_ebusy() {
    let mut s = sim();
    assert_eq!(s.rmdir(&ROOT, None, "/sys/fs/bpf"), Err(Errno::EBUSY));
    // also through a bind mount of the parent instance that does not show the mount
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.mount_bpffs(&ROOT, "/sys/fs/bpf/d", None).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf", "/tmp/m").unwrap();
    assert!(names(&s, "/tmp/m/d").is_empty());
    assert_eq!(s.rmdir(&ROOT, None, "/tmp/m/d"), Err(Errno::EBUSY));
}

#[test]
fn rmdir_dot_is_einval_dotdot_enotempty_root_ebusy() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(s.rmdir(&ROOT, None, "/sys/fs/bpf/d/."), Err(Errno::EINVAL));
    assert_eq!(
        s.rmdir(&ROOT, None, "/sys/fs/bpf/d/.."),
        Err(Errno::ENOTEMPTY)
    );
    assert_eq!(s.rmdir(&ROOT, None, "/"), Err(Errno::EBUSY));
}

#[test]
fn rmdir_in_sticky_directory_of_others_dir_is_eperm() {
    let mut s = sim();
    s.mkdir(&user(1000), None, "/sys/fs/bpf/d", 0o777).unwrap();
    assert_eq!(
        s.rmdir(&user(2000), None, "/sys/fs/bpf/d"),
        Err(Errno::EPERM)
    );
    s.rmdir(&user(1000), None, "/sys/fs/bpf/d").unwrap();
}

#[test]
fn rmdir_of_an_open_directory_succeeds_and_the_handle_lives_on() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    let h = s.open_dir(&ROOT, "/sys/fs/bpf/d").unwrap();
    s.rmdir(&ROOT, None, "/sys/fs/bpf/d").unwrap();
    assert_eq!(s.stat(&ROOT, "/sys/fs/bpf/d"), Err(Errno::ENOENT));
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o700).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/d").mode, 0o700);
    s.close_dir(h);
}

#[test]
fn mkdir_existing_is_eexist() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(
        s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755),
        Err(Errno::EEXIST)
    );
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.mkdir(&ROOT, None, "/sys/fs/bpf/p/", 0o755),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        s.mkdir(&ROOT, None, "/sys/fs/bpf", 0o755),
        Err(Errno::EEXIST)
    );
}

#[test]
fn mkdir_dotted_name_in_bpffs_is_eperm() {
    let mut s = sim();
    assert_eq!(
        s.mkdir(&ROOT, None, "/sys/fs/bpf/a.b", 0o755),
        Err(Errno::EPERM)
    );
    assert_eq!(
        s.mkdir(&ROOT, None, "/sys/fs/bpf/..b/", 0o755),
        Err(Errno::EPERM)
    );
}

#[test]
fn mkdir_mode_is_masked_by_umask_and_01777() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/a", 0o777).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/b/", 0o7777).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/a").mode, 0o755);
    assert_eq!(st(&s, "/sys/fs/bpf/b").mode, 0o1755);
}

#[test]
fn mkdir_needs_write_on_parent() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(
        s.mkdir(&user(1000), None, "/sys/fs/bpf/d/e", 0o755),
        Err(Errno::EACCES)
    );
    s.mkdir(&user(1000), None, "/sys/fs/bpf/e", 0o755).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/e").uid, 1000);
}

#[test]
fn directory_nlink_counts_subdirectories_and_host_size_counts_entries() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/a", 0o755).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/b", 0o755).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    let root = st(&s, "/sys/fs/bpf");
    assert_eq!((root.nlink, root.size), (4, 0));
    s.create_file(&ROOT, "/tmp/f", 0o644).unwrap();
    s.mkdir(&ROOT, None, "/tmp/d", 0o755).unwrap();
    let tmp = st(&s, "/tmp");
    assert_eq!((tmp.nlink, tmp.size), (3, 40));
}

#[test]
fn link_of_a_directory_is_eperm() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(
        s.link(&ROOT, "/sys/fs/bpf/d", "/sys/fs/bpf/e"),
        Err(Errno::EPERM)
    );
}

#[test]
fn link_across_filesystems_is_exdev() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.create_file(&ROOT, "/tmp/f", 0o644).unwrap();
    assert_eq!(s.link(&ROOT, "/sys/fs/bpf/p", "/tmp/p"), Err(Errno::EXDEV));
    assert_eq!(s.link(&ROOT, "/tmp/f", "/sys/fs/bpf/f"), Err(Errno::EXDEV));
    s.link(&ROOT, "/tmp/f", "/tmp/g").unwrap();
}

#[test]
fn link_across_two_mounts_of_one_instance_is_exdev() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf", "/tmp/m").unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.link(&ROOT, "/sys/fs/bpf/p", "/tmp/m/q"),
        Err(Errno::EXDEV)
    );
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/p", "/tmp/m/q"),
        Err(Errno::EXDEV)
    );
    s.link(&ROOT, "/tmp/m/p", "/tmp/m/q").unwrap();
}

#[test]
fn link_to_existing_name_is_eexist() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/q", map(2)).unwrap();
    assert_eq!(
        s.link(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/q"),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        s.link(&ROOT, "/sys/fs/bpf/nope", "/sys/fs/bpf/r"),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        s.link(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/r/"),
        Err(Errno::ENOENT)
    );
}

#[test]
fn link_dotted_new_name_in_bpffs_is_eperm() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.link(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/p.old"),
        Err(Errno::EPERM)
    );
}

#[test]
fn link_does_not_follow_a_symlink_source() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.symlink(&ROOT, "p", "/sys/fs/bpf/l").unwrap();
    s.link(&ROOT, "/sys/fs/bpf/l", "/sys/fs/bpf/l2").unwrap();
    assert_eq!(s.lstat(&ROOT, "/sys/fs/bpf/l2").unwrap().nlink, 2);
    assert_eq!(st(&s, "/sys/fs/bpf/p").nlink, 1);
}

#[test]
fn create_file_on_host_makes_a_regular_file() {
    let mut s = sim();
    let u = Cred {
        umask: 0o027,
        ..user(1000)
    };
    s.create_file(&u, "/tmp/f", 0o666).unwrap();
    let f = st(&s, "/tmp/f");
    assert_eq!(
        (f.kind, f.mode, f.uid, f.nlink, f.fs),
        (FileKind::Regular, 0o640, 1000, 1, FsKind::Host)
    );
    assert_eq!(s.create_file(&u, "/tmp/f", 0o666), Err(Errno::EEXIST));
    assert_eq!(s.create_file(&u, "/tmp/g/", 0o666), Err(Errno::EISDIR));
    assert_eq!(s.create_file(&u, "/dev/f", 0o666), Err(Errno::EACCES));
}

#[test]
fn chmod_needs_ownership_or_cap_fowner() {
    let mut s = sim();
    s.pin(&user(1000), None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.chmod(&user(2000), "/sys/fs/bpf/p", 0o644),
        Err(Errno::EPERM)
    );
    s.chmod(&user(1000), "/sys/fs/bpf/p", 0o644).unwrap();
    s.chmod(&with_caps(2000, &[cap::FOWNER]), "/sys/fs/bpf/p", 0o640)
        .unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/p").mode, 0o640);
    // chmod follows symlinks
    s.symlink(&ROOT, "p", "/sys/fs/bpf/l").unwrap();
    s.chmod(&ROOT, "/sys/fs/bpf/l", 0o600).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/p").mode, 0o600);
    assert_eq!(s.lstat(&ROOT, "/sys/fs/bpf/l").unwrap().mode, 0o777);
}

#[test]
fn chown_needs_cap_chown() {
    let mut s = sim();
    s.pin(&user(1000), None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.chown(&user(1000), "/sys/fs/bpf/p", 2000, u32::MAX),
        Err(Errno::EPERM)
    );
    assert_eq!(
        s.chown(&user(2000), "/sys/fs/bpf/p", 2000, u32::MAX),
        Err(Errno::EPERM)
    );
    assert_eq!(
        s.chown(&user(1000), "/sys/fs/bpf/p", u32::MAX, 77),
        Err(Errno::EPERM)
    );
    // the owner may keep its uid and pick its own group
    s.chown(&user(1000), "/sys/fs/bpf/p", 1000, 1000).unwrap();
    s.chown(&with_caps(5, &[0]), "/sys/fs/bpf/p", 2000, 77)
        .unwrap();
    let p = st(&s, "/sys/fs/bpf/p");
    assert_eq!((p.uid, p.gid), (2000, 77));
}

#[test]
fn readdir_needs_read_permission_and_lists_newest_first() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o711).unwrap();
    for n in ["z", "a", "m"] {
        s.pin(&ROOT, None, &format!("/sys/fs/bpf/d/{n}"), map(1))
            .unwrap();
    }
    assert_eq!(names(&s, "/sys/fs/bpf/d"), ["m", "a", "z"]);
    assert_eq!(s.readdir(&user(1000), "/sys/fs/bpf/d"), Err(Errno::EACCES));
    assert_eq!(s.readdir(&ROOT, "/sys/fs/bpf/d/a"), Err(Errno::ENOTDIR));
    // search without read still reaches the entries
    s.chmod(&ROOT, "/sys/fs/bpf/d/a", 0o644).unwrap();
    assert_eq!(
        s.get(&user(1000), None, "/sys/fs/bpf/d/a", Access::Read),
        Ok(map(1))
    );
}

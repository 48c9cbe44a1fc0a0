//! Path walk rules (`fs/namei.c`).

use super::*;

#[test]
fn walk_empty_path_is_enoent() {
    let s = sim();
    assert_eq!(s.stat(&ROOT, ""), Err(Errno::ENOENT));
    assert_eq!(s.get(&ROOT, None, "", Access::Read), Err(Errno::ENOENT));
}

#[test]
fn walk_path_of_path_max_bytes_is_enametoolong() {
    let s = sim();
    let long = format!("/{}", "a/".repeat(2047)) + "b"; // 4096 bytes
    assert_eq!(long.len(), 4096);
    assert_eq!(s.stat(&ROOT, &long), Err(Errno::ENAMETOOLONG));
    assert_eq!(s.stat(&ROOT, &long[..4095]), Err(Errno::ENOENT));
}

#[test]
fn walk_component_over_name_max_is_enametoolong() {
    let mut s = sim();
    let long = format!("/tmp/{}", "a".repeat(256));
    assert_eq!(s.stat(&ROOT, &long), Err(Errno::ENAMETOOLONG));
    assert_eq!(s.mkdir(&ROOT, None, &long, 0o755), Err(Errno::ENAMETOOLONG));
    assert_eq!(s.stat(&ROOT, &long[..long.len() - 1]), Err(Errno::ENOENT));
    s.mkdir(&ROOT, None, &long[..long.len() - 1], 0o755)
        .unwrap();
}

#[test]
fn walk_through_non_directory_is_enotdir() {
    let mut s = sim();
    assert_eq!(s.stat(&ROOT, "/dev/null/x"), Err(Errno::ENOTDIR));
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/p/q", Access::Read),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        s.pin(&ROOT, None, "/sys/fs/bpf/p/q", map(2)),
        Err(Errno::ENOTDIR)
    );
    // a missing intermediate is ENOENT, not ENOTDIR
    assert_eq!(s.stat(&ROOT, "/dev/nope/x"), Err(Errno::ENOENT));
}

#[test]
fn walk_trailing_slash_on_non_directory_is_enotdir() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(s.stat(&ROOT, "/dev/null/"), Err(Errno::ENOTDIR));
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/p/", Access::Read),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(st(&s, "/sys/fs/bpf/").kind, FileKind::Dir);
    assert_eq!(st(&s, "//sys//fs///bpf").fs, FsKind::Bpf { instance: 1 });
}

#[test]
fn walk_dot_and_dotdot() {
    let s = sim();
    assert_eq!(
        st(&s, "/sys/./fs/../fs/bpf").fs,
        FsKind::Bpf { instance: 1 }
    );
    assert_eq!(st(&s, "/.."), st(&s, "/"));
    assert_eq!(st(&s, "/../../tmp"), st(&s, "/tmp"));
    assert_eq!(st(&s, "/tmp/."), st(&s, "/tmp"));
}

#[test]
fn walk_dotdot_at_mount_root_goes_to_parent_of_mountpoint() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/.."), st(&s, "/sys/fs"));
    assert_eq!(st(&s, "/sys/fs/bpf/../bpf").fs, FsKind::Bpf { instance: 1 });
    assert_eq!(st(&s, "/sys/fs/bpf/d/../.."), st(&s, "/sys/fs"));
    // from a handle on the mount root
    let h = s.open_dir(&ROOT, "/sys/fs/bpf").unwrap();
    s.create_file(&ROOT, "/sys/fs/marker", 0o644).unwrap();
    s.mkdir(&ROOT, Some(h), "../bpf/e", 0o755).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/e").fs, FsKind::Bpf { instance: 1 });
    assert_eq!(
        s.pin(&ROOT, Some(h), "../marker", map(1)),
        Err(Errno::EEXIST)
    );
    s.close_dir(h);
}

#[test]
fn walk_follows_intermediate_symlinks() {
    let mut s = sim();
    s.symlink(&ROOT, "/sys/fs/bpf", "/tmp/bpf").unwrap();
    s.pin(&ROOT, None, "/tmp/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/p", Access::Read),
        Ok(map(1))
    );
    // relative targets resolve in the directory holding the link
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.symlink(&ROOT, "../p", "/sys/fs/bpf/d/up").unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/tmp/bpf/d/up", Access::Read),
        Ok(map(1))
    );
}

#[test]
fn walk_symlink_loop_is_eloop() {
    let mut s = sim();
    s.symlink(&ROOT, "/tmp/b", "/tmp/a").unwrap();
    s.symlink(&ROOT, "/tmp/a", "/tmp/b").unwrap();
    assert_eq!(s.stat(&ROOT, "/tmp/a"), Err(Errno::ELOOP));
    assert_eq!(s.stat(&ROOT, "/tmp/a/x"), Err(Errno::ELOOP));
    // not following the last component never loops
    assert_eq!(s.lstat(&ROOT, "/tmp/a").unwrap().kind, FileKind::Symlink);
}

#[test]
fn walk_forty_symlinks_ok_forty_first_is_eloop() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.symlink(&ROOT, "/sys/fs/bpf/p", "/tmp/l0").unwrap();
    for i in 1..=40 {
        s.symlink(&ROOT, &format!("l{}", i - 1), &format!("/tmp/l{i}"))
            .unwrap();
    }
    // /tmp/l39 needs 40 links, /tmp/l40 needs 41
    assert_eq!(s.get(&ROOT, None, "/tmp/l39", Access::Read), Ok(map(1)));
    assert_eq!(
        s.get(&ROOT, None, "/tmp/l40", Access::Read),
        Err(Errno::ELOOP)
    );
}

#[test]
fn walk_needs_search_permission_on_every_directory() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/private", 0o700).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/private/p", map(1)).unwrap();
    s.chmod(&ROOT, "/sys/fs/bpf/private/p", 0o666).unwrap();
    let u = user(1000);
    assert_eq!(
        s.get(&u, None, "/sys/fs/bpf/private/p", Access::Read),
        Err(Errno::EACCES)
    );
    assert_eq!(s.stat(&u, "/sys/fs/bpf/private/p"), Err(Errno::EACCES));
    // search on the last component's parent is needed too, even for "."
    assert_eq!(s.stat(&u, "/sys/fs/bpf/private/."), Err(Errno::EACCES));
    assert!(s.stat(&u, "/sys/fs/bpf/private").is_ok());
    let rs = with_caps(1000, &[cap::DAC_READ_SEARCH]);
    assert_eq!(
        s.get(&rs, None, "/sys/fs/bpf/private/p", Access::Read),
        Ok(map(1))
    );
}

#[test]
fn walk_relative_path_resolves_against_base_handle() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    let h = s.open_dir(&ROOT, "/sys/fs/bpf/d").unwrap();
    s.pin(&ROOT, Some(h), "p", map(1)).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/d/p", Access::Read),
        Ok(map(1))
    );
    assert_eq!(s.get(&ROOT, Some(h), "./p", Access::Read), Ok(map(1)));
    // absolute paths ignore the base
    assert_eq!(
        s.get(&ROOT, Some(h), "/sys/fs/bpf/d/p", Access::Read),
        Ok(map(1))
    );
    s.close_dir(h);
    assert_eq!(s.get(&ROOT, Some(h), "p", Access::Read), Err(Errno::EBADF));
}

#[test]
fn walk_relative_path_without_base_resolves_against_root() {
    let mut s = sim();
    s.pin(&ROOT, None, "sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/p", Access::Read),
        Ok(map(1))
    );
}

#[test]
fn walk_open_dir_of_non_directory_is_enotdir() {
    let mut s = sim();
    assert_eq!(s.open_dir(&ROOT, "/dev/null"), Err(Errno::ENOTDIR));
    assert_eq!(s.open_dir(&ROOT, "/nope"), Err(Errno::ENOENT));
}

#[test]
fn walk_in_removed_directory_is_enoent() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    let h = s.open_dir(&ROOT, "/sys/fs/bpf/d").unwrap();
    s.rmdir(&ROOT, None, "/sys/fs/bpf/d").unwrap();
    assert_eq!(s.pin(&ROOT, Some(h), "p", map(1)), Err(Errno::ENOENT));
    assert_eq!(s.mkdir(&ROOT, Some(h), "x.y", 0o755), Err(Errno::ENOENT));
    // ".." of a removed directory still leads to its old parent
    s.pin(&ROOT, Some(h), "../q", map(2)).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/q", Access::Read),
        Ok(map(2))
    );
    assert_eq!(s.stat(&ROOT, "/sys/fs/bpf/d"), Err(Errno::ENOENT));
    s.close_dir(h);
}

#[test]
fn walk_dotdot_escaping_bind_mount_subtree_is_enoent() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d/x", 0o755).unwrap();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf/d", "/tmp/m").unwrap();
    // at the bind mount's root ".." goes to the parent of its mountpoint
    assert_eq!(st(&s, "/tmp/m/.."), st(&s, "/tmp"));
    let h = s.open_dir(&ROOT, "/tmp/m/x").unwrap();
    s.rename(&ROOT, "/sys/fs/bpf/d/x", "/sys/fs/bpf/x").unwrap();
    assert_eq!(s.mkdir(&ROOT, Some(h), "../y", 0o755), Err(Errno::ENOENT));
    s.close_dir(h);
}

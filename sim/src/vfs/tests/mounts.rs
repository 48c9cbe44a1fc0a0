//! Mount rules: umount, bind mounts, instance lifetime, and the pin/mount listings.

use super::*;
use crate::vfs::MountInfo;

#[test]
fn umount_without_cap_sys_admin_is_eperm() {
    let mut s = sim();
    assert_eq!(s.umount(&user(1000), "/sys/fs/bpf"), Err(Errno::EPERM));
    assert_eq!(s.umount(&user(1000), "/nope"), Err(Errno::ENOENT));
}

#[test]
fn umount_of_a_path_that_is_not_a_mount_root_is_einval() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf/d"), Err(Errno::EINVAL));
    assert_eq!(s.umount(&ROOT, "/tmp"), Err(Errno::EINVAL));
}

#[test]
fn umount_of_the_namespace_root_is_ebusy() {
    let mut s = sim();
    assert_eq!(s.umount(&ROOT, "/"), Err(Errno::EBUSY));
}

#[test]
fn umount_last_mount_releases_pins() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/a", map(1)).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/d/b", prog(2)).unwrap();
    s.link(&ROOT, "/sys/fs/bpf/a", "/sys/fs/bpf/d/a2").unwrap();
    s.symlink(&ROOT, "a", "/sys/fs/bpf/l").unwrap();
    // once per inode, not per name, in inode order
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf"), Ok(vec![map(1), prog(2)]));
    assert!(s.pins().is_empty());
    assert_eq!(st(&s, "/sys/fs/bpf").fs, FsKind::Host);
    assert!(s.mounts().is_empty());
    // a remount is a new, empty instance
    assert_eq!(s.mount_bpffs(&ROOT, "/sys/fs/bpf", None), Ok(2));
    assert!(names(&s, "/sys/fs/bpf").is_empty());
}

#[test]
fn bind_mount_shares_the_instance() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf", "/tmp/m").unwrap();
    s.pin(&ROOT, None, "/tmp/m/p", map(1)).unwrap();
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/p", Access::Read),
        Ok(map(1))
    );
    assert_eq!(st(&s, "/tmp/m").fs, FsKind::Bpf { instance: 1 });
}

#[test]
fn bind_mount_keeps_pins_alive() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf", "/tmp/m").unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf"), Ok(vec![]));
    assert_eq!(s.get(&ROOT, None, "/tmp/m/p", Access::Read), Ok(map(1)));
    assert_eq!(s.umount(&ROOT, "/tmp/m"), Ok(vec![map(1)]));
}

#[test]
fn bind_mount_of_a_subdirectory_shows_only_that_subtree() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/d/p", map(1)).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/q", map(2)).unwrap();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf/d", "/tmp/m").unwrap();
    assert_eq!(names(&s, "/tmp/m"), ["p"]);
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf"), Ok(vec![]));
    assert_eq!(s.umount(&ROOT, "/tmp/m"), Ok(vec![map(1), map(2)]));
}

#[test]
fn bind_mount_needs_cap_sys_admin_and_directories() {
    let mut s = sim();
    assert_eq!(
        s.bind_mount(&user(1000), "/sys/fs/bpf", "/tmp"),
        Err(Errno::EPERM)
    );
    assert_eq!(s.bind_mount(&ROOT, "/nope", "/tmp"), Err(Errno::ENOENT));
    assert_eq!(
        s.bind_mount(&ROOT, "/sys/fs/bpf", "/dev/null"),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        s.bind_mount(&ROOT, "/dev/null", "/tmp"),
        Err(Errno::ENOTDIR)
    );
}

#[test]
fn umount_with_an_open_directory_handle_is_ebusy() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    let h = s.open_dir(&ROOT, "/sys/fs/bpf/d").unwrap();
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf"), Err(Errno::EBUSY));
    // a handle through another mount of the instance does not pin this one
    s.close_dir(h);
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf", "/tmp/m").unwrap();
    let h2 = s.open_dir(&ROOT, "/tmp/m/d").unwrap();
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf"), Ok(vec![]));
    assert_eq!(s.umount(&ROOT, "/tmp/m"), Err(Errno::EBUSY));
    s.close_dir(h2);
    assert_eq!(s.umount(&ROOT, "/tmp/m"), Ok(vec![]));
}

#[test]
fn umount_with_a_mount_nested_inside_is_ebusy() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.mount_bpffs(&ROOT, "/sys/fs/bpf/d", None).unwrap();
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf/d/.."), Err(Errno::EBUSY));
    s.umount(&ROOT, "/sys/fs/bpf/d").unwrap();
    s.umount(&ROOT, "/sys/fs/bpf").unwrap();
}

#[test]
fn umount_removes_the_topmost_stacked_mount() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/lower", map(1)).unwrap();
    s.mount_bpffs(&ROOT, "/sys/fs/bpf", None).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/upper", map(2)).unwrap();
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf"), Ok(vec![map(2)]));
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/lower", Access::Read),
        Ok(map(1))
    );
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf"), Ok(vec![map(1)]));
    assert_eq!(s.umount(&ROOT, "/sys/fs/bpf"), Err(Errno::EINVAL));
}

#[test]
fn umount_follows_a_symlink_to_the_mount() {
    let mut s = sim();
    s.symlink(&ROOT, "/sys/fs/bpf", "/tmp/l").unwrap();
    assert_eq!(s.umount(&ROOT, "/tmp/l"), Ok(vec![]));
}

#[test]
fn umount_of_a_bind_mount_whose_root_was_removed() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf/d", "/tmp/m").unwrap();
    s.rmdir(&ROOT, None, "/sys/fs/bpf/d").unwrap();
    assert_eq!(st(&s, "/tmp/m").nlink, 0);
    assert_eq!(s.pin(&ROOT, None, "/tmp/m/p", map(1)), Err(Errno::ENOENT));
    // a removed directory cannot be mounted on (cant_mount)
    assert_eq!(s.mount_bpffs(&ROOT, "/tmp/m", None), Err(Errno::ENOENT));
    assert_eq!(s.umount(&ROOT, "/tmp/m"), Ok(vec![]));
}

#[test]
fn pins_lists_every_path_sorted() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf", "/tmp/m").unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.pin(&user(1000), None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.link(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/d/q").unwrap();
    s.symlink(&ROOT, "p", "/sys/fs/bpf/l").unwrap();
    let pins = s.pins();
    assert_eq!(pins.len(), 1);
    assert_eq!(
        (pins[0].obj, pins[0].uid, pins[0].mode),
        (map(1), 1000, 0o600)
    );
    assert_eq!(
        pins[0].paths,
        ["/sys/fs/bpf/d/q", "/sys/fs/bpf/p", "/tmp/m/d/q", "/tmp/m/p"]
    );
}

#[test]
fn pins_of_a_covered_instance_have_no_paths() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/lower", map(1)).unwrap();
    s.mount_bpffs(&ROOT, "/sys/fs/bpf", None).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/upper", map(2)).unwrap();
    let pins = s.pins();
    let got: Vec<_> = pins.iter().map(|p| (p.obj, p.paths.clone())).collect();
    assert_eq!(
        got,
        [
            (map(1), vec![]),
            (map(2), vec!["/sys/fs/bpf/upper".to_string()])
        ]
    );
}

#[test]
fn mounts_are_listed_in_mount_order_with_paths() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.mount_bpffs(&ROOT, "/sys/fs/bpf/d", None).unwrap();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf/d", "/tmp/m").unwrap();
    s.mount_bpffs(&ROOT, "/sys/fs/bpf", None).unwrap();
    let got: Vec<_> = s
        .mounts()
        .into_iter()
        .map(|MountInfo { path, fs, .. }| (path, fs))
        .collect();
    let b = |instance| FsKind::Bpf { instance };
    assert_eq!(
        got,
        [
            ("/sys/fs/bpf".to_string(), b(1)),
            ("/sys/fs/bpf/d".to_string(), b(2)),
            ("/tmp/m".to_string(), b(2)),
            ("/sys/fs/bpf".to_string(), b(3)),
        ]
    );
}

#[test]
fn bind_mount_onto_its_own_subdirectory_is_finite() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.bind_mount(&ROOT, "/sys/fs/bpf", "/sys/fs/bpf/d").unwrap();
    assert_eq!(s.pins()[0].paths, ["/sys/fs/bpf/d/p", "/sys/fs/bpf/p"]);
    assert_eq!(names(&s, "/sys/fs/bpf/d/d"), Vec::<String>::new());
    assert_eq!(st(&s, "/sys/fs/bpf/d/.."), st(&s, "/sys/fs/bpf"));
}

#[test]
fn dotdot_from_a_stacked_mount_climbs_every_mount_at_that_point() {
    let mut s = sim();
    s.mount_bpffs(&ROOT, "/sys/fs/bpf", None).unwrap();
    assert_eq!(st(&s, "/sys/fs/bpf/.."), st(&s, "/sys/fs"));
    let h = s.open_dir(&ROOT, "/sys/fs/bpf").unwrap();
    assert_eq!(h.mount, s.mounts()[1].id);
    s.close_dir(h);
}

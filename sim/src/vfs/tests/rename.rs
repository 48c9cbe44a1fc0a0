//! `rename(2)` rules (`do_renameat2`, `vfs_rename`, `simple_rename`).

use super::*;

#[test]
fn rename_across_filesystems_is_exdev() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/p", "/tmp/p"),
        Err(Errno::EXDEV)
    );
    // EXDEV comes before the lookups
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/nope", "/tmp/p"),
        Err(Errno::EXDEV)
    );
}

#[test]
fn rename_to_dotted_name_in_bpffs_is_eperm() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/p.bak"),
        Err(Errno::EPERM)
    );
}

#[test]
fn rename_keeps_the_object_under_the_new_name() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/d/q"),
        Ok(None)
    );
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/d/q", Access::Read),
        Ok(map(1))
    );
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/p", Access::Read),
        Err(Errno::ENOENT)
    );
}

#[test]
fn rename_of_kernel_created_dotted_entry_is_allowed() {
    let mut s = Sim(Vfs::new(true));
    s.mount_bpffs(&ROOT, "/sys/fs/bpf", None).unwrap();
    s.rename(&ROOT, "/sys/fs/bpf/maps.debug", "/sys/fs/bpf/maps")
        .unwrap();
    assert_eq!(names(&s, "/sys/fs/bpf"), ["maps", "progs.debug"]);
}

#[test]
fn rename_directory_into_its_own_descendant_is_einval() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/a", 0o755).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/a/b", 0o755).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/a", "/sys/fs/bpf/a/b/c"),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/a", "/sys/fs/bpf/a/c"),
        Err(Errno::EINVAL)
    );
}

#[test]
fn rename_onto_an_ancestor_of_the_source_is_enotempty() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/a", 0o755).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/a/b", 0o755).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/a/b/p", map(1)).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/a/b/p", "/sys/fs/bpf/a"),
        Err(Errno::ENOTEMPTY)
    );
}

#[test]
fn rename_file_over_directory_is_eisdir() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/d"),
        Err(Errno::EISDIR)
    );
}

#[test]
fn rename_directory_over_non_directory_is_enotdir() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/d", "/sys/fs/bpf/p"),
        Err(Errno::ENOTDIR)
    );
    // a trailing slash on a non-directory source or target is ENOTDIR as well
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/p/", "/sys/fs/bpf/q"),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/q/"),
        Err(Errno::ENOTDIR)
    );
}

#[test]
fn rename_directory_over_non_empty_directory_is_enotempty() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/a", 0o755).unwrap();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/b", 0o755).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/b/p", map(1)).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/a", "/sys/fs/bpf/b"),
        Err(Errno::ENOTEMPTY)
    );
    s.unlink(&ROOT, None, "/sys/fs/bpf/b/p").unwrap();
    assert_eq!(s.rename(&ROOT, "/sys/fs/bpf/a", "/sys/fs/bpf/b/"), Ok(None));
    assert_eq!(names(&s, "/sys/fs/bpf"), ["b"]);
}

#[test]
fn rename_onto_the_same_inode_is_a_no_op() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.link(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/q").unwrap();
    assert_eq!(
        s.rename(&user(1000), "/sys/fs/bpf/p", "/sys/fs/bpf/q"),
        Ok(None)
    );
    assert_eq!(names(&s, "/sys/fs/bpf"), ["q", "p"]);
    assert_eq!(s.rename(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/p"), Ok(None));
}

/// `ls -f` of a 6.18 bpffs after `mkdir b a c`, `mv b d`, `rmdir a; mkdir a`: `c a b`, then
/// `d c a`, then `a d c`, each followed by the preloaded `progs.debug maps.debug` (newest
/// first; a renamed entry counts as new).
#[test]
fn readdir_order_follows_creation_and_rename_as_on_the_kernel() {
    let mut s = Sim(Vfs::new(true));
    s.mount_bpffs(&ROOT, "/tmp", None).unwrap();
    for n in ["b", "a", "c"] {
        s.mkdir(&ROOT, None, &format!("/tmp/{n}"), 0o700).unwrap();
    }
    let tail = ["progs.debug", "maps.debug"];
    let with_tail =
        |v: &[&str]| -> Vec<String> { v.iter().chain(&tail).map(|n| n.to_string()).collect() };
    assert_eq!(names(&s, "/tmp"), with_tail(&["c", "a", "b"]));
    s.rename(&ROOT, "/tmp/b", "/tmp/d").unwrap();
    assert_eq!(names(&s, "/tmp"), with_tail(&["d", "c", "a"]));
    s.rmdir(&ROOT, None, "/tmp/a").unwrap();
    s.mkdir(&ROOT, None, "/tmp/a", 0o700).unwrap();
    assert_eq!(names(&s, "/tmp"), with_tail(&["a", "d", "c"]));
}

#[test]
fn rename_replacing_a_pin_returns_its_object() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/q", prog(2)).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/q"),
        Ok(Some(prog(2)))
    );
    assert_eq!(
        s.get(&ROOT, None, "/sys/fs/bpf/q", Access::Read),
        Ok(map(1))
    );
}

#[test]
fn rename_replacing_a_hard_linked_pin_keeps_it() {
    let mut s = sim();
    s.pin(&ROOT, None, "/sys/fs/bpf/p", map(1)).unwrap();
    s.pin(&ROOT, None, "/sys/fs/bpf/q", prog(2)).unwrap();
    s.link(&ROOT, "/sys/fs/bpf/q", "/sys/fs/bpf/r").unwrap();
    assert_eq!(s.rename(&ROOT, "/sys/fs/bpf/p", "/sys/fs/bpf/q"), Ok(None));
    assert_eq!(st(&s, "/sys/fs/bpf/r").nlink, 1);
}

#[test]
fn rename_of_a_mountpoint_is_ebusy() {
    let mut s = sim();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf", "/sys/fs/bpf2"),
        Err(Errno::EBUSY)
    );
    s.mkdir(&ROOT, None, "/sys/fs/x", 0o755).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/x", "/sys/fs/bpf"),
        Err(Errno::EBUSY)
    );
}

#[test]
fn rename_dot_components_are_ebusy() {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/sys/fs/bpf/d", 0o755).unwrap();
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/d/.", "/sys/fs/bpf/e"),
        Err(Errno::EBUSY)
    );
    assert_eq!(
        s.rename(&ROOT, "/sys/fs/bpf/d", "/sys/fs/bpf/.."),
        Err(Errno::EBUSY)
    );
}

#[test]
fn rename_of_a_directory_to_a_new_parent_needs_write_on_it() {
    let mut s = sim();
    let u = user(1000);
    s.mkdir(&u, None, "/sys/fs/bpf/a", 0o777).unwrap();
    s.mkdir(&u, None, "/sys/fs/bpf/a/d", 0o555).unwrap();
    assert_eq!(
        s.rename(&u, "/sys/fs/bpf/a/d", "/sys/fs/bpf/d"),
        Err(Errno::EACCES)
    );
    s.rename(&u, "/sys/fs/bpf/a/d", "/sys/fs/bpf/a/e").unwrap();
}

//! bpffs through the Kernel API (spec F): instances (F1), unmount (F2), `BPF_OBJ_PIN` (F3),
//! `BPF_OBJ_GET` (F4) and the VFS operations on bpffs (F5), plus the 6.18 facts about the
//! attr flags (`file_flags`, `path_fd`, `bpf_fd`).

use crate::support::*;
use sim::attr::{AttrBuf, off};
use sim::explain::HolderInfo;
use sim::uapi::{cmd, flags::*};
use sim::vfs::FileKind;
use sim::{Cred, Errno, KernelConfig, ObjRef, Pid, UserBufs};

const BPF: &str = "/sys/fs/bpf";

fn mounted() -> Sys {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, BPF)).expect("mount");
    s
}

/// A raw `BPF_OBJ_PIN` / `BPF_OBJ_GET` with every field of `bpf_attr.obj` chosen.
fn raw_obj(
    s: &mut Sys,
    pid: Pid,
    c: u32,
    path: &str,
    bpf_fd: i32,
    file_flags: u32,
    path_fd: i32,
) -> Result<i64, Errno> {
    let mut p = path.as_bytes().to_vec();
    p.push(0);
    let mut m = UserBufs::new();
    let pa = m.input(&p);
    let mut attr = AttrBuf::default()
        .u64(off::obj::PATHNAME, pa)
        .u32(off::obj::BPF_FD, bpf_fd as u32)
        .u32(off::obj::FILE_FLAGS, file_flags)
        .u32(off::obj::PATH_FD, path_fd as u32)
        .0;
    s.raw(pid, c, &mut attr, 168, &mut m)
}

/// A child of root (sharing root's fds) running as `uid`.
fn as_user(s: &mut Sys, uid: u32) -> Pid {
    let root = s.root;
    let p = s.run(|k| k.fork(root)).expect("fork");
    s.k.set_cred(p, Cred::user(uid, uid)).expect("cred");
    p
}

fn map_obj(s: &Sys, pid: Pid, fd: i32) -> ObjRef {
    s.k.obj_of_fd(pid, fd).expect("bpf fd")
}

fn names(s: &Sys, path: &str) -> Vec<String> {
    s.k.readdir(s.root, path)
        .expect("readdir")
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

/// A map pinned at `path` with its fd closed; returns its id.
fn pinned_map(s: &mut Sys, path: &str) -> u32 {
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    s.run(|k| k.obj_pin(root, fd, path)).expect("pin");
    s.run(|k| k.close(root, fd)).expect("close");
    id
}

// ---- F1: instances -----------------------------------------------------------------------

#[test]
fn f1_fresh_instance_holds_maps_debug_and_progs_debug_root_is_sticky_owned_by_mounter() {
    let mut s = Sys::new();
    let root = s.root;
    let mut cred = Cred::ROOT;
    cred.uid = 0;
    cred.gid = 7;
    s.k.set_cred(root, cred).expect("cred");
    s.run(|k| k.mount_bpffs(root, BPF)).expect("mount");
    assert_eq!(names(&s, BPF), ["progs.debug", "maps.debug"]);
    let st = s.k.stat(root, BPF).expect("stat");
    assert_eq!(st.kind, FileKind::Dir);
    assert_eq!(st.mode, 0o1777, "drwxrwxrwt");
    assert_eq!((st.uid, st.gid), (0, 7));
}

#[test]
fn f1_without_bpf_preload_a_fresh_instance_is_empty() {
    let mut s = sys_with(KernelConfig {
        bpf_preload: false,
        ..KernelConfig::default()
    });
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, BPF)).expect("mount");
    assert_eq!(names(&s, BPF), Vec::<String>::new());
}

#[test]
fn f1_mount_needs_cap_sys_admin() {
    let mut s = Sys::new();
    let user = s.k.spawn("user", Cred::user(1000, 1000));
    assert_eq!(s.run(|k| k.mount_bpffs(user, BPF)), Err(Errno::EPERM));
}

#[test]
fn f1_every_mount_is_a_new_independent_instance() {
    let mut s = mounted();
    let root = s.root;
    s.run(|k| k.mkdir(root, "/tmp/b2", 0o755)).expect("mkdir");
    s.run(|k| k.mount_bpffs(root, "/tmp/b2"))
        .expect("second mount");
    pinned_map(&mut s, "/sys/fs/bpf/only_here");
    assert_eq!(
        s.run(|k| k.obj_get(root, "/tmp/b2/only_here", 0)),
        Err(Errno::ENOENT)
    );
    assert_eq!(names(&s, "/tmp/b2"), ["progs.debug", "maps.debug"]);
    assert_ne!(
        s.k.stat(root, BPF).expect("stat").fs,
        s.k.stat(root, "/tmp/b2").expect("stat").fs
    );
}

#[test]
fn f1_bind_mount_shares_the_instance() {
    let mut s = mounted();
    let root = s.root;
    s.run(|k| k.mkdir(root, "/tmp/b2", 0o755)).expect("mkdir");
    s.run(|k| k.bind_mount(root, BPF, "/tmp/b2")).expect("bind");
    let id = pinned_map(&mut s, "/sys/fs/bpf/shared");
    let fd = s
        .run(|k| k.obj_get(root, "/tmp/b2/shared", 0))
        .expect("get");
    assert_eq!(s.id_of(root, fd), id);
}

// ---- F2: unmount -----------------------------------------------------------------------------

#[test]
fn f2_umount_of_the_last_mount_releases_every_pin_at_once() {
    let mut s = mounted();
    let root = s.root;
    let a = pinned_map(&mut s, "/sys/fs/bpf/a");
    s.run(|k| k.mkdir(root, "/sys/fs/bpf/dir", 0o700))
        .expect("mkdir");
    let b = pinned_map(&mut s, "/sys/fs/bpf/dir/b");
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let p_id = s.id_of(root, p);
    s.run(|k| k.obj_pin(root, p, "/sys/fs/bpf/p")).expect("pin");
    s.run(|k| k.close(root, p)).expect("close");
    s.run(|k| k.umount(root, BPF)).expect("umount");
    assert!(!s.map_listed(a), "gone right after umount");
    assert!(!s.map_listed(b), "pins in subdirectories too");
    assert!(!s.prog_listed(p_id));
    assert_eq!(names(&s, BPF), Vec::<String>::new(), "the host dir again");
}

#[test]
fn f2_a_bind_mount_keeps_the_pins_until_it_goes_too() {
    let mut s = mounted();
    let root = s.root;
    s.run(|k| k.mkdir(root, "/tmp/b2", 0o755)).expect("mkdir");
    s.run(|k| k.bind_mount(root, BPF, "/tmp/b2")).expect("bind");
    let id = pinned_map(&mut s, "/sys/fs/bpf/m");
    s.run(|k| k.umount(root, BPF)).expect("umount");
    assert!(s.map_listed(id), "the bind mount keeps the instance");
    assert!(s.run(|k| k.obj_get(root, "/tmp/b2/m", 0)).is_ok());
    s.run(|k| k.exit(root)).expect("exit closes the OBJ_GET fd");
    let r2 = s.k.spawn("r2", Cred::ROOT);
    s.run(|k| k.umount(r2, "/tmp/b2")).expect("umount bind");
    assert!(s.k.map_get_next_id(r2, id - 1) != Ok(id), "now gone");
}

#[test]
fn f2_umount_keeps_objects_that_other_holders_keep() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    s.run(|k| k.obj_pin(root, fd, "/sys/fs/bpf/m"))
        .expect("pin");
    s.run(|k| k.umount(root, BPF)).expect("umount");
    assert!(s.map_listed(id));
    assert_eq!(s.map_counts(id), Some((1, 1)));
}

// ---- F3: BPF_OBJ_PIN -----------------------------------------------------------------------

#[test]
fn f3_pin_file_flags_other_than_path_fd_are_einval() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    for flags in [1, BPF_F_RDONLY, BPF_F_WRONLY, BPF_F_RDONLY | BPF_F_WRONLY] {
        assert_eq!(
            raw_obj(&mut s, root, cmd::OBJ_PIN, "/sys/fs/bpf/m", fd, flags, 0),
            Err(Errno::EINVAL),
            "file_flags {flags:#x}"
        );
    }
    let dir = s.run(|k| k.open_dir(root, BPF)).expect("dir");
    assert_eq!(
        raw_obj(&mut s, root, cmd::OBJ_PIN, "m", fd, 0, dir),
        Err(Errno::EINVAL),
        "path_fd without BPF_F_PATH_FD"
    );
    assert_eq!(names(&s, BPF), ["progs.debug", "maps.debug"]);
}

#[test]
fn f3_pin_of_an_fd_that_is_no_bpf_object_is_einval_not_ebadf() {
    let mut s = mounted();
    let root = s.root;
    assert_eq!(
        s.run(|k| k.obj_pin(root, 9999, "/sys/fs/bpf/x")),
        Err(Errno::EINVAL)
    );
    let null = s.run(|k| k.open_null(root)).expect("null");
    assert_eq!(
        s.run(|k| k.obj_pin(root, null, "/sys/fs/bpf/x")),
        Err(Errno::EINVAL)
    );
    // The fd is probed before the path: a bad fd at a bad path is still EINVAL.
    assert_eq!(
        s.run(|k| k.obj_pin(root, 9999, "/nope/x")),
        Err(Errno::EINVAL)
    );
}

#[test]
fn f3_pin_path_errors_enoent() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    for path in ["/sys/fs/bpf/missing/x", "", "/sys/fs/bpf/new/"] {
        assert_eq!(
            s.run(|k| k.obj_pin(root, fd, path)),
            Err(Errno::ENOENT),
            "{path:?}"
        );
    }
}

#[test]
fn f3_pin_at_an_existing_name_is_eexist() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    s.run(|k| k.obj_pin(root, fd, "/sys/fs/bpf/m"))
        .expect("pin");
    s.run(|k| k.mkdir(root, "/sys/fs/bpf/d", 0o755))
        .expect("mkdir");
    s.run(|k| k.symlink(root, "/nowhere", "/sys/fs/bpf/dangling"))
        .expect("symlink");
    for path in ["/sys/fs/bpf/m", "/sys/fs/bpf/d", "/sys/fs/bpf/dangling"] {
        assert_eq!(
            s.run(|k| k.obj_pin(root, fd, path)),
            Err(Errno::EEXIST),
            "{path}"
        );
    }
    let id = s.id_of(root, fd);
    assert_eq!(s.map_counts(id), Some((2, 2)), "failed pins take nothing");
}

#[test]
fn f3_pin_with_a_dotted_name_in_bpffs_is_eperm() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    for path in ["/sys/fs/bpf/a.b", "/sys/fs/bpf/.hidden", "/sys/fs/bpf/x."] {
        assert_eq!(
            s.run(|k| k.obj_pin(root, fd, path)),
            Err(Errno::EPERM),
            "{path}"
        );
    }
}

#[test]
fn f3_pin_outside_bpffs_is_eperm() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    assert_eq!(s.run(|k| k.obj_pin(root, fd, "/tmp/m")), Err(Errno::EPERM));
    // A dotted name outside bpffs is no lookup error: still the parent check's EPERM.
    assert_eq!(
        s.run(|k| k.obj_pin(root, fd, "/tmp/m.x")),
        Err(Errno::EPERM)
    );
    let id = s.id_of(root, fd);
    assert_eq!(s.map_counts(id), Some((1, 1)));
}

#[test]
fn f3_pin_is_0600_minus_umask_owned_by_the_pinner() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    let obj = map_obj(&s, root, fd);
    s.run(|k| k.obj_pin(root, fd, "/sys/fs/bpf/a"))
        .expect("pin");
    let st = s.k.stat(root, "/sys/fs/bpf/a").expect("stat");
    assert_eq!(st.kind, FileKind::Pin(obj));
    assert_eq!((st.mode, st.uid, st.size, st.nlink), (0o600, 0, 0, 1));
    let user = as_user(&mut s, 1000);
    let mut cred = Cred::user(1000, 1000);
    cred.umask = 0o277;
    s.k.set_cred(user, cred).expect("cred");
    s.run(|k| k.obj_pin(user, fd, "/sys/fs/bpf/b"))
        .expect("user pin");
    let st = s.k.stat(root, "/sys/fs/bpf/b").expect("stat");
    assert_eq!((st.mode, st.uid, st.gid), (0o400, 1000, 1000));
}

#[test]
fn f3_pin_with_path_fd_resolves_relative_paths_against_it() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    s.run(|k| k.mkdir(root, "/sys/fs/bpf/d", 0o755))
        .expect("mkdir");
    let dir = s.run(|k| k.open_dir(root, "/sys/fs/bpf/d")).expect("dir");
    assert_eq!(
        raw_obj(&mut s, root, cmd::OBJ_PIN, "m", fd, BPF_F_PATH_FD, dir),
        Ok(0)
    );
    assert!(s.k.stat(root, "/sys/fs/bpf/d/m").is_ok());
    // Absolute paths ignore it.
    assert_eq!(
        raw_obj(
            &mut s,
            root,
            cmd::OBJ_PIN,
            "/sys/fs/bpf/abs",
            fd,
            BPF_F_PATH_FD,
            dir
        ),
        Ok(0)
    );
    assert!(s.k.stat(root, "/sys/fs/bpf/abs").is_ok());
    // OBJ_GET resolves the same way.
    let got = raw_obj(&mut s, root, cmd::OBJ_GET, "m", 0, BPF_F_PATH_FD, dir).expect("get");
    assert_eq!(s.k.obj_of_fd(root, got as i32), Some(map_obj(&s, root, fd)));
}

#[test]
fn f3_path_fd_not_open_is_ebadf_not_a_directory_is_enotdir() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    assert_eq!(
        raw_obj(&mut s, root, cmd::OBJ_PIN, "m", fd, BPF_F_PATH_FD, 9999),
        Err(Errno::EBADF)
    );
    assert_eq!(
        raw_obj(&mut s, root, cmd::OBJ_PIN, "m", fd, BPF_F_PATH_FD, fd),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        raw_obj(&mut s, root, cmd::OBJ_GET, "m", 0, BPF_F_PATH_FD, 9999),
        Err(Errno::EBADF)
    );
}

#[test]
fn f3_pin_needs_write_and_search_permission_on_the_parent() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    s.run(|k| k.mkdir(root, "/sys/fs/bpf/ro", 0o755))
        .expect("mkdir");
    let user = as_user(&mut s, 1000);
    assert_eq!(
        s.run(|k| k.obj_pin(user, fd, "/sys/fs/bpf/ro/m")),
        Err(Errno::EACCES)
    );
    s.run(|k| k.obj_pin(user, fd, "/sys/fs/bpf/m"))
        .expect("the sticky root is writable by all");
}

// ---- F4: BPF_OBJ_GET -------------------------------------------------------------------------

#[test]
fn f4_get_attr_errors_are_einval() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    s.run(|k| k.obj_pin(root, fd, "/sys/fs/bpf/m"))
        .expect("pin");
    let p = "/sys/fs/bpf/m";
    assert_eq!(
        raw_obj(&mut s, root, cmd::OBJ_GET, p, fd, 0, 0),
        Err(Errno::EINVAL),
        "bpf_fd"
    );
    assert_eq!(
        raw_obj(
            &mut s,
            root,
            cmd::OBJ_GET,
            p,
            0,
            BPF_F_RDONLY | BPF_F_WRONLY,
            0
        ),
        Err(Errno::EINVAL),
        "0x18"
    );
    assert_eq!(
        raw_obj(&mut s, root, cmd::OBJ_GET, p, 0, 1, 0),
        Err(Errno::EINVAL)
    );
    let dir = s.run(|k| k.open_dir(root, BPF)).expect("dir");
    assert_eq!(
        raw_obj(&mut s, root, cmd::OBJ_GET, "m", 0, 0, dir),
        Err(Errno::EINVAL),
        "path_fd without BPF_F_PATH_FD"
    );
    let id = s.id_of(root, fd);
    assert_eq!(s.map_counts(id), Some((2, 2)), "no fd was made");
}

#[test]
fn f4_get_follows_symlinks_missing_is_enoent() {
    let mut s = mounted();
    let root = s.root;
    let id = pinned_map(&mut s, "/sys/fs/bpf/m");
    s.run(|k| k.symlink(root, "/sys/fs/bpf/m", "/tmp/link"))
        .expect("symlink");
    let fd = s.run(|k| k.obj_get(root, "/tmp/link", 0)).expect("get");
    assert_eq!(s.id_of(root, fd), id);
    assert_eq!(
        s.run(|k| k.obj_get(root, "/sys/fs/bpf/none", 0)),
        Err(Errno::ENOENT)
    );
}

#[test]
fn f4_get_of_something_that_is_no_pin_is_eacces() {
    let mut s = mounted();
    let root = s.root;
    s.run(|k| k.mkdir(root, "/sys/fs/bpf/d", 0o755))
        .expect("mkdir");
    assert_eq!(
        s.run(|k| k.obj_get(root, "/sys/fs/bpf/d", 0)),
        Err(Errno::EACCES)
    );
    s.run(|k| k.create_file(root, "/tmp/f", 0o666))
        .expect("file");
    assert_eq!(s.run(|k| k.obj_get(root, "/tmp/f", 0)), Err(Errno::EACCES));
    assert_eq!(
        s.run(|k| k.obj_get(root, "/dev/null", 0)),
        Err(Errno::EACCES)
    );
}

#[test]
fn f4_get_of_a_0600_pin_by_another_uid_is_eacces() {
    let mut s = mounted();
    let root = s.root;
    pinned_map(&mut s, "/sys/fs/bpf/m");
    let user = as_user(&mut s, 1000);
    for flags in [0, BPF_F_RDONLY, BPF_F_WRONLY] {
        assert_eq!(
            s.run(|k| k.obj_get(user, "/sys/fs/bpf/m", flags)),
            Err(Errno::EACCES),
            "flags {flags:#x}"
        );
    }
    s.run(|k| k.chmod(root, "/sys/fs/bpf/m", 0o644))
        .expect("chmod");
    assert!(
        s.run(|k| k.obj_get(user, "/sys/fs/bpf/m", BPF_F_RDONLY))
            .is_ok()
    );
    assert_eq!(
        s.run(|k| k.obj_get(user, "/sys/fs/bpf/m", 0)),
        Err(Errno::EACCES),
        "O_RDWR needs write too"
    );
    assert_eq!(
        s.run(|k| k.obj_get(user, "/sys/fs/bpf/m", BPF_F_WRONLY)),
        Err(Errno::EACCES)
    );
}

#[test]
fn f4_map_fds_follow_rdonly_wronly() {
    let mut s = mounted();
    let root = s.root;
    pinned_map(&mut s, "/sys/fs/bpf/m");
    let k0 = 0u32.to_le_bytes();
    let ro = s
        .run(|k| k.obj_get(root, "/sys/fs/bpf/m", BPF_F_RDONLY))
        .expect("ro");
    let wo = s
        .run(|k| k.obj_get(root, "/sys/fs/bpf/m", BPF_F_WRONLY))
        .expect("wo");
    let rw = s.run(|k| k.obj_get(root, "/sys/fs/bpf/m", 0)).expect("rw");
    let mut v = [0u8; 8];
    assert_eq!(
        s.run(|k| k.map_update_elem(root, ro, &k0, &[1; 8], 0)),
        Err(Errno::EPERM)
    );
    assert!(
        s.run(|k| k.map_lookup_elem(root, ro, &k0, &mut v, 0))
            .is_ok()
    );
    assert_eq!(
        s.run(|k| k.map_lookup_elem(root, wo, &k0, &mut v, 0)),
        Err(Errno::EPERM)
    );
    assert!(
        s.run(|k| k.map_update_elem(root, wo, &k0, &[1; 8], 0))
            .is_ok()
    );
    assert!(
        s.run(|k| k.map_update_elem(root, rw, &k0, &[2; 8], 0))
            .is_ok()
    );
    assert!(
        s.run(|k| k.map_lookup_elem(root, rw, &k0, &mut v, 0))
            .is_ok()
    );
    assert_eq!(v, [2; 8]);
}

#[test]
fn f4_prog_fds_are_read_write_whatever_the_flags() {
    let mut s = mounted();
    let root = s.root;
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    s.run(|k| k.obj_pin(root, p, "/sys/fs/bpf/p")).expect("pin");
    let obj = map_obj(&s, root, p);
    for flags in [BPF_F_RDONLY, BPF_F_WRONLY, 0] {
        let fd = s
            .run(|k| k.obj_get(root, "/sys/fs/bpf/p", flags))
            .expect("get");
        let h = s.k.holders(obj);
        assert!(
            h.iter().any(|h| matches!(h,
                HolderInfo::File { fds, read: true, write: true, .. } if fds == &[(root, fd)])),
            "flags {flags:#x}: {h:?}"
        );
    }
}

#[test]
fn f4_get_returns_a_new_description_each_time() {
    let mut s = mounted();
    let root = s.root;
    let id = pinned_map(&mut s, "/sys/fs/bpf/m");
    let a = s.run(|k| k.obj_get(root, "/sys/fs/bpf/m", 0)).expect("a");
    let b = s.run(|k| k.obj_get(root, "/sys/fs/bpf/m", 0)).expect("b");
    assert_ne!(a, b);
    assert_eq!(s.map_counts(id), Some((3, 3)));
}

// ---- F5: VFS operations on bpffs ------------------------------------------------------------

#[test]
fn f5_unlink_of_the_last_link_frees_synchronously() {
    let mut s = mounted();
    let root = s.root;
    let id = pinned_map(&mut s, "/sys/fs/bpf/m");
    s.run(|k| k.unlink(root, "/sys/fs/bpf/m")).expect("unlink");
    assert!(!s.map_listed(id));
    assert_eq!(
        s.run(|k| k.unlink(root, "/sys/fs/bpf/m")),
        Err(Errno::ENOENT)
    );
}

#[test]
fn f5_unlink_keeps_an_object_another_fd_holds() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    s.run(|k| k.obj_pin(root, fd, "/sys/fs/bpf/m"))
        .expect("pin");
    s.run(|k| k.unlink(root, "/sys/fs/bpf/m")).expect("unlink");
    assert_eq!(s.map_counts(id), Some((1, 1)));
}

#[test]
fn f5_hard_links_share_one_reference() {
    let mut s = mounted();
    let root = s.root;
    let id = pinned_map(&mut s, "/sys/fs/bpf/a");
    s.run(|k| k.link(root, "/sys/fs/bpf/a", "/sys/fs/bpf/b"))
        .expect("link");
    assert_eq!(s.map_counts(id), Some((1, 1)), "one inode, one reference");
    assert_eq!(s.k.stat(root, "/sys/fs/bpf/b").expect("stat").nlink, 2);
    s.run(|k| k.unlink(root, "/sys/fs/bpf/a"))
        .expect("unlink a");
    assert!(s.map_listed(id), "b still links the inode");
    assert_eq!(s.k.stat(root, "/sys/fs/bpf/b").expect("stat").nlink, 1);
    s.run(|k| k.unlink(root, "/sys/fs/bpf/b"))
        .expect("unlink b");
    assert!(!s.map_listed(id));
}

#[test]
fn f5_link_across_instances_is_exdev() {
    let mut s = mounted();
    let root = s.root;
    pinned_map(&mut s, "/sys/fs/bpf/a");
    s.run(|k| k.mkdir(root, "/tmp/b2", 0o755)).expect("mkdir");
    s.run(|k| k.mount_bpffs(root, "/tmp/b2")).expect("mount");
    assert_eq!(
        s.run(|k| k.link(root, "/sys/fs/bpf/a", "/tmp/b2/a")),
        Err(Errno::EXDEV)
    );
    assert_eq!(
        s.run(|k| k.rename(root, "/sys/fs/bpf/a", "/tmp/b2/a")),
        Err(Errno::EXDEV)
    );
    assert_eq!(
        s.run(|k| k.rename(root, "/sys/fs/bpf/a", "/tmp/a")),
        Err(Errno::EXDEV)
    );
}

#[test]
fn f5_rename_within_an_instance_keeps_the_object() {
    let mut s = mounted();
    let root = s.root;
    let id = pinned_map(&mut s, "/sys/fs/bpf/a");
    s.run(|k| k.mkdir(root, "/sys/fs/bpf/d", 0o755))
        .expect("mkdir");
    s.run(|k| k.rename(root, "/sys/fs/bpf/a", "/sys/fs/bpf/d/b"))
        .expect("rename");
    assert_eq!(s.map_counts(id), Some((1, 1)));
    let fd = s
        .run(|k| k.obj_get(root, "/sys/fs/bpf/d/b", 0))
        .expect("get");
    assert_eq!(s.id_of(root, fd), id);
    assert_eq!(
        s.run(|k| k.obj_get(root, "/sys/fs/bpf/a", 0)),
        Err(Errno::ENOENT)
    );
}

#[test]
fn f5_rename_over_a_pin_releases_the_replaced_one() {
    let mut s = mounted();
    let root = s.root;
    let a = pinned_map(&mut s, "/sys/fs/bpf/a");
    let b = pinned_map(&mut s, "/sys/fs/bpf/b");
    s.run(|k| k.rename(root, "/sys/fs/bpf/a", "/sys/fs/bpf/b"))
        .expect("rename");
    assert!(s.map_listed(a));
    assert!(!s.map_listed(b), "the replaced pin's last link went");
}

#[test]
fn f5_dotted_names_are_eperm_for_rename_and_mkdir() {
    let mut s = mounted();
    let root = s.root;
    pinned_map(&mut s, "/sys/fs/bpf/a");
    assert_eq!(
        s.run(|k| k.rename(root, "/sys/fs/bpf/a", "/sys/fs/bpf/a.b")),
        Err(Errno::EPERM)
    );
    assert_eq!(
        s.run(|k| k.mkdir(root, "/sys/fs/bpf/d.d", 0o755)),
        Err(Errno::EPERM)
    );
    assert_eq!(
        s.run(|k| k.symlink(root, "/x", "/sys/fs/bpf/l.l")),
        Err(Errno::EPERM)
    );
    assert!(s.k.stat(root, "/sys/fs/bpf/a").is_ok());
}

#[test]
fn f5_rmdir_of_a_non_empty_directory_is_enotempty() {
    let mut s = mounted();
    let root = s.root;
    s.run(|k| k.mkdir(root, "/sys/fs/bpf/d", 0o755))
        .expect("mkdir");
    let id = pinned_map(&mut s, "/sys/fs/bpf/d/m");
    assert_eq!(
        s.run(|k| k.rmdir(root, "/sys/fs/bpf/d")),
        Err(Errno::ENOTEMPTY)
    );
    s.run(|k| k.unlink(root, "/sys/fs/bpf/d/m"))
        .expect("unlink");
    assert!(!s.map_listed(id));
    s.run(|k| k.rmdir(root, "/sys/fs/bpf/d")).expect("rmdir");
    assert_eq!(
        s.k.stat(root, "/sys/fs/bpf/d").map(drop),
        Err(Errno::ENOENT)
    );
}

#[test]
fn f5_creating_a_regular_file_in_bpffs_is_eacces() {
    let mut s = mounted();
    let root = s.root;
    assert_eq!(
        s.run(|k| k.create_file(root, "/sys/fs/bpf/f", 0o644)),
        Err(Errno::EACCES)
    );
    s.run(|k| k.create_file(root, "/tmp/f", 0o644))
        .expect("on the host fs");
}

#[test]
fn f5_symlinks_are_allowed_in_bpffs() {
    let mut s = mounted();
    let root = s.root;
    let id = pinned_map(&mut s, "/sys/fs/bpf/m");
    s.run(|k| k.symlink(root, "m", "/sys/fs/bpf/l"))
        .expect("symlink");
    assert_eq!(
        s.k.vfs()
            .lstat(&Cred::ROOT, "/sys/fs/bpf/l")
            .expect("lstat")
            .kind,
        FileKind::Symlink
    );
    let fd = s
        .run(|k| k.obj_get(root, "/sys/fs/bpf/l", 0))
        .expect("through the link");
    assert_eq!(s.id_of(root, fd), id);
    assert_eq!(s.map_counts(id), Some((2, 2)), "a symlink holds nothing");
}

#[test]
fn f5_sticky_root_only_the_owner_or_root_may_remove_a_pin() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    let alice = as_user(&mut s, 1000);
    let bob = as_user(&mut s, 1001);
    s.run(|k| k.obj_pin(alice, fd, "/sys/fs/bpf/alice"))
        .expect("pin");
    s.run(|k| k.obj_pin(alice, fd, "/sys/fs/bpf/alice2"))
        .expect("pin");
    assert_eq!(
        s.run(|k| k.unlink(bob, "/sys/fs/bpf/alice")),
        Err(Errno::EPERM)
    );
    assert_eq!(
        s.run(|k| k.rename(bob, "/sys/fs/bpf/alice", "/sys/fs/bpf/bob")),
        Err(Errno::EPERM)
    );
    s.run(|k| k.unlink(alice, "/sys/fs/bpf/alice"))
        .expect("the owner may");
    s.run(|k| k.unlink(root, "/sys/fs/bpf/alice2"))
        .expect("root may");
    assert_eq!(s.map_counts(id), Some((1, 1)));
}

#[test]
fn f5_chmod_and_chown_need_ownership_or_capability() {
    let mut s = mounted();
    let root = s.root;
    let fd = s.array(root);
    let alice = as_user(&mut s, 1000);
    let bob = as_user(&mut s, 1001);
    s.run(|k| k.obj_pin(alice, fd, "/sys/fs/bpf/a"))
        .expect("pin");
    assert_eq!(
        s.run(|k| k.chmod(bob, "/sys/fs/bpf/a", 0o666)),
        Err(Errno::EPERM)
    );
    s.run(|k| k.chmod(alice, "/sys/fs/bpf/a", 0o640))
        .expect("owner chmod");
    assert_eq!(s.k.stat(root, "/sys/fs/bpf/a").expect("stat").mode, 0o640);
    assert_eq!(
        s.run(|k| k.chown(alice, "/sys/fs/bpf/a", 1001, 1001)),
        Err(Errno::EPERM)
    );
    s.run(|k| k.chown(root, "/sys/fs/bpf/a", 1001, 1001))
        .expect("root chown");
    let st = s.k.stat(root, "/sys/fs/bpf/a").expect("stat");
    assert_eq!((st.uid, st.gid), (1001, 1001));
    // Now bob owns it and may open it read-write.
    assert!(s.run(|k| k.obj_get(bob, "/sys/fs/bpf/a", 0)).is_ok());
}

#[test]
fn f5_mkdir_in_bpffs_uses_mode_minus_umask() {
    let mut s = mounted();
    let root = s.root;
    s.run(|k| k.mkdir(root, "/sys/fs/bpf/d", 0o777))
        .expect("mkdir");
    let st = s.k.stat(root, "/sys/fs/bpf/d").expect("stat");
    assert_eq!((st.kind, st.mode), (FileKind::Dir, 0o755));
    assert_eq!(
        s.run(|k| k.mkdir(root, "/sys/fs/bpf/d", 0o777)),
        Err(Errno::EEXIST)
    );
}

//! Unit tests of the simulated filesystem, one test per kernel rule. Every test's `Vfs` is
//! checked against the model invariants when the test ends ([`Sim`]'s `Drop`).

mod bpffs;
mod mounts;
mod namespace;
mod random;
mod rename;
mod walk;

use std::ops::{Deref, DerefMut};

use super::{Access, FileKind, FsKind, Stat, Vfs};
use crate::errno::Errno;
use crate::object::{MapIdx, ObjRef, ProgIdx};
use crate::task::{CapSet, Cred};
use crate::uapi::cap;

/// A `Vfs` whose invariants are checked when it goes out of scope.
struct Sim(Vfs);

impl Deref for Sim {
    type Target = Vfs;
    fn deref(&self) -> &Vfs {
        &self.0
    }
}

impl DerefMut for Sim {
    fn deref_mut(&mut self) -> &mut Vfs {
        &mut self.0
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.0.check_invariants();
        }
    }
}

const ROOT: Cred = Cred::ROOT;

/// Boot state without any bpffs mount.
fn bare() -> Sim {
    Sim(Vfs::new(false))
}

/// Boot state with bpffs mounted on /sys/fs/bpf by root (no preload).
fn sim() -> Sim {
    let mut s = bare();
    s.mount_bpffs(&ROOT, "/sys/fs/bpf", None).unwrap();
    s
}

/// An unprivileged user whose gid equals its uid.
fn user(uid: u32) -> Cred {
    Cred::user(uid, uid)
}

/// A credential with only these capabilities.
fn with_caps(uid: u32, caps: &[u32]) -> Cred {
    Cred {
        uid,
        gid: uid,
        caps: CapSet::of(caps),
        umask: 0o022,
    }
}

fn map(n: u32) -> ObjRef {
    ObjRef::Map(MapIdx(n))
}

fn prog(n: u32) -> ObjRef {
    ObjRef::Prog(ProgIdx(n))
}

/// `stat` by root.
fn st(s: &Vfs, path: &str) -> Stat {
    s.stat(&ROOT, path).unwrap()
}

/// Names listed by root's readdir.
fn names(s: &Vfs, path: &str) -> Vec<String> {
    s.readdir(&ROOT, path)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn boot_tree_matches_the_brief() {
    let s = bare();
    assert_eq!(names(&s, "/"), ["tmp", "sys", "dev"]);
    let null = st(&s, "/dev/null");
    assert_eq!(
        (null.kind, null.mode, null.uid),
        (FileKind::CharDev, 0o666, 0)
    );
    let tmp = st(&s, "/tmp");
    assert_eq!((tmp.kind, tmp.mode), (FileKind::Dir, 0o1777));
    let bpf = st(&s, "/sys/fs/bpf");
    assert_eq!(
        (bpf.kind, bpf.mode, bpf.fs),
        (FileKind::Dir, 0o755, FsKind::Host)
    );
    assert!(names(&s, "/sys/fs/bpf").is_empty());
    assert!(s.mounts().is_empty());
}

//! The simulated filesystem: a tmpfs-like host filesystem plus bpffs instances.
//!
//! What is modeled (Linux 6.12/6.18 rules, spec sections F and B7):
//! * the path walk of `fs/namei.c` (`link_path_walk`, `walk_component`, `follow_dotdot`,
//!   `handle_mounts`): `.`/`..`, symlinks (40 at most, `ELOOP`), search permission on every
//!   directory, `ENOTDIR`, `ENAMETOOLONG`, mount crossing;
//! * `generic_permission`, `may_create`, `may_delete` and the sticky-directory rule;
//! * the namespace operations `mkdir`, `rmdir`, `unlink`, `link`, `rename`, `symlink`,
//!   `open(O_CREAT|O_EXCL)`, `chmod`, `chown`, `stat`, `getdents`, `O_PATH` opens;
//! * bpffs (`kernel/bpf/inode.c`): every `mount -t bpf` is a new instance whose root is
//!   `drwxrwxrwt` owned by the mounter, dotted names are `EPERM` (`bpf_lookup`), pins
//!   (`bpf_obj_do_pin`), `BPF_OBJ_GET` (`bpf_obj_do_get`), no `->create` (`EACCES`), and
//!   `kill_litter_super` releasing every pin when the last mount of an instance goes.
//!
//! What is not modeled: mount propagation, `MNT_DETACH`, read-only mounts, xattrs/ACLs/LSMs,
//! supplementary groups, user namespaces, the `fs.protected_{symlinks,hardlinks}` sysctls (the
//! kernel default, 0, is what is modeled), bind mounts of non-directories (`ENOTDIR` here),
//! iterator links (`maps.debug`/`progs.debug` exist but `BPF_OBJ_GET` on them is `EACCES`).
//!
//! The kernel around the `Vfs` owns reference counts: the `Vfs` only stores [`ObjRef`] values
//! and hands back the ones whose pin inode was destroyed, so the caller can put them.

mod mount;
mod ops;
mod path;
mod perm;
mod query;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::object::ObjRef;

use self::path::Loc;
use self::perm::{S_ISGID, S_ISVTX};
use crate::errno::{Errno, SysResult};
use crate::task::Cred;

/// Index of an inode in the [`Vfs`] arena (the model's `struct inode *`). Slots are reused
/// after the inode is destroyed, so an `Ino` is only meaningful while something keeps the
/// inode alive (a name, an open handle or a mount).
pub type Ino = u32;

/// The id of the mount the initial host filesystem is mounted on (the namespace root).
const ROOT_MOUNT: u32 = 0;

/// `BOGO_DIRENT_SIZE` (`mm/shmem.c`): tmpfs grows a directory's `i_size` by this per entry.
const BOGO_DIRENT_SIZE: u64 = 20;

/// Model limit on live inodes in the whole arena, standing in for tmpfs' `nr_inodes` and a
/// failing `new_inode()` in `bpf_get_inode`; both are `ENOSPC`.
pub const NR_INODES_MAX: usize = 1 << 20;

/// `sysctl_mount_max` (`fs/namespace.c`, default 100000): more mounts are `ENOSPC`.
pub const MOUNT_MAX: usize = 100_000;

/// What an inode is, as `stat()` reports it (`S_IFMT` plus, for pins, the bpf object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A directory (`S_IFDIR`).
    Dir,
    /// A bpffs pin inode (`S_IFREG` with `bpf_map_iops`/`bpf_prog_iops`): holds one reference.
    Pin(ObjRef),
    /// A symbolic link (`S_IFLNK`).
    Symlink,
    /// A regular file: on the host a file made with `open(O_CREAT)`; in bpffs the
    /// kernel-created iterator links `maps.debug`/`progs.debug` (`populate_bpffs`).
    Regular,
    /// A character device (`/dev/null`).
    CharDev,
}

/// Which filesystem an inode belongs to (its superblock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FsKind {
    /// The tmpfs-like host filesystem mounted on `/`.
    Host,
    /// A bpffs instance (`get_tree_nodev` superblock); numbered from 1 in creation order.
    Bpf {
        /// The instance number.
        instance: u32,
    },
}

/// The result of `stat()`/`lstat()` (`struct kstat`, the fields this model keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The file type.
    pub kind: FileKind,
    /// Permission bits including set-id and sticky bits (`i_mode & S_IALLUGO`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count: names for non-directories; `2 + subdirectories` for a live directory, 0
    /// for a removed one (`simple_rmdir`).
    pub nlink: u32,
    /// `i_size`: target length for host symlinks, `20 * entries` for host directories
    /// (`BOGO_DIRENT_SIZE`), 0 for everything in bpffs (`bpf_get_inode` never sets it).
    pub size: u64,
    /// The filesystem.
    pub fs: FsKind,
}

/// `ACC_MODE` of `BPF_OBJ_GET`'s `file_flags`: `BPF_F_RDONLY` → `Read`, `BPF_F_WRONLY` →
/// `Write`, neither → `ReadWrite` (`bpf_get_file_flag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `O_RDONLY`: `MAY_READ`.
    Read,
    /// `O_WRONLY`: `MAY_WRITE`.
    Write,
    /// `O_RDWR`: `MAY_READ | MAY_WRITE`.
    ReadWrite,
}

/// An open `O_PATH|O_DIRECTORY` file as [`Vfs::open_dir`] returns it: the kernel's
/// `struct path`, i.e. the mount it was reached through and the directory inode. Relative
/// paths resolve against it (`BPF_F_PATH_FD`), and it keeps its mount busy until closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DirHandle {
    /// The mount id (`struct vfsmount`).
    pub mount: u32,
    /// The directory inode.
    pub ino: Ino,
}

/// One live pin inode, as a bpftool-style dump shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinInfo {
    /// The pin inode.
    pub ino: Ino,
    /// The object the pin holds a reference to.
    pub obj: ObjRef,
    /// Every absolute path that reaches the inode through the current mounts, sorted; empty
    /// when its instance is not reachable.
    pub paths: Vec<String>,
    /// Owner.
    pub uid: u32,
    /// Permission bits.
    pub mode: u32,
}

/// One mount, as `/proc/self/mounts` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// The mount id.
    pub id: u32,
    /// Absolute path of the mountpoint, computed from the mount tree like `d_path`.
    pub path: String,
    /// The mounted filesystem (a bpffs instance, or the host fs for a bind mount of it).
    pub fs: FsKind,
}

/// What an inode holds.
#[derive(Clone, Debug)]
enum Node {
    /// A directory: its entries, their order, and its parent (`d_parent`; a filesystem root
    /// is its own).
    Dir {
        children: BTreeMap<String, Ino>,
        /// The entries' names in `d_children` order, oldest first: a new or moved entry
        /// (`d_alloc`, `d_move`) goes to the list's head, so `readdir` (`dcache_readdir`)
        /// lists the newest first (seen on 6.18's bpffs).
        order: Vec<String>,
        parent: Ino,
    },
    /// A bpffs pin.
    Pin(ObjRef),
    /// A kernel-created iterator link (`maps.debug`, `progs.debug`).
    IterLink,
    /// A symlink and its target, stored verbatim.
    Symlink(String),
    /// A host regular file.
    Regular,
    /// A character device.
    CharDev,
}

impl Node {
    /// A new empty directory; `add_entry` sets its parent.
    fn empty_dir() -> Node {
        Node::Dir {
            children: BTreeMap::new(),
            order: Vec::new(),
            parent: 0,
        }
    }
}

/// One inode.
#[derive(Clone, Debug)]
struct Inode {
    node: Node,
    /// `i_mode & S_IALLUGO`.
    mode: u32,
    uid: u32,
    gid: u32,
    /// Directory entries naming this inode (plus one for a filesystem root); a directory
    /// with 0 is dead (`S_DEAD`, removed while still referenced).
    links: u32,
    fs: FsKind,
}

impl Inode {
    fn is_dir(&self) -> bool {
        matches!(self.node, Node::Dir { .. })
    }
}

/// One mount (`struct mount`).
#[derive(Clone, Debug)]
struct Mount {
    fs: FsKind,
    /// `mnt_root`.
    root: Ino,
    /// `mnt_parent`; `None` for the namespace root.
    parent: Option<u32>,
    /// `mnt_mountpoint`, an inode of the parent mount's filesystem.
    mountpoint: Ino,
}

/// The filesystem state: an inode arena, the mount table and the open directory handles.
#[derive(Clone, Debug)]
pub struct Vfs {
    inodes: Vec<Option<Inode>>,
    free: Vec<Ino>,
    /// Mount id → mount; ids only grow, so this order is mount order.
    mounts: BTreeMap<u32, Mount>,
    next_mount: u32,
    next_instance: u32,
    /// Open `O_PATH` directory handles and how many times each is open.
    handles: BTreeMap<DirHandle, u32>,
    /// `CONFIG_BPF_PRELOAD`: new instances get `maps.debug` and `progs.debug`.
    preload: bool,
    host_root: Ino,
}

impl Vfs {
    /// A fresh system: the host filesystem with `/dev/null`, `/sys/fs/bpf` (an empty,
    /// unmounted directory), `/tmp` (`1777`); everything root-owned `0755` unless said.
    /// `preload` models `CONFIG_BPF_PRELOAD` (`populate_bpffs`).
    pub fn new(preload: bool) -> Vfs {
        let mut vfs = Vfs {
            inodes: Vec::new(),
            free: Vec::new(),
            mounts: BTreeMap::new(),
            next_mount: ROOT_MOUNT + 1,
            next_instance: 1,
            handles: BTreeMap::new(),
            preload,
            host_root: 0,
        };
        let root = vfs.alloc_raw(Inode {
            node: Node::Dir {
                children: BTreeMap::new(),
                order: Vec::new(),
                parent: 0,
            },
            mode: 0o755,
            uid: 0,
            gid: 0,
            links: 1,
            fs: FsKind::Host,
        });
        vfs.host_root = root;
        if let Node::Dir { parent, .. } = &mut vfs.inode_mut(root).node {
            *parent = root;
        }
        vfs.mounts.insert(
            ROOT_MOUNT,
            Mount {
                fs: FsKind::Host,
                root,
                parent: None,
                mountpoint: root,
            },
        );
        let dev = vfs.boot_entry(root, "dev", Node::empty_dir(), 0o755);
        vfs.boot_entry(dev, "null", Node::CharDev, 0o666);
        let sys = vfs.boot_entry(root, "sys", Node::empty_dir(), 0o755);
        let fs = vfs.boot_entry(sys, "fs", Node::empty_dir(), 0o755);
        vfs.boot_entry(fs, "bpf", Node::empty_dir(), 0o755);
        vfs.boot_entry(root, "tmp", Node::empty_dir(), S_ISVTX | 0o777);
        vfs
    }

    /// Adds a root-owned boot-time entry to the host filesystem.
    fn boot_entry(&mut self, dir: Ino, name: &str, node: Node, mode: u32) -> Ino {
        let ino = self.alloc_raw(Inode {
            node,
            mode,
            uid: 0,
            gid: 0,
            links: 0,
            fs: FsKind::Host,
        });
        self.add_entry(dir, name, ino);
        ino
    }

    /// Puts an inode into a free slot (or a new one); the caller checked the limit.
    fn alloc_raw(&mut self, inode: Inode) -> Ino {
        match self.free.pop() {
            Some(ino) => {
                self.inodes[ino as usize] = Some(inode);
                ino
            }
            None => {
                self.inodes.push(Some(inode));
                (self.inodes.len() - 1) as Ino
            }
        }
    }

    /// `new_inode()` + `inode_init_owner()` for an inode created in `dir`: owner from the
    /// caller, group and (for directories) `S_ISGID` inherited from a set-gid parent.
    /// `ENOSPC` past [`NR_INODES_MAX`].
    fn new_inode(&mut self, cred: &Cred, dir: Ino, node: Node, mode: u32) -> SysResult<Ino> {
        if self.inodes.len() - self.free.len() >= NR_INODES_MAX {
            return Err(Errno::ENOSPC);
        }
        let parent = self.inode(dir);
        let (fs, mut gid, mut mode) = (parent.fs, cred.gid, mode);
        if parent.mode & S_ISGID != 0 {
            gid = parent.gid;
            if matches!(node, Node::Dir { .. }) {
                mode |= S_ISGID;
            }
        }
        Ok(self.alloc_raw(Inode {
            node,
            mode,
            uid: cred.uid,
            gid,
            links: 0,
            fs,
        }))
    }

    /// The live inode `ino`. Panics if it is free: handles reaching here were validated.
    fn inode(&self, ino: Ino) -> &Inode {
        self.inodes[ino as usize]
            .as_ref()
            .expect("vfs: dangling inode")
    }

    fn inode_mut(&mut self, ino: Ino) -> &mut Inode {
        self.inodes[ino as usize]
            .as_mut()
            .expect("vfs: dangling inode")
    }

    fn is_dir(&self, ino: Ino) -> bool {
        self.inode(ino).is_dir()
    }

    /// The entries of directory `ino`.
    fn children(&self, ino: Ino) -> &BTreeMap<String, Ino> {
        match &self.inode(ino).node {
            Node::Dir { children, .. } => children,
            _ => panic!("vfs: not a directory"),
        }
    }

    /// `d_parent` of a directory.
    fn parent_of(&self, ino: Ino) -> Ino {
        match &self.inode(ino).node {
            Node::Dir { parent, .. } => *parent,
            _ => panic!("vfs: not a directory"),
        }
    }

    /// `d_instantiate` into `dir`: adds the name and counts the link.
    fn add_entry(&mut self, dir: Ino, name: &str, ino: Ino) {
        if let Node::Dir { parent, .. } = &mut self.inode_mut(ino).node {
            *parent = dir;
        }
        self.inode_mut(ino).links += 1;
        match &mut self.inode_mut(dir).node {
            Node::Dir {
                children, order, ..
            } => {
                let old = children.insert(name.to_string(), ino);
                assert!(old.is_none(), "vfs: entry {name} already exists");
                order.push(name.to_string());
            }
            _ => panic!("vfs: not a directory"),
        }
    }

    /// Takes `name` out of directory `dir`'s entries (and their order); returns its inode.
    fn unlink_name(&mut self, dir: Ino, name: &str) -> Ino {
        match &mut self.inode_mut(dir).node {
            Node::Dir {
                children, order, ..
            } => {
                order.retain(|n| n != name);
                children.remove(name).expect("vfs: missing entry")
            }
            _ => panic!("vfs: not a directory"),
        }
    }

    /// `d_delete` from `dir`: removes the name and drops the link (a directory loses its
    /// only link, `simple_rmdir`). Returns the object of a pin that was destroyed.
    fn remove_entry(&mut self, dir: Ino, name: &str) -> Option<ObjRef> {
        let ino = self.unlink_name(dir, name);
        let inode = self.inode_mut(ino);
        inode.links -= 1;
        self.maybe_free(ino)
    }

    /// Frees an inode nothing refers to any more (no name, no open handle, not a mount
    /// root): `iput` → `evict` → `bpf_free_inode`, which puts a pin's object.
    fn maybe_free(&mut self, ino: Ino) -> Option<ObjRef> {
        let inode = self.inode(ino);
        if inode.links > 0
            || self.handles.keys().any(|h| h.ino == ino)
            || self.mounts.values().any(|m| m.root == ino)
        {
            return None;
        }
        let obj = match inode.node {
            Node::Pin(obj) => Some(obj),
            _ => None,
        };
        self.inodes[ino as usize] = None;
        self.free.push(ino);
        obj
    }

    /// The namespace root (`current->fs->root`): the host root on the root mount, without
    /// crossing anything mounted on `/`.
    fn root_loc(&self) -> Loc {
        Loc {
            mnt: ROOT_MOUNT,
            ino: self.host_root,
        }
    }

    /// `vfs_getattr` of one inode.
    fn stat_of(&self, ino: Ino) -> Stat {
        let inode = self.inode(ino);
        let host = inode.fs == FsKind::Host;
        let (kind, nlink, size) = match &inode.node {
            Node::Dir { children, .. } => {
                let subdirs = children.values().filter(|&&c| self.is_dir(c)).count() as u32;
                let nlink = if inode.links == 0 { 0 } else { 2 + subdirs };
                let size = if host {
                    BOGO_DIRENT_SIZE * children.len() as u64
                } else {
                    0
                };
                (FileKind::Dir, nlink, size)
            }
            Node::Pin(obj) => (FileKind::Pin(*obj), inode.links, 0),
            Node::IterLink | Node::Regular => (FileKind::Regular, inode.links, 0),
            Node::Symlink(target) => (
                FileKind::Symlink,
                inode.links,
                if host { target.len() as u64 } else { 0 },
            ),
            Node::CharDev => (FileKind::CharDev, inode.links, 0),
        };
        Stat {
            kind,
            mode: inode.mode,
            uid: inode.uid,
            gid: inode.gid,
            nlink,
            size,
            fs: inode.fs,
        }
    }
}

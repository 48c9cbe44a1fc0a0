//! Mounts (`fs/namespace.c`) and bpffs superblocks (`kernel/bpf/inode.c` `bpf_fill_super`,
//! `populate_bpffs`, `bpf_kill_super` → `kill_litter_super`).

use std::collections::BTreeMap;

use super::path::Loc;
use super::perm::{S_IALLUGO, S_ISVTX};
use super::{FsKind, Inode, MOUNT_MAX, Mount, NR_INODES_MAX, Node, ROOT_MOUNT, Vfs};
use crate::errno::{Errno, SysResult};
use crate::object::ObjRef;
use crate::task::Cred;
use crate::uapi::cap;

/// The entries `populate_bpffs` pins into every new instance with `CONFIG_BPF_PRELOAD`.
pub const PRELOAD_ENTRIES: [&str; 2] = ["maps.debug", "progs.debug"];

/// `S_IRUSR`: the mode `bpf_iter_link_pin_kernel` gives the preloaded entries.
const PRELOAD_MODE: u32 = 0o400;

impl Vfs {
    /// `may_mount`: `CAP_SYS_ADMIN`, else `EPERM`.
    fn may_mount(cred: &Cred) -> SysResult<()> {
        if cred.caps.has(cap::SYS_ADMIN) {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// `lock_mount` + `graft_tree`/`attach_recursive_mnt`: a removed directory cannot be
    /// mounted on (`cant_mount`, `ENOENT`); a directory mountpoint for a directory root
    /// (`ENOTDIR`; bind mounts of files are not modeled and are `ENOTDIR` too); at most
    /// [`MOUNT_MAX`] mounts (`ENOSPC`).
    fn check_graft(&self, target: Loc, root_is_dir: bool) -> SysResult<()> {
        if self.is_dir(target.ino) && self.inode(target.ino).links == 0 {
            return Err(Errno::ENOENT);
        }
        if !self.is_dir(target.ino) || !root_is_dir {
            return Err(Errno::ENOTDIR);
        }
        if self.mounts.len() >= MOUNT_MAX {
            return Err(Errno::ENOSPC);
        }
        Ok(())
    }

    /// Attaches a mount on top of `target` (already crossed to the topmost mount, as
    /// `lock_mount` does) and returns its id.
    fn attach(&mut self, target: Loc, fs: FsKind, root: u32) -> u32 {
        let id = self.next_mount;
        self.next_mount += 1;
        self.mounts.insert(
            id,
            Mount {
                fs,
                root,
                parent: Some(target.mnt),
                mountpoint: target.ino,
            },
        );
        id
    }

    /// `mount -t bpf none target [-o mode=…]` (`do_mount` → `path_mount` →
    /// `do_new_mount`): the target walk (symlinks followed) fails first; then `EPERM`
    /// without `CAP_SYS_ADMIN`; a non-directory target is `ENOTDIR`. Every call creates a
    /// new, empty instance (`get_tree_nodev`) whose root is `S_ISVTX | mode` (default 0777)
    /// owned by the mounter (`bpf_fill_super`); with preload it holds `maps.debug` and
    /// `progs.debug` (mode 0400, owned by the mounter). Mounting on a mountpoint stacks on
    /// top. Returns the instance number.
    pub fn mount_bpffs(&mut self, cred: &Cred, target: &str, mode: Option<u32>) -> SysResult<u32> {
        let target = self.walk(cred, None, target, true)?;
        Self::may_mount(cred)?;
        let target = self.cross(target);
        self.check_graft(target, true)?;
        let extra = if self.preload {
            PRELOAD_ENTRIES.len()
        } else {
            0
        };
        if self.inodes.len() - self.free.len() + 1 + extra > NR_INODES_MAX {
            return Err(Errno::ENOSPC);
        }
        let instance = self.next_instance;
        self.next_instance += 1;
        let fs = FsKind::Bpf { instance };
        let root = self.alloc_raw(Inode {
            node: Node::Dir {
                children: BTreeMap::new(),
                order: Vec::new(),
                parent: 0,
            },
            mode: S_ISVTX | (mode.unwrap_or(0o777) & S_IALLUGO),
            uid: cred.uid,
            gid: cred.gid,
            links: 1,
            fs,
        });
        if let Node::Dir { parent, .. } = &mut self.inode_mut(root).node {
            *parent = root;
        }
        if self.preload {
            for name in PRELOAD_ENTRIES {
                let ino = self.alloc_raw(Inode {
                    node: Node::IterLink,
                    mode: PRELOAD_MODE,
                    uid: cred.uid,
                    gid: cred.gid,
                    links: 0,
                    fs,
                });
                self.add_entry(root, name, ino);
            }
        }
        self.attach(target, fs, root);
        Ok(instance)
    }

    /// `mount --bind source target` (`do_loopback`, not recursive): target walk, `EPERM`
    /// without `CAP_SYS_ADMIN`, source walk (symlinks followed), `ENOTDIR` unless both are
    /// directories. The new mount shares the source's filesystem and shows its subtree
    /// (without the mounts below it), stacked on top of the target.
    pub fn bind_mount(&mut self, cred: &Cred, source: &str, target: &str) -> SysResult<()> {
        let target = self.walk(cred, None, target, true)?;
        Self::may_mount(cred)?;
        let src = self.walk(cred, None, source, true)?;
        let target = self.cross(target);
        self.check_graft(target, self.is_dir(src.ino))?;
        let fs = self.inode(src.ino).fs;
        self.attach(target, fs, src.ino);
        Ok(())
    }

    /// `umount(2)` (`path_umount` → `do_umount`): target walk (symlinks followed); `EPERM`
    /// without `CAP_SYS_ADMIN`; `EINVAL` if the target is not the root of the mount it
    /// resolves to; the namespace root is `EBUSY` (the kernel would try a read-only remount);
    /// `EBUSY` while a mount sits inside this one (stacked on its root or nested below) or an
    /// `O_PATH` handle opened through it is open (`propagate_mount_busy`). Removes the topmost
    /// mount at the target. When it was the last mount of a bpffs instance, `bpf_kill_super`
    /// → `kill_litter_super` destroys every inode of the instance; the object of every pin
    /// inode (once per inode, in inode order) is returned for the caller to put.
    pub fn umount(&mut self, cred: &Cred, target: &str) -> SysResult<Vec<ObjRef>> {
        let loc = self.walk(cred, None, target, true)?;
        Self::may_mount(cred)?;
        let m = &self.mounts[&loc.mnt];
        if loc.ino != m.root {
            return Err(Errno::EINVAL);
        }
        if loc.mnt == ROOT_MOUNT {
            return Err(Errno::EBUSY);
        }
        let busy = self.mounts.values().any(|c| c.parent == Some(loc.mnt))
            || self.handles.keys().any(|h| h.mount == loc.mnt);
        if busy {
            return Err(Errno::EBUSY);
        }
        let m = self.mounts.remove(&loc.mnt).expect("vfs: mount vanished");
        match m.fs {
            FsKind::Bpf { .. } if !self.mounts.values().any(|o| o.fs == m.fs) => {
                Ok(self.kill_super(m.fs))
            }
            _ => {
                let freed = self.maybe_free(m.root);
                debug_assert!(freed.is_none());
                Ok(Vec::new())
            }
        }
    }

    /// `kill_litter_super`: destroys every inode of filesystem `fs`, returning the objects of
    /// the pins among them in inode order (`bpf_free_inode` puts each).
    fn kill_super(&mut self, fs: FsKind) -> Vec<ObjRef> {
        let mut objs = Vec::new();
        for ino in 0..self.inodes.len() {
            let Some(inode) = &self.inodes[ino] else {
                continue;
            };
            if inode.fs != fs {
                continue;
            }
            if let Node::Pin(obj) = inode.node {
                objs.push(obj);
            }
            self.inodes[ino] = None;
            self.free.push(ino as u32);
        }
        objs
    }
}

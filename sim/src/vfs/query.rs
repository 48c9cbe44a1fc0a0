//! Read-only views and directory handles: `stat`, `getdents`, `O_PATH` opens, the pin and
//! mount listings, and the invariant check.

use std::collections::BTreeMap;

use super::path::Loc;
use super::perm::MAY_READ;
use super::{DirHandle, Ino, MountInfo, Node, PinInfo, ROOT_MOUNT, Stat, Vfs};
use crate::errno::{Errno, SysResult};
use crate::task::Cred;

impl Vfs {
    /// `stat(2)` (`vfs_statx` with `LOOKUP_FOLLOW`): walk errors only; no permission on the
    /// file itself. A mountpoint shows the mounted root.
    pub fn stat(&self, cred: &Cred, path: &str) -> SysResult<Stat> {
        let loc = self.walk(cred, None, path, true)?;
        Ok(self.stat_of(loc.ino))
    }

    /// `lstat(2)`: like [`Vfs::stat`] but a symlink in the last component is not followed
    /// (unless a slash trails it).
    pub fn lstat(&self, cred: &Cred, path: &str) -> SysResult<Stat> {
        let loc = self.walk(cred, None, path, false)?;
        Ok(self.stat_of(loc.ino))
    }

    /// `open(O_RDONLY|O_DIRECTORY)` + `getdents64`: walk (symlinks followed); a
    /// non-directory is `ENOTDIR`; no read permission is `EACCES` (`may_open`). Entries come
    /// newest first, as `dcache_readdir` walks `d_children` (a renamed entry counts as new),
    /// without `.` and `..`; each entry's `Stat` is of the inode the
    /// directory names (a mountpoint's own inode, as `d_ino`/`d_type` report).
    pub fn readdir(&self, cred: &Cred, path: &str) -> SysResult<Vec<(String, Stat)>> {
        let loc = self.walk(cred, None, path, true)?;
        if !self.is_dir(loc.ino) {
            return Err(Errno::ENOTDIR);
        }
        self.permission(cred, loc.ino, MAY_READ)?;
        let Node::Dir {
            children, order, ..
        } = &self.inode(loc.ino).node
        else {
            unreachable!("checked to be a directory");
        };
        Ok(order
            .iter()
            .rev()
            .map(|name| (name.clone(), self.stat_of(children[name])))
            .collect())
    }

    /// `open(path, O_PATH|O_DIRECTORY)`, the fd `BPF_F_PATH_FD` takes: walk (symlinks
    /// followed); a non-directory is `ENOTDIR`; `O_PATH` checks no permission on the
    /// directory itself. The handle keeps the inode alive (even after `rmdir`) and its mount
    /// busy until [`Vfs::close_dir`].
    pub fn open_dir(&mut self, cred: &Cred, path: &str) -> SysResult<DirHandle> {
        let loc = self.walk(cred, None, path, true)?;
        if !self.is_dir(loc.ino) {
            return Err(Errno::ENOTDIR);
        }
        let h = DirHandle {
            mount: loc.mnt,
            ino: loc.ino,
        };
        *self.handles.entry(h).or_insert(0) += 1;
        Ok(h)
    }

    /// The last `close()` of one open of a handle (`fput` → `path_put`): the mount is no
    /// longer busy because of it, and a removed directory nothing else holds is freed. A
    /// handle that is not open is ignored.
    pub fn close_dir(&mut self, h: DirHandle) {
        let Some(count) = self.handles.get_mut(&h) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            self.handles.remove(&h);
            let freed = self.maybe_free(h.ino);
            debug_assert!(freed.is_none());
        }
    }

    /// Every live pin inode with every absolute path reaching it through the current mounts
    /// (hard links, bind mounts), sorted by inode. Walks the visible tree from `/`, crossing
    /// mounts and not following symlinks.
    pub fn pins(&self) -> Vec<PinInfo> {
        let mut paths: BTreeMap<Ino, Vec<String>> = BTreeMap::new();
        let mut stack = vec![(self.root_loc(), String::new())];
        while let Some((loc, prefix)) = stack.pop() {
            for (name, &child) in self.children(loc.ino) {
                let path = format!("{prefix}/{name}");
                let l = self.cross(Loc {
                    mnt: loc.mnt,
                    ino: child,
                });
                match self.inode(l.ino).node {
                    Node::Pin(_) => paths.entry(l.ino).or_default().push(path),
                    Node::Dir { .. } => stack.push((l, path)),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for (ino, slot) in self.inodes.iter().enumerate() {
            let Some(inode) = slot else { continue };
            let Node::Pin(obj) = inode.node else { continue };
            let ino = ino as Ino;
            let mut p = paths.remove(&ino).unwrap_or_default();
            p.sort();
            out.push(PinInfo {
                ino,
                obj,
                paths: p,
                uid: inode.uid,
                mode: inode.mode,
            });
        }
        out
    }

    /// The mounts made after boot, in mount order, each with its mountpoint path computed
    /// from the mount tree (`d_path`, whether or not it is covered).
    pub fn mounts(&self) -> Vec<MountInfo> {
        self.mounts
            .iter()
            .filter(|&(&id, _)| id != ROOT_MOUNT)
            .map(|(&id, m)| MountInfo {
                id,
                path: self.mount_path(id),
                fs: m.fs,
            })
            .collect()
    }

    /// The absolute path of mount `id`'s mountpoint.
    fn mount_path(&self, mut id: u32) -> String {
        let mut parts: Vec<String> = Vec::new();
        while let Some(parent) = self.mounts[&id].parent {
            let m = &self.mounts[&id];
            parts.extend(self.rel_path(m.mountpoint, self.mounts[&parent].root));
            id = parent;
        }
        if parts.is_empty() {
            return "/".to_string();
        }
        parts.reverse();
        parts.iter().map(|p| format!("/{p}")).collect()
    }

    /// Names from directory `ino` up to (not including) `root`, innermost first.
    fn rel_path(&self, mut ino: Ino, root: Ino) -> Vec<String> {
        let mut names = Vec::new();
        while ino != root {
            let parent = self.parent_of(ino);
            if parent == ino {
                break;
            }
            let name = self
                .children(parent)
                .iter()
                .find(|&(_, &c)| c == ino)
                .map(|(n, _)| n.clone());
            names.push(name.unwrap_or_else(|| "(deleted)".to_string()));
            ino = parent;
        }
        names
    }

    /// Checks the model's own invariants and panics on a violation (our bug, never the
    /// caller's): link counts match the directory entries, parent pointers match, the free
    /// list matches the empty slots, mounts and handles point at live directories of the
    /// right filesystem, and no unreferenced inode leaked.
    pub fn check_invariants(&self) {
        let mut names: BTreeMap<Ino, u32> = BTreeMap::new();
        for (ino, slot) in self.inodes.iter().enumerate() {
            let Some(inode) = slot else {
                assert!(
                    self.free.contains(&(ino as Ino)),
                    "vfs: empty slot {ino} not free"
                );
                continue;
            };
            if let Node::Dir {
                children,
                order,
                parent,
            } = &inode.node
            {
                let mut sorted = order.clone();
                sorted.sort();
                assert!(
                    sorted.iter().eq(children.keys()),
                    "vfs: entry order of {ino} is not its entries"
                );
                if *parent == ino as Ino {
                    *names.entry(ino as Ino).or_default() += 1;
                }
                for (name, &c) in children {
                    let child = self.inodes[c as usize].as_ref();
                    let child = child.unwrap_or_else(|| panic!("vfs: {name} -> freed {c}"));
                    assert_eq!(child.fs, inode.fs, "vfs: {name} crosses filesystems");
                    if let Node::Dir { parent, .. } = child.node {
                        assert_eq!(parent, ino as Ino, "vfs: bad parent of {name}");
                    }
                    *names.entry(c).or_default() += 1;
                }
            }
        }
        for &f in &self.free {
            assert!(
                self.inodes[f as usize].is_none(),
                "vfs: free slot {f} in use"
            );
        }
        for (ino, slot) in self.inodes.iter().enumerate() {
            let Some(inode) = slot else { continue };
            let ino = ino as Ino;
            let n = names.get(&ino).copied().unwrap_or(0);
            let dead_dir = inode.is_dir() && inode.links == 0;
            assert!(
                n == inode.links || dead_dir,
                "vfs: inode {ino} links {} vs {n}",
                inode.links
            );
            let held = self.handles.keys().any(|h| h.ino == ino)
                || self.mounts.values().any(|m| m.root == ino);
            assert!(inode.links > 0 || held, "vfs: inode {ino} leaked");
        }
        for (id, m) in &self.mounts {
            let root = self.inode(m.root);
            assert!(root.is_dir() && root.fs == m.fs, "vfs: mount {id} root");
            if let Some(parent) = m.parent {
                let mp = self.inode(m.mountpoint);
                assert!(
                    mp.is_dir() && mp.fs == self.mounts[&parent].fs,
                    "vfs: mount {id} mountpoint"
                );
            }
        }
        for h in self.handles.keys() {
            let m = &self.mounts[&h.mount];
            let inode = self.inode(h.ino);
            assert!(inode.is_dir() && inode.fs == m.fs, "vfs: handle {h:?}");
        }
    }
}

//! The path walk (`fs/namei.c`): `getname`, `link_path_walk`, `walk_component`,
//! `follow_dotdot`, `handle_mounts`/`traverse_mounts`, `filename_parentat`.

use super::perm::{MAY_EXEC, S_IALLUGO};
use super::{DirHandle, FsKind, Ino, Node, Vfs};
use crate::errno::{Errno, SysResult};
use crate::task::Cred;
use crate::uapi::limits::{NAME_MAX, PATH_MAX};

/// `MAXSYMLINKS` (`include/linux/namei.h`): symlinks one walk may follow.
pub const MAXSYMLINKS: u32 = 40;

/// A position in the namespace: the kernel's `struct path` (mount id + inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loc {
    pub mnt: u32,
    pub ino: Ino,
}

/// The type of the last component (`enum last_type`: `LAST_NORM`, `LAST_DOT`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Last {
    /// A real name.
    Norm(String),
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// No component at all (`/`).
    Root,
}

/// What `filename_parentat` returns: the parent directory, the last component and whether
/// slashes followed it (`last.name[last.len] != 0`).
#[derive(Clone, Debug)]
pub(super) struct Parent {
    pub dir: Loc,
    pub last: Last,
    pub trailing_slash: bool,
}

/// `getname()`: the path as a C string (cut at the first NUL); empty → `ENOENT`; `PATH_MAX`
/// bytes or more → `ENAMETOOLONG`.
pub(super) fn getname(path: &str) -> SysResult<&str> {
    let path = path.split('\0').next().unwrap_or("");
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    Ok(path)
}

/// The components of a path, slashes collapsed.
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

impl Vfs {
    /// `path_init`: where a walk of `path` starts — the namespace root for an absolute path,
    /// else `base` (`BPF_F_PATH_FD`) or the cwd, which is `/` in this model. A base that is not
    /// an open directory handle is `EBADF` (`fdget` failing).
    fn start(&self, base: Option<DirHandle>, path: &str) -> SysResult<Loc> {
        if path.starts_with('/') {
            return Ok(self.root_loc());
        }
        match base {
            None => Ok(self.root_loc()),
            Some(h) if self.handles.contains_key(&h) => Ok(Loc {
                mnt: h.mount,
                ino: h.ino,
            }),
            Some(_) => Err(Errno::EBADF),
        }
    }

    /// `may_lookup`: search (`MAY_EXEC`) permission on a directory being walked.
    fn may_lookup(&self, cred: &Cred, dir: Loc) -> SysResult<()> {
        self.permission(cred, dir.ino, MAY_EXEC)
    }

    /// `traverse_mounts`: while something is mounted on `loc`, go to the root of the topmost
    /// (most recent) such mount.
    pub(super) fn cross(&self, mut loc: Loc) -> Loc {
        while let Some((&id, m)) = self
            .mounts
            .iter()
            .rev()
            .find(|(_, m)| m.parent == Some(loc.mnt) && m.mountpoint == loc.ino)
        {
            loc = Loc {
                mnt: id,
                ino: m.root,
            };
        }
        loc
    }

    /// Whether `anc` is `ino` or one of its ancestors in the dentry tree (`is_subdir`).
    pub(super) fn is_subdir(&self, mut ino: Ino, anc: Ino) -> bool {
        loop {
            if ino == anc {
                return true;
            }
            let parent = self.parent_of(ino);
            if parent == ino {
                return false;
            }
            ino = parent;
        }
    }

    /// `follow_dotdot` + `step_into`: `..` stays at the namespace root; at a mount root it
    /// first climbs to the mountpoint (`choose_mountpoint`); then takes the parent and crosses
    /// whatever is mounted there. Leaving a bind mount's subtree is `ENOENT`
    /// (`path_connected`).
    fn dotdot(&self, cur: Loc) -> SysResult<Loc> {
        let root = self.root_loc();
        if cur == root {
            return Ok(self.cross(cur));
        }
        let mut loc = cur;
        if loc.ino == self.mounts[&loc.mnt].root {
            let mut m = loc.mnt;
            let mut found = None;
            while let Some(parent) = self.mounts[&m].parent {
                let mp = self.mounts[&m].mountpoint;
                m = parent;
                if (Loc { mnt: m, ino: mp }) == root {
                    break;
                }
                if mp != self.mounts[&m].root {
                    found = Some(Loc { mnt: m, ino: mp });
                    break;
                }
            }
            match found {
                Some(l) => loc = l,
                None => return Ok(self.cross(cur)),
            }
        }
        let parent = self.parent_of(loc.ino);
        let mnt_root = self.mounts[&loc.mnt].root;
        let sb_root = self.parent_of(mnt_root) == mnt_root;
        if !sb_root && !self.is_subdir(parent, mnt_root) {
            return Err(Errno::ENOENT);
        }
        Ok(self.cross(Loc {
            mnt: loc.mnt,
            ino: parent,
        }))
    }

    /// The directory's `->lookup` after a dcache miss, for an existing directory `dir`:
    /// `Some` for an existing entry, `None` for a negative one. A removed directory is
    /// `ENOENT` (`IS_DEADDIR`); in bpffs a name with a `.` is `EPERM` unless the directory's
    /// mode is 0 (`bpf_lookup`); a name longer than `NAME_MAX` is `ENAMETOOLONG`
    /// (`simple_lookup`).
    pub(super) fn lookup_child(&self, dir: Ino, name: &str) -> SysResult<Option<Ino>> {
        if let Some(&ino) = self.children(dir).get(name) {
            return Ok(Some(ino));
        }
        let d = self.inode(dir);
        if d.links == 0 {
            return Err(Errno::ENOENT);
        }
        if matches!(d.fs, FsKind::Bpf { .. }) && d.mode & S_IALLUGO != 0 && name.contains('.') {
            return Err(Errno::EPERM);
        }
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok(None)
    }

    /// `walk_component` for one component of a directory being walked, mounts crossed.
    fn step(&self, cur: Loc, comp: &str) -> SysResult<Loc> {
        match comp {
            "." => Ok(cur),
            ".." => self.dotdot(cur),
            name => match self.lookup_child(cur.ino, name)? {
                Some(ino) => Ok(self.cross(Loc { mnt: cur.mnt, ino })),
                None => Err(Errno::ENOENT),
            },
        }
    }

    /// `pick_link`: follows the symlink found at `link` in directory `dir`. The 41st link of
    /// one walk is `ELOOP`; a relative target resolves against `dir`, an absolute one against
    /// the namespace root; the target's own last component is always followed.
    fn follow_link(&self, cred: &Cred, dir: Loc, link: Loc, links: &mut u32) -> SysResult<Loc> {
        if *links >= MAXSYMLINKS {
            return Err(Errno::ELOOP);
        }
        *links += 1;
        let Node::Symlink(target) = &self.inode(link.ino).node else {
            panic!("vfs: follow_link on a non-symlink");
        };
        self.walk_from(cred, dir, target, true, links)
    }

    /// `link_path_walk` over intermediate components: each must end on a directory
    /// (symlinks followed), else `ENOTDIR`.
    fn walk_dirs(
        &self,
        cred: &Cred,
        mut cur: Loc,
        comps: &[&str],
        links: &mut u32,
    ) -> SysResult<Loc> {
        for comp in comps {
            self.may_lookup(cred, cur)?;
            let mut next = self.step(cur, comp)?;
            if matches!(self.inode(next.ino).node, Node::Symlink(_)) {
                next = self.follow_link(cred, cur, next, links)?;
            }
            if !self.is_dir(next.ino) {
                return Err(Errno::ENOTDIR);
            }
            cur = next;
        }
        Ok(cur)
    }

    /// `path_lookupat` from `start`: the last component is followed if it is a symlink and
    /// `follow` is set or a slash trails it; a trailing slash also demands a directory
    /// (`LOOKUP_DIRECTORY`, `ENOTDIR`).
    fn walk_from(
        &self,
        cred: &Cred,
        start: Loc,
        path: &str,
        follow: bool,
        links: &mut u32,
    ) -> SysResult<Loc> {
        let cur = if path.starts_with('/') {
            self.root_loc()
        } else {
            start
        };
        let comps = components(path);
        let Some((last, init)) = comps.split_last() else {
            return Ok(cur);
        };
        let dir = self.walk_dirs(cred, cur, init, links)?;
        self.may_lookup(cred, dir)?;
        let trailing = path.ends_with('/');
        let mut loc = self.step(dir, last)?;
        if (follow || trailing) && matches!(self.inode(loc.ino).node, Node::Symlink(_)) {
            loc = self.follow_link(cred, dir, loc, links)?;
        }
        if trailing && !self.is_dir(loc.ino) {
            return Err(Errno::ENOTDIR);
        }
        Ok(loc)
    }

    /// `user_path_at(base, path, follow ? LOOKUP_FOLLOW : 0)`.
    pub(super) fn walk(
        &self,
        cred: &Cred,
        base: Option<DirHandle>,
        path: &str,
        follow: bool,
    ) -> SysResult<Loc> {
        let path = getname(path)?;
        let start = self.start(base, path)?;
        self.walk_from(cred, start, path, follow, &mut 0)
    }

    /// `filename_parentat`: walks to the directory holding the last component (search
    /// permission on it included) and classifies that component.
    pub(super) fn walk_parent(
        &self,
        cred: &Cred,
        base: Option<DirHandle>,
        path: &str,
    ) -> SysResult<Parent> {
        let path = getname(path)?;
        let start = self.start(base, path)?;
        let cur = if path.starts_with('/') {
            self.root_loc()
        } else {
            start
        };
        let comps = components(path);
        let Some((last, init)) = comps.split_last() else {
            return Ok(Parent {
                dir: cur,
                last: Last::Root,
                trailing_slash: false,
            });
        };
        let dir = self.walk_dirs(cred, cur, init, &mut 0)?;
        self.may_lookup(cred, dir)?;
        let last = match *last {
            "." => Last::Dot,
            ".." => Last::DotDot,
            name => Last::Norm(name.to_string()),
        };
        Ok(Parent {
            dir,
            last,
            trailing_slash: path.ends_with('/'),
        })
    }
}

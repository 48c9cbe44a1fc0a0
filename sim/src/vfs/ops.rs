//! Namespace operations (`fs/namei.c`, `fs/open.c`, `fs/attr.c`) and the path half of
//! `BPF_OBJ_PIN`/`BPF_OBJ_GET` (`kernel/bpf/inode.c`).

use super::path::{Last, Loc, getname};
use super::perm::{
    CAP_CHOWN, MAY_READ, MAY_WRITE, S_IALLUGO, S_ISGID, S_ISUID, S_ISVTX, S_IXGRP,
    in_group_or_capable, owner_or_capable,
};
use super::{Access, DirHandle, FsKind, Ino, Node, Vfs};
use crate::errno::{Errno, SysResult};
use crate::object::ObjRef;
use crate::task::Cred;

impl Access {
    /// `ACC_MODE()`: the `MAY_*` mask `path_permission` checks.
    fn mask(self) -> u32 {
        match self {
            Access::Read => MAY_READ,
            Access::Write => MAY_WRITE,
            Access::ReadWrite => MAY_READ | MAY_WRITE,
        }
    }
}

impl Vfs {
    /// Whether a mount sits on `ino` in this namespace (`is_local_mountpoint`).
    pub(super) fn is_mountpoint(&self, ino: Ino) -> bool {
        self.mounts
            .values()
            .any(|m| m.parent.is_some() && m.mountpoint == ino)
    }

    /// `filename_create`: walks to the parent; a last component that is not a plain name
    /// (`.`, `..`, `/`) is `EEXIST`; the lookup's own errors (bpffs dotted name `EPERM`,
    /// `ENAMETOOLONG`, removed directory `ENOENT`); an existing name (symlinks not followed)
    /// is `EEXIST`; a trailing slash on a new name is `ENOENT` unless a directory is being
    /// made.
    fn create_at(
        &self,
        cred: &Cred,
        base: Option<DirHandle>,
        path: &str,
        want_dir: bool,
    ) -> SysResult<(Loc, String)> {
        let p = self.walk_parent(cred, base, path)?;
        let Last::Norm(name) = p.last else {
            return Err(Errno::EEXIST);
        };
        if self.lookup_child(p.dir.ino, &name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        if p.trailing_slash && !want_dir {
            return Err(Errno::ENOENT);
        }
        Ok((p.dir, name))
    }

    /// `mkdir(2)` (`do_mkdirat` → `vfs_mkdir` → `bpf_mkdir`/`shmem_mkdir`): `filename_create`
    /// errors, then `may_create` (`EACCES`); mode `mode & ~umask & 01777`, plus `S_ISGID`
    /// and the group inherited from a set-gid parent.
    pub fn mkdir(
        &mut self,
        cred: &Cred,
        base: Option<DirHandle>,
        path: &str,
        mode: u32,
    ) -> SysResult<()> {
        let (dir, name) = self.create_at(cred, base, path, true)?;
        self.may_create(cred, dir.ino)?;
        let mode = mode & !cred.umask & (S_ISVTX | 0o777);
        let ino = self.new_inode(cred, dir.ino, Node::empty_dir(), mode)?;
        self.add_entry(dir.ino, &name, ino);
        Ok(())
    }

    /// `rmdir(2)` (`do_rmdir` → `vfs_rmdir` → `simple_rmdir`): last component `..` is
    /// `ENOTEMPTY`, `.` `EINVAL`, `/` `EBUSY`; lookup errors; missing `ENOENT`; `may_delete`
    /// (`EACCES`, sticky `EPERM`, non-directory `ENOTDIR`); a mountpoint is `EBUSY`; a
    /// non-empty directory `ENOTEMPTY`. A removed directory that is still open (or a bind
    /// mount's root) lives on, empty and dead.
    pub fn rmdir(&mut self, cred: &Cred, base: Option<DirHandle>, path: &str) -> SysResult<()> {
        let p = self.walk_parent(cred, base, path)?;
        let name = match p.last {
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Dot => return Err(Errno::EINVAL),
            Last::Root => return Err(Errno::EBUSY),
            Last::Norm(name) => name,
        };
        let victim = self.lookup_child(p.dir.ino, &name)?.ok_or(Errno::ENOENT)?;
        self.may_delete(cred, p.dir.ino, victim, true)?;
        if self.is_mountpoint(victim) {
            return Err(Errno::EBUSY);
        }
        if !self.children(victim).is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let freed = self.remove_entry(p.dir.ino, &name);
        debug_assert!(freed.is_none());
        Ok(())
    }

    /// `BPF_OBJ_PIN` steps 3–5 (`bpf_obj_do_pin`), in the kernel's order:
    /// `user_path_create` errors first (walk errors, `EEXIST` for any existing name or a
    /// `.`/`..`/`/` last component, bpffs dotted name `EPERM`, trailing slash `ENOENT`); then a
    /// parent that is not a bpffs directory is `EPERM` (`dir->i_op != &bpf_dir_iops`); then
    /// `vfs_mkobj` → `may_create` (`EACCES`). The pin is `S_IFREG | (0600 & ~umask)`, owned
    /// by the caller, one link; it stores `obj` (the caller's reference moves into it).
    /// Returns the new pin inode.
    pub fn pin(
        &mut self,
        cred: &Cred,
        base: Option<DirHandle>,
        path: &str,
        obj: ObjRef,
    ) -> SysResult<Ino> {
        let (dir, name) = self.create_at(cred, base, path, false)?;
        if !matches!(self.inode(dir.ino).fs, FsKind::Bpf { .. }) {
            return Err(Errno::EPERM);
        }
        self.may_create(cred, dir.ino)?;
        let ino = self.new_inode(cred, dir.ino, Node::Pin(obj), 0o600 & !cred.umask)?;
        self.add_entry(dir.ino, &name, ino);
        Ok(ino)
    }

    /// The path part of `BPF_OBJ_GET` (`bpf_obj_do_get`): walk with `LOOKUP_FOLLOW` (walk
    /// errors, missing `ENOENT`); `path_permission(ACC_MODE)` (`EACCES`); an inode that is
    /// not a bpf object is `EACCES` (`bpf_inode_type`). The kernel-created iterator links are
    /// `EACCES` too: links are not modeled yet (the kernel would return a link fd).
    pub fn get(
        &self,
        cred: &Cred,
        base: Option<DirHandle>,
        path: &str,
        access: Access,
    ) -> SysResult<ObjRef> {
        let loc = self.walk(cred, base, path, true)?;
        self.permission(cred, loc.ino, access.mask())?;
        match self.inode(loc.ino).node {
            Node::Pin(obj) => Ok(obj),
            _ => Err(Errno::EACCES),
        }
    }

    /// `unlink(2)` (`do_unlinkat` → `vfs_unlink` → `simple_unlink`): last component not a
    /// plain name is `EISDIR`; lookup errors; missing `ENOENT`; a trailing slash is `EISDIR`
    /// on a directory and `ENOTDIR` otherwise; `may_delete` (`EACCES`, sticky `EPERM`,
    /// directory `EISDIR`). Returns the pin's object when its last link went (`evict` →
    /// `bpf_free_inode`).
    pub fn unlink(
        &mut self,
        cred: &Cred,
        base: Option<DirHandle>,
        path: &str,
    ) -> SysResult<Option<ObjRef>> {
        let p = self.walk_parent(cred, base, path)?;
        let Last::Norm(name) = p.last else {
            return Err(Errno::EISDIR);
        };
        let victim = self.lookup_child(p.dir.ino, &name)?.ok_or(Errno::ENOENT)?;
        if p.trailing_slash {
            return Err(if self.is_dir(victim) {
                Errno::EISDIR
            } else {
                Errno::ENOTDIR
            });
        }
        self.may_delete(cred, p.dir.ino, victim, false)?;
        Ok(self.remove_entry(p.dir.ino, &name))
    }

    /// `link(2)` (`do_linkat`, no `AT_SYMLINK_FOLLOW`): walk of `old` without following its
    /// last symlink; `filename_create(new)` errors; different mounts `EXDEV` (even two bind
    /// mounts of one instance); `may_create` (`EACCES`); a directory source `EPERM`.
    pub fn link(&mut self, cred: &Cred, old: &str, new: &str) -> SysResult<()> {
        let src = self.walk(cred, None, old, false)?;
        let (dir, name) = self.create_at(cred, None, new, false)?;
        if src.mnt != dir.mnt {
            return Err(Errno::EXDEV);
        }
        self.may_create(cred, dir.ino)?;
        if self.inode(dir.ino).fs != self.inode(src.ino).fs {
            return Err(Errno::EXDEV);
        }
        if self.is_dir(src.ino) {
            return Err(Errno::EPERM);
        }
        self.add_entry(dir.ino, &name, src.ino);
        Ok(())
    }

    /// `child` of `anc` on the way down to `ino`, when `anc` is a proper ancestor of `ino`
    /// (the `trap` of `lock_rename`).
    fn trap_child(&self, anc: Ino, mut ino: Ino) -> Option<Ino> {
        loop {
            let parent = self.parent_of(ino);
            if parent == anc {
                return Some(ino);
            }
            if parent == ino {
                return None;
            }
            ino = parent;
        }
    }

    /// `rename(2)` (`do_renameat2` → `vfs_rename` → `simple_rename`/`shmem_rename2`), in
    /// the kernel's order: both parent walks; different mounts `EXDEV`; `.`/`..`/`/` as either
    /// last component `EBUSY`; old lookup (bpffs dotted `EPERM`, missing `ENOENT`); new lookup
    /// (bpffs dotted `EPERM`); a trailing slash with a non-directory source `ENOTDIR`; moving
    /// a directory under itself `EINVAL`; a target that is an ancestor of the source
    /// `ENOTEMPTY`; same inode → success, nothing changes; `may_delete(old)` (`EACCES`, sticky
    /// `EPERM`); `may_create`/`may_delete(new)` (`EACCES`, sticky `EPERM`, dir over non-dir
    /// `ENOTDIR`, non-dir over dir `EISDIR`); a directory changing parent needs write
    /// permission on itself (`EACCES`); mountpoints `EBUSY`; a non-empty target directory
    /// `ENOTEMPTY`. Returns the object of a replaced pin whose last link went.
    pub fn rename(&mut self, cred: &Cred, old: &str, new: &str) -> SysResult<Option<ObjRef>> {
        let op = self.walk_parent(cred, None, old)?;
        let np = self.walk_parent(cred, None, new)?;
        if op.dir.mnt != np.dir.mnt {
            return Err(Errno::EXDEV);
        }
        let (Last::Norm(oname), Last::Norm(nname)) = (op.last, np.last) else {
            return Err(Errno::EBUSY);
        };
        let (old_dir, new_dir) = (op.dir.ino, np.dir.ino);
        let src = self.lookup_child(old_dir, &oname)?.ok_or(Errno::ENOENT)?;
        let tgt = self.lookup_child(new_dir, &nname)?;
        let is_dir = self.is_dir(src);
        if !is_dir && (op.trailing_slash || np.trailing_slash) {
            return Err(Errno::ENOTDIR);
        }
        if old_dir != new_dir {
            if let Some(trap) = self.trap_child(old_dir, new_dir) {
                if src == trap {
                    return Err(Errno::EINVAL);
                }
            } else if let Some(trap) = self.trap_child(new_dir, old_dir)
                && tgt == Some(trap)
            {
                return Err(Errno::ENOTEMPTY);
            }
        }
        if tgt == Some(src) {
            return Ok(None);
        }
        self.may_delete(cred, old_dir, src, is_dir)?;
        match tgt {
            None => self.may_create(cred, new_dir)?,
            Some(t) => self.may_delete(cred, new_dir, t, is_dir)?,
        }
        if new_dir != old_dir && is_dir {
            self.permission(cred, src, MAY_WRITE)?;
        }
        if self.is_mountpoint(src) || tgt.is_some_and(|t| self.is_mountpoint(t)) {
            return Err(Errno::EBUSY);
        }
        if let Some(t) = tgt
            && self.is_dir(t)
            && !self.children(t).is_empty()
        {
            return Err(Errno::ENOTEMPTY);
        }
        let died = match tgt {
            Some(_) => self.remove_entry(new_dir, &nname),
            None => None,
        };
        self.move_entry(old_dir, &oname, new_dir, &nname);
        Ok(died)
    }

    /// `d_move`: the entry keeps its inode and link count, and a directory its new parent.
    fn move_entry(&mut self, old_dir: Ino, oname: &str, new_dir: Ino, nname: &str) {
        let ino = self.unlink_name(old_dir, oname);
        self.inode_mut(ino).links -= 1;
        self.add_entry(new_dir, nname, ino);
    }

    /// `symlink(2)` (`do_symlinkat` → `vfs_symlink` → `bpf_symlink`/`shmem_symlink`): the
    /// target is read first (empty `ENOENT`, too long `ENAMETOOLONG`) and stored verbatim;
    /// `filename_create(linkpath)` errors; `may_create` (`EACCES`). Mode 0777, any directory
    /// (bpffs has `->symlink`).
    pub fn symlink(&mut self, cred: &Cred, target: &str, linkpath: &str) -> SysResult<()> {
        let target = getname(target)?.to_string();
        let (dir, name) = self.create_at(cred, None, linkpath, false)?;
        self.may_create(cred, dir.ino)?;
        let ino = self.new_inode(cred, dir.ino, Node::Symlink(target), 0o777)?;
        self.add_entry(dir.ino, &name, ino);
        Ok(())
    }

    /// `open(path, O_CREAT|O_EXCL|O_WRONLY, mode)` (`open_last_lookups` → `lookup_open`):
    /// `.`/`..`/`/` last `EEXIST`; trailing slash `EISDIR`; lookup errors; existing name
    /// (not followed) `EEXIST`; `may_o_create` (`EACCES`); a bpffs directory has no
    /// `->create`: `EACCES`. Mode `mode & 07777 & ~umask`, set-gid stripped like
    /// `mode_strip_sgid`.
    pub fn create_file(&mut self, cred: &Cred, path: &str, mode: u32) -> SysResult<()> {
        let p = self.walk_parent(cred, None, path)?;
        let Last::Norm(name) = p.last else {
            return Err(Errno::EEXIST);
        };
        if p.trailing_slash {
            return Err(Errno::EISDIR);
        }
        let dir = p.dir.ino;
        if self.lookup_child(dir, &name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        self.may_create(cred, dir)?;
        let d = self.inode(dir);
        if matches!(d.fs, FsKind::Bpf { .. }) {
            return Err(Errno::EACCES);
        }
        let mut mode = mode & S_IALLUGO & !cred.umask;
        if mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP
            && d.mode & S_ISGID != 0
            && !in_group_or_capable(cred, d.gid)
        {
            mode &= !S_ISGID;
        }
        let ino = self.new_inode(cred, dir, Node::Regular, mode)?;
        self.add_entry(dir, &name, ino);
        Ok(())
    }

    /// `chmod(2)` (`chmod_common` → `setattr_prepare`), symlinks followed: the owner or
    /// `CAP_FOWNER`, else `EPERM`; `S_ISGID` is dropped unless the caller is in the file's
    /// group or has `CAP_FSETID`.
    pub fn chmod(&mut self, cred: &Cred, path: &str, mode: u32) -> SysResult<()> {
        let loc = self.walk(cred, None, path, true)?;
        let inode = self.inode(loc.ino);
        if !owner_or_capable(cred, inode) {
            return Err(Errno::EPERM);
        }
        let mut mode = mode & S_IALLUGO;
        if !in_group_or_capable(cred, inode.gid) {
            mode &= !S_ISGID;
        }
        self.inode_mut(loc.ino).mode = mode;
        Ok(())
    }

    /// `chown(2)` (`chown_common` → `setattr_prepare` `chown_ok`/`chgrp_ok`), symlinks
    /// followed; `u32::MAX` (-1) leaves that id alone. Without `CAP_CHOWN` the owner may only
    /// "change" the uid to itself and the gid to the file's group or its own; else `EPERM`.
    /// A non-directory loses `S_ISUID`, and `S_ISGID` when group-exec is set or the caller
    /// is neither in the group nor `CAP_FSETID` (`setattr_should_drop_sgid`).
    pub fn chown(&mut self, cred: &Cred, path: &str, uid: u32, gid: u32) -> SysResult<()> {
        let loc = self.walk(cred, None, path, true)?;
        let inode = self.inode(loc.ino);
        let owner = cred.uid == inode.uid;
        let chown_cap = cred.caps.has(CAP_CHOWN);
        if uid != u32::MAX && !(owner && uid == inode.uid) && !chown_cap {
            return Err(Errno::EPERM);
        }
        if gid != u32::MAX && !(owner && (gid == inode.gid || gid == cred.gid)) && !chown_cap {
            return Err(Errno::EPERM);
        }
        let drop_sgid = inode.mode & S_ISGID != 0
            && (inode.mode & S_IXGRP != 0 || !in_group_or_capable(cred, inode.gid));
        let is_dir = inode.is_dir();
        let inode = self.inode_mut(loc.ino);
        if uid != u32::MAX {
            inode.uid = uid;
        }
        if gid != u32::MAX {
            inode.gid = gid;
        }
        if !is_dir {
            inode.mode &= !S_ISUID;
            if drop_sgid {
                inode.mode &= !S_ISGID;
            }
        }
        Ok(())
    }
}

//! Permission checks (`fs/namei.c`: `generic_permission`, `may_create`, `may_delete`,
//! `check_sticky`; `fs/attr.c`: `inode_owner_or_capable`, `in_group_or_capable`).

use super::{Ino, Inode, Vfs};
use crate::errno::{Errno, SysResult};
use crate::task::Cred;
use crate::uapi::cap;

/// `MAY_EXEC`.
pub const MAY_EXEC: u32 = 1;
/// `MAY_WRITE`.
pub const MAY_WRITE: u32 = 2;
/// `MAY_READ`.
pub const MAY_READ: u32 = 4;

/// `S_ISUID`.
pub const S_ISUID: u32 = 0o4000;
/// `S_ISGID`.
pub const S_ISGID: u32 = 0o2000;
/// `S_ISVTX`, the sticky bit.
pub const S_ISVTX: u32 = 0o1000;
/// `S_IALLUGO`: every permission, set-id and sticky bit.
pub const S_IALLUGO: u32 = 0o7777;
/// `S_IXGRP`.
pub const S_IXGRP: u32 = 0o010;

pub use crate::uapi::cap::{CHOWN as CAP_CHOWN, FSETID as CAP_FSETID};

/// `acl_permission_check` + `generic_permission`: the owner, group or other class (exactly
/// one applies); then `CAP_DAC_READ_SEARCH` grants reading files and reading/searching
/// directories, `CAP_DAC_OVERRIDE` grants everything on directories and read/write on files
/// (exec only when some exec bit is set). Failure is `EACCES`.
pub fn generic_permission(cred: &Cred, inode: &Inode, mask: u32) -> SysResult<()> {
    let mode = inode.mode;
    let class = if cred.uid == inode.uid {
        mode >> 6
    } else if cred.gid == inode.gid {
        mode >> 3
    } else {
        mode
    };
    if mask & !class & 0o7 == 0 {
        return Ok(());
    }
    let caps = cred.caps;
    if inode.is_dir() {
        if mask & MAY_WRITE == 0 && caps.has(cap::DAC_READ_SEARCH) {
            return Ok(());
        }
        if caps.has(cap::DAC_OVERRIDE) {
            return Ok(());
        }
        return Err(Errno::EACCES);
    }
    if mask == MAY_READ && caps.has(cap::DAC_READ_SEARCH) {
        return Ok(());
    }
    if (mask & MAY_EXEC == 0 || mode & 0o111 != 0) && caps.has(cap::DAC_OVERRIDE) {
        return Ok(());
    }
    Err(Errno::EACCES)
}

/// `inode_owner_or_capable`: the caller owns the inode or has `CAP_FOWNER`.
pub fn owner_or_capable(cred: &Cred, inode: &Inode) -> bool {
    cred.uid == inode.uid || cred.caps.has(cap::FOWNER)
}

/// `in_group_or_capable`: the caller is in group `gid` or has `CAP_FSETID`.
pub fn in_group_or_capable(cred: &Cred, gid: u32) -> bool {
    cred.gid == gid || cred.caps.has(CAP_FSETID)
}

impl Vfs {
    /// `inode_permission` of inode `ino` (`generic_permission`; no fs here has its own).
    pub(super) fn permission(&self, cred: &Cred, ino: Ino, mask: u32) -> SysResult<()> {
        generic_permission(cred, self.inode(ino), mask)
    }

    /// `check_sticky`: in a sticky directory only the entry's owner, the directory's owner
    /// or a `CAP_FOWNER` holder may remove or rename an entry. `true` means denied.
    fn sticky_denies(&self, cred: &Cred, dir: Ino, victim: Ino) -> bool {
        let d = self.inode(dir);
        if d.mode & S_ISVTX == 0 {
            return false;
        }
        let v = self.inode(victim);
        !(cred.uid == v.uid || cred.uid == d.uid || cred.caps.has(cap::FOWNER))
    }

    /// `may_create` for a new entry in `dir` (the caller checked `EEXIST`): a removed
    /// directory is `ENOENT`, then write and search permission on it (`EACCES`).
    pub(super) fn may_create(&self, cred: &Cred, dir: Ino) -> SysResult<()> {
        if self.inode(dir).links == 0 {
            return Err(Errno::ENOENT);
        }
        self.permission(cred, dir, MAY_WRITE | MAY_EXEC)
    }

    /// `may_delete` of the existing entry `victim` of `dir`, in the kernel's order: write and
    /// search permission on `dir` (`EACCES`); the sticky rule (`EPERM`); the type — for
    /// `rmdir`-like callers a non-directory is `ENOTDIR` and a filesystem root `EBUSY`, for
    /// the others a directory is `EISDIR`; a removed `dir` is `ENOENT`.
    pub(super) fn may_delete(
        &self,
        cred: &Cred,
        dir: Ino,
        victim: Ino,
        isdir: bool,
    ) -> SysResult<()> {
        self.permission(cred, dir, MAY_WRITE | MAY_EXEC)?;
        if self.sticky_denies(cred, dir, victim) {
            return Err(Errno::EPERM);
        }
        let v_is_dir = self.is_dir(victim);
        if isdir {
            if !v_is_dir {
                return Err(Errno::ENOTDIR);
            }
            if self.parent_of(victim) == victim {
                return Err(Errno::EBUSY);
            }
        } else if v_is_dir {
            return Err(Errno::EISDIR);
        }
        if self.inode(dir).links == 0 {
            return Err(Errno::ENOENT);
        }
        Ok(())
    }
}

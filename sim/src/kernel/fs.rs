//! Filesystem system calls a process makes around bpffs: `mount -t bpf`, `umount`, `mkdir`,
//! `rmdir`, `unlink`, `link`, `rename`, `symlink`, `chmod`, `chown`, `open(O_CREAT)`. The
//! [`crate::vfs`] does the path work; here the references of destroyed pin inodes are put.

use crate::errno::SysResult;
use crate::kernel::Kernel;
use crate::object::{Holder, ObjRef};
use crate::task::Pid;
use crate::vfs::Stat;

impl Kernel {
    fn cred_of(&self, pid: Pid) -> SysResult<crate::task::Cred> {
        Ok(self.proc(pid)?.cred)
    }

    fn put_pin(&mut self, obj: ObjRef, path: &str) {
        // bpf_destroy_inode -> bpf_any_put: the inode's ino is gone; name it by the path.
        self.obj_put_uref(
            obj,
            Holder::Pin {
                ino: u32::MAX,
                path: path.into(),
            },
        );
    }

    /// `mount -t bpf bpf TARGET`: a new, empty bpffs instance (with `maps.debug` and
    /// `progs.debug` when `CONFIG_BPF_PRELOAD`). Needs `CAP_SYS_ADMIN`.
    pub fn mount_bpffs(&mut self, pid: Pid, target: &str) -> SysResult<u32> {
        let cred = self.cred_of(pid)?;
        self.vfs.mount_bpffs(&cred, target, None)
    }

    /// `mount --bind SOURCE TARGET`: the same instance at a second place.
    pub fn bind_mount(&mut self, pid: Pid, source: &str, target: &str) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        self.vfs.bind_mount(&cred, source, target)
    }

    /// `umount TARGET`: when it was the instance's last mount, every pin in it is destroyed
    /// and its reference put (`bpf_kill_super` -> `kill_litter_super`).
    pub fn umount(&mut self, pid: Pid, target: &str) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        for obj in self.vfs.umount(&cred, target)? {
            self.put_pin(obj, target);
        }
        Ok(())
    }

    /// `mkdir(path, mode)`.
    pub fn mkdir(&mut self, pid: Pid, path: &str, mode: u32) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        self.vfs.mkdir(&cred, None, path, mode)
    }

    /// `rmdir(path)`.
    pub fn rmdir(&mut self, pid: Pid, path: &str) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        self.vfs.rmdir(&cred, None, path)
    }

    /// `unlink(path)`: removing a pin's last link destroys the inode and puts its reference.
    pub fn unlink(&mut self, pid: Pid, path: &str) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        if let Some(obj) = self.vfs.unlink(&cred, None, path)? {
            self.put_pin(obj, path);
        }
        Ok(())
    }

    /// `link(old, new)`: a hard link shares the pin inode (and its one reference).
    pub fn link(&mut self, pid: Pid, old: &str, new: &str) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        self.vfs.link(&cred, old, new)
    }

    /// `rename(old, new)`: replacing a pin's last link destroys it.
    pub fn rename(&mut self, pid: Pid, old: &str, new: &str) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        if let Some(obj) = self.vfs.rename(&cred, old, new)? {
            self.put_pin(obj, new);
        }
        Ok(())
    }

    /// `symlink(target, linkpath)`.
    pub fn symlink(&mut self, pid: Pid, target: &str, linkpath: &str) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        self.vfs.symlink(&cred, target, linkpath)
    }

    /// `chmod(path, mode)`.
    pub fn chmod(&mut self, pid: Pid, path: &str, mode: u32) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        self.vfs.chmod(&cred, path, mode)
    }

    /// `chown(path, uid, gid)`.
    pub fn chown(&mut self, pid: Pid, path: &str, uid: u32, gid: u32) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        self.vfs.chown(&cred, path, uid, gid)
    }

    /// `open(path, O_CREAT)` of a regular file (`EACCES` inside bpffs, which has no `create`).
    pub fn create_file(&mut self, pid: Pid, path: &str, mode: u32) -> SysResult<()> {
        let cred = self.cred_of(pid)?;
        self.vfs.create_file(&cred, path, mode)
    }

    /// `stat(path)` as `pid` sees it.
    pub fn stat(&self, pid: Pid, path: &str) -> SysResult<Stat> {
        self.vfs.stat(&self.proc(pid)?.cred, path)
    }

    /// `readdir(path)` as `pid` sees it: names and stats, sorted.
    pub fn readdir(&self, pid: Pid, path: &str) -> SysResult<Vec<(String, Stat)>> {
        self.vfs.readdir(&self.proc(pid)?.cred, path)
    }
}

//! The raw entry point, `bpf(cmd, attr, size)` (`kernel/bpf/syscall.c __sys_bpf`), and the
//! commands that are not about one object type: ids, pins, info.

use crate::attr::{Attr, off};
use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::mem::UserMem;
use crate::object::{Holder, MapIdx, ObjRef, ProgIdx};
use crate::task::{FileObj, Pid};
use crate::uapi::{cmd, flags::*};
use crate::vfs::Access;

impl Kernel {
    /// `bpf(cmd, attr, size)` as process `pid` makes it. `attr` is the caller's attr memory
    /// (at least `size` bytes, or `EFAULT`); pointers inside it resolve in `mem`. Returns the
    /// syscall's non-negative result (an fd, or 0) or its errno.
    ///
    /// Commands the kernel knows but this model does not implement (links, batches,
    /// ...) return `EOPNOTSUPP`; unknown commands return `EINVAL` as in the kernel.
    pub fn bpf(
        &mut self,
        pid: Pid,
        cmd: u32,
        attr: &mut [u8],
        size: u32,
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        self.syscalls += 1;
        self.last_error.clear();
        self.proc(pid)?;
        let r = self.dispatch(pid, cmd, attr, size, mem);
        if let Err(e) = r {
            if self.last_error.is_empty() {
                self.last_error = format!("{}: {e}", cmd::name(cmd).unwrap_or("bpf"));
            }
        }
        r
    }

    fn dispatch(
        &mut self,
        pid: Pid,
        c: u32,
        user: &mut [u8],
        size: u32,
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        let a = Attr::copy_in(user, size)?;
        let size = a.size();
        match c {
            cmd::MAP_CREATE => self.sys_map_create(pid, &a),
            cmd::MAP_LOOKUP_ELEM => self.sys_map_lookup_elem(pid, &a, mem),
            cmd::MAP_UPDATE_ELEM => self.sys_map_update_elem(pid, &a, mem),
            cmd::MAP_DELETE_ELEM => self.sys_map_delete_elem(pid, &a, mem),
            cmd::MAP_GET_NEXT_KEY => self.sys_map_get_next_key(pid, &a, mem),
            cmd::MAP_LOOKUP_AND_DELETE_ELEM => self.sys_map_lookup_and_delete_elem(pid, &a, mem),
            cmd::MAP_FREEZE => self.sys_map_freeze(pid, &a),
            cmd::OBJ_PIN => self.sys_obj_pin(pid, &a, mem),
            cmd::OBJ_GET => self.sys_obj_get(pid, &a, mem),
            cmd::MAP_GET_FD_BY_ID => self.sys_map_get_fd_by_id(pid, &a),
            cmd::PROG_GET_FD_BY_ID => self.sys_prog_get_fd_by_id(pid, &a),
            // The commands that write results back into the caller's attr read the kernel's
            // own copy of it.
            cmd::PROG_LOAD => {
                let copy = a.owned();
                self.sys_prog_load(pid, &Attr::of_owned(&copy, size), user, mem)
            }
            cmd::BTF_LOAD => {
                let copy = a.owned();
                self.sys_btf_load(pid, &Attr::of_owned(&copy, size), user, mem)
            }
            cmd::BTF_GET_FD_BY_ID => self.sys_btf_get_fd_by_id(pid, &a),
            cmd::MAP_GET_NEXT_ID | cmd::PROG_GET_NEXT_ID | cmd::BTF_GET_NEXT_ID => {
                let copy = a.owned();
                self.sys_get_next_id(pid, c, &Attr::of_owned(&copy, size), user)
            }
            cmd::OBJ_GET_INFO_BY_FD => {
                let copy = a.owned();
                self.sys_obj_get_info_by_fd(pid, &Attr::of_owned(&copy, size), user, mem)
            }
            cmd::PROG_BIND_MAP => self.sys_prog_bind_map(pid, &a),
            cmd::PROG_TEST_RUN => {
                let copy = a.owned();
                self.sys_prog_test_run(pid, &Attr::of_owned(&copy, size), user, mem)
            }
            c if c <= cmd::PROG_STREAM_READ_BY_FD => {
                let name = cmd::name(c).unwrap_or("?");
                self.fail(Errno::EOPNOTSUPP, &format!("{name} is not modeled"))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Record why a call fails and return the errno.
    pub(crate) fn fail<T>(&mut self, e: Errno, why: &str) -> SysResult<T> {
        self.last_error = why.to_string();
        Err(e)
    }

    /// Log a new object's creation, with its first fd as the holder of its first reference.
    pub(crate) fn log_created(&mut self, obj: ObjRef, id: u32, pid: Pid, fd: i32) {
        let file = self
            .procs
            .get(&pid)
            .and_then(|p| p.fds.get(fd))
            .expect("just installed")
            .file;
        let holder = Holder::File { file, pid, fd };
        self.log(obj, crate::object::EventKind::Created(id), Some(holder));
    }

    /// `BPF_MAP_GET_NEXT_ID` / `BPF_PROG_GET_NEXT_ID` / `BPF_BTF_GET_NEXT_ID` (`bpf_obj_get_next_id`): the smallest id
    /// above `start_id`. `start_id >= INT_MAX` is `EINVAL` before the capability check.
    fn sys_get_next_id(&mut self, pid: Pid, c: u32, a: &Attr, user: &mut [u8]) -> SysResult<i64> {
        a.check_unused(off::id::END_NEXT_ID)?;
        let start = a.u32(off::id::START_ID);
        if start >= i32::MAX as u32 {
            return Err(Errno::EINVAL);
        }
        if !self.proc(pid)?.cred.caps.has(crate::uapi::cap::SYS_ADMIN) {
            return Err(Errno::EPERM);
        }
        let next = if c == cmd::MAP_GET_NEXT_ID {
            self.map_ids.next_after(start).map(|(id, _)| id)
        } else if c == cmd::BTF_GET_NEXT_ID {
            self.btf_ids.next_after(start).map(|(id, _)| id)
        } else {
            self.prog_ids.next_after(start).map(|(id, _)| id)
        };
        let next = next.ok_or(Errno::ENOENT)?;
        crate::attr::put_u32(user, off::id::NEXT_ID, next)?;
        Ok(0)
    }

    /// `BPF_MAP_GET_FD_BY_ID` (`bpf_map_get_fd_by_id`): a new description holding one more
    /// reference and user reference, with the access mode of `open_flags`.
    fn sys_map_get_fd_by_id(&mut self, pid: Pid, a: &Attr) -> SysResult<i64> {
        a.check_unused(off::id::END_OPEN_FLAGS)?;
        let open_flags = a.u32(off::id::OPEN_FLAGS);
        if open_flags & !BPF_F_ACCESS_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        if !self.proc(pid)?.cred.caps.has(crate::uapi::cap::SYS_ADMIN) {
            return Err(Errno::EPERM);
        }
        let (read, write) = crate::maps::create::file_mode(open_flags)?;
        let m = self
            .map_ids
            .get(a.u32(off::id::START_ID))
            .ok_or(Errno::ENOENT)?;
        self.map_new_fd(pid, m, read, write).map(i64::from)
    }

    /// Install a new description of `m` and take the reference + user reference it owns
    /// (`bpf_map_new_fd` after `__bpf_map_inc_not_zero` / `bpf_map_inc_with_uref`).
    fn map_new_fd(&mut self, pid: Pid, m: MapIdx, read: bool, write: bool) -> SysResult<i32> {
        let fd = self.install_file(pid, FileObj::Map(m), read, write)?;
        let file = self.proc(pid)?.fds.get(fd).expect("just installed").file;
        self.map_inc_with_uref(m, Holder::File { file, pid, fd });
        Ok(fd)
    }

    /// Install a new description of `p` and take the reference it owns (`bpf_prog_new_fd`).
    fn prog_new_fd(&mut self, pid: Pid, p: ProgIdx) -> SysResult<i32> {
        let fd = self.install_file(pid, FileObj::Prog(p), true, true)?;
        let file = self.proc(pid)?.fds.get(fd).expect("just installed").file;
        self.prog_inc(p, Holder::File { file, pid, fd });
        Ok(fd)
    }

    /// `BPF_PROG_GET_FD_BY_ID` (`bpf_prog_get_fd_by_id`).
    fn sys_prog_get_fd_by_id(&mut self, pid: Pid, a: &Attr) -> SysResult<i64> {
        a.check_unused(off::id::END_PROG_ID)?;
        if !self.proc(pid)?.cred.caps.has(crate::uapi::cap::SYS_ADMIN) {
            return Err(Errno::EPERM);
        }
        let p = self
            .prog_ids
            .get(a.u32(off::id::START_ID))
            .ok_or(Errno::ENOENT)?;
        self.prog_new_fd(pid, p).map(i64::from)
    }

    /// `BPF_OBJ_PIN` (`bpf_obj_pin` -> `bpf_obj_pin_user`): the pin inode holds its own
    /// reference (maps: and a user reference). An fd that is not a bpf object, or not open at
    /// all, is `EINVAL`.
    fn sys_obj_pin(&mut self, pid: Pid, a: &Attr, mem: &mut dyn UserMem) -> SysResult<i64> {
        a.check_unused(off::obj::END)?;
        let file_flags = a.u32(off::obj::FILE_FLAGS);
        let path_fd = a.u32(off::obj::PATH_FD);
        if file_flags & !BPF_F_PATH_FD != 0 || (file_flags & BPF_F_PATH_FD == 0 && path_fd != 0) {
            return Err(Errno::EINVAL);
        }
        let base = self.path_base(pid, file_flags, path_fd)?;
        let obj = match self.fd_file(pid, a.u32(off::obj::BPF_FD) as i32) {
            Ok((_, f)) => f.obj.obj().ok_or(Errno::EINVAL)?,
            Err(_) => return Err(Errno::EINVAL),
        };
        let path = self.user_path(mem, a.u64(off::obj::PATHNAME))?;
        let cred = self.proc(pid)?.cred;
        // The kernel takes the reference before creating the inode and puts it on failure;
        // with nothing running in between, taking it after success is the same.
        let ino = self.vfs.pin(&cred, base, &path, obj)?;
        self.obj_inc_uref(
            obj,
            Holder::Pin {
                ino,
                path: path.into(),
            },
        );
        Ok(0)
    }

    /// `BPF_OBJ_GET` (`bpf_obj_get` -> `bpf_obj_get_user`): a new description of the pinned
    /// object. Program fds are always read-write whatever `file_flags` asked.
    fn sys_obj_get(&mut self, pid: Pid, a: &Attr, mem: &mut dyn UserMem) -> SysResult<i64> {
        a.check_unused(off::obj::END)?;
        let file_flags = a.u32(off::obj::FILE_FLAGS);
        let path_fd = a.u32(off::obj::PATH_FD);
        if a.u32(off::obj::BPF_FD) != 0
            || file_flags & !(BPF_F_ACCESS_MASK | BPF_F_PATH_FD) != 0
            || (file_flags & BPF_F_PATH_FD == 0 && path_fd != 0)
        {
            return Err(Errno::EINVAL);
        }
        let (read, write) = crate::maps::create::file_mode(file_flags)?;
        let base = self.path_base(pid, file_flags, path_fd)?;
        let path = self.user_path(mem, a.u64(off::obj::PATHNAME))?;
        let cred = self.proc(pid)?.cred;
        let access = match (read, write) {
            (true, false) => Access::Read,
            (false, true) => Access::Write,
            _ => Access::ReadWrite,
        };
        let obj = self.vfs.get(&cred, base, &path, access)?;
        let fd = match obj {
            ObjRef::Map(m) => self.map_new_fd(pid, m, read, write)?,
            ObjRef::Prog(p) => self.prog_new_fd(pid, p)?,
        };
        Ok(fd as i64)
    }

    /// The directory `path_fd` names with `BPF_F_PATH_FD` (`EBADF` if not open, `ENOTDIR` if
    /// not a directory); `None` resolves from the root.
    fn path_base(
        &self,
        pid: Pid,
        file_flags: u32,
        path_fd: u32,
    ) -> SysResult<Option<crate::vfs::DirHandle>> {
        if file_flags & BPF_F_PATH_FD == 0 {
            return Ok(None);
        }
        let (_, f) = self.fd_file(pid, path_fd as i32)?;
        match f.obj {
            FileObj::Dir(h) => Ok(Some(h)),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// `getname()`: a path from user memory; longer than `PATH_MAX` is `ENAMETOOLONG`.
    fn user_path(&self, mem: &dyn UserMem, addr: u64) -> SysResult<String> {
        let bytes = mem
            .read_cstr(addr, crate::uapi::limits::PATH_MAX - 1)?
            .ok_or(Errno::ENAMETOOLONG)?;
        // Paths are bytes in Linux; the model keeps them as text (non-UTF-8 bytes replaced).
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn obj_inc_uref(&mut self, obj: ObjRef, h: Holder) {
        match obj {
            ObjRef::Map(m) => self.map_inc_with_uref(m, h),
            ObjRef::Prog(p) => self.prog_inc(p, h),
        }
    }

    pub(crate) fn obj_put_uref(&mut self, obj: ObjRef, h: Holder) {
        match obj {
            ObjRef::Map(m) => self.map_put_with_uref(m, h),
            ObjRef::Prog(p) => self.prog_put(p, h),
        }
    }
}

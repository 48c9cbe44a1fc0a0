//! Processes, credentials, fd tables and open file descriptions.
//!
//! What is modeled (`fs/file.c`, `kernel/fork.c`, `kernel/exit.c`): an fd refers to an open
//! file description; `dup`/`dup2`/`fork` share the description, and only the last close of a
//! description runs its `->release` (for bpf objects: drops the object reference). Exit closes
//! every fd; exec closes the close-on-exec ones. Every process starts with fds 0-2 open on a
//! terminal-like non-bpf file, so the first bpf fd is 3 as on a real system.

mod cred;
mod fdtable;

pub use cred::{CapSet, Cred};
pub use fdtable::{FdEntry, FdTable, FileIdx};

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::object::{Holder, MapIdx, ObjRef, ProgIdx};
use crate::vfs::DirHandle;

/// A process id in the simulated machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub u32);

impl std::fmt::Display for Pid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A simulated process: credentials, an fd table and its `RLIMIT_NOFILE`.
#[derive(Clone, Debug)]
pub struct Process {
    /// Its pid.
    pub pid: Pid,
    /// The parent's pid (0 for a process spawned by the harness).
    pub ppid: u32,
    /// Credentials system calls run with.
    pub cred: Cred,
    /// `comm`: the command name.
    pub comm: String,
    /// The fd table (not shared between processes: no `CLONE_FILES`).
    pub fds: FdTable,
    /// `RLIMIT_NOFILE` (soft): fds must stay below it.
    pub fd_limit: u32,
}

/// What an open file description refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileObj {
    /// `anon_inode:bpf-map`.
    Map(MapIdx),
    /// `anon_inode:bpf-prog`.
    Prog(ProgIdx),
    /// `anon_inode:btf`: a loaded BTF object.
    Btf(crate::kernel::btf::BtfIdx),
    /// An `O_PATH` directory (for `BPF_F_PATH_FD`).
    Dir(DirHandle),
    /// Any other file (a terminal, `/dev/null`): not a bpf object.
    Other,
}

impl FileObj {
    /// The bpf object, if the file is one.
    pub fn obj(self) -> Option<ObjRef> {
        match self {
            FileObj::Map(m) => Some(ObjRef::Map(m)),
            FileObj::Prog(p) => Some(ObjRef::Prog(p)),
            _ => None,
        }
    }
}

/// An open file description (`struct file`): shared by every fd dup'ed or inherited from it.
#[derive(Clone, Debug)]
pub struct File {
    /// What it refers to.
    pub obj: FileObj,
    /// `FMODE_CAN_READ` (map fds: not opened `BPF_F_WRONLY`).
    pub read: bool,
    /// `FMODE_CAN_WRITE` (map fds: not opened `BPF_F_RDONLY`).
    pub write: bool,
    /// How many fd-table slots, in all processes, refer to it.
    pub fd_refs: u32,
    /// The process and fd it was first installed as (for explanations).
    pub origin: (Pid, i32),
}

impl Kernel {
    /// Start a new process with `cred`, fds 0-2 open on a terminal. Not a fork: the harness's
    /// way to put a program on the machine.
    pub fn spawn(&mut self, comm: &str, cred: Cred) -> Pid {
        let pid = Pid(self.next_pid);
        self.next_pid += 1;
        let mut p = Process {
            pid,
            ppid: 0,
            cred,
            comm: comm.to_string(),
            fds: FdTable::default(),
            fd_limit: self.cfg.fd_limit,
        };
        for fd in 0..3 {
            let file = self.new_file(FileObj::Other, true, true, (pid, fd));
            p.fds
                .install_lowest(
                    FdEntry {
                        file,
                        cloexec: false,
                    },
                    u32::MAX,
                )
                .expect("fd 0-2");
        }
        self.procs.insert(pid, p);
        pid
    }

    /// `fork()`: a child with a copy of the parent's fd table sharing every description.
    pub fn fork(&mut self, parent: Pid) -> SysResult<Pid> {
        let p = self.proc(parent)?.clone();
        let pid = Pid(self.next_pid);
        self.next_pid += 1;
        for (_, e) in p.fds.iter() {
            self.files[e.file.0].fd_refs += 1;
        }
        let child = Process {
            pid,
            ppid: parent.0,
            ..p
        };
        self.procs.insert(pid, child);
        Ok(pid)
    }

    /// `exit()`: close every fd (`exit_files`), then the process is gone.
    pub fn exit(&mut self, pid: Pid) -> SysResult<()> {
        let p = self.procs.remove(&pid).ok_or(Errno::ESRCH)?;
        for (fd, e) in p.fds.iter() {
            self.file_put(e.file, pid, fd);
        }
        Ok(())
    }

    /// `execve()`: close the close-on-exec fds (`do_close_on_exec`); bpf fds are always
    /// created close-on-exec, so an exec'd program does not inherit them.
    pub fn exec(&mut self, pid: Pid, comm: &str) -> SysResult<()> {
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        p.comm = comm.to_string();
        let doomed: Vec<i32> = p
            .fds
            .iter()
            .filter(|(_, e)| e.cloexec)
            .map(|(fd, _)| fd)
            .collect();
        for fd in doomed {
            self.close(pid, fd)?;
        }
        Ok(())
    }

    /// `close(fd)`: drop the fd; the last close of its description releases the object.
    pub fn close(&mut self, pid: Pid, fd: i32) -> SysResult<()> {
        let e = self.proc_mut(pid)?.fds.remove(fd).ok_or(Errno::EBADF)?;
        self.file_put(e.file, pid, fd);
        Ok(())
    }

    /// Pass `fd` of `from` to `to` over a Unix socket (`SCM_RIGHTS`): `to` gets the lowest free
    /// fd referring to the same open file description (no new object reference), without
    /// close-on-exec. `EBADF` if `fd` is not open in `from`; `EMFILE` at `to`'s limit.
    pub fn pass_fd(&mut self, from: Pid, fd: i32, to: Pid) -> SysResult<i32> {
        let e = self.proc(from)?.fds.get(fd).ok_or(Errno::EBADF)?;
        let dest = self.proc_mut(to)?;
        let limit = dest.fd_limit;
        let new = dest.fds.install_lowest(
            FdEntry {
                file: e.file,
                cloexec: false,
            },
            limit,
        )?;
        self.files[e.file.0].fd_refs += 1;
        Ok(new)
    }

    /// `dup(fd)`: the lowest free fd sharing the description; `FD_CLOEXEC` cleared.
    pub fn dup(&mut self, pid: Pid, fd: i32) -> SysResult<i32> {
        self.dupfd(pid, fd, 0, false)
    }

    /// `fcntl(fd, F_DUPFD[_CLOEXEC], start)`.
    pub fn dupfd(&mut self, pid: Pid, fd: i32, start: u32, cloexec: bool) -> SysResult<i32> {
        let p = self.proc_mut(pid)?;
        let e = p.fds.get(fd).ok_or(Errno::EBADF)?;
        let limit = p.fd_limit;
        if start >= limit {
            return Err(Errno::EINVAL);
        }
        let new = p.fds.install_from(
            start,
            FdEntry {
                file: e.file,
                cloexec,
            },
            limit,
        )?;
        self.files[e.file.0].fd_refs += 1;
        Ok(new)
    }

    /// `dup2(old, new)` / `dup3(old, new, O_CLOEXEC)`: make `new` share `old`'s description,
    /// closing what `new` referred to. `dup2` of an fd onto itself is a no-op; `dup3` of an fd
    /// onto itself is `EINVAL`.
    pub fn dup3(&mut self, pid: Pid, old: i32, new: i32, cloexec: bool) -> SysResult<i32> {
        let p = self.proc_mut(pid)?;
        // ksys_dup3: oldfd == newfd is EINVAL before either fd is looked at.
        if old == new {
            return Err(Errno::EINVAL);
        }
        let e = p.fds.get(old).ok_or(Errno::EBADF)?;
        if new < 0 || new as u32 >= p.fd_limit {
            return Err(Errno::EBADF);
        }
        self.files[e.file.0].fd_refs += 1;
        let displaced = self.proc_mut(pid)?.fds.replace(
            new as u32,
            FdEntry {
                file: e.file,
                cloexec,
            },
        );
        if let Some(d) = displaced {
            self.file_put(d.file, pid, new);
        }
        Ok(new)
    }

    /// `dup2(old, new)`.
    pub fn dup2(&mut self, pid: Pid, old: i32, new: i32) -> SysResult<i32> {
        if old == new {
            self.proc(pid)?.fds.get(old).ok_or(Errno::EBADF)?;
            return Ok(new);
        }
        self.dup3(pid, old, new, false)
    }

    /// `fcntl(fd, F_SETFD)`.
    pub fn set_cloexec(&mut self, pid: Pid, fd: i32, cloexec: bool) -> SysResult<()> {
        self.proc_mut(pid)?.fds.set_cloexec(fd, cloexec)
    }

    /// `fcntl(fd, F_GETFD) & FD_CLOEXEC`.
    pub fn cloexec(&self, pid: Pid, fd: i32) -> SysResult<bool> {
        Ok(self.proc(pid)?.fds.get(fd).ok_or(Errno::EBADF)?.cloexec)
    }

    /// `setrlimit(RLIMIT_NOFILE)`: later fd allocations must stay below `limit`.
    pub fn set_fd_limit(&mut self, pid: Pid, limit: u32) -> SysResult<()> {
        self.proc_mut(pid)?.fd_limit = limit;
        Ok(())
    }

    /// `open("/dev/null")`: an fd that is not a bpf object, for the kernel's "fd is not a map"
    /// paths.
    pub fn open_null(&mut self, pid: Pid) -> SysResult<i32> {
        self.install_file(pid, FileObj::Other, true, true)
    }

    /// `open(path, O_PATH | O_DIRECTORY)`: a directory fd usable as `path_fd`.
    pub fn open_dir(&mut self, pid: Pid, path: &str) -> SysResult<i32> {
        let cred = self.proc(pid)?.cred;
        let h = self.vfs.open_dir(&cred, path)?;
        self.install_file(pid, FileObj::Dir(h), false, false)
            .inspect_err(|_| self.vfs.close_dir(h))
    }

    /// Change a process's credentials (`setuid`, `capset`).
    pub fn set_cred(&mut self, pid: Pid, cred: Cred) -> SysResult<()> {
        self.proc_mut(pid)?.cred = cred;
        Ok(())
    }

    /// The process `pid`, or `ESRCH`.
    pub fn proc(&self, pid: Pid) -> SysResult<&Process> {
        self.procs.get(&pid).ok_or(Errno::ESRCH)
    }

    pub(crate) fn proc_mut(&mut self, pid: Pid) -> SysResult<&mut Process> {
        self.procs.get_mut(&pid).ok_or(Errno::ESRCH)
    }

    /// Live processes in pid order.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.procs.values()
    }

    pub(crate) fn new_file(
        &mut self,
        obj: FileObj,
        read: bool,
        write: bool,
        origin: (Pid, i32),
    ) -> FileIdx {
        FileIdx(self.files.insert(File {
            obj,
            read,
            write,
            fd_refs: 1,
            origin,
        }))
    }

    /// Create a description for `obj` and install it at the lowest free fd, close-on-exec
    /// (`anon_inode_getfd(..., O_CLOEXEC)`). On `EMFILE` nothing is created. The caller has
    /// already taken the object reference the description will own.
    pub(crate) fn install_file(
        &mut self,
        pid: Pid,
        obj: FileObj,
        read: bool,
        write: bool,
    ) -> SysResult<i32> {
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        let limit = p.fd_limit;
        let idx = FileIdx(self.files.insert(File {
            obj,
            read,
            write,
            fd_refs: 1,
            origin: (pid, -1),
        }));
        match p.fds.install_lowest(
            FdEntry {
                file: idx,
                cloexec: !matches!(obj, FileObj::Other),
            },
            limit,
        ) {
            Ok(fd) => {
                self.files[idx.0].origin = (pid, fd);
                Ok(fd)
            }
            Err(e) => {
                self.files.remove(idx.0);
                Err(e)
            }
        }
    }

    /// Drop one fd reference to a description; the last one runs `->release`.
    pub(crate) fn file_put(&mut self, file: FileIdx, pid: Pid, fd: i32) {
        let f = &mut self.files[file.0];
        f.fd_refs -= 1;
        if f.fd_refs > 0 {
            return;
        }
        let f = self.files.remove(file.0).expect("live file");
        let holder = Holder::File { file, pid, fd };
        match f.obj {
            // bpf_map_release: ops->map_release (perf_event_array only) + bpf_map_put_with_uref
            FileObj::Map(m) => self.map_put_with_uref(m, holder),
            // bpf_prog_release: bpf_prog_put
            FileObj::Prog(p) => self.prog_put(p, holder),
            // btf_release: btf_put
            FileObj::Btf(b) => self.btf_put(b),
            FileObj::Dir(h) => self.vfs.close_dir(h),
            FileObj::Other => {}
        }
    }

    /// The description behind `fd` of `pid`: `EBADF` when the fd is not open.
    pub(crate) fn fd_file(&self, pid: Pid, fd: i32) -> SysResult<(FileIdx, &File)> {
        let e = self.proc(pid)?.fds.get(fd).ok_or(Errno::EBADF)?;
        Ok((e.file, &self.files[e.file.0]))
    }
}

/// The process table: processes indexed by pid (pids are small and handed out in order), so
/// finding the caller of a system call is an index, and iteration is in pid order.
#[derive(Clone, Debug, Default)]
pub struct ProcTable {
    slots: Vec<Option<Process>>,
}

impl ProcTable {
    /// The process `pid`.
    #[inline]
    pub fn get(&self, pid: &Pid) -> Option<&Process> {
        self.slots.get(pid.0 as usize).and_then(Option::as_ref)
    }

    /// The process `pid`, mutably.
    #[inline]
    pub fn get_mut(&mut self, pid: &Pid) -> Option<&mut Process> {
        self.slots.get_mut(pid.0 as usize).and_then(Option::as_mut)
    }

    /// Add (or replace) the process `pid`.
    pub fn insert(&mut self, pid: Pid, p: Process) {
        let i = pid.0 as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(p);
    }

    /// Remove the process `pid`.
    pub fn remove(&mut self, pid: &Pid) -> Option<Process> {
        self.slots.get_mut(pid.0 as usize).and_then(Option::take)
    }

    /// Live processes in pid order.
    pub fn values(&self) -> impl Iterator<Item = &Process> {
        self.slots.iter().flatten()
    }
}

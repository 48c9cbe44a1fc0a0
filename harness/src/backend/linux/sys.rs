//! Thin wrappers over the system calls both sides use: raw `bpf(2)`, buffers that end at a
//! guard page (so the kernel faults exactly where the simulator's `UserBufs` would), and
//! errno plumbing.

use std::ffi::CString;

use sim::Errno;

/// The calling thread's `errno` as an [`Errno`].
pub fn last_errno() -> Errno {
    Errno(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// `Ok(ret)` for a non-negative return, else the errno.
pub fn check(ret: libc::c_long) -> Result<i64, Errno> {
    if ret < 0 { Err(last_errno()) } else { Ok(ret) }
}

/// `bpf(cmd, attr, size)`.
///
/// # Safety
///
/// bpf(2) reads, and for some commands writes back, up to `size` bytes at `attr`, and follows
/// the pointers inside the attr: `attr` must be valid for `size` bytes, or end at a guard
/// page (a [`GuardBuf`]) so the overrun faults in the kernel (`EFAULT`) instead of touching
/// other memory; the same holds for every buffer the attr points at.
pub unsafe fn bpf_raw(cmd: u32, attr: *mut u8, size: u32) -> Result<i64, Errno> {
    // SAFETY: the caller guarantees the memory bpf(2) may access, as documented above.
    check(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr,
            size as libc::c_long,
        )
    })
}

/// `bpf(cmd, attr, sim::attr::cmd_end(cmd))` on a full-size attr buffer, as the typed wrappers
/// of the simulator call it: the return value and the attr after the call.
pub fn bpf_typed(cmd: u32, attr: sim::attr::AttrBuf) -> Result<(i64, sim::attr::AttrBuf), Errno> {
    let mut a = attr;
    let len = sim::attr::cmd_end(cmd);
    // SAFETY: `a.0` holds `len` bytes. Every pointer the callers put into an attr is the
    // address of a live `GuardBuf` (or 0), so kernel accesses through it stay inside it or
    // fault at its guard page.
    let ret = unsafe { bpf_raw(cmd, a.0[..len].as_mut_ptr(), len as u32) }?;
    Ok((ret, a))
}

/// A path as a C string; an interior NUL is `EINVAL`, as the kernel would see a shorter name
/// otherwise.
pub fn cpath(p: &str) -> Result<CString, Errno> {
    CString::new(p).map_err(|_| Errno::EINVAL)
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

/// `len` bytes of private anonymous memory that end exactly at a `PROT_NONE` page: the kernel
/// reading or writing past the end gets `EFAULT`, like an access past a buffer of the
/// simulator's `UserBufs`. An input buffer is made read-only once filled.
pub struct GuardBuf {
    base: *mut libc::c_void,
    map_len: usize,
    data: *mut u8,
    len: usize,
}

impl GuardBuf {
    fn alloc(len: usize) -> Result<GuardBuf, Errno> {
        let page = page_size();
        let data_pages = len.div_ceil(page);
        let map_len = (data_pages + 1) * page;
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(last_errno());
        }
        let guard = data_pages * page;
        // SAFETY: `base + guard` is the last page of the mapping made above; the offset stays
        // within it.
        let (guard_ptr, data) = unsafe {
            (
                base.cast::<u8>().add(guard),
                base.cast::<u8>().add(guard - len),
            )
        };
        let b = GuardBuf {
            base,
            map_len,
            data,
            len,
        };
        // SAFETY: the last page of our own mapping; nothing refers to it.
        if unsafe { libc::mprotect(guard_ptr.cast(), page, libc::PROT_NONE) } != 0 {
            return Err(last_errno());
        }
        Ok(b)
    }

    /// A zeroed writable buffer of `len` bytes (values, info structs, raw attrs).
    pub fn output(len: usize) -> Result<GuardBuf, Errno> {
        GuardBuf::alloc(len)
    }

    /// A writable buffer holding `bytes`.
    pub fn filled(bytes: &[u8]) -> Result<GuardBuf, Errno> {
        let mut b = GuardBuf::alloc(bytes.len())?;
        b.as_mut_slice().copy_from_slice(bytes);
        Ok(b)
    }

    /// A read-only buffer holding `bytes` (keys, instructions, paths).
    pub fn input(bytes: &[u8]) -> Result<GuardBuf, Errno> {
        let b = GuardBuf::filled(bytes)?;
        let page = page_size();
        let guard_off = b.map_len - page;
        // SAFETY: the data pages of our own mapping; no Rust reference to them is alive.
        if guard_off > 0 && unsafe { libc::mprotect(b.base, guard_off, libc::PROT_READ) } != 0 {
            return Err(last_errno());
        }
        Ok(b)
    }

    /// The user address of the first byte.
    pub fn addr(&self) -> u64 {
        self.data as u64
    }

    /// The raw pointer (for raw attrs).
    pub fn ptr(&mut self) -> *mut u8 {
        self.data
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `data..data+len` lies in the readable part of our mapping, which lives as
        // long as `self`; the kernel writes it only during a bpf() call, not while borrowed.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: as in `as_slice`; the buffer is still writable (called before any
        // mprotect to read-only) and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.len) }
    }

    /// A copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_slice().to_vec()
    }
}

impl Drop for GuardBuf {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `alloc` made; no slice of it outlives `self`.
        unsafe {
            libc::munmap(self.base, self.map_len);
        }
    }
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: i32) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = check(unsafe {
        libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long)
    })?;
    // SAFETY: the fd was just returned by the kernel and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`.
pub fn pidfd_kill(pidfd: std::os::fd::BorrowedFd<'_>, sig: i32) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a pidfd we own; NULL siginfo is allowed.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd() as libc::c_long,
            sig as libc::c_long,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_long,
        )
    })
    .map(drop)
}

/// Waits until the process behind `pidfd` has exited (its files are released by then:
/// `do_exit` runs `exit_files` and the deferred `__fput`s before it notifies pidfd waiters).
/// Returns false on timeout.
pub fn pidfd_wait(pidfd: std::os::fd::BorrowedFd<'_>, timeout_ms: i32) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms as u64);
    loop {
        let mut p = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let left = deadline
            .saturating_duration_since(std::time::Instant::now())
            .as_millis() as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut p, 1, left) };
        if n > 0 {
            return true;
        }
        if n == 0 || last_errno() != Errno(libc::EINTR) {
            return false;
        }
    }
}

/// `waitid(P_PIDFD, pidfd, WEXITED)` once the process has exited: reaps it if it is a child of
/// this process (a forked agent whose parent agent exited first is reparented here, the
/// controller being a child subreaper); `ECHILD` otherwise, which is fine.
pub fn pidfd_reap(pidfd: std::os::fd::BorrowedFd<'_>) {
    use std::os::fd::AsRawFd;
    /// `P_PIDFD` (`include/uapi/linux/wait.h`).
    const P_PIDFD: libc::idtype_t = 3;
    // SAFETY: `siginfo_t` is plain old data; all-zero is valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes one siginfo_t into `info`, which outlives the call.
    unsafe {
        libc::waitid(
            P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED,
        )
    };
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphaned descendants (forked agents whose parent agent
/// exited) become children of this process, so they can be reaped instead of lingering as
/// zombies under an init that may not reap.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
}

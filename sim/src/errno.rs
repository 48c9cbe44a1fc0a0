//! Linux errno values as the bpf() syscall returns them.
//!
//! The numbers are the x86_64 Linux ones, written out (no libc in `sim`). `ENOTSUPP` (524) is
//! kernel-internal but leaks to user space from several bpf() paths, so it is modeled too.

use std::fmt;

/// An errno returned by a modeled system call: the positive Linux error number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(pub i32);

/// Result of a modeled system call.
pub type SysResult<T> = Result<T, Errno>;

macro_rules! errnos {
    ($($name:ident = $num:expr, $text:expr;)*) => {
        impl Errno {
            $(
                #[doc = $text]
                pub const $name: Errno = Errno($num);
            )*

            /// The symbolic name (`"ENOENT"`), or `None` for a number this model never returns.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($num => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted: missing capability or fd access mode.";
    ENOENT = 2, "No such file, element or id.";
    EBADF = 9, "Bad file descriptor: the fd is not open.";
    EAGAIN = 11, "Try again (a link primed but not settled).";
    ENOMEM = 12, "Out of memory: the allocation a map needs is over the model's limit.";
    EACCES = 13, "Permission denied (VFS permission, or not a bpf object inode).";
    EFAULT = 14, "Bad user pointer.";
    EBUSY = 16, "Device or resource busy.";
    EEXIST = 17, "File or element exists.";
    EXDEV = 18, "Cross-device link or rename.";
    ENODEV = 19, "No such device (a test run's ifindex names no device).";
    ENOTDIR = 20, "A path component is not a directory.";
    EISDIR = 21, "Is a directory.";
    EINVAL = 22, "Invalid argument.";
    EMFILE = 24, "Too many open files (RLIMIT_NOFILE).";
    ENOSPC = 28, "No space left (a truncated verifier log).";
    ENAMETOOLONG = 36, "File name too long.";
    ENOTEMPTY = 39, "Directory not empty.";
    ELOOP = 40, "Too many levels of symbolic links.";
    EBADFD = 77, "File descriptor in bad state: what OBJ_GET_INFO_BY_FD returns for an fd that is not open.";
    EPROTO = 71, "Protocol error (fd_array index without fd_array).";
    EOPNOTSUPP = 95, "Operation not supported: a command the model does not implement.";
    E2BIG = 7, "Argument list too long: attr or info too big, too many elements or instructions.";
    ESRCH = 3, "No such process.";
    ENOTSUPP = 524, "Kernel-internal 'not supported', leaked to user space by several bpf() paths.";
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl std::error::Error for Errno {}

//! Per-process file descriptor tables (`struct files_struct`, `fs/file.c`).

use std::collections::BTreeSet;

use crate::errno::{Errno, SysResult};

/// Index of an open file description in the kernel's file arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileIdx(pub u32);

/// One slot of an fd table: the description it refers to and its close-on-exec flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdEntry {
    /// The open file description.
    pub file: FileIdx,
    /// `FD_CLOEXEC`.
    pub cloexec: bool,
}

/// A process's fd table: lowest free fd first (`alloc_fd`), bounded by `RLIMIT_NOFILE`.
#[derive(Clone, Debug, Default)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
    /// Free fds below `slots.len()`, so the lowest free one is found in O(log n).
    holes: BTreeSet<u32>,
    open: usize,
}

impl FdTable {
    /// The entry at `fd`.
    pub fn get(&self, fd: i32) -> Option<FdEntry> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i).copied().flatten())
    }

    /// `alloc_fd(0, limit)` + `fd_install`: the lowest free fd, or `EMFILE` at the limit.
    pub fn install_lowest(&mut self, entry: FdEntry, limit: u32) -> SysResult<i32> {
        self.install_from(0, entry, limit)
    }

    /// `alloc_fd(start, limit)` (`F_DUPFD`): the lowest free fd `>= start`.
    pub fn install_from(&mut self, start: u32, entry: FdEntry, limit: u32) -> SysResult<i32> {
        let fd = match self.holes.range(start..).next() {
            Some(&h) => h,
            None => (self.slots.len() as u32).max(start),
        };
        if fd >= limit {
            return Err(Errno::EMFILE);
        }
        self.put_at(fd, entry);
        Ok(fd as i32)
    }

    /// Put `entry` at `fd` (which must be free), growing the table.
    fn put_at(&mut self, fd: u32, entry: FdEntry) {
        let i = fd as usize;
        if i >= self.slots.len() {
            for hole in self.slots.len()..i {
                self.holes.insert(hole as u32);
            }
            self.slots.resize(i + 1, None);
        } else {
            self.holes.remove(&fd);
        }
        debug_assert!(self.slots[i].is_none());
        self.slots[i] = Some(entry);
        self.open += 1;
    }

    /// `dup2`'s install: replace whatever is at `fd`, returning the entry it displaced.
    pub fn replace(&mut self, fd: u32, entry: FdEntry) -> Option<FdEntry> {
        let old = self.remove(fd as i32);
        self.put_at(fd, entry);
        old
    }

    /// Remove the entry at `fd` (`close_fd`), returning it.
    pub fn remove(&mut self, fd: i32) -> Option<FdEntry> {
        let i = usize::try_from(fd).ok()?;
        let old = self.slots.get_mut(i)?.take()?;
        self.open -= 1;
        if i + 1 == self.slots.len() {
            self.slots.pop();
            while let Some(None) = self.slots.last() {
                self.slots.pop();
                self.holes.remove(&(self.slots.len() as u32));
            }
        } else {
            self.holes.insert(i as u32);
        }
        Some(old)
    }

    /// Set or clear `FD_CLOEXEC` on `fd`.
    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> SysResult<()> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        match self.slots.get_mut(i) {
            Some(Some(e)) => {
                e.cloexec = cloexec;
                Ok(())
            }
            _ => Err(Errno::EBADF),
        }
    }

    /// Every open fd in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, FdEntry)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.map(|e| (i as i32, e)))
    }

    /// How many fds are open.
    pub fn len(&self) -> usize {
        self.open
    }

    /// Whether no fd is open.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }
}

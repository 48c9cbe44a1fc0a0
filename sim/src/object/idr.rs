//! The kernel's cyclic id allocator (`idr_alloc_cyclic(idr, obj, 1, INT_MAX, ...)`, `lib/idr.c`).

use std::collections::BTreeMap;

use crate::uapi::limits::ID_END;

/// One id space (`map_idr`, `prog_idr`, ...): ids in `[1, INT_MAX)`, allocated cyclically so
/// an id is not reused before the space wraps. Iteration is in id order (a `BTreeMap`).
#[derive(Clone, Debug)]
pub struct Idr<T> {
    ids: BTreeMap<u32, T>,
    next: u32,
}

impl<T: Copy> Idr<T> {
    /// An empty id space whose first allocation tries `first` (1 in the kernel; tests start
    /// near `INT_MAX` to see the wrap).
    pub fn new(first: u32) -> Self {
        Idr {
            ids: BTreeMap::new(),
            next: first.clamp(1, ID_END - 1),
        }
    }

    /// `idr_alloc_cyclic`: the first free id at or after the cursor, wrapping to 1; the cursor
    /// moves past the id only on success. `None` when all `INT_MAX - 1` ids are taken (the
    /// kernel's `-ENOSPC`, reported by bpf() as the allocation failure it is).
    pub fn alloc(&mut self, value: T) -> Option<u32> {
        let id = self
            .first_free(self.next, ID_END)
            .or_else(|| self.first_free(1, self.next))?;
        self.ids.insert(id, value);
        self.next = if id + 1 >= ID_END { 1 } else { id + 1 };
        Some(id)
    }

    fn first_free(&self, from: u32, to: u32) -> Option<u32> {
        let mut candidate = from;
        for &used in self.ids.range(from..to).map(|(k, _)| k) {
            if used != candidate {
                break;
            }
            candidate += 1;
        }
        (candidate < to).then_some(candidate)
    }

    /// `idr_remove`.
    pub fn remove(&mut self, id: u32) -> Option<T> {
        self.ids.remove(&id)
    }

    /// `idr_find`.
    pub fn get(&self, id: u32) -> Option<T> {
        self.ids.get(&id).copied()
    }

    /// `idr_get_next`: the smallest populated id strictly greater than `start`.
    pub fn next_after(&self, start: u32) -> Option<(u32, T)> {
        let from = start.checked_add(1)?;
        self.ids.range(from..).next().map(|(&k, &v)| (k, v))
    }

    /// Every populated id, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u32, T)> + '_ {
        self.ids.iter().map(|(&k, &v)| (k, v))
    }

    /// How many ids are populated.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no id is populated.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

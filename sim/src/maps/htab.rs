//! The element set of a BPF hash map (`BPF_MAP_TYPE_HASH` and the types built on it), modeled on
//! `kernel/bpf/hashtab.c`, with the kernel's iteration order.
//!
//! The kernel keeps `n_buckets = roundup_pow_of_two(max_entries)` singly linked chains; an element
//! lives in bucket `htab_map_hash(key, key_size, hashrnd) & (n_buckets - 1)`, and updates link
//! the new element at the chain head (`hlist_nulls_add_head_rcu`). `BPF_MAP_GET_NEXT_KEY` walks
//! buckets in ascending index and each chain from its head, so the order is: bucket ascending,
//! newest element first within a bucket.
//!
//! This model stores no buckets at all (a 2^31-entry map costs nothing until it holds elements):
//! each element remembers its bucket and an insertion sequence number, an `FxHashMap` answers
//! point lookups, and a `BTreeMap` ordered by `(bucket, newest first)` answers `get_next_key` in
//! O(log n). The `FxHashMap` is never iterated; every ordered view comes from the `BTreeMap`.
//!
//! Rejected here, with the kernel's errno: unknown update flags (`EINVAL`), `BPF_NOEXIST` on an
//! existing key (`EEXIST`), `BPF_EXIST` on a missing key (`ENOENT`), a new key in a full table
//! (`E2BIG`). The caller checks everything that needs the map's type or BTF (`BPF_F_LOCK` without
//! a `bpf_spin_lock` → `EINVAL`) and turns `None` from `lookup`/`delete`/`get_next_key` into
//! `ENOENT`. LRU eviction is not modeled.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use rustc_hash::FxHashMap;

use crate::errno::{Errno, SysResult};
use crate::maps::jhash::htab_map_hash;

/// `BPF_NOEXIST` (include/uapi/linux/bpf.h): create a new element only.
const BPF_NOEXIST: u64 = 1;
/// `BPF_EXIST` (include/uapi/linux/bpf.h): update an existing element only.
const BPF_EXIST: u64 = 2;
/// `BPF_F_LOCK` (include/uapi/linux/bpf.h): update the value under its `bpf_spin_lock`.
const BPF_F_LOCK: u64 = 4;

/// Largest bucket count `htab_map_alloc` accepts: it fails with `E2BIG` when
/// `max_entries > 1UL << 31` (so that `roundup_pow_of_two` cannot overflow).
pub const HTAB_MAX_BUCKETS: u32 = 1 << 31;

/// Where an element sits in the kernel's bucket array: bucket index, then newest first (the
/// chain head is the most recently linked element). Ordering of this key is the
/// `htab_map_get_next_key` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pos {
    bucket: u32,
    age: Reverse<u64>,
}

/// One `struct htab_elem`: its chain position and value (the key is the map's key).
#[derive(Clone)]
struct Elem<V> {
    pos: Pos,
    value: V,
}

/// The element set of one BPF hash map (`struct bpf_htab` in `kernel/bpf/hashtab.c`): keys of
/// `key_size` bytes mapped to values `V`, at most `max_entries` of them, iterated in the
/// kernel's bucket order for the map's `hashrnd`.
///
/// Memory is proportional to the number of elements, never to `max_entries`.
#[derive(Clone)]
pub struct HashTable<V> {
    max_entries: u32,
    key_size: u32,
    hashrnd: u32,
    n_buckets: u32,
    /// Sequence number the next linked element gets; larger = newer = nearer the chain head.
    next_seq: u64,
    /// Point lookups only; never iterated (its order is not the kernel's).
    elems: FxHashMap<Box<[u8]>, Elem<V>>,
    /// The kernel's walk order; the source of every ordered view.
    order: BTreeMap<Pos, Box<[u8]>>,
}

impl<V> HashTable<V> {
    /// An empty table, as `htab_map_alloc` (`kernel/bpf/hashtab.c`) sets one up:
    /// `n_buckets = roundup_pow_of_two(max_entries)`, `hashrnd` the per-map seed (0 for
    /// `BPF_F_ZERO_SEED`, otherwise the model's stand-in for `get_random_u32()`).
    ///
    /// Allocates nothing. The kernel rejects `max_entries == 0` (`EINVAL`, in
    /// `htab_map_alloc_check`) and `max_entries > 2^31` (`E2BIG`, see [`HashTable::try_new`]);
    /// here such values do not panic: 0 gives one bucket, values above 2^31 give 2^31 buckets.
    pub fn new(max_entries: u32, key_size: u32, hashrnd: u32) -> Self {
        let n_buckets = max_entries
            .max(1)
            .checked_next_power_of_two()
            .unwrap_or(HTAB_MAX_BUCKETS);
        HashTable {
            max_entries,
            key_size,
            hashrnd,
            n_buckets,
            next_seq: 0,
            elems: FxHashMap::default(),
            order: BTreeMap::new(),
        }
    }

    /// [`HashTable::new`] with `htab_map_alloc`'s bucket-count check: `max_entries > 1 << 31`
    /// → `E2BIG`. The other `BPF_MAP_CREATE` checks belong to the caller.
    pub fn try_new(max_entries: u32, key_size: u32, hashrnd: u32) -> SysResult<Self> {
        if max_entries > HTAB_MAX_BUCKETS {
            return Err(Errno::E2BIG);
        }
        Ok(Self::new(max_entries, key_size, hashrnd))
    }

    /// `map->max_entries`: the element limit.
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// `map->key_size`: the length every key has.
    pub fn key_size(&self) -> u32 {
        self.key_size
    }

    /// `htab->hashrnd`: the per-map hash seed.
    pub fn hashrnd(&self) -> u32 {
        self.hashrnd
    }

    /// `htab->n_buckets`: `roundup_pow_of_two(max_entries)`.
    pub fn n_buckets(&self) -> u32 {
        self.n_buckets
    }

    /// The bucket `key` hashes to: `htab_map_hash(key, key_size, hashrnd) & (n_buckets - 1)`
    /// (`__select_bucket` in `kernel/bpf/hashtab.c`).
    pub fn bucket_of(&self, key: &[u8]) -> u32 {
        htab_map_hash(key, self.hashrnd) & (self.n_buckets - 1)
    }

    /// Number of elements (the kernel's `htab->count` / elem count).
    pub fn len(&self) -> usize {
        self.elems.len()
    }

    /// Whether the table holds no element.
    pub fn is_empty(&self) -> bool {
        self.elems.is_empty()
    }

    /// Whether `len() == max_entries` (`is_map_full` in `kernel/bpf/hashtab.c`).
    pub fn is_full(&self) -> bool {
        self.elems.len() as u64 >= u64::from(self.max_entries)
    }

    /// `htab_map_lookup_elem` (`kernel/bpf/hashtab.c`): the value stored under `key`, or `None`
    /// (the syscall returns `ENOENT`). A key of the wrong length is never present. Does not
    /// allocate.
    #[inline]
    pub fn lookup(&self, key: &[u8]) -> Option<&V> {
        self.elems.get(key).map(|e| &e.value)
    }

    /// [`HashTable::lookup`] for writing the value in place (a BPF program writing through the
    /// pointer `bpf_map_lookup_elem` returned); the element keeps its position.
    #[inline]
    pub fn lookup_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.elems.get_mut(key).map(|e| &mut e.value)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.elems.contains_key(key)
    }

    /// The flag and capacity checks shared by both update paths, in the kernel's order:
    /// `(flags & ~BPF_F_LOCK) > BPF_EXIST` → `EINVAL` (`htab_map_update_elem`), then
    /// `check_flags` (`EEXIST` / `ENOENT`), then `alloc_htab_elem`'s full-table `E2BIG` for a
    /// new key. A key of the wrong length is `EINVAL` (the syscall layer always copies exactly
    /// `key_size` bytes, so the kernel cannot see one). Returns whether the key exists.
    fn check_update(&self, key: &[u8], flags: u64) -> SysResult<bool> {
        let flags = flags & !BPF_F_LOCK;
        if flags > BPF_EXIST || key.len() as u64 != u64::from(self.key_size) {
            return Err(Errno::EINVAL);
        }
        let exists = self.elems.contains_key(key);
        if exists && flags == BPF_NOEXIST {
            return Err(Errno::EEXIST);
        }
        if !exists && flags == BPF_EXIST {
            return Err(Errno::ENOENT);
        }
        if !exists && self.is_full() {
            return Err(Errno::E2BIG);
        }
        Ok(exists)
    }

    /// A fresh chain-head position in `bucket`.
    fn head_of(&mut self, bucket: u32) -> Pos {
        let pos = Pos {
            bucket,
            age: Reverse(self.next_seq),
        };
        self.next_seq += 1;
        pos
    }

    /// Links a new element at the head of its bucket. The caller has checked capacity.
    fn insert_new(&mut self, key: &[u8], value: V) {
        let pos = self.head_of(self.bucket_of(key));
        self.order.insert(pos, key.into());
        self.elems.insert(key.into(), Elem { pos, value });
    }

    /// `htab_map_update_elem` (`kernel/bpf/hashtab.c`) for a map without `BPF_F_LOCK` in-place
    /// updates: stores `value` under `key` and returns the value it replaced.
    ///
    /// Errors: `(flags & ~BPF_F_LOCK) > BPF_EXIST` → `EINVAL`; `BPF_NOEXIST` on an existing key
    /// → `EEXIST`; `BPF_EXIST` on a missing key → `ENOENT`; a new key when `len() ==
    /// max_entries` → `E2BIG` (replacing an existing key in a full table is allowed).
    ///
    /// Order: the kernel links a new element at the bucket head and, when replacing, unlinks the
    /// old one, so the key — new or replaced — becomes the newest in its bucket.
    ///
    /// `BPF_F_LOCK` is only masked out of the flag check here; the caller rejects it on maps
    /// without a `bpf_spin_lock` (`EINVAL`) and, when it is set, calls
    /// [`HashTable::update_in_place`], which is what the kernel's lock path does.
    pub fn update(&mut self, key: &[u8], value: V, flags: u64) -> SysResult<Option<V>> {
        if !self.check_update(key, flags)? {
            self.insert_new(key, value);
            return Ok(None);
        }
        let Some(elem) = self.elems.get_mut(key) else {
            unreachable!("check_update found the key");
        };
        let old_pos = elem.pos;
        let new_pos = Pos {
            bucket: old_pos.bucket,
            age: Reverse(self.next_seq),
        };
        self.next_seq += 1;
        elem.pos = new_pos;
        let old = std::mem::replace(&mut elem.value, value);
        let boxed = self
            .order
            .remove(&old_pos)
            .expect("htab: element missing from order");
        self.order.insert(new_pos, boxed);
        Ok(Some(old))
    }

    /// An update that overwrites an existing element where it is, without moving it to the
    /// bucket head; a missing key is linked at the head as in [`HashTable::update`]. Same
    /// checks and errors as [`HashTable::update`].
    ///
    /// Models `htab_map_update_elem`'s `BPF_F_LOCK` path (`copy_map_value_locked` on the old
    /// element) and `htab_map_update_elem_in_place` (`kernel/bpf/hashtab.c`), which per-CPU
    /// hashes use and, in newer kernels, hash-of-maps (`bpf_fd_htab_map_update_elem`). The
    /// per-CPU variant's stricter flag check is the caller's.
    pub fn update_in_place(&mut self, key: &[u8], value: V, flags: u64) -> SysResult<Option<V>> {
        if !self.check_update(key, flags)? {
            self.insert_new(key, value);
            return Ok(None);
        }
        let Some(elem) = self.elems.get_mut(key) else {
            unreachable!("check_update found the key");
        };
        Ok(Some(std::mem::replace(&mut elem.value, value)))
    }

    /// `htab_map_delete_elem` (`kernel/bpf/hashtab.c`): unlinks `key` and returns its value, or
    /// `None` if absent (the syscall returns `ENOENT`).
    pub fn delete(&mut self, key: &[u8]) -> Option<V> {
        let elem = self.elems.remove(key)?;
        self.order.remove(&elem.pos);
        Some(elem.value)
    }

    /// `htab_map_get_next_key` (`kernel/bpf/hashtab.c`): the key after `key` in the walk order.
    ///
    /// `None` or a key not in the table (wrong length included) → the first element; a present
    /// key → the next (older) element of its bucket chain, else the head of the next non-empty
    /// bucket; the last element, or an empty table → `None` (the syscall returns `ENOENT`).
    /// O(log n).
    pub fn get_next_key(&self, key: Option<&[u8]>) -> Option<&[u8]> {
        let next = match key.and_then(|k| self.elems.get(k)) {
            Some(elem) => self
                .order
                .range((Bound::Excluded(elem.pos), Bound::Unbounded))
                .next(),
            None => self.order.first_key_value(),
        };
        next.map(|(_, k)| &**k)
    }

    /// The keys in `htab_map_get_next_key` order (bucket ascending, newest first).
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.order.values().map(|k| &**k)
    }

    /// `(key, value)` pairs in `htab_map_get_next_key` order: what a user-space loop of
    /// `BPF_MAP_GET_NEXT_KEY` + `BPF_MAP_LOOKUP_ELEM` sees on an unchanging map.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.order.values().map(|k| {
            let elem = self
                .elems
                .get(k)
                .expect("htab: ordered key missing from elems");
            (&**k, &elem.value)
        })
    }

    /// Removes every element and returns them in walk order (bucket ascending, newest first),
    /// the order in which `htab_map_free` / `delete_all_elements` (`kernel/bpf/hashtab.c`)
    /// release them — e.g. to put the inner maps of a hash-of-maps. Releases the storage.
    pub fn drain(&mut self) -> Vec<(Box<[u8]>, V)> {
        let order = std::mem::take(&mut self.order);
        let mut elems = std::mem::take(&mut self.elems);
        let out = order
            .into_values()
            .map(|k| {
                let elem = elems
                    .remove(&k)
                    .expect("htab: ordered key missing from elems");
                (k, elem.value)
            })
            .collect();
        debug_assert!(elems.is_empty(), "htab: elems not in order");
        out
    }

    /// Removes every element and returns the values in walk order (see [`HashTable::drain`]).
    pub fn clear(&mut self) -> Vec<V> {
        self.drain().into_iter().map(|(_, v)| v).collect()
    }
}

/// Prints the elements in walk order (never the `FxHashMap`'s own order).
impl<V: fmt::Debug> fmt::Debug for HashTable<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashTable")
            .field("max_entries", &self.max_entries)
            .field("key_size", &self.key_size)
            .field("hashrnd", &self.hashrnd)
            .field("n_buckets", &self.n_buckets)
            .field("elems", &ElemsInOrder(self))
            .finish()
    }
}

/// Debug helper: the elements as a map in walk order.
struct ElemsInOrder<'a, V>(&'a HashTable<V>);

impl<V: fmt::Debug> fmt::Debug for ElemsInOrder<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

#[cfg(test)]
#[path = "htab_tests.rs"]
mod tests;

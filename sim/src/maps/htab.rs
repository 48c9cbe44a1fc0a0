//! The element set of a BPF hash map (`BPF_MAP_TYPE_HASH` and the types built on it), modeled on
//! `kernel/bpf/hashtab.c`, with the kernel's iteration order.
//!
//! The kernel keeps `n_buckets = roundup_pow_of_two(max_entries)` singly linked chains; an element
//! lives in bucket `htab_map_hash(key, key_size, hashrnd) & (n_buckets - 1)`, and updates link
//! the new element at the chain head (`hlist_nulls_add_head_rcu`). `BPF_MAP_GET_NEXT_KEY` walks
//! buckets in ascending index and each chain from its head, so the order is: bucket ascending,
//! newest element first within a bucket.
//!
//! This model stores no bucket array (a 2^31-entry map costs nothing until it holds elements);
//! memory is proportional to the number of elements:
//!
//! - a slab (`Vec` of entries plus a free list) holds each element's key, value, bucket, and the
//!   `prev`/`next` links of its bucket's chain — an intrusive doubly linked list, newest at the
//!   head, exactly the kernel's `hlist` order;
//! - `heads` (`FxHashMap<bucket, slot>`) holds the head of every non-empty chain;
//! - `nonempty` (`BTreeSet<bucket>`) orders the non-empty buckets; it changes only when a bucket
//!   becomes empty or non-empty;
//! - `index` (`HashMap<u64, slot>`) answers point lookups: it maps the key's 64-bit `FxHasher`
//!   hash to the newest slot with that hash (and does not hash that hash again), and slots with equal hashes are chained through
//!   `hash_next` (the key itself is compared in the slab, so each key is stored once).
//!
//! Replacing an existing key is one hash lookup, an O(1) unlink + relink at the head of its own
//! chain and an in-place overwrite of the value ([`HashTable::update_bytes`] reuses a byte
//! value's allocation). `get_next_key` follows the chain, then asks `nonempty` for the next
//! bucket (O(log n)). No hash map is ever iterated: every ordered view walks `nonempty` and the
//! chains.
//!
//! Rejected here, with the kernel's errno: unknown update flags (`EINVAL`), `BPF_NOEXIST` on an
//! existing key (`EEXIST`), `BPF_EXIST` on a missing key (`ENOENT`), a new key in a full table
//! (`E2BIG`). The caller checks everything that needs the map's type or BTF (`BPF_F_LOCK` without
//! a `bpf_spin_lock` → `EINVAL`) and turns `None` from `lookup`/`delete`/`get_next_key` into
//! `ENOENT`. LRU eviction is not modeled.

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::collections::btree_set;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Bound;

use rustc_hash::{FxHashMap, FxHasher};

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

/// "No slot": the end of a chain. Never a real slot: the slab holds at most `max_entries <=
/// u32::MAX` entries, so slot numbers stay below `u32::MAX`.
const NIL: u32 = u32::MAX;

/// The hasher of `index`, whose keys are already `FxHasher` outputs (well mixed, the entropy
/// moved to the low bits): it passes a `u64` through instead of hashing it a second time.
#[derive(Clone, Copy, Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline(always)]
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }

    /// Not used by `u64` keys; hashes anything else properly rather than panicking.
    fn write(&mut self, bytes: &[u8]) {
        let mut h = FxHasher::with_seed(self.0 as usize);
        h.write(bytes);
        self.0 = h.finish();
    }
}

/// One `struct htab_elem`: key, value, and its place in its bucket's chain.
#[derive(Clone)]
struct Entry<V> {
    key: Box<[u8]>,
    value: V,
    bucket: u32,
    /// The newer neighbour in the bucket chain; `NIL` at the head.
    prev: u32,
    /// The older neighbour (the kernel's `hlist` next); `NIL` at the tail.
    next: u32,
    /// The next (older) slot whose key has the same index hash; `NIL` at the end.
    hash_next: u32,
}

/// The element set of one BPF hash map (`struct bpf_htab` in `kernel/bpf/hashtab.c`): keys of
/// `key_size` bytes mapped to values `V`, at most `max_entries` of them, iterated in the
/// kernel's bucket order for the map's `hashrnd`.
///
/// Memory is proportional to the number of elements (the slab keeps its high-water mark, as a
/// hash map keeps its capacity), never to `max_entries`.
#[derive(Clone)]
pub struct HashTable<V> {
    max_entries: u32,
    key_size: u32,
    hashrnd: u32,
    n_buckets: u32,
    /// The elements; `None` marks a free slot (listed in `free`).
    slab: Vec<Option<Entry<V>>>,
    /// Free slots of `slab`, reused last-freed first.
    free: Vec<u32>,
    /// Number of elements (occupied slots).
    len: usize,
    /// Index hash of a key → the newest slot with that hash (see `hash_next`). Point lookups
    /// only; never iterated.
    index: HashMap<u64, u32, BuildHasherDefault<PreHashed>>,
    /// Bucket → the slot at the head of its chain, for every non-empty bucket. Point lookups
    /// only; never iterated.
    heads: FxHashMap<u32, u32>,
    /// The non-empty buckets, ascending: the kernel's bucket walk.
    nonempty: BTreeSet<u32>,
    /// Tests narrow the index hash to force equal hashes for different keys.
    #[cfg(test)]
    index_hash_mask: u64,
}

/// What one index lookup of an update found.
enum Probe {
    /// The key is present in this slot.
    Present(u32),
    /// The key is absent and may be inserted; its index hash.
    Absent(u64),
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
            slab: Vec::new(),
            free: Vec::new(),
            len: 0,
            index: HashMap::default(),
            heads: FxHashMap::default(),
            nonempty: BTreeSet::new(),
            #[cfg(test)]
            index_hash_mask: u64::MAX,
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
        self.len
    }

    /// Whether the table holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `len() == max_entries` (`is_map_full` in `kernel/bpf/hashtab.c`).
    pub fn is_full(&self) -> bool {
        self.len as u64 >= u64::from(self.max_entries)
    }

    /// The occupied entry in slot `s`. Only called with slots taken from the table's own links,
    /// which always name occupied slots.
    #[inline(always)]
    fn entry(&self, s: u32) -> &Entry<V> {
        match &self.slab[s as usize] {
            Some(e) => e,
            None => unreachable!("htab: link to a free slot"),
        }
    }

    /// [`HashTable::entry`], mutably.
    #[inline(always)]
    fn entry_mut(&mut self, s: u32) -> &mut Entry<V> {
        match &mut self.slab[s as usize] {
            Some(e) => e,
            None => unreachable!("htab: link to a free slot"),
        }
    }

    /// The key's hash in `index` (not the kernel's bucket hash, which only orders).
    #[inline(always)]
    fn index_hash(&self, key: &[u8]) -> u64 {
        let mut h = FxHasher::default();
        h.write(key);
        #[cfg(test)]
        return h.finish() & self.index_hash_mask;
        #[cfg(not(test))]
        h.finish()
    }

    /// The slot holding `key`, whose index hash is `h`.
    #[inline(always)]
    fn find_hashed(&self, key: &[u8], h: u64) -> Option<u32> {
        let mut s = *self.index.get(&h)?;
        loop {
            let e = self.entry(s);
            if *e.key == *key {
                return Some(s);
            }
            s = e.hash_next;
            if s == NIL {
                return None;
            }
        }
    }

    /// The slot holding `key`. A key of the wrong length is never present.
    #[inline(always)]
    fn find(&self, key: &[u8]) -> Option<u32> {
        if key.len() as u64 != u64::from(self.key_size) {
            return None;
        }
        self.find_hashed(key, self.index_hash(key))
    }

    /// The head slot of non-empty `bucket`.
    #[inline(always)]
    fn head(&self, bucket: u32) -> u32 {
        match self.heads.get(&bucket) {
            Some(&s) => s,
            None => unreachable!("htab: non-empty bucket without a head"),
        }
    }

    /// `htab_map_lookup_elem` (`kernel/bpf/hashtab.c`): the value stored under `key`, or `None`
    /// (the syscall returns `ENOENT`). A key of the wrong length is never present. Does not
    /// allocate.
    #[inline]
    pub fn lookup(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|s| &self.entry(s).value)
    }

    /// [`HashTable::lookup`] for writing the value in place (a BPF program writing through the
    /// pointer `bpf_map_lookup_elem` returned); the element keeps its position.
    #[inline]
    pub fn lookup_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let s = self.find(key)?;
        Some(&mut self.entry_mut(s).value)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// The flag and capacity checks shared by every update path, in the kernel's order:
    /// `(flags & ~BPF_F_LOCK) > BPF_EXIST` → `EINVAL` (`htab_map_update_elem`), then
    /// `check_flags` (`EEXIST` / `ENOENT`), then `alloc_htab_elem`'s full-table `E2BIG` for a
    /// new key. A key of the wrong length is `EINVAL` (the syscall layer always copies exactly
    /// `key_size` bytes, so the kernel cannot see one). One index lookup.
    #[inline(always)]
    fn check_update(&self, key: &[u8], flags: u64) -> SysResult<Probe> {
        let flags = flags & !BPF_F_LOCK;
        if flags > BPF_EXIST || key.len() as u64 != u64::from(self.key_size) {
            return Err(Errno::EINVAL);
        }
        let h = self.index_hash(key);
        match self.find_hashed(key, h) {
            Some(_) if flags == BPF_NOEXIST => Err(Errno::EEXIST),
            Some(s) => Ok(Probe::Present(s)),
            None if flags == BPF_EXIST => Err(Errno::ENOENT),
            None if self.is_full() => Err(Errno::E2BIG),
            None => Ok(Probe::Absent(h)),
        }
    }

    /// Links slot `s` (occupied, unlinked) at the head of its bucket's chain.
    fn link_head(&mut self, s: u32) {
        let bucket = self.entry(s).bucket;
        let next = match self.heads.entry(bucket) {
            MapEntry::Occupied(mut o) => std::mem::replace(o.get_mut(), s),
            MapEntry::Vacant(v) => {
                v.insert(s);
                self.nonempty.insert(bucket);
                NIL
            }
        };
        if next != NIL {
            self.entry_mut(next).prev = s;
        }
        let e = self.entry_mut(s);
        e.prev = NIL;
        e.next = next;
    }

    /// Unlinks slot `s` from its bucket's chain (its own links are left stale).
    fn unlink(&mut self, s: u32) {
        let Entry {
            bucket, prev, next, ..
        } = *self.entry(s);
        if prev != NIL {
            self.entry_mut(prev).next = next;
        } else if next != NIL {
            self.heads.insert(bucket, next);
        } else {
            self.heads.remove(&bucket);
            self.nonempty.remove(&bucket);
        }
        if next != NIL {
            self.entry_mut(next).prev = prev;
        }
    }

    /// Makes slot `s` the newest element of its bucket, as the kernel's replace does (new
    /// element linked at the head, old one unlinked). O(1); no-op for the head.
    #[inline]
    fn move_to_head(&mut self, s: u32) {
        let Entry {
            bucket, prev, next, ..
        } = *self.entry(s);
        if prev == NIL {
            return;
        }
        // Not the head, so the bucket stays non-empty and its head changes to `s`.
        self.entry_mut(prev).next = next;
        if next != NIL {
            self.entry_mut(next).prev = prev;
        }
        let old_head = match self.heads.get_mut(&bucket) {
            Some(h) => std::mem::replace(h, s),
            None => unreachable!("htab: non-empty bucket without a head"),
        };
        self.entry_mut(old_head).prev = s;
        let e = self.entry_mut(s);
        e.prev = NIL;
        e.next = old_head;
    }

    /// Links a new element at the head of its bucket. The caller has checked capacity and
    /// that `key` (index hash `h`) is absent.
    fn insert_new(&mut self, key: &[u8], h: u64, value: V) {
        let s = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slab.push(None);
                (self.slab.len() - 1) as u32
            }
        };
        let hash_next = self.index.insert(h, s).unwrap_or(NIL);
        self.slab[s as usize] = Some(Entry {
            key: key.into(),
            value,
            bucket: self.bucket_of(key),
            prev: NIL,
            next: NIL,
            hash_next,
        });
        self.len += 1;
        self.link_head(s);
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
        match self.check_update(key, flags)? {
            Probe::Present(s) => {
                self.move_to_head(s);
                Ok(Some(std::mem::replace(&mut self.entry_mut(s).value, value)))
            }
            Probe::Absent(h) => {
                self.insert_new(key, h, value);
                Ok(None)
            }
        }
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
        match self.check_update(key, flags)? {
            Probe::Present(s) => Ok(Some(std::mem::replace(&mut self.entry_mut(s).value, value))),
            Probe::Absent(h) => {
                self.insert_new(key, h, value);
                Ok(None)
            }
        }
    }

    /// `htab_map_delete_elem` (`kernel/bpf/hashtab.c`): unlinks `key` and returns its value, or
    /// `None` if absent (the syscall returns `ENOENT`).
    pub fn delete(&mut self, key: &[u8]) -> Option<V> {
        if key.len() as u64 != u64::from(self.key_size) {
            return None;
        }
        let h = self.index_hash(key);
        let MapEntry::Occupied(mut first) = self.index.entry(h) else {
            return None;
        };
        // Find the slot and its predecessor in the equal-hash chain.
        let (mut before, mut s) = (NIL, *first.get());
        loop {
            let e = match &self.slab[s as usize] {
                Some(e) => e,
                None => unreachable!("htab: link to a free slot"),
            };
            if *e.key == *key {
                break;
            }
            if e.hash_next == NIL {
                return None;
            }
            (before, s) = (s, e.hash_next);
        }
        let hash_next = self.slab[s as usize].as_ref().map_or(NIL, |e| e.hash_next);
        match (before, hash_next) {
            (NIL, NIL) => drop(first.remove()),
            (NIL, n) => *first.get_mut() = n,
            (b, n) => {
                if let Some(e) = &mut self.slab[b as usize] {
                    e.hash_next = n;
                }
            }
        }
        self.unlink(s);
        let entry = self.slab[s as usize].take()?;
        self.len -= 1;
        if self.len == 0 {
            // Keep the capacity (as the index does) but drop the free list.
            self.slab.clear();
            self.free.clear();
        } else {
            self.free.push(s);
        }
        Some(entry.value)
    }

    /// `htab_map_get_next_key` (`kernel/bpf/hashtab.c`): the key after `key` in the walk order.
    ///
    /// `None` or a key not in the table (wrong length included) → the first element; a present
    /// key → the next (older) element of its bucket chain, else the head of the next non-empty
    /// bucket; the last element, or an empty table → `None` (the syscall returns `ENOENT`).
    /// O(1) inside a chain, O(log n) to the next bucket.
    pub fn get_next_key(&self, key: Option<&[u8]>) -> Option<&[u8]> {
        let next = match key.and_then(|k| self.find(k)) {
            Some(s) => {
                let e = self.entry(s);
                if e.next != NIL {
                    e.next
                } else {
                    let b = self
                        .nonempty
                        .range((Bound::Excluded(e.bucket), Bound::Unbounded))
                        .next()?;
                    self.head(*b)
                }
            }
            None => self.head(*self.nonempty.first()?),
        };
        Some(&self.entry(next).key)
    }

    /// The occupied slots in walk order.
    fn walk(&self) -> Walk<'_, V> {
        Walk {
            table: self,
            buckets: self.nonempty.iter(),
            cur: NIL,
        }
    }

    /// The keys in `htab_map_get_next_key` order (bucket ascending, newest first).
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.walk().map(|s| &*self.entry(s).key)
    }

    /// `(key, value)` pairs in `htab_map_get_next_key` order: what a user-space loop of
    /// `BPF_MAP_GET_NEXT_KEY` + `BPF_MAP_LOOKUP_ELEM` sees on an unchanging map.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.walk().map(|s| {
            let e = self.entry(s);
            (&*e.key, &e.value)
        })
    }

    /// Removes every element and returns them in walk order (bucket ascending, newest first),
    /// the order in which `htab_map_free` / `delete_all_elements` (`kernel/bpf/hashtab.c`)
    /// release them — e.g. to put the inner maps of a hash-of-maps. Releases the storage.
    pub fn drain(&mut self) -> Vec<(Box<[u8]>, V)> {
        let order: Vec<u32> = self.walk().collect();
        let mut slab = std::mem::take(&mut self.slab);
        self.free = Vec::new();
        self.len = 0;
        self.index = HashMap::default();
        self.heads = FxHashMap::default();
        self.nonempty = BTreeSet::new();
        order
            .into_iter()
            .filter_map(|s| slab[s as usize].take())
            .map(|e| (e.key, e.value))
            .collect()
    }

    /// Removes every element and returns the values in walk order (see [`HashTable::drain`]).
    pub fn clear(&mut self) -> Vec<V> {
        self.drain().into_iter().map(|(_, v)| v).collect()
    }
}

impl HashTable<Box<[u8]>> {
    /// [`HashTable::update`] for byte values, without handing back the old value: the same
    /// checks, errors and order (the key becomes the newest of its bucket), but a replaced
    /// value of the same length is overwritten in its existing allocation. The fast path of
    /// `BPF_MAP_UPDATE_ELEM` on a `BPF_MAP_TYPE_HASH`.
    pub fn update_bytes(&mut self, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        match self.check_update(key, flags)? {
            Probe::Present(s) => {
                self.move_to_head(s);
                let old = &mut self.entry_mut(s).value;
                if old.len() == value.len() {
                    old.copy_from_slice(value);
                } else {
                    *old = value.into();
                }
            }
            Probe::Absent(h) => self.insert_new(key, h, value.into()),
        }
        Ok(())
    }
}

/// The slots of a [`HashTable`] in walk order: non-empty buckets ascending, each chain from
/// its head.
struct Walk<'a, V> {
    table: &'a HashTable<V>,
    buckets: btree_set::Iter<'a, u32>,
    /// The next slot of the current chain; `NIL` between chains.
    cur: u32,
}

impl<'a, V> Iterator for Walk<'a, V> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.cur == NIL {
            self.cur = self.table.head(*self.buckets.next()?);
        }
        let s = self.cur;
        self.cur = self.table.entry(s).next;
        Some(s)
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

//! Tests of [`HashTable`]: one per rule of `htab_map_update_elem` / `htab_map_get_next_key`,
//! the `BPF_F_ZERO_SEED` order, and a 10k-op pseudo-random run against a literal model of the
//! kernel's bucket chains.

use super::*;

const ANY: u64 = 0;
const NOEXIST: u64 = 1;
const EXIST: u64 = 2;
const LOCK: u64 = 4;

fn k(n: u32) -> [u8; 4] {
    n.to_le_bytes()
}

fn keys_u32(t: &HashTable<u32>) -> Vec<u32> {
    t.keys()
        .map(|k| u32::from_le_bytes(k.try_into().unwrap()))
        .collect()
}

/// Walks the table with `get_next_key` as user space does, starting from `None`.
fn walk(t: &HashTable<u32>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    while let Some(next) = t.get_next_key(cur.as_deref()) {
        out.push(next.to_vec());
        cur = Some(next.to_vec());
        assert!(out.len() <= t.len(), "walk does not terminate");
    }
    out
}

/// Two keys of the same bucket in a 16-bucket zero-seed table, found by search.
fn same_bucket_pair(t: &HashTable<u32>) -> (u32, u32) {
    let b1 = t.bucket_of(&k(1));
    let other = (2..).find(|&n| t.bucket_of(&k(n)) == b1).unwrap();
    (1, other)
}

#[test]
fn n_buckets_is_roundup_pow_of_two() {
    assert_eq!(HashTable::<u32>::new(1, 4, 0).n_buckets(), 1);
    assert_eq!(HashTable::<u32>::new(16, 4, 0).n_buckets(), 16);
    assert_eq!(HashTable::<u32>::new(17, 4, 0).n_buckets(), 32);
    assert_eq!(HashTable::<u32>::new(1 << 31, 4, 0).n_buckets(), 1 << 31);
    // Rejected by the kernel; must not panic here.
    assert_eq!(HashTable::<u32>::new(0, 4, 0).n_buckets(), 1);
    assert_eq!(HashTable::<u32>::new(u32::MAX, 4, 0).n_buckets(), 1 << 31);
}

#[test]
fn try_new_over_2_pow_31_is_e2big() {
    assert_eq!(
        HashTable::<u32>::try_new((1 << 31) + 1, 4, 0).err(),
        Some(Errno::E2BIG)
    );
    assert!(HashTable::<u32>::try_new(1 << 31, 4, 0).is_ok());
}

#[test]
fn huge_max_entries_allocates_nothing() {
    let mut t = HashTable::<u32>::new(1 << 31, 4, 0);
    assert_eq!(t.index.capacity(), 0);
    assert_eq!(t.heads.capacity(), 0);
    assert_eq!(t.slab.capacity(), 0);
    assert!(t.nonempty.is_empty());
    t.update(&k(7), 1, ANY).unwrap();
    assert!(t.index.capacity() < 16, "capacity {}", t.index.capacity());
    assert!(t.heads.capacity() < 16, "capacity {}", t.heads.capacity());
    assert!(t.slab.capacity() < 16, "capacity {}", t.slab.capacity());
    assert_eq!(
        t.bucket_of(&k(7)),
        htab_map_hash(&k(7), 0) & ((1 << 31) - 1)
    );
}

#[test]
fn lookup_missing_is_none() {
    let t = HashTable::<u32>::new(4, 4, 0);
    assert_eq!(t.lookup(&k(1)), None);
}

#[test]
fn lookup_wrong_length_key_is_none() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    t.update(&k(1), 10, ANY).unwrap();
    assert_eq!(t.lookup(&[1, 0, 0]), None);
    assert_eq!(t.lookup(&[1, 0, 0, 0, 0]), None);
}

#[test]
fn update_any_inserts_then_replaces() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    assert_eq!(t.update(&k(1), 10, ANY), Ok(None));
    assert_eq!(t.lookup(&k(1)), Some(&10));
    assert_eq!(t.update(&k(1), 11, ANY), Ok(Some(10)));
    assert_eq!(t.lookup(&k(1)), Some(&11));
    assert_eq!(t.len(), 1);
}

#[test]
fn lookup_mut_writes_in_place() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    t.update(&k(1), 10, ANY).unwrap();
    *t.lookup_mut(&k(1)).unwrap() = 12;
    assert_eq!(t.lookup(&k(1)), Some(&12));
    assert_eq!(t.lookup_mut(&k(2)), None);
}

#[test]
fn update_unknown_flags_is_einval() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    for flags in [3, 8, 1 << 32, LOCK | 3, u64::MAX] {
        assert_eq!(
            t.update(&k(1), 1, flags),
            Err(Errno::EINVAL),
            "flags {flags:#x}"
        );
        assert_eq!(
            t.update_in_place(&k(1), 1, flags),
            Err(Errno::EINVAL),
            "flags {flags:#x}"
        );
    }
    assert!(t.is_empty());
}

#[test]
fn update_f_lock_is_masked_from_flag_check() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    assert_eq!(t.update(&k(1), 1, LOCK), Ok(None));
    assert_eq!(t.update(&k(1), 2, LOCK | EXIST), Ok(Some(1)));
    assert_eq!(t.update(&k(1), 3, LOCK | NOEXIST), Err(Errno::EEXIST));
}

#[test]
fn update_wrong_key_length_is_einval() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    assert_eq!(t.update(&[1, 2, 3], 1, ANY), Err(Errno::EINVAL));
    assert_eq!(t.update(&[], 1, ANY), Err(Errno::EINVAL));
    assert!(t.is_empty());
}

#[test]
fn update_noexist_on_existing_is_eexist() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    assert_eq!(t.update(&k(1), 10, NOEXIST), Ok(None));
    assert_eq!(t.update(&k(1), 11, NOEXIST), Err(Errno::EEXIST));
    assert_eq!(t.lookup(&k(1)), Some(&10));
}

#[test]
fn update_exist_on_missing_is_enoent() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    assert_eq!(t.update(&k(1), 10, EXIST), Err(Errno::ENOENT));
    assert!(t.is_empty());
    t.update(&k(1), 10, ANY).unwrap();
    assert_eq!(t.update(&k(1), 11, EXIST), Ok(Some(10)));
}

#[test]
fn full_table_rejects_new_key_with_e2big() {
    let mut t = HashTable::<u32>::new(3, 4, 0);
    for n in 0..3 {
        t.update(&k(n), n, ANY).unwrap();
    }
    assert!(t.is_full());
    assert_eq!(t.update(&k(9), 9, ANY), Err(Errno::E2BIG));
    assert_eq!(t.update(&k(9), 9, NOEXIST), Err(Errno::E2BIG));
    assert_eq!(t.update_in_place(&k(9), 9, ANY), Err(Errno::E2BIG));
    assert_eq!(t.len(), 3);
    assert_eq!(t.lookup(&k(9)), None);
}

#[test]
fn full_table_flag_errors_come_before_e2big() {
    // check_flags runs before alloc_htab_elem.
    let mut t = HashTable::<u32>::new(1, 4, 0);
    t.update(&k(0), 0, ANY).unwrap();
    assert_eq!(t.update(&k(5), 5, EXIST), Err(Errno::ENOENT));
    assert_eq!(t.update(&k(0), 5, NOEXIST), Err(Errno::EEXIST));
}

#[test]
fn full_table_allows_replace() {
    let mut t = HashTable::<u32>::new(2, 4, 0);
    t.update(&k(1), 1, ANY).unwrap();
    t.update(&k(2), 2, ANY).unwrap();
    assert_eq!(t.update(&k(1), 10, ANY), Ok(Some(1)));
    assert_eq!(t.update(&k(2), 20, EXIST), Ok(Some(2)));
    assert_eq!(t.update_in_place(&k(2), 21, ANY), Ok(Some(20)));
    assert_eq!(t.len(), 2);
}

#[test]
fn delete_frees_a_slot() {
    let mut t = HashTable::<u32>::new(1, 4, 0);
    t.update(&k(1), 1, ANY).unwrap();
    assert_eq!(t.delete(&k(1)), Some(1));
    assert_eq!(t.update(&k(2), 2, ANY), Ok(None));
}

#[test]
fn delete_missing_is_none() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    assert_eq!(t.delete(&k(1)), None);
    t.update(&k(1), 1, ANY).unwrap();
    assert_eq!(t.delete(&k(1)), Some(1));
    assert_eq!(t.delete(&k(1)), None);
    assert_eq!(t.get_next_key(None), None);
}

#[test]
fn empty_table_get_next_key_none() {
    let t = HashTable::<u32>::new(16, 4, 0);
    assert_eq!(t.get_next_key(None), None);
    assert_eq!(t.get_next_key(Some(&k(1))), None);
}

#[test]
fn get_next_key_none_returns_first() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    for n in 1..=10 {
        t.update(&k(n), n, ANY).unwrap();
    }
    assert_eq!(t.get_next_key(None), t.keys().next());
}

#[test]
fn get_next_key_absent_key_restarts_at_first() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    for n in 1..=10 {
        t.update(&k(n), n, ANY).unwrap();
    }
    let first = t.get_next_key(None);
    assert_eq!(t.get_next_key(Some(&k(999))), first);
    assert_eq!(t.get_next_key(Some(&[1, 0, 0])), first);
}

#[test]
fn last_key_is_enoent() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    for n in 1..=10 {
        t.update(&k(n), n, ANY).unwrap();
    }
    let last = t.keys().last().unwrap().to_vec();
    assert_eq!(t.get_next_key(Some(&last)), None);
}

#[test]
fn get_next_key_walk_visits_every_key_once_in_iter_order() {
    let mut t = HashTable::<u32>::new(64, 4, 0x1234_5678);
    for n in 0..50 {
        t.update(&k(n * 7), n, ANY).unwrap();
    }
    let walked = walk(&t);
    let iterated: Vec<Vec<u8>> = t.iter().map(|(k, _)| k.to_vec()).collect();
    assert_eq!(walked, iterated);
    assert_eq!(walked.len(), 50);
}

#[test]
fn order_is_bucket_ascending() {
    let mut t = HashTable::<u32>::new(64, 4, 0);
    for n in 0..60 {
        t.update(&k(n), n, ANY).unwrap();
    }
    let buckets: Vec<u32> = t.keys().map(|key| t.bucket_of(key)).collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
}

#[test]
fn new_key_goes_to_bucket_head() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    let (a, b) = same_bucket_pair(&t);
    t.update(&k(a), 0, ANY).unwrap();
    t.update(&k(b), 0, ANY).unwrap();
    assert_eq!(keys_u32(&t), vec![b, a]);
    assert_eq!(t.get_next_key(Some(&k(b))), Some(&k(a)[..]));
}

#[test]
fn replace_moves_key_to_bucket_head() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    let (a, b) = same_bucket_pair(&t);
    t.update(&k(a), 0, ANY).unwrap();
    t.update(&k(b), 0, ANY).unwrap();
    assert_eq!(keys_u32(&t), vec![b, a]);
    t.update(&k(a), 1, EXIST).unwrap();
    assert_eq!(keys_u32(&t), vec![a, b]);
    t.update(&k(b), 1, LOCK).unwrap();
    assert_eq!(keys_u32(&t), vec![b, a]);
}

#[test]
fn update_in_place_keeps_position() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    let (a, b) = same_bucket_pair(&t);
    t.update(&k(a), 0, ANY).unwrap();
    t.update(&k(b), 0, ANY).unwrap();
    assert_eq!(t.update_in_place(&k(a), 5, ANY), Ok(Some(0)));
    assert_eq!(keys_u32(&t), vec![b, a]);
    assert_eq!(t.lookup(&k(a)), Some(&5));
}

#[test]
fn update_in_place_new_key_goes_to_bucket_head() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    let (a, b) = same_bucket_pair(&t);
    t.update(&k(a), 0, ANY).unwrap();
    assert_eq!(t.update_in_place(&k(b), 1, ANY), Ok(None));
    assert_eq!(keys_u32(&t), vec![b, a]);
}

#[test]
fn delete_then_reinsert_goes_to_bucket_head() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    let (a, b) = same_bucket_pair(&t);
    t.update(&k(b), 0, ANY).unwrap();
    t.update(&k(a), 0, ANY).unwrap();
    assert_eq!(keys_u32(&t), vec![a, b]);
    t.delete(&k(b)).unwrap();
    t.update(&k(b), 0, ANY).unwrap();
    assert_eq!(keys_u32(&t), vec![b, a]);
}

#[test]
fn zero_seed_order_of_keys_1_to_10() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    for n in 1..=10 {
        t.update(&k(n), n, ANY).unwrap();
    }
    let order = keys_u32(&t);
    let buckets: Vec<u32> = order.iter().map(|&n| t.bucket_of(&k(n))).collect();
    println!("ZERO_SEED order: {order:?} buckets: {buckets:?}");
    assert_eq!(order, ZERO_SEED_1_TO_10);
}

/// Predicted `BPF_MAP_GET_NEXT_KEY` order of u32 keys 1..=10 inserted in order into a
/// `BPF_MAP_TYPE_HASH` with `max_entries = 16` and `BPF_F_ZERO_SEED`: buckets
/// `jhash2(&[n], 0) & 15` = 10→1, 4→1, 5→6, 7→10, 2→10, 1→11, 8→12, 9→13, 6→14, 3→15, newest
/// first inside bucket 1 and bucket 10. Not yet compared with the real kernel.
const ZERO_SEED_1_TO_10: [u32; 10] = [10, 4, 5, 7, 2, 1, 8, 9, 6, 3];

#[test]
fn seed_changes_order() {
    let mut t0 = HashTable::<u32>::new(16, 4, 0);
    let mut t1 = HashTable::<u32>::new(16, 4, 0x9e37_79b9);
    for n in 1..=10 {
        t0.update(&k(n), n, ANY).unwrap();
        t1.update(&k(n), n, ANY).unwrap();
    }
    assert_ne!(keys_u32(&t0), keys_u32(&t1));
}

#[test]
fn drain_returns_values_in_walk_order_and_empties() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    for n in 1..=10 {
        t.update(&k(n), n * 100, ANY).unwrap();
    }
    let expected: Vec<(Vec<u8>, u32)> = t.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
    let drained: Vec<(Vec<u8>, u32)> = t
        .drain()
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v))
        .collect();
    assert_eq!(drained, expected);
    assert!(t.is_empty());
    assert_eq!(t.get_next_key(None), None);
    assert_eq!(t.index.capacity(), 0);
    assert_eq!(t.heads.capacity(), 0);
    assert_eq!(t.slab.capacity(), 0);
    t.update(&k(1), 1, ANY).unwrap();
    assert_eq!(t.len(), 1);
}

#[test]
fn clear_returns_values_in_walk_order() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    for n in 1..=10 {
        t.update(&k(n), n * 100, ANY).unwrap();
    }
    let expected: Vec<u32> = t.iter().map(|(_, v)| *v).collect();
    assert_eq!(t.clear(), expected);
    assert!(t.is_empty());
}

#[test]
fn odd_key_size_uses_jhash_buckets() {
    let mut t = HashTable::<u32>::new(8, 3, 0);
    t.update(&[1, 2, 3], 1, ANY).unwrap();
    assert_eq!(
        t.bucket_of(&[1, 2, 3]),
        crate::maps::jhash::jhash(&[1, 2, 3], 0) & 7
    );
    assert_eq!(t.lookup(&[1, 2, 3]), Some(&1));
}

#[test]
fn debug_prints_walk_order() {
    let mut t = HashTable::<u32>::new(16, 4, 0);
    for n in 1..=3 {
        t.update(&k(n), n, ANY).unwrap();
    }
    let s = format!("{t:?}");
    let first = t.keys().next().unwrap();
    assert!(s.contains(&format!("{first:?}: ")), "{s}");
}

/// Checks every internal link of `t`: the free list against the slab, each bucket chain (both
/// directions, one bucket, the right bucket), `heads` against `nonempty`, and that the index
/// reaches every element exactly once through its equal-hash chain.
fn check_links<V>(t: &HashTable<V>) {
    let occupied: Vec<u32> = (0..t.slab.len() as u32)
        .filter(|&s| t.slab[s as usize].is_some())
        .collect();
    assert_eq!(occupied.len(), t.len(), "len");
    let mut free = t.free.clone();
    free.sort_unstable();
    free.dedup();
    assert_eq!(free.len(), t.free.len(), "free list has duplicates");
    assert_eq!(free.len() + occupied.len(), t.slab.len(), "free list");
    assert!(
        free.iter().all(|&s| t.slab[s as usize].is_none()),
        "free list"
    );
    assert_eq!(t.heads.len(), t.nonempty.len(), "heads vs nonempty");
    let mut chained = 0;
    for &b in &t.nonempty {
        let mut s = t.heads[&b];
        let mut prev = NIL;
        while s != NIL {
            let e = t.entry(s);
            assert_eq!(e.prev, prev, "prev link of slot {s}");
            assert_eq!(e.bucket, b, "slot {s} in the wrong chain");
            assert_eq!(t.bucket_of(&e.key), b, "slot {s} bucket");
            chained += 1;
            assert!(chained <= t.len(), "chain cycle");
            (prev, s) = (s, e.next);
        }
    }
    assert_eq!(chained, t.len(), "elements outside every chain");
    let mut indexed = 0;
    for &s in &occupied {
        let e = t.entry(s);
        assert_eq!(t.find(&e.key), Some(s), "find slot {s}");
        let h = t.index_hash(&e.key);
        let mut c = t.index[&h];
        let mut len = 0;
        while c != NIL {
            assert_eq!(t.index_hash(&t.entry(c).key), h, "hash chain mixes hashes");
            len += 1;
            assert!(len <= t.len(), "hash chain cycle");
            c = t.entry(c).hash_next;
        }
        if t.index[&h] == s {
            indexed += len;
        }
    }
    assert_eq!(indexed, t.len(), "index does not reach every element once");
}

/// A literal model of the kernel's structure: `n_buckets` chains, index 0 the head, walked as
/// `htab_map_get_next_key` does. Slow and obviously right; the reference for the LCG run.
struct RefHtab {
    max_entries: usize,
    hashrnd: u32,
    buckets: Vec<Vec<(Vec<u8>, u32)>>,
}

impl RefHtab {
    fn new(max_entries: u32, hashrnd: u32) -> Self {
        let n = (max_entries as usize).next_power_of_two();
        RefHtab {
            max_entries: max_entries as usize,
            hashrnd,
            buckets: vec![Vec::new(); n],
        }
    }

    fn bucket(&self, key: &[u8]) -> usize {
        // jhash, not htab_map_hash: equal on little-endian, so this cross-checks the wrapper.
        crate::maps::jhash::jhash(key, self.hashrnd) as usize & (self.buckets.len() - 1)
    }

    fn count(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    fn find(&self, key: &[u8]) -> Option<(usize, usize)> {
        let b = self.bucket(key);
        self.buckets[b]
            .iter()
            .position(|(k, _)| k == key)
            .map(|i| (b, i))
    }

    fn lookup(&self, key: &[u8]) -> Option<u32> {
        self.find(key).map(|(b, i)| self.buckets[b][i].1)
    }

    fn update(
        &mut self,
        key: &[u8],
        value: u32,
        flags: u64,
        in_place: bool,
    ) -> SysResult<Option<u32>> {
        if flags & !LOCK > EXIST {
            return Err(Errno::EINVAL);
        }
        let old = self.find(key);
        let f = flags & !LOCK;
        if old.is_some() && f == NOEXIST {
            return Err(Errno::EEXIST);
        }
        if old.is_none() && f == EXIST {
            return Err(Errno::ENOENT);
        }
        if let (true, Some((b, i))) = (in_place, old) {
            return Ok(Some(std::mem::replace(&mut self.buckets[b][i].1, value)));
        }
        if old.is_none() && self.count() >= self.max_entries {
            return Err(Errno::E2BIG);
        }
        let b = self.bucket(key);
        self.buckets[b].insert(0, (key.to_vec(), value));
        Ok(old.map(|(_, i)| self.buckets[b].remove(i + 1).1))
    }

    fn delete(&mut self, key: &[u8]) -> Option<u32> {
        self.find(key).map(|(b, i)| self.buckets[b].remove(i).1)
    }

    fn get_next_key(&self, key: Option<&[u8]>) -> Option<Vec<u8>> {
        let mut start = 0;
        if let Some((b, i)) = key.and_then(|k| self.find(k)) {
            if let Some((k, _)) = self.buckets[b].get(i + 1) {
                return Some(k.clone());
            }
            start = b + 1;
        }
        self.buckets[start..]
            .iter()
            .find_map(|chain| chain.first().map(|(k, _)| k.clone()))
    }

    fn all(&self) -> Vec<(Vec<u8>, u32)> {
        self.buckets.iter().flatten().cloned().collect()
    }
}

/// Numerical Recipes' 64-bit LCG; the high bits are the usable ones.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// 10k pseudo-random lookups, updates (both kinds, all flag kinds), deletes, get_next_key calls
/// and drains, each compared with [`RefHtab`], plus the full walk order after every op.
fn check_against_reference(
    seed: u64,
    max_entries: u32,
    key_size: usize,
    hashrnd: u32,
    domain: u32,
) {
    check_against_reference_masked(seed, max_entries, key_size, hashrnd, domain, u64::MAX);
}

/// [`check_against_reference`] with the index hash narrowed to `index_hash_mask` (a small mask
/// makes different keys share an index hash), checking the table's links after every op.
fn check_against_reference_masked(
    seed: u64,
    max_entries: u32,
    key_size: usize,
    hashrnd: u32,
    domain: u32,
    index_hash_mask: u64,
) {
    let mut rng = Lcg(seed);
    let mut t = HashTable::<u32>::new(max_entries, key_size as u32, hashrnd);
    t.index_hash_mask = index_hash_mask;
    let mut r = RefHtab::new(max_entries, hashrnd);
    let key_of = |n: u32| -> Vec<u8> {
        let mut key = vec![0xa5u8; key_size];
        let bytes = n.to_le_bytes();
        let m = key_size.min(4);
        key[..m].copy_from_slice(&bytes[..m]);
        key
    };
    let (mut e2big, mut replaced) = (0, 0);
    for op in 0..10_000 {
        let key = key_of(rng.below(domain));
        let ctx = format!("seed {seed:#x} op {op} key {key:?}");
        match rng.below(100) {
            0..=14 => assert_eq!(t.lookup(&key).copied(), r.lookup(&key), "{ctx}"),
            15..=54 => {
                let flags =
                    [ANY, ANY, NOEXIST, EXIST, LOCK, LOCK | EXIST, 3, 8][rng.below(8) as usize];
                let in_place = rng.below(4) == 0;
                let value = rng.next();
                let got = if in_place {
                    t.update_in_place(&key, value, flags)
                } else {
                    t.update(&key, value, flags)
                };
                let want = r.update(&key, value, flags, in_place);
                e2big += usize::from(want == Err(Errno::E2BIG));
                replaced += usize::from(matches!(want, Ok(Some(_))));
                assert_eq!(got, want, "{ctx} flags {flags} in_place {in_place}");
            }
            55..=64 => assert_eq!(t.delete(&key), r.delete(&key), "{ctx}"),
            65..=98 => {
                let arg = match rng.below(3) {
                    0 => None,
                    1 => Some(key.clone()),
                    // A present key, so the in-chain / next-bucket paths are exercised.
                    _ => r
                        .all()
                        .get(rng.below(max_entries) as usize)
                        .map(|(k, _)| k.clone()),
                };
                let got = t.get_next_key(arg.as_deref()).map(<[u8]>::to_vec);
                assert_eq!(got, r.get_next_key(arg.as_deref()), "{ctx} arg {arg:?}");
            }
            _ => {
                if rng.below(20) == 0 {
                    let got: Vec<(Vec<u8>, u32)> = t
                        .drain()
                        .into_iter()
                        .map(|(k, v)| (k.into_vec(), v))
                        .collect();
                    assert_eq!(got, r.all(), "{ctx} drain");
                    r = RefHtab::new(max_entries, hashrnd);
                }
            }
        }
        let ours: Vec<(Vec<u8>, u32)> = t.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
        assert_eq!(ours, r.all(), "{ctx}: order diverged");
        assert_eq!(t.len(), r.count(), "{ctx}");
        check_links(&t);
    }
    assert_eq!(
        walk(&t),
        r.all().into_iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    assert!(
        e2big > 0 && replaced > 0,
        "run did not reach full table / replace: {e2big} {replaced}"
    );
}

#[test]
fn lcg_ops_match_reference_u32_keys_zero_seed() {
    check_against_reference(1, 40, 4, 0, 60);
}

#[test]
fn lcg_ops_match_reference_long_chains() {
    // 5 entries in 8 buckets, 3-byte keys (the jhash path), nonzero seed.
    check_against_reference(0xfeed, 5, 3, 0xdead_0001, 9);
}

#[test]
fn lcg_ops_match_reference_multi_block_keys() {
    // 16-byte keys: jhash2 with a mix round; 13-byte keys: jhash with a mix round.
    check_against_reference(42, 30, 16, 7, 45);
    check_against_reference(43, 30, 13, 7, 45);
}

#[test]
fn lcg_ops_match_reference_with_shared_index_hashes() {
    // Four index hashes (or one) for up to 40 keys: long equal-hash chains, deleted from the
    // head, middle and tail.
    check_against_reference_masked(7, 40, 4, 0, 60, 0b11);
    check_against_reference_masked(8, 12, 3, 5, 20, 0);
}

#[test]
fn lookup_wrong_length_key_with_shared_index_hashes_is_none() {
    let mut t = HashTable::<u32>::new(4, 4, 0);
    t.index_hash_mask = 0;
    t.update(&k(1), 1, ANY).unwrap();
    t.update(&k(2), 2, ANY).unwrap();
    assert_eq!(t.lookup(&k(1)), Some(&1));
    assert_eq!(t.lookup(&k(3)), None);
    assert_eq!(t.lookup(&[1, 0, 0]), None);
    assert_eq!(t.delete(&k(3)), None);
    assert_eq!(t.delete(&[1, 0, 0, 0, 0]), None);
    assert_eq!(t.delete(&k(1)), Some(1));
    assert_eq!(t.lookup(&k(2)), Some(&2));
    check_links(&t);
}

#[test]
fn update_bytes_reuses_the_value_allocation() {
    let mut t = HashTable::<Box<[u8]>>::new(4, 4, 0);
    t.update_bytes(&k(1), &[1; 8], ANY).unwrap();
    let ptr = t.lookup(&k(1)).unwrap().as_ptr();
    t.update_bytes(&k(1), &[2; 8], ANY).unwrap();
    assert_eq!(t.lookup(&k(1)).unwrap().as_ptr(), ptr);
    assert_eq!(&**t.lookup(&k(1)).unwrap(), &[2; 8]);
    // A different length (not reachable from the syscall) still stores the new value.
    t.update_bytes(&k(1), &[3; 5], EXIST).unwrap();
    assert_eq!(&**t.lookup(&k(1)).unwrap(), &[3; 5]);
}

#[test]
fn update_bytes_matches_update() {
    // Same checks, errors, order and values as `update`, op for op.
    let mut rng = Lcg(99);
    let mut a = HashTable::<Box<[u8]>>::new(20, 4, 3);
    let mut b = HashTable::<Box<[u8]>>::new(20, 4, 3);
    for op in 0..5_000 {
        let key = k(rng.below(30));
        match rng.below(10) {
            0..=6 => {
                let flags = [ANY, NOEXIST, EXIST, LOCK, 3][rng.below(5) as usize];
                let value = vec![rng.below(256) as u8; 1 + rng.below(3) as usize];
                let got = a.update_bytes(&key, &value, flags);
                let want = b.update(&key, value.into(), flags).map(drop);
                assert_eq!(got, want, "op {op}");
            }
            _ => assert_eq!(a.delete(&key), b.delete(&key), "op {op}"),
        }
        assert!(a.iter().eq(b.iter()), "op {op}");
        check_links(&a);
    }
}

#[test]
fn replace_in_a_long_chain_moves_only_that_key() {
    // One bucket: the whole table is one chain; replacing the middle, tail and head.
    let mut t = HashTable::<u32>::new(1, 4, 0);
    t.max_entries = 8;
    for n in 0..5 {
        t.update(&k(n), n, ANY).unwrap();
    }
    assert_eq!(keys_u32(&t), vec![4, 3, 2, 1, 0]);
    t.update(&k(2), 20, ANY).unwrap();
    assert_eq!(keys_u32(&t), vec![2, 4, 3, 1, 0]);
    t.update(&k(0), 10, ANY).unwrap();
    assert_eq!(keys_u32(&t), vec![0, 2, 4, 3, 1]);
    t.update(&k(0), 11, ANY).unwrap();
    assert_eq!(keys_u32(&t), vec![0, 2, 4, 3, 1]);
    assert_eq!(t.delete(&k(4)), Some(4));
    assert_eq!(walk(&t), [0, 2, 3, 1].map(|n| k(n).to_vec()).to_vec());
    check_links(&t);
}

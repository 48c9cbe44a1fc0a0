//! The kernel's cyclic id allocator (`idr_alloc_cyclic(idr, obj, 1, INT_MAX, ...)`, `lib/idr.c`).

use std::collections::BTreeMap;

use crate::uapi::limits::ID_END;

/// Ids per chunk: a chunk is a 4096-id block with a two-level bitmap, like a node of the
/// kernel's radix tree, so alloc / find / next stay O(1) within a chunk however many ids are
/// populated (a `BTreeMap` of ids cost O(log n) key scans per call: 2x slower at 1M ids).
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
const WORDS: usize = CHUNK / 64;

/// The populated ids of one 4096-id block and their values.
#[derive(Clone)]
struct Chunk<T> {
    /// Bit `b` of word `w`: id `w * 64 + b` (of the block) is populated.
    used: [u64; WORDS],
    /// Bit `w`: `used[w] != 0`.
    nonempty: u64,
    /// Bit `w`: `used[w] == !0`.
    full: u64,
    count: u32,
    slots: Box<[Option<T>]>,
}

/// The words above `w` (a mask over `nonempty` / `full`).
fn words_above(w: usize) -> u64 {
    if w >= 63 { 0 } else { !0u64 << (w + 1) }
}

/// The chunk of `id` and its offset in it.
fn split(id: u32) -> (u32, usize) {
    (id >> CHUNK_BITS, id as usize & (CHUNK - 1))
}

fn join(chunk: u32, off: usize) -> u32 {
    (chunk << CHUNK_BITS) | off as u32
}

impl<T: Copy> Chunk<T> {
    fn new() -> Self {
        Chunk {
            used: [0; WORDS],
            nonempty: 0,
            full: 0,
            count: 0,
            slots: vec![None; CHUNK].into_boxed_slice(),
        }
    }

    fn set(&mut self, off: usize, v: T) {
        let (w, b) = (off / 64, off % 64);
        self.used[w] |= 1 << b;
        self.nonempty |= 1 << w;
        if self.used[w] == !0 {
            self.full |= 1 << w;
        }
        self.count += 1;
        self.slots[off] = Some(v);
    }

    fn clear(&mut self, off: usize) -> Option<T> {
        let v = self.slots[off].take()?;
        let (w, b) = (off / 64, off % 64);
        self.used[w] &= !(1 << b);
        self.full &= !(1 << w);
        if self.used[w] == 0 {
            self.nonempty &= !(1 << w);
        }
        self.count -= 1;
        Some(v)
    }

    /// The first populated offset `>= off`.
    fn next_used(&self, off: usize) -> Option<usize> {
        let w = off / 64;
        let here = self.used[w] & (!0u64 << (off % 64));
        if here != 0 {
            return Some(w * 64 + here.trailing_zeros() as usize);
        }
        let rest = self.nonempty & words_above(w);
        (rest != 0).then(|| {
            let w = rest.trailing_zeros() as usize;
            w * 64 + self.used[w].trailing_zeros() as usize
        })
    }

    /// The first free offset `>= off`.
    fn next_free(&self, off: usize) -> Option<usize> {
        let w = off / 64;
        let here = !self.used[w] & (!0u64 << (off % 64));
        if here != 0 {
            return Some(w * 64 + here.trailing_zeros() as usize);
        }
        let rest = !self.full & words_above(w);
        (rest != 0).then(|| {
            let w = rest.trailing_zeros() as usize;
            w * 64 + (!self.used[w]).trailing_zeros() as usize
        })
    }

    /// Populated offsets, ascending.
    fn iter(&self) -> impl Iterator<Item = (usize, T)> + '_ {
        (0..WORDS).flat_map(move |w| {
            let mut bits = self.used[w];
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let off = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    (off, self.slots[off].expect("bitmap matches slots"))
                })
            })
        })
    }
}

/// One id space (`map_idr`, `prog_idr`, ...): ids in `[1, INT_MAX)`, allocated cyclically so
/// an id is not reused before the space wraps. Iteration is in id order.
#[derive(Clone)]
pub struct Idr<T> {
    /// Blocks with at least one populated id, by block number.
    chunks: BTreeMap<u32, Box<Chunk<T>>>,
    /// The last block emptied, kept for reuse (no 4096-slot allocation per create+close
    /// when the cursor walks into an empty block).
    spare: Option<Box<Chunk<T>>>,
    len: usize,
    next: u32,
}

impl<T: Copy + std::fmt::Debug> std::fmt::Debug for Idr<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idr")
            .field("ids", &DebugIds(self))
            .field("next", &self.next)
            .finish()
    }
}

struct DebugIds<'a, T>(&'a Idr<T>);

impl<T: Copy + std::fmt::Debug> std::fmt::Debug for DebugIds<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl<T: Copy> Idr<T> {
    /// An empty id space whose first allocation tries `first` (1 in the kernel; tests start
    /// near `INT_MAX` to see the wrap).
    pub fn new(first: u32) -> Self {
        Idr {
            chunks: BTreeMap::new(),
            spare: None,
            len: 0,
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
        let (c, off) = split(id);
        let spare = &mut self.spare;
        self.chunks
            .entry(c)
            .or_insert_with(|| spare.take().unwrap_or_else(|| Box::new(Chunk::new())))
            .set(off, value);
        self.len += 1;
        self.next = if id + 1 >= ID_END { 1 } else { id + 1 };
        Some(id)
    }

    /// The smallest unpopulated id in `[from, to)`.
    fn first_free(&self, from: u32, to: u32) -> Option<u32> {
        let mut id = from;
        while id < to {
            let (c, off) = split(id);
            match self.chunks.get(&c).map(|ch| ch.next_free(off)) {
                None => return Some(id),
                Some(Some(off)) => return Some(join(c, off)).filter(|&id| id < to),
                Some(None) => id = join(c + 1, 0),
            }
        }
        None
    }

    /// `idr_remove`.
    pub fn remove(&mut self, id: u32) -> Option<T> {
        let (c, off) = split(id);
        let ch = self.chunks.get_mut(&c)?;
        let v = ch.clear(off)?;
        self.len -= 1;
        if ch.count == 0 {
            let empty = self.chunks.remove(&c);
            self.spare = self.spare.take().or(empty);
        }
        Some(v)
    }

    /// `idr_find`.
    pub fn get(&self, id: u32) -> Option<T> {
        let (c, off) = split(id);
        self.chunks.get(&c)?.slots[off]
    }

    /// `idr_get_next`: the smallest populated id strictly greater than `start`.
    pub fn next_after(&self, start: u32) -> Option<(u32, T)> {
        let from = start.checked_add(1)?;
        let (c, off) = split(from);
        if let Some(off) = self.chunks.get(&c).and_then(|ch| ch.next_used(off)) {
            return Some((join(c, off), self.chunks[&c].slots[off].expect("used")));
        }
        let (&c, ch) = self.chunks.range(c + 1..).next()?;
        let off = ch.next_used(0).expect("chunks in the map are not empty");
        Some((join(c, off), ch.slots[off].expect("used")))
    }

    /// Every populated id, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u32, T)> + '_ {
        self.chunks
            .iter()
            .flat_map(|(&c, ch)| ch.iter().map(move |(off, v)| (join(c, off), v)))
    }

    /// How many ids are populated.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is populated.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The chunked id space against a plain `BTreeMap` model of `idr_alloc_cyclic`, over
    /// cursor wraps, block boundaries and emptied blocks.
    #[test]
    fn matches_a_btreemap_model() {
        let mut rng = 0x1234_5678_u64;
        let mut rand = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for first in [1, 4090, ID_END - 5] {
            let mut idr = Idr::new(first);
            let mut model: BTreeMap<u32, u32> = BTreeMap::new();
            let mut next = first;
            for step in 0..20_000u32 {
                if rand(3) > 0 || model.is_empty() {
                    let id = idr.alloc(step).expect("space");
                    let want = (next..ID_END)
                        .chain(1..next)
                        .find(|i| !model.contains_key(i))
                        .expect("space");
                    assert_eq!(id, want);
                    model.insert(id, step);
                    next = if id + 1 >= ID_END { 1 } else { id + 1 };
                } else {
                    let k = *model.keys().nth(rand(model.len() as u64) as usize).unwrap();
                    assert_eq!(idr.remove(k), model.remove(&k));
                    assert_eq!(idr.remove(k), None);
                }
                if step % 997 == 0 {
                    assert!(idr.iter().eq(model.iter().map(|(&k, &v)| (k, v))));
                    for probe in [0, 1, 4095, 4096, 8191, first, next, ID_END - 2] {
                        let want = model.range(probe.saturating_add(1)..).next();
                        assert_eq!(idr.next_after(probe), want.map(|(&k, &v)| (k, v)));
                        assert_eq!(idr.get(probe), model.get(&probe).copied());
                    }
                }
                assert_eq!(idr.len(), model.len());
            }
        }
        assert_eq!(Idr::<u32>::new(1).next_after(u32::MAX), None);
    }
}

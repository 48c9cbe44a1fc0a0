//! Bob Jenkins' lookup3 hash as the kernel ships it in `include/linux/jhash.h`, and the
//! `htab_map_hash()` wrapper of `kernel/bpf/hashtab.c` that picks a BPF hash map's bucket.
//!
//! Modeled for x86_64: `__get_unaligned_cpu32` reads little-endian words, so `jhash` of a key
//! whose length is a multiple of 4 equals `jhash2` of the same bytes read as little-endian
//! `u32`s (a test pins this). The bucket order of a map created with `BPF_F_ZERO_SEED`
//! (`hashrnd = 0`) therefore follows from these functions alone.

/// `JHASH_INITVAL` of `include/linux/jhash.h`: the arbitrary constant lookup3 starts from.
pub const JHASH_INITVAL: u32 = 0xdead_beef;

/// `__jhash_mix(a, b, c)`: reversibly mixes three 32-bit words (lookup3's `mix()`).
#[inline(always)]
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    // Each line: x -= z; x ^= rol32(z, r); z += y — with the rotations 4, 6, 8, 16, 19, 4.
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

/// `__jhash_final(a, b, c)`: final avalanche of three words into `c` (lookup3's `final()`).
#[inline(always)]
fn final_mix(mut a: u32, mut b: u32, mut c: u32) -> u32 {
    // Each line: z ^= y; z -= rol32(y, r) — with the rotations 14, 11, 25, 16, 4, 14, 24.
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(24));
    c
}

/// Reads up to 4 bytes as a little-endian word, missing high bytes zero. For a full chunk this
/// is `__get_unaligned_cpu32` on x86_64; for a short tail it is the sum of `k[i] << (8 * i)` that
/// the fall-through `switch (length)` of `jhash()` builds.
#[inline(always)]
fn le_word(bytes: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    let n = bytes.len().min(4);
    w[..n].copy_from_slice(&bytes[..n]);
    u32::from_le_bytes(w)
}

/// `jhash(key, length, initval)` of `include/linux/jhash.h`: lookup3 over a byte string.
///
/// The state starts at `JHASH_INITVAL + length + initval`; every 12-byte block but the last is
/// added as three little-endian words and mixed; the last 1..=12 bytes are added (byte `i` of a
/// word shifted by `8 * i`) and finally mixed. An empty key skips the final mix and returns the
/// initial state, as the kernel's `case 0` does. The kernel's `u32 length` wraps for keys of
/// 4 GiB or more; so does this (keys that long do not exist in the model).
pub fn jhash(key: &[u8], initval: u32) -> u32 {
    let init = JHASH_INITVAL
        .wrapping_add(key.len() as u32)
        .wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut k = key;
    while k.len() > 12 {
        a = a.wrapping_add(le_word(&k[0..4]));
        b = b.wrapping_add(le_word(&k[4..8]));
        c = c.wrapping_add(le_word(&k[8..12]));
        mix(&mut a, &mut b, &mut c);
        k = &k[12..];
    }
    if k.is_empty() {
        return c;
    }
    // 1..=12 bytes left: word j gets bytes 4j..4j+4 (those present), little-endian.
    a = a.wrapping_add(le_word(k));
    if k.len() > 4 {
        b = b.wrapping_add(le_word(&k[4..]));
    }
    if k.len() > 8 {
        c = c.wrapping_add(le_word(&k[8..]));
    }
    final_mix(a, b, c)
}

/// `jhash2(k, length, initval)` of `include/linux/jhash.h`: lookup3 over 32-bit words
/// (lookup3's `hashword()`), `length` counted in words.
///
/// The state starts at `JHASH_INITVAL + (length << 2) + initval`; words are consumed three at a
/// time with `__jhash_mix` while more than three remain, the last 1..=3 are added and finally
/// mixed; zero words return the initial state.
pub fn jhash2(words: &[u32], initval: u32) -> u32 {
    let init = JHASH_INITVAL
        .wrapping_add((words.len() as u32).wrapping_shl(2))
        .wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut k = words;
    while k.len() > 3 {
        a = a.wrapping_add(k[0]);
        b = b.wrapping_add(k[1]);
        c = c.wrapping_add(k[2]);
        mix(&mut a, &mut b, &mut c);
        k = &k[3..];
    }
    match *k {
        [] => c,
        [x] => final_mix(a.wrapping_add(x), b, c),
        [x, y] => final_mix(a.wrapping_add(x), b.wrapping_add(y), c),
        [x, y, z, ..] => final_mix(a.wrapping_add(x), b.wrapping_add(y), c.wrapping_add(z)),
    }
}

/// Longest key `htab_map_hash` hashes through a stack buffer of words; longer keys go through
/// `jhash` (same result on little-endian, see the module doc). Covers every common key size.
const WORD_BUF: usize = 16;

/// `htab_map_hash(key, key_len, hashrnd)` of `kernel/bpf/hashtab.c` (6.4 and later, so 6.12 and
/// 6.18): `jhash2(key, key_len / 4, hashrnd)` when `key_len % 4 == 0`, else
/// `jhash(key, key_len, hashrnd)`. The bucket is `hash & (n_buckets - 1)` (`__select_bucket`).
///
/// `hashrnd` is the per-map seed: `get_random_u32()` at `htab_map_alloc`, or 0 with
/// `BPF_F_ZERO_SEED`. The words of `jhash2` are the key's bytes as native (little-endian) `u32`s.
#[inline]
pub fn htab_map_hash(key: &[u8], hashrnd: u32) -> u32 {
    if key.len() % 4 == 0 && key.len() <= 4 * WORD_BUF {
        let mut buf = [0u32; WORD_BUF];
        let n = key.len() / 4;
        for (w, chunk) in buf.iter_mut().zip(key.chunks_exact(4)) {
            *w = le_word(chunk);
        }
        jhash2(&buf[..n], hashrnd)
    } else {
        jhash(key, hashrnd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bob Jenkins' published `hashlittle()` vectors (lookup3.c `driver5`); the kernel's
    /// `jhash` is `hashlittle` on little-endian machines.
    #[test]
    fn jhash_matches_lookup3_reference_vectors() {
        assert_eq!(jhash(b"", 0), 0xdead_beef);
        assert_eq!(jhash(b"", 0xdead_beef), 0xbd5b_7dde);
        assert_eq!(jhash(b"", 0xbd5b_7dde), 0x9c09_3ccd);
        assert_eq!(jhash(b"Four score and seven years ago", 0), 0x1777_0551);
        assert_eq!(jhash(b"Four score and seven years ago", 1), 0xcd62_8161);
        // Exactly 12 bytes: no mix in the loop, tail case 12 then final.
        assert_eq!(jhash(b"hello world\0", 0), 0x1497_3b58);
        assert_eq!(jhash(b"hello world\0", 1), 0x4746_e99f);
    }

    /// `jhash2` of no words is the initial state, like `jhash` of no bytes.
    #[test]
    fn jhash2_empty_is_initial_state() {
        assert_eq!(jhash2(&[], 0), JHASH_INITVAL);
        assert_eq!(jhash2(&[], 5), JHASH_INITVAL + 5);
    }

    /// A one-word key worked by hand: a = b = c = 0xdeadbeef + 4, a += 1, then `__jhash_final`.
    #[test]
    fn jhash2_single_word_by_hand() {
        let init = 0xdead_beefu32 + 4;
        let (mut a, mut b, mut c) = (init + 1, init, init);
        c ^= b;
        c = c.wrapping_sub(b.rotate_left(14));
        a ^= c;
        a = a.wrapping_sub(c.rotate_left(11));
        b ^= a;
        b = b.wrapping_sub(a.rotate_left(25));
        c ^= b;
        c = c.wrapping_sub(b.rotate_left(16));
        a ^= c;
        a = a.wrapping_sub(c.rotate_left(4));
        b ^= a;
        b = b.wrapping_sub(a.rotate_left(14));
        c ^= b;
        c = c.wrapping_sub(b.rotate_left(24));
        assert_eq!(c, 0x72a8_2a9b);
        assert_eq!(jhash2(&[1], 0), c);
        assert_eq!(htab_map_hash(&1u32.to_le_bytes(), 0), c);
    }

    /// On little-endian, `jhash` of 4n bytes equals `jhash2` of the n LE words, for every length
    /// around the 12-byte block boundaries, so `htab_map_hash`'s choice does not change buckets.
    #[test]
    fn jhash_equals_jhash2_on_word_multiples() {
        let bytes: Vec<u8> = (0u8..96)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        for n in 0..=24 {
            let key = &bytes[..4 * n];
            let words: Vec<u32> = key
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            for seed in [0, 1, 0x1234_5678] {
                assert_eq!(jhash(key, seed), jhash2(&words, seed), "n = {n}");
                assert_eq!(htab_map_hash(key, seed), jhash(key, seed), "n = {n}");
            }
        }
    }

    /// Odd-length keys go through `jhash`.
    #[test]
    fn htab_map_hash_odd_length_uses_jhash() {
        for len in [1usize, 2, 3, 5, 7, 13, 70] {
            let key: Vec<u8> = (0..len as u8).collect();
            assert_eq!(htab_map_hash(&key, 7), jhash(&key, 7));
        }
    }
}

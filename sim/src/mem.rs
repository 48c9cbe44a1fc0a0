//! Simulated user memory: what the pointers inside `union bpf_attr` point at.
//!
//! bpf() receives user pointers (`key`, `value`, `insns`, `pathname`, ...). In the model a
//! caller passes a [`UserMem`] that resolves those addresses; an address it does not map (NULL
//! included) is `EFAULT`, as `copy_from_user` fails in the kernel. A copy that starts in a
//! buffer and runs past its end behaves as the kernel's does at an unmapped page: a write
//! (`copy_to_user`) stores the bytes up to the end, then fails with `EFAULT` (measured on
//! 6.18 with `BPF_PROG_TEST_RUN`'s `data_out`); a read fails with `EFAULT` (the kernel
//! zero-fills what it could not read, which no caller lets out). The typed wrappers on
//! [`crate::Kernel`] build a [`UserBufs`] from slices, so most users never see addresses.

use crate::errno::{Errno, SysResult};

/// The address space a system call's pointers are resolved in.
pub trait UserMem {
    /// `copy_from_user`: fill `out` from `addr`, or `EFAULT`.
    fn read(&self, addr: u64, out: &mut [u8]) -> SysResult<()>;
    /// `copy_to_user`: write `data` at `addr`, or `EFAULT`. Like the kernel's, a copy that
    /// reaches unmapped memory part-way has stored the bytes before it when it fails.
    fn write(&mut self, addr: u64, data: &[u8]) -> SysResult<()>;

    /// `strncpy_from_user`: the NUL-terminated string at `addr`, at most `max` bytes before
    /// the NUL; `Ok(None)` when no NUL comes within `max` bytes.
    fn read_cstr(&self, addr: u64, max: usize) -> SysResult<Option<Vec<u8>>> {
        let mut out = Vec::new();
        for i in 0..=max as u64 {
            let mut b = [0u8];
            self.read(addr.checked_add(i).ok_or(Errno::EFAULT)?, &mut b)?;
            if b[0] == 0 {
                return Ok(Some(out));
            }
            out.push(b[0]);
        }
        Ok(None)
    }
}

/// A user buffer mapped at an address: read-only or writable.
#[derive(Debug)]
pub enum Buf<'a> {
    /// Readable memory (keys, instructions, paths).
    In(&'a [u8]),
    /// Writable memory (values, info structs); also readable.
    Out(&'a mut [u8]),
}

impl Buf<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Buf::In(b) => b,
            Buf::Out(b) => b,
        }
    }
}

/// A small address space of a few buffers, each mapped at its own base address.
///
/// Buffer `i` is mapped at [`UserBufs::addr`]`(i)`; addresses are far apart so an access that
/// runs past a buffer's end faults instead of reaching the next one.
#[derive(Debug, Default)]
pub struct UserBufs<'a> {
    /// The first buffers, inline: the typed wrappers map at most three, so a call allocates
    /// nothing (the `Vec` alone was a tenth of a map lookup's time).
    first: [Option<Buf<'a>>; UserBufs::INLINE],
    /// Buffers past the first [`UserBufs::INLINE`].
    more: Vec<Buf<'a>>,
    len: usize,
}

impl<'a> UserBufs<'a> {
    const BASE: u64 = 0x1000_0000;
    const STRIDE: u64 = 0x1_0000_0000;
    const INLINE: usize = 4;

    /// An empty address space: every pointer faults.
    pub fn new() -> Self {
        UserBufs::default()
    }

    fn push(&mut self, b: Buf<'a>) -> u64 {
        if self.len < Self::INLINE {
            self.first[self.len] = Some(b);
        } else {
            self.more.push(b);
        }
        self.len += 1;
        Self::addr(self.len - 1)
    }

    fn get(&self, idx: usize) -> Option<&Buf<'a>> {
        match idx.checked_sub(Self::INLINE) {
            None => self.first[idx].as_ref(),
            Some(i) => self.more.get(i),
        }
    }

    fn get_mut(&mut self, idx: usize) -> Option<&mut Buf<'a>> {
        match idx.checked_sub(Self::INLINE) {
            None => self.first[idx].as_mut(),
            Some(i) => self.more.get_mut(i),
        }
    }

    /// The address buffer `i` is mapped at.
    pub fn addr(i: usize) -> u64 {
        Self::BASE + Self::STRIDE * i as u64
    }

    /// Map a read-only buffer; returns its address.
    pub fn input(&mut self, b: &'a [u8]) -> u64 {
        self.push(Buf::In(b))
    }

    /// Map a writable buffer; returns its address.
    pub fn output(&mut self, b: &'a mut [u8]) -> u64 {
        self.push(Buf::Out(b))
    }

    fn locate(&self, addr: u64, len: usize) -> SysResult<(usize, usize)> {
        let rel = addr.checked_sub(Self::BASE).ok_or(Errno::EFAULT)?;
        let idx = (rel / Self::STRIDE) as usize;
        let off = (rel % Self::STRIDE) as usize;
        let buf = self.get(idx).ok_or(Errno::EFAULT)?;
        match off.checked_add(len) {
            Some(end) if end <= buf.bytes().len() => Ok((idx, off)),
            _ => Err(Errno::EFAULT),
        }
    }
}

impl UserMem for UserBufs<'_> {
    fn read(&self, addr: u64, out: &mut [u8]) -> SysResult<()> {
        let (idx, off) = self.locate(addr, out.len())?;
        let buf = self.get(idx).expect("located");
        copy_small(out, &buf.bytes()[off..off + out.len()]);
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> SysResult<()> {
        if let Ok((idx, off)) = self.locate(addr, data.len()) {
            return match self.get_mut(idx).expect("located") {
                Buf::Out(b) => {
                    copy_small(&mut b[off..off + data.len()], data);
                    Ok(())
                }
                Buf::In(_) => Err(Errno::EFAULT),
            };
        }
        // Past the end of a writable buffer: the bytes that fit, then EFAULT.
        if let Ok((idx, off)) = self.locate(addr, 0)
            && let Some(Buf::Out(b)) = self.get_mut(idx)
        {
            let n = b.len().saturating_sub(off).min(data.len());
            b[off..off + n].copy_from_slice(&data[..n]);
        }
        Err(Errno::EFAULT)
    }
}

/// `dst.copy_from_slice(src)` for the few-byte keys and values syscalls move, with fixed-width
/// loads and stores: a libc `memcpy` of a few bytes (`rep movsb`) defeats store-to-load
/// forwarding when the bytes are read right after, which cost a third of a map lookup.
#[inline(always)]
#[expect(
    clippy::manual_memcpy,
    reason = "a byte loop, not a libc memcpy call, is the point"
)]
pub(crate) fn copy_small(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    debug_assert_eq!(n, dst.len());
    match n {
        0 => {}
        1..=3 => {
            for i in 0..n {
                dst[i] = src[i];
            }
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        17..=32 => {
            dst[..16].copy_from_slice(&src[..16]);
            dst[n - 16..].copy_from_slice(&src[n - 16..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_past_the_end_stores_what_fits_then_faults() {
        let mut out = [0u8; 4];
        let input = [9u8; 4];
        let mut m = UserBufs::new();
        let a = m.output(&mut out);
        let i = m.input(&input);
        assert_eq!(m.write(a + 1, &[1, 2, 3, 4, 5]), Err(Errno::EFAULT));
        assert_eq!(m.write(a + 4, &[7]), Err(Errno::EFAULT));
        assert_eq!(m.write(a + 9, &[7]), Err(Errno::EFAULT));
        assert_eq!(m.write(i, &[1]), Err(Errno::EFAULT));
        assert_eq!(m.write(0, &[1]), Err(Errno::EFAULT));
        let mut back = [0u8; 4];
        assert_eq!(m.read(i, &mut back), Ok(()));
        assert_eq!(back, [9; 4]);
        assert_eq!(m.read(a, &mut [0u8; 5]), Err(Errno::EFAULT));
        drop(m);
        assert_eq!(out, [0, 1, 2, 3]);
    }
}

//! The address space of a run: virtual addresses mapped to byte regions this value owns.
//!
//! Two kinds of region:
//! - stack frames, at fixed addresses: frame `i` starts at `STACK_BASE + i * FRAME_STRIDE`
//!   and is `STACK_SIZE` long, with unmapped gaps between frames so no access spans two. Only the live
//!   frames (main program and the calls in progress) are accessible; a callee may touch its
//!   callers' frames, as the kernel allows through a pointer argument;
//! - caller regions (context, packet, map values, global data): a base address, owned
//!   bytes, a writable flag. The caller picks the base ([`Memory::add`], e.g. a host address
//!   for an engine that needs one) or lets [`Memory::map`] place it above [`DATA_BASE`] with
//!   a guard page after it.
//!
//! An access is allowed when every byte of it lies inside one region. Nothing here ever
//! turns a guest value into a host pointer.

use super::error::MemFault;
use super::{MAX_CALL_FRAMES, STACK_SIZE};

/// Where stack frame 0 starts (in the kernel's vmalloc range, where its stacks live).
pub const STACK_BASE: u64 = 0xffff_c900_0000_0000;
/// Distance between two frames' starts; the bytes between `STACK_SIZE` and it are unmapped.
pub const FRAME_STRIDE: u64 = 0x1_0000;
/// Where [`Memory::map`] places its first region (the kernel's direct map).
pub const DATA_BASE: u64 = 0xffff_8880_0000_0000;
/// Alignment of [`Memory::map`]'s regions, and the unmapped guard after each.
const PAGE: u64 = 4096;

/// End of the stack window: no caller region may overlap `[STACK_BASE, STACK_END)`.
const STACK_END: u64 = STACK_BASE + MAX_CALL_FRAMES as u64 * FRAME_STRIDE;

/// What a region holds, for readers of a fault and for engines that treat them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// The program's context (`__sk_buff`, `xdp_md`, ...).
    Context,
    /// Packet data; the one [`Memory::set_packet`] names is what `LD_ABS` reads.
    Packet,
    /// A map value.
    MapValue,
    /// Global data (`.data`, `.rodata`, `.bss` maps' values).
    Global,
    /// Anything else (test buffers).
    Other,
}

/// A region the caller registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address.
    pub base: u64,
    /// Its bytes: the region is `[base, base + bytes.len())`.
    pub bytes: Vec<u8>,
    /// Whether stores are allowed.
    pub writable: bool,
    /// What it holds.
    pub kind: RegionKind,
}

/// A region's handle: an index that stays valid for the life of the [`Memory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionId(pub usize);

/// Why a region could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// `base + len` overflows the address space.
    Wraps,
    /// It overlaps the stack window or another region.
    Overlaps,
}

/// Where an access landed.
#[derive(Clone, Copy)]
enum Loc {
    /// Offset into `Memory::stack`.
    Stack(usize),
    /// Region index and offset into its bytes.
    Region(usize, usize),
}

/// The address space of a run; see the module docs.
#[derive(Clone, Debug)]
pub struct Memory {
    /// Caller regions, indexed by [`RegionId`].
    regions: Vec<Region>,
    /// `(base, index)` of every non-empty region, sorted by base, for lookup.
    by_base: Vec<(u64, usize)>,
    /// `MAX_CALL_FRAMES` frames of `STACK_SIZE` bytes, frame `i` at `i * STACK_SIZE`.
    stack: Vec<u8>,
    /// Live frames; frames at or above this index are not accessible.
    frames: usize,
    /// The region `LD_ABS`/`LD_IND` read.
    packet: Option<RegionId>,
    /// Where the next [`Memory::map`] region goes.
    next_auto: u64,
    /// The region the interpreter's last non-stack access landed in (an index into
    /// `regions`), tried first by [`Memory::load_n`] / [`Memory::store_n`]. Only a cache:
    /// regions never overlap, so the region that holds an access is the same either way.
    last: usize,
}

impl Default for Memory {
    fn default() -> Memory {
        Memory::new()
    }
}

impl Memory {
    /// An address space with no regions and no live frames.
    pub fn new() -> Memory {
        Memory {
            regions: Vec::new(),
            by_base: Vec::new(),
            stack: vec![0; MAX_CALL_FRAMES * STACK_SIZE],
            frames: 0,
            packet: None,
            next_auto: DATA_BASE,
            last: 0,
        }
    }

    /// Adds a region at `base`. Empty regions are allowed (every access to them faults).
    pub fn add(
        &mut self,
        base: u64,
        bytes: Vec<u8>,
        writable: bool,
        kind: RegionKind,
    ) -> Result<RegionId, RegionError> {
        let end = base
            .checked_add(bytes.len() as u64)
            .ok_or(RegionError::Wraps)?;
        if base < STACK_END && end > STACK_BASE {
            return Err(RegionError::Overlaps);
        }
        let idx = self.regions.len();
        if base < end {
            let at = self.by_base.partition_point(|&(b, _)| b < base);
            let prev_overlaps = at > 0 && {
                let p = &self.regions[self.by_base[at - 1].1];
                p.base + p.bytes.len() as u64 > base
            };
            let next_overlaps = self.by_base.get(at).is_some_and(|&(b, _)| b < end);
            if prev_overlaps || next_overlaps {
                return Err(RegionError::Overlaps);
            }
            self.by_base.insert(at, (base, idx));
        }
        self.regions.push(Region {
            base,
            bytes,
            writable,
            kind,
        });
        Ok(RegionId(idx))
    }

    /// Adds a region at the next free page-aligned address above [`DATA_BASE`], followed by
    /// an unmapped guard page.
    pub fn map(
        &mut self,
        bytes: Vec<u8>,
        writable: bool,
        kind: RegionKind,
    ) -> Result<RegionId, RegionError> {
        let base = self.next_auto;
        let pages = (bytes.len() as u64).div_ceil(PAGE) + 1;
        let next = pages
            .checked_mul(PAGE)
            .and_then(|n| base.checked_add(n))
            .ok_or(RegionError::Wraps)?;
        let id = self.add(base, bytes, writable, kind)?;
        self.next_auto = next;
        Ok(id)
    }

    /// A region.
    pub fn region(&self, id: RegionId) -> &Region {
        &self.regions[id.0]
    }

    /// A region, mutably (its bytes; its base and length are fixed).
    pub fn bytes_mut(&mut self, id: RegionId) -> &mut [u8] {
        &mut self.regions[id.0].bytes
    }

    /// Every caller region, by id.
    pub fn regions(&self) -> impl Iterator<Item = (RegionId, &Region)> {
        self.regions
            .iter()
            .enumerate()
            .map(|(i, r)| (RegionId(i), r))
    }

    /// Names the packet `LD_ABS`/`LD_IND` read.
    pub fn set_packet(&mut self, id: Option<RegionId>) {
        self.packet = id;
    }

    /// The packet `LD_ABS`/`LD_IND` read.
    pub fn packet(&self) -> Option<&[u8]> {
        self.packet.map(|id| self.regions[id.0].bytes.as_slice())
    }

    /// The address one past frame `i`'s last byte: r10 in that frame.
    pub fn frame_top(i: usize) -> u64 {
        STACK_BASE + i as u64 * FRAME_STRIDE + STACK_SIZE as u64
    }

    /// Live frames.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Makes frame `frames()` live and zeroes it; `false` at `MAX_CALL_FRAMES`.
    pub(crate) fn push_frame(&mut self) -> bool {
        if self.frames >= MAX_CALL_FRAMES {
            return false;
        }
        let start = self.frames * STACK_SIZE;
        self.stack[start..start + STACK_SIZE].fill(0);
        self.frames += 1;
        true
    }

    /// Drops the innermost frame.
    pub(crate) fn pop_frame(&mut self) {
        self.frames = self.frames.saturating_sub(1);
    }

    /// Drops every frame.
    pub(crate) fn reset_frames(&mut self) {
        self.frames = 0;
    }

    /// A live frame's bytes (frame 0 = the main program's).
    pub fn frame(&self, i: usize) -> Option<&[u8]> {
        (i < self.frames).then(|| &self.stack[i * STACK_SIZE..(i + 1) * STACK_SIZE])
    }

    /// Where `[addr, addr + len)` lies, if entirely inside one accessible region.
    fn locate(&self, addr: u64, len: usize, write: bool) -> Result<Loc, MemFault> {
        let fault = MemFault {
            addr,
            len,
            write,
            read_only: false,
        };
        let end = addr.checked_add(len as u64).ok_or(fault)?;
        if (STACK_BASE..STACK_END).contains(&addr) {
            let rel = addr - STACK_BASE;
            let (frame, off) = ((rel / FRAME_STRIDE) as usize, (rel % FRAME_STRIDE) as usize);
            if frame < self.frames && off + len <= STACK_SIZE {
                return Ok(Loc::Stack(frame * STACK_SIZE + off));
            }
            return Err(fault);
        }
        let at = self.by_base.partition_point(|&(b, _)| b <= addr);
        let &(base, idx) = self.by_base.get(at.wrapping_sub(1)).ok_or(fault)?;
        let r = &self.regions[idx];
        if end > base + r.bytes.len() as u64 {
            return Err(fault);
        }
        if write && !r.writable {
            return Err(MemFault {
                read_only: true,
                ..fault
            });
        }
        Ok(Loc::Region(idx, (addr - base) as usize))
    }

    /// Where the `N`-byte access at `addr` lies, as [`Memory::locate`] answers, trying the
    /// current frames and the last region used first (the interpreter's hot path).
    #[inline(always)]
    fn locate_n<const N: usize>(&mut self, addr: u64, write: bool) -> Result<Loc, MemFault> {
        let rel = addr.wrapping_sub(STACK_BASE);
        if rel < STACK_END - STACK_BASE {
            let (frame, off) = ((rel / FRAME_STRIDE) as usize, (rel % FRAME_STRIDE) as usize);
            if frame < self.frames && off + N <= STACK_SIZE {
                return Ok(Loc::Stack(frame * STACK_SIZE + off));
            }
        } else if let Some(r) = self.regions.get(self.last) {
            let o = addr.wrapping_sub(r.base);
            let len = r.bytes.len() as u64;
            if o < len && len - o >= N as u64 && (r.writable || !write) {
                return Ok(Loc::Region(self.last, o as usize));
            }
        }
        let loc = self.locate(addr, N, write)?;
        if let Loc::Region(i, _) = loc {
            self.last = i;
        }
        Ok(loc)
    }

    /// A little-endian load of `N` (1, 2, 4 or 8) bytes at `addr`, zero-extended: what
    /// [`Memory::load`] does, for the interpreter.
    #[inline(always)]
    pub(crate) fn load_n<const N: usize>(&mut self, addr: u64) -> Result<u64, MemFault> {
        let mut b = [0u8; 8];
        let src = match self.locate_n::<N>(addr, false)? {
            Loc::Stack(o) => self.stack.get(o..o + N),
            Loc::Region(i, o) => self.regions[i].bytes.get(o..o + N),
        };
        // `locate_n` found all N bytes inside one region: `src` is always `Some`.
        if let Some(src) = src {
            b[..N].copy_from_slice(src);
        }
        Ok(u64::from_le_bytes(b))
    }

    /// A little-endian store of the low `N` (1, 2, 4 or 8) bytes of `value`: what
    /// [`Memory::store`] does, for the interpreter.
    #[inline(always)]
    pub(crate) fn store_n<const N: usize>(
        &mut self,
        addr: u64,
        value: u64,
    ) -> Result<(), MemFault> {
        let dst = match self.locate_n::<N>(addr, true)? {
            Loc::Stack(o) => self.stack.get_mut(o..o + N),
            Loc::Region(i, o) => self.regions[i].bytes.get_mut(o..o + N),
        };
        if let Some(dst) = dst {
            dst.copy_from_slice(&value.to_le_bytes()[..N]);
        }
        Ok(())
    }

    /// The bytes `[addr, addr + len)`.
    pub fn slice(&self, addr: u64, len: usize) -> Result<&[u8], MemFault> {
        Ok(match self.locate(addr, len, false)? {
            Loc::Stack(o) => &self.stack[o..o + len],
            Loc::Region(i, o) => &self.regions[i].bytes[o..o + len],
        })
    }

    /// The bytes `[addr, addr + len)`, for writing.
    pub fn slice_mut(&mut self, addr: u64, len: usize) -> Result<&mut [u8], MemFault> {
        Ok(match self.locate(addr, len, true)? {
            Loc::Stack(o) => &mut self.stack[o..o + len],
            Loc::Region(i, o) => &mut self.regions[i].bytes[o..o + len],
        })
    }

    /// Copies `buf.len()` bytes at `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        buf.copy_from_slice(self.slice(addr, buf.len())?);
        Ok(())
    }

    /// Copies `data` to `addr`.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemFault> {
        self.slice_mut(addr, data.len())?.copy_from_slice(data);
        Ok(())
    }

    /// A little-endian load of `size` (1, 2, 4 or 8) bytes, zero-extended.
    pub fn load(&self, addr: u64, size: usize) -> Result<u64, MemFault> {
        let mut b = [0u8; 8];
        let n = size.min(8);
        b[..n].copy_from_slice(self.slice(addr, n)?);
        Ok(u64::from_le_bytes(b))
    }

    /// A little-endian store of the low `size` (1, 2, 4 or 8) bytes of `value`.
    pub fn store(&mut self, addr: u64, size: usize, value: u64) -> Result<(), MemFault> {
        let n = size.min(8);
        self.slice_mut(addr, n)?
            .copy_from_slice(&value.to_le_bytes()[..n]);
        Ok(())
    }
}

//! The packet of a test run and the helpers that read, write and resize it: XDP's
//! `bpf_xdp_adjust_head`/`_meta`/`_tail`, the skb helpers `bpf_skb_load_bytes`,
//! `bpf_skb_store_bytes`, `bpf_l3_csum_replace`, `bpf_l4_csum_replace`, `bpf_skb_pull_data`,
//! `bpf_skb_change_tail`, and `bpf_redirect`, `bpf_csum_diff` (`net/core/filter.c`, with the
//! limits measured on 6.18; see `docs/helpers.md`).
//!
//! The packet lives in a buffer image ([`PacketState::buf`]) that stands for the kernel's
//! whole data buffer (XDP: headroom, frame, tailroom up to `skb_shared_info`; skb: the head
//! from `skb->head`). The program sees one region of it, `[data_meta, data_end)` for XDP and
//! `[data, data_end)` for an skb, at the buffer's addresses below 4 GiB. A helper that moves
//! `data`, `data_meta` or `data_end` first copies the region back into the image, then
//! replaces the region by the new range of the image (so bytes uncovered by
//! `bpf_xdp_adjust_head` are what the buffer held there, as on the kernel, and a grown tail
//! is zeroed, as the kernel zeroes it), and rewrites the context's pointer fields.
//!
//! Replacing a region: [`Memory`] regions have a fixed length, so the address space is
//! rebuilt with the same regions at the same addresses and ids (the packet's changed), the
//! live stack frames copied; a stale packet pointer outside the new range faults, where the
//! kernel's verifier would have refused the program (it invalidates packet pointers after
//! these helpers).

use crate::vm::{DATA_BASE, EnvError, Memory, RegionId, STACK_SIZE};

/// `ETH_HLEN`.
pub(crate) const ETH_HLEN: u64 = 14;
/// `sizeof(struct xdp_frame)`: `bpf_xdp_adjust_head` keeps it free at the buffer's start
/// (measured: 216 of the 256 bytes of headroom can be taken).
pub(crate) const XDP_FRAME_SIZE: u64 = 40;
/// `PAGE_SIZE`: the room of one XDP fragment.
const PAGE_SIZE: usize = 4096;
/// `SKB_MAX_ALLOC` (16 KiB minus `skb_shared_info`): the most `bpf_skb_change_tail` grows
/// a test run's skb to (measured: 16064 works, 16065 is `EINVAL`).
pub(crate) const SKB_MAX_ALLOC: u64 = 16064;

/// Which context layout points into the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PktKind {
    /// `struct xdp_md`: `data` at 0, `data_end` at 4, `data_meta` at 8.
    Xdp,
    /// `struct __sk_buff`: `len` at 0, `data` at 76, `data_end` at 80, `data_meta` at 140.
    Skb,
}

/// The packet of a run; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct PacketState {
    /// The context layout.
    pub kind: PktKind,
    /// The packet region (its id survives every resize).
    pub region: RegionId,
    /// The context region.
    pub ctx: RegionId,
    /// Address of `buf[0]` (XDP: `data_hard_start`; skb: `skb->head`).
    pub hard_start: u64,
    /// The buffer image.
    pub buf: Vec<u8>,
    /// XDP: how far the frame may reach (`data_hard_end`: the page minus
    /// `skb_shared_info`), as an offset into `buf`.
    pub hard_end: usize,
    /// Offset in `buf` where the region starts.
    pub start: usize,
    /// The region's length.
    pub len: usize,
    /// XDP: `data - data_meta`.
    pub meta: usize,
    /// skb: where the program's `data` starts relative to L2 (0 for tc, 14 when the
    /// Ethernet header was pulled).
    pub l2_hidden: usize,
    /// Whether the program may write the packet.
    pub writable: bool,
    /// XDP: the frame's fragments past the linear part (`skb_shared_info.frags`), each at
    /// most a page; the program reaches them only through `bpf_xdp_adjust_tail`.
    pub frags: Vec<Vec<u8>>,
}

/// A helper's return value for `-errno`.
pub(crate) fn neg(e: i32) -> u64 {
    (-(e as i64)) as u64
}

const EINVAL: i32 = 22;
const EFAULT: i32 = 14;
const ENOMEM: i32 = 12;
const EACCES: i32 = 13;

fn put32(mem: &mut Memory, r: RegionId, off: usize, v: u32) {
    mem.bytes_mut(r)[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Rebuilds `mem` with region `target` replaced by `bytes` at `base`; see the module docs.
pub(crate) fn replace_region(
    mem: &mut Memory,
    target: RegionId,
    base: u64,
    bytes: Vec<u8>,
    ld_abs: bool,
) -> Result<(), EnvError> {
    let moved = EnvError::Other("the packet region could not be rebuilt");
    let mut m = Memory::new();
    let mut bytes = Some(bytes);
    for (id, r) in mem.regions() {
        let new = if id == target {
            m.add(base, bytes.take().unwrap_or_default(), r.writable, r.kind)
        } else if r.base >= DATA_BASE {
            m.map(r.bytes.clone(), r.writable, r.kind)
        } else {
            m.add(r.base, r.bytes.clone(), r.writable, r.kind)
        };
        match new {
            Ok(n) if n == id && (id == target || m.region(n).base == r.base) => {}
            _ => return Err(moved),
        }
    }
    for i in 0..mem.frames() {
        if !m.push_frame() {
            return Err(moved);
        }
        let frame = mem.frame(i).ok_or(moved.clone())?;
        m.write(Memory::frame_top(i) - STACK_SIZE as u64, frame)?;
    }
    if ld_abs {
        m.set_packet(Some(target));
    }
    *mem = m;
    Ok(())
}

impl PacketState {
    /// The region's current base address.
    pub fn base(&self) -> u64 {
        self.hard_start + self.start as u64
    }

    /// The address of `data`.
    fn data(&self) -> u64 {
        self.base() + self.meta as u64
    }

    /// The address of `data_end`.
    fn data_end(&self) -> u64 {
        self.base() + self.len as u64
    }

    /// Copies the region's bytes back into the image.
    fn sync_in(&mut self, mem: &Memory) {
        let bytes = &mem.region(self.region).bytes;
        self.buf[self.start..self.start + bytes.len()].copy_from_slice(bytes);
    }

    /// Makes `[start, start + len)` of the image the region, and rewrites the context.
    fn resize(
        &mut self,
        mem: &mut Memory,
        start: usize,
        len: usize,
        meta: usize,
    ) -> Result<(), EnvError> {
        if self.buf.len() < start + len {
            self.buf.resize(start + len, 0);
        }
        self.start = start;
        self.len = len;
        self.meta = meta;
        let bytes = self.buf[start..start + len].to_vec();
        let ld_abs = self.kind == PktKind::Skb;
        replace_region(mem, self.region, self.base(), bytes, ld_abs)?;
        let (data, end) = (self.data() as u32, self.data_end() as u32);
        match self.kind {
            PktKind::Xdp => {
                put32(mem, self.ctx, 0, data);
                put32(mem, self.ctx, 4, end);
                put32(mem, self.ctx, 8, self.base() as u32);
            }
            PktKind::Skb => {
                put32(mem, self.ctx, 0, (len - meta) as u32);
                put32(mem, self.ctx, 76, data);
                put32(mem, self.ctx, 80, end);
                put32(mem, self.ctx, 140, data);
            }
        }
        Ok(())
    }

    /// `bpf_xdp_adjust_head(ctx, delta)`: moves `data` (and the metadata with it); `data`
    /// must stay at least `sizeof(struct xdp_frame)` + the metadata past the buffer's start
    /// and `ETH_HLEN` before `data_end`, else `-EINVAL`.
    pub fn xdp_adjust_head(&mut self, mem: &mut Memory, delta: i32) -> Result<u64, EnvError> {
        self.sync_in(mem);
        let data = (self.start + self.meta) as i64 + delta as i64;
        let min = (XDP_FRAME_SIZE as usize + self.meta) as i64;
        let max = (self.start + self.len) as i64 - ETH_HLEN as i64;
        if data < min || data > max {
            return Ok(neg(EINVAL));
        }
        let meta_bytes = self.buf[self.start..self.start + self.meta].to_vec();
        let new_start = data as usize - self.meta;
        self.buf[new_start..new_start + self.meta].copy_from_slice(&meta_bytes);
        let end = self.start + self.len;
        self.resize(mem, new_start, end - new_start, self.meta)?;
        Ok(0)
    }

    /// `bpf_xdp_adjust_meta(ctx, delta)`: moves `data_meta`; below the `xdp_frame` or past
    /// `data` is `-EINVAL`, a length that is not a multiple of 4 or above 255 is `-EACCES`.
    pub fn xdp_adjust_meta(&mut self, mem: &mut Memory, delta: i32) -> Result<u64, EnvError> {
        self.sync_in(mem);
        let meta = self.start as i64 + delta as i64;
        let data = (self.start + self.meta) as i64;
        if meta < XDP_FRAME_SIZE as i64 || meta > data {
            return Ok(neg(EINVAL));
        }
        let metalen = (data - meta) as usize;
        if metalen % 4 != 0 || metalen > 255 {
            return Ok(neg(EACCES));
        }
        let end = self.start + self.len;
        self.resize(mem, meta as usize, end - meta as usize, metalen)?;
        Ok(0)
    }

    /// `bpf_xdp_adjust_tail(ctx, delta)`: moves `data_end`, at most to the end of the frame
    /// (page minus `skb_shared_info`) and at least `ETH_HLEN` past `data`, else `-EINVAL`;
    /// grown bytes are zeroed.
    ///
    /// On a frame with fragments it works on them instead (`bpf_xdp_frags_increase_tail` /
    /// `_shrink_tail`): growing zero-extends the last fragment up to its page (`-EINVAL`
    /// past it); shrinking takes bytes off the last fragments, dropping the ones it empties,
    /// and what is left of `-delta` once none remain off the linear part; a shrink that would
    /// leave less than `ETH_HLEN` in all is `-EINVAL`.
    pub fn xdp_adjust_tail(&mut self, mem: &mut Memory, delta: i32) -> Result<u64, EnvError> {
        self.sync_in(mem);
        if !self.frags.is_empty() {
            return self.xdp_frags_adjust_tail(mem, delta);
        }
        let end = (self.start + self.len) as i64;
        let new_end = end + delta as i64;
        let data = (self.start + self.meta) as i64;
        if new_end > self.hard_end as i64 || new_end < data + ETH_HLEN as i64 {
            return Ok(neg(EINVAL));
        }
        if new_end > end {
            self.buf[end as usize..new_end as usize].fill(0);
        }
        self.resize(
            mem,
            self.start,
            (new_end - self.start as i64) as usize,
            self.meta,
        )?;
        Ok(0)
    }

    /// `bpf_xdp_adjust_tail` on a frame with fragments; see [`PacketState::xdp_adjust_tail`].
    fn xdp_frags_adjust_tail(&mut self, mem: &mut Memory, delta: i32) -> Result<u64, EnvError> {
        if delta >= 0 {
            let last = self.frags.last_mut().expect("fragments");
            if delta as usize > PAGE_SIZE - last.len() {
                return Ok(neg(EINVAL));
            }
            last.resize(last.len() + delta as usize, 0);
            return Ok(0);
        }
        let mut shrink = -(delta as i64) as usize;
        let total = self.len - self.meta + self.frags.iter().map(Vec::len).sum::<usize>();
        if shrink as i64 > total as i64 - ETH_HLEN as i64 {
            return Ok(neg(EINVAL));
        }
        while shrink > 0 {
            let Some(last) = self.frags.last_mut() else {
                break;
            };
            let n = shrink.min(last.len());
            last.truncate(last.len() - n);
            shrink -= n;
            if last.is_empty() {
                self.frags.pop();
            }
        }
        if self.frags.is_empty() && shrink > 0 {
            self.resize(mem, self.start, self.len - shrink, self.meta)?;
        }
        Ok(0)
    }

    /// The packet bytes the program sees (`skb->data` onwards).
    fn bytes<'m>(&self, mem: &'m Memory) -> &'m [u8] {
        &mem.region(self.region).bytes
    }

    /// `bpf_skb_load_bytes(ctx, off, to, len)`: `-EFAULT` (and `to` zeroed) past the packet.
    pub fn skb_load_bytes(
        &self,
        mem: &mut Memory,
        off: u32,
        to: u64,
        len: u32,
    ) -> Result<u64, EnvError> {
        mem.slice_mut(to, len as usize)?;
        let pkt = self.bytes(mem);
        let end = off as u64 + len as u64;
        if off > i32::MAX as u32 || end > pkt.len() as u64 {
            mem.slice_mut(to, len as usize)?.fill(0);
            return Ok(neg(EFAULT));
        }
        let data = pkt[off as usize..end as usize].to_vec();
        mem.write(to, &data)?;
        Ok(0)
    }

    /// `bpf_skb_store_bytes(ctx, off, from, len, flags)`: flags other than
    /// `BPF_F_RECOMPUTE_CSUM` (1) and `BPF_F_INVALIDATE_HASH` (2) are `-EINVAL`; past the
    /// packet `-EFAULT`. `BPF_F_INVALIDATE_HASH` zeroes `__sk_buff.hash`; the model keeps no
    /// `skb->csum`, so `BPF_F_RECOMPUTE_CSUM` changes nothing else.
    pub fn skb_store_bytes(&self, mem: &mut Memory, args: [u64; 5]) -> Result<u64, EnvError> {
        let (off, from, len, flags) = (args[1] as u32, args[2], args[3] as u32, args[4]);
        let data = mem.slice(from, len as usize)?.to_vec();
        if flags & !3 != 0 {
            return Ok(neg(EINVAL));
        }
        if off > i32::MAX as u32 || off as u64 + len as u64 > self.bytes(mem).len() as u64 {
            return Ok(neg(EFAULT));
        }
        if !self.writable {
            return Err(EnvError::Other(
                "the packet is read-only to this program type",
            ));
        }
        let r = mem.bytes_mut(self.region);
        r[off as usize..off as usize + len as usize].copy_from_slice(&data);
        if flags & 2 != 0 {
            put32(mem, self.ctx, 68, 0);
        }
        Ok(0)
    }

    /// `bpf_l3_csum_replace` (`l4` false) and `bpf_l4_csum_replace` (`l4` true): `(ctx,
    /// off, from, to, flags)`, the 16-bit checksum at `off` updated incrementally. The low
    /// 4 flag bits are the field size (0: `to` is a diff from `bpf_csum_diff` and `from`
    /// must be 0; 2; 4; else `-EINVAL`); l4 also takes `BPF_F_PSEUDO_HDR` (0x10),
    /// `BPF_F_MARK_MANGLED_0` (0x20: a zero checksum stays zero, a result of 0 becomes
    /// 0xffff), `BPF_F_MARK_ENFORCE` (0x40), `BPF_F_IPV6` (0x80); other bits `-EINVAL`. An
    /// odd offset, one above 0xffff or a checksum past the packet is `-EFAULT`.
    pub fn csum_replace(
        &self,
        mem: &mut Memory,
        args: [u64; 5],
        l4: bool,
    ) -> Result<u64, EnvError> {
        let (off, from, to, flags) = (args[1] as u32, args[2], args[3], args[4]);
        let allowed = if l4 { 0xff } else { 0x0f };
        if flags & !allowed != 0 {
            return Ok(neg(EINVAL));
        }
        if off > 0xffff || off & 1 != 0 || off as usize + 2 > self.bytes(mem).len() {
            return Ok(neg(EFAULT));
        }
        if !self.writable {
            return Err(EnvError::Other(
                "the packet is read-only to this program type",
            ));
        }
        let at = off as usize;
        let cur = {
            let b = self.bytes(mem);
            u16::from_le_bytes([b[at], b[at + 1]])
        };
        let mangled0 = l4 && flags & 0x20 != 0;
        if mangled0 && flags & 0x40 == 0 && cur == 0 {
            return Ok(0);
        }
        let new = match flags & 0xf {
            0 if from != 0 => return Ok(neg(EINVAL)),
            0 => csum_fold(csum_add(to as u32, !(cur as u32))),
            2 => !csum16_add(csum16_sub(!cur, from as u16), to as u16),
            4 => csum_fold(csum_add(csum_sub(!(cur as u32), from as u32), to as u32)),
            _ => return Ok(neg(EINVAL)),
        };
        let new = if mangled0 && new == 0 { 0xffff } else { new };
        mem.bytes_mut(self.region)[at..at + 2].copy_from_slice(&new.to_le_bytes());
        Ok(0)
    }

    /// `bpf_skb_pull_data(ctx, len)`: 0 when the linear packet already holds `len` bytes
    /// (always linear here), else `-ENOMEM`.
    pub fn skb_pull_data(&self, mem: &Memory, len: u32) -> u64 {
        if len as usize > self.bytes(mem).len() {
            neg(ENOMEM)
        } else {
            0
        }
    }

    /// `bpf_skb_change_tail(ctx, new_len, flags)`: trims or zero-extends the packet to
    /// `new_len` (counted from L2); any flag, a length below `ETH_HLEN` (the network
    /// header's offset) or above [`SKB_MAX_ALLOC`] is `-EINVAL`.
    pub fn skb_change_tail(
        &mut self,
        mem: &mut Memory,
        new_len: u32,
        flags: u64,
    ) -> Result<u64, EnvError> {
        let new_len = new_len as u64;
        if flags != 0 || !(ETH_HLEN..=SKB_MAX_ALLOC).contains(&new_len) {
            return Ok(neg(EINVAL));
        }
        if !self.writable {
            return Err(EnvError::Other(
                "the packet is read-only to this program type",
            ));
        }
        self.sync_in(mem);
        let len = new_len as usize - self.l2_hidden;
        let end = self.start + self.len;
        let new_end = self.start + len;
        if new_end > end {
            if self.buf.len() < new_end {
                self.buf.resize(new_end, 0);
            }
            self.buf[end..new_end].fill(0);
        }
        self.resize(mem, self.start, len, 0)?;
        Ok(0)
    }
}

/// `csum_add`: 32-bit ones'-complement addition.
pub(crate) fn csum_add(a: u32, b: u32) -> u32 {
    let (s, c) = a.overflowing_add(b);
    s.wrapping_add(c as u32)
}

/// `csum_sub`.
pub(crate) fn csum_sub(a: u32, b: u32) -> u32 {
    csum_add(a, !b)
}

/// `csum_fold`: the folded, complemented 16-bit checksum.
pub(crate) fn csum_fold(s: u32) -> u16 {
    !fold16(s)
}

/// The 32-bit sum folded to 16 bits (not complemented).
pub(crate) fn fold16(s: u32) -> u16 {
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

fn csum16_add(a: u16, b: u16) -> u16 {
    let (s, c) = a.overflowing_add(b);
    s.wrapping_add(c as u16)
}

fn csum16_sub(a: u16, b: u16) -> u16 {
    csum16_add(a, !b)
}

/// `csum_partial(bytes, seed)`: little-endian 16-bit words (a trailing odd byte as the low
/// byte), ones'-complement added to `seed`.
pub(crate) fn csum_partial(bytes: &[u8], seed: u32) -> u32 {
    let mut s = seed;
    for c in bytes.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            c[0] as u16
        };
        s = csum_add(s, w as u32);
    }
    s
}

/// `bpf_csum_diff(from, from_size, to, to_size, seed)` on 6.18: the 16-bit folded
/// (not complemented) ones'-complement sum of `to` minus `from` plus `seed`: with only
/// `to`, `csum_partial(to, seed)`; with only `from`, `~csum_partial(from, ~seed)`; with
/// both, `csum_partial(to, seed) - csum_partial(from, 0)`. Sizes need not be multiples of 4
/// (measured).
pub(crate) fn csum_diff(from: &[u8], to: &[u8], seed: u32) -> u64 {
    let s = match (from.is_empty(), to.is_empty()) {
        (true, true) => seed,
        (true, false) => csum_partial(to, seed),
        (false, true) => !csum_partial(from, !seed),
        (false, false) => csum_sub(csum_partial(to, seed), csum_partial(from, 0)),
    };
    fold16(s) as u64
}

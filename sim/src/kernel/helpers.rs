//! The environment a program runs in inside the simulated kernel (`BPF_PROG_TEST_RUN`): the
//! helpers it may call, with the kernel's ids; `ld_imm64` map references; tail calls.
//!
//! Map values as the program sees them: `bpf_map_lookup_elem` returns the address of a
//! region holding a *copy* of the element's value, registered once per (map, key) for the
//! whole test run (repetitions included), so the same element always has the same address.
//! The copies are written back into the map after every repetition, also after a fault, and
//! before any helper touches that map (so `update` after a lookup sees the program's writes).
//! After an `update` of an array element the copy is refreshed (arrays update in place, the
//! pointer stays valid); after an `update` or `delete` of a hash element the copy is detached
//! (the kernel replaces or frees the element: the old pointer no longer reaches the map, so
//! writes through it are lost, as they are on the kernel) and the next lookup gets a new
//! address.
//!
//! Global data (`.data`, `.rodata`, `.bss`, any array with one entry): `ld_imm64` with
//! `BPF_PSEUDO_MAP_VALUE` (in the translated program: src_reg 2, imm = map id, next imm =
//! offset) gives the address of element 0's region plus the offset. Those regions are
//! registered before the run for every such map the program (or a program reachable through
//! its prog_arrays) uses, because `ld_imm64` has no access to memory. A map with
//! `BPF_F_RDONLY_PROG` gets read-only regions: a store faults.
//!
//! A map *handle* (`ld_imm64` src_reg 1, what r1 holds for a map helper) is an address in an
//! unmapped range, [`MAP_HANDLE_BASE`] + id * 256: a program that dereferences it faults.

use std::collections::BTreeMap;

use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::kernel::helper_table;
use crate::kernel::packet::{PacketState, csum_diff};
use crate::maps::MapData;
use crate::object::{MapIdx, ProgIdx};
use crate::task::Pid;
use crate::uapi::flags::{BPF_F_LOCK, BPF_F_RDONLY_PROG};
use crate::uapi::pseudo;
use crate::vm::{Env, EnvError, Memory, RegionId, RegionKind, TailCallTarget};

/// Where map handles live: no region is ever mapped there.
pub const MAP_HANDLE_BASE: u64 = 0xffff_a000_0000_0000;
const HANDLE_STRIDE: u64 = 0x100;

/// Helper ids (`enum bpf_func_id`, `include/uapi/linux/bpf.h`).
mod id {
    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const MAP_UPDATE_ELEM: i32 = 2;
    pub const MAP_DELETE_ELEM: i32 = 3;
    pub const KTIME_GET_NS: i32 = 5;
    pub const TRACE_PRINTK: i32 = 6;
    pub const GET_PRANDOM_U32: i32 = 7;
    pub const GET_SMP_PROCESSOR_ID: i32 = 8;
    pub const SKB_STORE_BYTES: i32 = 9;
    pub const L3_CSUM_REPLACE: i32 = 10;
    pub const L4_CSUM_REPLACE: i32 = 11;
    pub const GET_CURRENT_PID_TGID: i32 = 14;
    pub const GET_CURRENT_UID_GID: i32 = 15;
    pub const GET_CURRENT_COMM: i32 = 16;
    pub const REDIRECT: i32 = 23;
    pub const SKB_LOAD_BYTES: i32 = 26;
    pub const CSUM_DIFF: i32 = 28;
    pub const SKB_CHANGE_TAIL: i32 = 38;
    pub const SKB_PULL_DATA: i32 = 39;
    pub const XDP_ADJUST_HEAD: i32 = 44;
    pub const XDP_ADJUST_META: i32 = 54;
    pub const XDP_ADJUST_TAIL: i32 = 65;
    pub const KTIME_GET_BOOT_NS: i32 = 125;
}

/// One `bpf_trace_printk` line, as `trace_pipe` would show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// The process whose bpf() call ran the program.
    pub pid: Pid,
    /// Its `comm`.
    pub comm: String,
    /// The CPU the run was on.
    pub cpu: u32,
    /// The virtual clock at the call, ns.
    pub ts_ns: u64,
    /// The formatted message (with its trailing newline, if the format had one).
    pub msg: String,
}

impl TraceEntry {
    /// The line as `trace_pipe` prints it (flags column fixed to `.....`).
    pub fn line(&self) -> String {
        format!(
            "{:>16}-{:<7} [{:03}] ..... {:>5}.{:06}: bpf_trace_printk: {}",
            self.comm,
            self.pid.0,
            self.cpu,
            self.ts_ns / 1_000_000_000,
            self.ts_ns % 1_000_000_000 / 1000,
            self.msg.trim_end_matches('\n')
        )
    }
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    let n = b.len().min(4);
    a[..n].copy_from_slice(&b[..n]);
    u32::from_le_bytes(a)
}

/// A helper's errno as its (negative) return value.
fn neg(r: SysResult<()>) -> u64 {
    match r {
        Ok(()) => 0,
        Err(Errno(e)) => (-(e as i64)) as u64,
    }
}

/// The environment of one test run.
pub(crate) struct RunEnv<'k> {
    pub(crate) k: &'k mut Kernel,
    pid: Pid,
    cpu: u32,
    /// The running program's type: which helpers it has ([`super::helper_table`]).
    ptype: u32,
    /// The context's address (r1 at entry), which skb helpers take as their first argument.
    pub(crate) ctx_addr: u64,
    /// The packet, for the packet helpers.
    pub(crate) pkt: Option<PacketState>,
    /// Value copies by (map, key), attached to the element they copy.
    values: BTreeMap<(MapIdx, Vec<u8>), RegionId>,
    /// Element 0's address of the one-entry arrays (`BPF_PSEUDO_MAP_VALUE`).
    direct: BTreeMap<MapIdx, u64>,
}

impl<'k> RunEnv<'k> {
    /// The environment of a run of `prog`, with the global-data regions of every map it can
    /// reach registered in `mem`.
    pub(crate) fn new(
        k: &'k mut Kernel,
        pid: Pid,
        cpu: u32,
        prog: ProgIdx,
        mem: &mut Memory,
    ) -> RunEnv<'k> {
        let ptype = k.progs[prog.0].prog_type;
        let mut env = RunEnv {
            k,
            pid,
            cpu,
            ptype,
            ctx_addr: 0,
            pkt: None,
            values: BTreeMap::new(),
            direct: BTreeMap::new(),
        };
        let mut progs = vec![prog];
        let mut seen_progs = vec![prog];
        while let Some(p) = progs.pop() {
            for m in env.k.progs[p.0].used_maps.clone() {
                let map = &env.k.maps[m.0];
                match &map.data {
                    MapData::Array { .. } if map.max_entries == 1 => {
                        if let Ok(Some(base)) = env.value_addr(mem, m, &[0; 4]) {
                            env.direct.insert(m, base);
                        }
                    }
                    MapData::ProgArray { slots, .. } => {
                        for &q in slots.iter().flatten() {
                            if !seen_progs.contains(&q) {
                                seen_progs.push(q);
                                progs.push(q);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        env
    }

    fn handle(id: u32) -> u64 {
        MAP_HANDLE_BASE + id as u64 * HANDLE_STRIDE
    }

    /// The map behind a handle.
    fn map_of(&self, handle: u64) -> Result<MapIdx, EnvError> {
        let rel = handle.wrapping_sub(MAP_HANDLE_BASE);
        if rel % HANDLE_STRIDE != 0 || rel / HANDLE_STRIDE > u32::MAX as u64 {
            return Err(EnvError::Other("helper argument is not a map"));
        }
        self.k
            .map_ids
            .get((rel / HANDLE_STRIDE) as u32)
            .ok_or(EnvError::Other("helper argument is not a live map"))
    }

    /// The address of the value copy of (m, key), registering it; `None` when absent.
    fn value_addr(
        &mut self,
        mem: &mut Memory,
        m: MapIdx,
        key: &[u8],
    ) -> Result<Option<u64>, EnvError> {
        if let Some(&r) = self.values.get(&(m, key.to_vec())) {
            return Ok(Some(mem.region(r).base));
        }
        let map = &self.k.maps[m.0];
        let vs = map.value_size as usize;
        let bytes = match &map.data {
            MapData::Array { values } => {
                let i = le32(key);
                if i >= map.max_entries {
                    return Ok(None);
                }
                values[i as usize * vs..(i as usize + 1) * vs].to_vec()
            }
            MapData::Hash { table } => match table.lookup(key) {
                Some(v) => v.to_vec(),
                None => return Ok(None),
            },
            _ => {
                return Err(EnvError::Other(
                    "map type has no values a program can address",
                ));
            }
        };
        let writable = map.map_flags & BPF_F_RDONLY_PROG == 0;
        let kind = if map.name.contains(&b'.') {
            RegionKind::Global
        } else {
            RegionKind::MapValue
        };
        let r = mem
            .map(bytes, writable, kind)
            .map_err(|_| EnvError::Other("address space exhausted"))?;
        self.values.insert((m, key.to_vec()), r);
        Ok(Some(mem.region(r).base))
    }

    /// Writes the value copies (of `only`, or of every map) back into their maps.
    pub(crate) fn flush(&mut self, mem: &Memory, only: Option<MapIdx>) {
        for (&(m, ref key), &r) in &self.values {
            if only.is_some_and(|o| o != m) {
                continue;
            }
            let bytes = &mem.region(r).bytes;
            let Some(map) = self.k.maps.get_mut(m.0) else {
                continue;
            };
            let vs = map.value_size as usize;
            match &mut map.data {
                MapData::Array { values } => {
                    let i = le32(key) as usize;
                    values[i * vs..(i + 1) * vs].copy_from_slice(bytes);
                }
                MapData::Hash { table } => {
                    if let Some(v) = table.lookup_mut(key) {
                        v.copy_from_slice(bytes);
                    }
                }
                _ => {}
            }
        }
    }

    /// Re-reads the copies of an array's elements after an in-place update.
    fn refresh_array(&mut self, mem: &mut Memory, m: MapIdx) {
        let map = &self.k.maps[m.0];
        let vs = map.value_size as usize;
        let MapData::Array { values } = &map.data else {
            return;
        };
        for (&(mm, ref key), &r) in &self.values {
            if mm == m {
                let i = le32(key) as usize;
                mem.bytes_mut(r)
                    .copy_from_slice(&values[i * vs..(i + 1) * vs]);
            }
        }
    }

    fn key(&self, mem: &Memory, m: MapIdx, addr: u64) -> Result<Vec<u8>, EnvError> {
        let ks = self.k.maps[m.0].key_size as usize;
        Ok(mem.slice(addr, ks)?.to_vec())
    }

    fn lookup(&mut self, mem: &mut Memory, args: [u64; 5]) -> Result<u64, EnvError> {
        let m = self.map_of(args[0])?;
        let key = self.key(mem, m, args[1])?;
        let map = &self.k.maps[m.0];
        let inner = match &map.data {
            MapData::ArrayOfMaps { slots, .. } => {
                Some(slots.get(le32(&key) as usize).copied().flatten())
            }
            MapData::HashOfMaps { table, .. } => Some(table.lookup(&key).copied()),
            MapData::ProgArray { .. } => {
                return Err(EnvError::Other(
                    "bpf_map_lookup_elem on a prog_array is not allowed from a program",
                ));
            }
            _ => None,
        };
        if let Some(inner) = inner {
            return Ok(inner.map_or(0, |i| Self::handle(self.k.maps[i.0].id)));
        }
        Ok(self.value_addr(mem, m, &key)?.unwrap_or(0))
    }

    /// The map of an update or delete, which a program may change.
    fn writable_map(&self, handle: u64) -> Result<MapIdx, EnvError> {
        let m = self.map_of(handle)?;
        let map = &self.k.maps[m.0];
        if !matches!(map.data, MapData::Array { .. } | MapData::Hash { .. }) {
            return Err(EnvError::Other(
                "programs may only update or delete elements of hash and array maps here",
            ));
        }
        if map.map_flags & BPF_F_RDONLY_PROG != 0 {
            return Err(EnvError::Other(
                "map is read-only to programs (BPF_F_RDONLY_PROG)",
            ));
        }
        Ok(m)
    }

    fn update(&mut self, mem: &mut Memory, args: [u64; 5]) -> Result<u64, EnvError> {
        let m = self.writable_map(args[0])?;
        let key = self.key(mem, m, args[1])?;
        let vs = self.k.maps[m.0].value_size as usize;
        let value = mem.slice(args[2], vs)?.to_vec();
        let flags = args[3];
        if flags & BPF_F_LOCK != 0 {
            // No map here has a bpf_spin_lock.
            return Ok(neg(Err(Errno::EINVAL)));
        }
        self.flush(mem, Some(m));
        let r = self.k.map_update(self.pid, m, &key, &value, flags);
        if matches!(self.k.maps[m.0].data, MapData::Array { .. }) {
            self.refresh_array(mem, m);
        } else if r.is_ok() {
            self.values.remove(&(m, key));
        }
        Ok(neg(r))
    }

    fn delete(&mut self, mem: &mut Memory, args: [u64; 5]) -> Result<u64, EnvError> {
        let m = self.writable_map(args[0])?;
        let key = self.key(mem, m, args[1])?;
        self.flush(mem, Some(m));
        let r = match &mut self.k.maps[m.0].data {
            MapData::Hash { table } => table.delete(&key).map(drop).ok_or(Errno::ENOENT),
            _ => Err(Errno::EINVAL),
        };
        if r.is_ok() {
            self.values.remove(&(m, key));
        }
        Ok(neg(r))
    }

    /// `bpf_trace_printk(fmt, fmt_size, ...)`: the length of the message, or `-EINVAL` for a
    /// format the kernel refuses (not NUL-terminated within `fmt_size`, an unknown
    /// conversion, more than three arguments).
    fn trace_printk(&mut self, mem: &Memory, args: [u64; 5]) -> Result<u64, EnvError> {
        let size = args[1] as u32 as usize;
        if size == 0 {
            return Ok(neg(Err(Errno::EINVAL)));
        }
        let fmt = mem.slice(args[0], size)?;
        let Some(end) = fmt.iter().position(|&b| b == 0) else {
            return Ok(neg(Err(Errno::EINVAL)));
        };
        let Some(msg) = format_printk(&fmt[..end], &args[2..5], mem) else {
            return Ok(neg(Err(Errno::EINVAL)));
        };
        let comm = self
            .k
            .procs
            .get(&self.pid)
            .map(|p| p.comm.clone())
            .unwrap_or_default();
        let len = msg.len() as u64;
        self.k.trace.push(TraceEntry {
            pid: self.pid,
            comm,
            cpu: self.cpu,
            ts_ns: self.k.now_ns,
            msg,
        });
        Ok(len)
    }
}

/// A NUL-terminated string at `addr` (at most 512 bytes); unreadable memory gives the empty
/// string, as the kernel's `strncpy_from_kernel_nofault` failure does.
fn read_str(mem: &Memory, addr: u64) -> String {
    let mut out = Vec::new();
    for i in 0..512u64 {
        match mem.slice(addr.wrapping_add(i), 1) {
            Ok(&[0]) | Err(_) => break,
            Ok(b) => out.push(b[0]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The kernel's `bpf_bprintf_prepare` + `bstr_printf`, for the conversions it accepts:
/// `%d %i %u %x %X %o %c %s %p %%` with `l`/`ll`/`h`/`hh` lengths, flags `-0+ #` and a width.
/// `None` for anything else, or more than three arguments.
fn format_printk(fmt: &[u8], args: &[u64], mem: &Memory) -> Option<String> {
    let mut out = String::new();
    let mut next = 0usize;
    let mut i = 0usize;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(c as char);
            continue;
        }
        if fmt.get(i) == Some(&b'%') {
            out.push('%');
            i += 1;
            continue;
        }
        let (mut left, mut zero) = (false, false);
        while let Some(&f) = fmt.get(i) {
            match f {
                b'-' => left = true,
                b'0' => zero = true,
                b'+' | b' ' | b'#' => {}
                _ => break,
            }
            i += 1;
        }
        let mut width = 0usize;
        while let Some(&d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
            width = width * 10 + (d - b'0') as usize;
            i += 1;
        }
        let mut longs = 0;
        let mut shorts = 0;
        while let Some(&l) = fmt.get(i) {
            match l {
                b'l' => longs += 1,
                b'h' => shorts += 1,
                _ => break,
            }
            i += 1;
        }
        let conv = *fmt.get(i)?;
        i += 1;
        if next >= args.len() {
            return None;
        }
        let a = args[next];
        next += 1;
        let bits = if longs > 0 {
            64
        } else if shorts == 1 {
            16
        } else if shorts >= 2 {
            8
        } else {
            32
        };
        let mask = |v: u64| {
            if bits == 64 {
                v
            } else {
                v & ((1u64 << bits) - 1)
            }
        };
        let signed = |v: u64| -> i64 {
            match bits {
                8 => v as i8 as i64,
                16 => v as i16 as i64,
                32 => v as i32 as i64,
                _ => v as i64,
            }
        };
        let s = match conv {
            b'd' | b'i' => signed(a).to_string(),
            b'u' => mask(a).to_string(),
            b'x' => format!("{:x}", mask(a)),
            b'X' => format!("{:X}", mask(a)),
            b'o' => format!("{:o}", mask(a)),
            b'c' => ((a as u8) as char).to_string(),
            b's' => read_str(mem, a),
            b'p' => {
                // %pK, %px, %ps...: the pointer in hex (the kernel hashes %p; the model does not).
                while fmt.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
                    i += 1;
                }
                format!("{a:016x}")
            }
            _ => return None,
        };
        let pad = width.saturating_sub(s.chars().count());
        if left {
            out.push_str(&s);
            out.extend(std::iter::repeat_n(' ', pad));
        } else if zero && !matches!(conv, b's' | b'c') {
            let (sign, digits) = match s.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", s.as_str()),
            };
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', pad));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&s);
        }
    }
    Some(out)
}

impl RunEnv<'_> {
    /// The packet, for a packet helper whose first argument must be the context.
    fn packet(&mut self, ctx: Option<u64>) -> Result<&mut PacketState, EnvError> {
        if ctx.is_some_and(|c| c != self.ctx_addr) {
            return Err(EnvError::Other(
                "the helper's first argument is not the context",
            ));
        }
        self.pkt
            .as_mut()
            .ok_or(EnvError::Other("this run has no packet"))
    }

    /// `bpf_get_current_comm(buf, size)`: the process's name, NUL-terminated and padded with
    /// zeros to `size` (truncated to `size - 1` bytes and at most 15, `TASK_COMM_LEN` - 1).
    fn current_comm(&mut self, mem: &mut Memory, args: [u64; 5]) -> Result<u64, EnvError> {
        let size = args[1] as u32 as usize;
        let buf = mem.slice_mut(args[0], size)?;
        buf.fill(0);
        let comm = self
            .k
            .procs
            .get(&self.pid)
            .map(|p| p.comm.clone())
            .unwrap_or_default();
        let n = comm.len().min(15).min(size.saturating_sub(1));
        buf[..n].copy_from_slice(&comm.as_bytes()[..n]);
        Ok(0)
    }

    /// `bpf_csum_diff(from, from_size, to, to_size, seed)`; see [`csum_diff`].
    fn csum_diff(&self, mem: &Memory, args: [u64; 5]) -> Result<u64, EnvError> {
        let read = |p: u64, n: u64| -> Result<Vec<u8>, EnvError> {
            if n == 0 {
                return Ok(Vec::new());
            }
            Ok(mem.slice(p, n as u32 as usize)?.to_vec())
        };
        let from = read(args[0], args[1])?;
        let to = read(args[2], args[3])?;
        Ok(csum_diff(&from, &to, args[4] as u32))
    }

    /// `bpf_redirect(ifindex, flags)` as a test run sees it (nothing is sent): tc returns
    /// `TC_ACT_REDIRECT` (7), or `TC_ACT_SHOT` (2) for flags other than `BPF_F_INGRESS`;
    /// XDP returns `XDP_REDIRECT` (4), or `XDP_ABORTED` (0) for any flag. The ifindex is
    /// not checked (measured: 99 redirects too).
    fn redirect(&self, flags: u64) -> u64 {
        if self.ptype == crate::uapi::prog_type::XDP {
            if flags != 0 { 0 } else { 4 }
        } else if flags & !1 != 0 {
            2
        } else {
            7
        }
    }
}

impl Env for RunEnv<'_> {
    fn call_helper(&mut self, id: i32, args: [u64; 5], mem: &mut Memory) -> Result<u64, EnvError> {
        if helper_table::supported(self.ptype, id).is_none() {
            return Err(EnvError::UnknownHelper);
        }
        match id {
            id::MAP_LOOKUP_ELEM => self.lookup(mem, args),
            id::MAP_UPDATE_ELEM => self.update(mem, args),
            id::MAP_DELETE_ELEM => self.delete(mem, args),
            id::KTIME_GET_NS | id::KTIME_GET_BOOT_NS => Ok(self.k.now_ns),
            id::TRACE_PRINTK => self.trace_printk(mem, args),
            id::GET_PRANDOM_U32 => Ok(self.k.prandom_u32() as u64),
            id::GET_SMP_PROCESSOR_ID => Ok(self.cpu as u64),
            id::GET_CURRENT_PID_TGID => Ok(((self.pid.0 as u64) << 32) | self.pid.0 as u64),
            id::GET_CURRENT_UID_GID => {
                let c = self
                    .k
                    .procs
                    .get(&self.pid)
                    .map(|p| p.cred)
                    .ok_or(EnvError::Other("no current process"))?;
                Ok(((c.gid as u64) << 32) | c.uid as u64)
            }
            id::GET_CURRENT_COMM => self.current_comm(mem, args),
            id::REDIRECT => Ok(self.redirect(args[1])),
            id::CSUM_DIFF => self.csum_diff(mem, args),
            id::XDP_ADJUST_HEAD => self
                .packet(Some(args[0]))?
                .xdp_adjust_head(mem, args[1] as i32),
            id::XDP_ADJUST_META => self
                .packet(Some(args[0]))?
                .xdp_adjust_meta(mem, args[1] as i32),
            id::XDP_ADJUST_TAIL => self
                .packet(Some(args[0]))?
                .xdp_adjust_tail(mem, args[1] as i32),
            id::SKB_LOAD_BYTES => self.packet(Some(args[0]))?.skb_load_bytes(
                mem,
                args[1] as u32,
                args[2],
                args[3] as u32,
            ),
            id::SKB_STORE_BYTES => self.packet(Some(args[0]))?.skb_store_bytes(mem, args),
            id::L3_CSUM_REPLACE => self.packet(Some(args[0]))?.csum_replace(mem, args, false),
            id::L4_CSUM_REPLACE => self.packet(Some(args[0]))?.csum_replace(mem, args, true),
            id::SKB_PULL_DATA => Ok(self
                .packet(Some(args[0]))?
                .skb_pull_data(mem, args[1] as u32)),
            id::SKB_CHANGE_TAIL => {
                self.packet(Some(args[0]))?
                    .skb_change_tail(mem, args[1] as u32, args[2])
            }
            _ => Err(EnvError::UnknownHelper),
        }
    }

    fn ld_imm64(&mut self, src: u8, imm: i32, next_imm: i32) -> Result<u64, EnvError> {
        let unresolved = EnvError::UnresolvedLdImm64 { src };
        let m = match src {
            pseudo::MAP_FD | pseudo::MAP_VALUE => {
                self.k.map_ids.get(imm as u32).ok_or(unresolved.clone())?
            }
            _ => return Err(unresolved),
        };
        if src == pseudo::MAP_FD {
            return Ok(Self::handle(imm as u32));
        }
        let base = self.direct.get(&m).copied().ok_or(EnvError::Other(
            "direct value access to a map that is not a one-entry array",
        ))?;
        Ok(base.wrapping_add(next_imm as u32 as u64))
    }

    fn tail_call(&mut self, map: u64, index: u32) -> Result<TailCallTarget, EnvError> {
        let m = self
            .map_of(map)
            .map_err(|_| EnvError::NotProgArray { map })?;
        let MapData::ProgArray { slots, .. } = &self.k.maps[m.0].data else {
            return Err(EnvError::NotProgArray { map });
        };
        Ok(match slots.get(index as usize) {
            None => TailCallTarget::OutOfRange,
            Some(None) => TailCallTarget::Empty,
            Some(Some(p)) => TailCallTarget::Prog(self.k.progs[p.0].runnable.clone()),
        })
    }
}

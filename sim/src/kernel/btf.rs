//! BTF objects (`struct btf` of `kernel/bpf/btf.c`): `BPF_BTF_LOAD`, `BPF_BTF_GET_FD_BY_ID`,
//! `BPF_BTF_GET_NEXT_ID`, `struct bpf_btf_info`, and the references maps and programs hold.
//!
//! A BTF object has its own id space and one reference count (`btf->refcnt`), held by its
//! open file descriptions, by each map created with it (`map->btf`, put in the map's deferred
//! free) and by each program loaded with it (`prog->aux->btf`, put when the program's
//! `refcnt` reaches zero, before the grace period). BTF objects cannot be pinned (`BPF_OBJ_PIN`
//! of a BTF fd is `EINVAL`, measured on 6.18). At `refcnt` zero the id goes and the object is
//! freed (its RCU free is not observable).
//!
//! `BTF_LOAD` checks what `btf_parse` checks of the header and sections, with the kernel's
//! errnos: size (`E2BIG` above 16 MiB), log attributes (`EINVAL`), `hdr_len` (`EINVAL`), a
//! non-zero byte past the known header (`E2BIG`), magic (`EINVAL`), version and flags
//! (`ENOTSUPP`, 524), no data, section order/overlap/gaps/bounds (`EINVAL`), the string
//! section (at the end, non-empty, first and last byte NUL), `type_off` alignment, an empty
//! type section, and each type's record (kind known, record inside the section, referenced
//! type ids and names in range) with libbpf's parser, and a `FUNC_PROTO`'s return type id in
//! range (`btf_func_proto_check`). Not checked: the per-kind semantic
//! rules of `btf_check_all_types` (member offsets against sizes, resolvable sizes, valid
//! identifiers, `FUNC` linkage, ...): such BTF loads here and fails on the kernel.

use crate::attr::{Attr, put_u32};
use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::loader::btf::{Btf, kind};
use crate::mem::UserMem;
use crate::task::{FileObj, Pid};

/// `BTF_MAX_SIZE`: the largest BTF blob `BTF_LOAD` accepts (16 MiB).
pub const BTF_MAX_SIZE: u32 = 16 * 1024 * 1024;
/// `sizeof(struct btf_header)` on 6.18.
pub const BTF_HDR_SIZE: usize = 24;
/// `sizeof(struct bpf_btf_info)`.
pub const BTF_INFO_SIZE: usize = 32;
/// `ENOTSUPP` (kernel-internal 524), what `btf_parse_hdr` returns for a version or flags it
/// does not know.
const ENOTSUPP: Errno = Errno::ENOTSUPP;

/// Index of a BTF object in the kernel's BTF arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BtfIdx(pub u32);

/// Field offsets of `union bpf_attr` for `BPF_BTF_LOAD`.
#[allow(missing_docs)]
pub mod off {
    pub const BTF: usize = 0;
    pub const BTF_LOG_BUF: usize = 8;
    pub const BTF_SIZE: usize = 16;
    pub const BTF_LOG_SIZE: usize = 20;
    pub const BTF_LOG_LEVEL: usize = 24;
    pub const BTF_LOG_TRUE_SIZE: usize = 28;
    pub const BTF_FLAGS: usize = 32;
    pub const BTF_TOKEN_FD: usize = 36;
    /// End of `btf_token_fd` (`BPF_BTF_LOAD_LAST_FIELD`).
    pub const END: usize = 40;
    /// `BPF_BTF_GET_FD_BY_ID`: end of `fd_by_id_token_fd`.
    pub const END_GET_FD_BY_ID: usize = 16;
}

/// Offsets in `struct bpf_btf_info`.
#[allow(missing_docs)]
pub mod btf_info {
    pub const BTF: usize = 0;
    pub const BTF_SIZE: usize = 8;
    pub const ID: usize = 12;
    pub const NAME: usize = 16;
    pub const NAME_LEN: usize = 24;
    pub const KERNEL_BTF: usize = 28;
}

/// `BPF_BTF_LOAD` attr bytes for a blob at `btf` of `size` bytes, with a log buffer.
pub fn load_attr(
    btf: u64,
    size: u32,
    log_buf: u64,
    log_size: u32,
    log_level: u32,
) -> crate::attr::AttrBuf {
    crate::attr::AttrBuf::default()
        .u64(off::BTF, btf)
        .u32(off::BTF_SIZE, size)
        .u64(off::BTF_LOG_BUF, log_buf)
        .u32(off::BTF_LOG_SIZE, log_size)
        .u32(off::BTF_LOG_LEVEL, log_level)
}

/// A loaded BTF object.
#[derive(Clone, Debug)]
pub struct BtfObj {
    /// Creation serial number.
    pub serial: u64,
    /// Its id; 0 once removed.
    pub id: u32,
    /// `btf->refcnt`.
    pub refcnt: u64,
    /// The bytes as loaded (`btf->data`), what `bpf_btf_info.btf` copies out.
    pub data: Vec<u8>,
    /// The parsed types and strings.
    pub btf: Btf,
    /// The process that loaded it.
    pub created_by: Pid,
    /// The bpf() call number that loaded it.
    pub created_at: u64,
}

/// Who holds a reference on a BTF object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BtfHolder {
    /// An open file description (with the fds referring to it).
    File(crate::task::FileIdx),
    /// A map created with it (live or waiting for its deferred free).
    Map(crate::object::MapIdx),
    /// A program loaded with it.
    Prog(crate::object::ProgIdx),
}

/// What `btf_parse_hdr` + `btf_check_sec_info` + `btf_parse_str_sec` + the type section's
/// record walk say about `data`: the parsed BTF or the errno with the kernel's log line.
pub fn btf_parse(data: &[u8]) -> Result<Btf, (Errno, String)> {
    let bad = |e: Errno, s: &str| Err((e, s.to_string()));
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().expect("4"));
    if data.len() < 8 {
        return bad(Errno::EINVAL, "hdr_len not found");
    }
    let hdr_len = u32_at(4) as usize;
    if data.len() < hdr_len {
        return bad(Errno::EINVAL, "btf_header not found");
    }
    if hdr_len > BTF_HDR_SIZE && data[BTF_HDR_SIZE..hdr_len].iter().any(|&b| b != 0) {
        return bad(Errno::E2BIG, "Unsupported btf_header");
    }
    let mut hdr = [0u8; BTF_HDR_SIZE];
    let n = hdr_len.min(BTF_HDR_SIZE);
    hdr[..n].copy_from_slice(&data[..n]);
    let h = |o: usize| u32::from_le_bytes(hdr[o..o + 4].try_into().expect("4"));
    if u16::from_le_bytes([hdr[0], hdr[1]]) != crate::loader::btf::BTF_MAGIC {
        return bad(Errno::EINVAL, "Invalid magic");
    }
    if hdr[2] != 1 {
        return bad(ENOTSUPP, "Unsupported version");
    }
    if hdr[3] != 0 {
        return bad(ENOTSUPP, "Unsupported flags");
    }
    if data.len() == hdr_len {
        return bad(Errno::EINVAL, "No data");
    }
    // btf_check_sec_info: the sections, sorted by offset, tile the data after the header.
    let (type_off, type_len, str_off, str_len) = (h(8), h(12), h(16), h(20));
    let expected = (data.len() - hdr_len) as u64;
    let mut secs = [(type_off, type_len), (str_off, str_len)];
    secs.sort();
    let mut total = 0u64;
    for (off, len) in secs {
        let (off, len) = (u64::from(off), u64::from(len));
        if off < total {
            return bad(Errno::EINVAL, "Section overlap found");
        }
        if total < off {
            return bad(Errno::EINVAL, "Unsupported section found");
        }
        if expected < off {
            return bad(Errno::EINVAL, "Invalid section offset");
        }
        if expected - off < len {
            return bad(Errno::EINVAL, "Total section length too long");
        }
        total += len;
    }
    if expected != total {
        return bad(Errno::EINVAL, "Unsupported section found");
    }
    // btf_parse_str_sec
    let start = hdr_len + str_off as usize;
    let end = start + str_len as usize;
    if end != data.len() {
        return bad(Errno::EINVAL, "String section is not at the end");
    }
    let strs = &data[start..end];
    if strs.is_empty() || strs.len() - 1 > 0x00ff_ffff || strs[strs.len() - 1] != 0 || strs[0] != 0
    {
        return bad(Errno::EINVAL, "Invalid string section");
    }
    // btf_parse_type_sec
    if type_off % 4 != 0 {
        return bad(Errno::EINVAL, "Unaligned type_off");
    }
    if type_len == 0 {
        return bad(Errno::EINVAL, "No type found");
    }
    // The kernel knows kinds 1..=19 only and rejects unused `info` bits.
    let types = &data[hdr_len + type_off as usize..hdr_len + (type_off + type_len) as usize];
    let copy = hdr_len_24(data, hdr_len);
    if let Some(first_bad) = bad_info(types) {
        return bad(Errno::EINVAL, first_bad);
    }
    let btf = Btf::parse(&copy).map_err(|(_, p)| (Errno::EINVAL, format!("{p:?}")))?;
    // `btf_func_proto_check`: the return type must resolve (libbpf's parser does not look
    // at it; measured on 6.18: an id past the last type is EINVAL).
    for id in 1..btf.type_cnt() {
        let t = btf.type_by_id(id).expect("id in range");
        if t.kind == kind::FUNC_PROTO && t.size_or_type >= btf.type_cnt() {
            return Err((Errno::EINVAL, "Invalid return type".to_string()));
        }
    }
    Ok(btf)
}

/// `data` with its header cut to the 24 bytes libbpf's parser reads (the rest is zero).
fn hdr_len_24(data: &[u8], hdr_len: usize) -> Vec<u8> {
    let mut out = data[..BTF_HDR_SIZE.min(hdr_len)].to_vec();
    out.resize(BTF_HDR_SIZE, 0);
    out[4..8].copy_from_slice(&(BTF_HDR_SIZE as u32).to_le_bytes());
    out.extend_from_slice(&data[hdr_len..]);
    out
}

/// `btf_check_meta`'s `info` checks over the type records (kind 0 or past `ENUM64`, unused
/// bits set): the log line of the first bad record.
fn bad_info(types: &[u8]) -> Option<&'static str> {
    let mut off = 0usize;
    while off + 12 <= types.len() {
        let info = u32::from_le_bytes(types[off + 4..off + 8].try_into().expect("4"));
        if info & !(0x8000_ffff | 0x1f00_0000) != 0 {
            return Some("Invalid btf_info");
        }
        let k = ((info >> 24) & 0x1f) as u8;
        let vlen = (info & 0xffff) as usize;
        if k == kind::UNKN || k > kind::ENUM64 {
            return Some("Invalid kind");
        }
        off += 12
            + match k {
                kind::INT | kind::VAR | kind::DECL_TAG => 4,
                kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
                kind::ARRAY => 12,
                kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * vlen,
                _ => 0,
            };
    }
    None
}

impl Kernel {
    /// `BPF_BTF_LOAD` (`bpf_btf_load` -> `btf_new_fd` -> `btf_parse`).
    pub(crate) fn sys_btf_load(
        &mut self,
        pid: Pid,
        a: &Attr,
        user_attr: &mut [u8],
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        a.check_unused(off::END)?;
        if a.u32(off::BTF_FLAGS) & !crate::uapi::flags::BPF_F_TOKEN_FD != 0 {
            return Err(Errno::EINVAL);
        }
        if a.u32(off::BTF_FLAGS) != 0 {
            return self.fail(Errno::EINVAL, "BPF tokens are not modeled");
        }
        if !self.proc(pid)?.cred.caps.bpf_capable() {
            return Err(Errno::EPERM);
        }
        let size = a.u32(off::BTF_SIZE);
        if size > BTF_MAX_SIZE {
            return Err(Errno::E2BIG);
        }
        let (level, log_size, log_buf) = (
            a.u32(off::BTF_LOG_LEVEL),
            a.u32(off::BTF_LOG_SIZE),
            a.u64(off::BTF_LOG_BUF),
        );
        // bpf_vlog_init
        if (log_buf != 0) != (log_size != 0)
            || (log_buf != 0 && level == 0)
            || level & !15 != 0
            || log_size > u32::MAX >> 2
        {
            return Err(Errno::EINVAL);
        }
        let mut data = vec![0u8; size as usize];
        mem.read(a.u64(off::BTF), &mut data)?;
        let r = match btf_parse(&data) {
            Ok(btf) => Ok(btf),
            Err((e, why)) => {
                self.last_error = why;
                Err(e)
            }
        };
        // The log: the kernel writes the header and each type it checks; the model writes
        // its one line (the error, or nothing on success). A log too small for it is ENOSPC.
        let text = match &r {
            Ok(_) => String::new(),
            Err(_) => format!("{}\n", self.last_error),
        };
        let true_size = if text.is_empty() { 0 } else { text.len() + 1 };
        if level != 0 {
            if a.size() >= off::BTF_LOG_TRUE_SIZE + 4 {
                let _ = put_u32(user_attr, off::BTF_LOG_TRUE_SIZE, true_size as u32);
            }
            if log_buf != 0 && true_size > 0 {
                let n = (log_size as usize).min(true_size);
                let mut out = text.into_bytes();
                out.push(0);
                out.truncate(n);
                if let Some(l) = out.last_mut() {
                    *l = 0;
                }
                mem.write(log_buf, &out)?;
                if true_size > log_size as usize {
                    return Err(Errno::ENOSPC);
                }
            }
        }
        let btf = r?;
        let serial = self.next_serial();
        let idx = BtfIdx(self.btfs.insert(BtfObj {
            serial,
            id: 0,
            refcnt: 1,
            data,
            btf,
            created_by: pid,
            created_at: self.syscalls,
        }));
        let Some(id) = self.btf_ids.alloc(idx) else {
            self.btfs.remove(idx.0);
            return Err(Errno::ENOSPC);
        };
        self.btfs[idx.0].id = id;
        match self.install_file(pid, FileObj::Btf(idx), true, true) {
            Ok(fd) => Ok(fd as i64),
            Err(e) => {
                self.btf_put(idx);
                Err(e)
            }
        }
    }

    /// `BPF_BTF_GET_FD_BY_ID` (`bpf_btf_get_fd_by_id`): `open_flags` must be 0.
    pub(crate) fn sys_btf_get_fd_by_id(&mut self, pid: Pid, a: &Attr) -> SysResult<i64> {
        use crate::attr::off::id;
        a.check_unused(off::END_GET_FD_BY_ID)?;
        if a.u32(id::OPEN_FLAGS) != 0 {
            return Err(Errno::EINVAL);
        }
        if a.u32(id::OPEN_FLAGS) & crate::uapi::flags::BPF_F_TOKEN_FD != 0
            || a.u32(id::TOKEN_FD) != 0
        {
            return Err(Errno::EINVAL);
        }
        if !self.proc(pid)?.cred.caps.has(crate::uapi::cap::SYS_ADMIN) {
            return Err(Errno::EPERM);
        }
        let b = self.btf_ids.get(a.u32(id::START_ID)).ok_or(Errno::ENOENT)?;
        self.btf_inc(b);
        match self.install_file(pid, FileObj::Btf(b), true, true) {
            Ok(fd) => Ok(fd as i64),
            Err(e) => {
                self.btf_put(b);
                Err(e)
            }
        }
    }

    /// `btf_get_by_fd`: the BTF object behind `fd` (`EBADF` if not open, `EINVAL` if the
    /// file is not a BTF object). Takes no reference.
    pub(crate) fn fd_btf(&self, pid: Pid, fd: i32) -> SysResult<BtfIdx> {
        let (_, f) = self.fd_file(pid, fd)?;
        match f.obj {
            FileObj::Btf(b) => Ok(b),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `btf_get`: one more reference.
    pub(crate) fn btf_inc(&mut self, b: BtfIdx) {
        self.btfs[b.0].refcnt += 1;
    }

    /// `btf_put`: one less; at zero the id goes and the object is freed.
    pub(crate) fn btf_put(&mut self, b: BtfIdx) {
        let o = &mut self.btfs[b.0];
        o.refcnt -= 1;
        if o.refcnt == 0 {
            let id = o.id;
            self.btf_ids.remove(id);
            self.btfs.remove(b.0);
        }
    }

    /// `btf_get_info_by_fd`: `struct bpf_btf_info` into `info` (already holding what the
    /// caller passed); the BTF bytes and the (empty, for a loaded BTF) name are copied out.
    /// A name buffer without a length or the reverse is `EINVAL`; a name buffer too short is
    /// `ENOSPC` after everything is written.
    pub(crate) fn fill_btf_info(
        &self,
        b: BtfIdx,
        info: &mut [u8],
        mem: &mut dyn UserMem,
    ) -> SysResult<bool> {
        use btf_info::*;
        let o = &self.btfs[b.0];
        let rd32 = |i: &[u8], at: usize| u32::from_le_bytes(i[at..at + 4].try_into().expect("4"));
        let rd64 = |i: &[u8], at: usize| u64::from_le_bytes(i[at..at + 8].try_into().expect("8"));
        info[ID..ID + 4].copy_from_slice(&o.id.to_le_bytes());
        let ubtf = rd64(info, BTF);
        let copy = (o.data.len() as u32).min(rd32(info, BTF_SIZE)) as usize;
        if copy > 0 {
            mem.write(ubtf, &o.data[..copy])?;
        }
        info[BTF_SIZE..BTF_SIZE + 4].copy_from_slice(&(o.data.len() as u32).to_le_bytes());
        info[KERNEL_BTF..KERNEL_BTF + 4].copy_from_slice(&0u32.to_le_bytes());
        let (uname, ulen) = (rd64(info, NAME), rd32(info, NAME_LEN));
        if (uname == 0) != (ulen == 0) {
            return Err(Errno::EINVAL);
        }
        // A loaded BTF has no name: name_len 0, the name buffer gets a NUL.
        info[NAME_LEN..NAME_LEN + 4].copy_from_slice(&0u32.to_le_bytes());
        if uname != 0 {
            mem.write(uname, &[0])?;
        }
        Ok(false)
    }

    /// Introspection: the live BTF object with this index.
    pub fn btf(&self, b: BtfIdx) -> Option<&BtfObj> {
        self.btfs.get(b.0)
    }

    /// Introspection: every BTF id in use, ascending, with its object.
    pub fn btf_id_table(&self) -> impl Iterator<Item = (u32, BtfIdx)> + '_ {
        self.btf_ids.iter()
    }

    /// Who holds references on `b`: descriptions (one reference each), maps, programs.
    pub fn btf_holders(&self, b: BtfIdx) -> Vec<BtfHolder> {
        let mut out = Vec::new();
        for (i, f) in self.files.iter() {
            if f.obj == FileObj::Btf(b) {
                out.push(BtfHolder::File(crate::task::FileIdx(i)));
            }
        }
        for (i, m) in self.maps.iter() {
            if m.btf == Some(b) {
                out.push(BtfHolder::Map(crate::object::MapIdx(i)));
            }
        }
        for (i, p) in self.progs.iter() {
            if p.btf == Some(b) && p.refcnt > 0 {
                out.push(BtfHolder::Prog(crate::object::ProgIdx(i)));
            }
        }
        out
    }
}

/// `MIN_BPF_FUNCINFO_SIZE`.
const MIN_FUNCINFO: u32 = 8;
/// `MIN_BPF_LINEINFO_SIZE`.
const MIN_LINEINFO: u32 = 16;
/// `MAX_FUNCINFO_REC_SIZE` / `MAX_LINEINFO_REC_SIZE`.
const MAX_REC: u32 = 252;

/// The BTF fields of a `BPF_PROG_LOAD` attr after `check_btf_info_early`: the program's BTF
/// and its records (the kernel's own 8- and 16-byte copies).
#[derive(Clone, Debug, Default)]
pub(crate) struct ProgBtf {
    pub btf: Option<BtfIdx>,
    pub func_info: Vec<crate::prog::FuncInfo>,
    pub line_info: Vec<crate::prog::LineInfo>,
}

/// Why a BTF check of `BPF_PROG_LOAD` failed: errno, log line, and the record size the
/// kernel writes back into the attr (`E2BIG` for non-zero record tails).
pub(crate) struct ProgBtfError {
    pub errno: Errno,
    pub msg: String,
    pub write_back: Option<(usize, u32)>,
}

fn perr(errno: Errno, msg: impl Into<String>) -> ProgBtfError {
    ProgBtfError {
        errno,
        msg: msg.into(),
        write_back: None,
    }
}

/// The BTF fields of a `BPF_PROG_LOAD` attr.
pub(crate) struct ProgBtfAttr {
    pub btf_fd: u32,
    pub func_info: u64,
    pub func_rec: u32,
    pub func_cnt: u32,
    pub line_info: u64,
    pub line_rec: u32,
    pub line_cnt: u32,
}

/// Reads `cnt` records of `rec` bytes at `addr`, each checked with `bpf_check_uarg_tail_zero`
/// past `krec` bytes (`E2BIG`, with `krec.min(rec)` written back to `rec_field`).
fn read_records(
    mem: &dyn UserMem,
    addr: u64,
    cnt: u32,
    rec: u32,
    krec: u32,
    rec_field: usize,
    what: &str,
) -> Result<Vec<[u32; 4]>, ProgBtfError> {
    let mut out = Vec::new();
    for i in 0..u64::from(cnt) {
        let at = addr.wrapping_add(i * u64::from(rec));
        let mut b = vec![0u8; rec as usize];
        mem.read(at, &mut b).map_err(|e| perr(e, "fault"))?;
        if b[krec.min(rec) as usize..].iter().any(|&x| x != 0) {
            return Err(ProgBtfError {
                errno: Errno::E2BIG,
                msg: format!("nonzero tailing record in {what}"),
                write_back: Some((rec_field, krec.min(rec))),
            });
        }
        let w = |k: usize| {
            b.get(4 * k..4 * k + 4)
                .map_or(0, |s| u32::from_le_bytes(s.try_into().expect("4")))
        };
        out.push([w(0), w(1), w(2), w(3)]);
    }
    Ok(out)
}

impl Kernel {
    /// `check_btf_info_early` + `check_btf_func_early`: no records, no BTF; otherwise the
    /// BTF fd, the func_info record size, tails, first/increasing `insn_off` and `FUNC`
    /// type ids.
    pub(crate) fn check_btf_info_early(
        &self,
        pid: Pid,
        a: &ProgBtfAttr,
        mem: &dyn UserMem,
    ) -> Result<ProgBtf, ProgBtfError> {
        use crate::attr::off::prog_load as o;
        if a.func_cnt == 0 && a.line_cnt == 0 {
            return Ok(ProgBtf::default());
        }
        let b = self
            .fd_btf(pid, a.btf_fd as i32)
            .map_err(|e| perr(e, "prog_btf_fd is not a BTF object"))?;
        let btf = &self.btfs[b.0].btf;
        let mut out = ProgBtf {
            btf: Some(b),
            ..Default::default()
        };
        if a.func_cnt > 0 {
            if a.func_rec < MIN_FUNCINFO || a.func_rec > MAX_REC || a.func_rec % 4 != 0 {
                return Err(perr(
                    Errno::EINVAL,
                    format!("invalid func info rec size {}", a.func_rec),
                ));
            }
            let recs = read_records(
                mem,
                a.func_info,
                a.func_cnt,
                a.func_rec,
                MIN_FUNCINFO,
                o::FUNC_INFO_REC_SIZE,
                "func info",
            )?;
            let mut prev = 0;
            for (i, r) in recs.iter().enumerate() {
                if i == 0 && r[0] != 0 {
                    return Err(perr(
                        Errno::EINVAL,
                        format!("nonzero insn_off {} for the first func info record", r[0]),
                    ));
                }
                if i > 0 && r[0] <= prev {
                    return Err(perr(
                        Errno::EINVAL,
                        format!(
                            "same or smaller insn offset ({}) than previous func info record ({prev})",
                            r[0]
                        ),
                    ));
                }
                let is_func = btf.type_by_id(r[1]).is_some_and(|t| {
                    t.kind == kind::FUNC
                        && btf
                            .type_by_id(t.size_or_type)
                            .is_some_and(|p| p.kind == kind::FUNC_PROTO)
                });
                if !is_func {
                    return Err(perr(
                        Errno::EINVAL,
                        format!("invalid type id {} in func info", r[1] as i32),
                    ));
                }
                prev = r[0];
                out.func_info.push(crate::prog::FuncInfo {
                    insn_off: r[0],
                    type_id: r[1],
                });
            }
        }
        Ok(out)
    }

    /// `check_btf_func` + `check_btf_line`, after `check_subprogs`: one func_info record per
    /// subprogram at its start; line records strictly increasing, inside the program, not on
    /// the second half of an `ld_imm64`, with valid string offsets, one at each subprogram's
    /// start.
    pub(crate) fn check_btf_info(
        &self,
        pb: &mut ProgBtf,
        a: &ProgBtfAttr,
        insns: &[crate::prog::Insn],
        subprogs: &[usize],
        mem: &dyn UserMem,
    ) -> Result<(), ProgBtfError> {
        use crate::attr::off::prog_load as o;
        if a.func_cnt > 0 {
            if a.func_cnt as usize != subprogs.len() {
                return Err(perr(
                    Errno::EINVAL,
                    "number of funcs in func_info doesn't match number of subprogs",
                ));
            }
            for (f, &s) in pb.func_info.iter().zip(subprogs) {
                if f.insn_off as usize != s {
                    return Err(perr(
                        Errno::EINVAL,
                        "func_info BTF section doesn't match subprog layout in BPF program",
                    ));
                }
            }
        }
        if a.line_cnt == 0 {
            return Ok(());
        }
        let Some(b) = pb.btf else { return Ok(()) };
        let btf = &self.btfs[b.0].btf;
        if a.line_cnt > i32::MAX as u32 / 16 {
            return Err(perr(Errno::EINVAL, "too many line_info records"));
        }
        if a.line_rec < MIN_LINEINFO || a.line_rec > MAX_REC || a.line_rec % 4 != 0 {
            return Err(perr(
                Errno::EINVAL,
                format!("invalid line info rec size {}", a.line_rec),
            ));
        }
        let recs = read_records(
            mem,
            a.line_info,
            a.line_cnt,
            a.line_rec,
            MIN_LINEINFO,
            o::LINE_INFO_REC_SIZE,
            "line_info",
        )?;
        let (mut s, mut prev) = (0usize, 0u32);
        let len = insns.len() as u32;
        for (i, r) in recs.iter().enumerate() {
            if (i > 0 && r[0] <= prev) || r[0] >= len {
                return Err(perr(
                    Errno::EINVAL,
                    format!(
                        "Invalid line_info[{i}].insn_off:{} (prev_offset:{prev} prog->len:{len})",
                        r[0]
                    ),
                ));
            }
            if insns[r[0] as usize].code == 0 {
                return Err(perr(
                    Errno::EINVAL,
                    format!("Invalid insn code at line_info[{i}].insn_off"),
                ));
            }
            if btf.str_at(r[2]).is_none() || btf.str_at(r[1]).is_none() {
                return Err(perr(
                    Errno::EINVAL,
                    format!("Invalid line_info[{i}].line_off or .file_name_off"),
                ));
            }
            if s != subprogs.len() {
                if r[0] as usize == subprogs[s] {
                    s += 1;
                } else if subprogs[s] < r[0] as usize {
                    return Err(perr(
                        Errno::EINVAL,
                        format!("missing bpf_line_info for func#{s}"),
                    ));
                }
            }
            prev = r[0];
            pb.line_info.push(crate::prog::LineInfo {
                insn_off: r[0],
                file_name_off: r[1],
                line_off: r[2],
                line_col: r[3],
            });
        }
        if s != subprogs.len() {
            return Err(perr(
                Errno::EINVAL,
                format!(
                    "missing bpf_line_info for {} funcs starting from func#{s}",
                    subprogs.len() - s
                ),
            ));
        }
        Ok(())
    }
}

/// Line info after the verifier's patches (`bpf_adj_linfo` for each expansion,
/// `bpf_adj_linfo_after_remove` for each removal): each record moves to where its
/// instruction's translation starts; records whose instructions were removed are dropped,
/// except that the first live instruction after a removed range inherits the last removed
/// record when it has none of its own; records past the end (the tail removed) are dropped.
/// `starts[i]` is where submitted instruction `i` starts in the translation, `starts[n]` its
/// length.
pub fn adjust_line_info(
    linfo: &[crate::prog::LineInfo],
    starts: &[usize],
) -> Vec<crate::prog::LineInfo> {
    let end = starts.last().copied().unwrap_or(0);
    let mut out: Vec<crate::prog::LineInfo> = Vec::with_capacity(linfo.len());
    for l in linfo {
        let Some(&at) = starts.get(l.insn_off as usize) else {
            continue;
        };
        if at >= end {
            continue;
        }
        let moved = crate::prog::LineInfo {
            insn_off: at as u32,
            ..*l
        };
        match out.last_mut() {
            Some(last) if last.insn_off == moved.insn_off => *last = moved,
            _ => out.push(moved),
        }
    }
    out
}

/// `__btf_dumper_type_only` of bpftool's `btf_dumper.c`: `id` rendered as a C type prefix
/// (`struct __sk_buff * `, `int `, `void `), a `FUNC` as its whole prototype
/// (`int f(struct xdp_md * ctx)`); `None` for what bpftool cannot render (VAR, DATASEC,
/// tags, a cycle), which prints no signature.
fn type_only(b: &Btf, id: u32, out: &mut String, depth: usize) -> Option<()> {
    use crate::loader::btf::Extra;
    if depth > crate::loader::btf::MAX_RESOLVE_DEPTH {
        return None;
    }
    if id == 0 {
        out.push_str("void ");
        return Some(());
    }
    let t = b.type_by_id(id)?;
    let name = b.name(t.name_off);
    match t.kind {
        kind::INT | kind::TYPEDEF | kind::FLOAT => out.push_str(&format!("{name} ")),
        kind::STRUCT => out.push_str(&format!("struct {name} ")),
        kind::UNION => out.push_str(&format!("union {name} ")),
        kind::ENUM | kind::ENUM64 => out.push_str(&format!("enum {name} ")),
        kind::ARRAY => {
            let Extra::Array { elem, nelems, .. } = t.extra else {
                return None;
            };
            type_only(b, elem, out, depth + 1)?;
            out.push_str(&format!("[{nelems}]"));
        }
        kind::PTR => {
            type_only(b, t.size_or_type, out, depth + 1)?;
            out.push_str("* ");
        }
        kind::FWD => {
            let k = if t.kflag { "union" } else { "struct" };
            out.push_str(&format!("{k} {name} "));
        }
        kind::VOLATILE | kind::CONST | kind::RESTRICT => {
            out.push_str(match t.kind {
                kind::VOLATILE => "volatile ",
                kind::CONST => "const ",
                _ => "restrict ",
            });
            type_only(b, t.size_or_type, out, depth + 1)?;
        }
        kind::FUNC_PROTO => func_sig(b, t, None, out, depth)?,
        kind::FUNC => {
            let proto = b.type_by_id(t.size_or_type)?;
            func_sig(b, proto, Some(&name), out, depth)?;
        }
        _ => return None,
    }
    Some(())
}

/// `btf_dump_func`: return type, name, `(` parameters `)`.
fn func_sig(
    b: &Btf,
    proto: &crate::loader::btf::Type,
    name: Option<&str>,
    out: &mut String,
    depth: usize,
) -> Option<()> {
    if proto.kind != kind::FUNC_PROTO {
        return None;
    }
    type_only(b, proto.size_or_type, out, depth + 1)?;
    out.push_str(name.unwrap_or(""));
    out.push('(');
    for (i, p) in proto.members().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if p.type_id == 0 {
            out.push_str("...");
            continue;
        }
        type_only(b, p.type_id, out, depth + 1)?;
        if p.name_off != 0 {
            out.push_str(&b.name(p.name_off));
        } else if out.ends_with(' ') {
            out.pop();
        }
    }
    out.push(')');
    Some(())
}

/// bpftool's `btf_dumper_type_only` of a `FUNC` type: its signature as printed above the
/// function in `prog dump xlated` (`int xdp_pass(struct xdp_md * ctx)`), empty when bpftool
/// prints none.
pub fn func_signature(b: &Btf, type_id: u32) -> String {
    let mut s = String::new();
    match type_only(b, type_id, &mut s, 0) {
        Some(()) => s,
        None => String::new(),
    }
}

/// The `func_info` and `line_info` records of a program with their strings resolved from
/// its BTF `btf`, as bpftool prints them in `prog dump xlated`: each function's signature
/// ([`func_signature`]), each line's source text, file, line number and column.
pub fn dump_records(
    btf: &Btf,
    func_info: &[crate::prog::FuncInfo],
    line_info: &[crate::prog::LineInfo],
) -> (
    Vec<crate::prog::disasm::FuncInfo>,
    Vec<crate::prog::disasm::LineInfo>,
) {
    use crate::prog::disasm::{FuncInfo, LineInfo};
    let f = func_info
        .iter()
        .map(|f| FuncInfo {
            insn_off: f.insn_off as usize,
            signature: func_signature(btf, f.type_id),
        })
        .collect();
    let l = line_info
        .iter()
        .map(|l| LineInfo {
            insn_off: l.insn_off as usize,
            line: btf.name(l.line_off),
            file: btf.name(l.file_name_off),
            line_num: l.line_col >> 10,
            line_col: l.line_col & 0x3ff,
        })
        .collect();
    (f, l)
}

impl Kernel {
    /// What bpftool reads besides the instructions to dump `p` (`prog dump xlated`), as on
    /// a kernel: the model's kernel symbols, and with BTF the `func_info` signatures, the
    /// `line_info` source lines and the JITed symbols named after the BTF functions
    /// (`bpf_prog_ksym_set_name`: `bpf_prog_<tag>_<BTF func name>`).
    pub fn prog_dump_opts(
        &self,
        p: &crate::prog::Prog,
        dialect: crate::prog::disasm::Dialect,
    ) -> crate::prog::disasm::DisasmOpts {
        let x = &p.translated;
        let mut o = crate::prog::xlated::dump_opts(x, &p.tag, &p.name_str(), dialect);
        let Some(btf) = p.btf.and_then(|b| self.btf(b)).map(|b| &b.btf) else {
            return o;
        };
        let hex = |t: &[u8; 8]| t.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let fname = |type_id: u32| {
            btf.type_by_id(type_id)
                .map_or_else(String::new, |t| btf.name(t.name_off))
        };
        if !p.func_info.is_empty() {
            o.jited_ksyms = if x.func_tags.is_empty() {
                vec![format!(
                    "bpf_prog_{}_{}",
                    hex(&p.tag),
                    fname(p.func_info[0].type_id)
                )]
            } else {
                x.func_tags
                    .iter()
                    .zip(&p.func_info)
                    .map(|(t, f)| format!("bpf_prog_{}_{}", hex(t), fname(f.type_id)))
                    .collect()
            };
        }
        (o.func_info, o.line_info) = dump_records(btf, &p.func_info, &p.line_info);
        o
    }

    /// `bpftool prog dump xlated` of `p` as on a kernel, BTF lines included (see
    /// [`Kernel::prog_dump_opts`]).
    pub fn prog_dump(
        &self,
        p: &crate::prog::Prog,
        dialect: crate::prog::disasm::Dialect,
    ) -> String {
        crate::prog::disasm::disasm(&p.translated.insns, &self.prog_dump_opts(p, dialect))
    }
}

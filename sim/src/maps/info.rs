//! `BPF_OBJ_GET_INFO_BY_FD` (`bpf_obj_get_info_by_fd`, `bpf_map_get_info_by_fd`,
//! `bpf_prog_get_info_by_fd`): `struct bpf_map_info` and `struct bpf_prog_info` as 6.18 lays
//! them out (104 and 232 bytes).

use crate::attr::{Attr, off::info as o, put_u32};
use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::maps::MapData;
use crate::mem::UserMem;
use crate::object::{MapIdx, ProgIdx};
use crate::prog::insn;
use crate::task::{FileObj, Pid};

/// `sizeof(struct bpf_map_info)` on 6.18.
pub const MAP_INFO_SIZE: usize = 104;
/// `sizeof(struct bpf_prog_info)` on 6.18.
pub const PROG_INFO_SIZE: usize = 232;
/// End of the last field of `bpf_map_info` (`hash_size`): a non-zero byte from here on is
/// `E2BIG`, padding included (measured on 6.18).
const MAP_INFO_END: usize = 100;
/// End of the last field of `bpf_prog_info` (`attach_btf_id`).
const PROG_INFO_END: usize = 228;

/// Offsets in `struct bpf_map_info`.
#[allow(missing_docs)]
pub mod map_info {
    pub const TYPE: usize = 0;
    pub const ID: usize = 4;
    pub const KEY_SIZE: usize = 8;
    pub const VALUE_SIZE: usize = 12;
    pub const MAX_ENTRIES: usize = 16;
    pub const MAP_FLAGS: usize = 20;
    pub const NAME: usize = 24;
    pub const BTF_VMLINUX_VALUE_TYPE_ID: usize = 44;
    pub const BTF_ID: usize = 64;
    pub const BTF_KEY_TYPE_ID: usize = 68;
    pub const BTF_VALUE_TYPE_ID: usize = 72;
    pub const MAP_EXTRA: usize = 80;
    pub const HASH: usize = 88;
    pub const HASH_SIZE: usize = 96;
}

/// Offsets in `struct bpf_prog_info`.
#[allow(missing_docs)]
pub mod prog_info {
    pub const TYPE: usize = 0;
    pub const ID: usize = 4;
    pub const TAG: usize = 8;
    pub const JITED_PROG_LEN: usize = 16;
    pub const XLATED_PROG_LEN: usize = 20;
    pub const JITED_PROG_INSNS: usize = 24;
    pub const XLATED_PROG_INSNS: usize = 32;
    pub const LOAD_TIME: usize = 40;
    pub const CREATED_BY_UID: usize = 48;
    pub const NR_MAP_IDS: usize = 52;
    pub const MAP_IDS: usize = 56;
    pub const NAME: usize = 64;
    pub const IFINDEX: usize = 80;
    pub const GPL_COMPATIBLE: usize = 84;
    pub const NR_JITED_KSYMS: usize = 104;
    pub const NR_JITED_FUNC_LENS: usize = 108;
    pub const BTF_ID: usize = 128;
    pub const FUNC_INFO_REC_SIZE: usize = 132;
    pub const FUNC_INFO: usize = 136;
    pub const LINE_INFO: usize = 152;
    pub const NR_FUNC_INFO: usize = 144;
    pub const NR_LINE_INFO: usize = 148;
    pub const NR_JITED_LINE_INFO: usize = 168;
    pub const LINE_INFO_REC_SIZE: usize = 172;
    pub const JITED_LINE_INFO_REC_SIZE: usize = 176;
    pub const NR_PROG_TAGS: usize = 180;
    pub const PROG_TAGS: usize = 184;
    pub const VERIFIED_INSNS: usize = 216;
}

fn rd32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4"))
}
fn rd64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8"))
}
fn wr32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn wr64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

impl Kernel {
    /// `BPF_OBJ_GET_INFO_BY_FD`. An fd that is not open is `EBADFD` (not `EBADF`); a file that
    /// is no bpf object is `EINVAL`.
    pub(crate) fn sys_obj_get_info_by_fd(
        &mut self,
        pid: Pid,
        a: &Attr,
        user_attr: &mut [u8],
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        a.check_unused(o::END)?;
        let (_, f) = self
            .fd_file(pid, a.u32(o::BPF_FD) as i32)
            .map_err(|_| Errno::EBADFD)?;
        let (ulen, uinfo) = (a.u32(o::INFO_LEN) as usize, a.u64(o::INFO));
        let (size, end) = match f.obj {
            FileObj::Map(_) => (MAP_INFO_SIZE, MAP_INFO_END),
            FileObj::Prog(_) => (PROG_INFO_SIZE, PROG_INFO_END),
            FileObj::Btf(_) => (
                crate::kernel::btf::BTF_INFO_SIZE,
                crate::kernel::btf::BTF_INFO_SIZE,
            ),
            _ => return Err(Errno::EINVAL),
        };
        // bpf_check_uarg_tail_zero over the user's info, past the struct's last field.
        if ulen > crate::uapi::limits::PAGE_SIZE {
            return Err(Errno::E2BIG);
        }
        if ulen > end {
            let mut tail = vec![0u8; ulen - end];
            mem.read(uinfo + end as u64, &mut tail)?;
            if tail.iter().any(|&b| b != 0) {
                return Err(Errno::E2BIG);
            }
        }
        let len = ulen.min(size);
        let mut info = vec![0u8; size];
        mem.read(uinfo, &mut info[..len])?;
        let mut short_name = false;
        match f.obj {
            FileObj::Map(m) => self.fill_map_info(m, &mut info, mem)?,
            FileObj::Prog(p) => self.fill_prog_info(pid, p, &mut info, mem)?,
            FileObj::Btf(b) => short_name = self.fill_btf_info(b, &mut info, mem)?,
            _ => unreachable!(),
        }
        mem.write(uinfo, &info[..len])?;
        put_u32(user_attr, o::INFO_LEN, len as u32)?;
        if short_name {
            return Err(Errno::ENOSPC);
        }
        Ok(0)
    }

    fn fill_map_info(&self, m: MapIdx, info: &mut [u8], mem: &mut dyn UserMem) -> SysResult<()> {
        use map_info::*;
        let map = &self.maps[m.0];
        let (uhash, hash_size) = (rd64(info, HASH), rd32(info, HASH_SIZE));
        info.fill(0);
        wr32(info, TYPE, map.map_type);
        wr32(info, ID, map.id);
        wr32(info, KEY_SIZE, map.key_size);
        wr32(info, VALUE_SIZE, map.value_size);
        wr32(info, MAX_ENTRIES, map.max_entries);
        wr32(info, MAP_FLAGS, map.map_flags);
        info[NAME..NAME + 16].copy_from_slice(&map.name);
        wr64(info, MAP_EXTRA, map.map_extra);
        if let Some(b) = map.btf {
            wr32(info, BTF_ID, self.btfs[b.0].id);
        }
        wr32(info, BTF_KEY_TYPE_ID, map.btf_key_type_id);
        wr32(info, BTF_VALUE_TYPE_ID, map.btf_value_type_id);
        wr32(
            info,
            BTF_VMLINUX_VALUE_TYPE_ID,
            map.btf_vmlinux_value_type_id,
        );
        if uhash != 0 {
            // ops->map_get_hash: arrays only; the map must be frozen.
            let MapData::Array { values } = &map.data else {
                return Err(Errno::EINVAL);
            };
            if hash_size != 32 {
                return Err(Errno::EINVAL);
            }
            if !map.frozen {
                return Err(Errno::EPERM);
            }
            let digest = array_hash(values, map.value_size as usize);
            mem.write(uhash, &digest)?;
            wr64(info, HASH, uhash);
            wr32(info, HASH_SIZE, 32);
        } else if hash_size != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn fill_prog_info(
        &self,
        pid: Pid,
        p: ProgIdx,
        info: &mut [u8],
        mem: &mut dyn UserMem,
    ) -> SysResult<()> {
        use prog_info::*;
        let prog = &self.progs[p.0];
        wr32(info, TYPE, prog.prog_type);
        if let Some(b) = prog.btf {
            wr32(info, BTF_ID, self.btfs[b.0].id);
        }
        wr32(info, ID, prog.id);
        info[TAG..TAG + 8].copy_from_slice(&prog.tag);
        wr64(info, LOAD_TIME, prog.load_time);
        wr32(info, CREATED_BY_UID, prog.uid);
        info[NAME..NAME + 16].copy_from_slice(&prog.name);
        wr32(info, GPL_COMPATIBLE, prog.gpl_compatible as u32);
        let ulen = rd32(info, NR_MAP_IDS) as usize;
        wr32(info, NR_MAP_IDS, prog.used_maps.len() as u32);
        let uids = rd64(info, MAP_IDS);
        for (i, m) in prog.used_maps.iter().take(ulen).enumerate() {
            mem.write(uids + 4 * i as u64, &self.maps[m.0].id.to_le_bytes())?;
        }
        // set_info_rec_size
        let rec = |nr: usize, sz: usize, want: u32, info: &[u8]| {
            (rd32(info, nr) != 0 || rd32(info, sz) != 0) && rd32(info, sz) != want
        };
        if rec(NR_FUNC_INFO, FUNC_INFO_REC_SIZE, 8, info)
            || rec(NR_LINE_INFO, LINE_INFO_REC_SIZE, 16, info)
            || rec(NR_JITED_LINE_INFO, JITED_LINE_INFO_REC_SIZE, 8, info)
        {
            return Err(Errno::EINVAL);
        }
        wr32(info, FUNC_INFO_REC_SIZE, 8);
        wr32(info, LINE_INFO_REC_SIZE, 16);
        wr32(info, JITED_LINE_INFO_REC_SIZE, 8);
        if !self.proc(pid)?.cred.caps.bpf_capable() {
            for f in [
                JITED_PROG_LEN,
                XLATED_PROG_LEN,
                NR_JITED_KSYMS,
                NR_JITED_FUNC_LENS,
                NR_FUNC_INFO,
                NR_LINE_INFO,
                NR_JITED_LINE_INFO,
            ] {
                wr32(info, f, 0);
            }
            return Ok(());
        }
        let ulen = rd32(info, XLATED_PROG_LEN) as usize;
        let xlated = insn::encode(&prog.translated.insns);
        wr32(info, XLATED_PROG_LEN, xlated.len() as u32);
        if ulen > 0 {
            mem.write(
                rd64(info, XLATED_PROG_INSNS),
                &xlated[..ulen.min(xlated.len())],
            )?;
        }
        // The model does not JIT: no image, no ksyms, no func lens (a 6.18 kernel with
        // CONFIG_BPF_JIT_ALWAYS_ON reports them).
        wr32(info, JITED_PROG_LEN, 0);
        wr32(info, NR_JITED_KSYMS, 0);
        wr32(info, NR_JITED_FUNC_LENS, 0);
        // func_info / line_info: the kernel's 8- and 16-byte records, as many as both sides
        // have room for (no JIT: no jited_line_info).
        let ulen = rd32(info, NR_FUNC_INFO) as usize;
        wr32(info, NR_FUNC_INFO, prog.func_info.len() as u32);
        if ulen > 0 && !prog.func_info.is_empty() {
            let mut b = Vec::new();
            for f in prog.func_info.iter().take(ulen) {
                b.extend_from_slice(&f.insn_off.to_le_bytes());
                b.extend_from_slice(&f.type_id.to_le_bytes());
            }
            mem.write(rd64(info, FUNC_INFO), &b)?;
        }
        let ulen = rd32(info, NR_LINE_INFO) as usize;
        wr32(info, NR_LINE_INFO, prog.line_info.len() as u32);
        if ulen > 0 && !prog.line_info.is_empty() {
            let mut b = Vec::new();
            for l in prog.line_info.iter().take(ulen) {
                for w in [l.insn_off, l.file_name_off, l.line_off, l.line_col] {
                    b.extend_from_slice(&w.to_le_bytes());
                }
            }
            mem.write(rd64(info, LINE_INFO), &b)?;
        }
        wr32(info, NR_JITED_LINE_INFO, 0);
        // One tag per function (`aux->func[i]->tag`), or the program's own without subprograms.
        let tags: Vec<[u8; 8]> = if prog.translated.func_tags.is_empty() {
            vec![prog.tag]
        } else {
            prog.translated.func_tags.clone()
        };
        let ulen = rd32(info, NR_PROG_TAGS) as usize;
        wr32(info, NR_PROG_TAGS, tags.len() as u32);
        for (i, t) in tags.iter().take(ulen).enumerate() {
            mem.write(rd64(info, PROG_TAGS) + 8 * i as u64, t)?;
        }
        Ok(())
    }
}

/// `array_map_get_hash`: SHA-256 over the array's element memory (each value padded to 8).
fn array_hash(values: &[u8], value_size: usize) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let pad = value_size.div_ceil(8) * 8 - value_size;
    for v in values.chunks(value_size.max(1)) {
        h.update(v);
        h.update(&[0u8; 8][..pad]);
    }
    h.finalize().into()
}

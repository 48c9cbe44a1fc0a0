//! Typed wrappers: each builds the attr bytes of one command, maps the caller's buffers into a
//! [`UserBufs`] address space and calls [`Kernel::bpf`], so every typed call gets the same attr
//! checks as a raw one.

use crate::attr::{AttrBuf, cmd_end, off};
use crate::errno::SysResult;
use crate::kernel::Kernel;
use crate::maps::create::MapCreateAttr;
use crate::mem::UserBufs;
use crate::prog::{ProgLoadAttr, insn};
use crate::task::Pid;
use crate::uapi::{cmd, limits::ATTR_SIZE};

/// What [`Kernel::obj_get_info_by_fd`] returns: the info struct's bytes (as long as the kernel
/// copied) plus the arrays it pointed at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjInfo {
    /// The `bpf_map_info` / `bpf_prog_info` bytes.
    pub info: Vec<u8>,
    /// Program: the map ids (`map_ids`).
    pub map_ids: Vec<u32>,
    /// Program: the translated instructions (`xlated_prog_insns`).
    pub xlated: Vec<u8>,
}

impl ObjInfo {
    /// The `u32` at `off` of the info struct.
    pub fn u32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.info[off..off + 4].try_into().expect("in range"))
    }
    /// The `u64` at `off`.
    pub fn u64(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.info[off..off + 8].try_into().expect("in range"))
    }
    /// The NUL-terminated name at `off`.
    pub fn name(&self, off: usize) -> String {
        crate::maps::name_to_string(self.info[off..off + 16].try_into().expect("16"))
    }
}

impl Kernel {
    #[inline(always)]
    fn call(
        &mut self,
        pid: Pid,
        c: u32,
        mut attr: AttrBuf,
        mem: &mut UserBufs<'_>,
    ) -> SysResult<i64> {
        // Like libbpf, pass only up to the end of the command's last field.
        let len = cmd_end(c);
        self.bpf(pid, c, &mut attr.0[..len], len as u32, mem)
    }

    fn call_out(
        &mut self,
        pid: Pid,
        c: u32,
        attr: AttrBuf,
        mem: &mut UserBufs<'_>,
    ) -> SysResult<(i64, [u8; ATTR_SIZE])> {
        let (mut a, len) = (attr.0, cmd_end(c));
        let r = self.bpf(pid, c, &mut a[..len], len as u32, mem)?;
        Ok((r, a))
    }

    /// `BPF_MAP_CREATE`: a new map and an fd for it.
    pub fn map_create(&mut self, pid: Pid, a: &MapCreateAttr) -> SysResult<i32> {
        self.call(pid, cmd::MAP_CREATE, a.encode(), &mut UserBufs::new())
            .map(|fd| fd as i32)
    }

    /// `BPF_MAP_LOOKUP_ELEM`: copy the value of `key` into `value`.
    pub fn map_lookup_elem(
        &mut self,
        pid: Pid,
        fd: i32,
        key: &[u8],
        value: &mut [u8],
        flags: u64,
    ) -> SysResult<()> {
        let mut m = UserBufs::new();
        let (k, v) = (m.input(key), m.output(value));
        let mut a = elem_attr(fd, k, v, flags);
        self.bpf(
            pid,
            cmd::MAP_LOOKUP_ELEM,
            &mut a,
            off::elem::END_FLAGS as u32,
            &mut m,
        )
        .map(drop)
    }

    /// `BPF_MAP_UPDATE_ELEM` with `flags` (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`).
    pub fn map_update_elem(
        &mut self,
        pid: Pid,
        fd: i32,
        key: &[u8],
        value: &[u8],
        flags: u64,
    ) -> SysResult<()> {
        let mut m = UserBufs::new();
        let (k, v) = (m.input(key), m.input(value));
        let mut a = elem_attr(fd, k, v, flags);
        self.bpf(
            pid,
            cmd::MAP_UPDATE_ELEM,
            &mut a,
            off::elem::END_FLAGS as u32,
            &mut m,
        )
        .map(drop)
    }

    /// `BPF_MAP_DELETE_ELEM`.
    pub fn map_delete_elem(&mut self, pid: Pid, fd: i32, key: &[u8]) -> SysResult<()> {
        let mut m = UserBufs::new();
        let k = m.input(key);
        let a = AttrBuf::default()
            .u32(off::elem::MAP_FD, fd as u32)
            .u64(off::elem::KEY, k);
        self.call(pid, cmd::MAP_DELETE_ELEM, a, &mut m).map(drop)
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (`None`: the first key) into `next`.
    pub fn map_get_next_key(
        &mut self,
        pid: Pid,
        fd: i32,
        key: Option<&[u8]>,
        next: &mut [u8],
    ) -> SysResult<()> {
        let mut m = UserBufs::new();
        let k = key.map(|k| m.input(k)).unwrap_or(0);
        let n = m.output(next);
        let a = AttrBuf::default()
            .u32(off::elem::MAP_FD, fd as u32)
            .u64(off::elem::KEY, k)
            .u64(off::elem::NEXT_KEY, n);
        self.call(pid, cmd::MAP_GET_NEXT_KEY, a, &mut m).map(drop)
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`.
    pub fn map_lookup_and_delete_elem(
        &mut self,
        pid: Pid,
        fd: i32,
        key: &[u8],
        value: &mut [u8],
    ) -> SysResult<()> {
        let mut m = UserBufs::new();
        let (k, v) = (m.input(key), m.output(value));
        let mut a = elem_attr(fd, k, v, 0);
        self.bpf(
            pid,
            cmd::MAP_LOOKUP_AND_DELETE_ELEM,
            &mut a,
            off::elem::END_FLAGS as u32,
            &mut m,
        )
        .map(drop)
    }

    /// `BPF_MAP_FREEZE`.
    pub fn map_freeze(&mut self, pid: Pid, fd: i32) -> SysResult<()> {
        let a = AttrBuf::default().u32(off::elem::MAP_FD, fd as u32);
        self.call(pid, cmd::MAP_FREEZE, a, &mut UserBufs::new())
            .map(drop)
    }

    /// `BPF_PROG_LOAD`: a new program and an fd for it.
    pub fn prog_load(&mut self, pid: Pid, a: &ProgLoadAttr) -> SysResult<i32> {
        let bytes = insn::encode(&a.insns);
        let mut license = a.license.clone().into_bytes();
        license.push(0);
        let mut m = UserBufs::new();
        let (i, l) = (m.input(&bytes), m.input(&license));
        let (fi, li) = btf_bufs(&mut m, a);
        let attr = a.encode_btf(a.encode(i, l, 0, 0), fi, li);
        self.call(pid, cmd::PROG_LOAD, attr, &mut m)
            .map(|fd| fd as i32)
    }

    /// `BPF_PROG_LOAD` with a log buffer of `log_size` bytes: the fd (or errno) and the log.
    pub fn prog_load_with_log(
        &mut self,
        pid: Pid,
        a: &ProgLoadAttr,
        log_size: usize,
    ) -> (SysResult<i32>, String) {
        let bytes = insn::encode(&a.insns);
        let mut license = a.license.clone().into_bytes();
        license.push(0);
        let mut log = vec![0u8; log_size];
        let r = {
            let mut m = UserBufs::new();
            let (i, l) = (m.input(&bytes), m.input(&license));
            let lb = if log_size > 0 { m.output(&mut log) } else { 0 };
            let (fi, li) = btf_bufs(&mut m, a);
            let attr = a.encode_btf(a.encode(i, l, lb, log_size as u32), fi, li);
            self.call(pid, cmd::PROG_LOAD, attr, &mut m)
                .map(|fd| fd as i32)
        };
        let text = log
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| b as char)
            .collect();
        (r, text)
    }

    /// `BPF_BTF_LOAD`: a new BTF object from `data` and an fd for it.
    pub fn btf_load(&mut self, pid: Pid, data: &[u8]) -> SysResult<i32> {
        self.btf_load_with_log(pid, data, 0, 0).0
    }

    /// `BPF_BTF_LOAD` with a log of `log_size` bytes at `log_level`: the fd and the log.
    pub fn btf_load_with_log(
        &mut self,
        pid: Pid,
        data: &[u8],
        log_level: u32,
        log_size: usize,
    ) -> (SysResult<i32>, String) {
        let mut log = vec![0u8; log_size];
        let r = {
            let mut m = UserBufs::new();
            let d = m.input(data);
            let lb = if log_size > 0 { m.output(&mut log) } else { 0 };
            let a =
                crate::kernel::btf::load_attr(d, data.len() as u32, lb, log_size as u32, log_level);
            self.call(pid, cmd::BTF_LOAD, a, &mut m).map(|fd| fd as i32)
        };
        let text = log
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| b as char)
            .collect();
        (r, text)
    }

    /// `BPF_BTF_GET_FD_BY_ID`.
    pub fn btf_get_fd_by_id(&mut self, pid: Pid, id: u32) -> SysResult<i32> {
        let a = AttrBuf::default().u32(off::id::START_ID, id);
        self.call(pid, cmd::BTF_GET_FD_BY_ID, a, &mut UserBufs::new())
            .map(|fd| fd as i32)
    }

    /// `BPF_BTF_GET_NEXT_ID`.
    pub fn btf_get_next_id(&mut self, pid: Pid, start: u32) -> SysResult<u32> {
        let a = AttrBuf::default().u32(off::id::START_ID, start);
        let (_, out) = self.call_out(pid, cmd::BTF_GET_NEXT_ID, a, &mut UserBufs::new())?;
        Ok(u32::from_le_bytes(out[4..8].try_into().expect("4")))
    }

    /// `BPF_OBJ_GET_INFO_BY_FD` of a BTF fd: the `bpf_btf_info` bytes and the BTF blob.
    pub fn btf_info(&mut self, pid: Pid, fd: i32) -> SysResult<(Vec<u8>, Vec<u8>)> {
        use crate::kernel::btf::{BTF_INFO_SIZE, btf_info as bi};
        let mut probe = vec![0u8; BTF_INFO_SIZE];
        {
            let mut m = UserBufs::new();
            let i = m.output(&mut probe);
            let a = AttrBuf::default()
                .u32(off::info::BPF_FD, fd as u32)
                .u32(off::info::INFO_LEN, BTF_INFO_SIZE as u32)
                .u64(off::info::INFO, i);
            self.call(pid, cmd::OBJ_GET_INFO_BY_FD, a, &mut m)?;
        }
        let size = u32::from_le_bytes(probe[bi::BTF_SIZE..bi::BTF_SIZE + 4].try_into().expect("4"));
        let mut blob = vec![0u8; size as usize];
        let mut info = vec![0u8; BTF_INFO_SIZE];
        info[bi::BTF..bi::BTF + 8].copy_from_slice(&UserBufs::addr(1).to_le_bytes());
        info[bi::BTF_SIZE..bi::BTF_SIZE + 4].copy_from_slice(&size.to_le_bytes());
        {
            let mut m = UserBufs::new();
            let i = m.output(&mut info);
            m.output(&mut blob);
            let a = AttrBuf::default()
                .u32(off::info::BPF_FD, fd as u32)
                .u32(off::info::INFO_LEN, BTF_INFO_SIZE as u32)
                .u64(off::info::INFO, i);
            self.call(pid, cmd::OBJ_GET_INFO_BY_FD, a, &mut m)?;
        }
        Ok((info, blob))
    }

    /// `BPF_OBJ_PIN`: pin the object behind `fd` at `path`.
    pub fn obj_pin(&mut self, pid: Pid, fd: i32, path: &str) -> SysResult<()> {
        let p = cstr(path);
        let mut m = UserBufs::new();
        let pa = m.input(&p);
        let a = AttrBuf::default()
            .u64(off::obj::PATHNAME, pa)
            .u32(off::obj::BPF_FD, fd as u32);
        self.call(pid, cmd::OBJ_PIN, a, &mut m).map(drop)
    }

    /// `BPF_OBJ_GET`: a new fd for the object pinned at `path`, opened with `file_flags`
    /// (`BPF_F_RDONLY`, `BPF_F_WRONLY` or 0).
    pub fn obj_get(&mut self, pid: Pid, path: &str, file_flags: u32) -> SysResult<i32> {
        let p = cstr(path);
        let mut m = UserBufs::new();
        let pa = m.input(&p);
        let a = AttrBuf::default()
            .u64(off::obj::PATHNAME, pa)
            .u32(off::obj::FILE_FLAGS, file_flags);
        self.call(pid, cmd::OBJ_GET, a, &mut m).map(|fd| fd as i32)
    }

    /// `BPF_MAP_GET_NEXT_ID`: the smallest map id above `start`.
    pub fn map_get_next_id(&mut self, pid: Pid, start: u32) -> SysResult<u32> {
        let a = AttrBuf::default().u32(off::id::START_ID, start);
        let (_, out) = self.call_out(pid, cmd::MAP_GET_NEXT_ID, a, &mut UserBufs::new())?;
        Ok(u32::from_le_bytes(out[4..8].try_into().expect("4")))
    }

    /// `BPF_PROG_GET_NEXT_ID`: the smallest program id above `start`.
    pub fn prog_get_next_id(&mut self, pid: Pid, start: u32) -> SysResult<u32> {
        let a = AttrBuf::default().u32(off::id::START_ID, start);
        let (_, out) = self.call_out(pid, cmd::PROG_GET_NEXT_ID, a, &mut UserBufs::new())?;
        Ok(u32::from_le_bytes(out[4..8].try_into().expect("4")))
    }

    /// `BPF_MAP_GET_FD_BY_ID` with `open_flags`.
    pub fn map_get_fd_by_id(&mut self, pid: Pid, id: u32, open_flags: u32) -> SysResult<i32> {
        let a = AttrBuf::default()
            .u32(off::id::START_ID, id)
            .u32(off::id::OPEN_FLAGS, open_flags);
        self.call(pid, cmd::MAP_GET_FD_BY_ID, a, &mut UserBufs::new())
            .map(|fd| fd as i32)
    }

    /// `BPF_PROG_GET_FD_BY_ID`.
    pub fn prog_get_fd_by_id(&mut self, pid: Pid, id: u32) -> SysResult<i32> {
        let a = AttrBuf::default().u32(off::id::START_ID, id);
        self.call(pid, cmd::PROG_GET_FD_BY_ID, a, &mut UserBufs::new())
            .map(|fd| fd as i32)
    }

    /// `BPF_PROG_BIND_MAP`.
    pub fn prog_bind_map(&mut self, pid: Pid, prog_fd: i32, map_fd: i32) -> SysResult<()> {
        let a = AttrBuf::default()
            .u32(off::bind_map::PROG_FD, prog_fd as u32)
            .u32(off::bind_map::MAP_FD, map_fd as u32);
        self.call(pid, cmd::PROG_BIND_MAP, a, &mut UserBufs::new())
            .map(drop)
    }

    /// `BPF_OBJ_GET_INFO_BY_FD` with a full-size info struct; for programs it also fetches
    /// up to 64 map ids and the whole translated program.
    pub fn obj_get_info_by_fd(&mut self, pid: Pid, fd: i32) -> SysResult<ObjInfo> {
        use crate::maps::info::{PROG_INFO_SIZE, prog_info as pi};
        let mut info = vec![0u8; PROG_INFO_SIZE];
        let mut map_ids = vec![0u8; 64 * 4];
        let mut xlated = vec![0u8; 8 * crate::uapi::limits::MAX_INSNS_PRIV as usize / 64];
        let (ids_addr, x_addr) = (UserBufs::addr(1), UserBufs::addr(2));
        // First ask with no arrays to learn the sizes, then fetch them.
        let mut probe = vec![0u8; PROG_INFO_SIZE];
        let len = {
            let mut m = UserBufs::new();
            let i = m.output(&mut probe);
            let a = AttrBuf::default()
                .u32(off::info::BPF_FD, fd as u32)
                .u32(off::info::INFO_LEN, PROG_INFO_SIZE as u32)
                .u64(off::info::INFO, i);
            let (_, out) = self.call_out(pid, cmd::OBJ_GET_INFO_BY_FD, a, &mut m)?;
            u32::from_le_bytes(out[4..8].try_into().expect("4")) as usize
        };
        let is_prog = len == PROG_INFO_SIZE;
        if !is_prog {
            probe.truncate(len);
            return Ok(ObjInfo {
                info: probe,
                ..Default::default()
            });
        }
        let nr_maps = u32::from_le_bytes(
            probe[pi::NR_MAP_IDS..pi::NR_MAP_IDS + 4]
                .try_into()
                .expect("4"),
        );
        let xlen = u32::from_le_bytes(
            probe[pi::XLATED_PROG_LEN..pi::XLATED_PROG_LEN + 4]
                .try_into()
                .expect("4"),
        );
        if xlated.len() < xlen as usize {
            xlated.resize(xlen as usize, 0);
        }
        info[pi::NR_MAP_IDS..pi::NR_MAP_IDS + 4].copy_from_slice(&nr_maps.min(64).to_le_bytes());
        info[pi::MAP_IDS..pi::MAP_IDS + 8].copy_from_slice(&ids_addr.to_le_bytes());
        info[pi::XLATED_PROG_LEN..pi::XLATED_PROG_LEN + 4].copy_from_slice(&xlen.to_le_bytes());
        info[pi::XLATED_PROG_INSNS..pi::XLATED_PROG_INSNS + 8]
            .copy_from_slice(&x_addr.to_le_bytes());
        {
            let mut m = UserBufs::new();
            let i = m.output(&mut info);
            m.output(&mut map_ids);
            m.output(&mut xlated);
            let a = AttrBuf::default()
                .u32(off::info::BPF_FD, fd as u32)
                .u32(off::info::INFO_LEN, PROG_INFO_SIZE as u32)
                .u64(off::info::INFO, i);
            self.call(pid, cmd::OBJ_GET_INFO_BY_FD, a, &mut m)?;
        }
        let n = (nr_maps as usize).min(64);
        let map_ids = map_ids[..4 * n]
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect();
        xlated.truncate(xlen as usize);
        Ok(ObjInfo {
            info,
            map_ids,
            xlated,
        })
    }
}

#[inline(always)]
fn elem_attr(fd: i32, key: u64, value: u64, flags: u64) -> [u8; off::elem::END_FLAGS] {
    // Built in place, field by field: these are the hot calls.
    let mut a = [0u8; off::elem::END_FLAGS];
    a[off::elem::MAP_FD..off::elem::MAP_FD + 4].copy_from_slice(&(fd as u32).to_le_bytes());
    a[off::elem::KEY..off::elem::KEY + 8].copy_from_slice(&key.to_le_bytes());
    a[off::elem::VALUE..off::elem::VALUE + 8].copy_from_slice(&value.to_le_bytes());
    a[off::elem::FLAGS..off::elem::FLAGS + 8].copy_from_slice(&flags.to_le_bytes());
    a
}

/// Map the func_info and line_info records of `a` (NULL when empty).
fn btf_bufs<'a>(m: &mut UserBufs<'a>, a: &'a ProgLoadAttr) -> (u64, u64) {
    let fi = if a.func_info.is_empty() {
        0
    } else {
        m.input(&a.func_info)
    };
    let li = if a.line_info.is_empty() {
        0
    } else {
        m.input(&a.line_info)
    };
    (fi, li)
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

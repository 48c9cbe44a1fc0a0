//! `BPF_PROG_LOAD` and `BPF_PROG_BIND_MAP`.

use super::check::{self, CheckError};
use super::insn::{self, Insn};
use super::{Prog, tag};
use crate::attr::{Attr, AttrBuf, off::bind_map as b, off::prog_load as o};
use crate::errno::{Errno, SysResult};
use crate::kernel::Kernel;
use crate::kernel::btf::{ProgBtf, ProgBtfAttr};
use crate::maps::{MapData, create::obj_name_cpy};
use crate::mem::UserMem;
use crate::object::{EventKind, Holder, MapIdx, ObjRef, ProgIdx};
use crate::task::{FileObj, Pid};
use crate::uapi::{flags::*, limits, map_type, prog_type as pt, pseudo};

/// `prog_flags` bits `bpf_prog_load` accepts.
const PROG_FLAGS_OK: u32 = BPF_F_STRICT_ALIGNMENT
    | BPF_F_ANY_ALIGNMENT
    | BPF_F_TEST_STATE_FREQ
    | BPF_F_SLEEPABLE
    | BPF_F_TEST_RND_HI32
    | BPF_F_XDP_HAS_FRAGS
    | BPF_F_XDP_DEV_BOUND_ONLY
    | BPF_F_TEST_REG_INVARIANTS
    | BPF_F_TOKEN_FD;
/// What the model writes to the verifier log of a program that loads.
const SUCCESS_LOG: &str = "processed by bpfsim (the verifier's semantic pass is not modeled)";
/// `BPF_LOG_MASK`.
const LOG_MASK: u32 = 15;
/// `BPF_MAX_VAR_OFF`: the largest direct map-value offset.
const MAX_VAR_OFF: u32 = 1 << 29;

/// The parameters of a `BPF_PROG_LOAD` call (the parts the typed wrapper sets).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgLoadAttr {
    /// `prog_type`.
    pub prog_type: u32,
    /// The instructions.
    pub insns: Vec<Insn>,
    /// `license`.
    pub license: String,
    /// `prog_name`, 16 bytes as submitted.
    pub prog_name: [u8; 16],
    /// `prog_flags`.
    pub prog_flags: u32,
    /// `expected_attach_type`.
    pub expected_attach_type: u32,
    /// `log_level`; the log buffer is the wrapper's `log` argument.
    pub log_level: u32,
    /// `prog_btf_fd`.
    pub prog_btf_fd: u32,
    /// The `func_info` records as submitted (`func_info_cnt` records of
    /// `func_info_rec_size` bytes; the wrappers pass `func_info_cnt` as given).
    pub func_info: Vec<u8>,
    /// `func_info_rec_size`.
    pub func_info_rec_size: u32,
    /// `func_info_cnt`.
    pub func_info_cnt: u32,
    /// The `line_info` records as submitted.
    pub line_info: Vec<u8>,
    /// `line_info_rec_size`.
    pub line_info_rec_size: u32,
    /// `line_info_cnt`.
    pub line_info_cnt: u32,
}

impl ProgLoadAttr {
    /// A program of `prog_type` with `insns`, GPL, unnamed.
    pub fn new(prog_type: u32, insns: &[Insn]) -> Self {
        ProgLoadAttr {
            prog_type,
            insns: insns.to_vec(),
            license: "GPL".into(),
            ..Default::default()
        }
    }

    /// The same with `name` (at most 16 bytes copied, no terminator added).
    pub fn name(mut self, name: &str) -> Self {
        self.prog_name = [0; 16];
        let n = name.len().min(16);
        self.prog_name[..n].copy_from_slice(&name.as_bytes()[..n]);
        self
    }

    /// The same with `license`.
    pub fn license(mut self, license: &str) -> Self {
        self.license = license.into();
        self
    }

    /// The same with `expected_attach_type`.
    pub fn attach_type(mut self, t: u32) -> Self {
        self.expected_attach_type = t;
        self
    }

    /// The same with `prog_flags`.
    pub fn flags(mut self, f: u32) -> Self {
        self.prog_flags = f;
        self
    }

    /// Attr bytes with the given user addresses of the instructions, license and log buffer.
    pub fn encode(&self, insns: u64, license: u64, log_buf: u64, log_size: u32) -> AttrBuf {
        AttrBuf::default()
            .u32(o::PROG_TYPE, self.prog_type)
            .u32(o::INSN_CNT, self.insns.len() as u32)
            .u64(o::INSNS, insns)
            .u64(o::LICENSE, license)
            .u32(o::LOG_LEVEL, self.log_level)
            .u32(o::LOG_SIZE, log_size)
            .u64(o::LOG_BUF, log_buf)
            .u32(o::PROG_FLAGS, self.prog_flags)
            .bytes(o::PROG_NAME, &self.prog_name)
            .u32(o::EXPECTED_ATTACH_TYPE, self.expected_attach_type)
    }

    /// The BTF fields on top of [`ProgLoadAttr::encode`]'s attr, with the user addresses of
    /// the func_info and line_info records (0: NULL).
    pub fn encode_btf(&self, a: AttrBuf, func_info: u64, line_info: u64) -> AttrBuf {
        a.u32(o::PROG_BTF_FD, self.prog_btf_fd)
            .u32(o::FUNC_INFO_REC_SIZE, self.func_info_rec_size)
            .u64(o::FUNC_INFO, func_info)
            .u32(o::FUNC_INFO_CNT, self.func_info_cnt)
            .u32(o::LINE_INFO_REC_SIZE, self.line_info_rec_size)
            .u64(o::LINE_INFO, line_info)
            .u32(o::LINE_INFO_CNT, self.line_info_cnt)
    }
}

/// `license_is_gpl_compatible()` (`include/linux/license.h`).
fn license_is_gpl_compatible(l: &[u8]) -> bool {
    matches!(
        l,
        b"GPL"
            | b"GPL v2"
            | b"GPL and additional rights"
            | b"Dual BSD/GPL"
            | b"Dual MIT/GPL"
            | b"Dual MPL/GPL"
    )
}

/// `is_net_admin_prog_type()`.
fn is_net_admin_prog_type(t: u32) -> bool {
    matches!(
        t,
        pt::SCHED_CLS
            | pt::SCHED_ACT
            | pt::XDP
            | pt::LWT_IN
            | pt::LWT_OUT
            | pt::LWT_XMIT
            | pt::LWT_SEG6LOCAL
            | pt::SK_SKB
            | pt::SK_MSG
            | pt::FLOW_DISSECTOR
            | pt::CGROUP_DEVICE
            | pt::CGROUP_SOCK
            | pt::CGROUP_SOCK_ADDR
            | pt::CGROUP_SOCKOPT
            | pt::CGROUP_SYSCTL
            | pt::SOCK_OPS
            | pt::EXT
            | pt::NETFILTER
    )
}

/// `is_perfmon_prog_type()`.
fn is_perfmon_prog_type(t: u32) -> bool {
    matches!(
        t,
        pt::KPROBE
            | pt::TRACEPOINT
            | pt::PERF_EVENT
            | pt::RAW_TRACEPOINT
            | pt::RAW_TRACEPOINT_WRITABLE
            | pt::TRACING
            | pt::LSM
            | pt::STRUCT_OPS
            | pt::EXT
    )
}

/// `bpf_prog_load_check_attach()` without BTF: which expected attach types a type accepts.
fn check_attach(t: u32, eat: u32) -> bool {
    match t {
        pt::CGROUP_SOCK => matches!(eat, 2 | 12 | 13 | 34),
        pt::CGROUP_SOCK_ADDR => matches!(eat, 8..=11 | 14 | 15 | 19 | 20 | 29..=32 | 49..=53),
        pt::CGROUP_SKB => matches!(eat, 0 | 1),
        pt::CGROUP_SOCKOPT => matches!(eat, 21 | 22),
        pt::SK_LOOKUP => eat == 36,
        pt::SK_REUSEPORT => matches!(eat, 39 | 40),
        pt::NETFILTER => eat == 45,
        pt::SYSCALL | pt::EXT => eat == 0,
        _ => true,
    }
}

/// `attr->fd_array` and `fd_array_cnt`: the fds `BPF_PSEUDO_MAP_IDX*` index into.
#[derive(Clone, Copy)]
struct FdArray {
    addr: u64,
    cnt: u32,
}

impl FdArray {
    /// `copy_from_bpfptr_offset(&fd, fd_array, i * 4, 4)`.
    fn read(self, mem: &dyn UserMem, i: u32) -> SysResult<i32> {
        let mut b = [0u8; 4];
        let at = self.addr.checked_add(4 * i as u64).ok_or(Errno::EFAULT)?;
        mem.read(at, &mut b)?;
        Ok(i32::from_le_bytes(b))
    }
}

/// What `resolve_pseudo_ldimm64` found at one ld_imm64.
struct MapRef {
    at: usize,
    map: MapIdx,
    value_off: Option<u32>,
}

impl Kernel {
    /// `BPF_PROG_LOAD`.
    pub(crate) fn sys_prog_load(
        &mut self,
        pid: Pid,
        a: &Attr,
        user_attr: &mut [u8],
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        a.check_unused(o::END)?;
        let flags = a.u32(o::PROG_FLAGS);
        if flags & !PROG_FLAGS_OK != 0 {
            return Err(Errno::EINVAL);
        }
        let ptype = a.u32(o::PROG_TYPE);
        let mut eat = a.u32(o::EXPECTED_ATTACH_TYPE);
        // bpf_prog_load_fixup_attach_type
        if eat == 0 && ptype == pt::CGROUP_SOCK {
            eat = 2;
        } else if eat == 0 && ptype == pt::SK_REUSEPORT {
            eat = 39;
        }
        if flags & BPF_F_TOKEN_FD != 0 {
            return self.fail(Errno::EINVAL, "BPF tokens are not modeled");
        }
        let cred = self.proc(pid)?.cred;
        let bpf_cap = cred.caps.bpf_capable();
        if self.cfg.unprivileged_bpf_disabled != 0 && !bpf_cap {
            return Err(Errno::EPERM);
        }
        let cnt = a.u32(o::INSN_CNT);
        let max = if bpf_cap {
            limits::MAX_INSNS_PRIV
        } else {
            limits::MAX_INSNS_UNPRIV
        };
        if cnt == 0 || cnt > max {
            return Err(Errno::E2BIG);
        }
        if ptype != pt::SOCKET_FILTER && ptype != pt::CGROUP_SKB && !bpf_cap {
            return Err(Errno::EPERM);
        }
        if is_net_admin_prog_type(ptype) && !cred.caps.net_capable() {
            return Err(Errno::EPERM);
        }
        if is_perfmon_prog_type(ptype) && !cred.caps.perfmon_capable() {
            return Err(Errno::EPERM);
        }
        if a.u32(o::ATTACH_PROG_FD) != 0 || a.u32(o::ATTACH_BTF_ID) != 0 {
            return self.fail(
                Errno::EINVAL,
                "attach targets (BTF, programs) are not modeled",
            );
        }
        if !check_attach(ptype, eat) {
            return Err(Errno::EINVAL);
        }
        let mut raw = vec![0u8; cnt as usize * 8];
        mem.read(a.u64(o::INSNS), &mut raw)?;
        let insns = insn::decode(&raw);
        let license = mem.read_cstr(a.u64(o::LICENSE), 127)?;
        let license = license.unwrap_or_else(|| {
            let mut l = vec![0u8; 127];
            // strncpy_from_user stops at 127 bytes; the kernel terminates the copy there.
            let _ = mem.read(a.u64(o::LICENSE), &mut l);
            l
        });
        // find_prog_type
        if ptype == pt::UNSPEC || ptype >= pt::MAX {
            return Err(Errno::EINVAL);
        }
        let name = obj_name_cpy(&a.name(o::PROG_NAME))?;
        // bpf_check: log attributes first
        let (log_level, log_size, log_buf) =
            (a.u32(o::LOG_LEVEL), a.u32(o::LOG_SIZE), a.u64(o::LOG_BUF));
        if (log_buf != 0) != (log_size != 0)
            || (log_buf != 0 && log_level == 0)
            || log_level & !LOG_MASK != 0
            || log_size > u32::MAX >> 2
        {
            return Err(Errno::EINVAL);
        }
        if matches!(ptype, pt::TRACING | pt::LSM | pt::STRUCT_OPS | pt::EXT) {
            let r = self.fail(
                Errno::EINVAL,
                "this program type needs attach_btf_id (BTF is not modeled)",
            );
            return self.finish_log(r, log_level, log_buf, log_size, user_attr, mem);
        }
        let fd_array = FdArray {
            addr: a.u64(o::FD_ARRAY),
            cnt: a.u32(o::FD_ARRAY_CNT),
        };
        // check_btf_info_early: the program's BTF and its func_info records.
        let battr = ProgBtfAttr {
            btf_fd: a.u32(o::PROG_BTF_FD),
            func_info: a.u64(o::FUNC_INFO),
            func_rec: a.u32(o::FUNC_INFO_REC_SIZE),
            func_cnt: a.u32(o::FUNC_INFO_CNT),
            line_info: a.u64(o::LINE_INFO),
            line_rec: a.u32(o::LINE_INFO_REC_SIZE),
            line_cnt: a.u32(o::LINE_INFO_CNT),
        };
        let pbtf = match self.check_btf_info_early(pid, &battr, mem) {
            Ok(p) => p,
            Err(e) => {
                if let Some((at, v)) = e.write_back {
                    let _ = crate::attr::put_u32(user_attr, at, v);
                }
                let r = self.fail(e.errno, &e.msg);
                return self.finish_log(r, log_level, log_buf, log_size, user_attr, mem);
            }
        };
        // bpf_vlog_finalize runs at the end of bpf_check, before the program gets an id: a
        // log too small for the success message fails the load there.
        let success_log_fits =
            log_level == 0 || log_buf == 0 || SUCCESS_LOG.len() < log_size as usize;
        let result = self.prog_check_and_create(
            pid,
            ptype,
            eat,
            flags,
            name,
            &license,
            insns,
            &cred,
            fd_array,
            mem,
            success_log_fits,
            (pbtf, &battr),
        );
        self.finish_log(result, log_level, log_buf, log_size, user_attr, mem)
    }

    /// The verifier's log: the model writes its error (or a one-line summary) into `log_buf`;
    /// a log too small for it turns any result into `ENOSPC` (`bpf_vlog_finalize`).
    fn finish_log(
        &mut self,
        result: SysResult<i64>,
        level: u32,
        buf: u64,
        size: u32,
        user_attr: &mut [u8],
        mem: &mut dyn UserMem,
    ) -> SysResult<i64> {
        if level == 0 {
            return result;
        }
        let text = match &result {
            Ok(_) => format!("{SUCCESS_LOG}\n"),
            Err(_) => format!("{}\n", self.last_error),
        };
        let true_size = text.len() as u32 + 1;
        let _ = crate::attr::put_u32(user_attr, o::LOG_TRUE_SIZE, true_size);
        if buf == 0 {
            return result;
        }
        let n = (size as usize).min(text.len() + 1);
        let mut out = text.into_bytes();
        out.push(0);
        out.truncate(n);
        if let Some(last) = out.last_mut() {
            *last = 0;
        }
        mem.write(buf, &out)?;
        if true_size > size {
            debug_assert!(
                result.is_err(),
                "a success log that does not fit fails inside bpf_check"
            );
            return Err(Errno::ENOSPC);
        }
        result
    }

    #[expect(clippy::too_many_arguments, reason = "the decoded attr, passed once")]
    fn prog_check_and_create(
        &mut self,
        pid: Pid,
        ptype: u32,
        eat: u32,
        flags: u32,
        name: [u8; 16],
        license: &[u8],
        insns: Vec<Insn>,
        cred: &crate::task::Cred,
        fd_array: FdArray,
        mem: &dyn UserMem,
        success_log_fits: bool,
        (mut pbtf, battr): (ProgBtf, &ProgBtfAttr),
    ) -> SysResult<i64> {
        let mut used: Vec<MapIdx> = Vec::new();
        // process_fd_array (6.14+): with fd_array_cnt, every map in fd_array is used.
        if fd_array.cnt > 0 {
            if fd_array.cnt >= u32::MAX / 4 {
                return self.fail(
                    Errno::EINVAL,
                    &format!("fd_array_cnt is too big ({})", fd_array.cnt),
                );
            }
            for i in 0..fd_array.cnt {
                let fd = fd_array.read(mem, i)?;
                let m = match self.fd_map(pid, fd) {
                    Ok((_, m)) => m,
                    Err(e) => {
                        return self.fail(
                            e,
                            &format!("fd {fd} is not pointing to valid bpf_map or btf"),
                        );
                    }
                };
                if !used.contains(&m) {
                    if used.len() >= limits::MAX_USED_MAPS {
                        return self.fail(Errno::E2BIG, "loading more than 64 maps is not allowed");
                    }
                    used.push(m);
                }
            }
        }
        let subprogs = check::check_subprogs_caps(&insns, cred.caps.bpf_capable())
            .or_else(|e| self.verr(e))?;
        // check_btf_info: func_info against the subprograms, line_info.
        if let Err(e) = self.check_btf_info(&mut pbtf, battr, &insns, &subprogs, mem) {
            return self.fail(e.errno, &e.msg);
        }
        // resolve_pseudo_ldimm64: the tag is computed on the instructions as submitted.
        let digest = tag::prog_digest(&insns, self.cfg.tag_hash);
        let mut refs: Vec<MapRef> = Vec::new();
        let mut resolve =
            |k: &mut Kernel, at: usize, i0: &Insn, i1: &Insn| -> Result<(), CheckError> {
                let err = |errno, msg: String| CheckError {
                    errno,
                    insn: at,
                    msg,
                };
                let fd = match i0.src {
                    pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE if fd_array.addr == 0 => {
                        return Err(err(
                            Errno::EPROTO,
                            "fd_idx without fd_array is invalid".into(),
                        ));
                    }
                    pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE => fd_array
                        .read(mem, i0.imm as u32)
                        .map_err(|e| err(e, "fd_array is not readable".into()))?,
                    _ => i0.imm,
                };
                let m = match k.fd_map(pid, fd) {
                    Ok((_, m)) => m,
                    Err(Errno::EBADF) => {
                        return Err(err(
                            Errno::EBADF,
                            format!("fd {fd} is not pointing to valid bpf_map"),
                        ));
                    }
                    Err(e) => {
                        return Err(err(e, format!("fd {fd} is not pointing to valid bpf_map")));
                    }
                };
                let value_off = if matches!(i0.src, pseudo::MAP_VALUE | pseudo::MAP_IDX_VALUE) {
                    let off = i1.imm as u32;
                    if off >= MAX_VAR_OFF {
                        return Err(err(
                            Errno::EINVAL,
                            format!("direct value offset of {off} is not allowed"),
                        ));
                    }
                    let map = &k.maps[m.0];
                    if !matches!(map.data, MapData::Array { .. }) {
                        return Err(err(
                            Errno::EINVAL,
                            "no direct value access support for this map type".into(),
                        ));
                    }
                    // array_map_direct_value_addr
                    if map.max_entries != 1 {
                        return Err(err(
                            Errno::ENOTSUPP,
                            "direct value access needs max_entries 1".into(),
                        ));
                    }
                    if off >= map.value_size {
                        return Err(err(
                            Errno::EINVAL,
                            format!(
                                "invalid access to map value pointer, value_size={} off={off}",
                                map.value_size
                            ),
                        ));
                    }
                    Some(off)
                } else {
                    None
                };
                if !used.contains(&m) {
                    if used.len() >= limits::MAX_USED_MAPS {
                        return Err(err(
                            Errno::E2BIG,
                            format!(
                                "loading more than {} maps is not allowed",
                                limits::MAX_USED_MAPS
                            ),
                        ));
                    }
                    used.push(m);
                }
                refs.push(MapRef {
                    at,
                    map: m,
                    value_off,
                });
                Ok(())
            };
        let checked = {
            let me: &mut Kernel = self;
            check::check_ldimm64_and_opcodes(&insns, &mut |at, i0, i1| resolve(me, at, i0, i1))
        };
        checked.or_else(|e| self.verr(e))?;
        check::check_cfg(&insns, &subprogs, cred.caps.bpf_capable()).or_else(|e| self.verr(e))?;
        // do_check -> check_helper_call: helpers the type may not call, or the model lacks.
        if let Err(r) = crate::kernel::helper_table::check_helper_calls(
            ptype,
            &insns,
            license_is_gpl_compatible(license),
        ) {
            return self.fail(Errno::EINVAL, &r.msg);
        }
        // The verifier holds a reference on each used map from here on (add_used_map).
        let serial = self.next_serial();
        let idx = ProgIdx(self.progs.insert(Prog {
            serial,
            id: 0,
            refcnt: 1,
            prog_type: ptype,
            expected_attach_type: eat,
            prog_flags: flags,
            name,
            gpl_compatible: license_is_gpl_compatible(license),
            runnable: crate::vm::Program::new(Vec::new()),
            translated: Default::default(),
            insns,
            subprogs,
            tag: digest[..8].try_into().expect("8"),
            digest,
            used_maps: Vec::new(),
            btf: pbtf.btf,
            func_info: Vec::new(),
            line_info: Vec::new(),
            load_time: self.now_ns,
            uid: cred.uid,
            created_by: pid,
            created_at: self.syscalls,
        }));
        for &m in &used {
            self.map_inc(
                m,
                Holder::UsedBy {
                    prog: idx,
                    prog_id: 0,
                },
            );
        }
        self.progs[idx.0].used_maps = used.clone();
        if let Some(b) = pbtf.btf {
            self.btf_inc(b);
        }
        if !success_log_fits {
            self.release_failed_prog(idx);
            return self.fail(Errno::ENOSPC, SUCCESS_LOG);
        }
        // bpf_prog_select_runtime -> bpf_check_tail_call
        for &m in &used {
            if self.maps[m.0].map_type == map_type::PROG_ARRAY && !self.prog_map_compatible(m, idx)
            {
                self.release_failed_prog(idx);
                return self.fail(
                    Errno::EINVAL,
                    "program is not compatible with a prog_array it uses",
                );
            }
        }
        let Some(id) = self.prog_ids.alloc(idx) else {
            self.release_failed_prog(idx);
            return Err(Errno::ENOSPC);
        };
        self.progs[idx.0].id = id;
        let mut xlated = self.progs[idx.0].insns.clone();
        for r in &refs {
            let map_id = self.maps[r.map.0].id;
            xlated[r.at].src = if r.value_off.is_some() {
                pseudo::MAP_VALUE
            } else {
                pseudo::MAP_FD
            };
            xlated[r.at].imm = map_id as i32;
            xlated[r.at + 1].imm = r.value_off.unwrap_or(0) as i32;
        }
        // What a dump shows: the verifier's rewrites (prog/xlated.rs), given each map reference.
        let descs = refs.iter().map(|r| (r.at, self.map_desc(r.map))).collect();
        let p = &self.progs[idx.0];
        let translated = super::xlated::translate(
            &xlated,
            &p.subprogs,
            ptype,
            &descs,
            cred.caps.bpf_capable(),
            self.cfg.tag_hash,
        );
        // adjust_btf_func / bpf_adj_linfo: the records follow the translated program.
        let func_info = pbtf
            .func_info
            .iter()
            .zip(&translated.func_starts)
            .map(|(f, &s)| super::FuncInfo {
                insn_off: s as u32,
                ..*f
            })
            .collect();
        let line_info = crate::kernel::btf::adjust_line_info(&pbtf.line_info, &translated.starts);
        self.progs[idx.0].func_info = func_info;
        self.progs[idx.0].line_info = line_info;
        self.progs[idx.0].runnable = crate::vm::Program::new(xlated);
        self.progs[idx.0].translated = translated;
        match self.install_file(pid, FileObj::Prog(idx), true, true) {
            Ok(fd) => {
                self.log_created(ObjRef::Prog(idx), id, pid, fd);
                Ok(fd as i64)
            }
            Err(e) => {
                self.log(
                    ObjRef::Prog(idx),
                    EventKind::Created(id),
                    Some(Holder::NewObject),
                );
                self.prog_put(idx, Holder::NewObject);
                Err(e)
            }
        }
    }

    /// A load that failed after its maps were gathered puts them synchronously
    /// (`release_maps`) and frees the program, which never had an id.
    fn release_failed_prog(&mut self, idx: ProgIdx) {
        for m in std::mem::take(&mut self.progs[idx.0].used_maps) {
            self.map_put(
                m,
                Holder::UsedBy {
                    prog: idx,
                    prog_id: 0,
                },
            );
        }
        if let Some(b) = self.progs.remove(idx.0).and_then(|p| p.btf) {
            self.btf_put(b);
        }
    }

    fn verr<T>(&mut self, e: CheckError) -> SysResult<T> {
        self.fail(e.errno, &e.msg)
    }

    /// `BPF_PROG_BIND_MAP` (`bpf_prog_bind_map`): the program holds the map as if it used it;
    /// binding a map it already holds is a no-op.
    pub(crate) fn sys_prog_bind_map(&mut self, pid: Pid, a: &Attr) -> SysResult<i64> {
        a.check_unused(b::END)?;
        if a.u32(b::FLAGS) != 0 {
            return Err(Errno::EINVAL);
        }
        let (_, p) = self.fd_prog(pid, a.u32(b::PROG_FD) as i32)?;
        let (_, m) = self.fd_map(pid, a.u32(b::MAP_FD) as i32)?;
        if self.progs[p.0].used_maps.contains(&m) {
            return Ok(0);
        }
        let prog_id = self.progs[p.0].id;
        self.map_inc(m, Holder::UsedBy { prog: p, prog_id });
        self.progs[p.0].used_maps.push(m);
        Ok(0)
    }
}

//! `bpfsim --kernel`: the calls of a `bpfsim` command made by this process on the running
//! kernel ([`HostCalls`]). bpf() goes through the Linux backend's in-process call code
//! (`backend::linux::agent::run_bpf`, attrs built with the simulator's encoders, buffers at
//! guard pages), file system calls through its `run_fs`; what the model reads from its
//! kernel's internals comes from `/proc/self/fdinfo/<fd>` and `/proc/self/fd/<fd>`, as
//! bpftool reads them.

use std::collections::BTreeSet;

use sim::{Errno, Kernel, MapCreateAttr, ProgLoadAttr, SysResult, TestRunAttr, TestRunResult};

use super::info::{Info, MapFdinfo};
use super::sys::Calls;
use crate::backend::linux::agent::{run_bpf, run_fs};
use crate::backend::linux::sys::{GuardBuf, bpf_typed, check, cpath, last_errno};
use crate::backend::{BpfCall, BpfRet, FsCall, Kind, TestRunCall};
use sim::attr::{AttrBuf, off};
use sim::uapi::cmd;

/// `BPF_FS_MAGIC` (`include/uapi/linux/magic.h`).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// This process on the running kernel. Every fd it gets from the kernel is remembered, and
/// the ones still open are closed at [`Calls::exit`] (what `exit_group` does for bpftool):
/// the command runs inside a longer-lived process (tests call `main_with`).
#[derive(Debug, Default)]
pub struct HostCalls {
    /// The fds this command opened and has not closed.
    open: BTreeSet<i32>,
}

/// The kind of a reply we expected and did not get: a bug in the call code, reported as
/// `EIO` rather than a panic.
fn unexpected<T>() -> SysResult<T> {
    Err(Errno(libc::EIO))
}

impl HostCalls {
    fn bpf(&mut self, call: &BpfCall) -> SysResult<BpfRet> {
        let r = run_bpf(call);
        if let Ok(BpfRet::Fd(fd)) = r {
            self.open.insert(fd);
        }
        r
    }

    fn fd(&mut self, call: &BpfCall) -> SysResult<i32> {
        match self.bpf(call)? {
            BpfRet::Fd(fd) => Ok(fd),
            _ => unexpected(),
        }
    }

    fn unit(&mut self, call: &BpfCall) -> SysResult<()> {
        match self.bpf(call)? {
            BpfRet::Unit => Ok(()),
            _ => unexpected(),
        }
    }

    fn bytes(&mut self, call: &BpfCall) -> SysResult<Vec<u8>> {
        match self.bpf(call)? {
            BpfRet::Bytes(b) => Ok(b),
            _ => unexpected(),
        }
    }

    /// `build_pinned_obj_table`'s `nftw`: depth first, in directory order, (id, path) of
    /// every file of `dir` that opens (`BPF_OBJ_GET`) as a program (`prog`) or a map.
    fn walk(&mut self, dir: &std::path::Path, prog: bool, out: &mut Vec<(u32, String)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                self.walk(&path, prog, out);
                continue;
            }
            let p = path.to_string_lossy().into_owned();
            let Ok(fd) = self.obj_get(&p, 0) else {
                continue;
            };
            if self.fd_is_prog(fd) == Some(prog) {
                match self.info(fd) {
                    Ok(Info::Prog(i)) => out.push((i.id, p)),
                    Ok(Info::Map(i)) => out.push((i.id, p)),
                    Err(_) => {}
                }
            }
            let _ = self.close(fd);
        }
    }

    /// `/proc/self/fdinfo/<fd>` as (key, value) lines.
    fn fdinfo(fd: i32) -> Vec<(String, String)> {
        std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }
}

/// The paths of `id` in the order bpftool prints them: it appends every (id, path) found, in
/// walk order, to a libbpf hashmap, whose bucket lists take new entries at the head and
/// whose growth (from 0 to 4 buckets, then doubling, when `(size + 1) * 4 / 3` exceeds the
/// bucket count) moves each list's entries one by one to the head of the new lists. Entries
/// with one id share a bucket, so each growth reverses their order.
pub(super) fn pins_in_table_order(found: &[(u32, String)], id: u32) -> Vec<String> {
    let (mut cap, mut chain) = (0usize, Vec::new());
    for (size, (i, path)) in found.iter().enumerate() {
        if cap == 0 || (size + 1) * 4 / 3 > cap {
            cap = (cap * 2).max(4);
            chain.reverse();
        }
        if *i == id {
            chain.insert(0, path.clone());
        }
    }
    chain
}

fn field<'a>(fi: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fi.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The bpffs mount points of this mount namespace (`/proc/self/mounts`, octal escapes
/// undone), as bpftool's `build_pinned_obj_table` finds them.
fn bpffs_mounts() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 2 && f[2] == "bpf").then(|| unescape(f[1]))
        })
        .collect();
    out.dedup();
    out
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Calls for HostCalls {
    fn get_next_id(&mut self, prog: bool, start: u32) -> SysResult<u32> {
        let kind = if prog { Kind::Prog } else { Kind::Map };
        match self.bpf(&BpfCall::NextId { kind, start })? {
            BpfRet::Id(id) => Ok(id),
            _ => unexpected(),
        }
    }
    fn get_fd_by_id(&mut self, prog: bool, id: u32) -> SysResult<i32> {
        let kind = if prog { Kind::Prog } else { Kind::Map };
        self.fd(&BpfCall::FdById { kind, id, flags: 0 })
    }
    fn info(&mut self, fd: i32) -> SysResult<Info> {
        match self.bpf(&BpfCall::Info { fd })? {
            BpfRet::Info {
                info,
                map_ids,
                xlated,
            } => Ok(Info::decode(&info, map_ids, xlated)),
            _ => unexpected(),
        }
    }
    fn obj_get(&mut self, path: &str, flags: u32) -> SysResult<i32> {
        self.fd(&BpfCall::Get {
            path: path.to_string(),
            flags,
        })
    }
    fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()> {
        self.unit(&BpfCall::Pin {
            fd,
            path: path.to_string(),
        })
    }
    fn close(&mut self, fd: i32) -> SysResult<()> {
        // Only fds this command opened: never the caller's stdin/stdout or anything else.
        if !self.open.remove(&fd) {
            return Err(Errno::EBADF);
        }
        // SAFETY: `fd` was returned to this command by the kernel and is closed once.
        check(unsafe { libc::close(fd) } as libc::c_long).map(drop)
    }
    fn dupfd(&mut self, fd: i32) -> SysResult<i32> {
        if !self.open.contains(&fd) {
            return Err(Errno::EBADF);
        }
        // SAFETY: fcntl on an fd this command owns; F_DUPFD_CLOEXEC returns a new fd.
        let r = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) } as libc::c_long)?;
        self.open.insert(r as i32);
        Ok(r as i32)
    }
    fn lookup(&mut self, fd: i32, key: &[u8], value_len: usize) -> SysResult<Vec<u8>> {
        self.bytes(&BpfCall::Lookup {
            fd,
            key: key.to_vec(),
            value_len,
            flags: 0,
        })
    }
    fn update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        self.unit(&BpfCall::Update {
            fd,
            key: key.to_vec(),
            value: value.to_vec(),
            flags,
        })
    }
    fn delete(&mut self, fd: i32, key: &[u8]) -> SysResult<()> {
        self.unit(&BpfCall::Delete {
            fd,
            key: key.to_vec(),
        })
    }
    fn next_key(&mut self, fd: i32, key: Option<&[u8]>, key_len: usize) -> SysResult<Vec<u8>> {
        self.bytes(&BpfCall::NextKey {
            fd,
            key: key.map(<[u8]>::to_vec),
            key_len,
        })
    }
    fn freeze(&mut self, fd: i32) -> SysResult<()> {
        self.unit(&BpfCall::Freeze { fd })
    }
    fn map_create(&mut self, a: &MapCreateAttr) -> SysResult<i32> {
        self.fd(&BpfCall::MapCreate(a.clone()))
    }
    fn prog_load(&mut self, a: &ProgLoadAttr) -> SysResult<i32> {
        if a.prog_btf_fd != 0 || !a.func_info.is_empty() || !a.line_info.is_empty() {
            return self.fd(&BpfCall::ProgLoadFull(a.clone()));
        }
        let end = a.prog_name.iter().position(|&b| b == 0).unwrap_or(16);
        self.fd(&BpfCall::ProgLoad {
            prog_type: a.prog_type,
            insns: a.insns.clone(),
            name: String::from_utf8_lossy(&a.prog_name[..end]).into_owned(),
            license: a.license.clone(),
            expected_attach_type: a.expected_attach_type,
            prog_flags: a.prog_flags,
        })
    }
    fn btf_load(&mut self, data: &[u8]) -> SysResult<i32> {
        self.fd(&BpfCall::BtfLoad {
            data: data.to_vec(),
        })
    }
    fn prog_records(&mut self, fd: i32) -> SysResult<(Vec<u8>, Vec<u8>)> {
        match self.bpf(&BpfCall::Records { fd })? {
            BpfRet::Records {
                func_info,
                line_info,
            } => Ok((func_info, line_info)),
            _ => unexpected(),
        }
    }
    fn btf_get_fd_by_id(&mut self, id: u32) -> SysResult<i32> {
        let a = AttrBuf::default().u32(off::id::START_ID, id);
        let fd = bpf_typed(cmd::BTF_GET_FD_BY_ID, a)?.0 as i32;
        self.open.insert(fd);
        Ok(fd)
    }
    fn btf_data(&mut self, fd: i32) -> SysResult<Vec<u8>> {
        use sim::kernel::btf::{BTF_INFO_SIZE, btf_info as bi};
        // The size first (`btf__load_from_kernel_by_id`), then the blob.
        let call = |info: &GuardBuf| {
            let a = AttrBuf::default()
                .u32(off::info::BPF_FD, fd as u32)
                .u32(off::info::INFO_LEN, BTF_INFO_SIZE as u32)
                .u64(off::info::INFO, info.addr());
            bpf_typed(cmd::OBJ_GET_INFO_BY_FD, a).map(drop)
        };
        let probe = GuardBuf::output(BTF_INFO_SIZE)?;
        call(&probe)?;
        let p = probe.to_vec();
        let size = u32::from_le_bytes(p[bi::BTF_SIZE..bi::BTF_SIZE + 4].try_into().expect("4"));
        let blob = GuardBuf::output(size as usize)?;
        let mut req = vec![0u8; BTF_INFO_SIZE];
        req[bi::BTF..bi::BTF + 8].copy_from_slice(&blob.addr().to_le_bytes());
        req[bi::BTF_SIZE..bi::BTF_SIZE + 4].copy_from_slice(&size.to_le_bytes());
        let info = GuardBuf::filled(&req)?;
        call(&info)?;
        Ok(blob.to_vec())
    }
    fn test_run(&mut self, fd: i32, a: &TestRunAttr) -> (SysResult<()>, TestRunResult) {
        let call = TestRunCall {
            prog_fd: fd,
            data_size_in: a.data_in.len() as u32,
            data_in: (!a.data_in.is_empty()).then(|| a.data_in.clone()),
            data_out: a.data_out,
            data_size_out: a.data_out.unwrap_or(0),
            ctx_size_in: a.ctx_in.as_ref().map_or(0, |c| c.len() as u32),
            ctx_in: a.ctx_in.clone(),
            ctx_out: a.ctx_out,
            ctx_size_out: a.ctx_out.unwrap_or(0),
            repeat: a.repeat,
            flags: a.flags,
            cpu: a.cpu,
            batch_size: a.batch_size,
        };
        let out = match self.bpf(&BpfCall::TestRun(call)) {
            Ok(BpfRet::TestRun(o)) => o,
            Ok(_) => return (unexpected(), TestRunResult::default()),
            Err(e) => return (Err(e), TestRunResult::default()),
        };
        // What the kernel copied out: at most the buffer, at most what it reports.
        let cut = |mut b: Vec<u8>, n: u32| {
            b.truncate(n as usize);
            b
        };
        let res = TestRunResult {
            retval: out.retval,
            duration: out.duration,
            data_out: cut(out.data_out, out.data_size_out),
            data_size_out: out.data_size_out,
            ctx_out: cut(out.ctx_out, out.ctx_size_out),
            ctx_size_out: out.ctx_size_out,
        };
        (out.result, res)
    }
    fn mkdir(&mut self, path: &str) -> SysResult<()> {
        run_fs(&FsCall::Mkdir(path.to_string(), 0o700))
    }
    fn mount_bpffs(&mut self, path: &str) -> SysResult<()> {
        run_fs(&FsCall::MountBpffs(path.to_string()))
    }
    fn umount(&mut self, path: &str) -> SysResult<()> {
        run_fs(&FsCall::Umount(path.to_string()))
    }
    fn unlink(&mut self, path: &str) -> SysResult<()> {
        run_fs(&FsCall::Unlink(path.to_string()))
    }
    fn statfs_bpffs(&mut self, path: &str) -> SysResult<bool> {
        let p = cpath(path)?;
        // SAFETY: `statfs` is plain old data; all-zero is valid.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path and a statfs buffer, both live across the call.
        if unsafe { libc::statfs(p.as_ptr(), &mut st) } != 0 {
            return Err(last_errno());
        }
        Ok(st.f_type as i64 == BPF_FS_MAGIC)
    }
    fn exists(&self, path: &str) -> SysResult<()> {
        std::fs::symlink_metadata(path)
            .map(drop)
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))
    }
    fn fd_is_prog(&self, fd: i32) -> Option<bool> {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
        match link.to_string_lossy().as_ref() {
            "anon_inode:bpf-prog" => Some(true),
            "anon_inode:bpf-map" => Some(false),
            _ => None,
        }
    }
    fn map_fdinfo(&self, fd: i32, _id: u32) -> MapFdinfo {
        let fi = Self::fdinfo(fd);
        let num = |k: &str| field(&fi, k).and_then(|v| v.parse::<u64>().ok());
        MapFdinfo {
            memlock: num("memlock").unwrap_or(0),
            frozen: num("frozen").unwrap_or(0) != 0,
            owner: num("owner_prog_type").map(|t| (t as u32, num("owner_jited").unwrap_or(0) != 0)),
        }
    }
    fn prog_memlock(&self, fd: i32, _xlated_len: u32) -> u64 {
        let fi = Self::fdinfo(fd);
        field(&fi, "memlock")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
    fn pinned_paths(&mut self, prog: bool, id: u32) -> Vec<String> {
        let mut out = Vec::new();
        for m in bpffs_mounts() {
            self.walk(std::path::Path::new(&m), prog, &mut out);
        }
        pins_in_table_order(&out, id)
    }
    fn wall_secs(&self, load_time_ns: u64) -> i64 {
        let now = |clock| {
            // SAFETY: `timespec` is plain old data; all-zero is valid.
            let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
            // SAFETY: clock_gettime writes one timespec, which outlives the call.
            unsafe { libc::clock_gettime(clock, &mut ts) };
            (ts.tv_sec as i64, ts.tv_nsec as i64)
        };
        let (rs, rn) = now(libc::CLOCK_REALTIME);
        let (bs, bn) = now(libc::CLOCK_BOOTTIME);
        (rs - bs) + (rn - bn + load_time_ns as i64) / 1_000_000_000
    }
    fn pid(&self) -> u32 {
        std::process::id()
    }
    fn exit(&mut self) {
        for fd in std::mem::take(&mut self.open) {
            // SAFETY: an fd this command opened and did not close.
            unsafe { libc::close(fd) };
        }
    }
    fn model(&mut self) -> Option<&mut Kernel> {
        None
    }
    fn model_ref(&self) -> Option<&Kernel> {
        None
    }
}

#[cfg(test)]
mod tests {
    /// What bpftool 7.1 printed on the 6.18 kernel for one program pinned 14 times (walk
    /// order = bpffs directory order, newest first; `d` and `xt` are directories) next to a
    /// second program pinned twice (`other`, `d/other2`).
    #[test]
    fn pinned_paths_come_in_bpftools_hashmap_order() {
        let walk = [
            "other",
            "k",
            "j",
            "i",
            "h",
            "g",
            "f",
            "e",
            "c",
            "zz",
            "again",
            "a",
            "b",
            "xt/xdp_pass",
            "d/other2",
            "d/z",
        ];
        let found: Vec<(u32, String)> = walk
            .iter()
            .map(|p| (if p.contains("other") { 2 } else { 1 }, p.to_string()))
            .collect();
        assert_eq!(
            super::pins_in_table_order(&found, 1),
            [
                "d/z",
                "xt/xdp_pass",
                "b",
                "g",
                "h",
                "i",
                "k",
                "j",
                "f",
                "e",
                "c",
                "zz",
                "again",
                "a"
            ]
        );
        assert_eq!(super::pins_in_table_order(&found, 2), ["d/other2", "other"]);
        assert!(super::pins_in_table_order(&found, 3).is_empty());
    }
}

//! The controller ↔ agent protocol: length-prefixed frames over a Unix stream socket.
//!
//! A frame is a little-endian `u32` length and that many payload bytes. The controller sends
//! one [`Request`] and waits for one [`Reply`] (an `Exit` gets none: the process is gone
//! instead). A `Fork` reply carries the new process's control socket as `SCM_RIGHTS`, a
//! `SendFd` reply the fd asked for, and a `RecvFd` request the fd to install. Every field is a
//! fixed-width little-endian integer or a `u32`-length-prefixed byte string.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use sim::{Errno, Insn, MapCreateAttr};

use super::super::{BpfCall, BpfRet, FsCall, Kind, TestRunCall, TestRunOut};

/// Largest frame either side accepts (prog loads and xlated dumps of 1M instructions fit).
const MAX_FRAME: usize = 64 << 20;

/// What the controller asks an agent to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// One bpf() call.
    Bpf(BpfCall),
    /// One filesystem call.
    Fs(FsCall),
    /// `close(fd)`.
    Close(i32),
    /// `dup(fd)`.
    Dup(i32),
    /// `fork()`: the reply is the child's pid, with the child's control socket attached.
    Fork,
    /// `_exit(0)`, no reply.
    Exit,
    /// Send this fd to the controller: the reply is `Unit` with the fd attached
    /// (`SCM_RIGHTS`), or the errno of `fcntl(fd, F_GETFD)` (`EBADF`) and no fd.
    SendFd(i32),
    /// The fd attached to this request (`SCM_RIGHTS`) was received without
    /// `MSG_CMSG_CLOEXEC` at the lowest free fd: the reply is that fd, or `EMFILE` when the
    /// kernel could not install it.
    RecvFd,
}

/// An agent's answer: what the call returned or its errno.
pub type Reply = Result<BpfRet, Errno>;

/// Appends fields to a payload.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.u32(v as u32)
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }
}

/// Reads fields from a payload; every read checks the bounds.
struct Dec<'a>(&'a [u8]);

type DecResult<T> = Result<T, String>;

impl Dec<'_> {
    fn take(&mut self, n: usize) -> DecResult<&[u8]> {
        if self.0.len() < n {
            return Err(format!(
                "truncated frame: need {n} bytes, have {}",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> DecResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> DecResult<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i32(&mut self) -> DecResult<i32> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> DecResult<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn usize(&mut self) -> DecResult<usize> {
        usize::try_from(self.u64()?).map_err(|e| e.to_string())
    }
    fn bytes(&mut self) -> DecResult<Vec<u8>> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> DecResult<String> {
        String::from_utf8(self.bytes()?).map_err(|e| e.to_string())
    }
    fn opt_bytes(&mut self) -> DecResult<Option<Vec<u8>>> {
        match self.u8()? {
            0 => Ok(None),
            _ => Ok(Some(self.bytes()?)),
        }
    }
    fn opt_u32(&mut self) -> DecResult<Option<u32>> {
        match self.u8()? {
            0 => Ok(None),
            _ => Ok(Some(self.u32()?)),
        }
    }
    fn kind(&mut self) -> DecResult<Kind> {
        match self.u8()? {
            0 => Ok(Kind::Map),
            1 => Ok(Kind::Prog),
            t => Err(format!("bad kind {t}")),
        }
    }
    fn end(&self) -> DecResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("{} trailing bytes", self.0.len()))
        }
    }
}

fn kind_tag(k: Kind) -> u8 {
    match k {
        Kind::Map => 0,
        Kind::Prog => 1,
    }
}

fn enc_bpf(e: &mut Enc, c: &BpfCall) {
    match c {
        BpfCall::MapCreate(a) => {
            e.u8(0)
                .u32(a.map_type)
                .u32(a.key_size)
                .u32(a.value_size)
                .u32(a.max_entries);
            e.u32(a.map_flags)
                .u32(a.inner_map_fd)
                .u32(a.numa_node)
                .bytes(&a.map_name)
                .u64(a.map_extra);
            e.u32(a.btf_fd)
                .u32(a.btf_key_type_id)
                .u32(a.btf_value_type_id)
                .u32(a.btf_vmlinux_value_type_id);
        }
        BpfCall::Lookup {
            fd,
            key,
            value_len,
            flags,
        } => {
            e.u8(1)
                .i32(*fd)
                .bytes(key)
                .u64(*value_len as u64)
                .u64(*flags);
        }
        BpfCall::Update {
            fd,
            key,
            value,
            flags,
        } => {
            e.u8(2).i32(*fd).bytes(key).bytes(value).u64(*flags);
        }
        BpfCall::Delete { fd, key } => {
            e.u8(3).i32(*fd).bytes(key);
        }
        BpfCall::NextKey { fd, key, key_len } => {
            e.u8(4).i32(*fd);
            match key {
                None => e.u8(0),
                Some(k) => e.u8(1).bytes(k),
            };
            e.u64(*key_len as u64);
        }
        BpfCall::LookupAndDelete { fd, key, value_len } => {
            e.u8(5).i32(*fd).bytes(key).u64(*value_len as u64);
        }
        BpfCall::Freeze { fd } => {
            e.u8(6).i32(*fd);
        }
        BpfCall::ProgLoad {
            prog_type,
            insns,
            name,
            license,
            expected_attach_type,
            prog_flags,
        } => {
            e.u8(7).u32(*prog_type);
            enc_insns(e, insns);
            e.str(name)
                .str(license)
                .u32(*expected_attach_type)
                .u32(*prog_flags);
        }
        BpfCall::BindMap { prog_fd, map_fd } => {
            e.u8(8).i32(*prog_fd).i32(*map_fd);
        }
        BpfCall::Pin { fd, path } => {
            e.u8(9).i32(*fd).str(path);
        }
        BpfCall::Get { path, flags } => {
            e.u8(10).str(path).u32(*flags);
        }
        BpfCall::NextId { kind, start } => {
            e.u8(11).u8(kind_tag(*kind)).u32(*start);
        }
        BpfCall::FdById { kind, id, flags } => {
            e.u8(12).u8(kind_tag(*kind)).u32(*id).u32(*flags);
        }
        BpfCall::Info { fd } => {
            e.u8(13).i32(*fd);
        }
        BpfCall::Raw { cmd, attr, size } => {
            e.u8(14).u32(*cmd).bytes(attr).u32(*size);
        }
        BpfCall::TestRun(c) => {
            e.u8(15).i32(c.prog_fd);
            opt_bytes(e, c.data_in.as_deref());
            e.u32(c.data_size_in);
            opt_u32(e, c.data_out);
            e.u32(c.data_size_out);
            opt_bytes(e, c.ctx_in.as_deref());
            e.u32(c.ctx_size_in);
            opt_u32(e, c.ctx_out);
            e.u32(c.ctx_size_out)
                .u32(c.repeat)
                .u32(c.flags)
                .u32(c.cpu)
                .u32(c.batch_size);
        }
        BpfCall::BtfLoad { data } => {
            e.u8(16).bytes(data);
        }
        BpfCall::ProgLoadFull(a) => {
            e.u8(17).u32(a.prog_type);
            enc_insns(e, &a.insns);
            e.str(&a.license)
                .bytes(&a.prog_name)
                .u32(a.prog_flags)
                .u32(a.expected_attach_type)
                .u32(a.log_level)
                .u32(a.prog_btf_fd)
                .bytes(&a.func_info)
                .u32(a.func_info_rec_size)
                .u32(a.func_info_cnt)
                .bytes(&a.line_info)
                .u32(a.line_info_rec_size)
                .u32(a.line_info_cnt);
        }
        BpfCall::Records { fd } => {
            e.u8(18).i32(*fd);
        }
    }
}

fn enc_insns(e: &mut Enc, insns: &[Insn]) {
    e.u32(insns.len() as u32);
    for i in insns {
        e.u8(i.code)
            .u8(i.dst)
            .u8(i.src)
            .u32(i.off as u16 as u32)
            .i32(i.imm);
    }
}

fn dec_insns(d: &mut Dec<'_>) -> DecResult<Vec<Insn>> {
    let n = d.u32()? as usize;
    let mut insns = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let (code, dst, src) = (d.u8()?, d.u8()?, d.u8()?);
        let off = d.u32()? as u16 as i16;
        insns.push(Insn {
            code,
            dst,
            src,
            off,
            imm: d.i32()?,
        });
    }
    Ok(insns)
}

fn opt_bytes(e: &mut Enc, b: Option<&[u8]>) {
    match b {
        None => e.u8(0),
        Some(b) => e.u8(1).bytes(b),
    };
}

fn opt_u32(e: &mut Enc, v: Option<u32>) {
    match v {
        None => e.u8(0),
        Some(v) => e.u8(1).u32(v),
    };
}

fn dec_test_run(d: &mut Dec<'_>) -> DecResult<TestRunCall> {
    Ok(TestRunCall {
        prog_fd: d.i32()?,
        data_in: d.opt_bytes()?,
        data_size_in: d.u32()?,
        data_out: d.opt_u32()?,
        data_size_out: d.u32()?,
        ctx_in: d.opt_bytes()?,
        ctx_size_in: d.u32()?,
        ctx_out: d.opt_u32()?,
        ctx_size_out: d.u32()?,
        repeat: d.u32()?,
        flags: d.u32()?,
        cpu: d.u32()?,
        batch_size: d.u32()?,
    })
}

fn dec_bpf(d: &mut Dec<'_>) -> DecResult<BpfCall> {
    Ok(match d.u8()? {
        0 => {
            let mut a = MapCreateAttr::new(d.u32()?, d.u32()?, d.u32()?, d.u32()?);
            a.map_flags = d.u32()?;
            a.inner_map_fd = d.u32()?;
            a.numa_node = d.u32()?;
            a.map_name = d
                .bytes()?
                .try_into()
                .map_err(|_| "map_name is not 16 bytes")?;
            a.map_extra = d.u64()?;
            a.btf_fd = d.u32()?;
            a.btf_key_type_id = d.u32()?;
            a.btf_value_type_id = d.u32()?;
            a.btf_vmlinux_value_type_id = d.u32()?;
            BpfCall::MapCreate(a)
        }
        1 => BpfCall::Lookup {
            fd: d.i32()?,
            key: d.bytes()?,
            value_len: d.usize()?,
            flags: d.u64()?,
        },
        2 => BpfCall::Update {
            fd: d.i32()?,
            key: d.bytes()?,
            value: d.bytes()?,
            flags: d.u64()?,
        },
        3 => BpfCall::Delete {
            fd: d.i32()?,
            key: d.bytes()?,
        },
        4 => {
            let fd = d.i32()?;
            let key = match d.u8()? {
                0 => None,
                _ => Some(d.bytes()?),
            };
            BpfCall::NextKey {
                fd,
                key,
                key_len: d.usize()?,
            }
        }
        5 => BpfCall::LookupAndDelete {
            fd: d.i32()?,
            key: d.bytes()?,
            value_len: d.usize()?,
        },
        6 => BpfCall::Freeze { fd: d.i32()? },
        7 => {
            let prog_type = d.u32()?;
            let insns = dec_insns(d)?;
            BpfCall::ProgLoad {
                prog_type,
                insns,
                name: d.str()?,
                license: d.str()?,
                expected_attach_type: d.u32()?,
                prog_flags: d.u32()?,
            }
        }
        8 => BpfCall::BindMap {
            prog_fd: d.i32()?,
            map_fd: d.i32()?,
        },
        9 => BpfCall::Pin {
            fd: d.i32()?,
            path: d.str()?,
        },
        10 => BpfCall::Get {
            path: d.str()?,
            flags: d.u32()?,
        },
        11 => BpfCall::NextId {
            kind: d.kind()?,
            start: d.u32()?,
        },
        12 => BpfCall::FdById {
            kind: d.kind()?,
            id: d.u32()?,
            flags: d.u32()?,
        },
        13 => BpfCall::Info { fd: d.i32()? },
        14 => BpfCall::Raw {
            cmd: d.u32()?,
            attr: d.bytes()?,
            size: d.u32()?,
        },
        15 => BpfCall::TestRun(dec_test_run(d)?),
        16 => BpfCall::BtfLoad { data: d.bytes()? },
        17 => {
            let mut a = sim::ProgLoadAttr::new(d.u32()?, &dec_insns(d)?);
            a.license = d.str()?;
            a.prog_name = d
                .bytes()?
                .try_into()
                .map_err(|_| "prog_name is not 16 bytes")?;
            a.prog_flags = d.u32()?;
            a.expected_attach_type = d.u32()?;
            a.log_level = d.u32()?;
            a.prog_btf_fd = d.u32()?;
            a.func_info = d.bytes()?;
            a.func_info_rec_size = d.u32()?;
            a.func_info_cnt = d.u32()?;
            a.line_info = d.bytes()?;
            a.line_info_rec_size = d.u32()?;
            a.line_info_cnt = d.u32()?;
            BpfCall::ProgLoadFull(a)
        }
        18 => BpfCall::Records { fd: d.i32()? },
        t => return Err(format!("bad bpf call tag {t}")),
    })
}

fn enc_fs(e: &mut Enc, c: &FsCall) {
    match c {
        FsCall::MountBpffs(p) => e.u8(0).str(p),
        FsCall::Umount(p) => e.u8(1).str(p),
        FsCall::Mkdir(p, mode) => e.u8(2).str(p).u32(*mode),
        FsCall::Rmdir(p) => e.u8(3).str(p),
        FsCall::Unlink(p) => e.u8(4).str(p),
        FsCall::Link(a, b) => e.u8(5).str(a).str(b),
        FsCall::Rename(a, b) => e.u8(6).str(a).str(b),
    };
}

fn dec_fs(d: &mut Dec<'_>) -> DecResult<FsCall> {
    Ok(match d.u8()? {
        0 => FsCall::MountBpffs(d.str()?),
        1 => FsCall::Umount(d.str()?),
        2 => FsCall::Mkdir(d.str()?, d.u32()?),
        3 => FsCall::Rmdir(d.str()?),
        4 => FsCall::Unlink(d.str()?),
        5 => FsCall::Link(d.str()?, d.str()?),
        6 => FsCall::Rename(d.str()?, d.str()?),
        t => return Err(format!("bad fs call tag {t}")),
    })
}

/// The payload of a request.
pub fn encode_request(r: &Request) -> Vec<u8> {
    let mut e = Enc::default();
    match r {
        Request::Bpf(c) => enc_bpf(e.u8(0), c),
        Request::Fs(c) => enc_fs(e.u8(1), c),
        Request::Close(fd) => {
            e.u8(2).i32(*fd);
        }
        Request::Dup(fd) => {
            e.u8(3).i32(*fd);
        }
        Request::Fork => {
            e.u8(4);
        }
        Request::Exit => {
            e.u8(5);
        }
        Request::SendFd(fd) => {
            e.u8(6).i32(*fd);
        }
        Request::RecvFd => {
            e.u8(7);
        }
    }
    e.0
}

/// A request from its payload.
pub fn decode_request(b: &[u8]) -> DecResult<Request> {
    let mut d = Dec(b);
    let r = match d.u8()? {
        0 => Request::Bpf(dec_bpf(&mut d)?),
        1 => Request::Fs(dec_fs(&mut d)?),
        2 => Request::Close(d.i32()?),
        3 => Request::Dup(d.i32()?),
        4 => Request::Fork,
        5 => Request::Exit,
        6 => Request::SendFd(d.i32()?),
        7 => Request::RecvFd,
        t => return Err(format!("bad request tag {t}")),
    };
    d.end()?;
    Ok(r)
}

/// The payload of a reply.
pub fn encode_reply(r: &Reply) -> Vec<u8> {
    let mut e = Enc::default();
    match r {
        Err(errno) => {
            e.u8(0).i32(errno.0);
        }
        Ok(BpfRet::Fd(fd)) => {
            e.u8(1).i32(*fd);
        }
        Ok(BpfRet::Unit) => {
            e.u8(2);
        }
        Ok(BpfRet::Bytes(b)) => {
            e.u8(3).bytes(b);
        }
        Ok(BpfRet::Id(id)) => {
            e.u8(4).u32(*id);
        }
        Ok(BpfRet::Info {
            info,
            map_ids,
            xlated,
        }) => {
            e.u8(5).bytes(info).u32(map_ids.len() as u32);
            for id in map_ids {
                e.u32(*id);
            }
            e.bytes(xlated);
        }
        Ok(BpfRet::Raw { ret, attr }) => {
            e.u8(6).u64(*ret as u64).bytes(attr);
        }
        Ok(BpfRet::TestRun(o)) => {
            e.u8(7).i32(o.result.err().map_or(0, |e| e.0));
            e.u32(o.retval)
                .u32(o.duration)
                .u32(o.data_size_out)
                .bytes(&o.data_out)
                .u32(o.ctx_size_out)
                .bytes(&o.ctx_out);
        }
        Ok(BpfRet::Records {
            func_info,
            line_info,
        }) => {
            e.u8(8).bytes(func_info).bytes(line_info);
        }
    }
    e.0
}

/// A reply from its payload.
pub fn decode_reply(b: &[u8]) -> DecResult<Reply> {
    let mut d = Dec(b);
    let r = match d.u8()? {
        0 => Err(Errno(d.i32()?)),
        1 => Ok(BpfRet::Fd(d.i32()?)),
        2 => Ok(BpfRet::Unit),
        3 => Ok(BpfRet::Bytes(d.bytes()?)),
        4 => Ok(BpfRet::Id(d.u32()?)),
        5 => {
            let info = d.bytes()?;
            let n = d.u32()? as usize;
            let map_ids = (0..n).map(|_| d.u32()).collect::<DecResult<_>>()?;
            Ok(BpfRet::Info {
                info,
                map_ids,
                xlated: d.bytes()?,
            })
        }
        6 => Ok(BpfRet::Raw {
            ret: d.u64()? as i64,
            attr: d.bytes()?,
        }),
        7 => {
            let errno = d.i32()?;
            Ok(BpfRet::TestRun(TestRunOut {
                result: if errno == 0 {
                    Ok(())
                } else {
                    Err(Errno(errno))
                },
                retval: d.u32()?,
                duration: d.u32()?,
                data_size_out: d.u32()?,
                data_out: d.bytes()?,
                ctx_size_out: d.u32()?,
                ctx_out: d.bytes()?,
            }))
        }
        8 => Ok(BpfRet::Records {
            func_info: d.bytes()?,
            line_info: d.bytes()?,
        }),
        t => return Err(format!("bad reply tag {t}")),
    };
    d.end()?;
    Ok(r)
}

/// Sends one frame on `sock`, with `pass` attached as `SCM_RIGHTS` if given.
pub fn send_frame(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    pass: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4 + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(payload);
    let mut sent = 0;
    while sent < buf.len() {
        let rest = &buf[sent..];
        let mut iov = libc::iovec {
            iov_base: rest.as_ptr() as *mut libc::c_void,
            iov_len: rest.len(),
        };
        // Room for one fd's control message, aligned for `cmsghdr`.
        let mut cbuf = [0u64; 4];
        // SAFETY: `msghdr` is plain old data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let (Some(fd), 0) = (pass, sent) {
            // SAFETY: CMSG_SPACE only computes a size.
            let space = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) } as usize;
            assert!(space <= size_of_val(&cbuf));
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = space;
            // SAFETY: msg_control points at `space` writable, aligned bytes, so the first
            // header and its data (one c_int) lie inside `cbuf`.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd.as_raw_fd());
            }
        }
        // SAFETY: `msg` points at `iov` (valid for `rest.len()` readable bytes) and at
        // `cbuf` when a control message is set; both outlive the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        sent += n as usize;
    }
    Ok(())
}

/// Reads into `buf` with `recvmsg`, collecting any fd passed with the bytes (close-on-exec
/// if `cloexec`) and noting in `truncated` when the kernel could not hand over every fd
/// (`MSG_CTRUNC`: no room in the control buffer, or the fd table full).
fn recv_some(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    cloexec: bool,
    fds: &mut Vec<OwnedFd>,
    truncated: &mut bool,
) -> io::Result<usize> {
    let flags = if cloexec { libc::MSG_CMSG_CLOEXEC } else { 0 };
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut cbuf = [0u64; 8];
        // SAFETY: `msghdr` is plain old data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&cbuf);
        // SAFETY: `msg` points at `iov` (valid for `buf.len()` writable bytes) and at `cbuf`
        // (writable, aligned); both outlive the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // SAFETY: the kernel filled `msg_controllen` bytes of `cbuf` with well-formed control
        // messages; CMSG_FIRSTHDR/NXTHDR stay inside them and CMSG_DATA of an SCM_RIGHTS
        // message holds `(cmsg_len - CMSG_LEN(0)) / sizeof(int)` fds now installed in this
        // process, which nothing else owns.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
                    let n = ((*c).cmsg_len - libc::CMSG_LEN(0) as usize) / size_of::<libc::c_int>();
                    for i in 0..n {
                        fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            *truncated = true;
        }
        return Ok(n as usize);
    }
}

/// One frame as [`recv_frame_with`] received it.
#[derive(Debug)]
pub struct Received {
    /// The payload.
    pub payload: Vec<u8>,
    /// The fds that came with it, in order.
    pub fds: Vec<OwnedFd>,
    /// Whether the kernel dropped fds that came with it (`MSG_CTRUNC`; with a one-fd control
    /// buffer far below its size, that is the receiver's fd table being full).
    pub truncated: bool,
}

/// Receives one frame from `sock`; fds that come with it are installed close-on-exec if
/// `cloexec` (each `recvmsg` puts them at the lowest free fds).
pub fn recv_frame_with(sock: BorrowedFd<'_>, cloexec: bool) -> io::Result<Received> {
    let mut r = Received {
        payload: Vec::new(),
        fds: Vec::new(),
        truncated: false,
    };
    let mut recv_exact = |buf: &mut [u8]| {
        let mut got = 0;
        while got < buf.len() {
            match recv_some(sock, &mut buf[got..], cloexec, &mut r.fds, &mut r.truncated)? {
                0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                n => got += n,
            }
        }
        Ok(())
    };
    let mut len = [0u8; 4];
    recv_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::other(format!("frame of {len} bytes")));
    }
    let mut payload = vec![0u8; len];
    recv_exact(&mut payload)?;
    r.payload = payload;
    Ok(r)
}

/// Receives one frame from `sock`: its payload and the fds that came with it (close-on-exec).
/// A dropped fd (`MSG_CTRUNC`) is an error.
pub fn recv_frame(sock: BorrowedFd<'_>) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let r = recv_frame_with(sock, true)?;
    if r.truncated {
        return Err(io::Error::other("control message truncated"));
    }
    Ok((r.payload, r.fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let reqs = [
            Request::Bpf(BpfCall::MapCreate(
                MapCreateAttr::new(2, 4, 8, 16)
                    .name("m")
                    .flags(1024)
                    .inner(7),
            )),
            Request::Bpf(BpfCall::Lookup {
                fd: 3,
                key: vec![1, 2],
                value_len: 8,
                flags: 4,
            }),
            Request::Bpf(BpfCall::Update {
                fd: 3,
                key: vec![1],
                value: vec![],
                flags: 2,
            }),
            Request::Bpf(BpfCall::Delete {
                fd: -1,
                key: vec![9],
            }),
            Request::Bpf(BpfCall::NextKey {
                fd: 3,
                key: None,
                key_len: 4,
            }),
            Request::Bpf(BpfCall::NextKey {
                fd: 3,
                key: Some(vec![0; 4]),
                key_len: 4,
            }),
            Request::Bpf(BpfCall::LookupAndDelete {
                fd: 3,
                key: vec![1],
                value_len: 2,
            }),
            Request::Bpf(BpfCall::Freeze { fd: 3 }),
            Request::Bpf(BpfCall::ProgLoad {
                prog_type: 1,
                insns: vec![
                    Insn {
                        code: 0xb7,
                        dst: 0,
                        src: 15,
                        off: -3,
                        imm: -7,
                    },
                    Insn::exit(),
                ],
                name: "p".into(),
                license: "GPL".into(),
                expected_attach_type: 5,
                prog_flags: 32,
            }),
            Request::Bpf(BpfCall::BindMap {
                prog_fd: 4,
                map_fd: 3,
            }),
            Request::Bpf(BpfCall::Pin {
                fd: 3,
                path: "/tmp/x/m".into(),
            }),
            Request::Bpf(BpfCall::Get {
                path: "/tmp/x/m".into(),
                flags: 8,
            }),
            Request::Bpf(BpfCall::NextId {
                kind: Kind::Prog,
                start: 0,
            }),
            Request::Bpf(BpfCall::FdById {
                kind: Kind::Map,
                id: 5,
                flags: 16,
            }),
            Request::Bpf(BpfCall::Info { fd: 3 }),
            Request::Bpf(BpfCall::Raw {
                cmd: 0,
                attr: vec![1; 20],
                size: 168,
            }),
            Request::Bpf(BpfCall::TestRun(TestRunCall {
                prog_fd: 4,
                data_in: Some(vec![1; 14]),
                data_size_in: 15,
                data_out: None,
                data_size_out: 3,
                ctx_in: Some(vec![]),
                ctx_size_in: 24,
                ctx_out: Some(24),
                ctx_size_out: 20,
                repeat: 7,
                flags: 1,
                cpu: 2,
                batch_size: 9,
            })),
            Request::Bpf(BpfCall::TestRun(TestRunCall::default())),
            Request::Bpf(BpfCall::MapCreate({
                let mut a = MapCreateAttr::new(2, 4, 8, 16);
                (a.btf_fd, a.btf_key_type_id, a.btf_value_type_id) = (5, 6, 7);
                a.btf_vmlinux_value_type_id = 8;
                a
            })),
            Request::Bpf(BpfCall::BtfLoad {
                data: vec![0x9f, 0xeb, 1, 0],
            }),
            Request::Bpf(BpfCall::ProgLoadFull({
                let mut a = sim::ProgLoadAttr::new(6, &[Insn::exit()])
                    .name("f")
                    .license("MIT")
                    .attach_type(3)
                    .flags(1);
                a.log_level = 2;
                a.prog_btf_fd = 9;
                (a.func_info, a.func_info_rec_size, a.func_info_cnt) = (vec![1; 8], 8, 1);
                (a.line_info, a.line_info_rec_size, a.line_info_cnt) = (vec![2; 32], 16, 2);
                a
            })),
            Request::Bpf(BpfCall::Records { fd: 4 }),
            Request::Fs(FsCall::MountBpffs("/a".into())),
            Request::Fs(FsCall::Umount("/a".into())),
            Request::Fs(FsCall::Mkdir("/a".into(), 0o755)),
            Request::Fs(FsCall::Rmdir("/a".into())),
            Request::Fs(FsCall::Unlink("/a".into())),
            Request::Fs(FsCall::Link("/a".into(), "/b".into())),
            Request::Fs(FsCall::Rename("/a".into(), "/b".into())),
            Request::Close(3),
            Request::Dup(4),
            Request::Fork,
            Request::Exit,
            Request::SendFd(5),
            Request::RecvFd,
        ];
        for r in reqs {
            assert_eq!(decode_request(&encode_request(&r)), Ok(r));
        }
        let replies = [
            Err(Errno(22)),
            Ok(BpfRet::Fd(3)),
            Ok(BpfRet::Unit),
            Ok(BpfRet::Bytes(vec![1, 2, 3])),
            Ok(BpfRet::Id(77)),
            Ok(BpfRet::Info {
                info: vec![1; 10],
                map_ids: vec![4, 5],
                xlated: vec![2; 16],
            }),
            Ok(BpfRet::Raw {
                ret: -1,
                attr: vec![0; 8],
            }),
            Ok(BpfRet::TestRun(TestRunOut {
                result: Err(Errno(28)),
                retval: 2,
                duration: 100,
                data_size_out: 60,
                data_out: vec![7; 20],
                ctx_size_out: 24,
                ctx_out: vec![],
            })),
            Ok(BpfRet::TestRun(TestRunOut::default())),
            Ok(BpfRet::Records {
                func_info: vec![1; 8],
                line_info: vec![],
            }),
        ];
        for r in replies {
            assert_eq!(decode_reply(&encode_reply(&r)), Ok(r));
        }
        assert!(decode_request(&[0, 99]).is_err());
        assert!(decode_request(&[2, 1, 0]).is_err());
    }
}

//! The simulated kernel behind the [`Backend`] interface.

use sim::{Cred, Errno, Kernel, KernelConfig, Pid, UserBufs};

use super::{Backend, BpfCall, BpfRet, FsCall, Kind, ProcId, TestRunCall, TestRunOut};

/// [`Backend`] over a [`sim::Kernel`]. Process `ProcId(n)` is pid `n`.
#[derive(Debug)]
pub struct SimBackend {
    /// The simulated machine.
    pub k: Kernel,
}

impl SimBackend {
    /// A fresh simulated machine with `cfg`.
    pub fn new(cfg: KernelConfig) -> SimBackend {
        SimBackend {
            k: Kernel::new(cfg),
        }
    }
}

impl Default for SimBackend {
    fn default() -> Self {
        SimBackend::new(KernelConfig::default())
    }
}

fn pid(p: ProcId) -> Pid {
    Pid(p.0)
}

impl Backend for SimBackend {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn scratch_dir(&self) -> &str {
        "/tmp"
    }

    fn spawn(&mut self, root: bool) -> Result<ProcId, String> {
        let cred = if root {
            Cred::ROOT
        } else {
            Cred::user(65534, 65534)
        };
        Ok(ProcId(self.k.spawn("proc", cred).0))
    }

    fn fork(&mut self, p: ProcId) -> Result<ProcId, Errno> {
        self.k.fork(pid(p)).map(|c| ProcId(c.0))
    }

    fn exit(&mut self, p: ProcId) -> Result<(), Errno> {
        self.k.exit(pid(p))
    }

    fn close(&mut self, p: ProcId, fd: i32) -> Result<(), Errno> {
        self.k.close(pid(p), fd)
    }

    fn dup(&mut self, p: ProcId, fd: i32) -> Result<i32, Errno> {
        self.k.dup(pid(p), fd)
    }

    fn pass_fd(&mut self, from: ProcId, fd: i32, to: ProcId) -> Result<i32, Errno> {
        self.k.pass_fd(pid(from), fd, pid(to))
    }

    fn bpf(&mut self, p: ProcId, call: &BpfCall) -> Result<BpfRet, Errno> {
        let p = pid(p);
        let k = &mut self.k;
        match call {
            BpfCall::MapCreate(a) => k.map_create(p, a).map(BpfRet::Fd),
            BpfCall::Lookup {
                fd,
                key,
                value_len,
                flags,
            } => {
                let mut v = vec![0; *value_len];
                k.map_lookup_elem(p, *fd, key, &mut v, *flags)
                    .map(|()| BpfRet::Bytes(v))
            }
            BpfCall::Update {
                fd,
                key,
                value,
                flags,
            } => k
                .map_update_elem(p, *fd, key, value, *flags)
                .map(|()| BpfRet::Unit),
            BpfCall::Delete { fd, key } => k.map_delete_elem(p, *fd, key).map(|()| BpfRet::Unit),
            BpfCall::NextKey { fd, key, key_len } => {
                let mut next = vec![0; *key_len];
                k.map_get_next_key(p, *fd, key.as_deref(), &mut next)
                    .map(|()| BpfRet::Bytes(next))
            }
            BpfCall::LookupAndDelete { fd, key, value_len } => {
                let mut v = vec![0; *value_len];
                k.map_lookup_and_delete_elem(p, *fd, key, &mut v)
                    .map(|()| BpfRet::Bytes(v))
            }
            BpfCall::Freeze { fd } => k.map_freeze(p, *fd).map(|()| BpfRet::Unit),
            BpfCall::ProgLoad { .. } => {
                let a = call.prog_load_attr().expect("a ProgLoad call");
                k.prog_load(p, &a).map(BpfRet::Fd)
            }
            BpfCall::BindMap { prog_fd, map_fd } => {
                k.prog_bind_map(p, *prog_fd, *map_fd).map(|()| BpfRet::Unit)
            }
            BpfCall::Pin { fd, path } => k.obj_pin(p, *fd, path).map(|()| BpfRet::Unit),
            BpfCall::Get { path, flags } => k.obj_get(p, path, *flags).map(BpfRet::Fd),
            BpfCall::NextId {
                kind: Kind::Map,
                start,
            } => k.map_get_next_id(p, *start).map(BpfRet::Id),
            BpfCall::NextId {
                kind: Kind::Prog,
                start,
            } => k.prog_get_next_id(p, *start).map(BpfRet::Id),
            BpfCall::FdById {
                kind: Kind::Map,
                id,
                flags,
            } => k.map_get_fd_by_id(p, *id, *flags).map(BpfRet::Fd),
            BpfCall::FdById {
                kind: Kind::Prog,
                id,
                ..
            } => k.prog_get_fd_by_id(p, *id).map(BpfRet::Fd),
            BpfCall::Info { fd } => k.obj_get_info_by_fd(p, *fd).map(|i| BpfRet::Info {
                info: i.info,
                map_ids: i.map_ids,
                xlated: i.xlated,
            }),
            BpfCall::Raw { cmd, attr, size } => {
                let mut a = attr.clone();
                let ret = k.bpf(p, *cmd, &mut a, *size, &mut UserBufs::new())?;
                Ok(BpfRet::Raw { ret, attr: a })
            }
            BpfCall::TestRun(c) => {
                let out = test_run(k, p, c);
                out.result.map(|()| BpfRet::TestRun(out))
            }
            BpfCall::BtfLoad { data } => k.btf_load(p, data).map(BpfRet::Fd),
            BpfCall::ProgLoadFull(a) => k.prog_load(p, a).map(BpfRet::Fd),
            BpfCall::Records { fd } => records(k, p, *fd),
        }
    }

    fn prog_test_run(&mut self, p: ProcId, call: &TestRunCall) -> Result<TestRunOut, Errno> {
        Ok(test_run(&mut self.k, pid(p), call))
    }

    fn fs(&mut self, p: ProcId, call: &FsCall) -> Result<(), Errno> {
        let p = pid(p);
        let k = &mut self.k;
        match call {
            FsCall::MountBpffs(path) => k.mount_bpffs(p, path).map(drop),
            FsCall::Umount(path) => k.umount(p, path),
            FsCall::Mkdir(path, mode) => k.mkdir(p, path, *mode),
            FsCall::Rmdir(path) => k.rmdir(p, path),
            FsCall::Unlink(path) => k.unlink(p, path),
            FsCall::Link(old, new) => k.link(p, old, new),
            FsCall::Rename(old, new) => k.rename(p, old, new),
        }
    }

    fn id_exists(&mut self, kind: Kind, id: u32) -> bool {
        match kind {
            Kind::Map => self.k.map_by_id(id).is_some(),
            Kind::Prog => self.k.prog_by_id(id).is_some(),
        }
    }

    fn settle(&mut self, done: &mut dyn FnMut(&mut dyn Backend) -> bool, _timeout_ms: u64) -> bool {
        self.k.synchronize();
        done(self)
    }
}

/// One `OBJ_GET_INFO_BY_FD` of `fd` with `info` as the user's info struct and two record
/// buffers after it (user buffers 1 and 2).
fn info_call(
    k: &mut Kernel,
    p: Pid,
    fd: i32,
    info: &mut [u8],
    fi: &mut [u8],
    li: &mut [u8],
) -> Result<(), Errno> {
    let mut m = UserBufs::new();
    let i = m.output(info);
    m.output(fi);
    m.output(li);
    let mut a = super::prog_info_attr(fd, i);
    let len = a.1;
    k.bpf(
        p,
        sim::uapi::cmd::OBJ_GET_INFO_BY_FD,
        &mut a.0[..len],
        len as u32,
        &mut m,
    )
    .map(drop)
}

/// [`BpfCall::Records`]: learn the counts, then fetch the records.
fn records(k: &mut Kernel, p: Pid, fd: i32) -> Result<BpfRet, Errno> {
    let mut probe = super::records_request(0, 0, 0, 0);
    info_call(k, p, fd, &mut probe, &mut [], &mut [])?;
    let (nfi, nli) = super::record_counts(&probe);
    let mut fi = vec![0u8; 8 * nfi as usize];
    let mut li = vec![0u8; 16 * nli as usize];
    let mut req = super::records_request(nfi, UserBufs::addr(1), nli, UserBufs::addr(2));
    info_call(k, p, fd, &mut req, &mut fi, &mut li)?;
    Ok(BpfRet::Records {
        func_info: fi,
        line_info: li,
    })
}

/// `BPF_PROG_TEST_RUN` through the raw entry point, with the same attr bytes the agent passes
/// to the kernel ([`TestRunCall::attr`]); the buffers are [`UserBufs`] buffers.
fn test_run(k: &mut Kernel, p: Pid, c: &TestRunCall) -> TestRunOut {
    let mut data_out = vec![0u8; c.data_out.unwrap_or(0) as usize];
    let mut ctx_out = vec![0u8; c.ctx_out.unwrap_or(0) as usize];
    let (result, attr) = {
        let mut m = UserBufs::new();
        let din = c.data_in.as_deref().map_or(0, |d| m.input(d));
        let dout = if c.data_out.is_some() {
            m.output(&mut data_out)
        } else {
            0
        };
        let cin = c.ctx_in.as_deref().map_or(0, |d| m.input(d));
        let cout = if c.ctx_out.is_some() {
            m.output(&mut ctx_out)
        } else {
            0
        };
        let a = c.attr(din, dout, cin, cout);
        let len = a.1;
        let mut bytes = a.0;
        let r = k.bpf(
            p,
            sim::uapi::cmd::PROG_TEST_RUN,
            &mut bytes[..len],
            len as u32,
            &mut m,
        );
        (r.map(drop), bytes)
    };
    TestRunOut::from_attr(result, &attr, data_out, ctx_out)
}

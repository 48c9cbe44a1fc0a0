//! The ELF loader's kernel interface ([`sim::loader::load::LoadSys`]) over any [`Backend`]:
//! the same loader loads an object into the simulator or into the real kernel.

use sim::loader::load::LoadSys;
use sim::maps::info::map_info as mi;
use sim::{Errno, MapCreateAttr, ProgLoadAttr, SysResult};

use super::{Backend, BpfCall, BpfRet, FsCall, ProcId};

/// Process `p` of backend `b`, as the loader's kernel.
pub struct BackendProc<'b> {
    /// The machine.
    pub b: &'b mut dyn Backend,
    /// The loading process.
    pub p: ProcId,
}

fn fd(r: Result<BpfRet, Errno>) -> SysResult<i32> {
    match r? {
        BpfRet::Fd(fd) => Ok(fd),
        other => panic!("a backend answered a fd-returning call with {other:?}"),
    }
}

fn unit(r: Result<BpfRet, Errno>) -> SysResult<()> {
    r.map(drop)
}

impl LoadSys for BackendProc<'_> {
    fn map_create(&mut self, a: &MapCreateAttr) -> SysResult<i32> {
        fd(self.b.bpf(self.p, &BpfCall::MapCreate(a.clone())))
    }

    fn map_update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        unit(self.b.bpf(
            self.p,
            &BpfCall::Update {
                fd,
                key: key.to_vec(),
                value: value.to_vec(),
                flags,
            },
        ))
    }

    fn map_freeze(&mut self, fd: i32) -> SysResult<()> {
        unit(self.b.bpf(self.p, &BpfCall::Freeze { fd }))
    }

    fn map_info(&mut self, fd: i32) -> SysResult<(u32, u32, u32, u32, u32)> {
        match self.b.bpf(self.p, &BpfCall::Info { fd })? {
            BpfRet::Info { info, .. } if info.len() >= mi::MAP_FLAGS + 4 => {
                let u = |o: usize| u32::from_le_bytes(info[o..o + 4].try_into().expect("4"));
                Ok((
                    u(mi::TYPE),
                    u(mi::KEY_SIZE),
                    u(mi::VALUE_SIZE),
                    u(mi::MAX_ENTRIES),
                    u(mi::MAP_FLAGS),
                ))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn prog_load(&mut self, a: &ProgLoadAttr) -> SysResult<i32> {
        if a.prog_btf_fd != 0 || !a.func_info.is_empty() || !a.line_info.is_empty() {
            return fd(self.b.bpf(self.p, &BpfCall::ProgLoadFull(a.clone())));
        }
        let call = BpfCall::ProgLoad {
            prog_type: a.prog_type,
            insns: a.insns.clone(),
            name: sim::maps::name_to_string(&a.prog_name),
            license: a.license.clone(),
            expected_attach_type: a.expected_attach_type,
            prog_flags: a.prog_flags,
        };
        fd(self.b.bpf(self.p, &call))
    }

    fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()> {
        unit(self.b.bpf(
            self.p,
            &BpfCall::Pin {
                fd,
                path: path.into(),
            },
        ))
    }

    fn obj_get(&mut self, path: &str) -> SysResult<i32> {
        fd(self.b.bpf(
            self.p,
            &BpfCall::Get {
                path: path.into(),
                flags: 0,
            },
        ))
    }

    fn unlink(&mut self, path: &str) -> SysResult<()> {
        self.b.fs(self.p, &FsCall::Unlink(path.into()))
    }

    fn close(&mut self, fd: i32) -> SysResult<()> {
        self.b.close(self.p, fd)
    }

    fn btf_load(&mut self, data: &[u8]) -> SysResult<i32> {
        fd(self.b.bpf(
            self.p,
            &BpfCall::BtfLoad {
                data: data.to_vec(),
            },
        ))
    }
}

//! Running a scenario on a backend, and the normalized trace it leaves.

use std::collections::{BTreeMap, BTreeSet};

use sim::prog::insn::{BPF_ALU64, BPF_MOV};
use sim::uapi::map_type;
use sim::{Errno, Insn, MapCreateAttr};

use super::parse::{AsmInsn, Line, ParseError, Step, asm, hex, map_type_of, prog_type_of};
use crate::backend::{Backend, BpfCall, BpfRet, FsCall, Kind, ProcId};

/// The fd an unbound name stands for: never open in a scenario's processes.
pub const UNBOUND_FD: i32 = 999;

/// How long the real kernel may take to finish deferred frees at a `sync` (ms).
pub const SETTLE_TIMEOUT_MS: u64 = 2000;

/// What a run produced: one normalized line per step, and at each `sync` the objects left.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// `LINE = RESULT`, ids and fds renumbered in order of appearance.
    pub trace: Vec<String>,
    /// After each `sync`: the normalized names of the scenario's objects that still exist.
    pub live_after_sync: Vec<BTreeSet<String>>,
}

impl Run {
    /// The trace as text.
    pub fn text(&self) -> String {
        self.trace.iter().map(|l| format!("{l}\n")).collect()
    }
}

/// What the runner knows about an fd name in a process.
#[derive(Clone, Debug)]
struct FdInfo {
    fd: i32,
    /// For maps: type, key size, value size.
    map: Option<(u32, u32, u32)>,
}

struct Runner<'b> {
    b: &'b mut dyn Backend,
    procs: BTreeMap<String, ProcId>,
    fds: BTreeMap<String, BTreeMap<String, FdInfo>>,
    /// Names bound to objects (for `@NAME`).
    objs: BTreeMap<String, (Kind, u32)>,
    /// Every object id seen, with its normalized name, in order of appearance.
    seen: BTreeMap<(Kind, u32), String>,
    counts: [usize; 2],
    fd_names: BTreeMap<(String, i32), String>,
    fd_counts: BTreeMap<String, usize>,
    bpffs: String,
    expect: Option<Vec<BTreeSet<String>>>,
    run: Run,
}

/// Run `lines` on `b`. With `expect` (the live sets another backend reached at each `sync`),
/// a `sync` waits, up to [`SETTLE_TIMEOUT_MS`], for this backend to reach the same state.
pub fn run(
    lines: &[Line],
    b: &mut dyn Backend,
    expect: Option<Vec<BTreeSet<String>>>,
) -> Result<Run, ParseError> {
    let bpffs = format!("{}/bpffs", b.scratch_dir().trim_end_matches('/'));
    let mut r = Runner {
        b,
        procs: BTreeMap::new(),
        fds: BTreeMap::new(),
        objs: BTreeMap::new(),
        seen: BTreeMap::new(),
        counts: [0, 0],
        fd_names: BTreeMap::new(),
        fd_counts: BTreeMap::new(),
        bpffs,
        expect,
        run: Run::default(),
    };
    for line in lines {
        let result = r.step(line).map_err(|msg| ParseError {
            line: line.number,
            msg,
        })?;
        r.run.trace.push(format!("{} = {result}", line.text));
    }
    Ok(r.run)
}

fn errno(e: Errno) -> String {
    e.name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("errno {}", e.0))
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Runner<'_> {
    fn obj_name(&mut self, kind: Kind, id: u32) -> String {
        if let Some(n) = self.seen.get(&(kind, id)) {
            return n.clone();
        }
        let (i, prefix) = match kind {
            Kind::Map => (0, "map"),
            Kind::Prog => (1, "prog"),
        };
        self.counts[i] += 1;
        let n = format!("{prefix}@{}", self.counts[i]);
        self.seen.insert((kind, id), n.clone());
        n
    }

    fn fd_name(&mut self, proc: &str, fd: i32) -> String {
        if let Some(n) = self.fd_names.get(&(proc.to_string(), fd)) {
            return n.clone();
        }
        let c = self.fd_counts.entry(proc.to_string()).or_default();
        *c += 1;
        let n = format!("fd@{c}");
        self.fd_names.insert((proc.to_string(), fd), n.clone());
        n
    }

    fn path(&self, p: &str) -> String {
        let scratch = self.bpffs.trim_end_matches("/bpffs");
        p.replace("$BPFFS", &self.bpffs)
            .replace("$SCRATCH", scratch)
    }

    fn proc(&self, name: &str) -> Result<ProcId, String> {
        self.procs
            .get(name)
            .copied()
            .ok_or(format!("no process {name:?}"))
    }

    fn fd(&self, proc: &str, name: &str) -> Result<FdInfo, String> {
        if let Ok(n) = name.parse::<i32>() {
            return Ok(FdInfo { fd: n, map: None });
        }
        // A name that is not bound (its create failed, or it was closed) is an fd that is not
        // open, so sequences may refer to it on purpose.
        let unbound = FdInfo {
            fd: UNBOUND_FD,
            map: None,
        };
        Ok(self
            .fds
            .get(proc)
            .and_then(|t| t.get(name))
            .cloned()
            .unwrap_or(unbound))
    }

    /// An id of `kind`: a number, or `@NAME` for the object NAME was bound to. Ids are per
    /// kind, so a NAME bound to an object of the other kind (or never bound) gives an id
    /// nothing has (`INT_MAX - 1`).
    fn id(&self, kind: Kind, s: &str) -> Result<u32, String> {
        match s.strip_prefix('@') {
            Some(name) => Ok(match self.objs.get(name) {
                Some(&(k, id)) if k == kind => id,
                _ => i32::MAX as u32 - 1,
            }),
            None => s.parse().map_err(|_| format!("bad id {s:?}")),
        }
    }

    /// The live set: which of the objects seen so far still exist.
    fn live(&mut self) -> BTreeSet<String> {
        let seen: Vec<((Kind, u32), String)> =
            self.seen.iter().map(|(k, v)| (*k, v.clone())).collect();
        seen.into_iter()
            .filter(|((k, id), _)| self.b.id_exists(*k, *id))
            .map(|(_, n)| n)
            .collect()
    }

    /// Bind `name` in `proc` to `fd`, learning what it refers to.
    fn bind(&mut self, proc: &str, name: Option<&String>, fd: i32) -> String {
        let p = self.procs[proc];
        let info = self.b.bpf(p, &BpfCall::Info { fd });
        let (obj, map) = match info {
            Ok(BpfRet::Info { info, .. }) if info.len() == sim::maps::info::MAP_INFO_SIZE => {
                let u = |o: usize| u32::from_le_bytes(info[o..o + 4].try_into().expect("4"));
                (Some((Kind::Map, u(4))), Some((u(0), u(8), u(12))))
            }
            Ok(BpfRet::Info { info, .. }) => (
                Some((
                    Kind::Prog,
                    u32::from_le_bytes(info[4..8].try_into().expect("4")),
                )),
                None,
            ),
            _ => (None, None),
        };
        let fdn = self.fd_name(proc, fd);
        let text = match obj {
            Some((k, id)) => format!("{fdn} <{}>", self.obj_name(k, id)),
            None => fdn,
        };
        if let Some(n) = name {
            self.fds
                .entry(proc.to_string())
                .or_default()
                .insert(n.clone(), FdInfo { fd, map });
            if let Some(o) = obj {
                self.objs.insert(n.clone(), o);
            }
        }
        text
    }

    fn step(&mut self, line: &Line) -> Result<String, String> {
        match &line.step {
            Step::Spawn { name, root } => {
                let p = self.b.spawn(*root)?;
                if self.procs.is_empty() {
                    // The scenario's bpffs mountpoint.
                    let dir = self.bpffs.clone();
                    self.b
                        .fs(p, &FsCall::Mkdir(dir, 0o755))
                        .map_err(|e| format!("mkdir $BPFFS: {e}"))?;
                }
                self.procs.insert(name.clone(), p);
                self.fds.insert(name.clone(), BTreeMap::new());
                Ok("ok".into())
            }
            Step::Fork { name, parent } => {
                let pp = self.proc(parent)?;
                match self.b.fork(pp) {
                    Ok(c) => {
                        self.procs.insert(name.clone(), c);
                        let table = self.fds.get(parent).cloned().unwrap_or_default();
                        self.fds.insert(name.clone(), table);
                        let inherited: Vec<((String, i32), String)> = self
                            .fd_names
                            .iter()
                            .filter(|((p, _), _)| p == parent)
                            .map(|((_, fd), n)| ((name.clone(), *fd), n.clone()))
                            .collect();
                        self.fd_counts.insert(
                            name.clone(),
                            self.fd_counts.get(parent).copied().unwrap_or(0),
                        );
                        self.fd_names.extend(inherited);
                        Ok("ok".into())
                    }
                    Err(e) => Ok(errno(e)),
                }
            }
            Step::Sync => {
                let expect = self
                    .expect
                    .as_ref()
                    .and_then(|e| e.get(self.run.live_after_sync.len()))
                    .cloned();
                let seen: Vec<((Kind, u32), String)> =
                    self.seen.iter().map(|(k, v)| (*k, v.clone())).collect();
                let mut done = |b: &mut dyn Backend| -> bool {
                    let live: BTreeSet<String> = seen
                        .iter()
                        .filter(|((k, id), _)| b.id_exists(*k, *id))
                        .map(|(_, n)| n.clone())
                        .collect();
                    expect.as_ref().is_none_or(|e| *e == live)
                };
                let settled = self.b.settle(&mut done, SETTLE_TIMEOUT_MS);
                let live = self.live();
                self.run.live_after_sync.push(live);
                Ok(if settled {
                    "ok".into()
                } else {
                    "timed out waiting for deferred frees".into()
                })
            }
            Step::Live => {
                let live = self.live();
                Ok(format!(
                    "[{}]",
                    live.into_iter().collect::<Vec<_>>().join(", ")
                ))
            }
            Step::Op {
                proc,
                bind,
                op,
                args,
                kv,
            } => self.op(proc, bind.as_ref(), op, args, kv),
        }
    }

    fn op(
        &mut self,
        proc: &str,
        bind: Option<&String>,
        op: &str,
        args: &[String],
        kv: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        let p = self.proc(proc)?;
        let arg = |i: usize| {
            args.get(i)
                .ok_or(format!("{op}: missing argument {}", i + 1))
        };
        let num = |k: &str, d: u64| -> Result<u64, String> {
            kv.get(k)
                .map(|v| parse_num(v))
                .transpose()
                .map(|v| v.unwrap_or(d))
        };
        let bytes = |k: &str| -> Result<Vec<u8>, String> {
            hex(kv.get(k).ok_or(format!("{op}: missing {k}="))?)
        };
        let fs = |s: &mut Self, call: FsCall| -> String {
            match s.b.fs(p, &call) {
                Ok(()) => "ok".into(),
                Err(e) => errno(e),
            }
        };
        let call = match op {
            "mount" => return Ok(fs(self, FsCall::MountBpffs(self.path(arg(0)?)))),
            "umount" => return Ok(fs(self, FsCall::Umount(self.path(arg(0)?)))),
            "mkdir" => {
                return Ok(fs(
                    self,
                    FsCall::Mkdir(self.path(arg(0)?), num("mode", 0o755)? as u32),
                ));
            }
            "rmdir" => return Ok(fs(self, FsCall::Rmdir(self.path(arg(0)?)))),
            "unlink" => return Ok(fs(self, FsCall::Unlink(self.path(arg(0)?)))),
            "link" => {
                return Ok(fs(
                    self,
                    FsCall::Link(self.path(arg(0)?), self.path(arg(1)?)),
                ));
            }
            "rename" => {
                return Ok(fs(
                    self,
                    FsCall::Rename(self.path(arg(0)?), self.path(arg(1)?)),
                ));
            }
            "exit" => {
                let r = self.b.exit(p);
                self.forget_proc(proc);
                return Ok(r.map(|()| "ok".into()).unwrap_or_else(errno));
            }
            "close" => {
                let f = self.fd(proc, arg(0)?)?;
                let r = self.b.close(p, f.fd);
                if let Some(t) = self.fds.get_mut(proc) {
                    t.remove(arg(0)?);
                }
                self.fd_names.remove(&(proc.to_string(), f.fd));
                return Ok(r.map(|()| "ok".into()).unwrap_or_else(errno));
            }
            "send" => {
                // `A: [NAME =] send FD B`: pass FD to process B (SCM_RIGHTS); NAME binds in B.
                let f = self.fd(proc, arg(0)?)?;
                let to_name = arg(1)?.clone();
                let to = self.proc(&to_name)?;
                return Ok(match self.b.pass_fd(p, f.fd, to) {
                    Ok(fd) => self.bind(&to_name, bind, fd),
                    Err(e) => errno(e),
                });
            }
            "keys" => {
                // Every key, by a get_next_key walk from NULL, printed as a sorted set: the
                // kernel's order depends on a random per-map seed.
                let f = self.fd(proc, arg(0)?)?;
                let key_len = f.map.map_or(4, |m| m.1 as usize);
                let mut keys = BTreeSet::new();
                let mut key = None;
                let end = loop {
                    match self.b.bpf(
                        p,
                        &BpfCall::NextKey {
                            fd: f.fd,
                            key: key.clone(),
                            key_len,
                        },
                    ) {
                        Ok(BpfRet::Bytes(k)) => {
                            if !keys.insert(hexs(&k)) || keys.len() > 1 << 16 {
                                break "a key repeated".to_string();
                            }
                            key = Some(k);
                        }
                        Ok(other) => break format!("{other:?}"),
                        Err(e) => break errno(e),
                    }
                };
                return Ok(format!(
                    "{{{}}} then {end}",
                    keys.into_iter().collect::<Vec<_>>().join(",")
                ));
            }
            "dup" => {
                let f = self.fd(proc, arg(0)?)?;
                return Ok(match self.b.dup(p, f.fd) {
                    Ok(fd) => self.bind(proc, bind, fd),
                    Err(e) => errno(e),
                });
            }
            "map_create" => {
                let t = arg(0)?;
                let ty = map_type_of(t).ok_or(format!("unknown map type {t:?}"))?;
                let mut a = MapCreateAttr::new(
                    ty,
                    num("key", 4)? as u32,
                    num("value", 4)? as u32,
                    num("max", 1)? as u32,
                )
                .flags(num("flags", 0)? as u32);
                if let Some(n) = kv.get("name") {
                    a = a.name(n);
                }
                if let Some(inner) = kv.get("inner") {
                    a = a.inner(self.fd(proc, inner)?.fd);
                }
                BpfCall::MapCreate(a)
            }
            "prog_load" => {
                let t = arg(0)?;
                let ty = prog_type_of(t).ok_or(format!("unknown program type {t:?}"))?;
                let insns = self.assemble(
                    proc,
                    kv.get("insns")
                        .map(String::as_str)
                        .unwrap_or("mov r0 0; exit"),
                )?;
                BpfCall::ProgLoad {
                    prog_type: ty,
                    insns,
                    name: kv.get("name").cloned().unwrap_or_default(),
                    license: kv.get("license").cloned().unwrap_or_else(|| "GPL".into()),
                    expected_attach_type: num("attach", 0)? as u32,
                    prog_flags: num("prog_flags", 0)? as u32,
                }
            }
            "pin" => BpfCall::Pin {
                fd: self.fd(proc, arg(0)?)?.fd,
                path: self.path(arg(1)?),
            },
            "get" => BpfCall::Get {
                path: self.path(arg(0)?),
                flags: num("flags", 0)? as u32,
            },
            "update" => {
                let f = self.fd(proc, arg(0)?)?;
                let value = match kv.get("value").and_then(|v| v.strip_prefix("fd:")) {
                    Some(n) => self.fd(proc, n)?.fd.to_le_bytes().to_vec(),
                    None => bytes("value")?,
                };
                BpfCall::Update {
                    fd: f.fd,
                    key: bytes("key")?,
                    value,
                    flags: num("flags", 0)?,
                }
            }
            "lookup" | "lookup_and_delete" => {
                let f = self.fd(proc, arg(0)?)?;
                let len = value_len(&f);
                if op == "lookup" {
                    BpfCall::Lookup {
                        fd: f.fd,
                        key: bytes("key")?,
                        value_len: len,
                        flags: num("flags", 0)?,
                    }
                } else {
                    BpfCall::LookupAndDelete {
                        fd: f.fd,
                        key: bytes("key")?,
                        value_len: len,
                    }
                }
            }
            "delete" => BpfCall::Delete {
                fd: self.fd(proc, arg(0)?)?.fd,
                key: bytes("key")?,
            },
            "next_key" => {
                let f = self.fd(proc, arg(0)?)?;
                let key = match kv.get("key").map(String::as_str) {
                    None | Some("null") => None,
                    Some(k) => Some(hex(k)?),
                };
                BpfCall::NextKey {
                    fd: f.fd,
                    key,
                    key_len: f.map.map_or(4, |m| m.1 as usize),
                }
            }
            "freeze" => BpfCall::Freeze {
                fd: self.fd(proc, arg(0)?)?.fd,
            },
            "bind" => BpfCall::BindMap {
                prog_fd: self.fd(proc, arg(0)?)?.fd,
                map_fd: self.fd(proc, arg(1)?)?.fd,
            },
            "info" => BpfCall::Info {
                fd: self.fd(proc, arg(0)?)?.fd,
            },
            "fd_by_id" | "next_id" => {
                let kind = match arg(0)?.as_str() {
                    "map" => Kind::Map,
                    "prog" => Kind::Prog,
                    k => return Err(format!("{op}: map or prog, not {k:?}")),
                };
                if op == "next_id" {
                    let start =
                        self.id(kind, kv.get("after").map(String::as_str).unwrap_or("0"))?;
                    return Ok(self.next_own_id(p, kind, start));
                }
                BpfCall::FdById {
                    kind,
                    id: self.id(kind, arg(1)?)?,
                    flags: num("flags", 0)? as u32,
                }
            }
            "raw" => {
                let cmd = parse_num(arg(0)?)? as u32;
                let attr = bytes("attr")?;
                let size = num("size", attr.len() as u64)? as u32;
                BpfCall::Raw { cmd, attr, size }
            }
            other => return Err(format!("unknown operation {other:?}")),
        };
        let r = self.b.bpf(p, &call);
        Ok(match r {
            Err(e) => errno(e),
            Ok(BpfRet::Fd(fd)) => self.bind(proc, bind, fd),
            Ok(BpfRet::Unit) => "ok".into(),
            Ok(BpfRet::Bytes(b)) => self.show_value(proc, &call, &b),
            Ok(BpfRet::Id(id)) => self.obj_name(Kind::Map, id),
            Ok(BpfRet::Info { info, map_ids, .. }) => self.show_info(&info, &map_ids),
            Ok(BpfRet::Raw { ret, .. }) => ret.to_string(),
            Ok(BpfRet::TestRun(o)) => format!("retval={} size={}", o.retval, o.data_size_out),
            Ok(BpfRet::Records {
                func_info,
                line_info,
            }) => format!(
                "func_info={} line_info={}",
                func_info.len() / 8,
                line_info.len() / 16
            ),
        })
    }

    /// `*_GET_NEXT_ID` from `start`, skipping objects the scenario did not create (other
    /// processes on a real machine create objects too).
    fn next_own_id(&mut self, p: ProcId, kind: Kind, mut start: u32) -> String {
        loop {
            match self.b.bpf(p, &BpfCall::NextId { kind, start }) {
                Err(e) => return errno(e),
                Ok(BpfRet::Id(id)) if self.seen.contains_key(&(kind, id)) => {
                    return self.obj_name(kind, id);
                }
                Ok(BpfRet::Id(id)) => start = id,
                Ok(other) => return format!("{other:?}"),
            }
        }
    }

    fn show_value(&mut self, proc: &str, call: &BpfCall, b: &[u8]) -> String {
        let fd = match call {
            BpfCall::Lookup { fd, .. } | BpfCall::LookupAndDelete { fd, .. } => *fd,
            _ => return hexs(b),
        };
        let ty = self
            .fds
            .get(proc)
            .and_then(|t| t.values().find(|f| f.fd == fd))
            .and_then(|f| f.map)
            .map(|m| m.0);
        let id = || u32::from_le_bytes(b.try_into().unwrap_or([0; 4]));
        match ty {
            Some(map_type::PROG_ARRAY) => self.obj_name(Kind::Prog, id()),
            Some(map_type::ARRAY_OF_MAPS | map_type::HASH_OF_MAPS) => {
                self.obj_name(Kind::Map, id())
            }
            _ => hexs(b),
        }
    }

    fn show_info(&mut self, info: &[u8], map_ids: &[u32]) -> String {
        let u = |o: usize| u32::from_le_bytes(info[o..o + 4].try_into().expect("4"));
        let name = |o: usize| -> String {
            info[o..o + 16]
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as char)
                .collect()
        };
        if info.len() == sim::maps::info::MAP_INFO_SIZE {
            let id = self.obj_name(Kind::Map, u(4));
            let t = map_type::name(u(0)).unwrap_or("?");
            format!(
                "{id} {t} name={} key={} value={} max={} flags={:#x}",
                name(24),
                u(8),
                u(12),
                u(16),
                u(20)
            )
        } else {
            let id = self.obj_name(Kind::Prog, u(4));
            let t = sim::uapi::prog_type::name(u(0)).unwrap_or("?");
            let maps: Vec<String> = map_ids
                .iter()
                .map(|&m| self.obj_name(Kind::Map, m))
                .collect();
            format!(
                "{id} {t} name={} tag={} map_ids=[{}]",
                name(64),
                hexs(&info[8..16]),
                maps.join(", ")
            )
        }
    }

    fn assemble(&self, proc: &str, text: &str) -> Result<Vec<Insn>, String> {
        let mut out = Vec::new();
        for i in asm(text)? {
            match i {
                AsmInsn::LdMap(r, m) => out.extend(Insn::ld_map_fd(r, self.fd(proc, &m)?.fd)),
                AsmInsn::LdMapValue(r, m, off) => {
                    out.extend(Insn::ld_map_value(r, self.fd(proc, &m)?.fd, off))
                }
                AsmInsn::Mov(r, imm) => out.push(Insn {
                    code: BPF_ALU64 | BPF_MOV,
                    dst: r,
                    src: 0,
                    off: 0,
                    imm,
                }),
                AsmInsn::Call(imm) => out.push(Insn::call_helper(imm)),
                AsmInsn::Ja(off) => out.push(Insn::ja(off)),
                AsmInsn::Exit => out.push(Insn::exit()),
                AsmInsn::Raw(code, dst, src, off, imm) => out.push(Insn {
                    code,
                    dst,
                    src,
                    off,
                    imm,
                }),
            }
        }
        Ok(out)
    }

    fn forget_proc(&mut self, proc: &str) {
        self.procs.remove(proc);
        self.fds.remove(proc);
        self.fd_names.retain(|(p, _), _| p != proc);
    }
}

fn value_len(f: &FdInfo) -> usize {
    match f.map {
        Some((map_type::PROG_ARRAY | map_type::ARRAY_OF_MAPS | map_type::HASH_OF_MAPS, _, _)) => 4,
        Some((_, _, v)) => v as usize,
        None => 8,
    }
}

fn parse_num(v: &str) -> Result<u64, String> {
    let r = match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => match v.strip_prefix("0o") {
            Some(o) => u64::from_str_radix(o, 8),
            None => v.parse(),
        },
    };
    r.map_err(|_| format!("bad number {v:?}"))
}

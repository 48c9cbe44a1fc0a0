//! Property test of the lifetime rules (spec B, C, D, F, G, K): random operation sequences
//! over a few processes run on the simulated kernel and on a small, independent reference
//! model written from the spec; after every operation the invariants must hold and the
//! observable state (listed ids, refcnt/usercnt, slot contents, fd numbers, errnos) must
//! agree. At teardown the only leftovers are the maps the kernel's prog_array clear race
//! leaks (spec C5/C6, kernel-observations section 4).
//!
//! Cases: `BPFSIM_PROPTEST_CASES` (default [`DEFAULT_CASES`]). Failures are recorded in
//! `sim/tests/it/proptest-regressions/lifetime_props.txt` and replayed first on later runs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use sim::uapi::{map_type, prog_type};
use sim::{Cred, Errno, Insn, Kernel, MapCreateAttr, ObjRef, Pid, ProgLoadAttr};

/// Cases per run unless `BPFSIM_PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 8192;
/// Where failing cases are persisted (replayed before new cases on every run).
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/proptest-regressions/lifetime_props.txt"
);
/// Slots of every prog_array and outer map; keys go one past it (E2BIG).
const SLOTS: u32 = 4;
/// At most this many live processes (spawn/fork beyond it do nothing).
const MAX_PROCS: usize = 6;
/// At most this many stacked mounts per mountpoint.
const MAX_STACK: usize = 3;
const MOUNTS: [&str; 2] = ["/sys/fs/bpf", "/tmp/b"];

static CASES: AtomicU64 = AtomicU64::new(0);
static OPS: AtomicU64 = AtomicU64::new(0);
/// Calls that failed on both sides with the same errno.
static FAILED: AtomicU64 = AtomicU64::new(0);
/// Maps the clear race leaked, over all cases.
static LEAKED: AtomicU64 = AtomicU64::new(0);

// ---------------------------------------------------------------------------------------------
// The reference model (from the spec, not from sim's code).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Array,
    ProgArray,
    Outer,
}

/// A model object: index into `Model::maps` / `Model::progs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum O {
    Map(usize),
    Prog(usize),
}

#[derive(Debug)]
struct MMap {
    kind: Kind,
    id: u32,
    refcnt: u64,
    usercnt: u64,
    /// prog_array: prog indices; outer: map indices.
    slots: Vec<Option<usize>>,
    clear_pending: bool,
    leaked: u64,
}

#[derive(Debug)]
struct MProg {
    id: u32,
    refcnt: u64,
    used: Vec<usize>,
}

#[derive(Clone, Copy, Debug)]
enum Work {
    /// C8/D3: after a grace period the program's maps are put.
    ProgFree(usize),
    /// C4/C7: the map's free puts what its slots hold.
    MapFree(usize),
    /// C5/C6: `prog_array_map_clear_deferred`: empty the slots, put the work's reference.
    Clear(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ent {
    /// fds 0-2: a terminal, not a bpf object.
    Other,
    /// An open file description.
    Desc(usize),
}

#[derive(Clone, Debug)]
struct MProc {
    pid: Pid,
    fds: BTreeMap<i32, Ent>,
    /// The fds with `FD_CLOEXEC` (G1: every new bpf fd; G2: not a dup).
    cloexec: BTreeSet<i32>,
}

#[derive(Debug)]
struct Desc {
    obj: O,
    refs: u32,
}

#[derive(Debug, Default)]
struct Inst {
    d: bool,
    pins: BTreeMap<String, O>,
}

/// Errno or success with an fd (or 0).
type R = Result<i32, Errno>;

#[derive(Debug, Default)]
struct Model {
    maps: Vec<MMap>,
    progs: Vec<MProg>,
    descs: Vec<Desc>,
    procs: Vec<MProc>,
    work: VecDeque<Work>,
    next_map_id: u32,
    next_prog_id: u32,
    /// Per mountpoint, the stacked bpffs instances (topmost last).
    stacks: [Vec<usize>; 2],
    /// `d` created in the host directory under the mountpoint.
    host_d: [bool; 2],
    insts: Vec<Inst>,
}

impl Model {
    fn new() -> Model {
        Model {
            next_map_id: 1,
            next_prog_id: 1,
            ..Default::default()
        }
    }

    // References (C1, C2, D1, D2).
    fn map_put(&mut self, m: usize) {
        let map = &mut self.maps[m];
        map.refcnt -= 1;
        if map.refcnt == 0 {
            // B4: the id goes now, the free later.
            self.work.push_back(Work::MapFree(m));
        }
    }
    fn map_put_uref(&mut self, m: usize) {
        let map = &mut self.maps[m];
        map.usercnt -= 1;
        if map.usercnt == 0 && map.kind == Kind::ProgArray {
            // prog_array_map_clear: bpf_map_inc + schedule_work; a second schedule while the
            // first is queued fails and the reference is never put.
            map.refcnt += 1;
            if map.clear_pending {
                map.leaked += 1;
            } else {
                map.clear_pending = true;
                self.work.push_back(Work::Clear(m));
            }
        }
        self.map_put(m);
    }
    fn prog_put(&mut self, p: usize) {
        let prog = &mut self.progs[p];
        prog.refcnt -= 1;
        if prog.refcnt == 0 {
            self.work.push_back(Work::ProgFree(p));
        }
    }
    fn get_uref(&mut self, o: O) {
        match o {
            O::Map(m) => {
                self.maps[m].refcnt += 1;
                self.maps[m].usercnt += 1;
            }
            O::Prog(p) => self.progs[p].refcnt += 1,
        }
    }
    fn put_uref(&mut self, o: O) {
        match o {
            O::Map(m) => self.map_put_uref(m),
            O::Prog(p) => self.prog_put(p),
        }
    }
    fn run(&mut self, w: Work) {
        match w {
            Work::ProgFree(p) => {
                for m in std::mem::take(&mut self.progs[p].used) {
                    self.map_put(m);
                }
            }
            Work::MapFree(m) => {
                let kind = self.maps[m].kind;
                for s in std::mem::take(&mut self.maps[m].slots)
                    .into_iter()
                    .flatten()
                {
                    match kind {
                        Kind::Outer => self.map_put(s),
                        _ => self.prog_put(s),
                    }
                }
            }
            Work::Clear(m) => {
                self.maps[m].clear_pending = false;
                let slots = std::mem::take(&mut self.maps[m].slots);
                self.maps[m].slots = vec![None; slots.len()];
                for p in slots.into_iter().flatten() {
                    self.prog_put(p);
                }
                self.map_put(m);
            }
        }
    }
    fn run_once(&mut self) {
        for _ in 0..self.work.len() {
            let w = self.work.pop_front().expect("counted");
            self.run(w);
        }
    }
    fn synchronize(&mut self) {
        while let Some(w) = self.work.pop_front() {
            self.run(w);
        }
    }

    // Fds (G1-G3).
    fn ent(&self, pi: usize, fd: i32) -> Option<Ent> {
        self.procs[pi].fds.get(&fd).copied()
    }
    fn obj_of(&self, pi: usize, fd: i32) -> Option<O> {
        match self.ent(pi, fd)? {
            Ent::Desc(d) => Some(self.descs[d].obj),
            Ent::Other => None,
        }
    }
    fn lowest_free(&self, pi: usize) -> i32 {
        (0..)
            .find(|fd| !self.procs[pi].fds.contains_key(fd))
            .expect("free fd")
    }
    /// A new description owning the reference the caller already took.
    fn install(&mut self, pi: usize, obj: O) -> i32 {
        self.descs.push(Desc { obj, refs: 1 });
        let fd = self.lowest_free(pi);
        self.procs[pi]
            .fds
            .insert(fd, Ent::Desc(self.descs.len() - 1));
        self.procs[pi].cloexec.insert(fd);
        fd
    }
    fn drop_ent(&mut self, e: Ent) {
        if let Ent::Desc(d) = e {
            self.descs[d].refs -= 1;
            if self.descs[d].refs == 0 {
                self.put_uref(self.descs[d].obj);
            }
        }
    }
    fn close(&mut self, pi: usize, fd: i32) -> R {
        let e = self.procs[pi].fds.remove(&fd).ok_or(Errno::EBADF)?;
        self.procs[pi].cloexec.remove(&fd);
        self.drop_ent(e);
        Ok(0)
    }
    /// `dup2(old, new)`: `new` shares `old`'s description (without `FD_CLOEXEC`); what `new`
    /// referred to is closed.
    fn dup2(&mut self, pi: usize, old: i32, new: i32) -> R {
        let e = self.ent(pi, old).ok_or(Errno::EBADF)?;
        if old == new {
            return Ok(new);
        }
        if let Ent::Desc(d) = e {
            self.descs[d].refs += 1;
        }
        self.procs[pi].cloexec.remove(&new);
        if let Some(displaced) = self.procs[pi].fds.insert(new, e) {
            self.drop_ent(displaced);
        }
        Ok(new)
    }
    /// `execve`: the close-on-exec fds are closed.
    fn exec(&mut self, pi: usize) {
        for fd in std::mem::take(&mut self.procs[pi].cloexec) {
            self.close(pi, fd).expect("open");
        }
    }
    /// `BPF_PROG_BIND_MAP`: one more `used_maps` entry, idempotent per map (C2).
    fn bind_map(&mut self, pi: usize, pfd: i32, mfd: i32) -> R {
        let p = self.prog_fd(pi, pfd)?;
        let m = self.map_fd(pi, mfd)?;
        if !self.progs[p].used.contains(&m) {
            self.progs[p].used.push(m);
            self.maps[m].refcnt += 1;
        }
        Ok(0)
    }
    fn dup(&mut self, pi: usize, fd: i32) -> R {
        let e = self.ent(pi, fd).ok_or(Errno::EBADF)?;
        if let Ent::Desc(d) = e {
            self.descs[d].refs += 1;
        }
        let new = self.lowest_free(pi);
        self.procs[pi].fds.insert(new, e);
        Ok(new)
    }
    fn fork(&mut self, pi: usize, pid: Pid) {
        let mut child = self.procs[pi].clone();
        child.pid = pid;
        for e in child.fds.values() {
            if let Ent::Desc(d) = e {
                self.descs[*d].refs += 1;
            }
        }
        self.procs.push(child);
    }
    fn exit(&mut self, pi: usize) {
        let p = self.procs.remove(pi);
        for e in p.fds.into_values() {
            self.drop_ent(e);
        }
    }
    fn spawn(&mut self, pid: Pid) {
        let fds = (0..3).map(|fd| (fd, Ent::Other)).collect();
        self.procs.push(MProc {
            pid,
            fds,
            cloexec: BTreeSet::new(),
        });
    }

    // Objects.
    fn map_fd(&self, pi: usize, fd: i32) -> Result<usize, Errno> {
        match self.ent(pi, fd).ok_or(Errno::EBADF)? {
            Ent::Desc(d) => match self.descs[d].obj {
                O::Map(m) => Ok(m),
                O::Prog(_) => Err(Errno::EINVAL),
            },
            Ent::Other => Err(Errno::EINVAL),
        }
    }
    fn prog_fd(&self, pi: usize, fd: i32) -> Result<usize, Errno> {
        match self.ent(pi, fd).ok_or(Errno::EBADF)? {
            Ent::Desc(d) => match self.descs[d].obj {
                O::Prog(p) => Ok(p),
                O::Map(_) => Err(Errno::EINVAL),
            },
            Ent::Other => Err(Errno::EINVAL),
        }
    }
    fn create(&mut self, pi: usize, kind: Kind, template: Option<i32>) -> R {
        if let Some(t) = template {
            // C7: template must be a map; of-maps EINVAL, prog_array ENOTSUPP; not held.
            match self.maps[self.map_fd(pi, t)?].kind {
                Kind::Array => {}
                Kind::Outer => return Err(Errno::EINVAL),
                Kind::ProgArray => return Err(Errno::ENOTSUPP),
            }
        }
        let slots = if kind == Kind::Array { 0 } else { SLOTS };
        self.maps.push(MMap {
            kind,
            id: self.next_map_id,
            refcnt: 1,
            usercnt: 1,
            slots: vec![None; slots as usize],
            clear_pending: false,
            leaked: 0,
        });
        self.next_map_id += 1;
        Ok(self.install(pi, O::Map(self.maps.len() - 1)))
    }
    fn load(&mut self, pi: usize, map_fds: &[i32]) -> R {
        let mut used = Vec::new();
        for &fd in map_fds {
            let m = self.map_fd(pi, fd)?;
            if !used.contains(&m) {
                used.push(m);
            }
        }
        for &m in &used {
            self.maps[m].refcnt += 1;
        }
        self.progs.push(MProg {
            id: self.next_prog_id,
            refcnt: 1,
            used,
        });
        self.next_prog_id += 1;
        Ok(self.install(pi, O::Prog(self.progs.len() - 1)))
    }
    fn by_id(&mut self, pi: usize, prog: bool, id: u32) -> R {
        let obj = if prog {
            let p = self.progs.iter().position(|p| p.id == id && p.refcnt > 0);
            O::Prog(p.ok_or(Errno::ENOENT)?)
        } else {
            let m = self.maps.iter().position(|m| m.id == id && m.refcnt > 0);
            O::Map(m.ok_or(Errno::ENOENT)?)
        };
        self.get_uref(obj);
        Ok(self.install(pi, obj))
    }
    fn slot_update(&mut self, pi: usize, kind: Kind, mfd: i32, key: u32, vfd: i32) -> R {
        let m = self.map_fd(pi, mfd)?;
        assert_eq!(self.maps[m].kind, kind, "generator picks by kind");
        if key >= SLOTS {
            return Err(Errno::E2BIG);
        }
        let old = if kind == Kind::ProgArray {
            let p = self.prog_fd(pi, vfd)?;
            self.progs[p].refcnt += 1;
            self.maps[m].slots[key as usize].replace(p)
        } else {
            let inner = self.map_fd(pi, vfd)?;
            if self.maps[inner].kind != Kind::Array {
                return Err(Errno::EINVAL);
            }
            self.maps[inner].refcnt += 1;
            self.maps[m].slots[key as usize].replace(inner)
        };
        self.put_slot(kind, old);
        Ok(0)
    }
    fn slot_delete(&mut self, pi: usize, kind: Kind, mfd: i32, key: u32) -> R {
        let m = self.map_fd(pi, mfd)?;
        if key >= SLOTS {
            return Err(Errno::E2BIG);
        }
        let old = self.maps[m].slots[key as usize]
            .take()
            .ok_or(Errno::ENOENT)?;
        self.put_slot(kind, Some(old));
        Ok(0)
    }
    fn put_slot(&mut self, kind: Kind, old: Option<usize>) {
        match (kind, old) {
            (Kind::ProgArray, Some(p)) => self.prog_put(p),
            (_, Some(m)) => self.map_put(m),
            (_, None) => {}
        }
    }

    // bpffs (F1-F5).
    /// The pins of the directory `path` names: `Err` if it is not a bpffs directory.
    fn dir(&mut self, p: &PathSel) -> Result<&mut BTreeMap<String, O>, Errno> {
        let Some(&top) = self.stacks[p.mnt].last() else {
            // The host directory: pins there are EPERM, a missing `d` is ENOENT.
            return Err(if p.nested && !self.host_d[p.mnt] {
                Errno::ENOENT
            } else {
                Errno::EPERM
            });
        };
        let inst = &mut self.insts[top];
        if p.nested && !inst.d {
            return Err(Errno::ENOENT);
        }
        Ok(&mut inst.pins)
    }
    fn pin(&mut self, pi: usize, fd: i32, p: &PathSel) -> R {
        let obj = self.obj_of(pi, fd).ok_or(Errno::EINVAL)?;
        let pins = self.dir(p)?;
        if pins.contains_key(&p.key()) {
            return Err(Errno::EEXIST);
        }
        pins.insert(p.key(), obj);
        self.get_uref(obj);
        Ok(0)
    }
    fn lookup(&mut self, p: &PathSel) -> Result<O, Errno> {
        match self.dir(p) {
            Ok(pins) => pins.get(&p.key()).copied().ok_or(Errno::ENOENT),
            Err(_) => Err(Errno::ENOENT),
        }
    }
    fn unlink(&mut self, p: &PathSel) -> R {
        self.lookup(p)?;
        let obj = self
            .dir(p)
            .expect("looked up")
            .remove(&p.key())
            .expect("pin");
        self.put_uref(obj);
        Ok(0)
    }
    fn obj_get(&mut self, pi: usize, p: &PathSel) -> R {
        let obj = self.lookup(p)?;
        self.get_uref(obj);
        Ok(self.install(pi, obj))
    }
    fn mkdir(&mut self, mnt: usize) -> R {
        let d = match self.stacks[mnt].last() {
            Some(&top) => &mut self.insts[top].d,
            None => &mut self.host_d[mnt],
        };
        if *d {
            return Err(Errno::EEXIST);
        }
        *d = true;
        Ok(0)
    }
    fn mount(&mut self, mnt: usize) {
        self.insts.push(Inst::default());
        self.stacks[mnt].push(self.insts.len() - 1);
    }
    fn umount(&mut self, mnt: usize) -> R {
        let top = self.stacks[mnt].pop().ok_or(Errno::EINVAL)?;
        for obj in std::mem::take(&mut self.insts[top].pins).into_values() {
            self.put_uref(obj);
        }
        Ok(0)
    }

    // Views for the generator and the comparison.
    fn fds_where(&self, pi: usize, f: impl Fn(O) -> bool) -> Vec<i32> {
        let p = &self.procs[pi];
        p.fds
            .iter()
            .filter_map(|(&fd, e)| match e {
                Ent::Desc(d) if f(self.descs[*d].obj) => Some(fd),
                _ => None,
            })
            .collect()
    }
    fn kind_of(&self, o: O) -> Option<Kind> {
        match o {
            O::Map(m) => Some(self.maps[m].kind),
            O::Prog(_) => None,
        }
    }
    fn listed_maps(&self) -> Vec<u32> {
        self.maps
            .iter()
            .filter(|m| m.refcnt > 0)
            .map(|m| m.id)
            .collect()
    }
    fn listed_progs(&self) -> Vec<u32> {
        self.progs
            .iter()
            .filter(|p| p.refcnt > 0)
            .map(|p| p.id)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Operations.

/// An index into some list of candidates; `valid == false` asks for an invalid one.
#[derive(Clone, Copy, Debug)]
struct Sel {
    idx: u8,
    valid: bool,
}

#[derive(Clone, Copy, Debug)]
struct PathSel {
    mnt: usize,
    nested: bool,
    n: u8,
}

impl PathSel {
    fn key(&self) -> String {
        format!("{}p{}", if self.nested { "d/" } else { "" }, self.n)
    }
    fn path(&self) -> String {
        format!("{}/{}", MOUNTS[self.mnt], self.key())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Spawn,
    Fork(u8),
    Exit(u8),
    CreateArray(u8),
    CreateProgArray(u8),
    CreateOuter(u8, Sel),
    Load(u8, Vec<Sel>),
    Pin(u8, Sel, PathSel),
    Mkdir(u8, usize),
    Unlink(u8, Sel, PathSel),
    ObjGet(u8, Sel, PathSel),
    Dup(u8, Sel),
    /// `dup2(fd, target)`: the target is an open fd (valid) or a free number.
    Dup2(u8, Sel, Sel),
    Close(u8, Sel),
    Exec(u8),
    BindMap(u8, Sel, Sel),
    ById(u8, bool, Sel),
    SlotUpdate(u8, Kind, Sel, u32, Sel),
    SlotDelete(u8, Kind, Sel, u32),
    Mount(usize),
    Umount(usize),
    Synchronize,
    RunPendingOnce,
}

fn sel() -> impl Strategy<Value = Sel> {
    (any::<u8>(), prop::bool::weighted(0.9)).prop_map(|(idx, valid)| Sel { idx, valid })
}

fn path_sel() -> impl Strategy<Value = PathSel> {
    (prop::bool::weighted(0.8), prop::bool::weighted(0.3), 0u8..4).prop_map(|(m, nested, n)| {
        PathSel {
            mnt: usize::from(!m),
            nested,
            n,
        }
    })
}

fn op() -> impl Strategy<Value = Op> {
    let p = any::<u8>;
    let slot_kind = prop_oneof![Just(Kind::ProgArray), Just(Kind::Outer)];
    prop_oneof![
        2 => Just(Op::Spawn),
        2 => p().prop_map(Op::Fork),
        2 => p().prop_map(Op::Exit),
        5 => p().prop_map(Op::CreateArray),
        5 => p().prop_map(Op::CreateProgArray),
        3 => (p(), sel()).prop_map(|(a, b)| Op::CreateOuter(a, b)),
        6 => (p(), prop::collection::vec(sel(), 0..=2)).prop_map(|(a, b)| Op::Load(a, b)),
        5 => (p(), sel(), path_sel()).prop_map(|(a, b, c)| Op::Pin(a, b, c)),
        2 => (p(), 0usize..2).prop_map(|(a, b)| Op::Mkdir(a, b)),
        3 => (p(), sel(), path_sel()).prop_map(|(a, b, c)| Op::Unlink(a, b, c)),
        2 => (p(), sel(), path_sel()).prop_map(|(a, b, c)| Op::ObjGet(a, b, c)),
        3 => (p(), sel()).prop_map(|(a, b)| Op::Dup(a, b)),
        6 => (p(), sel()).prop_map(|(a, b)| Op::Close(a, b)),
        2 => (p(), sel(), sel()).prop_map(|(a, b, c)| Op::Dup2(a, b, c)),
        1 => p().prop_map(Op::Exec),
        2 => (p(), sel(), sel()).prop_map(|(a, b, c)| Op::BindMap(a, b, c)),
        4 => (p(), any::<bool>(), sel()).prop_map(|(a, b, c)| Op::ById(a, b, c)),
        6 => (p(), slot_kind.clone(), sel(), 0..=SLOTS, sel())
            .prop_map(|(a, k, m, key, v)| Op::SlotUpdate(a, k, m, key, v)),
        2 => (p(), slot_kind, sel(), 0..=SLOTS).prop_map(|(a, k, m, key)| Op::SlotDelete(a, k, m, key)),
        2 => (0usize..2).prop_map(Op::Mount),
        2 => (0usize..2).prop_map(Op::Umount),
        2 => Just(Op::Synchronize),
        2 => Just(Op::RunPendingOnce),
    ]
}

/// Two to four processes, then the operations.
fn case() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (2usize..=4, prop::collection::vec(op(), 1..60))
}

// ---------------------------------------------------------------------------------------------
// Running an operation on both sides.

struct World {
    k: Kernel,
    m: Model,
    /// Harness process: mounts, id walks; never exits before teardown.
    root: Pid,
}

fn pick<T: Copy>(v: &[T], i: u8) -> Option<T> {
    (!v.is_empty()).then(|| v[usize::from(i) % v.len()])
}

fn array_attr() -> MapCreateAttr {
    MapCreateAttr::new(map_type::ARRAY, 4, 8, SLOTS).name("arr")
}

fn create_attr(kind: Kind, template: Option<i32>) -> MapCreateAttr {
    match kind {
        Kind::Array => array_attr(),
        Kind::ProgArray => MapCreateAttr::new(map_type::PROG_ARRAY, 4, 4, SLOTS).name("pa"),
        Kind::Outer => MapCreateAttr::new(map_type::ARRAY_OF_MAPS, 4, 4, SLOTS)
            .name("outer")
            .inner(template.expect("template")),
    }
}

fn check_eq(what: &str, sim: R, model: R) -> Result<(), TestCaseError> {
    if sim != model {
        return Err(TestCaseError::fail(format!(
            "{what}: sim returned {sim:?}, the reference model {model:?}"
        )));
    }
    if sim.is_err() {
        FAILED.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

impl World {
    fn new(nprocs: usize) -> World {
        let mut k = Kernel::default();
        let root = k.spawn("root", Cred::ROOT);
        k.mkdir(root, "/tmp/b", 0o755).expect("mkdir /tmp/b");
        k.mount_bpffs(root, MOUNTS[0]).expect("mount");
        let mut m = Model::new();
        m.mount(0);
        for _ in 0..nprocs {
            let pid = k.spawn("p", Cred::ROOT);
            m.spawn(pid);
        }
        World { k, m, root }
    }

    /// An fd of process `pi` matching `f` (valid), or one that is not open / not a bpf
    /// object (invalid): not open for even `idx`, fd 0 (a terminal) for odd.
    fn fd(&self, pi: usize, s: Sel, f: impl Fn(O) -> bool) -> i32 {
        let cands = self.m.fds_where(pi, f);
        match pick(&cands, s.idx) {
            Some(fd) if s.valid => fd,
            _ if s.idx % 2 == 1 && self.m.ent(pi, 0) == Some(Ent::Other) => 0,
            _ => (3..).find(|fd| self.m.ent(pi, *fd).is_none()).expect("fd"),
        }
    }

    /// A pinned path reachable now (valid), or `p` (which may or may not exist).
    fn pin_path(&self, s: Sel, p: PathSel) -> PathSel {
        let mut pins = Vec::new();
        for mnt in 0..2 {
            if let Some(&top) = self.m.stacks[mnt].last() {
                for key in self.m.insts[top].pins.keys() {
                    let (nested, n) = match key.strip_prefix("d/") {
                        Some(rest) => (true, rest),
                        None => (false, key.as_str()),
                    };
                    let n = n[1..].parse().expect("pN");
                    pins.push(PathSel { mnt, nested, n });
                }
            }
        }
        match pick(&pins, s.idx) {
            Some(q) if s.valid => q,
            _ => p,
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let n = self.m.procs.len();
        let w = op;
        // The process: by index among those holding an fd `$f` accepts (so that most
        // operations are valid), else among all; no process, no operation.
        macro_rules! pi {
            ($i:expr) => {
                pi!($i, |_| true)
            };
            ($i:expr, $f:expr) => {{
                let with: Vec<usize> = (0..n)
                    .filter(|&pi| !self.m.fds_where(pi, $f).is_empty())
                    .collect();
                match pick(&with, $i).or_else(|| (n > 0).then(|| usize::from($i) % n)) {
                    Some(pi) => pi,
                    None => return Ok(()),
                }
            }};
        }
        let is_map = |o| matches!(o, O::Map(_));
        let is_prog = |o| matches!(o, O::Prog(_));
        let desc = format!("{w:?}");
        match w {
            Op::Spawn => {
                if n < MAX_PROCS {
                    let pid = self.k.spawn("p", Cred::ROOT);
                    self.m.spawn(pid);
                }
            }
            Op::Fork(i) => {
                let pi = pi!(*i);
                if n < MAX_PROCS {
                    let pid = self.k.fork(self.m.procs[pi].pid).expect("fork");
                    self.m.fork(pi, pid);
                }
            }
            Op::Exit(i) => {
                let pi = pi!(*i);
                self.k.exit(self.m.procs[pi].pid).expect("exit");
                self.m.exit(pi);
            }
            Op::CreateArray(i) | Op::CreateProgArray(i) => {
                let pi = pi!(*i);
                let kind = if matches!(w, Op::CreateArray(_)) {
                    Kind::Array
                } else {
                    Kind::ProgArray
                };
                let r = self
                    .k
                    .map_create(self.m.procs[pi].pid, &create_attr(kind, None));
                check_eq(&desc, r, self.m.create(pi, kind, None))?;
            }
            Op::CreateOuter(i, t) => {
                let pi = pi!(*i);
                let pid = self.m.procs[pi].pid;
                let arrays = self
                    .m
                    .fds_where(pi, |o| self.m.kind_of(o) == Some(Kind::Array));
                // No array to use as template: make one for the occasion and close it after.
                let temp = t.valid && arrays.is_empty();
                let tfd = if temp {
                    let r = self.k.map_create(pid, &array_attr());
                    check_eq("template", r, self.m.create(pi, Kind::Array, None))?;
                    r.expect("template")
                } else if t.valid {
                    self.fd(pi, *t, is_map)
                } else {
                    self.fd(pi, *t, |_| false)
                };
                let r = self.k.map_create(pid, &create_attr(Kind::Outer, Some(tfd)));
                check_eq(&desc, r, self.m.create(pi, Kind::Outer, Some(tfd)))?;
                if temp {
                    let r = self.k.close(pid, tfd).map(|_| 0);
                    check_eq("close template", r, self.m.close(pi, tfd))?;
                }
            }
            Op::Load(i, sels) => {
                let pi = pi!(*i, is_map);
                let fds: Vec<i32> = sels.iter().map(|s| self.fd(pi, *s, is_map)).collect();
                let mut insns: Vec<Insn> = Vec::new();
                for &fd in &fds {
                    insns.extend(Insn::ld_map_fd(1, fd));
                }
                insns.extend([Insn::mov64_imm(0, 0), Insn::exit()]);
                let attr = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns).name("p");
                let r = self.k.prog_load(self.m.procs[pi].pid, &attr);
                check_eq(&format!("{desc} fds {fds:?}"), r, self.m.load(pi, &fds))?;
            }
            Op::Pin(i, s, p) => {
                let pi = pi!(*i, |_| true);
                let fd = self.fd(pi, *s, |_| true);
                let r = self.k.obj_pin(self.m.procs[pi].pid, fd, &p.path());
                check_eq(
                    &format!("{desc} fd {fd}"),
                    r.map(|_| 0),
                    self.m.pin(pi, fd, p),
                )?;
            }
            Op::Mkdir(i, mnt) => {
                let pi = pi!(*i);
                let path = format!("{}/d", MOUNTS[*mnt]);
                let r = self.k.mkdir(self.m.procs[pi].pid, &path, 0o755);
                check_eq(&desc, r.map(|_| 0), self.m.mkdir(*mnt))?;
            }
            Op::Unlink(i, s, p) => {
                let pi = pi!(*i);
                let p = &self.pin_path(*s, *p);
                let r = self.k.unlink(self.m.procs[pi].pid, &p.path());
                check_eq(&desc, r.map(|_| 0), self.m.unlink(p))?;
            }
            Op::ObjGet(i, s, p) => {
                let pi = pi!(*i);
                let p = &self.pin_path(*s, *p);
                let r = self.k.obj_get(self.m.procs[pi].pid, &p.path(), 0);
                check_eq(&desc, r, self.m.obj_get(pi, p))?;
            }
            Op::Dup(i, s) | Op::Close(i, s) => {
                let pi = pi!(*i, |_| true);
                let fd = self.fd(pi, *s, |_| true);
                let fd = if fd == 0 { 1000 } else { fd };
                let pid = self.m.procs[pi].pid;
                let (r, mr) = if matches!(w, Op::Dup(..)) {
                    (self.k.dup(pid, fd), self.m.dup(pi, fd))
                } else {
                    (self.k.close(pid, fd).map(|_| 0), self.m.close(pi, fd))
                };
                check_eq(&format!("{desc} fd {fd}"), r, mr)?;
            }
            Op::Dup2(i, s, t) => {
                let pi = pi!(*i, |_| true);
                let fd = self.fd(pi, *s, |_| true);
                let fd = if fd == 0 { 1000 } else { fd };
                let open: Vec<i32> = self.m.procs[pi].fds.keys().copied().collect();
                let target = match pick(&open, t.idx) {
                    Some(t2) if t.valid => t2,
                    _ => (3..).find(|f| !open.contains(f)).expect("free") + i32::from(t.idx % 3),
                };
                let r = self.k.dup2(self.m.procs[pi].pid, fd, target);
                let mr = self.m.dup2(pi, fd, target);
                check_eq(&format!("{desc} fd {fd} target {target}"), r, mr)?;
            }
            Op::Exec(i) => {
                let pi = pi!(*i);
                self.k.exec(self.m.procs[pi].pid, "p").expect("exec");
                self.m.exec(pi);
            }
            Op::BindMap(i, ps, ms) => {
                let pi = pi!(*i, is_prog);
                let pfd = self.fd(pi, *ps, is_prog);
                let mfd = self.fd(pi, *ms, is_map);
                let r = self.k.prog_bind_map(self.m.procs[pi].pid, pfd, mfd);
                let mr = self.m.bind_map(pi, pfd, mfd);
                check_eq(&format!("{desc} fds {pfd} {mfd}"), r.map(|_| 0), mr)?;
            }
            Op::ById(i, prog, s) => {
                let pi = pi!(*i);
                let listed = if *prog {
                    self.m.listed_progs()
                } else {
                    self.m.listed_maps()
                };
                let next = if *prog {
                    self.m.next_prog_id
                } else {
                    self.m.next_map_id
                };
                let id = match pick(&listed, s.idx) {
                    Some(id) if s.valid => id,
                    // A freed id (if any, else one never handed out) or id 0.
                    _ if s.idx % 3 == 0 => 0,
                    _ => (1..next).find(|id| !listed.contains(id)).unwrap_or(next),
                };
                let pid = self.m.procs[pi].pid;
                let r = if *prog {
                    self.k.prog_get_fd_by_id(pid, id)
                } else {
                    self.k.map_get_fd_by_id(pid, id, 0)
                };
                check_eq(&format!("{desc} id {id}"), r, self.m.by_id(pi, *prog, id))?;
            }
            Op::SlotUpdate(i, kind, ms, key, vs) => {
                let kind = *kind;
                let pi = pi!(*i, |o| self.m.kind_of(o) == Some(kind));
                let mfd = self.fd(pi, *ms, |o| self.m.kind_of(o) == Some(kind));
                let vfd = if kind == Kind::ProgArray {
                    self.fd(pi, *vs, is_prog)
                } else if vs.valid {
                    self.fd(pi, *vs, is_map)
                } else {
                    self.fd(pi, *vs, |_| false)
                };
                let pid = self.m.procs[pi].pid;
                let r = self.k.map_update_elem(
                    pid,
                    mfd,
                    &key.to_le_bytes(),
                    &(vfd as u32).to_le_bytes(),
                    0,
                );
                let what = format!("{desc} map fd {mfd} value fd {vfd}");
                check_eq(
                    &what,
                    r.map(|_| 0),
                    self.m.slot_update(pi, kind, mfd, *key, vfd),
                )?;
            }
            Op::SlotDelete(i, kind, ms, key) => {
                let kind = *kind;
                let pi = pi!(*i, |o| self.m.kind_of(o) == Some(kind));
                let mfd = self.fd(pi, *ms, |o| self.m.kind_of(o) == Some(kind));
                let pid = self.m.procs[pi].pid;
                let r = self.k.map_delete_elem(pid, mfd, &key.to_le_bytes());
                let mr = self.m.slot_delete(pi, kind, mfd, *key);
                check_eq(&format!("{desc} map fd {mfd}"), r.map(|_| 0), mr)?;
            }
            Op::Mount(mnt) => {
                if self.m.stacks[*mnt].len() < MAX_STACK {
                    let r = self.k.mount_bpffs(self.root, MOUNTS[*mnt]);
                    check_eq(&desc, r.map(|_| 0), Ok(0))?;
                    self.m.mount(*mnt);
                }
            }
            Op::Umount(mnt) => {
                let r = self.k.umount(self.root, MOUNTS[*mnt]);
                check_eq(&desc, r.map(|_| 0), self.m.umount(*mnt))?;
            }
            Op::Synchronize => {
                self.k.synchronize();
                self.m.synchronize();
            }
            Op::RunPendingOnce => {
                self.k.run_pending_once();
                self.m.run_once();
            }
        }
        Ok(())
    }

    /// Compare everything observable with the model.
    fn observe(&mut self) -> Result<(), String> {
        let bad = sim::invariants::check(&self.k);
        if !bad.is_empty() {
            return Err(format!("invariant violations:\n{}", bad.join("\n")));
        }
        let walk = |k: &mut Kernel, prog: bool, root: Pid| {
            let mut ids = Vec::new();
            let mut start = 0;
            loop {
                let r = if prog {
                    k.prog_get_next_id(root, start)
                } else {
                    k.map_get_next_id(root, start)
                };
                match r {
                    Ok(id) => {
                        ids.push(id);
                        start = id;
                    }
                    Err(Errno::ENOENT) => return Ok(ids),
                    Err(e) => return Err(format!("get_next_id: {e:?}")),
                }
            }
        };
        let (maps, progs) = (
            walk(&mut self.k, false, self.root)?,
            walk(&mut self.k, true, self.root)?,
        );
        if maps != self.m.listed_maps() || progs != self.m.listed_progs() {
            return Err(format!(
                "listed ids: sim maps {maps:?} progs {progs:?}, model maps {:?} progs {:?}",
                self.m.listed_maps(),
                self.m.listed_progs()
            ));
        }
        for mm in self.m.maps.iter().filter(|m| m.refcnt > 0) {
            let idx = self.k.map_by_id(mm.id).ok_or("listed map without object")?;
            let e = self.k.explain(ObjRef::Map(idx));
            if (e.refcnt, e.usercnt) != (mm.refcnt, mm.usercnt) {
                return Err(format!(
                    "map id {}: sim refcnt/usercnt {}/{}, model {}/{}\n{e}",
                    mm.id, e.refcnt, e.usercnt, mm.refcnt, mm.usercnt
                ));
            }
            let sim_slots: Vec<(u32, u32)> = self
                .k
                .map_slots(idx)
                .into_iter()
                .map(|(s, o)| (s, self.k.explain(o).id))
                .collect();
            let model_slots: Vec<(u32, u32)> = mm
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.map(|o| match mm.kind {
                        Kind::Outer => (i as u32, self.m.maps[o].id),
                        _ => (i as u32, self.m.progs[o].id),
                    })
                })
                .collect();
            if sim_slots != model_slots {
                return Err(format!(
                    "map id {} slots (slot, id): sim {sim_slots:?}, model {model_slots:?}",
                    mm.id
                ));
            }
        }
        for mp in self.m.progs.iter().filter(|p| p.refcnt > 0) {
            let idx = self
                .k
                .prog_by_id(mp.id)
                .ok_or("listed prog without object")?;
            let e = self.k.explain(ObjRef::Prog(idx));
            if e.refcnt != mp.refcnt {
                return Err(format!(
                    "prog id {}: sim refcnt {}, model {}\n{e}",
                    mp.id, e.refcnt, mp.refcnt
                ));
            }
        }
        Ok(())
    }

    /// Exit everything, unmount everything, synchronize: only the race's maps may be left.
    fn teardown(&mut self) -> Result<(), String> {
        while !self.m.procs.is_empty() {
            self.k
                .exit(self.m.procs[0].pid)
                .map_err(|e| e.to_string())?;
            self.m.exit(0);
        }
        for (mnt, target) in MOUNTS.iter().enumerate() {
            while !self.m.stacks[mnt].is_empty() {
                self.k
                    .umount(self.root, target)
                    .map_err(|e| e.to_string())?;
                self.m.umount(mnt).expect("mounted");
            }
        }
        self.k.synchronize();
        self.m.synchronize();
        self.observe()?;
        self.k.exit(self.root).map_err(|e| e.to_string())?;
        let bad = sim::invariants::check(&self.k);
        if !bad.is_empty() {
            return Err(format!("invariant violations:\n{}", bad.join("\n")));
        }
        let leaked: Vec<&MMap> = self.m.maps.iter().filter(|m| m.refcnt > 0).collect();
        if leaked.iter().any(|m| m.leaked != m.refcnt) || !self.m.listed_progs().is_empty() {
            return Err(format!("model left more than the race's leaks: {leaked:?}"));
        }
        let leaks = sim::invariants::leaks(&self.k);
        // One line per leaked map, in whatever order sim lists them.
        let ok = leaks.len() == leaked.len()
            && leaked.iter().all(|m| {
                leaks.iter().any(|l| {
                    l.contains(&format!(" id {} ", m.id))
                        && l.contains(&format!("refcnt {} ", m.leaked))
                        && l.contains("leaked by the kernel's prog_array clear race")
                })
            });
        LEAKED.fetch_add(leaked.len() as u64, Ordering::Relaxed);
        if !ok {
            let ids: Vec<u32> = leaked.iter().map(|m| m.id).collect();
            return Err(format!(
                "leaks: sim {leaks:#?}, model expects the race's maps {ids:?}"
            ));
        }
        Ok(())
    }
}

fn run_case(nprocs: usize, ops: &[Op]) -> Result<World, TestCaseError> {
    let mut w = World::new(nprocs);
    for (i, op) in ops.iter().enumerate() {
        OPS.fetch_add(1, Ordering::Relaxed);
        w.apply(op)
            .map_err(|e| TestCaseError::fail(format!("op {i} {op:?}: {e}")))?;
        w.observe()
            .map_err(|e| TestCaseError::fail(format!("after op {i} {op:?}: {e}")))?;
    }
    w.teardown()
        .map_err(|e| TestCaseError::fail(format!("teardown: {e}")))?;
    Ok(w)
}

#[test]
fn lifetime_rules_match_the_reference_model() {
    let cases = std::env::var("BPFSIM_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed = std::env::var("BPFSIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_11fe);
    eprintln!("lifetime_props: seed {seed} (BPFSIM_SEED replays it)");
    let config = Config {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let start = std::time::Instant::now();
    let result = runner.run(&case(), |(nprocs, ops)| {
        CASES.fetch_add(1, Ordering::Relaxed);
        run_case(nprocs, &ops).map(drop)
    });
    eprintln!(
        "lifetime_props: {} cases, {} operations ({} calls failed alike), {} maps leaked by \
         the prog_array clear race, in {:.1?}",
        CASES.load(Ordering::Relaxed),
        OPS.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
        LEAKED.load(Ordering::Relaxed),
        start.elapsed()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The same operations on two fresh kernels give byte-identical event logs and explanations.
#[test]
fn same_operations_give_identical_event_logs_and_explanations() {
    let s = |idx| Sel { idx, valid: true };
    let path = |n| PathSel {
        mnt: 0,
        nested: false,
        n,
    };
    let ops = vec![
        Op::Mount(0),
        Op::CreateArray(0),
        Op::CreateProgArray(0),
        Op::CreateOuter(0, s(0)),
        Op::Load(0, vec![s(0), s(1)]),
        Op::SlotUpdate(0, Kind::ProgArray, s(0), 1, s(0)),
        Op::SlotUpdate(0, Kind::Outer, s(0), 2, s(0)),
        Op::Fork(0),
        Op::Pin(1, s(3), path(1)),
        Op::Close(0, s(1)),
        Op::ById(1, false, s(1)),
        Op::Close(1, s(4)),
        Op::Exit(0),
        Op::Dup(0, s(0)),
        Op::BindMap(0, s(0), s(0)),
        Op::Dup2(0, s(0), s(1)),
        Op::Exec(0),
        Op::RunPendingOnce,
        Op::Unlink(0, s(0), path(1)),
        Op::Umount(0),
        Op::Synchronize,
    ];
    let run = || {
        let w = run_case(2, &ops).expect("the fixed sequence agrees with the model");
        let events: Vec<String> = w.k.events().iter().map(|e| format!("{e:?}")).collect();
        let explained: Vec<String> = (1..=64)
            .filter_map(|serial| w.k.explain_serial(serial))
            .map(|e| e.to_string())
            .collect();
        (events, explained)
    };
    let (a, b) = (run(), run());
    assert!(!a.0.is_empty() && !a.1.is_empty());
    assert_eq!(a.0.join("\n"), b.0.join("\n"), "event logs differ");
    assert_eq!(a.1.join("\n"), b.1.join("\n"), "explanations differ");
}

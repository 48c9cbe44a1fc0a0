//! Test support: a kernel with one root process, calls checked against the invariants.

use sim::invariants;
use sim::uapi::map_type;
use sim::{Cred, Errno, Insn, Kernel, MapCreateAttr, Pid, ProgLoadAttr};

/// A kernel plus a root process, checking every invariant after each step.
pub struct Sys {
    pub k: Kernel,
    pub root: Pid,
}

impl Sys {
    pub fn new() -> Sys {
        let mut k = Kernel::default();
        let root = k.spawn("test", Cred::ROOT);
        Sys { k, root }
    }

    /// Assert the invariants hold now.
    #[track_caller]
    pub fn check(&self) {
        let bad = invariants::check(&self.k);
        assert!(bad.is_empty(), "invariant violations:\n{}", bad.join("\n"));
    }

    /// Run `f` on the kernel, then check the invariants.
    #[track_caller]
    pub fn run<T>(&mut self, f: impl FnOnce(&mut Kernel) -> T) -> T {
        let r = f(&mut self.k);
        self.check();
        r
    }

    /// An ARRAY(4, 8, 10) map in `pid`.
    #[track_caller]
    pub fn array(&mut self, pid: Pid) -> i32 {
        self.run(|k| {
            k.map_create(
                pid,
                &MapCreateAttr::new(map_type::ARRAY, 4, 8, 10).name("arr"),
            )
        })
        .expect("array map")
    }

    /// Whether map id `id` is listed by MAP_GET_NEXT_ID.
    pub fn map_listed(&mut self, id: u32) -> bool {
        let root = self.root;
        self.k.map_get_next_id(root, id - 1) == Ok(id)
    }

    /// Whether prog id `id` is listed by PROG_GET_NEXT_ID.
    pub fn prog_listed(&mut self, id: u32) -> bool {
        let root = self.root;
        self.k.prog_get_next_id(root, id - 1) == Ok(id)
    }

    /// The id of the map or program behind `fd` of `pid`.
    pub fn id_of(&mut self, pid: Pid, fd: i32) -> u32 {
        let info = self.k.obj_get_info_by_fd(pid, fd).expect("info");
        info.u32(4)
    }
}

/// `r0 = 0; exit`.
pub fn trivial() -> Vec<Insn> {
    vec![Insn::mov64_imm(0, 0), Insn::exit()]
}

/// `r1 = map[fd]; r0 = 0; exit`: a program that references a map.
pub fn uses_map(fd: i32) -> Vec<Insn> {
    let mut v = Insn::ld_map_fd(1, fd).to_vec();
    v.extend([Insn::mov64_imm(0, 0), Insn::exit()]);
    v
}

/// Load `insns` as a socket filter named `name` in `pid`.
pub fn load(k: &mut Kernel, pid: Pid, name: &str, insns: &[Insn]) -> Result<i32, Errno> {
    k.prog_load(
        pid,
        &ProgLoadAttr::new(sim::uapi::prog_type::SOCKET_FILTER, insns).name(name),
    )
}

// Helpers for raw-attr calls and reference counts (attr_and_ids, fds, map_create, elements).

/// A kernel booted with `cfg` plus a root process.
pub fn sys_with(cfg: sim::KernelConfig) -> Sys {
    let mut k = Kernel::new(cfg);
    let root = k.spawn("test", Cred::ROOT);
    Sys { k, root }
}

impl Sys {
    /// Raw `bpf(cmd, attr, size)` as `pid` with `mem` as its memory, then the invariants.
    #[track_caller]
    pub fn raw(
        &mut self,
        pid: Pid,
        cmd: u32,
        attr: &mut [u8],
        size: u32,
        mem: &mut sim::UserBufs<'_>,
    ) -> Result<i64, Errno> {
        self.run(|k| k.bpf(pid, cmd, attr, size, mem))
    }

    /// `(refcnt, usercnt)` of the map whose id is `id`; `None` when no map has that id.
    pub fn map_counts(&self, id: u32) -> Option<(u64, u64)> {
        let (_, m) = self.k.map_id_table().find(|&(i, _)| i == id)?;
        let map = self.k.map(m)?;
        Some((map.refcnt, map.usercnt))
    }

    /// How many map ids are in use.
    pub fn live_maps(&self) -> usize {
        self.k.map_id_table().count()
    }
}

/// A `u32` key or value as bytes (little endian).
pub fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

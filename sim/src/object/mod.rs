//! Objects (maps, programs) and their reference counts, exactly as the kernel takes and drops
//! them (`kernel/bpf/syscall.c`: `bpf_map_inc`, `bpf_map_inc_with_uref`, `bpf_map_put`,
//! `bpf_map_put_uref`, `bpf_prog_inc`, `bpf_prog_put`).
//!
//! A map has `refcnt` (lifetime) and `usercnt` (user-space references: fds and pins). A program
//! has `refcnt`. When `refcnt` reaches zero the id is removed at once (`bpf_map_free_id`,
//! `bpf_prog_free_id`); what the kernel does later (a released program's maps are put after an
//! RCU grace period, an outer map's inner maps are put by the map's deferred free, a
//! prog_array's slots are cleared by a work item when its `usercnt` reaches zero) is queued as
//! [`Deferred`] work and runs at [`Kernel::synchronize`]. Every reference taken or dropped is
//! recorded in the [`EventLog`] with the [`Holder`] that took or dropped it.

mod events;
mod handle;
mod idr;
mod slab;

pub use events::{Event, EventKind, EventLog};
pub use handle::{MapIdx, ObjRef, ProgIdx};
pub use idr::Idr;
pub use slab::Slab;

use crate::kernel::Kernel;
use crate::maps::MapData;
use crate::task::{FileIdx, Pid};
use crate::vfs::Ino;

/// Who holds (or held) a reference on an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// An open file description, first installed as `fd` of `pid`.
    File {
        /// The description.
        file: FileIdx,
        /// The process it was opened by or closed in.
        pid: Pid,
        /// The fd number it had there.
        fd: i32,
    },
    /// A bpffs pin inode (one reference per inode, whatever its number of hard links).
    Pin {
        /// The inode.
        ino: Ino,
        /// A path it had when the reference was taken or dropped.
        path: std::sync::Arc<str>,
    },
    /// A loaded program's `used_maps` (ld_imm64 references and `BPF_PROG_BIND_MAP`).
    UsedBy {
        /// The program.
        prog: ProgIdx,
        /// Its id (0 once it was removed).
        prog_id: u32,
    },
    /// A slot of an outer map (array/hash of maps).
    InnerOf {
        /// The outer map.
        outer: MapIdx,
        /// Its id (0 once removed).
        outer_id: u32,
    },
    /// A slot of a prog_array.
    TailCallSlot {
        /// The prog_array.
        map: MapIdx,
        /// Its id.
        map_id: u32,
        /// The slot index.
        index: u32,
    },
    /// The reference a creating call holds before the object's first fd exists (dropped when
    /// installing that fd fails).
    NewObject,
    /// The temporary reference `prog_array_map_clear()` takes while its work item is queued.
    ClearWork,
    /// A reference the kernel takes and never drops: `prog_array_map_clear()` called again
    /// while its work item is still queued (`bpf_map_inc` then a failing `schedule_work`).
    /// Observed leaking maps on 6.18 (`../shared/spec/kernel-observations.md` section 4).
    LeakedClearWork,
}

/// Work the kernel defers past the current system call, run by [`Kernel::synchronize`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deferred {
    /// `bpf_prog_free_deferred` after an RCU grace period: put the program's maps, free it.
    ProgFree(ProgIdx),
    /// `bpf_map_free_deferred`: `ops->map_free`, which puts what the map holds (inner maps).
    MapFree(MapIdx),
    /// `prog_array_map_clear_deferred`: empty every slot, then put the work's reference.
    ProgArrayClear(MapIdx),
}

impl Kernel {
    pub(crate) fn log(&mut self, obj: ObjRef, kind: EventKind, holder: Option<Holder>) {
        if !self.events.enabled() {
            return;
        }
        let (serial, id, refcnt, usercnt) = match obj {
            ObjRef::Map(m) => {
                let m = &self.maps[m.0];
                (m.serial, m.id, m.refcnt, m.usercnt)
            }
            ObjRef::Prog(p) => {
                let p = &self.progs[p.0];
                (p.serial, p.id, p.refcnt, 0)
            }
        };
        let ev = Event {
            syscall: self.syscalls,
            serial,
            id,
            obj,
            kind,
            holder,
            refcnt,
            usercnt,
        };
        self.events.push(ev);
    }

    /// `bpf_map_inc`: one more `refcnt` (a program, an outer map, a work item).
    pub(crate) fn map_inc(&mut self, m: MapIdx, holder: Holder) {
        self.maps[m.0].refcnt += 1;
        self.log(ObjRef::Map(m), EventKind::Ref(1), Some(holder));
    }

    /// `bpf_map_inc_with_uref`: one more `refcnt` and `usercnt` (an fd or a pin).
    pub(crate) fn map_inc_with_uref(&mut self, m: MapIdx, holder: Holder) {
        let map = &mut self.maps[m.0];
        map.refcnt += 1;
        map.usercnt += 1;
        self.log(ObjRef::Map(m), EventKind::RefUref(1), Some(holder));
    }

    /// `bpf_map_put_with_uref`: `bpf_map_put_uref` (whose 1 -> 0 transition runs
    /// `ops->map_release_uref`), then `bpf_map_put`. Logged as one event after both.
    pub(crate) fn map_put_with_uref(&mut self, m: MapIdx, holder: Holder) {
        let map = &mut self.maps[m.0];
        map.usercnt -= 1;
        if map.usercnt == 0 {
            self.map_release_uref(m);
        }
        let map = &mut self.maps[m.0];
        map.refcnt -= 1;
        let gone = map.refcnt == 0;
        self.log(ObjRef::Map(m), EventKind::RefUref(-1), Some(holder));
        if gone {
            self.map_free_id(m);
        }
    }

    /// `bpf_map_put`: one less `refcnt`; at zero the id goes now and the free is deferred.
    pub(crate) fn map_put(&mut self, m: MapIdx, holder: Holder) {
        let map = &mut self.maps[m.0];
        map.refcnt -= 1;
        let gone = map.refcnt == 0;
        self.log(ObjRef::Map(m), EventKind::Ref(-1), Some(holder));
        if gone {
            self.map_free_id(m);
        }
    }

    /// `ops->map_release_uref` on `usercnt` 1 -> 0. Only prog_array does something observable
    /// here: `prog_array_map_clear()` takes a reference and queues the clearing work.
    fn map_release_uref(&mut self, m: MapIdx) {
        let MapData::ProgArray { clear_pending, .. } = &mut self.maps[m.0].data else {
            return;
        };
        if *clear_pending {
            // schedule_work() returns false: the bpf_map_inc below is never put.
            self.maps[m.0].refcnt += 1;
            self.maps[m.0].leaked_refs += 1;
            self.log(
                ObjRef::Map(m),
                EventKind::Ref(1),
                Some(Holder::LeakedClearWork),
            );
            return;
        }
        *clear_pending = true;
        self.map_inc(m, Holder::ClearWork);
        self.deferred.push_back(Deferred::ProgArrayClear(m));
    }

    /// `bpf_map_free_id` at `refcnt` zero, then `bpf_map_free_in_work`.
    fn map_free_id(&mut self, m: MapIdx) {
        let id = self.maps[m.0].id;
        self.map_ids.remove(id);
        self.maps[m.0].id = 0;
        self.log(ObjRef::Map(m), EventKind::IdRemoved(id), None);
        // bpf_map_free_in_work always queues the free; it is observable when the map holds
        // objects or a BTF object (whose id lives until the free runs).
        if self.maps[m.0].data.holds_objects() || self.maps[m.0].btf.is_some() {
            self.deferred.push_back(Deferred::MapFree(m));
        } else {
            // Nothing observable happens in the deferred free of a map that holds nothing.
            self.map_free(m);
        }
    }

    fn map_free(&mut self, m: MapIdx) {
        for (index, obj) in self.maps[m.0].data.take_held() {
            match obj {
                ObjRef::Map(inner) => self.map_put(
                    inner,
                    Holder::InnerOf {
                        outer: m,
                        outer_id: 0,
                    },
                ),
                ObjRef::Prog(p) => self.prog_put(
                    p,
                    Holder::TailCallSlot {
                        map: m,
                        map_id: 0,
                        index,
                    },
                ),
            }
        }
        self.log(ObjRef::Map(m), EventKind::Freed, None);
        if let Some(b) = self.maps.remove(m.0).and_then(|map| map.btf) {
            self.btf_put(b);
        }
    }

    /// `bpf_prog_inc`.
    pub(crate) fn prog_inc(&mut self, p: ProgIdx, holder: Holder) {
        self.progs[p.0].refcnt += 1;
        self.log(ObjRef::Prog(p), EventKind::Ref(1), Some(holder));
    }

    /// `bpf_prog_put`: at zero the id goes now; the program's maps are put after a grace
    /// period (`bpf_prog_put_deferred` -> RCU -> `bpf_prog_free_deferred`).
    pub(crate) fn prog_put(&mut self, p: ProgIdx, holder: Holder) {
        let prog = &mut self.progs[p.0];
        prog.refcnt -= 1;
        let gone = prog.refcnt == 0;
        self.log(ObjRef::Prog(p), EventKind::Ref(-1), Some(holder));
        if gone {
            let id = self.progs[p.0].id;
            self.prog_ids.remove(id);
            self.progs[p.0].id = 0;
            self.log(ObjRef::Prog(p), EventKind::IdRemoved(id), None);
            // __bpf_prog_put_noref: the BTF goes now, the maps after the grace period.
            if let Some(b) = self.progs[p.0].btf.take() {
                self.btf_put(b);
            }
            self.deferred.push_back(Deferred::ProgFree(p));
        }
    }

    fn run_deferred(&mut self, work: Deferred) {
        match work {
            Deferred::ProgFree(p) => {
                let used = std::mem::take(&mut self.progs[p.0].used_maps);
                for m in used {
                    self.map_put(
                        m,
                        Holder::UsedBy {
                            prog: p,
                            prog_id: 0,
                        },
                    );
                }
                self.log(ObjRef::Prog(p), EventKind::Freed, None);
                self.progs.remove(p.0);
            }
            Deferred::MapFree(m) => self.map_free(m),
            Deferred::ProgArrayClear(m) => {
                let cleared = match &mut self.maps[m.0].data {
                    MapData::ProgArray {
                        slots,
                        clear_pending,
                        ..
                    } => {
                        *clear_pending = false;
                        let mut out = Vec::new();
                        for (i, s) in slots.iter_mut().enumerate() {
                            if let Some(p) = s.take() {
                                out.push((i as u32, p));
                            }
                        }
                        out
                    }
                    _ => unreachable!("ProgArrayClear queued for a prog_array"),
                };
                let map_id = self.maps[m.0].id;
                for (index, p) in cleared {
                    self.prog_put(
                        p,
                        Holder::TailCallSlot {
                            map: m,
                            map_id,
                            index,
                        },
                    );
                }
                self.log(ObjRef::Map(m), EventKind::SlotsCleared, None);
                self.map_put(m, Holder::ClearWork);
            }
        }
    }

    /// Run every deferred release: RCU grace periods and the work items they queue, until
    /// nothing is pending (`synchronize_rcu()` + `flush_workqueue()`, repeated). What the
    /// kernel frees "15-25 ms later" happens here, at a point the test chooses.
    pub fn synchronize(&mut self) {
        while let Some(w) = self.deferred.pop_front() {
            self.run_deferred(w);
        }
    }

    /// Run only the work queued so far, one round (work queued by that work waits for the
    /// next call). Returns how many items ran.
    pub fn run_pending_once(&mut self) -> usize {
        let n = self.deferred.len();
        for _ in 0..n {
            let w = self.deferred.pop_front().expect("counted");
            self.run_deferred(w);
        }
        n
    }

    /// The work waiting for [`Kernel::synchronize`], oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &Deferred> {
        self.deferred.iter()
    }
}

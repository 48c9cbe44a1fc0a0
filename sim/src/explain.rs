//! Explanations, the thing no other tool has: for any object, who holds it now and the history
//! of every reference taken and dropped. "Why is my map still alive?" is answered by
//! [`Kernel::holders`]; "why did it die?" by [`Kernel::explain`]'s history.

use std::collections::BTreeMap;
use std::fmt;

use crate::kernel::Kernel;
use crate::maps::MapData;
use crate::object::{Deferred, Event, EventKind, Holder, MapIdx, ObjRef, ProgIdx};
use crate::task::{FileIdx, FileObj, Pid};

/// One current holder of an object and the references it holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HolderInfo {
    /// An open file description (one reference, and a user reference for maps), reachable
    /// through these fds.
    File {
        /// The description.
        file: FileIdx,
        /// Every (pid, fd) referring to it.
        fds: Vec<(Pid, i32)>,
        /// Readable.
        read: bool,
        /// Writable.
        write: bool,
    },
    /// A bpffs pin inode (one reference, and a user reference for maps).
    Pin {
        /// Its paths through the current mounts (empty if no mount reaches it).
        paths: Vec<String>,
    },
    /// A program's `used_maps` (one reference). `prog_id` 0: the program is gone and its maps
    /// are released at the next grace period.
    UsedBy {
        /// The program's id (0 if released).
        prog_id: u32,
        /// Its name.
        prog_name: String,
    },
    /// A slot of an outer map (one reference).
    InnerOf {
        /// The outer map's id (0 if it is being freed).
        outer_id: u32,
        /// The slot (array index, or position in hash order).
        slot: u32,
    },
    /// A prog_array slot (one reference).
    TailCallSlot {
        /// The prog_array's id.
        map_id: u32,
        /// The slot.
        index: u32,
    },
    /// The prog_array clear work item's temporary reference.
    ClearWork,
    /// References the kernel's prog_array clear race took and will never drop.
    LeakedClearWork {
        /// How many.
        count: u64,
    },
}

impl HolderInfo {
    /// (refcnt, usercnt) this holder accounts for.
    pub fn counts(&self, is_map: bool) -> (u64, u64) {
        let u = is_map as u64;
        match self {
            HolderInfo::File { .. } | HolderInfo::Pin { .. } => (1, u),
            HolderInfo::LeakedClearWork { count } => (*count, 0),
            _ => (1, 0),
        }
    }
}

impl fmt::Display for HolderInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HolderInfo::File {
                fds, read, write, ..
            } => {
                let mode = match (read, write) {
                    (true, true) => "rw",
                    (true, false) => "ro",
                    (false, true) => "wo",
                    _ => "--",
                };
                let list: Vec<String> = fds
                    .iter()
                    .map(|(p, fd)| format!("pid {p} fd {fd}"))
                    .collect();
                write!(f, "open file ({mode}): {}", list.join(", "))
            }
            HolderInfo::Pin { paths } if paths.is_empty() => {
                write!(f, "pin (not reachable through any mount)")
            }
            HolderInfo::Pin { paths } => write!(f, "pin {}", paths.join(", ")),
            HolderInfo::UsedBy {
                prog_id: 0,
                prog_name,
            } => {
                write!(
                    f,
                    "used_maps of released prog {prog_name:?} (dropped at the next grace period)"
                )
            }
            HolderInfo::UsedBy { prog_id, prog_name } => {
                write!(f, "used_maps of prog {prog_id} {prog_name:?}")
            }
            HolderInfo::InnerOf { outer_id: 0, slot } => {
                write!(
                    f,
                    "slot {slot} of a freed outer map (dropped at the next grace period)"
                )
            }
            HolderInfo::InnerOf { outer_id, slot } => {
                write!(f, "slot {slot} of outer map {outer_id}")
            }
            HolderInfo::TailCallSlot { map_id, index } => {
                write!(f, "slot {index} of prog_array {map_id}")
            }
            HolderInfo::ClearWork => {
                write!(f, "prog_array clear work (runs at the next grace period)")
            }
            HolderInfo::LeakedClearWork { count } => {
                write!(
                    f,
                    "{count} reference(s) leaked by the kernel's prog_array clear race"
                )
            }
        }
    }
}

/// Everything known about one object.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The object, if it still exists in the arena.
    pub obj: Option<ObjRef>,
    /// "map" or "prog".
    pub kind: &'static str,
    /// Creation serial.
    pub serial: u64,
    /// Current id (0: removed).
    pub id: u32,
    /// Name.
    pub name: String,
    /// `refcnt` now (0 if gone).
    pub refcnt: u64,
    /// `usercnt` now (maps).
    pub usercnt: u64,
    /// Current holders.
    pub holders: Vec<HolderInfo>,
    /// Every logged event about it.
    pub history: Vec<Event>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (self.obj, self.id) {
            (None, _) => "freed".to_string(),
            (Some(_), 0) => "id removed, release pending".to_string(),
            (Some(_), id) => format!("id {id}"),
        };
        write!(f, "{} #{}", self.kind, self.serial)?;
        if !self.name.is_empty() {
            write!(f, " {:?}", self.name)?;
        }
        write!(f, " ({state}): refcnt {}", self.refcnt)?;
        if self.kind == "map" {
            write!(f, ", usercnt {}", self.usercnt)?;
        }
        writeln!(f)?;
        if self.holders.is_empty() {
            writeln!(f, "  held by: nothing")?;
        } else {
            writeln!(f, "  held by:")?;
            for h in &self.holders {
                writeln!(f, "    {h}")?;
            }
        }
        writeln!(f, "  history:")?;
        for e in &self.history {
            writeln!(f, "    {}", describe(e))?;
        }
        Ok(())
    }
}

/// One event as a line of text.
pub fn describe(e: &Event) -> String {
    let who = match &e.holder {
        None => String::new(),
        // A program's map references are taken before it has an id and dropped after it lost it.
        Some(Holder::UsedBy { prog_id: 0, .. }) if matches!(e.kind, EventKind::Ref(d) if d > 0) => {
            " by used_maps of the program being loaded".to_string()
        }
        Some(h) => format!(" by {}", holder_text(h)),
    };
    let what = match e.kind {
        EventKind::Created(id) => format!("created with id {id}, first reference held{who}"),
        EventKind::Ref(d) => format!("refcnt {:+}{who}", d),
        EventKind::RefUref(d) => format!("refcnt and usercnt {:+}{who}", d),
        EventKind::IdRemoved(id) => format!("id {id} removed (refcnt reached 0)"),
        EventKind::SlotsCleared => "slots cleared (usercnt had reached 0)".to_string(),
        EventKind::Freed => "freed".to_string(),
    };
    format!(
        "[syscall {}] {what} -> refcnt {} usercnt {}",
        e.syscall, e.refcnt, e.usercnt
    )
}

fn holder_text(h: &Holder) -> String {
    match h {
        Holder::File { pid, fd, .. } => format!("fd {fd} of pid {pid}"),
        Holder::Pin { path, .. } => format!("pin {path}"),
        Holder::UsedBy { prog_id: 0, .. } => "used_maps of a released prog".into(),
        Holder::UsedBy { prog_id, .. } => format!("used_maps of prog {prog_id}"),
        Holder::InnerOf { outer_id: 0, .. } => "slot of a freed outer map".into(),
        Holder::InnerOf { outer_id, .. } => format!("slot of outer map {outer_id}"),
        Holder::TailCallSlot { map_id, index, .. } => {
            format!("slot {index} of prog_array {map_id}")
        }
        Holder::NewObject => "the creating call".into(),
        Holder::ClearWork => "prog_array clear work".into(),
        Holder::LeakedClearWork => "prog_array clear race (leaked)".into(),
    }
}

impl Kernel {
    /// Every current holder of `obj`, in a fixed order (files by pid and fd, pins, programs,
    /// outer maps, slots, work).
    pub fn holders(&self, obj: ObjRef) -> Vec<HolderInfo> {
        let mut out = Vec::new();
        let mut files: BTreeMap<FileIdx, Vec<(Pid, i32)>> = BTreeMap::new();
        for p in self.procs.values() {
            for (fd, e) in p.fds.iter() {
                if self.files[e.file.0].obj.obj() == Some(obj) {
                    files.entry(e.file).or_default().push((p.pid, fd));
                }
            }
        }
        for (file, fds) in files {
            let f = &self.files[file.0];
            out.push(HolderInfo::File {
                file,
                fds,
                read: f.read,
                write: f.write,
            });
        }
        for pin in self.vfs.pins() {
            if pin.obj == obj {
                out.push(HolderInfo::Pin { paths: pin.paths });
            }
        }
        match obj {
            ObjRef::Map(m) => self.map_holders(m, &mut out),
            ObjRef::Prog(p) => self.prog_holders(p, &mut out),
        }
        out
    }

    fn map_holders(&self, m: MapIdx, out: &mut Vec<HolderInfo>) {
        for (_, prog) in self.progs.iter() {
            if prog.used_maps.contains(&m) {
                out.push(HolderInfo::UsedBy {
                    prog_id: prog.id,
                    prog_name: prog.name_str(),
                });
            }
        }
        for (_, outer) in self.maps.iter() {
            for (slot, o) in outer.data.held() {
                if o == ObjRef::Map(m) {
                    out.push(HolderInfo::InnerOf {
                        outer_id: outer.id,
                        slot,
                    });
                }
            }
        }
        if let Some(map) = self.maps.get(m.0) {
            if matches!(
                map.data,
                MapData::ProgArray {
                    clear_pending: true,
                    ..
                }
            ) {
                out.push(HolderInfo::ClearWork);
            }
            if map.leaked_refs > 0 {
                out.push(HolderInfo::LeakedClearWork {
                    count: map.leaked_refs,
                });
            }
        }
    }

    fn prog_holders(&self, p: ProgIdx, out: &mut Vec<HolderInfo>) {
        for (_, map) in self.maps.iter() {
            if let MapData::ProgArray { slots, .. } = &map.data {
                for (i, s) in slots.iter().enumerate() {
                    if *s == Some(p) {
                        out.push(HolderInfo::TailCallSlot {
                            map_id: map.id,
                            index: i as u32,
                        });
                    }
                }
            }
        }
    }

    /// The object with map id `id`, if any.
    pub fn map_by_id(&self, id: u32) -> Option<MapIdx> {
        self.map_ids.get(id)
    }

    /// The object with program id `id`, if any.
    pub fn prog_by_id(&self, id: u32) -> Option<ProgIdx> {
        self.prog_ids.get(id)
    }

    /// The object behind `fd` of `pid`, if it is a bpf object.
    pub fn obj_of_fd(&self, pid: Pid, fd: i32) -> Option<ObjRef> {
        self.fd_file(pid, fd).ok().and_then(|(_, f)| f.obj.obj())
    }

    /// Holders and history of a live object.
    pub fn explain(&self, obj: ObjRef) -> Explanation {
        let (kind, serial, id, name, refcnt, usercnt) = match obj {
            ObjRef::Map(m) => {
                let m = &self.maps[m.0];
                ("map", m.serial, m.id, m.name_str(), m.refcnt, m.usercnt)
            }
            ObjRef::Prog(p) => {
                let p = &self.progs[p.0];
                ("prog", p.serial, p.id, p.name_str(), p.refcnt, 0)
            }
        };
        Explanation {
            obj: Some(obj),
            kind,
            serial,
            id,
            name,
            refcnt,
            usercnt,
            holders: self.holders(obj),
            history: self.events.of(serial).cloned().collect(),
        }
    }

    /// The history of an object by its creation serial, live or freed (as far as the bounded
    /// event log still holds it). `None` if the log has no event about it.
    pub fn explain_serial(&self, serial: u64) -> Option<Explanation> {
        let live = self
            .maps
            .iter()
            .find(|(_, m)| m.serial == serial)
            .map(|(i, _)| ObjRef::Map(MapIdx(i)));
        let live = live.or_else(|| {
            self.progs
                .iter()
                .find(|(_, p)| p.serial == serial)
                .map(|(i, _)| ObjRef::Prog(ProgIdx(i)))
        });
        if let Some(obj) = live {
            return Some(self.explain(obj));
        }
        let history: Vec<Event> = self.events.of(serial).cloned().collect();
        let first = history.first()?;
        let kind = if matches!(first.obj, ObjRef::Map(_)) {
            "map"
        } else {
            "prog"
        };
        Some(Explanation {
            obj: None,
            kind,
            serial,
            id: 0,
            name: String::new(),
            refcnt: 0,
            usercnt: 0,
            holders: Vec::new(),
            history,
        })
    }

    /// Whether deferred work will release something held by `obj`'s holders (for tests).
    pub fn has_pending_work(&self) -> bool {
        !self.deferred.is_empty()
    }

    pub(crate) fn deferred_mentions(&self, obj: ObjRef) -> bool {
        self.deferred.iter().any(|d| match (d, obj) {
            (Deferred::ProgFree(p), ObjRef::Prog(q)) => *p == q,
            (Deferred::MapFree(m), ObjRef::Map(n))
            | (Deferred::ProgArrayClear(m), ObjRef::Map(n)) => *m == n,
            _ => false,
        })
    }

    /// The live processes' fds referring to bpf objects, for traces: (pid, fd, object).
    pub fn bpf_fds(&self) -> Vec<(Pid, i32, ObjRef)> {
        let mut out = Vec::new();
        for p in self.procs.values() {
            for (fd, e) in p.fds.iter() {
                if let FileObj::Map(_) | FileObj::Prog(_) = self.files[e.file.0].obj {
                    out.push((p.pid, fd, self.files[e.file.0].obj.obj().expect("bpf")));
                }
            }
        }
        out
    }
}

//! The invariant checker: after any syscall, every counter equals its holders, every id names
//! a live object, every fd names a live description; at teardown, nothing is left.
//!
//! Tests run [`check`] after every call (the harness does it for them); a violation is a bug
//! in the model, reported with the object's serial and the call that created it.

use std::collections::BTreeMap;

use crate::kernel::Kernel;
use crate::maps::MapData;
use crate::object::{Deferred, MapIdx, ObjRef, ProgIdx};

/// Check every invariant of `k`. Returns the violations found (empty: all hold).
pub fn check(k: &Kernel) -> Vec<String> {
    let mut bad = Vec::new();
    // Files: fd_refs equals the number of fd-table slots referring to each description.
    let mut refs: BTreeMap<u32, u32> = BTreeMap::new();
    for p in k.procs.values() {
        for (fd, e) in p.fds.iter() {
            if k.files.get(e.file.0).is_none() {
                bad.push(format!("pid {} fd {fd} refers to a freed file", p.pid));
            }
            *refs.entry(e.file.0).or_default() += 1;
        }
    }
    for (i, f) in k.files.iter() {
        let n = refs.get(&i).copied().unwrap_or(0);
        if f.fd_refs != n {
            bad.push(format!(
                "file {i}: fd_refs {} but {n} fds refer to it",
                f.fd_refs
            ));
        }
    }
    // Ids: each id names a live object carrying that id.
    for (id, m) in k.map_ids.iter() {
        match k.maps.get(m.0) {
            Some(map) if map.id == id && map.refcnt > 0 => {}
            _ => bad.push(format!("map id {id} names a freed or mismatched map")),
        }
    }
    for (id, p) in k.prog_ids.iter() {
        match k.progs.get(p.0) {
            Some(prog) if prog.id == id && prog.refcnt > 0 => {}
            _ => bad.push(format!("prog id {id} names a freed or mismatched prog")),
        }
    }
    for (i, m) in k.maps.iter() {
        let obj = ObjRef::Map(MapIdx(i));
        let (r, u) = holder_counts(k, obj);
        if m.refcnt != r || m.usercnt != u {
            bad.push(format!(
                "map #{} (id {}, created by pid {} at syscall {}): refcnt {} usercnt {} but holders account for {r}/{u}",
                m.serial, m.id, m.created_by, m.created_at, m.refcnt, m.usercnt
            ));
        }
        if m.refcnt == 0 && !(m.id == 0 && k.deferred_mentions(obj)) {
            bad.push(format!(
                "map #{} has refcnt 0 but is neither removed nor pending free",
                m.serial
            ));
        }
        if m.refcnt > 0 && (m.id == 0 || k.map_ids.get(m.id) != Some(MapIdx(i))) {
            bad.push(format!("map #{} is alive without its id", m.serial));
        }
        if m.usercnt > m.refcnt {
            bad.push(format!(
                "map #{} usercnt {} above refcnt {}",
                m.serial, m.usercnt, m.refcnt
            ));
        }
        for (_, o) in m.data.held() {
            if !obj_live(k, o) {
                bad.push(format!("map #{} slot holds a freed object", m.serial));
            }
        }
        if let MapData::ProgArray { clear_pending, .. } = m.data {
            let queued = k.deferred.contains(&Deferred::ProgArrayClear(MapIdx(i)));
            if clear_pending != queued {
                bad.push(format!(
                    "map #{} clear_pending {clear_pending} but queued {queued}",
                    m.serial
                ));
            }
        }
    }
    for (i, p) in k.progs.iter() {
        let obj = ObjRef::Prog(ProgIdx(i));
        let (r, _) = holder_counts(k, obj);
        if p.refcnt != r {
            bad.push(format!(
                "prog #{} (id {}, loaded by pid {} at syscall {}): refcnt {} but holders account for {r}",
                p.serial, p.id, p.created_by, p.created_at, p.refcnt
            ));
        }
        if p.refcnt == 0 && !(p.id == 0 && k.deferred_mentions(obj)) {
            bad.push(format!(
                "prog #{} has refcnt 0 but is neither removed nor pending free",
                p.serial
            ));
        }
        for m in &p.used_maps {
            if k.maps.get(m.0).is_none() {
                bad.push(format!("prog #{} uses a freed map", p.serial));
            }
        }
    }
    // BTF objects: ids name live objects; refcnt equals descriptions + maps + programs.
    for (id, b) in k.btf_ids.iter() {
        match k.btfs.get(b.0) {
            Some(o) if o.id == id && o.refcnt > 0 => {}
            _ => bad.push(format!("btf id {id} names a freed or mismatched btf")),
        }
    }
    for (i, o) in k.btfs.iter() {
        let n = k.btf_holders(crate::kernel::btf::BtfIdx(i)).len() as u64;
        if o.refcnt != n || o.id == 0 {
            bad.push(format!(
                "btf #{} (id {}, loaded by pid {} at syscall {}): refcnt {} but holders account for {n}",
                o.serial, o.id, o.created_by, o.created_at, o.refcnt
            ));
        }
    }
    for pin in k.vfs.pins() {
        if !obj_live(k, pin.obj) {
            bad.push(format!("pin {:?} holds a freed object", pin.paths));
        }
    }
    bad
}

fn obj_live(k: &Kernel, o: ObjRef) -> bool {
    match o {
        ObjRef::Map(m) => k.maps.get(m.0).is_some_and(|m| m.refcnt > 0),
        ObjRef::Prog(p) => k.progs.get(p.0).is_some_and(|p| p.refcnt > 0),
    }
}

fn holder_counts(k: &Kernel, obj: ObjRef) -> (u64, u64) {
    let is_map = matches!(obj, ObjRef::Map(_));
    k.holders(obj)
        .iter()
        .map(|h| h.counts(is_map))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// What is left on a machine at teardown (after the caller exited every process, unmounted
/// every bpffs and ran [`Kernel::synchronize`]): every object still in the arena, named with
/// its serial, id, creator and creating call. A map kept alive only by the kernel's own
/// prog_array clear race is listed too, marked as the kernel's leak.
pub fn leaks(k: &Kernel) -> Vec<String> {
    let mut out = Vec::new();
    for (_, m) in k.maps.iter() {
        let why = if m.leaked_refs > 0 {
            " (leaked by the kernel's prog_array clear race)"
        } else {
            ""
        };
        out.push(format!(
            "map #{} id {} {:?} created by pid {} at syscall {}: refcnt {}{why}",
            m.serial,
            m.id,
            m.name_str(),
            m.created_by,
            m.created_at,
            m.refcnt
        ));
    }
    for (_, b) in k.btfs.iter() {
        out.push(format!(
            "btf #{} id {} loaded by pid {} at syscall {}: refcnt {}",
            b.serial, b.id, b.created_by, b.created_at, b.refcnt
        ));
    }
    for (_, p) in k.progs.iter() {
        out.push(format!(
            "prog #{} id {} {:?} loaded by pid {} at syscall {}: refcnt {}",
            p.serial,
            p.id,
            p.name_str(),
            p.created_by,
            p.created_at,
            p.refcnt
        ));
    }
    out
}

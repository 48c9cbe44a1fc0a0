//! Object lifetime: who holds a map (spec C2), what happens when the user references are gone
//! (C5, C6: the tail-call gotcha and the kernel's prog_array clear race), map-in-map (C7),
//! the maps of a released program (C8), who holds a program (D2), prog_array slots (D5), and
//! what `holders` / `explain` / `run_pending_once` report about it.

use crate::support::*;
use sim::explain::HolderInfo;
use sim::invariants;
use sim::object::Deferred;
use sim::uapi::{map_type, prog_type};
use sim::{Cred, Errno, Insn, Kernel, MapCreateAttr, ObjRef, Pid, ProgLoadAttr};

// ---- helpers --------------------------------------------------------------------------

/// A PROG_ARRAY(4, 4, 4) in `pid`.
fn prog_array(s: &mut Sys, pid: Pid) -> i32 {
    s.run(|k| {
        k.map_create(
            pid,
            &MapCreateAttr::new(map_type::PROG_ARRAY, 4, 4, 4).name("pa"),
        )
    })
    .expect("prog_array")
}

/// Load `insns` as an XDP program.
fn load_xdp(k: &mut Kernel, pid: Pid, insns: &[Insn]) -> Result<i32, Errno> {
    k.prog_load(pid, &ProgLoadAttr::new(prog_type::XDP, insns).name("xdp"))
}

fn key(i: u32) -> [u8; 4] {
    i.to_le_bytes()
}

/// `update(map, i, fd)` with BPF_ANY, the way prog_array and array-of-maps slots are set.
fn set_slot(k: &mut Kernel, pid: Pid, map: i32, i: u32, fd: i32) -> Result<(), Errno> {
    k.map_update_elem(pid, map, &key(i), &(fd as u32).to_le_bytes(), 0)
}

/// The id a prog_array / map-of-maps slot holds, as a syscall lookup returns it.
fn slot(k: &mut Kernel, pid: Pid, map: i32, i: u32) -> Result<u32, Errno> {
    let mut v = [0u8; 4];
    k.map_lookup_elem(pid, map, &key(i), &mut v, 0)?;
    Ok(u32::from_le_bytes(v))
}

fn map_obj(s: &Sys, id: u32) -> ObjRef {
    ObjRef::Map(s.k.map_by_id(id).expect("map id is live"))
}

fn prog_obj(s: &Sys, id: u32) -> ObjRef {
    ObjRef::Prog(s.k.prog_by_id(id).expect("prog id is live"))
}

/// (refcnt, usercnt) of a live object as `explain` reports them.
fn counts(s: &Sys, obj: ObjRef) -> (u64, u64) {
    let e = s.k.explain(obj);
    (e.refcnt, e.usercnt)
}

/// The (pid, fd) lists of the file holders of `obj`.
fn file_holders(s: &Sys, obj: ObjRef) -> Vec<Vec<(Pid, i32)>> {
    s.k.holders(obj)
        .into_iter()
        .filter_map(|h| match h {
            HolderInfo::File { fds, .. } => Some(fds),
            _ => None,
        })
        .collect()
}

/// A 4-slot prog_array holding an XDP target in slot 0, used by an XDP entry program.
/// Returns (prog_array fd, entry fd, target fd, prog_array id, entry id, target id).
fn tail_call_setup(s: &mut Sys, pid: Pid) -> (i32, i32, i32, u32, u32, u32) {
    let pa = prog_array(s, pid);
    let entry = s
        .run(|k| load_xdp(k, pid, &uses_map(pa)))
        .expect("entry prog");
    let target = s
        .run(|k| load_xdp(k, pid, &[Insn::mov64_imm(0, 1), Insn::exit()]))
        .expect("target prog");
    s.run(|k| set_slot(k, pid, pa, 0, target)).expect("slot 0");
    let ids = (s.id_of(pid, pa), s.id_of(pid, entry), s.id_of(pid, target));
    (pa, entry, target, ids.0, ids.1, ids.2)
}

// ---- C2: who holds a map ----------------------------------------------------------------

#[test]
fn c2_map_create_fd_holds_one_ref_and_one_uref() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    let obj = map_obj(&s, id);
    assert_eq!(counts(&s, obj), (1, 1));
    let h = s.k.holders(obj);
    assert_eq!(h.len(), 1, "{h:?}");
    assert!(
        matches!(&h[0], HolderInfo::File { fds, read: true, write: true, .. } if fds == &[(root, fd)]),
        "{h:?}"
    );
    s.run(|k| k.close(root, fd)).expect("close");
    assert!(!s.map_listed(id), "the fd was the only holder");
}

#[test]
fn c2_get_fd_by_id_fd_is_a_second_holder_with_its_own_ref_and_uref() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    let fd2 = s.run(|k| k.map_get_fd_by_id(root, id, 0)).expect("by id");
    let obj = map_obj(&s, id);
    assert_eq!(counts(&s, obj), (2, 2));
    assert_eq!(
        file_holders(&s, obj),
        vec![vec![(root, fd)], vec![(root, fd2)]]
    );
    s.run(|k| k.close(root, fd)).expect("close");
    assert!(s.map_listed(id), "the GET_FD_BY_ID fd still holds it");
    assert_eq!(counts(&s, obj), (1, 1));
    s.run(|k| k.close(root, fd2)).expect("close");
    assert!(!s.map_listed(id));
}

#[test]
fn c2_obj_get_fd_is_a_holder_with_ref_and_uref() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    s.run(|k| k.obj_pin(root, fd, "/sys/fs/bpf/m"))
        .expect("pin");
    let got = s.run(|k| k.obj_get(root, "/sys/fs/bpf/m", 0)).expect("get");
    let obj = map_obj(&s, id);
    assert_eq!(counts(&s, obj), (3, 3), "create fd, pin, OBJ_GET fd");
    s.run(|k| k.close(root, fd)).expect("close");
    s.run(|k| k.unlink(root, "/sys/fs/bpf/m")).expect("unlink");
    assert!(s.map_listed(id), "the OBJ_GET fd keeps it");
    assert_eq!(counts(&s, obj), (1, 1));
    assert_eq!(file_holders(&s, obj), vec![vec![(root, got)]]);
    s.run(|k| k.close(root, got)).expect("close");
    assert!(!s.map_listed(id));
}

#[test]
fn c2_each_pin_inode_holds_one_ref_and_uref_hard_links_share_it() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    s.run(|k| k.obj_pin(root, fd, "/sys/fs/bpf/a"))
        .expect("pin a");
    s.run(|k| k.obj_pin(root, fd, "/sys/fs/bpf/b"))
        .expect("pin b");
    s.run(|k| k.link(root, "/sys/fs/bpf/a", "/sys/fs/bpf/a2"))
        .expect("link");
    let obj = map_obj(&s, id);
    assert_eq!(counts(&s, obj), (3, 3), "fd + two pin inodes");
    let pins: Vec<Vec<String>> =
        s.k.holders(obj)
            .into_iter()
            .filter_map(|h| match h {
                HolderInfo::Pin { paths } => Some(paths),
                _ => None,
            })
            .collect();
    assert_eq!(pins.len(), 2, "{pins:?}");
    assert!(pins.contains(&vec![
        "/sys/fs/bpf/a".to_string(),
        "/sys/fs/bpf/a2".to_string()
    ]));
    assert!(pins.contains(&vec!["/sys/fs/bpf/b".to_string()]));
    s.run(|k| k.close(root, fd)).expect("close");
    s.run(|k| k.unlink(root, "/sys/fs/bpf/a"))
        .expect("unlink a");
    assert_eq!(counts(&s, obj), (2, 2), "a2 still links inode a");
    s.run(|k| k.unlink(root, "/sys/fs/bpf/b"))
        .expect("unlink b");
    assert_eq!(counts(&s, obj), (1, 1));
    s.run(|k| k.unlink(root, "/sys/fs/bpf/a2"))
        .expect("unlink a2");
    assert!(!s.map_listed(id), "the last pin went synchronously");
}

#[test]
fn c2_used_maps_hold_a_ref_but_no_uref() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    let prog = s
        .run(|k| load(k, root, "user", &uses_map(fd)))
        .expect("load");
    let pid_ = s.id_of(root, prog);
    let obj = map_obj(&s, id);
    assert_eq!(counts(&s, obj), (2, 1));
    s.run(|k| k.close(root, fd)).expect("close");
    assert_eq!(counts(&s, obj), (1, 0));
    assert_eq!(
        s.k.holders(obj),
        vec![HolderInfo::UsedBy {
            prog_id: pid_,
            prog_name: "user".into()
        }]
    );
}

#[test]
fn c2_prog_bind_map_holds_a_ref_but_no_uref_once_per_map() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    let prog = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let obj = map_obj(&s, id);
    s.run(|k| k.prog_bind_map(root, prog, fd)).expect("bind");
    assert_eq!(counts(&s, obj), (2, 1));
    s.run(|k| k.prog_bind_map(root, prog, fd))
        .expect("bind twice");
    assert_eq!(counts(&s, obj), (2, 1), "binding again takes nothing");
    s.run(|k| k.close(root, fd)).expect("close");
    assert!(s.map_listed(id), "the bound program holds it");
    s.run(|k| k.close(root, prog)).expect("close prog");
    assert!(s.map_listed(id), "until the grace period");
    s.run(|k| k.synchronize());
    assert!(!s.map_listed(id));
}

#[test]
fn c2_syscalls_on_an_fd_borrow_it_and_take_no_reference() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    let obj = map_obj(&s, id);
    s.run(|k| k.map_update_elem(root, fd, &key(1), &[7; 8], 0))
        .expect("update");
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_elem(root, fd, &key(1), &mut v, 0))
        .expect("lookup");
    s.run(|k| k.obj_get_info_by_fd(root, fd)).expect("info");
    assert_eq!(counts(&s, obj), (1, 1));
}

// ---- C5: usercnt 0 with refcnt > 0 ------------------------------------------------------

#[test]
fn c5_usercnt_zero_map_stays_listed_and_get_fd_by_id_restores_a_uref() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    s.run(|k| k.map_update_elem(root, fd, &key(2), &[9; 8], 0))
        .expect("update");
    let _prog = s
        .run(|k| load(k, root, "user", &uses_map(fd)))
        .expect("load");
    s.run(|k| k.close(root, fd)).expect("close");
    let obj = map_obj(&s, id);
    assert_eq!(counts(&s, obj), (1, 0));
    assert!(s.map_listed(id), "GET_NEXT_ID still lists it");
    let fd2 = s.run(|k| k.map_get_fd_by_id(root, id, 0)).expect("by id");
    assert_eq!(counts(&s, obj), (2, 1));
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_elem(root, fd2, &key(2), &mut v, 0))
        .expect("lookup");
    assert_eq!(v, [9; 8], "an ARRAY keeps its data when usercnt drops");
}

// ---- C6: the tail-call gotcha -------------------------------------------------------------

#[test]
fn c6_prog_array_cleared_at_synchronize_after_its_last_uref_goes() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let (pa, entry, target, pa_id, entry_id, target_id) = tail_call_setup(&mut s, root);
    s.run(|k| k.obj_pin(root, entry, "/sys/fs/bpf/entry"))
        .expect("pin entry");
    for fd in [target, entry, pa] {
        s.run(|k| k.close(root, fd)).expect("close");
    }
    // The clear is deferred work: right after the close nothing has changed yet.
    let obj = map_obj(&s, pa_id);
    assert_eq!(counts(&s, obj), (2, 0), "used_maps + the clear work's ref");
    assert!(s.k.holders(obj).contains(&HolderInfo::ClearWork));
    assert!(s.prog_listed(target_id), "the slot still holds the target");
    let probe = s
        .run(|k| k.map_get_fd_by_id(root, pa_id, 0))
        .expect("by id");
    assert_eq!(
        s.run(|k| slot(k, root, probe, 0)),
        Ok(target_id),
        "a lookup right after the close still sees the slot"
    );
    s.run(|k| k.synchronize());
    assert!(s.map_listed(pa_id), "the pinned entry keeps the array");
    assert!(s.prog_listed(entry_id));
    assert!(!s.prog_listed(target_id), "the slot's ref was the last");
    assert_eq!(
        s.run(|k| slot(k, root, probe, 0)),
        Err(Errno::ENOENT),
        "cleared although the probe fd was open when the work ran"
    );
    s.run(|k| k.close(root, probe)).expect("close probe");
    s.run(|k| k.synchronize());
    assert!(s.map_listed(pa_id));
    assert_eq!(
        counts(&s, map_obj(&s, pa_id)),
        (1, 0),
        "no leak: one clear at a time"
    );
}

#[test]
fn c6_prog_array_kept_when_pinned() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let (pa, entry, target, _, _, target_id) = tail_call_setup(&mut s, root);
    s.run(|k| k.obj_pin(root, entry, "/sys/fs/bpf/entry"))
        .expect("pin entry");
    s.run(|k| k.obj_pin(root, pa, "/sys/fs/bpf/pa"))
        .expect("pin pa");
    for fd in [target, entry, pa] {
        s.run(|k| k.close(root, fd)).expect("close");
    }
    assert!(!s.k.has_pending_work(), "the pin keeps a uref: no clear");
    s.run(|k| k.synchronize());
    assert!(s.prog_listed(target_id));
    let fd = s
        .run(|k| k.obj_get(root, "/sys/fs/bpf/pa", 0))
        .expect("get");
    assert_eq!(s.run(|k| slot(k, root, fd, 0)), Ok(target_id));
    s.run(|k| k.close(root, fd)).expect("close");
    s.run(|k| k.synchronize());
    assert!(
        s.prog_listed(target_id),
        "closing a second uref clears nothing"
    );
}

#[test]
fn c6_repopulated_through_get_fd_by_id_and_cleared_again_when_that_fd_closes() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let (pa, entry, target, pa_id, _, target_id) = tail_call_setup(&mut s, root);
    s.run(|k| k.obj_pin(root, entry, "/sys/fs/bpf/entry"))
        .expect("pin");
    for fd in [target, entry, pa] {
        s.run(|k| k.close(root, fd)).expect("close");
    }
    s.run(|k| k.synchronize());
    assert!(!s.prog_listed(target_id));
    let fd = s
        .run(|k| k.map_get_fd_by_id(root, pa_id, 0))
        .expect("by id");
    let t2 = s
        .run(|k| load_xdp(k, root, &[Insn::mov64_imm(0, 1), Insn::exit()]))
        .expect("2nd target");
    let t2_id = s.id_of(root, t2);
    s.run(|k| set_slot(k, root, fd, 0, t2))
        .expect("re-populate");
    s.run(|k| k.close(root, t2)).expect("close t2");
    s.run(|k| k.synchronize());
    assert_eq!(
        s.run(|k| slot(k, root, fd, 0)),
        Ok(t2_id),
        "kept while the fd is open"
    );
    s.run(|k| k.close(root, fd)).expect("close");
    assert!(s.prog_listed(t2_id), "not before the work runs");
    s.run(|k| k.synchronize());
    assert!(!s.prog_listed(t2_id), "cleared again");
    assert!(s.map_listed(pa_id));
}

#[test]
fn c6_unlinking_or_unmounting_the_last_pin_of_a_prog_array_clears_it() {
    for umount in [false, true] {
        let mut s = Sys::new();
        let root = s.root;
        s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
            .expect("mount");
        let (pa, _entry, target, pa_id, _, target_id) = tail_call_setup(&mut s, root);
        s.run(|k| k.obj_pin(root, pa, "/sys/fs/bpf/pa"))
            .expect("pin pa");
        s.run(|k| k.close(root, pa)).expect("close");
        s.run(|k| k.close(root, target)).expect("close");
        s.run(|k| k.synchronize());
        assert!(s.prog_listed(target_id), "the pin keeps the slots");
        if umount {
            s.run(|k| k.umount(root, "/sys/fs/bpf")).expect("umount");
        } else {
            s.run(|k| k.unlink(root, "/sys/fs/bpf/pa")).expect("unlink");
        }
        assert!(s.prog_listed(target_id), "the clear is deferred");
        assert_eq!(counts(&s, map_obj(&s, pa_id)), (2, 0));
        s.run(|k| k.synchronize());
        assert!(!s.prog_listed(target_id), "umount {umount}: cleared");
        assert!(s.map_listed(pa_id), "the entry prog still uses it");
    }
}

#[test]
fn c6_exit_of_the_last_uref_holder_clears_the_prog_array() {
    let mut s = Sys::new();
    let root = s.root;
    let loader = s.k.spawn("loader", Cred::ROOT);
    let (_, entry, _, pa_id, entry_id, target_id) = tail_call_setup(&mut s, loader);
    // Another process keeps the entry program (and through it the array) alive.
    let keep = s
        .run(|k| k.prog_get_fd_by_id(root, entry_id))
        .expect("keep");
    let _ = (entry, keep);
    s.run(|k| k.exit(loader)).expect("exit");
    assert!(s.prog_listed(target_id));
    s.run(|k| k.synchronize());
    assert!(!s.prog_listed(target_id));
    assert!(s.map_listed(pa_id));
}

#[test]
fn c6_second_uref_drop_while_clear_pending_leaks_the_map() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let id = s.id_of(root, pa);
    s.run(|k| k.close(root, pa)).expect("close");
    assert!(s.map_listed(id), "the clear work holds it until it runs");
    let fd = s.run(|k| k.map_get_fd_by_id(root, id, 0)).expect("reopen");
    s.run(|k| k.close(root, fd)).expect("close again");
    s.run(|k| k.synchronize());
    assert!(s.map_listed(id), "the kernel's leak");
    let obj = map_obj(&s, id);
    assert_eq!(
        s.k.holders(obj),
        vec![HolderInfo::LeakedClearWork { count: 1 }]
    );
    s.run(|k| k.exit(root)).expect("exit");
    s.k.synchronize();
    let leaks = invariants::leaks(&s.k);
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert!(leaks[0].contains(&format!("id {id}")), "{leaks:?}");
    assert!(
        leaks[0].contains("leaked by the kernel's prog_array clear race"),
        "{leaks:?}"
    );
}

#[test]
fn c6_control_single_close_or_plain_array_does_not_leak() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let pa_id = s.id_of(root, pa);
    s.run(|k| k.close(root, pa)).expect("close");
    s.run(|k| k.synchronize());
    assert!(!s.map_listed(pa_id), "one uref drop: freed after the work");
    let arr = s.array(root);
    let arr_id = s.id_of(root, arr);
    s.run(|k| k.close(root, arr)).expect("close");
    assert_eq!(
        s.run(|k| k.map_get_fd_by_id(root, arr_id, 0)),
        Err(Errno::ENOENT),
        "a plain array is gone at once"
    );
    s.run(|k| k.exit(root)).expect("exit");
    s.k.synchronize();
    assert_eq!(invariants::leaks(&s.k), Vec::<String>::new());
}

// ---- C7: map-in-map ------------------------------------------------------------------------

fn outer_setup(s: &mut Sys, pid: Pid, outer_type: u32) -> (i32, u32) {
    let tmpl = s.array(pid);
    let tmpl_id = s.id_of(pid, tmpl);
    let outer = s
        .run(|k| {
            k.map_create(
                pid,
                &MapCreateAttr::new(outer_type, 4, 4, 4)
                    .name("outer")
                    .inner(tmpl),
            )
        })
        .expect("outer");
    s.run(|k| k.close(pid, tmpl)).expect("close template");
    assert!(
        !s.map_listed(tmpl_id),
        "the template is not held by the outer map"
    );
    (outer, s.id_of(pid, outer))
}

#[test]
fn c7_array_of_maps_slot_holds_inner_map_template_not_held() {
    let mut s = Sys::new();
    let root = s.root;
    let (outer, outer_id) = outer_setup(&mut s, root, map_type::ARRAY_OF_MAPS);
    let inner = s.array(root);
    let inner_id = s.id_of(root, inner);
    s.run(|k| set_slot(k, root, outer, 1, inner))
        .expect("slot 1");
    s.run(|k| k.close(root, inner)).expect("close inner");
    assert!(s.map_listed(inner_id));
    let obj = map_obj(&s, inner_id);
    assert_eq!(counts(&s, obj), (1, 0));
    assert_eq!(
        s.k.holders(obj),
        vec![HolderInfo::InnerOf { outer_id, slot: 1 }]
    );
    assert_eq!(s.run(|k| slot(k, root, outer, 1)), Ok(inner_id));
}

#[test]
fn c7_deleting_a_slot_removes_the_inner_id_at_once() {
    let mut s = Sys::new();
    let root = s.root;
    let (outer, _) = outer_setup(&mut s, root, map_type::HASH_OF_MAPS);
    let inner = s.array(root);
    let inner_id = s.id_of(root, inner);
    s.run(|k| set_slot(k, root, outer, 7, inner))
        .expect("insert");
    s.run(|k| k.close(root, inner)).expect("close inner");
    assert!(s.map_listed(inner_id));
    s.run(|k| k.map_delete_elem(root, outer, &key(7)))
        .expect("delete");
    assert!(!s.map_listed(inner_id));
}

#[test]
fn c7_inner_maps_of_a_freed_outer_map_released_at_the_grace_period() {
    let mut s = Sys::new();
    let root = s.root;
    let (outer, outer_id) = outer_setup(&mut s, root, map_type::ARRAY_OF_MAPS);
    let inner = s.array(root);
    let inner_id = s.id_of(root, inner);
    s.run(|k| set_slot(k, root, outer, 0, inner)).expect("slot");
    s.run(|k| k.close(root, inner)).expect("close inner");
    s.run(|k| k.close(root, outer)).expect("close outer");
    assert!(!s.map_listed(outer_id), "the outer id goes at once");
    assert!(
        s.map_listed(inner_id),
        "its slots are put by the deferred free"
    );
    assert_eq!(
        s.k.holders(map_obj(&s, inner_id)),
        vec![HolderInfo::InnerOf {
            outer_id: 0,
            slot: 0
        }]
    );
    s.run(|k| k.synchronize());
    assert!(!s.map_listed(inner_id));
}

// ---- C8: maps of a released program -------------------------------------------------------

#[test]
fn c8_maps_of_a_released_program_vanish_only_at_synchronize() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    let prog = s.run(|k| load(k, root, "p", &uses_map(fd))).expect("load");
    let prog_id = s.id_of(root, prog);
    s.run(|k| k.close(root, fd)).expect("close map");
    s.run(|k| k.close(root, prog)).expect("close prog");
    assert!(!s.prog_listed(prog_id), "the prog id goes synchronously");
    assert!(s.map_listed(id), "its maps wait for the grace period");
    assert_eq!(
        s.k.holders(map_obj(&s, id)),
        vec![HolderInfo::UsedBy {
            prog_id: 0,
            prog_name: "p".into()
        }]
    );
    s.run(|k| k.synchronize());
    assert!(!s.map_listed(id));
}

#[test]
fn c8_failed_load_releases_its_maps_synchronously() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    // The map is resolved, then check_cfg rejects the back-edge.
    let mut insns = uses_map(fd);
    insns.insert(2, Insn::ja(-1));
    assert_eq!(s.run(|k| load(k, root, "bad", &insns)), Err(Errno::EINVAL));
    let obj = map_obj(&s, id);
    assert_eq!(counts(&s, obj), (1, 1), "no reference left behind");
    assert!(!s.k.has_pending_work());
    s.run(|k| k.close(root, fd)).expect("close");
    assert!(!s.map_listed(id), "gone without a grace period");
}

#[test]
fn c8_failed_load_on_prog_array_owner_check_releases_maps_synchronously() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let arr = s.array(root);
    let (pa_id, arr_id) = (s.id_of(root, pa), s.id_of(root, arr));
    let sf = s.run(|k| load(k, root, "sf", &trivial())).expect("sf");
    s.run(|k| set_slot(k, root, pa, 0, sf))
        .expect("owner: socket filter");
    let mut insns = uses_map(arr);
    insns.splice(0..0, Insn::ld_map_fd(2, pa));
    assert_eq!(s.run(|k| load_xdp(k, root, &insns)), Err(Errno::EINVAL));
    assert_eq!(counts(&s, map_obj(&s, arr_id)), (1, 1));
    assert_eq!(counts(&s, map_obj(&s, pa_id)), (1, 1));
    assert!(!s.k.has_pending_work());
}

// ---- D2: who holds a program ---------------------------------------------------------------

#[test]
fn d2_prog_fd_holds_the_program() {
    let mut s = Sys::new();
    let root = s.root;
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let id = s.id_of(root, p);
    let obj = prog_obj(&s, id);
    assert_eq!(counts(&s, obj).0, 1);
    assert_eq!(file_holders(&s, obj), vec![vec![(root, p)]]);
    let p2 = s.run(|k| k.prog_get_fd_by_id(root, id)).expect("by id");
    assert_eq!(counts(&s, obj).0, 2);
    s.run(|k| k.close(root, p)).expect("close");
    assert!(s.prog_listed(id));
    s.run(|k| k.close(root, p2)).expect("close");
    assert!(!s.prog_listed(id), "the prog id goes with the last fd");
}

#[test]
fn d2_pin_holds_the_program() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let id = s.id_of(root, p);
    s.run(|k| k.obj_pin(root, p, "/sys/fs/bpf/p")).expect("pin");
    s.run(|k| k.close(root, p)).expect("close");
    let obj = prog_obj(&s, id);
    assert_eq!(counts(&s, obj).0, 1);
    assert_eq!(
        s.k.holders(obj),
        vec![HolderInfo::Pin {
            paths: vec!["/sys/fs/bpf/p".into()]
        }]
    );
    s.run(|k| k.unlink(root, "/sys/fs/bpf/p")).expect("unlink");
    assert!(!s.prog_listed(id));
}

#[test]
fn d2_prog_array_slot_holds_the_program() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let pa_id = s.id_of(root, pa);
    let p = s.run(|k| load(k, root, "t", &trivial())).expect("load");
    let id = s.id_of(root, p);
    s.run(|k| set_slot(k, root, pa, 2, p)).expect("slot");
    s.run(|k| k.close(root, p)).expect("close");
    assert!(s.prog_listed(id));
    assert_eq!(
        s.k.holders(prog_obj(&s, id)),
        vec![HolderInfo::TailCallSlot {
            map_id: pa_id,
            index: 2
        }]
    );
    s.run(|k| k.map_delete_elem(root, pa, &key(2)))
        .expect("delete");
    assert!(!s.prog_listed(id), "delete puts the slot's ref");
}

// ---- D5: prog_array slot rules --------------------------------------------------------------

#[test]
fn d5_prog_array_update_errnos() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let arr = s.array(root);
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let v = (p as u32).to_le_bytes();
    assert_eq!(
        s.run(|k| k.map_update_elem(root, pa, &key(0), &v, 1)),
        Err(Errno::EINVAL),
        "flags != 0"
    );
    assert_eq!(
        s.run(|k| k.map_update_elem(root, pa, &key(0), &v, 2)),
        Err(Errno::EINVAL),
        "BPF_EXIST too"
    );
    assert_eq!(
        s.run(|k| set_slot(k, root, pa, 4, p)),
        Err(Errno::E2BIG),
        "index >= max_entries"
    );
    assert_eq!(
        s.run(|k| set_slot(k, root, pa, 0, 9999)),
        Err(Errno::EBADF),
        "fd not open"
    );
    assert_eq!(
        s.run(|k| set_slot(k, root, pa, 0, arr)),
        Err(Errno::EINVAL),
        "a map fd"
    );
    let null = s.run(|k| k.open_null(root)).expect("null");
    assert_eq!(
        s.run(|k| set_slot(k, root, pa, 0, null)),
        Err(Errno::EINVAL),
        "a non-bpf fd"
    );
    assert_eq!(s.run(|k| slot(k, root, pa, 0)), Err(Errno::ENOENT));
}

#[test]
fn d5_prog_array_lookup_returns_prog_id_delete_rules() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let id = s.id_of(root, p);
    s.run(|k| set_slot(k, root, pa, 3, p)).expect("slot");
    assert_eq!(s.run(|k| slot(k, root, pa, 3)), Ok(id));
    assert_eq!(
        s.run(|k| k.map_delete_elem(root, pa, &key(1))),
        Err(Errno::ENOENT),
        "empty slot"
    );
    assert_eq!(
        s.run(|k| k.map_delete_elem(root, pa, &key(4))),
        Err(Errno::E2BIG),
        "out of range"
    );
    s.run(|k| k.map_delete_elem(root, pa, &key(3)))
        .expect("delete");
    assert_eq!(s.run(|k| slot(k, root, pa, 3)), Err(Errno::ENOENT));
}

#[test]
fn d5_replacing_a_slot_puts_the_old_program() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let a = s.run(|k| load(k, root, "a", &trivial())).expect("a");
    let b = s.run(|k| load(k, root, "b", &trivial())).expect("b");
    let (a_id, b_id) = (s.id_of(root, a), s.id_of(root, b));
    s.run(|k| set_slot(k, root, pa, 0, a)).expect("a");
    s.run(|k| k.close(root, a)).expect("close a");
    assert!(s.prog_listed(a_id));
    s.run(|k| set_slot(k, root, pa, 0, b)).expect("b");
    assert!(!s.prog_listed(a_id), "the old program lost its last ref");
    assert_eq!(s.run(|k| slot(k, root, pa, 0)), Ok(b_id));
}

#[test]
fn d5_owner_fixed_by_first_program_incompatible_type_is_einval() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let sf = s.run(|k| load(k, root, "sf", &trivial())).expect("sf");
    let xdp = s.run(|k| load_xdp(k, root, &trivial())).expect("xdp");
    s.run(|k| set_slot(k, root, pa, 0, sf))
        .expect("socket filter");
    assert_eq!(s.run(|k| set_slot(k, root, pa, 1, xdp)), Err(Errno::EINVAL));
    assert_eq!(s.run(|k| slot(k, root, pa, 1)), Err(Errno::ENOENT));
    // Emptying the array does not reset the owner.
    s.run(|k| k.map_delete_elem(root, pa, &key(0)))
        .expect("delete");
    assert_eq!(s.run(|k| set_slot(k, root, pa, 1, xdp)), Err(Errno::EINVAL));
}

#[test]
fn d5_loading_another_type_that_uses_an_owned_prog_array_is_einval_and_takes_no_id() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let sf = s.run(|k| load(k, root, "sf", &trivial())).expect("sf");
    let sf_id = s.id_of(root, sf);
    s.run(|k| set_slot(k, root, pa, 0, sf)).expect("owner");
    assert_eq!(
        s.run(|k| load_xdp(k, root, &uses_map(pa))),
        Err(Errno::EINVAL)
    );
    let ok = s
        .run(|k| load(k, root, "sf2", &uses_map(pa)))
        .expect("same type loads");
    assert_eq!(s.id_of(root, ok), sf_id + 1, "the failed load used no id");
}

#[test]
fn d5_first_loaded_user_fixes_the_owner() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = prog_array(&mut s, root);
    let _user = s
        .run(|k| load_xdp(k, root, &uses_map(pa)))
        .expect("xdp user");
    let sf = s.run(|k| load(k, root, "sf", &trivial())).expect("sf");
    assert_eq!(s.run(|k| set_slot(k, root, pa, 0, sf)), Err(Errno::EINVAL));
}

// ---- explain / holders / deferred work -------------------------------------------------------

#[test]
fn explain_names_fds_by_pid_pins_by_path_and_used_maps_by_prog_id() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let other = s.k.spawn("other", Cred::ROOT);
    let fd = s.array(other);
    let id = s.id_of(other, fd);
    s.run(|k| k.obj_pin(other, fd, "/sys/fs/bpf/why"))
        .expect("pin");
    let p = s
        .run(|k| load(k, other, "user", &uses_map(fd)))
        .expect("load");
    let prog_id = s.id_of(other, p);
    let text = s.k.explain(map_obj(&s, id)).to_string();
    assert!(text.contains(&format!("pid {other} fd {fd}")), "{text}");
    assert!(text.contains("pin /sys/fs/bpf/why"), "{text}");
    assert!(
        text.contains(&format!("used_maps of prog {prog_id}")),
        "{text}"
    );
    assert!(text.contains("refcnt 3, usercnt 2"), "{text}");
    // The history names who took each reference.
    assert!(text.contains(&format!("created with id {id}")), "{text}");
}

#[test]
fn explain_history_names_the_release() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s.array(root);
    let id = s.id_of(root, fd);
    let p = s.run(|k| load(k, root, "p", &uses_map(fd))).expect("load");
    let prog_id = s.id_of(root, p);
    let serial = s.k.explain(map_obj(&s, id)).serial;
    let text = s.k.explain(map_obj(&s, id)).to_string();
    assert!(
        text.contains(&format!("used_maps of prog {prog_id}")),
        "{text}"
    );
    assert!(
        !text.contains("released"),
        "the loading program's reference is not a released one: {text}"
    );
    s.run(|k| k.close(root, fd)).expect("close");
    s.run(|k| k.close(root, p)).expect("close");
    let text = s.k.explain(map_obj(&s, id)).to_string();
    assert!(text.contains("used_maps of released prog"), "{text}");
    s.run(|k| k.synchronize());
    let gone = s.k.explain_serial(serial).expect("history kept");
    assert_eq!(gone.obj, None);
    let text = gone.to_string();
    assert!(text.contains(&format!("id {id} removed")), "{text}");
    assert!(text.contains("freed"), "{text}");
}

#[test]
fn run_pending_once_runs_one_round_only() {
    let mut s = Sys::new();
    let root = s.root;
    let (outer, outer_id) = outer_setup(&mut s, root, map_type::ARRAY_OF_MAPS);
    let inner = s.array(root);
    let inner_id = s.id_of(root, inner);
    s.run(|k| set_slot(k, root, outer, 0, inner)).expect("slot");
    let p = s
        .run(|k| load(k, root, "p", &uses_map(outer)))
        .expect("load");
    for fd in [inner, outer, p] {
        s.run(|k| k.close(root, fd)).expect("close");
    }
    assert!(s.map_listed(outer_id) && s.map_listed(inner_id));
    assert_eq!(s.k.pending().count(), 1);
    assert!(matches!(s.k.pending().next(), Some(Deferred::ProgFree(_))));
    // Round 1: the program's free puts the outer map, whose own free is queued.
    assert_eq!(s.run(|k| k.run_pending_once()), 1);
    assert!(!s.map_listed(outer_id));
    assert!(s.map_listed(inner_id), "the outer map's free waits a round");
    assert!(matches!(
        s.k.pending().collect::<Vec<_>>()[..],
        [Deferred::MapFree(_)]
    ));
    // Round 2: the outer map's free puts the inner map.
    assert_eq!(s.run(|k| k.run_pending_once()), 1);
    assert!(!s.map_listed(inner_id));
    assert_eq!(s.run(|k| k.run_pending_once()), 0);
}

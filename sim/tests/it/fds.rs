//! File descriptors (spec G, B3): numbering, descriptions shared by dup and fork, exit and
//! exec, close-on-exec, dup2/dup3, the fd limit, and bad fds.

use crate::support::*;
use sim::uapi::flags::*;
use sim::uapi::map_type as mt;
use sim::{Cred, Errno, MapCreateAttr, Pid};

fn array_in(s: &mut Sys, pid: Pid) -> Result<i32, Errno> {
    s.run(|k| k.map_create(pid, &MapCreateAttr::new(mt::ARRAY, 4, 8, 1)))
}

fn array(s: &mut Sys) -> i32 {
    let root = s.root;
    array_in(s, root).expect("array")
}

fn close(s: &mut Sys, pid: Pid, fd: i32) -> Result<(), Errno> {
    s.run(|k| k.close(pid, fd))
}

/// The (refcnt, usercnt) of the map behind `fd` of root, by its id.
fn counts(s: &mut Sys, id: u32) -> (u64, u64) {
    s.map_counts(id).expect("live map")
}

#[test]
fn first_bpf_fd_is_3() {
    let mut s = Sys::new();
    assert_eq!(array(&mut s), 3);
    let root = s.root;
    assert_eq!(s.run(|k| load(k, root, "p", &trivial())), Ok(4));
    let other = s.k.spawn("other", Cred::ROOT);
    assert_eq!(
        s.run(|k| load(k, other, "p", &trivial())),
        Ok(3),
        "fd tables are per process"
    );
}

#[test]
fn lowest_free_fd_first() {
    let mut s = Sys::new();
    let root = s.root;
    let fds: Vec<i32> = (0..4).map(|_| array(&mut s)).collect();
    assert_eq!(fds, [3, 4, 5, 6]);
    close(&mut s, root, 4).expect("close");
    close(&mut s, root, 5).expect("close");
    assert_eq!(array(&mut s), 4);
    assert_eq!(s.run(|k| k.open_null(root)), Ok(5));
    assert_eq!(array(&mut s), 7);
    close(&mut s, root, 0).expect("close stdin");
    assert_eq!(array(&mut s), 0, "fd 0 is free too");
}

#[test]
fn dup_shares_the_description() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    let d = s.run(|k| k.dup(root, fd)).expect("dup");
    assert_eq!(d, 4);
    assert_eq!(counts(&mut s, id), (1, 1), "dup takes no object reference");
    close(&mut s, root, fd).expect("close original");
    assert!(s.map_listed(id), "the dup keeps the description open");
    s.run(|k| k.map_update_elem(root, d, &le32(0), &[1; 8], BPF_ANY))
        .expect("usable through the dup");
    close(&mut s, root, d).expect("close dup");
    assert!(!s.map_listed(id), "last fd of the description");
}

#[test]
fn dup_shares_the_access_mode() {
    let mut s = Sys::new();
    let root = s.root;
    let ro = s
        .run(|k| {
            k.map_create(
                root,
                &MapCreateAttr::new(mt::ARRAY, 4, 8, 1).flags(BPF_F_RDONLY),
            )
        })
        .expect("rdonly");
    let d = s.run(|k| k.dup(root, ro)).expect("dup");
    assert_eq!(
        s.run(|k| k.map_update_elem(root, d, &le32(0), &[1; 8], BPF_ANY)),
        Err(Errno::EPERM)
    );
}

#[test]
fn each_fd_returning_command_makes_a_new_description() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    let by_id = s.run(|k| k.map_get_fd_by_id(root, id, 0)).expect("by id");
    assert_eq!(counts(&mut s, id), (2, 2));
    let d = s.run(|k| k.dup(root, by_id)).expect("dup");
    assert_eq!(counts(&mut s, id), (2, 2));
    close(&mut s, root, by_id).expect("close");
    assert_eq!(
        counts(&mut s, id),
        (2, 2),
        "the dup still holds that description"
    );
    close(&mut s, root, d).expect("close");
    assert_eq!(counts(&mut s, id), (1, 1));
}

#[test]
fn fork_shares_descriptions_and_child_exit_does_not_release() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    let child = s.run(|k| k.fork(root)).expect("fork");
    assert_eq!(counts(&mut s, id), (1, 1), "fork takes no object reference");
    s.run(|k| k.map_update_elem(child, fd, &le32(0), &[7; 8], BPF_ANY))
        .expect("the child uses the inherited fd");
    s.run(|k| k.exit(child)).expect("exit");
    assert!(s.map_listed(id), "the parent's fd still holds it");
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_elem(root, fd, &le32(0), &mut v, 0))
        .expect("lookup");
    assert_eq!(v, [7; 8], "same map");
}

#[test]
fn forked_child_keeps_map_after_parent_exits() {
    let mut s = Sys::new();
    let parent = s.k.spawn("parent", Cred::ROOT);
    let fd = array_in(&mut s, parent).expect("array");
    let id = s.id_of(parent, fd);
    let child = s.run(|k| k.fork(parent)).expect("fork");
    s.run(|k| k.exit(parent)).expect("exit parent");
    assert!(s.map_listed(id));
    close(&mut s, child, fd).expect("close in child");
    assert!(!s.map_listed(id));
}

#[test]
fn close_in_child_leaves_parent_fd_open() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = array(&mut s);
    let id = s.id_of(root, fd);
    let child = s.run(|k| k.fork(root)).expect("fork");
    close(&mut s, child, fd).expect("close in child");
    assert!(s.map_listed(id));
    assert_eq!(close(&mut s, child, fd), Err(Errno::EBADF));
    close(&mut s, root, fd).expect("close in parent");
}

#[test]
fn exit_closes_every_fd() {
    let mut s = Sys::new();
    let p = s.k.spawn("loader", Cred::ROOT);
    let m1 = array_in(&mut s, p).expect("array");
    let m2 = array_in(&mut s, p).expect("array");
    let prog = s.run(|k| load(k, p, "p", &trivial())).expect("prog");
    let d = s.run(|k| k.dup(p, m1)).expect("dup");
    let ids = [s.id_of(p, m1), s.id_of(p, m2)];
    let pid_ = s.id_of(p, prog);
    let _ = d;
    s.run(|k| k.exit(p)).expect("exit");
    for id in ids {
        assert!(!s.map_listed(id), "map {id}");
    }
    assert!(!s.prog_listed(pid_));
    assert_eq!(s.run(|k| k.exit(p)), Err(Errno::ESRCH));
    assert!(s.k.proc(p).is_err());
}

#[test]
fn bpf_fds_are_close_on_exec() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let m = array(&mut s);
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("prog");
    let id = s.id_of(root, m);
    let pid_ = s.id_of(root, p);
    let by_id = s.run(|k| k.map_get_fd_by_id(root, id, 0)).expect("by id");
    let prog_by_id = s.run(|k| k.prog_get_fd_by_id(root, pid_)).expect("by id");
    s.run(|k| k.obj_pin(root, m, "/sys/fs/bpf/m")).expect("pin");
    let got = s.run(|k| k.obj_get(root, "/sys/fs/bpf/m", 0)).expect("get");
    for fd in [m, p, by_id, prog_by_id, got] {
        assert_eq!(s.k.cloexec(root, fd), Ok(true), "fd {fd}");
    }
    let null = s.run(|k| k.open_null(root)).expect("/dev/null");
    assert_eq!(s.k.cloexec(root, null), Ok(false));
    assert_eq!(s.k.cloexec(root, 0), Ok(false));
    assert_eq!(s.k.cloexec(root, 99), Err(Errno::EBADF));
}

#[test]
fn exec_drops_bpf_fds() {
    let mut s = Sys::new();
    let p = s.k.spawn("loader", Cred::ROOT);
    let m = array_in(&mut s, p).expect("array");
    let prog = s.run(|k| load(k, p, "p", &trivial())).expect("prog");
    let null = s.run(|k| k.open_null(p)).expect("/dev/null");
    let (mid, pid_) = (s.id_of(p, m), s.id_of(p, prog));
    s.run(|k| k.exec(p, "next")).expect("exec");
    assert!(!s.map_listed(mid));
    assert!(!s.prog_listed(pid_));
    assert_eq!(close(&mut s, p, m), Err(Errno::EBADF));
    assert_eq!(close(&mut s, p, prog), Err(Errno::EBADF));
    close(&mut s, p, null).expect("non-cloexec fds survive exec");
    close(&mut s, p, 0).expect("stdin survives exec");
}

#[test]
fn exec_in_forked_child_does_not_release_parents_map() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s);
    let id = s.id_of(root, m);
    let child = s.run(|k| k.fork(root)).expect("fork");
    s.run(|k| k.exec(child, "tool")).expect("exec");
    assert!(s.map_listed(id));
    assert_eq!(close(&mut s, child, m), Err(Errno::EBADF));
}

#[test]
fn dup_clears_cloexec_so_exec_keeps_it() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s);
    let id = s.id_of(root, m);
    let d = s.run(|k| k.dup(root, m)).expect("dup");
    assert_eq!(s.k.cloexec(root, d), Ok(false));
    assert_eq!(
        s.k.cloexec(root, m),
        Ok(true),
        "the original keeps its flag"
    );
    s.run(|k| k.exec(root, "next")).expect("exec");
    assert!(s.map_listed(id), "the dup survives exec");
    assert_eq!(close(&mut s, root, m), Err(Errno::EBADF));
    close(&mut s, root, d).expect("close dup");
    assert!(!s.map_listed(id));
}

#[test]
fn fcntl_dupfd_and_setfd() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s);
    let d = s
        .run(|k| k.dupfd(root, m, 10, true))
        .expect("F_DUPFD_CLOEXEC");
    assert_eq!(d, 10);
    assert_eq!(s.k.cloexec(root, d), Ok(true));
    let e = s.run(|k| k.dupfd(root, m, 10, false)).expect("F_DUPFD");
    assert_eq!(e, 11, "lowest free fd at or above start");
    assert_eq!(s.k.cloexec(root, e), Ok(false));
    s.run(|k| k.set_cloexec(root, m, false)).expect("F_SETFD");
    assert_eq!(s.k.cloexec(root, m), Ok(false));
    assert_eq!(
        s.run(|k| k.dupfd(root, m, 1024, false)),
        Err(Errno::EINVAL),
        "start at the limit"
    );
    assert_eq!(s.run(|k| k.dupfd(root, 99, 0, false)), Err(Errno::EBADF));
    assert_eq!(s.run(|k| k.set_cloexec(root, 99, true)), Err(Errno::EBADF));
}

#[test]
fn dup2_onto_open_fd_closes_what_it_referred_to() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s);
    let b = array(&mut s);
    let (ia, ib) = (s.id_of(root, a), s.id_of(root, b));
    assert_eq!(s.run(|k| k.dup2(root, a, b)), Ok(b));
    assert!(!s.map_listed(ib), "b's map lost its only fd");
    assert_eq!(s.id_of(root, b), ia);
    assert_eq!(s.k.cloexec(root, b), Ok(false), "dup2 clears cloexec");
    close(&mut s, root, a).expect("close");
    assert!(s.map_listed(ia));
    close(&mut s, root, b).expect("close");
    assert!(!s.map_listed(ia));
}

#[test]
fn dup2_onto_free_fd_and_onto_itself() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s);
    let id = s.id_of(root, a);
    assert_eq!(s.run(|k| k.dup2(root, a, 50)), Ok(50));
    assert_eq!(s.id_of(root, 50), id);
    assert_eq!(s.run(|k| k.dup2(root, a, a)), Ok(a), "onto itself: no-op");
    assert_eq!(s.k.cloexec(root, a), Ok(true), "no-op keeps the flag");
    assert_eq!(counts(&mut s, id), (1, 1));
    assert_eq!(array(&mut s), 4, "fds below 50 are still free");
}

#[test]
fn dup2_bad_fds_are_ebadf() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s);
    assert_eq!(s.run(|k| k.dup2(root, 99, 5)), Err(Errno::EBADF));
    assert_eq!(s.run(|k| k.dup2(root, 99, 99)), Err(Errno::EBADF));
    assert_eq!(s.run(|k| k.dup2(root, a, -1)), Err(Errno::EBADF));
    assert_eq!(
        s.run(|k| k.dup2(root, a, 1024)),
        Err(Errno::EBADF),
        "at the limit"
    );
    assert_eq!(
        close(&mut s, root, 5),
        Err(Errno::EBADF),
        "nothing installed"
    );
}

#[test]
fn dup3_sets_cloexec_on_request_and_refuses_same_fd() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s);
    assert_eq!(s.run(|k| k.dup3(root, a, 20, true)), Ok(20));
    assert_eq!(s.k.cloexec(root, 20), Ok(true));
    assert_eq!(s.run(|k| k.dup3(root, a, 21, false)), Ok(21));
    assert_eq!(s.k.cloexec(root, 21), Ok(false));
    assert_eq!(s.run(|k| k.dup3(root, a, a, false)), Err(Errno::EINVAL));
    assert_eq!(s.run(|k| k.dup3(root, a, a, true)), Err(Errno::EINVAL));
    assert_eq!(s.run(|k| k.dup3(root, 99, 99, false)), Err(Errno::EINVAL));
    assert_eq!(s.k.cloexec(root, a), Ok(true), "unchanged");
    assert_eq!(s.run(|k| k.dup3(root, 99, 30, false)), Err(Errno::EBADF));
}

#[test]
fn map_create_at_fd_limit_is_emfile_and_consumes_an_id() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.set_fd_limit(root, 5)).expect("rlimit");
    let a = array(&mut s);
    let b = array(&mut s);
    assert_eq!((a, b), (3, 4));
    let ib = s.id_of(root, b);
    assert_eq!(array_in(&mut s, root), Err(Errno::EMFILE));
    assert_eq!(s.live_maps(), 2, "no object left behind");
    assert_eq!(s.run(|k| k.map_get_next_id(root, ib)), Err(Errno::ENOENT));
    close(&mut s, root, b).expect("close");
    let c = array(&mut s);
    // The kernel allocates the id before the fd: the failed create burned ib + 1.
    assert_eq!(s.id_of(root, c), ib + 2);
}

#[test]
fn prog_load_at_fd_limit_is_emfile_and_consumes_an_id() {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.set_fd_limit(root, 4)).expect("rlimit");
    let p = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    let id = s.id_of(root, p);
    assert_eq!(
        s.run(|k| load(k, root, "p", &trivial())),
        Err(Errno::EMFILE)
    );
    assert_eq!(s.run(|k| k.prog_get_next_id(root, id)), Err(Errno::ENOENT));
    close(&mut s, root, p).expect("close");
    let q = s.run(|k| load(k, root, "p", &trivial())).expect("load");
    assert_eq!(s.id_of(root, q), id + 2);
}

#[test]
fn get_fd_by_id_at_fd_limit_is_emfile_without_a_reference() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s);
    let id = s.id_of(root, a);
    s.run(|k| k.set_fd_limit(root, 4)).expect("rlimit");
    assert_eq!(
        s.run(|k| k.map_get_fd_by_id(root, id, 0)),
        Err(Errno::EMFILE)
    );
    assert_eq!(counts(&mut s, id), (1, 1));
    assert_eq!(s.run(|k| k.dup(root, a)), Err(Errno::EMFILE));
    assert_eq!(s.run(|k| k.open_null(root)), Err(Errno::EMFILE));
}

#[test]
fn close_of_bad_fd_is_ebadf() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s);
    for fd in [-1, 3 + 1, 99, 1 << 20, i32::MAX] {
        assert_eq!(close(&mut s, root, fd), Err(Errno::EBADF), "fd {fd}");
    }
    close(&mut s, root, a).expect("close");
    assert_eq!(close(&mut s, root, a), Err(Errno::EBADF), "double close");
}

#[test]
fn process_calls_on_dead_pid_are_esrch() {
    let mut s = Sys::new();
    let p = s.k.spawn("p", Cred::ROOT);
    s.run(|k| k.exit(p)).expect("exit");
    assert_eq!(array_in(&mut s, p), Err(Errno::ESRCH));
    assert_eq!(close(&mut s, p, 0), Err(Errno::ESRCH));
    assert_eq!(s.run(|k| k.fork(p)), Err(Errno::ESRCH));
}

#[test]
fn inherited_fd_works_without_privilege() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s);
    let child = s.run(|k| k.fork(root)).expect("fork");
    s.run(|k| k.set_cred(child, Cred::user(1000, 1000)))
        .expect("setuid");
    s.run(|k| k.map_update_elem(child, m, &le32(0), &[4; 8], BPF_ANY))
        .expect("no capability check on fd ops");
    assert_eq!(array_in(&mut s, child), Err(Errno::EPERM));
}

/// `SCM_RIGHTS` (spec G2): the received fd shares the sender's open file description, so the
/// object survives the sender's close and exit; it is the receiver's lowest free fd and not
/// close-on-exec; an fd that is not open is `EBADF`.
#[test]
fn g2_fd_passed_over_a_socket_shares_the_description() {
    let mut s = Sys::new();
    let a = s.k.spawn("a", sim::Cred::ROOT);
    let b = s.k.spawn("b", sim::Cred::ROOT);
    let m = s.array(a);
    let id = s.id_of(a, m);
    let n = s.run(|k| k.pass_fd(a, m, b)).expect("pass");
    assert_eq!(n, 3, "the receiver's lowest free fd");
    assert_eq!(s.k.cloexec(b, n), Ok(false));
    assert_eq!(
        s.map_counts(id),
        Some((1, 1)),
        "no new reference: the description is shared"
    );
    s.run(|k| k.exit(a)).expect("exit");
    assert!(s.map_listed(id), "the receiver's fd keeps it");
    s.run(|k| k.close(b, n)).expect("close");
    assert!(!s.map_listed(id));
    assert_eq!(s.run(|k| k.pass_fd(b, 77, b)), Err(sim::Errno::EBADF));
}

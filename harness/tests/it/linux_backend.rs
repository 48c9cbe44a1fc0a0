//! The kernel tier: `LinuxBackend` against the running kernel (skipped, with a line saying
//! so, when this process may not use bpf() or mount bpffs), and one body run on both backends.

use harness::backend::{Backend, BpfCall, BpfRet, FsCall, Kind, LinuxBackend, ProcId, SimBackend};
use sim::maps::info::map_info as mi;
use sim::uapi::{cmd, map_type, prog_type};
use sim::{Errno, Insn, MapCreateAttr};

/// The kernel tier, or `None` after printing why it is skipped.
fn kernel() -> Option<LinuxBackend> {
    match LinuxBackend::with_agent(env!("CARGO_BIN_EXE_bpfsim-agent")) {
        Ok(b) => Some(b),
        Err(reason) => {
            harness::backend::linux::say_skipped(&reason);
            None
        }
    }
}

fn array(max: u32) -> BpfCall {
    BpfCall::MapCreate(MapCreateAttr::new(map_type::ARRAY, 4, 8, max))
}

fn fd(r: Result<BpfRet, Errno>) -> i32 {
    match r {
        Ok(BpfRet::Fd(fd)) => fd,
        other => panic!("expected an fd, got {other:?}"),
    }
}

fn map_id(b: &mut dyn Backend, p: ProcId, fd: i32) -> u32 {
    match b.bpf(p, &BpfCall::Info { fd }) {
        Ok(BpfRet::Info { info, .. }) => {
            u32::from_le_bytes(info[mi::ID..mi::ID + 4].try_into().unwrap())
        }
        other => panic!("info: {other:?}"),
    }
}

fn update(fd: i32, k: u32, v: u64) -> BpfCall {
    BpfCall::Update {
        fd,
        key: k.to_le_bytes().to_vec(),
        value: v.to_le_bytes().to_vec(),
        flags: 0,
    }
}

fn lookup(fd: i32, k: u32) -> BpfCall {
    BpfCall::Lookup {
        fd,
        key: k.to_le_bytes().to_vec(),
        value_len: 8,
        flags: 0,
    }
}

fn bytes(v: u64) -> Result<BpfRet, Errno> {
    Ok(BpfRet::Bytes(v.to_le_bytes().to_vec()))
}

#[test]
fn first_map_fd_is_3() {
    let Some(mut k) = kernel() else { return };
    let p = k.spawn(true).unwrap();
    assert_eq!(k.bpf(p, &array(4)), Ok(BpfRet::Fd(3)));
    assert_eq!(k.bpf(p, &array(4)), Ok(BpfRet::Fd(4)));
    assert_eq!(k.dup(p, 3), Ok(5));
    assert_eq!(k.close(p, 4), Ok(()));
    assert_eq!(k.bpf(p, &array(4)), Ok(BpfRet::Fd(4)));
    assert_eq!(k.close(p, 99), Err(Errno::EBADF));
}

#[test]
fn lookup_update_round_trip() {
    let Some(mut k) = kernel() else { return };
    let p = k.spawn(true).unwrap();
    let m = fd(k.bpf(p, &array(4)));
    assert_eq!(k.bpf(p, &lookup(m, 1)), bytes(0));
    assert_eq!(k.bpf(p, &update(m, 1, 0xdead_beef)), Ok(BpfRet::Unit));
    assert_eq!(k.bpf(p, &lookup(m, 1)), bytes(0xdead_beef));
    assert_eq!(k.bpf(p, &lookup(m, 4)), Err(Errno::ENOENT));
    // A key buffer shorter than key_size faults at the guard page, as in the simulator.
    let short = BpfCall::Lookup {
        fd: m,
        key: vec![1],
        value_len: 8,
        flags: 0,
    };
    assert_eq!(k.bpf(p, &short), Err(Errno::EFAULT));
    let h = fd(k.bpf(
        p,
        &BpfCall::MapCreate(MapCreateAttr::new(map_type::HASH, 4, 8, 8)),
    ));
    assert_eq!(k.bpf(p, &update(h, 7, 70)), Ok(BpfRet::Unit));
    let first = BpfCall::NextKey {
        fd: h,
        key: None,
        key_len: 4,
    };
    assert_eq!(
        k.bpf(p, &first),
        Ok(BpfRet::Bytes(7u32.to_le_bytes().to_vec()))
    );
    let del = BpfCall::LookupAndDelete {
        fd: h,
        key: 7u32.to_le_bytes().to_vec(),
        value_len: 8,
    };
    assert_eq!(k.bpf(p, &del), bytes(70));
    assert_eq!(k.bpf(p, &first), Err(Errno::ENOENT));
}

#[test]
fn fork_shares_the_description() {
    let Some(mut k) = kernel() else { return };
    let p = k.spawn(true).unwrap();
    let m = fd(k.bpf(p, &array(2)));
    k.bpf(p, &update(m, 0, 42)).unwrap();
    let c = k.fork(p).unwrap();
    assert_ne!(k.pid(c), k.pid(p));
    k.close(p, m).unwrap();
    assert_eq!(k.bpf(p, &lookup(m, 0)), Err(Errno::EBADF));
    assert_eq!(k.bpf(c, &lookup(m, 0)), bytes(42));
    // The child's next fd is the lowest free one, its control socket is out of the way.
    assert_eq!(k.bpf(c, &array(1)), Ok(BpfRet::Fd(4)));
    // A grandchild, then exits in an awkward order.
    let g = k.fork(c).unwrap();
    k.exit(c).unwrap();
    assert_eq!(k.bpf(g, &lookup(m, 0)), bytes(42));
    k.exit(g).unwrap();
    assert_eq!(k.exit(g), Err(Errno::ESRCH));
}

#[test]
fn exit_releases_the_fds() {
    let Some(mut k) = kernel() else { return };
    let p = k.spawn(true).unwrap();
    let m = fd(k.bpf(p, &array(2)));
    let id = map_id(&mut k, p, m);
    assert!(k.id_exists(Kind::Map, id));
    k.exit(p).unwrap();
    assert!(
        !k.id_exists(Kind::Map, id),
        "map {id} outlived its only process"
    );
    // The same through a forked process that held the last reference.
    let p = k.spawn(true).unwrap();
    let m = fd(k.bpf(p, &array(2)));
    let id = map_id(&mut k, p, m);
    let c = k.fork(p).unwrap();
    k.close(p, m).unwrap();
    assert!(k.id_exists(Kind::Map, id));
    k.exit(c).unwrap();
    assert!(
        !k.id_exists(Kind::Map, id),
        "map {id} outlived the forked process"
    );
}

#[test]
fn pin_in_private_bpffs_keeps_map_after_exit() {
    let Some(mut k) = kernel() else { return };
    let fs = format!("{}/fs", k.scratch_dir());
    let p = k.spawn(true).unwrap();
    k.fs(p, &FsCall::Mkdir(fs.clone(), 0o755)).unwrap();
    k.fs(p, &FsCall::MountBpffs(fs.clone())).unwrap();
    k.fs(p, &FsCall::Mkdir(format!("{fs}/d"), 0o700)).unwrap();
    let m = fd(k.bpf(p, &array(2)));
    k.bpf(p, &update(m, 1, 11)).unwrap();
    let id = map_id(&mut k, p, m);
    let pin = format!("{fs}/d/m");
    k.bpf(
        p,
        &BpfCall::Pin {
            fd: m,
            path: pin.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        k.bpf(
            p,
            &BpfCall::Pin {
                fd: m,
                path: pin.clone()
            }
        ),
        Err(Errno::EEXIST)
    );
    k.exit(p).unwrap();
    assert!(k.id_exists(Kind::Map, id));
    let q = k.spawn(true).unwrap();
    let g = fd(k.bpf(
        q,
        &BpfCall::Get {
            path: pin.clone(),
            flags: 0,
        },
    ));
    assert_eq!(g, 3);
    assert_eq!(k.bpf(q, &lookup(g, 1)), bytes(11));
    k.fs(q, &FsCall::Rename(pin.clone(), format!("{fs}/m2")))
        .unwrap();
    assert_eq!(
        k.fs(q, &FsCall::Link(format!("{fs}/m2"), format!("{fs}/m3"))),
        Ok(())
    );
    // OBJ_GET is not behind unprivileged_bpf_disabled; the pin's mode (0600, root) stops
    // an unprivileged process at the path walk.
    let u = k.spawn(false).unwrap();
    assert_eq!(
        k.bpf(
            u,
            &BpfCall::Get {
                path: format!("{fs}/m2"),
                flags: 0
            }
        ),
        Err(Errno::EACCES)
    );
    // The backend's Drop unmounts the bpffs; the pin goes with it.
}

#[test]
fn unprivileged_process_gets_eperm() {
    let Some(mut k) = kernel() else { return };
    let u = k.spawn(false).unwrap();
    assert_eq!(k.bpf(u, &array(1)), Err(Errno::EPERM));
    let fs = format!("{}/u", k.scratch_dir());
    assert_eq!(
        k.fs(u, &FsCall::Mkdir(fs.clone(), 0o755)),
        Ok(()),
        "scratch dir is like /tmp"
    );
    assert_eq!(k.fs(u, &FsCall::MountBpffs(fs)), Err(Errno::EPERM));
    let c = k.fork(u).unwrap();
    assert_eq!(k.bpf(c, &array(1)), Err(Errno::EPERM));
}

#[test]
fn raw_call_with_garbage_past_last_field_is_einval() {
    let Some(mut k) = kernel() else { return };
    let p = k.spawn(true).unwrap();
    let mut attr = MapCreateAttr::new(map_type::ARRAY, 4, 8, 1)
        .encode()
        .0
        .to_vec();
    let end = sim::attr::cmd_end(cmd::MAP_CREATE);
    attr[end] = 1;
    let size = attr.len() as u32;
    let call = BpfCall::Raw {
        cmd: cmd::MAP_CREATE,
        attr: attr.clone(),
        size,
    };
    assert_eq!(k.bpf(p, &call), Err(Errno::EINVAL));
    attr[end] = 0;
    let ok = k
        .bpf(
            p,
            &BpfCall::Raw {
                cmd: cmd::MAP_CREATE,
                attr,
                size,
            },
        )
        .unwrap();
    assert!(matches!(ok, BpfRet::Raw { ret: 3, .. }), "{ok:?}");
    // A size past the buffer faults at the guard page.
    let short = BpfCall::Raw {
        cmd: cmd::MAP_GET_NEXT_ID,
        attr: vec![0; 4],
        size: 8,
    };
    assert_eq!(k.bpf(p, &short), Err(Errno::EFAULT));
}

#[test]
fn settle_waits_for_a_released_programs_map() {
    let Some(mut k) = kernel() else { return };
    let p = k.spawn(true).unwrap();
    let m = fd(k.bpf(p, &array(1)));
    let id = map_id(&mut k, p, m);
    let [l0, l1] = Insn::ld_map_fd(1, m);
    let insns = vec![l0, l1, Insn::mov64_imm(0, 0), Insn::exit()];
    let load = BpfCall::ProgLoad {
        prog_type: prog_type::SOCKET_FILTER,
        insns,
        name: "settle".into(),
        license: "GPL".into(),
        expected_attach_type: 0,
        prog_flags: 0,
    };
    let prog = fd(k.bpf(p, &load));
    match k.bpf(p, &BpfCall::Info { fd: prog }) {
        Ok(BpfRet::Info {
            map_ids, xlated, ..
        }) => {
            assert_eq!(map_ids, [id]);
            assert_eq!(xlated.len(), 4 * 8);
        }
        other => panic!("prog info: {other:?}"),
    }
    k.close(p, m).unwrap();
    assert!(k.id_exists(Kind::Map, id), "the program holds the map");
    k.close(p, prog).unwrap();
    let t = std::time::Instant::now();
    let held = k.settle(&mut |b: &mut dyn Backend| !b.id_exists(Kind::Map, id), 1000);
    eprintln!("map {id} gone {held} after {:?}", t.elapsed());
    assert!(
        held,
        "map {id} still there 1000 ms after its program was released"
    );
}

/// One body, any backend: the results as text, with the object ids the body met renumbered
/// in order of appearance.
fn differential_body(b: &mut dyn Backend) -> Vec<String> {
    let mut out = Vec::new();
    let mut ids: Vec<u32> = Vec::new();
    let mut norm = |id: u32| match ids.iter().position(|&i| i == id) {
        Some(n) => n + 1,
        None => {
            ids.push(id);
            ids.len()
        }
    };
    let fs = format!("{}/bpffs", b.scratch_dir());
    let p = b.spawn(true).unwrap();
    out.push(format!(
        "mkdir {:?}",
        b.fs(p, &FsCall::Mkdir(fs.clone(), 0o755))
    ));
    out.push(format!(
        "mount {:?}",
        b.fs(p, &FsCall::MountBpffs(fs.clone()))
    ));
    let m = fd(b.bpf(p, &array(4)));
    let h = fd(b.bpf(
        p,
        &BpfCall::MapCreate(MapCreateAttr::new(map_type::HASH, 4, 8, 2).name("h")),
    ));
    out.push(format!("fds {m} {h}"));
    for fd_ in [m, h] {
        match b.bpf(p, &BpfCall::Info { fd: fd_ }) {
            Ok(BpfRet::Info { info, .. }) => {
                let u = |o: usize| u32::from_le_bytes(info[o..o + 4].try_into().unwrap());
                out.push(format!(
                    "info len {} type {} id #{} key {} value {} max {} flags {} name {:?}",
                    info.len(),
                    u(mi::TYPE),
                    norm(u(mi::ID)),
                    u(mi::KEY_SIZE),
                    u(mi::VALUE_SIZE),
                    u(mi::MAX_ENTRIES),
                    u(mi::MAP_FLAGS),
                    &info[mi::NAME..mi::NAME + 16]
                ));
            }
            other => out.push(format!("info {other:?}")),
        }
    }
    for (k, v, f) in [(1, 10, 0), (2, 20, 1), (1, 11, 1), (3, 30, 2), (9, 90, 0)] {
        let up = BpfCall::Update {
            fd: h,
            key: u32::to_le_bytes(k).to_vec(),
            value: u64::to_le_bytes(v).to_vec(),
            flags: f,
        };
        out.push(format!("update h {k} {f} {:?}", b.bpf(p, &up)));
    }
    out.push(format!("update a 9 {:?}", b.bpf(p, &update(m, 9, 1))));
    out.push(format!("lookup h 1 {:?}", b.bpf(p, &lookup(h, 1))));
    let mut keys = Vec::new();
    let mut key = None;
    while let Ok(BpfRet::Bytes(k)) = b.bpf(
        p,
        &BpfCall::NextKey {
            fd: h,
            key: key.clone(),
            key_len: 4,
        },
    ) {
        keys.push(u32::from_le_bytes(k[..].try_into().unwrap()));
        key = Some(k);
    }
    keys.sort();
    out.push(format!("keys {keys:?}"));
    out.push(format!("freeze {:?}", b.bpf(p, &BpfCall::Freeze { fd: m })));
    out.push(format!("update frozen {:?}", b.bpf(p, &update(m, 0, 1))));
    let c = b.fork(p).unwrap();
    out.push(format!("close {:?}", b.close(p, h)));
    out.push(format!("child lookup {:?}", b.bpf(c, &lookup(h, 2))));
    out.push(format!("child dup {:?}", b.dup(c, h)));
    out.push(format!(
        "pin {:?}",
        b.bpf(
            c,
            &BpfCall::Pin {
                fd: h,
                path: format!("{fs}/h")
            }
        )
    ));
    out.push(format!("exit {:?}", b.exit(c)));
    let u = b.spawn(false).unwrap();
    out.push(format!(
        "unpriv get {:?}",
        b.bpf(
            u,
            &BpfCall::Get {
                path: format!("{fs}/h"),
                flags: 0
            }
        )
    ));
    out.push(format!(
        "unpriv next id {:?}",
        b.bpf(
            u,
            &BpfCall::NextId {
                kind: Kind::Map,
                start: 0
            }
        )
    ));
    let g = fd(b.bpf(
        p,
        &BpfCall::Get {
            path: format!("{fs}/h"),
            flags: 0,
        },
    ));
    out.push(format!("get {g}"));
    out.push(format!("lookup via pin {:?}", b.bpf(p, &lookup(g, 2))));
    out.push(format!(
        "delete {:?}",
        b.bpf(
            p,
            &BpfCall::Delete {
                fd: g,
                key: 2u32.to_le_bytes().to_vec()
            }
        )
    ));
    out.push(format!(
        "unlink {:?}",
        b.fs(p, &FsCall::Unlink(format!("{fs}/h")))
    ));
    out.push(format!(
        "unlink again {:?}",
        b.fs(p, &FsCall::Unlink(format!("{fs}/h")))
    ));
    let id = map_id(b, p, g);
    out.push(format!("map id #{}", norm(id)));
    out.push(format!("close pinned {:?}", b.close(p, g)));
    out.push(format!(
        "id exists after last close {}",
        b.id_exists(Kind::Map, id)
    ));
    let mut attr = MapCreateAttr::new(map_type::ARRAY, 4, 8, 1)
        .encode()
        .0
        .to_vec();
    attr[sim::attr::cmd_end(cmd::MAP_CREATE) + 3] = 7;
    let size = attr.len() as u32;
    out.push(format!(
        "raw garbage {:?}",
        b.bpf(
            p,
            &BpfCall::Raw {
                cmd: cmd::MAP_CREATE,
                attr,
                size
            }
        )
    ));
    out.push(format!("umount {:?}", b.fs(p, &FsCall::Umount(fs.clone()))));
    out.push(format!("rmdir {:?}", b.fs(p, &FsCall::Rmdir(fs))));
    out.push(format!("unpriv create {:?}", b.bpf(u, &array(1))));
    out.push(format!("exit {:?} {:?}", b.exit(p), b.exit(u)));
    out
}

#[test]
fn same_body_on_both_backends() {
    let mut sim = SimBackend::default();
    let on_sim = differential_body(&mut sim);
    let Some(mut k) = kernel() else { return };
    let on_linux = differential_body(&mut k);
    let diff: Vec<String> = on_sim
        .iter()
        .zip(&on_linux)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("sim:   {a}\nlinux: {b}"))
        .collect();
    assert!(
        diff.is_empty() && on_sim.len() == on_linux.len(),
        "differences:\n{}",
        diff.join("\n")
    );
}

/// Whether `fd` of process `p` is close-on-exec, from `/proc/PID/fdinfo/FD`.
fn cloexec(k: &LinuxBackend, p: ProcId, fd: i32) -> bool {
    let pid = k.pid(p).expect("process is alive");
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .expect("fdinfo has flags");
    u32::from_str_radix(flags.trim(), 8).unwrap() & libc::O_CLOEXEC as u32 != 0
}

#[test]
fn passed_fd_keeps_the_map_after_the_sender_exits() {
    let Some(mut k) = kernel() else { return };
    let a = k.spawn(true).unwrap();
    let b = k.spawn(true).unwrap();
    let m = fd(k.bpf(a, &array(2)));
    let id = map_id(&mut k, a, m);
    assert!(cloexec(&k, a, m), "bpf() fds are close-on-exec");
    // B has no bpf fds: the passed one is its lowest free fd, 3, and not close-on-exec.
    let got = k.pass_fd(a, m, b).unwrap();
    assert_eq!(got, 3);
    assert!(!cloexec(&k, b, got), "SCM_RIGHTS without MSG_CMSG_CLOEXEC");
    assert_eq!(map_id(&mut k, b, got), id);
    // One open file description: B's update shows in A.
    assert_eq!(k.bpf(b, &update(got, 1, 77)), Ok(BpfRet::Unit));
    assert_eq!(k.bpf(a, &lookup(m, 1)), bytes(77));
    k.close(a, m).unwrap();
    k.exit(a).unwrap();
    assert!(k.id_exists(Kind::Map, id), "B's fd holds the map");
    assert_eq!(k.bpf(b, &lookup(got, 1)), bytes(77));
    // No copy is left anywhere else (the controller closed its own): B's close is the last.
    k.close(b, got).unwrap();
    assert!(!k.id_exists(Kind::Map, id), "map {id} outlived the last fd");
}

#[test]
fn passing_an_fd_that_is_not_open_is_ebadf() {
    let Some(mut k) = kernel() else { return };
    let a = k.spawn(true).unwrap();
    let b = k.spawn(true).unwrap();
    assert_eq!(k.pass_fd(a, 3, b), Err(Errno::EBADF));
    let m = fd(k.bpf(a, &array(1)));
    let id = map_id(&mut k, a, m);
    for bad in [m + 1, -1, 99, 1000, i32::MAX] {
        assert_eq!(k.pass_fd(a, bad, b), Err(Errno::EBADF), "fd {bad}");
    }
    // A missing receiver: the sender keeps its fd, and no other copy is left behind.
    let gone = ProcId(9999);
    assert_eq!(k.pass_fd(a, m, gone), Err(Errno::ESRCH));
    assert_eq!(k.pass_fd(gone, m, b), Err(Errno::ESRCH));
    k.close(a, m).unwrap();
    assert_eq!(k.pass_fd(a, m, b), Err(Errno::EBADF));
    assert!(!k.id_exists(Kind::Map, id), "map {id} outlived its only fd");
    // Nothing arrived in B.
    assert_eq!(k.bpf(b, &array(1)), Ok(BpfRet::Fd(3)));
}

/// One `pass_fd` body, any backend: the results as text, object ids renumbered in order of
/// appearance.
fn pass_fd_body(b: &mut dyn Backend) -> Vec<String> {
    let mut out = Vec::new();
    let mut ids: Vec<u32> = Vec::new();
    let mut norm = |id: u32| match ids.iter().position(|&i| i == id) {
        Some(n) => n + 1,
        None => {
            ids.push(id);
            ids.len()
        }
    };
    let a = b.spawn(true).unwrap();
    let r = b.spawn(true).unwrap();
    let m = fd(b.bpf(a, &array(4)));
    let id = map_id(b, a, m);
    out.push(format!("create {m} #{}", norm(id)));
    out.push(format!("pass bad {:?}", b.pass_fd(a, m + 1, r)));
    let got = b.pass_fd(a, m, r);
    out.push(format!("pass {got:?}"));
    let got = got.unwrap();
    out.push(format!("receiver sees #{}", norm(map_id(b, r, got))));
    out.push(format!("update {:?}", b.bpf(r, &update(got, 2, 5))));
    out.push(format!("sender lookup {:?}", b.bpf(a, &lookup(m, 2))));
    // A hole below the receiver's fds: the next passed fd fills it.
    let h1 = fd(b.bpf(r, &array(1)));
    let h2 = fd(b.bpf(r, &array(1)));
    out.push(format!(
        "receiver fds {h1} {h2} close {:?}",
        b.close(r, got)
    ));
    out.push(format!("pass into hole {:?}", b.pass_fd(a, m, r)));
    out.push(format!("pass to self {:?}", b.pass_fd(a, m, a)));
    out.push(format!("pass back {:?}", b.pass_fd(r, h2, a)));
    let c = b.fork(r).unwrap();
    out.push(format!("pass from fork {:?}", b.pass_fd(c, got, a)));
    out.push(format!("exit fork {:?}", b.exit(c)));
    out.push(format!("pass to exited {:?}", b.pass_fd(a, m, c)));
    out.push(format!("pass from exited {:?}", b.pass_fd(c, m, a)));
    out.push(format!("exit sender {:?}", b.exit(a)));
    out.push(format!("exists {}", b.id_exists(Kind::Map, id)));
    out.push(format!("receiver lookup {:?}", b.bpf(r, &lookup(got, 2))));
    out.push(format!("receiver close {:?}", b.close(r, got)));
    out.push(format!(
        "exists after last close {}",
        b.id_exists(Kind::Map, id)
    ));
    let u = b.spawn(false).unwrap();
    out.push(format!("pass to unprivileged {:?}", b.pass_fd(r, h1, u)));
    out.push(format!("unprivileged lookup {:?}", b.bpf(u, &lookup(3, 0))));
    out.push(format!("exit {:?} {:?}", b.exit(r), b.exit(u)));
    out
}

#[test]
fn pass_fd_same_on_both_backends() {
    let mut sim = SimBackend::default();
    let on_sim = pass_fd_body(&mut sim);
    let Some(mut k) = kernel() else { return };
    let on_linux = pass_fd_body(&mut k);
    assert_eq!(on_sim, on_linux);
}

//! The seed question as a scenario: a map survives the loader's exit exactly when the pinned
//! program references it (spec C2, C8, D2).

use crate::support::*;
use sim::Cred;

/// The loader creates the map, loads the program (with or without a reference), pins the
/// program and exits. Returns (map id, prog id).
fn loader_run(s: &mut Sys, with_lookup: bool) -> (u32, u32) {
    let loader = s.k.spawn("bpftool", Cred::ROOT);
    s.run(|k| k.mount_bpffs(loader, "/sys/fs/bpf"))
        .expect("mount");
    let map = s.array(loader);
    let insns = if with_lookup {
        uses_map(map)
    } else {
        trivial()
    };
    let prog = s.run(|k| load(k, loader, "my_prog", &insns)).expect("load");
    s.run(|k| k.obj_pin(loader, prog, "/sys/fs/bpf/my_prog"))
        .expect("pin");
    let ids = (s.id_of(loader, map), s.id_of(loader, prog));
    s.run(|k| k.exit(loader)).expect("exit");
    ids
}

#[test]
fn seed_map_survives_exit_only_when_the_pinned_program_uses_it() {
    let mut s = Sys::new();
    let (map, prog) = loader_run(&mut s, true);
    assert!(s.map_listed(map), "a used map outlives the loader");
    assert!(s.prog_listed(prog));
    let root = s.root;
    s.run(|k| k.unlink(root, "/sys/fs/bpf/my_prog"))
        .expect("unlink");
    assert!(
        !s.prog_listed(prog),
        "the prog id goes with its last reference"
    );
    assert!(s.map_listed(map), "its maps wait for the grace period");
    s.run(|k| k.synchronize());
    assert!(!s.map_listed(map), "and then go");

    let mut s = Sys::new();
    let (map, prog) = loader_run(&mut s, false);
    assert!(
        !s.map_listed(map),
        "an unused map dies with the loader's fds"
    );
    assert!(s.prog_listed(prog));
}

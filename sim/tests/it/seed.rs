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

/// The example in the README, kept here so it stays true.
#[test]
fn readme_example_runs() -> Result<(), sim::Errno> {
    use sim::uapi::{map_type, prog_type};
    use sim::{Insn, Kernel, MapCreateAttr, ProgLoadAttr};

    let mut k = Kernel::default();
    let loader = k.spawn("loader", Cred::ROOT);
    let map = k.map_create(
        loader,
        &MapCreateAttr::new(map_type::ARRAY, 4, 8, 10).name("my_map"),
    )?;
    let mut insns = Insn::ld_map_fd(1, map).to_vec();
    insns.extend([Insn::mov64_imm(0, 0), Insn::exit()]);
    let _prog = k.prog_load(
        loader,
        &ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns).name("p"),
    )?;
    k.exit(loader)?;
    let root = k.spawn("check", Cred::ROOT);
    assert_eq!(
        k.map_get_next_id(root, 0),
        Ok(1),
        "the map waits for the grace period"
    );
    k.synchronize();
    assert_eq!(k.map_get_next_id(root, 0), Err(sim::Errno::ENOENT));
    k.exit(root)?;
    assert!(sim::invariants::leaks(&k).is_empty());
    Ok(())
}

//! Scenarios shared by tests, examples and benchmarks.

use std::fmt::Write as _;

use sim::uapi::{map_type, prog_type};
use sim::{Cred, Insn, MapCreateAttr, ProgLoadAttr};

use crate::Session;

/// The seed program (`../shared/seed/`): a `sock_ops` program that looks up key 1 of `my_map`
/// and atomically increments the value, with `map_fd` in the ld_imm64 the loader relocates.
/// Hand-assembled from the C (the ELF loader will load the clang-built object instead), so
/// its tag is not the one a kernel shows for that object. Without the lookup: `r0 = 1; exit`.
pub fn seed_insns(map_fd: Option<i32>) -> Vec<Insn> {
    let Some(fd) = map_fd else {
        return vec![Insn::mov64_imm(0, 1), Insn::exit()];
    };
    let mut v = vec![
        Insn::mov64_imm(1, 1),                            // r1 = 1
        Insn::stx_mem(sim::prog::insn::BPF_W, 10, 1, -4), // *(u32 *)(r10 - 4) = r1
        Insn::mov64_reg(2, 10),                           // r2 = r10
        Insn::alu64_imm(sim::prog::insn::BPF_ADD, 2, -4), // r2 += -4
    ];
    v.extend(Insn::ld_map_fd(1, fd)); // r1 = my_map ll
    v.extend([
        Insn::call_helper(1),   // call bpf_map_lookup_elem
        Insn::jeq_imm(0, 0, 2), // if r0 == 0 goto +2
        Insn::mov64_imm(1, 1),  // r1 = 1
        Insn {
            code: 0xdb,
            dst: 0,
            src: 1,
            off: 0,
            imm: 0,
        }, // lock *(u64 *)(r0 + 0) += r1
        Insn::mov64_imm(0, 1),  // r0 = 1
        Insn::exit(),
    ]);
    v
}

/// What the seed scenario found.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// Whether the program referenced the map.
    pub with_lookup: bool,
    /// Whether `my_map` was still listed after bpftool exited.
    pub map_survived_exit: bool,
    /// Whether it was still listed right after the program's pin was removed (it waits for
    /// the grace period).
    pub map_listed_after_unpin: bool,
    /// The listing after bpftool exited.
    pub listing: String,
    /// The explanation of `my_map` right after bpftool exited (or of its death).
    pub explanation: String,
}

/// The seed question, end to end: `bpftool prog load seed.o /sys/fs/bpf/my_prog` (create the
/// map, load the program with or without the map reference, pin it, exit), then
/// `bpftool prog show` and `map show`, then remove the pin and wait a grace period.
pub fn seed(with_lookup: bool) -> (Session, SeedReport) {
    let mut s = Session::default();
    let sh = s.spawn("sh", Cred::ROOT);
    s.mount_bpffs(sh, "/sys/fs/bpf").expect("mount bpffs");

    s.note("bpftool prog load seed.o /sys/fs/bpf/my_prog");
    let bpftool = s.spawn("bpftool", Cred::ROOT);
    let map = s
        .map_create(
            bpftool,
            &MapCreateAttr::new(map_type::ARRAY, 4, 8, 10).name("my_map"),
        )
        .expect("map create");
    let map_serial =
        s.k.explain(s.k.obj_of_fd(bpftool, map).expect("map fd"))
            .serial;
    let insns = seed_insns(with_lookup.then_some(map));
    let prog = s
        .prog_load(
            bpftool,
            &ProgLoadAttr::new(prog_type::SOCK_OPS, &insns).name("my_prog"),
        )
        .expect("prog load");
    s.obj_pin(bpftool, prog, "/sys/fs/bpf/my_prog")
        .expect("pin");
    s.exit(bpftool).expect("exit");

    s.note("bpftool prog show; bpftool map show");
    let show = s.spawn("bpftool", Cred::ROOT);
    s.list_progs(show);
    let maps = s.list_maps(show);
    s.exit(show).expect("exit");
    let map_survived_exit = !maps.is_empty();
    let listing = s.show();
    let explanation =
        s.k.explain_serial(map_serial)
            .map(|e| e.to_string())
            .unwrap_or_default();

    s.note("rm /sys/fs/bpf/my_prog");
    s.unlink(sh, "/sys/fs/bpf/my_prog").expect("unlink");
    let map_listed_after_unpin = !s.list_maps(sh).is_empty();
    s.synchronize();
    s.list_maps(sh);
    s.list_progs(sh);
    s.umount(sh, "/sys/fs/bpf").expect("umount");
    s.exit(sh).expect("exit");
    s.synchronize();
    let report = SeedReport {
        with_lookup,
        map_survived_exit,
        map_listed_after_unpin,
        listing,
        explanation,
    };
    (s, report)
}

/// The seed report as text: the trace, the listing after bpftool exited, and the map's story.
pub fn seed_text(with_lookup: bool) -> String {
    let (s, r) = seed(with_lookup);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "== seed, program {} the map ==",
        if with_lookup { "uses" } else { "does not use" }
    );
    out.push_str(s.trace());
    let _ = writeln!(out, "\n== after bpftool exited ==");
    out.push_str(&r.listing);
    let _ = writeln!(out, "\n== my_map ==");
    out.push_str(&r.explanation);
    let _ = writeln!(
        out,
        "\nanswer: my_map {} bpftool's exit{}",
        if r.map_survived_exit {
            "survives"
        } else {
            "dies at"
        },
        if r.map_survived_exit {
            "; it is freed one grace period after the pinned program goes"
        } else {
            ": only bpftool's fd held it"
        }
    );
    out
}

use super::*;
use crate::prog::disasm::{Dialect, disasm};

fn array(max: u32, value_size: u32) -> MapDesc {
    MapDesc {
        map_type: mt::ARRAY,
        key_size: 4,
        value_size,
        max_entries: max,
        ..Default::default()
    }
}

fn ld_map(dst: u8, id: i32) -> [Insn; 2] {
    Insn::ld_imm64_raw(dst, pseudo::MAP_FD, id, 0)
}

fn key_on_stack() -> [Insn; 2] {
    [Insn::mov64_reg(2, 10), Insn::alu64_imm(BPF_ADD, 2, -4)]
}

fn run(insns: &[Insn], pt: u32, maps: &[(usize, MapDesc)]) -> Xlated {
    translate(
        insns,
        &[0],
        pt,
        &maps.iter().cloned().collect(),
        true,
        TagHash::Sha256,
    )
}

fn text(x: &Xlated) -> String {
    let opts = dump_opts(x, &[0; 8], "t", Dialect::Linux6_18);
    disasm(&x.insns, &opts)
}

#[test]
fn array_lookup_is_inlined_and_jumps_over_it_are_retargeted() {
    let mut p = vec![Insn::jeq_imm(1, 0, 5)]; // over the lookup, to `r0 = 0`
    p.extend(key_on_stack());
    p.extend(ld_map(1, 7));
    p.extend([Insn::call_helper(1), Insn::mov64_imm(0, 0), Insn::exit()]);
    let x = run(&p, pt::SOCKET_FILTER, &[(3, array(4, 20))]);
    assert_eq!(
        text(&x),
        "   0: (15) if r1 == 0x0 goto pc+11\n\
         \x20  1: (bf) r2 = r10\n\
         \x20  2: (07) r2 += -4\n\
         \x20  3: (18) r1 = map[id:7]\n\
         \x20  5: (07) r1 += 312\n\
         \x20  6: (61) r0 = *(u32 *)(r2 +0)\n\
         \x20  7: (35) if r0 >= 0x4 goto pc+3\n\
         \x20  8: (27) r0 *= 24\n\
         \x20  9: (0f) r0 += r1\n\
         \x20 10: (05) goto pc+1\n\
         \x20 11: (b7) r0 = 0\n\
         \x20 12: (b7) r0 = 0\n\
         \x20 13: (95) exit\n"
    );
    assert!(x.unmodeled.is_empty());
    assert!(
        x.func_tags.is_empty(),
        "one function: the program's own tag"
    );
}

#[test]
fn a_lookup_in_a_map_of_maps_knows_the_inner_template() {
    let outer = MapDesc {
        map_type: mt::HASH_OF_MAPS,
        key_size: 4,
        value_size: 4,
        max_entries: 2,
        inner: Some(Box::new(array(8, 8))),
        ..Default::default()
    };
    let mut p = key_on_stack().to_vec();
    p.extend(ld_map(1, 3));
    p.extend([Insn::call_helper(1), Insn::jeq_imm(0, 0, 5)]);
    p.extend(key_on_stack());
    // Through a stack spill and back.
    p.extend([
        Insn::raw(BPF_STX | BPF_MEM | BPF_DW, 10, 0, -16, 0),
        Insn::raw(BPF_LDX | BPF_MEM | BPF_DW, 1, 10, -16, 0),
    ]);
    p.extend([Insn::call_helper(1), Insn::mov64_imm(0, 0), Insn::exit()]);
    let x = run(&p, pt::XDP, &[(2, outer)]);
    let t = text(&x);
    assert!(t.contains("call __htab_map_lookup_elem#"), "{t}");
    assert!(t.contains("(15) if r0 == 0x0 goto pc+2\n"), "{t}");
    assert!(t.contains("(07) r0 += 56\n"), "{t}");
    assert!(t.contains("(79) r0 = *(u64 *)(r0 +0)\n"), "{t}");
    assert!(t.contains("(35) if r0 >= 0x8 goto pc+3\n"), "{t}");
    assert!(!t.contains("bpf_map_lookup_elem"), "{t}");
    // The null check after the outer lookup still lands on the `r0 = 0` after the inner.
    assert!(t.contains("   8: (15) if r0 == 0x0 goto pc+11\n"), "{t}");
}

#[test]
fn two_maps_at_one_call_poison_it_and_the_generic_helper_stays() {
    let mut p = vec![Insn::jeq_imm(1, 0, 3)];
    p.extend(ld_map(1, 1));
    p.push(Insn::ja(2));
    p.extend(ld_map(1, 2));
    p.extend(key_on_stack());
    p.extend([Insn::call_helper(1), Insn::mov64_imm(0, 0), Insn::exit()]);
    let x = run(&p, pt::XDP, &[(1, array(4, 8)), (4, array(4, 8))]);
    let t = text(&x);
    assert!(t.contains("call bpf_map_lookup_elem#-"), "{t}");
    assert_eq!(x.insns.len(), p.len());
}

#[test]
fn update_and_delete_bind_to_the_map_type_and_other_helpers_to_their_functions() {
    let hash = MapDesc {
        map_type: mt::HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        ..Default::default()
    };
    let mut p = ld_map(1, 1).to_vec();
    p.push(Insn::call_helper(2));
    p.extend(ld_map(1, 1));
    p.push(Insn::call_helper(3));
    p.extend([
        Insn::call_helper(7),
        Insn::call_helper(5),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ]);
    let x = run(&p, pt::XDP, &[(0, hash.clone()), (3, hash)]);
    let t = text(&x);
    for f in [
        "htab_map_update_elem",
        "htab_map_delete_elem",
        "bpf_user_rnd_u32",
        "bpf_ktime_get_ns",
    ] {
        assert!(t.contains(&format!("call {f}#-")), "{f}: {t}");
    }
}

#[test]
fn context_accesses_follow_the_measured_tables() {
    let p = [
        Insn::raw(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0),
        Insn::raw(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 4, 0),
        Insn::mov64_reg(6, 1),
        Insn::raw(BPF_LDX | BPF_MEM | BPF_W, 6, 6, 4, 0),
        // Not through the context: kept.
        Insn::raw(BPF_LDX | BPF_MEM | BPF_W, 4, 10, -4, 0),
        Insn::mov64_imm(0, 2),
        Insn::exit(),
    ];
    let x = run(&p, pt::XDP, &[]);
    assert_eq!(
        text(&x),
        "   0: (79) r2 = *(u64 *)(r1 +0)\n\
         \x20  1: (79) r3 = *(u64 *)(r1 +8)\n\
         \x20  2: (bf) r6 = r1\n\
         \x20  3: (79) r6 = *(u64 *)(r6 +8)\n\
         \x20  4: (61) r4 = *(u32 *)(r10 -4)\n\
         \x20  5: (b7) r0 = 2\n\
         \x20  6: (95) exit\n"
    );
    // __sk_buff: len, and a store to cb[0].
    let p = [
        Insn::raw(BPF_LDX | BPF_MEM | BPF_W, 0, 1, 0, 0),
        Insn::raw(BPF_STX | BPF_MEM | BPF_W, 1, 0, 48, 0),
        Insn::exit(),
    ];
    let x = run(&p, pt::SCHED_CLS, &[]);
    assert_eq!(x.insns[0], Insn::raw(0x61, 0, 1, 112, 0));
    assert_eq!(x.insns[1], Insn::raw(0x63, 1, 0, 48, 0));
}

#[test]
fn an_unmeasured_context_access_is_kept_and_reported() {
    // A narrow (1-byte) load of __sk_buff->len, and a program type never measured.
    let p = [
        Insn::raw(BPF_LDX | BPF_MEM | BPF_B, 0, 1, 0, 0),
        Insn::exit(),
    ];
    let x = run(&p, pt::SOCKET_FILTER, &[]);
    assert_eq!(x.insns, p);
    assert_eq!(x.unmodeled.len(), 1, "{:?}", x.unmodeled);
    assert!(x.unmodeled[0].starts_with("insn 0: load of 1 bytes"));
    let p = [
        Insn::raw(BPF_LDX | BPF_MEM | BPF_W, 0, 1, 0, 0),
        Insn::exit(),
    ];
    let x = run(&p, pt::KPROBE, &[]);
    assert_eq!(x.insns, p);
    assert_eq!(x.unmodeled.len(), 1);
}

#[test]
fn division_by_a_register_gets_the_kernels_guards() {
    let div = |code: u8, off: i16| {
        let p = [
            Insn::mov64_imm(3, 7),
            Insn::raw(code, 3, 2, off, 0),
            Insn::mov64_imm(0, 0),
            Insn::exit(),
        ];
        let x = run(&p, pt::SOCKET_FILTER, &[]);
        x.insns[1..x.insns.len() - 2]
            .iter()
            .map(|i| format!("{:02x}:{}:{}:{}:{}", i.code, i.dst, i.src, i.off, i.imm))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Measured on 6.18 (dst r3, src r2).
    assert_eq!(div(0x3f, 0), "55:2:0:2:0 ac:3:3:0:0 05:0:0:1:0 3f:3:2:0:0");
    assert_eq!(div(0x9f, 0), "15:2:0:1:0 9f:3:2:0:0");
    assert_eq!(div(0x3c, 0), "56:2:0:2:0 ac:3:3:0:0 05:0:0:1:0 3c:3:2:0:0");
    assert_eq!(div(0x9c, 0), "16:2:0:2:0 9c:3:2:0:0 05:0:0:1:0 bc:3:3:0:0");
    assert_eq!(
        div(0x3f, 1),
        "bf:11:2:0:0 07:11:0:0:1 25:11:0:4:1 15:11:0:1:0 b7:3:0:0:0 87:3:0:0:0 05:0:0:1:0 3f:3:2:1:0"
    );
    assert_eq!(
        div(0x9f, 1),
        "bf:11:2:0:0 07:11:0:0:1 25:11:0:3:1 15:11:0:3:1 b4:3:0:0:0 05:0:0:1:0 9f:3:2:1:0"
    );
    assert_eq!(
        div(0x3c, 1),
        "bf:11:2:0:0 04:11:0:0:1 26:11:0:4:1 16:11:0:1:0 b4:3:0:0:0 84:3:0:0:0 05:0:0:1:0 3c:3:2:1:0"
    );
    assert_eq!(
        div(0x9c, 1),
        "bf:11:2:0:0 04:11:0:0:1 26:11:0:3:1 16:11:0:4:1 b4:3:0:0:0 05:0:0:1:0 9c:3:2:1:0 05:0:0:1:0 bc:3:3:0:0"
    );
}

#[test]
fn nops_go_and_jumps_to_them_land_on_the_next_instruction() {
    let p = [
        Insn::jeq_imm(1, 0, 1),
        Insn::ja(0),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ];
    let x = run(&p, pt::SOCKET_FILTER, &[]);
    assert_eq!(
        x.insns,
        [Insn::jeq_imm(1, 0, 0), Insn::mov64_imm(0, 0), Insn::exit()]
    );
    // Unprivileged: kept, and the load says the hardening is not modeled.
    let x = translate(
        &p,
        &[0],
        pt::SOCKET_FILTER,
        &BTreeMap::new(),
        false,
        TagHash::Sha256,
    );
    assert_eq!(x.insns, p);
    assert_eq!(x.unmodeled.len(), 1);
}

#[test]
fn subprogram_calls_take_the_jit_layout_and_each_function_has_a_tag() {
    // main: r1 = ctx->len (sk_buff); call f; exit.   f (at 3): r0 = r1; exit.
    let p = [
        Insn::raw(BPF_LDX | BPF_MEM | BPF_W, 1, 1, 0, 0),
        Insn::call_pseudo(1),
        Insn::exit(),
        Insn::mov64_reg(0, 1),
        Insn::exit(),
    ];
    let x = translate(
        &p,
        &[0, 3],
        pt::SOCKET_FILTER,
        &BTreeMap::new(),
        true,
        TagHash::Sha256,
    );
    assert_eq!(x.func_starts, [0, 3]);
    assert_eq!((x.insns[1].off, x.insns[1].imm), (1, 1));
    assert_eq!(x.func_tags.len(), 2);
    // func[0] is hashed with the call as jit_subprogs has it: off = callee, imm = 1.
    let mut f0 = x.insns[..3].to_vec();
    f0[1].off = 1;
    f0[1].imm = 1;
    assert_eq!(x.func_tags[0], prog_tag(&f0, TagHash::Sha256));
    assert_eq!(x.func_tags[1], prog_tag(&p[3..], TagHash::Sha256));
    let ks = jited_ksyms(&x, &[0; 8], "main");
    assert_eq!(ks.len(), 2);
    assert!(ks[1].starts_with("bpf_prog_") && ks[1].ends_with("_F"));
    let t = text(&x);
    assert!(t.contains(&format!("call pc+1#{}\n", ks[1])), "{t}");
}

#[test]
fn garbage_never_panics() {
    // Jumps and calls out of range, a truncated ld_imm64, unknown opcodes.
    let p = [
        Insn::raw(0x05, 0, 0, 100, 0),
        Insn::raw(0x85, 0, 1, 0, -50),
        Insn::raw(0x3f, 12, 15, 1, 0),
        Insn::raw(0xff, 0, 0, 0, 0),
        Insn::raw(LD_IMM64, 1, 4, 0, 9),
    ];
    for privileged in [true, false] {
        let _ = translate(
            &p,
            &[0, 9],
            pt::XDP,
            &BTreeMap::new(),
            privileged,
            TagHash::Sha1,
        );
    }
    let _ = translate(&[], &[], pt::XDP, &BTreeMap::new(), true, TagHash::Sha256);
}

/// Every corpus program's translation as the model dumps it (`snapshots/xlated/`): the
/// issue's "snapshot it for the corpus". `kernel_xlated` (harness, root) checks the same
/// dumps against the kernel's.
#[test]
fn corpus_snapshots() {
    use crate::Cred;
    use crate::kernel::Kernel;
    use crate::loader::Object;
    use crate::loader::load::{KernelProc, LoadOpts, load};
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    files.sort();
    assert!(files.len() >= 16, "the corpus is there");
    for path in files {
        let stem = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let obj = Object::parse(&format!("{stem}.o"), &std::fs::read(&path).expect("read"))
            .expect("parse");
        let mut k = Kernel::default();
        let root = k.spawn("root", Cred::ROOT);
        for d in ["/sys", "/sys/fs", "/sys/fs/bpf"] {
            let _ = k.mkdir(root, d, 0o755);
        }
        k.mount_bpffs(root, "/sys/fs/bpf").expect("mount");
        let pid = k.spawn("loader", Cred::ROOT);
        let loaded = load(
            &obj,
            &mut KernelProc { k: &mut k, pid },
            &LoadOpts::default(),
        )
        .expect("load");
        for lp in &loaded.progs {
            let info = k.obj_get_info_by_fd(pid, lp.fd).expect("info");
            let id = info.u32(crate::maps::info::prog_info::ID);
            let (_, idx) = k.prog_id_table().find(|(i, _)| *i == id).expect("id");
            let p = k.prog(idx).expect("prog");
            let x = &p.translated;
            let mut s = format!(
                "{stem}.o {}: {} insns submitted, {} translated; functions at {:?}\n",
                lp.name,
                p.insns.len(),
                x.insns.len(),
                x.func_starts
            );
            for n in &x.unmodeled {
                s.push_str(&format!("not modeled: {n}\n"));
            }
            assert!(
                x.unmodeled.is_empty(),
                "{stem} {}: {:?}",
                lp.name,
                x.unmodeled
            );
            assert_eq!(
                crate::prog::insn::encode(&x.insns),
                info.xlated,
                "OBJ_GET_INFO_BY_FD reports the translation"
            );
            s.push('\n');
            s.push_str(&dump(p, Dialect::Linux6_18));
            insta::with_settings!({ snapshot_path => "../../../snapshots/xlated", prepend_module_to_snapshot => false }, {
                insta::assert_snapshot!(format!("{stem}__{}", lp.name), s);
            });
        }
    }
}

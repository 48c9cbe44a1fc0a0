//! The same loader loads every corpus object into the simulator and into the real kernel;
//! the loaded states (map types, sizes, flags, names, frozen; program types, names, tags and
//! map references; the BTF-derived facts: which BTF object each map and program holds, the
//! maps' key/value type ids, the programs' func_info and line_info records) must be the same.
//! Needs root; otherwise it says the kernel tier was skipped.

use std::fmt::Write as _;

use harness::backend::linux::{kernel_tier, say_skipped};
use harness::backend::{Backend, BackendProc, BpfCall, BpfRet, FsCall, SimBackend};
use sim::loader::Object;
use sim::loader::load::{LoadOpts, load};
use sim::uapi::{map_type, prog_type};

/// Load `obj` on `b` and describe what was loaded, with map references as positions in the
/// object's map list (ids differ between machines).
fn load_and_describe(b: &mut dyn Backend, obj: &Object) -> String {
    let p = b.spawn(true).expect("spawn");
    let pin_root = format!("{}/{}", b.scratch_dir().trim_end_matches('/'), obj.name);
    b.fs(p, &FsCall::Mkdir(pin_root.clone(), 0o755))
        .expect("mkdir");
    b.fs(p, &FsCall::MountBpffs(pin_root.clone()))
        .expect("mount");
    let loaded = {
        let mut sys = BackendProc { b: &mut *b, p };
        load(
            obj,
            &mut sys,
            &LoadOpts {
                pin_root: pin_root.clone(),
            },
        )
    };
    let mut out = String::new();
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(out, "load failed: {e}");
            let _ = b.exit(p);
            return out;
        }
    };
    // BTF objects named by order of appearance (ids differ between machines).
    let mut btfs: Vec<u32> = Vec::new();
    let mut btf_name = |id: u32| -> String {
        if id == 0 {
            return "none".into();
        }
        let i = btfs.iter().position(|&b| b == id).unwrap_or_else(|| {
            btfs.push(id);
            btfs.len() - 1
        });
        format!("#{i}")
    };
    let mut map_ids = Vec::new();
    for m in &loaded.maps {
        let Ok(BpfRet::Info { info, .. }) = b.bpf(p, &BpfCall::Info { fd: m.fd }) else {
            panic!("map info")
        };
        let u = |o: usize| u32::from_le_bytes(info[o..o + 4].try_into().expect("4"));
        let name: String = info[24..40]
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as char)
            .collect();
        map_ids.push(u(4));
        let _ = writeln!(
            out,
            "map {}: {} name {name} key {} value {} max {} flags {:#x}",
            m.name,
            map_type::name(u(0)).unwrap_or("?"),
            u(8),
            u(12),
            u(16),
            u(20)
        );
        {
            use sim::maps::info::map_info as mi;
            let _ = writeln!(
                out,
                "  btf {} key type {} value type {} vmlinux value type {}",
                btf_name(u(mi::BTF_ID)),
                u(mi::BTF_KEY_TYPE_ID),
                u(mi::BTF_VALUE_TYPE_ID),
                u(mi::BTF_VMLINUX_VALUE_TYPE_ID)
            );
        }
    }
    for pr in &loaded.progs {
        let Ok(BpfRet::Info {
            info,
            map_ids: used,
            ..
        }) = b.bpf(p, &BpfCall::Info { fd: pr.fd })
        else {
            panic!("prog info")
        };
        let tag: String = info[8..16].iter().map(|x| format!("{x:02x}")).collect();
        let t = u32::from_le_bytes(info[0..4].try_into().expect("4"));
        let refs: Vec<String> = used
            .iter()
            .map(|id| {
                map_ids
                    .iter()
                    .position(|m| m == id)
                    .map_or("?".into(), |i| loaded.maps[i].name.clone())
            })
            .collect();
        let _ = writeln!(
            out,
            "prog {}: {} tag {tag} maps [{}]",
            pr.name,
            prog_type::name(t).unwrap_or("?"),
            refs.join(", ")
        );
        {
            use sim::maps::info::prog_info as pi;
            let u = |o: usize| u32::from_le_bytes(info[o..o + 4].try_into().expect("4"));
            let Ok(BpfRet::Records {
                func_info,
                line_info,
            }) = b.bpf(p, &BpfCall::Records { fd: pr.fd })
            else {
                panic!("prog records")
            };
            let w =
                |b: &[u8], i: usize| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().expect("4"));
            let funcs: Vec<String> = func_info
                .chunks(8)
                .map(|r| format!("{}:{}", w(r, 0), w(r, 1)))
                .collect();
            let lines: Vec<String> = line_info
                .chunks(16)
                .map(|r| {
                    format!(
                        "{}:{}:{}:{}:{}",
                        w(r, 0),
                        w(r, 1),
                        w(r, 2),
                        w(r, 3) >> 10,
                        w(r, 3) & 0x3ff
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "  btf {} func_info {} (rec {}) [{}]\n  line_info {} (rec {}) [{}]",
                btf_name(u(pi::BTF_ID)),
                u(pi::NR_FUNC_INFO),
                u(pi::FUNC_INFO_REC_SIZE),
                funcs.join(" "),
                u(pi::NR_LINE_INFO),
                u(pi::LINE_INFO_REC_SIZE),
                lines.join(" ")
            );
        }
    }
    for m in &loaded.maps {
        if let Some(path) = &m.pinned {
            let _ = b.fs(p, &FsCall::Unlink(path.clone()));
        }
    }
    b.exit(p).expect("exit");
    let root = b.spawn(true).expect("spawn");
    let _ = b.fs(root, &FsCall::Umount(pin_root.clone()));
    let _ = b.fs(root, &FsCall::Rmdir(pin_root));
    let _ = b.exit(root);
    out
}

#[test]
fn every_corpus_object_loads_the_same_into_the_simulator_and_the_kernel() {
    let mut kernel = match kernel_tier() {
        Ok(k) => k,
        Err(why) => return say_skipped(&why),
    };
    let mut agreed = 0;
    let (mut with_btf, mut with_lines) = (0, 0);
    let mut diffs = Vec::new();
    for (name, bytes) in crate::corpus_objects() {
        let obj = Object::parse(&name, &bytes).expect("parse");
        let sim = load_and_describe(&mut SimBackend::default(), &obj);
        let real = load_and_describe(&mut kernel, &obj);
        if sim == real {
            agreed += 1;
            with_btf += usize::from(real.contains("btf #0"));
            with_lines += usize::from(
                real.lines()
                    .any(|l| l.starts_with("  line_info ") && !l.starts_with("  line_info 0 ")),
            );
        } else {
            diffs.push(format!("{name}:\n--- sim\n{sim}--- kernel\n{real}"));
        }
    }
    {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "loader_differential: {agreed} corpus objects loaded the same on both \
             ({with_btf} with BTF, {with_lines} with line_info)"
        );
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // Both sides without BTF would agree too: the kernel must have taken the corpus's BTF.
    assert!(
        with_btf > 0 && with_lines > 0,
        "no corpus object loaded with BTF and line_info"
    );
}

//! The translated program checked against the kernel (issue 4): every corpus object is loaded
//! with the project's loader into the running kernel (root, `LinuxBackend`) and into the
//! simulator; for every program, `bpftool prog dump xlated` of the kernel's copy and the
//! model's dump (`Kernel::prog_dump`, bpftool's syntax) must be equal after
//! normalising only what must differ:
//! - map ids (`map[id:N]`): each machine numbers its own maps; both sides show the map's
//!   name instead (ids are looked up through each side's `OBJ_GET_INFO_BY_FD`).
//! - kernel function addresses (the `#N` after a kernel function's name in a `call`): the
//!   kernel's are `fn - __bpf_call_base` of this build, the model's are stand-ins. Calls that
//!   still hold a helper id (`call bpf_tail_call#12`) are compared as they are.
//!
//! The loader loads the object's BTF on both machines, so both dumps have the source lines
//! (`line_info`, adjusted to the translated program), the functions' BTF signatures
//! (`func_info`) and subprograms named `bpf_prog_<tag>_<BTF name>`; all of it (and so the
//! subprogram tags) is compared as it is.
//!
//! `BPFSIM_SHOW_XLATED=1` prints both dumps of every program.
//!
//! Programs the model cannot translate exactly are listed in [`NOT_EXACT`] with the reason;
//! the test fails if one of them starts matching (so the list stays true) or if any other
//! program differs. Without root or bpftool it prints `kernel tier skipped: <reason>`.

use std::fmt::Write as _;
use std::process::Command;

use harness::backend::linux::{kernel_tier, say_skipped};
use harness::backend::{Backend, BackendProc, BpfCall, BpfRet, FsCall};
use sim::loader::Object;
use sim::loader::load::{KernelProc, LoadOpts, load};
use sim::prog::disasm::{Dialect, HELPER_NAMES};
use sim::{Cred, Kernel};

/// (object, program, why the model's translation differs from the kernel's).
const NOT_EXACT: &[(&str, &str, &str)] = &[];

/// The installed bpftool's syntax, or why it has none the model reproduces.
fn bpftool_dialect() -> Result<(Dialect, String), String> {
    let out = Command::new("bpftool")
        .arg("version")
        .output()
        .map_err(|e| format!("bpftool not runnable: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("").trim().to_owned();
    let v = first
        .strip_prefix("bpftool v")
        .ok_or_else(|| format!("unexpected `bpftool version` output {first:?}"))?;
    let mut parts = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    match (major, minor) {
        (7, 1) => Ok((Dialect::Bpftool7_1, first)),
        (7, m) if m >= 6 => Ok((Dialect::Linux6_18, first)),
        _ => Err(format!("{first}: no modeled dump syntax (7.1 or 7.6+)")),
    }
}

/// Replaces `map[id:N]` by `map[<name>]` and the address after a kernel function's name.
fn normalise(dump: &str, names: &[(u32, String)]) -> String {
    let mut out = String::new();
    for line in dump.lines() {
        let mut l = line.to_owned();
        if let Some(a) = l.find("map[id:") {
            let rest = &l[a + 7..];
            let end = rest.find(']').unwrap_or(rest.len());
            let id: u32 = rest[..end].parse().unwrap_or(0);
            let name = names
                .iter()
                .find(|(i, _)| *i == id)
                .map_or_else(|| format!("?{id}"), |(_, n)| n.clone());
            l = format!("{}map[{name}]{}", &l[..a], &rest[end + 1..]);
        }
        if let Some(c) = l.find(") call ").filter(|_| !l.contains("call pc")) {
            if let Some(h) = l.rfind('#').filter(|&h| h > c) {
                let num = &l[h + 1..];
                let is_id = num
                    .parse::<i64>()
                    .is_ok_and(|n| (0..HELPER_NAMES.len() as i64).contains(&n));
                if !is_id {
                    l = format!("{}#<addr>", &l[..h]);
                }
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The simulator's dumps of every program of `obj`: (program name, normalised dump, what
/// the model did not translate).
fn model_dumps(
    obj: &Object,
    dialect: Dialect,
) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let mut k = Kernel::default();
    let root = k.spawn("root", Cred::ROOT);
    k.mkdir(root, "/sys", 0o755).ok();
    k.mkdir(root, "/sys/fs", 0o755).ok();
    k.mkdir(root, "/sys/fs/bpf", 0o755).ok();
    k.mount_bpffs(root, "/sys/fs/bpf")
        .map_err(|e| format!("mount: {e:?}"))?;
    let pid = k.spawn("loader", Cred::ROOT);
    let loaded = load(
        obj,
        &mut KernelProc { k: &mut k, pid },
        &LoadOpts::default(),
    )
    .map_err(|e| format!("{e}"))?;
    let mut names = vec![];
    for m in &loaded.maps {
        let info = k
            .obj_get_info_by_fd(pid, m.fd)
            .map_err(|e| format!("{e:?}"))?;
        names.push((info.u32(4), m.name.clone()));
    }
    let mut out = vec![];
    for p in &loaded.progs {
        let info = k
            .obj_get_info_by_fd(pid, p.fd)
            .map_err(|e| format!("{e:?}"))?;
        let id = info.u32(4);
        let idx = k
            .prog_id_table()
            .find(|(i, _)| *i == id)
            .map(|(_, x)| x)
            .ok_or("prog id")?;
        let prog = k.prog(idx).ok_or("prog")?;
        let dump = k.prog_dump(prog, dialect);
        out.push((
            p.name.clone(),
            normalise(&dump, &names),
            prog.translated.unmodeled.clone(),
        ));
    }
    Ok(out)
}

/// The kernel's dumps of every program of `obj`, loaded with the project's loader and dumped
/// by bpftool from a pin in the backend's scratch bpffs.
fn kernel_dumps(b: &mut dyn Backend, obj: &Object) -> Result<Vec<(String, String)>, String> {
    let p = b.spawn(true)?;
    let pin_root = format!("{}/{}", b.scratch_dir().trim_end_matches('/'), obj.name);
    b.fs(p, &FsCall::Mkdir(pin_root.clone(), 0o755))
        .map_err(|e| format!("{e:?}"))?;
    b.fs(p, &FsCall::MountBpffs(pin_root.clone()))
        .map_err(|e| format!("{e:?}"))?;
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
    let mut out = Err("not loaded".to_owned());
    let mut pins = vec![];
    if let Ok(loaded) = &loaded {
        let mut names = vec![];
        for m in &loaded.maps {
            if let Ok(BpfRet::Info { info, .. }) = b.bpf(p, &BpfCall::Info { fd: m.fd }) {
                let id = u32::from_le_bytes(info[4..8].try_into().expect("4"));
                names.push((id, m.name.clone()));
            }
            pins.extend(m.pinned.clone());
        }
        let mut dumps = vec![];
        for pr in &loaded.progs {
            let path = format!("{pin_root}/prog_{}", pr.name);
            if let Err(e) = b.bpf(
                p,
                &BpfCall::Pin {
                    fd: pr.fd,
                    path: path.clone(),
                },
            ) {
                out = Err(format!("pin {path}: {e:?}"));
                break;
            }
            pins.push(path.clone());
            let o = Command::new("bpftool")
                .args(["prog", "dump", "xlated", "pinned", &path])
                .output()
                .map_err(|e| format!("bpftool: {e}"))?;
            if !o.status.success() {
                out = Err(format!("bpftool: {}", String::from_utf8_lossy(&o.stderr)));
                break;
            }
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            dumps.push((pr.name.clone(), normalise(&text, &names)));
        }
        if dumps.len() == loaded.progs.len() {
            out = Ok(dumps);
        }
    } else if let Err(e) = &loaded {
        out = Err(format!("load: {e}"));
    }
    for path in pins {
        let _ = b.fs(p, &FsCall::Unlink(path));
    }
    let _ = b.exit(p);
    let root = b.spawn(true)?;
    let _ = b.fs(root, &FsCall::Umount(pin_root.clone()));
    let _ = b.fs(root, &FsCall::Rmdir(pin_root));
    let _ = b.exit(root);
    out
}

#[test]
fn every_corpus_program_dumps_the_same_xlated_as_the_kernel() {
    let mut kernel = match kernel_tier() {
        Ok(k) => k,
        Err(why) => return say_skipped(&format!("kernel_xlated: {why}")),
    };
    let (dialect, bpftool) = match bpftool_dialect() {
        Ok(d) => d,
        Err(why) => return say_skipped(&format!("kernel_xlated: {why}")),
    };
    let (mut same, mut objects) = (0, 0);
    let mut bad = vec![];
    let mut listed_seen = vec![];
    for (file, bytes) in crate::corpus_objects() {
        let obj = Object::parse(&file, &bytes).expect("parse");
        let model = model_dumps(&obj, dialect).unwrap_or_else(|e| panic!("{file}: sim: {e}"));
        let real =
            kernel_dumps(&mut kernel, &obj).unwrap_or_else(|e| panic!("{file}: kernel: {e}"));
        objects += 1;
        for ((name, mine, unmodeled), (kname, theirs)) in model.iter().zip(&real) {
            assert_eq!(name, kname, "{file}: programs in the same order");
            if std::env::var_os("BPFSIM_SHOW_XLATED").is_some() {
                eprintln!("=== {file} {name}\n--- model\n{mine}--- kernel\n{theirs}");
            }
            let listed = NOT_EXACT.iter().find(|(o, p, _)| *o == file && p == name);
            if let Some(l) = listed {
                listed_seen.push(*l);
            }
            match (mine == theirs, listed) {
                (true, None) if unmodeled.is_empty() => same += 1,
                (true, None) => bad.push(format!(
                    "{file} {name}: equal, yet the model says it did not translate: {unmodeled:?}"
                )),
                (false, None) => {
                    let mut d = String::new();
                    for (k, (a, b)) in mine.lines().zip(theirs.lines()).enumerate() {
                        if a != b {
                            let _ = writeln!(
                                d,
                                "  first difference at line {k}:\n    model:  {a}\n    kernel: {b}"
                            );
                            break;
                        }
                    }
                    bad.push(format!(
                        "{file} {name}: differs ({} vs {} lines; model notes {unmodeled:?})\n{d}--- model\n{mine}--- kernel\n{theirs}",
                        mine.lines().count(),
                        theirs.lines().count()
                    ));
                }
                (true, Some((_, _, why))) => bad.push(format!(
                    "{file} {name}: listed as not exact ({why}) but equal: take it off the list"
                )),
                (false, Some((_, _, why))) => {
                    eprintln!("kernel_xlated: {file} {name}: not exact, as listed: {why}");
                }
            }
        }
        if model.len() != real.len() {
            bad.push(format!(
                "{file}: {} programs in the model, {} in the kernel",
                model.len(),
                real.len()
            ));
        }
    }
    if listed_seen.len() != NOT_EXACT.len() {
        bad.push(format!(
            "NOT_EXACT names programs the corpus does not have: {NOT_EXACT:?}"
        ));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned());
    eprintln!(
        "kernel_xlated: {same} programs in {objects} objects dump the same xlated as the kernel \
         (Linux {release}, {bpftool}); {} listed as not exact",
        NOT_EXACT.len()
    );
}

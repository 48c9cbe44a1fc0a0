//! The ELF loader checked against the kernel (issue "The ELF loader", "Checked against the
//! kernel"): every corpus object is loaded with `bpftool prog loadall` on the running kernel
//! (`corpus/loadall.sh --tsv`, root, in a private mount namespace that takes its bpffs mounts
//! with it), and for every program bpftool loaded, the tag bpfsim computes (`Object::parse` →
//! `relocate` → `prog_tag`, SHA-256) must equal the kernel's. The kernel hashes what libbpf
//! submitted with map immediates masked, so equal tags mean bpfsim relocated the program as
//! libbpf did. Objects libbpf refuses (the legacy seeds: libbpf 1.x rejects `SEC("maps")`)
//! must be exactly the expected ones, for the expected reason. Without root, bpftool, unshare
//! or a mountable bpffs it says `kernel tier skipped: <reason>` and passes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use harness::backend::linux::say_skipped;
use sim::loader::{Object, relocate};
use sim::prog::tag::{TagHash, prog_tag};
use sim::uapi::prog_type;

/// The objects libbpf 1.x refuses before loading anything, and the message it gives.
const REFUSED: &[&str] = &["seed_legacy_lookup.o", "seed_legacy_nolookup.o"];
const LEGACY_MSG: &str =
    "libbpf: elf: legacy map definitions in 'maps' section are not supported by libbpf v1.0+";

/// `BPF_OBJ_NAME_LEN - 1`: the kernel keeps this much of a program's name.
const KERNEL_NAME_MAX: usize = 15;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

/// One program bpftool loaded.
#[derive(Debug)]
struct Loaded {
    /// libbpf's program name (the pin's file name).
    name: String,
    /// The kernel's name for it (at most 15 bytes).
    kernel_name: String,
    /// bpftool's name for its type (`"xdp"`).
    prog_type: String,
    /// `bpf_prog_info.tag`, hex.
    tag: String,
}

/// What `loadall.sh --tsv` reported.
#[derive(Debug, Default)]
struct Report {
    /// `# ` comment lines (bpftool and libbpf versions).
    comments: Vec<String>,
    /// Per object: the programs loaded, or libbpf's refusal.
    objects: BTreeMap<String, Result<Vec<Loaded>, String>>,
}

fn parse_report(out: &str) -> Report {
    let mut r = Report::default();
    for line in out.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            r.comments.push(c.to_owned());
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["loaded", obj, name, kernel_name, ty, tag] => {
                let e = r
                    .objects
                    .entry((*obj).to_owned())
                    .or_insert_with(|| Ok(vec![]));
                e.as_mut()
                    .unwrap_or_else(|_| panic!("{obj}: both refused and loaded"))
                    .push(Loaded {
                        name: (*name).to_owned(),
                        kernel_name: (*kernel_name).to_owned(),
                        prog_type: (*ty).to_owned(),
                        tag: (*tag).to_owned(),
                    });
            }
            ["rejected", obj, reason] => {
                let old = r
                    .objects
                    .insert((*obj).to_owned(), Err((*reason).to_owned()));
                assert!(old.is_none(), "{obj}: reported twice");
            }
            _ => panic!("loadall.sh --tsv: unexpected line {line:?}"),
        }
    }
    r
}

/// Runs `loadall.sh --tsv`; `None` (after saying why) when it cannot run here.
fn load_all() -> Option<Report> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        say_skipped("kernel_tags: needs root (bpftool prog loadall, mount namespace, bpffs)");
        return None;
    }
    let script = corpus_dir().join("loadall.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg("--tsv")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) {
        let why = stderr
            .lines()
            .find_map(|l| l.strip_prefix("loadall.sh: skipped: "))
            .unwrap_or_else(|| panic!("loadall.sh exited 2 without saying why:\n{stderr}"));
        say_skipped(&format!("kernel_tags: {why}"));
        return None;
    }
    assert!(
        out.status.success(),
        "loadall.sh --tsv failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let report = parse_report(&stdout);
    // Root but bpf() refused (a container without CAP_BPF/CAP_SYS_ADMIN, a lockdown): then
    // nothing loads at all, not even the trivial program. That is an environment, not a
    // mismatch.
    if let Some(Err(why)) = report.objects.get("xdp_trivial.o") {
        if why.contains("Operation not permitted") {
            say_skipped(&format!(
                "kernel_tags: bpftool cannot load programs here: {why}"
            ));
            return None;
        }
    }
    Some(report)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn kernel_tags() {
    let Some(report) = load_all() else { return };

    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".o"))
        .collect();
    files.sort();
    let reported: Vec<&String> = report.objects.keys().collect();
    assert_eq!(
        reported,
        files.iter().collect::<Vec<_>>(),
        "loadall.sh must report every corpus object"
    );

    let mut bad = vec![];
    let mut refused = BTreeSet::new();
    let (mut programs, mut objects) = (0, 0);
    for file in &files {
        let bytes = std::fs::read(corpus_dir().join(file)).expect("read object");
        let obj = Object::parse(file, &bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Any fds: the kernel masks map immediates out of the tag.
        let fds: Vec<i32> = (3..).take(obj.maps.len()).collect();
        let linked = relocate(&obj, &fds).unwrap_or_else(|e| panic!("{file}: {e}"));
        let loaded = match &report.objects[file] {
            Ok(loaded) => loaded,
            Err(why) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "kernel_tags: {file} skipped: bpftool refused it: {why}"
                );
                if !why.contains(LEGACY_MSG) {
                    bad.push(format!("{file}: refused for an unexpected reason: {why}"));
                }
                refused.insert(file.as_str());
                continue;
            }
        };
        objects += 1;
        let mine: BTreeSet<&str> = linked.iter().map(|l| l.name.as_str()).collect();
        let theirs: BTreeSet<&str> = loaded.iter().map(|p| p.name.as_str()).collect();
        if mine != theirs {
            bad.push(format!(
                "{file}: bpfsim has programs {mine:?}, bpftool loaded {theirs:?}"
            ));
        }
        for k in loaded {
            programs += 1;
            let Some(l) = linked.iter().find(|l| l.name == k.name) else {
                continue;
            };
            let short = &l.name[..l.name.len().min(KERNEL_NAME_MAX)];
            if k.kernel_name != l.name && k.kernel_name != short {
                bad.push(format!(
                    "{file} {}: the kernel calls it {:?}",
                    l.name, k.kernel_name
                ));
            }
            let ty = prog_type::name(l.prog_type).unwrap_or("?");
            if ty != k.prog_type {
                bad.push(format!(
                    "{file} {}: bpfsim's type {ty}, the kernel's {}",
                    l.name, k.prog_type
                ));
            }
            let tag = hex(&prog_tag(&l.insns, TagHash::Sha256));
            if tag != k.tag {
                bad.push(format!(
                    "{file} {}: bpfsim's tag {tag}, the kernel's {}",
                    l.name, k.tag
                ));
            }
        }
    }
    let expected: BTreeSet<&str> = REFUSED.iter().copied().collect();
    if refused != expected {
        bad.push(format!(
            "refused by bpftool: {refused:?}, expected exactly {expected:?}"
        ));
    }
    assert!(
        bad.is_empty(),
        "bpfsim disagrees with the kernel:\n{}",
        bad.join("\n")
    );

    let libbpf = report
        .comments
        .iter()
        .find_map(|c| c.strip_prefix("using libbpf v"))
        .map_or_else(|| "libbpf".to_owned(), |v| format!("libbpf {v}"));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned());
    let _ = writeln!(
        std::io::stderr(),
        "kernel_tags: {programs} programs in {objects} objects match the kernel's tags \
         (Linux {kernel}); {} objects refused by {libbpf} (legacy maps)",
        refused.len()
    );
}

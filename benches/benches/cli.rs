//! `cli`: whole-process time of `bpfsim prog load` of the seed object into a fresh state,
//! against `bpftool prog load` of the same object on the real kernel, both as processes, in
//! the same run. `version` of each gives the process start-up floor.
//!
//! - `cli/prog_load/bpfsim`: `bpfsim --state <fresh> prog load corpus/seed_btf_lookup.o
//!   /sys/fs/bpf/bench_prog` (the state file is removed before each run, untimed: boot, ELF
//!   parse and load, pin, exit, journal write);
//! - `cli/prog_load/bpftool`: `bpftool prog load corpus/seed_btf_lookup.o <bpffs>/bench_prog`
//!   on a bpffs this bench mounts under a scratch directory (root only; the pin is removed
//!   before each run, untimed; the mount and directory are removed at the end). Without root
//!   it prints `kernel peer skipped: <reason>`;
//! - `cli/version/{bpfsim,bpftool}`.
//!
//! The `bpfsim` binary is `target/release/bpfsim`, rebuilt first if out of date.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use benches::report::{cell, estimate_ns, ratio};
use criterion::{BatchSize, BenchmarkId, Criterion};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/release/bpfsim`, brought up to date first (`cargo build --release`).
fn bpfsim_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target/release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "--release", "-p", "harness", "--bin", "bpfsim"])
        .current_dir(root())
        .status()
        .expect("cargo build");
    assert!(st.success(), "building bpfsim failed");
    dir.join("bpfsim")
}

/// Runs a process to completion, output discarded; panics if it fails.
fn run(cmd: &mut Command) {
    let st = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    assert!(st.success(), "{cmd:?} failed: {st}");
}

/// A bpffs mounted on a scratch directory for bpftool's pins; unmounted and removed on drop.
struct Bpffs(PathBuf);

impl Bpffs {
    fn mount() -> Result<Bpffs, String> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(format!("not root (euid {euid})"));
        }
        if Command::new("bpftool").arg("version").output().is_err() {
            return Err("bpftool is not installed".into());
        }
        let dir = std::env::temp_dir().join(format!("bpfsim-bench-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir: {e}"))?;
        let st = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .map_err(|e| format!("mount: {e}"))?;
        if !st.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("mount -t bpf failed: {st}"));
        }
        Ok(Bpffs(dir))
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn bench(c: &mut Criterion) {
    let bin = bpfsim_bin();
    let obj = root().join("corpus/seed_btf_lookup.o");
    let state = std::env::temp_dir().join(format!("bpfsim-bench-state-{}", std::process::id()));
    let mut g = c.benchmark_group("cli");
    g.sample_size(50)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function(BenchmarkId::new("prog_load", "bpfsim"), |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(&state);
            },
            |()| {
                run(Command::new(&bin)
                    .arg("--state")
                    .arg(&state)
                    .args(["prog", "load"])
                    .arg(&obj)
                    .arg("/sys/fs/bpf/bench_prog"))
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function(BenchmarkId::new("version", "bpfsim"), |b| {
        b.iter(|| run(Command::new(&bin).arg("--state").arg(&state).arg("version")))
    });
    let _ = std::fs::remove_file(&state);
    match Bpffs::mount() {
        Ok(fs) => {
            let pin = fs.0.join("bench_prog");
            g.bench_function(BenchmarkId::new("prog_load", "bpftool"), |b| {
                b.iter_batched(
                    || {
                        let _ = std::fs::remove_file(&pin);
                    },
                    |()| {
                        run(Command::new("bpftool")
                            .args(["prog", "load"])
                            .arg(&obj)
                            .arg(&pin))
                    },
                    BatchSize::PerIteration,
                )
            });
            g.bench_function(BenchmarkId::new("version", "bpftool"), |b| {
                b.iter(|| run(Command::new("bpftool").arg("version")))
            });
            let _ = std::fs::remove_file(&pin);
        }
        Err(why) => println!("kernel peer skipped: {why}"),
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    let est = |id: &str| estimate_ns("cli", id);
    let (ours, theirs) = (est("prog_load/bpfsim"), est("prog_load/bpftool"));
    println!(
        "cli: prog load of seed_btf_lookup.o, whole process: bpfsim {} us, bpftool {} us, ratio bpftool/bpfsim {} (target > 1: faster than bpftool); version: bpfsim {} us, bpftool {} us",
        cell(ours.map(|v| v / 1e3)),
        cell(theirs.map(|v| v / 1e3)),
        cell(ratio(theirs, ours)),
        cell(est("version/bpfsim").map(|v| v / 1e3)),
        cell(est("version/bpftool").map(|v| v / 1e3)),
    );
}

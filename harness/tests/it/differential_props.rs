//! Property-based differential testing: proptest generates operation sequences over a few
//! processes (map creates of each modeled type with good and bad attributes, element ops with
//! every flag, pins in nested directories, get, dup, fork, close, exit, fd-by-id, next-id,
//! program loads with and without map references, prog_array and map-in-map updates, freeze,
//! bind-map, raw attrs with garbage past the last field), writes each as a scenario, runs it on
//! the simulator and, where the kernel tier is available, on the real kernel, and shrinks any
//! unexplained difference to a minimal sequence.
//!
//! The sequences are settled: a `sync` follows every step that can drop a reference, so the
//! kernel's asynchronous frees (15-25 ms for a program's maps) never race an observation. The
//! windows in between are covered by the simulator's own property test against its reference
//! model (`sim/tests/it/lifetime_props.rs`).
//!
//! `BPFSIM_DIFF_CASES` sets the case count (default 400 with the kernel tier, 256 without);
//! `BPFSIM_SEED` the generator's seed (a constant by default, so runs repeat).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};

use harness::backend::{Backend, SimBackend};
use harness::divergence::{shipped, unexplained};
use harness::scenario::{parse, run};

/// One generated step, in terms of indexes the compiler resolves against the names alive.
#[derive(Clone, Debug)]
enum Choice {
    Spawn(bool),
    Fork(u8),
    Exit(u8),
    MapCreate(u8, u8, u8),
    ProgLoad(u8, u8, u8, u8, bool),
    Update(u8, u8, u8, u8),
    Lookup(u8, u8, u8),
    Delete(u8, u8, u8),
    NextKey(u8, u8, Option<u8>),
    LookupAndDelete(u8, u8, u8),
    Pin(u8, u8, u8),
    Get(u8, u8, u8),
    Unlink(u8, u8),
    Mkdir(u8),
    Dup(u8, u8),
    Close(u8, u8),
    FdById(u8, u8, u8),
    NextId(u8, u8),
    Freeze(u8, u8),
    Bind(u8, u8, u8),
    SlotUpdate(u8, u8, u8, u8),
    Info(u8, u8),
    Keys(u8, u8),
    Send(u8, u8, u8),
    Rename(u8, u8, u8),
    RawGarbage(u8, u8, u8),
    NonBpfFd(u8, u8),
}

fn choice() -> impl Strategy<Value = Choice> {
    let p = || 0u8..4;
    let x = || any::<u8>();
    prop_oneof![
        1 => any::<bool>().prop_map(Choice::Spawn),
        1 => p().prop_map(Choice::Fork),
        1 => p().prop_map(Choice::Exit),
        4 => (p(), 0u8..7, x()).prop_map(|(a, b, c)| Choice::MapCreate(a, b, c)),
        3 => (p(), 0u8..3, x(), x(), any::<bool>()).prop_map(|(a, b, c, d, e)| Choice::ProgLoad(a, b, c, d, e)),
        3 => (p(), x(), 0u8..12, 0u8..5).prop_map(|(a, b, c, d)| Choice::Update(a, b, c, d)),
        2 => (p(), x(), 0u8..12).prop_map(|(a, b, c)| Choice::Lookup(a, b, c)),
        1 => (p(), x(), 0u8..12).prop_map(|(a, b, c)| Choice::Delete(a, b, c)),
        1 => (p(), x(), proptest::option::of(0u8..12)).prop_map(|(a, b, c)| Choice::NextKey(a, b, c)),
        1 => (p(), x(), 0u8..12).prop_map(|(a, b, c)| Choice::LookupAndDelete(a, b, c)),
        2 => (p(), x(), 0u8..6).prop_map(|(a, b, c)| Choice::Pin(a, b, c)),
        2 => (p(), 0u8..6, 0u8..4).prop_map(|(a, b, c)| Choice::Get(a, b, c)),
        1 => (p(), 0u8..6).prop_map(|(a, b)| Choice::Unlink(a, b)),
        1 => p().prop_map(Choice::Mkdir),
        1 => (p(), x()).prop_map(|(a, b)| Choice::Dup(a, b)),
        2 => (p(), x()).prop_map(|(a, b)| Choice::Close(a, b)),
        1 => (p(), x(), 0u8..3).prop_map(|(a, b, c)| Choice::FdById(a, b, c)),
        1 => (p(), x()).prop_map(|(a, b)| Choice::NextId(a, b)),
        1 => (p(), x()).prop_map(|(a, b)| Choice::Freeze(a, b)),
        1 => (p(), x(), x()).prop_map(|(a, b, c)| Choice::Bind(a, b, c)),
        2 => (p(), x(), x(), 0u8..3).prop_map(|(a, b, c, d)| Choice::SlotUpdate(a, b, c, d)),
        1 => (p(), x()).prop_map(|(a, b)| Choice::Info(a, b)),
        2 => (p(), x()).prop_map(|(a, b)| Choice::Keys(a, b)),
        1 => (p(), x(), p()).prop_map(|(a, b, c)| Choice::Send(a, b, c)),
        1 => (p(), 0u8..6, 0u8..6).prop_map(|(a, b, c)| Choice::Rename(a, b, c)),
        2 => (p(), 0u8..10, x()).prop_map(|(a, b, c)| Choice::RawGarbage(a, b, c)),
        1 => (p(), 0u8..5).prop_map(|(a, b)| Choice::NonBpfFd(a, b)),
    ]
}

/// Names the compiler has handed out: processes alive, and per process the fd names it bound
/// (whether or not the call succeeded; an unbound name is an fd that is not open).
#[derive(Default)]
struct Names {
    procs: Vec<(String, Vec<String>)>,
    next_proc: usize,
    next_fd: usize,
    objects: Vec<String>,
}

impl Names {
    fn proc(&self, i: u8) -> Option<usize> {
        (!self.procs.is_empty()).then(|| i as usize % self.procs.len())
    }
    fn fd(&self, p: usize, i: u8) -> String {
        let fds = &self.procs[p].1;
        if fds.is_empty() {
            "none".into()
        } else {
            fds[i as usize % fds.len()].clone()
        }
    }
    fn bind(&mut self, p: usize) -> String {
        self.next_fd += 1;
        let n = format!("f{}", self.next_fd);
        self.procs[p].1.push(n.clone());
        self.objects.push(n.clone());
        n
    }
}

const MAPS: [&str; 7] = [
    "array key=4 value=8 max=4",
    "hash key=4 value=8 max=3 flags=0x40",
    "prog_array key=4 value=4 max=4",
    "array_of_maps key=4 value=4 max=2 inner=TMPL",
    "array key=8 value=8 max=4",
    "hash key=4 value=8 max=5",
    "hash_of_maps key=4 value=4 max=2 inner=TMPL",
];

/// Commands and the end of their last field, for raw attrs with garbage past it.
const RAW: [(u32, usize); 10] = [
    (1, 32),
    (2, 32),
    (3, 16),
    (4, 24),
    (22, 4),
    (12, 8),
    (11, 8),
    (13, 4),
    (14, 12),
    (35, 12),
];

/// Turn choices into a scenario: always valid syntax, settled after every releasing step.
fn compile(choices: &[Choice]) -> String {
    let mut n = Names::default();
    let mut s = String::new();
    let line = |s: &mut String, l: String| {
        s.push_str(&l);
        s.push('\n');
    };
    line(&mut s, "sh = spawn root".into());
    line(&mut s, "sh: mount $BPFFS".into());
    n.procs.push(("sh".into(), Vec::new()));
    let key = |k: u8| format!("{:02x}000000", k);
    for c in choices {
        let settle = match c {
            Choice::Spawn(root) => {
                if n.procs.len() < 4 {
                    n.next_proc += 1;
                    let name = format!("p{}", n.next_proc);
                    line(
                        &mut s,
                        format!("{name} = spawn {}", if *root { "root" } else { "user" }),
                    );
                    n.procs.push((name, Vec::new()));
                }
                false
            }
            Choice::Fork(i) => {
                if let (Some(p), true) = (n.proc(*i), n.procs.len() < 4) {
                    n.next_proc += 1;
                    let name = format!("p{}", n.next_proc);
                    line(&mut s, format!("{name} = fork {}", n.procs[p].0));
                    let fds = n.procs[p].1.clone();
                    n.procs.push((name, fds));
                }
                false
            }
            Choice::Exit(i) => match n.proc(*i) {
                Some(p) if p != 0 => {
                    line(&mut s, format!("{}: exit", n.procs[p].0));
                    n.procs.remove(p);
                    true
                }
                _ => false,
            },
            Choice::MapCreate(i, kind, v) => {
                let p = n.proc(*i).expect("sh is always there");
                let mut def = MAPS[*kind as usize].to_string();
                if def.contains("TMPL") {
                    let t = n.bind(p);
                    line(
                        &mut s,
                        format!(
                            "{}: {t} = map_create array key=4 value=8 max=4",
                            n.procs[p].0
                        ),
                    );
                    def = def.replace("TMPL", &t);
                }
                if v % 7 == 0 {
                    def.push_str(" name=bad-name");
                }
                let f = n.bind(p);
                line(&mut s, format!("{}: {f} = map_create {def}", n.procs[p].0));
                false
            }
            Choice::ProgLoad(i, refs, a, b, xdp) => {
                let p = n.proc(*i).expect("sh");
                let mut insns = String::new();
                for (r, sel) in [(1, a), (2, b)].iter().take(*refs as usize) {
                    let _ = write!(insns, "ld_map r{r} {}; ", n.fd(p, **sel));
                }
                insns.push_str("mov r0 0; exit");
                let f = n.bind(p);
                let ty = if *xdp { "xdp" } else { "socket_filter" };
                line(
                    &mut s,
                    format!(
                        "{}: {f} = prog_load {ty} name={f} insns=\"{insns}\"",
                        n.procs[p].0
                    ),
                );
                true
            }
            Choice::Update(i, fd, k, flags) => {
                let p = n.proc(*i).expect("sh");
                let flags = [0, 1, 2, 3, 4][*flags as usize];
                line(
                    &mut s,
                    format!(
                        "{}: update {} key={} value=2a00000000000000 flags={flags}",
                        n.procs[p].0,
                        n.fd(p, *fd),
                        key(*k)
                    ),
                );
                false
            }
            Choice::Lookup(i, fd, k) => {
                let p = n.proc(*i).expect("sh");
                line(
                    &mut s,
                    format!("{}: lookup {} key={}", n.procs[p].0, n.fd(p, *fd), key(*k)),
                );
                false
            }
            Choice::Delete(i, fd, k) => {
                let p = n.proc(*i).expect("sh");
                line(
                    &mut s,
                    format!("{}: delete {} key={}", n.procs[p].0, n.fd(p, *fd), key(*k)),
                );
                true
            }
            Choice::NextKey(i, fd, k) => {
                let p = n.proc(*i).expect("sh");
                let k = k.map(key).unwrap_or_else(|| "null".into());
                line(
                    &mut s,
                    format!("{}: next_key {} key={k}", n.procs[p].0, n.fd(p, *fd)),
                );
                false
            }
            Choice::LookupAndDelete(i, fd, k) => {
                let p = n.proc(*i).expect("sh");
                line(
                    &mut s,
                    format!(
                        "{}: lookup_and_delete {} key={}",
                        n.procs[p].0,
                        n.fd(p, *fd),
                        key(*k)
                    ),
                );
                true
            }
            Choice::Pin(i, fd, path) => {
                let p = n.proc(*i).expect("sh");
                line(
                    &mut s,
                    format!("{}: pin {} {}", n.procs[p].0, n.fd(p, *fd), pin_path(*path)),
                );
                false
            }
            Choice::Get(i, path, flags) => {
                let p = n.proc(*i).expect("sh");
                let f = n.bind(p);
                let flags = [0, 8, 16, 24][*flags as usize];
                line(
                    &mut s,
                    format!(
                        "{}: {f} = get {} flags={flags}",
                        n.procs[p].0,
                        pin_path(*path)
                    ),
                );
                false
            }
            Choice::Unlink(i, path) => {
                let p = n.proc(*i).expect("sh");
                line(
                    &mut s,
                    format!("{}: unlink {}", n.procs[p].0, pin_path(*path)),
                );
                true
            }
            Choice::Mkdir(i) => {
                let p = n.proc(*i).expect("sh");
                line(&mut s, format!("{}: mkdir $BPFFS/d", n.procs[p].0));
                false
            }
            Choice::Dup(i, fd) => {
                let p = n.proc(*i).expect("sh");
                let old = n.fd(p, *fd);
                let f = n.bind(p);
                line(&mut s, format!("{}: {f} = dup {old}", n.procs[p].0));
                false
            }
            Choice::Close(i, fd) => {
                let p = n.proc(*i).expect("sh");
                let f = n.fd(p, *fd);
                line(&mut s, format!("{}: close {f}", n.procs[p].0));
                n.procs[p].1.retain(|x| *x != f);
                true
            }
            Choice::FdById(i, obj, flags) => {
                let p = n.proc(*i).expect("sh");
                let target = if n.objects.is_empty() {
                    "none".to_string()
                } else {
                    n.objects[*obj as usize % n.objects.len()].clone()
                };
                let f = n.bind(p);
                let kind = if obj % 2 == 0 { "map" } else { "prog" };
                let flags = [0, 8, 16][*flags as usize];
                line(
                    &mut s,
                    format!(
                        "{}: {f} = fd_by_id {kind} @{target} flags={flags}",
                        n.procs[p].0
                    ),
                );
                false
            }
            Choice::NextId(i, obj) => {
                let p = n.proc(*i).expect("sh");
                let after = if n.objects.is_empty() || obj % 3 == 0 {
                    "0".to_string()
                } else {
                    format!("@{}", n.objects[*obj as usize % n.objects.len()])
                };
                let kind = if obj % 2 == 0 { "map" } else { "prog" };
                line(
                    &mut s,
                    format!("{}: next_id {kind} after={after}", n.procs[p].0),
                );
                false
            }
            Choice::Freeze(i, fd) => {
                let p = n.proc(*i).expect("sh");
                line(&mut s, format!("{}: freeze {}", n.procs[p].0, n.fd(p, *fd)));
                false
            }
            Choice::Bind(i, a, b) => {
                let p = n.proc(*i).expect("sh");
                line(
                    &mut s,
                    format!("{}: bind {} {}", n.procs[p].0, n.fd(p, *a), n.fd(p, *b)),
                );
                false
            }
            Choice::SlotUpdate(i, m, v, k) => {
                let p = n.proc(*i).expect("sh");
                line(
                    &mut s,
                    format!(
                        "{}: update {} key={} value=fd:{} flags=0",
                        n.procs[p].0,
                        n.fd(p, *m),
                        key(*k),
                        n.fd(p, *v)
                    ),
                );
                true
            }
            Choice::Info(i, fd) => {
                let p = n.proc(*i).expect("sh");
                line(&mut s, format!("{}: info {}", n.procs[p].0, n.fd(p, *fd)));
                false
            }
            Choice::Keys(i, fd) => {
                let p = n.proc(*i).expect("sh");
                line(&mut s, format!("{}: keys {}", n.procs[p].0, n.fd(p, *fd)));
                false
            }
            Choice::Send(i, fd, to) => {
                let (p, q) = (n.proc(*i).expect("sh"), n.proc(*to).expect("sh"));
                let f = n.fd(p, *fd);
                let from = n.procs[p].0.clone();
                let g = n.bind(q);
                line(&mut s, format!("{from}: {g} = send {f} {}", n.procs[q].0));
                false
            }
            Choice::Rename(i, a, b) => {
                let p = n.proc(*i).expect("sh");
                line(
                    &mut s,
                    format!("{}: rename {} {}", n.procs[p].0, pin_path(*a), pin_path(*b)),
                );
                true
            }
            Choice::RawGarbage(i, c, v) => {
                let p = n.proc(*i).expect("sh");
                let (cmd, end) = RAW[*c as usize];
                let (attr, size) = match v % 4 {
                    // a non-zero byte past the command's last field
                    0 | 1 => {
                        let mut a = vec![0u8; end + 8];
                        a[end + (*v as usize / 4) % 8] = v | 1;
                        (a, end + 8)
                    }
                    // a size over a page
                    2 => (vec![0u8; end], 4097),
                    // the union's size exactly, all zero but the garbage byte at its end
                    _ => {
                        let mut a = vec![0u8; 168];
                        a[167] = 1;
                        (a, 168)
                    }
                };
                let hex: String = attr.iter().map(|b| format!("{b:02x}")).collect();
                line(
                    &mut s,
                    format!("{}: raw {cmd} attr={hex} size={size}", n.procs[p].0),
                );
                false
            }
            Choice::NonBpfFd(i, what) => {
                let p = n.proc(*i).expect("sh");
                let op = [
                    "lookup 0 key=00000000",
                    "pin 1 $BPFFS/z",
                    "info 2",
                    "freeze 0",
                    "update 1 key=00000000 value=0000000000000000",
                ][*what as usize];
                line(&mut s, format!("{}: {op}", n.procs[p].0));
                false
            }
        };
        if settle {
            line(&mut s, "sync".into());
            line(&mut s, "live".into());
        }
    }
    for (name, _) in n.procs.iter().skip(1).rev() {
        line(&mut s, format!("{name}: exit"));
    }
    line(&mut s, "sh: umount $BPFFS".into());
    line(&mut s, "sh: exit".into());
    line(&mut s, "sync".into());
    line(&mut s, "live".into());
    s
}

fn pin_path(i: u8) -> &'static str {
    [
        "$BPFFS/a",
        "$BPFFS/b",
        "$BPFFS/d/c",
        "$BPFFS/d/e",
        "$BPFFS/no/dir/x",
        "$BPFFS/dot.ted",
    ][i as usize % 6]
}

static CASES: AtomicU64 = AtomicU64::new(0);
static OPS: AtomicU64 = AtomicU64::new(0);

/// Run one generated scenario: on the simulator (invariants checked), and on `kernel` if any.
fn check(text: &str, kernel: Option<&mut dyn Backend>) -> Result<(), TestCaseError> {
    let lines = parse(text)
        .map_err(|e| TestCaseError::fail(format!("generated an unparsable line: {e}\n{text}")))?;
    CASES.fetch_add(1, Ordering::Relaxed);
    OPS.fetch_add(lines.len() as u64, Ordering::Relaxed);
    let mut simb = SimBackend::default();
    let sim =
        run(&lines, &mut simb, None).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let bad = sim::invariants::check(&simb.k);
    prop_assert!(bad.is_empty(), "invariants: {bad:?}\n{text}");
    if let Some(k) = kernel {
        let real = run(&lines, k, Some(sim.live_after_sync.clone()))
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let diff = unexplained("generated", &sim.trace, &real.trace, &shipped());
        prop_assert!(
            diff.is_empty(),
            "divergence:\n{}\n--- scenario ---\n{text}",
            diff.join("\n")
        );
    }
    Ok(())
}

fn cases(default: u32) -> u32 {
    std::env::var("BPFSIM_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The generator's seed: `BPFSIM_SEED`, or a constant, so every run generates the same cases.
fn seed() -> u64 {
    std::env::var("BPFSIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_d1ff)
}

fn config(cases: u32) -> Config {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/proptest-regressions/differential_props.txt"
    );
    println!(
        "differential_props: seed {} (BPFSIM_SEED replays it)",
        seed()
    );
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed()),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        ..Config::default()
    }
}

#[test]
fn generated_sequences_agree_between_simulator_and_kernel() {
    let kernel = harness::backend::linux::kernel_tier();
    let strategy = proptest::collection::vec(choice(), 1..40);
    match kernel {
        Err(why) => {
            harness::backend::linux::say_skipped(&format!(
                "{why}; running the generated sequences on the simulator only"
            ));
            let mut runner = TestRunner::new(config(cases(256)));
            runner
                .run(&strategy, |c| check(&compile(&c), None))
                .unwrap();
        }
        Ok(_) => {
            drop(kernel);
            let mut runner = TestRunner::new(config(cases(400)));
            runner
                .run(&strategy, |c| {
                    let mut k =
                        harness::backend::linux::kernel_tier().map_err(TestCaseError::fail)?;
                    check(&compile(&c), Some(&mut k))
                })
                .unwrap();
        }
    }
    println!(
        "differential_props: {} cases, {} operations",
        CASES.load(Ordering::Relaxed),
        OPS.load(Ordering::Relaxed)
    );
}

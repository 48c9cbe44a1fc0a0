//! `exec`: the same programs on our interpreter, on rbpf 0.4.1's interpreter and on the real
//! kernel's `BPF_PROG_TEST_RUN` (JIT, as the machine has it), in the same run.
//!
//! Programs (ids `exec/<prog>/<side>`):
//! - `trivial`: `xdp_pass` of `corpus/xdp_trivial.o` (`r0 = 2; exit`).
//! - `loop`: `xdp_loop1000` of `corpus/xdp_loop.o` (1000 iterations, ~6000 instructions).
//! - `map_loop`: hand-written, 100 `bpf_map_lookup_elem` calls on an ARRAY(8) of `u64`,
//!   summing the values.
//! - `parser`: `xdp_parse` of `corpus/xdp_parser.o` on a 64-byte Ethernet/IPv4/UDP frame.
//!
//! Sides:
//! - `ours` / `rbpf`: `Engine::run` of `Interpreter` / `RbpfEngine` on the same `Program` and
//!   the same `Memory` layout (an `xdp_md` context whose `data`/`data_end` hold the packet's
//!   addresses, the packet, for the map programs a map-value region answered by a minimal
//!   `Env` with `bpf_map_lookup_elem` only). rbpf is skipped for programs it refuses, with
//!   the reason printed (`exec: rbpf skips <prog>: ...`).
//! - `model_test_run`: `Kernel::prog_test_run` of the model with `repeat` = criterion's
//!   iteration count (wall clock, so the attr handling is included once per batch).
//! - `kernel`: the same instructions loaded with raw `BPF_PROG_LOAD` (XDP, GPL, map fds
//!   patched in) and run with `BPF_PROG_TEST_RUN`, `repeat` = criterion's iteration count;
//!   the figure is the kernel-reported `duration` (ns per run), not the syscall's wall clock.
//!   A line `exec: kernel <prog>: repeat 100000 ...` is printed for each program too.
//!   Without root or bpf(), `kernel peer skipped: <reason>`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use benches::{ARRAY, kbpf, model, model_map};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, measurement::WallTime};
use sim::loader::load::{KernelProc, LoadOpts, load};
use sim::loader::{Object, relocate};
use sim::prog::insn::*;
use sim::vm::rbpf_engine::{RbpfEngine, unsupported};
use sim::vm::{Engine, Env, EnvError, Interpreter, Memory, Program, RegionKind};
use sim::{Insn, KernelConfig, ProgLoadAttr, TestRunAttr};

/// Where the engines' packet is: below 4 GiB, so the 32-bit `xdp_md` fields can hold it.
const PKT_BASE: u64 = 0x0100_0100;
/// Where the engines' `xdp_md` is.
const CTX_BASE: u64 = 0x0200_0000;
/// Where the engines' map values are.
const MAP_BASE: u64 = 0x0300_0000;
/// The kernel figure printed outside criterion.
const KERNEL_REPEAT: u32 = 100_000;
/// Iterations of the hand-written map-lookup loop.
const MAP_LOOP_ITERS: i32 = 100;

fn corpus(name: &str) -> Object {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(format!("{name}.o"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Object::parse(&format!("{name}.o"), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The entry program `prog` of `obj`, relocated with its maps at `fds`.
fn linked(obj: &Object, prog: &str, fds: &[i32]) -> Vec<Insn> {
    relocate(obj, fds)
        .expect("relocate")
        .into_iter()
        .find(|l| l.name == prog)
        .expect("program")
        .insns
}

/// A 64-byte Ethernet + IPv4 + UDP frame (as `sim/tests/it/test_run.rs`).
fn ipv4_udp() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&53u16.to_be_bytes());
    f
}

/// `r1 = map` (`BPF_PSEUDO_MAP_FD`), two slots.
fn ld_map_fd(dst: u8, fd: i32) -> [Insn; 2] {
    [Insn::raw(LD_IMM64, dst, 1, 0, fd), Insn::raw(0, 0, 0, 0, 0)]
}

/// The map-lookup loop: `for i in 0..100 { v = lookup(map, i & 7); if v { acc += *v } }`,
/// returns XDP_PASS.
fn map_loop(fd: i32) -> Vec<Insn> {
    let [l0, l1] = ld_map_fd(1, fd);
    vec![
        Insn::mov64_imm(6, 0),
        Insn::mov64_imm(7, 0),
        // loop (pc 2):
        Insn::mov64_reg(1, 6),
        Insn::alu64_imm(BPF_AND, 1, 7),
        Insn::raw(BPF_STX | BPF_MEM | BPF_W, 10, 1, -4, 0),
        l0,
        l1,
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, -4),
        Insn::raw(BPF_JMP | BPF_CALL, 0, 0, 0, 1),
        Insn::raw(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2, 0),
        Insn::raw(BPF_LDX | BPF_MEM | BPF_DW, 1, 0, 0, 0),
        Insn::raw(BPF_ALU64 | BPF_ADD | BPF_X, 7, 1, 0, 0),
        Insn::alu64_imm(BPF_ADD, 6, 1),
        Insn::raw(BPF_JMP | BPF_JLT | BPF_K, 6, 0, -13, MAP_LOOP_ITERS),
        Insn::mov64_imm(0, 2),
        Insn::exit(),
    ]
}

/// One ARRAY map of `u64` values at [`MAP_BASE`]; `bpf_map_lookup_elem` only.
struct ArrayEnv {
    entries: u32,
}

impl Env for ArrayEnv {
    fn call_helper(&mut self, id: i32, args: [u64; 5], mem: &mut Memory) -> Result<u64, EnvError> {
        if id != 1 {
            return Err(EnvError::UnknownHelper);
        }
        let key = mem.load(args[1], 4)? as u32;
        Ok(if key < self.entries {
            MAP_BASE + u64::from(key) * 8
        } else {
            0
        })
    }

    fn ld_imm64(&mut self, src: u8, _imm: i32, _next_imm: i32) -> Result<u64, EnvError> {
        if src == 1 {
            Ok(0x4d41_5000)
        } else {
            Err(EnvError::UnresolvedLdImm64 { src })
        }
    }
}

/// The engines' address space: packet, `xdp_md` pointing at it, `entries` map values.
fn engine_mem(pkt: &[u8], entries: u32) -> Memory {
    let mut mem = Memory::new();
    mem.add(PKT_BASE, pkt.to_vec(), true, RegionKind::Packet)
        .expect("packet");
    let mut ctx = vec![0u8; 24];
    ctx[0..4].copy_from_slice(&(PKT_BASE as u32).to_le_bytes());
    ctx[4..8].copy_from_slice(&((PKT_BASE + pkt.len() as u64) as u32).to_le_bytes());
    ctx[8..12].copy_from_slice(&(PKT_BASE as u32).to_le_bytes());
    mem.add(CTX_BASE, ctx, false, RegionKind::Context)
        .expect("ctx");
    if entries > 0 {
        let vals: Vec<u8> = (0..u64::from(entries))
            .flat_map(|i| i.to_le_bytes())
            .collect();
        mem.add(MAP_BASE, vals, true, RegionKind::MapValue)
            .expect("map values");
    }
    mem
}

/// `ours` and `rbpf` on `insns`.
fn engines(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, insns: &[Insn], entries: u32) {
    let prog = Program::new(insns.to_vec());
    let pkt = ipv4_udp();
    let args = [CTX_BASE, 0, 0, 0, 0];
    let mut env = ArrayEnv { entries };

    let mut mem = engine_mem(&pkt, entries);
    let r = Interpreter::new()
        .run(&prog, args, &mut mem, &mut env)
        .unwrap_or_else(|e| panic!("{name} on ours: {e}"));
    println!("exec: {name}: ours returns {r}");
    g.bench_function(BenchmarkId::new(name, "ours"), |b| {
        let mut e = Interpreter::new();
        b.iter(|| {
            e.run(black_box(&prog), args, &mut mem, &mut env)
                .expect("ours")
        })
    });

    if let Some(&(pc, what)) = unsupported(&prog).first() {
        println!("exec: rbpf skips {name}: it does not run {what} (pc {pc})");
        return;
    }
    let mut mem = engine_mem(&pkt, entries);
    match RbpfEngine::new().run(&prog, args, &mut mem, &mut env) {
        Ok(rr) => {
            assert_eq!(rr, r, "{name}: rbpf and ours disagree");
            g.bench_function(BenchmarkId::new(name, "rbpf"), |b| {
                let mut e = RbpfEngine::new();
                b.iter(|| {
                    e.run(black_box(&prog), args, &mut mem, &mut env)
                        .expect("rbpf")
                })
            });
        }
        Err(e) => println!("exec: rbpf skips {name}: {e}"),
    }
}

/// `model_test_run`: the model's `BPF_PROG_TEST_RUN` of `fd`, repeat = iterations.
fn model_test_run(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    k: &mut sim::Kernel,
    pid: sim::Pid,
    fd: i32,
) {
    let pkt = ipv4_udp();
    let r = k
        .prog_test_run(pid, fd, &TestRunAttr::new(pkt.clone()))
        .unwrap_or_else(|e| panic!("{name}: model test run: {e:?}"));
    println!(
        "exec: {name}: model test run returns {} ({} insns/run)",
        r.retval, r.duration
    );
    g.bench_function(BenchmarkId::new(name, "model_test_run"), |b| {
        b.iter_custom(|iters| {
            let mut left = iters;
            let t = Instant::now();
            while left > 0 {
                let n = left.min(u64::from(u32::MAX)) as u32;
                let a = TestRunAttr {
                    data_in: pkt.clone(),
                    data_out: None,
                    repeat: n,
                    ..TestRunAttr::default()
                };
                black_box(k.prog_test_run(pid, fd, &a).expect("model test run"));
                left -= u64::from(n);
            }
            t.elapsed()
        })
    });
}

/// `kernel`: raw PROG_LOAD + PROG_TEST_RUN; the kernel's `duration`.
fn kernel(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, insns: &[Insn]) {
    let fd = match kbpf::prog_load(kbpf::PROG_TYPE_XDP, &encode(insns)) {
        Ok(fd) => fd,
        Err(e) => {
            println!("kernel peer skipped for {name}: BPF_PROG_LOAD: {e}");
            return;
        }
    };
    let pkt = ipv4_udp();
    match kbpf::test_run(fd, &pkt, KERNEL_REPEAT) {
        Ok((ret, ns)) => println!(
            "exec: kernel {name}: repeat {KERNEL_REPEAT}, duration {ns} ns/run, retval {ret}"
        ),
        Err(e) => {
            println!("kernel peer skipped for {name}: BPF_PROG_TEST_RUN: {e}");
            kbpf::close(fd);
            return;
        }
    }
    g.bench_function(BenchmarkId::new(name, "kernel"), |b| {
        b.iter_custom(|iters| {
            let mut left = iters;
            let mut total = Duration::ZERO;
            while left > 0 {
                let n = left.min(1 << 24) as u32;
                let (_, ns) = kbpf::test_run(fd, &pkt, n).expect("kernel test run");
                total += Duration::from_nanos(u64::from(ns) * u64::from(n));
                left -= u64::from(n);
            }
            total
        })
    });
    kbpf::close(fd);
}

fn exec(c: &mut Criterion, have_kernel: bool) {
    let mut g = c.benchmark_group("exec");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);

    let (mut k, pid) = model(KernelConfig::default());
    let xdp = sim::uapi::prog_type::XDP;

    // trivial and loop: no maps.
    for (obj, prog, name) in [
        ("xdp_trivial", "xdp_pass", "trivial"),
        ("xdp_loop", "xdp_loop1000", "loop"),
    ] {
        let insns = linked(&corpus(obj), prog, &[]);
        engines(&mut g, name, &insns, 0);
        let fd = k
            .prog_load(pid, &ProgLoadAttr::new(xdp, &insns))
            .expect("model prog_load");
        model_test_run(&mut g, name, &mut k, pid, fd);
        if have_kernel {
            kernel(&mut g, name, &insns);
        }
    }

    // map_loop: the map fd differs per side.
    engines(&mut g, "map_loop", &map_loop(0), 8);
    let mfd = model_map(&mut k, pid, ARRAY, 8, 8);
    let fd = k
        .prog_load(pid, &ProgLoadAttr::new(xdp, &map_loop(mfd)))
        .expect("model prog_load map_loop");
    model_test_run(&mut g, "map_loop", &mut k, pid, fd);
    if have_kernel {
        match kbpf::Map::new(ARRAY, 8, 8) {
            Ok(m) => kernel(&mut g, "map_loop", &map_loop(m.0)),
            Err(e) => println!("kernel peer skipped for map_loop: BPF_MAP_CREATE: {e}"),
        }
    }

    // parser: proto_count is ARRAY(256) of u64.
    let obj = corpus("xdp_parser");
    engines(&mut g, "parser", &linked(&obj, "xdp_parse", &[0]), 256);
    let loaded = load(
        &obj,
        &mut KernelProc { k: &mut k, pid },
        &LoadOpts::default(),
    )
    .expect("model load xdp_parser");
    let fd = loaded
        .progs
        .iter()
        .find(|p| p.name == "xdp_parse")
        .expect("xdp_parse")
        .fd;
    model_test_run(&mut g, "parser", &mut k, pid, fd);
    if have_kernel {
        match kbpf::Map::new(ARRAY, 256, 0) {
            Ok(m) => kernel(&mut g, "parser", &linked(&obj, "xdp_parse", &[m.0])),
            Err(e) => println!("kernel peer skipped for parser: BPF_MAP_CREATE: {e}"),
        }
    }
    g.finish();
}

fn main() {
    let have_kernel = kbpf::available();
    let mut c = Criterion::default().configure_from_args();
    exec(&mut c, have_kernel);
    c.final_summary();
}

//! `scale`: the model's cost per operation with 1k live maps against 1M live maps.
//!
//! One process holds every live map (ARRAY, key 4, value 8, max 10), its `RLIMIT_NOFILE`
//! raised with `set_fd_limit(pid, 2_000_000)`. Measured per operation, through the typed
//! wrappers (so through the raw bpf() entry):
//! - `create_close`: MAP_CREATE of one more ARRAY map + close of its fd;
//! - `array_lookup`: LOOKUP_ELEM hit on the map in the middle of the fd table;
//! - `next_id_walk`: one step of a MAP_GET_NEXT_ID walk over every map id, the walk restarting
//!   at 0 after its `ENOENT` (criterion runs many full walks, so this is a walk's cost divided
//!   by the number of objects);
//! - `next_id_mid`: one MAP_GET_NEXT_ID from the middle of the id space.
//!
//! Two configurations, two groups: `scale` (event log off, `event_log_capacity: 0`) and
//! `scale_default` (`KernelConfig::default()`, a 65536-event log). Ids:
//! `<group>/<op>/1k` and `<group>/<op>/1M`. The kernel peer: `scale/next_id_walk/kernel`, a
//! walk over the real machine's map ids with 1000 maps of ours live (plus whatever other
//! processes hold). At the end the cost@1M / cost@1k ratios are printed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::{ARRAY, kbpf, model, report};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, measurement::WallTime};
use sim::{Kernel, KernelConfig, MapCreateAttr, Pid};

const SIZES: [(&str, u32); 2] = [("1k", 1_000), ("1M", 1_000_000)];
const OPS: [&str; 4] = [
    "create_close",
    "array_lookup",
    "next_id_walk",
    "next_id_mid",
];

fn configs() -> [(&'static str, KernelConfig); 2] {
    let off = KernelConfig {
        event_log_capacity: 0,
        ..KernelConfig::default()
    };
    [("scale", off), ("scale_default", KernelConfig::default())]
}

/// A model machine with `n` live ARRAY maps in one process; returns the fd in the middle.
fn build(cfg: KernelConfig, n: u32) -> (Kernel, Pid, i32) {
    let (mut k, pid) = model(cfg);
    k.set_fd_limit(pid, 2_000_000).expect("fd limit");
    let attr = MapCreateAttr::new(ARRAY, 4, 8, 10);
    let t = Instant::now();
    let mut mid = -1;
    for i in 0..n {
        let fd = k.map_create(pid, &attr).expect("model create");
        if i == n / 2 {
            mid = fd;
        }
    }
    let el = t.elapsed();
    println!(
        "built {n} live maps in {:.2?} ({:.0} ns/map)",
        el,
        el.as_nanos() as f64 / f64::from(n)
    );
    (k, pid, mid)
}

fn bench_model(
    g: &mut BenchmarkGroup<'_, WallTime>,
    size: &str,
    k: &mut Kernel,
    pid: Pid,
    mid: i32,
) {
    let attr = MapCreateAttr::new(ARRAY, 4, 8, 10);
    g.bench_function(BenchmarkId::new("create_close", size), |b| {
        b.iter(|| {
            let fd = k.map_create(pid, black_box(&attr)).expect("model create");
            k.close(pid, fd).expect("model close");
        })
    });
    g.bench_function(BenchmarkId::new("array_lookup", size), |b| {
        let mut v = [0u8; 8];
        b.iter(|| {
            k.map_lookup_elem(pid, black_box(mid), &3u32.to_ne_bytes(), &mut v, 0)
                .expect("model lookup");
            black_box(&v);
        })
    });
    g.bench_function(BenchmarkId::new("next_id_walk", size), |b| {
        let mut cur = 0u32;
        b.iter(|| {
            cur = k.map_get_next_id(pid, black_box(cur)).unwrap_or(0);
        })
    });
    let live = k.map_get_next_id(pid, 0).expect("a map");
    let mid_id = live + (k.proc(pid).expect("proc").fds.len() as u32 - 3) / 2;
    g.bench_function(BenchmarkId::new("next_id_mid", size), |b| {
        b.iter(|| k.map_get_next_id(pid, black_box(mid_id)).expect("next id"))
    });
}

/// The real kernel's GET_NEXT_ID walk with 1000 maps of ours live.
fn bench_kernel(g: &mut BenchmarkGroup<'_, WallTime>) {
    let maps: Vec<kbpf::Map> = (0..1000)
        .map_while(|_| kbpf::Map::new(ARRAY, 10, 0).ok())
        .collect();
    let mut n = 0u32;
    let mut cur = 0u32;
    while let Ok(id) = kbpf::map_get_next_id(cur) {
        n += 1;
        cur = id;
    }
    println!(
        "kernel: {} maps of ours live, {n} map ids in the machine's walk",
        maps.len()
    );
    g.bench_function(BenchmarkId::new("next_id_walk", "kernel"), |b| {
        let mut cur = 0u32;
        b.iter(|| {
            cur = kbpf::map_get_next_id(black_box(cur)).unwrap_or(0);
        })
    });
    drop(maps);
}

fn main() {
    let kernel = kbpf::available();
    let mut c = Criterion::default().configure_from_args();
    for (group, cfg) in configs() {
        let mut g = c.benchmark_group(group);
        g.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
        for (size, n) in SIZES {
            let (mut k, pid, mid) = build(cfg.clone(), n);
            bench_model(&mut g, size, &mut k, pid, mid);
            let t = Instant::now();
            drop(k);
            println!("dropped the {size} machine in {:.2?}", t.elapsed());
        }
        if kernel && group == "scale" {
            bench_kernel(&mut g);
        }
        g.finish();
    }
    c.final_summary();

    println!();
    println!("cost@1M / cost@1k (target: within 2x)");
    for (group, cfg) in configs() {
        println!("  {group} (event_log_capacity {}):", cfg.event_log_capacity);
        for op in OPS {
            let small = report::estimate_ns(group, &format!("{op}/1k"));
            let big = report::estimate_ns(group, &format!("{op}/1M"));
            println!(
                "    {op:<13} {:>9} ns @1k {:>9} ns @1M  ratio {}",
                report::cell(small),
                report::cell(big),
                report::cell(report::ratio(big, small))
            );
        }
    }
}

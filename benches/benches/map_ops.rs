//! `map_ops`: the model's map commands against the real kernel's, in the same run.
//!
//! Model side: the typed wrappers (`k.map_create`, `k.map_lookup_elem`, ...), which build attr
//! bytes and go through the raw `Kernel::bpf` entry with its attr decoding, so both sides pay
//! for building and decoding a 168-byte `union bpf_attr`. Kernel side: raw
//! `syscall(SYS_bpf, cmd, &attr, 168)`; every kernel map is named `bpfsim_bench` and closed.
//!
//! Ids: `map_ops/<op>/model` and `map_ops/<op>/kernel`; `bench_report` prints the ratios.

use std::hint::black_box;
use std::time::Duration;

use benches::{ARRAY, HASH, kbpf, model, model_map};
use criterion::{BenchmarkId, Criterion};
use sim::{KernelConfig, MapCreateAttr};

fn map_ops(c: &mut Criterion, kernel: bool) {
    let mut g = c.benchmark_group("map_ops");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);

    let (mut k, pid) = model(KernelConfig::default());

    // (a), (b): MAP_CREATE + close.
    for (name, ty) in [("array_create_close", ARRAY), ("hash_create_close", HASH)] {
        let attr = MapCreateAttr::new(ty, 4, 8, 10);
        g.bench_function(BenchmarkId::new(name, "model"), |b| {
            b.iter(|| {
                let fd = k.map_create(pid, black_box(&attr)).expect("model create");
                k.close(pid, fd).expect("model close");
            })
        });
        // The same with the reference event log off: its 65536-entry ring (6 events per
        // create+close) is most of what create+close costs in the default configuration.
        g.bench_function(BenchmarkId::new(name, "model_log_off"), |b| {
            let (mut k, pid) = model(KernelConfig {
                event_log_capacity: 0,
                ..KernelConfig::default()
            });
            b.iter(|| {
                let fd = k.map_create(pid, black_box(&attr)).expect("model create");
                k.close(pid, fd).expect("model close");
            })
        });
        if kernel {
            g.bench_function(BenchmarkId::new(name, "kernel"), |b| {
                b.iter(|| {
                    let fd = kbpf::map_create(black_box(ty), 4, 8, 10).expect("kernel create");
                    kbpf::close(fd);
                })
            });
        }
    }

    // (c)-(f): element commands. Arrays: key 3 of 10; hashes: keys cycle over all 1024
    // (every lookup hits, every update replaces an existing element).
    let cases = [
        ("array_lookup", ARRAY, 10u32, 10u32, false),
        ("array_update", ARRAY, 10, 10, true),
        ("hash_lookup", HASH, 1024, 1024, false),
        ("hash_update", HASH, 1024, 1024, true),
    ];
    for (name, ty, max, fill, update) in cases {
        let key_of = move |i: u32| if ty == ARRAY { 3 } else { i & (fill - 1) };
        let mfd = model_map(&mut k, pid, ty, max, fill);
        g.bench_function(BenchmarkId::new(name, "model"), |b| {
            let (mut i, mut v) = (0u32, [0u8; 8]);
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = key_of(i).to_ne_bytes();
                if update {
                    k.map_update_elem(pid, mfd, black_box(&key), &u64::from(i).to_ne_bytes(), 0)
                        .expect("model update");
                } else {
                    k.map_lookup_elem(pid, mfd, black_box(&key), &mut v, 0)
                        .expect("model lookup");
                }
                black_box(&v);
            })
        });
        k.close(pid, mfd).expect("model close");
        if kernel {
            let m = kbpf::Map::new(ty, max, fill).expect("kernel map");
            g.bench_function(BenchmarkId::new(name, "kernel"), |b| {
                let (mut i, mut v) = (0u32, [0u8; 8]);
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let key = key_of(i).to_ne_bytes();
                    if update {
                        kbpf::update(m.0, black_box(&key), &u64::from(i).to_ne_bytes(), 0)
                            .expect("kernel update");
                    } else {
                        kbpf::lookup(m.0, black_box(&key), &mut v).expect("kernel lookup");
                    }
                    black_box(&v);
                })
            });
        }
    }
    g.finish();
}

fn main() {
    let kernel = kbpf::available();
    let mut c = Criterion::default().configure_from_args();
    map_ops(&mut c, kernel);
    c.final_summary();
}

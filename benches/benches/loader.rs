//! `loader`: the simulator's ELF loader against aya-obj (the pure-Rust loader aya uses), in the
//! same run, on the committed corpus (`corpus/*.o`).
//!
//! One iteration is the same work on both sides, from the object's bytes (already in memory)
//! to relocated instructions, with no kernel involved:
//! - bpfsim: `sim::loader::Object::parse(name, bytes)`, then `sim::loader::relocate(&obj,
//!   &fds)` with one made-up fd per map;
//! - aya-obj: `aya_obj::Object::parse(bytes)`, then `relocate_maps` (one made-up fd per map,
//!   the maps taken out of the object as `EbpfLoader::load` does) and `relocate_calls`, with
//!   `text_sections` computed as `EbpfLoader::load` computes it. No BTF fixup/sanitizing and no
//!   BTF load (aya does those between parse and relocation; they are not timed here).
//!
//! An object that either side fails to parse or relocate is left out of BOTH sides; each one
//! is named on stderr (`loader: excluded <file>: <side> <step> failed: <error>`) and listed in
//! `<criterion dir>/loader/corpus.txt`, which `bench_report` prints.
//!
//! Ids: `loader/bpfsim_parse_relocate` and `loader/aya_obj_parse_relocate` (one iteration =
//! every included object once), `loader/seed_btf_lookup/bpfsim` and
//! `loader/seed_btf_lookup/aya_obj` (one iteration = that object once).

use std::collections::HashSet;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use benches::report;
use criterion::{BenchmarkId, Criterion};

/// The per-object benchmark's object.
const SEED: &str = "seed_btf_lookup";

/// One corpus object: file stem and bytes.
struct Obj {
    name: String,
    bytes: Vec<u8>,
}

/// Every `corpus/*.o`, sorted by name.
fn corpus() -> Vec<Obj> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("corpus");
    let mut objs: Vec<Obj> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .map(|p| Obj {
            name: p
                .file_stem()
                .expect("file stem")
                .to_string_lossy()
                .into_owned(),
            bytes: std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())),
        })
        .collect();
    objs.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!objs.is_empty(), "no objects in {}", dir.display());
    objs
}

/// bpfsim: parse and relocate. Returns the number of relocated instructions (so the work
/// cannot be optimized away).
fn bpfsim(name: &str, bytes: &[u8]) -> Result<usize, String> {
    let obj = sim::loader::Object::parse(name, bytes).map_err(|e| format!("parse failed: {e}"))?;
    let fds: Vec<i32> = (0..obj.maps.len()).map(|i| 100 + i as i32).collect();
    let linked = sim::loader::relocate(&obj, &fds).map_err(|e| format!("relocate failed: {e}"))?;
    Ok(linked.iter().map(|l| l.insns.len()).sum())
}

/// aya-obj: parse, `relocate_maps`, `relocate_calls`, as `aya::EbpfLoader::load` calls them.
/// Returns the number of instructions in the relocated functions.
fn aya_obj(bytes: &[u8]) -> Result<usize, String> {
    let mut obj = aya_obj::Object::parse(bytes).map_err(|e| format!("parse failed: {e}"))?;
    let maps: Vec<(String, aya_obj::Map)> = obj.maps.drain().collect();
    let text_sections: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
    obj.relocate_maps(
        maps.iter()
            .enumerate()
            .map(|(i, (name, map))| (name.as_str(), 100 + i as i32, map)),
        &text_sections,
    )
    .map_err(|e| format!("relocate_maps failed: {e}"))?;
    obj.relocate_calls(&text_sections)
        .map_err(|e| format!("relocate_calls failed: {e}"))?;
    Ok(obj.functions.values().map(|f| f.instructions.len()).sum())
}

/// The objects both loaders handle; the others are printed on stderr and recorded in
/// `<criterion dir>/loader/corpus.txt`.
fn comparable(all: Vec<Obj>) -> Vec<Obj> {
    let mut kept = Vec::new();
    let mut record = String::new();
    for o in all {
        let why = match (bpfsim(&o.name, &o.bytes), aya_obj(&o.bytes)) {
            (Ok(_), Ok(_)) => None,
            (Err(e), Ok(_)) => Some(format!("bpfsim {e}")),
            (Ok(_), Err(e)) => Some(format!("aya-obj {e}")),
            (Err(a), Err(b)) => Some(format!("bpfsim {a}; aya-obj {b}")),
        };
        match why {
            None => {
                record.push_str(&format!("included {}\n", o.name));
                kept.push(o);
            }
            Some(why) => {
                let why = why.replace('\n', " ");
                eprintln!("loader: excluded {}.o from both sides: {why}", o.name);
                record.push_str(&format!("excluded {}: {why}\n", o.name));
            }
        }
    }
    let names: Vec<&str> = kept.iter().map(|o| o.name.as_str()).collect();
    eprintln!(
        "loader: comparing {} objects: {}",
        kept.len(),
        names.join(" ")
    );
    let dir = report::criterion_dir().join("loader");
    if let Err(e) =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join("corpus.txt"), record))
    {
        eprintln!(
            "loader: could not record the corpus in {}: {e}",
            dir.display()
        );
    }
    kept
}

fn main() {
    let objs = comparable(corpus());
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("loader");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);

    g.bench_function("bpfsim_parse_relocate", |b| {
        b.iter(|| {
            for o in &objs {
                black_box(bpfsim(black_box(&o.name), black_box(&o.bytes)).expect("bpfsim"));
            }
        })
    });
    g.bench_function("aya_obj_parse_relocate", |b| {
        b.iter(|| {
            for o in &objs {
                black_box(aya_obj(black_box(&o.bytes)).expect("aya-obj"));
            }
        })
    });

    match objs.iter().find(|o| o.name == SEED) {
        Some(seed) => {
            g.bench_function(BenchmarkId::new(SEED, "bpfsim"), |b| {
                b.iter(|| bpfsim(black_box(&seed.name), black_box(&seed.bytes)).expect("bpfsim"))
            });
            g.bench_function(BenchmarkId::new(SEED, "aya_obj"), |b| {
                b.iter(|| aya_obj(black_box(&seed.bytes)).expect("aya-obj"))
            });
        }
        None => eprintln!("loader: {SEED}.o not compared (excluded above), no per-object bench"),
    }
    g.finish();
    c.final_summary();
}

//! The parser never panics: every object of `corpus/*.o` (and a few built in memory) is
//! mutated deterministically — bit flips, 0xff words, truncation at every 8th length,
//! splices of two objects — and `Object::parse` must return `Ok` or `Err` for each.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use super::btf::VAR_GLOBAL_ALLOCATED;
use super::object::Object;
use super::testutil::*;

/// `corpus/*.o`, sorted by name.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![];
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            Some((
                p.file_name()?.to_string_lossy().into_owned(),
                std::fs::read(&p).ok()?,
            ))
        })
        .collect()
}

/// In-memory seeds covering BTF maps with relocations and global data.
fn builtin() -> Vec<(String, Vec<u8>)> {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let ty = b.uint_field(int, 2);
    let key = b.ptr(int);
    let max = b.uint_field(int, 4);
    let s = b.strukt(
        "",
        &[
            ("type", ty),
            ("key", key),
            ("value", key),
            ("max_entries", max),
        ],
    );
    let var = b.var("m", s, VAR_GLOBAL_ALLOCATED);
    b.datasec(".maps", 32, &[(var, 0, 32)]);
    let g = b.var("g", int, VAR_GLOBAL_ALLOCATED);
    b.datasec(".data", 0, &[(g, 0, 4)]);
    let [l0, l1] = ld_imm64();
    let mut e = ElfBuilder::new();
    e.code(".text", &[mov_r0_0(), exit()])
        .code("xdp", &[l0, l1, call_pseudo(), exit()])
        .rel("xdp", vec![(0, 4, 1), (16, 5, 10)])
        .section(".maps", 1, 3, vec![0; 32])
        .section(".data", 1, 3, vec![1, 2, 3, 4])
        .section(
            "maps",
            1,
            3,
            [2u32, 4, 8, 1, 0]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect(),
        )
        .section(".BTF", 1, 0, b.build())
        .sym("sub", ".text", FUNC, 0, 0, 16)
        .sym("main", "xdp", FUNC, 1, 0, 32)
        .sym("g", ".data", 1, 1, 0, 4)
        .sym("m", ".maps", 1, 1, 0, 32)
        .sym("", ".text", 3, 0, 0, 0)
        .sym("legacy", "maps", 1, 1, 0, 20);
    vec![("builtin.o".to_owned(), e.build())]
}
const FUNC: u8 = 2;

struct Tally {
    parses: u64,
    ok: u64,
}

fn check(t: &mut Tally, what: &str, bytes: &[u8]) {
    let r = catch_unwind(AssertUnwindSafe(|| Object::parse("m.o", bytes).is_ok()));
    match r {
        Ok(ok) => {
            t.parses += 1;
            t.ok += u64::from(ok);
        }
        Err(_) => panic!("Object::parse panicked on {what}"),
    }
}

fn mutate_one(t: &mut Tally, name: &str, obj: &[u8]) {
    check(t, name, obj);
    let mut m = obj.to_vec();
    for off in 0..obj.len() {
        // Every byte of the ELF header, section headers and BTF gets some flip; data bytes
        // one bit in three.
        if off % 3 != 0 && off >= 64 {
            continue;
        }
        let bit = 1u8 << (off % 8);
        m[off] ^= bit;
        check(t, &format!("{name}: bit {} of byte {off}", off % 8), &m);
        m[off] ^= bit;
    }
    for off in (0..obj.len().saturating_sub(4)).step_by(16) {
        let saved: Vec<u8> = m[off..off + 4].to_vec();
        m[off..off + 4].fill(0xff);
        check(t, &format!("{name}: 0xffffffff at {off}"), &m);
        m[off..off + 4].copy_from_slice(&saved);
    }
    for len in (0..obj.len()).step_by(8) {
        check(t, &format!("{name}: truncated to {len}"), &obj[..len]);
    }
}

#[test]
fn mutated_objects_never_panic() {
    let corpus = corpus();
    let mut seeds = corpus.clone();
    seeds.extend(builtin());
    let mut t = Tally { parses: 0, ok: 0 };
    for (name, obj) in &seeds {
        mutate_one(&mut t, name, obj);
    }
    // Splices: the first half of each object with the second half of the next, and the
    // other way round.
    for (i, (an, a)) in seeds.iter().enumerate() {
        let (bn, b) = &seeds[(i + 1) % seeds.len()];
        for (x, y, xn, yn) in [(a, b, an, bn), (b, a, bn, an)] {
            let mut s = x[..x.len() / 2].to_vec();
            s.extend_from_slice(&y[y.len() / 2..]);
            check(&mut t, &format!("splice {xn} + {yn}"), &s);
        }
    }
    println!(
        "loader mutation test: {} corpus objects read (corpus/*.o), {} seeds, {} parses, {} Ok",
        corpus.len(),
        seeds.len(),
        t.parses,
        t.ok
    );
}

/// The unmutated corpus objects all parse.
#[test]
fn corpus_objects_parse() {
    let corpus = corpus();
    for (name, bytes) in &corpus {
        if let Err(e) = Object::parse(name, bytes) {
            panic!("{name}: {e}");
        }
    }
    println!("loader: {} corpus objects parsed", corpus.len());
}

//! `bench_report`: after `cargo bench -p benches`, print the model-vs-kernel table and the
//! 1M/1k scaling ratios from criterion's `estimates.json` files, against the targets:
//! model >= 50x kernel on lookups (and element updates), >= 100x on create+close, and
//! cost@1M within 2x of cost@1k; and the ELF loader's time against aya-obj's on the corpus
//! (`loader` bench), target: at most half of aya-obj's (ratio ours/aya <= 0.5); and program
//! execution (`exec` bench): our interpreter against rbpf's (target: at least 2x rbpf's speed)
//! and against the kernel's `BPF_PROG_TEST_RUN` `duration` on the loop (target: within 8x).
//!
//! Reads `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else `target/criterion`.

use benches::report::{cell, criterion_dir, estimate_ns, ratio};

fn verdict(r: Option<f64>, ok: impl Fn(f64) -> bool) -> &'static str {
    match r {
        Some(r) if ok(r) => "ok",
        Some(_) => "MISSED",
        None => "n/a",
    }
}

/// `MET`/`MISSED`/`n/a` for the loader's target.
fn met(r: Option<f64>, ok: impl Fn(f64) -> bool) -> &'static str {
    match r {
        Some(r) if ok(r) => "MET",
        Some(_) => "MISSED",
        None => "n/a",
    }
}

/// The `loader` bench: bpfsim's parse + relocate against aya-obj's, per corpus and for the
/// seed object, and the objects the bench left out of both sides.
fn loader() {
    const TARGET: f64 = 0.5;
    println!();
    println!(
        "loader: parse + relocate, bpfsim vs aya-obj (ratio = ours/aya; target <= {TARGET}, at most half of aya-obj's time)"
    );
    let corpus = std::fs::read_to_string(criterion_dir().join("loader").join("corpus.txt"));
    if let Ok(text) = &corpus {
        let included: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("included "))
            .collect();
        println!(
            "  corpus: {} objects compared: {}",
            included.len(),
            included.join(" ")
        );
        for l in text.lines().filter_map(|l| l.strip_prefix("excluded ")) {
            println!("  excluded from both sides: {l}");
        }
    }
    let rows = [
        (
            "corpus",
            "ns/corpus",
            "bpfsim_parse_relocate",
            "aya_obj_parse_relocate",
        ),
        (
            "seed_btf_lookup.o",
            "ns/object",
            "seed_btf_lookup/bpfsim",
            "seed_btf_lookup/aya_obj",
        ),
    ];
    for (what, unit, ours_id, aya_id) in rows {
        let ours = estimate_ns("loader", ours_id);
        let aya = estimate_ns("loader", aya_id);
        let r = ratio(ours, aya);
        println!(
            "  {what:<18} ours {:>10} {unit}  aya-obj {:>10} {unit}  ratio ours/aya {:>6}  target <={TARGET}  {}",
            cell(ours),
            cell(aya),
            cell(r),
            met(r, |r| r <= TARGET)
        );
    }
}

/// The `exec` bench: ns per run on our interpreter, rbpf, the model's test run and the
/// kernel (its reported `duration`), and the ratios against the targets.
fn exec() {
    const RBPF_TARGET: f64 = 2.0;
    const KERNEL_TARGET: f64 = 8.0;
    println!();
    println!(
        "exec: ns per run; rbpf/ours = how many times faster ours is (target >= {RBPF_TARGET}x); ours/kernel = how many times slower than the kernel's test run duration (target <= {KERNEL_TARGET}x, on the loop)"
    );
    println!(
        "{:<10} {:>10} {:>10} {:>12} {:>10} {:>10} {:>7} {:>12} {:>7}",
        "program",
        "ours",
        "rbpf",
        "model test",
        "kernel",
        "rbpf/ours",
        "result",
        "ours/kernel",
        "result"
    );
    for prog in ["trivial", "loop", "map_loop", "parser"] {
        let ours = estimate_ns("exec", &format!("{prog}/ours"));
        let rbpf = estimate_ns("exec", &format!("{prog}/rbpf"));
        let model = estimate_ns("exec", &format!("{prog}/model_test_run"));
        let kernel = estimate_ns("exec", &format!("{prog}/kernel"));
        let r_rbpf = ratio(rbpf, ours);
        let r_kernel = ratio(ours, kernel);
        let kernel_verdict = if prog == "loop" {
            met(r_kernel, |r| r <= KERNEL_TARGET)
        } else {
            "-"
        };
        println!(
            "{:<10} {:>10} {:>10} {:>12} {:>10} {:>10} {:>7} {:>12} {:>7}",
            prog,
            cell(ours),
            cell(rbpf),
            cell(model),
            cell(kernel),
            cell(r_rbpf),
            met(r_rbpf, |r| r >= RBPF_TARGET),
            cell(r_kernel),
            kernel_verdict
        );
    }
}

fn main() {
    println!("criterion results: {}", criterion_dir().display());
    println!();
    println!(
        "map_ops: model vs real kernel (ns/op; ratio = kernel/model, how many times faster the model is)"
    );
    println!(
        "{:<20} {:>12} {:>13} {:>10} {:>8} {:>7}",
        "op", "model ns/op", "kernel ns/op", "ratio k/m", "target", "result"
    );
    let ops = [
        ("array_create_close", 100.0),
        ("hash_create_close", 100.0),
        ("array_lookup", 50.0),
        ("array_update", 50.0),
        ("hash_lookup", 50.0),
        ("hash_update", 50.0),
    ];
    for (op, target) in ops {
        let m = estimate_ns("map_ops", &format!("{op}/model"));
        let k = estimate_ns("map_ops", &format!("{op}/kernel"));
        let r = ratio(k, m);
        println!(
            "{:<20} {:>12} {:>13} {:>10} {:>8} {:>7}",
            op,
            cell(m),
            cell(k),
            cell(r),
            format!(">={target:.0}x"),
            verdict(r, |r| r >= target)
        );
        let off = estimate_ns("map_ops", &format!("{op}/model_log_off"));
        if off.is_some() {
            let r = ratio(k, off);
            println!(
                "{:<20} {:>12} {:>13} {:>10} {:>8} {:>7}",
                "  (event log off)",
                cell(off),
                cell(k),
                cell(r),
                format!(">={target:.0}x"),
                verdict(r, |r| r >= target)
            );
        }
    }

    println!();
    println!("scale: model cost per op with 1k vs 1M live maps (ns/op; ratio = 1M/1k)");
    println!(
        "{:<28} {:>10} {:>10} {:>9} {:>8} {:>7}",
        "op (config)", "@1k", "@1M", "1M/1k", "target", "result"
    );
    for (group, label) in [("scale", "log off"), ("scale_default", "default")] {
        for op in [
            "create_close",
            "array_lookup",
            "next_id_walk",
            "next_id_mid",
        ] {
            let small = estimate_ns(group, &format!("{op}/1k"));
            let big = estimate_ns(group, &format!("{op}/1M"));
            let r = ratio(big, small);
            println!(
                "{:<28} {:>10} {:>10} {:>9} {:>8} {:>7}",
                format!("{op} ({label})"),
                cell(small),
                cell(big),
                cell(r),
                "<=2x",
                verdict(r, |r| r <= 2.0)
            );
        }
    }

    let kw = estimate_ns("scale", "next_id_walk/kernel");
    if kw.is_some() {
        println!();
        println!("GET_NEXT_ID walk, per object: real kernel vs model (1k live maps, log off)");
        let m = estimate_ns("scale", "next_id_walk/1k");
        println!(
            "  kernel {} ns, model {} ns, ratio k/m {}",
            cell(kw),
            cell(m),
            cell(ratio(kw, m))
        );
    }
    loader();
    exec();
    cli();
}

/// The `cli` bench: whole-process `prog load` of the seed object, bpfsim against bpftool
/// (target: bpfsim faster, ratio bpftool/bpfsim > 1), and each tool's `version`.
fn cli() {
    println!();
    println!(
        "cli: whole-process prog load of seed_btf_lookup.o (us; ratio = bpftool/bpfsim, target > 1)"
    );
    let us = |id: &str| estimate_ns("cli", id).map(|v| v / 1e3);
    let (ours, theirs) = (us("prog_load/bpfsim"), us("prog_load/bpftool"));
    let r = ratio(theirs, ours);
    println!(
        "  prog load: bpfsim {} us  bpftool {} us  ratio {}  {}",
        cell(ours),
        cell(theirs),
        cell(r),
        match r {
            Some(r) if r > 1.0 => "met",
            Some(_) => "NOT MET",
            None => "-",
        }
    );
    println!(
        "  version:   bpfsim {} us  bpftool {} us",
        cell(us("version/bpfsim")),
        cell(us("version/bpftool"))
    );
}

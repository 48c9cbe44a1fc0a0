//! `bench_report`: after `cargo bench -p benches`, print the model-vs-kernel table and the
//! 1M/1k scaling ratios from criterion's `estimates.json` files, against the targets:
//! model >= 50x kernel on lookups (and element updates), >= 100x on create+close, and
//! cost@1M within 2x of cost@1k.
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
}

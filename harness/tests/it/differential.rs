//! The same scenario on the simulator and on the real kernel, compared line by line
//! (`harness/divergences.txt` lists the known differences, each argued). Needs root: without
//! it every test here prints that the kernel tier was skipped and why.

use harness::backend::SimBackend;
use harness::backend::linux::kernel_tier;
use harness::divergence::{shipped, unexplained};
use harness::scenario::{parse, run};

use crate::scenarios::scenario_files;

/// Run `text` on both backends; the unexplained differences, or `None` when the kernel tier
/// is not available here.
pub fn differential(name: &str, text: &str) -> Option<Vec<String>> {
    let mut kernel = match kernel_tier() {
        Ok(k) => k,
        Err(why) => {
            harness::backend::linux::say_skipped(&why);
            return None;
        }
    };
    let lines = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let sim =
        run(&lines, &mut SimBackend::default(), None).unwrap_or_else(|e| panic!("{name}: {e}"));
    let real = run(&lines, &mut kernel, Some(sim.live_after_sync.clone()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    Some(unexplained(name, &sim.trace, &real.trace, &shipped()))
}

#[test]
fn every_scenario_agrees_with_the_real_kernel() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, text) in scenario_files() {
        match differential(&name, &text) {
            None => return,
            Some(d) if d.is_empty() => ran += 1,
            Some(d) => failures.push(format!("{name}:\n{}", d.join("\n"))),
        }
    }
    println!("differential: {ran} scenarios agreed with the real kernel");
    assert!(
        failures.is_empty(),
        "unexplained divergences:\n{}",
        failures.join("\n\n")
    );
}

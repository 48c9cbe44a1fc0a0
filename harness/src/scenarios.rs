//! The seed question, answered: its two scenario files (`harness/scenarios/seed_*.scn`) run
//! on the simulator, plus what bpftool cannot show: who holds `my_map` after bpftool exits,
//! and its history.

use std::fmt::Write as _;

use sim::ObjRef;

use crate::backend::SimBackend;
use crate::scenario::{Line, Run, Step, parse, run};
use crate::show_objects;

/// The seed scenario with the map lookup in the program.
pub const SEED_WITH_LOOKUP: &str = include_str!("../scenarios/seed_with_lookup.scn");
/// The seed scenario without it.
pub const SEED_WITHOUT_LOOKUP: &str = include_str!("../scenarios/seed_without_lookup.scn");

/// What the seed scenario found.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// The whole run's trace.
    pub run: Run,
    /// Whether `my_map` was still there once bpftool had exited.
    pub map_survived_exit: bool,
    /// Every live object, with holders, once bpftool had exited.
    pub listing: String,
    /// `my_map`'s holders and history at that point (or the story of its death).
    pub explanation: String,
}

/// Run the seed scenario (`with_lookup` picks the file) on a fresh simulated machine.
pub fn seed(with_lookup: bool) -> SeedReport {
    let text = if with_lookup {
        SEED_WITH_LOOKUP
    } else {
        SEED_WITHOUT_LOOKUP
    };
    let lines = parse(text).expect("the seed scenarios parse");
    let run = run(&lines, &mut SimBackend::default(), None).expect("the seed scenarios run");
    // The same lines up to the first `live` (bpftool has exited): the machine at that point.
    let upto = lines
        .iter()
        .position(|l| l.step == Step::Live)
        .map_or(lines.len(), |i| i + 1);
    let mut at_exit = SimBackend::default();
    run_prefix(&lines[..upto], &mut at_exit);
    let k = &at_exit.k;
    let map = k
        .events()
        .iter()
        .find(|e| matches!(e.obj, ObjRef::Map(_)))
        .map(|e| e.serial);
    let explanation = map
        .and_then(|serial| k.explain_serial(serial))
        .map(|e| e.to_string())
        .unwrap_or_default();
    SeedReport {
        map_survived_exit: k.map_id_table().next().is_some(),
        listing: show_objects(k),
        explanation,
        run,
    }
}

fn run_prefix(lines: &[Line], b: &mut SimBackend) {
    run(lines, b, None).expect("a prefix of a scenario that runs");
}

/// The seed report as text: the trace, the listing after bpftool exited, `my_map`'s story.
pub fn seed_text(with_lookup: bool) -> String {
    let r = seed(with_lookup);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "== seed, program {} the map ==",
        if with_lookup { "uses" } else { "does not use" }
    );
    out.push_str(&r.run.text());
    let _ = writeln!(out, "\n== after bpftool exited ==");
    out.push_str(&r.listing);
    let _ = writeln!(out, "\n== my_map ==");
    out.push_str(&r.explanation);
    let _ = writeln!(
        out,
        "\nanswer: my_map {} bpftool's exit{}",
        if r.map_survived_exit {
            "survives"
        } else {
            "dies at"
        },
        if r.map_survived_exit {
            "; it is freed one grace period after the pinned program goes"
        } else {
            ": only bpftool's fd held it"
        }
    );
    out
}

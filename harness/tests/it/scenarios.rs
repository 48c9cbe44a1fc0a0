//! Scenario files (`harness/scenarios/*.scn`) run on the simulator, their traces snapshotted
//! under `snapshots/scenarios/`.

use std::path::PathBuf;

use harness::backend::SimBackend;
use harness::scenario::{parse, run};

/// Every scenario file, sorted by name: (name, text).
pub fn scenario_files() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("scenarios dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .map(|p| {
            let name = p.file_stem().expect("stem").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("read"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_scenario_runs_on_the_simulator_and_matches_its_snapshot() {
    let files = scenario_files();
    assert!(files.len() >= 7, "scenario files found: {}", files.len());
    for (name, text) in files {
        let lines = parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut b = SimBackend::default();
        let r = run(&lines, &mut b, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bad = sim::invariants::check(&b.k);
        assert!(bad.is_empty(), "{name}: {bad:?}");
        insta::with_settings!({ snapshot_path => "../../../snapshots/scenarios", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name.clone(), r.text());
        });
    }
}

#[test]
fn scenario_runs_are_deterministic() {
    for (name, text) in scenario_files() {
        let lines = parse(&text).expect("parse");
        let a = run(&lines, &mut SimBackend::default(), None).expect("run");
        let b = run(&lines, &mut SimBackend::default(), None).expect("run");
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn bad_scenario_lines_are_errors_with_line_numbers() {
    for (text, line) in [
        ("p = spawn nobody", 1),
        ("p = spawn root\np: frobnicate", 2),
        ("p = spawn root\n\np: m = map_create nosuchtype", 3),
        ("p = spawn root\np: p2 = prog_load xdp insns=\"jmp r0\"", 2),
        ("p = spawn root\np: update m key=0", 2),
        ("just words", 1),
    ] {
        let r = parse(text).and_then(|lines| run(&lines, &mut SimBackend::default(), None));
        assert_eq!(r.map(|_| ()).map_err(|e| e.line), Err(line), "{text:?}");
    }
}

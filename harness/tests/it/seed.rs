//! The seed question as a scenario, snapshotted (`snapshots/`), and run twice for determinism.

use harness::scenarios::{seed, seed_text};

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn seed_with_lookup_map_survives_bpftool_exit() {
    let r = seed(true);
    assert!(r.map_survived_exit);
    assert!(r.listing.contains("used_maps"), "{}", r.listing);
    assert!(
        r.explanation.contains("used_maps of prog"),
        "{}",
        r.explanation
    );
    // The map is still listed right after the unpin, and gone after the grace period.
    let lives: Vec<&String> = r
        .run
        .trace
        .iter()
        .filter(|l| l.starts_with("live"))
        .collect();
    assert_eq!(
        lives.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        ["live = [map@1, prog@1]", "live = [map@1]", "live = []"]
    );
}

#[test]
fn seed_without_lookup_map_dies_at_bpftool_exit() {
    let r = seed(false);
    assert!(!r.map_survived_exit);
    assert!(r.explanation.contains("id 1 removed"), "{}", r.explanation);
}

#[test]
fn seed_trace_with_lookup() {
    snapshot("seed_with_lookup", &seed_text(true));
}

#[test]
fn seed_trace_without_lookup() {
    snapshot("seed_without_lookup", &seed_text(false));
}

#[test]
fn seed_is_deterministic() {
    for lookup in [true, false] {
        assert_eq!(seed_text(lookup), seed_text(lookup));
    }
}

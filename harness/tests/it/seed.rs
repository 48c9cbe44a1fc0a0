//! The seed question as a scenario, snapshotted (`snapshots/`), and run twice for determinism.

use harness::scenarios::{seed, seed_text};

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn seed_with_lookup_map_survives_bpftool_exit() {
    let (_, r) = seed(true);
    assert!(r.map_survived_exit);
    assert!(
        r.map_listed_after_unpin,
        "the map waits for the grace period after the prog goes"
    );
    assert!(r.listing.contains("used_maps"), "{}", r.listing);
}

#[test]
fn seed_without_lookup_map_dies_at_bpftool_exit() {
    let (_, r) = seed(false);
    assert!(!r.map_survived_exit);
    assert!(!r.map_listed_after_unpin);
}

#[test]
fn seed_leaves_nothing_behind() {
    for lookup in [true, false] {
        let (s, _) = seed(lookup);
        assert_eq!(sim::invariants::leaks(&s.k), Vec::<String>::new());
    }
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
        let (a, ra) = seed(lookup);
        let (b, rb) = seed(lookup);
        assert_eq!(a.trace(), b.trace());
        assert_eq!(ra.explanation, rb.explanation);
        let ev = |s: &harness::Session| {
            s.k.events()
                .iter()
                .map(|e| format!("{e:?}\n"))
                .collect::<String>()
        };
        assert_eq!(ev(&a), ev(&b));
    }
}

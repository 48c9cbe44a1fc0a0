//! Integration tests of the harness: scenarios, traces, snapshots, determinism.

mod seed;

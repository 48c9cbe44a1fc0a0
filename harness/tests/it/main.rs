//! Integration tests of the harness: scenarios, traces, snapshots, determinism.

mod scenarios;
mod seed;

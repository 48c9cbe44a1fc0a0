//! Integration tests of the harness: scenarios, traces, snapshots, determinism.

mod linux_backend;
mod scenarios;
mod seed;

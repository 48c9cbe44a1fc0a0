//! Integration tests of the harness: scenarios, traces, snapshots, determinism.

mod differential;
mod differential_props;
mod linux_backend;
mod scenarios;
mod seed;

//! `harness`: scenarios, traces and test support for bpfsim.
//!
//! A [`Session`] drives a simulated [`sim::Kernel`] the way a program would (spawn processes,
//! make bpf() calls, mount and pin, exit) and records a readable trace, one line per call,
//! with object ids and fds renumbered in order of appearance so two runs (and, later, the
//! simulator and a real kernel) can be compared line by line. [`scenarios`] holds the
//! scenarios shared by tests, examples and benchmarks, the seed question first.

pub mod backend;
pub mod divergence;
pub mod scenario;
pub mod scenarios;
mod session;
mod show;

pub use session::{Normalizer, Session};
pub use show::show_objects;

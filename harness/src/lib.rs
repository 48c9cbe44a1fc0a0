//! `harness`: backends, scenarios and test support for bpfsim.
//!
//! A [`backend::Backend`] is a machine a program can act on: the simulated kernel
//! ([`backend::SimBackend`]) or, where the user may, the real one
//! (`backend::linux::LinuxBackend`). A [`scenario`] (one operation per line) runs on any of
//! them into a trace with ids and fds renumbered in order of appearance, so the simulator and
//! the kernel can be compared line by line ([`divergence`] lists the known differences).
//! [`scenarios`] holds the seed question, answered on the simulator.

pub mod backend;
pub mod cli;
pub mod divergence;
pub mod scenario;
pub mod scenarios;
mod show;

pub use show::show_objects;

//! Scenarios as data: a readable format, one operation per line ([`parse`]), shared by tests,
//! property tests and (later) the CLI; run on any [`crate::backend::Backend`] ([`run`]) into a
//! trace with ids and fds renumbered in order of appearance.

mod parse;
mod run;

pub use parse::{AsmInsn, Line, ParseError, Step, asm, parse};
pub use run::{Run, SETTLE_TIMEOUT_MS, run};

//! Integration tests of the harness: scenarios, traces, snapshots, determinism.

mod btf_differential;
mod cli;
mod cli_kernel;
mod differential;
mod differential_props;
mod exec_props;
mod kernel_tags;
mod kernel_xlated;
mod linux_backend;
mod loader_differential;
mod scenarios;
mod seed;
mod test_run_differential;

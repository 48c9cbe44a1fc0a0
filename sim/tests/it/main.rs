//! Integration tests of the simulated kernel, one module per subsystem. Each test is named
//! after the kernel rule it checks (the spec section is in each module's docs); calls made
//! through [`support::Sys::run`] are followed by the invariant checker.

mod support;

mod attr_and_ids;
mod bpffs;
mod btf;
mod conformance;
mod elements;
mod fd_array;
mod fds;
mod helpers;
mod lifetime;
mod lifetime_props;
mod loader;
mod map_create;
mod prog_load;
mod seed;
mod test_run;
mod vm_errors;

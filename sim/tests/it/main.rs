//! Integration tests of the simulated kernel, one module per subsystem. Each test is named
//! after the kernel rule it checks (`../shared/spec/kernel-semantics.md` section in the
//! module docs); every test runs the invariant checker after each call through [`Sys`].

mod support;

mod seed;

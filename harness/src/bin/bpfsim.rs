//! `bpfsim`: bpftool's commands against a simulated machine that persists between
//! invocations (see `harness::cli`). `bpfsim seed` answers the seed question end to end.
//!
//! The entry point is C's `main`, not Rust's: std's runtime start-up (the main thread's
//! stack-guard probe, which reads `/proc/self/maps`, and the signal stack) is skipped, since a
//! bpftool-style command is mostly process start-up and the issue measures it against
//! bpftool's. `std::env::args` still works: glibc hands the arguments to std at load time.

#![no_main]

#[unsafe(no_mangle)]
extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let env = |k: &str| std::env::var(k).ok();
    let code = harness::cli::main_with(
        &argv,
        &env,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}

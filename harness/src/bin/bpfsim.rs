//! `bpfsim`: bpftool's commands against a simulated machine that persists between
//! invocations (see `harness::cli`). `bpfsim seed` answers the seed question end to end.

fn main() {
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

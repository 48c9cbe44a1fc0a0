//! The seed question answered by the simulator, no root needed: load the seed program with and
//! without its map lookup, list what survives bpftool's exit, and explain why.
//!
//! `cargo run -p harness --example seed`

fn main() {
    print!("{}", harness::scenarios::seed_text(true));
    println!();
    print!("{}", harness::scenarios::seed_text(false));
}

//! `bpfsim-agent`: one process of the kernel tier, started and driven by
//! `harness::backend::LinuxBackend` over the control socket at fd 1000. Not meant to be run
//! by hand.

fn main() {
    harness::backend::linux::agent::agent_main()
}

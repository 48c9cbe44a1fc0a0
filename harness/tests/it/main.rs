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

/// Every object of `corpus/` as (file name, bytes), sorted by name.
fn corpus_objects() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read(&p).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

//! The `bpfsim` command line: transcripts of every command's text and JSON output over the
//! corpus, snapshotted under `snapshots/cli/`; bad arguments and files; the state file left
//! byte-identical by a failed command; determinism of replay.

use std::path::{Path, PathBuf};

use harness::cli::sys::HostFiles;
use harness::cli::{Machine, split_words};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A 64-byte IPv4/UDP frame, as the spec's `pkt64.bin`.
fn pkt64() -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[0..6].copy_from_slice(&[0xff; 6]);
    p[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    p[12..14].copy_from_slice(&[0x08, 0x00]);
    p[14] = 0x45;
    p[16..18].copy_from_slice(&50u16.to_be_bytes());
    p[22] = 64;
    p[23] = 17;
    p
}

/// Every corpus object as `corpus/NAME.o`, plus `pkt64.bin`, served without touching the
/// host's working directory.
fn files() -> HostFiles {
    let mut f = HostFiles::default();
    for e in std::fs::read_dir(root().join("corpus")).expect("corpus") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "o") {
            let name = format!("corpus/{}", p.file_name().expect("name").to_string_lossy());
            f.overlay.insert(name, std::fs::read(&p).expect("read"));
        }
    }
    f.overlay.insert("pkt64.bin".into(), pkt64());
    f
}

/// Runs each line as one invocation on `m`, and writes the transcript: the command, its
/// stdout, its stderr, and a non-zero exit status.
fn transcript_on(m: &mut Machine, script: &str) -> String {
    let mut out = String::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut f = files();
        let o = m.invoke(&split_words(line), &mut f);
        out.push_str(&format!("$ bpfsim {line}\n{}", o.stdout));
        if !o.stderr.is_empty() {
            out.push_str(&format!("[stderr]\n{}", o.stderr));
        }
        if o.code != 0 {
            out.push_str(&format!("[exit {}]\n", o.code));
        }
    }
    out
}

fn transcript(script: &str) -> String {
    transcript_on(&mut Machine::boot(), script)
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "../../../snapshots/cli", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

/// The corpus objects every show/dump transcript covers (the legacy ones fail to open, as
/// with libbpf 1.x; `seed_legacy_lookup` is in the error transcript).
const OBJECTS: &[&str] = &[
    "atomics",
    "bounded_loop",
    "cgroup",
    "cpu_v4",
    "global_data",
    "map_in_map",
    "pin_by_name",
    "seed_btf_lookup",
    "seed_btf_nolookup",
    "subprog",
    "tailcall",
    "xdp_loop",
    "xdp_parser",
    "xdp_trivial",
];

/// loadall, then every program and map shown and dumped, text and JSON.
fn object_script(m: &mut Machine, obj: &str) -> String {
    let mut s =
        format!("prog loadall corpus/{obj}.o /sys/fs/bpf/{obj} pinmaps /sys/fs/bpf/{obj}_maps\n");
    for l in [
        "prog show",
        "-j prog show",
        "-f prog show",
        "map show",
        "-j map show",
        "-f -p map show",
    ] {
        s.push_str(l);
        s.push('\n');
    }
    let mut pre = String::new();
    let o = m.invoke(&split_words(s.lines().next().expect("load")), &mut files());
    assert_eq!(o.code, 0, "{obj}: {}", o.stderr);
    pre.push_str(&format!(
        "$ bpfsim {}\n{}{}",
        s.lines().next().expect("line"),
        o.stdout,
        o.stderr
    ));
    let progs: Vec<(u32, String)> =
        m.k.prog_id_table()
            .map(|(id, p)| (id, m.k.prog(p).expect("live").name_str()))
            .collect();
    let maps: Vec<u32> = m.k.map_id_table().map(|(id, _)| id).collect();
    let mut rest = String::new();
    for l in s.lines().skip(1) {
        rest.push_str(l);
        rest.push('\n');
    }
    for (id, name) in &progs {
        rest.push_str(&format!("prog show name {name}\n-p prog show id {id}\n"));
        rest.push_str(&format!(
            "prog dump xlated pinned /sys/fs/bpf/{obj}/{name}\n"
        ));
        rest.push_str(&format!(
            "prog dump xlated id {id} opcodes\n-j prog dump xlated id {id}\n"
        ));
        rest.push_str(&format!("-p prog dump xlated id {id} opcodes\n"));
    }
    for id in &maps {
        rest.push_str(&format!(
            "map show id {id}\nmap dump id {id}\n-j map dump id {id}\n"
        ));
    }
    pre + &transcript_on(m, &rest)
}

#[test]
fn every_corpus_object_loads_shows_and_dumps_as_bpftool_would() {
    for obj in OBJECTS {
        let mut m = Machine::boot();
        let t = object_script(&mut m, obj);
        assert!(!t.contains("[exit"), "{obj}:\n{t}");
        snapshot(&format!("objects__{obj}"), &t);
    }
}

#[test]
fn the_seed_transcript() {
    let o = Machine::boot().invoke(&["seed".to_string()], &mut HostFiles::default());
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("verdict: alive because of: used_maps of prog 1 \"my_prog\"")
    );
    assert!(o.stdout.contains("verdict: freed"));
    snapshot("seed", &o.stdout);
}

#[test]
fn map_commands_text_and_json() {
    snapshot(
        "map_commands",
        &transcript(
            "map create /sys/fs/bpf/h type hash key 4 value 8 entries 4 name counts
             map create /sys/fs/bpf/a type array key 4 value 4 entries 3 name arr flags 0x400
             map update pinned /sys/fs/bpf/h key 1 0 0 0 value 1 0 0 0 0 0 0 0
             map update pinned /sys/fs/bpf/h key hex 02 00 00 00 value hex ff 00 00 00 00 00 00 00 noexist
             map update pinned /sys/fs/bpf/h key 2 0 0 0 value 1 0 0 0 0 0 0 0 noexist
             -j map update pinned /sys/fs/bpf/h key 2 0 0 0 value 3 0 0 0 0 0 0 0 exist
             map lookup pinned /sys/fs/bpf/h key 2 0 0 0
             -j map lookup pinned /sys/fs/bpf/h key 2 0 0 0
             map lookup pinned /sys/fs/bpf/h key 9 0 0 0
             -j map lookup pinned /sys/fs/bpf/h key 9 0 0 0
             map getnext pinned /sys/fs/bpf/h
             map getnext pinned /sys/fs/bpf/h key 2 0 0 0
             -p map getnext pinned /sys/fs/bpf/h key 1 0 0 0
             map dump pinned /sys/fs/bpf/h
             -p map dump name counts
             map delete pinned /sys/fs/bpf/h key 1 0 0 0
             map delete pinned /sys/fs/bpf/h key 1 0 0 0
             map update name arr key 0 0 0 0 value 7 0 0 0
             map freeze name arr
             map update name arr key 0 0 0 0 value 8 0 0 0
             map show
             -j map show name arr
             map pin name counts /sys/fs/bpf/counts2
             -f map list
             map dump id 1 id 2
             map create /sys/fs/bpf/x type hash key 4 value 8 entries 4
             map create /sys/fs/bpf/x type nosuch key 4 value 8 entries 4 name x
             map create /sys/fs/bpf/x type array key 8 value 8 entries 4 name x
             map create /nodir/x type array key 4 value 8 entries 4 name x
             map update pinned /sys/fs/bpf/h key 1 0 0 value 1 0 0 0 0 0 0 0
             map update pinned /sys/fs/bpf/h key 1 0 0 zz value 1 0 0 0 0 0 0 0
             map lookup pinned /sys/fs/bpf/nope key 1 0 0 0
             map lookup pinned /tmp key 1 0 0 0
             map show id 99
             map show name
             -j map dump id 99",
        ),
    );
}

#[test]
fn prog_commands_text_and_json() {
    snapshot(
        "prog_commands",
        &transcript(
            "prog load corpus/xdp_trivial.o /sys/fs/bpf/pass
             prog load corpus/xdp_trivial.o /sys/fs/bpf/pass2 type xdp
             prog load corpus/tailcall.o /sys/fs/bpf/tc pinmaps /sys/fs/bpf/tcmaps
             map dump pinned /sys/fs/bpf/tcmaps/jmp_table
             prog show tag 614b434cd8324ecc
             prog pin id 1 /sys/fs/bpf/pass3
             -f prog show id 1
             -j prog pin id 1 /sys/fs/bpf/pass4
             prog run pinned /sys/fs/bpf/pass data_in pkt64.bin
             prog run pinned /sys/fs/bpf/pass data_in pkt64.bin repeat 100
             prog run pinned /sys/fs/bpf/pass data_in pkt64.bin data_out -
             -j prog run pinned /sys/fs/bpf/pass data_in pkt64.bin data_out -
             prog run name tail_entry data_in pkt64.bin
             prog load corpus/seed_btf_lookup.o /sys/fs/bpf/seed
             prog load corpus/seed_btf_lookup.o /sys/fs/bpf/seed2 map name my_map pinned /sys/fs/bpf/tcmaps/hits
             prog load corpus/seed_btf_lookup.o /sys/fs/bpf/seed3 map idx 0 name my_map
             prog run pinned /sys/fs/bpf/seed data_in pkt64.bin
             prog dump jited pinned /sys/fs/bpf/pass
             prog dump xlated pinned /sys/fs/bpf/pass linum
             prog show
             -p prog list",
        ),
    );
}

#[test]
fn bad_arguments_and_files_are_bpftools_errors() {
    snapshot(
        "errors",
        &transcript(
            "prog load corpus/seed_legacy_lookup.o /sys/fs/bpf/my_prog
             -j prog load corpus/seed_legacy_lookup.o /sys/fs/bpf/my_prog
             prog load corpus/missing.o /sys/fs/bpf/p
             prog load pkt64.bin /sys/fs/bpf/p
             prog load corpus/xdp_trivial.o
             prog load corpus/xdp_trivial.o /sys/fs/bpf/p bogus
             prog load corpus/xdp_trivial.o /sys/fs/bpf/p type nosuchtype
             prog load corpus/xdp_trivial.o /nodir/p
             prog load corpus/xdp_trivial.o /sys/fs/bpf/p
             prog load corpus/xdp_trivial.o /sys/fs/bpf/p
             -n prog load corpus/xdp_trivial.o /tmp/p
             prog show id
             prog show id x1
             prog show id 77
             prog show pinned /sys/fs/bpf/nothing
             prog show bogus thing
             prog dump xlated id 77
             prog dump source id 1
             prog run id 1
             prog run id 1 data_in nofile.bin
             prog run id 1 data_in pkt64.bin d 1
             prog nosuch
             map nosuch
             nosuch
             --bogus prog show
             -j prog show id 77
             explain map id 5
             explain thing id 1
             explain prog name nobody
             script nofile.txt
             advance soon",
        ),
    );
}

#[test]
fn explain_follows_an_object_through_its_life() {
    snapshot(
        "explain",
        &transcript(
            "prog load corpus/seed_btf_lookup.o /sys/fs/bpf/my_prog
             explain prog pinned /sys/fs/bpf/my_prog
             -p explain map id 1
             mount /tmp
             map pin id 1 /tmp/m
             umount /tmp
             explain map id 1
             rm /sys/fs/bpf/my_prog
             explain prog id 1
             sync
             explain prog id 1
             advance 1500
             prog load corpus/seed_btf_nolookup.o /sys/fs/bpf/p2
             prog show
             log",
        ),
    );
}

/// A temporary state file, removed when dropped.
struct TempState(PathBuf);

impl TempState {
    fn new(tag: &str) -> TempState {
        let p = std::env::temp_dir().join(format!("bpfsim-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempState(p)
    }
}

impl Drop for TempState {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One `bpfsim` process as the binary runs it (options about the state file included);
/// `corpus/` is the repository's.
fn bpfsim(state: &Path, args: &str) -> (i32, String, String) {
    let mut argv = vec!["--state".to_string(), state.display().to_string()];
    let corpus = format!("{}/", root().join("corpus").display());
    argv.extend(split_words(&args.replace("corpus/", &corpus)));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = harness::cli::main_with(&argv, &|_| None, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).expect("utf8"),
        String::from_utf8(err).expect("utf8"),
    )
}

#[test]
fn a_failed_command_leaves_the_state_file_byte_identical() {
    let st = TempState::new("unchanged");
    let (code, _, err) = bpfsim(
        &st.0,
        "prog load corpus/seed_btf_lookup.o /sys/fs/bpf/my_prog",
    );
    assert_eq!(code, 0, "{err}");
    let before = std::fs::read(&st.0).expect("state written");
    for bad in [
        "prog load corpus/seed_btf_lookup.o /sys/fs/bpf/my_prog",
        "prog load corpus/seed_legacy_lookup.o /sys/fs/bpf/other",
        "prog load corpus/missing.o /sys/fs/bpf/other",
        "map update id 1 key 10 0 0 0 value 1 0 0 0 0 0 0 0",
        "map lookup id 1 key 1 0 0",
        "map freeze id 42",
        "rm /sys/fs/bpf/nothing",
        "prog show id",
        "--nosuchoption map show",
        "script corpus/missing.txt",
    ] {
        let (code, _, _) = bpfsim(&st.0, bad);
        assert_ne!(code, 0, "{bad} should fail");
        assert_eq!(
            std::fs::read(&st.0).expect("state"),
            before,
            "{bad} changed the state"
        );
    }
    // A corrupt state file is an error, not a panic, and is left alone.
    let mut cut = before.clone();
    cut.truncate(before.len() - 3);
    std::fs::write(&st.0, &cut).expect("write");
    let (code, _, err) = bpfsim(&st.0, "map show");
    assert_eq!(code, 255);
    assert!(err.starts_with("Error: state file corrupt"), "{err}");
    assert_eq!(std::fs::read(&st.0).expect("state"), cut);
    // A successful command changes it; `reset` empties it.
    std::fs::write(&st.0, &before).expect("write");
    let (code, out, _) = bpfsim(&st.0, "map update id 1 key 1 0 0 0 value 1 0 0 0 0 0 0 0");
    assert_eq!((code, out.as_str()), (0, ""));
    assert_ne!(std::fs::read(&st.0).expect("state"), before);
    let (code, out, _) = bpfsim(&st.0, "map lookup id 1 key 1 0 0 0");
    assert_eq!(code, 0);
    // The map has BTF: bpftool's formatted view.
    assert_eq!(out, "{\n    \"key\": 1,\n    \"value\": 1\n}\n");
    assert_eq!(bpfsim(&st.0, "reset").0, 0);
    assert_eq!(bpfsim(&st.0, "map show"), (0, String::new(), String::new()));
}

#[test]
fn the_machine_persists_between_invocations_and_replays_identically() {
    let (a, b) = (TempState::new("replay-a"), TempState::new("replay-b"));
    let pkt = TempState::new("pkt64");
    std::fs::write(&pkt.0, pkt64()).expect("write packet");
    let run = format!(
        "prog run name xdp_pass data_in {} repeat 10",
        pkt.0.display()
    );
    let steps = [
        "prog loadall corpus/tailcall.o /sys/fs/bpf/tc pinmaps /sys/fs/bpf/tcm",
        "prog loadall corpus/global_data.o /sys/fs/bpf/gd",
        "map dump pinned /sys/fs/bpf/tcm/jmp_table",
        "prog loadall corpus/xdp_trivial.o /sys/fs/bpf/xt",
        &run,
        "advance 2000",
        "-j prog show",
        "map show",
    ];
    let mut outs = Vec::new();
    for st in [&a, &b] {
        let mut all = String::new();
        for s in steps {
            let (code, out, err) = bpfsim(&st.0, s);
            assert_eq!(code, 0, "{s}: {err}");
            all.push_str(&out);
        }
        outs.push(all);
    }
    assert_eq!(outs[0], outs[1]);
    let state_a = std::fs::read(&a.0).expect("a");
    assert!(
        state_a == std::fs::read(&b.0).expect("b"),
        "state files differ"
    );
    // The packet file changes after the machine used it: the journal kept the bytes it read,
    // so the replayed machine is the same.
    std::fs::write(&pkt.0, b"other").expect("write");
    let (code, out, _) = bpfsim(&a.0, "-j map show");
    assert_eq!(code, 0);
    assert!(outs[0].ends_with(&bpfsim(&b.0, "map show").1));
    assert!(out.starts_with("[{"), "{out}");
    // The clock moved: the second load shows a later time than a fresh machine would.
    assert!(outs[0].contains("\"loaded_at\":1795554001"), "{}", outs[0]);
    let (_, log, _) = bpfsim(&a.0, "log");
    assert_eq!(log.matches("$ bpfsim ").count(), steps.len() + 1);
    assert!(log.contains("bpf(BPF_PROG_TEST_RUN"), "{log}");
}

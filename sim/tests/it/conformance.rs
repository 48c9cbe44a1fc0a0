//! The bpf_conformance suite (`../shared/conformance/bpf_conformance/tests/*.data`, see its
//! README) on our interpreter at ISA v4: a parser of the file format, an assembler of the
//! suite's dialect, and a runner with the suite's conventions (r1 = the memory's address or
//! 0, r2 = its length, helper 5 returns its first argument).
//!
//! Excluded, as the suite's default run excludes them: the `callx` group (`call %rN`, an
//! opcode Linux does not accept) and the `packet` group (legacy `LD_ABS`/`LD_IND` programs;
//! the current data has none). The counts are printed. The directory can be moved with
//! `BPF_CONFORMANCE_DIR`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

mod asm;

use asm::{assemble, parse_int, strip_comment};
use sim::Insn;
use sim::prog::insn::*;
use sim::uapi::pseudo;
use sim::vm::{Engine, Env, EnvError, Interpreter, Memory, Program, RegionKind};

// ---- file format ---------------------------------------------------------------------------

/// One `.data` file.
#[derive(Debug, Default)]
struct TestCase {
    asm: Option<String>,
    /// `-- raw`, as bytes: lines of `0x` 64-bit words, or of hex bytes.
    raw: Option<Vec<u8>>,
    mem: Vec<u8>,
    result: Option<u64>,
    /// `-- error`: the program must be rejected (by the assembler or the engine).
    error: Option<String>,
    /// A section this runner does not know: the suite skips such a file.
    unknown: Option<String>,
}

fn parse_file(text: &str) -> Result<TestCase, String> {
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    let mut order = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- ") {
            let name = name.trim().to_string();
            order.push(name.clone());
            sections.entry(name.clone()).or_default();
            current = Some(name);
        } else if let Some(name) = &current {
            let body = sections.get_mut(name).expect("section exists");
            body.push_str(line);
            body.push('\n');
        }
    }
    let mut t = TestCase::default();
    for name in order {
        let body = &sections[&name];
        match name.as_str() {
            "asm" => t.asm = Some(body.clone()),
            "raw" => {
                let mut bytes = Vec::new();
                for line in body.lines().map(strip_comment).filter(|l| !l.is_empty()) {
                    if line.starts_with("0x") {
                        bytes.extend(parse_int(line)?.to_le_bytes());
                        continue;
                    }
                    for tok in line.split_whitespace() {
                        bytes.push(
                            u8::from_str_radix(tok, 16).map_err(|e| format!("raw {tok:?}: {e}"))?,
                        );
                    }
                }
                t.raw = Some(bytes);
            }
            "mem" => {
                for tok in body
                    .lines()
                    .flat_map(|l| strip_comment(l).split_whitespace())
                {
                    let b = u8::from_str_radix(tok, 16).map_err(|e| format!("mem {tok:?}: {e}"))?;
                    t.mem.push(b);
                }
            }
            "result" => {
                let v = body.lines().map(strip_comment).find(|l| !l.is_empty());
                t.result = Some(parse_int(v.ok_or("empty result")?)?);
            }
            "error" => t.error = Some(body.trim().to_string()),
            "c" | "no register offset" => {}
            other => t.unknown = Some(other.to_string()),
        }
    }
    Ok(t)
}

// ---- runner ----------------------------------------------------------------------------------

/// The suite's helpers: 5 ("unwind") returns its first argument.
struct SuiteEnv;

impl Env for SuiteEnv {
    fn call_helper(&mut self, id: i32, args: [u64; 5], _: &mut Memory) -> Result<u64, EnvError> {
        match id {
            5 => Ok(args[0]),
            _ => Err(EnvError::UnknownHelper),
        }
    }
}

/// Why a file is left out, if the suite's default run leaves it out.
fn excluded_group(insns: &[Insn]) -> Option<&'static str> {
    insns.iter().find_map(|i| {
        if i.code == BPF_JMP | BPF_CALL | BPF_X {
            Some("callx")
        } else if i.class() == BPF_LD && matches!(mode(i.code), BPF_ABS | BPF_IND) {
            Some("packet")
        } else {
            None
        }
    })
}

/// Runs one test on `engine`: `Ok(None)` when it passes, `Ok(Some(group))` when excluded,
/// `Err(expected vs got)` when it fails.
fn run_case(engine: &mut dyn Engine, t: &TestCase) -> Result<Option<&'static str>, String> {
    let insns = match (&t.asm, &t.raw) {
        (Some(asm), raw) => match (assemble(asm), &t.error) {
            (Ok(insns), _) => {
                if let Some(raw) = raw.as_ref().filter(|r| **r != encode(&insns)) {
                    return Err(format!(
                        "assembled {:02x?}, raw section {raw:02x?}",
                        encode(&insns)
                    ));
                }
                insns
            }
            (Err(_), Some(_)) => return Ok(None),
            (Err(e), None) => return Err(format!("assembler: {e}")),
        },
        (None, Some(raw)) => decode(raw),
        (None, None) => return Err("no asm or raw section".to_string()),
    };
    if let Some(group) = excluded_group(&insns) {
        return Ok(Some(group));
    }
    let mut mem = Memory::new();
    let mut args = [0u64; 5];
    if !t.mem.is_empty() {
        let id = mem
            .map(t.mem.clone(), true, RegionKind::Packet)
            .expect("region");
        mem.set_packet(Some(id));
        args[0] = mem.region(id).base;
    }
    args[1] = t.mem.len() as u64;
    let got = engine.run(&Program::new(insns), args, &mut mem, &mut SuiteEnv);
    match (&t.error, t.result, got) {
        (Some(_), _, Err(_)) => Ok(None),
        (None, Some(want), Ok(r0)) if r0 == want => Ok(None),
        (error, want, got) => Err(format!(
            "expected {}, got {got:x?}",
            match (error, want) {
                (Some(e), _) => format!("error {e:?}"),
                (None, Some(w)) => format!("{w:#x}"),
                (None, None) => "nothing (no result section)".to_string(),
            }
        )),
    }
}

fn suite_dir() -> PathBuf {
    match std::env::var_os("BPF_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/conformance/bpf_conformance/tests"),
    }
}

#[test]
fn conformance_suite_passes_on_the_interpreter_at_v4() {
    let dir = suite_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set BPF_CONFORMANCE_DIR)", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 300,
        "only {} test files in {}",
        files.len(),
        dir.display()
    );
    let mut failures = Vec::new();
    let mut excluded: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let (mut passed, mut skipped) = (0, Vec::new());
    for path in &files {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(path).expect("readable test file");
        let case = match parse_file(&text) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: parse: {e}"));
                continue;
            }
        };
        if let Some(section) = &case.unknown {
            skipped.push(format!("{name} (section {section:?})"));
            continue;
        }
        match run_case(&mut Interpreter::new(), &case) {
            Ok(None) => passed += 1,
            Ok(Some(group)) => excluded.entry(group).or_default().push(name),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    let run = passed + failures.len();
    let groups: Vec<String> = excluded
        .iter()
        .map(|(g, v)| format!("{} in the {g} group ({})", v.len(), v.join(", ")))
        .collect();
    // Past libtest's capture, in one write, so the figure shows in every `cargo test` run.
    let line = format!(
        "\nconformance: {passed} of {run} pass on the interpreter (v4); excluded as by the \
         suite's default run: {}; skipped (unknown section): {}\n",
        if groups.is_empty() {
            "none".to_string()
        } else {
            groups.join("; ")
        },
        skipped.len(),
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    assert!(
        failures.is_empty() && skipped.is_empty(),
        "{} conformance failures:\n{}\nskipped: {skipped:?}",
        failures.len(),
        failures.join("\n")
    );
}

/// Negative inputs the kernel, and so this interpreter, accepts: (file, reason).
const NEGATIVE_DIVERGENCES: &[(&str, &str)] = &[
    (
        "error.data",
        "`or %r0, %r10` is rejected by the verifier's semantic pass (r0 unread, arithmetic on \
         the frame pointer), which is not modeled; the interpreter runs it",
    ),
    (
        "unused-exit-offset.data",
        "the kernel's `BPF_EXIT uses reserved fields` check covers src, dst and imm, not off",
    ),
];

/// `negative/`: inputs that must not pass. A file with `-- error` must be rejected (by the
/// assembler or the engine); the others are the suite runner's self-tests, whose stated
/// result must not be what a run gives. Exactly the files in `NEGATIVE_DIVERGENCES` pass.
#[test]
fn negative_inputs_do_not_pass() {
    let dir = suite_dir().join("../negative");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    files.sort();
    assert!(files.len() >= 50, "only {} negative files", files.len());
    let mut accepted = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(path).expect("readable test file");
        let Ok(case) = parse_file(&text) else {
            continue;
        };
        let rejected = match (
            &case.error,
            &case.unknown,
            run_case(&mut Interpreter::new(), &case),
        ) {
            (_, Some(_), _) => true,
            (Some(_), None, outcome) => outcome == Ok(None),
            (None, None, outcome) => outcome.is_err(),
        };
        if !rejected {
            accepted.push(name);
        }
    }
    let expected: Vec<&str> = NEGATIVE_DIVERGENCES.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        accepted, expected,
        "negative inputs that pass, against the known divergences"
    );
}

#[test]
fn assembler_reads_the_dialect() {
    let insns = assemble(
        "mov32 %r0, -1\nlock fetch add32 [%r10-8], %r1\nldxsh %r2, [%r1+0x2]\n\
         movsx1664 %r3, %r2\nja32 end\nbe16 %r0\nend:\nsdiv %r0, %r1\ncall local end\nexit",
    )
    .expect("assembles");
    assert_eq!(insns[0], Insn::raw(0xb4, 0, 0, 0, -1));
    assert_eq!(insns[1], Insn::raw(0xc3, 10, 1, -8, 0x01));
    assert_eq!(insns[2], Insn::raw(0x89, 2, 1, 2, 0));
    assert_eq!(insns[3], Insn::raw(0xbf, 3, 2, 16, 0));
    assert_eq!(insns[4], Insn::raw(0x06, 0, 0, 0, 1));
    assert_eq!(insns[5], Insn::raw(0xdc, 0, 0, 0, 16));
    assert_eq!(insns[6], Insn::raw(0x3f, 0, 1, 1, 0));
    assert_eq!(insns[7], Insn::raw(0x85, 0, pseudo::CALL, 0, -2));
    assert!(assemble("bogus %r0").is_err());
    assert!(assemble("mov %r11, 1").is_err());
    assert!(assemble("ja nowhere").is_err());
}

#[test]
fn parser_reads_sections_mem_and_results() {
    let t = parse_file("# c\n-- asm\nexit\n-- mem\n00 ff\n0a\n-- result\n-7\n").expect("parses");
    assert_eq!(t.mem, vec![0, 0xff, 0x0a]);
    assert_eq!(t.result, Some((-7i64) as u64));
    let e = parse_file("-- asm\nexit\n-- error\nbad\n-- nope\n").expect("parses");
    assert_eq!(e.error.as_deref(), Some("bad"));
    assert_eq!(e.unknown.as_deref(), Some("nope"));
}

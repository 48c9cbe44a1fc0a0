//! The same `bpfsim` command lines through the real bpftool on the running kernel (root), in
//! a private mount namespace with its own bpffs on `/sys/fs/bpf` (`unshare --mount`), so
//! nothing anyone else pinned is touched and everything is released when it exits. Outputs
//! (stdout, stderr, exit status) are compared after normalizing what differs by nature:
//! ids (renumbered in order of appearance), load times, run durations. What the model does
//! not do is normalized too, each named in [`normalize`]: JIT sizes, the addresses of kernel
//! functions. BTF ids are renumbered like the other ids.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use harness::backend::linux::say_skipped;
use harness::cli::sys::HostFiles;
use harness::cli::{Machine, split_words};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .canonicalize()
        .expect("corpus dir")
}

/// The command lines compared, `$C` the corpus directory and `$T` a scratch directory.
const COMMANDS: &[&str] = &[
    "prog load $C/seed_btf_lookup.o /sys/fs/bpf/my_prog pinmaps /sys/fs/bpf/maps",
    "prog show pinned /sys/fs/bpf/my_prog",
    "-j prog show pinned /sys/fs/bpf/my_prog",
    "-p prog show pinned /sys/fs/bpf/my_prog",
    "map show pinned /sys/fs/bpf/maps/my_map",
    "-j map show pinned /sys/fs/bpf/maps/my_map",
    "-p map show pinned /sys/fs/bpf/maps/my_map",
    "map update pinned /sys/fs/bpf/maps/my_map key 1 0 0 0 value 7 0 0 0 0 0 0 0",
    "map lookup pinned /sys/fs/bpf/maps/my_map key 12 0 0 0",
    "map getnext pinned /sys/fs/bpf/maps/my_map key 9 0 0 0",
    "-j map getnext pinned /sys/fs/bpf/maps/my_map",
    "map update pinned /sys/fs/bpf/maps/my_map key 10 0 0 0 value 7 0 0 0 0 0 0 0",
    "map delete pinned /sys/fs/bpf/maps/my_map key 1 0 0 0",
    "map dump pinned /sys/fs/bpf/maps/my_map",
    "-j map dump pinned /sys/fs/bpf/maps/my_map",
    "map lookup pinned /sys/fs/bpf/maps/my_map key 10 0 0 0",
    "-p map lookup pinned /sys/fs/bpf/maps/my_map key 10 0 0 0",
    "-j map lookup pinned /sys/fs/bpf/maps/my_map key 10 0 0 0",
    "prog loadall $C/global_data.o /sys/fs/bpf/gd pinmaps /sys/fs/bpf/gdm",
    "map dump pinned /sys/fs/bpf/gdm/global_d_data",
    "-p map dump pinned /sys/fs/bpf/gdm/global_d_bss",
    "-j map lookup pinned /sys/fs/bpf/gdm/global_d_rodata key 0 0 0 0",
    "map lookup pinned /sys/fs/bpf/gdm/global_d_rodata key 0 0 0 0",
    "map dump pinned /sys/fs/bpf/gdm/_rodata_str1_1",
    "prog load $C/seed_btf_nolookup.o /sys/fs/bpf/p2",
    "prog show pinned /sys/fs/bpf/p2",
    "-j prog show pinned /sys/fs/bpf/p2",
    "prog dump xlated pinned /sys/fs/bpf/p2",
    "prog dump xlated pinned /sys/fs/bpf/p2 opcodes",
    "-j prog dump xlated pinned /sys/fs/bpf/p2",
    "prog dump xlated pinned /sys/fs/bpf/my_prog",
    "prog dump xlated pinned /sys/fs/bpf/my_prog opcodes",
    "prog dump xlated pinned /sys/fs/bpf/my_prog linum",
    "-j prog dump xlated pinned /sys/fs/bpf/my_prog linum",
    "-p prog dump xlated pinned /sys/fs/bpf/p2",
    "prog loadall $C/xdp_trivial.o /sys/fs/bpf/xt",
    "prog show pinned /sys/fs/bpf/xt/xdp_pass",
    "prog run pinned /sys/fs/bpf/xt/xdp_pass data_in $T/pkt64.bin",
    "prog run pinned /sys/fs/bpf/xt/xdp_pass data_in $T/pkt64.bin repeat 100",
    "-j prog run pinned /sys/fs/bpf/xt/xdp_pass data_in $T/pkt64.bin data_out -",
    "prog run pinned /sys/fs/bpf/my_prog data_in $T/pkt64.bin",
    "map create /sys/fs/bpf/h type hash key 4 value 8 entries 4 name cmp_h flags 0x40",
    "map show pinned /sys/fs/bpf/h",
    "-j map show pinned /sys/fs/bpf/h",
    "map update pinned /sys/fs/bpf/h key 1 0 0 0 value 1 0 0 0 0 0 0 0",
    "map update pinned /sys/fs/bpf/h key 2 0 0 0 value 2 0 0 0 0 0 0 0",
    "map update pinned /sys/fs/bpf/h key 1 0 0 0 value 2 0 0 0 0 0 0 0 noexist",
    "map lookup pinned /sys/fs/bpf/h key 2 0 0 0",
    "-j map lookup pinned /sys/fs/bpf/h key 2 0 0 0",
    "map lookup pinned /sys/fs/bpf/h key 3 0 0 0",
    "-j map lookup pinned /sys/fs/bpf/h key 3 0 0 0",
    "map getnext pinned /sys/fs/bpf/h key 7 0 0 0",
    "map dump pinned /sys/fs/bpf/h",
    "-j map dump pinned /sys/fs/bpf/h",
    "-p map dump pinned /sys/fs/bpf/h",
    "map delete pinned /sys/fs/bpf/h key 2 0 0 0",
    "map delete pinned /sys/fs/bpf/h key 2 0 0 0",
    "map dump pinned /sys/fs/bpf/h",
    "map create /sys/fs/bpf/a type array key 4 value 4 entries 2 name cmp_a",
    "map update pinned /sys/fs/bpf/a key 1 0 0 0 value 9 0 0 0",
    "map dump pinned /sys/fs/bpf/a",
    "map freeze pinned /sys/fs/bpf/a",
    "map show pinned /sys/fs/bpf/a",
    "-j map show pinned /sys/fs/bpf/a",
    "map update pinned /sys/fs/bpf/a key 0 0 0 0 value 1 0 0 0",
    "map pin pinned /sys/fs/bpf/a /sys/fs/bpf/a2",
    "prog pin pinned /sys/fs/bpf/p2 /sys/fs/bpf/p3",
    "prog show pinned /sys/fs/bpf/p3",
    "-f prog show pinned /sys/fs/bpf/p3",
    "-f -j map show pinned /sys/fs/bpf/a2",
    "prog load $C/seed_legacy_lookup.o /sys/fs/bpf/legacy",
    "prog load $C/xdp_trivial.o /sys/fs/bpf/xt",
    "prog load $C/xdp_trivial.o",
    "prog show pinned /sys/fs/bpf/nothing",
    "prog show pinned /sys/fs/bpf/maps/my_map",
    "map show pinned /sys/fs/bpf/my_prog",
    "prog show id x1",
    "map show id",
    "-j map show pinned /sys/fs/bpf/nothing",
    "map create /sys/fs/bpf/bad type array key 4 value 8 entries 0 name bad",
    "map create /sys/fs/bpf/bad type nosuch key 4 value 8 entries 1 name bad",
    "map update pinned /sys/fs/bpf/h key 1 0 0 value 1 0 0 0 0 0 0 0",
    "prog run pinned /sys/fs/bpf/xt/xdp_pass data_in $T/pkt64.bin d 1",
];

/// One command's result.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `bpftool` itself.
const BPFTOOL: &[&str] = &["bpftool"];

/// bpfsim's own commands on the running kernel.
const BPFSIM_KERNEL: &[&str] = &[env!("CARGO_BIN_EXE_bpfsim"), "--kernel"];

fn sh_quote(w: &str) -> String {
    format!("'{}'", w.replace('\'', "'\\''"))
}

/// Every command through `tool` (bpftool, or `bpfsim --kernel`) on the real kernel, in one
/// private mount namespace with a fresh bpffs.
fn on_kernel(
    cmds: &[String],
    scratch: &std::path::Path,
    tool: &[&str],
) -> Result<Vec<Out>, String> {
    // Only the namespace's own bpffs: `-f` walks every bpffs mount, and the order bpftool's
    // hashmap gives the pins depends on how many it found in all of them, so the bpffs
    // instances other processes (other tests) have mounted would make the order depend on
    // the moment the namespace was made.
    let mut script = String::from(
        "set -u\numount -a -l -t bpf 2>/dev/null\nmount -t bpf bpf /sys/fs/bpf || exit 3\n",
    );
    let tool: Vec<String> = tool.iter().map(|w| sh_quote(w)).collect();
    for (i, c) in cmds.iter().enumerate() {
        let quoted: Vec<String> = split_words(c).iter().map(|w| sh_quote(w)).collect();
        script.push_str(&format!(
            "{} {} >{d}/out.{i} 2>{d}/err.{i}; echo $? >{d}/rc.{i}\n",
            tool.join(" "),
            quoted.join(" "),
            d = scratch.display()
        ));
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "unshare/mount failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let read = |n: &str| std::fs::read_to_string(scratch.join(n)).unwrap_or_default();
    Ok((0..cmds.len())
        .map(|i| Out {
            code: read(&format!("rc.{i}")).trim().parse().unwrap_or(-1),
            stdout: read(&format!("out.{i}")),
            stderr: read(&format!("err.{i}")),
        })
        .collect())
}

fn on_sim(cmds: &[String]) -> Vec<Out> {
    let mut m = Machine::boot();
    cmds.iter()
        .map(|c| {
            let o = m.invoke(&split_words(c), &mut HostFiles::default());
            Out {
                code: o.code,
                stdout: o.stdout,
                stderr: o.stderr,
            }
        })
        .collect()
}

/// Renumbers the numbers that follow `marker` (ids of one kind) in order of appearance.
struct Ids(BTreeMap<(char, String), usize>);

impl Ids {
    fn renumber(&mut self, text: &str, kind: char, markers: &[&str]) -> String {
        let mut out = String::new();
        let mut rest = text;
        'outer: while !rest.is_empty() {
            for m in markers {
                if let Some(after) = rest.strip_prefix(m) {
                    let n: String = after.chars().take_while(char::is_ascii_digit).collect();
                    if !n.is_empty() {
                        let next = self.0.len() + 1;
                        let id = *self.0.entry((kind, n.clone())).or_insert(next);
                        out.push_str(&format!("{m}{kind}{id}"));
                        rest = &after[n.len()..];
                        continue 'outer;
                    }
                }
            }
            let ch = rest.chars().next().expect("non-empty");
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
        out
    }
}

/// Drops every `"key":<number>` / `"key": <number>` field.
fn drop_field(text: &str, key: &str) -> String {
    let mut s = text.to_string();
    for pat in [
        format!(",\"{key}\":"),
        format!(",\n        \"{key}\": "),
        format!(",\n    \"{key}\": "),
    ] {
        while let Some(i) = s.find(&pat) {
            let end = s[i + pat.len()..]
                .find(|c: char| !(c.is_ascii_digit() || c.is_ascii_alphabetic()))
                .map_or(s.len(), |e| i + pat.len() + e);
            s.replace_range(i..end, "");
        }
    }
    s
}

/// What is compared. Differences by nature: ids, times, durations, the scratch directory.
/// Known differences of the model (`docs/kernel-notes.md`, "bpfsim CLI against bpftool"):
/// - no JIT: `jited 94B` / `"jited":true,"bytes_jited":94` against `not jited` /
///   `"jited":false` (bpftool's output for a kernel without a JIT image);
/// - kernel function addresses: a helper call the verifier bound to a kernel function
///   prints as `call name#<address>`; the address is the kernel build's.
fn normalize(o: &Out, ids: &mut Ids, scratch: &str, cmd: &str) -> Out {
    // Which id space the `id` fields and `N:` headers of this command's output belong to.
    let kind = if cmd
        .trim_start_matches("-j ")
        .trim_start_matches("-p ")
        .starts_with("prog")
    {
        'P'
    } else {
        'M'
    };
    let fix = |s: &str, ids: &mut Ids| {
        let mut s = s
            .replace(scratch, "$T")
            .replace(&corpus().display().to_string(), "$C");
        s = ids.renumber(&s, kind, &["\"id\":", "\"id\": "]);
        s = ids.renumber(
            &s,
            'M',
            &["map_ids ", "\"map_ids\":[", "\"map_ids\": [", "map[id:"],
        );
        s = ids.renumber(&s, 'B', &["btf_id ", "\"btf_id\":", "\"btf_id\": "]);
        // Plain `N: type` headers: programs and maps share the form; a header's kind is the
        // next word's, told apart by the `tag`/`flags` that follows.
        let mut out = String::new();
        for line in s.split_inclusive('\n') {
            let is_head = line
                .split_once(": ")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if is_head {
                let (n, rest) = line.split_once(": ").expect("a header");
                out.push_str(&ids.renumber(&format!("@{n}"), kind, &["@"])[1..]);
                out.push_str(": ");
                out.push_str(rest);
            } else {
                out.push_str(line);
            }
        }
        s = out;
        // Times and durations.
        let mut out = String::new();
        for line in s.split_inclusive('\n') {
            let mut l = line.to_string();
            if let Some(i) = l.find("loaded_at ") {
                let end = l[i..].find("  ").map_or(l.len(), |e| i + e);
                l.replace_range(i..end, "loaded_at <T>");
            }
            if let Some(i) = l.find("duration") {
                if let Some(e) = l[i..].find("ns") {
                    let colon = l[i..].find(':').map_or(i, |c| i + c + 1);
                    l.replace_range(colon..i + e, " <D>");
                }
            }
            out.push_str(&l);
        }
        s = out;
        for key in ["loaded_at", "duration"] {
            let pat = format!("\"{key}\":");
            let mut from = 0;
            while let Some(i) = s[from..].find(&pat).map(|i| from + i) {
                let mut start = i + pat.len();
                while s[start..].starts_with(' ') {
                    start += 1;
                }
                let end = s[start..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(s.len(), |e| start + e);
                s.replace_range(start..end, "0");
                from = start;
            }
        }
        // The model: no JIT.
        let mut out = String::new();
        let mut after_map_ref = false;
        for line in s.split_inclusive('\n') {
            // `opcodes`: the raw bytes of an `ld_imm64` of a map carry its id in `imm`
            // (bytes 4..8), renumbered above only where printed as `map[id:N]`.
            let was_map_ref = std::mem::replace(&mut after_map_ref, line.contains("map[id:"));
            if was_map_ref {
                let t = line.trim_start();
                let words: Vec<&str> = t.split_whitespace().collect();
                if words.len() == 16 && words.iter().all(|w| w.len() == 2) {
                    let indent = &line[..line.len() - t.len()];
                    let masked: Vec<&str> = (0..16)
                        .map(|k| if (4..8).contains(&k) { "<>" } else { words[k] })
                        .collect();
                    out.push_str(&format!("{indent}{}\n", masked.join(" ")));
                    continue;
                }
            }
            let mut l = line.to_string();
            if let Some(i) = l.find("\txlated ") {
                let start = l[i + 1..].find("  ").map_or(l.len(), |e| i + 1 + e + 2);
                let end = l.find("memlock").unwrap_or(l.len()).max(start);
                l.replace_range(start..end, "<JIT>  ");
            }
            // A helper bound to a kernel function: `call name#<address>`; the address is the
            // kernel build's (bpf-to-bpf calls, `call pc+N#...`, keep theirs).
            if let Some(i) = l.find("call ").filter(|&i| !l[i..].starts_with("call pc")) {
                if let Some(h) = l[i..].find('#').map(|h| i + h + 1) {
                    let end = l[h..]
                        .find(|c: char| !(c == '-' || c.is_ascii_digit()))
                        .map_or(l.len(), |e| h + e);
                    l.replace_range(h..end, "<K>");
                }
            }
            out.push_str(&l);
        }
        s = out;
        s = drop_field(&s, "bytes_jited");
        s = s
            .replace("\"jited\":true", "\"jited\":<JIT>")
            .replace("\"jited\":false", "\"jited\":<JIT>");
        s = s
            .replace("\"jited\": true", "\"jited\": <JIT>")
            .replace("\"jited\": false", "\"jited\": <JIT>");
        s
    };
    Out {
        code: o.code,
        stdout: fix(&o.stdout, ids),
        stderr: fix(&o.stderr, ids),
    }
}

#[test]
fn bpfsim_matches_bpftool_on_the_real_kernel() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        say_skipped("cli_kernel: needs root (bpftool, a mount namespace, bpffs)");
        return;
    }
    if Command::new("bpftool").arg("version").output().is_err() {
        say_skipped("cli_kernel: bpftool is not installed");
        return;
    }
    let scratch = std::env::temp_dir().join(format!("bpfsim-cli-kernel-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut pkt = vec![0u8; 64];
    pkt[12..14].copy_from_slice(&[0x08, 0x00]);
    pkt[14] = 0x45;
    std::fs::write(scratch.join("pkt64.bin"), &pkt).expect("packet");
    let cmds: Vec<String> = COMMANDS
        .iter()
        .map(|c| {
            c.replace("$C", &corpus().display().to_string())
                .replace("$T", &scratch.display().to_string())
        })
        .collect();
    let kernel = on_kernel(&cmds, &scratch, BPFTOOL);
    let ours = on_kernel(&cmds, &scratch, BPFSIM_KERNEL);
    let sim = on_sim(&cmds);
    let _ = std::fs::remove_dir_all(&scratch);
    let (kernel, ours) = match (kernel, ours) {
        (Ok(k), Ok(o)) => (k, o),
        (Err(why), _) | (_, Err(why)) => {
            say_skipped(&format!("cli_kernel: {why}"));
            return;
        }
    };
    let s = scratch.display().to_string();
    let (mut ik, mut io, mut is) = (
        Ids(BTreeMap::new()),
        Ids(BTreeMap::new()),
        Ids(BTreeMap::new()),
    );
    let mut diffs = Vec::new();
    for (i, cmd) in COMMANDS.iter().enumerate() {
        let k = normalize(&kernel[i], &mut ik, &s, cmd);
        let o = normalize(&ours[i], &mut io, &s, cmd);
        let m = normalize(&sim[i], &mut is, &s, cmd);
        for (who, x) in [("bpfsim --kernel", &o), ("bpfsim", &m)] {
            let k = &k;
            if k != x {
                diffs.push(format!(
                    "$ {cmd}\n--- bpftool (exit {}):\n{}{}--- {who} (exit {}):\n{}{}",
                    k.code, k.stdout, k.stderr, x.code, x.stdout, x.stderr
                ));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences over {} commands (bpftool, bpfsim --kernel, bpfsim):\n{}",
        diffs.len(),
        COMMANDS.len(),
        diffs.join("\n")
    );
}

/// Runs `main_with` in this process (the `bpfsim` binary's entry point).
fn run_main(args: &[&str]) -> (i32, String, String) {
    let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = harness::cli::main_with(&argv, &|_| None, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// Runs a program, as user `nobody` when we are root (`setpriv`), else as ourselves.
fn unprivileged(root: bool, prog: &[&str]) -> Out {
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        c.args(prog);
        c
    } else {
        let mut c = Command::new(prog[0]);
        c.args(&prog[1..]);
        c
    };
    let o = cmd.output().expect("runs");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `--kernel`: bpfsim's own commands on the running kernel. The model-only commands refuse;
/// `--trace` logs the real calls; the state file is not touched; without privilege the
/// kernel's `EPERM` is reported as bpftool reports it, with its exit status.
#[test]
fn the_kernel_flag_runs_bpfsims_commands_on_the_real_kernel() {
    for cmd in [
        "explain map id 1",
        "log",
        "sync",
        "advance 5",
        "reset",
        "seed",
    ] {
        let mut args = vec!["--kernel"];
        args.extend(cmd.split(' '));
        let (code, out, err) = run_main(&args);
        assert_eq!((code, out.as_str()), (255, ""), "{cmd}");
        let word = cmd.split(' ').next().expect("a word");
        assert_eq!(
            err,
            format!("Error: '{word}' is bpfsim's own command; it has no --kernel form\n")
        );
    }
    if Command::new("bpftool").arg("version").output().is_err() {
        say_skipped("cli_kernel: bpftool is not installed");
        return;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    // Without privilege (as `nobody` when root): byte for byte what bpftool prints.
    for cmd in [
        "prog show",
        "-j map show",
        "prog show id 1",
        "-j map show id 1",
        "map create /sys/fs/bpf/unpriv type hash key 4 value 8 entries 4 name n",
    ] {
        let words: Vec<&str> = cmd.split(' ').collect();
        let mut tool = vec!["bpftool"];
        tool.extend(&words);
        let mut ours = BPFSIM_KERNEL.to_vec();
        ours.extend(&words);
        let (t, o) = (unprivileged(root, &tool), unprivileged(root, &ours));
        assert_eq!(t, o, "unprivileged `{cmd}`");
        assert_eq!(o.code, 255, "{cmd}: {o:?}");
        assert!(
            o.stdout.contains("Operation not permitted")
                || o.stderr.contains("Operation not permitted"),
            "{cmd}: {o:?}"
        );
    }
    if !root {
        say_skipped("cli_kernel: --kernel as root needs root");
        return;
    }
    let (code, out, err) = run_main(&[
        "--kernel",
        "--trace",
        "-j",
        "prog",
        "show",
        "id",
        "4294967295",
    ]);
    assert_eq!(code, 255);
    assert_eq!(
        out,
        "{\"error\":\"get by id (4294967295): No such file or directory\"}\n"
    );
    assert_eq!(
        err,
        "bpf(BPF_PROG_GET_FD_BY_ID, {prog_id=4294967295}) = -1 ENOENT (No such file or directory)\n\
         +++ exited with 255 +++\n"
    );
    // A command that changes the kernel, in a private mount namespace: it succeeds, its calls
    // are the real ones, and the state file named on the command line is never written.
    let scratch = std::env::temp_dir().join(format!("bpfsim-kernel-flag-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let state = scratch.join("machine");
    let script = format!(
        "mount -t bpf bpf /sys/fs/bpf || exit 3\n\
         {bin} --kernel --trace --state {st} map create /sys/fs/bpf/k type array key 4 value 4 entries 1 name kflag || exit 4\n\
         {bin} --kernel --state {st} -j map show pinned /sys/fs/bpf/k\n",
        bin = sh_quote(BPFSIM_KERNEL[0]),
        st = sh_quote(&state.display().to_string()),
    );
    let o = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let state_written = state.exists();
    let _ = std::fs::remove_dir_all(&scratch);
    if o.status.code() == Some(3) {
        say_skipped("cli_kernel: cannot mount a bpffs in a mount namespace");
        return;
    }
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(!state_written, "--kernel wrote the state file");
    assert_eq!(
        stderr,
        "bpf(BPF_MAP_CREATE, {map_type=BPF_MAP_TYPE_ARRAY, key_size=4, value_size=4, \
         max_entries=1, map_flags=0x0, inner_map_fd=0, map_name=\"kflag\"}) = 3\n\
         statfs(\"/sys/fs/bpf\") = 0 {f_type=BPF_FS_MAGIC}\n\
         bpf(BPF_OBJ_PIN, {pathname=\"/sys/fs/bpf/k\", bpf_fd=3, file_flags=0}) = 0\n\
         close(3) = 0\n\
         +++ exited with 0 +++\n"
    );
    assert!(stdout.contains("\"name\":\"kflag\""), "{stdout}");
    assert!(stdout.contains("\"bytes_memlock\":"), "{stdout}");
}

//! The `bpfsim` command line: bpftool's commands and output (Debian's bpftool 7.1, the one
//! the spec's outputs come from) against a simulated machine that persists between
//! invocations, plus what bpftool cannot answer (`explain`, `log`).
//!
//! A [`Machine`] is a [`sim::Kernel`] booted with a bpffs on `/sys/fs/bpf` plus the journal
//! of the invocations that built it ([`state`]). [`Machine::invoke`] runs one command line as
//! one simulated process, as bpftool would run: it opens objects through bpf(), prints, and
//! exits, closing its fds. A command that fails leaves the machine as it was (the kernel is
//! restored and nothing is journaled), so the state file stays byte-identical.
//!
//! `--kernel` ([`invoke_on_kernel`]) runs the same command code as this process on the
//! running kernel instead (`host`): no machine, no journal.
//!
//! Output is bpftool's, byte for byte, for what the model reports: the model does not JIT
//! and loads no BTF, so programs show `not jited` and no `btf_id` (bpftool prints exactly
//! that for such a kernel's answers); `memlock`, `frozen` and the prog_array owner come from
//! the model's fdinfo ([`info`]).

mod args;
pub mod btfdump;
mod extra;
mod handles;
mod host;
pub mod info;
pub mod json;
mod map;
mod prog;
pub mod state;
pub mod sys;
mod time;

use sim::Kernel;

use args::Args;
use json::JsonWriter;
use state::{Entry, StateError};
use sys::{FileSource, Proc, RecordedFiles};

/// What one invocation printed and returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit status (0, or 255 as bpftool's `return -1`).
    pub code: i32,
    /// The strace-like log of the process's calls.
    pub trace: Vec<String>,
}

/// A simulated machine and the journal of the invocations that built it.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The kernel.
    pub k: Kernel,
    /// Every successful invocation since boot, in order.
    pub journal: Vec<Entry>,
    /// The process each invocation ran as, for `explain`.
    pub procs: Vec<ProcNote>,
}

/// Which invocation a process was: for explanations ("fd 4 of pid 3" is `bpfsim prog load`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcNote {
    /// Its pid.
    pub pid: u32,
    /// How many reference events the machine had logged when it started (its events come
    /// after).
    pub first_event: usize,
    /// The command line.
    pub cmd: String,
}

impl Default for Machine {
    fn default() -> Self {
        Machine::boot()
    }
}

/// What kind of command a command line is, for journaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Acts on the machine: journaled when it succeeds.
    Machine,
    /// Only reads the model (`explain`, `log`, `help`, `version`, `seed`): never journaled.
    Introspect,
    /// `reset`: the journal is emptied.
    Reset,
}

impl Machine {
    /// A freshly booted machine: 6.18 defaults, a bpffs mounted on `/sys/fs/bpf` by `init`.
    pub fn boot() -> Machine {
        let mut k = Kernel::default();
        let init = k.spawn("mount", sim::Cred::ROOT);
        k.mount_bpffs(init, "/sys/fs/bpf")
            .expect("a fresh machine mounts its bpffs");
        k.exit(init).expect("init exits");
        Machine {
            k,
            journal: Vec::new(),
            procs: Vec::new(),
        }
    }

    /// The machine a journal describes: each entry replayed into a freshly booted one.
    pub fn replay(entries: Vec<Entry>) -> Result<Machine, StateError> {
        let mut m = Machine::boot();
        for (index, e) in entries.into_iter().enumerate() {
            let mut files = RecordedFiles(e.files.clone());
            let o = m.invoke(&e.argv, &mut files);
            if o.code != 0 {
                return Err(StateError::Replay {
                    index,
                    argv: e.argv,
                });
            }
        }
        Ok(m)
    }

    /// Runs one command line (without the program name) as one process. A successful
    /// machine command is appended to the journal; a failed one leaves the machine unchanged.
    pub fn invoke(&mut self, argv: &[String], files: &mut dyn FileSource) -> Outcome {
        let snapshot = self.k.clone();
        let (o, kind) = self.run(argv, files, 0);
        if o.code != 0 {
            self.k = snapshot;
            return o;
        }
        match kind {
            Kind::Machine => self.journal.push(Entry {
                argv: argv.to_vec(),
                files: files.recorded(),
            }),
            Kind::Reset => *self = Machine::boot(),
            Kind::Introspect => {}
        }
        o
    }

    fn run(&mut self, argv: &[String], files: &mut dyn FileSource, depth: u32) -> (Outcome, Kind) {
        let mut a = match Args::parse(argv) {
            Ok(a) => a,
            Err(opt) => {
                let mut o = Outcome {
                    code: 255,
                    ..Outcome::default()
                };
                o.stderr = format!("Error: unrecognized option '{opt}'\n{}", args::USAGE);
                return (o, Kind::Introspect);
            }
        };
        if let Some(cmd @ ("script" | "seed")) = a.peek().and_then(args::top_level) {
            a.next();
            return self.run_script(cmd, &mut a, files, depth);
        }
        let kind = match a.peek() {
            Some(w)
                if ["explain", "log", "help", "version", "seed"]
                    .iter()
                    .any(|c| args::is_prefix(w, c) && args::top_level(w) == Some(c)) =>
            {
                Kind::Introspect
            }
            Some("reset") => Kind::Reset,
            None => Kind::Introspect,
            _ if a.version || a.help => Kind::Introspect,
            _ => Kind::Machine,
        };
        let journal = self.journal.clone();
        let first_event = self.k.events().iter().count();
        let procs = self.procs.clone();
        let cmd = a.words().join(" ");
        let p = Proc::spawn(&mut self.k, "bpftool");
        let (o, pid) = run_as(p, &mut a, files, journal, procs);
        if o.code == 0 && kind == Kind::Machine {
            self.procs.push(ProcNote {
                pid,
                first_event,
                cmd,
            });
        }
        (o, kind)
    }
}

/// One parsed command line as process `p` (simulated or on the kernel): the command's
/// output, its exit status, and the process's calls; also the pid it ran as.
fn run_as(
    p: Proc<'_>,
    a: &mut Args,
    files: &mut dyn FileSource,
    journal: Vec<Entry>,
    procs: Vec<ProcNote>,
) -> (Outcome, u32) {
    let pid = p.pid();
    let mut c = Ctx {
        p,
        out: String::new(),
        err: String::new(),
        json: a.json.then(|| JsonWriter::new(a.pretty)),
        opts: a.opts(),
        files,
        journal,
        code: None,
        procs,
    };
    let r = extra::dispatch(&mut c, a);
    let code = if r.is_ok() { 0 } else { c.code.unwrap_or(255) };
    let Ctx {
        p,
        mut out,
        err,
        json,
        ..
    } = c;
    if let Some(w) = json {
        out.push_str(&w.finish());
    }
    let trace = p.exit(code);
    (
        Outcome {
            stdout: out,
            stderr: err,
            code,
            trace,
        },
        pid,
    )
}

/// The commands that act on the simulated machine as a whole or read what only the model
/// knows: they have no `--kernel` form.
const MODEL_ONLY: &[&str] = &[
    "explain", "log", "reset", "sync", "advance", "script", "seed",
];

/// `bpfsim --kernel`: one command line run by bpfsim's own command code as this process on
/// the running kernel (real bpf(2), mount, statfs, ... and `/proc/self/fdinfo`), with the
/// same parsing, output and strace-like log as on the model. There is no machine and no
/// journal: the kernel keeps its own state. The model-only commands ([`MODEL_ONLY`]) fail
/// with `Error: 'CMD' is bpfsim's own command; it has no --kernel form`. Without the
/// privilege, the kernel's errors are reported as bpftool reports them.
pub fn invoke_on_kernel(argv: &[String], files: &mut dyn FileSource) -> Outcome {
    let mut a = match Args::parse(argv) {
        Ok(a) => a,
        Err(opt) => {
            return Outcome {
                code: 255,
                stderr: format!("Error: unrecognized option '{opt}'\n{}", args::USAGE),
                ..Outcome::default()
            };
        }
    };
    if let Some(cmd) = a.peek().and_then(args::top_level) {
        if MODEL_ONLY.contains(&cmd) && !a.version && !a.help {
            return Outcome {
                code: 255,
                stderr: format!(
                    "Error: '{cmd}' is bpfsim's own command; it has no --kernel form\n"
                ),
                ..Outcome::default()
            };
        }
    }
    let p = Proc::with(Box::new(host::HostCalls::default()));
    run_as(p, &mut a, files, Vec::new(), Vec::new()).0
}

/// How deep scripts may nest.
const MAX_SCRIPT_DEPTH: u32 = 4;

/// The seed question as a script: load the object with and without its map lookup, list
/// what is left, and explain it (`bpfsim seed`).
pub const SEED_SCRIPT: &str = include_str!("../../scenarios/seed.bpfsim");

/// The corpus objects the seed script loads, embedded so `bpfsim seed` works from anywhere.
const SEED_FILES: &[(&str, &[u8])] = &[
    (
        "corpus/seed_btf_lookup.o",
        include_bytes!("../../../corpus/seed_btf_lookup.o"),
    ),
    (
        "corpus/seed_btf_nolookup.o",
        include_bytes!("../../../corpus/seed_btf_nolookup.o"),
    ),
    (
        "corpus/seed_legacy_lookup.o",
        include_bytes!("../../../corpus/seed_legacy_lookup.o"),
    ),
];

/// The embedded seed objects, with every other path read through `inner`.
struct SeedFiles<'a> {
    inner: &'a mut dyn FileSource,
}

impl FileSource for SeedFiles<'_> {
    fn read(&mut self, path: &str) -> Result<Vec<u8>, String> {
        match SEED_FILES.iter().find(|(p, _)| *p == path) {
            Some((_, b)) => Ok(b.to_vec()),
            None => self.inner.read(path),
        }
    }
    fn recorded(&self) -> Vec<(String, Vec<u8>)> {
        self.inner.recorded()
    }
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), String> {
        self.inner.write(path, bytes)
    }
}

/// A script line as words: split at white space, `'...'` and `"..."` quote.
pub fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(ch);
                cur.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => {
                if let Some(w) = cur.take() {
                    out.push(w);
                }
            }
            (None, c) => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    out
}

impl Machine {
    /// `script FILE` (on this machine, journaled as one entry) or `seed` (the built-in seed
    /// script on a fresh machine of its own): one invocation per line, each echoed as
    /// `$ bpfsim LINE` before its output. A line starting with `!` must fail; any other
    /// line must succeed, or the script stops and fails (and changes nothing).
    fn run_script(
        &mut self,
        cmd: &str,
        a: &mut Args,
        files: &mut dyn FileSource,
        depth: u32,
    ) -> (Outcome, Kind) {
        let mut o = Outcome::default();
        let fail = |mut o: Outcome, msg: String| {
            o.stderr.push_str(&format!("Error: {msg}\n"));
            o.code = 255;
            (o, Kind::Machine)
        };
        if depth >= MAX_SCRIPT_DEPTH {
            return fail(o, format!("scripts nest deeper than {MAX_SCRIPT_DEPTH}"));
        }
        let (text, mut fresh) = if cmd == "seed" {
            (SEED_SCRIPT.to_string(), Some(Machine::boot()))
        } else {
            let Some(path) = a.next() else {
                return fail(o, "'script' needs at least 1 arguments, 0 found".into());
            };
            match files.read(&path) {
                Ok(b) => match String::from_utf8(b) {
                    Ok(t) => (t, None),
                    Err(_) => return fail(o, format!("{path}: not a text file")),
                },
                Err(e) => return fail(o, format!("failed to open {path}: {e}")),
            }
        };
        let mut seed_files = SeedFiles { inner: files };
        let m: &mut Machine = fresh.as_mut().unwrap_or(self);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                if line.starts_with("##") {
                    o.stdout.push_str(&format!("{}\n", &line[1..]));
                }
                continue;
            }
            let (must_fail, cmdline) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            o.stdout.push_str(&format!("$ bpfsim {cmdline}\n"));
            o.trace.push(format!("$ bpfsim {cmdline}"));
            let words = split_words(cmdline);
            let snapshot = m.k.clone();
            let (sub, kind) = m.run(&words, &mut seed_files, depth + 1);
            o.stdout.push_str(&sub.stdout);
            o.stdout.push_str(&sub.stderr);
            o.trace.extend(sub.trace);
            if sub.code != 0 {
                m.k = snapshot;
                o.stdout.push_str(&format!("(exit status {})\n", sub.code));
            } else if kind == Kind::Reset {
                m.k = Machine::boot().k;
                m.procs.clear();
            }
            if must_fail != (sub.code != 0) {
                let what = if must_fail { "succeeded" } else { "failed" };
                return fail(o, format!("script line {}: '{cmdline}' {what}", n + 1));
            }
        }
        let kind = if cmd == "seed" {
            Kind::Introspect
        } else {
            Kind::Machine
        };
        (o, kind)
    }
}

/// Global options that commands read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Opts {
    /// `-f`: list pinned paths.
    pub bpffs: bool,
    /// `-n`: do not mount a bpffs to pin.
    pub nomount: bool,
    /// `-l`/`--legacy`: no libbpf strict-mode warning after a failed load.
    pub legacy: bool,
}

/// A command's context: its process, its output, the options, the files it may read.
pub(crate) struct Ctx<'a, 'k> {
    /// The process.
    pub p: Proc<'k>,
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
    /// The JSON writer when `-j`/`-p`.
    pub json: Option<JsonWriter>,
    /// Options.
    pub opts: Opts,
    /// Input files.
    pub files: &'a mut dyn FileSource,
    /// The machine's journal before this command (for `log`).
    pub journal: Vec<Entry>,
    /// The exit status of a failure, when not 255 (libbpf's `-errno` returned from `main`).
    pub code: Option<i32>,
    /// The invocations so far.
    pub procs: Vec<ProcNote>,
}

/// A command's result: `Err` after the error was reported (bpftool's `return -1`).
pub(crate) type CmdResult = Result<(), ()>;

impl Ctx<'_, '_> {
    /// bpftool's `p_err`: `Error: ...` on stderr, or `{"error":"..."}` in JSON mode.
    pub fn p_err(&mut self, msg: impl AsRef<str>) -> CmdResult {
        match &mut self.json {
            Some(w) => {
                w.start_object();
                w.string_field("error", msg.as_ref());
                w.end_object();
            }
            None => {
                self.err.push_str("Error: ");
                self.err.push_str(msg.as_ref());
                self.err.push('\n');
            }
        }
        Err(())
    }

    /// bpftool's `p_info`: a line on stderr, nothing in JSON mode.
    pub fn p_info(&mut self, msg: impl AsRef<str>) {
        if self.json.is_none() {
            self.err.push_str(msg.as_ref());
            self.err.push('\n');
        }
    }

    /// Fails with the exit status of a bpftool command that returned libbpf's `-errno`
    /// (`main` returns it: `-524` exits with 244).
    pub fn errno_exit(&mut self, e: sim::Errno) -> CmdResult {
        self.code = Some((256 - e.0 % 256) % 256);
        Err(())
    }

    /// The machine's kernel, for introspection; `None` under `--kernel`.
    pub fn k(&self) -> Option<&Kernel> {
        self.p.model_ref()
    }
}

/// `--kernel`: [`invoke_on_kernel`] with the host's files, printed as the model's output is
/// (`--trace`: the real calls, one line each, on stderr). The state file is not read or
/// written.
fn on_kernel(
    argv: &[String],
    trace: bool,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> i32 {
    let o = invoke_on_kernel(argv, &mut sys::HostFiles::default());
    let _ = stdout.write_all(o.stdout.as_bytes());
    let _ = stderr.write_all(o.stderr.as_bytes());
    if trace {
        for l in &o.trace {
            let _ = writeln!(stderr, "{l}");
        }
    }
    o.code
}

/// The `bpfsim` binary: options about the state file (`--state PATH`, `--trace`) and
/// `--kernel` are taken here, the rest is one [`Machine::invoke`] on the machine the state
/// file describes. Returns the exit status.
pub fn main_with(
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> i32 {
    let mut rest = Vec::new();
    let mut state_flag = None;
    let mut trace = false;
    let mut kernel = false;
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--state" => match it.next() {
                Some(p) => state_flag = Some(p.clone()),
                None => {
                    let _ = writeln!(stderr, "Error: option '--state' requires an argument");
                    return 255;
                }
            },
            s if s.starts_with("--state=") => state_flag = Some(s[8..].to_string()),
            "--trace" => trace = true,
            "--kernel" => kernel = true,
            _ => rest.push(a.clone()),
        }
    }
    if kernel {
        return on_kernel(&rest, trace, stdout, stderr);
    }
    let path = state::default_path(state_flag.as_deref(), env);
    let fail = |stderr: &mut dyn std::io::Write, e: StateError| {
        let _ = writeln!(stderr, "Error: {e}");
        255
    };
    let is_reset = rest.first().is_some_and(|a| a == "reset");
    let entries = if is_reset {
        Vec::new()
    } else {
        match state::load(&path) {
            Ok(e) => e,
            Err(e) => return fail(stderr, e),
        }
    };
    let before = entries.len();
    let mut m = match Machine::replay(entries) {
        Ok(m) => m,
        Err(e) => return fail(stderr, e),
    };
    let mut files = sys::HostFiles::default();
    let o = m.invoke(&rest, &mut files);
    let _ = stdout.write_all(o.stdout.as_bytes());
    let _ = stderr.write_all(o.stderr.as_bytes());
    if trace {
        for l in &o.trace {
            let _ = writeln!(stderr, "{l}");
        }
    }
    if o.code == 0 && (is_reset || m.journal.len() != before) {
        if let Err(e) = state::save(&path, &m.journal) {
            return fail(stderr, e);
        }
    }
    o.code
}

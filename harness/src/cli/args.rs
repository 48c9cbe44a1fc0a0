//! Command-line words the way bpftool takes them: `getopt_long` options anywhere before
//! `--` (`-j`, `-p`, `-f`, `-n`, `-d`, `-m`, `-h`, `-V` and their long forms), and commands
//! matched by prefix (`is_prefix`: `prog sh` is `prog show`), first match in table order.

/// The top-level usage bpftool prints for an unknown command or option, with bpfsim's
/// own commands.
pub const USAGE: &str = "Usage: bpfsim [OPTIONS] OBJECT { COMMAND | help }
       bpfsim version

       OBJECT := { prog | map }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} |
                    {-f|--bpffs} | {-n|--nomount} |
                    {-V|--version} }

       bpfsim's own commands, about the simulated machine:
       bpfsim explain { map | prog } { id ID | pinned FILE | name NAME }
       bpfsim log                      the bpf() calls of every invocation so far
       bpfsim script FILE              one invocation per line ('!' before a line that must fail)
       bpfsim seed                     the seed question, answered end to end
       bpfsim reset                    a freshly booted machine
       bpfsim mount [DIR] | umount DIR | rm FILE
       bpfsim sync                     an RCU grace period: deferred frees run
       bpfsim advance MSECS            move the virtual clock
       MACHINE OPTIONS := { --state PATH | --trace | --kernel }   (or BPFSIM_STATE=PATH)
       --kernel: the same prog/map command, bpfsim's code, on the real kernel (no state)
";

/// bpftool's `is_prefix(pfx, str)`.
pub fn is_prefix(pfx: &str, s: &str) -> bool {
    s.starts_with(pfx)
}

/// The top-level command table, in matching order.
pub const TOP: &[&str] = &[
    "help", "prog", "map", "version", "explain", "log", "script", "seed", "reset", "mount",
    "umount", "rm", "sync", "advance",
];

/// The top-level command `w` selects.
pub fn top_level(w: &str) -> Option<&'static str> {
    TOP.iter().copied().find(|c| is_prefix(w, c))
}

/// A command line: options taken out, words left in order.
#[derive(Clone, Debug, Default)]
pub struct Args {
    words: Vec<String>,
    at: usize,
    /// `-j` or `-p`.
    pub json: bool,
    /// `-p`.
    pub pretty: bool,
    /// `-f`.
    pub bpffs: bool,
    /// `-n`.
    pub nomount: bool,
    /// `-l`/`--legacy`.
    pub legacy: bool,
    /// `-h`.
    pub help: bool,
    /// `-V`.
    pub version: bool,
}

impl Args {
    /// Takes the options out (anywhere before `--`); `Err(option)` for an unknown one.
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut a = Args::default();
        let mut it = argv.iter();
        while let Some(w) = it.next() {
            if w == "--" {
                a.words.extend(it.by_ref().cloned());
                break;
            }
            if let Some(long) = w.strip_prefix("--") {
                match long {
                    "json" => a.json = true,
                    "pretty" => (a.json, a.pretty) = (true, true),
                    "bpffs" => a.bpffs = true,
                    "nomount" => a.nomount = true,
                    "debug" | "mapcompat" => {}
                    "legacy" => a.legacy = true,
                    "help" => a.help = true,
                    "version" => a.version = true,
                    _ => return Err(w.clone()),
                }
            } else if w.len() > 1 && w.starts_with('-') {
                for c in w[1..].chars() {
                    match c {
                        'j' => a.json = true,
                        'p' => (a.json, a.pretty) = (true, true),
                        'f' => a.bpffs = true,
                        'n' => a.nomount = true,
                        'd' | 'm' => {}
                        'l' => a.legacy = true,
                        'h' => a.help = true,
                        'V' => a.version = true,
                        _ => return Err(format!("-{c}")),
                    }
                }
            } else {
                a.words.push(w.clone());
            }
        }
        Ok(a)
    }

    /// The options commands read.
    pub fn opts(&self) -> super::Opts {
        super::Opts {
            bpffs: self.bpffs,
            nomount: self.nomount,
            legacy: self.legacy,
        }
    }

    /// The current word.
    pub fn peek(&self) -> Option<&str> {
        self.words.get(self.at).map(String::as_str)
    }

    /// Takes the current word.
    pub fn next(&mut self) -> Option<String> {
        let w = self.words.get(self.at).cloned();
        if w.is_some() {
            self.at += 1;
        }
        w
    }

    /// The word before the current one (`argv[-1]`).
    pub fn prev(&self) -> &str {
        self.at
            .checked_sub(1)
            .and_then(|i| self.words.get(i))
            .map_or("", String::as_str)
    }

    /// How many words are left (`argc`).
    pub fn left(&self) -> usize {
        self.words.len() - self.at
    }

    /// Whether the current word is a prefix of `kw`.
    pub fn is(&self, kw: &str) -> bool {
        self.peek().is_some_and(|w| is_prefix(w, kw))
    }

    /// Every word, options removed.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

//! The scenario language: one operation per line.
//!
//! ```text
//! # comment
//! sh = spawn root                 # a process; `spawn user` for an unprivileged one
//! child = fork sh
//! sh: mount $BPFFS                # $BPFFS: the scenario's private bpffs mountpoint,
//!                                 # $SCRATCH: the (non-bpffs) directory it lives in
//! sh: m = map_create array key=4 value=8 max=10 name=my_map flags=0 inner=other_fd
//! sh: p = prog_load socket_filter name=f insns="ld_map r1 m; mov r0 0; exit"
//!                                 # also: ld_map_value rN M OFF, call N, ja OFF,
//!                                 # raw CODE DST SRC OFF IMM
//!                                 # type=number, attach=N, license=TEXT
//! sh: pin p $BPFFS/p
//! sh: g = get $BPFFS/p flags=0
//! sh: update m key=01000000 value=2a00000000000000 flags=0    # hex bytes; value=fd:NAME for fd maps
//! sh: lookup m key=01000000       # value length from the map's definition
//! sh: delete m key=01000000
//! sh: next_key m key=01000000     # or key=null
//! sh: lookup_and_delete m key=01000000
//! sh: freeze m
//! sh: bind p m
//! sh: info m
//! sh: n = fd_by_id map @m flags=0 # @NAME: the id of the object NAME was created for
//! sh: next_id map after=@m        # or after=0
//! sh: d = dup m
//! sh: n = send m child            # SCM_RIGHTS to process `child`; `n` is bound there
//! sh: keys m                      # every key (a get_next_key walk), as a sorted set
//! sh: close m
//! sh: mkdir $BPFFS/dir | rmdir P | unlink P | link A B | rename A B | umount $BPFFS
//! sh: raw 12 attr=ffffff7f size=8  # any command, raw attr bytes (no pointers), size
//! sh: exit
//! sync                            # the kernel's deferred frees (grace period, work items)
//! # An fd name that is not bound (a failed create, a closed fd) is fd 999, never open; an
//! # `@NAME` never bound is id INT_MAX - 1, which no object has.
//! live                            # which of the objects the scenario created still exist
//! ```

use std::collections::BTreeMap;

use sim::uapi::{map_type, prog_type};

/// A scenario line that could not be read, with its line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// An instruction of the scenario's small assembler; map operands are fd names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsmInsn {
    /// `ld_map rN NAME`: ld_imm64 of a map fd.
    LdMap(u8, String),
    /// `ld_map_value rN NAME OFF`: ld_imm64 of a map value address.
    LdMapValue(u8, String, i32),
    /// `mov rN IMM`.
    Mov(u8, i32),
    /// `call IMM` (a helper).
    Call(i32),
    /// `ja OFF`.
    Ja(i16),
    /// `exit`.
    Exit,
    /// `raw CODE DST SRC OFF IMM`: any instruction, as numbers.
    Raw(u8, u8, u8, i16, i32),
}

/// One scenario operation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    missing_docs,
    reason = "fields are the parts of the line shown in each variant's doc"
)]
pub enum Step {
    /// `NAME = spawn root|user`.
    Spawn { name: String, root: bool },
    /// `NAME = fork PARENT`.
    Fork { name: String, parent: String },
    /// `PROC: [NAME =] OP ARGS`.
    Op {
        proc: String,
        bind: Option<String>,
        op: String,
        args: Vec<String>,
        kv: BTreeMap<String, String>,
    },
    /// `sync`.
    Sync,
    /// `live`.
    Live,
}

/// A parsed scenario line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// The line as written (comments removed, trimmed).
    pub text: String,
    /// What it does.
    pub step: Step,
}

/// Split a line into words; `"..."` groups a word with spaces.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    if any {
        out.push(cur);
    }
    Ok(out)
}

/// Parse a whole scenario.
pub fn parse(text: &str) -> Result<Vec<Line>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let err = |msg: String| ParseError { line: number, msg };
        let code = match raw.find('#') {
            Some(h) if !raw[..h].contains('"') || raw[..h].matches('"').count() % 2 == 0 => {
                &raw[..h]
            }
            _ => raw,
        };
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        let step = parse_line(code).map_err(err)?;
        out.push(Line {
            number,
            text: code.to_string(),
            step,
        });
    }
    Ok(out)
}

fn parse_line(code: &str) -> Result<Step, String> {
    if code == "sync" {
        return Ok(Step::Sync);
    }
    if code == "live" {
        return Ok(Step::Live);
    }
    if let Some((proc, rest)) = code.split_once(':') {
        let proc = proc.trim().to_string();
        if !is_name(&proc) {
            return Err(format!("bad process name {proc:?}"));
        }
        let (bind, rest) = match rest.split_once('=') {
            Some((b, r)) if is_name(b.trim()) => (Some(b.trim().to_string()), r),
            _ => (None, rest),
        };
        let mut w = words(rest)?;
        if w.is_empty() {
            return Err("missing operation".into());
        }
        let op = w.remove(0);
        let mut args = Vec::new();
        let mut kv = BTreeMap::new();
        for word in w {
            match word.split_once('=') {
                Some((k, v)) if is_name(k) => {
                    kv.insert(k.to_string(), v.to_string());
                }
                _ => args.push(word),
            }
        }
        return Ok(Step::Op {
            proc,
            bind,
            op,
            args,
            kv,
        });
    }
    let w = words(code)?;
    match w.as_slice() {
        [name, eq, spawn, who] if eq == "=" && spawn == "spawn" && is_name(name) => {
            match who.as_str() {
                "root" => Ok(Step::Spawn {
                    name: name.clone(),
                    root: true,
                }),
                "user" => Ok(Step::Spawn {
                    name: name.clone(),
                    root: false,
                }),
                other => Err(format!("spawn takes root or user, not {other:?}")),
            }
        }
        [name, eq, fork, parent] if eq == "=" && fork == "fork" && is_name(name) => {
            Ok(Step::Fork {
                name: name.clone(),
                parent: parent.clone(),
            })
        }
        _ => Err(format!("not a scenario line: {code:?}")),
    }
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A map type by its bpftool name (`array`) or number.
pub fn map_type_of(s: &str) -> Option<u32> {
    (0..map_type::MAX)
        .find(|&t| map_type::name(t) == Some(s))
        .or_else(|| s.parse().ok())
}

/// A program type by its bpftool name (`socket_filter`) or number.
pub fn prog_type_of(s: &str) -> Option<u32> {
    (0..prog_type::MAX)
        .find(|&t| prog_type::name(t) == Some(s))
        .or_else(|| s.parse().ok())
}

/// Hex bytes (`01000000`), or `null`.
pub fn hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err(format!("odd number of hex digits in {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex {s:?}")))
        .collect()
}

/// The scenario assembler: `ld_map r1 m; mov r0 0; exit`.
pub fn asm(s: &str) -> Result<Vec<AsmInsn>, String> {
    let reg = |r: &str| -> Result<u8, String> {
        r.strip_prefix('r')
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|&n| n <= 10)
            .ok_or(format!("bad register {r:?}"))
    };
    let num = |n: &str| -> Result<i64, String> {
        let (neg, digits) = match n.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, n),
        };
        let v = match digits.strip_prefix("0x") {
            Some(h) => i64::from_str_radix(h, 16),
            None => digits.parse::<i64>(),
        };
        v.map(|v| if neg { -v } else { v })
            .map_err(|_| format!("bad number {n:?}"))
    };
    s.split(';')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(|i| {
            let w: Vec<&str> = i.split_whitespace().collect();
            Ok(match w.as_slice() {
                ["ld_map", r, m] => AsmInsn::LdMap(reg(r)?, m.to_string()),
                ["ld_map_value", r, m, off] => {
                    AsmInsn::LdMapValue(reg(r)?, m.to_string(), num(off)? as i32)
                }
                ["mov", r, imm] => AsmInsn::Mov(reg(r)?, num(imm)? as i32),
                ["call", imm] => AsmInsn::Call(num(imm)? as i32),
                ["ja", off] => AsmInsn::Ja(num(off)? as i16),
                ["exit"] => AsmInsn::Exit,
                ["raw", c, d, s, o, i] => {
                    let small =
                        |v: i64, what: &str| u8::try_from(v).map_err(|_| format!("bad {what} {v}"));
                    AsmInsn::Raw(
                        small(num(c)?, "code")?,
                        small(num(d)?, "dst")?,
                        small(num(s)?, "src")?,
                        num(o)? as i16,
                        num(i)? as i32,
                    )
                }
                _ => return Err(format!("unknown instruction {i:?}")),
            })
        })
        .collect()
}

//! An assembler of the bpf_conformance dialect: `%rN` registers, `[%rN+off]` operands,
//! labels and `+N`/`-N` targets (`exit` names the first `exit`), `lddw`, ALU mnemonics with a
//! `32` suffix for ALU32, `sdiv`/`smod`, `movsx<from><to>`, `le`/`be`/`bswap`/`swap` widths,
//! `ldx`/`ldxs`/`st`/`stx` sizes, `lock [fetch] op[32]`, `call N`, `call local L`, `call %rN`
//! (callx), `ja32`/`gotol`, `ldabs`/`ldind`.

use std::collections::BTreeMap;

use sim::Insn;
use sim::prog::insn::*;

pub fn strip_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or("").trim()
}

/// Decimal or `0x` hex, optionally negative; negative values wrap as the suite's `stoull`.
pub fn parse_int(s: &str) -> Result<u64, String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => body.parse::<u64>(),
    }
    .map_err(|e| format!("bad number {s:?}: {e}"))?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// A jump or call whose target is a label, fixed up after the first pass.
struct Fixup {
    at: usize,
    label: String,
    call: bool,
}

fn reg(s: &str) -> Result<u8, String> {
    match s.strip_prefix("%r").map(str::parse::<u8>) {
        Some(Ok(r)) if r <= 10 => Ok(r),
        _ => Err(format!("bad register {s:?}")),
    }
}

fn imm32(s: &str) -> Result<i32, String> {
    Ok(parse_int(s)? as u32 as i32)
}

/// `[%rN]`, `[%rN+off]`, `[%rN-off]`.
fn mem_operand(s: &str) -> Result<(u8, i16), String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .ok_or_else(|| format!("bad memory operand {s:?}"))?;
    match inner.find(['+', '-']) {
        Some(i) => Ok((reg(&inner[..i])?, parse_int(&inner[i..])? as u16 as i16)),
        None => Ok((reg(inner)?, 0)),
    }
}

fn size_of(suffix: &str) -> Result<u8, String> {
    Ok(match suffix {
        "b" => BPF_B,
        "h" => BPF_H,
        "w" => BPF_W,
        "dw" => BPF_DW,
        _ => return Err(format!("bad size {suffix:?}")),
    })
}

fn alu_op(name: &str) -> Option<(u8, i16)> {
    Some(match name {
        "add" => (BPF_ADD, 0),
        "sub" => (BPF_SUB, 0),
        "mul" => (BPF_MUL, 0),
        "div" => (BPF_DIV, 0),
        "sdiv" => (BPF_DIV, 1),
        "or" => (BPF_OR, 0),
        "and" => (BPF_AND, 0),
        "lsh" => (BPF_LSH, 0),
        "rsh" => (BPF_RSH, 0),
        "neg" => (BPF_NEG, 0),
        "mod" => (BPF_MOD, 0),
        "smod" => (BPF_MOD, 1),
        "xor" => (BPF_XOR, 0),
        "mov" => (BPF_MOV, 0),
        "arsh" => (BPF_ARSH, 0),
        _ => return None,
    })
}

fn jmp_op(name: &str) -> Option<u8> {
    Some(match name {
        "jeq" => BPF_JEQ,
        "jgt" => BPF_JGT,
        "jge" => BPF_JGE,
        "jset" => BPF_JSET,
        "jne" => BPF_JNE,
        "jsgt" => BPF_JSGT,
        "jsge" => BPF_JSGE,
        "jlt" => BPF_JLT,
        "jle" => BPF_JLE,
        "jslt" => BPF_JSLT,
        "jsle" => BPF_JSLE,
        _ => return None,
    })
}

/// Atomic `imm` for `lock [fetch] OP`.
fn atomic_imm(op: &str, fetch: bool) -> Result<i32, String> {
    let base = match op {
        "add" => 0x00,
        "or" => 0x40,
        "and" => 0x50,
        "xor" => 0xa0,
        "xchg" => return Ok(0xe1),
        "cmpxchg" => return Ok(0xf1),
        _ => return Err(format!("bad atomic {op:?}")),
    };
    Ok(base | fetch as i32)
}

/// Splits `name32` into `(name, true)`.
fn width(m: &str) -> (&str, bool) {
    match m.strip_suffix("32") {
        Some(base) => (base, true),
        None => (m, false),
    }
}

struct Asm {
    out: Vec<Insn>,
    labels: BTreeMap<String, usize>,
    fixups: Vec<Fixup>,
}

impl Asm {
    /// A jump target: `+N`/`-N`, or a label fixed up later.
    fn target(&mut self, s: &str, call: bool) -> Result<i64, String> {
        if s.starts_with(['+', '-']) {
            return Ok(parse_int(s)? as i64);
        }
        self.fixups.push(Fixup {
            at: self.out.len(),
            label: s.to_string(),
            call,
        });
        Ok(0)
    }

    fn line(&mut self, m: &str, ops: &[&str]) -> Result<(), String> {
        let n = ops.len();
        let want = |k: usize| {
            if n == k {
                Ok(())
            } else {
                Err(format!("{m}: {n} operands, want {k}"))
            }
        };
        let (base, is32) = width(m);
        let insn = if m == "exit" {
            want(0)?;
            Insn::exit()
        } else if m == "lddw" {
            want(2)?;
            let v = parse_int(ops[1])?;
            self.out.extend(Insn::ld_imm64(reg(ops[0])?, v));
            return Ok(());
        } else if m == "ja" || m == "ja32" || m == "gotol" {
            want(1)?;
            let t = self.target(ops[0], false)?;
            if m == "ja" {
                Insn::ja(t as i16)
            } else {
                Insn::ja32(t as i32)
            }
        } else if m == "call" {
            match ops {
                ["local", label] => {
                    let t = self.target(label, true)?;
                    Insn::call_pseudo(t as i32)
                }
                [r] if r.starts_with('%') => {
                    Insn::raw(BPF_JMP | BPF_CALL | BPF_X, reg(r)?, 0, 0, 0)
                }
                [id] => Insn::call_helper(imm32(id)?),
                _ => return Err(format!("bad call {ops:?}")),
            }
        } else if m == "lock" {
            let (fetch, rest) = match ops.first() {
                Some(&"fetch") => (true, &ops[1..]),
                _ => (false, ops),
            };
            let [op, dst, src] = rest else {
                return Err(format!("bad lock {ops:?}"));
            };
            let (op, w32) = width(op);
            let (d, off) = mem_operand(dst)?;
            let size = if w32 { BPF_W } else { BPF_DW };
            let imm = atomic_imm(op, fetch)?;
            Insn::raw(BPF_STX | BPF_ATOMIC | size, d, reg(src)?, off, imm)
        } else if let Some(rest) = m.strip_prefix("movsx") {
            want(2)?;
            let (from, to) = rest.split_at(rest.len().saturating_sub(2));
            let class = if to == "32" { BPF_ALU } else { BPF_ALU64 };
            let off = parse_int(from)? as i16;
            Insn::raw(class | BPF_MOV | BPF_X, reg(ops[0])?, reg(ops[1])?, off, 0)
        } else if let Some(w) = ["le", "be", "bswap", "swap"]
            .iter()
            .find_map(|p| m.strip_prefix(p).map(|w| (*p, w)))
            .filter(|(_, w)| matches!(*w, "16" | "32" | "64"))
        {
            want(1)?;
            let code = match w.0 {
                "le" => BPF_ALU | BPF_END | BPF_TO_LE,
                "be" => BPF_ALU | BPF_END | BPF_TO_BE,
                _ => BPF_ALU64 | BPF_END | BPF_TO_LE,
            };
            Insn::raw(code, reg(ops[0])?, 0, 0, imm32(w.1)?)
        } else if let Some(sz) = m.strip_prefix("ldabs") {
            want(1)?;
            Insn::raw(BPF_LD | BPF_ABS | size_of(sz)?, 0, 0, 0, imm32(ops[0])?)
        } else if let Some(sz) = m.strip_prefix("ldind") {
            want(2)?;
            Insn::raw(
                BPF_LD | BPF_IND | size_of(sz)?,
                0,
                reg(ops[0])?,
                0,
                imm32(ops[1])?,
            )
        } else if let Some(sz) = m.strip_prefix("ldxs") {
            want(2)?;
            let (s, off) = mem_operand(ops[1])?;
            Insn::raw(BPF_LDX | BPF_MEMSX | size_of(sz)?, reg(ops[0])?, s, off, 0)
        } else if let Some(sz) = m.strip_prefix("ldx") {
            want(2)?;
            let (s, off) = mem_operand(ops[1])?;
            Insn::raw(BPF_LDX | BPF_MEM | size_of(sz)?, reg(ops[0])?, s, off, 0)
        } else if let Some(sz) = m.strip_prefix("stx") {
            want(2)?;
            let (d, off) = mem_operand(ops[0])?;
            Insn::raw(BPF_STX | BPF_MEM | size_of(sz)?, d, reg(ops[1])?, off, 0)
        } else if let Some(sz) = m.strip_prefix("st").filter(|s| size_of(s).is_ok()) {
            want(2)?;
            let (d, off) = mem_operand(ops[0])?;
            Insn::raw(BPF_ST | BPF_MEM | size_of(sz)?, d, 0, off, imm32(ops[1])?)
        } else if let Some(op) = jmp_op(base) {
            want(3)?;
            let class = if is32 { BPF_JMP32 } else { BPF_JMP };
            let t = self.target(ops[2], false)? as i16;
            let d = reg(ops[0])?;
            match ops[1].starts_with('%') {
                true => Insn::raw(class | op | BPF_X, d, reg(ops[1])?, t, 0),
                false => Insn::raw(class | op | BPF_K, d, 0, t, imm32(ops[1])?),
            }
        } else if let Some((op, off)) = alu_op(base) {
            let class = if is32 { BPF_ALU } else { BPF_ALU64 };
            let d = reg(ops.first().ok_or(format!("{m}: no operand"))?)?;
            if op == BPF_NEG {
                want(1)?;
                Insn::raw(class | op | BPF_K, d, 0, off, 0)
            } else {
                want(2)?;
                match ops[1].starts_with('%') {
                    true => Insn::raw(class | op | BPF_X, d, reg(ops[1])?, off, 0),
                    false => Insn::raw(class | op | BPF_K, d, 0, off, imm32(ops[1])?),
                }
            }
        } else {
            return Err(format!("unknown mnemonic {m:?}"));
        };
        self.out.push(insn);
        Ok(())
    }
}

/// Assembles the suite's dialect. As the suite's assembler does, the label `exit` names the
/// first `exit` instruction unless the program defines it.
pub fn assemble(src: &str) -> Result<Vec<Insn>, String> {
    let mut a = Asm {
        out: Vec::new(),
        labels: BTreeMap::new(),
        fixups: Vec::new(),
    };
    let mut first_exit = None;
    for (n, raw) in src.lines().enumerate() {
        let line = strip_comment(raw);
        if line.is_empty() {
            continue;
        }
        if let Some(label) = line.strip_suffix(':').filter(|l| !l.contains(' ')) {
            if a.labels.insert(label.to_string(), a.out.len()).is_some() {
                return Err(format!("line {}: duplicate label {label}", n + 1));
            }
            continue;
        }
        let spaced = line.replace(',', " ");
        let mut toks = spaced.split_whitespace();
        let m = toks.next().expect("non-empty line");
        let ops: Vec<&str> = toks.collect();
        if m == "exit" && first_exit.is_none() {
            first_exit = Some(a.out.len());
        }
        a.line(m, &ops)
            .map_err(|e| format!("line {}: {e}", n + 1))?;
    }
    if let Some(at) = first_exit {
        a.labels.entry("exit".to_string()).or_insert(at);
    }
    for f in &a.fixups {
        let target = *a
            .labels
            .get(&f.label)
            .ok_or_else(|| format!("unknown label {}", f.label))?;
        let rel = target as i64 - f.at as i64 - 1;
        let insn = &mut a.out[f.at];
        if f.call || (insn.code == BPF_JMP32 | BPF_JA) {
            insn.imm = rel as i32;
        } else {
            insn.off = rel as i16;
        }
    }
    Ok(a.out)
}

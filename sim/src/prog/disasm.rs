//! Disassembly in the syntax of `bpftool prog dump xlated`: the kernel's own printer
//! (`kernel/bpf/disasm.c print_bpf_insn`) driven by bpftool's callbacks
//! (`tools/bpf/bpftool/xlated_dumper.c`: `print_call`, `print_imm`, `dump_xlated_plain`).
//!
//! One line per instruction, `"%4u: "` then the instruction text, e.g.
//! `   4: (18) r1 = map[id:26]` or `   6: (85) call bpf_map_lookup_elem#1`. The second half
//! of an `ld_imm64` gets no line of its own. With BTF, bpftool first prints the function
//! signature (`int f(struct xdp_md * ctx):`) where a `func_info` record starts and the
//! source line (`; return 1;`) where a `line_info` record starts; the caller passes those
//! in [`DisasmOpts`]. With `opcodes`, each instruction is followed by its raw bytes.
//!
//! Conventions of the printer, which this module reproduces byte for byte: the opcode byte
//! as `(%02x)`; ALU immediates and store immediates in signed decimal; jump immediates as
//! `0x%x` of the unsigned 32-bit value; memory and jump offsets with an explicit sign
//! (`+0`, `-8`); 32-bit operands as `w` registers; a plain 64-bit constant as `0x%llx`.
//! Undecodable instructions print as the kernel does (`BUG_ld_00`, `BUG_ldx_21`,
//! `BUG_st_22`, `BUG_c3`, with no `(xx)` column), and a missing string-table entry as glibc
//! prints a NULL `%s`: `(null)`. Nothing here panics, whatever the input.
//!
//! Two printers are modeled ([`Dialect`]): the one in the Linux 6.18 tree (and bpftool
//! 7.6, built from it), which knows the v4 instructions (`movsx`, `sdiv`, `bswap`,
//! sign-extending loads, `gotol`, `may_goto`, load-acquire/store-release, `addr_space_cast`),
//! and the one in Debian 12's bpftool 7.1.0, built from the Linux 6.1 tree, which printed the
//! dumps in `kernel-observations.md` and shows those instructions as `BUG_...` or as their
//! pre-v4 reading.
//!
//! What a real dump shows for calls depends on the kernel's rewrites, not on this printer:
//! on a JIT kernel a helper call's `imm` is the helper's address relative to
//! `__bpf_call_base` (bpftool names it from `/proc/kallsyms`: `call
//! __htab_map_lookup_elem#330864`), except for ids the verifier leaves alone
//! (`call bpf_tail_call#12`), and a bpf-to-bpf call carries the pc-relative offset in `off`
//! and the subprogram index in `imm` (`call pc+11#bpf_prog_<tag>_<name>`; see
//! [`jited_call_layout`]). Calls whose `imm` is still a helper id print with the helper's
//! name from [`HELPER_NAMES`].

use std::fmt::Write as _;

use super::insn::*;
use crate::uapi::pseudo;

/// `BPF_FETCH`: atomic modifier, "also return the old value".
const BPF_FETCH: i32 = 0x01;
/// `BPF_XCHG`: atomic exchange.
const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
/// `BPF_CMPXCHG`: atomic compare-and-write.
const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;
/// `BPF_LOAD_ACQ`: load-acquire (6.15).
const BPF_LOAD_ACQ: i32 = 0x100;
/// `BPF_STORE_REL`: store-release (6.15).
const BPF_STORE_REL: i32 = 0x110;
/// `BPF_MAY_GOTO`: the `src_reg` of `JMP|JCOND` that makes it `may_goto`.
const BPF_MAY_GOTO: u8 = 0;
/// `BPF_ADDR_SPACE_CAST`: the `off` of `ALU64|MOV|X` that makes it an address-space cast.
const BPF_ADDR_SPACE_CAST: i16 = 1;
/// `BPF_ADDR_PERCPU`: the `off` of the internal per-CPU address `mov`.
const BPF_ADDR_PERCPU: i16 = -1;
/// `BPF_NOSPEC`: the internal speculation barrier, `ST` class with mode `0xc0`.
const BPF_NOSPEC: u8 = 0xc0;

/// What glibc's `printf("%s", NULL)` prints; the printer's string tables have holes.
const NULL_STR: &str = "(null)";

/// `bpf_alu_string[]`, indexed by `BPF_OP(code) >> 4`.
const ALU_STR: [Option<&str>; 16] = [
    Some("+="),
    Some("-="),
    Some("*="),
    Some("/="),
    Some("|="),
    Some("&="),
    Some("<<="),
    Some(">>="),
    Some("neg"),
    Some("%="),
    Some("^="),
    Some("="),
    Some("s>>="),
    Some("endian"),
    None,
    None,
];

/// `bpf_jmp_string[]`, indexed by `BPF_OP(code) >> 4`.
const JMP_STR: [Option<&str>; 16] = [
    Some("jmp"),
    Some("=="),
    Some(">"),
    Some(">="),
    Some("&"),
    Some("!="),
    Some("s>"),
    Some("s>="),
    Some("call"),
    Some("exit"),
    Some("<"),
    Some("<="),
    Some("s<"),
    Some("s<="),
    None,
    None,
];

/// `bpf_atomic_alu_string[]`, indexed by `BPF_OP(imm) >> 4` (only add/and/or/xor reach it).
const ATOMIC_ALU_STR: [Option<&str>; 16] = [
    Some("add"),
    None,
    None,
    None,
    Some("or"),
    Some("and"),
    None,
    None,
    None,
    None,
    Some("xor"),
    None,
    None,
    None,
    None,
    None,
];

/// `bpf_ldst_string[]`, indexed by `BPF_SIZE(code) >> 3`.
const LDST_STR: [&str; 4] = ["u32", "u16", "u8", "u64"];

/// `bpf_ldsx_string[]`, indexed by `BPF_SIZE(code) >> 3`. The C array has three entries;
/// `LDX|MEMSX|DW` (0x99, an opcode the kernel rejects) indexes past it, undefined
/// behaviour in C, printed here as a NULL.
const LDSX_STR: [Option<&str>; 4] = [Some("s32"), Some("s16"), Some("s8"), None];

/// `bpf_movsx_string[]`, indexed by `(off >> 3) - 1` for `off` 8, 16, 32.
const MOVSX_STR: [Option<&str>; 4] = [Some("(s8)"), Some("(s16)"), None, Some("(s32)")];

fn s(o: Option<&'static str>) -> &'static str {
    o.unwrap_or(NULL_STR)
}

/// Which printer to reproduce.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Dialect {
    /// `kernel/bpf/disasm.c` of Linux 6.18 with the `xlated_dumper.c` of the same tree
    /// (bpftool 7.6): every instruction 6.18 accepts, including the v4 ones. `gotox`
    /// (`JMP|JA|X`, 6.19) is not known yet and prints as a conditional jump.
    #[default]
    Linux6_18,
    /// bpftool 7.1.0 as Debian 12 ships it (`7.1.0+6.1.192`), built from the Linux 6.1 tree:
    /// the tool that printed the dumps in `kernel-observations.md`. No `movsx`, `sdiv`/`smod`,
    /// `bswap` (`BUG_alu64_d7`), sign-extending loads (`BUG_ldx_91`), `gotol`, `may_goto`,
    /// load-acquire/store-release (`BUG_d3`), `addr_space_cast`; helper names only up to id
    /// 209 (`user_ringbuf_drain`); map ids and offsets as `%u`; the index as `% 4d`.
    Bpftool7_1,
}

impl Dialect {
    /// `__BPF_FUNC_MAX_ID` of the uapi header the printer was built with.
    fn helper_count(self) -> usize {
        match self {
            Dialect::Linux6_18 => 212,
            Dialect::Bpftool7_1 => 210,
        }
    }

    fn v4(self) -> bool {
        self == Dialect::Linux6_18
    }
}

/// One `bpf_func_info` record as bpftool shows it: where a function starts and its
/// signature as `btf_dumper_type_only` renders it (`int xdp_count(struct xdp_md * ctx)`).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct FuncInfo {
    /// `insn_off`, in xlated instructions.
    pub insn_off: usize,
    /// The rendered prototype; an empty one prints nothing (as in bpftool).
    pub signature: String,
}

/// One `bpf_line_info` record with its strings resolved from BTF.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct LineInfo {
    /// `insn_off`, in xlated instructions (the records must be in increasing order, as the
    /// kernel requires).
    pub insn_off: usize,
    /// The source line (`line_off`); leading white space is dropped when printed.
    pub line: String,
    /// The file name (`file_name_off`), printed with `linum`.
    pub file: String,
    /// `BPF_LINE_INFO_LINE_NUM(line_col)`, printed with `linum`.
    pub line_num: u32,
    /// `BPF_LINE_INFO_LINE_COL(line_col)`, printed with `linum`.
    pub line_col: u32,
}

/// Options of [`disasm`]: bpftool's `opcodes` and `linum` keywords, plus what bpftool reads
/// from the kernel besides the instructions (BTF records, kernel symbols).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DisasmOpts {
    /// `bpftool prog dump xlated ... opcodes`: after each instruction line, a line of its raw
    /// bytes (`       b7 06 00 00 01 00 00 00`; both halves of an `ld_imm64`).
    pub opcodes: bool,
    /// `bpftool prog dump xlated ... linum`: source lines carry
    /// ` [file:F line_num:N line_col:C]`.
    pub linum: bool,
    /// Which printer to reproduce.
    pub dialect: Dialect,
    /// `func_info` records (`bpf_prog_info.func_info`), in order; empty without BTF.
    pub func_info: Vec<FuncInfo>,
    /// `line_info` records (`bpf_prog_info.line_info`), in order; empty without BTF.
    pub line_info: Vec<LineInfo>,
    /// `/proc/kallsyms` as bpftool sees it, keyed by a call's `imm`: the name of the kernel
    /// function at `__bpf_call_base + imm` (for a helper call whose `imm` is not a helper
    /// id, a kfunc call, or a bpf-to-bpf call whose `imm` is past `jited_ksyms`).
    pub call_syms: std::collections::BTreeMap<i32, String>,
    /// The address of `__bpf_call_base`, used to print an unresolved call target as
    /// `0x%lx`; 0 (the default) is what bpftool uses when it cannot read kallsyms.
    pub call_base: u64,
    /// The JITed subprograms' symbols (`bpf_prog_info.jited_ksyms` resolved through
    /// kallsyms: `bpf_prog_<tag>_<name>`), by subprogram index. Non-empty means the program
    /// is JITed: a bpf-to-bpf call prints `pc<off>#<jited_ksyms[imm]>`; empty prints just
    /// `pc<off>`.
    pub jited_ksyms: Vec<String>,
}

/// Disassembles `insns` (the `xlated_prog_insns` of a program) exactly as
/// `bpftool prog dump xlated` prints them, one `\n`-terminated line per instruction (plus
/// the BTF and `opcodes` lines `opts` asks for).
pub fn disasm(insns: &[Insn], opts: &DisasmOpts) -> String {
    let mut out = String::new();
    let mut func_rec = 0usize;
    let mut nr_skip = 0usize;
    let mut double_insn = false;
    for (i, insn) in insns.iter().enumerate() {
        if double_insn {
            double_insn = false;
            continue;
        }
        // `dump_xlated_plain`: one func_info record may start here.
        if let Some(rec) = opts.func_info.get(func_rec).filter(|r| r.insn_off == i) {
            if !rec.signature.is_empty() {
                let _ = writeln!(out, "{}:", rec.signature);
            }
            func_rec += 1;
        }
        if let Some(l) = lfind(&opts.line_info, i, nr_skip) {
            let line = l
                .line
                .trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
            if opts.linum {
                let _ = writeln!(
                    out,
                    "; {line} [file:{} line_num:{} line_col:{}]",
                    l.file, l.line_num, l.line_col
                );
            } else {
                let _ = writeln!(out, "; {line}");
            }
            nr_skip += 1;
        }
        double_insn = insn.code == LD_IMM64;
        match opts.dialect {
            Dialect::Linux6_18 => {
                let _ = write!(out, "{i:>4}: ");
            }
            // `% 4d`: the space flag reserves a sign column even past 4 digits.
            Dialect::Bpftool7_1 => {
                let _ = write!(out, "{:>4}: ", format!(" {i}"));
            }
        }
        out.push_str(&insn_text(insn, insns.get(i + 1), opts));
        out.push('\n');
        if opts.opcodes {
            out.push_str("       ");
            hex_bytes(&mut out, insn);
            if let Some(next) = insns.get(i + 1).filter(|_| double_insn) {
                out.push(' ');
                hex_bytes(&mut out, next);
            }
            out.push('\n');
        }
    }
    out
}

/// libbpf's `bpf_prog_linfo__lfind(prog_linfo, insn_off, nr_skip)`: the last record, from
/// `nr_skip` on, that starts at or before `insn_off`, if the `nr_skip`-th one does.
pub fn lfind(recs: &[LineInfo], insn_off: usize, nr_skip: usize) -> Option<&LineInfo> {
    let rest = recs.get(nr_skip..)?;
    if rest.first()?.insn_off > insn_off {
        return None;
    }
    let n = rest.iter().take_while(|r| r.insn_off <= insn_off).count();
    rest.get(n - 1)
}

/// bpftool's `fprint_hex(stdout, insn, 8, " ")`.
fn hex_bytes(out: &mut String, insn: &Insn) {
    for (k, b) in insn.to_bytes().iter().enumerate() {
        if k > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
}

/// The text `print_bpf_insn` prints for one instruction, without the index and the
/// newline: `(b7) r0 = 1`. `next` is the following instruction, read only for the second
/// half of an `ld_imm64` (absent: its `imm` counts as 0).
pub fn insn_text(insn: &Insn, next: Option<&Insn>, opts: &DisasmOpts) -> String {
    let code = insn.code;
    let dst = insn.dst & 0x0f;
    let src = insn.src & 0x0f;
    let off = insn.off;
    let imm = insn.imm;
    let v4 = opts.dialect.v4();
    let cls = class(code);
    let opi = usize::from(op(code) >> 4);
    let sz = LDST_STR[usize::from(size(code) >> 3)];
    match cls {
        BPF_ALU | BPF_ALU64 => {
            let r = if cls == BPF_ALU { 'w' } else { 'r' };
            if op(code) == BPF_END {
                if cls == BPF_ALU {
                    let e = if src_kind(code) == BPF_TO_BE {
                        "be"
                    } else {
                        "le"
                    };
                    format!("({code:02x}) r{dst} = {e}{imm} r{dst}")
                } else if v4 {
                    format!("({code:02x}) r{dst} = bswap{imm} r{dst}")
                } else {
                    format!("BUG_alu64_{code:02x}")
                }
            } else if op(code) == BPF_NEG {
                format!("({code:02x}) {r}{dst} = -{r}{dst}")
            } else if v4 && code == BPF_ALU64 | BPF_MOV | BPF_X && off == BPF_ADDR_SPACE_CAST {
                format!(
                    "({code:02x}) r{dst} = addr_space_cast(r{src}, {}, {})",
                    (imm as u32) >> 16,
                    imm as u16
                )
            } else if v4 && code == BPF_ALU64 | BPF_MOV | BPF_X && off == BPF_ADDR_PERCPU {
                format!("({code:02x}) r{dst} = &(void __percpu *)(r{src})")
            } else {
                let signed = v4 && (op(code) == BPF_DIV || op(code) == BPF_MOD) && off == 1;
                let opstr = match (signed, op(code)) {
                    (true, BPF_DIV) => "s/=",
                    (true, _) => "s%=",
                    (false, _) => s(ALU_STR[opi]),
                };
                if src_kind(code) == BPF_X {
                    let movsx = v4 && op(code) == BPF_MOV && matches!(off, 8 | 16 | 32);
                    let sx = if movsx {
                        s(MOVSX_STR[(off >> 3) as usize - 1])
                    } else {
                        ""
                    };
                    format!("({code:02x}) {r}{dst} {opstr} {sx}{r}{src}")
                } else {
                    format!("({code:02x}) {r}{dst} {opstr} {imm}")
                }
            }
        }
        BPF_STX => {
            let m = mode(code);
            let w64 = if size(code) == BPF_DW { "64" } else { "" };
            if m == BPF_MEM {
                format!("({code:02x}) *({sz} *)(r{dst} {off:+}) = r{src}")
            } else if m != BPF_ATOMIC {
                format!("BUG_{code:02x}")
            } else {
                let aop = s(ATOMIC_ALU_STR[((imm & 0xf0) >> 4) as usize]);
                match imm {
                    0x00 | 0x40 | 0x50 | 0xa0 => {
                        let opstr = s(ALU_STR[((imm & 0xf0) >> 4) as usize]);
                        format!("({code:02x}) lock *({sz} *)(r{dst} {off:+}) {opstr} r{src}")
                    }
                    0x01 | 0x41 | 0x51 | 0xa1 => format!(
                        "({code:02x}) r{src} = atomic{w64}_fetch_{aop}(({sz} *)(r{dst} {off:+}), r{src})"
                    ),
                    BPF_CMPXCHG => format!(
                        "({code:02x}) r0 = atomic{w64}_cmpxchg(({sz} *)(r{dst} {off:+}), r0, r{src})"
                    ),
                    BPF_XCHG => format!(
                        "({code:02x}) r{src} = atomic{w64}_xchg(({sz} *)(r{dst} {off:+}), r{src})"
                    ),
                    BPF_LOAD_ACQ if v4 => {
                        format!("({code:02x}) r{dst} = load_acquire(({sz} *)(r{src} {off:+}))")
                    }
                    BPF_STORE_REL if v4 => {
                        format!("({code:02x}) store_release(({sz} *)(r{dst} {off:+}), r{src})")
                    }
                    _ => format!("BUG_{code:02x}"),
                }
            }
        }
        BPF_ST => match mode(code) {
            BPF_MEM => format!("({code:02x}) *({sz} *)(r{dst} {off:+}) = {imm}"),
            BPF_NOSPEC => format!("({code:02x}) nospec"),
            _ => format!("BUG_st_{code:02x}"),
        },
        BPF_LDX => match mode(code) {
            BPF_MEM => format!("({code:02x}) r{dst} = *({sz} *)(r{src} {off:+})"),
            BPF_MEMSX if v4 => {
                let sx = s(LDSX_STR[usize::from(size(code) >> 3)]);
                format!("({code:02x}) r{dst} = *({sx} *)(r{src} {off:+})")
            }
            _ => format!("BUG_ldx_{code:02x}"),
        },
        BPF_LD => match mode(code) {
            BPF_ABS => format!("({code:02x}) r0 = *({sz} *)skb[{imm}]"),
            BPF_IND => format!("({code:02x}) r0 = *({sz} *)skb[r{src} + {imm}]"),
            BPF_IMM if size(code) == BPF_DW => {
                let imm2 = next.map_or(0, |n| n.imm);
                format!("({code:02x}) r{dst} = {}", imm64_text(src, imm, imm2, opts))
            }
            _ => format!("BUG_ld_{code:02x}"),
        },
        // BPF_JMP | BPF_JMP32
        _ => {
            let r = if cls == BPF_JMP32 { 'w' } else { 'r' };
            if op(code) == BPF_CALL {
                let name = call_name(insn, opts);
                if src == pseudo::CALL {
                    format!("({code:02x}) call pc{name}")
                } else {
                    format!("({code:02x}) call {name}#{imm}")
                }
            } else if code == BPF_JMP | BPF_JA {
                format!("({code:02x}) goto pc{off:+}")
            } else if v4 && code == BPF_JMP | BPF_JCOND && src == BPF_MAY_GOTO {
                format!("({code:02x}) may_goto pc{off:+}")
            } else if v4 && code == BPF_JMP32 | BPF_JA {
                format!("({code:02x}) gotol pc{imm:+}")
            } else if code == BPF_JMP | BPF_EXIT {
                format!("({code:02x}) exit")
            } else {
                let cmp = s(JMP_STR[opi]);
                if src_kind(code) == BPF_X {
                    format!("({code:02x}) if {r}{dst} {cmp} {r}{src} goto pc{off:+}")
                } else {
                    format!(
                        "({code:02x}) if {r}{dst} {cmp} 0x{:x} goto pc{off:+}",
                        imm as u32
                    )
                }
            }
        }
    }
}

/// bpftool's `print_imm`: the operand of an `ld_imm64` after `bpf_insn_prepare_dump` has
/// put map ids where the program had fds.
fn imm64_text(src: u8, imm: i32, imm2: i32, opts: &DisasmOpts) -> String {
    let unsigned = opts.dialect == Dialect::Bpftool7_1;
    let num = |v: i32| {
        if unsigned {
            (v as u32).to_string()
        } else {
            v.to_string()
        }
    };
    match src {
        pseudo::MAP_FD => format!("map[id:{}]", num(imm)),
        pseudo::MAP_VALUE => format!("map[id:{}][0]+{}", num(imm), num(imm2)),
        pseudo::MAP_IDX_VALUE => format!("map[idx:{}]+{}", num(imm), num(imm2)),
        pseudo::FUNC => format!("subprog[{imm:+}]"),
        _ => format!(
            "0x{:x}",
            (u64::from(imm2 as u32) << 32) | u64::from(imm as u32)
        ),
    }
}

/// `__func_get_name` with bpftool's `print_call` as `cb_call`.
fn call_name(insn: &Insn, opts: &DisasmOpts) -> String {
    let src = insn.src & 0x0f;
    let imm = insn.imm;
    if let Some(name) = usize::try_from(imm)
        .ok()
        .filter(|&id| src == 0 && id < opts.dialect.helper_count())
        .and_then(|id| HELPER_NAMES.get(id))
    {
        return name.to_string();
    }
    let address = opts.call_base.wrapping_add(imm as i64 as u64);
    let sym = opts.call_syms.get(&imm);
    if src == pseudo::CALL {
        let off = insn.off;
        if opts.jited_ksyms.is_empty() {
            // "Do not show address for interpreted programs".
            return format!("{off:+}");
        }
        if let Some(name) = opts.jited_ksyms.get(imm as u32 as usize) {
            return format!("{off:+}#{name}");
        }
        return match sym {
            Some(name) => format!("{off:+}#{name}"),
            None => format!("{off:+}#0x{address:x}"),
        };
    }
    match sym {
        Some(name) => name.clone(),
        None => format!("0x{address:x}"),
    }
}

/// The layout a JIT kernel's xlated program has for bpf-to-bpf references, from the layout
/// user space submits (and the simulator keeps): `kernel/bpf/verifier.c jit_subprogs` moves
/// a pseudo call's pc-relative offset from `imm` to `off` and puts the callee's subprogram
/// index in `imm`; a `BPF_PSEUDO_FUNC` `ld_imm64` keeps its offset and gets the index in the
/// second half's `imm`. `subprogs` are the subprogram start indices (0 first, ascending).
/// References to something that is not a subprogram start are left as they are.
pub fn jited_call_layout(insns: &[Insn], subprogs: &[usize]) -> Vec<Insn> {
    let mut out = insns.to_vec();
    let index_of = |i: usize, rel: i32| {
        let target = i as i64 + i64::from(rel) + 1;
        usize::try_from(target)
            .ok()
            .and_then(|t| subprogs.binary_search(&t).ok())
    };
    let mut i = 0;
    while i < out.len() {
        let insn = out[i];
        if insn.code == BPF_JMP | BPF_CALL && insn.src == pseudo::CALL {
            if let Some(idx) = index_of(i, insn.imm) {
                out[i].off = insn.imm as i16;
                out[i].imm = idx as i32;
            }
        } else if insn.code == LD_IMM64 {
            let idx = index_of(i, insn.imm).filter(|_| insn.src == pseudo::FUNC);
            if let (Some(idx), true) = (idx, i + 1 < out.len()) {
                out[i + 1].imm = idx as i32;
                out[i].off = 0;
            }
            i += 1;
        }
        i += 1;
    }
    out
}

mod helpers;
pub use helpers::{HELPER_NAMES, helper_name};

#[cfg(test)]
#[path = "disasm_tests.rs"]
mod tests;

//! BTF rules of the model against the real kernel: the same `BPF_BTF_LOAD`, `MAP_CREATE` and
//! `PROG_LOAD` calls with BTF (good and bad) run on the simulator and on the kernel, and
//! everything observable must be the same: errnos, the ids a map or program reports, the
//! `func_info`/`line_info` records after the verifier's rewrites (a removed `ja 0`, removed
//! dead code) and when a BTF id goes away. Needs root; otherwise it says the kernel tier was
//! skipped.

use std::fmt::Write as _;

use harness::backend::linux::{kernel_tier, say_skipped};
use harness::backend::{Backend, BpfCall, BpfRet, ProcId, SimBackend};
use sim::maps::info::{map_info as mi, prog_info as pi};
use sim::uapi::{cmd, map_type, prog_type};
use sim::{Errno, Insn, MapCreateAttr, ProgLoadAttr};

/// Cases whose outcome the model cannot reproduce, with the reason (the test fails if one of
/// them starts agreeing, so the list stays true).
const KNOWN: &[(&str, &str)] = &[(
    "prog_load dead code removed",
    "the model does not track register values, so it cannot see that the branch is always \
     taken: it keeps the dead instruction and its line record (the kernel removes both)",
)];

/// A small valid BTF: 1 `int` (4 bytes), 2 `func_proto int(void)`, 3 `FUNC f` (global),
/// 4 `long` (8 bytes), 5 a 4-byte `int` of 16 bits. Strings: "", "int", "f", "long", "a.c",
/// "x = 1;".
fn blob() -> Vec<u8> {
    let strs = b"\0int\0f\0long\0a.c\0x = 1;\0".to_vec();
    let words: [u32; 18] = [
        1,
        1 << 24,
        4,
        (1 << 24) | 32,
        0,
        13 << 24,
        1,
        5,
        (12 << 24) | 1,
        2,
        7,
        1 << 24,
        8,
        64,
        1,
        1 << 24,
        4,
        16,
    ];
    let t: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    with_sections(&t, &strs)
}

fn with_sections(types: &[u8], strs: &[u8]) -> Vec<u8> {
    let mut out = vec![0x9f, 0xeb, 1, 0];
    for v in [
        24u32,
        0,
        types.len() as u32,
        types.len() as u32,
        strs.len() as u32,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(types);
    out.extend_from_slice(strs);
    out
}

fn set32(mut b: Vec<u8>, at: usize, v: u32) -> Vec<u8> {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

/// Bad and unusual BTF blobs.
fn blobs() -> Vec<(&'static str, Vec<u8>)> {
    let g = blob();
    let mut long_zero = set32(g.clone(), 4, 28);
    long_zero.splice(24..24, [0u8; 4]);
    let mut long_nonzero = set32(g.clone(), 4, 28);
    long_nonzero.splice(24..24, [0, 0, 0, 1]);
    vec![
        ("good", g.clone()),
        ("empty", vec![]),
        ("too short", g[..6].to_vec()),
        ("magic", {
            let mut b = g.clone();
            b[0] = 0;
            b
        }),
        ("byte-swapped magic", {
            let mut b = g.clone();
            b.swap(0, 1);
            b
        }),
        ("version", {
            let mut b = g.clone();
            b[2] = 2;
            b
        }),
        ("flags", {
            let mut b = g.clone();
            b[3] = 1;
            b
        }),
        ("hdr_len 8", set32(g.clone(), 4, 8)),
        ("hdr_len past the data", set32(g.clone(), 4, 4096)),
        ("longer header, zero tail", long_zero),
        ("longer header, non-zero tail", long_nonzero),
        ("no data", g[..24].to_vec()),
        ("str_len too long", set32(g.clone(), 20, 1000)),
        ("gap", set32(set32(g.clone(), 16, 4), 20, 1)),
        ("type_off misaligned", set32(g.clone(), 8, 1)),
        ("strings not NUL-terminated", {
            let mut b = g.clone();
            *b.last_mut().expect("strings") = b'x';
            b
        }),
        ("strings start without NUL", {
            let mut b = g.clone();
            let s = 24 + 72;
            b[s] = b'a';
            b
        }),
        ("no types", with_sections(&[], b"\0")),
        ("no strings", with_sections(&g[24..24 + 72], b"")),
        ("kind 0", set32(g.clone(), 28, 0)),
        (
            "unused info bits",
            set32(g.clone(), 28, (1 << 24) | (1 << 20)),
        ),
        ("name past the strings", set32(g.clone(), 24, 500)),
        ("type id out of range", set32(g.clone(), 24 + 24, 9)),
    ]
}

fn errno_or<T>(r: Result<T, Errno>, f: impl FnOnce(T) -> String) -> String {
    match r {
        Ok(v) => f(v),
        Err(e) => format!("{e:?}"),
    }
}

fn btf_load(b: &mut dyn Backend, p: ProcId, data: &[u8]) -> Result<i32, Errno> {
    match b.bpf(
        p,
        &BpfCall::BtfLoad {
            data: data.to_vec(),
        },
    )? {
        BpfRet::Fd(fd) => Ok(fd),
        other => panic!("BtfLoad answered {other:?}"),
    }
}

fn fd_of(r: Result<BpfRet, Errno>) -> Result<i32, Errno> {
    match r? {
        BpfRet::Fd(fd) => Ok(fd),
        other => panic!("expected an fd, got {other:?}"),
    }
}

fn info(b: &mut dyn Backend, p: ProcId, fd: i32) -> Vec<u8> {
    match b.bpf(p, &BpfCall::Info { fd }) {
        Ok(BpfRet::Info { info, .. }) => info,
        other => panic!("info: {other:?}"),
    }
}

/// Whether BTF id `id` exists (`BTF_GET_FD_BY_ID` gives an fd).
fn btf_id_exists(b: &mut dyn Backend, p: ProcId, id: u32) -> bool {
    let mut attr = vec![0u8; sim::kernel::btf::off::END_GET_FD_BY_ID];
    attr[..4].copy_from_slice(&id.to_le_bytes());
    let size = attr.len() as u32;
    match b.bpf(
        p,
        &BpfCall::Raw {
            cmd: cmd::BTF_GET_FD_BY_ID,
            attr,
            size,
        },
    ) {
        Ok(BpfRet::Raw { ret, .. }) => {
            b.close(p, ret as i32).expect("close");
            true
        }
        _ => false,
    }
}

fn btf_id_of(b: &mut dyn Backend, p: ProcId, fd: i32) -> u32 {
    u32_at(&info(b, p, fd), sim::kernel::btf::btf_info::ID)
}

fn finfo(recs: &[(u32, u32)]) -> Vec<u8> {
    recs.iter()
        .flat_map(|&(o, t)| [o, t].map(u32::to_le_bytes))
        .flatten()
        .collect()
}

/// Line records at `offs`, each naming "a.c" and "x = 1;" with line = its index + 1.
fn linfo(offs: &[u32]) -> Vec<u8> {
    offs.iter()
        .enumerate()
        .flat_map(|(i, &o)| [o, 12, 16, ((i as u32 + 1) << 10) | 2].map(u32::to_le_bytes))
        .flatten()
        .collect()
}

fn prog_attr(bfd: i32, insns: &[Insn], f: &[(u32, u32)], l: &[u32]) -> ProgLoadAttr {
    ProgLoadAttr {
        prog_btf_fd: bfd as u32,
        func_info: finfo(f),
        func_info_rec_size: 8,
        func_info_cnt: f.len() as u32,
        line_info: linfo(l),
        line_info_rec_size: 16,
        line_info_cnt: l.len() as u32,
        ..ProgLoadAttr::new(prog_type::SOCKET_FILTER, insns)
    }
}

/// `r0 = 0; call +1 (subprog at 3); exit; r0 = 0; exit`: two functions, at 0 and 3.
fn two_funcs() -> Vec<Insn> {
    vec![
        Insn::mov64_imm(0, 0),
        Insn {
            code: 0x85,
            src: 1,
            imm: 1,
            ..Default::default()
        },
        Insn::exit(),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ]
}

/// A loaded program's records as `insn_off:line` (line_info) and `insn_off:type` (func_info),
/// with its xlated length.
fn records(b: &mut dyn Backend, p: ProcId, fd: i32) -> String {
    let i = info(b, p, fd);
    let Ok(BpfRet::Records {
        func_info,
        line_info,
    }) = b.bpf(p, &BpfCall::Records { fd })
    else {
        panic!("records")
    };
    let f: Vec<String> = func_info
        .chunks(8)
        .map(|r| format!("{}:{}", u32_at(r, 0), u32_at(r, 4)))
        .collect();
    let l: Vec<String> = line_info
        .chunks(16)
        .map(|r| {
            format!(
                "{}:{}:{}:L{}",
                u32_at(r, 0),
                u32_at(r, 4),
                u32_at(r, 8),
                u32_at(r, 12) >> 10
            )
        })
        .collect();
    format!(
        "xlated {} insns, btf {}, func [{}] line [{}]",
        u32_at(&i, pi::XLATED_PROG_LEN) / 8,
        if u32_at(&i, pi::BTF_ID) != 0 {
            "yes"
        } else {
            "no"
        },
        f.join(" "),
        l.join(" ")
    )
}

/// Runs every case on `b` and describes what happened, one line per case.
fn run_all(b: &mut dyn Backend) -> String {
    let mut out = String::new();
    let p = b.spawn(true).expect("spawn");
    // BTF_LOAD's checks.
    for (what, data) in blobs() {
        let r = btf_load(b, p, &data);
        let _ = writeln!(out, "btf_load {what}: {}", errno_or(r, |_| "ok".into()));
        if let Ok(fd) = r {
            b.close(p, fd).expect("close");
        }
    }
    let user = b.spawn(false).expect("spawn user");
    let r = btf_load(b, user, &blob());
    let _ = writeln!(
        out,
        "btf_load unprivileged: {}",
        errno_or(r, |_| "ok".into())
    );
    b.exit(user).expect("exit");
    // Not pinnable.
    let bfd = btf_load(b, p, &blob()).expect("btf");
    let btf_id = btf_id_of(b, p, bfd);
    let _ = writeln!(out, "btf id: {}", btf_id != 0);

    // MAP_CREATE with BTF.
    let with = |t, key, value, ks, vs| MapCreateAttr {
        btf_fd: bfd as u32,
        btf_key_type_id: key,
        btf_value_type_id: value,
        ..MapCreateAttr::new(t, ks, vs, 4)
    };
    let not_btf = fd_of(b.bpf(
        p,
        &BpfCall::MapCreate(MapCreateAttr::new(map_type::ARRAY, 4, 4, 1)),
    ))
    .expect("array");
    let inner = |t| {
        let mut a = with(t, 1, 1, 4, 4);
        a.inner_map_fd = not_btf as u32;
        a
    };
    let mut not_btf_attr = with(map_type::HASH, 1, 4, 4, 8);
    not_btf_attr.btf_fd = not_btf as u32;
    let mut bad_fd_attr = with(map_type::HASH, 1, 4, 4, 8);
    bad_fd_attr.btf_fd = 999;
    let maps: Vec<(&str, MapCreateAttr)> = vec![
        ("hash int/long", with(map_type::HASH, 1, 4, 4, 8)),
        ("key size", with(map_type::HASH, 1, 4, 8, 8)),
        ("value size", with(map_type::HASH, 1, 4, 4, 4)),
        ("FUNC value", with(map_type::HASH, 1, 3, 4, 8)),
        ("key without value", with(map_type::HASH, 1, 0, 4, 8)),
        ("value without key", with(map_type::HASH, 0, 4, 4, 8)),
        ("array value without key", with(map_type::ARRAY, 0, 4, 4, 8)),
        ("btf_fd, zero ids", with(map_type::HASH, 0, 0, 4, 8)),
        ("type id past the end", with(map_type::HASH, 1, 9, 4, 8)),
        ("not a BTF fd", not_btf_attr),
        ("bad fd", bad_fd_attr),
        (
            "prog_array with BTF",
            with(map_type::PROG_ARRAY, 1, 1, 4, 4),
        ),
        ("array_of_maps with BTF", inner(map_type::ARRAY_OF_MAPS)),
        ("hash_of_maps with BTF", inner(map_type::HASH_OF_MAPS)),
        ("array with long key", with(map_type::ARRAY, 4, 4, 8, 8)),
        (
            "array with a 16-bit int key",
            with(map_type::ARRAY, 5, 4, 4, 8),
        ),
        (
            "hash with a 16-bit int key",
            with(map_type::HASH, 5, 4, 4, 8),
        ),
        (
            "prog_array with a 16-bit int key",
            with(map_type::PROG_ARRAY, 5, 1, 4, 4),
        ),
        (
            "prog_array value without key",
            with(map_type::PROG_ARRAY, 0, 1, 4, 4),
        ),
    ];
    for (what, a) in maps {
        let r = fd_of(b.bpf(p, &BpfCall::MapCreate(a)));
        let _ = writeln!(
            out,
            "map_create {what}: {}",
            errno_or(r, |fd| {
                let i = info(b, p, fd);
                let s = format!(
                    "ok, btf {} key {} value {}",
                    u32_at(&i, mi::BTF_ID) == btf_id,
                    u32_at(&i, mi::BTF_KEY_TYPE_ID),
                    u32_at(&i, mi::BTF_VALUE_TYPE_ID)
                );
                b.close(p, fd).expect("close");
                s
            })
        );
    }
    b.close(p, not_btf).expect("close");

    // PROG_LOAD with func_info / line_info.
    let base = |f: &[(u32, u32)], l: &[u32]| prog_attr(bfd, &two_funcs(), f, l);
    let mut big = base(&[(0, 3), (3, 3)], &[0, 3]);
    big.func_info = finfo(&[(0, 3), (1, 3), (3, 0)]);
    big.func_info_rec_size = 12;
    let big_tail = big.clone();
    let mut big_zero = big.clone();
    big_zero.func_info = [0u32, 3, 0, 3, 3, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let no_btf_fd = ProgLoadAttr {
        prog_btf_fd: 0,
        ..base(&[(0, 3), (3, 3)], &[0, 3])
    };
    let lines_only = ProgLoadAttr {
        func_info: vec![],
        func_info_cnt: 0,
        ..base(&[], &[0, 3])
    };
    let progs: Vec<(&str, ProgLoadAttr)> = vec![
        ("good", base(&[(0, 3), (3, 3)], &[0, 1, 3])),
        ("count != subprogs", base(&[(0, 3)], &[0, 3])),
        ("first insn_off", base(&[(1, 3), (3, 3)], &[0, 3])),
        ("not a FUNC", base(&[(0, 1), (3, 3)], &[0, 3])),
        ("off != subprog start", base(&[(0, 3), (2, 3)], &[0, 3])),
        (
            "rec size 6",
            ProgLoadAttr {
                func_info_rec_size: 6,
                ..base(&[(0, 3), (3, 3)], &[0, 3])
            },
        ),
        ("rec size 12, non-zero tail", big),
        ("rec size 12, zero tail", big_zero),
        (
            "line rec size 8",
            ProgLoadAttr {
                line_info_rec_size: 8,
                ..base(&[(0, 3), (3, 3)], &[0, 3])
            },
        ),
        ("line past the end", base(&[(0, 3), (3, 3)], &[0, 3, 5])),
        ("line missing for func#1", base(&[(0, 3), (3, 3)], &[0, 4])),
        ("line not increasing", base(&[(0, 3), (3, 3)], &[0, 3, 3])),
        ("first line not at 0", base(&[(0, 3), (3, 3)], &[1, 3])),
        (
            "bad btf fd",
            ProgLoadAttr {
                prog_btf_fd: 999,
                ..base(&[(0, 3), (3, 3)], &[0, 3])
            },
        ),
        ("func_info without btf fd", no_btf_fd),
        // Check order: which of two errors is reported.
        (
            "bad btf fd and func rec size 6",
            ProgLoadAttr {
                prog_btf_fd: 999,
                func_info_rec_size: 6,
                ..base(&[(0, 3), (3, 3)], &[0, 3])
            },
        ),
        (
            "bad btf fd and non-zero func tail",
            ProgLoadAttr {
                prog_btf_fd: 999,
                ..big_tail.clone()
            },
        ),
        (
            "func count wrong and line rec size 8",
            ProgLoadAttr {
                line_info_rec_size: 8,
                ..base(&[(0, 3)], &[0, 3])
            },
        ),
        (
            "non-zero func tail and line past the end",
            ProgLoadAttr {
                line_info: linfo(&[0, 3, 9]),
                line_info_cnt: 3,
                ..big_tail.clone()
            },
        ),
        (
            "bad btf fd and unknown prog_flags",
            ProgLoadAttr {
                prog_btf_fd: 999,
                prog_flags: 1 << 30,
                ..base(&[(0, 3), (3, 3)], &[0, 3])
            },
        ),
        (
            "bad btf fd and a bad opcode",
            ProgLoadAttr {
                prog_btf_fd: 999,
                insns: vec![
                    Insn {
                        code: 0xff,
                        ..Default::default()
                    },
                    Insn::exit(),
                ],
                ..base(&[(0, 3)], &[0])
            },
        ),
        (
            "line past the end and a bad opcode",
            ProgLoadAttr {
                insns: vec![
                    Insn {
                        code: 0xff,
                        ..Default::default()
                    },
                    Insn::exit(),
                ],
                ..base(&[(0, 3)], &[0, 5])
            },
        ),
        (
            "bad btf fd and a bad license",
            ProgLoadAttr {
                prog_btf_fd: 999,
                license: "Proprietary".into(),
                insns: vec![
                    Insn::mov64_imm(0, 0),
                    Insn {
                        code: 0x85,
                        imm: 6,
                        ..Default::default()
                    },
                    Insn::exit(),
                ],
                ..base(&[(0, 3)], &[0])
            },
        ),
        ("line_info without func_info", lines_only),
        (
            // `r0 = 0; ja +0; r0 = 1; exit`: the verifier removes the `ja 0`.
            "ja 0 removed",
            prog_attr(
                bfd,
                &[
                    Insn::mov64_imm(0, 0),
                    Insn::ja(0),
                    Insn::mov64_imm(0, 1),
                    Insn::exit(),
                ],
                &[(0, 3)],
                &[0, 1, 2, 3],
            ),
        ),
        (
            // `r0 = 0; if r0 == 0 goto +1; r0 = 1; exit`: the verifier never reaches insn 2
            // (dead code, removed for a privileged loader) and the jump becomes `ja`.
            "dead code removed",
            prog_attr(
                bfd,
                &[
                    Insn::mov64_imm(0, 0),
                    Insn::jmp_imm(0x10, 0, 0, 1),
                    Insn::mov64_imm(0, 1),
                    Insn::exit(),
                ],
                &[(0, 3)],
                &[0, 1, 2, 3],
            ),
        ),
        (
            // An unreachable instruction (`ja +1` over it) is refused by check_cfg.
            "unreachable insn",
            prog_attr(
                bfd,
                &[
                    Insn::ja(1),
                    Insn::mov64_imm(0, 1),
                    Insn::mov64_imm(0, 0),
                    Insn::exit(),
                ],
                &[(0, 3)],
                &[0, 1, 2, 3],
            ),
        ),
        (
            // Only the removed `ja 0` has a record after the first.
            "record on a removed ja 0 only",
            prog_attr(
                bfd,
                &[
                    Insn::mov64_imm(0, 0),
                    Insn::ja(0),
                    Insn::mov64_imm(0, 1),
                    Insn::exit(),
                ],
                &[(0, 3)],
                &[0, 1],
            ),
        ),
    ];
    for (what, a) in progs {
        let r = fd_of(b.bpf(p, &BpfCall::ProgLoadFull(a)));
        let _ = writeln!(
            out,
            "prog_load {what}: {}",
            errno_or(r, |fd| {
                let s = records(b, p, fd);
                b.close(p, fd).expect("close");
                s
            })
        );
    }

    // Lifetimes: a program puts its BTF at its last close; a map in its deferred free.
    let prog = fd_of(b.bpf(
        p,
        &BpfCall::ProgLoadFull(prog_attr(bfd, &two_funcs(), &[(0, 3), (3, 3)], &[0, 3])),
    ))
    .expect("prog");
    let map = fd_of(b.bpf(p, &BpfCall::MapCreate(with(map_type::HASH, 1, 4, 4, 8)))).expect("map");
    b.close(p, bfd).expect("close btf");
    let _ = writeln!(
        out,
        "btf fd closed, held by a map and a program: id exists {}",
        btf_id_exists(b, p, btf_id)
    );
    b.close(p, prog).expect("close prog");
    let _ = writeln!(
        out,
        "program closed: id exists {}",
        btf_id_exists(b, p, btf_id)
    );
    b.close(p, map).expect("close map");
    let gone = b.settle(&mut |b| !btf_id_exists(b, p, btf_id), 5000);
    let _ = writeln!(out, "map closed, after its deferred free: id gone {gone}");
    // A program alone: its last close puts the BTF at once.
    let bfd = btf_load(b, p, &blob()).expect("btf");
    let btf_id = btf_id_of(b, p, bfd);
    let prog = fd_of(b.bpf(
        p,
        &BpfCall::ProgLoadFull(prog_attr(bfd, &two_funcs(), &[(0, 3), (3, 3)], &[0, 3])),
    ))
    .expect("prog");
    b.close(p, bfd).expect("close btf");
    b.close(p, prog).expect("close prog");
    let _ = writeln!(
        out,
        "program alone closed: id exists {}",
        btf_id_exists(b, p, btf_id)
    );
    b.exit(p).expect("exit");
    out
}

#[test]
fn btf_rules_are_the_kernels() {
    let mut kernel = match kernel_tier() {
        Ok(k) => k,
        Err(why) => return say_skipped(&why),
    };
    let sim = run_all(&mut SimBackend::default());
    let real = run_all(&mut kernel);
    if std::env::var_os("BPFSIM_SHOW_BTF").is_some() {
        eprintln!("--- kernel\n{real}");
    }
    assert_eq!(sim.lines().count(), real.lines().count());
    let known = |l: &str| KNOWN.iter().any(|(k, _)| l.starts_with(&format!("{k}:")));
    let mut diffs: Vec<String> = sim
        .lines()
        .zip(real.lines())
        .filter(|(s, r)| s != r && !known(s))
        .map(|(s, r)| format!("  sim:    {s}\n  kernel: {r}"))
        .collect();
    for (k, why) in KNOWN {
        let prefix = format!("{k}:");
        let pair = sim
            .lines()
            .zip(real.lines())
            .find(|(s, _)| s.starts_with(&prefix));
        match pair {
            Some((s, r)) if s != r => {}
            _ => diffs.push(format!(
                "  {k}: listed as known ({why}) but agrees or is gone"
            )),
        }
    }
    {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "btf_differential: {} of {} BTF cases agree with the kernel, {} known differences",
            sim.lines().count() - diffs.len() - KNOWN.len(),
            sim.lines().count(),
            KNOWN.len()
        );
    }
    assert!(diffs.is_empty(), "\n{}", diffs.join("\n"));
}

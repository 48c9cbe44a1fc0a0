//! Helpers, contexts and the helper table (issue 4): the load-time refusal with the kernel's
//! texts, the packet helpers' rules and errnos with the values measured on 6.18
//! (`docs/kernel-notes.md`), tc / cgroup_skb / sock_ops contexts, pid/uid/comm, the
//! published table against `docs/helpers.md`, every corpus program run, and the rbpf
//! cross-check over the corpus.

use std::path::PathBuf;

use crate::support::*;
use sim::kernel::helper_table::{SUPPORTED_HELPERS, kernel_allowed};
use sim::loader::Object;
use sim::loader::load::{KernelProc, LoadOpts, Loaded, load};
use sim::prog::insn::*;
use sim::uapi::prog_type as pt;
use sim::{
    BpfSockCtx, Cred, CrossCheckReport, Errno, Insn, KernelConfig, ProgLoadAttr, RunEngine,
    SockOpsCtx, TestRunAttr,
};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

fn corpus(name: &str) -> Object {
    let path = corpus_dir().join(format!("{name}.o"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Object::parse(&format!("{name}.o"), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn loaded(s: &mut Sys, name: &str) -> (sim::Pid, Loaded) {
    let pid = s.k.spawn("loader", Cred::ROOT);
    let l = load(
        &corpus(name),
        &mut KernelProc { k: &mut s.k, pid },
        &LoadOpts::default(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    (pid, l)
}

/// Ethernet + IPv4 (checksum 0x1234 at 24) + 30 zero bytes: 64 bytes.
fn pkt() -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
    f.extend([
        0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0x12, 0x34, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.resize(64, 0);
    f
}

fn load_t(s: &mut Sys, ptype: u32, insns: &[Insn]) -> Result<i32, Errno> {
    let root = s.root;
    s.run(|k| k.prog_load(root, &ProgLoadAttr::new(ptype, insns).name("t")))
}

/// Loads and test-runs `insns`: (r0 as i32, data_out).
fn run(s: &mut Sys, ptype: u32, insns: &[Insn], data: Vec<u8>) -> (i32, Vec<u8>) {
    let fd = load_t(s, ptype, insns).expect("load");
    let root = s.root;
    let r = s
        .run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(data)))
        .expect("test run");
    (r.retval as i32, r.data_out)
}

/// `dst op= src` (64-bit).
fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
    Insn::raw(BPF_ALU64 | op | BPF_X, dst, src, 0, 0)
}

/// `r6 = ctx; r1 = ctx; r2.. = args; call id; exit`.
fn call_prog(id: i32, args: &[i32]) -> Vec<Insn> {
    let mut v = vec![Insn::mov64_reg(6, 1)];
    for (i, &a) in args.iter().enumerate() {
        v.push(Insn::mov64_imm(i as u8 + 2, a));
    }
    v.extend([Insn::call_helper(id), Insn::exit()]);
    v
}

#[test]
fn load_refuses_helpers_with_the_kernels_text() {
    let mut s = Sys::new();
    let p = |id| [Insn::call_helper(id), Insn::mov64_imm(0, 0), Insn::exit()];
    // A helper the kernel does not offer the type.
    assert_eq!(
        load_t(&mut s, pt::SOCKET_FILTER, &p(44)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        s.k.last_error(),
        "program of this type cannot use helper bpf_xdp_adjust_head#44"
    );
    assert_eq!(load_t(&mut s, pt::XDP, &p(9)), Err(Errno::EINVAL));
    assert_eq!(
        s.k.last_error(),
        "program of this type cannot use helper bpf_skb_store_bytes#9"
    );
    // Past __BPF_FUNC_MAX_ID, and 0.
    assert_eq!(
        load_t(&mut s, pt::SOCKET_FILTER, &p(250)),
        Err(Errno::EINVAL)
    );
    assert_eq!(s.k.last_error(), "invalid func unknown#250");
    assert_eq!(load_t(&mut s, pt::XDP, &p(0)), Err(Errno::EINVAL));
    assert_eq!(s.k.last_error(), "invalid func unknown#0");
    // Offered by the kernel (bpf_get_socket_cookie to tc), not implemented by the model.
    assert_eq!(load_t(&mut s, pt::SCHED_CLS, &p(46)), Err(Errno::EINVAL));
    assert_eq!(
        s.k.last_error(),
        "helper bpf_get_socket_cookie#46 is not implemented by the model (bpfsim)"
    );
    // GPL-only.
    let root = s.root;
    let r = s.run(|k| {
        k.prog_load(
            root,
            &ProgLoadAttr::new(pt::XDP, &p(6)).name("t").license("MIT"),
        )
    });
    assert_eq!(r, Err(Errno::EINVAL));
    assert_eq!(
        s.k.last_error(),
        "cannot call GPL-restricted function from non-GPL compatible program"
    );
    let r = s.run(|k| {
        k.prog_load(
            root,
            &ProgLoadAttr::new(pt::XDP, &p(14)).name("t").license("MIT"),
        )
    });
    assert!(r.is_ok(), "get_current_pid_tgid is not GPL-only");
    // Types the model cannot run load as before.
    assert!(load_t(&mut s, pt::KPROBE, &p(44)).is_ok());
    // Nothing leaked by the refusals.
    assert_eq!(s.live_maps(), 0);
}

#[test]
fn the_table_is_within_the_kernels_rows_and_matches_the_doc() {
    for h in SUPPORTED_HELPERS {
        assert_eq!(sim::prog::disasm::helper_name(h.id), Some(h.name));
        for &t in h.prog_types {
            let row = kernel_allowed(t).expect("a runnable type");
            assert!(row.contains(&h.id), "{} is not offered to type {t}", h.name);
        }
    }
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/helpers.md"),
    )
    .expect("docs/helpers.md");
    let rows: Vec<String> = doc
        .lines()
        .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.to_string())
        .collect();
    let want: Vec<String> = SUPPORTED_HELPERS
        .iter()
        .map(|h| {
            let types: Vec<&str> = h
                .prog_types
                .iter()
                .map(|&t| pt::name(t).expect("named"))
                .collect();
            format!(
                "| {} | `{}` | {} | {} |",
                h.id,
                h.name,
                types.join(", "),
                if h.gpl_only { "yes" } else { "no" }
            )
        })
        .collect();
    assert_eq!(
        rows, want,
        "docs/helpers.md's table and SUPPORTED_HELPERS differ"
    );
}

#[test]
fn xdp_adjust_head_meta_tail_as_measured() {
    let mut s = Sys::new();
    // (helper, delta) -> (r0, data_size_out), measured on 6.18 with the 64-byte frame.
    let cases: [(i32, i32, i32, usize); 20] = [
        (44, -216, 0, 280),
        (44, -217, -22, 64),
        (44, 0, 0, 64),
        (44, 50, 0, 14),
        (44, 51, -22, 64),
        (54, -4, 0, 68),
        (54, -32, 0, 96),
        (54, -36, 0, 100),
        (54, -252, -22, 64),
        (54, -2, -13, 64),
        (54, 4, -22, 64),
        (65, -50, 0, 14),
        (65, -51, -22, 64),
        (65, 3456, 0, 3520),
        (65, 3457, -22, 64),
        (65, 1, 0, 65),
        (44, i32::MIN, -22, 64),
        (65, i32::MAX, -22, 64),
        (54, i32::MIN, -22, 64),
        (54, 0, 0, 64),
    ];
    for (id, d, r0, size) in cases {
        let (got, out) = run(&mut s, pt::XDP, &call_prog(id, &[d]), pkt());
        assert_eq!((got, out.len()), (r0, size), "helper {id} delta {d}");
    }
    // Growing the head shows the (zeroed) headroom, and the frame after it.
    let (_, out) = run(&mut s, pt::XDP, &call_prog(44, &[-8]), pkt());
    assert_eq!(&out[..8], &[0; 8]);
    assert_eq!(&out[8..], &pkt()[..]);
    // A grown tail is zeroed.
    let (_, out) = run(&mut s, pt::XDP, &call_prog(65, &[4]), pkt());
    assert_eq!(&out[64..], &[0; 4]);
}

/// After bpf_xdp_adjust_head(+14), the program reloads ctx->data and reads the first
/// byte (0x45, the IPv4 header); a stale pointer to the old data faults.
#[test]
fn xdp_pointers_after_adjust_head() {
    let mut s = Sys::new();
    let mut p = call_prog(44, &[14]);
    p.pop();
    p.extend([
        Insn::ldx_mem(BPF_W, 2, 6, 0),
        Insn::ldx_mem(BPF_W, 3, 6, 4),
        Insn::mov64_reg(4, 2),
        Insn::alu64_imm(BPF_ADD, 4, 1),
        Insn::jmp_reg(BPF_JGT, 4, 3, 2),
        Insn::ldx_mem(BPF_B, 0, 2, 0),
        Insn::exit(),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ]);
    let (r0, out) = run(&mut s, pt::XDP, &p, pkt());
    assert_eq!((r0, out.len()), (0x45, 50));
    // Stale: r7 = data before the call, read after it moved past.
    let stale = [
        Insn::ldx_mem(BPF_W, 7, 1, 0),
        Insn::mov64_reg(6, 1),
        Insn::mov64_imm(2, 14),
        Insn::call_helper(44),
        Insn::ldx_mem(BPF_B, 0, 7, 0),
        Insn::exit(),
    ];
    let fd = load_t(&mut s, pt::XDP, &stale).expect("load");
    let root = s.root;
    assert_eq!(
        s.run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(pkt()))),
        Err(Errno::EACCES)
    );
}

#[test]
fn redirect_retvals_as_measured() {
    let mut s = Sys::new();
    for (ptype, flags, want) in [
        (pt::SCHED_CLS, 0, 7),
        (pt::SCHED_CLS, 1, 7),
        (pt::SCHED_CLS, 2, 2),
        (pt::SCHED_CLS, 4, 2),
        (pt::SCHED_ACT, 0, 7),
        (pt::XDP, 0, 4),
        (pt::XDP, 1, 0),
        (pt::XDP, 4, 0),
    ] {
        let p = [
            Insn::mov64_imm(1, 99),
            Insn::mov64_imm(2, flags),
            Insn::call_helper(23),
            Insn::exit(),
        ];
        assert_eq!(run(&mut s, ptype, &p, pkt()).0, want, "{ptype} {flags}");
    }
}

/// `*(u32 *)(fp - 8) = a; *(u32 *)(fp - 4) = b`.
fn stack_words(a: i32, b: i32) -> [Insn; 2] {
    [
        Insn::st_mem(BPF_W, 10, -8, a),
        Insn::st_mem(BPF_W, 10, -4, b),
    ]
}

/// (from words, from_size, to words, to_size, seed, r0).
type CsumDiffCase = ([i32; 2], i32, [i32; 2], i32, i32, i32);

/// (helper, off, from, to, flags, r0, bytes 24..26 after).
type CsumReplaceCase = (i32, i32, i32, i32, i32, i32, [u8; 2]);

#[test]
fn csum_diff_as_measured() {
    let mut s = Sys::new();
    // (from words, from_size, to words, to_size, seed) -> r0, all measured.
    let cases: [CsumDiffCase; 8] = [
        ([0, 0], 0, [0x01020304, 0], 4, 0, 1030),
        ([0, 0], 0, [0x01020304, 0x7f00ff00], 8, 0, 33287),
        ([0x01020304, 0], 4, [0, 0], 0, 0, 64505),
        ([0x01020304, 0], 4, [0x05060708, 0], 4, 0, 2056),
        ([0, 0], 0, [0x01020304, 0], 4, 0x1234, 5690),
        ([0, 0], 0, [-1, -1], 8, 0, 65535),
        ([0, 0], 0, [0x01020304, 0x05060708], 3, 0, 774),
        ([0, 0], 0, [0x01020304, 0x05060708], 6, 0, 2830),
    ];
    for (from, fs, to, ts, seed, want) in cases {
        let mut p = Vec::new();
        p.extend(stack_words(to[0], to[1]));
        p.extend([
            Insn::st_mem(BPF_W, 10, -16, from[0]),
            Insn::st_mem(BPF_W, 10, -12, from[1]),
        ]);
        if fs == 0 {
            p.push(Insn::mov64_imm(1, 0));
        } else {
            p.extend([Insn::mov64_reg(1, 10), Insn::alu64_imm(BPF_ADD, 1, -16)]);
        }
        p.push(Insn::mov64_imm(2, fs));
        if ts == 0 {
            p.push(Insn::mov64_imm(3, 0));
        } else {
            p.extend([Insn::mov64_reg(3, 10), Insn::alu64_imm(BPF_ADD, 3, -8)]);
        }
        p.extend([
            Insn::mov64_imm(4, ts),
            Insn::mov64_imm(5, seed),
            Insn::call_helper(28),
            Insn::exit(),
        ]);
        assert_eq!(
            run(&mut s, pt::SCHED_CLS, &p, pkt()).0,
            want,
            "{from:?} {to:?}"
        );
        assert_eq!(run(&mut s, pt::XDP, &p, pkt()).0, want);
    }
}

#[test]
fn csum_replace_rules_as_measured() {
    let mut s = Sys::new();
    // (helper, off, from, to, flags) -> (r0, bytes 24..26 of the frame).
    let cases: [CsumReplaceCase; 12] = [
        (10, 24, 0x0100000a, 0x0200000a, 4, 0, [0x12, 0x33]),
        (10, 24, 0x0a, 0x0b, 2, 0, [0x11, 0x34]),
        (10, 24, 0, 0x1000, 0, 0, [0x12, 0x24]),
        (10, 25, 0, 0, 2, -14, [0x12, 0x34]),
        (10, 24, 1, 0x1000, 0, -22, [0x12, 0x34]),
        (10, 24, 0, 0, 3, -22, [0x12, 0x34]),
        (10, 24, 0, 0, 0x12, -22, [0x12, 0x34]),
        (10, 64, 0, 0, 2, -14, [0x12, 0x34]),
        (11, 24, 0x0a, 0x0b, 0x12, 0, [0x11, 0x34]),
        (11, 24, 0, 0, 0x102, -22, [0x12, 0x34]),
        (11, 24, 0x0a, 0x0b, 0x82, 0, [0x11, 0x34]),
        // A zero checksum with BPF_F_MARK_MANGLED_0 stays zero.
        (11, 40, 0, 1, 0x22, 0, [0x12, 0x34]),
    ];
    for (id, off, from, to, flags, r0, bytes) in cases {
        let (got, out) = run(
            &mut s,
            pt::SCHED_CLS,
            &call_prog(id, &[off, from, to, flags]),
            pkt(),
        );
        assert_eq!(
            (got, [out[24], out[25]]),
            (r0, bytes),
            "{id} {off} {flags:#x}"
        );
        if id == 11 && off == 40 {
            assert_eq!(&out[40..42], &[0, 0]);
        }
    }
}

#[test]
fn skb_load_store_pull_change_tail_as_measured() {
    let mut s = Sys::new();
    let store = |off: i32, len: i32, flags: i32| {
        let mut p = vec![
            Insn::st_mem(BPF_W, 10, -8, 0x44332211),
            Insn::mov64_reg(6, 1),
        ];
        p.extend([
            Insn::mov64_imm(2, off),
            Insn::mov64_reg(3, 10),
            Insn::alu64_imm(BPF_ADD, 3, -8),
            Insn::mov64_imm(4, len),
            Insn::mov64_imm(5, flags),
            Insn::call_helper(9),
            Insn::exit(),
        ]);
        p
    };
    for (off, flags, r0) in [
        (14, 0, 0),
        (14, 3, 0),
        (14, 4, -22),
        (60, 0, 0),
        (61, 0, -14),
        (-1, 0, -14),
    ] {
        let (got, out) = run(&mut s, pt::SCHED_CLS, &store(off, 4, flags), pkt());
        assert_eq!(got, r0, "store at {off} flags {flags}");
        if r0 == 0 {
            assert_eq!(
                &out[off as usize..off as usize + 4],
                &[0x11, 0x22, 0x33, 0x44]
            );
        } else {
            assert_eq!(out, pkt());
        }
    }
    // load_bytes: 8 bytes at off into fp-8 (preset to all ones); r0 = the errno, or the
    // first byte, plus 1000 when the 8 bytes are not all zero.
    let load_b = |off: i32| {
        vec![
            Insn::st_mem(BPF_DW, 10, -8, -1),
            Insn::mov64_imm(2, off),
            Insn::mov64_reg(3, 10),
            Insn::alu64_imm(BPF_ADD, 3, -8),
            Insn::mov64_imm(4, 8),
            Insn::call_helper(26),
            Insn::jmp_imm(BPF_JNE, 0, 0, 1),
            Insn::ldx_mem(BPF_B, 0, 10, -8),
            Insn::ldx_mem(BPF_DW, 1, 10, -8),
            Insn::jmp_imm(BPF_JEQ, 1, 0, 1),
            Insn::alu64_imm(BPF_ADD, 0, 1000),
            Insn::exit(),
        ]
    };
    assert_eq!(run(&mut s, pt::SCHED_CLS, &load_b(0), pkt()).0, 1000 + 2);
    assert_eq!(run(&mut s, pt::SCHED_CLS, &load_b(56), pkt()).0, 0);
    // Past the end: -EFAULT and the buffer zeroed (so no 1000 added).
    assert_eq!(run(&mut s, pt::SCHED_CLS, &load_b(57), pkt()).0, -14);
    // A socket filter's offsets start at the network header.
    assert_eq!(
        run(&mut s, pt::SOCKET_FILTER, &load_b(0), pkt()).0,
        1000 + 0x45
    );
    assert_eq!(run(&mut s, pt::SOCKET_FILTER, &load_b(43), pkt()).0, -14);
    // pull_data.
    for (n, r0) in [(0, 0), (64, 0), (65, -12)] {
        assert_eq!(
            run(&mut s, pt::SCHED_CLS, &call_prog(39, &[n]), pkt()).0,
            r0
        );
    }
    // change_tail.
    for (n, flags, r0, size) in [
        (13, 0, -22, 64),
        (14, 0, 0, 14),
        (100, 0, 0, 100),
        (16064, 0, 0, 16064),
        (16065, 0, -22, 64),
        (20, 1, -22, 64),
    ] {
        let (got, out) = run(&mut s, pt::SCHED_CLS, &call_prog(38, &[n, flags]), pkt());
        assert_eq!((got, out.len()), (r0, size), "change_tail {n}");
        if n == 100 {
            assert_eq!(&out[..64], &pkt()[..]);
            assert!(out[64..].iter().all(|&b| b == 0));
        }
    }
    // skb->len follows: change_tail(20) then return skb->len.
    let mut p = call_prog(38, &[20, 0]);
    p.pop();
    p.extend([Insn::ldx_mem(BPF_W, 0, 6, 0), Insn::exit()]);
    assert_eq!(run(&mut s, pt::SCHED_CLS, &p, pkt()).0, 20);
}

#[test]
fn tc_context_sees_l2_and_writes_the_packet() {
    let mut s = Sys::new();
    // len = 64 (L2 included), data_end - data = 64; write 0xaa at data[0].
    let p = [
        Insn::ldx_mem(BPF_W, 2, 1, 76),
        Insn::ldx_mem(BPF_W, 3, 1, 80),
        Insn::mov64_reg(4, 2),
        Insn::alu64_imm(BPF_ADD, 4, 1),
        Insn::jmp_imm(BPF_JA, 0, 0, 0),
        Insn::jmp_reg(BPF_JGT, 4, 3, 4),
        Insn::st_mem(BPF_B, 2, 0, 0xaa),
        Insn::ldx_mem(BPF_W, 0, 1, 0),
        alu64_reg(BPF_SUB, 3, 2),
        alu64_reg(BPF_ADD, 0, 3),
        Insn::exit(),
    ];
    let (r0, out) = run(&mut s, pt::SCHED_CLS, &p, pkt());
    assert_eq!(r0, 128);
    let mut want = pkt();
    want[0] = 0xaa;
    assert_eq!(out, want);
    // The same on a cgroup_skb program: len 50, data..data_end 50, output L2 zeroed,
    // packet read-only.
    let read = [
        Insn::ldx_mem(BPF_W, 2, 1, 76),
        Insn::ldx_mem(BPF_W, 3, 1, 80),
        Insn::ldx_mem(BPF_W, 0, 1, 0),
        alu64_reg(BPF_SUB, 3, 2),
        alu64_reg(BPF_ADD, 0, 3),
        Insn::exit(),
    ];
    let (r0, out) = run(&mut s, pt::CGROUP_SKB, &read, pkt());
    assert_eq!(r0, 100);
    assert_eq!(&out[..14], &[0; 14]);
    assert_eq!(&out[14..], &pkt()[14..]);
    let write = [
        Insn::ldx_mem(BPF_W, 2, 1, 76),
        Insn::st_mem(BPF_B, 2, 0, 1),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ];
    let fd = load_t(&mut s, pt::CGROUP_SKB, &write).expect("load");
    let root = s.root;
    assert_eq!(
        s.run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(pkt()))),
        Err(Errno::EACCES)
    );
    // tc ctx_out: mark written by the program comes back, wire_len is the frame's size.
    let mark = [
        Insn::mov64_imm(2, 77),
        Insn::stx_mem(BPF_W, 1, 2, 8),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ];
    let fd = load_t(&mut s, pt::SCHED_CLS, &mark).expect("load");
    let a = TestRunAttr {
        ctx_in: Some(vec![0; 192]),
        ctx_out: Some(192),
        ..TestRunAttr::new(pkt())
    };
    let r = s.run(|k| k.prog_test_run(root, fd, &a)).expect("run");
    assert_eq!(&r.ctx_out[8..12], &77u32.to_le_bytes());
    assert_eq!(&r.ctx_out[40..44], &1u32.to_le_bytes());
    assert_eq!(&r.ctx_out[160..164], &64u32.to_le_bytes());
}

#[test]
fn current_pid_uid_comm_come_from_the_calling_process() {
    let mut s = Sys::new();
    let fd = |s: &mut Sys, insns: &[Insn]| load_t(s, pt::XDP, insns).expect("load");
    let pid_prog = fd(&mut s, &[Insn::call_helper(14), Insn::exit()]);
    let uid_prog = fd(
        &mut s,
        &[
            Insn::call_helper(15),
            Insn::mov64_reg(1, 0),
            Insn::alu64_imm(BPF_RSH, 1, 32),
            Insn::alu64_imm(BPF_LSH, 0, 16),
            alu64_reg(BPF_ADD, 0, 1),
            Insn::exit(),
        ],
    );
    // comm into fp-16 (16 bytes), r0 = the first two bytes | byte 15 << 16.
    let comm_prog = fd(
        &mut s,
        &[
            Insn::st_mem(BPF_DW, 10, -16, -1),
            Insn::st_mem(BPF_DW, 10, -8, -1),
            Insn::mov64_reg(1, 10),
            Insn::alu64_imm(BPF_ADD, 1, -16),
            Insn::mov64_imm(2, 16),
            Insn::call_helper(16),
            Insn::ldx_mem(BPF_H, 0, 10, -16),
            Insn::ldx_mem(BPF_B, 1, 10, -1),
            Insn::alu64_imm(BPF_LSH, 1, 16),
            alu64_reg(BPF_ADD, 0, 1),
            Insn::exit(),
        ],
    );
    let root = s.root;
    let mut cred = Cred::ROOT;
    cred.uid = 1000;
    cred.gid = 100;
    let child = s.k.spawn("a-very-long-process-name", cred);
    // The child runs the parent's programs through fds it inherits: use the root's here.
    let r = |s: &mut Sys, pid, fd| {
        s.run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(pkt())))
            .expect("run")
            .retval
    };
    assert_eq!(r(&mut s, root, pid_prog), root.0);
    assert_eq!(r(&mut s, root, uid_prog), 0);
    // Another process: its own ids and name (truncated to 15 bytes plus NUL).
    let fd_of = |s: &mut Sys, fd: i32| {
        let id = s.id_of(root, fd);
        s.run(|k| k.prog_get_fd_by_id(child, id)).expect("fd by id")
    };
    let (p2, u2, c2) = (
        fd_of(&mut s, pid_prog),
        fd_of(&mut s, uid_prog),
        fd_of(&mut s, comm_prog),
    );
    assert_eq!(r(&mut s, child, p2), child.0);
    assert_eq!(r(&mut s, child, u2), (1000 << 16) + 100);
    assert_eq!(r(&mut s, child, c2), u32::from_le_bytes(*b"a-\0\0"));
}

#[test]
fn sock_ops_runs_beyond_the_kernel() {
    let mut s = Sys::new();
    let (pid, l) = loaded(&mut s, "seed_btf_lookup");
    let fd = l.progs[0].fd;
    // The kernel's BPF_PROG_TEST_RUN answer stays.
    assert_eq!(
        s.run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(pkt()))),
        Err(Errno::ENOTSUPP)
    );
    let ctx = SockOpsCtx::new(4).ipv4([10, 0, 0, 1], 1234, [10, 0, 0, 2], 80);
    for _ in 0..3 {
        let r = s.run(|k| k.run_sock_ops(pid, fd, &ctx)).expect("run");
        assert_eq!(r.retval, 1);
        assert_eq!(r.ctx, ctx);
    }
    let m = l.maps.iter().find(|m| m.name == "my_map").expect("map").fd;
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_elem(pid, m, &1u32.to_le_bytes(), &mut v, 0))
        .expect("lookup");
    assert_eq!(u64::from_le_bytes(v), 3);
    // A program that writes reply and reads op/local_port; a write to op faults.
    let root = s.root;
    let p = [
        Insn::ldx_mem(BPF_W, 2, 1, 0),
        Insn::ldx_mem(BPF_W, 3, 1, 68),
        alu64_reg(BPF_ADD, 2, 3),
        Insn::stx_mem(BPF_W, 1, 2, 4),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ];
    let fd = load_t(&mut s, pt::SOCK_OPS, &p).expect("load");
    let r = s.run(|k| k.run_sock_ops(root, fd, &ctx)).expect("run");
    assert_eq!(r.reply, 4 + 1234);
    let bad = [
        Insn::st_mem(BPF_W, 1, 0, 9),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ];
    let fd = load_t(&mut s, pt::SOCK_OPS, &bad).expect("load");
    assert_eq!(
        s.run(|k| k.run_sock_ops(root, fd, &ctx)),
        Err(Errno::EACCES)
    );
    // Not a sock_ops program; not an fd.
    let xdp = load_t(&mut s, pt::XDP, &[Insn::mov64_imm(0, 2), Insn::exit()]).expect("load");
    assert_eq!(
        s.run(|k| k.run_sock_ops(root, xdp, &ctx)),
        Err(Errno::EINVAL)
    );
    assert_eq!(s.run(|k| k.run_sock_ops(root, 99, &ctx)), Err(Errno::EBADF));
}

/// Every corpus program, loaded by the loader: what running it gives. cgroup_sock has no
/// model run and no test run (the kernel's ENOTSUPP).
#[test]
fn every_corpus_program_runs() {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus")
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            n.strip_suffix(".o").map(str::to_string)
        })
        .collect();
    names.sort();
    let mut ran = Vec::new();
    for name in &names {
        let mut s = Sys::new();
        let root = s.root;
        s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
            .expect("mount");
        let (pid, l) = loaded(&mut s, name);
        for p in &l.progs {
            let r = match p.section.as_str() {
                "sockops" => s
                    .run(|k| k.run_sock_ops(pid, p.fd, &SockOpsCtx::new(4)))
                    .map(|r| r.retval as u32),
                _ => s
                    .run(|k| k.prog_test_run(pid, p.fd, &TestRunAttr::new(pkt())))
                    .map(|r| r.retval),
            };
            let r = if p.section == "cgroup/sock_create" {
                assert_eq!(r, Err(Errno::ENOTSUPP), "{name}/{}", p.name);
                s.run(|k| k.run_cgroup_sock(pid, p.fd, &BpfSockCtx::new(2, 1, 6)))
                    .map(|r| r.retval as u32)
            } else {
                r
            };
            let r = r.unwrap_or_else(|e| panic!("{name}/{}: {e:?} {}", p.name, s.k.last_error()));
            ran.push(format!("{name}/{} {r}", p.name));
        }
    }
    assert_eq!(
        ran,
        [
            "atomics/xdp_atomics 2",
            "bounded_loop/sock_loop100 0",
            "cgroup/cg_ingress 1",
            "cgroup/cg_sock_create 1",
            "cpu_v4/xdp_cpu_v4 2",
            "global_data/xdp_globals 2",
            "map_in_map/xdp_mim 2",
            "pin_by_name/sock_pinned 0",
            "seed_btf_lookup/my_prog 1",
            "seed_btf_nolookup/my_prog 1",
            "seed_legacy_lookup/my_prog 1",
            "seed_legacy_nolookup/my_prog 1",
            "subprog/sock_subprog 50",
            "tailcall/tail_target0 2",
            "tailcall/tail_target1 0",
            "tailcall/tail_entry 2",
            "xdp_loop/xdp_loop1000 2",
            "xdp_parser/xdp_parse 2",
            "xdp_trivial/xdp_pass 2",
        ]
    );
}

/// The cgroup_sock corpus program counts stream sockets only; the writable fields come back,
/// the others fault.
#[test]
fn cgroup_sock_runs_beyond_the_kernel() {
    let mut s = Sys::new();
    let (pid, l) = loaded(&mut s, "cgroup");
    let fd = l
        .progs
        .iter()
        .find(|p| p.name == "cg_sock_create")
        .expect("prog")
        .fd;
    for ty in [1, 2, 1] {
        let r = s
            .run(|k| k.run_cgroup_sock(pid, fd, &BpfSockCtx::new(2, ty, 0)))
            .expect("run");
        assert_eq!(r.retval, 1);
    }
    let m = l
        .maps
        .iter()
        .find(|m| m.name == "cg_counts")
        .expect("map")
        .fd;
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_elem(pid, m, &1u32.to_le_bytes(), &mut v, 0))
        .expect("lookup");
    assert_eq!(u64::from_le_bytes(v), 2);
    let root = s.root;
    let set_mark = [
        Insn::st_mem(BPF_W, 1, 16, 7),
        Insn::st_mem(BPF_W, 1, 0, 1),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ];
    let fd = load_t(&mut s, pt::CGROUP_SOCK, &set_mark).expect("load");
    let r = s
        .run(|k| k.run_cgroup_sock(root, fd, &BpfSockCtx::new(10, 2, 17)))
        .expect("run");
    assert_eq!((r.retval, r.ctx.get_u32(16), r.ctx.get_u32(0)), (0, 7, 1));
    assert_eq!(r.ctx.get_u32(4), 10);
    let set_family = [
        Insn::st_mem(BPF_W, 1, 4, 2),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ];
    let fd = load_t(&mut s, pt::CGROUP_SOCK, &set_family).expect("load");
    assert_eq!(
        s.run(|k| k.run_cgroup_sock(root, fd, &BpfSockCtx::new(10, 2, 17))),
        Err(Errno::EACCES)
    );
    assert_eq!(
        s.run(|k| k.run_cgroup_sock(root, fd, &BpfSockCtx::new(10, 2, 17)))
            .err()
            .map(|_| s.k.last_run_error().is_some()),
        Some(true)
    );
}

/// The cgroup_skb corpus program counts the packet's length (without L2) in its map.
#[test]
fn cgroup_skb_counts_len() {
    let mut s = Sys::new();
    let (pid, l) = loaded(&mut s, "cgroup");
    let fd = l
        .progs
        .iter()
        .find(|p| p.name == "cg_ingress")
        .expect("prog")
        .fd;
    let a = TestRunAttr::new(pkt()).repeat(3);
    let r = s.run(|k| k.prog_test_run(pid, fd, &a)).expect("run");
    assert_eq!(r.retval, 1);
    let m = l
        .maps
        .iter()
        .find(|m| m.name == "cg_counts")
        .expect("map")
        .fd;
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_elem(pid, m, &0u32.to_le_bytes(), &mut v, 0))
        .expect("lookup");
    assert_eq!(u64::from_le_bytes(v), 150);
}

/// Every corpus program under the cross-check engine: those rbpf runs agree; the others
/// are named with rbpf's reason.
#[test]
fn cross_check_over_the_corpus() {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus")
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            n.strip_suffix(".o").map(str::to_string)
        })
        .collect();
    names.sort();
    let mut report = Vec::new();
    for name in &names {
        let mut s = sys_with(KernelConfig {
            engine: RunEngine::CrossCheck,
            ..KernelConfig::default()
        });
        let root = s.root;
        s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
            .expect("mount");
        let (pid, l) = loaded(&mut s, name);
        for p in &l.progs {
            let r = if p.section == "sockops" {
                s.run(|k| k.run_sock_ops(pid, p.fd, &SockOpsCtx::new(4)))
                    .map(|_| ())
            } else if p.section.starts_with("cgroup/") {
                s.run(|k| k.run_cgroup_sock(pid, p.fd, &BpfSockCtx::new(2, 1, 6)))
                    .map(|_| ())
            } else {
                s.run(|k| k.prog_test_run(pid, p.fd, &TestRunAttr::new(pkt())))
                    .map(|_| ())
            };
            let line = match s.k.last_cross_check() {
                Some(CrossCheckReport::Agree) => "agree".to_string(),
                Some(CrossCheckReport::NotRunByRbpf { pc, what }) => {
                    format!("rbpf cannot run it: {what} at {pc}")
                }
                Some(d) => format!("DIFFER {d:?} ({r:?})"),
                None => format!("no report ({r:?})"),
            };
            report.push(format!("{name}/{}: {line}", p.name));
        }
    }
    assert_eq!(
        report,
        [
            "atomics/xdp_atomics: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 4",
            "bounded_loop/sock_loop100: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 5",
            "cgroup/cg_ingress: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 5",
            "cgroup/cg_sock_create: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 6",
            "cpu_v4/xdp_cpu_v4: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 4",
            "global_data/xdp_globals: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 2",
            "map_in_map/xdp_mim: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 5",
            "pin_by_name/sock_pinned: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 4",
            "seed_btf_lookup/my_prog: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 4",
            "seed_btf_nolookup/my_prog: agree",
            "seed_legacy_lookup/my_prog: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 4",
            "seed_legacy_nolookup/my_prog: agree",
            "subprog/sock_subprog: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 26",
            "tailcall/tail_target0: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 4",
            "tailcall/tail_target1: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 4",
            "tailcall/tail_entry: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 5",
            "xdp_loop/xdp_loop1000: agree",
            "xdp_parser/xdp_parse: rbpf cannot run it: ld_imm64 with a non-zero src_reg at 27",
            "xdp_trivial/xdp_pass: agree",
        ]
    );
}

/// The cross-check fails a run the engines disagree on: rbpf reaches only the context, so
/// a direct packet read faults there and succeeds here.
#[test]
fn cross_check_reports_a_difference_as_a_typed_error() {
    let mut s = sys_with(KernelConfig {
        engine: RunEngine::CrossCheck,
        ..KernelConfig::default()
    });
    let p = [
        Insn::ldx_mem(BPF_W, 2, 1, 0),
        Insn::ldx_mem(BPF_B, 0, 2, 0),
        Insn::exit(),
    ];
    let fd = load_t(&mut s, pt::XDP, &p).expect("load");
    let root = s.root;
    assert_eq!(
        s.run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(pkt()))),
        Err(Errno(5))
    );
    match s.k.last_cross_check() {
        Some(CrossCheckReport::Differ { ours, rbpf, .. }) => {
            assert_eq!(ours, &Ok(2));
            assert!(rbpf.is_err(), "{rbpf:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.k.last_error().contains("cross-check"));
    // rbpf alone: a program it runs gives its answer, with duration 0; ours counts.
    let trivial = [Insn::mov64_imm(0, 2), Insn::exit()];
    for (engine, duration) in [(RunEngine::Rbpf, 0), (RunEngine::Interpreter, 2)] {
        let mut s = sys_with(KernelConfig {
            engine,
            ..KernelConfig::default()
        });
        let fd = load_t(&mut s, pt::XDP, &trivial).expect("load");
        let root = s.root;
        let r = s
            .run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(pkt())))
            .expect("run");
        assert_eq!((r.retval, r.duration), (2, duration));
    }
}

/// (what, attr, (retval, data_size_out, ctx_out wire_len) or the errno).
type SkbCase = (&'static str, TestRunAttr, Result<(u32, u32, u32), Errno>);

/// `bpf_prog_test_run_skb`'s attr and `ctx_in` rules for tc and cgroup_skb, as measured
/// (errno, retval, data_size_out, mark and wire_len in ctx_out) for `r0 = 1; exit`.
#[test]
fn skb_test_run_rules_for_tc_and_cgroup_skb_as_measured() {
    let mut s = Sys::new();
    let root = s.root;
    let with_u32 = |off: usize, v: u32| {
        let mut c = vec![0u8; 192];
        c[off..off + 4].copy_from_slice(&v.to_le_bytes());
        c
    };
    for ptype in [pt::SCHED_CLS, pt::CGROUP_SKB, pt::SOCKET_FILTER] {
        let fd = load_t(&mut s, ptype, &[Insn::mov64_imm(0, 1), Insn::exit()]).expect("load");
        let l2 = ptype == pt::SCHED_CLS;
        let cases: Vec<SkbCase> = vec![
            (
                "14 bytes",
                TestRunAttr::new(pkt()[..14].to_vec()),
                Err(Errno::EINVAL),
            ),
            (
                "13 bytes",
                TestRunAttr::new(pkt()[..13].to_vec()),
                Err(Errno::EINVAL),
            ),
            (
                "flags 1",
                TestRunAttr {
                    flags: 1,
                    ..TestRunAttr::new(pkt())
                },
                Err(Errno::EINVAL),
            ),
            (
                "flags 4",
                TestRunAttr {
                    flags: 4,
                    ..TestRunAttr::new(pkt())
                },
                Ok((1, 64, 0)),
            ),
            (
                "ctx len",
                TestRunAttr {
                    ctx_in: Some(with_u32(0, 5)),
                    ctx_out: Some(192),
                    ..TestRunAttr::new(pkt())
                },
                Err(Errno::EINVAL),
            ),
            (
                "ctx tc_index",
                TestRunAttr {
                    ctx_in: Some(with_u32(44, 5)),
                    ctx_out: Some(192),
                    ..TestRunAttr::new(pkt())
                },
                Err(Errno::EINVAL),
            ),
            (
                "ctx mark",
                TestRunAttr {
                    ctx_in: Some(with_u32(8, 5)),
                    ctx_out: Some(192),
                    ..TestRunAttr::new(pkt())
                },
                Ok((1, 64, if l2 { 64 } else { 50 })),
            ),
            (
                "wire_len 60",
                TestRunAttr {
                    ctx_in: Some(with_u32(160, 60)),
                    ctx_out: Some(192),
                    ..TestRunAttr::new(pkt())
                },
                if l2 {
                    Err(Errno::EINVAL)
                } else {
                    Ok((1, 64, 60))
                },
            ),
            (
                "repeat 3",
                TestRunAttr::new(pkt()).repeat(3),
                Ok((1, 64, 0)),
            ),
        ];
        for (what, a, want) in cases {
            let got = s.run(|k| k.prog_test_run(root, fd, &a)).map(|r| {
                if r.ctx_out.len() == 192 {
                    assert_eq!(&r.ctx_out[8..12], &a.ctx_in.as_ref().expect("ctx")[8..12]);
                }
                let wire = r
                    .ctx_out
                    .get(160..164)
                    .map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4")));
                (r.retval, r.data_size_out, wire)
            });
            assert_eq!(got, want, "type {ptype}: {what}");
        }
    }
}

/// `xdp_md` in `ctx_out` after the adjust helpers: `data` and `data_end` relative to
/// `data_meta`, as measured.
#[test]
fn xdp_ctx_out_after_adjusting_as_measured() {
    let mut s = Sys::new();
    let root = s.root;
    for (id, delta, size, md) in [
        (44, -8, 72, [0, 72, 0, 0, 0, 0]),
        (54, -4, 68, [4, 68, 0, 0, 0, 0]),
        (65, 4, 68, [0, 68, 0, 0, 0, 0]),
        (44, 8, 56, [0, 56, 0, 0, 0, 0]),
    ] {
        let p = [
            Insn::mov64_imm(2, delta),
            Insn::call_helper(id),
            Insn::mov64_imm(0, 2),
            Insn::exit(),
        ];
        let fd = load_t(&mut s, pt::XDP, &p).expect("load");
        let mut ctx = vec![0u8; 24];
        ctx[4..8].copy_from_slice(&64u32.to_le_bytes());
        let a = TestRunAttr {
            ctx_in: Some(ctx),
            ctx_out: Some(24),
            ..TestRunAttr::new(pkt())
        };
        let r = s.run(|k| k.prog_test_run(root, fd, &a)).expect("run");
        let got: Vec<u32> = r
            .ctx_out
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect();
        assert_eq!((r.data_size_out, got), (size, md.to_vec()), "{id} {delta}");
    }
}

//! `BPF_PROG_TEST_RUN` for XDP and socket-filter programs: the corpus's programs loaded with
//! the loader and run by the interpreter, map changes seen through map lookups, the kernel's
//! errnos, and the model's answer for programs that do not reach `exit`.

use std::path::PathBuf;

use crate::support::*;
use sim::loader::Object;
use sim::loader::load::{KernelProc, LoadOpts, Loaded, load};
use sim::prog::insn::*;
use sim::uapi::{map_type, prog_type};
use sim::vm::VmError;
use sim::{Cred, Errno, Insn, KernelConfig, MapCreateAttr, ProgLoadAttr, TestRunAttr};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

fn corpus(name: &str) -> Object {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(format!("{name}.o"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Object::parse(&format!("{name}.o"), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A machine with bpffs, and `name`.o loaded by a loader process that keeps its fds.
fn loaded(name: &str) -> (Sys, sim::Pid, Loaded) {
    let mut s = Sys::new();
    let root = s.root;
    s.run(|k| k.mount_bpffs(root, "/sys/fs/bpf"))
        .expect("mount");
    let pid = s.k.spawn("loader", Cred::ROOT);
    let l = load(
        &corpus(name),
        &mut KernelProc { k: &mut s.k, pid },
        &LoadOpts::default(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    (s, pid, l)
}

fn prog_fd(l: &Loaded, name: &str) -> i32 {
    l.progs.iter().find(|p| p.name == name).expect("prog").fd
}

fn map_fd(l: &Loaded, name: &str) -> i32 {
    l.maps
        .iter()
        .find(|m| m.name.ends_with(name))
        .expect("map")
        .fd
}

fn lookup_u64(s: &mut Sys, pid: sim::Pid, fd: i32, key: u32) -> u64 {
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_elem(pid, fd, &key.to_le_bytes(), &mut v, 0))
        .expect("lookup");
    u64::from_le_bytes(v)
}

/// A 64-byte Ethernet + IPv4 + UDP frame.
fn ipv4_udp() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45; // version 4, ihl 5
    f[16..18].copy_from_slice(&50u16.to_be_bytes());
    f[22] = 64; // ttl
    f[23] = 17; // UDP
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&53u16.to_be_bytes());
    f
}

/// A 42-byte ARP request.
fn arp() -> Vec<u8> {
    let mut f = vec![0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f
}

#[test]
fn xdp_trivial_passes_and_returns_the_packet() {
    let (mut s, pid, l) = loaded("xdp_trivial");
    let fd = prog_fd(&l, "xdp_pass");
    let pkt = ipv4_udp();
    let r = s
        .run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(pkt.clone())))
        .expect("test run");
    assert_eq!(r.retval, XDP_PASS);
    assert_eq!(r.data_out, pkt);
    assert_eq!(r.data_size_out, 64);
    // Two instructions; duration is the instruction count of one run.
    assert_eq!(r.duration, 2);
    let r = s
        .run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(pkt.clone()).repeat(1000)))
        .expect("repeat");
    assert_eq!((r.retval, r.duration), (XDP_PASS, 2));
}

#[test]
fn xdp_parser_counts_ipv4_protocols_and_passes_arp() {
    let (mut s, pid, l) = loaded("xdp_parser");
    let fd = prog_fd(&l, "xdp_parse");
    let counts = map_fd(&l, "proto_count");
    let r = s
        .run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(ipv4_udp())))
        .expect("udp");
    assert_eq!(r.retval, XDP_PASS);
    assert_eq!(lookup_u64(&mut s, pid, counts, 17), 1);
    let r = s
        .run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(ipv4_udp()).repeat(3)))
        .expect("udp x3");
    assert_eq!(r.retval, XDP_PASS);
    assert_eq!(lookup_u64(&mut s, pid, counts, 17), 4);
    let r = s
        .run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(arp())))
        .expect("arp");
    assert_eq!(r.retval, XDP_PASS);
    // A truncated IPv4 header is dropped.
    let r = s
        .run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(ipv4_udp()[..20].to_vec())))
        .expect("short");
    assert_eq!(r.retval, XDP_DROP);
    // TCP is counted in its own slot; nothing else moved.
    let mut tcp = ipv4_udp();
    tcp[23] = 6;
    s.run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(tcp)))
        .expect("tcp");
    for key in 0..256u32 {
        let want = match key {
            17 => 4,
            6 => 1,
            _ => 0,
        };
        assert_eq!(lookup_u64(&mut s, pid, counts, key), want, "proto {key}");
    }
}

#[test]
fn xdp_loop_runs_its_thousand_iterations_within_the_budget() {
    let (mut s, pid, l) = loaded("xdp_loop");
    let fd = prog_fd(&l, "xdp_loop1000");
    let r = s
        .run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(ipv4_udp())))
        .expect("loop");
    assert_eq!(r.retval, XDP_PASS);
    // 6 instructions a turn, plus a few around the loop.
    assert!(
        (6000..6100).contains(&r.duration),
        "duration {}",
        r.duration
    );
    assert!(u64::from(r.duration) < sim::vm::DEFAULT_BUDGET);
    assert!(s.k.last_run_error().is_none());
}

#[test]
fn global_data_is_read_and_written_through_map_values() {
    let (mut s, pid, l) = loaded("global_data");
    let fd = prog_fd(&l, "xdp_globals");
    let before = s.k.now_ns();
    let r = s
        .run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(ipv4_udp()).repeat(5)))
        .expect("run");
    assert_eq!(r.retval, XDP_PASS);
    // The virtual clock moved by the instructions executed.
    assert_eq!(s.k.now_ns() - before, 5 * u64::from(r.duration));
    let bss = map_fd(&l, ".bss");
    let data = map_fd(&l, ".data");
    let mut v = [0u8; 16];
    s.run(|k| k.map_lookup_elem(pid, bss, &0u32.to_le_bytes(), &mut v, 0))
        .expect("bss");
    assert_eq!(
        u64::from_le_bytes(v[..8].try_into().unwrap()),
        5,
        "pkt_total"
    );
    assert_eq!(
        u64::from_le_bytes(v[8..].try_into().unwrap()),
        0,
        "short_total"
    );
    let mut d = [0u8; 4];
    s.run(|k| k.map_lookup_elem(pid, data, &0u32.to_le_bytes(), &mut d, 0))
        .expect("data");
    assert_eq!(u32::from_le_bytes(d), 64, "last_len");
    assert!(s.k.trace_pipe().is_empty());
}

/// An XDP program of `insns` loaded by root.
fn xdp(s: &mut Sys, insns: &[Insn]) -> i32 {
    let root = s.root;
    s.run(|k| k.prog_load(root, &ProgLoadAttr::new(prog_type::XDP, insns).name("t")))
        .expect("load")
}

#[test]
fn errnos_of_the_kernel() {
    let (mut s, pid, l) = loaded("xdp_trivial");
    let fd = prog_fd(&l, "xdp_pass");
    let pkt = ipv4_udp();
    let run = |s: &mut Sys, fd: i32, a: &TestRunAttr| s.run(|k| k.prog_test_run(pid, fd, a));
    // Not an fd; not a program.
    assert_eq!(
        run(&mut s, 99, &TestRunAttr::new(pkt.clone())),
        Err(Errno::EBADF)
    );
    let m = s
        .run(|k| k.map_create(pid, &MapCreateAttr::new(map_type::ARRAY, 4, 8, 1)))
        .expect("map");
    assert_eq!(
        run(&mut s, m, &TestRunAttr::new(pkt.clone())),
        Err(Errno::EINVAL)
    );
    // Shorter than an Ethernet header; empty.
    assert_eq!(
        run(&mut s, fd, &TestRunAttr::new(vec![0u8; 13])),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        run(&mut s, fd, &TestRunAttr::new(Vec::new())),
        Err(Errno::EINVAL)
    );
    // Flags: none but LIVE_FRAMES for XDP; batch_size only with it.
    let a = TestRunAttr {
        flags: 1,
        ..TestRunAttr::new(pkt.clone())
    };
    assert_eq!(run(&mut s, fd, &a), Err(Errno::EINVAL));
    let a = TestRunAttr {
        batch_size: 1,
        ..TestRunAttr::new(pkt.clone())
    };
    assert_eq!(run(&mut s, fd, &a), Err(Errno::EINVAL));
    // A small data_out: ENOSPC, what fits copied, the full size reported.
    let a = TestRunAttr {
        data_out: Some(10),
        ..TestRunAttr::new(pkt.clone())
    };
    let (r, out) = s.run(|k| k.prog_test_run_partial(pid, fd, &a));
    assert_eq!(r, Err(Errno::ENOSPC));
    assert_eq!(out.data_out, pkt[..10]);
    assert_eq!((out.data_size_out, out.retval), (64, XDP_PASS));
    // No data_out at all: fine, sizes still come back.
    let a = TestRunAttr {
        data_out: None,
        ..TestRunAttr::new(pkt.clone())
    };
    let out = run(&mut s, fd, &a).expect("no data_out");
    assert_eq!((out.data_size_out, out.data_out.len()), (64, 0));
    // ctx_out without ctx_in: a zero xdp_md, data_end 0: an empty linear part, the whole
    // packet in a fragment, all of it in data_out (measured on 6.18.44).
    let a = TestRunAttr {
        ctx_out: Some(24),
        ..TestRunAttr::new(pkt.clone())
    };
    let out = run(&mut s, fd, &a).expect("zero xdp_md");
    assert_eq!((out.data_size_out, &out.data_out), (64, &pkt));
    assert_eq!(out.ctx_out, [0u8; 24]);
    // ctx_out too small: ENOSPC after the packet was copied.
    let mut md = vec![0u8; 24];
    md[4..8].copy_from_slice(&64u32.to_le_bytes());
    let a = TestRunAttr {
        ctx_in: Some(md),
        ctx_out: Some(8),
        ..TestRunAttr::new(pkt.clone())
    };
    let (r, out) = s.run(|k| k.prog_test_run_partial(pid, fd, &a));
    assert_eq!(r, Err(Errno::ENOSPC));
    assert_eq!(out.ctx_size_out, 24);
    // ctx_in with data_end past data_size_in: EINVAL; below it: the rest is a fragment.
    let mut md = vec![0u8; 24];
    md[4..8].copy_from_slice(&65u32.to_le_bytes());
    let a = TestRunAttr {
        ctx_in: Some(md.clone()),
        ..TestRunAttr::new(pkt.clone())
    };
    assert_eq!(run(&mut s, fd, &a), Err(Errno::EINVAL));
    md[4..8].copy_from_slice(&63u32.to_le_bytes());
    let a = TestRunAttr {
        ctx_in: Some(md.clone()),
        ctx_out: Some(24),
        ..TestRunAttr::new(pkt.clone())
    };
    let out = run(&mut s, fd, &a).expect("data_end below the packet");
    assert_eq!((out.data_size_out, &out.data_out), (64, &pkt));
    assert_eq!(out.ctx_out[4..8], 63u32.to_le_bytes());
    // Metadata that leaves less than ETH_HLEN of the packet: EINVAL.
    md[0..4].copy_from_slice(&52u32.to_le_bytes());
    md[4..8].copy_from_slice(&64u32.to_le_bytes());
    let a = TestRunAttr {
        ctx_in: Some(md.clone()),
        ..TestRunAttr::new(pkt.clone())
    };
    assert_eq!(run(&mut s, fd, &a), Err(Errno::EINVAL));
    // ... and a good one, with 8 bytes of metadata, and an unknown device.
    md[0..4].copy_from_slice(&8u32.to_le_bytes());
    md[4..8].copy_from_slice(&64u32.to_le_bytes());
    let a = TestRunAttr {
        ctx_in: Some(md.clone()),
        ctx_out: Some(24),
        ..TestRunAttr::new(pkt.clone())
    };
    let out = run(&mut s, fd, &a).expect("metadata");
    assert_eq!(out.data_out, pkt);
    assert_eq!(out.ctx_out[..8], md[..8]);
    md[12..16].copy_from_slice(&7u32.to_le_bytes());
    let a = TestRunAttr {
        ctx_in: Some(md),
        ..TestRunAttr::new(pkt.clone())
    };
    assert_eq!(run(&mut s, fd, &a), Err(Errno::ENODEV));
    // Non-zero bytes of ctx_in past xdp_md: E2BIG.
    let mut big = vec![0u8; 32];
    big[4..8].copy_from_slice(&64u32.to_le_bytes());
    big[30] = 1;
    let a = TestRunAttr {
        ctx_in: Some(big),
        ..TestRunAttr::new(pkt.clone())
    };
    assert_eq!(run(&mut s, fd, &a), Err(Errno::E2BIG));
}

#[test]
fn raw_attr_rules() {
    let (mut s, pid, l) = loaded("xdp_trivial");
    let fd = prog_fd(&l, "xdp_pass");
    let pkt = ipv4_udp();
    let end = sim::attr::off::test::END;
    let mut m = sim::UserBufs::new();
    let din = m.input(&pkt);
    let mk = || {
        sim::attr::AttrBuf::default()
            .u32(0, fd as u32)
            .u32(8, pkt.len() as u32)
            .u64(16, din)
    };
    // A byte past batch_size: CHECK_ATTR.
    let mut a = mk().u32(76, 1).0;
    assert_eq!(
        s.raw(pid, sim::uapi::cmd::PROG_TEST_RUN, &mut a, 80, &mut m),
        Err(Errno::EINVAL)
    );
    // ctx_size_in without ctx_in.
    let mut a = mk().u32(40, 24).0;
    assert_eq!(
        s.raw(
            pid,
            sim::uapi::cmd::PROG_TEST_RUN,
            &mut a[..end],
            end as u32,
            &mut m
        ),
        Err(Errno::EINVAL)
    );
    // repeat 0 runs once; retval and duration written back into the attr.
    let mut a = mk().0;
    assert_eq!(
        s.raw(
            pid,
            sim::uapi::cmd::PROG_TEST_RUN,
            &mut a[..end],
            end as u32,
            &mut m
        ),
        Ok(0)
    );
    assert_eq!(u32::from_le_bytes(a[4..8].try_into().unwrap()), XDP_PASS);
    assert_eq!(u32::from_le_bytes(a[36..40].try_into().unwrap()), 2);
}

#[test]
fn program_types_without_a_test_run() {
    // sock_ops: the kernel has no test_run (ENOTSUPP, 524, as measured).
    let (mut s, pid, l) = loaded("seed_btf_lookup");
    let fd = prog_fd(&l, "my_prog");
    assert_eq!(
        s.run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(ipv4_udp()))),
        Err(Errno::ENOTSUPP)
    );
    // tc: runs now; tail_entry tail-calls tail_target0, which returns TC_ACT_SHOT (2).
    let (mut s, pid, l) = loaded("tailcall");
    let fd = prog_fd(&l, "tail_entry");
    let r = s
        .run(|k| k.prog_test_run(pid, fd, &TestRunAttr::new(ipv4_udp())))
        .expect("tc runs");
    assert_eq!(r.retval, 2);
    assert_eq!(r.data_out, ipv4_udp(), "tc keeps L2 in data_out");
    let hits = map_fd(&l, "hits");
    assert_eq!(
        [0, 1, 2, 3].map(|i| lookup_u64(&mut s, pid, hits, i)),
        [1, 1, 0, 0]
    );
}

#[test]
fn a_program_that_never_exits_is_e2big_with_the_typed_error() {
    let mut s = sys_with(KernelConfig {
        run_budget: 100_000,
        ..KernelConfig::default()
    });
    // r1 += 1 until it wraps to 0: 2^64 turns.
    let fd = xdp(
        &mut s,
        &[
            Insn::mov64_imm(0, 2),
            Insn::alu64_imm(BPF_ADD, 1, 1),
            Insn::jmp_imm(BPF_JNE, 1, 0, -2),
            Insn::exit(),
        ],
    );
    let root = s.root;
    let r = s.run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(ipv4_udp())));
    assert_eq!(r, Err(Errno::E2BIG));
    assert!(matches!(
        s.k.last_run_error(),
        Some(VmError::BudgetExceeded {
            executed: 100_000,
            ..
        })
    ));
    assert!(s.k.last_error().contains("budget"), "{}", s.k.last_error());
    // An out-of-bounds packet read: EACCES.
    let fd = xdp(
        &mut s,
        &[
            Insn::ldx_mem(BPF_W, 2, 1, 0),  // r2 = ctx->data
            Insn::ldx_mem(BPF_B, 0, 2, 64), // one past the 64-byte packet
            Insn::exit(),
        ],
    );
    let r = s.run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(ipv4_udp())));
    assert_eq!(r, Err(Errno::EACCES));
    assert!(matches!(
        s.k.last_run_error(),
        Some(VmError::OutOfBounds {
            pc: 1,
            len: 1,
            write: false,
            ..
        })
    ));
    // A later successful run clears it.
    let fd = xdp(&mut s, &[Insn::mov64_imm(0, 2), Insn::exit()]);
    s.run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(ipv4_udp())))
        .expect("ok");
    assert!(s.k.last_run_error().is_none());
}

#[test]
fn xdp_writes_the_packet() {
    let mut s = Sys::new();
    // data[0] = 0xaa; data_end - data in r0
    let fd = xdp(
        &mut s,
        &[
            Insn::ldx_mem(BPF_W, 2, 1, 0),
            Insn::ldx_mem(BPF_W, 3, 1, 4),
            Insn::st_mem(BPF_B, 2, 0, 0xaa),
            Insn::mov64_reg(0, 3),
            Insn::alu64_imm(BPF_SUB, 0, 0),
            Insn::raw(BPF_ALU64 | BPF_SUB | BPF_X, 0, 2, 0, 0),
            Insn::exit(),
        ],
    );
    let root = s.root;
    let pkt = ipv4_udp();
    let r = s
        .run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(pkt.clone())))
        .expect("run");
    assert_eq!(r.retval, 64);
    assert_eq!(r.data_out[0], 0xaa);
    assert_eq!(r.data_out[1..], pkt[1..]);
}

#[test]
fn socket_filter_sees_the_network_header_and_the_sk_buff() {
    let mut s = Sys::new();
    let root = s.root;
    // r6 = ctx; r0 = ldb [9] (IPv4 protocol, after the pulled Ethernet header);
    // r0 += skb->len << 8; r0 += protocol (be16 as stored) << 32.
    let insns = [
        Insn::mov64_reg(6, 1),
        Insn::raw(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 9),
        Insn::ldx_mem(BPF_W, 2, 6, 0),
        Insn::alu64_imm(BPF_LSH, 2, 8),
        Insn::raw(BPF_ALU64 | BPF_ADD | BPF_X, 0, 2, 0, 0),
        Insn::ldx_mem(BPF_W, 2, 6, 16),
        Insn::alu64_imm(BPF_LSH, 2, 20),
        Insn::raw(BPF_ALU64 | BPF_ADD | BPF_X, 0, 2, 0, 0),
        Insn::st_mem(BPF_W, 6, 48, 7), // cb[0] = 7
        Insn::exit(),
    ];
    let fd = s
        .run(|k| crate::support::load(k, root, "sf", &insns))
        .expect("socket filter");
    let pkt = ipv4_udp();
    let a = TestRunAttr {
        ctx_in: Some(vec![0u8; 192]),
        ctx_out: Some(192),
        ..TestRunAttr::new(pkt.clone())
    };
    let r = s.run(|k| k.prog_test_run(root, fd, &a)).expect("run");
    // ETH_P_IP as the kernel stores it (big-endian): 0x0008 when loaded little-endian.
    assert_eq!(r.retval, 17 + (50 << 8) + (0x0008 << 20));
    assert_eq!(
        r.data_out[..14],
        [0u8; 14],
        "the Ethernet header comes back zeroed"
    );
    assert_eq!(r.data_out[14..], pkt[14..]);
    assert_eq!(u32::from_le_bytes(r.ctx_out[48..52].try_into().unwrap()), 7);
    assert_eq!(u32::from_le_bytes(r.ctx_out[40..44].try_into().unwrap()), 1);
    // A context field that must be zero; cpu; exactly an Ethernet header.
    let mut bad = vec![0u8; 192];
    bad[0] = 1;
    let a = TestRunAttr {
        ctx_in: Some(bad),
        ..TestRunAttr::new(pkt.clone())
    };
    assert_eq!(s.run(|k| k.prog_test_run(root, fd, &a)), Err(Errno::EINVAL));
    let a = TestRunAttr {
        cpu: 1,
        ..TestRunAttr::new(pkt.clone())
    };
    assert_eq!(s.run(|k| k.prog_test_run(root, fd, &a)), Err(Errno::EINVAL));
    assert_eq!(
        s.run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(pkt[..14].to_vec()))),
        Err(Errno::EINVAL)
    );
}

#[test]
fn map_helpers_prandom_ktime_and_trace_printk() {
    let mut s = Sys::new();
    let root = s.root;
    let h = s
        .run(|k| k.map_create(root, &MapCreateAttr::new(map_type::HASH, 4, 8, 4).name("h")))
        .expect("hash");
    let mut insns = vec![
        // key = 1 at fp-4, value = 42 at fp-16
        Insn::st_mem(BPF_W, 10, -4, 1),
        Insn::st_mem(BPF_DW, 10, -16, 42),
    ];
    // update(h, &key, &value, BPF_NOEXIST)
    insns.extend(Insn::ld_map_fd(1, h));
    insns.extend([
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, -4),
        Insn::mov64_reg(3, 10),
        Insn::alu64_imm(BPF_ADD, 3, -16),
        Insn::mov64_imm(4, 1),
        Insn::call_helper(2),
        Insn::mov64_reg(7, 0), // r7 = update's result
    ]);
    // p = lookup(h, &key); *p += 1
    insns.extend(Insn::ld_map_fd(1, h));
    insns.extend([
        Insn::mov64_reg(2, 10),
        Insn::alu64_imm(BPF_ADD, 2, -4),
        Insn::call_helper(1),
        Insn::jeq_imm(0, 0, 3),
        Insn::ldx_mem(BPF_DW, 1, 0, 0),
        Insn::alu64_imm(BPF_ADD, 1, 1),
        Insn::stx_mem(BPF_DW, 0, 1, 0),
    ]);
    // trace_printk("n=%d\n", 6, r7)
    insns.extend([
        Insn::st_mem(BPF_W, 10, -24, i32::from_le_bytes(*b"n=%d")),
        Insn::st_mem(BPF_H, 10, -20, 0x000a),
        Insn::mov64_reg(1, 10),
        Insn::alu64_imm(BPF_ADD, 1, -24),
        Insn::mov64_imm(2, 6),
        Insn::mov64_reg(3, 7),
        Insn::call_helper(6),
        Insn::call_helper(7), // prandom
        Insn::mov64_reg(0, 0),
        Insn::exit(),
    ]);
    let fd = xdp(&mut s, &insns);
    let r1 = s
        .run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(ipv4_udp())))
        .expect("run 1");
    let mut v = [0u8; 8];
    s.run(|k| k.map_lookup_elem(root, h, &1u32.to_le_bytes(), &mut v, 0))
        .expect("element");
    assert_eq!(u64::from_le_bytes(v), 43);
    // Second run: NOEXIST fails with -EEXIST, the increment still happens.
    let r2 = s
        .run(|k| k.prog_test_run(root, fd, &TestRunAttr::new(ipv4_udp())))
        .expect("run 2");
    s.run(|k| k.map_lookup_elem(root, h, &1u32.to_le_bytes(), &mut v, 0))
        .expect("element");
    assert_eq!(u64::from_le_bytes(v), 44);
    let msgs: Vec<String> = s.k.trace_pipe().iter().map(|e| e.msg.clone()).collect();
    assert_eq!(msgs, ["n=0\n", "n=-17\n"]);
    assert!(s.k.trace_pipe()[0].line().contains("bpf_trace_printk: n=0"));
    // prandom: deterministic per seed, different between calls.
    assert_ne!(r1.retval, r2.retval);
    let mut t = Sys::new();
    let h2 = t
        .run(|k| {
            k.map_create(
                t_root(k),
                &MapCreateAttr::new(map_type::HASH, 4, 8, 4).name("h"),
            )
        })
        .expect("hash");
    assert_eq!(h2, h);
    let fd2 = xdp(&mut t, &insns);
    let troot = t.root;
    let again = t
        .run(|k| k.prog_test_run(troot, fd2, &TestRunAttr::new(ipv4_udp())))
        .expect("again");
    assert_eq!(again.retval, r1.retval);
}

fn t_root(_k: &sim::Kernel) -> sim::Pid {
    sim::Pid(1)
}

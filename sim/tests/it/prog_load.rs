//! `BPF_PROG_LOAD` (spec E1 order, E2 errno table, E3 tag, E4 xlated dump and map ids),
//! `BPF_PROG_BIND_MAP`, `BPF_OBJ_GET_INFO_BY_FD`, capabilities, the verifier log attributes,
//! limits and expected attach types — with the facts measured on the 6.18 machine.
//!
//! Not modeled, so not tested here as kernel behaviour: the verifier's semantic pass
//! (`do_check`: an `exit`-only program, `R0 !read_ok`, loads in the model although the kernel
//! says `EACCES`), exclusive maps (`excl_prog_hash` mismatch → `EACCES`), JIT, BTF, links.

use crate::support::*;
use sim::attr::{AttrBuf, off};
use sim::maps::info::{MAP_INFO_SIZE, PROG_INFO_SIZE, prog_info as pi};
use sim::prog::insn::{self, LD_IMM64};
use sim::prog::tag::TagHash;
use sim::uapi::{cmd, map_type, prog_type};
use sim::{Cred, Errno, Insn, KernelConfig, MapCreateAttr, Pid, ProgLoadAttr, UserBufs};

// ---- helpers --------------------------------------------------------------------------

/// A raw `BPF_PROG_LOAD` of `a` as `pid`, its attr bytes edited by `edit`, with a log buffer
/// of `log` bytes (0: none). Returns the result and the log text.
fn raw_load(
    s: &mut Sys,
    pid: Pid,
    a: &ProgLoadAttr,
    log: usize,
    edit: impl FnOnce(AttrBuf) -> AttrBuf,
) -> (Result<i64, Errno>, String) {
    let bytes = insn::encode(&a.insns);
    let mut license = a.license.clone().into_bytes();
    license.push(0);
    let mut logbuf = vec![0u8; log];
    let r = {
        let mut m = UserBufs::new();
        let (i, l) = (m.input(&bytes), m.input(&license));
        let lb = if log > 0 { m.output(&mut logbuf) } else { 0 };
        let mut attr = edit(a.encode(i, l, lb, log as u32)).0;
        let size = attr.len() as u32;
        s.raw(pid, cmd::PROG_LOAD, &mut attr, size, &mut m)
    };
    let text = logbuf
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    (r, text)
}

fn sf(insns: &[Insn]) -> ProgLoadAttr {
    ProgLoadAttr::new(prog_type::SOCKET_FILTER, insns)
}

fn try_load(s: &mut Sys, insns: &[Insn]) -> Result<i32, Errno> {
    let root = s.root;
    s.run(|k| load(k, root, "p", insns))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn tag_of(s: &mut Sys, fd: i32) -> String {
    let root = s.root;
    let info = s.run(|k| k.obj_get_info_by_fd(root, fd)).expect("info");
    hex(&info.info[pi::TAG..pi::TAG + 8])
}

fn map_ids(s: &mut Sys, fd: i32) -> Vec<u32> {
    let root = s.root;
    s.run(|k| k.obj_get_info_by_fd(root, fd))
        .expect("info")
        .map_ids
}

/// An ARRAY(4, value_size, max_entries).
fn array(s: &mut Sys, value_size: u32, max_entries: u32) -> i32 {
    let root = s.root;
    s.run(|k| {
        k.map_create(
            root,
            &MapCreateAttr::new(map_type::ARRAY, 4, value_size, max_entries),
        )
    })
    .expect("array")
}

fn hash(s: &mut Sys) -> i32 {
    let root = s.root;
    s.run(|k| k.map_create(root, &MapCreateAttr::new(map_type::HASH, 4, 8, 4)))
        .expect("hash")
}

fn with_value(fd: i32, off: i32) -> Vec<Insn> {
    let mut v = Insn::ld_map_value(1, fd, off).to_vec();
    v.extend(trivial());
    v
}

/// The next program id the machine will hand out (probe load, then close it).
fn next_prog_id(s: &mut Sys) -> u32 {
    let root = s.root;
    let fd = try_load(s, &trivial()).expect("probe");
    let id = s.id_of(root, fd);
    s.run(|k| k.close(root, fd)).expect("close");
    s.run(|k| k.synchronize());
    id
}

/// A raw `OBJ_GET_INFO_BY_FD` with `info` as the buffer and `info_len`; returns the result
/// and the `info_len` written back.
fn raw_info(s: &mut Sys, fd: i32, info: &mut [u8], info_len: u32) -> (Result<i64, Errno>, u32) {
    let root = s.root;
    let mut m = UserBufs::new();
    let i = m.output(info);
    let mut attr = AttrBuf::default()
        .u32(off::info::BPF_FD, fd as u32)
        .u32(off::info::INFO_LEN, info_len)
        .u64(off::info::INFO, i)
        .0;
    let r = s.raw(root, cmd::OBJ_GET_INFO_BY_FD, &mut attr, 168, &mut m);
    (r, u32::from_le_bytes(attr[4..8].try_into().unwrap()))
}

fn raw_bind(s: &mut Sys, prog: i32, map: i32, flags: u32) -> Result<i64, Errno> {
    let root = s.root;
    let mut attr = AttrBuf::default()
        .u32(off::bind_map::PROG_FD, prog as u32)
        .u32(off::bind_map::MAP_FD, map as u32)
        .u32(off::bind_map::FLAGS, flags)
        .0;
    s.raw(
        root,
        cmd::PROG_BIND_MAP,
        &mut attr,
        168,
        &mut UserBufs::new(),
    )
}

// ---- E1: the order of the checks ---------------------------------------------------------

#[test]
fn e1_prog_flags_checked_before_privilege() {
    let mut s = Sys::new();
    let user = s.k.spawn("user", Cred::user(1000, 1000));
    let a = sf(&trivial()).flags(1 << 30);
    assert_eq!(raw_load(&mut s, user, &a, 0, |b| b).0, Err(Errno::EINVAL));
    let a = sf(&trivial());
    assert_eq!(raw_load(&mut s, user, &a, 0, |b| b).0, Err(Errno::EPERM));
}

#[test]
fn e1_privilege_checked_before_insn_cnt() {
    let mut s = Sys::new();
    let user = s.k.spawn("user", Cred::user(1000, 1000));
    let a = sf(&[]);
    assert_eq!(raw_load(&mut s, user, &a, 0, |b| b).0, Err(Errno::EPERM));
    let root = s.root;
    assert_eq!(raw_load(&mut s, root, &a, 0, |b| b).0, Err(Errno::E2BIG));
}

#[test]
fn e1_insn_cnt_checked_before_attach_type_before_copy_before_prog_type() {
    let mut s = Sys::new();
    let root = s.root;
    // insn_cnt 0 with a bad expected_attach_type: E2BIG first.
    let a = ProgLoadAttr::new(prog_type::CGROUP_SOCK, &[]).attach_type(1);
    assert_eq!(raw_load(&mut s, root, &a, 0, |b| b).0, Err(Errno::E2BIG));
    // A bad expected_attach_type with a NULL insns pointer: EINVAL before EFAULT.
    let a = ProgLoadAttr::new(prog_type::CGROUP_SOCK, &trivial()).attach_type(1);
    let null_insns = |b: AttrBuf| b.u64(off::prog_load::INSNS, 0);
    assert_eq!(
        raw_load(&mut s, root, &a, 0, null_insns).0,
        Err(Errno::EINVAL)
    );
    // A NULL insns pointer with an unknown prog_type: EFAULT before the type lookup.
    let a = ProgLoadAttr::new(1000, &trivial());
    assert_eq!(
        raw_load(&mut s, root, &a, 0, null_insns).0,
        Err(Errno::EFAULT)
    );
    // A NULL license pointer too.
    let a = sf(&trivial());
    let null_lic = |b: AttrBuf| b.u64(off::prog_load::LICENSE, 0);
    assert_eq!(
        raw_load(&mut s, root, &a, 0, null_lic).0,
        Err(Errno::EFAULT)
    );
}

#[test]
fn e1_structure_checked_before_map_resolution_before_cfg() {
    let mut s = Sys::new();
    // check_subprogs (jump out of range) comes before resolve_pseudo_ldimm64 (bad fd).
    let mut insns = Insn::ld_map_fd(1, 9999).to_vec();
    insns.extend([Insn::ja(5), Insn::mov64_imm(0, 0), Insn::exit()]);
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EINVAL));
    // resolve_pseudo_ldimm64 (bad fd) comes before check_cfg (unreachable insn).
    let mut insns = Insn::ld_map_fd(1, 9999).to_vec();
    insns.extend([
        Insn::mov64_imm(0, 0),
        Insn::exit(),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ]);
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EBADF));
}

#[test]
fn e1_log_attributes_checked_before_the_program() {
    let mut s = Sys::new();
    let root = s.root;
    let a = ProgLoadAttr {
        log_level: 1 << 10,
        ..sf(&uses_map(9999))
    };
    assert_eq!(raw_load(&mut s, root, &a, 0, |b| b).0, Err(Errno::EINVAL));
}

#[test]
fn e1_failed_load_consumes_no_prog_id() {
    let mut s = Sys::new();
    let first = next_prog_id(&mut s);
    assert_eq!(
        try_load(&mut s, &[Insn::mov64_imm(0, 0)]),
        Err(Errno::EINVAL)
    );
    assert_eq!(try_load(&mut s, &uses_map(9999)), Err(Errno::EBADF));
    assert_eq!(next_prog_id(&mut s), first + 1);
}

// ---- E2: the errno table --------------------------------------------------------------------
//
// Rows of the spec's E2 table that depend on the verifier's semantic pass and are NOT modeled:
//   * "R0 not initialised at exit" → EACCES (the model loads an `exit`-only program);
//   * "exclusive map whose excl_prog_hash ≠ this prog's digest" → EACCES.

#[test]
fn e2_insn_cnt_zero_or_above_one_million_is_e2big() {
    let mut s = Sys::new();
    let root = s.root;
    assert_eq!(
        raw_load(&mut s, root, &sf(&[]), 0, |b| b).0,
        Err(Errno::E2BIG)
    );
    let big = |b: AttrBuf| b.u32(off::prog_load::INSN_CNT, 1_000_001);
    assert_eq!(
        raw_load(&mut s, root, &sf(&trivial()), 0, big).0,
        Err(Errno::E2BIG)
    );
}

#[test]
fn e2_prog_type_0_or_1000_is_einval() {
    let mut s = Sys::new();
    let root = s.root;
    for t in [0, 1000, prog_type::MAX] {
        let a = ProgLoadAttr::new(t, &trivial());
        assert_eq!(
            raw_load(&mut s, root, &a, 0, |b| b).0,
            Err(Errno::EINVAL),
            "type {t}"
        );
    }
}

#[test]
fn e2_unknown_prog_flags_bit_is_einval() {
    let mut s = Sys::new();
    let root = s.root;
    let a = sf(&trivial()).flags(1 << 20);
    assert_eq!(raw_load(&mut s, root, &a, 0, |b| b).0, Err(Errno::EINVAL));
}

#[test]
fn e2_bad_prog_name_is_einval() {
    let mut s = Sys::new();
    let root = s.root;
    let a = sf(&trivial()).name("bad-name");
    assert_eq!(raw_load(&mut s, root, &a, 0, |b| b).0, Err(Errno::EINVAL));
    // 16 characters with no NUL.
    let a = sf(&trivial()).name("abcdefghijklmnop");
    assert_eq!(raw_load(&mut s, root, &a, 0, |b| b).0, Err(Errno::EINVAL));
    let a = sf(&trivial()).name("abcdefghijklmno");
    let fd = raw_load(&mut s, root, &a, 0, |b| b).0.expect("15 chars") as i32;
    let info = s.run(|k| k.obj_get_info_by_fd(root, fd)).expect("info");
    assert_eq!(info.name(pi::NAME), "abcdefghijklmno");
}

#[test]
fn e2_no_exit_is_einval() {
    let mut s = Sys::new();
    assert_eq!(
        try_load(&mut s, &[Insn::mov64_imm(0, 0)]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn e2_unreachable_insn_is_einval() {
    let mut s = Sys::new();
    let insns = [
        Insn::mov64_imm(0, 0),
        Insn::exit(),
        Insn::mov64_imm(0, 1),
        Insn::exit(),
    ];
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EINVAL));
}

#[test]
fn e2_jump_out_of_range_is_einval() {
    let mut s = Sys::new();
    let insns = [Insn::mov64_imm(0, 0), Insn::ja(5), Insn::exit()];
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EINVAL));
    // `ja +0` as the last insn (measured on 6.18).
    assert_eq!(
        try_load(&mut s, &[Insn::mov64_imm(0, 0), Insn::ja(0)]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn e2_back_edge_infinite_loop_is_einval() {
    let mut s = Sys::new();
    let insns = [Insn::mov64_imm(0, 0), Insn::ja(-1), Insn::exit()];
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EINVAL));
}

#[test]
fn e2_jump_into_second_half_of_ld_imm64_is_einval() {
    let mut s = Sys::new();
    let mut insns = vec![Insn::jeq_imm(1, 0, 1)];
    insns.extend(Insn::ld_imm64(2, 7));
    insns.extend(trivial());
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EINVAL));
}

#[test]
fn e2_unknown_opcode_is_einval() {
    let mut s = Sys::new();
    let insns = [
        Insn::raw(0xff, 0, 0, 0, 0),
        Insn::mov64_imm(0, 0),
        Insn::exit(),
    ];
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EINVAL));
}

#[test]
fn e2_ld_imm64_map_fd_not_open_is_ebadf() {
    let mut s = Sys::new();
    assert_eq!(try_load(&mut s, &uses_map(9999)), Err(Errno::EBADF));
    assert_eq!(try_load(&mut s, &with_value(9999, 0)), Err(Errno::EBADF));
}

#[test]
fn e2_ld_imm64_map_fd_not_a_map_is_einval() {
    let mut s = Sys::new();
    let root = s.root;
    let null = s.run(|k| k.open_null(root)).expect("null");
    assert_eq!(try_load(&mut s, &uses_map(null)), Err(Errno::EINVAL));
    let prog = try_load(&mut s, &trivial()).expect("prog");
    assert_eq!(try_load(&mut s, &uses_map(prog)), Err(Errno::EINVAL));
    assert_eq!(try_load(&mut s, &with_value(prog, 0)), Err(Errno::EINVAL));
}

#[test]
fn e2_ld_imm64_map_fd_with_second_half_imm_is_einval() {
    let mut s = Sys::new();
    let fd = array(&mut s, 8, 4);
    let mut insns = Insn::ld_imm64_raw(1, 1, fd, 5).to_vec();
    insns.extend(trivial());
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EINVAL));
}

#[test]
fn e2_ld_imm64_unknown_src_reg_is_einval() {
    let mut s = Sys::new();
    let fd = array(&mut s, 8, 4);
    let mut insns = Insn::ld_imm64_raw(1, 7, fd, 0).to_vec();
    insns.extend(trivial());
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EINVAL));
}

#[test]
fn e2_ld_imm64_as_last_insn_is_einval() {
    let mut s = Sys::new();
    let insns = [
        Insn::mov64_imm(0, 0),
        Insn::exit(),
        Insn::raw(LD_IMM64, 1, 0, 0, 0),
    ];
    assert_eq!(try_load(&mut s, &insns), Err(Errno::EINVAL));
}

#[test]
fn e2_map_value_needs_array_with_one_entry_and_offset_below_value_size() {
    let mut s = Sys::new();
    let one = array(&mut s, 8, 1);
    assert!(try_load(&mut s, &with_value(one, 0)).is_ok());
    assert!(try_load(&mut s, &with_value(one, 7)).is_ok());
    assert_eq!(try_load(&mut s, &with_value(one, 8)), Err(Errno::EINVAL));
    assert_eq!(
        try_load(&mut s, &with_value(one, 1 << 29)),
        Err(Errno::EINVAL)
    );
    let four = array(&mut s, 8, 4);
    assert_eq!(
        try_load(&mut s, &with_value(four, 0)),
        Err(Errno::ENOTSUPP),
        "max_entries 4 is 524 even at offset 0"
    );
    let h = hash(&mut s);
    assert_eq!(try_load(&mut s, &with_value(h, 0)), Err(Errno::EINVAL));
}

#[test]
fn e2_more_than_64_distinct_maps_is_e2big_takes_no_id_and_releases_the_maps() {
    let mut s = Sys::new();
    let root = s.root;
    let first = next_prog_id(&mut s);
    let fds: Vec<i32> = (0..65).map(|_| array(&mut s, 8, 1)).collect();
    let ids: Vec<u32> = fds.iter().map(|&fd| s.id_of(root, fd)).collect();
    let mut insns = Vec::new();
    for (r, &fd) in fds.iter().enumerate() {
        insns.extend(Insn::ld_map_fd(1 + (r % 5) as u8, fd));
    }
    insns.extend(trivial());
    assert_eq!(try_load(&mut s, &insns), Err(Errno::E2BIG));
    for &id in &ids {
        assert_eq!(
            s.map_counts(id),
            Some((1, 1)),
            "map {id} holds no extra ref"
        );
    }
    assert!(!s.k.has_pending_work());
    // 64 distinct maps, one of them referenced twice, is fine.
    let mut insns = Vec::new();
    for &fd in fds[..64].iter().chain(&fds[..1]) {
        insns.extend(Insn::ld_map_fd(1, fd));
    }
    insns.extend(trivial());
    let fd = try_load(&mut s, &insns).expect("64 maps");
    assert_eq!(s.id_of(root, fd), first + 1, "the failed load used no id");
    assert_eq!(map_ids(&mut s, fd).len(), 64);
}

#[test]
fn e2_log_attribute_combinations_are_einval() {
    let mut s = Sys::new();
    let root = s.root;
    // log_level 0 with a log_buf.
    let a = sf(&trivial());
    assert_eq!(raw_load(&mut s, root, &a, 64, |b| b).0, Err(Errno::EINVAL));
    // log_buf with log_size 0.
    let a = ProgLoadAttr {
        log_level: 1,
        ..sf(&trivial())
    };
    let no_size = |b: AttrBuf| b.u32(off::prog_load::LOG_SIZE, 0);
    assert_eq!(
        raw_load(&mut s, root, &a, 64, no_size).0,
        Err(Errno::EINVAL)
    );
    // log_size without a log_buf.
    let size_only = |b: AttrBuf| b.u32(off::prog_load::LOG_SIZE, 64);
    assert_eq!(
        raw_load(&mut s, root, &a, 0, size_only).0,
        Err(Errno::EINVAL)
    );
    // Unknown log_level bits.
    let a = ProgLoadAttr {
        log_level: 16,
        ..sf(&trivial())
    };
    assert_eq!(raw_load(&mut s, root, &a, 64, |b| b).0, Err(Errno::EINVAL));
    // log_level 1, no buffer, size 0: accepted, the log discarded.
    let a = ProgLoadAttr {
        log_level: 1,
        ..sf(&trivial())
    };
    assert!(raw_load(&mut s, root, &a, 0, |b| b).0.is_ok());
    // A big enough log: accepted.
    let (r, text) = raw_load(&mut s, root, &a, 4096, |b| b);
    assert!(r.is_ok(), "{r:?}");
    assert!(!text.is_empty());
}

#[test]
fn e2_log_too_small_is_enospc_even_on_success_and_leaves_nothing_behind() {
    let mut s = Sys::new();
    let root = s.root;
    let map = array(&mut s, 8, 4);
    let map_id = s.id_of(root, map);
    let first = next_prog_id(&mut s);
    let a = ProgLoadAttr {
        log_level: 1,
        ..sf(&uses_map(map))
    };
    let (r, text) = raw_load(&mut s, root, &a, 4, |b| b);
    assert_eq!(r, Err(Errno::ENOSPC));
    assert_eq!(
        text.len(),
        3,
        "the log is truncated to the buffer: {text:?}"
    );
    assert_eq!(s.k.prog_get_next_id(root, 0), Err(Errno::ENOENT), "no prog");
    assert_eq!(s.k.bpf_fds().len(), 1, "no prog fd: only the map's");
    assert_eq!(
        s.map_counts(map_id),
        Some((1, 1)),
        "the map reference is put synchronously"
    );
    assert!(!s.k.has_pending_work());
    let fd = try_load(&mut s, &trivial()).expect("load");
    assert_eq!(s.id_of(root, fd), first + 1, "the ENOSPC load used no id");
}

#[test]
fn e2_log_too_small_overrides_the_verifier_error() {
    let mut s = Sys::new();
    let root = s.root;
    let a = ProgLoadAttr {
        log_level: 1,
        ..sf(&[Insn::mov64_imm(0, 0)])
    };
    assert_eq!(raw_load(&mut s, root, &a, 2, |b| b).0, Err(Errno::ENOSPC));
    let (r, text) = raw_load(&mut s, root, &a, 4096, |b| b);
    assert_eq!(r, Err(Errno::EINVAL));
    assert!(!text.is_empty(), "the error is logged");
}

#[test]
fn e2_non_gpl_license_is_accepted() {
    let mut s = Sys::new();
    let root = s.root;
    let fd = s
        .run(|k| k.prog_load(root, &sf(&trivial()).license("Proprietary")))
        .expect("load");
    let info = s.run(|k| k.obj_get_info_by_fd(root, fd)).expect("info");
    assert_eq!(info.u32(pi::GPL_COMPATIBLE), 0);
    let fd = s
        .run(|k| k.prog_load(root, &sf(&trivial()).license("Dual BSD/GPL")))
        .expect("load");
    let info = s.run(|k| k.obj_get_info_by_fd(root, fd)).expect("info");
    assert_eq!(info.u32(pi::GPL_COMPATIBLE), 1);
}

#[test]
fn e2_exit_only_program_loads_in_the_model() {
    // NOT kernel behaviour: the kernel says EACCES (R0 !read_ok) from do_check, which the
    // model does not run. This pins the model's documented limitation.
    let mut s = Sys::new();
    assert!(try_load(&mut s, &[Insn::exit()]).is_ok());
}

// ---- E3: the tag ---------------------------------------------------------------------------

#[test]
fn e3_tag_is_sha256_of_the_instructions() {
    let mut s = Sys::new();
    let fd = try_load(&mut s, &trivial()).expect("load");
    assert_eq!(tag_of(&mut s, fd), "59f4a931744dcdc6");
}

#[test]
fn e3_tag_is_sha1_on_a_sha1_kernel() {
    let mut s = sys_with(KernelConfig {
        tag_hash: TagHash::Sha1,
        ..KernelConfig::default()
    });
    let fd = try_load(&mut s, &trivial()).expect("load");
    assert_eq!(tag_of(&mut s, fd), "a04f5eef06a7f555");
}

#[test]
fn e3_tag_masks_map_fds_and_map_value_offsets() {
    let mut s = Sys::new();
    let a = array(&mut s, 8, 1);
    let b = array(&mut s, 8, 1);
    assert_ne!(a, b);
    let pa = try_load(&mut s, &uses_map(a)).expect("a");
    let pb = try_load(&mut s, &uses_map(b)).expect("b");
    assert_eq!(tag_of(&mut s, pa), tag_of(&mut s, pb), "fd masked");
    let va = try_load(&mut s, &with_value(a, 0)).expect("value 0");
    let vb = try_load(&mut s, &with_value(b, 4)).expect("value 4");
    assert_eq!(tag_of(&mut s, va), tag_of(&mut s, vb), "offset masked");
    assert_ne!(tag_of(&mut s, pa), tag_of(&mut s, va), "src_reg is hashed");
    let expect = hex(&sim::prog::tag::prog_tag(
        &with_value(0, 0),
        TagHash::Sha256,
    ));
    assert_eq!(tag_of(&mut s, va), expect, "sha256 of the imm-zeroed insns");
}

#[test]
fn e3_tag_does_not_mask_plain_immediates() {
    let mut s = Sys::new();
    let a = try_load(&mut s, &[Insn::mov64_imm(0, 0), Insn::exit()]).expect("a");
    let b = try_load(&mut s, &[Insn::mov64_imm(0, 1), Insn::exit()]).expect("b");
    assert_ne!(tag_of(&mut s, a), tag_of(&mut s, b));
    let mut c = Insn::ld_imm64(1, 5).to_vec();
    c.extend(trivial());
    let mut d = Insn::ld_imm64(1, 6).to_vec();
    d.extend(trivial());
    let (c, d) = (
        try_load(&mut s, &c).expect("c"),
        try_load(&mut s, &d).expect("d"),
    );
    assert_ne!(tag_of(&mut s, c), tag_of(&mut s, d));
}

// ---- E4: the xlated dump and map ids --------------------------------------------------------

#[test]
fn e4_xlated_shows_map_refs_as_map_ids() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s, 8, 1);
    let m_id = s.id_of(root, m);
    let mut insns = Insn::ld_map_fd(1, m).to_vec();
    insns.extend(Insn::ld_map_value(2, m, 4));
    insns.extend(trivial());
    let fd = try_load(&mut s, &insns).expect("load");
    let info = s.run(|k| k.obj_get_info_by_fd(root, fd)).expect("info");
    assert_eq!(info.u32(pi::XLATED_PROG_LEN), 6 * 8);
    let x = insn::decode(&info.xlated);
    assert_eq!(x.len(), 6);
    assert_eq!(
        (x[0].code, x[0].dst, x[0].src, x[0].imm),
        (LD_IMM64, 1, 1, m_id as i32)
    );
    assert_eq!(x[1].imm, 0);
    assert_eq!(
        (x[2].code, x[2].dst, x[2].src, x[2].imm),
        (LD_IMM64, 2, 2, m_id as i32)
    );
    assert_eq!(x[3].imm, 4, "the offset in the second half");
    assert_eq!(&x[4..], &trivial()[..]);
    assert_eq!(info.map_ids, vec![m_id]);
}

#[test]
fn e4_map_ids_in_first_reference_order_each_once() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s, 8, 4);
    let b = array(&mut s, 8, 4);
    let (a_id, b_id) = (s.id_of(root, a), s.id_of(root, b));
    // Two references to one map: one id.
    let mut insns = Insn::ld_map_fd(1, a).to_vec();
    insns.extend(Insn::ld_map_fd(2, a));
    insns.extend(trivial());
    let p = try_load(&mut s, &insns).expect("a a");
    let info = s.run(|k| k.obj_get_info_by_fd(root, p)).expect("info");
    assert_eq!(info.u32(pi::NR_MAP_IDS), 1);
    // B, A, B... here A, B, A.
    let mut insns = Insn::ld_map_fd(1, b).to_vec();
    insns.extend(Insn::ld_map_fd(2, a));
    insns.extend(Insn::ld_map_fd(3, b));
    insns.extend(trivial());
    let p = try_load(&mut s, &insns).expect("b a b");
    assert_eq!(map_ids(&mut s, p), vec![b_id, a_id]);
    let mut insns = Insn::ld_map_fd(1, a).to_vec();
    insns.extend(Insn::ld_map_fd(2, b));
    insns.extend(Insn::ld_map_fd(3, a));
    insns.extend(trivial());
    let p = try_load(&mut s, &insns).expect("a b a");
    assert_eq!(map_ids(&mut s, p), vec![a_id, b_id]);
}

#[test]
fn e4_prog_bind_map_appends_to_map_ids() {
    let mut s = Sys::new();
    let root = s.root;
    let a = array(&mut s, 8, 4);
    let b = array(&mut s, 8, 4);
    let c = hash(&mut s);
    let ids = [s.id_of(root, a), s.id_of(root, b), s.id_of(root, c)];
    let p = try_load(&mut s, &uses_map(b)).expect("load");
    s.run(|k| k.prog_bind_map(root, p, c)).expect("bind c");
    s.run(|k| k.prog_bind_map(root, p, a)).expect("bind a");
    s.run(|k| k.prog_bind_map(root, p, b))
        .expect("bind b: already used");
    assert_eq!(map_ids(&mut s, p), vec![ids[1], ids[2], ids[0]]);
}

// ---- PROG_BIND_MAP ---------------------------------------------------------------------------

#[test]
fn prog_bind_map_flags_must_be_zero() {
    let mut s = Sys::new();
    let m = array(&mut s, 8, 4);
    let p = try_load(&mut s, &trivial()).expect("load");
    assert_eq!(raw_bind(&mut s, p, m, 1), Err(Errno::EINVAL));
    assert_eq!(map_ids(&mut s, p), Vec::<u32>::new());
    assert_eq!(raw_bind(&mut s, p, m, 0), Ok(0));
}

#[test]
fn prog_bind_map_twice_is_ok_and_binds_once() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s, 8, 4);
    let id = s.id_of(root, m);
    let p = try_load(&mut s, &trivial()).expect("load");
    assert_eq!(raw_bind(&mut s, p, m, 0), Ok(0));
    assert_eq!(raw_bind(&mut s, p, m, 0), Ok(0));
    let info = s.run(|k| k.obj_get_info_by_fd(root, p)).expect("info");
    assert_eq!(info.u32(pi::NR_MAP_IDS), 1);
    assert_eq!(s.map_counts(id), Some((2, 1)));
}

#[test]
fn prog_bind_map_fd_errors_prog_checked_first() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s, 8, 4);
    let p = try_load(&mut s, &trivial()).expect("load");
    let null = s.run(|k| k.open_null(root)).expect("null");
    assert_eq!(
        raw_bind(&mut s, p, p, 0),
        Err(Errno::EINVAL),
        "map fd is a prog"
    );
    assert_eq!(
        raw_bind(&mut s, m, m, 0),
        Err(Errno::EINVAL),
        "prog fd is a map"
    );
    assert_eq!(raw_bind(&mut s, 9999, m, 0), Err(Errno::EBADF));
    assert_eq!(raw_bind(&mut s, p, 9999, 0), Err(Errno::EBADF));
    assert_eq!(raw_bind(&mut s, p, null, 0), Err(Errno::EINVAL));
    // The program is looked up first.
    assert_eq!(raw_bind(&mut s, 9999, null, 0), Err(Errno::EBADF));
    assert_eq!(raw_bind(&mut s, m, 9999, 0), Err(Errno::EINVAL));
}

// ---- OBJ_GET_INFO_BY_FD ------------------------------------------------------------------------

#[test]
fn info_fd_not_open_is_ebadfd_non_bpf_fd_is_einval() {
    let mut s = Sys::new();
    let root = s.root;
    let mut buf = vec![0u8; 256];
    assert_eq!(raw_info(&mut s, 9999, &mut buf, 256).0, Err(Errno::EBADFD));
    assert_eq!(Errno::EBADFD.0, 77);
    let null = s.run(|k| k.open_null(root)).expect("null");
    assert_eq!(raw_info(&mut s, null, &mut buf, 256).0, Err(Errno::EINVAL));
}

#[test]
fn info_len_is_clamped_to_the_struct_and_written_back() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s, 8, 4);
    let p = try_load(&mut s, &trivial()).expect("load");
    let mut buf = vec![0u8; 512];
    assert_eq!(
        raw_info(&mut s, m, &mut buf, 512),
        (Ok(0), MAP_INFO_SIZE as u32)
    );
    assert_eq!(MAP_INFO_SIZE, 104);
    assert_eq!(
        u32::from_le_bytes(buf[4..8].try_into().unwrap()),
        s.id_of(root, m)
    );
    assert!(
        buf[104..].iter().all(|&b| b == 0),
        "nothing past the struct"
    );
    let mut buf = vec![0u8; 512];
    assert_eq!(
        raw_info(&mut s, p, &mut buf, 512),
        (Ok(0), PROG_INFO_SIZE as u32)
    );
    assert_eq!(PROG_INFO_SIZE, 232);
    // info_len 8 copies 8 bytes (type, id) and writes back 8.
    let mut buf = vec![0xaau8; 16];
    assert_eq!(raw_info(&mut s, m, &mut buf, 8), (Ok(0), 8));
    assert_eq!(
        u32::from_le_bytes(buf[0..4].try_into().unwrap()),
        map_type::ARRAY
    );
    assert_eq!(buf[8..], [0xaa; 8], "nothing copied past info_len");
    let mut buf = vec![0xaau8; 16];
    assert_eq!(raw_info(&mut s, p, &mut buf, 8), (Ok(0), 8));
    assert_eq!(
        u32::from_le_bytes(buf[0..4].try_into().unwrap()),
        prog_type::SOCKET_FILTER
    );
}

#[test]
fn info_non_zero_tail_past_the_last_field_is_e2big() {
    let mut s = Sys::new();
    let m = array(&mut s, 8, 4);
    let p = try_load(&mut s, &trivial()).expect("load");
    for at in [100, 103, 200] {
        let mut buf = vec![0u8; 512];
        buf[at] = 1;
        assert_eq!(
            raw_info(&mut s, m, &mut buf, 512).0,
            Err(Errno::E2BIG),
            "map byte {at}"
        );
    }
    for at in [228, 231, 300] {
        let mut buf = vec![0u8; 512];
        buf[at] = 1;
        assert_eq!(
            raw_info(&mut s, p, &mut buf, 512).0,
            Err(Errno::E2BIG),
            "prog byte {at}"
        );
    }
    // A non-zero byte within the struct is an input, not a tail.
    let mut buf = vec![0u8; 512];
    buf[99] = 0;
    buf[60] = 1;
    assert!(raw_info(&mut s, m, &mut buf, 512).0.is_ok());
}

#[test]
fn info_xlated_len_with_null_pointer_is_efault() {
    let mut s = Sys::new();
    let p = try_load(&mut s, &trivial()).expect("load");
    let mut buf = vec![0u8; PROG_INFO_SIZE];
    buf[pi::XLATED_PROG_LEN..pi::XLATED_PROG_LEN + 4].copy_from_slice(&16u32.to_le_bytes());
    assert_eq!(
        raw_info(&mut s, p, &mut buf, PROG_INFO_SIZE as u32).0,
        Err(Errno::EFAULT)
    );
}

#[test]
fn info_prog_reports_type_id_name_uid_and_map_count() {
    let mut s = Sys::new();
    let root = s.root;
    let m = array(&mut s, 8, 4);
    let p = s
        .run(|k| load(k, root, "named", &uses_map(m)))
        .expect("load");
    let info = s.run(|k| k.obj_get_info_by_fd(root, p)).expect("info");
    assert_eq!(info.u32(pi::TYPE), prog_type::SOCKET_FILTER);
    assert_eq!(info.name(pi::NAME), "named");
    assert_eq!(info.u32(pi::CREATED_BY_UID), 0);
    assert_eq!(info.u32(pi::NR_MAP_IDS), 1);
    assert_ne!(info.u32(pi::ID), 0);
}

// ---- capabilities ----------------------------------------------------------------------------

#[test]
fn cap_unprivileged_load_is_eperm_when_unprivileged_bpf_disabled() {
    let mut s = Sys::new();
    let user = s.k.spawn("user", Cred::user(1000, 1000));
    assert_eq!(s.run(|k| load(k, user, "p", &trivial())), Err(Errno::EPERM));
}

#[test]
fn cap_unprivileged_socket_filter_allowed_when_enabled_xdp_is_eperm() {
    let mut s = sys_with(KernelConfig {
        unprivileged_bpf_disabled: 0,
        ..KernelConfig::default()
    });
    let user = s.k.spawn("user", Cred::user(1000, 1000));
    let fd = s
        .run(|k| load(k, user, "p", &trivial()))
        .expect("socket filter");
    let id = s.id_of(user, fd);
    let info = {
        let mut buf = vec![0u8; PROG_INFO_SIZE];
        let mut m = UserBufs::new();
        let i = m.output(&mut buf);
        let mut attr = AttrBuf::default()
            .u32(off::info::BPF_FD, fd as u32)
            .u32(off::info::INFO_LEN, PROG_INFO_SIZE as u32)
            .u64(off::info::INFO, i)
            .0;
        s.raw(user, cmd::OBJ_GET_INFO_BY_FD, &mut attr, 168, &mut m)
            .expect("info");
        buf
    };
    let uid = u32::from_le_bytes(
        info[pi::CREATED_BY_UID..pi::CREATED_BY_UID + 4]
            .try_into()
            .unwrap(),
    );
    assert_eq!(uid, 1000);
    let xlen = u32::from_le_bytes(
        info[pi::XLATED_PROG_LEN..pi::XLATED_PROG_LEN + 4]
            .try_into()
            .unwrap(),
    );
    assert_eq!(xlen, 0, "no xlated dump without bpf_capable()");
    let root = s.root;
    let rfd = s.run(|k| k.prog_get_fd_by_id(root, id)).expect("by id");
    let rinfo = s.run(|k| k.obj_get_info_by_fd(root, rfd)).expect("info");
    assert_eq!(rinfo.u32(pi::XLATED_PROG_LEN), 16, "root sees it");
    assert!(s.prog_listed(id));
    let a = ProgLoadAttr::new(prog_type::XDP, &trivial());
    assert_eq!(s.run(|k| k.prog_load(user, &a)), Err(Errno::EPERM));
    let a = ProgLoadAttr::new(prog_type::KPROBE, &trivial());
    assert_eq!(s.run(|k| k.prog_load(user, &a)), Err(Errno::EPERM));
    // Unprivileged programs are limited to 4096 instructions.
    let mut long = vec![Insn::mov64_imm(0, 0); 4096];
    long.push(Insn::exit());
    assert_eq!(s.run(|k| load(k, user, "p", &long)), Err(Errno::E2BIG));
}

#[test]
fn cap_bpf_without_net_admin_cannot_load_xdp() {
    use sim::uapi::cap;
    let mut s = Sys::new();
    let mut cred = Cred::user(1000, 1000);
    cred.caps = sim::CapSet::of(&[cap::BPF]);
    let p = s.k.spawn("bpf-only", cred);
    assert!(s.run(|k| load(k, p, "p", &trivial())).is_ok());
    let a = ProgLoadAttr::new(prog_type::XDP, &trivial());
    assert_eq!(s.run(|k| k.prog_load(p, &a)), Err(Errno::EPERM));
    cred.caps = sim::CapSet::of(&[cap::BPF, cap::NET_ADMIN]);
    s.k.set_cred(p, cred).expect("set cred");
    assert!(s.run(|k| k.prog_load(p, &a)).is_ok());
}

// ---- expected_attach_type --------------------------------------------------------------------

#[test]
fn expected_attach_type_rules() {
    let mut s = Sys::new();
    let root = s.root;
    let cases: &[(u32, u32, Result<(), Errno>)] = &[
        // CGROUP_SOCK: 0 is fixed up to BPF_CGROUP_INET_SOCK_CREATE (2).
        (prog_type::CGROUP_SOCK, 0, Ok(())),
        (prog_type::CGROUP_SOCK, 2, Ok(())),
        (prog_type::CGROUP_SOCK, 12, Ok(())),
        (prog_type::CGROUP_SOCK, 1, Err(Errno::EINVAL)),
        (prog_type::CGROUP_SKB, 0, Ok(())),
        (prog_type::CGROUP_SKB, 1, Ok(())),
        (prog_type::CGROUP_SKB, 2, Err(Errno::EINVAL)),
        (prog_type::SK_LOOKUP, 36, Ok(())),
        (prog_type::SK_LOOKUP, 0, Err(Errno::EINVAL)),
        // SK_REUSEPORT: 0 is fixed up to BPF_SK_REUSEPORT_SELECT (39).
        (prog_type::SK_REUSEPORT, 0, Ok(())),
        (prog_type::SK_REUSEPORT, 40, Ok(())),
        (prog_type::SK_REUSEPORT, 41, Err(Errno::EINVAL)),
        (prog_type::CGROUP_SOCKOPT, 21, Ok(())),
        (prog_type::CGROUP_SOCKOPT, 0, Err(Errno::EINVAL)),
        // Types without attach checks accept anything.
        (prog_type::SOCKET_FILTER, 77, Ok(())),
        (prog_type::XDP, 99, Ok(())),
    ];
    for &(t, eat, want) in cases {
        let a = ProgLoadAttr::new(t, &trivial()).attach_type(eat);
        let got = s.run(|k| k.prog_load(root, &a)).map(drop);
        assert_eq!(got, want, "prog_type {t} expected_attach_type {eat}");
    }
}

#[test]
fn expected_attach_type_is_part_of_the_prog_array_owner() {
    let mut s = Sys::new();
    let root = s.root;
    let pa = s
        .run(|k| k.map_create(root, &MapCreateAttr::new(map_type::PROG_ARRAY, 4, 4, 2)))
        .expect("pa");
    let a = ProgLoadAttr::new(prog_type::CGROUP_SKB, &trivial()).attach_type(0);
    let b = ProgLoadAttr::new(prog_type::CGROUP_SKB, &trivial()).attach_type(1);
    let (a, b) = (
        s.run(|k| k.prog_load(root, &a)).expect("a"),
        s.run(|k| k.prog_load(root, &b)).expect("b"),
    );
    let set = |k: &mut sim::Kernel, i: u32, fd: i32| {
        k.map_update_elem(root, pa, &i.to_le_bytes(), &(fd as u32).to_le_bytes(), 0)
    };
    s.run(|k| set(k, 0, a)).expect("owner");
    assert_eq!(s.run(|k| set(k, 1, b)), Err(Errno::EINVAL));
}

//! `fd_array` in PROG_LOAD: `BPF_PSEUDO_MAP_IDX`/`MAP_IDX_VALUE` index into it (spec C2, J5),
//! and with `fd_array_cnt` (6.14+) every map in it becomes a used map.

use crate::support::*;
use sim::attr::off::prog_load as o;
use sim::prog::insn;
use sim::uapi::{cmd, limits::ATTR_SIZE, map_type, prog_type};
use sim::{Errno, Insn, MapCreateAttr, ProgLoadAttr, UserBufs};

/// Load `insns` as a socket filter with `fd_array` = `fds` (None: NULL) and `fd_array_cnt`.
fn load_with_fd_array(
    s: &mut Sys,
    insns: &[Insn],
    fds: Option<&[i32]>,
    cnt: u32,
) -> Result<i64, Errno> {
    let bytes = insn::encode(insns);
    let fd_bytes: Vec<u8> = fds
        .unwrap_or(&[])
        .iter()
        .flat_map(|fd| fd.to_le_bytes())
        .collect();
    let mut m = UserBufs::new();
    let (i, l) = (m.input(&bytes), m.input(b"GPL\0"));
    let fa = if fds.is_some() { m.input(&fd_bytes) } else { 0 };
    let a = ProgLoadAttr::new(prog_type::SOCKET_FILTER, insns)
        .encode(i, l, 0, 0)
        .u64(o::FD_ARRAY, fa)
        .u32(o::FD_ARRAY_CNT, cnt);
    let mut attr = a.0;
    let root = s.root;
    let r =
        s.k.bpf(root, cmd::PROG_LOAD, &mut attr, ATTR_SIZE as u32, &mut m);
    s.check();
    r
}

fn map_idx(dst: u8, idx: i32) -> [Insn; 2] {
    let mut pair = Insn::ld_map_fd(dst, idx);
    pair[0].src = sim::uapi::pseudo::MAP_IDX;
    pair
}

fn exit0(mut v: Vec<Insn>) -> Vec<Insn> {
    v.extend([Insn::mov64_imm(0, 0), Insn::exit()]);
    v
}

#[test]
fn map_idx_without_fd_array_is_eproto() {
    let mut s = Sys::new();
    let insns = exit0(map_idx(1, 0).to_vec());
    assert_eq!(
        load_with_fd_array(&mut s, &insns, None, 0),
        Err(Errno::EPROTO)
    );
}

#[test]
fn map_idx_resolves_through_fd_array_and_dumps_as_map_fd() {
    let mut s = Sys::new();
    let root = s.root;
    let a = s.array(root);
    let b = s.array(root);
    let insns = exit0(map_idx(1, 1).to_vec());
    let fd = load_with_fd_array(&mut s, &insns, Some(&[a, b]), 0).expect("load") as i32;
    let b_id = s.id_of(root, b);
    let info = s.k.obj_get_info_by_fd(root, fd).expect("info");
    assert_eq!(info.map_ids, vec![b_id], "only the indexed map is used");
    let x = insn::decode(&info.xlated);
    assert_eq!(
        (x[0].src, x[0].imm),
        (1, b_id as i32),
        "dumped as BPF_PSEUDO_MAP_FD with the map id"
    );
}

#[test]
fn map_idx_out_of_fd_array_is_efault() {
    let mut s = Sys::new();
    let root = s.root;
    let a = s.array(root);
    let insns = exit0(map_idx(1, 5).to_vec());
    assert_eq!(
        load_with_fd_array(&mut s, &insns, Some(&[a]), 0),
        Err(Errno::EFAULT)
    );
}

#[test]
fn fd_array_cnt_makes_every_listed_map_used_first() {
    let mut s = Sys::new();
    let root = s.root;
    let a = s.array(root);
    let b = s
        .run(|k| k.map_create(root, &MapCreateAttr::new(map_type::HASH, 4, 4, 4)))
        .expect("hash");
    let insns = exit0(Insn::ld_map_fd(1, b).to_vec());
    let fd = load_with_fd_array(&mut s, &insns, Some(&[a, b, a]), 3).expect("load") as i32;
    let (a_id, b_id) = (s.id_of(root, a), s.id_of(root, b));
    let info = s.k.obj_get_info_by_fd(root, fd).expect("info");
    assert_eq!(
        info.map_ids,
        vec![a_id, b_id],
        "fd_array maps first, each once"
    );
    s.run(|k| k.close(root, a)).expect("close");
    assert!(
        s.map_listed(a_id),
        "the program holds a map it never references"
    );
}

#[test]
fn fd_array_cnt_with_a_non_map_fd_is_einval_and_closed_fd_ebadf() {
    let mut s = Sys::new();
    let root = s.root;
    let null = s.run(|k| k.open_null(root)).expect("null");
    let insns = exit0(Vec::new());
    assert_eq!(
        load_with_fd_array(&mut s, &insns, Some(&[null]), 1),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        load_with_fd_array(&mut s, &insns, Some(&[77]), 1),
        Err(Errno::EBADF)
    );
    assert_eq!(
        s.k.prog_get_next_id(root, 0),
        Err(Errno::ENOENT),
        "no program was created"
    );
}

/// `bpf_vlog_finalize` runs inside `bpf_check`: a good program whose log does not fit fails
/// with `ENOSPC` before it gets an id, so no program id is consumed (spec E1, E2).
#[test]
fn too_small_log_on_a_good_program_is_enospc_and_consumes_no_id() {
    let mut s = Sys::new();
    let root = s.root;
    let a = ProgLoadAttr {
        log_level: 1,
        ..ProgLoadAttr::new(prog_type::SOCKET_FILTER, &trivial())
    };
    let (r, log) = s.run(|k| k.prog_load_with_log(root, &a, 8));
    assert_eq!(r, Err(Errno::ENOSPC));
    assert_eq!(
        log.len(),
        7,
        "the log holds what fits, NUL-terminated: {log:?}"
    );
    let (r, log) = s.run(|k| k.prog_load_with_log(root, &a, 4096));
    let fd = r.expect("fits");
    assert!(!log.is_empty());
    assert_eq!(s.id_of(root, fd), 1, "the failed load consumed no id");
}

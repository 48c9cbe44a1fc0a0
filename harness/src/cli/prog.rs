//! `bpfsim prog ...`: bpftool 7.1's `prog` commands (`prog.c`): show/list, dump xlated,
//! pin, load/loadall, run.

use sim::loader::Object;
use sim::loader::load::{LoadOpts, LoadSys, Loaded, load};
use sim::prog::disasm::{Dialect, DisasmOpts, FuncInfo, LineInfo, disasm, insn_text, lfind};
use sim::prog::{Insn, insn::LD_IMM64};
use sim::uapi::prog_type;
use sim::{Errno, MapCreateAttr, ProgLoadAttr, SysResult, TestRunAttr};

use super::args::Args;
use super::handles::{
    do_pin, do_show, mount_bpffs_for_pin, parse_fd, parse_fds, parse_ulong, req_args,
};
use super::info::{Info, ProgInfo};
use super::sys::{Proc, strerror};
use super::time::iso;
use super::{CmdResult, Ctx};

const HELP: &str = "Usage: bpfsim prog { show | list } [PROG]
       bpfsim prog dump xlated PROG [{ file FILE | [opcodes] [linum] }]
       bpfsim prog pin   PROG FILE
       bpfsim prog { load | loadall } OBJ  PATH \\
                         [type TYPE] [map { idx IDX | name NAME } MAP]\\
                         [pinmaps MAP_DIR]
       bpfsim prog run PROG \\
                         data_in FILE \\
                         [data_out FILE [data_size_out L]] \\
                         [ctx_in FILE [ctx_out FILE [ctx_size_out M]]] \\
                         [repeat N]
       bpfsim prog help

       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }
       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} |
                    {-f|--bpffs} | {-n|--nomount} }
";

/// `do_prog`: the `prog` command table, matched by prefix in bpftool's order.
pub fn dispatch(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    const CMDS: &[&str] = &[
        "show", "list", "help", "dump", "pin", "load", "loadall", "run",
    ];
    let Some(w) = a.peek().map(str::to_string) else {
        return show(c, a);
    };
    let Some(cmd) = CMDS.iter().find(|k| super::args::is_prefix(&w, k)) else {
        return help(c);
    };
    a.next();
    match *cmd {
        "show" | "list" => show(c, a),
        "help" => {
            help(c)?;
            Ok(())
        }
        "dump" => dump(c, a),
        "pin" => do_pin(c, a, true),
        "load" => load_cmd(c, a, true),
        "loadall" => load_cmd(c, a, false),
        _ => run(c, a),
    }
}

fn help(c: &mut Ctx<'_, '_>) -> CmdResult {
    match &mut c.json {
        Some(w) => w.null(),
        None => c.err.push_str(HELP),
    }
    Err(())
}

/// `do_show`: every program in id order, or the ones a handle names.
fn show(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    do_show(c, a, true, show_fd)
}

fn pinned_paths(c: &mut Ctx<'_, '_>, prog: bool, id: u32) -> Vec<String> {
    if !c.opts.bpffs {
        return Vec::new();
    }
    c.p.pinned_paths(prog, id)
}

/// `show_prog`: one program, plain (`print_prog_plain`) or JSON (`print_prog_json`).
fn show_fd(c: &mut Ctx<'_, '_>, fd: i32) -> CmdResult {
    let p = match c.p.info(fd) {
        Ok(Info::Prog(p)) => p,
        Ok(Info::Map(_)) => return c.p_err("can't get prog info: Invalid argument"),
        Err(e) => return c.p_err(format!("can't get prog info: {}", strerror(e))),
    };
    let memlock = c.p.prog_memlock(fd, p.xlated_len);
    let pins = pinned_paths(c, true, p.id);
    let tag: String = p.tag.iter().map(|b| format!("{b:02x}")).collect();
    let ty = prog_type::name(p.prog_type);
    if let Some(w) = &mut c.json {
        w.start_object();
        w.num_field("id", p.id);
        match ty {
            Some(t) => w.string_field("type", t),
            None => w.num_field("type", p.prog_type),
        }
        if !p.name.is_empty() {
            w.string_field("name", &p.name);
        }
        w.name("tag");
        w.raw(&format!("\"{tag}\""));
        w.bool_field("gpl_compatible", p.gpl);
        if p.load_time != 0 {
            w.name("loaded_at");
            w.raw(&c.p.wall_secs(p.load_time).to_string());
            w.num_field("uid", p.uid);
        }
        w.num_field("bytes_xlated", p.xlated_len);
        w.bool_field("jited", p.jited_len != 0);
        if p.jited_len != 0 {
            w.num_field("bytes_jited", p.jited_len);
        }
        w.num_field("bytes_memlock", memlock);
        if !p.map_ids.is_empty() {
            w.name("map_ids");
            w.start_array();
            for id in &p.map_ids {
                w.num(id);
            }
            w.end_array();
        }
        if p.btf_id != 0 {
            w.num_field("btf_id", p.btf_id);
        }
        if c.opts.bpffs {
            w.name("pinned");
            w.start_array();
            for path in &pins {
                w.string(path);
            }
            w.end_array();
        }
        w.end_object();
        return Ok(());
    }
    let o = &mut c.out;
    o.push_str(&format!("{}: ", p.id));
    match ty {
        Some(t) => o.push_str(&format!("{t}  ")),
        None => o.push_str(&format!("type {}  ", p.prog_type)),
    }
    if !p.name.is_empty() {
        o.push_str(&format!("name {}  ", p.name));
    }
    o.push_str(&format!("tag {tag}"));
    if p.gpl {
        o.push_str("  gpl");
    }
    o.push('\n');
    if p.load_time != 0 {
        o.push_str(&format!(
            "\tloaded_at {}  uid {}\n",
            iso(c.p.wall_secs(p.load_time)),
            p.uid
        ));
    }
    o.push_str(&format!("\txlated {}B", p.xlated_len));
    if p.jited_len != 0 {
        o.push_str(&format!("  jited {}B", p.jited_len));
    } else {
        o.push_str("  not jited");
    }
    o.push_str(&format!("  memlock {memlock}B"));
    if !p.map_ids.is_empty() {
        let ids: Vec<String> = p.map_ids.iter().map(u32::to_string).collect();
        o.push_str(&format!("  map_ids {}", ids.join(",")));
    }
    for path in &pins {
        o.push_str(&format!("\n\tpinned {path}"));
    }
    if p.btf_id != 0 {
        o.push_str(&format!("\n\tbtf_id {}", p.btf_id));
    }
    o.push('\n');
    Ok(())
}

/// `do_dump`: `dump xlated PROG [opcodes] [linum]`, and `dump jited` (no JIT image here).
fn dump(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    req_args(c, a, 3)?;
    let jited = if a.is("jited") {
        true
    } else if a.is("xlated") {
        false
    } else {
        let w = a.peek().unwrap_or("").to_string();
        return c.p_err(format!("expected 'xlated' or 'jited', got: {w}"));
    };
    a.next();
    let fds = parse_fds(c, a, true)?;
    if fds.is_empty() {
        return c.p_err("no program matches this handle");
    }
    let (mut opcodes, mut linum) = (false, false);
    while let Some(w) = a.peek().map(str::to_string) {
        if super::args::is_prefix(&w, "opcodes") {
            opcodes = true;
        } else if super::args::is_prefix(&w, "linum") {
            linum = true;
        } else if super::args::is_prefix(&w, "file") || super::args::is_prefix(&w, "visual") {
            for fd in fds {
                let _ = c.p.close(fd);
            }
            return c.p_err(format!("'{w}' is not supported by bpfsim"));
        } else {
            for fd in fds {
                let _ = c.p.close(fd);
            }
            return c.p_err(format!("what is '{w}'?"));
        }
        a.next();
    }
    let many = fds.len() > 1;
    if many {
        if let Some(w) = &mut c.json {
            w.start_array();
        }
    }
    let mut r = Ok(());
    for fd in fds {
        if r.is_ok() {
            r = match c.p.info(fd) {
                Ok(Info::Prog(p)) if jited || p.xlated.is_empty() => {
                    let _ = p;
                    c.p_info("no instructions returned");
                    Err(())
                }
                Ok(Info::Prog(p)) => match btf_records(c, fd, &p) {
                    Ok((func_info, line_info)) => {
                        let opts = DisasmOpts {
                            opcodes,
                            linum,
                            dialect: Dialect::Bpftool7_1,
                            func_info,
                            line_info,
                            ..DisasmOpts::default()
                        };
                        dump_one(c, &p, &opts);
                        Ok(())
                    }
                    Err(()) => Err(()),
                },
                Ok(Info::Map(_)) => c.p_err("can't get prog info: Invalid argument"),
                Err(e) => c.p_err(format!("can't get prog info: {}", strerror(e))),
            };
        }
        let _ = c.p.close(fd);
    }
    if many {
        if let Some(w) = &mut c.json {
            w.end_array();
        }
    }
    r
}

/// What `do_dump` reads for a program with BTF (`btf_id` set): its `func_info` and
/// `line_info` records (`OBJ_GET_INFO_BY_FD`) and its BTF (`btf__load_from_kernel_by_id`:
/// `BTF_GET_FD_BY_ID`, then `OBJ_GET_INFO_BY_FD` of the BTF fd), resolved into the
/// signatures and source lines the dump prints ([`sim::kernel::btf::dump_records`], the
/// model's own `prog_dump_opts` code). A BTF that cannot be fetched is bpftool's
/// `failed to get btf` error.
fn btf_records(
    c: &mut Ctx<'_, '_>,
    fd: i32,
    p: &ProgInfo,
) -> Result<(Vec<FuncInfo>, Vec<LineInfo>), ()> {
    if p.btf_id == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let Ok((fi, li)) = c.p.prog_records(fd) else {
        return c
            .p_err("can't get prog info: Invalid argument")
            .map(|()| Default::default());
    };
    let btf = match c.p.btf_get_fd_by_id(p.btf_id) {
        Ok(bfd) => {
            let data = c.p.btf_data(bfd);
            let _ = c.p.close(bfd);
            data.ok().and_then(|d| sim::kernel::btf::btf_parse(&d).ok())
        }
        Err(_) => None,
    };
    let Some(btf) = btf else {
        return c.p_err("failed to get btf").map(|()| Default::default());
    };
    let u = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let funcs: Vec<sim::prog::FuncInfo> = fi
        .chunks_exact(8)
        .map(|r| sim::prog::FuncInfo {
            insn_off: u(r, 0),
            type_id: u(r, 4),
        })
        .collect();
    let lines: Vec<sim::prog::LineInfo> = li
        .chunks_exact(16)
        .map(|r| sim::prog::LineInfo {
            insn_off: u(r, 0),
            file_name_off: u(r, 4),
            line_off: u(r, 8),
            line_col: u(r, 12),
        })
        .collect();
    Ok(sim::kernel::btf::dump_records(&btf, &funcs, &lines))
}

fn dump_one(c: &mut Ctx<'_, '_>, p: &ProgInfo, opts: &DisasmOpts) {
    let insns: Vec<Insn> = p
        .xlated
        .chunks_exact(8)
        .map(|b| Insn::from_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let opcodes = opts.opcodes;
    let Some(w) = &mut c.json else {
        c.out.push_str(&disasm(&insns, opts));
        return;
    };
    w.start_array();
    let mut i = 0;
    let (mut func_rec, mut nr_skip) = (0usize, 0usize);
    while i < insns.len() {
        let insn = &insns[i];
        let double = insn.code == LD_IMM64;
        w.start_object();
        // `dump_xlated_json`: the function's prototype, then its source line.
        if let Some(rec) = opts.func_info.get(func_rec).filter(|r| r.insn_off == i) {
            if !rec.signature.is_empty() {
                w.string_field("proto", &rec.signature);
            }
            func_rec += 1;
        }
        if let Some(l) = lfind(&opts.line_info, i, nr_skip) {
            // `btf_dump_linfo_json`: a zero line number or column is left out.
            let line = l
                .line
                .trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
            w.string_field("src", line);
            if opts.linum {
                w.string_field("file", &l.file);
                if l.line_num != 0 {
                    w.num_field("line_num", l.line_num);
                }
                if l.line_col != 0 {
                    w.num_field("line_col", l.line_col);
                }
            }
            nr_skip += 1;
        }
        w.string_field("disasm", &insn_text(insn, insns.get(i + 1), opts));
        if opcodes {
            let b = insn.to_bytes();
            w.name("opcodes");
            w.start_object();
            w.name("code");
            w.raw(&format!("\"0x{:02x}\"", insn.code));
            w.name("src_reg");
            w.raw(&format!("\"0x{:x}\"", insn.src));
            w.name("dst_reg");
            w.raw(&format!("\"0x{:x}\"", insn.dst));
            w.name("off");
            hex_json(w, &b[2..4]);
            w.name("imm");
            if double && i + 1 < insns.len() {
                let mut imm = b[4..8].to_vec();
                imm.extend_from_slice(&insns[i + 1].to_bytes());
                hex_json(w, &imm);
            } else {
                hex_json(w, &b[4..8]);
            }
            w.end_object();
        }
        w.end_object();
        i += if double { 2 } else { 1 };
    }
    w.end_array();
}

/// `print_hex_data_json`: an array of `"0x%02hhx"` strings.
pub fn hex_json(w: &mut super::json::JsonWriter, b: &[u8]) {
    w.start_array();
    for x in b {
        w.raw(&format!("\"0x{x:02x}\""));
    }
    w.end_array();
}

/// A map `bpftool prog load ... map { idx | name } X MAP` replaces: the loader's
/// `BPF_MAP_CREATE` for it becomes a `dup` of the given fd (`bpf_map__reuse_fd`).
struct Reusing<'p, 'k> {
    p: &'p mut Proc<'k>,
    reuse: Vec<(String, i32)>,
}

impl LoadSys for Reusing<'_, '_> {
    fn map_create(&mut self, a: &MapCreateAttr) -> SysResult<i32> {
        let end = a.map_name.iter().position(|&b| b == 0).unwrap_or(16);
        let name = String::from_utf8_lossy(&a.map_name[..end]).into_owned();
        if let Some(&(_, fd)) = self.reuse.iter().find(|(n, _)| *n == name) {
            return self.p.dupfd(fd);
        }
        self.p.map_create(a)
    }
    fn map_update(&mut self, fd: i32, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        self.p.map_update(fd, key, value, flags)
    }
    fn map_freeze(&mut self, fd: i32) -> SysResult<()> {
        self.p.map_freeze(fd)
    }
    fn map_info(&mut self, fd: i32) -> SysResult<(u32, u32, u32, u32, u32)> {
        self.p.map_info(fd)
    }
    fn prog_load(&mut self, a: &ProgLoadAttr) -> SysResult<i32> {
        self.p.prog_load(a)
    }
    fn obj_pin(&mut self, fd: i32, path: &str) -> SysResult<()> {
        LoadSys::obj_pin(self.p, fd, path)
    }
    fn obj_get(&mut self, path: &str) -> SysResult<i32> {
        LoadSys::obj_get(self.p, path)
    }
    fn unlink(&mut self, path: &str) -> SysResult<()> {
        self.p.unlink_path(path)
    }
    fn close(&mut self, fd: i32) -> SysResult<()> {
        LoadSys::close(self.p, fd)
    }
    fn btf_load(&mut self, data: &[u8]) -> SysResult<i32> {
        self.p.btf_load(data)
    }
}

/// libbpf's name of a map as the kernel gets it (15 bytes at most).
fn kname(n: &str) -> String {
    let mut end = n.len().min(15);
    while !n.is_char_boundary(end) {
        end -= 1;
    }
    n[..end].to_string()
}

/// `load_with_options`: `prog load OBJ FILE` (the first program, pinned at FILE) or
/// `prog loadall OBJ DIR` (every program, pinned as DIR/NAME).
fn load_cmd(c: &mut Ctx<'_, '_>, a: &mut Args, first_only: bool) -> CmdResult {
    req_args(c, a, 2)?;
    let file = a.next().unwrap_or_default();
    let pinfile = a.next().unwrap_or_default();
    let mut ty: Option<sim::loader::secdef::SecDef> = None;
    let mut replace: Vec<(Option<usize>, Option<String>, i32)> = Vec::new();
    let mut pinmaps: Option<String> = None;
    let close_all = |c: &mut Ctx<'_, '_>, r: &[(Option<usize>, Option<String>, i32)]| {
        for (_, _, fd) in r {
            let _ = c.p.close(*fd);
        }
    };
    while let Some(w) = a.peek().map(str::to_string) {
        let r: CmdResult = if super::args::is_prefix(&w, "type") {
            a.next();
            if ty.is_some() {
                c.p_err("program type already specified")
            } else if a.left() < 1 {
                req_args(c, a, 1)
            } else {
                let t = a.next().unwrap_or_default();
                match sim::loader::secdef::find(&t)
                    .or_else(|_| sim::loader::secdef::find(&format!("{t}/")))
                {
                    Ok(d) => {
                        ty = Some(*d);
                        Ok(())
                    }
                    Err(_) => c.p_err(format!(
                        "failed to guess program type from ELF section '{t}/'"
                    )),
                }
            }
        } else if super::args::is_prefix(&w, "map") {
            a.next();
            req_args(c, a, 4).and_then(|()| {
                let (idx, name) = if a.is("idx") {
                    a.next();
                    let v = a.next().unwrap_or_default();
                    match parse_ulong(&v) {
                        Some(i) => (Some(i as usize), None),
                        None => return c.p_err(format!("can't parse {v} as IDX")),
                    }
                } else if a.is("name") {
                    a.next();
                    (None, a.next())
                } else {
                    let v = a.peek().unwrap_or("").to_string();
                    return c.p_err(format!("expected 'idx' or 'name', got: '{v}'?"));
                };
                let fd = parse_fd(c, a, false)?;
                replace.push((idx, name, fd));
                Ok(())
            })
        } else if super::args::is_prefix(&w, "pinmaps") {
            a.next();
            req_args(c, a, 1).map(|()| pinmaps = a.next())
        } else if super::args::is_prefix(&w, "dev") || super::args::is_prefix(&w, "autoattach") {
            c.p_err(format!("'{w}' is not supported by bpfsim"))
        } else {
            c.p_err(format!(
                "expected no more arguments, 'type', 'map' or 'dev', got: '{w}'?"
            ))
        };
        if r.is_err() {
            close_all(c, &replace);
            return r;
        }
    }
    let r = load_obj(
        c,
        &file,
        &pinfile,
        first_only,
        ty,
        &replace,
        pinmaps.as_deref(),
    );
    close_all(c, &replace);
    r
}

fn libbpf(c: &mut Ctx<'_, '_>, msg: &str) {
    c.err.push_str("libbpf: ");
    c.err.push_str(msg);
    c.err.push('\n');
}

fn load_obj(
    c: &mut Ctx<'_, '_>,
    file: &str,
    pinfile: &str,
    first_only: bool,
    ty: Option<sim::loader::secdef::SecDef>,
    replace: &[(Option<usize>, Option<String>, i32)],
    pinmaps: Option<&str>,
) -> CmdResult {
    let bytes = match c.files.read(file) {
        Ok(b) => b,
        Err(e) => {
            libbpf(c, &format!("elf: failed to open {file}: {e}"));
            return c.p_err("failed to open object file");
        }
    };
    let base = file.rsplit('/').next().unwrap_or(file);
    let mut obj = match Object::parse(base, &bytes) {
        Ok(o) => o,
        Err(e) => {
            libbpf(c, &format!("{e}"));
            return c.p_err("failed to open object file");
        }
    };
    // libbpf 1.x (bpftool 7.1's) refuses the legacy `SEC("maps")` definitions at open.
    if obj.legacy_maps_section.is_some() {
        libbpf(
            c,
            "elf: legacy map definitions in 'maps' section are not supported by libbpf v1.0+",
        );
        return c.p_err("failed to open object file");
    }
    let r = load_opened(c, &mut obj, pinfile, first_only, ty, replace, pinmaps);
    if r.is_err() && !c.opts.legacy {
        // bpftool 7.1 (Linux 6.1's) after any failure past the open (`err_close_obj`).
        c.p_info("Warning: bpftool is now running in libbpf strict mode and has more stringent requirements about BPF programs.\nIf it used to work for this object file but now doesn't, see --legacy option for more details.\n");
    }
    r
}

fn load_opened(
    c: &mut Ctx<'_, '_>,
    obj: &mut Object,
    pinfile: &str,
    first_only: bool,
    ty: Option<sim::loader::secdef::SecDef>,
    replace: &[(Option<usize>, Option<String>, i32)],
    pinmaps: Option<&str>,
) -> CmdResult {
    for p in obj.programs.iter_mut().filter(|p| !p.is_subprog) {
        match ty {
            Some(d) => p.sec_def = Some(d),
            None if p.sec_def.is_none() => {
                let s = p.section_name.clone();
                libbpf(
                    c,
                    &format!("failed to guess program type from ELF section '{s}'"),
                );
                return c.p_err(format!(
                    "failed to guess program type from ELF section '{s}'"
                ));
            }
            None => {}
        }
    }
    // map replacement: by name, then by index, each index once.
    let mut reuse = Vec::new();
    let mut used = Vec::new();
    for (idx, name, fd) in replace {
        let i = match (idx, name) {
            (_, Some(n)) => match obj.maps.iter().position(|m| &m.name == n) {
                Some(i) => i,
                None => return c.p_err(format!("unable to find map '{n}'")),
            },
            (Some(i), None) => *i,
            (None, None) => continue,
        };
        if used.contains(&i) {
            return c.p_err(format!(
                "replacement for map idx {i} specified more than once"
            ));
        }
        let Some(m) = obj.maps.get(i) else {
            return c.p_err(format!("map idx '{i}' not used"));
        };
        used.push(i);
        reuse.push((kname(&m.name), *fd));
    }
    let loaded = {
        let mut sys = Reusing { p: &mut c.p, reuse };
        load(obj, &mut sys, &LoadOpts::default())
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            libbpf(c, &format!("{e}"));
            libbpf(c, &format!("failed to load object '{}'", obj.name));
            return c.p_err("failed to load object file");
        }
    };
    let r = pin_loaded(c, &loaded, pinfile, first_only, pinmaps);
    // bpf_object__close: maps, then programs.
    for m in &loaded.maps {
        let _ = c.p.close(m.fd);
    }
    for p in &loaded.progs {
        let _ = c.p.close(p.fd);
    }
    if r.is_ok() {
        if let Some(w) = &mut c.json {
            w.null();
        }
    }
    r
}

fn pin_loaded(
    c: &mut Ctx<'_, '_>,
    l: &Loaded,
    pinfile: &str,
    first_only: bool,
    pinmaps: Option<&str>,
) -> CmdResult {
    mount_bpffs_for_pin(c, pinfile)?;
    let mut pinned = Vec::new();
    if first_only {
        let Some(p) = l.progs.first() else {
            return c.p_err("object file doesn't contain any bpf program");
        };
        if c.p.obj_pin(p.fd, pinfile).is_err() {
            let sec = p.section.clone();
            return c.p_err(format!("failed to pin program {sec}"));
        }
        pinned.push(pinfile.to_string());
    } else {
        if let Err(e) = c.p.mkdir(pinfile) {
            if e != Errno::EEXIST {
                libbpf(c, &format!("failed to mkdir {pinfile}: {}", strerror(e)));
                return c.p_err("failed to pin all programs");
            }
        }
        for p in &l.progs {
            let path = format!("{pinfile}/{}", p.name);
            if let Err(e) = c.p.obj_pin(p.fd, &path) {
                libbpf(
                    c,
                    &format!(
                        "prog '{}': failed to pin at '{path}': {}",
                        p.name,
                        strerror(e)
                    ),
                );
                for q in pinned.drain(..) {
                    let _ = c.p.unlink_path(&q);
                }
                return c.p_err("failed to pin all programs");
            }
            pinned.push(path);
        }
    }
    if let Some(dir) = pinmaps {
        if let Err(e) = c.p.mkdir(dir) {
            if e != Errno::EEXIST {
                libbpf(c, &format!("failed to mkdir {dir}: {}", strerror(e)));
                for q in pinned.drain(..) {
                    let _ = c.p.unlink_path(&q);
                }
                return c.p_err("failed to pin all maps");
            }
        }
        let mut maps_pinned = Vec::new();
        for m in l.maps.iter().filter(|m| m.pinned.is_none()) {
            // libbpf's sanitize_pin_path: bpffs refuses names with periods.
            let path = format!("{dir}/{}", m.name).replace('.', "_");
            if let Err(e) = c.p.obj_pin(m.fd, &path) {
                libbpf(
                    c,
                    &format!(
                        "map '{}': failed to pin at '{path}': {}",
                        m.name,
                        strerror(e)
                    ),
                );
                for q in maps_pinned.drain(..).chain(pinned.drain(..)) {
                    let _ = c.p.unlink_path(&q);
                }
                return c.p_err("failed to pin all maps");
            }
            maps_pinned.push(path);
        }
    }
    Ok(())
}

/// `do_run`: `BPF_PROG_TEST_RUN` with bpftool's options and output.
fn run(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    req_args(c, a, 4)?;
    let fd = parse_fd(c, a, true)?;
    let r = run_fd(c, a, fd);
    let _ = c.p.close(fd);
    r
}

fn run_fd(c: &mut Ctx<'_, '_>, a: &mut Args, fd: i32) -> CmdResult {
    let (mut data_in, mut data_out, mut ctx_in, mut ctx_out) = (None, None, None, None);
    let (mut data_size_out, mut ctx_size_out, mut repeat) = (0u32, 0u32, 1u32);
    while let Some(w) = a.peek().map(str::to_string) {
        for group in [
            ["data_in", "data_out", "data_size_out"],
            ["ctx_in", "ctx_out", "ctx_size_out"],
        ] {
            let hits: Vec<&str> = group
                .iter()
                .copied()
                .filter(|k| super::args::is_prefix(&w, k))
                .collect();
            if hits.len() > 1 {
                return c.p_err(format!(
                    "ambiguous prefix: '{w}' could be '{}'",
                    hits.join("' or '")
                ));
            }
        }
        a.next();
        if a.left() < 1 {
            req_args(c, a, 1)?;
        }
        let v = a.next().unwrap_or_default();
        let num = |c: &mut Ctx<'_, '_>, what: &str| -> Result<u32, ()> {
            match parse_ulong(&v) {
                Some(n) => Ok(n as u32),
                None => {
                    c.p_err(format!("can't parse {v} as {what}"))?;
                    Err(())
                }
            }
        };
        let is = |k: &str| super::args::is_prefix(&w, k);
        if is("data_in") {
            data_in = Some(v.clone());
        } else if is("data_out") {
            data_out = Some(v.clone());
        } else if is("data_size_out") {
            data_size_out = num(c, "output data size")?;
        } else if is("ctx_in") {
            ctx_in = Some(v.clone());
        } else if is("ctx_out") {
            ctx_out = Some(v.clone());
        } else if is("ctx_size_out") {
            ctx_size_out = num(c, "output context size")?;
        } else if is("repeat") {
            repeat = num(c, "repeat number")?;
        } else {
            return c.p_err(format!("expected no more arguments, 'data_in', 'data_out', 'data_size_out', 'ctx_in', 'ctx_out', 'ctx_size_out' or 'repeat', got: '{w}'?"));
        }
    }
    let read = |c: &mut Ctx<'_, '_>, f: &Option<String>| -> Result<Option<Vec<u8>>, ()> {
        let Some(f) = f else { return Ok(None) };
        match c.files.read(f) {
            Ok(b) => Ok(Some(b)),
            Err(e) => {
                c.p_err(format!("failed to open {f}: {e}"))?;
                Err(())
            }
        }
    };
    let din = read(c, &data_in)?;
    let cin = read(c, &ctx_in)?;
    let attr = TestRunAttr {
        data_out: din.as_ref().map(|_| {
            if data_size_out == 0 {
                32 * 1024
            } else {
                data_size_out
            }
        }),
        data_in: din.unwrap_or_default(),
        ctx_out: cin.as_ref().map(|_| {
            if ctx_size_out == 0 {
                32 * 1024
            } else {
                ctx_size_out
            }
        }),
        ctx_in: cin,
        repeat,
        ..TestRunAttr::default()
    };
    let (r, out) = c.p.test_run(fd, &attr);
    if let Err(e) = r {
        let _ = c.p_err(format!("failed to run program: {}", strerror(e)));
        return c.errno_exit(e);
    }
    if let Some(w) = &mut c.json {
        w.start_object();
    }
    let mut res = Ok(());
    if out.data_size_out != 0 {
        res = res.and(print_run_output(
            c,
            &out.data_out,
            data_out.as_deref(),
            "data_out",
        ));
    }
    if out.ctx_size_out != 0 {
        res = res.and(print_run_output(
            c,
            &out.ctx_out,
            ctx_out.as_deref(),
            "ctx_out",
        ));
    }
    match &mut c.json {
        Some(w) => {
            w.num_field("retval", out.retval);
            w.num_field("duration", out.duration);
            w.end_object();
        }
        None => c.out.push_str(&format!(
            "Return value: {}, duration{}: {}ns\n",
            out.retval,
            if repeat > 1 { " (average)" } else { "" },
            out.duration
        )),
    }
    res
}

fn print_run_output(c: &mut Ctx<'_, '_>, data: &[u8], fname: Option<&str>, key: &str) -> CmdResult {
    let Some(f) = fname else { return Ok(()) };
    if f == "-" {
        match &mut c.json {
            Some(w) => {
                w.name(key);
                w.start_array();
                for b in data {
                    w.num(b);
                }
                w.end_array();
            }
            None => hex_print(&mut c.out, data),
        }
        return Ok(());
    }
    match c.files.write(f, data) {
        Ok(()) => Ok(()),
        Err(e) => c.p_err(format!("failed to open {f}: {e}")),
    }
}

/// bpftool's `hex_print`: offset, 16 bytes in pairs, then their ASCII.
fn hex_print(out: &mut String, data: &[u8]) {
    for (row, chunk) in data.chunks(16).enumerate() {
        let i = row * 16;
        out.push_str(&format!("{i:07x}\t"));
        for j in i..i + 16 {
            match data.get(j).filter(|_| j < i + chunk.len()) {
                Some(b) => out.push_str(&format!("{b:02x}{}", if j % 2 == 1 { " " } else { "" })),
                None => out.push_str(&format!("  {}", if j % 2 == 1 { " " } else { "" })),
            }
        }
        out.push_str("| ");
        for (j, &b) in chunk.iter().enumerate() {
            let ch = if (b' '..=b'~').contains(&b) {
                b as char
            } else {
                '.'
            };
            out.push(ch);
            if j == 7 {
                out.push(' ');
            }
        }
        out.push('\n');
    }
}

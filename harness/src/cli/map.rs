//! `bpfsim map ...`: bpftool 7.1's `map` commands (`map.c`): show/list, dump, lookup,
//! update, delete, getnext, pin, create, freeze. Keys and values print as hex, and for a map
//! with BTF (`btf_value_type_id` set) through bpftool's `btf_dumper` (`super::btfdump`): in
//! plain mode instead of the hex, with `-j` as a `"formatted"` object after it.

use sim::uapi::{map_type, prog_type};
use sim::{Errno, MapCreateAttr};

use sim::loader::btf::Btf;

use super::args::{Args, is_prefix};
use super::btfdump::Dumper;
use super::handles::{do_pin, do_show, parse_fd, parse_fds, parse_ulong, pin_fd, req_args};
use super::info::{Info, MapInfo};
use super::prog::hex_json;
use super::sys::strerror;
use super::{CmdResult, Ctx};

const HELP: &str = "Usage: bpfsim map { show | list }   [MAP]
       bpfsim map create     FILE type TYPE key KEY_SIZE value VALUE_SIZE \\
                                  entries MAX_ENTRIES name NAME [flags FLAGS] \\
                                  [inner_map MAP]
       bpfsim map dump       MAP
       bpfsim map update     MAP [key DATA] [value VALUE] [UPDATE_FLAGS]
       bpfsim map lookup     MAP [key DATA]
       bpfsim map getnext    MAP [key DATA]
       bpfsim map delete     MAP  key DATA
       bpfsim map pin        MAP  FILE
       bpfsim map freeze     MAP
       bpfsim map help

       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }
       DATA := { [hex] BYTES }
       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       VALUE := { DATA | MAP | PROG }
       UPDATE_FLAGS := { any | exist | noexist }
       TYPE := { hash | array | prog_array | array_of_maps | hash_of_maps }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} |
                    {-f|--bpffs} | {-n|--nomount} }
";

/// `do_map`: the `map` command table in bpftool's order.
pub fn dispatch(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    const CMDS: &[&str] = &[
        "show", "list", "help", "dump", "update", "lookup", "getnext", "delete", "pin", "create",
        "freeze",
    ];
    let Some(w) = a.peek().map(str::to_string) else {
        return show(c, a);
    };
    let Some(cmd) = CMDS.iter().find(|k| is_prefix(&w, k)) else {
        return help(c);
    };
    a.next();
    match *cmd {
        "show" | "list" => show(c, a),
        "help" => help(c),
        "dump" => dump(c, a),
        "update" => update(c, a),
        "lookup" => lookup(c, a),
        "getnext" => getnext(c, a),
        "delete" => delete(c, a),
        "pin" => do_pin(c, a, false),
        "create" => create(c, a),
        _ => freeze(c, a),
    }
}

fn help(c: &mut Ctx<'_, '_>) -> CmdResult {
    match &mut c.json {
        Some(w) => w.null(),
        None => c.err.push_str(HELP),
    }
    Err(())
}

fn map_info(c: &mut Ctx<'_, '_>, fd: i32) -> Result<MapInfo, ()> {
    match c.p.info(fd) {
        Ok(Info::Map(m)) => Ok(m),
        Ok(Info::Prog(_)) => {
            c.p_err("can't get map info: Invalid argument")?;
            Err(())
        }
        Err(e) => {
            c.p_err(format!("can't get map info: {}", strerror(e)))?;
            Err(())
        }
    }
}

/// `do_show`.
fn show(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    // bpftool's listing reuses one info struct, so a map without BTF shows the previous
    // map's btf_id (the known exception); bpfsim prints each map's own.
    do_show(c, a, false, |c, fd| {
        map_info(c, fd).map(|m| show_one(c, fd, &m))
    })
}

/// `show_map_close_plain` / `show_map_close_json`.
fn show_one(c: &mut Ctx<'_, '_>, fd: i32, m: &MapInfo) {
    let fdi = c.p.map_fdinfo(fd, m.id);
    let pins = if c.opts.bpffs {
        c.p.pinned_paths(false, m.id)
    } else {
        Vec::new()
    };
    let ty = map_type::name(m.map_type);
    if let Some(w) = &mut c.json {
        w.start_object();
        header_json(w, m);
        w.num_field("bytes_key", m.key_size);
        w.num_field("bytes_value", m.value_size);
        w.num_field("max_entries", m.max_entries);
        w.num_field("bytes_memlock", fdi.memlock);
        if m.map_type == map_type::PROG_ARRAY {
            if let Some((t, jited)) = fdi.owner {
                match prog_type::name(t) {
                    Some(n) => w.string_field("owner_prog_type", n),
                    None => w.num_field("owner_prog_type", t),
                }
                w.bool_field("owner_jited", jited);
            }
        }
        w.num_field("frozen", u32::from(fdi.frozen));
        if m.btf_id != 0 {
            w.num_field("btf_id", m.btf_id);
        }
        if c.opts.bpffs {
            w.name("pinned");
            w.start_array();
            for p in &pins {
                w.string(p);
            }
            w.end_array();
        }
        w.end_object();
        return;
    }
    let o = &mut c.out;
    header_plain(o, m, ty);
    o.push_str(&format!(
        "\tkey {}B  value {}B  max_entries {}  memlock {}B",
        m.key_size, m.value_size, m.max_entries, fdi.memlock
    ));
    if m.map_type == map_type::PROG_ARRAY {
        if let Some((t, jited)) = fdi.owner {
            o.push_str("\n\t");
            match prog_type::name(t) {
                Some(n) => o.push_str(&format!("owner_prog_type {n}  ")),
                None => o.push_str(&format!("owner_prog_type {t}  ")),
            }
            o.push_str(&format!("owner{} jited", if jited { "" } else { " not" }));
        }
    }
    for p in &pins {
        o.push_str(&format!("\n\tpinned {p}"));
    }
    if m.btf_id != 0 || fdi.frozen {
        o.push_str("\n\t");
    }
    if m.btf_id != 0 {
        o.push_str(&format!("btf_id {}", m.btf_id));
    }
    if fdi.frozen {
        o.push_str(if m.btf_id != 0 { "  frozen" } else { "frozen" });
    }
    o.push('\n');
}

fn header_json(w: &mut super::json::JsonWriter, m: &MapInfo) {
    w.num_field("id", m.id);
    match map_type::name(m.map_type) {
        Some(t) => w.string_field("type", t),
        None => w.num_field("type", m.map_type),
    }
    if !m.name.is_empty() {
        w.string_field("name", &m.name);
    }
    w.name("flags");
    w.raw(&(m.flags as i32).to_string());
}

fn header_plain(o: &mut String, m: &MapInfo, ty: Option<&str>) {
    o.push_str(&format!("{}: ", m.id));
    match ty {
        Some(t) => o.push_str(&format!("{t}  ")),
        None => o.push_str(&format!("type {}  ", m.map_type)),
    }
    if !m.name.is_empty() {
        o.push_str(&format!("name {}  ", m.name));
    }
    o.push_str(&format!("flags 0x{:x}\n", m.flags));
}

/// bpftool's `fprint_hex(f, data, n, " ")`: a newline before every 16th byte, two spaces
/// before every other 8th, one space otherwise.
fn fprint_hex(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push_str(if i % 16 == 0 {
                "\n"
            } else if i % 8 == 0 {
                "  "
            } else {
                " "
            });
        }
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// `print_entry_plain` (no per-CPU types are modeled).
fn entry_plain(o: &mut String, m: &MapInfo, key: &[u8], value: &[u8]) {
    let break_names = m.key_size > 16 || m.value_size > 16;
    let single = m.key_size + m.value_size <= 24 && !break_names;
    let sep = if break_names { '\n' } else { ' ' };
    if m.key_size > 0 {
        o.push_str(&format!("key:{sep}{}", fprint_hex(key)));
        o.push_str(if single { "  " } else { "\n" });
    }
    if m.value_size > 0 {
        o.push_str(&format!("value:{sep}{}", fprint_hex(value)));
    }
    o.push('\n');
}

/// `print_entry_json`: the hex bytes, and with BTF the `"formatted"` key and value.
fn entry_json(
    w: &mut super::json::JsonWriter,
    m: &MapInfo,
    btf: Option<&Btf>,
    key: &[u8],
    value: &[u8],
) {
    w.start_object();
    w.name("key");
    hex_json(w, key);
    w.name("value");
    hex_json(w, value);
    if let Some(btf) = btf {
        w.name("formatted");
        Dumper { btf, plain: false }.entry(w, m, key, value);
    }
    w.end_object();
}

/// `get_map_kv_btf`: the map's BTF (`BTF_GET_FD_BY_ID`, then `OBJ_GET_INFO_BY_FD` of the BTF
/// fd) when it has a value type; `failed to get btf` when that fails. (A struct_ops map's
/// vmlinux value type is not modeled: no map the model creates has one.)
fn map_btf(c: &mut Ctx<'_, '_>, m: &MapInfo) -> Result<Option<Btf>, ()> {
    if m.btf_value_type_id == 0 || m.btf_vmlinux_value_type_id != 0 {
        return Ok(None);
    }
    let btf = match c.p.btf_get_fd_by_id(m.btf_id) {
        Ok(bfd) => {
            let data = c.p.btf_data(bfd);
            let _ = c.p.close(bfd);
            data.ok().and_then(|d| sim::kernel::btf::btf_parse(&d).ok())
        }
        Err(_) => None,
    };
    match btf {
        Some(b) => Ok(Some(b)),
        None => c.p_err("failed to get btf").map(|()| None),
    }
}

fn is_fd_map(t: u32) -> bool {
    matches!(
        t,
        map_type::PROG_ARRAY | map_type::ARRAY_OF_MAPS | map_type::HASH_OF_MAPS
    )
}

/// `do_dump` + `map_dump`: every element in `GET_NEXT_KEY` order.
fn dump(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    if a.left() != 2 {
        return help(c);
    }
    let fds = parse_fds(c, a, false)?;
    if fds.is_empty() {
        return Err(());
    }
    let many = fds.len() > 1;
    if many {
        if let Some(w) = &mut c.json {
            w.start_array();
        }
    }
    let mut r = Ok(());
    let n = fds.len();
    for (i, fd) in fds.into_iter().enumerate() {
        if r.is_ok() {
            r = map_info(c, fd).and_then(|m| dump_one(c, fd, &m, many));
            if c.json.is_none() && i != n - 1 {
                c.out.push('\n');
            }
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

fn dump_one(c: &mut Ctx<'_, '_>, fd: i32, m: &MapInfo, header: bool) -> CmdResult {
    // With BTF, plain output is a pretty JSON array of formatted elements (bpftool's
    // `btf_wtr`) and no `Found N elements` line. (Several maps at once keep the hex form.)
    let btf = if header && c.json.is_none() {
        None
    } else {
        map_btf(c, m)?
    };
    let mut btf_wtr = (btf.is_some() && c.json.is_none()).then(|| {
        let mut w = super::json::JsonWriter::new(true);
        w.start_array();
        w
    });
    match &mut c.json {
        Some(w) => {
            if header {
                w.start_object();
                header_json(w, m);
                w.name("elements");
            }
            w.start_array();
        }
        None if header => header_plain(&mut c.out, m, map_type::name(m.map_type)),
        None => {}
    }
    let ks = m.key_size as usize;
    let mut prev: Option<Vec<u8>> = None;
    let mut n = 0u32;
    while let Ok(key) = c.p.next_key(fd, prev.as_deref(), ks) {
        match c.p.lookup(fd, &key, m.value_size as usize) {
            Ok(v) => {
                n += 1;
                match (&mut c.json, &mut btf_wtr, &btf) {
                    (Some(w), _, b) => entry_json(w, m, b.as_ref(), &key, &v),
                    (None, Some(w), Some(btf)) => {
                        Dumper { btf, plain: true }.entry(w, m, &key, &v);
                    }
                    _ => entry_plain(&mut c.out, m, &key, &v),
                }
            }
            Err(e) if e == Errno::ENOENT && is_fd_map(m.map_type) => {}
            Err(e) => match &mut c.json {
                Some(w) => {
                    w.start_object();
                    w.name("key");
                    hex_json(w, &key);
                    w.name("value");
                    w.start_object();
                    w.string_field("error", &strerror(e));
                    w.end_object();
                    w.end_object();
                }
                None => {
                    let msg = if e == Errno::ENOENT {
                        "<no entry>".to_string()
                    } else {
                        strerror(e).into_owned()
                    };
                    let break_names = m.key_size > 16 || msg.len() > 16;
                    let single = m.key_size as usize + msg.len() <= 24 && !break_names;
                    let sep = if break_names { '\n' } else { ' ' };
                    c.out.push_str(&format!("key:{sep}{}", fprint_hex(&key)));
                    c.out.push_str(if single { "  " } else { "\n" });
                    c.out.push_str(&format!("value:{sep}{msg}\n"));
                }
            },
        }
        prev = Some(key);
    }
    match (&mut c.json, btf_wtr) {
        (Some(w), _) => {
            w.end_array();
            if header {
                w.end_object();
            }
        }
        (None, Some(mut w)) => {
            w.end_array();
            c.out.push_str(&w.finish());
        }
        (None, None) => c.out.push_str(&format!(
            "Found {n} element{}\n",
            if n != 1 { "s" } else { "" }
        )),
    }
    Ok(())
}

/// An element's parts as `parse_elem` read them.
#[derive(Default)]
struct Elem {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    value_fd: Option<i32>,
    flags: u64,
}

/// `parse_bytes`: `n` bytes, each `strtoul(.., 0)` or `[hex]`.
fn parse_bytes(c: &mut Ctx<'_, '_>, a: &mut Args, name: &str, n: usize) -> Result<Vec<u8>, ()> {
    let hex = a.is("hex") && a.peek() != Some("");
    if hex {
        a.next();
    }
    let mut out = Vec::new();
    while out.len() < n {
        let Some(w) = a.peek().map(str::to_string) else {
            break;
        };
        let v = if hex {
            u64::from_str_radix(&w, 16).ok()
        } else {
            parse_ulong(&w)
        };
        match v {
            Some(v) => out.push(v as u8),
            None => {
                c.p_err(format!("error parsing byte: {w}"))?;
                return Err(());
            }
        }
        a.next();
    }
    if out.len() != n {
        c.p_err(format!("{name} expected {n} bytes got {}", out.len()))?;
        return Err(());
    }
    Ok(out)
}

/// `parse_elem`: `key DATA`, `value VALUE`, `any|exist|noexist`, in any order.
fn parse_elem(
    c: &mut Ctx<'_, '_>,
    a: &mut Args,
    m: &MapInfo,
    want_key: bool,
    want_value: bool,
    want_flags: bool,
) -> Result<Elem, ()> {
    let mut e = Elem::default();
    let (mut need_key, mut need_value, mut need_flags) = (want_key, want_value, want_flags);
    loop {
        let Some(w) = a.peek().map(str::to_string) else {
            if !need_key && !need_value {
                return Ok(e);
            }
            c.p_err(format!(
                "did not find {}",
                if need_key { "key" } else { "value" }
            ))?;
            return Err(());
        };
        if is_prefix(&w, "key") {
            if !need_key {
                c.p_err(if m.key_size > 0 && want_key {
                    "duplicate key"
                } else {
                    "unnecessary key"
                })?;
            }
            a.next();
            e.key = Some(parse_bytes(c, a, "key", m.key_size as usize)?);
            need_key = false;
        } else if is_prefix(&w, "value") {
            if !need_value {
                c.p_err(if want_value {
                    "duplicate value"
                } else {
                    "unnecessary value"
                })?;
            }
            a.next();
            if is_fd_map(m.map_type) {
                let prog = m.map_type == map_type::PROG_ARRAY;
                if m.value_size != 4 {
                    c.p_err(if prog {
                        "value smaller than 4B for map of progs?"
                    } else {
                        "value smaller than 4B for map in map?"
                    })?;
                }
                if a.left() < 2 {
                    c.p_err(if prog {
                        "not enough value arguments for map of progs"
                    } else {
                        "not enough value arguments for map in map"
                    })?;
                }
                if prog && a.is("id") {
                    c.p_info("Warning: updating program array via MAP_ID, make sure this map is kept open\n         by some process or pinned otherwise update will be lost");
                }
                let fd = parse_fd(c, a, prog)?;
                e.value_fd = Some(fd);
                e.value = Some(fd.to_le_bytes().to_vec());
            } else {
                e.value = Some(parse_bytes(c, a, "value", m.value_size as usize)?);
            }
            need_value = false;
        } else if ["any", "noexist", "exist"].iter().any(|k| is_prefix(&w, k)) {
            if !need_flags {
                c.p_err(format!("flags specified multiple times: {w}"))?;
            }
            e.flags = if is_prefix(&w, "any") {
                0
            } else if is_prefix(&w, "noexist") {
                1
            } else {
                2
            };
            need_flags = false;
            a.next();
        } else {
            c.p_err(format!("expected key or value, got: {w}"))?;
        }
    }
}

fn open_with_info(c: &mut Ctx<'_, '_>, a: &mut Args) -> Result<(i32, MapInfo), ()> {
    if a.left() < 2 {
        help(c)?;
    }
    let fd = parse_fd(c, a, false)?;
    match map_info(c, fd) {
        Ok(m) => Ok((fd, m)),
        Err(()) => {
            let _ = c.p.close(fd);
            Err(())
        }
    }
}

/// `do_update`.
fn update(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    let (fd, m) = open_with_info(c, a)?;
    let r = (|| {
        let e = parse_elem(c, a, &m, true, true, true);
        let e = match e {
            Ok(e) => e,
            Err(()) => return Err(()),
        };
        let r = c.p.update(
            fd,
            e.key.as_deref().unwrap_or(&[]),
            e.value.as_deref().unwrap_or(&[]),
            e.flags,
        );
        if let Some(vfd) = e.value_fd {
            let _ = c.p.close(vfd);
        }
        match r {
            Ok(()) => Ok(()),
            Err(err) => {
                let _ = c.p_err(format!("update failed: {}", strerror(err)));
                c.errno_exit(err)
            }
        }
    })();
    let _ = c.p.close(fd);
    if r.is_ok() {
        if let Some(w) = &mut c.json {
            w.null();
        }
    }
    r
}

/// `do_lookup`.
fn lookup(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    let (fd, m) = open_with_info(c, a)?;
    let r = (|| {
        let e = parse_elem(c, a, &m, true, false, false)?;
        let key = e.key.unwrap_or_default();
        match c.p.lookup(fd, &key, m.value_size as usize) {
            Ok(v) => {
                // `print_key_value`: with BTF, formatted (plain mode: its own pretty writer).
                let btf = map_btf(c, &m)?;
                match (&mut c.json, &btf) {
                    (Some(w), b) => entry_json(w, &m, b.as_ref(), &key, &v),
                    (None, Some(btf)) => {
                        let mut w = super::json::JsonWriter::new(true);
                        Dumper { btf, plain: true }.entry(&mut w, &m, &key, &v);
                        c.out.push_str(&w.finish());
                    }
                    (None, None) => entry_plain(&mut c.out, &m, &key, &v),
                }
                Ok(())
            }
            Err(Errno::ENOENT) => {
                match &mut c.json {
                    Some(w) => w.null(),
                    None => c
                        .out
                        .push_str(&format!("key:\n{}\n\nNot found\n", fprint_hex(&key))),
                }
                c.errno_exit(Errno::ENOENT)
            }
            Err(err) => {
                let _ = c.p_err(format!("lookup failed: {}", strerror(err)));
                c.errno_exit(err)
            }
        }
    })();
    let _ = c.p.close(fd);
    r
}

/// `do_getnext`.
fn getnext(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    let (fd, m) = open_with_info(c, a)?;
    let r = (|| {
        let key = if a.left() > 0 {
            Some(
                parse_elem(c, a, &m, true, false, false)?
                    .key
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        match c.p.next_key(fd, key.as_deref(), m.key_size as usize) {
            Ok(next) => {
                match &mut c.json {
                    Some(w) => {
                        w.start_object();
                        w.name("key");
                        match &key {
                            Some(k) => hex_json(w, k),
                            None => w.null(),
                        }
                        w.name("next_key");
                        hex_json(w, &next);
                        w.end_object();
                    }
                    None => {
                        match &key {
                            Some(k) => c.out.push_str(&format!("key:\n{}\n", fprint_hex(k))),
                            None => c.out.push_str("key: None\n"),
                        }
                        c.out
                            .push_str(&format!("next key:\n{}\n", fprint_hex(&next)));
                    }
                }
                Ok(())
            }
            Err(err) => {
                let _ = c.p_err(format!("can't get next key: {}", strerror(err)));
                c.errno_exit(err)
            }
        }
    })();
    let _ = c.p.close(fd);
    r
}

/// `do_delete`.
fn delete(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    let (fd, m) = open_with_info(c, a)?;
    let r = (|| {
        let e = parse_elem(c, a, &m, true, false, false)?;
        match c.p.delete(fd, &e.key.unwrap_or_default()) {
            Ok(()) => Ok(()),
            Err(err) => {
                let _ = c.p_err(format!("delete failed: {}", strerror(err)));
                c.errno_exit(err)
            }
        }
    })();
    let _ = c.p.close(fd);
    if r.is_ok() {
        if let Some(w) = &mut c.json {
            w.null();
        }
    }
    r
}

/// `do_freeze`.
fn freeze(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    req_args(c, a, 2)?;
    let fd = parse_fd(c, a, false)?;
    if let Some(w) = a.peek().map(str::to_string) {
        let _ = c.p.close(fd);
        return c.p_err(format!("what is '{w}'?"));
    }
    let r = c.p.freeze(fd);
    let _ = c.p.close(fd);
    match r {
        Ok(()) => {
            if let Some(w) = &mut c.json {
                w.null();
            }
            Ok(())
        }
        Err(e) => {
            let _ = c.p_err(format!("failed to freeze map: {}", strerror(e)));
            c.errno_exit(e)
        }
    }
}

/// `do_create`: `map create FILE type T key K value V entries N name NAME [flags F]
/// [inner_map MAP]`, then pinned at FILE.
fn create(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    req_args(c, a, 7)?;
    let pinfile = a.next().unwrap_or_default();
    let (mut ty, mut name) = (None, None);
    let (mut key, mut value, mut entries, mut flags) = (0u32, 0u32, 0u32, 0u32);
    let mut inner: Option<i32> = None;
    let r = (|| {
        while a.left() > 0 {
            req_args(c, a, 2)?;
            let w = a.next().unwrap_or_default();
            let u32_arg = |c: &mut Ctx<'_, '_>, a: &mut Args, slot: &mut u32, what: &str| {
                let v = a.next().unwrap_or_default();
                if *slot != 0 {
                    return c.p_err(format!("{what} already specified"));
                }
                match parse_ulong(&v) {
                    Some(n) => {
                        *slot = n as u32;
                        Ok(())
                    }
                    None => c.p_err(format!("can't parse {v} as {what}")),
                }
            };
            if is_prefix(&w, "type") {
                let t = a.next().unwrap_or_default();
                if ty.is_some() {
                    return c.p_err("map type already specified");
                }
                match (1..64).find(|&i| map_type::name(i) == Some(t.as_str())) {
                    Some(i) => ty = Some(i),
                    None => return c.p_err(format!("unrecognized map type: {t}")),
                }
            } else if is_prefix(&w, "name") {
                name = a.next();
            } else if is_prefix(&w, "key") {
                u32_arg(c, a, &mut key, "key size")?;
            } else if is_prefix(&w, "value") {
                u32_arg(c, a, &mut value, "value size")?;
            } else if is_prefix(&w, "entries") {
                u32_arg(c, a, &mut entries, "max entries")?;
            } else if is_prefix(&w, "flags") {
                u32_arg(c, a, &mut flags, "flags")?;
            } else if is_prefix(&w, "inner_map") {
                let fd = parse_fd(c, a, false)?;
                map_info(c, fd)?;
                inner = Some(fd);
            } else {
                return c.p_err(format!("unknown arg {w}"));
            }
        }
        let Some(name) = name.clone() else {
            return c.p_err("map name not specified");
        };
        let mut attr = MapCreateAttr::new(ty.unwrap_or(0), key, value, entries)
            .flags(flags)
            .name(&name);
        if let Some(fd) = inner {
            attr = attr.inner(fd);
        }
        let fd = match sim::loader::load::LoadSys::map_create(&mut c.p, &attr) {
            Ok(fd) => fd,
            Err(e) => return c.p_err(format!("map create failed: {}", strerror(e))),
        };
        let r = pin_fd(c, fd, &pinfile);
        let _ = c.p.close(fd);
        r?;
        if let Some(w) = &mut c.json {
            w.null();
        }
        Ok(())
    })();
    if let Some(fd) = inner {
        let _ = c.p.close(fd);
    }
    r
}

//! bpftool's object handles: `id ID`, `name NAME`, `tag TAG` (programs), `pinned FILE`
//! (`prog_parse_fds`, `map_parse_fds`, `open_obj_pinned_any`), with its error messages.

use super::args::Args;
use super::info::Info;
use super::sys::strerror;
use super::{CmdResult, Ctx};
use sim::Errno;

/// `strtoul(s, &end, 0)` with `*end == 0`: decimal, `0x` hex or `0` octal.
pub fn parse_ulong(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() {
        return (radix == 8 || s == "0").then_some(0);
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `prog_parse_fds` (`prog: true`) or `map_parse_fds`: the fds the handle names (possibly
/// none for `name`/`tag`), `Err` after the error was reported.
pub fn parse_fds(c: &mut Ctx<'_, '_>, a: &mut Args, prog: bool) -> Result<Vec<i32>, ()> {
    if a.is("id") {
        a.next();
        let w = a.next().unwrap_or_default();
        let Some(id) = parse_ulong(&w).filter(|&v| v <= u64::from(u32::MAX)) else {
            c.p_err(format!("can't parse {w} as ID"))?;
            return Err(());
        };
        let id = id as u32;
        return match c.p.get_fd_by_id(prog, id) {
            Ok(fd) => Ok(vec![fd]),
            Err(e) => {
                let what = if prog { "get by id" } else { "get map by id" };
                c.p_err(format!("{what} ({id}): {}", strerror(e)))?;
                Err(())
            }
        };
    }
    if prog && a.is("tag") {
        a.next();
        let w = a.next().unwrap_or_default();
        let tag = (w.len() == 16)
            .then(|| {
                (0..8)
                    .map(|i| u8::from_str_radix(&w[2 * i..2 * i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()
            })
            .flatten();
        let Some(tag) = tag else {
            c.p_err("can't parse tag")?;
            return Err(());
        };
        return by_name_or_tag(c, prog, |i| match i {
            Info::Prog(p) => p.tag[..] == tag[..],
            Info::Map(_) => false,
        });
    }
    if a.is("name") {
        a.next();
        let name = a.next().unwrap_or_default();
        if name.len() > 15 {
            c.p_err("can't parse name")?;
        }
        return by_name_or_tag(c, prog, |i| match i {
            Info::Prog(p) => p.name == name,
            Info::Map(m) => m.name == name,
        });
    }
    if a.is("pinned") {
        a.next();
        let path = a.next().unwrap_or_default();
        return open_pinned(c, &path, prog).map(|fd| vec![fd]);
    }
    let got = a.peek().unwrap_or("").to_string();
    if prog {
        c.p_err(format!(
            "expected 'id', 'tag', 'name' or 'pinned', got: '{got}'?"
        ))?;
    } else {
        c.p_err(format!("expected 'id', 'name' or 'pinned', got: '{got}'?"))?;
    }
    Err(())
}

fn by_name_or_tag(
    c: &mut Ctx<'_, '_>,
    prog: bool,
    want: impl Fn(&Info) -> bool,
) -> Result<Vec<i32>, ()> {
    let mut fds = Vec::new();
    let mut id = 0;
    loop {
        match c.p.get_next_id(prog, id) {
            Ok(n) => id = n,
            Err(_) => return Ok(fds),
        }
        let fd = match c.p.get_fd_by_id(prog, id) {
            Ok(fd) => fd,
            Err(e) => {
                let what = if prog { "prog" } else { "map" };
                c.p_err(format!("can't get {what} by id ({id}): {}", strerror(e)))?;
                return Err(());
            }
        };
        match c.p.info(fd) {
            Ok(i) if want(&i) => fds.push(fd),
            Ok(_) => {
                let _ = c.p.close(fd);
            }
            Err(e) => {
                let what = if prog { "prog" } else { "map" };
                c.p_err(format!("can't get {what} info ({id}): {}", strerror(e)))?;
                return Err(());
            }
        }
    }
}

/// `open_obj_pinned_any`: `BPF_OBJ_GET`, then the type of what came back.
pub fn open_pinned(c: &mut Ctx<'_, '_>, path: &str, prog: bool) -> Result<i32, ()> {
    let fd = match c.p.obj_get(path, 0) {
        Ok(fd) => fd,
        Err(e) => {
            let dir = match path.rfind('/') {
                Some(0) => "/".to_string(),
                Some(i) => path[..i].to_string(),
                None => ".".to_string(),
            };
            let why = if e == sim::Errno::EACCES && !c.p.is_bpffs(&dir) {
                "directory not in bpf file system (bpffs)".into()
            } else {
                strerror(e)
            };
            c.p_err(format!("bpf obj get ({path}): {why}"))?;
            return Err(());
        }
    };
    let is_prog = c.p.fd_is_prog(fd) == Some(true);
    if is_prog != prog {
        let _ = c.p.close(fd);
        c.p_err(format!(
            "incorrect object type: {}",
            if is_prog { "prog" } else { "map" }
        ))?;
        return Err(());
    }
    Ok(fd)
}

/// `prog_parse_fd` / `map_parse_fd`: exactly one object.
pub fn parse_fd(c: &mut Ctx<'_, '_>, a: &mut Args, prog: bool) -> Result<i32, ()> {
    let fds = parse_fds(c, a, prog)?;
    match fds.len() {
        1 => Ok(fds[0]),
        0 => Err(()),
        _ => {
            for fd in fds {
                let _ = c.p.close(fd);
            }
            c.p_err(if prog {
                "several programs match this handle"
            } else {
                "several maps match this handle"
            })?;
            Err(())
        }
    }
}

/// `REQ_ARGS(n)`: `'WORD' needs at least N arguments, M found`.
pub fn req_args(c: &mut Ctx<'_, '_>, a: &Args, n: usize) -> CmdResult {
    if a.left() < n {
        let msg = format!(
            "'{}' needs at least {n} arguments, {} found",
            a.prev(),
            a.left()
        );
        return c.p_err(msg);
    }
    Ok(())
}

/// `mount_bpffs_for_pin(name)`: a bpffs on the pin's directory, mounted if missing.
pub fn mount_bpffs_for_pin(c: &mut Ctx<'_, '_>, name: &str) -> CmdResult {
    let dir = match name.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => name[..i].to_string(),
        None => ".".to_string(),
    };
    if c.p.is_bpffs(&dir) {
        return Ok(());
    }
    if c.opts.nomount {
        return c.p_err("no BPF file system found, not mounting it due to --nomount option");
    }
    let why = match c.p.exists(&dir) {
        Err(e) => format!("mount --make-private {dir} failed: {}", strerror(e)),
        Ok(_) => match c.p.mount_bpffs(&dir) {
            Ok(()) => return Ok(()),
            Err(e) => format!("mount -t bpf bpf {dir} failed: {}", strerror(e)),
        },
    };
    c.p_err(format!(
        "can't mount BPF file system to pin the object ({name}): {why}"
    ))
}

/// `do_pin_fd`: mount if needed, then `BPF_OBJ_PIN`.
pub fn pin_fd(c: &mut Ctx<'_, '_>, fd: i32, path: &str) -> CmdResult {
    mount_bpffs_for_pin(c, path)?;
    match c.p.obj_pin(fd, path) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = c.p_err(format!("can't pin the object ({path}): {}", strerror(e)));
            c.errno_exit(e)
        }
    }
}

/// `do_pin_any`: `pin HANDLE FILE`.
pub fn do_pin(c: &mut Ctx<'_, '_>, a: &mut Args, prog: bool) -> CmdResult {
    req_args(c, a, 3)?;
    let fd = parse_fd(c, a, prog)?;
    let path = a.next().unwrap_or_default();
    let r = pin_fd(c, fd, &path);
    let _ = c.p.close(fd);
    if r.is_ok() {
        if let Some(w) = &mut c.json {
            w.null();
        }
    }
    r
}

/// `do_show` of `prog.c` and `map.c`: the objects a handle names (`show` of each, in a JSON
/// array when there are several), or, with no handle, every program (`prog`) or map in id
/// order (`GET_NEXT_ID`, then `GET_FD_BY_ID`; an id that vanished in between is skipped).
pub fn do_show(
    c: &mut Ctx<'_, '_>,
    a: &mut Args,
    prog: bool,
    show: impl Fn(&mut Ctx<'_, '_>, i32) -> CmdResult,
) -> CmdResult {
    let (kind, short) = if prog {
        ("program", "prog")
    } else {
        ("map", "map")
    };
    if a.left() == 2 {
        let fds = parse_fds(c, a, prog)?;
        let many = fds.len() > 1;
        if many {
            if let Some(w) = &mut c.json {
                w.start_array();
            }
        }
        let mut r = Ok(());
        for fd in fds {
            if r.is_ok() {
                r = show(c, fd);
            }
            let _ = c.p.close(fd);
        }
        if many {
            if let Some(w) = &mut c.json {
                w.end_array();
            }
        }
        return r;
    }
    if a.left() > 0 {
        let w = a.peek().unwrap_or("").to_string();
        return c.p_err(format!("what is '{w}'?"));
    }
    if let Some(w) = &mut c.json {
        w.start_array();
    }
    let mut id = 0;
    let mut r = Ok(());
    loop {
        match c.p.get_next_id(prog, id) {
            Ok(n) => id = n,
            Err(Errno::ENOENT) => break,
            Err(e) => {
                let old = if e == Errno::EINVAL {
                    " -- kernel too old?"
                } else {
                    ""
                };
                r = c.p_err(format!("can't get next {kind}: {}{old}", strerror(e)));
                break;
            }
        }
        let fd = match c.p.get_fd_by_id(prog, id) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                r = c.p_err(format!("can't get {short} by id ({id}): {}", strerror(e)));
                break;
            }
        };
        r = show(c, fd);
        let _ = c.p.close(fd);
        if r.is_err() {
            break;
        }
    }
    if let Some(w) = &mut c.json {
        w.end_array();
    }
    r
}

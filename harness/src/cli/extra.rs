//! The top-level command table and bpfsim's own commands, the ones bpftool has no
//! counterpart for: `explain` (who holds an object, and its history), `log` (the bpf() calls
//! of every invocation so far), `mount`/`umount`/`rm` (file system calls on the simulated
//! machine), `sync` (an RCU grace period), `advance` (the virtual clock). `script`, `seed`
//! and `reset` act on the whole machine and live in [`super::Machine`].

use sim::object::EventKind;
use sim::{Errno, ObjRef};

use super::args::{self, Args};
use super::handles::parse_ulong;
use super::sys::strerror;
use super::{CmdResult, Ctx, Machine};

/// `cmd_select` over the top-level table.
pub fn dispatch(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    if a.version {
        return version(c);
    }
    if a.help {
        c.err.push_str(args::USAGE);
        return Ok(());
    }
    let Some(w) = a.next() else {
        c.err.push_str(args::USAGE);
        return Ok(());
    };
    match args::top_level(&w) {
        Some("help") => {
            match &mut c.json {
                Some(j) => j.null(),
                None => c.err.push_str(args::USAGE),
            }
            Ok(())
        }
        Some("prog") => super::prog::dispatch(c, a),
        Some("map") => super::map::dispatch(c, a),
        Some("version") => version(c),
        Some(cmd @ ("explain" | "log" | "reset" | "sync" | "advance")) if c.k().is_none() => c
            .p_err(format!(
                "'{cmd}' is bpfsim's own command; it has no --kernel form"
            )),
        Some("explain") => explain(c, a),
        Some("log") => log(c),
        Some("reset") => Ok(()),
        Some("mount") => {
            let dir = a.next().unwrap_or_else(|| "/sys/fs/bpf".into());
            let r = c.p.mount_bpffs(&dir);
            r.or_else(|e| c.p_err(format!("can't mount bpffs on {dir}: {}", strerror(e))))
        }
        Some("umount") => {
            let Some(dir) = a.next() else {
                return c.p_err("'umount' needs at least 1 arguments, 0 found");
            };
            let r = c.p.umount(&dir);
            r.or_else(|e| c.p_err(format!("can't umount {dir}: {}", strerror(e))))
        }
        Some("rm") => {
            let Some(path) = a.next() else {
                return c.p_err("'rm' needs at least 1 arguments, 0 found");
            };
            let r = c.p.unlink_path(&path);
            r.or_else(|e| c.p_err(format!("can't remove {path}: {}", strerror(e))))
        }
        Some("sync") => sync(c),
        Some("advance") => {
            let v = a.next().unwrap_or_default();
            match parse_ulong(&v) {
                Some(ms) => {
                    if let Some(k) = c.p.model() {
                        k.advance(ms.saturating_mul(1_000_000));
                    }
                    Ok(())
                }
                None => c.p_err(format!("can't parse {v} as MSECS")),
            }
        }
        _ => {
            c.err.push_str(args::USAGE);
            Err(())
        }
    }
}

fn version(c: &mut Ctx<'_, '_>) -> CmdResult {
    match &mut c.json {
        Some(w) => {
            w.start_object();
            w.string_field("version", "7.1.0");
            w.string_field("libbpf_version", "1.1");
            w.string_field("bpfsim_version", env!("CARGO_PKG_VERSION"));
            w.end_object();
        }
        None => c.out.push_str(&format!(
            "bpfsim v{} (bpftool v7.1.0 commands, libbpf v1.1 loading rules, a simulated Linux 6.18)\n",
            env!("CARGO_PKG_VERSION")
        )),
    }
    Ok(())
}

/// `sync`: an RCU grace period; what it freed, one line each.
fn sync(c: &mut Ctx<'_, '_>) -> CmdResult {
    let Some(k) = c.p.model() else {
        return Err(());
    };
    let n = k.events().iter().count();
    k.synchronize();
    let freed: Vec<String> = k
        .events()
        .iter()
        .skip(n)
        .filter(|e| e.kind == EventKind::Freed)
        .map(|e| {
            let kind = if matches!(e.obj, ObjRef::Map(_)) {
                "map"
            } else {
                "prog"
            };
            format!("{kind} #{}", e.serial)
        })
        .collect();
    c.p.trace.push("synchronize_rcu() = 0".into());
    match &mut c.json {
        Some(w) => {
            w.start_array();
            for f in &freed {
                w.string(f);
            }
            w.end_array();
        }
        None => {
            for f in &freed {
                c.out.push_str(&format!("freed {f}\n"));
            }
        }
    }
    Ok(())
}

/// `log`: every journaled invocation replayed on a fresh machine, with its calls.
fn log(c: &mut Ctx<'_, '_>) -> CmdResult {
    let mut m = Machine::boot();
    for e in c.journal.clone() {
        let mut files = super::sys::RecordedFiles(e.files.clone());
        let o = m.invoke(&e.argv, &mut files);
        c.out.push_str(&format!("$ bpfsim {}\n", e.argv.join(" ")));
        for l in &o.trace {
            c.out.push_str(l);
            c.out.push('\n');
        }
    }
    Ok(())
}

/// Which object `explain` is about.
fn find(c: &mut Ctx<'_, '_>, a: &mut Args, prog: bool) -> Result<Vec<u64>, ()> {
    let Some(k) = c.k() else {
        return Err(());
    };
    let serial_of = |o: ObjRef| match o {
        ObjRef::Map(m) => k.map(m).map(|m| m.serial),
        ObjRef::Prog(p) => k.prog(p).map(|p| p.serial),
    };
    let w = a.next().unwrap_or_default();
    let v = a.next().unwrap_or_default();
    if args::is_prefix(&w, "id") && !w.is_empty() {
        let Some(id) = parse_ulong(&v).filter(|&n| n <= u64::from(u32::MAX)) else {
            c.p_err(format!("can't parse {v} as ID"))?;
            return Err(());
        };
        let id = id as u32;
        let live = if prog {
            k.prog_by_id(id).map(ObjRef::Prog)
        } else {
            k.map_by_id(id).map(ObjRef::Map)
        };
        if let Some(s) = live.and_then(serial_of) {
            return Ok(vec![s]);
        }
        // A freed object: the last one the log saw created with this id.
        let past = k
            .events()
            .iter()
            .filter(|e| {
                matches!(e.kind, EventKind::Created(i) if i == id)
                    && matches!(e.obj, ObjRef::Prog(_)) == prog
            })
            .map(|e| e.serial)
            .last();
        return match past {
            Some(s) => Ok(vec![s]),
            None => {
                let kind = if prog { "prog" } else { "map" };
                c.p_err(format!("no {kind} ever had id {id}"))?;
                Err(())
            }
        };
    }
    if args::is_prefix(&w, "pinned") && !w.is_empty() {
        let found = k.vfs().pins().into_iter().find(|p| p.paths.contains(&v));
        return match found.and_then(|p| {
            (matches!(p.obj, ObjRef::Prog(_)) == prog)
                .then_some(p.obj)
                .and_then(serial_of)
        }) {
            Some(s) => Ok(vec![s]),
            None => {
                c.p_err(format!("bpf obj get ({v}): {}", strerror(Errno::ENOENT)))?;
                Err(())
            }
        };
    }
    if args::is_prefix(&w, "name") && !w.is_empty() {
        let mut out = Vec::new();
        if prog {
            for (_, p) in k.prog_id_table() {
                if let Some(p) = k.prog(p).filter(|p| p.name_str() == v) {
                    out.push(p.serial);
                }
            }
        } else {
            for (_, m) in k.map_id_table() {
                if let Some(m) = k.map(m).filter(|m| m.name_str() == v) {
                    out.push(m.serial);
                }
            }
        }
        if out.is_empty() {
            let kind = if prog { "program" } else { "map" };
            c.p_err(format!("no live {kind} is named '{v}'"))?;
            return Err(());
        }
        return Ok(out);
    }
    c.p_err(format!("expected 'id', 'name' or 'pinned', got: '{w}'?"))?;
    Err(())
}

/// `explain { map | prog } HANDLE`: who holds the object and why, and every reference it
/// ever gained or lost, with the invocation that did it.
fn explain(c: &mut Ctx<'_, '_>, a: &mut Args) -> CmdResult {
    let prog = match a.next().as_deref() {
        Some(w) if !w.is_empty() && args::is_prefix(w, "map") => false,
        Some(w) if !w.is_empty() && args::is_prefix(w, "prog") => true,
        other => {
            return c.p_err(format!(
                "expected 'map' or 'prog', got: '{}'?",
                other.unwrap_or("")
            ));
        }
    };
    if a.left() < 2 {
        return c.p_err(format!(
            "'{}' needs at least 2 arguments, {} found",
            a.prev(),
            a.left()
        ));
    }
    let serials = find(c, a, prog)?;
    let notes = c.procs.clone();
    for s in serials {
        let Some(ex) = c.k().and_then(|k| k.explain_serial(s)) else {
            continue;
        };
        let verdict = match (ex.obj, ex.id) {
            (None, _) => "freed".to_string(),
            (Some(_), 0) => {
                "its id is gone; it is freed at the next RCU grace period (bpfsim sync)".to_string()
            }
            (Some(_), _) if ex.holders.is_empty() => "alive, held by nothing".to_string(),
            (Some(_), _) => format!(
                "alive because of: {}",
                ex.holders
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        // The position of each of the object's events in the machine's log.
        let positions: Vec<usize> = c
            .k()
            .map(|k| k.events().iter().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter(|(_, e)| e.serial == s)
            .map(|(i, _)| i)
            .collect();
        let who = |pos: usize| {
            notes
                .iter()
                .rev()
                .find(|n| n.first_event <= pos)
                .map(|n| format!("pid {} `bpfsim {}`", n.pid, n.cmd))
                .unwrap_or_else(|| "boot".into())
        };
        match &mut c.json {
            Some(w) => {
                w.start_object();
                w.string_field("kind", ex.kind);
                w.num_field("serial", ex.serial);
                w.num_field("id", ex.id);
                w.string_field("name", &ex.name);
                w.num_field("refcnt", ex.refcnt);
                if ex.kind == "map" {
                    w.num_field("usercnt", ex.usercnt);
                }
                w.string_field("verdict", &verdict);
                w.name("holders");
                w.start_array();
                for h in &ex.holders {
                    w.string(&h.to_string());
                }
                w.end_array();
                w.name("history");
                w.start_array();
                for (i, e) in ex.history.iter().enumerate() {
                    w.start_object();
                    w.string_field("event", &sim::explain::describe(e));
                    w.string_field("by", &who(positions.get(i).copied().unwrap_or(0)));
                    w.end_object();
                }
                w.end_array();
                w.end_object();
            }
            None => {
                let mut text = ex.to_string();
                // One history line per event, each followed by the invocation it belongs to.
                let mut lines: Vec<String> = Vec::new();
                let mut hist = positions.iter();
                for l in text.lines() {
                    lines.push(l.to_string());
                    if l.starts_with("    [syscall") {
                        if let Some(&pos) = hist.next() {
                            let last = lines.len() - 1;
                            lines[last] = format!("{l}   <- {}", who(pos));
                        }
                    }
                }
                text = lines.join("\n");
                c.out.push_str(&text);
                c.out.push_str(&format!("\n  verdict: {verdict}\n"));
            }
        }
    }
    Ok(())
}

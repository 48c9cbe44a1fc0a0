//! A bpftool-like listing of every live object of a simulated machine, with who holds it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sim::explain::HolderInfo;
use sim::uapi::{map_type, prog_type};
use sim::{Kernel, ObjRef};

/// Names for ids and fds that do not depend on the machine: `map@N`, `prog@N` in id order,
/// `pid@N` in pid order, `fd@N` per process in fd order.
#[derive(Default)]
struct Names {
    names: BTreeMap<(u8, u32, u32), String>,
    counts: BTreeMap<(u8, u32), usize>,
}

impl Names {
    fn get(&mut self, kind: u8, scope: u32, n: u32, prefix: &str) -> String {
        if let Some(s) = self.names.get(&(kind, scope, n)) {
            return s.clone();
        }
        let c = self.counts.entry((kind, scope)).or_default();
        *c += 1;
        let s = format!("{prefix}@{c}");
        self.names.insert((kind, scope, n), s.clone());
        s
    }
}

/// Every live map and program in id order, bpftool-style, each with its holders.
pub fn show_objects(k: &Kernel) -> String {
    let mut names = Names::default();
    let mut out = String::new();
    for (id, idx) in k.map_id_table() {
        let m = k.map(idx).expect("listed map");
        let ex = k.explain(ObjRef::Map(idx));
        let name = names.get(0, 0, id, "map");
        let _ = writeln!(
            out,
            "{name}: {} name {} flags {:#x}  key {}B value {}B max_entries {}  refcnt {} usercnt {}{}",
            map_type::name(m.map_type).unwrap_or("?"),
            ex.name,
            m.map_flags,
            m.key_size,
            m.value_size,
            m.max_entries,
            ex.refcnt,
            ex.usercnt,
            if m.frozen { "  frozen" } else { "" }
        );
        for h in &ex.holders {
            let _ = writeln!(out, "\t{}", holder(h, &mut names));
        }
    }
    for (id, idx) in k.prog_id_table() {
        let p = k.prog(idx).expect("listed prog");
        let ex = k.explain(ObjRef::Prog(idx));
        let name = names.get(1, 0, id, "prog");
        let maps: Vec<String> = p
            .used_maps
            .iter()
            .map(|m| names.get(0, 0, k.map(*m).expect("used").id, "map"))
            .collect();
        let _ = writeln!(
            out,
            "{name}: {} name {} tag {}  refcnt {}  map_ids [{}]",
            prog_type::name(p.prog_type).unwrap_or("?"),
            ex.name,
            p.tag_hex(),
            ex.refcnt,
            maps.join(", ")
        );
        for h in &ex.holders {
            let _ = writeln!(out, "\t{}", holder(h, &mut names));
        }
    }
    if out.is_empty() {
        out.push_str("(no objects)\n");
    }
    out
}

fn holder(h: &HolderInfo, names: &mut Names) -> String {
    match h {
        HolderInfo::File { fds, .. } => {
            let list: Vec<String> = fds
                .iter()
                .map(|(p, fd)| {
                    format!(
                        "{} {}",
                        names.get(2, 0, p.0, "pid"),
                        names.get(3, p.0, *fd as u32, "fd")
                    )
                })
                .collect();
            format!("held by open file: {}", list.join(", "))
        }
        HolderInfo::UsedBy { prog_id, prog_name } if *prog_id != 0 => {
            format!(
                "held by {} {prog_name:?} (used_maps)",
                names.get(1, 0, *prog_id, "prog")
            )
        }
        HolderInfo::InnerOf { outer_id, slot } if *outer_id != 0 => {
            format!(
                "held by slot {slot} of {}",
                names.get(0, 0, *outer_id, "map")
            )
        }
        HolderInfo::TailCallSlot { map_id, index } => {
            format!(
                "held by slot {index} of {}",
                names.get(0, 0, *map_id, "map")
            )
        }
        other => format!("held by {other}"),
    }
}

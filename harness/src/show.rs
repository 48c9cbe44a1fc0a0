//! A bpftool-like listing of every live object, with who holds it.

use std::fmt::Write as _;

use sim::uapi::{map_type, prog_type};
use sim::{Kernel, ObjRef};

use crate::Normalizer;

/// Every live map and program in id order, bpftool-style, each with its holders, ids through
/// `norm`. Objects whose id is gone but whose release is pending are listed as such.
pub fn show_objects(k: &Kernel, norm: &mut Normalizer) -> String {
    let mut out = String::new();
    for (_, idx) in k.map_id_table() {
        let m = k.map(idx).expect("listed map");
        let ex = k.explain(ObjRef::Map(idx));
        let name = norm.map(ex.id);
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
            let _ = writeln!(out, "\t{}", holder(h, norm));
        }
    }
    for (_, idx) in k.prog_id_table() {
        let p = k.prog(idx).expect("listed prog");
        let ex = k.explain(ObjRef::Prog(idx));
        let name = norm.prog(ex.id);
        let maps: Vec<String> = p
            .used_maps
            .iter()
            .map(|m| norm.map(k.map(*m).expect("used").id))
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
            let _ = writeln!(out, "\t{}", holder(h, norm));
        }
    }
    if out.is_empty() {
        out.push_str("(no objects)\n");
    }
    out
}

fn holder(h: &sim::explain::HolderInfo, norm: &mut Normalizer) -> String {
    use sim::explain::HolderInfo as H;
    match h {
        H::File { fds, .. } => {
            let list: Vec<String> = fds
                .iter()
                .map(|(p, fd)| format!("{} {}", norm.pid(*p), norm.fd(*p, *fd)))
                .collect();
            format!("held by open file: {}", list.join(", "))
        }
        H::UsedBy { prog_id, prog_name } if *prog_id != 0 => {
            format!("held by {} {prog_name:?} (used_maps)", norm.prog(*prog_id))
        }
        H::InnerOf { outer_id, slot } if *outer_id != 0 => {
            format!("held by slot {slot} of {}", norm.map(*outer_id))
        }
        H::TailCallSlot { map_id, index } => {
            format!("held by slot {index} of {}", norm.map(*map_id))
        }
        other => format!("held by {other}"),
    }
}

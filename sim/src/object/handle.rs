//! Handles to objects in the kernel's arenas.

/// Index of a map in the kernel's map arena. Valid while the map holds at least one reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MapIdx(pub u32);

/// Index of a program in the kernel's program arena. Valid while it holds a reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProgIdx(pub u32);

/// A bpf object a file description, a pin or a slot can refer to (`enum bpf_type` in
/// `kernel/bpf/inode.c`: map, prog; links and BTF objects have room here later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjRef {
    /// A map (`BPF_TYPE_MAP`).
    Map(MapIdx),
    /// A program (`BPF_TYPE_PROG`).
    Prog(ProgIdx),
}

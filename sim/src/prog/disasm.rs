//! bpftool-style disassembly (being written).

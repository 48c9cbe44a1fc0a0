//! The ELF loader: libbpf's pipeline on real objects (being built; see issue "The ELF
//! loader"). Parsing is a pure function of the object's bytes; only loading talks to a
//! kernel.

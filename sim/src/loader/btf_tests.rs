//! Unit tests of the `.BTF` and `.BTF.ext` parsers on bytes built in memory.

use super::btf::{Btf, kind};
use super::btf_ext::BtfExt;
use super::error::BtfProblem;
use super::testutil::BtfBuilder;

#[test]
fn btf_parse_errors() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    b.ptr(int);
    let good = b.build();
    assert!(Btf::parse(&good).is_ok());
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = good.clone();
        f(&mut d);
        Btf::parse(&d).map(|_| ()).map_err(|e| e.1)
    };
    assert_eq!(with(&|d| d[0] = 0), Err(BtfProblem::Magic(0xeb00)));
    assert_eq!(with(&|d| d[2] = 2), Err(BtfProblem::Version(2)));
    assert_eq!(with(&|d| d.truncate(20)), Err(BtfProblem::Header));
    assert_eq!(with(&|d| d[20] = 0xff), Err(BtfProblem::Layout));
    // Pointer (type 2, at 24 + 16) to type 9.
    assert_eq!(with(&|d| d[24 + 16 + 8] = 9), Err(BtfProblem::TypeId(9)));
    // Name offset past the strings.
    assert_eq!(with(&|d| d[24] = 0x70), Err(BtfProblem::StringOffset(0x70)));
    // Kind 25 with no layout section.
    assert_eq!(
        with(&|d| d[24 + 16 + 7] = 25),
        Err(BtfProblem::UnknownKind(25))
    );
    // Type section length not on a record boundary.
    assert_eq!(with(&|d| d[12] = 26), Err(BtfProblem::TypeTruncated));
}

#[test]
fn btf_cycles_and_sizes() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let td1 = b.add("a", kind::TYPEDEF, 0, 3, &[]);
    let td2 = b.add("b", kind::TYPEDEF, 0, td1, &[]);
    let arr = b.array(int, int, 5);
    let arr2 = b.array(arr, int, 3);
    let big = b.array(int, int, u32::MAX);
    let btf = Btf::parse(&b.build()).unwrap();
    assert_eq!(btf.skip_mods_and_typedefs(td2), Err(BtfProblem::Cycle(td2)));
    assert_eq!(btf.resolve_size(td1), Err(BtfProblem::Cycle(td1)));
    assert_eq!(btf.resolve_size(arr2), Ok(60));
    assert_eq!(btf.resolve_size(big), Err(BtfProblem::Size(big)));
    assert_eq!(btf.resolve_size(0), Err(BtfProblem::Size(0)));
}

/// An unknown kind described by the layout section is skipped with its size.
#[test]
fn btf_unknown_kind_with_layout_is_skipped() {
    let mut b = BtfBuilder::new();
    b.int("int", 4);
    // Kind 20, vlen 2: 4 bytes of info + 2 * 8 bytes of elements.
    b.add("", 20, 2, 0, &[0, 0, 0, 0, 0]);
    b.int("long", 8);
    let mut d = b.build();
    let types_len = u32::from_le_bytes(d[12..16].try_into().unwrap());
    // Layout after the types: 21 kinds * 4 bytes, kind 20 = { info_sz 4, elem_sz 8 }.
    let mut layout = vec![0u8; 21 * 4];
    layout[80] = 4;
    layout[81] = 8;
    let strings = d.split_off(24 + types_len as usize);
    d.extend_from_slice(&layout);
    d.extend_from_slice(&strings);
    d[4..8].copy_from_slice(&32u32.to_le_bytes());
    let mut hdr = d[..24].to_vec();
    hdr.extend_from_slice(&types_len.to_le_bytes());
    hdr.extend_from_slice(&(layout.len() as u32).to_le_bytes());
    hdr[16..20].copy_from_slice(&(types_len + layout.len() as u32).to_le_bytes());
    hdr.extend_from_slice(&d[24..]);
    let btf = Btf::parse(&hdr).unwrap();
    assert_eq!(btf.type_cnt(), 4);
    assert_eq!(btf.resolve_size(3), Ok(8));
}

#[test]
fn btf_ext_counts_records() {
    let mut d = vec![0x9f, 0xeb, 1, 0];
    d.extend_from_slice(&32u32.to_le_bytes());
    let func: Vec<u32> = vec![8, 1, 2, 0, 10, 8, 11];
    let line: Vec<u32> = vec![16, 1, 1, 0, 0, 0, 0];
    let words = |v: &[u32]| v.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    let (f, l) = (words(&func), words(&line));
    for w in [0, f.len() as u32, f.len() as u32, l.len() as u32, 0, 0] {
        d.extend_from_slice(&w.to_le_bytes());
    }
    d.extend_from_slice(&f);
    d.extend_from_slice(&l);
    let ext = BtfExt::parse(&d).unwrap();
    assert_eq!(
        (
            ext.func_info.count(),
            ext.line_info.count(),
            ext.core_relo.count()
        ),
        (2, 1, 0)
    );
    let mut bad = d.clone();
    bad[32..36].copy_from_slice(&6u32.to_le_bytes());
    assert_eq!(
        BtfExt::parse(&bad).map_err(|e| e.1),
        Err(BtfProblem::RecordSize(6))
    );
    bad = d.clone();
    bad[40..44].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(
        BtfExt::parse(&bad).map_err(|e| e.1),
        Err(BtfProblem::Records)
    );
    assert_eq!(
        BtfExt::parse(&d[..8]).map_err(|e| e.1),
        Err(BtfProblem::Header)
    );
}

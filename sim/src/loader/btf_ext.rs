//! `.BTF.ext`: the header and the per-section record counts of func_info, line_info and
//! CO-RE relocations, validated as libbpf's `btf_ext_parse` / `btf_ext_parse_sec_info`
//! do (`src/btf.c`), with each section's records kept as bytes for `BPF_PROG_LOAD`.

use super::btf::BTF_MAGIC;
use super::error::BtfProblem;

/// Record counts of one ELF section inside an info block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtSection {
    /// `sec_name_off` (resolve with [`super::btf::Btf::name`]).
    pub name_off: u32,
    /// `num_info`.
    pub records: u32,
    /// The records, `record_size` bytes each, as in the file (`insn_off` in bytes).
    pub data: Vec<u8>,
}

/// One info block (func_info, line_info or core_relo).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtInfo {
    /// Bytes per record.
    pub record_size: u32,
    /// Sections in file order.
    pub sections: Vec<ExtSection>,
}

impl ExtInfo {
    /// Total number of records.
    pub fn count(&self) -> u64 {
        self.sections.iter().map(|s| u64::from(s.records)).sum()
    }
}

/// A parsed `.BTF.ext`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfExt {
    /// `func_info` (records of at least 8 bytes: `bpf_func_info_min`).
    pub func_info: ExtInfo,
    /// `line_info` (at least 16 bytes: `bpf_line_info_min`).
    pub line_info: ExtInfo,
    /// `core_relo` (at least 16 bytes: `bpf_core_relo`), absent in short headers.
    pub core_relo: ExtInfo,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl BtfExt {
    /// Parses `.BTF.ext` bytes; errors carry the offset inside the section.
    pub fn parse(data: &[u8]) -> Result<BtfExt, (u64, BtfProblem)> {
        if data.len() < 8 {
            return Err((0, BtfProblem::Header));
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic != BTF_MAGIC {
            return Err((0, BtfProblem::Magic(magic)));
        }
        if data[2] != 1 {
            return Err((2, BtfProblem::Version(data[2])));
        }
        if data[3] != 0 {
            return Err((3, BtfProblem::Flags(data[3])));
        }
        let hdr_len = u32_at(data, 4).unwrap_or(0) as usize;
        // At least func_info and line_info offsets and lengths, and some data after them.
        if hdr_len >= data.len() || hdr_len < 24 {
            return Err((4, BtfProblem::Header));
        }
        let hdr = |i: usize| u32_at(data, 8 + 4 * i).unwrap_or(0);
        let block = |i: usize, min: u32| parse_info(data, hdr_len, hdr(2 * i), hdr(2 * i + 1), min);
        let func_info = block(0, 8)?;
        let line_info = block(1, 16)?;
        let core_relo = if hdr_len >= 32 {
            block(2, 16)?
        } else {
            ExtInfo::default()
        };
        Ok(BtfExt {
            func_info,
            line_info,
            core_relo,
        })
    }
}

fn parse_info(
    data: &[u8],
    hdr_len: usize,
    off: u32,
    len: u32,
    min: u32,
) -> Result<ExtInfo, (u64, BtfProblem)> {
    if len == 0 {
        return Ok(ExtInfo::default());
    }
    let start = hdr_len as u64 + u64::from(off);
    if off % 4 != 0 || start + u64::from(len) > data.len() as u64 {
        return Err((start, BtfProblem::Layout));
    }
    // In range: start + len <= data.len().
    let info = &data[start as usize..start as usize + len as usize];
    let record_size = u32_at(info, 0).ok_or((start, BtfProblem::Records))?;
    if record_size < min || record_size % 4 != 0 {
        return Err((start, BtfProblem::RecordSize(record_size)));
    }
    let mut pos = 4usize;
    if pos == info.len() {
        return Err((start, BtfProblem::Records));
    }
    let mut sections = Vec::new();
    while pos < info.len() {
        let at = start + pos as u64;
        let (Some(name_off), Some(records)) = (u32_at(info, pos), u32_at(info, pos + 4)) else {
            return Err((at, BtfProblem::Records));
        };
        let total = 8 + u64::from(records) * u64::from(record_size);
        if records == 0 || total > (info.len() - pos) as u64 {
            return Err((at, BtfProblem::Records));
        }
        let data = info[pos + 8..pos + total as usize].to_vec();
        sections.push(ExtSection {
            name_off,
            records,
            data,
        });
        pos += total as usize;
    }
    Ok(ExtInfo {
        record_size,
        sections,
    })
}

//! Decoding of `union bpf_attr` as `__sys_bpf()` receives it.
//!
//! The checks every command gets, in the kernel's order (`kernel/bpf/syscall.c`):
//! `bpf_check_uarg_tail_zero()` (size over `PAGE_SIZE`, or a non-zero byte past
//! `sizeof(union bpf_attr)`: `E2BIG`), the copy of `min(size, sizeof(attr))` bytes into a
//! zeroed attr, and per command `CHECK_ATTR()` (a non-zero byte past the command's last field:
//! `EINVAL`).

use crate::errno::{Errno, SysResult};
use crate::uapi::limits::{ATTR_SIZE, PAGE_SIZE};

/// A `union bpf_attr` as a command reads it: the first `min(size, sizeof(union bpf_attr))`
/// bytes the caller passed, every byte past them reading as zero (the kernel zero-fills its
/// copy). A view of the caller's bytes: commands that write results back into the attr
/// work on an [`Attr::owned`] copy.
#[derive(Clone, Copy)]
pub struct Attr<'a> {
    bytes: &'a [u8],
    size: usize,
}

impl<'a> Attr<'a> {
    /// `bpf_check_uarg_tail_zero()` + `copy_from_bpfptr()`: `user` holds the `size` bytes the
    /// caller passed (a `user` shorter than `size` means part of the range is unmapped: `EFAULT`).
    #[inline]
    pub fn copy_in(user: &'a [u8], size: u32) -> SysResult<Attr<'a>> {
        let size = size as usize;
        if size > PAGE_SIZE {
            return Err(Errno::E2BIG);
        }
        if user.len() < size {
            return Err(Errno::EFAULT);
        }
        if size > ATTR_SIZE && user[ATTR_SIZE..size].iter().fold(0u8, |acc, &b| acc | b) != 0 {
            return Err(Errno::E2BIG);
        }
        Ok(Attr {
            bytes: &user[..size.min(ATTR_SIZE)],
            size,
        })
    }

    /// The kernel's own zero-filled copy, for commands that write back into the caller's attr.
    pub fn owned(&self) -> [u8; ATTR_SIZE] {
        let mut out = [0u8; ATTR_SIZE];
        out[..self.bytes.len()].copy_from_slice(self.bytes);
        out
    }

    /// A view of an owned copy made by [`Attr::owned`], with the caller's size.
    pub fn of_owned(copy: &'a [u8; ATTR_SIZE], size: usize) -> Attr<'a> {
        Attr {
            bytes: &copy[..size.min(ATTR_SIZE)],
            size,
        }
    }

    /// The size the caller passed.
    pub fn size(&self) -> usize {
        self.size
    }

    /// `CHECK_ATTR(cmd)`: every byte from `end` (the end of the command's last field) on is zero.
    #[inline]
    pub fn check_unused(&self, end: usize) -> SysResult<()> {
        match self.bytes.get(end..) {
            // OR-fold instead of `any`: no early exit, so it vectorizes.
            Some(rest) if rest.iter().fold(0u8, |acc, &b| acc | b) != 0 => Err(Errno::EINVAL),
            _ => Ok(()),
        }
    }

    /// `N` bytes at `off`, zero past the caller's size.
    #[inline]
    fn array<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(b) = self.bytes.get(off..off + N) {
            out.copy_from_slice(b);
        } else if off < self.bytes.len() {
            let n = self.bytes.len() - off;
            out[..n].copy_from_slice(&self.bytes[off..]);
        }
        out
    }

    /// The `u32` at byte offset `off`.
    #[inline]
    pub fn u32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.array(off))
    }

    /// The `u64` at byte offset `off`.
    #[inline]
    pub fn u64(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.array(off))
    }

    /// The 16 bytes at `off` (object names).
    pub fn name(&self, off: usize) -> [u8; 16] {
        self.array(off)
    }
}

/// Writes a `u32` back into the caller's attr at `off` (`copy_to_user(&uattr->...)`), if the
/// caller's buffer reaches that far; otherwise `EFAULT`.
pub fn put_u32(user: &mut [u8], off: usize, v: u32) -> SysResult<()> {
    user.get_mut(off..off + 4)
        .ok_or(Errno::EFAULT)?
        .copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Builder for attr bytes, used by the typed wrappers and by tests. `len` is the size the
/// call passes; the typed wrappers pass the end of the command's last field, as libbpf does
/// (`offsetofend(union bpf_attr, ...)`).
#[derive(Clone)]
pub struct AttrBuf(pub [u8; ATTR_SIZE], pub usize);

impl Default for AttrBuf {
    fn default() -> Self {
        AttrBuf([0; ATTR_SIZE], ATTR_SIZE)
    }
}

impl AttrBuf {
    /// An all-zero attr whose size is the end of `cmd`'s last field (`ATTR_SIZE` for a command
    /// this model does not know).
    pub fn for_cmd(cmd: u32) -> Self {
        AttrBuf([0; ATTR_SIZE], cmd_end(cmd))
    }

    /// The same with the size to pass set to `len`.
    pub fn size(mut self, len: usize) -> Self {
        self.1 = len;
        self
    }

    /// Set the `u32` at `off`.
    #[inline(always)]
    pub fn u32(mut self, off: usize, v: u32) -> Self {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    /// Set the `u64` at `off`.
    #[inline(always)]
    pub fn u64(mut self, off: usize, v: u64) -> Self {
        self.0[off..off + 8].copy_from_slice(&v.to_le_bytes());
        self
    }
    /// Copy `b` to `off`.
    pub fn bytes(mut self, off: usize, b: &[u8]) -> Self {
        self.0[off..off + b.len()].copy_from_slice(b);
        self
    }
}

/// The end of `cmd`'s last field in `union bpf_attr` (`offsetofend` of its `*_LAST_FIELD`).
pub fn cmd_end(cmd: u32) -> usize {
    use crate::uapi::cmd as c;
    match cmd {
        c::MAP_CREATE => off::map_create::END,
        c::MAP_LOOKUP_ELEM | c::MAP_UPDATE_ELEM | c::MAP_LOOKUP_AND_DELETE_ELEM => {
            off::elem::END_FLAGS
        }
        c::MAP_DELETE_ELEM => off::elem::END_KEY,
        c::MAP_GET_NEXT_KEY => off::elem::END_NEXT_KEY,
        c::MAP_FREEZE => off::elem::END_MAP_FD,
        c::PROG_LOAD => off::prog_load::END,
        c::OBJ_PIN | c::OBJ_GET => off::obj::END,
        c::MAP_GET_NEXT_ID | c::PROG_GET_NEXT_ID => off::id::END_NEXT_ID,
        c::MAP_GET_FD_BY_ID => off::id::END_OPEN_FLAGS,
        c::PROG_GET_FD_BY_ID => off::id::END_PROG_ID,
        c::OBJ_GET_INFO_BY_FD => off::info::END,
        c::PROG_BIND_MAP => off::bind_map::END,
        c::PROG_TEST_RUN => off::test::END,
        c::BTF_LOAD => crate::kernel::btf::off::END,
        c::BTF_GET_FD_BY_ID => crate::kernel::btf::off::END_GET_FD_BY_ID,
        c::BTF_GET_NEXT_ID => off::id::END_NEXT_ID,
        _ => ATTR_SIZE,
    }
}

/// Field offsets of `union bpf_attr`, per command, and each command's `*_LAST_FIELD` end.
#[allow(missing_docs)]
pub mod off {
    pub mod map_create {
        pub const MAP_TYPE: usize = 0;
        pub const KEY_SIZE: usize = 4;
        pub const VALUE_SIZE: usize = 8;
        pub const MAX_ENTRIES: usize = 12;
        pub const MAP_FLAGS: usize = 16;
        pub const INNER_MAP_FD: usize = 20;
        pub const NUMA_NODE: usize = 24;
        pub const MAP_NAME: usize = 28;
        pub const MAP_IFINDEX: usize = 44;
        pub const BTF_FD: usize = 48;
        pub const BTF_KEY_TYPE_ID: usize = 52;
        pub const BTF_VALUE_TYPE_ID: usize = 56;
        pub const BTF_VMLINUX_VALUE_TYPE_ID: usize = 60;
        pub const MAP_EXTRA: usize = 64;
        pub const VALUE_TYPE_BTF_OBJ_FD: usize = 72;
        pub const MAP_TOKEN_FD: usize = 76;
        pub const EXCL_PROG_HASH: usize = 80;
        pub const EXCL_PROG_HASH_SIZE: usize = 88;
        /// End of `excl_prog_hash_size` (`BPF_MAP_CREATE_LAST_FIELD` on 6.18).
        pub const END: usize = 92;
    }
    pub mod elem {
        pub const MAP_FD: usize = 0;
        pub const KEY: usize = 8;
        pub const VALUE: usize = 16;
        pub const NEXT_KEY: usize = 16;
        pub const FLAGS: usize = 24;
        /// LOOKUP / UPDATE / LOOKUP_AND_DELETE: `flags`.
        pub const END_FLAGS: usize = 32;
        /// DELETE: `key`.
        pub const END_KEY: usize = 16;
        /// GET_NEXT_KEY: `next_key`.
        pub const END_NEXT_KEY: usize = 24;
        /// FREEZE: `map_fd`.
        pub const END_MAP_FD: usize = 4;
    }
    pub mod prog_load {
        pub const PROG_TYPE: usize = 0;
        pub const INSN_CNT: usize = 4;
        pub const INSNS: usize = 8;
        pub const LICENSE: usize = 16;
        pub const LOG_LEVEL: usize = 24;
        pub const LOG_SIZE: usize = 28;
        pub const LOG_BUF: usize = 32;
        pub const KERN_VERSION: usize = 40;
        pub const PROG_FLAGS: usize = 44;
        pub const PROG_NAME: usize = 48;
        pub const PROG_IFINDEX: usize = 64;
        pub const EXPECTED_ATTACH_TYPE: usize = 68;
        pub const PROG_BTF_FD: usize = 72;
        pub const FUNC_INFO_REC_SIZE: usize = 76;
        pub const FUNC_INFO: usize = 80;
        pub const FUNC_INFO_CNT: usize = 88;
        pub const LINE_INFO_REC_SIZE: usize = 92;
        pub const LINE_INFO: usize = 96;
        pub const LINE_INFO_CNT: usize = 104;
        pub const ATTACH_BTF_ID: usize = 108;
        pub const ATTACH_PROG_FD: usize = 112;
        pub const CORE_RELO_CNT: usize = 116;
        pub const FD_ARRAY: usize = 120;
        pub const CORE_RELOS: usize = 128;
        pub const CORE_RELO_REC_SIZE: usize = 136;
        pub const LOG_TRUE_SIZE: usize = 140;
        pub const PROG_TOKEN_FD: usize = 144;
        pub const FD_ARRAY_CNT: usize = 148;
        pub const SIGNATURE: usize = 152;
        pub const SIGNATURE_SIZE: usize = 160;
        pub const KEYRING_ID: usize = 164;
        /// End of `keyring_id` (`BPF_PROG_LOAD_LAST_FIELD` on 6.18).
        pub const END: usize = 168;
    }
    pub mod obj {
        pub const PATHNAME: usize = 0;
        pub const BPF_FD: usize = 8;
        pub const FILE_FLAGS: usize = 12;
        pub const PATH_FD: usize = 16;
        /// End of `path_fd` (`BPF_OBJ_LAST_FIELD`).
        pub const END: usize = 20;
    }
    pub mod id {
        pub const START_ID: usize = 0;
        pub const NEXT_ID: usize = 4;
        pub const OPEN_FLAGS: usize = 8;
        pub const TOKEN_FD: usize = 12;
        /// GET_NEXT_ID: end of `next_id`.
        pub const END_NEXT_ID: usize = 8;
        /// PROG_GET_FD_BY_ID: end of `prog_id`.
        pub const END_PROG_ID: usize = 4;
        /// MAP_GET_FD_BY_ID: end of `open_flags`.
        pub const END_OPEN_FLAGS: usize = 12;
    }
    pub mod info {
        pub const BPF_FD: usize = 0;
        pub const INFO_LEN: usize = 4;
        pub const INFO: usize = 8;
        /// End of `info.info` (`BPF_OBJ_GET_INFO_BY_FD_LAST_FIELD`).
        pub const END: usize = 16;
    }
    /// `test` (BPF_PROG_TEST_RUN).
    pub mod test {
        pub const PROG_FD: usize = 0;
        pub const RETVAL: usize = 4;
        pub const DATA_SIZE_IN: usize = 8;
        pub const DATA_SIZE_OUT: usize = 12;
        pub const DATA_IN: usize = 16;
        pub const DATA_OUT: usize = 24;
        pub const REPEAT: usize = 32;
        pub const DURATION: usize = 36;
        pub const CTX_SIZE_IN: usize = 40;
        pub const CTX_SIZE_OUT: usize = 44;
        pub const CTX_IN: usize = 48;
        pub const CTX_OUT: usize = 56;
        pub const FLAGS: usize = 64;
        pub const CPU: usize = 68;
        pub const BATCH_SIZE: usize = 72;
        /// End of `test.batch_size` (`BPF_PROG_TEST_RUN_LAST_FIELD`).
        pub const END: usize = 76;
    }
    pub mod bind_map {
        pub const PROG_FD: usize = 0;
        pub const MAP_FD: usize = 4;
        pub const FLAGS: usize = 8;
        /// End of `prog_bind_map.flags`.
        pub const END: usize = 12;
    }
}

//! Support for the bpfsim benchmarks: the real kernel's bpf() called raw (the peer every model
//! figure is compared with), a model machine set up the same way, and the reader of criterion's
//! `estimates.json` files that `bench_report` and the `scale` bench print their ratios from.

use sim::{Cred, Kernel, KernelConfig, MapCreateAttr, Pid};

/// `BPF_MAP_TYPE_HASH`.
pub const HASH: u32 = sim::uapi::map_type::HASH;
/// `BPF_MAP_TYPE_ARRAY`.
pub const ARRAY: u32 = sim::uapi::map_type::ARRAY;
/// The name every map the benchmarks create in the real kernel carries.
pub const KERNEL_MAP_NAME: &str = "bpfsim_bench";

/// A model machine with one root process, as the benchmarks use it.
pub fn model(cfg: KernelConfig) -> (Kernel, Pid) {
    let mut k = Kernel::new(cfg);
    let pid = k.spawn("bench", Cred::ROOT);
    (k, pid)
}

/// Create a map of `map_type` in the model and fill keys `0..fill` (`u32` keys, `u64`
/// values equal to the key).
pub fn model_map(k: &mut Kernel, pid: Pid, map_type: u32, max: u32, fill: u32) -> i32 {
    let fd = k
        .map_create(pid, &MapCreateAttr::new(map_type, 4, 8, max))
        .expect("model map_create");
    for i in 0..fill {
        k.map_update_elem(pid, fd, &i.to_ne_bytes(), &u64::from(i).to_ne_bytes(), 0)
            .expect("model update");
    }
    fd
}

/// The real kernel's bpf(), called raw: `syscall(SYS_bpf, cmd, &attr, 168)`.
pub mod kbpf {
    use std::io;

    /// `sizeof(union bpf_attr)` on 6.18.
    pub const ATTR_SIZE: usize = 168;

    /// `BPF_MAP_CREATE`.
    pub const MAP_CREATE: u32 = 0;
    /// `BPF_MAP_LOOKUP_ELEM`.
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    /// `BPF_MAP_UPDATE_ELEM`.
    pub const MAP_UPDATE_ELEM: u32 = 2;
    /// `BPF_MAP_GET_NEXT_ID`.
    pub const MAP_GET_NEXT_ID: u32 = 12;

    /// A `union bpf_attr`, 8-byte aligned like the kernel's.
    #[repr(C, align(8))]
    #[derive(Clone, Copy)]
    pub struct Attr(pub [u8; ATTR_SIZE]);

    impl Default for Attr {
        fn default() -> Self {
            Attr([0; ATTR_SIZE])
        }
    }

    impl Attr {
        /// Set the `u32` at `off`.
        #[inline]
        pub fn u32(&mut self, off: usize, v: u32) -> &mut Self {
            self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
            self
        }
        /// Set the `u64` at `off`.
        #[inline]
        pub fn u64(&mut self, off: usize, v: u64) -> &mut Self {
            self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
            self
        }
        /// The `u32` at `off`.
        pub fn get_u32(&self, off: usize) -> u32 {
            u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("4 bytes"))
        }
    }

    /// `bpf(cmd, attr, 168)`: the non-negative result or the errno.
    #[inline]
    pub fn bpf(cmd: u32, attr: &mut Attr) -> io::Result<i64> {
        // SAFETY: `attr` is a live, writable 168-byte buffer for the whole call; every
        // pointer stored in it points at memory the caller keeps alive across the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd as libc::c_long,
                attr as *mut Attr,
                ATTR_SIZE as libc::c_uint,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// `BPF_MAP_CREATE` of `map_type` (key, value, max entries), named [`super::KERNEL_MAP_NAME`].
    #[inline]
    pub fn map_create(map_type: u32, key: u32, value: u32, max: u32) -> io::Result<i32> {
        let mut a = Attr::default();
        a.u32(0, map_type).u32(4, key).u32(8, value).u32(12, max);
        let name = super::KERNEL_MAP_NAME.as_bytes();
        a.0[28..28 + name.len()].copy_from_slice(name);
        bpf(MAP_CREATE, &mut a).map(|fd| fd as i32)
    }

    /// `BPF_MAP_LOOKUP_ELEM`.
    #[inline]
    pub fn lookup(fd: i32, key: &[u8], value: &mut [u8]) -> io::Result<()> {
        let mut a = Attr::default();
        a.u32(0, fd as u32)
            .u64(8, key.as_ptr() as u64)
            .u64(16, value.as_mut_ptr() as u64);
        bpf(MAP_LOOKUP_ELEM, &mut a).map(drop)
    }

    /// `BPF_MAP_UPDATE_ELEM` with `flags`.
    #[inline]
    pub fn update(fd: i32, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
        let mut a = Attr::default();
        a.u32(0, fd as u32)
            .u64(8, key.as_ptr() as u64)
            .u64(16, value.as_ptr() as u64)
            .u64(24, flags);
        bpf(MAP_UPDATE_ELEM, &mut a).map(drop)
    }

    /// `BPF_MAP_GET_NEXT_ID`: the smallest map id above `start` (machine-wide: other
    /// processes' maps included).
    #[inline]
    pub fn map_get_next_id(start: u32) -> io::Result<u32> {
        let mut a = Attr::default();
        a.u32(0, start);
        bpf(MAP_GET_NEXT_ID, &mut a)?;
        Ok(a.get_u32(4))
    }

    /// `BPF_PROG_LOAD`.
    pub const PROG_LOAD: u32 = 5;
    /// `BPF_PROG_TEST_RUN`.
    pub const PROG_TEST_RUN: u32 = 10;
    /// `BPF_PROG_TYPE_XDP`.
    pub const PROG_TYPE_XDP: u32 = 6;

    /// `BPF_PROG_LOAD` of `insns` (8-byte `struct bpf_insn`s) as `prog_type`, GPL, named
    /// `bpfsim_bench`. On failure the verifier log (level 1) is in the error.
    pub fn prog_load(prog_type: u32, insns: &[u8]) -> io::Result<i32> {
        let license = b"GPL\0";
        let mut log = vec![0u8; 1 << 20];
        let mut a = Attr::default();
        a.u32(0, prog_type)
            .u32(4, (insns.len() / 8) as u32)
            .u64(8, insns.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64);
        let name = b"bpfsim_bench";
        a.0[48..48 + name.len()].copy_from_slice(name);
        match bpf(PROG_LOAD, &mut a) {
            Ok(fd) => Ok(fd as i32),
            Err(e) => {
                // Again with the log, to say why.
                a.u32(24, 1)
                    .u32(28, log.len() as u32)
                    .u64(32, log.as_mut_ptr() as u64);
                let _ = bpf(PROG_LOAD, &mut a).map(|fd| close(fd as i32));
                let end = log.iter().position(|&b| b == 0).unwrap_or(0);
                let text = String::from_utf8_lossy(&log[..end]);
                let tail: Vec<&str> = text.lines().rev().take(4).collect();
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{e}; verifier: {}",
                        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                    ),
                ))
            }
        }
    }

    /// `BPF_PROG_TEST_RUN` of `fd` on `data` with `repeat`: (retval, duration), the
    /// kernel-measured average ns per run.
    pub fn test_run(fd: i32, data: &[u8], repeat: u32) -> io::Result<(u32, u32)> {
        let mut out = vec![0u8; data.len() + 4096];
        let mut a = Attr::default();
        a.u32(0, fd as u32)
            .u32(8, data.len() as u32)
            .u32(12, out.len() as u32)
            .u64(16, data.as_ptr() as u64)
            .u64(24, out.as_mut_ptr() as u64)
            .u32(32, repeat);
        bpf(PROG_TEST_RUN, &mut a)?;
        Ok((a.get_u32(4), a.get_u32(36)))
    }

    /// `close(fd)`.
    #[inline]
    pub fn close(fd: i32) {
        // SAFETY: closing an fd this process opened and no one else uses.
        unsafe { libc::close(fd) };
    }

    /// A kernel map fd closed on drop.
    pub struct Map(pub i32);

    impl Map {
        /// Create one (see [`map_create`]) and fill keys `0..fill` with `u64` values.
        pub fn new(map_type: u32, max: u32, fill: u32) -> io::Result<Map> {
            let m = Map(map_create(map_type, 4, 8, max)?);
            for i in 0..fill {
                update(m.0, &i.to_ne_bytes(), &u64::from(i).to_ne_bytes(), 0)?;
            }
            Ok(m)
        }
    }

    impl Drop for Map {
        fn drop(&mut self) {
            close(self.0);
        }
    }

    /// Whether the real kernel can be measured here: root, and bpf() lets us create (and
    /// close) a map. `Err` carries the reason to print.
    pub fn probe() -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(format!("not root (euid {euid})"));
        }
        match Map::new(super::ARRAY, 10, 0) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("bpf(BPF_MAP_CREATE) failed: {e}")),
        }
    }

    /// [`probe`], printing `kernel peer skipped: <reason>` when it fails.
    pub fn available() -> bool {
        match probe() {
            Ok(()) => true,
            Err(why) => {
                println!("kernel peer skipped: {why}");
                false
            }
        }
    }
}

/// Reading criterion's results: `<criterion dir>/<group>/<function>/<param>/new/estimates.json`.
pub mod report {
    use std::path::PathBuf;

    /// Where criterion writes: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the
    /// workspace's `target/criterion`.
    pub fn criterion_dir() -> PathBuf {
        if let Some(h) = std::env::var_os("CRITERION_HOME") {
            return PathBuf::from(h);
        }
        if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
            return PathBuf::from(t).join("criterion");
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("criterion")
    }

    /// The time per iteration, in ns, criterion estimated for `group/id` (`id` as given to
    /// `BenchmarkId`, `function/param`): the slope when criterion fitted one, else the mean.
    pub fn estimate_ns(group: &str, id: &str) -> Option<f64> {
        let path = criterion_dir()
            .join(group)
            .join(id)
            .join("new")
            .join("estimates.json");
        let text = std::fs::read_to_string(path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        ["slope", "mean"]
            .iter()
            .find_map(|k| v.get(k)?.get("point_estimate")?.as_f64())
    }

    /// `a / b` when both are known.
    pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
        Some(a? / b?)
    }

    /// A number for a table cell, `-` when unknown.
    pub fn cell(v: Option<f64>) -> String {
        match v {
            Some(v) if v >= 100.0 => format!("{v:.0}"),
            Some(v) if v >= 10.0 => format!("{v:.1}"),
            Some(v) => format!("{v:.2}"),
            None => "-".into(),
        }
    }
}

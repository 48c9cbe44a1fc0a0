//! The state file: the simulated machine as a journal of the invocations that succeeded. The
//! simulator is deterministic, so replaying the journal into a freshly booted machine rebuilds
//! it exactly (ids, fds, clock, event log). Each entry keeps the command's argv and the bytes
//! of every file it read (objects, `data_in`), so later edits of those files do not change
//! the past. A failed command is not appended, so it leaves the file byte-identical; writes go
//! to a temporary file renamed over the old one.
//!
//! Layout (little endian): the magic `BPFSIM-MACHINE-1\n`, the `u32` entry count (so a cut
//! at an entry boundary is detected too), then per entry `u32` argc, each
//! argument as `u32` length + bytes, `u32` file count, each file as path and contents, both
//! length-prefixed.

use std::fmt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"BPFSIM-MACHINE-1\n";

/// One successful invocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// The command line, without the program name and the options about the state file.
    pub argv: Vec<String>,
    /// Every file the command read: (path as given, bytes).
    pub files: Vec<(String, Vec<u8>)>,
}

/// Why a state file could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateError {
    /// Not a bpfsim state file (wrong magic).
    Magic,
    /// Truncated or malformed at this byte offset.
    Corrupt(usize),
    /// Reading or writing failed (the OS's message).
    Io(String),
    /// An entry that succeeded once failed on replay (the file was edited, or a bug).
    Replay {
        /// The entry's index.
        index: usize,
        /// Its command line.
        argv: Vec<String>,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Magic => write!(f, "not a bpfsim state file"),
            StateError::Corrupt(at) => write!(f, "state file corrupt at byte {at}"),
            StateError::Io(e) => write!(f, "{e}"),
            StateError::Replay { index, argv } => write!(
                f,
                "state file entry {index} ('{}') no longer replays",
                argv.join(" ")
            ),
        }
    }
}

impl std::error::Error for StateError {}

/// Encodes a journal.
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    let put = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    for e in entries {
        out.extend_from_slice(&(e.argv.len() as u32).to_le_bytes());
        for a in &e.argv {
            put(&mut out, a.as_bytes());
        }
        out.extend_from_slice(&(e.files.len() as u32).to_le_bytes());
        for (p, b) in &e.files {
            put(&mut out, p.as_bytes());
            put(&mut out, b);
        }
    }
    out
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, StateError> {
        let s = self
            .b
            .get(self.at..self.at + 4)
            .ok_or(StateError::Corrupt(self.at))?;
        self.at += 4;
        Ok(u32::from_le_bytes(s.try_into().expect("4 bytes")))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, StateError> {
        let n = self.u32()? as usize;
        let s = self
            .b
            .get(self.at..self.at.saturating_add(n))
            .ok_or(StateError::Corrupt(self.at))?;
        self.at += n;
        Ok(s.to_vec())
    }
    fn string(&mut self) -> Result<String, StateError> {
        let at = self.at;
        String::from_utf8(self.bytes()?).map_err(|_| StateError::Corrupt(at))
    }
}

/// Decodes a journal; every malformed input is a [`StateError`], never a panic.
pub fn decode(b: &[u8]) -> Result<Vec<Entry>, StateError> {
    if !b.starts_with(MAGIC) {
        return Err(StateError::Magic);
    }
    let mut r = Reader { b, at: MAGIC.len() };
    let mut out = Vec::new();
    let n = r.u32()?;
    for _ in 0..n {
        let mut e = Entry::default();
        for _ in 0..r.u32()? {
            e.argv.push(r.string()?);
        }
        for _ in 0..r.u32()? {
            let p = r.string()?;
            e.files.push((p, r.bytes()?));
        }
        out.push(e);
    }
    if r.at != b.len() {
        return Err(StateError::Corrupt(r.at));
    }
    Ok(out)
}

/// Reads a state file; a missing file is an empty journal (a freshly booted machine).
pub fn load(path: &Path) -> Result<Vec<Entry>, StateError> {
    match std::fs::read(path) {
        Ok(b) => decode(&b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(StateError::Io(format!(
            "can't read state file {}: {}",
            path.display(),
            super::sys::io_text(&e)
        ))),
    }
}

/// Writes a state file atomically: a temporary file next to it, then `rename`.
pub fn save(path: &Path, entries: &[Entry]) -> Result<(), StateError> {
    let io = |e: std::io::Error| {
        StateError::Io(format!(
            "can't write state file {}: {}",
            path.display(),
            super::sys::io_text(&e)
        ))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, encode(entries)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Where the machine lives: `--state PATH`, else `$BPFSIM_STATE`, else
/// `$XDG_STATE_HOME/bpfsim/machine`, else `$HOME/.local/state/bpfsim/machine`, else
/// `./.bpfsim-machine`.
pub fn default_path(flag: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(p) = flag {
        return p.into();
    }
    if let Some(p) = env("BPFSIM_STATE").filter(|p| !p.is_empty()) {
        return p.into();
    }
    if let Some(d) = env("XDG_STATE_HOME").filter(|p| !p.is_empty()) {
        return Path::new(&d).join("bpfsim/machine");
    }
    if let Some(h) = env("HOME").filter(|p| !p.is_empty()) {
        return Path::new(&h).join(".local/state/bpfsim/machine");
    }
    ".bpfsim-machine".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trips_and_bad_bytes_are_errors() {
        let j = vec![
            Entry {
                argv: vec!["prog".into(), "load".into(), "x.o".into()],
                files: vec![("x.o".into(), vec![0, 1, 2, 255])],
            },
            Entry {
                argv: vec!["sync".into()],
                files: vec![],
            },
        ];
        let b = encode(&j);
        assert_eq!(decode(&b).unwrap(), j);
        assert_eq!(decode(b"nope"), Err(StateError::Magic));
        for cut in MAGIC.len() + 1..b.len() {
            assert!(decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
    }

    #[test]
    fn the_path_comes_from_flag_env_xdg_home_in_that_order() {
        let env = |k: &str| match k {
            "BPFSIM_STATE" => Some("/e".to_string()),
            "XDG_STATE_HOME" => Some("/x".to_string()),
            "HOME" => Some("/h".to_string()),
            _ => None,
        };
        assert_eq!(default_path(Some("/f"), &env), PathBuf::from("/f"));
        assert_eq!(default_path(None, &env), PathBuf::from("/e"));
        let env2 = |k: &str| env(k).filter(|_| k != "BPFSIM_STATE");
        assert_eq!(
            default_path(None, &env2),
            PathBuf::from("/x/bpfsim/machine")
        );
        let env3 = |k: &str| env(k).filter(|_| k == "HOME");
        assert_eq!(
            default_path(None, &env3),
            PathBuf::from("/h/.local/state/bpfsim/machine")
        );
    }
}

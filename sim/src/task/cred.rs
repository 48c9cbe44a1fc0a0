//! Credentials of a simulated process: uid, gid, capabilities and umask.

use crate::uapi::cap;

/// A set of Linux capabilities, one bit per capability number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    /// No capabilities.
    pub const NONE: CapSet = CapSet(0);
    /// Every capability, as root has by default.
    pub const ALL: CapSet = CapSet(u64::MAX);

    /// The set with exactly these capability numbers.
    pub fn of(caps: &[u32]) -> CapSet {
        CapSet(caps.iter().fold(0, |acc, &c| acc | (1u64 << c)))
    }

    /// `capable(cap)`.
    pub fn has(self, c: u32) -> bool {
        self.0 & (1u64 << c) != 0
    }

    /// `bpf_capable()`: CAP_BPF or CAP_SYS_ADMIN.
    pub fn bpf_capable(self) -> bool {
        self.has(cap::BPF) || self.has(cap::SYS_ADMIN)
    }

    /// `perfmon_capable()`: CAP_PERFMON or CAP_SYS_ADMIN.
    pub fn perfmon_capable(self) -> bool {
        self.has(cap::PERFMON) || self.has(cap::SYS_ADMIN)
    }

    /// `bpf_net_capable()`: CAP_NET_ADMIN or CAP_SYS_ADMIN.
    pub fn net_capable(self) -> bool {
        self.has(cap::NET_ADMIN) || self.has(cap::SYS_ADMIN)
    }
}

/// The credentials a system call runs with (`struct cred`, the parts bpf() and bpffs look at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    /// Effective (and filesystem) user id.
    pub uid: u32,
    /// Effective (and filesystem) group id.
    pub gid: u32,
    /// Effective capabilities.
    pub caps: CapSet,
    /// File mode creation mask.
    pub umask: u32,
}

impl Cred {
    /// root: uid 0, every capability, umask 022.
    pub const ROOT: Cred = Cred {
        uid: 0,
        gid: 0,
        caps: CapSet::ALL,
        umask: 0o022,
    };

    /// An unprivileged user with no capabilities and umask 022.
    pub fn user(uid: u32, gid: u32) -> Cred {
        Cred {
            uid,
            gid,
            caps: CapSet::NONE,
            umask: 0o022,
        }
    }
}

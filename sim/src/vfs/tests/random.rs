//! A deterministic stream of random operations (fixed seed, no OS entropy): the invariants
//! hold after every call and every pinned object is handed back exactly once.

use std::collections::BTreeMap;

use super::*;

/// xorshift64*, seeded with a constant.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const DIRS: [&str; 6] = [
    "/sys/fs/bpf",
    "/sys/fs/bpf/a",
    "/sys/fs/bpf/a/b",
    "/tmp/m",
    "/tmp/m/a",
    "/tmp",
];
const NAMES: [&str; 5] = ["a", "b", "p", "q", "x.y"];
const FILES: [&str; 3] = ["p", "q", "x.y"];

fn run(seed: u64) -> (String, usize) {
    let mut s = sim();
    s.mkdir(&ROOT, None, "/tmp/m", 0o755).unwrap();
    let mut rng = Rng(seed);
    let mut live: BTreeMap<u32, u32> = BTreeMap::new(); // object -> outstanding pin inodes
    let mut next = 0;
    let mut trace = String::new();
    let creds = [ROOT, user(1000), user(2000)];
    for _ in 0..3000 {
        let cred = creds[(rng.next() % 3) as usize];
        let path = format!("{}/{}", rng.pick(&DIRS), rng.pick(&NAMES));
        let other = format!("{}/{}", rng.pick(&DIRS), rng.pick(&NAMES));
        let mut released = Vec::new();
        let r = match rng.next() % 10 {
            0 | 1 => {
                next += 1;
                let path = format!("{}/{}", rng.pick(&DIRS), rng.pick(&FILES));
                let r = s.pin(&cred, None, &path, map(next));
                if r.is_ok() {
                    *live.entry(next).or_default() += 1;
                }
                r.map(|_| 0)
            }
            2 => s.mkdir(&cred, None, &path, 0o777).map(|_| 0),
            3 => s
                .unlink(&cred, None, &path)
                .map(|o| released.extend(o))
                .map(|_| 0),
            4 => s.rmdir(&cred, None, &path).map(|_| 0),
            5 => s.link(&cred, &path, &other).map(|_| 0),
            6 => s
                .rename(&cred, &path, &other)
                .map(|o| released.extend(o))
                .map(|_| 0),
            7 => s.symlink(&cred, &other, &path).map(|_| 0),
            8 => match rng.next() % 3 {
                0 => s.bind_mount(&cred, "/sys/fs/bpf", "/tmp/m").map(|_| 0),
                1 => s
                    .umount(&cred, "/tmp/m")
                    .map(|o| released.extend(o))
                    .map(|_| 0),
                _ => s.get(&cred, None, &path, Access::Read).map(|_| 0),
            },
            _ => s.chmod(&cred, &path, 0o777).map(|_| 0),
        };
        for obj in released {
            let crate::object::ObjRef::Map(crate::object::MapIdx(n)) = obj else {
                panic!()
            };
            let c = live
                .get_mut(&n)
                .expect("released an object that was never pinned");
            *c -= 1;
            if *c == 0 {
                live.remove(&n);
            }
        }
        s.check_invariants();
        trace.push_str(&format!("{path} {other} {r:?}\n"));
    }
    // every live pin inode is accounted for
    let mut pinned: BTreeMap<u32, u32> = BTreeMap::new();
    for p in s.pins() {
        let crate::object::ObjRef::Map(crate::object::MapIdx(n)) = p.obj else {
            panic!()
        };
        *pinned.entry(n).or_default() += 1;
    }
    assert_eq!(pinned, live);
    while s.umount(&ROOT, "/tmp/m").is_ok() {}
    let rest = s.umount(&ROOT, "/sys/fs/bpf").unwrap();
    assert_eq!(rest.len(), live.values().sum::<u32>() as usize);
    (trace, s.pins().len())
}

#[test]
fn random_operations_keep_invariants_and_hand_back_every_object_once() {
    for seed in [0x9E37_79B9_7F4A_7C15, 1, 42] {
        let (trace, left) = run(seed);
        assert_eq!(left, 0);
        // the same seed gives the same trace, byte for byte
        assert_eq!(trace, run(seed).0);
    }
}

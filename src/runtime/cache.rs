//! The on-disk kernel cache: content-addressed cubins, written atomically,
//! checked on read. A truncated or corrupt entry is removed and recompiled.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What identifies a compiled module: everything that changes the cubin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleKey(String);

impl ModuleKey {
    pub fn new(
        expanded_source: &str,
        arch: &str,
        defines: &[(&str, &str)],
        nvrtc_version: (i32, i32),
        options: &[String],
    ) -> Self {
        let mut h = Sha256::new();
        let mut field = |tag: &str, v: &[u8]| {
            h.update(tag.as_bytes());
            h.update((v.len() as u64).to_le_bytes());
            h.update(v);
        };
        field("source", expanded_source.as_bytes());
        field("arch", arch.as_bytes());
        let mut defs: Vec<(&str, &str)> = defines.to_vec();
        defs.sort();
        for (k, v) in &defs {
            field("define", format!("{k}={v}").as_bytes());
        }
        field("nvrtc", format!("{}.{}", nvrtc_version.0, nvrtc_version.1).as_bytes());
        for o in options {
            field("option", o.as_bytes());
        }
        ModuleKey(hex(&h.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Counters since the process started.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub memory_hits: AtomicU64,
    pub disk_hits: AtomicU64,
    pub misses: AtomicU64,
    pub corrupt: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheCounts {
    pub memory_hits: u64,
    pub disk_hits: u64,
    pub misses: u64,
    pub corrupt: u64,
}

impl CacheStats {
    pub fn snapshot(&self) -> CacheCounts {
        CacheCounts {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
        }
    }
}

const MAGIC: &[u8; 8] = b"DKCUBIN1";
const HEADER_LEN: usize = 8 + 8 + 32;

/// A folder of `<key>.cubin` files: magic, payload length, SHA-256 of the payload, payload.
#[derive(Debug)]
pub struct DiskCache {
    dir: PathBuf,
    pub stats: CacheStats,
}

impl DiskCache {
    /// `DK_CACHE_DIR`, else the user cache folder, else the temp folder.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("DK_CACHE_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("decode-kernels").join("kernels")
    }

    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DiskCache { dir: dir.into(), stats: CacheStats::default() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &ModuleKey) -> PathBuf {
        self.dir.join(format!("{}.cubin", key.as_str()))
    }

    /// The cached cubin, if present and intact. A damaged file is removed.
    pub fn get(&self, key: &ModuleKey) -> Option<Vec<u8>> {
        let path = self.path(key);
        let bytes = fs::read(&path).ok()?;
        match decode(&bytes) {
            Some(payload) => {
                self.stats.disk_hits.fetch_add(1, Ordering::Relaxed);
                Some(payload.to_vec())
            }
            None => {
                self.stats.corrupt.fetch_add(1, Ordering::Relaxed);
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a cubin: written to a temporary file in the same folder, then renamed,
    /// so a reader sees either no file or a whole one.
    pub fn put(&self, key: &ModuleKey, payload: &[u8]) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(Error::io("creating kernel cache folder", &self.dir))?;
        let tmp = self.dir.join(format!(".{}.{}.{}.tmp", key.as_str(), std::process::id(), unique()));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&(payload.len() as u64).to_le_bytes())?;
            f.write_all(&Sha256::digest(payload))?;
            f.write_all(payload)?;
            f.sync_all()?;
            fs::rename(&tmp, self.path(key))
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::Io { what: "writing kernel cache entry", path: self.path(key), source: e }
        })
    }
}

fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn decode(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return None;
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().ok()?) as usize;
    let payload = &bytes[HEADER_LEN..];
    (payload.len() == len && Sha256::digest(payload).as_slice() == &bytes[16..48]).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(src: &str) -> ModuleKey {
        ModuleKey::new(src, "sm_90", &[], (13, 0), &[])
    }

    #[test]
    fn key_changes_with_every_input() {
        let base = ModuleKey::new("k", "sm_90", &[("A", "1")], (13, 0), &["-x".into()]);
        assert_ne!(base, ModuleKey::new("k2", "sm_90", &[("A", "1")], (13, 0), &["-x".into()]));
        assert_ne!(base, ModuleKey::new("k", "sm_80", &[("A", "1")], (13, 0), &["-x".into()]));
        assert_ne!(base, ModuleKey::new("k", "sm_90", &[("A", "2")], (13, 0), &["-x".into()]));
        assert_ne!(base, ModuleKey::new("k", "sm_90", &[("A", "1")], (13, 1), &["-x".into()]));
        assert_ne!(base, ModuleKey::new("k", "sm_90", &[("A", "1")], (13, 0), &["-y".into()]));
        // Define order does not matter.
        let two = [("A", "1"), ("B", "2")];
        let rev = [two[1], two[0]];
        assert_eq!(ModuleKey::new("k", "sm_90", &two, (13, 0), &[]), ModuleKey::new("k", "sm_90", &rev, (13, 0), &[]));
        assert_eq!(base.as_str().len(), 64);
    }

    #[test]
    fn round_trip_and_stats() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::new(dir.path());
        let k = key("a");
        assert_eq!(c.get(&k), None);
        c.put(&k, b"cubin bytes").unwrap();
        assert_eq!(c.get(&k).as_deref(), Some(&b"cubin bytes"[..]));
        assert_eq!(c.stats.snapshot().disk_hits, 1);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn truncated_and_corrupt_entries_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::new(dir.path());
        for (i, damage) in [
            |b: &mut Vec<u8>| b.truncate(b.len() - 3),
            |b: &mut Vec<u8>| *b.last_mut().unwrap() ^= 0xff,
            |b: &mut Vec<u8>| b[0] = b'X',
            |b: &mut Vec<u8>| b.truncate(10),
        ]
        .into_iter()
        .enumerate()
        {
            let k = key(&format!("src{i}"));
            c.put(&k, b"a perfectly good cubin").unwrap();
            let path = c.path(&k);
            let mut bytes = fs::read(&path).unwrap();
            damage(&mut bytes);
            fs::write(&path, &bytes).unwrap();
            assert_eq!(c.get(&k), None, "damage {i} went unnoticed");
            assert!(!path.exists(), "damaged entry {i} was not removed");
            // A fresh put recovers.
            c.put(&k, b"recompiled").unwrap();
            assert_eq!(c.get(&k).as_deref(), Some(&b"recompiled"[..]));
        }
        assert_eq!(c.stats.snapshot().corrupt, 4);
    }
}

//! Writing output files safely. Every file the command line writes (`--out`,
//! `--json`, `--csv`, tuning tables, `DK_PROFILE_OUT`) goes to a temporary
//! file in the target's folder, is flushed and fsynced, and is then renamed
//! over the target: a failed write (disk full, an error half way) leaves the
//! old file as it was, and an output that is also an input is read whole
//! before it is replaced. [`check_output`] tells, before any work runs,
//! whether a path can be written at all.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The folder a path's file lives in (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

/// Creates a fresh temporary file next to `path` (same folder, so the rename
/// stays on one file system).
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    let dir = parent_of(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    loop {
        let k = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{k}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Writes `path` through `fill` atomically: `fill` writes into a buffered
/// temporary file in the same folder, which is fsynced and renamed over
/// `path` only when everything succeeded. On any error the temporary file is
/// removed and `path` is untouched. An existing target keeps its permissions.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    // A symbolic link is followed: the file it points to is replaced, not the link.
    let resolved;
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            resolved.as_path()
        }
        _ => path,
    };
    // A device or a pipe (/dev/stdout, a FIFO) cannot be replaced: written in place.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let direct = (|| -> io::Result<()> {
            let mut w = BufWriter::new(OpenOptions::new().write(true).open(path)?);
            fill(&mut w)?;
            w.flush()
        })();
        return direct.map_err(Error::io("writing", path));
    }
    if path.is_dir() {
        return Err(Error::Io {
            what: "writing",
            path: path.to_path_buf(),
            source: io::Error::other("is a folder, expected a file path"),
        });
    }
    let (tmp, file) = create_temp(path).map_err(Error::io("creating a temporary file next to", path))?;
    let written = (|| -> io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        if let Ok(meta) = std::fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.sync_all()
    })();
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Io { what: "writing", path: path.to_path_buf(), source: e });
    }
    // The rename is durable once the folder's entry is on disk; a folder that
    // cannot be opened or synced (some file systems) is not an error.
    if let Ok(d) = File::open(parent_of(path)) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Checks, before any work, that `path` (the value of option `arg` of `op`)
/// can be written: not a folder, and its folder exists and accepts a new
/// file (tried with a temporary file, removed at once).
pub fn check_output(op: &'static str, arg: &str, path: &Path) -> Result<()> {
    let bad = |expected: String| Err(Error::invalid(op, arg, expected, path.display()));
    if path.as_os_str().is_empty() {
        return bad("a file path".into());
    }
    if path.is_dir() {
        return bad("a file path, not a folder".into());
    }
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Ok(()); // a device or a pipe: written in place
    }
    let dir = parent_of(path);
    if !dir.is_dir() {
        return bad(format!("a path in an existing folder (no folder {})", dir.display()));
    }
    match create_temp(path) {
        Ok((tmp, _)) => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) => bad(format!("a path in a writable folder ({}: {e})", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn writes_replace_the_target_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"old").unwrap();
        let e = write_atomic_with(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("a.txt") && e.contains("disk full"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn links_are_followed_and_devices_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        let link = dir.path().join("link.txt");
        std::fs::write(&real, b"old").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&real, &link).unwrap();
            write_atomic(&link, b"new").unwrap();
            assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
            assert_eq!(std::fs::read(&real).unwrap(), b"new");
        }
        if Path::new("/dev/null").exists() {
            check_output("t", "--out", Path::new("/dev/null")).unwrap();
            write_atomic(Path::new("/dev/null"), b"x").unwrap();
        }
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn output_paths_are_checked_up_front() {
        let dir = tempfile::tempdir().unwrap();
        check_output("t", "--out", &dir.path().join("x.json")).unwrap();
        let e = check_output("t", "--json", &dir.path().join("nodir/x.json")).unwrap_err().to_string();
        assert!(e.contains("`--json`") && e.contains("existing folder") && e.contains("nodir"), "{e}");
        let e = check_output("t", "--csv", dir.path()).unwrap_err().to_string();
        assert!(e.contains("`--csv`") && e.contains("not a folder"), "{e}");
        assert!(write_atomic(dir.path(), b"x").is_err());
        assert!(leftovers(dir.path()).is_empty());
    }
}

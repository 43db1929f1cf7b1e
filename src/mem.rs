//! Memory checks made before allocating what a size argument asks for: the
//! bytes needed (computed with checked arithmetic, so an overflow is an
//! error too) against what the host or the device has free, so a too-large
//! `--batch`, `--context` or input file is a clear error instead of an abort
//! or the OOM killer.

use crate::context::Context;
pub use crate::error::fmt_bytes;
use crate::error::{Error, Result};
use crate::runtime::CudaBackend;

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut it = line["MemAvailable:".len()..].split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") | None => n.checked_mul(1024),
        _ => None,
    }
}

/// Room left under a cgroup (v2) memory limit, when the process runs under one.
fn cgroup_room() -> Option<u64> {
    let read = |f: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{f}")).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?; // "max" (no limit) does not parse
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

/// Host memory a new allocation can use now: `MemAvailable` from
/// `/proc/meminfo` (and no more than the room under a cgroup limit). `None`
/// where neither can be read (not Linux): no check is made then.
pub fn host_available() -> Option<u64> {
    let avail = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| parse_meminfo(&t));
    match (avail, cgroup_room()) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

/// Free and total memory of the backend's device (`cuMemGetInfo`), in bytes.
pub fn device_free(be: &CudaBackend) -> Result<(u64, u64)> {
    let (free, total) = be.context().mem_get_info().map_err(Error::driver("reading the free device memory"))?;
    Ok((free as u64, total as u64))
}

/// Fails with [`Error::OutOfMemory`] when `needed` bytes of host memory are
/// more than [`host_available`]. `what` says what needs them ("decode --batch 8 --context 4096").
pub fn check_host(what: &str, needed: u64) -> Result<()> {
    match host_available() {
        Some(available) if needed > available => {
            Err(Error::OutOfMemory { what: what.to_string(), place: "host".into(), needed, available })
        }
        _ => Ok(()),
    }
}

/// Fails with [`Error::OutOfMemory`] when `needed` bytes are more than the
/// device's free memory.
pub fn check_device(be: &CudaBackend, what: &str, needed: u64) -> Result<()> {
    let (free, _) = device_free(be)?;
    if needed > free {
        return Err(Error::OutOfMemory {
            what: what.to_string(),
            place: format!("device ({})", be.caps().name),
            needed,
            available: free,
        });
    }
    Ok(())
}

/// Checks `host` bytes against the host and, on a GPU context, `device`
/// bytes against the device (on the CPU backend the device bytes live on the
/// host too, so both are added).
pub fn check(ctx: &Context, what: &str, host: u64, device: u64) -> Result<()> {
    match ctx.cuda() {
        Some(be) => {
            check_host(what, host)?;
            check_device(be, what, device)
        }
        None => check_host(what, host.checked_add(device).ok_or_else(|| overflow(what))?),
    }
}

/// The error for a size whose byte count does not fit in 64 bits.
pub fn overflow(what: &str) -> Error {
    Error::OutOfMemory { what: what.to_string(), place: "host".into(), needed: u64::MAX, available: 0 }
}

/// Checked product of element counts and an element size, in bytes; `what`
/// names the sizes for the overflow error.
pub fn bytes_of(what: &str, dims: &[usize], elem_bytes: usize) -> Result<u64> {
    dims.iter().try_fold(elem_bytes as u64, |acc, &d| acc.checked_mul(d as u64)).ok_or_else(|| overflow(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_parsed_in_bytes() {
        let t = "MemTotal:       24000000 kB\nMemFree:        1000 kB\nMemAvailable:   22000000 kB\n";
        assert_eq!(parse_meminfo(t), Some(22_000_000 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
        if cfg!(target_os = "linux") {
            assert!(host_available().unwrap() > 0);
        }
    }

    #[test]
    fn too_much_is_an_error_naming_both_sizes() {
        let e = check_host("decode --context 1000000000", u64::MAX / 2).unwrap_err().to_string();
        assert!(e.contains("--context 1000000000") && e.contains("GB") && e.contains("available"), "{e}");
        check_host("a little", 1000).unwrap();
        let e = bytes_of("exec --x", &[usize::MAX, 4], 4).unwrap_err().to_string();
        assert!(e.contains("exec --x") && e.contains("overflow"), "{e}");
        assert_eq!(bytes_of("x", &[3, 4], 2).unwrap(), 24);
        assert_eq!(fmt_bytes(256_000_000_000), "256.00 GB (256000000000 bytes)");
    }
}

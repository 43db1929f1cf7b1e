//! The two ceilings every kernel is measured against (see shared/PERF.md):
//! a large device-to-device copy, and a kernel that only reads.

use crate::error::{Error, Result};
use crate::runtime::timing::{time_on_stream, Stats};
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Roofline {
    /// Bytes moved per measurement.
    pub bytes: u64,
    pub stats: Stats,
    /// GB/s (1e9 bytes per second) at the median.
    pub gbps: f64,
}

/// Buffer size: far beyond any L2 (50-60 MB on Hopper).
pub const ROOFLINE_BYTES: usize = 1 << 30;

/// Copy roofline: 1 GiB copied, counting bytes read plus bytes written.
pub fn copy_roofline(b: &CudaBackend, runs: usize) -> Result<Roofline> {
    let src = b.alloc_bytes(ROOFLINE_BYTES)?;
    let dst = b.alloc_bytes(ROOFLINE_BYTES)?;
    fill_random_bytes(b, &src)?;
    let (sp, _g1) = cudarc::driver::DevicePtr::device_ptr(&src, b.stream());
    let (dp, _g2) = cudarc::driver::DevicePtr::device_ptr(&dst, b.stream());
    let stats = time_on_stream(b, 3, runs, |_| {
        // SAFETY: both allocations hold ROOFLINE_BYTES and outlive the synchronised timing.
        unsafe { cudarc::driver::result::memcpy_dtod_async(dp, sp, ROOFLINE_BYTES, b.stream().cu_stream()) }
            .map_err(Error::driver("device-to-device copy"))
    })?;
    let bytes = 2 * ROOFLINE_BYTES as u64;
    Ok(Roofline { bytes, stats, gbps: stats.gbps(bytes as f64) })
}

/// Read roofline: 1 GiB read with 16-byte loads; the best of a few launch shapes.
pub fn read_roofline(b: &CudaBackend, runs: usize) -> Result<Roofline> {
    let src = b.alloc_bytes(ROOFLINE_BYTES)?;
    fill_random_bytes(b, &src)?;
    let f = b.function(&kernels::ROOFLINE, &[], "read_roofline")?;
    let sms = b.caps().sm_count;
    let max_grid = sms * 16;
    let out = b.alloc_bytes(max_grid as usize * 4)?;
    let (sp, _g1) = cudarc::driver::DevicePtr::device_ptr(&src, b.stream());
    let (op, _g2) = cudarc::driver::DevicePtr::device_ptr(&out, b.stream());
    let n_vec = (ROOFLINE_BYTES / 16) as i64;
    let mut best = Stats { median_us: f64::INFINITY, min_us: 0.0, max_us: 0.0, runs: 0 };
    for (ctas_per_sm, threads) in [(4u32, 512u32), (8, 256), (16, 256), (2, 1024)] {
        let cfg = LaunchConfig::linear(sms * ctas_per_sm, threads);
        let stats = time_on_stream(b, 2, runs, |_| {
            let mut args = KernelArgs::new();
            args.push(sp).push(n_vec).push(op);
            // SAFETY: src holds n_vec 16-byte vectors; out holds one word per CTA (grid <= max_grid).
            unsafe { b.launch_raw(&f, cfg, &args) }
        })?;
        if stats.median_us < best.median_us {
            best = stats;
        }
    }
    let stats = best;
    let bytes = ROOFLINE_BYTES as u64;
    Ok(Roofline { bytes, stats, gbps: stats.gbps(bytes as f64) })
}

/// Fills device bytes with a pseudo-random pattern (never time on zeros).
fn fill_random_bytes(b: &CudaBackend, buf: &cudarc::driver::CudaSlice<u8>) -> Result<()> {
    let chunk: Vec<u8> = {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..(16 << 20))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let (p, _g) = cudarc::driver::DevicePtr::device_ptr(buf, b.stream());
    let len = buf.len();
    let mut off = 0;
    while off < len {
        let n = chunk.len().min(len - off);
        // SAFETY: [off, off+n) lies inside the allocation; we synchronise before
        // `chunk` is dropped, so the asynchronous copy never outlives its source.
        unsafe {
            cudarc::driver::result::memcpy_htod_async(p + off as u64, &chunk[..n], b.stream().cu_stream())
                .map_err(Error::driver("filling a buffer"))?;
        }
        off += n;
    }
    b.synchronize()
}

/// GPU time of an empty kernel launch (1 CTA of 32 threads), the floor under
/// any launch, measured like every kernel (events, a spin kernel queued ahead).
pub fn empty_launch(b: &CudaBackend, runs: usize) -> Result<Stats> {
    let f = b.function(&kernels::ROOFLINE, &[], "empty_kernel")?;
    time_on_stream(b, 3, runs, |_| {
        // SAFETY: empty_kernel takes no parameters and touches no memory.
        unsafe { b.launch_raw(&f, LaunchConfig::linear(1, 32), &KernelArgs::new()) }
    })
}

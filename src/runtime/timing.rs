//! Timing device work with CUDA events: warm-up first, then one event pair per
//! repetition, and the median, min and max of those.

use cudarc::driver::sys::CUevent_flags;

use super::CudaBackend;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stats {
    pub median_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    pub runs: usize,
}

impl Stats {
    pub fn from_samples(mut us: Vec<f64>) -> Self {
        assert!(!us.is_empty(), "no timing samples");
        us.sort_by(|a, b| a.total_cmp(b));
        let n = us.len();
        let median = if n % 2 == 1 { us[n / 2] } else { 0.5 * (us[n / 2 - 1] + us[n / 2]) };
        Stats { median_us: median, min_us: us[0], max_us: us[n - 1], runs: n }
    }

    /// A share of each time: one of `launches` timed together (a graph of
    /// back-to-back launches).
    pub fn per_launch(&self, launches: usize) -> Stats {
        let per = |us: f64| us / launches.max(1) as f64;
        Stats { median_us: per(self.median_us), min_us: per(self.min_us), max_us: per(self.max_us), runs: self.runs }
    }

    /// Throughput in GB/s (1e9 bytes) at the median time.
    pub fn gbps(&self, bytes: f64) -> f64 {
        bytes / (self.median_us * 1e3)
    }
}

/// GPU busy time queued ahead of each sample (see kernels/roofline.cu: spin_ns).
const SPIN_NS: u64 = 40_000;

/// Queues a kernel that keeps the GPU busy for about `ns` nanoseconds.
pub fn spin(backend: &CudaBackend, ns: u64) -> Result<()> {
    let f = backend.function(&super::kernels::ROOFLINE, &[], "spin_ns")?;
    let mut args = super::KernelArgs::new();
    args.push(ns);
    // SAFETY: spin_ns takes one u64 and touches no memory.
    unsafe { backend.launch_raw(&f, super::LaunchConfig::linear(1, 1), &args) }
}

/// Runs `f(i)` `warmup` times untimed, then `runs` times each between two
/// events. Before each start event a spin kernel keeps the GPU busy while the
/// host enqueues the sample, so the interval is GPU execution time, not host
/// overhead (which the host-cost benchmarks measure separately).
pub fn time_on_stream(
    backend: &CudaBackend,
    warmup: usize,
    runs: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<Stats> {
    let ctx = backend.context();
    let stream = backend.stream();
    let ev = || ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(Error::driver("creating an event"));
    let spin = backend.function(&super::kernels::ROOFLINE, &[], "spin_ns")?;
    for i in 0..warmup {
        f(i)?;
    }
    let pairs: Vec<_> = (0..runs).map(|_| Ok((ev()?, ev()?))).collect::<Result<_>>()?;
    for (i, (start, end)) in pairs.iter().enumerate() {
        let mut args = super::KernelArgs::new();
        args.push(SPIN_NS);
        // SAFETY: spin_ns takes one u64 and touches no memory.
        unsafe { backend.launch_raw(&spin, super::LaunchConfig::linear(1, 1), &args)? };
        start.record(stream).map_err(Error::driver("recording an event"))?;
        f(warmup + i)?;
        end.record(stream).map_err(Error::driver("recording an event"))?;
    }
    backend.synchronize()?;
    let us = pairs
        .iter()
        .map(|(s, e)| s.elapsed_ms(e).map(|ms| ms as f64 * 1e3).map_err(Error::driver("reading event time")))
        .collect::<Result<Vec<_>>>()?;
    Ok(Stats::from_samples(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = Stats::from_samples(vec![5.0, 1.0, 3.0]);
        assert_eq!((s.median_us, s.min_us, s.max_us, s.runs), (3.0, 1.0, 5.0, 3));
        assert_eq!(Stats::from_samples(vec![4.0, 1.0, 2.0, 3.0]).median_us, 2.5);
        assert!((Stats::from_samples(vec![10.0]).gbps(1e6) - 100.0).abs() < 1e-9);
    }
}

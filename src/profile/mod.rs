//! Profiling: every launch carries a label (`matmul/gemv_mma_n8/f16`,
//! `softmax/block_e8_p8_1024/bf16`, `sdpa/fused_mma_split8/f16`, ...). With
//! profiling on (`DK_PROFILE=1` or [`Profiler::set_enabled`]) each labeled
//! launch is bracketed by CUDA events (on the CPU backend: by the wall clock)
//! and by an NVTX range of the same name; [`Profiler::report`] aggregates per
//! label. With profiling off a launch costs one relaxed atomic load: no event,
//! no NVTX call, no synchronisation, nothing stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaContext, CudaEvent, CudaStream};

use crate::error::{Error, Result};

mod nvtx;
mod report;

use nvtx::Nvtx;
pub use report::{Report, ReportRow};

/// Switches profiling on for every context a program opens: 1/0, true/false,
/// on/off, yes/no (see [`parse_profile_env`]).
pub const PROFILE_ENV: &str = "DK_PROFILE";
/// Where a program's DK_PROFILE report goes besides stderr: a `.csv` or `.json` path.
pub const PROFILE_OUT_ENV: &str = "DK_PROFILE_OUT";

/// Profilers switched on by DK_PROFILE, kept so a program can report them at
/// exit ([`env_report`]); each holds its events, and so its CUDA context.
static ENV_PROFILERS: Mutex<Vec<std::sync::Arc<Profiler>>> = Mutex::new(Vec::new());

pub(crate) fn register_env_profiler(p: &std::sync::Arc<Profiler>) {
    if p.is_enabled() {
        ENV_PROFILERS.lock().unwrap_or_else(|e| e.into_inner()).push(p.clone());
    }
}

/// The report of every profiler DK_PROFILE switched on in this process
/// (None when there is none or nothing was launched): the CLI prints it at
/// exit, and writes it to DK_PROFILE_OUT when set.
pub fn env_report() -> Result<Option<Report>> {
    let profilers: Vec<_> = std::mem::take(&mut *ENV_PROFILERS.lock().unwrap_or_else(|e| e.into_inner()));
    let mut samples = Vec::new();
    for p in &profilers {
        samples.extend(p.samples()?);
    }
    Ok((!samples.is_empty()).then(|| Report::from_samples(&samples, None)))
}

/// A launch as the profiler sees it.
#[derive(Debug, Clone, Copy)]
pub struct Tag<'a> {
    /// The label samples are aggregated by: `op/variant/dtype`.
    pub label: &'a str,
    /// The bytes the launch must move at least (for GB/s); 0 when not meaningful.
    pub bytes: u64,
}

/// One finished, timed launch.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The launch's label (see [`Tag`]).
    pub label: String,
    /// The bytes it must move at least; 0 when not meaningful.
    pub bytes: u64,
    /// Its time in microseconds: between its CUDA events on a GPU, by the
    /// wall clock on the CPU backend.
    pub us: f64,
}

struct Pending {
    label: String,
    bytes: u64,
    start: CudaEvent,
    end: CudaEvent,
}

#[derive(Default)]
struct Inner {
    pending: Vec<Pending>,
    samples: Vec<Sample>,
    /// Events of resolved samples, reused so a profiled launch rarely creates one.
    free_events: Vec<CudaEvent>,
}

/// Per-context profiler. Cheap to query when off.
pub struct Profiler {
    enabled: AtomicBool,
    inner: Mutex<Inner>,
    nvtx: Option<Nvtx>,
}

impl std::fmt::Debug for Profiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiler").field("enabled", &self.is_enabled()).field("nvtx", &self.nvtx.is_some()).finish()
    }
}

/// Parses a `DK_PROFILE` value: on, off, or an error naming the variable.
pub fn parse_profile_env(v: Option<&str>) -> Result<bool> {
    match v.map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(s) => match s.as_str() {
            "" | "0" | "false" | "off" | "no" => Ok(false),
            "1" | "true" | "on" | "yes" => Ok(true),
            _ => Err(Error::BadEnv {
                var: PROFILE_ENV,
                value: v.unwrap_or_default().to_string(),
                allowed: "1, 0, true, false, on, off".into(),
            }),
        },
    }
}

impl Profiler {
    /// A profiler that starts `enabled`. NVTX is looked up once here.
    pub fn new(enabled: bool) -> Self {
        Profiler { enabled: AtomicBool::new(enabled), inner: Mutex::new(Inner::default()), nvtx: Nvtx::load() }
    }

    /// Reads `DK_PROFILE` (unset: off).
    pub fn from_env() -> Result<Self> {
        Ok(Self::new(parse_profile_env(std::env::var(PROFILE_ENV).ok().as_deref())?))
    }

    /// Whether launches are being timed now.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Switches timing on or off for launches from now on; samples already
    /// recorded are kept.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed)
    }

    /// Whether NVTX ranges reach a tool (libnvToolsExt was found).
    pub fn nvtx_available(&self) -> bool {
        self.nvtx.is_some()
    }

    /// How many launches were recorded (pending or resolved) since the last reset.
    pub fn recorded(&self) -> usize {
        let inner = self.lock();
        inner.pending.len() + inner.samples.len()
    }

    /// Forgets every sample.
    pub fn reset(&self) {
        let mut inner = self.lock();
        let Inner { pending, samples, free_events } = &mut *inner;
        samples.clear();
        free_events.extend(pending.drain(..).flat_map(|p| [p.start, p.end]));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a host-side op (the CPU backend) under `tag`, timed by the wall clock.
    pub(crate) fn host<R>(&self, tag: Tag<'_>, f: impl FnOnce() -> Result<R>) -> Result<R> {
        if !self.is_enabled() {
            return f();
        }
        let _range = self.nvtx.as_ref().map(|n| n.range(tag.label));
        let t0 = Instant::now();
        let r = f()?;
        let us = t0.elapsed().as_secs_f64() * 1e6;
        self.lock().samples.push(Sample { label: tag.label.to_string(), bytes: tag.bytes, us });
        Ok(r)
    }

    /// Enqueues device work under `tag`: an event before and after it on `stream`.
    pub(crate) fn device<R>(
        &self,
        ctx: &std::sync::Arc<CudaContext>,
        stream: &CudaStream,
        tag: Tag<'_>,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        if !self.is_enabled() {
            return f();
        }
        let _range = self.nvtx.as_ref().map(|n| n.range(tag.label));
        let (start, end) = {
            let mut inner = self.lock();
            let mut take = || match inner.free_events.pop() {
                Some(e) => Ok(e),
                None => ctx
                    .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                    .map_err(Error::driver("creating a profiling event")),
            };
            (take()?, take()?)
        };
        start.record(stream).map_err(Error::driver("recording a profiling event"))?;
        let r = f()?;
        end.record(stream).map_err(Error::driver("recording a profiling event"))?;
        self.lock().pending.push(Pending { label: tag.label.to_string(), bytes: tag.bytes, start, end });
        Ok(r)
    }

    /// Waits for the profiled launches and returns every sample so far, in
    /// launch order.
    pub fn samples(&self) -> Result<Vec<Sample>> {
        let mut inner = self.lock();
        let pending: Vec<Pending> = inner.pending.drain(..).collect();
        for p in pending {
            p.end.synchronize().map_err(Error::driver("waiting for a profiling event"))?;
            let ms = p.start.elapsed_ms(&p.end).map_err(Error::driver("reading a profiling event"))?;
            inner.samples.push(Sample { label: p.label, bytes: p.bytes, us: ms as f64 * 1e3 });
            inner.free_events.extend([p.start, p.end]);
        }
        Ok(inner.samples.clone())
    }

    /// The per-label report of every sample so far; `roofline_gbps` (the read
    /// roofline measured on this device) fills the % column when known.
    pub fn report(&self, roofline_gbps: Option<f64>) -> Result<Report> {
        Ok(Report::from_samples(&self.samples()?, roofline_gbps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(label: &str, bytes: u64, us: f64) -> Sample {
        Sample { label: label.into(), bytes, us }
    }

    #[test]
    fn env_values() {
        assert!(!parse_profile_env(None).unwrap());
        assert!(parse_profile_env(Some("1")).unwrap());
        assert!(parse_profile_env(Some("ON")).unwrap());
        assert!(!parse_profile_env(Some("0")).unwrap());
        let e = parse_profile_env(Some("maybe")).unwrap_err().to_string();
        assert!(e.contains("DK_PROFILE") && e.contains("maybe"), "{e}");
    }

    #[test]
    fn aggregates_per_label() {
        let samples: Vec<Sample> =
            (1..=20).map(|i| s("a", 1000, i as f64)).chain([s("b", 0, 500.0), s("c", 2000, 1.0)]).collect();
        let r = Report::from_samples(&samples, Some(2.0));
        assert_eq!(
            r.rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(),
            ["b", "a", "c"],
            "ordered by total time"
        );
        let a = &r.rows[1];
        assert_eq!((a.count, a.total_us, a.mean_us, a.p50_us, a.p95_us), (20, 210.0, 10.5, 10.0, 19.0));
        // 20 launches x 1000 bytes in 210 us = 0.0952 GB/s; 4.76% of 2 GB/s.
        assert!((a.gbps.unwrap() - 20_000.0 / 210e3).abs() < 1e-12);
        assert!((a.pct_roofline.unwrap() - 100.0 * 20_000.0 / 210e3 / 2.0).abs() < 1e-9);
        assert_eq!((r.rows[0].gbps, r.rows[0].pct_roofline), (None, None), "no bytes, no throughput");
        assert_eq!(r.total_us(), 711.0);
        let csv = r.to_csv();
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.lines().nth(2).unwrap().starts_with("a,20,210.000,10.500,10.000,19.000,1000,0.095,4.762"), "{csv}");
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["rows"][1]["count"], 20);
        assert!(r.to_table().contains("total"));
    }

    #[test]
    fn off_records_nothing_and_on_records_each_call() {
        let p = Profiler::new(false);
        let tag = Tag { label: "x/y/f16", bytes: 8 };
        for _ in 0..3 {
            p.host(tag, || Ok(())).unwrap();
        }
        assert_eq!(p.recorded(), 0);
        p.set_enabled(true);
        p.host(tag, || Ok(())).unwrap();
        p.host(Tag { label: "z", bytes: 0 }, || Ok(())).unwrap();
        let samples = p.samples().unwrap();
        assert_eq!(samples.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), ["x/y/f16", "z"]);
        p.reset();
        assert_eq!(p.recorded(), 0);
    }
}

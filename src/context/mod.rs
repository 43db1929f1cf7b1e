//! The context an op runs in: a CUDA device or the CPU backend, chosen by the
//! caller or by `DK_DEVICE`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use crate::cpu::CpuBackend;
use crate::dispatch::Dispatcher;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::profile::Profiler;
use crate::runtime::CudaBackend;
use crate::tensor::{Device, Tensor};
use crate::tuning::TuningTable;

mod alloc;
mod plans;

pub use crate::runtime::probe::Availability;
pub use plans::PlanCache;

/// Which backend to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    /// CUDA device 0 when usable, else the CPU backend with a notice.
    Auto,
    /// The CPU backend, even where CUDA is usable.
    Cpu,
    /// This CUDA device; an error, not a fallback, when it cannot be used.
    Cuda(usize),
}

/// The environment variable [`DeviceRequest::from_env`] reads: `auto`, `cpu`,
/// `cuda` or `cuda:N`.
pub const DEVICE_ENV: &str = "DK_DEVICE";
const DEVICE_ALLOWED: &str = "auto, cpu, cuda, cuda:N";

impl FromStr for DeviceRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "auto" | "" => Ok(DeviceRequest::Auto),
            "cpu" => Ok(DeviceRequest::Cpu),
            "cuda" => Ok(DeviceRequest::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .map(DeviceRequest::Cuda)
                .ok_or_else(|| format!("expected one of {DEVICE_ALLOWED}")),
        }
    }
}

impl DeviceRequest {
    /// From `DK_DEVICE`; unset means auto; a bad value is an error.
    pub fn from_env() -> Result<Self> {
        match std::env::var(DEVICE_ENV) {
            Err(_) => Ok(DeviceRequest::Auto),
            Ok(v) => v.parse().map_err(|_| Error::BadEnv { var: DEVICE_ENV, value: v, allowed: DEVICE_ALLOWED.into() }),
        }
    }
}

/// What to open, decided from the request and what the machine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendChoice {
    /// Open this CUDA device.
    Cuda(usize),
    /// The CPU backend; `notice` says why when CUDA was wanted but absent.
    Cpu {
        /// The message to print when falling back from an automatic request;
        /// `None` when the CPU backend was asked for.
        notice: Option<String>,
    },
}

/// A pure decision, so the fallback is testable on any machine.
pub fn choose_backend(req: DeviceRequest, avail: &Availability) -> Result<BackendChoice> {
    match req {
        DeviceRequest::Cpu => Ok(BackendChoice::Cpu { notice: None }),
        DeviceRequest::Auto => Ok(match avail.unusable_reason() {
            None => BackendChoice::Cuda(0),
            Some(why) => BackendChoice::Cpu {
                notice: Some(format!("decode-kernels: no usable CUDA device ({why}); using the CPU backend")),
            },
        }),
        DeviceRequest::Cuda(i) => {
            let n = match (&avail.devices, avail.unusable_reason()) {
                (Ok(n), None) => *n,
                (_, Some(why)) => return Err(Error::CudaUnavailable(why)),
                (Err(e), None) => return Err(Error::CudaUnavailable(e.clone())),
            };
            if i >= n {
                return Err(Error::CudaUnavailable(format!(
                    "device cuda:{i} was asked for but only {n} device(s) exist"
                )));
            }
            Ok(BackendChoice::Cuda(i))
        }
    }
}

/// The backend ops run on.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Cpu(CpuBackend),
    Cuda(Arc<CudaBackend>),
}

/// Where ops run, and everything they share there: the backend, the
/// dispatcher (device caps, tuning table, preferences), the resolved plans,
/// reused scratch and the profiler. Cloning is cheap and shares all of it.
#[derive(Clone, Debug)]
pub struct Context {
    backend: Backend,
    /// The one owner of dispatch inputs: every op plans through it.
    dispatcher: Arc<Dispatcher>,
    /// Resolved plans of the eager ops, so a shape seen before skips dispatch
    /// and function lookup.
    plans: Arc<PlanCache>,
    /// Scratch tensors per (purpose, dtype), grown on demand and reused, so an
    /// op that needs an intermediate allocates only on its first call.
    scratch: Arc<Mutex<HashMap<(&'static str, DType), Tensor>>>,
    /// Shared with the CUDA backend, which brackets its launches with it.
    profiler: Arc<Profiler>,
}

impl Context {
    /// Opens what `req` asks for; with `Auto` and no usable GPU, prints a
    /// one-line notice on stderr and opens the CPU backend. The tuning table
    /// is read here on every backend, so a bad `DK_TUNING_FILE` is an error
    /// at once.
    pub fn new(req: DeviceRequest) -> Result<Self> {
        let avail = if req == DeviceRequest::Cpu { None } else { Some(Availability::probe()) };
        let choice = match &avail {
            None => BackendChoice::Cpu { notice: None },
            Some(a) => choose_backend(req, a)?,
        };
        let profiler = Arc::new(Profiler::from_env()?);
        crate::profile::register_env_profiler(&profiler);
        let backend = match choice {
            BackendChoice::Cpu { notice } => {
                if let Some(n) = notice {
                    eprintln!("{n}");
                }
                Backend::Cpu(CpuBackend)
            }
            BackendChoice::Cuda(i) => Backend::Cuda(CudaBackend::open(i, profiler.clone())?),
        };
        let caps = match &backend {
            Backend::Cpu(_) => None,
            Backend::Cuda(b) => Some(b.caps().clone()),
        };
        Ok(Self::with_parts(backend, Dispatcher::new(caps)?, profiler))
    }

    /// Reads `DK_DEVICE` and opens that.
    pub fn from_env() -> Result<Self> {
        Self::new(DeviceRequest::from_env()?)
    }

    /// The CPU backend as a reference: profiling off (whatever DK_PROFILE
    /// says) and the embedded tuning table (the CPU dispatches nothing).
    pub fn cpu() -> Self {
        let dispatcher = Dispatcher::with_table(None, TuningTable::for_arch("cpu"), None);
        Self::with_parts(Backend::Cpu(CpuBackend), dispatcher, Arc::new(Profiler::new(false)))
    }

    fn with_parts(backend: Backend, dispatcher: Dispatcher, profiler: Arc<Profiler>) -> Self {
        Context {
            backend,
            dispatcher: Arc::new(dispatcher),
            plans: Default::default(),
            scratch: Default::default(),
            profiler,
        }
    }

    /// This context's device and profiler under another tuning table, with
    /// its own plans and scratch: for `check` and tests, to reach the paths a
    /// table selects (a fused kernel the shipped table leaves unused).
    #[cfg(feature = "cli")] // check's use
    pub(crate) fn with_table(&self, table: TuningTable) -> Context {
        let caps = self.dispatcher.caps().cloned();
        let prefs = self.dispatcher.env_prefs().ok().cloned();
        Self::with_parts(self.backend.clone(), Dispatcher::with_table(caps, table, prefs), self.profiler.clone())
    }

    /// Where long work on this context reports: today the first NVRTC
    /// compilation of each kernel module on a GPU (nothing on the CPU backend).
    pub fn set_progress(&self, progress: Arc<dyn crate::progress::Progress>) {
        if let Backend::Cuda(b) = &self.backend {
            b.set_progress(progress);
        }
    }

    /// The dispatcher: device caps, the tuning table in force and the
    /// preferences ops fall back on.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The value cached under `key` on this context, made by `make` on the
    /// first request (see [`PlanCache`]).
    pub(crate) fn cached_plan<K, V>(&self, key: &K, make: impl FnOnce() -> Result<V>) -> Result<V>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.plans.get_or_make(key, make)
    }

    /// The profiler every launch on this context reports to.
    pub fn profiler(&self) -> &Arc<Profiler> {
        &self.profiler
    }

    /// Runs `f` with the CUDA backend recording instead of launching, and
    /// returns the launches `f` made, ready to replay or capture into a graph.
    /// Recording needs a CUDA device. Ops inside `f` validate and plan as
    /// usual; nothing reaches the GPU until the recording is replayed.
    pub fn record(&self, f: impl FnOnce(&Context) -> Result<()>) -> Result<crate::runtime::record::Recording> {
        let be = self.cuda().ok_or_else(|| Error::Unsupported {
            op: "record",
            what: "recording launches on the CPU backend (it needs a CUDA device)".into(),
        })?;
        be.begin_recording()?;
        let ran = f(self);
        let rec = be.end_recording();
        ran?;
        rec
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    pub(crate) fn cuda(&self) -> Option<&Arc<CudaBackend>> {
        match &self.backend {
            Backend::Cuda(b) => Some(b),
            Backend::Cpu(_) => None,
        }
    }

    /// The device this context's tensors live on.
    pub fn device(&self) -> Device {
        match &self.backend {
            Backend::Cpu(_) => Device::Cpu,
            Backend::Cuda(b) => Device::Cuda(b.caps().ordinal),
        }
    }

    /// Whether ops run on a CUDA device (rather than the CPU backend).
    pub fn is_cuda(&self) -> bool {
        self.cuda().is_some()
    }

    /// Waits for all queued device work.
    pub fn synchronize(&self) -> Result<()> {
        match &self.backend {
            Backend::Cpu(_) => Ok(()),
            Backend::Cuda(b) => b.synchronize(),
        }
    }

    /// Compiles and loads every kernel the library has (no-op on the CPU).
    pub fn prewarm(&self) -> Result<()> {
        match &self.backend {
            Backend::Cpu(_) => Ok(()),
            Backend::Cuda(b) => b.prewarm(crate::runtime::kernels::ALL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avail(driver: bool, nvrtc: bool, devices: Result<usize, String>) -> Availability {
        Availability { driver_lib: driver, nvrtc_lib: nvrtc, devices }
    }

    #[test]
    fn parses_device_requests() {
        assert_eq!("auto".parse(), Ok(DeviceRequest::Auto));
        assert_eq!("CPU".parse(), Ok(DeviceRequest::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceRequest::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceRequest::Cuda(3)));
        for bad in ["cuda:", "cuda:x", "tpu", "cuda:-1", "gpu"] {
            let e = bad.parse::<DeviceRequest>().unwrap_err();
            assert!(e.contains("auto, cpu, cuda, cuda:N"), "{bad}: {e}");
        }
    }

    #[test]
    fn auto_falls_back_to_cpu_with_a_reason() {
        let no_driver = avail(false, false, Err("the CUDA driver library (libcuda) was not found".into()));
        match choose_backend(DeviceRequest::Auto, &no_driver).unwrap() {
            BackendChoice::Cpu { notice: Some(n) } => {
                assert!(n.contains("libcuda") && n.contains("CPU backend"), "{n}")
            }
            other => panic!("expected CPU fallback, got {other:?}"),
        }
        let no_nvrtc = avail(true, false, Ok(1));
        match choose_backend(DeviceRequest::Auto, &no_nvrtc).unwrap() {
            BackendChoice::Cpu { notice: Some(n) } => assert!(n.contains("NVRTC"), "{n}"),
            other => panic!("expected CPU fallback, got {other:?}"),
        }
        let no_device = avail(true, true, Ok(0));
        assert!(matches!(
            choose_backend(DeviceRequest::Auto, &no_device).unwrap(),
            BackendChoice::Cpu { notice: Some(_) }
        ));
        assert_eq!(choose_backend(DeviceRequest::Auto, &avail(true, true, Ok(2))).unwrap(), BackendChoice::Cuda(0));
    }

    #[test]
    fn explicit_cuda_without_cuda_is_an_error() {
        let e = choose_backend(
            DeviceRequest::Cuda(0),
            &avail(false, false, Err("the CUDA driver library (libcuda) was not found".into())),
        )
        .unwrap_err();
        assert!(e.to_string().contains("CUDA is unavailable") && e.to_string().contains("libcuda"), "{e}");
        let e = choose_backend(DeviceRequest::Cuda(2), &avail(true, true, Ok(2))).unwrap_err();
        assert!(e.to_string().contains("cuda:2") && e.to_string().contains("only 2"), "{e}");
        assert_eq!(choose_backend(DeviceRequest::Cuda(1), &avail(true, true, Ok(2))).unwrap(), BackendChoice::Cuda(1));
        assert_eq!(
            choose_backend(DeviceRequest::Cpu, &avail(true, true, Ok(2))).unwrap(),
            BackendChoice::Cpu { notice: None }
        );
    }
}

//! The CUDA side: one device and its stream, compiled kernels (`modules`),
//! cuBLAS, split-K scratch (`workspace`) and the launch path with profiling and
//! recording (`launch`). Nothing here runs unless the probe found the libraries.

pub mod cache;
pub mod cublas;
pub mod kernels;
pub mod launch;
pub mod modules;
pub mod nvrtc;
pub mod probe;
pub mod record;
pub mod timing;
pub mod workspace;

use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::sys::CUdevice_attribute as Attr;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};

use crate::device::DeviceCaps;
use crate::error::{Error, Result};
use crate::profile::Profiler;
use cache::{CacheCounts, DiskCache, ModuleKey};
use kernels::KernelSource;
use launch::Launcher;
pub use launch::{KernelArgs, LaunchConfig};
use modules::ModuleCache;
use nvrtc::Nvrtc;
use workspace::Workspace;

/// One open CUDA device: the device and its one stream, its compiled kernels,
/// its cuBLAS handle, its split-K scratch and its launch path.
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    caps: DeviceCaps,
    modules: ModuleCache,
    cublas: OnceLock<std::result::Result<cublas::Cublas, String>>,
    workspace: Mutex<Workspace>,
    launcher: Launcher,
    /// Kernels marked [`LaunchConfig::dependent`] are launched as programmatic
    /// dependents (sm_90 and `DK_PDL` not off).
    pdl: bool,
    /// [`CudaBackend::resident_ctas`]'s answers by (function, threads, shared bytes).
    residency: Mutex<std::collections::HashMap<(usize, u32, usize), usize>>,
    /// max_active_clusters' answers by (function, threads, shared bytes, cluster size).
    cluster_residency: Mutex<std::collections::HashMap<(usize, u32, u32, u32), i32>>,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaBackend").field("caps", &self.caps).finish()
    }
}

impl CudaBackend {
    /// Opens device `ordinal`. The caller has probed that the driver and NVRTC exist.
    pub fn open(ordinal: usize, profiler: Arc<Profiler>) -> Result<Arc<Self>> {
        let nvrtc = Nvrtc::load()?;
        let ctx = CudaContext::new(ordinal).map_err(Error::driver(format!("opening CUDA device {ordinal}")))?;
        // One stream: order is the stream's, so cudarc's per-buffer events are
        // pure overhead. SAFETY: no buffer exists yet on this context.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(Error::driver("creating a stream"))?;
        let attr =
            |a: Attr| ctx.attribute(a).map(|v| v.max(0) as u32).map_err(Error::driver("reading device attributes"));
        let caps = DeviceCaps {
            ordinal,
            name: ctx.name().map_err(Error::driver("reading the device name"))?,
            compute_capability: ctx.compute_capability().map_err(Error::driver("reading the compute capability"))?,
            sm_count: attr(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
            l2_bytes: attr(Attr::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)? as u64,
            total_mem_bytes: ctx.total_mem().map_err(Error::driver("reading the memory size"))? as u64,
            max_shared_per_block_optin: attr(Attr::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)?,
            max_threads_per_sm: attr(Attr::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR)?,
        };
        let pdl = launch::pdl_enabled(caps.compute_capability, std::env::var(launch::PDL_ENV).ok().as_deref())?;
        let modules = ModuleCache::new(ctx.clone(), caps.arch(), nvrtc, DiskCache::new(DiskCache::default_dir()));
        Ok(Arc::new(CudaBackend {
            ctx,
            stream,
            caps,
            modules,
            cublas: OnceLock::new(),
            workspace: Mutex::new(Workspace::default()),
            launcher: Launcher::new(profiler),
            pdl,
            residency: Mutex::new(std::collections::HashMap::new()),
            cluster_residency: Mutex::new(std::collections::HashMap::new()),
        }))
    }

    pub fn caps(&self) -> &DeviceCaps {
        &self.caps
    }

    /// Whether kernels marked [`LaunchConfig::dependent`] start as
    /// programmatic dependents (sm_90 and later, `DK_PDL` not off).
    pub fn dependent_launch(&self) -> bool {
        self.pdl
    }

    /// CTAs of `threads` threads and `shared` bytes of dynamic shared memory
    /// that fit on one SM (at least 1), after [`CudaBackend::allow_shared`]:
    /// the driver is asked once per (function, threads, shared), so a launch
    /// sized by it each time (the quantized GEMV's eager launches) pays a map
    /// lookup, not three driver calls.
    pub fn resident_ctas(
        &self,
        op: &'static str,
        function: &CudaFunction,
        name: &str,
        threads: u32,
        shared: usize,
    ) -> Result<usize> {
        let key = (function.cu_function() as usize, threads, shared);
        if let Some(&n) = self.residency.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(n);
        }
        self.allow_shared(op, function, name, shared)?;
        let n = function
            .occupancy_max_active_blocks_per_multiprocessor(threads, shared, None)
            .map_err(Error::driver(format!("reading {name}'s occupancy")))?
            .max(1) as usize;
        self.residency.lock().unwrap_or_else(|e| e.into_inner()).insert(key, n);
        Ok(n)
    }

    /// Lets `function` (named `name`, launched by `op`) take `bytes` of dynamic
    /// shared memory, or says the device cannot give that many. The attribute
    /// belongs to the function, which launches of different sizes share (a
    /// prefill chunk's plan needs more than a decode step's): the device's
    /// whole opt-in amount is allowed at once, so no launch ever lowers it
    /// under another's. Occupancy follows the shared memory a launch asks
    /// for, not this bound.
    pub fn allow_shared(&self, op: &'static str, function: &CudaFunction, name: &str, bytes: usize) -> Result<()> {
        use cudarc::driver::sys::CUfunction_attribute::{
            CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES as MAX_DYNAMIC,
            CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES as STATIC,
        };
        let optin = self.caps.max_shared_per_block_optin as usize;
        let static_bytes =
            function.get_attribute(STATIC).map_err(Error::driver(format!("reading {name}'s static shared memory")))?;
        // The opt-in bound covers static and dynamic shared memory together.
        if bytes + static_bytes.max(0) as usize > optin {
            return Err(Error::Unsupported {
                op,
                what: format!(
                    "{name} needs {bytes} + {static_bytes} bytes of shared memory; the device allows {optin}"
                ),
            });
        }
        let allow = (optin as i32 - static_bytes).max(bytes as i32);
        function
            .set_attribute(MAX_DYNAMIC, allow)
            .map_err(Error::driver(format!("allowing {name} {allow} bytes of shared memory")))
    }
    /// Lets `function` run in thread-block clusters of `size` CTAs: above 8
    /// (the portable size) the driver needs the function's consent.
    pub fn allow_cluster(&self, op: &'static str, function: &CudaFunction, name: &str, size: u32) -> Result<()> {
        use cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED as NON_PORTABLE;
        if self.caps.compute_capability.0 < 9 {
            return Err(Error::Unsupported { op, what: format!("{name} in clusters before sm_90") });
        }
        if size > 8 {
            function
                .set_attribute(NON_PORTABLE, 1)
                .map_err(Error::driver(format!("allowing {name} clusters of {size} CTAs")))?;
        }
        Ok(())
    }
    /// How many clusters of `cfg.cluster` CTAs of `function` (with `cfg`'s
    /// block and shared memory) the device can run at once; 0 when one does
    /// not fit (too many CTAs for a GPC at that size, or a partitioned GPU).
    /// The driver is asked once per (function, threads, shared, cluster
    /// size): eager launches of a clustered plan (the imma kernel's, the
    /// attention's) ask on every launch.
    pub fn max_active_clusters(&self, function: &CudaFunction, cfg: &LaunchConfig) -> Result<i32> {
        let key =
            (function.cu_function() as usize, cfg.block.0 * cfg.block.1 * cfg.block.2, cfg.shared_bytes, cfg.cluster);
        if let Some(&n) = self.cluster_residency.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(n);
        }
        let mut attrs = [launch::cluster_attribute(cfg.cluster.max(1))];
        let config = launch::driver_config(cfg, self.stream.cu_stream(), &mut attrs);
        // SAFETY: the config points at `attrs`, alive for the call.
        let n = unsafe {
            let mut n: std::ffi::c_int = 0;
            cudarc::driver::sys::cuOccupancyMaxActiveClusters(&mut n, function.cu_function(), &config)
                .result()
                .map_err(Error::driver("querying how many clusters fit"))?;
            n
        };
        self.cluster_residency.lock().unwrap_or_else(|e| e.into_inner()).insert(key, n);
        Ok(n)
    }
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }
    /// The profiler this device's launches report to.
    pub fn profiler(&self) -> &Arc<Profiler> {
        &self.launcher.profiler
    }
    /// The NVRTC library in use.
    pub fn nvrtc(&self) -> &Nvrtc {
        self.modules.nvrtc()
    }
    /// The kernel cache folder.
    pub fn cache_dir(&self) -> &std::path::Path {
        self.modules.cache_dir()
    }
    /// Kernel cache hits and misses so far.
    pub fn cache_counts(&self) -> CacheCounts {
        self.modules.cache_counts()
    }

    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(Error::driver("stream synchronize"))
    }

    /// Whether cuBLAS can be used (library present and a handle created).
    pub fn cublas_available(&self) -> bool {
        self.cublas().is_ok()
    }

    /// The backend's cuBLAS handle, created on first use.
    pub fn cublas(&self) -> Result<&cublas::Cublas> {
        self.cublas
            .get_or_init(|| cublas::Cublas::new(&self.stream).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Cublas { during: "initialisation".into(), message: e.clone() })
    }

    /// Device memory of at least `bytes` bytes (uninitialised).
    pub fn alloc_bytes(&self, bytes: usize) -> Result<cudarc::driver::CudaSlice<u8>> {
        // cuMemAlloc rejects zero bytes; an empty tensor still gets a handle.
        // SAFETY: u8 has no invalid bit patterns; callers write before reading.
        unsafe { self.stream.alloc::<u8>(bytes.max(1)) }
            .map_err(Error::driver(format!("allocating {bytes} bytes of device memory")))
    }

    /// The module built from `source` with `defines` (see [`ModuleCache::module`]).
    pub fn module(&self, source: &KernelSource, defines: &[(&str, &str)]) -> Result<(ModuleKey, Arc<CudaModule>)> {
        self.modules.module(source, defines)
    }

    /// A function handle, resolved once per (module, name) and then reused.
    pub fn function(&self, source: &KernelSource, defines: &[(&str, &str)], name: &str) -> Result<CudaFunction> {
        self.modules.function(source, defines, name)
    }

    /// Where kernel compilations report (default: nowhere).
    pub fn set_progress(&self, progress: Arc<dyn crate::progress::Progress>) {
        self.modules.set_progress(progress);
    }

    /// Compiles and loads every build of every source, in parallel.
    pub fn prewarm(&self, sources: &[&KernelSource]) -> Result<()> {
        self.modules.prewarm(sources)
    }
}

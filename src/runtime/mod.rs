//! The CUDA side: one device, one stream, the NVRTC module cache, launches and
//! event timing. Nothing here runs unless the probe found the libraries.

pub mod cache;
pub mod cublas;
pub mod kernels;
pub mod nvrtc;
pub mod probe;
pub mod timing;

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::CUdevice_attribute as Attr;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::Ptx;

use crate::error::{Error, Result};
use cache::{CacheCounts, DiskCache, ModuleKey};
use kernels::KernelSource;
use nvrtc::Nvrtc;

/// What the dispatchers and the report need to know about a device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceCaps {
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: (i32, i32),
    pub sm_count: u32,
    pub l2_bytes: u64,
    pub total_mem_bytes: u64,
    pub max_shared_per_block_optin: u32,
    pub max_threads_per_sm: u32,
}

impl DeviceCaps {
    /// NVRTC's name for this architecture, e.g. "sm_90".
    pub fn arch(&self) -> String {
        format!("sm_{}{}", self.compute_capability.0, self.compute_capability.1)
    }
}

/// A 1-, 2- or 3-D launch shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchConfig {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
    pub shared_bytes: u32,
}

impl LaunchConfig {
    pub fn linear(grid: u32, block: u32) -> Self {
        LaunchConfig { grid: (grid, 1, 1), block: (block, 1, 1), shared_bytes: 0 }
    }
}

/// Largest by-value kernel parameter we pass (a `#[repr(C)]` params struct).
const MAX_ARG_BYTES: usize = 256;

/// Kernel parameters, each in its own 8-byte-aligned slot, so any scalar or
/// `#[repr(C)]` struct of up to MAX_ARG_BYTES can be passed by value.
#[derive(Default)]
pub struct KernelArgs {
    slots: Vec<[u64; MAX_ARG_BYTES / 8]>,
}

impl KernelArgs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one parameter. `T` must match the kernel's parameter type in
    /// layout (a plain scalar or a `#[repr(C)]` struct of scalars).
    pub fn push<T: Copy + 'static>(&mut self, v: T) -> &mut Self {
        const { assert!(std::mem::size_of::<T>() <= MAX_ARG_BYTES && std::mem::align_of::<T>() <= 8) };
        let mut slot = [0u64; MAX_ARG_BYTES / 8];
        // SAFETY: the slot is MAX_ARG_BYTES long, 8-aligned, and T fits in it (checked at compile time).
        unsafe { std::ptr::write(slot.as_mut_ptr() as *mut T, v) };
        self.slots.push(slot);
        self
    }
}

/// A function by its source file (the sources are statics), define set and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FunctionId {
    source: &'static str,
    defines: Vec<String>,
    name: String,
}

/// One open CUDA device.
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    caps: DeviceCaps,
    nvrtc: Nvrtc,
    disk: DiskCache,
    modules: Mutex<HashMap<ModuleKey, Arc<CudaModule>>>,
    functions: Mutex<HashMap<(ModuleKey, String), CudaFunction>>,
    /// Handles by (source file, defines, name): a repeat lookup costs a small
    /// hash, not the source's expansion and SHA-256 (tens of microseconds).
    fast_functions: Mutex<HashMap<FunctionId, CudaFunction>>,
    cublas: std::sync::OnceLock<std::result::Result<cublas::Cublas, String>>,
    workspace: Mutex<Workspace>,
    tuning: std::sync::OnceLock<std::result::Result<(crate::tuning::TuningTable, String), String>>,
}

/// Split-K scratch: f32 partial tiles and per-tile arrival counters. Grows on
/// demand and is reused by every later launch (kernels re-arm the counters).
#[derive(Default)]
struct Workspace {
    partials: Option<cudarc::driver::CudaSlice<u8>>,
    counters: Option<cudarc::driver::CudaSlice<u8>>,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaBackend").field("caps", &self.caps).finish()
    }
}

impl CudaBackend {
    /// Opens device `ordinal`. The caller has probed that the driver and NVRTC exist.
    pub fn open(ordinal: usize) -> Result<Arc<Self>> {
        let nvrtc = Nvrtc::load()?;
        let ctx = CudaContext::new(ordinal).map_err(Error::driver(format!("opening CUDA device {ordinal}")))?;
        // One stream: order is the stream's, so cudarc's per-buffer events are
        // pure overhead. SAFETY: no buffer exists yet on this context.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(Error::driver("creating a stream"))?;
        let attr = |a: Attr| ctx.attribute(a).map(|v| v.max(0) as u32).map_err(Error::driver("reading device attributes"));
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
        Ok(Arc::new(CudaBackend {
            ctx,
            stream,
            caps,
            nvrtc,
            disk: DiskCache::new(DiskCache::default_dir()),
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            fast_functions: Mutex::new(HashMap::new()),
            cublas: std::sync::OnceLock::new(),
            workspace: Mutex::new(Workspace::default()),
            tuning: std::sync::OnceLock::new(),
        }))
    }

    pub fn caps(&self) -> &DeviceCaps {
        &self.caps
    }
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }
    pub fn nvrtc(&self) -> &Nvrtc {
        &self.nvrtc
    }
    pub fn cache_dir(&self) -> &std::path::Path {
        self.disk.dir()
    }
    pub fn cache_counts(&self) -> CacheCounts {
        self.disk.stats.snapshot()
    }

    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(Error::driver("stream synchronize"))
    }

    /// The tuning table in force (read once) and where it came from.
    pub fn tuning(&self) -> Result<(&crate::tuning::TuningTable, &str)> {
        self.tuning
            .get_or_init(|| crate::tuning::TuningTable::load(&self.caps).map_err(|e| e.to_string()))
            .as_ref()
            .map(|(t, s)| (t, s.as_str()))
            .map_err(|e| Error::InvalidArgument { op: "tuning", arg: crate::tuning::TUNING_FILE_ENV.into(), expected: "a valid tuning table".into(), got: e.clone() })
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

    /// Device addresses of split-K scratch holding at least `partial_floats`
    /// floats and `counters` zeroed counters. Growing frees the old buffers in
    /// stream order, after any launch still using them.
    pub fn workspace(&self, partial_floats: usize, counters: usize) -> Result<(u64, u64)> {
        use cudarc::driver::DevicePtr;
        let mut ws = self.workspace.lock().unwrap_or_else(|e| e.into_inner());
        if ws.partials.as_ref().map_or(true, |p| p.len() < partial_floats * 4) {
            ws.partials = Some(self.alloc_bytes(partial_floats * 4)?);
        }
        if ws.counters.as_ref().map_or(true, |c| c.len() < counters * 4) {
            let bytes = counters.max(1) * 4;
            let mut c = self.alloc_bytes(bytes)?;
            self.stream.memset_zeros(&mut c).map_err(Error::driver("zeroing split-K counters"))?;
            ws.counters = Some(c);
        }
        let p = ws.partials.as_ref().map(|p| p.device_ptr(&self.stream).0).unwrap_or(0);
        let c = ws.counters.as_ref().map(|c| c.device_ptr(&self.stream).0).unwrap_or(0);
        Ok((p, c))
    }

    /// Device memory of at least `bytes` bytes (uninitialised).
    pub fn alloc_bytes(&self, bytes: usize) -> Result<cudarc::driver::CudaSlice<u8>> {
        // cuMemAlloc rejects zero bytes; an empty tensor still gets a handle.
        // SAFETY: u8 has no invalid bit patterns; callers write before reading.
        unsafe { self.stream.alloc::<u8>(bytes.max(1)) }
            .map_err(Error::driver(format!("allocating {bytes} bytes of device memory")))
    }

    /// The module built from `source` with `defines`: from memory, else the
    /// disk cache, else NVRTC (then stored in both). The map's lock is not held
    /// while compiling, so different modules compile in parallel.
    pub fn module(&self, source: &KernelSource, defines: &[(&str, &str)]) -> Result<(ModuleKey, Arc<CudaModule>)> {
        let arch = self.caps.arch();
        let expanded = source.expanded();
        let key = ModuleKey::new(&expanded, &arch, defines, self.nvrtc.version, &self.nvrtc.base_options(&arch));
        if let Some(m) = self.modules.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            self.disk.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((key, m.clone()));
        }
        let cubin = match self.disk.get(&key) {
            Some(c) => c,
            None => {
                self.disk.stats.misses.fetch_add(1, Ordering::Relaxed);
                let compiled = self.nvrtc.compile(source, &arch, defines, false)?;
                // A cache that cannot be written costs time, not correctness.
                if let Err(e) = self.disk.put(&key, &compiled.cubin) {
                    eprintln!("decode-kernels: warning: {e}");
                }
                compiled.cubin
            }
        };
        let module = self
            .ctx
            .load_module(Ptx::from_binary(cubin))
            .map_err(Error::driver(format!("loading module {}", source.file)))?;
        // Two threads may have built the same module; the first one stored wins.
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        let module = modules.entry(key.clone()).or_insert(module).clone();
        Ok((key, module))
    }

    /// A function handle, resolved once per (module, name) and then reused.
    pub fn function(&self, source: &KernelSource, defines: &[(&str, &str)], name: &str) -> Result<CudaFunction> {
        let id = FunctionId {
            source: source.file,
            defines: defines.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            name: name.to_string(),
        };
        if let Some(f) = self.fast_functions.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(f.clone());
        }
        let f = self.function_slow(source, defines, name)?;
        self.fast_functions.lock().unwrap_or_else(|e| e.into_inner()).insert(id, f.clone());
        Ok(f)
    }

    fn function_slow(&self, source: &KernelSource, defines: &[(&str, &str)], name: &str) -> Result<CudaFunction> {
        let (key, module) = self.module(source, defines)?;
        let mut fns = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = fns.get(&(key.clone(), name.to_string())) {
            return Ok(f.clone());
        }
        let f = module.load_function(name).map_err(Error::driver(format!("finding kernel {name} in {}", source.file)))?;
        fns.insert((key, name.to_string()), f.clone());
        Ok(f)
    }

    /// Compiles and loads every build of every source, so no later launch pays
    /// for it. Builds compile in parallel (NVRTC programs are independent).
    pub fn prewarm(&self, sources: &[&KernelSource]) -> Result<()> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = sources
                .iter()
                .flat_map(|s| s.builds.iter().map(move |d| (*s, *d)))
                .map(|(s, d)| scope.spawn(move || self.module(s, d).map(|_| ())))
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join().map_err(|_| Error::NvrtcUnavailable("a kernel-compiling thread panicked".into()))?
            })
        })
    }

    /// Launches `f` on the backend's stream.
    ///
    /// # Safety
    /// `args` must match the kernel's parameters in number, order and type, and
    /// every pointer among them must address device memory that stays allocated,
    /// and is large enough for every access the kernel makes with `cfg`, until
    /// the launch completes. Callers uphold this by validating views first.
    pub unsafe fn launch(&self, f: &CudaFunction, cfg: LaunchConfig, args: &mut KernelArgs) -> Result<()> {
        let mut ptrs: Vec<*mut c_void> = args.slots.iter_mut().map(|s| s.as_mut_ptr() as *mut c_void).collect();
        cudarc::driver::result::launch_kernel(
            f.cu_function(),
            cfg.grid,
            cfg.block,
            cfg.shared_bytes,
            self.stream.cu_stream(),
            &mut ptrs,
        )
        .map_err(Error::driver("kernel launch"))
    }
}

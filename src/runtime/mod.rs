//! The CUDA side: one device, one stream, the NVRTC module cache, launches and
//! event timing. Nothing here runs unless the probe found the libraries.

pub mod cache;
pub mod cublas;
pub mod kernels;
pub mod nvrtc;
pub mod probe;
pub mod record;
pub mod timing;

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::CUdevice_attribute as Attr;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::Ptx;

use crate::error::{Error, Result};
use crate::profile::{Profiler, Tag};
use crate::tensor::Tensor;
use cache::{CacheCounts, DiskCache, ModuleKey};
use kernels::KernelSource;
use nvrtc::Nvrtc;
use record::{Recorded, Recorder, Recording};

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

/// Most parameters a kernel takes here.
const MAX_PARAMS: usize = 16;

/// Words (8 bytes) of parameter storage in one KernelArgs.
const MAX_WORDS: usize = 128;

/// Kernel parameters packed into one inline 8-byte-aligned buffer, each
/// starting on an 8-byte boundary, so any scalar or `#[repr(C)]` struct of up
/// to MAX_ARG_BYTES can be passed by value. Building one never allocates.
/// Pushing past the capacity marks it overflowed: the launch then fails with
/// an error (no parameter is ever dropped silently).
#[derive(Clone)]
pub struct KernelArgs {
    words: [u64; MAX_WORDS],
    used: usize,
    /// Index in `words` where each parameter starts.
    starts: [u16; MAX_PARAMS],
    count: usize,
    overflowed: bool,
}

impl Default for KernelArgs {
    fn default() -> Self {
        KernelArgs { words: [0; MAX_WORDS], used: 0, starts: [0; MAX_PARAMS], count: 0, overflowed: false }
    }
}

impl KernelArgs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one parameter. `T` must match the kernel's parameter type in
    /// layout (a plain scalar or a `#[repr(C)]` struct of scalars).
    pub fn push<T: Copy + 'static>(&mut self, v: T) -> &mut Self {
        const { assert!(std::mem::size_of::<T>() <= MAX_ARG_BYTES && std::mem::align_of::<T>() <= 8) };
        let words = std::mem::size_of::<T>().div_ceil(8).max(1);
        if self.overflowed || self.count == MAX_PARAMS || self.used + words > MAX_WORDS {
            self.overflowed = true;
            return self;
        }
        // SAFETY: words[used..used + words] is in bounds (checked above), 8-aligned,
        // at least size_of::<T>() bytes, and T's alignment is at most 8.
        unsafe { std::ptr::write_unaligned(self.words.as_mut_ptr().add(self.used) as *mut T, v) };
        self.starts[self.count] = self.used as u16;
        self.count += 1;
        self.used += words;
        self
    }
}

/// A function by its source file (the sources are statics), define set and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FunctionId {
    source: &'static str,
    defines: Vec<(String, String)>,
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
    /// Handles by a hash of (source file, defines, name): a repeat lookup
    /// costs a small hash and no allocation, not the source's expansion and
    /// SHA-256 (tens of microseconds).
    fast_functions: Mutex<HashMap<u64, Vec<(FunctionId, CudaFunction)>>>,
    cublas: std::sync::OnceLock<std::result::Result<cublas::Cublas, String>>,
    workspace: Mutex<Workspace>,
    /// Resolved plans of the eager ops, one map per key type (see cached_plan).
    plans: Mutex<HashMap<std::any::TypeId, Box<dyn std::any::Any + Send + Sync>>>,
    tuning: std::sync::OnceLock<std::result::Result<(crate::tuning::TuningTable, String), String>>,
    profiler: Arc<Profiler>,
    /// Some while recording: launches are kept here instead of being made.
    recorder: Mutex<Option<Recorder>>,
    /// Whether `recorder` is Some, readable without the lock (every launch asks).
    recording: std::sync::atomic::AtomicBool,
}

/// Split-K scratch: f32 partial tiles and per-tile arrival counters. Grows on
/// demand and is reused by every later launch (kernels re-arm the counters).
#[derive(Default)]
struct Workspace {
    partials: Option<Arc<cudarc::driver::CudaSlice<u8>>>,
    counters: Option<Arc<cudarc::driver::CudaSlice<u8>>>,
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
            plans: Mutex::new(HashMap::new()),
            tuning: std::sync::OnceLock::new(),
            profiler,
            recorder: Mutex::new(None),
            recording: std::sync::atomic::AtomicBool::new(false),
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
    pub fn profiler(&self) -> &Arc<Profiler> {
        &self.profiler
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
            .map_err(|e| Error::InvalidArgument {
                op: "tuning",
                arg: crate::tuning::TUNING_FILE_ENV.into(),
                expected: "a valid tuning table".into(),
                got: e.clone(),
            })
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

    /// The value cached under `key`, made by `make` on the first request. Ops
    /// keep resolved launch plans here so an eager call of a shape seen before
    /// skips dispatch and function lookup. `make` runs without the lock held.
    pub fn cached_plan<K, V>(&self, key: &K, make: impl FnOnce() -> Result<V>) -> Result<V>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let id = std::any::TypeId::of::<HashMap<K, V>>();
        {
            let plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(v) = plans.get(&id).and_then(|m| m.downcast_ref::<HashMap<K, V>>()).and_then(|m| m.get(key)) {
                return Ok(v.clone());
            }
        }
        let v = make()?;
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        let map = plans.entry(id).or_insert_with(|| Box::new(HashMap::<K, V>::new()));
        if let Some(m) = map.downcast_mut::<HashMap<K, V>>() {
            m.insert(key.clone(), v.clone());
        }
        Ok(v)
    }

    /// Device addresses of split-K scratch holding at least `partial_floats`
    /// floats and `counters` zeroed counters. Growing frees the old buffers in
    /// stream order, after any launch still using them.
    pub fn workspace(&self, partial_floats: usize, counters: usize) -> Result<(u64, u64)> {
        use cudarc::driver::DevicePtr;
        let mut ws = self.workspace.lock().unwrap_or_else(|e| e.into_inner());
        let mut retired = Vec::new();
        if ws.partials.as_ref().map_or(true, |p| p.len() < partial_floats * 4) {
            retired.extend(ws.partials.replace(Arc::new(self.alloc_bytes(partial_floats * 4)?)));
        }
        if ws.counters.as_ref().map_or(true, |c| c.len() < counters * 4) {
            let bytes = counters.max(1) * 4;
            let mut c = self.alloc_bytes(bytes)?;
            self.stream.memset_zeros(&mut c).map_err(Error::driver("zeroing split-K counters"))?;
            retired.extend(ws.counters.replace(Arc::new(c)));
        }
        // A recording holds every scratch buffer its launches may address,
        // the replaced ones included.
        if let Some(rec) = self.recorder.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            rec.keep_scratch.extend(retired);
            rec.keep_scratch.extend(ws.partials.iter().chain(ws.counters.iter()).cloned());
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
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (source.file, defines, name).hash(&mut h);
        let key = h.finish();
        let matches = |id: &FunctionId| {
            id.source == source.file
                && id.name == name
                && id.defines.len() == defines.len()
                && id.defines.iter().zip(defines).all(|((k, v), (dk, dv))| k == dk && v == dv)
        };
        if let Some(bucket) = self.fast_functions.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            if let Some((_, f)) = bucket.iter().find(|(id, _)| matches(id)) {
                return Ok(f.clone());
            }
        }
        let f = self.function_slow(source, defines, name)?;
        let id = FunctionId {
            source: source.file,
            defines: defines.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            name: name.to_string(),
        };
        self.fast_functions.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default().push((id, f.clone()));
        Ok(f)
    }

    fn function_slow(&self, source: &KernelSource, defines: &[(&str, &str)], name: &str) -> Result<CudaFunction> {
        let (key, module) = self.module(source, defines)?;
        let mut fns = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = fns.get(&(key.clone(), name.to_string())) {
            return Ok(f.clone());
        }
        let f =
            module.load_function(name).map_err(Error::driver(format!("finding kernel {name} in {}", source.file)))?;
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

    /// Launches `f` on the backend's stream under `tag` (profiled when
    /// profiling is on), or, while recording, records it. `uses` names every
    /// tensor the launch addresses, so a recording can hold their buffers.
    ///
    /// # Safety
    /// `args` must match the kernel's parameters in number, order and type, and
    /// every pointer among them must address device memory that stays allocated,
    /// and is large enough for every access the kernel makes with `cfg`, until
    /// the launch completes. Callers uphold this by validating views first.
    pub unsafe fn launch(
        &self,
        tag: Tag<'_>,
        uses: &[&Tensor],
        f: &CudaFunction,
        cfg: LaunchConfig,
        args: &KernelArgs,
    ) -> Result<()> {
        if !self.recording.load(Ordering::Acquire) {
            return self.launch_now(tag, true, f, cfg, args);
        }
        if let Some(rec) = self.recorder.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            rec.keep_tensors(uses);
            let (label, bytes) = (tag.label.to_string(), tag.bytes);
            rec.launches.push(Recorded::Kernel {
                function: f.clone(),
                cfg,
                args: Box::new(args.clone()),
                label,
                bytes,
            });
            return Ok(());
        }
        self.launch_now(tag, true, f, cfg, args)
    }

    /// Launches now (never recorded); bracketed by profiling events when
    /// `profile` and profiling is on.
    ///
    /// # Safety
    /// As for [`CudaBackend::launch`].
    pub(crate) unsafe fn launch_now(
        &self,
        tag: Tag<'_>,
        profile: bool,
        f: &CudaFunction,
        cfg: LaunchConfig,
        args: &KernelArgs,
    ) -> Result<()> {
        if profile && self.profiler.is_enabled() {
            return self.profiler.device(&self.ctx, &self.stream, tag, || self.launch_raw(f, cfg, args));
        }
        self.launch_raw(f, cfg, args)
    }

    /// A bare `cuLaunchKernel` on the stream: no label, no profiling, no recording.
    ///
    /// # Safety
    /// As for [`CudaBackend::launch`].
    pub unsafe fn launch_raw(&self, f: &CudaFunction, cfg: LaunchConfig, args: &KernelArgs) -> Result<()> {
        // The parameter-pointer array lives on the stack: a launch allocates nothing.
        if args.overflowed {
            return Err(Error::Unsupported {
                op: "launch",
                what: format!("kernel parameters beyond {MAX_PARAMS} or {} bytes", MAX_WORDS * 8),
            });
        }
        let mut ptrs = [std::ptr::null_mut::<c_void>(); MAX_PARAMS];
        for (p, &s) in ptrs.iter_mut().zip(&args.starts[..args.count]) {
            // cuLaunchKernel only reads the parameter values (it copies them).
            *p = args.words.as_ptr().wrapping_add(s as usize) as *mut c_void;
        }
        cudarc::driver::sys::cuLaunchKernel(
            f.cu_function(),
            cfg.grid.0,
            cfg.grid.1,
            cfg.grid.2,
            cfg.block.0,
            cfg.block.1,
            cfg.block.2,
            cfg.shared_bytes,
            self.stream.cu_stream(),
            ptrs.as_mut_ptr(),
            std::ptr::null_mut(),
        )
        .result()
        .map_err(Error::driver("kernel launch"))
    }

    /// A cuBLAS GEMM under `tag`, or recorded while recording.
    ///
    /// # Safety
    /// As for [`cublas::Cublas::gemm`]; `uses` names every tensor it addresses.
    pub unsafe fn gemm(
        &self,
        tag: Tag<'_>,
        uses: &[&Tensor],
        dtype: crate::dtype::DType,
        call: &cublas::GemmCall,
        alpha: f32,
        beta: f32,
    ) -> Result<()> {
        self.cublas()?;
        if !self.recording.load(Ordering::Acquire) {
            return self.gemm_now(tag, true, dtype, call, alpha, beta);
        }
        if let Some(rec) = self.recorder.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            rec.keep_tensors(uses);
            let (label, bytes) = (tag.label.to_string(), tag.bytes);
            rec.launches.push(Recorded::Gemm { dtype, call: *call, alpha, beta, label, bytes });
            return Ok(());
        }
        self.gemm_now(tag, true, dtype, call, alpha, beta)
    }

    /// # Safety
    /// As for [`cublas::Cublas::gemm`].
    pub(crate) unsafe fn gemm_now(
        &self,
        tag: Tag<'_>,
        profile: bool,
        dtype: crate::dtype::DType,
        call: &cublas::GemmCall,
        alpha: f32,
        beta: f32,
    ) -> Result<()> {
        let cublas = self.cublas()?;
        if profile && self.profiler.is_enabled() {
            return self.profiler.device(&self.ctx, &self.stream, tag, || cublas.gemm(dtype, call, alpha, beta));
        }
        cublas.gemm(dtype, call, alpha, beta)
    }

    /// Starts recording: later launches on this backend are kept, not made,
    /// until [`CudaBackend::end_recording`]. Launches from other threads in
    /// between are recorded too, so record from one thread.
    pub fn begin_recording(&self) -> Result<()> {
        // Lock order, as in workspace(): the workspace, then the recorder.
        let ws = self.workspace.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_some() {
            return Err(Error::invalid("record", "backend", "no recording in progress", "one already in progress"));
        }
        let mut rec = Recorder::default();
        rec.keep_scratch.extend(ws.partials.iter().chain(ws.counters.iter()).cloned());
        *r = Some(rec);
        self.recording.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops recording and returns what was recorded.
    pub fn end_recording(self: &Arc<Self>) -> Result<Recording> {
        let rec = {
            let mut r = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
            self.recording.store(false, Ordering::Release);
            r.take()
        };
        let mut rec = rec.ok_or_else(|| Error::invalid("record", "backend", "a recording in progress", "none"))?;
        let ws = self.workspace.lock().unwrap_or_else(|e| e.into_inner());
        rec.keep_scratch.extend(ws.partials.iter().chain(ws.counters.iter()).cloned());
        Ok(Recording::new(self.clone(), rec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_args_pack_each_parameter_on_a_word_and_flag_overflow() {
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct P {
            a: i64,
            b: f32,
        }
        let mut args = KernelArgs::new();
        args.push(7u64).push(P { a: -1, b: 2.5 }).push(3i32);
        assert_eq!(&args.starts[..args.count], &[0, 1, 3]);
        assert_eq!((args.words[0], args.words[1] as i64, args.used), (7, -1, 4));
        assert_eq!(f32::from_bits(args.words[2] as u32), 2.5);
        assert!(!args.overflowed);
        let mut many = KernelArgs::new();
        for i in 0..=MAX_PARAMS {
            many.push(i as u64);
        }
        assert!(many.overflowed, "a 17th parameter must not be dropped silently");
        let mut big = KernelArgs::new();
        for _ in 0..(MAX_WORDS * 8 / 256 + 1) {
            big.push([0u64; 32]);
        }
        assert!(big.overflowed);
    }
}

//! Compiled kernels: NVRTC, the on-disk cache and the loaded modules and
//! function handles of one device, each built once and then reused.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule};
use cudarc::nvrtc::Ptx;

use super::cache::{CacheCounts, DiskCache, ModuleKey};
use super::kernels::KernelSource;
use super::nvrtc::Nvrtc;
use crate::error::{Error, Result};
use crate::progress::{Progress, Silent};

/// A function by its source file (the sources are statics), define set and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FunctionId {
    source: &'static str,
    defines: Vec<(String, String)>,
    name: String,
}

/// Modules by key (source text, arch, defines, NVRTC version and options) and
/// function handles by (module, name), over the disk cache and NVRTC.
pub struct ModuleCache {
    ctx: Arc<CudaContext>,
    /// NVRTC's name for the device's architecture, e.g. "sm_90".
    arch: String,
    nvrtc: Nvrtc,
    disk: DiskCache,
    modules: Mutex<HashMap<ModuleKey, Arc<CudaModule>>>,
    functions: Mutex<HashMap<(ModuleKey, String), CudaFunction>>,
    /// Handles by a hash of (source file, defines, name): a repeat lookup
    /// costs a small hash and no allocation, not the source's expansion and
    /// SHA-256 (tens of microseconds).
    fast_functions: Mutex<HashMap<u64, Vec<(FunctionId, CudaFunction)>>>,
    /// Told when a module is compiled (not when it comes from a cache).
    progress: RwLock<Arc<dyn Progress>>,
}

impl ModuleCache {
    /// An empty cache for the device of `ctx` (architecture `arch`), over
    /// `nvrtc` and the disk cache folder `disk`.
    pub fn new(ctx: Arc<CudaContext>, arch: String, nvrtc: Nvrtc, disk: DiskCache) -> Self {
        ModuleCache {
            ctx,
            arch,
            nvrtc,
            disk,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            fast_functions: Mutex::new(HashMap::new()),
            progress: RwLock::new(Arc::new(Silent)),
        }
    }

    /// Where compilations report (default: nowhere).
    pub fn set_progress(&self, progress: Arc<dyn Progress>) {
        *self.progress.write().unwrap_or_else(|e| e.into_inner()) = progress;
    }

    /// The NVRTC library in use.
    pub fn nvrtc(&self) -> &Nvrtc {
        &self.nvrtc
    }

    /// The disk cache folder.
    pub fn cache_dir(&self) -> &std::path::Path {
        self.disk.dir()
    }

    /// Disk and memory hits and misses so far.
    pub fn cache_counts(&self) -> CacheCounts {
        self.disk.stats.snapshot()
    }

    /// The module built from `source` with `defines`: from memory, else the
    /// disk cache, else NVRTC (then stored in both). The map's lock is not held
    /// while compiling, so different modules compile in parallel.
    pub fn module(&self, source: &KernelSource, defines: &[(&str, &str)]) -> Result<(ModuleKey, Arc<CudaModule>)> {
        let expanded = source.expanded();
        let arch = self.arch.as_str();
        let key = ModuleKey::new(&expanded, arch, defines, self.nvrtc.version, &self.nvrtc.base_options(arch));
        if let Some(m) = self.modules.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            self.disk.stats.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((key, m.clone()));
        }
        let cubin = match self.disk.get(&key) {
            Some(c) => c,
            None => {
                self.disk.stats.misses.fetch_add(1, Ordering::Relaxed);
                // A first compile takes seconds (tens on a fresh machine for
                // every module): say so while it runs.
                let progress = self.progress.read().unwrap_or_else(|e| e.into_inner()).clone();
                progress.start(&format!("compiling kernels/{} for {arch} with NVRTC (cached after)", source.file), 0);
                let compiled = self.nvrtc.compile(source, arch, defines, false);
                progress.finish();
                let compiled = compiled?;
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
}

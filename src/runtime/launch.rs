//! Launching: kernel parameters packed without allocation, launch shapes, and
//! the one path every kernel and cuBLAS call takes to the stream, where it is
//! profiled under its label, or recorded instead of made.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cudarc::driver::CudaFunction;

use super::cublas;
use super::record::{Recorded, Recorder, Recording};
use super::CudaBackend;
use crate::error::{Error, Result};
use crate::profile::{Profiler, Tag};
use crate::tensor::Tensor;

/// A 1-, 2- or 3-D launch shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchConfig {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
    pub shared_bytes: u32,
    /// The kernel may start while the launch before it in the stream is still
    /// running (programmatic dependent launch, sm_90): set only for kernels
    /// that call `pdl_wait()` (kernels/common.cuh) before they touch memory
    /// an earlier launch reads or writes. Their prologue (and a GEMV's first
    /// weight copies) then overlaps the previous kernel's tail, in eager
    /// launches and in CUDA graphs alike. Ignored where the backend does not
    /// use it ([`PDL_ENV`], devices before sm_90).
    pub dependent: bool,
    /// CTAs a thread-block cluster along x (sm_90; 0 or 1: none): grid.x
    /// must be a multiple of it, and above 8 the function must allow
    /// non-portable sizes ([`CudaBackend::allow_cluster`]).
    pub cluster: u32,
}

impl LaunchConfig {
    pub fn linear(grid: u32, block: u32) -> Self {
        LaunchConfig { grid: (grid, 1, 1), block: (block, 1, 1), shared_bytes: 0, dependent: false, cluster: 0 }
    }
}

/// `DK_PDL`: `on` (the default on sm_90 and later) launches the kernels that
/// allow it as programmatic dependents ([`LaunchConfig::dependent`]); `off`
/// launches every kernel after the previous one completes.
pub const PDL_ENV: &str = "DK_PDL";

/// Whether launches use programmatic dependent launch on a device of
/// `compute_capability`, given `DK_PDL`'s value (None: unset or empty).
pub(crate) fn pdl_enabled(compute_capability: (i32, i32), env: Option<&str>) -> Result<bool> {
    let on = match env.map(|v| v.trim().to_ascii_lowercase()) {
        None => true,
        Some(v) if v.is_empty() || v == "on" || v == "1" => true,
        Some(v) if v == "off" || v == "0" => false,
        Some(_) => {
            return Err(Error::BadEnv { var: PDL_ENV, value: env.unwrap_or("").to_string(), allowed: "on, off".into() })
        }
    };
    Ok(on && compute_capability.0 >= 9)
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

/// What every launch consults: the profiler, and the recorder while recording.
pub(crate) struct Launcher {
    pub(crate) profiler: Arc<Profiler>,
    /// Some while recording: launches are kept here instead of being made.
    pub(crate) recorder: Mutex<Option<Recorder>>,
    /// Whether `recorder` is Some, readable without the lock (every launch asks).
    pub(crate) recording: AtomicBool,
}

impl Launcher {
    pub(crate) fn new(profiler: Arc<Profiler>) -> Self {
        Launcher { profiler, recorder: Mutex::new(None), recording: AtomicBool::new(false) }
    }
}

impl CudaBackend {
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
        if !self.launcher.recording.load(Ordering::Acquire) {
            return self.launch_now(tag, true, f, cfg, args);
        }
        if let Some(rec) = self.launcher.recorder.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
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

    /// While recording, holds the buffers of `indices` in the recording (as
    /// [`CudaBackend::launch`] holds its `uses`): an op that addresses index
    /// vectors calls this before its launch. Nothing when not recording.
    pub(crate) fn hold_indices(&self, indices: &[&crate::tensor::Indices]) {
        let buffers: Vec<_> = indices.iter().filter_map(|ix| ix.device_buffer()).collect();
        self.hold_buffers(&buffers);
    }

    /// While recording, holds the blocks of `w` in the recording (see
    /// [`CudaBackend::hold_indices`]). Nothing when not recording.
    pub(crate) fn hold_quant(&self, w: &crate::tensor::QuantMatrix) {
        self.hold_buffers(&w.device_buffer().into_iter().collect::<Vec<_>>());
    }

    /// Holds quantized activations' buffer in the recording being made (if any).
    pub(crate) fn hold_q8(&self, q: &crate::tensor::Q8Activations) {
        self.hold_buffers(&q.device_buffer().into_iter().collect::<Vec<_>>());
    }

    /// While recording, adds each buffer the recording does not hold yet.
    fn hold_buffers(&self, buffers: &[&Arc<crate::tensor::CudaBuffer>]) {
        if !self.launcher.recording.load(Ordering::Acquire) {
            return;
        }
        if let Some(rec) = self.launcher.recorder.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            for b in buffers {
                if !rec.keep_buffers.iter().any(|k| Arc::ptr_eq(k, b)) {
                    rec.keep_buffers.push(Arc::clone(b));
                }
            }
        }
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
        if profile && self.launcher.profiler.is_enabled() {
            return self.launcher.profiler.device(&self.ctx, &self.stream, tag, || self.launch_raw(f, cfg, args));
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
        let pdl = cfg.dependent && self.pdl;
        if pdl || cfg.cluster > 1 {
            use cudarc::driver::sys::{CUlaunchAttribute, CUlaunchAttributeID};
            // SAFETY: each attribute value is a C union of plain data: zeroed, then the one member set.
            let mut attrs: [CUlaunchAttribute; 2] = [std::mem::zeroed(), std::mem::zeroed()];
            let mut n = 0;
            if pdl {
                attrs[n].id = CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
                attrs[n].value.programmaticStreamSerializationAllowed = 1;
                n += 1;
            }
            if cfg.cluster > 1 {
                attrs[n] = cluster_attribute(cfg.cluster);
                n += 1;
            }
            let config = driver_config(&cfg, self.stream.cu_stream(), &mut attrs[..n]);
            return cudarc::driver::sys::cuLaunchKernelEx(
                &config,
                f.cu_function(),
                ptrs.as_mut_ptr(),
                std::ptr::null_mut(),
            )
            .result()
            .map_err(Error::driver("kernel launch (with attributes: programmatic dependent, cluster)"));
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
        if !self.launcher.recording.load(Ordering::Acquire) {
            return self.gemm_now(tag, true, dtype, call, alpha, beta);
        }
        if let Some(rec) = self.launcher.recorder.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
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
        if profile && self.launcher.profiler.is_enabled() {
            return self
                .launcher
                .profiler
                .device(&self.ctx, &self.stream, tag, || cublas.gemm(dtype, call, alpha, beta));
        }
        cublas.gemm(dtype, call, alpha, beta)
    }

    /// Starts recording: later launches on this backend are kept, not made,
    /// until [`CudaBackend::end_recording`]. Launches from other threads in
    /// between are recorded too, so record from one thread.
    pub fn begin_recording(&self) -> Result<()> {
        // Lock order, as in workspace(): the workspace, then the recorder.
        let ws = self.workspace.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = self.launcher.recorder.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_some() {
            return Err(Error::invalid("record", "backend", "no recording in progress", "one already in progress"));
        }
        let mut rec = Recorder::default();
        rec.keep_scratch.extend(ws.partials.iter().chain(ws.counters.iter()).cloned());
        *r = Some(rec);
        self.launcher.recording.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops recording and returns what was recorded.
    pub fn end_recording(self: &Arc<Self>) -> Result<Recording> {
        let rec = {
            let mut r = self.launcher.recorder.lock().unwrap_or_else(|e| e.into_inner());
            self.launcher.recording.store(false, Ordering::Release);
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

#[cfg(test)]
mod pdl_tests {
    use super::*;

    #[test]
    fn pdl_is_on_from_sm90_unless_turned_off() {
        assert!(pdl_enabled((9, 0), None).unwrap());
        assert!(pdl_enabled((10, 0), Some(" ON ")).unwrap());
        assert!(!pdl_enabled((8, 9), None).unwrap(), "before sm_90 the instruction does not exist");
        assert!(!pdl_enabled((9, 0), Some("off")).unwrap());
        assert!(!pdl_enabled((9, 0), Some("0")).unwrap());
        let e = pdl_enabled((9, 0), Some("maybe")).unwrap_err().to_string();
        assert!(e.contains("DK_PDL") && e.contains("maybe") && e.contains("on, off"), "{e}");
    }
}

/// The driver's launch attribute for thread-block clusters of `size` CTAs
/// along x.
pub(super) fn cluster_attribute(size: u32) -> cudarc::driver::sys::CUlaunchAttribute {
    use cudarc::driver::sys::{CUlaunchAttribute, CUlaunchAttributeID};
    // SAFETY: a C union of plain data: zeroed, then the one member set.
    let mut attr: CUlaunchAttribute = unsafe { std::mem::zeroed() };
    attr.id = CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attr.value.clusterDim.x = size;
    attr.value.clusterDim.y = 1;
    attr.value.clusterDim.z = 1;
    attr
}

/// `cfg` as the driver's launch configuration on `stream`, pointing at
/// `attrs` (which must outlive every use of the result).
pub(super) fn driver_config(
    cfg: &LaunchConfig,
    stream: cudarc::driver::sys::CUstream,
    attrs: &mut [cudarc::driver::sys::CUlaunchAttribute],
) -> cudarc::driver::sys::CUlaunchConfig {
    cudarc::driver::sys::CUlaunchConfig {
        gridDimX: cfg.grid.0,
        gridDimY: cfg.grid.1,
        gridDimZ: cfg.grid.2,
        blockDimX: cfg.block.0,
        blockDimY: cfg.block.1,
        blockDimZ: cfg.block.2,
        sharedMemBytes: cfg.shared_bytes,
        hStream: stream,
        attrs: attrs.as_mut_ptr(),
        numAttrs: attrs.len() as u32,
    }
}

//! Buffers: host memory (a typed Vec behind a lock, so an output view may alias
//! an input view) and device memory (raw bytes owned by cudarc).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use half::{bf16, f16};

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Typed host elements.
#[derive(Debug, Clone, PartialEq)]
pub enum HostData {
    /// Elements of [`DType::F16`].
    F16(Vec<f16>),
    /// Elements of [`DType::BF16`].
    BF16(Vec<bf16>),
    /// Elements of [`DType::F32`].
    F32(Vec<f32>),
}

impl HostData {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            HostData::F16(_) => DType::F16,
            HostData::BF16(_) => DType::BF16,
            HostData::F32(_) => DType::F32,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            HostData::F16(v) => v.len(),
            HostData::BF16(v) => v.len(),
            HostData::F32(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rounds each value to `dtype` (round to nearest even).
    pub fn from_f64_iter(dtype: DType, it: impl Iterator<Item = f64>) -> Self {
        match dtype {
            DType::F16 => HostData::F16(it.map(crate::dtype::f16_from_f64).collect()),
            DType::BF16 => HostData::BF16(it.map(crate::dtype::bf16_from_f64).collect()),
            DType::F32 => HostData::F32(it.map(|v| v as f32).collect()),
        }
    }

    /// Converts f32 values to `dtype` (round to nearest even; f32 is copied).
    pub fn from_f32_slice(dtype: DType, v: &[f32]) -> Self {
        match dtype {
            DType::F16 => HostData::F16(v.iter().map(|&x| f16::from_f32(x)).collect()),
            DType::BF16 => HostData::BF16(v.iter().map(|&x| bf16::from_f32(x)).collect()),
            DType::F32 => HostData::F32(v.to_vec()),
        }
    }

    /// `len` copies of `value`, rounded to `dtype`.
    pub fn filled(dtype: DType, len: usize, value: f64) -> Self {
        Self::from_f64_iter(dtype, std::iter::repeat(value).take(len))
    }

    /// A buffer whose every element has a NaN bit pattern no arithmetic
    /// produces, so an element still holding it was never written.
    pub fn poison(dtype: DType, len: usize) -> Self {
        match dtype {
            DType::F16 => HostData::F16(vec![f16::from_bits(POISON_F16); len]),
            DType::BF16 => HostData::BF16(vec![bf16::from_bits(POISON_BF16); len]),
            DType::F32 => HostData::F32(vec![f32::from_bits(POISON_F32); len]),
        }
    }

    /// True when element `i` still holds the poison pattern.
    pub fn is_poison(&self, i: usize) -> bool {
        match self {
            HostData::F16(v) => v[i].to_bits() == POISON_F16,
            HostData::BF16(v) => v[i].to_bits() == POISON_BF16,
            HostData::F32(v) => v[i].to_bits() == POISON_F32,
        }
    }

    /// Element `i` as f64 (exact for every dtype); panics when out of range.
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        match self {
            HostData::F16(v) => v[i].to_f64(),
            HostData::BF16(v) => v[i].to_f64(),
            HostData::F32(v) => v[i] as f64,
        }
    }

    /// Stores `x` at element `i`, rounded to the dtype (nearest even);
    /// panics when out of range.
    #[inline]
    pub fn set(&mut self, i: usize, x: f64) {
        match self {
            HostData::F16(v) => v[i] = crate::dtype::f16_from_f64(x),
            HostData::BF16(v) => v[i] = crate::dtype::bf16_from_f64(x),
            HostData::F32(v) => v[i] = x as f32,
        }
    }

    /// The elements' bytes in native byte order, as a device copy or a file
    /// write takes them.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            HostData::F16(v) => bytemuck::cast_slice(v),
            HostData::BF16(v) => bytemuck::cast_slice(v),
            HostData::F32(v) => bytemuck::cast_slice(v),
        }
    }

    /// Elements of `dtype` from native-order bytes (the inverse of
    /// [`HostData::as_bytes`]); a trailing partial element is zero-padded.
    pub fn from_bytes(dtype: DType, bytes: &[u8]) -> Self {
        // pod_collect_to_vec copies, so the byte slice need not be aligned.
        match dtype {
            DType::F16 => HostData::F16(bytemuck::pod_collect_to_vec(bytes)),
            DType::BF16 => HostData::BF16(bytemuck::pod_collect_to_vec(bytes)),
            DType::F32 => HostData::F32(bytemuck::pod_collect_to_vec(bytes)),
        }
    }
}

/// Poison bit patterns: quiet NaNs with a payload that hardware never makes.
pub const POISON_F16: u16 = 0x7E5A;
/// The bf16 poison pattern (see [`POISON_F16`]).
pub const POISON_BF16: u16 = 0x7FDA;
/// The f32 poison pattern (see [`POISON_F16`]).
pub const POISON_F32: u32 = 0x7FDA_DBAD;

/// Device memory: raw bytes, typed by the storage's dtype.
pub struct CudaBuffer {
    pub(crate) bytes: CudaSlice<u8>,
    pub(crate) ordinal: usize,
}

impl CudaBuffer {
    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        self.bytes.stream()
    }

    /// Device address of the first byte.
    pub(crate) fn device_ptr(&self) -> u64 {
        // Event tracking is disabled on our contexts (one stream), so the
        // guard cudarc returns records nothing; dropping it at once is fine.
        let (ptr, _guard) = self.bytes.device_ptr(self.bytes.stream());
        ptr
    }
}

/// Where a [`Storage`]'s elements are held.
pub enum Memory {
    /// Host elements behind a lock: ops read inputs and write outputs through
    /// it, so an output may be a view of an input's buffer.
    Host(RwLock<HostData>),
    /// A device allocation.
    Cuda(CudaBuffer),
}

/// A buffer of `len` elements of one dtype.
pub struct Storage {
    pub(crate) memory: Memory,
    pub(crate) dtype: DType,
    pub(crate) len: usize,
    /// Marked by [`Storage::mark_fixed`]: no op writes the buffer any more.
    fixed: AtomicBool,
}

impl Storage {
    /// A host buffer holding `data` (the CPU backend's storage).
    pub fn host(data: HostData) -> Arc<Self> {
        let (dtype, len) = (data.dtype(), data.len());
        Arc::new(Storage::new(Memory::Host(RwLock::new(data)), dtype, len))
    }

    /// A buffer over `memory`, not fixed.
    pub(crate) fn new(memory: Memory, dtype: DType, len: usize) -> Self {
        Storage { memory, dtype, len, fixed: AtomicBool::new(false) }
    }

    /// Declares the buffer fixed from now on (a model's weights once loaded):
    /// no op writes it again (the ops' output checks refuse it), so GEMV
    /// kernels read it before waiting for the launch before them
    /// (programmatic dependent launch, kernels/gemv.cu: gemv_veck's W).
    /// Waits for the work queued on the buffer's stream first, so every
    /// launch that wrote it has finished. Host writes (`write_from_host`)
    /// stay allowed: they synchronise.
    pub fn mark_fixed(&self) -> Result<()> {
        if let Memory::Cuda(b) = &self.memory {
            b.stream().synchronize().map_err(Error::driver("synchronising before marking a buffer fixed"))?;
        }
        self.fixed.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether [`Storage::mark_fixed`] was called.
    pub fn is_fixed(&self) -> bool {
        self.fixed.load(Ordering::Acquire)
    }

    /// Where the buffer lives.
    pub fn device(&self) -> Device {
        match &self.memory {
            Memory::Host(_) => Device::Cpu,
            Memory::Cuda(b) => Device::Cuda(b.ordinal),
        }
    }

    pub(crate) fn host_read(&self) -> Option<RwLockReadGuard<'_, HostData>> {
        match &self.memory {
            // A poisoned lock means a panic mid-write elsewhere; the data is
            // plain numbers, so reading it is still sound.
            Memory::Host(l) => Some(l.read().unwrap_or_else(|e| e.into_inner())),
            Memory::Cuda(_) => None,
        }
    }

    pub(crate) fn host_write(&self) -> Option<RwLockWriteGuard<'_, HostData>> {
        match &self.memory {
            Memory::Host(l) => Some(l.write().unwrap_or_else(|e| e.into_inner())),
            Memory::Cuda(_) => None,
        }
    }

    pub(crate) fn cuda(&self) -> Option<&CudaBuffer> {
        match &self.memory {
            Memory::Cuda(b) => Some(b),
            Memory::Host(_) => None,
        }
    }

    /// Copies the whole buffer to the host.
    pub fn to_host(&self) -> Result<HostData> {
        match &self.memory {
            Memory::Host(l) => Ok(l.read().unwrap_or_else(|e| e.into_inner()).clone()),
            Memory::Cuda(b) => {
                let bytes = b.stream().clone_dtoh(&b.bytes).map_err(Error::driver("device-to-host copy"))?;
                Ok(HostData::from_bytes(self.dtype, &bytes[..self.len * self.dtype.size_in_bytes()]))
            }
        }
    }

    /// Overwrites the whole buffer from the host.
    pub fn write_from_host(&self, data: &HostData) -> Result<()> {
        if data.dtype() != self.dtype || data.len() != self.len {
            return Err(Error::invalid(
                "write_from_host",
                "data",
                format!("{} elements of {}", self.len, self.dtype),
                format!("{} elements of {}", data.len(), data.dtype()),
            ));
        }
        match &self.memory {
            Memory::Host(l) => {
                *l.write().unwrap_or_else(|e| e.into_inner()) = data.clone();
                Ok(())
            }
            Memory::Cuda(b) => {
                let src = data.as_bytes();
                let stream = b.stream();
                // SAFETY: the destination holds at least `src.len()` bytes (checked
                // above: same dtype and length); the copy is ordered on the buffer's
                // own stream and the synchronisation below keeps `src` alive until
                // the copy completes (pageable memory may be read asynchronously).
                unsafe {
                    cudarc::driver::result::memcpy_htod_async(b.device_ptr(), src, stream.cu_stream())
                        .map_err(Error::driver("host-to-device copy"))?;
                }
                stream.synchronize().map_err(Error::driver("host-to-device copy"))
            }
        }
    }
}

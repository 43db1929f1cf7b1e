//! Integer vectors the kernels read or write beside the tensors: token ids,
//! positions and sequence lengths (i32, on the host or on a device). They
//! live in device memory so that a step recorded once (a CUDA graph) reads
//! this step's positions and lengths when it runs, not the values of the
//! step that was recorded; and so that a sampled token stays on the device.

use std::sync::RwLock;

use crate::device::Device;
use crate::error::{Error, Result};

use super::CudaBuffer;

/// Where an [`Indices`]' values are held.
pub(crate) enum IndicesMemory {
    /// The CPU backend's values.
    Host(RwLock<Vec<i32>>),
    /// A device allocation of `len` i32 values (shared with the recordings
    /// whose launches address it, so a replay never reads freed memory).
    Cuda(std::sync::Arc<CudaBuffer>),
}

/// A vector of `len` i32 values on one device. Made by a context
/// (`Indices::from_slice`, `Indices::zeros`); read back with [`Indices::to_vec`],
/// overwritten whole with [`Indices::write`].
pub struct Indices {
    pub(crate) memory: IndicesMemory,
    pub(crate) len: usize,
}

impl std::fmt::Debug for Indices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indices").field("device", &self.device()).field("len", &self.len).finish()
    }
}

impl Indices {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the values live.
    pub fn device(&self) -> Device {
        match &self.memory {
            IndicesMemory::Host(_) => Device::Cpu,
            IndicesMemory::Cuda(b) => Device::Cuda(b.ordinal),
        }
    }

    /// Copies the values to the host (after the work queued before on the
    /// device's stream).
    pub fn to_vec(&self) -> Result<Vec<i32>> {
        match &self.memory {
            IndicesMemory::Host(v) => Ok(v.read().unwrap_or_else(|e| e.into_inner()).clone()),
            IndicesMemory::Cuda(b) => {
                let bytes = b.stream().clone_dtoh(&b.bytes).map_err(Error::driver("device-to-host copy of indices"))?;
                Ok(bytemuck::pod_collect_to_vec(&bytes[..self.len * 4]))
            }
        }
    }

    /// Overwrites every value, ordered after the work queued before on the
    /// device's stream and before the work queued after. `values` must hold
    /// exactly [`Indices::len`] values. Returns without waiting for the
    /// device: the source is pageable memory, which the driver copies into its
    /// own staging buffer before the call returns (a DMA cannot read pageable
    /// memory), so `values` may be dropped at once.
    pub fn write(&self, values: &[i32]) -> Result<()> {
        if values.len() != self.len {
            return Err(Error::invalid(
                "indices",
                "values",
                format!("{} values (the buffer's length)", self.len),
                values.len(),
            ));
        }
        match &self.memory {
            IndicesMemory::Host(v) => {
                v.write().unwrap_or_else(|e| e.into_inner()).copy_from_slice(values);
                Ok(())
            }
            IndicesMemory::Cuda(b) => {
                if values.is_empty() {
                    return Ok(());
                }
                let src: &[u8] = bytemuck::cast_slice(values);
                // SAFETY: the allocation holds at least len * 4 bytes (made so by
                // the constructors) and src is exactly that long; the copy is
                // ordered on the buffer's stream; src is pageable, staged by the
                // driver before the call returns (see above).
                unsafe {
                    cudarc::driver::result::memcpy_htod_async(b.device_ptr(), src, b.stream().cu_stream())
                        .map_err(Error::driver("host-to-device copy of indices"))
                }
            }
        }
    }

    /// The device buffer (shared), for a recording to hold; None on the host.
    pub(crate) fn device_buffer(&self) -> Option<&std::sync::Arc<CudaBuffer>> {
        match &self.memory {
            IndicesMemory::Cuda(b) => Some(b),
            IndicesMemory::Host(_) => None,
        }
    }

    /// The device address of the first value; None on the host.
    pub(crate) fn device_ptr(&self) -> Option<u64> {
        match &self.memory {
            IndicesMemory::Cuda(b) => Some(b.device_ptr()),
            IndicesMemory::Host(_) => None,
        }
    }

    /// A copy of the host values (the CPU backend's read); None on a device.
    pub(crate) fn host_values(&self) -> Option<Vec<i32>> {
        match &self.memory {
            IndicesMemory::Host(v) => Some(v.read().unwrap_or_else(|e| e.into_inner()).clone()),
            IndicesMemory::Cuda(_) => None,
        }
    }

    /// Overwrites the host values from the CPU backend (None on a device).
    pub(crate) fn host_store(&self, values: &[i32]) -> Option<()> {
        match &self.memory {
            IndicesMemory::Host(v) => {
                v.write().unwrap_or_else(|e| e.into_inner()).copy_from_slice(values);
                Some(())
            }
            IndicesMemory::Cuda(_) => None,
        }
    }
}

/// A host copy of an [`Indices`] that the host collects later: the copy is
/// queued on the device's stream ([`Indices::copy_to_host`]) and
/// [`IndicesReadback::wait`] waits for that copy alone, not for the work
/// queued after it. A decode loop reads step t's tokens this way while step
/// t+1 already runs.
pub struct IndicesReadback {
    memory: ReadbackMemory,
    len: usize,
    queued: bool,
}

enum ReadbackMemory {
    /// The CPU backend's copy, taken at once.
    Host(Vec<i32>),
    /// Page-locked host memory the device copies into (a DMA cannot target
    /// pageable memory without the driver waiting for the stream), and the
    /// event recorded after the last copy queued into it.
    Cuda(PinnedReadback),
}

struct PinnedReadback {
    pinned: cudarc::driver::PinnedHostSlice<i32>,
    done: Option<cudarc::driver::CudaEvent>,
}

impl Drop for PinnedReadback {
    fn drop(&mut self) {
        // A copy still in flight must land before the pinned memory is freed.
        if let Some(e) = self.done.take() {
            let _ = e.synchronize();
        }
    }
}

impl std::fmt::Debug for IndicesReadback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndicesReadback").field("len", &self.len).finish()
    }
}

impl Indices {
    /// A host buffer for [`Indices::copy_to_host`] of this vector's length
    /// (page-locked memory for a device vector).
    pub fn readback(&self) -> Result<IndicesReadback> {
        let memory = match &self.memory {
            IndicesMemory::Host(_) => ReadbackMemory::Host(vec![0; self.len]),
            IndicesMemory::Cuda(b) => {
                // SAFETY: the memory is only read after a copy into it completed
                // (`wait` checks that one was queued), flags 0: cached, readable
                // memory (write-combined memory is slow for the host to read).
                let pinned = unsafe { b.stream().context().alloc_pinned_with_flags::<i32>(self.len.max(1), 0) }
                    .map_err(Error::driver("page-locked host buffer for indices"))?;
                ReadbackMemory::Cuda(PinnedReadback { pinned, done: None })
            }
        };
        Ok(IndicesReadback { memory, len: self.len, queued: false })
    }

    /// Queues a copy of the values into `to` (made by [`Indices::readback`]
    /// of a vector of the same length and device), ordered after the work
    /// queued before; returns without waiting.
    pub fn copy_to_host(&self, to: &mut IndicesReadback) -> Result<()> {
        if to.len != self.len {
            return Err(Error::invalid(
                "indices",
                "readback",
                format!("a readback of {} values (the vector's length)", self.len),
                to.len,
            ));
        }
        match (&self.memory, &mut to.memory) {
            (IndicesMemory::Host(v), ReadbackMemory::Host(dst)) => {
                dst.copy_from_slice(&v.read().unwrap_or_else(|e| e.into_inner()));
                to.queued = true;
                Ok(())
            }
            (IndicesMemory::Cuda(b), ReadbackMemory::Cuda(p)) => {
                if self.len == 0 {
                    to.queued = true;
                    return Ok(());
                }
                let stream = b.stream();
                let dst = p.pinned.as_mut_slice().map_err(Error::driver("page-locked host buffer for indices"))?;
                // SAFETY: dst is page-locked and holds len values, the source
                // allocation at least len * 4 bytes; the copy is ordered on the
                // buffer's stream and the memory is neither read (`wait` waits
                // for the event recorded below) nor freed (Drop waits too)
                // before it lands.
                unsafe {
                    cudarc::driver::result::memcpy_dtoh_async(&mut dst[..self.len], b.device_ptr(), stream.cu_stream())
                        .map_err(Error::driver("device-to-host copy of indices"))?;
                }
                p.done = Some(stream.record_event(None).map_err(Error::driver("event after a copy of indices"))?);
                to.queued = true;
                Ok(())
            }
            _ => Err(Error::invalid(
                "indices",
                "readback",
                format!("a readback made on the vector's device ({})", self.device()),
                "one of another device",
            )),
        }
    }
}

impl IndicesReadback {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Waits for the last copy queued into this buffer and returns its values.
    /// Fails when no copy was ever queued into it.
    pub fn wait(&mut self) -> Result<&[i32]> {
        if !self.queued {
            return Err(Error::invalid(
                "indices",
                "readback",
                "a buffer a copy was queued into (Indices::copy_to_host)",
                "one never written",
            ));
        }
        match &mut self.memory {
            ReadbackMemory::Host(v) => Ok(v),
            ReadbackMemory::Cuda(p) => {
                if let Some(e) = &p.done {
                    e.synchronize().map_err(Error::driver("waiting for a copy of indices"))?;
                }
                let all = p.pinned.as_slice().map_err(Error::driver("page-locked host buffer for indices"))?;
                Ok(&all[..self.len])
            }
        }
    }
}

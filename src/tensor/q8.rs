//! Activations rounded to 8 bits per 32 elements ([`crate::spec::q8`]'s
//! layout): the x of the integer-dot GEMV, made once by the op that produces
//! x (`ops::quantize_x`, `ops::rmsnorm_q8`, `ops::silu_mul_q8`) instead of
//! by every CTA of every GEMV that reads it.

use std::sync::{Arc, RwLock};

use crate::context::{Backend, Context};
use crate::error::{Error, Result};
use crate::spec::q8::q8_bytes;

use super::{CudaBuffer, Device};

/// Where a [`Q8Activations`]' bytes are held.
pub(crate) enum Q8Memory {
    /// The CPU backend's bytes.
    Host(RwLock<Vec<u8>>),
    /// A device allocation of at least the layout's bytes, a multiple of 16
    /// (shared with the recordings whose launches address it).
    Cuda(Arc<CudaBuffer>),
}

/// `rows` rows of `cols` activations (cols a multiple of 32) in
/// [`crate::spec::q8`]'s layout, on one device. Its contents are what the
/// last op that wrote it made of its x; until then, unspecified.
pub struct Q8Activations {
    pub(crate) memory: Q8Memory,
    rows: usize,
    cols: usize,
}

impl std::fmt::Debug for Q8Activations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Q8Activations")
            .field("device", &self.device())
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish()
    }
}

impl Q8Activations {
    /// A buffer for `rows` x `cols` on the context's device (cols a multiple of 32).
    pub fn new(ctx: &Context, rows: usize, cols: usize) -> Result<Self> {
        const OP: &str = "Q8Activations::new";
        if cols % 32 != 0 {
            return Err(Error::invalid(OP, "cols", "a multiple of 32 (whole units)", cols));
        }
        let bytes = q8_bytes(rows, cols);
        let memory = match ctx.backend() {
            Backend::Cpu(_) => Q8Memory::Host(RwLock::new(vec![0; bytes])),
            Backend::Cuda(b) => {
                let padded = bytes.next_multiple_of(16).max(16);
                Q8Memory::Cuda(Arc::new(CudaBuffer { bytes: b.alloc_bytes(padded)?, ordinal: b.caps().ordinal }))
            }
        };
        Ok(Q8Activations { memory, rows, cols })
    }

    /// Rows (tokens).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Activations per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of the layout ([`crate::spec::q8::q8_bytes`]).
    pub fn size_bytes(&self) -> usize {
        q8_bytes(self.rows, self.cols)
    }

    /// Where the bytes live.
    pub fn device(&self) -> Device {
        match &self.memory {
            Q8Memory::Host(_) => Device::Cpu,
            Q8Memory::Cuda(b) => Device::Cuda(b.ordinal),
        }
    }

    /// A copy of the bytes on the host (after the work queued before on the device's stream).
    pub fn to_host_bytes(&self) -> Result<Vec<u8>> {
        match &self.memory {
            Q8Memory::Host(v) => Ok(v.read().unwrap_or_else(|e| e.into_inner()).clone()),
            Q8Memory::Cuda(b) => {
                let bytes =
                    b.stream().clone_dtoh(&b.bytes).map_err(Error::driver("device-to-host copy of x's quants"))?;
                Ok(bytes[..self.size_bytes()].to_vec())
            }
        }
    }

    /// The CPU backend's bytes, to overwrite whole; None on a device.
    pub(crate) fn write_host(&self, bytes: Vec<u8>) -> Option<()> {
        match &self.memory {
            Q8Memory::Host(v) => {
                debug_assert_eq!(bytes.len(), self.size_bytes());
                *v.write().unwrap_or_else(|e| e.into_inner()) = bytes;
                Some(())
            }
            Q8Memory::Cuda(_) => None,
        }
    }

    /// The device allocation (shared), for a recording to hold; None on the host.
    pub(crate) fn device_buffer(&self) -> Option<&Arc<CudaBuffer>> {
        match &self.memory {
            Q8Memory::Cuda(b) => Some(b),
            Q8Memory::Host(_) => None,
        }
    }
}

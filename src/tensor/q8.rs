//! Activations rounded to 8 bits per 32 elements (`spec::q8`'s
//! layout): the x of the integer-dot GEMV, made once by the op that produces
//! x (`ops::quantize_x`, `ops::rmsnorm_q8`, `ops::silu_mul_q8`) instead of
//! by every CTA of every GEMV that reads it. Made by a context
//! (`Q8Activations::new`).

use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};

use super::{CudaBuffer, Device};

/// Bytes of one row's quants: cols rounded up to whole unit pairs (64).
pub fn q8_row_bytes(cols: usize) -> usize {
    cols.next_multiple_of(64)
}

/// Bytes of a buffer of `rows` x `cols`: the quants, then 8 bytes a unit.
pub fn q8_bytes(rows: usize, cols: usize) -> usize {
    rows * q8_row_bytes(cols) + rows * (cols / 32) * 8
}

/// Byte offset, within its row, of 16-byte chunk `q` (0 or 1) of unit `u`
/// (the dot kernel's bank-spread order: kernels/quant_dot.cu, x_unit_chunk).
pub fn q8_chunk_offset(u: usize, q: usize) -> usize {
    let pair = u / 2;
    64 * pair + 16 * ((2 * (u & 1) + q) ^ ((pair / 2) & 3))
}

/// Where a [`Q8Activations`]' bytes are held.
pub(crate) enum Q8Memory {
    /// The CPU backend's bytes.
    Host(RwLock<Vec<u8>>),
    /// A device allocation of at least the layout's bytes, a multiple of 16
    /// (shared with the recordings whose launches address it).
    Cuda(Arc<CudaBuffer>),
}

/// `rows` rows of `cols` activations (cols a multiple of 32) in
/// `spec::q8`'s layout, on one device. Its contents are what the
/// last op that wrote it made of its x; until then, unspecified.
pub struct Q8Activations {
    pub(crate) memory: Q8Memory,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
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
    /// Rows (tokens).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Activations per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of the layout ([`q8_bytes`]).
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

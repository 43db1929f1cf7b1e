//! Quantized weight matrices: GGML blocks kept as they are, on the host (the
//! CPU backend) or a device. Made by a context (`QuantMatrix::from_bytes`,
//! `QuantMatrix::random`); read by `ops::quant_matmul`.

use crate::dtype::QuantKind;
use crate::error::{Error, Result};

use super::{CudaBuffer, Device};

/// Where a [`QuantMatrix`]'s bytes are held.
pub(crate) enum QuantMemory {
    /// The CPU backend's bytes, exactly the blocks.
    Host(Vec<u8>),
    /// A device allocation of the blocks followed by zeros up to a multiple
    /// of 16 bytes (kernels read it in aligned 16-byte chunks), shared with
    /// the recordings whose launches read it.
    Cuda(std::sync::Arc<CudaBuffer>),
}

/// A weight matrix W [rows, cols] in a GGML block format, row-major: row `m`
/// is `cols / block_elems` consecutive blocks. This is exactly the data of a
/// GGUF tensor whose dims are `[cols, rows]` (GGUF lists the fastest
/// dimension first). `rows` are the output features, `cols` the input
/// features, a multiple of the format's block (32 for Q8_0 and Q4_0, 256
/// for Q4_K and Q6_K).
pub struct QuantMatrix {
    pub(crate) kind: QuantKind,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) memory: QuantMemory,
}

impl std::fmt::Debug for QuantMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantMatrix")
            .field("kind", &self.kind)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("device", &self.device())
            .finish()
    }
}

impl QuantMatrix {
    /// The bytes of a `rows` x `cols` matrix of `kind`, or an error naming
    /// `op`'s argument `cols` (not a whole number of blocks) or the size
    /// (overflow).
    pub fn byte_len(op: &'static str, kind: QuantKind, rows: usize, cols: usize) -> Result<usize> {
        let row = kind.bytes_for(cols).ok_or_else(|| {
            Error::invalid(op, "cols", format!("a multiple of {kind}'s block of {} elements", kind.block_elems()), cols)
        })?;
        row.checked_mul(rows)
            .ok_or_else(|| Error::invalid(op, "rows", "a size whose bytes fit in usize", format!("{rows} x {cols}")))
    }

    /// The block format.
    pub fn kind(&self) -> QuantKind {
        self.kind
    }

    /// Rows M (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns K (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of one row of blocks.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.kind.block_elems() * self.kind.block_bytes()
    }

    /// Bytes of the blocks (rows x row bytes).
    pub fn size_bytes(&self) -> usize {
        self.rows * self.row_bytes()
    }

    /// Where the bytes live.
    pub fn device(&self) -> Device {
        match &self.memory {
            QuantMemory::Host(_) => Device::Cpu,
            QuantMemory::Cuda(b) => Device::Cuda(b.ordinal),
        }
    }

    /// A copy of the blocks on the host (after the work queued before on the
    /// device's stream).
    pub fn to_host_bytes(&self) -> Result<Vec<u8>> {
        match &self.memory {
            QuantMemory::Host(v) => Ok(v.clone()),
            QuantMemory::Cuda(b) => {
                let bytes = b.stream().clone_dtoh(&b.bytes).map_err(Error::driver("device-to-host copy of blocks"))?;
                Ok(bytes[..self.size_bytes()].to_vec())
            }
        }
    }

    /// The host bytes (the CPU backend's read); None on a device.
    pub(crate) fn host_bytes(&self) -> Option<&[u8]> {
        match &self.memory {
            QuantMemory::Host(v) => Some(v),
            QuantMemory::Cuda(_) => None,
        }
    }

    /// The device allocation (shared), for a recording to hold; None on the host.
    pub(crate) fn device_buffer(&self) -> Option<&std::sync::Arc<CudaBuffer>> {
        match &self.memory {
            QuantMemory::Cuda(b) => Some(b),
            QuantMemory::Host(_) => None,
        }
    }

    /// The device address of the first block and the readable length in
    /// bytes (a multiple of 16); None on the host.
    pub(crate) fn device_span(&self) -> Option<(u64, usize)> {
        match &self.memory {
            QuantMemory::Cuda(b) => Some((b.device_ptr(), b.bytes.len())),
            QuantMemory::Host(_) => None,
        }
    }
}

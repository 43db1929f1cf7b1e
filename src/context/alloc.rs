//! Memory on a context's backend: the tensor constructors that allocate (a
//! view needs no context, a buffer does), uploads, and reused scratch.

use std::sync::{Arc, RwLock};

use super::{Backend, Context};
use crate::dtype::DType;
use crate::dtype::QuantKind;
use crate::error::{Error, Result};
use crate::tensor::{
    q8_bytes, CudaBuffer, HostData, Indices, IndicesMemory, Layout, Memory, Q8Activations, Q8Memory, QuantMatrix,
    QuantMemory, Storage, Tensor,
};

impl Tensor {
    /// A contiguous tensor holding `data` (already typed), on the context's device.
    pub fn from_host(ctx: &Context, data: HostData, shape: &[usize]) -> Result<Self> {
        let layout = Layout::contiguous(shape)?;
        if layout.numel() != data.len() {
            return Err(Error::invalid(
                "from_host",
                "data",
                format!("{} elements for shape {shape:?}", layout.numel()),
                format!("{} elements", data.len()),
            ));
        }
        let storage = ctx.upload(data)?;
        Tensor::from_parts(storage, layout)
    }

    /// A contiguous tensor of `dtype` from f32 values (rounded to `dtype`).
    pub fn from_f32(ctx: &Context, values: &[f32], shape: &[usize], dtype: DType) -> Result<Self> {
        Self::from_host(ctx, HostData::from_f32_slice(dtype, values), shape)
    }

    /// A contiguous tensor with every element `value`.
    pub fn full(ctx: &Context, shape: &[usize], dtype: DType, value: f64) -> Result<Self> {
        let n = Layout::contiguous(shape)?.numel();
        Self::from_host(ctx, HostData::filled(dtype, n, value), shape)
    }

    /// A contiguous tensor whose contents are unspecified (zeros on the CPU,
    /// uninitialised on a GPU). For outputs that an op overwrites whole.
    pub fn empty(ctx: &Context, shape: &[usize], dtype: DType) -> Result<Self> {
        let layout = Layout::contiguous(shape)?;
        let storage = ctx.alloc(dtype, layout.numel())?;
        Tensor::from_parts(storage, layout)
    }
}

impl Indices {
    /// An [`Indices`] holding `values`, on the context's device.
    pub fn from_slice(ctx: &Context, values: &[i32]) -> Result<Self> {
        let memory = match &ctx.backend {
            Backend::Cpu(_) => IndicesMemory::Host(std::sync::RwLock::new(values.to_vec())),
            Backend::Cuda(b) => {
                let bytes = b.alloc_bytes(values.len() * 4)?;
                IndicesMemory::Cuda(std::sync::Arc::new(CudaBuffer { bytes, ordinal: b.caps().ordinal }))
            }
        };
        let ix = Indices { memory, len: values.len() };
        if ctx.is_cuda() {
            ix.write(values)?;
        }
        Ok(ix)
    }

    /// `len` zeros on the context's device.
    pub fn zeros(ctx: &Context, len: usize) -> Result<Self> {
        Self::from_slice(ctx, &vec![0; len])
    }
}

impl QuantMatrix {
    /// A `rows` x `cols` matrix of `kind` from its blocks, row-major (a GGUF
    /// tensor's data as it is in the file), on the context's device. `bytes`
    /// must hold exactly `rows * cols / block_elems * block_bytes` bytes and
    /// `cols` be a multiple of the format's block.
    pub fn from_bytes(ctx: &Context, kind: QuantKind, rows: usize, cols: usize, bytes: &[u8]) -> Result<Self> {
        const OP: &str = "QuantMatrix::from_bytes";
        let want = QuantMatrix::byte_len(OP, kind, rows, cols)?;
        if bytes.len() != want {
            return Err(Error::invalid(
                OP,
                "bytes",
                format!(
                    "{want} bytes ({rows} rows of {} blocks of {kind}, {} bytes each)",
                    cols / kind.block_elems(),
                    kind.block_bytes()
                ),
                format!("{} bytes", bytes.len()),
            ));
        }
        let memory = match &ctx.backend {
            Backend::Cpu(_) => QuantMemory::Host(bytes.to_vec()),
            Backend::Cuda(b) => {
                // Kernels read 16-byte chunks: round the allocation up with zeros.
                let padded = want.next_multiple_of(16).max(16);
                let mut host = Vec::with_capacity(padded);
                host.extend_from_slice(bytes);
                host.resize(padded, 0);
                let mut dev = b.alloc_bytes(padded)?;
                b.stream().memcpy_htod(&host, &mut dev).map_err(Error::driver("host-to-device copy of blocks"))?;
                b.stream().synchronize().map_err(Error::driver("host-to-device copy of blocks"))?;
                QuantMemory::Cuda(Arc::new(CudaBuffer { bytes: dev, ordinal: b.caps().ordinal }))
            }
        };
        Ok(QuantMatrix { kind, rows, cols, memory })
    }

    /// A `rows` x `cols` matrix of random valid blocks
    /// ([`crate::spec::quant::random_blocks`]), weights of magnitude up to
    /// about 1, the same for a seed on every backend.
    pub fn random(ctx: &Context, kind: QuantKind, rows: usize, cols: usize, seed: u64) -> Result<Self> {
        Self::random_scaled(ctx, kind, rows, cols, seed, 1.0)
    }

    /// [`QuantMatrix::random`] with every block scale multiplied by `scale`
    /// (a model's layers take 1 / sqrt(cols), as dense fan-in weights do, so
    /// activations stay finite through the layers).
    pub fn random_scaled(
        ctx: &Context,
        kind: QuantKind,
        rows: usize,
        cols: usize,
        seed: u64,
        scale: f32,
    ) -> Result<Self> {
        let bytes = QuantMatrix::byte_len("QuantMatrix::random", kind, rows, cols)?;
        let blocks = crate::spec::quant::random_blocks(kind, bytes / kind.block_bytes(), seed, scale);
        Self::from_bytes(ctx, kind, rows, cols, &blocks)
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
        let memory = match &ctx.backend {
            Backend::Cpu(_) => Q8Memory::Host(RwLock::new(vec![0; bytes])),
            Backend::Cuda(b) => {
                let padded = bytes.next_multiple_of(16).max(16);
                // Zeroed once: no kernel writes a row's pad bytes (the spec's
                // rounding makes them 0), but the GEMV copies them.
                let mut mem = b.alloc_bytes(padded)?;
                b.stream().memset_zeros(&mut mem).map_err(Error::driver(format!("zeroing {OP}'s {padded} bytes")))?;
                Q8Memory::Cuda(Arc::new(CudaBuffer { bytes: mem, ordinal: b.caps().ordinal }))
            }
        };
        Ok(Q8Activations { memory, rows, cols })
    }
}

impl Context {
    /// A contiguous 1-D scratch view of at least `numel` elements. Every caller
    /// with the same purpose shares one buffer, which grows when asked for more;
    /// uses are ordered by the stream (or are sequential on the CPU). Its
    /// contents are unspecified.
    pub(crate) fn scratch(&self, purpose: &'static str, dtype: DType, numel: usize) -> Result<Tensor> {
        let mut pool = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let fits = pool.get(&(purpose, dtype)).is_some_and(|t| t.numel() >= numel);
        if !fits {
            pool.insert((purpose, dtype), Tensor::empty(self, &[numel.max(1)], dtype)?);
        }
        pool[&(purpose, dtype)].as_strided(&[numel], &[1], 0)
    }

    pub(crate) fn upload(&self, data: HostData) -> Result<Arc<Storage>> {
        match &self.backend {
            Backend::Cpu(_) => Ok(Storage::host(data)),
            Backend::Cuda(_) => {
                let s = self.alloc(data.dtype(), data.len())?;
                s.write_from_host(&data)?;
                Ok(s)
            }
        }
    }

    pub(crate) fn alloc(&self, dtype: DType, len: usize) -> Result<Arc<Storage>> {
        match &self.backend {
            Backend::Cpu(_) => Ok(Storage::host(HostData::filled(dtype, len, 0.0))),
            Backend::Cuda(b) => {
                let bytes = b.alloc_bytes(len * dtype.size_in_bytes())?;
                Ok(Arc::new(Storage::new(Memory::Cuda(CudaBuffer { bytes, ordinal: b.caps().ordinal }), dtype, len)))
            }
        }
    }
}

//! Tensors are views: a shared buffer plus a layout. A transpose or a slice of
//! a KV cache is a new layout over the same buffer, never a copy. Describing a
//! view needs no backend; making a buffer does (`Context` owns the
//! constructors that allocate: `Tensor::empty`, `from_host`, `from_f32`, `full`).

mod indices;
mod layout;
mod q8;
mod quant;
mod storage;
pub mod validate;

pub use crate::device::Device;
pub(crate) use indices::IndicesMemory;
pub use indices::{Indices, IndicesReadback};
pub use layout::{Layout, MAX_RANK};
pub(crate) use q8::Q8Memory;
pub use q8::{q8_bytes, q8_chunk_offset, q8_row_bytes, Q8Activations};
pub use quant::QuantMatrix;
pub(crate) use quant::QuantMemory;
pub use storage::{CudaBuffer, HostData, Memory, Storage, POISON_BF16, POISON_F16, POISON_F32};

use std::sync::Arc;

use crate::dtype::DType;
use crate::error::Result;

/// A view of a buffer on one device: an `Arc` of the [`Storage`] and a
/// [`Layout`] over it. Cloning shares the buffer; view methods (`transpose`,
/// `narrow`, `reshape`, `as_strided`) make new layouts, never copies. Ops
/// write through views, so every view of a buffer sees an op's output.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    layout: Layout,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("device", &self.device())
            .field("dtype", &self.dtype())
            .field("shape", &self.shape())
            .field("strides", &self.layout.strides())
            .field("offset", &self.layout.offset())
            .field("buffer_len", &self.storage.len)
            .finish()
    }
}

impl Tensor {
    /// A view of `storage` with `layout` (checked in bounds by the caller or here).
    pub(crate) fn from_parts(storage: Arc<Storage>, layout: Layout) -> Result<Self> {
        validate::check_in_bounds("view", "layout", &layout, storage.len)?;
        Ok(Tensor { storage, layout })
    }

    /// A view of an existing buffer with an explicit layout; fails when the
    /// layout reaches past the buffer.
    pub fn with_layout(&self, layout: Layout) -> Result<Self> {
        validate::check_in_bounds("view", "layout", &layout, self.storage.len)?;
        Ok(Tensor { storage: self.storage.clone(), layout })
    }

    /// Same buffer, new shape and strides (in elements) and offset.
    pub fn as_strided(&self, shape: &[usize], strides: &[usize], offset: usize) -> Result<Self> {
        self.with_layout(Layout::strided(shape, strides, offset)?)
    }

    /// Swaps dimensions `a` and `b` (see [`Layout::transpose`]).
    pub fn transpose(&self, a: usize, b: usize) -> Result<Self> {
        Ok(Tensor { storage: self.storage.clone(), layout: self.layout.transpose(a, b)? })
    }

    /// Restricts dimension `dim` to `start..start + len` (see [`Layout::narrow`]).
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        Ok(Tensor { storage: self.storage.clone(), layout: self.layout.narrow(dim, start, len)? })
    }

    /// A new shape over the same elements; the view must be contiguous
    /// (see [`Layout::reshape`]).
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        Ok(Tensor { storage: self.storage.clone(), layout: self.layout.reshape(shape)? })
    }

    /// The element type of the buffer.
    pub fn dtype(&self) -> DType {
        self.storage.dtype
    }

    /// Where the buffer lives.
    pub fn device(&self) -> Device {
        self.storage.device()
    }

    /// The view's shape, strides and offset.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The view's shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }

    /// The view's number of dimensions.
    pub fn rank(&self) -> usize {
        self.layout.rank()
    }

    /// Elements in the view (not the buffer; see [`Tensor::buffer_len`]).
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// The shared buffer behind the view.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// Elements in the underlying buffer (not the view).
    pub fn buffer_len(&self) -> usize {
        self.storage.len
    }

    /// True when both views share one buffer.
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// Device address of the view's first element (GPU tensors only).
    pub(crate) fn device_ptr(&self) -> Option<u64> {
        let b = self.storage.cuda()?;
        Some(b.device_ptr() + (self.layout.offset() * self.dtype().size_in_bytes()) as u64)
    }

    /// The view's elements in logical (row-major) order, as f64.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        let gather = |d: &HostData| self.layout.indices().map(|i| d.get(i)).collect();
        match self.storage.host_read() {
            Some(d) => Ok(gather(&d)),
            None => Ok(gather(&self.storage.to_host()?)),
        }
    }

    /// The view's elements in logical (row-major) order, as f32.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        Ok(self.to_f64_vec()?.into_iter().map(|v| v as f32).collect())
    }

    /// The view's elements in logical order, in the tensor's own dtype.
    pub fn to_host_data(&self) -> Result<HostData> {
        let whole = self.storage.to_host()?;
        if self.layout.is_contiguous() && self.layout.offset() == 0 && self.numel() == whole.len() {
            return Ok(whole);
        }
        let idx: Vec<usize> = self.layout.indices().collect();
        Ok(match &whole {
            HostData::F16(v) => HostData::F16(idx.iter().map(|&i| v[i]).collect()),
            HostData::BF16(v) => HostData::BF16(idx.iter().map(|&i| v[i]).collect()),
            HostData::F32(v) => HostData::F32(idx.iter().map(|&i| v[i]).collect()),
        })
    }

    /// Declares the underlying buffer fixed (every view of it): a model's
    /// weights once loaded. No op writes it from now on (their output checks
    /// refuse it), and GEMVs with it as A read it before waiting for the
    /// launch before them, so that launch's tail and this one's weight reads
    /// overlap. Waits for the launches queued on the buffer's stream first.
    pub fn mark_fixed(&self) -> Result<()> {
        self.storage.mark_fixed()
    }

    /// Whether the underlying buffer was marked by [`Tensor::mark_fixed`].
    pub fn is_fixed(&self) -> bool {
        self.storage.is_fixed()
    }

    /// Overwrites the whole underlying buffer (every view of it sees the change).
    pub fn write_buffer(&self, data: &HostData) -> Result<()> {
        self.storage.write_from_host(data)
    }
}

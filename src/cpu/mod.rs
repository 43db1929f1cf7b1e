//! The CPU backend: every op with the GPU's semantics, accumulating in f64.
//! It is the reference the GPU is checked against and the fallback on machines
//! with no GPU. Each op lives in its own module and is called from `ops`.

use crate::error::{Error, Result};
use crate::tensor::{Device, Tensor};

pub mod copy;
pub mod layer;
pub mod matmul;
pub mod quant_matmul;
pub mod sample;
pub mod sdpa;
pub mod softmax;

/// The CPU backend holds no state; work is spread over rayon's global pool.
#[derive(Debug, Clone, Default)]
pub struct CpuBackend;

impl CpuBackend {
    /// Threads in rayon's global pool, which runs every CPU op.
    pub fn threads(&self) -> usize {
        rayon::current_num_threads()
    }
}

/// Writes `values` (in the view's logical order) into a host tensor's view.
/// Callers gather their inputs first, so `t` may alias an input (in place).
pub(crate) fn write_view(op: &'static str, arg: &str, t: &Tensor, values: impl IntoIterator<Item = f64>) -> Result<()> {
    let mut dst = t.storage().host_write().ok_or_else(|| Error::WrongDevice {
        op,
        arg: arg.to_string(),
        expected: Device::Cpu.to_string(),
        found: t.device().to_string(),
    })?;
    for (idx, v) in t.layout().indices().zip(values) {
        dst.set(idx, v);
    }
    Ok(())
}

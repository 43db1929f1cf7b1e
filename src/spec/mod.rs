//! What each op computes, independent of any device: its options, the
//! validation of its views (shapes, dtypes, bounds, overlap, device) and the
//! geometry that validation yields. The CPU backend (`cpu`) and the GPU side
//! (`ops`) both start from these, so the two cannot disagree on what a valid
//! call is.

pub mod copy;
pub mod dequant;
pub mod layer;
pub mod matmul;
pub mod q8;
pub mod quant;
pub mod quant_matmul;
pub mod random;
pub mod sample;
pub mod sdpa;
pub mod softmax;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Indices;

/// Checks an [`Indices`] argument: on `device` and holding `len` values.
pub fn check_indices(op: &'static str, arg: &str, ix: &Indices, device: Device, len: usize) -> Result<()> {
    crate::tensor::validate::check_indices_device(op, arg, ix, device)?;
    if ix.len() != len {
        return Err(Error::invalid(
            op,
            arg,
            format!("{len} values (one per sequence)"),
            format!("{} values", ix.len()),
        ));
    }
    Ok(())
}

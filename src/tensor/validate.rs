//! Checks every op runs before it launches. Each failure names the op, the
//! argument and what was expected.
//!
//! A view with no elements (a zero anywhere in its shape) touches no memory:
//! it is always in bounds, overlaps nothing and is always writable, so an
//! empty problem validates like any other and the op then does nothing.

use super::{Device, Layout, Tensor};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// The view's last element lies inside a buffer of `buffer_len` elements
/// (an empty view is always in bounds).
pub fn check_in_bounds(op: &'static str, arg: &str, layout: &Layout, buffer_len: usize) -> Result<()> {
    if let Some((_, last)) = layout.span() {
        if last >= buffer_len {
            return Err(Error::OutOfBounds { op, arg: arg.to_string(), last, len: buffer_len });
        }
    }
    Ok(())
}

/// The tensor lives on `expected`.
pub fn check_device(op: &'static str, arg: &str, t: &Tensor, expected: Device) -> Result<()> {
    on_device(op, arg, t.device(), expected)
}

/// `w` (a quantized matrix) lives on `expected`; else an error naming `arg`.
pub fn check_quant_device(op: &'static str, arg: &str, w: &crate::tensor::QuantMatrix, expected: Device) -> Result<()> {
    on_device(op, arg, w.device(), expected)
}

/// The index vector lives on `expected` (the twin of [`check_device`]).
pub fn check_indices_device(op: &'static str, arg: &str, ix: &crate::tensor::Indices, expected: Device) -> Result<()> {
    on_device(op, arg, ix.device(), expected)
}

/// The one device test behind the three above: `found` is `expected`, else
/// an error naming `arg` and both devices.
fn on_device(op: &'static str, arg: &str, found: Device, expected: Device) -> Result<()> {
    if found != expected {
        return Err(Error::WrongDevice {
            op,
            arg: arg.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        });
    }
    Ok(())
}

/// The tensor's element type is `expected`.
pub fn check_dtype(op: &'static str, arg: &str, t: &Tensor, expected: DType) -> Result<()> {
    if t.dtype() != expected {
        return Err(Error::DTypeMismatch {
            op,
            arg: arg.to_string(),
            expected: expected.to_string(),
            got: t.dtype().to_string(),
        });
    }
    Ok(())
}

/// The view has exactly `rank` dimensions.
pub fn check_rank(op: &'static str, arg: &str, t: &Tensor, rank: usize) -> Result<()> {
    if t.rank() != rank {
        return Err(Error::invalid(op, arg, format!("a {rank}-D view"), format!("shape {:?}", t.shape())));
    }
    Ok(())
}

/// The view's shape is exactly `expected`.
pub fn check_shape(op: &'static str, arg: &str, t: &Tensor, expected: &[usize]) -> Result<()> {
    if t.shape() != expected {
        return Err(Error::invalid(op, arg, format!("shape {expected:?}"), format!("shape {:?}", t.shape())));
    }
    Ok(())
}

/// Whether an output may be the very same view as an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aliasing {
    /// Output and inputs must not share any element.
    Forbidden,
    /// The output may be exactly an input view (in place); any other overlap is an error.
    IdenticalAllowed,
}

/// The output must not overlap an input, except as the identical view when the
/// op computes in place. Views in different buffers, or either of them empty,
/// never overlap.
pub fn check_overlap(
    op: &'static str,
    out_name: &str,
    out: &Tensor,
    inputs: &[(&str, &Tensor)],
    aliasing: Aliasing,
) -> Result<()> {
    for (name, input) in inputs {
        if !out.same_buffer(input) || !out.layout().ranges_intersect(input.layout()) {
            continue;
        }
        let identical = out.layout() == input.layout() && out.dtype() == input.dtype();
        if identical && aliasing == Aliasing::IdenticalAllowed {
            continue;
        }
        return Err(Error::Overlap { op, output: out_name.to_string(), input: name.to_string() });
    }
    Ok(())
}

/// An output view must not write one element twice (no stride-0 dims of size > 1,
/// no dims whose strides make rows collide). An empty view writes nothing, so
/// it passes whatever its strides (a contiguous [4, 0] has strides [0, 1]).
pub fn check_writable(op: &'static str, arg: &str, t: &Tensor) -> Result<()> {
    if t.is_fixed() {
        // GEMVs read a fixed buffer before waiting for earlier launches: a
        // write by a launch would race with them.
        return Err(Error::invalid(
            op,
            arg,
            "an output tensor",
            "a view of a buffer marked fixed (Tensor::mark_fixed)",
        ));
    }
    let l = t.layout();
    if l.numel() == 0 {
        return Ok(());
    }
    // Sort dims by stride; each stride must cover the whole extent of the smaller ones.
    let mut dims: Vec<(usize, usize)> =
        l.shape().iter().copied().zip(l.strides().iter().copied()).filter(|&(n, _)| n > 1).collect();
    dims.sort_by_key(|&(_, s)| s);
    let mut extent = 1usize;
    for (n, s) in dims {
        if s < extent {
            return Err(Error::invalid(
                op,
                arg,
                "an output view whose elements do not overlap one another",
                format!("shape {:?} with strides {:?}", l.shape(), l.strides()),
            ));
        }
        // Cannot overflow: the view's last index fits in usize (Layout's constructors).
        extent += s * (n - 1);
    }
    Ok(())
}

/// A scalar argument (a scale, alpha, beta, eps, a RoPE base) must be finite:
/// NaN or an infinity would turn every output into NaN or inf. Every op
/// checks its scalars with this one rule; ranges beyond it (eps >= 0,
/// theta > 1) are the op's own.
pub fn check_finite(op: &'static str, arg: &str, value: f32) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::invalid(op, arg, "a finite number", value));
    }
    Ok(())
}

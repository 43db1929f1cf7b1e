//! `quant_matmul`: `y[N, M] = alpha * x[N, K] · dequant(W)^T + beta * y` with
//! W a [`QuantMatrix`] [M, K] in a GGML block format. The validation and the
//! geometry, shared by both backends.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::{QuantMatrix, Tensor};

const OP: &str = "quant_matmul";

/// Shape and strides (in elements) of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuantGeometry {
    /// Rows of W: outputs per token.
    pub m: usize,
    /// Columns of W and x: inputs per token.
    pub k: usize,
    /// Tokens: rows of x and y.
    pub n: usize,
    /// Element type of x and y.
    pub dtype: DType,
    /// Row stride of x.
    pub sxn: usize,
    /// Row stride of y.
    pub syn: usize,
    /// Offsets of x and y in their buffers.
    pub offsets: [usize; 2],
}

/// A 2-D view with a unit column stride (a dimension of 1 or 0 may have any stride).
fn rows_of(arg: &str, t: &Tensor, cols: usize, what: &str) -> Result<usize> {
    validate::check_rank(OP, arg, t, 2)?;
    let s = t.shape();
    if s[1] != cols {
        return Err(Error::invalid(OP, arg, format!("[N, {cols}] ({what})"), format!("shape {s:?}")));
    }
    if s[1] > 1 && t.layout().stride(1) != 1 {
        return Err(Error::invalid(
            OP,
            arg,
            "a unit column stride (rows of contiguous elements; any row stride)",
            format!("strides {:?}", t.layout().strides()),
        ));
    }
    Ok(s[0])
}

/// Validates a call and returns its geometry: `w` on `device`, x [N, K] and
/// y [N, M] of one dtype on `device`, each with a unit column stride, K =
/// W's columns, M = W's rows, y writable and disjoint from x, alpha and beta
/// finite. Empty problems (N = 0, M = 0) are valid; with K = 0, y = beta y.
pub fn geometry(
    device: Device,
    w: &QuantMatrix,
    x: &Tensor,
    y: &Tensor,
    alpha: f32,
    beta: f32,
) -> Result<QuantGeometry> {
    validate::check_quant_device(OP, "w", w, device)?;
    validate::check_device(OP, "x", x, device)?;
    validate::check_device(OP, "y", y, device)?;
    validate::check_dtype(OP, "y", y, x.dtype())?;
    let (m, k) = (w.rows(), w.cols());
    let n = rows_of("x", x, k, &format!("K = {k}, the columns of w ({m}x{k} {})", w.kind()))?;
    let ny = rows_of("y", y, m, &format!("M = {m}, the rows of w"))?;
    if ny != n {
        return Err(Error::invalid(OP, "y", format!("[{n}, {m}] (x has {n} rows)"), format!("shape {:?}", y.shape())));
    }
    validate::check_writable(OP, "y", y)?;
    validate::check_overlap(OP, "y", y, &[("x", x)], Aliasing::Forbidden)?;
    validate::check_finite(OP, "alpha", alpha)?;
    validate::check_finite(OP, "beta", beta)?;
    Ok(QuantGeometry {
        m,
        k,
        n,
        dtype: x.dtype(),
        sxn: x.layout().stride(0),
        syn: y.layout().stride(0),
        offsets: [x.layout().offset(), y.layout().offset()],
    })
}

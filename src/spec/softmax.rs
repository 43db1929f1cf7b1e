//! `softmax(x, y, opts)`: y = softmax(scale * x + mask) along the last axis of
//! a [rows, cols] view, with causal exclusion; y may be x (in place). The
//! options, the validation and the geometry, shared by both backends.

use crate::device::Device;
use crate::dispatch::softmax::SoftmaxPrefs;
use crate::error::{Error, Result};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::Tensor;

const OP: &str = "softmax";

/// Causal exclusion: row r is query position `offset + r % q_len`; columns
/// after that position are excluded (given 0, and not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Causal {
    /// Rows per query period (at least 1): rows flatten [batch, heads, q_len].
    pub q_len: usize,
    /// Position of query 0. Any value is valid: a position at or past the
    /// last column sees every column (the geometry clamps it to `cols`, so
    /// `offset + r % q_len` never overflows on either backend).
    pub offset: usize,
}

/// What `softmax` computes beyond the views: `softmax(scale * x + mask)` per
/// row, with optional causal exclusion.
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxOptions<'a> {
    /// Multiplies x before the mask is added; must be finite.
    pub scale: f32,
    /// Causal exclusion, if any.
    pub causal: Option<Causal>,
    /// An additive [q_len, cols] mask; row r uses mask row r % q_len.
    pub mask: Option<&'a Tensor>,
    /// None reads DK_SOFTMAX_BACKEND.
    pub prefs: Option<SoftmaxPrefs>,
}

impl Default for SoftmaxOptions<'_> {
    fn default() -> Self {
        SoftmaxOptions { scale: 1.0, causal: None, mask: None, prefs: None }
    }
}

/// The validated problem.
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxGeometry {
    /// Rows of x (and y).
    pub rows: usize,
    /// Columns of x (and y): the softmax axis.
    pub cols: usize,
    /// Rows per mask/causal period (1 when neither is given).
    pub q_len: usize,
    /// The causal offset clamped to `cols` (None without causal exclusion):
    /// what both backends read. Clamping changes no result, since a query at
    /// position `cols - 1` or later already sees every column.
    pub causal_offset: Option<usize>,
}

impl SoftmaxGeometry {
    /// Leading columns row `r` sees: all of them without causal exclusion,
    /// else up to and including its query position. Never overflows.
    pub fn visible(&self, r: usize) -> usize {
        match self.causal_offset {
            Some(offset) => offset.saturating_add(r % self.q_len).saturating_add(1).min(self.cols),
            None => self.cols,
        }
    }
}

/// Validates the views and options and returns the problem: x and y [rows,
/// cols] of one dtype on `device`, y writable and either x itself or disjoint
/// from it, a finite scale, a causal `q_len` of at least 1, a mask of shape
/// [q_len, cols] (its rows give q_len when there is no causal exclusion), and
/// rows a multiple of q_len. Empty views are valid (the op does nothing).
pub fn geometry(device: Device, x: &Tensor, y: &Tensor, o: &SoftmaxOptions) -> Result<SoftmaxGeometry> {
    validate::check_device(OP, "x", x, device)?;
    validate::check_device(OP, "y", y, device)?;
    validate::check_rank(OP, "x", x, 2)?;
    validate::check_shape(OP, "y", y, x.shape())?;
    validate::check_dtype(OP, "y", y, x.dtype())?;
    validate::check_writable(OP, "y", y)?;
    validate::check_overlap(OP, "y", y, &[("x", x)], Aliasing::IdenticalAllowed)?;
    validate::check_finite(OP, "scale", o.scale)?;
    let (rows, cols) = (x.shape()[0], x.shape()[1]);
    let mut q_len = 1;
    if let Some(c) = o.causal {
        if c.q_len == 0 {
            return Err(Error::invalid(OP, "causal.q_len", "at least 1", 0));
        }
        q_len = c.q_len;
    }
    if let Some(m) = o.mask {
        validate::check_device(OP, "mask", m, device)?;
        validate::check_rank(OP, "mask", m, 2)?;
        validate::check_dtype(OP, "mask", m, x.dtype())?;
        let expect_rows = if o.causal.is_some() { q_len } else { m.shape()[0] };
        validate::check_shape(OP, "mask", m, &[expect_rows, cols])?;
        if expect_rows == 0 && rows > 0 {
            // Row r reads mask row r % q_len: a mask with no rows has none to read.
            return Err(Error::invalid(
                OP,
                "mask",
                format!("at least one row (x has {rows} rows)"),
                format!("shape {:?}", m.shape()),
            ));
        }
        validate::check_overlap(OP, "y", y, &[("mask", m)], Aliasing::Forbidden)?;
        q_len = expect_rows.max(1);
    }
    if (o.causal.is_some() || o.mask.is_some()) && rows % q_len != 0 {
        return Err(Error::invalid(
            OP,
            "x",
            format!("a number of rows divisible by q_len = {q_len} (rows flatten [batch, heads, q_len])"),
            format!("{rows} rows"),
        ));
    }
    let causal_offset = o.causal.map(|c| c.offset.min(cols));
    Ok(SoftmaxGeometry { rows, cols, q_len, causal_offset })
}

/// Bytes a softmax moves at least: x read, y written, the mask read once.
pub fn bytes(g: &SoftmaxGeometry, x: &Tensor, o: &SoftmaxOptions) -> u64 {
    let mask = if o.mask.is_some() { g.q_len * g.cols } else { 0 };
    ((2 * g.rows * g.cols + mask) * x.dtype().size_in_bytes()) as u64
}

/// Every view has unit column stride and 16-byte aligned rows.
pub fn packable(x: &Tensor, y: &Tensor, mask: Option<&Tensor>) -> bool {
    let v = 16 / x.dtype().size_in_bytes();
    let ok = |t: &Tensor| {
        let l = t.layout();
        l.stride(1) == 1 && l.dim(1) % v == 0 && l.offset() % v == 0 && (l.dim(0) == 1 || l.stride(0) % v == 0)
    };
    ok(x) && ok(y) && mask.map_or(true, ok)
}

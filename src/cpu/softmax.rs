//! The softmax reference in f64, with the same edge semantics as the kernels.

use rayon::prelude::*;

use crate::error::Result;
use crate::spec::softmax::{SoftmaxGeometry, SoftmaxOptions};
use crate::tensor::Tensor;

/// One row: values already scaled and masked; `valid` leading columns visible.
pub fn softmax_row(v: &[f64], valid: usize, out: &mut [f64]) {
    let seen = &v[..valid];
    let max = seen.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if seen.iter().any(|x| x.is_nan()) || max == f64::INFINITY {
        // A NaN anywhere, or +inf (exp(inf - inf) is NaN, as in PyTorch): NaN row.
        out.iter_mut().for_each(|o| *o = f64::NAN);
        return;
    }
    if max == f64::NEG_INFINITY {
        out.iter_mut().for_each(|o| *o = 0.0); // nothing left: zeros, not NaN
        return;
    }
    let sum: f64 = seen.iter().map(|x| (x - max).exp()).sum();
    for (j, o) in out.iter_mut().enumerate() {
        *o = if j < valid { (v[j] - max).exp() / sum } else { 0.0 };
    }
}

/// `y = softmax(scale * x + mask)` per row of a validated geometry (the
/// causal rule read from `g`, which clamped the offset), in f64, rounded once
/// to y's dtype. Excluded columns give 0; a row that sees nothing gives zeros.
pub fn softmax(g: &SoftmaxGeometry, x: &Tensor, y: &Tensor, o: &SoftmaxOptions) -> Result<()> {
    let (rows, cols) = (g.rows, g.cols);
    let xv = x.to_f64_vec()?;
    let mv = o.mask.map(|m| m.to_f64_vec()).transpose()?;
    let scale = o.scale as f64;
    let mut out = vec![0f64; rows * cols];
    // cols.max(1): an empty row has no chunk to visit (and a chunk size of 0 panics).
    out.par_chunks_mut(cols.max(1)).enumerate().for_each(|(r, dst)| {
        let q = r % g.q_len;
        let valid = g.visible(r);
        let v: Vec<f64> =
            (0..cols).map(|j| scale * xv[r * cols + j] + mv.as_ref().map_or(0.0, |m| m[q * cols + j])).collect();
        softmax_row(&v, valid, dst);
    });
    super::write_view("softmax", "y", y, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[f64], valid: usize) -> Vec<f64> {
        let mut out = vec![9.0; v.len()];
        softmax_row(v, valid, &mut out);
        out
    }

    #[test]
    fn edges() {
        let r = row(&[0.0, 0.0], 2);
        assert_eq!(r, vec![0.5, 0.5]);
        assert_eq!(row(&[f64::NEG_INFINITY, 0.0], 2), vec![0.0, 1.0]);
        assert_eq!(row(&[f64::NEG_INFINITY, f64::NEG_INFINITY], 2), vec![0.0, 0.0]);
        assert!(row(&[f64::NAN, 1.0], 2).iter().all(|x| x.is_nan()));
        assert!(row(&[f64::NAN, f64::NEG_INFINITY], 2).iter().all(|x| x.is_nan()));
        assert!(row(&[f64::INFINITY, 1.0], 2).iter().all(|x| x.is_nan()));
        // Excluded columns are 0 and not read (a NaN there does not matter).
        assert_eq!(row(&[3.0, f64::NAN], 1), vec![1.0, 0.0]);
        assert_eq!(row(&[1.0, 2.0], 0), vec![0.0, 0.0]);
        // Large values do not overflow.
        let big = row(&[65504.0 * 4.0, 65504.0 * 4.0 - 1.0], 2);
        assert!((big[0] - 1.0 / (1.0 + (-1f64).exp())).abs() < 1e-12);
    }
}

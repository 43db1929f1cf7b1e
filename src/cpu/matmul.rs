//! The matmul reference: f64 accumulation, one rounding to C's dtype.

use rayon::prelude::*;

use crate::error::Result;
use crate::ops::matmul::Geometry;
use crate::tensor::Tensor;

pub fn matmul(g: &Geometry, alpha: f32, a: &Tensor, b: &Tensor, beta: f32, c: &Tensor) -> Result<()> {
    let (m, n, k) = (g.m, g.n, g.k);
    if m == 0 || n == 0 || g.batch == 0 {
        return Ok(());
    }
    let av = a.to_f64_vec()?;
    let bv = b.to_f64_vec()?;
    let cv = if beta != 0.0 { c.to_f64_vec()? } else { Vec::new() };
    let a_batched = a.rank() == 3;
    let b_batched = b.rank() == 3;
    let (alpha, beta) = (alpha as f64, beta as f64);
    let mut out = vec![0f64; g.batch * m * n];
    out.par_chunks_mut(n).enumerate().for_each(|(row, dst)| {
        let (bz, i) = (row / m, row % m);
        let a_row = &av[((if a_batched { bz / g.group } else { 0 }) * m + i) * k..][..k];
        let b_mat = &bv[(if b_batched { bz } else { 0 }) * k * n..][..k * n];
        for (j, d) in dst.iter_mut().enumerate() {
            let acc: f64 = (0..k).map(|kk| a_row[kk] * b_mat[kk * n + j]).sum();
            // beta == 0 never reads C (it may hold NaN).
            *d = alpha * acc + if beta != 0.0 { beta * cv[row * n + j] } else { 0.0 };
        }
    });
    super::write_view("matmul", "c", c, out)
}

//! The matmul reference: f64 accumulation, one rounding to C's dtype.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::spec::matmul::Geometry;
use crate::tensor::{Device, Tensor};

/// `c = alpha a·b + beta c` over a validated geometry (`beta == 0` never
/// reads C), accumulated in f64 and rounded once.
pub fn matmul(g: &Geometry, alpha: f32, a: &Tensor, b: &Tensor, beta: f32, c: &Tensor) -> Result<()> {
    let (m, n, k) = (g.m, g.n, g.k);
    if m == 0 || n == 0 || g.batch == 0 {
        return Ok(());
    }
    // A (the weights: large) is read in place, one row at a time, so a
    // multi-GB matrix is never copied; B and C are small in decode.
    let a_data = a.storage().host_read().ok_or_else(|| Error::WrongDevice {
        op: "matmul",
        arg: "a".into(),
        expected: Device::Cpu.to_string(),
        found: a.device().to_string(),
    })?;
    let bv = b.to_f64_vec()?;
    let cv = if beta != 0.0 { c.to_f64_vec()? } else { Vec::new() };
    let b_batched = b.rank() == 3;
    let [sam, sak, sab] = g.a;
    let a_off = g.offsets[0];
    let (alpha, beta) = (alpha as f64, beta as f64);
    let mut out = vec![0f64; g.batch * m * n];
    out.par_chunks_mut(n).enumerate().for_each(|(row, dst)| {
        let (bz, i) = (row / m, row % m);
        // A 2-D A has batch stride 0: every batch reads the same matrix.
        let base = a_off + (bz / g.group) * sab + i * sam;
        let a_row: Vec<f64> = (0..k).map(|kk| a_data.get(base + kk * sak)).collect();
        let b_mat = &bv[(if b_batched { bz } else { 0 }) * k * n..][..k * n];
        for (j, d) in dst.iter_mut().enumerate() {
            let acc: f64 = (0..k).map(|kk| a_row[kk] * b_mat[kk * n + j]).sum();
            // beta == 0 never reads C (it may hold NaN).
            *d = alpha * acc + if beta != 0.0 { beta * cv[row * n + j] } else { 0.0 };
        }
    });
    drop(a_data);
    super::write_view("matmul", "c", c, out)
}

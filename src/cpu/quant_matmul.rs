//! The quantized matmul reference: each row of W dequantized exactly as
//! `spec::quant` does (the GGUF reader's bits), then accumulated in f64 and
//! rounded once to y's dtype.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::spec::quant::dequantize_into;
use crate::spec::quant_matmul::QuantGeometry;
use crate::tensor::{Device, QuantMatrix, Tensor};

/// `y = alpha x·dequant(w)^T + beta y` over a validated geometry (`beta == 0`
/// never reads y).
pub fn quant_matmul(g: &QuantGeometry, w: &QuantMatrix, x: &Tensor, y: &Tensor, alpha: f32, beta: f32) -> Result<()> {
    let (m, k, n) = (g.m, g.k, g.n);
    if m == 0 || n == 0 {
        return Ok(());
    }
    let bytes = w.host_bytes().ok_or_else(|| Error::WrongDevice {
        op: "quant_matmul",
        arg: "w".into(),
        expected: Device::Cpu.to_string(),
        found: w.device().to_string(),
    })?;
    let xv = x.to_f64_vec()?; // [n, k]
    let yv = if beta != 0.0 { y.to_f64_vec()? } else { Vec::new() };
    let rb = w.row_bytes();
    // One row of W at a time (never the whole matrix in f32): its n dot products.
    let dots: Vec<Vec<f64>> = (0..m)
        .into_par_iter()
        .map(|row| {
            let mut wr = vec![0f32; k];
            dequantize_into(w.kind(), &bytes[row * rb..(row + 1) * rb], &mut wr)?;
            Ok((0..n).map(|j| wr.iter().zip(&xv[j * k..(j + 1) * k]).map(|(&a, &b)| a as f64 * b).sum()).collect())
        })
        .collect::<Result<_>>()?;
    let (alpha, beta) = (alpha as f64, beta as f64);
    let out = (0..n).flat_map(|j| {
        let (dots, yv) = (&dots, &yv);
        (0..m).map(move |i| alpha * dots[i][j] + if beta != 0.0 { beta * yv[j * m + i] } else { 0.0 })
    });
    super::write_view("quant_matmul", "y", y, out)
}

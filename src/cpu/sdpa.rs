//! The attention reference in f64: scores, the softmax reference's row rule
//! (excluded keys give 0, a row with no visible key gives zeros), then P·V.

use rayon::prelude::*;

use crate::error::Result;
use crate::spec::sdpa::SdpaGeometry;
use crate::tensor::Tensor;

/// Attention over a validated geometry in f64, rounded once to out's dtype:
/// query i sees `g.visible(i)` keys; one that sees none gives zeros.
pub fn sdpa(g: &SdpaGeometry, q: &Tensor, k: &Tensor, v: &Tensor, out: &Tensor) -> Result<()> {
    let (lq, lk, d) = (g.lq, g.lk, g.d);
    let (qv, kv, vv) = (q.to_f64_vec()?, k.to_f64_vec()?, v.to_f64_vec()?);
    let scale = g.scale as f64;
    let mut result = vec![0f64; g.batch * g.hq * lq * d];
    result.par_chunks_mut(d.max(1)).enumerate().for_each(|(row, dst)| {
        let (bh, i) = (row / lq, row % lq);
        let (b, h) = (bh / g.hq, bh % g.hq);
        let kv_base = (b * g.hkv + h / g.group) * lk * d;
        let qrow = &qv[row * d..(row + 1) * d];
        let visible = g.visible(i);
        let scores: Vec<f64> = (0..lk)
            .map(|j| {
                scale * qrow.iter().zip(&kv[kv_base + j * d..kv_base + (j + 1) * d]).map(|(a, b)| a * b).sum::<f64>()
            })
            .collect();
        let mut p = vec![0f64; lk];
        super::softmax::softmax_row(&scores, visible, &mut p);
        for (j, &pj) in p.iter().enumerate().filter(|(_, &pj)| pj != 0.0) {
            for (o, x) in dst.iter_mut().zip(&vv[kv_base + j * d..kv_base + (j + 1) * d]) {
                *o += pj * x;
            }
        }
        if p.iter().any(|x| x.is_nan()) {
            dst.iter_mut().for_each(|o| *o = f64::NAN);
        }
    });
    super::write_view("sdpa", "out", out, result)
}

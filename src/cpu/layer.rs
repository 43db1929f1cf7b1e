//! CPU twins of the decoder-layer ops (src/ops/layer.rs, src/ops/random.rs):
//! f64 math, one rounding to the output dtype. Callers validated the views.

use half::{bf16, f16};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::spec::layer::{rope_frequency, RopeOptions};
use crate::spec::random::uniform_at;
use crate::tensor::{Device, HostData, Tensor};

fn host_error(op: &'static str, arg: &str, t: &Tensor) -> Error {
    Error::WrongDevice { op, arg: arg.to_string(), expected: Device::Cpu.to_string(), found: t.device().to_string() }
}

/// `y = x / sqrt(mean(x^2) + eps) * w` per row of validated views.
pub fn rmsnorm(x: &Tensor, w: &Tensor, eps: f32, y: &Tensor) -> Result<()> {
    let cols = x.shape()[x.rank() - 1];
    let xv = x.to_f64_vec()?;
    let wv = w.to_f64_vec()?;
    let mut out = vec![0f64; xv.len()];
    out.par_chunks_mut(cols.max(1)).zip(xv.par_chunks(cols.max(1))).for_each(|(dst, row)| {
        let ms = row.iter().map(|v| v * v).sum::<f64>() / cols as f64;
        let r = 1.0 / (ms + eps as f64).sqrt();
        for ((d, v), g) in dst.iter_mut().zip(row).zip(&wv) {
            *d = v * r * g;
        }
    });
    super::write_view("rmsnorm", "y", y, out)
}

/// Bias add and RoPE of validated views: Q to q_out, K rotated and V to
/// each token's slot of the caches (no other slot is touched). Token t of sequence b sits at position `base_b + t`, base_b = `positions[b]`
/// when given (slots at or past the capacity are skipped, as the kernel does),
/// else `o.pos`; qkv is [B, T, width] (or [B, width], T = 1) and q_out
/// [B, hq, T, d] (or [B, hq, d]).
pub fn rope_append(
    qkv: &Tensor,
    bias: Option<&Tensor>,
    q_out: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    positions: Option<&[i32]>,
    o: &RopeOptions,
) -> Result<()> {
    const OP: &str = "rope_append";
    let three_d = qkv.rank() == 3;
    let (batch, tokens) = (qkv.shape()[0], if three_d { qkv.shape()[1] } else { 1 });
    let d = q_out.shape()[q_out.rank() - 1];
    let width = (o.hq + 2 * o.hkv) * d;
    let cap = k_cache.shape()[2];
    let mut rows = qkv.to_f64_vec()?;
    if let Some(b) = bias {
        let bv = b.to_f64_vec()?;
        rows.chunks_mut(width).for_each(|r| r.iter_mut().zip(&bv).for_each(|(x, b)| *x += b));
    }
    let half = d / 2;
    let freqs: Vec<f64> = (0..half).map(|i| rope_frequency(o.theta as f64, d, i, o.llama3.as_ref())).collect();
    let put = |t: &Tensor, arg: &str, idx: &[usize], vals: &[f64]| -> Result<()> {
        let st = t.layout().strides();
        let base = t.layout().offset() + idx.iter().zip(st).map(|(i, s)| i * s).sum::<usize>();
        let mut dst = t.storage().host_write().ok_or_else(|| host_error(OP, arg, t))?;
        for (i, &v) in vals.iter().enumerate() {
            dst.set(base + i, v);
        }
        Ok(())
    };
    for b in 0..batch {
        let first = match positions {
            Some(p) => i64::from(p[b]),
            None => o.pos as i64,
        };
        for t in 0..tokens {
            let pos = first + t as i64;
            // The angle of pair i: pos times its frequency (theta^(-2i/d), llama3-scaled when asked).
            let angles: Vec<(f64, f64)> = freqs.iter().map(|f| (pos as f64 * f).sin_cos()).collect();
            let rotate = |x: &[f64]| -> Vec<f64> {
                let mut y = vec![0f64; d];
                for (i, &(s, c)) in angles.iter().enumerate() {
                    y[i] = x[i] * c - x[i + half] * s;
                    y[i + half] = x[i + half] * c + x[i] * s;
                }
                y
            };
            let slot = usize::try_from(pos).ok().filter(|&s| s < cap);
            let row = &rows[(b * tokens + t) * width..][..width];
            for h in 0..o.hq + 2 * o.hkv {
                let x = &row[h * d..][..d];
                if h < o.hq {
                    let idx: &[usize] = if three_d { &[b, h, t] } else { &[b, h] };
                    put(q_out, "q_out", idx, &rotate(x))?;
                } else if let Some(s) = slot {
                    if h < o.hq + o.hkv {
                        put(k_cache, "k_cache", &[b, h - o.hq, s], &rotate(x))?;
                    } else {
                        put(v_cache, "v_cache", &[b, h - o.hq - o.hkv, s], x)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `h = silu(gate) * up`, gate and up the two halves of each gu row.
pub fn silu_mul(gu: &Tensor, h: &Tensor) -> Result<()> {
    let inter = h.shape()[1];
    let g = gu.to_f64_vec()?;
    let out: Vec<f64> = g
        .chunks(2 * inter.max(1))
        .flat_map(|row| (0..inter).map(move |c| row[c] / (1.0 + (-row[c]).exp()) * row[inter + c]))
        .collect();
    super::write_view("silu_mul", "h", h, out)
}

/// Fills a contiguous host tensor; element e gets `uniform_at(seed, e, ..)`
/// rounded once to the dtype (as the GPU's from_f32 does).
pub fn fill_uniform(t: &Tensor, seed: u64, lo: f32, hi: f32) -> Result<()> {
    let off = t.layout().offset();
    let n = t.numel();
    let mut data = t.storage().host_write().ok_or_else(|| host_error("fill_uniform", "t", t))?;
    let at = |e: usize| uniform_at(seed, e as u64, lo, hi);
    match &mut *data {
        HostData::F16(v) => v[off..off + n].par_iter_mut().enumerate().for_each(|(e, x)| *x = f16::from_f32(at(e))),
        HostData::BF16(v) => v[off..off + n].par_iter_mut().enumerate().for_each(|(e, x)| *x = bf16::from_f32(at(e))),
        HostData::F32(v) => v[off..off + n].par_iter_mut().enumerate().for_each(|(e, x)| *x = at(e)),
    }
    Ok(())
}

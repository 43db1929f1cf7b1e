//! Check cases of x quantized once (`ops::quantize_x`, `rmsnorm_q8`,
//! `silu_mul_q8`) and of the dot GEMV reading it (`quant_matmul` with
//! `x_q8`). The quantization is exact arithmetic (src/spec/q8.rs), so the
//! GPU's bytes must equal the CPU's rounding of the same values bit for bit
//! (for the producers: of the GPU's own dense output, which is compared with
//! the CPU's by the usual bound).
//!
//! The decode/ and generate cases (src/check/) run the same kernels in a
//! step, where attention reads keys before rope_append, the launch just
//! before it, finishes (`SdpaOptions::fresh_keys`); the sdpa cases' fresh
//! keys arrive by copies, so they test the bounds, not the overlap.

use super::{tolerance, Case, Checker, Outcome, Pair};
use crate::dtype::{DType, QuantKind};
use crate::error::Result;
use crate::ops::quant::QuantOptions;
use crate::ops::{self, QuantKernel};
use crate::spec::q8::{q8_chunk_offset, q8_row_bytes, quantize_rows};
use crate::tensor::{Layout, Q8Activations, QuantMatrix};

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    for dtype in DType::ALL {
        // 129 units a row (an odd last pair), rows padded by 8 elements (4-element
        // aligned: a load of 4 values) or by 2 (one value a load).
        for pad in [8, 2] {
            let name = format!("3x4128/padded{pad}");
            v.push(case("quantize_x", name, dtype, move |c| quantize_case(c, dtype, 3, 4128, pad)));
        }
        // A CTA of 8 warps of 4 slots (4096), 7 of one slot (896), the widest
        // row (32 warps), warps with different numbers of slots and a slot
        // partly past the row (4128: 9 warps; 2080: 8 warps, 65 units), and
        // rows one value a load (padded by 2).
        for (rows, cols, pad) in [(5, 4096, 0), (3, 896, 0), (2, 16384, 0), (3, 4128, 0), (3, 2080, 0), (3, 4096, 2)] {
            let name = format!("{rows}x{cols}/padded{pad}");
            v.push(case("rmsnorm_q8", name, dtype, move |c| rmsnorm_case(c, dtype, rows, cols, pad)));
        }
        v.push(case("silu_mul_q8", "3x2080".into(), dtype, move |c| silu_case(c, dtype, 3, 2080)));
    }
    for kind in QuantKind::ALL {
        for (m, k, n) in [(1000, 4096, 1), (300, 2048, 5), (64, 14336, 16)] {
            let name = format!("{kind}/{m}x{k}x{n}/x_q8/dot").to_lowercase();
            v.push(case("quant_matmul", name, DType::F16, move |c| matmul_case(c, kind, m, k, n)));
        }
    }
    v
}

fn case(op: &'static str, name: String, dtype: DType, f: impl Fn(&mut Checker) -> Result<Outcome> + 'static) -> Case {
    Case { op, name, dtype, run: Box::new(f) }
}

/// Bytes of the real units that differ between two buffers of `rows` x
/// `cols` (quants of every unit, and every unit's constants; a row's pad
/// bytes are not compared: no kernel writes them).
fn mismatches(a: &[u8], b: &[u8], rows: usize, cols: usize) -> usize {
    let (rb, units) = (q8_row_bytes(cols), cols / 32);
    let mut bad = 0;
    for r in 0..rows {
        for u in 0..units {
            for half in 0..2 {
                let at = r * rb + q8_chunk_offset(u, half);
                bad += (at..at + 16).filter(|&i| a[i] != b[i]).count();
            }
        }
    }
    let meta = rows * rb;
    bad + (meta..meta + rows * units * 8).filter(|&i| a[i] != b[i]).count()
}

/// An outcome of a bit-exact comparison: "rel_l2" is the count of differing bytes.
fn exact(op: &str, case: &str, dtype: DType, bad: usize) -> Outcome {
    Outcome {
        op: op.into(),
        case: case.into(),
        dtype,
        rel_l2: bad as f64,
        tolerance: 0.0,
        unwritten: 0,
        clobbered: 0,
        error: None,
        note: (bad > 0).then(|| format!("{bad} bytes differ from the CPU's rounding")),
    }
}

fn quantize_case(c: &mut Checker, dtype: DType, rows: usize, cols: usize, pad: usize) -> Result<Outcome> {
    let x = c.input(dtype, &[rows, cols + pad], 1.0)?.map(|t| t.narrow(1, 0, cols))?;
    let (qg, qc) = (Q8Activations::new(c.gpu, rows, cols)?, Q8Activations::new(&c.cpu, rows, cols)?);
    ops::quantize_x(c.gpu, &x.gpu, &qg)?;
    ops::quantize_x(&c.cpu, &x.cpu, &qc)?;
    let bad = mismatches(&qg.to_host_bytes()?, &qc.to_host_bytes()?, rows, cols);
    Ok(exact("quantize_x", "", dtype, bad))
}

/// The dense output against the CPU's (the op's usual bound), then q against
/// the CPU's rounding of the GPU's own dense output, bit for bit.
fn dense_then_q(c: &mut Checker, op: &str, out: &Pair, q: &Q8Activations, rows: usize, cols: usize) -> Result<Outcome> {
    let dense = c.compare(op, "", out, tolerance(out.gpu.dtype()))?;
    if !dense.passed() {
        return Ok(dense);
    }
    let want = quantize_rows(&out.gpu.to_f32_vec()?, rows, cols);
    let bad = mismatches(&q.to_host_bytes()?, &want, rows, cols);
    Ok(Outcome {
        note: (bad > 0).then(|| format!("{bad} bytes of q differ from the rounding of y")),
        rel_l2: dense.rel_l2.max(bad as f64),
        ..dense
    })
}

fn rmsnorm_case(c: &mut Checker, dtype: DType, rows: usize, cols: usize, pad: usize) -> Result<Outcome> {
    let x = c.input(dtype, &[rows, cols + pad], 1.0)?.map(|t| t.narrow(1, 0, cols))?;
    let w = c.input(dtype, &[cols], 1.0)?;
    let y = c.poisoned_output(dtype, rows * cols, Layout::contiguous(&[rows, cols])?)?;
    let (qg, qc) = (Q8Activations::new(c.gpu, rows, cols)?, Q8Activations::new(&c.cpu, rows, cols)?);
    ops::rmsnorm_q8(c.gpu, &x.gpu, &w.gpu, 1e-5, &y.gpu, &qg)?;
    ops::rmsnorm_q8(&c.cpu, &x.cpu, &w.cpu, 1e-5, &y.cpu, &qc)?;
    dense_then_q(c, "rmsnorm_q8", &y, &qg, rows, cols)
}

fn silu_case(c: &mut Checker, dtype: DType, rows: usize, cols: usize) -> Result<Outcome> {
    let gu = c.input(dtype, &[rows, 2 * cols], 1.0)?;
    let h = c.poisoned_output(dtype, rows * cols, Layout::contiguous(&[rows, cols])?)?;
    let (qg, qc) = (Q8Activations::new(c.gpu, rows, cols)?, Q8Activations::new(&c.cpu, rows, cols)?);
    ops::silu_mul_q8(c.gpu, &gu.gpu, &h.gpu, &qg)?;
    ops::silu_mul_q8(&c.cpu, &gu.cpu, &h.cpu, &qc)?;
    dense_then_q(c, "silu_mul_q8", &h, &qg, rows, cols)
}

/// The dot GEMV reading x quantized by `quantize_x` against the CPU's exact
/// product (the bound of the dot kernel, whose x is rounded the same way).
fn matmul_case(c: &mut Checker, kind: QuantKind, m: usize, k: usize, n: usize) -> Result<Outcome> {
    let seed = (m * 31 + k * 7 + n) as u64 ^ 0x51;
    let (wg, wc) = (QuantMatrix::random(c.gpu, kind, m, k, seed)?, QuantMatrix::random(&c.cpu, kind, m, k, seed)?);
    let x = c.input(DType::F16, &[n, k], 1.0 / (k as f64).sqrt())?;
    let q = Q8Activations::new(c.gpu, n, k)?;
    ops::quantize_x(c.gpu, &x.gpu, &q)?;
    let y = c.poisoned_output(DType::F16, n * (m + 5), Layout::strided(&[n, m], &[m + 5, 1], 0)?)?;
    let opts = QuantOptions { kernel: Some(QuantKernel::Dot), x_q8: Some(&q) };
    ops::quant_matmul_with(c.gpu, &wg, &x.gpu, &y.gpu, 1.0, 0.0, &opts)?;
    ops::quant_matmul(&c.cpu, &wc, &x.cpu, &y.cpu, 1.0, 0.0)?;
    c.compare("quant_matmul", "", &y, tolerance(DType::F16).max(super::quant_cases::DOT_TOLERANCE))
}

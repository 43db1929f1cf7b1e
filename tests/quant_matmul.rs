//! `ops::quant_matmul` on the CPU backend: equal to dequantize-then-multiply
//! in f64 (and to the dense `ops::matmul` on the dequantized weights), beta
//! semantics, the GGUF fixtures' blocks, and an error naming each bad argument.

use std::path::PathBuf;

use decode_kernels::dtype::QuantKind;
use decode_kernels::spec::quant::dequantize;
use decode_kernels::tensor::{HostData, QuantMatrix};
use decode_kernels::{ops, Context, DType, Error, Tensor};

fn xs(n: usize, k: usize, seed: u64) -> Vec<f32> {
    let mut x = seed | 1;
    (0..n * k)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32 / (k as f32).sqrt()
        })
        .collect()
}

/// alpha x·W^T + beta y0 in f64 from the dequantized weights, rounded to `dtype`.
fn reference(w: &[f32], x: &[f64], y0: &[f64], (m, k, n): (usize, usize, usize), alpha: f32, beta: f32) -> Vec<f64> {
    let mut out = Vec::with_capacity(n * m);
    for j in 0..n {
        for i in 0..m {
            let dot: f64 = (0..k).map(|kk| w[i * k + kk] as f64 * x[j * k + kk]).sum();
            out.push(alpha as f64 * dot + if beta != 0.0 { beta as f64 * y0[j * m + i] } else { 0.0 });
        }
    }
    out
}

#[test]
fn equals_dequantize_then_multiply_for_every_format_and_dtype() {
    let ctx = Context::cpu();
    for kind in QuantKind::ALL {
        for dtype in DType::ALL {
            let (m, k, n) = (37, 2 * 256, 3);
            let w = QuantMatrix::random(&ctx, kind, m, k, 11).unwrap();
            let wf = dequantize(kind, &w.to_host_bytes().unwrap(), m * k).unwrap();
            let x = Tensor::from_f32(&ctx, &xs(n, k, 5), &[n, k], dtype).unwrap();
            let xv = x.to_f64_vec().unwrap();
            for (alpha, beta) in [(1.0f32, 0.0f32), (0.5, 1.0), (-2.0, 0.25)] {
                let y = Tensor::from_f32(&ctx, &xs(n, m, 9), &[n, m], dtype).unwrap();
                let y0 = y.to_f64_vec().unwrap();
                ops::quant_matmul(&ctx, &w, &x, &y, alpha, beta).unwrap();
                let want = reference(&wf, &xv, &y0, (m, k, n), alpha, beta);
                let got = y.to_f64_vec().unwrap();
                for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(*g, dtype.round(*r), "{kind} {dtype} a{alpha} b{beta} element {i}");
                }
            }
            assert!(wf.iter().any(|&v| v != 0.0), "{kind}: random blocks are not all zeros");
        }
    }
}

#[test]
fn agrees_with_the_dense_matmul_on_dequantized_weights() {
    let ctx = Context::cpu();
    for kind in QuantKind::ALL {
        let (m, k, n) = (20, 256, 5);
        let w = QuantMatrix::random(&ctx, kind, m, k, 3).unwrap();
        let wf = dequantize(kind, &w.to_host_bytes().unwrap(), m * k).unwrap();
        let wd = Tensor::from_f32(&ctx, &wf, &[m, k], DType::F32).unwrap();
        let x = Tensor::from_f32(&ctx, &xs(n, k, 8), &[n, k], DType::F32).unwrap();
        let (y, yd) =
            (Tensor::empty(&ctx, &[n, m], DType::F32).unwrap(), Tensor::empty(&ctx, &[n, m], DType::F32).unwrap());
        ops::quant_matmul(&ctx, &w, &x, &y, 1.0, 0.0).unwrap();
        ops::matmul(&ctx, 1.0, &wd, &x.transpose(0, 1).unwrap(), 0.0, &yd.transpose(0, 1).unwrap()).unwrap();
        assert_eq!(y.to_f32_vec().unwrap(), yd.to_f32_vec().unwrap(), "{kind}");
    }
}

#[test]
fn gguf_fixture_blocks_multiply_as_the_python_package_dequantizes_them() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quant");
    let ctx = Context::cpu();
    for kind in QuantKind::ALL {
        let bytes = std::fs::read(dir.join(format!("{kind}.bin"))).unwrap();
        let f = std::fs::read(dir.join(format!("{kind}.f32"))).unwrap();
        let want: Vec<f32> = f.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        // One block per row: rows = blocks, cols = the block's elements.
        let (m, k) = (want.len() / kind.block_elems(), kind.block_elems());
        let w = QuantMatrix::from_bytes(&ctx, kind, m, k, &bytes).unwrap();
        assert_eq!(w.to_host_bytes().unwrap(), bytes);
        let x = Tensor::from_f32(&ctx, &xs(2, k, 4), &[2, k], DType::F32).unwrap();
        let y = Tensor::empty(&ctx, &[2, m], DType::F32).unwrap();
        ops::quant_matmul(&ctx, &w, &x, &y, 1.0, 0.0).unwrap();
        let r = reference(&want, &x.to_f64_vec().unwrap(), &[], (m, k, 2), 1.0, 0.0);
        let got = y.to_f64_vec().unwrap();
        for (i, (g, r)) in got.iter().zip(&r).enumerate() {
            assert_eq!(*g, DType::F32.round(*r), "{kind} element {i}");
        }
    }
}

#[test]
fn beta_zero_never_reads_y_and_strided_views_work() {
    let ctx = Context::cpu();
    let (m, k, n) = (33, 96, 4);
    let w = QuantMatrix::random(&ctx, QuantKind::Q4_0, m, k, 1).unwrap();
    // x rows padded to k + 5, y rows to m + 2, inside buffers full of NaN.
    let xbuf = Tensor::full(&ctx, &[n, k + 5], DType::F16, f64::NAN).unwrap();
    let mut vals = vec![f32::NAN; n * (k + 5)];
    for (j, row) in xs(n, k, 2).chunks(k).enumerate() {
        vals[j * (k + 5) + 1..j * (k + 5) + 1 + k].copy_from_slice(row);
    }
    xbuf.write_buffer(&HostData::from_f32_slice(DType::F16, &vals)).unwrap();
    let x = xbuf.narrow(1, 1, k).unwrap();
    let ybuf = Tensor::full(&ctx, &[n, m + 2], DType::F16, f64::NAN).unwrap();
    let y = ybuf.narrow(1, 0, m).unwrap();
    ops::quant_matmul(&ctx, &w, &x, &y, 1.0, 0.0).unwrap();
    let got = y.to_f32_vec().unwrap();
    assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
    // The padding columns were not written.
    let all = ybuf.to_f32_vec().unwrap();
    assert!((0..n).all(|j| all[j * (m + 2) + m].is_nan() && all[j * (m + 2) + m + 1].is_nan()));
    // The same product from contiguous copies.
    let xc = Tensor::from_f32(&ctx, &x.to_f32_vec().unwrap(), &[n, k], DType::F16).unwrap();
    let yc = Tensor::empty(&ctx, &[n, m], DType::F16).unwrap();
    ops::quant_matmul(&ctx, &w, &xc, &yc, 1.0, 0.0).unwrap();
    assert_eq!(yc.to_f32_vec().unwrap(), got);
}

fn arg_of(e: Error) -> String {
    match e {
        Error::InvalidArgument { arg, .. } | Error::DTypeMismatch { arg, .. } => arg,
        Error::Overlap { output, .. } => output,
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn every_validation_error_names_its_argument() {
    let ctx = Context::cpu();
    let (m, k, n) = (8, 64, 2);
    let w = QuantMatrix::random(&ctx, QuantKind::Q8_0, m, k, 1).unwrap();
    let x = Tensor::full(&ctx, &[n, k], DType::F32, 0.5).unwrap();
    let y = Tensor::empty(&ctx, &[n, m], DType::F32).unwrap();
    let call = |x: &Tensor, y: &Tensor, alpha: f32, beta: f32| ops::quant_matmul(&ctx, &w, x, y, alpha, beta);
    let cases: Vec<(&str, Result<(), Error>)> = vec![
        ("x", call(&Tensor::empty(&ctx, &[n, k + 32], DType::F32).unwrap(), &y, 1.0, 0.0)),
        ("x", call(&Tensor::empty(&ctx, &[1, n, k], DType::F32).unwrap(), &y, 1.0, 0.0)),
        ("x", call(&Tensor::empty(&ctx, &[k, n], DType::F32).unwrap().transpose(0, 1).unwrap(), &y, 1.0, 0.0)),
        ("y", call(&x, &Tensor::empty(&ctx, &[n, m + 1], DType::F32).unwrap(), 1.0, 0.0)),
        ("y", call(&x, &Tensor::empty(&ctx, &[n + 1, m], DType::F32).unwrap(), 1.0, 0.0)),
        ("y", call(&x, &Tensor::empty(&ctx, &[n, m], DType::F16).unwrap(), 1.0, 0.0)),
        ("y", call(&x, &Tensor::empty(&ctx, &[m, n], DType::F32).unwrap().transpose(0, 1).unwrap(), 1.0, 0.0)),
        ("y", call(&x, &x.narrow(1, 0, m).unwrap(), 1.0, 0.0)),
        ("alpha", call(&x, &y, f32::NAN, 0.0)),
        ("beta", call(&x, &y, 1.0, f32::INFINITY)),
    ];
    for (want, r) in cases {
        let e = r.expect_err(want);
        let msg = e.to_string();
        assert!(msg.contains("quant_matmul"), "{msg}");
        assert_eq!(arg_of(e), want, "{msg}");
    }
    let e = QuantMatrix::from_bytes(&ctx, QuantKind::Q4_K, 2, 256, &[0; 287]).unwrap_err();
    assert!(e.to_string().contains("`bytes`") && e.to_string().contains("288"), "{e}");
    let e = QuantMatrix::from_bytes(&ctx, QuantKind::Q4_K, 2, 128, &[0; 144]).unwrap_err();
    assert!(e.to_string().contains("`cols`") && e.to_string().contains("256"), "{e}");
    let e = QuantMatrix::random(&ctx, QuantKind::Q8_0, 2, 33, 0).unwrap_err();
    assert!(e.to_string().contains("`cols`"), "{e}");
}

#[test]
fn random_blocks_are_deterministic_and_empty_problems_do_nothing() {
    let ctx = Context::cpu();
    for kind in QuantKind::ALL {
        let a = QuantMatrix::random(&ctx, kind, 3, kind.block_elems(), 42).unwrap();
        let b = QuantMatrix::random(&ctx, kind, 3, kind.block_elems(), 42).unwrap();
        assert_eq!(a.to_host_bytes().unwrap(), b.to_host_bytes().unwrap());
        assert_eq!(a.size_bytes(), 3 * kind.block_bytes());
        let wf = dequantize(kind, &a.to_host_bytes().unwrap(), 3 * kind.block_elems()).unwrap();
        assert!(wf.iter().all(|v| v.is_finite() && v.abs() < 4.0), "{kind}: {wf:?}");
    }
    let w = QuantMatrix::random(&ctx, QuantKind::Q6_K, 4, 256, 0).unwrap();
    let x = Tensor::empty(&ctx, &[0, 256], DType::F32).unwrap();
    let y = Tensor::empty(&ctx, &[0, 4], DType::F32).unwrap();
    ops::quant_matmul(&ctx, &w, &x, &y, 1.0, 0.0).unwrap();
}

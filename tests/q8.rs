//! x rounded to 8 bits once (`ops::quantize_x`, `rmsnorm_q8`, `silu_mul_q8`)
//! on the CPU backend: the bytes of src/spec/q8.rs's rounding of the values
//! each op makes, the dense outputs equal to the plain ops', and errors that
//! name their argument.

use decode_kernels::ops::quant::QuantOptions;
use decode_kernels::spec::q8::{dequantize_rows, quantize_rows};
use decode_kernels::tensor::{Q8Activations, QuantMatrix};
use decode_kernels::{dtype::QuantKind, ops, Context, DType, Error, Tensor};

mod model_common;
use model_common::values as model_values;

/// Deterministic values in (-2, 2).
fn values(n: usize, seed: u64) -> Vec<f32> {
    model_values(seed, n, 2.0)
}

#[test]
fn producers_write_the_rounding_of_their_dense_output() {
    let ctx = Context::cpu();
    let (rows, cols) = (3, 96);
    for dtype in DType::ALL {
        let x = Tensor::from_f32(&ctx, &values(rows * cols, 1), &[rows, cols], dtype).unwrap();
        let q = Q8Activations::new(&ctx, rows, cols).unwrap();
        ops::quantize_x(&ctx, &x, &q).unwrap();
        assert_eq!(q.to_host_bytes().unwrap(), quantize_rows(&x.to_f32_vec().unwrap(), rows, cols), "{dtype}");
        let back = dequantize_rows(&q.to_host_bytes().unwrap(), rows, cols);
        for (a, b) in x.to_f32_vec().unwrap().iter().zip(&back) {
            assert!((a - b).abs() <= 2.0 / 127.0 * 0.5 + 1e-6, "{dtype}: {a} {b}");
        }

        let w = Tensor::from_f32(&ctx, &values(cols, 2), &[cols], dtype).unwrap();
        let (y, want) =
            (Tensor::empty(&ctx, &[rows, cols], dtype).unwrap(), Tensor::empty(&ctx, &[rows, cols], dtype).unwrap());
        ops::rmsnorm(&ctx, &x, &w, 1e-5, &want).unwrap();
        ops::rmsnorm_q8(&ctx, &x, &w, 1e-5, &y, &q).unwrap();
        assert_eq!(y.to_f32_vec().unwrap(), want.to_f32_vec().unwrap(), "{dtype}");
        assert_eq!(q.to_host_bytes().unwrap(), quantize_rows(&y.to_f32_vec().unwrap(), rows, cols), "{dtype}");

        let gu = Tensor::from_f32(&ctx, &values(rows * 2 * cols, 3), &[rows, 2 * cols], dtype).unwrap();
        ops::silu_mul(&ctx, &gu, &want).unwrap();
        ops::silu_mul_q8(&ctx, &gu, &y, &q).unwrap();
        assert_eq!(y.to_f32_vec().unwrap(), want.to_f32_vec().unwrap(), "{dtype}");
        assert_eq!(q.to_host_bytes().unwrap(), quantize_rows(&y.to_f32_vec().unwrap(), rows, cols), "{dtype}");
    }
}

fn arg_of(e: Error) -> String {
    match e {
        Error::InvalidArgument { arg, .. } | Error::DTypeMismatch { arg, .. } => arg,
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn errors_name_their_argument() {
    let ctx = Context::cpu();
    let (rows, cols) = (2, 64);
    let e = Q8Activations::new(&ctx, rows, 48).unwrap_err();
    assert_eq!(arg_of(e), "cols");
    let x = Tensor::full(&ctx, &[rows, cols], DType::F16, 0.5).unwrap();
    let wrong = Q8Activations::new(&ctx, rows + 1, cols).unwrap();
    assert_eq!(arg_of(ops::quantize_x(&ctx, &x, &wrong).unwrap_err()), "q");
    let w = Tensor::full(&ctx, &[cols], DType::F16, 1.0).unwrap();
    let y = Tensor::empty(&ctx, &[rows, cols], DType::F16).unwrap();
    assert_eq!(arg_of(ops::rmsnorm_q8(&ctx, &x, &w, 1e-5, &y, &wrong).unwrap_err()), "q");
    // y in x's buffer: the quantized twin would be made of values being overwritten.
    let q = Q8Activations::new(&ctx, rows, cols).unwrap();
    assert_eq!(arg_of(ops::rmsnorm_q8(&ctx, &x, &w, 1e-5, &x, &q).unwrap_err()), "y");
    // Rows wider than the kernel's CTA holds (on every backend, so the CPU says what the GPU would).
    let wide = ops::q8::RMSNORM_Q8_MAX_COLS + 32;
    let (xw, ww) = (
        Tensor::full(&ctx, &[1, wide], DType::F16, 0.5).unwrap(),
        Tensor::full(&ctx, &[wide], DType::F16, 1.0).unwrap(),
    );
    let (yw, qw) = (Tensor::empty(&ctx, &[1, wide], DType::F16).unwrap(), Q8Activations::new(&ctx, 1, wide).unwrap());
    assert_eq!(arg_of(ops::rmsnorm_q8(&ctx, &xw, &ww, 1e-5, &yw, &qw).unwrap_err()), "x");
    let gu = Tensor::full(&ctx, &[rows, 2 * cols], DType::F16, 0.5).unwrap();
    assert_eq!(arg_of(ops::silu_mul_q8(&ctx, &gu, &y, &wrong).unwrap_err()), "q");
    // The GEMV's x_q8 must hold x's rows and columns.
    let wq = QuantMatrix::random(&ctx, QuantKind::Q8_0, 8, cols, 1).unwrap();
    let out = Tensor::empty(&ctx, &[rows, 8], DType::F16).unwrap();
    let opts = QuantOptions { kernel: None, x_q8: Some(&wrong) };
    assert_eq!(arg_of(ops::quant_matmul_with(&ctx, &wq, &x, &out, 1.0, 0.0, &opts).unwrap_err()), "x_q8");
    // With a matching x_q8 the CPU product reads x itself.
    let opts = QuantOptions { kernel: None, x_q8: Some(&q) };
    ops::quant_matmul_with(&ctx, &wq, &x, &out, 1.0, 0.0, &opts).unwrap();
}

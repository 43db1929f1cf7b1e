//! `ops::matmul_silu_mul` on the CPU backend: equal to `matmul` into a
//! [2M, N] buffer then `silu_mul`, in the decode layout, and errors that name
//! their argument. (The GPU's fused kernel is checked against the CPU by
//! `decode-kernels check --filter matmul_silu_mul`.)

use decode_kernels::ops::{matmul, matmul_silu_mul, silu_mul};
use decode_kernels::{Context, DType, Error, Tensor};

mod model_common;
use model_common::values as model_values;

/// Deterministic values in (-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    model_values(seed, n, 1.0)
}

#[test]
fn equals_the_two_ops_it_replaces() {
    let ctx = Context::cpu();
    let (m, k, n) = (24, 40, 3);
    for dtype in DType::ALL {
        let w = Tensor::from_f32(&ctx, &values(2 * m * k, 1), &[2 * m, k], dtype).unwrap();
        let x = Tensor::from_f32(&ctx, &values(n * k, 2), &[n, k], dtype).unwrap();
        let (h, gu, want) = (
            Tensor::empty(&ctx, &[n, m], dtype).unwrap(),
            Tensor::empty(&ctx, &[n, 2 * m], dtype).unwrap(),
            Tensor::empty(&ctx, &[n, m], dtype).unwrap(),
        );
        let t = |t: &Tensor| t.transpose(0, 1).unwrap();
        matmul_silu_mul(&ctx, &w, &t(&x), &t(&h)).unwrap();
        matmul(&ctx, 1.0, &w, &t(&x), 0.0, &t(&gu)).unwrap();
        silu_mul(&ctx, &gu, &want).unwrap();
        let (got, want) = (h.to_f32_vec().unwrap(), want.to_f32_vec().unwrap());
        assert_eq!(got, want, "{dtype}");
        // Not a zero or constant output: the gate varies across rows.
        assert!(got.iter().any(|&v| v != got[0]), "{dtype}");
    }
}

fn arg_of(e: Error) -> String {
    match e {
        Error::InvalidArgument { arg, .. } => arg,
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn errors_name_their_argument() {
    let ctx = Context::cpu();
    let dt = DType::F16;
    let x = Tensor::full(&ctx, &[2, 8], dt, 0.5).unwrap();
    let h = Tensor::empty(&ctx, &[2, 4], dt).unwrap();
    let t = |t: &Tensor| t.transpose(0, 1).unwrap();
    // An odd number of rows cannot be gate then up.
    let odd = Tensor::full(&ctx, &[7, 8], dt, 0.5).unwrap();
    assert_eq!(arg_of(matmul_silu_mul(&ctx, &odd, &t(&x), &t(&h)).unwrap_err()), "a");
    // c must hold half of a's rows.
    let w = Tensor::full(&ctx, &[10, 8], dt, 0.5).unwrap();
    assert_eq!(arg_of(matmul_silu_mul(&ctx, &w, &t(&x), &t(&h)).unwrap_err()), "c");
    // c with its M axis strided (h itself rather than its transpose).
    let w = Tensor::full(&ctx, &[4, 8], dt, 0.5).unwrap();
    let c_bad = Tensor::empty(&ctx, &[2, 2], dt).unwrap();
    assert_eq!(arg_of(matmul_silu_mul(&ctx, &w, &t(&x), &c_bad).unwrap_err()), "c");
    // b batched ([1, K, N]) is not a matrix.
    let w = Tensor::full(&ctx, &[4, 8], dt, 0.5).unwrap();
    let b3 = Tensor::full(&ctx, &[1, 8, 2], dt, 0.5).unwrap();
    assert_eq!(arg_of(matmul_silu_mul(&ctx, &w, &b3, &t(&h)).unwrap_err()), "b");
    // b's K must match a's.
    let w = Tensor::full(&ctx, &[8, 6], dt, 0.5).unwrap();
    assert!(matmul_silu_mul(&ctx, &w, &t(&x), &t(&h)).is_err());
}

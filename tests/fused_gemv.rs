//! The fused GEMV ops on the CPU backend: `matmul_silu_mul` equal to
//! `matmul` into a [2M, N] buffer then `silu_mul`, `rmsnorm_matmul` and
//! `rmsnorm_matmul_silu_mul` equal to `rmsnorm` first, in the decode layout,
//! and errors that name their argument. (The GPU's fused kernels are checked
//! against the CPU by `decode-kernels check --filter matmul`.)

use decode_kernels::ops::{
    matmul, matmul_silu_mul, rmsnorm, rmsnorm_matmul, rmsnorm_matmul_silu_mul, silu_mul, RmsNormIn,
};
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

#[test]
fn the_norm_first_equals_rmsnorm_then_the_product() {
    let ctx = Context::cpu();
    let (m, k, n) = (24, 40, 3);
    let t = |t: &Tensor| t.transpose(0, 1).unwrap();
    for dtype in DType::ALL {
        let w = Tensor::from_f32(&ctx, &values(2 * m * k, 3), &[2 * m, k], dtype).unwrap();
        let x: Vec<f32> = values(n * k, 4).iter().map(|v| 4.0 * v + 1.0).collect();
        let x = Tensor::from_f32(&ctx, &x, &[n, k], dtype).unwrap();
        let gamma = Tensor::from_f32(&ctx, &values(k, 5), &[k], dtype).unwrap();
        let norm = RmsNormIn { weight: &gamma, eps: 1e-5 };
        let xn = Tensor::empty(&ctx, &[n, k], dtype).unwrap();
        rmsnorm(&ctx, &x, &gamma, 1e-5, &xn).unwrap();
        // The plain product, over the gate rows only.
        let gate = w.narrow(0, 0, m).unwrap();
        let (y, want) = (Tensor::empty(&ctx, &[n, m], dtype).unwrap(), Tensor::empty(&ctx, &[n, m], dtype).unwrap());
        rmsnorm_matmul(&ctx, &gate, &t(&x), norm, &t(&y)).unwrap();
        matmul(&ctx, 1.0, &gate, &t(&xn), 0.0, &t(&want)).unwrap();
        let (got, want) = (y.to_f32_vec().unwrap(), want.to_f32_vec().unwrap());
        assert_eq!(got, want, "{dtype}");
        assert!(got.iter().any(|&v| v != got[0]), "{dtype}");
        // Against the product of the raw x: the norm changed something.
        let raw = Tensor::empty(&ctx, &[n, m], dtype).unwrap();
        matmul(&ctx, 1.0, &gate, &t(&x), 0.0, &t(&raw)).unwrap();
        assert_ne!(got, raw.to_f32_vec().unwrap(), "{dtype}");
        // The GLU.
        let (h, want) = (Tensor::empty(&ctx, &[n, m], dtype).unwrap(), Tensor::empty(&ctx, &[n, m], dtype).unwrap());
        rmsnorm_matmul_silu_mul(&ctx, &w, &t(&x), norm, &t(&h)).unwrap();
        matmul_silu_mul(&ctx, &w, &t(&xn), &t(&want)).unwrap();
        assert_eq!(h.to_f32_vec().unwrap(), want.to_f32_vec().unwrap(), "{dtype}");
    }
}

#[test]
fn norm_errors_name_their_argument() {
    let ctx = Context::cpu();
    let dt = DType::F16;
    let t = |t: &Tensor| t.transpose(0, 1).unwrap();
    let (w, x) = (Tensor::full(&ctx, &[4, 8], dt, 0.5).unwrap(), Tensor::full(&ctx, &[2, 8], dt, 0.5).unwrap());
    let y = Tensor::empty(&ctx, &[2, 4], dt).unwrap();
    let gamma = Tensor::full(&ctx, &[8], dt, 1.0).unwrap();
    let ok = RmsNormIn { weight: &gamma, eps: 1e-6 };
    rmsnorm_matmul(&ctx, &w, &t(&x), ok, &t(&y)).unwrap();
    // The weight: K elements, b's dtype, a unit stride.
    let short = Tensor::full(&ctx, &[7], dt, 1.0).unwrap();
    let err = rmsnorm_matmul(&ctx, &w, &t(&x), RmsNormIn { weight: &short, ..ok }, &t(&y)).unwrap_err();
    assert_eq!(arg_of(err), "norm.weight");
    let f32w = Tensor::full(&ctx, &[8], DType::F32, 1.0).unwrap();
    let err = rmsnorm_matmul(&ctx, &w, &t(&x), RmsNormIn { weight: &f32w, ..ok }, &t(&y)).unwrap_err();
    assert!(matches!(&err, Error::DTypeMismatch { arg, .. } if arg == "norm.weight"), "{err}");
    let wide = Tensor::full(&ctx, &[16], dt, 1.0).unwrap();
    let strided = wide.as_strided(&[8], &[2], 0).unwrap();
    let err = rmsnorm_matmul(&ctx, &w, &t(&x), RmsNormIn { weight: &strided, ..ok }, &t(&y)).unwrap_err();
    assert_eq!(arg_of(err), "norm.weight");
    // eps: finite and not negative.
    for eps in [-1e-6, f32::NAN, f32::INFINITY] {
        let err = rmsnorm_matmul(&ctx, &w, &t(&x), RmsNormIn { eps, ..ok }, &t(&y)).unwrap_err();
        assert_eq!(arg_of(err), "norm.eps", "{eps}");
    }
    // b's columns must be contiguous rows of activations (x itself, [K, N] by
    // its strides, is not).
    let xt = Tensor::full(&ctx, &[8, 2], dt, 0.5).unwrap();
    let err = rmsnorm_matmul(&ctx, &w, &xt, ok, &t(&y)).unwrap_err();
    assert_eq!(arg_of(err), "b");
    // The GLU's own checks come first.
    let odd = Tensor::full(&ctx, &[7, 8], dt, 0.5).unwrap();
    assert_eq!(arg_of(rmsnorm_matmul_silu_mul(&ctx, &odd, &t(&x), ok, &t(&y)).unwrap_err()), "a");
    // The output must not overlap the weight.
    let both = Tensor::empty(&ctx, &[8 + 8], dt).unwrap();
    let (g2, y2) = (both.narrow(0, 0, 8).unwrap(), both.narrow(0, 4, 8).unwrap().reshape(&[2, 4]).unwrap());
    let err = rmsnorm_matmul(&ctx, &w, &t(&x), RmsNormIn { weight: &g2, ..ok }, &t(&y2)).unwrap_err();
    assert!(matches!(err, Error::Overlap { .. }), "{err}");
}

#[test]
fn the_qkv_projection_with_rope_equals_matmul_then_rope_append() {
    use decode_kernels::ops::{matmul_rope_append, rope_append, RopeOptions, RopeTargets};
    let ctx = Context::cpu();
    let (hq, hkv, d, k, cap, pos) = (4, 2, 8, 24, 6, 5);
    let width = (hq + 2 * hkv) * d;
    let t = |t: &Tensor| t.transpose(0, 1).unwrap();
    let dtype = DType::F32;
    let w = Tensor::from_f32(&ctx, &values(width * k, 6), &[width, k], dtype).unwrap();
    let x = Tensor::from_f32(&ctx, &values(k, 7), &[1, k], dtype).unwrap();
    let bias = Tensor::from_f32(&ctx, &values(width, 8), &[width], dtype).unwrap();
    let gamma = Tensor::from_f32(&ctx, &values(k, 9), &[k], dtype).unwrap();
    let opts = RopeOptions { hq, hkv, pos, theta: 1e4, llama3: None };
    let outs = || {
        (
            Tensor::full(&ctx, &[1, hq, d], dtype, 7.0).unwrap(),
            Tensor::full(&ctx, &[1, hkv, cap, d], dtype, 7.0).unwrap(),
            Tensor::full(&ctx, &[1, hkv, cap, d], dtype, 7.0).unwrap(),
        )
    };
    for norm in [None, Some(RmsNormIn { weight: &gamma, eps: 1e-6 })] {
        let (q, kc, vc) = outs();
        let targets = RopeTargets { bias: Some(&bias), q_out: &q, k_cache: &kc, v_cache: &vc, positions: None, opts };
        matmul_rope_append(&ctx, &w, &t(&x), norm, &targets).unwrap();
        let (q2, kc2, vc2) = outs();
        let qkv = Tensor::empty(&ctx, &[1, width], dtype).unwrap();
        match norm {
            Some(nm) => rmsnorm_matmul(&ctx, &w, &t(&x), nm, &t(&qkv)).unwrap(),
            None => matmul(&ctx, 1.0, &w, &t(&x), 0.0, &t(&qkv)).unwrap(),
        }
        rope_append(&ctx, &qkv, Some(&bias), &q2, &kc2, &vc2, &opts).unwrap();
        for (a, b) in [(&q, &q2), (&kc, &kc2), (&vc, &vc2)] {
            assert_eq!(a.to_f32_vec().unwrap(), b.to_f32_vec().unwrap(), "norm {}", norm.is_some());
        }
        // Slot pos written, the others not.
        let kv = kc.to_f32_vec().unwrap();
        assert!(kv[pos * d..(pos + 1) * d].iter().any(|&v| v != 7.0));
        assert!(kv[..pos * d].iter().all(|&v| v == 7.0));
    }
    // a's rows must be the fused QKV width the options describe.
    let (q, kc, vc) = outs();
    let short = w.narrow(0, 0, width - d).unwrap();
    let targets = RopeTargets { bias: None, q_out: &q, k_cache: &kc, v_cache: &vc, positions: None, opts };
    assert!(matmul_rope_append(&ctx, &short, &t(&x), None, &targets).is_err());
    let flat = Tensor::full(&ctx, &[width * k], dtype, 0.5).unwrap();
    assert_eq!(arg_of(matmul_rope_append(&ctx, &flat, &t(&x), None, &targets).unwrap_err()), "a");
    // An output over an input: the fused launch would read what it writes.
    let over = w.reshape(&[width * k]).unwrap().narrow(0, 0, hq * d).unwrap().reshape(&[1, hq, d]).unwrap();
    let targets = RopeTargets { q_out: &over, ..targets };
    let err = matmul_rope_append(&ctx, &w, &t(&x), None, &targets).unwrap_err();
    assert!(matches!(&err, Error::Overlap { output, input, .. } if output == "q_out" && input == "a"), "{err}");
}

#[test]
fn the_quantized_qkv_projection_with_rope_equals_quant_matmul_then_rope_append() {
    use decode_kernels::dtype::QuantKind;
    use decode_kernels::ops::{quant_matmul, quant_matmul_rope_append, rope_append_ragged, RopeOptions, RopeTargets};
    use decode_kernels::tensor::QuantMatrix;
    use decode_kernels::Indices;
    let ctx = Context::cpu();
    let (hq, hkv, d, k, cap, n) = (4, 2, 32, 256, 6, 2);
    let width = (hq + 2 * hkv) * d;
    let dtype = DType::F16;
    // Q and K heads in Q4_K, V heads in Q6_K (a Q4_K_M file's split).
    let qk = QuantMatrix::random(&ctx, QuantKind::Q4_K, (hq + hkv) * d, k, 1).unwrap();
    let v = QuantMatrix::random(&ctx, QuantKind::Q6_K, hkv * d, k, 2).unwrap();
    let x = Tensor::from_f32(&ctx, &values(n * k, 7), &[n, k], dtype).unwrap();
    let bias = Tensor::from_f32(&ctx, &values(width, 8), &[width], dtype).unwrap();
    let positions = Indices::from_slice(&ctx, &[5, 2]).unwrap();
    let opts = RopeOptions { hq, hkv, pos: 0, theta: 1e4, llama3: None };
    let outs = || {
        (
            Tensor::full(&ctx, &[n, hq, d], dtype, 7.0).unwrap(),
            Tensor::full(&ctx, &[n, hkv, cap, d], dtype, 7.0).unwrap(),
            Tensor::full(&ctx, &[n, hkv, cap, d], dtype, 7.0).unwrap(),
        )
    };
    // On the CPU the op runs the composed ops, so this pins its plumbing
    // (parts' rows, positions, bias); the GPU's fused launches are checked
    // against the CPU and against these ops on the GPU by `check --filter
    // quant_matmul_rope_append`.
    let (q, kc, vc) = outs();
    let targets =
        RopeTargets { bias: Some(&bias), q_out: &q, k_cache: &kc, v_cache: &vc, positions: Some(&positions), opts };
    quant_matmul_rope_append(&ctx, &[&qk, &v], &x, None, &targets).unwrap();
    let (q2, kc2, vc2) = outs();
    let qkv = Tensor::empty(&ctx, &[n, width], dtype).unwrap();
    quant_matmul(&ctx, &qk, &x, &qkv.narrow(1, 0, (hq + hkv) * d).unwrap(), 1.0, 0.0).unwrap();
    quant_matmul(&ctx, &v, &x, &qkv.narrow(1, (hq + hkv) * d, hkv * d).unwrap(), 1.0, 0.0).unwrap();
    rope_append_ragged(&ctx, &qkv, Some(&bias), &q2, &kc2, &vc2, &positions, &opts).unwrap();
    for (a, b) in [(&q, &q2), (&kc, &kc2), (&vc, &vc2)] {
        assert_eq!(a.to_f32_vec().unwrap(), b.to_f32_vec().unwrap());
    }
    // Sequence 1's slot 2 written, its slot 3 not.
    let kv = vc.to_f32_vec().unwrap();
    let seq1 = hkv * cap * d;
    assert!(kv[seq1 + 2 * d..seq1 + 3 * d].iter().any(|&v| v != 7.0));
    assert!(kv[seq1 + 3 * d..seq1 + 4 * d].iter().all(|&v| v == 7.0));
    // Errors name their argument: no parts, a part not of whole heads, x not [N, K].
    assert_eq!(arg_of(quant_matmul_rope_append(&ctx, &[], &x, None, &targets).unwrap_err()), "parts");
    let odd = QuantMatrix::random(&ctx, QuantKind::Q4_K, (hq + hkv) * d - 8, k, 3).unwrap();
    let eight = QuantMatrix::random(&ctx, QuantKind::Q6_K, hkv * d + 8, k, 4).unwrap();
    assert_eq!(arg_of(quant_matmul_rope_append(&ctx, &[&odd, &eight], &x, None, &targets).unwrap_err()), "parts");
    let short = QuantMatrix::random(&ctx, QuantKind::Q6_K, hkv * d, 2 * k, 5).unwrap();
    assert_eq!(arg_of(quant_matmul_rope_append(&ctx, &[&qk, &short], &x, None, &targets).unwrap_err()), "parts");
    let none = QuantMatrix::random(&ctx, QuantKind::Q6_K, 0, k, 6).unwrap();
    assert_eq!(arg_of(quant_matmul_rope_append(&ctx, &[&qk, &v, &none], &x, None, &targets).unwrap_err()), "parts");
    let flat = x.reshape(&[n * k]).unwrap();
    assert_eq!(arg_of(quant_matmul_rope_append(&ctx, &[&qk, &v], &flat, None, &targets).unwrap_err()), "x");
    // Rows that do not make (hq + 2 hkv) d: rope_append's check of the projection's width.
    assert!(quant_matmul_rope_append(&ctx, &[&qk], &x, None, &targets).is_err());
}

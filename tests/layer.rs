//! The decoder-layer ops on the CPU backend: hand-checked values, and every
//! validation error naming its argument.

use decode_kernels::ops::{self, RopeOptions};
use decode_kernels::{Context, DType, Tensor};

fn t(ctx: &Context, v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_f32(ctx, v, shape, DType::F32).unwrap()
}

fn err(r: decode_kernels::Result<()>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn rmsnorm_silu_and_rope_by_hand() {
    let ctx = Context::cpu();
    // Row [3, 4]: mean square 12.5; weights [1, 2].
    let x = t(&ctx, &[3.0, 4.0], &[1, 2]);
    let y = Tensor::empty(&ctx, &[1, 2], DType::F32).unwrap();
    ops::rmsnorm(&ctx, &x, &t(&ctx, &[1.0, 2.0], &[2]), 0.0, &y).unwrap();
    let r = 1.0 / 12.5f32.sqrt();
    let got = y.to_f32_vec().unwrap();
    assert!((got[0] - 3.0 * r).abs() < 1e-6 && (got[1] - 8.0 * r).abs() < 1e-6, "{got:?}");
    // silu(0) * 5 = 0, silu(2) * 3 = 2 / (1 + e^-2) * 3.
    let h = Tensor::empty(&ctx, &[1, 2], DType::F32).unwrap();
    ops::silu_mul(&ctx, &t(&ctx, &[0.0, 2.0, 5.0, 3.0], &[1, 4]), &h).unwrap();
    let got = h.to_f32_vec().unwrap();
    assert!(got[0].abs() < 1e-7 && (got[1] - 6.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-5, "{got:?}");
    // RoPE, one Q, K and V head of d = 2 at position 1 with theta 10: angle 1 rad.
    let qkv = t(&ctx, &[1.0, 0.0, 0.0, 1.0, 7.0, 8.0], &[1, 6]);
    let q = Tensor::empty(&ctx, &[1, 1, 2], DType::F32).unwrap();
    let kc = Tensor::full(&ctx, &[1, 1, 3, 2], DType::F32, -1.0).unwrap();
    let vc = Tensor::full(&ctx, &[1, 1, 3, 2], DType::F32, -1.0).unwrap();
    ops::rope_append(&ctx, &qkv, None, &q, &kc, &vc, &RopeOptions { hq: 1, hkv: 1, pos: 1, theta: 10.0, llama3: None })
        .unwrap();
    let (s, c) = 1f32.sin_cos();
    let q = q.to_f32_vec().unwrap();
    assert!((q[0] - c).abs() < 1e-6 && (q[1] - s).abs() < 1e-6, "{q:?}");
    let k = kc.to_f32_vec().unwrap();
    assert!((k[2] + s).abs() < 1e-6 && (k[3] - c).abs() < 1e-6, "slot 1 holds K rotated: {k:?}");
    assert_eq!((k[0], k[1], k[4], k[5]), (-1.0, -1.0, -1.0, -1.0), "other slots untouched");
    assert_eq!(vc.to_f32_vec().unwrap(), vec![-1.0, -1.0, 7.0, 8.0, -1.0, -1.0]);
}

#[test]
fn layer_op_errors_name_the_argument() {
    let ctx = Context::cpu();
    let x = t(&ctx, &[1.0; 8], &[2, 4]);
    let w = t(&ctx, &[1.0; 4], &[4]);
    let y = Tensor::empty(&ctx, &[2, 4], DType::F32).unwrap();
    let e = err(ops::rmsnorm(&ctx, &x, &t(&ctx, &[1.0; 3], &[3]), 1e-6, &y));
    assert!(e.contains("rmsnorm") && e.contains("`w`"), "{e}");
    let e = err(ops::rmsnorm(&ctx, &x, &w, 1e-6, &Tensor::empty(&ctx, &[2, 5], DType::F32).unwrap()));
    assert!(e.contains("`y`"), "{e}");
    let e = err(ops::rmsnorm(&ctx, &x, &w, f32::NAN, &y));
    assert!(e.contains("`eps`") && e.contains("finite"), "{e}");
    let e = err(ops::rmsnorm(
        &ctx,
        &x.transpose(0, 1).unwrap(),
        &t(&ctx, &[1.0; 2], &[2]),
        1e-6,
        &Tensor::empty(&ctx, &[4, 2], DType::F32).unwrap(),
    ));
    assert!(e.contains("`x`") && e.contains("unit stride"), "{e}");

    // RoPE: 2 Q heads, 1 KV head, d = 4: qkv is 16 wide; caches hold 3 slots.
    let qkv = t(&ctx, &[0.5; 16], &[1, 16]);
    let q = Tensor::empty(&ctx, &[1, 2, 4], DType::F32).unwrap();
    let kc = Tensor::empty(&ctx, &[1, 1, 3, 4], DType::F32).unwrap();
    let vc = Tensor::empty(&ctx, &[1, 1, 3, 4], DType::F32).unwrap();
    let o = RopeOptions { hq: 2, hkv: 1, pos: 2, theta: 1e4, llama3: None };
    ops::rope_append(&ctx, &qkv, None, &q, &kc, &vc, &o).unwrap();
    let rope = |qkv: &Tensor, bias: Option<&Tensor>, q: &Tensor, kc: &Tensor, o: RopeOptions| {
        err(ops::rope_append(&ctx, qkv, bias, q, kc, &vc, &o))
    };
    let e = rope(&qkv, None, &q, &kc, RopeOptions { pos: 3, ..o });
    assert!(e.contains("`pos`") && e.contains("capacity 3"), "{e}");
    let e = rope(&qkv, None, &q, &kc, RopeOptions { hkv: 3, ..o });
    assert!(e.contains("`hq`") && e.contains("multiple of hkv"), "{e}");
    let e = rope(&qkv, None, &q, &kc, RopeOptions { theta: 1.0, ..o });
    assert!(e.contains("`theta`"), "{e}");
    let bad = ops::Llama3Rope { factor: 8.0, low_freq_factor: 4.0, high_freq_factor: 1.0, original_max: 8192.0 };
    let e = rope(&qkv, None, &q, &kc, RopeOptions { llama3: Some(bad), ..o });
    assert!(e.contains("`llama3`") && e.contains("low_freq_factor < high_freq_factor"), "{e}");
    let e = rope(&t(&ctx, &[0.5; 12], &[1, 12]), None, &q, &kc, o);
    assert!(e.contains("`qkv`"), "{e}");
    let e = rope(&qkv, Some(&t(&ctx, &[0.0; 8], &[8])), &q, &kc, o);
    assert!(e.contains("`bias`"), "{e}");
    let e = rope(&qkv, None, &Tensor::empty(&ctx, &[1, 2, 3], DType::F32).unwrap(), &kc, o);
    assert!(e.contains("`q_out`") && e.contains("even head size"), "{e}");
    let e = rope(&qkv, None, &q, &Tensor::empty(&ctx, &[1, 2, 3, 4], DType::F32).unwrap(), o);
    assert!(e.contains("`k_cache`"), "{e}");
    let e = err(ops::rope_append(&ctx, &qkv, None, &q, &kc, &kc, &o));
    assert!(e.contains("v_cache") && e.contains("overlaps"), "{e}");

    let e = err(ops::silu_mul(&ctx, &t(&ctx, &[1.0; 6], &[1, 6]), &Tensor::empty(&ctx, &[1, 4], DType::F32).unwrap()));
    assert!(e.contains("silu_mul") && e.contains("`gu`"), "{e}");

    let e = err(ops::fill_uniform(&ctx, &x.transpose(0, 1).unwrap(), 1, 0.0, 1.0));
    assert!(e.contains("fill_uniform") && e.contains("contiguous"), "{e}");
    let e = err(ops::fill_uniform(&ctx, &x, 1, 1.0, 0.0));
    assert!(e.contains("lo, hi") && e.contains("lo <= hi"), "{e}");
}

/// Llama 3.1's scaling worked by hand for d = 4 (pairs 0 and 1), theta 100,
/// original_max 32, low 1, high 4, factor 8: pair 0 turns at 1 rad per
/// position (wavelength 2 pi < 32 / 4: kept), pair 1 at 0.1 (wavelength
/// 62.8 > 32 / 1: divided by 8, so 0.0125).
#[test]
fn rope_llama3_scaling_divides_low_frequencies() {
    let ctx = Context::cpu();
    let l3 = ops::Llama3Rope { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max: 32.0 };
    let pos = 10;
    // One Q head of d = 4 holding (1, 1, 0, 0): pair i is (x_i, x_{i+2}) = (1, 0).
    let qkv = t(&ctx, &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[1, 12]);
    let q = Tensor::empty(&ctx, &[1, 1, 4], DType::F32).unwrap();
    let kc = Tensor::empty(&ctx, &[1, 1, 11, 4], DType::F32).unwrap();
    let vc = Tensor::empty(&ctx, &[1, 1, 11, 4], DType::F32).unwrap();
    let o = RopeOptions { hq: 1, hkv: 1, pos, theta: 100.0, llama3: Some(l3) };
    ops::rope_append(&ctx, &qkv, None, &q, &kc, &vc, &o).unwrap();
    let q = q.to_f32_vec().unwrap();
    let (a0, a1) = (pos as f32 * 1.0, pos as f32 * 0.1 / 8.0);
    let want = [a0.cos(), a1.cos(), a0.sin(), a1.sin()];
    for (g, w) in q.iter().zip(want) {
        assert!((g - w).abs() < 1e-5, "{q:?} against {want:?}");
    }
}

//! softmax on the CPU backend: semantics, options, in place, and every error.

use std::process::Command;

use decode_kernels::npy::{read_npy, write_npy};
use decode_kernels::ops::{softmax, Causal, SoftmaxOptions};
use decode_kernels::tensor::HostData;
use decode_kernels::{Context, DType, Tensor};

fn t(ctx: &Context, v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_f32(ctx, v, shape, DType::F32).unwrap()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn plain_scaled_causal_and_masked() {
    let c = Context::cpu();
    let x = t(&c, &[0., 0., 0., 0., (2f32).ln(), 0.], &[2, 3]);
    let y = Tensor::empty(&c, &[2, 3], DType::F32).unwrap();
    softmax(&c, &x, &y, &SoftmaxOptions::default()).unwrap();
    assert!(close(&y.to_f32_vec().unwrap(), &[1. / 3., 1. / 3., 1. / 3., 0.25, 0.5, 0.25]));
    // scale 0: uniform.
    softmax(&c, &x, &y, &SoftmaxOptions { scale: 0.0, ..Default::default() }).unwrap();
    assert!(close(&y.to_f32_vec().unwrap(), &[1. / 3.; 6]));
    // Causal, q_len 2, offset 0: row 0 sees one key, row 1 sees two.
    let causal = SoftmaxOptions { causal: Some(Causal { q_len: 2, offset: 0 }), ..Default::default() };
    softmax(&c, &x, &y, &causal).unwrap();
    assert!(close(&y.to_f32_vec().unwrap(), &[1., 0., 0., 1. / 3., 2. / 3., 0.]));
    // A mask broadcast over rows (q_len 1): -inf removes a column.
    let m = t(&c, &[0., f32::NEG_INFINITY, 0.], &[1, 3]);
    softmax(&c, &x, &y, &SoftmaxOptions { mask: Some(&m), ..Default::default() }).unwrap();
    assert!(close(&y.to_f32_vec().unwrap(), &[0.5, 0., 0.5, 0.5, 0., 0.5]));
}

#[test]
fn in_place_and_edges() {
    let c = Context::cpu();
    let x = t(&c, &[1., 1., f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NAN, 0.], &[3, 2]);
    softmax(&c, &x, &x, &SoftmaxOptions::default()).unwrap();
    let v = x.to_f32_vec().unwrap();
    assert_eq!(&v[..4], &[0.5, 0.5, 0.0, 0.0], "all -inf gives zeros, not NaN");
    assert!(v[4].is_nan() && v[5].is_nan(), "a NaN gives a NaN row");
    // f16 near its maximum with scale > 1 does not overflow: math is in f32/f64.
    let h = Tensor::from_f32(&c, &[65504., 65472.], &[1, 2], DType::F16).unwrap();
    let o = Tensor::empty(&c, &[1, 2], DType::F16).unwrap();
    softmax(&c, &h, &o, &SoftmaxOptions { scale: 4.0, ..Default::default() }).unwrap();
    let r = o.to_f32_vec().unwrap();
    assert!(r.iter().all(|x| x.is_finite()) && r[0] > 0.99, "{r:?}");
}

#[test]
fn bad_arguments_are_named() {
    let c = Context::cpu();
    let x = t(&c, &[0.; 6], &[2, 3]);
    let msg = |r: decode_kernels::Result<()>| r.unwrap_err().to_string();
    let e = msg(softmax(&c, &x, &t(&c, &[0.; 6], &[3, 2]), &SoftmaxOptions::default()));
    assert!(e.contains("softmax: argument `y`: expected shape [2, 3]"), "{e}");
    let e = msg(softmax(&c, &t(&c, &[0.; 6], &[6]), &t(&c, &[0.; 6], &[6]), &SoftmaxOptions::default()));
    assert!(e.contains("argument `x`: expected a 2-D view"), "{e}");
    let y16 = Tensor::empty(&c, &[2, 3], DType::F16).unwrap();
    let e = msg(softmax(&c, &x, &y16, &SoftmaxOptions::default()));
    assert!(e.contains("argument `y` has dtype f16, expected f32"), "{e}");
    let y = Tensor::empty(&c, &[2, 3], DType::F32).unwrap();
    let e = msg(softmax(
        &c,
        &x,
        &y,
        &SoftmaxOptions { causal: Some(Causal { q_len: 0, offset: 0 }), ..Default::default() },
    ));
    assert!(e.contains("causal.q_len"), "{e}");
    let e = msg(softmax(
        &c,
        &x,
        &y,
        &SoftmaxOptions { causal: Some(Causal { q_len: 3, offset: 0 }), ..Default::default() },
    ));
    assert!(e.contains("divisible by q_len = 3"), "{e}");
    let m = t(&c, &[0.; 4], &[1, 4]);
    let e = msg(softmax(&c, &x, &y, &SoftmaxOptions { mask: Some(&m), ..Default::default() }));
    assert!(e.contains("argument `mask`: expected shape [1, 3]"), "{e}");
    let m2 = t(&c, &[0.; 3], &[1, 3]);
    let e = msg(softmax(
        &c,
        &x,
        &y,
        &SoftmaxOptions { mask: Some(&m2), causal: Some(Causal { q_len: 2, offset: 0 }), ..Default::default() },
    ));
    assert!(e.contains("argument `mask`: expected shape [2, 3]"), "{e}");
    let buf = t(&c, &[0.; 12], &[12]);
    let e = msg(softmax(
        &c,
        &buf.as_strided(&[2, 3], &[3, 1], 0).unwrap(),
        &buf.as_strided(&[2, 3], &[3, 1], 2).unwrap(),
        &SoftmaxOptions::default(),
    ));
    assert!(e.contains("output `y` partially overlaps input `x`"), "{e}");
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_decode-kernels"))
}

#[test]
fn exec_softmax_and_env_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (x, m, o) = (dir.path().join("x.npy"), dir.path().join("m.npy"), dir.path().join("o.npy"));
    write_npy(&x, &[2, 2], &HostData::F32(vec![0., 0., 0., 0.])).unwrap();
    write_npy(&m, &[2, 2], &HostData::F32(vec![0., 0., 0., 0.])).unwrap();
    let out = bin()
        .args(["exec", "softmax", "--causal", "--q-len", "2", "--offset", "0", "--device", "cpu"])
        .arg("--x")
        .arg(&x)
        .arg("--mask")
        .arg(&m)
        .arg("--out")
        .arg(&o)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_npy(&o, None).unwrap().data, HostData::F32(vec![1., 0., 0.5, 0.5]));
    let out = bin()
        .args(["exec", "softmax", "--device", "cpu"])
        .arg("--x")
        .arg(&x)
        .arg("--out")
        .arg(&o)
        .env("DK_SOFTMAX_BACKEND", "warp")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("DK_SOFTMAX_BACKEND=\"warp\"") && e.contains("auto, vec, block, split"), "{e}");
    let out = bin()
        .args(["exec", "softmax", "--causal", "--device", "cpu"])
        .arg("--x")
        .arg(&x)
        .arg("--out")
        .arg(&o)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--q-len"));
}

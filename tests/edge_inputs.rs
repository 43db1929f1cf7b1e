//! Edge inputs of issue 13 on the CPU backend, through the library and `exec`:
//! offsets at the ends of their integer types (item 3), non-finite and
//! out-of-range scalars (item 6), contradictory or degenerate options (item 7)
//! and empty arrays with a zero in any dimension (item 8).

use std::path::{Path, PathBuf};
use std::process::Command;

use decode_kernels::dispatch::sdpa::{SdpaBackend, SdpaPrefs};
use decode_kernels::npy::{read_npy, write_npy};
use decode_kernels::ops::{self, Causal, MatmulOptions, RopeOptions, SdpaOptions, SoftmaxOptions};
use decode_kernels::tensor::HostData;
use decode_kernels::{Context, DType, Tensor};

fn t(ctx: &Context, v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_f32(ctx, v, shape, DType::F32).unwrap()
}

/// Deterministic values in [-1, 1) for `n` elements.
fn vals(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed * 97) >> 8) % 2000) as f32 / 1000.0 - 1.0)
        .collect()
}

/// Runs `exec OP args..` on the CPU backend; (exit code, stderr).
fn exec(op: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_decode-kernels"));
    c.args(["exec", op]).args(args).args(["--device", "cpu"]);
    c.env_remove("DK_SDPA_BACKEND")
        .env_remove("DK_SDPA_KERNEL")
        .env_remove("DK_SOFTMAX_BACKEND")
        .env_remove("DK_MATMUL_BACKEND");
    let out = c.output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn npy(dir: &Path, name: &str, shape: &[usize], v: &[f32]) -> String {
    let p = dir.join(name);
    write_npy(&p, shape, &HostData::from_f64_iter(DType::F32, v.iter().map(|&x| x as f64))).unwrap();
    p.to_str().unwrap().to_string()
}

fn read(p: &str) -> (Vec<usize>, Vec<f32>) {
    let a = read_npy(&PathBuf::from(p), Some(DType::F32)).unwrap();
    let v = match a.data {
        HostData::F32(v) => v,
        other => panic!("expected f32, got {other:?}"),
    };
    (a.shape, v)
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-6, "element {i}: {x} vs {y}\n{a:?}\n{b:?}");
    }
}

// ---- item 3: offsets at the ends of their types ----

#[test]
fn softmax_causal_offsets_past_the_last_column_see_every_column() {
    let c = Context::cpu();
    let x = t(&c, &vals(12, 1), &[4, 3]);
    let plain = Tensor::empty(&c, &[4, 3], DType::F32).unwrap();
    ops::softmax(&c, &x, &plain, &SoftmaxOptions::default()).unwrap();
    for offset in [2, 3, 1 << 40, usize::MAX - 1, usize::MAX] {
        let y = Tensor::empty(&c, &[4, 3], DType::F32).unwrap();
        let o = SoftmaxOptions { causal: Some(Causal { q_len: 2, offset }), ..Default::default() };
        ops::softmax(&c, &x, &y, &o).unwrap();
        close(&y.to_f32_vec().unwrap(), &plain.to_f32_vec().unwrap());
    }
}

#[test]
fn sdpa_causal_offsets_at_the_ends_of_i64() {
    let c = Context::cpu();
    let (lq, lk, d) = (2, 5, 64);
    let q = t(&c, &vals(lq * d, 1), &[1, 1, lq, d]);
    let k = t(&c, &vals(lk * d, 2), &[1, 1, lk, d]);
    let v = t(&c, &vals(lk * d, 3), &[1, 1, lk, d]);
    let run = |o: SdpaOptions| {
        let out = Tensor::empty(&c, &[1, 1, lq, d], DType::F32).unwrap();
        ops::sdpa(&c, &q, &k, &v, &out, &o).unwrap();
        out.to_f32_vec().unwrap()
    };
    let full = run(SdpaOptions::default());
    let composed = Some(SdpaPrefs { backend: SdpaBackend::Composed, ..Default::default() });
    for offset in [lk as i64, i64::MAX - 1, i64::MAX] {
        close(&run(SdpaOptions { causal: true, offset: Some(offset), ..Default::default() }), &full);
        // The composed path (matmul, causal softmax, matmul) agrees.
        let o = SdpaOptions { causal: true, offset: Some(offset), prefs: composed, ..Default::default() };
        close(&run(o), &full);
    }
    for offset in [-(lq as i64), i64::MIN + 1, i64::MIN] {
        let out = run(SdpaOptions { causal: true, offset: Some(offset), ..Default::default() });
        assert!(out.iter().all(|&x| x == 0.0), "offset {offset}: no key visible gives zeros");
    }
}

#[test]
fn geometries_hand_both_backends_clamped_offsets() {
    // The kernels read these as i64 and add a row index: kept in range.
    let c = Context::cpu();
    let x = t(&c, &vals(12, 1), &[4, 3]);
    for (offset, want, visible) in [(usize::MAX, 3, [3, 3, 3, 3]), (3, 3, [3, 3, 3, 3]), (1, 1, [2, 3, 2, 3])] {
        let o = SoftmaxOptions { causal: Some(Causal { q_len: 2, offset }), ..Default::default() };
        let g = ops::softmax::geometry(c.device(), &x, &x, &o).unwrap();
        assert_eq!(g.causal_offset, Some(want));
        assert_eq!((0..4).map(|r| g.visible(r)).collect::<Vec<_>>(), visible);
    }
    let d = 64;
    let q = t(&c, &vals(2 * d, 1), &[1, 1, 2, d]);
    let k = t(&c, &vals(5 * d, 2), &[1, 1, 5, d]);
    let o = Tensor::empty(&c, &[1, 1, 2, d], DType::F32).unwrap();
    for (offset, want, kv_len) in
        [(i64::MAX, 5, 5), (5, 5, 5), (1, 1, 3), (-1, -1, 1), (-2, -2, 0), (i64::MIN, -2, 0), (i64::MIN + 1, -2, 0)]
    {
        let opts = SdpaOptions { causal: true, offset: Some(offset), ..Default::default() };
        let g = ops::sdpa::geometry(c.device(), &q, &k, &k, &o, &opts).unwrap();
        assert_eq!((g.offset, g.kv_len()), (want, kv_len), "offset {offset}");
    }
}

#[test]
fn exec_offsets_at_the_ends_of_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let x = npy(dir.path(), "x.npy", &[4, 3], &vals(12, 1));
    let (plain, causal) = (dir.path().join("p.npy"), dir.path().join("c.npy"));
    let (plain, causal) = (plain.to_str().unwrap(), causal.to_str().unwrap());
    let (code, e) = exec("softmax", &["--x", &x, "--out", plain]);
    assert_eq!(code, Some(0), "{e}");
    let (code, e) =
        exec("softmax", &["--x", &x, "--out", causal, "--causal", "--q-len", "2", "--offset", "18446744073709551615"]);
    assert_eq!(code, Some(0), "{e}");
    close(&read(causal).1, &read(plain).1);

    let (lq, lk, d) = (3, 4, 64);
    let q = npy(dir.path(), "q.npy", &[1, 2, lq, d], &vals(2 * lq * d, 1));
    let k = npy(dir.path(), "k.npy", &[1, 1, lk, d], &vals(lk * d, 2));
    let v = npy(dir.path(), "v.npy", &[1, 1, lk, d], &vals(lk * d, 3));
    let kv = ["--q", &q, "--k", &k, "--v", &v];
    let (code, e) = exec("sdpa", &[&kv[..], &["--out", plain]].concat());
    assert_eq!(code, Some(0), "{e}");
    let (code, e) =
        exec("sdpa", &[&kv[..], &["--out", causal, "--causal", "--offset", "9223372036854775807"]].concat());
    assert_eq!(code, Some(0), "{e}");
    close(&read(causal).1, &read(plain).1);
    let (code, e) = exec("sdpa", &[&kv[..], &["--out", causal, "--causal", "--offset=-9223372036854775808"]].concat());
    assert_eq!(code, Some(0), "{e}");
    assert!(read(causal).1.iter().all(|&x| x == 0.0));
}

// ---- item 6: one rule for scalars ----

#[test]
fn non_finite_scalars_are_rejected_by_every_op() {
    let c = Context::cpu();
    let msg = |r: decode_kernels::Result<()>| r.unwrap_err().to_string();
    let x = t(&c, &vals(6, 1), &[2, 3]);
    let y = Tensor::empty(&c, &[2, 3], DType::F32).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let e = msg(ops::softmax(&c, &x, &y, &SoftmaxOptions { scale: bad, ..Default::default() }));
        assert!(e.contains("softmax") && e.contains("`scale`") && e.contains("finite"), "{e}");
        let (a, b) = (t(&c, &vals(6, 2), &[2, 3]), t(&c, &vals(9, 3), &[3, 3]));
        let cc = t(&c, &[0.; 6], &[2, 3]);
        let e = msg(ops::matmul(&c, bad, &a, &b, 0.0, &cc));
        assert!(e.contains("matmul") && e.contains("`alpha`") && e.contains("finite"), "{e}");
        let e = msg(ops::matmul(&c, 1.0, &a, &b, bad, &cc));
        assert!(e.contains("`beta`") && e.contains("finite"), "{e}");
        // Also when the problem is empty: the rule does not depend on the shapes.
        let (a0, c0) = (t(&c, &[], &[0, 3]), t(&c, &[], &[0, 3]));
        assert!(msg(ops::matmul(&c, bad, &a0, &b, 0.0, &c0)).contains("`alpha`"));
        let w = t(&c, &[1.; 3], &[3]);
        let e = msg(ops::rmsnorm(&c, &x, &w, bad, &y));
        assert!(e.contains("rmsnorm") && e.contains("`eps`") && e.contains("finite"), "{e}");
        let d = 64;
        let q = t(&c, &vals(d, 1), &[1, 1, 1, d]);
        let o = Tensor::empty(&c, &[1, 1, 1, d], DType::F32).unwrap();
        let e = msg(ops::sdpa(&c, &q, &q, &q, &o, &SdpaOptions { scale: Some(bad), ..Default::default() }));
        assert!(e.contains("sdpa") && e.contains("`scale`") && e.contains("finite"), "{e}");
        let qkv = t(&c, &vals(3 * 4, 1), &[1, 12]);
        let qo = Tensor::empty(&c, &[1, 1, 4], DType::F32).unwrap();
        let (kc, vc) = (
            Tensor::empty(&c, &[1, 1, 2, 4], DType::F32).unwrap(),
            Tensor::empty(&c, &[1, 1, 2, 4], DType::F32).unwrap(),
        );
        let ro = RopeOptions { hq: 1, hkv: 1, pos: 0, theta: bad, llama3: None };
        let e = msg(ops::rope_append(&c, &qkv, None, &qo, &kc, &vc, &ro));
        assert!(e.contains("rope_append") && e.contains("`theta`") && e.contains("finite"), "{e}");
    }
}

#[test]
fn exec_scalars_must_be_finite_and_fit_f32() {
    let dir = tempfile::tempdir().unwrap();
    let a = npy(dir.path(), "a.npy", &[2, 3], &vals(6, 1));
    let b = npy(dir.path(), "b.npy", &[3, 2], &vals(6, 2));
    let cm = npy(dir.path(), "c.npy", &[2, 2], &vals(4, 3));
    let out = dir.path().join("o.npy");
    let out = out.to_str().unwrap();
    for (opt, val) in [("--alpha", "1e39"), ("--beta", "-1e39"), ("--alpha", "1e-50")] {
        let (code, e) = exec("matmul", &["--a", &a, "--b", &b, "--c", &cm, "--out", out, opt, val]);
        assert_eq!(code, Some(2), "{opt} {val}: {e}");
        assert!(e.contains(opt) && e.contains("flows f32"), "{e}");
    }
    for (opt, val, arg) in [("--alpha", "nan", "`alpha`"), ("--beta", "inf", "`beta`"), ("--alpha", "-inf", "`alpha`")]
    {
        // `--alpha=-inf`: clap takes only numerals as negative values after a space.
        let (code, e) = exec("matmul", &["--a", &a, "--b", &b, "--c", &cm, "--out", out, &format!("{opt}={val}")]);
        assert_eq!(code, Some(1), "{opt} {val}: {e}");
        assert!(e.contains(arg) && e.contains("finite"), "{e}");
    }
    for val in ["nan", "inf", "-inf"] {
        let (code, e) = exec("softmax", &["--x", &a, "--out", out, &format!("--scale={val}")]);
        assert_eq!(code, Some(1), "{val}: {e}");
        assert!(e.contains("`scale`") && e.contains("finite"), "{e}");
    }
    let (code, e) = exec("softmax", &["--x", &a, "--out", out, "--scale", "1e39"]);
    assert!(code == Some(2) && e.contains("--scale") && e.contains("overflows f32"), "{e}");
    assert!(!Path::new(out).exists(), "no output written on an error");
}

// ---- item 7: options that were silently ignored or bent ----

#[test]
fn group_zero_and_stray_q_len() {
    // The library keeps 0 and 1 as "no grouping" (MatmulOptions::group).
    let c = Context::cpu();
    let a = t(&c, &vals(2 * 6, 1), &[2, 2, 3]);
    let b = t(&c, &vals(2 * 6, 2), &[2, 3, 2]);
    let run = |group| {
        let cc = Tensor::empty(&c, &[2, 2, 2], DType::F32).unwrap();
        ops::matmul_with(&c, 1.0, &a, &b, 0.0, &cc, &MatmulOptions { group, prefs: None }).unwrap();
        cc.to_f32_vec().unwrap()
    };
    close(&run(0), &run(1));

    // The command line rejects 0, and --q-len or --offset without --causal.
    let dir = tempfile::tempdir().unwrap();
    let a = npy(dir.path(), "a.npy", &[2, 3], &vals(6, 1));
    let b = npy(dir.path(), "b.npy", &[3, 2], &vals(6, 2));
    let out = dir.path().join("o.npy");
    let out = out.to_str().unwrap();
    let (code, e) = exec("matmul", &["--a", &a, "--b", &b, "--out", out, "--group", "0"]);
    assert!(code == Some(2) && e.contains("--group") && e.contains("from 1"), "{e}");
    let (code, e) = exec("matmul", &["--a", &a, "--b", &b, "--out", out, "--group", "1"]);
    assert_eq!(code, Some(0), "{e}");
    for extra in [&["--q-len", "2"][..], &["--offset", "1"], &["--q-len", "2", "--offset", "1"]] {
        let (code, e) = exec("softmax", &[&["--x", &a, "--out", out][..], extra].concat());
        assert!(code == Some(2) && e.contains("--causal"), "{extra:?}: {e}");
    }
}

#[test]
fn a_mask_with_no_rows_needs_an_empty_input() {
    let c = Context::cpu();
    let x = t(&c, &vals(6, 1), &[2, 3]);
    let y = Tensor::empty(&c, &[2, 3], DType::F32).unwrap();
    let m = t(&c, &[], &[0, 3]);
    let e = ops::softmax(&c, &x, &y, &SoftmaxOptions { mask: Some(&m), ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("`mask`") && e.to_string().contains("at least one row"), "{e}");
    let (x0, y0) = (t(&c, &[], &[0, 3]), t(&c, &[], &[0, 3]));
    ops::softmax(&c, &x0, &y0, &SoftmaxOptions { mask: Some(&m), ..Default::default() }).unwrap();
}

// ---- item 8: empty in, empty out ----

#[test]
fn empty_arrays_through_every_op() {
    let c = Context::cpu();
    let e = |shape: &[usize]| Tensor::empty(&c, shape, DType::F32).unwrap();
    for shape in [&[4, 0][..], &[0, 4], &[0, 0], &[2, 0, 3], &[4, 2, 0, 1]] {
        ops::copy(&c, &e(shape), &e(shape)).unwrap();
    }
    for shape in [[4, 0], [0, 4], [0, 0]] {
        ops::softmax(&c, &e(&shape), &e(&shape), &SoftmaxOptions::default()).unwrap();
        let causal = SoftmaxOptions { causal: Some(Causal { q_len: 2, offset: 1 }), ..Default::default() };
        ops::softmax(&c, &e(&shape), &e(&shape), &causal).unwrap();
        let x = e(&shape);
        ops::softmax(&c, &x, &x, &SoftmaxOptions::default()).unwrap();
        ops::rmsnorm(&c, &e(&shape), &e(&shape[1..]), 1e-6, &e(&shape)).unwrap();
        ops::silu_mul(&c, &e(&[shape[0], 2 * shape[1]]), &e(&shape)).unwrap();
    }
    // matmul: N = 0, M = 0, batch 0; K = 0 gives C = beta C.
    for (a, b, cs) in [([3, 2], [2, 0], [3, 0]), ([0, 2], [2, 3], [0, 3]), ([3, 0], [0, 0], [3, 0])] {
        ops::matmul(&c, 1.0, &e(&a), &e(&b), 0.0, &e(&cs)).unwrap();
    }
    ops::matmul(&c, 1.0, &e(&[0, 3, 2]), &e(&[0, 2, 4]), 0.0, &e(&[0, 3, 4])).unwrap();
    let cc = t(&c, &[1., 2., 3., 4., 5., 6.], &[3, 2]);
    ops::matmul(&c, 1.0, &e(&[3, 0]), &e(&[0, 2]), 0.5, &cc).unwrap();
    close(&cc.to_f32_vec().unwrap(), &[0.5, 1., 1.5, 2., 2.5, 3.]);
    // sdpa: Lq = 0, B = 0, Hq = Hkv... = 0 rejected, Lk = 0 gives zeros.
    let d = 64;
    ops::sdpa(&c, &e(&[1, 2, 0, d]), &e(&[1, 1, 5, d]), &e(&[1, 1, 5, d]), &e(&[1, 2, 0, d]), &Default::default())
        .unwrap();
    ops::sdpa(&c, &e(&[0, 2, 3, d]), &e(&[0, 1, 5, d]), &e(&[0, 1, 5, d]), &e(&[0, 2, 3, d]), &Default::default())
        .unwrap();
    let out = t(&c, &vec![7.; 2 * d], &[1, 1, 2, d]);
    ops::sdpa(&c, &e(&[1, 1, 2, d]), &e(&[1, 1, 0, d]), &e(&[1, 1, 0, d]), &out, &Default::default()).unwrap();
    assert!(out.to_f32_vec().unwrap().iter().all(|&x| x == 0.0), "no key: zeros");
    // rope_append with no tokens.
    let o = RopeOptions { hq: 2, hkv: 1, pos: 0, theta: 1e4, llama3: None };
    ops::rope_append(&c, &e(&[0, 16]), None, &e(&[0, 2, 4]), &e(&[0, 1, 3, 4]), &e(&[0, 1, 3, 4]), &o).unwrap();
}

#[test]
fn exec_empty_arrays_give_empty_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.npy");
    let out = out.to_str().unwrap();
    let x = npy(dir.path(), "x.npy", &[4, 0], &[]);
    for op in ["copy", "softmax"] {
        let (code, e) = exec(op, &["--x", &x, "--out", out]);
        assert_eq!(code, Some(0), "{op}: {e}");
        assert_eq!(read(out), (vec![4, 0], vec![]));
    }
    let (code, e) = exec("softmax", &["--x", &x, "--out", out, "--causal", "--q-len", "2"]);
    assert_eq!(code, Some(0), "{e}");
    let a = npy(dir.path(), "a.npy", &[3, 2], &vals(6, 1));
    let b = npy(dir.path(), "b.npy", &[2, 0], &[]);
    let (code, e) = exec("matmul", &["--a", &a, "--b", &b, "--out", out]);
    assert_eq!(code, Some(0), "{e}");
    assert_eq!(read(out), (vec![3, 0], vec![]));
    let d = 64;
    let q = npy(dir.path(), "q.npy", &[1, 2, 0, d], &[]);
    let k = npy(dir.path(), "k.npy", &[1, 1, 5, d], &vals(5 * d, 2));
    let (code, e) = exec("sdpa", &["--q", &q, "--k", &k, "--v", &k, "--out", out, "--causal"]);
    assert_eq!(code, Some(0), "{e}");
    assert_eq!(read(out), (vec![1, 2, 0, d], vec![]));
}

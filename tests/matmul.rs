//! matmul on the CPU backend: semantics against hand-computed results, batch,
//! broadcast and group, beta == 0 over NaN, and every validation error.

use std::process::Command;

use decode_kernels::dispatch::matmul::{MatmulBackend, MatmulPrefs};
use decode_kernels::npy::{read_npy, write_npy};
use decode_kernels::ops::{matmul, matmul_with, MatmulOptions};
use decode_kernels::tensor::HostData;
use decode_kernels::{Context, DType, Tensor};

fn t(ctx: &Context, v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_f32(ctx, v, shape, DType::F32).unwrap()
}

#[test]
fn small_product_alpha_beta() {
    let c = Context::cpu();
    let a = t(&c, &[1., 2., 3., 4., 5., 6.], &[2, 3]);
    let b = t(&c, &[1., 0., 0., 1., 1., 1.], &[3, 2]);
    let out = t(&c, &[10., 20., 30., 40.], &[2, 2]);
    matmul(&c, 2.0, &a, &b, 0.5, &out).unwrap();
    // A·B = [[4, 5], [10, 11]]; 2*AB + 0.5*C
    assert_eq!(out.to_f32_vec().unwrap(), vec![13., 20., 35., 42.]);
}

#[test]
fn beta_zero_never_reads_c() {
    let c = Context::cpu();
    let a = t(&c, &[1., 2.], &[1, 2]);
    let b = t(&c, &[3., 4.], &[2, 1]);
    let out = t(&c, &[f32::NAN], &[1, 1]);
    matmul(&c, 1.0, &a, &b, 0.0, &out).unwrap();
    assert_eq!(out.to_f32_vec().unwrap(), vec![11.]);
}

#[test]
fn decode_layout_through_transposed_views() {
    // W [M,K], X [N,K], Y [N,M] = X·W^T: A = W, B = X^T, C = Y^T.
    let c = Context::cpu();
    let w = t(&c, &[1., 2., 3., 4., 5., 6.], &[3, 2]);
    let x = t(&c, &[1., 1., 2., -1.], &[2, 2]);
    let y = Tensor::empty(&c, &[2, 3], DType::F32).unwrap();
    matmul(&c, 1.0, &w, &x.transpose(0, 1).unwrap(), 0.0, &y.transpose(0, 1).unwrap()).unwrap();
    assert_eq!(y.to_f32_vec().unwrap(), vec![3., 7., 11., 0., 2., 4.]);
}

#[test]
fn batch_broadcast_and_group() {
    let c = Context::cpu();
    // Two A matrices (1x1), four C batches, group 2: C[b] = A[b/2] * B[b].
    let a = t(&c, &[2., 3.], &[2, 1, 1]);
    let b = t(&c, &[1., 10., 100., 1000.], &[4, 1, 1]);
    let out = Tensor::empty(&c, &[4, 1, 1], DType::F32).unwrap();
    let opts = MatmulOptions { group: 2, prefs: None };
    matmul_with(&c, 1.0, &a, &b, 0.0, &out, &opts).unwrap();
    assert_eq!(out.to_f32_vec().unwrap(), vec![2., 20., 300., 3000.]);
    // A 2-D A broadcasts over the batch; so does a batch stride of 0.
    let a2 = t(&c, &[5.], &[1, 1]);
    matmul(&c, 1.0, &a2, &b, 0.0, &out).unwrap();
    assert_eq!(out.to_f32_vec().unwrap(), vec![5., 50., 500., 5000.]);
    let a0 = a2.as_strided(&[4, 1, 1], &[0, 1, 1], 0).unwrap();
    matmul(&c, 1.0, &a0, &b, 0.0, &out).unwrap();
    assert_eq!(out.to_f32_vec().unwrap(), vec![5., 50., 500., 5000.]);
}

#[test]
fn bad_arguments_are_named() {
    let c = Context::cpu();
    let a = t(&c, &[0.; 6], &[2, 3]);
    let b = t(&c, &[0.; 6], &[3, 2]);
    let out = Tensor::empty(&c, &[2, 2], DType::F32).unwrap();
    let msg = |r: decode_kernels::Result<()>| r.unwrap_err().to_string();
    let e = msg(matmul(&c, 1.0, &a, &t(&c, &[0.; 4], &[2, 2]), 0.0, &out));
    assert!(e.contains("matmul: argument `b`: expected 3 rows"), "{e}");
    let e = msg(matmul(&c, 1.0, &a, &b, 0.0, &Tensor::empty(&c, &[2, 3], DType::F32).unwrap()));
    assert!(e.contains("argument `c`: expected [2, 2] matrices"), "{e}");
    let e = msg(matmul(&c, 1.0, &a, &b, 0.0, &Tensor::empty(&c, &[2, 2], DType::F16).unwrap()));
    assert!(e.contains("argument `a` has dtype f32, expected f16"), "{e}");
    let e = msg(matmul(&c, 1.0, &t(&c, &[0.; 3], &[3]), &b, 0.0, &out));
    assert!(e.contains("argument `a`: expected a 2-D [rows, cols] or 3-D"), "{e}");
    let b3 = t(&c, &[0.; 12], &[2, 3, 2]);
    let c3 = Tensor::empty(&c, &[3, 2, 2], DType::F32).unwrap();
    let e = msg(matmul(&c, 1.0, &a, &b3, 0.0, &c3));
    assert!(e.contains("argument `b`: expected a batch of 3"), "{e}");
    let e = msg(matmul_with(
        &c,
        1.0,
        &a,
        &t(&c, &[0.; 18], &[3, 3, 2]),
        0.0,
        &c3,
        &MatmulOptions { group: 2, prefs: None },
    ));
    assert!(e.contains("argument `group`: expected a divisor of the batch size 3"), "{e}");
    let a3 = t(&c, &[0.; 12], &[2, 2, 3]);
    let e = msg(matmul(&c, 1.0, &a3, &t(&c, &[0.; 18], &[3, 3, 2]), 0.0, &c3));
    assert!(e.contains("argument `a`: expected a batch of 3"), "{e}");
    // C overlapping an input.
    let buf = t(&c, &[0.; 16], &[16]);
    let e = msg(matmul(
        &c,
        1.0,
        &buf.as_strided(&[2, 3], &[3, 1], 0).unwrap(),
        &b,
        0.0,
        &buf.as_strided(&[2, 2], &[2, 1], 4).unwrap(),
    ));
    assert!(e.contains("output `c` partially overlaps input `a`"), "{e}");
    // Forcing cuBLAS on the CPU backend still parses; GEMV-only prefs too.
    let forced =
        MatmulOptions { group: 1, prefs: Some(MatmulPrefs { backend: MatmulBackend::Gemv, smalln_max_n: None }) };
    matmul_with(&c, 1.0, &a, &b, 0.0, &out, &forced).unwrap();
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_decode-kernels"))
}

#[test]
fn exec_matmul_with_transposes_and_beta() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    // A^T stored [K=2, M=2], B^T stored [N=1, K=2].
    write_npy(&p("at.npy"), &[2, 2], &HostData::F32(vec![1., 3., 2., 4.])).unwrap();
    write_npy(&p("bt.npy"), &[1, 2], &HostData::F32(vec![1., 1.])).unwrap();
    write_npy(&p("c.npy"), &[2, 1], &HostData::F32(vec![100., 200.])).unwrap();
    let out = bin()
        .args(["exec", "matmul", "--alpha", "2", "--beta", "-0.5", "--transpose-a", "--transpose-b", "--device", "cpu"])
        .arg("--a")
        .arg(p("at.npy"))
        .arg("--b")
        .arg(p("bt.npy"))
        .arg("--c")
        .arg(p("c.npy"))
        .arg("--out")
        .arg(p("o.npy"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let o = read_npy(&p("o.npy"), None).unwrap();
    assert_eq!(o.shape, vec![2, 1]);
    // A = [[1,2],[3,4]], B = [1,1]^T: AB = [3, 7]; 2*AB - 0.5*C = [-44, -86]
    assert_eq!(o.data, HostData::F32(vec![-44., -86.]));
}

#[test]
fn exec_matmul_errors_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    write_npy(&p("a.npy"), &[2, 3], &HostData::F32(vec![1.; 6])).unwrap();
    write_npy(&p("b.npy"), &[2, 2], &HostData::F32(vec![1.; 4])).unwrap();
    let (a, b, o) = (p("a.npy"), p("b.npy"), p("o.npy"));
    let run = |extra: &[&str]| {
        let mut cmd = bin();
        cmd.args(["exec", "matmul", "--device", "cpu", "--a"])
            .arg(&a)
            .arg("--b")
            .arg(&b)
            .arg("--out")
            .arg(&o)
            .args(extra);
        cmd.output().unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("argument `b`: expected 3 rows"), "{e}");
    assert!(!p("o.npy").exists());
    let out = run(&["--beta", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("`--c`"));
    let out = bin()
        .args([
            "exec",
            "matmul",
            "--a",
            p("a.npy").to_str().unwrap(),
            "--b",
            p("a.npy").to_str().unwrap(),
            "--transpose-b",
            "--out",
            p("o.npy").to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .env("DK_MATMUL_BACKEND", "turbo")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("DK_MATMUL_BACKEND=\"turbo\"") && e.contains("auto, gemv, cublas"), "{e}");
    let out = bin()
        .args([
            "exec",
            "matmul",
            "--a",
            p("a.npy").to_str().unwrap(),
            "--b",
            p("a.npy").to_str().unwrap(),
            "--transpose-b",
            "--out",
            p("o.npy").to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .env("DK_MATMUL_SMALLN_MAX_N", "many")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("DK_MATMUL_SMALLN_MAX_N=\"many\""), "{e}");
    assert!(!p("o.npy").exists());
}

#[test]
fn a_fixed_weight_is_read_and_never_written() {
    // A fixed buffer (a weight, Tensor::mark_fixed) multiplies as before,
    // but every op refuses it as an output, naming the argument.
    let c = Context::cpu();
    let w = t(&c, &[1., 2., 3., 4., 5., 6.], &[3, 2]);
    assert!(!w.is_fixed());
    w.mark_fixed().unwrap();
    assert!(w.is_fixed() && w.transpose(0, 1).unwrap().is_fixed(), "every view of the buffer is fixed");
    let x = t(&c, &[1., 1., 2., -1.], &[2, 2]);
    let y = Tensor::empty(&c, &[2, 3], DType::F32).unwrap();
    matmul(&c, 1.0, &w, &x.transpose(0, 1).unwrap(), 0.0, &y.transpose(0, 1).unwrap()).unwrap();
    assert_eq!(y.to_f32_vec().unwrap(), vec![3., 7., 11., 0., 2., 4.]);
    let out = Tensor::empty(&c, &[3, 3], DType::F32).unwrap();
    let e = matmul(&c, 1.0, &w, &x.transpose(0, 1).unwrap(), 0.0, &w.narrow(1, 0, 2).unwrap()).unwrap_err().to_string();
    assert!(e.contains("c") && e.contains("fixed"), "{e}");
    let e = decode_kernels::ops::copy(&c, &out.narrow(0, 0, 3).unwrap().narrow(1, 0, 2).unwrap(), &w)
        .unwrap_err()
        .to_string();
    assert!(e.contains("y") && e.contains("fixed"), "{e}");
    // Host writes stay allowed (they synchronise).
    w.write_buffer(&HostData::F32(vec![0.; 6])).unwrap();
    assert_eq!(w.to_f32_vec().unwrap(), vec![0.; 6]);
}

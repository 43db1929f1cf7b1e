//! sdpa on the CPU backend: semantics checked by hand, the composed path
//! against the reference, and the errors.

use decode_kernels::dispatch::sdpa::{SdpaBackend, SdpaPrefs};
use decode_kernels::ops::{sdpa, SdpaOptions};
use decode_kernels::{Context, DType, Tensor};

fn t(ctx: &Context, v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_f32(ctx, v, shape, DType::F32).unwrap()
}

fn ramp(n: usize, f: impl Fn(usize) -> f32) -> Vec<f32> {
    (0..n).map(f).collect()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

const D: usize = 64;

#[test]
fn one_key_returns_its_value_and_zero_queries_average() {
    let c = Context::cpu();
    // One key: every query's output is that key's value, whatever the scores.
    let q = t(&c, &ramp(2 * 4 * 3 * D, |i| (i % 7) as f32 - 3.0), &[2, 4, 3, D]);
    let k = t(&c, &ramp(2 * 2 * D, |i| (i % 5) as f32), &[2, 2, 1, D]);
    let v = t(&c, &ramp(2 * 2 * D, |i| i as f32 * 0.01), &[2, 2, 1, D]);
    let out = Tensor::empty(&c, &[2, 4, 3, D], DType::F32).unwrap();
    sdpa(&c, &q, &k, &v, &out, &SdpaOptions::default()).unwrap();
    let o = out.to_f32_vec().unwrap();
    let vv = v.to_f32_vec().unwrap();
    for b in 0..2 {
        for h in 0..4 {
            for i in 0..3 {
                let row = &o[((b * 4 + h) * 3 + i) * D..][..D];
                let kvh = b * 2 + h / 2; // group 2: heads 0,1 -> KV head 0
                assert!(close(row, &vv[kvh * D..(kvh + 1) * D], 1e-6), "b{b} h{h} i{i}");
            }
        }
    }
    // Zero queries: uniform attention, the mean of the values.
    let q0 = t(&c, &vec![0.0; D], &[1, 1, 1, D]);
    let k3 = t(&c, &ramp(3 * D, |i| i as f32), &[1, 1, 3, D]);
    let v3 = t(&c, &ramp(3 * D, |i| (i / D) as f32), &[1, 1, 3, D]);
    let o1 = Tensor::empty(&c, &[1, 1, 1, D], DType::F32).unwrap();
    sdpa(&c, &q0, &k3, &v3, &o1, &SdpaOptions::default()).unwrap();
    assert!(close(&o1.to_f32_vec().unwrap(), &[1.0; D], 1e-6));
}

#[test]
fn causal_offsets_and_empty_rows() {
    let c = Context::cpu();
    let q = t(&c, &vec![0.0; 3 * D], &[1, 1, 3, D]);
    let k = t(&c, &ramp(4 * D, |i| i as f32 * 0.1), &[1, 1, 4, D]);
    let v = t(&c, &ramp(4 * D, |i| (i / D) as f32), &[1, 1, 4, D]);
    let out = Tensor::empty(&c, &[1, 1, 3, D], DType::F32).unwrap();
    let run = |offset: Option<i64>| {
        sdpa(&c, &q, &k, &v, &out, &SdpaOptions { causal: true, offset, ..Default::default() }).unwrap();
        let o = out.to_f32_vec().unwrap();
        [o[0], o[D], o[2 * D]]
    };
    // Default offset Lk - Lq = 1: queries see 2, 3, 4 keys (values 0..): means 0.5, 1, 1.5.
    assert!(close(&run(None), &[0.5, 1.0, 1.5], 1e-6));
    // Offset -1: the first query sees nothing and gives zeros; the next sees key 0.
    assert!(close(&run(Some(-1)), &[0.0, 0.0, 0.5], 1e-6));
    // The composed path refuses a negative offset by name, never silently.
    let composed = SdpaOptions {
        causal: true,
        offset: Some(-1),
        prefs: Some(SdpaPrefs { backend: SdpaBackend::Composed, ..Default::default() }),
        ..Default::default()
    };
    let e = sdpa(&c, &q, &k, &v, &out, &composed).unwrap_err().to_string();
    assert!(e.contains("composed") && e.contains("negative"), "{e}");
}

#[test]
fn composed_path_matches_the_reference() {
    let c = Context::cpu();
    for dtype in DType::ALL {
        let mk = |shape: &[usize], seed: usize| {
            let n: usize = shape.iter().product();
            Tensor::from_f32(&c, &ramp(n, |i| (((i * 7919 + seed) % 1009) as f32 / 504.5) - 1.0), shape, dtype).unwrap()
        };
        let q = mk(&[2, 8, 4, 128], 1);
        // A cache of capacity 50 holding 37 keys.
        let k = mk(&[2, 2, 50, 128], 2).narrow(2, 0, 37).unwrap();
        let v = mk(&[2, 2, 50, 128], 3).narrow(2, 0, 37).unwrap();
        let outs: Vec<Vec<f32>> = [SdpaBackend::Auto, SdpaBackend::Composed]
            .into_iter()
            .map(|backend| {
                let out = Tensor::empty(&c, &[2, 8, 4, 128], dtype).unwrap();
                let o = SdpaOptions {
                    causal: true,
                    offset: Some(20),
                    scale: Some(0.2),
                    prefs: Some(SdpaPrefs { backend, ..Default::default() }),
                    fresh_keys: None,
                };
                sdpa(&c, &q, &k, &v, &out, &o).unwrap();
                out.to_f32_vec().unwrap()
            })
            .collect();
        let tol = if dtype == DType::F32 { 1e-5 } else { 2e-2 };
        assert!(close(&outs[0], &outs[1], tol), "{dtype}");
    }
}

#[test]
fn bad_arguments_are_named() {
    let c = Context::cpu();
    let q = t(&c, &vec![0.5; 4 * D], &[1, 4, 1, D]);
    let k = t(&c, &vec![0.5; 3 * 2 * D], &[1, 3, 2, D]);
    let v = t(&c, &vec![0.5; 3 * 2 * D], &[1, 3, 2, D]);
    let out = Tensor::empty(&c, &[1, 4, 1, D], DType::F32).unwrap();
    let msg = |r: decode_kernels::Result<()>| r.unwrap_err().to_string();
    let e = msg(sdpa(&c, &q, &k, &v, &out, &SdpaOptions::default()));
    assert!(e.contains("`k`") && e.contains("divides Hq = 4"), "{e}");
    let q3 = t(&c, &vec![0.5; 4 * 65], &[1, 4, 1, 65]);
    let e = msg(sdpa(&c, &q3, &k, &v, &out, &SdpaOptions::default()));
    assert!(e.contains("`q`") && e.contains("head size"), "{e}");
    let k2 = t(&c, &vec![0.5; 2 * D], &[1, 1, 2, D]);
    let v2 = t(&c, &vec![0.5; 3 * D], &[1, 1, 3, D]);
    let e = msg(sdpa(&c, &q, &k2, &v2, &out, &SdpaOptions::default()));
    assert!(e.contains("`v`"), "{e}");
    let e = msg(sdpa(&c, &q, &k2, &k2, &q, &SdpaOptions::default()));
    assert!(e.contains("`out`") && e.contains("`q`"), "{e}");
    let e = msg(sdpa(&c, &q, &k2, &k2, &out, &SdpaOptions { scale: Some(f32::NAN), ..Default::default() }));
    assert!(e.contains("`scale`"), "{e}");
    let flat = t(&c, &vec![0.5; D], &[1, D]);
    let e = msg(sdpa(&c, &flat, &k2, &k2, &out, &SdpaOptions::default()));
    assert!(e.contains("4-D"), "{e}");
}

fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_decode-kernels"))
}

#[test]
fn exec_sdpa_round_trips_npy_and_names_bad_env() {
    use decode_kernels::npy::{read_npy, write_npy};
    use decode_kernels::tensor::HostData;
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    // Two keys, causal with offset 0: query 0 sees key 0 only, query 1 both (equal scores).
    write_npy(&p("q.npy"), &[1, 1, 2, D], &HostData::F32(vec![0.0; 2 * D])).unwrap();
    write_npy(&p("k.npy"), &[1, 1, 2, D], &HostData::F32(vec![1.0; 2 * D])).unwrap();
    write_npy(&p("v.npy"), &[1, 1, 2, D], &HostData::F32(ramp(2 * D, |i| (i / D) as f32 * 2.0))).unwrap();
    let run = |env: Option<(&str, &str)>| {
        let mut c = bin();
        c.args(["exec", "sdpa", "--causal", "--offset", "0", "--device", "cpu"]);
        for (flag, f) in [("--q", "q.npy"), ("--k", "k.npy"), ("--v", "v.npy"), ("--out", "o.npy")] {
            c.arg(flag).arg(p(f));
        }
        c.env_remove("DK_SDPA_BACKEND").env_remove("DK_SDPA_KERNEL");
        if let Some((var, value)) = env {
            c.env(var, value);
        }
        c.output().unwrap()
    };
    // The CPU backend runs its reference whatever kernel is named.
    for env in [None, Some(("DK_SDPA_BACKEND", "composed")), Some(("DK_SDPA_KERNEL", "mmat"))] {
        let out = run(env);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let o = read_npy(&p("o.npy"), None).unwrap();
        assert_eq!(o.shape, vec![1, 1, 2, D]);
        let HostData::F32(v) = o.data else { panic!("f32 out") };
        assert!(v[..D].iter().all(|&x| x == 0.0) && v[D..].iter().all(|&x| (x - 1.0).abs() < 1e-6), "{env:?}");
    }
    let out = run(Some(("DK_SDPA_BACKEND", "flash")));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("DK_SDPA_BACKEND=\"flash\"") && e.contains("auto, composed, fused"),
        "{e}"
    );
    let out = run(Some(("DK_SDPA_KERNEL", "flash")));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && e.contains("DK_SDPA_KERNEL=\"flash\"") && e.contains("mma8, mmat"), "{e}");
}

//! The decode step on the CPU backend against a straightforward f64
//! implementation of the same Llama-style layer, written here from the
//! definitions (no ops), reading the model's own weights and cache.

use decode_kernels::check::{rel_l2, step_tolerance};
use decode_kernels::decode::{self, DecodeModel, DecodeOptions, Mode, ModelConfig};
use decode_kernels::{Context, DType, Tensor};

fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

fn lin(w: &decode_kernels::decode::Linear) -> Vec<f64> {
    w.to_f32_vec().unwrap().into_iter().map(f64::from).collect()
}

/// y[m] = sum_k w[m, k] x[k]
fn matvec(w: &[f64], x: &[f64], m: usize) -> Vec<f64> {
    let k = x.len();
    (0..m).map(|i| (0..k).map(|j| w[i * k + j] * x[j]).sum()).collect()
}

fn rmsnorm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let r = 1.0 / (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64 + eps).sqrt();
    x.iter().zip(w).map(|(v, g)| v * r * g).collect()
}

fn rope(x: &[f64], pos: usize, theta: f64) -> Vec<f64> {
    let d = x.len();
    let h = d / 2;
    let mut y = x.to_vec();
    for i in 0..h {
        let a = pos as f64 * theta.powf(-2.0 * i as f64 / d as f64);
        y[i] = x[i] * a.cos() - x[i + h] * a.sin();
        y[i + h] = x[i + h] * a.cos() + x[i] * a.sin();
    }
    y
}

/// Logits [batch][vocab] of one step at position context - 1.
fn reference_step(m: &DecodeModel) -> Vec<f64> {
    let c = &m.cfg;
    let (hd, d, hq, hkv, inter) = (c.hidden, c.head_dim, c.heads, c.kv_heads, c.intermediate);
    let eps = c.rms_eps as f64;
    let pos = m.position();
    let x0 = vals(&m.buf.x0);
    let mut logits = Vec::new();
    let layers: Vec<_> = m
        .layers
        .iter()
        .map(|l| {
            (
                vals(&l.w.attn_norm),
                lin(&l.w.w_qkv),
                l.w.b_qkv.as_ref().map(vals),
                lin(&l.w.w_o),
                vals(&l.w.mlp_norm),
                lin(&l.w.w_gate_up),
                lin(&l.w.w_down),
                vals(&l.k_cache),
                vals(&l.v_cache),
            )
        })
        .collect();
    for b in 0..m.batch {
        let mut x = x0[b * hd..][..hd].to_vec();
        for (an, wqkv, bqkv, wo, mn, wgu, wd, kc, vc) in &layers {
            let xn = rmsnorm(&x, an, eps);
            let mut qkv = matvec(wqkv, &xn, c.qkv_width());
            if let Some(bias) = bqkv {
                qkv.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
            let head = |h: usize| qkv[h * d..][..d].to_vec();
            let mut attn = vec![0f64; hq * d];
            for h in 0..hq {
                let g = h / (hq / hkv);
                let q = rope(&head(h), pos, c.rope_theta as f64);
                let k_new = rope(&head(hq + g), pos, c.rope_theta as f64);
                let v_new = head(hq + hkv + g);
                // Keys 0..pos from the cache, key pos is this token's.
                let cache_row = |cache: &Vec<f64>, j: usize| cache[((b * hkv + g) * m.context + j) * d..][..d].to_vec();
                let keys: Vec<Vec<f64>> = (0..pos).map(|j| cache_row(kc, j)).chain([k_new]).collect();
                let values: Vec<Vec<f64>> = (0..pos).map(|j| cache_row(vc, j)).chain([v_new]).collect();
                let scale = 1.0 / (d as f64).sqrt();
                let s: Vec<f64> =
                    keys.iter().map(|k| scale * k.iter().zip(&q).map(|(a, b)| a * b).sum::<f64>()).collect();
                let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - mx).exp()).collect();
                let z: f64 = e.iter().sum();
                for (p, v) in e.iter().zip(&values) {
                    for i in 0..d {
                        attn[h * d + i] += p / z * v[i];
                    }
                }
            }
            let o = matvec(wo, &attn, hd);
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
            let xn = rmsnorm(&x, mn, eps);
            let gu = matvec(wgu, &xn, 2 * inter);
            let hmid: Vec<f64> = (0..inter).map(|i| gu[i] / (1.0 + (-gu[i]).exp()) * gu[inter + i]).collect();
            let down = matvec(wd, &hmid, hd);
            x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        }
        let xn = rmsnorm(&x, &vals(&m.final_norm), eps);
        logits.extend(matvec(&lin(&m.lm_head), &xn, c.vocab));
    }
    logits
}

#[test]
fn cpu_step_matches_a_straightforward_reference() {
    let ctx = Context::cpu();
    let cfg = ModelConfig::builtin("tiny").unwrap();
    for (dtype, batch, context) in [(DType::F32, 2, 7), (DType::F16, 3, 20), (DType::BF16, 1, 1)] {
        let m = DecodeModel::new(&ctx, &cfg, dtype, batch, context, 3).unwrap();
        m.step(&ctx).unwrap();
        let got = vals(&m.buf.logits);
        let want = reference_step(&m);
        let err = rel_l2(&got, &want);
        assert!(err < step_tolerance(dtype), "{dtype} batch {batch} context {context}: rel L2 {err:e}");
        // A real signal: logits are not near zero or constant.
        let rms = (want.iter().map(|v| v * v).sum::<f64>() / want.len() as f64).sqrt();
        assert!(rms > 0.1, "logits rms {rms}");
        // The step wrote this token's K into slot pos of every layer's cache.
        assert!(m
            .layers
            .iter()
            .all(|l| vals(&l.k_cache.narrow(2, context - 1, 1).unwrap()).iter().all(|v| v.is_finite())));
    }
}

#[test]
fn steps_are_deterministic_and_seeded() {
    let ctx = Context::cpu();
    let cfg = ModelConfig::builtin("tiny").unwrap();
    let run = |seed| {
        let m = DecodeModel::new(&ctx, &cfg, DType::F16, 1, 4, seed).unwrap();
        m.step(&ctx).unwrap();
        m.step(&ctx).unwrap(); // a repeat step at the same position gives the same logits
        vals(&m.buf.logits)
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn a_built_model_has_fixed_weights_and_a_writable_cache() {
    // The weights are marked fixed (their GEMVs read them before the PDL
    // wait); the caches and activations, which steps write, are not.
    let ctx = Context::cpu();
    let cfg = ModelConfig::builtin("tiny").unwrap();
    let m = DecodeModel::new(&ctx, &cfg, DType::F16, 1, 4, 7).unwrap();
    let l = &m.layers[0];
    for w in [&l.w.w_qkv, &l.w.w_o, &l.w.w_gate_up, &l.w.w_down, &m.lm_head] {
        assert!(w.as_dense().unwrap().is_fixed());
    }
    assert!(l.w.attn_norm.is_fixed() && l.w.mlp_norm.is_fixed() && m.final_norm.is_fixed());
    assert!(!l.k_cache.is_fixed() && !l.v_cache.is_fixed() && !m.buf.logits.is_fixed());
    m.step(&ctx).unwrap();
}

/// One step of the tiny model at batch 1, context 8, in `mode`.
fn tiny_options(mode: Mode) -> DecodeOptions {
    DecodeOptions {
        model: ModelConfig::builtin("tiny").unwrap(),
        dtype: DType::F16,
        weights: Default::default(),
        batch: 1,
        context: 8,
        steps: 1,
        modes: vec![mode],
        seed: 1,
        first_step: false,
        profile_steps: 1,
        leave_out: Vec::new(),
    }
}

#[test]
fn leave_out_needs_a_gpu_and_parts_of_the_steps_labels() {
    // On the CPU backend the study is refused, naming the option.
    let o = DecodeOptions { leave_out: vec![vec!["rmsnorm".into()]], ..tiny_options(Mode::Eager) };
    let e = decode::run(&Context::cpu(), &o).unwrap_err().to_string();
    assert!(e.contains("--leave-out") && e.contains("CUDA"), "{e}");
    // Each set counts the launches whose label contains any of its parts; a
    // part no label contains (a typo) or an empty one is refused.
    let labels =
        ["rmsnorm_q8/rmsnorm_q8/f16", "quant_matmul/qgemv_dot_q4_k_n1/f16", "rmsnorm_q8/rmsnorm_q8/f16", "sdpa/x/f16"];
    let sets = vec![vec!["rmsnorm_q8".to_string()], vec!["sdpa/".into(), "qgemv_dot".into()]];
    assert_eq!(decode::leave_out_counts(&labels, &sets).unwrap(), vec![2, 2]);
    for bad in ["rmsnrom", ""] {
        let e = decode::leave_out_counts(&labels, &[vec!["sdpa".into(), bad.into()]]).unwrap_err().to_string();
        assert!(e.contains("--leave-out") && e.contains("sdpa/x/f16") && e.contains(&format!("{bad:?}")), "{e}");
    }
    // A set every label matches would leave nothing to time.
    for all in [vec!["f16".to_string()], vec!["rmsnorm".into(), "quant".into(), "sdpa".into()]] {
        let e = decode::leave_out_counts(&labels, &[all]).unwrap_err().to_string();
        assert!(e.contains("--leave-out") && e.contains("every launch"), "{e}");
    }
}

#[test]
fn decode_run_reports_on_the_cpu_backend() {
    let ctx = Context::cpu();
    let o = DecodeOptions { batch: 2, context: 16, steps: 2, ..tiny_options(Mode::Eager) };
    let r = decode::run(&ctx, &o).unwrap();
    assert_eq!(r.modes.len(), 1);
    assert!(r.modes[0].step_us > 0.0 && r.modes[0].tokens_per_s > 0.0);
    // Every op of the step shows in the profile: per layer 2 norms, 4 matmuls,
    // attention, RoPE and SiLU; then the final norm and the LM head.
    let count = |prefix: &str| {
        r.profile.rows.iter().filter(|row| row.label.starts_with(prefix)).map(|row| row.count).sum::<usize>()
    };
    assert_eq!(count("rmsnorm/"), 2 * 2 + 1);
    assert_eq!(count("matmul/"), 2 * 4 + 1);
    assert_eq!(count("sdpa/"), 2);
    assert_eq!(count("rope_append/"), 2);
    assert_eq!(count("silu_mul/"), 2);
    assert_eq!(count("copy/"), 1);
    assert!(r.bytes_per_step as usize > 2 * o.model.step_params());
    // Profiling was switched back off and left nothing behind.
    assert!(!ctx.profiler().is_enabled());
    assert_eq!(ctx.profiler().recorded(), 0);
}

#[test]
fn decode_errors_name_the_argument() {
    let ctx = Context::cpu();
    let mut o = tiny_options(Mode::Graph);
    let e = decode::run(&ctx, &o).unwrap_err().to_string();
    assert!(e.contains("--mode") && e.contains("CUDA"), "{e}");
    o.modes = vec![Mode::Eager];
    o.steps = 0;
    assert!(decode::run(&ctx, &o).unwrap_err().to_string().contains("--steps"));
    let cfg = ModelConfig::builtin("tiny").unwrap();
    let e = DecodeModel::new(&ctx, &cfg, DType::F16, 1, 0, 1).err().unwrap().to_string();
    assert!(e.contains("--context"), "{e}");
    let e = ctx.record(|_| Ok(())).unwrap_err().to_string();
    assert!(e.contains("record") && e.contains("CUDA"), "{e}");
}

#[test]
fn profiling_off_records_nothing_on_for_every_launch() {
    let ctx = Context::cpu();
    let cfg = ModelConfig::builtin("tiny").unwrap();
    let m = DecodeModel::new(&ctx, &cfg, DType::F16, 1, 4, 1).unwrap();
    m.step(&ctx).unwrap();
    assert_eq!(ctx.profiler().recorded(), 0, "profiling is off by default");
    ctx.profiler().set_enabled(true);
    m.step(&ctx).unwrap();
    ctx.profiler().set_enabled(false);
    // 2 layers x 9 ops, the input copy, the final norm and the LM head.
    assert_eq!(ctx.profiler().recorded(), 2 * 9 + 3);
    let r = ctx.profiler().report(None).unwrap();
    assert!(
        r.rows.iter().all(|row| row.count > 0 && row.total_us >= 0.0 && row.label.split('/').count() == 3),
        "{r:?}"
    );
}

//! Every registered `check` case builds valid views and runs end to end on the
//! CPU backend (CPU against CPU), so a broken case is caught without a GPU.

use decode_kernels::{check, Context};

#[test]
fn every_check_case_runs_on_the_cpu_backend() {
    let ctx = Context::cpu();
    // The full-size model steps are left to the GPU run (the f64 CPU reference
    // takes seconds a step), and so are the recorded and graph steps (they
    // need a CUDA device); the tiny model's eager steps run here.
    let gpu_only =
        |name: &str| name.starts_with("decode/qwen") || name.ends_with("/planned") || name.ends_with("/graph");
    let outcomes = check::run_where(&ctx, |name| !gpu_only(name), 5, |_| {});
    assert!(outcomes.len() >= 250, "only {} cases registered", outcomes.len());
    let bad: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let sdpa = outcomes.iter().filter(|o| o.op == "sdpa").count();
    assert!(sdpa >= 100, "only {sdpa} sdpa cases");
    assert!(outcomes.iter().any(|o| o.op == "sdpa" && o.case.ends_with("fused_vs_composed")));
    for op in ["rmsnorm", "rope", "silu_mul", "fill", "decode", "sample", "generate", "quant_matmul"] {
        assert!(outcomes.iter().any(|o| o.op == op), "no {op} case ran");
    }
    // Every block format with every dtype.
    for kind in ["q8_0", "q4_0", "q4_k", "q6_k"] {
        for dt in ["f16", "bf16", "f32"] {
            assert!(
                outcomes.iter().any(|o| o.op == "quant_matmul" && o.case.starts_with(kind) && o.dtype.name() == dt),
                "no quant_matmul {kind} {dt} case"
            );
        }
    }
    // The matmul sweep covers every N from 1 to 16 for every dtype.
    for dt in ["f16", "bf16", "f32"] {
        for n in 1..=16 {
            let needle = format!("300x520x{n}/");
            assert!(
                outcomes.iter().any(|o| o.op == "matmul" && o.case.starts_with(&needle) && o.dtype.name() == dt),
                "missing N={n} {dt}"
            );
        }
    }
}

//! The tiny transformers-made fixtures (tests/fixtures/models, or the folder
//! DK_FIXTURES_DIR names): prompt token ids, and logits and greedy tokens
//! against transformers', through an f64 reference over the loaded weights
//! (every architecture) and through the decode step (the architectures it
//! runs exactly). Skipped, with a notice, where the fixtures are absent.

mod model_common;

mod fixtures_common;

use std::path::Path;

use decode_kernels::decode::WeightFormat;
use decode_kernels::dtype::QuantKind;
use decode_kernels::model::load::Linear;
use decode_kernels::model::{LoadOptions, Model, RopeScaling};
use decode_kernels::npy::read_npy;
use decode_kernels::{Context, DType};
use fixtures_common::{expected, fixtures, ids};
use serde_json::Value;

const ALL: [&str; 5] = ["llama", "mistral", "qwen2", "qwen3", "llama256"];

fn load(path: &Path) -> Model {
    Model::load_with(&Context::cpu(), path, &LoadOptions { dtype: Some(DType::F32), ..Default::default() }).unwrap()
}

/// Compares per-step logits rows with transformers' (logits file rows) and
/// the argmax with the greedy tokens, allowing a different argmax only at a
/// near-tie (top-2 margin below `tie`). Returns the largest |difference|.
fn compare(what: &str, rows: &[Vec<f64>], prompt: &Value, dir: &Path, tol: f64, tie: f64) -> f64 {
    let want = read_npy(&dir.join(prompt["logits_file"].as_str().unwrap()), Some(DType::F32)).unwrap();
    let v = want.shape[1];
    let greedy = ids(&prompt["greedy_tokens"]);
    let margins: Vec<f64> = prompt["top2_margin"].as_array().unwrap().iter().map(|m| m.as_f64().unwrap()).collect();
    let mut worst: f64 = 0.0;
    for (s, row) in rows.iter().enumerate() {
        let w: Vec<f64> = (0..v).map(|i| want.data.get(s * v + i)).collect();
        let e = row.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        worst = worst.max(e);
        let argmax =
            row.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0;
        if argmax as u32 != greedy[s] {
            assert!(
                margins[s] < tie,
                "{what} step {s}: argmax {argmax} vs transformers' {} with margin {}",
                greedy[s],
                margins[s]
            );
            eprintln!("{what} step {s}: near-tie (margin {}) chose {argmax}, transformers {}", margins[s], greedy[s]);
        }
    }
    assert!(worst < tol, "{what}: max |logit - transformers'| = {worst}");
    worst
}

#[test]
fn prompt_token_ids_equal_transformers() {
    let Some(root) = fixtures() else { return };
    for name in ALL {
        let m = load(&root.join(name));
        let tok = m.tokenizer.as_ref().unwrap();
        for p in expected(&root.join(name))["prompts"].as_array().unwrap() {
            let text = p["text"].as_str().unwrap();
            assert_eq!(tok.encode(text, true).unwrap(), ids(&p["prompt_tokens"]), "{name}: {text:?}");
            let greedy = ids(&p["greedy_tokens"]);
            assert_eq!(tok.decode(&greedy, false).unwrap(), p["greedy_text"].as_str().unwrap(), "{name}");
        }
    }
    // The GGUF files' tokenizers, built from metadata, agree.
    for (gguf, name) in [("llama.gguf", "llama"), ("qwen2.gguf", "qwen2"), ("llama256.gguf", "llama256")] {
        let m = load(&root.join(gguf));
        let tok = m.tokenizer.as_ref().unwrap();
        for p in expected(&root.join(name))["prompts"].as_array().unwrap() {
            assert_eq!(tok.encode(p["text"].as_str().unwrap(), true).unwrap(), ids(&p["prompt_tokens"]), "{gguf}");
        }
    }
}

/// All the logits transformers computed for a prompt: the prompt, then the
/// greedy tokens fed back (teacher forcing), rows from the prompt's last position.
fn forced(p: &Value) -> (Vec<u32>, usize) {
    let mut t = ids(&p["prompt_tokens"]);
    let n = t.len();
    t.extend(&ids(&p["greedy_tokens"])[..15]);
    (t, n)
}

#[test]
fn reference_over_loaded_weights_matches_transformers() {
    let Some(root) = fixtures() else { return };
    for name in ALL.iter().map(|n| n.to_string()).chain(["llama.gguf", "qwen2.gguf", "llama256.gguf"].map(String::from))
    {
        let folder = root.join(name.trim_end_matches(".gguf"));
        let m = load(&root.join(&name));
        let mut worst: f64 = 0.0;
        for (i, p) in expected(&folder)["prompts"].as_array().unwrap().iter().enumerate() {
            let (tokens, n) = forced(p);
            let rows = model_common::reference_over_model(&m, &tokens);
            worst = worst.max(compare(&format!("{name} prompt {i}"), &rows[n - 1..], p, &folder, 1e-4, 1e-3));
        }
        eprintln!("{name}: f64 reference over the loaded weights, max |logit error| {worst:.2e}");
    }
}

#[test]
fn decode_step_matches_transformers_where_supported() {
    let Some(root) = fixtures() else { return };
    let ctx = Context::cpu();
    for name in ["mistral", "qwen2", "qwen2.gguf", "llama", "qwen3", "llama.gguf", "llama256", "llama256.gguf"] {
        let folder = root.join(name.trim_end_matches(".gguf"));
        let m = load(&root.join(name));
        let missing = m.spec.unsupported_by_decode_step();
        if !missing.is_empty() {
            // Only the GGUF's llama3 scaling (per-pair divisors) is not run yet.
            assert_eq!(name, "llama.gguf", "{name}: the decode step should run it, yet it lacks {missing:?}");
            let e = match m.decode_model(&ctx, 1, 8) {
                Ok(_) => panic!("{name}: the decode step cannot run {missing:?}"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains(&missing[0]), "{e}");
            eprintln!("{name}: decode step not run: {e}");
            continue;
        }
        let mut worst: f64 = 0.0;
        for (i, p) in expected(&folder)["prompts"].as_array().unwrap().iter().enumerate() {
            let (tokens, n) = forced(p);
            let dm = m.decode_model(&ctx, 1, tokens.len()).unwrap();
            let mut rows = Vec::new();
            for (pos, &t) in tokens.iter().enumerate() {
                m.embed_into(&ctx, &[t], &dm.buf.x0).unwrap();
                dm.step_at(&ctx, pos).unwrap();
                if pos + 1 >= n {
                    rows.push(dm.buf.logits.to_f64_vec().unwrap());
                }
            }
            worst = worst.max(compare(&format!("{name} prompt {i}"), &rows, p, &folder, 1e-4, 1e-3));
        }
        eprintln!("{name}: decode step (CPU, f32), max |logit error| {worst:.2e}");
    }
}

/// The block formats of a kept projection, its stacked parts in order.
fn kinds(what: &str, l: &Linear) -> Vec<QuantKind> {
    match l {
        Linear::Quant(q) => vec![q.kind()],
        Linear::Stacked(parts) => parts.iter().flat_map(|p| kinds(what, p)).collect(),
        Linear::Dense(_) => panic!("{what}: dense, not kept in its blocks"),
    }
}

#[test]
fn quantized_ggufs_keep_their_blocks_and_equal_the_expanded_load() {
    let Some(root) = fixtures() else { return };
    // One format throughout, or (None) llama.cpp's Q4_K_M mix, which
    // WeightFormat::Q4KM describes: with llama256's 3 layers, Q6_K V and down
    // in layer 2, Q4_K elsewhere, and a Q6_K LM head (the tied token_embd).
    let files = [
        ("qwen2_q8_0.gguf", Some(QuantKind::Q8_0)),
        ("qwen2_q4_0.gguf", Some(QuantKind::Q4_0)),
        ("llama256_q4_k_m.gguf", None),
    ];
    for (file, uniform) in files {
        let path = root.join(file);
        let ctx = Context::cpu();
        let kept =
            Model::load_with(&ctx, &path, &LoadOptions { dtype: Some(DType::F32), ..Default::default() }).unwrap();
        let opts = LoadOptions { dtype: Some(DType::F32), expand_quantized: true };
        let expanded = Model::load_with(&ctx, &path, &opts).unwrap();
        assert!(kept.weights.is_quantized() && !expanded.weights.is_quantized(), "{file}");
        // The blocks read at their size: under a third of the f32 bytes.
        assert!(3 * kept.weights.step_bytes() < expanded.weights.step_bytes(), "{file}");
        let layers = kept.weights.layers.len();
        let pairs = kept.weights.layers.iter().zip(&expanded.weights.layers);
        for (i, (x, y)) in pairs.enumerate() {
            let want = match uniform {
                Some(k) => [0; 4].map(|_| vec![k]),
                None => {
                    let k = WeightFormat::Q4KM.layer_kinds(i, layers).unwrap();
                    // Parts of one format are one matrix; Q/K and V of two stay two.
                    let qkv = if k.qk == k.v { vec![k.qk] } else { vec![k.qk, k.v] };
                    [qkv, vec![k.o], vec![k.gate_up], vec![k.down]]
                }
            };
            if uniform.is_none() && i == 2 {
                assert_eq!(want[0], [QuantKind::Q4_K, QuantKind::Q6_K], "{file}: layer 2 is not a Q6_K one");
            }
            let parts = [
                ("qkv", &x.w_qkv, &y.w_qkv),
                ("o", &x.w_o, &y.w_o),
                ("gate_up", &x.w_gate_up, &y.w_gate_up),
                ("down", &x.w_down, &y.w_down),
            ];
            for ((what, a, b), want) in parts.into_iter().zip(want) {
                let what = format!("{file} layer {i} {what}");
                assert_eq!(kinds(&what, a), want, "{what}");
                assert!(a.to_f32_vec().unwrap() == b.to_f32_vec().unwrap(), "{what} differs");
            }
        }
        let head = uniform.unwrap_or(QuantKind::Q6_K);
        assert_eq!(kinds(&format!("{file} lm_head"), &kept.weights.lm_head), [head], "{file} lm_head");
        assert_eq!(kept.weights.lm_head.to_f32_vec().unwrap(), expanded.weights.lm_head.to_f32_vec().unwrap());
    }
}

#[test]
fn gguf_weights_equal_safetensors() {
    let Some(root) = fixtures() else { return };
    for name in ["llama", "qwen2", "llama256"] {
        let (a, b) = (load(&root.join(name)), load(&root.join(format!("{name}.gguf"))));
        let eq = |x: &decode_kernels::Tensor, y: &decode_kernels::Tensor, what: &str| {
            assert_eq!(x.shape(), y.shape(), "{name} {what}");
            assert!(x.to_f32_vec().unwrap() == y.to_f32_vec().unwrap(), "{name} {what} differs");
        };
        eq(&a.weights.embed, &b.weights.embed, "embed");
        let lin = |x: &Linear, y: &Linear, what: &str| {
            assert_eq!(x.shape(), y.shape(), "{name} {what}");
            assert!(x.to_f32_vec().unwrap() == y.to_f32_vec().unwrap(), "{name} {what} differs");
        };
        lin(&a.weights.lm_head, &b.weights.lm_head, "lm_head");
        for (i, (x, y)) in a.weights.layers.iter().zip(&b.weights.layers).enumerate() {
            lin(&x.w_qkv, &y.w_qkv, &format!("layer {i} qkv (un-permuted Q/K)"));
            lin(&x.w_gate_up, &y.w_gate_up, &format!("layer {i} gate/up"));
            lin(&x.w_o, &y.w_o, &format!("layer {i} o"));
            lin(&x.w_down, &y.w_down, &format!("layer {i} down"));
        }
        let (fa, fb) = (a.spec.rope_inv_freq(), b.spec.rope_inv_freq());
        let e = fa.iter().zip(&fb).map(|(x, y)| ((x - y) / x).abs()).fold(0.0, f64::max);
        assert!(e < 1e-6, "{name}: rope frequencies differ by {e} (relative)");
        if name == "llama" {
            // llama3 scaling recovered from the GGUF's divisors: the decode step runs it.
            assert!(matches!(b.spec.rope_scaling, RopeScaling::Llama3Fitted(_)), "{:?}", b.spec.rope_scaling);
            assert!(b.spec.unsupported_by_decode_step().is_empty());
        }
        assert_eq!(a.spec.eos_token_ids, b.spec.eos_token_ids);
    }
}

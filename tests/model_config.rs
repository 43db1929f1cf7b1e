//! config.json (transformers 4 and 5 forms) and generation_config.json into a ModelSpec, and every error path.

use std::path::Path;

use decode_kernels::model::{Architecture, ModelSpec, RopeScaling};
use decode_kernels::DType;
use serde_json::{json, Value};

const P: &str = "/ckpt/config.json";

fn parse(v: &Value) -> decode_kernels::Result<ModelSpec> {
    ModelSpec::from_config_value(v, Path::new(P))
}

fn err(v: &Value) -> String {
    parse(v).expect_err("expected an error").to_string()
}

/// Llama 3.1 8B's config.json as transformers 4 writes it.
fn llama31() -> Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": false,
        "bos_token_id": 128000,
        "eos_token_id": [128001, 128008, 128009],
        "hidden_act": "silu",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "max_position_embeddings": 131072,
        "mlp_bias": false,
        "model_type": "llama",
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0,
        "tie_word_embeddings": false,
        "torch_dtype": "bfloat16",
        "vocab_size": 128256
    })
}

fn qwen25() -> Value {
    json!({
        "architectures": ["Qwen2ForCausalLM"],
        "bos_token_id": 151643, "eos_token_id": 151643,
        "hidden_act": "silu", "hidden_size": 896, "intermediate_size": 4864,
        "max_position_embeddings": 32768, "max_window_layers": 21,
        "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
        "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_sliding_window": false,
        "vocab_size": 151936
    })
}

#[test]
fn llama31_transformers4() {
    let s = parse(&llama31()).unwrap();
    assert_eq!(s.arch, Architecture::Llama);
    assert_eq!((s.hidden_size, s.intermediate_size, s.num_hidden_layers), (4096, 14336, 32));
    assert_eq!((s.num_attention_heads, s.num_key_value_heads, s.head_dim), (32, 8, 128));
    assert_eq!(s.vocab_size, 128256);
    assert_eq!(s.dtype, Some(DType::BF16));
    assert_eq!(s.bos_token_id, Some(128000));
    assert_eq!(s.eos_token_ids, vec![128001, 128008, 128009]);
    assert_eq!(s.rope_theta, 500000.0);
    assert_eq!(
        s.rope_scaling,
        RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192
        }
    );
    assert!(!s.qkv_bias && !s.qk_norm && !s.tie_word_embeddings);
    assert!(s.unsupported_by_decode_step().is_empty(), "the decode step runs llama3 rope scaling");
    // llama3 frequencies: high frequencies kept, low ones divided by the factor.
    let base: Vec<f64> = (0..64).map(|i| 500000f64.powf(-(2 * i) as f64 / 128.0)).collect();
    let f = s.rope_inv_freq();
    assert_eq!(f.len(), 64);
    assert_eq!(f[0], base[0]);
    assert!((f[63] - base[63] / 8.0).abs() < 1e-18);
    for (f, b) in f.iter().zip(&base) {
        assert!(*f <= *b && *f >= b / 8.0 * (1.0 - 1e-12), "{f} {b}");
    }
}

#[test]
fn transformers5_rope_parameters_and_dtype() {
    let mut v = llama31();
    let o = v.as_object_mut().unwrap();
    o.remove("rope_scaling");
    o.remove("rope_theta");
    o.remove("torch_dtype");
    o.insert("dtype".into(), json!("float16"));
    o.insert(
        "rope_parameters".into(),
        json!({"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
    );
    let s = parse(&v).unwrap();
    assert_eq!(s.dtype, Some(DType::F16));
    assert_eq!(s.rope_theta, 500000.0);
    assert!(matches!(s.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 32.0));

    let o = v.as_object_mut().unwrap();
    o.insert("rope_parameters".into(), json!({"rope_type": "default", "rope_theta": 10000.0}));
    let s = parse(&v).unwrap();
    assert_eq!((s.rope_theta, s.rope_scaling), (10000.0, RopeScaling::None));
}

#[test]
fn qwen2_qwen3_mistral() {
    let s = parse(&qwen25()).unwrap();
    assert_eq!(s.arch, Architecture::Qwen2);
    assert!(s.qkv_bias && s.tie_word_embeddings && !s.qk_norm);
    assert_eq!((s.head_dim, s.eos_token_ids.clone()), (64, vec![151643]));
    assert!(s.unsupported_by_decode_step().is_empty());
    let dc = s.decode_config("q");
    assert_eq!(
        dc,
        decode_kernels::decode::ModelConfig {
            name: "q".into(),
            ..decode_kernels::decode::ModelConfig::builtin("qwen2.5-0.5b").unwrap()
        }
    );

    // Qwen3: head_dim independent of hidden / heads, q/k norm.
    let q3 = json!({"architectures": ["Qwen3ForCausalLM"], "hidden_size": 1024, "intermediate_size": 3072,
        "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
        "vocab_size": 151936, "rms_norm_eps": 1e-6, "max_position_embeddings": 40960, "rope_theta": 1000000,
        "attention_bias": false, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "eos_token_id": 151645,
        "sliding_window": null, "use_sliding_window": false});
    let s = parse(&q3).unwrap();
    assert_eq!((s.arch, s.head_dim, s.qk_norm, s.qkv_bias), (Architecture::Qwen3, 128, true, false));
    assert!(s.unsupported_by_decode_step().is_empty());

    // Mistral without a window (null) and with one as long as the context.
    let mut m = json!({"architectures": ["MistralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32768,
        "rms_norm_eps": 1e-5, "max_position_embeddings": 32768, "rope_theta": 1000000.0, "sliding_window": null,
        "bos_token_id": 1, "eos_token_id": 2});
    assert_eq!(parse(&m).unwrap().arch, Architecture::Mistral);
    m["sliding_window"] = json!(32768);
    assert!(parse(&m).is_ok());
    m["sliding_window"] = json!(4096);
    let e = err(&m);
    assert!(e.contains(P) && e.contains("sliding_window") && e.contains("4096"), "{e}");
}

#[test]
fn generation_config_extends_eos() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), qwen25().to_string()).unwrap();
    std::fs::write(
        dir.path().join("generation_config.json"),
        r#"{"bos_token_id": 151643, "eos_token_id": [151645, 151643]}"#,
    )
    .unwrap();
    let s = ModelSpec::from_hf_dir(dir.path()).unwrap();
    assert_eq!(s.eos_token_ids, vec![151645, 151643]);
    // A bad one names its file and field.
    std::fs::write(dir.path().join("generation_config.json"), r#"{"eos_token_id": "x"}"#).unwrap();
    let e = ModelSpec::from_hf_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("generation_config.json") && e.contains("eos_token_id"), "{e}");
}

/// An edit of a good config.json that makes it bad.
type Edit = Box<dyn Fn(&mut Value)>;

#[test]
fn errors_name_file_and_field() {
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        (
            "unknown architecture",
            Box::new(|v| v["architectures"] = json!(["GPT2LMHeadModel"])),
            &["architectures", "GPT2LMHeadModel"],
        ),
        (
            "no architecture",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("architectures");
                v.as_object_mut().unwrap().remove("model_type");
            }),
            &["architectures", "missing"],
        ),
        (
            "rope type yarn",
            Box::new(|v| v["rope_scaling"] = json!({"type": "yarn", "factor": 4.0})),
            &["rope_scaling.type", "yarn"],
        ),
        (
            "rope type linear",
            Box::new(|v| v["rope_scaling"] = json!({"rope_type": "linear", "factor": 2.0})),
            &["rope_scaling.rope_type", "linear"],
        ),
        (
            "rope_parameters dynamic",
            Box::new(|v| v["rope_parameters"] = json!({"rope_type": "dynamic", "rope_theta": 1e4})),
            &["rope_parameters.rope_type", "dynamic"],
        ),
        (
            "llama3 without factor",
            Box::new(|v| {
                v["rope_scaling"].as_object_mut().unwrap().remove("factor");
            }),
            &["rope_scaling.factor", "missing"],
        ),
        (
            "missing hidden_size",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("hidden_size");
            }),
            &["hidden_size"],
        ),
        ("hidden_size a string", Box::new(|v| v["hidden_size"] = json!("4096")), &["hidden_size", "integer"]),
        ("head dim 48", Box::new(|v| v["head_dim"] = json!(48)), &["head_dim", "48"]),
        ("kv heads not a divisor", Box::new(|v| v["num_key_value_heads"] = json!(5)), &["num_key_value_heads", "5"]),
        ("gelu", Box::new(|v| v["hidden_act"] = json!("gelu")), &["hidden_act", "gelu"]),
        ("attention bias", Box::new(|v| v["attention_bias"] = json!(true)), &["attention_bias"]),
        ("dtype int8", Box::new(|v| v["torch_dtype"] = json!("int8")), &["torch_dtype", "int8"]),
        ("eos a string", Box::new(|v| v["eos_token_id"] = json!("</s>")), &["eos_token_id"]),
    ];
    for (what, edit, needles) in cases {
        let mut v = llama31();
        edit(&mut v);
        let e = err(&v);
        assert!(e.contains(P), "{what}: {e}");
        for n in needles {
            assert!(e.contains(n), "{what}: {e:?} lacks {n:?}");
        }
    }
    let e = ModelSpec::from_config_str("{ not json", Path::new(P)).unwrap_err().to_string();
    assert!(e.contains(P) && e.contains("JSON"), "{e}");
    let e = ModelSpec::from_hf_dir(Path::new("/nonexistent/model")).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/model/config.json"), "{e}");
}

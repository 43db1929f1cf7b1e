//! Safetensors and GGUF checkpoints made by the test itself: read back,
//! loaded into the decode model on the CPU backend, run against a plain f64
//! reference of the Hugging Face forward, and every bad-file error path.

mod model_common;

use std::path::Path;

use decode_kernels::model::gguf::{GgufValue, Storage};
use decode_kernels::model::{GgufFile, LoadOptions, Model, SafetensorsSource, TensorSource};
use decode_kernels::spec::quant::QuantKind;
use decode_kernels::{Context, DType};
use model_common::*;

fn load(path: &Path) -> decode_kernels::Result<Model> {
    Model::load_with(&Context::cpu(), path, &LoadOptions { dtype: Some(DType::F32), ..Default::default() })
}

fn load_err(path: &Path) -> String {
    load(path).expect_err("expected an error").to_string()
}

/// Greedy-free decode: feeds `tokens` one at a time through the decode step and returns each position's logits.
fn run(model: &Model, tokens: &[u32]) -> Vec<Vec<f32>> {
    let ctx = Context::cpu();
    let dm = model.decode_model(&ctx, 1, tokens.len()).unwrap();
    let mut out = Vec::new();
    for (pos, &t) in tokens.iter().enumerate() {
        model.embed_into(&ctx, &[t], &dm.buf.x0).unwrap();
        dm.step_at(&ctx, pos).unwrap();
        out.push(dm.buf.logits.to_f32_vec().unwrap());
    }
    out
}

fn max_err(a: &[Vec<f32>], b: &[Vec<f64>]) -> f64 {
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (*x as f64 - y).abs()).fold(0.0, f64::max)
}

const TOKENS: [u32; 6] = [3, 200, 17, 255, 90, 1];

#[test]
fn hf_llama_loads_and_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(false, false);
    write_hf(dir.path(), &t);
    let m = load(dir.path()).unwrap();
    assert_eq!(m.spec.head_dim, 64);
    assert!(m.tokenizer.is_some());
    let w = &m.weights;
    assert_eq!(w.layers[0].w_qkv.shape(), [4 * 64, 128]);
    assert_eq!(w.layers[0].w_gate_up.shape(), [2 * 96, 128]);
    assert!(w.layers[0].b_qkv.is_none() && !w.lm_head.same_buffer(&w.embed));
    // The fused rows are the parts, in order.
    let ref_w = tiny_weights(&t);
    let qkv = w.layers[1].w_qkv.to_f32_vec().unwrap();
    let k = &ref_w["model.layers.1.self_attn.k_proj.weight"].1;
    assert_eq!(&qkv[128 * 128..192 * 128], &k[..]);
    let gu = w.layers[0].w_gate_up.to_f32_vec().unwrap();
    assert_eq!(&gu[96 * 128..], &ref_w["model.layers.0.mlp.up_proj.weight"].1[..]);

    let got = run(&m, &TOKENS);
    let want = reference_logits(&t, &TOKENS);
    let e = max_err(&got, &want);
    assert!(e < 1e-3, "max |logit error| {e}");
}

#[test]
fn hf_qwen2_bias_and_tied_embeddings() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(true, true);
    write_hf(dir.path(), &t);
    let m = load(dir.path()).unwrap();
    assert!(m.weights.lm_head.same_buffer(&m.weights.embed), "tied embeddings share one tensor");
    assert_eq!(m.weights.layers[0].b_qkv.as_ref().unwrap().shape(), &[256]);
    let e = max_err(&run(&m, &TOKENS), &reference_logits(&t, &TOKENS));
    assert!(e < 1e-3, "max |logit error| {e}");
}

#[test]
fn bf16_checkpoint_computes_in_its_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(false, true);
    write_hf(dir.path(), &t);
    let w = tiny_weights(&t);
    let tensors: Vec<StTensor> = w.iter().map(|(n, (s, v))| StTensor::bf16(n, s, v)).collect();
    write_safetensors(&dir.path().join("model.safetensors"), &tensors);
    let mut cfg = config_json(&t);
    cfg["torch_dtype"] = "bfloat16".into();
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let m = Model::load(&Context::cpu(), dir.path()).unwrap();
    assert_eq!(m.dtype, DType::BF16);
    let embed = m.weights.embed.to_f32_vec().unwrap();
    let want = &w["model.embed_tokens.weight"].1;
    assert!(embed.iter().zip(want).all(|(a, b)| *a == half::bf16::from_f32(*b).to_f32()));
}

#[test]
fn sharded_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(false, false);
    write_hf(dir.path(), &t);
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let w = tiny_weights(&t);
    let (mut a, mut b, mut map) = (Vec::new(), Vec::new(), serde_json::Map::new());
    for (i, (n, (s, v))) in w.iter().enumerate() {
        let file = if i % 2 == 0 { "model-00001-of-00002.safetensors" } else { "model-00002-of-00002.safetensors" };
        map.insert(n.clone(), file.into());
        if i % 2 == 0 { &mut a } else { &mut b }.push(StTensor::f32(n, s, v));
    }
    write_safetensors(&dir.path().join("model-00001-of-00002.safetensors"), &a);
    write_safetensors(&dir.path().join("model-00002-of-00002.safetensors"), &b);
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(dir.path().join("model.safetensors.index.json"), index.to_string()).unwrap();
    let src = SafetensorsSource::open(dir.path()).unwrap();
    assert_eq!(src.names().len(), w.len());
    assert!(src.file_of("lm_head.weight").unwrap().to_str().unwrap().contains("-of-00002"));
    let m = load(dir.path()).unwrap();
    let e = max_err(&run(&m, &TOKENS[..3]), &reference_logits(&t, &TOKENS[..3]));
    assert!(e < 1e-3, "max |logit error| {e}");

    // A shard the index names but that is missing.
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("model-00002-of-00002.safetensors"), "{e}");
}

#[test]
fn safetensors_errors_name_file_and_tensor() {
    let t = tiny(false, false);
    let fresh = || {
        let dir = tempfile::tempdir().unwrap();
        write_hf(dir.path(), &t);
        dir
    };
    let st = |d: &Path| d.join("model.safetensors");

    // No weights at all.
    let dir = fresh();
    std::fs::remove_file(st(dir.path())).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains(dir.path().to_str().unwrap()) && e.contains("model.safetensors"), "{e}");

    // No config.json.
    let dir = fresh();
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("config.json"), "{e}");

    // Truncated: the header promises more bytes than the file has.
    let dir = fresh();
    let bytes = std::fs::read(st(dir.path())).unwrap();
    for cut in [bytes.len() - 1, bytes.len() / 2, 20, 4, 0] {
        std::fs::write(st(dir.path()), &bytes[..cut]).unwrap();
        let e = load_err(dir.path());
        assert!(e.contains("model.safetensors") && e.contains("complete safetensors"), "cut {cut}: {e}");
    }

    // A missing tensor.
    let dir = fresh();
    let w = tiny_weights(&t);
    let keep: Vec<StTensor> = w
        .iter()
        .filter(|(n, _)| *n != "model.layers.1.mlp.up_proj.weight")
        .map(|(n, (s, v))| StTensor::f32(n, s, v))
        .collect();
    write_safetensors(&st(dir.path()), &keep);
    let e = load_err(dir.path());
    assert!(e.contains("model.layers.1.mlp.up_proj.weight") && e.contains("missing"), "{e}");

    // A shape that disagrees with config.json.
    let bad: Vec<StTensor> = w
        .iter()
        .map(|(n, (s, v))| {
            if n == "model.layers.0.self_attn.k_proj.weight" {
                StTensor::f32(n, &[128, 64], v)
            } else {
                StTensor::f32(n, s, v)
            }
        })
        .collect();
    write_safetensors(&st(dir.path()), &bad);
    let e = load_err(dir.path());
    assert!(
        e.contains("model.safetensors")
            && e.contains("model.layers.0.self_attn.k_proj.weight")
            && e.contains("[64, 128]")
            && e.contains("[128, 64]"),
        "{e}"
    );

    // An unsupported dtype.
    let int8: Vec<StTensor> = w
        .iter()
        .map(|(n, (s, v))| {
            if n == "model.norm.weight" {
                StTensor { name: n.clone(), dtype: "I8", shape: s.clone(), bytes: vec![1; v.len()] }
            } else {
                StTensor::f32(n, s, v)
            }
        })
        .collect();
    write_safetensors(&st(dir.path()), &int8);
    let e = load_err(dir.path());
    assert!(e.contains("model.safetensors") && e.contains("model.norm.weight") && e.contains("I8"), "{e}");

    // Not a model at all.
    let e = load_err(Path::new("/nonexistent/ckpt"));
    assert!(e.contains("/nonexistent/ckpt"), "{e}");
}

#[test]
fn gguf_metadata_of_every_type_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    let kv = vec![
        ("a.u8", GV::U8(7)),
        ("a.i8", GV::I8(-7)),
        ("a.u16", GV::U16(700)),
        ("a.i16", GV::I16(-700)),
        ("a.u32", GV::U32(70_000)),
        ("a.i32", GV::I32(-70_000)),
        ("a.f32", GV::F32(1.5)),
        ("a.bool", GV::Bool(true)),
        ("a.str", GV::Str("héllo".into())),
        ("a.arr", GV::Arr(4, vec![GV::U32(1), GV::U32(2)])),
        ("a.nested", GV::Arr(9, vec![GV::Arr(8, vec![GV::Str("x".into())]), GV::Arr(8, vec![])])),
        ("a.u64", GV::U64(1 << 40)),
        ("a.i64", GV::I64(-(1 << 40))),
        ("a.f64", GV::F64(-2.25)),
        ("general.alignment", GV::U32(16)),
    ];
    let tensors = vec![
        GTensor::f32("t.a", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        GTensor::f16("t.b", &[3], &[0.5, -1.0, 2.0]),
        GTensor { name: "t.q".into(), shape: vec![32], ggml_type: 8, bytes: vec![0; 34] },
    ];
    for version in [2, 3] {
        std::fs::write(&path, gguf_bytes(version, &kv, &tensors, 16)).unwrap();
        let g = GgufFile::open(&path).unwrap();
        assert_eq!(g.version, version);
        assert_eq!(g.get("a.u8"), Some(&GgufValue::U8(7)));
        assert_eq!(g.get("a.i8"), Some(&GgufValue::I8(-7)));
        assert_eq!(g.get("a.i16"), Some(&GgufValue::I16(-700)));
        assert_eq!(g.get("a.i32"), Some(&GgufValue::I32(-70_000)));
        assert_eq!(g.get_usize("a.u16").unwrap(), 700);
        assert_eq!(g.get_usize("a.u32").unwrap(), 70_000);
        assert_eq!(g.get_usize("a.u64").unwrap(), 1 << 40);
        assert_eq!(g.get("a.i64"), Some(&GgufValue::I64(-(1 << 40))));
        assert_eq!(g.opt_f64("a.f32").unwrap(), Some(1.5));
        assert_eq!(g.opt_f64("a.f64").unwrap(), Some(-2.25));
        assert_eq!(g.get("a.bool").and_then(GgufValue::as_bool), Some(true));
        assert_eq!(g.get_str("a.str").unwrap(), "héllo");
        assert_eq!(g.get("a.arr"), Some(&GgufValue::Array(vec![GgufValue::U32(1), GgufValue::U32(2)])));
        let nested = g.get("a.nested").unwrap().as_array().unwrap();
        assert_eq!(nested[0], GgufValue::Array(vec![GgufValue::String("x".into())]));
        let e = g.get_usize("a.str").unwrap_err().to_string();
        assert!(e.contains("m.gguf") && e.contains("a.str") && e.contains("string"), "{e}");
        assert_eq!(g.info("t.a").unwrap().shape(), vec![2, 3]);
        assert_eq!(g.info("t.a").unwrap().dims, vec![3, 2], "innermost first");
        let (_, dt, bytes) = g.tensor_bytes("t.a").unwrap();
        assert_eq!((dt, bytes.len()), (DType::F32, 24));
        assert_eq!(&bytes[20..24], &6.0f32.to_le_bytes());
        let (_, dt, bytes) = g.tensor_bytes("t.b").unwrap();
        assert_eq!((dt, bytes.len()), (DType::F16, 6));
        assert_eq!(&bytes[4..6], &half::f16::from_f32(2.0).to_le_bytes());
        let e = g.tensor_bytes("t.q").unwrap_err().to_string();
        assert!(e.contains("m.gguf") && e.contains("t.q") && e.contains("Q8_0"), "{e}");
        let (_, st, bytes) = g.tensor_raw("t.q").unwrap();
        assert_eq!((st, bytes.len()), (Storage::Quant(QuantKind::Q8_0), 34));
    }
}

#[test]
fn gguf_llama_unpermutes_q_k_and_equals_the_safetensors_model() {
    for (qwen2, tied, f16) in [(false, false, false), (false, true, true), (true, false, false)] {
        let dir = tempfile::tempdir().unwrap();
        let t = tiny(qwen2, tied);
        write_hf(dir.path(), &t);
        let gpath = dir.path().join("tiny.gguf");
        write_gguf(&gpath, &t, f16);
        let mut g = GgufFile::open(&gpath).unwrap();
        let spec = g.spec().unwrap();
        let hf = load(dir.path()).unwrap();
        assert_eq!((spec.hidden_size, spec.num_key_value_heads, spec.tie_word_embeddings), (128, 1, tied));
        assert_eq!(spec.eos_token_ids, vec![vocab().eos]);
        // The Q rows come back in HF order.
        let q = g.read("model.layers.0.self_attn.q_proj.weight", &[128, 128], DType::F32).unwrap();
        let want = &tiny_weights(&t)["model.layers.0.self_attn.q_proj.weight"].1;
        let q = match q {
            decode_kernels::tensor::HostData::F32(v) => v,
            _ => unreachable!(),
        };
        if f16 {
            assert!(q.iter().zip(want).all(|(a, b)| *a == half::f16::from_f32(*b).to_f32()));
        } else {
            assert_eq!(&q, want);
        }
        let m = load(&gpath).unwrap();
        assert_eq!(m.weights.lm_head.same_buffer(&m.weights.embed), tied);
        let (a, b) = (run(&m, &TOKENS), run(&hf, &TOKENS));
        let e = a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        let bound = if f16 { 0.05 } else { 1e-5 };
        assert!(e <= bound, "qwen2 {qwen2} tied {tied} f16 {f16}: GGUF vs safetensors logits differ by {e}");
        // Same tokenizer behaviour as tokenizer.json.
        let text = "hello world, héllo wörld 你好";
        let (tg, th) = (m.tokenizer.as_ref().unwrap(), hf.tokenizer.as_ref().unwrap());
        assert_eq!(tg.encode(text, true).unwrap(), th.encode(text, true).unwrap());
    }
}

#[test]
fn gguf_errors() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(false, false);
    let path = dir.path().join("tiny.gguf");
    write_gguf(&path, &t, false);
    let bytes = std::fs::read(&path).unwrap();
    // Truncated anywhere: an error naming the file, never a panic.
    for cut in [bytes.len() - 1, bytes.len() - 5000, bytes.len() / 2, 3000, 100, 30, 10, 5, 0] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let e = load_err(&path);
        assert!(e.contains("tiny.gguf"), "cut {cut}: {e}");
    }
    // Bad magic, unknown version.
    let mut b = bytes.clone();
    b[0] = b'X';
    std::fs::write(&path, &b).unwrap();
    assert!(load_err(&path).contains("magic"));
    let mut b = bytes.clone();
    b[4] = 1;
    std::fs::write(&path, &b).unwrap();
    assert!(load_err(&path).contains("version"));

    // An unknown architecture; a tensor of an unsupported quantized type.
    let kv = vec![("general.architecture", GV::Str("gpt2".into()))];
    std::fs::write(&path, gguf_bytes(3, &kv, &[], 32)).unwrap();
    let e = load_err(&path);
    assert!(e.contains("general.architecture") && e.contains("gpt2"), "{e}");

    let w = tiny_weights(&t);
    let kv = vec![
        ("general.architecture", GV::Str("llama".into())),
        ("llama.block_count", GV::U32(2)),
        ("llama.context_length", GV::U32(64)),
        ("llama.embedding_length", GV::U32(128)),
        ("llama.feed_forward_length", GV::U32(96)),
        ("llama.attention.head_count", GV::U32(2)),
        ("llama.attention.head_count_kv", GV::U32(1)),
        ("llama.attention.layer_norm_rms_epsilon", GV::F32(1e-5)),
    ];
    let mut kv_tok = kv.clone();
    kv_tok.extend(tokenizer_kv(&vocab(), true));
    let tensors: Vec<GTensor> = w
        .iter()
        .map(|(n, (s, v))| {
            let g = gguf_name(n);
            if g == "blk.1.ffn_down.weight" {
                // Q5_K: a quantized type the loader does not read.
                GTensor { name: g, shape: vec![s[0], s[1]], ggml_type: 13, bytes: vec![0; 16] }
            } else {
                GTensor::f32(&g, s, v)
            }
        })
        .collect();
    std::fs::write(&path, gguf_bytes(3, &kv_tok, &tensors, 32)).unwrap();
    let e = load_err(&path);
    assert!(e.contains("blk.1.ffn_down.weight") && e.contains("Q5_K") && e.contains("expanded"), "{e}");

    // A missing tensor names its GGUF name; a missing metadata key names the key.
    let fewer: Vec<GTensor> = w
        .iter()
        .filter(|(n, _)| !n.contains("layers.1.mlp.gate"))
        .map(|(n, (s, v))| GTensor::f32(&gguf_name(n), s, v))
        .collect();
    std::fs::write(&path, gguf_bytes(3, &kv_tok, &fewer, 32)).unwrap();
    let e = load_err(&path);
    assert!(e.contains("blk.1.ffn_gate.weight") && e.contains("missing"), "{e}");
    let no_ff: Vec<(&str, GV)> = kv_tok.iter().filter(|(k, _)| *k != "llama.feed_forward_length").cloned().collect();
    std::fs::write(&path, gguf_bytes(3, &no_ff, &fewer, 32)).unwrap();
    let e = load_err(&path);
    assert!(e.contains("llama.feed_forward_length"), "{e}");

    // An unknown tokenizer model is refused by name.
    let mut spm = kv.clone();
    spm.push(("tokenizer.ggml.model", GV::Str("bert".into())));
    let all: Vec<GTensor> = w.iter().map(|(n, (s, v))| GTensor::f32(&gguf_name(n), s, v)).collect();
    std::fs::write(&path, gguf_bytes(3, &spm, &all, 32)).unwrap();
    let e = load_err(&path);
    assert!(e.contains("tokenizer.ggml.model") && e.contains("bert"), "{e}");
}

#[test]
fn values_beyond_f16_are_an_error_not_infinity() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(false, true);
    write_hf(dir.path(), &t);
    let w = tiny_weights(&t);
    let tensors: Vec<StTensor> = w
        .iter()
        .map(|(n, (s, v))| {
            let mut v = v.clone();
            if n == "model.norm.weight" {
                v[5] = 1e6;
            }
            StTensor::bf16(n, s, &v)
        })
        .collect();
    write_safetensors(&dir.path().join("model.safetensors"), &tensors);
    let e =
        Model::load_with(&Context::cpu(), dir.path(), &LoadOptions { dtype: Some(DType::F16), ..Default::default() })
            .expect_err("1e6 does not fit f16")
            .to_string();
    assert!(e.contains("model.safetensors") && e.contains("model.norm.weight") && e.contains("element 5"), "{e}");
    // In bf16 or f32 it loads.
    assert!(Model::load_with(
        &Context::cpu(),
        dir.path(),
        &LoadOptions { dtype: Some(DType::BF16), ..Default::default() }
    )
    .is_ok());
}

#[test]
fn corrupted_bytes_give_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let t = tiny(false, false);
    write_hf(dir.path(), &t);
    let gpath = dir.path().join("tiny.gguf");
    write_gguf(&gpath, &t, true);
    let (gguf, st) = (std::fs::read(&gpath).unwrap(), std::fs::read(dir.path().join("model.safetensors")).unwrap());
    let st_header = 8 + u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let gguf_header =
        gguf.len() - tiny_weights(&t).values().map(|(s, _)| s.iter().product::<usize>() * 2).sum::<usize>();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let (mut errors, mut loaded) = (0, 0);
    for round in 0..300 {
        // Corrupt 1-4 bytes of the header (metadata, tensor infos, JSON), where lengths, types and offsets live.
        let (path, mut bytes, header) = if round % 2 == 0 {
            (gpath.clone(), gguf.clone(), gguf_header.min(gguf.len()))
        } else {
            (dir.path().join("model.safetensors"), st.clone(), st_header)
        };
        for _ in 0..1 + next(4) {
            let i = next(header);
            bytes[i] = match next(3) {
                0 => 0xFF,
                1 => 0,
                _ => next(256) as u8,
            };
        }
        std::fs::write(&path, &bytes).unwrap();
        let target = if round % 2 == 0 { path.clone() } else { dir.path().to_path_buf() };
        let r = std::panic::catch_unwind(|| load(&target).map(|_| ()));
        match r {
            Ok(Ok(())) => loaded += 1,
            Ok(Err(_)) => errors += 1,
            Err(_) => panic!("round {round}: loading a corrupted {} panicked", path.display()),
        }
        std::fs::write(dir.path().join("model.safetensors"), &st).unwrap();
    }
    eprintln!("{errors} corrupted files refused, {loaded} still loaded (a changed value, not structure)");
    assert!(errors > 100);
}

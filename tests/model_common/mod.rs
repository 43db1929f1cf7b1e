//! Helpers of the model_* tests: tiny writers of safetensors and GGUF files,
//! a tiny byte-level BPE vocabulary, a tiny random checkpoint in both
//! formats, and a plain f64 reference of the Hugging Face forward pass.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

// ---------------------------------------------------------------- safetensors

/// One tensor to write: name, safetensors dtype name, shape, raw bytes.
pub struct StTensor {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl StTensor {
    pub fn f32(name: &str, shape: &[usize], v: &[f32]) -> Self {
        StTensor {
            name: name.into(),
            dtype: "F32",
            shape: shape.to_vec(),
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
    pub fn bf16(name: &str, shape: &[usize], v: &[f32]) -> Self {
        let bytes = v.iter().flat_map(|x| half::bf16::from_f32(*x).to_le_bytes()).collect();
        StTensor { name: name.into(), dtype: "BF16", shape: shape.to_vec(), bytes }
    }
}

pub fn safetensors_bytes(tensors: &[StTensor]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut at = 0;
    for t in tensors {
        header.insert(
            t.name.clone(),
            json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [at, at + t.bytes.len()]}),
        );
        at += t.bytes.len();
    }
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut h = Value::Object(header).to_string().into_bytes();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    for t in tensors {
        out.extend(&t.bytes);
    }
    out
}

pub fn write_safetensors(path: &Path, tensors: &[StTensor]) {
    std::fs::write(path, safetensors_bytes(tensors)).unwrap();
}

// ---------------------------------------------------------------- GGUF

/// A GGUF metadata value (type ids as in the spec).
#[derive(Clone, Debug)]
pub enum GV {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    /// Element type id and elements.
    Arr(u32, Vec<GV>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl GV {
    fn type_id(&self) -> u32 {
        match self {
            GV::U8(_) => 0,
            GV::I8(_) => 1,
            GV::U16(_) => 2,
            GV::I16(_) => 3,
            GV::U32(_) => 4,
            GV::I32(_) => 5,
            GV::F32(_) => 6,
            GV::Bool(_) => 7,
            GV::Str(_) => 8,
            GV::Arr(..) => 9,
            GV::U64(_) => 10,
            GV::I64(_) => 11,
            GV::F64(_) => 12,
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            GV::U8(v) => out.push(*v),
            GV::I8(v) => out.push(*v as u8),
            GV::U16(v) => out.extend(v.to_le_bytes()),
            GV::I16(v) => out.extend(v.to_le_bytes()),
            GV::U32(v) => out.extend(v.to_le_bytes()),
            GV::I32(v) => out.extend(v.to_le_bytes()),
            GV::F32(v) => out.extend(v.to_le_bytes()),
            GV::Bool(v) => out.push(*v as u8),
            GV::Str(s) => gstr(out, s),
            GV::Arr(t, v) => {
                out.extend(t.to_le_bytes());
                out.extend((v.len() as u64).to_le_bytes());
                for e in v {
                    e.write(out);
                }
            }
            GV::U64(v) => out.extend(v.to_le_bytes()),
            GV::I64(v) => out.extend(v.to_le_bytes()),
            GV::F64(v) => out.extend(v.to_le_bytes()),
        }
    }
    pub fn strs<S: AsRef<str>>(v: &[S]) -> GV {
        GV::Arr(8, v.iter().map(|s| GV::Str(s.as_ref().to_string())).collect())
    }
}

fn gstr(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

/// A GGUF tensor: name, shape outermost first (written innermost first), GGML type, bytes.
pub struct GTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub ggml_type: u32,
    pub bytes: Vec<u8>,
}

impl GTensor {
    pub fn f32(name: &str, shape: &[usize], v: &[f32]) -> Self {
        GTensor {
            name: name.into(),
            shape: shape.to_vec(),
            ggml_type: 0,
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
    pub fn f16(name: &str, shape: &[usize], v: &[f32]) -> Self {
        let bytes = v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect();
        GTensor { name: name.into(), shape: shape.to_vec(), ggml_type: 1, bytes }
    }
}

pub fn gguf_bytes(version: u32, kv: &[(&str, GV)], tensors: &[GTensor], align: usize) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(version.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((kv.len() as u64).to_le_bytes());
    for (k, v) in kv {
        gstr(&mut out, k);
        out.extend(v.type_id().to_le_bytes());
        v.write(&mut out);
    }
    let mut offset = 0usize;
    let mut offsets = Vec::new();
    for t in tensors {
        gstr(&mut out, &t.name);
        out.extend((t.shape.len() as u32).to_le_bytes());
        for d in t.shape.iter().rev() {
            out.extend((*d as u64).to_le_bytes());
        }
        out.extend(t.ggml_type.to_le_bytes());
        out.extend((offset as u64).to_le_bytes());
        offsets.push(offset);
        offset = (offset + t.bytes.len()).div_ceil(align) * align;
    }
    while out.len() % align != 0 {
        out.push(0);
    }
    let start = out.len();
    for (t, off) in tensors.iter().zip(offsets) {
        out.resize(start + off, 0);
        out.extend(&t.bytes);
    }
    out
}

// ---------------------------------------------------------------- vocabulary

/// A byte-level BPE vocabulary: the 256 byte symbols, a few merges, and special tokens.
pub struct Vocab {
    pub tokens: Vec<String>,
    pub merges: Vec<(String, String)>,
    /// Token types as GGUF writes them (1 normal, 3 control).
    pub types: Vec<i32>,
    pub bos: u32,
    pub eos: u32,
}

pub fn vocab() -> Vocab {
    let mut alphabet: Vec<char> = tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet().into_iter().collect();
    alphabet.sort_unstable();
    let mut tokens: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
    let mut merges = Vec::new();
    for (a, b) in [
        ("h", "e"),
        ("l", "l"),
        ("he", "ll"),
        ("hell", "o"),
        ("Ġ", "w"),
        ("o", "r"),
        ("Ġw", "or"),
        ("l", "d"),
        ("Ġwor", "ld"),
    ] {
        merges.push((a.to_string(), b.to_string()));
        tokens.push(format!("{a}{b}"));
    }
    let mut types = vec![1; tokens.len()];
    let bos = tokens.len() as u32;
    tokens.push("<|bos|>".into());
    tokens.push("<|eos|>".into());
    types.extend([3, 3]);
    Vocab { tokens, merges, types, bos, eos: bos + 1 }
}

/// Qwen2's pre-tokenizer split pattern.
pub const QWEN2_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// tokenizer.json text of the vocabulary, as transformers writes a Qwen2-style one; BOS added when `add_bos`.
pub fn tokenizer_json(v: &Vocab, add_bos: bool) -> String {
    let vocab: serde_json::Map<String, Value> =
        v.tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    let added: Vec<Value> = v
        .types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == 3)
        .map(|(i, _)| json!({"id": i, "content": v.tokens[i], "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    let bos = &v.tokens[v.bos as usize];
    let post = if add_bos {
        json!({"type": "TemplateProcessing",
               "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
               "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
               "special_tokens": {bos.clone(): {"id": bos, "ids": [v.bos], "tokens": [bos]}}})
    } else {
        json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false})
    };
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]},
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab,
                  "merges": v.merges.iter().map(|(a, b)| vec![a.clone(), b.clone()]).collect::<Vec<_>>()}
    })
    .to_string()
}

/// The vocabulary's GGUF metadata (`gpt2` model, `qwen2` pre-tokenizer).
pub fn tokenizer_kv(v: &Vocab, add_bos: bool) -> Vec<(&'static str, GV)> {
    vec![
        ("tokenizer.ggml.model", GV::Str("gpt2".into())),
        ("tokenizer.ggml.pre", GV::Str("qwen2".into())),
        ("tokenizer.ggml.tokens", GV::strs(&v.tokens)),
        ("tokenizer.ggml.token_type", GV::Arr(5, v.types.iter().map(|t| GV::I32(*t)).collect())),
        ("tokenizer.ggml.merges", GV::strs(&v.merges.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>())),
        ("tokenizer.ggml.bos_token_id", GV::U32(v.bos)),
        ("tokenizer.ggml.eos_token_id", GV::U32(v.eos)),
        ("tokenizer.ggml.add_bos_token", GV::Bool(add_bos)),
    ]
}

// ---------------------------------------------------------------- a tiny model

/// Shapes and options of a tiny test model.
#[derive(Clone, Copy, Debug)]
pub struct Tiny {
    pub hidden: usize,
    pub inter: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub theta: f64,
    pub eps: f64,
    /// Qwen2 (QKV bias) rather than Llama.
    pub qwen2: bool,
    pub tied: bool,
}

pub fn tiny(qwen2: bool, tied: bool) -> Tiny {
    Tiny {
        hidden: 128,
        inter: 96,
        layers: 2,
        heads: 2,
        kv_heads: 1,
        head_dim: 64,
        vocab: vocab().tokens.len(),
        theta: 10000.0,
        eps: 1e-5,
        qwen2,
        tied,
    }
}

/// Deterministic values in (-a, a).
pub fn values(seed: u64, n: usize, a: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
        })
        .collect()
}

/// Every tensor of the tiny model by HF name: shape and values.
pub fn tiny_weights(t: &Tiny) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut m = BTreeMap::new();
    let mut seed = 0;
    let mut add = |name: String, shape: Vec<usize>, norm: bool| {
        seed += 1;
        let n = shape.iter().product();
        let v = if norm {
            values(seed, n, 0.2).into_iter().map(|x| 1.0 + x).collect()
        } else {
            values(seed, n, (3.0 / *shape.last().unwrap() as f32).sqrt())
        };
        m.insert(name, (shape, v));
    };
    let (h, d) = (t.hidden, t.head_dim);
    add("model.embed_tokens.weight".into(), vec![t.vocab, h], false);
    for l in 0..t.layers {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        add(p("input_layernorm.weight"), vec![h], true);
        add(p("self_attn.q_proj.weight"), vec![t.heads * d, h], false);
        add(p("self_attn.k_proj.weight"), vec![t.kv_heads * d, h], false);
        add(p("self_attn.v_proj.weight"), vec![t.kv_heads * d, h], false);
        if t.qwen2 {
            add(p("self_attn.q_proj.bias"), vec![t.heads * d], false);
            add(p("self_attn.k_proj.bias"), vec![t.kv_heads * d], false);
            add(p("self_attn.v_proj.bias"), vec![t.kv_heads * d], false);
        }
        add(p("self_attn.o_proj.weight"), vec![h, t.heads * d], false);
        add(p("post_attention_layernorm.weight"), vec![h], true);
        add(p("mlp.gate_proj.weight"), vec![t.inter, h], false);
        add(p("mlp.up_proj.weight"), vec![t.inter, h], false);
        add(p("mlp.down_proj.weight"), vec![h, t.inter], false);
    }
    add("model.norm.weight".into(), vec![h], true);
    if !t.tied {
        add("lm_head.weight".into(), vec![t.vocab, h], false);
    }
    m
}

pub fn config_json(t: &Tiny) -> Value {
    let v = vocab();
    json!({
        "architectures": [if t.qwen2 { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" }],
        "hidden_size": t.hidden, "intermediate_size": t.inter, "num_hidden_layers": t.layers,
        "num_attention_heads": t.heads, "num_key_value_heads": t.kv_heads, "vocab_size": t.vocab,
        "rms_norm_eps": t.eps, "rope_theta": t.theta, "max_position_embeddings": 64, "hidden_act": "silu",
        "tie_word_embeddings": t.tied, "torch_dtype": "float32", "bos_token_id": v.bos, "eos_token_id": v.eos
    })
}

/// Writes a Hugging Face folder (config.json, model.safetensors in f32, tokenizer.json).
pub fn write_hf(dir: &Path, t: &Tiny) {
    std::fs::write(dir.join("config.json"), config_json(t).to_string()).unwrap();
    let w = tiny_weights(t);
    let tensors: Vec<StTensor> = w.iter().map(|(n, (s, v))| StTensor::f32(n, s, v)).collect();
    write_safetensors(&dir.join("model.safetensors"), &tensors);
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json(&vocab(), !t.qwen2)).unwrap();
}

/// llama.cpp's permutation of Q/K rows for the llama architecture: HF row
/// `j * d/2 + i` of each head becomes row `2 i + j`.
pub fn permute_rows(v: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = v.len() / cols;
    let d = rows / heads;
    let half = d / 2;
    let mut out = vec![0.0; v.len()];
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                let (src, dst) = (h * d + j * half + i, h * d + 2 * i + j);
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&v[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// The GGUF name of an HF tensor name (the test's own table).
pub fn gguf_name(hf: &str) -> String {
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (l, part) = rest.split_once('.').unwrap();
    let (module, suffix) = part.rsplit_once('.').unwrap();
    let g = match module {
        "input_layernorm" => "attn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "post_attention_layernorm" => "ffn_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        m => panic!("{m}"),
    };
    format!("blk.{l}.{g}.{suffix}")
}

/// The same model as a GGUF file, as llama.cpp's converter writes it (norms
/// in f32, matrices in f16 when `f16`; Q/K permuted for llama).
pub fn write_gguf(path: &Path, t: &Tiny, f16: bool) {
    let arch = if t.qwen2 { "qwen2" } else { "llama" };
    let k = |s: &str| -> &'static str { Box::leak(format!("{arch}.{s}").into_boxed_str()) };
    let mut kv = vec![
        ("general.architecture", GV::Str(arch.into())),
        ("general.name", GV::Str("tiny".into())),
        ("general.alignment", GV::U32(64)),
        (k("block_count"), GV::U32(t.layers as u32)),
        (k("context_length"), GV::U32(64)),
        (k("embedding_length"), GV::U32(t.hidden as u32)),
        (k("feed_forward_length"), GV::U32(t.inter as u32)),
        (k("attention.head_count"), GV::U32(t.heads as u32)),
        (k("attention.head_count_kv"), GV::U32(t.kv_heads as u32)),
        (k("rope.freq_base"), GV::F32(t.theta as f32)),
        (k("rope.dimension_count"), GV::U32(t.head_dim as u32)),
        (k("attention.layer_norm_rms_epsilon"), GV::F32(t.eps as f32)),
    ];
    kv.extend(tokenizer_kv(&vocab(), !t.qwen2));
    let mut tensors = Vec::new();
    for (name, (shape, v)) in tiny_weights(t) {
        let heads = if name.contains("q_proj") {
            t.heads
        } else if name.contains("k_proj") {
            t.kv_heads
        } else {
            0
        };
        let v =
            if heads > 0 && !t.qwen2 { permute_rows(&v, heads, if shape.len() > 1 { shape[1] } else { 1 }) } else { v };
        let g = gguf_name(&name);
        tensors.push(if f16 && shape.len() == 2 { GTensor::f16(&g, &shape, &v) } else { GTensor::f32(&g, &shape, &v) });
    }
    std::fs::write(path, gguf_bytes(3, &kv, &tensors, 64)).unwrap();
}

// ---------------------------------------------------------------- reference forward

fn matvec(w: &[f32], x: &[f64], rows: usize) -> Vec<f64> {
    let cols = x.len();
    (0..rows).map(|r| (0..cols).map(|c| w[r * cols + c] as f64 * x[c]).sum()).collect()
}

fn rmsnorm(x: &[f64], w: &[f32], eps: f64) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let s = 1.0 / (ms + eps).sqrt();
    x.iter().zip(w).map(|(v, w)| v * s * *w as f64).collect()
}

/// Transformers' forward of the tiny model over `tokens`: the logits at every position.
pub fn reference_logits(t: &Tiny, tokens: &[u32]) -> Vec<Vec<f64>> {
    let w = tiny_weights(t);
    let g = |n: &str| &w[n].1;
    let (h, d, hq, hkv) = (t.hidden, t.head_dim, t.heads, t.kv_heads);
    let half = d / 2;
    let mut kc: Vec<Vec<Vec<f64>>> = vec![Vec::new(); t.layers]; // [layer][pos] -> hkv*d
    let mut vc: Vec<Vec<Vec<f64>>> = vec![Vec::new(); t.layers];
    let mut out = Vec::new();
    for (pos, &tok) in tokens.iter().enumerate() {
        let emb = g("model.embed_tokens.weight");
        let mut x: Vec<f64> = emb[tok as usize * h..(tok as usize + 1) * h].iter().map(|&v| v as f64).collect();
        let rope = |v: &mut [f64]| {
            for head in v.chunks_mut(d) {
                for i in 0..half {
                    let a = pos as f64 * t.theta.powf(-((2 * i) as f64) / d as f64);
                    let (s, c) = a.sin_cos();
                    let (x0, x1) = (head[i], head[i + half]);
                    head[i] = x0 * c - x1 * s;
                    head[i + half] = x1 * c + x0 * s;
                }
            }
        };
        for l in 0..t.layers {
            let p = |s: &str| format!("model.layers.{l}.{s}");
            let xn = rmsnorm(&x, g(&p("input_layernorm.weight")), t.eps);
            let mut q = matvec(g(&p("self_attn.q_proj.weight")), &xn, hq * d);
            let mut k = matvec(g(&p("self_attn.k_proj.weight")), &xn, hkv * d);
            let mut v = matvec(g(&p("self_attn.v_proj.weight")), &xn, hkv * d);
            if t.qwen2 {
                for (vec, n) in [(&mut q, "q"), (&mut k, "k"), (&mut v, "v")] {
                    for (a, b) in vec.iter_mut().zip(g(&p(&format!("self_attn.{n}_proj.bias")))) {
                        *a += *b as f64;
                    }
                }
            }
            rope(&mut q);
            rope(&mut k);
            kc[l].push(k);
            vc[l].push(v);
            let mut attn = vec![0.0; hq * d];
            for head in 0..hq {
                let kvh = head / (hq / hkv);
                let qh = &q[head * d..(head + 1) * d];
                let scores: Vec<f64> = (0..=pos)
                    .map(|j| (0..d).map(|i| qh[i] * kc[l][j][kvh * d + i]).sum::<f64>() / (d as f64).sqrt())
                    .collect();
                let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for j in 0..=pos {
                    for i in 0..d {
                        attn[head * d + i] += e[j] / z * vc[l][j][kvh * d + i];
                    }
                }
            }
            let o = matvec(g(&p("self_attn.o_proj.weight")), &attn, h);
            x.iter_mut().zip(o).for_each(|(a, b)| *a += b);
            let xn = rmsnorm(&x, g(&p("post_attention_layernorm.weight")), t.eps);
            let gate = matvec(g(&p("mlp.gate_proj.weight")), &xn, t.inter);
            let up = matvec(g(&p("mlp.up_proj.weight")), &xn, t.inter);
            let hid: Vec<f64> = gate.iter().zip(&up).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            let dn = matvec(g(&p("mlp.down_proj.weight")), &hid, h);
            x.iter_mut().zip(dn).for_each(|(a, b)| *a += b);
        }
        let xn = rmsnorm(&x, g("model.norm.weight"), t.eps);
        let head = if t.tied { g("model.embed_tokens.weight") } else { g("lm_head.weight") };
        out.push(matvec(head, &xn, t.vocab));
    }
    out
}

// ---------------------------------------------------------------- reference over a loaded model

/// Transformers' forward in f64 over the weights a [`Model`] loaded (the fused
/// Q/K/V and gate/up tensors split back into their parts), with the spec's
/// RoPE frequencies and Qwen3's q/k norms: an independent check of the
/// loader's layout and spec, whatever the decode step supports. Returns the
/// logits at every position of `tokens`.
pub fn reference_over_model(m: &decode_kernels::model::Model, tokens: &[u32]) -> Vec<Vec<f64>> {
    let s = &m.spec;
    let f = |t: &decode_kernels::Tensor| t.to_f32_vec().unwrap();
    let lin = |w: &decode_kernels::model::load::Linear| w.to_f32_vec().unwrap();
    let (h, d, hq, hkv, inter, vocab) =
        (s.hidden_size, s.head_dim, s.num_attention_heads, s.num_key_value_heads, s.intermediate_size, s.vocab_size);
    let half = d / 2;
    let inv_freq = s.rope_inv_freq();
    let eps = s.rms_norm_eps;
    struct L {
        an: Vec<f32>,
        qkv: Vec<f32>,
        b: Option<Vec<f32>>,
        o: Vec<f32>,
        mn: Vec<f32>,
        gu: Vec<f32>,
        down: Vec<f32>,
        qn: Option<Vec<f32>>,
        kn: Option<Vec<f32>>,
    }
    let layers: Vec<L> = m
        .weights
        .layers
        .iter()
        .map(|l| L {
            an: f(&l.attn_norm),
            qkv: lin(&l.w_qkv),
            b: l.b_qkv.as_ref().map(f),
            o: lin(&l.w_o),
            mn: f(&l.mlp_norm),
            gu: lin(&l.w_gate_up),
            down: lin(&l.w_down),
            qn: l.q_norm.as_ref().map(f),
            kn: l.k_norm.as_ref().map(f),
        })
        .collect();
    let (embed, final_norm, lm_head) = (f(&m.weights.embed), f(&m.weights.final_norm), lin(&m.weights.lm_head));
    let mut kc: Vec<Vec<Vec<f64>>> = vec![Vec::new(); layers.len()];
    let mut vc: Vec<Vec<Vec<f64>>> = vec![Vec::new(); layers.len()];
    let mut out = Vec::new();
    for (pos, &tok) in tokens.iter().enumerate() {
        let mut x: Vec<f64> = embed[tok as usize * h..(tok as usize + 1) * h].iter().map(|&v| v as f64).collect();
        let rope = |v: &mut [f64], norm: Option<&Vec<f32>>| {
            for head in v.chunks_mut(d) {
                if let Some(w) = norm {
                    let y = rmsnorm(head, w, eps);
                    head.copy_from_slice(&y);
                }
                for i in 0..half {
                    let (sn, c) = (pos as f64 * inv_freq[i]).sin_cos();
                    let (x0, x1) = (head[i], head[i + half]);
                    head[i] = x0 * c - x1 * sn;
                    head[i + half] = x1 * c + x0 * sn;
                }
            }
        };
        for (li, l) in layers.iter().enumerate() {
            let xn = rmsnorm(&x, &l.an, eps);
            let mut qkv = matvec(&l.qkv, &xn, (hq + 2 * hkv) * d);
            if let Some(b) = &l.b {
                qkv.iter_mut().zip(b).for_each(|(a, b)| *a += *b as f64);
            }
            let mut q = qkv[..hq * d].to_vec();
            let mut k = qkv[hq * d..(hq + hkv) * d].to_vec();
            let v = qkv[(hq + hkv) * d..].to_vec();
            rope(&mut q, l.qn.as_ref());
            rope(&mut k, l.kn.as_ref());
            kc[li].push(k);
            vc[li].push(v);
            let mut attn = vec![0.0; hq * d];
            for head in 0..hq {
                let kvh = head / (hq / hkv);
                let qh = &q[head * d..(head + 1) * d];
                let scores: Vec<f64> = (0..=pos)
                    .map(|j| (0..d).map(|i| qh[i] * kc[li][j][kvh * d + i]).sum::<f64>() / (d as f64).sqrt())
                    .collect();
                let mx = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - mx).exp()).collect();
                let z: f64 = e.iter().sum();
                for j in 0..=pos {
                    for i in 0..d {
                        attn[head * d + i] += e[j] / z * vc[li][j][kvh * d + i];
                    }
                }
            }
            let o = matvec(&l.o, &attn, h);
            x.iter_mut().zip(o).for_each(|(a, b)| *a += b);
            let xn = rmsnorm(&x, &l.mn, eps);
            let gu = matvec(&l.gu, &xn, 2 * inter);
            let hid: Vec<f64> = (0..inter).map(|i| gu[i] / (1.0 + (-gu[i]).exp()) * gu[inter + i]).collect();
            let dn = matvec(&l.down, &hid, h);
            x.iter_mut().zip(dn).for_each(|(a, b)| *a += b);
        }
        let xn = rmsnorm(&x, &final_norm, eps);
        out.push(matvec(&lm_head, &xn, vocab));
    }
    out
}

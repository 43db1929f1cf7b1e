//! A model's typed description ([`ModelSpec`]) from a Hugging Face config.json
//! (transformers 4 and 5 forms) plus generation_config.json, or from GGUF
//! metadata (see [`super::gguf`]). Anything the engine would have to
//! approximate (an unknown architecture, rope type or option) is an error
//! naming the file and the field.

use std::path::Path;

use serde_json::{Map, Value};

use super::{bad, unsupported};
use crate::decode::ModelConfig;
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Head sizes the attention kernels serve.
pub const HEAD_DIMS: [usize; 5] = [64, 80, 96, 128, 256];

/// The decoder architectures understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Architecture {
    /// `LlamaForCausalLM` (Llama 2, 3, 3.1, 3.2).
    Llama,
    /// `MistralForCausalLM` without a sliding window.
    Mistral,
    /// `Qwen2ForCausalLM` (Qwen2, Qwen2.5): biases on the Q, K and V projections.
    Qwen2,
    /// `Qwen3ForCausalLM`: per-head RMSNorm of Q and K before RoPE; head_dim independent of hidden.
    Qwen3,
}

impl Architecture {
    /// The class name transformers writes in `architectures`.
    pub fn hf_name(self) -> &'static str {
        match self {
            Architecture::Llama => "LlamaForCausalLM",
            Architecture::Mistral => "MistralForCausalLM",
            Architecture::Qwen2 => "Qwen2ForCausalLM",
            Architecture::Qwen3 => "Qwen3ForCausalLM",
        }
    }

    fn from_hf_name(s: &str) -> Option<Self> {
        [Architecture::Llama, Architecture::Mistral, Architecture::Qwen2, Architecture::Qwen3]
            .into_iter()
            .find(|a| a.hf_name() == s)
    }

    fn from_model_type(s: &str) -> Option<Self> {
        match s {
            "llama" => Some(Architecture::Llama),
            "mistral" => Some(Architecture::Mistral),
            "qwen2" => Some(Architecture::Qwen2),
            "qwen3" => Some(Architecture::Qwen3),
            _ => None,
        }
    }
}

/// How RoPE frequencies are scaled.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum RopeScaling {
    /// `rope_type: "default"` (or no scaling): inv_freq[i] = theta^(-2i/d).
    None,
    /// `rope_type: "llama3"` (Llama 3.1, 3.2): low frequencies divided by
    /// `factor`, high ones kept, a smooth blend between.
    Llama3 {
        /// Divisor of the low frequencies.
        factor: f64,
        /// Wavelengths above original_max_position_embeddings / low_freq_factor are scaled.
        low_freq_factor: f64,
        /// Wavelengths below original_max_position_embeddings / high_freq_factor are kept.
        high_freq_factor: f64,
        /// The context length the model was pretrained with.
        original_max_position_embeddings: usize,
    },
    /// llama3 scaling recovered from a GGUF's per-pair divisors (see
    /// [`RopeScaling::from_divisors`]): parameters that give exactly the stored
    /// divisors, with low_freq_factor = 1 (the original four are not kept).
    Llama3Fitted(crate::spec::layer::Llama3Rope),
    /// Per-pair divisors of the default frequencies, as a GGUF stores llama3
    /// scaling (the `rope_freqs.weight` tensor), that are not llama3's:
    /// inv_freq[i] = theta^(-2i/d) / divisors[i].
    Divisors(Vec<f64>),
}

impl RopeScaling {
    /// The scaling a GGUF's per-pair divisors (`rope_freqs.weight`) describe,
    /// for a model of base `theta` and head size `d`: no scaling when every
    /// divisor is 1; llama3 scaling when the divisors are llama3's (1 for the
    /// high frequencies, `factor` for the low ones, a blend between); else the
    /// divisors as they are (which the decode step refuses).
    ///
    /// llama3's divisors depend on three numbers only: the factor and the line
    /// s = A f + B that the blend follows in the frequency f (A = original_max /
    /// (2 pi (high - low)), B = -low / (high - low)). The GGUF keeps neither the
    /// four parameters nor their names, so A and B are fitted to the blended
    /// pairs (at least two are needed) and turned into parameters with
    /// low_freq_factor = 1, which give the same frequencies for every pair (any
    /// low would). The fit is accepted only if it reproduces every stored
    /// divisor to 1e-5 (relative): it is the same rotation, not an approximation.
    pub fn from_divisors(theta: f64, d: usize, div: Vec<f64>) -> RopeScaling {
        if div.iter().all(|&x| x == 1.0) {
            return RopeScaling::None;
        }
        let factor = div.iter().copied().fold(1.0, f64::max);
        let tol = 1e-5;
        let f = |i: usize| theta.powf(-(2.0 * i as f64) / d as f64);
        // Blended pairs: s = (1/div - 1/factor) / (1 - 1/factor), strictly between 0 and 1.
        let blend: Vec<(f64, f64)> = div
            .iter()
            .enumerate()
            .filter(|(_, &x)| x > 1.0 + tol && x < factor * (1.0 - tol))
            .map(|(i, &x)| (f(i), (1.0 / x - 1.0 / factor) / (1.0 - 1.0 / factor)))
            .collect();
        if factor <= 1.0 || blend.len() < 2 {
            return RopeScaling::Divisors(div);
        }
        // Least squares of s on f.
        let n = blend.len() as f64;
        let (mf, ms) = (blend.iter().map(|p| p.0).sum::<f64>() / n, blend.iter().map(|p| p.1).sum::<f64>() / n);
        let var = blend.iter().map(|p| (p.0 - mf) * (p.0 - mf)).sum::<f64>();
        let a = blend.iter().map(|p| (p.0 - mf) * (p.1 - ms)).sum::<f64>() / var;
        let b = ms - a * mf;
        if !(a > 0.0 && b < 0.0 && a.is_finite() && b.is_finite()) {
            return RopeScaling::Divisors(div);
        }
        let (low, high) = (1.0, 1.0 - 1.0 / b);
        let original = 2.0 * std::f64::consts::PI * a * (high - low);
        let l3 = crate::spec::layer::Llama3Rope {
            factor,
            low_freq_factor: low,
            high_freq_factor: high,
            original_max: original,
        };
        let same = div.iter().enumerate().all(|(i, &x)| {
            let scaled = crate::spec::layer::rope_frequency(theta, d, i, Some(&l3));
            ((f(i) / scaled) / x - 1.0).abs() <= tol
        });
        if !same {
            return RopeScaling::Divisors(div);
        }
        RopeScaling::Llama3Fitted(l3)
    }
}

/// Everything the engine needs to know about a checkpoint's model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSpec {
    /// The architecture.
    pub arch: Architecture,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (GQA when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Size of one head.
    pub head_dim: usize,
    /// Vocabulary (rows of the embedding and of the LM head).
    pub vocab_size: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Longest context the model supports.
    pub max_position_embeddings: usize,
    /// The LM head is the embedding matrix (no `lm_head.weight` stored).
    pub tie_word_embeddings: bool,
    /// The checkpoint's own dtype (`torch_dtype` or `dtype`), when stated.
    pub dtype: Option<DType>,
    /// Begin-of-sequence token, when stated.
    pub bos_token_id: Option<u32>,
    /// Every token that ends generation (config.json and generation_config.json).
    pub eos_token_ids: Vec<u32>,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE frequency scaling.
    pub rope_scaling: RopeScaling,
    /// Biases on the Q, K and V projections (Qwen2).
    pub qkv_bias: bool,
    /// Per-head RMSNorm on Q and K before RoPE (Qwen3).
    pub qk_norm: bool,
}

/// Reads and parses a JSON file; errors name the file.
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(Error::io("reading", path))?;
    serde_json::from_str(&text).map_err(|e| bad(path, "(the whole file)", "valid JSON", e))
}

/// Typed access to one JSON object's fields, with errors naming file and field.
struct Fields<'a> {
    path: &'a Path,
    /// Prefix of field names for messages (`rope_scaling.`).
    prefix: String,
    obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn name(&self, key: &str) -> String {
        format!("field `{}{key}`", self.prefix)
    }

    /// The value, with JSON null taken as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn missing(&self, key: &str, expected: &str) -> Error {
        bad(self.path, &self.name(key), expected.to_string(), "nothing (the field is missing)")
    }

    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|u| usize::try_from(u).ok())
                .map(Some)
                .ok_or_else(|| bad(self.path, &self.name(key), "a non-negative integer", v)),
        }
    }

    fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?.ok_or_else(|| self.missing(key, "a non-negative integer"))
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| bad(self.path, &self.name(key), "a number", v)),
        }
    }

    fn f64(&self, key: &str) -> Result<f64> {
        self.opt_f64(key)?.ok_or_else(|| self.missing(key, "a number"))
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| bad(self.path, &self.name(key), "true or false", v)),
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| bad(self.path, &self.name(key), "a string", v)),
        }
    }

    /// A token id or a list of them (`eos_token_id: 2` or `[128001, 128009]`).
    fn token_ids(&self, key: &str) -> Result<Vec<u32>> {
        let one = |v: &Value| v.as_u64().and_then(|u| u32::try_from(u).ok());
        let err = |v: &Value| bad(self.path, &self.name(key), "a token id or a list of token ids", v);
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a.iter().map(|v| one(v).ok_or_else(|| err(v))).collect(),
            Some(v) => Ok(vec![one(v).ok_or_else(|| err(v))?]),
        }
    }

    fn object(&self, key: &str) -> Result<Option<Fields<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(obj)) => {
                Ok(Some(Fields { path: self.path, prefix: format!("{}{key}.", self.prefix), obj }))
            }
            Some(v) => Err(bad(self.path, &self.name(key), "an object", v)),
        }
    }
}

/// Parses a `torch_dtype` / `dtype` string.
fn parse_dtype(path: &Path, field: &str, s: &str) -> Result<DType> {
    match s {
        "float32" | "float" => Ok(DType::F32),
        "float16" | "half" => Ok(DType::F16),
        "bfloat16" => Ok(DType::BF16),
        _ => Err(bad(path, field, "one of float32, float16, bfloat16", format!("{s:?}"))),
    }
}

impl ModelSpec {
    /// Reads `dir/config.json` and, when present, `dir/generation_config.json`.
    pub fn from_hf_dir(dir: &Path) -> Result<Self> {
        let mut spec = Self::from_config_file(&dir.join("config.json"))?;
        let gen = dir.join("generation_config.json");
        if gen.is_file() {
            spec.apply_generation_config(&gen)?;
        }
        Ok(spec)
    }

    /// Parses a config.json file.
    pub fn from_config_file(path: &Path) -> Result<Self> {
        Self::from_config_value(&read_json(path)?, path)
    }

    /// Parses config.json text; `path` is named in errors.
    pub fn from_config_str(text: &str, path: &Path) -> Result<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| bad(path, "(the whole file)", "valid JSON", e))?;
        Self::from_config_value(&v, path)
    }

    /// Parses config.json's parsed JSON; `path` is named in errors.
    pub fn from_config_value(v: &Value, path: &Path) -> Result<Self> {
        let obj = v.as_object().ok_or_else(|| bad(path, "(the whole file)", "a JSON object", "another JSON value"))?;
        let f = Fields { path, prefix: String::new(), obj };
        let arch = Self::architecture(&f)?;

        let hidden_size = f.usize("hidden_size")?;
        let num_attention_heads = f.usize("num_attention_heads")?;
        let num_key_value_heads = f.opt_usize("num_key_value_heads")?.unwrap_or(num_attention_heads);
        if num_attention_heads == 0 {
            return Err(bad(path, "field `num_attention_heads`", "at least 1", 0));
        }
        let head_dim = f.opt_usize("head_dim")?.unwrap_or(hidden_size / num_attention_heads);
        let max_position_embeddings = f.usize("max_position_embeddings")?;

        if let Some(act) = f.opt_str("hidden_act")? {
            if act != "silu" {
                return Err(unsupported(path, "field `hidden_act`", format!("{act:?} (only \"silu\" is implemented)")));
            }
        }
        for key in ["attention_bias", "mlp_bias"] {
            let default_on = arch == Architecture::Qwen2 && key == "attention_bias";
            if f.opt_bool(key)? == Some(true) && !default_on {
                return Err(unsupported(
                    path,
                    &f.name(key),
                    format!("true (biases on every projection) for {}", arch.hf_name()),
                ));
            }
        }
        Self::check_sliding_window(&f, arch, max_position_embeddings)?;

        let dtype =
            match f.opt_str("torch_dtype")?.map(|s| ("torch_dtype", s)).or(f.opt_str("dtype")?.map(|s| ("dtype", s))) {
                Some((key, s)) => Some(parse_dtype(path, &f.name(key), s)?),
                None => None,
            };
        let (rope_theta, rope_scaling) = Self::rope(&f)?;
        let bos = f.token_ids("bos_token_id")?;
        if bos.len() > 1 {
            return Err(bad(path, "field `bos_token_id`", "one token id", format!("{bos:?}")));
        }

        let spec = ModelSpec {
            arch,
            hidden_size,
            intermediate_size: f.usize("intermediate_size")?,
            num_hidden_layers: f.usize("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            vocab_size: f.usize("vocab_size")?,
            rms_norm_eps: f.f64("rms_norm_eps")?,
            max_position_embeddings,
            tie_word_embeddings: f.opt_bool("tie_word_embeddings")?.unwrap_or(false),
            dtype,
            bos_token_id: bos.first().copied(),
            eos_token_ids: f.token_ids("eos_token_id")?,
            rope_theta,
            rope_scaling,
            qkv_bias: arch == Architecture::Qwen2,
            qk_norm: arch == Architecture::Qwen3,
        };
        spec.validate(path)?;
        Ok(spec)
    }

    fn architecture(f: &Fields) -> Result<Architecture> {
        let known = "one of LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM";
        match f.get("architectures") {
            Some(Value::Array(names)) => {
                let strs: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
                strs.iter()
                    .find_map(|s| Architecture::from_hf_name(s))
                    .ok_or_else(|| bad(f.path, "field `architectures`", known, format!("{strs:?}")))
            }
            Some(v) => Err(bad(f.path, "field `architectures`", "a list of class names", v)),
            // Older configs name only the model type.
            None => match f.opt_str("model_type")? {
                Some(t) => Architecture::from_model_type(t).ok_or_else(|| {
                    bad(
                        f.path,
                        "field `model_type` (no `architectures`)",
                        "one of llama, mistral, qwen2, qwen3",
                        format!("{t:?}"),
                    )
                }),
                None => Err(f.missing("architectures", known)),
            },
        }
    }

    /// A sliding window the engine would have to apply is refused, not ignored.
    fn check_sliding_window(f: &Fields, arch: Architecture, max_pos: usize) -> Result<()> {
        let window = f.opt_usize("sliding_window")?;
        match arch {
            Architecture::Mistral => match window {
                Some(w) if w < max_pos => Err(unsupported(
                    f.path,
                    "field `sliding_window`",
                    format!("{w}, shorter than max_position_embeddings = {max_pos} (sliding-window attention is not implemented; null or >= max positions is accepted)"),
                )),
                _ => Ok(()),
            },
            // Qwen2/3 carry a window that only applies when use_sliding_window is true.
            Architecture::Qwen2 | Architecture::Qwen3 => match (f.opt_bool("use_sliding_window")?, window) {
                (Some(true), Some(w)) if w < max_pos => Err(unsupported(
                    f.path,
                    "field `use_sliding_window`",
                    format!("true with sliding_window = {w} < max_position_embeddings = {max_pos} (sliding-window attention is not implemented)"),
                )),
                _ => Ok(()),
            },
            Architecture::Llama => Ok(()),
        }
    }

    /// The RoPE base and scaling, from `rope_parameters` (transformers 5) or
    /// `rope_theta` + `rope_scaling` (transformers 4).
    fn rope(f: &Fields) -> Result<(f64, RopeScaling)> {
        if let Some(p) = f.object("rope_parameters")? {
            let theta = p.f64("rope_theta")?;
            return Ok((theta, Self::rope_type(&p)?));
        }
        let theta = f.opt_f64("rope_theta")?.unwrap_or(10_000.0);
        let scaling = match f.object("rope_scaling")? {
            Some(s) => Self::rope_type(&s)?,
            None => RopeScaling::None,
        };
        Ok((theta, scaling))
    }

    /// Parses `rope_type` (or legacy `type`) and its parameters.
    fn rope_type(s: &Fields) -> Result<RopeScaling> {
        let (key, ty) = match (s.opt_str("rope_type")?, s.opt_str("type")?) {
            (Some(t), _) => ("rope_type", t),
            (None, Some(t)) => ("type", t),
            (None, None) => ("rope_type", "default"),
        };
        if let Some(p) = s.opt_f64("partial_rotary_factor")? {
            if p != 1.0 {
                return Err(unsupported(
                    s.path,
                    &s.name("partial_rotary_factor"),
                    format!("{p} (only 1.0 is implemented)"),
                ));
            }
        }
        match ty {
            "default" => Ok(RopeScaling::None),
            "llama3" => {
                let scaling = RopeScaling::Llama3 {
                    factor: s.f64("factor")?,
                    low_freq_factor: s.f64("low_freq_factor")?,
                    high_freq_factor: s.f64("high_freq_factor")?,
                    original_max_position_embeddings: s.usize("original_max_position_embeddings")?,
                };
                if let RopeScaling::Llama3 { factor, low_freq_factor: lo, high_freq_factor: hi, .. } = scaling {
                    if !(factor >= 1.0 && lo > 0.0 && hi > lo) {
                        return Err(bad(
                            s.path,
                            &s.name("factor"),
                            "factor >= 1 and 0 < low_freq_factor < high_freq_factor",
                            format!("factor {factor}, low_freq_factor {lo}, high_freq_factor {hi}"),
                        ));
                    }
                }
                Ok(scaling)
            }
            other => Err(unsupported(
                s.path,
                &s.name(key),
                format!("rope type {other:?} (only \"default\" and \"llama3\" are implemented)"),
            )),
        }
    }

    /// Applies generation_config.json: its `eos_token_id` (one or a list)
    /// comes first in the stop set, config.json's follow; its `bos_token_id` wins.
    pub fn apply_generation_config(&mut self, path: &Path) -> Result<()> {
        let v = read_json(path)?;
        let obj = v.as_object().ok_or_else(|| bad(path, "(the whole file)", "a JSON object", "another JSON value"))?;
        let f = Fields { path, prefix: String::new(), obj };
        let mut eos = f.token_ids("eos_token_id")?;
        for id in &self.eos_token_ids {
            if !eos.contains(id) {
                eos.push(*id);
            }
        }
        self.eos_token_ids = eos;
        if let Some(&b) = f.token_ids("bos_token_id")?.first() {
            self.bos_token_id = Some(b);
        }
        Ok(())
    }

    /// Checks the sizes are ones the engine can run; `path` is named in errors.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let sizes = [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (name, v) in sizes {
            if v == 0 {
                return Err(bad(path, &format!("field `{name}`"), "at least 1", 0));
            }
        }
        if self.num_attention_heads % self.num_key_value_heads != 0 {
            return Err(bad(
                path,
                "field `num_key_value_heads`",
                format!("a divisor of num_attention_heads = {}", self.num_attention_heads),
                self.num_key_value_heads,
            ));
        }
        if !HEAD_DIMS.contains(&self.head_dim) {
            return Err(unsupported(
                path,
                "field `head_dim` (or hidden_size / num_attention_heads)",
                format!("{} (the attention kernels serve {HEAD_DIMS:?})", self.head_dim),
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps >= 0.0) {
            return Err(bad(path, "field `rms_norm_eps`", "a finite number >= 0", self.rms_norm_eps));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return Err(bad(path, "field `rope_theta`", "a finite number > 1", self.rope_theta));
        }
        Ok(())
    }

    /// RoPE inverse frequencies, one per rotated pair (d/2 of them), with the
    /// scaling applied as transformers computes them.
    pub fn rope_inv_freq(&self) -> Vec<f64> {
        let half = self.head_dim / 2;
        let freq = |i, llama3| crate::spec::layer::rope_frequency(self.rope_theta, self.head_dim, i, llama3);
        match (&self.rope_scaling, self.decode_config("").rope_llama3) {
            (RopeScaling::Divisors(div), _) => (0..half).map(|i| freq(i, None) / div[i]).collect(),
            (_, llama3) => (0..half).map(|i| freq(i, llama3.as_ref())).collect(),
        }
    }

    /// Features of this model that the decode step (`DecodeModel::step`) does
    /// not implement yet; empty when it runs the model exactly. (Qwen3's q/k
    /// norms it runs as separate rmsnorm launches.)
    pub fn unsupported_by_decode_step(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let RopeScaling::Divisors(_) = self.rope_scaling {
            v.push(
                "rope scaling given as a GGUF rope_freqs tensor whose divisors are not llama3's (rope_append \
                 implements llama3 scaling, recovered from the divisors when they follow it)"
                    .into(),
            );
        }
        v
    }

    /// The decode model's shape description of this model.
    pub fn decode_config(&self, name: &str) -> ModelConfig {
        ModelConfig {
            name: name.to_string(),
            hidden: self.hidden_size,
            intermediate: self.intermediate_size,
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            kv_heads: self.num_key_value_heads,
            head_dim: self.head_dim,
            vocab: self.vocab_size,
            rope_theta: self.rope_theta as f32,
            rope_llama3: match self.rope_scaling {
                RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings } => {
                    Some(crate::spec::layer::Llama3Rope {
                        factor,
                        low_freq_factor,
                        high_freq_factor,
                        original_max: original_max_position_embeddings as f64,
                    })
                }
                RopeScaling::Llama3Fitted(l3) => Some(l3),
                _ => None,
            },
            rms_eps: self.rms_norm_eps as f32,
            qkv_bias: self.qkv_bias,
        }
    }
}

#[cfg(test)]
mod rope_fit_tests {
    use super::RopeScaling;
    use crate::spec::layer::{rope_frequency, Llama3Rope};

    fn divisors(theta: f64, d: usize, l3: &Llama3Rope) -> Vec<f64> {
        (0..d / 2).map(|i| rope_frequency(theta, d, i, None) / rope_frequency(theta, d, i, Some(l3))).collect()
    }

    #[test]
    fn llama3_divisors_give_back_the_same_frequencies() {
        // Llama 3.1 8B's scaling, with the divisors rounded to f32 as a GGUF stores them.
        let l31 = Llama3Rope { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max: 8192.0 };
        for (theta, d, l3) in [
            (500_000.0, 128, l31),
            (500_000.0, 64, Llama3Rope { factor: 32.0, ..l31 }),
            (10_000.0, 128, Llama3Rope { low_freq_factor: 2.0, high_freq_factor: 6.0, ..l31 }),
        ] {
            let div: Vec<f64> = divisors(theta, d, &l3).iter().map(|&x| x as f32 as f64).collect();
            let RopeScaling::Llama3Fitted(fit) = RopeScaling::from_divisors(theta, d, div) else {
                panic!("not recovered: theta {theta}, d {d}, {l3:?}")
            };
            for i in 0..d / 2 {
                let (want, got) = (rope_frequency(theta, d, i, Some(&l3)), rope_frequency(theta, d, i, Some(&fit)));
                assert!(((got - want) / want).abs() < 1e-6, "pair {i}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn other_divisors_stay_divisors() {
        assert_eq!(RopeScaling::from_divisors(1e4, 8, vec![1.0; 4]), RopeScaling::None);
        // Not llama3's shape: a blend that is not linear in the frequency.
        let odd = vec![1.0, 1.7, 1.9, 5.0, 8.0, 8.0];
        assert!(matches!(RopeScaling::from_divisors(1e4, 12, odd), RopeScaling::Divisors(_)));
        // One blended pair only: the line cannot be fitted.
        let one = vec![1.0, 1.0, 3.0, 8.0];
        assert!(matches!(RopeScaling::from_divisors(1e4, 8, one), RopeScaling::Divisors(_)));
    }
}

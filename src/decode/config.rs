//! Built-in model shapes: the public configurations of a few decoder-only
//! models (hidden size, MLP width, layers, heads, KV heads, head size, vocab,
//! RoPE base, RMSNorm epsilon, QKV bias). Only shapes: weights are random.

use crate::error::{Error, Result};

/// The shapes of a decoder-only model: all a decode step needs to size its
/// weights, KV cache and activations.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelConfig {
    /// The name it was built under (see [`BUILTIN`]), or the checkpoint's.
    pub name: String,
    /// Width of the residual stream (the model dimension).
    pub hidden: usize,
    /// Width of the MLP's gate and up projections.
    pub intermediate: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads; `heads` is a multiple of it (grouped-query attention
    /// when smaller).
    pub kv_heads: usize,
    /// Size of one head; one of the sizes attention supports.
    pub head_dim: usize,
    /// Vocabulary size: rows of the LM head, width of the logits.
    pub vocab: usize,
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// Llama 3.1/3.2 frequency scaling of RoPE (None for the built-in shapes).
    pub rope_llama3: Option<crate::spec::layer::Llama3Rope>,
    /// RMSNorm's epsilon, added to the mean square before the square root.
    pub rms_eps: f32,
    /// Qwen2 has biases on the Q, K and V projections; Llama has none.
    pub qkv_bias: bool,
}

/// Names `ModelConfig::builtin` knows.
pub const BUILTIN: &[&str] = &["qwen2.5-0.5b", "llama3.2-1b", "llama3-8b", "qwen2.5-7b", "tiny"];

impl ModelConfig {
    /// A built-in config by name (see [`BUILTIN`]).
    pub fn builtin(name: &str) -> Result<Self> {
        let c = |hidden, intermediate, layers, heads, kv_heads, head_dim, vocab, rope_theta, rms_eps, qkv_bias| {
            ModelConfig {
                name: name.to_string(),
                hidden,
                intermediate,
                layers,
                heads,
                kv_heads,
                head_dim,
                vocab,
                rope_theta,
                rope_llama3: None,
                rms_eps,
                qkv_bias,
            }
        };
        Ok(match name {
            // Qwen/Qwen2.5-0.5B config.json
            "qwen2.5-0.5b" => c(896, 4864, 24, 14, 2, 64, 151_936, 1e6, 1e-6, true),
            // meta-llama/Llama-3.2-1B config.json (tied embeddings: the LM head is
            // the embedding table, read once per step as here)
            "llama3.2-1b" => ModelConfig {
                rope_llama3: Some(crate::spec::layer::Llama3Rope {
                    factor: 32.0,
                    low_freq_factor: 1.0,
                    high_freq_factor: 4.0,
                    original_max: 8192.0,
                }),
                ..c(2048, 8192, 16, 32, 8, 64, 128_256, 5e5, 1e-5, false)
            },
            // meta-llama/Meta-Llama-3-8B config.json
            "llama3-8b" => c(4096, 14336, 32, 32, 8, 128, 128_256, 5e5, 1e-5, false),
            // Qwen/Qwen2.5-7B config.json
            "qwen2.5-7b" => c(3584, 18944, 28, 28, 4, 128, 152_064, 1e6, 1e-6, true),
            // A few-layer model with every feature (GQA, bias), for tests and checks.
            "tiny" => c(256, 512, 2, 4, 2, 64, 1000, 1e4, 1e-6, true),
            _ => return Err(Error::invalid("decode", "--model", format!("one of {}", BUILTIN.join(", ")), name)),
        })
    }

    /// Width of the fused QKV projection's output.
    pub fn qkv_width(&self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.head_dim
    }

    /// Parameters of one layer (norms and bias included).
    pub fn layer_params(&self) -> usize {
        let h = self.hidden;
        let bias = if self.qkv_bias { self.qkv_width() } else { 0 };
        2 * h + self.qkv_width() * h + bias + h * self.heads * self.head_dim + 3 * self.intermediate * h
    }

    /// Every parameter a decode step reads: the layers, the final norm and the LM head.
    pub fn step_params(&self) -> usize {
        self.layers * self.layer_params() + self.hidden + self.vocab * self.hidden
    }

    /// Checks the config is one a step can run.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, got: String| Err(Error::invalid("decode", "model", what.to_string(), got));
        if [self.hidden, self.intermediate, self.layers, self.heads, self.kv_heads, self.head_dim, self.vocab]
            .contains(&0)
        {
            return bad("every size > 0", format!("{self:?}"));
        }
        if self.heads % self.kv_heads != 0 {
            return bad("heads a multiple of kv_heads", format!("{} heads, {} KV heads", self.heads, self.kv_heads));
        }
        if !crate::dispatch::sdpa::HEAD_DIMS.contains(&self.head_dim) {
            return bad(&format!("a head size in {:?}", crate::dispatch::sdpa::HEAD_DIMS), self.head_dim.to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid_and_sized_like_the_models() {
        for name in BUILTIN {
            ModelConfig::builtin(name).unwrap().validate().unwrap();
        }
        // Published sizes (with the LM head counted once, embeddings excluded).
        let b = |n: &str| ModelConfig::builtin(n).unwrap().step_params() as f64 / 1e9;
        assert!((b("llama3-8b") - 7.50).abs() < 0.05, "{}", b("llama3-8b"));
        assert!((b("qwen2.5-7b") - 7.07).abs() < 0.05, "{}", b("qwen2.5-7b"));
        assert!((b("qwen2.5-0.5b") - 0.494).abs() < 0.01, "{}", b("qwen2.5-0.5b"));
        // Llama-3.2-1B: 1.24 B with its tied embedding table counted once.
        assert!((b("llama3.2-1b") - 1.236).abs() < 0.01, "{}", b("llama3.2-1b"));
        assert!(ModelConfig::builtin("llama3.2-1b").unwrap().rope_llama3.is_some());
        let e = ModelConfig::builtin("gpt5").unwrap_err().to_string();
        assert!(e.contains("--model") && e.contains("llama3-8b"), "{e}");
    }
}

//! Loading a checkpoint onto a context: the spec, the tokenizer and the
//! weights, uploaded tensor by tensor into the decode model's layout (Q, K
//! and V rows stacked into one projection, gate and up rows into another),
//! each part written into its rows of the stacked tensor, so the host never
//! holds more than one tensor of the checkpoint at a time.

use std::path::{Path, PathBuf};

use super::config::ModelSpec;
use super::gguf::GgufFile;
use super::safetensors::SafetensorsSource;
use super::tokenizer::Tokenizer;
use super::{unsupported, TensorSource};
use crate::context::Context;
pub use crate::decode::model::LayerTensors;
pub use crate::decode::model::Linear;
use crate::decode::model::{Buffers, LayerWeights};
use crate::decode::DecodeModel;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::{QuantMatrix, Tensor};

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Compute dtype. Default: the checkpoint's (`torch_dtype`, or the GGUF
    /// embedding's), except that f32 checkpoints are computed in f16 on a GPU.
    pub dtype: Option<DType>,
    /// Expand block-quantized GGUF weights to the compute dtype at load
    /// (the f16 model's memory and speed). Default: the projections and the
    /// LM head stay in their blocks, read by the quantized GEMV; the
    /// embedding table is expanded either way (the step gathers its rows).
    pub expand_quantized: bool,
}

/// Every weight of a model, on one context.
#[derive(Debug, Clone)]
pub struct Weights {
    /// [vocab, hidden]
    pub embed: Tensor,
    /// The decoder layers.
    pub layers: Vec<LayerTensors>,
    /// [hidden]
    pub final_norm: Tensor,
    /// [vocab, hidden]; the same buffer as `embed` when the embeddings are
    /// tied and dense (tied quantized embeddings: the table's blocks).
    pub lm_head: Linear,
}

impl Weights {
    /// Bytes a decode step reads of the weights: every projection, norm and
    /// the LM head once (the embedding table aside: a step reads B rows).
    pub fn step_bytes(&self) -> u64 {
        let t = |t: &Tensor| (t.numel() * t.dtype().size_in_bytes()) as u64;
        let layer = |l: &LayerTensors| {
            [&l.w_qkv, &l.w_o, &l.w_gate_up, &l.w_down].iter().map(|w| w.bytes() as u64).sum::<u64>()
                + t(&l.attn_norm)
                + t(&l.mlp_norm)
                + l.b_qkv.as_ref().map_or(0, t)
                + l.q_norm.as_ref().map_or(0, t)
                + l.k_norm.as_ref().map_or(0, t)
        };
        self.layers.iter().map(layer).sum::<u64>() + t(&self.final_norm) + self.lm_head.bytes() as u64
    }

    /// True when any projection or the LM head is block-quantized.
    pub fn is_quantized(&self) -> bool {
        self.lm_head.is_quantized()
            || self.layers.iter().any(|l| [&l.w_qkv, &l.w_o, &l.w_gate_up, &l.w_down].iter().any(|w| w.is_quantized()))
    }
}

/// Which format a checkpoint came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Hugging Face folder: config.json + safetensors (+ tokenizer.json).
    HuggingFace,
    /// One GGUF file.
    Gguf,
}

/// A loaded checkpoint: its spec, weights on a context, and its tokenizer.
#[derive(Debug)]
pub struct Model {
    /// What was loaded.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// The model's description.
    pub spec: ModelSpec,
    /// Compute (and weight) dtype.
    pub dtype: DType,
    /// The weights.
    pub weights: Weights,
    /// The tokenizer (None for a Hugging Face folder without tokenizer.json).
    pub tokenizer: Option<Tokenizer>,
}

impl Model {
    /// Loads a Hugging Face folder or a `.gguf` file with default options.
    pub fn load(ctx: &Context, path: &Path) -> Result<Self> {
        Self::load_with(ctx, path, &LoadOptions::default())
    }

    /// Loads a Hugging Face folder or a `.gguf` file.
    pub fn load_with(ctx: &Context, path: &Path, opts: &LoadOptions) -> Result<Self> {
        if path.is_dir() {
            let spec = ModelSpec::from_hf_dir(path)?;
            let src = SafetensorsSource::open(path)?;
            let tok_path = path.join("tokenizer.json");
            let tokenizer = if tok_path.is_file() { Some(Tokenizer::from_file(&tok_path)?) } else { None };
            let dtype = compute_dtype(ctx, &spec, opts);
            let weights = Weights::load(ctx, &spec, &src, dtype)?;
            return Ok(Model {
                path: path.to_path_buf(),
                format: Format::HuggingFace,
                spec,
                dtype,
                weights,
                tokenizer,
            });
        }
        if !path.exists() {
            return Err(Error::Io {
                what: "opening checkpoint",
                path: path.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        if path.extension().and_then(|e| e.to_str()) != Some("gguf") {
            return Err(unsupported(
                path,
                "(the path)",
                "a checkpoint is a Hugging Face model folder (config.json + safetensors) or a .gguf file",
            ));
        }
        let mut g = GgufFile::open(path)?;
        let spec = g.spec()?;
        // "none": a GGUF written without a vocabulary (random weights for
        // timing); prompts are then given as token ids.
        let tokenizer = match g.get("tokenizer.ggml.model").and_then(|v| v.as_str()) {
            Some("none") => None,
            _ => Some(Tokenizer::from_gguf(&g)?),
        };
        let dtype = compute_dtype(ctx, &spec, opts);
        let weights = Weights::load_with(ctx, &spec, &g, dtype, opts.expand_quantized)?;
        Ok(Model { path: path.to_path_buf(), format: Format::Gguf, spec, dtype, weights, tokenizer })
    }

    /// A decode model over these weights (shared, not copied) with zeroed KV
    /// caches of `context` slots for `batch` sequences. Fails, naming the
    /// features, when the decode step cannot run this model exactly.
    pub fn decode_model(&self, ctx: &Context, batch: usize, context: usize) -> Result<DecodeModel> {
        let missing = self.spec.unsupported_by_decode_step();
        if !missing.is_empty() {
            return Err(Error::Unsupported {
                op: "decode",
                what: format!("{}: the decode step lacks {}", self.path.display(), missing.join("; ")),
            });
        }
        if self.spec.qk_norm && self.spec.qkv_bias {
            return Err(Error::Unsupported {
                op: "decode",
                what: format!(
                    "{}: q/k norms together with QKV biases (the bias would be added after the norm)",
                    self.path.display()
                ),
            });
        }
        let cfg = self.spec.decode_config(&self.path.display().to_string());
        cfg.validate()?;
        if batch == 0 || context == 0 {
            return Err(Error::invalid("decode", "batch, context", "at least 1 each", format!("{batch}, {context}")));
        }
        let (h, d, hkv) = (cfg.hidden, cfg.head_dim, cfg.kv_heads);
        let dtype = self.dtype;
        let zeros = |shape: &[usize]| Tensor::full(ctx, shape, dtype, 0.0);
        let layers = self
            .weights
            .layers
            .iter()
            .map(|l| {
                Ok(LayerWeights {
                    w: l.clone(),
                    k_cache: zeros(&[batch, hkv, context, d])?,
                    v_cache: zeros(&[batch, hkv, context, d])?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let buf = Buffers::new(ctx, &cfg, dtype, batch, zeros(&[batch, h])?)?;
        Ok(DecodeModel {
            cfg,
            dtype,
            batch,
            context,
            layers,
            final_norm: self.weights.final_norm.clone(),
            lm_head: self.weights.lm_head.clone(),
            buf,
        })
    }

    /// Writes the embeddings of `tokens` (one per sequence) into the decode
    /// model's input rows.
    pub fn embed_into(&self, ctx: &Context, tokens: &[u32], x0: &Tensor) -> Result<()> {
        let vocab = self.spec.vocab_size;
        if x0.rank() != 2 || x0.shape()[0] != tokens.len() {
            return Err(Error::invalid(
                "embed",
                "x0",
                format!("[{}, hidden]", tokens.len()),
                format!("{:?}", x0.shape()),
            ));
        }
        for (b, &t) in tokens.iter().enumerate() {
            if t as usize >= vocab {
                return Err(Error::invalid("embed", "tokens", format!("ids below the vocabulary size {vocab}"), t));
            }
            ops::copy(ctx, &self.weights.embed.narrow(0, t as usize, 1)?, &x0.narrow(0, b, 1)?)?;
        }
        Ok(())
    }
}

fn compute_dtype(ctx: &Context, spec: &ModelSpec, opts: &LoadOptions) -> DType {
    match (opts.dtype, spec.dtype) {
        (Some(d), _) => d,
        (None, Some(DType::F32) | None) if ctx.is_cuda() => DType::F16,
        (None, Some(d)) => d,
        (None, None) => DType::F32,
    }
}

impl Weights {
    /// Reads every tensor the spec calls for from `src` (shapes checked
    /// against the spec), converts each to `dtype` and uploads it; Q/K/V and
    /// gate/up are written into the rows of their stacked tensors.
    pub fn load(ctx: &Context, spec: &ModelSpec, src: &dyn TensorSource, dtype: DType) -> Result<Self> {
        Self::load_with(ctx, spec, src, dtype, false)
    }

    /// [`Weights::load`], keeping block-quantized projections and LM head in
    /// their blocks unless `expand_quantized` (see [`LoadOptions`]). Stacked
    /// parts of one block format become one matrix (their rows of blocks
    /// concatenated); parts of different formats (a Q4_K_M file's Q4_K Q and
    /// K with a Q6_K V) stay separate parts of one [`Linear::Stacked`].
    pub fn load_with(
        ctx: &Context,
        spec: &ModelSpec,
        src: &dyn TensorSource,
        dtype: DType,
        expand_quantized: bool,
    ) -> Result<Self> {
        let (h, d, inter, v) = (spec.hidden_size, spec.head_dim, spec.intermediate_size, spec.vocab_size);
        let (hq, hkv) = (spec.num_attention_heads, spec.num_key_value_heads);
        let one = |name: &str, shape: &[usize]| -> Result<Tensor> {
            let data = src.read(name, shape, dtype)?;
            Tensor::from_host(ctx, data, shape)
        };
        // Parts written into consecutive row ranges of one new tensor.
        let stacked = |parts: &[(String, usize)], cols: Option<usize>| -> Result<Tensor> {
            let rows: usize = parts.iter().map(|p| p.1).sum();
            let shape: Vec<usize> = std::iter::once(rows).chain(cols).collect();
            let out = Tensor::empty(ctx, &shape, dtype)?;
            let mut at = 0;
            for (name, r) in parts {
                let part_shape: Vec<usize> = std::iter::once(*r).chain(cols).collect();
                let part = one(name, &part_shape)?;
                ops::copy(ctx, &part, &out.narrow(0, at, *r)?)?;
                at += r;
            }
            Ok(out)
        };
        // A projection: its blocks when quantized (and kept), else dense.
        let blocks = |name: &str, shape: &[usize]| -> Result<Option<(crate::dtype::QuantKind, Vec<u8>)>> {
            if expand_quantized {
                return Ok(None);
            }
            src.read_blocks(name, shape)
        };
        let quant = |kind, rows, cols, bytes: &[u8]| -> Result<Linear> {
            Ok(Linear::Quant(std::sync::Arc::new(QuantMatrix::from_bytes(ctx, kind, rows, cols, bytes)?)))
        };
        let proj = |name: &str, shape: &[usize]| -> Result<Linear> {
            match blocks(name, shape)? {
                Some((kind, bytes)) => quant(kind, shape[0], shape[1], &bytes),
                None => Ok(Linear::Dense(one(name, shape)?)),
            }
        };
        // Stacked projection weights [rows, cols]: runs of consecutive parts
        // in one block format become one matrix; dense parts one tensor.
        let stacked_proj = |parts: &[(String, usize)], cols: usize| -> Result<Linear> {
            // (block format or None for dense, the parts, their blocks)
            type Run = (Option<crate::dtype::QuantKind>, Vec<(String, usize)>, Vec<u8>);
            let mut runs: Vec<Run> = Vec::new();
            for (name, r) in parts {
                let got = blocks(name, &[*r, cols])?;
                let kind = got.as_ref().map(|g| g.0);
                match runs.last_mut() {
                    Some(run) if run.0 == kind => {
                        run.1.push((name.clone(), *r));
                        run.2.extend(got.map(|g| g.1).unwrap_or_default());
                    }
                    _ => runs.push((kind, vec![(name.clone(), *r)], got.map(|g| g.1).unwrap_or_default())),
                }
            }
            let mut out = Vec::with_capacity(runs.len());
            for (kind, names, bytes) in runs {
                let rows = names.iter().map(|p| p.1).sum();
                out.push(match kind {
                    Some(kind) => quant(kind, rows, cols, &bytes)?,
                    None => Linear::Dense(stacked(&names, Some(cols))?),
                });
            }
            Ok(if out.len() == 1 { out.remove(0) } else { Linear::Stacked(out) })
        };
        let embed = one("model.embed_tokens.weight", &[v, h])?;
        let mut layers = Vec::with_capacity(spec.num_hidden_layers);
        for i in 0..spec.num_hidden_layers {
            let p = |s: &str| format!("model.layers.{i}.{s}");
            let qkv = |suffix: &str| {
                vec![
                    (p(&format!("self_attn.q_proj.{suffix}")), hq * d),
                    (p(&format!("self_attn.k_proj.{suffix}")), hkv * d),
                    (p(&format!("self_attn.v_proj.{suffix}")), hkv * d),
                ]
            };
            let norm = |s: &str| if spec.qk_norm { one(&p(s), &[d]).map(Some) } else { Ok(None) };
            layers.push(LayerTensors {
                attn_norm: one(&p("input_layernorm.weight"), &[h])?,
                w_qkv: stacked_proj(&qkv("weight"), h)?,
                b_qkv: if spec.qkv_bias { Some(stacked(&qkv("bias"), None)?) } else { None },
                w_o: proj(&p("self_attn.o_proj.weight"), &[h, hq * d])?,
                mlp_norm: one(&p("post_attention_layernorm.weight"), &[h])?,
                w_gate_up: stacked_proj(&[(p("mlp.gate_proj.weight"), inter), (p("mlp.up_proj.weight"), inter)], h)?,
                w_down: proj(&p("mlp.down_proj.weight"), &[h, inter])?,
                q_norm: norm("self_attn.q_norm.weight")?,
                k_norm: norm("self_attn.k_norm.weight")?,
            });
        }
        let final_norm = one("model.norm.weight", &[h])?;
        // Tied: transformers ignores a stored lm_head and uses the embedding.
        let lm_head = if spec.tie_word_embeddings {
            match blocks("model.embed_tokens.weight", &[v, h])? {
                Some((kind, bytes)) => quant(kind, v, h, &bytes)?,
                None => Linear::Dense(embed.clone()),
            }
        } else {
            proj("lm_head.weight", &[v, h])?
        };
        ctx.synchronize()?;
        // Loaded: no op writes them again, and their GEMVs may read them
        // before waiting for the launch before (Tensor::mark_fixed).
        for l in &layers {
            l.mark_fixed()?;
        }
        for t in [&embed, &final_norm] {
            t.mark_fixed()?;
        }
        lm_head.mark_fixed()?;
        Ok(Weights { embed, layers, final_norm, lm_head })
    }
}

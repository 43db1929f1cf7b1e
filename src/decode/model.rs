//! A decoder-only model of a config's shapes, with random weights made where
//! the tensors live, a KV cache filled with random keys and values, and one
//! decoding step over it (a Llama-style block per layer).

use crate::context::Context;
use crate::dispatch::sdpa::{SdpaBackend, SdpaPrefs};
use crate::dtype::{DType, QuantKind};
use crate::error::{Error, Result};
use crate::ops::fused_gemv::FUSED_MAX_N;
use crate::ops::quant::QuantOptions;
use crate::ops::{self, RmsNormIn, RopeOptions, RopeTargets, SdpaOptions};
use crate::progress::{Progress, Silent};
use crate::tensor::{Indices, Q8Activations, QuantMatrix, Tensor};

use super::config::ModelConfig;

/// A projection's weight W [out, in], as a step multiplies it: dense, or GGUF
/// blocks read as they are by the quantized GEMV (`ops::quant_matmul`), or
/// row ranges of several (a stacked QKV whose parts a Q4_K_M file quantizes
/// in different formats: each part into its columns of the output, by its
/// own launch or, for a Q4_K and a Q6_K part from the tuning's
/// `quant.pair_min_n` tokens on, one launch of both).
#[derive(Debug, Clone)]
pub enum Linear {
    /// A dense matrix of the compute dtype.
    Dense(Tensor),
    /// A block-quantized matrix.
    Quant(std::sync::Arc<QuantMatrix>),
    /// Parts whose rows follow one another (each dense or quantized).
    Stacked(Vec<Linear>),
}

impl Linear {
    /// Quantized weights (every part of a stacked projection): its GEMV reads x rounded to 8 bits.
    pub fn is_quant(&self) -> bool {
        match self {
            Linear::Dense(_) => false,
            Linear::Quant(_) => true,
            Linear::Stacked(parts) => parts.iter().all(Linear::is_quant),
        }
    }

    /// The block-quantized matrices whose rows make up this one, in order,
    /// if every part is one (`ops::quant_matmul_rope_append`'s parts).
    pub fn quant_parts(&self) -> Option<Vec<&QuantMatrix>> {
        match self {
            Linear::Dense(_) => None,
            Linear::Quant(q) => Some(vec![q.as_ref()]),
            Linear::Stacked(parts) => {
                let mut all = Vec::new();
                for p in parts {
                    all.extend(p.quant_parts()?);
                }
                Some(all)
            }
        }
    }

    /// Rows (outputs).
    pub fn rows(&self) -> usize {
        match self {
            Linear::Dense(t) => t.shape()[0],
            Linear::Quant(q) => q.rows(),
            Linear::Stacked(parts) => parts.iter().map(Linear::rows).sum(),
        }
    }

    /// Columns (inputs).
    pub fn cols(&self) -> usize {
        match self {
            Linear::Dense(t) => t.shape()[1],
            Linear::Quant(q) => q.cols(),
            Linear::Stacked(parts) => parts.first().map_or(0, Linear::cols),
        }
    }

    /// [rows, cols].
    pub fn shape(&self) -> [usize; 2] {
        [self.rows(), self.cols()]
    }

    /// Bytes a GEMV reads of it (the blocks, for a quantized one).
    pub fn bytes(&self) -> usize {
        match self {
            Linear::Dense(t) => t.numel() * t.dtype().size_in_bytes(),
            Linear::Quant(q) => q.size_bytes(),
            Linear::Stacked(parts) => parts.iter().map(Linear::bytes).sum(),
        }
    }

    /// True when any part is block-quantized.
    pub fn is_quantized(&self) -> bool {
        match self {
            Linear::Dense(_) => false,
            Linear::Quant(_) => true,
            Linear::Stacked(parts) => parts.iter().any(Linear::is_quantized),
        }
    }

    /// True when it is the dense matrix `t`'s buffer (tied embeddings).
    pub fn same_buffer(&self, t: &Tensor) -> bool {
        self.as_dense().is_some_and(|d| d.same_buffer(t))
    }

    /// Marks every dense part fixed ([`Tensor::mark_fixed`]): no op writes
    /// it again, and its GEMVs read it before waiting for the launch before
    /// them. Block-quantized parts are always read so (their kernels load
    /// weights before the wait).
    pub fn mark_fixed(&self) -> Result<()> {
        match self {
            Linear::Dense(t) => t.mark_fixed(),
            Linear::Quant(_) => Ok(()),
            Linear::Stacked(parts) => parts.iter().try_for_each(Linear::mark_fixed),
        }
    }

    /// The dense matrix, when it is one.
    pub fn as_dense(&self) -> Option<&Tensor> {
        match self {
            Linear::Dense(t) => Some(t),
            _ => None,
        }
    }

    /// The values as f32, row-major (quantized parts dequantized exactly as
    /// `spec::quant` does): for tests and reports, a host copy.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        match self {
            Linear::Dense(t) => t.to_f32_vec(),
            Linear::Quant(q) => crate::spec::quant::dequantize(q.kind(), &q.to_host_bytes()?, q.rows() * q.cols()),
            Linear::Stacked(parts) => {
                let mut v = Vec::with_capacity(self.rows() * self.cols());
                for p in parts {
                    v.extend(p.to_f32_vec()?);
                }
                Ok(v)
            }
        }
    }
}

/// One decoder layer's weights, in the layout the step reads (the loader of
/// real checkpoints fills the same struct).
#[derive(Debug, Clone)]
pub struct LayerTensors {
    /// `[hidden]`: RMSNorm weights before attention.
    pub attn_norm: Tensor,
    /// [(hq + 2 hkv) d, hidden]: Q, K and V projections stacked.
    pub w_qkv: Linear,
    /// [(hq + 2 hkv) d]: the QKV projection's bias (Qwen2), added by
    /// `rope_append`; `None` for models without one.
    pub b_qkv: Option<Tensor>,
    /// [hidden, hq d]
    pub w_o: Linear,
    /// `[hidden]`: RMSNorm weights before the MLP.
    pub mlp_norm: Tensor,
    /// [2 intermediate, hidden]: gate rows, then up rows.
    pub w_gate_up: Linear,
    /// [hidden, intermediate]
    pub w_down: Linear,
    /// [d]: per-head RMSNorm weights of Q and of K (Qwen3), applied to the
    /// projection's Q and K heads before RoPE (one rmsnorm per sequence and
    /// part, until rope_append fuses it). Never together with `b_qkv`.
    pub q_norm: Option<Tensor>,
    /// See `q_norm`.
    pub k_norm: Option<Tensor>,
}

impl LayerTensors {
    /// Marks every weight of the layer fixed (projections, norms, bias):
    /// done by the model builders once the weights are written.
    pub fn mark_fixed(&self) -> Result<()> {
        for w in [&self.w_qkv, &self.w_o, &self.w_gate_up, &self.w_down] {
            w.mark_fixed()?;
        }
        let vectors = [
            Some(&self.attn_norm),
            Some(&self.mlp_norm),
            self.b_qkv.as_ref(),
            self.q_norm.as_ref(),
            self.k_norm.as_ref(),
        ];
        vectors.into_iter().flatten().try_for_each(Tensor::mark_fixed)
    }
}

/// One layer's weights and its KV cache.
pub struct LayerWeights {
    /// The layer's weights.
    pub w: LayerTensors,
    /// [batch, hkv, context, d]: keys, RoPE applied; a step writes its
    /// token's slot and attends over the slots up to it.
    pub k_cache: Tensor,
    /// [batch, hkv, context, d]: values, laid out like `k_cache`.
    pub v_cache: Tensor,
}

/// A step's buffers, allocated once: its input, the activations of its
/// `batch` rows (one token per sequence) and its output.
pub struct Buffers {
    /// [batch, hidden]: the step's input (token embeddings), copied into `act.x`.
    pub x0: Tensor,
    /// The activations of the step's rows.
    pub act: Activations,
    /// [batch, vocab]
    pub logits: Tensor,
    /// The normalized residual stream and the MLP's activation rounded to 8
    /// bits once a step, for the GEMVs on quantized weights (None where the
    /// batch exceeds their GEMV, a width is not whole units of 32 or the
    /// hidden width exceeds `ops::rmsnorm_q8`'s).
    pub q8: Option<StepQ8>,
}

/// A step's x of the quantized GEMVs, rounded to 8 bits once by the op that
/// makes it (`ops::rmsnorm_q8`, `ops::silu_mul_q8`) instead of by every CTA
/// of every GEMV that reads it.
pub struct StepQ8 {
    /// [batch, hidden]: `act.xn`'s values (the QKV, gate/up and LM-head input).
    pub xn: Q8Activations,
    /// [batch, intermediate]: `act.h`'s values (the down projection's input).
    pub h: Q8Activations,
    /// [batch, hq d]: attention's output (the O projection's input), rounded
    /// by a `quantize_x` launch of its own: for batches above one, and at
    /// batch 1 from [`O_OWN_Q8_MIN_WIDTH`] columns on, where that launch costs
    /// less than the O projection's CTAs each rounding x (H200 2026-11-30,
    /// llama3-8b Q4_K_M: batch 16 9092 -> 8847 us, batch 4 3265 -> 3252).
    pub attn: Option<Q8Activations>,
}

/// The narrowest attention output (hq d) whose O projection at batch 1 gets x
/// rounded by a launch of its own. Since that launch lets the O projection's
/// CTAs start before it waits (kernels/common.cuh, pdl_begin_early), it pays
/// at 4096 columns (H200 2026-11-30, steps: llama3-8b Q4_K_M 1965 -> 1938-1941
/// us, Q8_0 2706 -> 2697) and not at 2048 (llama3.2-1b Q4_K_M 574 -> 579) or
/// 896 (qwen2.5-0.5b Q8_0 618 -> 641); widths between are not measured.
pub const O_OWN_Q8_MIN_WIDTH: usize = 4096;

impl Buffers {
    /// Buffers of a step of `batch` sequences: x0 as given, the rest unset.
    pub fn new(ctx: &Context, cfg: &ModelConfig, dtype: DType, batch: usize, x0: Tensor) -> Result<Self> {
        let whole = cfg.hidden % 32 == 0 && cfg.intermediate % 32 == 0 && cfg.hidden <= ops::q8::RMSNORM_Q8_MAX_COLS;
        let attn_width = cfg.heads * cfg.head_dim;
        let q8 = match batch <= ops::quant::QUANT_MAX_N && whole {
            true => Some(StepQ8 {
                xn: Q8Activations::new(ctx, batch, cfg.hidden)?,
                h: Q8Activations::new(ctx, batch, cfg.intermediate)?,
                attn: match (batch > 1 || attn_width >= O_OWN_Q8_MIN_WIDTH) && attn_width % 32 == 0 {
                    true => Some(Q8Activations::new(ctx, batch, attn_width)?),
                    false => None,
                },
            }),
            false => None,
        };
        Ok(Buffers {
            x0,
            act: Activations::new(ctx, cfg, dtype, batch)?,
            logits: Tensor::empty(ctx, &[batch, cfg.vocab], dtype)?,
            q8,
        })
    }
}

/// The activations of a pass over up to `capacity` rows, allocated once: a
/// decode step's (a row per sequence) or a prefill chunk's (a row per token
/// of one sequence; rows beyond a chunk's tokens are left alone).
pub struct Activations {
    /// [capacity, hidden]: the residual stream (a prefill chunk's embeddings
    /// are written here first).
    pub x: Tensor,
    /// [capacity, hidden]: the residual stream after an RMSNorm.
    pub xn: Tensor,
    /// [capacity, (hq + 2 hkv) d]: the fused QKV projection's output.
    pub qkv: Tensor,
    /// [capacity, hq, d]: the rotated queries.
    pub q: Tensor,
    /// [capacity, hq, d]: attention's output, the input of the O projection.
    pub attn: Tensor,
    /// [capacity, 2 intermediate]: the gate and up projections' outputs, side by side.
    pub gate_up: Tensor,
    /// [capacity, intermediate]: silu(gate) * up, the input of the down projection.
    pub h: Tensor,
}

impl Activations {
    /// Activations of up to `capacity` rows of a model of `cfg`'s shapes.
    pub fn new(ctx: &Context, cfg: &ModelConfig, dtype: DType, capacity: usize) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::invalid("activations", "rows", "at least 1", 0));
        }
        let e = |shape: &[usize]| Tensor::empty(ctx, shape, dtype);
        let (h, d, hq, inter) = (cfg.hidden, cfg.head_dim, cfg.heads, cfg.intermediate);
        Ok(Activations {
            x: e(&[capacity, h])?,
            xn: e(&[capacity, h])?,
            qkv: e(&[capacity, cfg.qkv_width()])?,
            q: e(&[capacity, hq, d])?,
            attn: e(&[capacity, hq, d])?,
            gate_up: e(&[capacity, 2 * inter])?,
            h: e(&[capacity, inter])?,
        })
    }

    /// Bytes of the activations of `capacity` rows (for memory checks).
    pub fn bytes(cfg: &ModelConfig, dtype: DType, capacity: usize) -> u64 {
        let per_token = 2 * cfg.hidden + cfg.qkv_width() + 2 * cfg.heads * cfg.head_dim + 3 * cfg.intermediate;
        (capacity * per_token * dtype.size_in_bytes()) as u64
    }

    /// Most rows a pass may hold.
    pub fn capacity(&self) -> usize {
        self.x.shape()[0]
    }
}

/// A model of a config's shapes with random weights, its KV cache and its
/// step's activations, all on one context's device; [`DecodeModel::step_at`]
/// runs one decoding step.
pub struct DecodeModel {
    /// The shapes it was built from.
    pub cfg: ModelConfig,
    /// The dtype of every tensor (weights, cache, activations).
    pub dtype: DType,
    /// Sequences decoded side by side (the N of every projection).
    pub batch: usize,
    /// Keys each step attends over; the step's token sits at position context - 1.
    pub context: usize,
    /// Weights and KV cache of each layer, in order.
    pub layers: Vec<LayerWeights>,
    /// `[hidden]`: RMSNorm weights before the LM head.
    pub final_norm: Tensor,
    /// [vocab, hidden]
    pub lm_head: Linear,
    /// The step's activations: its input `buf.x0` and its output `buf.logits`.
    pub buf: Buffers,
}

/// Where a decode step finds its input rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StepInput {
    /// `buf.x0`, copied into the residual stream first (it stays unchanged,
    /// so the same input can be stepped again: the benchmark's loop).
    X0,
    /// Already in the residual stream `buf.act.x`.
    InResidual,
}

/// The format of a model's projection and LM-head weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// Dense, in the compute dtype.
    #[default]
    Dense,
    /// Every projection and the LM head in Q8_0.
    Q8_0,
    /// llama.cpp's Q4_K_M mix: Q4_K, with Q6_K for the LM head and for the V
    /// and down projections of the layers llama.cpp gives more bits (the first
    /// and last eighth, and every third between).
    Q4KM,
}

/// The block formats of one layer's projections.
#[derive(Debug, Clone, Copy)]
pub struct LayerKinds {
    /// Q and K rows of the QKV projection.
    pub qk: QuantKind,
    /// V rows of the QKV projection.
    pub v: QuantKind,
    /// The O projection.
    pub o: QuantKind,
    /// The gate and up projections.
    pub gate_up: QuantKind,
    /// The down projection.
    pub down: QuantKind,
}

impl WeightFormat {
    /// The name `--dtype` takes for it (with f16 activations), or None for dense.
    pub fn name(self) -> Option<&'static str> {
        match self {
            WeightFormat::Dense => None,
            WeightFormat::Q8_0 => Some("q8_0"),
            WeightFormat::Q4KM => Some("q4_k_m"),
        }
    }

    /// The format `--dtype` names (`q8_0`, `q4_k_m`), if it names one.
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "q8_0" => Some(WeightFormat::Q8_0),
            "q4_k_m" => Some(WeightFormat::Q4KM),
            _ => None,
        }
    }

    /// Layer `i` of `layers`' formats (None: dense).
    pub fn layer_kinds(self, i: usize, layers: usize) -> Option<LayerKinds> {
        let all = |k| LayerKinds { qk: k, v: k, o: k, gate_up: k, down: k };
        match self {
            WeightFormat::Dense => None,
            WeightFormat::Q8_0 => Some(all(QuantKind::Q8_0)),
            WeightFormat::Q4KM => {
                let eighth = layers / 8;
                let more = i < eighth || i >= layers - eighth || (i - eighth) % 3 == 2;
                let wide = if more { QuantKind::Q6_K } else { QuantKind::Q4_K };
                Some(LayerKinds { v: wide, down: wide, ..all(QuantKind::Q4_K) })
            }
        }
    }

    /// The LM head's format (None: dense).
    pub fn head_kind(self) -> Option<QuantKind> {
        match self {
            WeightFormat::Dense => None,
            WeightFormat::Q8_0 => Some(QuantKind::Q8_0),
            WeightFormat::Q4KM => Some(QuantKind::Q6_K),
        }
    }

    /// Every projection's input width (hidden, hq d, intermediate) must be a
    /// whole number of the formats' blocks.
    fn check(self, cfg: &ModelConfig) -> Result<()> {
        let Some(name) = self.name() else { return Ok(()) };
        let block = if self == WeightFormat::Q8_0 { 32 } else { 256 };
        let widths = [
            ("hidden", cfg.hidden),
            ("heads x head_dim", cfg.heads * cfg.head_dim),
            ("intermediate", cfg.intermediate),
        ];
        match widths.iter().find(|(_, w)| w % block != 0) {
            Some((what, w)) => Err(Error::invalid(
                "decode",
                "--dtype",
                format!("a weight format whose blocks ({block} elements) divide every projection's input width"),
                format!("{name} on {} ({what} {w})", cfg.name),
            )),
            None => Ok(()),
        }
    }
}

/// How a weight is filled: U(-a, a) with a = sqrt(3 / fan_in) (unit-variance
/// outputs for unit-variance inputs), norms near 1, small biases.
enum Init {
    FanIn(usize),
    Norm,
    Bias,
    Unit,
}

impl Init {
    fn range(&self) -> (f32, f32) {
        match *self {
            Init::FanIn(k) => {
                let a = (3.0 / k as f32).sqrt();
                (-a, a)
            }
            Init::Norm => (0.8, 1.2),
            Init::Bias => (-0.1, 0.1),
            Init::Unit => (-1.0, 1.0),
        }
    }
}

/// Checked product of sizes as a u64 count.
fn prod(dims: &[usize]) -> Option<u64> {
    dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64))
}

/// Checked sum of counts.
fn sum(parts: &[Option<u64>]) -> Option<u64> {
    parts.iter().try_fold(0u64, |a, p| a.checked_add((*p)?))
}

/// What a memory or overflow error names: the sizes the caller asked for.
fn workload(cfg: &ModelConfig, dtype: DType, batch: usize, context: usize) -> String {
    format!("decode of {} ({dtype}) with --batch {batch} --context {context}", cfg.name)
}

/// Bytes of every tensor [`DecodeModel::new`] allocates for these sizes:
/// weights, the KV cache of every layer and the step's activations, computed
/// with checked arithmetic (an overflow is an error naming the sizes).
pub fn model_bytes(cfg: &ModelConfig, dtype: DType, batch: usize, context: usize) -> Result<u64> {
    let (h, d, hq, hkv, inter, layers) =
        (cfg.hidden, cfg.head_dim, cfg.heads, cfg.kv_heads, cfg.intermediate, cfg.layers);
    let qkv = prod(&[hq + 2 * hkv, d]);
    let bias = if cfg.qkv_bias { qkv } else { Some(0) };
    let layer = sum(&[
        prod(&[2, h]),
        qkv.and_then(|q| q.checked_mul(h as u64)),
        bias,
        prod(&[h, hq, d]),
        prod(&[3, inter, h]),
        prod(&[2, batch, hkv, context, d]),
    ]);
    let acts = sum(&[
        prod(&[3, batch, h]),
        qkv.and_then(|q| q.checked_mul(batch as u64)),
        prod(&[2, batch, hq, d]),
        prod(&[3, batch, inter]),
        prod(&[batch, cfg.vocab]),
    ]);
    let elems = sum(&[layer.and_then(|l| l.checked_mul(layers as u64)), Some(h as u64), prod(&[cfg.vocab, h]), acts]);
    elems
        .and_then(|e| e.checked_mul(dtype.size_in_bytes() as u64))
        .ok_or_else(|| crate::mem::overflow(&workload(cfg, dtype, batch, context)))
}

/// Host bytes the CPU backend's step holds beside the model at its peak: the
/// f64 copies attention makes of one layer's K and V, and the f64 results
/// of the largest projection (the LM head).
pub fn cpu_step_scratch_bytes(cfg: &ModelConfig, batch: usize, context: usize) -> Result<u64> {
    let widest = cfg.vocab.max(2 * cfg.intermediate).max(cfg.qkv_width());
    sum(&[prod(&[2, batch, cfg.kv_heads, context, cfg.head_dim, 8]), prod(&[2, batch, widest, 8])])
        .ok_or_else(|| crate::mem::overflow(&workload(cfg, DType::F32, batch, context)))
}

/// Checks, before anything is allocated, that a model of these sizes fits:
/// on a GPU its tensors in the device's free memory (with 256 MiB left for
/// workspaces and modules), on the CPU backend its tensors and the step's
/// scratch in the host's available memory.
pub fn check_fits(ctx: &Context, cfg: &ModelConfig, dtype: DType, batch: usize, context: usize) -> Result<()> {
    cfg.validate()?;
    let what = workload(cfg, dtype, batch, context);
    let model = model_bytes(cfg, dtype, batch, context)?;
    if ctx.is_cuda() {
        let device = model.checked_add(256 << 20).ok_or_else(|| crate::mem::overflow(&what))?;
        crate::mem::check(ctx, &what, 0, device)
    } else {
        let host = model
            .checked_add(cpu_step_scratch_bytes(cfg, batch, context)?)
            .ok_or_else(|| crate::mem::overflow(&what))?;
        crate::mem::check(ctx, &what, 0, host)
    }
}

impl DecodeModel {
    /// Allocates and fills every tensor on `ctx`'s device. The same config,
    /// shapes and seed give bit-identical weights, cache and input on every
    /// backend (ops::random).
    pub fn new(
        ctx: &Context,
        cfg: &ModelConfig,
        dtype: DType,
        batch: usize,
        context: usize,
        seed: u64,
    ) -> Result<Self> {
        Self::build(ctx, cfg, dtype, batch, context, seed, &Silent)
    }

    /// [`DecodeModel::new`], reporting one step per layer (and one for the
    /// output head) to `progress`: minutes for an 8B model on the CPU backend.
    pub fn build(
        ctx: &Context,
        cfg: &ModelConfig,
        dtype: DType,
        batch: usize,
        context: usize,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<Self> {
        Self::build_with(ctx, cfg, dtype, WeightFormat::Dense, batch, context, seed, progress)
    }

    /// [`DecodeModel::build`] with the projections and the LM head in
    /// `weights`' format (random valid blocks for a quantized one; norms,
    /// caches and activations in `dtype`). A quantized format needs every
    /// projection's input width to be a whole number of its blocks (an error
    /// naming the model's sizes otherwise).
    #[allow(clippy::too_many_arguments)]
    pub fn build_with(
        ctx: &Context,
        cfg: &ModelConfig,
        dtype: DType,
        weights: WeightFormat,
        batch: usize,
        context: usize,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<Self> {
        cfg.validate()?;
        weights.check(cfg)?;
        if batch == 0 {
            return Err(Error::invalid("decode", "--batch", "at least 1 sequence", batch));
        }
        if context == 0 {
            return Err(Error::invalid("decode", "--context", "at least 1 key (the step's own token)", context));
        }
        check_fits(ctx, cfg, dtype, batch, context)?;
        let mut next = 0u64;
        let mut make = |shape: &[usize], init: Init| -> Result<Tensor> {
            let t = Tensor::empty(ctx, shape, dtype)?;
            next += 1;
            let (lo, hi) = init.range();
            ops::fill_uniform(ctx, &t, seed.wrapping_mul(0x1000_0000_01B3).wrapping_add(next), lo, hi)?;
            Ok(t)
        };
        let (h, d, hq, hkv, inter) = (cfg.hidden, cfg.head_dim, cfg.heads, cfg.kv_heads, cfg.intermediate);
        let mut qseed = seed.wrapping_mul(0x9E37_79B9);
        let mut quant = |rows: usize, cols: usize, kind: QuantKind| -> Result<Linear> {
            qseed = qseed.wrapping_add(1);
            // Fan-in scaled (as the dense weights are), so a step's activations stay finite.
            let scale = 1.0 / (cols as f32).sqrt();
            Ok(Linear::Quant(std::sync::Arc::new(QuantMatrix::random_scaled(ctx, kind, rows, cols, qseed, scale)?)))
        };
        let mut layers = Vec::with_capacity(cfg.layers);
        progress.start(&format!("{}: random weights, by layer", cfg.name), cfg.layers as u64 + 1);
        for i in 0..cfg.layers {
            let (w_qkv, w_o, w_gate_up, w_down) = match weights.layer_kinds(i, cfg.layers) {
                None => (
                    Linear::Dense(make(&[cfg.qkv_width(), h], Init::FanIn(h))?),
                    Linear::Dense(make(&[h, hq * d], Init::FanIn(hq * d))?),
                    Linear::Dense(make(&[2 * inter, h], Init::FanIn(h))?),
                    Linear::Dense(make(&[h, inter], Init::FanIn(inter))?),
                ),
                Some(k) => {
                    let qkv = if k.qk == k.v {
                        quant(cfg.qkv_width(), h, k.qk)?
                    } else {
                        Linear::Stacked(vec![quant((hq + hkv) * d, h, k.qk)?, quant(hkv * d, h, k.v)?])
                    };
                    (qkv, quant(h, hq * d, k.o)?, quant(2 * inter, h, k.gate_up)?, quant(h, inter, k.down)?)
                }
            };
            layers.push(LayerWeights {
                w: LayerTensors {
                    attn_norm: make(&[h], Init::Norm)?,
                    w_qkv,
                    b_qkv: if cfg.qkv_bias { Some(make(&[cfg.qkv_width()], Init::Bias)?) } else { None },
                    w_o,
                    mlp_norm: make(&[h], Init::Norm)?,
                    w_gate_up,
                    w_down,
                    q_norm: None,
                    k_norm: None,
                },
                k_cache: make(&[batch, hkv, context, d], Init::Unit)?,
                v_cache: make(&[batch, hkv, context, d], Init::Unit)?,
            });
            progress.inc(1);
        }
        let final_norm = make(&[h], Init::Norm)?;
        let lm_head = match weights.head_kind() {
            None => Linear::Dense(make(&[cfg.vocab, h], Init::FanIn(h))?),
            Some(kind) => quant(cfg.vocab, h, kind)?,
        };
        let x0 = make(&[batch, h], Init::Unit)?;
        let buf = Buffers::new(ctx, cfg, dtype, batch, x0)?;
        ctx.synchronize()?;
        for l in &layers {
            l.w.mark_fixed()?;
        }
        final_norm.mark_fixed()?;
        lm_head.mark_fixed()?;
        progress.finish();
        Ok(DecodeModel { cfg: cfg.clone(), dtype, batch, context, layers, final_norm, lm_head, buf })
    }

    /// The position of the step's token (its K and V go to this cache slot).
    pub fn position(&self) -> usize {
        self.context - 1
    }

    /// One decoding step: every op dispatched now (eager). Each step repeats
    /// the step at position context - 1, so every step costs the same.
    pub fn step(&self, ctx: &Context) -> Result<()> {
        self.step_at(ctx, self.position())
    }

    /// One decoding step of the token at position `pos` (every sequence of
    /// the batch at the same position): its K and V go to cache slot `pos`
    /// and it attends over slots `0..=pos`. `step` is `step_at(context - 1)`.
    pub fn step_at(&self, ctx: &Context, pos: usize) -> Result<()> {
        if pos >= self.context {
            return Err(Error::invalid("decode", "pos", format!("a position below the context {}", self.context), pos));
        }
        let rope = RopeOptions { pos, ..self.rope() };
        // Lq = 1 sees every cached key: no mask needed. rope_append, the launch
        // before attention, writes only q and the cache's slot pos.
        let sdpa = SdpaOptions { fresh_keys: Some(1), ..Default::default() };
        self.run_step(ctx, StepInput::X0, (&rope, None), &|l, q4, attn4, appended| {
            // The caches seen up to slot pos (the whole cache when pos = context - 1).
            let (kc, vc) = (l.k_cache.narrow(2, 0, pos + 1)?, l.v_cache.narrow(2, 0, pos + 1)?);
            if !appended {
                ops::rope_append(ctx, &self.buf.act.qkv, l.w.b_qkv.as_ref(), &self.buf.act.q, &kc, &vc, &rope)?;
            }
            ops::sdpa(ctx, q4, &kc, &vc, attn4, &sdpa)
        })
    }

    /// The RoPE options of this model's layers (position 0).
    fn rope(&self) -> RopeOptions {
        let cfg = &self.cfg;
        RopeOptions { hq: cfg.heads, hkv: cfg.kv_heads, pos: 0, theta: cfg.rope_theta, llama3: cfg.rope_llama3 }
    }

    /// The skeleton of a decode step (one row per sequence): the input copied
    /// into the residual stream, then per layer the norm, the QKV projection
    /// (and Qwen3's q/k norms), `attention(layer, q [B, hq, 1, d], out,
    /// appended)` (RoPE, the cache append and attention: what differs
    /// between a uniform and a ragged step), the O projection with its
    /// residual and the MLP; then the final norm and the LM head into
    /// `buf.logits`. At up to FUSED_MAX_N rows, QKV weights without q/k
    /// norms take RoPE and the append into the projection
    /// (`ops::matmul_rope_append` for dense ones,
    /// `ops::quant_matmul_rope_append` for block-quantized ones, with
    /// `rope`'s options and positions); `appended` then tells `attention` so.
    fn run_step(
        &self,
        ctx: &Context,
        input: StepInput,
        rope: (&RopeOptions, Option<&Indices>),
        attention: &dyn Fn(&LayerWeights, &Tensor, &Tensor, bool) -> Result<()>,
    ) -> Result<()> {
        let (cfg, b) = (&self.cfg, &self.buf);
        if input == StepInput::X0 {
            ops::copy(ctx, &b.x0, &b.act.x)?;
        }
        let q4 = b.act.q.reshape(&[self.batch, cfg.heads, 1, cfg.head_dim])?;
        let attn4 = b.act.attn.reshape(&[self.batch, cfg.heads, 1, cfg.head_dim])?;
        let attn2 = b.act.attn.reshape(&[self.batch, cfg.heads * cfg.head_dim])?;
        for l in &self.layers {
            let targets = RopeTargets {
                bias: l.w.b_qkv.as_ref(),
                q_out: &b.act.q,
                k_cache: &l.k_cache,
                v_cache: &l.v_cache,
                positions: rope.1,
                opts: *rope.0,
            };
            let fusable = self.batch <= FUSED_MAX_N && l.w.q_norm.is_none();
            let quant = if fusable { l.w.w_qkv.quant_parts() } else { None };
            let quant_fused = match &quant {
                Some(parts) => ops::fused_gemv::quant_rope_fuses_on(ctx, parts, self.batch, b.q8.is_some())?,
                None => false,
            };
            let appended = match (&l.w.w_qkv, quant) {
                (Linear::Dense(w), _) if fusable => {
                    let norm = RmsNormIn { weight: &l.w.attn_norm, eps: cfg.rms_eps };
                    ops::matmul_rope_append(ctx, w, &transposed(&b.act.x)?, Some(norm), &targets)?;
                    true
                }
                // Quantized, where the fused launches run (within the
                // tuning's bound): the norm (and x's 8-bit rounding) by its
                // own launch, RoPE and the append in the projection's.
                (_, Some(parts)) if quant_fused => {
                    let xq = b.q8.as_ref().map(|q| &q.xn);
                    norm_into(ctx, &b.act.x, &l.w.attn_norm, cfg.rms_eps, &b.act.xn, xq)?;
                    ops::quant_matmul_rope_append(ctx, &parts, &b.act.xn, xq, &targets)?;
                    true
                }
                _ => {
                    let xq = b.q8.as_ref().map(|q| &q.xn);
                    norm_then_linear(
                        ctx,
                        &l.w.w_qkv,
                        &b.act.x,
                        &l.w.attn_norm,
                        cfg.rms_eps,
                        &b.act.xn,
                        xq,
                        &b.act.qkv,
                    )?;
                    if let (Some(qn), Some(kn)) = (&l.w.q_norm, &l.w.k_norm) {
                        self.qk_norm(ctx, &b.act.qkv, qn, kn)?;
                    }
                    false
                }
            };
            attention(l, &q4, &attn4, appended)?;
            match b.q8.as_ref().and_then(|q| q.attn.as_ref()) {
                Some(q) if l.w.w_o.is_quant() => {
                    ops::quantize_x(ctx, &attn2, q)?;
                    linear_q8(ctx, &l.w.w_o, &attn2, Some(q), 1.0, &b.act.x)?; // + residual
                }
                _ => linear(ctx, &l.w.w_o, &attn2, 1.0, &b.act.x)?, // + residual
            }
            self.mlp(ctx, l, &b.act.x, &b.act.xn, &b.act.gate_up, &b.act.h, b.q8.as_ref())?;
        }
        let xq = b.q8.as_ref().map(|q| &q.xn);
        norm_then_linear(ctx, &self.lm_head, &b.act.x, &self.final_norm, cfg.rms_eps, &b.act.xn, xq, &b.logits)
    }

    /// Qwen3's per-head RMSNorm, in place on the Q heads and the K heads of
    /// every row of `qkv` ([rows, (hq + 2 hkv) d]): two launches.
    fn qk_norm(&self, ctx: &Context, qkv: &Tensor, qn: &Tensor, kn: &Tensor) -> Result<()> {
        let cfg = &self.cfg;
        let (d, rows, row_stride, base) = (cfg.head_dim, qkv.shape()[0], qkv.layout().stride(0), qkv.layout().offset());
        let q = qkv.as_strided(&[rows, cfg.heads, d], &[row_stride, d, 1], base)?;
        let k = qkv.as_strided(&[rows, cfg.kv_heads, d], &[row_stride, d, 1], base + cfg.heads * d)?;
        ops::rmsnorm(ctx, &q, qn, cfg.rms_eps, &q)?;
        ops::rmsnorm(ctx, &k, kn, cfg.rms_eps, &k)
    }

    /// One decoding step of a ragged batch: sequence b's token (its embedding
    /// in row b of the residual stream `buf.act.x`, where the caller gathers
    /// it: no copy from `buf.x0`, one launch fewer) sits at position `positions[b]`, its K and V go
    /// to that slot of the sequence's cache, and it attends over the first
    /// `kv_lens[b]` slots (positions[b] + 1 for a live sequence). A finished
    /// sequence can be parked with a position at or past the capacity (no
    /// cache write) and a length of 0 (no keys read): it then costs only its
    /// column of each projection. Both index vectors are read on the device,
    /// so a recorded step replays with the values written before each replay.
    /// A live sequence's kv_lens[b] must be positions[b] + 1: attention
    /// reads the other keys before rope_append_ragged, the launch before it,
    /// has finished writing slot positions[b] (`SdpaOptions::fresh_keys`).
    pub fn step_ragged(&self, ctx: &Context, positions: &Indices, kv_lens: &Indices) -> Result<()> {
        // rope_append_ragged, the launch before attention, writes only q and
        // each sequence's last slot (kv_lens is written before the step).
        let sdpa = SdpaOptions { fresh_keys: Some(1), ..Default::default() };
        let (rope, act) = (self.rope(), &self.buf.act);
        self.run_step(ctx, StepInput::InResidual, (&rope, Some(positions)), &|l, q4, attn4, appended| {
            let (kc, vc) = (&l.k_cache, &l.v_cache);
            if !appended {
                ops::rope_append_ragged(ctx, &act.qkv, l.w.b_qkv.as_ref(), &act.q, kc, vc, positions, &rope)?;
            }
            ops::sdpa_ragged(ctx, q4, kc, vc, attn4, kv_lens, &sdpa)
        })
    }

    /// The MLP block with its residual: x += down(silu(gate(norm(x))) * up(norm(x))).
    #[allow(clippy::too_many_arguments)]
    fn mlp(
        &self,
        ctx: &Context,
        l: &LayerWeights,
        x: &Tensor,
        xn: &Tensor,
        gate_up: &Tensor,
        h: &Tensor,
        q8: Option<&StepQ8>,
    ) -> Result<()> {
        let eps = self.cfg.rms_eps;
        let fused = x.shape()[0] <= FUSED_MAX_N && !(q8.is_some() && l.w.w_down.is_quant());
        if let (Linear::Dense(w), true) = (&l.w.w_gate_up, fused) {
            // Dense gate/up of one or two rows (a decode step, or a prefill
            // chunk that short): the norm, the projection and silu(gate) * up
            // in one launch where ops::fused_gemv fuses them (the norm up to
            // the tuning's weight bound), no xn or gate_up buffer.
            let norm = RmsNormIn { weight: &l.w.mlp_norm, eps };
            ops::rmsnorm_matmul_silu_mul(ctx, w, &transposed(x)?, norm, &transposed(h)?)?;
            return linear(ctx, &l.w.w_down, h, 1.0, x); // + residual
        }
        norm_then_linear(ctx, &l.w.w_gate_up, x, &l.w.mlp_norm, eps, xn, q8.map(|q| &q.xn), gate_up)?;
        match q8 {
            Some(q) if l.w.w_down.is_quant() => {
                ops::silu_mul_q8(ctx, gate_up, h, &q.h)?;
                linear_q8(ctx, &l.w.w_down, h, Some(&q.h), 1.0, x) // + residual
            }
            _ => {
                ops::silu_mul(ctx, gate_up, h)?;
                linear(ctx, &l.w.w_down, h, 1.0, x) // + residual
            }
        }
    }

    /// Runs `tokens` consecutive prompt tokens of sequence `seq` through every
    /// layer at once (a prefill chunk): their embeddings are the first
    /// `tokens` rows of `pb.x`; their K and V go to slots `pos0..pos0 + tokens`
    /// of the sequence's cache; every projection is one matmul over the chunk
    /// (N = tokens, cuBLAS above the GEMV sizes); attention is the fused
    /// flash-style kernel with causal masking (no score matrix is ever
    /// stored). The logits of the chunk's last token land in row `seq` of
    /// `buf.logits`.
    pub fn prefill_chunk(&self, ctx: &Context, pb: &Activations, seq: usize, pos0: usize, tokens: usize) -> Result<()> {
        let cfg = &self.cfg;
        if seq >= self.batch {
            return Err(Error::invalid("prefill", "seq", format!("a sequence below the batch {}", self.batch), seq));
        }
        if tokens == 0 || tokens > pb.capacity() {
            return Err(Error::invalid(
                "prefill",
                "tokens",
                format!("1 to the chunk capacity {}", pb.capacity()),
                tokens,
            ));
        }
        if pos0 + tokens > self.context {
            return Err(Error::invalid(
                "prefill",
                "tokens",
                format!("room in the cache of {} positions after position {pos0}", self.context),
                tokens,
            ));
        }
        let (d, hq) = (cfg.head_dim, cfg.heads);
        let rows = |t: &Tensor| t.narrow(0, 0, tokens);
        let (x, xn, qkv, gate_up, hbuf) =
            (rows(&pb.x)?, rows(&pb.xn)?, rows(&pb.qkv)?, rows(&pb.gate_up)?, rows(&pb.h)?);
        let width = cfg.qkv_width();
        let qkv3 = qkv.reshape(&[1, tokens, width])?;
        // q and attn are [tokens, hq, d] buffers, seen as [1, hq, tokens, d] by rope and attention.
        let heads_view = |t: &Tensor| t.as_strided(&[1, hq, tokens, d], &[tokens * hq * d, d, hq * d, 1], 0);
        let (q4, attn4) = (heads_view(&pb.q)?, heads_view(&pb.attn)?);
        let attn2 = pb.attn.as_strided(&[tokens, hq * d], &[hq * d, 1], 0)?;
        let rope = RopeOptions { pos: pos0, ..self.rope() };
        // Causal, query i at position pos0 + i (the default offset Lk - Lq); always the fused kernel.
        // rope_append, the launch before it, writes only q and the chunk's cache slots.
        let sdpa = SdpaOptions {
            causal: true,
            prefs: Some(SdpaPrefs { backend: SdpaBackend::Fused, ..Default::default() }),
            fresh_keys: Some(tokens),
            ..Default::default()
        };
        for l in &self.layers {
            ops::rmsnorm(ctx, &x, &l.w.attn_norm, cfg.rms_eps, &xn)?;
            linear(ctx, &l.w.w_qkv, &xn, 0.0, &qkv)?;
            if let (Some(qn), Some(kn)) = (&l.w.q_norm, &l.w.k_norm) {
                self.qk_norm(ctx, &qkv, qn, kn)?;
            }
            let (kc, vc) = (l.k_cache.narrow(0, seq, 1)?, l.v_cache.narrow(0, seq, 1)?);
            ops::rope_append(ctx, &qkv3, l.w.b_qkv.as_ref(), &q4, &kc, &vc, &rope)?;
            let (ks, vs) = (kc.narrow(2, 0, pos0 + tokens)?, vc.narrow(2, 0, pos0 + tokens)?);
            ops::sdpa(ctx, &q4, &ks, &vs, &attn4, &sdpa)?;
            linear(ctx, &l.w.w_o, &attn2, 1.0, &x)?; // + residual
            self.mlp(ctx, l, &x, &xn, &gate_up, &hbuf, None)?;
        }
        let (last, last_n) = (x.narrow(0, tokens - 1, 1)?, xn.narrow(0, 0, 1)?);
        let logits = self.buf.logits.narrow(0, seq, 1)?;
        norm_then_linear(ctx, &self.lm_head, &last, &self.final_norm, cfg.rms_eps, &last_n, None, &logits)
    }

    /// Bytes a step must stream at least: every weight once, and the KV cache
    /// read once per layer (activations are a rounding error beside them).
    pub fn bytes_per_step(&self) -> u64 {
        let e = self.dtype.size_in_bytes() as u64;
        let kv = 2 * self.cfg.layers * self.batch * self.cfg.kv_heads * self.context * self.cfg.head_dim;
        let t = |t: &Tensor| (t.numel() * t.dtype().size_in_bytes()) as u64;
        let weights: u64 = self
            .layers
            .iter()
            .map(|l| {
                let w = &l.w;
                [&w.w_qkv, &w.w_o, &w.w_gate_up, &w.w_down].iter().map(|p| p.bytes() as u64).sum::<u64>()
                    + t(&w.attn_norm)
                    + t(&w.mlp_norm)
                    + w.b_qkv.as_ref().map_or(0, t)
                    + w.q_norm.as_ref().map_or(0, t)
                    + w.k_norm.as_ref().map_or(0, t)
            })
            .sum();
        weights + t(&self.final_norm) + self.lm_head.bytes() as u64 + e * kv as u64
    }
}

/// y[B, M] (+)= x[B, K] · W^T with W [M, K] (beta 0 or 1). Dense: the
/// matmul C = A·B with A = W, B = x^T (K-contiguous columns) and C = y^T, so
/// N = batch. Quantized: the quantized GEMV for up to
/// [`ops::quant::QUANT_MAX_N`] rows of x (a decode step); more (a prefill
/// chunk) dequantize W into a scratch matrix first and take the dense path
/// (cuBLAS at those sizes), one pass over the blocks instead of one per 16
/// rows. Stacked: each part into its columns of y (quantized parts of a
/// decode step: `ops::quant_matmul_parts`, one launch for a Q4_K + Q6_K pair
/// from `quant.pair_min_n` tokens on).
pub fn linear(ctx: &Context, w: &Linear, x: &Tensor, beta: f32, y: &Tensor) -> Result<()> {
    linear_q8(ctx, w, x, None, beta, y)
}

/// [`linear`] with x also rounded to 8 bits (`x_q8`, x's values: see
/// [`ops::quant::QuantOptions::x_q8`]), which the quantized GEMV reads.
pub fn linear_q8(
    ctx: &Context,
    w: &Linear,
    x: &Tensor,
    x_q8: Option<&Q8Activations>,
    beta: f32,
    y: &Tensor,
) -> Result<()> {
    match w {
        Linear::Dense(t) => dense_linear(ctx, t, x, beta, y),
        Linear::Quant(q) if x.shape()[0] <= ops::quant::QUANT_MAX_N => {
            ops::quant_matmul_with(ctx, q, x, y, 1.0, beta, &QuantOptions { kernel: None, x_q8 })
        }
        Linear::Quant(q) => {
            let (m, k) = (q.rows(), q.cols());
            let dense = ctx.scratch("linear.dequantized", x.dtype(), m * k)?.reshape(&[m, k])?;
            ops::dequantize(ctx, q, &dense)?;
            dense_linear(ctx, &dense, x, beta, y)
        }
        // Every part quantized (Q4_K_M's QKV with Q6_K V rows): one launch
        // where the dot kernel has the formats' pair (ops::quant_matmul_parts).
        Linear::Stacked(_) if x.shape()[0] <= ops::quant::QUANT_MAX_N && w.quant_parts().is_some() => {
            let parts = w.quant_parts().expect("matched");
            ops::quant_matmul_parts(ctx, &parts, x, y, 1.0, beta, &QuantOptions { kernel: None, x_q8 })
        }
        Linear::Stacked(parts) => {
            let mut at = 0;
            for p in parts {
                linear_q8(ctx, p, x, x_q8, beta, &y.narrow(1, at, p.rows())?)?;
                at += p.rows();
            }
            Ok(())
        }
    }
}

/// `y = W · rmsnorm(x)` (beta 0). Quantized weights read the norm's output
/// xn also rounded to 8 bits into `xq` by the same launch (`ops::rmsnorm_q8`),
/// where given; dense ones take `ops::rmsnorm_matmul` (xn unused).
#[allow(clippy::too_many_arguments)]
fn norm_then_linear(
    ctx: &Context,
    w: &Linear,
    x: &Tensor,
    norm: &Tensor,
    eps: f32,
    xn: &Tensor,
    xq: Option<&Q8Activations>,
    y: &Tensor,
) -> Result<()> {
    match xq {
        Some(q) if w.is_quant() => {
            norm_into(ctx, x, norm, eps, xn, Some(q))?;
            linear_q8(ctx, w, xn, Some(q), 0.0, y)
        }
        // Dense weights of a decode step's rows: the norm inside the GEMV's
        // launch where it serves the shape (ops::fused_gemv; xn is not
        // written). More rows (a prefill chunk) norm into xn first.
        _ => match w {
            Linear::Dense(t) if x.shape()[0] <= FUSED_MAX_N => {
                ops::rmsnorm_matmul(ctx, t, &transposed(x)?, RmsNormIn { weight: norm, eps }, &transposed(y)?)
            }
            _ => {
                ops::rmsnorm(ctx, x, norm, eps, xn)?;
                linear(ctx, w, xn, 0.0, y)
            }
        },
    }
}

/// xn = rmsnorm(x), also rounded to 8 bits into `xq` where given (the
/// quantized GEMVs' x: `ops::rmsnorm_q8`).
fn norm_into(
    ctx: &Context,
    x: &Tensor,
    norm: &Tensor,
    eps: f32,
    xn: &Tensor,
    xq: Option<&Q8Activations>,
) -> Result<()> {
    match xq {
        Some(q) => ops::rmsnorm_q8(ctx, x, norm, eps, xn, q),
        None => ops::rmsnorm(ctx, x, norm, eps, xn),
    }
}

fn dense_linear(ctx: &Context, w: &Tensor, x: &Tensor, beta: f32, y: &Tensor) -> Result<()> {
    ops::matmul(ctx, 1.0, w, &transposed(x)?, beta, &transposed(y)?)
}

/// [rows, cols] seen as [cols, rows] (the matmul's B = x^T and C = y^T).
fn transposed(t: &Tensor) -> Result<Tensor> {
    let (rows, cols) = (t.shape()[0], t.shape()[1]);
    t.as_strided(&[cols, rows], &[t.layout().stride(1), t.layout().stride(0)], t.layout().offset())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The O projection's x gets a rounding launch of its own at batch 1 only
    /// where the attention output is at least O_OWN_Q8_MIN_WIDTH wide, and at
    /// every larger batch.
    #[test]
    fn o_projection_rounds_its_own_x_where_wide_or_batched() -> Result<()> {
        let ctx = Context::cpu();
        for (name, at_batch_1) in [("llama3-8b", true), ("llama3.2-1b", false), ("qwen2.5-0.5b", false)] {
            let cfg = ModelConfig::builtin(name)?;
            for (batch, own) in [(1, at_batch_1), (2, true)] {
                let x0 = Tensor::empty(&ctx, &[batch, cfg.hidden], DType::F16)?;
                let b = Buffers::new(&ctx, &cfg, DType::F16, batch, x0)?;
                assert_eq!(b.q8.as_ref().map(|q| q.attn.is_some()), Some(own), "{name} batch {batch}");
            }
        }
        Ok(())
    }
}

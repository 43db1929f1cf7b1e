//! A decoder-only model of a config's shapes, with random weights made where
//! the tensors live, a KV cache filled with random keys and values, and one
//! decoding step over it (a Llama-style block per layer).

use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{self, RopeOptions, SdpaOptions};
use crate::progress::{Progress, Silent};
use crate::tensor::Tensor;

use super::config::ModelConfig;

/// One layer's weights and KV cache.
pub struct LayerWeights {
    pub attn_norm: Tensor,
    /// [(hq + 2 hkv) d, hidden]: Q, K and V projections stacked.
    pub w_qkv: Tensor,
    pub b_qkv: Option<Tensor>,
    /// [hidden, hq d]
    pub w_o: Tensor,
    pub mlp_norm: Tensor,
    /// [2 intermediate, hidden]: gate rows, then up rows.
    pub w_gate_up: Tensor,
    /// [hidden, intermediate]
    pub w_down: Tensor,
    /// [batch, hkv, context, d]
    pub k_cache: Tensor,
    pub v_cache: Tensor,
}

/// Activations of a step, allocated once.
pub struct Buffers {
    /// [batch, hidden]: the step's input (token embeddings), copied into `x`.
    pub x0: Tensor,
    /// [batch, hidden]: the residual stream.
    pub x: Tensor,
    pub xn: Tensor,
    pub qkv: Tensor,
    /// [batch, hq, d]
    pub q: Tensor,
    pub attn: Tensor,
    pub gate_up: Tensor,
    pub h: Tensor,
    /// [batch, vocab]
    pub logits: Tensor,
}

pub struct DecodeModel {
    pub cfg: ModelConfig,
    pub dtype: DType,
    pub batch: usize,
    /// Keys each step attends over; the step's token sits at position context - 1.
    pub context: usize,
    pub layers: Vec<LayerWeights>,
    pub final_norm: Tensor,
    /// [vocab, hidden]
    pub lm_head: Tensor,
    pub buf: Buffers,
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
        cfg.validate()?;
        if batch == 0 {
            return Err(Error::invalid("decode", "--batch", "at least 1 sequence", batch));
        }
        if context == 0 {
            return Err(Error::invalid("decode", "--context", "at least 1 key (the step's own token)", context));
        }
        let mut next = 0u64;
        let mut make = |shape: &[usize], init: Init| -> Result<Tensor> {
            let t = Tensor::empty(ctx, shape, dtype)?;
            next += 1;
            let (lo, hi) = init.range();
            ops::fill_uniform(ctx, &t, seed.wrapping_mul(0x1000_0000_01B3).wrapping_add(next), lo, hi)?;
            Ok(t)
        };
        let (h, d, hq, hkv, inter) = (cfg.hidden, cfg.head_dim, cfg.heads, cfg.kv_heads, cfg.intermediate);
        let mut layers = Vec::with_capacity(cfg.layers);
        progress.start(&format!("{}: random weights, by layer", cfg.name), cfg.layers as u64 + 1);
        for _ in 0..cfg.layers {
            layers.push(LayerWeights {
                attn_norm: make(&[h], Init::Norm)?,
                w_qkv: make(&[cfg.qkv_width(), h], Init::FanIn(h))?,
                b_qkv: if cfg.qkv_bias { Some(make(&[cfg.qkv_width()], Init::Bias)?) } else { None },
                w_o: make(&[h, hq * d], Init::FanIn(hq * d))?,
                mlp_norm: make(&[h], Init::Norm)?,
                w_gate_up: make(&[2 * inter, h], Init::FanIn(h))?,
                w_down: make(&[h, inter], Init::FanIn(inter))?,
                k_cache: make(&[batch, hkv, context, d], Init::Unit)?,
                v_cache: make(&[batch, hkv, context, d], Init::Unit)?,
            });
            progress.inc(1);
        }
        let final_norm = make(&[h], Init::Norm)?;
        let lm_head = make(&[cfg.vocab, h], Init::FanIn(h))?;
        let x0 = make(&[batch, h], Init::Unit)?;
        let e = |shape: &[usize]| Tensor::empty(ctx, shape, dtype);
        let buf = Buffers {
            x0,
            x: e(&[batch, h])?,
            xn: e(&[batch, h])?,
            qkv: e(&[batch, cfg.qkv_width()])?,
            q: e(&[batch, hq, d])?,
            attn: e(&[batch, hq, d])?,
            gate_up: e(&[batch, 2 * inter])?,
            h: e(&[batch, inter])?,
            logits: e(&[batch, cfg.vocab])?,
        };
        ctx.synchronize()?;
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
        let (cfg, b) = (&self.cfg, &self.buf);
        ops::copy(ctx, &b.x0, &b.x)?;
        let rope = RopeOptions { hq: cfg.heads, hkv: cfg.kv_heads, pos: self.position(), theta: cfg.rope_theta };
        let q4 = b.q.reshape(&[self.batch, cfg.heads, 1, cfg.head_dim])?;
        let attn4 = b.attn.reshape(&[self.batch, cfg.heads, 1, cfg.head_dim])?;
        let attn2 = b.attn.reshape(&[self.batch, cfg.heads * cfg.head_dim])?;
        // Lq = 1 sees every cached key: no mask needed.
        let sdpa = SdpaOptions::default();
        for l in &self.layers {
            ops::rmsnorm(ctx, &b.x, &l.attn_norm, cfg.rms_eps, &b.xn)?;
            linear(ctx, &l.w_qkv, &b.xn, 0.0, &b.qkv)?;
            ops::rope_append(ctx, &b.qkv, l.b_qkv.as_ref(), &b.q, &l.k_cache, &l.v_cache, &rope)?;
            ops::sdpa(ctx, &q4, &l.k_cache, &l.v_cache, &attn4, &sdpa)?;
            linear(ctx, &l.w_o, &attn2, 1.0, &b.x)?; // + residual
            ops::rmsnorm(ctx, &b.x, &l.mlp_norm, cfg.rms_eps, &b.xn)?;
            linear(ctx, &l.w_gate_up, &b.xn, 0.0, &b.gate_up)?;
            ops::silu_mul(ctx, &b.gate_up, &b.h)?;
            linear(ctx, &l.w_down, &b.h, 1.0, &b.x)?; // + residual
        }
        ops::rmsnorm(ctx, &b.x, &self.final_norm, cfg.rms_eps, &b.xn)?;
        linear(ctx, &self.lm_head, &b.xn, 0.0, &b.logits)
    }

    /// Bytes a step must stream at least: every weight once, and the KV cache
    /// read once per layer (activations are a rounding error beside them).
    pub fn bytes_per_step(&self) -> u64 {
        let e = self.dtype.size_in_bytes() as u64;
        let kv = 2 * self.cfg.layers * self.batch * self.cfg.kv_heads * self.context * self.cfg.head_dim;
        e * (self.cfg.step_params() + kv) as u64
    }

    /// Launches (kernels and library calls) per step, for reports.
    pub fn tensors(&self) -> usize {
        self.layers.len() * 9 + 4
    }
}

/// y[B, M] (+)= x[B, K] · W^T with W [M, K]: the matmul C = A·B with A = W,
/// B = x^T (K-contiguous columns) and C = y^T, so N = batch.
pub fn linear(ctx: &Context, w: &Tensor, x: &Tensor, beta: f32, y: &Tensor) -> Result<()> {
    let (m, k) = (w.shape()[0], w.shape()[1]);
    let n = x.shape()[0];
    let xt = x.as_strided(&[k, n], &[x.layout().stride(1), x.layout().stride(0)], x.layout().offset())?;
    let yt = y.as_strided(&[m, n], &[y.layout().stride(1), y.layout().stride(0)], y.layout().offset())?;
    ops::matmul(ctx, 1.0, w, &xt, beta, &yt)
}

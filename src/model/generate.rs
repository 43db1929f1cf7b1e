//! Generation on a loaded [`Model`]: a [`Session`] (one sequence, its KV
//! cache, prefill and decode steps), a [`Sampler`] (greedy, temperature,
//! top-k, top-p, min-p, repetition penalty, seeded) and [`generate`], which
//! runs a prompt to an EOS id, a stop string or a token budget, streaming
//! its text as complete UTF-8.
//!
//! How it runs:
//!
//! - **Prefill is batched**: [`Session::prefill_seq`] runs the prompt in
//!   chunks of up to [`PREFILL_CHUNK`] tokens, each chunk one pass per layer:
//!   the projections are matmuls over the chunk (cuBLAS above the GEMV
//!   sizes), RoPE and the cache append cover every position in one launch,
//!   and attention is the fused flash-style kernel with causal masking (no
//!   score matrix is stored). Only the last position's logits are computed.
//! - **Sequences decode together**: a session holds B sequences, each with
//!   its own cache length and position (a ragged batch); every decode step
//!   is one pass for all live sequences, with positions and lengths read on
//!   the device (so the step can be replayed as a CUDA graph, `Mode::Graph`).
//!   A finished sequence is parked (no cache write, no keys read) and costs
//!   only its column of each projection.
//! - **Sampling runs on the device**: one `ops::sample` launch per step
//!   chooses every sequence's token (greedy, or temperature, top-k, top-p,
//!   min-p and repetition penalty with a seeded Gumbel-max draw; see
//!   `spec::sample`) and appends it to the sequence's history on the device;
//!   only the B chosen ids come back to the host. The CPU backend runs the
//!   same arithmetic, so the same seed and logits give the same tokens on
//!   both. Logits rows are copied to the host only when asked
//!   (`keep_logits`).
//!
//! ```no_run
//! use decode_kernels::model::generate::{generate, GenerateOptions, SamplingParams};
//! use decode_kernels::model::Model;
//! use decode_kernels::Context;
//!
//! let ctx = Context::cpu();
//! let model = Model::load(&ctx, "tests/fixtures/models/qwen2".as_ref())?;
//! let prompt = model.tokenizer.as_ref().expect("tokenizer.json").encode("The quick brown fox", true)?;
//! let opts = GenerateOptions { max_tokens: 16, sampling: SamplingParams::greedy(), ..Default::default() };
//! let out = generate(&ctx, &model, &prompt, &opts, &mut |text| {
//!     print!("{text}");
//!     Ok(())
//! })?;
//! println!("\n{} tokens, finished by {}", out.tokens.len(), out.finish_reason.as_str());
//! # Ok::<(), decode_kernels::Error>(())
//! ```

use std::time::Instant;

use super::load::Model;
use super::tokenizer::StreamDecoder;
use crate::context::Context;
use crate::decode::model::Activations;
use crate::decode::DecodeModel;
use crate::error::{Error, Result};
use crate::ops::{self, SampleOptions};
use crate::tensor::{Indices, IndicesReadback, Tensor};

/// The `op` of every error of this module.
const OP: &str = "generate";

/// Most prompt tokens one prefill pass takes (longer prompts run in chunks):
/// large enough for the GEMMs to run near their peak, small enough that the
/// chunk's activations stay a few hundred MB on an 8B model.
pub const PREFILL_CHUNK: usize = 1024;

/// How decode steps reach the GPU (prefill is always eager).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepMode {
    /// Every op validated, dispatched and launched each step.
    #[default]
    Eager,
    /// The step (embedding lookup included) recorded once and captured into
    /// a CUDA graph; each step writes the tokens, positions and lengths and
    /// launches the graph. Needs a GPU.
    Graph,
}

impl std::str::FromStr for StepMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "eager" => Ok(StepMode::Eager),
            "graph" => Ok(StepMode::Graph),
            _ => Err(format!("expected eager or graph, got {s:?}")),
        }
    }
}

/// A decode step captured into a CUDA graph (which holds its recording and
/// so the tensors its launches address), its profiler label and bytes.
struct StepGraph {
    graph: crate::Graph,
    label: String,
    bytes: u64,
}

/// Work a [`Session`] runs after each decode step (and in its graph): given
/// the step's logits [B, vocab] and the vector the next step reads its ids
/// from, e.g. the sampling op that chooses the next tokens into it.
pub type StepTail<'a> = Box<dyn Fn(&Context, &Tensor, &Indices) -> Result<()> + 'a>;

/// A batch of sequences being generated: the decode model over the loaded
/// weights (shared, not copied) with a KV cache of `max_context` slots per
/// sequence, the prefill chunk's buffers, and the device vectors a ragged
/// step reads (tokens, positions, cache lengths).
pub struct Session<'a> {
    ctx: &'a Context,
    model: &'a Model,
    // Dropped before the vectors and buffers its launches address.
    graph: Option<StepGraph>,
    tail: Option<StepTail<'a>>,
    step: DecodeModel,
    chunk: Activations,
    step_ids: Indices,
    positions: Indices,
    kv_lens: Indices,
    // Each sequence's filled length on the device (advanced by every step,
    // see ops::step_positions) and whether the next step feeds it; written
    // from the host only when `lens` or the live set change other than by a
    // step (prefill, warm-up, a sequence parked).
    lens_on_device: Indices,
    live_on_device: Indices,
    live: Vec<bool>,
    lens_stale: bool,
    lens: Vec<usize>,
}

impl<'a> Session<'a> {
    /// How [`Session::prefill_seq`] runs a prompt, for reports.
    pub const PREFILL_KIND: &'static str =
        "batched: one pass per layer per chunk of up to 1024 prompt tokens (matmuls, fused causal attention)";

    /// A session of one sequence (see [`Session::with_batch`]).
    pub fn new(ctx: &'a Context, model: &'a Model, max_context: usize) -> Result<Self> {
        Self::with_batch(ctx, model, 1, max_context, max_context.min(PREFILL_CHUNK), StepMode::Eager)
    }

    /// A session of `batch` sequences with empty KV caches of `max_context`
    /// positions each (prompt and generated tokens together), prefill chunks
    /// of up to `chunk` tokens, and decode steps run in `mode`. Fails, before
    /// allocating, when the model has features the decode step does not run
    /// yet (e.g. a GGUF's RoPE divisors that are not llama3's),
    /// when `max_context` is 0 or above the model's `max_position_embeddings`,
    /// when `batch` or `chunk` is 0, when graph mode is asked for on the CPU,
    /// or when the caches and buffers do not fit in memory (saying how much
    /// they need).
    pub fn with_batch(
        ctx: &'a Context,
        model: &'a Model,
        batch: usize,
        max_context: usize,
        chunk: usize,
        mode: StepMode,
    ) -> Result<Self> {
        let missing = model.spec.unsupported_by_decode_step();
        if !missing.is_empty() {
            return Err(Error::Unsupported {
                op: OP,
                what: format!(
                    "{}: {} (not supported yet by the decode step, so this model cannot generate)",
                    model.path.display(),
                    missing.join("; ")
                ),
            });
        }
        let max_pos = model.spec.max_position_embeddings;
        if max_context == 0 || max_context > max_pos {
            return Err(Error::invalid(
                OP,
                "max_context",
                format!("from 1 to the model's max_position_embeddings ({max_pos})"),
                max_context,
            ));
        }
        if batch == 0 {
            return Err(Error::invalid(OP, "prompts", "at least 1 sequence", 0));
        }
        if chunk == 0 {
            return Err(Error::invalid(OP, "chunk", "at least 1 token per prefill pass", 0));
        }
        if mode == StepMode::Graph && !ctx.is_cuda() {
            return Err(Error::invalid(OP, "mode", "eager on the CPU backend (graph needs a CUDA device)", "graph"));
        }
        check_fits(ctx, model, batch, max_context, chunk)?;
        let step = model.decode_model(ctx, batch, max_context)?;
        let cfg = step.cfg.clone();
        let chunk = Activations::new(ctx, &cfg, model.dtype, chunk)?;
        let mut s = Session {
            ctx,
            model,
            graph: None,
            tail: None,
            step,
            chunk,
            step_ids: Indices::zeros(ctx, batch)?,
            positions: Indices::zeros(ctx, batch)?,
            kv_lens: Indices::zeros(ctx, batch)?,
            lens_on_device: Indices::zeros(ctx, batch)?,
            live_on_device: Indices::zeros(ctx, batch)?,
            live: vec![false; batch],
            lens_stale: false,
            lens: vec![0; batch],
        };
        if mode == StepMode::Graph {
            s.capture()?;
        }
        Ok(s)
    }

    /// Records the step (and the tail, if any) and captures it as the graph
    /// every step launches.
    fn capture(&mut self) -> Result<()> {
        self.graph = None;
        let recording = self.ctx.record(|c| {
            self.run_step(c)?;
            self.run_tail_on(c)
        })?;
        let graph = recording.capture_graph()?;
        let label = format!("generate/graph_step/{}", self.model.dtype);
        self.graph = Some(StepGraph { graph, label, bytes: self.step.bytes_per_step() });
        Ok(())
    }

    /// Sets the work that follows every decode step from now on (see
    /// [`StepTail`]); in graph mode the graph is captured again with it, here
    /// and not at the next step, so that no step pays for a capture. With a
    /// tail that samples into [`Session::step_ids`], a step and the choice
    /// of the next tokens are one graph launch.
    pub fn set_step_tail(&mut self, tail: StepTail<'a>) -> Result<()> {
        self.tail = Some(tail);
        if self.graph.is_some() {
            self.capture()?;
        }
        Ok(())
    }

    /// Runs the tail alone, now, on the current logits (e.g. to choose the
    /// first tokens after a prefill). Nothing when no tail is set.
    pub fn run_tail(&self) -> Result<()> {
        self.run_tail_on(self.ctx)
    }

    fn run_tail_on(&self, ctx: &Context) -> Result<()> {
        match &self.tail {
            Some(t) => t(ctx, &self.step.buf.logits, &self.step_ids),
            None => Ok(()),
        }
    }

    /// Sequences in the batch.
    pub fn batch(&self) -> usize {
        self.lens.len()
    }

    /// Positions each sequence's KV cache holds.
    pub fn max_context(&self) -> usize {
        self.step.context
    }

    /// Tokens fed so far to sequence `seq` (its cache's filled positions).
    pub fn len(&self, seq: usize) -> usize {
        self.lens.get(seq).copied().unwrap_or(0)
    }

    /// True when no sequence holds a token yet.
    pub fn is_empty(&self) -> bool {
        self.lens.iter().all(|&n| n == 0)
    }

    /// The decode model (its caches, buffers and byte counts).
    pub fn decode_model(&self) -> &DecodeModel {
        &self.step
    }

    /// The logits after the last token fed to each sequence: [batch, vocab]
    /// on the context's device (row b is stale until sequence b is fed).
    pub fn logits_tensor(&self) -> &Tensor {
        &self.step.buf.logits
    }

    /// A host copy (f32) of sequence `seq`'s logits row.
    pub fn logits(&self, seq: usize) -> Result<Vec<f32>> {
        self.check_seq(seq)?;
        self.step.buf.logits.narrow(0, seq, 1)?.to_f32_vec()
    }

    fn check_seq(&self, seq: usize) -> Result<()> {
        if seq >= self.batch() {
            return Err(Error::invalid(OP, "seq", format!("a sequence below the batch {}", self.batch()), seq));
        }
        Ok(())
    }

    fn check_ids(&self, tokens: &[u32]) -> Result<()> {
        let vocab = self.model.spec.vocab_size;
        match tokens.iter().find(|&&t| t as usize >= vocab) {
            Some(t) => Err(Error::invalid(OP, "tokens", format!("ids below the vocabulary size {vocab}"), t)),
            None => Ok(()),
        }
    }

    fn check_room(&self, seq: usize, n: usize) -> Result<()> {
        let (have, cap) = (self.lens[seq], self.step.context);
        if have + n > cap {
            return Err(Error::invalid(
                OP,
                "max_context",
                format!("room for {n} more token(s) after the {have} in sequence {seq}'s cache"),
                cap,
            ));
        }
        Ok(())
    }

    /// Feeds `tokens` to sequence `seq` (a prompt, or any continuation of
    /// it) in chunks of the session's prefill size; afterwards its logits row
    /// holds the logits of the token that follows them.
    pub fn prefill_seq(&mut self, seq: usize, tokens: &[u32]) -> Result<()> {
        self.check_seq(seq)?;
        if tokens.is_empty() {
            return Err(Error::invalid(OP, "prompt", "at least 1 token", "0 tokens"));
        }
        self.check_ids(tokens)?;
        self.check_room(seq, tokens.len())?;
        for part in tokens.chunks(self.chunk.capacity()) {
            let ids: Vec<i32> = part.iter().map(|&t| t as i32).collect();
            let ids = Indices::from_slice(self.ctx, &ids)?;
            let x = self.chunk.x.narrow(0, 0, part.len())?;
            ops::gather_rows(self.ctx, &self.model.weights.embed, &ids, &x)?;
            self.step.prefill_chunk(self.ctx, &self.chunk, seq, self.lens[seq], part.len())?;
            self.lens[seq] += part.len();
            self.lens_stale = true;
        }
        Ok(())
    }

    /// One decode step of the batch: `tokens[b]` is fed to sequence b (its
    /// next position), `None` parks sequence b for this step (nothing read or
    /// written for it; its logits row is then stale). Afterwards each fed
    /// sequence's logits row holds the logits of the token that follows (and
    /// the step's tail, if one is set, has run on them).
    pub fn step_batch(&mut self, tokens: &[Option<u32>]) -> Result<()> {
        if tokens.len() != self.batch() {
            return Err(Error::invalid(
                OP,
                "tokens",
                format!("one entry per sequence ({})", self.batch()),
                tokens.len(),
            ));
        }
        let live: Vec<u32> = tokens.iter().flatten().copied().collect();
        self.check_ids(&live)?;
        let feed: Vec<bool> = tokens.iter().map(Option::is_some).collect();
        self.check_feed(&feed)?;
        let ids: Vec<i32> = tokens.iter().map(|t| t.map_or(0, |t| t as i32)).collect();
        self.step_ids.write(&ids)?;
        self.feed(&feed)
    }

    /// The device vector a decode step reads its B token ids from. A sampling
    /// op may write its choices straight into it (`ops::sample` with it as
    /// `out`), and [`Session::step_sampled`] then feeds them without the host
    /// reading them first.
    pub fn step_ids(&self) -> &Indices {
        &self.step_ids
    }

    /// One decode step of the batch on the ids already in
    /// [`Session::step_ids`]: sequence b is fed when `feed[b]`, else parked
    /// as in [`Session::step_batch`]. Queues the step and returns without
    /// waiting for it, so the host can read the previous step's tokens while
    /// this one runs. An id the device holds outside the vocabulary gives
    /// that sequence a NaN embedding (and NaN logits, which the sampler
    /// reports), never an out-of-bounds read.
    pub fn step_sampled(&mut self, feed: &[bool]) -> Result<()> {
        self.check_feed(feed)?;
        self.feed(feed)
    }

    fn check_feed(&self, feed: &[bool]) -> Result<()> {
        if feed.len() != self.batch() {
            return Err(Error::invalid(OP, "feed", format!("one entry per sequence ({})", self.batch()), feed.len()));
        }
        for (b, &f) in feed.iter().enumerate() {
            if f {
                self.check_room(b, 1)?;
            }
        }
        Ok(())
    }

    /// Brings the device's lengths and live set up to date (only when they
    /// changed other than by a step), then queues the step.
    fn feed(&mut self, feed: &[bool]) -> Result<()> {
        if self.lens_stale {
            let lens: Vec<i32> = self.lens.iter().map(|&n| n as i32).collect();
            self.lens_on_device.write(&lens)?;
            self.lens_stale = false;
        }
        if self.live != feed {
            let live: Vec<i32> = feed.iter().map(|&f| f as i32).collect();
            self.live_on_device.write(&live)?;
            self.live = feed.to_vec();
        }
        match &self.graph {
            Some(g) => g.graph.launch(&g.label, g.bytes)?,
            None => {
                self.run_step(self.ctx)?;
                self.run_tail()?
            }
        }
        for (n, _) in self.lens.iter_mut().zip(feed).filter(|(_, &f)| f) {
            *n += 1;
        }
        Ok(())
    }

    /// The step itself: each sequence's position and cache length from its
    /// device length, the embedding lookup of the step's tokens and the
    /// ragged decode step (what graph mode records).
    fn run_step(&self, ctx: &Context) -> Result<()> {
        ops::step_positions(
            ctx,
            &self.lens_on_device,
            &self.live_on_device,
            &self.positions,
            &self.kv_lens,
            self.step.context,
        )?;
        ops::gather_rows(ctx, &self.model.weights.embed, &self.step_ids, &self.step.buf.act.x)?;
        self.step.step_ragged(ctx, &self.positions, &self.kv_lens)
    }

    /// Loads every kernel and library plan a prefill chunk and a decode step
    /// use, by running one of each on scratch tokens (sequence 0's cache, then
    /// forgotten: its length is reset, so the slots are overwritten later), so
    /// that the first timed prefill and step pay no start-up costs. Only on a
    /// GPU, before any sequence is fed.
    pub fn warm_up(&mut self) -> Result<()> {
        if !self.ctx.is_cuda() || !self.is_empty() {
            return Ok(());
        }
        let n = self.chunk.capacity().min(self.max_context());
        self.prefill_seq(0, &vec![0; n])?;
        self.lens[0] = 0;
        self.step_batch(&vec![Some(0); self.batch()])?;
        self.lens.iter_mut().for_each(|n| *n = 0);
        self.lens_stale = true;
        self.ctx.synchronize()
    }

    /// One sequence: feeds the prompt to sequence 0 and returns the logits of
    /// the token that follows it.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.prefill_seq(0, tokens)?;
        self.logits(0)
    }

    /// One sequence: feeds one token (the one just chosen) to sequence 0 and
    /// returns the logits of the next.
    pub fn step(&mut self, token: u32) -> Result<Vec<f32>> {
        let mut tokens = vec![None; self.batch()];
        tokens[0] = Some(token);
        self.step_batch(&tokens)?;
        self.logits(0)
    }
}

/// Checks the KV caches, step buffers and prefill chunk of a session against
/// free memory (device, or host on the CPU backend), before anything is
/// allocated.
fn check_fits(ctx: &Context, model: &Model, batch: usize, max_context: usize, chunk: usize) -> Result<()> {
    let s = &model.spec;
    let what = format!("generate with {} ({batch} sequence(s), --max-context {max_context})", model.path.display());
    let e = model.dtype.size_in_bytes();
    let kv = crate::mem::bytes_of(
        &what,
        &[2, s.num_hidden_layers, batch, s.num_key_value_heads, max_context, s.head_dim],
        e,
    )?;
    let widest =
        s.vocab_size.max(2 * s.intermediate_size).max((s.num_attention_heads + 2 * s.num_key_value_heads) * s.head_dim);
    let acts = crate::mem::bytes_of(&what, &[8, batch, widest], e)?;
    let cfg = s.decode_config(&what);
    let chunk_bytes = Activations::bytes(&cfg, model.dtype, chunk);
    let device =
        kv.checked_add(acts).and_then(|v| v.checked_add(chunk_bytes)).ok_or_else(|| crate::mem::overflow(&what))?;
    let host = if ctx.is_cuda() { 0 } else { crate::decode::model::cpu_step_scratch_bytes(&cfg, batch, max_context)? };
    crate::mem::check(ctx, &what, host, device)
}

/// How tokens are chosen from logits. Applied in transformers' order:
/// repetition penalty, temperature, top-k, top-p (over the top-k set's
/// renormalised probabilities), min-p; then one draw.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0: greedy (the highest logit after the repetition penalty, the lowest
    /// id on a tie). Above 0: logits are divided by it before the softmax.
    pub temperature: f32,
    /// Keep only the k highest logits (None: all).
    pub top_k: Option<usize>,
    /// Keep the smallest set of most probable tokens whose probability adds
    /// up to at least this (1: all).
    pub top_p: f32,
    /// Drop tokens less probable than this times the most probable one's (0: none).
    pub min_p: f32,
    /// Logits of tokens already in the sequence (prompt included) are divided
    /// by this when positive and multiplied when negative, as transformers'
    /// `repetition_penalty` (1: off).
    pub repeat_penalty: f32,
    /// Seed of the sampler's PRNG.
    pub seed: u64,
}

impl Default for SamplingParams {
    /// Plain sampling from the model's distribution: temperature 1, no
    /// truncation, no penalty, seed 0.
    fn default() -> Self {
        SamplingParams { temperature: 1.0, top_k: None, top_p: 1.0, min_p: 0.0, repeat_penalty: 1.0, seed: 0 }
    }
}

impl SamplingParams {
    /// Greedy decoding (temperature 0).
    pub fn greedy() -> Self {
        SamplingParams { temperature: 0.0, ..Default::default() }
    }

    /// Checks every field as the sampling op does; the error names it
    /// (`temperature`, `top_k`, ...) under this module's op.
    pub fn validate(&self) -> Result<()> {
        self.options(false).validate().map_err(|e| match e {
            Error::InvalidArgument { arg, expected, got, .. } => Error::InvalidArgument { op: OP, arg, expected, got },
            e => e,
        })
    }
}

impl SamplingParams {
    /// The sampling op's options for these parameters.
    pub fn options(&self, append: bool) -> SampleOptions {
        SampleOptions {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            seed: self.seed,
            append,
        }
    }
}

/// Chooses tokens from logits rows on the host with the sampling op's
/// arithmetic (the CPU backend's `sample`, see `spec::sample`): the same
/// parameters, row, context and logits give the token `generate` chooses on
/// any backend. A draw depends on the seed, the row, the context's length and
/// the token ids, so each step of a sequence draws afresh.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    row: usize,
}

impl Sampler {
    /// A sampler for row 0; fails on invalid parameters (see [`SamplingParams::validate`]).
    pub fn new(params: SamplingParams) -> Result<Self> {
        Self::for_row(params, 0)
    }

    /// A sampler drawing as row `row` of a batch does.
    pub fn for_row(params: SamplingParams, row: usize) -> Result<Self> {
        params.validate()?;
        Ok(Sampler { params, row })
    }

    /// The parameters.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Chooses the next token from `logits` (`[vocab]`); `context` is every
    /// token of the sequence so far (prompt and generated), which the
    /// repetition penalty applies to and whose length keys the draw. NaN
    /// logits, or no finite one when sampling, are an error.
    pub fn sample(&mut self, logits: &[f32], context: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::invalid(OP, "logits", "at least 1 value", "an empty row"));
        }
        let history: Vec<i32> = context.iter().map(|&t| t.min(i32::MAX as u32) as i32).collect();
        let o = self.params.options(false);
        let t = crate::cpu::sample::sample_row(logits, &history, self.row, &o).token;
        Ok(ops::tokens_or_error(&[t])?[0])
    }
}

/// Why a sequence stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// It chose one of the model's EOS ids (kept as its last token, not in its text).
    Eos,
    /// Its text reached a stop string (left out of the text).
    Stop,
    /// It reached the token budget.
    Length,
}

impl FinishReason {
    /// `eos`, `stop` or `length`.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Eos => "eos",
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Most tokens to generate (at least 1), EOS included.
    pub max_tokens: usize,
    /// How tokens are chosen.
    pub sampling: SamplingParams,
    /// Strings that end generation when the text reaches one (checked on the
    /// decoded text, so one may span tokens); the text stops before it.
    pub stop: Vec<String>,
    /// KV cache positions; None: prompt + `max_tokens`, which must fit the
    /// model's max_position_embeddings.
    pub max_context: Option<usize>,
    /// Keep every logits row that chose a token ([`Generation::logits`]).
    pub keep_logits: bool,
    /// How decode steps reach the GPU.
    pub mode: StepMode,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 64,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            max_context: None,
            keep_logits: false,
            mode: StepMode::Eager,
        }
    }
}

impl GenerateOptions {
    /// Checks the options that do not depend on a prompt; errors name the
    /// field (`max_tokens`, `stop`, or a sampling field).
    pub fn validate(&self) -> Result<()> {
        if self.max_tokens == 0 {
            return Err(Error::invalid(OP, "max_tokens", "at least 1", 0));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::invalid(OP, "stop", "non-empty strings", "\"\""));
        }
        if self.max_context == Some(0) {
            return Err(Error::invalid(OP, "max_context", "at least 1", 0));
        }
        self.sampling.validate()
    }

    /// The KV cache size for a prompt of `prompt_len` tokens: `max_context`
    /// when set, else prompt + `max_tokens`. A request that does not fit (the
    /// whole sequence, prompt + max_tokens, longer than the cache or than the
    /// model's max_position_embeddings) is an error naming the argument to change.
    pub fn context_for(&self, model: &Model, prompt_len: usize) -> Result<usize> {
        let max_pos = model.spec.max_position_embeddings;
        let need = prompt_len.saturating_add(self.max_tokens);
        match self.max_context {
            Some(l) if l > max_pos => Err(Error::invalid(
                OP,
                "max_context",
                format!("at most the model's max_position_embeddings ({max_pos})"),
                l,
            )),
            Some(l) if need > l => Err(Error::invalid(
                OP,
                "max_context",
                format!(
                    "at least the prompt's {prompt_len} tokens + max_tokens {} = {need} (or fewer max_tokens)",
                    self.max_tokens
                ),
                l,
            )),
            Some(l) => Ok(l),
            None if need > max_pos => Err(Error::invalid(
                OP,
                "max_tokens",
                format!(
                    "at most {} (the model's max_position_embeddings {max_pos} minus the prompt's {prompt_len} tokens)",
                    max_pos.saturating_sub(prompt_len)
                ),
                self.max_tokens,
            )),
            None => Ok(need),
        }
    }
}

/// One generated sequence.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The prompt's token ids.
    pub prompt_tokens: Vec<u32>,
    /// The generated ids (an EOS that ended it included).
    pub tokens: Vec<u32>,
    /// The generated text: special tokens skipped, without the stop string.
    pub text: String,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// With [`GenerateOptions::keep_logits`]: row s (`[vocab]`) holds the
    /// model's logits that chose `tokens[s]` (before penalty and temperature).
    pub logits: Vec<Vec<f32>>,
    /// KV cache positions used for it.
    pub max_context: usize,
    /// Seconds to run the prompts through the model: every prompt of the
    /// batch, prefilled one after another (the same value in each sequence).
    pub prefill_s: f64,
    /// Seconds from the start to the first token chosen: every prompt of the
    /// batch is prefilled first, then one sampling launch chooses all first tokens.
    pub ttft_s: f64,
    /// Seconds of the batch's decode steps after the first tokens (each step
    /// and the choice of its tokens; the same value in each sequence).
    pub decode_s: f64,
    /// This sequence's decode steps (tokens - 1).
    pub decode_steps: usize,
    /// The batch's decode steps (the longest sequence's tokens - 1).
    pub batch_decode_steps: usize,
}

/// Streams text while holding back what might be the start of a stop string.
struct TextOut<'s> {
    text: String,
    emitted: usize,
    stop: &'s [String],
}

impl TextOut<'_> {
    /// Appends `piece`; returns true when a stop string was reached (the text
    /// is then cut before it). Emits through `on_text` what is safe to show.
    fn push(&mut self, piece: &str, on_text: &mut dyn FnMut(&str) -> Result<()>) -> Result<bool> {
        self.text.push_str(piece);
        let longest = self.stop.iter().map(String::len).max().unwrap_or(0);
        let mut from = self.emitted.saturating_sub(longest);
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        let hit = self.stop.iter().filter_map(|s| self.text[from..].find(s.as_str()).map(|i| from + i)).min();
        if let Some(at) = hit {
            self.text.truncate(at);
            self.emit(at, on_text)?;
            return Ok(true);
        }
        // Hold back the longest tail that a stop string starts with.
        let tail = (self.emitted..self.text.len())
            .filter(|&i| self.text.is_char_boundary(i))
            .find(|&i| self.stop.iter().any(|s| s.starts_with(&self.text[i..])))
            .unwrap_or(self.text.len());
        self.emit(tail, on_text)?;
        Ok(false)
    }

    fn emit(&mut self, upto: usize, on_text: &mut dyn FnMut(&str) -> Result<()>) -> Result<()> {
        if upto > self.emitted {
            on_text(&self.text[self.emitted..upto])?;
            self.emitted = upto;
        }
        Ok(())
    }
}

/// One sequence of [`generate_batch`] while it runs.
struct Running<'t, 's> {
    tokens: Vec<u32>,
    rows: Vec<Vec<f32>>,
    stream: Option<StreamDecoder<'t>>,
    out: TextOut<'s>,
    finish: Option<FinishReason>,
    ttft_s: f64,
}

impl Running<'_, '_> {
    /// Takes the chosen token `t`: EOS, stop strings and the token budget end
    /// the sequence.
    fn take(
        &mut self,
        t: u32,
        eos: &[u32],
        max_tokens: usize,
        on_text: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        self.tokens.push(t);
        if eos.contains(&t) {
            return self.end(FinishReason::Eos, on_text);
        }
        if let Some(piece) = self.stream.as_mut().map(|s| s.push(t)).transpose()?.flatten() {
            if self.out.push(&piece, on_text)? {
                self.finish = Some(FinishReason::Stop);
                return Ok(());
            }
        }
        if self.tokens.len() >= max_tokens {
            return self.end(FinishReason::Length, on_text);
        }
        Ok(())
    }

    /// Ends the sequence (not by a stop string): flushes the text held back.
    fn end(&mut self, reason: FinishReason, on_text: &mut dyn FnMut(&str) -> Result<()>) -> Result<()> {
        self.finish = Some(reason);
        if let Some(rest) = self.stream.as_mut().map(|s| s.flush()).transpose()?.flatten() {
            if self.out.push(&rest, on_text)? {
                self.finish = Some(FinishReason::Stop);
                return Ok(());
            }
        }
        let end = self.out.text.len();
        self.out.emit(end, on_text)
    }
}

/// A choice of tokens queued on the device that the host has not taken yet:
/// the readback its ids come through, the sequences it chose for, and
/// whether a decode step made its logits (else the prefill did).
struct Pending {
    slot: usize,
    live: Vec<bool>,
    from_step: bool,
}

/// Takes a queued choice: waits for its ids and gives each sequence it chose
/// for that is still running its token (EOS, stop strings and max_tokens end
/// sequences; the first choice sets the time to first token). Returns 1 when
/// a decode step's tokens were taken, 0 when there was nothing to take (every
/// sequence it chose for had ended: it is not waited for) or the choice came
/// from the prefill.
#[allow(clippy::too_many_arguments)]
fn take_choice(
    p: &Pending,
    readback: &mut IndicesReadback,
    session: &Session,
    seqs: &mut [Running],
    opts: &GenerateOptions,
    eos: &[u32],
    t0: Instant,
    on_text: &mut dyn FnMut(usize, &str) -> Result<()>,
) -> Result<usize> {
    if !p.live.iter().zip(seqs.iter()).any(|(&l, s)| l && s.finish.is_none()) {
        return Ok(0);
    }
    let ids = ops::tokens_or_error(readback.wait()?)?;
    let all = if opts.keep_logits { Some(session.logits_tensor().to_f32_vec()?) } else { None };
    let vocab = session.logits_tensor().shape()[1];
    for (i, seq) in seqs.iter_mut().enumerate().filter(|(i, s)| p.live[*i] && s.finish.is_none()) {
        if let Some(all) = &all {
            seq.rows.push(all[i * vocab..(i + 1) * vocab].to_vec());
        }
        seq.take(ids[i], eos, opts.max_tokens, &mut |t| on_text(i, t))?;
        if !p.from_step {
            seq.ttft_s = t0.elapsed().as_secs_f64();
        }
    }
    Ok(p.from_step as usize)
}

/// Generates from `prompt` (token ids) until an EOS id of the model
/// (config.json and generation_config.json), a stop string, or
/// `max_tokens`: [`generate_batch`] of one prompt. `on_text` receives the
/// text as it is produced, in complete UTF-8 pieces, never any part of a
/// stop string.
pub fn generate(
    ctx: &Context,
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
    on_text: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<Generation> {
    let mut gens = generate_batch(ctx, model, &[prompt.to_vec()], opts, &mut |_, t| on_text(t))?;
    Ok(gens.remove(0))
}

/// Generates from every prompt at once: each prompt is prefilled into its own
/// sequence of one [`Session`] (in turn, a chunked batched prefill each);
/// then one sampling launch chooses every sequence's next token on the device
/// and the live sequences decode together, one ragged step per token, until
/// each ends (EOS, stop string or `max_tokens`). Sequence i draws as row i
/// of the sampling op (seed `opts.sampling.seed`, its own stream per row).
/// `on_text(i, piece)` receives sequence i's text as it is produced. Without
/// a tokenizer the texts are empty (and stop strings are refused).
pub fn generate_batch(
    ctx: &Context,
    model: &Model,
    prompts: &[Vec<u32>],
    opts: &GenerateOptions,
    on_text: &mut dyn FnMut(usize, &str) -> Result<()>,
) -> Result<Vec<Generation>> {
    opts.validate()?;
    let tok = model.tokenizer.as_ref();
    if tok.is_none() && !opts.stop.is_empty() {
        return Err(Error::Unsupported {
            op: OP,
            what: format!(
                "{}: stop strings without a tokenizer (tokenizer.json) to decode the text",
                model.path.display()
            ),
        });
    }
    if prompts.is_empty() {
        return Err(Error::invalid(OP, "prompts", "at least 1 prompt", "none"));
    }
    let mut max_context = 0;
    for p in prompts {
        if p.is_empty() {
            return Err(Error::invalid(OP, "prompt", "at least 1 token", "0 tokens"));
        }
        max_context = max_context.max(opts.context_for(model, p.len())?);
    }
    let batch = prompts.len();
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(1);
    // Every sequence's tokens so far (prompt, then each chosen token, which
    // the sampling op appends on the device), for the repetition penalty.
    let mut history = vec![0i32; batch * max_context];
    for (i, p) in prompts.iter().enumerate() {
        for (h, &t) in history[i * max_context..].iter_mut().zip(p) {
            *h = t as i32;
        }
    }
    let history = Indices::from_slice(ctx, &history)?;
    let history_len = Indices::from_slice(ctx, &prompts.iter().map(|p| p.len() as i32).collect::<Vec<_>>())?;
    let sample_opts = opts.sampling.options(true);
    // The history outlives the session, whose step graph addresses it.
    let mut session = Session::with_batch(ctx, model, batch, max_context, longest.min(PREFILL_CHUNK), opts.mode)?;
    // Before the tail is set: warm-up steps must not append to the history.
    session.warm_up()?;
    // Every step chooses the next tokens on the device, into the vector the
    // next step reads (in graph mode, inside the step's graph).
    session.set_step_tail(Box::new(|c: &Context, logits: &Tensor, ids: &Indices| {
        ops::sample(c, logits, &history, &history_len, ids, &sample_opts)
    }))?;
    let eos = &model.spec.eos_token_ids;
    let mut seqs: Vec<Running> = (0..batch)
        .map(|_| Running {
            tokens: Vec::new(),
            rows: Vec::new(),
            stream: tok.map(|t| t.stream(true)),
            out: TextOut { text: String::new(), emitted: 0, stop: &opts.stop },
            finish: None,
            ttft_s: 0.0,
        })
        .collect();
    // Two host buffers the chosen ids come back through, used in turn: the
    // ids of one choice are read while the next step (fed those same ids on
    // the device) already runs.
    let mut readbacks = [session.step_ids().readback()?, session.step_ids().readback()?];

    let t0 = Instant::now();
    for (i, p) in prompts.iter().enumerate() {
        session.prefill_seq(i, p)?;
    }
    ctx.synchronize()?;
    let prefill_s = t0.elapsed().as_secs_f64();
    session.run_tail()?;
    session.step_ids().copy_to_host(&mut readbacks[0])?;
    // Pipelined by one step: step t+1 (and its choice) is queued before the
    // host takes step t's ids, so the GPU never waits for the host. A
    // sequence that step t's token ends (EOS or stop string) is then fed
    // once more on speculation; that step's token is discarded (its KV slot
    // lies past the sequence's end) and, when every sequence has ended, not
    // waited for. Keeping logits reads each step's logits before the next
    // overwrites them, so it runs unpipelined.
    let pipelined = !opts.keep_logits;
    let mut pending = Some(Pending { slot: 0, live: vec![true; batch], from_step: false });
    // Tokens chosen per sequence, taken or not: a sequence is fed again only
    // while it may still need another token.
    let mut chosen = vec![1usize; batch];
    let mut t_decode = None;
    let mut decode_steps = 0;
    while let Some(p) = pending.take() {
        if !pipelined {
            decode_steps += take_choice(&p, &mut readbacks[p.slot], &session, &mut seqs, opts, eos, t0, on_text)?;
        }
        t_decode.get_or_insert_with(Instant::now);
        let feed: Vec<bool> =
            (0..batch).map(|i| p.live[i] && seqs[i].finish.is_none() && chosen[i] < opts.max_tokens).collect();
        if feed.iter().any(|&f| f) {
            let next = 1 - p.slot;
            session.step_sampled(&feed)?;
            session.step_ids().copy_to_host(&mut readbacks[next])?;
            feed.iter().zip(&mut chosen).filter(|(&f, _)| f).for_each(|(_, n)| *n += 1);
            pending = Some(Pending { slot: next, live: feed, from_step: true });
        }
        if pipelined {
            decode_steps += take_choice(&p, &mut readbacks[p.slot], &session, &mut seqs, opts, eos, t0, on_text)?;
        }
    }
    let t_decode = t_decode.unwrap_or_else(Instant::now);
    let decode_s = if decode_steps > 0 { t_decode.elapsed().as_secs_f64() } else { 0.0 };
    Ok(seqs
        .into_iter()
        .zip(prompts)
        .map(|(s, p)| Generation {
            prompt_tokens: p.clone(),
            decode_steps: s.tokens.len() - 1,
            tokens: s.tokens,
            text: s.out.text,
            finish_reason: s.finish.unwrap_or(FinishReason::Length),
            logits: s.rows,
            max_context,
            prefill_s,
            ttft_s: s.ttft_s,
            decode_s,
            batch_decode_steps: decode_steps,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(p: SamplingParams) -> Sampler {
        Sampler::new(p).unwrap()
    }

    #[test]
    fn greedy_takes_the_first_highest_logit_after_the_penalty() {
        let mut s = sampler(SamplingParams::greedy());
        assert_eq!(s.sample(&[0.0, 2.0, 2.0, -1.0], &[]).unwrap(), 1);
        let mut s = sampler(SamplingParams { repeat_penalty: 4.0, ..SamplingParams::greedy() });
        // 2.0 / 4 = 0.5 < 1.0; a negative logit is multiplied.
        assert_eq!(s.sample(&[1.0, 2.0, -0.1], &[1, 1, 2]).unwrap(), 0);
        let e = s.sample(&[0.0, f32::NAN], &[]).unwrap_err().to_string();
        assert!(e.contains("NaN"), "{e}");
    }

    #[test]
    fn truncations_keep_what_they_should() {
        // Probabilities (temperature 1) proportional to 8, 4, 2, 1, 1.
        let l: Vec<f32> = [8.0f32, 4.0, 2.0, 1.0, 1.0].iter().map(|w| w.ln()).collect();
        // Each draw with its own seed (a draw is keyed by seed, row and length).
        let draws = |p: SamplingParams| {
            let mut seen = [0usize; 5];
            for seed in 0..4000 {
                let mut s = sampler(SamplingParams { seed, ..p.clone() });
                seen[s.sample(&l, &[]).unwrap() as usize] += 1;
            }
            seen
        };
        let top_k = draws(SamplingParams { top_k: Some(2), ..Default::default() });
        assert!(top_k[2..].iter().all(|&c| c == 0) && top_k[0] > top_k[1] && top_k[1] > 0, "{top_k:?}");
        // 8/16 = 0.5 < 0.6 <= 12/16: the two best.
        let top_p = draws(SamplingParams { top_p: 0.6, ..Default::default() });
        assert!(top_p[2..].iter().all(|&c| c == 0) && top_p[1] > 0, "{top_p:?}");
        let top_p0 = draws(SamplingParams { top_p: 0.0, ..Default::default() });
        assert_eq!(top_p0, [4000, 0, 0, 0, 0]);
        // min-p 0.2: 2/8 kept, 1/8 dropped.
        let min_p = draws(SamplingParams { min_p: 0.2, ..Default::default() });
        assert!(min_p[3..].iter().all(|&c| c == 0) && min_p[2] > 0, "{min_p:?}");
        // Plain sampling reaches every token, roughly in proportion.
        let all = draws(SamplingParams::default());
        assert!(all.iter().all(|&c| c > 100) && (1700..2300).contains(&all[0]), "{all:?}");
    }

    #[test]
    fn same_seed_same_tokens() {
        let l: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |seed| {
            let mut s = sampler(SamplingParams { temperature: 0.8, seed, ..Default::default() });
            // A growing context, as in generation: each step draws afresh.
            (0..20u32).map(|n| s.sample(&l, &vec![1; n as usize]).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let bad = |p: SamplingParams, field: &str| {
            let e = p.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("`{field}`")), "{e}");
        };
        let d = SamplingParams::default;
        bad(SamplingParams { temperature: -1.0, ..d() }, "temperature");
        bad(SamplingParams { temperature: f32::NAN, ..d() }, "temperature");
        bad(SamplingParams { top_k: Some(0), ..d() }, "top_k");
        bad(SamplingParams { top_p: 1.5, ..d() }, "top_p");
        bad(SamplingParams { min_p: -0.1, ..d() }, "min_p");
        bad(SamplingParams { repeat_penalty: 0.0, ..d() }, "repeat_penalty");
        bad(SamplingParams { repeat_penalty: f32::INFINITY, ..d() }, "repeat_penalty");
    }

    #[test]
    fn stop_strings_are_held_back_and_cut() {
        let stop = vec!["END".to_string(), "ab".to_string()];
        let mut shown = String::new();
        let mut out = TextOut { text: String::new(), emitted: 0, stop: &stop };
        {
            let mut on = |s: &str| {
                shown.push_str(s);
                Ok(())
            };
            assert!(!out.push("xyE", &mut on).unwrap());
            assert!(!out.push("N", &mut on).unwrap());
            assert!(!out.push("q a", &mut on).unwrap()); // "EN" was not "END": shown now; "a" held
            assert!(out.push("b", &mut on).unwrap());
        }
        assert_eq!(out.text, "xyENq ");
        assert_eq!(shown, "xyENq ");
    }
}

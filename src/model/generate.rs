//! Generation on a loaded [`Model`]: a [`Session`] (one sequence, its KV
//! cache, prefill and decode steps), a [`Sampler`] (greedy, temperature,
//! top-k, top-p, min-p, repetition penalty, seeded) and [`generate`], which
//! runs a prompt to an EOS id, a stop string or a token budget, streaming
//! its text as complete UTF-8.
//!
//! What this first cut is, and is not yet:
//!
//! - **Prefill is stepwise**: [`Session::prefill`] runs one decode step per
//!   prompt position through [`DecodeModel::step_at`] (the same kernels as a
//!   decode step, N = 1). A batched prefill (GEMMs over the whole prompt and
//!   a fused flash-style prefill attention) is still to come.
//! - **One sequence per session**: several prompts run one after another; a
//!   ragged batch (every sequence at its own position) is still to come.
//! - **Sampling runs on the host**: each step copies one logits row (the
//!   sequence's `[vocab]`) from the device and samples there, in f64, with
//!   a small PRNG of this module (SplitMix64). The same seed and the same
//!   logits give the same tokens on every backend; logits that differ in
//!   their last bits (another backend or dtype) may of course choose
//!   differently. On-device sampling is still to come.
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
use crate::decode::DecodeModel;
use crate::error::{Error, Result};

/// The `op` of every error of this module.
const OP: &str = "generate";

/// One sequence being generated: the decode model over the loaded weights
/// (shared, not copied), a KV cache of `max_context` slots, and the logits of
/// the last position fed.
pub struct Session<'a> {
    ctx: &'a Context,
    model: &'a Model,
    step: DecodeModel,
    tokens: Vec<u32>,
    logits: Vec<f32>,
}

impl<'a> Session<'a> {
    /// How [`Session::prefill`] runs the prompt, for reports: one decode step
    /// per prompt position (a batched prefill is still to come).
    pub const PREFILL_KIND: &'static str = "stepwise: one decode step per prompt token";

    /// A session with an empty KV cache of `max_context` positions (prompt
    /// and generated tokens together). Fails, before allocating, when the
    /// model has features the decode step does not run yet (e.g. a GGUF's
    /// llama3 rope scaling, kept as per-pair divisors), when `max_context` is 0 or above the model's
    /// `max_position_embeddings`, or when the cache does not fit in memory.
    pub fn new(ctx: &'a Context, model: &'a Model, max_context: usize) -> Result<Self> {
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
        check_fits(ctx, model, max_context)?;
        let step = model.decode_model(ctx, 1, max_context)?;
        Ok(Session { ctx, model, step, tokens: Vec::new(), logits: Vec::new() })
    }

    /// Positions the KV cache holds.
    pub fn max_context(&self) -> usize {
        self.step.context
    }

    /// Tokens fed so far (the cache's filled positions).
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The logits (`[vocab]`, f32, on the host) that follow the last token
    /// fed; empty before the first.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Feeds the prompt and returns the logits of the token that follows it.
    /// Stepwise: one decode step per position (see [`Self::PREFILL_KIND`]);
    /// only the last position's logits are copied to the host.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        if tokens.is_empty() {
            return Err(Error::invalid(OP, "prompt", "at least 1 token", "0 tokens"));
        }
        self.check_room(tokens.len())?;
        for &t in tokens {
            self.feed(t)?;
        }
        self.read_logits()
    }

    /// Feeds one token (the one just chosen) and returns the logits of the next.
    pub fn step(&mut self, token: u32) -> Result<&[f32]> {
        self.check_room(1)?;
        self.feed(token)?;
        self.read_logits()
    }

    fn check_room(&self, n: usize) -> Result<()> {
        let (have, cap) = (self.tokens.len(), self.step.context);
        if have + n > cap {
            return Err(Error::invalid(
                OP,
                "max_context",
                format!("room for {n} more token(s) after the {have} in the cache"),
                cap,
            ));
        }
        Ok(())
    }

    fn feed(&mut self, token: u32) -> Result<()> {
        let pos = self.tokens.len();
        self.model.embed_into(self.ctx, &[token], &self.step.buf.x0)?;
        self.step.step_at(self.ctx, pos)?;
        self.tokens.push(token);
        Ok(())
    }

    /// The one host copy of a step: the sequence's logits row.
    fn read_logits(&mut self) -> Result<&[f32]> {
        self.logits = self.step.buf.logits.to_f32_vec()?;
        Ok(&self.logits)
    }
}

/// Checks the KV cache and step buffers of a session of `max_context`
/// positions against free memory (device, or host on the CPU backend),
/// before anything is allocated.
fn check_fits(ctx: &Context, model: &Model, max_context: usize) -> Result<()> {
    let s = &model.spec;
    let what = format!("generate with {} (--max-context {max_context})", model.path.display());
    let e = model.dtype.size_in_bytes();
    let kv = crate::mem::bytes_of(&what, &[2, s.num_hidden_layers, s.num_key_value_heads, max_context, s.head_dim], e)?;
    let widest =
        s.vocab_size.max(2 * s.intermediate_size).max((s.num_attention_heads + 2 * s.num_key_value_heads) * s.head_dim);
    let acts = crate::mem::bytes_of(&what, &[8, widest], e)?;
    let device = kv.checked_add(acts).ok_or_else(|| crate::mem::overflow(&what))?;
    let host = if ctx.is_cuda() {
        0
    } else {
        let cfg = s.decode_config(&what);
        crate::decode::model::cpu_step_scratch_bytes(&cfg, 1, max_context)?
    };
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

    /// Checks every field; the error names it (`temperature`, `top_k`, ...).
    pub fn validate(&self) -> Result<()> {
        let t = self.temperature;
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::invalid(OP, "temperature", "a finite number >= 0 (0: greedy)", t));
        }
        if self.top_k == Some(0) {
            return Err(Error::invalid(OP, "top_k", "at least 1 (or leave it out for no top-k)", 0));
        }
        for (name, p) in [("top_p", self.top_p), ("min_p", self.min_p)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::invalid(OP, name, "a number from 0 to 1", p));
            }
        }
        let r = self.repeat_penalty;
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::invalid(OP, "repeat_penalty", "a finite number > 0 (1: off)", r));
        }
        Ok(())
    }
}

/// SplitMix64: a small, fast PRNG whose sequence is fixed by its seed here,
/// whatever the platform, backend or crate versions.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Chooses tokens from logits rows on the host (see [`SamplingParams`] for
/// the order). Deterministic: the same parameters, seed, logits and context
/// give the same tokens; each sampled (non-greedy) token takes one draw.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: SplitMix64,
}

impl Sampler {
    /// A sampler; fails on invalid parameters (see [`SamplingParams::validate`]).
    pub fn new(params: SamplingParams) -> Result<Self> {
        params.validate()?;
        let rng = SplitMix64(params.seed);
        Ok(Sampler { params, rng })
    }

    /// The parameters.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Chooses the next token from `logits` (`[vocab]`); `context` is every
    /// token of the sequence so far (prompt and generated), which the
    /// repetition penalty applies to. NaN logits are an error.
    pub fn sample(&mut self, logits: &[f32], context: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::invalid(OP, "logits", "at least 1 value", "an empty row"));
        }
        if let Some(i) = logits.iter().position(|x| x.is_nan()) {
            return Err(Error::invalid(OP, "logits", "numbers (the model's output)", format!("NaN at token {i}")));
        }
        let p = &self.params;
        let mut x: Vec<f64> = logits.iter().map(|&v| v as f64).collect();
        if p.repeat_penalty != 1.0 {
            let r = p.repeat_penalty as f64;
            let mut seen = vec![false; x.len()];
            for &t in context {
                if let Some(s) = seen.get_mut(t as usize) {
                    if !*s {
                        *s = true;
                        let v = &mut x[t as usize];
                        *v = if *v > 0.0 { *v / r } else { *v * r };
                    }
                }
            }
        }
        let argmax = |x: &[f64]| {
            // The first of the highest values (NaN excluded above).
            x.iter().enumerate().fold(0, |best, (i, &v)| if v > x[best] { i } else { best })
        };
        if p.temperature == 0.0 {
            return Ok(argmax(&x) as u32);
        }
        if x.iter().all(|v| *v == f64::NEG_INFINITY) {
            return Err(Error::invalid(OP, "logits", "at least one finite value", "every value -inf"));
        }
        let t = p.temperature as f64;
        let m = x[argmax(&x)];
        if m == f64::INFINITY {
            return Ok(argmax(&x) as u32);
        }
        // Unnormalised probabilities, exp((x - max) / t): the best token has 1.
        let w: Vec<f64> = x.iter().map(|&v| ((v - m) / t).exp()).collect();
        // Candidates by decreasing probability (ties: lower id first) when a
        // truncation needs the order; all ids in id order otherwise.
        let by_prob = |a: &usize, b: &usize| w[*b].total_cmp(&w[*a]).then(a.cmp(b));
        let truncating = p.top_k.is_some_and(|k| k < w.len()) || p.top_p < 1.0 || p.min_p > 0.0;
        let mut cand: Vec<usize> = (0..w.len()).collect();
        if truncating {
            if let Some(k) = p.top_k.filter(|&k| k < cand.len()) {
                cand.select_nth_unstable_by(k - 1, by_prob);
                cand.truncate(k);
            }
            if p.top_p < 1.0 {
                cand = nucleus(&w, cand, p.top_p as f64, &by_prob);
            } else {
                cand.sort_unstable_by(by_prob);
            }
            if p.min_p > 0.0 {
                // Relative to the best token's probability (w = 1 there), which
                // renormalising over the candidates does not change.
                let floor = p.min_p as f64 * w[cand[0]];
                cand.retain(|&i| w[i] >= floor);
            }
        }
        let total: f64 = cand.iter().map(|&i| w[i]).sum();
        let mut u = self.rng.uniform() * total;
        for &i in &cand {
            u -= w[i];
            if u < 0.0 {
                return Ok(i as u32);
            }
        }
        // Rounding left u just above 0: the last candidate with weight.
        Ok(*cand.iter().rev().find(|&&i| w[i] > 0.0).unwrap_or(&cand[0]) as u32)
    }
}

/// The top-p set of `cand` (its most probable tokens, in order, until their
/// share of the candidates' total reaches `top_p`; at least one), sorted by
/// decreasing probability. Sorts only the tokens above a threshold that is
/// lowered until they hold at least `top_p` of the mass, so a full sort of a
/// large vocabulary is rarely needed; the result is the same as sorting all.
fn nucleus(
    w: &[f64],
    cand: Vec<usize>,
    top_p: f64,
    by_prob: &dyn Fn(&usize, &usize) -> std::cmp::Ordering,
) -> Vec<usize> {
    let total: f64 = cand.iter().map(|&i| w[i]).sum();
    let best = cand.iter().map(|&i| w[i]).fold(0.0, f64::max);
    let mut threshold = best / 64.0;
    let mut head = loop {
        let head: Vec<usize> = cand.iter().copied().filter(|&i| w[i] >= threshold).collect();
        let mass: f64 = head.iter().map(|&i| w[i]).sum();
        if mass >= top_p * total || head.len() == cand.len() || threshold == 0.0 {
            break head;
        }
        threshold = if threshold < best * 1e-30 { 0.0 } else { threshold / 64.0 };
    };
    head.sort_unstable_by(by_prob);
    let mut acc = 0.0;
    let keep = head
        .iter()
        .position(|&i| {
            acc += w[i];
            acc >= top_p * total
        })
        .map_or(head.len(), |k| k + 1);
    head.truncate(keep.max(1));
    head
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
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 64,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            max_context: None,
            keep_logits: false,
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
    /// Seconds to run the prompt through the model (stepwise prefill).
    pub prefill_s: f64,
    /// Seconds from the start to the first token chosen (prefill included).
    pub ttft_s: f64,
    /// Seconds of the decode steps after the first token (each step and the
    /// choice of its token), and how many there were (tokens - 1).
    pub decode_s: f64,
    /// See `decode_s`.
    pub decode_steps: usize,
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

/// Generates from `prompt` (token ids) in a new [`Session`] until an EOS id
/// of the model (config.json and generation_config.json), a stop string, or
/// `max_tokens`. `on_text` receives the text as it is produced, in complete
/// UTF-8 pieces, never any part of a stop string. Needs the model's tokenizer.
pub fn generate(
    ctx: &Context,
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
    on_text: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<Generation> {
    opts.validate()?;
    let tok = model.tokenizer.as_ref().ok_or_else(|| Error::Unsupported {
        op: OP,
        what: format!("{}: no tokenizer (tokenizer.json) to turn tokens into text", model.path.display()),
    })?;
    if prompt.is_empty() {
        return Err(Error::invalid(OP, "prompt", "at least 1 token", "0 tokens"));
    }
    let max_context = opts.context_for(model, prompt.len())?;
    let mut sampler = Sampler::new(opts.sampling.clone())?;
    let mut session = Session::new(ctx, model, max_context)?;
    let eos = &model.spec.eos_token_ids;
    let mut stream: StreamDecoder<'_> = tok.stream(true);
    let mut out = TextOut { text: String::new(), emitted: 0, stop: &opts.stop };
    let mut context: Vec<u32> = prompt.to_vec();
    let (mut tokens, mut rows) = (Vec::new(), Vec::new());

    let t0 = Instant::now();
    session.prefill(prompt)?;
    let prefill_s = t0.elapsed().as_secs_f64();
    let mut ttft_s = 0.0;
    let mut t_first = t0;
    let finish = loop {
        let logits = session.logits();
        let t = sampler.sample(logits, &context)?;
        if opts.keep_logits {
            rows.push(logits.to_vec());
        }
        tokens.push(t);
        context.push(t);
        if tokens.len() == 1 {
            t_first = Instant::now();
            ttft_s = (t_first - t0).as_secs_f64();
        }
        if eos.contains(&t) {
            break FinishReason::Eos;
        }
        if let Some(piece) = stream.push(t)? {
            if out.push(&piece, on_text)? {
                break FinishReason::Stop;
            }
        }
        if tokens.len() >= opts.max_tokens {
            break FinishReason::Length;
        }
        session.step(t)?;
    };
    let decode_s = if tokens.len() > 1 { t_first.elapsed().as_secs_f64() } else { 0.0 };
    let mut finish_reason = finish;
    if finish != FinishReason::Stop {
        if let Some(rest) = stream.flush()? {
            if out.push(&rest, on_text)? {
                finish_reason = FinishReason::Stop;
            }
        }
        let end = out.text.len();
        out.emit(end, on_text)?;
    }
    Ok(Generation {
        prompt_tokens: prompt.to_vec(),
        decode_steps: tokens.len() - 1,
        tokens,
        text: out.text,
        finish_reason,
        logits: rows,
        max_context,
        prefill_s,
        ttft_s,
        decode_s,
    })
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
        assert!(s.sample(&[0.0, f32::NAN], &[]).unwrap_err().to_string().contains("NaN at token 1"));
    }

    #[test]
    fn truncations_keep_what_they_should() {
        // Probabilities (temperature 1) proportional to 8, 4, 2, 1, 1.
        let l: Vec<f32> = [8.0f32, 4.0, 2.0, 1.0, 1.0].iter().map(|w| w.ln()).collect();
        let draws = |p: SamplingParams| {
            let mut s = sampler(p);
            let mut seen = [0usize; 5];
            for _ in 0..4000 {
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
    fn nucleus_equals_a_full_sort() {
        let mut rng = SplitMix64(3);
        let w: Vec<f64> = (0..5000).map(|_| (rng.uniform() * 30.0 - 30.0).exp()).collect();
        let by_prob = |a: &usize, b: &usize| w[*b].total_cmp(&w[*a]).then(a.cmp(b));
        for p in [0.0, 0.1, 0.5, 0.9, 0.999, 1.0] {
            let fast = nucleus(&w, (0..w.len()).collect(), p, &by_prob);
            let mut all: Vec<usize> = (0..w.len()).collect();
            all.sort_by(by_prob);
            let total: f64 = w.iter().sum();
            let mut acc = 0.0;
            let k = all.iter().position(|&i| {
                acc += w[i];
                acc >= p * total
            });
            all.truncate(k.map_or(all.len(), |k| k + 1).max(1));
            assert_eq!(fast, all, "top_p {p}");
        }
    }

    #[test]
    fn same_seed_same_tokens() {
        let l: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |seed| {
            let mut s = sampler(SamplingParams { temperature: 0.8, seed, ..Default::default() });
            (0..20).map(|_| s.sample(&l, &[]).unwrap()).collect::<Vec<_>>()
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

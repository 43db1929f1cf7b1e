//! `sample`: one token per row of a logits matrix, chosen where the logits
//! are (kernels/sample.cu on a GPU, src/cpu/sample.rs on the CPU backend),
//! with repetition penalty, temperature, top-k, top-p and min-p, and a seeded
//! Gumbel-max draw that both backends compute the same way. The full
//! semantics are in [`crate::spec::sample`]; in short, per row b:
//!
//! - `out[b]` is the chosen id, [`NAN_ROW`] (-1) for a row holding a NaN, or
//!   [`NO_FINITE_LOGIT`] (-2) for a sampled row whose every logit is -inf
//!   ([`tokens_or_error`] turns them into errors naming the row);
//! - temperature 0 is greedy: the argmax, the lowest id on ties;
//! - the draw depends on the seed, the row b, the row's history length and
//!   the token id, and nothing else: the same request gives the same tokens
//!   on both backends (up to last-bit differences of `exp`/`ln` that matter
//!   only at near ties), and a recorded step draws afresh as the length grows;
//! - with `append` the token is also written to the row's history and its
//!   length incremented, unless the row is full (then only `out` is written).
//!
//! On a GPU every row is cut into chunks of 4096 columns, one CTA each (grid
//! B x chunks), so a row is spread over the SMs. Greedy decoding and a plain
//! draw (no truncation, min-p or penalty) take two launches: the chunks'
//! bests, and a warp per row reducing them (`split_greedy`/`split_draw` and
//! `split_reduce` in the labels). Everything else walks ([`walk`]): `max`,
//! then top-k's radix levels 1..3 (`kwalk`), top-p's levels 0..3 (`pwalk`)
//! and the `draw`, one launch each, the row's state kept in scratch between
//! them and the last CTA of a row in each launch reducing its chunks'
//! partials (no reduce launches). Labels are `sample/<variant>_<pass>/<dtype>`,
//! e.g. `sample/topp_pwalk/f16` (4 launches a call). The tokens are the
//! semantics' exactly: maxima and histogram bins (integer counts and
//! masses) are order-free, so the split changes no result.

use crate::context::{Backend, Context};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, KernelArgs, LaunchConfig};
use crate::spec::sample::geometry;
pub use crate::spec::sample::{tokens_or_error, SampleOptions, MAX_VOCAB, NAN_ROW, NO_FINITE_LOGIT};
use crate::tensor::{Indices, Tensor};

use super::params::SampleParams;

const OP: &str = "sample";

/// Row elements per CTA (kernels/sample.cu: SPLIT_CHUNK).
const SPLIT_CHUNK: usize = 4096;
/// Threads per CTA (kernels/sample.cu: SPLIT_THREADS).
const SPLIT_THREADS: u32 = 256;
/// u32 words of one row's state in the walk's scratch (kernels/sample.cu: STATE_WORDS).
const STATE_WORDS: usize = 16;

/// u32 words of the walk's scratch for `batch` rows of `chunks` chunks
/// (kernels/sample.cu: Scratch): the rows' states, then per (row, chunk) the
/// penalty bitmap (SPLIT_CHUNK / 32), the best value and id (2), and 256
/// histogram counts (u32) and masses (u64, 2 words each).
fn walk_scratch_words(batch: usize, chunks: usize) -> usize {
    batch * STATE_WORDS + batch * chunks * (SPLIT_CHUNK / 32 + 2 + 256 + 2 * 256)
}

/// True when every element's score is independent of the rest of its row
/// (greedy without a penalty, or a plain draw: no truncation, no min-p, no
/// penalty): a pass of chunks' bests and a reduce (`sample_part`,
/// `sample_reduce`). Every other call walks (see [`walk`]).
fn splits_rows(o: &SampleOptions, vocab: usize) -> bool {
    o.repeat_penalty == 1.0 && (o.is_greedy() || (o.top_k_for(vocab).is_none() && o.top_p >= 1.0 && o.min_p == 0.0))
}

/// The call's name in its profiler labels, `sample/<variant>[_<pass>]/<dtype>`.
fn variant(o: &SampleOptions, vocab: usize) -> &'static str {
    if splits_rows(o, vocab) {
        return if o.is_greedy() { "split_greedy" } else { "split_draw" };
    }
    if o.is_greedy() {
        return "greedy";
    }
    match (o.top_k_for(vocab).is_some_and(|k| k > 1), o.top_p < 1.0) {
        (false, false) => "draw",
        (true, false) => "topk",
        (false, true) => "topp",
        (true, true) => "topk_topp",
    }
}

/// One launch of the walk: the kernel (`sample_<kernel>_<dtype>`), which is
/// also the pass's name in the label, and the radix level it works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pass {
    kernel: &'static str,
    level: i32,
}

/// The walk's launches, in order, for a call that does not split rows:
/// `max` (max, NaN, penalty bitmap, top-k's first level; writes the rows
/// that need no draw), top-k's levels 1..3 (`kwalk`, k > 1), top-p's levels
/// 0..3 (`pwalk`), and `draw` unless greedy.
fn walk(o: &SampleOptions, vocab: usize) -> Vec<Pass> {
    let pass = |kernel, level| Pass { kernel, level };
    let mut v = vec![pass("max", 0)];
    if o.is_greedy() {
        return v;
    }
    if o.top_k_for(vocab).is_some_and(|k| k > 1) {
        v.extend((1..4).map(|l| pass("kwalk", l)));
    }
    if o.top_p < 1.0 {
        v.extend((0..4).map(|l| pass("pwalk", l)));
    }
    v.push(pass("draw", 0));
    v
}

/// Chooses one token per row of `logits` [B, V] (f16, bf16 or f32, unit
/// column stride, any row stride) into `out` [B]. `history` holds B rows of
/// H token ids (row-major, H = history.len() / B) and `history_len` [B] how
/// many of each row are filled: the ids the repetition penalty applies to,
/// and, with `o.append`, where the chosen token is appended. The indices
/// live on the context's device; every error names its argument.
///
/// On a GPU this cannot be recorded yet (a recording does not hold the
/// [`Indices`] it would address): it fails while the backend records.
pub fn sample(
    ctx: &Context,
    logits: &Tensor,
    history: &Indices,
    history_len: &Indices,
    out: &Indices,
    o: &SampleOptions,
) -> Result<()> {
    let g = geometry(ctx.device(), logits, history, history_len, out, o)?;
    if g.batch == 0 {
        return Ok(());
    }
    let dtype = logits.dtype();
    let bytes = (g.batch * g.vocab * dtype.size_in_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{dtype}");
            ctx.profiler().host(Tag { label: &label, bytes }, || {
                crate::cpu::sample::sample(logits, history, history_len, out, &g, o)
            })
        }
        Backend::Cuda(be) => {
            be.hold_indices(&[history, history_len, out]);
            let grid = u32::try_from(g.batch).ok().filter(|&n| n <= i32::MAX as u32).ok_or_else(|| {
                Error::Unsupported { op: OP, what: format!("{} rows (the grid holds at most 2^31 - 1)", g.batch) }
            })?;
            let p = SampleParams {
                vocab: g.vocab as i64,
                sxr: logits.layout().stride(0) as i64,
                hist: g.history as i64,
                top_k: o.top_k_for(g.vocab).unwrap_or(0) as i64,
                seed: o.seed,
                temperature: o.temperature,
                top_p: o.top_p,
                ln_min_p: o.ln_min_p(),
                repeat_penalty: o.repeat_penalty,
                append: o.append as i32,
            };
            let ptr = |ix: &Indices, name: &str| super::indices_ptr(OP, ix, name);
            let name = variant(o, g.vocab);
            let chunks = g.vocab.div_ceil(SPLIT_CHUNK);
            // One CTA per (row, chunk): at most 64 chunks (MAX_VOCAB / SPLIT_CHUNK).
            let cfg = LaunchConfig {
                grid: (grid, chunks as u32, 1),
                block: (SPLIT_THREADS, 1, 1),
                shared_bytes: 0,
                dependent: false,
                cluster: 0,
            };
            // SAFETY (of every launch below): geometry() checked logits in
            // bounds as [B, V] with unit column stride (a kernel reads row b < B
            // at b * sxr, columns < V), history_len and out hold B values and
            // history B * H (kernels read history[b * H + j] for j <
            // clamp(history_len[b], 0, H) and write only below b * H + H), and
            // every pointer is this device's. The indices outlive the launches:
            // they are made now (not recorded, checked above) and every later
            // use of them is ordered after them on the one stream.
            if splits_rows(o, g.vocab) {
                let part = ctx.scratch("sample.split", crate::dtype::DType::F32, 4 * g.batch * chunks)?;
                let part_ptr = super::device_ptr(OP, &part, "scratch")?;
                let mut args = KernelArgs::new();
                args.push(super::device_ptr(OP, logits, "logits")?)
                    .push(ptr(history_len, "history_len")?)
                    .push(part_ptr)
                    .push(p);
                let f = be.function(&kernels::SAMPLE, kernels::dtype_build(dtype), &format!("sample_part_{dtype}"))?;
                let label = format!("{OP}/{name}/{dtype}");
                // SAFETY: as above; the kernel writes part[k * B * S + b * S + c]
                // for k < 4, b < B, c < S = chunks, and the scratch holds 4 * B * S floats.
                unsafe { be.launch(Tag { label: &label, bytes }, &[logits, &part], &f, cfg, &args)? };
                let mut args = KernelArgs::new();
                args.push(part_ptr)
                    .push(ptr(history, "history")?)
                    .push(ptr(history_len, "history_len")?)
                    .push(ptr(out, "out")?)
                    .push(p)
                    .push(chunks as i32);
                let cfg = LaunchConfig {
                    grid: (grid, 1, 1),
                    block: (32, 1, 1),
                    shared_bytes: 0,
                    dependent: false,
                    cluster: 0,
                };
                let f =
                    be.function(&kernels::SAMPLE, kernels::dtype_build(dtype), &format!("sample_reduce_{dtype}"))?;
                let reduce_label = format!("{OP}/split_reduce/{dtype}");
                // SAFETY: as above; the kernel reads the 4 * B * S partials
                // written by the launch before it (ordered on the one stream).
                return unsafe { be.launch(Tag { label: &reduce_label, bytes: 0 }, &[&part], &f, cfg, &args) };
            }
            // The walk: its scratch (fully written by each pass before the
            // next reads it) and one arrival counter per row from the shared
            // split-K workspace (zero between launches; every pass re-arms it).
            let scratch = ctx.scratch("sample.walk", crate::dtype::DType::F32, walk_scratch_words(g.batch, chunks))?;
            let (_, counters) = be.workspace(1, g.batch)?;
            let mut args = KernelArgs::new();
            args.push(super::device_ptr(OP, logits, "logits")?)
                .push(ptr(history, "history")?)
                .push(ptr(history_len, "history_len")?)
                .push(ptr(out, "out")?)
                .push(super::device_ptr(OP, &scratch, "scratch")?)
                .push(counters);
            for pass in walk(o, g.vocab) {
                let mut args = args.clone();
                args.push(p).push(pass.level);
                let f = be.function(
                    &kernels::SAMPLE,
                    kernels::dtype_build(dtype),
                    &format!("sample_{}_{dtype}", pass.kernel),
                )?;
                let label = format!("{OP}/{name}_{}/{dtype}", pass.kernel);
                // SAFETY: as above; the kernel addresses the scratch within
                // walk_scratch_words(B, S) words (kernels/sample.cu: Scratch)
                // and counters[b] for b < B, which the workspace holds.
                unsafe { be.launch(Tag { label: &label, bytes }, &[logits, &scratch], &f, cfg, &args)? };
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_name_the_passes() {
        let o = SampleOptions::default();
        assert_eq!(variant(&SampleOptions::greedy(), 10), "split_greedy");
        assert_eq!(variant(&SampleOptions { repeat_penalty: 1.1, ..SampleOptions::greedy() }, 10), "greedy");
        assert_eq!(variant(&o, 10), "split_draw");
        assert_eq!(variant(&SampleOptions { top_k: Some(10), ..o }, 10), "split_draw");
        assert_eq!(variant(&SampleOptions { min_p: 0.1, ..o }, 10), "draw");
        assert_eq!(variant(&SampleOptions { top_k: Some(1), ..o }, 10), "draw");
        assert_eq!(variant(&SampleOptions { top_k: Some(5), ..o }, 10), "topk");
        assert_eq!(variant(&SampleOptions { top_p: 0.9, ..o }, 10), "topp");
        assert_eq!(variant(&SampleOptions { top_k: Some(5), top_p: 0.9, ..o }, 10), "topk_topp");
    }

    #[test]
    fn the_walk_launches_each_level_once() {
        let o = SampleOptions::default();
        let names = |o: SampleOptions| -> Vec<String> {
            walk(&o, 1000).iter().map(|p| format!("{}{}", p.kernel, p.level)).collect()
        };
        assert_eq!(names(SampleOptions { repeat_penalty: 1.1, ..SampleOptions::greedy() }), ["max0"]);
        assert_eq!(names(SampleOptions { min_p: 0.1, ..o }), ["max0", "draw0"]);
        assert_eq!(names(SampleOptions { top_k: Some(1), ..o }), ["max0", "draw0"]);
        assert_eq!(names(SampleOptions { top_k: Some(50), ..o }), ["max0", "kwalk1", "kwalk2", "kwalk3", "draw0"]);
        assert_eq!(names(SampleOptions { top_p: 0.9, ..o }), ["max0", "pwalk0", "pwalk1", "pwalk2", "pwalk3", "draw0"]);
        let both = names(SampleOptions { top_k: Some(50), top_p: 0.9, repeat_penalty: 1.1, ..o });
        assert_eq!(both.len(), 9);
        assert_eq!((both[3].as_str(), both[4].as_str()), ("kwalk3", "pwalk0"));
        // A top-k as large as the row is no top-k.
        assert_eq!(names(SampleOptions { top_k: Some(1000), ..o }), ["max0", "draw0"]);
    }

    #[test]
    fn walk_scratch_fits_the_largest_call() {
        // 16 rows of MAX_VOCAB columns: 64 chunks each, under 4 MiB.
        let words = walk_scratch_words(16, MAX_VOCAB.div_ceil(SPLIT_CHUNK));
        assert_eq!(words, 16 * 16 + 16 * 64 * 898);
        assert!(words * 4 < 4 << 20);
    }
}

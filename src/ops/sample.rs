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

use crate::context::{Backend, Context};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, KernelArgs, LaunchConfig};
use crate::spec::sample::geometry;
pub use crate::spec::sample::{tokens_or_error, SampleOptions, MAX_VOCAB, NAN_ROW, NO_FINITE_LOGIT};
use crate::tensor::{Indices, Tensor};

use super::params::SampleParams;

const OP: &str = "sample";

/// Threads per row (kernels/sample.cu: SAMPLE_THREADS).
const THREADS: u32 = 1024;

/// The passes a call makes, as its profiler label names them:
/// `sample/<variant>/<dtype>`.
/// Row elements per CTA of the split kernels (kernels/sample.cu: SPLIT_CHUNK).
const SPLIT_CHUNK: usize = 4096;
/// Threads per CTA of the split kernels' first pass (kernels/sample.cu: SPLIT_THREADS).
const SPLIT_THREADS: u32 = 256;

/// True when every element's score is independent of the rest of its row
/// (greedy without a penalty, or a plain draw: no truncation, no min-p, no
/// penalty): the row is then split over many CTAs and the chunks reduced.
fn splits_rows(o: &SampleOptions, vocab: usize) -> bool {
    o.repeat_penalty == 1.0 && (o.is_greedy() || (o.top_k_for(vocab).is_none() && o.top_p >= 1.0 && o.min_p == 0.0))
}

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
            let ptr = |ix: &Indices, name: &str| {
                ix.device_ptr().ok_or_else(|| Error::invalid(OP, name, "device indices", "host indices"))
            };
            let label = format!("{OP}/{}/{dtype}", variant(o, g.vocab));
            if splits_rows(o, g.vocab) {
                let chunks = g.vocab.div_ceil(SPLIT_CHUNK);
                let part = ctx.scratch("sample.split", crate::dtype::DType::F32, 4 * g.batch * chunks)?;
                let part_ptr = super::layer::ptr(OP, &part, "scratch")?;
                let mut args = KernelArgs::new();
                args.push(super::layer::ptr(OP, logits, "logits")?)
                    .push(ptr(history_len, "history_len")?)
                    .push(part_ptr)
                    .push(p);
                let cfg =
                    LaunchConfig { grid: (grid, chunks as u32, 1), block: (SPLIT_THREADS, 1, 1), shared_bytes: 0 };
                let f = be.function(&kernels::SAMPLE, kernels::dtype_build(dtype), &format!("sample_part_{dtype}"))?;
                // SAFETY: as below for logits and history_len; the kernel writes
                // part[k * B * S + b * S + c] for k < 4, b < B, c < S = chunks, and
                // the scratch holds 4 * B * S floats.
                unsafe { be.launch(Tag { label: &label, bytes }, &[logits, &part], &f, cfg, &args)? };
                let mut args = KernelArgs::new();
                args.push(part_ptr)
                    .push(ptr(history, "history")?)
                    .push(ptr(history_len, "history_len")?)
                    .push(ptr(out, "out")?)
                    .push(p)
                    .push(chunks as i32);
                let cfg = LaunchConfig { grid: (grid, 1, 1), block: (32, 1, 1), shared_bytes: 0 };
                let f =
                    be.function(&kernels::SAMPLE, kernels::dtype_build(dtype), &format!("sample_reduce_{dtype}"))?;
                let reduce_label = format!("{OP}/split_reduce/{dtype}");
                // SAFETY: the kernel reads the 4 * B * S partials written above
                // (ordered on the one stream) and writes out[b] and history as
                // the single-CTA kernel does (see below).
                return unsafe { be.launch(Tag { label: &reduce_label, bytes: 0 }, &[&part], &f, cfg, &args) };
            }
            let mut args = KernelArgs::new();
            args.push(super::layer::ptr(OP, logits, "logits")?)
                .push(ptr(history, "history")?)
                .push(ptr(history_len, "history_len")?)
                .push(ptr(out, "out")?)
                .push(p);
            // The penalty's bitmap of the row's ids: ceil(V / 32) words (32 KiB at MAX_VOCAB).
            let shared_bytes = if o.repeat_penalty != 1.0 { (g.vocab.div_ceil(32) * 4) as u32 } else { 0 };
            let cfg = LaunchConfig { grid: (grid, 1, 1), block: (THREADS, 1, 1), shared_bytes };
            let f = be.function(&kernels::SAMPLE, kernels::dtype_build(dtype), &format!("sample_{dtype}"))?;
            // SAFETY: geometry() checked logits in bounds as [B, V] with unit
            // column stride (the kernel reads row b < B at b * sxr, columns < V),
            // history_len and out hold B values and history B * H (the kernel
            // reads history[b * H + j] for j < clamp(history_len[b], 0, H) and
            // writes only below b * H + H), and every pointer is this device's.
            // The indices outlive the launch: it is made now (not recorded,
            // checked above) and every later use of them is ordered after it on
            // the one stream.
            unsafe { be.launch(Tag { label: &label, bytes }, &[logits], &f, cfg, &args) }
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
}

//! `generate`: load a checkpoint, tokenize the prompts and generate from
//! each in turn (greedy or sampled), streaming text to stdout; timings on
//! stderr; optionally the sequences as JSON and the logits as a `.npy`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::model::generate::{generate_batch, GenerateOptions, Generation, SamplingParams, Session, StepMode};
use crate::model::{LoadOptions, Model};
use crate::tensor::HostData;
use crate::{DType, Error, Result};
use clap::{ArgGroup, Args};

const OP: &str = "generate";

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("input").required(true).args(["prompt", "prompt_file", "prompt_ids"])))]
pub struct GenerateArgs {
    /// A Hugging Face model folder (config.json, safetensors, tokenizer.json) or a .gguf file.
    #[arg(long)]
    model: PathBuf,
    /// Prompt text. Repeat for several sequences: each is prefilled in turn,
    /// then they decode together (a ragged batch: each at its own position),
    /// and their texts are printed at the end.
    #[arg(long)]
    prompt: Vec<String>,
    /// A file whose whole text, as is, is the prompt.
    #[arg(long, conflicts_with_all = ["prompt", "prompt_ids"])]
    prompt_file: Option<PathBuf>,
    /// A prompt given as token ids, comma-separated (e.g. 1,15043,3186);
    /// repeat for several sequences. Works without a tokenizer (the output is
    /// then the generated ids).
    #[arg(long, conflicts_with = "prompt")]
    prompt_ids: Vec<String>,
    /// Most tokens to generate per sequence (an EOS included).
    #[arg(long, default_value_t = 64, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
    max_tokens: usize,
    /// 0: greedy. Above 0: sample from softmax(logits / T).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    temperature: f32,
    /// Sample among the K most likely tokens only (default: all).
    #[arg(long, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
    top_k: Option<usize>,
    /// Sample among the most likely tokens that together hold probability P (1: all).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    top_p: f32,
    /// Drop tokens less likely than P times the most likely one (0: none).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    min_p: f32,
    /// transformers' repetition penalty over the prompt and generated tokens (1: off).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    repeat_penalty: f32,
    /// Seed of the sampler (sequence i draws as row i of the batch); the same
    /// seed gives the same tokens, on the GPU and on the CPU backend.
    #[arg(long, default_value_t = 0, value_parser = super::args::unsigned::<u64>, allow_negative_numbers = true)]
    seed: u64,
    /// Stop when the text reaches this string (not printed); repeatable.
    #[arg(long)]
    stop: Vec<String>,
    /// KV cache positions per sequence (prompt + generated). Default: prompt +
    /// max tokens, which must fit the model's max_position_embeddings.
    #[arg(long, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
    max_context: Option<usize>,
    /// Compute dtype: f32, f16 or bf16 (default: the checkpoint's; f32 checkpoints in f16 on a GPU).
    #[arg(long)]
    dtype: Option<DType>,
    /// Expand a GGUF's block-quantized weights (Q8_0, Q4_0, Q4_K, Q6_K) to the
    /// compute dtype at load, instead of reading the blocks in every step.
    #[arg(long)]
    expand_quantized: bool,
    /// cpu, cuda, cuda:N or auto (default: DK_DEVICE, else auto).
    #[arg(long)]
    device: Option<String>,
    /// How decode steps run: eager (every op dispatched each step) or graph
    /// (the step captured once into a CUDA graph and replayed; GPU only).
    #[arg(long, default_value = "eager")]
    mode: StepMode,
    /// Write {"sequences": [{"prompt_tokens", "tokens" (generated ids only),
    /// "text", "finish_reason": eos|stop|length}], "load_s", "ttft_ms",
    /// "prefill_tok_s", "decode_tok_s"} to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the logits as float32 [sequences, generated steps, vocab]: row s
    /// holds the logits that chose generated token s (row 0: the prompt's
    /// last position); sequences shorter than the longest are padded with NaN.
    #[arg(long)]
    dump_logits: Option<PathBuf>,
}

/// A library error about an option, renamed to the option as typed here
/// (`top_k` -> `--top-k`).
fn flag(e: Error) -> Error {
    match e {
        Error::InvalidArgument { op, arg, expected, got }
            if ["temperature", "top_k", "top_p", "min_p", "repeat_penalty", "max_tokens", "max_context", "stop"]
                .contains(&arg.as_str()) =>
        {
            Error::InvalidArgument { op, arg: format!("--{}", arg.replace('_', "-")), expected, got }
        }
        e => e,
    }
}

/// Totals over the sequences: prompt tokens, mean time to first token,
/// prefill and decode throughput (decode: None when no decode step ran).
struct Totals {
    prompt_tokens: usize,
    ttft_ms: f64,
    prefill_tok_s: f64,
    decode_tok_s: Option<f64>,
    decode_steps: usize,
    decode_s: f64,
}

fn totals(gens: &[Generation]) -> Totals {
    let prompt_tokens: usize = gens.iter().map(|g| g.prompt_tokens.len()).sum();
    // Batch-wide times are the same in every sequence.
    let (prefill_s, decode_s) = gens.first().map_or((0.0, 0.0), |g| (g.prefill_s, g.decode_s));
    let decoded: usize = gens.iter().map(|g| g.decode_steps).sum();
    Totals {
        prompt_tokens,
        ttft_ms: 1e3 * gens.iter().map(|g| g.ttft_s).sum::<f64>() / gens.len().max(1) as f64,
        prefill_tok_s: prompt_tokens as f64 / prefill_s,
        decode_tok_s: (decoded > 0).then(|| decoded as f64 / decode_s),
        decode_steps: gens.first().map_or(0, |g| g.batch_decode_steps),
        decode_s,
    }
}

/// Bytes the decode steps had to read at least: every weight once per step
/// (the embedding table aside) and each live sequence's KV cache up to its
/// position.
fn decode_bytes(model: &Model, gens: &[Generation]) -> f64 {
    let cfg = model.spec.decode_config("generate");
    let e = model.dtype.size_in_bytes() as f64;
    let weights = model.weights.step_bytes() as f64;
    let kv_per_token = (2 * cfg.layers * cfg.kv_heads * cfg.head_dim) as f64 * e;
    let steps = gens.first().map_or(0, |g| g.batch_decode_steps) as f64;
    let kv_tokens: f64 = gens
        .iter()
        .map(|g| {
            let (p, n) = (g.prompt_tokens.len() as f64, g.decode_steps as f64);
            // Step s (1..=n) reads p + s cached positions.
            n * p + n * (n + 1.0) / 2.0
        })
        .sum();
    steps * weights + kv_tokens * kv_per_token
}

fn parse_ids(text: &str) -> Result<Vec<u32>> {
    text.split(',')
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>()
                .map_err(|_| Error::invalid(OP, "--prompt-ids", "comma-separated token ids", format!("{text:?}")))
        })
        .collect()
}

pub fn run(a: GenerateArgs) -> Result<i32> {
    let opts = GenerateOptions {
        max_tokens: a.max_tokens,
        sampling: SamplingParams {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            min_p: a.min_p,
            repeat_penalty: a.repeat_penalty,
            seed: a.seed,
        },
        stop: a.stop.clone(),
        max_context: a.max_context,
        keep_logits: a.dump_logits.is_some(),
        mode: a.mode,
    };
    opts.validate().map_err(flag)?;
    for (arg, p) in [("--json", &a.json), ("--dump-logits", &a.dump_logits)] {
        if let Some(p) = p {
            crate::fsio::check_output(OP, arg, p)?;
        }
    }
    let (texts, source) = match &a.prompt_file {
        Some(f) => (vec![std::fs::read_to_string(f).map_err(Error::io("reading --prompt-file", f))?], "--prompt-file"),
        None => (a.prompt.clone(), "--prompt"),
    };
    let given_ids = a.prompt_ids.iter().map(|t| parse_ids(t)).collect::<Result<Vec<_>>>()?;

    let ctx = super::open_context(a.device.as_deref())?;
    let t0 = Instant::now();
    let model =
        Model::load_with(&ctx, &a.model, &LoadOptions { dtype: a.dtype, expand_quantized: a.expand_quantized })?;
    ctx.synchronize()?;
    let load_s = t0.elapsed().as_secs_f64();
    // Every prompt tokenized and sized before any is run.
    let mut prompts = Vec::with_capacity(texts.len() + given_ids.len());
    if !texts.is_empty() {
        let tok = model.tokenizer.as_ref().ok_or_else(|| Error::Unsupported {
            op: OP,
            what: format!(
                "{}: no tokenizer.json next to the weights (give the prompt as --prompt-ids)",
                a.model.display()
            ),
        })?;
        for text in &texts {
            prompts.push((tok.encode(text, true)?, source, format!("{text:?}")));
        }
    }
    for (ids, text) in given_ids.into_iter().zip(&a.prompt_ids) {
        prompts.push((ids, "--prompt-ids", format!("{text:?}")));
    }
    let n = prompts.len();
    for (i, (ids, source, shown)) in prompts.iter().enumerate() {
        if ids.is_empty() {
            let which = if n > 1 { format!(" (prompt {})", i + 1) } else { String::new() };
            let expected = if *source == "--prompt-ids" {
                "at least 1 token id"
            } else {
                "text that tokenizes to at least 1 token"
            };
            return Err(Error::invalid(OP, *source, expected, format!("{shown}{which}")));
        }
        opts.context_for(&model, ids.len()).map_err(flag)?;
    }
    let prompts: Vec<Vec<u32>> = prompts.into_iter().map(|(ids, _, _)| ids).collect();

    let one = prompts.len() == 1;
    let stdout = std::io::stdout();
    let mut print = |_seq: usize, s: &str| -> Result<()> {
        if one {
            let mut w = stdout.lock();
            w.write_all(s.as_bytes()).and_then(|_| w.flush()).map_err(Error::io("writing", "stdout"))?;
        }
        Ok(())
    };
    let gens = generate_batch(&ctx, &model, &prompts, &opts, &mut print).map_err(flag)?;
    let shown = |g: &Generation| -> String {
        if model.tokenizer.is_some() {
            g.text.clone()
        } else {
            g.tokens.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        }
    };
    {
        let mut w = stdout.lock();
        let written = if one && model.tokenizer.is_some() {
            writeln!(w)
        } else if one {
            writeln!(w, "{}", shown(&gens[0]))
        } else {
            gens.iter().enumerate().try_for_each(|(i, g)| {
                writeln!(
                    w,
                    "--- sequence {} of {}: {} prompt tokens, {} generated, finished by {} ---\n{}",
                    i + 1,
                    gens.len(),
                    g.prompt_tokens.len(),
                    g.tokens.len(),
                    g.finish_reason.as_str(),
                    shown(g)
                )
            })
        };
        written.and_then(|_| w.flush()).map_err(Error::io("writing", "stdout"))?;
    }

    let t = totals(&gens);
    let roofline = match ctx.cuda() {
        Some(be) if t.decode_steps > 0 => Some(crate::roofline::read_roofline(be, 5)?.gbps),
        _ => None,
    };
    let decode_gbps = (t.decode_steps > 0).then(|| decode_bytes(&model, &gens) / t.decode_s / 1e9);
    let pct = roofline.zip(decode_gbps).map(|(r, g)| 100.0 * g / r);
    eprintln!(
        "load: {:.3} s ({}, {} on {})\nprompt: {} tokens; time to first token {:.1} ms{}; prefill {:.0} tok/s ({})\ndecode: {} ({} steps, {} mode){}",
        load_s,
        a.model.display(),
        model.dtype,
        if ctx.is_cuda() { "cuda" } else { "cpu" },
        t.prompt_tokens,
        t.ttft_ms,
        if one { "" } else { " (mean per sequence)" },
        t.prefill_tok_s,
        Session::PREFILL_KIND,
        t.decode_tok_s.map_or("-".to_string(), |v| format!("{v:.0} tok/s")),
        t.decode_steps,
        match a.mode {
            StepMode::Eager => "eager",
            StepMode::Graph => "graph",
        },
        match (decode_gbps, pct) {
            (Some(g), Some(p)) => format!(", {g:.0} GB/s = {p:.1}% of the read roofline"),
            (Some(g), None) => format!(", {g:.1} GB/s"),
            _ => String::new(),
        }
    );

    if let Some(path) = &a.json {
        let seqs: Vec<serde_json::Value> = gens
            .iter()
            .map(|g| {
                serde_json::json!({
                    "prompt_tokens": g.prompt_tokens,
                    "tokens": g.tokens,
                    "text": g.text,
                    "finish_reason": g.finish_reason,
                    "max_context": g.max_context,
                    "ttft_ms": 1e3 * g.ttft_s,
                })
            })
            .collect();
        let v = serde_json::json!({
            "sequences": seqs,
            "load_s": load_s,
            "ttft_ms": t.ttft_ms,
            "prefill_tok_s": t.prefill_tok_s,
            "decode_tok_s": t.decode_tok_s,
            "prefill": Session::PREFILL_KIND,
            "decode_steps": t.decode_steps,
            "decode_gbps": decode_gbps,
            "roofline_gbps": roofline,
            "pct_roofline": pct,
            "mode": a.mode,
            "batch": gens.len(),
            "dtype": model.dtype,
            "device": if ctx.is_cuda() { "cuda" } else { "cpu" },
        });
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::invalid(OP, "--json", "a report", e))?;
        crate::fsio::write_atomic(path, text.as_bytes())?;
    }
    if let Some(path) = &a.dump_logits {
        let vocab = model.spec.vocab_size;
        let steps = gens.iter().map(|g| g.logits.len()).max().unwrap_or(0);
        let mut data = vec![f32::NAN; gens.len() * steps * vocab];
        for (s, g) in gens.iter().enumerate() {
            for (r, row) in g.logits.iter().enumerate() {
                let at = (s * steps + r) * vocab;
                data[at..at + vocab].copy_from_slice(row);
            }
        }
        crate::npy::write_npy(path, &[gens.len(), steps, vocab], &HostData::F32(data))?;
    }
    Ok(0)
}

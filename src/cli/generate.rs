//! `generate`: load a checkpoint, tokenize the prompts and generate from
//! each in turn (greedy or sampled), streaming text to stdout; timings on
//! stderr; optionally the sequences as JSON and the logits as a `.npy`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::model::generate::{generate, GenerateOptions, Generation, SamplingParams, Session};
use crate::model::{LoadOptions, Model};
use crate::tensor::HostData;
use crate::{DType, Error, Result};
use clap::{ArgGroup, Args};

const OP: &str = "generate";

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("input").required(true).args(["prompt", "prompt_file"])))]
pub struct GenerateArgs {
    /// A Hugging Face model folder (config.json, safetensors, tokenizer.json) or a .gguf file.
    #[arg(long)]
    model: PathBuf,
    /// Prompt text. Repeat for several sequences: they run one after another,
    /// each in its own session (a ragged batch decoding them together is still
    /// to come), and their texts are printed at the end.
    #[arg(long)]
    prompt: Vec<String>,
    /// A file whose whole text, as is, is the prompt.
    #[arg(long, conflicts_with = "prompt")]
    prompt_file: Option<PathBuf>,
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
    /// Seed of the sampler (sequence i uses seed + i); the same seed gives the same tokens.
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
    /// cpu, cuda, cuda:N or auto (default: DK_DEVICE, else auto).
    #[arg(long)]
    device: Option<String>,
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
}

fn totals(gens: &[Generation]) -> Totals {
    let prompt_tokens: usize = gens.iter().map(|g| g.prompt_tokens.len()).sum();
    let prefill_s: f64 = gens.iter().map(|g| g.prefill_s).sum();
    let decode_steps: usize = gens.iter().map(|g| g.decode_steps).sum();
    let decode_s: f64 = gens.iter().map(|g| g.decode_s).sum();
    Totals {
        prompt_tokens,
        ttft_ms: 1e3 * gens.iter().map(|g| g.ttft_s).sum::<f64>() / gens.len().max(1) as f64,
        prefill_tok_s: prompt_tokens as f64 / prefill_s,
        decode_tok_s: (decode_steps > 0).then(|| decode_steps as f64 / decode_s),
        decode_steps,
    }
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

    let ctx = super::open_context(a.device.as_deref())?;
    let t0 = Instant::now();
    let model = Model::load_with(&ctx, &a.model, &LoadOptions { dtype: a.dtype })?;
    ctx.synchronize()?;
    let load_s = t0.elapsed().as_secs_f64();
    let tok = model.tokenizer.as_ref().ok_or_else(|| Error::Unsupported {
        op: OP,
        what: format!("{}: no tokenizer.json next to the weights", a.model.display()),
    })?;
    // Every prompt tokenized and sized before any is run.
    let mut prompts = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let ids = tok.encode(text, true)?;
        if ids.is_empty() {
            let which = if texts.len() > 1 { format!(" (prompt {})", i + 1) } else { String::new() };
            return Err(Error::invalid(
                OP,
                source,
                "text that tokenizes to at least 1 token",
                format!("{text:?}{which}"),
            ));
        }
        opts.context_for(&model, ids.len()).map_err(flag)?;
        prompts.push(ids);
    }

    let one = prompts.len() == 1;
    let stdout = std::io::stdout();
    let mut gens = Vec::with_capacity(prompts.len());
    for (i, ids) in prompts.iter().enumerate() {
        let mut o = opts.clone();
        o.sampling.seed = a.seed.wrapping_add(i as u64);
        let mut print = |s: &str| -> Result<()> {
            if one {
                let mut w = stdout.lock();
                w.write_all(s.as_bytes()).and_then(|_| w.flush()).map_err(Error::io("writing", "stdout"))?;
            }
            Ok(())
        };
        gens.push(generate(&ctx, &model, ids, &o, &mut print).map_err(flag)?);
    }
    {
        let mut w = stdout.lock();
        let written = if one {
            writeln!(w)
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
                    g.text
                )
            })
        };
        written.and_then(|_| w.flush()).map_err(Error::io("writing", "stdout"))?;
    }

    let t = totals(&gens);
    eprintln!(
        "load: {:.3} s ({}, {} on {})\nprompt: {} tokens; time to first token {:.1} ms{}; prefill {:.0} tok/s ({})\ndecode: {} ({} steps)",
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
        t.decode_steps
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

//! The `decode-kernels` command line: argument parsing and one module per
//! subcommand. Each subcommand returns the process exit code. Built only with
//! the `cli` feature (on by default), so a library user need not compile
//! clap, indicatif or plotters.

mod args;
mod bench;
mod check;
mod decode;
mod exec;
mod generate;
mod info;
mod kernels;
mod tune;

use crate::{Context, DeviceRequest, Result};
use clap::{Parser, Subcommand};

/// The parsed command line.
#[derive(Parser, Debug)]
#[command(name = "decode-kernels", version, about = "GPU kernels for LLM decode: small-N GEMV, softmax, attention")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Device, versions, kernel cache, and the copy and read rooflines measured now.
    Info(info::InfoArgs),
    /// Every GPU op against the CPU reference; non-zero exit on any failure.
    Check(check::CheckArgs),
    /// Run one op on .npy inputs and write a .npy output.
    Exec(exec::ExecArgs),
    /// Benchmarks: ours against the peer, rooflines measured in the same run.
    Bench(bench::BenchArgs),
    /// One decode step of a model's shapes (random weights): eager, planned and CUDA graph, with a per-label profile.
    Decode(decode::DecodeArgs),
    /// Generate text from a checkpoint (HF folder or GGUF): greedy or sampled, stop on EOS, --stop or --max-tokens.
    Generate(generate::GenerateArgs),
    /// The decode step with every launch profiled: count, total, mean, p50, p95, GB/s, % of roofline per label.
    Profile(decode::ProfileArgs),
    /// Measure every variant, find the crossovers, write a tuning table, plot each decision (or analyse --from-csv rows).
    Tune(tune::TuneArgs),
    /// Compile every kernel source with NVRTC and print ptxas' resource report (no GPU needed).
    Kernels(kernels::KernelsArgs),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Info(a) => info::run(a),
        Command::Check(a) => check::run(a),
        Command::Exec(a) => exec::run(a),
        Command::Kernels(a) => kernels::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Decode(a) => decode::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Tune(a) => tune::run(a),
        Command::Profile(a) => decode::profile(a),
    }
}

/// `--device` when given, else `DK_DEVICE`.
fn open_context(device: Option<&str>) -> Result<Context> {
    let ctx = open_context_quiet(device)?;
    // Kernel compilation shows a spinner on a terminal (nothing in logs).
    ctx.set_progress(std::sync::Arc::new(crate::progress::Bars::new()));
    Ok(ctx)
}

fn open_context_quiet(device: Option<&str>) -> Result<Context> {
    match device {
        None => Context::from_env(),
        Some(d) => {
            Context::new(d.parse::<DeviceRequest>().map_err(|allowed| {
                // The parser's message may already start with "expected";
                // the error's own wording adds it once.
                let allowed = allowed.strip_prefix("expected ").unwrap_or(&allowed).to_string();
                crate::Error::InvalidArgument {
                    op: "decode-kernels",
                    arg: "--device".into(),
                    expected: allowed,
                    got: d.to_string(),
                }
            })?)
        }
    }
}

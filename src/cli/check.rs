use crate::{check, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Only cases whose "op/case" name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Seed for the random inputs (default: drawn fresh and printed).
    #[arg(long, value_parser = super::args::unsigned::<u64>, allow_negative_numbers = true)]
    seed: Option<u64>,
    /// Also write every outcome as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// cuda or cuda:N (default: DK_DEVICE, else auto).
    #[arg(long)]
    device: Option<String>,
}

pub fn run(a: CheckArgs) -> Result<i32> {
    if let Some(p) = &a.json {
        crate::fsio::check_output("check", "--json", p)?;
    }
    let ctx = super::open_context(a.device.as_deref())?;
    if !ctx.is_cuda() {
        eprintln!("check compares GPU ops with the CPU reference and needs a CUDA device; none is in use");
        return Ok(2);
    }
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    println!("check: seed {seed}");
    println!(
        "{:<8} {:<40} {:<5} {:>10} {:>8} {:>9} {:>9}  result",
        "op", "case", "dtype", "rel_l2", "tol", "unwritten", "clobbered"
    );
    let outcomes = check::run(&ctx, a.filter.as_deref(), seed, |o| {
        println!(
            "{:<8} {:<40} {:<5} {:>10.3e} {:>8.0e} {:>9} {:>9}  {}{}",
            o.op,
            o.case,
            o.dtype.name(),
            o.rel_l2,
            o.tolerance,
            o.unwritten,
            o.clobbered,
            if o.passed() { "ok" } else { "FAIL" },
            o.error.as_deref().or(o.note.as_deref()).map(|e| format!(" ({e})")).unwrap_or_default()
        );
    });
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    println!("check: {} passed, {} failed", outcomes.len() - failed, failed);
    if let Some(p) = a.json {
        let text = serde_json::to_string_pretty(&outcomes).unwrap_or_default();
        crate::fsio::write_atomic(&p, text.as_bytes())?;
    }
    Ok(if failed == 0 && !outcomes.is_empty() { 0 } else { 1 })
}

//! `decode`: one decoding step of a model's shapes, timed eager, planned and as
//! a CUDA graph (or eager on the CPU backend), with the profiler's breakdown.
//! `profile`: the same step with every launch profiled, as a report.

use std::path::PathBuf;

use crate::decode::{self, DecodeOptions, DecodeReport, Mode, ModelConfig, WeightFormat};
use crate::progress::Bars;
use crate::table::{bytes, sig, sig_opt, time_unit, Table};
use crate::{Context, DType, Error, Result};
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// Model shapes: qwen2.5-0.5b, llama3.2-1b, llama3-8b, qwen2.5-7b (or tiny).
    #[arg(long, default_value = "qwen2.5-0.5b")]
    model: String,
    /// Sequences decoded together (N of every GEMV).
    #[arg(long, default_value_t = 1, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
    batch: usize,
    /// Keys attended per step (default 4096 on a GPU, 256 on the CPU backend).
    #[arg(long, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
    context: Option<usize>,
    /// f16 or bf16; or q8_0 or q4_k_m: the projections and LM head in those
    /// GGUF block formats (random valid blocks), f16 activations.
    #[arg(long, default_value = "f16")]
    dtype: String,
    /// Seed of the random weights, cache and input.
    #[arg(long, default_value_t = 1, value_parser = super::args::unsigned::<u64>, allow_negative_numbers = true)]
    seed: u64,
    /// cpu, cuda, cuda:N or auto (default: DK_DEVICE, else auto).
    #[arg(long)]
    device: Option<String>,
}

impl WorkloadArgs {
    /// The activations' dtype and the projections' format `--dtype` names.
    fn formats(&self) -> Result<(DType, WeightFormat)> {
        if let Some(w) = WeightFormat::from_name(&self.dtype) {
            return Ok((DType::F16, w));
        }
        match self.dtype.parse::<DType>() {
            Ok(DType::F32) | Err(_) => {
                Err(Error::invalid("decode", "--dtype", "f16, bf16, q8_0 or q4_k_m", self.dtype.clone()))
            }
            Ok(d) => Ok((d, WeightFormat::Dense)),
        }
    }

    fn open(&self) -> Result<(Context, ModelConfig, usize)> {
        let (dtype, _) = self.formats()?;
        let cfg = ModelConfig::builtin(&self.model)?;
        let ctx = super::open_context(self.device.as_deref())?;
        let context = self.context.unwrap_or(if ctx.is_cuda() { 4096 } else { 256 });
        // Sizes against free memory before anything is allocated (dense
        // sizes: an upper bound for quantized weights).
        decode::check_fits(&ctx, &cfg, dtype, self.batch, context)?;
        Ok((ctx, cfg, context))
    }
}

#[derive(Args, Debug)]
pub struct DecodeArgs {
    #[command(flatten)]
    w: WorkloadArgs,
    /// Timed steps per mode (default 50 on a GPU, 2 on the CPU backend).
    #[arg(long, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
    steps: Option<usize>,
    /// eager, planned or graph; repeatable or comma-separated (default: all
    /// three on a GPU, eager on the CPU backend).
    #[arg(long, value_delimiter = ',')]
    mode: Vec<Mode>,
    /// Skip the first-step study (fresh contexts, with and without prewarm).
    #[arg(long)]
    no_first_step: bool,
    /// Write the whole report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Label substrings, comma-separated, whose launches one study leaves out
    /// of the step's CUDA graph (repeatable: a study each), timed against the
    /// whole graph: what those launches cost the step, overlap included. GPU
    /// only; the outputs of those steps are not the model's.
    #[arg(long = "leave-out", value_name = "LABELS")]
    leave_out: Vec<String>,
}

pub fn run(a: DecodeArgs) -> Result<i32> {
    if let Some(p) = &a.json {
        crate::fsio::check_output("decode", "--json", p)?;
    }
    let (ctx, cfg, context) = a.w.open()?;
    let gpu = ctx.is_cuda();
    let modes = if a.mode.is_empty() {
        if gpu {
            vec![Mode::Eager, Mode::Planned, Mode::Graph]
        } else {
            vec![Mode::Eager]
        }
    } else {
        a.mode.clone()
    };
    let (dtype, weights) = a.w.formats()?;
    let o = DecodeOptions {
        model: cfg,
        dtype,
        weights,
        batch: a.w.batch,
        context,
        steps: a.steps.unwrap_or(if gpu { 50 } else { 2 }),
        modes,
        seed: a.w.seed,
        first_step: gpu && !a.no_first_step,
        profile_steps: if gpu { 5 } else { 1 },
        leave_out: a.leave_out.iter().map(|set| set.split(',').map(|l| l.trim().to_string()).collect()).collect(),
    };
    let r = decode::run_with_progress(&ctx, &o, &Bars::new())?;
    print!("{}", render(&r, gpu));
    if let Some(p) = &a.json {
        write(p, &serde_json::to_string_pretty(&r).expect("a report serialises"))?;
    }
    Ok(0)
}

fn write(path: &std::path::Path, text: &str) -> Result<()> {
    crate::fsio::write_atomic(path, text.as_bytes())
}

/// The mode table: time per step, throughput and, on a GPU, enqueue time and
/// % of the read roofline. On the CPU backend every op runs when called, so
/// enqueuing a step is running it (the enqueue time equals the step time) and
/// there is no roofline: those columns are left out.
fn modes_table(r: &DecodeReport, gpu: bool) -> String {
    let (unit, div) = time_unit(r.modes.iter().map(|m| m.step_us).fold(0.0, f64::max));
    let mut t = Table::new().left("mode").right(&format!("step {unit}"));
    if gpu {
        t = t.right(&format!("enqueue {unit}"));
    }
    t = t.right("tokens/s").right("GB/s");
    if gpu {
        t = t.right("% read roofline");
    }
    for m in &r.modes {
        let mut cells = vec![m.mode.to_string(), sig(m.step_us / div, 3)];
        if gpu {
            cells.push(sig(m.enqueue_us / div, 3));
        }
        cells.push(sig(m.tokens_per_s, 3));
        cells.push(sig(m.gbps, 3));
        if gpu {
            cells.push(sig_opt(m.pct_roofline, 3));
        }
        t.push(cells);
    }
    t.render()
}

fn render(r: &DecodeReport, gpu: bool) -> String {
    let c = &r.model;
    let mut s = format!(
        "decode {} ({} layers, hidden {}, heads {}/{} x {}, MLP {}, vocab {}), {}, batch {}, context {}, on {}\n",
        c.name,
        c.layers,
        c.hidden,
        c.heads,
        c.kv_heads,
        c.head_dim,
        c.intermediate,
        c.vocab,
        r.dtype,
        r.batch,
        r.context,
        r.device
    );
    s += &format!("bytes streamed per step: {} (weights and KV cache)", bytes(r.bytes_per_step));
    if let Some(n) = r.launches_per_step {
        s += &format!(", {n} launches per step");
    }
    if let Some(g) = r.roofline_gbps {
        s += &format!(", read roofline {g:.0} GB/s (this run)");
    }
    s += "\n\n";
    s += &modes_table(r, gpu);
    if gpu {
        s += &format!(
            "({} steps per mode; step: wall time per step, one synchronisation at the end; enqueue: host time per step to queue it)\n",
            r.steps
        );
    } else {
        s += &format!(
            "({} steps; step: wall time per step; on the CPU backend each op runs when called, so there is no separate enqueue time)\n",
            r.steps
        );
    }
    if let Some(g) = r.modes.iter().find(|m| m.mode == Mode::Graph) {
        s += &format!(
            "graph step against the sum of its kernels' profiled times ({:.1} us): {:+.1}%",
            r.kernel_us_per_step,
            100.0 * (g.step_us / r.kernel_us_per_step - 1.0)
        );
        if let (Some(floor), Some(n)) = (r.event_floor_us, r.launches_per_step) {
            let net = r.kernel_us_per_step - floor * n as f64;
            s += &format!(
                "; each profiled time includes an event floor of {floor:.2} us (an empty kernel), so the kernels alone take {net:.1} to {:.1} us: graph {:+.1}% against the lower\n",
                r.kernel_us_per_step,
                100.0 * (g.step_us / net - 1.0)
            );
        } else {
            s += "\n";
        }
    }
    if let Some(f) = &r.first_step {
        s += &format!(
            "\nfirst step of a fresh context without prewarm: {:.0} us (the process's first context), {:.0} us (a later one); with prewarm: prewarm {:.0} us, then first step {:.0} us ({} modules compiled by NVRTC, {} read from the disk cache)\n",
            f.cold_us, f.cold_again_us, f.prewarm_us, f.warm_us, f.compiled, f.from_disk
        );
    }
    if let Some(h) = &r.host_cost {
        s += &format!(
            "host cost of one launch ({}): bare cuLaunchKernel {:.2} us, planned {:.2} us ({:+.2}), eager dispatch {:.2} us ({:+.2})\n",
            h.label,
            h.bare_us,
            h.planned_us,
            h.planned_us - h.bare_us,
            h.eager_us,
            h.eager_us - h.bare_us
        );
    }
    let how = if r.roofline_gbps.is_some() {
        "every launch between two CUDA events"
    } else {
        "every op timed by the wall clock"
    };
    s += &format!(
        "\nprofile ({} step(s), {how}; per-step total {} us):\n",
        r.profile_steps,
        sig(r.kernel_us_per_step, 3)
    );
    s += &r.profile.to_table();
    if !r.leave_out.is_empty() {
        s += "\nleft out of the step's graph (the outputs of those steps are not the model's):\n";
        s += &leave_out_table(&r.leave_out);
    }
    s
}

/// The leave-out studies: the labels left out, how many launches a step,
/// the step without them and what they cost it.
fn leave_out_table(studies: &[decode::LeaveOut]) -> String {
    let mut t = Table::new().left("launches left out").right("a step").right("step us").right("saved us");
    for l in studies {
        t.push(vec![l.labels.join(","), l.launches.to_string(), sig(l.step_us, 4), sig(l.saved_us, 3)]);
    }
    t.render()
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    #[command(flatten)]
    w: WorkloadArgs,
    /// Profiled steps (eager: every op dispatched and launched, each launch bracketed).
    #[arg(long, default_value_t = 5, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
    steps: usize,
    #[arg(long)]
    csv: Option<PathBuf>,
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The decode step, eager, with profiling on: the per-label report.
pub fn profile(a: ProfileArgs) -> Result<i32> {
    if a.steps == 0 {
        return Err(Error::invalid("profile", "--steps", "at least 1", 0));
    }
    for (arg, p) in [("--csv", &a.csv), ("--json", &a.json)] {
        if let Some(p) = p {
            crate::fsio::check_output("profile", arg, p)?;
        }
    }
    let (ctx, cfg, context) = a.w.open()?;
    let (dtype, weights) = a.w.formats()?;
    let model =
        decode::DecodeModel::build_with(&ctx, &cfg, dtype, weights, a.w.batch, context, a.w.seed, &Bars::new())?;
    decode::prewarm(&ctx, &model)?;
    let roofline = match ctx.cuda() {
        Some(be) => Some(crate::roofline::read_roofline(be, 10)?.gbps),
        None => None,
    };
    let t0 = std::time::Instant::now();
    model.step(&ctx)?; // warm-up, unprofiled; its time sizes the spin ahead of each profiled step
    ctx.synchronize()?;
    let step_us = t0.elapsed().as_secs_f64() * 1e6;
    let report = decode::profile_steps_with(&ctx, a.steps, step_us, roofline, || model.step(&ctx))?;
    let p = ctx.profiler();
    println!(
        "profile: {} {} batch {} context {}, {} eager step(s){}; NVTX ranges: {}",
        cfg.name,
        a.w.dtype,
        a.w.batch,
        context,
        a.steps,
        roofline.map_or(String::new(), |g| format!(", read roofline {g:.0} GB/s")),
        if p.nvtx_available() { "on (libnvToolsExt loaded)" } else { "off (libnvToolsExt not found)" }
    );
    print!("{}", report.to_table());
    if let Some(path) = &a.csv {
        write(path, &report.to_csv())?;
    }
    if let Some(path) = &a.json {
        write(path, &report.to_json())?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::run::{FirstStep, HostCost, ModeResult};
    use crate::profile::{Report, Sample};

    /// A GPU report with the numbers of an H200 run of qwen2.5-0.5b (old
    /// layout: rows three columns left of the header, bytes as a bare integer).
    fn gpu_report() -> DecodeReport {
        let mode = |mode, step_us: f64, enqueue_us| ModeResult {
            mode,
            step_us,
            enqueue_us,
            tokens_per_s: 1e6 / step_us,
            gbps: 1038.4e6 / (step_us * 1e3),
            pct_roofline: Some(100.0 * 1038.4e6 / (step_us * 1e3) / 4494.0),
        };
        let s = |label: &str, bytes: u64, us: f64| Sample { label: label.into(), bytes, us };
        let samples = [
            s("matmul/gemv_veck_n1/f16", 10_198_813, 10.16),
            s("sdpa/fused_mma_split16/f16", 2_100_736, 19.09),
            s("rmsnorm/vec1/f16", 5376, 4.61),
        ];
        DecodeReport {
            model: ModelConfig::builtin("qwen2.5-0.5b").unwrap(),
            dtype: DType::F16,
            weights: None,
            batch: 1,
            context: 4096,
            steps: 20,
            device: "NVIDIA H200".into(),
            bytes_per_step: 1_038_400_000,
            launches_per_step: Some(219),
            roofline_gbps: Some(4494.0),
            first_step: Some(FirstStep {
                cold_us: 564244.0,
                cold_again_us: 12635.0,
                prewarm_us: 11877.0,
                warm_us: 1501.0,
                compiled: 0,
                from_disk: 12,
            }),
            modes: vec![
                mode(Mode::Eager, 1459.2, 1117.7),
                mode(Mode::Planned, 1458.0, 1115.6),
                mode(Mode::Graph, 1267.1, 1.9),
            ],
            host_cost: Some(HostCost {
                label: "matmul/gemv_veck_n1/f16".into(),
                bare_us: 3.58,
                planned_us: 3.55,
                eager_us: 4.73,
            }),
            profile: Report::from_samples(&samples, Some(4494.0)),
            profile_steps: 5,
            kernel_us_per_step: 1901.1,
            event_floor_us: Some(3.65),
            leave_out: Vec::new(),
        }
    }

    /// The lines of `text` from the one starting with `head` up to (not
    /// including) the first empty one or one starting with '('.
    fn table_at(text: &str, head: &str) -> String {
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.iter().position(|l| l.starts_with(head)).unwrap_or_else(|| panic!("{head}:\n{text}"));
        lines[start..]
            .iter()
            .take_while(|l| !l.is_empty() && !l.starts_with('('))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn gpu_tables_align_under_their_headers() {
        let text = render(&gpu_report(), true);
        let modes = table_at(&text, "mode ");
        let profile = table_at(&text, "label ");
        for t in [&modes, &profile] {
            crate::table::check_alignment(t).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
        let head = modes.lines().next().unwrap();
        assert!(head.contains("enqueue us") && head.contains("% read roofline"), "{text}");
        assert_eq!(modes.lines().count(), 4, "{text}");
        let graph: Vec<&str> = modes.lines().last().unwrap().split_whitespace().collect();
        assert_eq!(graph[..3], ["graph", "1267", "1.90"], "{modes}");
        assert!(profile.contains("10.2 MB") && profile.contains("bytes/launch"), "{profile}");
        assert!(text.contains("planned 3.55 us (-0.03)"), "{text}");
    }

    #[test]
    fn leave_out_studies_print_as_an_aligned_table_only_when_run() {
        assert!(!render(&gpu_report(), true).contains("left out of"));
        let mut r = gpu_report();
        r.leave_out = vec![
            decode::LeaveOut { labels: vec!["rmsnorm/".into()], launches: 49, step_us: 1201.4, saved_us: 65.7 },
            decode::LeaveOut {
                labels: vec!["sdpa/".into(), "matmul/gemv".into()],
                launches: 120,
                step_us: 402.9,
                saved_us: 864.2,
            },
        ];
        let text = render(&r, true);
        let t = table_at(&text, "launches left out");
        crate::table::check_alignment(&t).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let last: Vec<&str> = t.lines().last().unwrap().split_whitespace().collect();
        assert_eq!(last, ["sdpa/,matmul/gemv", "120", "402.9", "864"], "{t}");
    }

    #[test]
    fn cpu_tables_leave_out_enqueue_and_roofline() {
        let mut r = gpu_report();
        r.modes.truncate(1);
        r.roofline_gbps = None;
        r.launches_per_step = None;
        r.first_step = None;
        r.host_cost = None;
        r.event_floor_us = None;
        r.modes[0].step_us = 5_406_130.0;
        r.modes[0].tokens_per_s = 0.185;
        r.modes[0].gbps = 0.183;
        r.modes[0].pct_roofline = None;
        let text = render(&r, false);
        let modes = table_at(&text, "mode ");
        crate::table::check_alignment(&modes).unwrap();
        assert_eq!(modes, "mode   step ms  tokens/s   GB/s\neager     5406     0.185  0.183", "{text}");
    }
}

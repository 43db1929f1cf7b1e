//! Timing a decode step in each mode, the first-step cost with and without
//! prewarming, the host cost of one launch, and the profiler's breakdown.

use std::time::Instant;

use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::profile::Report;
use crate::progress::{Progress, Silent};
use crate::runtime::record::Graph;
use crate::runtime::CudaBackend;

use super::config::ModelConfig;
use super::model::{linear, DecodeModel, WeightFormat};

/// How a step reaches the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every op validated, dispatched and launched every step.
    Eager,
    /// The step recorded once (plans, function handles, launch shapes and
    /// arguments resolved); each step replays the launches.
    Planned,
    /// The recording captured into a CUDA graph; each step is one graph launch.
    Graph,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "eager" => Ok(Mode::Eager),
            "planned" => Ok(Mode::Planned),
            "graph" => Ok(Mode::Graph),
            _ => Err(format!("expected eager, planned or graph, got {s:?}")),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Eager => "eager",
            Mode::Planned => "planned",
            Mode::Graph => "graph",
        })
    }
}

/// What [`run`] measures: the model, its sizes, and which studies to run.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// The model's shapes (its weights are random).
    pub model: ModelConfig,
    /// The dtype of every tensor (activations and caches; the projections'
    /// too unless `weights` is quantized).
    pub dtype: DType,
    /// The projections' and LM head's format.
    pub weights: WeightFormat,
    /// Sequences per step.
    pub batch: usize,
    /// Keys each step attends over (the KV cache's length).
    pub context: usize,
    /// Steps timed back to back in each mode.
    pub steps: usize,
    /// The modes to time, in order; the CPU backend runs only [`Mode::Eager`].
    pub modes: Vec<Mode>,
    /// Seed of the random weights, cache and input.
    pub seed: u64,
    /// Measure the first step in a fresh context without prewarming, then with.
    pub first_step: bool,
    /// Steps run with the profiler on for the breakdown (after the timed runs).
    pub profile_steps: usize,
    /// Studies run last, on a GPU: each a set of label substrings whose
    /// launches are left out of the step's CUDA graph, timed against the whole
    /// graph (what those launches cost the step, overlap included; the
    /// outputs of those steps are not the model's).
    pub leave_out: Vec<Vec<String>>,
}

/// What a step's graph costs without some of its launches ([`DecodeOptions::leave_out`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LeaveOut {
    /// The label substrings whose launches were left out.
    pub labels: Vec<String>,
    /// Launches left out of each step.
    pub launches: usize,
    /// Wall time per step of the graph without them.
    pub step_us: f64,
    /// The whole graph's step time (timed in the same study) less `step_us`.
    pub saved_us: f64,
}

/// How many of a step's launches (`labels`, one a launch) each set of label
/// substrings leaves out. Refused, naming `--leave-out`: an empty substring,
/// one no label contains (a typo would otherwise time the whole step), and a
/// set that would leave out every launch (nothing left to time).
pub fn leave_out_counts(labels: &[&str], sets: &[Vec<String>]) -> Result<Vec<usize>> {
    let known = || {
        let mut k: Vec<&str> = labels.to_vec();
        k.sort_unstable();
        k.dedup();
        k.join(", ")
    };
    let mut counts = Vec::with_capacity(sets.len());
    for set in sets {
        if let Some(bad) = set.iter().find(|s| s.is_empty() || !labels.iter().any(|l| l.contains(s.as_str()))) {
            return Err(Error::invalid(
                "decode",
                "--leave-out",
                format!("non-empty parts of this step's launch labels ({})", known()),
                format!("{bad:?}"),
            ));
        }
        let n = labels.iter().filter(|l| leaves_out(set, l)).count();
        if n == labels.len() {
            return Err(Error::invalid(
                "decode",
                "--leave-out",
                format!("parts that keep some of this step's launches ({})", known()),
                format!("{:?}, which every launch label contains", set.join(",")),
            ));
        }
        counts.push(n);
    }
    Ok(counts)
}

/// Whether a `--leave-out` set (label substrings) leaves out the launch labelled `label`.
fn leaves_out(set: &[String], label: &str) -> bool {
    set.iter().any(|s| label.contains(s.as_str()))
}

/// Runs `step` `warmup` times, synchronises, then `steps` times back to
/// back, ended by one synchronisation (each call counted on `progress`):
/// wall time per step and host time per step to enqueue it, in us.
fn time_steps(
    ctx: &Context,
    warmup: usize,
    steps: usize,
    progress: &dyn Progress,
    mut step: impl FnMut() -> Result<()>,
) -> Result<(f64, f64)> {
    for _ in 0..warmup {
        step()?;
        progress.inc(1);
    }
    ctx.synchronize()?;
    let t0 = Instant::now();
    for _ in 0..steps {
        step()?;
        progress.inc(1);
    }
    let enqueued = t0.elapsed().as_secs_f64();
    ctx.synchronize()?;
    let per_step = |s: f64| s * 1e6 / steps as f64;
    Ok((per_step(t0.elapsed().as_secs_f64()), per_step(enqueued)))
}

/// The timing of one mode.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModeResult {
    /// The mode timed.
    pub mode: Mode,
    /// Wall time per step over `steps` back-to-back steps, ended by one synchronisation.
    pub step_us: f64,
    /// Host time per step spent enqueuing (returns before the GPU finishes).
    pub enqueue_us: f64,
    /// Tokens decoded per second: the batch (one token per sequence) per step time.
    pub tokens_per_s: f64,
    /// GB/s (1e9 bytes per second) of the step's minimum traffic
    /// ([`DecodeModel::bytes_per_step`]) at the step time.
    pub gbps: f64,
    /// `gbps` as a percentage of the device's measured read roofline; `None`
    /// on the CPU backend.
    pub pct_roofline: Option<f64>,
}

/// The first-step study (CUDA only): what a step costs before its kernels
/// are loaded, and what prewarming moves out of it. Times in microseconds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FirstStep {
    /// The process's first context: its first step, kernels loaded on demand
    /// (process-wide start-up costs fall here).
    pub cold_us: f64,
    /// A second fresh context: its first step, kernels loaded on demand.
    pub cold_again_us: f64,
    /// Prewarming a fresh context for this model (compile or load every kernel the step needs).
    pub prewarm_us: f64,
    /// That context's first step after prewarming.
    pub warm_us: f64,
    /// Modules NVRTC compiled, and modules read from the disk cache, over both contexts.
    pub compiled: u64,
    /// See `compiled`.
    pub from_disk: u64,
}

/// Host time of enqueuing one launch of the step's output projection (the
/// median of 7 rounds of 200 launches each, queued behind a spin kernel).
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostCost {
    /// The profiler label of the projection's launch (its kernel and shape).
    pub label: String,
    /// A bare cuLaunchKernel with the resolved function and arguments.
    pub bare_us: f64,
    /// The planned path: one recorded launch replayed (profiler check included).
    pub planned_us: f64,
    /// The eager path: validation, dispatch, function lookup and launch.
    pub eager_us: f64,
}

/// Everything [`run`] measured, with the options that sized it; serialised
/// as the decode command's JSON report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecodeReport {
    /// The model's shapes.
    pub model: ModelConfig,
    /// The dtype of every tensor (the projections' blocks aside when `weights` is set).
    pub dtype: DType,
    /// The projections' block format (`q8_0`, `q4_k_m`); absent when dense.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
    /// Sequences per step.
    pub batch: usize,
    /// Keys each step attends over.
    pub context: usize,
    /// Steps timed in each mode.
    pub steps: usize,
    /// The GPU's name, or "CPU (N threads)".
    pub device: String,
    /// Bytes a step must stream at least ([`DecodeModel::bytes_per_step`]).
    pub bytes_per_step: u64,
    /// Launches in the recorded step; `None` on the CPU backend, which does
    /// not record.
    pub launches_per_step: Option<usize>,
    /// The device's measured read roofline in GB/s; `None` on the CPU backend.
    pub roofline_gbps: Option<f64>,
    /// The first-step study, when asked for and on a GPU.
    pub first_step: Option<FirstStep>,
    /// One result per mode timed, in the order asked.
    pub modes: Vec<ModeResult>,
    /// The host cost of one launch, three ways; `None` on the CPU backend and
    /// where the studied projection takes more than one launch (quantized
    /// weights in several chunks of tokens).
    pub host_cost: Option<HostCost>,
    /// The profiled steps' per-label breakdown, and its total per step.
    pub profile: Report,
    /// Steps the profile covers.
    pub profile_steps: usize,
    /// The profile's total time divided by `profile_steps`: the step's
    /// kernel time, without the host's gaps between launches.
    pub kernel_us_per_step: f64,
    /// An empty kernel timed between two events, as the profiler times every
    /// launch: the part of each profiled time that is not the kernel's work.
    pub event_floor_us: Option<f64>,
    /// The leave-out studies, in the order asked (empty when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leave_out: Vec<LeaveOut>,
}

/// Compiles and loads every kernel a step of `model` needs, with the tuning
/// table and cuBLAS handle, by recording one step (nothing runs).
pub fn prewarm(ctx: &Context, model: &DecodeModel) -> Result<()> {
    if ctx.is_cuda() {
        ctx.record(|c| model.step(c))?;
    }
    Ok(())
}

/// Runs the whole study on `ctx` (and, for the first-step study, on fresh
/// contexts of the same device).
pub fn run(ctx: &Context, o: &DecodeOptions) -> Result<DecodeReport> {
    run_with_progress(ctx, o, &Silent)
}

/// [`run`], reporting each phase (first-step study, building the model,
/// recording, timing each mode, the host-cost study, profiling) to `progress`.
pub fn run_with_progress(ctx: &Context, o: &DecodeOptions, progress: &dyn Progress) -> Result<DecodeReport> {
    if o.steps == 0 {
        return Err(Error::invalid("decode", "--steps", "at least 1", o.steps));
    }
    if !ctx.is_cuda() {
        if !o.leave_out.is_empty() {
            return Err(Error::invalid(
                "decode",
                "--leave-out",
                "a CUDA device (it times the step's CUDA graph)",
                "the CPU backend",
            ));
        }
        if let Some(m) = o.modes.iter().find(|m| **m != Mode::Eager) {
            return Err(Error::invalid(
                "decode",
                "--mode",
                "eager on the CPU backend (planned and graph need a CUDA device)",
                m,
            ));
        }
    }
    let first_step = match (ctx.cuda(), o.first_step) {
        (Some(be), true) => {
            progress.start("first step of fresh contexts, with and without prewarm", 0);
            Some(first_step_study(be, o)?)
        }
        _ => None,
    };
    let model = DecodeModel::build_with(ctx, &o.model, o.dtype, o.weights, o.batch, o.context, o.seed, progress)?;
    let bytes = model.bytes_per_step();
    // Recording the step is also its prewarm: every module loaded, every plan resolved.
    let recording = if ctx.is_cuda() {
        progress.start("recording the step (loading or compiling its kernels)", 0);
        Some(ctx.record(|c| model.step(c))?)
    } else {
        None
    };
    let left_out = match &recording {
        Some(r) => leave_out_counts(&r.labels(), &o.leave_out)?,
        None => Vec::new(),
    };
    let roofline = match ctx.cuda() {
        Some(be) => Some(crate::roofline::read_roofline(be, 10)?.gbps),
        None => None,
    };
    let graph = match (&recording, o.modes.contains(&Mode::Graph)) {
        (Some(r), true) => Some(r.capture_graph()?),
        _ => None,
    };
    let graph_label = format!("decode/graph_step/{}", o.dtype);
    let run_step = |mode: Mode| -> Result<()> {
        match (mode, &recording, &graph) {
            (Mode::Eager, _, _) => model.step(ctx),
            (Mode::Planned, Some(r), _) => r.replay(),
            (Mode::Graph, _, Some(g)) => g.launch(&graph_label, bytes),
            _ => Err(Error::invalid("decode", "--mode", "a mode this backend can run", mode)),
        }
    };
    let warmup = if ctx.is_cuda() { 3 } else { 0 };
    let mut modes = Vec::new();
    for &mode in &o.modes {
        progress.start(&format!("timing {mode} steps"), (warmup + o.steps) as u64);
        let (step_us, enqueue_us) = time_steps(ctx, warmup, o.steps, progress, || run_step(mode))?;
        let gbps = bytes as f64 / (step_us * 1e3);
        modes.push(ModeResult {
            mode,
            step_us,
            enqueue_us,
            tokens_per_s: o.batch as f64 / (step_us * 1e-6),
            gbps,
            pct_roofline: roofline.map(|r| 100.0 * gbps / r),
        });
    }
    let host_cost = match ctx.cuda() {
        Some(be) => {
            progress.start("host cost of one launch", 0);
            host_cost(ctx, be, &model)?
        }
        None => None,
    };
    // The breakdown: a few steps with every launch bracketed by events.
    let profile_steps = o.profile_steps.max(1);
    let slowest_us = modes.iter().map(|m| m.step_us).fold(0.0, f64::max);
    progress.start("profiling steps", profile_steps as u64);
    let profile = profile_steps_with(ctx, profile_steps, slowest_us, roofline, || {
        let r = match &recording {
            Some(r) => r.replay(),
            None => model.step(ctx),
        };
        progress.inc(1);
        r
    })?;
    progress.finish();
    let kernel_us_per_step = profile.total_us() / profile_steps as f64;
    let event_floor_us = match ctx.cuda() {
        Some(be) => Some(crate::roofline::empty_launch(be, 50)?.median_us),
        None => None,
    };
    // Last: the buffers' contents after these steps are not the model's.
    let mut leave_out = Vec::new();
    if let (Some(r), false) = (&recording, o.leave_out.is_empty()) {
        progress.start("leave-out studies", ((o.leave_out.len() + 1) * (warmup + o.steps)) as u64);
        let time =
            |g: &Graph| time_steps(ctx, warmup, o.steps, progress, || g.launch(&graph_label, bytes)).map(|t| t.0);
        let whole_us = match &graph {
            Some(g) => time(g)?,
            None => time(&r.capture_graph()?)?,
        };
        for (set, &launches) in o.leave_out.iter().zip(&left_out) {
            let step_us = time(&r.capture_graph_kept(|label| !leaves_out(set, label))?)?;
            leave_out.push(LeaveOut { labels: set.clone(), launches, step_us, saved_us: whole_us - step_us });
        }
        progress.finish();
    }
    let device = match ctx.cuda() {
        Some(be) => be.caps().name.clone(),
        None => format!("CPU ({} threads)", rayon::current_num_threads()),
    };
    Ok(DecodeReport {
        model: o.model.clone(),
        dtype: o.dtype,
        weights: o.weights.name().map(str::to_string),
        batch: o.batch,
        context: o.context,
        steps: o.steps,
        device,
        bytes_per_step: bytes,
        launches_per_step: recording.as_ref().map(|r| r.len()),
        roofline_gbps: roofline,
        first_step,
        modes,
        host_cost,
        profile,
        profile_steps,
        kernel_us_per_step,
        event_floor_us,
        leave_out,
    })
}

/// Runs `step` `steps` times with the profiler on and returns its report
/// (the profiler is reset before and after, and left as it was found). On a
/// GPU each step is queued behind a spin kernel several times longer than a
/// step (`step_us` is a recent measurement), so the host enqueues the whole
/// step before the GPU starts it: the event pairs then time the kernels, not
/// the host's pace of launching them.
pub fn profile_steps_with(
    ctx: &Context,
    steps: usize,
    step_us: f64,
    roofline: Option<f64>,
    mut step: impl FnMut() -> Result<()>,
) -> Result<Report> {
    let profiler = ctx.profiler();
    let was_on = profiler.is_enabled();
    profiler.reset();
    profiler.set_enabled(true);
    let spin_ns = (4.0 * step_us.max(1000.0) * 1e3) as u64 + 2_000_000;
    let profiled = (0..steps).try_for_each(|_| {
        if let Some(be) = ctx.cuda() {
            crate::runtime::timing::spin(be, spin_ns)?;
        }
        step()
    });
    let synced = ctx.synchronize();
    profiler.set_enabled(was_on);
    profiled?;
    synced?;
    let report = profiler.report(roofline);
    profiler.reset();
    report
}

/// First step in a fresh context: twice without prewarming (the process's
/// first context, then another), then with. Each context is dropped before
/// the next is made, so only one model is resident.
fn first_step_study(be: &CudaBackend, o: &DecodeOptions) -> Result<FirstStep> {
    let fresh = || Context::new(crate::context::DeviceRequest::Cuda(be.caps().ordinal));
    let counts = |c: &Context| c.cuda().map(|b| b.cache_counts()).unwrap_or_default();
    let cold = || -> Result<(f64, crate::runtime::cache::CacheCounts)> {
        let ctx = fresh()?;
        let model = DecodeModel::new(&ctx, &o.model, o.dtype, o.batch, o.context, o.seed)?;
        let t0 = Instant::now();
        model.step(&ctx)?;
        ctx.synchronize()?;
        Ok((t0.elapsed().as_secs_f64() * 1e6, counts(&ctx)))
    };
    let (cold_us, c1) = cold()?;
    let (cold_again_us, c1b) = cold()?;
    let ctx = fresh()?;
    let model = DecodeModel::new(&ctx, &o.model, o.dtype, o.batch, o.context, o.seed)?;
    let t0 = Instant::now();
    prewarm(&ctx, &model)?;
    let prewarm_us = t0.elapsed().as_secs_f64() * 1e6;
    let t0 = Instant::now();
    model.step(&ctx)?;
    ctx.synchronize()?;
    let warm_us = t0.elapsed().as_secs_f64() * 1e6;
    let c2 = counts(&ctx);
    Ok(FirstStep {
        cold_us,
        cold_again_us,
        prewarm_us,
        warm_us,
        compiled: c1.misses + c1b.misses + c2.misses,
        from_disk: c1.disk_hits + c1b.disk_hits + c2.disk_hits,
    })
}

/// Host cost of one launch of the output projection, three ways. A long spin
/// kernel queued first keeps the GPU busy, so the loop measures enqueuing
/// only. None where the projection is more than one launch.
fn host_cost(ctx: &Context, be: &CudaBackend, model: &DecodeModel) -> Result<Option<HostCost>> {
    const N: usize = 200;
    const ROUNDS: usize = 7;
    let l = &model.layers[0];
    let attn2 = model.buf.act.attn.reshape(&[model.batch, model.cfg.heads * model.cfg.head_dim])?;
    let one = || linear(ctx, &l.w.w_o, &attn2, 1.0, &model.buf.act.x);
    let rec = ctx.record(|_| one())?;
    if rec.len() != 1 {
        return Ok(None);
    }
    let label = rec.labels()[0].to_string();
    let time = |f: &dyn Fn() -> Result<()>| -> Result<f64> {
        crate::runtime::timing::spin(be, 20_000_000)?; // 20 ms of GPU work ahead of the loop
        let t0 = Instant::now();
        for _ in 0..N {
            f()?;
        }
        let us = t0.elapsed().as_secs_f64() * 1e6 / N as f64;
        be.synchronize()?;
        Ok(us)
    };
    // Rounds interleave the three ways (the host's pace drifts); the median round counts.
    let mut rounds = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        rounds[0].push(time(&|| rec.replay_bare())?);
        rounds[1].push(time(&|| rec.replay())?);
        rounds[2].push(time(&one)?);
    }
    let [bare_us, planned_us, eager_us] = rounds.map(|r| crate::runtime::timing::Stats::from_samples(r).median_us);
    Ok(Some(HostCost { label, bare_us, planned_us, eager_us }))
}

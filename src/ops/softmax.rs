//! `softmax(x, y, opts)`: y = softmax(scale * x + mask) along the last axis of a
//! [rows, cols] view, with causal exclusion; y may be x (in place).

use super::params::SoftmaxParams;
use crate::context::{Backend, Context};
use crate::dispatch::softmax::{plan_softmax, SoftmaxDesc, SoftmaxPlan, SoftmaxPrefs};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::softmax::{bytes, packable};
pub use crate::spec::softmax::{geometry, Causal, SoftmaxGeometry, SoftmaxOptions};
use crate::tensor::Tensor;

const OP: &str = "softmax";

/// `y = softmax(scale * x + mask)` per row, dispatched per shape (env
/// overrides apply unless `opts.prefs` is given).
pub fn softmax(ctx: &Context, x: &Tensor, y: &Tensor, opts: &SoftmaxOptions) -> Result<()> {
    // Validate, describe, plan (cached per description and preferences), launch.
    let g = geometry(ctx.device(), x, y, opts)?;
    if g.rows == 0 || g.cols == 0 {
        return Ok(());
    }
    let desc = desc(&g, x, y, opts, ctx.dispatcher().has_clusters());
    let prefs = ctx.dispatcher().resolve(opts.prefs, |p| p.softmax)?;
    let plan = ctx.cached_plan(&(desc, prefs), || Ok(ctx.dispatcher().plan_softmax(&desc, &prefs)))?;
    match (ctx.backend(), plan) {
        (Backend::Cpu(_), _) => {
            let label = format!("softmax/cpu/{}", x.dtype());
            ctx.profiler()
                .host(Tag { label: &label, bytes: bytes(&g, x, opts) }, || crate::cpu::softmax::softmax(&g, x, y, opts))
        }
        (Backend::Cuda(be), plan) => launch(be, &plan, &g, x, y, opts),
    }
}

/// What the dispatcher sees of a validated softmax.
pub fn desc(g: &SoftmaxGeometry, x: &Tensor, y: &Tensor, opts: &SoftmaxOptions, clusters: bool) -> SoftmaxDesc {
    SoftmaxDesc { rows: g.rows, cols: g.cols, dtype: x.dtype(), packable: packable(x, y, opts.mask), clusters }
}

/// The plan auto dispatch (or the prefs) would run on this context, for reports.
pub fn plan_for(
    ctx: &Context,
    g: &SoftmaxGeometry,
    x: &Tensor,
    y: &Tensor,
    opts: &SoftmaxOptions,
    prefs: &SoftmaxPrefs,
) -> SoftmaxPlan {
    ctx.dispatcher().plan_softmax(&desc(g, x, y, opts, ctx.dispatcher().has_clusters()), prefs)
}

/// The plan a given softmax table would choose (the tuner tries tables).
pub fn plan_for_table(
    ctx: &Context,
    g: &SoftmaxGeometry,
    x: &Tensor,
    y: &Tensor,
    opts: &SoftmaxOptions,
    prefs: &SoftmaxPrefs,
    table: &crate::tuning::SoftmaxTuning,
) -> SoftmaxPlan {
    plan_softmax(&desc(g, x, y, opts, ctx.dispatcher().has_clusters()), table, prefs)
}

/// Launches a softmax with an already chosen CUDA plan (the benchmarks time
/// each variant this way).
pub(crate) fn launch(
    be: &CudaBackend,
    plan: &SoftmaxPlan,
    g: &SoftmaxGeometry,
    x: &Tensor,
    y: &Tensor,
    o: &SoftmaxOptions,
) -> Result<()> {
    let block = match *plan {
        SoftmaxPlan::Vec { warps_per_cta, .. } | SoftmaxPlan::VecStream { warps_per_cta } => 32 * warps_per_cta,
        SoftmaxPlan::Block { threads, .. }
        | SoftmaxPlan::BlockStream { threads }
        | SoftmaxPlan::Cluster { threads, .. }
        | SoftmaxPlan::Split { threads, .. } => threads,
        SoftmaxPlan::Cpu => return Err(Error::invalid(OP, "plan", "a CUDA plan", "the CPU plan")),
    };
    let grid = plan.ctas(g.rows, g.cols);
    let grid = u32::try_from(grid).ok().filter(|&n| n <= i32::MAX as u32).ok_or_else(|| Error::Unsupported {
        op: OP,
        what: format!("{} rows of {} columns exceed the grid limit", g.rows, g.cols),
    })?;
    let ptr = |t: &Tensor, name: &str| super::device_ptr(OP, t, name);
    let (xp, yp) = (ptr(x, "x")?, ptr(y, "y")?);
    let (mp, smr, smc) = match o.mask {
        Some(m) => (ptr(m, "mask")?, m.layout().stride(0) as i64, m.layout().stride(1) as i64),
        None => (xp, 0, 0),
    };
    let params = SoftmaxParams {
        rows: g.rows as i64,
        cols: g.cols as i64,
        sxr: x.layout().stride(0) as i64,
        sxc: x.layout().stride(1) as i64,
        syr: y.layout().stride(0) as i64,
        syc: y.layout().stride(1) as i64,
        smr,
        smc,
        q_len: g.q_len as i64,
        // Clamped to cols by geometry(), so offset + r % q_len fits in i64.
        offset: g.causal_offset.unwrap_or(0) as i64,
        causal: o.causal.is_some() as i32,
        has_mask: o.mask.is_some() as i32,
        scale: o.scale,
    };
    let label = plan.label(x.dtype());
    let mut uses = vec![x, y];
    uses.extend(o.mask);
    if let SoftmaxPlan::Split { .. } = plan {
        return launch_split(be, plan, x, (xp, yp, mp), params, (grid, block), bytes(g, x, o), &uses);
    }
    let f = be.function(&kernels::SOFTMAX, kernels::dtype_build(x.dtype()), &format!("softmax_{}", plan.name()))?;
    let mut args = KernelArgs::new();
    args.push(xp).push(yp).push(mp).push(params);
    // SAFETY: geometry() checked x, y (and mask) in bounds with matching shapes,
    // y writable and not overlapping x (other than as the identical view, which
    // every variant reads before it writes, row by row) or the mask. The packed
    // variants were chosen only when every row is 16-byte aligned (packable()).
    // A kernel touches columns < cols of rows < rows, and mask rows < q_len.
    unsafe {
        be.launch(Tag { label: &label, bytes: bytes(g, x, o) }, &uses, &f, LaunchConfig::linear(grid, block), &args)
    }
}

/// The split variant's two launches on one stream: each (row, chunk) CTA's
/// (max, sum) pair into the device workspace, then each chunk normalised by
/// its row's combined pairs. The workspace is the split-K scratch every op
/// shares (grown on demand, held by a recording), so the call allocates
/// nothing else and syncs nothing: it records like any other op.
#[allow(clippy::too_many_arguments)]
fn launch_split(
    be: &CudaBackend,
    plan: &SoftmaxPlan,
    x: &Tensor,
    (xp, yp, mp): (u64, u64, u64),
    params: SoftmaxParams,
    (grid, block): (u32, u32),
    total_bytes: u64,
    uses: &[&Tensor],
) -> Result<()> {
    let SoftmaxPlan::Split { ept, pack, .. } = *plan else {
        return Err(Error::invalid(OP, "plan", "the split plan", plan.name()));
    };
    let dtype = x.dtype();
    let build = kernels::dtype_build(dtype);
    let stats = be.function(&kernels::SOFTMAX, build, &format!("softmax_split_stats_e{ept}_p{pack}"))?;
    // Two floats per CTA of a launch (grid = rows x chunks).
    let (part, _) = be.workspace(2 * grid as usize, 0)?;
    let written = (params.rows * params.cols) as u64 * dtype.size_in_bytes() as u64;
    let cfg = LaunchConfig::linear(grid, block);
    let mut args = KernelArgs::new();
    args.push(xp).push(mp).push(part).push(params);
    let stats_label = format!("softmax/split_stats_e{ept}_p{pack}_{block}/{dtype}");
    // SAFETY: as in launch() for x and the mask (read only, in bounds: rows <
    // rows, columns < cols, mask rows < q_len); CTA b < grid writes part[2 b]
    // and part[2 b + 1], and the workspace holds 2 x grid floats.
    unsafe { be.launch(Tag { label: &stats_label, bytes: total_bytes - written }, uses, &stats, cfg, &args)? };
    let mut args = KernelArgs::new();
    args.push(xp).push(yp).push(mp).push(part).push(params);
    // A programmatic dependent of the stats launch where that launch's
    // threads fit the device at once: split_norm then loads its chunk of x
    // while the stats run and waits for them (pdl_wait) before reading the
    // pairs or writing y (kernels/softmax.cu). H200 (BENCHMARKS.md,
    // 2026-12-02, nineteenth session): 1-16 rows of 32769-262144 columns
    // 10.6 -> 8.9 us (1 x 128256 f16), 16.6 -> 14.4 (16 x 151936 f16); grids
    // of several waves lost (64 x 262144 f16 67 -> 86 us), so they keep two
    // ordinary launches and main's kernel (the pairs merged before the loads).
    let caps = be.caps();
    let one_wave = u64::from(grid) * u64::from(block) <= u64::from(caps.sm_count) * u64::from(caps.max_threads_per_sm);
    let norm_cfg = LaunchConfig { dependent: one_wave, ..cfg };
    let early = if one_wave { "_early" } else { "" };
    let norm = be.function(&kernels::SOFTMAX, build, &format!("softmax_split_norm{early}_e{ept}_p{pack}"))?;
    // SAFETY: as in launch() for x, y and the mask (in place, each thread
    // re-reads exactly the elements it then writes, and writes only after
    // its wait, when the stats launch has read all of x); the kernel reads
    // the 2 x grid floats the launch above wrote after waiting for it, on
    // the one stream (and in a recording, replayed in the same order).
    unsafe { be.launch(Tag { label: &plan.label(dtype), bytes: written }, uses, &norm, norm_cfg, &args) }
}

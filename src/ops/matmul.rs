//! `matmul`: C[M,N] = alpha * A[M,K]·B[K,N] + beta * C[M,N], with an optional
//! batch dimension. A, B, C are views: 2-D, or 3-D with a leading batch
//! dimension. A 2-D operand (or a batch stride of 0) broadcasts over the batch;
//! with a group factor g, batch b of C reads batch b / g of A (GQA).
//! `beta == 0` never reads C.

use super::params::GemvParams;
use crate::context::{Backend, Context};
use crate::dispatch::matmul::{GemvPlan, MatmulDesc, MatmulPlan, MatmulPrefs, GEMV_MAX_N};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::matmul::check_scalars;
pub use crate::spec::matmul::{geometry, Geometry, MatmulOptions};
use crate::tensor::Tensor;

const OP: &str = "matmul";

/// `c = alpha * a·b + beta * c`, dispatched per shape (env overrides apply).
pub fn matmul(ctx: &Context, alpha: f32, a: &Tensor, b: &Tensor, beta: f32, c: &Tensor) -> Result<()> {
    matmul_with(ctx, alpha, a, b, beta, c, &MatmulOptions::default())
}

/// [`matmul`] with options: a GQA group factor, and dispatch preferences
/// that replace the environment's.
pub fn matmul_with(
    ctx: &Context,
    alpha: f32,
    a: &Tensor,
    b: &Tensor,
    beta: f32,
    c: &Tensor,
    opts: &MatmulOptions,
) -> Result<()> {
    // Validate, describe, plan (cached: a shape seen before on this context
    // dispatches by one lookup, since the plan depends only on the geometry,
    // offsets aside, their alignment being in the desc, and the preferences),
    // launch.
    let g = geometry(ctx.device(), a, b, c, opts.group)?;
    let desc = g.desc();
    let prefs = ctx.dispatcher().resolve(opts.prefs, |p| p.matmul)?;
    let key = (Geometry { offsets: [0; 3], ..g }, desc, prefs);
    let plan = ctx.cached_plan(&key, || plan_from(ctx, g, prefs, opts.group).map(std::sync::Arc::new))?;
    plan.run(ctx, &g, alpha, a, b, beta, c)
}

/// One resolved GEMV launch over a chunk of columns.
#[derive(Debug, Clone)]
struct GemvChunk {
    n0: usize,
    function: cudarc::driver::CudaFunction,
    /// The same kernel's `w` twin, run where A is fixed (`GemvPlan::fixed_a_kernel_name`).
    fixed_a_function: Option<cudarc::driver::CudaFunction>,
    grid: (u32, u32, u32),
    tile_elems: usize,
    label: String,
}

/// A plan resolved once (variant, function handles, launch shapes, scratch)
/// and launched many times on views of the same geometry.
#[derive(Debug, Clone)]
pub struct MatmulPlanHandle {
    geometry: Geometry,
    /// What the dispatcher saw; a launch's views must present the same.
    desc: MatmulDesc,
    plan: MatmulPlan,
    group: usize,
    chunks: Vec<GemvChunk>,
    /// Split-K scratch (partial floats, counters) the chunks need; (0, 0) without splits.
    scratch: (usize, usize),
    label: String,
}

/// Resolves the plan for these views' geometry (the views' contents are not read).
pub fn plan_matmul(
    ctx: &Context,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    opts: &MatmulOptions,
) -> Result<MatmulPlanHandle> {
    let g = geometry(ctx.device(), a, b, c, opts.group)?;
    let prefs = ctx.dispatcher().resolve(opts.prefs, |p| p.matmul)?;
    plan_from(ctx, g, prefs, opts.group)
}

/// The plan for a validated geometry.
fn plan_from(ctx: &Context, g: Geometry, prefs: MatmulPrefs, group: usize) -> Result<MatmulPlanHandle> {
    let desc = g.desc();
    let (plan, chunks, scratch) = match ctx.backend() {
        Backend::Cpu(_) => (MatmulPlan::Cpu, Vec::new(), (0, 0)),
        Backend::Cuda(be) => {
            let plan = ctx.dispatcher().plan_matmul(&desc, &prefs, be.cublas_available())?;
            let (chunks, scratch) = match plan {
                MatmulPlan::Gemv(gp) => resolve_gemv(be, &g, &gp)?,
                MatmulPlan::Cublas => {
                    be.cublas()?;
                    (Vec::new(), (0, 0))
                }
                MatmulPlan::Cpu => {
                    return Err(Error::Unsupported { op: OP, what: "a CPU plan on a CUDA context".into() })
                }
            };
            (plan, chunks, scratch)
        }
    };
    let label = match (&plan, chunks.first()) {
        (MatmulPlan::Gemv(_), Some(ch)) => ch.label.clone(),
        _ => format!("matmul/{}/{}", plan.name(), g.dtype),
    };
    Ok(MatmulPlanHandle { geometry: g, desc, plan, group: group.max(1), chunks, scratch, label })
}

/// The launches of a GEMV plan, one per chunk of up to 16 columns, and the
/// split-K scratch they need (allocated here, so launches never allocate).
/// The GEMV kernels' parameters for `g`'s strides, `n` of its columns (a
/// launch's chunk) and the plan's K split.
pub(super) fn gemv_params(g: &Geometry, n: usize, gp: &GemvPlan, alpha: f32, beta: f32) -> GemvParams {
    GemvParams {
        m: g.m as i64,
        k: g.k as i64,
        n: n as i64,
        sam: g.a[0] as i64,
        sak: g.a[1] as i64,
        sbk: g.b[0] as i64,
        sbn: g.b[1] as i64,
        scm: g.c[0] as i64,
        scn: g.c[1] as i64,
        sab: g.a[2] as i64,
        sbb: g.b[2] as i64,
        scb: g.c[2] as i64,
        group: g.group as i64,
        k_per_split: gp.k_per_split.max(1) as i64,
        alpha,
        beta,
    }
}

fn resolve_gemv(be: &CudaBackend, g: &Geometry, gp: &GemvPlan) -> Result<(Vec<GemvChunk>, (usize, usize))> {
    let defines = kernels::dtype_build(g.dtype);
    let mut chunks = Vec::new();
    let mut n0 = 0;
    while n0 < g.n.max(1) {
        let nc = (g.n - n0).clamp(1, GEMV_MAX_N);
        let rows = gp.rows_per_cta(nc, g.dtype);
        // Checked before the casts below: the grid's x is at most 2^31 - 1
        // CTAs and its z (the batch) at most 65535.
        let ctas = g.m.div_ceil(rows).max(1);
        if ctas > i32::MAX as usize || g.batch > 65535 {
            return Err(Error::Unsupported {
                op: OP,
                what: format!("a grid of {ctas} x {} x {} CTAs exceeds the device's launch limits", gp.splits, g.batch),
            });
        }
        let fixed_a_function = match gp.fixed_a_kernel_name(nc, g.dtype) {
            Some(w) => Some(be.function(&kernels::GEMV, defines, &w)?),
            None => None,
        };
        chunks.push(GemvChunk {
            n0,
            function: be.function(&kernels::GEMV, defines, &gp.kernel_name(nc, g.dtype))?,
            fixed_a_function,
            grid: (ctas as u32, gp.splits, g.batch as u32),
            tile_elems: gp.tile_elems(nc, g.dtype),
            label: format!("matmul/gemv_{}_n{}{}/{}", gp.variant.name(), nc, gp.groups_suffix(), g.dtype),
        });
        n0 += nc;
    }
    let scratch = if gp.splits > 1 {
        let partials = chunks
            .iter()
            .map(|c| c.grid.0 as usize * c.grid.1 as usize * c.grid.2 as usize * c.tile_elems)
            .max()
            .unwrap_or(0);
        let counters = chunks.iter().map(|c| c.grid.0 as usize * c.grid.2 as usize).max().unwrap_or(0);
        be.workspace(partials, counters)?;
        (partials, counters)
    } else {
        (0, 0)
    };
    Ok((chunks, scratch))
}

impl MatmulPlanHandle {
    /// What the dispatcher chose (GEMV variant and launch shape, or cuBLAS).
    pub fn plan(&self) -> &MatmulPlan {
        &self.plan
    }

    /// The profiling label of the (first) launch, e.g. `matmul/gemv_mma_n8/f16`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The geometry planned for; [`MatmulPlanHandle::launch`] accepts views
    /// of this geometry at any offsets.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Runs the plan on views whose geometry matches the planned one.
    pub fn launch(&self, ctx: &Context, alpha: f32, a: &Tensor, b: &Tensor, beta: f32, c: &Tensor) -> Result<()> {
        let g = geometry(ctx.device(), a, b, c, self.group)?;
        let same = Geometry { offsets: self.geometry.offsets, ..g } == self.geometry && g.desc() == self.desc;
        if !same {
            return Err(Error::invalid(
                OP,
                "views",
                format!(
                    "the geometry the plan was made for ({}x{}x{}, batch {})",
                    self.geometry.m, self.geometry.k, self.geometry.n, self.geometry.batch
                ),
                format!("{}x{}x{}, batch {} (or other strides or alignment)", g.m, g.k, g.n, g.batch),
            ));
        }
        self.run(ctx, &g, alpha, a, b, beta, c)
    }

    /// Runs on views already validated to have geometry `g` (the plan's, up to offsets).
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        ctx: &Context,
        g: &Geometry,
        alpha: f32,
        a: &Tensor,
        b: &Tensor,
        beta: f32,
        c: &Tensor,
    ) -> Result<()> {
        check_scalars(alpha, beta)?;
        let g = *g;
        if g.m == 0 || g.n == 0 || g.batch == 0 {
            return Ok(());
        }
        match ctx.backend() {
            Backend::Cpu(_) => ctx.profiler().host(Tag { label: &self.label, bytes: g.min_bytes(beta != 0.0) }, || {
                crate::cpu::matmul::matmul(&g, alpha, a, b, beta, c)
            }),
            Backend::Cuda(be) => {
                let ptr = |t: &Tensor, name: &str| super::device_ptr(OP, t, name);
                let (pa, pb, pc) = (ptr(a, "a")?, ptr(b, "b")?, ptr(c, "c")?);
                match self.plan {
                    MatmulPlan::Gemv(gp) => self.launch_gemv(be, &g, &gp, alpha, beta, (pa, pb, pc), [a, b, c]),
                    MatmulPlan::Cublas => launch_cublas(be, &self.label, &g, alpha, beta, (pa, pb, pc), &[a, b, c]),
                    MatmulPlan::Cpu => {
                        Err(Error::invalid(OP, "plan", "a plan made on this CUDA context", "a CPU plan"))
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_gemv(
        &self,
        be: &CudaBackend,
        g: &Geometry,
        gp: &GemvPlan,
        alpha: f32,
        beta: f32,
        ptrs: (u64, u64, u64),
        uses: [&Tensor; 3],
    ) -> Result<()> {
        let e = g.dtype.size_in_bytes() as u64;
        let a_batches = if g.a[2] == 0 { 1 } else { (g.batch / g.group) as u64 };
        // Offsets may change between launches (same alignment class, checked
        // above); the scratch was sized and allocated when the plan was made.
        let (ws, counters) = if gp.splits > 1 { be.workspace(self.scratch.0, self.scratch.1)? } else { (0, 0) };
        for ch in &self.chunks {
            let nc = self.chunk_n(ch);
            let params = gemv_params(g, nc, gp, alpha, beta);
            let mut args = KernelArgs::new();
            args.push(ptrs.0)
                .push(ptrs.1 + (ch.n0 * g.b[1]) as u64 * e)
                .push(ptrs.2 + (ch.n0 * g.c[1]) as u64 * e)
                .push(ws)
                .push(counters)
                .push(params);
            // Every GEMV entry point waits for the previous launch first (kernels/gemv.cu).
            let cfg = LaunchConfig {
                grid: ch.grid,
                block: (gp.block.0, gp.block.1, 1),
                shared_bytes: 0,
                dependent: true,
                cluster: 0,
            };
            // SAFETY: `geometry` checked every view in bounds of its buffer, the
            // shapes consistent and C disjoint from A and B; the plan's variant
            // was chosen for this geometry's alignment (re-checked above), the
            // kernel reads only A[m < M, k < K], B[k < K, n0 + n < n0 + nc],
            // writes only C[m < M, n0 + n], and split-K scratch was sized for
            // every chunk's grid and tile.
            let bytes = e
                * (a_batches * (g.m * g.k) as u64
                    + (g.batch * nc) as u64 * (g.k + g.m * if beta != 0.0 { 2 } else { 1 }) as u64);
            // A fixed A takes the chunk's `w` kernel where it has one.
            let function = match (&ch.fixed_a_function, uses[0].is_fixed()) {
                (Some(f), true) => f,
                _ => &ch.function,
            };
            unsafe { be.launch(Tag { label: &ch.label, bytes }, &uses, function, cfg, &args)? };
        }
        Ok(())
    }

    fn chunk_n(&self, ch: &GemvChunk) -> usize {
        (self.geometry.n - ch.n0).min(GEMV_MAX_N)
    }
}

fn launch_cublas(
    be: &CudaBackend,
    label: &str,
    g: &Geometry,
    alpha: f32,
    beta: f32,
    (pa, pb, pc): (u64, u64, u64),
    uses: &[&Tensor],
) -> Result<()> {
    let tag = Tag { label, bytes: g.min_bytes(beta != 0.0) };
    let e = g.dtype.size_in_bytes() as u64;
    if g.group <= 1 {
        let call = g
            .cublas_call(pa, pb, pc)
            .ok_or_else(|| Error::Unsupported { op: OP, what: "a layout cuBLAS cannot express".into() })?;
        // SAFETY: geometry() validated every view in bounds; cublas_call derived
        // the leading dimensions and strides from those views.
        return unsafe { be.gemm(tag, uses, g.dtype, &call, alpha, beta) };
    }
    // Grouped: one call per A batch over the `group` C batches that share it.
    let sub = Geometry { batch: g.group, group: 1, a: [g.a[0], g.a[1], 0], ..*g };
    for ab in 0..g.batch / g.group {
        let b0 = (ab * g.group) as u64;
        let call = sub
            .cublas_call(pa + (ab * g.a[2]) as u64 * e, pb + b0 * g.b[2] as u64 * e, pc + b0 * g.c[2] as u64 * e)
            .ok_or_else(|| Error::Unsupported { op: OP, what: "a layout cuBLAS cannot express".into() })?;
        // SAFETY: as above, for the sub-batch [b0, b0 + group).
        unsafe { be.gemm(Tag { label, bytes: sub.min_bytes(beta != 0.0) }, uses, g.dtype, &call, alpha, beta)? };
    }
    Ok(())
}

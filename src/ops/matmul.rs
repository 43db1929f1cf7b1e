//! `matmul`: C[M,N] = alpha * A[M,K]·B[K,N] + beta * C[M,N], with an optional
//! batch dimension. A, B, C are views: 2-D, or 3-D with a leading batch
//! dimension. A 2-D operand (or a batch stride of 0) broadcasts over the batch;
//! with a group factor g, batch b of C reads batch b / g of A (GQA).
//! `beta == 0` never reads C.

use crate::context::{Backend, Context};
use crate::dispatch::matmul::{
    plan_matmul as dispatch, vec_elems, ALayout, GemvPlan, MatmulDesc, MatmulPlan, MatmulPrefs, GEMV_MAX_N,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::cublas::{GemmCall, Operand};
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::Tensor;

const OP: &str = "matmul";

/// Options beyond alpha and beta.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatmulOptions {
    /// Batch b of C reads batch b / group of A (0 or 1: no grouping).
    pub group: usize,
    /// Dispatch preferences; None reads DK_MATMUL_BACKEND and DK_MATMUL_SMALLN_MAX_N.
    pub prefs: Option<MatmulPrefs>,
}

/// Shape and strides (in elements) of one matmul, batch made explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub group: usize,
    pub dtype: DType,
    /// (m, k, batch) strides of A, (k, n, batch) of B, (m, n, batch) of C.
    pub a: [usize; 3],
    pub b: [usize; 3],
    pub c: [usize; 3],
    /// View offsets, in elements.
    pub offsets: [usize; 3],
}

/// Splits a 2-D or 3-D view into (batch, rows, cols) with strides.
fn dims(arg: &str, t: &Tensor) -> Result<(usize, [usize; 2], [usize; 3])> {
    let s = t.shape();
    let st = t.layout().strides();
    match t.rank() {
        2 => Ok((1, [s[0], s[1]], [st[0], st[1], 0])),
        3 => Ok((s[0], [s[1], s[2]], [st[1], st[2], st[0]])),
        _ => Err(Error::invalid(OP, arg, "a 2-D [rows, cols] or 3-D [batch, rows, cols] view", format!("shape {s:?}"))),
    }
}

/// Validates the views and returns the problem's geometry.
pub fn geometry(ctx: &Context, a: &Tensor, b: &Tensor, c: &Tensor, group: usize) -> Result<Geometry> {
    for (name, t) in [("a", a), ("b", b), ("c", c)] {
        validate::check_device(OP, name, t, ctx.device())?;
    }
    validate::check_dtype(OP, "a", a, c.dtype())?;
    validate::check_dtype(OP, "b", b, c.dtype())?;
    let (ab, [m, k], sa) = dims("a", a)?;
    let (bb, [kb, n], sb) = dims("b", b)?;
    let (batch, [mc, nc], sc) = dims("c", c)?;
    let group = group.max(1);
    if kb != k {
        return Err(Error::invalid(OP, "b", format!("{k} rows (A is {m}x{k})"), format!("shape {:?}", b.shape())));
    }
    if (mc, nc) != (m, n) {
        return Err(Error::invalid(
            OP,
            "c",
            format!("[{m}, {n}] matrices (A is {m}x{k}, B is {k}x{n})"),
            format!("shape {:?}", c.shape()),
        ));
    }
    if batch % group != 0 {
        return Err(Error::invalid(OP, "group", format!("a divisor of the batch size {batch}"), group));
    }
    if a.rank() == 3 && ab * group != batch {
        return Err(Error::invalid(
            OP,
            "a",
            format!("a batch of {} (C's batch {batch} / group {group}) or a 2-D view", batch / group),
            format!("shape {:?}", a.shape()),
        ));
    }
    if b.rank() == 3 && bb != batch {
        return Err(Error::invalid(
            OP,
            "b",
            format!("a batch of {batch} (as C) or a 2-D view"),
            format!("shape {:?}", b.shape()),
        ));
    }
    validate::check_writable(OP, "c", c)?;
    validate::check_overlap(OP, "c", c, &[("a", a), ("b", b)], Aliasing::Forbidden)?;
    Ok(Geometry {
        m,
        n,
        k,
        batch,
        group,
        dtype: c.dtype(),
        a: sa,
        b: sb,
        c: sc,
        offsets: [a.layout().offset(), b.layout().offset(), c.layout().offset()],
    })
}

impl Geometry {
    /// What the dispatcher sees.
    pub fn desc(&self) -> MatmulDesc {
        let v = vec_elems(self.dtype);
        let [sam, sak, sab] = self.a;
        let [sbk, sbn, sbb] = self.b;
        let div = |x: usize| x % v == 0;
        let a_layout = if sak == 1 || self.k == 1 {
            ALayout::KContiguous
        } else if sam == 1 || self.m == 1 {
            ALayout::MContiguous
        } else {
            ALayout::Strided
        };
        let a_vec_aligned = div(self.offsets[0])
            && div(sab)
            && match a_layout {
                ALayout::KContiguous => sak == 1 && div(self.k) && (self.m == 1 || div(sam)),
                ALayout::MContiguous => sam == 1 && div(self.m) && (self.k == 1 || div(sak)),
                ALayout::Strided => false,
            };
        let b_vec_aligned = sbk == 1 && div(self.k) && div(self.offsets[1]) && div(sbb) && (self.n == 1 || div(sbn));
        MatmulDesc {
            m: self.m,
            n: self.n,
            k: self.k,
            batch: self.batch,
            dtype: self.dtype,
            a_layout,
            a_vec_aligned,
            b_vec_aligned,
            cublas_layout: self.cublas_call(0, 0, 0).is_some(),
        }
    }

    /// The cuBLAS call for this geometry (pointers filled in by the caller), if
    /// cuBLAS can express it: one unit stride per operand, leading dimensions
    /// in range, 32-bit sizes. Grouped batches become one call per A batch.
    pub fn cublas_call(&self, a_ptr: u64, b_ptr: u64, c_ptr: u64) -> Option<GemmCall> {
        let i32_ok = |x: usize| i32::try_from(x).is_ok();
        if ![self.m, self.n, self.k, self.batch].into_iter().all(i32_ok) || self.m == 0 || self.n == 0 || self.k == 0 {
            return None;
        }
        let [sam, sak, sab] = self.a;
        let [sbk, sbn, sbb] = self.b;
        let [scm, scn, scb] = self.c;
        let (m, n, k) = (self.m, self.n, self.k);
        // C col-major: C = op(A) op(B). C row-major: C^T = op(B^T) op(A^T).
        if let Some(ldc) = col_major_ld(scm, scn, m, n) {
            let a = operand(sam, sak, m, k)?;
            let b = operand(sbk, sbn, k, n)?;
            return Some(self.call(m, n, k, a, b, ldc, (a_ptr, sab), (b_ptr, sbb), (c_ptr, scb)));
        }
        let ldc = col_major_ld(scn, scm, n, m)?;
        let a = operand(sbn, sbk, n, k)?;
        let b = operand(sak, sam, k, m)?;
        Some(self.call(n, m, k, a, b, ldc, (b_ptr, sbb), (a_ptr, sab), (c_ptr, scb)))
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: Operand,
        b: Operand,
        ldc: i32,
        pa: (u64, usize),
        pb: (u64, usize),
        pc: (u64, usize),
    ) -> GemmCall {
        GemmCall {
            m: m as i32,
            n: n as i32,
            k: k as i32,
            a,
            b,
            ldc,
            a_ptr: pa.0,
            b_ptr: pb.0,
            c_ptr: pc.0,
            stride_a: pa.1 as i64,
            stride_b: pb.1 as i64,
            stride_c: pc.1 as i64,
            batch: self.batch as i32,
        }
    }

    /// Bytes a matmul must move at least: A, B and C once (C twice when beta != 0).
    pub fn min_bytes(&self, beta_nonzero: bool) -> u64 {
        let e = self.dtype.size_in_bytes() as u64;
        let a_batches = if self.a[2] == 0 { 1 } else { (self.batch / self.group) as u64 };
        let b_batches = if self.b[2] == 0 { 1 } else { self.batch as u64 };
        let c = (self.batch * self.m * self.n) as u64 * if beta_nonzero { 2 } else { 1 };
        e * (a_batches * (self.m * self.k) as u64 + b_batches * (self.k * self.n) as u64 + c)
    }
}

/// Leading dimension when [rows, cols] with strides (sr, sc) is column-major.
fn col_major_ld(sr: usize, sc: usize, rows: usize, cols: usize) -> Option<i32> {
    if !(sr == 1 || rows == 1) {
        return None;
    }
    let ld = if cols == 1 { rows.max(1) } else { sc };
    (ld >= rows.max(1)).then(|| i32::try_from(ld).ok()).flatten()
}

/// An operand [rows, cols] as cuBLAS takes it: column-major, or transposed.
fn operand(sr: usize, sc: usize, rows: usize, cols: usize) -> Option<Operand> {
    if let Some(ld) = col_major_ld(sr, sc, rows, cols) {
        return Some(Operand { transpose: false, ld });
    }
    col_major_ld(sc, sr, cols, rows).map(|ld| Operand { transpose: true, ld })
}

/// `c = alpha * a·b + beta * c`, dispatched per shape (env overrides apply).
pub fn matmul(ctx: &Context, alpha: f32, a: &Tensor, b: &Tensor, beta: f32, c: &Tensor) -> Result<()> {
    matmul_with(ctx, alpha, a, b, beta, c, &MatmulOptions::default())
}

pub fn matmul_with(
    ctx: &Context,
    alpha: f32,
    a: &Tensor,
    b: &Tensor,
    beta: f32,
    c: &Tensor,
    opts: &MatmulOptions,
) -> Result<()> {
    let g = geometry(ctx, a, b, c, opts.group)?;
    let prefs = match opts.prefs {
        Some(p) => p,
        None => ctx.env_prefs()?.matmul,
    };
    match ctx.cuda() {
        // A shape seen before on this device dispatches by one lookup: the plan
        // depends only on the geometry (offsets aside: their alignment is in
        // the desc) and the preferences.
        Some(be) => {
            let key = (Geometry { offsets: [0; 3], ..g }, g.desc(), prefs);
            let plan = be.cached_plan(&key, || plan_from(ctx, g, prefs, opts.group).map(std::sync::Arc::new))?;
            plan.run(ctx, &g, alpha, a, b, beta, c)
        }
        None => plan_from(ctx, g, prefs, opts.group)?.run(ctx, &g, alpha, a, b, beta, c),
    }
}

/// One resolved GEMV launch over a chunk of columns.
#[derive(Debug, Clone)]
struct GemvChunk {
    n0: usize,
    function: cudarc::driver::CudaFunction,
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
    let g = geometry(ctx, a, b, c, opts.group)?;
    let prefs = match opts.prefs {
        Some(p) => p,
        None => ctx.env_prefs()?.matmul,
    };
    plan_from(ctx, g, prefs, opts.group)
}

/// The plan for a validated geometry.
fn plan_from(ctx: &Context, g: Geometry, prefs: MatmulPrefs, group: usize) -> Result<MatmulPlanHandle> {
    let desc = g.desc();
    let (plan, chunks, scratch) = match ctx.backend() {
        Backend::Cpu(_) => (MatmulPlan::Cpu, Vec::new(), (0, 0)),
        Backend::Cuda(be) => {
            let (table, _) = be.tuning()?;
            let plan = dispatch(&desc, be.caps(), &table.matmul, &prefs, be.cublas_available())?;
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
fn resolve_gemv(be: &CudaBackend, g: &Geometry, gp: &GemvPlan) -> Result<(Vec<GemvChunk>, (usize, usize))> {
    let defines = kernels::dtype_build(g.dtype);
    let vecm_tx = gp.block.0;
    let mut chunks = Vec::new();
    let mut n0 = 0;
    while n0 < g.n.max(1) {
        let nc = (g.n - n0).min(GEMV_MAX_N).max(1);
        let name = format!("gemv_{}_n{}_{}", gp.variant.name(), nc, g.dtype);
        let rows = gp.variant.rows_per_cta(nc, g.dtype, vecm_tx);
        chunks.push(GemvChunk {
            n0,
            function: be.function(&kernels::GEMV, defines, &name)?,
            grid: (g.m.div_ceil(rows).max(1) as u32, gp.splits, g.batch as u32),
            tile_elems: gp.variant.tile_elems(nc, g.dtype, vecm_tx),
            label: format!("matmul/gemv_{}_n{}/{}", gp.variant.name(), nc, g.dtype),
        });
        n0 += nc;
    }
    let max_grid = u32::MAX as usize;
    for ch in &chunks {
        if ch.grid.0 as usize >= max_grid || ch.grid.2 > 65535 {
            return Err(Error::Unsupported {
                op: OP,
                what: format!("grid {:?} exceeds the device's launch limits", ch.grid),
            });
        }
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

/// Kernel parameters (kernels/gemv.cu: GemvParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct GemvParams {
    m: i64,
    k: i64,
    n: i64,
    sam: i64,
    sak: i64,
    sbk: i64,
    sbn: i64,
    scm: i64,
    scn: i64,
    sab: i64,
    sbb: i64,
    scb: i64,
    group: i64,
    k_per_split: i64,
    alpha: f32,
    beta: f32,
}

impl MatmulPlanHandle {
    pub fn plan(&self) -> &MatmulPlan {
        &self.plan
    }

    /// The profiling label of the (first) launch, e.g. `matmul/gemv_mma_n8/f16`.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Runs the plan on views whose geometry matches the planned one.
    pub fn launch(&self, ctx: &Context, alpha: f32, a: &Tensor, b: &Tensor, beta: f32, c: &Tensor) -> Result<()> {
        let g = geometry(ctx, a, b, c, self.group)?;
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
        let g = *g;
        if g.m == 0 || g.n == 0 || g.batch == 0 {
            return Ok(());
        }
        match ctx.backend() {
            Backend::Cpu(_) => ctx.profiler().host(Tag { label: &self.label, bytes: g.min_bytes(beta != 0.0) }, || {
                crate::cpu::matmul::matmul(&g, alpha, a, b, beta, c)
            }),
            Backend::Cuda(be) => {
                let ptr = |t: &Tensor, name: &str| {
                    t.device_ptr().ok_or_else(|| Error::invalid(OP, name, "a device tensor", "a host tensor"))
                };
                let (pa, pb, pc) = (ptr(a, "a")?, ptr(b, "b")?, ptr(c, "c")?);
                match self.plan {
                    MatmulPlan::Gemv(gp) => self.launch_gemv(be, &g, &gp, alpha, beta, (pa, pb, pc), &[a, b, c]),
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
        uses: &[&Tensor],
    ) -> Result<()> {
        let e = g.dtype.size_in_bytes() as u64;
        let a_batches = if g.a[2] == 0 { 1 } else { (g.batch / g.group) as u64 };
        // Offsets may change between launches (same alignment class, checked
        // above); the scratch was sized and allocated when the plan was made.
        let (ws, counters) = if gp.splits > 1 { be.workspace(self.scratch.0, self.scratch.1)? } else { (0, 0) };
        for ch in &self.chunks {
            let nc = self.chunk_n(ch);
            let params = GemvParams {
                m: g.m as i64,
                k: g.k as i64,
                n: nc as i64,
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
            };
            let mut args = KernelArgs::new();
            args.push(ptrs.0)
                .push(ptrs.1 + (ch.n0 * g.b[1]) as u64 * e)
                .push(ptrs.2 + (ch.n0 * g.c[1]) as u64 * e)
                .push(ws)
                .push(counters)
                .push(params);
            let cfg = LaunchConfig { grid: ch.grid, block: (gp.block.0, gp.block.1, 1), shared_bytes: 0 };
            // SAFETY: `geometry` checked every view in bounds of its buffer, the
            // shapes consistent and C disjoint from A and B; the plan's variant
            // was chosen for this geometry's alignment (re-checked above), the
            // kernel reads only A[m < M, k < K], B[k < K, n0 + n < n0 + nc],
            // writes only C[m < M, n0 + n], and split-K scratch was sized for
            // every chunk's grid and tile.
            let bytes = e
                * (a_batches * (g.m * g.k) as u64
                    + (g.batch * nc) as u64 * (g.k + g.m * if beta != 0.0 { 2 } else { 1 }) as u64);
            unsafe { be.launch(Tag { label: &ch.label, bytes }, uses, &ch.function, cfg, &args)? };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(a: [usize; 3], b: [usize; 3], c: [usize; 3], m: usize, n: usize, k: usize) -> Geometry {
        Geometry { m, n, k, batch: 1, group: 1, dtype: DType::F16, a, b, c, offsets: [0; 3] }
    }

    #[test]
    fn cublas_mapping_for_decode_layouts() {
        // Weights [M,K] row-major, activations [N,K] (B = X^T), output [N,M] (C = Y^T).
        let (m, n, k) = (4096, 8, 1024);
        let g = geo([k, 1, 0], [1, k, 0], [1, m, 0], m, n, k);
        let call = g.cublas_call(1, 2, 3).unwrap();
        assert_eq!((call.m, call.n, call.k, call.ldc), (4096, 8, 1024, 4096));
        assert_eq!(call.a, Operand { transpose: true, ld: 1024 });
        assert_eq!(call.b, Operand { transpose: false, ld: 1024 });
        assert_eq!((call.a_ptr, call.b_ptr, call.c_ptr), (1, 2, 3));
        // Row-major C swaps the operands.
        let g = geo([k, 1, 0], [n, 1, 0], [n, 1, 0], m, n, k);
        let call = g.cublas_call(1, 2, 3).unwrap();
        assert_eq!((call.m, call.n, call.ldc), (8, 4096, 8));
        assert_eq!((call.a_ptr, call.b_ptr), (2, 1));
        assert_eq!(call.a, Operand { transpose: false, ld: 8 }, "B^T [N,K] with unit stride along N");
        assert_eq!(call.b, Operand { transpose: false, ld: 1024 }, "A^T [K,M] with unit stride along K");
        // No unit stride anywhere in A: not expressible.
        assert!(geo([2 * k, 2, 0], [1, k, 0], [1, m, 0], m, n, k).cublas_call(0, 0, 0).is_none());
    }

    #[test]
    fn min_bytes_counts_each_operand_once() {
        let g = geo([4, 1, 0], [1, 4, 0], [1, 2, 0], 2, 3, 4);
        assert_eq!(g.min_bytes(false), 2 * (8 + 12 + 6));
        assert_eq!(g.min_bytes(true), 2 * (8 + 12 + 12));
    }
}

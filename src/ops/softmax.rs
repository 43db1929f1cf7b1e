//! `softmax(x, y, opts)`: y = softmax(scale * x + mask) along the last axis of a
//! [rows, cols] view, with causal exclusion; y may be x (in place).

use crate::context::{Backend, Context};
use crate::dispatch::softmax::{plan_softmax, SoftmaxDesc, SoftmaxPlan, SoftmaxPrefs};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::Tensor;

const OP: &str = "softmax";

/// Causal exclusion: row r is query position `offset + r % q_len`; columns
/// after that position are excluded (given 0, and not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Causal {
    pub q_len: usize,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct SoftmaxOptions<'a> {
    pub scale: f32,
    pub causal: Option<Causal>,
    /// An additive [q_len, cols] mask; row r uses mask row r % q_len.
    pub mask: Option<&'a Tensor>,
    /// None reads DK_SOFTMAX_BACKEND.
    pub prefs: Option<SoftmaxPrefs>,
}

impl Default for SoftmaxOptions<'_> {
    fn default() -> Self {
        SoftmaxOptions { scale: 1.0, causal: None, mask: None, prefs: None }
    }
}

/// The validated problem.
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxGeometry {
    pub rows: usize,
    pub cols: usize,
    /// Rows per mask/causal period (1 when neither is given).
    pub q_len: usize,
}

pub fn geometry(ctx: &Context, x: &Tensor, y: &Tensor, o: &SoftmaxOptions) -> Result<SoftmaxGeometry> {
    validate::check_device(OP, "x", x, ctx.device())?;
    validate::check_device(OP, "y", y, ctx.device())?;
    validate::check_rank(OP, "x", x, 2)?;
    validate::check_shape(OP, "y", y, x.shape())?;
    validate::check_dtype(OP, "y", y, x.dtype())?;
    validate::check_writable(OP, "y", y)?;
    validate::check_overlap(OP, "y", y, &[("x", x)], Aliasing::IdenticalAllowed)?;
    let (rows, cols) = (x.shape()[0], x.shape()[1]);
    let mut q_len = 1;
    if let Some(c) = o.causal {
        if c.q_len == 0 {
            return Err(Error::invalid(OP, "causal.q_len", "at least 1", 0));
        }
        q_len = c.q_len;
    }
    if let Some(m) = o.mask {
        validate::check_device(OP, "mask", m, ctx.device())?;
        validate::check_rank(OP, "mask", m, 2)?;
        validate::check_dtype(OP, "mask", m, x.dtype())?;
        let expect_rows = if o.causal.is_some() { q_len } else { m.shape()[0] };
        validate::check_shape(OP, "mask", m, &[expect_rows, cols])?;
        validate::check_overlap(OP, "y", y, &[("mask", m)], Aliasing::Forbidden)?;
        q_len = expect_rows.max(1);
    }
    if (o.causal.is_some() || o.mask.is_some()) && rows % q_len != 0 {
        return Err(Error::invalid(
            OP,
            "x",
            format!("a number of rows divisible by q_len = {q_len} (rows flatten [batch, heads, q_len])"),
            format!("{rows} rows"),
        ));
    }
    Ok(SoftmaxGeometry { rows, cols, q_len })
}

/// Bytes a softmax moves at least: x read, y written, the mask read once.
fn bytes(g: &SoftmaxGeometry, x: &Tensor, o: &SoftmaxOptions) -> u64 {
    let mask = if o.mask.is_some() { g.q_len * g.cols } else { 0 };
    ((2 * g.rows * g.cols + mask) * x.dtype().size_in_bytes()) as u64
}

pub fn softmax(ctx: &Context, x: &Tensor, y: &Tensor, opts: &SoftmaxOptions) -> Result<()> {
    let g = geometry(ctx, x, y, opts)?;
    let prefs = match opts.prefs {
        Some(p) => p,
        None => ctx.env_prefs()?.softmax,
    };
    if g.rows == 0 || g.cols == 0 {
        return Ok(());
    }
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("softmax/cpu/{}", x.dtype());
            ctx.profiler()
                .host(Tag { label: &label, bytes: bytes(&g, x, opts) }, || crate::cpu::softmax::softmax(&g, x, y, opts))
        }
        Backend::Cuda(be) => {
            let plan = plan_for(be, &g, x, y, opts, &prefs)?;
            launch(be, &plan, &g, x, y, opts)
        }
    }
}

/// The plan auto dispatch (or the prefs) would run, for reports.
pub fn plan_for(
    be: &CudaBackend,
    g: &SoftmaxGeometry,
    x: &Tensor,
    y: &Tensor,
    opts: &SoftmaxOptions,
    prefs: &SoftmaxPrefs,
) -> Result<SoftmaxPlan> {
    let (table, _) = be.tuning()?;
    Ok(plan_for_table(be, g, x, y, opts, prefs, &table.softmax))
}

/// The plan a given softmax table would choose (the tuner tries tables).
pub fn plan_for_table(
    be: &CudaBackend,
    g: &SoftmaxGeometry,
    x: &Tensor,
    y: &Tensor,
    opts: &SoftmaxOptions,
    prefs: &SoftmaxPrefs,
    table: &crate::tuning::SoftmaxTuning,
) -> SoftmaxPlan {
    let clusters = be.caps().compute_capability.0 >= 9;
    let desc =
        SoftmaxDesc { rows: g.rows, cols: g.cols, dtype: x.dtype(), packable: packable(x, y, opts.mask), clusters };
    plan_softmax(&desc, table, prefs)
}

/// Every view has unit column stride and 16-byte aligned rows.
fn packable(x: &Tensor, y: &Tensor, mask: Option<&Tensor>) -> bool {
    let v = 16 / x.dtype().size_in_bytes();
    let ok = |t: &Tensor| {
        let l = t.layout();
        l.stride(1) == 1 && l.dim(1) % v == 0 && l.offset() % v == 0 && (l.dim(0) == 1 || l.stride(0) % v == 0)
    };
    ok(x) && ok(y) && mask.map_or(true, ok)
}

/// Kernel parameters (kernels/softmax.cu: SoftmaxParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct SoftmaxParams {
    rows: i64,
    cols: i64,
    sxr: i64,
    sxc: i64,
    syr: i64,
    syc: i64,
    smr: i64,
    smc: i64,
    q_len: i64,
    offset: i64,
    causal: i32,
    has_mask: i32,
    scale: f32,
}

pub fn launch(
    be: &CudaBackend,
    plan: &SoftmaxPlan,
    g: &SoftmaxGeometry,
    x: &Tensor,
    y: &Tensor,
    o: &SoftmaxOptions,
) -> Result<()> {
    let name = format!("softmax_{}", plan.name());
    let f = be.function(&kernels::SOFTMAX, kernels::dtype_build(x.dtype()), &name)?;
    let (block, grid) = match *plan {
        SoftmaxPlan::Vec { lanes, warps_per_cta, .. } => {
            let rows_per_cta = (32 / lanes * warps_per_cta) as usize;
            (32 * warps_per_cta, g.rows.div_ceil(rows_per_cta))
        }
        SoftmaxPlan::VecStream { warps_per_cta } => (32 * warps_per_cta, g.rows.div_ceil(warps_per_cta as usize)),
        SoftmaxPlan::Block { threads, .. } | SoftmaxPlan::BlockStream { threads } => (threads, g.rows),
        SoftmaxPlan::Cluster { ctas, threads, .. } => (threads, g.rows * ctas as usize),
        SoftmaxPlan::Cpu => return Err(Error::invalid(OP, "plan", "a CUDA plan", "the CPU plan")),
    };
    let grid = u32::try_from(grid)
        .map_err(|_| Error::Unsupported { op: OP, what: format!("{} rows exceed the grid limit", g.rows) })?;
    let ptr = |t: &Tensor, name: &str| {
        t.device_ptr().ok_or_else(|| Error::invalid(OP, name, "a device tensor", "a host tensor"))
    };
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
        offset: o.causal.map_or(0, |c| c.offset) as i64,
        causal: o.causal.is_some() as i32,
        has_mask: o.mask.is_some() as i32,
        scale: o.scale,
    };
    let mut args = KernelArgs::new();
    args.push(xp).push(yp).push(mp).push(params);
    // SAFETY: geometry() checked x, y (and mask) in bounds with matching shapes,
    // y writable and not overlapping x (other than as the identical view, which
    // every variant reads before it writes, row by row) or the mask. The packed
    // variants were chosen only when every row is 16-byte aligned (packable()).
    // A kernel touches columns < cols of rows < rows, and mask rows < q_len.
    let label = plan.label(x.dtype());
    let mut uses = vec![x, y];
    uses.extend(o.mask);
    unsafe {
        be.launch(Tag { label: &label, bytes: bytes(g, x, o) }, &uses, &f, LaunchConfig::linear(grid, block), &args)
    }
}

//! A decode step's GEMVs fused with their neighbours, each equal to the ops
//! it replaces run one after the other:
//! - `matmul_silu_mul`: an MLP's gate and up projections and its SiLU-gated
//!   product, c = silu(a_gate · b) * (a_up · b), equal to `matmul` into a
//!   [2M, N] buffer then `silu_mul` bit for bit (each product is rounded to
//!   the dtype before the SiLU, as that buffer would hold it);
//! - `rmsnorm_matmul`: c = a · rmsnorm(b), the norm over each column of b
//!   (a token's row of activations) before a projection;
//! - `rmsnorm_matmul_silu_mul`: both, the MLP block's norm, gate/up and SiLU.
//!
//! On a GPU, where `matmul`'s plan for the whole of a is the FMA family's
//! veck at N <= 2 (a decode step of one or two sequences; f16 and bf16 take
//! the tensor-core GEMV from N = 2 under the shipped tuning), one launch runs
//! that plan's splits (kernels/gemv.cu: gemv_veckglu, gemv_veckn,
//! gemv_veckglun): the gate/up buffer, the SiLU launch, the norm's launch and
//! its output's round trip are gone. There the product is taken with x times
//! the norm's weight, the sums of squares come from the same loads, and the
//! outputs are scaled by 1 / sqrt(mean(x^2) + eps): the normalized x is never
//! rounded to the dtype, so results differ from `rmsnorm` then the product
//! by about that rounding (relative 2^-11 in f16, 2^-8 in bf16). The norm
//! is fused only for weights up to the tuning's bounds
//! (`matmul.norm_fuse_max_weight_elems`, `norm_glu_fuse_max_weight_elems`):
//! beyond, the fused loop's extra work costs more than the launch it saves.
//! Elsewhere the ops run one after the other through scratch buffers.

use crate::context::{Backend, Context};
use crate::dispatch::matmul::{GemvPlan, GemvVariant, MatmulDesc, MatmulPlan};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::layer::check_norm_weight;
use crate::spec::matmul::{geometry, Geometry};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::Tensor;

/// The widest N the fused kernels serve (kernels/gemv.cu: DK_ENTRY_GLU,
/// DK_ENTRY_NORM); wider calls run the ops one after the other.
pub const FUSED_MAX_N: usize = 2;

/// The RMSNorm the `rmsnorm_*` ops apply to each column of b first: x /
/// sqrt(mean(x^2) + eps) * weight, as `ops::rmsnorm` computes it on rows.
#[derive(Debug, Clone, Copy)]
pub struct RmsNormIn<'a> {
    /// The norm's weight, [K] (one per element of a column of b).
    pub weight: &'a Tensor,
    /// Added to the mean of squares (finite, >= 0).
    pub eps: f32,
}

/// c [M, N] = silu(a[..M] · b) * (a[M..] · b) with a [2M, K] (the gate rows,
/// then the up rows) and b [K, N]. c must have a unit stride along M (its
/// transpose is the [N, M] rows of tokens the composed path's `silu_mul`
/// writes) and share no memory with a or b.
pub fn matmul_silu_mul(ctx: &Context, a: &Tensor, b: &Tensor, c: &Tensor) -> Result<()> {
    fused(ctx, "matmul_silu_mul", a, b, None, c, true)
}

/// c [M, N] = a [M, K] · rmsnorm(b) with b [K, N]: each column of b (a
/// token's activations, a unit stride along K) normalized as `ops::rmsnorm`
/// normalizes a row, then the product (alpha 1, beta 0); the fused launch
/// does not round the normalized column to the dtype (module doc). c shares
/// no memory with a, b or the norm's weight.
pub fn rmsnorm_matmul(ctx: &Context, a: &Tensor, b: &Tensor, norm: RmsNormIn, c: &Tensor) -> Result<()> {
    fused(ctx, "rmsnorm_matmul", a, b, Some(norm), c, false)
}

/// [`matmul_silu_mul`] of rmsnorm(b): an MLP block's norm, gate/up
/// projection and SiLU-gated product (b's columns as in [`rmsnorm_matmul`]).
pub fn rmsnorm_matmul_silu_mul(ctx: &Context, a: &Tensor, b: &Tensor, norm: RmsNormIn, c: &Tensor) -> Result<()> {
    fused(ctx, "rmsnorm_matmul_silu_mul", a, b, Some(norm), c, true)
}

fn fused(
    ctx: &Context,
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    norm: Option<RmsNormIn>,
    c: &Tensor,
    glu: bool,
) -> Result<()> {
    let (g, first) = validate(ctx, op, a, b, norm.as_ref(), c, glu)?;
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    match fused_launch(ctx, &g, glu, norm.as_ref())? {
        Some((be, gp)) => launch_fused(be, op, &g, &gp, &first, b, c, glu, norm.as_ref()),
        None => composed(ctx, a, b, norm.as_ref(), c, glu),
    }
}

/// The backend and plan of the fused launch where it serves `g` (a CUDA
/// context, a non-empty product, `fused_plan`'s conditions); None: the ops
/// one after the other.
fn fused_launch<'c>(
    ctx: &'c Context,
    g: &Geometry,
    glu: bool,
    norm: Option<&RmsNormIn>,
) -> Result<Option<(&'c CudaBackend, GemvPlan)>> {
    match ctx.backend() {
        Backend::Cuda(be) if g.m > 0 && g.n > 0 => Ok(fused_plan(ctx, be, g, glu, norm)?.map(|gp| (be.as_ref(), gp))),
        _ => Ok(None),
    }
}

/// Whether the call `rmsnorm_matmul` (`glu` false) or
/// `rmsnorm_matmul_silu_mul` would make runs the fused launch on this
/// context (`check` asserts the path its cases mean to reach).
#[cfg(feature = "cli")] // check's use
pub(crate) fn norm_is_fused(
    ctx: &Context,
    a: &Tensor,
    b: &Tensor,
    norm: RmsNormIn,
    c: &Tensor,
    glu: bool,
) -> Result<bool> {
    let (g, _) = validate(ctx, "rmsnorm_matmul", a, b, Some(&norm), c, glu)?;
    Ok(fused_launch(ctx, &g, glu, Some(&norm))?.is_some())
}

/// Every view against the op's contract; the geometry of a's first M rows
/// (the gate half with GLU) against b and c, and those rows.
fn validate(
    ctx: &Context,
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    norm: Option<&RmsNormIn>,
    c: &Tensor,
    glu: bool,
) -> Result<(Geometry, Tensor)> {
    if glu && (a.rank() != 2 || a.shape()[0] % 2 != 0) {
        return Err(Error::invalid(
            op,
            "a",
            "[2M, K]: the gate rows, then the up rows",
            format!("shape {:?}", a.shape()),
        ));
    }
    if b.rank() != 2 {
        return Err(Error::invalid(op, "b", "[K, N]", format!("shape {:?}", b.shape())));
    }
    let m = if glu { a.shape()[0] / 2 } else { a.shape().first().copied().unwrap_or(0) };
    if glu {
        if c.rank() != 2 || c.shape()[0] != m {
            return Err(Error::invalid(
                op,
                "c",
                format!("[{m}, N] (half of a's rows)"),
                format!("shape {:?}", c.shape()),
            ));
        }
        if c.shape()[0] > 1 && c.shape()[1] > 0 && c.layout().stride(0) != 1 {
            return Err(Error::invalid(
                op,
                "c",
                "a unit stride along M",
                format!("strides {:?}", c.layout().strides()),
            ));
        }
    }
    let first = if glu { a.narrow(0, 0, m)? } else { a.clone() };
    // Against b and c: shapes, devices, dtypes, bounds, c writable and disjoint.
    let g = geometry(ctx.device(), &first, b, c, 1)?;
    if glu {
        geometry(ctx.device(), &a.narrow(0, m, m)?, b, c, 1)?;
    }
    if let Some(nm) = norm {
        check_norm(ctx, op, &g, b, nm, c)?;
    }
    Ok((g, first))
}

/// The norm's weight [K] and eps as `rmsnorm` checks them, and b's columns
/// contiguous (they are the rows the norm reads).
fn check_norm(ctx: &Context, op: &'static str, g: &Geometry, b: &Tensor, nm: &RmsNormIn, c: &Tensor) -> Result<()> {
    let w = nm.weight;
    check_norm_weight(op, ("norm.weight", "norm.eps"), w, nm.eps, ctx.device(), g.dtype, g.k)?;
    if g.k > 1 && g.n > 0 && b.layout().stride(0) != 1 {
        return Err(Error::invalid(
            op,
            "b",
            "a unit stride along K (each column is a row of activations the norm reads)",
            format!("strides {:?}", b.layout().strides()),
        ));
    }
    validate::check_overlap(op, "c", c, &[("norm.weight", w)], Aliasing::Forbidden)
}

/// The plan `matmul` would make for the whole of a (2M rows with GLU), when
/// it is veck: the fused kernel then runs with its block, K splits and K
/// ranges (each row's sums add in the same order as `matmul`'s), on one CTA
/// an output row. With a norm, also its weight 16-byte aligned (it is read
/// beside b's chunks) and a at most the tuning's bound
/// (`matmul.norm_fuse_max_weight_elems`, with GLU
/// `matmul.norm_glu_fuse_max_weight_elems`). Planned once per shape.
fn fused_plan(
    ctx: &Context,
    be: &CudaBackend,
    g: &Geometry,
    glu: bool,
    norm: Option<&RmsNormIn>,
) -> Result<Option<GemvPlan>> {
    // K = 0: no sums of squares to take a mean of (the composed ops define it).
    if g.n > FUSED_MAX_N || g.batch != 1 || g.m > i32::MAX as usize || (norm.is_some() && g.k == 0) {
        return Ok(None);
    }
    let first = g.desc();
    if let Some(nm) = norm {
        let aligned = nm.weight.device_ptr().is_some_and(|p| p % 16 == 0);
        let t = &ctx.dispatcher().table().matmul;
        let bound = if glu { t.norm_glu_fuse_max_weight_elems } else { t.norm_fuse_max_weight_elems };
        let small = (if glu { 2 } else { 1 } * g.m * g.k) as u64 <= bound;
        if !aligned || !first.b_vec_aligned || !small {
            return Ok(None);
        }
    }
    // The gate half's desc checks a's row stride only when it has two rows or
    // more; the up rows start a row stride after the gate rows' end.
    let stride_aligned = !glu || g.m > 1 || (g.a[0] * g.dtype.size_in_bytes()) % 16 == 0;
    let desc = MatmulDesc {
        m: if glu { 2 * g.m } else { g.m },
        a_vec_aligned: first.a_vec_aligned && stride_aligned,
        ..first
    };
    let prefs = ctx.dispatcher().resolve(None, |p| p.matmul)?;
    ctx.cached_plan(&("fused_gemv", desc, prefs), || {
        Ok(match ctx.dispatcher().plan_matmul(&desc, &prefs, be.cublas_available())? {
            MatmulPlan::Gemv(gp) if gp.variant == GemvVariant::VecK => Some(gp),
            _ => None,
        })
    })
}

/// The ops one after the other. With a norm: `rmsnorm` into a scratch
/// [N, K] (rows of tokens), then the product of it as its own op (with GLU,
/// `matmul_silu_mul`, whose fused launch may still serve it). Without: the
/// product into a scratch [N, 2M] with GLU, then silu_mul.
fn composed(ctx: &Context, a: &Tensor, b: &Tensor, norm: Option<&RmsNormIn>, c: &Tensor, glu: bool) -> Result<()> {
    let (k, n) = (b.shape()[0], b.shape()[1]);
    if let Some(nm) = norm {
        let xn = ctx.scratch("fused_gemv.normed", b.dtype(), n * k)?.reshape(&[n, k])?;
        super::rmsnorm(ctx, &b.transpose(0, 1)?, nm.weight, nm.eps, &xn)?;
        let normed = xn.transpose(0, 1)?;
        return if glu { matmul_silu_mul(ctx, a, &normed, c) } else { super::matmul(ctx, 1.0, a, &normed, 0.0, c) };
    }
    if !glu {
        return super::matmul(ctx, 1.0, a, b, 0.0, c);
    }
    let m = a.shape()[0] / 2;
    let gu = ctx.scratch("fused_gemv.gate_up", a.dtype(), n * 2 * m)?.reshape(&[n, 2 * m])?;
    super::matmul(ctx, 1.0, a, b, 0.0, &gu.transpose(0, 1)?)?;
    super::silu_mul(ctx, &gu, &c.transpose(0, 1)?)
}

#[allow(clippy::too_many_arguments)]
fn launch_fused(
    be: &CudaBackend,
    op: &'static str,
    g: &Geometry,
    gp: &GemvPlan,
    first: &Tensor,
    b: &Tensor,
    c: &Tensor,
    glu: bool,
    norm: Option<&RmsNormIn>,
) -> Result<()> {
    let ptr = |t: &Tensor, name: &str| {
        t.device_ptr().ok_or_else(|| Error::invalid(op, name, "a device tensor", "a host tensor"))
    };
    let e = g.dtype.size_in_bytes() as u64;
    let variant = match (glu, norm.is_some()) {
        (true, false) => "veckglu",
        (false, true) => "veckn",
        (true, true) => "veckglun",
        (false, false) => {
            return Err(Error::invalid(op, "plan", "a fused GEMV (GLU, norm or both)", "neither"));
        }
    };
    let name = format!("gemv_{variant}_n{}_{}", g.n, g.dtype);
    let function = be.function(&kernels::GEMV, kernels::dtype_build(g.dtype), &name)?;
    // One CTA an output row (its gate and up rows with GLU, else veck's one
    // row at N <= 2); split-K partials of its tile (A's rows x N, then N sums
    // of squares with the norm), a counter a row.
    let tile = if glu { 2 * g.n } else { g.n } + if norm.is_some() { g.n } else { 0 };
    let (ws, counters) = if gp.splits > 1 { be.workspace(g.m * gp.splits as usize * tile, g.m)? } else { (0, 0) };
    // One batch (fused_plan): grid.z is 1, so the batch strides are never applied.
    let params = super::matmul::gemv_params(g, g.n, gp, 1.0, 0.0);
    let mut args = KernelArgs::new();
    args.push(ptr(first, "a")?).push(ptr(b, "b")?).push(ptr(c, "c")?).push(ws).push(counters).push(params);
    let mut uses = vec![first, b, c];
    if let Some(nm) = norm {
        args.push(ptr(nm.weight, "norm.weight")?).push(nm.eps);
        uses.push(nm.weight);
    }
    let cfg = LaunchConfig {
        grid: (g.m as u32, gp.splits, 1),
        block: (gp.block.0, gp.block.1, 1),
        shared_bytes: 0,
        dependent: true, // kernels/gemv.cu: every entry waits first
        cluster: 0,
    };
    let label = format!("{op}/{variant}_n{}/{}", g.n, g.dtype);
    let weight_rows = if glu { 2 * g.m } else { g.m };
    let norm_bytes = if norm.is_some() { g.k as u64 } else { 0 };
    let bytes = e * ((weight_rows * g.k) as u64 + (g.n * (g.k + g.m)) as u64 + norm_bytes);
    // SAFETY: `geometry` checked a's first M rows [M, K] (with GLU also the up
    // half, M rows further in a's buffer with the same strides) against b
    // [K, N] and c [M, N]: in bounds, c writable and disjoint from both;
    // `check_norm` the norm's weight [K] (unit stride, disjoint from c) and
    // b's unit stride along K. The veck plan was chosen for the alignment of
    // the whole of a (K-contiguous, 16-byte aligned base and row stride) and
    // of b; `fused_plan` checked the weight's 16-byte alignment. The kernel
    // reads A rows i (and M + i with GLU) for i < M at k < K, B[k < K, n < N],
    // weight[k < K], writes C[i < M, n < N]; the split-K scratch holds a tile
    // of `tile` floats for every row and split, and a counter a row.
    unsafe { be.launch(Tag { label: &label, bytes }, &uses, &function, cfg, &args) }
}

//! A decode step's GEMVs fused with their neighbours, each equal to the ops
//! it replaces run one after the other:
//! - `matmul_silu_mul`: an MLP's gate and up projections and its SiLU-gated
//!   product, c = silu(a_gate · b) * (a_up · b), equal to `matmul` into a
//!   [2M, N] buffer then `silu_mul` bit for bit (each product is rounded to
//!   the dtype before the SiLU, as that buffer would hold it);
//! - `rmsnorm_matmul`: c = a · rmsnorm(b), the norm over each column of b
//!   (a token's row of activations) before a projection;
//! - `rmsnorm_matmul_silu_mul`: both, the MLP block's norm, gate/up and SiLU;
//! - `matmul_rope_append`: a decode step's QKV projection (its norm
//!   optional) with `rope_append` after it: RoPE, the bias and the cache
//!   append in the GEMV's epilogue (gemv_veckrope), no qkv buffer;
//!   `quant_matmul_rope_append` the same for block-quantized weights (the
//!   integer-dot GEMV's epilogue, qgemv_dot_rope; a Q4_K and a Q6_K part in
//!   one launch, qgemv_dot2_*_rope).
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

use super::quant::QuantGeometry;
use crate::context::{Backend, Context};
use crate::dispatch::matmul::{GemvPlan, GemvVariant, MatmulDesc, MatmulPlan};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::layer::{check_norm_weight, check_rope_append, RopeGeometry, RopeOptions};
use crate::spec::matmul::{geometry, Geometry};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::{Indices, Q8Activations, QuantMatrix, Tensor};

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

/// Where `matmul_rope_append` puts the projection's rows, and how it rotates
/// them: `rope_append`'s arguments after qkv.
#[derive(Debug, Clone, Copy)]
pub struct RopeTargets<'a> {
    /// The projection's bias, [(hq + 2 hkv) d] (Qwen2), added before RoPE.
    pub bias: Option<&'a Tensor>,
    /// [N, hq, d]: the rotated query heads.
    pub q_out: &'a Tensor,
    /// [N, hkv, capacity, d]: slot pos gets the rotated K heads.
    pub k_cache: &'a Tensor,
    /// [N, hkv, capacity, d]: slot pos gets the V heads as projected.
    pub v_cache: &'a Tensor,
    /// Per-sequence positions on the device (as `rope_append_ragged`); None:
    /// every sequence at `opts.pos`.
    pub positions: Option<&'a Indices>,
    /// Heads, position, theta and Llama 3 scaling, as for `rope_append`.
    pub opts: RopeOptions,
}

/// A decode step's QKV projection with RoPE and the cache append: qkv = a ·
/// b (or a · rmsnorm(b) with `norm`, as [`rmsnorm_matmul`]) with a
/// [(hq + 2 hkv) d, K] and b [K, N] (N sequences, one token each), then
/// `rope_append` (`rope_append_ragged` with positions) of qkv^T [N, width]
/// into `t`. Equal to those ops one after the other through a [N, width]
/// buffer, up to the norm's rounding (module doc); the fused launch writes
/// only q_out and the caches' slot.
pub fn matmul_rope_append(
    ctx: &Context,
    a: &Tensor,
    b: &Tensor,
    norm: Option<RmsNormIn>,
    t: &RopeTargets,
) -> Result<()> {
    let (g, qkv, d) = validate_rope(ctx, a, b, norm.as_ref(), t)?;
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    match rope_path(ctx, &g, norm.as_ref())? {
        RopePath::Fused(be, gp) => return launch_rope(be, &g, &gp, a, b, norm.as_ref(), t, &qkv, d),
        // A weight past the norm's bound: the norm by its own launch, RoPE
        // and the append still in the projection's.
        RopePath::NormApart => {
            let Some(nm) = norm else {
                return Err(Error::invalid("matmul_rope_append", "norm", "a norm (its own launch planned)", "none"));
            };
            return matmul_rope_append(ctx, a, &normed_columns(ctx, b, &nm)?, None, t);
        }
        RopePath::Composed => {}
    }
    let qkv_t = qkv.transpose(0, 1)?;
    match norm {
        Some(nm) => rmsnorm_matmul(ctx, a, b, nm, &qkv_t)?,
        None => super::matmul(ctx, 1.0, a, b, 0.0, &qkv_t)?,
    }
    rope_append_to(ctx, &qkv, t)
}

/// The composed paths' second op: `rope_append` of the projection's output
/// qkv [N, width] into `t` (`rope_append_ragged` with positions).
fn rope_append_to(ctx: &Context, qkv: &Tensor, t: &RopeTargets) -> Result<()> {
    match t.positions {
        Some(p) => super::rope_append_ragged(ctx, qkv, t.bias, t.q_out, t.k_cache, t.v_cache, p, &t.opts),
        None => super::rope_append(ctx, qkv, t.bias, t.q_out, t.k_cache, t.v_cache, &t.opts),
    }
}

/// How `matmul_rope_append` runs a call.
#[derive(Debug, Clone, Copy)]
enum RopePath<'c> {
    /// One launch: the projection (and its norm) with RoPE and the append.
    Fused(&'c CudaBackend, GemvPlan),
    /// `rmsnorm`, then the fused projection without the norm.
    NormApart,
    /// The ops one after the other through the qkv scratch.
    Composed,
}

fn rope_path<'c>(ctx: &'c Context, g: &Geometry, norm: Option<&RmsNormIn>) -> Result<RopePath<'c>> {
    if g.k == 0 {
        return Ok(RopePath::Composed);
    }
    if let Some((be, gp)) = fused_launch(ctx, g, false, norm)? {
        return Ok(RopePath::Fused(be, gp));
    }
    Ok(match (norm, fused_launch(ctx, g, false, None)?) {
        (Some(_), Some(_)) => RopePath::NormApart,
        _ => RopePath::Composed,
    })
}

/// `matmul_rope_append`'s views: a and b against the qkv scratch [N, width]
/// (the composed path's buffer) as `rmsnorm_matmul` checks them, that
/// scratch and `t` as `rope_append` checks them, and the outputs disjoint
/// from the inputs (the fused launch reads a, b and the norm's weight while
/// it writes q_out and the caches). Returns the geometry, the scratch and d.
fn validate_rope(
    ctx: &Context,
    a: &Tensor,
    b: &Tensor,
    norm: Option<&RmsNormIn>,
    t: &RopeTargets,
) -> Result<(Geometry, Tensor, usize)> {
    const OP: &str = "matmul_rope_append";
    if a.rank() != 2 {
        return Err(Error::invalid(OP, "a", "[(hq + 2 hkv) d, K]", format!("shape {:?}", a.shape())));
    }
    if b.rank() != 2 {
        return Err(Error::invalid(OP, "b", "[K, N]", format!("shape {:?}", b.shape())));
    }
    let (width, n) = (a.shape()[0], b.shape()[1]);
    let qkv = ctx.scratch("fused_gemv.qkv", a.dtype(), n * width)?.reshape(&[n, width])?;
    let (g, _) = validate(ctx, OP, a, b, norm, &qkv.transpose(0, 1)?, false)?;
    let mut inputs = vec![("a", a), ("b", b)];
    inputs.extend(norm.map(|nm| ("norm.weight", nm.weight)));
    let d = check_rope_targets(ctx, OP, &qkv, t, &inputs)?;
    Ok((g, qkv, d))
}

/// `t` as `rope_append` checks it against the projection's output `qkv` [N,
/// width], its positions (N of them) on the device, and its outputs
/// disjoint from the fused launch's `inputs` (read while it writes).
/// Returns the head size d.
fn check_rope_targets(
    ctx: &Context,
    op: &'static str,
    qkv: &Tensor,
    t: &RopeTargets,
    inputs: &[(&str, &Tensor)],
) -> Result<usize> {
    let RopeGeometry { d, .. } =
        check_rope_append(ctx.device(), qkv, t.bias, t.q_out, t.k_cache, t.v_cache, &t.opts, t.positions.is_some())?;
    if let Some(p) = t.positions {
        crate::spec::check_indices(op, "positions", p, ctx.device(), qkv.shape()[0])?;
    }
    for (name, out) in [("q_out", t.q_out), ("k_cache", t.k_cache), ("v_cache", t.v_cache)] {
        validate::check_overlap(op, name, out, inputs, Aliasing::Forbidden)?;
    }
    Ok(d)
}

/// `matmul_rope_append` for a block-quantized QKV projection: qkv = x ·
/// dequant(W)^T with x [N, K] (N sequences, one token each) and W the rows
/// of `parts` one after the other, [(hq + 2 hkv) d, K] in all (a Q4_K_M
/// file keeps Q and K in one format and V in another; each part whole heads
/// of d rows), then `rope_append` (`rope_append_ragged` with positions) of
/// qkv into `t`. `x_q8` as [`super::quant::QuantOptions::x_q8`]. Equal to
/// `quant_matmul` of each part into a [N, width] buffer then `rope_append`.
/// On a GPU at N <= 2, where the integer-dot kernel runs every part and the
/// weights are within the tuning's bound (`quant.rope_fuse_max_weight_elems`:
/// llama3-8b's 25M elements lost with it) and K > 0, one launch a part
/// (kernels/quant_dot.cu: qgemv_dot_rope, RoPE and the append in its
/// epilogue; one for a Q4_K and a Q6_K part: qgemv_dot2_*_rope), no qkv
/// buffer; elsewhere the ops one after the other.
pub fn quant_matmul_rope_append(
    ctx: &Context,
    parts: &[&QuantMatrix],
    x: &Tensor,
    x_q8: Option<&Q8Activations>,
    t: &RopeTargets,
) -> Result<()> {
    const OP: &str = "quant_matmul_rope_append";
    let (qkv, geoms, d) = validate_quant_rope(ctx, parts, x, x_q8, t)?;
    let n = x.shape()[0];
    if n == 0 {
        return Ok(());
    }
    if let Some(be) = quant_rope_fuses(ctx, parts, n, x_q8.is_some())? {
        let uses = [t.q_out, t.k_cache, t.v_cache].into_iter().chain(t.bias).collect::<Vec<_>>();
        let mut all = Vec::with_capacity(parts.len());
        let mut head0 = 0;
        for (w, g) in parts.iter().zip(&geoms) {
            all.push((g, *w, head0));
            head0 += w.rows() / d;
        }
        // Both parts in one launch where the kernel has their pair, else a launch a part.
        let per_launch = if super::quant::rope_pair_launch(ctx, parts) { all.len() } else { 1 };
        for launch in all.chunks(per_launch) {
            let push = |args: &mut KernelArgs| push_rope_targets(be, OP, args, t, &qkv, d);
            super::quant::launch_dot_rope(be, launch, x, x_q8, push, &uses, OP)?;
        }
        return Ok(());
    }
    let opts = super::quant::QuantOptions { kernel: None, x_q8 };
    super::quant::quant_matmul_parts(ctx, parts, x, &qkv, 1.0, 0.0, &opts)?;
    rope_append_to(ctx, &qkv, t)
}

/// Whether `quant_matmul_rope_append` of `n` tokens of `parts` runs as
/// fused launches on this context (else as `quant_matmul` then
/// `rope_append`, which a caller with its own qkv buffer may as well run
/// itself: the decode step does, so its unfused launches stay as they were),
/// `has_x_q8`: whether the caller gives x already rounded to 8 bits.
pub fn quant_rope_fuses_on(ctx: &Context, parts: &[&QuantMatrix], n: usize, has_x_q8: bool) -> Result<bool> {
    Ok(quant_rope_fuses(ctx, parts, n, has_x_q8)?.is_some())
}

/// The CUDA backend where `quant_matmul_rope_append` fuses `n` tokens of
/// every part, else None: the projection within the tuning's bound
/// (`quant.rope_fuse_max_weight_elems`), every part on the dot kernel
/// (`quant::dot_rope_serves`: among others K > 0).
fn quant_rope_fuses<'c>(
    ctx: &'c Context,
    parts: &[&QuantMatrix],
    n: usize,
    has_x_q8: bool,
) -> Result<Option<&'c CudaBackend>> {
    let Backend::Cuda(be) = ctx.backend() else { return Ok(None) };
    let elems: u64 = parts.iter().map(|w| (w.rows() * w.cols()) as u64).sum();
    if elems > ctx.dispatcher().table().quant.rope_fuse_max_weight_elems {
        return Ok(None);
    }
    for w in parts {
        if !super::quant::dot_rope_serves(ctx, be, w, n, has_x_q8)? {
            return Ok(None);
        }
    }
    Ok(Some(be))
}

/// `quant_matmul_rope_append`'s views: each part against x and its columns
/// of the qkv scratch [N, width] as `quant_matmul` checks them, whole heads
/// (d rows) each, x_q8 as x's rows, and the targets as [`check_rope_targets`]
/// (x being what the fused launches read). Returns the scratch, each part's
/// geometry and d.
fn validate_quant_rope(
    ctx: &Context,
    parts: &[&QuantMatrix],
    x: &Tensor,
    x_q8: Option<&Q8Activations>,
    t: &RopeTargets,
) -> Result<(Tensor, Vec<QuantGeometry>, usize)> {
    const OP: &str = "quant_matmul_rope_append";
    if parts.is_empty() {
        return Err(Error::invalid(OP, "parts", "one or more quantized matrices (the QKV projection's rows)", "none"));
    }
    if x.rank() != 2 {
        return Err(Error::invalid(OP, "x", "[N, K]", format!("shape {:?}", x.shape())));
    }
    let (n, k) = (x.shape()[0], x.shape()[1]);
    let heads = t.opts.hq + 2 * t.opts.hkv;
    let width: usize = parts.iter().map(|w| w.rows()).sum();
    for (i, w) in parts.iter().enumerate() {
        if w.cols() != k {
            let want = format!("K = {k} columns (x's) in every part");
            return Err(Error::invalid(OP, "parts", want, format!("part {i}: {} columns", w.cols())));
        }
        if w.rows() == 0 {
            return Err(Error::invalid(
                OP,
                "parts",
                "whole heads of d rows, at least one",
                format!("part {i}: 0 rows"),
            ));
        }
    }
    if heads == 0 || width % heads != 0 || width / heads % 2 != 0 {
        return Err(Error::invalid(
            OP,
            "parts",
            format!("(hq + 2 hkv) d rows in all, hq + 2 hkv = {heads}, d even"),
            format!("{width} rows"),
        ));
    }
    let qkv = ctx.scratch("fused_gemv.qkv", x.dtype(), n * width)?.reshape(&[n, width])?;
    let mut geoms = Vec::with_capacity(parts.len());
    let mut at = 0;
    for w in parts {
        geoms.push(super::quant::geometry(ctx.device(), w, x, &qkv.narrow(1, at, w.rows())?, 1.0, 0.0)?);
        at += w.rows();
    }
    if let Some(q) = x_q8 {
        super::q8::check_q8_arg(OP, "x_q8", ctx, q, n, k)?;
    }
    let d = check_rope_targets(ctx, OP, &qkv, t, &[("x", x)])?;
    if let Some((i, w)) = parts.iter().enumerate().find(|(_, w)| w.rows() % d != 0) {
        return Err(Error::invalid(
            OP,
            "parts",
            format!("whole heads of d = {d} rows each"),
            format!("part {i}: {} rows", w.rows()),
        ));
    }
    Ok((qkv, geoms, d))
}

/// Which path `quant_matmul_rope_append` takes for these views on this
/// context: "fused" or "composed" (`check` asserts the one its cases mean).
#[cfg(feature = "cli")] // check's use
pub(crate) fn quant_rope_path_name(
    ctx: &Context,
    parts: &[&QuantMatrix],
    x: &Tensor,
    x_q8: Option<&Q8Activations>,
    t: &RopeTargets,
) -> Result<&'static str> {
    validate_quant_rope(ctx, parts, x, x_q8, t)?;
    Ok(if quant_rope_fuses(ctx, parts, x.shape()[0], x_q8.is_some())?.is_some() { "fused" } else { "composed" })
}

/// Which path `matmul_rope_append` takes for these views on this context:
/// "fused", "norm apart" or "composed" (`check` asserts the one its cases mean).
#[cfg(feature = "cli")] // check's use
pub(crate) fn rope_path_name(
    ctx: &Context,
    a: &Tensor,
    b: &Tensor,
    norm: Option<RmsNormIn>,
    t: &RopeTargets,
) -> Result<&'static str> {
    let (g, _, _) = validate_rope(ctx, a, b, norm.as_ref(), t)?;
    Ok(match rope_path(ctx, &g, norm.as_ref())? {
        RopePath::Fused(..) => "fused",
        RopePath::NormApart => "norm apart",
        RopePath::Composed => "composed",
    })
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
            // Only veck fuses: a plan on tensor cores (N = 1 too for short
            // rows past L2: MatmulTuning::mma_n1_max_k, no such layer in the
            // built-in models) takes the composed path.
            // One row (GLU: one gate and up pair; RoPE: one rotated pair) a
            // CTA: fused launches with several were slower on every model
            // measured (BENCHMARKS.md, 2026-12-02). The plan's K splits stand:
            // a plan with row groups fills the wave with one split, and so
            // does its one-group grid of more CTAs.
            MatmulPlan::Gemv(gp) if gp.variant == GemvVariant::VecK => Some(GemvPlan { row_groups: 1, ..gp }),
            _ => None,
        })
    })
}

/// The ops one after the other. With a norm: `rmsnorm` into a scratch
/// [N, K] (rows of tokens), then the product of it as its own op (with GLU,
/// `matmul_silu_mul`, whose fused launch may still serve it). Without: the
/// product into a scratch [N, 2M] with GLU, then silu_mul.
fn composed(ctx: &Context, a: &Tensor, b: &Tensor, norm: Option<&RmsNormIn>, c: &Tensor, glu: bool) -> Result<()> {
    if let Some(nm) = norm {
        let normed = normed_columns(ctx, b, nm)?;
        return if glu { matmul_silu_mul(ctx, a, &normed, c) } else { super::matmul(ctx, 1.0, a, &normed, 0.0, c) };
    }
    if !glu {
        return super::matmul(ctx, 1.0, a, b, 0.0, c);
    }
    let n = b.shape()[1];
    let m = a.shape()[0] / 2;
    let gu = ctx.scratch("fused_gemv.gate_up", a.dtype(), n * 2 * m)?.reshape(&[n, 2 * m])?;
    super::matmul(ctx, 1.0, a, b, 0.0, &gu.transpose(0, 1)?)?;
    super::silu_mul(ctx, &gu, &c.transpose(0, 1)?)
}

/// `rmsnorm` of b's columns by its own launch: a [K, N] view of the scratch
/// [N, K] (rows of tokens) it writes.
fn normed_columns(ctx: &Context, b: &Tensor, nm: &RmsNormIn) -> Result<Tensor> {
    let (k, n) = (b.shape()[0], b.shape()[1]);
    let xn = ctx.scratch("fused_gemv.normed", b.dtype(), n * k)?.reshape(&[n, k])?;
    super::rmsnorm(ctx, &b.transpose(0, 1)?, nm.weight, nm.eps, &xn)?;
    xn.transpose(0, 1)
}

/// The fused GEMV kernel `gemv_<variant>_n<N>_<dtype>` (kernels/gemv.cu),
/// or its `w` twin where the weight `a` is fixed (`Tensor::mark_fixed`:
/// gemv_veck's W loads it before the PDL wait).
fn fused_kernel(be: &CudaBackend, variant: &str, a: &Tensor, g: &Geometry) -> Result<cudarc::driver::CudaFunction> {
    let w = if a.is_fixed() { "w" } else { "" };
    be.function(&kernels::GEMV, kernels::dtype_build(g.dtype), &format!("gemv_{variant}{w}_n{}_{}", g.n, g.dtype))
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
    let ptr = |t: &Tensor, name: &str| super::device_ptr(op, t, name);
    let e = g.dtype.size_in_bytes() as u64;
    let variant = match (glu, norm.is_some()) {
        (true, false) => "veckglu",
        (false, true) => "veckn",
        (true, true) => "veckglun",
        (false, false) => {
            return Err(Error::invalid(op, "plan", "a fused GEMV (GLU, norm or both)", "neither"));
        }
    };
    let function = fused_kernel(be, variant, first, g)?;
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

/// The fused QKV launch (kernels/gemv.cu: gemv_veckrope, gemv_veckropen): a
/// CTA a rotated pair of rows, width / 2 of them.
#[allow(clippy::too_many_arguments)]
fn launch_rope(
    be: &CudaBackend,
    g: &Geometry,
    gp: &GemvPlan,
    a: &Tensor,
    b: &Tensor,
    norm: Option<&RmsNormIn>,
    t: &RopeTargets,
    qkv: &Tensor,
    d: usize,
) -> Result<()> {
    const OP: &str = "matmul_rope_append";
    let ptr = |t: &Tensor, name: &str| super::device_ptr(OP, t, name);
    let e = g.dtype.size_in_bytes() as u64;
    let variant = if norm.is_some() { "veckropen" } else { "veckrope" };
    let function = fused_kernel(be, variant, a, g)?;
    let ctas = g.m / 2;
    // Split-K partials of a CTA's two rows x N (and N sums of squares with the norm), a counter a CTA.
    let tile = 2 * g.n + if norm.is_some() { g.n } else { 0 };
    let (ws, counters) = if gp.splits > 1 { be.workspace(ctas * gp.splits as usize * tile, ctas)? } else { (0, 0) };
    let params = super::matmul::gemv_params(g, g.n, gp, 1.0, 0.0);
    let mut args = KernelArgs::new();
    args.push(ptr(a, "a")?).push(ptr(b, "b")?).push(0u64).push(ws).push(counters).push(params);
    let mut uses = vec![a, b, t.q_out, t.k_cache, t.v_cache];
    match norm {
        Some(nm) => {
            args.push(ptr(nm.weight, "norm.weight")?).push(nm.eps);
            uses.push(nm.weight);
        }
        None => {
            args.push(0u64).push(0f32);
        }
    }
    push_rope_targets(be, OP, &mut args, t, qkv, d)?;
    uses.extend(t.bias);
    let cfg = LaunchConfig {
        grid: (ctas as u32, gp.splits, 1),
        block: (gp.block.0, gp.block.1, 1),
        shared_bytes: 0,
        dependent: true, // kernels/gemv.cu: every entry waits first
        cluster: 0,
    };
    let label = format!("{OP}/{variant}_n{}/{}", g.n, g.dtype);
    let norm_bytes = if norm.is_some() { g.k as u64 } else { 0 };
    let bias_bytes = if t.bias.is_some() { g.m as u64 } else { 0 };
    let bytes = e * ((g.m * g.k) as u64 + (g.n * (g.k + g.m)) as u64 + norm_bytes + bias_bytes);
    // SAFETY: `validate` checked a [width, K] against b [K, N] and the
    // scratch qkv^T (in bounds; the norm's weight [K] unit-stride and b
    // K-contiguous by `check_norm`); `check_rope_append` checked the bias
    // [width], q_out [N, hq, d], the caches [N, hkv, cap, d] and the
    // positions (N of them) against qkv [N, width] with width = (hq + 2 hkv)
    // d, d even. The veck plan was chosen for a's and b's alignment and
    // `fused_plan` checked the weight's. The kernel reads a's rows < width at
    // k < K, b[k < K, n < N], weight[k < K], bias[c < width], positions[n <
    // N]; writes q_out[n, h < hq, i < d] and the caches at slots inside them
    // (rope_store skips the others); C (null) is never touched; the split-K
    // scratch holds a tile of `tile` floats for every CTA and split, and a
    // counter a CTA.
    unsafe { be.launch(Tag { label: &label, bytes }, &uses, &function, cfg, &args) }
}

/// Pushes rope_append's pointers and parameters for `t` (kernels/rope.cuh:
/// RopeOut's fields; qkv the [N, width] view the parameters describe, d the
/// head size) and holds the positions for the launch.
fn push_rope_targets(
    be: &CudaBackend,
    op: &'static str,
    args: &mut KernelArgs,
    t: &RopeTargets,
    qkv: &Tensor,
    d: usize,
) -> Result<()> {
    let ptr = |t: &Tensor, name: &str| super::device_ptr(op, t, name);
    let rope = super::layer::rope_params(qkv, t.bias.is_some(), t.q_out, t.k_cache, t.v_cache, d, &t.opts);
    args.push(t.bias.map(|b| ptr(b, "bias")).transpose()?.unwrap_or(0))
        .push(ptr(t.q_out, "q_out")?)
        .push(ptr(t.k_cache, "k_cache")?)
        .push(ptr(t.v_cache, "v_cache")?)
        .push(t.positions.and_then(Indices::device_ptr).unwrap_or(0))
        .push(rope);
    be.hold_indices(&t.positions.into_iter().collect::<Vec<_>>());
    Ok(())
}

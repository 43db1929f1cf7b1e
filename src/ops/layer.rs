//! The small ops of a Llama-style decoder layer (kernels/layer.cu):
//! - `rmsnorm`: y = x / sqrt(mean(x^2) + eps) * w, per row, f32 math;
//! - `rope_append`: bias add and RoPE on the fused QKV projection's output,
//!   Q to its own tensor, K (rotated) and V to each token's slot of the KV
//!   cache (one token or a prefill chunk per sequence, positions given or per sequence);
//! - `silu_mul`: h = silu(gate) * up, from the fused gate/up projection.
//!
//! Each op takes views with a unit stride along the last (feature) axis and
//! any other strides, validates them, and runs on the context's backend.

use super::device_ptr;
use super::params::RmsNormParams;
use super::params::RopeParams;
use super::params::SiluMulParams;
use crate::context::{Backend, Context};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::layer::{check_rmsnorm, check_rope_append, check_silu_mul, RopeGeometry};
pub use crate::spec::layer::{Llama3Rope, RopeOptions};
use crate::tensor::{Indices, Tensor};

/// Whether every row of the device view `t` (each index of its leading axes)
/// starts on a boundary of `elems` elements, so a kernel can move `elems`
/// values a load along its contiguous last axis.
pub(crate) fn rows_aligned(t: &Tensor, elems: usize) -> bool {
    let bytes = (elems * t.dtype().size_in_bytes()) as u64;
    t.device_ptr().is_some_and(|p| p % bytes == 0)
        && (0..t.rank() - 1).all(|a| t.shape()[a] <= 1 || t.layout().stride(a) % elems == 0)
}

/// Launches `{kernel}_{dtype}` of kernels/layer.cu under the label `{op}/{variant}/{dtype}`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_kernel(
    be: &CudaBackend,
    kernel: &str,
    op: &'static str,
    variant: &str,
    dtype: DType,
    grid: (u32, u32, u32),
    block: u32,
    bytes: u64,
    uses: &[&Tensor],
    args: &KernelArgs,
) -> Result<()> {
    let name = format!("{kernel}_{dtype}");
    let f = be.function(&kernels::LAYER, kernels::dtype_build(dtype), &name)?;
    let label = format!("{op}/{variant}/{dtype}");
    // Every kernel of kernels/layer.cu waits for the previous launch before it
    // touches what a launch writes (rope_append lets the next launch be
    // scheduled first: pdl_begin_early, kernels/common.cuh).
    let cfg = LaunchConfig { grid, block: (block, 1, 1), shared_bytes: 0, dependent: true, cluster: 0 };
    // SAFETY: each op's caller validated every view in bounds with the shapes
    // the kernel indexes by (its comment at the call says which), and args
    // match the kernel's parameters (the *Params structs are their twins).
    unsafe { be.launch(Tag { label: &label, bytes }, uses, &f, cfg, args) }
}

pub(crate) fn grid_dim(op: &'static str, what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Unsupported { op, what: format!("{n} {what} exceed the grid limit") })
}

/// `y = x / sqrt(mean(x^2) + eps) * w` over the last axis of x [rows, cols]
/// or [outer, rows, cols] (e.g. the heads of every token of a prefill chunk);
/// w is [cols]; y, of x's shape, may be x itself.
pub fn rmsnorm(ctx: &Context, x: &Tensor, w: &Tensor, eps: f32, y: &Tensor) -> Result<()> {
    const OP: &str = "rmsnorm";
    let dtype = x.dtype();
    let (outer, rows, cols) = check_rmsnorm(ctx.device(), x, w, eps, y)?;
    if outer == 0 || rows == 0 || cols == 0 {
        return Ok(());
    }
    let bytes = ((2 * outer * rows * cols + cols) * dtype.size_in_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{dtype}");
            ctx.profiler().host(Tag { label: &label, bytes }, || crate::cpu::layer::rmsnorm(x, w, eps, y))
        }
        Backend::Cuda(be) => {
            let p = RmsNormParams {
                rows: rows as i64,
                cols: cols as i64,
                sxr: x.layout().stride(x.rank() - 2) as i64,
                syr: y.layout().stride(y.rank() - 2) as i64,
                sxo: if x.rank() == 3 { x.layout().stride(0) as i64 } else { 0 },
                syo: if y.rank() == 3 { y.layout().stride(0) as i64 } else { 0 },
                eps,
            };
            let mut args = KernelArgs::new();
            args.push(device_ptr(OP, x, "x")?).push(device_ptr(OP, w, "w")?).push(device_ptr(OP, y, "y")?).push(p);
            if outer > 65535 {
                return Err(Error::Unsupported {
                    op: OP,
                    what: format!("{outer} outer rows (at most 65535, the grid's y limit)"),
                });
            }
            let grid = (grid_dim(OP, "rows", rows)?, outer as u32, 1);
            // The kernel touches rows < rows, columns < cols of x and y, w[c < cols].
            match rmsnorm_vec_shape(x, w, y) {
                // 16-byte chunks held in registers: V per thread.
                Some((v, threads)) => launch_kernel(
                    be,
                    &format!("rmsnorm_vec{v}"),
                    OP,
                    &format!("vec{v}"),
                    dtype,
                    grid,
                    threads,
                    bytes,
                    &[x, w, y],
                    &args,
                ),
                // Any alignment: one element at a time, whole warps, 64..1024 threads.
                None => {
                    let block = (cols.div_ceil(8).div_ceil(32) * 32).clamp(64, 1024) as u32;
                    launch_kernel(be, OP, OP, "row", dtype, grid, block, bytes, &[x, w, y], &args)
                }
            }
        }
    }
}

/// The vectorised RMSNorm's (chunks per thread, threads) when every row of x
/// and y and the weights are 16-byte aligned and the row fits 4 chunks per
/// thread of 1024; None otherwise.
fn rmsnorm_vec_shape(x: &Tensor, w: &Tensor, y: &Tensor) -> Option<(u32, u32)> {
    let e = 16 / x.dtype().size_in_bytes();
    let cols = x.shape()[x.rank() - 1];
    if cols % e != 0 || ![x, y, w].iter().all(|t| rows_aligned(t, e)) {
        return None;
    }
    let chunks = cols / e;
    // Fewest chunks per thread with at most 256 threads, else 4 per thread up to 1024.
    [(1, 256), (2, 256), (4, 1024)].into_iter().find_map(|(v, max_threads)| {
        let threads = (chunks.div_ceil(v).div_ceil(32) * 32).max(32);
        (threads <= max_threads).then_some((v as u32, threads as u32))
    })
}

/// From qkv [B, (hq + 2 hkv) d] (plus `bias` [(hq + 2 hkv) d] if given):
/// Q heads rotated into q_out [B, hq, d]; K heads rotated into
/// k_cache[b, h, pos, :]; V heads copied into v_cache[b, h, pos, :]. The caches
/// are [B, hkv, capacity, d]. The rotation pairs element i with i + d/2 (the
/// "rotate half" convention of Llama and Qwen) at angle pos * theta^(-2i/d).
///
/// With qkv [B, T, (hq + 2 hkv) d] and q_out [B, hq, T, d], each sequence
/// brings T consecutive tokens (a prefill chunk): token t is at position
/// `pos + t` and goes to that slot.
pub fn rope_append(
    ctx: &Context,
    qkv: &Tensor,
    bias: Option<&Tensor>,
    q_out: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    o: &RopeOptions,
) -> Result<()> {
    rope_append_impl(ctx, qkv, bias, q_out, k_cache, v_cache, None, o)
}

/// [`rope_append`] for a ragged batch: sequence b's first token is at
/// `positions[b]` (an [`Indices`] of B values on the context's device, read
/// when the kernel runs, so a recorded step sees the values written before
/// each replay); `o.pos` is ignored. A token whose position falls outside
/// the caches is rotated into q_out but not stored.
#[allow(clippy::too_many_arguments)]
pub fn rope_append_ragged(
    ctx: &Context,
    qkv: &Tensor,
    bias: Option<&Tensor>,
    q_out: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    positions: &Indices,
    o: &RopeOptions,
) -> Result<()> {
    rope_append_impl(ctx, qkv, bias, q_out, k_cache, v_cache, Some(positions), o)
}

#[allow(clippy::too_many_arguments)]
fn rope_append_impl(
    ctx: &Context,
    qkv: &Tensor,
    bias: Option<&Tensor>,
    q_out: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    positions: Option<&Indices>,
    o: &RopeOptions,
) -> Result<()> {
    const OP: &str = "rope_append";
    let dtype = qkv.dtype();
    let RopeGeometry { batch, tokens, d, width } =
        check_rope_append(ctx.device(), qkv, bias, q_out, k_cache, v_cache, o, positions.is_some())?;
    if let Some(p) = positions {
        crate::spec::check_indices(OP, "positions", p, ctx.device(), batch)?;
    }
    if batch == 0 || tokens == 0 {
        return Ok(());
    }
    let rows = batch * tokens;
    let bytes = ((2 * rows * width + bias.map_or(0, |_| width)) * dtype.size_in_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{dtype}");
            let pos = positions.map(|p| p.host_values().unwrap_or_default());
            ctx.profiler().host(Tag { label: &label, bytes }, || {
                crate::cpu::layer::rope_append(qkv, bias, q_out, k_cache, v_cache, pos.as_deref(), o)
            })
        }
        Backend::Cuda(be) => {
            let p = rope_params(qkv, bias.is_some(), q_out, k_cache, v_cache, d, o);
            let bias_ptr = match bias {
                Some(b) => device_ptr(OP, b, "bias")?,
                None => device_ptr(OP, qkv, "qkv")?, // never read (has_bias = 0)
            };
            // Null: every sequence starts at p.pos.
            let positions_ptr = positions.and_then(Indices::device_ptr).unwrap_or(0);
            be.hold_indices(&positions.into_iter().collect::<Vec<_>>());
            let mut args = KernelArgs::new();
            args.push(device_ptr(OP, qkv, "qkv")?)
                .push(bias_ptr)
                .push(device_ptr(OP, q_out, "q_out")?)
                .push(device_ptr(OP, k_cache, "k_cache")?)
                .push(device_ptr(OP, v_cache, "v_cache")?)
                .push(positions_ptr)
                .push(p);
            let mut uses = vec![qkv, q_out, k_cache, v_cache];
            uses.extend(bias);
            let block = ((d / 2).div_ceil(32) * 32) as u32;
            // The kernel reads qkv[b < B, t < T, c < width] (and bias[c < width])
            // and writes q_out[b, h < hq, t, i < d] and the caches at slots below cap.
            for (name, n) in [("tokens per sequence", tokens), ("sequences", batch)] {
                if n > 65535 {
                    return Err(Error::Unsupported {
                        op: OP,
                        what: format!("{n} {name} in one launch (at most 65535, the grid's y and z limit)"),
                    });
                }
            }
            let grid = (grid_dim(OP, "heads", o.hq + 2 * o.hkv)?, tokens as u32, batch as u32);
            launch_kernel(be, OP, OP, "qkv", dtype, grid, block, bytes, &uses, &args)
        }
    }
}

/// The kernel parameters of `rope_append` (kernels/rope.cuh) for views
/// `check_rope_append` accepted (qkv and q_out 2-D or 3-D alike).
pub(super) fn rope_params(
    qkv: &Tensor,
    has_bias: bool,
    q_out: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    d: usize,
    o: &RopeOptions,
) -> RopeParams {
    let three_d = qkv.rank() == 3;
    let (sq, sk, sv) = (q_out.layout().strides(), k_cache.layout().strides(), v_cache.layout().strides());
    let sqkv = qkv.layout().strides();
    // The frequencies' constants as kernels/rope.cuh: rope_sincos uses them,
    // worked out here once: src/spec/layer.rs: rope_frequency's wavelength
    // bounds turned into bounds on the frequency f = 2 pi / wavelength, its
    // blend weight (original_max / wavelength - low) / (high - low) into a
    // line in f.
    let two_pi = 2.0 * std::f64::consts::PI;
    let l3 =
        o.llama3.unwrap_or(Llama3Rope { factor: 1.0, low_freq_factor: 1.0, high_freq_factor: 2.0, original_max: 1.0 });
    let span = l3.high_freq_factor - l3.low_freq_factor;
    RopeParams {
        hq: o.hq as i64,
        hkv: o.hkv as i64,
        d: d as i64,
        s_qkv_b: sqkv[0] as i64,
        s_qkv_t: if three_d { sqkv[1] as i64 } else { 0 },
        sq_b: sq[0] as i64,
        sq_h: sq[1] as i64,
        sq_t: if three_d { sq[2] as i64 } else { 0 },
        sk_b: sk[0] as i64,
        sk_h: sk[1] as i64,
        sk_s: sk[2] as i64,
        sv_b: sv[0] as i64,
        sv_h: sv[1] as i64,
        sv_s: sv[2] as i64,
        cap: k_cache.shape()[2] as i64,
        pos: o.pos as i64,
        freq_ratio: (o.theta as f64).powf(-2.0 / d as f64),
        has_bias: has_bias as i32,
        llama3: o.llama3.is_some() as i32,
        inv_factor: 1.0 / l3.factor,
        low_freq: two_pi * l3.low_freq_factor / l3.original_max,
        high_freq: two_pi * l3.high_freq_factor / l3.original_max,
        smooth_a: l3.original_max / (two_pi * span),
        smooth_b: l3.low_freq_factor / span,
    }
}

/// `h = silu(gate) * up`, where gu [rows, 2 inter] holds gate in its first
/// `inter` columns and up in the rest; h is [rows, inter].
pub fn silu_mul(ctx: &Context, gu: &Tensor, h: &Tensor) -> Result<()> {
    const OP: &str = "silu_mul";
    let dtype = gu.dtype();
    let (rows, inter) = check_silu_mul(ctx.device(), gu, h)?;
    if rows == 0 || inter == 0 {
        return Ok(());
    }
    let bytes = (3 * rows * inter * dtype.size_in_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{dtype}");
            ctx.profiler().host(Tag { label: &label, bytes }, || crate::cpu::layer::silu_mul(gu, h))
        }
        Backend::Cuda(be) => {
            let p = SiluMulParams {
                rows: rows as i64,
                inter: inter as i64,
                s_gu: gu.layout().stride(0) as i64,
                s_h: h.layout().stride(0) as i64,
            };
            let mut args = KernelArgs::new();
            args.push(device_ptr(OP, gu, "gu")?).push(device_ptr(OP, h, "h")?).push(p);
            let block = 256;
            let grid = (rows * inter).div_ceil(block).min(be.caps().sm_count as usize * 8) as u32;
            // The kernel reads gu[r < rows, c < 2 inter] and writes h[r < rows, c < inter].
            launch_kernel(be, OP, OP, "elementwise", dtype, (grid, 1, 1), block as u32, bytes, &[gu, h], &args)
        }
    }
}

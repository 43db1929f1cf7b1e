//! The small ops of a Llama-style decoder layer (kernels/layer.cu):
//! - `rmsnorm`: y = x / sqrt(mean(x^2) + eps) * w, per row, f32 math;
//! - `rope_append`: bias add and RoPE on the fused QKV projection's output,
//!   Q to its own tensor, K (rotated) and V to slot `pos` of the KV cache;
//! - `silu_mul`: h = silu(gate) * up, from the fused gate/up projection.
//!
//! Each op takes views with a unit stride along the last (feature) axis and
//! any other strides, validates them, and runs on the context's backend.

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
use crate::tensor::Tensor;

pub(crate) fn ptr(op: &'static str, t: &Tensor, name: &str) -> Result<u64> {
    t.device_ptr().ok_or_else(|| Error::invalid(op, name, "a device tensor", "a host tensor"))
}

/// Launches `{kernel}_{dtype}` of kernels/layer.cu under the label `{op}/{variant}/{dtype}`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_kernel(
    be: &CudaBackend,
    kernel: &str,
    op: &'static str,
    variant: &str,
    dtype: DType,
    grid: (u32, u32),
    block: u32,
    bytes: u64,
    uses: &[&Tensor],
    args: &KernelArgs,
) -> Result<()> {
    let name = format!("{kernel}_{dtype}");
    let f = be.function(&kernels::LAYER, kernels::dtype_build(dtype), &name)?;
    let label = format!("{op}/{variant}/{dtype}");
    let cfg = LaunchConfig { grid: (grid.0, grid.1, 1), block: (block, 1, 1), shared_bytes: 0 };
    // SAFETY: each op's caller validated every view in bounds with the shapes
    // the kernel indexes by (its comment at the call says which), and args
    // match the kernel's parameters (the *Params structs are their twins).
    unsafe { be.launch(Tag { label: &label, bytes }, uses, &f, cfg, args) }
}

fn grid_dim(op: &'static str, what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Unsupported { op, what: format!("{n} {what} exceed the grid limit") })
}

/// `y = x / sqrt(mean(x^2) + eps) * w` over the last axis of x [rows, cols];
/// w is [cols]; y [rows, cols] may be x itself.
pub fn rmsnorm(ctx: &Context, x: &Tensor, w: &Tensor, eps: f32, y: &Tensor) -> Result<()> {
    const OP: &str = "rmsnorm";
    let dtype = x.dtype();
    let (rows, cols) = check_rmsnorm(ctx.device(), x, w, eps, y)?;
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let bytes = ((2 * rows * cols + cols) * dtype.size_in_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{dtype}");
            ctx.profiler().host(Tag { label: &label, bytes }, || crate::cpu::layer::rmsnorm(x, w, eps, y))
        }
        Backend::Cuda(be) => {
            let p = RmsNormParams {
                rows: rows as i64,
                cols: cols as i64,
                sxr: x.layout().stride(0) as i64,
                syr: y.layout().stride(0) as i64,
                eps,
            };
            let mut args = KernelArgs::new();
            args.push(ptr(OP, x, "x")?).push(ptr(OP, w, "w")?).push(ptr(OP, y, "y")?).push(p);
            let grid = (grid_dim(OP, "rows", rows)?, 1);
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
    let cols = x.shape()[1];
    let rows_aligned =
        |t: &Tensor| t.layout().offset() % e == 0 && (t.shape()[0] <= 1 || t.layout().stride(0) % e == 0);
    if cols % e != 0 || !rows_aligned(x) || !rows_aligned(y) || w.layout().offset() % e != 0 {
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
pub fn rope_append(
    ctx: &Context,
    qkv: &Tensor,
    bias: Option<&Tensor>,
    q_out: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    o: &RopeOptions,
) -> Result<()> {
    const OP: &str = "rope_append";
    let dtype = qkv.dtype();
    let RopeGeometry { batch, d, width } = check_rope_append(ctx.device(), qkv, bias, q_out, k_cache, v_cache, o)?;
    if batch == 0 {
        return Ok(());
    }
    let bytes = ((2 * batch * width + bias.map_or(0, |_| width)) * dtype.size_in_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{dtype}");
            ctx.profiler().host(Tag { label: &label, bytes }, || {
                crate::cpu::layer::rope_append(qkv, bias, q_out, k_cache, v_cache, o)
            })
        }
        Backend::Cuda(be) => {
            let (sq, sk, sv) = (q_out.layout().strides(), k_cache.layout().strides(), v_cache.layout().strides());
            let p = RopeParams {
                hq: o.hq as i64,
                hkv: o.hkv as i64,
                d: d as i64,
                s_qkv: qkv.layout().stride(0) as i64,
                sq_b: sq[0] as i64,
                sq_h: sq[1] as i64,
                sk_b: sk[0] as i64,
                sk_h: sk[1] as i64,
                sk_s: sk[2] as i64,
                sv_b: sv[0] as i64,
                sv_h: sv[1] as i64,
                sv_s: sv[2] as i64,
                pos: o.pos as i64,
                log2_theta: (o.theta as f64).log2(),
                has_bias: bias.is_some() as i32,
                llama3: o.llama3.is_some() as i32,
                factor: o.llama3.map_or(1.0, |l| l.factor),
                low_freq_factor: o.llama3.map_or(1.0, |l| l.low_freq_factor),
                high_freq_factor: o.llama3.map_or(2.0, |l| l.high_freq_factor),
                original_max: o.llama3.map_or(1.0, |l| l.original_max),
            };
            let bias_ptr = match bias {
                Some(b) => ptr(OP, b, "bias")?,
                None => ptr(OP, qkv, "qkv")?, // never read (has_bias = 0)
            };
            let mut args = KernelArgs::new();
            args.push(ptr(OP, qkv, "qkv")?)
                .push(bias_ptr)
                .push(ptr(OP, q_out, "q_out")?)
                .push(ptr(OP, k_cache, "k_cache")?)
                .push(ptr(OP, v_cache, "v_cache")?)
                .push(p);
            let mut uses = vec![qkv, q_out, k_cache, v_cache];
            uses.extend(bias);
            let block = ((d / 2).div_ceil(32) * 32) as u32;
            // The kernel reads qkv[b < B, c < width] (and bias[c < width]) and
            // writes q_out[b, h < hq, i < d] and the caches at slot pos < cap.
            if batch > 65535 {
                return Err(Error::Unsupported {
                    op: OP,
                    what: format!("a batch of {batch} tokens (at most 65535, the grid's y limit)"),
                });
            }
            let grid = (grid_dim(OP, "heads", o.hq + 2 * o.hkv)?, batch as u32);
            launch_kernel(be, OP, OP, "qkv", dtype, grid, block, bytes, &uses, &args)
        }
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
            args.push(ptr(OP, gu, "gu")?).push(ptr(OP, h, "h")?).push(p);
            let block = 256;
            let grid = (rows * inter).div_ceil(block).min(be.caps().sm_count as usize * 8) as u32;
            // The kernel reads gu[r < rows, c < 2 inter] and writes h[r < rows, c < inter].
            launch_kernel(be, OP, OP, "elementwise", dtype, (grid, 1), block as u32, bytes, &[gu, h], &args)
        }
    }
}

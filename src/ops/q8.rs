//! x rounded to 8 bits per 32 elements once, for the integer-dot GEMV
//! (`quant_matmul` with [`super::quant::QuantOptions::x_q8`]): standalone
//! (`quantize_x`) or by the op that makes x, which then writes its output
//! both ways (`rmsnorm_q8`, `silu_mul_q8`). The layout and the rounding are
//! [`crate::spec::q8`]'s; on a GPU the kernels are at the end of
//! kernels/quant_dot.cu (each CTA of the GEMV would otherwise quantize the
//! whole of x itself).

use super::device_ptr;
use super::layer::{grid_dim, rows_aligned};
use super::params::Q8Params;
use crate::context::{Backend, Context};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::kernels;
use crate::runtime::{CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::layer::{check_rmsnorm, check_silu_mul};
use crate::spec::q8::{q8_row_bytes, quantize_rows};
use crate::tensor::validate;
use crate::tensor::{Q8Activations, Tensor};

/// Register slots of rmsnorm_q8's threads (kernels/quant_dot.cu: RMS_SLOTS,
/// checked equal by the test below).
const RMSNORM_Q8_SLOTS: usize = 4;
/// The widest row rmsnorm_q8 takes: 32 warps of 4 units in each slot.
pub const RMSNORM_Q8_MAX_COLS: usize = 32 * 4 * RMSNORM_Q8_SLOTS * 32;

/// q = x rounded to 8 bits per 32 elements: x [rows, cols] with a unit
/// column stride, q of the same rows and cols.
pub fn quantize_x(ctx: &Context, x: &Tensor, q: &Q8Activations) -> Result<()> {
    const OP: &str = "quantize_x";
    validate::check_device(OP, "x", x, ctx.device())?;
    validate::check_rank(OP, "x", x, 2)?;
    let (rows, cols) = (x.shape()[0], x.shape()[1]);
    if cols > 1 && x.layout().stride(1) != 1 {
        return Err(Error::invalid(OP, "x", "a unit column stride", format!("strides {:?}", x.layout().strides())));
    }
    check_q(OP, ctx, q, rows, cols)?;
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let bytes = (rows * cols * x.dtype().size_in_bytes() + q.size_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{}", x.dtype());
            ctx.profiler().host(Tag { label: &label, bytes }, || write_cpu(OP, q, &x.to_f32_vec()?))
        }
        Backend::Cuda(be) => {
            let p = params(q, rows, cols, x.layout().stride(0), 0, 0.0, aligned4(&[x]));
            let mut args = KernelArgs::new();
            args.push(device_ptr(OP, x, "x")?).push(q_ptr(q)).push(p);
            // The kernel reads x[r < rows, c < cols] and writes q's layout for rows x cols.
            launch(be, OP, "quantize_x", x, units_grid(be, rows, cols), 256, bytes, &[x], q, &args)
        }
    }
}

/// [`super::rmsnorm`] of x [rows, cols] into y, and y's values (as rounded to
/// its dtype) quantized into q (rows x cols). 2-D views only, y not x.
pub fn rmsnorm_q8(ctx: &Context, x: &Tensor, w: &Tensor, eps: f32, y: &Tensor, q: &Q8Activations) -> Result<()> {
    const OP: &str = "rmsnorm_q8";
    check_rmsnorm(ctx.device(), x, w, eps, y)?;
    if x.rank() != 2 {
        return Err(Error::invalid(OP, "x", "a 2-D [rows, cols] view", format!("shape {:?}", x.shape())));
    }
    if y.same_buffer(x) {
        return Err(Error::invalid(OP, "y", "a buffer other than x's", "x's buffer"));
    }
    let (rows, cols) = (x.shape()[0], x.shape()[1]);
    check_q(OP, ctx, q, rows, cols)?;
    if cols > RMSNORM_Q8_MAX_COLS {
        return Err(Error::invalid(
            OP,
            "x",
            format!("rows of at most {RMSNORM_Q8_MAX_COLS} columns"),
            format!("{cols} columns"),
        ));
    }
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let e = x.dtype().size_in_bytes();
    let bytes = ((2 * rows * cols + cols) * e + q.size_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{}", x.dtype());
            ctx.profiler().host(Tag { label: &label, bytes }, || {
                crate::cpu::layer::rmsnorm(x, w, eps, y)?;
                write_cpu(OP, q, &y.to_f32_vec()?)
            })
        }
        Backend::Cuda(be) => {
            let p = params(q, rows, cols, x.layout().stride(0), y.layout().stride(0), eps, aligned4(&[x, w, y]));
            let mut args = KernelArgs::new();
            args.push(device_ptr(OP, x, "x")?)
                .push(device_ptr(OP, w, "w")?)
                .push(device_ptr(OP, y, "y")?)
                .push(q_ptr(q))
                .push(p);
            let grid = (grid_dim(OP, "rows", rows)?, 1, 1);
            // A CTA a row: reads x[r, c < cols] and w, writes y[r, c < cols] and row r of q.
            // A warp holds 4 units in each of its threads' RMSNORM_Q8_SLOTS
            // slots. The fewest slots a thread with up to 8 warps (a CTA of 256
            // threads of ~56 registers can share an SM with the GEMV CTAs the launch
            // overlaps; 1024 need nearly all of an SM's registers), else all
            // slots with up to 32 (checked above): rows of 896 take 7 warps of
            // one slot, 2048 8 of two, 4096 8 of four, 8192 16 of four.
            let units = cols / 32;
            let warps = units.div_ceil(4).min(8).max(units.div_ceil(4 * RMSNORM_Q8_SLOTS));
            launch(be, OP, "rmsnorm_q8", x, grid, 32 * warps as u32, bytes, &[x, w, y], q, &args)
        }
    }
}

/// [`super::silu_mul`] of gu [rows, 2 cols] into h [rows, cols], and h's
/// values (as rounded to its dtype) quantized into q (rows x cols).
pub fn silu_mul_q8(ctx: &Context, gu: &Tensor, h: &Tensor, q: &Q8Activations) -> Result<()> {
    const OP: &str = "silu_mul_q8";
    let (rows, cols) = check_silu_mul(ctx.device(), gu, h)?;
    check_q(OP, ctx, q, rows, cols)?;
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let bytes = (3 * rows * cols * gu.dtype().size_in_bytes() + q.size_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{}", gu.dtype());
            ctx.profiler().host(Tag { label: &label, bytes }, || {
                crate::cpu::layer::silu_mul(gu, h)?;
                write_cpu(OP, q, &h.to_f32_vec()?)
            })
        }
        Backend::Cuda(be) => {
            let p = params(q, rows, cols, gu.layout().stride(0), h.layout().stride(0), 0.0, aligned4(&[gu, h]));
            let mut args = KernelArgs::new();
            args.push(device_ptr(OP, gu, "gu")?).push(device_ptr(OP, h, "h")?).push(q_ptr(q)).push(p);
            // Reads gu[r, c < 2 cols], writes h[r, c < cols] and q's layout for rows x cols.
            launch(be, OP, "silu_mul_q8", gu, units_grid(be, rows, cols), 256, bytes, &[gu, h], q, &args)
        }
    }
}

/// q on the op's device, of `rows` x `cols` (cols whole units of 32).
fn check_q(op: &'static str, ctx: &Context, q: &Q8Activations, rows: usize, cols: usize) -> Result<()> {
    check_q8_arg(op, "q", ctx, q, rows, cols)
}

/// `op`'s argument `arg`, a q8 buffer, on the op's device and of x's `rows` x
/// `cols` (also `quant_matmul`'s `x_q8`).
pub(crate) fn check_q8_arg(
    op: &'static str,
    arg: &str,
    ctx: &Context,
    q: &Q8Activations,
    rows: usize,
    cols: usize,
) -> Result<()> {
    if q.device() != ctx.device() {
        return Err(Error::WrongDevice {
            op,
            arg: arg.into(),
            expected: ctx.device().to_string(),
            found: q.device().to_string(),
        });
    }
    if (q.rows(), q.cols()) != (rows, cols) {
        return Err(Error::invalid(
            op,
            arg,
            format!("{rows} rows of {cols} (x's)"),
            format!("{} rows of {}", q.rows(), q.cols()),
        ));
    }
    Ok(())
}

fn write_cpu(op: &'static str, q: &Q8Activations, values: &[f32]) -> Result<()> {
    q.write_host(quantize_rows(values, q.rows(), q.cols()))
        .ok_or_else(|| Error::invalid(op, "q", "a host buffer", "a device buffer"))
}

fn params(q: &Q8Activations, rows: usize, cols: usize, sxr: usize, syr: usize, eps: f32, vec: bool) -> Q8Params {
    Q8Params {
        rows: rows as i64,
        cols: cols as i64,
        sxr: sxr as i64,
        syr: syr as i64,
        meta: (q.rows() * q8_row_bytes(q.cols())) as i64,
        eps,
        vec: vec as i32,
    }
}

/// Whether the kernels move 4 values a load in every view (columns are
/// contiguous and whole units of 32 in every op here).
fn aligned4(views: &[&Tensor]) -> bool {
    views.iter().all(|t| rows_aligned(t, 4))
}

fn q_ptr(q: &Q8Activations) -> u64 {
    q.device_buffer().map_or(0, |b| b.device_ptr())
}

/// Eight threads a unit of 32, 256 a CTA, at most 8 CTAs an SM (a grid-stride loop beyond).
fn units_grid(be: &CudaBackend, rows: usize, cols: usize) -> (u32, u32, u32) {
    let threads = rows * (cols / 32) * 8;
    (threads.div_ceil(256).clamp(1, be.caps().sm_count as usize * 8) as u32, 1, 1)
}

#[allow(clippy::too_many_arguments)]
fn launch(
    be: &CudaBackend,
    op: &'static str,
    kernel: &str,
    like: &Tensor,
    grid: (u32, u32, u32),
    block: u32,
    bytes: u64,
    uses: &[&Tensor],
    q: &Q8Activations,
    args: &KernelArgs,
) -> Result<()> {
    let dtype = like.dtype();
    let f = be.function(&kernels::QUANT_DOT, kernels::dtype_build(dtype), &format!("{kernel}_{dtype}"))?;
    let label = format!("{op}/{kernel}/{dtype}");
    if block > 256 {
        // rmsnorm_q8's wide rows: a CTA of up to 1024 threads fits while the
        // kernel needs at most 64 registers (56 on sm_90 with NVRTC 13).
        use cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK as MAX_THREADS;
        let most = f.get_attribute(MAX_THREADS).map_err(Error::driver(format!("reading {label}'s thread limit")))?;
        if block as i32 > most {
            return Err(Error::Unsupported {
                op,
                what: format!("{label} needs CTAs of {block} threads; this build of it allows {most}"),
            });
        }
    }
    be.hold_q8(q);
    // Every producer is a programmatic dependent: it lets the next launch be
    // scheduled, then waits for the previous one (pdl_begin_early, kernels/common.cuh).
    let cfg = LaunchConfig { grid, block: (block, 1, 1), shared_bytes: 0, dependent: true, cluster: 0 };
    // SAFETY: the op validated every view in bounds and q's rows and cols
    // against them (its comment at the call says what the kernel touches);
    // q's allocation holds its layout's bytes; args match the kernel's
    // parameters (Q8Params is its twin, checked by the layout tests).
    unsafe { be.launch(Tag { label: &label, bytes }, uses, &f, cfg, args) }
}

#[cfg(test)]
mod tests {
    /// The host sizes rmsnorm_q8's CTA by the kernel's slot count: a
    /// mismatch would leave part of each row unwritten.
    #[test]
    fn slots_match_the_kernel() {
        let want = format!("constexpr int RMS_SLOTS = {};", super::RMSNORM_Q8_SLOTS);
        assert!(include_str!("../../kernels/quant_dot.cu").contains(&want), "kernels/quant_dot.cu lacks `{want}`");
    }
}

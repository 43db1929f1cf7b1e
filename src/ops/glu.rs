//! `matmul_silu_mul`: an MLP's gate and up projections and its SiLU-gated
//! product in one op, c = silu(a_gate · b) * (a_up · b). It equals `matmul`
//! into a [2M, N] buffer then `silu_mul` bit for bit (each product is rounded
//! to the dtype before the SiLU, as that buffer would hold it). On a GPU,
//! where `matmul`'s plan for the whole of a is the FMA family's veck at N <= 2
//! (a decode step of one or two sequences; f16 and bf16 take the tensor-core
//! GEMV from N = 2 under the shipped tuning), one launch computes each
//! output's gate and up rows with that plan's splits and writes c
//! (kernels/gemv.cu: gemv_veckglu): the gate/up buffer and the SiLU launch are
//! gone. Elsewhere the two ops run through a scratch buffer.

use crate::context::{Backend, Context};
use crate::dispatch::matmul::{GemvPlan, GemvVariant, MatmulDesc, MatmulPlan};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::matmul::{geometry, Geometry};
use crate::tensor::Tensor;

const OP: &str = "matmul_silu_mul";

/// The widest N the fused kernel serves (kernels/gemv.cu: DK_ENTRY_GLU).
const GLU_MAX_N: usize = 2;

/// c [M, N] = silu(a[..M] · b) * (a[M..] · b) with a [2M, K] (the gate rows,
/// then the up rows) and b [K, N]. c must have a unit stride along M (its
/// transpose is the [N, M] rows of tokens the composed path's `silu_mul`
/// writes) and share no memory with a or b.
pub fn matmul_silu_mul(ctx: &Context, a: &Tensor, b: &Tensor, c: &Tensor) -> Result<()> {
    if a.rank() != 2 || a.shape()[0] % 2 != 0 {
        return Err(Error::invalid(
            OP,
            "a",
            "[2M, K]: the gate rows, then the up rows",
            format!("shape {:?}", a.shape()),
        ));
    }
    if b.rank() != 2 {
        return Err(Error::invalid(OP, "b", "[K, N]", format!("shape {:?}", b.shape())));
    }
    let m = a.shape()[0] / 2;
    if c.rank() != 2 || c.shape()[0] != m {
        return Err(Error::invalid(OP, "c", format!("[{m}, N] (half of a's rows)"), format!("shape {:?}", c.shape())));
    }
    if c.shape()[0] > 1 && c.shape()[1] > 0 && c.layout().stride(0) != 1 {
        return Err(Error::invalid(OP, "c", "a unit stride along M", format!("strides {:?}", c.layout().strides())));
    }
    let (gate, up) = (a.narrow(0, 0, m)?, a.narrow(0, m, m)?);
    // Both halves against b and c: shapes, devices, dtypes, bounds, c writable and disjoint.
    let g = geometry(ctx.device(), &gate, b, c, 1)?;
    geometry(ctx.device(), &up, b, c, 1)?;
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    if let Backend::Cuda(be) = ctx.backend() {
        if let Some(gp) = fused_plan(ctx, be, &g)? {
            return launch_fused(be, &g, &gp, &gate, b, c);
        }
    }
    composed(ctx, a, b, c, m)
}

/// The plan `matmul` would make for the whole of a (2M rows), when it is
/// veck: the fused kernel then runs with its block, K splits and K ranges
/// (each row's sums add in the same order, so the result is the same bits),
/// on M CTAs of a gate and an up row each. Planned once per shape.
fn fused_plan(ctx: &Context, be: &CudaBackend, g: &Geometry) -> Result<Option<GemvPlan>> {
    if g.n > GLU_MAX_N || g.batch != 1 || g.m > i32::MAX as usize {
        return Ok(None);
    }
    let gate = g.desc();
    // The gate half's desc checks a's row stride only when it has two rows or
    // more; the up rows start a row stride after the gate rows' end.
    let stride_aligned = g.m > 1 || (g.a[0] * g.dtype.size_in_bytes()) % 16 == 0;
    let desc = MatmulDesc { m: 2 * g.m, a_vec_aligned: gate.a_vec_aligned && stride_aligned, ..gate };
    let prefs = ctx.dispatcher().resolve(None, |p| p.matmul)?;
    ctx.cached_plan(&("matmul_silu_mul", desc, prefs), || {
        Ok(match ctx.dispatcher().plan_matmul(&desc, &prefs, be.cublas_available())? {
            MatmulPlan::Gemv(gp) if gp.variant == GemvVariant::VecK => Some(gp),
            _ => None,
        })
    })
}

/// The gate/up product into a scratch [N, 2M] (rows of tokens), then silu_mul.
fn composed(ctx: &Context, a: &Tensor, b: &Tensor, c: &Tensor, m: usize) -> Result<()> {
    let n = b.shape()[1];
    let gu = ctx.scratch("matmul_silu_mul.gate_up", a.dtype(), n * 2 * m)?.reshape(&[n, 2 * m])?;
    super::matmul(ctx, 1.0, a, b, 0.0, &gu.transpose(0, 1)?)?;
    super::silu_mul(ctx, &gu, &c.transpose(0, 1)?)
}

fn launch_fused(be: &CudaBackend, g: &Geometry, gp: &GemvPlan, gate: &Tensor, b: &Tensor, c: &Tensor) -> Result<()> {
    let ptr = |t: &Tensor, name: &str| {
        t.device_ptr().ok_or_else(|| Error::invalid(OP, name, "a device tensor", "a host tensor"))
    };
    let e = g.dtype.size_in_bytes() as u64;
    let name = format!("gemv_veckglu_n{}_{}", g.n, g.dtype);
    let function = be.function(&kernels::GEMV, kernels::dtype_build(g.dtype), &name)?;
    // One CTA an output row; split-K partials of its 2 x N tile, a counter a row.
    let (ws, counters) = if gp.splits > 1 { be.workspace(g.m * gp.splits as usize * 2 * g.n, g.m)? } else { (0, 0) };
    // One batch (fused_plan): grid.z is 1, so the batch strides are never applied.
    let params = super::matmul::gemv_params(g, g.n, gp, 1.0, 0.0);
    let mut args = KernelArgs::new();
    args.push(ptr(gate, "a")?).push(ptr(b, "b")?).push(ptr(c, "c")?).push(ws).push(counters).push(params);
    let cfg = LaunchConfig {
        grid: (g.m as u32, gp.splits, 1),
        block: (gp.block.0, gp.block.1, 1),
        shared_bytes: 0,
        dependent: true, // kernels/gemv.cu: every entry waits first
        cluster: 0,
    };
    let label = format!("{OP}/veckglu_n{}/{}", g.n, g.dtype);
    let bytes = e * (2 * (g.m * g.k) as u64 + (g.n * (g.k + g.m)) as u64);
    // SAFETY: `geometry` checked the gate half [M, K] and the up half (M rows
    // further in a's buffer, the same strides) against b [K, N] and c [M, N]:
    // in bounds, c writable and disjoint from both; the veck plan was chosen
    // for the alignment of the whole of a (K-contiguous, 16-byte aligned base
    // and row stride: `fused_plan`) and of B. The kernel reads A rows i and M + i
    // for i < M at k < K, B[k < K, n < N], and writes C[i < M, n < N]; the
    // split-K scratch holds M x splits tiles of 2 N floats and M counters.
    unsafe { be.launch(Tag { label: &label, bytes }, &[gate, b, c], &function, cfg, &args) }
}

//! `quant_matmul`: y[N, M] = alpha * x[N, K] · dequant(W)^T + beta * y, with W
//! a [`QuantMatrix`] kept in its GGML block layout (Q8_0, Q4_0, Q4_K, Q6_K):
//! the decode projection on GGUF weights at their own size. x and y are f16,
//! bf16 or f32 (one dtype), with rows of contiguous elements and any row
//! stride; accumulation is f32 (f64 on the CPU backend); `beta == 0` never
//! reads y. On a GPU, kernels/quant.cu, up to 16 columns per launch.

use super::params::QuantParams;
use crate::context::{Backend, Context};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, KernelArgs, LaunchConfig};
pub use crate::spec::quant_matmul::{geometry, QuantGeometry};
use crate::tensor::{QuantMatrix, Tensor};

const OP: &str = "quant_matmul";

/// Columns (tokens) one launch covers; more are covered by further launches.
pub const QUANT_MAX_N: usize = 16;

/// Rows of W per CTA (kernels/quant.cu: one m16 tile).
const ROWS_PER_CTA: usize = 16;

/// Threads per CTA (kernels/quant.cu: QG_THREADS).
const THREADS: u32 = 128;

/// `y = alpha * x · dequant(w)^T + beta * y`: w [M, K] quantized, x [N, K], y [N, M].
pub fn quant_matmul(ctx: &Context, w: &QuantMatrix, x: &Tensor, y: &Tensor, alpha: f32, beta: f32) -> Result<()> {
    let g = geometry(ctx.device(), w, x, y, alpha, beta)?;
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    let e = g.dtype.size_in_bytes();
    let bytes = (w.size_bytes() + g.n * g.k * e + g.n * g.m * e * if beta != 0.0 { 2 } else { 1 }) as u64;
    let kind = w.kind().name().to_ascii_lowercase();
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu_{kind}/{}", g.dtype);
            ctx.profiler()
                .host(Tag { label: &label, bytes }, || crate::cpu::quant_matmul::quant_matmul(&g, w, x, y, alpha, beta))
        }
        Backend::Cuda(be) => {
            be.hold_quant(w);
            let (w_ptr, buf_bytes) =
                w.device_span().ok_or_else(|| Error::invalid(OP, "w", "a device matrix", "a host matrix"))?;
            let ptr = |t: &Tensor, name: &str| {
                t.device_ptr().ok_or_else(|| Error::invalid(OP, name, "a device tensor", "a host tensor"))
            };
            let (px, py) = (ptr(x, "x")?, ptr(y, "y")?);
            let ctas = u32::try_from(g.m.div_ceil(ROWS_PER_CTA))
                .map_err(|_| Error::Unsupported { op: OP, what: format!("{} rows exceed the grid limit", g.m) })?;
            let defines = kernels::dtype_build(g.dtype);
            let mut n0 = 0;
            while n0 < g.n {
                let nc = (g.n - n0).min(QUANT_MAX_N);
                let nt = if nc <= 8 { 1 } else { 2 };
                let name = format!("qgemv_{kind}_nt{nt}_{}", g.dtype);
                let f = be.function(&kernels::QUANT, defines, &name)?;
                let x_first = g.offsets[0] + n0 * g.sxn;
                let p = QuantParams {
                    m: g.m as i64,
                    k: g.k as i64,
                    n: nc as i64,
                    row_bytes: w.row_bytes() as i64,
                    buf_bytes: buf_bytes as i64,
                    sxn: g.sxn as i64,
                    syn: g.syn as i64,
                    x_vec: (x_first % 4 == 0 && (nc == 1 || g.sxn % 4 == 0)) as i32,
                    alpha,
                    beta,
                };
                let mut args = KernelArgs::new();
                args.push(w_ptr).push(px + (n0 * g.sxn * e) as u64).push(py + (n0 * g.syn * e) as u64).push(p);
                let label = format!("{OP}/qgemv_{kind}_nt{nt}/{}", g.dtype);
                let cfg = LaunchConfig { grid: (ctas, 1, 1), block: (THREADS, 1, 1), shared_bytes: 0 };
                let chunk_bytes =
                    (w.size_bytes() + nc * g.k * e + nc * g.m * e * if beta != 0.0 { 2 } else { 1 }) as u64;
                // SAFETY: `geometry` checked x [N, K] and y [N, M] in bounds of
                // their buffers with unit column strides, y disjoint from x, and w
                // on this device with M rows of K / block_elems blocks. The kernel
                // reads W only in 16-byte chunks below buf_bytes (the allocation's
                // length), x[n0 + j, k < K] and writes y[n0 + j, m < M] for j < nc;
                // a vector load of x is used only when x_vec says its rows are
                // 4-element aligned. QuantParams is the kernel's struct (checked
                // by the layout test in ops/params.rs).
                unsafe { be.launch(Tag { label: &label, bytes: chunk_bytes }, &[x, y], &f, cfg, &args)? };
                n0 += nc;
            }
            Ok(())
        }
    }
}

//! `quant_matmul`: y[N, M] = alpha * x[N, K] · dequant(W)^T + beta * y, with W
//! a [`QuantMatrix`] kept in its GGML block layout (Q8_0, Q4_0, Q4_K, Q6_K):
//! the decode projection on GGUF weights at their own size. x and y are f16,
//! bf16 or f32 (one dtype), with rows of contiguous elements and any row
//! stride; accumulation is f32 (f64 on the CPU backend); `beta == 0` never
//! reads y. On a GPU, two kernel families: kernels/quant.cu (tensor cores,
//! up to 16 columns per launch) and kernels/quant_rows.cu (a warp per two
//! rows, bandwidth first, up to 8 columns per launch); `DK_QUANT_KERNEL`
//! (`auto`, `mma`, `rows`) or [`quant_matmul_with`] picks; auto takes `rows`
//! where it measured faster (one token of a Q4_K or Q4_0 projection, see
//! [`QuantKernel::Auto`]), `mma` elsewhere.

use super::params::{QuantParams, QuantRowsParams};
use crate::context::{Backend, Context};
pub use crate::dispatch::quant::{QuantKernel, ROWS_MAX_N};
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

/// Rows of W per CTA of the rows kernel (kernels/quant_rows.cu: QR_WARPS x QR_ROWS).
const ROWS_ROWS_PER_CTA: usize = 8;

/// Threads per CTA of the rows kernel (kernels/quant_rows.cu: QR_THREADS).
const ROWS_THREADS: u32 = 128;

/// Elements of a row one warp iteration of the rows kernel covers (QR_ITER).
const ROWS_ITER: usize = 1024;

/// Bytes of shared memory the rows kernel stages x in, per slice of K.
const ROWS_X_BYTES: usize = 32 << 10;

/// Elements of K per staged slice of x for `n` tokens of `e` bytes: all of
/// K when it fits in [`ROWS_X_BYTES`], else a multiple of [`ROWS_ITER`].
fn rows_slice(k: usize, n: usize, e: usize) -> usize {
    let fit = ROWS_X_BYTES / (n * e) / ROWS_ITER * ROWS_ITER;
    if k <= fit {
        k
    } else {
        fit.max(ROWS_ITER)
    }
}

/// `y = alpha * x · dequant(w)^T + beta * y`: w [M, K] quantized, x [N, K], y [N, M].
pub fn quant_matmul(ctx: &Context, w: &QuantMatrix, x: &Tensor, y: &Tensor, alpha: f32, beta: f32) -> Result<()> {
    quant_matmul_with(ctx, w, x, y, alpha, beta, None)
}

/// [`quant_matmul`] with the kernel family given (None: `DK_QUANT_KERNEL`, else auto).
pub fn quant_matmul_with(
    ctx: &Context,
    w: &QuantMatrix,
    x: &Tensor,
    y: &Tensor,
    alpha: f32,
    beta: f32,
    kernel: Option<QuantKernel>,
) -> Result<()> {
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
            let kernel = ctx.dispatcher().resolve(kernel, |p| p.quant.kernel)?.resolve(w.kind(), g.m, g.n);
            if kernel == QuantKernel::Rows {
                return launch_rows(be, &g, w, (w_ptr, buf_bytes), [x, y], [px, py], alpha, beta);
            }
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

/// The rows kernel (kernels/quant_rows.cu) over chunks of up to [`ROWS_MAX_N`] tokens.
#[allow(clippy::too_many_arguments)]
fn launch_rows(
    be: &crate::runtime::CudaBackend,
    g: &QuantGeometry,
    w: &QuantMatrix,
    (w_ptr, buf_bytes): (u64, usize),
    [x, y]: [&Tensor; 2],
    [px, py]: [u64; 2],
    alpha: f32,
    beta: f32,
) -> Result<()> {
    let e = g.dtype.size_in_bytes();
    let kind = w.kind().name().to_ascii_lowercase();
    let ctas = u32::try_from(g.m.div_ceil(ROWS_ROWS_PER_CTA))
        .map_err(|_| Error::Unsupported { op: OP, what: format!("{} rows exceed the grid limit", g.m) })?;
    let defines = kernels::dtype_build(g.dtype);
    let mut n0 = 0;
    while n0 < g.n {
        let nc = (g.n - n0).min(ROWS_MAX_N);
        let kc = rows_slice(g.k, nc, e);
        let name = format!("qgemv_rows_{kind}_n{nc}_{}", g.dtype);
        let f = be.function(&kernels::QUANT_ROWS, defines, &name)?;
        let p = QuantRowsParams {
            m: g.m as i64,
            k: g.k as i64,
            n: nc as i64,
            row_bytes: w.row_bytes() as i64,
            buf_bytes: buf_bytes as i64,
            sxn: g.sxn as i64,
            syn: g.syn as i64,
            kc: kc as i64,
            alpha,
            beta,
        };
        let mut args = KernelArgs::new();
        args.push(w_ptr).push(px + (n0 * g.sxn * e) as u64).push(py + (n0 * g.syn * e) as u64).push(p);
        let label = format!("{OP}/qgemv_rows_{kind}_n{nc}/{}", g.dtype);
        let shared = u32::try_from(nc * kc.min(g.k) * e).expect("at most ROWS_X_BYTES");
        let cfg = LaunchConfig { grid: (ctas, 1, 1), block: (ROWS_THREADS, 1, 1), shared_bytes: shared };
        let chunk_bytes = (w.size_bytes() + nc * g.k * e + nc * g.m * e * if beta != 0.0 { 2 } else { 1 }) as u64;
        // SAFETY: `geometry` checked x [N, K] and y [N, M] in bounds of their
        // buffers with unit column strides, y disjoint from x, and w on this
        // device with M rows of K / block_elems blocks. The kernel reads W only
        // in 16-byte chunks below buf_bytes (the allocation's length), x[n0 + j,
        // k < K] element by element into `shared` bytes of shared memory (nc
        // rows of min(kc, K) elements), and writes y[n0 + j, m < M] for j < nc.
        // QuantRowsParams is the kernel's struct (checked by the layout test in
        // ops/params.rs).
        unsafe { be.launch(Tag { label: &label, bytes: chunk_bytes }, &[x, y], &f, cfg, &args)? };
        n0 += nc;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_slices_fit_the_shared_budget() {
        assert_eq!(rows_slice(4096, 1, 2), 4096);
        assert_eq!(rows_slice(14336, 1, 2), 14336);
        assert_eq!(rows_slice(14336, 1, 4), 8192);
        assert_eq!(rows_slice(4096, 8, 4), 1024);
        assert_eq!(rows_slice(96, 8, 4), 96);
        for n in 1..=ROWS_MAX_N {
            for e in [2, 4] {
                for k in [32, 96, 1024, 4096, 14336, 65536] {
                    let kc = rows_slice(k, n, e);
                    assert!(kc >= k || kc % ROWS_ITER == 0);
                    assert!(n * kc.min(k) * e <= ROWS_X_BYTES);
                }
            }
        }
    }
}

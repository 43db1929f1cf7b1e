//! `quant_matmul`: y[N, M] = alpha * x[N, K] · dequant(W)^T + beta * y, with W
//! a [`QuantMatrix`] kept in its GGML block layout (Q8_0, Q4_0, Q4_K, Q6_K):
//! the decode projection on GGUF weights at their own size. x and y are f16,
//! bf16 or f32 (one dtype), with rows of contiguous elements and any row
//! stride; accumulation is f32 (f64 on the CPU backend); `beta == 0` never
//! reads y. On a GPU, two kernel families: kernels/quant.cu (tensor cores on
//! the exact quants and x as it is, up to 16 columns per launch) and
//! kernels/quant_dot.cu (integer dot products against x rounded to 8 bits per
//! 32 elements, a warp per two rows, up to [`DOT_MAX_N`] columns per launch);
//! `DK_QUANT_KERNEL` (`auto`, `mma`, `dot`) or [`quant_matmul_with`] picks;
//! auto takes `dot` up to the tuning table's `quant.dot_max_n` tokens for the
//! format (4 in the embedded table, where it measured faster: see
//! [`QuantKernel::Auto`]), `mma` beyond.

use super::params::QuantParams;
use crate::context::{Backend, Context};
pub use crate::dispatch::quant::{dot_x_token_bytes, QuantKernel, DOT_MAX_N};
use crate::dtype::QuantKind;
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::kernels::{self, KernelSource};
use crate::runtime::{CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::q8::q8_row_bytes;
pub use crate::spec::quant_matmul::{geometry, QuantGeometry};
use crate::tensor::{Q8Activations, QuantMatrix, Tensor};

const OP: &str = "quant_matmul";

/// Columns (tokens) one launch covers; more are covered by further launches.
pub const QUANT_MAX_N: usize = 16;

/// Rows of W per CTA of the tensor-core kernel (kernels/quant.cu: one m16 tile).
const MMA_ROWS_PER_CTA: usize = 16;

/// Threads per CTA of the tensor-core kernel (kernels/quant.cu: QG_THREADS).
const MMA_THREADS: u32 = 128;

/// The dot kernel's CTA (kernels/quant_dot.cu): QD_WARPS warps of QD_ROWS
/// rows a tile, iterations of QD_ITER elements in a ring of QD_STAGES (eight
/// warps share one quantized x: four measured 10-25% slower, BENCHMARKS.md).
const DOT_WARPS: usize = 8;
const DOT_THREADS: u32 = 32 * DOT_WARPS as u32;
const DOT_ROWS: usize = 2;
const DOT_ITER: usize = 2048;
const DOT_STAGES: usize = 3;

/// `y = alpha * x · dequant(w)^T + beta * y`: w [M, K] quantized, x [N, K], y [N, M].
pub fn quant_matmul(ctx: &Context, w: &QuantMatrix, x: &Tensor, y: &Tensor, alpha: f32, beta: f32) -> Result<()> {
    quant_matmul_with(ctx, w, x, y, alpha, beta, &QuantOptions::default())
}

/// How a [`quant_matmul_with`] runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuantOptions<'a> {
    /// The kernel family (None: `DK_QUANT_KERNEL`, else auto).
    pub kernel: Option<QuantKernel>,
    /// x already rounded to 8 bits per 32 elements (`ops::quantize_x` of x,
    /// or written beside x by `ops::rmsnorm_q8` / `ops::silu_mul_q8`): the
    /// dot kernel copies it instead of quantizing x in every CTA. The caller
    /// vouches that it holds x's values; the tensor-core kernel and the CPU
    /// backend read x itself.
    pub x_q8: Option<&'a Q8Activations>,
}

/// [`quant_matmul`] with [`QuantOptions`].
pub fn quant_matmul_with(
    ctx: &Context,
    w: &QuantMatrix,
    x: &Tensor,
    y: &Tensor,
    alpha: f32,
    beta: f32,
    opts: &QuantOptions,
) -> Result<()> {
    let g = geometry(ctx.device(), w, x, y, alpha, beta)?;
    if let Some(q) = opts.x_q8 {
        super::q8::check_q8_arg(OP, "x_q8", ctx, q, g.n, g.k)?;
    }
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    let bytes = traffic(&g, w, g.n, beta);
    let kind = w.kind().name().to_ascii_lowercase();
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu_{kind}/{}", g.dtype);
            ctx.profiler()
                .host(Tag { label: &label, bytes }, || crate::cpu::quant_matmul::quant_matmul(&g, w, x, y, alpha, beta))
        }
        // K = 0: y = beta y, as the dense product of an [M, 0] matrix defines
        // it (the dot kernel walks K in iterations and would never finish one).
        Backend::Cuda(_) if g.k == 0 => {
            let a = Tensor::empty(ctx, &[g.m, 0], g.dtype)?;
            super::matmul(ctx, alpha, &a, &x.transpose(0, 1)?, beta, &y.transpose(0, 1)?)
        }
        Backend::Cuda(be) => {
            be.hold_quant(w);
            let kernel = resolve_kernel(ctx, be, w.kind(), g.k, g.n, opts.kernel)?;
            let (w_ptr, buf_bytes) = super::quant_span(OP, w)?;
            let job = Job { be, g: &g, w, w_ptr, buf_bytes, x, x_q8: opts.x_q8, y, alpha, beta };
            match kernel {
                QuantKernel::Dot => launch_dot(&job),
                _ => launch_mma(&job),
            }
        }
    }
}

/// The family that runs `n` tokens of a `kind` matrix of `k` columns on
/// `be`: `kernel` where given, else the environment's choice; auto resolved
/// by the tuning table's `quant.dot_max_n` and whether the dot kernel can
/// run it here (x within its budget, the CTA's shared memory within the
/// device's opt-in bound: 99 KB on some cards, where Q8_0's ring alone takes
/// 104 KB).
pub fn resolve_kernel(
    ctx: &Context,
    be: &CudaBackend,
    kind: QuantKind,
    k: usize,
    n: usize,
    kernel: Option<QuantKernel>,
) -> Result<QuantKernel> {
    let dot_fits = dot_tokens(kind, k, be.caps().max_shared_per_block_optin as usize) > 0;
    let dot_max_n = ctx.dispatcher().table().quant.dot_max_n(kind);
    Ok(ctx.dispatcher().resolve(kernel, |p| p.quant.kernel)?.resolve(n, dot_max_n, dot_fits))
}

/// Bytes `n` tokens of the product move: W's blocks, x, y (read too when beta is not 0).
fn traffic(g: &QuantGeometry, w: &QuantMatrix, n: usize, beta: f32) -> u64 {
    let e = g.dtype.size_in_bytes();
    (w.size_bytes() + n * g.k * e + n * g.m * e * if beta != 0.0 { 2 } else { 1 }) as u64
}

/// The grid of a launch over `units` independent pieces of work, `per_cta` a CTA.
fn grid_for(units: usize, per_cta: usize) -> Result<u32> {
    u32::try_from(units.div_ceil(per_cta))
        .map_err(|_| Error::Unsupported { op: OP, what: format!("{units} rows exceed the grid limit") })
}

/// What one `quant_matmul` on a GPU multiplies: y = alpha * x · dequant(w)^T + beta * y.
struct Job<'a> {
    be: &'a CudaBackend,
    g: &'a QuantGeometry,
    w: &'a QuantMatrix,
    /// W's device address and its buffer's readable bytes.
    w_ptr: u64,
    buf_bytes: usize,
    x: &'a Tensor,
    /// x already quantized (the dot kernel copies it).
    x_q8: Option<&'a Q8Activations>,
    y: &'a Tensor,
    alpha: f32,
    beta: f32,
}

impl Job<'_> {
    /// `source`'s kernel `name` built for this job's dtype.
    fn function(&self, source: &KernelSource, name: &str) -> Result<cudarc::driver::CudaFunction> {
        self.be.function(source, kernels::dtype_build(self.g.dtype), &format!("{name}_{}", self.g.dtype))
    }

    /// The kernels' parameters for a chunk of `nc` tokens.
    fn params(&self, nc: usize, x_vec: bool) -> QuantParams {
        quant_params(self.g, self.w, self.buf_bytes, nc, x_vec, self.alpha, self.beta)
    }
}

/// The kernels' parameters (kernels/common.cuh: QuantParams) for `nc`
/// tokens of `g` on `w`, whose buffer holds `buf_bytes` readable bytes.
fn quant_params(
    g: &QuantGeometry,
    w: &QuantMatrix,
    buf_bytes: usize,
    nc: usize,
    x_vec: bool,
    alpha: f32,
    beta: f32,
) -> QuantParams {
    QuantParams {
        m: g.m as i64,
        k: g.k as i64,
        n: nc as i64,
        row_bytes: w.row_bytes() as i64,
        buf_bytes: buf_bytes as i64,
        sxn: g.sxn as i64,
        syn: g.syn as i64,
        x_vec: x_vec as i32,
        alpha,
        beta,
    }
}

/// One launch per chunk of at most `max_n` tokens: `plan(n0, nc, args)` (the
/// chunk's first token and its tokens) pushes the chunk's parameters after W,
/// x and y and gives its kernel's name (without the dtype), function and
/// launch configuration.
fn launch_chunks(
    job: &Job,
    max_n: usize,
    mut plan: impl FnMut(usize, usize, &mut KernelArgs) -> Result<(String, cudarc::driver::CudaFunction, LaunchConfig)>,
) -> Result<()> {
    let Job { be, g, w, w_ptr, x, y, beta, .. } = *job;
    let ptr = |t: &Tensor, name: &str| super::device_ptr(OP, t, name);
    let (px, py) = (ptr(x, "x")?, ptr(y, "y")?);
    let e = g.dtype.size_in_bytes();
    // Chunks as even as max_n allows (16 tokens at 7 a launch: 6, 5, 5, not
    // 7, 7, 2): the launches stream the same weights, so the widest bounds
    // the time of each.
    let launches = g.n.div_ceil(max_n.max(1));
    let mut n0 = 0;
    for i in 0..launches {
        let nc = (g.n - n0).div_ceil(launches - i);
        let mut args = KernelArgs::new();
        args.push(w_ptr).push(px + (n0 * g.sxn * e) as u64).push(py + (n0 * g.syn * e) as u64);
        let (name, f, cfg) = plan(n0, nc, &mut args)?;
        let label = format!("{OP}/{name}/{}", g.dtype);
        let bytes = traffic(g, w, nc, beta);
        // SAFETY: `geometry` checked x [N, K] and y [N, M] in bounds of their
        // buffers with unit column strides, y disjoint from x, and w on this
        // device with M rows of K / block_elems blocks. Each kernel reads W only
        // in 16-byte chunks below buf_bytes (the allocation's length, in its
        // parameters), x[n0 + j, k < K] (or, with x_q8, that buffer's rows
        // n0 + j: checked above to hold x's rows and columns, its allocation
        // padded to whole 16-byte copies) and writes y[n0 + j, m < M] for j < nc;
        // `plan` pushed the kernel's parameter struct (checked by the layout
        // tests in ops/params.rs) and sized the shared memory its header asks.
        unsafe { be.launch(Tag { label: &label, bytes }, &[x, y], &f, cfg, &args)? };
        n0 += nc;
    }
    Ok(())
}

/// The tensor-core kernel (kernels/quant.cu) over chunks of up to [`QUANT_MAX_N`] tokens.
fn launch_mma(job: &Job) -> Result<()> {
    let (g, w) = (job.g, job.w);
    let ctas = grid_for(g.m, MMA_ROWS_PER_CTA)?;
    let kind = w.kind().name().to_ascii_lowercase();
    launch_chunks(job, QUANT_MAX_N, |n0, nc, args| {
        let x_first = g.offsets[0] + n0 * g.sxn;
        // A vector load of x only where its rows are 4-element aligned.
        let x_vec = x_first % 4 == 0 && (nc == 1 || g.sxn % 4 == 0);
        args.push(job.params(nc, x_vec));
        let name = format!("qgemv_{kind}_nt{}", if nc <= 8 { 1 } else { 2 });
        let f = job.function(&kernels::QUANT, &name)?;
        let cfg = LaunchConfig {
            grid: (ctas, 1, 1),
            block: (MMA_THREADS, 1, 1),
            shared_bytes: 0,
            dependent: false,
            cluster: 0,
        };
        Ok((name, f, cfg))
    })
}

/// The integer-dot kernel (kernels/quant_dot.cu) over chunks of as many
/// tokens as x's quants fit in shared memory ([`dot_tokens`]).
fn launch_dot(job: &Job) -> Result<()> {
    let (be, g, w) = (job.be, job.g, job.w);
    let kind = w.kind();
    let optin = be.caps().max_shared_per_block_optin as usize;
    let per_launch = dot_tokens(kind, g.k, optin);
    if per_launch == 0 {
        return Err(Error::Unsupported {
            op: OP,
            what: format!(
                "the dot kernel holds x in shared memory: one token of K = {} beside {}'s copy ring takes {} bytes, \
                 over the device's {optin}",
                g.k,
                kind.name(),
                dot_shared_bytes(kind, g.k, 1)
            ),
        });
    }
    let fmt = kind.name().to_ascii_lowercase();
    let q8 = q8_spans(be, job.x_q8);
    launch_chunks(job, per_launch, |n0, nc, args| {
        let (xq, xm) = q8.map_or((0, 0), |(b, m, row, units)| (b + n0 as u64 * row, m + n0 as u64 * units));
        args.push(xq).push(xm).push(job.params(nc, false));
        let name = format!("qgemv_dot_{fmt}_n{nc}");
        let f = job.function(&kernels::QUANT_DOT, &name)?;
        let cfg = dot_config(be, &f, &name, kind, g.m.div_ceil(DOT_ROWS), g.k, nc)?;
        Ok((name, f, cfg))
    })
}

/// x's quants and unit constants, where given (held for the launch): the
/// start of each region and the bytes of a row in each.
fn q8_spans(be: &CudaBackend, x_q8: Option<&Q8Activations>) -> Option<(u64, u64, u64, u64)> {
    x_q8.map(|q| {
        be.hold_q8(q);
        let base = q.device_buffer().map_or(0, |b| b.device_ptr());
        (
            base,
            base + (q.rows() * q8_row_bytes(q.cols())) as u64,
            q8_row_bytes(q.cols()) as u64,
            (q.cols() / 32 * 8) as u64,
        )
    })
}

/// A dot launch of `nc` tokens over `tiles` row pairs of a `kind` matrix of
/// K = `k` columns (`f`, named `name`).
fn dot_config(
    be: &CudaBackend,
    f: &cudarc::driver::CudaFunction,
    name: &str,
    kind: QuantKind,
    tiles: usize,
    k: usize,
    nc: usize,
) -> Result<LaunchConfig> {
    let shared = dot_shared_bytes(kind, k, nc);
    // Every CTA slot the device holds at once, no more CTAs than tiles
    // (row pairs). The kernel deals tiles out CTA by CTA (tile t to CTA
    // t % grid), so CTA loads differ by at most one tile and, at three
    // CTAs an SM, so do the SMs'. Sized instead as the fewest CTAs of
    // whole rounds (14336 rows of Q4_K at K = 4096: 299 CTAs of three
    // tiles a warp), 35 SMs held three CTAs and 97 two. Small matrices
    // get every slot too (1024 rows: 396 CTAs of one or two busy warps,
    // not 64 full ones): slower alone (`bench`), faster in a decode step
    // (BENCHMARKS.md, 2026-11-30).
    let per_sm = be.resident_ctas(OP, f, name, DOT_THREADS, shared)?;
    let ctas = grid_for(dot_ctas(tiles, per_sm * be.caps().sm_count as usize), 1)?;
    let shared = u32::try_from(shared).expect("below the opt-in bound");
    // The dot kernel starts its first weight copies, then waits for the
    // previous launch (kernels/quant_dot.cu).
    Ok(LaunchConfig {
        grid: (ctas, 1, 1),
        block: (DOT_THREADS, 1, 1),
        shared_bytes: shared,
        dependent: true,
        cluster: 0,
    })
}

/// Whether the dot kernel's QKV launch with RoPE (`launch_dot_rope`) serves
/// `n` tokens of `w` on `be`: what the launch needs (`dot_rope_fits`), and
/// the dot kernel auto's (or `DK_QUANT_KERNEL`'s) choice.
pub(super) fn dot_rope_serves(ctx: &Context, be: &CudaBackend, w: &QuantMatrix, n: usize) -> Result<bool> {
    Ok(dot_rope_fits(be, w, n) && resolve_kernel(ctx, be, w.kind(), w.cols(), n, None)? == QuantKernel::Dot)
}

/// What the fused launch itself needs: 1 or 2 tokens (its entries), K > 0
/// (the kernel walks K in iterations), whole row pairs, and the tokens' x
/// within the CTA's shared memory beside the copy ring.
fn dot_rope_fits(be: &CudaBackend, w: &QuantMatrix, n: usize) -> bool {
    let optin = be.caps().max_shared_per_block_optin as usize;
    (1..=2).contains(&n) && w.cols() > 0 && w.rows() % 2 == 0 && dot_tokens(w.kind(), w.cols(), optin) >= n
}

/// The dot kernel with RoPE and the cache append in its epilogue
/// (kernels/quant_dot.cu: qgemv_dot_rope; ops::fused_gemv::
/// quant_matmul_rope_append): one launch of `g.n` tokens of `w` (1 or 2,
/// their x within the CTA's shared memory: `dot_rope_serves`, checked here
/// again), whole heads from `head0` on. `push_rope` pushes rope_append's
/// pointers and parameters; `uses` are the tensors the launch touches
/// besides x. Nothing is written to a y (its pointer is null).
#[allow(clippy::too_many_arguments)]
pub(super) fn launch_dot_rope(
    be: &CudaBackend,
    g: &QuantGeometry,
    w: &QuantMatrix,
    x: &Tensor,
    x_q8: Option<&Q8Activations>,
    head0: usize,
    push_rope: impl FnOnce(&mut KernelArgs) -> Result<()>,
    uses: &[&Tensor],
    op: &'static str,
) -> Result<()> {
    if !dot_rope_fits(be, w, g.n) {
        return Err(Error::Unsupported {
            op,
            what: format!("the fused dot launch of {} tokens of a {}x{} {} matrix", g.n, g.m, g.k, w.kind()),
        });
    }
    be.hold_quant(w);
    let kind = w.kind();
    let fmt = kind.name().to_ascii_lowercase();
    let (w_ptr, buf_bytes) = super::quant_span(op, w)?;
    let px = super::device_ptr(op, x, "x")?;
    let (xq, xm) = q8_spans(be, x_q8).map_or((0, 0), |(b, m, _, _)| (b, m));
    let mut args = KernelArgs::new();
    args.push(w_ptr).push(px).push(0u64).push(xq).push(xm).push(quant_params(g, w, buf_bytes, g.n, false, 1.0, 0.0));
    push_rope(&mut args)?;
    args.push(i32::try_from(head0).map_err(|_| Error::invalid(op, "parts", "fewer than 2^31 heads", head0))?);
    let name = format!("qgemv_dot_rope_{fmt}_n{}", g.n);
    let f = be.function(&kernels::QUANT_DOT, kernels::dtype_build(g.dtype), &format!("{name}_{}", g.dtype))?;
    let mut cfg = dot_config(be, &f, &name, kind, g.m / 2, g.k, g.n)?;
    // No more CTAs than a tile for each warp (fewer where the device holds
    // fewer at once), not every CTA slot: the attention launch
    // after this one then finds SMs free for its prologue (loads of the
    // cached keys before the wait for this launch). On an H200 every slot
    // cost qwen2.5-0.5b Q8_0 33 us a step and llama3.2-1b Q4_K_M 22
    // against this grid (BENCHMARKS.md, 2026-11-30).
    cfg.grid.0 = cfg.grid.0.min(u32::try_from((g.m / 2).div_ceil(DOT_WARPS)).unwrap_or(u32::MAX));
    let label = format!("{op}/dot_rope_{fmt}_n{}/{}", g.n, g.dtype);
    let e = g.dtype.size_in_bytes();
    let bytes = (w.size_bytes() + g.n * g.k * e + g.n * g.m * e) as u64;
    let mut all = vec![x];
    all.extend_from_slice(uses);
    // SAFETY: the caller checked (ops::fused_gemv::validate_quant_rope) x [N,
    // K] against w [M, K] (M whole heads of d rows from head0 on, inside the
    // projection's (hq + 2 hkv) d), x_q8 as x's rows, and the targets as
    // rope_append's for that projection; `dot_rope_serves` checked N (1 or 2)
    // and that x's N rows fit the dot kernel's shared memory, which
    // `dot_config` sizes. The kernel reads W in 16-byte chunks below
    // buf_bytes, x[n < N, k < K] (or x_q8's rows), the bias and positions;
    // writes q_out and the caches' slots inside them (rope_finish skips the
    // others); Y (null) is never touched.
    unsafe { be.launch(Tag { label: &label, bytes }, &all, &f, cfg, &args) }
}

/// CTAs of a dot launch over `tiles` row pairs: every one of the device's
/// `slots` resident CTAs, no more than there are tiles (see `launch_dot`).
fn dot_ctas(tiles: usize, slots: usize) -> usize {
    tiles.min(slots)
}

/// The tiles warp `w` of CTA `b` takes among `grid` CTAs, in order: b + grid
/// (w + DOT_WARPS r) (kernels/quant_dot.cu, tile0 and tstride).
#[cfg(test)]
fn dealt_tiles(tiles: usize, grid: usize, b: usize, w: usize) -> impl Iterator<Item = usize> {
    (b + grid * w..tiles).step_by(grid * DOT_WARPS)
}

/// Tokens of K columns one dot launch takes: as many as fit the device's
/// shared memory per CTA (`optin` bytes) beside the format's copy ring, at
/// most [`DOT_MAX_N`] (0: not even one token fits). At K = 4096 that is
/// DOT_MAX_N on every format; at K = 14336 (an MLP's down projection) 8
/// tokens of Q4_K or Q6_K fit an H100's or H200's 227 KB, where a fixed 48 KB
/// for x allowed 2 (the batch-16 step ran each down projection in 8 launches).
pub fn dot_tokens(kind: QuantKind, k: usize, optin: usize) -> usize {
    (1..=DOT_MAX_N).rev().find(|&n| dot_shared_bytes(kind, k, n) <= optin).unwrap_or(0)
}

/// Dynamic shared memory of the dot kernel: x's quants and unit constants
/// (16-byte aligned), then each warp's ring of stages (kernels/quant_dot.cu).
fn dot_shared_bytes(kind: QuantKind, k: usize, n: usize) -> usize {
    let x = (n * dot_x_token_bytes(k)).next_multiple_of(16);
    let iter_bytes = DOT_ITER / kind.block_elems() * kind.block_bytes();
    let pitch = (iter_bytes + 14).div_ceil(16) + 1;
    // The stages' barriers (8 bytes each, padded to 16) between x and the rings.
    let barriers = (DOT_WARPS * DOT_STAGES * 8).next_multiple_of(16);
    x + barriers + DOT_WARPS * DOT_STAGES * DOT_ROWS * pitch * 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_dealt_once_each_and_evenly_over_the_ctas() {
        // 132 SMs x 3 slots; row pairs of a 1024-, 4096-, 14336- and 128256-row matrix, and a few odd counts.
        for tiles in [1, 7, 512, 2048, 7168, 64128, 396 * 8 + 5] {
            let grid = dot_ctas(tiles, 396);
            let mut seen = vec![0u8; tiles];
            let mut per_cta = Vec::with_capacity(grid);
            for b in 0..grid {
                let mut n = 0;
                for w in 0..DOT_WARPS {
                    for t in dealt_tiles(tiles, grid, b, w) {
                        seen[t] += 1;
                        n += 1;
                    }
                }
                per_cta.push(n);
            }
            assert!(seen.iter().all(|&c| c == 1), "{tiles}: every tile exactly once");
            let (lo, hi) = (per_cta.iter().min().unwrap(), per_cta.iter().max().unwrap());
            assert!(hi - lo <= 1 && *lo >= 1, "{tiles} tiles over {grid} CTAs: {lo}..{hi}");
        }
    }

    #[test]
    fn dot_chunks_fit_x_in_shared_memory() {
        const H200: usize = 227 << 10;
        assert_eq!(dot_tokens(QuantKind::Q4_K, 4096, H200), 8);
        // An MLP's down projection: 8 tokens of Q4_K and Q6_K, 7 of Q8_0 (its ring is wider).
        assert_eq!(dot_tokens(QuantKind::Q4_K, 14336, H200), 8);
        assert_eq!(dot_tokens(QuantKind::Q6_K, 14336, H200), 8);
        assert_eq!(dot_tokens(QuantKind::Q8_0, 14336, H200), 7);
        // The longest K of one token: 100992 for Q8_0, 140288 for Q4_K.
        assert_eq!(dot_tokens(QuantKind::Q8_0, 100992, H200), 1);
        assert_eq!(dot_tokens(QuantKind::Q8_0, 101024, H200), 0);
        assert_eq!(dot_tokens(QuantKind::Q4_K, 140288, H200), 1);
        for kind in [QuantKind::Q8_0, QuantKind::Q4_0, QuantKind::Q4_K, QuantKind::Q6_K] {
            for k in [256, 896, 4096, 14336, 28672, 65536] {
                let n = dot_tokens(kind, k, H200);
                assert!(n >= 1 && dot_shared_bytes(kind, k, n) <= H200, "{k}");
                assert!(n == DOT_MAX_N || dot_shared_bytes(kind, k, n + 1) > H200, "{k}: the most that fit");
            }
            // Too long for one token: 0, and the launch names the bound.
            assert_eq!(dot_tokens(kind, 1 << 20, H200), 0);
        }
        // Where a card's opt-in bound is 99 KB (sm_86, sm_89), Q8_0's CTA does
        // not fit and auto takes the tensor-core kernel; Q4_K's does at 4 tokens.
        assert!(dot_shared_bytes(QuantKind::Q8_0, 4096, 1) > 99 << 10);
        assert!(dot_shared_bytes(QuantKind::Q4_K, 4096, 4) <= 99 << 10);
        // K rounded up to whole unit pairs (64 bytes) per token: 3 units of 32 take 128 bytes.
        assert_eq!(dot_x_token_bytes(96), 128 + 3 * 8);
        // Q4_K at K = 4096, one token: 5 KB of x, 8 warps x 3 stages of 8-byte
        // barriers, 8 warps x 3 stages x 2 rows x 74 chunks (73 + 1 of pitch).
        assert_eq!(
            dot_shared_bytes(QuantKind::Q4_K, 4096, 1),
            5120 + DOT_WARPS * DOT_STAGES * 8 + DOT_WARPS * DOT_STAGES * 2 * 74 * 16
        );
    }
}

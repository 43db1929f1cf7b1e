//! `quant_matmul`: y[N, M] = alpha * x[N, K] · dequant(W)^T + beta * y, with W
//! a [`QuantMatrix`] kept in its GGML block layout (Q8_0, Q4_0, Q4_K, Q6_K):
//! the decode projection on GGUF weights at their own size. x and y are f16,
//! bf16 or f32 (one dtype), with rows of contiguous elements and any row
//! stride; accumulation is f32 (f64 on the CPU backend); `beta == 0` never
//! reads y. On a GPU, two kernel families: kernels/quant.cu (tensor cores on
//! the exact quants and x as it is, up to 16 columns per launch) and
//! kernels/quant_dot.cu (integer dot products against x rounded to 8 bits per
//! 32 elements, a warp per two rows, up to [`DOT_MAX_N`] columns per launch)
//! and kernels/quant_imma.cu (integer tensor cores on the same rounded x,
//! every format (Q8_0 and Q4_0 where K is a multiple of 256), a warp per 16
//! rows, up to 16 columns per launch); `DK_QUANT_KERNEL`
//! (`auto`, `mma`, `dot`, `imma`) or [`quant_matmul_with`] picks; auto takes
//! `imma` from the tuning table's `quant.imma_min_n` tokens where x is given
//! already rounded or is rounded once by a launch of its own (at least
//! `quant.round_x_min_elems` elements), else `dot` up to `quant.dot_max_n`
//! tokens for the format (see [`QuantKernel::Auto`]), `mma` beyond.

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
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

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

/// The integer tensor-core kernel's CTA (kernels/quant_imma.cu): 8 or 16
/// warps, each a tile of IMMA_ROWS rows and one of `kparts` parts of K,
/// its ring of 2 or 3 stages of 16 rows x 256 columns (Q4_K and Q4_0 at a
/// pitch of 160 bytes, Q8_0 288, Q6_K 240: the 14 chunks that cover its 210
/// bytes).
const IMMA_WARPS: [usize; 2] = [16, 8];
const IMMA_ROWS: usize = 16;
const IMMA_STAGES: [usize; 2] = [3, 2];
/// Bytes after each token's quants in its shared memory (QI_X_PAD).
const IMMA_X_PAD: usize = 32;
/// Tokens a launch covers at most (two n-tiles of 8).
pub const IMMA_MAX_N: usize = 16;

/// The ring stages of matrix 1 in a two-matrix launch (kernels/quant_dot.cu:
/// QD_PAIR_STAGES; qgemv_dot2 keeps a Q6_K ring as small as matrix 0's Q4_K one).
const PAIR_STAGES_1: usize = 2;

/// The two-matrix launches the dot kernel has (matrix 0's format, matrix
/// 1's, the entries' infix): Q4_K_M's QKV where its V rows are Q6_K.
const DOT_PAIRS: [(QuantKind, QuantKind, &str); 1] = [(QuantKind::Q4_K, QuantKind::Q6_K, "q4_k_q6_k")];

/// The token counts the two-matrix entries have (kernels/quant_dot.cu:
/// qgemv_dot2_*_n<N>): a decode step's batch of 1 to 4, and 8 (16 in two
/// launches). Other counts run a launch a matrix.
const PAIR_TOKENS: [usize; 5] = [1, 2, 3, 4, 8];

/// The entries' infix of a two-matrix launch of these formats, if the dot kernel has one.
fn pair_infix(kinds: [QuantKind; 2]) -> Option<&'static str> {
    DOT_PAIRS.iter().find(|(a, b, _)| [*a, *b] == kinds).map(|(_, _, name)| *name)
}

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
    let has_q8 = opts.x_q8.is_some();
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
            let (kernel, make) = plan_x(ctx, be, w.kind(), x, g.n, g.k, opts.kernel, has_q8)?;
            let (w_ptr, buf_bytes) = super::quant_span(OP, w)?;
            let made = if make {
                if kernel == QuantKernel::Imma {
                    imma_check(w.kind(), g.k, be.caps().max_shared_per_block_optin as usize)?;
                }
                Some(round_x(ctx, x, g.n, g.k)?)
            } else {
                None
            };
            let x_q8 = made.as_ref().or(opts.x_q8);
            let table = &ctx.dispatcher().table().quant;
            let group_cost = table.imma_group_costs(w.kind());
            let (kparts, csplit) = (table.imma_kparts, table.imma_csplit);
            let job = Job { be, g: &g, w, w_ptr, buf_bytes, x, x_q8, y, alpha, beta, kparts, group_cost, csplit };
            match kernel {
                QuantKernel::Dot => launch_dot(&job),
                QuantKernel::Imma => launch_imma(&job),
                _ => launch_mma(&job),
            }
        }
    }
}

/// A projection stacked from `parts` (their rows one after another: y's
/// columns from r to r + M_i are part i's, r the rows before it), each part
/// as [`quant_matmul_with`] runs it with `opts`. Where the dot kernel has a
/// two-matrix launch for the two parts' formats (Q4_K then Q6_K: Q4_K_M's
/// QKV in the layers whose V rows are Q6_K), runs both parts on it and the
/// tuning's `quant.pair_launch` is on, one launch a chunk of tokens instead
/// of one a part, from the tuning's `quant.pair_min_n` tokens on (the V
/// rows' own launch cost more in fixed cost than in bytes there; at one or
/// two tokens the two launches measured faster: BENCHMARKS.md, 2026-11-30,
/// tenth session).
#[allow(clippy::too_many_arguments)]
pub fn quant_matmul_parts(
    ctx: &Context,
    parts: &[&QuantMatrix],
    x: &Tensor,
    y: &Tensor,
    alpha: f32,
    beta: f32,
    opts: &QuantOptions,
) -> Result<()> {
    let views = part_views(parts, y)?;
    let mut geoms = Vec::with_capacity(parts.len());
    for (w, v) in parts.iter().zip(&views) {
        geoms.push(geometry(ctx.device(), w, x, v, alpha, beta)?);
    }
    if let Some(q) = opts.x_q8 {
        super::q8::check_q8_arg(OP, "x_q8", ctx, q, geoms[0].n, geoms[0].k)?;
    }
    // x as it is, rounded once for all the parts where quant_matmul_with
    // would round it by a launch of its own for each (x of the tuning's
    // quant.round_x_min_elems, and every part's plan_x says so).
    let made = match ctx.backend() {
        Backend::Cuda(be) if opts.x_q8.is_none() => {
            let (n, k) = (geoms[0].n, geoms[0].k);
            let min = ctx.dispatcher().table().quant.round_x_min_elems;
            let every = |all: bool, w: &QuantMatrix| -> Result<bool> {
                Ok(all && plan_x(ctx, be, w.kind(), x, n, k, opts.kernel, false)?.1)
            };
            match rounds_x_once(min, x, n, k) && parts.iter().try_fold(true, |all, w| every(all, w))? {
                true => Some(round_x(ctx, x, n, k)?),
                false => None,
            }
        }
        _ => None,
    };
    let opts = &QuantOptions { x_q8: made.as_ref().or(opts.x_q8), ..*opts };
    if let (Backend::Cuda(be), [w0, w1], [g0, g1]) = (ctx.backend(), parts, &geoms[..]) {
        if let Some(infix) = pair_serves(ctx, be, [w0, w1], g0.n, opts.kernel, opts.x_q8.is_some())? {
            let y = [&views[0], &views[1]];
            let job = PairJob { be, g: [g0, g1], w: [w0, w1], x, x_q8: opts.x_q8, y, alpha, beta };
            return launch_dot_pair(&job, infix);
        }
    }
    for (w, v) in parts.iter().zip(&views) {
        quant_matmul_with(ctx, w, x, v, alpha, beta, opts)?;
    }
    Ok(())
}

/// Whether [`quant_matmul_parts`] runs `n` tokens of `parts` on this
/// context in one launch a chunk (else a launch a part), with `kernel` as
/// its options' (None: the environment's or auto's choice).
pub fn parts_in_one_launch(
    ctx: &Context,
    parts: &[&QuantMatrix],
    n: usize,
    kernel: Option<QuantKernel>,
    has_x_q8: bool,
) -> Result<bool> {
    match (ctx.backend(), parts) {
        (Backend::Cuda(be), [a, b]) => Ok(pair_serves(ctx, be, [a, b], n, kernel, has_x_q8)?.is_some()),
        _ => Ok(false),
    }
}

/// Each part's columns of y ([N, the parts' rows]): an error naming `parts`
/// where there are none, `y` where its columns are not the parts' rows.
fn part_views(parts: &[&QuantMatrix], y: &Tensor) -> Result<Vec<Tensor>> {
    if parts.is_empty() {
        return Err(Error::invalid(OP, "parts", "one or more quantized matrices", "none"));
    }
    let rows: usize = parts.iter().map(|w| w.rows()).sum();
    if y.rank() != 2 || y.shape()[1] != rows {
        return Err(Error::invalid(
            OP,
            "y",
            format!("[N, {rows}] (the parts' rows)"),
            format!("shape {:?}", y.shape()),
        ));
    }
    let mut at = 0;
    let mut views = Vec::with_capacity(parts.len());
    for w in parts {
        views.push(y.narrow(1, at, w.rows())?);
        at += w.rows();
    }
    Ok(views)
}

/// The entries' infix where one two-matrix launch serves `n` tokens of `w`
/// (a launch of them all, each K > 0 and M > 0), else None: the tuning's
/// `quant.pair_launch` and `pair_min_n`, an entry for the formats, the dot kernel the choice
/// for both (`resolve_kernel`), and x of a token within the launch's shared
/// memory.
fn pair_serves(
    ctx: &Context,
    be: &CudaBackend,
    w: [&QuantMatrix; 2],
    n: usize,
    kernel: Option<QuantKernel>,
    has_x_q8: bool,
) -> Result<Option<&'static str>> {
    let kinds = [w[0].kind(), w[1].kind()];
    let Some(infix) = pair_infix(kinds) else { return Ok(None) };
    let k = w[0].cols();
    let table = &ctx.dispatcher().table().quant;
    if !table.pair_launch || n < table.pair_min_n.max(1) || k == 0 || w[0].rows() == 0 || w[1].rows() == 0 {
        return Ok(None);
    }
    for kind in kinds {
        if resolve_kernel(ctx, be, kind, k, n, kernel, has_x_q8)? != QuantKernel::Dot {
            return Ok(None);
        }
    }
    let optin = be.caps().max_shared_per_block_optin as usize;
    Ok(pair_entries_cover(n, pair_tokens(kinds, k, optin)).then_some(infix))
}

/// Whether `n` tokens in chunks of at most `per_launch` are all chunks the
/// two-matrix entries have (PAIR_TOKENS).
fn pair_entries_cover(n: usize, per_launch: usize) -> bool {
    let chunks = token_chunks(n, per_launch);
    per_launch > 0 && !chunks.is_empty() && chunks.iter().all(|(_, nc)| PAIR_TOKENS.contains(nc))
}

/// The family that runs `n` tokens of a `kind` matrix of `k` columns on
/// `be`: `kernel` where given, else the environment's choice; auto resolved
/// by the tuning table's `quant.imma_min_n` (where x is already rounded to
/// 8 bits, `has_x_q8`: given, or to be rounded once by its own launch, and
/// the imma kernel can run the matrix here), then `quant.dot_max_n` and whether the dot kernel can run
/// it here (x within its budget, the CTA's shared memory within the
/// device's opt-in bound: 99 KB on some cards, where Q8_0's ring alone takes
/// 104 KB).
pub fn resolve_kernel(
    ctx: &Context,
    be: &CudaBackend,
    kind: QuantKind,
    k: usize,
    n: usize,
    kernel: Option<QuantKernel>,
    has_x_q8: bool,
) -> Result<QuantKernel> {
    let optin = be.caps().max_shared_per_block_optin as usize;
    let dot_fits = dot_tokens(kind, k, optin) > 0;
    let imma_fits = has_x_q8 && imma_tokens(kind, k, optin) > 0;
    let table = &ctx.dispatcher().table().quant;
    let (dot_max_n, imma_min_n) = (table.dot_max_n(kind), table.imma_min_n(kind));
    Ok(ctx.dispatcher().resolve(kernel, |p| p.quant.kernel)?.resolve(n, dot_max_n, dot_fits, imma_min_n, imma_fits))
}

/// The family that runs `n` tokens of a `kind` matrix of `k` columns on
/// `be` for x as `x` ([`resolve_kernel`], x counted as rounded where it is
/// given so, `has_x_q8`, or will be rounded once, [`rounds_x_once`]), and
/// whether x is first rounded by a launch of its own: for the imma kernel
/// where the caller gives no rounded x, for the dot kernel where
/// rounds_x_once says so (and the kernel can run the matrix here: else
/// its launch says why, with nothing rounded first).
#[allow(clippy::too_many_arguments)]
pub fn plan_x(
    ctx: &Context,
    be: &CudaBackend,
    kind: QuantKind,
    x: &Tensor,
    n: usize,
    k: usize,
    kernel: Option<QuantKernel>,
    has_x_q8: bool,
) -> Result<(QuantKernel, bool)> {
    let min = ctx.dispatcher().table().quant.round_x_min_elems;
    let once = !has_x_q8 && rounds_x_once(min, x, n, k);
    let family = resolve_kernel(ctx, be, kind, k, n, kernel, has_x_q8 || once)?;
    let optin = be.caps().max_shared_per_block_optin as usize;
    let make = match family {
        QuantKernel::Imma => !has_x_q8,
        QuantKernel::Dot => once && dot_tokens(kind, k, optin) > 0,
        _ => false,
    };
    Ok((family, make))
}

/// x ([n, k], a unit column stride) rounded to 8 bits by a quantize_x
/// launch into a buffer of its own.
fn round_x(ctx: &Context, x: &Tensor, n: usize, k: usize) -> Result<Q8Activations> {
    let q = Q8Activations::new(ctx, n, k)?;
    super::q8::quantize_x(ctx, x, &q)?;
    Ok(q)
}

/// Whether x as the caller gave it (`x`: `n` rows of `k`) is rounded to 8
/// bits once by a launch of its own before the dot or imma kernel
/// (`min_elems`: the tuning's `quant.round_x_min_elems`, 0 never): at least
/// that many elements and a unit column stride (what `quantize_x` reads;
/// else the dot kernel's CTAs round it as they load it).
fn rounds_x_once(min_elems: usize, x: &Tensor, n: usize, k: usize) -> bool {
    min_elems > 0 && n * k >= min_elems && k % 32 == 0 && (k <= 1 || x.layout().stride(1) == 1)
}

/// Bytes `n` tokens of the product move: W's blocks, x, y (read too when beta is not 0).
fn traffic(g: &QuantGeometry, w: &QuantMatrix, n: usize, beta: f32) -> u64 {
    slice_traffic(g, w.size_bytes(), g.k, n, beta)
}

/// [`traffic`] of a launch over `k` of the columns, whose blocks take `weights` bytes.
fn slice_traffic(g: &QuantGeometry, weights: usize, k: usize, n: usize, beta: f32) -> u64 {
    let e = g.dtype.size_in_bytes();
    (weights + n * k * e + n * g.m * e * if beta != 0.0 { 2 } else { 1 }) as u64
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
    /// The tuning table's `quant.imma_kparts` (0: by the shape; else the
    /// largest power of two at most it, the CTA's warps and a row's super-blocks).
    kparts: usize,
    /// The tuning table's `quant.imma_group_cost` for W's format (what the
    /// shape's choice of k-parts counts for a group's end, by n-tiles).
    group_cost: [f64; 2],
    /// The tuning table's `quant.imma_csplit` (0: by the shape).
    csplit: usize,
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

/// One planned launch of a chunk of tokens: the name its label carries, its
/// function and configuration, its arguments (W, x and y first), the bytes it moves.
struct Planned {
    name: String,
    f: cudarc::driver::CudaFunction,
    cfg: LaunchConfig,
    args: KernelArgs,
    bytes: u64,
}

/// The launches of each chunk of at most `max_n` tokens: `plan(n0, nc,
/// head)` (the chunk's first token and its tokens; `head` holds W, x and y
/// at the chunk's first token) gives them, each with its arguments after the
/// head's (one launch, or the imma kernel's one per slice of K).
fn launch_chunks(
    job: &Job,
    max_n: usize,
    mut plan: impl FnMut(usize, usize, &KernelArgs) -> Result<Vec<Planned>>,
) -> Result<()> {
    let Job { be, g, w_ptr, x, y, .. } = *job;
    let ptr = |t: &Tensor, name: &str| super::device_ptr(OP, t, name);
    let (px, py) = (ptr(x, "x")?, ptr(y, "y")?);
    let e = g.dtype.size_in_bytes();
    for (n0, nc) in token_chunks(g.n, max_n) {
        let mut head = KernelArgs::new();
        head.push(w_ptr).push(px + (n0 * g.sxn * e) as u64).push(py + (n0 * g.syn * e) as u64);
        for Planned { name, f, cfg, args, bytes } in plan(n0, nc, &head)? {
            let label = format!("{OP}/{name}/{}", g.dtype);
            // SAFETY: `geometry` checked x [N, K] and y [N, M] in bounds of their
            // buffers with unit column strides, y disjoint from x, and w on this
            // device with M rows of K / block_elems blocks. Each kernel reads W only
            // in 16-byte chunks below buf_bytes (the allocation's length, in its
            // parameters), x[n0 + j, k < K] (or, with x_q8, that buffer's rows
            // n0 + j: checked above to hold x's rows and columns, its allocation
            // padded to whole 16-byte copies; an imma slice of K reads its columns
            // of them) and writes y[n0 + j, m < M] for j < nc; `plan` pushed the
            // kernel's parameters after `head` (the struct checked by the layout
            // tests in ops/params.rs) and sized the shared memory its header asks.
            unsafe { be.launch(Tag { label: &label, bytes }, &[x, y], &f, cfg, &args)? };
        }
    }
    Ok(())
}

/// `n` tokens in launches of at most `max_n`, as even as that allows (16
/// tokens at 7 a launch: 6, 5, 5, not 7, 7, 2): the launches stream the same
/// weights, so the widest bounds the time of each. Each chunk's first token
/// and its tokens.
fn token_chunks(n: usize, max_n: usize) -> Vec<(usize, usize)> {
    let launches = n.div_ceil(max_n.max(1));
    let mut n0 = 0;
    (0..launches)
        .map(|i| {
            let nc = (n - n0).div_ceil(launches - i);
            n0 += nc;
            (n0 - nc, nc)
        })
        .collect()
}

/// What one two-matrix `quant_matmul_parts` launch multiplies: y's columns
/// of matrix i = alpha * x · dequant(w[i])^T + beta * y, g[i] their geometry.
struct PairJob<'a> {
    be: &'a CudaBackend,
    g: [&'a QuantGeometry; 2],
    w: [&'a QuantMatrix; 2],
    x: &'a Tensor,
    x_q8: Option<&'a Q8Activations>,
    /// Each matrix's columns of y.
    y: [&'a Tensor; 2],
    alpha: f32,
    beta: f32,
}

/// The two-matrix dot kernel (kernels/quant_dot.cu: qgemv_dot2_<infix>)
/// over chunks of as many tokens as x's quants fit beside the wider ring.
fn launch_dot_pair(job: &PairJob, infix: &str) -> Result<()> {
    let PairJob { be, g, w, x, y, alpha, beta, .. } = *job;
    let (kinds, k, e) = ([w[0].kind(), w[1].kind()], g[0].k, g[0].dtype.size_in_bytes());
    let optin = be.caps().max_shared_per_block_optin as usize;
    let spans = [super::quant_span(OP, w[0])?, super::quant_span(OP, w[1])?];
    let px = super::device_ptr(OP, x, "x")?;
    let ys = [super::device_ptr(OP, y[0], "y")?, super::device_ptr(OP, y[1], "y")?];
    let q8 = q8_spans(be, job.x_q8);
    be.hold_quant(w[0]);
    be.hold_quant(w[1]);
    for (n0, nc) in token_chunks(g[0].n, pair_tokens(kinds, k, optin)) {
        let (xq, xm) = q8.map_or((0, 0), |(b, m, row, units)| (b + n0 as u64 * row, m + n0 as u64 * units));
        let name = format!("qgemv_dot2_{infix}_n{nc}");
        let f =
            be.function(&kernels::QUANT_DOT, kernels::dtype_build(g[0].dtype), &format!("{name}_{}", g[0].dtype))?;
        let shared = pair_shared_bytes(kinds, k, nc);
        let slots = dot_slots(be, OP, &f, &name, shared)?;
        // Every CTA slot where that helps, no more CTAs than a matrix has tiles (as launch_dot).
        let tiles = [g[0].m.div_ceil(DOT_ROWS), g[1].m.div_ceil(DOT_ROWS)];
        let grids = pair_split(OP, tiles, pair_tile_bytes(w), tiles, slots)?;
        let split = i32::try_from(grids[0]).expect("at most the device's CTA slots");
        let mut args = KernelArgs::new();
        args.push(spans[0].0).push(spans[1].0).push(px + (n0 * g[0].sxn * e) as u64);
        args.push(ys[0] + (n0 * g[0].syn * e) as u64).push(ys[1] + (n0 * g[1].syn * e) as u64).push(xq).push(xm);
        for i in 0..2 {
            args.push(quant_params(g[i], w[i], spans[i].1, nc, false, alpha, beta));
        }
        args.push(split);
        let cfg = dot_launch(grids[0] + grids[1], shared)?;
        let label = format!("{OP}/{name}/{}", g[0].dtype);
        let bytes = traffic(g[0], w[0], nc, beta) + traffic(g[1], w[1], nc, beta) - (nc * k * e) as u64;
        // SAFETY: `geometry` checked x [N, K] against each matrix [M_i, K] and
        // each matrix's y view [N, M_i] in bounds of y's buffer (part_views:
        // disjoint columns of one y), unit column strides, y disjoint from x,
        // and each matrix on this device. CTAs below `split` read matrix 0 in
        // 16-byte chunks below its buf_bytes and write its view's y[n0 + j, m
        // < M_0]; the others matrix 1 and its view, for j < nc; x[n0 + j, k <
        // K] or x_q8's rows (checked to hold x's); the shared memory is the
        // wider ring's (pair_shared_bytes, as the kernel lays it out).
        unsafe { be.launch(Tag { label: &label, bytes }, &[x, y[0], y[1]], &f, cfg, &args)? };
    }
    Ok(())
}

/// The tensor-core kernel (kernels/quant.cu) over chunks of up to [`QUANT_MAX_N`] tokens.
fn launch_mma(job: &Job) -> Result<()> {
    let (g, w) = (job.g, job.w);
    let ctas = grid_for(g.m, MMA_ROWS_PER_CTA)?;
    let kind = w.kind().name().to_ascii_lowercase();
    launch_chunks(job, QUANT_MAX_N, |n0, nc, head| {
        let x_first = g.offsets[0] + n0 * g.sxn;
        // A vector load of x only where its rows are 4-element aligned.
        let x_vec = x_first % 4 == 0 && (nc == 1 || g.sxn % 4 == 0);
        let mut args = head.clone();
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
        Ok(vec![Planned { name, f, cfg, args, bytes: traffic(g, w, nc, job.beta) }])
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
    launch_chunks(job, per_launch, |n0, nc, head| {
        let (xq, xm) = q8.map_or((0, 0), |(b, m, row, units)| (b + n0 as u64 * row, m + n0 as u64 * units));
        let mut args = head.clone();
        args.push(xq).push(xm).push(job.params(nc, false));
        let name = format!("qgemv_dot_{fmt}_n{nc}");
        let f = job.function(&kernels::QUANT_DOT, &name)?;
        let cfg = dot_config(be, &f, &name, kind, g.m.div_ceil(DOT_ROWS), g.k, nc)?;
        Ok(vec![Planned { name, f, cfg, args, bytes: traffic(g, w, nc, job.beta) }])
    })
}

/// The integer tensor-core kernel (kernels/quant_imma.cu) over chunks of up
/// to [`IMMA_MAX_N`] tokens, x already rounded to 8 bits (`job.x_q8`: the
/// caller's, or made by `quant_matmul_with`); a chunk whose x of all K would
/// not fit in shared memory runs a launch a slice of K ([`imma_slices`]), the
/// later ones adding to y (beta = 1), so W is read once a chunk; where its
/// CTAs would have few rows for their x, clusters split each slice's K
/// ([`imma_csplit`]).
fn launch_imma(job: &Job) -> Result<()> {
    let (be, g, w) = (job.be, job.g, job.w);
    let optin = be.caps().max_shared_per_block_optin as usize;
    let kind = w.kind();
    let per_launch = imma_check(kind, g.k, optin)?;
    let fmt = kind.name().to_ascii_lowercase();
    let q8 = q8_spans(be, job.x_q8)
        .ok_or_else(|| Error::invalid(OP, "x_q8", "x rounded to 8 bits for the imma kernel", "none"))?;
    let row_sbs = g.k / 256;
    let clusters = be.caps().compute_capability.0 >= 9;
    launch_chunks(job, per_launch, |n0, nc, head| {
        let (xq, xm, xq_row, xm_row) = q8;
        let nt = if nc > 8 { 2 } else { 1 };
        // Clusters as the shape asks where the device runs them (their own
        // entries), else none.
        let sms = be.caps().sm_count as usize;
        let wanted = imma_csplit(job.csplit, kind, g.m, g.k, nt, sms, optin, clusters);
        let plan = |csplit: usize| -> Result<(String, cudarc::driver::CudaFunction, Vec<ImmaShape>)> {
            let name = format!("qimma_{fmt}_nt{nt}{}", if csplit > 1 { "_cl" } else { "" });
            let f = job.function(&kernels::QUANT_IMMA, &name)?;
            let shapes =
                imma_chunk_shapes(be, &f, &name, kind, g.m, g.k, nt, (job.kparts, job.group_cost[nt - 1]), csplit)?;
            Ok((name, f, shapes))
        };
        // A cluster the device cannot run (none fits a GPC here, or its parts
        // of K cannot all be filled) runs without; other errors stand.
        let (name, f, shapes) = match plan(wanted) {
            Ok(p) => p,
            Err(Error::Unsupported { .. }) if wanted > 1 => plan(1)?,
            Err(e) => return Err(e),
        };
        let mut planned = Vec::with_capacity(shapes.len());
        for (i, s) in shapes.iter().enumerate() {
            let k = 256 * s.sbs;
            // The slice's columns; after the first slice y holds the sum so far.
            let beta = if i == 0 { job.beta } else { 1.0 };
            let params = QuantParams { k: k as i64, beta, ..job.params(nc, false) };
            let mut args = head.clone();
            args.push(xq + n0 as u64 * xq_row + 256 * s.sb0 as u64).push(xm + n0 as u64 * xm_row + 64 * s.sb0 as u64);
            args.push(params).push(s.stages as i32).push(s.kparts as i32);
            args.push(s.sb0 as i32).push(xq_row as i64).push((xm_row / 8) as i64).push(s.csplit as i32);
            let label = match (shapes.len(), s.csplit) {
                (1, 1) => name.clone(),
                (1, c) => format!("{name}{c}"),
                (n, 1) => format!("{name}_k{}of{n}", i + 1),
                (n, c) => format!("{name}{c}_k{}of{n}", i + 1),
            };
            let bytes = slice_traffic(g, g.m * (w.row_bytes() / row_sbs) * s.sbs, k, nc, beta);
            planned.push(Planned { name: label, f: f.clone(), cfg: s.cfg, args, bytes });
        }
        Ok(planned)
    })
}

/// One imma launch of a chunk: its slice of K (first super-block, count),
/// the cluster's CTAs splitting it, the CTA's ring stages, the k-parts of a
/// tile, and the launch configuration.
struct ImmaShape {
    sb0: usize,
    sbs: usize,
    csplit: usize,
    stages: usize,
    kparts: usize,
    cfg: LaunchConfig,
}

/// The launches of an imma chunk of `nt` n-tiles on an `m` x `k` `kind`
/// matrix with clusters of `csplit` CTAs splitting each slice (an error
/// where the device cannot run such a cluster), k-parts forced by
/// `kparts`: the table's forced value (0: by the shape) and group cost.
#[allow(clippy::too_many_arguments)]
fn imma_chunk_shapes(
    be: &CudaBackend,
    f: &cudarc::driver::CudaFunction,
    name: &str,
    kind: QuantKind,
    m: usize,
    k: usize,
    nt: usize,
    kparts: (usize, f64),
    csplit: usize,
) -> Result<Vec<ImmaShape>> {
    let optin = be.caps().max_shared_per_block_optin as usize;
    let tiles = m.div_ceil(IMMA_ROWS);
    let slices = imma_slices(kind, k, nt, csplit, optin);
    if slices.is_empty() {
        return Err(Error::Unsupported {
            op: OP,
            what: format!("{name}: no slice of K = {k} fits in clusters of {csplit}"),
        });
    }
    let mut shapes = Vec::new();
    for (sb0, sbs) in slices {
        // The CTAs' parts of the slice: csplit - 1 of `per`, the last the rest.
        let per = sbs.div_ceil(csplit);
        let least = sbs - (csplit - 1) * per;
        let (warps, stages, slots) = imma_shape(be, f, name, kind, 256 * per, nt, csplit)?;
        let kparts = imma_kparts(tiles, least, warps, (slots / csplit).max(1), kparts.0, kparts.1);
        let groups = tiles.div_ceil(warps / kparts);
        // One group a cluster; without clusters, at most a CTA a slot.
        let ctas = if csplit > 1 { groups * csplit } else { groups.min(slots) };
        let shared = imma_shared_bytes(kind, 256 * per, nt, warps, stages, csplit, warps / kparts);
        let cfg = LaunchConfig {
            grid: (grid_for(ctas, 1)?, 1, 1),
            block: (32 * warps as u32, 1, 1),
            shared_bytes: u32::try_from(shared).expect("below the opt-in bound"),
            dependent: true,
            cluster: if csplit > 1 { csplit as u32 } else { 0 },
        };
        if csplit > 1 {
            be.allow_cluster(OP, f, name, csplit as u32)?;
            if be.max_active_clusters(f, &cfg)? < 1 {
                return Err(Error::Unsupported { op: OP, what: format!("{name} in clusters of {csplit} CTAs here") });
            }
        }
        shapes.push(ImmaShape { sb0, sbs, csplit, stages, kparts, cfg });
    }
    Ok(shapes)
}

/// The CTAs of a cluster that split each imma slice of K for an `m` x `k`
/// `kind` matrix at `nt` n-tiles on `sms` SMs (`optin` bytes of shared
/// memory a CTA): `forced` where not 0 (the tuning table's
/// `quant.imma_csplit`), else 2 where one launch without clusters cannot
/// hold x of all K (it would run slices of K one after another) and the
/// rows are few (at most 56 a SM: M = 4096 on 132 SMs, two 16-row tiles a
/// CTA without), else 1; 1 where the device has no clusters (before sm_90).
/// On an H200 (BENCHMARKS.md, 2026-12-01, twelfth session) two CTAs took
/// 4096x14336 at 16 tokens from 26.1 to 19.4 us (Q4_K) and 53.2 to 47.3
/// (Q6_K); Q4_K at 8 tokens (one 8-warp launch without) lost 0.4 us and
/// the batch-8 step 39; where 16 warps fit they gained at most 0.7 us and
/// lost up to 0.8; four or eight CTAs (a super-block or two a warp) lost
/// everywhere.
#[allow(clippy::too_many_arguments)]
fn imma_csplit(
    forced: usize,
    kind: QuantKind,
    m: usize,
    k: usize,
    nt: usize,
    sms: usize,
    optin: usize,
    clusters: bool,
) -> usize {
    if !clusters {
        1
    } else if forced > 0 {
        forced
    } else if imma_slices(kind, k, nt, 1, optin).len() > 1 && m <= 56 * sms {
        2
    } else {
        1
    }
}

/// The CTA of an imma launch of `nt` n-tiles at K = `k` (a CTA's part) on
/// `be` (`f`, named `name`) in clusters of `csplit`: its warps and ring
/// stages, and the device's CTA slots for it. The most warps an SM holds,
/// then the deeper ring, then the larger CTA (one copy of x for more rows):
/// at K = 4096, 16 warps and 3 stages.
#[allow(clippy::too_many_arguments)]
fn imma_shape(
    be: &CudaBackend,
    f: &cudarc::driver::CudaFunction,
    name: &str,
    kind: QuantKind,
    k: usize,
    nt: usize,
    csplit: usize,
) -> Result<(usize, usize, usize)> {
    let optin = be.caps().max_shared_per_block_optin as usize;
    let mut best: Option<(usize, usize, usize, usize)> = None; // (warps an SM, stages, warps, CTAs an SM)
    for warps in IMMA_WARPS {
        for stages in IMMA_STAGES {
            // The receiving area at its largest (one part a tile: k-parts not chosen yet).
            let shared = imma_shared_bytes(kind, k, nt, warps, stages, csplit, warps);
            if shared > optin {
                continue;
            }
            let ctas = be.resident_ctas(OP, f, name, 32 * warps as u32, shared)?;
            let key = (ctas * warps, stages, warps, ctas);
            if ctas > 0 && best.map_or(true, |b| (key.0, key.1, key.2) > (b.0, b.1, b.2)) {
                best = Some(key);
            }
        }
    }
    let (_, stages, warps, ctas) = best.ok_or_else(|| Error::Unsupported {
        op: OP,
        what: format!("{name}: no CTA of 8 warps and 2 stages fits the device at K = {k}"),
    })?;
    Ok((warps, stages, ctas * be.caps().sm_count as usize))
}

/// Shared memory where a cluster's CTAs receive each other's sums of the
/// tiles they own (kernels/quant_imma.cu: recv): `csplit` sources x the
/// owned tiles (`tiles` a group over `csplit` CTAs) x 32 lanes x 4 nt f32;
/// none without a cluster.
fn imma_recv_bytes(csplit: usize, tiles: usize, nt: usize) -> usize {
    if csplit > 1 {
        csplit * tiles.div_ceil(csplit) * 32 * 4 * nt * 4
    } else {
        0
    }
}

/// Tokens one imma launch takes for a `kind` matrix of `k` columns, or an
/// error naming what it cannot run: a format it has no entries for, K not
/// a multiple of 256 (Q8_0 and Q4_0: the kernel copies a row's blocks in
/// whole 256-column groups), or x of 8 tokens and 256 columns (its
/// narrowest slice of K) over the device's shared memory.
fn imma_check(kind: QuantKind, k: usize, optin: usize) -> Result<usize> {
    if !imma_has(kind) {
        return Err(Error::Unsupported {
            op: OP,
            what: format!("the imma kernel runs Q8_0, Q4_0, Q4_K and Q6_K weights only, not {}", kind.name()),
        });
    }
    if k % 256 != 0 {
        return Err(Error::Unsupported {
            op: OP,
            what: format!(
                "the imma kernel copies {}'s rows in groups of 256 columns: K must be a multiple of 256, not {k}",
                kind.name()
            ),
        });
    }
    match imma_tokens(kind, k, optin) {
        0 => Err(Error::Unsupported {
            op: OP,
            what: format!(
                "the imma kernel holds 8 tokens' x of a slice of K in shared memory: a slice of 256 columns \
                 takes {} bytes, over the device's {optin}",
                imma_shared_bytes(kind, 256, 1, 8, 2, 1, 0)
            ),
        }),
        n => Ok(n),
    }
}

/// Whether the imma kernel has entries for `kind`: every format here (Q8_0
/// and Q4_0 where K is a multiple of 256: [`imma_slices`]).
fn imma_has(kind: QuantKind) -> bool {
    matches!(kind, QuantKind::Q8_0 | QuantKind::Q4_0 | QuantKind::Q4_K | QuantKind::Q6_K)
}

/// Tokens of K columns one imma launch takes: 16 where two n-tiles' x of a
/// slice of K fit beside the smallest CTA's ring (8 warps, 2 stages), else 8,
/// else 0 (also for formats it has no entries for, K = 0, and K not a
/// multiple of 256).
pub fn imma_tokens(kind: QuantKind, k: usize, optin: usize) -> usize {
    if !imma_slices(kind, k, 2, 1, optin).is_empty() {
        IMMA_MAX_N
    } else if !imma_slices(kind, k, 1, 1, optin).is_empty() {
        8
    } else {
        0
    }
}

/// The slices of K (first super-block, super-blocks) of an imma chunk of
/// `nt` n-tiles on a `kind` matrix of `k` columns in clusters of `csplit`
/// CTAs, a launch each: all of K where a CTA's part of its x (csplit - 1
/// CTAs take ceil(sbs / csplit) super-blocks, the last the rest, none
/// empty) fits beside the smallest CTA's ring, else the fewest slices that
/// fit, as even as that allows (the last may be shorter), so that W is read
/// once; none where not even one super-block fits or the parts cannot all
/// be non-empty (or no entries for `kind`, or K = 0). At K = 14336 (56
/// super-blocks), 16 tokens (x of 230 KB) without clusters: Q4_K two slices
/// of 28, Q6_K (a wider ring and sums) three of 19, 19 and 18.
fn imma_slices(kind: QuantKind, k: usize, nt: usize, csplit: usize, optin: usize) -> Vec<(usize, usize)> {
    let sbs = k / 256;
    let fits = |s: usize| imma_shared_bytes(kind, 256 * s.div_ceil(csplit), nt, 8, 2, csplit, 8) <= optin;
    let parts_filled = |s: usize| (csplit - 1) * s.div_ceil(csplit) < s;
    if !imma_has(kind) || sbs == 0 || k % 256 != 0 || csplit == 0 {
        return Vec::new();
    }
    let slices: Vec<(usize, usize)> = if fits(sbs) {
        vec![(0, sbs)]
    } else {
        let Some(widest) = (1..sbs).rev().find(|&s| fits(s)) else { return Vec::new() };
        let per = sbs.div_ceil(sbs.div_ceil(widest));
        (0..sbs).step_by(per).map(|s0| (s0, per.min(sbs - s0))).collect()
    };
    if slices.iter().all(|&(_, s)| parts_filled(s)) {
        slices
    } else {
        Vec::new()
    }
}

/// Dynamic shared memory of an imma launch (kernels/quant_imma.cu lays it
/// out) of CTAs of `warps` warps and `stages` ring stages in clusters of
/// `csplit` (1: none) whose groups have `tiles` tiles: the cluster's
/// receiving area ([`imma_recv_bytes`]), 8 nt tokens' quants of K (a CTA's
/// part) rounded to 64 bytes plus the pad, dx [units][tokens] f32, then
/// Q4_K's dx sum [2][tokens][units + 4] (split for tf32), Q6_K's sums of
/// each 16 [units][2][tokens] i32 or Q4_0's of each unit [units][tokens]
/// (Q8_0: none), the k-parts' accumulators (two sets, by the group's
/// parity), the warps' rings (16 rows of 256 columns a stage: Q6_K's 210
/// bytes at a pitch of 240, Q8_0's 272 at 288, the others' 144 at 160).
fn imma_shared_bytes(
    kind: QuantKind,
    k: usize,
    nt: usize,
    warps: usize,
    stages: usize,
    csplit: usize,
    tiles: usize,
) -> usize {
    let (tokens, units) = (8 * nt, k / 32);
    let (sums, stage) = match kind {
        QuantKind::Q6_K => (4 * 2 * units * tokens, IMMA_ROWS * 240),
        QuantKind::Q4_K => (2 * 4 * tokens * (units + 4), IMMA_ROWS * 160),
        QuantKind::Q4_0 => (4 * units * tokens, IMMA_ROWS * 160),
        QuantKind::Q8_0 => (0, IMMA_ROWS * 288),
    };
    imma_recv_bytes(csplit, tiles, nt)
        + tokens * (k.next_multiple_of(64) + IMMA_X_PAD)
        + 4 * units * tokens
        + sums
        + 2 * 4 * warps * 32 * 4 * nt
        + warps * stages * stage
}

/// The parts of K each 16-row tile is cut into: a power of two dividing the
/// CTA's `warps` and at most a CTA's super-blocks of a row, `sbs` (so every
/// warp has one); the largest such at most `forced` where that is not 0
/// (the tuning table's `quant.imma_kparts`), else the least work a CTA:
/// its rounds of groups over the device's `slots` CTAs, each a warp's
/// super-blocks of its part plus `group_cost` (the table's
/// `quant.imma_group_cost`: the parts meeting, y's store, the copies
/// re-aimed), ties to fewer parts. M = 4096 (256 tiles) on 132 SMs a CTA
/// of 16 warps: 8 parts, 128 CTAs of two tiles, one group each. A
/// vocabulary-wide LM head (8016 tiles): counting super-blocks alone, 16
/// parts (61 groups a CTA of one super-block each: 189 us at 16 tokens of
/// Q4_K, H200, 2026-12-01) where 1-4 parts take 126-129.
fn imma_kparts(tiles: usize, sbs: usize, warps: usize, slots: usize, forced: usize, group_cost: f64) -> usize {
    debug_assert!(group_cost.is_finite(), "a group's cost {group_cost} (TuningTable::parse keeps it in 0..=64)");
    let cost = |kp: usize| {
        let rounds = tiles.div_ceil(warps / kp).div_ceil(slots.max(1));
        rounds as f64 * (sbs.max(1).div_ceil(kp) as f64 + group_cost)
    };
    let allowed = [1, 2, 4, 8, 16].into_iter().filter(|&kp| kp <= warps && kp <= sbs.max(1));
    match forced {
        0 => allowed.fold(None, |best: Option<usize>, kp| match best {
            Some(b) if cost(b) <= cost(kp) + 1e-9 => Some(b),
            _ => Some(kp),
        }),
        f => allowed.filter(|&kp| kp <= f).max(),
    }
    .unwrap_or(1)
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
    dot_launch(dot_ctas(tiles, dot_slots(be, OP, f, name, shared)?), shared)
}

/// The dot launches' CTA slots on `be` for `f` (named `name`) with `shared`
/// bytes: the CTAs an SM holds at once, times the SMs.
fn dot_slots(
    be: &CudaBackend,
    op: &'static str,
    f: &cudarc::driver::CudaFunction,
    name: &str,
    shared: usize,
) -> Result<usize> {
    Ok(be.resident_ctas(op, f, name, DOT_THREADS, shared)? * be.caps().sm_count as usize)
}

/// A dot launch (either family's entry) of `ctas` CTAs with `shared` bytes
/// of dynamic shared memory. The dot kernel starts its first weight copies,
/// then waits for the previous launch (kernels/quant_dot.cu): dependent.
fn dot_launch(ctas: usize, shared: usize) -> Result<LaunchConfig> {
    Ok(LaunchConfig {
        grid: (grid_for(ctas, 1)?, 1, 1),
        block: (DOT_THREADS, 1, 1),
        shared_bytes: u32::try_from(shared).expect("below the opt-in bound"),
        dependent: true,
        cluster: 0,
    })
}

/// Whether the dot kernel's QKV launch with RoPE (`launch_dot_rope`) serves
/// `n` tokens of `w` on `be`: what the launch needs (`dot_rope_fits`), and
/// the dot kernel auto's (or `DK_QUANT_KERNEL`'s) choice.
pub(super) fn dot_rope_serves(
    ctx: &Context,
    be: &CudaBackend,
    w: &QuantMatrix,
    n: usize,
    has_x_q8: bool,
) -> Result<bool> {
    Ok(dot_rope_fits(be, w, n) && resolve_kernel(ctx, be, w.kind(), w.cols(), n, None, has_x_q8)? == QuantKernel::Dot)
}

/// What the fused launch itself needs: 1 or 2 tokens (its entries), K > 0
/// (the kernel walks K in iterations), whole row pairs, and the tokens' x
/// within the CTA's shared memory beside the copy ring.
fn dot_rope_fits(be: &CudaBackend, w: &QuantMatrix, n: usize) -> bool {
    let optin = be.caps().max_shared_per_block_optin as usize;
    (1..=2).contains(&n) && w.cols() > 0 && w.rows() % 2 == 0 && dot_tokens(w.kind(), w.cols(), optin) >= n
}

/// Whether `quant_matmul_rope_append` runs these two parts in one fused
/// launch (`launch_dot_rope` of both): the dot kernel has the pair's entry
/// and the tuning's `quant.pair_launch` is on.
pub(super) fn rope_pair_launch(ctx: &Context, parts: &[&QuantMatrix]) -> bool {
    matches!(parts, [a, b] if pair_infix([a.kind(), b.kind()]).is_some()) && ctx.dispatcher().table().quant.pair_launch
}

/// One matrix of a fused QKV launch: its geometry, the matrix and its first head.
pub(super) type RopePart<'a> = (&'a QuantGeometry, &'a QuantMatrix, usize);

/// The dot kernel with RoPE and the cache append in its epilogue
/// (kernels/quant_dot.cu: qgemv_dot_rope; ops::fused_gemv::
/// quant_matmul_rope_append): one launch of `n` tokens (1 or 2, their x
/// within the CTA's shared memory: `dot_rope_fits`, checked here) of
/// one part, or of two whose formats have a two-matrix entry
/// (qgemv_dot2_*_rope), each whole heads from its first head on. `push_rope`
/// pushes rope_append's pointers and parameters; `uses` are the tensors the
/// launch touches besides x. Nothing is written to a y.
pub(super) fn launch_dot_rope(
    be: &CudaBackend,
    parts: &[RopePart],
    x: &Tensor,
    x_q8: Option<&Q8Activations>,
    push_rope: impl FnOnce(&mut KernelArgs) -> Result<()>,
    uses: &[&Tensor],
    op: &'static str,
) -> Result<()> {
    let Some(&(g, _, _)) = parts.first() else {
        return Err(Error::invalid(op, "parts", "one or two quantized matrices a launch", "none"));
    };
    for &(pg, w, _) in parts {
        if !dot_rope_fits(be, w, pg.n) {
            return Err(Error::Unsupported {
                op,
                what: format!("the fused dot launch of {} tokens of a {}x{} {} matrix", pg.n, pg.m, pg.k, w.kind()),
            });
        }
    }
    let fmt = |w: &QuantMatrix| w.kind().name().to_ascii_lowercase();
    let (name, shared) = match parts {
        [(_, w, _)] => (format!("qgemv_dot_rope_{}_n{}", fmt(w), g.n), dot_shared_bytes(w.kind(), g.k, g.n)),
        [(_, a, _), (_, b, _)] => {
            let kinds = [a.kind(), b.kind()];
            let infix = pair_infix(kinds).ok_or_else(|| Error::Unsupported {
                op,
                what: format!("one fused launch of a {} and a {} matrix", kinds[0], kinds[1]),
            })?;
            (format!("qgemv_dot2_{infix}_rope_n{}", g.n), pair_shared_bytes(kinds, g.k, g.n))
        }
        _ => return Err(Error::invalid(op, "parts", "one or two quantized matrices a launch", parts.len())),
    };
    let px = super::device_ptr(op, x, "x")?;
    let (xq, xm) = q8_spans(be, x_q8).map_or((0, 0), |(b, m, _, _)| (b, m));
    let mut args = KernelArgs::new();
    let mut params = Vec::with_capacity(parts.len());
    for &(pg, w, _) in parts {
        be.hold_quant(w);
        let (w_ptr, buf_bytes) = super::quant_span(op, w)?;
        args.push(w_ptr);
        params.push(quant_params(pg, w, buf_bytes, g.n, false, 1.0, 0.0));
    }
    args.push(px);
    if parts.len() == 1 {
        args.push(0u64); // Y: never written
    }
    args.push(xq).push(xm);
    for p in params {
        args.push(p);
    }
    let f = be.function(&kernels::QUANT_DOT, kernels::dtype_build(g.dtype), &format!("{name}_{}", g.dtype))?;
    let slots = dot_slots(be, op, &f, &name, shared)?;
    // No more CTAs than a tile for each warp (fewer where the device holds
    // fewer at once), not every CTA slot: the attention launch
    // after this one then finds SMs free for its prologue (loads of the
    // cached keys before the wait for this launch). On an H200 every slot
    // cost qwen2.5-0.5b Q8_0 33 us a step and llama3.2-1b Q4_K_M 22
    // against this grid (BENCHMARKS.md, 2026-11-30).
    let tiles: Vec<usize> = parts.iter().map(|(pg, _, _)| pg.m / 2).collect();
    let ctas = match tiles[..] {
        [one] => one.div_ceil(DOT_WARPS).min(slots),
        [a, b] => {
            let want = [a.div_ceil(DOT_WARPS), b.div_ceil(DOT_WARPS)];
            let [g0, g1] = pair_split(op, [a, b], pair_tile_bytes([parts[0].1, parts[1].1]), want, slots)?;
            args.push(i32::try_from(g0).expect("at most the device's CTA slots"));
            g0 + g1
        }
        _ => unreachable!("one or two parts (matched above)"),
    };
    push_rope(&mut args)?;
    for &(_, _, head) in parts {
        args.push(i32::try_from(head).map_err(|_| Error::invalid(op, "parts", "fewer than 2^31 heads", head))?);
    }
    let cfg = dot_launch(ctas, shared)?;
    let short = name.trim_start_matches("qgemv_");
    let label = format!("{op}/{short}/{}", g.dtype);
    let e = g.dtype.size_in_bytes();
    let bytes: usize = parts.iter().map(|(pg, w, _)| w.size_bytes() + g.n * pg.m * e).sum::<usize>() + g.n * g.k * e;
    let mut all = vec![x];
    all.extend_from_slice(uses);
    // SAFETY: the caller checked (ops::fused_gemv::validate_quant_rope) x [N,
    // K] against each part [M, K] (M whole heads of d rows from its first
    // head on, inside the projection's (hq + 2 hkv) d), x_q8 as x's rows, and
    // the targets as rope_append's for that projection; `dot_rope_fits`
    // checked N (1 or 2) and that x's N rows fit the dot kernel's shared
    // memory, sized here as the kernel lays it out (the wider ring of a
    // pair). Each CTA reads its part's W in 16-byte chunks below that part's
    // buf_bytes, x[n < N, k < K] (or x_q8's rows), the bias and positions;
    // writes q_out and the caches' slots inside them (rope_finish skips the
    // others); no Y is touched.
    unsafe { be.launch(Tag { label: &label, bytes: bytes as u64 }, &all, &f, cfg, &args) }
}

/// The CTAs of each matrix in a two-matrix launch of `tiles` row pairs of
/// `tile_bytes` each, at most `max_ctas` each, on the device's `slots`: the
/// split whose busiest warp streams the fewest bytes (a warp takes every
/// (8 g)-th tile of its matrix among g CTAs: kernels/quant_dot.cu), of
/// those the one nearest the matrices' share of the bytes, every slot used
/// where the maxima allow. None with fewer than two slots. (A split by bytes
/// alone gave llama3-8b's Q/K rows 307 of 396 CTAs, so some warps two tiles,
/// while the V rows' 89 CTAs had warps with none: 26 us a step slower than
/// two launches, H200, 2026-11-30.)
fn pair_grid(tiles: [usize; 2], tile_bytes: [usize; 2], max_ctas: [usize; 2], slots: usize) -> Option<[usize; 2]> {
    if slots < 2 || max_ctas.contains(&0) {
        return None;
    }
    let busiest = |i: usize, g: usize| tiles[i].div_ceil(DOT_WARPS * g) * tile_bytes[i];
    let total = [tiles[0] * tile_bytes[0], tiles[1] * tile_bytes[1]];
    let share = slots as f64 * total[0] as f64 / (total[0] + total[1]).max(1) as f64;
    let full = slots.min(max_ctas[0] + max_ctas[1]);
    (1..=max_ctas[0].min(slots - 1))
        .map(|g0| {
            let g1 = (slots - g0).min(max_ctas[1]);
            ((busiest(0, g0).max(busiest(1, g1)), g0 + g1 < full), (g0 as f64 - share).abs(), [g0, g1])
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map(|(_, _, g)| g)
}

/// [`pair_grid`] for a launch by `op`, remembered (a decode step asks the
/// same of every layer and step, and the search takes ~6 us of host time, an
/// eager launch's whole dispatch), or an error where no split exists.
fn pair_split(
    op: &'static str,
    tiles: [usize; 2],
    tile_bytes: [usize; 2],
    max_ctas: [usize; 2],
    slots: usize,
) -> Result<[usize; 2]> {
    type Key = ([usize; 2], [usize; 2], [usize; 2], usize);
    static SPLITS: OnceLock<Mutex<HashMap<Key, Option<[usize; 2]>>>> = OnceLock::new();
    let splits = SPLITS.get_or_init(Default::default);
    let key = (tiles, tile_bytes, max_ctas, slots);
    let known = splits.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
    let split = known.unwrap_or_else(|| {
        let g = pair_grid(tiles, tile_bytes, max_ctas, slots);
        splits.lock().unwrap_or_else(|e| e.into_inner()).insert(key, g);
        g
    });
    split
        .ok_or_else(|| Error::Unsupported { op, what: format!("a two-matrix launch on a device of {slots} CTA slots") })
}

/// The bytes of a tile (two rows) of each matrix.
fn pair_tile_bytes(w: [&QuantMatrix; 2]) -> [usize; 2] {
    [DOT_ROWS * w[0].row_bytes(), DOT_ROWS * w[1].row_bytes()]
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
    most_tokens(optin, |n| dot_shared_bytes(kind, k, n))
}

/// The most tokens (at most [`DOT_MAX_N`]) whose launch's shared memory,
/// `bytes(n)`, is within `optin` (0: not one).
fn most_tokens(optin: usize, bytes: impl Fn(usize) -> usize) -> usize {
    (1..=DOT_MAX_N).rev().find(|&n| bytes(n) <= optin).unwrap_or(0)
}

/// Dynamic shared memory of the dot kernel: x's quants and unit constants
/// (16-byte aligned), then each warp's ring of stages (kernels/quant_dot.cu).
fn dot_shared_bytes(kind: QuantKind, k: usize, n: usize) -> usize {
    dot_x_and_barrier_bytes(k, n) + dot_ring_bytes(kind, DOT_STAGES)
}

/// x's quants and unit constants of `n` tokens (16-byte aligned), then the
/// stages' barriers (8 bytes each, padded to 16; sized for DOT_STAGES).
fn dot_x_and_barrier_bytes(k: usize, n: usize) -> usize {
    (n * dot_x_token_bytes(k)).next_multiple_of(16) + (DOT_WARPS * DOT_STAGES * 8).next_multiple_of(16)
}

/// The warps' copy rings of `stages` stages of a `kind` matrix.
fn dot_ring_bytes(kind: QuantKind, stages: usize) -> usize {
    let iter_bytes = DOT_ITER / kind.block_elems() * kind.block_bytes();
    let pitch = (iter_bytes + 14).div_ceil(16) + 1;
    DOT_WARPS * stages * DOT_ROWS * pitch * 16
}

/// Shared memory of a two-matrix dot launch (kernels/quant_dot.cu:
/// qgemv_dot2): the wider of matrix 0's ring of DOT_STAGES and matrix 1's
/// of [`PAIR_STAGES_1`].
fn pair_shared_bytes(kinds: [QuantKind; 2], k: usize, n: usize) -> usize {
    dot_x_and_barrier_bytes(k, n) + dot_ring_bytes(kinds[0], DOT_STAGES).max(dot_ring_bytes(kinds[1], PAIR_STAGES_1))
}

/// Tokens of K columns one two-matrix launch takes (0: not one fits).
fn pair_tokens(kinds: [QuantKind; 2], k: usize, optin: usize) -> usize {
    most_tokens(optin, |n| pair_shared_bytes(kinds, k, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_is_rounded_once_from_the_tables_size_on_contiguous_columns() {
        let ctx = Context::cpu();
        let x = Tensor::empty(&ctx, &[4, 4096], crate::DType::F16).unwrap();
        assert!(rounds_x_once(1, &x, 4, 4096));
        assert!(rounds_x_once(16384, &x, 4, 4096));
        assert!(!rounds_x_once(0, &x, 4, 4096), "0: never");
        assert!(!rounds_x_once(16385, &x, 4, 4096), "fewer elements than the table's");
        assert!(!rounds_x_once(12288, &x, 2, 4096), "two of the rows");
        // Rows padded: still a unit column stride.
        let padded = Tensor::empty(&ctx, &[4, 4096 + 8], crate::DType::F16).unwrap().narrow(1, 0, 4096).unwrap();
        assert!(rounds_x_once(1, &padded, 4, 4096));
        // Columns strided (x as a transposed view): quantize_x cannot read it.
        let strided = Tensor::empty(&ctx, &[4096, 4], crate::DType::F16).unwrap().transpose(0, 1).unwrap();
        assert!(!rounds_x_once(1, &strided, 4, 4096));
    }

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
    fn a_pair_launch_gives_no_warp_more_bytes_than_it_must() {
        // llama3-8b's QKV in a Q6_K-V layer at N = 1 (2560 and 512 tiles of
        // 4608 and 6720 bytes, 396 slots): a tile for every warp of both
        // (320 and 64 CTAs at least), the 12 slots left to the Q/K rows.
        let tb = [4608, 6720];
        assert_eq!(pair_grid([2560, 512], tb, [2560, 512], 396), Some([320, 76]));
        // ... at N = 8 (264 slots): two tiles for the Q/K rows' busiest warps, one for V's.
        assert_eq!(pair_grid([2560, 512], tb, [2560, 512], 264), Some([200, 64]));
        // The fused launch's one CTA a tile for each warp: all of them where they fit.
        assert_eq!(pair_grid([1280, 256], tb, [160, 32], 396), Some([160, 32]));
        // Never an empty side; no launch on fewer than two slots.
        assert_eq!(pair_grid([50, 50], [1, 1_000_000], [50, 50], 10), Some([1, 9]));
        assert_eq!(pair_grid([50, 50], [1, 1], [50, 50], 1), None);
        for slots in 2..60 {
            for tiles in [[1, 1], [3, 70], [70, 3], [50, 50], [700, 90]] {
                let [a, b] = pair_grid(tiles, tb, tiles, slots).unwrap();
                assert!(a >= 1 && b >= 1 && a <= tiles[0] && b <= tiles[1] && a + b <= slots, "{slots} {tiles:?}");
                assert_eq!(a + b, slots.min(tiles[0] + tiles[1]), "{slots} {tiles:?}: every slot used");
            }
        }
    }

    #[test]
    fn a_remembered_split_is_the_searched_one_and_none_is_an_error() {
        let tb = [4608, 6720];
        for slots in [396, 264, 396] {
            let want = pair_grid([2560, 512], tb, [2560, 512], slots).unwrap();
            assert_eq!(pair_split("t", [2560, 512], tb, [2560, 512], slots).unwrap(), want, "{slots}");
        }
        let e = pair_split("quant_matmul", [50, 50], [1, 1], [50, 50], 1).unwrap_err().to_string();
        assert!(e.contains("quant_matmul") && e.contains("two-matrix launch") && e.contains("1 CTA slots"), "{e}");
    }

    #[test]
    fn imma_launches_fill_the_device_and_fit_shared_memory() {
        const H200: usize = 227 << 10;
        // M = 4096 (256 tiles), 132 SMs a CTA of 16 warps: 8 parts (128 CTAs of two tiles).
        assert_eq!(imma_kparts(256, 16, 16, 132, 0, 0.5), 8);
        // ... of 8 warps, one CTA an SM: 4 parts (8 would give some CTAs two rounds of one tile).
        assert_eq!(imma_kparts(256, 16, 8, 132, 0, 0.5), 4);
        // One tile: all the warps on it; one super-block a row: never split.
        assert_eq!(imma_kparts(1, 16, 16, 132, 0, 0.5), 16);
        assert_eq!(imma_kparts(7, 1, 16, 132, 0, 0.5), 1);
        assert_eq!(imma_kparts(7, 2, 16, 132, 0, 0.5), 2);
        // A vocabulary-wide LM head (8016 tiles): one part at a group end's
        // cost of half a super-block; counting super-blocks alone, 16 (61
        // rounds of one super-block against 4 of 16).
        assert_eq!(imma_kparts(8016, 16, 16, 132, 0, 0.5), 1);
        assert_eq!(imma_kparts(8016, 16, 16, 132, 0, 0.0), 16);
        // 28672 rows (1792 tiles) of 16 warps: one round of whole rows on 112 CTAs.
        assert_eq!(imma_kparts(1792, 16, 16, 132, 0, 0.5), 1);
        // 6144 rows (384 tiles): four parts, 96 CTAs of four tiles.
        assert_eq!(imma_kparts(384, 16, 16, 132, 0, 0.5), 4);
        for warps in [8, 16] {
            for tiles in [1, 7, 64, 256, 384, 896, 1792, 8016] {
                for sbs in [1, 2, 3, 16, 56] {
                    let kp = imma_kparts(tiles, sbs, warps, 132, 0, 0.5);
                    assert!(warps % kp == 0 && kp <= sbs, "{tiles} {sbs}: {kp}");
                    // Forced: the largest allowed at most the table's value.
                    for (forced, want) in [(1, 1), (3, 2), (16, warps.min(16))] {
                        let kp = imma_kparts(tiles, sbs, warps, 132, forced, 0.5);
                        let most = [1, 2, 4, 8, 16].into_iter().filter(|&c| c <= want && c <= sbs).max().unwrap();
                        assert_eq!(kp, most, "{tiles} {sbs} {warps} {forced}");
                    }
                }
            }
        }
        // 16 tokens at K = 4096, and at K = 14336 in slices of K.
        assert_eq!(imma_tokens(QuantKind::Q4_K, 4096, H200), 16);
        assert_eq!(imma_tokens(QuantKind::Q4_K, 14336, H200), 16);
        // ... 16 tokens at K = 4096 in a CTA of 16 warps with a ring of two stages (three do not fit).
        assert!(
            imma_shared_bytes(QuantKind::Q4_K, 4096, 2, 16, 2, 1, 0) <= H200
                && imma_shared_bytes(QuantKind::Q4_K, 4096, 2, 16, 3, 1, 0) > H200
        );
        assert_eq!(imma_tokens(QuantKind::Q6_K, 4096, H200), 16);
        assert_eq!(imma_tokens(QuantKind::Q6_K, 14336, H200), 16);
        // Q8_0 and Q4_0 where K is a multiple of 256 (whole groups of blocks a stage row).
        assert_eq!(imma_tokens(QuantKind::Q8_0, 4096, H200), 16);
        assert_eq!(imma_tokens(QuantKind::Q4_0, 14336, H200), 16);
        assert_eq!(imma_tokens(QuantKind::Q8_0, 896, H200), 0);
        assert_eq!(imma_tokens(QuantKind::Q4_0, 4896, H200), 0);
        let e = imma_check(QuantKind::Q4_0, 896, H200).unwrap_err().to_string();
        assert!(e.contains("multiple of 256") && e.contains("896") && e.contains("Q4_0"), "{e}");
        assert_eq!(imma_tokens(QuantKind::Q4_K, 0, H200), 0);
        assert_eq!(imma_tokens(QuantKind::Q4_K, 1 << 16, H200), 16);
        // A device whose shared memory holds no slice: the error names what a slice takes.
        let e = imma_check(QuantKind::Q4_K, 4096, 8 << 10).unwrap_err().to_string();
        assert!(e.contains("256 columns") && e.contains("8192"), "{e}");
        // Slices of K: whole where x fits; else the fewest slices that fit,
        // as even as that allows, covering every super-block once; in
        // clusters, slices of each CTA's part.
        assert_eq!(imma_slices(QuantKind::Q4_K, 4096, 2, 1, H200), vec![(0, 16)]);
        assert_eq!(imma_slices(QuantKind::Q4_K, 14336, 1, 1, H200), vec![(0, 56)]);
        assert_eq!(imma_slices(QuantKind::Q4_K, 14336, 2, 1, H200), vec![(0, 28), (28, 28)]);
        // Q6_K's wider ring and sums leave room for 21 super-blocks of 16 tokens.
        assert_eq!(imma_slices(QuantKind::Q6_K, 14336, 2, 1, H200), vec![(0, 19), (19, 19), (38, 18)]);
        // Four CTAs a cluster: each holds a quarter of x, so one launch.
        assert_eq!(imma_slices(QuantKind::Q4_K, 14336, 2, 4, H200), vec![(0, 56)]);
        assert_eq!(imma_slices(QuantKind::Q6_K, 14336, 2, 4, H200), vec![(0, 56)]);
        // Parts that cannot all be non-empty (3 super-blocks over 4 CTAs; 5 over 4: 2, 2, 1, none).
        assert!(imma_slices(QuantKind::Q4_K, 768, 1, 4, H200).is_empty());
        assert!(imma_slices(QuantKind::Q4_K, 1280, 1, 4, H200).is_empty());
        assert_eq!(imma_slices(QuantKind::Q4_K, 1024, 1, 4, H200), vec![(0, 4)]);
        assert_eq!(imma_slices(QuantKind::Q8_0, 4096, 1, 1, H200), vec![(0, 16)]);
        assert!(imma_slices(QuantKind::Q8_0, 4096 + 32, 1, 1, H200).is_empty());
        assert!(imma_slices(QuantKind::Q4_K, 0, 1, 1, H200).is_empty());
        for kind in QuantKind::ALL {
            for sbs in [1, 2, 3, 16, 55, 56, 57, 112, 113, 256] {
                for nt in [1, 2] {
                    for c in [1, 2, 4, 8] {
                        let s = imma_slices(kind, 256 * sbs, nt, c, H200);
                        if s.is_empty() {
                            assert!(c > 1, "{kind} {sbs} {nt} {c}");
                            continue;
                        }
                        let mut next = 0;
                        for &(s0, n) in &s {
                            let per = n.div_ceil(c);
                            assert!(s0 == next && n > 0 && (c - 1) * per < n, "{kind} {sbs} {nt} {c}: {s:?}");
                            let bytes = imma_shared_bytes(kind, 256 * per, nt, 8, 2, c, 8);
                            assert!(bytes <= H200, "{kind} {sbs} {nt} {c}: {s:?}");
                            next += n;
                        }
                        assert_eq!(next, sbs, "{kind} {sbs} {nt} {c}: {s:?}");
                        let widest = s.iter().map(|p| p.1).max().unwrap();
                        assert!(
                            s.iter().all(|p| p.1 + 1 >= widest || p.0 + p.1 == sbs),
                            "{kind} {sbs} {nt} {c}: {s:?}"
                        );
                    }
                }
            }
        }
        // Clusters of two where one launch cannot hold x of all K and the
        // rows are few: the down projection at 16 tokens, not at 8, not the
        // 4096x4096 and 1024x4096 ones or the wide projections; forced;
        // none before sm_90.
        let cs = |kind, m, k, nt| imma_csplit(0, kind, m, k, nt, 132, H200, true);
        assert_eq!(cs(QuantKind::Q4_K, 4096, 14336, 2), 2);
        assert_eq!(cs(QuantKind::Q6_K, 4096, 14336, 2), 2);
        assert_eq!(cs(QuantKind::Q6_K, 4096, 14336, 1), 1);
        assert_eq!(cs(QuantKind::Q4_K, 4096, 14336, 1), 1);
        assert_eq!(cs(QuantKind::Q4_K, 4096, 4096, 2), 1);
        assert_eq!(cs(QuantKind::Q4_K, 1024, 4096, 2), 1);
        assert_eq!(cs(QuantKind::Q4_K, 14336, 14336, 2), 1);
        // The check's cases for each path: 8448 rows (above 56 a SM even on 148
        // SMs) at 9 tokens in slices of 17 and 16 super-blocks without clusters;
        // 100 rows at K = 18944 and 5 tokens in one launch of clusters.
        assert_eq!(cs(QuantKind::Q4_K, 8448, 8448, 2), 1);
        assert_eq!(imma_slices(QuantKind::Q4_K, 8448, 2, 1, H200), vec![(0, 17), (17, 16)]);
        assert_eq!(cs(QuantKind::Q4_K, 100, 18944, 1), 2);
        assert_eq!(cs(QuantKind::Q6_K, 100, 18944, 1), 2);
        assert_eq!(imma_slices(QuantKind::Q4_K, 18944, 1, 2, H200), vec![(0, 74)]);
        assert_eq!(imma_csplit(4, QuantKind::Q4_K, 4096, 4096, 2, 132, H200, true), 4);
        assert_eq!(imma_csplit(4, QuantKind::Q4_K, 4096, 14336, 2, 132, H200, false), 1);
        assert_eq!(imma_recv_bytes(1, 8, 2), 0);
        assert_eq!(imma_recv_bytes(4, 8, 2), 4 * 2 * 32 * 8 * 4);
        // ... at the start of the layout, in clusters only.
        assert_eq!(
            imma_shared_bytes(QuantKind::Q4_K, 4096, 2, 16, 2, 4, 8),
            imma_shared_bytes(QuantKind::Q4_K, 4096, 2, 16, 2, 1, 8) + 4 * 2 * 32 * 8 * 4
        );
        // K = 4096, two n-tiles, 16 warps, three stages: 16 tokens x (4096 +
        // 32) bytes, dx and dx sum's two parts (128 units; 132 a token), the
        // k-parts' accumulators, 16 warps x 3 stages of 16 rows x 160 bytes.
        assert_eq!(
            imma_shared_bytes(QuantKind::Q4_K, 4096, 2, 16, 3, 1, 0),
            16 * 4128 + 4 * 128 * 16 + 2 * 4 * 16 * 132 + 2 * 16 * 32 * 8 * 4 + 16 * 3 * 2560
        );
        // Q6_K: the sums of each 16 as i32 [128 units][2][16 tokens], stages of 16 rows x 240 bytes.
        assert_eq!(
            imma_shared_bytes(QuantKind::Q6_K, 4096, 2, 16, 2, 1, 0),
            16 * 4128 + 4 * 128 * 16 + 4 * 2 * 128 * 16 + 2 * 16 * 32 * 8 * 4 + 16 * 2 * 3840
        );
    }

    #[test]
    fn token_chunks_are_even_and_cover_every_token() {
        assert_eq!(token_chunks(16, 7), vec![(0, 6), (6, 5), (11, 5)]);
        assert_eq!(token_chunks(16, 8), vec![(0, 8), (8, 8)]);
        assert_eq!(token_chunks(1, 8), vec![(0, 1)]);
        assert!(token_chunks(0, 8).is_empty());
    }

    #[test]
    fn a_pair_launch_fits_as_many_ctas_as_its_first_matrix_alone() {
        // Q6_K's ring of two stages beside Q4_K's three: the pair's shared
        // memory is Q4_K's own at every token count on an H200.
        const H200: usize = 227 << 10;
        for n in 1..=DOT_MAX_N {
            let pair = pair_shared_bytes([QuantKind::Q4_K, QuantKind::Q6_K], 4096, n);
            assert_eq!(pair, dot_shared_bytes(QuantKind::Q4_K, 4096, n), "{n}");
        }
        assert_eq!(pair_tokens([QuantKind::Q4_K, QuantKind::Q6_K], 4096, H200), 8);
        assert_eq!(pair_infix([QuantKind::Q4_K, QuantKind::Q6_K]), Some("q4_k_q6_k"));
        assert_eq!(pair_infix([QuantKind::Q6_K, QuantKind::Q4_K]), None);
        // Batches 1-4, 8 and 16 in one launch a chunk; 5 and 12 (chunks of 5, 6) a launch a matrix.
        for (n, one) in [(1, true), (4, true), (5, false), (8, true), (12, false), (16, true), (0, false)] {
            assert_eq!(pair_entries_cover(n, 8), one, "{n}");
        }
        assert!(!pair_entries_cover(16, 0));
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

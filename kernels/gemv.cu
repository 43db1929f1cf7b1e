// Small-N GEMV family: C[M,N] = alpha * A[M,K] . B[K,N] + beta * C, N <= 16,
// f32 accumulation, optional batch (grid.z) with a group factor on A, optional
// split-K over grid.y combined in one launch (the last CTA of a tile reduces).
//
// Compiled once per element type: DK_DTYPE is 0 (f16), 1 (bf16) or 2 (f32).
//
// Variants (host side: src/ops/matmul.rs, choice: src/dispatch/matmul.rs):
//   mma   f16/bf16, A K-contiguous, A and B 16-byte aligned: tensor cores
//         (common.cuh: mma16816, f32 accumulate), 16 rows per CTA, warps split K.
//   veck  any dtype, A K-contiguous, 16-byte aligned: FMA, ROWS rows per CTA
//         (times 2, 4 or 8 row groups at N <= 2: gemv_veck_n1_g4_f16).
//   vecm  any dtype, A M-contiguous (V in P.V), 16-byte aligned along M: FMA.
//   scalar any strides, any alignment: a warp per row, scalar loads.
// veck fused with its neighbours at N <= 2 (host side: src/ops/fused_gemv.rs):
//   veckglu silu(gate) * up; veckn RMSNorm of B first; veckglun both;
//   veckrope a fused QKV projection's RoPE and cache append (veckropen: with
//   the norm).
#include "common.cuh"  // T and DT_NAME: the element type of this build (DK_DTYPE)
#include "rope.cuh"    // RopeParams, RopeOut, rope_store (gemv_veckrope's epilogue)

// Rust twin: GemvParams in src/ops/matmul.rs. Strides in elements.
struct GemvParams {
    i64 m, k, n;
    i64 sam, sak, sbk, sbn, scm, scn;
    i64 sab, sbb, scb;  // batch strides of A, B, C
    i64 group;          // batch b of C reads batch b / group of A
    i64 k_per_split;    // K range of one grid.y split (a multiple of the variant's K step)
    float alpha, beta;
};

// Moves A, B and C to this CTA's batch (blockIdx.z): batch b of C reads batch
// b / group of A; a batch stride of 0 broadcasts.
template <typename PA, typename PB, typename PC>  // the kernels' pointers, __restrict__ or not
__device__ __forceinline__ void to_batch(PA& A, PB& B, PC& C, const GemvParams& p) {
    const i64 bz = blockIdx.z;
    A += (bz / p.group) * p.sab;
    B += bz * p.sbb;
    C += bz * p.scb;
}

// This CTA's K range: split blockIdx.y of gridDim.y.
__device__ __forceinline__ i64 split_begin(const GemvParams& p) { return (i64)blockIdx.y * p.k_per_split; }
__device__ __forceinline__ i64 split_end(const GemvParams& p) { return min(p.k, split_begin(p) + p.k_per_split); }

constexpr int MAX_WARPS = 8;

__device__ __forceinline__ void store_c(T* c, i64 off, float acc, float alpha, float beta) {
    float v = alpha * acc;
    if (beta != 0.f) v += beta * to_f32(c[off]);  // beta == 0 never reads C (it may hold NaN)
    c[off] = from_f32<T>(v);
}

// Split-K: every split of a tile stores its partial sums; the last CTA to arrive
// (common.cuh: splitk_last_reduces) adds them in split order, so the result
// does not depend on arrival order. Returns false in every CTA but that last one.
__device__ bool splitk_combine(float* tile, int tile_elems, float* ws, unsigned* counters) {
    const int S = gridDim.y;
    if (S == 1) return true;
    const i64 slot = (i64)blockIdx.z * gridDim.x + blockIdx.x;
    float* mine = ws + (slot * S + blockIdx.y) * tile_elems;
    for (int e = threadIdx.x + threadIdx.y * blockDim.x; e < tile_elems; e += blockDim.x * blockDim.y) mine[e] = tile[e];
    const bool last = splitk_last_reduces(counters, slot, S, [&] {
        // U splits' partials in flight per round: S / U rounds of L2 latency, not S.
        constexpr int U = 8;
        for (int e = threadIdx.x + threadIdx.y * blockDim.x; e < tile_elems; e += blockDim.x * blockDim.y) {
            float s = 0.f;
            for (int j0 = 0; j0 < S; j0 += U) {
                float x[U];
#pragma unroll
                for (int u = 0; u < U; ++u) x[u] = j0 + u < S ? __ldcg(ws + (slot * S + j0 + u) * tile_elems + e) : 0.f;
#pragma unroll
                for (int u = 0; u < U; ++u) s += x[u];  // split order
            }
            tile[e] = s;
        }
    });
    if (!last) return false;
    __syncthreads();  // the caller may read `tile` with another thread-to-element mapping
    return true;
}

// Sums the warps' partial tiles (red[w][e], w < warps) into red[0], then
// combines K splits. False in every CTA but the one that must write the result.
template <int TILE>
__device__ bool reduce_warps_and_splits(float (*red)[TILE], int warps, float* ws, unsigned* counters) {
    __syncthreads();
    for (int e = threadIdx.x; e < TILE; e += blockDim.x) {
        float s = 0.f;
        for (int w = 0; w < warps; ++w) s += red[w][e];
        red[0][e] = s;
    }
    __syncthreads();
    return splitk_combine(red[0], TILE, ws, counters);
}

__device__ __forceinline__ uint4 zero4() { return make_uint4(0u, 0u, 0u, 0u); }

// ---------------------------------------------------------------- mma
#if DK_DTYPE != 2
// A warp owns rows row0..row0+15 and a strided share of K. Lane (g = lane/4,
// t = lane%4) loads 16 bytes of rows g and g+8 and of B column g (and g+8) at
// K offset 8t of each 32-element chunk. The dot product does not care about
// K order, so those 8 elements feed two m16n8k16 steps (elements 0-3, then
// 4-7) in place of the fragment's own K positions: A and B are permuted alike.
// Lane t loads K offsets 16t and 16t+8 of each 64-element chunk in consecutive
// u-steps, so every pair of load instructions covers whole 128-byte lines of its
// 16 rows (the loads allocate in L1; the second of a pair hits there). Loading
// 64-byte pieces instead (offset 8t of 32-element chunks) doubles the L2 requests
// for the same bytes and ran at 58% of the read roofline against 92% (H200,
// 128256x4096, BENCHMARKS.md).
template <int N, int U>
__device__ void gemv_mma(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, float* ws, unsigned* counters,
                         const GemvParams p) {
    constexpr int NT = (N + 7) / 8;  // n-tiles of 8 columns
    constexpr int TILE = 16 * NT * 8;
    __shared__ float red[MAX_WARPS][TILE];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    to_batch(A, B, C, p);
    const i64 row0 = (i64)blockIdx.x * 16;
    const bool lo_ok = row0 + g < p.m, hi_ok = row0 + g + 8 < p.m;
    const T* a_lo = A + (lo_ok ? row0 + g : 0) * p.sam;
    const T* a_hi = A + (hi_ok ? row0 + g + 8 : 0) * p.sam;
    const T* b_col[NT];
    bool b_ok[NT];
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        b_ok[j] = 8 * j + g < N;
        b_col[j] = B + (b_ok[j] ? 8 * j + g : 0) * p.sbn;
    }
    float acc[NT][4];
#pragma unroll
    for (int j = 0; j < NT; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

    const i64 k_begin = split_begin(p), k_end = split_end(p);
    for (i64 kb = k_begin + (i64)warp * 32 * U; kb < k_end; kb += (i64)warps * 32 * U) {
        uint4 lo[U], hi[U], bv[U][NT];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const i64 k = kb + 64 * (u >> 1) + 16 * t + 8 * (u & 1);
            const bool in = k < k_end;  // K % 8 == 0: a 16-byte chunk is wholly in or out
            lo[u] = (in && lo_ok) ? __ldg(reinterpret_cast<const uint4*>(a_lo + k)) : zero4();
            hi[u] = (in && hi_ok) ? __ldg(reinterpret_cast<const uint4*>(a_hi + k)) : zero4();
#pragma unroll
            for (int j = 0; j < NT; ++j) bv[u][j] = (in && b_ok[j]) ? __ldg(reinterpret_cast<const uint4*>(b_col[j] + k)) : zero4();
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                mma16816(acc[j], lo[u].x, hi[u].x, lo[u].y, hi[u].y, bv[u][j].x, bv[u][j].y);
                mma16816(acc[j], lo[u].z, hi[u].z, lo[u].w, hi[u].w, bv[u][j].z, bv[u][j].w);
            }
        }
    }
    // Fragment: c0,c1 = (row g, cols 2t, 2t+1), c2,c3 = (row g+8, same cols) of each n-tile.
    constexpr int W = NT * 8;
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        red[warp][g * W + 8 * j + 2 * t] = acc[j][0];
        red[warp][g * W + 8 * j + 2 * t + 1] = acc[j][1];
        red[warp][(g + 8) * W + 8 * j + 2 * t] = acc[j][2];
        red[warp][(g + 8) * W + 8 * j + 2 * t + 1] = acc[j][3];
    }
    if (!reduce_warps_and_splits<TILE>(red, warps, ws, counters)) return;
    for (int e = threadIdx.x; e < TILE; e += blockDim.x) {
        const int r = e / W, n = e % W;
        const i64 row = row0 + r;
        if (row < p.m && n < N) store_c(C, row * p.scm + n * p.scn, red[0][e], p.alpha, p.beta);
    }
}
#endif

// ---------------------------------------------------------------- veck
// VEC and unpack (16-byte loads of T): common.cuh.

template <int N>
struct VeckShape {
    // More rows per CTA reuse each B load across rows (L1 traffic ~ 1 + N/ROWS).
    static constexpr int ROWS = N <= 2 ? 1 : (N <= 8 ? 2 : 4);
};

// RG (row groups, plain rows only): a CTA computes RG times VeckShape's
// rows. A short row (a K of 896 in f16 is 1.8 KB) leaves a CTA of one row a
// chunk a lane to read, and its launch and reduction then cost more than its
// loads; the host picks RG (dispatch::matmul::veck_row_groups).
// GLU (gemv_veckglu): A holds 2 M rows, the gate rows then the up rows; the
// CTA computes gate row i and up row i + M and writes C[i] = silu(g) * u,
// g and u first rounded to T as a matmul's output would be, then the same
// f32 expression as silu_mul (layer.cu), so the result equals matmul then
// silu_mul bit for bit. alpha 1, beta 0 (the host checks).
// NORM (gemv_veckn, gemv_veckglun): B's columns are RMSNorm's input x and
// the product is taken with x * norm_w, each column's sum of squares
// gathered from the same loads; the sums reduce over warps and K splits with
// the tile (N more floats), and the outputs are scaled by the columns'
// 1 / sqrt(mean(x^2) + eps) before the store (and GLU's rounding). No launch
// for the norm, no round trip of its output, nothing more read than w. The
// normalized x is never rounded to T (`rmsnorm` then `matmul` rounds it).
// ROPE (gemv_veckrope, gemv_veckropen): A is a fused QKV projection and
// column n of B sequence n's token; CTA x = h * d/2 + i computes rows h d + i
// and h d + i + d/2, rounds them to T as the projection's output would be,
// and hands the pair to rope_store (rope.cuh), which adds the bias, rotates
// and writes q_out or the caches' slot (rope.cuh: RopeOut): C is not written.
// W (the `w` entries: gemv_veckw_n1_g4_f16, gemv_veckglunw_n1_f16): A is a
// weight no launch writes any more (Tensor::mark_fixed on the host). Where
// one pass of the K loop covers a CTA's K range (a K of up to 2048 in f16),
// the CTA issues all its loads of A before waiting for the previous launch
// (common.cuh: pdl_wait) and lets the next launch be scheduled before its
// own wait (pdl_begin_early): the next GEMV's CTAs take the slots free
// beside this one and issue their loads while it waits and runs. Nothing
// else is read before the wait, so the rule of common.cuh holds however
// far such early starts chain. H200, batch 1 (BENCHMARKS.md, 2026-12-02,
// seventeenth session): qwen2.5-0.5b 699 -> 633 us a step, llama3.2-1b
// 872 -> 845. A CTA of several passes (K over 2048 in f16: the down
// projections, every 8B layer) issues its first pass's loads before the
// wait too but lets the next launch be scheduled only after it (an early
// trigger there cost the 8B steps 0.5%); its first loads early took
// llama3-8b 4280 -> 4193 us, qwen2.5-7b 3964 -> 3899 (nineteenth
// session). Separate entries: the same code behind a
// runtime flag in one function slowed the plain g2 kernel 7% (registers
// 40 -> 44). Loads of the first pass before the wait in every CTA (a K
// loop software-pipelined to allow it) slowed llama3-8b 4307 -> 4909 us;
// an L2 prefetch of the CTA's rows (cp.async.bulk.prefetch) before the
// wait, 4399 -> 4856.
template <int N, bool GLU = false, bool NORM = false, bool ROPE = false, int RG = 1, bool W = false>
__device__ void gemv_veck(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, float* ws, unsigned* counters,
                          const GemvParams p, const T* __restrict__ norm_w = nullptr, float eps = 0.f,
                          const RopeOut* ro = nullptr) {
    if constexpr (!W) pdl_begin();  // the `w` entries wait below, after their loads of A
    static_assert(RG == 1 || !(GLU || NORM || ROPE), "row groups are for plain veck");
    constexpr int ROWS = GLU || ROPE ? 2 : VeckShape<N>::ROWS * RG;
    constexpr int TILE = ROWS * N;
    constexpr int TILE_R = TILE + (NORM ? N : 0);  // the columns' sums of squares after the products
    __shared__ float red[MAX_WARPS][TILE_R];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    to_batch(A, B, C, p);
    i64 rope_h = 0, rope_i = 0, rope_half = 0;  // ROPE: the CTA's head and pair
    if constexpr (ROPE) {
        const unsigned half = (unsigned)(ro->p.d / 2);  // 32-bit: no 64-bit division before the loads
        rope_half = half;
        rope_h = blockIdx.x / half;
        rope_i = blockIdx.x - (unsigned)rope_h * half;
    }
    const i64 row0 = ROPE ? rope_h * ro->p.d + rope_i : (i64)blockIdx.x * (GLU ? 1 : ROWS);
    const T* a[ROWS];
    bool a_ok[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
        // GLU: the gate row, then its up row; ROPE: the pair's two rows.
        const i64 row = GLU ? row0 + r * p.m : (ROPE ? row0 + r * rope_half : row0 + r);
        a_ok[r] = (GLU ? row0 : row) < p.m;
        a[r] = A + (a_ok[r] ? row : 0) * p.sam;
    }
    float acc[ROWS][N];
#pragma unroll
    for (int r = 0; r < ROWS; ++r)
#pragma unroll
        for (int n = 0; n < N; ++n) acc[r][n] = 0.f;
    float ss[N];
#pragma unroll
    for (int n = 0; n < N; ++n) ss[n] = 0.f;

    const i64 k_begin = split_begin(p), k_end = split_end(p);
    // Two 16-byte chunks per row in flight per lane before any arithmetic:
    // with one, a CTA's iterations serialise on memory latency. Four row
    // groups or more keep as many in flight with one (and fewer registers).
    constexpr int VU = RG >= 4 ? 1 : 2;
    const i64 step = (i64)warps * 32 * VEC;
    if constexpr (W) {
        // The `w` entries (above): the plain loop's loads and products
        // (below) as two steps, so that a one-pass CTA can issue its loads
        // before the wait. The plain loop keeps its own text: written
        // through these lambdas its kernels take other registers (n1 32 ->
        // 40, n16 176 -> 138, sm_90) and f16 at N = 1 ran 2-6% slower
        // (128256 x 4096: 230 -> 245 us), though f32 at N = 2-8 gained up
        // to 23% (H200, BENCHMARKS.md, 2026-12-02, nineteenth session).
        auto load_a = [&](uint4 (&raw)[VU][ROWS], i64 k0) {
#pragma unroll
            for (int u = 0; u < VU; ++u)
#pragma unroll
                for (int r = 0; r < ROWS; ++r)
                    raw[u][r] = (a_ok[r] && k0 + u * step < k_end) ? __ldcs(reinterpret_cast<const uint4*>(a[r] + k0 + u * step)) : zero4();
        };
        auto accumulate = [&](const uint4 (&raw)[VU][ROWS], i64 k0) {
#pragma unroll
            for (int u = 0; u < VU; ++u) {
                const i64 k = k0 + u * step;
                if (k >= k_end) break;
                float av[ROWS][VEC];
#pragma unroll
                for (int r = 0; r < ROWS; ++r) unpack_weights(raw[u][r], av[r]);
                // NORM: w multiplies A's values where the CTA has one row, else
                // B's (the fewer registers: 32 and 40 at N = 1, sm_90).
                constexpr bool W_ON_A = ROWS == 1;
                float wv[VEC];
                if constexpr (NORM) {
                    unpack(__ldg(reinterpret_cast<const uint4*>(norm_w + k)), wv);
                    if constexpr (W_ON_A) {
#pragma unroll
                        for (int i = 0; i < VEC; ++i) av[0][i] *= wv[i];
                    }
                }
#pragma unroll
                for (int n = 0; n < N; ++n) {
                    float bv[VEC];
                    unpack(__ldg(reinterpret_cast<const uint4*>(B + n * p.sbn + k)), bv);
                    if constexpr (NORM) {
#pragma unroll
                        for (int i = 0; i < VEC; ++i) {
                            ss[n] = fmaf(bv[i], bv[i], ss[n]);
                            if constexpr (!W_ON_A) bv[i] *= wv[i];
                        }
                    }
#pragma unroll
                    for (int r = 0; r < ROWS; ++r)
#pragma unroll
                        for (int i = 0; i < VEC; ++i) acc[r][n] = fmaf(av[r][i], bv[i], acc[r][n]);
                }
            }
        };
        const i64 k_first = k_begin + ((i64)warp * 32 + lane) * VEC;
        if (k_end - k_begin <= VU * step) {
            // A weight whose CTA K range is one pass of the loop (W): every
            // lane's loads of A go out before the wait and overlap the previous
            // launch's tail; the next launch may start now.
            uint4 raw[VU][ROWS];
            load_a(raw, k_first);
            pdl_begin_early();
            accumulate(raw, k_first);
        } else {
            // Several passes: the first pass's loads before the wait, the rest
            // of the loop as the plain one.
            uint4 raw0[VU][ROWS];
            load_a(raw0, k_first);
            pdl_begin();
            accumulate(raw0, k_first);
            for (i64 k0 = k_first + VU * step; k0 < k_end; k0 += VU * step) {
                uint4 raw[VU][ROWS];
                load_a(raw, k0);
                accumulate(raw, k0);
            }
        }
    } else {
        for (i64 k0 = k_begin + ((i64)warp * 32 + lane) * VEC; k0 < k_end; k0 += VU * step) {
            uint4 raw[VU][ROWS];
#pragma unroll
            for (int u = 0; u < VU; ++u)
#pragma unroll
                for (int r = 0; r < ROWS; ++r)
                    raw[u][r] = (a_ok[r] && k0 + u * step < k_end) ? __ldcs(reinterpret_cast<const uint4*>(a[r] + k0 + u * step)) : zero4();
#pragma unroll
            for (int u = 0; u < VU; ++u) {
                const i64 k = k0 + u * step;
                if (k >= k_end) break;
                float av[ROWS][VEC];
#pragma unroll
                for (int r = 0; r < ROWS; ++r) unpack_weights(raw[u][r], av[r]);
                // NORM: w multiplies A's values where the CTA has one row, else
                // B's (the fewer registers: 32 and 40 at N = 1, sm_90).
                constexpr bool W_ON_A = ROWS == 1;
                float wv[VEC];
                if constexpr (NORM) {
                    unpack(__ldg(reinterpret_cast<const uint4*>(norm_w + k)), wv);
                    if constexpr (W_ON_A) {
#pragma unroll
                        for (int i = 0; i < VEC; ++i) av[0][i] *= wv[i];
                    }
                }
#pragma unroll
                for (int n = 0; n < N; ++n) {
                    float bv[VEC];
                    unpack(__ldg(reinterpret_cast<const uint4*>(B + n * p.sbn + k)), bv);
                    if constexpr (NORM) {
#pragma unroll
                        for (int i = 0; i < VEC; ++i) {
                            ss[n] = fmaf(bv[i], bv[i], ss[n]);
                            if constexpr (!W_ON_A) bv[i] *= wv[i];
                        }
                    }
#pragma unroll
                    for (int r = 0; r < ROWS; ++r)
#pragma unroll
                        for (int i = 0; i < VEC; ++i) acc[r][n] = fmaf(av[r][i], bv[i], acc[r][n]);
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS; ++r)
#pragma unroll
        for (int n = 0; n < N; ++n) {
            const float s = warp_sum(acc[r][n]);
            if (lane == 0) red[warp][r * N + n] = s;
        }
    if constexpr (NORM) {
#pragma unroll
        for (int n = 0; n < N; ++n) {
            const float s = warp_sum(ss[n]);
            if (lane == 0) red[warp][TILE + n] = s;
        }
    }
    if (!reduce_warps_and_splits<TILE_R>(red, warps, ws, counters)) return;
    // Column n's norm scale (1 without NORM).
    auto scale = [&](int n) { return NORM ? rsqrtf(red[0][TILE + n] / (float)p.k + eps) : 1.f; };
    if constexpr (ROPE) {
        for (int n = threadIdx.x; n < N; n += blockDim.x) {
            const float r = scale(n);
            const float x0 = to_f32(from_f32<T>(red[0][n] * r)), x1 = to_f32(from_f32<T>(red[0][N + n] * r));
            rope_store(ro->p, ro->bias, ro->q_out, ro->k_cache, ro->v_cache, ro->positions, rope_h, 0, n, rope_i, x0, x1);
        }
    } else if constexpr (GLU) {
        for (int n = threadIdx.x; n < N && row0 < p.m; n += blockDim.x) {
            const float r = scale(n);
            const float g = to_f32(from_f32<T>(red[0][n] * r)), u = to_f32(from_f32<T>(red[0][N + n] * r));
            C[row0 * p.scm + n * p.scn] = from_f32<T>(g / (1.f + expf(-g)) * u);
        }
    } else {
        for (int e = threadIdx.x; e < TILE; e += blockDim.x) {
            const i64 row = row0 + e / N;
            if (row < p.m) store_c(C, row * p.scm + (e % N) * p.scn, red[0][e] * scale(e % N), p.alpha, p.beta);
        }
    }
}

// ---------------------------------------------------------------- vecm
// blockDim = (TX, TY): x walks M in VEC-row vectors, y walks K. Every thread of
// a row of the block reads the same B element (a broadcast).
constexpr int VECM_MAX_THREADS = 256;
constexpr int VECM_MAX_TX = 32;

template <int N>
__device__ void gemv_vecm(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, float* ws, unsigned* counters,
                          const GemvParams p) {
    __shared__ float red[VECM_MAX_THREADS * VEC];
    __shared__ float tile[VECM_MAX_TX * VEC * N];
    const int tx = threadIdx.x, ty = threadIdx.y, TX = blockDim.x, TY = blockDim.y;
    to_batch(A, B, C, p);
    const i64 row0 = (i64)blockIdx.x * TX * VEC;
    const i64 m0 = row0 + (i64)tx * VEC;
    const bool m_ok = m0 < p.m;  // M % VEC == 0: a vector is wholly in or out
    float acc[VEC][N];
#pragma unroll
    for (int v = 0; v < VEC; ++v)
#pragma unroll
        for (int n = 0; n < N; ++n) acc[v][n] = 0.f;
    const i64 k_begin = split_begin(p), k_end = split_end(p);
#pragma unroll 4
    for (i64 k = k_begin + ty; k < k_end; k += TY) {
        float av[VEC];
        unpack(m_ok ? __ldcs(reinterpret_cast<const uint4*>(A + m0 + k * p.sak)) : zero4(), av);
#pragma unroll
        for (int n = 0; n < N; ++n) {
            const float bv = to_f32(B[k * p.sbk + n * p.sbn]);
#pragma unroll
            for (int v = 0; v < VEC; ++v) acc[v][n] = fmaf(av[v], bv, acc[v][n]);
        }
    }
    const int rows = TX * VEC;
#pragma unroll
    for (int n = 0; n < N; ++n) {
#pragma unroll
        for (int v = 0; v < VEC; ++v) red[ty * rows + tx * VEC + v] = acc[v][n];
        __syncthreads();
        if (ty == 0) {
#pragma unroll
            for (int v = 0; v < VEC; ++v) {
                float s = 0.f;
                for (int y = 0; y < TY; ++y) s += red[y * rows + tx * VEC + v];
                tile[(tx * VEC + v) * N + n] = s;
            }
        }
        __syncthreads();
    }
    if (!splitk_combine(tile, rows * N, ws, counters)) return;
    for (int e = tx + ty * TX; e < rows * N; e += TX * TY) {
        const i64 row = row0 + e / N;
        if (row < p.m) store_c(C, row * p.scm + (e % N) * p.scn, tile[e], p.alpha, p.beta);
    }
}

// ---------------------------------------------------------------- scalar
// Any strides, any alignment: warp per row, lanes stride over K.
template <int N>
__device__ void gemv_scalar(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, const GemvParams p) {
    const int lane = threadIdx.x & 31;
    to_batch(A, B, C, p);
    const i64 row = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= p.m) return;
    float acc[N];
#pragma unroll
    for (int n = 0; n < N; ++n) acc[n] = 0.f;
    for (i64 k = lane; k < p.k; k += 32) {
        const float a = to_f32(A[row * p.sam + k * p.sak]);
#pragma unroll
        for (int n = 0; n < N; ++n) acc[n] = fmaf(a, to_f32(B[k * p.sbk + n * p.sbn]), acc[n]);
    }
#pragma unroll
    for (int n = 0; n < N; ++n) {
        const float s = warp_sum(acc[n]);
        if (lane == 0) store_c(C, row * p.scm + n * p.scn, s, p.alpha, p.beta);
    }
}

// ---------------------------------------------------------------- entry points
// The host launches them as programmatic dependents (common.cuh). vecm and
// scalar wait for the previous launch before anything else (pdl_begin), then
// let the next launch be scheduled; veck does so in its body (after its
// loads of A in the `w` entries, gemv_veck's W). mma waits first (its
// entry): loads of A before the wait took it from 40-60 registers to 64
// with spills (sm_90).
#define DK_CAT3(a, b, c) a##b##c
#define DK_NAME(variant, n, dt) DK_CAT3(variant, n, _##dt)
#define DK_ENTRY(variant, N, dt, PDL)                                                                        \
    extern "C" __global__ void DK_NAME(gemv_##variant##_n, N, dt)(const T* A, const T* B, T* C, float* ws, \
                                                                      unsigned* counters, const GemvParams p) { \
        PDL;                                                                                                 \
        gemv_##variant<N>(A, B, C, ws, counters, p);                                                         \
    }
// U is even (u-steps pair up into whole lines): 4 keeps 8 A loads in flight per
// lane; 2 with two n-tiles keeps the registers of N > 8 in check.
#define DK_ENTRY_MMA(N, dt)                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) DK_NAME(gemv_mma_n, N, dt)(                              \
        const T* A, const T* B, T* C, float* ws, unsigned* counters, const GemvParams p) {                    \
        pdl_begin();                                                                                         \
        gemv_mma<N, (N <= 8 ? 4 : 2)>(A, B, C, ws, counters, p);                                             \
    }
// veckglu: veck on paired gate and up rows, silu(gate) * up written (decode's MLP).
#define DK_ENTRY_GLU(N, dt, NAME, W)                                                                         \
    extern "C" __global__ void DK_NAME(NAME, N, dt)(const T* A, const T* B, T* C, float* ws, unsigned* counters, \
                                                    const GemvParams p) {                                     \
        gemv_veck<N, true, false, false, 1, W>(A, B, C, ws, counters, p);                                    \
    }
// veckn, veckglun: the same with RMSNorm on B first (norm_w [K], eps).
#define DK_ENTRY_NORM(N, dt, NAME, GLU, W)                                                                   \
    extern "C" __global__ void DK_NAME(NAME, N, dt)(const T* A, const T* B, T* C, float* ws, unsigned* counters, \
                                                    const GemvParams p, const T* __restrict__ norm_w, float eps) { \
        gemv_veck<N, GLU, true, false, 1, W>(A, B, C, ws, counters, p, norm_w, eps);                         \
    }
// veckrope, veckropen: the QKV projection with RoPE and the cache append
// (and RMSNorm on B first); rope_append's pointers and parameters at the end.
#define DK_ENTRY_ROPE(N, dt, NAME, NORM, W)                                                                \
    extern "C" __global__ void DK_NAME(NAME, N, dt)(                                                       \
        const T* A, const T* B, T* C, float* ws, unsigned* counters, const GemvParams p,                   \
        const T* __restrict__ norm_w, float eps, const T* bias, T* q_out, T* k_cache, T* v_cache,          \
        const int* positions, const RopeParams rp) {                                                       \
        const RopeOut ro{bias, q_out, k_cache, v_cache, positions, rp};                                    \
        gemv_veck<N, false, NORM, true, 1, W>(A, B, C, ws, counters, p, norm_w, eps, &ro);                 \
    }
// Plain veck with RG row groups a CTA (N <= 2): gemv_veck_n1_g4_f16; the
// `w` entries (W, N <= 2): gemv_veckw_n1_f16, gemv_veckw_n1_g4_f16.
#define DK_ENTRY_VECKG(N, RG, dt, NAME, W)                                                                   \
    extern "C" __global__ void DK_CAT3(NAME, N, _g##RG##_##dt)(const T* A, const T* B, T* C, float* ws,      \
                                                                 unsigned* counters, const GemvParams p) {   \
        gemv_veck<N, false, false, false, RG, W>(A, B, C, ws, counters, p);                                  \
    }
#define DK_ENTRY_VECKW(N, dt)                                                                                \
    extern "C" __global__ void DK_NAME(gemv_veckw_n, N, dt)(const T* A, const T* B, T* C, float* ws,         \
                                                               unsigned* counters, const GemvParams p) {     \
        gemv_veck<N, false, false, false, 1, true>(A, B, C, ws, counters, p);                                \
    }
#define DK_VECK_GROUPS(N, dt, NAME, W) \
    DK_ENTRY_VECKG(N, 2, dt, NAME, W) DK_ENTRY_VECKG(N, 4, dt, NAME, W) DK_ENTRY_VECKG(N, 8, dt, NAME, W)
#define DK_ENTRY_SCALAR(N, dt)                                                                            \
    extern "C" __global__ void DK_NAME(gemv_scalar_n, N, dt)(const T* A, const T* B, T* C, float* ws,   \
                                                                unsigned* counters, const GemvParams p) { \
        pdl_begin();                                                                                      \
        gemv_scalar<N>(A, B, C, p);                                                                       \
    }
#define DK_ALL_N(M, dt) \
    M(1, dt) M(2, dt) M(3, dt) M(4, dt) M(5, dt) M(6, dt) M(7, dt) M(8, dt) \
    M(9, dt) M(10, dt) M(11, dt) M(12, dt) M(13, dt) M(14, dt) M(15, dt) M(16, dt)

#define DK_VECK(N, dt) DK_ENTRY(veck, N, dt, (void)0)
#define DK_VECM(N, dt) DK_ENTRY(vecm, N, dt, pdl_begin())
#define DK_EXPAND(M, dt) DK_ALL_N(M, dt)

DK_EXPAND(DK_VECK, DT_NAME)
DK_EXPAND(DK_VECM, DT_NAME)
DK_EXPAND(DK_ENTRY_SCALAR, DT_NAME)
// N <= 2: row groups, the fused forms, and each also as a `w` entry (W).
#define DK_NARROW(N, dt)                                                                                       \
    DK_VECK_GROUPS(N, dt, gemv_veck_n, false) DK_VECK_GROUPS(N, dt, gemv_veckw_n, true) DK_ENTRY_VECKW(N, dt)   \
    DK_ENTRY_GLU(N, dt, gemv_veckglu_n, false) DK_ENTRY_GLU(N, dt, gemv_veckgluw_n, true)                      \
    DK_ENTRY_NORM(N, dt, gemv_veckn_n, false, false) DK_ENTRY_NORM(N, dt, gemv_vecknw_n, false, true)          \
    DK_ENTRY_NORM(N, dt, gemv_veckglun_n, true, false) DK_ENTRY_NORM(N, dt, gemv_veckglunw_n, true, true)      \
    DK_ENTRY_ROPE(N, dt, gemv_veckrope_n, false, false) DK_ENTRY_ROPE(N, dt, gemv_veckropew_n, false, true)    \
    DK_ENTRY_ROPE(N, dt, gemv_veckropen_n, true, false) DK_ENTRY_ROPE(N, dt, gemv_veckropenw_n, true, true)
DK_NARROW(1, DT_NAME)
DK_NARROW(2, DT_NAME)
#if DK_DTYPE != 2
DK_EXPAND(DK_ENTRY_MMA, DT_NAME)
#endif

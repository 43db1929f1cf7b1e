// Softmax along the last axis of a [rows, cols] view, f32 math:
//   y[r, j] = softmax_j(scale * x[r, j] + mask[r % q_len, j]),
// with causal exclusion (row r is query position offset + r % q_len; columns
// after it are excluded and not read). Excluded and -inf entries give 0; a row
// with nothing left gives zeros; a NaN gives a NaN row; +inf gives NaN (as
// PyTorch). Compiled once per element type: DK_DTYPE 0 (f16), 1 (bf16), 2 (f32).
//
// Variants (host side: src/ops/softmax.rs, choice: src/dispatch/softmax.rs):
//   vec_e{E}_p{P}    a warp per row, E elements per lane in registers (cols <= 32 E)
//   vec{G}_e{E}_p{P} G = 8 or 16 lanes per row (short rows), several rows per warp
//   block_e{E}_p{P}  a CTA per row, E elements per thread in registers
//   cluster4_e{E}_p{P}  a row over a cluster of 4 CTAs of 512 threads (sm_90+)
//   vec_stream, block_stream   any cols: an online (max, sum) pass, then a write pass
//   split_stats_e{E}_p{P}, split_norm_e{E}_p{P}   a row cut into chunks of E x blockDim.x
//                    columns, a CTA each, over two launches: (max, sum) per chunk, then
//                    the row's total from its chunks' pairs and the chunk written
// P is 1 (scalar loads, any strides) or 16 bytes of elements (aligned rows).
#include "common.cuh"  // T and DT_NAME: the element type of this build (DK_DTYPE); VEC

// Rust twin: SoftmaxParams in src/ops/softmax.rs. Strides in elements.
struct SoftmaxParams {
    i64 rows, cols;
    i64 sxr, sxc, syr, syc, smr, smc;
    i64 q_len, offset;
    int causal, has_mask;
    float scale;
};

// Columns of row r that are not causally excluded.
__device__ __forceinline__ i64 row_valid(const SoftmaxParams& p, i64 r) {
    if (!p.causal) return p.cols;
    const i64 last = p.offset + r % p.q_len;  // the last visible column
    return min(p.cols, last + 1);
}

// Values are kept in the log2 domain, (scale * x + mask) * log2(e), so each
// exponential is one exp2f (the MUFU.EX2 unit) rather than an accurate expf,
// whose ~20 FP32 instructions per element made f16 softmax arithmetic-bound.
// The max and the normalisation are unchanged by the positive factor.
#define LOG2E 1.4426950408889634f

// Loads elements [c, c + P) of row r as scaled, masked f32 values (log2 domain); -inf past `valid`.
template <int P>
__device__ __forceinline__ void load_pack(const T* xr, const T* mr, const SoftmaxParams& p, i64 c, i64 valid, float* v) {
    if (c >= valid) {
#pragma unroll
        for (int e = 0; e < P; ++e) v[e] = -INFINITY;
        return;
    }
    if (P == VEC && P > 1) {
        const uint4 raw = *reinterpret_cast<const uint4*>(xr + c);
        const T* xe = reinterpret_cast<const T*>(&raw);
        float mv[P];
        if (p.has_mask) {
            const uint4 mraw = *reinterpret_cast<const uint4*>(mr + c);
            const T* me = reinterpret_cast<const T*>(&mraw);
#pragma unroll
            for (int e = 0; e < P; ++e) mv[e] = to_f32(me[e]);
        } else {
#pragma unroll
            for (int e = 0; e < P; ++e) mv[e] = 0.f;
        }
#pragma unroll
        for (int e = 0; e < P; ++e) v[e] = c + e < valid ? fmaf(p.scale, to_f32(xe[e]), mv[e]) * LOG2E : -INFINITY;
    } else {
#pragma unroll
        for (int e = 0; e < P; ++e) {
            const i64 j = c + e;
            v[e] = j < valid ? fmaf(p.scale, to_f32(xr[j * p.sxc]), p.has_mask ? to_f32(mr[j * p.smc]) : 0.f) * LOG2E : -INFINITY;
        }
    }
}

template <int P>
__device__ __forceinline__ void store_pack(T* yr, const SoftmaxParams& p, i64 c, const float* v) {
    if (P == VEC && P > 1) {
        uint4 raw;
        T* ye = reinterpret_cast<T*>(&raw);
#pragma unroll
        for (int e = 0; e < P; ++e) ye[e] = from_f32<T>(v[e]);
        *reinterpret_cast<uint4*>(yr + c) = raw;
    } else {
#pragma unroll
        for (int e = 0; e < P; ++e) yr[(c + e) * p.syc] = from_f32<T>(v[e]);
    }
}

// What each exp is multiplied by: NaN for a row holding a NaN (or +inf, whose
// exp(inf - inf) is NaN), 0 for a row with nothing left, else 1 / sum.
__device__ __forceinline__ float row_scale(float m, float s) {
    if (s != s) return s;
    return m == -INFINITY ? 0.f : 1.f / s;
}

// This thread's share of a row: its max, and its values turned into exps in
// place (their sum returned). fmaxf skips NaN, so a NaN reaches the sum through
// its exp (or as itself when nothing else is finite) and makes the row NaN.
template <int E>
__device__ __forceinline__ float max_of(const float (&v)[E]) {
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < E; ++i) m = fmaxf(m, v[i]);
    return m;
}
template <int E>
__device__ __forceinline__ float exps_in_place(float (&v)[E], float m) {
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < E; ++i) {
        v[i] = m == -INFINITY ? (v[i] != v[i] ? v[i] : 0.f) : exp2f(v[i] - m);
        s += v[i];
    }
    return s;
}

// Row max -> exps -> sum -> scale, with E values per thread in registers.
// G > 0: a group of G lanes per row (several rows per warp when G < 32);
// G == 0: a CTA per row.
template <int E, int P, int G>
__device__ void softmax_regs(const T* __restrict__ x, T* y, const T* __restrict__ mask, const SoftmaxParams p) {
    constexpr bool BLOCK = G == 0;
    __shared__ float smem[32];
    const int tid = BLOCK ? threadIdx.x : (threadIdx.x & (G - 1));
    const int group = BLOCK ? blockDim.x : G;
    const i64 r = BLOCK ? (i64)blockIdx.x : ((i64)blockIdx.x * blockDim.x + threadIdx.x) / G;
    if (BLOCK && r >= p.rows) return;
    // Lanes of a row past the end still join the shuffles; they load and store nothing.
    const bool active = r < p.rows;
    const i64 rr = active ? r : 0;
    const T* xr = x + rr * p.sxr;
    T* yr = y + rr * p.syr;
    const T* mr = mask + (p.has_mask ? (rr % p.q_len) * p.smr : 0);
    const i64 valid = active ? row_valid(p, rr) : 0;
    float v[E];
#pragma unroll
    for (int i = 0; i < E / P; ++i) load_pack<P>(xr, mr, p, ((i64)i * group + tid) * P, valid, v + i * P);
    float m = max_of(v);
    m = BLOCK ? block_max(m, smem) : group_max<BLOCK ? 32 : G>(m);
    float s = exps_in_place(v, m);
    s = BLOCK ? block_sum(s, smem) : group_sum<BLOCK ? 32 : G>(s);
    const float inv = row_scale(m, s);
#pragma unroll
    for (int i = 0; i < E / P; ++i) {
        const i64 c = ((i64)i * group + tid) * P;
        if (active && c < p.cols) {
            float o[P];
#pragma unroll
            for (int e = 0; e < P; ++e) o[e] = v[i * P + e] * inv;
            store_pack<P>(yr, p, c, o);
        }
    }
}

// Any number of columns: pass 1 keeps a running (max, sum) per thread and
// merges them; pass 2 re-reads x and writes. Reads x twice.
template <bool BLOCK>
__device__ void softmax_stream(const T* __restrict__ x, T* y, const T* __restrict__ mask, const SoftmaxParams p) {
    __shared__ float smem[32];
    const int tid = BLOCK ? threadIdx.x : (threadIdx.x & 31);
    const int group = BLOCK ? blockDim.x : 32;
    const i64 r = BLOCK ? (i64)blockIdx.x : (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= p.rows) return;
    const T* xr = x + r * p.sxr;
    T* yr = y + r * p.syr;
    const T* mr = mask + (p.has_mask ? (r % p.q_len) * p.smr : 0);
    const i64 valid = row_valid(p, r);
    float m = -INFINITY, s = 0.f;
    for (i64 j = tid; j < valid; j += group) {
        float v;
        load_pack<1>(xr, mr, p, j, valid, &v);
        if (v > m) {
            s = (m == -INFINITY ? 0.f : s * exp2f(m - v)) + 1.f;
            m = v;
        } else if (v != -INFINITY) {
            s += m == -INFINITY ? v : exp2f(v - m);  // only a NaN gets here with m == -inf
        }
    }
    const float mt = BLOCK ? block_max(m, smem) : warp_max(m);
    s = m == -INFINITY ? s : s * exp2f(m - mt);  // s is 0 or NaN when m == -inf
    s = BLOCK ? block_sum(s, smem) : warp_sum(s);
    const float inv = row_scale(mt, s);
    for (i64 j = tid; j < p.cols; j += group) {
        float v;
        load_pack<1>(xr, mr, p, j, valid, &v);
        v = (mt == -INFINITY ? 0.f : exp2f(v - mt)) * inv;
        store_pack<1>(yr, p, j, &v);
    }
}

#define DK_REGS(E, P)                                                                                         \
    extern "C" __global__ void softmax_vec_e##E##_p##P(const T* x, T* y, const T* mask, const SoftmaxParams p) {   \
        softmax_regs<E, P, 32>(x, y, mask, p);                                                                \
    }                                                                                                         \
    extern "C" __global__ void softmax_block_e##E##_p##P(const T* x, T* y, const T* mask, const SoftmaxParams p) { \
        softmax_regs<E, P, 0>(x, y, mask, p);                                                                 \
    }
// Short rows: 8 or 16 lanes per row, several rows per warp.
#define DK_SUB(G, E, P)                                                                                           \
    extern "C" __global__ void softmax_vec##G##_e##E##_p##P(const T* x, T* y, const T* mask, const SoftmaxParams p) { \
        softmax_regs<E, P, G>(x, y, mask, p);                                                                     \
    }
DK_REGS(1, 1)
DK_REGS(2, 1)
DK_REGS(4, 1)
DK_REGS(8, 1)
DK_REGS(16, 1)
DK_REGS(32, 1)
#if DK_DTYPE == 2
DK_REGS(4, 4)
DK_REGS(8, 4)
DK_REGS(16, 4)
DK_REGS(32, 4)
#else
DK_REGS(8, 8)
DK_REGS(16, 8)
DK_REGS(32, 8)
#endif
DK_SUB(8, 1, 1)
DK_SUB(8, 2, 1)
DK_SUB(8, 4, 1)
DK_SUB(8, 8, 1)
DK_SUB(16, 1, 1)
DK_SUB(16, 2, 1)
DK_SUB(16, 4, 1)
DK_SUB(16, 8, 1)
#if DK_DTYPE == 2
DK_SUB(8, 4, 4)
DK_SUB(8, 8, 4)
DK_SUB(16, 4, 4)
DK_SUB(16, 8, 4)
#else
DK_SUB(8, 8, 8)
DK_SUB(16, 8, 8)
#endif

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
// A row over a cluster of CL CTAs (Hopper thread-block clusters): each CTA holds
// a contiguous 1/CL of the row in registers, and the row's max and sum are
// exchanged through distributed shared memory. A 32768-column row held by one
// CTA leaves its SM idle through the reductions; CL CTAs share the row and
// several rows' CTAs share each SM.
// Combines `slot` (this CTA's partial, written before the call) across the
// cluster's CL CTAs: a max when MAX, else a sum.
template <int CL, bool MAX>
__device__ __forceinline__ float cluster_combine(float* slot) {
    cluster_sync();  // every CTA's slot is written (arrive releases, wait acquires)
    float acc = MAX ? -INFINITY : 0.f;
#pragma unroll
    for (unsigned r = 0; r < CL; ++r) {
        const float v = ld_cluster(slot, r);
        acc = MAX ? fmaxf(acc, v) : acc + v;
    }
    return acc;
}

template <int CL, int E, int P>
__device__ void softmax_cluster(const T* __restrict__ x, T* y, const T* __restrict__ mask, const SoftmaxParams p) {
    __shared__ float smem[32];
    __shared__ float part[2];  // this CTA's max, then its sum, read by the whole cluster
    const unsigned rank = cluster_rank();
    const i64 r = blockIdx.x / CL;  // grid.x = rows * CL: the cluster's CTAs share a row
    const i64 chunk = ((p.cols + CL - 1) / CL + P - 1) / P * P;  // whole packs per CTA
    const i64 c0 = rank * chunk, c1 = min(p.cols, c0 + chunk);
    const T* xr = x + r * p.sxr;
    T* yr = y + r * p.syr;
    const T* mr = mask + (p.has_mask ? (r % p.q_len) * p.smr : 0);
    const i64 valid = min(row_valid(p, r), c1);  // this CTA reads up to its chunk's end
    const int tid = threadIdx.x;
    float v[E];
#pragma unroll
    for (int i = 0; i < E / P; ++i) load_pack<P>(xr, mr, p, c0 + ((i64)i * blockDim.x + tid) * P, valid, v + i * P);
    float m = block_max(max_of(v), smem);
    if (tid == 0) part[0] = m;
    m = cluster_combine<CL, true>(&part[0]);
    float s = block_sum(exps_in_place(v, m), smem);
    if (tid == 0) part[1] = s;
    s = cluster_combine<CL, false>(&part[1]);
    const float inv = row_scale(m, s);
#pragma unroll
    for (int i = 0; i < E / P; ++i) {
        const i64 c = c0 + ((i64)i * blockDim.x + tid) * P;
        if (c < c1) {
            float o[P];
#pragma unroll
            for (int e = 0; e < P; ++e) o[e] = v[i * P + e] * inv;
            store_pack<P>(yr, p, c, o);
        }
    }
    cluster_sync();  // no CTA leaves while another may still read its `part`
}

#define DK_CLUSTER(E, P)                                                                                \
    extern "C" __global__ void __cluster_dims__(4, 1, 1)                                                \
        softmax_cluster4_e##E##_p##P(const T* x, T* y, const T* mask, const SoftmaxParams p) {          \
        softmax_cluster<4, E, P>(x, y, mask, p);                                                        \
    }
DK_CLUSTER(16, 1)
#if DK_DTYPE == 2
DK_CLUSTER(16, 4)
#else
DK_CLUSTER(16, 8)
#endif
#endif  // __CUDA_ARCH__ >= 900

extern "C" __global__ void softmax_vec_stream(const T* x, T* y, const T* mask, const SoftmaxParams p) {
    softmax_stream<false>(x, y, mask, p);
}
extern "C" __global__ void softmax_block_stream(const T* x, T* y, const T* mask, const SoftmaxParams p) {
    softmax_stream<true>(x, y, mask, p);
}

// ---------------------------------------------------------------- split rows
// Few long rows (a vocabulary-wide softmax): one CTA per row leaves most SMs
// idle, so each row is cut into chunks of E x blockDim.x columns, one CTA per
// (row, chunk), 1-D grid of rows x chunks (CTA b: row b / chunks, chunk
// b % chunks). Two launches on one stream:
//   split_stats: the chunk's max m and sum of exp2(v - m) (f32, log2 domain)
//                into part[2 (r * chunks + c)], part[2 (r * chunks + c) + 1];
//   split_norm:  one warp combines the row's pairs into the row max and total,
//                then the CTA re-reads its chunk (mostly from L2) and writes
//                it. Where the first launch fits the device at once, the
//                second is its programmatic dependent (sm_90; split_norm_early,
//                src/ops/softmax.rs): it re-reads its chunk while split_stats
//                runs, then waits for it.
// The edges are the other variants': a chunk with nothing visible has m = -inf
// and s = 0 (or NaN when it saw a NaN), so the row total is 0 (zeros out) or
// NaN (a NaN row); +inf gives exp2(inf - inf) = NaN in its chunk's sum. In
// place is safe: each thread re-reads exactly the packs it then writes.

// Chunks per row of a split launch (the host computes the same: src/ops/softmax.rs).
template <int E>
__device__ __forceinline__ i64 split_chunks(const SoftmaxParams& p) {
    const i64 chunk = (i64)E * blockDim.x;
    return (p.cols + chunk - 1) / chunk;
}

// This CTA's row, chunk bounds [c0, c1) and the row's visible columns within them.
struct SplitSpan {
    i64 r, chunk, chunks, c0, c1, valid;
};
template <int E>
__device__ __forceinline__ SplitSpan split_span(const SoftmaxParams& p) {
    SplitSpan s;
    s.chunks = split_chunks<E>(p);
    s.r = (i64)blockIdx.x / s.chunks;
    s.chunk = (i64)blockIdx.x % s.chunks;
    s.c0 = s.chunk * E * blockDim.x;
    s.c1 = min(p.cols, s.c0 + (i64)E * blockDim.x);
    s.valid = min(row_valid(p, s.r), s.c1);  // loads past it give -inf and read nothing
    return s;
}

template <int E, int P>
__device__ __forceinline__ void split_load(const T* x, const T* mask, const SoftmaxParams& p, const SplitSpan& s,
                                           float (&v)[E]) {
    const T* xr = x + s.r * p.sxr;
    const T* mr = mask + (p.has_mask ? (s.r % p.q_len) * p.smr : 0);
#pragma unroll
    for (int i = 0; i < E / P; ++i)
        load_pack<P>(xr, mr, p, s.c0 + ((i64)i * blockDim.x + threadIdx.x) * P, s.valid, v + i * P);
}

template <int E, int P>
__device__ void softmax_split_stats(const T* __restrict__ x, const T* __restrict__ mask, float* part,
                                    const SoftmaxParams p) {
    __shared__ float smem[32];
    // Where the host launches split_norm as this grid's programmatic
    // dependent (a grid of one wave: src/ops/softmax.rs), it may be
    // scheduled now: it loads its chunk while this grid runs and waits for
    // it before reading `part` or writing y. Otherwise this does nothing.
    pdl_launch_dependents();
    const SplitSpan s = split_span<E>(p);
    if (s.r >= p.rows) return;  // the grid is exactly rows x chunks; kept for safety (whole CTAs)
    float v[E];
    split_load<E, P>(x, mask, p, s, v);
    const float m = block_max(max_of(v), smem);
    const float sum = block_sum(exps_in_place(v, m), smem);
    if (threadIdx.x == 0) {
        part[2 * blockIdx.x] = m;
        part[2 * blockIdx.x + 1] = sum;
    }
}

// EARLY (the `_early` entries, launched as split_stats' programmatic
// dependent): the chunk is loaded before the wait. The ordinary launch keeps
// the pairs first: on grids of several waves the chunk loaded first cost up
// to 1.3x (H200, 64 x 262144 f16 67 -> 89 us; BENCHMARKS.md, 2026-12-02).
template <int E, int P, bool EARLY>
__device__ void softmax_split_norm(const T* x, T* y, const T* __restrict__ mask, const float* __restrict__ part,
                                   const SoftmaxParams p) {
    __shared__ float row[2];  // the row's max and 1 / total (or 0, or NaN)
    const SplitSpan s = split_span<E>(p);
    if (s.r >= p.rows) return;
    // EARLY: the chunk first. x and the mask were final before split_stats,
    // an ordinary launch, started, and this grid starts only after it did; y
    // (x itself in place) is written after the wait, once split_stats has
    // read all of x.
    float v[E];
    if constexpr (EARLY) {
        split_load<E, P>(x, mask, p, s, v);
        pdl_wait();
    }
    if (threadIdx.x < 32) {
        const float* pr = part + 2 * s.r * s.chunks;
        float m = -INFINITY, sum = 0.f;
        // Each lane merges its share of the chunks online, then the warp merges lanes.
        for (i64 k = threadIdx.x; k < s.chunks; k += 32) {
            const float mk = pr[2 * k], sk = pr[2 * k + 1];
            if (mk > m) {
                sum = (m == -INFINITY ? sum : sum * exp2f(m - mk)) + sk;
                m = mk;
            } else {
                sum += mk == -INFINITY ? sk : sk * exp2f(mk - m);  // sk is 0 or NaN when mk == -inf
            }
        }
        const float mt = warp_max(m);
        sum = m == -INFINITY ? sum : sum * exp2f(m - mt);
        sum = warp_sum(sum);
        if (threadIdx.x == 0) {
            row[0] = mt;
            row[1] = row_scale(mt, sum);
        }
    }
    __syncthreads();
    const float mt = row[0], inv = row[1];
    if constexpr (!EARLY) split_load<E, P>(x, mask, p, s, v);
    T* yr = y + s.r * p.syr;
#pragma unroll
    for (int i = 0; i < E / P; ++i) {
        const i64 c = s.c0 + ((i64)i * blockDim.x + threadIdx.x) * P;
        if (c < s.c1) {
            float o[P];
#pragma unroll
            for (int e = 0; e < P; ++e) o[e] = (mt == -INFINITY ? 0.f : exp2f(v[i * P + e] - mt)) * inv;
            store_pack<P>(yr, p, c, o);
        }
    }
}

#define DK_SPLIT(E, P)                                                                                       \
    extern "C" __global__ void softmax_split_stats_e##E##_p##P(const T* x, const T* mask, float* part,       \
                                                               const SoftmaxParams p) {                      \
        softmax_split_stats<E, P>(x, mask, part, p);                                                         \
    }                                                                                                        \
    extern "C" __global__ void softmax_split_norm_e##E##_p##P(const T* x, T* y, const T* mask,               \
                                                              const float* part, const SoftmaxParams p) {    \
        softmax_split_norm<E, P, false>(x, y, mask, part, p);                                                \
    }                                                                                                        \
    extern "C" __global__ void softmax_split_norm_early_e##E##_p##P(const T* x, T* y, const T* mask,         \
                                                                    const float* part, const SoftmaxParams p) { \
        softmax_split_norm<E, P, true>(x, y, mask, part, p);                                                 \
    }
DK_SPLIT(16, 1)
#if DK_DTYPE == 2
DK_SPLIT(16, 4)
#else
DK_SPLIT(16, 8)
#endif

// Fused decode attention: split-KV flash-decoding.
//
//   out[b, h, i, :] = softmax_j(scale * Q[b, h, i, :] . K[b, h / g, j, :]) V[b, h / g, j, :]
//
// One CTA owns one KV head (grid.y = batch * hkv), one slice of the keys
// (grid.x = splits) and up to 64 of the g * lq query rows that share that KV
// head (grid.z = row groups; one group whenever g * lq <= 64). Every query row
// of the group is served from the same staged K/V tile, so K and V stream from
// memory once per step whatever the group size. Softmax runs online in f32 in
// the log2 domain; the splits are merged by log-sum-exp in the same launch: the
// last CTA of a (KV head, row group) to finish, counted by an atomic after a
// fence, reads every split's partial and writes the output, and re-arms its
// counter (common.cuh: splitk_last_reduces, shared with gemv.cu's split-K).
//
// Compiled once per element type: DK_DTYPE is 0 (f16), 1 (bf16) or 2 (f32).
//
// Variants (host side: src/ops/sdpa.rs, choice: src/dispatch/sdpa.rs):
//   mma   f16/bf16, K and V rows 16-byte aligned with unit stride along D:
//         K and V tiles of 64 keys in a 2- to 4-stage cp.async pipeline in
//         shared memory (the host picks the depth that keeps the most bytes
//         in flight per SM), S = Q K^T and O += P V on tensor cores (mma.m16n8k16), a
//         16-row tile of query rows per warp; warps sharing a row tile split
//         each key tile between them and are combined at the end.
//   mmat  the same for at most 8 query rows a KV head (a decode step's GQA
//         group), with the product swapped: S^T = K Q^T and O^T += V^T P^T,
//         the query rows as the mma's 8 columns (sdpa_mma's SW); mmat8 on
//         eight warps and 128-key stages.
//   simt  any dtype, any strides: tiles of 32 keys staged in shared memory as
//         f32, a key per lane for S, D spread over the lanes for P V.
#include "common.cuh"  // T and DT_NAME: the element type of this build (DK_DTYPE)

// Rust twin: SdpaParams in src/ops/sdpa.rs. Strides in elements, (b, h, i|j, d).
struct SdpaParams {
    Dims4 sq, sk, sv, so;
    i64 batch, hkv, lq;
    i64 group;           // query heads per KV head
    i64 rows;            // group * lq: the query rows of one KV head, head-major
    i64 offset;          // position of query 0 (causal); may be negative
    i64 keys_per_split;  // a multiple of the key tile
    i64 kv_end;          // keys any row may see: lk, or clipped to offset + lq when causal
    int causal;
    float scale_log2;    // scale * log2(e)
    int stages;          // mma: K/V pipeline stages, 2 to 4
    int cluster;         // mmat: 0, or CTAs a thread-block cluster along grid.x: the splits merge in their cluster
                         // (cluster_push_merge), the clusters of a KV head (grid.x / cluster) through the workspace
    i64 fresh;           // -1: nothing is read before the previous launch finishes; else it writes only Q and the
                         // last `fresh` keys of each sequence (mma loads the others first: sdpa_mma's prologue)
    const int* kv_lens;  // null, or [batch] keys of each sequence (a ragged batch): sequence b sees keys
                         // below kv_lens[b], its query i sits at kv_lens[b] - lq + i (offset is per sequence)
};

constexpr int WARPS = 4;                  // simt and mma; mma8 runs 8 (template parameter W)
constexpr int ROWS_PER_CTA = 16 * WARPS;  // query rows per CTA: up to four 16-row tiles, for every variant

// The query row `row` (< group * lq, so 32-bit math) of KV head (b, hk): the
// offset of its first element in Q (or out), and its position.
// A decode step (lq = 1) skips the division.
__device__ __forceinline__ i64 row_offset(const Dims4& st, const SdpaParams& p, i64 b, i64 hk, int row) {
    const int lq = (int)p.lq, hq = lq == 1 ? row : row / lq, i = row - hq * lq;
    const int h = (int)hk * (int)p.group + hq;
    return b * st.v[0] + (i64)h * st.v[1] + (i64)i * st.v[2];
}
// Output row `row` of this CTA's KV head, elements d..d+3 (a merge's float4 of them).
__device__ __forceinline__ void store4(T* out, const SdpaParams& p, i64 b, i64 hk, int row, int d, float4 v) {
    T* dst = out + row_offset(p.so, p, b, hk, row) + d * p.so.v[3];
    dst[0] = from_f32<T>(v.x);
    dst[p.so.v[3]] = from_f32<T>(v.y);
    dst[2 * p.so.v[3]] = from_f32<T>(v.z);
    dst[3 * p.so.v[3]] = from_f32<T>(v.w);
}
__device__ __forceinline__ i64 position(const SdpaParams& p, int row) {
    return p.lq == 1 ? p.offset : p.offset + row % (int)p.lq;
}
// This CTA's sequence b and KV head hk: grid.y = batch * hkv is below 2^16,
// so one 32-bit division.
__device__ __forceinline__ void seq_head(const SdpaParams& p, i64& b, i64& hk) {
    const int bh = (int)blockIdx.y, hkv = (int)p.hkv, q = bh / hkv;
    b = q;
    hk = bh - q * hkv;
}
__device__ __forceinline__ bool visible(const SdpaParams& p, i64 key, i64 key_end, i64 pos) {
    return key < key_end && (!p.causal || key <= pos);
}

// Writes this CTA's rows. o[r * D + d] is row r's output normalised by its own
// sum, lse[r] its log2-sum-exp (-inf: the row saw no key). With one split that
// is the answer; otherwise each split parks its rows in the workspace
// (ws: [splits][rows_total][D] outputs, then [splits][rows_total] lse) and the
// last to arrive merges them in split order, so the result does not depend on
// arrival order. The merge loads every lse at once, turns them into weights
// per row in `scratch` (MAX_MERGE floats of shared memory), then sums 16-byte
// pieces of the partials, several splits per round of latency.
constexpr int MAX_MERGE = 4096;  // splits x rows per CTA; the host keeps within it

template <int D>
__device__ void finish(const float* o, const float* lse, int nrows, int row0, T* out, float* ws, unsigned* counters,
                       float* scratch, const SdpaParams& p) {
    static_assert(D % 4 == 0, "partials move in float4");
    const int S = gridDim.x;
    const i64 bh = blockIdx.y;
    i64 b, hk;
    seq_head(p, b, hk);
    if (S == 1) {
        for (int e = threadIdx.x; e < nrows * D; e += blockDim.x) {
            const int r = e / D, d = e % D;
            out[row_offset(p.so, p, b, hk, row0 + r) + d * p.so.v[3]] = from_f32<T>(o[e]);
        }
        return;
    }
    const i64 rows_total = p.batch * p.hkv * p.rows;
    const i64 g0 = bh * p.rows + row0;  // this CTA's first row among all rows
    float4* wo = reinterpret_cast<float4*>(ws);
    float* wl = ws + (i64)S * rows_total * D;
    const float4* o4 = reinterpret_cast<const float4*>(o);
    for (int e = threadIdx.x; e < nrows * D / 4; e += blockDim.x) wo[((i64)blockIdx.x * rows_total + g0) * (D / 4) + e] = o4[e];
    for (int r = threadIdx.x; r < nrows; r += blockDim.x) wl[(i64)blockIdx.x * rows_total + g0 + r] = lse[r];
    const i64 slot = bh * gridDim.z + blockIdx.z;
    splitk_last_reduces(counters, slot, S, [&] {
        for (int t = threadIdx.x; t < S * nrows; t += blockDim.x) scratch[t] = __ldcg(wl + (i64)(t / nrows) * rows_total + g0 + t % nrows);
        __syncthreads();
        // A warp a row, its lanes over the splits: the max, the sum and the
        // weights are three short warp reductions. (A thread a row looped
        // over the splits three times, 3 S dependent steps with an exp2 and
        // a division in each, on the launch's last CTA while every other
        // had finished.)
        const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
        for (int r = threadIdx.x >> 5; r < nrows; r += warps) {
            float m = -INFINITY;
            for (int s = lane; s < S; s += 32) m = fmaxf(m, scratch[s * nrows + r]);
            m = warp_max(m);
            float den = 0.f;
            for (int s = lane; s < S; s += 32) den += m == -INFINITY ? 0.f : exp2f(scratch[s * nrows + r] - m);
            den = warp_sum(den);
            for (int s = lane; s < S; s += 32) scratch[s * nrows + r] = m == -INFINITY ? 0.f : exp2f(scratch[s * nrows + r] - m) / den;
        }
        __syncthreads();
        // Each thread sums one 16-byte piece over the splits, loading U splits'
        // pieces at once: S / U rounds of L2 latency, not S (with one piece per
        // thread and 16 splits, a load per split made the merge ~10 us of waiting).
        // The sum still runs in split order.
        constexpr int U = 8;
        const int items = nrows * D / 4;
        for (int e = threadIdx.x; e < items; e += blockDim.x) {
            const int r = e / (D / 4), d = (e % (D / 4)) * 4;
            float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
            for (int s0 = 0; s0 < S; s0 += U) {
                float4 x[U];
#pragma unroll
                for (int u = 0; u < U; ++u)
                    if (s0 + u < S) x[u] = __ldcg(wo + ((i64)(s0 + u) * rows_total + g0) * (D / 4) + e);
#pragma unroll
                for (int u = 0; u < U; ++u) {
                    if (s0 + u < S) {
                        const float w = scratch[(s0 + u) * nrows + r];
                        acc.x += w * x[u].x;
                        acc.y += w * x[u].y;
                        acc.z += w * x[u].z;
                        acc.w += w * x[u].w;
                    }
                }
            }
            store4(out, p, b, hk, row0 + r, d, acc);
        }
    });
}

// 2^x on the MUFU unit without the accurate path's range fix-up: the
// arguments here are differences from a running max (<= 0), where a result
// below 2^-126 flushing to 0 changes no softmax weight that matters; -inf
// gives 0.
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
// The splits' merge inside a thread-block cluster (mmat with p.cluster: the
// grid.x splits of a KV head are clusters of at most 16 CTAs, at most 8
// rows each), by pushing rather than pulling. The output's 16-byte pieces
// (nrows * D / 4 of them) are dealt round-robin over the cluster: piece e
// belongs to CTA e % S. Each CTA combines its warps' rows piece by piece
// (the warps' weights recomputed by every thread from the W maxima and sums:
// no barrier, no shuffles) and stores each piece straight into its owner's
// shared memory, with its rows' log2-sum-exps into every CTA's; one cluster
// barrier later each CTA merges the pieces it owns over the splits (a lane a
// split, reduced in a fixed order: the result does not depend on which CTA
// finished first) and writes them out. Against a barrier, loads
// from every CTA's shared memory, and a second barrier before any CTA may
// leave (the pulling form): one barrier and no remote round trip. The
// receiving area (`recv`, after the query rows; host twin:
// FusedKernel::smem_bytes) is this merge's alone, so a CTA still in its key
// loop can be written to; the phase armed at the kernel's start and waited
// for here makes sure every CTA of the cluster has started.
//
// Several clusters a KV head (gridDim.x = C x p.cluster, C > 1: a long
// cache of few KV heads cut into more splits than one cluster holds):
// each cluster's owners park their merged pieces, normalised, with each
// piece's log2-sum-exp in the workspace ([C][rows_total x D / 4] float4,
// then [C][rows_total x D / 4] floats), and the last of the C CTAs of a rank
// to arrive (a counter per KV head and rank) merges its pieces over the
// clusters in cluster order. Against one global merge of every split by one
// CTA: C partials a piece instead of C x 16, read by 16 CTAs at once.
constexpr int CLUSTER_MAX = 16, CLUSTER_ROWS = 8;  // host twins: CLUSTER_MAX_SPLITS, MMAT_ROWS (src/dispatch/sdpa.rs)
constexpr int CLUSTERS_MAX = 8;                    // clusters a KV head; host twin: CLUSTERS_MAX (src/dispatch/sdpa.rs)
template <int D, int W, bool SEVERAL>
__device__ void cluster_push_merge(const float* fo, const float (*s_m)[16], const float (*s_l)[16], int nrows, int row0,
                                   float* recv, T* out, float* ws, unsigned* counters, const SdpaParams& p) {
    static_assert(D % 4 == 0 && D / 4 >= CLUSTER_MAX, "pieces of 4 values; a row has a piece per CTA at least");
    constexpr int PR = D / 4;                         // pieces a row
    const int S = SEVERAL ? p.cluster : gridDim.x;    // the cluster's size
    // Clusters a KV head, whose results meet in the workspace: a separate
    // build (mmat_clusters), as the branch made the one-cluster kernel
    // ~0.2 us slower a launch (steps 4-8 us, H200, 2026-12-02).
    const bool several = SEVERAL && (int)gridDim.x > S;
    const int C = several ? gridDim.x / S : 1;             // clusters a KV head
    const i64 per_cluster = p.batch * p.hkv * p.rows * PR;  // pieces of every KV head's rows
    const unsigned me = cluster_rank();
    float* lse_in = recv;                             // [CLUSTER_MAX][CLUSTER_ROWS]: split s's log2-sum-exp of row r
    float4* part_in = reinterpret_cast<float4*>(recv + CLUSTER_MAX * CLUSTER_ROWS);  // [pieces / S rounded up][S]
    const int pieces = nrows * PR;
    i64 b, hk;
    seq_head(p, b, hk);
    cluster_wait();  // the start's phase: every CTA of the cluster is running
    for (int e = threadIdx.x; e < pieces; e += blockDim.x) {
        const int r = e / PR, q = e - r * PR;
        // Row r's warps (SW: every warp is a slice of the one row tile).
        float m = -INFINITY;
#pragma unroll
        for (int w = 0; w < W; ++w) m = fmaxf(m, s_m[w][r]);
        float wt[W], den = 0.f;
#pragma unroll
        for (int w = 0; w < W; ++w) {
            wt[w] = m == -INFINITY ? 0.f : fast_exp2(s_m[w][r] - m);  // a warp that saw no key: 0
            den += wt[w] * s_l[w][r];
        }
        float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
        for (int w = 0; w < W; ++w) {
            const float4 x = *reinterpret_cast<const float4*>(fo + (w * 16 + r) * D + q * 4);
            acc.x += wt[w] * x.x;
            acc.y += wt[w] * x.y;
            acc.z += wt[w] * x.z;
            acc.w += wt[w] * x.w;
        }
        const float inv = den > 0.f ? __fdividef(1.f, den) : 0.f;  // a row that saw no key is 0, whatever V held
        st_cluster4(part_in + (e / S) * S + me, e % S, make_float4(acc.x * inv, acc.y * inv, acc.z * inv, acc.w * inv));
        // The row's log2-sum-exp to every CTA: piece q's thread tells CTA q.
        if (q < S) st_cluster(lse_in + me * CLUSTER_ROWS + r, q, den > 0.f ? m + __log2f(den) : -INFINITY);
    }
    __syncwarp();      // the loop's trip count differs by thread: the aligned barrier needs whole warps
    cluster_arrive();  // releases the pieces and log-sum-exps just stored
    cluster_wait();    // every CTA's have landed here
    // The pieces this CTA owns (e = me + j S), 16 lanes a piece, a lane a
    // split: the max, the weights' sum and the weighted sum reduced by
    // shuffles in a fixed order. (A thread a piece looping over the splits
    // was a chain of ~400 instructions on one warp while the others had
    // left: Nsight Compute, 2026-11-30.)
    constexpr int GROUPS = 32 * W / CLUSTER_MAX;  // pieces a round
    const int sp = threadIdx.x % CLUSTER_MAX, grp = threadIdx.x / CLUSTER_MAX;
    for (int j0 = 0; (int)me + j0 * S < pieces; j0 += GROUPS) {  // the same rounds for every thread: shuffles stay whole
        const int j = j0 + grp, e = (int)me + j * S;
        const bool live = e < pieces && sp < S;
        const int r = e / PR, d = (e - r * PR) * 4;
        const float l = live ? lse_in[sp * CLUSTER_ROWS + r] : -INFINITY;
        const float4 x = live ? part_in[j * S + sp] : make_float4(0.f, 0.f, 0.f, 0.f);
        const float m = group_max<CLUSTER_MAX>(l);
        const float w = live && m != -INFINITY ? fast_exp2(l - m) : 0.f;
        const float den = group_sum<CLUSTER_MAX>(w);
        float4 acc = make_float4(group_sum<CLUSTER_MAX>(w * x.x), group_sum<CLUSTER_MAX>(w * x.y),
                                 group_sum<CLUSTER_MAX>(w * x.z), group_sum<CLUSTER_MAX>(w * x.w));
        if (sp == 0 && e < pieces) {
            const float inv = den > 0.f ? __fdividef(1.f, den) : 0.f;  // a row no split saw a key of: 0
            const float4 v = make_float4(acc.x * inv, acc.y * inv, acc.z * inv, acc.w * inv);
            if (!several) {
                store4(out, p, b, hk, row0 + r, d, v);
            } else {
                const i64 at = (i64)(blockIdx.x / S) * per_cluster + (i64)blockIdx.y * p.rows * PR + e;
                reinterpret_cast<float4*>(ws)[at] = v;
                ws[4 * C * per_cluster + at] = den > 0.f ? m + __log2f(den) : -INFINITY;
            }
        }
    }
    if (!several) return;
    // The clusters' merge: this rank's pieces, a thread a piece, the C
    // clusters' partials loaded at once and summed in cluster order.
    const float4* part = reinterpret_cast<const float4*>(ws);
    const float* lse = ws + 4 * C * per_cluster;
    splitk_last_reduces(counters, (i64)blockIdx.y * CLUSTER_MAX + me, C, [&] {
        for (int j = threadIdx.x; (int)me + j * S < pieces; j += blockDim.x) {
            const int e = (int)me + j * S, r = e / PR, d = (e - r * PR) * 4;
            const i64 at = (i64)blockIdx.y * p.rows * PR + e;
            float l[CLUSTERS_MAX];
            float4 x[CLUSTERS_MAX];
            float m = -INFINITY;
#pragma unroll
            for (int c = 0; c < CLUSTERS_MAX; ++c) {
                if (c < C) {
                    l[c] = __ldcg(lse + c * per_cluster + at);
                    x[c] = __ldcg(part + c * per_cluster + at);
                    m = fmaxf(m, l[c]);
                }
            }
            float den = 0.f;
            float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
            for (int c = 0; c < CLUSTERS_MAX; ++c) {
                if (c < C) {
                    const float w = m == -INFINITY ? 0.f : fast_exp2(l[c] - m);
                    den += w;
                    acc.x += w * x[c].x;
                    acc.y += w * x[c].y;
                    acc.z += w * x[c].z;
                    acc.w += w * x[c].w;
                }
            }
            const float inv = den > 0.f ? __fdividef(1.f, den) : 0.f;
            store4(out, p, b, hk, row0 + r, d, make_float4(acc.x * inv, acc.y * inv, acc.z * inv, acc.w * inv));
        }
    });
}
#endif

// This CTA's key range [kb, ke): its split of the keys, cut (when causal) after
// the last position among its query rows [row0, row0 + nrows), so a prefill's
// early row groups skip the keys no row of theirs may see.
__device__ __forceinline__ void key_range(const SdpaParams& p, int row0, int nrows, i64& kb, i64& ke) {
    kb = (i64)blockIdx.x * p.keys_per_split;
    ke = min(p.kv_end, kb + p.keys_per_split);
    if (p.causal && nrows > 0) {
        const int lq = (int)p.lq, first = row0 % lq;
        const int last_i = first + nrows - 1 < lq ? first + nrows - 1 : lq - 1;  // the rows may wrap to the next head
        ke = min(ke, p.offset + last_i + 1);
    }
}

// A ragged batch: this CTA's sequence's own key count and query offset.
__device__ __forceinline__ SdpaParams for_sequence(const SdpaParams& p) {
    SdpaParams q = p;
    if (p.kv_lens) {
        const i64 b = (int)blockIdx.y / (int)p.hkv;  // grid.y < 2^16
        const i64 n = max((i64)0, min(p.kv_end, (i64)p.kv_lens[b]));
        q.kv_end = n;
        q.offset = n - p.lq;
    }
    return q;
}

// The online softmax's step for two rows h = 0, 1 of a lane: the rows'
// maxima over this step's scores (mx, this lane's; the lanes holding the
// rows' other keys are lane ^ X0 .. lane ^ X1, doubling), the running max
// m_run moved to them, alpha[h] the factor that rescales the history, l_run
// rescaled. True when no history needs rescaling: every alpha is exactly 1,
// or a row has no history yet (m_run -inf: its accumulators are still 0).
template <int X0, int X1>
__device__ __forceinline__ bool online_max(float (&mx)[2], float (&m_run)[2], float (&l_run)[2], float (&alpha)[2]) {
    bool same = true;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
#pragma unroll
        for (int x = X0; x <= X1; x <<= 1) mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], x));
        const float m_new = fmaxf(m_run[h], mx[h]);
        // exp2(-inf - finite) = 0 drops an empty history; an all-masked row stays at -inf.
        alpha[h] = m_new == -INFINITY ? 1.f : fast_exp2(m_run[h] - m_new);
        same = same && (alpha[h] == 1.f || m_run[h] == -INFINITY);
        m_run[h] = m_new;
        l_run[h] *= alpha[h];
    }
    return same;
}

// ---------------------------------------------------------------- mma
#if DK_DTYPE != 2

// mma16816 (the tensor-core step): common.cuh.


__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

// Transposes an 8x8 matrix of 16-bit values held a row pair a lane (the
// mma fragment layout) across the warp.
__device__ __forceinline__ unsigned movmatrix_trans(unsigned a) {
    unsigned d;
    asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(d) : "r"(a));
    return d;
}
__device__ __forceinline__ void ldmatrix_x2(unsigned (&r)[2], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(smem_addr(p)));
}

__device__ __forceinline__ unsigned pack2(float lo, float hi) {
#if DK_DTYPE == 0
    __half2 h = __floats2half2_rn(lo, hi);
#else
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
#endif
    return *reinterpret_cast<unsigned*>(&h);
}

// Shared memory, in elements of T: K stages, V stages (KT rows each), then
// the CTA's query rows (16 per row tile). Rows are D + 8 long: the extra 16
// bytes put the 8 rows an ldmatrix reads in 8 different bank groups. Host twin:
// FusedKernel::smem_bytes in src/dispatch/sdpa.rs.
template <int D> __device__ constexpr int mma_ld() { return D + 8; }

// One warp's 16-key step of the swapped product (sdpa_mma with SW): S^T =
// K Q^T for keys kr.. of the stage, masked and scaled, the running max and
// sum of query rows 2c and 2c + 1, then O^T += V^T P^T.
template <int D>
__device__ __forceinline__ void sw_step(const T* tK, const T* tV, const T* sQ, unsigned (&qf)[D / 16][2], bool first, int kr,
                                        i64 j0, i64 ke, i64 pos_a, i64 pos_b, float (&o)[D / 16][4], float (&m_run)[2],
                                        float (&l_run)[2], const SdpaParams& p) {
    constexpr int LD = mma_ld<D>();
    const int lane = threadIdx.x & 31, g = lane >> 2;
    if (first) {  // Q^T's fragments (k = D, n = the 8 query rows), kept for every later step
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) ldmatrix_x2(qf[kk], &sQ[(lane & 7) * LD + kk * 16 + ((lane >> 3) & 1) * 8]);
    }
    // Two interleaved chains over D (even and odd 16-column blocks).
    float s[4] = {0.f, 0.f, 0.f, 0.f}, s2[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
        unsigned a[4];
        ldmatrix_x4(a, &tK[(kr + ((lane >> 3) & 1) * 8 + (lane & 7)) * LD + kk * 16 + (lane >> 4) * 8]);
        mma16816(kk % 2 == 0 ? s : s2, a, qf[kk][0], qf[kk][1]);
    }
    // s[e]: key j0 + g + 8 (e >> 1), query row 2c + (e & 1).
    const bool whole = j0 + 16 <= ke && (!p.causal || j0 + 15 <= p.offset);
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        const int h = e & 1;
        float v = (s[e] + s2[e]) * p.scale_log2;
        if (!whole && !visible(p, j0 + g + 8 * (e >> 1), ke, h ? pos_b : pos_a)) v = -INFINITY;
        s[e] = v;
        mx[h] = fmaxf(mx[h], v);
    }
    float alpha[2];
    const bool same = online_max<4, 16>(mx, m_run, l_run, alpha);  // a row's keys: the 8 lanes of its c
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        const int h = e & 1;
        const float pe = m_run[h] == -INFINITY ? 0.f : fast_exp2(s[e] - m_run[h]);
        s[e] = pe;
        l_run[h] += pe;  // this lane's share; the 8 lanes of its c are summed at the end
    }
    if (!__all_sync(0xffffffffu, same)) {
#pragma unroll
        for (int i = 0; i < D / 16; ++i) {
            o[i][0] *= alpha[0];
            o[i][1] *= alpha[1];
            o[i][2] *= alpha[0];
            o[i][3] *= alpha[1];
        }
    }
    // P^T as the B operand (k = key, n = query row): lane (g, c) needs keys
    // 2c, 2c + 1 (and + 8) of row g, it holds rows 2c, 2c + 1 of key g (and
    // g + 8): the transpose of each 8x8 half.
    const unsigned b0 = movmatrix_trans(pack2(s[0], s[1])), b1 = movmatrix_trans(pack2(s[2], s[3]));
#pragma unroll
    for (int i = 0; i < D / 16; ++i) {
        unsigned a[4];  // V^T (m = dimensions 16 i.., k = the 16 keys)
        ldmatrix_x4_trans(a, &tV[(kr + (lane >> 4) * 8 + (lane & 7)) * LD + 16 * i + ((lane >> 3) & 1) * 8]);
        mma16816(o[i], a, b0, b1);
    }
}

// W warps a CTA (4, or 8 for a decode's single row tile: mma8), KT = 16 W
// keys a pipeline stage, so one row tile's warps each take 16 keys of every
// stage.
//
// SW (mmat, a CTA of at most 8 query rows: a decode step's GQA group): the
// product swapped, S^T = K Q^T and O^T += V^T P^T, keys and head dimensions
// as the mma's 16 rows and the query rows as its 8 columns. The 16-row tile
// of the plain layout is at most half used there (a GQA group of 4: a
// quarter); swapped, a 16-key step takes D / 16 tensor-core steps for S and
// D / 16 for P V instead of twice that, softmax works on 4 values a lane
// instead of 8, and the accumulators are half as many. P goes from S^T's
// accumulator layout to the B operand by one register transpose a half
// (movmatrix).
template <int D, int W, bool SW = false, bool SEVERAL = false>
__device__ void sdpa_mma(const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V, T* __restrict__ out,
                         float* ws, unsigned* counters, const SdpaParams& p) {
    static_assert(D % 16 == 0, "D is a multiple of 16");
    constexpr int KT = 16 * W;  // keys per pipeline stage
    constexpr int LD = mma_ld<D>();
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const int stages = p.stages;
    T* sK = reinterpret_cast<T*>(smem_raw);  // [stages][KT][LD]
    T* sV = sK + stages * KT * LD;           // [stages][KT][LD]
    T* sQ = sV + stages * KT * LD;           // [tiles * 16][LD]
    __shared__ float s_m[W][16], s_l[W][16];
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
    // The cluster merge's first phase (cluster_push_merge): arrived at once,
    // waited for before the first store into another CTA.
    if (SW && p.cluster) cluster_arrive_relaxed();
#endif

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    i64 b, hk;
    seq_head(p, b, hk);
    const int row0 = blockIdx.z * ROWS_PER_CTA;
    const int nrows = (int)min((i64)ROWS_PER_CTA, p.rows - row0);
    const int tiles = (nrows + 15) / 16;  // row tiles of this CTA, 1..4
    // Warps per row tile, each on a slice of every key tile: W / tiles (W is
    // 4 or 8, so a power of two); constant divisions, not run-time ones.
    const int slices = tiles == 1 ? W : tiles == 2 ? W / 2 : tiles == 3 ? W / 3 : W / 4;
    const int my_slice = tiles == 1 ? warp : tiles == 2 ? warp / 2 : tiles == 3 ? warp / 3 : warp / 4;
    const int my_tile = warp - my_slice * tiles;
    const bool active = warp < tiles * slices;
    const int keys_per_slice = KT >> (__ffs(slices) - 1);  // KT / slices, a multiple of 16

    i64 kb, ke;
    key_range(p, row0, nrows, kb, ke);
    const int n_tiles = ke > kb ? (int)((ke - kb + KT - 1) / KT) : 0;
    const T* Kh = K + b * p.sk.v[0] + hk * p.sk.v[1];
    const T* Vh = V + b * p.sv.v[0] + hk * p.sv.v[1];
    // Each thread copies one 16-byte chunk column (cq) of rows cr, cr + RP, ...
    // of every tile: its source pointers are set up once and step by a tile,
    // so a chunk costs an add and a compare, not a row's 64-bit address math
    // (Nsight Compute, 2026-11-30: that math was half the kernel's
    // instructions at Lk = 4096, where four warps an SM issue every one).
    constexpr int CH = D / 8;                 // 16-byte chunks per row
    constexpr int RP = 32 * W / CH;           // rows per pass of the CTA's threads
    constexpr int PASSES = (KT + RP - 1) / RP;
    const int cq = threadIdx.x % CH, cr = threadIdx.x / CH;
    const bool copier = cr < RP;
    const i64 k_pass = RP * p.sk.v[2], v_pass = RP * p.sv.v[2];
    const i64 k_tile = KT * p.sk.v[2], v_tile = KT * p.sv.v[2];
    // The first rows of the next tile to load: load_tile is called for tiles
    // 0, 1, 2, ... in order, each once.
    const T* k_next = Kh + (kb + cr) * p.sk.v[2] + cq * 8;
    const T* v_next = Vh + (kb + cr) * p.sv.v[2] + cq * 8;
    // This thread's chunk in stage 0 as shared addresses: a pass and a stage
    // are constant steps from there (Nsight Compute, 2026-11-30: a tile's
    // copies were ~150 instructions a thread, address math and selects
    // around 16 cp.async, a quarter of the kernel's at Lk = 4096).
    constexpr unsigned PASS_BYTES = RP * LD * sizeof(T), STAGE_BYTES = KT * LD * sizeof(T);
    const unsigned sk0 = smem_addr(&sK[cr * LD + cq * 8]), sv0 = smem_addr(&sV[cr * LD + cq * 8]);
    auto load_tile = [&](int t, int stage) {
        const T* ks = k_next;
        const T* vs = v_next;
        k_next += k_tile;
        v_next += v_tile;
        if (!copier) return;
        const unsigned sk = sk0 + stage * STAGE_BYTES, sv = sv0 + stage * STAGE_BYTES;
        const i64 first = kb + (i64)t * KT;  // the tile's first key
        if (first + KT <= ke) {               // every row in range: no test a row
#pragma unroll
            for (int i = 0; i < PASSES; ++i) {
                if (KT % RP == 0 || cr + i * RP < KT) {
                    cp_async16_at(sk + i * PASS_BYTES, ks);
                    cp_async16_at(sv + i * PASS_BYTES, vs);
                }
                ks += k_pass;
                vs += v_pass;
            }
            return;
        }
        // The cache's last tile: rows past the range are zero-filled (P V
        // must not meet NaN garbage), counted from this thread's first.
        const int valid = (int)max((i64)0, min(ke - (first + cr), (i64)KT));
#pragma unroll
        for (int i = 0; i < PASSES; ++i) {
            const int r = cr + i * RP;
            if (KT % RP == 0 || r < KT) {
                const bool ok = i * RP < valid;
                cp_async16(&sK[(stage * KT + r) * LD + cq * 8], ok ? ks : Kh, ok ? 16 : 0);
                cp_async16(&sV[(stage * KT + r) * LD + cq * 8], ok ? vs : Vh, ok ? 16 : 0);
            }
            ks += k_pass;
            vs += v_pass;
        }
    };

    // Lane (g, c) holds rows g and g + 8 of its warp's tile; columns 2c, 2c + 1 of each 8-wide n-tile.
    // SW: rows g, g + 8 are keys (S^T) or head dimensions (O^T), columns 2c, 2c + 1 query rows,
    // whose running statistics m_run / l_run [h] are then those of query row 2c + h.
    const int g = lane >> 2, c = lane & 3;
    const int row_a = SW ? row0 + 2 * c : row0 + my_tile * 16 + g;
    const i64 pos_a = position(p, row_a), pos_b = position(p, row_a + (SW ? 1 : 8));
    constexpr int OT = SW ? D / 16 : D / 8;  // accumulator tiles: O^T's 16-row tiles of D, or O's 8-column ones
    float o[OT][4];
#pragma unroll
    for (int n = 0; n < OT; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    unsigned qf[SW ? D / 16 : 1][2];  // SW: Q^T's B fragments, from shared memory once
    float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};

    // With p.fresh >= 0 the keys the previous launch does not write (all but
    // each sequence's last p.fresh) are loaded before waiting for it: the
    // prologue's first tiles, as far as they stay below those keys, start
    // while that launch (a decode step's RoPE and cache append) finishes.
    // Every prologue step commits one group, empty or not, so "all but the
    // newest stages - 1 groups done" means "tile t landed".
    int early = 0;
    if (p.fresh >= 0) {
        const i64 stable = p.kv_end - p.fresh;  // this sequence's keys below this are not being written
        for (; early < stages - 1 && early < n_tiles && min(kb + (i64)(early + 1) * KT, ke) <= stable; ++early) {
            load_tile(early, early);
            cp_async_commit();
        }
        pdl_begin();
    }
    // The rest of the prologue's tiles, before the query rows' loads (which
    // wait for their data), so every tile is in flight while they do.
    for (int t = early; t < stages - 1; ++t) {
        if (t < n_tiles) load_tile(t, t);
        cp_async_commit();
    }
    // The query rows, by plain loads (the previous launch may have written
    // them; outside the cp.async groups, whose count the pipeline relies on),
    // while the K/V tiles stream; the loop's first barrier publishes them.
    // Rows past nrows are zero-filled; a chunk that is not 16-byte aligned
    // with unit stride along D is loaded element by element.
    for (int e = threadIdx.x; e < tiles * 16 * CH; e += blockDim.x) {
        const int r = e / CH, q = e % CH;
        T* dst = &sQ[r * LD + q * 8];
        if (r >= nrows) {
            *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
            continue;
        }
        const T* src = Q + row_offset(p.sq, p, b, hk, row0 + r) + q * 8 * p.sq.v[3];
        if (p.sq.v[3] == 1 && (reinterpret_cast<unsigned long long>(src) & 15) == 0) {
            *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
        } else {
#pragma unroll
            for (int d = 0; d < 8; ++d) dst[d] = src[d * p.sq.v[3]];
        }
    }
    // Stage of tile t, and the stage tile t + stages - 1 refills (tile t - 1's,
    // released by the barrier ending that step): counters, not t % stages.
    int cur = 0, refill = stages - 1;
    for (int t = 0; t < n_tiles; ++t) {
        if (t + stages - 1 < n_tiles) load_tile(t + stages - 1, refill);
        cp_async_commit();
        cp_async_wait_stages(stages);
        __syncthreads();
        const T* tK = sK + cur * KT * LD;
        const T* tV = sV + cur * KT * LD;
        cur = cur + 1 == stages ? 0 : cur + 1;
        refill = refill + 1 == stages ? 0 : refill + 1;
        for (int sub = 0; active && sub < keys_per_slice / 16; ++sub) {
            const int kr = my_slice * keys_per_slice + sub * 16;  // first key row of this 16-key step
            const i64 j0 = kb + (i64)t * KT + kr;
            if (j0 >= ke) break;
            if constexpr (SW) {
                sw_step<D>(tK, tV, sQ, qf, t == 0 && sub == 0, kr, j0, ke, pos_a, pos_b, o, m_run, l_run, p);
            } else {
                // S over D in two interleaved chains of tensor-core steps (even and
                // odd 16-column blocks), summed at the end: with one warp a
                // scheduler nothing else hides an mma's latency, and one chain
                // of D / 16 dependent steps is most of a 16-key step's time.
                float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
                float s2[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
                for (int kk = 0; kk < D / 16; ++kk) {
                    unsigned a[4], bk[4];
                    ldmatrix_x4(a, &sQ[(my_tile * 16 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8]);
                    ldmatrix_x4(bk, &tK[(kr + (lane >> 4) * 8 + (lane & 7)) * LD + kk * 16 + ((lane >> 3) & 1) * 8]);
                    float(&acc)[2][4] = kk % 2 == 0 ? s : s2;
                    mma16816(acc[0], a, bk[0], bk[1]);
                    mma16816(acc[1], a, bk[2], bk[3]);
                }
#pragma unroll
                for (int n = 0; n < 2; ++n)
#pragma unroll
                    for (int e = 0; e < 4; ++e) s[n][e] += s2[n][e];
                // Scale, mask, and the running max of rows g (h = 0) and g + 8 (h = 1).
                // A chunk every row sees whole (all but a split's last and, when
                // causal, the diagonal's) skips the per-key test.
                const bool whole = j0 + 16 <= ke && (!p.causal || j0 + 15 <= p.offset);
                float mx[2] = {-INFINITY, -INFINITY};
                if (whole) {
#pragma unroll
                    for (int n = 0; n < 2; ++n)
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            s[n][e] *= p.scale_log2;
                            mx[e >> 1] = fmaxf(mx[e >> 1], s[n][e]);
                        }
                } else {
#pragma unroll
                    for (int n = 0; n < 2; ++n)
#pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            const int h = e >> 1;
                            const i64 key = j0 + n * 8 + 2 * c + (e & 1);
                            const float v = visible(p, key, ke, h ? pos_b : pos_a) ? s[n][e] * p.scale_log2 : -INFINITY;
                            s[n][e] = v;
                            mx[h] = fmaxf(mx[h], v);
                        }
                }
                float alpha[2];
                const bool same = online_max<1, 2>(mx, m_run, l_run, alpha);  // a row's keys: its quad
#pragma unroll
                for (int n = 0; n < 2; ++n)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int h = e >> 1;
                        const float pe = m_run[h] == -INFINITY ? 0.f : fast_exp2(s[n][e] - m_run[h]);
                        s[n][e] = pe;
                        l_run[h] += pe;  // this lane's share; the quad is summed at the end
                    }
                // The running max rarely moves after the first keys: skip the
                // rescale of the accumulators (D / 2 multiplies a lane) when no
                // row of the warp's moved (alpha is exactly 1 then), and on a
                // warp's first keys, where every accumulator is still 0.
                if (!__all_sync(0xffffffffu, same)) {
#pragma unroll
                    for (int n = 0; n < D / 8; ++n) {
                        o[n][0] *= alpha[0];
                        o[n][1] *= alpha[0];
                        o[n][2] *= alpha[1];
                        o[n][3] *= alpha[1];
                    }
                }
                // The S accumulators are P's A fragment: keys 0-7 then 8-15 of rows g and g + 8.
                const unsigned pa[4] = {pack2(s[0][0], s[0][1]), pack2(s[0][2], s[0][3]), pack2(s[1][0], s[1][1]),
                                        pack2(s[1][2], s[1][3])};
#pragma unroll
                for (int n = 0; n < D / 8; n += 2) {
                    unsigned bv[4];
                    ldmatrix_x4_trans(bv, &tV[(kr + ((lane >> 3) & 1) * 8 + (lane & 7)) * LD + (n + (lane >> 4)) * 8]);
                    mma16816(o[n], pa, bv[0], bv[1]);
                    mma16816(o[n + 1], pa, bv[2], bv[3]);
                }
            }
        }
        __syncthreads();  // this stage is refilled next iteration
    }
    cp_async_wait<0>();  // only empty groups can be pending; drain them before the stages are reused
    __syncthreads();

    // Combine the warps that shared a row tile: the K/V stages are free now.
    float* fo = reinterpret_cast<float*>(smem_raw);  // [W][16][D] each warp's unnormalised rows
    float* res = fo + W * 16 * D;                    // [ROWS_PER_CTA][D] the CTA's result
    __shared__ float s_lse[ROWS_PER_CTA];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        // The lanes holding a row's keys: a quad (plain), or the 8 lanes of a c (SW).
        for (int x = SW ? 4 : 1; x < (SW ? 32 : 4); x <<= 1) l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], x);
    }
    // Only rows below nrows are combined: a decode CTA (a GQA group of 4)
    // stores a quarter of each warp's tile.
    const int lr = my_tile * 16 + g;  // this lane's first row in the CTA; the second is lr + 8
    if constexpr (SW) {
        // O^T: lane (g, c) holds dimensions 16 i + g and + 8 of query rows 2c and 2c + 1.
#pragma unroll
        for (int i = 0; i < OT; ++i)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                float* r = fo + (warp * 16 + 2 * c + h) * D + 16 * i + g;
                if (2 * c + h < nrows) {
                    r[0] = o[i][h];
                    r[8] = o[i][2 + h];
                }
            }
        if (g == 0) {
            s_m[warp][2 * c] = m_run[0];
            s_m[warp][2 * c + 1] = m_run[1];
            s_l[warp][2 * c] = l_run[0];
            s_l[warp][2 * c + 1] = l_run[1];
        }
    } else if (active) {
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
            float* r0 = fo + (warp * 16 + g) * D + n * 8 + 2 * c;
            if (lr < nrows) {
                r0[0] = o[n][0];
                r0[1] = o[n][1];
            }
            if (lr + 8 < nrows) {
                r0[8 * D] = o[n][2];
                r0[8 * D + 1] = o[n][3];
            }
        }
        if (c == 0) {
            s_m[warp][g] = m_run[0];
            s_m[warp][g + 8] = m_run[1];
            s_l[warp][g] = l_run[0];
            s_l[warp][g + 8] = l_run[1];
        }
    }
    __syncthreads();
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
    if (SW && p.cluster) {
        cluster_push_merge<D, W, SEVERAL>(fo, s_m, s_l, nrows, row0, reinterpret_cast<float*>(sQ + 16 * LD), out, ws,
                                          counters, p);
        return;
    }
#endif
    // Each row's weights per slice, once: 2^(m_s - m) / den (0 for a row that
    // saw no key), replacing s_m; the row's log2-sum-exp.
    // A thread a (row, slice), the row's slices on adjacent lanes (slices is
    // a power of two up to 8), reduced by shuffles: not a thread a row
    // looping over the slices three times on every CTA's way out.
    {
        const int lg = __ffs(slices) - 1, r = threadIdx.x >> lg, sl = threadIdx.x & (slices - 1);
        const bool live = r < nrows;  // every thread takes part in the shuffles
        const int tile = r / 16, rr = r % 16, w = tile + sl * tiles;
        const float ms = live ? s_m[w][rr] : -INFINITY;
        float m = ms;
        for (int x = 1; x < slices; x <<= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, x));
        float den = live && m != -INFINITY ? exp2f(ms - m) * s_l[w][rr] : 0.f;
        for (int x = 1; x < slices; x <<= 1) den += __shfl_xor_sync(0xffffffffu, den, x);
        if (live) {
            s_m[w][rr] = den > 0.f ? exp2f(ms - m) / den : 0.f;  // only this thread reads or writes s_m[w][rr]
            if (sl == 0) s_lse[r] = den > 0.f ? m + __log2f(den) : -INFINITY;
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < nrows * D; e += blockDim.x) {
        const int r = e / D, d = e % D, tile = r / 16, rr = r % 16;
        float acc = 0.f;
        for (int s = 0; s < slices; ++s) {
            const int w = tile + s * tiles;
            acc += s_m[w][rr] * fo[(w * 16 + rr) * D + d];
        }
        res[e] = s_lse[r] == -INFINITY ? 0.f : acc;  // a row that saw no key is 0, whatever V held
    }
    __syncthreads();
    finish<D>(res, s_lse, nrows, row0, out, ws, counters, fo, p);  // fo is free again: merge scratch
}
#endif

// ---------------------------------------------------------------- simt
constexpr int SKT = 32;          // keys per tile: one per lane
constexpr int SIMT_ROWS = 16;    // query rows per CTA
constexpr int ROWS_PER_WARP = SIMT_ROWS / WARPS;

// Shared memory in floats: Q rows, K (rows padded to D + 1 so a lane per key
// hits distinct banks), V. Host twin: simt_smem_bytes().
template <int D> __device__ constexpr int simt_smem_bytes() { return (SIMT_ROWS * D + SKT * (D + 1) + SKT * D) * 4; }

template <int D, int W>
__device__ void sdpa_simt(const T* Q, const T* K, const T* V, T* out, float* ws, unsigned* counters, const SdpaParams& p) {
    if (p.fresh >= 0) pdl_begin();  // nothing is read early here
    static_assert(W == WARPS, "the SIMT kernel runs four warps");
    constexpr int DL = (D + 31) / 32;  // output columns per lane
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float* sQ = reinterpret_cast<float*>(smem_raw);  // [SIMT_ROWS][D]
    float* sK = sQ + SIMT_ROWS * D;                  // [SKT][D + 1]
    float* sV = sK + SKT * (D + 1);                  // [SKT][D]
    __shared__ float s_lse[SIMT_ROWS];

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    i64 b, hk;
    seq_head(p, b, hk);
    const int row0 = blockIdx.z * SIMT_ROWS;
    const int nrows = (int)min((i64)SIMT_ROWS, p.rows - row0);
    for (int e = threadIdx.x; e < SIMT_ROWS * D; e += blockDim.x) {
        const int r = e / D, d = e % D;
        sQ[e] = r < nrows ? to_f32(Q[row_offset(p.sq, p, b, hk, row0 + r) + d * p.sq.v[3]]) : 0.f;
    }
    i64 kb, ke;
    key_range(p, row0, nrows, kb, ke);
    const T* Kh = K + b * p.sk.v[0] + hk * p.sk.v[1];
    const T* Vh = V + b * p.sv.v[0] + hk * p.sv.v[1];

    float o[ROWS_PER_WARP][DL], m_run[ROWS_PER_WARP], l_run[ROWS_PER_WARP];
    i64 pos[ROWS_PER_WARP];
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; ++r) {
        pos[r] = position(p, row0 + warp * ROWS_PER_WARP + r);
        m_run[r] = -INFINITY;
        l_run[r] = 0.f;
#pragma unroll
        for (int q = 0; q < DL; ++q) o[r][q] = 0.f;
    }
    for (i64 j0 = kb; j0 < ke; j0 += SKT) {
        __syncthreads();  // the previous tile is consumed
        for (int e = threadIdx.x; e < SKT * D; e += blockDim.x) {
            const int r = e / D, d = e % D;
            const i64 j = j0 + r;
            const bool ok = j < ke;
            sK[r * (D + 1) + d] = ok ? to_f32(Kh[j * p.sk.v[2] + d * p.sk.v[3]]) : 0.f;
            sV[r * D + d] = ok ? to_f32(Vh[j * p.sv.v[2] + d * p.sv.v[3]]) : 0.f;
        }
        __syncthreads();
        const i64 key = j0 + lane;
#pragma unroll
        for (int rr = 0; rr < ROWS_PER_WARP; ++rr) {
            const int r = warp * ROWS_PER_WARP + rr;
            if (r >= nrows) break;
            float s = 0.f;
#pragma unroll 16
            for (int d = 0; d < D; ++d) s = fmaf(sQ[r * D + d], sK[lane * (D + 1) + d], s);
            s = visible(p, key, ke, pos[rr]) ? s * p.scale_log2 : -INFINITY;
            const float m_new = fmaxf(m_run[rr], warp_max(s));
            const float alpha = m_new == -INFINITY ? 1.f : exp2f(m_run[rr] - m_new);
            const float pe = m_new == -INFINITY ? 0.f : exp2f(s - m_new);
            m_run[rr] = m_new;
            l_run[rr] = l_run[rr] * alpha + warp_sum(pe);
#pragma unroll
            for (int q = 0; q < DL; ++q) o[rr][q] *= alpha;
            for (int jj = 0; jj < SKT; ++jj) {
                const float pj = __shfl_sync(0xffffffffu, pe, jj);
#pragma unroll
                for (int q = 0; q < DL; ++q) {
                    const int d = lane + 32 * q;
                    if (d < D) o[rr][q] = fmaf(pj, sV[jj * D + d], o[rr][q]);
                }
            }
        }
    }
    __syncthreads();  // sQ becomes the result
#pragma unroll
    for (int rr = 0; rr < ROWS_PER_WARP; ++rr) {
        const int r = warp * ROWS_PER_WARP + rr;
        if (r >= nrows) break;
        const float inv = l_run[rr] > 0.f ? 1.f / l_run[rr] : 0.f;
#pragma unroll
        for (int q = 0; q < DL; ++q) {
            const int d = lane + 32 * q;
            if (d < D) sQ[r * D + d] = o[rr][q] * inv;
        }
        if (lane == 0) s_lse[r] = l_run[rr] > 0.f ? m_run[rr] + __log2f(l_run[rr]) : -INFINITY;
    }
    __syncthreads();
    finish<D>(sQ, s_lse, nrows, row0, out, ws, counters, sK, p);  // K and V tiles are free: merge scratch
}

// ---------------------------------------------------------------- entry points
#define DK_CAT3(a, b, c) a##b##c
#define DK_NAME(variant, d, dt) DK_CAT3(variant, d, _##dt)
// sdpa_<tag>_d<D>_<dtype>: the variant's function (the arguments after dt,
// a template with its arguments) on W warps.
#define DK_ENTRY(tag, D, W, dt, ...)                                                                          \
    extern "C" __global__ void __launch_bounds__(32 * W, 1) DK_NAME(sdpa_##tag##_d, D, dt)(                   \
        const T* Q, const T* K, const T* V, T* out, float* ws, unsigned* counters, const SdpaParams p) {      \
        /* a programmatic dependent (common.cuh): with p.fresh >= 0 the variant waits itself */               \
        if (p.fresh < 0) pdl_begin();                                                                         \
        __VA_ARGS__(Q, K, V, out, ws, counters, for_sequence(p));                                             \
    }
#define DK_ALL_D(M, dt) M(64, dt) M(80, dt) M(96, dt) M(128, dt) M(256, dt)
#define DK_SIMT(D, dt) DK_ENTRY(simt, D, WARPS, dt, sdpa_simt<D, WARPS>)
#define DK_MMA(D, dt) DK_ENTRY(mma, D, WARPS, dt, sdpa_mma<D, WARPS>)
// mmat: the swapped product (sdpa_mma's SW) for a CTA of at most 8 query rows.
#define DK_MMAT(D, dt) DK_ENTRY(mmat, D, WARPS, dt, sdpa_mma<D, WARPS, true>)
// mmat_clusters: mmat whose splits form several clusters a KV head (cluster_push_merge's SEVERAL).
#define DK_MMAT_CLUSTERS(D, dt) DK_ENTRY(mmat_clusters, D, WARPS, dt, sdpa_mma<D, WARPS, true, true>)
// mma8: eight warps on 128-key stages, for a CTA of at most 16 query rows
// (a decode step's GQA group): twice the warps per SM of mma's one CTA, each
// warp taking 16 keys of every stage (D <= 128: the combine's partials of 8
// warps must fit in two stages).
#define DK_MMA8(D, dt) DK_ENTRY(mma8, D, 8, dt, sdpa_mma<D, 8>)

DK_ALL_D(DK_SIMT, DT_NAME)
#if DK_DTYPE != 2
DK_ALL_D(DK_MMA, DT_NAME)
DK_ALL_D(DK_MMAT, DT_NAME)
DK_ALL_D(DK_MMAT_CLUSTERS, DT_NAME)
DK_MMA8(64, DT_NAME) DK_MMA8(80, DT_NAME) DK_MMA8(96, DT_NAME) DK_MMA8(128, DT_NAME)
// mmat8: the swapped product on eight warps and 128-key stages, for a GQA
// group of 5 to 8 rows at D = 128 whose splits merge in one cluster (the
// qwen2.5-7b step), where it measured faster than mmat's four warps.
#define DK_MMAT8(D, dt) DK_ENTRY(mmat8, D, 8, dt, sdpa_mma<D, 8, true>)
DK_MMAT8(64, DT_NAME) DK_MMAT8(80, DT_NAME) DK_MMAT8(96, DT_NAME) DK_MMAT8(128, DT_NAME)
#endif

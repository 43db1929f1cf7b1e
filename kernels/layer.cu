// The small kernels of a Llama-style decoder layer, between the GEMVs and the
// attention: RMSNorm, RoPE fused with the append of K and V to the cache,
// SiLU(gate) * up, and a counter-based uniform fill for random weights.
// The residual adds need no kernel: the output and down projections
// accumulate into the residual stream (GEMV with beta = 1).
//
// Compiled once per element type (DK_DTYPE). Host side: src/ops/layer.rs and
// src/ops/random.rs; CPU twins in src/cpu/layer.rs (the fill's per-element
// value: src/ops/random.rs, uniform_at).
#include "common.cuh"  // T and DT_NAME: the element type of this build (DK_DTYPE)
#include "rope.cuh"    // RopeParams, rope_store

// Kernel names end in the element type: rmsnorm_f16, rope_append_bf16, ...
#define DK_CAT_(a, b) a##_##b
#define DK_CAT(a, b) DK_CAT_(a, b)
#define DK_RMSNORM DK_CAT(rmsnorm, DT_NAME)
#define DK_RMSNORM_VEC(v) DK_CAT(rmsnorm_vec##v, DT_NAME)
#define DK_ROPE DK_CAT(rope_append, DT_NAME)
#define DK_SILU_MUL DK_CAT(silu_mul, DT_NAME)
#define DK_FILL DK_CAT(fill_uniform, DT_NAME)

// Rust twin: RmsNormParams in src/ops/layer.rs. Strides in elements; columns are contiguous.
struct RmsNormParams {
    i64 rows, cols, sxr, syr;
    i64 sxo, syo;  // strides of the outer axis of 3-D views [outer, rows, cols] (grid.y)
    float eps;
};

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, f32 math, one CTA per row. The
// row is read twice; the second read hits L1/L2 (rows are a few KiB).
extern "C" __global__ void DK_RMSNORM(const T* x, const T* __restrict__ w, T* y, RmsNormParams p) {
    pdl_begin();  // every kernel here is launched as a programmatic dependent (common.cuh)
    const T* xr = x + (i64)blockIdx.x * p.sxr + (i64)blockIdx.y * p.sxo;
    T* yr = y + (i64)blockIdx.x * p.syr + (i64)blockIdx.y * p.syo;
    float ss = 0.f;
    for (i64 c = threadIdx.x; c < p.cols; c += blockDim.x) {
        const float v = to_f32(xr[c]);
        ss += v * v;
    }
    __shared__ float red[32];  // block_sum's scratch (common.cuh)
    const float r = rsqrtf(block_sum(ss, red) / (float)p.cols + p.eps);
    // y may be x (in place): each element is read before it is written, by the same thread.
    for (i64 c = threadIdx.x; c < p.cols; c += blockDim.x) yr[c] = from_f32<T>(to_f32(xr[c]) * r * to_f32(w[c]));
}

// The same with 16-byte loads, the row and the weights held in registers (x
// is read once): V chunks of 16 bytes per thread, blockDim.x * V * 16 bytes
// >= the row. For rows and weights that are 16-byte aligned, cols a multiple
// of the chunk. Loads of x and w are all issued before the reduction.
template <int V>
__device__ __forceinline__ void rmsnorm_vec(const T* x, const T* __restrict__ w, T* y, const RmsNormParams& p) {
    constexpr int E = VEC;  // elements per chunk (common.cuh)
    const int chunks = (int)(p.cols / E);
    const uint4* xr = reinterpret_cast<const uint4*>(x + (i64)blockIdx.x * p.sxr + (i64)blockIdx.y * p.sxo);
    const uint4* w4 = reinterpret_cast<const uint4*>(w);
    uint4* yr = reinterpret_cast<uint4*>(y + (i64)blockIdx.x * p.syr + (i64)blockIdx.y * p.syo);
    uint4 xv[V], wv[V];
    // The weights (no launch writes them) before the wait for the previous
    // launch (a programmatic dependent: common.cuh), x after it.
#pragma unroll
    for (int v = 0; v < V; ++v)
        if (threadIdx.x + v * blockDim.x < chunks) wv[v] = w4[threadIdx.x + v * blockDim.x];
    pdl_begin();
#pragma unroll
    for (int v = 0; v < V; ++v) {
        const int c = threadIdx.x + v * blockDim.x;
        if (c < chunks) xv[v] = xr[c];
    }
    float ss = 0.f;
#pragma unroll
    for (int v = 0; v < V; ++v) {
        if (threadIdx.x + v * blockDim.x < chunks) {
            const T* xe = reinterpret_cast<const T*>(&xv[v]);
#pragma unroll
            for (int e = 0; e < E; ++e) ss += to_f32(xe[e]) * to_f32(xe[e]);
        }
    }
    __shared__ float red[32];  // block_sum's scratch (common.cuh)
    const float r = rsqrtf(block_sum(ss, red) / (float)p.cols + p.eps);
#pragma unroll
    for (int v = 0; v < V; ++v) {
        const int c = threadIdx.x + v * blockDim.x;
        if (c < chunks) {
            const T* xe = reinterpret_cast<const T*>(&xv[v]);
            const T* we = reinterpret_cast<const T*>(&wv[v]);
            uint4 out;
            T* oe = reinterpret_cast<T*>(&out);
#pragma unroll
            for (int e = 0; e < E; ++e) oe[e] = from_f32<T>(to_f32(xe[e]) * r * to_f32(we[e]));
            yr[c] = out;  // y may be x: this thread read its chunks above
        }
    }
}

#define DK_RMSNORM_ENTRY(V)                                                                                          \
    extern "C" __global__ void DK_RMSNORM_VEC(V)(const T* x, const T* __restrict__ w, T* y, RmsNormParams p) {             \
        rmsnorm_vec<V>(x, w, y, p);                                                                                  \
    }
DK_RMSNORM_ENTRY(1)
DK_RMSNORM_ENTRY(2)
DK_RMSNORM_ENTRY(4)

// One CTA per (head of Q, K or V; token; sequence), d/2 threads: thread i
// rotates the pair (i, i + d/2) of the fused QKV row (rope.cuh: rope_store).
// Token t of sequence b is at pos = first + t, first = positions[b] (a
// ragged batch, read on the device so a recorded step sees the current
// values) or p.pos. The projection's output is read once and the cache
// written once.
extern "C" __global__ void DK_ROPE(const T* __restrict__ qkv, const T* __restrict__ bias, T* __restrict__ q_out,
                                   T* __restrict__ k_cache, T* __restrict__ v_cache, const int* __restrict__ positions,
                                   RopeParams p) {
    pdl_begin_early();
    const i64 h = blockIdx.x, t = blockIdx.y, b = blockIdx.z, half_d = p.d / 2;
    const i64 i = threadIdx.x;
    if (i >= half_d) return;
    const i64 col = h * p.d + i;
    const T* row = qkv + b * p.s_qkv_b + t * p.s_qkv_t;
    rope_store(p, bias, q_out, k_cache, v_cache, positions, h, t, b, i, to_f32(row[col]), to_f32(row[col + half_d]));
}

// Rust twin: SiluMulParams in src/ops/layer.rs.
struct SiluMulParams {
    i64 rows, inter;
    i64 s_gu, s_h;  // row strides; gate is columns [0, inter) of gu, up [inter, 2 inter)
};

// h = silu(gate) * up, f32 math; a grid-stride loop over rows x inter.
extern "C" __global__ void DK_SILU_MUL(const T* __restrict__ gu, T* __restrict__ h, SiluMulParams p) {
    pdl_begin();
    const i64 n = p.rows * p.inter;
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (i64)gridDim.x * blockDim.x) {
        const i64 r = e / p.inter, c = e % p.inter;
        const float g = to_f32(gu[r * p.s_gu + c]);
        const float u = to_f32(gu[r * p.s_gu + p.inter + c]);
        h[r * p.s_h + c] = from_f32<T>(g / (1.f + expf(-g)) * u);
    }
}

// Counter-based uniform values: element e of a fill with `seed` is
// lo + (hi - lo) * u, u = the top 24 bits of splitmix64(seed, e) / 2^24.
// Every operation is exact or explicitly rounded (no contraction), so the CPU
// twin (src/ops/random.rs: uniform_at) produces the same bits.
__device__ __forceinline__ unsigned long long splitmix64(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

extern "C" __global__ void DK_FILL(T* __restrict__ out, i64 n, unsigned long long seed, float lo, float hi) {
    pdl_begin();
    for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (i64)gridDim.x * blockDim.x) {
        const unsigned long long z = splitmix64(seed ^ splitmix64((unsigned long long)e));
        const float u = __fmul_rn((float)(z >> 40), 5.9604644775390625e-8f);  // 2^-24
        out[e] = from_f32<T>(__fadd_rn(lo, __fmul_rn(hi - lo, u)));
    }
}

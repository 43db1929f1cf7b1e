// Sampling on the device: one token per row of a logits matrix. The semantics
// are src/spec/sample.rs's, and src/cpu/sample.rs is the CPU twin that takes
// the same f32 steps. One CTA per row; the row is re-read (from L2) once per pass:
//   1. max and argmax of z = penalised x / T, NaN, and top-k's first digit histogram;
//   2. top-k: radix select of the k-th largest z, over the order-preserving u32
//      keys of its bits, 8 bits a pass from the top (256-bin histograms);
//   3. top-p: the same radix walk on histograms of integer masses;
//   4. the draw: argmax over the kept set of z + a Gumbel value (Gumbel-max),
//      the lowest id on ties, so there is no prefix sum and no sort.
// Greedy decoding is pass 1 alone.
//
// Compiled once per element type (DK_DTYPE). Host side: src/ops/sample.rs.
#include "common.cuh"  // T and DT_NAME: the element type of this build (DK_DTYPE)

#define DK_CAT_(a, b) a##_##b
#define DK_CAT(a, b) DK_CAT_(a, b)
#define DK_SAMPLE DK_CAT(sample, DT_NAME)

typedef unsigned long long u64;

// Threads of a CTA (the host launches exactly this many).
#define SAMPLE_THREADS 1024
#define NO_INDEX 0x7fffffff

// Rust twin: SampleParams in src/ops/params.rs.
struct SampleParams {
    i64 vocab;             // V, 1..=2^18
    i64 sxr;               // row stride of logits in elements (columns are contiguous)
    i64 hist;              // H: history slots per row
    i64 top_k;             // 0: no top-k; else 1..V-1
    u64 seed;
    float temperature;     // 0: greedy
    float top_p;           // 1: no top-p
    float ln_min_p;        // ln(min_p) as the host computed it; -inf: no min-p
    float repeat_penalty;  // 1: off
    int append;            // 1: append the chosen token to the history
};

// Order-preserving u32 of a float's bits (src/spec/sample.rs: key_of).
__device__ __forceinline__ unsigned key_of(float z) {
    const unsigned b = __float_as_uint(z);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

__device__ __forceinline__ u64 splitmix64(u64 z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// (v, i) beats (bv, bi): a larger value, or the same value at a lower id.
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

// x_i after the repetition penalty (the row's bit in `present` says whether
// token i is in the history).
__device__ __forceinline__ float penalised(const T* row, int i, const unsigned* present, bool penalize, float r) {
    float x = to_f32(row[i]);
    if (penalize && ((present[i >> 5] >> (i & 31)) & 1u)) x = x > 0.f ? __fdiv_rn(x, r) : __fmul_rn(x, r);
    return x;
}

// z = x / T with -0 made +0 (greedy: x itself).
__device__ __forceinline__ float scaled(float x, float t) {
    if (t == 0.f) return x;
    const float z = __fdiv_rn(x, t);
    return z == 0.f ? 0.f : z;
}

// Over the CTA: the best (v, i) by `better`; every thread gets it. sv and si
// are 32 entries of shared memory each.
__device__ __forceinline__ void block_argmax(float& v, int& i, float* sv, int* si) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (better(ov, oi, v, i)) v = ov, i = oi;
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();  // earlier readers of sv and si are done
    if (lane == 0) sv[warp] = v, si[warp] = i;
    __syncthreads();
    v = lane < warps ? sv[lane] : -INFINITY;
    i = lane < warps ? si[lane] : NO_INDEX;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (better(ov, oi, v, i)) v = ov, i = oi;
    }
}

// Adds each hitting lane to bin d (count, and mass q when MASS): lanes of a
// warp with the same digit are combined first, so one atomic per distinct
// digit per warp reaches shared memory (the top digit of logits falls in a
// handful of bins). Every lane of the warp must call.
template <bool MASS>
__device__ __forceinline__ void hist_add(bool hit, unsigned d, u64 q, unsigned* count, u64* mass) {
    const unsigned active = __ballot_sync(0xffffffffu, hit);
    if (!hit) return;
    const unsigned peers = __match_any_sync(active, d);
    const bool leader = (int)(threadIdx.x & 31) == __ffs(peers) - 1;
    if (MASS) {
        // q < 2^35: 16 low bits and 19 high bits, each summed over at most 32 lanes in a u32.
        const unsigned lo = __reduce_add_sync(peers, (unsigned)(q & 0xffffu));
        const unsigned hi = __reduce_add_sync(peers, (unsigned)(q >> 16));
        if (leader) atomicAdd(&mass[d], ((u64)hi << 16) + lo);
    }
    if (leader) atomicAdd(&count[d], (unsigned)__popc(peers));
}

// Warp 0 of the CTA: the highest digit d whose bin is not empty and for which
// base plus the bins d..255 (masses when MASS, else counts) reaches target.
// Writes d and base plus the bins above d. Lane l holds bins 255 - 8l - j.
template <bool MASS>
__device__ __forceinline__ void find_digit(const unsigned* count, const u64* mass, u64 base, u64 target,
                                           unsigned* digit, u64* above) {
    const int lane = threadIdx.x & 31;
    u64 v[8], local = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int d = 255 - 8 * lane - j;
        v[j] = MASS ? mass[d] : (u64)count[d];
        local += v[j];
    }
    u64 incl = local;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const u64 t = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += t;
    }
    u64 run = base + incl - local;
    int found = -1;
    u64 before = base;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int d = 255 - 8 * lane - j;
        const u64 prev = run;
        run += v[j];
        if (found < 0 && count[d] > 0 && run >= target) found = d, before = prev;
    }
    const unsigned any = __ballot_sync(0xffffffffu, found >= 0);
    // The first lane that found one holds the highest digit; none cannot
    // happen (the chosen range always holds the target), digit 0 then.
    const int src = any ? __ffs(any) - 1 : 0;
    found = __shfl_sync(0xffffffffu, found, src);
    before = __shfl_sync(0xffffffffu, before, src);
    if (lane == 0) *digit = found < 0 ? 0u : (unsigned)found, *above = any ? before : base;
}

// Warp 0: the sum of the 256 mass bins.
__device__ __forceinline__ u64 total_mass(const u64* mass) {
    const int lane = threadIdx.x & 31;
    u64 s = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) s += mass[lane * 8 + j];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
}

// One CTA (SAMPLE_THREADS threads) per row b. Dynamic shared memory: the
// penalised ids' bitmap, ceil(V / 32) words, when repeat_penalty != 1 (else none).
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS)
    DK_SAMPLE(const T* __restrict__ logits, int* history, int* history_len, int* out, SampleParams p) {
    extern __shared__ unsigned present[];
    __shared__ unsigned count[256];
    __shared__ u64 mass[256];
    __shared__ float red_v[32];
    __shared__ int red_i[32];
    __shared__ unsigned s_digit;
    __shared__ u64 s_above, s_target;
    __shared__ int s_len;

    const int b = blockIdx.x, tid = threadIdx.x, V = (int)p.vocab;
    const T* row = logits + (i64)b * p.sxr;
    const float T_ = p.temperature, r = p.repeat_penalty;
    const bool penalize = r != 1.f, greedy = T_ == 0.f;
    const bool top_k = !greedy && p.top_k > 0 && p.top_k < p.vocab;
    const bool top_p = !greedy && p.top_p < 1.f;

    // The row's length, clamped to 0..=H; the bitmap of its history's ids.
    if (tid == 0) {
        const int len = history_len[b];
        s_len = len < 0 ? 0 : (len > p.hist ? (int)p.hist : len);
    }
    for (int w = tid; w < 256; w += blockDim.x) count[w] = 0;
    if (penalize)
        for (int w = tid; w < (V + 31) / 32; w += blockDim.x) present[w] = 0;
    __syncthreads();
    const int len = s_len;
    if (penalize) {
        const int* h = history + (i64)b * p.hist;
        for (int j = tid; j < len; j += blockDim.x) {
            const int t = h[j];
            if (t >= 0 && t < V) atomicOr(&present[t >> 5], 1u << (t & 31));
        }
        __syncthreads();
    }

    // Pass 1: argmax of z (the lowest id of the largest), NaN, top-k's first digits.
    const bool k_select = top_k && p.top_k > 1;
    float bv = -INFINITY;
    int bi = NO_INDEX;
    bool nan = false;
    for (int base = 0; base < V; base += blockDim.x) {
        const int i = base + tid;
        bool hit = false;
        unsigned d = 0;
        if (i < V) {
            const float x = penalised(row, i, present, penalize, r);
            if (x != x) {
                nan = true;
            } else {
                const float z = scaled(x, T_);
                if (better(z, i, bv, bi)) bv = z, bi = i;
                hit = k_select;
                d = key_of(z) >> 24;
            }
        }
        if (k_select) hist_add<false>(hit, d, 0, count, mass);
    }
    if (__syncthreads_or(nan)) {
        if (tid == 0) out[b] = -1;  // NAN_ROW; nothing appended
        return;
    }
    block_argmax(bv, bi, red_v, red_i);  // its barriers also complete the histogram
    const float m = bv;
    // Greedy, or a +inf z: the argmax. Every z -inf: NO_FINITE_LOGIT. Else a draw.
    int token = greedy || m == INFINITY ? bi : -2;
    if (!greedy && m != INFINITY && m != -INFINITY) {
        // top-k: the key of the k-th largest z (ties counted), 8 bits a level.
        unsigned tau_k = 0;
        if (top_k && !k_select) tau_k = key_of(m);
        if (k_select) {
            unsigned prefix = 0;
            u64 remaining = (u64)p.top_k;
            for (int level = 0; level < 4; ++level) {
                const int shift = 24 - 8 * level;
                if (level > 0) {
                    const unsigned hi_mask = 0xffffffffu << (shift + 8);
                    for (int base = 0; base < V; base += blockDim.x) {
                        const int i = base + tid;
                        bool hit = false;
                        unsigned d = 0;
                        if (i < V) {
                            const unsigned k = key_of(scaled(penalised(row, i, present, penalize, r), T_));
                            hit = (k & hi_mask) == prefix;
                            d = (k >> shift) & 255u;
                        }
                        hist_add<false>(hit, d, 0, count, mass);
                    }
                    __syncthreads();
                }
                if (tid < 32) find_digit<false>(count, mass, 0, remaining, &s_digit, &s_above);
                __syncthreads();
                prefix |= s_digit << shift;
                remaining -= s_above;
                for (int w = tid; w < 256; w += blockDim.x) count[w] = 0;
                __syncthreads();
            }
            tau_k = prefix;
        }

        // top-p: the largest kept key whose mass at or above it reaches ceil(top_p * W).
        unsigned tau_p = 0;
        if (top_p) {
            unsigned prefix = 0;
            u64 above = 0, target = 0;
            for (int level = 0; level < 4; ++level) {
                const int shift = 24 - 8 * level;
                const unsigned hi_mask = level == 0 ? 0u : 0xffffffffu << (shift + 8);
                for (int w = tid; w < 256; w += blockDim.x) count[w] = 0, mass[w] = 0;
                __syncthreads();
                for (int base = 0; base < V; base += blockDim.x) {
                    const int i = base + tid;
                    bool hit = false;
                    unsigned d = 0;
                    u64 q = 0;
                    if (i < V) {
                        const float z = scaled(penalised(row, i, present, penalize, r), T_);
                        const unsigned k = key_of(z);
                        hit = k >= tau_k && (k & hi_mask) == prefix;
                        d = (k >> shift) & 255u;
                        // floor(exp(z - m) * 2^34) (the scaling is exact)
                        if (hit) q = (u64)__fmul_rn(expf(__fsub_rn(z, m)), 17179869184.0f);
                    }
                    hist_add<true>(hit, d, q, count, mass);
                }
                __syncthreads();
                if (tid < 32) {
                    if (level == 0) {
                        target = (u64)ceil((double)p.top_p * (double)total_mass(mass));
                        if (tid == 0) s_target = target;
                    }
                    find_digit<true>(count, mass, above, target, &s_digit, &s_above);
                }
                __syncthreads();
                prefix |= s_digit << shift;
                above = s_above;
                target = s_target;
            }
            tau_p = prefix;
        }

        // The draw: argmax over the kept set of z + g, g = -ln(-ln(u)).
        const float floor_z = __fadd_rn(m, p.ln_min_p);
        const u64 key = splitmix64(splitmix64(splitmix64(p.seed) ^ (u64)b) ^ (u64)len);
        float sv = -INFINITY;
        int si = NO_INDEX;
        for (int i = tid; i < V; i += blockDim.x) {
            const float z = scaled(penalised(row, i, present, penalize, r), T_);
            const unsigned k = key_of(z);
            if (k < tau_k || k < tau_p || z < floor_z) continue;
            const unsigned bits = (unsigned)(splitmix64(key ^ (u64)i) >> 41);
            const float u = __fmul_rn(__fadd_rn((float)bits, 0.5f), 1.1920928955078125e-7f);  // 2^-23
            const float s = __fadd_rn(z, -logf(-logf(u)));
            if (better(s, i, sv, si)) sv = s, si = i;
        }
        block_argmax(sv, si, red_v, red_i);
        token = si;
    }

    if (tid == 0) {
        out[b] = token;
        // A full row keeps its history; error codes are never appended.
        if (p.append && token >= 0 && len < p.hist) {
            history[(i64)b * p.hist + len] = token;
            history_len[b] = len + 1;
        }
    }
}

// ---------------------------------------------------------------- split rows
// Greedy decoding, and a draw with no truncation, no min-p and no penalty:
// every element's score (x, or z + g) depends on nothing else in the row, so
// the row is cut into chunks of SPLIT_CHUNK elements, one CTA each (grid.y),
// and a second kernel reduces the chunks' bests per row. The result is the
// single-CTA kernel's: the same scores, and `better` is associative and
// commutative (the lowest id among equal bests wins whatever the order).
#define DK_SAMPLE_PART DK_CAT(sample_part, DT_NAME)
#define DK_SAMPLE_REDUCE DK_CAT(sample_reduce, DT_NAME)
#define SPLIT_THREADS 256
#define SPLIT_CHUNK 4096  // src/ops/sample.rs: SPLIT_CHUNK

// Per (row, chunk): the best draw (dv, di), the max of z (mv, mi), and a NaN
// flag (mi = -1). Partials are [B][S] arrays in `part`: dv, then di, mv, mi.
extern "C" __global__ void __launch_bounds__(SPLIT_THREADS)
    DK_SAMPLE_PART(const T* __restrict__ logits, const int* __restrict__ history_len, float* part, SampleParams p) {
    __shared__ float red_v[32];
    __shared__ int red_i[32];
    const int b = blockIdx.x, c = blockIdx.y, S = gridDim.y, V = (int)p.vocab, tid = threadIdx.x;
    const T* row = logits + (i64)b * p.sxr;
    const bool greedy = p.temperature == 0.f;
    int len = history_len[b];
    len = len < 0 ? 0 : (len > p.hist ? (int)p.hist : len);
    const u64 key = splitmix64(splitmix64(splitmix64(p.seed) ^ (u64)b) ^ (u64)len);
    float dv = -INFINITY, mv = -INFINITY;
    int di = NO_INDEX, mi = NO_INDEX;
    bool nan = false;
    const int end = min(V, (c + 1) * SPLIT_CHUNK);
    for (int i = c * SPLIT_CHUNK + tid; i < end; i += SPLIT_THREADS) {
        const float x = to_f32(row[i]);
        if (x != x) {
            nan = true;
            continue;
        }
        const float z = scaled(x, p.temperature);
        if (better(z, i, mv, mi)) mv = z, mi = i;
        if (!greedy) {
            const unsigned bits = (unsigned)(splitmix64(key ^ (u64)i) >> 41);
            const float u = __fmul_rn(__fadd_rn((float)bits, 0.5f), 1.1920928955078125e-7f);  // 2^-23
            const float s = __fadd_rn(z, -logf(-logf(u)));
            if (better(s, i, dv, di)) dv = s, di = i;
        }
    }
    nan = __syncthreads_or(nan);
    block_argmax(mv, mi, red_v, red_i);
    if (!greedy) block_argmax(dv, di, red_v, red_i);
    if (tid == 0) {
        const i64 at = (i64)b * S + c, n = (i64)gridDim.x * S;
        part[at] = dv;
        reinterpret_cast<int*>(part)[n + at] = di;
        part[2 * n + at] = mv;
        reinterpret_cast<int*>(part)[3 * n + at] = nan ? -1 : mi;
    }
}

// One warp per row: the chunks' bests reduced, the token written (and appended).
extern "C" __global__ void DK_SAMPLE_REDUCE(const float* __restrict__ part, int* history, int* history_len, int* out,
                                            SampleParams p, int S) {
    const int b = blockIdx.x, lane = threadIdx.x;
    const i64 n = (i64)gridDim.x * S;
    const int* ip = reinterpret_cast<const int*>(part);
    float dv = -INFINITY, mv = -INFINITY;
    int di = NO_INDEX, mi = NO_INDEX;
    bool nan = false;
    for (int c = lane; c < S; c += 32) {
        const i64 at = (i64)b * S + c;
        const int cm = ip[3 * n + at];
        if (cm == -1) {
            nan = true;
            continue;
        }
        if (better(part[2 * n + at], cm, mv, mi)) mv = part[2 * n + at], mi = cm;
        if (better(part[at], ip[n + at], dv, di)) dv = part[at], di = ip[n + at];
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float omv = __shfl_xor_sync(0xffffffffu, mv, o), odv = __shfl_xor_sync(0xffffffffu, dv, o);
        const int omi = __shfl_xor_sync(0xffffffffu, mi, o), odi = __shfl_xor_sync(0xffffffffu, di, o);
        if (better(omv, omi, mv, mi)) mv = omv, mi = omi;
        if (better(odv, odi, dv, di)) dv = odv, di = odi;
    }
    nan = __any_sync(0xffffffffu, nan);
    if (lane != 0) return;
    if (nan) {
        out[b] = -1;  // NAN_ROW; nothing appended
        return;
    }
    // As the single-CTA kernel: greedy or a +inf z takes the argmax of z; every z -inf is NO_FINITE_LOGIT.
    const bool greedy = p.temperature == 0.f;
    const int token = greedy || mv == INFINITY ? mi : (mv == -INFINITY ? -2 : di);
    out[b] = token;
    int len = history_len[b];
    len = len < 0 ? 0 : (len > p.hist ? (int)p.hist : len);
    if (p.append && token >= 0 && len < p.hist) {
        history[(i64)b * p.hist + len] = token;
        history_len[b] = len + 1;
    }
}

// Sampling on the device: one token per row of a logits matrix. The semantics
// are src/spec/sample.rs's, and src/cpu/sample.rs is the CPU twin that takes
// the same f32 steps. Every row is cut into chunks of SPLIT_CHUNK columns, one
// CTA of SPLIT_THREADS threads each (grid B x S), so a row is spread over many
// SMs instead of one. Two families of launches (host side: src/ops/sample.rs):
//
// - sample_part + sample_reduce: greedy decoding, and a draw with no
//   truncation, no min-p and no penalty. Every element's score (x, or z + g)
//   depends on nothing else in the row: each chunk's best, then a warp per row
//   reduces them.
// - the walk, for everything else (top-k, top-p, min-p, the penalty): kernels
//   in sequence, each a pass over the row with the row's state (RowState) in
//   scratch between them. In every one the last CTA of a row to finish (the
//   split-K pattern of common.cuh) combines the chunks' partials and advances
//   the state, so no pass needs a second launch to reduce:
//     sample_max    max and argmax of z = penalised x / T, NaN, the chunk's
//                   penalty bitmap (built here once, kept in scratch), top-k's
//                   first digit histogram; the last CTA writes out[b] for a
//                   row that is decided already (NaN, greedy, +inf, all -inf);
//     sample_kwalk  top-k, levels 1..3: the radix select of the k-th largest
//                   z over the order-preserving u32 keys, 8 bits a level from
//                   the top (256-bin count histograms);
//     sample_pwalk  top-p, levels 0..3: the same walk on histograms of
//                   integer masses q = floor(exp(z - m) * 2^34);
//     sample_draw   argmax over the kept set of z + a Gumbel value
//                   (Gumbel-max), the lowest id on ties; the last CTA writes
//                   out[b] and appends to the history.
//   Bit-identical to one CTA walking the whole row: max and `better` are
//   associative and commutative, the histogram bins are integers (counts,
//   masses) summed exactly in any order, and each element's z, key, mass and
//   Gumbel value come from the same f32 operations wherever it is computed.
//
// Compiled once per element type (DK_DTYPE).
#include "common.cuh"  // T and DT_NAME: the element type of this build (DK_DTYPE)

#define DK_CAT_(a, b) a##_##b
#define DK_CAT(a, b) DK_CAT_(a, b)

typedef unsigned long long u64;

#define NO_INDEX 0x7fffffff
#define SPLIT_THREADS 256  // src/ops/sample.rs: SPLIT_THREADS; also the histograms' 256 bins
#define SPLIT_CHUNK 4096   // src/ops/sample.rs: SPLIT_CHUNK
// Elements of a chunk per thread: all are loaded before any is used, so the
// loads of a thread are in flight together.
#define PER_THREAD (SPLIT_CHUNK / SPLIT_THREADS)
// Bitmap words of a chunk (the penalised ids among its columns).
#define CHUNK_WORDS (SPLIT_CHUNK / 32)

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

// x after the repetition penalty when `hit` (the token is in the history).
__device__ __forceinline__ float penalised(float x, bool hit, float r) {
    return hit ? (x > 0.f ? __fdiv_rn(x, r) : __fmul_rn(x, r)) : x;
}

// z = x / T with -0 made +0 (greedy: x itself).
__device__ __forceinline__ float scaled(float x, float t) {
    if (t == 0.f) return x;
    const float z = __fdiv_rn(x, t);
    return z == 0.f ? 0.f : z;
}

// History length of row b as the semantics read it: clamped to 0..=H.
__device__ __forceinline__ int clamped_len(const int* history_len, int b, i64 hist) {
    const int len = history_len[b];
    return len < 0 ? 0 : (len > hist ? (int)hist : len);
}

// The draw's key of a row: seed, row b, history length (src/spec/sample.rs: row_key).
__device__ __forceinline__ u64 row_key(u64 seed, int b, int len) {
    return splitmix64(splitmix64(splitmix64(seed) ^ (u64)b) ^ (u64)len);
}

// z + g for token i, g = -ln(-ln(u)), u = (top 23 bits of the hash + 0.5) / 2^23.
__device__ __forceinline__ float perturbed(float z, u64 key, int i) {
    const unsigned bits = (unsigned)(splitmix64(key ^ (u64)i) >> 41);
    const float u = __fmul_rn(__fadd_rn((float)bits, 0.5f), 1.1920928955078125e-7f);  // 2^-23
    return __fadd_rn(z, -logf(-logf(u)));
}

// Row b's result: out[b], and with `append` a token (never an error code)
// written to the history unless the row is full.
__device__ __forceinline__ void finish_row(int b, int token, int len, int* history, int* history_len, int* out,
                                           const SampleParams& p) {
    out[b] = token;
    if (p.append && token >= 0 && len < p.hist) {
        history[(i64)b * p.hist + len] = token;
        history_len[b] = len + 1;
    }
}

// Warp-wide best (v, i) by `better` over the values lanes hold (every lane gets it).
__device__ __forceinline__ void warp_best(float& v, int& i) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (better(ov, oi, v, i)) v = ov, i = oi;
    }
}

// Over the CTA: the best (v, i) by `better`; every thread gets it. sv and si
// are 32 entries of shared memory each.
__device__ __forceinline__ void block_argmax(float& v, int& i, float* sv, int* si) {
    warp_best(v, i);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();  // earlier readers of sv and si are done
    if (lane == 0) sv[warp] = v, si[warp] = i;
    __syncthreads();
    v = lane < warps ? sv[lane] : -INFINITY;
    i = lane < warps ? si[lane] : NO_INDEX;
    warp_best(v, i);
}

// Adds each hitting lane to bin d (count, and mass q when MASS): lanes of a
// warp with the same digit are combined first, so one atomic per distinct
// digit per warp reaches shared memory (the top digit of logits falls in a
// handful of bins). Every lane of the warp must call. The lanes that miss
// form a group of their own (digit 256) that adds nothing: no lane branches
// around the warp intrinsics, which keeps sm_80 from spilling its convergence
// barriers when a loop of these is unrolled.
template <bool MASS>
__device__ __forceinline__ void hist_add(bool hit, unsigned d, u64 q, unsigned* count, u64* mass) {
    const unsigned peers = __match_any_sync(0xffffffffu, hit ? d : 256u);
    const bool leader = hit && (int)(threadIdx.x & 31) == __ffs(peers) - 1;
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

// ---------------------------------------------------------------- independent scores
// Greedy decoding, and a draw with no truncation, no min-p and no penalty:
// each chunk's best (and its max of z, for the edge cases), then one warp
// per row reduces the chunks.
#define DK_SAMPLE_PART DK_CAT(sample_part, DT_NAME)
#define DK_SAMPLE_REDUCE DK_CAT(sample_reduce, DT_NAME)

// Per (row, chunk): the best draw (dv, di), the max of z (mv, mi), and a NaN
// flag (mi = -1). Partials are [B][S] arrays in `part`: dv, then di, mv, mi.
extern "C" __global__ void __launch_bounds__(SPLIT_THREADS)
    DK_SAMPLE_PART(const T* __restrict__ logits, const int* __restrict__ history_len, float* part, SampleParams p) {
    __shared__ float red_v[32];
    __shared__ int red_i[32];
    const int b = blockIdx.x, c = blockIdx.y, S = gridDim.y, V = (int)p.vocab, tid = threadIdx.x;
    const T* row = logits + (i64)b * p.sxr;
    const bool greedy = p.temperature == 0.f;
    const u64 key = row_key(p.seed, b, clamped_len(history_len, b, p.hist));
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
            const float s = perturbed(z, key, i);
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
    // NaN: NAN_ROW. Greedy or a +inf z: the argmax of z. Every z -inf: NO_FINITE_LOGIT. Else the draw.
    const bool greedy = p.temperature == 0.f;
    const int token = nan ? -1 : greedy || mv == INFINITY ? mi : (mv == -INFINITY ? -2 : di);
    finish_row(b, token, clamped_len(history_len, b, p.hist), history, history_len, out, p);
}

// ---------------------------------------------------------------- the walk
// Every kernel of the walk takes the same arguments, in this order: logits,
// history, history_len, out, the walk's scratch, the split-K arrival counters
// (one per row, zero between launches), the parameters, the walk's level.
#define DK_SAMPLE_MAX DK_CAT(sample_max, DT_NAME)
#define DK_SAMPLE_KWALK DK_CAT(sample_kwalk, DT_NAME)
#define DK_SAMPLE_PWALK DK_CAT(sample_pwalk, DT_NAME)
#define DK_SAMPLE_DRAW DK_CAT(sample_draw, DT_NAME)
#define WALK_ARGS                                                                                                   \
    const T *__restrict__ logits, int *history, int *history_len, int *out, unsigned *scratch, unsigned *counters, \
        SampleParams p, int level

static_assert(SPLIT_THREADS == 256, "one thread per histogram bin");
static_assert(CHUNK_WORDS <= SPLIT_THREADS, "one thread per bitmap word");

// A row's state between the passes; only the last CTA of the row in a pass writes it.
struct RowState {
    u64 above;        // the walk: count (top-k) or mass (top-p) of the kept keys above the prefix's range
    u64 target;       // the walk: k, or ceil(top_p * W)
    float m;          // max z
    unsigned prefix;  // the walk: the digits chosen so far
    unsigned tau_k;   // top-k keeps keys >= tau_k (0: all)
    unsigned tau_p;   // top-p keeps keys >= tau_p (0: all)
    int len;          // the history length, clamped to 0..=H (the draw's key; where to append)
    int done;         // out[b] is written (NaN, greedy, +inf, all -inf): later passes skip the row
};
#define STATE_WORDS 16  // src/ops/sample.rs: STATE_WORDS
static_assert(sizeof(RowState) <= 4 * STATE_WORDS, "RowState outgrew its scratch slot");

// The walk's scratch, u32 words (src/ops/sample.rs: walk_scratch_words), n = B * S:
//   state  [B] RowState, STATE_WORDS each
//   bitmap [n][CHUNK_WORDS] each chunk's penalised ids (sample_max writes them)
//   pv, pi [n] each chunk's best value and id (sample_max: max z; sample_draw: z + g)
//   count  [n][256] each chunk's histogram counts
//   mass   [n][256] each chunk's histogram masses, u64 (every size above is even: 8-byte aligned)
// Nothing in it needs to be zero: each pass writes what the next one reads.
struct Scratch {
    RowState* state;
    unsigned* bitmap;
    float* pv;
    int* pi;
    unsigned* count;
    u64* mass;
};

__device__ __forceinline__ Scratch scratch_of(unsigned* w, int B, int S) {
    const i64 n = (i64)B * S;
    Scratch s;
    s.state = reinterpret_cast<RowState*>(w);
    w += (i64)B * STATE_WORDS;
    s.bitmap = w;
    w += n * CHUNK_WORDS;
    s.pv = reinterpret_cast<float*>(w);
    s.pi = reinterpret_cast<int*>(w + n);
    w += 2 * n;
    s.count = w;
    w += n * 256;
    s.mass = reinterpret_cast<u64*>(w);
    return s;
}

// The columns lo..lo+n of a row that one CTA walks, and the bitmap of their
// penalised ids (null without a penalty; shared or global memory).
struct Chunk {
    const T* row;
    const unsigned* present;
    int lo, n;
};

__device__ __forceinline__ Chunk chunk_of(const T* logits, const SampleParams& p, const unsigned* present) {
    const int lo = blockIdx.y * SPLIT_CHUNK;
    return Chunk{logits + (i64)blockIdx.x * p.sxr, present, lo, min((int)p.vocab - lo, SPLIT_CHUNK)};
}

// z of every element o = j * SPLIT_THREADS + tid (j < PER_THREAD) of this
// thread (0 past the chunk's end), loaded in one go so the loads overlap.
// The f32 steps are the semantics': x, penalised, scaled.
__device__ __forceinline__ void load_z(const Chunk& ch, const SampleParams& p, float (&z)[PER_THREAD]) {
#pragma unroll
    for (int j = 0; j < PER_THREAD; ++j) {
        const int o = j * SPLIT_THREADS + threadIdx.x;
        if (o < ch.n) {
            const bool hit = ch.present && ((ch.present[o >> 5] >> (o & 31)) & 1u);
            z[j] = scaled(penalised(to_f32(ch.row[ch.lo + o]), hit, p.repeat_penalty), p.temperature);
        } else {
            z[j] = 0.f;
        }
    }
}

// Pass 1: per chunk, max and argmax of z, NaN, the penalty's bitmap and
// top-k's first-level histogram; the row's last CTA decides the rows that
// need no draw and starts the row's state.
extern "C" __global__ void __launch_bounds__(SPLIT_THREADS) DK_SAMPLE_MAX(WALK_ARGS) {
    __shared__ unsigned bits[CHUNK_WORDS];
    __shared__ unsigned count[256];
    __shared__ u64 mass[256];  // unused (find_digit's signature)
    __shared__ float red_v[32];
    __shared__ int red_i[32];
    __shared__ float s_m;
    __shared__ int s_mi, s_nan;
    __shared__ unsigned s_digit;
    __shared__ u64 s_above;
    const int b = blockIdx.x, S = gridDim.y, tid = threadIdx.x;
    const Scratch s = scratch_of(scratch, gridDim.x, S);
    const i64 at = (i64)b * S + blockIdx.y;
    const bool greedy = p.temperature == 0.f, k_select = !greedy && p.top_k > 1;
    const int len = clamped_len(history_len, b, p.hist);
    Chunk ch = chunk_of(logits, p, nullptr);

    // The chunk's penalised ids, from the whole history (ids outside 0..V
    // match no column), kept in scratch for the later passes.
    count[tid] = 0;
    if (p.repeat_penalty != 1.f) {
        if (tid < CHUNK_WORDS) bits[tid] = 0;
        __syncthreads();
        const int* h = history + (i64)b * p.hist;
        for (int j = tid; j < len; j += SPLIT_THREADS) {
            const int t = h[j];
            if (t >= ch.lo && t < ch.lo + ch.n) atomicOr(&bits[(t - ch.lo) >> 5], 1u << ((t - ch.lo) & 31));
        }
        __syncthreads();
        if (tid < CHUNK_WORDS) s.bitmap[at * CHUNK_WORDS + tid] = bits[tid];
        ch.present = bits;
    }
    __syncthreads();

    float z[PER_THREAD];
    load_z(ch, p, z);
    float mv = -INFINITY;
    int mi = NO_INDEX;
    bool nan = false;
#pragma unroll
    for (int j = 0; j < PER_THREAD; ++j) {
        const int o = j * SPLIT_THREADS + tid;
        const bool in = o < ch.n, number = in && z[j] == z[j];
        nan |= in && !number;
        if (number && better(z[j], ch.lo + o, mv, mi)) mv = z[j], mi = ch.lo + o;
        if (k_select) hist_add<false>(number, key_of(z[j]) >> 24, 0, count, mass);
    }
    nan = __syncthreads_or(nan);
    block_argmax(mv, mi, red_v, red_i);  // its barriers also complete the histogram
    if (tid == 0) s.pv[at] = mv, s.pi[at] = nan ? -1 : mi;
    if (k_select) s.count[at * 256 + tid] = count[tid];

    splitk_last_reduces(counters, b, S, [&] {
        if (tid < 32) {
            float v = -INFINITY;
            int vi = NO_INDEX;
            bool vn = false;
            for (int k = tid; k < S; k += 32) {
                const int ci = __ldcg(s.pi + (i64)b * S + k);
                const float cv = __ldcg(s.pv + (i64)b * S + k);
                if (ci == -1) vn = true;
                else if (better(cv, ci, v, vi)) v = cv, vi = ci;
            }
            warp_best(v, vi);
            vn = __any_sync(0xffffffffu, vn);
            if (tid == 0) s_m = v, s_mi = vi, s_nan = vn;
        }
        __syncthreads();
        // As the semantics: NaN: NAN_ROW. Greedy or a +inf z: the argmax of
        // z. Every z -inf: NO_FINITE_LOGIT. Else a draw, in later passes.
        const float m = s_m;
        const bool decided = s_nan || greedy || m == INFINITY || m == -INFINITY;
        RowState* st = s.state + b;
        if (tid == 0) {
            if (decided)
                finish_row(b, s_nan ? -1 : (greedy || m == INFINITY ? s_mi : -2), len, history, history_len, out, p);
            st->done = decided;
            st->m = m;
            st->len = len;
            st->tau_k = p.top_k == 1 ? key_of(m) : 0u;  // top-k 1: the max and its ties
            st->tau_p = 0;
            st->prefix = 0;
            st->above = 0;
            st->target = (u64)p.top_k;
        }
        if (decided || !k_select) return;
        // top-k's first digit, from the sum of the chunks' histograms.
        unsigned n = 0;
        for (int k = 0; k < S; ++k) n += __ldcg(s.count + ((i64)b * S + k) * 256 + tid);
        count[tid] = n;
        __syncthreads();
        if (tid < 32) find_digit<false>(count, mass, 0, (u64)p.top_k, &s_digit, &s_above);
        if (tid == 0) st->prefix = s_digit << 24, st->above = s_above;
    });
}

// One level of a radix walk (top-k when !MASS, top-p when MASS): per chunk,
// the 256-bin histogram of the next 8 bits of the keys under the prefix
// chosen so far (top-p: only keys top-k kept, with their masses); the row's
// last CTA sums the chunks' bins and chooses the digit. After level 3 the
// prefix is the threshold (tau_k, tau_p).
template <bool MASS>
__device__ __forceinline__ void walk_level(const T* logits, unsigned* scratch, unsigned* counters,
                                           const SampleParams& p, int level) {
    __shared__ unsigned count[256];
    __shared__ u64 mass[256];
    __shared__ unsigned s_digit;
    __shared__ u64 s_above;
    const int b = blockIdx.x, S = gridDim.y, tid = threadIdx.x;
    const Scratch s = scratch_of(scratch, gridDim.x, S);
    RowState* st = s.state + b;
    if (st->done) return;  // the whole row's CTAs return: its counter is not touched
    const i64 at = (i64)b * S + blockIdx.y;
    const int shift = 24 - 8 * level;
    const unsigned hi_mask = level == 0 ? 0u : 0xffffffffu << (shift + 8);
    const unsigned prefix = level == 0 ? 0u : st->prefix, tau_k = MASS ? st->tau_k : 0u;
    const float m = st->m;
    const Chunk ch = chunk_of(logits, p, p.repeat_penalty != 1.f ? s.bitmap + at * CHUNK_WORDS : nullptr);
    count[tid] = 0;
    if (MASS) mass[tid] = 0;
    __syncthreads();

    float z[PER_THREAD];
    load_z(ch, p, z);
#pragma unroll
    for (int j = 0; j < PER_THREAD; ++j) {
        const unsigned k = key_of(z[j]);
        const bool hit = j * SPLIT_THREADS + tid < ch.n && k >= tau_k && (k & hi_mask) == prefix;
        // floor(exp(z - m) * 2^34) (the scaling is exact)
        const u64 q = MASS && hit ? (u64)__fmul_rn(expf(__fsub_rn(z[j], m)), 17179869184.0f) : 0;
        hist_add<MASS>(hit, (k >> shift) & 255u, q, count, mass);
    }
    __syncthreads();
    s.count[at * 256 + tid] = count[tid];
    if (MASS) s.mass[at * 256 + tid] = mass[tid];

    splitk_last_reduces(counters, b, S, [&] {
        unsigned n = 0;
        u64 q = 0;
        for (int k = 0; k < S; ++k) {
            const i64 bin = ((i64)b * S + k) * 256 + tid;
            n += __ldcg(s.count + bin);
            if (MASS) q += __ldcg(s.mass + bin);
        }
        count[tid] = n;
        if (MASS) mass[tid] = q;
        __syncthreads();
        if (tid < 32) {
            u64 target = st->target;
            // top-p: the target is ceil(top_p * W), W the kept set's total mass.
            if (MASS && level == 0) target = (u64)ceil((double)p.top_p * (double)total_mass(mass));
            find_digit<MASS>(count, mass, level == 0 ? 0 : st->above, target, &s_digit, &s_above);
            if (tid == 0) {
                const unsigned chosen = prefix | s_digit << shift;
                st->prefix = chosen;
                st->above = s_above;
                st->target = target;
                if (level == 3) (MASS ? st->tau_p : st->tau_k) = chosen;
            }
        }
    });
}

extern "C" __global__ void __launch_bounds__(SPLIT_THREADS) DK_SAMPLE_KWALK(WALK_ARGS) {
    walk_level<false>(logits, scratch, counters, p, level);
}

extern "C" __global__ void __launch_bounds__(SPLIT_THREADS) DK_SAMPLE_PWALK(WALK_ARGS) {
    walk_level<true>(logits, scratch, counters, p, level);
}

// The draw: per chunk, the best z + g over the kept set (top-k, top-p,
// min-p); the row's last CTA takes the best of the chunks' and writes the
// token (and appends it).
extern "C" __global__ void __launch_bounds__(SPLIT_THREADS) DK_SAMPLE_DRAW(WALK_ARGS) {
    __shared__ float red_v[32];
    __shared__ int red_i[32];
    const int b = blockIdx.x, S = gridDim.y, tid = threadIdx.x;
    const Scratch s = scratch_of(scratch, gridDim.x, S);
    const RowState* st = s.state + b;
    if (st->done) return;
    const i64 at = (i64)b * S + blockIdx.y;
    const unsigned tau_k = st->tau_k, tau_p = st->tau_p;
    const int len = st->len;
    const float floor_z = __fadd_rn(st->m, p.ln_min_p);
    const u64 key = row_key(p.seed, b, len);
    const Chunk ch = chunk_of(logits, p, p.repeat_penalty != 1.f ? s.bitmap + at * CHUNK_WORDS : nullptr);

    float z[PER_THREAD];
    load_z(ch, p, z);
    float sv = -INFINITY;
    int si = NO_INDEX;
#pragma unroll
    for (int j = 0; j < PER_THREAD; ++j) {
        const int o = j * SPLIT_THREADS + tid;
        const unsigned k = key_of(z[j]);
        if (o >= ch.n || k < tau_k || k < tau_p || z[j] < floor_z) continue;
        const float v = perturbed(z[j], key, ch.lo + o);
        if (better(v, ch.lo + o, sv, si)) sv = v, si = ch.lo + o;
    }
    block_argmax(sv, si, red_v, red_i);
    if (tid == 0) s.pv[at] = sv, s.pi[at] = si;

    splitk_last_reduces(counters, b, S, [&] {
        if (tid >= 32) return;
        float v = -INFINITY;
        int vi = NO_INDEX;
        for (int k = tid; k < S; k += 32) {
            const float cv = __ldcg(s.pv + (i64)b * S + k);
            const int ci = __ldcg(s.pi + (i64)b * S + k);
            if (better(cv, ci, v, vi)) v = cv, vi = ci;
        }
        warp_best(v, vi);
        if (tid == 0) finish_row(b, vi, len, history, history_len, out, p);  // the max is always kept: vi is an id
    });
}

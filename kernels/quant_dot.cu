// Quantized GEMV for few tokens on integer dot products:
// y[N, M] = alpha * x[N, K] . dequant(W)[M, K]^T + beta * y with N <= 8 per
// launch (template on N; the host loops over chunks), W in GGML's block layout
// (Q8_0, Q4_0, Q4_K, Q6_K; src/spec/quant.rs is the byte-exact reference),
// x and y of T (this build's dtype), unit column stride, any row stride.
// Host side: src/ops/quant.rs, parameters: QuantParams (common.cuh, Rust
// twin in src/ops/params.rs).
//
// Why integers: at 4.5 bits a weight, the read roofline leaves about 3.5
// instructions per weight on an H200 (4.6 TB/s against 132 SMs x 128 lanes x
// 1.75 GHz); dequantizing to f32 and an FMA per weight (quant_rows.cu) costs
// about 16 (Nsight Compute, 2026-11-29: 29.7 M warp instructions for a 14336
// x 4096 Q4_K matrix, issue slots 57% busy, DRAM 11% of peak). Here each CTA
// first quantizes x to 8 bits (per 32 elements: f32 scale dx = max|x| / 127
// and q = round(x / dx), with the two 16-element sums of q), and the weights'
// integer quants meet x's in dp4a (4 products and their sum in one
// instruction): about 1.4 instructions per weight in the Q4_K loop (SASS). The price is x's rounding
// to 8 bits (relative error ~0.4% per element, about that on y); the
// weights' own rounding is larger. Accumulation is exact in integers within
// a 32-element unit and f32 across units.
//
// Per 32-element unit of a row (a Q8_0 / Q4_0 block, a sub-block of a Q4_K /
// Q6_K super-block) and token: with lo, hi the integer dots of its two
// 16-element halves with x's quants and slo, shi the sums of x's quants,
//   y += dx * (A lo + B hi + C slo + D shi),
// Q8_0: A = B = d, C = D = 0; Q4_0: A = B = d, C = D = -8d; Q4_K: A = B = d sc,
// C = D = -dmin m; Q6_K: A = d sc0, B = d sc1, C = -32 A, D = -32 B.
//
// Design:
// - x: the CTA quantizes all N x K of it into shared memory once (per token
//   K rounded up to 64 bytes of quants, in x_pair_chunk's bank-spread
//   order, + 8 bytes per unit: dx and the two sums); the host keeps it small
//   enough (src/dispatch/quant.rs: dot_x_token_bytes, DOT_X_BYTES) or does
//   not use this kernel. Each thread loads its first unit of x before the
//   weight copies start (x's loads would otherwise queue behind them, and
//   every warp waits for x: Nsight Compute, 2026-11-29, put 40-80% of the
//   warps' stall samples on that wait); x is read with 16-byte loads. On
//   sm_90 the first copies come first instead, before the wait for the
//   previous launch (programmatic dependent launch, common.cuh). Where the
//   launch is given x already quantized (XQ, XM: the same bytes, made once
//   by the op that produced x), the CTA copies them instead (cp.async).
// - W: a warp owns QD_ROWS = 2 consecutive rows at a time (a tile) and walks
//   them in iterations of 2048 elements (64 units, both rows); warp w of CTA
//   b takes tiles b + G (w + QD_WARPS r), r = 0, 1, ..., G the CTAs on the
//   matrix (dealt CTA by CTA: CTA loads differ by at most a tile; the host
//   launches as many CTAs as the device holds at once, or one a tile where
//   there are fewer; qgemv_dot2 runs two matrices, each on its G). Eight
//   warps a CTA share one copy of x (four measured 10-25% slower: twice the
//   CTAs quantizing x).
// - An iteration's bytes of a row are contiguous (Q8_0 2176, Q4_0 1152, Q4_K
//   1152, Q6_K 1680); the warp copies the 16-byte chunks that cover both rows'
//   into its own shared-memory stage, in a QD_STAGES-deep ring (matrix 1
//   of a qgemv_dot2 launch: QD_PAIR_STAGES) that runs across tile
//   boundaries, so stages - 1 iterations are in flight while one computes. On sm_90 lane 0 starts one bulk copy per row (the TMA unit)
//   and the lanes wait on the stage's mbarrier; before sm_90 every lane
//   copies its 16-byte chunks with cp.async (coalesced).
// - Q4_K: lane 4 s + c takes sub-blocks 2c and 2c + 1 of super-block s, the
//   low and high nibbles of the same 32 bytes (the high ones masked in
//   place, 16 q, against x with an unsigned x signed dp4a: one AND a word),
//   and unpacks the 6-bit scales and mins four to a word.
// - Q6_K: lane 4 s + c takes sub-blocks j and j + 2 of super-block s (j =
//   4 (c / 2) + c % 2), which share their 32 bytes of low nibbles and their
//   32 bytes of high bit pairs (q6k_pair).
// - Q8_0, Q4_0: lane l takes units l and l + 32 (32-bit loads and funnel
//   shifts: their blocks are 2-byte aligned), forms 8 words of 4
//   byte-quants and runs 8 dp4a per token against x's quants (two 16-byte
//   shared loads, shared by both rows).
// - The warp reduces its accumulators with shuffles at the end of a tile;
//   lane r * N + n writes y[n, row r]. Rows past M read row M - 1 and are not
//   stored; units past K in the last iteration are skipped; beta == 0 never
//   reads y.
// - ROPE (qgemv_dot_rope_*): W is a part of a fused QKV projection, whole
//   heads of d rows from head `head0` on, and token n is sequence n's. Tile
//   t = h * d/2 + i is the rotated pair of rows (h d + i, h d + i + d/2); at
//   the tile's end lane n (< N) takes both rows of token n, rounds them to T
//   as the projection's output would be and hands them to rope_finish
//   (rope.cuh): bias, rotation, q_out or the caches' slot. The slot, bias
//   and angle are loaded and worked out when the tile starts (rope_prepare),
//   behind its weights' copies, not after its last iteration: a QKV
//   projection deals a warp about one tile, so that work would be the
//   kernel's tail. Y is not written; the host passes alpha 1 and beta 0.
#include "common.cuh"
#include "rope.cuh"  // RopeParams, RopeOut, rope_prepare, rope_finish (qgemv_dot_rope's epilogue)

typedef unsigned char u8;

// Parameters: QuantParams (common.cuh; x_vec unused: each 32 elements of x are
// tested for 16-byte alignment where the CTA quantizes them), and XQ, XM: x
// already quantized (src/spec/q8.rs's layout: this launch's quants and unit
// constants, exactly what the CTA would build in shared memory), or null:
// the CTA quantizes x itself. The producers of that x (a standalone
// quantize_x, and RMSNorm or silu(gate) * up writing their output both ways)
// are at the end of this file: one launch quantizes x once, where otherwise
// every CTA of every GEMV reading it would (BENCHMARKS.md, 2026-11-30: that
// per-CTA work is much of the kernel's fixed cost a launch).

constexpr int QD_WARPS = 8;
constexpr int QD_THREADS = 32 * QD_WARPS;
constexpr int QD_ROWS = 2;      // rows per warp tile
constexpr int QD_ITER = 2048;   // elements of a row per iteration (64 units of 32, two per lane)
constexpr int QD_STAGES = 3;    // iterations in the copy ring (stages - 1 in flight while one computes)
constexpr int QD_PAIR_STAGES = 2;  // matrix 1's ring in a qgemv_dot2 launch (src/ops/quant.rs: PAIR_STAGES_1)
constexpr int QD_BAR_BYTES = (QD_WARPS * QD_STAGES * 8 + 15) / 16 * 16;  // the stages' barriers (sm_90)

// x's quants in shared memory: common.cuh's x_pair_chunk / x_unit_chunk order.

// Dot product of 4 unsigned bytes (weights) with 4 signed bytes (x's quants), plus c.
__device__ __forceinline__ int dp4a_us(unsigned a, unsigned b, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// ---------------------------------------------------------------- shared-memory words
// (words<NW> and sm_f16: common.cuh)

// ---------------------------------------------------------------- formats
// Fmt<F>: BE elements and BB bytes per block. Q8_0 and Q4_0 (a block is one
// 32-element unit): unit(p, q, A, C) reads the block at p into 8 words of
// byte-quants (q[0..3] elements 0..15, q[4..7] 16..31) and its constants,
// w = A q + C. Q4_K and Q6_K are read two sub-blocks at a time (q4k_pair,
// q6k_pair).
template <int F>
struct Fmt;

// Q8_0: 34 bytes: f16 d, 32 i8 q; w = d q.
template <>
struct Fmt<0> {
    static constexpr int BE = 32, BB = 34;
    __device__ static void unit(const u8* p, unsigned (&q)[8], float& A, float& C) {
        words<8>(p + 2, q);
        A = sm_f16(p);
        C = 0.f;
    }
};

// Q4_0: 18 bytes: f16 d, byte i holds element i (low nibble) and 16 + i
// (high nibble); w = d (q - 8).
template <>
struct Fmt<1> {
    static constexpr int BE = 32, BB = 18;
    __device__ static void unit(const u8* p, unsigned (&q)[8], float& A, float& C) {
        unsigned v[4];
        words<4>(p + 2, v);
#pragma unroll
        for (int i = 0; i < 4; ++i) q[i] = v[i] & 0x0F0F0F0Fu, q[4 + i] = (v[i] >> 4) & 0x0F0F0F0Fu;
        A = sm_f16(p);
        C = -8.f * A;
    }
};

// Q4_K: 144 bytes (16-byte aligned here): f16 d, f16 dmin, 12 bytes of 6-bit
// scales and mins, 128 bytes of nibbles (bytes 32c .. 32c + 31: sub-block 2c
// low, 2c + 1 high); w = (d sc) q - dmin m. Read two sub-blocks at a time by
// q4k_pair below, not unit by unit.
template <>
struct Fmt<2> {
    static constexpr int BE = 256, BB = 144;
};

// Q4_K, two sub-blocks at once: pair c (0..3) of the super-block at p is
// sub-blocks 2c (low nibbles of bytes 16 + 32c ..) and 2c + 1 (high nibbles,
// kept in place: 16 q, so A1 carries 1/16 and the dot stays unsigned x signed).
// The 6-bit scales and mins of all eight sub-blocks are unpacked four to a
// word (bytes 0..3: sub-blocks 0..3 in sl / ml, 4..7 in sh / mh); this lane
// takes bytes 2 (c & 1) and 2 (c & 1) + 1 of one of them.
__device__ __forceinline__ void q4k_pair(const u8* p, int c, unsigned (&lo)[8], unsigned (&hi)[8], float& A0, float& A1,
                                         float& C0, float& C1) {
    const uint4 h = *reinterpret_cast<const uint4*>(p);  // d, dmin, scales[12]
    const uint4 v0 = *reinterpret_cast<const uint4*>(p + 16 + 32 * c);
    const uint4 v1 = *reinterpret_cast<const uint4*>(p + 32 + 32 * c);
    const unsigned v[8] = {v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) lo[i] = v[i] & 0x0F0F0F0Fu, hi[i] = v[i] & 0xF0F0F0F0u;
    // scales[0..3] = h.y, [4..7] = h.z, [8..11] = h.w (bytes). Sub-block j < 4:
    // scale = s[j] & 63, min = s[j + 4] & 63; j >= 4: scale = s[j + 4] & 15 |
    // (s[j - 4] >> 6) << 4, min = s[j + 4] >> 4 | (s[j] >> 6) << 4.
    const unsigned sw = c < 2 ? h.y & 0x3F3F3F3Fu : (h.w & 0x0F0F0F0Fu) | ((h.y >> 2) & 0x30303030u);
    const unsigned mw = c < 2 ? h.z & 0x3F3F3F3Fu : ((h.w >> 4) & 0x0F0F0F0Fu) | ((h.z >> 2) & 0x30303030u);
    const int sb = 16 * (c & 1);
    const float2 dd = __half22float2(*reinterpret_cast<const __half2*>(&h.x));
    A0 = dd.x * (float)((sw >> sb) & 0xFFu);
    A1 = (0.0625f * dd.x) * (float)((sw >> (sb + 8)) & 0xFFu);
    C0 = -dd.y * (float)((mw >> sb) & 0xFFu);
    C1 = -dd.y * (float)((mw >> (sb + 8)) & 0xFFu);
}

// Q6_K: 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), 16 i8 scales
// (one per 16 elements), f16 d. Sub-block j (elements 32 j ..) is half h =
// j / 4: low nibbles (j / 2) % 2 of ql[64 h + 32 (j % 2) + i], high bits 2 (j
// % 4) of qh[32 h + i]; w = (d scale) (q - 32). Read two sub-blocks at a time
// by q6k_pair below, not unit by unit.
template <>
struct Fmt<3> {
    static constexpr int BE = 256, BB = 210;
};

// Q6_K, two sub-blocks at once: pair c (0..3) of the super-block at p is
// sub-blocks j = 4 (c / 2) + c % 2 and j + 2. Their low 4 bits are the low and
// high nibbles of the same 32 bytes of ql, their high 2 bits the bit pairs
// 2 (c % 2) and 2 (c % 2) + 4 of the same 32 bytes of qh: 16 words read and
// 9 operations a word for 64 weights, where unit by unit each 32 weights read
// 16 words (2-byte aligned blocks: 18 loads and 16 funnel shifts) and took 6
// operations a word (Nsight Compute, 2026-11-30: 540 warp instructions an
// iteration against Q4_K's 212). swap (0 or 1) puts j + 2 first: x's unit j
// lies in 16-byte slots 0-3 of its 128 bytes and j + 2 in slots 4-7
// (x_unit_chunk), so lanes of odd super-blocks reading j + 2 first keep each
// quarter-warp's x loads on distinct banks. q0 / q1: the first and second
// unit's byte-quants (0..63; [0..3] elements 0..15, [4..7] 16..31); A: d
// times the scales of the first unit's two halves, then the second's.
__device__ __forceinline__ void q6k_pair(const u8* p, int c, int swap, unsigned (&q0)[8], unsigned (&q1)[8],
                                         float (&A)[4]) {
    const int j = 4 * (c >> 1) + (c & 1);
    unsigned ql[8], qh[8];
    words<8>(p + 64 * (c >> 1) + 32 * (c & 1), ql);
    words<8>(p + 128 + 32 * (c >> 1), qh);
    const unsigned sh = 2u * (c & 1);
    // Unit j takes the low nibbles and the pair at bits 0-1 of qh >> sh; j + 2
    // the high nibbles and the pair at bits 4-5.
    const unsigned n0 = 4u * swap, n1 = 4u - n0;  // the first unit's nibble shift, the second's
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const unsigned t = qh[i] >> sh;
        q0[i] = ((ql[i] >> n0) & 0x0F0F0F0Fu) | ((t << n1) & 0x30303030u);
        q1[i] = ((ql[i] >> n1) & 0x0F0F0F0Fu) | ((t << n0) & 0x30303030u);
    }
    const float d = sm_f16(p + 208);
    const unsigned s0 = *reinterpret_cast<const unsigned short*>(p + 192 + 2 * j + 4 * swap);        // the first unit's two scales
    const unsigned s1 = *reinterpret_cast<const unsigned short*>(p + 192 + 2 * j + 4 * (1 - swap));  // the second's
    A[0] = d * (float)(signed char)(s0 & 0xFFu);
    A[1] = d * (float)(signed char)(s0 >> 8);
    A[2] = d * (float)(signed char)(s1 & 0xFFu);
    A[3] = d * (float)(signed char)(s1 >> 8);
}

// ---------------------------------------------------------------- x, quantized per CTA
// 32 elements at xs, as f32.
__device__ __forceinline__ void load32(const T* __restrict__ xs, float (&v)[32]) {
    if ((reinterpret_cast<size_t>(xs) & 15) == 0) {  // 16-byte loads where the row allows
#pragma unroll
        for (int c = 0; c < 32 / VEC; ++c) {
            float f[VEC];
            // __ldg: one 16-byte load (through a reference, unpack's reads
            // would be compiled as VEC separate element loads).
            unpack(__ldg(reinterpret_cast<const uint4*>(xs) + c), f);
#pragma unroll
            for (int i = 0; i < VEC; ++i) v[c * VEC + i] = f[i];
        }
    } else {
#pragma unroll
        for (int i = 0; i < 32; ++i) v[i] = to_f32(xs[i]);
    }
}

// The 32 elements of x's unit u of token n, as f32.
__device__ __forceinline__ void load_x_unit(const T* __restrict__ X, const QuantParams& p, int n, int u, float (&v)[32]) {
    load32(X + n * p.sxn + (i64)u * 32, v);
}

// Unit u's quants into its token's row xrow (at x_unit_chunk), its scale and
// the sums of its two halves' quants into *meta.
__device__ __forceinline__ void quantize_x_unit(const float (&v)[32], u8* xrow, int u, uint2* meta) {
    float amax = 0.f, probe = 0.f;
#pragma unroll
    for (int i = 0; i < 32; ++i) amax = fmaxf(amax, fabsf(v[i])), probe = fmaf(v[i], 0.f, probe);
    // An infinity or NaN in the unit makes probe NaN (fmaxf would drop a
    // NaN): dx NaN then carries it into every output, as an FMA loop would.
    const float dx = probe == 0.f ? amax / 127.f : __int_as_float(0x7fc00000);
    const float inv = amax > 0.f && probe == 0.f ? 127.f / amax : 0.f;
    unsigned w[8];
    int s0 = 0, s1 = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        unsigned word = 0;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int qv = __float2int_rn(v[4 * i + e] * inv);  // |qv| <= 127
            (i < 4 ? s0 : s1) += qv;
            word |= ((unsigned)qv & 0xFFu) << (8 * e);
        }
        w[i] = word;
    }
    *reinterpret_cast<uint4*>(xrow + x_unit_chunk(u, 0)) = make_uint4(w[0], w[1], w[2], w[3]);
    *reinterpret_cast<uint4*>(xrow + x_unit_chunk(u, 1)) = make_uint4(w[4], w[5], w[6], w[7]);
    *meta = make_uint2(__float_as_uint(dx), ((unsigned)s0 & 0xFFFFu) | ((unsigned)s1 << 16));
}

// Unit u's 32 quants of x (a token's row xp in shared memory) as 8 words in order.
__device__ __forceinline__ void x_unit_words(const u8* xp, int u, unsigned (&w)[8]) {
    const uint4 a = *reinterpret_cast<const uint4*>(xp + x_unit_chunk(u, 0));
    const uint4 b = *reinterpret_cast<const uint4*>(xp + x_unit_chunk(u, 1));
    w[0] = a.x, w[1] = a.y, w[2] = a.z, w[3] = a.w, w[4] = b.x, w[5] = b.y, w[6] = b.z, w[7] = b.w;
}

// ---------------------------------------------------------------- the kernel
// `grid` CTAs run this matrix; this one is CTA `bid` of them (gridDim.x and
// blockIdx.x, except where one launch runs two matrices: qgemv_dot2). S:
// stages in the copy ring (QD_STAGES but where qgemv_dot2 keeps a wide
// format's ring as small as the narrow one's).
template <int F, int N, bool ROPE = false, int S = QD_STAGES>
__device__ void qgemv_dot(const u8* __restrict__ W, const T* __restrict__ X, T* __restrict__ Y,
                          const u8* __restrict__ XQ, const u8* __restrict__ XM, const QuantParams p, int grid, int bid,
                          const RopeOut* ro = nullptr, int head0 = 0) {
    typedef Fmt<F> Q;
    constexpr int UPL = QD_ITER / 32 / 32;            // units per lane per iteration
    constexpr int IB = QD_ITER / Q::BE * Q::BB;      // bytes of one row per iteration
    constexpr int CH = (IB + 14 + 15) / 16;          // chunks covering them (start <= 14 bytes in)
    constexpr int PITCH = CH + 1;                    // + 1: word reads past the end stay in the stage
    constexpr int COPIES = (QD_ROWS * CH + 31) / 32; // 16-byte copies per lane per iteration
    constexpr int STAGE = QD_ROWS * PITCH;           // chunks per stage
    static_assert(QD_ROWS == 2, "the copy slots and row offsets below are written for two rows");
    static_assert(S >= 2 && S <= QD_STAGES, "the barrier area holds QD_STAGES a warp; one stage would leave none in flight");

    extern __shared__ uint4 smem[];
    const int units = (int)(p.k / 32);
    // Shared memory: x's quants [N][K] bytes, its unit constants [N][K / 32]
    // (dx, the two sums as i16), then each warp's ring of stages.
    // A token's quants take xk bytes (K rounded up to whole unit pairs, 64
    // bytes, which x_pair_chunk's swizzle keeps within).
    const i64 xk = (p.k + 63) & ~(i64)63;
    u8* xq = reinterpret_cast<u8*>(smem);
    uint2* xm = reinterpret_cast<uint2*>(xq + N * xk);
    // (sm_90: each warp's stage barriers, 8 bytes each, between the two.)
    u8* after_x = xq + ((N * xk + (i64)N * units * 8 + 15) & ~(i64)15);
    uint4* ring_all = reinterpret_cast<uint4*>(after_x + QD_BAR_BYTES);

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    uint4* ring = ring_all + warp * S * STAGE;
    const i64 tiles = (p.m + QD_ROWS - 1) / QD_ROWS;
    const int its = (int)((p.k + QD_ITER - 1) / QD_ITER);
    // Tiles dealt CTA by CTA: warp w of CTA b takes tiles b + grid (w + 8 r),
    // so CTA loads differ by at most one tile (the host fills every SM alike).
    const i64 tile0 = (i64)warp * grid + bid, tstride = (i64)grid * QD_WARPS;

    // ROPE: a tile is pair i of head h (tile = h * half + i), 32-bit math.
    const unsigned half = ROPE ? (unsigned)(ro->p.d / 2) : 1u;
    auto tile_row = [&](i64 tile, int r) -> i64 {
        if constexpr (ROPE) {
            const unsigned t = (unsigned)min(tile, (i64)0x7fffffff), h = t / half;  // past the last tile: clamped below
            return (i64)h * 2 * half + (t - h * half) + r * half;
        } else {
            return tile * QD_ROWS + r;
        }
    };
    // Byte offset in W of row r of a tile (rows past M read row M - 1).
    auto row_byte = [&](i64 tile, int r) { return min(tile_row(tile, r), p.m - 1) * p.row_bytes; };

#ifdef DK_BULK_COPY
    // One barrier per stage: lane 0 starts a stage's two row copies, every
    // lane waits for the stage's phase (parity flips each time it is filled).
    unsigned long long* bars = reinterpret_cast<unsigned long long*>(after_x) + warp * S;
    if (lane == 0) {
#pragma unroll
        for (int s = 0; s < S; ++s) mbar_init(&bars[s], 1);
        mbar_init_fence();
    }
    __syncwarp();
    unsigned parity = 0;  // bit s: the parity of stage s's next phase
#else
    // This lane's copy slots, the same every iteration: chunk c = lane + 32 i
    // of the stage is chunk c % CH of row c / CH's bytes.
    int slot[COPIES], gbyte[COPIES];
    bool row1[COPIES], live[COPIES];
#pragma unroll
    for (int i = 0; i < COPIES; ++i) {
        const int c = lane + 32 * i;
        live[i] = c < QD_ROWS * CH;
        row1[i] = c >= CH;
        const int ci = row1[i] ? c - CH : c;
        slot[i] = (row1[i] ? PITCH : 0) + ci;
        gbyte[i] = 16 * ci;
    }
#endif

    // The copy side of the ring walks (tile, iteration) pairs by counters (no
    // divisions in the loop): ctile < tiles while there is something to copy;
    // cr0, cr1 are the byte offsets of the pair's two rows.
    i64 ctile = tile0, cr0 = row_byte(tile0, 0), cr1 = row_byte(tile0, 1);
    int cit = 0, cstage = 0;
    // Copies the next pair into its stage (nothing past the last tile), then
    // commits a group. refill: the stage was read before (sm_90: the reads
    // must be ordered before the copy unit's writes; a first fill needs no
    // fence, whose wait for this thread's outstanding loads, x's, would hold
    // the first copies back).
    auto issue = [&](bool refill) {
        if (ctile < tiles) {
            uint4* st = ring + cstage * STAGE;
            const i64 b0 = cr0 & ~(i64)15, b1 = cr1 & ~(i64)15;
#ifdef DK_BULK_COPY
            if (lane == 0) {
                // Each row's chunks, clipped at the buffer's end (a multiple of 16
                // past the last block: nothing needed lies beyond it).
                const unsigned n0 = (unsigned)min((i64)16 * CH, p.buf_bytes - b0);
                const unsigned n1 = (unsigned)min((i64)16 * CH, p.buf_bytes - b1);
                if (refill) fence_proxy_async_shared();  // the warp's reads of this stage (ordered by __syncwarp) come first
                mbar_expect_bytes(&bars[cstage], n0 + n1);
                bulk_copy(st, W + b0, n0, &bars[cstage]);
                bulk_copy(st + PITCH, W + b1, n1, &bars[cstage]);
            }
#else
            (void)refill;
            // Row 1 lies at or after row 0: one test says whether any copy could pass the end.
            if (b1 + 16 * CH <= p.buf_bytes) {
#pragma unroll
                for (int i = 0; i < COPIES; ++i)
                    if (live[i]) cp_async16(st + slot[i], W + (row1[i] ? b1 : b0) + gbyte[i], 16);
            } else {
#pragma unroll
                for (int i = 0; i < COPIES; ++i) {
                    const i64 a = (row1[i] ? b1 : b0) + gbyte[i];
                    const bool ok = a + 16 <= p.buf_bytes;
                    if (live[i]) cp_async16(st + slot[i], ok ? W + a : W, ok ? 16 : 0);
                }
            }
#endif
            cr0 += IB, cr1 += IB;
            if (++cit == its) cit = 0, ctile += tstride, cr0 = row_byte(ctile, 0), cr1 = row_byte(ctile, 1);
            cstage = cstage + 1 == S ? 0 : cstage + 1;
        }
#ifndef DK_BULK_COPY
        cp_async_commit();
#endif
    };

    // x first: its loads (from L2) would otherwise queue behind the weight
    // copies, and every warp waits for x before it computes. Each thread
    // loads its first (token, unit) into registers, the ring's first stages
    // are started, then the units are quantized (later rounds load as they go).
    // On sm_90 the kernel is launched as a programmatic dependent
    // (common.cuh): the first weight copies (no launch writes W) start while
    // the previous kernel finishes, x only after pdl_wait(); there, by the
    // time x is read, its loads no longer queue behind those copies.
    // x already quantized: its bytes are copied as they are (one group of
    // asynchronous copies, committed before the weights' on sm_80).
    auto copy_x = [&]() {
        for (i64 c = threadIdx.x; c < N * xk / 16; c += QD_THREADS) cp_async16(xq + 16 * c, XQ + 16 * c, 16);
        for (int m = threadIdx.x; m < N * units; m += QD_THREADS) cp_async8(xm + m, XM + 8 * m);
        cp_async_commit();
    };
    float v[32];
#if __CUDA_ARCH__ >= 900
#pragma unroll
    for (int s = 0; s < S - 1; ++s) issue(false);
    pdl_begin();
    if (XQ != nullptr) {
        copy_x();
        cp_async_wait<0>();  // the only cp.async group here (the weights come by bulk copies)
    } else if (threadIdx.x < N * units) {
        load_x_unit(X, p, threadIdx.x / units, threadIdx.x % units, v);
    }
#else
    if (XQ != nullptr) copy_x();
    else if (threadIdx.x < N * units) load_x_unit(X, p, threadIdx.x / units, threadIdx.x % units, v);
#pragma unroll
    for (int s = 0; s < S - 1; ++s) issue(false);  // in flight while x is quantized
    if (XQ != nullptr) cp_async_wait<S - 1>();  // x's group, older than the weights' stages - 1
#endif
    for (int b = threadIdx.x; XQ == nullptr && b < N * units; b += QD_THREADS) {
        if (b != threadIdx.x) load_x_unit(X, p, b / units, b % units, v);
        quantize_x_unit(v, xq + (b / units) * xk, b % units, xm + b);
    }
    __syncthreads();

    float acc[QD_ROWS][N];
#pragma unroll
    for (int r = 0; r < QD_ROWS; ++r)
#pragma unroll
        for (int n = 0; n < N; ++n) acc[r][n] = 0.f;

    // The compute side: tile, iteration and stage of the pair being computed,
    // and the byte offsets of its rows (whose low 4 bits place them in the stage).
    i64 tile = tile0, kr0 = row_byte(tile0, 0), kr1 = row_byte(tile0, 1);
    int it = 0, stage = 0;
    RopePrep prep{};  // ROPE: lane n's pair of the current tile (rope.cuh)
    while (tile < tiles) {
        issue(true);
        if constexpr (ROPE) {
            if (it == 0 && lane < N) {  // a tile starts: its slot, bias and angle, while its weights arrive
                const unsigned t = (unsigned)tile, h = t / half;
                prep = rope_prepare(ro->p, ro->bias, ro->positions, head0 + (i64)h, 0, lane, t - h * half);
            }
        }
#ifdef DK_BULK_COPY
        mbar_wait(&bars[stage], (parity >> stage) & 1u);  // this pair's bytes have landed
        parity ^= 1u << stage;
#else
        cp_async_wait<S - 1>();  // this pair's group is complete (this lane's copies)
        __syncwarp();                    // ... and every lane's
#endif

        const u8* st = reinterpret_cast<const u8*>(ring + stage * STAGE);
        const u8* rows[QD_ROWS] = {st + (kr0 & 15), st + 16 * PITCH + (kr1 & 15)};
        if constexpr (F == 2) {
            // Q4_K: lane = 4 s + c takes pair c of super-block s (units 2c, 2c + 1).
            const int c = lane & 3, sblk = lane >> 2;
            const int u0 = it * (32 * UPL) + 8 * sblk + 2 * c;
            if (u0 < units) {  // K is whole super-blocks: the pair is whole too
                unsigned lo[QD_ROWS][8], hi[QD_ROWS][8];
                float A0[QD_ROWS], A1[QD_ROWS], C0[QD_ROWS], C1[QD_ROWS];
#pragma unroll
                for (int r = 0; r < QD_ROWS; ++r) q4k_pair(rows[r] + sblk * Q::BB, c, lo[r], hi[r], A0[r], A1[r], C0[r], C1[r]);
#pragma unroll
                for (int n = 0; n < N; ++n) {
                    const u8* xp = xq + n * xk;
                    uint4 xc[4];
#pragma unroll
                    for (int q = 0; q < 4; ++q) xc[q] = *reinterpret_cast<const uint4*>(xp + x_pair_chunk(u0 >> 1, q));
                    const uint4 m = *reinterpret_cast<const uint4*>(xm + n * units + u0);  // both units' dx and sums
                    const float dx0 = __uint_as_float(m.x), dx1 = __uint_as_float(m.z);
                    const float sx0 = dx0 * (float)((short)(m.y & 0xFFFFu) + (short)(m.y >> 16));
                    const float sx1 = dx1 * (float)((short)(m.w & 0xFFFFu) + (short)(m.w >> 16));
                    const unsigned x0[8] = {xc[0].x, xc[0].y, xc[0].z, xc[0].w, xc[1].x, xc[1].y, xc[1].z, xc[1].w};
                    const unsigned x1[8] = {xc[2].x, xc[2].y, xc[2].z, xc[2].w, xc[3].x, xc[3].y, xc[3].z, xc[3].w};
#pragma unroll
                    for (int r = 0; r < QD_ROWS; ++r) {
                        int d0 = 0, d1 = 0;
#pragma unroll
                        for (int i = 0; i < 8; ++i) d0 = dp4a_us(lo[r][i], x0[i], d0), d1 = dp4a_us(hi[r][i], x1[i], d1);
                        float a = acc[r][n];
                        a = fmaf(A0[r], dx0 * (float)d0, a);
                        a = fmaf(A1[r], dx1 * (float)d1, a);
                        a = fmaf(C0[r], sx0, a);
                        acc[r][n] = fmaf(C1[r], sx1, a);
                    }
                }
            }
        } else if constexpr (F == 3) {
            // Q6_K: lane = 4 s + c takes pair c of super-block s (units j and
            // j + 2, j = 4 (c / 2) + c % 2; from 5 tokens on, odd s with j + 2
            // first: q6k_pair). Each dot starts at -32 times its x half's quant
            // sum (w = d sc (q - 32)), so the offset costs nothing. The swap's
            // variable shifts cost more than its bank conflicts save at 1-4
            // tokens, where the weights' decoding dominates, and less at 8,
            // where x's loads do (bench quant-matmul --graph, H200, 2026-11-30:
            // 28672x4096 N = 1 26.2 us without, 27.5 with; N = 8 67.1 / 63.2).
            const int c = lane & 3, sblk = lane >> 2, swap = N > 4 ? sblk & 1 : 0;
            const int ub = it * (32 * UPL) + 8 * sblk;  // the super-block's first unit
            if (ub < units) {  // K is whole super-blocks: both units are inside
                unsigned q0[QD_ROWS][8], q1[QD_ROWS][8];
                float A[QD_ROWS][4];
#pragma unroll
                for (int r = 0; r < QD_ROWS; ++r) q6k_pair(rows[r] + sblk * Q::BB, c, swap, q0[r], q1[r], A[r]);
                const int uj = ub + 4 * (c >> 1) + (c & 1);             // unit j in the row
                const int u0 = uj + 2 * swap, u1 = uj + 2 - 2 * swap;  // the first and second unit
#pragma unroll
                for (int n = 0; n < N; ++n) {
                    const u8* xp = xq + n * xk;
                    unsigned xa[8], xb[8];
                    x_unit_words(xp, u0, xa);
                    x_unit_words(xp, u1, xb);
                    const uint2 ma = xm[n * units + u0], mb = xm[n * units + u1];
                    const float dxa = __uint_as_float(ma.x), dxb = __uint_as_float(mb.x);
                    const int sa0 = -32 * (short)(ma.y & 0xFFFFu), sa1 = -32 * (short)(ma.y >> 16);
                    const int sb0 = -32 * (short)(mb.y & 0xFFFFu), sb1 = -32 * (short)(mb.y >> 16);
#pragma unroll
                    for (int r = 0; r < QD_ROWS; ++r) {
                        int da0 = sa0, da1 = sa1, db0 = sb0, db1 = sb1;
#pragma unroll
                        for (int i = 0; i < 4; ++i) {
                            da0 = __dp4a((int)q0[r][i], (int)xa[i], da0);
                            da1 = __dp4a((int)q0[r][4 + i], (int)xa[4 + i], da1);
                            db0 = __dp4a((int)q1[r][i], (int)xb[i], db0);
                            db1 = __dp4a((int)q1[r][4 + i], (int)xb[4 + i], db1);
                        }
                        float a = acc[r][n];
                        a = fmaf(dxa, fmaf(A[r][0], (float)da0, A[r][1] * (float)da1), a);
                        acc[r][n] = fmaf(dxb, fmaf(A[r][2], (float)db0, A[r][3] * (float)db1), a);
                    }
                }
            }
        } else {
            // Q8_0, Q4_0: lane l takes units (blocks) l and l + 32 of the iteration.
#pragma unroll
            for (int h = 0; h < UPL; ++h) {
                const int ul = 32 * h + lane;        // the unit within the iteration
                const int u = it * (32 * UPL) + ul;  // ... and within the row
                if (u >= units) break;
                unsigned wq[QD_ROWS][8];
                float A[QD_ROWS], C[QD_ROWS];
#pragma unroll
                for (int r = 0; r < QD_ROWS; ++r) Q::unit(rows[r] + ul * Q::BB, wq[r], A[r], C[r]);
#pragma unroll
                for (int n = 0; n < N; ++n) {
                    const u8* xp = xq + n * xk;
                    unsigned xw[8];
                    x_unit_words(xp, u, xw);
                    const uint2 m = xm[n * units + u];
                    const float dx = __uint_as_float(m.x);
                    const int sx = (short)(m.y & 0xFFFFu) + (short)(m.y >> 16);
#pragma unroll
                    for (int r = 0; r < QD_ROWS; ++r) {
                        int lo = 0, hi = 0;
#pragma unroll
                        for (int i = 0; i < 4; ++i) {
                            lo = __dp4a((int)wq[r][i], (int)xw[i], lo);
                            hi = __dp4a((int)wq[r][4 + i], (int)xw[4 + i], hi);
                        }
                        acc[r][n] = fmaf(dx, fmaf(A[r], (float)(lo + hi), C[r] * (float)sx), acc[r][n]);
                    }
                }
            }
        }
        __syncwarp();  // every lane is done with this stage before it is refilled
        stage = stage + 1 == S ? 0 : stage + 1;
        kr0 += IB, kr1 += IB;

        if (++it == its) {
            // The tile's last iteration: reduce over the lanes and write.
            float out = 0.f;
#pragma unroll
            for (int r = 0; r < QD_ROWS; ++r)
#pragma unroll
                for (int n = 0; n < N; ++n) {
                    float v = acc[r][n];
#pragma unroll
                    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
                    if (lane == r * N + n) out = v;
                    acc[r][n] = 0.f;
                }
            if constexpr (ROPE) {
                // Lane n (< N) holds row 0 of token n, lane N + n row 1.
                const float out1 = __shfl_down_sync(0xffffffffu, out, N);
                if (lane < N) {
                    const unsigned t = (unsigned)tile, h = t / half;
                    const float x0 = to_f32(from_f32<T>(out)), x1 = to_f32(from_f32<T>(out1));
                    rope_finish(ro->p, prep, ro->q_out, ro->k_cache, ro->v_cache, head0 + (i64)h, 0, lane, t - h * half,
                                x0, x1);
                }
            }
            const i64 row = tile * QD_ROWS + lane / N;
            if (!ROPE && lane < QD_ROWS * N && row < p.m) {
                T* y = Y + (lane % N) * p.syn + row;
                float v = p.alpha * out;
                if (p.beta != 0.f) v += p.beta * to_f32(*y);  // beta == 0 never reads y (it may hold NaN)
                *y = from_f32<T>(v);
            }
            it = 0;
            tile += tstride;
            kr0 = row_byte(tile, 0), kr1 = row_byte(tile, 1);
        }
    }
#ifndef DK_BULK_COPY
    cp_async_wait<0>();  // no copy outlives the CTA (groups past the last tile are empty; this is for form)
#endif
}

// ---------------------------------------------------------------- entry points
// qgemv_dot_<format>_n<N>_<dtype>, N = 1 .. 8.
#define QD_NAME_(f, n, dt) qgemv_dot_##f##_n##n##_##dt
#define QD_NAME(f, n, dt) QD_NAME_(f, n, dt)
#define QD_ENTRY(F, f, N)                                                                                     \
    extern "C" __global__ void __launch_bounds__(QD_THREADS, (N == 1 ? 24 : 16) / QD_WARPS)                                  \
        QD_NAME(f, N, DT_NAME)(const u8* W, const T* X, T* Y, const u8* XQ, const u8* XM, const QuantParams p) { \
        qgemv_dot<F, N>(W, X, Y, XQ, XM, p, gridDim.x, blockIdx.x);                                           \
    }
#define QD_ALL(F, f) \
    QD_ENTRY(F, f, 1) QD_ENTRY(F, f, 2) QD_ENTRY(F, f, 3) QD_ENTRY(F, f, 4) QD_ENTRY(F, f, 5) QD_ENTRY(F, f, 6) QD_ENTRY(F, f, 7) QD_ENTRY(F, f, 8)

QD_ALL(0, q8_0)
QD_ALL(1, q4_0)
QD_ALL(2, q4_k)
QD_ALL(3, q6_k)

// qgemv_dot_rope_<format>_n<N>_<dtype>, N = 1, 2: the QKV projection's part
// with RoPE and the cache append (ROPE above); rope_append's pointers and
// parameters and the part's first head after the plain entry's.
#define QD_ROPE_NAME_(f, n, dt) qgemv_dot_rope_##f##_n##n##_##dt
#define QD_ROPE_NAME(f, n, dt) QD_ROPE_NAME_(f, n, dt)
#define QD_ROPE_ENTRY(F, f, N)                                                                                       \
    extern "C" __global__ void __launch_bounds__(QD_THREADS, (N == 1 ? 24 : 16) / QD_WARPS) QD_ROPE_NAME(f, N, DT_NAME)( \
        const u8* W, const T* X, T* Y, const u8* XQ, const u8* XM, const QuantParams p, const T* bias, T* q_out,     \
        T* k_cache, T* v_cache, const int* positions, const RopeParams rp, int head0) {                              \
        const RopeOut ro{bias, q_out, k_cache, v_cache, positions, rp};                                              \
        qgemv_dot<F, N, true>(W, X, Y, XQ, XM, p, gridDim.x, blockIdx.x, &ro, head0);                                \
    }
#define QD_ROPE_ALL(F, f) QD_ROPE_ENTRY(F, f, 1) QD_ROPE_ENTRY(F, f, 2)
QD_ROPE_ALL(0, q8_0)
QD_ROPE_ALL(1, q4_0)
QD_ROPE_ALL(2, q4_k)
QD_ROPE_ALL(3, q6_k)

// qgemv_dot2_<format 0>_<format 1>[_rope]_n<N>_<dtype>: one launch for a
// projection stacked from two matrices of different formats over the same x
// (Q4_K_M's QKV where the V rows are Q6_K: a launch fewer, whose fixed cost
// was most of the V rows' time). CTAs below `split` run matrix 0 as the plain
// (or rope) entry would with a grid of `split`; the others matrix 1 with the
// rest of the grid. The host sizes the shared memory for the wider ring and
// splits the CTAs so that no warp streams more bytes than it must
// (src/ops/quant.rs: launch_dot_pair, pair_grid). The rope entry's matrices
// start at heads head0 and head1. Matrix 1's ring has QD_PAIR_STAGES (two)
// stages: a Q6_K iteration's bytes are 1.46 times a Q4_K one's, and three
// stages of them would take the launch to fewer CTAs an SM than matrix 0's
// own launch had. (At K = 4096 a tile is two iterations: with two stages
// the second is copied while the first computes, as with three.)
#define QD2_NAME_(f0, f1, r, n, dt) qgemv_dot2_##f0##_##f1##r##_n##n##_##dt
#define QD2_NAME(f0, f1, r, n, dt) QD2_NAME_(f0, f1, r, n, dt)
#define QD2_ENTRY(F0, f0, F1, f1, N)                                                                           \
    extern "C" __global__ void __launch_bounds__(QD_THREADS, (N == 1 ? 24 : 16) / QD_WARPS)                      \
        QD2_NAME(f0, f1, , N, DT_NAME)(const u8* W0, const u8* W1, const T* X, T* Y0, T* Y1, const u8* XQ,     \
                                       const u8* XM, const QuantParams p0, const QuantParams p1, int split) {  \
        const int b = (int)blockIdx.x;                                                                         \
        if (b < split) qgemv_dot<F0, N>(W0, X, Y0, XQ, XM, p0, split, b);                                      \
        else qgemv_dot<F1, N, false, QD_PAIR_STAGES>(W1, X, Y1, XQ, XM, p1, (int)gridDim.x - split, b - split);                 \
    }
#define QD2_ROPE_ENTRY(F0, f0, F1, f1, N)                                                                       \
    extern "C" __global__ void __launch_bounds__(QD_THREADS, (N == 1 ? 24 : 16) / QD_WARPS)                      \
        QD2_NAME(f0, f1, _rope, N, DT_NAME)(const u8* W0, const u8* W1, const T* X, const u8* XQ, const u8* XM, \
                                            const QuantParams p0, const QuantParams p1, int split, const T* bias, \
                                            T* q_out, T* k_cache, T* v_cache, const int* positions,            \
                                            const RopeParams rp, int head0, int head1) {                       \
        const RopeOut ro{bias, q_out, k_cache, v_cache, positions, rp};                                        \
        const int b = (int)blockIdx.x;                                                                         \
        if (b < split) qgemv_dot<F0, N, true>(W0, X, nullptr, XQ, XM, p0, split, b, &ro, head0);               \
        else qgemv_dot<F1, N, true, QD_PAIR_STAGES>(W1, X, nullptr, XQ, XM, p1, (int)gridDim.x - split, b - split, &ro, head1); \
    }
// N = 1..4 and 8: a decode step's batch of 1 to 4, and 16 as two launches of
// 8 (src/ops/quant.rs: PAIR_TOKENS). At N = 5 both formats' loops in one
// function spilled registers for sm_80.
QD2_ENTRY(2, q4_k, 3, q6_k, 1) QD2_ENTRY(2, q4_k, 3, q6_k, 2) QD2_ENTRY(2, q4_k, 3, q6_k, 3)
QD2_ENTRY(2, q4_k, 3, q6_k, 4) QD2_ENTRY(2, q4_k, 3, q6_k, 8)
QD2_ROPE_ENTRY(2, q4_k, 3, q6_k, 1) QD2_ROPE_ENTRY(2, q4_k, 3, q6_k, 2)

// ---------------------------------------------------------------- x quantized once
// The producers of the GEMV's x already quantized (src/spec/q8.rs: rows of
// quants in x_unit_chunk order, cols rounded up to 64 bytes a row, then 8
// bytes a unit: what quantize_x_unit writes). Rust twin: Q8Params in
// src/ops/params.rs. Eight lanes share a unit (4 values each), so a thread's
// serial work is 4 values, not 32 (a decode step's RMSNorm is one CTA a row:
// its latency is the step's).
struct Q8Params {
    i64 rows, cols;   // rows of cols elements (cols a multiple of 32)
    i64 sxr, syr;     // row strides of the input and of the dense output, in elements
    i64 meta;         // byte offset of the unit constants in Q (the buffer's rows x its row bytes)
    float eps;        // rmsnorm_q8
    int vec;          // 1: every row of the inputs and outputs (and rmsnorm_q8's w) starts 4-element aligned
};

#define DK_Q8_NAME_(n, dt) n##_##dt
#define DK_Q8_NAME(n, dt) DK_Q8_NAME_(n, dt)

// Unit u of a row, quantized by the 8 lanes of an aligned group (group lane
// j holds values 4j .. 4j + 3): the same bytes as quantize_x_unit (max and
// integer sums do not depend on order; the scale, its inverse and each
// rounding are the same expressions). Every lane of the warp calls it; live:
// whether this lane's group has a unit.
__device__ __forceinline__ void quantize_unit8(const float (&v)[4], bool live, u8* xrow, i64 u, uint2* meta) {
    const unsigned all = 0xffffffffu;
    const int j = threadIdx.x & 7;
    float amax = 0.f, probe = 0.f;
#pragma unroll
    for (int i = 0; i < 4; ++i) amax = fmaxf(amax, fabsf(v[i])), probe = fmaf(v[i], 0.f, probe);
#pragma unroll
    for (int o = 1; o < 8; o <<= 1) {
        amax = fmaxf(amax, __shfl_xor_sync(all, amax, o));
        probe += __shfl_xor_sync(all, probe, o);  // 0, or NaN where a value is not finite
    }
    const float dx = probe == 0.f ? amax / 127.f : __int_as_float(0x7fc00000);
    const float inv = amax > 0.f && probe == 0.f ? 127.f / amax : 0.f;
    unsigned word = 0;
    int sum = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int qv = __float2int_rn(v[i] * inv);
        sum += qv;
        word |= ((unsigned)qv & 0xFFu) << (8 * i);
    }
    // Lanes 0-3 hold values 0-15 (the first sum), 4-7 values 16-31.
    sum += __shfl_xor_sync(all, sum, 1);
    sum += __shfl_xor_sync(all, sum, 2);
    const int second = __shfl_down_sync(all, sum, 4);
    if (live) {
        *reinterpret_cast<unsigned*>(xrow + x_unit_chunk((int)u, j >> 2) + 4 * (j & 3)) = word;
        if (j == 0) *meta = make_uint2(__float_as_uint(dx), ((unsigned)sum & 0xFFFFu) | ((unsigned)second << 16));
    }
}

// Four consecutive T, one load or store of 8 (f16, bf16) or 16 (f32) bytes.
template <int B> struct PackOf;
template <> struct PackOf<8> { using type = uint2; };
template <> struct PackOf<16> { using type = uint4; };
using Pack4 = typename PackOf<4 * sizeof(T)>::type;

// Four consecutive values at p as f32 (zeros where !live); vec (uniform): p
// is 4-element aligned, so one load.
__device__ __forceinline__ void load4(const T* __restrict__ p, bool live, bool vec, float (&v)[4]) {
    if (live && vec) {
        const Pack4 raw = *reinterpret_cast<const Pack4*>(p);
        const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int i = 0; i < 4; ++i) v[i] = to_f32(e[i]);
    } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) v[i] = live ? to_f32(p[i]) : 0.f;
    }
}
__device__ __forceinline__ void store4(T* __restrict__ p, bool live, bool vec, const float (&v)[4]) {
    if (!live) return;
    if (vec) {
        Pack4 raw;
        T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
        for (int i = 0; i < 4; ++i) e[i] = from_f32<T>(v[i]);
        *reinterpret_cast<Pack4*>(p) = raw;
    } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) p[i] = from_f32<T>(v[i]);
    }
}

// Walks (row, unit) pairs 4 a warp (a lane group each), warp-uniform, so
// every lane reaches the group's shuffles: f(r, u, j, live).
template <typename F>
__device__ __forceinline__ void for_units(i64 rows, i64 units, F f) {
    const i64 warp = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5, warps = ((i64)gridDim.x * blockDim.x) >> 5;
    const int lane = threadIdx.x & 31;
    for (i64 base = warp * 4; base < rows * units; base += warps * 4) {
        const i64 g = base + lane / 8;
        const bool live = g < rows * units;
        f(live ? g / units : 0, live ? g % units : 0, lane & 7, live);
    }
}

// x [rows, cols] quantized into Q.
extern "C" __global__ void DK_Q8_NAME(quantize_x, DT_NAME)(const T* __restrict__ X, u8* __restrict__ Q, const Q8Params p) {
    pdl_begin_early();
    const i64 units = p.cols / 32, xk = (p.cols + 63) & ~(i64)63;
    uint2* meta = reinterpret_cast<uint2*>(Q + p.meta);
    for_units(p.rows, units, [&](i64 r, i64 u, int j, bool live) {
        float v[4];
        load4(X + r * p.sxr + u * 32 + 4 * j, live, p.vec != 0, v);
        quantize_unit8(v, live, Q + r * xk, u, meta + r * units + u);
    });
}

// h = silu(gate) * up (as silu_mul in layer.cu: f32 math, rounded to T) into
// H [rows, cols] (gate columns [0, cols) of GU's rows, up [cols, 2 cols)),
// and H's values quantized into Q.
extern "C" __global__ void DK_Q8_NAME(silu_mul_q8, DT_NAME)(const T* __restrict__ GU, T* __restrict__ H,
                                                             u8* __restrict__ Q, const Q8Params p) {
    pdl_begin_early();
    const i64 units = p.cols / 32, xk = (p.cols + 63) & ~(i64)63;
    uint2* meta = reinterpret_cast<uint2*>(Q + p.meta);
    for_units(p.rows, units, [&](i64 r, i64 u, int j, bool live) {
        const i64 c = u * 32 + 4 * j;
        float g[4], up[4];
        load4(GU + r * p.sxr + c, live, p.vec != 0, g);
        load4(GU + r * p.sxr + p.cols + c, live, p.vec != 0, up);
#pragma unroll
        for (int i = 0; i < 4; ++i) g[i] = to_f32(from_f32<T>(g[i] / (1.f + expf(-g[i])) * up[i]));
        store4(H + r * p.syr + c, live, p.vec != 0, g);
        quantize_unit8(g, live, Q + r * xk, u, meta + r * units + u);
    });
}

// y = x / sqrt(mean(x^2) + eps) * w (as rmsnorm in layer.cu: f32 math,
// rounded to T) into Y, and Y's values quantized into Q: a CTA a row. As
// rmsnorm_vec there, the row stays in registers (x read once) and the
// weights are loaded before the wait for the previous launch: a thread
// holds RMS_SLOTS groups of 4 values, its warp 4 units a slot (slot s of warp
// w: units 4 (s warps + w) ..), so a CTA of up to 1024 threads covers a row of
// up to 16384 (the host checks). A warp skips its slots past the row
// (warp-uniform, so the shuffles of the live ones still see every lane).
constexpr int RMS_SLOTS = 4;
extern "C" __global__ void DK_Q8_NAME(rmsnorm_q8, DT_NAME)(const T* __restrict__ X, const T* __restrict__ W,
                                                            T* __restrict__ Y, u8* __restrict__ Q, const Q8Params p) {
    const i64 units = p.cols / 32, xk = (p.cols + 63) & ~(i64)63, r = blockIdx.x;
    const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const bool vec = p.vec != 0;
    i64 unit[RMS_SLOTS];
    float x[RMS_SLOTS][4], w[RMS_SLOTS][4];
    int slots = 0;  // this warp's slots that reach into the row
#pragma unroll
    for (int s = 0; s < RMS_SLOTS; ++s) {
        unit[s] = (i64)(s * warps + warp) * 4 + lane / 8;
        slots += (i64)(s * warps + warp) * 4 < units;
    }
    // Every slot's loads are issued before any of their values is used (a
    // slot past the row loads nothing: load4's live): a break out of the
    // slot loop here made each slot's loads wait for the previous slot's
    // data (SASS of 2026-11-30: four round trips in a row).
#pragma unroll
    for (int s = 0; s < RMS_SLOTS; ++s) load4(W + unit[s] * 32 + 4 * (lane & 7), unit[s] < units, vec, w[s]);
    pdl_begin_early();
    const T* xr = X + r * p.sxr;
#pragma unroll
    for (int s = 0; s < RMS_SLOTS; ++s) load4(xr + unit[s] * 32 + 4 * (lane & 7), unit[s] < units, vec, x[s]);
    float ss = 0.f;
#pragma unroll
    for (int s = 0; s < RMS_SLOTS; ++s)
#pragma unroll
        for (int i = 0; i < 4; ++i) ss += x[s][i] * x[s][i];
    __shared__ float red[32];  // block_sum's scratch (common.cuh)
    const float rs = rsqrtf(block_sum(ss, red) / (float)p.cols + p.eps);
    uint2* meta = reinterpret_cast<uint2*>(Q + p.meta) + r * units;
#pragma unroll
    for (int s = 0; s < RMS_SLOTS; ++s) {
        if (s >= slots) break;
        const bool live = unit[s] < units;
#pragma unroll
        for (int i = 0; i < 4; ++i) x[s][i] = to_f32(from_f32<T>(x[s][i] * rs * w[s][i]));
        store4(Y + r * p.syr + unit[s] * 32 + 4 * (lane & 7), live, vec, x[s]);
        quantize_unit8(x[s], live, Q + r * xk, unit[s], meta + unit[s]);
    }
}

// Quantized GEMV for few tokens on integer dot products:
// y[N, M] = alpha * x[N, K] . dequant(W)[M, K]^T + beta * y with N <= 4 per
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
// instruction): about one instruction per weight. The price is x's rounding
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
// - x: the CTA quantizes all N x K of it into shared memory once (N K bytes
//   of quants + 8 bytes per unit: dx and the two sums); the host keeps N K
//   small enough (N K 1.25 bytes <= DOT_X_BYTES, src/dispatch/quant.rs) or
//   does not use this kernel.
// - W: a warp owns QD_ROWS = 2 consecutive rows at a time (a tile) and walks
//   them in iterations of 2048 elements (64 units, two per lane, both rows);
//   warps take tiles blockIdx.x * QD_WARPS + warp, then every gridDim.x *
//   QD_WARPS-th (the host sizes the grid to what stays resident and gives
//   every warp the same number of tiles where it can).
// - An iteration's bytes of a row are contiguous (Q8_0 2176, Q4_0 1152, Q4_K
//   1152, Q6_K 1680); the warp copies the 16-byte chunks that cover both rows'
//   into its own shared-memory stage with cp.async (coalesced: consecutive
//   lanes, consecutive chunks) in a QD_STAGES-deep ring that runs across tile
//   boundaries, so stages - 1 iterations are in flight while one computes:
//   2 x 2 x 1.15 KB per warp for Q4_K, 16 warps an SM -> ~74 KB in flight.
// - Lanes read their unit from the stage (32-bit loads and funnel shifts:
//   blocks are 2-byte aligned; Q4_K's are 16-byte aligned and read as
//   vectors), form 8 words of 4 byte-quants, and for each token run 8 dp4a
//   against x's quants (two 16-byte shared loads, shared by both rows).
// - The warp reduces its accumulators with shuffles at the end of a tile;
//   lane r * N + n writes y[n, row r]. Rows past M read row M - 1 and are not
//   stored; units past K in the last iteration are skipped; beta == 0 never
//   reads y.
#include "common.cuh"

typedef unsigned char u8;

// Parameters: QuantParams (common.cuh; x_vec unused: each 32 elements of x are
// tested for 16-byte alignment where the CTA quantizes them).

constexpr int QD_WARPS = 4;
constexpr int QD_THREADS = 32 * QD_WARPS;
constexpr int QD_ROWS = 2;      // rows per warp tile
constexpr int QD_ITER = 2048;   // elements of a row per iteration (64 units of 32, two per lane)
constexpr int QD_STAGES = 3;    // iterations in the cp.async ring (stages - 1 in flight while one computes)

// ---------------------------------------------------------------- shared-memory words
// NW consecutive 32-bit words starting at the even byte address p of shared memory.
template <int NW>
__device__ __forceinline__ void words(const u8* p, unsigned (&w)[NW]) {
    const unsigned a = (unsigned)(size_t)p;
    const unsigned* s = reinterpret_cast<const unsigned*>(p - (a & 3u));
    const unsigned sh = 8u * (a & 3u);
    unsigned r[NW + 1];
#pragma unroll
    for (int i = 0; i <= NW; ++i) r[i] = s[i];
#pragma unroll
    for (int i = 0; i < NW; ++i) w[i] = __funnelshift_r(r[i], r[i + 1], sh);
}
__device__ __forceinline__ float sm_f16(const u8* p) {
    return __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(p)));
}

// ---------------------------------------------------------------- formats
// Fmt<F>: BE elements and BB bytes per block; unit(p, j, q, A, B, C, D) reads
// unit j of the block at p (j = sub-block, 0 for Q8_0 / Q4_0) into 8 words of
// byte-quants (q[0..3] elements 0..15, q[4..7] 16..31) and its constants.
template <int F>
struct Fmt;

// Q8_0: 34 bytes: f16 d, 32 i8 q; w = d q.
template <>
struct Fmt<0> {
    static constexpr int BE = 32, BB = 34;
    static constexpr bool SPLIT = false;  // one scale per unit (A = B, C = D)
    __device__ static void unit(const u8* p, int, unsigned (&q)[8], float& A, float& B, float& C, float& D) {
        words<8>(p + 2, q);
        A = B = sm_f16(p);
        C = D = 0.f;
    }
};

// Q4_0: 18 bytes: f16 d, byte i holds element i (low nibble) and 16 + i
// (high nibble); w = d (q - 8).
template <>
struct Fmt<1> {
    static constexpr int BE = 32, BB = 18;
    static constexpr bool SPLIT = false;
    __device__ static void unit(const u8* p, int, unsigned (&q)[8], float& A, float& B, float& C, float& D) {
        unsigned v[4];
        words<4>(p + 2, v);
#pragma unroll
        for (int i = 0; i < 4; ++i) q[i] = v[i] & 0x0F0F0F0Fu, q[4 + i] = (v[i] >> 4) & 0x0F0F0F0Fu;
        A = B = sm_f16(p);
        C = D = -8.f * A;
    }
};

// Q4_K: 144 bytes (16-byte aligned here): f16 d, f16 dmin, 12 bytes of 6-bit
// scales and mins, 128 bytes of nibbles (bytes 32c .. 32c + 31: sub-block 2c
// low, 2c + 1 high); w = (d sc) q - dmin m.
template <>
struct Fmt<2> {
    static constexpr int BE = 256, BB = 144;
    static constexpr bool SPLIT = false;
    __device__ static void unit(const u8* p, int j, unsigned (&q)[8], float& A, float& B, float& C, float& D) {
        const uint4 h = *reinterpret_cast<const uint4*>(p);  // d, dmin, scales[12]
        const uint4 v0 = *reinterpret_cast<const uint4*>(p + 16 + 32 * (j >> 1));
        const uint4 v1 = *reinterpret_cast<const uint4*>(p + 32 + 32 * (j >> 1));
        const int sh = 4 * (j & 1);
        const unsigned v[8] = {v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w};
#pragma unroll
        for (int i = 0; i < 8; ++i) q[i] = (v[i] >> sh) & 0x0F0F0F0Fu;
        // scales[0..11] are the bytes of h.y, h.z, h.w: byte j & 3 of each
        // (shifts, not an indexed array, which would live in local memory).
        const int sb = 8 * (j & 3);
        const unsigned by = (h.y >> sb) & 0xFFu, bz = (h.z >> sb) & 0xFFu, bw = (h.w >> sb) & 0xFFu;
        unsigned sc, mn;
        if (j < 4) {
            sc = by & 63u, mn = bz & 63u;
        } else {
            sc = (bw & 15u) | ((by >> 6) << 4);
            mn = (bw >> 4) | ((bz >> 6) << 4);
        }
        const float2 dd = __half22float2(*reinterpret_cast<const __half2*>(&h.x));
        A = B = dd.x * (float)sc;
        C = D = -dd.y * (float)mn;
    }
};

// Q6_K: 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), 16 i8 scales
// (one per 16 elements), f16 d. Sub-block j (elements 32 j ..) is half h =
// j / 4: low nibbles (j / 2) % 2 of ql[64 h + 32 (j % 2) + i], high bits 2 (j
// % 4) of qh[32 h + i]; w = (d scale) (q - 32).
template <>
struct Fmt<3> {
    static constexpr int BE = 256, BB = 210;
    static constexpr bool SPLIT = true;  // a scale per 16 elements
    __device__ static void unit(const u8* p, int j, unsigned (&q)[8], float& A, float& B, float& C, float& D) {
        const int h = j >> 2;
        unsigned lo[8], hi[8];
        words<8>(p + 64 * h + 32 * (j & 1), lo);
        words<8>(p + 128 + 32 * h, hi);
        const int sl = 4 * ((j >> 1) & 1), shh = 2 * (j & 3);
#pragma unroll
        for (int i = 0; i < 8; ++i) q[i] = ((lo[i] >> sl) & 0x0F0F0F0Fu) | (((hi[i] >> shh) & 0x03030303u) << 4);
        const float d = sm_f16(p + 208);
        const unsigned s = *reinterpret_cast<const unsigned short*>(p + 192 + 2 * j);
        A = d * (float)(signed char)(s & 0xFFu);
        B = d * (float)(signed char)(s >> 8);
        C = -32.f * A;
        D = -32.f * B;
    }
};

// ---------------------------------------------------------------- the kernel
template <int F, int N>
__device__ void qgemv_dot(const u8* __restrict__ W, const T* __restrict__ X, T* __restrict__ Y,
                          const QuantParams p) {
    typedef Fmt<F> Q;
    constexpr int UPL = QD_ITER / 32 / 32;            // units per lane per iteration
    constexpr int IB = QD_ITER / Q::BE * Q::BB;      // bytes of one row per iteration
    constexpr int CH = (IB + 14 + 15) / 16;          // chunks covering them (start <= 14 bytes in)
    constexpr int PITCH = CH + 1;                    // + 1: word reads past the end stay in the stage
    constexpr int COPIES = (QD_ROWS * CH + 31) / 32; // 16-byte copies per lane per iteration
    constexpr int STAGE = QD_ROWS * PITCH;           // chunks per stage
    static_assert(QD_ROWS == 2, "the copy slots and row offsets below are written for two rows");

    extern __shared__ uint4 smem[];
    const int units = (int)(p.k / 32);
    // Shared memory: x's quants [N][K] bytes, its unit constants [N][K / 32]
    // (dx, the two sums as i16), then each warp's ring of stages.
    u8* xq = reinterpret_cast<u8*>(smem);
    uint2* xm = reinterpret_cast<uint2*>(xq + N * p.k);
    uint4* ring_all = reinterpret_cast<uint4*>(xq + ((N * p.k + (i64)N * units * 8 + 15) & ~(i64)15));

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    uint4* ring = ring_all + warp * QD_STAGES * STAGE;
    const i64 tiles = (p.m + QD_ROWS - 1) / QD_ROWS;
    const int its = (int)((p.k + QD_ITER - 1) / QD_ITER);
    const i64 tile0 = (i64)blockIdx.x * QD_WARPS + warp, tstride = (i64)gridDim.x * QD_WARPS;

    // Byte offset in W of row r of a tile (rows past M read row M - 1).
    auto row_byte = [&](i64 tile, int r) { return min(tile * QD_ROWS + r, p.m - 1) * p.row_bytes; };

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

    // The copy side of the ring walks (tile, iteration) pairs by counters (no
    // divisions in the loop): ctile < tiles while there is something to copy;
    // cr0, cr1 are the byte offsets of the pair's two rows.
    i64 ctile = tile0, cr0 = row_byte(tile0, 0), cr1 = row_byte(tile0, 1);
    int cit = 0, cstage = 0;
    // Copies the next pair into its stage (nothing past the last tile), then commits a group.
    auto issue = [&]() {
        if (ctile < tiles) {
            uint4* st = ring + cstage * STAGE;
            const i64 b0 = cr0 & ~(i64)15, b1 = cr1 & ~(i64)15;
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
            cr0 += IB, cr1 += IB;
            if (++cit == its) cit = 0, ctile += tstride, cr0 = row_byte(ctile, 0), cr1 = row_byte(ctile, 1);
            cstage = cstage + 1 == QD_STAGES ? 0 : cstage + 1;
        }
        cp_async_commit();
    };

#pragma unroll
    for (int s = 0; s < QD_STAGES - 1; ++s) issue();  // in flight while x is quantized

    // Quantize x: one thread per (token, unit).
    for (int b = threadIdx.x; b < N * units; b += QD_THREADS) {
        const int n = b / units, u = b % units;
        const T* xs = X + n * p.sxn + (i64)u * 32;
        float v[32];
        if ((reinterpret_cast<size_t>(xs) & 15) == 0) {  // 16-byte loads where the row allows
#pragma unroll
            for (int c = 0; c < 32 / VEC; ++c) {
                float f[VEC];
                unpack(reinterpret_cast<const uint4*>(xs)[c], f);
#pragma unroll
                for (int i = 0; i < VEC; ++i) v[c * VEC + i] = f[i];
            }
        } else {
#pragma unroll
            for (int i = 0; i < 32; ++i) v[i] = to_f32(xs[i]);
        }
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
        uint4* dst = reinterpret_cast<uint4*>(xq + n * p.k + (i64)u * 32);
        dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
        dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
        xm[n * units + u] = make_uint2(__float_as_uint(dx), ((unsigned)s0 & 0xFFFFu) | ((unsigned)s1 << 16));
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
    while (tile < tiles) {
        issue();
        cp_async_wait<QD_STAGES - 1>();  // this pair's group is complete (this lane's copies)
        __syncwarp();                    // ... and every lane's

        const u8* st = reinterpret_cast<const u8*>(ring + stage * STAGE);
        const u8* rows[QD_ROWS] = {st + (kr0 & 15), st + 16 * PITCH + (kr1 & 15)};
#pragma unroll
        for (int h = 0; h < UPL; ++h) {
            const int ul = 32 * h + lane;     // the unit within the iteration
            const int u = it * (32 * UPL) + ul;  // ... and within the row
            if (u >= units) break;
            const int j = Q::BE == 32 ? 0 : ul & 7;  // sub-block within a super-block
            const int boff = (Q::BE == 32 ? ul : ul >> 3) * Q::BB;
            unsigned wq[QD_ROWS][8];
            float A[QD_ROWS], B[QD_ROWS], C[QD_ROWS], D[QD_ROWS];
#pragma unroll
            for (int r = 0; r < QD_ROWS; ++r) Q::unit(rows[r] + boff, j, wq[r], A[r], B[r], C[r], D[r]);
#pragma unroll
            for (int n = 0; n < N; ++n) {
                const uint4* xv = reinterpret_cast<const uint4*>(xq + n * p.k + (i64)u * 32);
                const uint4 x0 = xv[0], x1 = xv[1];
                const uint2 m = xm[n * units + u];
                const unsigned xw[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
                const float dx = __uint_as_float(m.x);
                const int slo = (short)(m.y & 0xFFFFu), shi = (short)(m.y >> 16);
#pragma unroll
                for (int r = 0; r < QD_ROWS; ++r) {
                    int lo = 0, hi = 0;
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        lo = __dp4a((int)wq[r][i], (int)xw[i], lo);
                        hi = __dp4a((int)wq[r][4 + i], (int)xw[4 + i], hi);
                    }
                    // One scale for the whole unit (all but Q6_K): one product pair.
                    const float t = Q::SPLIT
                                        ? fmaf(A[r], (float)lo, fmaf(B[r], (float)hi, fmaf(C[r], (float)slo, D[r] * (float)shi)))
                                        : fmaf(A[r], (float)(lo + hi), C[r] * (float)(slo + shi));
                    acc[r][n] = fmaf(dx, t, acc[r][n]);
                }
            }
        }
        __syncwarp();  // every lane is done with this stage before it is refilled
        stage = stage + 1 == QD_STAGES ? 0 : stage + 1;
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
            const i64 row = tile * QD_ROWS + lane / N;
            if (lane < QD_ROWS * N && row < p.m) {
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
    cp_async_wait<0>();  // no copy outlives the CTA (groups past the last tile are empty; this is for form)
}

// ---------------------------------------------------------------- entry points
// qgemv_dot_<format>_n<N>_<dtype>, N = 1 .. 4.
#define QD_NAME_(f, n, dt) qgemv_dot_##f##_n##n##_##dt
#define QD_NAME(f, n, dt) QD_NAME_(f, n, dt)
#define QD_ENTRY(F, f, N)                                                                                     \
    extern "C" __global__ void __launch_bounds__(QD_THREADS, N == 1 ? 8 : 4)                                  \
        QD_NAME(f, N, DT_NAME)(const u8* W, const T* X, T* Y, const QuantParams p) {                       \
        qgemv_dot<F, N>(W, X, Y, p);                                                                          \
    }
#define QD_ALL(F, f) QD_ENTRY(F, f, 1) QD_ENTRY(F, f, 2) QD_ENTRY(F, f, 3) QD_ENTRY(F, f, 4)

QD_ALL(0, q8_0)
QD_ALL(1, q4_0)
QD_ALL(2, q4_k)
QD_ALL(3, q6_k)

// Quantized GEMV for few tokens, built plainly for memory bandwidth:
// y[N, M] = alpha * x[N, K] . dequant(W)[M, K]^T + beta * y with N <= 8 per
// launch (template on N; the host loops over chunks of 8), W in GGML's block
// layout (Q8_0, Q4_0, Q4_K, Q6_K; src/spec/quant.rs is the byte-exact
// reference), x and y of T (this build's dtype), unit column stride, any row
// stride. f32 dequantization and accumulation (any order; not bit-exact with
// the CPU twin); beta == 0 never reads y. Host side: src/ops/quant.rs,
// parameters: QuantRowsParams (Rust twin in src/ops/params.rs). The tensor-
// core kernel for larger N is quant.cu.
//
// Design:
// - A CTA is QR_WARPS = 4 warps; each warp owns QR_ROWS = 2 consecutive rows
//   of W (8 rows per CTA, grid = ceil(M / 8)): M = 4096 gives 512 CTAs,
//   14336 1792, 128256 16032.
// - x is staged once per CTA in (dynamic) shared memory, in its own dtype,
//   K-slice by K-slice: the host picks kc, a multiple of 1024 elements (or K)
//   with N * kc * sizeof(T) <= 32 KB; K <= kc (every decode shape at N = 1 in
//   f16/bf16) is one slice.
// - A "unit" is 32 elements of a row: a Q8_0 / Q4_0 block, or a 32-element
//   sub-block of a Q4_K / Q6_K super-block. A warp iteration covers 32 units
//   (1024 elements) of both its rows, lane l taking unit l of each.
// - Bytes: an iteration's bytes of one row are contiguous, 32 * 34 = 1088
//   (Q8_0), 576 (Q4_0, Q4_K), 840 (Q6_K). The warp loads them for both rows
//   with coalesced 16-byte loads of the aligned chunks that cover them
//   (consecutive lanes, consecutive chunks: 512 contiguous bytes per
//   instruction), CH = ceil((bytes + 14) / 16) = 70, 37, 37, 54 chunks per
//   row, LOADS = ceil(2 CH / 32) = 5, 3, 3, 4 per lane, into registers; it
//   stores them into its own shared-memory slice, and while it computes the
//   iteration from there the next iteration's loads are already in flight
//   (register double buffer).
// - Bytes in flight per warp: 2 rows x iteration bytes = 2.2 KB (Q8_0),
//   1.2 KB (Q4_0, Q4_K), 1.7 KB (Q6_K). Launch bounds allow up to 128
//   registers a thread (N = 8 needs ~100 without spills; N = 1 uses ~64):
//   at 64 an SM holds 8 CTAs = 32 warps, ~70 / 37 / 37 / 54 KB in flight per
//   SM; at 128, 16 warps and half that. An H200 needs about 4.8 TB/s x ~1 us
//   latency / 132 SMs ~ 36 KB per SM.
// - Each lane reads its unit's bytes from the slice with 32-bit shared
//   loads and funnel shifts (blocks are only 2-byte aligned), dequantizes 8
//   elements at a time into f32 (a byte permute into the mantissa of 2^23
//   and one subtraction: no integer conversions), and FMAs them with x from
//   shared memory into acc[row][token] (x's 8 elements are read once for
//   both rows). The warp then reduces acc with shuffles and lane r * N + j
//   writes y[j, row r].
#include "common.cuh"

typedef unsigned char u8;

// Rust twin: QuantRowsParams in src/ops/params.rs.
struct QuantRowsParams {
    i64 m, k, n;    // rows of W, its columns, columns of x and y in this launch (= the template N)
    i64 row_bytes;  // bytes of one row of W: K / block_elems * block_bytes
    i64 buf_bytes;  // readable bytes of W's buffer, a multiple of 16 (loads stay below it)
    i64 sxn, syn;   // row strides of x [n, k] and y [n, m], in elements
    i64 kc;         // elements of x per shared-memory slice: a multiple of 1024, or >= K
    float alpha, beta;
};

constexpr int QR_WARPS = 4;
constexpr int QR_THREADS = 32 * QR_WARPS;
constexpr int QR_ROWS = 2;   // rows per warp
constexpr int QR_ITER = 1024;  // elements of a row per warp iteration (32 units of 32)

// ---------------------------------------------------------------- shared-memory bytes
// 8 bytes at an even byte address p of shared memory (any 4-byte phase).
__device__ __forceinline__ uint2 sm8(const u8* p) {
    const unsigned a = (unsigned)(size_t)p;
    const unsigned* w = reinterpret_cast<const unsigned*>(p - (a & 3u));
    const unsigned sh = 8u * (a & 3u);
    const unsigned w0 = w[0], w1 = w[1];
    const unsigned w2 = sh ? w[2] : 0u;
    return make_uint2(__funnelshift_r(w0, w1, sh), __funnelshift_r(w1, w2, sh));
}
__device__ __forceinline__ unsigned sm16(const u8* p) { return *reinterpret_cast<const unsigned short*>(p); }
__device__ __forceinline__ float sm_f16(const u8* p) { return __half2float(__ushort_as_half((unsigned short)sm16(p))); }

// Byte i of v as the float 2^23 + byte (bits 0x4B0000bb).
__device__ __forceinline__ float byte_f(unsigned v, int i) {
    return __uint_as_float(__byte_perm(v, 0x4B00u, 0x5440u | (unsigned)i));
}

// ---------------------------------------------------------------- formats
// Fmt<F>: BE elements and BB bytes per block; head(p, j, a, b) reads the
// per-unit constants of unit j of the block at p (j = sub-block, 0 for
// Q8_0 / Q4_0); group(p, j, g, a, b, w) dequantizes elements 8g .. 8g + 7 of
// that unit into w.
template <int F>
struct Fmt;

// Q8_0: 34 bytes: f16 d, 32 i8 q; w = d q.
template <>
struct Fmt<0> {
    static constexpr int BE = 32, BB = 34;
    __device__ static void head(const u8* p, int, float& a, float& b) { a = sm_f16(p), b = 0.f; }
    __device__ static void group(const u8* p, int, int g, float a, float, float (&w)[8]) {
        const uint2 v = sm8(p + 2 + 8 * g);
        const unsigned s0 = v.x ^ 0x80808080u, s1 = v.y ^ 0x80808080u;  // i8 + 128
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            w[i] = a * (byte_f(s0, i) - 8388736.f);  // 2^23 + 128
            w[4 + i] = a * (byte_f(s1, i) - 8388736.f);
        }
    }
};

// Q4_0: 18 bytes: f16 d, byte i holds element i (low nibble) and 16 + i
// (high nibble); w = d (q - 8).
template <>
struct Fmt<1> {
    static constexpr int BE = 32, BB = 18;
    __device__ static void head(const u8* p, int, float& a, float& b) { a = sm_f16(p), b = 0.f; }
    __device__ static void group(const u8* p, int, int g, float a, float, float (&w)[8]) {
        const uint2 v = sm8(p + 2 + 8 * (g & 1));
        const int sh = 4 * (g >> 1);
        const unsigned s0 = (v.x >> sh) & 0x0F0F0F0Fu, s1 = (v.y >> sh) & 0x0F0F0F0Fu;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            w[i] = a * (byte_f(s0, i) - 8388616.f);  // 2^23 + 8
            w[4 + i] = a * (byte_f(s1, i) - 8388616.f);
        }
    }
};

// Q4_K: 144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128
// bytes of nibbles (bytes 32c .. 32c + 31: sub-block 2c low, 2c + 1 high);
// w = (d sc) q - dmin m.
template <>
struct Fmt<2> {
    static constexpr int BE = 256, BB = 144;
    __device__ static void head(const u8* p, int j, float& a, float& b) {
        const u8* s = p + 4;
        unsigned sc, mn;
        if (j < 4) {
            sc = s[j] & 63u, mn = s[j + 4] & 63u;
        } else {
            const unsigned md = s[j + 4];
            sc = (md & 15u) | ((unsigned)(s[j - 4] >> 6) << 4);
            mn = (md >> 4) | ((unsigned)(s[j] >> 6) << 4);
        }
        a = sm_f16(p) * (float)sc;
        b = sm_f16(p + 2) * (float)mn;
    }
    __device__ static void group(const u8* p, int j, int g, float a, float b, float (&w)[8]) {
        const uint2 v = sm8(p + 16 + 32 * (j >> 1) + 8 * g);
        const int sh = 4 * (j & 1);
        const unsigned s0 = (v.x >> sh) & 0x0F0F0F0Fu, s1 = (v.y >> sh) & 0x0F0F0F0Fu;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            w[i] = fmaf(a, byte_f(s0, i) - 8388608.f, -b);
            w[4 + i] = fmaf(a, byte_f(s1, i) - 8388608.f, -b);
        }
    }
};

// Q6_K: 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), 16 i8 scales
// (one per 16 elements), f16 d. Sub-block j (elements 32 j ..) is half h =
// j / 4: low nibbles (j / 2) % 2 of ql[64 h + 32 (j % 2) + i], high bits 2 (j
// % 4) of qh[32 h + i]; w = (d scale) (q - 32).
template <>
struct Fmt<3> {
    static constexpr int BE = 256, BB = 210;
    __device__ static void head(const u8* p, int j, float& a, float& b) {
        const float d = sm_f16(p + 208);
        const unsigned s = sm16(p + 192 + 2 * j);
        a = d * (float)(signed char)(s & 0xFFu);
        b = d * (float)(signed char)(s >> 8);
    }
    __device__ static void group(const u8* p, int j, int g, float a, float b, float (&w)[8]) {
        const int h = j >> 2;
        const uint2 lo = sm8(p + 64 * h + 32 * (j & 1) + 8 * g);
        const uint2 hi = sm8(p + 128 + 32 * h + 8 * g);
        const int sl = 4 * ((j >> 1) & 1), shh = 2 * (j & 3);
        const unsigned s0 = ((lo.x >> sl) & 0x0F0F0F0Fu) | (((hi.x >> shh) & 0x03030303u) << 4);
        const unsigned s1 = ((lo.y >> sl) & 0x0F0F0F0Fu) | (((hi.y >> shh) & 0x03030303u) << 4);
        const float s = g < 2 ? a : b;  // elements 0..15 and 16..31 have their own scales
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            w[i] = s * (byte_f(s0, i) - 8388640.f);  // 2^23 + 32
            w[4 + i] = s * (byte_f(s1, i) - 8388640.f);
        }
    }
};

// 8 elements of x at shared address p (16-byte aligned for f16/bf16, 32 for f32).
__device__ __forceinline__ void x8(const T* p, float (&x)[8]) {
#if DK_DTYPE == 2
    const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
    x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w, x[4] = b.x, x[5] = b.y, x[6] = b.z, x[7] = b.w;
#else
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    unpack(v, x);
#endif
}

// ---------------------------------------------------------------- the kernel
template <int F, int N>
__device__ void qgemv_rows(const u8* __restrict__ W, const T* __restrict__ X, T* __restrict__ Y,
                           const QuantRowsParams p) {
    typedef Fmt<F> Q;
    constexpr int IB = QR_ITER / Q::BE * Q::BB;        // bytes of one row per iteration
    constexpr int CH = (IB + 14 + 15) / 16;            // chunks covering them (start <= 14 bytes in)
    constexpr int PITCH = CH + 1;                      // + 1: 8-byte reads past the end stay in the slice
    constexpr int LOADS = (QR_ROWS * CH + 31) / 32;    // 16-byte loads per lane per iteration
    __shared__ uint4 stage[QR_WARPS][QR_ROWS * PITCH];
    extern __shared__ uint4 xs_raw[];
    T* xs = reinterpret_cast<T*>(xs_raw);

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const i64 row0 = ((i64)blockIdx.x * QR_WARPS + warp) * QR_ROWS;
    const i64 units = p.k / 32;
    // Rows past M read row M - 1 (in bounds) and are not stored.
    i64 rbyte[QR_ROWS];
#pragma unroll
    for (int r = 0; r < QR_ROWS; ++r) rbyte[r] = min(row0 + r, p.m - 1) * p.row_bytes;

    // Iteration it's bytes of row r start at rbyte[r] + it * IB.
    auto load = [&](i64 it, uint4 (&reg)[LOADS]) {
#pragma unroll
        for (int i = 0; i < LOADS; ++i) {
            const int c = lane + 32 * i;
            reg[i] = make_uint4(0u, 0u, 0u, 0u);
            if (c < QR_ROWS * CH) {
                const int r = c / CH, ci = c % CH;
                const i64 a = ((rbyte[r] + it * IB) & ~(i64)15) + 16 * ci;
                if (a + 16 <= p.buf_bytes) reg[i] = __ldg(reinterpret_cast<const uint4*>(W + a));
            }
        }
    };

    float acc[QR_ROWS][N];
#pragma unroll
    for (int r = 0; r < QR_ROWS; ++r)
#pragma unroll
        for (int j = 0; j < N; ++j) acc[r][j] = 0.f;

    const u8* slice = reinterpret_cast<const u8*>(stage[warp]);
    for (i64 k0 = 0; k0 < p.k; k0 += p.kc) {
        const i64 kn = min(p.kc, p.k - k0);  // a multiple of 32
        const i64 it0 = k0 / QR_ITER, it1 = (k0 + kn + QR_ITER - 1) / QR_ITER;
        uint4 reg[LOADS];
        load(it0, reg);  // in flight while x is staged
        __syncthreads();  // the previous slice's reads of xs are done
        for (i64 e = threadIdx.x; e < N * kn; e += QR_THREADS) {
            const i64 j = e / kn, kk = e % kn;
            xs[j * kn + kk] = X[j * p.sxn + k0 + kk];
        }
        __syncthreads();
        for (i64 it = it0; it < it1; ++it) {
            __syncwarp();  // the previous iteration's reads of the slice are done
#pragma unroll
            for (int i = 0; i < LOADS; ++i) {
                const int c = lane + 32 * i;
                if (c < QR_ROWS * CH) stage[warp][(c / CH) * PITCH + c % CH] = reg[i];
            }
            __syncwarp();
            if (it + 1 < it1) load(it + 1, reg);  // in flight while this iteration computes

            const i64 u = it * 32 + lane;  // this lane's unit of the row
            if (u >= units) continue;
            const int ul = lane;           // its index within the iteration
            const u8* blk[QR_ROWS];
            float a[QR_ROWS], b[QR_ROWS];
            const int j = Q::BE == 32 ? 0 : ul & 7;  // sub-block within a super-block
            const int boff = (Q::BE == 32 ? ul : ul >> 3) * Q::BB;
#pragma unroll
            for (int r = 0; r < QR_ROWS; ++r) {
                blk[r] = slice + 16 * PITCH * r + ((rbyte[r] + it * IB) & 15) + boff;
                Q::head(blk[r], j, a[r], b[r]);
            }
            const T* xu = xs + (u * 32 - k0);
            // Fully unrolled for few tokens; a loop for many (registers: no spills at N = 8 in f32).
#pragma unroll(N >= 6 ? 1 : 4)
            for (int g = 0; g < 4; ++g) {
                float w[QR_ROWS][8];
#pragma unroll
                for (int r = 0; r < QR_ROWS; ++r) Q::group(blk[r], j, g, a[r], b[r], w[r]);
#pragma unroll
                for (int n = 0; n < N; ++n) {
                    float x[8];
                    x8(xu + n * kn + 8 * g, x);
#pragma unroll
                    for (int r = 0; r < QR_ROWS; ++r)
#pragma unroll
                        for (int i = 0; i < 8; ++i) acc[r][n] = fmaf(w[r][i], x[i], acc[r][n]);
                }
            }
        }
    }

    // Reduce over the lanes; lane r * N + n holds (row r, token n) afterwards.
    float out = 0.f;
#pragma unroll
    for (int r = 0; r < QR_ROWS; ++r)
#pragma unroll
        for (int n = 0; n < N; ++n) {
            float v = acc[r][n];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
            if (lane == r * N + n) out = v;
        }
    if (lane < QR_ROWS * N) {
        const int r = lane / N, n = lane % N;
        const i64 row = row0 + r;
        if (row < p.m) {
            T* y = Y + n * p.syn + row;
            float v = p.alpha * out;
            if (p.beta != 0.f) v += p.beta * to_f32(*y);  // beta == 0 never reads y (it may hold NaN)
            *y = from_f32<T>(v);
        }
    }
}

// ---------------------------------------------------------------- entry points
// qgemv_rows_<format>_n<N>_<dtype>, N = 1 .. 8.
#define QR_NAME_(f, n, dt) qgemv_rows_##f##_n##n##_##dt
#define QR_NAME(f, n, dt) QR_NAME_(f, n, dt)
#define QR_ENTRY(F, f, N)                                                                                     \
    extern "C" __global__ void __launch_bounds__(QR_THREADS, 4)                                               \
        QR_NAME(f, N, DT_NAME)(const u8* W, const T* X, T* Y, const QuantRowsParams p) {                      \
        qgemv_rows<F, N>(W, X, Y, p);                                                                         \
    }
#define QR_ALL(F, f)                                                                                          \
    QR_ENTRY(F, f, 1) QR_ENTRY(F, f, 2) QR_ENTRY(F, f, 3) QR_ENTRY(F, f, 4) QR_ENTRY(F, f, 5) QR_ENTRY(F, f, 6) \
        QR_ENTRY(F, f, 7) QR_ENTRY(F, f, 8)

QR_ALL(0, q8_0)
QR_ALL(1, q4_0)
QR_ALL(2, q4_k)
QR_ALL(3, q6_k)

// Quantized GEMV: y[N, M] = alpha * x[N, K] . dequant(W)[M, K]^T + beta * y,
// W in GGML's block layout (Q8_0, Q4_0, Q4_K, Q6_K; src/spec/quant.rs is the
// byte-exact reference), row-major: row m is K / block_elems consecutive
// blocks. x and y are T (this build's dtype), unit column stride, any row
// stride; at most 16 columns per launch (the host loops over chunks of 16).
// f32 accumulation; beta == 0 never reads y.
//
// Compiled once per element type (DK_DTYPE as in gemv.cu); host side:
// src/ops/quant.rs, parameters: QuantParams (Rust twin in src/ops/params.rs).
//
// Design (memory-bound: every byte of W is read once, x stays in L1/L2):
// - A CTA of 4 warps owns 16 rows; its warps split K in steps of 256
//   elements (step s goes to warp s % 4), then add their partial tiles in
//   shared memory and write y. M = 4096 gives 256 CTAs, M = 14336 896.
// - Bytes per row per step: Q8_0 8 x 34 = 272, Q4_0 8 x 18 = 144, Q4_K 144,
//   Q6_K 210 (4.25, 4.5, 4.5 and 6.56 bits per weight with the scales). Only
//   Q4_K keeps a row's step 16-byte aligned, so a warp stages each of its 16
//   rows' step through its own shared-memory slice as a byte stream: the
//   16-byte-aligned chunks that cover it (the step starts at most 14 bytes
//   into its first chunk), CHUNKS = ceil((step bytes + 14) / 16) = 18, 10, 10,
//   14 per row, loaded with coalesced 16-byte loads, LOADS = 16 x CHUNKS / 32
//   = 9, 5, 5, 7 per lane. The next step's chunks are loaded into registers
//   while this step is computed from shared memory (one step in flight per
//   warp: 4.6 / 2.5 / 2.5 / 3.6 KB). Rows of the slice are CHUNKS + 1
//   chunks apart, so the 8 rows one shared-memory read touches fall in
//   distinct banks.
// - Tensor cores (mma m16n8k16, f32 accumulate) multiply. Within 16
//   consecutive elements every format has one scale per row, so each k16
//   step is an mma of the raw integer quants (exact in f16 and bf16: |q| <=
//   128 after the offset) with x, whose f32 result the lane scales by its two
//   rows' scales into its accumulators: acc += d * sum(q x). Q4_K's min term
//   is a second mma with the 6-bit min as A: acc -= dmin * sum(m x). So the
//   products are exact and only f32 sums round, as in an FMA loop. The K
//   order inside a k16 step does not matter: lane (g = lane / 4, t = lane % 4)
//   gives fragment positions {2t, 2t+1, 2t+8, 2t+9} elements 4t..4t+3 of rows
//   g and g+8 and of x's column g, for A and B alike.
// - Quants become f16 (bf16) pairs by a byte permute into 0x64bb (0x43bb),
//   i.e. 1024 + b (128 + b), and one paired subtraction; Q8_0's full byte
//   range in bf16 goes through f32.
// - f16 and bf16 builds feed x as it is (A in the same type). The f32 build
//   splits x into three bf16 parts (hi + mid + lo hold all 24 bits) and runs
//   three mmas against bf16 quants: f32 precision, on tensor cores.
// - N <= 8 uses one n-tile of 8 columns, N <= 16 two; columns past N read
//   nothing and are not stored.
#include "common.cuh"

typedef unsigned char u8;

// Parameters: QuantParams (common.cuh).

constexpr int QG_WARPS = 4;
constexpr int QG_THREADS = 32 * QG_WARPS;
constexpr int STEP = 256;  // elements per step: 8 blocks of Q8_0/Q4_0, one super-block of Q4_K/Q6_K

// ---------------------------------------------------------------- shared-memory reads
// Staged bytes are only 2-byte aligned in general (34-, 18- and 210-byte blocks).
__device__ __forceinline__ unsigned ld_u16(const u8* p) { return *reinterpret_cast<const unsigned short*>(p); }
__device__ __forceinline__ unsigned ld_u32(const u8* p) { return ld_u16(p) | (ld_u16(p + 2) << 16); }
__device__ __forceinline__ float ld_f16(const u8* p) {
    return __half2float(__ushort_as_half((unsigned short)ld_u16(p)));
}

// ---------------------------------------------------------------- formats
// Sub(p, j, t): elements 16 j + 4 t .. + 3 of the step whose bytes start at
// p: q holds the four quants as bytes biased to be unsigned (value = byte -
// OFF), s the scale of those 16 elements; Q4_K also gives its min m and dmin
// (w = s q - dmin m).
struct Sub {
    unsigned q;
    float s;
    unsigned m;
    float dmin;
};

template <int F>
struct Fmt;

// Q8_0: blocks of 32 in 34 bytes: f16 d, 32 i8.
template <>
struct Fmt<0> {
    static constexpr int BLOCK_ELEMS = 32, BLOCK_BYTES = 34, OFF = 128;
    static constexpr bool WIDE = true, MIN = false;  // WIDE: bytes use all 8 bits
    __device__ static Sub sub(const u8* p, int j, int t) {
        const u8* b = p + 34 * (j >> 1);
        return {ld_u32(b + 2 + 16 * (j & 1) + 4 * t) ^ 0x80808080u, ld_f16(b), 0u, 0.f};
    }
};

// Q4_0: blocks of 32 in 18 bytes: f16 d, then byte i holds element i (low
// nibble) and 16 + i (high nibble).
template <>
struct Fmt<1> {
    static constexpr int BLOCK_ELEMS = 32, BLOCK_BYTES = 18, OFF = 8;
    static constexpr bool WIDE = false, MIN = false;
    __device__ static Sub sub(const u8* p, int j, int t) {
        const u8* b = p + 18 * (j >> 1);
        return {(ld_u32(b + 2 + 4 * t) >> (4 * (j & 1))) & 0x0F0F0F0Fu, ld_f16(b), 0u, 0.f};
    }
};

// Q4_K: 256 in 144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales and
// mins, 128 bytes of nibbles (bytes 32c..32c+31: sub-block 2c low, 2c+1 high).
template <>
struct Fmt<2> {
    static constexpr int BLOCK_ELEMS = 256, BLOCK_BYTES = 144, OFF = 0;
    static constexpr bool WIDE = false, MIN = true;
    __device__ static Sub sub(const u8* p, int j, int t) {
        const int sb = j >> 1;  // sub-block of 32
        const u8* s = p + 4;
        unsigned sc, mn;
        if (sb < 4) {
            sc = s[sb] & 63u;
            mn = s[sb + 4] & 63u;
        } else {
            const unsigned md = s[sb + 4];
            sc = (md & 15u) | ((unsigned)(s[sb - 4] >> 6) << 4);
            mn = (md >> 4) | ((unsigned)(s[sb] >> 6) << 4);
        }
        const unsigned w = ld_u32(p + 16 + 32 * (sb >> 1) + 16 * (j & 1) + 4 * t);
        return {(w >> (4 * (sb & 1))) & 0x0F0F0F0Fu, ld_f16(p) * (float)sc, mn, ld_f16(p + 2)};
    }
};

// Q6_K: 256 in 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), 16 i8
// scales (one per 16 elements), f16 d. Element e = 128 h + r: low nibble r / 64
// of ql[64 h + r % 64], high bits 2 (r / 32) of qh[32 h + r % 32].
template <>
struct Fmt<3> {
    static constexpr int BLOCK_ELEMS = 256, BLOCK_BYTES = 210, OFF = 32;
    static constexpr bool WIDE = false, MIN = false;
    __device__ static Sub sub(const u8* p, int j, int t) {
        const int h = j >> 3, r = 16 * (j & 7) + 4 * t;
        const unsigned lo = (ld_u32(p + 64 * h + (r & 63)) >> (4 * (r >> 6))) & 0x0F0F0F0Fu;
        const unsigned hi = (ld_u32(p + 128 + 32 * h + (r & 31)) >> (2 * (r >> 5))) & 0x03030303u;
        return {lo | (hi << 4), ld_f16(p + 208) * (float)(signed char)p[192 + j], 0u, 0.f};
    }
};

// ---------------------------------------------------------------- tensor-core operands
// The A operand's type: f16 in the f16 build, bf16 otherwise (x's own type,
// or the parts of an f32 x).
__device__ __forceinline__ void qmma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
#if DK_DTYPE == 0
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

__device__ __forceinline__ unsigned bits(__half2 v) { return *reinterpret_cast<unsigned*>(&v); }
__device__ __forceinline__ unsigned bits(__nv_bfloat162 v) { return *reinterpret_cast<unsigned*>(&v); }

// Four biased bytes q (value = byte - OFF) as two A-type pairs: lo = bytes 0, 1; hi = bytes 2, 3.
template <int OFF, bool WIDE>
__device__ __forceinline__ void quant_pairs(unsigned q, unsigned& lo, unsigned& hi) {
#if DK_DTYPE == 0
    // 0x64bb is half(1024 + b), exact for b < 1024.
    const __half2 off = __floats2half2_rn(1024.f + OFF, 1024.f + OFF);
    unsigned l = __byte_perm(q, 0x64646464u, 0x4140), h = __byte_perm(q, 0x64646464u, 0x4342);
    lo = bits(__hsub2(*reinterpret_cast<__half2*>(&l), off));
    hi = bits(__hsub2(*reinterpret_cast<__half2*>(&h), off));
#else
    if (WIDE) {
        // bf16 holds 128 + b exactly only for b < 128: go through f32 (2^23 + b).
        float f[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) f[i] = __uint_as_float(0x4B000000u | ((q >> (8 * i)) & 0xFFu)) - (8388608.f + OFF);
        lo = bits(__floats2bfloat162_rn(f[0], f[1]));
        hi = bits(__floats2bfloat162_rn(f[2], f[3]));
    } else {
        // 0x43bb is bf16(128 + b), exact for b < 128.
        const __nv_bfloat162 off = __floats2bfloat162_rn(128.f + OFF, 128.f + OFF);
        unsigned l = __byte_perm(q, 0x43434343u, 0x4140), h = __byte_perm(q, 0x43434343u, 0x4342);
        lo = bits(__hsub2(*reinterpret_cast<__nv_bfloat162*>(&l), off));
        hi = bits(__hsub2(*reinterpret_cast<__nv_bfloat162*>(&h), off));
    }
#endif
}

// A pair of two copies of a small integer m (Q4_K's min, < 64).
__device__ __forceinline__ unsigned const_pair(unsigned m) {
#if DK_DTYPE == 0
    return bits(__floats2half2_rn((float)m, (float)m));
#else
    return bits(__floats2bfloat162_rn((float)m, (float)m));
#endif
}

// B parts: x itself for f16/bf16, hi + mid + lo bf16 parts of an f32 x.
constexpr int BP = DK_DTYPE == 2 ? 3 : 1;

// x[k .. k + 3] of one column as B fragments b[part][0] (elements 0, 1) and [1] (2, 3).
__device__ __forceinline__ void load_b(const T* __restrict__ xr, i64 k, bool ok, bool vec, unsigned (&b)[BP][2]) {
#if DK_DTYPE == 2
    float v[4] = {0.f, 0.f, 0.f, 0.f};
    if (ok) {
        if (vec) {
            const float4 f = __ldg(reinterpret_cast<const float4*>(xr + k));
            v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
        } else {
#pragma unroll
            for (int i = 0; i < 4; ++i) v[i] = __ldg(xr + k + i);
        }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float r0 = v[2 * h], r1 = v[2 * h + 1];
#pragma unroll
        for (int part = 0; part < 3; ++part) {
            const __nv_bfloat162 pb = __floats2bfloat162_rn(r0, r1);
            b[part][h] = bits(pb);
            r0 -= __low2float(pb);  // exact: the residual of a round to nearest
            r1 -= __high2float(pb);
        }
    }
#else
    if (!ok) {
        b[0][0] = b[0][1] = 0u;
    } else if (vec) {
        const uint2 u = __ldg(reinterpret_cast<const uint2*>(xr + k));
        b[0][0] = u.x, b[0][1] = u.y;
    } else {
        const unsigned short* e = reinterpret_cast<const unsigned short*>(xr + k);
        b[0][0] = (unsigned)__ldg(e) | ((unsigned)__ldg(e + 1) << 16);
        b[0][1] = (unsigned)__ldg(e + 2) | ((unsigned)__ldg(e + 3) << 16);
    }
#endif
}

// ---------------------------------------------------------------- the kernel
template <int F, int NT>
__device__ void quant_gemv(const u8* __restrict__ W, const T* __restrict__ X, T* __restrict__ Y, const QuantParams p) {
    typedef Fmt<F> Q;
    constexpr int STEP_BLOCKS = STEP / Q::BLOCK_ELEMS;
    constexpr int STEP_BYTES = STEP_BLOCKS * Q::BLOCK_BYTES;
    constexpr int CHUNKS = (STEP_BYTES + 14 + 15) / 16;  // a step starts at most 14 bytes into its first chunk
    constexpr int PITCH = CHUNKS + 1;                    // chunks per staged row: staggers the rows' banks
    constexpr int LOADS = (16 * CHUNKS + 31) / 32;       // 16-byte loads per lane per step
    constexpr int WT = 8 * NT, TILE = 16 * WT;
    __shared__ uint4 stage[QG_WARPS][16 * PITCH];
    __shared__ float red[QG_WARPS][TILE];

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const i64 row0 = (i64)blockIdx.x * 16;
    const i64 nb = p.k / Q::BLOCK_ELEMS;
    const i64 steps = (nb + STEP_BLOCKS - 1) / STEP_BLOCKS;
    // Rows past M read row M - 1 (in bounds) and are not stored.
    auto row_byte = [&](int r) { return min(row0 + r, p.m - 1) * p.row_bytes; };

    auto load = [&](i64 s, uint4 (&reg)[LOADS]) {
#pragma unroll
        for (int i = 0; i < LOADS; ++i) {
            const int c = lane + 32 * i;
            reg[i] = make_uint4(0u, 0u, 0u, 0u);
            if (c < 16 * CHUNKS) {
                const int r = c / CHUNKS, ci = c % CHUNKS;
                const i64 a = ((row_byte(r) + s * STEP_BYTES) & ~(i64)15) + 16 * ci;
                if (a + 16 <= p.buf_bytes) reg[i] = __ldg(reinterpret_cast<const uint4*>(W + a));
            }
        }
    };

    const T* xcol[NT];
    bool xok[NT];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
        xok[nt] = 8 * nt + g < p.n;
        xcol[nt] = X + (xok[nt] ? 8 * nt + g : 0) * p.sxn;
    }
    const bool vec = p.x_vec != 0;
    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;

    const u8* slice = reinterpret_cast<const u8*>(stage[warp]);
    uint4 reg[LOADS];
    if (warp < steps) load(warp, reg);
    for (i64 s = warp; s < steps; s += QG_WARPS) {
        __syncwarp();  // the previous step's reads of the slice are done
#pragma unroll
        for (int i = 0; i < LOADS; ++i) {
            const int c = lane + 32 * i;
            if (c < 16 * CHUNKS) stage[warp][(c / CHUNKS) * PITCH + c % CHUNKS] = reg[i];
        }
        __syncwarp();
        if (s + QG_WARPS < steps) load(s + QG_WARPS, reg);  // in flight while this step computes

        const u8* plo = slice + 16 * PITCH * g + ((row_byte(g) + s * STEP_BYTES) & 15);
        const u8* phi = slice + 16 * PITCH * (g + 8) + ((row_byte(g + 8) + s * STEP_BYTES) & 15);
        // k16 steps with data: all 16 but in a last partial step of Q8_0/Q4_0.
        const int jn = (int)min((i64)16, (nb - s * STEP_BLOCKS) * Q::BLOCK_ELEMS / 16);
        const i64 kb = s * STEP;
        // 2 k16 steps per unrolled body: Q4_0's paired steps share their quant
        // bytes (low and high nibbles), and registers stay within the 128 of
        // 4 CTAs per SM without spills (4 steps spilled in the f32 builds).
#pragma unroll 2
        for (int j = 0; j < 16; ++j) {
            if (j >= jn) break;
            const Sub lo = Q::sub(plo, j, t), hi = Q::sub(phi, j, t);
            unsigned a[4];
            quant_pairs<Q::OFF, Q::WIDE>(lo.q, a[0], a[2]);
            quant_pairs<Q::OFF, Q::WIDE>(hi.q, a[1], a[3]);
            unsigned am[4];
            if (Q::MIN) {
                am[0] = am[2] = const_pair(lo.m);
                am[1] = am[3] = const_pair(hi.m);
            }
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
                unsigned b[BP][2];
                load_b(xcol[nt], kb + 16 * j + 4 * t, xok[nt], vec, b);
                float c[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
                for (int part = 0; part < BP; ++part) qmma(c, a, b[part][0], b[part][1]);
                acc[nt][0] = fmaf(lo.s, c[0], acc[nt][0]);
                acc[nt][1] = fmaf(lo.s, c[1], acc[nt][1]);
                acc[nt][2] = fmaf(hi.s, c[2], acc[nt][2]);
                acc[nt][3] = fmaf(hi.s, c[3], acc[nt][3]);
                if (Q::MIN) {
                    float cm[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
                    for (int part = 0; part < BP; ++part) qmma(cm, am, b[part][0], b[part][1]);
                    acc[nt][0] = fmaf(-lo.dmin, cm[0], acc[nt][0]);
                    acc[nt][1] = fmaf(-lo.dmin, cm[1], acc[nt][1]);
                    acc[nt][2] = fmaf(-hi.dmin, cm[2], acc[nt][2]);
                    acc[nt][3] = fmaf(-hi.dmin, cm[3], acc[nt][3]);
                }
            }
        }
    }

    // Fragment: acc[nt][0..1] = row g, columns 8 nt + 2t, +1; [2..3] = row g + 8.
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i) red[warp][(g + 8 * (i >> 1)) * WT + 8 * nt + 2 * t + (i & 1)] = acc[nt][i];
    __syncthreads();
    for (int e = threadIdx.x; e < TILE; e += blockDim.x) {
        const i64 row = row0 + e / WT;
        const int col = e % WT;
        if (row >= p.m || col >= p.n) continue;
        float v = 0.f;
#pragma unroll
        for (int w = 0; w < QG_WARPS; ++w) v += red[w][e];  // warp (K) order: deterministic
        T* out = Y + col * p.syn + row;
        v *= p.alpha;
        if (p.beta != 0.f) v += p.beta * to_f32(*out);  // beta == 0 never reads y (it may hold NaN)
        *out = from_f32<T>(v);
    }
}

// ---------------------------------------------------------------- entry points
// qgemv_<format>_nt<1|2>_<dtype>: NT n-tiles of 8 columns (N <= 8 or N <= 16).
#define QG_NAME_(f, nt, dt) qgemv_##f##_nt##nt##_##dt
#define QG_NAME(f, nt, dt) QG_NAME_(f, nt, dt)
#define QG_ENTRY(F, f, NT)                                                                                      \
    extern "C" __global__ void __launch_bounds__(QG_THREADS, 4)                                                 \
        QG_NAME(f, NT, DT_NAME)(const u8* W, const T* X, T* Y, const QuantParams p) {                           \
        quant_gemv<F, NT>(W, X, Y, p);                                                                          \
    }
#define QG_BOTH(F, f) QG_ENTRY(F, f, 1) QG_ENTRY(F, f, 2)

QG_BOTH(0, q8_0)
QG_BOTH(1, q4_0)
QG_BOTH(2, q4_k)
QG_BOTH(3, q6_k)

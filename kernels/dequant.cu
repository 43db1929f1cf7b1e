// Dequantization of a GGML block matrix (Q8_0, Q4_0, Q4_K, Q6_K) into a dense
// matrix of T (this build's dtype): what a prefill-sized matmul on quantized
// weights multiplies (the decode GEMV reads the blocks directly, quant.cu).
// Every value is the f32 of src/spec/quant.rs (and of gguf.quants.dequantize)
// bit for bit, rounded once to T: the products and differences are single
// f32 operations in the reference's order, never contracted into an FMA
// (hence the __fmul_rn / __fsub_rn).
//
// One thread per group of 32 consecutive elements of a row (a Q8_0 or Q4_0
// block, or one sub-block of a Q4_K / Q6_K super-block); it writes the 32
// outputs. Compiled once per element type (DK_DTYPE); host: src/ops/quant.rs.
#include "common.cuh"

typedef unsigned char u8;

#define DK_CAT_(a, b) a##_##b
#define DK_CAT(a, b) DK_CAT_(a, b)

__device__ __forceinline__ float half_at(const u8* b) {
    return __half2float(__ushort_as_half((unsigned short)(b[0] | (b[1] << 8))));
}

// Q8_0: 34-byte blocks: f16 d, 32 i8 q; x = q * d.
__device__ __forceinline__ void group_q8_0(const u8* blk, float* v) {
    const float d = half_at(blk);
#pragma unroll
    for (int i = 0; i < 32; ++i) v[i] = __fmul_rn((float)(signed char)blk[2 + i], d);
}

// Q4_0: 18-byte blocks: f16 d, 16 bytes; element i < 16 the low nibble of byte
// i, 16 + i its high nibble; x = d * (nibble - 8).
__device__ __forceinline__ void group_q4_0(const u8* blk, float* v) {
    const float d = half_at(blk);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
        const u8 q = blk[2 + i];
        v[i] = __fmul_rn(d, (float)((int)(q & 15) - 8));
        v[16 + i] = __fmul_rn(d, (float)((int)(q >> 4) - 8));
    }
}

// Q4_K sub-block j of a 144-byte super-block: x = (d * sc) * q - (dmin * m).
__device__ __forceinline__ void group_q4_k(const u8* sb, int j, float* v) {
    const float d = half_at(sb), dmin = half_at(sb + 2);
    const u8* s = sb + 4;
    unsigned sc, m;
    if (j < 4) {
        sc = s[j] & 63, m = s[4 + j] & 63;
    } else {
        const unsigned md = s[8 + j - 4];
        sc = (md & 15) | ((s[j - 4] >> 2) & 48);
        m = (md >> 4) | ((s[j] >> 2) & 48);
    }
    const float dj = __fmul_rn(d, (float)sc), mj = __fmul_rn(dmin, (float)m);
    const u8* q = sb + 16 + 32 * (j / 2);
    const int shift = 4 * (j % 2);
#pragma unroll
    for (int i = 0; i < 32; ++i) v[i] = __fsub_rn(__fmul_rn(dj, (float)((q[i] >> shift) & 15)), mj);
}

// Q6_K elements 32 j .. 32 j + 32 of a 210-byte super-block (ql 128, qh 64,
// 16 i8 scales, f16 d): x = (d * scale[e / 16]) * (q - 32).
__device__ __forceinline__ void group_q6_k(const u8* sb, int j, float* v) {
    const float d = half_at(sb + 208);
    const int h = j / 4;              // half of 128 elements
    const int r0 = 32 * (j % 4);      // first element within the half
    const u8* ql = sb + 64 * h;
    const u8* qh = sb + 128 + 32 * h;
    const signed char* sc = (const signed char*)(sb + 192);
#pragma unroll
    for (int i = 0; i < 32; ++i) {
        const int r = r0 + i, e = 128 * h + r;
        const int lo = (ql[r % 64] >> (4 * (r / 64))) & 15;
        const int hi = (qh[r % 32] >> (2 * (r / 32))) & 3;
        v[i] = __fmul_rn(__fmul_rn(d, (float)sc[e / 16]), (float)((lo | (hi << 4)) - 32));
    }
}

// kind: 0 Q8_0, 1 Q4_0, 2 Q4_K, 3 Q6_K (src/ops/quant.rs: dequant_kind).
// out [rows, cols] with unit column stride and row stride s_out;
// groups = rows * cols / 32; row_bytes = the bytes of one row of blocks.
extern "C" __global__ void DK_CAT(dequant, DT_NAME)(const u8* __restrict__ w, T* __restrict__ out, i64 groups,
                                                    i64 groups_per_row, i64 row_bytes, i64 s_out, int kind) {
    const i64 g = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    const i64 row = g / groups_per_row, gc = g % groups_per_row;
    const u8* r = w + row * row_bytes;
    float v[32];
    switch (kind) {
        case 0: group_q8_0(r + gc * 34, v); break;
        case 1: group_q4_0(r + gc * 18, v); break;
        case 2: group_q4_k(r + (gc / 8) * 144, (int)(gc % 8), v); break;
        default: group_q6_k(r + (gc / 8) * 210, (int)(gc % 8), v); break;
    }
    T* o = out + row * s_out + gc * 32;
#pragma unroll
    for (int i = 0; i < 32; ++i) o[i] = from_f32<T>(v[i]);
}

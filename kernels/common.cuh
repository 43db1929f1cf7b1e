// Shared by every kernel source: element types, conversions, small structs
// whose layout matches their Rust twins (src/runtime, src/ops).
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>

typedef long long i64;

// The element type of a per-dtype build (src/runtime/kernels.rs: DTYPE_*):
// DK_DTYPE 0 is f16, 1 bf16, 2 f32. T is the type, DT_NAME the kernel-name suffix.
#ifdef DK_DTYPE
#if DK_DTYPE == 0
typedef __half T;
#define DT_NAME f16
#elif DK_DTYPE == 1
typedef __nv_bfloat16 T;
#define DT_NAME bf16
#else
typedef float T;
#define DT_NAME f32
#endif
#endif

// NVRTC has no math.h: infinity from its bit pattern.
#define INFINITY __int_as_float(0x7f800000)

// Up to 4 dimensions, outermost first; unused leading dims are 1 (Rust: Dims4).
struct Dims4 {
    i64 v[4];
};

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// Offset (in elements) of logical element `i` of a 4-D view.
__device__ __forceinline__ i64 offset_of(i64 i, const Dims4& shape, const Dims4& stride) {
    i64 off = 0;
#pragma unroll
    for (int d = 3; d >= 0; --d) {
        const i64 n = shape.v[d];
        off += (i % n) * stride.v[d];
        i /= n;
    }
    return off;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// y = x converted to y's type, both views of any strides (4-D, outermost first).
#include "common.cuh"

template <typename TI, typename TO>
__device__ void copy_strided(const TI* __restrict__ x, TO* __restrict__ y, Dims4 shape, Dims4 xs, Dims4 ys, i64 n) {
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
        y[offset_of(i, shape, ys)] = from_f32<TO>(to_f32(x[offset_of(i, shape, xs)]));
    }
}

#define DK_COPY(NAME_IN, TI, NAME_OUT, TO)                                                              \
    extern "C" __global__ void copy_##NAME_IN##_##NAME_OUT(const TI* __restrict__ x, TO* __restrict__ y, \
                                                           Dims4 shape, Dims4 xs, Dims4 ys, i64 n) {    \
        copy_strided<TI, TO>(x, y, shape, xs, ys, n);                                                   \
    }

DK_COPY(f16, __half, f16, __half)
DK_COPY(f16, __half, bf16, __nv_bfloat16)
DK_COPY(f16, __half, f32, float)
DK_COPY(bf16, __nv_bfloat16, f16, __half)
DK_COPY(bf16, __nv_bfloat16, bf16, __nv_bfloat16)
DK_COPY(bf16, __nv_bfloat16, f32, float)
DK_COPY(f32, float, f16, __half)
DK_COPY(f32, float, bf16, __nv_bfloat16)
DK_COPY(f32, float, f32, float)

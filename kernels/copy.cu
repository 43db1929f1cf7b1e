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

// out[r, :] = table[ids[r], :] (one CTA per row r; rows of `cols` elements,
// unit stride along them). An id outside [0, rows of table) writes a row of
// NaN: the ids may come from the device (a sampled token), where no error can
// be raised, and NaN logits downstream are reported by the sampler.
template <typename T>
__device__ void gather_rows(const T* __restrict__ table, const int* __restrict__ ids, T* __restrict__ out,
                            i64 table_rows, i64 cols, i64 s_table, i64 s_out) {
    const i64 r = blockIdx.x;
    const i64 id = ids[r];
    T* dst = out + r * s_out;
    if (id < 0 || id >= table_rows) {
        for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = from_f32<T>(__int_as_float(0x7fc00000));
        return;
    }
    const T* src = table + id * s_table;
    for (i64 c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = src[c];
}

#define DK_GATHER(NAME, T)                                                                                 \
    extern "C" __global__ void gather_rows_##NAME(const T* __restrict__ table, const int* __restrict__ ids, \
                                                  T* __restrict__ out, i64 table_rows, i64 cols, i64 s_table,  \
                                                  i64 s_out) {                                              \
        gather_rows<T>(table, ids, out, table_rows, cols, s_table, s_out);                                  \
    }

DK_GATHER(f16, __half)
DK_GATHER(bf16, __nv_bfloat16)
DK_GATHER(f32, float)

// The positions and cache lengths of a ragged decode step, kept on the device
// so that a step queued before the host has read the previous step's tokens
// (or replayed from a graph) needs no host write: for every sequence b < n,
// fed (live[b] != 0 and lens[b] < parked, its cache capacity):
// positions[b] = lens[b], kv_lens[b] = lens[b] + 1, lens[b] += 1; else
// positions[b] = parked, kv_lens[b] = 0 (nothing read or written for it).
extern "C" __global__ void step_positions(int* __restrict__ lens, const int* __restrict__ live,
                                          int* __restrict__ positions, int* __restrict__ kv_lens, int n,
                                          int parked) {
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= n) return;
    const int len = lens[b];
    if (live[b] != 0 && len >= 0 && len < parked) {
        positions[b] = len;
        kv_lens[b] = len + 1;
        lens[b] = len + 1;
    } else {
        positions[b] = parked;
        kv_lens[b] = 0;
    }
}

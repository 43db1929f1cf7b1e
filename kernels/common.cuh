// Shared by every kernel source: element types, conversions, small structs
// whose layout matches their Rust twins (src/runtime, src/ops), and the device
// helpers more than one kernel family uses (tensor-core step, warp and CTA
// reductions, split-K's last-CTA reduction), so each exists once.
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

#ifdef DK_DTYPE
// Elements of T in one 16-byte (uint4) load or store: 8 for f16 and bf16, 4 for f32.
constexpr int VEC = 16 / sizeof(T);

// The VEC elements of a 16-byte load, widened to f32.
__device__ __forceinline__ void unpack(const uint4& v, float (&f)[VEC]) {
    const T* e = reinterpret_cast<const T*>(&v);
#pragma unroll
    for (int i = 0; i < VEC; ++i) f[i] = to_f32(e[i]);
}

// unpack() for a weight stream: bf16 is the top half of an f32, so a shift
// (the low element of each word) and a mask (the high one) give the same
// bits as __bfloat162float in one integer op each, where the intrinsic goes
// through a 16-bit move and a PRMT per element. Used where the weights are
// the loop's only wide operand (gemv_veck's rows). Applied to every operand
// it cost gemv_veckrope_n1_bf16 8 registers (32 -> 40) and llama3-8b's bf16
// step 23 us (H200, 2026-11-30); on the weights alone it gains 9-11 us.
__device__ __forceinline__ void unpack_weights(const uint4& v, float (&f)[VEC]) {
#if DK_DTYPE == 1
    const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        f[2 * i] = __uint_as_float(w[i] << 16);
        f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
#else
    unpack(v, f);
#endif
}
#endif

#if defined(DK_DTYPE) && DK_DTYPE != 2
// One tensor-core step, D = A B + D: A is 16x16 (row-major fragment a0..a3),
// B 16x8 (column-major fragment b0, b1), D 16x8 in f32. The operands are T
// (f16 or bf16, two per register); f32 builds have no tensor-core variants.
// Fragment layouts: PTX ISA, "Matrix Fragments for mma.m16n8k16".
__device__ __forceinline__ void mma16816(float (&d)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                                         unsigned b1) {
#if DK_DTYPE == 0
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
}
// The same with the A fragment as loaded by ldmatrix.x4 (sdpa.cu).
__device__ __forceinline__ void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    mma16816(d, a[0], a[1], a[2], a[3], b0, b1);
}
#endif

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

// ---------------------------------------------------------------- reductions
// Over aligned groups of G lanes (G a power of two up to 32): xor shuffles with
// offsets below G stay inside the group, and every lane of it gets the result.
template <int G>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
    for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
template <int G>
__device__ __forceinline__ float group_max(float v) {
#pragma unroll
    for (int o = G / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_sum(float v) { return group_sum<32>(v); }
__device__ __forceinline__ float warp_max(float v) { return group_max<32>(v); }

// Over the CTA (1-D, blockDim.x <= 1024): every thread gets the result. `smem`
// is 32 floats of shared memory owned by the caller, so a kernel that reduces
// twice (a max, then a sum) spends 128 bytes, not 128 per reduction. Every
// thread must call (two barriers inside). The leading barrier lets one buffer
// serve successive calls: the previous call's readers are done before it is
// overwritten.
template <bool MAX>
__device__ __forceinline__ float block_reduce(float v, float* smem) {
    const float identity = MAX ? -INFINITY : 0.f;
    v = MAX ? warp_max(v) : warp_sum(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    v = lane < warps ? smem[lane] : identity;
    return MAX ? warp_max(v) : warp_sum(v);
}
__device__ __forceinline__ float block_sum(float v, float* smem) { return block_reduce<false>(v, smem); }
__device__ __forceinline__ float block_max(float v, float* smem) { return block_reduce<true>(v, smem); }

// ---------------------------------------------------------------- split-K: the last CTA reduces
// Kernels that split a reduction over several CTAs in one launch (gemv.cu's
// split-K over grid.y, sdpa.cu's split-KV over grid.x) let the last CTA to
// finish a tile combine the partials, instead of a second launch. Each CTA
// first writes its partial to global memory, then calls this with the tile's
// arrival counter (counters[slot], zero before the first arrival) and the
// number of splits. The last CTA to arrive runs `reduce()` in all of its
// threads (so it may use barriers), with every split's partial visible to
// them, re-arms the counter (back to 0, so the next launch needs no memset)
// and returns true; every other CTA returns false at once. Every thread of
// the CTA (1-D or 2-D) must call.
//
// The re-arm comes after `reduce`, as the kernels always had it: storing it
// right after the count kept the counter's address live across the reduction
// and cost gemv_vecm_n1 6 registers (a step down in occupancy) for nothing.
template <typename Reduce>
__device__ __forceinline__ bool splitk_last_reduces(unsigned* counters, i64 slot, int splits, Reduce reduce) {
    __shared__ bool is_last;
    __threadfence();  // release: this thread's partial is visible device-wide before the CTA counts
    __syncthreads();  // ... and so is every other thread's
    if (threadIdx.x == 0 && threadIdx.y == 0) is_last = atomicAdd(&counters[slot], 1u) == (unsigned)(splits - 1);
    __syncthreads();
    if (!is_last) return false;
    __threadfence();  // acquire: the other splits' partials are read after their arrivals were seen
    reduce();
    if (threadIdx.x == 0 && threadIdx.y == 0) counters[slot] = 0;
    return true;
}

// ---------------------------------------------------------------- quantized GEMV parameters
// The parameters of both quantized GEMV kernels (quant.cu, quant_dot.cu).
// Rust twin: QuantParams in src/ops/params.rs.
struct QuantParams {
    i64 m, k, n;    // rows of W (outputs), its columns (inputs), columns of x and y in this launch
    i64 row_bytes;  // bytes of one row of W: K / block_elems * block_bytes
    i64 buf_bytes;  // readable bytes of W's buffer, a multiple of 16 (loads stay below it)
    i64 sxn, syn;   // row strides of x [n, k] and y [n, m], in elements
    int x_vec;      // x's rows start at a multiple of 4 elements: 4 elements per load (quant.cu)
    float alpha, beta;
};

// ---------------------------------------------------------------- x rounded to 8 bits: its chunk order
// x's quants in shared memory and in a rounded-x buffer (src/spec/q8.rs's
// q8_chunk_offset is the Rust twin; quant_dot.cu's producers write it):
// unit u's 32 bytes are chunks 2 (u & 1) and 2 (u & 1) + 1 of its unit pair
// P = u / 2's 64 bytes, and chunk q of a pair lies at 16 (q ^ ((P / 2) & 3)):
// lanes reading consecutive units (32 bytes apart) or consecutive pairs (64
// bytes apart) then hit distinct banks.
__host__ __device__ constexpr int x_pair_chunk(int pair, int q) { return 64 * pair + 16 * (q ^ ((pair >> 1) & 3)); }
__host__ __device__ constexpr int x_unit_chunk(int u, int q) { return x_pair_chunk(u >> 1, 2 * (u & 1) + q); }
// The same from a super-block's start (8 units, 256 bytes; par: the
// super-block's parity in the row): chunk q (0, 1) of its unit j (0..7) at
// x_unit_chunk(8 par + j, q) - 256 par, written so that what depends on j
// and q alone is a constant (or a loop invariant) where the caller's loop
// over j is unrolled, the parity flipping bit 5 only (quant_imma.cu).
__host__ __device__ constexpr int x_sb_chunk(int par, int j, int q) {
    return 64 * (j >> 1) + ((16 * ((2 * (j & 1) + q) ^ (j >> 2))) ^ (32 * par));
}
__host__ __device__ constexpr bool x_sb_chunk_agrees() {
    for (int par = 0; par < 2; ++par)
        for (int j = 0; j < 8; ++j)
            for (int q = 0; q < 2; ++q)
                if (x_sb_chunk(par, j, q) != x_unit_chunk(8 * par + j, q) - 256 * par) return false;
    return true;
}
static_assert(x_sb_chunk_agrees(), "x_sb_chunk is x_unit_chunk from a super-block's start");

// ---------------------------------------------------------------- asynchronous copies (sm_80+)
__device__ __forceinline__ unsigned smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

// 16 bytes global -> shared; src_bytes 0 reads nothing and zero-fills.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes));
}
// The same at a shared-memory address (smem_addr), all 16 bytes read: a
// caller that steps the address by constants lets them ride in the
// instruction's offset.
__device__ __forceinline__ void cp_async16_at(unsigned dst, const void* src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}
// 8 bytes global -> shared (both 8-byte aligned), through L1.
__device__ __forceinline__ void cp_async8(void* dst, const void* src) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(smem_addr(dst)), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
// Waits until at most stages - 1 groups are pending (the immediate must be a constant).
__device__ __forceinline__ void cp_async_wait_stages(int stages) {
    if (stages >= 4) cp_async_wait<3>();
    else if (stages == 3) cp_async_wait<2>();
    else cp_async_wait<1>();
}

// ---------------------------------------------------------------- shared-memory words
// NW consecutive 32-bit words starting at the even byte address p of shared
// memory (GGML blocks of 34, 18 and 210 bytes are only 2-byte aligned): NW + 1
// aligned loads and funnel shifts.
template <int NW>
__device__ __forceinline__ void words(const unsigned char* p, unsigned (&w)[NW]) {
    const unsigned a = (unsigned)(size_t)p;
    const unsigned* s = reinterpret_cast<const unsigned*>(p - (a & 3u));
    const unsigned sh = 8u * (a & 3u);
    unsigned r[NW + 1];
#pragma unroll
    for (int i = 0; i <= NW; ++i) r[i] = s[i];
#pragma unroll
    for (int i = 0; i < NW; ++i) w[i] = __funnelshift_r(r[i], r[i + 1], sh);
}

// The f16 (a GGML block's d or dmin) at the even byte address p of shared memory, as f32.
__device__ __forceinline__ float sm_f16(const unsigned char* p) {
    return __half2float(__ushort_as_half(*reinterpret_cast<const unsigned short*>(p)));
}

// ---------------------------------------------------------------- bulk copies (sm_90: the TMA unit)
// One thread copies a contiguous range (16-byte aligned, a multiple of 16
// bytes) global -> shared; an mbarrier counts the bytes as they land, and
// every thread that reads the destination waits on its phase.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define DK_BULK_COPY 1
__device__ __forceinline__ void mbar_init(unsigned long long* bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
// Makes the initialised barriers visible to the copy unit.
__device__ __forceinline__ void mbar_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
// Orders this thread's earlier shared-memory reads (generic proxy) before later bulk writes (async proxy).
__device__ __forceinline__ void fence_proxy_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// Arrives once on bar and adds `bytes` to the transfers its phase waits for.
__device__ __forceinline__ void mbar_expect_bytes(unsigned long long* bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, unsigned bytes, unsigned long long* bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                     smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(smem_addr(bar))
                 : "memory");
}
// Waits until bar's phase of parity `parity` has completed.
__device__ __forceinline__ void mbar_wait(unsigned long long* bar, unsigned parity) {
    asm volatile(
        "{\n .reg .pred done;\n DK_MBAR_WAIT:\n mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n @!done bra DK_MBAR_WAIT;\n}\n" ::"r"(
            smem_addr(bar)),
        "r"(parity)
        : "memory");
}
#endif

// ---------------------------------------------------------------- thread-block clusters (sm_90)
// Distributed shared memory: the CTAs of a cluster read each other's shared
// memory.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
__device__ __forceinline__ unsigned cluster_rank() {
    unsigned r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return r;
}
// The address of `p` (this CTA's shared memory) in CTA `rank` of the cluster.
__device__ __forceinline__ unsigned cluster_addr(const void* p, unsigned rank) {
    unsigned remote;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"((unsigned)__cvta_generic_to_shared(p)), "r"(rank));
    return remote;
}
__device__ __forceinline__ float ld_cluster(const float* p, unsigned rank) {
    float v;
    asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(cluster_addr(p, rank)) : "memory");
    return v;
}
// Split phases of the cluster barrier: arrive (releasing this thread's
// shared-memory writes, local and remote, or relaxed: ordering nothing), then
// wait (acquiring what the others released). Every thread of the cluster
// arrives once a phase, and waits before it arrives again.
__device__ __forceinline__ void cluster_arrive_relaxed() { asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory"); }
__device__ __forceinline__ void cluster_arrive() { asm volatile("barrier.cluster.arrive.aligned;" ::: "memory"); }
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.aligned;" ::: "memory"); }
// A barrier of every thread of the cluster: both phases at once.
__device__ __forceinline__ void cluster_sync() {
    cluster_arrive();
    cluster_wait();
}
// Stores into CTA `rank`'s copy of `p` (this CTA's shared memory).
__device__ __forceinline__ void st_cluster(float* p, unsigned rank, float v) {
    asm volatile("st.shared::cluster.f32 [%0], %1;" ::"r"(cluster_addr(p, rank)), "f"(v) : "memory");
}
__device__ __forceinline__ void st_cluster4(float4* p, unsigned rank, float4 v) {
    asm volatile("st.shared::cluster.v4.f32 [%0], {%1,%2,%3,%4};" ::"r"(cluster_addr(p, rank)), "f"(v.x), "f"(v.y), "f"(v.z),
                 "f"(v.w)
                 : "memory");
}
#endif

// ---------------------------------------------------------------- programmatic dependent launch (sm_90)
// A kernel the host launches as a dependent (LaunchConfig::dependent,
// src/runtime/launch.rs) may start while the kernel before it in the stream
// is still running: it must call pdl_wait() before it reads or writes any
// memory an earlier launch touches (only reads of data no launch of the step
// writes, such as weights, may come first). pdl_wait() returns once every
// earlier launch has completed and its writes are visible; without the
// launch attribute, or before sm_90, it returns at once.
// pdl_launch_dependents() lets the next launch (if it is a dependent) be
// scheduled now rather than when this grid exits; its own pdl_wait() still
// waits for this grid to finish.
// Kernels call pdl_launch_dependents() after their own pdl_wait()
// (pdl_begin), except the small ones a decode step runs between two big
// launches (pdl_begin_early below: quantize_x, rmsnorm_q8, silu_mul_q8,
// rope_append), the veck GEMV CTAs that load a fixed weight before their
// wait (gemv.cu: gemv_veck's W), and softmax's split_stats (an ordinary
// launch, not a dependent), which call it first. So when a kernel
// starts, every launch before the last pdl_begin kernel ahead of it has
// finished, and that kernel has passed its wait (runs of early kernels may
// all be running or waiting).
// What kernels read before pdl_wait() is written by none of those: weights
// and the norms' weights (written by uploads or by launches the host waited
// for before marking them fixed), and the cache's older keys
// (SdpaOptions::fresh_keys: this step's launches write only the new slots,
// read after the wait; the older ones were written before the previous
// layer's attention, a pdl_begin kernel, started its work). One more:
// softmax's split_norm reads its chunk of x (and the mask) before its wait,
// since the launch ahead of it, split_stats, is an ordinary launch: it
// started only once every launch before it had completed, writes nothing
// split_norm reads early, and split_norm writes y only after the wait.
// Keep it so in any new kernel.
__device__ __forceinline__ void pdl_wait() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_launch_dependents() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
// What every dependent kernel does once its independent prologue is issued:
// wait for the previous launch, then let the next one be scheduled.
__device__ __forceinline__ void pdl_begin() {
    pdl_wait();
    pdl_launch_dependents();
}
// A small kernel between two big launches lets the next launch be scheduled
// before it waits: the next GEMV's CTAs then take the SMs the launch before
// this one leaves and start their weight copies while this kernel waits and
// runs, instead of after its start (llama3-8b Q4_K_M at batch 1: 2054 -> 1971
// us a step; BENCHMARKS.md, 2026-11-30). Its dependent is launched once every
// CTA of this grid has started, so nothing it waits on is left unscheduled.
__device__ __forceinline__ void pdl_begin_early() {
    pdl_launch_dependents();
    pdl_wait();
}

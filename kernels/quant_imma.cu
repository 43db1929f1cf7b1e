// Quantized GEMV for a batch of tokens on integer tensor cores:
// y[N, M] = alpha * x[N, K] . dequant(W)[M, K]^T + beta * y with N <= 16 per
// launch (8 per n-tile; template on the n-tiles), W in GGML's Q4_K or Q6_K
// blocks, or Q8_0 or Q4_0 with K a multiple of 256 (src/spec/quant.rs is the
// byte-exact reference), x given already rounded to
// 8 bits per 32 elements (src/spec/q8.rs's layout: XQ, XM, what
// kernels/quant_dot.cu's producers write), y of T (this build's dtype).
// Host side: src/ops/quant.rs (launch_imma); parameters: QuantParams
// (common.cuh) and the ring's stages and the k-parts of a row tile, then the
// launch's slice of K: where 16 tokens' x of the whole K would not fit in
// shared memory (K = 14336: 230 KB), the host cuts K into slices of whole
// super-blocks, a launch each (the later ones adding to y with beta = 1),
// so W is read once rather than once per 8 tokens: the slice's first
// super-block sb0 (p.k is the slice's columns, p.row_bytes the whole
// row's), XQ and XM at the slice's first unit with the bytes and units of a
// whole token row between tokens (x's chunk order, q8_chunk_offset, goes by
// the super-block's parity in the whole row: sb0 + sb). (So y is rounded to
// T between slices: about one rounding of each partial sum more than one
// launch gives.) Where a CTA would copy about as many bytes of x as
// of weights (M = 4096 at 16 tokens: two 16-row tiles a CTA), a thread-block
// cluster of csplit CTAs (sm_90) takes each group of tiles, every CTA a part
// of the slice's K with only that part of x (csplit times fewer x bytes a
// weight byte), and each tile's sums meet in the CTA that owns it through
// distributed shared memory (one cluster barrier); the host launches one
// group a cluster. Q6_K (its scheme at qimma below) runs at about
// 1.7 TB/s, slower than the dot kernel at 8 tokens (BENCHMARKS.md,
// 2026-11-30 to 2026-12-01): auto dispatch's embedded table takes this
// kernel for Q4_K from 6 tokens, for Q6_K from 12 (one chunk where the dot
// kernel takes two; fourteenth session), for Q8_0 and Q4_0 from 8 (a block is a unit: one mma
// of 16 rows a block and token tile, Q4_0's from C = -8 sum(xq); their
// scheme at qimma's F <= 1 branch; 2026-12-01, thirteenth session).
//
// Why: the integer-dot kernel (quant_dot.cu) spends a dp4a per 4 weights and
// token, so from 4-8 tokens on it is bound by instructions, not bytes
// (BENCHMARKS.md: 28672 x 4096 Q6_K 26 us at 1 token, 67 at 8; 16 tokens
// are two launches of 8). Here one mma.m16n8k32 multiplies 16 rows x 32
// weights (a Q4_K sub-block) by 8 tokens' x quants into exact int32 dots, so
// the work per weight hardly grows with the tokens; what grows is the
// epilogue, 3 instructions a (row, token, sub-block): the dot to f32, its
// scale d sc dx, the FMA.
//
// Per Q4_K sub-block j of row r (weights w = d sc_j q - dmin m_j, q in
// 0..15) and token n (x = dx_j xq):
//   y[n, r] += d sc_j dx_j sum(q xq)  -  dmin m_j dx_j sum(xq)
// The first term: the int8 mma (A: 16 rows' q as u8, B: 8 tokens' xq as s8,
// C zero; the exact int32 dot, |dot| < 2^20, converted once). (C starting at
// the bits of 1.5 * 2^23, read back as f32 less that, cost as much and made
// the compiler set the four C registers again before every mma.) The second,
// for all eight sub-blocks of a super-block at once, is three tf32 mmas (A:
// -dmin m_j, 16 rows x 8 sub-blocks; B: dx_j sum(xq), 8 sub-blocks x 8
// tokens; each split into its top 19 bits and the rest: A_hi B_hi + A_hi
// B_lo + A_lo B_hi, about f32's precision) into the same f32 accumulators.
// One tf32 mma kept 10 bits of each factor: ~1e-3 of the min term, which is
// tens of times y where x has a mean and the weights none (the two terms
// nearly cancel), so up to 3e-2 of y (a review's model, 2026-11-30).
//
// Fragments (lane = 4 g + t): A's registers 0 and 2 hold row g's k-slots 4t..
// and 16 + 4t.., 1 and 3 row g + 8's; B's 0 and 1 token g's same k-slots; the
// dot does not care which weights fill which k-slot so long as x's
// elements follow. Here slot 4t.. is the sub-block's elements 8t..8t + 3 and
// slot 16 + 4t.. elements 8t + 4..8t + 7: a row's 8 bytes at 8t of its
// 32 nibble bytes (one 8-byte shared load gives sub-blocks 2c, low nibbles,
// and 2c + 1, high nibbles kept in place: 16 q, the 1/16 in its scale) and
// token g's 8 bytes at 8t of its unit.
//
// Design:
// - A CTA of 8 or 16 warps (the host's choice: the most warps an SM holds
//   with x and the rings in its shared memory; 8 a CTA spent half the
//   cycles with no warp ready, Nsight Compute 2026-11-30); a warp owns a
//   tile of 16 rows and one of KP parts of K (KP from the host: 1 to 16,
//   dividing the warps), so a CTA covers warps / KP tiles (a group) and the
//   host picks KP so that the groups fill the device evenly (M = 4096 has
//   only 256 tiles). CTA b takes groups b, b + grid, ...; at a group's end
//   the KP warps of a tile add their accumulators through shared memory
//   (meeting by a named barrier of their own: a barrier of the whole CTA at
//   every group end held 12% of its warps' samples) and the first writes y.
// - x: the CTA copies its tokens' quants (cp.async; each token's row padded
//   by 32 bytes, so the 8 tokens' loads of a unit fall in distinct banks),
//   and re-lays the unit constants as dx [unit][token] (the epilogue's two
//   tokens 2t, 2t + 1 in one load) and dx sum(xq) [token][unit + 4] (the
//   tf32 mma's B, already rounded to tf32).
// - W: each warp streams its tile's part through its own ring of `stages`
//   (2 or 3, the host's choice) of 16 rows x 256 columns (Q4_K's and
//   Q4_0's 144 bytes a row at a pitch of 160: 40 words, so a load's 8 rows
//   fall 8 banks apart; Q8_0's 272 at 288, 72 words), copied by the lanes
//   in 16-byte chunks with cp.async, 5 a lane (Q8_0: 9), from running
//   pointers (Q6_K: its own scheme at qimma). (Bulk copies, a row each from lanes 0..15, cost
//   about 10 instructions a sub-block: the copy unit takes its operands in
//   uniform registers, so the compiler ran one lane at a time.) The first
//   stages start before the wait for the previous launch (weights are
//   written by no launch: common.cuh's rule).
// - Rows past M read row M - 1 and are not stored; tokens past N read
//   whatever is in their shared rows with dx = 0 and are not stored; beta ==
//   0 never reads y.
#include "common.cuh"

typedef unsigned char u8;

constexpr int QI_MAX_WARPS = 16;
constexpr int QI_ROWS = 16;                      // rows of a warp tile: the mma's m16
constexpr int QI_PITCH = 160;                    // a row's 144 bytes of a super-block in a stage (40 words)
constexpr int QI_STAGE = QI_ROWS * QI_PITCH;     // 2560 bytes
constexpr int QI_CHUNKS = 9;                     // 16-byte chunks of a row's super-block
constexpr int QI_COPIES = (QI_ROWS * QI_CHUNKS + 31) / 32;  // a lane's chunks a stage (5)
// Q8_0: eight 34-byte blocks (272 bytes, 17 chunks) a row's 256 columns, at a
// pitch of 288 (72 words: rows 8 banks apart); Q4_0's eight 18-byte blocks
// take Q4_K's 144 bytes and layout. Both need K a multiple of 256 (whole
// chunks from a 16-byte aligned start in every row: the host's rule).
constexpr int QI8_PITCH = 288;
constexpr int QI8_CHUNKS = 17;
// Q6_K: a row's super-block (210 bytes) starts anywhere even within its
// first chunk, so a stage row is the 14 chunks that cover it at a pitch of
// 240 bytes (60 words: rows 28 banks apart); a lane copies 7 chunks of one
// row (two lanes a row).
constexpr int QI6_PITCH = 240;
constexpr int QI6_STAGE = QI_ROWS * QI6_PITCH;  // 3840 bytes
constexpr int QI6_CHUNKS = 14;
constexpr int QI_X_PAD = 32;                     // bytes after each token's quants (bank spread)

// d[0..3] = A (16 x 32 u8) . B (32 x 8 s8), exact int32 dots.
__device__ __forceinline__ void mma_u8s8(const unsigned (&a)[4], unsigned b0, unsigned b1, int (&d)[4]) {
    asm("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};\n"
        : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "r"(0));
}

// c += A (16 x 8 tf32) . B (8 x 8 tf32).
__device__ __forceinline__ void mma_tf32(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Barrier `id` (1..15: 0 is __syncthreads') of `threads` threads, whole warps.
__device__ __forceinline__ void named_barrier(int id, int threads) {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

// 2^23 + byte k of w, as f32 (k may vary by lane).
__device__ __forceinline__ float byte_f(unsigned w, unsigned k) { return __uint_as_float(__byte_perm(w, 0x4B000000u, 0x7650u | k)); }

// The eight sub-blocks' d * sc of the Q4_K super-block whose first 16 bytes
// are h (f16 d, f16 dmin, 12 bytes of 6-bit scales and mins); the odd ones
// carry 1/16 (their nibbles are multiplied in place). fma(d, 2^23 + sc, -d
// 2^23) is d * sc rounded once.
__device__ __forceinline__ void q4k_row_scales(const uint4 h, float (&s)[8]) {
    const float d0 = __half2float(__ushort_as_half((unsigned short)(h.x & 0xFFFFu))), d1 = 0.0625f * d0;
    const float n0 = -8388608.f * d0, n1 = -8388608.f * d1;
    const unsigned lo = h.y & 0x3F3F3F3Fu;                                  // sub-blocks 0..3
    const unsigned hi = (h.w & 0x0F0F0F0Fu) | ((h.y >> 2) & 0x30303030u);  // 4..7
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        s[k] = fmaf(k & 1 ? d1 : d0, byte_f(lo, k), k & 1 ? n1 : n0);
        s[4 + k] = fmaf(k & 1 ? d1 : d0, byte_f(hi, k), k & 1 ? n1 : n0);
    }
}

// -dmin * m of sub-blocks t and t + 4 (t = 0..3) of the super-block with header h.
__device__ __forceinline__ void q4k_mins(const uint4 h, unsigned t, float& m0, float& m1) {
    const float dmin = __half2float(__ushort_as_half((unsigned short)(h.x >> 16)));
    const unsigned lo = h.z & 0x3F3F3F3Fu;                                        // mins of 0..3
    const unsigned hi = ((h.w >> 4) & 0x0F0F0F0Fu) | ((h.z >> 2) & 0x30303030u);  // 4..7
    const float n = 8388608.f * dmin;
    m0 = fmaf(-dmin, byte_f(lo, t), n);
    m1 = fmaf(-dmin, byte_f(hi, t), n);
}

// v's top 19 bits (exact in tf32) and the rest (whose own top 19 bits the tensor core reads).
__device__ __forceinline__ void split_tf32(float v, unsigned& hi, unsigned& lo) {
    hi = __float_as_uint(v) & 0xFFFFE000u;
    lo = __float_as_uint(v - __uint_as_float(hi));
}

// The 32-bit word at the even byte address p of a stage (Q6_K's super-blocks
// are only 2-byte aligned): common.cuh's words<1>.
__device__ __forceinline__ unsigned word_at(const u8* p) {
    unsigned w[1];
    words<1>(p, w);
    return w[0];
}

// d[0..3] = A (16 x 32 s8) . B (32 x 8 s8), exact int32 dots (Q8_0).
__device__ __forceinline__ void mma_s8s8(const unsigned (&a)[4], unsigned b0, unsigned b1, int (&d)[4]) {
    asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};\n"
        : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "r"(0));
}

// d[0..3] = A (16 x 32 u8) . B (32 x 8 s8) + c (c0 for tokens 2t, c1 for
// 2t + 1 in both row halves), exact int32 dots (Q4_0: c = -8 sum(xq)).
__device__ __forceinline__ void mma_u8s8_c(const unsigned (&a)[4], unsigned b0, unsigned b1, int c0, int c1,
                                           int (&d)[4]) {
    asm("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%10,%11};\n"
        : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "r"(c0), "r"(c1));
}

// The 32-bit word at p, a stage address that is 4-byte aligned (mis false)
// or 2 bytes past that (mis true: Q8_0's and Q4_0's quants in the even
// blocks of a 16-byte aligned row); mis is known where the caller's loop
// is unrolled, so one of the two paths is compiled.
__device__ __forceinline__ unsigned word_at2(const u8* p, bool mis) {
    if (mis) {
        const unsigned* s = reinterpret_cast<const unsigned*>(p - 2);
        return __byte_perm(s[0], s[1], 0x5432);
    }
    return *reinterpret_cast<const unsigned*>(p);
}

// d[0..3] = A (16 x 16 u8) . B (16 x 8 s8) + c, exact int32 dots.
__device__ __forceinline__ void mma_u8s8_k16(unsigned a0, unsigned a1, unsigned b, int c0, int c1, int (&d)[4]) {
    asm("mma.sync.aligned.m16n8k16.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%8,%7,%8};\n"
        : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
        : "r"(a0), "r"(a1), "r"(b), "r"(c0), "r"(c1));
}

// Shared memory (bytes; the host's imma_shared_bytes lays it out the same):
// the clusters' receiving area (CL entries), x's quants [8 NT][xk + 32], dx
// [K / 32][8 NT] f32, then Q4_K: dx sum(xq) [2][8 NT][K / 32 + 4] (its top 19
// bits, then the rest); Q6_K: -32 sum(xq) of each 16 [K / 32][2][8 NT] i32;
// Q4_0: -8 sum(xq) [K / 32][8 NT] i32; Q8_0: none; then the k-parts'
// accumulators [2][warps][32 lanes][4 NT] f32 (by the group's parity), then
// each warp's ring of `stages`.
//
// Q6_K (F = 3; weights w = d sc_G (q - 32), q in 0..63, a scale sc_G (i8)
// for each 16 elements G): an mma.m16n8k16 a 16 elements, from C = -32
// times the token's quant sum of those 16, so its dot is sum((q - 32) xq);
// slot 4t.. is elements 4t..4t + 3 of the 16 (lane t's words of ql and qh
// at 4t of their 16-byte runs, x's word t of the unit's half). A unit's two
// halves share dx, so their exact dots meet as integers times their scales
// (dot_0 sc_0 + dot_1 sc_1, below 2^24) before the one conversion and FMA.
template <int F, int NT, bool CL>
__device__ void qimma(const u8* __restrict__ W, T* __restrict__ Y, const u8* __restrict__ XQ,
                      const u8* __restrict__ XM, const QuantParams p, int stages, int kparts, int sb0, i64 xq_row,
                      i64 xm_row, int csplit) {
    static_assert(F >= 0 && F <= 3, "Q8_0, Q4_0, Q4_K and Q6_K");
    constexpr int NTOK = 8 * NT;
    // A stage row: Q6_K's own scheme; the others whole 16-byte chunks.
    constexpr int PITCH = F == 0 ? QI8_PITCH : QI_PITCH;
    constexpr int CHUNKS = F == 0 ? QI8_CHUNKS : QI_CHUNKS;
    constexpr int COPIES = (QI_ROWS * CHUNKS + 31) / 32;  // a lane's chunks a stage (Q4_K, Q4_0: 5; Q8_0: 9)
    constexpr int STAGE = F == 3 ? QI6_STAGE : QI_ROWS * PITCH;
    constexpr int SBB = F == 0 ? 272 : F == 3 ? 210 : 144;  // bytes of a row's 256 columns
    extern __shared__ uint4 smem[];
    const int warps = blockDim.x >> 5, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int rt_per_group = warps / kparts, rt = warp / kparts, kp = warp % kparts;
    // A cluster of csplit CTAs splits the slice's K (see the header; CL: the
    // entries for clusters, so that the others keep a constant layout and
    // no cluster code): this CTA's part, CTA c the super-blocks [c per, (c
    // + 1) per) (the host makes every part non-empty), as a slice of its
    // own, of kk columns.
    i64 kk = p.k;
    int crank = 0;
    if constexpr (CL) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
        crank = (int)cluster_rank();
        cluster_arrive_relaxed();  // the start's phase (this CTA runs), waited before the partial sums go out
#else
        __trap();  // no clusters before sm_90: the host never launches these entries there
#endif
        const int csbs = (int)(p.k / 256), per = (csbs + csplit - 1) / csplit;
        const int lo = min(crank * per, csbs), hi = min(lo + per, csbs);
        sb0 += lo, XQ += 256 * lo, XM += 64 * lo;
        kk = 256 * (i64)(hi - lo);
    } else {
        csplit = 1;
    }
    // Each tile of the group belongs to one CTA of the cluster (tile rt to
    // CTA rt % csplit, as its tile rt / csplit of ltiles), which receives
    // the others' sums of it and writes y: [csplit sources][ltiles][32
    // lanes][4 NT] f32 at the start of shared memory.
    const int ltiles = (rt_per_group + csplit - 1) / csplit, owner = rt % csplit;
    float* recv = reinterpret_cast<float*>(smem);
    const int recv_floats = CL ? csplit * ltiles * 32 * 4 * NT : 0;
    const int units = (int)(kk / 32), sbs = (int)(kk / 256);
    const int xk = ((int)kk + 63) & ~63, xp = xk + QI_X_PAD, dstride = units + 4;
    u8* xq = reinterpret_cast<u8*>(recv + recv_floats);
    float* dxv = reinterpret_cast<float*>(xq + NTOK * xp);
    unsigned* dxs = reinterpret_cast<unsigned*>(dxv + units * NTOK);  // Q4_K
    int* xs16 = reinterpret_cast<int*>(dxs);                          // Q6_K, Q4_0
    // Q4_K: dx sum(xq) [2][NTOK][units + 4]; Q6_K: -32 sum(xq) [units][2][NTOK]; Q4_0:
    // -8 sum(xq) [units][NTOK]; Q8_0: none.
    constexpr int SUMS_OF = F == 3 ? 2 : F == 1 ? 1 : 0;  // a unit's words of sums a token (Q4_K apart)
    float* red = reinterpret_cast<float*>(dxs + (F == 2 ? 2 * NTOK * dstride : SUMS_OF * units * NTOK));
    u8* ring = reinterpret_cast<u8*>(red + 2 * warps * 32 * 4 * NT) + warp * stages * STAGE;

    // This warp's tile of each group and part of K (one super-block a stage);
    // a cluster's CTAs take the same groups.
    const i64 tiles = (p.m + QI_ROWS - 1) / QI_ROWS;
    const i64 groups = (tiles + rt_per_group - 1) / rt_per_group;
    const int sb_lo = kp * sbs / kparts, its = (kp + 1) * sbs / kparts - sb_lo;  // its >= 1: kparts <= sbs
    auto row0 = [&](i64 grp) { return (grp * rt_per_group + rt) * QI_ROWS; };
    auto row_at = [&](i64 grp, int r) { return min(row0(grp) + r, p.m - 1) * p.row_bytes + (i64)(sb0 + sb_lo) * SBB; };

    // This lane's copy slots, the same every stage. Q4_K, Q4_0: chunk c = lane
    // + 32 i of the stage is chunk c % 9 of row c / 9 (Q8_0: 17); src: its next
    // bytes in W.
    // Q6_K: chunks 7 (lane & 1) .. + 6 of row lane / 2, from the 16-byte
    // boundary at or before the super-block's first byte (cbyte: that byte).
    int cdst[COPIES];
    const u8* csrc[COPIES];
    i64 cbyte = 0;
    auto aim = [&](i64 grp) {
        if constexpr (F != 3) {
#pragma unroll
            for (int i = 0; i < COPIES; ++i) {
                const int c = min(lane + 32 * i, QI_ROWS * CHUNKS - 1), r = c / CHUNKS;
                csrc[i] = W + row_at(grp, r) + 16 * (c - r * CHUNKS);
            }
        } else {
            cbyte = row_at(grp, lane >> 1);
        }
    };
    if constexpr (F != 3) {
#pragma unroll
        for (int i = 0; i < COPIES; ++i) {
            const int c = lane + 32 * i, r = c / CHUNKS;
            cdst[i] = r * PITCH + 16 * (c - r * CHUNKS);
        }
    }
    const i64 grp0 = blockIdx.x / csplit, gstep = gridDim.x / csplit;
    // A cluster's CTAs meet once, at their one group's end: the host's grid is groups x csplit.
    if (CL && gstep != groups) __trap();
    i64 cgrp = grp0;
    int cit = 0, cstage = 0;
    if (cgrp < groups) aim(cgrp);
    // Copies the next (group, super-block) into its stage and commits a group
    // (empty past the last).
    auto issue = [&]() {
        if (cgrp < groups) {
            u8* st = ring + cstage * STAGE;
            if constexpr (F != 3) {
#pragma unroll
                for (int i = 0; i < COPIES; ++i) {
                    if (lane + 32 * i < QI_ROWS * CHUNKS) cp_async16(st + cdst[i], csrc[i], 16);
                    csrc[i] += SBB;
                }
            } else {
                // Chunks past the buffer's end (the last row's last super-block) read nothing.
                const i64 first = (cbyte & ~(i64)15) + 16 * 7 * (lane & 1);
                u8* dst = st + (lane >> 1) * QI6_PITCH + 16 * 7 * (lane & 1);
#pragma unroll
                for (int i = 0; i < QI6_CHUNKS / 2; ++i) {
                    const i64 a = first + 16 * i;
                    const bool ok = a + 16 <= p.buf_bytes;
                    cp_async16(dst + 16 * i, ok ? W + a : W, ok ? 16 : 0);
                }
                cbyte += SBB;
            }
            if (++cit == its) {
                cit = 0;
                cgrp += gstep;
                if (cgrp < groups) aim(cgrp);
            }
            cstage = cstage + 1 == stages ? 0 : cstage + 1;
        }
        cp_async_commit();
    };

    for (int s = 0; s < stages - 1; ++s) issue();
    pdl_begin();
    // x's quants: its tokens' rows (xk bytes each in XQ), one group.
    const int cpr = xk / 16;
    for (int n = 0; n < (int)p.n; ++n)
        for (int q = threadIdx.x; q < cpr; q += blockDim.x) cp_async16(xq + n * xp + 16 * q, XQ + n * xq_row + 16 * q, 16);
    cp_async_commit();
    // The unit constants, re-laid (tokens past N: dx = 0): entry i is token
    // i % NTOK's unit pair i / NTOK (16 bytes: units are 8 a super-block, so
    // a pair is 16-byte aligned in XM); a thread's loads of a round (up to 8:
    // one round for every shape of a decode step) all go out before any is
    // used (four 8-byte loads a round left a sliced launch waiting on them for
    // a fifth of its samples, Nsight Compute 2026-12-01).
    const int pairs = units / 2;
    for (int base = threadIdx.x; base < NTOK * pairs; base += 8 * blockDim.x) {
        uint4 m[8];
#pragma unroll
        for (int r = 0; r < 8; ++r) {
            const int i = base + r * blockDim.x, n = i % NTOK, v = i / NTOK;
            m[r] = i < NTOK * pairs && n < p.n ? __ldg(reinterpret_cast<const uint4*>(XM + 8 * (n * xm_row + 2 * v)))
                                               : make_uint4(0u, 0u, 0u, 0u);
        }
#pragma unroll
        for (int r = 0; r < 8; ++r) {
            const int i = base + r * blockDim.x, n = i % NTOK, v = i / NTOK;
            if (i < NTOK * pairs) {
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int u = 2 * v + h;
                    const unsigned mx = h ? m[r].z : m[r].x, my = h ? m[r].w : m[r].y;
                    const float dx = __uint_as_float(mx);
                    const int s0 = (short)(my & 0xFFFFu), s1 = (short)(my >> 16);
                    dxv[u * NTOK + n] = dx;  // [u][n]
                    if constexpr (F == 2) {
                        split_tf32(dx * (float)(s0 + s1), dxs[n * dstride + u], dxs[(NTOK + n) * dstride + u]);
                    } else if constexpr (F == 1) {
                        xs16[u * NTOK + n] = -8 * (s0 + s1);  // [u][n]
                    } else if constexpr (F == 3) {
                        xs16[(2 * u) * NTOK + n] = -32 * s0;  // [u][half][n]
                        xs16[(2 * u + 1) * NTOK + n] = -32 * s1;
                    }
                }
            }
        }
    }
    cp_async_wait<0>();  // x's group and the first weight stages
    __syncthreads();

    // B fragments, from a super-block's x at xrow + 256 sb (its chunks at
    // common.cuh's x_sb_chunk by the super-block's parity in the whole row):
    // Q4_K's token 8 nt + g's bytes 8 (t & 1).. of chunk t >> 1 of unit j;
    // Q6_K's word t of chunk q = G & 1 of unit G / 2; Q8_0's and Q4_0's word t
    // of chunks 0 and 1 of unit j (k-slots 4t.. and 16 + 4t.. are the block's
    // elements 4t.. and 16 + 4t..).
    const u8* xrow = xq + g * xp + (F == 2 ? 8 * (t & 1) : 4 * t);
    const float* dxt = dxv + 2 * t;
    const unsigned* dsum = dxs + g * dstride + t;
    const int* xst = xs16 + 2 * t;
    // Q6_K: the byte offsets in W of rows g and g + 8's current super-block
    // (their low 4 bits place it within its stage row).
    i64 boff[2] = {0, 0};

    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[nt][e] = 0.f;

    i64 grp = grp0;
    int it = 0, stage = 0, parity = 0;
    while (grp < groups) {
        issue();
        cp_async_wait_stages(stages);  // this stage's group is complete (this lane's copies)
        __syncwarp();                  // ... and every lane's
        const int sb = sb_lo + it;
        const int par = (sb0 + sb) & 1;  // x's chunk order by the super-block's parity in the row
        const float* dxu = dxt + 8 * sb * NTOK;
        if constexpr (F <= 1) {
            // Q8_0 (w = d q, q i8) and Q4_0 (w = d (q - 8), q the block's
            // nibbles: elements i and 16 + i in byte i's low and high halves):
            // a block is a unit, an m16n8k32 of 16 rows a token tile, Q4_0's
            // from C = -8 sum(xq) of the token's unit.
            constexpr int BB = F == 0 ? 34 : 18;
            const u8* ra = ring + stage * STAGE + g * PITCH;  // row g's 256 columns
            const u8* rb = ra + 8 * PITCH;                     // row g + 8's
            const u8* xs = xrow + 256 * sb;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const float da = sm_f16(ra + BB * j), db = sm_f16(rb + BB * j);
                // The quants start 2 bytes into the block: 2 mod 4 in even blocks.
                // A's registers: rows g and g + 8, elements 4t.. and 16 + 4t..
                const bool mis = j % 2 == 0;
                const u8* qa = ra + BB * j + 2 + 4 * t;
                const u8* qb = rb + BB * j + 2 + 4 * t;
                unsigned a[4];
                if constexpr (F == 0) {
                    a[0] = word_at2(qa, mis), a[1] = word_at2(qb, mis);
                    a[2] = word_at2(qa + 16, mis), a[3] = word_at2(qb + 16, mis);
                } else {
                    const unsigned wa = word_at2(qa, mis), wb = word_at2(qb, mis);
                    a[0] = wa & 0x0F0F0F0Fu, a[1] = wb & 0x0F0F0F0Fu;
                    a[2] = (wa >> 4) & 0x0F0F0F0Fu, a[3] = (wb >> 4) & 0x0F0F0F0Fu;
                }
                const u8* x0 = xs + x_sb_chunk(par, j, 0);
                const u8* x1 = xs + x_sb_chunk(par, j, 1);
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) {
                    const unsigned b0 = *reinterpret_cast<const unsigned*>(x0 + 8 * nt * xp);
                    const unsigned b1 = *reinterpret_cast<const unsigned*>(x1 + 8 * nt * xp);
                    int d[4];
                    if constexpr (F == 0) {
                        mma_s8s8(a, b0, b1, d);
                    } else {
                        const int2 c = *reinterpret_cast<const int2*>(xst + (8 * sb + j) * NTOK + 8 * nt);
                        mma_u8s8_c(a, b0, b1, c.x, c.y, d);
                    }
                    const float2 dx = *reinterpret_cast<const float2*>(dxu + j * NTOK + 8 * nt);
                    acc[nt][0] = fmaf(da * dx.x, (float)d[0], acc[nt][0]);
                    acc[nt][1] = fmaf(da * dx.y, (float)d[1], acc[nt][1]);
                    acc[nt][2] = fmaf(db * dx.x, (float)d[2], acc[nt][2]);
                    acc[nt][3] = fmaf(db * dx.y, (float)d[3], acc[nt][3]);
                }
            }
        } else if constexpr (F == 2) {
            const u8* ra = ring + stage * STAGE + g * QI_PITCH;  // row g's super-block
            const u8* rb = ra + 8 * QI_PITCH;                     // row g + 8's
            const uint4 ha = *reinterpret_cast<const uint4*>(ra);
            const uint4 hb = *reinterpret_cast<const uint4*>(rb);
            {
                // The min term of all eight sub-blocks: three tf32 mmas a token tile.
                float m[4];
                q4k_mins(ha, t, m[0], m[2]);
                q4k_mins(hb, t, m[1], m[3]);
                unsigned ah[4], al[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) split_tf32(m[i], ah[i], al[i]);
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) {
                    const unsigned* bh = dsum + 8 * nt * dstride + 8 * sb;
                    const unsigned* bl = bh + NTOK * dstride;
                    mma_tf32(acc[nt], al, bh[0], bh[4]);
                    mma_tf32(acc[nt], ah, bl[0], bl[4]);
                    mma_tf32(acc[nt], ah, bh[0], bh[4]);
                }
            }
            float sa[8], sb8[8];
            q4k_row_scales(ha, sa);
            q4k_row_scales(hb, sb8);
            const u8* xs = xrow + 256 * sb;
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                const uint2 va = *reinterpret_cast<const uint2*>(ra + 16 + 32 * c + 8 * t);
                const uint2 vb = *reinterpret_cast<const uint2*>(rb + 16 + 32 * c + 8 * t);
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int j = 2 * c + h;
                    const unsigned mask = h == 0 ? 0x0F0F0F0Fu : 0xF0F0F0F0u;
                    const unsigned a[4] = {va.x & mask, vb.x & mask, va.y & mask, vb.y & mask};
                    const u8* xj = xs + x_sb_chunk(par, j, t >> 1);
#pragma unroll
                    for (int nt = 0; nt < NT; ++nt) {
                        const uint2 bx = *reinterpret_cast<const uint2*>(xj + 8 * nt * xp);
                        int d[4];
                        mma_u8s8(a, bx.x, bx.y, d);
                        const float2 dx = *reinterpret_cast<const float2*>(dxu + j * NTOK + 8 * nt);
                        acc[nt][0] = fmaf(sa[j] * dx.x, (float)d[0], acc[nt][0]);
                        acc[nt][1] = fmaf(sa[j] * dx.y, (float)d[1], acc[nt][1]);
                        acc[nt][2] = fmaf(sb8[j] * dx.x, (float)d[2], acc[nt][2]);
                        acc[nt][3] = fmaf(sb8[j] * dx.y, (float)d[3], acc[nt][3]);
                    }
                }
            }
        } else {
            if (it == 0) {
                boff[0] = row_at(grp, g);
                boff[1] = row_at(grp, g + 8);
            }
            const u8* row[2] = {ring + stage * STAGE + g * QI6_PITCH, ring + stage * STAGE + (g + 8) * QI6_PITCH};
            const int off[2] = {(int)(boff[0] & 15), (int)(boff[1] & 15)};
            boff[0] += SBB, boff[1] += SBB;
            float d[2];
            unsigned scw[2][4];  // the 16 i8 scales, 4 a word
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                d[r] = sm_f16(row[r] + off[r] + 208);
                words<4>(row[r] + off[r] + 192, scw[r]);
            }
            const u8* xs = xrow + 256 * sb;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                unsigned ql[2][4], qh[2][2];  // this lane's words of the half
#pragma unroll
                for (int r = 0; r < 2; ++r) {
#pragma unroll
                    for (int q = 0; q < 4; ++q) ql[r][q] = word_at(row[r] + off[r] + 64 * h + 16 * q + 4 * t);
#pragma unroll
                    for (int q = 0; q < 2; ++q) qh[r][q] = word_at(row[r] + off[r] + 128 + 32 * h + 16 * q + 4 * t);
                }
#pragma unroll
                for (int gj = 0; gj < 4; ++gj) {
                    // Unit j's two 16-element halves G = 2j, 2j + 1: an mma each,
                    // whose exact dots meet as integers times their scales (the
                    // unit shares dx), so a (row, token) of the unit costs one
                    // conversion, one product d dx and one FMA, not two of each.
                    const int j = 4 * h + gj;
                    unsigned a[2][2];  // [half][row]
                    int sc[2][2];      // the halves' i8 scales, [half][row]
#pragma unroll
                    for (int q = 0; q < 2; ++q) {
                        const int gi = 2 * gj + q, G = 8 * h + gi;
#pragma unroll
                        for (int r = 0; r < 2; ++r) {
                            const unsigned lo = (ql[r][gi & 3] >> (4 * (gi >> 2))) & 0x0F0F0F0Fu;
                            const unsigned hi = ((qh[r][gi & 1] >> (2 * (gi >> 1))) << 4) & 0x30303030u;
                            a[q][r] = lo | hi;
                            sc[q][r] = (int)(signed char)((scw[r][G >> 2] >> (8 * (G & 3))) & 0xFFu);
                        }
                    }
                    const u8* xg0 = xs + x_sb_chunk(par, j, 0);
                    const u8* xg1 = xs + x_sb_chunk(par, j, 1);
#pragma unroll
                    for (int nt = 0; nt < NT; ++nt) {
                        // |dot of 16| <= 16 x 32 x 127 and |scale| <= 128: the sum of
                        // two stays below 2^24, exact as an int32 and as an f32.
                        const unsigned bx0 = *reinterpret_cast<const unsigned*>(xg0 + 8 * nt * xp);
                        const unsigned bx1 = *reinterpret_cast<const unsigned*>(xg1 + 8 * nt * xp);
                        const int2 c0 = *reinterpret_cast<const int2*>(xst + ((8 * sb + j) * 2) * NTOK + 8 * nt);
                        const int2 c1 = *reinterpret_cast<const int2*>(xst + ((8 * sb + j) * 2 + 1) * NTOK + 8 * nt);
                        int d0[4], d1[4];
                        mma_u8s8_k16(a[0][0], a[0][1], bx0, c0.x, c0.y, d0);
                        mma_u8s8_k16(a[1][0], a[1][1], bx1, c1.x, c1.y, d1);
                        const float2 dx = *reinterpret_cast<const float2*>(dxu + j * NTOK + 8 * nt);
                        const float p00 = d[0] * dx.x, p01 = d[0] * dx.y, p10 = d[1] * dx.x, p11 = d[1] * dx.y;
                        acc[nt][0] = fmaf(p00, (float)(d0[0] * sc[0][0] + d1[0] * sc[1][0]), acc[nt][0]);
                        acc[nt][1] = fmaf(p01, (float)(d0[1] * sc[0][0] + d1[1] * sc[1][0]), acc[nt][1]);
                        acc[nt][2] = fmaf(p10, (float)(d0[2] * sc[0][1] + d1[2] * sc[1][1]), acc[nt][2]);
                        acc[nt][3] = fmaf(p11, (float)(d0[3] * sc[0][1] + d1[3] * sc[1][1]), acc[nt][3]);
                    }
                }
            }
        }
        __syncwarp();  // every lane is done with this stage before it is refilled
        stage = stage + 1 == stages ? 0 : stage + 1;
        if (++it == its) {
            // The group's end: the tile's k-parts add up in the first one, which
            // writes y. Only those warps meet (a named barrier a tile of the
            // group), and the area alternates by group: a part that writes
            // group i + 2's sums has passed group i + 1's barrier, which the
            // first part reaches only once it has read group i's.
            float* mine = red + ((parity * warps + warp) * 32 + lane) * 4 * NT;
            if (kparts > 1) {
                if (kp != 0) {
#pragma unroll
                    for (int nt = 0; nt < NT; ++nt)
                        *reinterpret_cast<float4*>(mine + 4 * nt) = make_float4(acc[nt][0], acc[nt][1], acc[nt][2], acc[nt][3]);
                }
                named_barrier(1 + rt, 32 * kparts);
                if (kp == 0) {
                    for (int o = 1; o < kparts; ++o) {
                        const float* other = mine + o * 32 * 4 * NT;
#pragma unroll
                        for (int nt = 0; nt < NT; ++nt) {
                            const float4 v = *reinterpret_cast<const float4*>(other + 4 * nt);
                            acc[nt][0] += v.x, acc[nt][1] += v.y, acc[nt][2] += v.z, acc[nt][3] += v.w;
                        }
                    }
                }
                parity ^= 1;
            }
            // The cluster's CTAs add their sums of each tile in its owner
            // (one group a cluster: the host's grid).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
            if constexpr (CL) {
                cluster_wait();  // the start's phase: every CTA of the cluster runs
                if (kp == 0 && owner != crank) {
                    float* dst = recv + ((crank * ltiles + rt / csplit) * 32 + lane) * 4 * NT;
#pragma unroll
                    for (int nt = 0; nt < NT; ++nt)
                        st_cluster4(reinterpret_cast<float4*>(dst + 4 * nt), owner,
                                    make_float4(acc[nt][0], acc[nt][1], acc[nt][2], acc[nt][3]));
                }
                cluster_arrive();  // releases the sums just stored
                cluster_wait();    // every CTA's have landed here
                if (kp == 0 && owner == crank) {
                    for (int c = 0; c < csplit; ++c) {
                        if (c == crank) continue;
                        const float* src = recv + ((c * ltiles + rt / csplit) * 32 + lane) * 4 * NT;
#pragma unroll
                        for (int nt = 0; nt < NT; ++nt) {
                            const float4 v = *reinterpret_cast<const float4*>(src + 4 * nt);
                            acc[nt][0] += v.x, acc[nt][1] += v.y, acc[nt][2] += v.z, acc[nt][3] += v.w;
                        }
                    }
                }
            }
#endif
            if (kp == 0 && owner == crank) {
                const i64 r0 = row0(grp) + g;
#pragma unroll
                for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const i64 row = r0 + 8 * (e >> 1);
                        const int n = 8 * nt + 2 * t + (e & 1);
                        if (row < p.m && n < p.n) {
                            T* y = Y + n * p.syn + row;
                            float v = p.alpha * acc[nt][e];
                            if (p.beta != 0.f) v += p.beta * to_f32(*y);  // beta == 0 never reads y
                            *y = from_f32<T>(v);
                        }
                    }
            }
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) acc[nt][e] = 0.f;
            it = 0;
            grp += gstep;
        }
    }
    cp_async_wait<0>();  // no copy outlives the CTA (groups past the last are empty; this is for form)
}

// qimma_<format>_nt<NT>_<dtype>: Q8_0, Q4_0, Q4_K and Q6_K; NT = 1 (up to 8 tokens), 2
// (up to 16); 8 or 16 warps a CTA; the slice of K from super-block sb0, a
// token's quants xq_row bytes and its unit constants xm_row units apart;
// qimma_<format>_nt<NT>_cl_<dtype> the same in clusters of csplit CTAs
// splitting it (the launch's cluster size, grid = groups x csplit; sm_90),
// the others csplit 1. X (x itself) is not read: the launches of every
// family take W, X, Y first.
#define QI_NAME_(f, nt, sfx, dt) qimma_##f##_nt##nt##sfx##_##dt
#define QI_NAME(f, nt, sfx, dt) QI_NAME_(f, nt, sfx, dt)
#define QI_ENTRY(F, f, NT, CL, sfx)                                                                                 \
    extern "C" __global__ void __launch_bounds__(32 * QI_MAX_WARPS, 1)                                             \
        QI_NAME(f, NT, sfx, DT_NAME)(const u8* W, const T* X, T* Y, const u8* XQ, const u8* XM, const QuantParams p, \
                                     int stages, int kparts, int sb0, i64 xq_row, i64 xm_row, int csplit) {       \
        (void)X;                                                                                                    \
        qimma<F, NT, CL>(W, Y, XQ, XM, p, stages, kparts, sb0, xq_row, xm_row, csplit);                             \
    }
QI_ENTRY(0, q8_0, 1, false, )
QI_ENTRY(0, q8_0, 2, false, )
QI_ENTRY(1, q4_0, 1, false, )
QI_ENTRY(1, q4_0, 2, false, )
QI_ENTRY(2, q4_k, 1, false, )
QI_ENTRY(2, q4_k, 2, false, )
QI_ENTRY(3, q6_k, 1, false, )
QI_ENTRY(3, q6_k, 2, false, )
QI_ENTRY(0, q8_0, 1, true, _cl)
QI_ENTRY(0, q8_0, 2, true, _cl)
QI_ENTRY(1, q4_0, 1, true, _cl)
QI_ENTRY(1, q4_0, 2, true, _cl)
QI_ENTRY(2, q4_k, 1, true, _cl)
QI_ENTRY(2, q4_k, 2, true, _cl)
QI_ENTRY(3, q6_k, 1, true, _cl)
QI_ENTRY(3, q6_k, 2, true, _cl)

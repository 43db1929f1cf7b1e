// RoPE and the KV-cache append of one element pair of a fused QKV row, for
// layer.cu's rope_append and the QKV GEMVs that do it in their epilogue
// (gemv.cu: gemv_veckrope, quant_dot.cu: qgemv_dot_rope). Included after
// common.cuh (T, i64, to_f32).

// Rust twin: RopeParams in src/ops/layer.rs. The fused QKV row of token t of
// sequence b is [Q heads | K heads | V heads], each head d wide; strides in elements.
struct RopeParams {
    i64 hq, hkv, d;
    i64 s_qkv_b, s_qkv_t;    // qkv [B, T, width]
    i64 sq_b, sq_h, sq_t;    // q_out [B, hq, T, d]
    i64 sk_b, sk_h, sk_s;    // k cache [B, hkv, cap, d]
    i64 sv_b, sv_h, sv_s;    // v cache [B, hkv, cap, d]
    i64 cap;                 // cache slots
    i64 pos;                 // position of every sequence's first token (when positions is null)
    double freq_ratio;       // theta^(-2/d): pair i's frequency is freq_ratio^i (radians a position)
    int has_bias;
    int llama3;              // 1: llama3 frequency scaling with the five values below
    double inv_factor;       // 1 / factor
    double low_freq;         // frequencies below it are divided by factor (2 pi low_freq_factor / original_max)
    double high_freq;        // frequencies above it are kept (2 pi high_freq_factor / original_max)
    double smooth_a, smooth_b;  // between the two: blend weight f smooth_a - smooth_b
};

// Pair i's rotation at position pos as sin and cos: the angle pos * f_i with
// f_i as src/spec/layer.rs: rope_frequency defines it. pos * f_i reaches tens
// of thousands of radians, where an f32 angle is off by 1e-3, so the angle is
// taken in double to the whole turn and only its fraction (|t| <= 1/2 turn)
// goes to f32's sincospi (2e-7 rad). The double part is a few multiplies:
// f_i = freq_ratio^i by squaring, the llama3 blend a line in f, no exp2,
// division or double sincos (gemv_veckrope runs this in its epilogue, where
// those cost registers for the whole kernel and time at every CTA's end).
__device__ __forceinline__ void rope_sincos(const RopeParams& p, unsigned i, i64 pos, float* s, float* c) {
    double f = 1.0, r = p.freq_ratio;
    for (unsigned e = i; e != 0; e >>= 1) {
        if (e & 1) f *= r;
        r *= r;
    }
    if (p.llama3) {
        if (f < p.low_freq) {
            f *= p.inv_factor;
        } else if (f <= p.high_freq) {
            const double w = f * p.smooth_a - p.smooth_b;
            f = (1.0 - w) * f * p.inv_factor + w * f;
        }
    }
    double turns = (double)pos * f * 0.15915494309189533577;  // 1 / (2 pi)
    turns -= rint(turns);
    sincospif(2.f * (float)turns, s, c);
}

// Where a fused QKV GEMV's epilogue sends its rows (rope_append's
// arguments after qkv); host side: src/ops/fused_gemv.rs.
struct RopeOut {
    const T* bias;
    T* q_out;
    T* k_cache;
    T* v_cache;
    const int* positions;
    RopeParams p;
};

// What rope_finish needs of pair i of head h for token t of sequence b
// before the projection's values exist: the slot, the bias pair and the
// rotation. A GEMV's epilogue prepares it when its tile starts (these loads
// and the angle's arithmetic then overlap the weights' stream instead of
// adding to the tail).
struct RopePrep {
    i64 pos;
    float b0, b1, c, s;
};
__device__ __forceinline__ RopePrep rope_prepare(const RopeParams& p, const T* __restrict__ bias,
                                                 const int* __restrict__ positions, i64 h, i64 t, i64 b, i64 i) {
    RopePrep r;
    r.pos = (positions ? (i64)positions[b] : p.pos) + t;
    const i64 col = h * p.d + i;
    r.b0 = p.has_bias ? to_f32(bias[col]) : 0.f;
    r.b1 = p.has_bias ? to_f32(bias[col + p.d / 2]) : 0.f;
    r.c = 1.f, r.s = 0.f;
    if (h < p.hq + p.hkv) rope_sincos(p, (unsigned)i, r.pos, &r.s, &r.c);
    return r;
}

// Columns h * d + i and h * d + i + d/2 (i < d/2) of token t of sequence b
// hold x0 and x1 (the projection's output, before the bias): the pair is
// rotated ("rotate half", as Llama and Qwen) by pos * theta^(-2i/d), pos =
// first + t, first = positions[b] or p.pos. Q goes to q_out, K (rotated)
// and V (as is) to slot pos of the caches (skipped when pos is outside them).
__device__ __forceinline__ void rope_finish(const RopeParams& p, const RopePrep& r, T* __restrict__ q_out,
                                            T* __restrict__ k_cache, T* __restrict__ v_cache, i64 h, i64 t, i64 b,
                                            i64 i, float x0, float x1) {
    const i64 half_d = p.d / 2, pos = r.pos;
    const bool in_cache = pos >= 0 && pos < p.cap;
    if (p.has_bias) {
        x0 += r.b0;
        x1 += r.b1;
    }
    if (h >= p.hq + p.hkv) {  // V: no rotation
        if (!in_cache) return;
        T* dst = v_cache + b * p.sv_b + (h - p.hq - p.hkv) * p.sv_h + pos * p.sv_s;
        dst[i] = from_f32<T>(x0);
        dst[i + half_d] = from_f32<T>(x1);
        return;
    }
    if (h >= p.hq && !in_cache) return;
    const float y0 = x0 * r.c - x1 * r.s, y1 = x1 * r.c + x0 * r.s;
    T* dst = h < p.hq ? q_out + b * p.sq_b + h * p.sq_h + t * p.sq_t
                      : k_cache + b * p.sk_b + (h - p.hq) * p.sk_h + pos * p.sk_s;
    dst[i] = from_f32<T>(y0);
    dst[i + half_d] = from_f32<T>(y1);
}

// Both at once (rope_append's kernel, and gemv.cu's veck, whose CTAs are short).
__device__ __forceinline__ void rope_store(const RopeParams& p, const T* __restrict__ bias, T* __restrict__ q_out,
                                           T* __restrict__ k_cache, T* __restrict__ v_cache,
                                           const int* __restrict__ positions, i64 h, i64 t, i64 b, i64 i, float x0,
                                           float x1) {
    rope_finish(p, rope_prepare(p, bias, positions, h, t, b, i), q_out, k_cache, v_cache, h, t, b, i, x0, x1);
}

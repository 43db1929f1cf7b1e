//! The small ops of a Llama-style decoder layer: `rmsnorm`, `rope_append`
//! and `silu_mul`. Their options and the validation both backends share; every
//! view has a unit stride along its last (feature) axis and any other strides.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::Tensor;

/// Checks device, dtype, rank and a unit last stride.
fn check_view(op: &'static str, name: &str, t: &Tensor, device: Device, dtype: DType, rank: usize) -> Result<()> {
    validate::check_device(op, name, t, device)?;
    validate::check_dtype(op, name, t, dtype)?;
    validate::check_rank(op, name, t, rank)?;
    if t.layout().dim(rank - 1) > 1 && t.layout().stride(rank - 1) != 1 {
        return Err(Error::invalid(
            op,
            name,
            "a unit stride along the last axis",
            format!("strides {:?}", t.layout().strides()),
        ));
    }
    Ok(())
}

/// Where `rope_append` puts its outputs, and how it rotates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeOptions {
    /// Query heads in the fused QKV row (a multiple of `hkv`).
    pub hq: usize,
    /// Key/value heads in the fused QKV row (at least 1).
    pub hkv: usize,
    /// The position of each sequence's first token (token t of a sequence is
    /// at `pos + t`): the cache slot written and the rotation angle. With
    /// per-sequence positions (`rope_append_ragged`) this is ignored.
    pub pos: usize,
    /// The RoPE base (10000 in Llama 2, 500000 in Llama 3, 1e6 in Qwen2.5):
    /// finite and above 1.
    pub theta: f32,
    /// Llama 3.1/3.2's frequency scaling; None: the plain frequencies.
    pub llama3: Option<Llama3Rope>,
}

/// `rope_type: "llama3"` (Llama 3.1 and 3.2): pair i's frequency
/// f = theta^(-2i/d) is kept where its wavelength 2 pi / f is below
/// `original_max / high_freq_factor`, divided by `factor` where it is above
/// `original_max / low_freq_factor`, and blended linearly between.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Llama3Rope {
    /// Divisor of the low frequencies (8 in Llama 3.1, 32 in Llama 3.2).
    pub factor: f64,
    /// Wavelengths above original_max / low_freq_factor are divided by `factor`.
    pub low_freq_factor: f64,
    /// Wavelengths below original_max / high_freq_factor are kept.
    pub high_freq_factor: f64,
    /// The context length the model was pretrained with.
    pub original_max: f64,
}

/// Pair `i`'s rotation frequency (radians per position) for head size `d`:
/// the one definition the CPU backend uses; kernels/rope.cuh (rope_sincos)
/// computes it in double from constants src/ops/layer.rs: rope_params works
/// out from the same numbers (theta^(-2/d) raised to i, the wavelength bounds
/// as bounds on the frequency).
pub fn rope_frequency(theta: f64, d: usize, i: usize, llama3: Option<&Llama3Rope>) -> f64 {
    let f = theta.powf(-(2.0 * i as f64) / d as f64);
    let Some(s) = llama3 else { return f };
    let wavelen = 2.0 * std::f64::consts::PI / f;
    if wavelen < s.original_max / s.high_freq_factor {
        f
    } else if wavelen > s.original_max / s.low_freq_factor {
        f / s.factor
    } else {
        let smooth = (s.original_max / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        (1.0 - smooth) * f / s.factor + smooth * f
    }
}

/// Checks `rmsnorm`'s views and eps: x and y `[rows, cols]` or
/// `[outer, rows, cols]` (one shape) and w `[cols]`, one dtype on `device`,
/// unit last strides, y writable, x itself or disjoint from it, and disjoint
/// from w; eps finite and >= 0. Returns (outer, rows, cols), outer 1 for 2-D.
pub fn check_rmsnorm(device: Device, x: &Tensor, w: &Tensor, eps: f32, y: &Tensor) -> Result<(usize, usize, usize)> {
    const OP: &str = "rmsnorm";
    let dtype = x.dtype();
    let rank = x.rank();
    if rank != 2 && rank != 3 {
        return Err(Error::invalid(
            OP,
            "x",
            "a 2-D [rows, cols] or 3-D [outer, rows, cols] view",
            format!("shape {:?}", x.shape()),
        ));
    }
    check_view(OP, "x", x, device, dtype, rank)?;
    let (outer, rows, cols) =
        if rank == 3 { (x.shape()[0], x.shape()[1], x.shape()[2]) } else { (1, x.shape()[0], x.shape()[1]) };
    check_norm_weight(OP, ("w", "eps"), w, eps, device, dtype, cols)?;
    check_view(OP, "y", y, device, dtype, rank)?;
    validate::check_shape(OP, "y", y, x.shape())?;
    validate::check_writable(OP, "y", y)?;
    validate::check_overlap(OP, "y", y, &[("x", x)], Aliasing::IdenticalAllowed)?;
    validate::check_overlap(OP, "y", y, &[("w", w)], Aliasing::Forbidden)?;
    Ok((outer, rows, cols))
}

/// An RMSNorm's weight `[cols]` (`dtype`, on `device`, a unit stride) and
/// its eps (finite, >= 0), under the names the calling op gives them
/// (`rmsnorm`'s w and eps; the fused GEMVs' norm.weight and norm.eps).
pub fn check_norm_weight(
    op: &'static str,
    (w_arg, eps_arg): (&str, &str),
    w: &Tensor,
    eps: f32,
    device: Device,
    dtype: DType,
    cols: usize,
) -> Result<()> {
    check_view(op, w_arg, w, device, dtype, 1)?;
    validate::check_shape(op, w_arg, w, &[cols])?;
    validate::check_finite(op, eps_arg, eps)?;
    if eps < 0.0 {
        return Err(Error::invalid(op, eps_arg, "a value >= 0", eps));
    }
    Ok(())
}

/// `rope_append`'s problem: sequences, tokens per sequence, head size, width
/// of the fused QKV row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RopeGeometry {
    /// Sequences (B).
    pub batch: usize,
    /// Tokens per sequence (T; 1 when qkv is 2-D).
    pub tokens: usize,
    /// Head size.
    pub d: usize,
    /// (hq + 2 hkv) d.
    pub width: usize,
}

/// Checks `rope_append`'s views and options: qkv [B, (hq + 2 hkv) d] (one
/// token per sequence) with q_out [B, hq, d], or qkv [B, T, (hq + 2 hkv) d]
/// (T consecutive tokens per sequence) with q_out [B, hq, T, d]; the optional
/// bias [(hq + 2 hkv) d]; the caches [B, hkv, capacity, d]; one dtype on
/// `device`, unit last strides; hkv >= 1 dividing hq; d even, 2..=2048; the
/// last token's slot `pos + T - 1` below the capacity (unless `ragged`: the
/// positions are then on the device and slots past the capacity are skipped
/// by the kernel); theta finite and above 1; the three outputs writable and
/// disjoint from the inputs and from one another.
#[allow(clippy::too_many_arguments)]
pub fn check_rope_append(
    device: Device,
    qkv: &Tensor,
    bias: Option<&Tensor>,
    q_out: &Tensor,
    k_cache: &Tensor,
    v_cache: &Tensor,
    o: &RopeOptions,
    ragged: bool,
) -> Result<RopeGeometry> {
    const OP: &str = "rope_append";
    let dtype = qkv.dtype();
    let rank = qkv.rank();
    if rank != 2 && rank != 3 {
        return Err(Error::invalid(
            OP,
            "qkv",
            "a 2-D [B, (hq + 2 hkv) d] or 3-D [B, T, (hq + 2 hkv) d] view",
            format!("shape {:?}", qkv.shape()),
        ));
    }
    check_view(OP, "qkv", qkv, device, dtype, rank)?;
    check_view(OP, "q_out", q_out, device, dtype, rank + 1)?;
    check_view(OP, "k_cache", k_cache, device, dtype, 4)?;
    check_view(OP, "v_cache", v_cache, device, dtype, 4)?;
    let batch = qkv.shape()[0];
    let tokens = if rank == 3 { qkv.shape()[1] } else { 1 };
    let d = q_out.shape()[rank];
    if o.hkv == 0 || o.hq % o.hkv != 0 {
        return Err(Error::invalid(OP, "hq", format!("a multiple of hkv = {}", o.hkv), o.hq));
    }
    if d == 0 || d % 2 != 0 || d > 2048 {
        return Err(Error::invalid(
            OP,
            "q_out",
            "an even head size d of at most 2048 (its last axis)",
            format!("shape {:?}", q_out.shape()),
        ));
    }
    let width = (o.hq + 2 * o.hkv) * d;
    if rank == 3 {
        validate::check_shape(OP, "qkv", qkv, &[batch, tokens, width])?;
        validate::check_shape(OP, "q_out", q_out, &[batch, o.hq, tokens, d])?;
    } else {
        validate::check_shape(OP, "qkv", qkv, &[batch, width])?;
        validate::check_shape(OP, "q_out", q_out, &[batch, o.hq, d])?;
    }
    let cap = k_cache.shape()[2];
    validate::check_shape(OP, "k_cache", k_cache, &[batch, o.hkv, cap, d])?;
    validate::check_shape(OP, "v_cache", v_cache, &[batch, o.hkv, cap, d])?;
    if !ragged && tokens > 0 && o.pos.checked_add(tokens).map_or(true, |end| end > cap) {
        return Err(Error::invalid(
            OP,
            "pos",
            format!("a first slot with room for {tokens} token(s) below the capacity {cap}"),
            o.pos,
        ));
    }
    validate::check_finite(OP, "theta", o.theta)?;
    if o.theta <= 1.0 {
        return Err(Error::invalid(OP, "theta", "a RoPE base > 1", o.theta));
    }
    if let Some(l) = o.llama3 {
        let finite = [l.factor, l.low_freq_factor, l.high_freq_factor, l.original_max].iter().all(|v| v.is_finite());
        if !(finite
            && l.factor >= 1.0
            && l.low_freq_factor > 0.0
            && l.high_freq_factor > l.low_freq_factor
            && l.original_max > 0.0)
        {
            return Err(Error::invalid(
                OP,
                "llama3",
                "finite factor >= 1, 0 < low_freq_factor < high_freq_factor, original_max > 0",
                format!("{l:?}"),
            ));
        }
    }
    if let Some(b) = bias {
        check_view(OP, "bias", b, device, dtype, 1)?;
        validate::check_shape(OP, "bias", b, &[width])?;
    }
    let mut inputs = vec![("qkv", qkv)];
    inputs.extend(bias.map(|b| ("bias", b)));
    for (name, out) in [("q_out", q_out), ("k_cache", k_cache), ("v_cache", v_cache)] {
        validate::check_writable(OP, name, out)?;
        validate::check_overlap(OP, name, out, &inputs, Aliasing::Forbidden)?;
    }
    validate::check_overlap(OP, "k_cache", k_cache, &[("q_out", q_out), ("v_cache", v_cache)], Aliasing::Forbidden)?;
    validate::check_overlap(OP, "v_cache", v_cache, &[("q_out", q_out)], Aliasing::Forbidden)?;
    Ok(RopeGeometry { batch, tokens, d, width })
}

/// Checks `silu_mul`'s views: gu [rows, 2 inter] and h [rows, inter], one
/// dtype on `device`, unit last strides, h writable and disjoint from gu.
/// Returns (rows, inter).
pub fn check_silu_mul(device: Device, gu: &Tensor, h: &Tensor) -> Result<(usize, usize)> {
    const OP: &str = "silu_mul";
    let dtype = gu.dtype();
    check_view(OP, "gu", gu, device, dtype, 2)?;
    check_view(OP, "h", h, device, dtype, 2)?;
    let (rows, inter) = (h.shape()[0], h.shape()[1]);
    validate::check_shape(OP, "gu", gu, &[rows, 2 * inter])?;
    validate::check_writable(OP, "h", h)?;
    validate::check_overlap(OP, "h", h, &[("gu", gu)], Aliasing::Forbidden)?;
    Ok((rows, inter))
}

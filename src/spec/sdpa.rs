//! `sdpa(q, k, v, out, opts)`: scaled-dot-product attention over a KV cache.
//! Q and out are [B, Hq, Lq, D], K and V [B, Hkv, Lk, D], Hq a multiple of Hkv;
//! query i sits at position `offset + i` (default `Lk - Lq`). The options, the
//! validation and the geometry, shared by both backends.

use crate::device::Device;
use crate::dispatch::sdpa::{SdpaPrefs, HEAD_DIMS};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::Tensor;

const OP: &str = "sdpa";

/// What `sdpa` computes beyond the views.
#[derive(Debug, Clone, Copy, Default)]
pub struct SdpaOptions {
    /// Multiplies Q·K before the softmax; default 1/sqrt(D); must be finite.
    pub scale: Option<f32>,
    /// Query i sees only keys at positions up to `offset + i`.
    pub causal: bool,
    /// Position of query 0; default Lk - Lq (bottom-right). May be negative.
    /// Any value is valid: the geometry clamps it to [-Lq, Lk], which changes
    /// no result (at Lk or later every key is visible to every query, at -Lq
    /// or earlier none is) and keeps every position in range of an i64.
    pub offset: Option<i64>,
    /// None reads DK_SDPA_BACKEND.
    pub prefs: Option<SdpaPrefs>,
    /// Some(n): the launch just before this one writes nothing this op reads
    /// but Q and the last n keys of each sequence's K and V (as a decode
    /// step's RoPE and cache append do), so on a GPU the fused kernel starts
    /// loading the other keys before that launch finishes (a programmatic
    /// dependent launch, sm_90). It must also leave `kv_lens` alone, and a
    /// ragged batch's new keys must be its last (kv_lens[b] = position + 1).
    /// Launches further back have finished by then (kernels/common.cuh:
    /// every kernel lets the next start only after its own wait). None:
    /// nothing is read before the previous launch finishes. Results are the
    /// same either way.
    pub fresh_keys: Option<usize>,
}

/// The validated problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SdpaGeometry {
    /// B: batch entries.
    pub batch: usize,
    /// Hq: query heads.
    pub hq: usize,
    /// Hkv: key/value heads (divides Hq).
    pub hkv: usize,
    /// Hq / Hkv: query heads per KV head.
    pub group: usize,
    /// Lq: queries per head.
    pub lq: usize,
    /// Lk: keys per KV head.
    pub lk: usize,
    /// D: head size.
    pub d: usize,
    /// Element type of every view.
    pub dtype: DType,
    /// The resolved, finite scale.
    pub scale: f32,
    /// Causal exclusion on or off.
    pub causal: bool,
    /// Position of query 0, clamped to [-Lq, Lk] (see [`SdpaOptions::offset`]):
    /// `offset + i + 1` is in range for every query i on both backends.
    pub offset: i64,
}

impl SdpaGeometry {
    /// Keys query `i` sees: all Lk without causal exclusion, else those at
    /// positions up to `offset + i` (0 when that is negative).
    pub fn visible(&self, i: usize) -> usize {
        if !self.causal {
            return self.lk;
        }
        let last = self.offset.saturating_add(i64::try_from(i).unwrap_or(i64::MAX));
        usize::try_from(last.saturating_add(1).max(0)).unwrap_or(usize::MAX).min(self.lk)
    }

    /// Keys some query may see: causal rows see up to offset + lq - 1.
    pub fn kv_len(&self) -> usize {
        if !self.causal {
            return self.lk;
        }
        let end = self.offset.saturating_add(i64::try_from(self.lq).unwrap_or(i64::MAX));
        usize::try_from(end.max(0)).unwrap_or(usize::MAX).min(self.lk)
    }

    /// The composed path needs a non-negative offset (softmax's causal rule) and a key.
    pub fn composable(&self) -> bool {
        self.lk > 0 && (!self.causal || self.offset >= 0)
    }

    /// Bytes of K and V one step must read (the visible keys, once).
    pub fn kv_bytes(&self) -> u64 {
        2 * (self.batch * self.hkv * self.kv_len() * self.d * self.dtype.size_in_bytes()) as u64
    }

    /// Q read and out written, once.
    pub fn q_out_bytes(&self) -> u64 {
        2 * (self.batch * self.hq * self.lq * self.d * self.dtype.size_in_bytes()) as u64
    }
}

/// Validates the views and options and returns the problem: four 4-D views
/// of one dtype on `device`, Q and out [B, Hq, Lq, D], K and V [B, Hkv, Lk, D]
/// with D in [`HEAD_DIMS`] and Hkv dividing Hq, out writable and disjoint from
/// the inputs, a finite scale. Any offset is taken (and clamped); empty views
/// (B, Hq, Lq or Lk of 0) are valid.
pub fn geometry(
    device: Device,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    o: &SdpaOptions,
) -> Result<SdpaGeometry> {
    for (name, t) in [("q", q), ("k", k), ("v", v), ("out", out)] {
        validate::check_device(OP, name, t, device)?;
        validate::check_dtype(OP, name, t, q.dtype())?;
        if t.rank() != 4 {
            let what = if name == "k" || name == "v" { "[B, Hkv, Lk, D]" } else { "[B, Hq, Lq, D]" };
            return Err(Error::invalid(OP, name, format!("a 4-D view {what}"), format!("shape {:?}", t.shape())));
        }
    }
    let [batch, hq, lq, d] = [q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]];
    let [kb, hkv, lk, kd] = [k.shape()[0], k.shape()[1], k.shape()[2], k.shape()[3]];
    if !HEAD_DIMS.contains(&d) {
        return Err(Error::invalid(OP, "q", format!("a head size D in {HEAD_DIMS:?}"), format!("D = {d}")));
    }
    if kb != batch || kd != d {
        return Err(Error::invalid(
            OP,
            "k",
            format!("[{batch}, Hkv, Lk, {d}] (batch and D of q)"),
            format!("shape {:?}", k.shape()),
        ));
    }
    if hkv == 0 || hq % hkv != 0 {
        return Err(Error::invalid(
            OP,
            "k",
            format!("a number of KV heads that divides Hq = {hq}"),
            format!("{hkv} heads"),
        ));
    }
    validate::check_shape(OP, "v", v, k.shape())?;
    validate::check_shape(OP, "out", out, q.shape())?;
    validate::check_writable(OP, "out", out)?;
    validate::check_overlap(OP, "out", out, &[("q", q), ("k", k), ("v", v)], Aliasing::Forbidden)?;
    let scale = o.scale.unwrap_or(1.0 / (d as f32).sqrt());
    validate::check_finite(OP, "scale", scale)?;
    // Shapes count elements of allocated buffers, so they fit in i64.
    let (lq_i, lk_i) = (i64::try_from(lq).unwrap_or(i64::MAX), i64::try_from(lk).unwrap_or(i64::MAX));
    let offset = o.offset.unwrap_or(lk_i - lq_i).clamp(-lq_i, lk_i);
    Ok(SdpaGeometry { batch, hq, hkv, group: hq / hkv, lq, lk, d, dtype: q.dtype(), scale, causal: o.causal, offset })
}

/// K and V rows start on 16 bytes with unit stride along D (the mma kernel's cp.async).
pub fn kv_aligned(k: &Tensor, v: &Tensor) -> bool {
    let e = 16 / k.dtype().size_in_bytes();
    let ok = |t: &Tensor| {
        let l = t.layout();
        l.stride(3) == 1 && l.offset() % e == 0 && (0..3).all(|i| l.dim(i) == 1 || l.stride(i) % e == 0)
    };
    ok(k) && ok(v)
}

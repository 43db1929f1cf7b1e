//! `sample(logits, history, history_len, out, opts)`: one token per row of a
//! logits matrix, chosen on the device, with a CPU twin that gives the same
//! tokens for the same logits and seed. The options, the validation, and the
//! arithmetic both backends share (the row hash, the uniform and Gumbel
//! values, the order-preserving keys), defined here once.
//!
//! # Semantics (per row b, all arithmetic in f32 unless said otherwise)
//!
//! Row b's history is `history[b*H .. b*H + L]`, `H = history.len() / B`,
//! `L = history_len[b]` clamped to `0..=H` (the host cannot see lengths that
//! live on a device, so none is an error: a negative one reads as 0, one
//! above H as H).
//!
//! 1. `x_i` is logit i as f32. With `repeat_penalty = r != 1`, every token id
//!    present in the history (ids outside `0..V` are ignored) is penalised
//!    once, however often it appears: `x = x > 0 ? x / r : x * r`.
//! 2. A NaN anywhere in the row: `out[b] = -1` ([`NAN_ROW`]).
//! 3. `temperature == 0`: greedy, the argmax of x (the lowest id on ties).
//! 4. Else `z_i = x_i / T` (a -0 becomes +0) and `m = max z`. If m is +inf:
//!    the argmax of z. If every z is -inf: `out[b] = -2` ([`NO_FINITE_LOGIT`]).
//! 5. The kept set, each truncation applied to what the previous one kept:
//!    - top_k (k < V): `z_i >= tau_k`, the k-th largest z counting duplicates
//!      (every tie at tau_k is kept, so more than k may stay);
//!    - top_p (< 1): masses `q_i = floor(exp(z_i - m) * 2^34)` (integers, so
//!      both backends sum them exactly, in any order), W their sum over the
//!      kept set, `target = ceil(top_p * W)` in f64; tau_p is the largest
//!      kept value v whose mass at or above it, `S(v) = sum of q_j over kept
//!      z_j >= v`, reaches the target; keep `z_i >= tau_p` (top_p = 0 keeps
//!      the maximum and its ties);
//!    - min_p (> 0): `z_i >= m + ln(min_p)` (probability at least min_p times
//!      the best one's; `ln(min_p)` is computed once, by the host, in f32).
//! 6. The draw is a Gumbel-max race: the token is the argmax over the kept
//!    set of `z_i + g_i` (the lowest id on ties), `g_i = -ln(-ln(u_i))`, with
//!    `u_i = (bits + 0.5) / 2^23` from the top 23 bits of a hash of
//!    (seed, b, L, i) ([`uniform`]); u is exact in f32 and never 0 or 1. No
//!    prefix sums, so every thread of a row draws in parallel, and a
//!    sequence's draws depend only on the seed, its row, its length and the
//!    token id: the same request gives the same tokens on both backends.
//! 7. With `append`, a chosen token (out[b] >= 0) is also written at
//!    `history[b*H + L]` and `history_len[b]` becomes `L + 1`, when `L < H`;
//!    a full row is left as it is (out[b] is still written). Error codes are
//!    never appended.
//!
//! The CPU (`exp`, `ln` of Rust's f32) and the GPU (`expf`, `logf`) may differ
//! in the last bit of a mass or a Gumbel value; everything else (penalty,
//! division, keys, thresholds of top-k and min-p, the hash) is exact and
//! identical. So the backends choose the same token except when two perturbed
//! scores, or a top-p mass and its target, are within a few ulps.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::validate;
use crate::tensor::{Indices, Tensor};

const OP: &str = "sample";

/// `out[b]` of a row holding a NaN.
pub const NAN_ROW: i32 = -1;
/// `out[b]` of a row (sampled, temperature > 0) whose every logit is -inf.
pub const NO_FINITE_LOGIT: i32 = -2;

/// The largest vocabulary (top-p's integer masses then sum below 2^52, exact
/// in f64, see [`MASS_SCALE`]; 262144 covers every current tokenizer).
pub const MAX_VOCAB: usize = 1 << 18;

/// Top-p masses are `exp(z - m)` in units of 2^-34: with at most
/// [`MAX_VOCAB`] = 2^18 tokens of mass at most 1, any sum stays below 2^52,
/// exact in f64.
pub const MASS_SCALE: f32 = 17_179_869_184.0; // 2^34

/// How `sample` chooses (see the module's semantics). The default is plain
/// sampling at temperature 1 with seed 0: no truncation, no penalty, no append.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleOptions {
    /// 0: greedy (argmax). Above 0: logits are divided by it.
    pub temperature: f32,
    /// Keep the k largest (ties at the k-th included); None: all.
    pub top_k: Option<usize>,
    /// Keep the most probable tokens holding at least this share of the
    /// mass (1: all; 0: the best and its ties).
    pub top_p: f32,
    /// Drop tokens less probable than this times the best one (0: none).
    pub min_p: f32,
    /// Divides positive logits and multiplies negative ones of tokens in the
    /// history, once per id (1: off).
    pub repeat_penalty: f32,
    /// Seed of the draws.
    pub seed: u64,
    /// Also append the chosen token to the history and count it in `history_len`.
    pub append: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            temperature: 1.0,
            top_k: None,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            seed: 0,
            append: false,
        }
    }
}

impl SampleOptions {
    /// Greedy decoding (temperature 0).
    pub fn greedy() -> Self {
        SampleOptions { temperature: 0.0, ..Default::default() }
    }

    /// Checks every field; the error names it (`temperature`, `top_k`, ...).
    pub fn validate(&self) -> Result<()> {
        let t = self.temperature;
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::invalid(OP, "temperature", "a finite number >= 0 (0: greedy)", t));
        }
        if self.top_k == Some(0) {
            return Err(Error::invalid(OP, "top_k", "at least 1 (or leave it out for no top-k)", 0));
        }
        for (name, p) in [("top_p", self.top_p), ("min_p", self.min_p)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::invalid(OP, name, "a number from 0 to 1", p));
            }
        }
        let r = self.repeat_penalty;
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::invalid(OP, "repeat_penalty", "a finite number > 0 (1: off)", r));
        }
        Ok(())
    }

    /// True for greedy decoding (no draw).
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// The top-k count that truncates a row of `vocab` (None: no top-k).
    pub fn top_k_for(&self, vocab: usize) -> Option<usize> {
        self.top_k.filter(|&k| k < vocab)
    }

    /// `ln(min_p)` in f32, the min-p threshold's offset from the best z;
    /// -inf when min_p is 0 (keeps everything).
    pub fn ln_min_p(&self) -> f32 {
        if self.min_p > 0.0 {
            self.min_p.ln()
        } else {
            f32::NEG_INFINITY
        }
    }
}

/// The validated problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleGeometry {
    /// Rows of logits (sequences), B.
    pub batch: usize,
    /// Columns of logits (the vocabulary), V.
    pub vocab: usize,
    /// History slots per row, H.
    pub history: usize,
}

/// Validates the views and options: logits `[B, V]` on `device` with a unit
/// column stride (any row stride), 1 <= V <= [`MAX_VOCAB`]; `history`,
/// `history_len` and `out` on `device`, `history_len` and `out` of length B,
/// `history` a multiple of B long (B*H); `out` not one of the other two, and
/// with `append` the history not its own length vector. B = 0 is valid (the
/// op does nothing) when every index vector is empty.
pub fn geometry(
    device: Device,
    logits: &Tensor,
    history: &Indices,
    history_len: &Indices,
    out: &Indices,
    o: &SampleOptions,
) -> Result<SampleGeometry> {
    o.validate()?;
    validate::check_device(OP, "logits", logits, device)?;
    validate::check_rank(OP, "logits", logits, 2)?;
    let (batch, vocab) = (logits.shape()[0], logits.shape()[1]);
    if vocab == 0 || vocab > MAX_VOCAB {
        return Err(Error::invalid(
            OP,
            "logits",
            format!("from 1 to {MAX_VOCAB} columns (the vocabulary)"),
            format!("shape {:?}", logits.shape()),
        ));
    }
    if vocab > 1 && logits.layout().stride(1) != 1 {
        return Err(Error::invalid(
            OP,
            "logits",
            "a unit stride along the vocabulary (last) axis",
            format!("strides {:?}", logits.layout().strides()),
        ));
    }
    validate::check_indices_device(OP, "history", history, device)?;
    validate::check_indices_device(OP, "history_len", history_len, device)?;
    validate::check_indices_device(OP, "out", out, device)?;
    for (name, ix) in [("history_len", history_len), ("out", out)] {
        if ix.len() != batch {
            return Err(Error::invalid(OP, name, format!("{batch} values (one per row of logits)"), ix.len()));
        }
    }
    let hist = if batch == 0 {
        if !history.is_empty() {
            return Err(Error::invalid(OP, "history", "no values (logits has no rows)", history.len()));
        }
        0
    } else {
        if history.len() % batch != 0 {
            return Err(Error::invalid(
                OP,
                "history",
                format!("a multiple of {batch} values ([B, H] row-major, B = {batch} rows of logits)"),
                history.len(),
            ));
        }
        history.len() / batch
    };
    if hist > i32::MAX as usize {
        return Err(Error::invalid(OP, "history", format!("at most {} slots per row", i32::MAX), hist));
    }
    let distinct = |arg: &str, other: &str| {
        Error::invalid(OP, arg, format!("indices of its own (it is written), not `{other}`"), "the same Indices")
    };
    for (name, other) in [("history", history), ("history_len", history_len)] {
        if std::ptr::eq(out, other) {
            return Err(distinct("out", name));
        }
    }
    if o.append && std::ptr::eq(history, history_len) {
        return Err(distinct("history", "history_len"));
    }
    Ok(SampleGeometry { batch, vocab, history: hist })
}

/// The tokens of `out` as ids, or an error naming the first row that held a
/// NaN ([`NAN_ROW`]) or only -inf ([`NO_FINITE_LOGIT`]).
pub fn tokens_or_error(out: &[i32]) -> Result<Vec<u32>> {
    out.iter()
        .enumerate()
        .map(|(b, &t)| match t {
            NAN_ROW => Err(Error::invalid(OP, "logits", "numbers (the model's output)", format!("NaN in row {b}"))),
            NO_FINITE_LOGIT => {
                Err(Error::invalid(OP, "logits", "at least one finite value per row", format!("row {b} all -inf")))
            }
            t if t < 0 => Err(Error::invalid(OP, "out", "a token id or an error code (-1, -2)", t)),
            t => Ok(t as u32),
        })
        .collect()
}

/// SplitMix64's finaliser (with its golden-ratio increment), as
/// kernels/sample.cu computes it.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hash of a row's draw: seed, row b and the row's length L (before append).
pub fn row_key(seed: u64, b: u64, len: u64) -> u64 {
    splitmix64(splitmix64(splitmix64(seed) ^ b) ^ len)
}

/// Token i's uniform in (0, 1) for a row's key: `(bits + 0.5) / 2^23` with
/// the top 23 bits of `splitmix64(key ^ i)`. Exact in f32 (24 significant
/// bits), so it is never 0 or 1.
pub fn uniform(key: u64, i: u64) -> f32 {
    let bits = (splitmix64(key ^ i) >> 41) as f32;
    (bits + 0.5) * (1.0 / 8_388_608.0)
}

/// The Gumbel value `-ln(-ln(u))` of a uniform (f32 throughout).
pub fn gumbel(u: f32) -> f32 {
    -(-u.ln()).ln()
}

/// The order-preserving u32 of a float's bits: a < b (not NaN) exactly when
/// key(a) < key(b), except that -0 sorts below +0 (z is never -0).
pub fn key_of(z: f32) -> u32 {
    let b = z.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// The float whose [`key_of`] is `k`.
pub fn from_key(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 { k & 0x7FFF_FFFF } else { !k })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_preserve_order_and_invert() {
        let xs = [f32::NEG_INFINITY, -3e38, -1.5, -1e-40, 0.0, 1e-40, 2.0, 3e38, f32::INFINITY];
        for w in xs.windows(2) {
            assert!(key_of(w[0]) < key_of(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(from_key(key_of(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn uniforms_stay_inside_the_open_interval() {
        let top = ((1u32 << 23) - 1) as f32 + 0.5;
        assert_eq!(top as f64, (1u64 << 23) as f64 - 0.5, "exact in f32");
        assert!(top * (1.0 / 8_388_608.0) < 1.0);
        let key = row_key(3, 1, 7);
        let us: Vec<f32> = (0..50_000).map(|i| uniform(key, i)).collect();
        assert!(us.iter().all(|&u| u > 0.0 && u < 1.0 && gumbel(u).is_finite()));
        let mean = us.iter().map(|&u| u as f64).sum::<f64>() / us.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        assert_ne!(row_key(3, 1, 7), row_key(3, 1, 8));
        assert_ne!(row_key(3, 1, 7), row_key(3, 2, 7));
        assert_ne!(row_key(3, 1, 7), row_key(4, 1, 7));
    }
}

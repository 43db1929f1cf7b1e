//! Element types. Every op supports f16, bf16 and f32 storage; math is f32 on
//! the GPU and f64 in the CPU reference.

use half::{bf16, f16};
use std::fmt;
use std::str::FromStr;

/// The storage type of a tensor's elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// IEEE half precision: 2 bytes, 11-bit significand, range about ±65504.
    F16,
    /// bfloat16: 2 bytes, f32's exponent range with an 8-bit significand.
    BF16,
    /// IEEE single precision: 4 bytes.
    F32,
}

impl DType {
    /// Every dtype, for loops over all of them (tests, tuning, reports).
    pub const ALL: [DType; 3] = [DType::F16, DType::BF16, DType::F32];

    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F16 | DType::BF16 => 2,
            DType::F32 => 4,
        }
    }

    /// The lowercase name used in messages, file names and the command line
    /// ("f16", "bf16", "f32"); [`FromStr`] accepts it back.
    pub fn name(self) -> &'static str {
        match self {
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
        }
    }

    /// The C type a kernel uses for this dtype (see kernels/common.cuh).
    pub fn cuda_type(self) -> &'static str {
        match self {
            DType::F16 => "__half",
            DType::BF16 => "__nv_bfloat16",
            DType::F32 => "float",
        }
    }

    /// Rounds an f64 to the nearest value this dtype can hold, returned as f64.
    pub fn round(self, v: f64) -> f64 {
        match self {
            DType::F16 => f16_from_f64(v).to_f64(),
            DType::BF16 => bf16_from_f64(v).to_f64(),
            DType::F32 => v as f32 as f64,
        }
    }
}

/// `v` rounded once, to nearest with ties to even, to a binary format of `p`
/// stored mantissa bits whose smallest normal exponent is `emin` (the result,
/// exactly representable there unless it overflows, as an f64). Why not the
/// `half` crate's `from_f64`: it drops the low 32 bits of the f64 before
/// rounding, so a value just above a half-way point (an f32 whose bits below
/// the rounding position are the half bit plus any of its 3 lowest) rounds
/// down as if it were a tie, where a GPU's `__float2bfloat16_rn` rounds up.
fn round_to_format(v: f64, p: i32, emin: i32) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let e = (((v.to_bits() >> 52) & 0x7ff) as i32 - 1023).max(emin);
    // 2^(e - p): the spacing of the format's values at v's exponent (exact).
    let ulp = f64::from_bits(((e - p + 1023) as u64) << 52);
    (v / ulp).round_ties_even() * ulp
}

/// `v` rounded to f16 (nearest, ties to even; overflow to infinity).
pub fn f16_from_f64(v: f64) -> f16 {
    f16::from_f64(round_to_format(v, 10, -14))
}

/// `v` rounded to bf16 (nearest, ties to even; overflow to infinity).
pub fn bf16_from_f64(v: f64) -> bf16 {
    bf16::from_f64(round_to_format(v, 7, -126))
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f16" | "float16" | "half" => Ok(DType::F16),
            "bf16" | "bfloat16" => Ok(DType::BF16),
            "f32" | "float32" | "float" => Ok(DType::F32),
            _ => Err(format!("unknown dtype {s:?}; expected one of f16, bf16, f32")),
        }
    }
}

/// A block-quantized format (named as GGML names them).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantKind {
    /// GGML type 8: blocks of 32, an f16 scale and 32 i8.
    Q8_0,
    /// GGML type 2: blocks of 32, an f16 scale and 32 4-bit values offset by 8.
    Q4_0,
    /// GGML type 12: super-blocks of 256, 8 sub-blocks with 6-bit scales and mins.
    Q4_K,
    /// GGML type 14: super-blocks of 256, 6-bit values, 16 i8 scales.
    Q6_K,
}

impl QuantKind {
    /// Every kind, in GGML id order.
    pub const ALL: [QuantKind; 4] = [QuantKind::Q4_0, QuantKind::Q8_0, QuantKind::Q4_K, QuantKind::Q6_K];

    /// The kind of a GGML type id, when it is one of these.
    pub fn from_ggml_type(t: u32) -> Option<Self> {
        match t {
            2 => Some(QuantKind::Q4_0),
            8 => Some(QuantKind::Q8_0),
            12 => Some(QuantKind::Q4_K),
            14 => Some(QuantKind::Q6_K),
            _ => None,
        }
    }

    /// The GGML type id.
    pub fn ggml_type(self) -> u32 {
        match self {
            QuantKind::Q4_0 => 2,
            QuantKind::Q8_0 => 8,
            QuantKind::Q4_K => 12,
            QuantKind::Q6_K => 14,
        }
    }

    /// GGML's name (`Q8_0`).
    pub fn name(self) -> &'static str {
        match self {
            QuantKind::Q4_0 => "Q4_0",
            QuantKind::Q8_0 => "Q8_0",
            QuantKind::Q4_K => "Q4_K",
            QuantKind::Q6_K => "Q6_K",
        }
    }

    /// Elements per block.
    pub fn block_elems(self) -> usize {
        match self {
            QuantKind::Q4_0 | QuantKind::Q8_0 => 32,
            QuantKind::Q4_K | QuantKind::Q6_K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            QuantKind::Q4_0 => 18,
            QuantKind::Q8_0 => 34,
            QuantKind::Q4_K => 144,
            QuantKind::Q6_K => 210,
        }
    }

    /// The bytes `n` elements take, or None when `n` is not a whole number of
    /// blocks (or the size overflows).
    pub fn bytes_for(self, n: usize) -> Option<usize> {
        if n % self.block_elems() != 0 {
            return None;
        }
        (n / self.block_elems()).checked_mul(self.block_bytes())
    }
}

impl fmt::Display for QuantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for QuantKind {
    type Err = String;
    /// GGML's name in any case: `q8_0`, `Q4_K`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QuantKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown quantized format {s:?}; expected one of q8_0, q4_0, q4_k, q6_k"))
    }
}

#[cfg(test)]
mod rounding_tests {
    use super::*;

    #[test]
    fn f64_rounds_once_to_f16_and_bf16() {
        // Every f32 in a sweep of bit patterns: rounding it from f64 must equal
        // the f32 rounding (correct for f32 inputs), ties to even included.
        let mut x = 0x3f80_0000u32;
        for i in 0..200_000u32 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223) & 0x7fff_ffff;
            let v = f32::from_bits(x.min(0x7f7f_ffff));
            let v = if i % 2 == 1 { -v } else { v };
            assert_eq!(bf16_from_f64(v as f64).to_bits(), bf16::from_f32(v).to_bits(), "{v:e}");
            assert_eq!(f16_from_f64(v as f64).to_bits(), f16::from_f32(v).to_bits(), "{v:e}");
        }
        // The half crate's case: just above a bf16 half-way point by 2^-23 relative.
        let v = f32::from_bits(0x3f80_8001) as f64;
        assert_eq!(bf16_from_f64(v).to_bits(), 0x3f81);
        // Ties to even, overflow, subnormals, zeros, infinities and NaN.
        assert_eq!(bf16_from_f64(f32::from_bits(0x3f80_8000) as f64).to_bits(), 0x3f80);
        assert_eq!(bf16_from_f64(f32::from_bits(0x3f81_8000) as f64).to_bits(), 0x3f82);
        assert!(f16_from_f64(65520.0).is_infinite() && f16_from_f64(65519.0).to_f64() == 65504.0);
        assert_eq!(f16_from_f64(2f64.powi(-24)).to_bits(), 1);
        assert_eq!(f16_from_f64(2f64.powi(-25)).to_bits(), 0);
        assert_eq!(f16_from_f64(-0.0).to_bits(), 0x8000);
        assert!(bf16_from_f64(f64::NEG_INFINITY).is_infinite() && bf16_from_f64(f64::NAN).is_nan());
    }
}

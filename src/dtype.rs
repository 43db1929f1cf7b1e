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
            DType::F16 => f16::from_f64(v).to_f64(),
            DType::BF16 => bf16::from_f64(v).to_f64(),
            DType::F32 => v as f32 as f64,
        }
    }
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

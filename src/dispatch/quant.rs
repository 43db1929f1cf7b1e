//! Which kernel family `quant_matmul` uses: the tensor-core kernel
//! (kernels/quant.cu, up to 16 tokens per launch) or the bandwidth-first
//! warp-per-rows kernel (kernels/quant_rows.cu, up to 8 per launch).

use std::str::FromStr;

use crate::dtype::QuantKind;
use crate::error::{Error, Result};

/// `DK_QUANT_KERNEL`: `auto`, `mma` or `rows`.
pub const KERNEL_ENV: &str = "DK_QUANT_KERNEL";

/// Tokens one `rows` launch covers.
pub const ROWS_MAX_N: usize = 8;

/// Auto picks `rows` only below this many rows of W (a layer's projection,
/// not a vocabulary-wide LM head).
pub const ROWS_MAX_M: usize = 65536;

/// The kernel family of `quant_matmul`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QuantKernel {
    /// `Rows` for one token of a Q4_K or Q4_0 matrix of fewer than
    /// [`ROWS_MAX_M`] rows, `Mma` otherwise: where each measured faster
    /// (H200, 2026-11-29, `bench quant-matmul --kernel mma,rows`: at N = 1
    /// rows took 49 / 61 us against 55 / 82 us for Q4_K 14336x4096 /
    /// 4096x14336 and 56 against 66 us for Q4_0 4096x14336, but was slower
    /// for Q6_K, for most Q8_0 shapes, for a 128256-row LM head and at 4 or
    /// more tokens, three to ten times).
    #[default]
    Auto,
    /// Always the tensor-core kernel (chunks of 16 tokens).
    Mma,
    /// Always the warp-per-rows kernel (chunks of 8 tokens).
    Rows,
}

impl QuantKernel {
    /// The family that runs `n` tokens of a `kind` matrix of `m` rows:
    /// `Mma` or `Rows`, never `Auto`.
    pub fn resolve(self, kind: QuantKind, m: usize, n: usize) -> QuantKernel {
        match self {
            QuantKernel::Auto if n == 1 && m < ROWS_MAX_M && matches!(kind, QuantKind::Q4_K | QuantKind::Q4_0) => {
                QuantKernel::Rows
            }
            QuantKernel::Auto => QuantKernel::Mma,
            k => k,
        }
    }

    /// The word naming it (`auto`, `mma`, `rows`).
    pub fn name(self) -> &'static str {
        match self {
            QuantKernel::Auto => "auto",
            QuantKernel::Mma => "mma",
            QuantKernel::Rows => "rows",
        }
    }
}

impl FromStr for QuantKernel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        super::prefs::parse_choice(KERNEL_ENV, s)
    }
}

/// Caller preferences for `quant_matmul`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QuantPrefs {
    /// Which kernel family to use.
    pub kernel: QuantKernel,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_rows_where_it_measured_faster() {
        let auto = |k, m, n| QuantKernel::Auto.resolve(k, m, n);
        assert_eq!(auto(QuantKind::Q4_K, 14336, 1), QuantKernel::Rows);
        assert_eq!(auto(QuantKind::Q4_0, 4096, 1), QuantKernel::Rows);
        assert_eq!(auto(QuantKind::Q4_K, 14336, 2), QuantKernel::Mma);
        assert_eq!(auto(QuantKind::Q4_K, 128256, 1), QuantKernel::Mma);
        assert_eq!(auto(QuantKind::Q6_K, 4096, 1), QuantKernel::Mma);
        assert_eq!(auto(QuantKind::Q8_0, 4096, 1), QuantKernel::Mma);
        assert_eq!(QuantKernel::Rows.resolve(QuantKind::Q6_K, 10, 20), QuantKernel::Rows);
        assert_eq!(QuantKernel::Mma.resolve(QuantKind::Q4_K, 10, 1), QuantKernel::Mma);
        assert_eq!("ROWS".parse::<QuantKernel>().unwrap(), QuantKernel::Rows);
        let e = "tiles".parse::<QuantKernel>().unwrap_err().to_string();
        assert!(e.contains(KERNEL_ENV) && e.contains("mma"), "{e}");
    }
}

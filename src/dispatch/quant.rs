//! Which kernel family `quant_matmul` uses: the tensor-core kernel
//! (kernels/quant.cu, up to 16 tokens per launch) or the bandwidth-first
//! warp-per-rows kernel (kernels/quant_rows.cu, up to 8 per launch).

use std::str::FromStr;

use crate::error::{Error, Result};

/// `DK_QUANT_KERNEL`: `auto`, `mma` or `rows`.
pub const KERNEL_ENV: &str = "DK_QUANT_KERNEL";

/// Tokens one `rows` launch covers; auto picks `rows` up to this N.
pub const ROWS_MAX_N: usize = 8;

/// The kernel family of `quant_matmul`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QuantKernel {
    /// `Rows` for N <= [`ROWS_MAX_N`], `Mma` above.
    #[default]
    Auto,
    /// Always the tensor-core kernel (chunks of 16 tokens).
    Mma,
    /// Always the warp-per-rows kernel (chunks of 8 tokens).
    Rows,
}

impl QuantKernel {
    /// The family that runs `n` tokens: `Mma` or `Rows`, never `Auto`.
    pub fn resolve(self, n: usize) -> QuantKernel {
        match self {
            QuantKernel::Auto if n <= ROWS_MAX_N => QuantKernel::Rows,
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
    fn auto_picks_rows_up_to_8_tokens() {
        assert_eq!(QuantKernel::Auto.resolve(1), QuantKernel::Rows);
        assert_eq!(QuantKernel::Auto.resolve(8), QuantKernel::Rows);
        assert_eq!(QuantKernel::Auto.resolve(9), QuantKernel::Mma);
        assert_eq!(QuantKernel::Rows.resolve(20), QuantKernel::Rows);
        assert_eq!(QuantKernel::Mma.resolve(1), QuantKernel::Mma);
        assert_eq!("ROWS".parse::<QuantKernel>().unwrap(), QuantKernel::Rows);
        let e = "tiles".parse::<QuantKernel>().unwrap_err().to_string();
        assert!(e.contains(KERNEL_ENV) && e.contains("mma"), "{e}");
    }
}

//! Which kernel family `quant_matmul` uses: the tensor-core kernel
//! (kernels/quant.cu, up to 16 tokens per launch), the integer-dot kernel
//! with x quantized to 8 bits (kernels/quant_dot.cu, up to 8 per launch, x
//! held whole in shared memory) or the integer tensor-core kernel on the
//! same quantized x (kernels/quant_imma.cu, every format, Q8_0 and Q4_0 where
//! K is a multiple of 256, up to 16 per launch).

use std::str::FromStr;

use crate::error::{Error, Result};

/// `DK_QUANT_KERNEL`: `auto`, `mma`, `dot` or `imma`.
pub const KERNEL_ENV: &str = "DK_QUANT_KERNEL";

/// Tokens one `dot` launch covers at most (fewer where x would not fit in
/// the CTA's shared memory: ops::quant::dot_tokens).
pub const DOT_MAX_N: usize = 8;

/// Shared-memory bytes of one token's x in the `dot` kernel: its quants
/// (K rounded up to 64, whole unit pairs: kernels/quant_dot.cu) and, per 32
/// elements, 8 bytes of scale and sums.
pub fn dot_x_token_bytes(k: usize) -> usize {
    k.next_multiple_of(64) + k / 32 * 8
}

/// The kernel family of `quant_matmul`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QuantKernel {
    /// `Imma` from the tuning table's `quant.imma_min_n` tokens for the
    /// format where x is given already rounded to 8 bits (a decode step's
    /// projections) or is rounded once by a launch of its own (the table's
    /// `quant.round_x_min_elems`) and the kernel runs the matrix here (Q8_0
    /// and Q4_0 with K a multiple of 256, Q4_K and Q6_K; x of 8 tokens of a
    /// slice of K within the CTA's shared memory); else `Dot` up to the
    /// table's `quant.dot_max_n` tokens for the format where the dot kernel
    /// can run the matrix on the device (x of its K within the kernel's
    /// budget, its CTA within the device's shared memory), `Mma` otherwise. The embedded 16 (every format) is what `tune --ops quant`
    /// chose on an H200 (2026-11-30, 4096x4096 and 14336x4096 at 1, 2, 4, 8
    /// and 16 tokens): dot took 0.28-0.47x mma's time at one and two tokens,
    /// 0.53-0.78x at eight and 0.66-0.92x at sixteen (two launches of eight).
    #[default]
    Auto,
    /// Always the tensor-core kernel (chunks of 16 tokens).
    Mma,
    /// Always the integer-dot kernel (x rounded to 8 bits; chunks of up to
    /// [`DOT_MAX_N`] tokens; fewer where x would not fit in shared memory).
    Dot,
    /// Always the integer tensor-core kernel (x rounded to 8 bits, made by
    /// the launch where the caller gives none; Q8_0 and Q4_0 weights with K a
    /// multiple of 256, Q4_K and Q6_K; chunks of
    /// up to 16 tokens, a launch a slice of K where their x of all K would
    /// not fit in shared memory).
    Imma,
}

impl QuantKernel {
    /// The family that runs `n` tokens when auto gives the integer
    /// tensor-core kernel `n >= imma_min_n` tokens (the tuning table's
    /// `quant.imma_min_n` for the format; 0: never) where `imma_fits` (it
    /// has the format, x already rounded is given, x of a slice of K fits
    /// its shared memory), else the dot kernel up to `dot_max_n` tokens (the table's
    /// `quant.dot_max_n`) where `dot_fits` says it can run the matrix on
    /// this device (x of its K within the kernel's budget and the CTA's
    /// shared memory within the device's opt-in bound): `Imma`, `Dot` or
    /// `Mma`, never `Auto`.
    pub fn resolve(
        self,
        n: usize,
        dot_max_n: usize,
        dot_fits: bool,
        imma_min_n: usize,
        imma_fits: bool,
    ) -> QuantKernel {
        match self {
            QuantKernel::Auto if imma_fits && imma_min_n > 0 && n >= imma_min_n => QuantKernel::Imma,
            QuantKernel::Auto if n <= dot_max_n && dot_fits => QuantKernel::Dot,
            QuantKernel::Auto => QuantKernel::Mma,
            k => k,
        }
    }

    /// The word naming it (`auto`, `mma`, `dot`, `imma`).
    pub fn name(self) -> &'static str {
        match self {
            QuantKernel::Auto => "auto",
            QuantKernel::Mma => "mma",
            QuantKernel::Dot => "dot",
            QuantKernel::Imma => "imma",
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
    fn auto_picks_dot_for_few_tokens() {
        let auto = |n| QuantKernel::Auto.resolve(n, 4, true, 0, true);
        assert_eq!(auto(1), QuantKernel::Dot);
        assert_eq!(auto(4), QuantKernel::Dot);
        assert_eq!(auto(5), QuantKernel::Mma);
        assert_eq!(auto(16), QuantKernel::Mma);
        // The dot kernel cannot run the matrix here (K, or the device's shared memory).
        assert_eq!(QuantKernel::Auto.resolve(1, 4, false, 0, false), QuantKernel::Mma);
        // The table's threshold: dot beyond one launch's tokens, or never.
        assert_eq!(QuantKernel::Auto.resolve(12, 12, true, 0, false), QuantKernel::Dot);
        assert_eq!(QuantKernel::Auto.resolve(1, 0, true, 0, false), QuantKernel::Mma);
        // The integer tensor-core kernel from its threshold on, where it can run.
        assert_eq!(QuantKernel::Auto.resolve(8, 16, true, 9, true), QuantKernel::Dot);
        assert_eq!(QuantKernel::Auto.resolve(9, 16, true, 9, true), QuantKernel::Imma);
        assert_eq!(QuantKernel::Auto.resolve(16, 4, false, 9, true), QuantKernel::Imma);
        assert_eq!(QuantKernel::Auto.resolve(16, 16, true, 9, false), QuantKernel::Dot);
        assert_eq!(QuantKernel::Auto.resolve(16, 16, true, 0, true), QuantKernel::Dot);
        // A forced family stays (a dot kernel that cannot run is the launch's error).
        assert_eq!(QuantKernel::Dot.resolve(20, 4, false, 1, true), QuantKernel::Dot);
        assert_eq!(QuantKernel::Mma.resolve(1, 4, true, 1, true), QuantKernel::Mma);
        assert_eq!(QuantKernel::Imma.resolve(1, 4, true, 0, false), QuantKernel::Imma);
        assert_eq!("imma".parse::<QuantKernel>().unwrap(), QuantKernel::Imma);
        assert_eq!("DOT".parse::<QuantKernel>().unwrap(), QuantKernel::Dot);
        let e = "rows".parse::<QuantKernel>().unwrap_err().to_string();
        assert!(e.contains(KERNEL_ENV) && e.contains("mma"), "{e}");
    }
}

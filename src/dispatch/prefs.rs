//! The caller's dispatch preferences and the one place that reads their
//! environment overrides (`DK_MATMUL_BACKEND`, `DK_MATMUL_SMALLN_MAX_N`,
//! `DK_SOFTMAX_BACKEND`, `DK_SDPA_BACKEND`, `DK_SDPA_KERNEL`, `DK_QUANT_KERNEL`).

use crate::error::{Error, Result};

use super::matmul::{MatmulBackend, MatmulPrefs};
use super::quant::{QuantKernel, QuantPrefs};
use super::sdpa::{SdpaBackend, SdpaKernel, SdpaPrefs};
use super::softmax::{SoftmaxBackend, SoftmaxPrefs};

/// `DK_MATMUL_BACKEND`: `auto`, `gemv` or `cublas`.
pub const MATMUL_BACKEND_ENV: &str = "DK_MATMUL_BACKEND";
/// `DK_MATMUL_SMALLN_MAX_N`: the largest N auto dispatch gives the GEMV family.
pub const MATMUL_SMALLN_ENV: &str = "DK_MATMUL_SMALLN_MAX_N";
/// `DK_SOFTMAX_BACKEND`: `auto`, `vec`, `block` or `split`.
pub const SOFTMAX_BACKEND_ENV: &str = "DK_SOFTMAX_BACKEND";
/// `DK_SDPA_BACKEND`: `auto`, `composed` or `fused`.
pub const SDPA_BACKEND_ENV: &str = "DK_SDPA_BACKEND";
/// `DK_SDPA_KERNEL`: `auto`, `mma`, `mma8`, `mmat` or `simt`.
pub const SDPA_KERNEL_ENV: &str = "DK_SDPA_KERNEL";

/// The preferences of every dispatched op, as the environment sets them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefs {
    /// For `matmul`.
    pub matmul: MatmulPrefs,
    /// For `softmax`.
    pub softmax: SoftmaxPrefs,
    /// For `sdpa`.
    pub sdpa: SdpaPrefs,
    /// For `quant_matmul`.
    pub quant: QuantPrefs,
}

impl Prefs {
    /// Reads every override; unset or empty means the default, a bad value is
    /// an error naming the variable and the values it takes.
    pub fn from_env() -> Result<Self> {
        let smalln_max_n = env_var(MATMUL_SMALLN_ENV)
            .map(|v| {
                v.trim().parse::<usize>().map_err(|_| Error::BadEnv {
                    var: MATMUL_SMALLN_ENV,
                    value: v.clone(),
                    allowed: "a non-negative integer (the largest N the GEMV family serves)".into(),
                })
            })
            .transpose()?;
        Ok(Prefs {
            matmul: MatmulPrefs { backend: from_env(MATMUL_BACKEND_ENV)?, smalln_max_n },
            softmax: SoftmaxPrefs { backend: from_env(SOFTMAX_BACKEND_ENV)? },
            sdpa: SdpaPrefs { backend: from_env(SDPA_BACKEND_ENV)?, kernel: from_env(SDPA_KERNEL_ENV)? },
            quant: QuantPrefs { kernel: from_env(super::quant::KERNEL_ENV)? },
        })
    }
}

/// A backend choice named by a word, as an environment override spells it.
pub trait Choice: Sized + Copy + Default + 'static {
    /// Every accepted word and the choice it names.
    const WORDS: &'static [(&'static str, Self)];
}

impl Choice for MatmulBackend {
    const WORDS: &'static [(&'static str, Self)] =
        &[("auto", MatmulBackend::Auto), ("gemv", MatmulBackend::Gemv), ("cublas", MatmulBackend::Cublas)];
}

impl Choice for SoftmaxBackend {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("auto", SoftmaxBackend::Auto),
        ("vec", SoftmaxBackend::Vec),
        ("block", SoftmaxBackend::Block),
        ("split", SoftmaxBackend::Split),
    ];
}

impl Choice for SdpaKernel {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("auto", SdpaKernel::Auto),
        ("mma", SdpaKernel::Mma),
        ("mma8", SdpaKernel::Mma8),
        ("mmat", SdpaKernel::MmaT),
        ("mmat8", SdpaKernel::MmaT8),
        ("simt", SdpaKernel::Simt),
    ];
}

impl Choice for SdpaBackend {
    const WORDS: &'static [(&'static str, Self)] =
        &[("auto", SdpaBackend::Auto), ("composed", SdpaBackend::Composed), ("fused", SdpaBackend::Fused)];
}

impl Choice for QuantKernel {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("auto", QuantKernel::Auto),
        ("mma", QuantKernel::Mma),
        ("dot", QuantKernel::Dot),
        ("imma", QuantKernel::Imma),
    ];
}

/// Parses `value` (any case, surrounding blanks ignored) as set in `var`.
pub fn parse_choice<T: Choice>(var: &'static str, value: &str) -> Result<T> {
    let word = value.trim().to_ascii_lowercase();
    T::WORDS.iter().find(|(w, _)| *w == word).map(|&(_, c)| c).ok_or_else(|| Error::BadEnv {
        var,
        value: value.to_string(),
        allowed: T::WORDS.iter().map(|(w, _)| *w).collect::<Vec<_>>().join(", "),
    })
}

fn from_env<T: Choice>(var: &'static str) -> Result<T> {
    env_var(var).map(|v| parse_choice(var, &v)).transpose().map(Option::unwrap_or_default)
}

/// Reads an environment variable; unset or empty is None.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

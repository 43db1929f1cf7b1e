//! decode-kernels: GPU kernels for the small-batch (decode) regime of LLM
//! inference, with a CPU backend of the same semantics.
//!
//! Start with [`Context::from_env`] (CUDA when usable, else the CPU backend),
//! make [`Tensor`]s, and call the ops in [`ops`].

pub mod bench;
pub mod check;
pub mod context;
pub mod cpu;
pub mod decode;
pub mod dispatch;
pub mod dtype;
pub mod error;
pub mod npy;
pub mod ops;
pub mod profile;
pub mod progress;
pub mod roofline;
pub mod runtime;
pub mod table;
pub mod tensor;
pub mod tune;
pub mod tuning;

pub use context::{Context, DeviceRequest};
pub use dtype::DType;
pub use error::{Error, Result};
pub use tensor::{Layout, Tensor};

/// The README's code runs as a doctest, so its example stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

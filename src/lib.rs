//! decode-kernels: GPU kernels for the small-batch (decode) regime of LLM
//! inference, with a CPU backend of the same semantics.
//!
//! Start with [`Context::from_env`] (CUDA when usable, else the CPU backend),
//! make [`Tensor`]s, and call the ops in [`ops`].

#![warn(missing_docs)]

pub mod context;
pub mod decode;
pub mod device;
pub mod dispatch;
pub mod dtype;
pub mod error;
pub mod fsio;
pub mod mem;
pub mod model;
pub mod npy;
pub mod ops;
pub mod profile;
pub mod progress;
pub mod spec;
pub mod table;
pub mod tensor;
pub mod tuning;

// Without the command line, a few reporting helpers only it calls are unused.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) mod cpu;
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) mod roofline;
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) mod runtime;

// The command line and what only it uses (benchmarks, the GPU check, the
// tuner): compiled with the `cli` feature, and not part of the library's API.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod bench;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod check;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod tune;

pub use context::{Context, DeviceRequest};
pub use dtype::DType;
pub use error::{Error, Result};
pub use runtime::record::{Graph, Recording};
pub use tensor::{Indices, IndicesReadback, Layout, Tensor};

/// The README's code runs as a doctest, so its example stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

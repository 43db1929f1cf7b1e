//! The one error type of the crate. Every variant carries enough context to act
//! on: which op, which argument, what was expected, what was found.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller-supplied value is outside what the op accepts.
    #[error("{op}: argument `{arg}`: expected {expected}, got {got}")]
    InvalidArgument { op: &'static str, arg: String, expected: String, got: String },

    /// Two views that must share a dtype do not.
    #[error("{op}: argument `{arg}` has dtype {got}, expected {expected}")]
    DTypeMismatch { op: &'static str, arg: String, expected: String, got: String },

    /// A view's shape and strides reach past the end of its buffer.
    #[error("{op}: argument `{arg}`: view reaches element {last} but its buffer holds {len} elements")]
    OutOfBounds { op: &'static str, arg: String, last: usize, len: usize },

    /// The output shares memory with an input without being the very same view.
    #[error("{op}: output `{output}` partially overlaps input `{input}` (only an identical view may alias, and only where the op allows in-place)")]
    Overlap { op: &'static str, output: String, input: String },

    /// A view lives on another backend or device than the context running the op.
    #[error("{op}: argument `{arg}` lives on {found}, but the context runs on {expected}")]
    WrongDevice { op: &'static str, arg: String, expected: String, found: String },

    /// An environment variable holds a value we do not accept.
    #[error("environment variable {var}={value:?} is invalid; allowed values: {allowed}")]
    BadEnv { var: &'static str, value: String, allowed: String },

    /// CUDA was asked for but cannot be used here.
    #[error("CUDA is unavailable: {0}")]
    CudaUnavailable(String),

    /// A CUDA driver call failed.
    #[error("CUDA driver error during {during}: {source}")]
    Driver {
        during: String,
        #[source]
        source: cudarc::driver::DriverError,
    },

    /// A cuBLAS call failed.
    #[error("cuBLAS error during {during}: {message}")]
    Cublas { during: String, message: String },

    /// NVRTC rejected a kernel source; the log says why.
    #[error("NVRTC failed to compile kernel source `{source_name}` for {arch}:\n{log}")]
    Compile { source_name: String, arch: String, log: String },

    /// NVRTC itself could not be loaded or driven.
    #[error("NVRTC is unavailable: {0}")]
    NvrtcUnavailable(String),

    /// The op or variant has no implementation for this input.
    #[error("{op}: not supported: {what}")]
    Unsupported { op: &'static str, what: String },

    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A `.npy` file is malformed or of an unsupported kind.
    #[error("{path}: {message}")]
    Npy { path: PathBuf, message: String },

    /// What a size argument asks for does not fit in the memory free now
    /// (checked before allocating), or its byte count overflows 64 bits
    /// (`needed` is then `u64::MAX`).
    #[error("{}", crate::mem::describe_oom(.what, .place, *.needed, *.available))]
    OutOfMemory {
        /// What needs the memory, with the arguments that sized it.
        what: String,
        /// "host" or the device.
        place: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes free when checked.
        available: u64,
    },
}

impl Error {
    pub fn invalid(
        op: &'static str,
        arg: impl Into<String>,
        expected: impl Into<String>,
        got: impl std::fmt::Display,
    ) -> Self {
        Error::InvalidArgument { op, arg: arg.into(), expected: expected.into(), got: got.to_string() }
    }

    pub(crate) fn driver(during: impl Into<String>) -> impl FnOnce(cudarc::driver::DriverError) -> Error {
        let during = during.into();
        move |source| Error::Driver { during, source }
    }

    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}

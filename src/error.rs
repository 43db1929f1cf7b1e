//! The one error type of the crate. Every variant carries enough context to act
//! on: which op, which argument, what was expected, what was found.

use std::path::PathBuf;

/// The crate's result type: [`Error`] unless another is named.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the crate, one variant per kind of cause.
/// `op` fields name the op that failed ("matmul", "softmax", ...); `arg`
/// fields name the argument at fault as the caller wrote it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller-supplied value is outside what the op accepts.
    #[error("{op}: argument `{arg}`: expected {expected}, got {got}")]
    InvalidArgument {
        /// The op that rejected the value.
        op: &'static str,
        /// The argument holding the value.
        arg: String,
        /// What the op accepts there.
        expected: String,
        /// The value it was given.
        got: String,
    },

    /// Two views that must share a dtype do not.
    #[error("{op}: argument `{arg}` has dtype {got}, expected {expected}")]
    DTypeMismatch {
        /// The op that checked the dtypes.
        op: &'static str,
        /// The argument whose dtype differs.
        arg: String,
        /// The dtype it must share (usually the first input's).
        expected: String,
        /// Its own dtype.
        got: String,
    },

    /// A view's shape and strides reach past the end of its buffer.
    #[error("{op}: argument `{arg}`: view reaches element {last} but its buffer holds {len} elements")]
    OutOfBounds {
        /// The op that validated the view.
        op: &'static str,
        /// The argument holding the view.
        arg: String,
        /// The furthest element (offset + extent) the view reaches, in elements.
        last: usize,
        /// The buffer's length, in elements.
        len: usize,
    },

    /// The output shares memory with an input without being the very same view.
    #[error("{op}: output `{output}` partially overlaps input `{input}` (only an identical view may alias, and only where the op allows in-place)")]
    Overlap {
        /// The op that found the overlap.
        op: &'static str,
        /// The output argument.
        output: String,
        /// The input argument it overlaps.
        input: String,
    },

    /// A view lives on another backend or device than the context running the op.
    #[error("{op}: argument `{arg}` lives on {found}, but the context runs on {expected}")]
    WrongDevice {
        /// The op that was called.
        op: &'static str,
        /// The argument on the wrong device.
        arg: String,
        /// The context's device.
        expected: String,
        /// The device the argument lives on.
        found: String,
    },

    /// An environment variable holds a value we do not accept.
    #[error("environment variable {var}={value:?} is invalid; allowed values: {allowed}")]
    BadEnv {
        /// The variable's name.
        var: &'static str,
        /// The value it holds.
        value: String,
        /// The values it may hold, for the message.
        allowed: String,
    },

    /// CUDA was asked for but cannot be used here.
    #[error("CUDA is unavailable: {0}")]
    CudaUnavailable(String),

    /// A CUDA driver call failed.
    #[error("CUDA driver error during {during}: {source}")]
    Driver {
        /// What the crate was doing when the call failed.
        during: String,
        /// The driver's own error.
        #[source]
        source: cudarc::driver::DriverError,
    },

    /// A cuBLAS call failed.
    #[error("cuBLAS error during {during}: {message}")]
    Cublas {
        /// What the crate was doing when the call failed.
        during: String,
        /// cuBLAS's status, in words.
        message: String,
    },

    /// NVRTC rejected a kernel source; the log says why.
    #[error("NVRTC failed to compile kernel source `{source_name}` for {arch}:\n{log}")]
    Compile {
        /// The kernel source's name (its file under kernels/).
        source_name: String,
        /// The architecture compiled for, e.g. "sm_90".
        arch: String,
        /// NVRTC's compile log.
        log: String,
    },

    /// NVRTC itself could not be loaded or driven.
    #[error("NVRTC is unavailable: {0}")]
    NvrtcUnavailable(String),

    /// The op or variant has no implementation for this input.
    #[error("{op}: not supported: {what}")]
    Unsupported {
        /// The op that was called.
        op: &'static str,
        /// What about the input it does not support.
        what: String,
    },

    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done to the file ("reading", "writing", ...); the
        /// message puts it before the path.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A `.npy` file is malformed or of an unsupported kind.
    #[error("{path}: {message}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// What a size argument asks for does not fit in the memory free now
    /// (checked before allocating), or its byte count overflows 64 bits
    /// (`needed` is then `u64::MAX`).
    #[error("{}", describe_oom(.what, .place, *.needed, *.available))]
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
    /// An [`Error::InvalidArgument`], with the value `got` formatted for the message.
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

    /// For `map_err`: wraps an I/O error on `path` as [`Error::Io`], `what`
    /// saying what was being done ("reading", "writing", ...).
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}

/// A byte count for messages: "1.50 GB (1500000000 bytes)".
pub fn fmt_bytes(b: u64) -> String {
    if b < 1_000_000 {
        format!("{b} bytes")
    } else if b < 1_000_000_000 {
        format!("{:.1} MB ({b} bytes)", b as f64 / 1e6)
    } else {
        format!("{:.2} GB ({b} bytes)", b as f64 / 1e9)
    }
}

/// The message of [`Error::OutOfMemory`].
fn describe_oom(what: &str, place: &str, needed: u64, available: u64) -> String {
    if needed == u64::MAX {
        return format!("{what}: the size overflows (more bytes than 64 bits count); use smaller sizes");
    }
    format!(
        "{what} needs {} of {place} memory, but only {} is available; use smaller sizes",
        fmt_bytes(needed),
        fmt_bytes(available)
    )
}

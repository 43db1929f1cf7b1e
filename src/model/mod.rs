//! Real checkpoints: a Hugging Face model folder (config.json, safetensors,
//! tokenizer.json) or a GGUF file, read into one typed [`ModelSpec`], one
//! tensor source keyed by Hugging Face tensor names, and a tokenizer; then
//! uploaded tensor by tensor into the decode model's fused layout ([`Model::load`]);
//! and generation on it (module [`generate`](mod@generate): a [`Session`], a [`Sampler`], stop rules).
//!
//! Every error names the file and the field or tensor at fault and what was
//! expected; nothing here panics on a file's contents.
//!
//! ```no_run
//! use decode_kernels::model::Model;
//! use decode_kernels::Context;
//!
//! let ctx = Context::cpu();
//! let model = Model::load(&ctx, "path/to/Qwen2.5-0.5B".as_ref())?; // or a .gguf file
//! let tok = model.tokenizer.as_ref().expect("tokenizer.json");
//! let prompt = tok.encode("The quick brown fox", true)?;
//! // One sequence, room for the prompt and 16 more tokens; feed the prompt one token at a time.
//! let step = model.decode_model(&ctx, 1, prompt.len() + 16)?;
//! for (pos, &t) in prompt.iter().enumerate() {
//!     model.embed_into(&ctx, &[t], &step.buf.x0)?;
//!     step.step_at(&ctx, pos)?;
//! }
//! let logits = step.buf.logits.to_f32_vec()?; // [1, vocab]: the next token's logits
//! # Ok::<(), decode_kernels::Error>(())
//! ```

pub mod config;
pub mod generate;
pub mod gguf;
pub mod load;
pub mod safetensors;
pub mod tokenizer;

pub use config::{Architecture, ModelSpec, RopeScaling};
pub use generate::{
    generate, generate_batch, FinishReason, GenerateOptions, Generation, Sampler, SamplingParams, Session, StepMode,
};
pub use gguf::GgufFile;
pub use load::{Format, LayerTensors, LoadOptions, Model, Weights};
pub use safetensors::SafetensorsSource;
pub use tokenizer::{StreamDecoder, Tokenizer};

use std::path::Path;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::HostData;

/// The `op` every loading error carries.
pub(crate) const OP: &str = "load";

/// An error about one field (or tensor) of one file: "load: argument
/// `FILE: FIELD`: expected EXPECTED, got GOT".
pub(crate) fn bad(path: &Path, field: &str, expected: impl Into<String>, got: impl std::fmt::Display) -> Error {
    Error::InvalidArgument {
        op: OP,
        arg: format!("{}: {field}", path.display()),
        expected: expected.into(),
        got: got.to_string(),
    }
}

/// A feature of a file this crate does not handle yet: "load: not supported: FILE: FIELD: WHAT".
pub(crate) fn unsupported(path: &Path, field: &str, what: impl std::fmt::Display) -> Error {
    Error::Unsupported { op: OP, what: format!("{}: {field}: {what}", path.display()) }
}

/// One tensor as stored in a checkpoint: its storage dtype, shape (outermost
/// first) and raw little-endian bytes (borrowed from the memory map).
#[derive(Debug, Clone, Copy)]
pub struct RawTensor<'a> {
    /// Storage dtype.
    pub dtype: DType,
    /// Shape, outermost axis first (row-major), as PyTorch writes it.
    pub shape: &'a [usize],
    /// The elements, little-endian, row-major.
    pub bytes: &'a [u8],
}

/// A checkpoint's tensors by Hugging Face name (`model.layers.0.self_attn.q_proj.weight`).
pub trait TensorSource {
    /// The file (or folder) this source reads, for messages.
    fn path(&self) -> &Path;
    /// True when the checkpoint holds a tensor of this name.
    fn contains(&self, name: &str) -> bool;
    /// The tensor's elements converted to `dtype`, row-major, after checking
    /// its shape equals `shape`. The only host copy of the tensor made.
    fn read(&self, name: &str, shape: &[usize], dtype: DType) -> Result<HostData>;
    /// A block-quantized tensor's blocks as stored (rows in the Hugging Face
    /// order, `shape` checked), or None when the tensor is not quantized (then
    /// [`TensorSource::read`] it). Only GGUF files hold quantized tensors.
    fn read_blocks(&self, name: &str, shape: &[usize]) -> Result<Option<(crate::dtype::QuantKind, Vec<u8>)>> {
        let _ = (name, shape);
        Ok(None)
    }
}

/// Converts f32 values (a dequantized tensor) to `dst`, consuming them. A
/// finite value too large for f16 is an error naming `what` of `path`.
pub(crate) fn convert_f32(x: Vec<f32>, dst: DType, path: &Path, what: &str) -> Result<HostData> {
    use half::{bf16, f16};
    Ok(match dst {
        DType::F32 => HostData::F32(x),
        DType::BF16 => HostData::BF16(x.iter().map(|&v| bf16::from_f32(v)).collect()),
        DType::F16 => {
            if let Some(i) = x.iter().position(|v| v.is_finite() && f16::from_f32(*v).is_infinite()) {
                return Err(bad(
                    path,
                    what,
                    "values within f16's range to compute in f16 (load with another dtype, e.g. f32)",
                    format!("{} at element {i}", x[i]),
                ));
            }
            HostData::F16(x.iter().map(|&v| f16::from_f32(v)).collect())
        }
    })
}

/// Converts little-endian `bytes` of `src` elements into a `dst` buffer in
/// one pass. A finite value too large for `dst` (bf16 or f32 into f16) is an
/// error naming `tensor` of `path`, not a silent infinity.
pub(crate) fn convert_bytes(bytes: &[u8], src: DType, dst: DType, path: &Path, tensor: &str) -> Result<HostData> {
    use half::{bf16, f16};
    let n = bytes.len() / src.size_in_bytes();
    let get = |i: usize| -> f32 {
        match src {
            DType::F32 => f32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]]),
            DType::F16 => f16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f32(),
            DType::BF16 => bf16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f32(),
        }
    };
    let data = match (src, dst) {
        // Same dtype: a plain copy of the bits (no rounding through f32).
        (s, d) if s == d => HostData::from_bytes(d, &bytes[..n * s.size_in_bytes()]),
        (_, DType::F32) => HostData::F32((0..n).map(get).collect()),
        (_, DType::F16) => HostData::F16((0..n).map(|i| f16::from_f32(get(i))).collect()),
        (_, DType::BF16) => HostData::BF16((0..n).map(|i| bf16::from_f32(get(i))).collect()),
    };
    if let HostData::F16(v) = &data {
        if src != DType::F16 {
            if let Some(i) = (0..n).find(|&i| v[i].is_infinite() && get(i).is_finite()) {
                return Err(bad(
                    path,
                    &format!("tensor `{tensor}`"),
                    format!("values within f16's range to compute in f16 (load with another dtype, e.g. {src})"),
                    format!("{} at element {i}", get(i)),
                ));
            }
        }
    }
    Ok(data)
}

//! A GGUF (v2, v3) reader: header, metadata key/values of every type
//! (arrays included), tensor infos and the aligned data section, over a
//! memory map. f32, f16 and bf16 tensors, and the block-quantized Q8_0, Q4_0,
//! Q4_K and Q6_K (see [`crate::spec::quant`]), are served under their Hugging
//! Face names (so one loader serves both formats), with llama.cpp's
//! permutation of Llama's Q and K rows undone; the metadata maps to a
//! [`ModelSpec`].
//!
//! Quantized tensors are expanded at load, one tensor at a time, to the
//! compute dtype: the model then takes the memory and runs at the speed of
//! the f16 (or f32) model. A GEMV that reads the blocks directly is future
//! work. Other quantized types (Q5_K, IQ*, ...) are an error naming the
//! tensor and its type.
//!
//! Layout (little-endian): magic `GGUF`, u32 version, u64 tensor count, u64
//! metadata count, the metadata (string key, u32 type, value), the tensor
//! infos (string name, u32 n_dims, u64 dims innermost first, u32 ggml type,
//! u64 offset into the data section), padding to `general.alignment` (default
//! 32), the data section.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::config::{Architecture, ModelSpec, RopeScaling};
use super::safetensors::map_file;
use super::{bad, convert_bytes, convert_f32, unsupported, TensorSource};
use crate::dtype::DType;
use crate::error::Result;
use crate::spec::quant::{self, QuantKind};
use crate::tensor::HostData;

/// What the loader reads: every type of [`Storage`].
const SUPPORTED: &str = "F32, F16, BF16 and the block-quantized Q8_0, Q4_0, Q4_K and Q6_K are read \
     (quantized tensors are expanded to the compute dtype at load)";

/// How a tensor is stored, for the types the loader reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Plain elements of f32, f16 or bf16.
    Plain(DType),
    /// GGML blocks, expanded at load.
    Quant(QuantKind),
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7.
    Bool(bool),
    /// Type 8 (UTF-8; invalid bytes replaced).
    String(String),
    /// Type 9: an array of values of one type.
    Array(Vec<GgufValue>),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
}

impl GgufValue {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U8(v) => Some(v as u64),
            GgufValue::U16(v) => Some(v as u64),
            GgufValue::U32(v) => Some(v as u64),
            GgufValue::U64(v) => Some(v),
            GgufValue::I8(v) => u64::try_from(v).ok(),
            GgufValue::I16(v) => u64::try_from(v).ok(),
            GgufValue::I32(v) => u64::try_from(v).ok(),
            GgufValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, when it is any number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => Some(v as f64),
            GgufValue::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64).or(match *self {
                GgufValue::I8(v) => Some(v as f64),
                GgufValue::I16(v) => Some(v as f64),
                GgufValue::I32(v) => Some(v as f64),
                GgufValue::I64(v) => Some(v as f64),
                _ => None,
            }),
        }
    }

    /// The value as a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            GgufValue::U8(_) => "u8",
            GgufValue::I8(_) => "i8",
            GgufValue::U16(_) => "u16",
            GgufValue::I16(_) => "i16",
            GgufValue::U32(_) => "u32",
            GgufValue::I32(_) => "i32",
            GgufValue::F32(_) => "f32",
            GgufValue::Bool(_) => "bool",
            GgufValue::String(_) => "string",
            GgufValue::Array(_) => "array",
            GgufValue::U64(_) => "u64",
            GgufValue::I64(_) => "i64",
            GgufValue::F64(_) => "f64",
        }
    }
}

/// GGML tensor types by id, for messages.
pub fn ggml_type_name(t: u32) -> &'static str {
    const NAMES: [&str; 40] = [
        "F32",
        "F16",
        "Q4_0",
        "Q4_1",
        "Q4_2",
        "Q4_3",
        "Q5_0",
        "Q5_1",
        "Q8_0",
        "Q8_1",
        "Q2_K",
        "Q3_K",
        "Q4_K",
        "Q5_K",
        "Q6_K",
        "Q8_K",
        "IQ2_XXS",
        "IQ2_XS",
        "IQ3_XXS",
        "IQ1_S",
        "IQ4_NL",
        "IQ3_S",
        "IQ2_S",
        "IQ4_XS",
        "I8",
        "I16",
        "I32",
        "I64",
        "F64",
        "IQ1_M",
        "BF16",
        "Q4_0_4_4",
        "Q4_0_4_8",
        "Q4_0_8_8",
        "TQ1_0",
        "TQ2_0",
        "IQ4_NL_4_4",
        "IQ4_NL_4_8",
        "IQ4_NL_8_8",
        "MXFP4",
    ];
    NAMES.get(t as usize).copied().unwrap_or("unknown")
}

/// One tensor's entry in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensorInfo {
    /// GGUF name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions as stored: innermost first.
    pub dims: Vec<u64>,
    /// GGML type id (0 F32, 1 F16, 30 BF16, others quantised).
    pub ggml_type: u32,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl GgufTensorInfo {
    /// Shape outermost first (row-major, as PyTorch writes it).
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// The storage dtype when it is one of f32, f16, bf16.
    pub fn dtype(&self) -> Option<DType> {
        match self.ggml_type {
            0 => Some(DType::F32),
            1 => Some(DType::F16),
            30 => Some(DType::BF16),
            _ => None,
        }
    }

    /// The storage when the loader reads this type (plain or one of the
    /// supported block-quantized types).
    pub fn storage(&self) -> Option<Storage> {
        self.dtype().map(Storage::Plain).or_else(|| QuantKind::from_ggml_type(self.ggml_type).map(Storage::Quant))
    }
}

/// A memory-mapped GGUF file.
pub struct GgufFile {
    path: PathBuf,
    map: Mmap,
    /// GGUF version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, GgufValue)>,
    /// Tensor infos in file order.
    pub tensors: Vec<GgufTensorInfo>,
    /// Start of the data section in the file.
    data_start: usize,
    by_name: HashMap<String, usize>,
    /// The checkpoint's architecture (for the HF-name table), set by `spec`.
    arch: Option<Architecture>,
    heads: (usize, usize),
}

/// A cursor over the file's bytes; every read is bounds-checked.
struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            bad(
                self.path,
                what,
                format!("{n} more bytes at offset {}", self.pos),
                format!("a file of {} bytes (truncated?)", self.bytes.len()),
            )
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }

    fn len(&mut self, what: &str) -> Result<usize> {
        let n = self.u64(what)?;
        // No count can exceed the bytes left (each element takes at least one byte).
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len() - self.pos)
            .ok_or_else(|| bad(self.path, what, format!("a length within the file's {} bytes", self.bytes.len()), n))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.len(what)?;
        Ok(String::from_utf8_lossy(self.take(n, what)?).into_owned())
    }

    fn value(&mut self, ty: u32, what: &str, depth: usize) -> Result<GgufValue> {
        Ok(match ty {
            0 => GgufValue::U8(self.arr::<1>(what)?[0]),
            1 => GgufValue::I8(self.arr::<1>(what)?[0] as i8),
            2 => GgufValue::U16(u16::from_le_bytes(self.arr(what)?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.arr(what)?)),
            4 => GgufValue::U32(self.u32(what)?),
            5 => GgufValue::I32(i32::from_le_bytes(self.arr(what)?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.arr(what)?)),
            7 => match self.arr::<1>(what)?[0] {
                0 => GgufValue::Bool(false),
                1 => GgufValue::Bool(true),
                b => return Err(bad(self.path, what, "a bool (0 or 1)", b)),
            },
            8 => GgufValue::String(self.string(what)?),
            9 => {
                if depth > 4 {
                    return Err(bad(self.path, what, "arrays nested at most 4 deep", "deeper nesting"));
                }
                let elem = self.u32(what)?;
                let n = self.len(what)?;
                let mut v = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    v.push(self.value(elem, what, depth + 1)?);
                }
                GgufValue::Array(v)
            }
            10 => GgufValue::U64(self.u64(what)?),
            11 => GgufValue::I64(i64::from_le_bytes(self.arr(what)?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.arr(what)?)),
            t => return Err(bad(self.path, what, "a GGUF value type 0..=12", t)),
        })
    }
}

impl GgufFile {
    /// Maps and parses the file's header, metadata and tensor infos, and
    /// checks every tensor's bytes lie inside the file.
    pub fn open(path: &Path) -> Result<Self> {
        let map = map_file(path)?;
        let (version, metadata, tensors, data_start) = {
            let mut r = Reader { path, bytes: &map, pos: 0 };
            let magic = r.arr::<4>("magic")?;
            if &magic != b"GGUF" {
                return Err(bad(path, "magic", "the bytes \"GGUF\"", format!("{:?}", String::from_utf8_lossy(&magic))));
            }
            let version = r.u32("version")?;
            if !(version == 2 || version == 3) {
                let hint = if version.swap_bytes() <= 3 { " (a big-endian file?)" } else { "" };
                return Err(unsupported(
                    path,
                    "version",
                    format!("GGUF version {version}{hint}; versions 2 and 3 are read"),
                ));
            }
            let n_tensors = r.len("tensor count")?;
            let n_kv = r.len("metadata count")?;
            let mut metadata = Vec::with_capacity(n_kv.min(1 << 16));
            for i in 0..n_kv {
                let key = r.string(&format!("metadata entry {i} key"))?;
                let ty = r.u32(&format!("metadata `{key}` type"))?;
                let v = r.value(ty, &format!("metadata `{key}`"), 0)?;
                metadata.push((key, v));
            }
            let mut tensors = Vec::with_capacity(n_tensors.min(1 << 16));
            for i in 0..n_tensors {
                let name = r.string(&format!("tensor info {i} name"))?;
                let what = format!("tensor `{name}` info");
                let n_dims = r.u32(&what)?;
                if n_dims > 4 {
                    return Err(bad(path, &what, "at most 4 dimensions", n_dims));
                }
                let dims = (0..n_dims).map(|_| r.u64(&what)).collect::<Result<Vec<_>>>()?;
                let ggml_type = r.u32(&what)?;
                let offset = r.u64(&what)?;
                tensors.push(GgufTensorInfo { name, dims, ggml_type, offset });
            }
            let align = match metadata.iter().find(|(k, _)| k == "general.alignment") {
                None => 32,
                Some((_, v)) => match v.as_u64() {
                    Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 16 => a as usize,
                    _ => return Err(bad(path, "metadata `general.alignment`", "a power of two", format!("{v:?}"))),
                },
            };
            (version, metadata, tensors, r.pos.div_ceil(align) * align)
        };
        let mut by_name = HashMap::new();
        for (i, t) in tensors.iter().enumerate() {
            let (start, len) = Self::extent(path, t, data_start)?;
            if let Some(len) = len {
                if start.checked_add(len).map_or(true, |e| e > map.len()) {
                    return Err(bad(
                        path,
                        &format!("tensor `{}`", t.name),
                        format!("{len} bytes at offset {start}, inside the file"),
                        format!("a file of {} bytes (truncated?)", map.len()),
                    ));
                }
            }
            by_name.insert(t.name.clone(), i);
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            map,
            version,
            metadata,
            tensors,
            data_start,
            by_name,
            arch: None,
            heads: (0, 0),
        })
    }

    /// The tensor's byte offset in the file and, for the types read, its length.
    fn extent(path: &Path, t: &GgufTensorInfo, data_start: usize) -> Result<(usize, Option<usize>)> {
        let what = format!("tensor `{}`", t.name);
        let start = usize::try_from(t.offset).ok().and_then(|o| o.checked_add(data_start));
        let start = start.ok_or_else(|| bad(path, &what, "an offset inside the file", t.offset))?;
        let Some(storage) = t.storage() else { return Ok((start, None)) };
        let n = t.dims.iter().try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)));
        let n =
            n.ok_or_else(|| bad(path, &what, "dimensions whose product fits in memory", format!("{:?}", t.dims)))?;
        let len = match storage {
            Storage::Plain(dtype) => n.checked_mul(dtype.size_in_bytes()),
            Storage::Quant(kind) => {
                let row = t.dims.first().copied().unwrap_or(1);
                if row % kind.block_elems() as u64 != 0 {
                    return Err(bad(
                        path,
                        &what,
                        format!("rows of {kind} that are whole blocks of {} elements", kind.block_elems()),
                        format!("rows of {row} elements (dims {:?})", t.dims),
                    ));
                }
                kind.bytes_for(n)
            }
        };
        let len =
            len.ok_or_else(|| bad(path, &what, "dimensions whose product fits in memory", format!("{:?}", t.dims)))?;
        Ok((start, Some(len)))
    }

    /// The path opened.
    pub fn file(&self) -> &Path {
        &self.path
    }

    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn need(&self, key: &str, expected: &str) -> Result<&GgufValue> {
        self.get(key)
            .ok_or_else(|| bad(&self.path, &format!("metadata `{key}`"), expected.to_string(), "nothing (missing)"))
    }

    /// A required unsigned integer.
    pub fn get_usize(&self, key: &str) -> Result<usize> {
        let v = self.need(key, "an unsigned integer")?;
        v.as_u64()
            .and_then(|u| usize::try_from(u).ok())
            .ok_or_else(|| bad(&self.path, &format!("metadata `{key}`"), "an unsigned integer", v.type_name()))
    }

    /// An optional unsigned integer.
    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        if self.get(key).is_none() {
            return Ok(None);
        }
        self.get_usize(key).map(Some)
    }

    /// An optional number.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| bad(&self.path, &format!("metadata `{key}`"), "a number", v.type_name())),
        }
    }

    /// A required string.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        let v = self.need(key, "a string")?;
        v.as_str().ok_or_else(|| bad(&self.path, &format!("metadata `{key}`"), "a string", v.type_name()))
    }

    /// A tensor's info by GGUF name.
    pub fn info(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// A plain (f32, f16, bf16) tensor's dtype and bytes by GGUF name; any
    /// other type, quantized ones included, is an error naming the type.
    pub fn tensor_bytes(&self, name: &str) -> Result<(&GgufTensorInfo, DType, &[u8])> {
        let (t, storage, bytes) = self.tensor_raw(name)?;
        match storage {
            Storage::Plain(dtype) => Ok((t, dtype, bytes)),
            Storage::Quant(kind) => Err(unsupported(
                &self.path,
                &format!("tensor `{name}`"),
                format!("GGML type {} ({kind}) here; this tensor must be F32, F16 or BF16", t.ggml_type),
            )),
        }
    }

    /// A tensor's storage and bytes (the blocks, for a quantized one) by GGUF
    /// name; a type the loader does not read is an error naming the tensor and type.
    pub fn tensor_raw(&self, name: &str) -> Result<(&GgufTensorInfo, Storage, &[u8])> {
        let t = self
            .info(name)
            .ok_or_else(|| bad(&self.path, &format!("tensor `{name}`"), "present in the file", "missing"))?;
        let what = format!("tensor `{name}`");
        let storage = t.storage().ok_or_else(|| {
            unsupported(
                &self.path,
                &what,
                format!("GGML type {} ({}); {SUPPORTED}", t.ggml_type, ggml_type_name(t.ggml_type)),
            )
        })?;
        let (start, len) = Self::extent(&self.path, t, self.data_start)?;
        let len = len.unwrap_or(0);
        let bytes = self
            .map
            .get(start..start + len)
            .ok_or_else(|| bad(&self.path, &what, "bytes inside the file", "past its end"))?;
        Ok((t, storage, bytes))
    }

    /// The model described by the metadata (`general.architecture` llama or
    /// qwen2). Also fixes the architecture the tensor-name table uses.
    pub fn spec(&mut self) -> Result<ModelSpec> {
        let spec = self.read_spec()?;
        self.arch = Some(spec.arch);
        self.heads = (spec.num_attention_heads, spec.num_key_value_heads);
        Ok(spec)
    }

    fn read_spec(&self) -> Result<ModelSpec> {
        let a = self.get_str("general.architecture")?.to_string();
        let arch = match a.as_str() {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            "qwen3" => Architecture::Qwen3,
            other => {
                return Err(unsupported(
                    &self.path,
                    "metadata `general.architecture`",
                    format!("{other:?} (llama, qwen2 and qwen3 are read)"),
                ))
            }
        };
        let k = |s: &str| format!("{a}.{s}");
        let hidden = self.get_usize(&k("embedding_length"))?;
        let heads = self.get_usize(&k("attention.head_count"))?;
        let kv_heads = self.opt_usize(&k("attention.head_count_kv"))?.unwrap_or(heads);
        if heads == 0 {
            return Err(bad(&self.path, &format!("metadata `{}`", k("attention.head_count")), "at least 1", 0));
        }
        let head_dim = self.opt_usize(&k("attention.key_length"))?.unwrap_or(hidden / heads);
        if let Some(r) = self.opt_usize(&k("rope.dimension_count"))? {
            if r != head_dim {
                return Err(unsupported(
                    &self.path,
                    &format!("metadata `{}`", k("rope.dimension_count")),
                    format!(
                        "{r}, a partial rotary dimension (head size {head_dim}); only full-head RoPE is implemented"
                    ),
                ));
            }
        }
        let rope_scaling = match self.get(&k("rope.scaling.type")).map(|v| v.as_str()) {
            None | Some(Some("none")) => RopeScaling::None,
            Some(Some(t)) => {
                return Err(unsupported(
                    &self.path,
                    &format!("metadata `{}`", k("rope.scaling.type")),
                    format!(
                    "rope scaling {t:?} (none is implemented for GGUF; llama3 scaling arrives as a rope_freqs tensor)"
                ),
                ))
            }
            Some(None) => {
                return Err(bad(
                    &self.path,
                    &format!("metadata `{}`", k("rope.scaling.type")),
                    "a string",
                    "another type",
                ))
            }
        };
        // llama3 scaling as llama.cpp's converter stores it: per-pair divisors.
        let rope_scaling = match self.info("rope_freqs.weight") {
            None => rope_scaling,
            Some(_) => {
                let (info, dtype, bytes) = self.tensor_bytes("rope_freqs.weight")?;
                if info.shape() != [head_dim / 2] || dtype != DType::F32 {
                    return Err(bad(
                        &self.path,
                        "tensor `rope_freqs.weight`",
                        format!("F32 of shape [{}] (one divisor per rotated pair)", head_dim / 2),
                        format!("{dtype} of shape {:?}", info.shape()),
                    ));
                }
                let div: Vec<f64> =
                    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect();
                if let Some(d) = div.iter().find(|d| !(d.is_finite() && **d > 0.0)) {
                    return Err(bad(&self.path, "tensor `rope_freqs.weight`", "positive finite divisors", d));
                }
                let theta = self.opt_f64(&k("rope.freq_base"))?.unwrap_or(10_000.0);
                RopeScaling::from_divisors(theta, head_dim, div)
            }
        };
        let vocab = match self.opt_usize(&k("vocab_size"))? {
            Some(v) => v,
            None => match self.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()) {
                Some(t) => t.len(),
                None => match self.info("token_embd.weight") {
                    Some(t) => t.shape().first().copied().unwrap_or(0),
                    None => self.get_usize(&k("vocab_size"))?,
                },
            },
        };
        let id = |key: &str| -> Result<Option<u32>> { Ok(self.opt_usize(key)?.and_then(|v| u32::try_from(v).ok())) };
        let spec = ModelSpec {
            arch,
            hidden_size: hidden,
            intermediate_size: self.get_usize(&k("feed_forward_length"))?,
            num_hidden_layers: self.get_usize(&k("block_count"))?,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            vocab_size: vocab,
            rms_norm_eps: self.opt_f64(&k("attention.layer_norm_rms_epsilon"))?.ok_or_else(|| {
                bad(&self.path, &format!("metadata `{}`", k("attention.layer_norm_rms_epsilon")), "a number", "missing")
            })?,
            max_position_embeddings: self.get_usize(&k("context_length"))?,
            tie_word_embeddings: self.info("output.weight").is_none(),
            dtype: self.info("token_embd.weight").and_then(GgufTensorInfo::dtype),
            bos_token_id: id("tokenizer.ggml.bos_token_id")?,
            eos_token_ids: id("tokenizer.ggml.eos_token_id")?.into_iter().collect(),
            rope_theta: self.opt_f64(&k("rope.freq_base"))?.unwrap_or(10_000.0),
            rope_scaling,
            qkv_bias: arch == Architecture::Qwen2,
            qk_norm: arch == Architecture::Qwen3,
        };
        spec.validate(&self.path)?;
        Ok(spec)
    }

    /// The GGUF name of a Hugging Face tensor name, or None when it has none.
    pub fn gguf_name(hf: &str) -> Option<String> {
        let top = match hf {
            "model.embed_tokens.weight" => Some("token_embd.weight"),
            "model.norm.weight" => Some("output_norm.weight"),
            "lm_head.weight" => Some("output.weight"),
            _ => None,
        };
        if let Some(t) = top {
            return Some(t.to_string());
        }
        let rest = hf.strip_prefix("model.layers.")?;
        let (layer, part) = rest.split_once('.')?;
        let layer: usize = layer.parse().ok()?;
        let (module, suffix) = part.rsplit_once('.')?;
        let g = match module {
            "input_layernorm" => "attn_norm",
            "self_attn.q_proj" => "attn_q",
            "self_attn.k_proj" => "attn_k",
            "self_attn.v_proj" => "attn_v",
            "self_attn.o_proj" => "attn_output",
            "self_attn.q_norm" => "attn_q_norm",
            "self_attn.k_norm" => "attn_k_norm",
            "post_attention_layernorm" => "ffn_norm",
            "mlp.gate_proj" => "ffn_gate",
            "mlp.up_proj" => "ffn_up",
            "mlp.down_proj" => "ffn_down",
            _ => return None,
        };
        Some(format!("blk.{layer}.{g}.{suffix}"))
    }

    /// The number of heads whose rows llama.cpp permuted in this tensor (Llama Q and K only).
    fn permuted_heads(&self, hf: &str) -> Option<usize> {
        if self.arch != Some(Architecture::Llama) {
            return None;
        }
        if hf.ends_with("self_attn.q_proj.weight") || hf.ends_with("self_attn.q_proj.bias") {
            Some(self.heads.0)
        } else if hf.ends_with("self_attn.k_proj.weight") || hf.ends_with("self_attn.k_proj.bias") {
            Some(self.heads.1)
        } else {
            None
        }
    }
}

/// Undoes llama.cpp's Q/K row permutation in place. Within each head of
/// `rows / heads` rows, the converter moved HF row `j * half + i` (j in 0..2,
/// i in 0..half) to row `2 i + j` (interleaved pairs); this moves it back.
/// `data` is [rows, cols] row-major (cols = 1 for a bias).
pub fn unpermute_rows(data: &mut HostData, heads: usize, cols: usize) {
    match data {
        HostData::F32(v) => unpermute_slice(v, heads, cols),
        HostData::F16(v) => unpermute_slice(v, heads, cols),
        HostData::BF16(v) => unpermute_slice(v, heads, cols),
    }
}

/// [`unpermute_rows`] on rows of `cols` items of any type: elements, or the
/// bytes of a quantized tensor's rows of blocks.
fn unpermute_slice<T: Copy>(v: &mut [T], heads: usize, cols: usize) {
    if heads == 0 || cols == 0 || v.is_empty() {
        return;
    }
    let rows = v.len() / cols;
    let d = rows / heads;
    let half = d / 2;
    let mut head = vec![v[0]; d * cols];
    for h in 0..heads {
        let block = &mut v[h * d * cols..(h + 1) * d * cols];
        head.copy_from_slice(block);
        for j in 0..2 {
            for i in 0..half {
                let (src, dst) = (2 * i + j, j * half + i);
                block[dst * cols..(dst + 1) * cols].copy_from_slice(&head[src * cols..(src + 1) * cols]);
            }
        }
    }
}

impl GgufFile {
    /// The GGUF name of HF tensor `name`, its raw storage and bytes, after
    /// checking its shape equals `shape`.
    fn checked_raw(&self, name: &str, shape: &[usize]) -> Result<(String, Storage, &[u8])> {
        let g = Self::gguf_name(name).ok_or_else(|| {
            bad(&self.path, &format!("tensor `{name}`"), "a tensor name with a GGUF equivalent", "none known")
        })?;
        let (info, src, bytes) = self.tensor_raw(&g)?;
        let got = info.shape();
        if got != shape {
            return Err(bad(
                &self.path,
                &format!("tensor `{g}` ({name})"),
                format!(
                    "shape {shape:?} (from the metadata; GGUF lists dims innermost first: {:?})",
                    shape.iter().rev().collect::<Vec<_>>()
                ),
                format!("shape {got:?} (dims {:?})", info.dims),
            ));
        }
        Ok((g, src, bytes))
    }

    /// The heads whose rows llama.cpp permuted in tensor `name` (checked
    /// divisible into heads of even size), or None.
    fn checked_heads(&self, name: &str, g: &str, shape: &[usize]) -> Result<Option<usize>> {
        let Some(heads) = self.permuted_heads(name) else { return Ok(None) };
        let rows = shape.first().copied().unwrap_or(0);
        if heads == 0 || rows % heads != 0 || (rows / heads) % 2 != 0 {
            return Err(bad(
                &self.path,
                &format!("tensor `{g}`"),
                format!("rows divisible into {heads} heads of even size"),
                rows,
            ));
        }
        Ok(Some(heads))
    }
}

impl TensorSource for GgufFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read_blocks(&self, name: &str, shape: &[usize]) -> Result<Option<(QuantKind, Vec<u8>)>> {
        let (g, src, bytes) = self.checked_raw(name, shape)?;
        let Storage::Quant(kind) = src else { return Ok(None) };
        let rows = shape.first().copied().unwrap_or(0);
        let cols: usize = shape[1..].iter().product();
        let row_bytes = kind.bytes_for(cols).filter(|&b| b * rows == bytes.len()).ok_or_else(|| {
            bad(
                &self.path,
                &format!("tensor `{g}` ({kind})"),
                format!("{rows} rows of whole blocks of {cols} elements"),
                format!("{} bytes", bytes.len()),
            )
        })?;
        let mut data = bytes.to_vec();
        if let Some(heads) = self.checked_heads(name, &g, shape)? {
            unpermute_slice(&mut data, heads, row_bytes);
        }
        Ok(Some((kind, data)))
    }

    fn contains(&self, name: &str) -> bool {
        Self::gguf_name(name).is_some_and(|g| self.by_name.contains_key(&g))
    }

    fn read(&self, name: &str, shape: &[usize], dtype: DType) -> Result<HostData> {
        let (g, src, bytes) = self.checked_raw(name, shape)?;
        let mut data = match src {
            Storage::Plain(src) => convert_bytes(bytes, src, dtype, &self.path, &g)?,
            Storage::Quant(kind) => {
                let what = format!("tensor `{g}` ({kind}, expanded to {dtype} at load)");
                let n = shape.iter().product();
                let x = quant::dequantize(kind, bytes, n).map_err(|e| bad(&self.path, &what, "whole blocks", e))?;
                convert_f32(x, dtype, &self.path, &what)?
            }
        };
        if let Some(heads) = self.checked_heads(name, &g, shape)? {
            let cols = if shape.len() > 1 { shape[1..].iter().product() } else { 1 };
            unpermute_rows(&mut data, heads, cols);
        }
        Ok(data)
    }
}

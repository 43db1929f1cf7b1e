//! Memory-mapped safetensors checkpoints: one `model.safetensors`, or the
//! shards that `model.safetensors.index.json` lists. Headers are parsed and
//! checked against each file's length when opened (a truncated file is an
//! error then); tensor bytes are read from the map only when asked for.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::{Dtype as StDtype, Metadata, SafeTensors};

use super::config::read_json;
use super::{bad, convert_bytes, unsupported, RawTensor, TensorSource};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::HostData;

/// One mapped file and its parsed header.
struct Shard {
    path: PathBuf,
    map: Mmap,
    /// Bytes before the data section (8-byte length + JSON header).
    data_start: usize,
    meta: Metadata,
}

/// A safetensors checkpoint, one file or several shards.
pub struct SafetensorsSource {
    /// The folder (or the single file) opened, for messages.
    root: PathBuf,
    shards: Vec<Shard>,
    /// Tensor name -> index into `shards`.
    index: HashMap<String, usize>,
}

/// Maps `path` read-only.
pub(crate) fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(Error::io("opening", path))?;
    // SAFETY: the map is read-only and private to this process; a file
    // changed under it by another process while loading would give wrong
    // values, never unsoundness on our side beyond what any reader of a
    // mutable file risks (the documented caveat of memmap2).
    unsafe { Mmap::map(&file) }.map_err(Error::io("memory-mapping", path))
}

impl Shard {
    fn open(path: &Path) -> Result<Self> {
        let map = map_file(path)?;
        let (header_len, meta) = SafeTensors::read_metadata(&map).map_err(|e| {
            bad(path, "(header)", "a complete safetensors file (header and every tensor's bytes)", format!("{e:?}"))
        })?;
        Ok(Shard { path: path.to_path_buf(), map, data_start: 8 + header_len, meta })
    }
}

impl SafetensorsSource {
    /// Opens a model folder (`model.safetensors`, or the shards named by
    /// `model.safetensors.index.json`) or a single `.safetensors` file.
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_file() {
            let shard = Shard::open(path)?;
            let index = shard.meta.tensors().into_keys().map(|k| (k, 0)).collect();
            return Ok(SafetensorsSource { root: path.to_path_buf(), shards: vec![shard], index });
        }
        let single = path.join("model.safetensors");
        let index_file = path.join("model.safetensors.index.json");
        if single.is_file() {
            return Ok(SafetensorsSource { root: path.to_path_buf(), ..Self::open(&single)? });
        }
        if !index_file.is_file() {
            return Err(Error::Io {
                what: "finding model.safetensors or model.safetensors.index.json in",
                path: path.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let v = read_json(&index_file)?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad(&index_file, "field `weight_map`", "an object of tensor name -> shard file", "none"))?;
        let mut files: Vec<String> = Vec::new();
        let mut wanted: HashMap<String, usize> = HashMap::new();
        for (name, file) in map {
            let file = file
                .as_str()
                .ok_or_else(|| bad(&index_file, &format!("field `weight_map.{name}`"), "a shard file name", file))?;
            if file.contains('/') || file.contains('\\') || file == ".." {
                return Err(bad(
                    &index_file,
                    &format!("field `weight_map.{name}`"),
                    "a file name in the same folder",
                    file,
                ));
            }
            let i = match files.iter().position(|f| f == file) {
                Some(i) => i,
                None => {
                    files.push(file.to_string());
                    files.len() - 1
                }
            };
            wanted.insert(name.clone(), i);
        }
        let shards = files.iter().map(|f| Shard::open(&path.join(f))).collect::<Result<Vec<_>>>()?;
        for (name, &i) in &wanted {
            if shards[i].meta.info(name).is_none() {
                return Err(bad(
                    &shards[i].path,
                    &format!("tensor `{name}`"),
                    format!("the tensor {} says this shard holds", index_file.display()),
                    "no such tensor in the shard",
                ));
            }
        }
        Ok(SafetensorsSource { root: path.to_path_buf(), shards, index: wanted })
    }

    /// Names of every tensor, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.index.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The file that holds `name`.
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.index.get(name).map(|&i| self.shards[i].path.as_path())
    }

    /// The stored tensor: dtype, shape and bytes (no copy).
    pub fn raw(&self, name: &str) -> Result<RawTensor<'_>> {
        let &i = self
            .index
            .get(name)
            .ok_or_else(|| bad(&self.root, &format!("tensor `{name}`"), "present in the checkpoint", "missing"))?;
        let shard = &self.shards[i];
        let info =
            shard.meta.info(name).ok_or_else(|| bad(&shard.path, &format!("tensor `{name}`"), "present", "missing"))?;
        let dtype = match info.dtype {
            StDtype::F32 => DType::F32,
            StDtype::F16 => DType::F16,
            StDtype::BF16 => DType::BF16,
            other => {
                return Err(unsupported(
                    &shard.path,
                    &format!("tensor `{name}`"),
                    format!("dtype {other:?} (F32, F16 and BF16 are supported)"),
                ))
            }
        };
        let (s, e) = info.data_offsets;
        let bytes = shard.map.get(shard.data_start + s..shard.data_start + e).ok_or_else(|| {
            bad(&shard.path, &format!("tensor `{name}`"), "bytes inside the file", format!("offsets {s}..{e}"))
        })?;
        Ok(RawTensor { dtype, shape: &info.shape, bytes })
    }
}

impl TensorSource for SafetensorsSource {
    fn path(&self) -> &Path {
        &self.root
    }

    fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    fn read(&self, name: &str, shape: &[usize], dtype: DType) -> Result<HostData> {
        let raw = self.raw(name)?;
        if raw.shape != shape {
            let file = self.file_of(name).unwrap_or(&self.root);
            return Err(bad(
                file,
                &format!("tensor `{name}`"),
                format!("shape {shape:?} (from the config)"),
                format!("shape {:?}", raw.shape),
            ));
        }
        convert_bytes(raw.bytes, raw.dtype, dtype, self.file_of(name).unwrap_or(&self.root), name)
    }
}

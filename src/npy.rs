//! Reading and writing `.npy` files for `exec`. float16 and float32 arrays are
//! read as they are, float64 as f32; a requested dtype converts. numpy has no
//! bfloat16, so bf16 results are written as float32.
//!
//! Data is read straight into the typed buffer the tensor will own (no copy
//! of the whole file, no f64 staging), converted in small chunks when the
//! dtype changes, and written from the tensor's own buffer through
//! [`crate::fsio::write_atomic_with`] (a temporary file renamed over the target).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use half::f16;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::{HostData, Layout, Tensor};

/// A C-order array read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The elements in C order.
    pub data: HostData,
}

/// The element type stored in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// `<f2`
    F16,
    /// `<f4`
    F32,
    /// `<f8` (read as f32 unless a dtype is asked for)
    F64,
}

impl Stored {
    /// Bytes per element in the file.
    pub fn size(self) -> usize {
        match self {
            Stored::F16 => 2,
            Stored::F32 => 4,
            Stored::F64 => 8,
        }
    }

    /// The dtype the array is read as when none is asked for.
    pub fn dtype(self) -> DType {
        match self {
            Stored::F16 => DType::F16,
            Stored::F32 | Stored::F64 => DType::F32,
        }
    }
}

/// What a `.npy` header says, checked against the file's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The stored element type.
    pub stored: Stored,
    /// True when the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Elements (the product of the shape).
    pub numel: usize,
    /// Where the data starts in the file.
    pub data_offset: u64,
}

impl NpyHeader {
    /// The dtype [`read_npy`] gives with `dtype` asked for (or none).
    pub fn dtype(&self, dtype: Option<DType>) -> DType {
        dtype.unwrap_or(self.stored.dtype())
    }

    /// Host bytes [`read_npy`] allocates for this array: the typed buffer,
    /// twice for a Fortran-ordered file (reordered into a second buffer).
    pub fn host_bytes(&self, dtype: Option<DType>) -> Result<u64> {
        let what = "reading a .npy file";
        let one = crate::mem::bytes_of(what, &[self.numel], self.dtype(dtype).size_in_bytes())?;
        let copies = if self.fortran_order { 2 } else { 1 };
        one.checked_mul(copies).ok_or_else(|| crate::mem::overflow(what))
    }
}

fn npy_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Npy { path: path.to_path_buf(), message: message.into() }
}

/// A cursor over a header's Python dict literal.
struct Dict<'a> {
    s: &'a [u8],
    i: usize,
}

/// A value in a header dict.
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
    Other(String),
}

impl Dict<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.ws();
        let q = *self.s.get(self.i).ok_or("the header ends inside the dict")?;
        if q != b'\'' && q != b'"' {
            return Err(format!("expected a quoted key or string at byte {}", self.i));
        }
        let start = self.i + 1;
        let len = self.s[start..].iter().position(|&c| c == q).ok_or("an unterminated string in the header")?;
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }

    fn value(&mut self) -> std::result::Result<Value, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'\'') | Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    if self.eat(b')') {
                        return Ok(Value::Tuple(dims));
                    }
                    self.ws();
                    let start = self.i;
                    while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                        self.i += 1;
                    }
                    let text = String::from_utf8_lossy(&self.s[start..self.i]);
                    let d = text.parse::<u64>().map_err(|_| format!("a shape entry {text:?} is not a dimension"))?;
                    dims.push(d);
                    if !self.eat(b',') && !matches!(self.s.get(self.i), Some(b')')) {
                        return Err("a malformed shape tuple".into());
                    }
                }
            }
            Some(_) => {
                // True, False, or something we do not read (a list for a structured dtype).
                let start = self.i;
                let mut depth = 0i32;
                while let Some(&c) = self.s.get(self.i) {
                    match c {
                        b'[' | b'(' | b'{' => depth += 1,
                        b']' | b')' | b'}' if depth > 0 => depth -= 1,
                        b',' | b'}' if depth == 0 => break,
                        _ => {}
                    }
                    self.i += 1;
                }
                let text = String::from_utf8_lossy(&self.s[start..self.i]).trim().to_string();
                Ok(match text.as_str() {
                    "True" => Value::Bool(true),
                    "False" => Value::Bool(false),
                    _ => Value::Other(text),
                })
            }
            None => Err("the header ends inside the dict".into()),
        }
    }
}

/// Parses the header dict: (descr, fortran_order, shape).
fn parse_dict(text: &[u8]) -> std::result::Result<(Value, bool, Vec<u64>), String> {
    let mut d = Dict { s: text, i: 0 };
    if !d.eat(b'{') {
        return Err("the header is not a dict".into());
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if d.eat(b'}') {
            break;
        }
        let key = d.string()?;
        if !d.eat(b':') {
            return Err(format!("expected ':' after key {key:?}"));
        }
        let v = d.value()?;
        match (key.as_str(), v) {
            ("descr", v) => descr = Some(v),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            ("fortran_order", _) | ("shape", _) => return Err(format!("a malformed {key:?} entry")),
            _ => {}
        }
        if !d.eat(b',') {
            if d.eat(b'}') {
                break;
            }
            return Err("expected ',' or '}' in the header dict".into());
        }
    }
    Ok((
        descr.ok_or("the header has no 'descr'")?,
        fortran.ok_or("the header has no 'fortran_order'")?,
        shape.ok_or("the header has no 'shape'")?,
    ))
}

/// Reads and checks a file's header: a valid `.npy` of float16, float32 or
/// float64, whose data the file holds whole (a shorter file is reported as
/// truncated, with the bytes expected and found).
pub fn read_header(path: &Path) -> Result<NpyHeader> {
    let mut f = std::fs::File::open(path).map_err(Error::io("reading", path))?;
    let file_len = f.metadata().map_err(Error::io("reading", path))?.len();
    let invalid = |m: String| npy_err(path, format!("not a valid .npy file: {m}"));
    let mut pre = [0u8; 10];
    f.read_exact(&mut pre).map_err(|_| invalid(format!("{file_len} bytes, shorter than the magic and version")))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(invalid("no \\x93NUMPY magic at the start".into()));
    }
    let (hlen, prefix) = match pre[6] {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as u64, 10u64),
        2 | 3 => {
            let mut rest = [0u8; 2];
            f.read_exact(&mut rest).map_err(|_| invalid("the header length is cut off".into()))?;
            (u32::from_le_bytes([pre[8], pre[9], rest[0], rest[1]]) as u64, 12u64)
        }
        v => return Err(invalid(format!("format version {v}.{} (expected 1, 2 or 3)", pre[7]))),
    };
    if prefix + hlen > file_len {
        return Err(npy_err(
            path,
            format!("truncated: the header needs {} bytes, the file holds {file_len}", prefix + hlen),
        ));
    }
    let mut text = vec![0u8; hlen as usize];
    f.read_exact(&mut text).map_err(Error::io("reading", path))?;
    let (descr, fortran_order, dims) = parse_dict(&text).map_err(invalid)?;
    let stored = match &descr {
        Value::Str(s) if s == "<f2" => Stored::F16,
        Value::Str(s) if s == "<f4" => Stored::F32,
        Value::Str(s) if s == "<f8" => Stored::F64,
        Value::Str(s) => {
            return Err(npy_err(
                path,
                format!("unsupported dtype {s}; expected little-endian float16, float32 or float64 (<f2, <f4, <f8)"),
            ))
        }
        Value::Other(s) => {
            return Err(npy_err(path, format!("unsupported dtype {s}; expected float16, float32 or float64")))
        }
        _ => return Err(invalid("a malformed 'descr' entry".into())),
    };
    let too_big = || npy_err(path, format!("shape {dims:?}: more elements than this machine can address"));
    let shape: Vec<usize> = dims.iter().map(|&d| usize::try_from(d).map_err(|_| too_big())).collect::<Result<_>>()?;
    let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(too_big)?;
    let data_offset = prefix + hlen;
    let need = (numel as u64).checked_mul(stored.size() as u64).ok_or_else(too_big)?;
    let have = file_len - data_offset;
    if have < need {
        return Err(npy_err(
            path,
            format!(
                "truncated: shape {shape:?} of {} needs {need} data bytes after the {data_offset}-byte header, the file holds {have}",
                match stored {
                    Stored::F16 => "float16",
                    Stored::F32 => "float32",
                    Stored::F64 => "float64",
                }
            ),
        ));
    }
    Ok(NpyHeader { shape, stored, fortran_order, numel, data_offset })
}

/// Decodes one little-endian element of `stored` as f64 (exact).
#[inline]
fn decode(stored: Stored, b: &[u8]) -> f64 {
    match stored {
        Stored::F16 => f16::from_le_bytes([b[0], b[1]]).to_f64(),
        Stored::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        Stored::F64 => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}

/// Reads `n` elements of `stored` from `r` into a `Vec<T>`, each converted
/// through `conv`, a chunk of at most 1 MiB at a time.
fn read_converted<T>(r: &mut impl Read, stored: Stored, n: usize, conv: impl Fn(f64) -> T) -> std::io::Result<Vec<T>> {
    let size = stored.size();
    let per_chunk = (1 << 20) / size;
    let mut buf = vec![0u8; per_chunk.min(n) * size];
    let mut out = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let k = left.min(per_chunk);
        let chunk = &mut buf[..k * size];
        r.read_exact(chunk)?;
        out.extend(chunk.chunks_exact(size).map(|b| conv(decode(stored, b))));
        left -= k;
    }
    Ok(out)
}

/// Reads `n` elements stored as the very type `T` (little-endian host):
/// straight into the buffer, no conversion and no second copy.
fn read_direct<T: bytemuck::Pod + bytemuck::Zeroable>(r: &mut impl Read, n: usize) -> std::io::Result<Vec<T>> {
    let mut out = vec![T::zeroed(); n];
    r.read_exact(bytemuck::cast_slice_mut(&mut out))?;
    Ok(out)
}

/// Reads a `.npy` file of float16, float32 or float64 in C order (a
/// Fortran-ordered file is reordered), as `dtype` when given. Fails before
/// allocating when the host has not the memory for it.
pub fn read_npy(path: &Path, dtype: Option<DType>) -> Result<NpyArray> {
    let h = read_header(path)?;
    crate::mem::check_host(&format!("reading {}", path.display()), h.host_bytes(dtype)?)?;
    let target = h.dtype(dtype);
    let mut f =
        std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(Error::io("reading", path))?);
    f.seek(SeekFrom::Start(h.data_offset)).map_err(Error::io("reading", path))?;
    let n = h.numel;
    let le = cfg!(target_endian = "little");
    let data = (|| -> std::io::Result<HostData> {
        Ok(match (h.stored, target) {
            (Stored::F16, DType::F16) if le => HostData::F16(read_direct(&mut f, n)?),
            (Stored::F32, DType::F32) if le => HostData::F32(read_direct(&mut f, n)?),
            (s, DType::F16) => HostData::F16(read_converted(&mut f, s, n, crate::dtype::f16_from_f64)?),
            (s, DType::BF16) => HostData::BF16(read_converted(&mut f, s, n, crate::dtype::bf16_from_f64)?),
            (s, DType::F32) => HostData::F32(read_converted(&mut f, s, n, |v| v as f32)?),
        })
    })()
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            npy_err(path, "truncated while reading (the file shrank after its header was read)")
        } else {
            Error::Io { what: "reading", path: path.to_path_buf(), source: e }
        }
    })?;
    let data = if h.fortran_order && h.shape.len() > 1 {
        // Column-major: the first dimension has stride 1.
        let mut strides = Vec::with_capacity(h.shape.len());
        let mut acc = 1usize;
        for &d in &h.shape {
            strides.push(acc);
            acc = acc.saturating_mul(d);
        }
        let layout = Layout::strided(&h.shape, &strides, 0)?;
        let idx = layout.indices();
        match &data {
            HostData::F16(v) => HostData::F16(idx.map(|i| v[i]).collect()),
            HostData::BF16(v) => HostData::BF16(idx.map(|i| v[i]).collect()),
            HostData::F32(v) => HostData::F32(idx.map(|i| v[i]).collect()),
        }
    } else {
        data
    };
    Ok(NpyArray { shape: h.shape, data })
}

/// The header block of a C-order file of `descr` and `shape`, padded so the
/// data starts on a 64-byte boundary.
fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    let (version, prefix) = if dict.len() + 11 <= u16::MAX as usize { (1u8, 10) } else { (2u8, 12) };
    let pad = (64 - (prefix + dict.len() + 1) % 64) % 64;
    dict.extend(std::iter::repeat(' ').take(pad));
    dict.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([version, 0]);
    if version == 1 {
        out.extend((dict.len() as u16).to_le_bytes());
    } else {
        out.extend((dict.len() as u32).to_le_bytes());
    }
    out.extend(dict.as_bytes());
    out
}

/// Writes header and elements of `data` (bf16 as float32, converted in chunks).
fn write_data(w: &mut dyn Write, shape: &[usize], data: &HostData) -> std::io::Result<()> {
    let le = cfg!(target_endian = "little");
    match data {
        HostData::F16(v) => {
            w.write_all(&header_bytes("<f2", shape))?;
            if le {
                w.write_all(bytemuck::cast_slice(v))
            } else {
                v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes()))
            }
        }
        HostData::F32(v) => {
            w.write_all(&header_bytes("<f4", shape))?;
            if le {
                w.write_all(bytemuck::cast_slice(v))
            } else {
                v.iter().try_for_each(|x| w.write_all(&x.to_le_bytes()))
            }
        }
        HostData::BF16(v) => {
            w.write_all(&header_bytes("<f4", shape))?;
            let mut buf = Vec::with_capacity(4 << 16);
            for chunk in v.chunks(1 << 16) {
                buf.clear();
                chunk.iter().for_each(|x| buf.extend(x.to_f32().to_le_bytes()));
                w.write_all(&buf)?;
            }
            Ok(())
        }
    }
}

/// Writes `data` with `shape` as a C-order `.npy` file, atomically: a
/// temporary file in the same folder, fsynced, then renamed over `path`, so
/// `path` may be one of the inputs and a failed write leaves it as it was.
pub fn write_npy(path: &Path, shape: &[usize], data: &HostData) -> Result<()> {
    let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if numel != Some(data.len()) {
        return Err(Error::invalid(
            "write_npy",
            "data",
            format!("{numel:?} elements for shape {shape:?}"),
            format!("{} elements", data.len()),
        ));
    }
    crate::fsio::write_atomic_with(path, |w| write_data(w, shape, data))
}

/// Writes a tensor's view as a `.npy` file (see [`write_npy`]). A whole,
/// contiguous host tensor is written from its own buffer, with no copy.
pub fn write_tensor(path: &Path, t: &Tensor) -> Result<()> {
    let whole = t.layout().is_contiguous() && t.layout().offset() == 0 && t.numel() == t.buffer_len();
    if whole {
        if let Some(data) = t.storage().host_read() {
            return crate::fsio::write_atomic_with(path, |w| write_data(w, t.shape(), &data));
        }
    }
    write_npy(path, t.shape(), &t.to_host_data()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    #[test]
    fn round_trips_each_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        for dt in DType::ALL {
            let data = HostData::from_f64_iter(dt, (0..6).map(|i| i as f64 * 0.5 - 1.0));
            write_npy(&p, &[2, 3], &data).unwrap();
            let back = read_npy(&p, Some(dt)).unwrap();
            assert_eq!(back.shape, vec![2, 3]);
            assert_eq!(back.data, data, "{dt}");
        }
        // Without an override, bf16 comes back as the f32 it was written as.
        write_npy(&p, &[1], &HostData::from_f64_iter(DType::BF16, [1.5].into_iter())).unwrap();
        assert_eq!(read_npy(&p, None).unwrap().data.dtype(), DType::F32);
        // Scalars and empty arrays.
        write_npy(&p, &[], &HostData::F32(vec![2.5])).unwrap();
        assert_eq!(read_npy(&p, None).unwrap(), NpyArray { shape: vec![], data: HostData::F32(vec![2.5]) });
        write_npy(&p, &[4, 0], &HostData::F16(vec![])).unwrap();
        assert_eq!(read_npy(&p, None).unwrap(), NpyArray { shape: vec![4, 0], data: HostData::F16(vec![]) });
    }

    #[test]
    fn files_numpy_writes_are_read_and_ours_read_by_npyz() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        // float64 and Fortran order, as npyz (numpy's format) writes them.
        npyz::to_file_1d(&p, vec![1.0f64, 2.5, -3.0]).unwrap();
        let a = read_npy(&p, Some(DType::F16)).unwrap();
        assert_eq!(a.data, HostData::F16(vec![f16::from_f64(1.0), f16::from_f64(2.5), f16::from_f64(-3.0)]));
        let mut bytes = Vec::new();
        {
            let mut w = npyz::WriteOptions::<f32>::new()
                .default_dtype()
                .shape(&[2, 3])
                .order(npyz::Order::Fortran)
                .writer(&mut bytes)
                .begin_nd()
                .unwrap();
            // Column-major: element (i, j) is stored at i + 2 j.
            w.extend([0.0f32, 3.0, 1.0, 4.0, 2.0, 5.0]).unwrap();
            w.finish().unwrap();
        }
        std::fs::write(&p, &bytes).unwrap();
        let a = read_npy(&p, None).unwrap();
        assert_eq!(a, NpyArray { shape: vec![2, 3], data: HostData::F32(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]) });
        write_npy(&p, &[2, 2], &HostData::F32(vec![1.0, 2.0, 3.0, 4.0])).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len() % 16, 0);
        let back = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(back.shape(), &[2, 2]);
        assert_eq!(back.into_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.npy");
        std::fs::write(&p, b"not numpy").unwrap();
        let e = read_npy(&p, None).unwrap_err().to_string();
        assert!(e.contains("junk.npy") && e.contains("not a valid .npy"), "{e}");
        let missing = dir.path().join("missing.npy");
        let e = read_npy(&missing, None).unwrap_err().to_string();
        assert!(e.contains("missing.npy"), "{e}");
        let ints = dir.path().join("ints.npy");
        npyz::to_file_1d(&ints, vec![1i32, 2, 3]).unwrap();
        let e = read_npy(&ints, None).unwrap_err().to_string();
        assert!(e.contains("unsupported dtype") && e.contains("<i4"), "{e}");
        // A shape whose element count overflows is an error, not a panic.
        let huge = dir.path().join("huge.npy");
        let mut b = header_bytes("<f4", &[1, 1]);
        let text = String::from_utf8(b[10..].to_vec()).unwrap().replace("(1, 1)", "(4294967296, 4294967296, 16)");
        b.truncate(8);
        b.extend((text.len() as u16).to_le_bytes());
        b.extend(text.as_bytes());
        std::fs::write(&huge, &b).unwrap();
        let e = read_npy(&huge, None).unwrap_err().to_string();
        assert!(e.contains("huge.npy") && e.contains("more elements"), "{e}");
    }

    #[test]
    fn truncated_data_says_how_many_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.npy");
        write_npy(&p, &[4, 8], &HostData::F32(vec![1.0; 32])).unwrap();
        let len = std::fs::metadata(&p).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 10).unwrap();
        let e = read_npy(&p, None).unwrap_err().to_string();
        assert!(e.contains("t.npy") && e.contains("truncated") && e.contains("needs 128 data bytes"), "{e}");
        assert!(e.contains("holds 118"), "{e}");
        f.set_len(20).unwrap();
        let e = read_npy(&p, None).unwrap_err().to_string();
        assert!(e.contains("truncated") && e.contains("header"), "{e}");
    }
}

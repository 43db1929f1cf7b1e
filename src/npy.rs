//! Reading and writing `.npy` files for `exec`. float16 and float32 arrays are
//! read as they are, float64 as f32; a requested dtype converts. numpy has no
//! bfloat16, so bf16 results are written as float32.

use std::path::Path;

use half::f16;
use npyz::WriterBuilder;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::{HostData, Layout};

/// A C-order array read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: HostData,
}

fn npy_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Npy { path: path.to_path_buf(), message: message.into() }
}

pub fn read_npy(path: &Path, dtype: Option<DType>) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(Error::io("reading", path))?;
    let file = npyz::NpyFile::new(&bytes[..]).map_err(|e| npy_err(path, format!("not a valid .npy file: {e}")))?;
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let strides: Vec<usize> = file.strides().iter().map(|&s| s as usize).collect();
    let descr = match file.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => {
            return Err(npy_err(
                path,
                format!("unsupported dtype {:?}; expected float16, float32 or float64", other.descr()),
            ))
        }
    };
    let (stored, values): (DType, Vec<f64>) = match descr.as_str() {
        "<f2" => (
            DType::F16,
            file.into_vec::<f16>().map_err(|e| npy_err(path, e.to_string()))?.into_iter().map(f64::from).collect(),
        ),
        "<f4" => (
            DType::F32,
            file.into_vec::<f32>().map_err(|e| npy_err(path, e.to_string()))?.into_iter().map(f64::from).collect(),
        ),
        "<f8" => (DType::F32, file.into_vec::<f64>().map_err(|e| npy_err(path, e.to_string()))?),
        other => {
            return Err(npy_err(
                path,
                format!("unsupported dtype {other}; expected little-endian float16, float32 or float64"),
            ))
        }
    };
    // Fortran-ordered files: read through their strides into C order.
    let layout = Layout::strided(&shape, &strides, 0)?;
    let c_order = layout.indices().map(|i| values[i]);
    Ok(NpyArray { data: HostData::from_f64_iter(dtype.unwrap_or(stored), c_order), shape })
}

pub fn write_npy(path: &Path, shape: &[usize], data: &HostData) -> Result<()> {
    let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = std::fs::File::create(path).map_err(Error::io("creating", path))?;
    let w = std::io::BufWriter::new(file);
    let io = |e: std::io::Error| Error::Io { what: "writing", path: path.to_path_buf(), source: e };
    match data {
        HostData::F16(v) => {
            let mut wr =
                npyz::WriteOptions::<f16>::new().default_dtype().shape(&shape64).writer(w).begin_nd().map_err(io)?;
            wr.extend(v.iter().copied()).map_err(io)?;
            wr.finish().map_err(io)
        }
        HostData::F32(v) => {
            let mut wr =
                npyz::WriteOptions::<f32>::new().default_dtype().shape(&shape64).writer(w).begin_nd().map_err(io)?;
            wr.extend(v.iter().copied()).map_err(io)?;
            wr.finish().map_err(io)
        }
        HostData::BF16(v) => {
            let mut wr =
                npyz::WriteOptions::<f32>::new().default_dtype().shape(&shape64).writer(w).begin_nd().map_err(io)?;
            wr.extend(v.iter().map(|x| x.to_f32())).map_err(io)?;
            wr.finish().map_err(io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}

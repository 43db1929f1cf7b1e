//! The CUDA C sources under `kernels/`, embedded in the binary. Project headers
//! (`#include "x.cuh"`) are inlined here so the text NVRTC sees, and the text
//! the cache key hashes, is exactly what runs.

/// Preprocessor defines of one build of a source.
pub type Defines = &'static [(&'static str, &'static str)];

/// One `.cu` file: its functions are compiled together into one module per
/// define set (e.g. one module per element type).
#[derive(Debug)]
pub struct KernelSource {
    /// File name under `kernels/`.
    pub file: &'static str,
    pub code: &'static str,
    /// Every define set the library builds this source with.
    pub builds: &'static [Defines],
}

/// Headers a source may include with `#include "name"`.
const HEADERS: &[(&str, &str)] = &[("common.cuh", include_str!("../../kernels/common.cuh"))];

const NO_DEFINES: &[Defines] = &[&[]];

pub static COPY: KernelSource =
    KernelSource { file: "copy.cu", code: include_str!("../../kernels/copy.cu"), builds: NO_DEFINES };
pub static ROOFLINE: KernelSource =
    KernelSource { file: "roofline.cu", code: include_str!("../../kernels/roofline.cu"), builds: NO_DEFINES };
pub static GEMV: KernelSource = KernelSource {
    file: "gemv.cu",
    code: include_str!("../../kernels/gemv.cu"),
    builds: &[DTYPE_F16, DTYPE_BF16, DTYPE_F32],
};
pub static SOFTMAX: KernelSource = KernelSource {
    file: "softmax.cu",
    code: include_str!("../../kernels/softmax.cu"),
    builds: &[DTYPE_F16, DTYPE_BF16, DTYPE_F32],
};
pub static SDPA: KernelSource = KernelSource {
    file: "sdpa.cu",
    code: include_str!("../../kernels/sdpa.cu"),
    builds: &[DTYPE_F16, DTYPE_BF16, DTYPE_F32],
};
pub static LAYER: KernelSource = KernelSource {
    file: "layer.cu",
    code: include_str!("../../kernels/layer.cu"),
    builds: &[DTYPE_F16, DTYPE_BF16, DTYPE_F32],
};
/// Builds of the per-element-type sources (gemv.cu, softmax.cu, sdpa.cu, layer.cu).
pub const DTYPE_F16: Defines = &[("DK_DTYPE", "0")];
pub const DTYPE_BF16: Defines = &[("DK_DTYPE", "1")];
pub const DTYPE_F32: Defines = &[("DK_DTYPE", "2")];

/// Every source, for prewarming and the compile test.
pub static ALL: &[&KernelSource] = &[&COPY, &ROOFLINE, &GEMV, &SOFTMAX, &SDPA, &LAYER];

/// The build of a per-element-type source for `dtype`.
pub fn dtype_build(dtype: crate::dtype::DType) -> Defines {
    match dtype {
        crate::dtype::DType::F16 => DTYPE_F16,
        crate::dtype::DType::BF16 => DTYPE_BF16,
        crate::dtype::DType::F32 => DTYPE_F32,
    }
}

impl KernelSource {
    /// The source with project headers inlined (each at most once).
    pub fn expanded(&self) -> String {
        let mut out = String::with_capacity(self.code.len() * 2);
        let mut seen = Vec::new();
        expand_into(self.code, &mut out, &mut seen);
        out
    }
}

fn expand_into(code: &str, out: &mut String, seen: &mut Vec<&'static str>) {
    for line in code.lines() {
        let trimmed = line.trim_start();
        let included = trimmed
            .strip_prefix("#include \"")
            .and_then(|rest| rest.split('"').next())
            .and_then(|name| HEADERS.iter().find(|(h, _)| *h == name));
        match included {
            Some((name, body)) => {
                if !seen.contains(name) {
                    seen.push(name);
                    out.push_str(&format!("// ---- begin {name}\n"));
                    expand_into(body, out, seen);
                    out.push_str(&format!("// ---- end {name}\n"));
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_inlined_once() {
        for src in ALL {
            let e = src.expanded();
            assert!(!e.contains("#include \"common.cuh\""), "{} still includes common.cuh", src.file);
            assert_eq!(e.matches("// ---- begin common.cuh").count(), 1, "{}", src.file);
        }
    }
}

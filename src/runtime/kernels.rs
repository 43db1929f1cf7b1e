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
const HEADERS: &[(&str, &str)] =
    &[("common.cuh", include_str!("../../kernels/common.cuh")), ("rope.cuh", include_str!("../../kernels/rope.cuh"))];

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
pub static SAMPLE: KernelSource = KernelSource {
    file: "sample.cu",
    code: include_str!("../../kernels/sample.cu"),
    builds: &[DTYPE_F16, DTYPE_BF16, DTYPE_F32],
};
pub static DEQUANT: KernelSource = KernelSource {
    file: "dequant.cu",
    code: include_str!("../../kernels/dequant.cu"),
    builds: &[DTYPE_F16, DTYPE_BF16, DTYPE_F32],
};
pub static QUANT: KernelSource = KernelSource {
    file: "quant.cu",
    code: include_str!("../../kernels/quant.cu"),
    builds: &[DTYPE_F16, DTYPE_BF16, DTYPE_F32],
};
pub static QUANT_DOT: KernelSource = KernelSource {
    file: "quant_dot.cu",
    code: include_str!("../../kernels/quant_dot.cu"),
    builds: &[DTYPE_F16, DTYPE_BF16, DTYPE_F32],
};
pub static QUANT_IMMA: KernelSource = KernelSource {
    file: "quant_imma.cu",
    code: include_str!("../../kernels/quant_imma.cu"),
    builds: &[DTYPE_F16, DTYPE_BF16, DTYPE_F32],
};
/// Builds of the per-element-type sources (gemv.cu, softmax.cu, sdpa.cu, layer.cu, sample.cu, quant.cu,
/// quant_dot.cu, quant_imma.cu, dequant.cu).
pub const DTYPE_F16: Defines = &[("DK_DTYPE", "0")];
pub const DTYPE_BF16: Defines = &[("DK_DTYPE", "1")];
pub const DTYPE_F32: Defines = &[("DK_DTYPE", "2")];

/// Every source, for prewarming and the compile test.
pub static ALL: &[&KernelSource] =
    &[&COPY, &ROOFLINE, &GEMV, &SOFTMAX, &SDPA, &LAYER, &SAMPLE, &QUANT, &QUANT_DOT, &QUANT_IMMA, &DEQUANT];

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

// Every kernel source must compile for sm_80 and sm_90. With CI=true NVRTC
// must be present (.ci/run installs it); elsewhere the test says it skipped.
#[cfg(test)]
mod compile_tests {
    use super::super::{kernels, nvrtc};

    #[test]
    fn every_kernel_source_compiles_for_sm80_and_sm90() {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let n = match nvrtc::Nvrtc::load() {
            Ok(n) => n,
            Err(e) if !in_ci => {
                eprintln!("SKIPPED kernel compile test: {e}");
                return;
            }
            Err(e) => panic!("CI=true but NVRTC is unavailable: {e}"),
        };
        assert!(n.include_dir.is_some(), "NVRTC found but no CUDA include folder (set CUDA_PATH)");
        // Every (arch, source, build) is an independent NVRTC program: compile them in parallel.
        let jobs: Vec<_> = ["sm_80", "sm_90"]
            .into_iter()
            .flat_map(|arch| kernels::ALL.iter().flat_map(move |src| src.builds.iter().map(move |d| (arch, *src, *d))))
            .collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|&(arch, src, defines)| {
                    let n = &n;
                    scope.spawn(move || {
                        let c = n.compile(src, arch, defines, true).unwrap_or_else(|e| panic!("{e}"));
                        assert!(c.cubin.len() > 100, "{} {defines:?} for {arch}: empty cubin", src.file);
                        let report = nvrtc::parse_ptxas_report(&c.log);
                        assert!(!report.is_empty(), "{} for {arch}: no ptxas report in log:\n{}", src.file, c.log);
                        for k in report {
                            assert_eq!(
                                k.spill_stores + k.spill_loads,
                                0,
                                "{} {} for {arch} spills registers",
                                src.file,
                                k.function
                            );
                        }
                    })
                })
                .collect();
            for h in handles {
                if let Err(panic) = h.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
    }

    #[test]
    fn a_broken_kernel_returns_the_nvrtc_log() {
        let Ok(n) = nvrtc::Nvrtc::load() else {
            eprintln!("SKIPPED: NVRTC unavailable");
            return;
        };
        static BROKEN: kernels::KernelSource = kernels::KernelSource {
            file: "broken.cu",
            code: "extern \"C\" __global__ void k() { undeclared_thing = 1; }",
            builds: &[&[]],
        };
        let e = n.compile(&BROKEN, "sm_90", &[], false).unwrap_err().to_string();
        assert!(e.contains("broken.cu") && e.contains("sm_90") && e.contains("undeclared_thing"), "{e}");
    }
}

//! Compiling kernel sources to cubins with NVRTC.

use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};

use cudarc::nvrtc::sys;

use super::kernels::KernelSource;
use super::probe;
use crate::error::{Error, Result};

/// A loaded NVRTC and where the CUDA headers are.
#[derive(Debug, Clone)]
pub struct Nvrtc {
    pub version: (i32, i32),
    pub include_dir: Option<PathBuf>,
}

/// What a compile produced: the cubin, and NVRTC's log (warnings, and the
/// ptxas resource report when asked for).
#[derive(Debug, Clone)]
pub struct Compiled {
    pub cubin: Vec<u8>,
    pub log: String,
}

/// The CUDA include folder: `CUDA_PATH`, `CUDA_HOME`, then /usr/local/cuda.
pub fn find_include_dir() -> Option<PathBuf> {
    let candidates = ["CUDA_PATH", "CUDA_HOME"]
        .iter()
        .filter_map(std::env::var_os)
        .map(|root| PathBuf::from(root).join("include"))
        .chain(std::iter::once(PathBuf::from("/usr/local/cuda/include")));
    candidates.into_iter().find(|d| d.join("cuda_fp16.h").is_file())
}

impl Nvrtc {
    /// Opens NVRTC; an error (never a panic) when the library is absent.
    pub fn load() -> Result<Self> {
        if !probe::nvrtc_lib_present() {
            return Err(Error::NvrtcUnavailable(
                "libnvrtc was not found on the library path (set LD_LIBRARY_PATH to the folder holding libnvrtc.so.13)"
                    .into(),
            ));
        }
        let (mut major, mut minor) = (0, 0);
        // SAFETY: library present (checked above); the call writes two ints.
        let r = unsafe { sys::nvrtcVersion(&mut major, &mut minor) };
        if r != sys::nvrtcResult::NVRTC_SUCCESS {
            return Err(Error::NvrtcUnavailable(format!("nvrtcVersion failed: {r:?}")));
        }
        Ok(Nvrtc { version: (major, minor), include_dir: find_include_dir() })
    }

    /// The options every compile passes, apart from defines.
    pub fn base_options(&self, arch: &str) -> Vec<String> {
        let mut o = vec![format!("--gpu-architecture={arch}"), "--std=c++17".to_string(), "--fmad=true".to_string()];
        if let Some(d) = &self.include_dir {
            o.push(format!("--include-path={}", d.display()));
        }
        o
    }

    /// Compiles one source to a cubin for `arch` (e.g. "sm_90").
    pub fn compile(
        &self,
        source: &KernelSource,
        arch: &str,
        defines: &[(&str, &str)],
        ptxas_verbose: bool,
    ) -> Result<Compiled> {
        let code = source.expanded();
        let mut options = self.base_options(arch);
        options.extend(defines.iter().map(|(k, v)| format!("-D{k}={v}")));
        if ptxas_verbose {
            options.push("--ptxas-options=-v".to_string());
        }
        compile_program(&code, source.file, arch, &options, self.include_dir.as_deref(), Output::Cubin)
    }
}

impl Nvrtc {
    /// Compiles source text that is not one of the embedded sources (a probe
    /// built from one, say) to PTX for a virtual architecture (e.g.
    /// "compute_90"); the PTX is returned as text in `Compiled::cubin`.
    #[cfg_attr(not(test), allow(dead_code))] // only the kernel parameter layout test reads PTX
    pub(crate) fn compile_text_to_ptx(
        &self,
        code: &str,
        name: &str,
        virtual_arch: &str,
        defines: &[(&str, &str)],
    ) -> Result<String> {
        let mut options = self.base_options(virtual_arch);
        options.extend(defines.iter().map(|(k, v)| format!("-D{k}={v}")));
        let c = compile_program(code, name, virtual_arch, &options, self.include_dir.as_deref(), Output::Ptx)?;
        Ok(String::from_utf8_lossy(&c.cubin).trim_end_matches('\0').to_string())
    }
}

fn nvrtc_err(what: &str, r: sys::nvrtcResult) -> Error {
    Error::NvrtcUnavailable(format!("{what} failed: {r:?}"))
}

/// What a compile returns: a cubin for a real architecture, or PTX text.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
enum Output {
    Cubin,
    Ptx,
}

fn compile_program(
    code: &str,
    name: &str,
    arch: &str,
    options: &[String],
    include: Option<&Path>,
    output: Output,
) -> Result<Compiled> {
    let to_c = |s: &str, what: &str| {
        CString::new(s).map_err(|_| Error::NvrtcUnavailable(format!("{what} contains a NUL byte")))
    };
    let c_code = to_c(code, "kernel source")?;
    let c_name = to_c(name, "kernel name")?;
    let c_opts: Vec<CString> = options.iter().map(|o| to_c(o, "compile option")).collect::<Result<_>>()?;
    let opt_ptrs: Vec<*const c_char> = c_opts.iter().map(|c| c.as_ptr()).collect();

    let mut prog: sys::nvrtcProgram = std::ptr::null_mut();
    // SAFETY: NVRTC is loaded (Nvrtc::load probed it); every pointer passed is a
    // live NUL-terminated string, and the program is destroyed below on every path.
    unsafe {
        let r =
            sys::nvrtcCreateProgram(&mut prog, c_code.as_ptr(), c_name.as_ptr(), 0, std::ptr::null(), std::ptr::null());
        if r != sys::nvrtcResult::NVRTC_SUCCESS {
            return Err(nvrtc_err("nvrtcCreateProgram", r));
        }
        let result = (|| {
            let r = sys::nvrtcCompileProgram(prog, opt_ptrs.len() as i32, opt_ptrs.as_ptr());
            let log = program_log(prog);
            if r != sys::nvrtcResult::NVRTC_SUCCESS {
                let mut log = log;
                if include.is_none() {
                    log.push_str("\n(note: no CUDA include folder was found; set CUDA_PATH or CUDA_HOME to a folder holding include/cuda_fp16.h)");
                }
                return Err(Error::Compile { source_name: name.to_string(), arch: arch.to_string(), log });
            }
            let mut size = 0usize;
            let (r, what) = match output {
                Output::Cubin => (sys::nvrtcGetCUBINSize(prog, &mut size), "nvrtcGetCUBINSize"),
                Output::Ptx => (sys::nvrtcGetPTXSize(prog, &mut size), "nvrtcGetPTXSize"),
            };
            if r != sys::nvrtcResult::NVRTC_SUCCESS {
                return Err(nvrtc_err(what, r));
            }
            let mut cubin = vec![0u8; size];
            let (r, what) = match output {
                Output::Cubin => (sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr() as *mut c_char), "nvrtcGetCUBIN"),
                Output::Ptx => (sys::nvrtcGetPTX(prog, cubin.as_mut_ptr() as *mut c_char), "nvrtcGetPTX"),
            };
            if r != sys::nvrtcResult::NVRTC_SUCCESS {
                return Err(nvrtc_err(what, r));
            }
            Ok(Compiled { cubin, log })
        })();
        sys::nvrtcDestroyProgram(&mut prog);
        result
    }
}

/// SAFETY: `prog` must be a live program.
unsafe fn program_log(prog: sys::nvrtcProgram) -> String {
    let mut size = 0usize;
    if sys::nvrtcGetProgramLogSize(prog, &mut size) != sys::nvrtcResult::NVRTC_SUCCESS || size == 0 {
        return String::new();
    }
    let mut buf = vec![0u8; size];
    if sys::nvrtcGetProgramLog(prog, buf.as_mut_ptr() as *mut c_char) != sys::nvrtcResult::NVRTC_SUCCESS {
        return String::new();
    }
    CStr::from_bytes_until_nul(&buf).map(|c| c.to_string_lossy().trim_end().to_string()).unwrap_or_default()
}

/// One kernel's resources as ptxas reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelResources {
    pub function: String,
    pub registers: u32,
    pub stack_bytes: u32,
    pub spill_stores: u32,
    pub spill_loads: u32,
    pub shared_bytes: u32,
}

/// Parses ptxas' `-v` report out of an NVRTC log.
pub fn parse_ptxas_report(log: &str) -> Vec<KernelResources> {
    let mut out: Vec<KernelResources> = Vec::new();
    let num_before = |line: &str, unit: &str| -> u32 {
        line.find(unit)
            .and_then(|p| line[..p].trim_end().rsplit(|c: char| !c.is_ascii_digit()).next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    for line in log.lines() {
        if let Some(p) = line.find("Compiling entry function '") {
            let rest = &line[p + "Compiling entry function '".len()..];
            let name = rest.split('\'').next().unwrap_or("").to_string();
            out.push(KernelResources {
                function: name,
                registers: 0,
                stack_bytes: 0,
                spill_stores: 0,
                spill_loads: 0,
                shared_bytes: 0,
            });
        } else if let Some(k) = out.last_mut() {
            if line.contains("bytes stack frame") {
                k.stack_bytes = num_before(line, "bytes stack frame");
                k.spill_stores = num_before(line, "bytes spill stores");
                k.spill_loads = num_before(line, "bytes spill loads");
            } else if line.contains("registers") {
                k.registers = num_before(line, "registers");
                k.shared_bytes = num_before(line, "bytes smem");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ptxas_report() {
        let log = "ptxas info    : 0 bytes gmem\n\
ptxas info    : Compiling entry function 'gemv_n4_f16' for 'sm_90'\n\
ptxas info    : Function properties for gemv_n4_f16\n\
    16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n\
ptxas info    : Used 40 registers, used 1 barriers, 2048 bytes smem, 400 bytes cmem[0]\n";
        let r = parse_ptxas_report(log);
        assert_eq!(
            r,
            vec![KernelResources {
                function: "gemv_n4_f16".into(),
                registers: 40,
                stack_bytes: 16,
                spill_stores: 8,
                spill_loads: 4,
                shared_bytes: 2048
            }]
        );
    }
}

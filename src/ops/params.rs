//! Every kernel parameter struct, the Rust twin of one in kernels/*.cu (or
//! kernels/common.cuh). Kernels take them by value, so a field added,
//! dropped or reordered on one side only would be read as garbage: the test
//! at the end compiles each struct's CUDA twin with NVRTC and checks its size
//! and every field's offset against these (wherever NVRTC is, CI included).

use crate::tensor::{Layout, MAX_RANK};

/// A 4-D shape or stride vector as kernels take it (kernels/common.cuh: Dims4).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims4 {
    pub(crate) v: [i64; 4],
}

impl Dims4 {
    /// The layout's shape, padded with leading 1s.
    pub fn shape(l: &Layout) -> Self {
        Self::padded(l.shape(), 1)
    }
    /// The layout's strides, padded with leading 0s.
    pub fn strides(l: &Layout) -> Self {
        Self::padded(l.strides(), 0)
    }
    fn padded(v: &[usize], fill: i64) -> Self {
        let mut out = [fill; MAX_RANK];
        let pad = MAX_RANK - v.len();
        for (i, &x) in v.iter().enumerate() {
            out[pad + i] = x as i64;
        }
        Dims4 { v: out }
    }
}

/// Kernel parameters (kernels/gemv.cu: GemvParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct GemvParams {
    pub(crate) m: i64,
    pub(crate) k: i64,
    pub(crate) n: i64,
    pub(crate) sam: i64,
    pub(crate) sak: i64,
    pub(crate) sbk: i64,
    pub(crate) sbn: i64,
    pub(crate) scm: i64,
    pub(crate) scn: i64,
    pub(crate) sab: i64,
    pub(crate) sbb: i64,
    pub(crate) scb: i64,
    pub(crate) group: i64,
    pub(crate) k_per_split: i64,
    pub(crate) alpha: f32,
    pub(crate) beta: f32,
}

/// Kernel parameters (kernels/softmax.cu: SoftmaxParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct SoftmaxParams {
    pub(crate) rows: i64,
    pub(crate) cols: i64,
    pub(crate) sxr: i64,
    pub(crate) sxc: i64,
    pub(crate) syr: i64,
    pub(crate) syc: i64,
    pub(crate) smr: i64,
    pub(crate) smc: i64,
    pub(crate) q_len: i64,
    pub(crate) offset: i64,
    pub(crate) causal: i32,
    pub(crate) has_mask: i32,
    pub(crate) scale: f32,
}

/// Kernel parameters (kernels/sdpa.cu: SdpaParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct SdpaParams {
    pub(crate) sq: Dims4,
    pub(crate) sk: Dims4,
    pub(crate) sv: Dims4,
    pub(crate) so: Dims4,
    pub(crate) batch: i64,
    pub(crate) hkv: i64,
    pub(crate) lq: i64,
    pub(crate) group: i64,
    pub(crate) rows: i64,
    pub(crate) offset: i64,
    pub(crate) keys_per_split: i64,
    pub(crate) kv_end: i64,
    pub(crate) causal: i32,
    pub(crate) scale_log2: f32,
    pub(crate) stages: i32,
    pub(crate) cluster: i32,
    pub(crate) fresh: i64,
    pub(crate) kv_lens: u64,
}

/// Kernel parameters (kernels/layer.cu: RmsNormParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct RmsNormParams {
    pub(crate) rows: i64,
    pub(crate) cols: i64,
    pub(crate) sxr: i64,
    pub(crate) syr: i64,
    pub(crate) sxo: i64,
    pub(crate) syo: i64,
    pub(crate) eps: f32,
}

/// Kernel parameters (kernels/rope.cuh: RopeParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct RopeParams {
    pub(crate) hq: i64,
    pub(crate) hkv: i64,
    pub(crate) d: i64,
    pub(crate) s_qkv_b: i64,
    pub(crate) s_qkv_t: i64,
    pub(crate) sq_b: i64,
    pub(crate) sq_h: i64,
    pub(crate) sq_t: i64,
    pub(crate) sk_b: i64,
    pub(crate) sk_h: i64,
    pub(crate) sk_s: i64,
    pub(crate) sv_b: i64,
    pub(crate) sv_h: i64,
    pub(crate) sv_s: i64,
    pub(crate) cap: i64,
    pub(crate) pos: i64,
    pub(crate) freq_ratio: f64,
    pub(crate) has_bias: i32,
    pub(crate) llama3: i32,
    pub(crate) inv_factor: f64,
    pub(crate) low_freq: f64,
    pub(crate) high_freq: f64,
    pub(crate) smooth_a: f64,
    pub(crate) smooth_b: f64,
}

/// Kernel parameters (kernels/layer.cu: SiluMulParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct SiluMulParams {
    pub(crate) rows: i64,
    pub(crate) inter: i64,
    pub(crate) s_gu: i64,
    pub(crate) s_h: i64,
}

/// Kernel parameters (kernels/quant_dot.cu: Q8Params).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q8Params {
    pub(crate) rows: i64,
    pub(crate) cols: i64,
    pub(crate) sxr: i64,
    pub(crate) syr: i64,
    pub(crate) meta: i64,
    pub(crate) eps: f32,
    pub(crate) vec: i32,
}

/// Kernel parameters (kernels/sample.cu: SampleParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampleParams {
    pub(crate) vocab: i64,
    pub(crate) sxr: i64,
    pub(crate) hist: i64,
    pub(crate) top_k: i64,
    pub(crate) seed: u64,
    pub(crate) temperature: f32,
    pub(crate) top_p: f32,
    pub(crate) ln_min_p: f32,
    pub(crate) repeat_penalty: f32,
    pub(crate) append: i32,
}

/// Kernel parameters of both quantized GEMVs (kernels/common.cuh: QuantParams).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuantParams {
    pub(crate) m: i64,
    pub(crate) k: i64,
    pub(crate) n: i64,
    pub(crate) row_bytes: i64,
    pub(crate) buf_bytes: i64,
    pub(crate) sxn: i64,
    pub(crate) syn: i64,
    pub(crate) x_vec: i32,
    pub(crate) alpha: f32,
    pub(crate) beta: f32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kernels::{self, KernelSource};
    use crate::runtime::nvrtc::Nvrtc;

    /// A Rust struct's layout and the kernel source holding its CUDA twin.
    struct Abi {
        name: &'static str,
        source: &'static KernelSource,
        size: usize,
        fields: Vec<(&'static str, usize)>,
    }

    macro_rules! abi {
        ($t:ident in $src:expr; $($f:ident),+) => {
            Abi {
                name: stringify!($t),
                source: &$src,
                size: std::mem::size_of::<$t>(),
                fields: vec![$((stringify!($f), std::mem::offset_of!($t, $f))),+],
            }
        };
    }

    fn all() -> Vec<Abi> {
        vec![
            abi!(Dims4 in kernels::COPY; v),
            abi!(GemvParams in kernels::GEMV; m, k, n, sam, sak, sbk, sbn, scm, scn, sab, sbb, scb, group,
                k_per_split, alpha, beta),
            abi!(SoftmaxParams in kernels::SOFTMAX; rows, cols, sxr, sxc, syr, syc, smr, smc, q_len, offset,
                causal, has_mask, scale),
            abi!(SdpaParams in kernels::SDPA; sq, sk, sv, so, batch, hkv, lq, group, rows, offset,
                keys_per_split, kv_end, causal, scale_log2, stages, cluster, fresh, kv_lens),
            abi!(RmsNormParams in kernels::LAYER; rows, cols, sxr, syr, sxo, syo, eps),
            abi!(RopeParams in kernels::LAYER; hq, hkv, d, s_qkv_b, s_qkv_t, sq_b, sq_h, sq_t, sk_b, sk_h,
                sk_s, sv_b, sv_h, sv_s, cap, pos, freq_ratio, has_bias, llama3, inv_factor, low_freq, high_freq, smooth_a,
                smooth_b),
            abi!(SiluMulParams in kernels::LAYER; rows, inter, s_gu, s_h),
            abi!(QuantParams in kernels::QUANT; m, k, n, row_bytes, buf_bytes, sxn, syn, x_vec, alpha, beta),
            abi!(QuantParams in kernels::QUANT_DOT; m, k, n, row_bytes, buf_bytes, sxn, syn, x_vec, alpha, beta),
            abi!(Q8Params in kernels::QUANT_DOT; rows, cols, sxr, syr, meta, eps, vec),
            abi!(SampleParams in kernels::SAMPLE; vocab, sxr, hist, top_k, seed, temperature, top_p, ln_min_p,
                repeat_penalty, append),
        ]
    }

    /// The kernel source followed by a probe kernel that stores the CUDA
    /// struct's size and each field's offset, in `abi.fields` order. NVRTC
    /// folds them to constants, so the PTX holds them without a GPU.
    fn probe(abi: &Abi) -> String {
        let mut code = abi.source.expanded();
        let n = abi.name;
        code.push_str(&format!(
            "\nextern \"C\" __global__ void dk_layout_probe(unsigned long long* out) {{\n    \
             {n} x;\n    const char* base = reinterpret_cast<const char*>(&x);\n    out[0] = sizeof({n});\n"
        ));
        for (i, (f, _)) in abi.fields.iter().enumerate() {
            code.push_str(&format!("    out[{}] = reinterpret_cast<const char*>(&x.{f}) - base;\n", i + 1));
        }
        code.push_str("}\n");
        code
    }

    /// The values the probe stores: PTX `st.global.u64 [%rdA+OFF], X;` with X
    /// an immediate or a register set by `mov.u64 %rdN, V;`, slot OFF / 8.
    fn stored_values(ptx: &str, slots: usize) -> Vec<Option<u64>> {
        let body = &ptx[ptx.find(".entry dk_layout_probe").unwrap_or(0)..];
        let mut regs = std::collections::HashMap::new();
        let mut out = vec![None; slots];
        for line in body.lines().map(|l| l.trim().trim_end_matches(';')) {
            if let Some(rest) = line.strip_prefix("mov.u64") {
                if let Some((r, v)) = rest.split_once(',') {
                    if let Ok(v) = v.trim().parse::<u64>() {
                        regs.insert(r.trim().to_string(), v);
                    }
                }
            } else if let Some(rest) = line.strip_prefix("st.global.u64") {
                let Some((addr, val)) = rest.split_once(',') else { continue };
                let addr = addr.trim().trim_start_matches('[').trim_end_matches(']');
                let off = addr.split_once('+').map_or(Some(0), |(_, o)| o.parse::<usize>().ok());
                let val = val.trim();
                let v = val.parse::<u64>().ok().or_else(|| regs.get(val).copied());
                if let (Some(off), Some(v)) = (off, v) {
                    if off % 8 == 0 && off / 8 < slots {
                        out[off / 8] = Some(v);
                    }
                }
            }
        }
        out
    }

    /// (what, CUDA's value, Rust's value) for every disagreement.
    fn mismatches(n: &Nvrtc, abi: &Abi) -> Vec<(String, Option<u64>, usize)> {
        let ptx = n
            .compile_text_to_ptx(&probe(abi), abi.source.file, "compute_90", abi.source.builds[0])
            .unwrap_or_else(|e| panic!("the layout probe for {} did not compile: {e}", abi.name));
        let cuda = stored_values(&ptx, abi.fields.len() + 1);
        let rust = std::iter::once(("sizeof".to_string(), abi.size))
            .chain(abi.fields.iter().map(|(f, o)| (format!("offsetof {f}"), *o)));
        rust.zip(cuda).filter(|((_, r), c)| *c != Some(*r as u64)).map(|((w, r), c)| (w, c, r)).collect()
    }

    fn nvrtc() -> Option<Nvrtc> {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        match Nvrtc::load() {
            Ok(n) => Some(n),
            Err(e) if !in_ci => {
                eprintln!("SKIPPED kernel parameter layout test: {e}");
                None
            }
            Err(e) => panic!("CI=true but NVRTC is unavailable: {e}"),
        }
    }

    #[test]
    fn every_parameter_struct_matches_its_cuda_twin() {
        let Some(n) = nvrtc() else { return };
        for abi in all() {
            let bad = mismatches(&n, &abi);
            assert!(
                bad.is_empty(),
                "{} differs between Rust and {} (what, CUDA, Rust): {bad:?}",
                abi.name,
                abi.source.file
            );
        }
    }

    #[test]
    fn a_reordered_field_is_caught() {
        let Some(n) = nvrtc() else { return };
        // As if `rows` and `cols` were swapped in the Rust struct only.
        let mut abi = abi!(SoftmaxParams in kernels::SOFTMAX; rows, cols, scale);
        let (r, c) = (abi.fields[0].1, abi.fields[1].1);
        abi.fields[0].1 = c;
        abi.fields[1].1 = r;
        let bad = mismatches(&n, &abi);
        assert_eq!(bad, vec![("offsetof rows".to_string(), Some(0), 8), ("offsetof cols".to_string(), Some(8), 0)]);
        let mut abi = abi!(RmsNormParams in kernels::LAYER; eps);
        abi.size += 8;
        assert_eq!(mismatches(&n, &abi), vec![("sizeof".to_string(), Some(56), 64)]);
    }
}

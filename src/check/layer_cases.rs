//! Check cases of the decoder-layer ops and of a whole decode step: each runs
//! on the GPU and on the CPU backend from the same inputs (or the same seed).

use super::{tolerance, Case, Checker, Outcome, Pair};
use crate::context::Context;
use crate::decode::{DecodeModel, ModelConfig, WeightFormat};
use crate::dtype::{DType, QuantKind};
use crate::error::Result;
use crate::ops::{self, Llama3Rope, RopeOptions};
use crate::progress::Silent;
use crate::tensor::{HostData, Layout, Q8Activations, QuantMatrix};

/// A `quant_matmul_rope_append` case: dtype, (batch, hq, hkv, d), K, the
/// parts' formats, [x_q8, bias, llama3, ragged].
type QuantRopeCase = (DType, (usize, usize, usize, usize), usize, &'static [QuantKind], [bool; 4]);

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    for dtype in DType::ALL {
        for (rows, cols, padded) in
            [(1, 896, false), (16, 4096, false), (3, 1000, true), (2, 999, false), (1, 8192, false), (1, 40000, false)]
        {
            v.push(Case {
                op: "rmsnorm",
                name: format!("{rows}x{cols}{}", if padded { "/padded_rows" } else { "" }),
                dtype,
                run: Box::new(move |c: &mut Checker| rmsnorm_case(c, dtype, rows, cols, padded)),
            });
        }
        // Llama 3.1's scaling, at a position where every frequency band (kept,
        // divided, blended) turns by many radians.
        let llama3 = Llama3Rope { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max: 8192.0 };
        for (batch, hq, hkv, d, cap, pos, bias, scaling) in [
            (1, 14, 2, 64, 50, 49, true, None),
            (4, 32, 8, 128, 300, 17, false, None),
            (2, 4, 4, 256, 8, 0, true, None),
            (1, 32, 8, 64, 5000, 4999, false, Some(llama3)),
            // A long context: pos * f reaches 131072 rad, where an f32 angle is off by 1e-2
            // (kernels/rope.cuh: rope_sincos takes it to the turn in double).
            (1, 4, 1, 64, 131073, 131072, true, Some(llama3)),
        ] {
            v.push(Case {
                op: "rope",
                name: format!(
                    "b{batch}_hq{hq}_hkv{hkv}_d{d}_pos{pos}{}{}",
                    if bias { "_bias" } else { "" },
                    if scaling.is_some() { "_llama3" } else { "" }
                ),
                dtype,
                run: Box::new(move |c: &mut Checker| rope_case(c, dtype, (batch, hq, hkv, d), cap, pos, bias, scaling)),
            });
        }
        for (rows, inter) in [(1, 4864), (16, 14336), (3, 77)] {
            v.push(Case {
                op: "silu_mul",
                name: format!("{rows}x{inter}"),
                dtype,
                run: Box::new(move |c: &mut Checker| silu_case(c, dtype, rows, inter)),
            });
        }
        // The fused GEMV (N <= 2, veck: one and two rows, split-K over a long
        // K) and the composed path (N = 5; K not a multiple of 8: no veck; one
        // output row whose up row is not 16-byte aligned).
        for (m, k, n) in [(300, 520, 1), (300, 520, 2), (64, 8192, 1), (100, 264, 5), (45, 129, 1), (1, 264, 1)] {
            v.push(Case {
                op: "matmul_silu_mul",
                name: format!("{m}x{k}x{n}"),
                dtype,
                run: Box::new(move |c: &mut Checker| glu_case(c, dtype, m, k, n)),
            });
        }
        // The norm inside the GEMV (N <= 2 on veck: one row, two rows in f32
        // (f16/bf16 take mma at N = 2: composed), split-K over a long K, with
        // and without GLU) and the composed path (N = 5; K not a multiple of
        // 8; a norm weight off the 16-byte grain).
        for (m, k, n, glu, w_off) in [
            (301, 2048, 1, false, 0),
            (300, 2048, 2, false, 0),
            (64, 8192, 1, false, 0),
            (300, 520, 1, true, 0),
            (64, 8192, 1, true, 0),
            (64, 8192, 2, true, 0),
            (16, 264, 1, true, 0),
            (100, 264, 5, false, 0),
            (45, 129, 1, true, 0),
            (300, 512, 1, false, 1),
        ] {
            v.push(Case {
                op: if glu { "rmsnorm_matmul_silu_mul" } else { "rmsnorm_matmul" },
                name: format!("{m}x{k}x{n}{}", if w_off > 0 { "/weight_off_grain" } else { "" }),
                dtype,
                run: Box::new(move |c: &mut Checker| norm_gemv_case(c, dtype, m, k, n, glu, w_off)),
            });
        }
        // The QKV projection with RoPE and the cache append in its epilogue
        // (N <= 2 on veck; f16/bf16 compose at N = 2), with and without the
        // norm, bias, Llama 3 scaling, per-sequence positions (one outside
        // the cache: rotated into q, not stored), split-K over a long K.
        // Norm: 0 none, 1 in the launch, 2 by its own launch (a weight past
        // the tuning's bound, as llama3-8b's QKV).
        for (batch, hq, hkv, d, k, norm, bias, llama3, ragged) in [
            (1, 14, 2, 64, 896, 1, true, false, false),
            (1, 32, 8, 64, 2048, 1, false, true, false),
            (1, 4, 2, 128, 8192, 0, false, false, true),
            (2, 8, 2, 128, 512, 1, true, false, true),
            (1, 32, 8, 128, 1024, 2, false, true, false),
            (2, 4, 1, 64, 256, 0, true, false, false),
        ] {
            v.push(Case {
                op: "matmul_rope_append",
                name: format!(
                    "b{batch}_hq{hq}_hkv{hkv}_d{d}_k{k}{}{}{}{}",
                    ["", "_norm", "_norm_apart"][norm],
                    if bias { "_bias" } else { "" },
                    if llama3 { "_llama3" } else { "" },
                    if ragged { "_ragged" } else { "" }
                ),
                dtype,
                run: Box::new(move |c: &mut Checker| {
                    qkv_rope_case(c, dtype, (batch, hq, hkv, d), k, (norm, bias, llama3, ragged))
                }),
            });
        }
        v.push(Case {
            op: "fill",
            name: "uniform_100003".into(),
            dtype,
            run: Box::new(move |c: &mut Checker| fill_case(c, dtype)),
        });
    }
    // The quantized QKV projection with RoPE: Q4_K_M's split (Q and K in
    // Q4_K, V in Q6_K) at llama3-8b's shape and at 2 tokens (ragged), one
    // part of each other format, N = 2 ragged, and N = 3 (composed).
    use QuantKind::{Q4_K, Q6_K, Q8_0};
    let quant_rope: [QuantRopeCase; 7] = [
        (DType::F16, (1, 32, 8, 128), 4096, &[Q4_K, Q6_K], [true, false, true, false]),
        (DType::F16, (2, 14, 2, 64), 896, &[Q8_0], [false, true, false, true]),
        (DType::BF16, (1, 4, 1, 64), 512, &[QuantKind::Q4_0], [false, true, false, false]),
        (DType::F32, (2, 8, 2, 128), 1024, &[Q6_K], [true, false, true, true]),
        (DType::F16, (1, 8, 2, 64), 14336, &[Q4_K], [true, true, true, false]),
        (DType::F16, (3, 8, 2, 64), 512, &[Q4_K, Q6_K], [false, true, false, false]),
        // Both formats' parts in one launch at two tokens (qgemv_dot2_*_rope_n2), ragged.
        (DType::BF16, (2, 16, 4, 128), 2048, &[Q4_K, Q6_K], [true, true, true, true]),
    ];
    for (dtype, shape, k, kinds, [x_q8, bias, llama3, ragged]) in quant_rope {
        let (batch, hq, hkv, d) = shape;
        let formats: Vec<String> = kinds.iter().map(|q| q.name().to_ascii_lowercase()).collect();
        v.push(Case {
            op: "quant_matmul_rope_append",
            name: format!(
                "{}/b{batch}_hq{hq}_hkv{hkv}_d{d}_k{k}{}{}{}{}",
                formats.join("+"),
                if x_q8 { "_x_q8" } else { "" },
                if bias { "_bias" } else { "" },
                if llama3 { "_llama3" } else { "" },
                if ragged { "_ragged" } else { "" }
            ),
            dtype,
            run: Box::new(move |c: &mut Checker| {
                quant_rope_case(c, dtype, shape, k, kinds, (x_q8, bias, llama3, ragged))
            }),
        });
    }
    // A whole step: GPU logits against the CPU backend's, same seed (bound: 1e-2 for f16).
    for (model, dtype, batch, context) in [
        ("tiny", DType::F16, 3, 40),
        ("tiny", DType::BF16, 2, 40),
        ("qwen2.5-0.5b", DType::F16, 1, 64),
        ("qwen2.5-0.5b", DType::F16, 4, 300),
        ("qwen2.5-0.5b", DType::BF16, 2, 64),
    ] {
        v.push(Case {
            op: "decode",
            name: format!("{model}/b{batch}_ctx{context}"),
            dtype,
            run: Box::new(move |c: &mut Checker| {
                decode_case(c, model, dtype, WeightFormat::Dense, batch, context, StepMode::Eager)
            }),
        });
    }
    // Quantized projections and LM head (random blocks scaled by fan-in): the
    // integer-dot GEMV up to 16 sequences (launches of up to 8),
    // dequantize + dense matmul above (batch 20).
    for (weights, batch, mode) in [
        (WeightFormat::Q4KM, 1, StepMode::Eager),
        (WeightFormat::Q8_0, 1, StepMode::Graph),
        (WeightFormat::Q8_0, 3, StepMode::Eager),
        (WeightFormat::Q4KM, 2, StepMode::Eager),
        (WeightFormat::Q4KM, 16, StepMode::Graph),
        (WeightFormat::Q8_0, 20, StepMode::Eager),
        (WeightFormat::Q4KM, 20, StepMode::Eager),
    ] {
        let name = weights.name().unwrap_or("dense");
        v.push(Case {
            op: "decode",
            name: format!("tiny/{name}/b{batch}_ctx40/{mode:?}").to_lowercase(),
            dtype: DType::F16,
            run: Box::new(move |c: &mut Checker| decode_case(c, "tiny", DType::F16, weights, batch, 40, mode)),
        });
    }
    // The same step replayed from a recording and launched as a CUDA graph.
    for mode in [StepMode::Planned, StepMode::Graph] {
        for (model, batch, context) in [("tiny", 4, 40), ("qwen2.5-0.5b", 2, 64)] {
            v.push(Case {
                op: "decode",
                name: format!("{model}/b{batch}_ctx{context}/{mode:?}").to_lowercase(),
                dtype: DType::F16,
                run: Box::new(move |c: &mut Checker| {
                    decode_case(c, model, DType::F16, WeightFormat::Dense, batch, context, mode)
                }),
            });
        }
    }
    v
}

/// How the GPU step of a decode case runs.
#[derive(Debug, Clone, Copy)]
enum StepMode {
    Eager,
    Planned,
    Graph,
}

/// The logits bound of a whole step: many rounded ops in a row.
pub fn step_tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => 1e-4,
        DType::F16 => 1e-2,
        DType::BF16 => 5e-2,
    }
}

fn rmsnorm_case(c: &mut Checker, dtype: DType, rows: usize, cols: usize, padded: bool) -> Result<Outcome> {
    let stride = if padded { cols + 8 } else { cols };
    let x = c.input(dtype, &[rows, stride], 2.0)?.map(|t| t.narrow(1, 0, cols))?;
    let w = c.input(dtype, &[cols], 1.0)?;
    let y = c.poisoned_output(dtype, rows * stride, Layout::strided(&[rows, cols], &[stride, 1], 0)?)?;
    ops::rmsnorm(c.gpu, &x.gpu, &w.gpu, 1e-6, &y.gpu)?;
    ops::rmsnorm(&c.cpu.clone(), &x.cpu, &w.cpu, 1e-6, &y.cpu)?;
    c.compare("rmsnorm", "", &y, tolerance(dtype))
}

/// `shape` is (batch, hq, hkv, d).
fn rope_case(
    c: &mut Checker,
    dtype: DType,
    shape: (usize, usize, usize, usize),
    cap: usize,
    pos: usize,
    bias: bool,
    llama3: Option<Llama3Rope>,
) -> Result<Outcome> {
    let (batch, hq, hkv, d) = shape;
    let width = (hq + 2 * hkv) * d;
    let qkv = c.input(dtype, &[batch, width], 1.0)?;
    let b = if bias { Some(c.input(dtype, &[width], 0.5)?) } else { None };
    let q = c.poisoned_output(dtype, batch * hq * d, Layout::contiguous(&[batch, hq, d])?)?;
    // Poisoned caches: slot pos must be written, and nothing else.
    let cache = Layout::contiguous(&[batch, hkv, cap, d])?;
    let kc = c.poisoned_output(dtype, batch * hkv * cap * d, cache.clone())?;
    let vc = c.poisoned_output(dtype, batch * hkv * cap * d, cache)?;
    let o = RopeOptions { hq, hkv, pos, theta: 1e6, llama3 };
    let cpu = c.cpu.clone();
    ops::rope_append(c.gpu, &qkv.gpu, b.as_ref().map(|p| &p.gpu), &q.gpu, &kc.gpu, &vc.gpu, &o)?;
    ops::rope_append(&cpu, &qkv.cpu, b.as_ref().map(|p| &p.cpu), &q.cpu, &kc.cpu, &vc.cpu, &o)?;
    let slot = |p: &Pair| -> Result<Pair> { Ok(Pair { gpu: p.gpu.narrow(2, pos, 1)?, cpu: p.cpu.narrow(2, pos, 1)? }) };
    let outs = [
        c.compare("rope", "", &q, tolerance(dtype))?,
        c.compare("rope", "", &slot(&kc)?, tolerance(dtype))?,
        c.compare("rope", "", &slot(&vc)?, tolerance(dtype))?,
    ];
    // The worst of Q, K cache and V cache.
    Ok(worst(outs))
}

/// What a QKV-with-RoPE case writes and how: q_out and the caches (poisoned;
/// capacity 40, slot 37), the bias, the options (theta 5e5, Llama 3.1's
/// scaling or none) and, for a ragged batch, sequence 0 at slot 37 and the
/// others past the cache (q only).
struct RopeOuts {
    q: Pair,
    kc: Pair,
    vc: Pair,
    bias: Option<Pair>,
    opts: RopeOptions,
    positions: Option<(crate::tensor::Indices, crate::tensor::Indices)>,
    batch: usize,
}

impl RopeOuts {
    const CAP: usize = 40;
    const POS: usize = 37;

    fn new(
        c: &mut Checker,
        dtype: DType,
        shape: (usize, usize, usize, usize),
        bias: bool,
        llama3: bool,
        ragged: bool,
    ) -> Result<Self> {
        let (batch, hq, hkv, d) = shape;
        let width = (hq + 2 * hkv) * d;
        let bias = if bias { Some(c.input(dtype, &[width], 0.5)?) } else { None };
        let q = c.poisoned_output(dtype, batch * hq * d, Layout::contiguous(&[batch, hq, d])?)?;
        let cache = Layout::contiguous(&[batch, hkv, Self::CAP, d])?;
        let kc = c.poisoned_output(dtype, batch * hkv * Self::CAP * d, cache.clone())?;
        let vc = c.poisoned_output(dtype, batch * hkv * Self::CAP * d, cache)?;
        let scaling = Llama3Rope { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max: 8192.0 };
        let opts = RopeOptions { hq, hkv, pos: Self::POS, theta: 5e5, llama3: llama3.then_some(scaling) };
        let positions = match ragged {
            true => {
                let at: Vec<i32> =
                    (0..batch).map(|i| if i == 0 { Self::POS as i32 } else { Self::CAP as i32 + 3 }).collect();
                Some((
                    crate::tensor::Indices::from_slice(c.gpu, &at)?,
                    crate::tensor::Indices::from_slice(&c.cpu, &at)?,
                ))
            }
            false => None,
        };
        Ok(RopeOuts { q, kc, vc, bias, opts, positions, batch })
    }

    /// The targets on one side: the GPU's tensors, or the CPU's.
    fn targets(&self, on_gpu: bool) -> ops::RopeTargets<'_> {
        fn side(p: &Pair, on_gpu: bool) -> &crate::tensor::Tensor {
            if on_gpu {
                &p.gpu
            } else {
                &p.cpu
            }
        }
        let side = |p| side(p, on_gpu);
        ops::RopeTargets {
            bias: self.bias.as_ref().map(side),
            q_out: side(&self.q),
            k_cache: side(&self.kc),
            v_cache: side(&self.vc),
            positions: self.positions.as_ref().map(|(g, c)| if on_gpu { g } else { c }),
            opts: self.opts,
        }
    }

    /// The part of a cache the case writes: slot 37 (of sequence 0 only in
    /// a ragged batch of two, whose second sequence is past the cache).
    fn written(&self, cache: &crate::tensor::Tensor) -> Result<crate::tensor::Tensor> {
        let slot = cache.narrow(2, Self::POS, 1)?;
        if self.positions.is_some() && self.batch > 1 {
            slot.narrow(0, 0, 1)
        } else {
            Ok(slot)
        }
    }

    /// q_out and the written slots against the CPU's; the poisoned rest must
    /// stay as it was.
    fn compare(&self, c: &mut Checker, op: &str, bound: f64) -> Result<Outcome> {
        let written =
            |p: &Pair| -> Result<Pair> { Ok(Pair { gpu: self.written(&p.gpu)?, cpu: self.written(&p.cpu)? }) };
        Ok(worst([
            c.compare(op, "", &self.q, bound)?,
            c.compare(op, "", &written(&self.kc)?, bound)?,
            c.compare(op, "", &written(&self.vc)?, bound)?,
        ]))
    }
}

/// `matmul_rope_append` on the GPU (the fused launch wherever it serves the
/// shape, asserted) against the CPU's projection then rope_append: q_out and
/// the caches' slots, poisoned caches elsewhere untouched.
fn qkv_rope_case(
    c: &mut Checker,
    dtype: DType,
    shape: (usize, usize, usize, usize),
    k: usize,
    (norm_kind, bias, llama3, ragged): (usize, bool, bool, bool),
) -> Result<Outcome> {
    let (batch, hq, hkv, d) = shape;
    let norm = norm_kind > 0;
    let width = (hq + 2 * hkv) * d;
    let w = c.input(dtype, &[width, k], 1.0 / (k as f64).sqrt())?;
    let x = c.input(dtype, &[batch, k], if norm { 3.0 } else { 1.0 })?;
    let gamma = c.input(dtype, &[k], 1.0)?;
    let outs = RopeOuts::new(c, dtype, shape, bias, llama3, ragged)?;
    let mut table = c.gpu.dispatcher().table().clone();
    table.matmul.norm_fuse_max_weight_elems = if norm_kind == 2 { 0 } else { u64::MAX };
    let gpu = c.gpu.with_table(table);
    let cpu = c.cpu.clone();
    let t = |t: &crate::tensor::Tensor| t.transpose(0, 1);
    // One backend's side of every pair (the GPU's, or the CPU's).
    let run = |on_gpu: bool| -> Result<()> {
        let side = |p: &Pair| if on_gpu { p.gpu.clone() } else { p.cpu.clone() };
        let ctx = if on_gpu { &gpu } else { &cpu };
        let gw = side(&gamma);
        let nm = norm.then_some(ops::RmsNormIn { weight: &gw, eps: 1e-5 });
        ops::matmul_rope_append(ctx, &side(&w), &t(&side(&x))?, nm, &outs.targets(on_gpu))
    };
    // The path the case means, where the GPU's kernels serve it: N <= 2 on
    // veck (f16/bf16 take the tensor-core GEMV at N = 2: composed).
    let veck = c.gpu.is_cuda() && (batch == 1 || dtype == DType::F32);
    let want = match (veck, norm_kind) {
        (false, _) => "composed",
        (true, 2) => "norm apart",
        (true, _) => "fused",
    };
    let nm = norm.then_some(ops::RmsNormIn { weight: &gamma.gpu, eps: 1e-5 });
    let path = ops::fused_gemv::rope_path_name(&gpu, &w.gpu, &t(&x.gpu)?, nm, &outs.targets(true))?;
    expect_path("matmul_rope_append", path, want)?;
    run(true)?;
    run(false)?;
    outs.compare(c, "matmul_rope_append", tolerance(dtype))
}

/// `quant_matmul_rope_append` on the GPU (one fused launch a part at N <= 2,
/// asserted) against the CPU's quant_matmul of each part then rope_append.
/// `kinds`: the parts' formats, the first for the Q and K heads, the second
/// (if any) for the V heads, as a Q4_K_M file may split them; `x_q8`: x
/// quantized beforehand (`quantize_x`, as a decode step's rmsnorm_q8 does).
fn quant_rope_case(
    c: &mut Checker,
    dtype: DType,
    shape: (usize, usize, usize, usize),
    k: usize,
    kinds: &[QuantKind],
    (x_q8, bias, llama3, ragged): (bool, bool, bool, bool),
) -> Result<Outcome> {
    let (batch, hq, hkv, d) = shape;
    let rows: Vec<usize> = match kinds.len() {
        1 => vec![(hq + 2 * hkv) * d],
        _ => vec![(hq + hkv) * d, hkv * d],
    };
    let seed = (k * 13 + batch * 7 + hq) as u64 ^ 0x9e;
    let mut gpu_parts = Vec::new();
    let mut cpu_parts = Vec::new();
    for (i, (&kind, &m)) in kinds.iter().zip(&rows).enumerate() {
        gpu_parts.push(QuantMatrix::random(c.gpu, kind, m, k, seed + i as u64)?);
        cpu_parts.push(QuantMatrix::random(&c.cpu, kind, m, k, seed + i as u64)?);
    }
    let x = c.input(dtype, &[batch, k], 1.0 / (k as f64).sqrt())?;
    let q8 = match x_q8 {
        true => {
            let q = Q8Activations::new(c.gpu, batch, k)?;
            ops::quantize_x(c.gpu, &x.gpu, &q)?;
            Some(q)
        }
        false => None,
    };
    let outs = RopeOuts::new(c, dtype, shape, bias, llama3, ragged)?;
    let (gp, cp): (Vec<&QuantMatrix>, Vec<&QuantMatrix>) = (gpu_parts.iter().collect(), cpu_parts.iter().collect());
    // Fused whatever the weights' size (the shipped bound leaves llama3-8b's out).
    let mut table = c.gpu.dispatcher().table().clone();
    table.quant.rope_fuse_max_weight_elems = u64::MAX;
    let gpu = c.gpu.with_table(table);
    let want = if c.gpu.is_cuda() && batch <= 2 { "fused" } else { "composed" };
    let path = ops::fused_gemv::quant_rope_path_name(&gpu, &gp, &x.gpu, q8.as_ref(), &outs.targets(true))?;
    expect_path("quant_matmul_rope_append", path, want)?;
    ops::quant_matmul_rope_append(&gpu, &gp, &x.gpu, q8.as_ref(), &outs.targets(true))?;
    ops::quant_matmul_rope_append(&c.cpu.clone(), &cp, &x.cpu, None, &outs.targets(false))?;
    // The dot kernel's x rounded to 8 bits (ops::quant_matmul's bound).
    let bound = tolerance(dtype).max(super::quant_cases::DOT_TOLERANCE);
    let vs_cpu = outs.compare(c, "quant_matmul_rope_append", bound)?;
    if !vs_cpu.passed() || want != "fused" {
        return Ok(vs_cpu);
    }
    // Against the GPU's own quant_matmul of each part then rope_append: the
    // same sums in the same order, the same rounding and the same
    // rope_finish in other kernels (`same_sums_error`; the H200, 2026-11-30:
    // f16 and bf16 bit for bit, f32 259 of 2560 values by an ulp or so).
    let mut table = c.gpu.dispatcher().table().clone();
    table.quant.rope_fuse_max_weight_elems = 0;
    let composed = c.gpu.with_table(table);
    let empty = |t: &crate::tensor::Tensor| crate::tensor::Tensor::empty(c.gpu, t.shape(), dtype);
    let (q2, kc2, vc2) = (empty(&outs.q.gpu)?, empty(&outs.kc.gpu)?, empty(&outs.vc.gpu)?);
    let targets = ops::RopeTargets { q_out: &q2, k_cache: &kc2, v_cache: &vc2, ..outs.targets(true) };
    ops::quant_matmul_rope_append(&composed, &gp, &x.gpu, q8.as_ref(), &targets)?;
    let (mut fused, mut apart) = (Vec::new(), Vec::new());
    for (a, b) in [
        (outs.q.gpu.clone(), q2),
        (outs.written(&outs.kc.gpu)?, outs.written(&kc2)?),
        (outs.written(&outs.vc.gpu)?, outs.written(&vc2)?),
    ] {
        fused.extend(a.to_f32_vec()?.into_iter().map(f64::from));
        apart.extend(b.to_f32_vec()?.into_iter().map(f64::from));
    }
    let error = super::same_sums_error(&fused, &apart, dtype, "quant_matmul then rope_append");
    Ok(Outcome { error, ..vs_cpu })
}

/// An error unless `op` takes the path the case means.
fn expect_path(op: &str, path: &str, want: &str) -> Result<()> {
    if path != want {
        return Err(crate::error::Error::Unsupported {
            op: "check",
            what: format!("{op} takes the {path} path; the case means the {want} one"),
        });
    }
    Ok(())
}

/// The outcome to report of several outputs' comparisons: a failing one
/// (unwritten or clobbered elements, or an error) before any passing one,
/// then the largest error.
fn worst(outs: [Outcome; 3]) -> Outcome {
    outs.into_iter()
        .max_by(|a, b| {
            let bad = |o: &Outcome| (!o.passed(), o.unwritten + o.clobbered);
            bad(a).cmp(&bad(b)).then(a.rel_l2.total_cmp(&b.rel_l2))
        })
        .expect("three outcomes")
}

fn silu_case(c: &mut Checker, dtype: DType, rows: usize, inter: usize) -> Result<Outcome> {
    let gu = c.input(dtype, &[rows, 2 * inter], 2.0)?;
    let h = c.poisoned_output(dtype, rows * inter, Layout::contiguous(&[rows, inter])?)?;
    ops::silu_mul(c.gpu, &gu.gpu, &h.gpu)?;
    ops::silu_mul(&c.cpu.clone(), &gu.cpu, &h.cpu)?;
    c.compare("silu_mul", "", &h, tolerance(dtype))
}

/// h [N, M] = silu(x W_gate^T) * (x W_up^T) in the decode layout: a = W
/// [2M, K] (rows padded by 4 elements where M is 1: a row stride off the
/// 16-byte grain), b = x^T, c = h^T. Against the CPU by the usual bound, then
/// against the GPU's own matmul and silu_mul with tolerance 0 (the op's
/// promise: the same bits).
fn glu_case(c: &mut Checker, dtype: DType, m: usize, k: usize, n: usize) -> Result<Outcome> {
    let pad = if m == 1 { 4 } else { 0 };
    let w = c.input(dtype, &[2 * m, k + pad], 1.0)?.map(|t| t.narrow(1, 0, k))?;
    let x = c.input(dtype, &[n, k], 2.0 / (k as f64).sqrt())?;
    let h = c.poisoned_output(dtype, n * m, Layout::contiguous(&[n, m])?)?;
    let t = |t: &crate::tensor::Tensor| t.transpose(0, 1);
    ops::matmul_silu_mul(c.gpu, &w.gpu, &t(&x.gpu)?, &t(&h.gpu)?)?;
    ops::matmul_silu_mul(&c.cpu.clone(), &w.cpu, &t(&x.cpu)?, &t(&h.cpu)?)?;
    let vs_cpu = c.compare("matmul_silu_mul", "", &h, tolerance(dtype))?;
    if !vs_cpu.passed() {
        return Ok(vs_cpu);
    }
    let gu = crate::tensor::Tensor::empty(c.gpu, &[n, 2 * m], dtype)?;
    let two = crate::tensor::Tensor::empty(c.gpu, &[n, m], dtype)?;
    ops::matmul(c.gpu, 1.0, &w.gpu, &t(&x.gpu)?, 0.0, &t(&gu)?)?;
    ops::silu_mul(c.gpu, &gu, &two)?;
    let (fused, composed) = (h.gpu.to_f32_vec()?, two.to_f32_vec()?);
    let differ = fused.iter().zip(&composed).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    Ok(Outcome {
        note: (differ > 0).then(|| format!("{differ} values differ from matmul then silu_mul on the GPU")),
        rel_l2: vs_cpu.rel_l2.max(differ as f64),
        ..vs_cpu
    })
}

/// h [N, M] = rmsnorm(x) W^T (or its SiLU-gated GLU with W [2M, K]) in the
/// decode layout, x of values up to 3 (the norm's scale matters). Against
/// the CPU by the usual bound, then against the GPU's own rmsnorm and matmul
/// (and silu_mul) by the same bound: the fused launch does not round the
/// normalized x to the dtype.
fn norm_gemv_case(
    c: &mut Checker,
    dtype: DType,
    m: usize,
    k: usize,
    n: usize,
    glu: bool,
    w_off: usize,
) -> Result<Outcome> {
    let op = if glu { "rmsnorm_matmul_silu_mul" } else { "rmsnorm_matmul" };
    let rows = if glu { 2 * m } else { m };
    let w = c.input(dtype, &[rows, k], 1.0 / (k as f64).sqrt())?;
    let x = c.input(dtype, &[n, k], 3.0)?;
    let gamma = c.input(dtype, &[k + w_off], 1.5)?.map(|t| t.narrow(0, w_off, k))?;
    let h = c.poisoned_output(dtype, n * m, Layout::contiguous(&[n, m])?)?;
    let t = |t: &crate::tensor::Tensor| t.transpose(0, 1);
    let eps = 1e-5;
    let run = |ctx: &Context, w: &crate::tensor::Tensor, x: &crate::tensor::Tensor, g, h: &crate::tensor::Tensor| {
        let norm = ops::RmsNormIn { weight: g, eps };
        if glu {
            ops::rmsnorm_matmul_silu_mul(ctx, w, &t(x)?, norm, &t(h)?)
        } else {
            ops::rmsnorm_matmul(ctx, w, &t(x)?, norm, &t(h)?)
        }
    };
    // The fused launches wherever they serve the shape (the shipped table
    // bounds the weights they take: matmul.norm_*fuse_max_weight_elems).
    let mut table = c.gpu.dispatcher().table().clone();
    (table.matmul.norm_fuse_max_weight_elems, table.matmul.norm_glu_fuse_max_weight_elems) = (u64::MAX, u64::MAX);
    let fused_gpu = c.gpu.with_table(table);
    // The cases mean the fused launch where its kernels serve the shape: N
    // <= 2 on veck (f16/bf16 take the tensor-core GEMV at N = 2), K a
    // multiple of 8, the weight on the 16-byte grain.
    // (On the CPU backend, which `check`'s own test runs against itself, nothing fuses.)
    let want_fused = c.gpu.is_cuda() && (n == 1 || (n == 2 && dtype == DType::F32));
    let want_fused = want_fused && k % 8 == 0 && w_off == 0;
    let norm = ops::RmsNormIn { weight: &gamma.gpu, eps };
    let fused = ops::fused_gemv::norm_is_fused(&fused_gpu, &w.gpu, &t(&x.gpu)?, norm, &t(&h.gpu)?, glu)?;
    if fused != want_fused {
        return Err(crate::error::Error::Unsupported {
            op: "check",
            what: format!(
                "{op} {m}x{k}x{n}: the fused launch {} (the case expects it {})",
                if fused { "runs" } else { "does not run" },
                if want_fused { "to" } else { "not to" }
            ),
        });
    }
    run(&fused_gpu, &w.gpu, &x.gpu, &gamma.gpu, &h.gpu)?;
    run(&c.cpu.clone(), &w.cpu, &x.cpu, &gamma.cpu, &h.cpu)?;
    let vs_cpu = c.compare(op, "", &h, tolerance(dtype))?;
    if !vs_cpu.passed() {
        return Ok(vs_cpu);
    }
    let empty = |shape: &[usize]| crate::tensor::Tensor::empty(c.gpu, shape, dtype);
    let (xn, two) = (empty(&[n, k])?, empty(&[n, m])?);
    ops::rmsnorm(c.gpu, &x.gpu, &gamma.gpu, eps, &xn)?;
    if glu {
        ops::matmul_silu_mul(c.gpu, &w.gpu, &t(&xn)?, &t(&two)?)?;
    } else {
        ops::matmul(c.gpu, 1.0, &w.gpu, &t(&xn)?, 0.0, &t(&two)?)?;
    }
    let f64s = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
    let vs_ops = super::rel_l2(&f64s(h.gpu.to_f32_vec()?), &f64s(two.to_f32_vec()?));
    Ok(Outcome {
        note: Some(format!(
            "{}; rel. L2 {vs_ops:.2e} from rmsnorm then the product on the GPU",
            if fused { "fused" } else { "composed" }
        )),
        rel_l2: vs_cpu.rel_l2.max(vs_ops),
        ..vs_cpu
    })
}

/// The fill must be bit-identical on both backends: tolerance 0.
fn fill_case(c: &mut Checker, dtype: DType) -> Result<Outcome> {
    let n = 100_003;
    let t = c.poisoned_output(dtype, n, Layout::contiguous(&[n])?)?;
    ops::fill_uniform(c.gpu, &t.gpu, 42, -0.75, 1.5)?;
    ops::fill_uniform(&c.cpu.clone(), &t.cpu, 42, -0.75, 1.5)?;
    c.compare("fill", "", &t, 0.0)
}

fn decode_case(
    c: &mut Checker,
    model: &str,
    dtype: DType,
    weights: WeightFormat,
    batch: usize,
    context: usize,
    mode: StepMode,
) -> Result<Outcome> {
    let cfg = ModelConfig::builtin(model)?;
    let seed = 11;
    let build = |ctx: &Context| DecodeModel::build_with(ctx, &cfg, dtype, weights, batch, context, seed, &Silent);
    let gpu = build(c.gpu)?;
    let cpu_ctx = c.cpu.clone();
    let cpu = build(&cpu_ctx)?;
    let n = batch * cfg.vocab;
    match mode {
        StepMode::Eager => {
            gpu.buf.logits.write_buffer(&HostData::poison(dtype, n))?;
            gpu.step(c.gpu)?;
        }
        // Recorded (and captured) before the logits are poisoned: a replay must write them again.
        StepMode::Planned => {
            let rec = c.gpu.record(|g| gpu.step(g))?;
            gpu.buf.logits.write_buffer(&HostData::poison(dtype, n))?;
            rec.replay()?;
        }
        StepMode::Graph => {
            let graph = c.gpu.record(|g| gpu.step(g))?.capture_graph()?;
            gpu.buf.logits.write_buffer(&HostData::poison(dtype, n))?;
            graph.launch("check/decode_graph", 0)?;
        }
    }
    cpu.step(&cpu_ctx)?;
    let pair = Pair { gpu: gpu.buf.logits.clone(), cpu: cpu.buf.logits.clone() };
    let tolerance = match weights {
        WeightFormat::Dense => step_tolerance(dtype),
        _ => step_tolerance(dtype).max(QUANT_STEP_TOLERANCE),
    };
    c.compare("decode", "", &pair, tolerance)
}

/// Bound on a quantized step's logits: up to 16 sequences, the dot kernel
/// rounds each projection's input to 8 bits (about 0.5% of its norm, see
/// kernels/quant_dot.cu), and the tiny model's 9 projections compound that
/// (H200, 2026-11-29: 4.3e-3 at most, batches 1 to 3); a wrong block, scale
/// or sum errs by order 1.
const QUANT_STEP_TOLERANCE: f64 = 2e-2;

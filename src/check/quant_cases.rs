//! Check cases of `quant_matmul`: every block format x dtype over shapes from
//! a decode step's projections (moderate sizes, so `check` stays fast), K not
//! a multiple of 256 for the 32-element formats, 1 to 20 tokens, alpha and
//! beta (beta = 0 over a poisoned y), and strided or unaligned x rows; each
//! for the tensor-core kernel (`.../mma`) and the dot kernel (chunks of up to
//! 8 tokens, with its own bound, [`DOT_TOLERANCE`], for x's rounding to 8
//! bits) with x rounded by its CTAs (`.../dot/rx0`) and by a launch of its
//! own (`.../dot/rx1`); the imma kernel on every shape it takes (K a
//! multiple of 256) and more of its own.

use super::{tolerance, Case, Checker, Outcome, Pair};
use crate::dtype::{DType, QuantKind};
use crate::error::Result;
use crate::ops::quant::QuantOptions;
use crate::ops::{self, QuantKernel};
use crate::tensor::{Layout, QuantMatrix};

/// How x's rows sit in their buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum XView {
    /// Contiguous [N, K].
    Dense,
    /// Rows padded by 8 elements (aligned, row stride K + 8).
    Padded,
    /// Rows starting one element in (row stride K + 3): no vector loads.
    Unaligned,
}

#[derive(Clone, Copy, Debug)]
struct QuantSpec {
    kind: QuantKind,
    dtype: DType,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    beta: f32,
    x: XView,
    kernel: QuantKernel,
    /// The imma kernel's cluster size forced through the tuning table's
    /// `quant.imma_csplit` (0: the table's own choice).
    csplit: usize,
    /// The tuning's `quant.round_x_min_elems` forced (None: the table's
    /// own): Some(0) keeps the dot kernel's own rounding of x in every CTA.
    round_x: Option<usize>,
}

impl QuantSpec {
    fn name(&self) -> String {
        let cs = if self.csplit > 0 { format!("/cs{}", self.csplit) } else { String::new() };
        let rx = self.round_x.map(|v| format!("/rx{v}")).unwrap_or_default();
        format!(
            "{}/{}x{}x{}/a{}/b{}/{:?}/{}{cs}{rx}",
            self.kind,
            self.m,
            self.k,
            self.n,
            self.alpha,
            self.beta,
            self.x,
            self.kernel.name()
        )
        .to_lowercase()
    }
}

pub fn all() -> Vec<Case> {
    let mut specs = Vec::new();
    for kind in QuantKind::ALL {
        for dtype in DType::ALL {
            let s = |m, k, n| QuantSpec {
                kind,
                dtype,
                m,
                k,
                n,
                alpha: 1.0,
                beta: 0.0,
                x: XView::Dense,
                kernel: QuantKernel::Mma,
                csplit: 0,
                round_x: None,
            };
            specs.push(s(4096, 4096, 1));
            specs.push(QuantSpec { beta: 1.0, ..s(896, 4864, 3) });
            specs.push(QuantSpec { beta: 0.5, x: XView::Padded, ..s(1000, 1280, 16) });
            specs.push(QuantSpec { x: XView::Unaligned, ..s(300, 2048, 5) });
            specs.push(QuantSpec { alpha: -0.5, beta: 1.0, x: XView::Unaligned, ..s(129, 512, 2) });
            specs.push(QuantSpec { x: XView::Padded, ..s(64, 256, 20) });
            specs.push(s(40, 768, 9));
            // The tiny model's projections and LM head at two tokens (one super-block a row for K = 256).
            specs.push(QuantSpec { beta: 1.0, ..s(384, 256, 2) });
            specs.push(s(1000, 256, 2));
            specs.push(QuantSpec { beta: 1.0, ..s(256, 512, 1) });
            specs.push(QuantSpec { beta: 1.0, ..s(128, 256, 2) });
            specs.push(QuantSpec { beta: 1.0, ..s(256, 512, 2) });
            // A long K: several iterations of the dot kernel, x of 12.5 KB a token in its shared memory.
            specs.push(QuantSpec { beta: 1.0, ..s(70, 10240, 3) });
            // K = 0: y = beta y (no kernel walks an empty row).
            specs.push(QuantSpec { beta: 0.5, ..s(64, 0, 2) });
            specs.push(s(64, 0, 1));
            if kind.block_elems() == 32 {
                // K not a multiple of 256: a last partial step, and a K shorter than one step.
                specs.push(QuantSpec { beta: 1.0, ..s(200, 896, 2) });
                specs.push(QuantSpec { x: XView::Unaligned, ..s(77, 288, 9) });
                specs.push(s(50, 96, 1));
            }
        }
        // Many CTAs (a 14336-row projection), f16 only to keep the CPU reference quick.
        specs.push(QuantSpec {
            kind,
            dtype: DType::F16,
            m: 14336,
            k: 2048,
            n: 2,
            alpha: 1.0,
            beta: 1.0,
            x: XView::Padded,
            kernel: QuantKernel::Mma,
            csplit: 0,
            round_x: None,
        });
    }
    // A down projection at batch 16 (K = 14336): the dot kernel's x of 8
    // tokens beside the ring (7 for Q8_0: launches of 6, 5, 5), 143 KB of it.
    for kind in QuantKind::ALL {
        specs.push(QuantSpec {
            kind,
            dtype: DType::F16,
            m: 64,
            k: 14336,
            n: 16,
            alpha: 1.0,
            beta: 1.0,
            x: XView::Padded,
            kernel: QuantKernel::Mma,
            csplit: 0,
            round_x: None,
        });
    }
    // The integer tensor-core kernel (every format; Q8_0 and Q4_0 where K is
    // a multiple of 256): its k-parts over a tile
    // (1 to 16, by the shape against the device's CTA slots), a part's last
    // stage, rows past a whole tile, one and two n-tiles; tokens whose x of
    // all K does not fit one CTA: on sm_90 with few rows in clusters of two
    // that split K (ops::quant::imma_csplit; K = 14336 at 16 tokens from the
    // list above, beta 1: one launch, Q6_K two slices; 57 super-blocks at 13
    // tokens, odd parts; 112 at 16, beta 0, slices of clusters; 74 at 5
    // tokens, one n-tile in clusters, the second CTA's part starting at an
    // odd super-block), with more rows (and before sm_90) in slices of K one
    // launch after another (33 super-blocks at 9 tokens: slices of 17 and
    // 16, the second from an odd super-block, beta 1); Q6_K's super-blocks
    // at every even offset within a chunk (rows of an odd count of
    // super-blocks).
    let imma_kinds = QuantKind::ALL;
    // (M, K, N, the cluster size forced by the tuning table: 0 none)
    let extra = [
        (4096, 4096, 9, 0),
        (4096, 4096, 16, 0),
        (14336, 4096, 12, 0),
        (100, 768, 16, 0),
        (17, 2304, 4, 0),
        (1000, 14336, 8, 0),
        (200, 14592, 13, 0),
        (100, 28672, 16, 0),
        (100, 18944, 5, 0),
        (8448, 8448, 9, 0),
        // Many tiles of a short row (2250 tiles, 4 super-blocks): on an H100
        // or H200 groups of two or four k-parts (by the format's group
        // cost), more groups than CTA slots, so a CTA runs two to five, as
        // a vocabulary-wide LM head runs four groups of one part.
        (36000, 1024, 9, 0),
        // The same kernel with the cluster size forced (what auto would not
        // pick here; before sm_90 every one runs without): slices one launch
        // after another for few rows (K = 14336 at 16 and 13 tokens, 112
        // super-blocks at 16); clusters of two where one launch holds x (4096
        // x 4096 at 16 tokens, K = 14336 at 8, one n-tile), of four (parts of
        // 4 super-blocks, 16 warps); clusters asked where a slice's parts
        // cannot all be filled (9 super-blocks over 4 CTAs: without).
        (64, 14336, 16, 1),
        (200, 14592, 13, 1),
        (100, 28672, 16, 1),
        (4096, 4096, 16, 2),
        (1000, 14336, 8, 2),
        (512, 4096, 9, 4),
        (17, 2304, 4, 4),
    ];
    let imma: Vec<QuantSpec> = specs
        .iter()
        .filter(|s| imma_kinds.contains(&s.kind) && s.k > 0 && s.k % 256 == 0)
        .map(|s| QuantSpec { kernel: QuantKernel::Imma, ..*s })
        .chain(imma_kinds.into_iter().flat_map(|kind| {
            extra.map(|(m, k, n, csplit)| QuantSpec {
                kind,
                dtype: DType::F16,
                m,
                k,
                n,
                alpha: 1.0,
                beta: if n % 2 == 0 { 0.0 } else { 1.0 },
                x: XView::Padded,
                kernel: QuantKernel::Imma,
                csplit,
                round_x: None,
            })
        }))
        .collect();
    let mut v: Vec<Case> = specs
        .into_iter()
        // The dot kernel twice: x rounded by every CTA itself and once by a
        // launch of its own (quant.round_x_min_elems 0 and 1: the embedded
        // table takes one or the other by the size of x).
        .flat_map(|s| {
            let dot = QuantSpec { kernel: QuantKernel::Dot, ..s };
            [s, QuantSpec { round_x: Some(0), ..dot }, QuantSpec { round_x: Some(1), ..dot }]
        })
        .chain(imma)
        .map(|s| Case {
            op: "quant_matmul",
            name: s.name(),
            dtype: s.dtype,
            run: Box::new(move |c: &mut Checker| quant_case(c, s)),
        })
        .collect();
    // A projection stacked from a Q4_K and a Q6_K matrix (Q4_K_M's QKV where
    // V is Q6_K): one launch a chunk on the GPU where the dot kernel has the
    // pair's entries (N = 1..4, 8, 16 in two; from 1 token on here), a
    // launch a matrix at N = 5.
    // (dtype, [rows of Q4_K, of Q6_K], K, N, beta, x_q8); x as it is of at
    // least the table's quant.round_x_min_elems (12288) elements: rounded once
    // for both parts (4096 x 4 tokens).
    let parts: [(DType, [usize; 2], usize, usize, f32, bool); 8] = [
        (DType::F16, [384, 128], 4096, 4, 0.0, false),
        (DType::F16, [5120, 1024], 4096, 1, 0.0, true),
        (DType::BF16, [640, 128], 2048, 4, 1.0, false),
        (DType::F32, [256, 64], 512, 16, 0.0, true),
        (DType::F16, [384, 128], 1024, 8, 1.0, true),
        (DType::F16, [256, 64], 512, 5, 0.0, true),
        (DType::BF16, [5, 3], 256, 2, 0.0, false),
        (DType::F32, [2048, 512], 2048, 3, 1.0, true),
    ];
    for (dtype, rows, k, n, beta, x_q8) in parts {
        let name = format!("q4_k+q6_k/{}+{}x{k}x{n}/b{beta}{}", rows[0], rows[1], if x_q8 { "/x_q8" } else { "" });
        v.push(Case {
            op: "quant_matmul_parts",
            name,
            dtype,
            run: Box::new(move |c: &mut Checker| parts_case(c, dtype, rows, k, n, beta, x_q8)),
        });
    }
    // Sums that nearly cancel: Q4_K sub-blocks of about zero mean (each min
    // about 7.5 times its scale, as quantizing real weights gives) against x
    // with a mean, so the scale and min terms are each tens of times y; Q6_K's
    // random quants are zero-mean already. For each kernel that rounds x.
    for kind in [QuantKind::Q4_K, QuantKind::Q6_K] {
        for kernel in [QuantKernel::Dot, QuantKernel::Imma] {
            for (m, k, n) in [(512, 4096, 16), (300, 2048, 3)] {
                v.push(Case {
                    op: "quant_matmul",
                    name: format!("{kind}/{m}x{k}x{n}/cancel/{}", kernel.name()).to_lowercase(),
                    dtype: DType::F16,
                    run: Box::new(move |c: &mut Checker| cancel_case(c, kind, kernel, m, k, n)),
                });
            }
        }
    }
    // Dequantization (the prefill path's expansion): bit-exact against the CPU.
    for kind in QuantKind::ALL {
        for dtype in [DType::F16, DType::BF16, DType::F32] {
            v.push(Case {
                op: "dequantize",
                name: format!("{kind}/600x1024").to_lowercase(),
                dtype,
                run: Box::new(move |c: &mut Checker| dequant_case(c, kind, dtype)),
            });
        }
    }
    v
}

/// 600 x 1024 random blocks into a row-padded output (stride 1030), poisoned:
/// every element must equal the CPU's exactly.
fn dequant_case(c: &mut Checker, kind: QuantKind, dtype: DType) -> Result<Outcome> {
    let (m, k) = (600, 1024);
    let wg = QuantMatrix::random(c.gpu, kind, m, k, 77)?;
    let wc = QuantMatrix::random(&c.cpu, kind, m, k, 77)?;
    let out = c.poisoned_output(dtype, m * (k + 6), Layout::strided(&[m, k], &[k + 6, 1], 0)?)?;
    ops::dequantize(c.gpu, &wg, &out.gpu)?;
    ops::dequantize(&c.cpu.clone(), &wc, &out.cpu)?;
    c.compare("dequantize", "", &out, 0.0)
}

fn quant_case(c: &mut Checker, s: QuantSpec) -> Result<Outcome> {
    let (m, k, n) = (s.m, s.k, s.n);
    let seed = (m * 31 + k * 7 + n) as u64 ^ (s.kind.ggml_type() as u64) << 40;
    let w_gpu = QuantMatrix::random(c.gpu, s.kind, m, k, seed)?;
    let w_cpu = QuantMatrix::random(&c.cpu, s.kind, m, k, seed)?;
    // Weights are at most about 1 in size: x of 1/sqrt(K) keeps each dot product O(1).
    let scale = 1.0 / (k as f64).sqrt();
    let x: Pair = match s.x {
        XView::Dense => c.input(s.dtype, &[n, k], scale)?,
        XView::Padded => c.input(s.dtype, &[n, k + 8], scale)?.map(|t| t.narrow(1, 0, k))?,
        XView::Unaligned => c.input(s.dtype, &[n, k + 3], scale)?.map(|t| t.narrow(1, 1, k))?,
    };
    // y [N, M] inside a larger poisoned buffer (row stride M + 5, offset 3):
    // beta = 0 runs over NaN, which must never be read.
    let len = 3 + n * (m + 5);
    let layout = Layout::strided(&[n, m], &[m + 5, 1], 3)?;
    let y = c.poisoned_output(s.dtype, len, layout)?;
    if s.beta != 0.0 {
        let values = c.random(s.dtype, len, 1.0);
        let mut buf = crate::tensor::HostData::poison(s.dtype, len);
        for i in y.gpu.layout().indices() {
            buf.set(i, values.get(i));
        }
        y.gpu.write_buffer(&buf)?;
        y.cpu.write_buffer(&buf)?;
    }
    // A forced cluster size or rounding of x: a context of the same device
    // with that table.
    let gpu = if s.csplit > 0 || s.round_x.is_some() {
        let mut table = c.gpu.dispatcher().table().clone();
        if s.csplit > 0 {
            table.quant.imma_csplit = s.csplit;
        }
        if let Some(v) = s.round_x {
            table.quant.round_x_min_elems = v;
        }
        c.gpu.with_table(table)
    } else {
        c.gpu.clone()
    };
    ops::quant_matmul_with(
        &gpu,
        &w_gpu,
        &x.gpu,
        &y.gpu,
        s.alpha,
        s.beta,
        &QuantOptions { kernel: Some(s.kernel), x_q8: None },
    )?;
    ops::quant_matmul(&c.cpu, &w_cpu, &x.cpu, &y.cpu, s.alpha, s.beta)?;
    // The dot and imma kernels read x rounded to 8 bits: their own bound.
    let rounds_x = matches!(s.kernel, QuantKernel::Dot | QuantKernel::Imma);
    let bound = if rounds_x { tolerance(s.dtype).max(DOT_TOLERANCE) } else { tolerance(s.dtype) };
    c.compare("quant_matmul", &s.name(), &y, bound)
}

/// `kind` blocks of about zero-mean weights (Q4_K: random blocks whose mins
/// are rewritten to about 7.5 times their scales, q being uniform in 0..15)
/// times x = (1 + N(0, 1)) / sqrt(K) on `kernel`, against the CPU: y is a
/// small difference of two large terms, so an imprecise min term (a single
/// tf32 product: ~3e-2 of y in a model) fails the x-rounding bound.
fn cancel_case(c: &mut Checker, kind: QuantKind, kernel: QuantKernel, m: usize, k: usize, n: usize) -> Result<Outcome> {
    let mut bytes = crate::spec::quant::random_blocks(kind, m * k / kind.block_elems(), 4242 + n as u64, 1.0);
    if kind == QuantKind::Q4_K {
        let f16_at = |b: &[u8], at: usize| half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32();
        for (i, b) in bytes.chunks_exact_mut(144).enumerate() {
            let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
            let sc: [u8; 8] = std::array::from_fn(|j| 16 + ((i * 8 + j) * 37 % 48) as u8);
            let mn: [u8; 8] = std::array::from_fn(|j| (7.5 * sc[j] as f32 * d / dmin).round().clamp(0.0, 63.0) as u8);
            // GGML's 12-byte packing of eight 6-bit scales and mins (spec::quant).
            for j in 0..4 {
                b[4 + j] = sc[j] | ((sc[j + 4] >> 4) << 6);
                b[8 + j] = mn[j] | ((mn[j + 4] >> 4) << 6);
                b[12 + j] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4);
            }
        }
    }
    let w_gpu = QuantMatrix::from_bytes(c.gpu, kind, m, k, &bytes)?;
    let w_cpu = QuantMatrix::from_bytes(&c.cpu, kind, m, k, &bytes)?;
    let z = c.random(DType::F32, n * k, 1.0);
    let scale = 1.0 / (k as f64).sqrt();
    let data = crate::tensor::HostData::from_f64_iter(DType::F16, (0..n * k).map(|i| scale * (1.0 + z.get(i))));
    let x = c.upload(data, &[n, k])?;
    let y = c.poisoned_output(DType::F16, n * m, Layout::contiguous(&[n, m])?)?;
    let opts = QuantOptions { kernel: Some(kernel), x_q8: None };
    ops::quant_matmul_with(c.gpu, &w_gpu, &x.gpu, &y.gpu, 1.0, 0.0, &opts)?;
    ops::quant_matmul(&c.cpu, &w_cpu, &x.cpu, &y.cpu, 1.0, 0.0)?;
    c.compare("quant_matmul", "", &y, tolerance(DType::F16).max(DOT_TOLERANCE))
}

/// `quant_matmul_parts` of a Q4_K then a Q6_K matrix against the CPU's (a
/// poisoned, row-strided y: every column of both parts written, nothing
/// else); the path (one launch or a launch a matrix) asserted; and where one
/// launch ran, against the GPU's own launch a matrix, which sums the same
/// products in the same order (`same_sums_error`).
fn parts_case(
    c: &mut Checker,
    dtype: DType,
    rows: [usize; 2],
    k: usize,
    n: usize,
    beta: f32,
    x_q8: bool,
) -> Result<Outcome> {
    let kinds = [QuantKind::Q4_K, QuantKind::Q6_K];
    let seed = (rows[0] * 5 + k * 3 + n) as u64 ^ 0x5a;
    let mut gw = Vec::new();
    let mut cw = Vec::new();
    for i in 0..2 {
        gw.push(QuantMatrix::random(c.gpu, kinds[i], rows[i], k, seed + i as u64)?);
        cw.push(QuantMatrix::random(&c.cpu, kinds[i], rows[i], k, seed + i as u64)?);
    }
    let (gp, cp): (Vec<&QuantMatrix>, Vec<&QuantMatrix>) = (gw.iter().collect(), cw.iter().collect());
    let x = c.input(dtype, &[n, k], 1.0 / (k as f64).sqrt())?;
    let q8 = match x_q8 {
        true => {
            let q = crate::tensor::Q8Activations::new(c.gpu, n, k)?;
            ops::quantize_x(c.gpu, &x.gpu, &q)?;
            Some(q)
        }
        false => None,
    };
    let m = rows[0] + rows[1];
    let len = 3 + n * (m + 5);
    let layout = Layout::strided(&[n, m], &[m + 5, 1], 3)?;
    let y = c.poisoned_output(dtype, len, layout.clone())?;
    let start = c.random(dtype, len, 1.0);
    if beta != 0.0 {
        let mut buf = crate::tensor::HostData::poison(dtype, len);
        for i in y.gpu.layout().indices() {
            buf.set(i, start.get(i));
        }
        y.gpu.write_buffer(&buf)?;
        y.cpu.write_buffer(&buf)?;
    }
    let y0 = y.gpu.storage().to_host()?; // y before, for the launch-a-matrix run
                                         // One launch at every token count the entries have (the shipped table
                                         // keeps 1 and 2 tokens on a launch a matrix: quant.pair_min_n).
    let mut table = c.gpu.dispatcher().table().clone();
    table.quant.pair_min_n = 1;
    let gpu = c.gpu.with_table(table);
    let want = c.gpu.is_cuda() && [1, 2, 3, 4, 8, 16].contains(&n);
    let opts = QuantOptions { kernel: Some(QuantKernel::Dot), x_q8: q8.as_ref() };
    let one = ops::quant::parts_in_one_launch(&gpu, &gp, n, opts.kernel, opts.x_q8.is_some())?;
    if one != want {
        return Err(crate::error::Error::Unsupported {
            op: "check",
            what: format!("quant_matmul_parts runs {n} tokens in one launch: {one}; the case means {want}"),
        });
    }
    ops::quant_matmul_parts(&gpu, &gp, &x.gpu, &y.gpu, 1.0, beta, &opts)?;
    ops::quant_matmul_parts(&c.cpu.clone(), &cp, &x.cpu, &y.cpu, 1.0, beta, &QuantOptions::default())?;
    let case = format!("{}+{}x{k}x{n}", rows[0], rows[1]);
    let vs_cpu = c.compare("quant_matmul_parts", &case, &y, tolerance(dtype).max(DOT_TOLERANCE))?;
    if !vs_cpu.passed() || !one {
        return Ok(vs_cpu);
    }
    let mut table = c.gpu.dispatcher().table().clone();
    table.quant.pair_launch = false;
    let apart = c.gpu.with_table(table);
    let y2 = crate::tensor::Tensor::from_host(c.gpu, y0, &[len])?.with_layout(layout)?;
    ops::quant_matmul_parts(&apart, &gp, &x.gpu, &y2, 1.0, beta, &opts)?;
    let (a, b) = (y.gpu.to_f64_vec()?, y2.to_f64_vec()?);
    let error = super::same_sums_error(&a, &b, dtype, "a launch a matrix");
    Ok(Outcome { error, ..vs_cpu })
}

/// Relative L2 bound of the dot kernel: x rounded to 8 bits per 32 elements
/// (scale max|x| / 127) errs by about 0.4% of x's norm for the check's
/// uniform inputs, and y by about as much; a wrong scale, quant or sum errs
/// by order 1.
pub(super) const DOT_TOLERANCE: f64 = 1.2e-2;

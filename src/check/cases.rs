//! The registered check cases, one function per op.

use super::{tolerance, Case, Checker, Outcome};
use crate::dtype::DType;
use crate::error::Result;
use crate::ops;
use crate::tensor::Layout;

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    copy_cases(&mut v);
    matmul_cases(&mut v);
    softmax_cases(&mut v);
    sdpa_cases(&mut v);
    v
}

/// How an input view is laid over its buffer.
#[derive(Clone, Copy, Debug)]
enum InputView {
    Contiguous,
    Transposed,
    Narrowed,
    Broadcast,
    Permuted4d,
}

fn copy_cases(v: &mut Vec<Case>) {
    for din in DType::ALL {
        for dout in DType::ALL {
            for view in [
                InputView::Contiguous,
                InputView::Transposed,
                InputView::Narrowed,
                InputView::Broadcast,
                InputView::Permuted4d,
            ] {
                v.push(Case {
                    op: "copy",
                    name: format!("{din}->{dout}/{view:?}"),
                    dtype: dout,
                    run: Box::new(move |c: &mut Checker| copy_case(c, din, dout, view)),
                });
            }
        }
    }
}

fn copy_case(c: &mut Checker, din: DType, dout: DType, view: InputView) -> Result<Outcome> {
    let x = match view {
        InputView::Contiguous => c.input(din, &[3, 257], 1.0)?,
        InputView::Transposed => c.input(din, &[64, 33], 1.0)?.map(|t| t.transpose(0, 1))?,
        InputView::Narrowed => c.input(din, &[4, 8, 40], 1.0)?.map(|t| t.narrow(2, 7, 23))?,
        InputView::Broadcast => c.input(din, &[1, 100], 1.0)?.map(|t| t.as_strided(&[5, 100], &[0, 1], 0))?,
        InputView::Permuted4d => c.input(din, &[2, 3, 4, 5], 1.0)?.map(|t| t.transpose(0, 3)?.transpose(1, 2))?,
    };
    let shape = x.gpu.shape().to_vec();
    // Write into a strided window of a larger buffer: rows padded by 3, offset 5.
    let inner = *shape.last().unwrap_or(&1);
    let outer: usize = shape.iter().rev().skip(1).product();
    let mut strides = vec![0; shape.len()];
    let mut acc = inner + 3;
    strides[shape.len() - 1] = 1;
    for d in (0..shape.len() - 1).rev() {
        strides[d] = acc;
        acc *= shape[d];
    }
    let layout = Layout::strided(&shape, &strides, 5)?;
    let y = c.poisoned_output(dout, 5 + outer * (inner + 3) + 2, layout)?;
    ops::copy(c.gpu, &x.gpu, &y.gpu)?;
    ops::copy(&c.cpu, &x.cpu, &y.cpu)?;
    // A copy only rounds once to dout: both sides must agree to the dtype's tolerance.
    c.compare("copy", &format!("{din}->{dout}"), &y, tolerance(dout))
}

impl super::Pair {
    /// The same view operation on both sides.
    pub(super) fn map(self, f: impl Fn(crate::tensor::Tensor) -> Result<crate::tensor::Tensor>) -> Result<Self> {
        Ok(super::Pair { gpu: f(self.gpu)?, cpu: f(self.cpu)? })
    }
}

// ---------------------------------------------------------------- matmul

use crate::dispatch::matmul::{MatmulBackend, MatmulPrefs};
use crate::ops::MatmulOptions;

/// How A [M,K] is stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AStore {
    /// Rows of K (weights), row stride padded by 8.
    KContiguous,
    /// Stored [K, M] and transposed (V in P·V).
    MContiguous,
    /// K-contiguous but starting one element in: no 16-byte loads.
    Unaligned,
}

/// How B [K,N] is stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum BStore {
    /// Activations [N, K], transposed: K-contiguous columns.
    Tokens,
    /// [K, N] row-major as given.
    RowMajor,
    /// Tokens with a column stride of 2K.
    Strided,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Batching {
    None,
    Batched(usize),
    /// A is 2-D (stride 0 over the batch).
    BroadcastA(usize),
    /// batch, group: A has batch/group matrices.
    Grouped(usize, usize),
}

#[derive(Clone, Copy, Debug)]
struct MatmulSpec {
    m: usize,
    n: usize,
    k: usize,
    dtype: DType,
    a: AStore,
    b: BStore,
    batching: Batching,
    alpha: f32,
    beta: f32,
    backend: MatmulBackend,
    /// A marked fixed (a weight: `Tensor::mark_fixed`), so the GEMV reads it
    /// before its PDL wait and lets the next launch start early.
    fixed_a: bool,
}

impl MatmulSpec {
    fn new(m: usize, n: usize, k: usize, dtype: DType) -> Self {
        MatmulSpec {
            m,
            n,
            k,
            dtype,
            a: AStore::KContiguous,
            b: BStore::Tokens,
            batching: Batching::None,
            alpha: 1.0,
            beta: 0.0,
            backend: MatmulBackend::Gemv,
            fixed_a: false,
        }
    }
    fn name(&self) -> String {
        format!(
            "{}x{}x{} {:?} {:?} {:?} a{} b{} {:?}{}",
            self.m,
            self.k,
            self.n,
            self.a,
            self.b,
            self.batching,
            self.alpha,
            self.beta,
            self.backend,
            if self.fixed_a { " fixed" } else { "" }
        )
        .to_lowercase()
        .replace(' ', "/")
    }
}

fn matmul_cases(v: &mut Vec<Case>) {
    let mut specs = Vec::new();
    // Every N x dtype x A layout, forced onto the GEMV family.
    for dtype in DType::ALL {
        for n in 1..=16 {
            for a in [AStore::KContiguous, AStore::MContiguous] {
                specs.push(MatmulSpec { a, ..MatmulSpec::new(300, n, 520, dtype) });
            }
        }
    }
    for dtype in DType::ALL {
        let base = MatmulSpec::new(96, 5, 264, dtype);
        for b in [BStore::RowMajor, BStore::Strided] {
            specs.push(MatmulSpec { b, ..base });
        }
        for batching in [Batching::Batched(3), Batching::BroadcastA(3), Batching::Grouped(8, 4)] {
            specs.push(MatmulSpec { batching, ..base });
            specs.push(MatmulSpec { batching, a: AStore::MContiguous, ..base });
        }
        // Edges: M = 1, K = 1, odd K, K not a multiple of 8, unaligned, M not a multiple of the CTA's rows.
        for (m, n, k) in [(1, 3, 264), (37, 4, 1), (45, 7, 129), (33, 16, 100), (17, 9, 4864), (130, 12, 1032)] {
            specs.push(MatmulSpec::new(m, n, k, dtype));
        }
        specs.push(MatmulSpec { a: AStore::Unaligned, ..MatmulSpec::new(70, 6, 264, dtype) });
        specs.push(MatmulSpec { a: AStore::MContiguous, ..MatmulSpec::new(40, 3, 77, dtype) });
        // veck with several row groups a CTA (veck_row_groups at 132 SMs,
        // the table's 8 KB and 792 CTAs a wave: 8, 4 and 2 in f16 and bf16
        // at N = 1; 4, 2 and 1 in f32 at N = 1 and 2), M no multiple of
        // them; beta. (f16 and bf16 at N = 2 run mma under the table.)
        for n in [1, 2] {
            for (m, k) in [(6403, 264), (3203, 1000), (1601, 2040)] {
                specs.push(MatmulSpec::new(m, n, k, dtype));
            }
            specs.push(MatmulSpec { alpha: 0.5, beta: 1.0, ..MatmulSpec::new(6403, n, 264, dtype) });
        }
        // A fixed weight (read before the PDL wait where one pass of veck's
        // loop covers a CTA's K, else after it; mma reads it after): row
        // groups, K of one pass and of several, beta, N = 1, 2 and 5.
        for (m, n, k) in [(6403, 1, 264), (1601, 2, 2040), (300, 1, 4864), (130, 5, 1032)] {
            specs.push(MatmulSpec { fixed_a: true, ..MatmulSpec::new(m, n, k, dtype) });
        }
        specs.push(MatmulSpec { fixed_a: true, alpha: 0.5, beta: 1.0, ..MatmulSpec::new(3203, 1, 1000, dtype) });
        // N = 1 on tensor cores (f16/bf16): short rows, a weight past L2 (72 MB in f16).
        specs.push(MatmulSpec::new(36000, 1, 1000, dtype));
        // Split-K over many K (few rows, long K).
        specs.push(MatmulSpec::new(64, 8, 8192, dtype));
        specs.push(MatmulSpec { a: AStore::MContiguous, ..MatmulSpec::new(64, 8, 8192, dtype) });
        // alpha / beta, including beta = 0 over a C full of NaN.
        for (alpha, beta) in [(0.5, 0.0), (1.0, 1.0), (-2.0, 0.25)] {
            specs.push(MatmulSpec { alpha, beta, ..MatmulSpec::new(200, 4, 512, dtype) });
            specs.push(MatmulSpec {
                alpha,
                beta,
                batching: Batching::Grouped(4, 2),
                ..MatmulSpec::new(64, 12, 256, dtype)
            });
        }
        // Auto dispatch and cuBLAS: small and large N.
        for backend in [MatmulBackend::Auto, MatmulBackend::Cublas] {
            for n in [1, 8, 17, 40] {
                specs.push(MatmulSpec { backend, beta: 0.5, ..MatmulSpec::new(256, n, 512, dtype) });
            }
            specs.push(MatmulSpec {
                backend,
                batching: Batching::Grouped(8, 4),
                ..MatmulSpec::new(64, 20, 128, dtype)
            });
            specs.push(MatmulSpec {
                backend,
                b: BStore::RowMajor,
                a: AStore::MContiguous,
                ..MatmulSpec::new(128, 24, 200, dtype)
            });
        }
        // GEMV beyond 16 columns: chunks.
        specs.push(MatmulSpec::new(128, 37, 256, dtype));
    }
    for spec in specs {
        v.push(Case {
            op: "matmul",
            name: spec.name(),
            dtype: spec.dtype,
            run: Box::new(move |c: &mut Checker| matmul_case(c, spec)),
        });
    }
}

fn matmul_case(c: &mut Checker, s: MatmulSpec) -> Result<Outcome> {
    let (batch, a_batch, group) = match s.batching {
        Batching::None => (1, 0, 1),
        Batching::Batched(b) => (b, b, 1),
        Batching::BroadcastA(b) => (b, 0, 1),
        Batching::Grouped(b, g) => (b, b / g, g),
    };
    let batched = s.batching != Batching::None;
    // Inputs scaled so each dot product is O(1).
    let scale = 1.0 / (s.k as f64).sqrt().sqrt();
    let a = match s.a {
        AStore::KContiguous | AStore::Unaligned => {
            let pad = 8;
            let shape: Vec<usize> = if a_batch > 0 { vec![a_batch, s.m, s.k + pad] } else { vec![s.m, s.k + pad] };
            let start = if s.a == AStore::Unaligned { 1 } else { 0 };
            c.input(s.dtype, &shape, scale)?.map(|t| t.narrow(t.rank() - 1, start, s.k))?
        }
        AStore::MContiguous => {
            let shape: Vec<usize> = if a_batch > 0 { vec![a_batch, s.k, s.m] } else { vec![s.k, s.m] };
            c.input(s.dtype, &shape, scale)?.map(|t| t.transpose(t.rank() - 2, t.rank() - 1))?
        }
    };
    let b = match s.b {
        BStore::Tokens | BStore::Strided => {
            let cols = if s.b == BStore::Strided { 2 * s.k } else { s.k };
            let shape: Vec<usize> = if batched { vec![batch, s.n, cols] } else { vec![s.n, cols] };
            c.input(s.dtype, &shape, scale)?
                .map(|t| t.narrow(t.rank() - 1, 0, s.k)?.transpose(t.rank() - 2, t.rank() - 1))?
        }
        BStore::RowMajor => {
            let shape: Vec<usize> = if batched { vec![batch, s.k, s.n] } else { vec![s.k, s.n] };
            c.input(s.dtype, &shape, scale)?
        }
    };
    // C as the decode layout [N, M] transposed, inside a larger poisoned buffer
    // (offset 3). The poison is a NaN, so beta == 0 runs over a C full of NaN
    // (which must never be read); beta != 0 gets random values in the view.
    let (m, n) = (s.m, s.n);
    let c_len = 3 + batch * m * n;
    let layout = if batched {
        Layout::strided(&[batch, m, n], &[m * n, 1, m], 3)?
    } else {
        Layout::strided(&[m, n], &[1, m], 3)?
    };
    let out = c.poisoned_output(s.dtype, c_len, layout)?;
    if s.beta != 0.0 {
        let values = c.random(s.dtype, c_len, 1.0);
        let mut buf = crate::tensor::HostData::poison(s.dtype, c_len);
        for i in out.gpu.layout().indices() {
            buf.set(i, values.get(i));
        }
        out.gpu.write_buffer(&buf)?;
        out.cpu.write_buffer(&buf)?;
    }
    if s.fixed_a {
        a.gpu.mark_fixed()?;
        a.cpu.mark_fixed()?;
    }
    let opts = MatmulOptions { group, prefs: Some(MatmulPrefs { backend: s.backend, smalln_max_n: None }) };
    ops::matmul_with(c.gpu, s.alpha, &a.gpu, &b.gpu, s.beta, &out.gpu, &opts)?;
    ops::matmul_with(&c.cpu, s.alpha, &a.cpu, &b.cpu, s.beta, &out.cpu, &opts)?;
    c.compare("matmul", &s.name(), &out, tolerance(s.dtype))
}

// ---------------------------------------------------------------- softmax

use crate::dispatch::softmax::{SoftmaxBackend, SoftmaxPrefs};
use crate::ops::{Causal, SoftmaxOptions};

/// Values planted in a random row to exercise an edge.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plant {
    None,
    NegInf,
    /// Every entry of row 1 is -inf (through the mask when there is one).
    AllExcluded,
    Nan,
    PosInf,
    /// f16-sized values near 65504 (scaled by 4).
    Huge,
}

#[derive(Clone, Copy, Debug)]
struct SoftmaxSpec {
    rows: usize,
    cols: usize,
    dtype: DType,
    scale: f32,
    causal: Option<Causal>,
    mask: bool,
    in_place: bool,
    /// x is a column window of a wider buffer (no 16-byte rows).
    strided: bool,
    plant: Plant,
    backend: SoftmaxBackend,
    /// Recorded, captured as a CUDA graph and replayed twice (GPU only: the
    /// CPU run of every case skips names ending in `/graph`).
    graph: bool,
}

impl SoftmaxSpec {
    fn new(rows: usize, cols: usize, dtype: DType, backend: SoftmaxBackend) -> Self {
        SoftmaxSpec {
            rows,
            cols,
            dtype,
            scale: 1.0,
            causal: None,
            mask: false,
            in_place: false,
            strided: false,
            plant: Plant::None,
            backend,
            graph: false,
        }
    }
    fn name(&self) -> String {
        let mut s = format!("{}x{}/{:?}", self.rows, self.cols, self.backend).to_lowercase();
        if self.scale != 1.0 {
            s += &format!("/scale{}", self.scale);
        }
        if let Some(c) = self.causal {
            s += &format!("/causal_q{}_o{}", c.q_len, c.offset);
        }
        for (on, tag) in [(self.mask, "mask"), (self.in_place, "inplace"), (self.strided, "strided")] {
            if on {
                s += "/";
                s += tag;
            }
        }
        if self.plant != Plant::None {
            s += &format!("/{:?}", self.plant).to_lowercase();
        }
        if self.graph {
            s += "/graph";
        }
        s
    }
}

fn softmax_cases(v: &mut Vec<Case>) {
    let mut specs = Vec::new();
    for dtype in DType::ALL {
        for backend in [SoftmaxBackend::Vec, SoftmaxBackend::Block, SoftmaxBackend::Auto] {
            let s = |rows, cols| SoftmaxSpec::new(rows, cols, dtype, backend);
            for (rows, cols) in
                [(1, 1), (3, 7), (64, 128), (17, 1000), (8, 1024), (5, 1025), (4, 4096), (3, 32768), (2, 65537)]
            {
                specs.push(s(rows, cols));
            }
            specs.push(SoftmaxSpec { scale: 0.7, ..s(24, 304) });
            specs.push(SoftmaxSpec { causal: Some(Causal { q_len: 4, offset: 300 }), ..s(24, 304) });
            // Offset 0: the first query of each period sees exactly one key.
            specs.push(SoftmaxSpec { causal: Some(Causal { q_len: 4, offset: 0 }), ..s(24, 2048) });
            specs.push(SoftmaxSpec { mask: true, ..s(24, 304) });
            specs.push(SoftmaxSpec {
                causal: Some(Causal { q_len: 6, offset: 1000 }),
                mask: true,
                scale: 0.125,
                ..s(12, 1024)
            });
            specs.push(SoftmaxSpec { in_place: true, ..s(16, 512) });
            specs.push(SoftmaxSpec { in_place: true, causal: Some(Causal { q_len: 2, offset: 3000 }), ..s(4, 4096) });
            specs.push(SoftmaxSpec { strided: true, ..s(9, 333) });
            // Long rows (a cluster of CTAs per row on sm_90): causal and mask
            // windows that end inside a CTA's share, unaligned rows.
            specs.push(SoftmaxSpec { causal: Some(Causal { q_len: 2, offset: 15000 }), mask: true, ..s(4, 20000) });
            specs.push(SoftmaxSpec { strided: true, ..s(3, 17001) });
            specs.push(SoftmaxSpec { plant: Plant::Nan, ..s(4, 24000) });
            for plant in [Plant::NegInf, Plant::AllExcluded, Plant::Nan, Plant::PosInf] {
                specs.push(SoftmaxSpec { plant, ..s(4, 200) });
            }
            specs.push(SoftmaxSpec { plant: Plant::AllExcluded, mask: true, ..s(4, 2048) });
            if dtype == DType::F16 {
                specs.push(SoftmaxSpec { plant: Plant::Huge, scale: 4.0, ..s(4, 512) });
            }
        }
    }
    // Few wide rows cut into chunks (split), forced and under auto: the
    // issue's shapes, every option, a column count that is no multiple of
    // any chunk (nor of 8, so no 16-byte rows), causal windows and planted
    // edges that end inside a chunk, a row with nothing visible.
    for dtype in DType::ALL {
        for backend in [SoftmaxBackend::Split, SoftmaxBackend::Auto] {
            let s = |rows, cols| SoftmaxSpec::new(rows, cols, dtype, backend);
            specs.push(s(1, 128256));
            specs.push(s(16, 151936));
            specs.push(s(4, 100003));
            specs.push(SoftmaxSpec { scale: 0.37, ..s(2, 65536) });
            specs.push(SoftmaxSpec { causal: Some(Causal { q_len: 4, offset: 40000 }), scale: 0.125, ..s(8, 65536) });
            specs.push(SoftmaxSpec { mask: true, ..s(4, 40000) });
            specs.push(SoftmaxSpec { causal: Some(Causal { q_len: 2, offset: 30001 }), mask: true, ..s(4, 50000) });
            specs.push(SoftmaxSpec { strided: true, ..s(3, 70001) });
            specs.push(SoftmaxSpec { in_place: true, ..s(2, 131072) });
            specs.push(SoftmaxSpec { plant: Plant::Nan, ..s(4, 50000) });
            specs.push(SoftmaxSpec { plant: Plant::PosInf, ..s(4, 50000) });
            specs.push(SoftmaxSpec { plant: Plant::NegInf, ..s(4, 50000) });
            specs.push(SoftmaxSpec { plant: Plant::AllExcluded, ..s(4, 50000) });
            specs.push(SoftmaxSpec { plant: Plant::AllExcluded, mask: true, ..s(4, 40000) });
        }
        // Forced on shapes auto gives other variants: one element, short rows, many rows.
        let s = |rows, cols| SoftmaxSpec::new(rows, cols, dtype, SoftmaxBackend::Split);
        for (rows, cols) in [(1, 1), (3, 7), (64, 1000), (300, 4100)] {
            specs.push(s(rows, cols));
        }
        specs.push(SoftmaxSpec { causal: Some(Causal { q_len: 4, offset: 0 }), ..s(24, 2048) });
        // Inside a CUDA graph: the workspace pointer is baked into both launches.
        specs.push(SoftmaxSpec { graph: true, mask: true, ..s(16, 151936) });
        if dtype == DType::F16 {
            specs.push(SoftmaxSpec { plant: Plant::Huge, scale: 4.0, ..s(4, 40000) });
        }
    }
    for spec in specs {
        v.push(Case {
            op: "softmax",
            name: spec.name(),
            dtype: spec.dtype,
            run: Box::new(move |c: &mut Checker| softmax_case(c, spec)),
        });
    }
}

fn softmax_case(c: &mut Checker, s: SoftmaxSpec) -> Result<Outcome> {
    let (rows, cols) = (s.rows, s.cols);
    let width = if s.strided { cols + 5 } else { cols };
    let mut data = c.random(s.dtype, rows * width, 2.0);
    let at = |r: usize, j: usize| r * width + j;
    match s.plant {
        Plant::None => {}
        Plant::NegInf => (0..cols).step_by(3).for_each(|j| data.set(at(1, j), f64::NEG_INFINITY)),
        Plant::AllExcluded if !s.mask => (0..cols).for_each(|j| data.set(at(1, j), f64::NEG_INFINITY)),
        Plant::AllExcluded => {}
        Plant::Nan => data.set(at(2, cols / 2), f64::NAN),
        Plant::PosInf => data.set(at(3, cols - 1), f64::INFINITY),
        Plant::Huge => (0..rows * width).for_each(|i| data.set(i, 65504.0 - (i % 97) as f64 * 8.0)),
    }
    let x = c.upload(data, &[rows, width])?.map(|t| t.narrow(1, 0, cols))?;
    let q_len = s.causal.map_or(if s.mask { 4.min(rows) } else { 1 }, |q| q.q_len);
    let mask = if s.mask {
        let mut m = c.random(s.dtype, q_len * cols, 1.0);
        if s.plant == Plant::AllExcluded {
            (0..cols).for_each(|j| m.set(cols + j, f64::NEG_INFINITY)); // mask row 1
        }
        Some(c.upload(m, &[q_len, cols])?)
    } else {
        None
    };
    let y = if s.in_place {
        // In place: the output is (a contiguous copy of) x itself.
        c.upload(x.gpu.to_host_data()?, &[rows, cols])?
    } else {
        c.poisoned_output(s.dtype, rows * cols + 4, Layout::strided(&[rows, cols], &[cols, 1], 4)?)?
    };
    let prefs = Some(SoftmaxPrefs { backend: s.backend });
    let gpu_opts = SoftmaxOptions { scale: s.scale, causal: s.causal, mask: mask.as_ref().map(|m| &m.gpu), prefs };
    let cpu_opts = SoftmaxOptions { mask: mask.as_ref().map(|m| &m.cpu), ..gpu_opts };
    let (xg, xc) = if s.in_place { (&y.gpu, &y.cpu) } else { (&x.gpu, &x.cpu) };
    if s.graph && !s.in_place {
        // Recorded (nothing runs), captured, replayed twice: the same output.
        let graph = c.gpu.record(|g| ops::softmax(g, xg, &y.gpu, &gpu_opts))?.capture_graph()?;
        graph.launch("check/softmax_graph", 0)?;
        graph.launch("check/softmax_graph", 0)?;
    } else {
        ops::softmax(c.gpu, xg, &y.gpu, &gpu_opts)?;
    }
    ops::softmax(&c.cpu, xc, &y.cpu, &cpu_opts)?;
    c.compare("softmax", &s.name(), &y, tolerance(s.dtype))
}

// ---------------------------------------------------------------- sdpa

use crate::dispatch::sdpa::{SdpaBackend, SdpaPrefs};
use crate::ops::SdpaOptions;

/// How K and V lie in memory.
#[derive(Clone, Copy, Debug, PartialEq)]
enum KvLayout {
    Contiguous,
    /// A cache of larger capacity, the first Lk positions in use.
    Capacity,
    /// A [B, capacity, Hkv, D] cache seen as [B, Hkv, Lk, D] (no foldable batch stride).
    SeqMajor,
    /// Rows that do not start on 16 bytes (D of a D + 1 wide buffer).
    Unaligned,
    /// K and V contiguous, the query rows unaligned (D of a D + 1 wide
    /// buffer): the tensor-core kernel loads them element by element.
    QueryUnaligned,
}

#[derive(Clone, Copy, Debug)]
struct SdpaSpec {
    b: usize,
    hq: usize,
    hkv: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dtype: DType,
    scale: Option<f32>,
    causal: bool,
    offset: Option<i64>,
    kv: KvLayout,
    /// Composed or Fused against the CPU; Auto here means fused against composed, both on the GPU.
    backend: SdpaBackend,
    /// SdpaOptions::fresh_keys: the fused kernel loads the other keys before
    /// waiting for the previous launch (same results).
    fresh: Option<usize>,
}

impl SdpaSpec {
    fn name(&self) -> String {
        let mut s = format!("b{}_hq{}_hkv{}_lq{}_lk{}_d{}", self.b, self.hq, self.hkv, self.lq, self.lk, self.d);
        if let Some(sc) = self.scale {
            s += &format!("/scale{sc}");
        }
        if self.causal {
            s += &match self.offset {
                Some(o) => format!("/causal_o{o}"),
                None => "/causal".into(),
            };
        }
        if self.kv != KvLayout::Contiguous {
            s += &format!("/{:?}", self.kv).to_lowercase();
        }
        if let Some(n) = self.fresh {
            s += &format!("/fresh{n}");
        }
        s + match self.backend {
            SdpaBackend::Auto => "/fused_vs_composed",
            SdpaBackend::Composed => "/composed",
            SdpaBackend::Fused => "/fused",
        }
    }
}

fn sdpa_cases(v: &mut Vec<Case>) {
    let mut specs = Vec::new();
    for dtype in DType::ALL {
        for backend in [SdpaBackend::Fused, SdpaBackend::Composed] {
            let s = |b, hq, hkv, lq, lk, d| SdpaSpec {
                b,
                hq,
                hkv,
                lq,
                lk,
                d,
                dtype,
                scale: None,
                causal: false,
                offset: None,
                kv: KvLayout::Contiguous,
                backend,
                fresh: None,
            };
            specs.push(s(1, 4, 4, 1, 1, 64));
            specs.push(s(1, 4, 4, 16, 1, 128));
            specs.push(s(1, 8, 2, 1, 300, 128));
            specs.push(s(1, 8, 8, 16, 257, 80));
            specs.push(s(2, 8, 1, 16, 513, 128)); // 128 rows per KV head: two row groups
            specs.push(s(1, 7, 1, 4, 100, 96)); // group 7
            specs.push(s(1, 4, 1, 16, 1000, 256));
            specs.push(s(2, 32, 8, 4, 2048, 128)); // split over the keys
            specs.push(s(1, 32, 32, 1, 4100, 64));
            specs.push(SdpaSpec { scale: Some(0.3), ..s(1, 8, 2, 4, 700, 64) });
            specs.push(SdpaSpec { causal: true, ..s(1, 8, 2, 16, 40, 64) });
            specs.push(SdpaSpec { causal: true, offset: Some(0), ..s(1, 8, 2, 16, 40, 128) });
            specs.push(SdpaSpec { causal: true, offset: Some(1000), ..s(1, 16, 4, 16, 3000, 128) });
            specs.push(SdpaSpec { kv: KvLayout::Capacity, ..s(2, 8, 2, 4, 600, 128) });
            specs.push(SdpaSpec { kv: KvLayout::SeqMajor, causal: true, ..s(2, 8, 2, 4, 600, 128) });
            specs.push(SdpaSpec { kv: KvLayout::Unaligned, ..s(1, 8, 2, 4, 300, 64) });
            specs.push(SdpaSpec { kv: KvLayout::QueryUnaligned, ..s(1, 8, 2, 4, 300, 64) });
            if backend == SdpaBackend::Fused {
                // Negative offsets: the first queries (or all) see no key: zeros.
                specs.push(SdpaSpec { causal: true, offset: Some(-5), ..s(1, 8, 2, 16, 40, 64) });
                specs.push(SdpaSpec { causal: true, offset: Some(-16), ..s(1, 4, 4, 16, 40, 64) });
                // Keys loaded before the wait: a decode step's (one fresh key, one
                // split and sixteen), a prefill chunk's, none stable (more fresh
                // keys than keys), and a layout the tensor-core kernel does not take.
                specs.push(SdpaSpec { fresh: Some(1), ..s(1, 8, 2, 1, 300, 128) });
                specs.push(SdpaSpec { fresh: Some(1), ..s(1, 32, 8, 1, 4096, 128) });
                specs.push(SdpaSpec { fresh: Some(4), ..s(2, 32, 8, 4, 2048, 128) });
                specs.push(SdpaSpec {
                    causal: true,
                    offset: Some(1000),
                    fresh: Some(16),
                    ..s(1, 16, 4, 16, 3000, 128)
                });
                specs.push(SdpaSpec { fresh: Some(5000), ..s(1, 8, 2, 4, 700, 64) });
                specs.push(SdpaSpec { kv: KvLayout::Unaligned, fresh: Some(1), ..s(1, 8, 2, 4, 300, 64) });
                // The swapped tensor-core kernel (mmat: 8 query rows a KV head
                // or fewer): every head size, a partial last tile, causal rows
                // of two positions (one seeing no key), a row stride other
                // than D, unaligned query rows, and a ragged split count.
                specs.push(s(1, 14, 2, 1, 1000, 80)); // group 7
                specs.push(SdpaSpec { causal: true, offset: Some(500), ..s(1, 8, 2, 2, 600, 96) });
                specs.push(s(1, 4, 2, 1, 777, 256));
                specs.push(SdpaSpec { causal: true, offset: Some(-1), ..s(1, 4, 1, 2, 40, 64) });
                specs.push(SdpaSpec { kv: KvLayout::SeqMajor, ..s(2, 8, 2, 1, 600, 128) });
                specs.push(SdpaSpec { kv: KvLayout::QueryUnaligned, ..s(1, 8, 2, 1, 300, 64) });
                specs.push(SdpaSpec { fresh: Some(1), ..s(3, 12, 2, 1, 5000, 64) });
                // Few KV heads on a long cache: several clusters of splits a KV
                // head where the table allows (a qwen2.5-0.5b step at 8192
                // keys; a last cluster not full; causal rows of two
                // positions; a qwen2.5-7b step; the most clusters).
                specs.push(SdpaSpec { fresh: Some(1), ..s(1, 14, 2, 1, 8192, 64) });
                specs.push(SdpaSpec { fresh: Some(1), ..s(1, 14, 2, 1, 8193, 64) });
                specs.push(SdpaSpec { causal: true, offset: Some(8192), ..s(1, 4, 1, 2, 8194, 128) });
                specs.push(SdpaSpec { fresh: Some(1), ..s(1, 28, 4, 1, 8192, 128) });
                specs.push(s(1, 8, 1, 1, 32768, 96));
                // A GQA group of 5 to 8 rows at D = 128 in one cluster: mmat
                // on eight warps (a qwen2.5-7b step; a partial last tile).
                specs.push(SdpaSpec { fresh: Some(1), ..s(1, 28, 4, 1, 4096, 128) });
                specs.push(s(1, 12, 2, 1, 3000, 128));
                // ... and on short caches, splits of one 64-key tile in a 128-key stage.
                specs.push(SdpaSpec { fresh: Some(1), ..s(1, 28, 4, 1, 576, 128) });
                specs.push(s(1, 12, 2, 1, 1000, 128));
                // ... and on batches whose eight-warp plan needs at most 8
                // splits (mmat8_fills): one split (llama3-8b at batch 16), a
                // few in a cluster (qwen2.5-7b's group at batch 9).
                specs.push(SdpaSpec { fresh: Some(1), ..s(16, 32, 8, 1, 2048, 128) });
                specs.push(s(9, 28, 4, 1, 3000, 128));
            }
        }
        let s = |b, hq, hkv, lq, lk, d| SdpaSpec {
            b,
            hq,
            hkv,
            lq,
            lk,
            d,
            dtype,
            scale: None,
            causal: false,
            offset: None,
            kv: KvLayout::Contiguous,
            backend: SdpaBackend::Auto,
            fresh: None,
        };
        specs.push(s(1, 32, 8, 16, 2048, 128));
        specs.push(SdpaSpec { causal: true, offset: Some(100), ..s(1, 28, 4, 16, 1500, 64) });
    }
    for spec in specs {
        v.push(Case {
            op: "sdpa",
            name: spec.name(),
            dtype: spec.dtype,
            run: Box::new(move |c: &mut Checker| sdpa_case(c, spec)),
        });
    }
}

fn sdpa_case(c: &mut Checker, s: SdpaSpec) -> Result<Outcome> {
    let (b, hkv, lk, d) = (s.b, s.hkv, s.lk, s.d);
    let q = match s.kv {
        KvLayout::QueryUnaligned => c.input(s.dtype, &[b, s.hq, s.lq, d + 1], 1.0)?.map(|t| t.narrow(3, 1, d))?,
        _ => c.input(s.dtype, &[b, s.hq, s.lq, d], 1.0)?,
    };
    let cap = lk + 37;
    let kv = |c: &mut Checker| -> Result<super::Pair> {
        match s.kv {
            KvLayout::Contiguous | KvLayout::QueryUnaligned => c.input(s.dtype, &[b, hkv, lk, d], 1.0),
            KvLayout::Capacity => c.input(s.dtype, &[b, hkv, cap, d], 1.0)?.map(|t| t.narrow(2, 0, lk)),
            KvLayout::SeqMajor => {
                c.input(s.dtype, &[b, cap, hkv, d], 1.0)?.map(|t| t.narrow(1, 0, lk)?.transpose(1, 2))
            }
            KvLayout::Unaligned => c.input(s.dtype, &[b, hkv, lk, d + 1], 1.0)?.map(|t| t.narrow(3, 1, d)),
        }
    };
    let (k, v) = (kv(c)?, kv(c)?);
    let n = b * s.hq * s.lq * d;
    let layout = Layout::strided(&[b, s.hq, s.lq, d], &[s.hq * s.lq * d, s.lq * d, d, 1], 4)?;
    let out = c.poisoned_output(s.dtype, n + 4, layout.clone())?;
    let opts = |backend| SdpaOptions {
        scale: s.scale,
        causal: s.causal,
        offset: s.offset,
        prefs: Some(SdpaPrefs { backend, ..Default::default() }),
        fresh_keys: s.fresh,
    };
    match s.backend {
        SdpaBackend::Auto => {
            // The two GPU paths against each other: the composed result stands in as the reference.
            let composed = c.poisoned_output(s.dtype, n + 4, layout)?;
            ops::sdpa(c.gpu, &q.gpu, &k.gpu, &v.gpu, &out.gpu, &opts(SdpaBackend::Fused))?;
            ops::sdpa(c.gpu, &q.gpu, &k.gpu, &v.gpu, &composed.gpu, &opts(SdpaBackend::Composed))?;
            let both = super::Pair { gpu: out.gpu, cpu: composed.gpu };
            let tol = if s.dtype == DType::BF16 { 2.0 * tolerance(s.dtype) } else { tolerance(s.dtype) };
            c.compare("sdpa", &s.name(), &both, tol)
        }
        backend => {
            ops::sdpa(c.gpu, &q.gpu, &k.gpu, &v.gpu, &out.gpu, &opts(backend))?;
            ops::sdpa(&c.cpu, &q.cpu, &k.cpu, &v.cpu, &out.cpu, &opts(SdpaBackend::Auto))?;
            // The composed path stores the scores, then the probabilities, in
            // the input dtype (matmul and softmax take one dtype): two extra
            // roundings, which in bf16 (8-bit mantissa) reach 1.03e-2 (H200,
            // 2026-11-26). It gets twice the bf16 bound; the fused path keeps
            // both in f32 and is held to the plain bound.
            let tol = if backend == SdpaBackend::Composed && s.dtype == DType::BF16 {
                2.0 * tolerance(s.dtype)
            } else {
                tolerance(s.dtype)
            };
            c.compare("sdpa", &s.name(), &out, tol)
        }
    }
}

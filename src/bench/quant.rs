//! `bench quant-matmul`: `ops::quant_matmul` (weights kept in a GGML block
//! format) in the decode layout for each format, shape and N, with L2
//! defeated by rotating weight copies (unless `hot`); GB/s count the blocks, x and y, against
//! the read roofline; the peer is the dense GEMV of the same shape in the
//! activations' dtype (auto dispatch), timed in the same run. Each kernel
//! family asked for (`mma`, `dot`, `auto`) is timed on every point.

use crate::context::Context;
use crate::dtype::{DType, QuantKind};
use crate::error::{Error, Result};
use crate::ops::quant::QuantOptions;
use crate::ops::{plan_matmul, quant_matmul_with, MatmulOptions, QuantKernel};
use crate::roofline::Roofline;
use crate::runtime::timing::{time_on_stream, Stats};
use crate::tensor::{Q8Activations, QuantMatrix, Tensor};

use super::{random_tensor, BenchRow};

/// What `bench quant-matmul` measures.
#[derive(Debug, Clone)]
pub struct QuantBenchConfig {
    /// Weight shapes (M, K); K must be a multiple of each format's block.
    pub shapes: Vec<(usize, usize)>,
    /// Token counts N.
    pub ns: Vec<usize>,
    /// Weight formats.
    pub formats: Vec<QuantKind>,
    /// Kernel families, each timed on every point.
    pub kernels: Vec<QuantKernel>,
    /// The activations' dtype (x and y).
    pub dtype: DType,
    /// Untimed runs before each measurement.
    pub warmup: usize,
    /// Timed runs per measurement (the median is kept).
    pub runs: usize,
    /// Also time the dense GEMV of the same shape.
    pub peer: bool,
    /// Also time each point back to back in a CUDA graph (a `_graph` row:
    /// the graph's time over its launches).
    pub graph: bool,
    /// Give the kernels x already rounded to 8 bits (`ops::quantize_x`,
    /// once a point, untimed), as a decode step does (rows suffixed `_xq8`).
    pub x_q8: bool,
    /// Every launch reads the same weights (no rotating copies), so weights
    /// that fit in L2 stay there from one launch to the next, as llama.cpp's
    /// `test-backend-ops perf` times its MUL_MAT cases (rows suffixed `_hot`).
    pub hot: bool,
    /// The imma kernel timed under each of these group costs (the tuning's
    /// `quant.imma_group_cost`, the same for every format and n-tile count;
    /// rows suffixed `_gc<cost>`), for `tune`; empty: the table's.
    pub group_costs: Vec<f64>,
}

impl Default for QuantBenchConfig {
    fn default() -> Self {
        QuantBenchConfig {
            shapes: vec![(4096, 4096), (14336, 4096), (4096, 14336), (128256, 4096)],
            ns: vec![1, 2, 4, 8, 16],
            formats: QuantKind::ALL.to_vec(),
            kernels: vec![QuantKernel::Mma, QuantKernel::Dot],
            dtype: DType::F16,
            warmup: 5,
            runs: 50,
            peer: true,
            graph: false,
            x_q8: false,
            hot: false,
            group_costs: Vec::new(),
        }
    }
}

impl QuantBenchConfig {
    /// Measurements this config makes.
    pub fn points(&self) -> usize {
        let timings: usize = self.kernels.iter().map(|&k| self.contexts_for(k)).sum();
        self.formats.len() * self.shapes.len() * self.ns.len() * timings * if self.graph { 2 } else { 1 }
    }

    /// The timings of `kernel` a point: one under each group cost for the imma kernel, else one.
    fn contexts_for(&self, kernel: QuantKernel) -> usize {
        match self.under_group_costs(kernel) {
            true => self.group_costs.len(),
            false => 1,
        }
    }

    /// Whether `kernel` is timed under each of the group costs asked for.
    fn under_group_costs(&self, kernel: QuantKernel) -> bool {
        kernel == QuantKernel::Imma && !self.group_costs.is_empty()
    }
}

/// Times every (format, shape, N) of `cfg`; calls `on_row` with each row as it is measured.
pub fn run(
    ctx: &Context,
    cfg: &QuantBenchConfig,
    read: &Roofline,
    mut on_row: impl FnMut(&BenchRow),
) -> Result<Vec<BenchRow>> {
    let be = ctx.cuda().ok_or_else(|| Error::CudaUnavailable("bench quant-matmul needs a CUDA device".into()))?;
    // A context under a table with each group cost asked for (every format, both n-tile counts).
    let mut cost_ctxs = Vec::new();
    for &g in &cfg.group_costs {
        if !crate::tuning::QuantTuning::IMMA_GROUP_COST_RANGE.contains(&g) {
            return Err(Error::invalid("bench quant-matmul", "group_costs", "super-blocks from 0 to 64", g));
        }
        let mut t = ctx.dispatcher().table().clone();
        t.quant.imma_group_cost = QuantKind::ALL.iter().map(|k| (k.name().to_ascii_lowercase(), [g, g])).collect();
        cost_ctxs.push((format!("_gc{g}"), ctx.with_table(t)));
    }
    let l2 = be.caps().l2_bytes;
    let dtype = cfg.dtype;
    let e = dtype.size_in_bytes();
    let n_max = cfg.ns.iter().copied().max().unwrap_or(1);
    let mut rows = Vec::new();
    for &(m, k) in &cfg.shapes {
        let tokens = random_tensor(ctx, &[n_max, k], dtype, 99, 0.1)?;
        let out = Tensor::empty(ctx, &[n_max, m], dtype)?;
        // The dense peer's time per N, measured once per shape.
        let mut dense = vec![None; cfg.ns.len()];
        if cfg.peer {
            let copies = if cfg.hot { 1 } else { super::rotation_copies(l2, m * k * e) };
            let weights: Vec<Tensor> =
                (0..copies).map(|i| random_tensor(ctx, &[m, k], dtype, 17 + i as u64, 0.1)).collect::<Result<_>>()?;
            for (slot, &n) in dense.iter_mut().zip(&cfg.ns) {
                let b = tokens.narrow(0, 0, n)?.transpose(0, 1)?;
                let c = out.narrow(0, 0, n)?.transpose(0, 1)?;
                let plan = plan_matmul(ctx, &weights[0], &b, &c, &MatmulOptions::default())?;
                let stats = time_on_stream(be, cfg.warmup, cfg.runs, |i| {
                    plan.launch(ctx, 1.0, &weights[i % copies], &b, 0.0, &c)
                })?;
                *slot = Some(stats.median_us);
            }
        }
        for &kind in &cfg.formats {
            let bytes_w = QuantMatrix::byte_len("bench", kind, m, k)?;
            let copies = if cfg.hot { 1 } else { super::rotation_copies(l2, bytes_w) };
            let weights: Vec<QuantMatrix> =
                (0..copies).map(|i| QuantMatrix::random(ctx, kind, m, k, 17 + i as u64)).collect::<Result<_>>()?;
            for (&n, peer) in cfg.ns.iter().zip(&dense) {
                let x = tokens.narrow(0, 0, n)?;
                let y = out.narrow(0, 0, n)?;
                let x_q8 = match cfg.x_q8 && k % 32 == 0 {
                    true => {
                        let q = Q8Activations::new(ctx, n, k)?;
                        crate::ops::quantize_x(ctx, &x, &q)?;
                        Some(q)
                    }
                    false => None,
                };
                for &kernel in &cfg.kernels {
                    // The imma kernel under each group cost asked for, else once under the table's.
                    let under: Vec<(&Context, &str)> = match cfg.under_group_costs(kernel) {
                        true => cost_ctxs.iter().map(|(s, c)| (c, s.as_str())).collect(),
                        false => vec![(ctx, "")],
                    };
                    for (ctx, gc) in under {
                        let opts = QuantOptions { kernel: Some(kernel), x_q8: x_q8.as_ref() };
                        // Launch i reads weight copy i (copies rotate past L2).
                        let launch = |ctx: &Context, i: usize| {
                            quant_matmul_with(ctx, &weights[i % copies], &x, &y, 1.0, 0.0, &opts)
                        };
                        let stats = time_on_stream(be, cfg.warmup, cfg.runs, |i| launch(ctx, i))?;
                        let fmt = kind.name().to_ascii_lowercase();
                        // The family that ran (auto resolved), the format and the tokens.
                        // ... and whether x was rounded by a launch of its own inside the timed call.
                        let (ran, by_launch) =
                            crate::ops::quant::plan_x(ctx, be, kind, &x, n, k, Some(kernel), x_q8.is_some())?;
                        let bytes = (bytes_w + n * k * e + n * m * e) as u64;
                        let measured = |suffix: &str, stats: &Stats| {
                            // x given rounded, or rounded once by a launch of its own (timed).
                            let xq = if x_q8.is_some() {
                                "_xq8"
                            } else if by_launch {
                                "_rx"
                            } else {
                                ""
                            };
                            let hot = if cfg.hot { "_hot" } else { "" };
                            let label = format!("quant_matmul/{}_{fmt}_n{n}{xq}{hot}{gc}{suffix}", ran.name());
                            let shape = format!("m={m} k={k} n={n}");
                            BenchRow::measured(ctx, "quant_matmul", label, dtype, shape, stats, bytes, read.gbps)
                        };
                        let mut row = measured("", &stats)?;
                        row.peer_us = *peer;
                        on_row(&row);
                        rows.push(row);
                        if cfg.graph {
                            // Enough launches that every weight copy is read twice,
                            // at least 8; the graph's median over them.
                            let launches = (2 * copies).max(8);
                            let rec = ctx.record(|ctx| (0..launches).try_for_each(|i| launch(ctx, i)))?;
                            let g = rec.capture_graph()?;
                            let whole = time_on_stream(be, 2, cfg.runs, |_| g.launch("bench/graph", 0))?;
                            let row = measured("_graph", &whole.per_launch(launches))?;
                            on_row(&row);
                            rows.push(row);
                        }
                    }
                }
            }
        }
    }
    Ok(rows)
}

//! `bench softmax`: every variant (vec, block, split) on each shape, plain,
//! causal and masked, against the copy roofline of the same run; auto's
//! choice marked.

use crate::context::Context;
use crate::dispatch::softmax::{SoftmaxBackend, SoftmaxPrefs};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::softmax::{geometry, launch, plan_for, plan_for_table, Causal, SoftmaxOptions};
use crate::roofline::Roofline;
use crate::runtime::timing::time_on_stream;
use crate::tensor::Tensor;

use super::{random_tensor, BenchRow};

/// Which softmax is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every column of every row.
    Plain,
    /// q_len = min(rows, 16), offset cols - q_len (the last query sees every key).
    Causal,
    /// An additive [min(rows, 16), cols] mask.
    Masked,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "plain" => Ok(Mode::Plain),
            "causal" => Ok(Mode::Causal),
            "masked" => Ok(Mode::Masked),
            _ => Err(Error::invalid("bench", "--modes", "plain, causal or masked", s)),
        }
    }
}

/// What `bench softmax` measures.
#[derive(Debug, Clone)]
pub struct SoftmaxBenchConfig {
    /// Row counts.
    pub rows: Vec<usize>,
    /// Row lengths.
    pub cols: Vec<usize>,
    /// Element types.
    pub dtypes: Vec<DType>,
    /// Plain, causal and/or masked.
    pub modes: Vec<Mode>,
    /// The families timed on each shape (`Auto` is not one: auto's choice is
    /// marked among them).
    pub backends: Vec<SoftmaxBackend>,
    /// Untimed runs before each measurement.
    pub warmup: usize,
    /// Timed runs per measurement (the median is kept).
    pub runs: usize,
}

impl SoftmaxBenchConfig {
    /// Rows [`run`] writes: one per dtype, shape, mode and variant (vec, block, split).
    pub fn points(&self) -> usize {
        self.dtypes.len() * self.rows.len() * self.cols.len() * self.modes.len() * self.backends.len()
    }

    /// Few wide rows (vocabulary-wide softmax, issue 15), where a row per CTA
    /// leaves most SMs idle: the block and split families.
    pub fn wide() -> Self {
        SoftmaxBenchConfig {
            rows: vec![1, 4, 16],
            cols: vec![32768, 131072, 262144],
            backends: vec![SoftmaxBackend::Block, SoftmaxBackend::Split],
            ..Default::default()
        }
    }
}

impl Default for SoftmaxBenchConfig {
    fn default() -> Self {
        SoftmaxBenchConfig {
            rows: vec![32, 128, 512, 16384],
            cols: vec![128, 256, 512, 1024, 2048, 4096, 8192, 32768],
            dtypes: vec![DType::F16, DType::F32],
            modes: vec![Mode::Plain, Mode::Causal, Mode::Masked],
            backends: vec![SoftmaxBackend::Vec, SoftmaxBackend::Block, SoftmaxBackend::Split],
            warmup: 5,
            runs: 50,
        }
    }
}

/// Rotated copies of a random [rows, cols] input (together beyond L2), an
/// output, and the bytes of one input.
fn inputs(ctx: &Context, l2: u64, dtype: DType, rows: usize, cols: usize) -> Result<(Vec<Tensor>, Tensor, usize)> {
    let bytes_x = rows * cols * dtype.size_in_bytes();
    let copies = super::rotation_copies(l2, bytes_x);
    let xs = (0..copies).map(|i| random_tensor(ctx, &[rows, cols], dtype, 7 + i as u64, 8.0)).collect::<Result<_>>()?;
    Ok((xs, Tensor::empty(ctx, &[rows, cols], dtype)?, bytes_x))
}

/// Rows: one per (shape, mode, dtype, variant); `variant` ends in " (auto)" on auto's choice.
pub fn run(
    ctx: &Context,
    cfg: &SoftmaxBenchConfig,
    copy: &Roofline,
    mut on_row: impl FnMut(&BenchRow),
) -> Result<Vec<BenchRow>> {
    let be = ctx.cuda().ok_or_else(|| Error::CudaUnavailable("bench softmax needs a CUDA device".into()))?;
    let l2 = be.caps().l2_bytes;
    let mut out = Vec::new();
    for &dtype in &cfg.dtypes {
        for &rows in &cfg.rows {
            for &cols in &cfg.cols {
                let (xs, y, bytes_x) = inputs(ctx, l2, dtype, rows, cols)?;
                let copies = xs.len();
                let q_len = rows.min(16);
                let mask = random_tensor(ctx, &[q_len, cols], dtype, 3, 8.0)?;
                for &mode in &cfg.modes {
                    let base = SoftmaxOptions {
                        scale: 0.125,
                        causal: (mode == Mode::Causal).then(|| Causal { q_len, offset: cols.saturating_sub(q_len) }),
                        mask: (mode == Mode::Masked).then_some(&mask),
                        prefs: None,
                    };
                    let g = geometry(ctx.device(), &xs[0], &y, &base)?;
                    let auto = plan_for(ctx, &g, &xs[0], &y, &base, &SoftmaxPrefs::default());
                    let mask_bytes = if mode == Mode::Masked { q_len * cols * dtype.size_in_bytes() } else { 0 };
                    let bytes = (2 * bytes_x + mask_bytes) as u64;
                    for &backend in &cfg.backends {
                        let plan = plan_for(ctx, &g, &xs[0], &y, &base, &SoftmaxPrefs { backend });
                        let stats = time_on_stream(be, cfg.warmup, cfg.runs, |i| {
                            launch(be, &plan, &g, &xs[i % copies], &y, &base)
                        })?;
                        let chosen = if plan == auto { " (auto)" } else { "" };
                        let shape = format!("rows={rows} cols={cols} mode={mode:?}").to_lowercase();
                        let row = BenchRow::measured(
                            ctx,
                            "softmax",
                            format!("{}{chosen}", plan.label(dtype)),
                            dtype,
                            shape,
                            &stats,
                            bytes,
                            copy.gbps,
                        )?;
                        on_row(&row);
                        out.push(row);
                    }
                }
            }
        }
    }
    Ok(out)
}
/// The block variant (a CTA per row) at each thread count in `threads`, plain
/// softmax, for the tuner's threads-per-CTA decision. Shapes carry
/// `threads=N`; the cluster variant is off so every row is a one-CTA block.
pub fn run_block_threads(
    ctx: &Context,
    cfg: &SoftmaxBenchConfig,
    threads: &[u32],
    copy: &Roofline,
    mut on_row: impl FnMut(&BenchRow),
) -> Result<Vec<BenchRow>> {
    let be = ctx.cuda().ok_or_else(|| Error::CudaUnavailable("tune softmax needs a CUDA device".into()))?;
    let l2 = be.caps().l2_bytes;
    let table = ctx.dispatcher().table();
    let mut out = Vec::new();
    for &dtype in &cfg.dtypes {
        for &rows in &cfg.rows {
            for &cols in &cfg.cols {
                let (xs, y, bytes_x) = inputs(ctx, l2, dtype, rows, cols)?;
                let copies = xs.len();
                let opts = SoftmaxOptions { scale: 0.125, causal: None, mask: None, prefs: None };
                let g = geometry(ctx.device(), &xs[0], &y, &opts)?;
                for &th in threads {
                    let t = crate::tuning::SoftmaxTuning {
                        block_threads: vec![(usize::MAX, th)],
                        cluster_min_cols: 0,
                        ..table.softmax.clone()
                    };
                    let plan = plan_for_table(
                        ctx,
                        &g,
                        &xs[0],
                        &y,
                        &opts,
                        &SoftmaxPrefs { backend: SoftmaxBackend::Block },
                        &t,
                    );
                    let stats = time_on_stream(be, cfg.warmup, cfg.runs, |i| {
                        launch(be, &plan, &g, &xs[i % copies], &y, &opts)
                    })?;
                    let shape = format!("rows={rows} cols={cols} mode=plain threads={th}");
                    let row = BenchRow::measured(
                        ctx,
                        "softmax",
                        plan.label(dtype),
                        dtype,
                        shape,
                        &stats,
                        (2 * bytes_x) as u64,
                        copy.gbps,
                    )?;
                    on_row(&row);
                    out.push(row);
                }
            }
        }
    }
    Ok(out)
}

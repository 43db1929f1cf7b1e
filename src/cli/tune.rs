//! `tune`: sweep every variant over the shape grid on this GPU (or read the
//! rows of earlier sweeps), find the crossovers, write a tuning table, print
//! what changed and the gain each change brings, and plot each decision.

use std::path::PathBuf;

use crate::bench::{
    self,
    matmul::{MatmulBenchConfig, TableValue},
    quant::QuantBenchConfig,
    sdpa::SdpaBenchConfig,
    softmax::SoftmaxBenchConfig,
    BenchRow,
};
use crate::ops::QuantKernel;
use crate::tune::{decisions, plot};
use crate::tuning::{self, TuningTable};
use crate::{fsio, progress, roofline, Context, DType, Error, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// Decisions to tune: matmul (GEMV/cuBLAS by N, the bytes of A a veck
    /// CTA reads at N <= 2, the widest K on tensor cores at N = 1), softmax
    /// (vec/block by columns, threads per CTA), sdpa (fused/composed by rows
    /// per KV head),
    /// quant (the quantized GEMV's integer-dot/tensor-core kernel by N, and
    /// with x already rounded the integer-dot/integer tensor-core kernel by
    /// N, per block format, and the latter's cost of a group's end per
    /// format and n-tile count).
    #[arg(long, value_delimiter = ',', default_values_t = OPS.iter().map(|o| o.to_string()))]
    ops: Vec<String>,
    /// Where the tuning table goes (default: the user config file the
    /// dispatchers read, `<config>/decode-kernels/tuning-<arch>.json`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A folder for one SVG per decision.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Also write the measured rows as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Analyse these CSVs (from `bench ... --csv` or `tune --csv`) instead of measuring; no GPU needed.
    #[arg(long)]
    from_csv: Vec<PathBuf>,
    /// The table the changes are reported against (default: the one in force
    /// on the GPU; with --from-csv and no GPU, the embedded sm_90 table).
    #[arg(long)]
    base: Option<PathBuf>,
    /// A new value replaces the one in force only when it saves more than this
    /// fraction on average over the measured points whose variant it changes.
    #[arg(long, default_value_t = 0.03)]
    margin: f64,
    /// Timed runs per measurement (median kept).
    #[arg(long, default_value_t = 20, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
    runs: usize,
    /// A smaller grid (fewer shapes) for a quick look.
    #[arg(long)]
    quick: bool,
    /// cuda or cuda:N (default: DK_DEVICE, else auto).
    #[arg(long)]
    device: Option<String>,
}

const OPS: &[&str] = &["matmul", "softmax", "sdpa", "quant"];

pub fn run(a: TuneArgs) -> Result<i32> {
    if let Some(bad) = a.ops.iter().find(|o| !OPS.contains(&o.as_str())) {
        return Err(Error::invalid("tune", "--ops", format!("a list of {}", OPS.join(", ")), bad));
    }
    if !(a.margin.is_finite() && (0.0..1.0).contains(&a.margin)) {
        return Err(Error::invalid("tune", "--margin", "a fraction in [0, 1)", a.margin));
    }
    if a.runs == 0 {
        return Err(Error::invalid("tune", "--runs", "at least 1", 0));
    }
    let offline = !a.from_csv.is_empty();
    let ctx = if offline { None } else { Some(super::open_context(a.device.as_deref())?) };
    let be = match &ctx {
        Some(c) => Some(
            c.cuda()
                .ok_or_else(|| Error::CudaUnavailable("tune measures on a GPU; without one, pass --from-csv".into()))?
                .clone(),
        ),
        None => None,
    };
    // The table in force, and where the result goes.
    let (base, base_source) = match (&a.base, &be) {
        (Some(p), _) => {
            let text = std::fs::read_to_string(p).map_err(Error::io("reading the base tuning table", p))?;
            (TuningTable::parse(&text, &p.display().to_string())?, p.display().to_string())
        }
        (None, Some(_)) => {
            let d = ctx.as_ref().map(|c| c.dispatcher()).ok_or_else(|| Error::CudaUnavailable("no context".into()))?;
            (d.table().clone(), d.table_source().to_string())
        }
        (None, None) => (TuningTable::sm90(), "embedded sm_90 defaults".to_string()),
    };
    let arch = be.as_ref().map(|b| b.caps().arch()).unwrap_or_else(|| "sm_90".into());
    let out = match &a.out {
        Some(p) => p.clone(),
        None => tuning::user_file(&arch)
            .ok_or_else(|| Error::invalid("tune", "--out", "a path (no user config folder is known here)", "none"))?,
    };
    // Every output is checked before the sweep (minutes on a GPU); the
    // tuning table's folder is made now, as it would be at the end.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::io("creating the tuning folder", dir))?;
    }
    fsio::check_output("tune", "--out", &out)?;
    if let Some(p) = &a.csv {
        fsio::check_output("tune", "--csv", p)?;
    }
    if let Some(dir) = &a.plots {
        std::fs::create_dir_all(dir).map_err(Error::io("creating the plot folder", dir))?;
    }

    let rows = match (&ctx, &be) {
        (Some(ctx), Some(be)) => measure(ctx, be, &a)?,
        _ => {
            let mut rows = Vec::new();
            for p in &a.from_csv {
                rows.extend(bench::read_csv(p)?);
            }
            rows
        }
    };
    // A row's op is the decision's, but for quant (rows of `quant_matmul`).
    let decision_of = |op: &str| if op == "quant_matmul" { "quant".to_string() } else { op.to_string() };
    let rows: Vec<BenchRow> = rows.into_iter().filter(|r| a.ops.contains(&decision_of(&r.op))).collect();
    if let Some(p) = &a.csv {
        bench::write_csv(p, &rows)?;
    }

    let (mut table, decisions) = decisions::analyse(&rows, &base, a.margin);
    if decisions.is_empty() {
        return Err(Error::invalid(
            "tune",
            "rows",
            "measurements of at least one decision (both variants at some size)",
            format!("{} rows", rows.len()),
        ));
    }
    let card = rows.first().map(|r| r.card.clone()).unwrap_or_default();
    table.device = format!(
        "tuned by `decode-kernels tune` on {card}, {} (commit {}), from {} rows",
        bench::today(),
        bench::COMMIT,
        rows.len()
    );
    println!("tune: {} rows on {card}; against {base_source}; margin {:.0}%", rows.len(), a.margin * 100.0);
    print!("{}", decisions::summary_table(&decisions));
    println!(
        "(gain: time saved on the measured points by the new value; worst auto/best: the slowest the chosen variant \
         gets against the fastest at any point; >3% off best: points where it is more than 3% slower)"
    );
    let changed = decisions.iter().filter(|d| d.changed()).count();
    fsio::write_atomic(&out, (table.to_json() + "\n").as_bytes())?;
    println!("{changed} of {} decisions changed; table written to {}", decisions.len(), out.display());
    if let Some(dir) = &a.plots {
        for d in &decisions {
            let p = plot::draw(d, dir)?;
            println!("plot: {}", p.display());
        }
    }
    Ok(0)
}

/// Runs the sweeps the chosen decisions need, with a progress bar on stderr.
fn measure(ctx: &Context, be: &std::sync::Arc<crate::runtime::CudaBackend>, a: &TuneArgs) -> Result<Vec<BenchRow>> {
    let want = |op: &str| a.ops.iter().any(|o| o == op);
    let mm = MatmulBenchConfig {
        shapes: if a.quick {
            vec![(896, 4864), (4096, 4096), (14336, 4096)]
        } else {
            bench::matmul::DEFAULT_SHAPES.to_vec()
        },
        runs: a.runs,
        peer: true,
        ..Default::default()
    };
    // N = 1-2 (f16 at N = 1, f32 at both) under each bound on the bytes of A
    // a veck CTA reads, for matmul.veck_cta_bytes, and f16 at N = 1 under
    // each widest K for tensor cores, for matmul.mma_n1_max_k: narrow-K
    // projections and LM heads (K 896 and 2048) and 8 KB rows.
    let mv = MatmulBenchConfig {
        shapes: if a.quick {
            vec![(9728, 896), (151936, 896), (16384, 2048), (128256, 2048)]
        } else {
            vec![(1152, 896), (9728, 896), (151936, 896), (3072, 2048), (16384, 2048), (128256, 2048), (28672, 4096)]
        },
        ns: vec![1, 2],
        dtypes: vec![DType::F16, DType::F32],
        runs: a.runs,
        peer: false,
        under: [0, 4096, 8192, 16384, 32768]
            .map(TableValue::VeckCtaBytes)
            .into_iter()
            .chain([0, 1024, 2048, 4096].map(TableValue::MmaN1MaxK))
            .collect(),
        ..Default::default()
    };
    let sm = SoftmaxBenchConfig {
        rows: if a.quick { vec![32, 16384] } else { vec![32, 128, 512, 16384] },
        modes: vec![bench::softmax::Mode::Plain],
        runs: a.runs,
        ..Default::default()
    };
    // Few wide rows (1-16 x 32k-256k columns): block against split, for split_max_ctas.
    let wide =
        SoftmaxBenchConfig { modes: vec![bench::softmax::Mode::Plain], runs: a.runs, ..SoftmaxBenchConfig::wide() };
    let threads = [128u32, 256, 512, 1024];
    let sd = SdpaBenchConfig { dtype: DType::F16, runs: a.runs, ..Default::default() };
    // Both quantized kernels on every point (f16 activations, no dense peer).
    let qm = QuantBenchConfig {
        shapes: if a.quick { vec![(4096, 4096), (14336, 4096)] } else { QuantBenchConfig::default().shapes },
        ns: if a.quick { vec![1, 2, 4, 8, 16] } else { vec![1, 2, 3, 4, 5, 6, 8, 12, 16] },
        kernels: vec![QuantKernel::Dot, QuantKernel::Mma],
        runs: a.runs,
        peer: false,
        ..Default::default()
    };
    // With x already rounded (a decode step's projections): the dot kernel
    // against the imma kernel, for quant.imma_min_n.
    let qi = QuantBenchConfig {
        ns: if a.quick { vec![4, 6, 8, 12, 16] } else { vec![4, 5, 6, 8, 9, 12, 13, 16] },
        kernels: vec![QuantKernel::Dot, QuantKernel::Imma],
        x_q8: true,
        ..qm.clone()
    };
    // With x already rounded, the imma kernel under each candidate cost of a
    // group's end, for quant.imma_group_cost (the shapes of a llama3-8b
    // step and its LM head, one and two n-tiles).
    let qg = QuantBenchConfig {
        shapes: if a.quick {
            vec![(4096, 4096), (28672, 4096), (128256, 4096)]
        } else {
            vec![(1024, 4096), (4096, 4096), (6144, 4096), (28672, 4096), (4096, 14336), (128256, 4096)]
        },
        ns: if a.quick { vec![8, 16] } else { vec![8, 12, 16] },
        kernels: vec![QuantKernel::Imma],
        x_q8: true,
        group_costs: vec![0.0, 0.125, 0.25, 0.5, 1.0, 2.0],
        ..qm.clone()
    };
    let total = if want("matmul") { mm.points() + mv.points() } else { 0 }
        + if want("softmax") {
            sm.points() + wide.points() + sm.dtypes.len() * sm.rows.len() * sm.cols.len() * threads.len()
        } else {
            0
        }
        + if want("sdpa") { sd.points() } else { 0 }
        + if want("quant") { qm.points() + qi.points() + qg.points() } else { 0 };
    let pb = progress::bar("tune", total as u64);
    let tick = |r: &BenchRow| {
        // A GEMV row forced where auto chose cuBLAS, or under another
        // tuning value, belongs to the same measurement.
        if bench::matmul::counts_as_point(r) {
            pb.set_message(format!("tune {} {} {}", r.op, r.dtype, r.shape));
            pb.inc(1);
        }
    };
    let mut rows = Vec::new();
    let read = roofline::read_roofline(be, 20)?;
    let copy = roofline::copy_roofline(be, 20)?;
    if want("matmul") {
        rows.extend(bench::matmul::run(ctx, &mm, &read, tick)?);
        rows.extend(bench::matmul::run(ctx, &mv, &read, tick)?);
    }
    if want("softmax") {
        rows.extend(bench::softmax::run(ctx, &sm, &copy, tick)?);
        rows.extend(bench::softmax::run(ctx, &wide, &copy, tick)?);
        rows.extend(bench::softmax::run_block_threads(ctx, &sm, &threads, &copy, tick)?);
    }
    if want("sdpa") {
        rows.extend(bench::sdpa::run(ctx, &sd, &read, tick)?);
    }
    if want("quant") {
        rows.extend(bench::quant::run(ctx, &qm, &read, tick)?);
        rows.extend(bench::quant::run(ctx, &qi, &read, tick)?);
        rows.extend(bench::quant::run(ctx, &qg, &read, tick)?);
    }
    pb.finish_and_clear();
    Ok(rows)
}

use std::path::PathBuf;

use crate::bench::BenchRow;
use crate::bench::{
    self,
    matmul::{MatmulBenchConfig, TableValue},
    quant::QuantBenchConfig,
    sdpa::SdpaBenchConfig,
    softmax::{Mode, SoftmaxBenchConfig},
};
use crate::dispatch::softmax::SoftmaxBackend;
use crate::dtype::QuantKind;
use crate::{progress, roofline, DType, Error, Result};
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    op: BenchOp,
}

#[derive(Subcommand, Debug)]
enum BenchOp {
    /// Small-N GEMV against cuBLAS in the same run (decode layout: weights [M,K], tokens [N,K]).
    Matmul {
        /// MxK list (default: 128x1024,896x4864,4096x4096,14336x4096,4096x14336,128256x4096).
        #[arg(long)]
        shapes: Option<String>,
        /// N values (default 1..16).
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        n: Option<Vec<usize>>,
        /// Weight dtypes (default f16,bf16,f32). GGML block formats (q8_0,
        /// q4_0, q4_k, q6_k) time `quant_matmul` with auto dispatch on f16
        /// activations, beside the dense f16 GEMV (as `bench quant-matmul`).
        #[arg(long, value_delimiter = ',')]
        dtype: Option<Vec<WeightType>>,
        /// Timed runs per measurement (median reported).
        #[arg(long, default_value_t = 50, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        runs: usize,
        /// Skip timing cuBLAS (and, for block formats, the dense GEMV).
        #[arg(long)]
        no_peer: bool,
        /// Also time each point that runs on veck at N <= 2 under each of
        /// these bounds on the bytes of A a CTA reads (the tuning's
        /// `matmul.veck_cta_bytes`, 0: one row group a CTA; rows marked
        /// `(veck_cta_bytes=B)`), as `tune` does.
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        veck_cta_bytes: Option<Vec<usize>>,
        /// Also time each f16/bf16 point at N = 1 on a GEMV under each of
        /// these widest K for tensor cores at N = 1 (the tuning's
        /// `matmul.mma_n1_max_k`, where the weight exceeds L2; 0: never; rows
        /// marked `(mma_n1_max_k=K)`), as `tune` does.
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        mma_n1_max_k: Option<Vec<usize>>,
        /// Write the rows as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// GEMV on weights kept in a GGML block format (issue 17), against the read
    /// roofline, beside the dense GEMV of the same shape (decode layout).
    QuantMatmul {
        /// MxK list; K a multiple of 256 for Q4_K/Q6_K, of 32 for Q8_0/Q4_0
        /// (default: 4096x4096,14336x4096,4096x14336,128256x4096).
        #[arg(long)]
        shapes: Option<String>,
        /// N values (default 1,2,4,8,16).
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        n: Option<Vec<usize>>,
        /// Weight formats (default q8_0,q4_0,q4_k,q6_k).
        #[arg(long, value_delimiter = ',')]
        formats: Option<Vec<QuantKind>>,
        /// Kernel families to time, each on every point (default mma,dot).
        #[arg(long, value_delimiter = ',')]
        kernel: Option<Vec<crate::ops::QuantKernel>>,
        /// The activations' dtype (x and y).
        #[arg(long, default_value = "f16")]
        dtype: DType,
        /// Timed runs per measurement (median reported).
        #[arg(long, default_value_t = 50, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        runs: usize,
        /// Skip timing the dense GEMV.
        #[arg(long)]
        no_peer: bool,
        /// Also time each point back to back inside a CUDA graph (rows
        /// suffixed `_graph`: a launch's share of the graph's time, where the
        /// next launch overlaps this one's tail as in a decode step's graph).
        #[arg(long)]
        graph: bool,
        /// Give the kernels x already rounded to 8 bits (made once a point by
        /// `quantize_x`, untimed), as a decode step's projections get it; the
        /// dot kernel then copies it instead of rounding x in every CTA, and
        /// auto may take the imma kernel (quant.imma_min_n). Without it, x
        /// as it is: rows suffixed `_rx` had it rounded by a launch of its
        /// own inside the timed call (quant.round_x_min_elems, or a forced
        /// imma).
        #[arg(long)]
        x_q8: bool,
        /// Read the same weights in every launch instead of copies rotated
        /// past L2 (rows suffixed `_hot`): weights that fit in L2 stay there,
        /// as llama.cpp's `test-backend-ops perf` times its MUL_MAT cases.
        #[arg(long)]
        hot: bool,
        /// Time the imma kernel under each of these costs of a group's end
        /// (the tuning's `quant.imma_group_cost`, for every format and
        /// n-tile count; rows suffixed `_gc<cost>`), as `tune` does.
        #[arg(long, value_delimiter = ',', value_parser = super::args::group_cost, allow_negative_numbers = true)]
        group_costs: Option<Vec<f64>>,
        /// Write the rows as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Decode attention, fused and composed, against the read roofline.
    /// Any list given replaces that axis of the default grid (batch 1, Hq 32,
    /// Hkv 32,8, Lq 1,4,16, Lk 512,2048,8192,32768, D 128, plus D 64,256 at
    /// Lk 8192).
    Sdpa {
        /// Sequences a launch, each with its own cache of Lk keys (default 1).
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        batch: Option<Vec<usize>>,
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        hq: Option<Vec<usize>>,
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        hkv: Option<Vec<usize>>,
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        lq: Option<Vec<usize>>,
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        lk: Option<Vec<usize>>,
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        d: Option<Vec<usize>>,
        #[arg(long, default_value = "f16")]
        dtype: DType,
        /// Causal with the default offset (each query sees the keys up to its position).
        #[arg(long)]
        causal: bool,
        #[arg(long, default_value_t = 50, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        runs: usize,
        /// Also time the fused path back to back inside a CUDA graph, loading
        /// keys before each launch's wait as a decode step does (rows suffixed
        /// `_graph`: a launch's share of the graph's time).
        #[arg(long)]
        graph: bool,
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Softmax variants (vec, block, split) plain, causal and masked, against the copy roofline.
    Softmax {
        /// Row counts (default 32,512,16384).
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        rows: Option<Vec<usize>>,
        /// Column counts (default 128,256,...,8192,32768).
        #[arg(long, value_delimiter = ',', value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        cols: Option<Vec<usize>>,
        /// dtypes (default f16,f32).
        #[arg(long, value_delimiter = ',')]
        dtype: Option<Vec<DType>>,
        /// plain, causal, masked (default all three).
        #[arg(long, value_delimiter = ',')]
        modes: Option<Vec<Mode>>,
        /// Variant families timed on each shape: vec, block, split (default all three).
        #[arg(long, value_delimiter = ',', value_parser = variant_family)]
        variants: Option<Vec<SoftmaxBackend>>,
        #[arg(long, default_value_t = 50, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        runs: usize,
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

/// A softmax variant family as `--variants` names it.
fn variant_family(s: &str) -> std::result::Result<SoftmaxBackend, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "vec" => Ok(SoftmaxBackend::Vec),
        "block" => Ok(SoftmaxBackend::Block),
        "split" => Ok(SoftmaxBackend::Split),
        _ => Err(format!("expected vec, block or split, got {s:?}")),
    }
}

/// Every value of a list argument must be positive.
fn positive(arg: &str, v: &[usize]) -> Result<()> {
    if v.contains(&0) {
        return Err(Error::InvalidArgument {
            op: "bench",
            arg: arg.into(),
            expected: "positive values".into(),
            got: format!("{v:?}"),
        });
    }
    Ok(())
}

/// The CUDA backend; opened after the arguments are checked, so a bad argument
/// is reported as such on any machine.
fn cuda_backend() -> Result<(crate::Context, std::sync::Arc<crate::runtime::CudaBackend>)> {
    let ctx = super::open_context(None)?;
    let be = ctx.cuda().ok_or_else(|| Error::CudaUnavailable("benchmarks need a CUDA device".into()))?.clone();
    Ok((ctx, be))
}

/// A weight type `bench matmul` takes: a dense dtype or a GGML block format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeightType {
    Dense(DType),
    Blocks(QuantKind),
}

impl std::str::FromStr for WeightType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        s.parse::<DType>()
            .map(WeightType::Dense)
            .or_else(|_| s.parse::<QuantKind>().map(WeightType::Blocks))
            .map_err(|_| format!("unknown dtype {s:?}; expected one of f16, bf16, f32, q8_0, q4_0, q4_k, q6_k"))
    }
}

/// Checks every shape's K is whole blocks of every format, naming `--shapes`.
fn check_block_shapes(formats: &[QuantKind], shapes: &[(usize, usize)]) -> Result<()> {
    for &kind in formats {
        for &(m, k) in shapes {
            crate::tensor::QuantMatrix::byte_len("bench", kind, m, k).map_err(|_| {
                Error::invalid(
                    "bench",
                    "--shapes",
                    format!("K a multiple of {kind}'s block of {}", kind.block_elems()),
                    format!("{m}x{k}"),
                )
            })?;
        }
    }
    Ok(())
}

/// Prints a bench's table and writes its CSV when asked.
fn report(rows: &[BenchRow], table: fn(&[BenchRow]) -> String, csv: Option<PathBuf>) -> Result<i32> {
    print!("{}", table(rows));
    if let Some(p) = csv {
        bench::write_csv(&p, rows)?;
    }
    Ok(0)
}

/// A GEMV bench's `--shapes` (MxK list) and `--n` (positive) over its defaults.
fn gemv_grid(
    shapes: Option<String>,
    n: Option<Vec<usize>>,
    cfg_shapes: &mut Vec<(usize, usize)>,
    cfg_ns: &mut Vec<usize>,
) -> Result<()> {
    if let Some(s) = shapes {
        *cfg_shapes = bench::matmul::parse_shapes(&s)?;
    }
    if let Some(n) = n {
        positive("--n", &n)?;
        *cfg_ns = n;
    }
    Ok(())
}

pub fn run(a: BenchArgs) -> Result<i32> {
    let (BenchOp::Sdpa { csv, .. }
    | BenchOp::Softmax { csv, .. }
    | BenchOp::Matmul { csv, .. }
    | BenchOp::QuantMatmul { csv, .. }) = &a.op;
    if let Some(p) = csv {
        crate::fsio::check_output("bench", "--csv", p)?;
    }
    match a.op {
        BenchOp::Sdpa { batch, hq, hkv, lq, lk, d, dtype, causal, runs, graph, csv } => {
            let mut cfg = SdpaBenchConfig { dtype, causal, runs: runs.max(1), graph, ..Default::default() };
            let lists =
                [("--batch", &batch), ("--hq", &hq), ("--hkv", &hkv), ("--lq", &lq), ("--lk", &lk), ("--d", &d)];
            for (name, l) in lists {
                if let Some(l) = l {
                    positive(name, l)?;
                }
            }
            if lists.iter().any(|(_, l)| l.is_some()) {
                let or = |l: &Option<Vec<usize>>, def: &[usize]| l.clone().unwrap_or_else(|| def.to_vec());
                cfg.shapes = bench::sdpa::grid(
                    &or(&batch, &[1]),
                    &or(&hq, &[32]),
                    &or(&hkv, &[32, 8]),
                    &or(&lq, &[1, 4, 16]),
                    &or(&lk, &[512, 2048, 8192, 32768]),
                    &or(&d, &[128]),
                );
            }
            let (ctx, be) = cuda_backend()?;
            let read = roofline::read_roofline(&be, 30)?;
            println!(
                "{} | {} | read roofline {:.0} GB/s (this run) | {dtype}{}",
                be.caps().name,
                bench::today(),
                read.gbps,
                if causal { " causal" } else { "" }
            );
            let pb = progress::bar("bench sdpa", cfg.points() as u64);
            let rows = bench::sdpa::run(&ctx, &cfg, &read, |r| {
                pb.set_message(format!("bench sdpa {}", r.shape));
                pb.inc(1);
            })?;
            pb.finish_and_clear();
            report(&rows, bench::sdpa_table, csv)
        }
        BenchOp::Softmax { rows, cols, dtype, modes, variants, runs, csv } => {
            let mut cfg = SoftmaxBenchConfig { runs: runs.max(1), ..Default::default() };
            if let Some(r) = rows {
                positive("--rows", &r)?;
                cfg.rows = r;
            }
            if let Some(c) = cols {
                positive("--cols", &c)?;
                cfg.cols = c;
            }
            if let Some(d) = dtype {
                cfg.dtypes = d;
            }
            if let Some(m) = modes {
                cfg.modes = m;
            }
            if let Some(v) = variants {
                cfg.backends = v;
            }
            let (ctx, be) = cuda_backend()?;
            let copy = roofline::copy_roofline(&be, 30)?;
            let empty = roofline::empty_launch(&be, 50)?;
            println!(
                "{} | {} | copy roofline {:.0} GB/s, empty launch {:.2} us (this run)",
                be.caps().name,
                bench::today(),
                copy.gbps,
                empty.median_us
            );
            let pb = progress::bar("bench softmax", cfg.points() as u64);
            let rows = bench::softmax::run(&ctx, &cfg, &copy, |r| {
                pb.set_message(format!("bench softmax {} {}", r.dtype, r.shape));
                pb.inc(1);
            })?;
            pb.finish_and_clear();
            report(&rows, bench::softmax_table, csv)
        }
        BenchOp::Matmul { shapes, n, dtype, runs, no_peer, veck_cta_bytes, mma_n1_max_k, csv } => {
            let under = (veck_cta_bytes.unwrap_or_default().into_iter().map(TableValue::VeckCtaBytes))
                .chain(mma_n1_max_k.unwrap_or_default().into_iter().map(TableValue::MmaN1MaxK))
                .collect();
            let mut cfg = MatmulBenchConfig { runs: runs.max(1), peer: !no_peer, under, ..Default::default() };
            gemv_grid(shapes, n, &mut cfg.shapes, &mut cfg.ns)?;
            let mut blocks = Vec::new();
            if let Some(d) = dtype {
                cfg.dtypes =
                    d.iter().filter_map(|t| if let WeightType::Dense(d) = t { Some(*d) } else { None }).collect();
                blocks = d.iter().filter_map(|t| if let WeightType::Blocks(k) = t { Some(*k) } else { None }).collect();
            }
            check_block_shapes(&blocks, &cfg.shapes)?;
            let (ctx, be) = cuda_backend()?;
            let copy = roofline::copy_roofline(&be, 30)?;
            let read = roofline::read_roofline(&be, 30)?;
            println!(
                "{} | {} | copy roofline {:.0} GB/s, read roofline {:.0} GB/s (this run)",
                be.caps().name,
                bench::today(),
                copy.gbps,
                read.gbps
            );
            let mut rows = Vec::new();
            if !cfg.dtypes.is_empty() {
                let pb = progress::bar("bench matmul", cfg.points() as u64);
                rows = bench::matmul::run(&ctx, &cfg, &read, |r| {
                    // A GEMV row forced where auto chose cuBLAS, or under
                    // another tuning value, belongs to the same measurement.
                    if bench::matmul::counts_as_point(r) {
                        pb.set_message(format!("bench matmul {} {}", r.dtype, r.shape));
                        pb.inc(1);
                    }
                })?;
                pb.finish_and_clear();
                print!("{}", bench::matmul_table(&rows));
            }
            if !blocks.is_empty() {
                // What a user of `matmul` on these weights gets: auto dispatch.
                let qcfg = QuantBenchConfig {
                    shapes: cfg.shapes.clone(),
                    ns: cfg.ns.clone(),
                    formats: blocks,
                    kernels: vec![crate::ops::QuantKernel::Auto],
                    runs: cfg.runs,
                    peer: cfg.peer,
                    ..Default::default()
                };
                let pb = progress::bar("bench matmul (blocks)", qcfg.points() as u64);
                let qrows = bench::quant::run(&ctx, &qcfg, &read, |r| {
                    pb.set_message(format!("bench matmul {} {}", r.variant, r.shape));
                    pb.inc(1);
                })?;
                pb.finish_and_clear();
                println!("GGML block formats, f16 activations, auto dispatch (beside the dense f16 GEMV):");
                print!("{}", bench::quant_table(&qrows));
                rows.extend(qrows);
            }
            if let Some(p) = csv {
                bench::write_csv(&p, &rows)?;
            }
            Ok(0)
        }
        BenchOp::QuantMatmul {
            shapes,
            n,
            formats,
            kernel,
            dtype,
            runs,
            no_peer,
            graph,
            x_q8,
            hot,
            group_costs,
            csv,
        } => {
            let group_costs = group_costs.unwrap_or_default();
            let mut cfg = QuantBenchConfig {
                runs: runs.max(1),
                peer: !no_peer,
                dtype,
                graph,
                x_q8,
                hot,
                group_costs,
                ..Default::default()
            };
            gemv_grid(shapes, n, &mut cfg.shapes, &mut cfg.ns)?;
            if let Some(f) = formats {
                cfg.formats = f;
            }
            if let Some(k) = kernel {
                cfg.kernels = k;
            }
            check_block_shapes(&cfg.formats, &cfg.shapes)?;
            let (ctx, be) = cuda_backend()?;
            let read = roofline::read_roofline(&be, 30)?;
            println!(
                "{} | {} | read roofline {:.0} GB/s (this run) | activations {}",
                be.caps().name,
                bench::today(),
                read.gbps,
                cfg.dtype
            );
            let pb = progress::bar("bench quant-matmul", cfg.points() as u64);
            let rows = bench::quant::run(&ctx, &cfg, &read, |r| {
                pb.set_message(format!("bench quant-matmul {} {}", r.variant, r.shape));
                pb.inc(1);
            })?;
            pb.finish_and_clear();
            report(&rows, bench::quant_table, csv)
        }
    }
}

//! `bench matmul`: the decode layout (weights [M,K], tokens [N,K], output
//! [N,M]) for each shape, N and dtype; ours as dispatched and cuBLAS, timed in
//! the same run, with L2 defeated by rotating weight copies.

use crate::context::Context;
use crate::dispatch::matmul::{MatmulBackend, MatmulPrefs, VECK_GROUPS_MAX_N};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{plan_matmul, MatmulOptions};
use crate::roofline::Roofline;
use crate::runtime::timing::{time_on_stream, Stats};
use crate::tensor::Tensor;
use crate::tuning::MatmulTuning;

use super::{random_tensor, BenchRow};

/// Weight shapes (M, K) measured by default: from a small projection to a Llama 3 output head.
pub const DEFAULT_SHAPES: &[(usize, usize)] =
    &[(128, 1024), (896, 4864), (4096, 4096), (14336, 4096), (4096, 14336), (128256, 4096)];

/// What `bench matmul` measures.
#[derive(Debug, Clone)]
pub struct MatmulBenchConfig {
    /// Weight shapes (M, K).
    pub shapes: Vec<(usize, usize)>,
    /// Token counts N (the GEMV columns).
    pub ns: Vec<usize>,
    /// Element types.
    pub dtypes: Vec<DType>,
    /// Untimed runs before each measurement.
    pub warmup: usize,
    /// Timed runs per measurement (the median is kept).
    pub runs: usize,
    /// Also time cuBLAS (the peer).
    pub peer: bool,
    /// Tuning values each point they can change is also timed under, the
    /// GEMV forced (rows marked `(key=value)`), for `tune`; empty: none.
    pub under: Vec<TableValue>,
}

/// A value of the matmul tuning a point is also timed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableValue {
    /// `matmul.veck_cta_bytes`: the bytes of A a veck CTA reads at N <= 2.
    VeckCtaBytes(usize),
    /// `matmul.mma_n1_max_k`: the widest K f16/bf16 take tensor cores at N = 1 (past L2).
    MmaN1MaxK(usize),
}

impl TableValue {
    /// Every kind of value, each from its value.
    pub const KINDS: [fn(usize) -> TableValue; 2] = [TableValue::VeckCtaBytes, TableValue::MmaN1MaxK];

    /// The key under `matmul` in a tuning table.
    pub fn key(self) -> &'static str {
        match self {
            TableValue::VeckCtaBytes(_) => "veck_cta_bytes",
            TableValue::MmaN1MaxK(_) => "mma_n1_max_k",
        }
    }

    /// The value set.
    pub fn value(self) -> usize {
        match self {
            TableValue::VeckCtaBytes(v) | TableValue::MmaN1MaxK(v) => v,
        }
    }

    /// What the value bounds, for a plot's axis.
    pub fn what(self) -> &'static str {
        match self {
            TableValue::VeckCtaBytes(_) => "bytes of A a veck CTA reads",
            TableValue::MmaN1MaxK(_) => "widest K on tensor cores at N = 1",
        }
    }

    /// The GEMV variant it chooses for, for a plot's series.
    pub fn family(self) -> &'static str {
        match self {
            TableValue::VeckCtaBytes(_) => "veck",
            TableValue::MmaN1MaxK(_) => "gemv",
        }
    }

    /// The table's field of this kind.
    pub fn field(self, t: &mut MatmulTuning) -> &mut usize {
        match self {
            TableValue::VeckCtaBytes(_) => &mut t.veck_cta_bytes,
            TableValue::MmaN1MaxK(_) => &mut t.mma_n1_max_k,
        }
    }

    /// Whether the value can change how a point of `n` columns in `dtype`
    /// runs, auto dispatch having run it as `auto_label`: veck's row groups
    /// at N <= 2 where auto ran veck; the kernel of f16/bf16 at N = 1 where
    /// auto ran a GEMV.
    fn applies(self, n: usize, dtype: DType, auto_label: &str) -> bool {
        match self {
            TableValue::VeckCtaBytes(_) => auto_label.contains("gemv_veck") && n <= VECK_GROUPS_MAX_N,
            TableValue::MmaN1MaxK(_) => {
                n == 1 && matches!(dtype, DType::F16 | DType::BF16) && auto_label.contains("gemv")
            }
        }
    }

    /// The mark on a row timed under it: `(veck_cta_bytes=8192)`.
    pub fn mark(self) -> String {
        format!("({}={})", self.key(), self.value())
    }

    /// The value a row's variant was timed under, if marked.
    pub fn of_row(variant: &str) -> Option<TableValue> {
        let (_, mark) = variant.rsplit_once(" (")?;
        let (key, value) = mark.strip_suffix(')')?.split_once('=')?;
        let value = value.parse().ok()?;
        TableValue::KINDS.iter().map(|kind| kind(value)).find(|v| v.key() == key)
    }
}

impl MatmulBenchConfig {
    /// Measurements this config makes: one per dtype, shape and N (each gives
    /// one row, two where auto chose cuBLAS and the GEMV family is also timed).
    pub fn points(&self) -> usize {
        self.dtypes.len() * self.shapes.len() * self.ns.len()
    }
}

impl Default for MatmulBenchConfig {
    fn default() -> Self {
        MatmulBenchConfig {
            shapes: DEFAULT_SHAPES.to_vec(),
            ns: (1..=16).collect(),
            dtypes: DType::ALL.to_vec(),
            warmup: 5,
            runs: 50,
            peer: true,
            under: Vec::new(),
        }
    }
}

/// Whether a row is a measurement of its own for progress counts: not the
/// GEMV forced where auto chose cuBLAS, nor a point under another tuning value.
pub fn counts_as_point(r: &BenchRow) -> bool {
    !r.variant.ends_with("(forced)") && TableValue::of_row(&r.variant).is_none()
}

/// Parses "MxK,MxK".
pub fn parse_shapes(s: &str) -> Result<Vec<(usize, usize)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (m, k) = p
                .trim()
                .split_once(['x', 'X'])
                .ok_or_else(|| Error::invalid("bench", "--shapes", "MxK pairs such as 4096x4096", p))?;
            match (m.parse::<usize>(), k.parse::<usize>()) {
                (Ok(m), Ok(k)) if m > 0 && k > 0 => Ok((m, k)),
                _ => Err(Error::invalid("bench", "--shapes", "positive MxK pairs such as 4096x4096", p)),
            }
        })
        .collect()
}

/// Times every (dtype, shape, N) of `cfg` as auto dispatch runs it, and cuBLAS beside it when `cfg.peer`; calls `on_row` with each row as it is measured.
pub fn run(
    ctx: &Context,
    cfg: &MatmulBenchConfig,
    read: &Roofline,
    mut on_row: impl FnMut(&BenchRow),
) -> Result<Vec<BenchRow>> {
    let be = ctx.cuda().ok_or_else(|| Error::CudaUnavailable("bench matmul needs a CUDA device".into()))?;
    // A context under a table with each value asked for.
    let value_ctxs: Vec<(TableValue, Context)> = cfg
        .under
        .iter()
        .map(|&v| {
            let mut t = ctx.dispatcher().table().clone();
            *v.field(&mut t.matmul) = v.value();
            (v, ctx.with_table(t))
        })
        .collect();
    let l2 = be.caps().l2_bytes;
    let mut rows = Vec::new();
    for &dtype in &cfg.dtypes {
        for &(m, k) in &cfg.shapes {
            let copies = super::rotation_copies(l2, m * k * dtype.size_in_bytes());
            let weights: Vec<Tensor> =
                (0..copies).map(|i| random_tensor(ctx, &[m, k], dtype, 17 + i as u64, 0.1)).collect::<Result<_>>()?;
            let n_max = cfg.ns.iter().copied().max().unwrap_or(1);
            let tokens = random_tensor(ctx, &[n_max, k], dtype, 99, 0.1)?;
            let out = Tensor::empty(ctx, &[n_max, m], dtype)?;
            for &n in &cfg.ns {
                let b = tokens.narrow(0, 0, n)?.transpose(0, 1)?;
                let c = out.narrow(0, 0, n)?.transpose(0, 1)?;
                let time_under = |ctx: &Context, backend: MatmulBackend| -> Result<(Stats, String)> {
                    let opts = MatmulOptions { group: 1, prefs: Some(MatmulPrefs { backend, smalln_max_n: None }) };
                    let plan = plan_matmul(ctx, &weights[0], &b, &c, &opts)?;
                    let stats = time_on_stream(be, cfg.warmup, cfg.runs, |i| {
                        plan.launch(ctx, 1.0, &weights[i % copies], &b, 0.0, &c)
                    })?;
                    Ok((stats, plan.label().to_string()))
                };
                let time = |backend: MatmulBackend| time_under(ctx, backend);
                let auto = time(MatmulBackend::Auto)?;
                let peer = if cfg.peer { Some(time(MatmulBackend::Cublas)?.0.median_us) } else { None };
                // Where auto chose cuBLAS, the GEMV family's own time still shows the crossover.
                let mut measured = vec![auto.clone()];
                if auto.1.contains("cublas") {
                    let (s, l) = time(MatmulBackend::Gemv)?;
                    measured.push((s, format!("{l} (forced)")));
                }
                for (value, vctx) in value_ctxs.iter().filter(|(v, _)| v.applies(n, dtype, &auto.1)) {
                    let (s, l) = time_under(vctx, MatmulBackend::Gemv)?;
                    measured.push((s, format!("{l} {}", value.mark())));
                }
                let bytes = (m * k + k * n + n * m) as u64 * dtype.size_in_bytes() as u64;
                for (stats, label) in measured {
                    let mut row = BenchRow::measured(
                        ctx,
                        "matmul",
                        label,
                        dtype,
                        format!("m={m} k={k} n={n}"),
                        &stats,
                        bytes,
                        read.gbps,
                    )?;
                    row.peer_us = peer;
                    on_row(&row);
                    rows.push(row);
                }
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_value_marks_read_back() {
        for v in [TableValue::VeckCtaBytes(8192), TableValue::MmaN1MaxK(0)] {
            assert_eq!(TableValue::of_row(&format!("matmul/gemv_veck_n1_g4/f16 {}", v.mark())), Some(v));
        }
        assert_eq!(TableValue::of_row("matmul/gemv_mma_n1/f16 (forced)"), None);
        assert_eq!(TableValue::of_row("matmul/gemv_mma_n1/f16 (warps=8)"), None);
        assert_eq!(TableValue::of_row("matmul/gemv_veck_n1/f16"), None);
        let (f16, f32) = (DType::F16, DType::F32);
        assert!(TableValue::MmaN1MaxK(0).applies(1, f16, "matmul/gemv_veck_n1_g4/f16"));
        assert!(!TableValue::MmaN1MaxK(0).applies(1, f32, "matmul/gemv_veck_n1_g4/f32"));
        assert!(!TableValue::MmaN1MaxK(0).applies(2, f16, "matmul/gemv_mma_n2/f16"));
        assert!(TableValue::VeckCtaBytes(0).applies(2, f32, "matmul/gemv_veck_n2_g2/f32"));
        assert!(!TableValue::VeckCtaBytes(0).applies(1, f16, "matmul/gemv_mma_n1/f16"));
    }

    #[test]
    fn shapes_parse() {
        assert_eq!(parse_shapes("4096x4096, 896X4864").unwrap(), vec![(4096, 4096), (896, 4864)]);
        for bad in ["4096", "0x5", "ax4"] {
            let e = parse_shapes(bad).unwrap_err().to_string();
            assert!(e.contains("--shapes"), "{e}");
        }
    }
}

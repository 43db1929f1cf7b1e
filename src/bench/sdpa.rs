//! `bench sdpa`: the fused and composed paths on each decode shape, against the
//! read roofline of the same run; auto's choice marked. GB/s counts the K and
//! V bytes a step must read (the roofline-relevant traffic of decode attention).

use crate::context::Context;
use crate::dispatch::sdpa::{SdpaBackend, SdpaPrefs};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::sdpa::{plan_sdpa, SdpaOptions};
use crate::roofline::Roofline;
use crate::runtime::timing::time_on_stream;
use crate::tensor::Tensor;

use super::{random_tensor, BenchRow};

/// One attention shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpaShape {
    /// Sequences a launch, each with its own cache of `lk` keys.
    pub batch: usize,
    /// Query heads.
    pub hq: usize,
    /// Key/value heads (divides `hq`).
    pub hkv: usize,
    /// Query rows per head (tokens decoded together).
    pub lq: usize,
    /// Keys in the cache.
    pub lk: usize,
    /// Head dimension.
    pub d: usize,
}

/// What `bench sdpa` measures.
#[derive(Debug, Clone)]
pub struct SdpaBenchConfig {
    /// Attention shapes.
    pub shapes: Vec<SdpaShape>,
    /// Element type.
    pub dtype: DType,
    /// Causal masking with the default offset.
    pub causal: bool,
    /// Untimed runs before each measurement.
    pub warmup: usize,
    /// Timed runs per measurement (the median is kept).
    pub runs: usize,
    /// Also time the fused path back to back in a CUDA graph, with
    /// `fresh_keys` as a decode step passes it (a `_graph` row: the graph's
    /// time over its launches; each launch loads its keys while the one
    /// before finishes, as attention does after RoPE in a step).
    pub graph: bool,
}

/// Every combination of the lists.
pub fn grid(batch: &[usize], hq: &[usize], hkv: &[usize], lq: &[usize], lk: &[usize], d: &[usize]) -> Vec<SdpaShape> {
    let mut v = Vec::new();
    for &d in d {
        for &hkv in hkv {
            for &lq in lq {
                for &lk in lk {
                    for &hq in hq {
                        for &batch in batch {
                            v.push(SdpaShape { batch, hq, hkv, lq, lk, d });
                        }
                    }
                }
            }
        }
    }
    v
}

impl SdpaBenchConfig {
    /// Rows [`run`] writes: one per shape and path (fused, composed), and
    /// the fused path's graph row.
    pub fn points(&self) -> usize {
        self.shapes.len() * if self.graph { 3 } else { 2 }
    }
}

impl Default for SdpaBenchConfig {
    /// Batch 1, Hq 32, Hkv 32 and 8, Lq 1, 4, 16, Lk 512 to 32768 at D = 128;
    /// D = 64 and 256 at Lk = 8192.
    fn default() -> Self {
        let mut shapes = grid(&[1], &[32], &[32, 8], &[1, 4, 16], &[512, 2048, 8192, 32768], &[128]);
        shapes.extend(grid(&[1], &[32], &[32, 8], &[1, 4, 16], &[8192], &[64, 256]));
        SdpaBenchConfig { shapes, dtype: DType::F16, causal: false, warmup: 5, runs: 50, graph: false }
    }
}

/// Times the fused and the composed path on every shape of `cfg`; calls `on_row` with each row as it is measured.
pub fn run(
    ctx: &Context,
    cfg: &SdpaBenchConfig,
    read: &Roofline,
    mut on_row: impl FnMut(&BenchRow),
) -> Result<Vec<BenchRow>> {
    cfg.shapes.iter().try_for_each(check_shape)?;
    let be = ctx.cuda().ok_or_else(|| Error::CudaUnavailable("bench sdpa needs a CUDA device".into()))?;
    let l2 = be.caps().l2_bytes;
    let dtype = cfg.dtype;
    let mut out = Vec::new();
    for s in &cfg.shapes {
        let kv_shape = [s.batch, s.hkv, s.lk, s.d];
        let kv_bytes = 2 * s.batch * s.hkv * s.lk * s.d * dtype.size_in_bytes();
        let copies = super::rotation_copies(l2, kv_bytes);
        let mut ks = Vec::new();
        let mut vs = Vec::new();
        for i in 0..copies as u64 {
            ks.push(random_tensor(ctx, &kv_shape, dtype, 11 + 2 * i, 2.0)?);
            vs.push(random_tensor(ctx, &kv_shape, dtype, 12 + 2 * i, 2.0)?);
        }
        let q = random_tensor(ctx, &[s.batch, s.hq, s.lq, s.d], dtype, 5, 2.0)?;
        let o = Tensor::empty(ctx, &[s.batch, s.hq, s.lq, s.d], dtype)?;
        let opts = |prefs| SdpaOptions { causal: cfg.causal, prefs: Some(prefs), ..Default::default() };
        let auto = plan_sdpa(ctx, &q, &ks[0], &vs[0], &o, &opts(SdpaPrefs::default()))?;
        // The fused row runs the kernel DK_SDPA_KERNEL names (auto unless set).
        let kernel = ctx.dispatcher().resolve(None, |p| p.sdpa)?.kernel;
        for backend in [SdpaBackend::Fused, SdpaBackend::Composed] {
            let plan = plan_sdpa(ctx, &q, &ks[0], &vs[0], &o, &opts(SdpaPrefs { backend, kernel }))?;
            let stats = time_on_stream(be, cfg.warmup, cfg.runs, |i| {
                plan.launch(ctx, &q, &ks[i % copies], &vs[i % copies], &o)
            })?;
            let bytes = plan.geometry().kv_bytes();
            let chosen = if plan.plan() == auto.plan() { " (auto)" } else { "" };
            let shape = format!(
                "{}hq={} hkv={} lq={} lk={} d={}{}",
                if s.batch > 1 { format!("b={} ", s.batch) } else { String::new() },
                s.hq,
                s.hkv,
                s.lq,
                s.lk,
                s.d,
                if cfg.causal { " causal=1" } else { "" }
            );
            let row = BenchRow::measured(
                ctx,
                "sdpa",
                format!("{}{chosen}", plan.label()),
                dtype,
                shape.clone(),
                &stats,
                bytes,
                read.gbps,
            )?;
            on_row(&row);
            out.push(row);
            if cfg.graph && backend == SdpaBackend::Fused {
                // Every copy of the cache read twice, at least 8 launches.
                let launches = (2 * copies).max(8);
                // The row's own kernel (DK_SDPA_KERNEL), as its label says.
                let o_graph = SdpaOptions { fresh_keys: Some(s.lq), ..opts(SdpaPrefs { backend, kernel }) };
                let rec = ctx.record(|ctx| {
                    (0..launches)
                        .try_for_each(|i| crate::ops::sdpa(ctx, &q, &ks[i % copies], &vs[i % copies], &o, &o_graph))
                })?;
                let g = rec.capture_graph()?;
                let whole = time_on_stream(be, 2, cfg.runs, |_| g.launch("bench/graph", 0))?;
                let label = format!("{}_graph", plan.label());
                let row = BenchRow::measured(
                    ctx,
                    "sdpa",
                    label,
                    dtype,
                    shape,
                    &whole.per_launch(launches),
                    bytes,
                    read.gbps,
                )?;
                on_row(&row);
                out.push(row);
            }
        }
    }
    Ok(out)
}

/// A shape the bench can build, named by the flag that sets each part;
/// checked for every shape before any is timed (and before a device is needed).
fn check_shape(s: &SdpaShape) -> Result<()> {
    if s.hkv == 0 || s.hq % s.hkv != 0 {
        return Err(Error::invalid("bench", "--hq/--hkv", "Hq a multiple of Hkv", format!("{}/{}", s.hq, s.hkv)));
    }
    if s.batch == 0 {
        return Err(Error::invalid("bench", "--batch", "at least 1 sequence", s.batch));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_shapes_are_errors_naming_their_flag() {
        let ok = SdpaShape { batch: 2, hq: 32, hkv: 8, lq: 1, lk: 64, d: 128 };
        assert!(check_shape(&ok).is_ok());
        let e = check_shape(&SdpaShape { hq: 12, ..ok }).unwrap_err().to_string();
        assert!(e.contains("--hq/--hkv") && e.contains("12/8"), "{e}");
        let e = check_shape(&SdpaShape { batch: 0, ..ok }).unwrap_err().to_string();
        assert!(e.contains("--batch") && e.contains("at least 1"), "{e}");
    }
}

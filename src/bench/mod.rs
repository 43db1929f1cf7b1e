//! Benchmarks (reports, not tests): every figure with the rooflines and the
//! peer measured in the same run, on the same card.

pub mod matmul;
pub mod quant;
pub mod sdpa;
pub mod softmax;

use std::path::Path;

use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::table::{sig, sig_opt, Table};
use crate::tensor::{HostData, Tensor};

/// Copies of an input of `bytes` to rotate through so one pass over them
/// exceeds 2.5x L2 (at most 64: smaller inputs are in-L2 numbers).
pub fn rotation_copies(l2_bytes: u64, bytes: usize) -> usize {
    let l2 = l2_bytes as usize;
    (2 * l2 + l2 / 2).div_ceil(bytes.max(1)).clamp(1, 64)
}

/// A contiguous tensor of uniform values in [-amplitude/2, amplitude/2) from a
/// seeded xorshift (never zeros; cheap enough for gigabyte inputs).
pub fn random_tensor(ctx: &Context, shape: &[usize], dtype: DType, seed: u64, amplitude: f64) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = HostData::from_f64_iter(
        dtype,
        (0..n).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * amplitude
        }),
    );
    Tensor::from_host(ctx, data, shape)
}

/// One benchmark row, shared by every op's benchmark and CSV.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    /// The op measured: `matmul`, `softmax` or `sdpa`.
    pub op: String,
    /// The launch label of the variant timed, marked " (auto)" where auto dispatch chose it and " (forced)" where it was timed against auto's choice.
    pub variant: String,
    /// Element type of the inputs and output (`f16`, `bf16`, `f32`).
    pub dtype: String,
    /// Op-specific shape, e.g. "m=4096 k=4096 n=8".
    pub shape: String,
    /// Median time of one launch over the timed runs, in microseconds.
    pub median_us: f64,
    /// Fastest timed run, in microseconds.
    pub min_us: f64,
    /// Slowest timed run, in microseconds.
    pub max_us: f64,
    /// Bytes one launch must move at least, as each op counts them (matmul: weights, tokens and output; softmax: input, output and any mask; sdpa: the K and V read).
    pub bytes: u64,
    /// `bytes` over the median time, in GB/s.
    pub gbps: f64,
    /// `gbps` as a percentage of `roofline_gbps`.
    pub pct_roofline: f64,
    /// The roofline (copy or read) measured in the same run, in GB/s.
    pub roofline_gbps: f64,
    /// The peer's median in the same run (cuBLAS for matmul), if measured.
    pub peer_us: Option<f64>,
    /// The GPU's name.
    pub card: String,
    /// The day measured, YYYY-MM-DD (UTC).
    pub date: String,
    /// The commit of the build that measured.
    pub commit: String,
    /// The tuning table in force when measured (embedded, DK_TUNING_FILE, user config).
    pub tuning: String,
}

impl BenchRow {
    /// The header line of a benchmark CSV, field names in [`BenchRow`]'s order.
    pub const CSV_HEADER: &'static str =
        "op,variant,dtype,shape,median_us,min_us,max_us,bytes,gbps,pct_roofline,roofline_gbps,peer_us,card,date,commit,tuning";

    /// A row for a measurement on `be`: throughput and % of `roofline_gbps`
    /// from the median, card, date, commit and tuning source filled in.
    #[allow(clippy::too_many_arguments)]
    pub fn measured(
        ctx: &Context,
        op: &str,
        variant: String,
        dtype: DType,
        shape: String,
        stats: &crate::runtime::timing::Stats,
        bytes: u64,
        roofline_gbps: f64,
    ) -> Result<Self> {
        let gbps = stats.gbps(bytes as f64);
        Ok(BenchRow {
            op: op.to_string(),
            variant,
            dtype: dtype.to_string(),
            shape,
            median_us: stats.median_us,
            min_us: stats.min_us,
            max_us: stats.max_us,
            bytes,
            gbps,
            pct_roofline: 100.0 * gbps / roofline_gbps,
            roofline_gbps,
            peer_us: None,
            card: ctx.dispatcher().caps().map_or_else(|| "cpu".to_string(), |c| c.name.clone()),
            date: today(),
            commit: COMMIT.into(),
            tuning: ctx.dispatcher().table_source().to_string(),
        })
    }

    /// The value of `key` in the shape field ("m=4096 k=4096 n=8" -> n = 8).
    pub fn shape_value(&self, key: &str) -> Option<usize> {
        self.shape
            .split_whitespace()
            .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == key).and_then(|(_, v)| v.parse().ok()))
    }

    /// The shape field without `keys` (the rest identifies a measured class).
    pub fn shape_without(&self, keys: &[&str]) -> String {
        self.shape
            .split_whitespace()
            .filter(|kv| !keys.iter().any(|k| kv.split_once('=').is_some_and(|(kk, _)| kk == *k)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The row as one CSV line (no newline), fields in [`BenchRow::CSV_HEADER`]'s order.
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},\"{}\",{:.3},{:.3},{:.3},{},{:.1},{:.1},{:.1},{},\"{}\",{},{},\"{}\"",
            self.op,
            self.variant,
            self.dtype,
            self.shape,
            self.median_us,
            self.min_us,
            self.max_us,
            self.bytes,
            self.gbps,
            self.pct_roofline,
            self.roofline_gbps,
            self.peer_us.map(|p| format!("{p:.3}")).unwrap_or_default(),
            self.card,
            self.date,
            self.commit,
            self.tuning.replace('"', "'")
        )
    }

    /// Parses one line written by [`BenchRow::csv`].
    pub fn parse_csv(line: &str) -> std::result::Result<Self, String> {
        let f = split_csv(line);
        if f.len() != 16 {
            return Err(format!("{} fields, expected 16", f.len()));
        }
        let num =
            |i: usize, name: &str| f[i].parse::<f64>().map_err(|_| format!("field {name}: {:?} is not a number", f[i]));
        // Times feed the tuning decisions: NaN, infinite, zero or negative
        // ones are an error, not a row to drop.
        let time = |i: usize, name: &str| {
            num(i, name).and_then(|t| {
                if t.is_finite() && t > 0.0 {
                    Ok(t)
                } else {
                    Err(format!(
                        "field {name}: {:?} is not a time (expected a finite number of microseconds > 0)",
                        f[i]
                    ))
                }
            })
        };
        Ok(BenchRow {
            op: f[0].clone(),
            variant: f[1].clone(),
            dtype: f[2].clone(),
            shape: f[3].clone(),
            median_us: time(4, "median_us")?,
            min_us: time(5, "min_us")?,
            max_us: time(6, "max_us")?,
            bytes: f[7].parse().map_err(|_| format!("field bytes: {:?} is not an integer", f[7]))?,
            gbps: num(8, "gbps")?,
            pct_roofline: num(9, "pct_roofline")?,
            roofline_gbps: num(10, "roofline_gbps")?,
            peer_us: if f[11].is_empty() { None } else { Some(time(11, "peer_us")?) },
            card: f[12].clone(),
            date: f[13].clone(),
            commit: f[14].clone(),
            tuning: f[15].clone(),
        })
    }
}

/// "min-max" of a row's times, 3 significant digits each.
fn min_max(r: &BenchRow) -> String {
    format!("{}-{}", sig(r.min_us, 3), sig(r.max_us, 3))
}

/// A value of the shape field, or `-`.
fn shape_cell(r: &BenchRow, key: &str) -> String {
    r.shape_value(key).map_or_else(|| "-".into(), |v| v.to_string())
}

/// `bench matmul`'s table: one line per row, with cuBLAS' time in the same run
/// and how many times faster ours is (above 1: ours is faster).
pub fn matmul_table(rows: &[BenchRow]) -> String {
    gemv_table(rows, "matmul/", "cuBLAS")
}

/// `bench quant-matmul`'s table: one line per row, with the dense GEMV's time
/// in the same run and how many times faster the quantized one is.
pub fn quant_table(rows: &[BenchRow]) -> String {
    gemv_table(rows, "quant_matmul/", "dense")
}

/// A GEMV table: shape, variant (without `op_prefix`), times and bandwidth,
/// then the `peer`'s time in the same run and peer / ours.
fn gemv_table(rows: &[BenchRow], op_prefix: &str, peer: &str) -> String {
    let mut t = Table::new()
        .left("dtype")
        .right("M")
        .right("K")
        .right("N")
        .left("variant")
        .right("median us")
        .right("min-max us")
        .right("GB/s")
        .right("% read roofline")
        .right(&format!("{peer} us"))
        .right(&format!("{peer}/ours"));
    for r in rows {
        t.push([
            r.dtype.clone(),
            shape_cell(r, "m"),
            shape_cell(r, "k"),
            shape_cell(r, "n"),
            r.variant.trim_start_matches(op_prefix).to_string(),
            sig(r.median_us, 3),
            min_max(r),
            sig(r.gbps, 3),
            sig(r.pct_roofline, 3),
            sig_opt(r.peer_us, 3),
            r.peer_us.map_or_else(|| "-".into(), |p| format!("{}x", sig(p / r.median_us, 3))),
        ]);
    }
    t.render()
}

/// `bench softmax`'s table: one line per row, against the copy roofline.
pub fn softmax_table(rows: &[BenchRow]) -> String {
    let mut t = Table::new()
        .left("dtype")
        .left("shape")
        .left("variant")
        .right("median us")
        .right("min-max us")
        .right("GB/s")
        .right("% copy roofline");
    for r in rows {
        t.push([
            r.dtype.clone(),
            r.shape.clone(),
            r.variant.trim_start_matches("softmax/").to_string(),
            sig(r.median_us, 3),
            min_max(r),
            sig(r.gbps, 3),
            sig(r.pct_roofline, 3),
        ]);
    }
    t.render()
}

/// `bench sdpa`'s table: one line per row; GB/s counts the K and V bytes read.
pub fn sdpa_table(rows: &[BenchRow]) -> String {
    let mut t = Table::new()
        .left("shape")
        .left("variant")
        .right("median us")
        .right("min-max us")
        .right("K+V GB/s")
        .right("% read roofline");
    for r in rows {
        t.push([
            r.shape.clone(),
            r.variant.trim_start_matches("sdpa/").to_string(),
            sig(r.median_us, 3),
            min_max(r),
            sig(r.gbps, 3),
            sig(r.pct_roofline, 3),
        ]);
    }
    t.render()
}

/// Splits a CSV line on commas outside double quotes (quotes removed).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("never empty").push(c),
        }
    }
    out
}

/// Reads a CSV written by [`write_csv`]; an error names the line.
pub fn read_csv(path: &Path) -> Result<Vec<BenchRow>> {
    let text = std::fs::read_to_string(path).map_err(Error::io("reading", path))?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == BenchRow::CSV_HEADER => {}
        other => {
            return Err(Error::invalid(
                "tune",
                path.display().to_string(),
                format!("the header line {:?}", BenchRow::CSV_HEADER),
                format!("{:?}", other.map(|o| o.1)),
            ))
        }
    }
    lines
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            BenchRow::parse_csv(l)
                .map_err(|e| Error::invalid("tune", format!("{} line {}", path.display(), i + 1), "a benchmark row", e))
        })
        .collect()
}

/// Writes rows as CSV; a zero or non-finite throughput is a bug, not a row.
pub fn write_csv(path: &Path, rows: &[BenchRow]) -> Result<()> {
    if let Some(bad) = rows.iter().find(|r| !(r.gbps.is_finite() && r.gbps > 0.0 && r.bytes > 0)) {
        return Err(Error::invalid("bench", "rows", "a positive, finite throughput in every row", format!("{bad:?}")));
    }
    let mut text = String::from(BenchRow::CSV_HEADER);
    text.push('\n');
    for r in rows {
        text.push_str(&r.csv());
        text.push('\n');
    }
    crate::fsio::write_atomic(path, text.as_bytes())
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock.
pub fn today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0)
            as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}")
}

/// The commit this binary was built from, stamped into every row.
pub const COMMIT: &str = env!("DK_GIT_COMMIT");

#[cfg(test)]
mod tests {
    use super::*;

    fn row(gbps: f64) -> BenchRow {
        BenchRow {
            op: "matmul".into(),
            variant: "gemv_mma".into(),
            dtype: "f16".into(),
            shape: "m=1 k=2 n=3".into(),
            median_us: 1.0,
            min_us: 0.9,
            max_us: 1.2,
            bytes: 100,
            gbps,
            pct_roofline: 50.0,
            roofline_gbps: 3000.0,
            peer_us: Some(2.0),
            card: "NVIDIA H100".into(),
            date: today(),
            commit: COMMIT.into(),
            tuning: "embedded: sm_90 defaults".into(),
        }
    }

    #[test]
    fn csv_round_trips_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.csv");
        let mut r = row(123.4);
        r.peer_us = None;
        write_csv(&p, &[row(100.0), r]).unwrap();
        let back = read_csv(&p).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!((back[0].shape.as_str(), back[0].peer_us, back[1].peer_us), ("m=1 k=2 n=3", Some(2.0), None));
        assert_eq!((back[0].shape_value("k"), back[0].shape_value("x")), (Some(2), None));
        assert_eq!(back[0].shape_without(&["n"]), "m=1 k=2");
        assert_eq!(back[1].gbps, 123.4);
        assert_eq!(back[0].tuning, "embedded: sm_90 defaults");
        std::fs::write(&p, format!("{}\nmatmul,x\n", BenchRow::CSV_HEADER)).unwrap();
        let e = read_csv(&p).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("fields"), "{e}");
        std::fs::write(&p, "a,b\n").unwrap();
        assert!(read_csv(&p).unwrap_err().to_string().contains("header"));
    }

    #[test]
    fn csv_writer_rejects_missing_throughput() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.csv");
        write_csv(&p, &[row(100.0)]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], BenchRow::CSV_HEADER);
        assert_eq!(lines[1].split(',').count(), BenchRow::CSV_HEADER.split(',').count(), "{}", lines[1]);
        assert!(lines[1].starts_with("matmul,gemv_mma,f16,\"m=1 k=2 n=3\",1.000,"));
        for bad in [0.0, f64::NAN, f64::INFINITY] {
            let e = write_csv(&p, &[row(bad)]).unwrap_err().to_string();
            assert!(e.contains("positive, finite throughput"), "{e}");
        }
    }

    #[test]
    fn bench_tables_align_and_keep_small_numbers() {
        let mut slow = row(0.0123);
        slow.median_us = 123456.7;
        slow.min_us = 120000.0;
        slow.max_us = 130000.0;
        slow.pct_roofline = 0.000412;
        slow.peer_us = None;
        let rows = [row(3090.0), slow];
        for (name, text) in
            [("matmul", matmul_table(&rows)), ("softmax", softmax_table(&rows)), ("sdpa", sdpa_table(&rows))]
        {
            crate::table::check_alignment(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(text.lines().count(), 3, "{name}: {text}");
            assert!(text.contains("0.0123") && text.contains("123457") && text.contains("0.000412"), "{name}: {text}");
        }
        assert!(matmul_table(&rows).contains("2.00x"), "cuBLAS 2 us against ours 1 us");
    }

    #[test]
    fn date_is_iso() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
    }
}

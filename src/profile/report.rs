//! The per-label report: aggregation of the profiler's samples and its
//! renderings (a table for people, CSV and JSON for tools).

use std::collections::BTreeMap;

use super::Sample;
use crate::table::{bytes, sig, sig_opt, time_unit, Table};

/// One label's aggregate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportRow {
    /// The launches' label.
    pub label: String,
    /// Launches with this label.
    pub count: usize,
    /// Their summed time, in microseconds.
    pub total_us: f64,
    /// `total_us / count`.
    pub mean_us: f64,
    /// Median launch time (nearest rank), in microseconds.
    pub p50_us: f64,
    /// 95th-percentile launch time (nearest rank), in microseconds.
    pub p95_us: f64,
    /// Bytes moved per launch, the mean over the label's launches (shapes of
    /// one label may differ, e.g. the projections of a layer).
    pub bytes: u64,
    /// Bytes of all launches over their total time; None when bytes are 0.
    pub gbps: Option<f64>,
    /// `gbps` as a percentage of the report's roofline; None without either.
    pub pct_roofline: Option<f64>,
}

/// The profiler's samples aggregated per label.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// One row per label, largest total time first.
    pub rows: Vec<ReportRow>,
    /// The bandwidth (GB/s) the rows' `pct_roofline` is relative to, when
    /// the caller measured one.
    pub roofline_gbps: Option<f64>,
}

/// The q-quantile (0..=1) of sorted values, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

impl Report {
    /// Aggregates samples per label; rows are ordered by total time, largest first.
    pub fn from_samples(samples: &[Sample], roofline_gbps: Option<f64>) -> Self {
        let mut by_label: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
        for s in samples {
            by_label.entry(&s.label).or_default().push(s);
        }
        let mut rows: Vec<ReportRow> = by_label
            .into_iter()
            .map(|(label, ss)| {
                let mut us: Vec<f64> = ss.iter().map(|s| s.us).collect();
                us.sort_by(|a, b| a.total_cmp(b));
                let total: f64 = us.iter().sum();
                let bytes_all: u64 = ss.iter().map(|s| s.bytes).sum();
                let gbps = (bytes_all > 0 && total > 0.0).then(|| bytes_all as f64 / (total * 1e3));
                ReportRow {
                    label: label.to_string(),
                    count: us.len(),
                    total_us: total,
                    mean_us: total / us.len() as f64,
                    p50_us: quantile(&us, 0.5),
                    p95_us: quantile(&us, 0.95),
                    bytes: bytes_all / us.len() as u64,
                    gbps,
                    pct_roofline: gbps.zip(roofline_gbps).map(|(g, r)| 100.0 * g / r),
                }
            })
            .collect();
        rows.sort_by(|a, b| b.total_us.total_cmp(&a.total_us).then_with(|| a.label.cmp(&b.label)));
        Report { rows, roofline_gbps }
    }

    /// The time of every launch in the report, in microseconds.
    pub fn total_us(&self) -> f64 {
        self.rows.iter().map(|r| r.total_us).sum()
    }

    /// An aligned text table, one row per label and a total line, for a terminal.
    pub fn to_table(&self) -> String {
        // Totals and per-launch times each in the unit their largest value needs.
        let (unit, div) = time_unit(self.rows.iter().map(|x| x.total_us).fold(0.0, f64::max));
        let (each, each_div) = time_unit(self.rows.iter().map(|x| x.p95_us.max(x.mean_us)).fold(0.0, f64::max));
        let time = |us: f64| sig(us / div, 3);
        let per_launch = |us: f64| sig(us / each_div, 3);
        let mut t = Table::new()
            .left("label")
            .right("launches")
            .right(&format!("total {unit}"))
            .right(&format!("mean {each}"))
            .right(&format!("p50 {each}"))
            .right(&format!("p95 {each}"))
            .right("bytes/launch")
            .right("GB/s");
        if self.roofline_gbps.is_some() {
            t = t.right("% roofline");
        }
        for row in &self.rows {
            t.push([
                row.label.clone(),
                row.count.to_string(),
                time(row.total_us),
                per_launch(row.mean_us),
                per_launch(row.p50_us),
                per_launch(row.p95_us),
                if row.bytes == 0 { "-".into() } else { bytes(row.bytes) },
                sig_opt(row.gbps, 3),
                sig_opt(row.pct_roofline, 3),
            ]);
        }
        let launches: usize = self.rows.iter().map(|x| x.count).sum();
        t.push(["total".to_string(), launches.to_string(), time(self.total_us())]);
        t.render()
    }

    /// CSV with a header line, one row per label; an absent value is an empty field.
    pub fn to_csv(&self) -> String {
        let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.3}"));
        let mut s = String::from("label,count,total_us,mean_us,p50_us,p95_us,bytes,gbps,pct_roofline\n");
        for r in &self.rows {
            s += &format!(
                "{},{},{:.3},{:.3},{:.3},{:.3},{},{},{}\n",
                r.label,
                r.count,
                r.total_us,
                r.mean_us,
                r.p50_us,
                r.p95_us,
                r.bytes,
                opt(r.gbps),
                opt(r.pct_roofline)
            );
        }
        s
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::check_alignment;

    #[test]
    fn profile_table_aligns_and_labels_bytes_per_launch() {
        let s = |label: &str, bytes: u64, us: f64| Sample { label: label.into(), bytes, us };
        let r = Report::from_samples(
            &[
                s("matmul/gemv_mma_n1/f16", 272_000_000, 120.0),
                s("matmul/gemv_mma_n1/f16", 1_000, 3.0),
                s("rmsnorm/f16", 0, 0.5),
            ],
            Some(3000.0),
        );
        let text = Report::to_table(&r);
        check_alignment(&text).unwrap();
        let head = text.lines().next().unwrap();
        assert!(head.contains("bytes/launch") && head.contains("total us"), "{text}");
        assert_eq!((time_unit(9999.0).0, time_unit(10_000.0).0, time_unit(2e7).0), ("us", "ms", "s"));
        assert!(text.contains("136 MB") && text.contains("total"), "{text}");
        assert!(text.contains("% roofline"), "{text}");
        let cpu = Report::to_table(&Report::from_samples(&[s("sdpa/cpu/f16", 1000, 2.0)], None));
        check_alignment(&cpu).unwrap();
        assert!(!cpu.contains("% roofline"), "no roofline on the CPU backend: no column\n{cpu}");
    }
}

//! The per-label report: aggregation of the profiler's samples and its
//! renderings (a table for people, CSV and JSON for tools).

use std::collections::BTreeMap;

use super::Sample;

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
        let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |x| format!("{x:.p$}"));
        let w = self.rows.iter().map(|r| r.label.len()).max().unwrap_or(5).max(5);
        let mut s = format!(
            "{:<w$} {:>7} {:>11} {:>9} {:>9} {:>9} {:>12} {:>8} {:>6}\n",
            "label", "count", "total_us", "mean_us", "p50_us", "p95_us", "bytes", "GB/s", "%roof"
        );
        for r in &self.rows {
            s += &format!(
                "{:<w$} {:>7} {:>11.1} {:>9.2} {:>9.2} {:>9.2} {:>12} {:>8} {:>6}\n",
                r.label,
                r.count,
                r.total_us,
                r.mean_us,
                r.p50_us,
                r.p95_us,
                r.bytes,
                r.gbps.map_or("-".to_string(), |g| if g < 100.0 { format!("{g:.1}") } else { format!("{g:.0}") }),
                opt(r.pct_roofline, 1)
            );
        }
        s += &format!(
            "{:<w$} {:>7} {:>11.1}\n",
            "total",
            self.rows.iter().map(|r| r.count).sum::<usize>(),
            self.total_us()
        );
        s
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

//! `tune --from-csv` end to end on synthetic measurements with a known
//! crossover: the table written, the changes reported, one plot per decision.

use std::path::Path;
use std::process::Command;

use decode_kernels::bench::{write_csv, BenchRow};
use decode_kernels::tuning::TuningTable;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_decode-kernels"))
}

/// `tune [--ops ..] --from-csv <csv> --out <out>`, then each (flag, path) of `more`.
fn tune_from_csv(ops: Option<&str>, csv: &Path, out: &Path, more: &[(&str, &Path)]) -> std::process::Output {
    let mut c = bin();
    c.arg("tune");
    if let Some(o) = ops {
        c.args(["--ops", o]);
    }
    c.arg("--from-csv").arg(csv).arg("--out").arg(out);
    for (flag, path) in more {
        c.arg(flag).arg(path);
    }
    c.output().unwrap()
}

fn row(op: &str, variant: &str, dtype: &str, shape: String, us: f64, peer: Option<f64>) -> BenchRow {
    BenchRow {
        op: op.into(),
        variant: variant.into(),
        dtype: dtype.into(),
        shape,
        median_us: us,
        min_us: us,
        max_us: us,
        bytes: 1 << 20,
        gbps: (1 << 20) as f64 / (us * 1e3),
        pct_roofline: 10.0,
        roofline_gbps: 3000.0,
        peer_us: peer,
        card: "synthetic".into(),
        date: "2026-11-26".into(),
        commit: "test".into(),
        tuning: "embedded".into(),
    }
}

#[test]
fn tune_from_csv_writes_the_crossovers_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let mut rows = Vec::new();
    // GEMV 10 + 4N against cuBLAS 20 + N (f16): GEMV better through N = 3.
    for (m, k) in [(4096, 4096), (896, 4864)] {
        for n in 1..=16usize {
            let (g, c) = (10.0 + 4.0 * n as f64, 20.0 + n as f64);
            rows.push(row("matmul", "matmul/gemv_mma/f16 (auto)", "f16", format!("m={m} k={k} n={n}"), g, Some(c)));
        }
    }
    // vec better up to 2048 columns.
    for cols in [256usize, 512, 1024, 2048, 4096, 8192] {
        let shape = format!("rows=512 cols={cols} mode=plain");
        let (v, b) = if cols <= 2048 { (5.0, 8.0) } else { (9.0, 6.0) };
        rows.push(row("softmax", "softmax/vec_e8_p8/f16", "f16", shape.clone(), v, None));
        rows.push(row("softmax", "softmax/block_e8_p8_256/f16 (auto)", "f16", shape, b, None));
    }
    // Quantized GEMV, Q4_K: the dot kernel 2 + 2N against the tensor-core kernel 19: dot through N = 8.
    for (m, k) in [(4096, 4096), (14336, 4096)] {
        for n in [1usize, 2, 4, 8, 16] {
            let shape = format!("m={m} k={k} n={n}");
            let dot = 2.0 + 2.0 * n as f64;
            rows.push(row("quant_matmul", &format!("quant_matmul/dot_q4_k_n{n}"), "f16", shape.clone(), dot, None));
            rows.push(row("quant_matmul", &format!("quant_matmul/mma_q4_k_n{n}"), "f16", shape, 19.0, None));
        }
    }
    write_csv(&csv, &rows).unwrap();
    let out = dir.path().join("tuning.json");
    let plots = dir.path().join("plots");
    let o = tune_from_csv(None, &csv, &out, &[("--plots", &plots)]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    let t = TuningTable::parse(&std::fs::read_to_string(&out).unwrap(), "written").unwrap();
    assert_eq!(t.matmul.smalln_max_n_for(decode_kernels::DType::F16, 4096 * 4096), 3, "{stdout}");
    assert_eq!(t.softmax.vec_max_cols, 2048, "{stdout}");
    let f32_before = TuningTable::sm90().matmul.smalln_max_n_for(decode_kernels::DType::F32, 4096 * 4096);
    assert_eq!(t.matmul.smalln_max_n_for(decode_kernels::DType::F32, 4096 * 4096), f32_before, "unmeasured: unchanged");
    assert!(t.device.contains("synthetic"), "{}", t.device);
    assert_eq!(t.quant.dot_max_n(decode_kernels::dtype::QuantKind::Q4_K), 8, "{stdout}");
    assert_eq!(t.quant.dot_max_n(decode_kernels::dtype::QuantKind::Q6_K), 16, "unmeasured: unchanged");
    assert!(
        stdout.contains("matmul.size_classes[le64M].smalln_max_n.f16")
            && stdout.contains("softmax.vec_max_cols")
            && stdout.contains("quant.dot_max_n.q4_k")
            && stdout.contains("3 of 3 decisions changed"),
        "{stdout}"
    );
    // --ops narrows the decisions to those named (quant: the quant_matmul rows).
    let o = tune_from_csv(Some("quant"), &csv, &dir.path().join("quant_only.json"), &[]);
    let only = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && only.contains("1 of 1 decisions changed") && only.contains("quant.dot_max_n.q4_k"),
        "{only}"
    );
    for f in ["matmul_size_classes_le64M_smalln_max_n_f16.svg", "softmax_vec_max_cols.svg", "quant_dot_max_n_q4_k.svg"]
    {
        let svg = std::fs::read_to_string(plots.join(f)).unwrap();
        assert!(svg.starts_with("<svg"), "{f}");
    }
    // The written table is what the dispatchers would read.
    let o = tune_from_csv(None, &csv, &dir.path().join("again.json"), &[("--base", &out)]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && stdout.contains("0 of 3 decisions changed"),
        "re-running on the same data changes nothing: {stdout}"
    );
}

#[test]
fn tune_errors_are_clear() {
    let e = |args: &[&str]| {
        let o = bin().args(args).env("DK_DEVICE", "cpu").output().unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let s = e(&["tune", "--ops", "conv"]);
    assert!(s.contains("--ops") && s.contains("matmul, softmax, sdpa"), "{s}");
    let s = e(&["tune"]);
    assert!(s.contains("--from-csv"), "{s}");
    let s = e(&["tune", "--from-csv", "/nonexistent/rows.csv"]);
    assert!(s.contains("/nonexistent/rows.csv"), "{s}");
    let s = e(&["tune", "--margin", "2"]);
    assert!(s.contains("--margin"), "{s}");
}

/// (file, legend entries, x tick labels, y tick labels, marks) of one plot.
type PlotCase = (&'static str, Vec<&'static str>, Vec<&'static str>, Vec<&'static str>, Vec<&'static str>);

/// Every plot kind (a GEMV/cuBLAS threshold by N, a vec/block threshold by
/// columns, a threads-per-CTA choice, a fused/composed threshold by rows per
/// KV head) from a small synthetic CSV: each SVG names every shape in its
/// legend, labels the ticks of both axes, marks the old and the new value
/// and says what auto dispatch runs where.
#[test]
fn every_plot_kind_has_a_legend_ticks_and_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let mut rows = Vec::new();
    // GEMV 10 + 4N against cuBLAS 20 + N: GEMV through N = 3 (the table says 1).
    for (m, k) in [(4096, 4096), (896, 4864)] {
        for n in 1..=16usize {
            let (g, c) = (10.0 + 4.0 * n as f64, 20.0 + n as f64);
            rows.push(row("matmul", "matmul/gemv_mma/f16 (auto)", "f16", format!("m={m} k={k} n={n}"), g, Some(c)));
        }
    }
    for r in [32usize, 16384] {
        let scale = r as f64 / 32.0;
        for cols in [128usize, 256, 512, 1024, 2048, 4096, 8192] {
            let shape = format!("rows={r} cols={cols} mode=plain");
            let (v, b) = if cols <= 1024 { (5.0, 8.0) } else { (9.0, 6.0) };
            rows.push(row("softmax", "softmax/vec_e8_p8/f16", "f16", shape.clone(), v * scale, None));
            rows.push(row("softmax", "softmax/block_e8_p8_256/f16 (auto)", "f16", shape, b * scale, None));
            for th in [128u32, 256, 512, 1024] {
                let us = if th == 512 { 4.0 } else { 5.0 + th as f64 / 1000.0 };
                let shape = format!("rows={r} cols={cols} mode=plain threads={th}");
                rows.push(row("softmax", "softmax/block", "f16", shape, us * scale, None));
            }
        }
    }
    for (hkv, lk) in [(32usize, 4096usize), (8, 4096), (8, 32768)] {
        for lq in [1usize, 4, 16] {
            let x = 32 / hkv * lq;
            let (f, c) = if x >= 16 { (30.0, 10.0) } else { (10.0, 30.0) };
            let shape = format!("hq=32 hkv={hkv} lq={lq} lk={lk} d=128");
            rows.push(row("sdpa", "sdpa/fused_mma_split8/f16 (auto)", "f16", shape.clone(), f, None));
            rows.push(row("sdpa", "sdpa/composed/f16", "f16", shape, c, None));
        }
    }
    write_csv(&csv, &rows).unwrap();
    let plots = dir.path().join("plots");
    let o = tune_from_csv(None, &csv, &dir.path().join("t.json"), &[("--plots", &plots)]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    decode_kernels::table::check_alignment(
        stdout.lines().skip(1).take_while(|l| !l.starts_with('(')).collect::<Vec<_>>().join("\n").as_str(),
    )
    .unwrap();
    let tick = |s: &str| format!(">\n{s}\n</text>");
    let cases: [PlotCase; 4] = [
        (
            "matmul_size_classes_le64M_smalln_max_n_f16.svg",
            vec!["4096x4096", "896x4864", "gemv (solid, dots)", "cublas (dashed, crosses)"],
            vec!["1", "8", "16"],
            vec!["20", "50"],
            vec!["old: gemv up to N = 1", "new: gemv up to N = 3", "auto runs gemv", "auto runs cublas"],
        ),
        (
            "softmax_vec_max_cols.svg",
            vec!["rows=32", "rows=16384", "all shapes: f16 mode=plain"],
            vec!["128", "1024", "8192"],
            vec!["10", "100"],
            vec!["new: vec up to cols = 1024", "auto runs vec", "auto runs block"],
        ),
        (
            "softmax_block_threads_cols_2048.svg",
            vec!["rows=32 cols=2048", "rows=16384 cols=1024"],
            vec!["128", "256", "512", "1024"],
            vec!["5", "100"],
            vec!["new: 512 threads", "old: "],
        ),
        (
            "sdpa_composed_min_rows.svg",
            vec!["hkv=32 lk=4096", "hkv=8 lk=32768", "all shapes: f16 hq=32 d=128"],
            vec!["1", "4", "16", "64"],
            vec!["10", "20"],
            vec!["new: fused up to query rows per KV", "head = 4", "auto runs composed"],
        ),
    ];
    for (file, legend, xticks, yticks, marks) in cases {
        let svg = std::fs::read_to_string(plots.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(svg.starts_with("<svg"), "{file}");
        for want in legend.iter().chain(&marks) {
            assert!(svg.contains(want), "{file}: {want:?} missing");
        }
        for t in xticks.iter().chain(&yticks) {
            assert!(svg.contains(&tick(t)), "{file}: tick label {t:?} missing");
        }
        // Integers print as integers.
        assert!(!svg.contains(&tick("100.0")) && !svg.contains(&tick("1.0")), "{file}: float-formatted ticks");
    }
}

#[test]
fn tune_from_csv_rejects_bad_times_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let out = dir.path().join("tuning.json");
    let mut rows = Vec::new();
    for cols in [256usize, 512, 1024, 2048, 4096, 8192] {
        let shape = format!("rows=512 cols={cols} mode=plain");
        let (v, b) = if cols <= 2048 { (5.0, 8.0) } else { (9.0, 6.0) };
        rows.push(row("softmax", "softmax/vec_e8_p8/f16", "f16", shape.clone(), v, None));
        rows.push(row("softmax", "softmax/block_e8_p8_256/f16 (auto)", "f16", shape, b, None));
    }
    write_csv(&csv, &rows).unwrap();
    let good = std::fs::read_to_string(&csv).unwrap();
    // Row 3 of the file (line 4, after the header) gets a bad median time.
    for bad in ["NaN", "-5.000", "inf", "0.000", "fast"] {
        let text: Vec<String> = good
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 3 {
                    let mut f: Vec<&str> = l.splitn(6, ',').collect();
                    f[4] = bad;
                    f.join(",")
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(&csv, text.join("\n") + "\n").unwrap();
        let o = tune_from_csv(None, &csv, &out, &[]);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{bad}: {e}");
        assert!(e.contains("line 4") && e.contains("median_us") && e.contains(bad), "{bad}: {e}");
        assert!(!out.exists(), "{bad}: no table is written");
    }
}

//! One SVG per decision: time against size for each variant (one line per
//! measured class; the variant used at and below the threshold in blue, the
//! other in red), log-scaled, the chosen crossover as a dashed vertical line.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::decisions::Decision;
use crate::error::{Error, Result};

/// A file name from the decision's field, other characters than letters and
/// digits folded to one '_': `softmax.block_threads[cols <= 256]` ->
/// `softmax_block_threads_cols_256.svg`.
pub fn file_name(d: &Decision) -> String {
    let mut stem = String::new();
    for c in d.field.chars() {
        if c.is_ascii_alphanumeric() {
            stem.push(c);
        } else if !stem.ends_with('_') {
            stem.push('_');
        }
    }
    format!("{}.svg", stem.trim_matches('_'))
}

/// Draws `d` into `dir` and returns the file's path.
pub fn draw(d: &Decision, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(Error::io("creating the plot folder", dir))?;
    let path = dir.join(file_name(d));
    let err = |e: String| Error::invalid("tune", "--plots", "a writable SVG", format!("{}: {e}", path.display()));
    let pts: Vec<(usize, f64)> =
        d.series.iter().flat_map(|s| s.points.iter().copied()).filter(|p| p.1 > 0.0 && p.0 > 0).collect();
    if pts.is_empty() {
        return Err(err("no positive points to plot".into()));
    }
    let (xmin, xmax) = pts.iter().fold((f64::MAX, 0f64), |(a, b), p| (a.min(p.0 as f64), b.max(p.0 as f64)));
    let (ymin, ymax) = pts.iter().fold((f64::MAX, 0f64), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let root = SVGBackend::new(&path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let name_of =
        |low: bool| d.series.iter().find(|s| s.low == low).map(|s| s.name.split(',').next().unwrap_or("").to_string());
    let legend = match (name_of(true), name_of(false)) {
        (Some(l), Some(h)) => format!(" (blue: {l}, red: {h})"),
        _ => String::new(),
    };
    let title = format!("{}: {} -> {}{legend}", d.field, d.old_value, d.new_value);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((xmin * 0.9..xmax * 1.1).log_scale(), (ymin * 0.8..ymax * 1.25).log_scale())
        .map_err(|e| err(e.to_string()))?;
    chart.configure_mesh().x_desc(d.x_label.as_str()).y_desc("median us").draw().map_err(|e| err(e.to_string()))?;
    for s in &d.series {
        let color = if s.low { BLUE } else { RED };
        let line: Vec<(f64, f64)> =
            s.points.iter().filter(|p| p.0 > 0 && p.1 > 0.0).map(|&(x, y)| (x as f64, y)).collect();
        chart.draw_series(LineSeries::new(line.clone(), color.stroke_width(1))).map_err(|e| err(e.to_string()))?;
        chart.draw_series(line.iter().map(|&p| Circle::new(p, 2, color.filled()))).map_err(|e| err(e.to_string()))?;
    }
    if let Some(x) = d.marker.filter(|x| *x > 0.0) {
        // Dashes: short segments along the vertical line.
        let (lo, hi) = (ymin * 0.8, ymax * 1.25);
        let steps = 40;
        let ratio = (hi / lo).powf(1.0 / steps as f64);
        let segs = (0..steps).step_by(2).map(|i| vec![(x, lo * ratio.powi(i)), (x, lo * ratio.powi(i + 1))]);
        for seg in segs {
            chart.draw_series(LineSeries::new(seg, BLACK.stroke_width(2))).map_err(|e| err(e.to_string()))?;
        }
    }
    root.present().map_err(|e| err(e.to_string()))?;
    drop(chart);
    drop(root);
    Ok(path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::decisions::Series;

    #[test]
    fn draws_an_svg_with_the_marker() {
        let d = Decision {
            field: "matmul.smalln_max_n.f16".into(),
            x_label: "N".into(),
            old_value: "8".into(),
            new_value: "9".into(),
            gain_pct: Some(1.0),
            worst_ratio: 1.0,
            over_3pct: 0,
            points: 2,
            series: vec![
                Series { name: "gemv".into(), low: true, points: vec![(1, 10.0), (16, 40.0)] },
                Series { name: "cublas".into(), low: false, points: vec![(1, 20.0), (16, 35.0)] },
            ],
            marker: Some(9.5),
        };
        let dir = tempfile::tempdir().unwrap();
        let p = draw(&d, dir.path()).unwrap();
        assert_eq!(p.file_name().unwrap(), "matmul_smalln_max_n_f16.svg");
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("8 -&gt; 9"),
            "{}",
            &svg[..200.min(svg.len())]
        );
    }
}

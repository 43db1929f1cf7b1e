//! One SVG per decision, readable without the CSV:
//!
//! - top panel: median time against size, one colour per measured shape
//!   (a line joins only the points of one shape and one variant), the
//!   variant used at and below the threshold solid with dots, the other
//!   dashed with crosses;
//! - bottom panel: for a threshold, the other variant's time over the low
//!   variant's per shape (above 1: the low variant is faster); for a choice,
//!   each option's time over the shape's fastest (1: the fastest);
//! - the old and the new threshold (or choice) as labelled vertical lines,
//!   and for a threshold the sizes auto dispatch gives each variant with the
//!   new value shaded;
//! - a legend naming every shape, the variants, the lines and the shading.
//!
//! Both axes are drawn in transformed coordinates (log2 of the size unless
//! the sizes are evenly spaced, log10 of the times), with ticks placed and
//! labelled here: every measured size that fits, and 1-2-5 (or finer) steps
//! of each decade of time, no two labels overlapping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::decisions::{Decision, Rule};
use crate::error::{Error, Result};
use crate::table::sig;

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

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 780;
const HEADER: u32 = 64;
const LEGEND: u32 = 300;
const FONT: &str = "sans-serif";
/// Estimated width of a character of the tick labels (12 px font), for spacing them.
const CHAR_PX: f64 = 7.0;

/// Colours of the shapes (Tableau 10, then ten darker or duller ones).
const PALETTE: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(99, 121, 57),
    RGBColor(140, 109, 49),
    RGBColor(132, 60, 57),
    RGBColor(123, 65, 115),
    RGBColor(82, 84, 163),
    RGBColor(181, 207, 107),
    RGBColor(231, 186, 82),
    RGBColor(214, 97, 107),
    RGBColor(0, 0, 0),
];
/// Shading of the sizes given to the low and the high variant.
const LOW_SHADE: RGBColor = RGBColor(214, 228, 245);
const HIGH_SHADE: RGBColor = RGBColor(250, 232, 204);
const OLD_LINE: RGBColor = RGBColor(120, 120, 120);

/// A size axis: log2 of the size, or the size itself when the measured sizes are evenly spaced.
#[derive(Debug, Clone, Copy)]
struct XAxis {
    log: bool,
}

impl XAxis {
    fn to(self, x: f64) -> f64 {
        if self.log {
            x.log2()
        } else {
            x
        }
    }
    fn from(self, u: f64) -> f64 {
        if self.log {
            u.exp2()
        } else {
            u
        }
    }
}

/// (size, median us) points of one variant on one shape.
type Points = Vec<(usize, f64)>;

/// Per shape: its colour, and the (size, us) points of each variant (low first).
struct Shape {
    class: String,
    color: RGBColor,
    low: Vec<(usize, f64)>,
    high: Vec<(usize, f64)>,
}

/// Draws `d` into `dir` and returns the file's path.
pub fn draw(d: &Decision, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(Error::io("creating the plot folder", dir))?;
    let path = dir.join(file_name(d));
    let err = |e: String| Error::invalid("tune", "--plots", "a writable SVG", format!("{}: {e}", path.display()));
    let svg = render(d).map_err(err)?;
    std::fs::write(&path, svg).map_err(Error::io("writing the plot", &path))?;
    Ok(path)
}

/// The SVG of `d` as text.
pub fn render(d: &Decision) -> std::result::Result<String, String> {
    let (shapes, common) = shapes_of(d);
    let xs: Vec<usize> = {
        let mut v: Vec<usize> =
            shapes.iter().flat_map(|s| s.low.iter().chain(&s.high)).map(|p| p.0).filter(|&x| x > 0).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let times: Vec<f64> = shapes
        .iter()
        .flat_map(|s| s.low.iter().chain(&s.high))
        .map(|p| p.1)
        .filter(|t| t.is_finite() && *t > 0.0)
        .collect();
    if xs.is_empty() || times.is_empty() {
        return Err("no positive points to plot".into());
    }
    let ratios: Vec<(usize, usize, f64)> = ratio_points(d, &shapes); // (shape index, x, ratio)
    let evenly = xs.len() >= 2 && xs.windows(2).all(|w| w[1] - w[0] == xs[1] - xs[0]);
    let xa = XAxis { log: !evenly };
    let (u_first, u_last) = (xa.to(xs[0] as f64), xa.to(*xs.last().expect("not empty") as f64));
    let pad = if xs.len() == 1 { 1.0 } else { (u_last - u_first) * 0.04 };
    let (u0, u1) = (u_first - pad, u_last + pad);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (header, body) = root.split_vertically(HEADER);
        let (plots, legend) = body.split_horizontally(WIDTH - LEGEND);
        let (top, bottom) = plots.split_vertically((HEIGHT - HEADER) * 58 / 100);
        draw_header(&header, d).map_err(|e| e.to_string())?;

        let x_keys = x_ticks(&xs, xa, WIDTH - LEGEND - 100);
        let boundary = boundaries(d, &xs, xa, (u0, u1));

        // Top: times, log10.
        let (t_lo, t_hi) = times.iter().fold((f64::MAX, 0f64), |(a, b), &t| (a.min(t), b.max(t)));
        let (v0, v1) = ((t_lo / 1.25).log10(), (t_hi * 1.25).log10());
        let top_px = (HEIGHT - HEADER) * 58 / 100 - 60;
        let mut chart = ChartBuilder::on(&top)
            .margin_top(14)
            .margin_right(16)
            .x_label_area_size(28)
            .y_label_area_size(74)
            .build_cartesian_2d(axis(u0, u1, x_keys.clone()), axis(v0, v1, log_ticks(v0, v1, top_px)))
            .map_err(|e| e.to_string())?;
        configure(&mut chart, xa, "", "median time (us)")?;
        shade(&mut chart, &boundary, (v0, v1))?;
        for s in &shapes {
            let line = |pts: &[(usize, f64)]| -> Vec<(f64, f64)> {
                pts.iter().filter(|p| p.0 > 0 && p.1 > 0.0).map(|&(x, t)| (xa.to(x as f64), t.log10())).collect()
            };
            let (low, high) = (line(&s.low), line(&s.high));
            chart.draw_series(LineSeries::new(low.clone(), s.color.stroke_width(2))).map_err(|e| e.to_string())?;
            chart.draw_series(low.iter().map(|&p| Circle::new(p, 3, s.color.filled()))).map_err(|e| e.to_string())?;
            if !high.is_empty() {
                chart
                    .draw_series(DashedLineSeries::new(high.clone(), 6, 4, s.color.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(high.iter().map(|&p| Cross::new(p, 4, s.color.stroke_width(2))))
                    .map_err(|e| e.to_string())?;
            }
        }
        lines(&mut chart, &boundary, (u0, u1), (v0, v1), true)?;

        // Bottom: ratios, log10, with 1 marked.
        let (r_lo, r_hi) = ratios.iter().fold((1f64, 1f64), |(a, b), p| (a.min(p.2), b.max(p.2)));
        let (w0, w1) = ((r_lo / 1.08).log10(), (r_hi * 1.08).log10());
        let bottom_px = (HEIGHT - HEADER) * 42 / 100 - 70;
        let mut chart = ChartBuilder::on(&bottom)
            .margin_top(8)
            .margin_right(16)
            .x_label_area_size(46)
            .y_label_area_size(74)
            .build_cartesian_2d(axis(u0, u1, x_keys), axis(w0, w1, log_ticks(w0, w1, bottom_px)))
            .map_err(|e| e.to_string())?;
        let y_desc = match &d.rule {
            Rule::Threshold { low, high, .. } => format!("{high} / {low} time"),
            Rule::Choice { .. } => "time / fastest".to_string(),
        };
        configure(&mut chart, xa, &d.x_label, &y_desc)?;
        shade(&mut chart, &boundary, (w0, w1))?;
        chart
            .draw_series(DashedLineSeries::new([(u0, 0.0), (u1, 0.0)], 4, 4, BLACK.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        for (i, s) in shapes.iter().enumerate() {
            let pts: Vec<(f64, f64)> =
                ratios.iter().filter(|p| p.0 == i).map(|p| (xa.to(p.1 as f64), p.2.log10())).collect();
            chart.draw_series(LineSeries::new(pts.clone(), s.color.stroke_width(2))).map_err(|e| e.to_string())?;
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, s.color.filled()))).map_err(|e| e.to_string())?;
        }
        lines(&mut chart, &boundary, (u0, u1), (w0, w1), false)?;

        draw_legend(&legend, d, &shapes, &common, &boundary).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The shapes of a decision, in the order of their names, each with its colour.
/// The shapes of a decision in natural order (numbers by value: rows=32
/// before rows=128), each with its colour, and named without the words every
/// shape shares (returned second, e.g. `f16 mode=plain`).
fn shapes_of(d: &Decision) -> (Vec<Shape>, String) {
    let mut by: BTreeMap<&str, (Points, Points)> = BTreeMap::new();
    for s in &d.series {
        let e = by.entry(&s.class).or_default();
        let pts = if s.low { &mut e.0 } else { &mut e.1 };
        pts.extend(s.points.iter().copied());
    }
    let mut by: Vec<_> = by.into_iter().collect();
    by.sort_by(|a, b| natural_cmp(a.0, b.0));
    let common: Vec<&str> = match by.first() {
        Some(first) if by.len() > 1 => first
            .0
            .split_whitespace()
            .filter(|w| by.iter().all(|(c, _)| c.split_whitespace().any(|x| x == *w)))
            .collect(),
        _ => Vec::new(),
    };
    let shapes = by
        .into_iter()
        .enumerate()
        .map(|(i, (class, (mut low, mut high)))| {
            low.sort_by_key(|p| p.0);
            high.sort_by_key(|p| p.0);
            let short: Vec<&str> = class.split_whitespace().filter(|w| !common.contains(w)).collect();
            let class = if short.is_empty() { class.to_string() } else { short.join(" ") };
            Shape { class, color: PALETTE[i % PALETTE.len()], low, high }
        })
        .collect();
    (shapes, common.join(" "))
}

/// Compares strings with runs of digits compared by value.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        let mut text = String::new();
        let mut num: Option<u64> = None;
        for c in s.chars() {
            match (c.to_digit(10), num) {
                (Some(d), Some(n)) => num = Some(n.saturating_mul(10).saturating_add(d as u64)),
                (Some(d), None) => num = Some(d as u64),
                (None, Some(n)) => {
                    out.push((std::mem::take(&mut text), n));
                    num = None;
                    text.push(c);
                }
                (None, None) => text.push(c),
            }
        }
        out.push((text, num.unwrap_or(0)));
        out
    }
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

/// The bottom panel's points: (shape, size, ratio).
fn ratio_points(d: &Decision, shapes: &[Shape]) -> Vec<(usize, usize, f64)> {
    let mut out = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        match d.rule {
            Rule::Threshold { .. } => {
                for &(x, low) in &s.low {
                    if let Some(&(_, high)) = s.high.iter().find(|p| p.0 == x) {
                        let r = high / low;
                        if r.is_finite() && r > 0.0 {
                            out.push((i, x, r));
                        }
                    }
                }
            }
            Rule::Choice { .. } => {
                let best = s.low.iter().map(|p| p.1).filter(|t| *t > 0.0).fold(f64::INFINITY, f64::min);
                out.extend(s.low.iter().filter(|p| p.1 > 0.0 && best.is_finite()).map(|&(x, t)| (i, x, t / best)));
            }
        }
    }
    out
}

/// The vertical lines and shaded spans of a decision, in axis coordinates.
struct Boundary {
    /// (position, legend text, is the new value)
    lines: Vec<(f64, String, bool)>,
    /// (from, to, colour, what runs there)
    spans: Vec<(f64, f64, RGBColor, String)>,
}

/// Where a threshold `t` (sizes up to t take the low variant) falls on the axis:
/// between the largest measured size at or below it and the next, clamped to
/// the axis when every size is on one side.
fn threshold_position(t: usize, xs: &[usize], xa: XAxis, (u0, u1): (f64, f64)) -> f64 {
    match (xs.iter().rev().find(|&&x| x <= t), xs.iter().find(|&&x| x > t)) {
        (Some(&a), Some(&b)) => (xa.to(a as f64) + xa.to(b as f64)) / 2.0,
        (None, _) => u0,
        (_, None) => u1,
    }
}

fn threshold_text(t: usize, xs: &[usize], x_label: &str, low: &str, high: &str) -> String {
    if xs.iter().all(|&x| x <= t) {
        format!("{low} at every size measured")
    } else if xs.iter().all(|&x| x > t) {
        format!("{high} at every size measured")
    } else {
        format!("{low} up to {x_label} = {t}")
    }
}

fn boundaries(d: &Decision, xs: &[usize], xa: XAxis, range: (f64, f64)) -> Boundary {
    let mut b = Boundary { lines: Vec::new(), spans: Vec::new() };
    match &d.rule {
        Rule::Threshold { low, high, old, new } => {
            let at = threshold_position(*new, xs, xa, range);
            let text = |t: usize| threshold_text(t, xs, &d.x_label, low, high);
            if *old == Some(*new) {
                b.lines.push((at, format!("threshold (unchanged): {}", text(*new)), true));
            } else {
                if let Some(o) = old {
                    b.lines.push((threshold_position(*o, xs, xa, range), format!("old: {}", text(*o)), false));
                }
                b.lines.push((at, format!("new: {}", text(*new)), true));
            }
            if at > range.0 {
                b.spans.push((range.0, at, LOW_SHADE, format!("auto runs {low}")));
            }
            if at < range.1 {
                b.spans.push((at, range.1, HIGH_SHADE, format!("auto runs {high}")));
            }
        }
        Rule::Choice { old, new } => {
            let what = |v: usize| format!("{v} {}", d.x_label);
            if *old == Some(*new) {
                b.lines.push((xa.to(*new as f64), format!("chosen (unchanged): {}", what(*new)), true));
            } else {
                if let Some(o) = old {
                    b.lines.push((xa.to(*o as f64), format!("old: {}", what(*o)), false));
                }
                b.lines.push((xa.to(*new as f64), format!("new: {}", what(*new)), true));
            }
        }
    }
    b
}

/// Tick positions on the size axis: the measured sizes, thinned so no two labels overlap.
fn x_ticks(xs: &[usize], xa: XAxis, px: u32) -> Vec<f64> {
    let (a, b) = (xa.to(xs[0] as f64), xa.to(*xs.last().expect("not empty") as f64));
    let span = (b - a).max(1e-9);
    let px_of = |u: f64| (u - a) / span * px as f64 * 0.92;
    let mut out: Vec<(f64, usize)> = Vec::new();
    for &x in xs {
        let u = xa.to(x as f64);
        let fits = match out.last() {
            None => true,
            Some(&(lu, lx)) => px_of(u) - px_of(lu) >= (digits(lx) + digits(x)) as f64 / 2.0 * CHAR_PX + 10.0,
        };
        if fits {
            out.push((u, x));
        }
    }
    out.into_iter().map(|p| p.0).collect()
}

fn digits(x: usize) -> usize {
    x.to_string().len()
}

/// Ticks of a log10 axis from `v0` to `v1` (log10 of the values) over `px`
/// pixels: the finest of 1, 1-2-5, 1-1.5-2-3-5-7 and 1..9 per decade that
/// keeps labels at least 22 px apart, and at least two ticks when it can.
fn log_ticks(v0: f64, v1: f64, px: u32) -> Vec<f64> {
    const STEPS: [&[f64]; 4] =
        [&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0], &[1.0, 2.0, 5.0], &[1.0]];
    let per_px = (v1 - v0).max(1e-9) / px as f64;
    let ticks_with = |mantissas: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        for decade in (v0.floor() as i32 - 1)..=(v1.ceil() as i32) {
            for m in mantissas {
                let v = decade as f64 + m.log10();
                if v >= v0 && v <= v1 {
                    out.push(v);
                }
            }
        }
        out
    };
    let min_gap = |t: &[f64]| t.windows(2).map(|w| (w[1] - w[0]) / per_px).fold(f64::INFINITY, f64::min);
    // Within a decade or so, evenly spaced values (0.8, 0.9, 1, 1.1, ...) can label more.
    let linear = |step: f64| -> Vec<f64> {
        let (a, b) = (10f64.powf(v0), 10f64.powf(v1));
        let first = (a / step).ceil() as i64;
        (first..).map(|k| k as f64 * step).take_while(|&x| x <= b).map(f64::log10).collect()
    };
    let span = 10f64.powf(v1) - 10f64.powf(v0);
    let unit = 10f64.powf(span.log10().floor() - 1.0);
    let mut candidates: Vec<Vec<f64>> = STEPS.iter().map(|m| ticks_with(m)).collect();
    candidates.extend([1.0, 2.0, 5.0, 10.0].iter().map(|k| linear(k * unit)));
    // On a tie the first wins (whole decades before evenly spaced values): max_by_key keeps the last.
    let best = candidates
        .into_iter()
        .rev()
        .filter(|t| t.len() >= 2 && t.len() <= 9 && min_gap(t) >= 22.0)
        .max_by_key(|t| t.len());
    if let Some(t) = best {
        return t;
    }
    // Many decades: every k-th decade.
    let t = ticks_with(&[1.0]);
    if t.len() >= 2 {
        let k = (22.0 * per_px / (t[1] - t[0])).ceil().max(1.0) as usize;
        return t.into_iter().step_by(k).collect();
    }
    // Less than one step of 1..9 fits: the ends and the middle.
    vec![v0, (v0 + v1) / 2.0, v1]
}

/// A linear axis over transformed values (log2 sizes, log10 times) whose
/// ticks are exactly the given key points, and no light grid lines.
#[derive(Debug, Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    keys: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = (v - self.lo) / (self.hi - self.lo).max(1e-12);
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

fn axis(lo: f64, hi: f64, keys: Vec<f64>) -> Axis {
    Axis { lo, hi, keys }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// A tick label of a log10 axis: 10^v with 3 significant digits, trailing
/// zeros of the decimals dropped (2, 0.5, 1.5, 200, 1000).
fn tick_label(v: f64) -> String {
    let s = sig(10f64.powf(v), 3);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Grid, ticks and labels: sizes as integers, times as [`tick_label`]s.
fn configure<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    xa: XAxis,
    x_desc: &str,
    y_desc: &str,
) -> std::result::Result<(), String> {
    let x_fmt = move |u: &f64| format!("{}", xa.from(*u).round() as u64);
    let y_fmt = |v: &f64| tick_label(*v);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(1))
        .draw()
        .map_err(|e| e.to_string())
}

fn shade<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    b: &Boundary,
    (y0, y1): (f64, f64),
) -> std::result::Result<(), String> {
    for (from, to, color, _) in &b.spans {
        chart
            .draw_series(std::iter::once(Rectangle::new([(*from, y0), (*to, y1)], color.mix(0.55).filled())))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn lines<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    b: &Boundary,
    (u0, u1): (f64, f64),
    (y0, y1): (f64, f64),
    label: bool,
) -> std::result::Result<(), String> {
    let unchanged = b.lines.len() == 1 && b.lines[0].1.contains("unchanged");
    for (i, (at, _, new)) in b.lines.iter().enumerate() {
        if *new {
            chart
                .draw_series(LineSeries::new([(*at, y0), (*at, y1)], BLACK.stroke_width(2)))
                .map_err(|e| e.to_string())?;
        } else {
            chart
                .draw_series(DashedLineSeries::new([(*at, y0), (*at, y1)], 7, 5, OLD_LINE.stroke_width(2)))
                .map_err(|e| e.to_string())?;
        }
        if label {
            let text = match (unchanged, *new) {
                (true, _) => "unchanged",
                (false, true) => "new",
                (false, false) => "old",
            };
            // Beside the line, on the side with room; the old label a line lower.
            let right_half = *at > (u0 + u1) / 2.0;
            let (dx, h) = ((u1 - u0) * 0.006, if right_half { HPos::Right } else { HPos::Left });
            let x = if right_half { at - dx } else { at + dx };
            let y = y1 - (y1 - y0) * (0.01 + 0.06 * i as f64);
            let style = TextStyle::from((FONT, 13).into_font())
                .color(if *new { &BLACK } else { &OLD_LINE })
                .pos(Pos::new(h, VPos::Top));
            chart
                .draw_series(std::iter::once(Text::new(text.to_string(), (x, y), style)))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn draw_header<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, d: &Decision) -> std::result::Result<(), String> {
    let change = if d.changed() {
        format!("{} -> {}", d.old_value, d.new_value)
    } else {
        format!("{} (unchanged)", d.new_value)
    };
    let title = format!("{}: {change}", d.field);
    let sub = match &d.rule {
        Rule::Threshold { low, high, .. } => format!(
            "median time of {low} and {high} per shape against {}; below: {high} time over {low} time (above 1: {low} is faster)",
            d.x_label
        ),
        Rule::Choice { .. } => format!(
            "median time per shape against {}; below: time over the shape's fastest (1: fastest); auto uses one value for all",
            d.x_label
        ),
    };
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.draw(&Text::new(title, (16, 10), (FONT, 20).into_font())).map_err(e)?;
    area.draw(&Text::new(sub, (16, 38), TextStyle::from((FONT, 13).into_font()).color(&RGBColor(70, 70, 70))))
        .map_err(e)?;
    Ok(())
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    d: &Decision,
    shapes: &[Shape],
    common: &str,
    b: &Boundary,
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let text = |s: &str, x: i32, y: i32, size: u32| Text::new(s.to_string(), (x, y), (FONT, size).into_font());
    let row_h = 19;
    let mut y = 14;
    let heading = |y: &mut i32, s: &str| -> std::result::Result<(), String> {
        area.draw(&text(s, 8, *y, 14)).map_err(e)?;
        *y += row_h + 2;
        Ok(())
    };
    heading(&mut y, "shape (colour)")?;
    if !common.is_empty() {
        let style = TextStyle::from((FONT, 13).into_font()).color(&OLD_LINE);
        for part in wrap(&format!("all shapes: {common}"), 38) {
            area.draw(&Text::new(part, (10, y), style.clone())).map_err(e)?;
            y += row_h;
        }
    }
    for s in shapes {
        let mid = y + 7;
        area.draw(&PathElement::new(vec![(10, mid), (36, mid)], s.color.stroke_width(2))).map_err(e)?;
        area.draw(&Circle::new((23, mid), 3, s.color.filled())).map_err(e)?;
        let name: String = if s.class.chars().count() > 36 {
            s.class.chars().take(35).chain(['~']).collect()
        } else {
            s.class.clone()
        };
        area.draw(&text(&name, 44, y, 13)).map_err(e)?;
        y += row_h;
    }
    y += 8;
    if let Rule::Threshold { low, high, .. } = &d.rule {
        heading(&mut y, "variant (line)")?;
        let mid = y + 7;
        area.draw(&PathElement::new(vec![(10, mid), (36, mid)], BLACK.stroke_width(2))).map_err(e)?;
        area.draw(&Circle::new((23, mid), 3, BLACK.filled())).map_err(e)?;
        area.draw(&text(&format!("{low} (solid, dots)"), 44, y, 13)).map_err(e)?;
        y += row_h;
        let mid = y + 7;
        area.draw(&DashedPathElement::new(vec![(10, mid), (36, mid)], 6, 4, BLACK.stroke_width(2))).map_err(e)?;
        area.draw(&Cross::new((23, mid), 4, BLACK.stroke_width(2))).map_err(e)?;
        area.draw(&text(&format!("{high} (dashed, crosses)"), 44, y, 13)).map_err(e)?;
        y += row_h + 8;
    }
    heading(&mut y, if matches!(d.rule, Rule::Threshold { .. }) { "threshold" } else { "choice" })?;
    for (_, label, new) in &b.lines {
        if *new {
            area.draw(&PathElement::new(vec![(23, y - 2), (23, y + 16)], BLACK.stroke_width(2))).map_err(e)?;
        } else {
            area.draw(&DashedPathElement::new(vec![(23, y - 2), (23, y + 16)], 5, 3, OLD_LINE.stroke_width(2)))
                .map_err(e)?;
        }
        for (i, part) in wrap(label, 34).iter().enumerate() {
            area.draw(&text(part, 44, y + i as i32 * 16, 13)).map_err(e)?;
        }
        y += row_h + 16 * (wrap(label, 34).len() as i32 - 1);
    }
    if !b.spans.is_empty() {
        y += 8;
        heading(&mut y, "shaded: with the new value")?;
        for (_, _, color, what) in &b.spans {
            area.draw(&Rectangle::new([(10, y), (36, y + 14)], color.filled())).map_err(e)?;
            area.draw(&text(what, 44, y, 13)).map_err(e)?;
            y += row_h;
        }
    }
    Ok(())
}

/// `s` in lines of at most `width` characters, broken at spaces.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in s.split(' ') {
        match out.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => out.push(word.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::decisions::Series;

    fn series(class: &str, variant: &str, low: bool, points: Vec<(usize, f64)>) -> Series {
        Series { name: format!("{variant}, {class}"), class: class.into(), variant: variant.into(), low, points }
    }

    #[test]
    fn draws_an_svg_with_legend_ticks_and_thresholds() {
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
                series("4096x4096", "gemv", true, (1..=16).map(|n| (n, 10.0 + n as f64)).collect()),
                series("4096x4096", "cublas", false, (1..=16).map(|n| (n, 19.0 + n as f64 / 2.0)).collect()),
            ],
            marker: Some(9.5),
            rule: Rule::Threshold { low: "gemv".into(), high: "cublas".into(), old: Some(8), new: 9 },
        };
        let svg = render(&d).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("8 -&gt; 9"), "{}", &svg[..200.min(svg.len())]);
        for want in
            ["4096x4096", "old: gemv up to N = 8", "new: gemv up to N = 9", "auto runs cublas", ">\n16\n<", ">\n1\n<"]
        {
            assert!(svg.contains(want), "{want} missing");
        }
        let dir = tempfile::tempdir().unwrap();
        let p = draw(&d, dir.path()).unwrap();
        assert_eq!(p.file_name().unwrap(), "matmul_smalln_max_n_f16.svg");
    }

    #[test]
    fn log_ticks_label_every_decade_without_crowding() {
        let t = log_ticks(0.0, 3.0, 300);
        for d in [0.0, 1.0, 2.0, 3.0] {
            assert!(t.iter().any(|v| (v - d).abs() < 1e-9), "decade {d} in {t:?}");
        }
        assert!(t.windows(2).all(|w| (w[1] - w[0]) / 3.0 * 300.0 >= 22.0), "{t:?}");
        // A narrow range still gets at least two ticks.
        let t = log_ticks(1.05f64.log10(), 1.4f64.log10(), 200);
        assert!(t.len() >= 2, "{t:?}");
        // Sizes: 128..32768 on a log2 axis, every one labelled; 1..64 evenly spaced thinned.
        let xs = [128, 256, 512, 1024, 2048, 4096, 8192, 32768];
        assert_eq!(x_ticks(&xs, XAxis { log: true }, 700).len(), 8);
        let xs: Vec<usize> = (1..=64).collect();
        let t = x_ticks(&xs, XAxis { log: false }, 700);
        assert!(t.len() < 40 && t[0] == 1.0, "{t:?}");
    }
}

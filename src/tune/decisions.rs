//! The dispatch decisions the tuner makes, each from benchmark rows:
//! - matmul: the largest N the GEMV family serves (against cuBLAS), per dtype;
//! - softmax: the longest row the warp-per-row (vec) variant serves;
//! - softmax: threads per CTA of the block variant, per bucket of row lengths;
//! - softmax: up to how many CTAs of a row-per-CTA (or cluster) launch the
//!   rows are split over more CTAs instead;
//! - sdpa: from how many query rows per KV head the composed path is used;
//! - quant: the most tokens the integer-dot kernel serves (against the
//!   tensor-core kernel), per block format, x as it is;
//! - quant: from how many tokens the integer tensor-core kernel takes x
//!   already rounded (against the integer-dot kernel), per block format;
//! - quant: what a group's end costs that kernel's choice of k-parts, per
//!   block format and n-tile count.

use std::collections::BTreeMap;

use super::analysis::{best_choice, crossover, Choice, Crossover, Point};
use crate::bench::matmul::TableValue;
use crate::bench::BenchRow;
use crate::tuning::{QuantTuning, SmallnClass, TuningTable, SIZE_CLASS_LIMITS};

/// Times of one variant on one measured class (a shape) over sizes, for plots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Series {
    /// "variant, class".
    pub name: String,
    /// What is measured together, e.g. a matrix shape `4096x4096`: one line per class.
    pub class: String,
    /// The variant timed, e.g. `gemv`.
    pub variant: String,
    /// Whether this is the variant used at and below the threshold.
    pub low: bool,
    /// (size, median us), sizes ascending.
    pub points: Vec<(usize, f64)>,
}

/// What a decision sets, in terms of the sizes it is measured over.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Rule {
    /// Sizes x <= threshold go to the variant `low`, larger ones to `high`.
    /// `None` for the old threshold: there was none.
    Threshold {
        /// The variant used at and below the threshold.
        low: String,
        /// The variant used above it.
        high: String,
        /// The threshold in force before.
        old: Option<usize>,
        /// The threshold chosen from the data.
        new: usize,
    },
    /// One of the measured sizes chosen for every class (e.g. threads per CTA).
    Choice {
        /// The value in force before.
        old: Option<usize>,
        /// The value chosen from the data.
        new: usize,
    },
}

/// One decision: what was in force, what the data says, what it gains.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// The table field, e.g. `matmul.smalln_max_n.f16`.
    pub field: String,
    /// What the sizes are (e.g. `N`, `cols`), for plots and reports.
    pub x_label: String,
    /// The value in force before, as the table writes it.
    pub old_value: String,
    /// The value chosen from the data, as the table writes it.
    pub new_value: String,
    /// Time saved on the measured points by the new value, % of the old total.
    pub gain_pct: Option<f64>,
    /// With the new value: the worst chosen/best time ratio over the points,
    /// and how many points are more than 3% over the best.
    pub worst_ratio: f64,
    /// Points (or shapes, for a choice) where the chosen variant is more than 3% slower than the best.
    pub over_3pct: usize,
    /// Points (or shapes, for a choice) measured.
    pub points: usize,
    /// The measured times, one series per variant and shape, for plots.
    pub series: Vec<Series>,
    /// Where the new threshold falls (between two sizes), for plots.
    pub marker: Option<f64>,
    /// The old and the new value as thresholds or choices over the sizes.
    pub rule: Rule,
}

impl Decision {
    /// Whether the new value differs from the old.
    pub fn changed(&self) -> bool {
        self.old_value != self.new_value
    }
}

/// The variant name without the " (auto)" or " (forced)" mark.
fn variant(r: &BenchRow) -> &str {
    r.variant.split(" (").next().unwrap_or(&r.variant)
}

fn series_of(points: &[Point], low: &str, high: &str) -> Vec<Series> {
    let mut by: BTreeMap<(String, bool), Vec<(usize, f64)>> = BTreeMap::new();
    for p in points {
        by.entry((p.class.clone(), true)).or_default().push((p.x, p.low_us));
        by.entry((p.class.clone(), false)).or_default().push((p.x, p.high_us));
    }
    by.into_iter()
        .map(|((class, is_low), mut pts)| {
            pts.sort_by_key(|p| p.0);
            let variant = if is_low { low } else { high };
            Series { name: format!("{variant}, {class}"), class, variant: variant.into(), low: is_low, points: pts }
        })
        .collect()
}

/// The marker between the threshold and the next measured size above it.
fn marker(points: &[Point], t: usize) -> Option<f64> {
    let next = points.iter().map(|p| p.x).filter(|&x| x > t).min()?;
    Some((t as f64 + next as f64) / 2.0)
}

#[allow(clippy::too_many_arguments)]
fn decision(
    field: String,
    x_label: &str,
    points: &[Point],
    c: &Crossover,
    old: String,
    new: String,
    low: &str,
    high: &str,
) -> Decision {
    let rule = Rule::Threshold { low: low.into(), high: high.into(), old: c.current, new: c.threshold };
    Decision {
        rule,
        field,
        x_label: x_label.into(),
        old_value: old,
        new_value: new,
        gain_pct: c.gain_pct(),
        worst_ratio: c.worst_ratio,
        over_3pct: c.over_3pct,
        points: c.points,
        series: series_of(points, low, high),
        marker: marker(points, c.threshold),
    }
}

/// A choice decision (one value for every class: threads per CTA, a cost):
/// `options` the measured choices, `best` the chosen one with its score and
/// the current one's ([`best_choice`]); the plot is time against the
/// choice, one line per class, and the ratios are each class's time at the
/// chosen value over its best.
#[allow(clippy::too_many_arguments)]
fn choice_decision(
    field: String,
    x_label: &str,
    variant: &str,
    options: &[Choice],
    (best, score, current_score): (u32, f64, Option<f64>),
    current: u32,
    old_value: String,
    new_value: String,
) -> Decision {
    let mut by: BTreeMap<String, Vec<(usize, f64)>> = BTreeMap::new();
    for o in options {
        by.entry(o.class.clone()).or_default().push((o.choice as usize, o.us));
    }
    let ratios: Vec<f64> = by
        .values()
        .filter_map(|pts| {
            let chosen = pts.iter().find(|p| p.0 == best as usize)?.1;
            Some(chosen / pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min))
        })
        .collect();
    Decision {
        field,
        x_label: x_label.into(),
        old_value,
        new_value,
        gain_pct: current_score.map(|cs| 100.0 * (cs - score) / cs),
        worst_ratio: ratios.iter().cloned().fold(1.0, f64::max),
        over_3pct: ratios.iter().filter(|&&r| r > 1.03).count(),
        points: by.len(),
        series: by
            .into_iter()
            .map(|(name, mut points)| {
                points.sort_by_key(|p| p.0);
                Series { class: name.clone(), variant: variant.into(), name, low: true, points }
            })
            .collect(),
        marker: Some(best as f64),
        rule: Rule::Choice { old: Some(current as usize), new: best as usize },
    }
}

/// Median times of the low and high variant of one measured point, when measured.
type LowHigh = (Option<f64>, Option<f64>);

/// A point's x (rows per KV head) with its low and high variant's times.
type RowsLowHigh = (usize, Option<f64>, Option<f64>);

/// A point's x (CTAs of the row-per-CTA variant, once measured) with the
/// split (low) and block (high) variant's times.
type CtasLowHigh = (Option<usize>, Option<f64>, Option<f64>);

/// GEMV (low) against cuBLAS (high) by N, per dtype; classes are M x K shapes.
fn matmul(rows: &[BenchRow], table: &mut TuningTable, margin: f64, out: &mut Vec<Decision>) {
    let mut groups: BTreeMap<(String, usize, usize, usize), LowHigh> = BTreeMap::new();
    // Rows under another tuning value (`(veck_cta_bytes=B)`) are [`matmul_choices`]'.
    for r in rows.iter().filter(|r| r.op == "matmul" && TableValue::of_row(&r.variant).is_none()) {
        let (Some(m), Some(k), Some(n)) = (r.shape_value("m"), r.shape_value("k"), r.shape_value("n")) else {
            continue;
        };
        let g = groups.entry((r.dtype.clone(), m, k, n)).or_default();
        if variant(r).starts_with("matmul/gemv") {
            g.0 = Some(g.0.map_or(r.median_us, |t: f64| t.min(r.median_us)));
        } else if variant(r).starts_with("matmul/cublas") {
            g.1 = Some(r.median_us);
        }
        if g.1.is_none() {
            g.1 = r.peer_us;
        }
    }
    // One decision per (dtype, weight-size class).
    let class_of =
        |elems: u64| SIZE_CLASS_LIMITS.iter().position(|&l| elems <= l).unwrap_or(SIZE_CLASS_LIMITS.len() - 1);
    let mut per_class: BTreeMap<(String, usize), Vec<Point>> = BTreeMap::new();
    for ((dt, m, k, n), (gemv, cublas)) in groups {
        if let (Some(low_us), Some(high_us)) = (gemv, cublas) {
            per_class.entry((dt, class_of((m * k) as u64))).or_default().push(Point {
                class: format!("{m}x{k}"),
                x: n,
                low_us,
                high_us,
            });
        }
    }
    for ((dt, class), points) in per_class {
        let Ok(dtype) = dt.parse::<crate::dtype::DType>() else { continue };
        let limit = SIZE_CLASS_LIMITS[class];
        let lower = if class == 0 { 0 } else { SIZE_CLASS_LIMITS[class - 1] };
        let current = table.matmul.smalln_max_n_for(dtype, lower + 1);
        let Some(c) = crossover(&points, 0, Some(current), margin) else { continue };
        set_class_value(&mut table.matmul, limit, dtype, c.threshold);
        let name = if limit == u64::MAX { format!("gt{}M", lower >> 20) } else { format!("le{}M", limit >> 20) };
        let field = format!("matmul.size_classes[{name}].smalln_max_n.{dt}");
        out.push(decision(field, "N", &points, &c, current.to_string(), c.threshold.to_string(), "gemv", "cublas"));
    }
}

/// The matmul tuning's choices measured as rows of `bench matmul
/// --veck-cta-bytes / --mma-n1-max-k` (each dtype, shape and N a class):
/// `matmul.veck_cta_bytes` (the bytes of A a veck CTA reads at N <= 2, which
/// set its row groups) and `matmul.mma_n1_max_k` (the widest K that takes
/// tensor cores at N = 1 past L2). For each, of the values measured, the one
/// whose times over each class's best sum least ([`best_choice`]), the one in
/// force kept unless beaten by more than `margin`.
fn matmul_choices(rows: &[BenchRow], table: &mut TuningTable, margin: f64, out: &mut Vec<Decision>) {
    for kind in TableValue::KINDS.map(|kind| kind(0)) {
        let options: Vec<Choice> = rows
            .iter()
            .filter(|r| r.op == "matmul")
            .filter_map(|r| {
                let v = TableValue::of_row(&r.variant).filter(|v| v.key() == kind.key())?;
                // A value past u32 is no row a choice can hold.
                let choice = u32::try_from(v.value()).ok()?;
                Some(Choice { class: format!("{} {}", r.dtype, r.shape), choice, us: r.median_us })
            })
            .collect();
        let value = kind.field(&mut table.matmul);
        let current = u32::try_from(*value).unwrap_or(u32::MAX);
        let Some((best, score, current_score)) = best_choice(&options, Some(current), margin) else { continue };
        *value = best as usize;
        out.push(choice_decision(
            format!("matmul.{}", kind.key()),
            kind.what(),
            kind.family(),
            &options,
            (best, score, current_score),
            current,
            current.to_string(),
            best.to_string(),
        ));
    }
}

/// The quantized GEMV's integer-dot kernel (low) against its tensor-core
/// kernel (high) by N, per block format; classes are M x K shapes. Rows are
/// `bench quant-matmul`'s with x as it is (variants
/// `quant_matmul/dot_<fmt>_n<N>[_rx]` and `quant_matmul/mma_<fmt>_n<N>`; not
/// those with x given rounded, `_xq8`, which [`imma`] reads).
fn quant(rows: &[BenchRow], table: &mut TuningTable, margin: f64, out: &mut Vec<Decision>) {
    for (fmt, points) in quant_points(rows, false, "dot", "mma") {
        let Ok(kind) = fmt.parse::<crate::dtype::QuantKind>() else { continue };
        let current = table.quant.dot_max_n(kind);
        let Some(c) = crossover(&points, 0, Some(current), margin) else { continue };
        table.quant.dot_max_n.insert(fmt.clone(), c.threshold);
        let field = format!("quant.dot_max_n.{fmt}");
        out.push(decision(field, "N", &points, &c, current.to_string(), c.threshold.to_string(), "dot", "mma"));
    }
}

/// The integer-dot kernel (low) against the integer tensor-core kernel
/// (high) by N where x comes already rounded to 8 bits (a decode step's
/// projections), per block format: `quant.imma_min_n` is one more than the
/// most tokens the dot kernel keeps (0, never, where it keeps every measured
/// N). Rows are `bench quant-matmul --x-q8`'s (variants
/// `quant_matmul/dot_<fmt>_n<N>_xq8` and `quant_matmul/imma_<fmt>_n<N>_xq8`).
fn imma(rows: &[BenchRow], table: &mut TuningTable, margin: f64, out: &mut Vec<Decision>) {
    for (fmt, points) in quant_points(rows, true, "dot", "imma") {
        let Ok(kind) = fmt.parse::<crate::dtype::QuantKind>() else { continue };
        let widest = points.iter().map(|p| p.x).max().unwrap_or(0);
        // Below the fewest tokens measured the dot kernel stays (no guess from
        // above them).
        let floor = points.iter().map(|p| p.x).min().unwrap_or(1).saturating_sub(1);
        // The dot kernel's share as a threshold: up to min_n - 1 tokens (never: all).
        let current_min = table.quant.imma_min_n(kind);
        let current = if current_min == 0 { widest } else { current_min - 1 };
        let Some(c) = crossover(&points, floor, Some(current), margin) else { continue };
        let min_n = if c.threshold >= widest { 0 } else { c.threshold + 1 };
        table.quant.imma_min_n.insert(fmt.clone(), min_n);
        let field = format!("quant.imma_min_n.{fmt}");
        out.push(decision(field, "N", &points, &c, current_min.to_string(), min_n.to_string(), "dot", "imma"));
    }
}

/// A `quant_matmul` row's variant, `quant_matmul/<family>_<fmt>_n<N>` and
/// suffixes (`_rx`, `_xq8`, `_hot`, `_gc<cost>`, `_graph`), as (family,
/// format, suffixes).
fn quant_variant(r: &BenchRow) -> Option<(&str, &str, Vec<&str>)> {
    let (family, rest) = variant(r).strip_prefix("quant_matmul/")?.split_once('_')?;
    let (fmt, tail) = rest.split_once("_n")?;
    Some((family, fmt, tail.split('_').skip(1).collect()))
}

/// What a group's end costs the imma kernel's choice of k-parts
/// (`quant.imma_group_cost`), per block format and n-tile count (up to 8
/// tokens: one; 9 to 16: two): of the costs measured (rows of `bench
/// quant-matmul --x-q8 --group-costs`, variants
/// `quant_matmul/imma_<fmt>_n<N>_xq8_gc<cost>[_graph]`; each shape, token
/// count and row kind a class), the one whose times over each class's best
/// sum least ([`best_choice`]), the one in force kept unless beaten by more
/// than `margin`. Costs go as thousandths of a super-block in the choice.
fn imma_group_cost(rows: &[BenchRow], table: &mut TuningTable, margin: f64, out: &mut Vec<Decision>) {
    let mut by: BTreeMap<(String, usize), Vec<Choice>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.op == "quant_matmul") {
        let (Some(m), Some(k), Some(n)) = (r.shape_value("m"), r.shape_value("k"), r.shape_value("n")) else {
            continue;
        };
        let Some(("imma", fmt, suffixes)) = quant_variant(r) else { continue };
        let cost = suffixes.iter().find_map(|s| s.strip_prefix("gc")).and_then(|c| c.parse::<f64>().ok());
        let Some(cost) = cost.filter(|c| QuantTuning::IMMA_GROUP_COST_RANGE.contains(c)) else { continue };
        if !suffixes.contains(&"xq8") || suffixes.contains(&"hot") || !(1..=16).contains(&n) {
            continue;
        }
        let graph = if suffixes.contains(&"graph") { " graph" } else { "" };
        by.entry((fmt.to_string(), n.div_ceil(8))).or_default().push(Choice {
            class: format!("{m}x{k} n{n}{graph}"),
            choice: (cost * 1000.0).round() as u32,
            us: r.median_us,
        });
    }
    for ((fmt, n_tiles), options) in by {
        let Ok(kind) = fmt.parse::<crate::dtype::QuantKind>() else { continue };
        let current = table.quant.imma_group_cost(kind, n_tiles);
        let current_milli = (current * 1000.0).round() as u32;
        let Some((best, score, current_score)) = best_choice(&options, Some(current_milli), margin) else { continue };
        let chosen = best as f64 / 1000.0;
        let both = table.quant.imma_group_costs(kind);
        table.quant.imma_group_cost.entry(fmt.clone()).or_insert(both)[n_tiles - 1] = chosen;
        out.push(choice_decision(
            format!("quant.imma_group_cost.{fmt}[{n_tiles} n-tiles]"),
            "group cost (1/1000 super-block)",
            "imma",
            &options,
            (best, score, current_score),
            current_milli,
            current.to_string(),
            chosen.to_string(),
        ));
    }
}

/// `quant_matmul` rows as points by format (classes the M x K shapes, x the
/// tokens): the fastest time of family `low` and of `high` where both were
/// measured (a row of auto dispatch is labelled with the family it resolved
/// to), from the rows with x given rounded (`_xq8`) or those without, as
/// `x_q8` says.
fn quant_points(rows: &[BenchRow], x_q8: bool, low: &str, high: &str) -> BTreeMap<String, Vec<Point>> {
    let mut groups: BTreeMap<(String, usize, usize, usize), LowHigh> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.op == "quant_matmul") {
        let (Some(m), Some(k), Some(n)) = (r.shape_value("m"), r.shape_value("k"), r.shape_value("n")) else {
            continue;
        };
        let Some((family, fmt, suffixes)) = quant_variant(r) else { continue };
        // Weights read hot in L2 (`--hot`) are not what a decode step reads;
        // rows under a forced group cost (`_gc<cost>`) are [`imma_group_cost`]'s.
        if suffixes.contains(&"xq8") != x_q8
            || suffixes.contains(&"hot")
            || suffixes.iter().any(|s| s.starts_with("gc"))
        {
            continue;
        }
        // A row of auto dispatch is labelled with the family it resolved to: the faster of two timings of it.
        let g = groups.entry((fmt.to_string(), m, k, n)).or_default();
        let slot = if family == low {
            &mut g.0
        } else if family == high {
            &mut g.1
        } else {
            continue;
        };
        *slot = Some(slot.map_or(r.median_us, |t: f64| t.min(r.median_us)));
    }
    let mut per_format: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for ((fmt, m, k, n), (low_us, high_us)) in groups {
        if let (Some(low_us), Some(high_us)) = (low_us, high_us) {
            per_format.entry(fmt).or_default().push(Point { class: format!("{m}x{k}"), x: n, low_us, high_us });
        }
    }
    per_format
}

/// Sets one class's value, creating the tuner's classes if the table has none.
fn set_class_value(t: &mut crate::tuning::MatmulTuning, limit: u64, dtype: crate::dtype::DType, value: usize) {
    if t.size_classes.is_empty() {
        t.size_classes = SIZE_CLASS_LIMITS
            .iter()
            .map(|&l| SmallnClass { max_weight_elems: l, smalln_max_n: Default::default() })
            .collect();
    }
    match t.size_classes.iter_mut().find(|c| c.max_weight_elems == limit) {
        Some(c) => {
            c.smalln_max_n.insert(dtype, value);
        }
        None => {
            // A table with other classes: add this one in order.
            let at = t.size_classes.iter().position(|c| c.max_weight_elems > limit).unwrap_or(t.size_classes.len());
            t.size_classes.insert(
                at,
                SmallnClass { max_weight_elems: limit, smalln_max_n: [(dtype, value)].into_iter().collect() },
            );
        }
    }
}

/// vec (low) against block (high) by columns; classes are (dtype, rows, mode).
fn softmax_vec(rows: &[BenchRow], table: &mut TuningTable, margin: f64, out: &mut Vec<Decision>) {
    let mut groups: BTreeMap<(String, String, usize), LowHigh> = BTreeMap::new();
    let whole_rows = |r: &&BenchRow| !variant(r).starts_with("softmax/split");
    for r in rows.iter().filter(|r| r.op == "softmax" && r.shape_value("threads").is_none()).filter(whole_rows) {
        let Some(cols) = r.shape_value("cols") else { continue };
        let class = format!("{} {}", r.dtype, r.shape_without(&["cols"]));
        let g = groups.entry((r.dtype.clone(), class, cols)).or_default();
        let t = Some(r.median_us);
        if variant(r).starts_with("softmax/vec") {
            g.0 = t;
        } else {
            g.1 = t;
        }
    }
    let points: Vec<Point> = groups
        .into_iter()
        .filter_map(|((_, class, cols), (v, b))| Some(Point { class, x: cols, low_us: v?, high_us: b? }))
        .collect();
    let current = table.softmax.vec_max_cols;
    if let Some(c) = crossover(&points, 0, Some(current), margin) {
        table.softmax.vec_max_cols = c.threshold;
        out.push(decision(
            "softmax.vec_max_cols".into(),
            "cols",
            &points,
            &c,
            current.to_string(),
            c.threshold.to_string(),
            "vec",
            "block",
        ));
    }
}

/// CTAs a row-per-CTA softmax variant launches for `rows` rows, from its
/// label (`softmax/cluster4_...`: 4 a row; `softmax/block...`: 1).
fn whole_row_ctas(label: &str, rows: usize) -> Option<usize> {
    let name = label.strip_prefix("softmax/")?;
    if let Some(rest) = name.strip_prefix("cluster") {
        let ctas: usize = rest.split('_').next()?.parse().ok()?;
        return Some(rows * ctas);
    }
    name.starts_with("block").then_some(rows)
}

/// split (low) against block (high) by the CTAs the block variant launches,
/// over the shapes of at least `split_min_cols` columns; each shape is its own
/// class. Sets `split_max_ctas`.
fn softmax_split(rows: &[BenchRow], table: &mut TuningTable, margin: f64, out: &mut Vec<Decision>) {
    // (dtype, shape) -> (block CTAs, split, block)
    let mut groups: BTreeMap<(String, String), CtasLowHigh> = BTreeMap::new();
    let min_cols = table.softmax.split_min_cols;
    for r in rows.iter().filter(|r| r.op == "softmax" && r.shape_value("threads").is_none()) {
        let (Some(n), Some(cols)) = (r.shape_value("rows"), r.shape_value("cols")) else { continue };
        if min_cols == 0 || cols < min_cols {
            continue;
        }
        let g = groups.entry((r.dtype.clone(), r.shape.clone())).or_default();
        if variant(r).starts_with("softmax/split") {
            g.1 = Some(r.median_us);
        } else if let Some(ctas) = whole_row_ctas(variant(r), n) {
            g.0 = Some(ctas);
            g.2 = Some(r.median_us);
        }
    }
    let points: Vec<Point> = groups
        .into_iter()
        .filter_map(|((dt, shape), (x, s, b))| {
            Some(Point { class: format!("{dt} {shape}"), x: x?, low_us: s?, high_us: b? })
        })
        .collect();
    let current = table.softmax.split_max_ctas;
    if let Some(c) = crossover(&points, 0, Some(current), margin) {
        table.softmax.split_max_ctas = c.threshold;
        out.push(decision(
            "softmax.split_max_ctas".into(),
            "CTAs of a row per CTA (or cluster)",
            &points,
            &c,
            current.to_string(),
            c.threshold.to_string(),
            "split",
            "block",
        ));
    }
}

/// Threads per CTA of the block variant, per bucket of the table's row lengths.
fn softmax_threads(rows: &[BenchRow], table: &mut TuningTable, margin: f64, out: &mut Vec<Decision>) {
    let options: Vec<(usize, Choice)> = rows
        .iter()
        .filter(|r| r.op == "softmax")
        .filter_map(|r| {
            let (threads, cols) = (r.shape_value("threads")?, r.shape_value("cols")?);
            Some((
                cols,
                Choice {
                    class: format!("{} {}", r.dtype, r.shape_without(&["threads"])),
                    choice: threads as u32,
                    us: r.median_us,
                },
            ))
        })
        .collect();
    let buckets = table.softmax.block_threads.clone();
    let mut lower = 0;
    for (i, &(max_cols, current)) in buckets.iter().enumerate() {
        let in_bucket: Vec<Choice> =
            options.iter().filter(|(c, _)| *c > lower && *c <= max_cols).map(|(_, o)| o.clone()).collect();
        lower = max_cols;
        let Some((best, score, current_score)) = best_choice(&in_bucket, Some(current), margin) else { continue };
        table.softmax.block_threads[i].1 = best;
        out.push(choice_decision(
            format!("softmax.block_threads[cols <= {max_cols}]"),
            "threads",
            "block",
            &in_bucket,
            (best, score, current_score),
            current,
            current.to_string(),
            best.to_string(),
        ));
    }
}

/// Fused (low) against composed (high) by query rows per KV head.
fn sdpa(rows: &[BenchRow], table: &mut TuningTable, margin: f64, out: &mut Vec<Decision>) {
    // (dtype, shape) -> (rows per KV head, fused, composed)
    let mut groups: BTreeMap<(String, String), RowsLowHigh> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.op == "sdpa") {
        let (Some(hq), Some(hkv), Some(lq)) = (r.shape_value("hq"), r.shape_value("hkv"), r.shape_value("lq")) else {
            continue;
        };
        let x = hq / hkv.max(1) * lq;
        let g = groups.entry((r.dtype.clone(), r.shape.clone())).or_insert((x, None, None));
        if variant(r).starts_with("sdpa/fused") {
            g.1 = Some(r.median_us);
        } else if variant(r).starts_with("sdpa/composed") {
            g.2 = Some(r.median_us);
        }
    }
    let points: Vec<Point> = groups
        .into_iter()
        .filter_map(|((dt, shape), (x, f, c))| {
            let class = format!(
                "{dt} {}",
                shape.split_whitespace().filter(|kv| !kv.starts_with("lq=")).collect::<Vec<_>>().join(" ")
            );
            Some(Point { class, x, low_us: f?, high_us: c? })
        })
        .collect();
    let Some(max_x) = points.iter().map(|p| p.x).max() else { return };
    // composed_min_rows = 0 means never composed: fused up to every measured size.
    let to_threshold = |min_rows: usize| if min_rows == 0 { max_x } else { min_rows - 1 };
    let to_field = |t: usize| if t >= max_x { 0 } else { t + 1 };
    let current = table.sdpa.composed_min_rows;
    if let Some(c) = crossover(&points, 0, Some(to_threshold(current)), margin) {
        let new = to_field(c.threshold);
        table.sdpa.composed_min_rows = new;
        out.push(decision(
            "sdpa.composed_min_rows".into(),
            "query rows per KV head",
            &points,
            &c,
            current.to_string(),
            new.to_string(),
            "fused",
            "composed",
        ));
    }
}

/// The decisions as a table: the field, its old and new value, the time the
/// new value saves on the measured points, the worst ratio of the chosen
/// variant's time to the best variant's, and the points more than 3% off.
pub fn summary_table(decisions: &[Decision]) -> String {
    let mut t = crate::table::Table::new()
        .left("decision")
        .right("old")
        .right("new")
        .right("gain")
        .right("worst auto/best")
        .right(">3% off best");
    for d in decisions {
        t.push([
            d.field.clone(),
            d.old_value.clone(),
            d.new_value.clone(),
            d.gain_pct.map_or_else(
                || "-".into(),
                |g| format!("{}{}%", if g > 0.0 { "+" } else { "" }, crate::table::sig(g, 3)),
            ),
            crate::table::sig(d.worst_ratio, 3),
            format!("{}/{}", d.over_3pct, d.points),
        ]);
    }
    t.render()
}

/// Every decision the rows support, and the table with their values.
/// `margin`: how much better (relative) a new value must score to replace
/// the one in force.
pub fn analyse(rows: &[BenchRow], table: &TuningTable, margin: f64) -> (TuningTable, Vec<Decision>) {
    let mut t = table.clone();
    let mut out = Vec::new();
    matmul(rows, &mut t, margin, &mut out);
    matmul_choices(rows, &mut t, margin, &mut out);
    softmax_vec(rows, &mut t, margin, &mut out);
    softmax_threads(rows, &mut t, margin, &mut out);
    softmax_split(rows, &mut t, margin, &mut out);
    sdpa(rows, &mut t, margin, &mut out);
    quant(rows, &mut t, margin, &mut out);
    imma(rows, &mut t, margin, &mut out);
    imma_group_cost(rows, &mut t, margin, &mut out);
    (t, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(op: &str, variant: &str, dtype: &str, shape: &str, us: f64, peer: Option<f64>) -> BenchRow {
        BenchRow {
            op: op.into(),
            variant: variant.into(),
            dtype: dtype.into(),
            shape: shape.into(),
            median_us: us,
            min_us: us,
            max_us: us,
            bytes: 1000,
            gbps: 1.0,
            pct_roofline: 1.0,
            roofline_gbps: 100.0,
            peer_us: peer,
            card: "test".into(),
            date: "2026-11-26".into(),
            commit: "x".into(),
            tuning: "embedded".into(),
        }
    }

    /// GEMV costs 10 + 2N, cuBLAS 20 + N on two shapes: they cross at N = 10.
    fn matmul_rows(dtype: &str) -> Vec<BenchRow> {
        let mut v = Vec::new();
        for (m, k, s) in [(4096, 4096, 1.0), (896, 4864, 0.3)] {
            for n in 1..=16usize {
                let (g, c) = (s * (10.0 + 2.0 * n as f64), s * (20.0 + n as f64));
                let shape = format!("m={m} k={k} n={n}");
                if n <= 8 {
                    v.push(row("matmul", "matmul/gemv_mma_n1/f16 (auto)", dtype, &shape, g, Some(c)));
                } else {
                    v.push(row("matmul", "matmul/cublas/f16 (auto)", dtype, &shape, c, Some(c)));
                    v.push(row("matmul", "matmul/gemv_mma_n1/f16 (forced)", dtype, &shape, g, Some(c)));
                }
            }
        }
        v
    }

    #[test]
    fn matmul_crossover_per_dtype() {
        let mut rows = matmul_rows("f16");
        rows.extend(matmul_rows("bf16").into_iter().map(|mut r| {
            r.median_us *= 1.0;
            r
        }));
        let table = TuningTable::fixed_for_tests();
        let (t, d) = analyse(&rows, &table, 0.0);
        // Both shapes (16.8M and 4.4M elements) are in the <= 64M class.
        let f16 = d.iter().find(|d| d.field == "matmul.size_classes[le64M].smalln_max_n.f16").unwrap();
        // 10 + 2N = 20 + N at N = 10: GEMV through 10 (the tie goes to the smaller).
        assert_eq!((f16.old_value.as_str(), f16.new_value.as_str()), ("8", "9"));
        assert_eq!(t.matmul.smalln_max_n_for(crate::dtype::DType::F16, 4096 * 4096), 9);
        assert_eq!(
            t.matmul.smalln_max_n_for(crate::dtype::DType::F16, 128 * 1024),
            9,
            "small matrices share the <= 64M class"
        );
        assert_eq!(
            t.matmul.smalln_max_n_for(crate::dtype::DType::F16, 128256 * 4096),
            8,
            "the > 64M class was not measured: the flat value"
        );
        assert!(f16.gain_pct.unwrap() > 0.0 && f16.over_3pct == 0 && f16.changed());
        assert_eq!(f16.series.len(), 4, "two shapes x two variants");
        assert_eq!(f16.marker, Some(9.5));
        // f32 was not measured: its value is untouched.
        assert_eq!(
            t.matmul.smalln_max_n_for(crate::dtype::DType::F32, 4096 * 4096),
            table.matmul.smalln_max_n(crate::dtype::DType::F32)
        );
        // Moving 8 -> 9 saves 3.6% (29 -> 28 us) on the N = 9 points: a 2% margin
        // lets it through, a 5% margin keeps 8.
        assert_eq!(analyse(&rows, &table, 0.02).0.matmul.smalln_max_n_for(crate::dtype::DType::F16, 4096 * 4096), 9);
        assert_eq!(analyse(&rows, &table, 0.05).0.matmul.smalln_max_n_for(crate::dtype::DType::F16, 4096 * 4096), 8);
    }

    #[test]
    fn matmul_choices_by_the_sum_of_ratios() {
        // Two classes: 8 KB best on both (by 10% and 2%), 0 worst; the GEMV /
        // cuBLAS rows of the same shapes (two N) give the crossover alone.
        let mut rows = matmul_rows("f16");
        // (At N = 12, where cuBLAS wins the crossover's rows.)
        for (shape, times) in [("m=4096 k=4096 n=12", [20.0, 12.0, 11.0]), ("m=896 k=4864 n=12", [8.0, 6.1, 6.0])] {
            for (bound, us) in [0u32, 4096, 8192].iter().zip(times) {
                let v = format!("matmul/gemv_veck_n1_g2/f16 (veck_cta_bytes={bound})");
                // Faster than cuBLAS there: were these read by the crossover, it would move to 12.
                rows.push(row("matmul", &v, "f16", shape, us / 100.0, None));
            }
        }
        let mut table = TuningTable::fixed_for_tests();
        table.matmul.veck_cta_bytes = 4096;
        let (t, d) = analyse(&rows, &table, 0.0);
        assert_eq!(t.matmul.veck_cta_bytes, 8192);
        let dv = d.iter().find(|d| d.field == "matmul.veck_cta_bytes").unwrap();
        assert_eq!((dv.old_value.as_str(), dv.new_value.as_str(), dv.points), ("4096", "8192", 2));
        // 4096 scores 12/11 + 6.1/6 = 2.108 against 2: within a 6% margin it stays.
        assert_eq!(analyse(&rows, &table, 0.06).0.matmul.veck_cta_bytes, 4096);
        // mma_n1_max_k from its own rows (0 a tie on one class, 1024 10% better on the other).
        for (shape, times) in [("m=151936 k=896 n=1", [77.0, 70.0]), ("m=9728 k=896 n=1", [10.6, 10.6])] {
            for (k, us) in [0u32, 1024].iter().zip(times) {
                rows.push(row("matmul", &format!("matmul/gemv_mma_n1/f16 (mma_n1_max_k={k})"), "f16", shape, us, None));
            }
        }
        table.matmul.mma_n1_max_k = 0;
        let (t, d) = analyse(&rows, &table, 0.0);
        assert_eq!((t.matmul.mma_n1_max_k, t.matmul.veck_cta_bytes), (1024, 8192));
        assert!(d.iter().any(|d| d.field == "matmul.mma_n1_max_k" && d.new_value == "1024"));
        // The crossover is the one the rows without bounds give.
        let plain = analyse(&matmul_rows("f16"), &table, 0.0).0;
        assert_eq!(t.matmul.size_classes, plain.matmul.size_classes);
    }

    #[test]
    fn imma_against_dot_with_x_rounded_per_format() {
        let mut rows = Vec::new();
        for (m, k) in [(4096usize, 4096usize), (14336, 4096)] {
            for n in [4usize, 6, 8, 12, 16] {
                // With x rounded: Q4_K imma wins from 8 tokens; Q6_K never; Q8_0 on every measured N.
                for (fmt, dot_until) in [("q4_k", 6), ("q6_k", 16), ("q8_0", 0)] {
                    let (dot, imma) = if n <= dot_until { (1.0, 2.0) } else { (3.0, 1.0) };
                    let shape = format!("m={m} k={k} n={n}");
                    let name = |f: &str, sfx: &str| format!("quant_matmul/{f}_{fmt}_n{n}{sfx}");
                    rows.push(row("quant_matmul", &name("dot", "_xq8"), "f16", &shape, dot, None));
                    rows.push(row("quant_matmul", &name("imma", "_xq8"), "f16", &shape, imma, None));
                    // Hot rows (weights in L2) and rows with x as it is are not these points.
                    rows.push(row("quant_matmul", &name("dot", "_xq8_hot"), "f16", &shape, 100.0, None));
                    rows.push(row("quant_matmul", &name("dot", "_rx"), "f16", &shape, 0.01, None));
                }
            }
        }
        let table = TuningTable::sm90();
        let (t, d) = analyse(&rows, &table, 0.0);
        use crate::dtype::QuantKind;
        // The dot kernel keeps what it won (up to 6 tokens): imma from 7.
        assert_eq!(t.quant.imma_min_n(QuantKind::Q4_K), 7, "{d:#?}");
        assert_eq!(t.quant.imma_min_n(QuantKind::Q6_K), 0, "never: the dot kernel wins at every N");
        assert_eq!(t.quant.imma_min_n(QuantKind::Q8_0), 4, "from the fewest tokens measured, not below");
        assert_eq!(t.quant.imma_min_n(QuantKind::Q4_0), table.quant.imma_min_n(QuantKind::Q4_0));
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["quant.imma_min_n.q4_k", "quant.imma_min_n.q6_k", "quant.imma_min_n.q8_0"]);
        assert!(d.iter().all(|d| d.points == 10), "{d:#?}");
        // The dot kernel against mma had no mma rows here: no such decision.
        assert_eq!(t.quant.dot_max_n, table.quant.dot_max_n);
        assert_eq!(TuningTable::parse(&t.to_json(), "tuned").unwrap(), t);
    }

    #[test]
    fn quant_dot_against_mma_per_format() {
        let mut rows = Vec::new();
        for (m, k) in [(4096usize, 4096usize), (14336, 4096)] {
            for n in [1usize, 2, 4, 8, 16] {
                // Q4_K: dot wins up to 8 tokens; Q6_K: up to 2; Q8_0: never.
                for (fmt, dot_until) in [("q4_k", 8), ("q6_k", 2), ("q8_0", 0)] {
                    let (dot, mma) = if n <= dot_until { (1.0, 2.0) } else { (3.0, 1.0) };
                    let shape = format!("m={m} k={k} n={n}");
                    rows.push(row("quant_matmul", &format!("quant_matmul/dot_{fmt}_n{n}"), "f16", &shape, dot, None));
                    rows.push(row("quant_matmul", &format!("quant_matmul/mma_{fmt}_n{n}"), "f16", &shape, mma, None));
                }
            }
        }
        // A row no family of which is named is not a point.
        rows.push(row("quant_matmul", "quant_matmul/rows_q4_k_n1", "f16", "m=4096 k=4096 n=1", 0.1, None));
        let table = TuningTable::sm90();
        let (t, d) = analyse(&rows, &table, 0.0);
        use crate::dtype::QuantKind;
        assert_eq!(t.quant.dot_max_n(QuantKind::Q4_K), 8, "{d:#?}");
        assert_eq!(t.quant.dot_max_n(QuantKind::Q6_K), 2);
        assert_eq!(t.quant.dot_max_n(QuantKind::Q8_0), 0);
        // Not measured: the table's value stays.
        assert_eq!(t.quant.dot_max_n(QuantKind::Q4_0), table.quant.dot_max_n(QuantKind::Q4_0));
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["quant.dot_max_n.q4_k", "quant.dot_max_n.q6_k", "quant.dot_max_n.q8_0"]);
        assert!(d.iter().all(|d| d.points == 10), "{d:#?}");
        // The written table reads back.
        assert_eq!(TuningTable::parse(&t.to_json(), "tuned").unwrap(), t);
    }

    #[test]
    fn imma_group_cost_per_format_and_n_tiles() {
        use crate::dtype::QuantKind;
        let mut rows = Vec::new();
        for (m, k) in [(4096usize, 4096usize), (128256, 4096)] {
            for n in [8usize, 16] {
                let shape = format!("m={m} k={k} n={n}");
                // Q4_K: 0.125 best at one n-tile, 1 at two; Q6_K (two n-tiles
                // only): 0 and 0.25 tie, the current 0.5 is 1% slower.
                for (cost, q4k1, q4k2, q6k2) in [
                    (0.0, 1.3, 1.4, 1.0),
                    (0.125, 1.0, 1.3, 1.1),
                    (0.25, 1.1, 1.2, 1.0),
                    (0.5, 1.2, 1.1, 1.01),
                    (1.0, 1.4, 1.0, 1.2),
                ] {
                    let q4k = if n == 8 { q4k1 } else { q4k2 };
                    let v = |fmt: &str| format!("quant_matmul/imma_{fmt}_n{n}_xq8_gc{cost}");
                    rows.push(row("quant_matmul", &v("q4_k"), "f16", &shape, q4k, None));
                    if n == 16 {
                        rows.push(row("quant_matmul", &v("q6_k"), "f16", &shape, q6k2, None));
                    }
                }
                // Rows without a cost (the table's) or read hot are not choices.
                rows.push(row("quant_matmul", &format!("quant_matmul/imma_q4_k_n{n}_xq8"), "f16", &shape, 0.1, None));
                rows.push(row(
                    "quant_matmul",
                    &format!("quant_matmul/imma_q4_k_n{n}_xq8_hot_gc2"),
                    "f16",
                    &shape,
                    0.1,
                    None,
                ));
            }
        }
        let table = TuningTable::sm90();
        let (t, d) = analyse(&rows, &table, 0.0);
        assert_eq!(
            (t.quant.imma_group_cost(QuantKind::Q4_K, 1), t.quant.imma_group_cost(QuantKind::Q4_K, 2)),
            (0.125, 1.0)
        );
        // The tie goes to the smaller cost; the one-n-tile cost was not measured: the table's.
        assert_eq!(
            (t.quant.imma_group_cost(QuantKind::Q6_K, 1), t.quant.imma_group_cost(QuantKind::Q6_K, 2)),
            (0.25, 0.0)
        );
        // Not measured: the table's.
        assert_eq!(t.quant.imma_group_cost(QuantKind::Q4_0, 2), table.quant.imma_group_cost(QuantKind::Q4_0, 2));
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "quant.imma_group_cost.q4_k[1 n-tiles]",
                "quant.imma_group_cost.q4_k[2 n-tiles]",
                "quant.imma_group_cost.q6_k[2 n-tiles]"
            ]
        );
        let q6 = &d[2];
        assert_eq!((q6.old_value.as_str(), q6.new_value.as_str(), q6.points), ("0.5", "0", 2));
        assert!(q6.gain_pct.unwrap() > 0.0 && q6.changed());
        // A margin of 2% keeps Q6_K's 0.5 (1% slower).
        assert_eq!(analyse(&rows, &table, 0.02).0.quant.imma_group_cost(QuantKind::Q6_K, 2), 0.5);
        // The cost rows are not the dot/imma decision's: no imma_min_n decision without dot rows.
        assert_eq!(t.quant.imma_min_n, table.quant.imma_min_n);
        assert_eq!(TuningTable::parse(&t.to_json(), "tuned").unwrap(), t);
    }

    #[test]
    fn softmax_and_sdpa_decisions() {
        let mut rows = Vec::new();
        for cols in [128usize, 256, 512, 1024, 2048, 4096] {
            // vec wins up to 1024 columns.
            let (v, b) = if cols <= 1024 { (1.0, 2.0) } else { (3.0, 1.0) };
            let shape = format!("rows=512 cols={cols} mode=plain");
            rows.push(row("softmax", "softmax/vec_e4_p8/f16", "f16", &shape, v, None));
            rows.push(row("softmax", "softmax/block_e8_p8_256/f16 (auto)", "f16", &shape, b, None));
            // Threads: 512 best for every length.
            for th in [256u32, 512, 1024] {
                let us = if th == 512 { 1.0 } else { 1.5 };
                rows.push(row(
                    "softmax",
                    "softmax/block",
                    "f16",
                    &format!("rows=512 cols={cols} mode=plain threads={th}"),
                    us,
                    None,
                ));
            }
        }
        // SDPA: composed wins from 64 rows per KV head.
        for (hq, hkv, lq) in [(32, 32, 1), (32, 8, 1), (32, 8, 4), (32, 8, 16)] {
            let x = hq / hkv * lq;
            let (f, c) = if x >= 64 { (3.0, 1.0) } else { (1.0, 3.0) };
            let shape = format!("hq={hq} hkv={hkv} lq={lq} lk=4096 d=128");
            rows.push(row("sdpa", "sdpa/fused_mma_split8/f16 (auto)", "f16", &shape, f, None));
            rows.push(row("sdpa", "sdpa/composed/f16", "f16", &shape, c, None));
        }
        let table = TuningTable::sm90();
        let (t, d) = analyse(&rows, &table, 0.0);
        assert_eq!(t.softmax.vec_max_cols, 1024);
        // Buckets with measured lengths (up to 4096 columns) take 512; the 32768 bucket had none: unchanged.
        for (&(max, th), &(_, old)) in t.softmax.block_threads.iter().zip(&table.softmax.block_threads) {
            assert_eq!(th, if max <= 4096 { 512 } else { old }, "{:?}", t.softmax.block_threads);
        }
        // Fused wins at 16 rows, composed at 64: composed from 17 (the first count above 16).
        assert_eq!(t.sdpa.composed_min_rows, 17, "{d:#?}");
        // Composed never wins: 0 (never).
        let fused_only: Vec<BenchRow> = rows
            .iter()
            .filter(|r| r.op == "sdpa")
            .cloned()
            .map(|mut r| {
                if r.variant.starts_with("sdpa/composed") {
                    r.median_us = 10.0;
                }
                r
            })
            .collect();
        let (t3, _) = analyse(
            &fused_only,
            &TuningTable {
                sdpa: crate::tuning::SdpaTuning { composed_min_rows: 64, ..table.sdpa.clone() },
                ..table.clone()
            },
            0.0,
        );
        assert_eq!(t3.sdpa.composed_min_rows, 0);
    }

    #[test]
    fn softmax_split_decision() {
        // Split wins while the block family launches up to 64 CTAs (16 rows of
        // 4-CTA clusters, or 64 rows of a CTA each), loses from 128.
        let mut rows = Vec::new();
        for (n, cols, block) in [
            (1usize, 32768usize, "softmax/cluster4_e16_p8_512/f16"),
            (16, 32768, "softmax/cluster4_e16_p8_512/f16"),
            (32, 32768, "softmax/cluster4_e16_p8_512/f16"),
            (64, 131072, "softmax/block_stream_1024/f16"),
            (512, 131072, "softmax/block_stream_1024/f16"),
            (16, 8192, "softmax/block_e16_p8_512/f16"),
        ] {
            let shape = format!("rows={n} cols={cols} mode=plain");
            let ctas = whole_row_ctas(block, n).unwrap();
            let (sp, bl) = if ctas <= 64 { (1.0, 2.0) } else { (2.0, 1.0) };
            rows.push(row("softmax", "softmax/split_e16_p8_256/f16 (auto)", "f16", &shape, sp, None));
            rows.push(row("softmax", block, "f16", &shape, bl, None));
        }
        let table = TuningTable::fixed_for_tests();
        let (t, d) = analyse(&rows, &table, 0.0);
        let dec = d.iter().find(|d| d.field == "softmax.split_max_ctas").unwrap();
        assert_eq!(dec.points, 5, "the 8192-column shape is below split_min_cols: {dec:#?}");
        assert_eq!(t.softmax.split_max_ctas, 64);
        assert_eq!((dec.old_value.as_str(), dec.over_3pct), ("132", 0));
        // The split rows are not the block side of the vec decision.
        assert!(d.iter().all(|d| d.field != "softmax.vec_max_cols"));
        assert_eq!(whole_row_ctas("softmax/vec_e4_p8/f16", 3), None);
    }
}

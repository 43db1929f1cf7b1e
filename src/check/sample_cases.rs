//! Check cases of `sample`: the GPU's tokens against the CPU twin's for
//! random logits, histories and seeds. Tokens must be equal, except in a row
//! where the CPU's best two perturbed scores, or its top-p mass and target,
//! are within [`NEAR`] (relative): there the last bit of an `exp` or `ln`
//! (which differ between CUDA and Rust) may decide, and the row is reported
//! as a near tie in the outcome's note, not as a failure. `rel_l2` holds the
//! share of rows that disagree otherwise (tolerance 0); `unwritten` the rows
//! whose `out` still holds the poison; `clobbered` the history and length
//! values that differ from the CPU's (outside near-tie rows).

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{Case, Checker, Outcome};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::ops::{self, SampleOptions};
use crate::spec::sample::geometry;
use crate::tensor::{HostData, Indices};

/// Relative closeness under which a disagreement is a near tie.
const NEAR: f64 = 1e-4;

/// What `out` holds before the op (no valid token or error code).
const POISON: i32 = -7;

/// History slots per row.
const H: usize = 64;

/// Special rows of the `edges` cases.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rows {
    Random,
    /// NaN, all -inf, one +inf, all equal, some -inf: one of each, then random.
    Edges,
}

fn combos() -> Vec<(&'static str, SampleOptions)> {
    let d = SampleOptions::default();
    let greedy = SampleOptions::greedy();
    vec![
        ("greedy", greedy),
        ("greedy_penalty", SampleOptions { repeat_penalty: 1.3, ..greedy }),
        ("temperature", SampleOptions { temperature: 0.8, ..d }),
        ("top_k", SampleOptions { top_k: Some(50), ..d }),
        ("top_k1", SampleOptions { top_k: Some(1), ..d }),
        ("top_p", SampleOptions { temperature: 0.7, top_p: 0.9, ..d }),
        ("top_p0", SampleOptions { top_p: 0.0, ..d }),
        ("min_p", SampleOptions { min_p: 0.05, ..d }),
        ("penalty", SampleOptions { temperature: 1.2, repeat_penalty: 1.5, ..d }),
        ("top_k_top_p", SampleOptions { top_k: Some(1000), top_p: 0.5, ..d }),
        // Deep radix walks: a k far from the top, and top-p after top-k with the penalty.
        ("top_k_large", SampleOptions { top_k: Some(20_000), ..d }),
        ("top_k_top_p_penalty", SampleOptions { top_k: Some(128), top_p: 0.8, repeat_penalty: 1.3, ..d }),
        ("min_p_penalty", SampleOptions { temperature: 0.9, min_p: 0.1, repeat_penalty: 0.8, ..d }),
        (
            "all_append",
            SampleOptions {
                temperature: 0.7,
                top_k: Some(40),
                top_p: 0.95,
                min_p: 0.02,
                repeat_penalty: 1.1,
                append: true,
                ..d
            },
        ),
    ]
}

/// Combos run on the edge rows (NaN, all -inf, +inf, all equal, some -inf).
const EDGE_COMBOS: [&str; 7] =
    ["greedy", "greedy_penalty", "top_k", "top_k_large", "top_p", "min_p_penalty", "all_append"];

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    let mut push = |name: String, dtype: DType, shape: (usize, usize), o: SampleOptions, rows: Rows| {
        let case = name.clone();
        v.push(Case {
            op: "sample",
            name,
            dtype,
            run: Box::new(move |c: &mut Checker| sample_case(c, &case, dtype, shape, o, rows)),
        });
    };
    for dtype in DType::ALL {
        // Rows of one chunk (1000) to 64 chunks (262144), whole (262144) and
        // partial last chunks, 1 to 16 rows: every path of the split kernels.
        for (vocab, batch) in [(1000, 16), (32000, 5), (151936, 1), (151936, 2), (128256, 16), (262144, 3)] {
            for (name, o) in combos() {
                push(format!("{name}/b{batch}_v{vocab}"), dtype, (batch, vocab), o, Rows::Random);
            }
        }
        for (name, o) in combos().into_iter().filter(|(n, _)| EDGE_COMBOS.contains(n)) {
            for (vocab, batch) in [(1000, 8), (151936, 16)] {
                push(format!("edges_{name}/b{batch}_v{vocab}"), dtype, (batch, vocab), o, Rows::Edges);
            }
        }
        let o = SampleOptions { top_k: Some(10), top_p: 0.9, append: true, ..Default::default() };
        push("edges_topk_topp/b8_v1000".into(), dtype, (8, 1000), o, Rows::Edges);
    }
    v
}

/// `shape` is (batch, vocab).
fn sample_case(
    c: &mut Checker,
    case: &str,
    dtype: DType,
    shape: (usize, usize),
    o: SampleOptions,
    rows: Rows,
) -> Result<Outcome> {
    let (batch, vocab) = shape;
    // Rows padded at two vocabulary sizes (by 3: rows start unaligned): any row stride works.
    let stride = match vocab {
        32000 => vocab + 8,
        128256 => vocab + 3,
        _ => vocab,
    };
    let mut x: Vec<f32> = (0..batch * stride)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut c.rng);
            (3.0 * z) as f32
        })
        .collect();
    if rows == Rows::Edges {
        let at = c.rng.random_range(0..vocab);
        x[at] = f32::NAN;
        x[stride..stride + vocab].fill(f32::NEG_INFINITY);
        x[2 * stride + at] = f32::INFINITY;
        x[3 * stride..3 * stride + vocab].fill(1.5);
        for _ in 0..vocab / 2 {
            let i = c.rng.random_range(0..vocab);
            x[4 * stride + i] = f32::NEG_INFINITY;
        }
    }
    let o = SampleOptions { seed: c.rng.random(), ..o };
    // Histories: lengths 0..=H (full rows included), ids repeating, a few out of range.
    let mut lens: Vec<i32> = (0..batch).map(|_| c.rng.random_range(0..=H as i32)).collect();
    // The last row's history is full (the token is not appended); with more
    // rows, one length is above H and one negative (both clamped).
    lens[batch - 1] = H as i32;
    if batch >= 3 {
        lens[batch - 2] = H as i32 + 5;
        lens[batch - 3] = -2;
    }
    let favourites: Vec<i32> = (0..8).map(|_| c.rng.random_range(0..vocab as i32)).collect();
    let hist: Vec<i32> = (0..batch * H)
        .map(|_| match c.rng.random_range(0..10) {
            0 => -3,
            1 => vocab as i32 + 5,
            2..=5 => favourites[c.rng.random_range(0..favourites.len())],
            _ => c.rng.random_range(0..vocab as i32),
        })
        .collect();
    let logits = c.upload(HostData::from_f32_slice(dtype, &x), &[batch, stride])?.map(|t| t.narrow(1, 0, vocab))?;

    let (gh, gl) = (Indices::from_slice(c.gpu, &hist)?, Indices::from_slice(c.gpu, &lens)?);
    let gout = Indices::from_slice(c.gpu, &vec![POISON; batch])?;
    ops::sample(c.gpu, &logits.gpu, &gh, &gl, &gout, &o)?;
    let (got, got_hist, got_lens) = (gout.to_vec()?, gh.to_vec()?, gl.to_vec()?);

    let (ch, cl) = (Indices::from_slice(&c.cpu, &hist)?, Indices::from_slice(&c.cpu, &lens)?);
    let cout = Indices::from_slice(&c.cpu, &vec![POISON; batch])?;
    let g = geometry(Device::Cpu, &logits.cpu, &ch, &cl, &cout, &o)?;
    let want = crate::cpu::sample::trace(&logits.cpu, &ch, &cl, &g, &o)?;

    let (mut bad, mut clobbered, mut near) = (0, 0, Vec::new());
    for (b, t) in want.iter().enumerate() {
        // The history row and length the CPU's token would leave.
        let len = lens[b].clamp(0, H as i32) as usize;
        let mut row = hist[b * H..][..H].to_vec();
        let mut new_len = lens[b];
        if o.append && t.token >= 0 && len < H {
            row[len] = t.token;
            new_len = len as i32 + 1;
        }
        if got[b] != t.token {
            if (t.score_gap as f64) <= NEAR || t.mass_gap <= NEAR {
                near.push(b);
                continue;
            }
            if got[b] != POISON {
                bad += 1;
            }
        }
        clobbered += row.iter().zip(&got_hist[b * H..][..H]).filter(|(w, g)| w != g).count();
        clobbered += usize::from(got_lens[b] != new_len);
    }
    let note = (!near.is_empty()).then(|| format!("{} near tie(s), rows {near:?}", near.len()));
    Ok(Outcome {
        op: "sample".into(),
        case: case.to_string(),
        dtype,
        rel_l2: bad as f64 / batch as f64,
        tolerance: 0.0,
        unwritten: got.iter().filter(|&&t| t == POISON).count(),
        clobbered,
        error: None,
        note,
    })
}

//! CPU twin of `sample` (src/ops/sample.rs, kernels/sample.cu): the same f32
//! steps in the same order, as src/spec/sample.rs defines them. Thresholds
//! come from a selection and a sort here, from radix walks on the GPU; both
//! find the same values. Callers validated the arguments.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::spec::sample::{
    gumbel, key_of, row_key, uniform, SampleGeometry, SampleOptions, MASS_SCALE, NAN_ROW, NO_FINITE_LOGIT,
};
use crate::tensor::{Device, Indices, Tensor};

const OP: &str = "sample";

/// One row's choice, and how close it came to another (for the GPU check).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowTrace {
    /// The token (or [`NAN_ROW`], [`NO_FINITE_LOGIT`]).
    pub token: i32,
    /// Best minus second-best perturbed score of the draw over max(|best|, 1);
    /// infinite without a draw or with one kept token.
    pub score_gap: f32,
    /// How far top-p's boundary was from moving: the smaller of S(tau_p) -
    /// target and target - S(the next kept value above tau_p), over the total
    /// mass W; infinite without top-p.
    pub mass_gap: f64,
}

impl RowTrace {
    fn decided(token: i32) -> Self {
        RowTrace { token, score_gap: f32::INFINITY, mass_gap: f64::INFINITY }
    }
}

/// Token i's top-p mass: floor(exp(z - m) * 2^34).
fn mass(z: f32, m: f32) -> u64 {
    ((z - m).exp() * MASS_SCALE) as u64
}

/// The first index of the largest value (no NaN).
fn argmax(z: &[f32]) -> (usize, f32) {
    z.iter().enumerate().fold((0, z[0]), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) })
}

/// Samples one row: `row` is its V logits, `history` its L tokens so far
/// (already clamped to the row's H slots), `b` its index in the batch.
pub fn sample_row(row: &[f32], history: &[i32], b: usize, o: &SampleOptions) -> RowTrace {
    let v = row.len();
    let mut x = row.to_vec();
    if o.repeat_penalty != 1.0 {
        let r = o.repeat_penalty;
        let mut seen = vec![false; v];
        for &t in history {
            if t >= 0 && (t as usize) < v && !seen[t as usize] {
                seen[t as usize] = true;
                let xi = &mut x[t as usize];
                *xi = if *xi > 0.0 { *xi / r } else { *xi * r };
            }
        }
    }
    if x.iter().any(|x| x.is_nan()) {
        return RowTrace::decided(NAN_ROW);
    }
    if o.is_greedy() {
        return RowTrace::decided(argmax(&x).0 as i32);
    }
    let t = o.temperature;
    // z = x / T, with -0 made +0 (so keys and float comparisons agree).
    let z: Vec<f32> = x.iter().map(|&x| if x / t == 0.0 { 0.0 } else { x / t }).collect();
    let (best, m) = argmax(&z);
    if m == f32::INFINITY {
        return RowTrace::decided(best as i32);
    }
    if m == f32::NEG_INFINITY {
        return RowTrace::decided(NO_FINITE_LOGIT);
    }
    // top-k: the key of the k-th largest z (duplicates counted); 0 keeps all.
    let tau_k = match o.top_k_for(v) {
        None => 0,
        Some(1) => key_of(m),
        Some(k) => {
            let mut keys: Vec<u32> = z.iter().map(|&z| key_of(z)).collect();
            *keys.select_nth_unstable_by(k - 1, |a, b| b.cmp(a)).1
        }
    };
    // top-p: the largest kept key whose mass at or above it reaches the target.
    let (tau_p, mass_gap) = if o.top_p < 1.0 {
        let mut kept: Vec<(u32, u64)> =
            z.iter().map(|&z| (key_of(z), z)).filter(|&(k, _)| k >= tau_k).map(|(k, z)| (k, mass(z, m))).collect();
        let total: u64 = kept.iter().map(|&(_, q)| q).sum();
        let target = (o.top_p as f64 * total as f64).ceil() as u64;
        kept.sort_unstable_by_key(|&(k, _)| std::cmp::Reverse(k));
        let (mut above, mut j) = (None::<u64>, 0);
        let mut found = (kept.last().map_or(0, |k| k.0), f64::INFINITY);
        while j < kept.len() {
            let key = kept[j].0;
            let mut s = above.unwrap_or(0);
            while j < kept.len() && kept[j].0 == key {
                s += kept[j].1;
                j += 1;
            }
            if s >= target {
                let low = (s - target) as f64;
                let high = above.map_or(f64::INFINITY, |a| (target - a) as f64);
                found = (key, low.min(high) / total as f64);
                break;
            }
            above = Some(s);
        }
        found
    } else {
        (0, f64::INFINITY)
    };
    let floor = m + o.ln_min_p();
    let key = row_key(o.seed, b as u64, history.len() as u64);
    let (mut best, mut first, mut second) = (usize::MAX, f32::NEG_INFINITY, f32::NEG_INFINITY);
    for (i, &zi) in z.iter().enumerate() {
        let k = key_of(zi);
        if k < tau_k || k < tau_p || zi < floor {
            continue;
        }
        let s = zi + gumbel(uniform(key, i as u64));
        if best == usize::MAX || s > first {
            second = first;
            (best, first) = (i, s);
        } else if s > second {
            second = s;
        }
    }
    debug_assert!(best != usize::MAX, "the maximum is always kept");
    let score_gap = if second == f32::NEG_INFINITY { f32::INFINITY } else { (first - second) / first.abs().max(1.0) };
    RowTrace { token: best as i32, score_gap, mass_gap }
}

fn host(ix: &Indices, name: &str) -> Result<Vec<i32>> {
    ix.host_values().ok_or_else(|| Error::WrongDevice {
        op: OP,
        arg: name.to_string(),
        expected: Device::Cpu.to_string(),
        found: ix.device().to_string(),
    })
}

/// Every row's choice, without writing anything.
pub fn trace(
    logits: &Tensor,
    history: &Indices,
    history_len: &Indices,
    g: &SampleGeometry,
    o: &SampleOptions,
) -> Result<Vec<RowTrace>> {
    let x = logits.to_f32_vec()?;
    let hist = host(history, "history")?;
    let lens = host(history_len, "history_len")?;
    let h = g.history;
    Ok((0..g.batch)
        .into_par_iter()
        .map(|b| {
            let len = lens[b].clamp(0, h as i32) as usize;
            sample_row(&x[b * g.vocab..][..g.vocab], &hist[b * h..][..len], b, o)
        })
        .collect())
}

/// `sample` on the CPU: writes out (and, with `append`, the history and its lengths).
pub fn sample(
    logits: &Tensor,
    history: &Indices,
    history_len: &Indices,
    out: &Indices,
    g: &SampleGeometry,
    o: &SampleOptions,
) -> Result<()> {
    let rows = trace(logits, history, history_len, g, o)?;
    let tokens: Vec<i32> = rows.iter().map(|r| r.token).collect();
    let missing = || Error::WrongDevice {
        op: OP,
        arg: "out".to_string(),
        expected: Device::Cpu.to_string(),
        found: out.device().to_string(),
    };
    out.host_store(&tokens).ok_or_else(missing)?;
    if o.append {
        let mut hist = host(history, "history")?;
        let mut lens = host(history_len, "history_len")?;
        let h = g.history;
        for (b, &t) in tokens.iter().enumerate() {
            let len = lens[b].clamp(0, h as i32) as usize;
            if t >= 0 && len < h {
                hist[b * h + len] = t;
                lens[b] = len as i32 + 1;
            }
        }
        history.host_store(&hist).ok_or_else(missing)?;
        history_len.host_store(&lens).ok_or_else(missing)?;
    }
    Ok(())
}

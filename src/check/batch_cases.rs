//! Check cases of the ops a prefill chunk and a ragged batch add: RMSNorm
//! over the heads of every row (3-D views), RoPE and the cache append of T
//! tokens per sequence or of one token per sequence at its own position,
//! causal prefill attention, ragged attention, and the embedding gather.

use super::{tolerance, Case, Checker, Outcome, Pair};
use crate::dispatch::sdpa::{SdpaBackend, SdpaPrefs};
use crate::dtype::DType;
use crate::error::Result;
use crate::ops::{self, RopeOptions, SdpaOptions};
use crate::tensor::{Indices, Layout, Tensor};

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    for dtype in DType::ALL {
        for (rows, heads, d) in [(7, 16, 128), (300, 2, 64)] {
            v.push(Case {
                op: "rmsnorm",
                name: format!("heads_{rows}x{heads}x{d}"),
                dtype,
                run: Box::new(move |c: &mut Checker| rmsnorm_heads_case(c, dtype, rows, heads, d)),
            });
        }
        for (hq, hkv, d, pos0, tokens, bias) in [(14, 2, 64, 0, 37, true), (32, 8, 128, 100, 300, false)] {
            v.push(Case {
                op: "rope",
                name: format!("prefill_hq{hq}_hkv{hkv}_d{d}_pos{pos0}_t{tokens}"),
                dtype,
                run: Box::new(move |c: &mut Checker| rope_prefill_case(c, dtype, (hq, hkv, d), pos0, tokens, bias)),
            });
        }
        v.push(Case {
            op: "rope",
            name: "ragged_b5_hq32_hkv8_d128".into(),
            dtype,
            run: Box::new(move |c: &mut Checker| rope_ragged_case(c, dtype)),
        });
        // Causal prefill chunks: from an empty cache and after earlier chunks.
        for (hq, hkv, d, pos0, tokens) in
            [(32, 8, 128, 0, 200), (14, 2, 64, 100, 333), (8, 8, 80, 5, 70), (12, 4, 96, 0, 129), (4, 2, 256, 64, 65)]
        {
            v.push(Case {
                op: "sdpa",
                name: format!("prefill_hq{hq}_hkv{hkv}_d{d}_pos{pos0}_t{tokens}"),
                dtype,
                run: Box::new(move |c: &mut Checker| sdpa_prefill_case(c, dtype, (hq, hkv, d), pos0, tokens)),
            });
        }
        // The third: nine sequences of a GQA group of 4 at D = 128, mmat8 (dispatch::sdpa: mmat8_fills).
        for (hq, hkv, d, lens) in [
            (28, 4, 128, vec![1, 700, 64, 1000, 333]),
            (32, 8, 64, vec![4096, 1, 2048]),
            (32, 8, 128, vec![1, 3000, 64, 1000, 333, 2048, 5, 777, 129]),
        ] {
            let name = format!(
                "ragged_hq{hq}_hkv{hkv}_d{d}_lens{}",
                lens.iter().map(usize::to_string).collect::<Vec<_>>().join("-")
            );
            v.push(Case {
                op: "sdpa",
                name,
                dtype,
                run: Box::new(move |c: &mut Checker| sdpa_ragged_case(c, dtype, (hq, hkv, d), &lens)),
            });
        }
        v.push(Case {
            op: "sdpa",
            name: "prefill_after_decode_plans_hq32_hkv8_d128".into(),
            dtype,
            run: Box::new(move |c: &mut Checker| sdpa_interleaved_case(c, dtype)),
        });
        v.push(Case {
            op: "gather_rows",
            name: "vocab5000_h896_n9".into(),
            dtype,
            run: Box::new(move |c: &mut Checker| gather_case(c, dtype)),
        });
    }
    v.push(Case {
        op: "step_positions",
        name: "b37_two_steps_readback".into(),
        dtype: DType::F32,
        run: Box::new(step_positions_case),
    });
    v
}

/// Both backends' copies of the same index values.
fn indices(c: &Checker, values: &[i32]) -> Result<(Indices, Indices)> {
    Ok((Indices::from_slice(c.gpu, values)?, Indices::from_slice(&c.cpu, values)?))
}

/// The worst of several outcomes (largest error, then most unwritten or clobbered).
fn worst(outs: Vec<Outcome>) -> Outcome {
    outs.into_iter()
        .max_by(|a, b| {
            a.rel_l2.total_cmp(&b.rel_l2).then((a.unwritten + a.clobbered).cmp(&(b.unwritten + b.clobbered)))
        })
        .expect("at least one outcome")
}

fn view(p: &Pair, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Pair> {
    Ok(Pair { gpu: f(&p.gpu)?, cpu: f(&p.cpu)? })
}

/// Qwen3's q/k norm layout: the heads of every row of a wider (QKV) row.
fn rmsnorm_heads_case(c: &mut Checker, dtype: DType, rows: usize, heads: usize, d: usize) -> Result<Outcome> {
    let width = (heads + 3) * d;
    let x = c.input(dtype, &[rows, width], 2.0)?.map(|t| t.as_strided(&[rows, heads, d], &[width, d, 1], d))?;
    let w = c.input(dtype, &[d], 1.0)?;
    let y = c.poisoned_output(dtype, rows * width, Layout::strided(&[rows, heads, d], &[width, d, 1], 2 * d)?)?;
    ops::rmsnorm(c.gpu, &x.gpu, &w.gpu, 1e-6, &y.gpu)?;
    ops::rmsnorm(&c.cpu.clone(), &x.cpu, &w.cpu, 1e-6, &y.cpu)?;
    c.compare("rmsnorm", "", &y, tolerance(dtype))
}

/// `heads` is (hq, hkv, d): T tokens of one sequence from slot pos0, q_out
/// strided as the prefill lays it out ([1, hq, T, d] over a [T, hq, d] buffer).
fn rope_prefill_case(
    c: &mut Checker,
    dtype: DType,
    heads: (usize, usize, usize),
    pos0: usize,
    tokens: usize,
    bias: bool,
) -> Result<Outcome> {
    let (hq, hkv, d) = heads;
    let width = (hq + 2 * hkv) * d;
    let cap = pos0 + tokens + 3;
    let qkv = c.input(dtype, &[1, tokens, width], 1.0)?;
    let b = if bias { Some(c.input(dtype, &[width], 0.5)?) } else { None };
    let q = c.poisoned_output(
        dtype,
        tokens * hq * d,
        Layout::strided(&[1, hq, tokens, d], &[tokens * hq * d, d, hq * d, 1], 0)?,
    )?;
    let cache = Layout::contiguous(&[1, hkv, cap, d])?;
    let kc = c.poisoned_output(dtype, hkv * cap * d, cache.clone())?;
    let vc = c.poisoned_output(dtype, hkv * cap * d, cache)?;
    let o = RopeOptions { hq, hkv, pos: pos0, theta: 5e5, llama3: None };
    let cpu = c.cpu.clone();
    ops::rope_append(c.gpu, &qkv.gpu, b.as_ref().map(|p| &p.gpu), &q.gpu, &kc.gpu, &vc.gpu, &o)?;
    ops::rope_append(&cpu, &qkv.cpu, b.as_ref().map(|p| &p.cpu), &q.cpu, &kc.cpu, &vc.cpu, &o)?;
    let slots = |p: &Pair| view(p, |t| t.narrow(2, pos0, tokens));
    Ok(worst(vec![
        c.compare("rope", "", &q, tolerance(dtype))?,
        c.compare("rope", "", &slots(&kc)?, tolerance(dtype))?,
        c.compare("rope", "", &slots(&vc)?, tolerance(dtype))?,
    ]))
}

/// Five sequences, each at its own position (the last cache slot among
/// them); the last parked past the capacity (rotated into q_out, not stored).
/// The positions step by 199 slots so that the written slots form one
/// strided view of each cache, and every other element must stay poisoned.
fn rope_ragged_case(c: &mut Checker, dtype: DType) -> Result<Outcome> {
    let (batch, hq, hkv, d, cap, step) = (5, 32, 8, 128, 600, 199);
    let positions: Vec<i32> = (0..batch as i32).map(|b| if b < 4 { b * step as i32 } else { cap as i32 }).collect();
    let width = (hq + 2 * hkv) * d;
    let qkv = c.input(dtype, &[batch, width], 1.0)?;
    let q = c.poisoned_output(dtype, batch * hq * d, Layout::contiguous(&[batch, hq, d])?)?;
    // Sequence b < 4 writes slot 199 b: a view [4, hkv, d] of the cache.
    let written = Layout::strided(&[4, hkv, d], &[hkv * cap * d + step * d, cap * d, 1], 0)?;
    let kc = c.poisoned_output(dtype, batch * hkv * cap * d, written.clone())?;
    let vc = c.poisoned_output(dtype, batch * hkv * cap * d, written)?;
    let cache = |p: &Pair| view(p, |t| t.as_strided(&[batch, hkv, cap, d], &[hkv * cap * d, cap * d, d, 1], 0));
    let (kfull, vfull) = (cache(&kc)?, cache(&vc)?);
    let o = RopeOptions { hq, hkv, pos: 0, theta: 1e4, llama3: None };
    let (pg, pc) = indices(c, &positions)?;
    let cpu = c.cpu.clone();
    ops::rope_append_ragged(c.gpu, &qkv.gpu, None, &q.gpu, &kfull.gpu, &vfull.gpu, &pg, &o)?;
    ops::rope_append_ragged(&cpu, &qkv.cpu, None, &q.cpu, &kfull.cpu, &vfull.cpu, &pc, &o)?;
    Ok(worst(vec![
        c.compare("rope", "", &q, tolerance(dtype))?,
        c.compare("rope", "", &kc, tolerance(dtype))?,
        c.compare("rope", "", &vc, tolerance(dtype))?,
    ]))
}

/// Attention of a prefill chunk: T queries at positions pos0.., causal, over
/// the cache's first pos0 + T keys, always on the fused kernel.
fn sdpa_prefill_case(
    c: &mut Checker,
    dtype: DType,
    heads: (usize, usize, usize),
    pos0: usize,
    tokens: usize,
) -> Result<Outcome> {
    let (hq, hkv, d) = heads;
    let cap = pos0 + tokens + 40;
    let q = c.input(dtype, &[tokens, hq, d], 1.0)?;
    let q4 = view(&q, |t| t.as_strided(&[1, hq, tokens, d], &[tokens * hq * d, d, hq * d, 1], 0))?;
    let k = c.input(dtype, &[1, hkv, cap, d], 1.0)?;
    let v = c.input(dtype, &[1, hkv, cap, d], 1.0)?;
    let (ks, vs) = (view(&k, |t| t.narrow(2, 0, pos0 + tokens))?, view(&v, |t| t.narrow(2, 0, pos0 + tokens))?);
    let out = c.poisoned_output(
        dtype,
        tokens * hq * d,
        Layout::strided(&[1, hq, tokens, d], &[tokens * hq * d, d, hq * d, 1], 0)?,
    )?;
    let o = SdpaOptions {
        causal: true,
        prefs: Some(SdpaPrefs { backend: SdpaBackend::Fused, ..Default::default() }),
        ..Default::default()
    };
    ops::sdpa(c.gpu, &q4.gpu, &ks.gpu, &vs.gpu, &out.gpu, &o)?;
    ops::sdpa(&c.cpu.clone(), &q4.cpu, &ks.cpu, &vs.cpu, &out.cpu, &o)?;
    c.compare("sdpa", "", &out, tolerance(dtype))
}

/// One query per sequence over its own cache length.
fn sdpa_ragged_case(c: &mut Checker, dtype: DType, heads: (usize, usize, usize), lens: &[usize]) -> Result<Outcome> {
    let (hq, hkv, d) = heads;
    let (batch, cap) = (lens.len(), lens.iter().copied().max().unwrap_or(1) + 7);
    let q = c.input(dtype, &[batch, hq, 1, d], 1.0)?;
    let k = c.input(dtype, &[batch, hkv, cap, d], 1.0)?;
    let v = c.input(dtype, &[batch, hkv, cap, d], 1.0)?;
    let out = c.poisoned_output(dtype, batch * hq * d, Layout::contiguous(&[batch, hq, 1, d])?)?;
    let values: Vec<i32> = lens.iter().map(|&n| n as i32).collect();
    let (lg, lc) = indices(c, &values)?;
    let o = SdpaOptions::default();
    ops::sdpa_ragged(c.gpu, &q.gpu, &k.gpu, &v.gpu, &out.gpu, &lg, &o)?;
    ops::sdpa_ragged(&c.cpu.clone(), &q.cpu, &k.cpu, &v.cpu, &out.cpu, &lc, &o)?;
    c.compare("sdpa", "", &out, tolerance(dtype))
}

/// A generation alternates plans of one kernel: a prefill chunk (64 query
/// rows a CTA, more shared memory) and ragged decode steps (a few rows, less).
/// Each plan made, then both replayed from the plan cache, in turn: the
/// prefill's launch must still be allowed its shared memory.
fn sdpa_interleaved_case(c: &mut Checker, dtype: DType) -> Result<Outcome> {
    let (hq, hkv, d, tokens) = (32, 8, 128, 256);
    let cap = tokens + 8;
    let q = c.input(dtype, &[tokens, hq, d], 1.0)?;
    let q4 = view(&q, |t| t.as_strided(&[1, hq, tokens, d], &[tokens * hq * d, d, hq * d, 1], 0))?;
    let k = c.input(dtype, &[1, hkv, cap, d], 1.0)?;
    let v = c.input(dtype, &[1, hkv, cap, d], 1.0)?;
    let (ks, vs) = (view(&k, |t| t.narrow(2, 0, tokens))?, view(&v, |t| t.narrow(2, 0, tokens))?);
    let qd = c.input(dtype, &[1, hq, 1, d], 1.0)?;
    let out_d = c.poisoned_output(dtype, hq * d, Layout::contiguous(&[1, hq, 1, d])?)?;
    let out = c.poisoned_output(
        dtype,
        tokens * hq * d,
        Layout::strided(&[1, hq, tokens, d], &[tokens * hq * d, d, hq * d, 1], 0)?,
    )?;
    let (lg, lc) = indices(c, &[tokens as i32])?;
    let o = SdpaOptions {
        causal: true,
        prefs: Some(SdpaPrefs { backend: SdpaBackend::Fused, ..Default::default() }),
        ..Default::default()
    };
    for _ in 0..2 {
        ops::sdpa(c.gpu, &q4.gpu, &ks.gpu, &vs.gpu, &out.gpu, &o)?;
        ops::sdpa_ragged(c.gpu, &qd.gpu, &k.gpu, &v.gpu, &out_d.gpu, &lg, &SdpaOptions::default())?;
    }
    ops::sdpa(c.gpu, &q4.gpu, &ks.gpu, &vs.gpu, &out.gpu, &o)?;
    ops::sdpa(&c.cpu.clone(), &q4.cpu, &ks.cpu, &vs.cpu, &out.cpu, &o)?;
    ops::sdpa_ragged(&c.cpu.clone(), &qd.cpu, &k.cpu, &v.cpu, &out_d.cpu, &lc, &SdpaOptions::default())?;
    Ok(worst(vec![c.compare("sdpa", "", &out, tolerance(dtype))?, c.compare("sdpa", "", &out_d, tolerance(dtype))?]))
}

/// The embedding lookup of nine ids (repeats included) into a strided output.
fn gather_case(c: &mut Checker, dtype: DType) -> Result<Outcome> {
    let (vocab, h, n) = (5000, 896, 9);
    let table = c.input(dtype, &[vocab, h], 1.0)?;
    let ids = [0, 4999, 17, 17, 2500, 1, 4998, 333, 0];
    let (ig, ic) = indices(c, &ids)?;
    let out = c.poisoned_output(dtype, n * (h + 8), Layout::strided(&[n, h], &[h + 8, 1], 0)?)?;
    ops::gather_rows(c.gpu, &table.gpu, &ig, &out.gpu)?;
    ops::gather_rows(&c.cpu.clone(), &table.cpu, &ic, &out.cpu)?;
    c.compare("gather_rows", "", &out, 0.0)
}

/// Two ragged steps' positions on 37 sequences (fed, parked, at the capacity,
/// negative lengths), the device's vectors read back through a pinned
/// readback queued before the second step; every value must equal the CPU
/// twin's (rel_l2 counts the differing values over all of them).
fn step_positions_case(c: &mut Checker) -> Result<Outcome> {
    let n = 37;
    let cap = 50;
    let lens: Vec<i32> = (0..n as i32).map(|b| [b, cap, cap - 1, -1, 3 * b % 60][b as usize % 5]).collect();
    let live: Vec<i32> = (0..n as i32).map(|b| i32::from(b % 3 != 1) * (b % 7 + 1)).collect();
    let poison = vec![-12345; n];
    let (lg, lc) = indices(c, &lens)?;
    let (vg, vc) = indices(c, &live)?;
    let (pg, pc) = indices(c, &poison)?;
    let (kg, kc) = indices(c, &poison)?;
    let mut rb = pg.readback()?;
    let (mut bad, mut unwritten, mut first) = (0, 0, Vec::new());
    for round in 0..2 {
        ops::step_positions(c.gpu, &lg, &vg, &pg, &kg, cap as usize)?;
        ops::step_positions(&c.cpu.clone(), &lc, &vc, &pc, &kc, cap as usize)?;
        if round == 0 {
            pg.copy_to_host(&mut rb)?;
            first = pc.to_vec()?;
        }
    }
    for (g, w) in [(&lg, &lc), (&pg, &pc), (&kg, &kc)] {
        let (g, w) = (g.to_vec()?, w.to_vec()?);
        unwritten += g.iter().filter(|&&x| x == -12345).count();
        bad += g.iter().zip(&w).filter(|(a, b)| a != b).count();
    }
    bad += rb.wait()?.iter().zip(&first).filter(|(a, b)| a != b).count();
    Ok(Outcome {
        op: "step_positions".into(),
        case: "b37_two_steps_readback".into(),
        dtype: DType::F32,
        rel_l2: bad as f64 / (4 * n) as f64,
        tolerance: 0.0,
        unwritten,
        clobbered: 0,
        error: None,
        note: None,
    })
}

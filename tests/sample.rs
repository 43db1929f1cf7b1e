//! `ops::sample` on the CPU backend (the twin of the GPU kernel, which
//! `decode-kernels check` compares with it): greedy ties, the repetition
//! penalty, each truncation's kept set and proportions over many seeded
//! draws, append, error rows, determinism, and every validation error naming
//! its argument. Draws are seeded, so every bound here is a fixed outcome,
//! not a probability of failing.

use decode_kernels::ops::{self, SampleOptions};
use decode_kernels::{Context, DType, Indices, Tensor};

const GREEDY: SampleOptions = SampleOptions {
    temperature: 0.0,
    top_k: None,
    top_p: 1.0,
    min_p: 0.0,
    repeat_penalty: 1.0,
    seed: 0,
    append: false,
};

/// Runs `sample` on `rows` (each V logits) with `history` rows of H ids and
/// their lengths; returns out, the history and the lengths after.
fn run(
    ctx: &Context,
    rows: &[Vec<f32>],
    dtype: DType,
    history: &[i32],
    lens: &[i32],
    o: &SampleOptions,
) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let v = rows.first().map_or(0, |r| r.len());
    let flat: Vec<f32> = rows.concat();
    let logits = Tensor::from_f32(ctx, &flat, &[rows.len(), v], dtype).unwrap();
    let h = Indices::from_slice(ctx, history).unwrap();
    let l = Indices::from_slice(ctx, lens).unwrap();
    let out = Indices::from_slice(ctx, &vec![-9; rows.len()]).unwrap();
    ops::sample(ctx, &logits, &h, &l, &out, o).unwrap();
    (out.to_vec().unwrap(), h.to_vec().unwrap(), l.to_vec().unwrap())
}

/// Tokens of `b` rows holding the same logits, no history: b independent draws.
fn draws(ctx: &Context, logits: &[f32], b: usize, o: &SampleOptions) -> Vec<i32> {
    run(ctx, &vec![logits.to_vec(); b], DType::F32, &[], &vec![0; b], o).0
}

/// Counts of each id among `tokens`.
fn histogram(tokens: &[i32], v: usize) -> Vec<usize> {
    let mut n = vec![0; v];
    for &t in tokens {
        n[t as usize] += 1;
    }
    n
}

/// Pearson's chi-square of `counts` against softmax(logits / T) restricted to
/// `kept`; asserts every draw is in `kept`, every kept id was drawn, and the
/// statistic is below `bound`.
fn assert_proportions(counts: &[usize], logits: &[f32], t: f32, kept: &[usize], bound: f64) {
    let n: usize = counts.iter().sum();
    for (i, &c) in counts.iter().enumerate() {
        assert!(kept.contains(&i) || c == 0, "id {i} drawn {c} times but not in the kept set {kept:?}: {counts:?}");
    }
    let w: Vec<f64> = kept.iter().map(|&i| ((logits[i] / t) as f64).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut chi2 = 0.0;
    for (&i, wi) in kept.iter().zip(&w) {
        let expect = n as f64 * wi / total;
        assert!(counts[i] > 0, "kept id {i} never drawn: {counts:?}");
        chi2 += (counts[i] as f64 - expect).powi(2) / expect;
    }
    assert!(chi2 < bound, "chi-square {chi2:.1} over {} ids: {counts:?}", kept.len());
}

#[test]
fn greedy_takes_the_lowest_id_of_the_largest() {
    let ctx = Context::cpu();
    let rows = vec![vec![1.0, 3.0, 3.0, 2.0], vec![-1.0, -1.0, -1.0, -1.0], vec![0.0, -0.0, 0.0, -5.0]];
    for dtype in DType::ALL {
        let (out, _, _) = run(&ctx, &rows, dtype, &[], &[0, 0, 0], &GREEDY);
        assert_eq!(out, vec![1, 0, 0], "{dtype}");
    }
    // Every logit -inf: greedy still answers (the lowest id); +inf wins.
    let inf = f32::INFINITY;
    let (out, _, _) = run(&ctx, &[vec![-inf; 3], vec![1.0, inf, inf]], DType::F32, &[], &[0, 0], &GREEDY);
    assert_eq!(out, vec![0, 1]);
}

#[test]
fn the_penalty_applies_once_per_id_and_multiplies_negative_logits() {
    let ctx = Context::cpu();
    let o = SampleOptions { repeat_penalty: 2.0, ..GREEDY };
    // Token 1 appears three times: 2.0 / 2 = 1.0 beats 0.9 (three divisions would not).
    let (out, _, _) = run(&ctx, &[vec![0.9, 2.0]], DType::F32, &[1, 1, 1], &[3], &o);
    assert_eq!(out, vec![1]);
    // Negative: -1.0 * 2 = -2.0 loses to -1.5 (dividing would give -0.5 and win).
    let (out, _, _) = run(&ctx, &[vec![-1.5, -1.0]], DType::F32, &[1], &[1], &o);
    assert_eq!(out, vec![0]);
    // Only the first history_len ids count; ids outside the vocabulary are ignored.
    let (out, _, _) = run(&ctx, &[vec![1.1, 2.0]], DType::F32, &[-4, 7, 1], &[2], &o);
    assert_eq!(out, vec![1], "id 1 sits past the row's length");
    let (out, _, _) = run(&ctx, &[vec![1.1, 2.0]], DType::F32, &[-4, 7, 1], &[3], &o);
    assert_eq!(out, vec![0]);
    // Each row has its own history.
    let (out, _, _) = run(&ctx, &[vec![1.1, 2.0], vec![1.1, 2.0]], DType::F32, &[5, 1], &[1, 1], &o);
    assert_eq!(out, vec![1, 0]);
}

#[test]
fn plain_sampling_follows_the_softmax() {
    let ctx = Context::cpu();
    let logits = [0.5, 1.0, -0.3, 2.0, 0.0, 1.2];
    for t in [1.0f32, 0.5] {
        let o = SampleOptions { temperature: t, seed: 11, ..Default::default() };
        let counts = histogram(&draws(&ctx, &logits, 6000, &o), logits.len());
        // df = 5: P(chi2 > 30) is about 1.5e-5.
        assert_proportions(&counts, &logits, t, &[0, 1, 2, 3, 4, 5], 30.0);
    }
}

#[test]
fn top_k_keeps_every_tie_at_the_kth_value() {
    let ctx = Context::cpu();
    // Descending: 3, 3, 2, 2, 1, ...: the 3rd largest is 2, so ids 2, 3, 4 and 7 stay.
    let logits = [0.0, 1.0, 2.0, 3.0, 3.0, 0.5, -1.0, 2.0];
    let o = SampleOptions { top_k: Some(3), seed: 5, ..Default::default() };
    let counts = histogram(&draws(&ctx, &logits, 6000, &o), logits.len());
    assert_proportions(&counts, &logits, 1.0, &[2, 3, 4, 7], 25.0);
    // k = 2 keeps the two 3s; k >= V keeps everything.
    let o = SampleOptions { top_k: Some(2), ..o };
    assert_proportions(&histogram(&draws(&ctx, &logits, 2000, &o), 8), &logits, 1.0, &[3, 4], 20.0);
    let o = SampleOptions { top_k: Some(8), ..o };
    assert_proportions(&histogram(&draws(&ctx, &logits, 8000, &o), 8), &logits, 1.0, &[0, 1, 2, 3, 4, 5, 6, 7], 35.0);
}

#[test]
fn top_p_keeps_the_smallest_head_reaching_the_share() {
    let ctx = Context::cpu();
    // Probabilities 0.5, 0.2, 0.15, 0.1, 0.05 (shuffled): the head reaching 0.8 is 0.5 + 0.2 + 0.15.
    let p = [0.1f32, 0.5, 0.05, 0.15, 0.2];
    let logits: Vec<f32> = p.iter().map(|p| p.ln()).collect();
    let o = SampleOptions { top_p: 0.8, seed: 3, ..Default::default() };
    let counts = histogram(&draws(&ctx, &logits, 6000, &o), 5);
    assert_proportions(&counts, &logits, 1.0, &[1, 3, 4], 20.0);
    // 0.65 is reached by 0.5 + 0.2.
    let o = SampleOptions { top_p: 0.65, ..o };
    assert_proportions(&histogram(&draws(&ctx, &logits, 3000, &o), 5), &logits, 1.0, &[1, 4], 20.0);
    // After top-k 2 (0.5, 0.2), 0.8 of their mass needs both; 0.7 only the first.
    let o = SampleOptions { top_k: Some(2), top_p: 0.8, ..o };
    assert_proportions(&histogram(&draws(&ctx, &logits, 3000, &o), 5), &logits, 1.0, &[1, 4], 20.0);
    let o = SampleOptions { top_k: Some(2), top_p: 0.7, ..o };
    assert_eq!(histogram(&draws(&ctx, &logits, 500, &o), 5), vec![0, 500, 0, 0, 0]);
}

#[test]
fn min_p_drops_tokens_below_its_share_of_the_best() {
    let ctx = Context::cpu();
    let p = [0.1f32, 0.5, 0.05, 0.15, 0.2];
    let logits: Vec<f32> = p.iter().map(|p| p.ln()).collect();
    // 0.25 * 0.5 = 0.125: 0.15 and 0.2 stay, 0.1 and 0.05 go.
    let o = SampleOptions { min_p: 0.25, seed: 8, ..Default::default() };
    assert_proportions(&histogram(&draws(&ctx, &logits, 6000, &o), 5), &logits, 1.0, &[1, 3, 4], 20.0);
    // At temperature 2 the ratios are square roots: 0.1 / 0.5 -> 0.447 >= 0.25 stays, 0.05 -> 0.316 too.
    let o = SampleOptions { temperature: 2.0, ..o };
    let counts = histogram(&draws(&ctx, &logits, 6000, &o), 5);
    assert_proportions(&counts, &logits, 2.0, &[0, 1, 2, 3, 4], 25.0);
    let o = SampleOptions { min_p: 1.0, temperature: 1.0, ..o };
    assert_eq!(histogram(&draws(&ctx, &logits, 300, &o), 5), vec![0, 300, 0, 0, 0]);
}

#[test]
fn top_p_zero_and_top_k_one_are_greedy() {
    let ctx = Context::cpu();
    let mut s = 1u32;
    let mut next = || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 8) as f32 / (1u32 << 24) as f32 * 8.0 - 4.0
    };
    let rows: Vec<Vec<f32>> = (0..40).map(|_| (0..300).map(|_| next()).collect()).collect();
    let lens = vec![0; rows.len()];
    let (want, _, _) = run(&ctx, &rows, DType::F32, &[], &lens, &GREEDY);
    for o in [
        SampleOptions { top_p: 0.0, seed: 4, ..Default::default() },
        SampleOptions { top_k: Some(1), temperature: 3.0, seed: 9, ..Default::default() },
    ] {
        assert_eq!(run(&ctx, &rows, DType::F32, &[], &lens, &o).0, want, "{o:?}");
    }
    // Ties at the maximum stay in both: the draw picks among them.
    let tied = [1.0, 4.0, 4.0, 0.0];
    for o in
        [SampleOptions { top_p: 0.0, ..Default::default() }, SampleOptions { top_k: Some(1), ..Default::default() }]
    {
        let counts = histogram(&draws(&ctx, &tied, 2000, &o), 4);
        assert_proportions(&counts, &tied, 1.0, &[1, 2], 15.0);
    }
}

#[test]
fn append_writes_the_token_where_there_is_room() {
    let ctx = Context::cpu();
    let rows = vec![vec![0.0, 5.0, 1.0]; 5];
    // H = 3; lengths: empty, one slot left, full, above H (full), negative (read as 0).
    let hist = [7, 7, 7, 2, 2, 7, 2, 2, 2, 0, 0, 0, 9, 9, 9];
    let lens = [0, 2, 3, 5, -1];
    let o = SampleOptions { append: true, ..GREEDY };
    let (out, h, l) = run(&ctx, &rows, DType::F32, &hist, &lens, &o);
    assert_eq!(out, vec![1; 5]);
    assert_eq!(h, vec![1, 7, 7, 2, 2, 1, 2, 2, 2, 0, 0, 0, 1, 9, 9]);
    assert_eq!(l, vec![1, 3, 3, 5, 1]);
    // Without append nothing but out changes.
    let (_, h, l) = run(&ctx, &rows, DType::F32, &hist, &lens, &GREEDY);
    assert_eq!((h.as_slice(), l.as_slice()), (&hist[..], &lens[..]));
    // A sampled sequence: each step appends, so the next draw sees a new length.
    let ctx = Context::cpu();
    let logits = Tensor::from_f32(&ctx, &[0.0; 50], &[1, 50], DType::F32).unwrap();
    let (h, l) = (Indices::zeros(&ctx, 8).unwrap(), Indices::zeros(&ctx, 1).unwrap());
    let out = Indices::zeros(&ctx, 1).unwrap();
    let o = SampleOptions { append: true, seed: 1, ..Default::default() };
    let mut tokens = Vec::new();
    for _ in 0..10 {
        ops::sample(&ctx, &logits, &h, &l, &out, &o).unwrap();
        tokens.push(out.to_vec().unwrap()[0]);
    }
    assert_eq!(h.to_vec().unwrap(), tokens[..8].to_vec(), "full after 8: later tokens are not appended");
    assert_eq!(l.to_vec().unwrap(), vec![8]);
    assert!(tokens[..8].windows(2).any(|w| w[0] != w[1]), "each length draws afresh: {tokens:?}");
}

#[test]
fn nan_and_all_minus_inf_rows_give_error_codes() {
    let ctx = Context::cpu();
    let inf = f32::INFINITY;
    let rows = vec![vec![0.0, f32::NAN, 1.0], vec![-inf; 3], vec![1.0, inf, 0.0], vec![-inf, 2.0, -inf]];
    let lens = [0, 0, 0, 0];
    let o = SampleOptions { append: true, ..Default::default() };
    let (out, _, l) = run(&ctx, &rows, DType::F16, &[0; 8], &lens, &o);
    assert_eq!(out, vec![ops::sample::NAN_ROW, ops::sample::NO_FINITE_LOGIT, 1, 1]);
    assert_eq!(l, vec![0, 0, 1, 1], "error codes are not appended");
    let (out, _, _) = run(&ctx, &rows, DType::F32, &[], &lens, &GREEDY);
    assert_eq!(out, vec![-1, 0, 1, 1], "greedy: NaN is still an error, all -inf is id 0");
    let e = ops::tokens_or_error(&[3, -2]).unwrap_err().to_string();
    assert!(e.contains("row 1") && e.contains("-inf"), "{e}");
    let e = ops::tokens_or_error(&[-1]).unwrap_err().to_string();
    assert!(e.contains("NaN in row 0"), "{e}");
    assert_eq!(ops::tokens_or_error(&[4, 0]).unwrap(), vec![4, 0]);
}

#[test]
fn same_seed_same_tokens_other_seeds_differ() {
    let ctx = Context::cpu();
    let rows: Vec<Vec<f32>> = (0..32).map(|b| (0..500).map(|i| ((i * 7 + b) % 13) as f32 * 0.3).collect()).collect();
    let hist: Vec<i32> = (0..32 * 4).map(|i| i % 500).collect();
    let lens = vec![4; 32];
    let o = SampleOptions {
        temperature: 0.9,
        top_k: Some(100),
        top_p: 0.95,
        repeat_penalty: 1.2,
        seed: 77,
        ..Default::default()
    };
    let a = run(&ctx, &rows, DType::F32, &hist, &lens, &o).0;
    assert_eq!(run(&ctx, &rows, DType::F32, &hist, &lens, &o).0, a);
    let b = run(&ctx, &rows, DType::F32, &hist, &lens, &SampleOptions { seed: 78, ..o }).0;
    assert_ne!(a, b);
    // The length is part of the draw's hash, as the row is.
    let c = run(&ctx, &rows, DType::F32, &hist, &[3; 32], &SampleOptions { repeat_penalty: 1.0, ..o }).0;
    let d = run(&ctx, &rows, DType::F32, &hist, &lens, &SampleOptions { repeat_penalty: 1.0, ..o }).0;
    assert_ne!(c, d);
}

#[test]
fn a_padded_row_stride_and_an_empty_batch_work() {
    let ctx = Context::cpu();
    let buf = Tensor::from_f32(&ctx, &[0.0, 9.0, 1.0, -7.0, 3.0, 2.0, 1.0, -7.0], &[2, 4], DType::F32).unwrap();
    let logits = buf.narrow(1, 0, 3).unwrap();
    let out = Indices::zeros(&ctx, 2).unwrap();
    let (h, l) = (Indices::zeros(&ctx, 0).unwrap(), Indices::zeros(&ctx, 2).unwrap());
    ops::sample(&ctx, &logits, &h, &l, &out, &GREEDY).unwrap();
    assert_eq!(out.to_vec().unwrap(), vec![1, 0]);
    let empty = Tensor::empty(&ctx, &[0, 5], DType::F32).unwrap();
    let none = Indices::zeros(&ctx, 0).unwrap();
    let none2 = Indices::zeros(&ctx, 0).unwrap();
    let none3 = Indices::zeros(&ctx, 0).unwrap();
    ops::sample(&ctx, &empty, &none, &none2, &none3, &SampleOptions::default()).unwrap();
}

#[test]
fn bad_options_and_arguments_name_the_field() {
    let ctx = Context::cpu();
    let logits = Tensor::from_f32(&ctx, &[0.0; 8], &[2, 4], DType::F32).unwrap();
    let h = Indices::zeros(&ctx, 6).unwrap();
    let l = Indices::zeros(&ctx, 2).unwrap();
    let out = Indices::zeros(&ctx, 2).unwrap();
    let err = |o: &SampleOptions| ops::sample(&ctx, &logits, &h, &l, &out, o).unwrap_err().to_string();
    let d = SampleOptions::default();
    for (o, field) in [
        (SampleOptions { temperature: -1.0, ..d }, "`temperature`"),
        (SampleOptions { temperature: f32::NAN, ..d }, "`temperature`"),
        (SampleOptions { top_k: Some(0), ..d }, "`top_k`"),
        (SampleOptions { top_p: 1.5, ..d }, "`top_p`"),
        (SampleOptions { top_p: f32::NAN, ..d }, "`top_p`"),
        (SampleOptions { min_p: -0.1, ..d }, "`min_p`"),
        (SampleOptions { repeat_penalty: 0.0, ..d }, "`repeat_penalty`"),
        (SampleOptions { repeat_penalty: f32::INFINITY, ..d }, "`repeat_penalty`"),
    ] {
        let e = err(&o);
        assert!(e.contains("sample") && e.contains(field), "{field}: {e}");
    }
    let call = |logits: &Tensor, h: &Indices, l: &Indices, out: &Indices| {
        ops::sample(&ctx, logits, h, l, out, &d).unwrap_err().to_string()
    };
    let e = call(&logits, &h, &l, &Indices::zeros(&ctx, 3).unwrap());
    assert!(e.contains("`out`") && e.contains("2 values"), "{e}");
    let e = call(&logits, &h, &Indices::zeros(&ctx, 1).unwrap(), &out);
    assert!(e.contains("`history_len`"), "{e}");
    let e = call(&logits, &Indices::zeros(&ctx, 5).unwrap(), &l, &out);
    assert!(e.contains("`history`") && e.contains("multiple of 2"), "{e}");
    let e = call(&logits.reshape(&[8]).unwrap(), &h, &l, &out);
    assert!(e.contains("`logits`") && e.contains("2-D"), "{e}");
    let e = call(
        &logits.transpose(0, 1).unwrap(),
        &h,
        &Indices::zeros(&ctx, 4).unwrap(),
        &Indices::zeros(&ctx, 4).unwrap(),
    );
    assert!(e.contains("`logits`") && e.contains("unit stride"), "{e}");
    let e = call(&Tensor::empty(&ctx, &[2, 0], DType::F32).unwrap(), &h, &l, &out);
    assert!(e.contains("`logits`") && e.contains("columns"), "{e}");
    let big = Tensor::empty(&ctx, &[1, ops::sample::MAX_VOCAB + 1], DType::F16).unwrap();
    let one = Indices::zeros(&ctx, 1).unwrap();
    let e = call(&big, &Indices::zeros(&ctx, 0).unwrap(), &one, &Indices::zeros(&ctx, 1).unwrap());
    assert!(e.contains("`logits`") && e.contains("262144"), "{e}");
    let e = call(&logits, &h, &l, &l);
    assert!(e.contains("`out`") && e.contains("history_len"), "{e}");
    let e = ops::sample(&ctx, &logits, &l, &l, &out, &SampleOptions { append: true, ..d }).unwrap_err().to_string();
    assert!(e.contains("`history`") && e.contains("history_len"), "{e}");
}

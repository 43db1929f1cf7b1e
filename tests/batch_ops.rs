//! The ops a prefill chunk and a ragged batch use, on the CPU backend: each
//! against the one-token or one-sequence op it generalises, and every
//! validation error naming its argument.

use decode_kernels::ops::{self, RopeOptions, SdpaOptions};
use decode_kernels::{Context, DType, Indices, Tensor};

fn rand(ctx: &Context, shape: &[usize], seed: u64) -> Tensor {
    let t = Tensor::empty(ctx, shape, DType::F32).unwrap();
    ops::fill_uniform(ctx, &t, seed, -1.0, 1.0).unwrap();
    t
}

fn err(r: decode_kernels::Result<()>) -> String {
    r.unwrap_err().to_string()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let (a, b) = (a.to_f32_vec().unwrap(), b.to_f32_vec().unwrap());
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn a_prefill_chunk_of_rope_equals_one_token_at_a_time() {
    let ctx = Context::cpu();
    let (hq, hkv, d, t, cap, pos0) = (4, 2, 8, 5, 12, 3);
    let width = (hq + 2 * hkv) * d;
    let o = RopeOptions { hq, hkv, pos: pos0, theta: 1e4, llama3: None };
    let qkv = rand(&ctx, &[1, t, width], 1);
    let q = Tensor::full(&ctx, &[1, hq, t, d], DType::F32, 0.0).unwrap();
    let (kc, vc) = (rand(&ctx, &[1, hkv, cap, d], 2), rand(&ctx, &[1, hkv, cap, d], 3));
    ops::rope_append(&ctx, &qkv, None, &q, &kc, &vc, &o).unwrap();
    let (kc1, vc1) = (rand(&ctx, &[1, hkv, cap, d], 2), rand(&ctx, &[1, hkv, cap, d], 3));
    for i in 0..t {
        let row = qkv.narrow(1, i, 1).unwrap().reshape(&[1, width]).unwrap();
        let q1 = Tensor::empty(&ctx, &[1, hq, d], DType::F32).unwrap();
        ops::rope_append(&ctx, &row, None, &q1, &kc1, &vc1, &RopeOptions { pos: pos0 + i, ..o }).unwrap();
        let qi = q.narrow(2, i, 1).unwrap();
        let qi = qi.as_strided(&[1, hq, d], &[hq * t * d, t * d, 1], qi.layout().offset()).unwrap();
        assert!(max_diff(&q1, &qi) < 1e-6, "token {i}: q");
    }
    assert!(max_diff(&kc, &kc1) < 1e-6 && max_diff(&vc, &vc1) < 1e-6, "caches");
    // Past the capacity: an error naming pos.
    let e = err(ops::rope_append(&ctx, &qkv, None, &q, &kc, &vc, &RopeOptions { pos: cap - t + 1, ..o }));
    assert!(e.contains("`pos`") && e.contains("room for 5 token(s)"), "{e}");
}

#[test]
fn ragged_rope_and_attention_equal_each_sequence_alone() {
    let ctx = Context::cpu();
    let (b, hq, hkv, d, cap) = (3, 4, 2, 64, 10);
    let width = (hq + 2 * hkv) * d;
    let positions = [0, 9, 4];
    let o = RopeOptions { hq, hkv, pos: 0, theta: 1e4, llama3: None };
    let qkv = rand(&ctx, &[b, width], 4);
    let q = Tensor::empty(&ctx, &[b, hq, d], DType::F32).unwrap();
    let (kc, vc) = (rand(&ctx, &[b, hkv, cap, d], 5), rand(&ctx, &[b, hkv, cap, d], 6));
    let pos = Indices::from_slice(&ctx, &positions).unwrap();
    ops::rope_append_ragged(&ctx, &qkv, None, &q, &kc, &vc, &pos, &o).unwrap();
    let lens: Vec<i32> = positions.iter().map(|p| p + 1).collect();
    let out = Tensor::empty(&ctx, &[b, hq, 1, d], DType::F32).unwrap();
    let q4 = q.reshape(&[b, hq, 1, d]).unwrap();
    let lens_ix = Indices::from_slice(&ctx, &lens).unwrap();
    ops::sdpa_ragged(&ctx, &q4, &kc, &vc, &out, &lens_ix, &SdpaOptions::default()).unwrap();
    let (kc1, vc1) = (rand(&ctx, &[b, hkv, cap, d], 5), rand(&ctx, &[b, hkv, cap, d], 6));
    for (s, &p) in positions.iter().enumerate() {
        let one = |t: &Tensor| t.narrow(0, s, 1).unwrap();
        let q1 = Tensor::empty(&ctx, &[1, hq, d], DType::F32).unwrap();
        let o1 = RopeOptions { pos: p as usize, ..o };
        ops::rope_append(&ctx, &one(&qkv), None, &q1, &one(&kc1), &one(&vc1), &o1).unwrap();
        assert!(max_diff(&q1, &one(&q)) < 1e-6, "sequence {s}: q");
        let n = p as usize + 1;
        let (k, v) = (one(&kc1).narrow(2, 0, n).unwrap(), one(&vc1).narrow(2, 0, n).unwrap());
        let o1 = Tensor::empty(&ctx, &[1, hq, 1, d], DType::F32).unwrap();
        ops::sdpa(&ctx, &q1.reshape(&[1, hq, 1, d]).unwrap(), &k, &v, &o1, &SdpaOptions::default()).unwrap();
        assert!(max_diff(&o1, &one(&out)) < 1e-6, "sequence {s}: attention");
    }
    assert!(max_diff(&kc, &kc1) < 1e-6 && max_diff(&vc, &vc1) < 1e-6, "caches");
    // Errors name the argument.
    let two = Indices::from_slice(&ctx, &[0, 1]).unwrap();
    let e = err(ops::rope_append_ragged(&ctx, &qkv, None, &q, &kc, &vc, &two, &o));
    assert!(e.contains("`positions`") && e.contains("3 values"), "{e}");
    let e = err(ops::sdpa_ragged(&ctx, &q4, &kc, &vc, &out, &two, &SdpaOptions::default()));
    assert!(e.contains("`kv_lens`") && e.contains("3 values"), "{e}");
    let shifted = SdpaOptions { offset: Some(2), ..Default::default() };
    let e = err(ops::sdpa_ragged(&ctx, &q4, &kc, &vc, &out, &lens_ix, &shifted));
    assert!(e.contains("`offset`"), "{e}");
}

#[test]
fn gather_rows_embeds_ids_and_names_bad_arguments() {
    let ctx = Context::cpu();
    let table = rand(&ctx, &[6, 4], 7);
    let ids = Indices::from_slice(&ctx, &[5, 0, 5, 9]).unwrap();
    let out = Tensor::empty(&ctx, &[4, 4], DType::F32).unwrap();
    ops::gather_rows(&ctx, &table, &ids, &out).unwrap();
    let (t, o) = (table.to_f32_vec().unwrap(), out.to_f32_vec().unwrap());
    assert_eq!(o[..4], t[20..24]);
    assert_eq!(o[4..8], t[0..4]);
    assert_eq!(o[8..12], t[20..24]);
    assert!(o[12..].iter().all(|x| x.is_nan()), "an id outside the table gives a row of NaN");
    let e = err(ops::gather_rows(&ctx, &table, &Indices::from_slice(&ctx, &[1]).unwrap(), &out));
    assert!(e.contains("`ids`") && e.contains("4 values"), "{e}");
    let half = Tensor::empty(&ctx, &[4, 4], DType::F16).unwrap();
    assert!(err(ops::gather_rows(&ctx, &table, &ids, &half)).contains("`out`"));
    let e = ids.write(&[1, 2]).unwrap_err().to_string();
    assert!(e.contains("`values`") && e.contains("4 values"), "{e}");
}

#[test]
fn rmsnorm_over_heads_equals_row_by_row() {
    let ctx = Context::cpu();
    let x = rand(&ctx, &[3, 2, 8], 8);
    let w = rand(&ctx, &[8], 9);
    let y = Tensor::empty(&ctx, &[3, 2, 8], DType::F32).unwrap();
    ops::rmsnorm(&ctx, &x, &w, 1e-6, &y).unwrap();
    let y2 = Tensor::empty(&ctx, &[6, 8], DType::F32).unwrap();
    ops::rmsnorm(&ctx, &x.reshape(&[6, 8]).unwrap(), &w, 1e-6, &y2).unwrap();
    assert!(max_diff(&y, &y2) < 1e-7);
    let e = err(ops::rmsnorm(&ctx, &w, &w, 1e-6, &w));
    assert!(e.contains("`x`") && e.contains("[outer, rows, cols]"), "{e}");
}

#[test]
fn step_positions_advance_fed_sequences_and_park_the_rest() {
    let ctx = Context::cpu();
    let ix = |v: &[i32]| Indices::from_slice(&ctx, v).unwrap();
    // Capacity 8: fed with room, parked, fed at the capacity (no room: parked), fed from 0.
    let (lens, live) = (ix(&[3, 5, 8, 0]), ix(&[1, 0, 1, 1]));
    let (pos, kv) = (ix(&[-7; 4]), ix(&[-7; 4]));
    for r in 0..2 {
        ops::step_positions(&ctx, &lens, &live, &pos, &kv, 8).unwrap();
        assert_eq!(pos.to_vec().unwrap(), [3 + r, 8, 8, r]);
        assert_eq!(kv.to_vec().unwrap(), [4 + r, 0, 0, 1 + r]);
        assert_eq!(lens.to_vec().unwrap(), [4 + r, 5, 8, 1 + r]);
    }
    let e = err(ops::step_positions(&ctx, &lens, &ix(&[1]), &pos, &kv, 8));
    assert!(e.contains("`live`") && e.contains("4 values"), "{e}");
    let e = err(ops::step_positions(&ctx, &lens, &live, &pos, &pos, 8));
    assert!(e.contains("`kv_lens`") && e.contains("other than positions"), "{e}");
    let e = err(ops::step_positions(&ctx, &lens, &live, &pos, &kv, 1 << 31));
    assert!(e.contains("`parked`"), "{e}");
}

#[test]
fn a_readback_returns_the_values_queued_into_it() {
    let ctx = Context::cpu();
    let ids = Indices::from_slice(&ctx, &[4, -1, 9]).unwrap();
    let mut rb = ids.readback().unwrap();
    let e = rb.wait().unwrap_err().to_string();
    assert!(e.contains("`readback`") && e.contains("never written"), "{e}");
    ids.copy_to_host(&mut rb).unwrap();
    ids.write(&[1, 2, 3]).unwrap();
    assert_eq!(rb.wait().unwrap(), [4, -1, 9], "the copy taken when it was queued");
    let short = Indices::from_slice(&ctx, &[1]).unwrap();
    let e = short.copy_to_host(&mut rb).unwrap_err().to_string();
    assert!(e.contains("`readback`") && e.contains("1 values"), "{e}");
}

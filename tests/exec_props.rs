//! Property test: every op on the CPU backend on random shapes (zeros
//! included), views (dimensions permuted in storage, so transposes; padded, so
//! slices of larger buffers; at an offset; a broadcast input for copy),
//! dtypes, scalars and causal offsets (up to the ends of their integer
//! types), against references written here as plain f64 loops over the
//! buffers' own indices.
//!
//! What each case asserts: the op does not panic; an input it must accept
//! gives Ok (and one it must refuse an Err); every element of an output view
//! is within a relative L2 error of the reference, `||got - ref|| <= tol *
//! ||ref|| + 1e-12`; every element of an output buffer outside the view is
//! unchanged. Inputs hold NaN outside their views, so a read outside a view
//! shows up as a NaN. The bound, with u the output dtype's unit roundoff (f32
//! 2^-24, f16 2^-11, bf16 2^-8): tol = 2u, since the CPU backend computes in
//! f64 and rounds once; 8u on the composed attention path, which also rounds
//! the scores and probabilities to the dtype on the way.
//!
//! Each property runs [`CASES`] cases (no shrinking file is kept); the whole
//! file runs in a few seconds at opt-level 1.

use decode_kernels::dispatch::sdpa::{SdpaBackend, SdpaPrefs};
use decode_kernels::ops::{self, Causal, MatmulOptions, RopeOptions, SdpaOptions, SoftmaxOptions};
use decode_kernels::tensor::HostData;
use decode_kernels::{Context, DType, Tensor};
use proptest::prelude::*;

/// Cases per property.
const CASES: u32 = 64;

fn config() -> ProptestConfig {
    ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() }
}

fn dtypes() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::F32), Just(DType::F16), Just(DType::BF16)]
}

/// The unit roundoff of a dtype.
fn unit_roundoff(d: DType) -> f64 {
    match d {
        DType::F32 => 2f64.powi(-24),
        DType::F16 => 2f64.powi(-11),
        DType::BF16 => 2f64.powi(-8),
    }
}

fn splitmix(z: &mut u64) -> u64 {
    *z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut x = *z;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Every multi-index of `shape`, row-major.
fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut ix = vec![0; shape.len()];
    for _ in 0..n {
        out.push(ix.clone());
        for d in (0..shape.len()).rev() {
            ix[d] += 1;
            if ix[d] < shape[d] {
                break;
            }
            ix[d] = 0;
        }
    }
    out
}

/// How a view's buffer starts: random values in [-amp, amp) on the view's
/// elements (NaN elsewhere), or NaN everywhere (an output never read).
#[derive(Clone, Copy)]
enum Fill {
    Values { seed: u64, amp: f64 },
    Nan,
}

/// A view of logical `shape` over a fresh buffer of its own.
struct View {
    base: Tensor,
    view: Tensor,
    strides: Vec<usize>,
    offset: usize,
    /// The buffer as stored (rounded to the dtype), before the op.
    init: Vec<f64>,
}

impl View {
    /// Lays `shape` out from `seed`: 0 is contiguous at offset 0; otherwise
    /// the dimensions are stored in a shuffled order (the last stays innermost
    /// when `unit_last`), each padded by 0-2 elements, at an offset of 0-3,
    /// and with `broadcast` one dimension may get stride 0.
    fn new(
        ctx: &Context,
        dtype: DType,
        shape: &[usize],
        seed: u64,
        unit_last: bool,
        broadcast: bool,
        fill: Fill,
    ) -> View {
        let rank = shape.len();
        let mut s = seed;
        let mut order: Vec<usize> = (0..rank).collect(); // outermost first
        let mut pads = vec![0; rank];
        let mut offset = 0;
        if seed != 0 {
            let shuffled = if unit_last { rank.saturating_sub(1) } else { rank };
            for i in (1..shuffled).rev() {
                let j = (splitmix(&mut s) % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            pads.iter_mut().for_each(|p| *p = (splitmix(&mut s) % 3) as usize);
            offset = (splitmix(&mut s) % 4) as usize;
        }
        let mut strides = vec![0; rank];
        let mut acc = 1;
        for &d in order.iter().rev() {
            strides[d] = acc;
            acc *= shape[d] + pads[d];
        }
        if broadcast && rank > 0 && seed % 3 == 1 {
            let d = (seed / 3) as usize % rank;
            if !(unit_last && d == rank - 1) {
                strides[d] = 0;
            }
        }
        let len = (offset + acc).max(1);
        let mut init = vec![f64::NAN; len];
        if let Fill::Values { seed, amp } = fill {
            let mut s = seed;
            for ix in indices(shape) {
                let u = (splitmix(&mut s) >> 11) as f64 / (1u64 << 53) as f64;
                init[offset + ix.iter().zip(&strides).map(|(i, st)| i * st).sum::<usize>()] = amp * (2.0 * u - 1.0);
            }
        }
        let base = Tensor::from_host(ctx, HostData::from_f64_iter(dtype, init.into_iter()), &[len]).unwrap();
        let init = base.to_f64_vec().unwrap();
        let view = base.as_strided(shape, &strides, offset).unwrap();
        View { base, view, strides, offset, init }
    }

    /// Buffer index of a multi-index.
    fn at(&self, ix: &[usize]) -> usize {
        self.offset + ix.iter().zip(&self.strides).map(|(i, s)| i * s).sum::<usize>()
    }

    /// The stored value at a multi-index, before the op.
    fn get(&self, ix: &[usize]) -> f64 {
        self.init[self.at(ix)]
    }
}

/// The values an op must leave in an output buffer: None where it must not
/// write (the element stays as it was).
struct Expect<'a> {
    out: &'a View,
    want: Vec<Option<f64>>,
}

impl<'a> Expect<'a> {
    fn new(out: &'a View) -> Self {
        Expect { out, want: vec![None; out.init.len()] }
    }

    fn set(&mut self, ix: &[usize], v: f64) {
        let i = self.out.at(ix);
        self.want[i] = Some(v);
    }

    /// Checks the buffer against the expectation within `tol` (relative L2).
    fn check(&self, tol: f64, what: &str) {
        let got = self.out.base.to_f64_vec().unwrap();
        let (mut err, mut norm) = (0f64, 0f64);
        for (i, (g, w)) in got.iter().zip(&self.want).enumerate() {
            match w {
                Some(w) => {
                    assert!(!g.is_nan() || w.is_nan(), "{what}: element {i} is NaN, expected {w}");
                    err += (g - w) * (g - w);
                    norm += w * w;
                }
                None => {
                    let before = self.out.init[i];
                    assert!(
                        g == &before || (g.is_nan() && before.is_nan()),
                        "{what}: element {i} outside the view changed from {before} to {g}"
                    );
                }
            }
        }
        let (err, norm) = (err.sqrt(), norm.sqrt());
        assert!(err <= tol * norm + 1e-12, "{what}: relative L2 error {} > {tol} (|ref| = {norm})", err / norm);
    }
}

/// softmax of `v[..valid]` with the ops' edge rules: nothing visible (or all
/// -inf) gives zeros; excluded columns give 0.
fn softmax_ref(v: &[f64], valid: usize) -> Vec<f64> {
    let max = v[..valid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return vec![0.0; v.len()];
    }
    let sum: f64 = v[..valid].iter().map(|x| (x - max).exp()).sum();
    (0..v.len()).map(|j| if j < valid { (v[j] - max).exp() / sum } else { 0.0 }).collect()
}

fn small_dims(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0..=3usize, 2 => 0..=max]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn copy_matches_reference(
        (xd, yd) in (dtypes(), dtypes()),
        shape in prop::collection::vec(0..=4usize, 1..=4),
        (xs, ys, vs) in (any::<u64>(), any::<u64>(), any::<u64>()),
    ) {
        let c = Context::cpu();
        let x = View::new(&c, xd, &shape, xs, false, true, Fill::Values { seed: vs, amp: 4.0 });
        let y = View::new(&c, yd, &shape, ys, false, false, Fill::Nan);
        ops::copy(&c, &x.view, &y.view).unwrap();
        let mut e = Expect::new(&y);
        for ix in indices(&shape) {
            e.set(&ix, x.get(&ix));
        }
        e.check(2.0 * unit_roundoff(yd), "copy");
    }

    #[test]
    fn matmul_matches_reference(
        dtype in dtypes(),
        (m, n, k) in (small_dims(9), small_dims(20), small_dims(12)),
        (ab, group, ranks) in (0..=2usize, 0..=2usize, 0..=3u8),
        (alpha, beta) in (-2.0f32..2.0, prop_oneof![Just(0.0f32), -2.0f32..2.0]),
        seeds in any::<[u64; 4]>(),
    ) {
        let c = Context::cpu();
        let (a3, b3) = (ranks & 1 == 1, ranks & 2 == 2);
        let g = group.max(1);
        // 2-D everywhere: one batch, so no grouping; otherwise C is 3-D.
        let (batch, group) = if a3 || b3 { (ab * g, group) } else { (1, group.min(1)) };
        let a_shape = if a3 { vec![batch / g, m, k] } else { vec![m, k] };
        let b_shape = if b3 { vec![batch, k, n] } else { vec![k, n] };
        let c_shape = if a3 || b3 { vec![batch, m, n] } else { vec![m, n] };
        let a = View::new(&c, dtype, &a_shape, seeds[0], false, false, Fill::Values { seed: seeds[3], amp: 2.0 });
        let b = View::new(&c, dtype, &b_shape, seeds[1], false, false, Fill::Values { seed: !seeds[3], amp: 2.0 });
        // beta = 0 never reads C: it starts as NaN.
        let fill = if beta != 0.0 { Fill::Values { seed: seeds[3] ^ 7, amp: 2.0 } } else { Fill::Nan };
        let cv = View::new(&c, dtype, &c_shape, seeds[2], false, false, fill);
        ops::matmul_with(&c, alpha, &a.view, &b.view, beta, &cv.view, &MatmulOptions { group, prefs: None }).unwrap();
        let mut e = Expect::new(&cv);
        for bz in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    let acc: f64 = (0..k)
                        .map(|kk| {
                            let av = if a3 { a.get(&[bz / g, i, kk]) } else { a.get(&[i, kk]) };
                            let bv = if b3 { b.get(&[bz, kk, j]) } else { b.get(&[kk, j]) };
                            av * bv
                        })
                        .sum();
                    let ix = if a3 || b3 { vec![bz, i, j] } else { vec![i, j] };
                    let c0 = if beta != 0.0 { beta as f64 * cv.get(&ix) } else { 0.0 };
                    e.set(&ix, alpha as f64 * acc + c0);
                }
            }
        }
        e.check(2.0 * unit_roundoff(dtype), "matmul");
    }

    #[test]
    fn softmax_matches_reference(
        dtype in dtypes(),
        (p, periods, cols) in (1..=3usize, 0..=4usize, small_dims(40)),
        causal in prop::option::of(prop_oneof![0..=45usize, (0..=2usize).prop_map(|d| usize::MAX - d)]),
        (masked, in_place, scale) in (any::<bool>(), any::<bool>(), -3.0f32..3.0),
        seeds in any::<[u64; 4]>(),
    ) {
        let c = Context::cpu();
        let rows = p * periods;
        let x = View::new(&c, dtype, &[rows, cols], seeds[0], false, false, Fill::Values { seed: seeds[3], amp: 3.0 });
        let y = if in_place { None } else { Some(View::new(&c, dtype, &[rows, cols], seeds[1], false, false, Fill::Nan)) };
        // A mask of [p, cols] with about one -inf in four.
        let mask = masked.then(|| {
            let m = View::new(&c, dtype, &[p, cols], seeds[2], false, false, Fill::Values { seed: !seeds[3], amp: 2.0 });
            let mut s = seeds[2];
            let vals: Vec<f64> = m.init.iter().map(|&v| if splitmix(&mut s) % 4 == 0 { f64::NEG_INFINITY } else { v }).collect();
            m.base.write_buffer(&HostData::from_f64_iter(dtype, vals.iter().copied())).unwrap();
            View { init: m.base.to_f64_vec().unwrap(), ..m }
        });
        let opts = SoftmaxOptions {
            scale,
            causal: causal.map(|offset| Causal { q_len: p, offset }),
            mask: mask.as_ref().map(|m| &m.view),
            prefs: None,
        };
        let out = y.as_ref().unwrap_or(&x);
        ops::softmax(&c, &x.view, &out.view, &opts).unwrap();
        let mut e = Expect::new(out);
        for r in 0..rows {
            let q = r % p;
            let valid = causal.map_or(cols, |o| o.saturating_add(q + 1).min(cols));
            let v: Vec<f64> = (0..cols)
                .map(|j| scale as f64 * x.get(&[r, j]) + mask.as_ref().map_or(0.0, |m| m.get(&[q, j])))
                .collect();
            for (j, w) in softmax_ref(&v, valid).into_iter().enumerate() {
                e.set(&[r, j], w);
            }
        }
        e.check(2.0 * unit_roundoff(dtype), "softmax");
    }

    #[test]
    fn sdpa_matches_reference(
        dtype in dtypes(),
        (batch, hkv, grp, lq, lk) in (0..=2usize, 1..=2usize, 1..=3usize, small_dims(4), small_dims(9)),
        d in prop_oneof![4 => Just(64usize), 1 => Just(80), 1 => Just(128), 1 => Just(256)],
        scale in prop::option::of(0.0f32..0.3),
        causal in any::<bool>(),
        offset in prop::option::of(prop_oneof![
            4 => -8..=12i64,
            1 => prop_oneof![Just(i64::MAX), Just(i64::MAX - 1), Just(i64::MIN), Just(i64::MIN + 1)],
        ]),
        composed in any::<bool>(),
        seeds in any::<[u64; 5]>(),
    ) {
        let c = Context::cpu();
        let hq = hkv * grp;
        let fill = |i: u64| Fill::Values { seed: seeds[4] ^ i, amp: 1.0 };
        let q = View::new(&c, dtype, &[batch, hq, lq, d], seeds[0], false, false, fill(1));
        let k = View::new(&c, dtype, &[batch, hkv, lk, d], seeds[1], false, false, fill(2));
        let v = View::new(&c, dtype, &[batch, hkv, lk, d], seeds[2], false, false, fill(3));
        let out = View::new(&c, dtype, &[batch, hq, lq, d], seeds[3], false, false, Fill::Nan);
        let prefs = SdpaPrefs { backend: if composed { SdpaBackend::Composed } else { SdpaBackend::Auto }, ..Default::default() };
        let opts = SdpaOptions { scale, causal, offset, prefs: Some(prefs), fresh_keys: None };
        let r = ops::sdpa(&c, &q.view, &k.view, &v.view, &out.view, &opts);
        // Query 0's position, and the range the ops keep it in (no result changes).
        let pos0 = offset.unwrap_or(lk as i64 - lq as i64);
        let composable = lk > 0 && (!causal || pos0.clamp(-(lq as i64), lk as i64) >= 0);
        if composed && !composable {
            prop_assert!(r.is_err(), "the composed path needs keys and a causal offset >= 0");
            return Ok(());
        }
        r.unwrap();
        let scale = scale.unwrap_or(1.0 / (d as f32).sqrt()) as f64;
        let mut e = Expect::new(&out);
        for b in 0..batch {
            for h in 0..hq {
                let kh = h / grp;
                for i in 0..lq {
                    let visible = if causal { (pos0 as i128 + i as i128 + 1).clamp(0, lk as i128) as usize } else { lk };
                    let s: Vec<f64> = (0..lk)
                        .map(|j| scale * (0..d).map(|x| q.get(&[b, h, i, x]) * k.get(&[b, kh, j, x])).sum::<f64>())
                        .collect();
                    let p = softmax_ref(&s, visible);
                    for x in 0..d {
                        e.set(&[b, h, i, x], (0..lk).map(|j| p[j] * v.get(&[b, kh, j, x])).sum());
                    }
                }
            }
        }
        let tol = if composed { 8.0 } else { 2.0 } * unit_roundoff(dtype);
        e.check(tol, if composed { "sdpa (composed)" } else { "sdpa" });
    }

    #[test]
    fn rmsnorm_matches_reference(
        dtype in dtypes(),
        (rows, cols) in (small_dims(5), small_dims(48)),
        (eps, in_place) in (1e-6f32..1e-2, any::<bool>()),
        seeds in any::<[u64; 4]>(),
    ) {
        let c = Context::cpu();
        let x = View::new(&c, dtype, &[rows, cols], seeds[0], true, false, Fill::Values { seed: seeds[3], amp: 2.0 });
        let w = View::new(&c, dtype, &[cols], seeds[1], true, false, Fill::Values { seed: !seeds[3], amp: 2.0 });
        let y = if in_place { None } else { Some(View::new(&c, dtype, &[rows, cols], seeds[2], true, false, Fill::Nan)) };
        let out = y.as_ref().unwrap_or(&x);
        ops::rmsnorm(&c, &x.view, &w.view, eps, &out.view).unwrap();
        let mut e = Expect::new(out);
        for r in 0..rows {
            let ms = (0..cols).map(|j| x.get(&[r, j]).powi(2)).sum::<f64>() / cols as f64;
            let inv = 1.0 / (ms + eps as f64).sqrt();
            for j in 0..cols {
                e.set(&[r, j], x.get(&[r, j]) * inv * w.get(&[j]));
            }
        }
        e.check(2.0 * unit_roundoff(dtype), "rmsnorm");
    }

    #[test]
    fn rope_append_matches_reference(
        dtype in dtypes(),
        (batch, hkv, grp, half, cap, pos) in (small_dims(3), 1..=2usize, 0..=2usize, 1..=8usize, 1..=4usize, any::<usize>()),
        theta in prop_oneof![Just(1e4f32), Just(5e5), Just(1e6), 1.5f32..100.0],
        bias in any::<bool>(),
        seeds in any::<[u64; 6]>(),
    ) {
        let c = Context::cpu();
        let (hq, d, pos) = (hkv * grp, 2 * half, pos % cap);
        let width = (hq + 2 * hkv) * d;
        let fill = |i: u64| Fill::Values { seed: seeds[5] ^ i, amp: 2.0 };
        let qkv = View::new(&c, dtype, &[batch, width], seeds[0], true, false, fill(1));
        let bv = bias.then(|| View::new(&c, dtype, &[width], seeds[1], true, false, fill(2)));
        let q_out = View::new(&c, dtype, &[batch, hq, d], seeds[2], true, false, Fill::Nan);
        let k_cache = View::new(&c, dtype, &[batch, hkv, cap, d], seeds[3], true, false, Fill::Nan);
        let v_cache = View::new(&c, dtype, &[batch, hkv, cap, d], seeds[4], true, false, Fill::Nan);
        let o = RopeOptions { hq, hkv, pos, theta, llama3: None };
        ops::rope_append(&c, &qkv.view, bv.as_ref().map(|b| &b.view), &q_out.view, &k_cache.view, &v_cache.view, &o)
            .unwrap();
        let (mut eq, mut ek, mut ev) = (Expect::new(&q_out), Expect::new(&k_cache), Expect::new(&v_cache));
        for b in 0..batch {
            let x: Vec<f64> =
                (0..width).map(|j| qkv.get(&[b, j]) + bv.as_ref().map_or(0.0, |bv| bv.get(&[j]))).collect();
            let rot = |h: usize| -> Vec<f64> {
                let x = &x[h * d..(h + 1) * d];
                let mut y = vec![0.0; d];
                for i in 0..half {
                    let (s, c) = (pos as f64 * (theta as f64).powf(-2.0 * i as f64 / d as f64)).sin_cos();
                    y[i] = x[i] * c - x[i + half] * s;
                    y[i + half] = x[i + half] * c + x[i] * s;
                }
                y
            };
            for h in 0..hq {
                rot(h).into_iter().enumerate().for_each(|(i, y)| eq.set(&[b, h, i], y));
            }
            for h in 0..hkv {
                rot(hq + h).into_iter().enumerate().for_each(|(i, y)| ek.set(&[b, h, pos, i], y));
                (0..d).for_each(|i| ev.set(&[b, h, pos, i], x[(hq + hkv + h) * d + i]));
            }
        }
        let tol = 2.0 * unit_roundoff(dtype);
        eq.check(tol, "rope_append q_out");
        ek.check(tol, "rope_append k_cache");
        ev.check(tol, "rope_append v_cache");
    }

    #[test]
    fn silu_mul_matches_reference(
        dtype in dtypes(),
        (rows, inter) in (small_dims(5), small_dims(24)),
        seeds in any::<[u64; 3]>(),
    ) {
        let c = Context::cpu();
        let gu = View::new(&c, dtype, &[rows, 2 * inter], seeds[0], true, false, Fill::Values { seed: seeds[2], amp: 4.0 });
        let h = View::new(&c, dtype, &[rows, inter], seeds[1], true, false, Fill::Nan);
        ops::silu_mul(&c, &gu.view, &h.view).unwrap();
        let mut e = Expect::new(&h);
        for r in 0..rows {
            for j in 0..inter {
                let (g, u) = (gu.get(&[r, j]), gu.get(&[r, inter + j]));
                e.set(&[r, j], g / (1.0 + (-g).exp()) * u);
            }
        }
        e.check(2.0 * unit_roundoff(dtype), "silu_mul");
    }
}

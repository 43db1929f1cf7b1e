//! `decode-kernels check`: every GPU op against the CPU backend on fresh random
//! inputs. Outputs are poisoned first; a case fails when any element of the
//! output view was not written, any element outside it was, NaNs disagree, or
//! the relative L2 error is over the dtype's tolerance.

mod batch_cases;
mod cases;
mod generate_cases;
mod layer_cases;
mod q8_cases;
mod quant_cases;
mod sample_cases;

pub use layer_cases::step_tolerance;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::context::Context;
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::{HostData, Layout, Tensor};

/// Relative L2 error bounds against the f64 reference (shared/PERF.md, issue texts).
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => 1e-5,
        DType::F16 => 2e-3,
        DType::BF16 => 1e-2,
    }
}

/// Where a GPU result `got` differs from the same op's result by another GPU
/// path `other` (the same sums in the same order, the same roundings, but
/// compiled into other kernels, whose contractions into FMAs may differ:
/// on an H200 f16 and bf16 bit for bit, f32 by an ulp or so) by more than
/// about a rounding of the dtype, or holds anything not a finite number on
/// either side: the error, naming `other`. A wrong row, pair, slot or
/// pointer errs by order 1.
pub fn same_sums_error(got: &[f64], other: &[f64], dtype: DType, what: &str) -> Option<String> {
    let finite = got.iter().chain(other).all(|v| v.is_finite());
    let rel = if finite { rel_l2(got, other) } else { f64::NAN };
    let bound = match dtype {
        DType::F32 => 1e-6,
        DType::F16 => 5e-4,
        DType::BF16 => 4e-3,
    };
    (rel.is_nan() || rel > bound).then(|| format!("rel. L2 {rel:.2e} from {what} on the GPU (bound {bound:.0e})"))
}

/// ||out - ref|| / ||ref|| over elements where both are finite numbers; a NaN
/// or infinity in one but not the other makes the error infinite.
pub fn rel_l2(out: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(out.len(), reference.len());
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&o, &r) in out.iter().zip(reference) {
        if o.is_nan() || r.is_nan() {
            if o.is_nan() != r.is_nan() {
                return f64::INFINITY;
            }
            continue;
        }
        if o.is_infinite() || r.is_infinite() {
            if o != r {
                return f64::INFINITY;
            }
            continue;
        }
        num += (o - r) * (o - r);
        den += r * r;
    }
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

/// One case's verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub op: String,
    pub case: String,
    pub dtype: DType,
    pub rel_l2: f64,
    pub tolerance: f64,
    /// Elements of the output view still holding the poison pattern.
    pub unwritten: usize,
    /// Elements of the output buffer outside the view that were changed.
    pub clobbered: usize,
    pub error: Option<String>,
    /// What a passing case wants said (e.g. `sample`'s near ties).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.unwritten == 0 && self.clobbered == 0 && self.rel_l2 <= self.tolerance
    }
}

/// Host data uploaded to both backends, and the tensors made from it.
pub struct Pair {
    pub gpu: Tensor,
    pub cpu: Tensor,
}

/// Runs cases on `gpu` against a CPU context, with one random stream.
pub struct Checker<'a> {
    pub gpu: &'a Context,
    pub cpu: Context,
    rng: StdRng,
}

impl<'a> Checker<'a> {
    pub fn new(gpu: &'a Context, seed: u64) -> Self {
        Checker { gpu, cpu: Context::cpu(), rng: StdRng::seed_from_u64(seed) }
    }

    /// Standard-normal values scaled by `scale`, rounded to `dtype`.
    pub fn random(&mut self, dtype: DType, len: usize, scale: f64) -> HostData {
        let rng = &mut self.rng;
        HostData::from_f64_iter(
            dtype,
            (0..len).map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                scale * z
            }),
        )
    }

    /// The same contiguous data on both backends.
    pub fn input(&mut self, dtype: DType, shape: &[usize], scale: f64) -> Result<Pair> {
        let n = Layout::contiguous(shape)?.numel();
        let data = self.random(dtype, n, scale);
        self.upload(data, shape)
    }

    pub fn upload(&mut self, data: HostData, shape: &[usize]) -> Result<Pair> {
        Ok(Pair {
            gpu: Tensor::from_host(self.gpu, data.clone(), shape)?,
            cpu: Tensor::from_host(&self.cpu, data, shape)?,
        })
    }

    /// A poisoned buffer of `buffer_len` elements on both backends, viewed through `layout`.
    pub fn poisoned_output(&mut self, dtype: DType, buffer_len: usize, layout: Layout) -> Result<Pair> {
        let p = self.upload(HostData::poison(dtype, buffer_len), &[buffer_len])?;
        Ok(Pair { gpu: p.gpu.with_layout(layout.clone())?, cpu: p.cpu.with_layout(layout)? })
    }

    /// Compares the GPU output view with the CPU one and audits the GPU buffer.
    pub fn compare(&self, op: &str, case: &str, out: &Pair, tol: f64) -> Result<Outcome> {
        let gpu_buf = out.gpu.storage().to_host()?;
        let in_view: Vec<usize> = out.gpu.layout().indices().collect();
        let mut inside = vec![false; gpu_buf.len()];
        for &i in &in_view {
            inside[i] = true;
        }
        let unwritten = in_view.iter().filter(|&&i| gpu_buf.is_poison(i)).count();
        let clobbered = (0..gpu_buf.len()).filter(|&i| !inside[i] && !gpu_buf.is_poison(i)).count();
        let got: Vec<f64> = in_view.iter().map(|&i| gpu_buf.get(i)).collect();
        let want = out.cpu.to_f64_vec()?;
        // A reference without one finite element compares nothing (rel_l2
        // skips elements not finite on both sides): that case cannot fail, so it fails.
        let rel =
            if !want.is_empty() && want.iter().all(|x| !x.is_finite()) { f64::INFINITY } else { rel_l2(&got, &want) };
        // An infinite error says only that some element is not a finite number
        // on one side: say how many on each, and how large the reference runs.
        let note = rel.is_infinite().then(|| {
            let bad = |v: &[f64]| v.iter().filter(|x| !x.is_finite()).count();
            let max = want.iter().filter(|x| x.is_finite()).fold(0.0f64, |m, x| m.max(x.abs()));
            let first = got.iter().zip(&want).position(|(g, w)| g.is_finite() != w.is_finite());
            format!(
                "non-finite: {} of {} on the GPU, {} on the CPU; max |reference| {max:.4e}; first mismatch at {first:?}",
                bad(&got),
                got.len(),
                bad(&want)
            )
        });
        Ok(Outcome {
            op: op.to_string(),
            case: case.to_string(),
            dtype: out.gpu.dtype(),
            rel_l2: rel,
            tolerance: tol,
            unwritten,
            clobbered,
            error: None,
            note,
        })
    }
}

/// The body of a [`Case`]: builds its inputs, runs the op on both backends
/// through the [`Checker`], and says how the results compared.
pub type CaseFn = Box<dyn Fn(&mut Checker) -> Result<Outcome>>;

/// A named check; `run` builds inputs, runs the op on both backends, compares.
pub struct Case {
    pub op: &'static str,
    pub name: String,
    pub dtype: DType,
    pub run: CaseFn,
}

/// Every registered case.
pub fn all_cases() -> Vec<Case> {
    let mut v = cases::all();
    v.extend(layer_cases::all());
    v.extend(batch_cases::all());
    v.extend(quant_cases::all());
    v.extend(q8_cases::all());
    v.extend(sample_cases::all());
    v.extend(generate_cases::all());
    v
}

/// Runs the cases whose "op/name" contains `filter`.
pub fn run(gpu: &Context, filter: Option<&str>, seed: u64, on_result: impl FnMut(&Outcome)) -> Vec<Outcome> {
    run_where(gpu, |full| filter.map_or(true, |f| full.contains(f)), seed, on_result)
}

/// Runs the cases whose "op/name" satisfies `keep`.
pub fn run_where(
    gpu: &Context,
    keep: impl Fn(&str) -> bool,
    seed: u64,
    mut on_result: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let mut checker = Checker::new(gpu, seed);
    let mut out = Vec::new();
    for case in all_cases() {
        let full = format!("{}/{}", case.op, case.name);
        if !keep(&full) {
            continue;
        }
        let mut outcome = (case.run)(&mut checker).unwrap_or_else(|e| Outcome {
            op: case.op.to_string(),
            case: case.name.clone(),
            dtype: case.dtype,
            rel_l2: f64::NAN,
            tolerance: tolerance(case.dtype),
            unwritten: 0,
            clobbered: 0,
            error: Some(e.to_string()),
            note: None,
        });
        // Cases that compare without naming themselves report the case's name.
        if outcome.case.is_empty() {
            outcome.case = case.name.clone();
        }
        on_result(&outcome);
        out.push(outcome);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_sums_fail_past_a_rounding_or_on_any_nan() {
        assert_eq!(same_sums_error(&[1.0, 2.0], &[1.0, 2.0], DType::F32, "x"), None);
        assert_eq!(same_sums_error(&[1.0, 2.0001], &[1.0, 2.0], DType::F16, "x"), None);
        let e = same_sums_error(&[1.0, 2.01], &[1.0, 2.0], DType::F16, "a launch a part").unwrap();
        assert!(e.contains("a launch a part") && e.contains("5e-4"), "{e}");
        // NaN on both sides, which rel_l2 passes over, fails here.
        assert!(same_sums_error(&[f64::NAN], &[f64::NAN], DType::BF16, "x").is_some());
    }

    #[test]
    fn rel_l2_basics() {
        assert_eq!(rel_l2(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((rel_l2(&[1.0, 0.0], &[0.0, 1.0]) - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(rel_l2(&[f64::NAN, 1.0], &[f64::NAN, 1.0]), 0.0);
        assert_eq!(rel_l2(&[f64::NAN, 1.0], &[0.5, 1.0]), f64::INFINITY);
        assert_eq!(rel_l2(&[0.5, 1.0], &[f64::NAN, 1.0]), f64::INFINITY);
        assert_eq!(rel_l2(&[f64::INFINITY], &[f64::INFINITY]), 0.0);
        assert_eq!(rel_l2(&[f64::INFINITY], &[1.0]), f64::INFINITY);
    }

    /// A reference without one finite element cannot be compared: the case
    /// fails (even where both sides agree on NaN) and says why.
    #[test]
    fn an_all_nan_reference_fails_with_a_note() {
        let ctx = Context::cpu();
        let mut c = Checker::new(&ctx, 7);
        let x = c.upload(HostData::F32(vec![f32::NAN; 6]), &[2, 3]).unwrap();
        let y = c.poisoned_output(DType::F32, 6, Layout::contiguous(&[2, 3]).unwrap()).unwrap();
        crate::ops::copy(&ctx, &x.gpu, &y.gpu).unwrap();
        crate::ops::copy(&c.cpu.clone(), &x.cpu, &y.cpu).unwrap();
        let o = c.compare("copy", "nan", &y, 1e-6).unwrap();
        assert!(!o.passed() && o.rel_l2.is_infinite(), "{o:?}");
        let note = o.note.unwrap_or_default();
        assert!(note.contains("6 of 6 on the GPU, 6 on the CPU"), "{note}");
        // One finite reference element is enough to compare (NaN pairs are skipped).
        let mut v = vec![f32::NAN; 6];
        v[4] = 2.0;
        let x = c.upload(HostData::F32(v), &[2, 3]).unwrap();
        crate::ops::copy(&ctx, &x.gpu, &y.gpu).unwrap();
        crate::ops::copy(&c.cpu.clone(), &x.cpu, &y.cpu).unwrap();
        assert!(c.compare("copy", "one", &y, 1e-6).unwrap().passed());
    }

    /// The harness itself must catch unwritten and clobbered elements: run the
    /// copy cases CPU against CPU (always available) and then sabotage outputs.
    #[test]
    fn harness_detects_unwritten_and_clobbered_elements() {
        let ctx = Context::cpu();
        let mut c = Checker::new(&ctx, 7);
        let x = c.input(DType::F32, &[4, 5], 1.0).unwrap();
        let layout = Layout::strided(&[4, 5], &[10, 1], 2).unwrap();
        let y = c.poisoned_output(DType::F32, 40, layout).unwrap();
        crate::ops::copy(&ctx, &x.gpu, &y.gpu).unwrap();
        crate::ops::copy(&c.cpu.clone(), &x.cpu, &y.cpu).unwrap();
        let ok = c.compare("copy", "t", &y, 1e-6).unwrap();
        assert!(ok.passed(), "{ok:?}");

        // Unwritten: re-poison one element inside the view.
        let mut buf = y.gpu.storage().to_host().unwrap();
        if let HostData::F32(v) = &mut buf {
            v[2] = f32::from_bits(crate::tensor::POISON_F32);
            v[0] = 1.0; // outside the view (offset 2)
        }
        y.gpu.write_buffer(&buf).unwrap();
        let bad = c.compare("copy", "t", &y, 1e-6).unwrap();
        assert_eq!((bad.unwritten, bad.clobbered), (1, 1));
        assert!(!bad.passed());
    }
}

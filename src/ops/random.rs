//! `fill_uniform`: deterministic uniform values in [lo, hi), made where the
//! tensor lives (weights of a benchmark model are never uploaded). Element `e`
//! of a fill with `seed` is the same number on every backend: the GPU kernel
//! (kernels/layer.cu: fill_uniform) and [`uniform_at`] compute it with the
//! same exactly rounded f32 steps, so a GPU run and a CPU run of one seed see
//! bit-identical weights.

use crate::context::{Backend, Context};
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::KernelArgs;
use crate::tensor::validate;
use crate::tensor::Tensor;

const OP: &str = "fill_uniform";

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Element `e` of a uniform fill over [lo, hi) with `seed`, in f32 (before
/// rounding to the tensor's dtype).
pub fn uniform_at(seed: u64, e: u64, lo: f32, hi: f32) -> f32 {
    let z = splitmix64(seed ^ splitmix64(e));
    let u = (z >> 40) as f32 * (1.0 / 16_777_216.0); // exact: 24 bits times 2^-24
    lo + (hi - lo) * u
}

/// Fills the contiguous tensor `t` with `uniform_at(seed, e, lo, hi)` for its
/// elements e = 0, 1, ... in order.
pub fn fill_uniform(ctx: &Context, t: &Tensor, seed: u64, lo: f32, hi: f32) -> Result<()> {
    validate::check_device(OP, "t", t, ctx.device())?;
    validate::check_writable(OP, "t", t)?;
    if !t.layout().is_contiguous() {
        return Err(Error::invalid(OP, "t", "a contiguous tensor", format!("strides {:?}", t.layout().strides())));
    }
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(Error::invalid(OP, "lo, hi", "finite bounds with lo <= hi", format!("[{lo}, {hi})")));
    }
    let n = t.numel();
    if n == 0 {
        return Ok(());
    }
    let dtype = t.dtype();
    let bytes = (n * dtype.size_in_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{dtype}");
            ctx.profiler().host(Tag { label: &label, bytes }, || crate::cpu::layer::fill_uniform(t, seed, lo, hi))
        }
        Backend::Cuda(be) => {
            let mut args = KernelArgs::new();
            args.push(super::layer::ptr(OP, t, "t")?).push(n as i64).push(seed).push(lo).push(hi);
            let block = 256;
            let grid = n.div_ceil(block).min(be.caps().sm_count as usize * 16) as u32;
            // The kernel writes t's n contiguous elements (checked in bounds when the view was made).
            super::layer::launch_kernel(be, OP, OP, "uniform", dtype, (grid, 1), block as u32, bytes, &[t], &args)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_values_are_in_range_and_seeded() {
        let xs: Vec<f32> = (0..10_000).map(|e| uniform_at(7, e, -0.5, 0.5)).collect();
        assert!(xs.iter().all(|x| (-0.5..0.5).contains(x)));
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert_ne!(uniform_at(7, 0, 0.0, 1.0), uniform_at(8, 0, 0.0, 1.0));
        assert_eq!(uniform_at(7, 3, 0.0, 1.0), uniform_at(7, 3, 0.0, 1.0));
    }
}

//! `fill_uniform(t, seed, lo, hi)`: element `e` of a fill with `seed` is the
//! same number on every backend. [`uniform_at`] is the definition; the GPU
//! kernel (kernels/layer.cu: fill_uniform) computes it with the same exactly
//! rounded f32 steps, so a GPU run and a CPU run of one seed see bit-identical
//! values.

use crate::device::Device;
use crate::error::{Error, Result};
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

/// A contiguous writable tensor on the device, finite bounds with lo <= hi.
pub fn check(device: Device, t: &Tensor, lo: f32, hi: f32) -> Result<()> {
    validate::check_device(OP, "t", t, device)?;
    validate::check_writable(OP, "t", t)?;
    if !t.layout().is_contiguous() {
        return Err(Error::invalid(OP, "t", "a contiguous tensor", format!("strides {:?}", t.layout().strides())));
    }
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(Error::invalid(OP, "lo, hi", "finite bounds with lo <= hi", format!("[{lo}, {hi})")));
    }
    Ok(())
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

//! `fill_uniform`: deterministic uniform values in [lo, hi), made where the
//! tensor lives (weights of a benchmark model are never uploaded). Element `e`
//! of a fill with `seed` is the same number on every backend: the GPU kernel
//! (kernels/layer.cu: fill_uniform) and [`uniform_at`] compute it with the
//! same exactly rounded f32 steps, so a GPU run and a CPU run of one seed see
//! bit-identical weights.

use crate::context::{Backend, Context};
use crate::error::Result;
use crate::profile::Tag;
use crate::runtime::KernelArgs;
use crate::spec::random::check;
pub use crate::spec::random::uniform_at;
use crate::tensor::Tensor;

const OP: &str = "fill_uniform";

/// Fills the contiguous tensor `t` with `uniform_at(seed, e, lo, hi)` for its
/// elements e = 0, 1, ... in order.
pub fn fill_uniform(ctx: &Context, t: &Tensor, seed: u64, lo: f32, hi: f32) -> Result<()> {
    check(ctx.device(), t, lo, hi)?;
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
            args.push(super::device_ptr(OP, t, "t")?).push(n as i64).push(seed).push(lo).push(hi);
            let block = 256;
            let grid = n.div_ceil(block).min(be.caps().sm_count as usize * 16) as u32;
            // The kernel writes t's n contiguous elements (checked in bounds when the view was made).
            super::layer::launch_kernel(be, OP, OP, "uniform", dtype, (grid, 1, 1), block as u32, bytes, &[t], &args)
        }
    }
}

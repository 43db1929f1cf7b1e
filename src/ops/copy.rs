//! `copy(x, y)`: y = x converted to y's dtype. Both views may have any strides
//! (a transpose, a broadcast input, a slice of a larger buffer).

use crate::context::{Backend, Context};
use crate::error::{Error, Result};
use crate::ops::params::Dims4;
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::copy::{bytes, check};
use crate::tensor::Tensor;

const OP: &str = "copy";

/// `y = x`, converted to y's dtype. x and y must have the same shape and
/// live on the context's device; either may be strided, and y may be x
/// itself but may not otherwise overlap it.
pub fn copy(ctx: &Context, x: &Tensor, y: &Tensor) -> Result<()> {
    check(ctx.device(), x, y)?;
    if x.numel() == 0 {
        return Ok(());
    }
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("copy/cpu/{}_{}", x.dtype(), y.dtype());
            ctx.profiler().host(Tag { label: &label, bytes: bytes(x, y) }, || crate::cpu::copy::copy(x, y))
        }
        Backend::Cuda(b) => launch(b, x, y),
    }
}

fn launch(b: &CudaBackend, x: &Tensor, y: &Tensor) -> Result<()> {
    let name = format!("copy_{}_{}", x.dtype(), y.dtype());
    let label = format!("copy/elementwise/{}_{}", x.dtype(), y.dtype());
    let f = b.function(&kernels::COPY, &[], &name)?;
    let n = x.numel() as i64;
    let block = 256u32;
    let grid = ((n as u64).div_ceil(block as u64)).min(b.caps().sm_count as u64 * 16).max(1) as u32;
    let (xp, yp) = (
        x.device_ptr().ok_or_else(|| Error::invalid(OP, "x", "a device tensor", "a host tensor"))?,
        y.device_ptr().ok_or_else(|| Error::invalid(OP, "y", "a device tensor", "a host tensor"))?,
    );
    let mut args = KernelArgs::new();
    args.push(xp)
        .push(yp)
        .push(Dims4::shape(x.layout()))
        .push(Dims4::strides(x.layout()))
        .push(Dims4::strides(y.layout()))
        .push(n);
    // SAFETY: both views were checked in bounds of their buffers when built, the
    // shapes agree, y does not overlap x except as the identical view, and the
    // kernel touches exactly the n elements of each view.
    unsafe {
        b.launch(Tag { label: &label, bytes: bytes(x, y) }, &[x, y], &f, LaunchConfig::linear(grid, block), &args)
    }
}

//! `dequantize(w, out)`: a quantized matrix's blocks expanded into a dense
//! matrix of out's dtype, each value the reference's f32 (spec::quant, bit
//! for bit) rounded once. What a prefill-sized matmul on quantized weights
//! multiplies (through the dense matmul dispatcher: cuBLAS at those sizes);
//! decode steps read the blocks directly (`quant_matmul`).

use crate::context::{Backend, Context};
use crate::dtype::QuantKind;
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::runtime::{kernels, KernelArgs, LaunchConfig};
use crate::tensor::{Device, QuantMatrix, Tensor};

const OP: &str = "dequantize";

/// kernels/dequant.cu's format code.
fn dequant_kind(kind: QuantKind) -> i32 {
    match kind {
        QuantKind::Q8_0 => 0,
        QuantKind::Q4_0 => 1,
        QuantKind::Q4_K => 2,
        QuantKind::Q6_K => 3,
    }
}

/// `out = dequant(w)`: out [rows, cols] of w's shape, any float dtype, unit
/// column stride, any row stride, on the context's device.
pub fn dequantize(ctx: &Context, w: &QuantMatrix, out: &Tensor) -> Result<()> {
    crate::spec::dequant::check(ctx.device(), w, out)?;
    let (rows, cols) = (w.rows(), w.cols());
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let dtype = out.dtype();
    let bytes = (w.size_bytes() + rows * cols * dtype.size_in_bytes()) as u64;
    let kind = w.kind().name().to_ascii_lowercase();
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu_{kind}/{dtype}");
            ctx.profiler().host(Tag { label: &label, bytes }, || {
                let blocks = w.host_bytes().ok_or_else(|| Error::WrongDevice {
                    op: OP,
                    arg: "w".into(),
                    expected: Device::Cpu.to_string(),
                    found: w.device().to_string(),
                })?;
                let v = crate::spec::quant::dequantize(w.kind(), blocks, rows * cols)?;
                crate::cpu::write_view(OP, "out", out, v.into_iter().map(f64::from))
            })
        }
        Backend::Cuda(be) => {
            let (w_ptr, _) = super::quant_span(OP, w)?;
            let out_ptr = super::device_ptr(OP, out, "out")?;
            let f = be.function(&kernels::DEQUANT, kernels::dtype_build(dtype), &format!("dequant_{dtype}"))?;
            let groups = rows * cols / 32;
            let mut args = KernelArgs::new();
            args.push(w_ptr)
                .push(out_ptr)
                .push(groups as i64)
                .push((cols / 32) as i64)
                .push(w.row_bytes() as i64)
                .push(out.layout().stride(0) as i64)
                .push(dequant_kind(w.kind()));
            let grid = u32::try_from(groups.div_ceil(128))
                .map_err(|_| Error::Unsupported { op: OP, what: format!("{groups} groups of 32 exceed the grid") })?;
            let label = format!("{OP}/group32_{kind}/{dtype}");
            be.hold_quant(w);
            // SAFETY: check validated out [rows, cols] in bounds with a unit
            // column stride on this device; w holds rows * row_bytes bytes of
            // whole blocks (cols is a multiple of the block, QuantMatrix's
            // invariant); the kernel reads group g < rows * cols / 32 of w and
            // writes its 32 elements of out.
            unsafe { be.launch(Tag { label: &label, bytes }, &[out], &f, LaunchConfig::linear(grid, 128), &args) }
        }
    }
}

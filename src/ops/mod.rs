//! The public ops. Each validates its views, then runs on the context's
//! backend: the CPU implementation lives in `cpu::<op>`, the GPU launch here
//! next to the validation that makes it sound.

pub mod copy;
pub mod dequant;
pub mod fused_gemv;
pub mod layer;
pub mod matmul;
pub(crate) mod params;
pub mod q8;
pub mod quant;
pub mod random;
pub mod sample;
pub mod sdpa;
pub mod softmax;

pub use copy::{copy, gather_rows, step_positions};
pub use dequant::dequantize;
pub use fused_gemv::{
    matmul_rope_append, matmul_silu_mul, quant_matmul_rope_append, rmsnorm_matmul, rmsnorm_matmul_silu_mul, RmsNormIn,
    RopeTargets,
};
pub use layer::{rmsnorm, rope_append, rope_append_ragged, silu_mul, Llama3Rope, RopeOptions};
pub use matmul::{matmul, matmul_with, plan_matmul, MatmulOptions, MatmulPlanHandle};
pub use q8::{quantize_x, rmsnorm_q8, silu_mul_q8};
pub use quant::{quant_matmul, quant_matmul_parts, quant_matmul_with, QuantKernel};
pub use random::fill_uniform;
pub use sample::{sample, tokens_or_error, SampleOptions};
pub use sdpa::{plan_sdpa, sdpa, sdpa_ragged, SdpaOptions, SdpaPlanHandle};
pub use softmax::{softmax, Causal, SoftmaxOptions};

use crate::error::{Error, Result};
use crate::tensor::{Indices, QuantMatrix, Tensor};

/// The device address of `t` for a kernel argument; a host tensor is an
/// error naming the op and the argument.
pub(crate) fn device_ptr(op: &'static str, t: &Tensor, name: &str) -> Result<u64> {
    t.device_ptr().ok_or_else(|| Error::invalid(op, name, "a device tensor", "a host tensor"))
}

/// The same for an index array.
pub(crate) fn indices_ptr(op: &'static str, ix: &Indices, name: &str) -> Result<u64> {
    ix.device_ptr().ok_or_else(|| Error::invalid(op, name, "device indices", "host indices"))
}

/// The same for a block-quantized matrix (argument `w`): its buffer's
/// address and readable bytes.
pub(crate) fn quant_span(op: &'static str, w: &QuantMatrix) -> Result<(u64, usize)> {
    w.device_span().ok_or_else(|| Error::invalid(op, "w", "a device matrix", "a host matrix"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::dtype::DType;

    #[test]
    fn a_host_argument_to_a_launch_is_an_error_naming_it() {
        let ctx = Context::cpu();
        let t = Tensor::from_f32(&ctx, &[1.0, 2.0], &[2], DType::F32).unwrap();
        let e = device_ptr("softmax", &t, "x").unwrap_err().to_string();
        assert!(e.contains("softmax") && e.contains("x") && e.contains("a device tensor"), "{e}");
        let ix = Indices::from_slice(&ctx, &[3, 4]).unwrap();
        let e = indices_ptr("sample", &ix, "seeds").unwrap_err().to_string();
        assert!(e.contains("sample") && e.contains("seeds") && e.contains("device indices"), "{e}");
        let w = QuantMatrix::random(&ctx, crate::dtype::QuantKind::Q8_0, 2, 32, 1).unwrap();
        let e = quant_span("dequantize", &w).unwrap_err().to_string();
        assert!(e.contains("dequantize") && e.contains("w") && e.contains("a device matrix"), "{e}");
    }
}

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
pub use quant::{quant_matmul, quant_matmul_with, QuantKernel};
pub use random::fill_uniform;
pub use sample::{sample, tokens_or_error, SampleOptions};
pub use sdpa::{plan_sdpa, sdpa, sdpa_ragged, SdpaOptions, SdpaPlanHandle};
pub use softmax::{softmax, Causal, SoftmaxOptions};

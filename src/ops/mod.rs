//! The public ops. Each validates its views, then runs on the context's
//! backend: the CPU implementation lives in `cpu::<op>`, the GPU launch here
//! next to the validation that makes it sound.

pub mod copy;
pub mod layer;
pub mod matmul;
pub mod random;
pub mod sdpa;
pub mod softmax;

pub use copy::copy;
pub use layer::{rmsnorm, rope_append, silu_mul, RopeOptions};
pub use matmul::{matmul, matmul_with, plan_matmul, MatmulOptions, MatmulPlanHandle};
pub use random::fill_uniform;
pub use sdpa::{plan_sdpa, sdpa, SdpaOptions, SdpaPlanHandle};
pub use softmax::{softmax, Causal, SoftmaxOptions};

use crate::tensor::{Layout, MAX_RANK};

/// A 4-D shape or stride vector as kernels take it (kernels/common.cuh: Dims4).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims4 {
    pub v: [i64; 4],
}

impl Dims4 {
    /// The layout's shape, padded with leading 1s.
    pub fn shape(l: &Layout) -> Self {
        Self::padded(l.shape(), 1)
    }
    /// The layout's strides, padded with leading 0s.
    pub fn strides(l: &Layout) -> Self {
        Self::padded(l.strides(), 0)
    }
    fn padded(v: &[usize], fill: i64) -> Self {
        let mut out = [fill; MAX_RANK];
        let pad = MAX_RANK - v.len();
        for (i, &x) in v.iter().enumerate() {
            out[pad + i] = x as i64;
        }
        Dims4 { v: out }
    }
}

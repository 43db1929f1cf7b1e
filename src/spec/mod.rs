//! What each op computes, independent of any device: its options, the
//! validation of its views (shapes, dtypes, bounds, overlap, device) and the
//! geometry that validation yields. The CPU backend (`cpu`) and the GPU side
//! (`ops`) both start from these, so the two cannot disagree on what a valid
//! call is.

pub mod copy;
pub mod layer;
pub mod matmul;
pub mod random;
pub mod sample;
pub mod sdpa;
pub mod softmax;

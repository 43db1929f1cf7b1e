//! The CPU backend: every op with the GPU's semantics, accumulating in f64.
//! It is the reference the GPU is checked against and the fallback on machines
//! with no GPU. Each op lives in its own module and is called from `ops`.

pub mod copy;
pub mod matmul;
pub mod softmax;

/// The CPU backend holds no state; work is spread over rayon's global pool.
#[derive(Debug, Clone, Default)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn threads(&self) -> usize {
        rayon::current_num_threads()
    }
}

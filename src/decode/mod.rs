//! One decoding step of a model-shaped workload, end to end: the GEMVs, the
//! layer's small kernels and attention over a KV cache, run eagerly, from a
//! recording (planned) or as a CUDA graph. `decode-kernels decode` drives it.

pub mod config;
pub mod model;
pub mod run;

pub use config::{ModelConfig, BUILTIN};
pub use model::{check_fits, cpu_step_scratch_bytes, linear, model_bytes, DecodeModel, Linear, WeightFormat};
pub use run::{
    leave_out_counts, prewarm, profile_steps_with, run, run_with_progress, DecodeOptions, DecodeReport, LeaveOut, Mode,
};

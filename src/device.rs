//! What a device is, independent of any backend: where a buffer lives and
//! what the dispatchers need to know about a GPU. The CUDA runtime fills
//! [`DeviceCaps`] in; the tuning table and the dispatchers only read it.

/// Where a buffer lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host memory, used by the CPU backend.
    Cpu,
    /// The CUDA device of this ordinal.
    Cuda(usize),
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// What the dispatchers and the report need to know about a device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceCaps {
    /// The CUDA device ordinal.
    pub ordinal: usize,
    /// The marketing name the driver reports, e.g. "NVIDIA H100 80GB HBM3".
    pub name: String,
    /// (major, minor), e.g. (9, 0) for Hopper.
    pub compute_capability: (i32, i32),
    /// Streaming multiprocessors; the dispatchers size split-K and the
    /// attention split count, and launches cap their grids, by it.
    pub sm_count: u32,
    /// L2 cache size in bytes; benchmarks rotate through more than this so
    /// inputs come from memory, not cache.
    pub l2_bytes: u64,
    /// Device memory in bytes.
    pub total_mem_bytes: u64,
    /// The most shared memory one block may use after opting in, in bytes
    /// (more than the default 48 KiB on Volta and later).
    pub max_shared_per_block_optin: u32,
    /// Resident threads per SM; bounds how many CTAs of a size fit at once.
    pub max_threads_per_sm: u32,
}

impl DeviceCaps {
    /// NVRTC's name for this architecture, e.g. "sm_90".
    pub fn arch(&self) -> String {
        format!("sm_{}{}", self.compute_capability.0, self.compute_capability.1)
    }
}

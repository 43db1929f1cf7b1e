//! What a device is, independent of any backend: where a buffer lives and
//! what the dispatchers need to know about a GPU. The CUDA runtime fills
//! [`DeviceCaps`] in; the tuning table and the dispatchers only read it.

/// Where a buffer lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
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
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: (i32, i32),
    pub sm_count: u32,
    pub l2_bytes: u64,
    pub total_mem_bytes: u64,
    pub max_shared_per_block_optin: u32,
    pub max_threads_per_sm: u32,
}

impl DeviceCaps {
    /// NVRTC's name for this architecture, e.g. "sm_90".
    pub fn arch(&self) -> String {
        format!("sm_{}{}", self.compute_capability.0, self.compute_capability.1)
    }
}

//! Split-K scratch shared by every launch on a device: f32 partial tiles and
//! per-tile arrival counters (GEMV and fused attention split their reduction
//! over CTAs; the last CTA of a tile reduces and re-arms its counter).

use std::sync::Arc;

use super::CudaBackend;
use crate::error::{Error, Result};

/// Split-K scratch: f32 partial tiles and per-tile arrival counters. Grows on
/// demand and is reused by every later launch (kernels re-arm the counters).
#[derive(Default)]
pub(crate) struct Workspace {
    pub(crate) partials: Option<Arc<cudarc::driver::CudaSlice<u8>>>,
    pub(crate) counters: Option<Arc<cudarc::driver::CudaSlice<u8>>>,
}

impl CudaBackend {
    /// Device addresses of split-K scratch holding at least `partial_floats`
    /// floats and `counters` zeroed counters. Growing frees the old buffers in
    /// stream order, after any launch still using them.
    pub fn workspace(&self, partial_floats: usize, counters: usize) -> Result<(u64, u64)> {
        use cudarc::driver::DevicePtr;
        let mut ws = self.workspace.lock().unwrap_or_else(|e| e.into_inner());
        let mut retired = Vec::new();
        if ws.partials.as_ref().map_or(true, |p| p.len() < partial_floats * 4) {
            retired.extend(ws.partials.replace(Arc::new(self.alloc_bytes(partial_floats * 4)?)));
        }
        if ws.counters.as_ref().map_or(true, |c| c.len() < counters * 4) {
            let bytes = counters.max(1) * 4;
            let mut c = self.alloc_bytes(bytes)?;
            self.stream.memset_zeros(&mut c).map_err(Error::driver("zeroing split-K counters"))?;
            retired.extend(ws.counters.replace(Arc::new(c)));
        }
        // A recording holds every scratch buffer its launches may address,
        // the replaced ones included.
        if let Some(rec) = self.launcher.recorder.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            rec.keep_scratch.extend(retired);
            rec.keep_scratch.extend(ws.partials.iter().chain(ws.counters.iter()).cloned());
        }
        let p = ws.partials.as_ref().map(|p| p.device_ptr(&self.stream).0).unwrap_or(0);
        let c = ws.counters.as_ref().map(|c| c.device_ptr(&self.stream).0).unwrap_or(0);
        Ok((p, c))
    }
}

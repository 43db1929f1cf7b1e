//! What CUDA pieces this machine has. cudarc panics when a library it was told
//! to load dynamically is missing, so nothing touches its driver or NVRTC API
//! before these probes say the library is there.

/// What was found, without creating a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// `libcuda` could be opened.
    pub driver_lib: bool,
    /// `libnvrtc` could be opened.
    pub nvrtc_lib: bool,
    /// Number of CUDA devices, or why it could not be counted.
    pub devices: Result<usize, String>,
}

impl Availability {
    /// Looks at this machine.
    pub fn probe() -> Self {
        let driver_lib = driver_lib_present();
        let nvrtc_lib = nvrtc_lib_present();
        let devices =
            if driver_lib { count_devices() } else { Err("the CUDA driver library (libcuda) was not found".into()) };
        Availability { driver_lib, nvrtc_lib, devices }
    }

    /// Why CUDA cannot serve, if it cannot.
    pub fn unusable_reason(&self) -> Option<String> {
        match &self.devices {
            Err(e) => Some(e.clone()),
            Ok(0) => Some("the CUDA driver reports no device".into()),
            Ok(_) if !self.nvrtc_lib => Some(
                "NVRTC (libnvrtc.so) was not found, so kernels cannot be compiled; add its folder to LD_LIBRARY_PATH"
                    .into(),
            ),
            Ok(_) => None,
        }
    }
}

pub fn driver_lib_present() -> bool {
    // SAFETY: only tries to dlopen candidate library names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

pub fn nvrtc_lib_present() -> bool {
    // SAFETY: only tries to dlopen candidate library names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

fn count_devices() -> Result<usize, String> {
    cudarc::driver::result::init().map_err(|e| format!("cuInit failed: {e}"))?;
    cudarc::driver::result::device::get_count()
        .map(|n| n.max(0) as usize)
        .map_err(|e| format!("cuDeviceGetCount failed: {e}"))
}

/// The driver's CUDA version as (major, minor), e.g. (13, 0).
pub fn driver_version() -> Option<(i32, i32)> {
    if !driver_lib_present() {
        return None;
    }
    let mut v = 0i32;
    // SAFETY: the library is present; the call writes one int.
    let r = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) };
    (r == cudarc::driver::sys::CUresult::CUDA_SUCCESS).then_some((v / 1000, (v % 1000) / 10))
}

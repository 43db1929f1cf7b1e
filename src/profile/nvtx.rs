//! NVTX ranges, so Nsight Systems shows each launch under its label. The
//! library is optional: loaded at run time when it is on the loader path.

use std::ffi::CString;

/// NVTX v2 push/pop, loaded at run time when libnvToolsExt is on the loader
/// path (Nsight Systems then shows each launch's label as a range).
pub(super) struct Nvtx {
    _lib: libloading::Library,
    push: unsafe extern "C" fn(*const std::ffi::c_char) -> i32,
    pop: unsafe extern "C" fn() -> i32,
}

pub(super) struct NvtxRange<'a>(&'a Nvtx);

impl Drop for NvtxRange<'_> {
    fn drop(&mut self) {
        // SAFETY: pop takes no arguments; a pop without a push is ignored by NVTX.
        unsafe { (self.0.pop)() };
    }
}

impl Nvtx {
    pub(super) fn load() -> Option<Self> {
        for name in ["libnvToolsExt.so.1", "libnvToolsExt.so"] {
            // SAFETY: loading runs the library's initialisers; libnvToolsExt's
            // only set up its injection hooks.
            let Ok(lib) = (unsafe { libloading::Library::new(name) }) else { continue };
            // SAFETY: the symbols have these C signatures in every NVTX v2/v3 library.
            let syms = unsafe {
                let push = lib
                    .get::<unsafe extern "C" fn(*const std::ffi::c_char) -> i32>(b"nvtxRangePushA\0")
                    .ok()
                    .map(|s| *s);
                let pop = lib.get::<unsafe extern "C" fn() -> i32>(b"nvtxRangePop\0").ok().map(|s| *s);
                push.zip(pop)
            };
            if let Some((push, pop)) = syms {
                return Some(Nvtx { _lib: lib, push, pop });
            }
        }
        None
    }

    pub(super) fn range(&self, label: &str) -> NvtxRange<'_> {
        let c = CString::new(label.replace('\0', "")).unwrap_or_default();
        // SAFETY: c is a NUL-terminated string that outlives the call (NVTX copies it).
        unsafe { (self.push)(c.as_ptr()) };
        NvtxRange(self)
    }
}

//! cuBLAS through cudarc's raw bindings: one handle per backend, bound to its
//! stream, f32 compute for every element type. Probed before use (cudarc
//! panics when the library is missing).

use std::ffi::c_void;

use cudarc::cublas::{result, sys};
use cudarc::driver::CudaStream;

use crate::dtype::DType;
use crate::error::{Error, Result};
pub use crate::spec::matmul::{GemmCall, Operand};

pub fn library_present() -> bool {
    // SAFETY: only tries to dlopen candidate library names.
    unsafe { sys::is_culib_present() }
}

/// A cuBLAS handle bound to the backend's stream. cuBLAS allows a handle to
/// move between threads but not to be used by two at once, so every use goes
/// through the mutex: `Cublas` is `Sync` because of the lock, not by promise.
pub struct Cublas {
    handle: std::sync::Mutex<Handle>,
}

/// The raw handle, owned: created in `Cublas::new`, destroyed once on drop.
struct Handle(sys::cublasHandle_t);

// SAFETY: a cuBLAS handle is not tied to the thread that created it (cuBLAS
// documents using one handle from several threads as long as calls do not
// overlap); the only access is through Cublas' mutex, which serialises them.
unsafe impl Send for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created in `Cublas::new`, destroyed once here.
        unsafe {
            let _ = result::destroy_handle(self.0);
        }
    }
}

fn cublas_err(during: &str) -> impl FnOnce(result::CublasError) -> Error + '_ {
    move |e| Error::Cublas { during: during.to_string(), message: format!("{:?}", e.0) }
}

fn data_type(d: DType) -> sys::cudaDataType {
    match d {
        DType::F16 => sys::cudaDataType::CUDA_R_16F,
        DType::BF16 => sys::cudaDataType::CUDA_R_16BF,
        DType::F32 => sys::cudaDataType::CUDA_R_32F,
    }
}

impl Cublas {
    pub fn new(stream: &CudaStream) -> Result<Self> {
        if !library_present() {
            return Err(Error::Cublas {
                during: "loading".into(),
                message: "libcublas was not found on the library path".into(),
            });
        }
        let handle = Handle(result::create_handle().map_err(cublas_err("creating a handle"))?);
        // SAFETY: both handles are live; the stream outlives the backend's use of this handle.
        unsafe { result::set_stream(handle.0, stream.cu_stream() as sys::cudaStream_t) }
            .map_err(cublas_err("binding the stream"))?;
        Ok(Cublas { handle: std::sync::Mutex::new(handle) })
    }

    /// # Safety
    /// Pointers, leading dimensions and strides must describe device memory
    /// that holds every element the call touches.
    pub unsafe fn gemm(&self, dtype: DType, call: &GemmCall, alpha: f32, beta: f32) -> Result<()> {
        let op = |o: Operand| {
            if o.transpose {
                sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let t = data_type(dtype);
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        result::gemm_strided_batched_ex(
            handle.0,
            op(call.a),
            op(call.b),
            call.m,
            call.n,
            call.k,
            &alpha as *const f32 as *const c_void,
            call.a_ptr as *const c_void,
            t,
            call.a.ld,
            call.stride_a,
            call.b_ptr as *const c_void,
            t,
            call.b.ld,
            call.stride_b,
            &beta as *const f32 as *const c_void,
            call.c_ptr as *mut c_void,
            t,
            call.ldc,
            call.stride_c,
            call.batch,
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
        .map_err(cublas_err("GemmStridedBatchedEx"))
    }
}

//! Shared set-up of the GPU benchmarks: the context, or a notice and None.
#![allow(dead_code)] // each benchmark uses part of it

use decode_kernels::{Context, DType, DeviceRequest, Tensor};

pub fn gpu(bench: &str) -> Option<Context> {
    match Context::new(DeviceRequest::Cuda(0)) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("{bench}: skipped, no usable GPU ({e})");
            None
        }
    }
}

/// Weights [m, k], tokens [n, k] and output [n, m] in the decode layout, as
/// the matmul views A, B = X^T and C = Y^T.
pub fn decode_matmul(ctx: &Context, m: usize, k: usize, n: usize) -> (Tensor, Tensor, Tensor) {
    let w = decode_kernels::bench::random_tensor(ctx, &[m, k], DType::F16, 1, 0.1).expect("weights");
    let x = decode_kernels::bench::random_tensor(ctx, &[n, k], DType::F16, 2, 0.1).expect("tokens");
    let y = Tensor::empty(ctx, &[n, m], DType::F16).expect("output");
    (w, x.transpose(0, 1).expect("view"), y.transpose(0, 1).expect("view"))
}

/// The decode shapes the benchmarks use: (M, K) of Llama-3-8B's projections.
pub const SHAPES: &[(usize, usize)] = &[(4096, 4096), (14336, 4096), (4096, 14336)];

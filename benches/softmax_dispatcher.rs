//! `ops::softmax` through the dispatcher on attention-score shapes (rows =
//! heads x queries, cols = keys), each iteration waited for.

mod common;

use criterion::{BenchmarkId, Criterion};
use decode_kernels::{ops, DType};

fn main() {
    let Some(ctx) = common::gpu("softmax_dispatcher") else { return };
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("softmax_dispatcher");
    for (rows, cols) in [(32usize, 4096usize), (128, 4096), (32, 32768), (512, 8192)] {
        let x = decode_kernels::bench::random_tensor(&ctx, &[rows, cols], DType::F16, 3, 8.0).expect("input");
        let y = decode_kernels::Tensor::empty(&ctx, &[rows, cols], DType::F16).expect("output");
        g.bench_function(BenchmarkId::new(format!("{rows}x{cols}"), "auto"), |it| {
            it.iter(|| {
                ops::softmax(&ctx, &x, &y, &Default::default()).expect("softmax");
                ctx.synchronize().expect("sync");
            })
        });
    }
    g.finish();
    c.final_summary();
}

//! `ops::matmul` through the dispatcher (validation, plan lookup, launch) on
//! decode shapes, each iteration waited for: what a caller of the op sees.

mod common;

use criterion::{BenchmarkId, Criterion};
use decode_kernels::ops;

fn main() {
    let Some(ctx) = common::gpu("matmul_dispatcher") else { return };
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("matmul_dispatcher");
    for &(m, k) in common::SHAPES {
        for n in [1usize, 8, 16] {
            let (a, b, out) = common::decode_matmul(&ctx, m, k, n);
            g.bench_function(BenchmarkId::new(format!("{m}x{k}"), n), |it| {
                it.iter(|| {
                    ops::matmul(&ctx, 1.0, &a, &b, 0.0, &out).expect("matmul");
                    ctx.synchronize().expect("sync");
                })
            });
        }
    }
    g.finish();
    c.final_summary();
}

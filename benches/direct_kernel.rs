//! The same GEMV launches as `matmul_dispatcher`, without the dispatcher:
//! replayed from a recording (function, grid and arguments resolved once) and
//! as bare `cuLaunchKernel`s. The difference from `matmul_dispatcher` is the
//! dispatcher's cost.

mod common;

use criterion::{BenchmarkId, Criterion};
use decode_kernels::ops;

fn main() {
    let Some(ctx) = common::gpu("direct_kernel") else { return };
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("direct_kernel");
    for &(m, k) in common::SHAPES {
        for n in [1usize, 8, 16] {
            let (a, b, out) = common::decode_matmul(&ctx, m, k, n);
            let rec = ctx.record(|c| ops::matmul(c, 1.0, &a, &b, 0.0, &out)).expect("record");
            g.bench_function(BenchmarkId::new(format!("{m}x{k}/replay"), n), |it| {
                it.iter(|| {
                    rec.replay().expect("replay");
                    ctx.synchronize().expect("sync");
                })
            });
            g.bench_function(BenchmarkId::new(format!("{m}x{k}/bare"), n), |it| {
                it.iter(|| {
                    rec.replay_bare().expect("replay");
                    ctx.synchronize().expect("sync");
                })
            });
        }
    }
    g.finish();
    c.final_summary();
}

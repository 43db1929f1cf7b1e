//! `copy(x, y)`: y = x converted to y's dtype. Both views may have any strides
//! (a transpose, a broadcast input, a slice of a larger buffer).

use crate::context::{Backend, Context};
use crate::error::{Error, Result};
use crate::ops::params::Dims4;
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::copy::{bytes, check, check_gather_rows, check_step_positions};
use crate::tensor::{Indices, Tensor};

const OP: &str = "copy";

/// `y = x`, converted to y's dtype. x and y must have the same shape and
/// live on the context's device; either may be strided, and y may be x
/// itself but may not otherwise overlap it.
pub fn copy(ctx: &Context, x: &Tensor, y: &Tensor) -> Result<()> {
    check(ctx.device(), x, y)?;
    if x.numel() == 0 {
        return Ok(());
    }
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("copy/cpu/{}_{}", x.dtype(), y.dtype());
            ctx.profiler().host(Tag { label: &label, bytes: bytes(x, y) }, || crate::cpu::copy::copy(x, y))
        }
        Backend::Cuda(b) => launch(b, x, y),
    }
}

fn launch(b: &CudaBackend, x: &Tensor, y: &Tensor) -> Result<()> {
    let name = format!("copy_{}_{}", x.dtype(), y.dtype());
    let label = format!("copy/elementwise/{}_{}", x.dtype(), y.dtype());
    let f = b.function(&kernels::COPY, &[], &name)?;
    let n = x.numel() as i64;
    let block = 256u32;
    let grid = ((n as u64).div_ceil(block as u64)).min(b.caps().sm_count as u64 * 16).max(1) as u32;
    let (xp, yp) = (super::device_ptr(OP, x, "x")?, super::device_ptr(OP, y, "y")?);
    let mut args = KernelArgs::new();
    args.push(xp)
        .push(yp)
        .push(Dims4::shape(x.layout()))
        .push(Dims4::strides(x.layout()))
        .push(Dims4::strides(y.layout()))
        .push(n);
    // SAFETY: both views were checked in bounds of their buffers when built, the
    // shapes agree, y does not overlap x except as the identical view, and the
    // kernel touches exactly the n elements of each view.
    unsafe {
        b.launch(Tag { label: &label, bytes: bytes(x, y) }, &[x, y], &f, LaunchConfig::linear(grid, block), &args)
    }
}

/// `out[r, :] = table[ids[r], :]`: the embedding lookup of a batch of token
/// ids, one launch whatever their number. table [rows, cols] and out [n, cols]
/// share a dtype; `ids` holds n values on the context's device (read when the
/// kernel runs, so a recorded step embeds the tokens written before each
/// replay). An id outside the table yields a row of NaN (the ids may be a
/// sampled token on the device, where no error can be raised).
pub fn gather_rows(ctx: &Context, table: &Tensor, ids: &Indices, out: &Tensor) -> Result<()> {
    const OP: &str = "gather_rows";
    let (n, cols) = check_gather_rows(ctx.device(), table, ids, out)?;
    if n == 0 || cols == 0 {
        return Ok(());
    }
    let dtype = table.dtype();
    let moved = (2 * n * cols * dtype.size_in_bytes()) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => {
            let label = format!("{OP}/cpu/{dtype}");
            let ids = ids.host_values().unwrap_or_default();
            ctx.profiler().host(Tag { label: &label, bytes: moved }, || crate::cpu::copy::gather_rows(table, &ids, out))
        }
        Backend::Cuda(b) => {
            let f = b.function(&kernels::COPY, &[], &format!("{OP}_{dtype}"))?;
            let label = format!("{OP}/row/{dtype}");
            let ptr = |t: &Tensor, name: &str| super::device_ptr(OP, t, name);
            let ids_ptr = super::indices_ptr(OP, ids, "ids")?;
            b.hold_indices(&[ids]);
            let l = |t: &Tensor| t.layout().stride(0) as i64;
            let mut args = KernelArgs::new();
            args.push(ptr(table, "table")?)
                .push(ids_ptr)
                .push(ptr(out, "out")?)
                .push(table.shape()[0] as i64)
                .push(cols as i64)
                .push(l(table))
                .push(l(out));
            let grid = u32::try_from(n)
                .map_err(|_| Error::Unsupported { op: OP, what: format!("{n} rows exceed the grid limit") })?;
            let block = (cols.div_ceil(32) * 32).clamp(32, 256) as u32;
            // SAFETY: check_gather_rows validated table [rows, cols] and out [n, cols]
            // in bounds with unit column strides and ids of n values; the kernel
            // reads table rows only at ids within [0, rows) and writes out rows < n.
            unsafe {
                b.launch(
                    Tag { label: &label, bytes: moved },
                    &[table, out],
                    &f,
                    LaunchConfig::linear(grid, block),
                    &args,
                )
            }
        }
    }
}

/// The positions and cache lengths of a ragged decode step, from each
/// sequence's filled length `lens` (device vectors of B values, updated in
/// place) and `live` (nonzero: sequence b is fed this step). For a fed
/// sequence with room (`lens[b] < parked`): `positions[b] = lens[b]`,
/// `kv_lens[b] = lens[b] + 1` and `lens[b]` grows by one; every other
/// sequence is parked: `positions[b] = parked` (the cache capacity, where
/// nothing is written) and `kv_lens[b] = 0`. One launch that a recorded step
/// replays, so consecutive steps need no host write between them.
pub fn step_positions(
    ctx: &Context,
    lens: &Indices,
    live: &Indices,
    positions: &Indices,
    kv_lens: &Indices,
    parked: usize,
) -> Result<()> {
    const OP: &str = "step_positions";
    let n = check_step_positions(ctx.device(), lens, live, positions, kv_lens, parked)?;
    if n == 0 {
        return Ok(());
    }
    let moved = (5 * n * 4) as u64;
    match ctx.backend() {
        Backend::Cpu(_) => ctx.profiler().host(Tag { label: "step_positions/cpu", bytes: moved }, || {
            let (l, on) = (lens.host_values().unwrap_or_default(), live.host_values().unwrap_or_default());
            let (l, p, k) = crate::cpu::copy::step_positions(&l, &on, parked as i32);
            for (ix, v) in [(lens, l), (positions, p), (kv_lens, k)] {
                ix.host_store(&v).ok_or_else(|| Error::invalid(OP, "indices", "host indices", "device indices"))?;
            }
            Ok(())
        }),
        Backend::Cuda(b) => {
            let f = b.function(&kernels::COPY, &[], OP)?;
            let ptr = |ix: &Indices, name: &str| super::indices_ptr(OP, ix, name);
            let mut args = KernelArgs::new();
            args.push(ptr(lens, "lens")?)
                .push(ptr(live, "live")?)
                .push(ptr(positions, "positions")?)
                .push(ptr(kv_lens, "kv_lens")?)
                .push(n as i32)
                .push(parked as i32);
            b.hold_indices(&[lens, live, positions, kv_lens]);
            let grid = n.div_ceil(128) as u32;
            // SAFETY: check_step_positions validated four distinct device
            // vectors of n values each; the kernel touches index b < n of each.
            unsafe {
                b.launch(
                    Tag { label: "step_positions/row", bytes: moved },
                    &[],
                    &f,
                    LaunchConfig::linear(grid, 128),
                    &args,
                )
            }
        }
    }
}

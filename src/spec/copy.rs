//! `copy(x, y)`: y = x converted to y's dtype; any strides on either side.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::{Indices, Tensor};

const OP: &str = "copy";

/// Same shape, y on the device and writable, y not overlapping x (unless it is x).
pub fn check(device: Device, x: &Tensor, y: &Tensor) -> Result<()> {
    validate::check_device(OP, "x", x, device)?;
    validate::check_device(OP, "y", y, device)?;
    validate::check_shape(OP, "y", y, x.shape())?;
    validate::check_writable(OP, "y", y)?;
    validate::check_overlap(OP, "y", y, &[("x", x)], Aliasing::IdenticalAllowed)
}

/// Bytes a copy moves: x read and y written once.
pub fn bytes(x: &Tensor, y: &Tensor) -> u64 {
    (x.numel() * (x.dtype().size_in_bytes() + y.dtype().size_in_bytes())) as u64
}

/// `gather_rows`: table [rows, cols] and out [n, cols] of one dtype on
/// `device` with unit column strides, ids holding n values on `device`, out
/// writable and disjoint from the table. Returns (n, cols).
pub fn check_gather_rows(device: Device, table: &Tensor, ids: &Indices, out: &Tensor) -> Result<(usize, usize)> {
    const OP: &str = "gather_rows";
    validate::check_device(OP, "table", table, device)?;
    validate::check_device(OP, "out", out, device)?;
    validate::check_rank(OP, "table", table, 2)?;
    validate::check_rank(OP, "out", out, 2)?;
    validate::check_dtype(OP, "out", out, table.dtype())?;
    let (n, cols) = (out.shape()[0], table.shape()[1]);
    validate::check_shape(OP, "out", out, &[n, cols])?;
    for (name, t) in [("table", table), ("out", out)] {
        if cols > 1 && t.layout().stride(1) != 1 {
            return Err(Error::invalid(
                OP,
                name,
                "a unit stride along the rows",
                format!("strides {:?}", t.layout().strides()),
            ));
        }
    }
    super::check_indices(OP, "ids", ids, device, n)?;
    validate::check_writable(OP, "out", out)?;
    validate::check_overlap(OP, "out", out, &[("table", table)], Aliasing::Forbidden)?;
    Ok((n, cols))
}

/// `step_positions`: lens, live, positions and kv_lens hold n values each on
/// `device`, four distinct vectors; `parked` (the cache capacity) fits an i32.
/// Returns n.
pub fn check_step_positions(
    device: Device,
    lens: &Indices,
    live: &Indices,
    positions: &Indices,
    kv_lens: &Indices,
    parked: usize,
) -> Result<usize> {
    const OP: &str = "step_positions";
    let n = lens.len();
    crate::tensor::validate::check_indices_device(OP, "lens", lens, device)?;
    for (name, ix) in [("live", live), ("positions", positions), ("kv_lens", kv_lens)] {
        super::check_indices(OP, name, ix, device, n)?;
    }
    let all = [("lens", lens), ("live", live), ("positions", positions), ("kv_lens", kv_lens)];
    for (i, (a, x)) in all.iter().enumerate() {
        if let Some((b, _)) = all[i + 1..].iter().find(|(_, y)| std::ptr::eq(*x, *y)) {
            return Err(Error::invalid(OP, *b, format!("a vector other than {a}"), format!("{a} itself")));
        }
    }
    if i32::try_from(parked).is_err() {
        return Err(Error::invalid(OP, "parked", "a cache capacity below 2^31", parked));
    }
    Ok(n)
}

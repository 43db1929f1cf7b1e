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

//! `copy(x, y)`: y = x converted to y's dtype; any strides on either side.

use crate::device::Device;
use crate::error::Result;
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::Tensor;

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

//! `dequantize`: a [`QuantMatrix`] [rows, cols] expanded into a dense matrix
//! (the validation shared by both backends).

use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::validate;
use crate::tensor::{QuantMatrix, Tensor};

const OP: &str = "dequantize";

/// `out` is [rows, cols] of w's shape on `device`, writable, with a unit
/// column stride; w is on `device` too.
pub fn check(device: Device, w: &QuantMatrix, out: &Tensor) -> Result<()> {
    validate::check_quant_device(OP, "w", w, device)?;
    validate::check_device(OP, "out", out, device)?;
    validate::check_shape(OP, "out", out, &[w.rows(), w.cols()])?;
    if w.cols() > 1 && out.layout().stride(1) != 1 {
        return Err(Error::invalid(
            OP,
            "out",
            "a unit stride along the rows",
            format!("strides {:?}", out.layout().strides()),
        ));
    }
    validate::check_writable(OP, "out", out)
}

//! y = x (converted to y's dtype), any layouts.

use crate::error::Result;
use crate::tensor::Tensor;

/// `y = x` rounded to y's dtype, element by element in logical order.
pub fn copy(x: &Tensor, y: &Tensor) -> Result<()> {
    // Gather first: y may be x's buffer, so no read guard may be held while writing.
    let values = x.to_f64_vec()?;
    super::write_view("copy", "y", y, values)
}

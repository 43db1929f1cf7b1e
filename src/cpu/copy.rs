//! y = x (converted to y's dtype), any layouts.

use crate::error::Result;
use crate::tensor::Tensor;

/// `y = x` rounded to y's dtype, element by element in logical order.
pub fn copy(x: &Tensor, y: &Tensor) -> Result<()> {
    // Gather first: y may be x's buffer, so no read guard may be held while writing.
    let values = x.to_f64_vec()?;
    super::write_view("copy", "y", y, values)
}

/// out[r] = table[ids[r]] (a row of NaN for an id outside the table, as the kernel).
pub fn gather_rows(table: &Tensor, ids: &[i32], out: &Tensor) -> Result<()> {
    let (rows, cols) = (table.shape()[0], table.shape()[1]);
    let mut values = Vec::with_capacity(ids.len() * cols);
    for &id in ids {
        match usize::try_from(id).ok().filter(|&i| i < rows) {
            Some(i) => values.extend(table.narrow(0, i, 1)?.to_f64_vec()?),
            None => values.extend(std::iter::repeat(f64::NAN).take(cols)),
        }
    }
    super::write_view("gather_rows", "out", out, values)
}

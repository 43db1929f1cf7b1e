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

/// The kernel's `step_positions` on host values: returns (lens, positions,
/// kv_lens) after the step.
pub fn step_positions(lens: &[i32], live: &[i32], parked: i32) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let mut out = (lens.to_vec(), vec![parked; lens.len()], vec![0; lens.len()]);
    for (b, (&len, &on)) in lens.iter().zip(live).enumerate() {
        if on != 0 && (0..parked).contains(&len) {
            out.0[b] = len + 1;
            out.1[b] = len;
            out.2[b] = len + 1;
        }
    }
    out
}

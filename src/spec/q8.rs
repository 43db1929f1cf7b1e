//! Activations rounded to 8 bits per 32 elements: the x the integer-dot GEMV
//! (kernels/quant_dot.cu) multiplies, byte for byte as its CTAs build it in
//! shared memory. A [`crate::tensor::Q8Activations`] holds `rows` rows of
//! `cols` elements (cols a multiple of 32) in one buffer:
//!
//! - quants: `rows` x [`q8_row_bytes`] bytes; unit u's 32 quants (i8) sit in
//!   16-byte chunks 2 (u & 1) and 2 (u & 1) + 1 of its unit pair P = u / 2,
//!   pair P's chunk q at byte 64 P + 16 (q ^ ((P / 2) & 3)) of the row (the
//!   kernel's bank-spread order: [`q8_chunk_offset`]);
//! - then units: `rows` x cols / 32 x 8 bytes: the unit's scale dx (f32) and
//!   the sums of its two 16-quant halves (i16 each, low half first).
//!
//! Per unit of 32 values v (f32): amax = max |v|; dx = amax / 127 and
//! q = round-half-even(v * (127 / amax)) (0 where amax is 0), both in f32;
//! a unit with an infinity or NaN gets dx NaN and quants 0 (the product then
//! carries NaN, as a multiply would). The unit stands for dx * q.

pub use crate::tensor::{q8_bytes, q8_chunk_offset, q8_row_bytes};

/// One unit of 32 values: its quants, scale and the sums of its halves.
pub fn quantize_unit(v: &[f32]) -> ([i8; 32], f32, i16, i16) {
    debug_assert_eq!(v.len(), 32);
    let finite = v.iter().all(|x| x.is_finite());
    let amax = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let dx = if finite { amax / 127.0 } else { f32::NAN };
    let inv = if finite && amax > 0.0 { 127.0 / amax } else { 0.0 };
    let mut q = [0i8; 32];
    for (qi, &x) in q.iter_mut().zip(v) {
        *qi = (x * inv).round_ties_even() as i8;
    }
    let sum = |h: &[i8]| h.iter().map(|&x| x as i16).sum::<i16>();
    (q, dx, sum(&q[..16]), sum(&q[16..]))
}

/// `rows` x `cols` values (row-major, cols a multiple of 32) in the layout
/// above; pad bytes of a row (cols not a multiple of 64) are 0.
pub fn quantize_rows(values: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    assert!(cols % 32 == 0 && values.len() == rows * cols, "whole units of 32");
    let (rb, units) = (q8_row_bytes(cols), cols / 32);
    let mut out = vec![0u8; q8_bytes(rows, cols)];
    let meta0 = rows * rb;
    for r in 0..rows {
        for u in 0..units {
            let (q, dx, s0, s1) = quantize_unit(&values[r * cols + 32 * u..r * cols + 32 * (u + 1)]);
            for half in 0..2 {
                let at = r * rb + q8_chunk_offset(u, half);
                for i in 0..16 {
                    out[at + i] = q[16 * half + i] as u8;
                }
            }
            let m = meta0 + (r * units + u) * 8;
            out[m..m + 4].copy_from_slice(&dx.to_le_bytes());
            out[m + 4..m + 6].copy_from_slice(&s0.to_le_bytes());
            out[m + 6..m + 8].copy_from_slice(&s1.to_le_bytes());
        }
    }
    out
}

/// The values a buffer stands for (dx * q), row-major `rows` x `cols`.
pub fn dequantize_rows(bytes: &[u8], rows: usize, cols: usize) -> Vec<f32> {
    let (rb, units) = (q8_row_bytes(cols), cols / 32);
    let meta0 = rows * rb;
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for u in 0..units {
            let m = meta0 + (r * units + u) * 8;
            let dx = f32::from_le_bytes(bytes[m..m + 4].try_into().expect("4 bytes"));
            for half in 0..2 {
                let at = r * rb + q8_chunk_offset(u, half);
                out.extend(bytes[at..at + 16].iter().map(|&b| dx * (b as i8) as f32));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_a_row_are_a_permutation() {
        // 8 units (4 pairs): every 16-byte chunk of the 256 bytes used once.
        let mut seen = [false; 16];
        for u in 0..8 {
            for q in 0..2 {
                let at = q8_chunk_offset(u, q);
                assert_eq!(at % 16, 0);
                assert!(!seen[at / 16], "unit {u} chunk {q}");
                seen[at / 16] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(q8_row_bytes(96), 128);
        assert_eq!(q8_bytes(2, 96), 2 * 128 + 2 * 3 * 8);
    }

    #[test]
    fn units_round_to_127_steps_and_keep_their_sums() {
        let v: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.25).collect();
        let bytes = quantize_rows(&v, 1, 64);
        let back = dequantize_rows(&bytes, 1, 64);
        for u in 0..2 {
            let unit = &v[32 * u..32 * (u + 1)];
            let amax = unit.iter().fold(0f32, |m, x| m.max(x.abs()));
            for (a, b) in unit.iter().zip(&back[32 * u..32 * (u + 1)]) {
                assert!((a - b).abs() <= amax / 127.0 * 0.5 + 1e-6, "{a} {b}");
            }
            let (q, dx, s0, s1) = quantize_unit(unit);
            assert_eq!(dx, amax / 127.0);
            assert_eq!(
                q.iter().map(|&x| x as i32).max().unwrap().max(-q.iter().map(|&x| x as i32).min().unwrap()),
                127
            );
            assert_eq!(
                (s0 as i32, s1 as i32),
                (q[..16].iter().map(|&x| x as i32).sum(), q[16..].iter().map(|&x| x as i32).sum())
            );
        }
        // Zeros stay zeros (scale 0); a NaN makes the unit's scale NaN and its quants 0.
        let mut z = vec![0f32; 32];
        assert_eq!(quantize_unit(&z).1, 0.0);
        z[3] = f32::NAN;
        let (q, dx, ..) = quantize_unit(&z);
        assert!(dx.is_nan() && q.iter().all(|&x| x == 0));
    }
}

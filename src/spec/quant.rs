//! GGML's block-quantized tensor formats Q8_0, Q4_0, Q4_K and Q6_K: their
//! block sizes and byte layouts, and a dequantizer to f32.
//!
//! This lives in `spec` (device-free, below both `cpu` and `ops`) because the
//! layouts are a contract shared by every reader of the blocks: today the
//! GGUF loader expands them on the host, and a quantized GEMV kernel that
//! reads the blocks directly will need the same offsets and packing.
//!
//! [`dequantize`] reproduces `gguf.quants.dequantize` of the Python `gguf`
//! package bit for bit: every scale is an f16 widened exactly to f32, and the
//! products and differences are single f32 operations in numpy's order
//! (`d * q` for Q8_0/Q4_0; `(d * sc) * q - (dmin * m)` for Q4_K;
//! `(d * sc) * q` for Q6_K), never fused.
//!
//! Layouts, little-endian, one block after another:
//! - Q8_0, 32 elements in 34 bytes: f16 `d`, 32 i8 `q`; `x = q * d`.
//! - Q4_0, 32 elements in 18 bytes: f16 `d`, 16 bytes of nibbles; element
//!   `i < 16` is the low nibble of byte `i`, element `16 + i` its high nibble;
//!   `x = (nibble - 8) * d`.
//! - Q4_K, 256 elements in 144 bytes: f16 `d`, f16 `dmin`, 12 bytes of 6-bit
//!   scales and mins for 8 sub-blocks of 32 (sub-block `j < 4`: scale
//!   `s[j] & 63`, min `s[4 + j] & 63`; `j >= 4`: scale `(s[8 + j - 4] & 15) |
//!   ((s[j - 4] >> 6) << 4)`, min `(s[8 + j - 4] >> 4) | ((s[j] >> 6) << 4)`),
//!   then 128 bytes of nibbles: bytes `32 c .. 32 c + 32` hold sub-block `2 c`
//!   in their low nibbles and `2 c + 1` in their high ones; `x = d * scale * q
//!   - dmin * min`.
//! - Q6_K, 256 elements in 210 bytes: 128 bytes `ql` (low 4 bits), 64 bytes
//!   `qh` (high 2 bits), 16 i8 scales (one per 16 elements), f16 `d`. In half
//!   `h` (128 elements), element `r`: low bits are nibble `r / 64` of
//!   `ql[64 h + r % 64]`, high bits are bits `2 (r / 32)` of `qh[32 h + r %
//!   32]`; `x = d * scale[e / 16] * (q - 32)`.

use half::f16;

use crate::error::{Error, Result};

pub use crate::dtype::QuantKind;

fn half(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// The 6-bit scale and min of Q4_K sub-block `j` (0..8) from the 12 packed bytes.
pub fn q4_k_scale_min(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 0x3F, s[4 + j] & 0x3F)
    } else {
        let md = s[8 + j - 4];
        ((md & 0x0F) | ((s[j - 4] >> 2) & 0x30), (md >> 4) | ((s[j] >> 2) & 0x30))
    }
}

fn block_q8_0(b: &[u8], out: &mut [f32]) {
    let d = half(b, 0);
    for (o, &q) in out.iter_mut().zip(&b[2..34]) {
        *o = (q as i8) as f32 * d;
    }
}

fn block_q4_0(b: &[u8], out: &mut [f32]) {
    let d = half(b, 0);
    for (i, &q) in b[2..18].iter().enumerate() {
        out[i] = d * ((q & 0x0F) as i8 - 8) as f32;
        out[16 + i] = d * ((q >> 4) as i8 - 8) as f32;
    }
}

fn block_q4_k(b: &[u8], out: &mut [f32]) {
    let (d, dmin) = (half(b, 0), half(b, 2));
    let (scales, qs) = (&b[4..16], &b[16..144]);
    for j in 0..8 {
        let (sc, m) = q4_k_scale_min(scales, j);
        let (dj, mj) = (d * sc as f32, dmin * m as f32);
        let (chunk, shift) = (&qs[32 * (j / 2)..32 * (j / 2) + 32], 4 * (j % 2));
        for (o, &q) in out[32 * j..32 * j + 32].iter_mut().zip(chunk) {
            *o = dj * ((q >> shift) & 0x0F) as f32 - mj;
        }
    }
}

fn block_q6_k(b: &[u8], out: &mut [f32]) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = half(b, 208);
    for (e, o) in out.iter_mut().enumerate() {
        let (h, r) = (e / 128, e % 128);
        let lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
        let hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
        let q = (lo | (hi << 4)) as i8 - 32;
        *o = (d * scales[e / 16] as i8 as f32) * q as f32;
    }
}

/// Expands `n` elements of `kind` stored in `bytes` to f32, equal bit for bit
/// to `gguf.quants.dequantize`. `n` must be a whole number of blocks and
/// `bytes` exactly their size; otherwise an error naming the type and sizes.
pub fn dequantize(kind: QuantKind, bytes: &[u8], n: usize) -> Result<Vec<f32>> {
    let mut out = vec![0f32; n];
    dequantize_into(kind, bytes, &mut out)?;
    Ok(out)
}

/// [`dequantize`] into a caller's buffer of `out.len()` elements.
pub fn dequantize_into(kind: QuantKind, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    let n = out.len();
    let want = kind.bytes_for(n).ok_or_else(|| {
        Error::invalid(
            "dequantize",
            "n",
            format!("a multiple of {}'s block of {} elements", kind, kind.block_elems()),
            n,
        )
    })?;
    if bytes.len() != want {
        return Err(Error::invalid(
            "dequantize",
            "bytes",
            format!(
                "{want} bytes of {kind} ({} blocks of {} bytes for {n} elements)",
                n / kind.block_elems(),
                kind.block_bytes()
            ),
            format!("{} bytes", bytes.len()),
        ));
    }
    let f: fn(&[u8], &mut [f32]) = match kind {
        QuantKind::Q8_0 => block_q8_0,
        QuantKind::Q4_0 => block_q4_0,
        QuantKind::Q4_K => block_q4_k,
        QuantKind::Q6_K => block_q6_k,
    };
    for (b, o) in bytes.chunks_exact(kind.block_bytes()).zip(out.chunks_exact_mut(kind.block_elems())) {
        f(b, o);
    }
    Ok(())
}

/// `blocks` random valid blocks of `kind` from a seeded xorshift: f16 scales
/// of sensible size (dequantized values mostly within [-1, 1]; Q4_0 scales of
/// either sign, Q6_K's i8 sub-scales of either sign) and uniformly random
/// quants, scale bits and mins. Deterministic for a seed, on every machine.
pub fn random_blocks(kind: QuantKind, blocks: usize, seed: u64, scale: f32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = vec![0u8; blocks * kind.block_bytes()];
    // Random bytes everywhere (quants, packed scales and mins) ...
    for word in out.chunks_mut(8) {
        let r = next().to_le_bytes();
        word.copy_from_slice(&r[..word.len()]);
    }
    // ... then each block's f16 scales: a value in [0.5, 1) times the format's
    // unit (weights of magnitude up to about 1) and `scale`.
    let mut f16_bytes = |unit: f32, signed: bool| {
        let scale = unit * scale;
        let r = next();
        let u = 0.5 + 0.5 * ((r >> 11) as f64 / (1u64 << 53) as f64) as f32;
        let v = if signed && r & 1 == 1 { -u } else { u };
        f16::from_f32(v * scale).to_le_bytes()
    };
    for b in out.chunks_exact_mut(kind.block_bytes()) {
        match kind {
            QuantKind::Q8_0 => b[..2].copy_from_slice(&f16_bytes(1.0 / 127.0, false)),
            QuantKind::Q4_0 => b[..2].copy_from_slice(&f16_bytes(1.0 / 8.0, true)),
            QuantKind::Q4_K => {
                b[..2].copy_from_slice(&f16_bytes(1.0 / (63.0 * 15.0), false));
                b[2..4].copy_from_slice(&f16_bytes(1.0 / 63.0, false));
            }
            QuantKind::Q6_K => b[208..210].copy_from_slice(&f16_bytes(1.0 / (128.0 * 32.0), false)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ids() {
        for k in QuantKind::ALL {
            assert_eq!(QuantKind::from_ggml_type(k.ggml_type()), Some(k));
            assert_eq!(k.bytes_for(k.block_elems() * 3), Some(3 * k.block_bytes()));
            assert_eq!(k.bytes_for(k.block_elems() + 1), None);
        }
    }

    #[test]
    fn q4_0_nibble_order() {
        let mut b = vec![0u8; 18];
        b[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        b[2] = 0xF0; // element 0: 0 - 8, element 16: 15 - 8
        let x = dequantize(QuantKind::Q4_0, &b, 32).unwrap();
        assert_eq!((x[0], x[16], x[1]), (-4.0, 3.5, -4.0));
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert!(dequantize(QuantKind::Q8_0, &[0; 33], 32).is_err());
        assert!(dequantize(QuantKind::Q6_K, &[0; 210], 255).is_err());
    }
}

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

/// A block-quantized format (named as GGML names them).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantKind {
    /// GGML type 8: blocks of 32, an f16 scale and 32 i8.
    Q8_0,
    /// GGML type 2: blocks of 32, an f16 scale and 32 4-bit values offset by 8.
    Q4_0,
    /// GGML type 12: super-blocks of 256, 8 sub-blocks with 6-bit scales and mins.
    Q4_K,
    /// GGML type 14: super-blocks of 256, 6-bit values, 16 i8 scales.
    Q6_K,
}

impl QuantKind {
    /// Every kind, in GGML id order.
    pub const ALL: [QuantKind; 4] = [QuantKind::Q4_0, QuantKind::Q8_0, QuantKind::Q4_K, QuantKind::Q6_K];

    /// The kind of a GGML type id, when it is one of these.
    pub fn from_ggml_type(t: u32) -> Option<Self> {
        match t {
            2 => Some(QuantKind::Q4_0),
            8 => Some(QuantKind::Q8_0),
            12 => Some(QuantKind::Q4_K),
            14 => Some(QuantKind::Q6_K),
            _ => None,
        }
    }

    /// The GGML type id.
    pub fn ggml_type(self) -> u32 {
        match self {
            QuantKind::Q4_0 => 2,
            QuantKind::Q8_0 => 8,
            QuantKind::Q4_K => 12,
            QuantKind::Q6_K => 14,
        }
    }

    /// GGML's name (`Q8_0`).
    pub fn name(self) -> &'static str {
        match self {
            QuantKind::Q4_0 => "Q4_0",
            QuantKind::Q8_0 => "Q8_0",
            QuantKind::Q4_K => "Q4_K",
            QuantKind::Q6_K => "Q6_K",
        }
    }

    /// Elements per block.
    pub fn block_elems(self) -> usize {
        match self {
            QuantKind::Q4_0 | QuantKind::Q8_0 => 32,
            QuantKind::Q4_K | QuantKind::Q6_K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            QuantKind::Q4_0 => 18,
            QuantKind::Q8_0 => 34,
            QuantKind::Q4_K => 144,
            QuantKind::Q6_K => 210,
        }
    }

    /// The bytes `n` elements take, or None when `n` is not a whole number of
    /// blocks (or the size overflows).
    pub fn bytes_for(self, n: usize) -> Option<usize> {
        if n % self.block_elems() != 0 {
            return None;
        }
        (n / self.block_elems()).checked_mul(self.block_bytes())
    }
}

impl std::fmt::Display for QuantKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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

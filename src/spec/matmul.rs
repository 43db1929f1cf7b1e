//! `matmul`: `C[M,N] = alpha * A[M,K]·B[K,N] + beta * C[M,N]`, with an optional
//! batch dimension. The options, the validation and the geometry, shared by
//! both backends, and the one cuBLAS call a geometry maps to (if any).

use crate::device::Device;
use crate::dispatch::matmul::{vec_elems, ALayout, MatmulDesc, MatmulPrefs};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::validate::{self, Aliasing};
use crate::tensor::Tensor;

const OP: &str = "matmul";

/// Options beyond alpha and beta.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatmulOptions {
    /// Batch b of C reads batch b / group of A (grouped-query attention). 0
    /// and 1 both mean no grouping, so `MatmulOptions::default()` is a plain
    /// matmul; the command line, where 0 is more likely a slip, rejects 0.
    pub group: usize,
    /// Dispatch preferences; None reads DK_MATMUL_BACKEND and DK_MATMUL_SMALLN_MAX_N.
    pub prefs: Option<MatmulPrefs>,
}

/// Shape and strides (in elements) of one matmul, batch made explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Rows of A and C.
    pub m: usize,
    /// Columns of B and C.
    pub n: usize,
    /// Columns of A, rows of B: the reduction length.
    pub k: usize,
    /// Batches of C (1 for 2-D views).
    pub batch: usize,
    /// C batches per A batch, at least 1.
    pub group: usize,
    /// Element type of A, B and C.
    pub dtype: DType,
    /// A's (m, k, batch) strides, in elements (batch stride 0: one A for all).
    pub a: [usize; 3],
    /// B's (k, n, batch) strides, in elements (batch stride 0: one B for all).
    pub b: [usize; 3],
    /// C's (m, n, batch) strides, in elements.
    pub c: [usize; 3],
    /// View offsets, in elements.
    pub offsets: [usize; 3],
}

/// Splits a 2-D or 3-D view into (batch, rows, cols) with strides.
fn dims(arg: &str, t: &Tensor) -> Result<(usize, [usize; 2], [usize; 3])> {
    let s = t.shape();
    let st = t.layout().strides();
    match t.rank() {
        2 => Ok((1, [s[0], s[1]], [st[0], st[1], 0])),
        3 => Ok((s[0], [s[1], s[2]], [st[1], st[2], st[0]])),
        _ => Err(Error::invalid(OP, arg, "a 2-D [rows, cols] or 3-D [batch, rows, cols] view", format!("shape {s:?}"))),
    }
}

/// Validates the views and returns the problem's geometry: A `[M, K]` (or
/// `[B/group, M, K]`), B `[K, N]` (or `[B, K, N]`) and C `[M, N]` (or `[B, M, N]`) of one
/// dtype on `device`, a group (0 taken as 1) dividing C's batch, C writable
/// and disjoint from A and B. Empty views (any of M, N, K, B of 0) are valid:
/// with K = 0, C = beta C.
pub fn geometry(device: Device, a: &Tensor, b: &Tensor, c: &Tensor, group: usize) -> Result<Geometry> {
    for (name, t) in [("a", a), ("b", b), ("c", c)] {
        validate::check_device(OP, name, t, device)?;
    }
    validate::check_dtype(OP, "a", a, c.dtype())?;
    validate::check_dtype(OP, "b", b, c.dtype())?;
    let (ab, [m, k], sa) = dims("a", a)?;
    let (bb, [kb, n], sb) = dims("b", b)?;
    let (batch, [mc, nc], sc) = dims("c", c)?;
    let group = group.max(1);
    if kb != k {
        return Err(Error::invalid(OP, "b", format!("{k} rows (A is {m}x{k})"), format!("shape {:?}", b.shape())));
    }
    if (mc, nc) != (m, n) {
        return Err(Error::invalid(
            OP,
            "c",
            format!("[{m}, {n}] matrices (A is {m}x{k}, B is {k}x{n})"),
            format!("shape {:?}", c.shape()),
        ));
    }
    if batch % group != 0 {
        return Err(Error::invalid(OP, "group", format!("a divisor of the batch size {batch}"), group));
    }
    if a.rank() == 3 && ab * group != batch {
        return Err(Error::invalid(
            OP,
            "a",
            format!("a batch of {} (C's batch {batch} / group {group}) or a 2-D view", batch / group),
            format!("shape {:?}", a.shape()),
        ));
    }
    if b.rank() == 3 && bb != batch {
        return Err(Error::invalid(
            OP,
            "b",
            format!("a batch of {batch} (as C) or a 2-D view"),
            format!("shape {:?}", b.shape()),
        ));
    }
    validate::check_writable(OP, "c", c)?;
    validate::check_overlap(OP, "c", c, &[("a", a), ("b", b)], Aliasing::Forbidden)?;
    Ok(Geometry {
        m,
        n,
        k,
        batch,
        group,
        dtype: c.dtype(),
        a: sa,
        b: sb,
        c: sc,
        offsets: [a.layout().offset(), b.layout().offset(), c.layout().offset()],
    })
}

/// alpha and beta must be finite (the rule every op's scalars follow: see
/// [`validate::check_finite`]).
pub fn check_scalars(alpha: f32, beta: f32) -> Result<()> {
    validate::check_finite(OP, "alpha", alpha)?;
    validate::check_finite(OP, "beta", beta)
}

impl Geometry {
    /// What the dispatcher sees.
    pub fn desc(&self) -> MatmulDesc {
        let v = vec_elems(self.dtype);
        let [sam, sak, sab] = self.a;
        let [sbk, sbn, sbb] = self.b;
        let div = |x: usize| x % v == 0;
        let a_layout = if sak == 1 || self.k == 1 {
            ALayout::KContiguous
        } else if sam == 1 || self.m == 1 {
            ALayout::MContiguous
        } else {
            ALayout::Strided
        };
        let a_vec_aligned = div(self.offsets[0])
            && div(sab)
            && match a_layout {
                ALayout::KContiguous => sak == 1 && div(self.k) && (self.m == 1 || div(sam)),
                ALayout::MContiguous => sam == 1 && div(self.m) && (self.k == 1 || div(sak)),
                ALayout::Strided => false,
            };
        let b_vec_aligned = sbk == 1 && div(self.k) && div(self.offsets[1]) && div(sbb) && (self.n == 1 || div(sbn));
        MatmulDesc {
            m: self.m,
            n: self.n,
            k: self.k,
            batch: self.batch,
            dtype: self.dtype,
            a_layout,
            a_vec_aligned,
            b_vec_aligned,
            cublas_layout: self.cublas_call(0, 0, 0).is_some(),
        }
    }

    /// The cuBLAS call for this geometry (pointers filled in by the caller), if
    /// cuBLAS can express it: one unit stride per operand, leading dimensions
    /// in range, 32-bit sizes. Grouped batches become one call per A batch.
    pub fn cublas_call(&self, a_ptr: u64, b_ptr: u64, c_ptr: u64) -> Option<GemmCall> {
        let i32_ok = |x: usize| i32::try_from(x).is_ok();
        if ![self.m, self.n, self.k, self.batch].into_iter().all(i32_ok) || self.m == 0 || self.n == 0 || self.k == 0 {
            return None;
        }
        let [sam, sak, sab] = self.a;
        let [sbk, sbn, sbb] = self.b;
        let [scm, scn, scb] = self.c;
        let (m, n, k) = (self.m, self.n, self.k);
        // C col-major: C = op(A) op(B). C row-major: C^T = op(B^T) op(A^T).
        if let Some(ldc) = col_major_ld(scm, scn, m, n) {
            let a = operand(sam, sak, m, k)?;
            let b = operand(sbk, sbn, k, n)?;
            return Some(self.call(m, n, k, a, b, ldc, (a_ptr, sab), (b_ptr, sbb), (c_ptr, scb)));
        }
        let ldc = col_major_ld(scn, scm, n, m)?;
        let a = operand(sbn, sbk, n, k)?;
        let b = operand(sak, sam, k, m)?;
        Some(self.call(n, m, k, a, b, ldc, (b_ptr, sbb), (a_ptr, sab), (c_ptr, scb)))
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: Operand,
        b: Operand,
        ldc: i32,
        pa: (u64, usize),
        pb: (u64, usize),
        pc: (u64, usize),
    ) -> GemmCall {
        GemmCall {
            m: m as i32,
            n: n as i32,
            k: k as i32,
            a,
            b,
            ldc,
            a_ptr: pa.0,
            b_ptr: pb.0,
            c_ptr: pc.0,
            stride_a: pa.1 as i64,
            stride_b: pb.1 as i64,
            stride_c: pc.1 as i64,
            batch: self.batch as i32,
        }
    }

    /// Bytes a matmul must move at least: A, B and C once (C twice when beta != 0).
    pub fn min_bytes(&self, beta_nonzero: bool) -> u64 {
        let e = self.dtype.size_in_bytes() as u64;
        let a_batches = if self.a[2] == 0 { 1 } else { (self.batch / self.group) as u64 };
        let b_batches = if self.b[2] == 0 { 1 } else { self.batch as u64 };
        let c = (self.batch * self.m * self.n) as u64 * if beta_nonzero { 2 } else { 1 };
        e * (a_batches * (self.m * self.k) as u64 + b_batches * (self.k * self.n) as u64 + c)
    }
}

/// Leading dimension when [rows, cols] with strides (sr, sc) is column-major.
fn col_major_ld(sr: usize, sc: usize, rows: usize, cols: usize) -> Option<i32> {
    if !(sr == 1 || rows == 1) {
        return None;
    }
    let ld = if cols == 1 { rows.max(1) } else { sc };
    (ld >= rows.max(1)).then(|| i32::try_from(ld).ok()).flatten()
}

/// An operand [rows, cols] as cuBLAS takes it: column-major, or transposed.
fn operand(sr: usize, sc: usize, rows: usize, cols: usize) -> Option<Operand> {
    if let Some(ld) = col_major_ld(sr, sc, rows, cols) {
        return Some(Operand { transpose: false, ld });
    }
    col_major_ld(sc, sr, cols, rows).map(|ld| Operand { transpose: true, ld })
}

/// A column-major operand: transposed or not, and its leading dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operand {
    /// cuBLAS' op: transposed (CUBLAS_OP_T) or not (CUBLAS_OP_N).
    pub transpose: bool,
    /// The leading dimension, in elements.
    pub ld: i32,
}

/// One strided-batched GEMM in cuBLAS' column-major terms.
#[derive(Debug, Clone, Copy)]
pub struct GemmCall {
    /// Rows of cuBLAS' (column-major) C.
    pub m: i32,
    /// Columns of cuBLAS' C.
    pub n: i32,
    /// The reduction length.
    pub k: i32,
    /// cuBLAS' A operand (our A, or B^T when C is row-major).
    pub a: Operand,
    /// cuBLAS' B operand (our B, or A^T when C is row-major).
    pub b: Operand,
    /// C's leading dimension.
    pub ldc: i32,
    /// Device address of cuBLAS' A.
    pub a_ptr: u64,
    /// Device address of cuBLAS' B.
    pub b_ptr: u64,
    /// Device address of C.
    pub c_ptr: u64,
    /// Elements between batches of cuBLAS' A (0: shared).
    pub stride_a: i64,
    /// Elements between batches of cuBLAS' B (0: shared).
    pub stride_b: i64,
    /// Elements between batches of C.
    pub stride_c: i64,
    /// Batches in the call.
    pub batch: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(a: [usize; 3], b: [usize; 3], c: [usize; 3], m: usize, n: usize, k: usize) -> Geometry {
        Geometry { m, n, k, batch: 1, group: 1, dtype: DType::F16, a, b, c, offsets: [0; 3] }
    }

    #[test]
    fn cublas_mapping_for_decode_layouts() {
        // Weights [M,K] row-major, activations [N,K] (B = X^T), output [N,M] (C = Y^T).
        let (m, n, k) = (4096, 8, 1024);
        let g = geo([k, 1, 0], [1, k, 0], [1, m, 0], m, n, k);
        let call = g.cublas_call(1, 2, 3).unwrap();
        assert_eq!((call.m, call.n, call.k, call.ldc), (4096, 8, 1024, 4096));
        assert_eq!(call.a, Operand { transpose: true, ld: 1024 });
        assert_eq!(call.b, Operand { transpose: false, ld: 1024 });
        assert_eq!((call.a_ptr, call.b_ptr, call.c_ptr), (1, 2, 3));
        // Row-major C swaps the operands.
        let g = geo([k, 1, 0], [n, 1, 0], [n, 1, 0], m, n, k);
        let call = g.cublas_call(1, 2, 3).unwrap();
        assert_eq!((call.m, call.n, call.ldc), (8, 4096, 8));
        assert_eq!((call.a_ptr, call.b_ptr), (2, 1));
        assert_eq!(call.a, Operand { transpose: false, ld: 8 }, "B^T [N,K] with unit stride along N");
        assert_eq!(call.b, Operand { transpose: false, ld: 1024 }, "A^T [K,M] with unit stride along K");
        // No unit stride anywhere in A: not expressible.
        assert!(geo([2 * k, 2, 0], [1, k, 0], [1, m, 0], m, n, k).cublas_call(0, 0, 0).is_none());
    }

    #[test]
    fn min_bytes_counts_each_operand_once() {
        let g = geo([4, 1, 0], [1, 4, 0], [1, 2, 0], 2, 3, 4);
        assert_eq!(g.min_bytes(false), 2 * (8 + 12 + 6));
        assert_eq!(g.min_bytes(true), 2 * (8 + 12 + 12));
    }
}

//! Shape, strides (in elements) and offset of a view into a buffer. Pure data:
//! every check here runs without a device.

use crate::error::{Error, Result};

/// Views have at most this many dimensions.
pub const MAX_RANK: usize = 4;

/// How a view maps its logical indices to buffer elements: element
/// `[i0, i1, ...]` sits at `offset + i0 * strides[0] + i1 * strides[1] + ...`.
/// The constructors guarantee rank <= [`MAX_RANK`] and that the last index
/// fits in `usize`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

impl Layout {
    /// A row-major contiguous layout starting at element 0.
    pub fn contiguous(shape: &[usize]) -> Result<Self> {
        Self::check_rank("layout", shape.len())?;
        let mut strides = vec![0; shape.len()];
        let mut acc = 1usize;
        for d in (0..shape.len()).rev() {
            strides[d] = acc;
            acc = acc.checked_mul(shape[d]).ok_or_else(|| {
                Error::invalid("layout", "shape", "a shape whose element count fits in usize", format!("{shape:?}"))
            })?;
        }
        Ok(Layout { shape: shape.to_vec(), strides, offset: 0 })
    }

    /// A layout with explicit strides; stride 0 broadcasts along that dimension.
    pub fn strided(shape: &[usize], strides: &[usize], offset: usize) -> Result<Self> {
        Self::check_rank("layout", shape.len())?;
        if strides.len() != shape.len() {
            return Err(Error::invalid(
                "layout",
                "strides",
                format!("{} strides (one per dimension of shape {shape:?})", shape.len()),
                format!("{strides:?}"),
            ));
        }
        let l = Layout { shape: shape.to_vec(), strides: strides.to_vec(), offset };
        l.checked_last_index().ok_or_else(|| {
            Error::invalid("layout", "strides", "a view whose last index fits in usize", format!("{strides:?}"))
        })?;
        Ok(l)
    }

    fn check_rank(op: &'static str, rank: usize) -> Result<()> {
        if rank > MAX_RANK {
            return Err(Error::invalid(
                op,
                "shape",
                format!("at most {MAX_RANK} dimensions"),
                format!("{rank} dimensions"),
            ));
        }
        Ok(())
    }

    /// Size of each dimension, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Stride of each dimension, in elements; 0 broadcasts.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Buffer index of the view's first element.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Elements in the view (the product of the shape; 1 for rank 0).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size of dimension `d`; panics when `d >= rank`.
    pub fn dim(&self, d: usize) -> usize {
        self.shape[d]
    }

    /// Stride of dimension `d`, in elements; panics when `d >= rank`.
    pub fn stride(&self, d: usize) -> usize {
        self.strides[d]
    }

    fn checked_last_index(&self) -> Option<usize> {
        if self.numel() == 0 {
            return Some(self.offset);
        }
        self.shape
            .iter()
            .zip(&self.strides)
            .try_fold(self.offset, |acc, (&n, &s)| acc.checked_add((n - 1).checked_mul(s)?))
    }

    /// Index of the last element the view touches (the offset when empty).
    pub fn last_index(&self) -> usize {
        // Constructors guarantee this does not overflow.
        self.checked_last_index().unwrap_or(usize::MAX)
    }

    /// Elements the view touches span `[offset, last_index]`; None when empty.
    pub fn span(&self) -> Option<(usize, usize)> {
        (self.numel() > 0).then(|| (self.offset, self.last_index()))
    }

    /// True when the view is row-major with no gaps (dimensions of size 1
    /// may have any stride); the offset may be anything.
    pub fn is_contiguous(&self) -> bool {
        let mut expect = 1usize;
        for d in (0..self.rank()).rev() {
            if self.shape[d] != 1 && self.strides[d] != expect {
                return false;
            }
            expect *= self.shape[d];
        }
        true
    }

    /// Swaps two dimensions: a logical transpose, no copy.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Self> {
        for (name, d) in [("dim a", a), ("dim b", b)] {
            if d >= self.rank() {
                return Err(Error::invalid("transpose", name, format!("a dimension below {}", self.rank()), d));
            }
        }
        let mut l = self.clone();
        l.shape.swap(a, b);
        l.strides.swap(a, b);
        Ok(l)
    }

    /// Restricts dimension `dim` to `start..start + len`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self> {
        if dim >= self.rank() {
            return Err(Error::invalid("narrow", "dim", format!("a dimension below {}", self.rank()), dim));
        }
        if start.checked_add(len).map_or(true, |end| end > self.shape[dim]) {
            return Err(Error::invalid(
                "narrow",
                "start+len",
                format!("at most {} (the size of dimension {dim})", self.shape[dim]),
                format!("{start}+{len}"),
            ));
        }
        let mut l = self.clone();
        l.offset += start * self.strides[dim];
        l.shape[dim] = len;
        Ok(l)
    }

    /// A new shape over the same contiguous elements.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        if !self.is_contiguous() {
            return Err(Error::invalid("reshape", "view", "a contiguous view", format!("strides {:?}", self.strides)));
        }
        let n: usize = shape.iter().product();
        if n != self.numel() {
            return Err(Error::invalid(
                "reshape",
                "shape",
                format!("{} elements (as in {:?})", self.numel(), self.shape),
                format!("{shape:?}"),
            ));
        }
        let mut l = Layout::contiguous(shape)?;
        l.offset = self.offset;
        Ok(l)
    }

    /// Offsets (in elements) of every element, in row-major logical order.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.numel();
        let rank = self.rank();
        let mut idx = [0usize; MAX_RANK];
        let mut cur = self.offset;
        (0..n).map(move |i| {
            if i > 0 {
                // Increment the multi-index, carrying from the innermost dimension.
                let mut d = rank;
                while d > 0 {
                    d -= 1;
                    idx[d] += 1;
                    cur += self.strides[d];
                    if idx[d] < self.shape[d] {
                        break;
                    }
                    cur -= self.strides[d] * self.shape[d];
                    idx[d] = 0;
                }
            }
            cur
        })
    }

    /// True when a vector access of `vec_elems` elements along the innermost
    /// dimension is legal everywhere: unit inner stride, inner length, offset
    /// and every outer stride multiples of `vec_elems`.
    pub fn is_vector_aligned(&self, vec_elems: usize) -> bool {
        let Some(inner) = self.rank().checked_sub(1) else { return false };
        self.strides[inner] == 1
            && self.shape[inner] % vec_elems == 0
            && self.offset % vec_elems == 0
            && (0..inner).all(|d| self.shape[d] == 1 || self.strides[d] % vec_elems == 0)
    }

    /// True when the two views touch intersecting element ranges of a buffer.
    /// Conservative: interleaved views that never share an element still count.
    pub fn ranges_intersect(&self, other: &Layout) -> bool {
        match (self.span(), other.span()) {
            (Some((a0, a1)), Some((b0, b1))) => a0 <= b1 && b0 <= a1,
            _ => false,
        }
    }
}

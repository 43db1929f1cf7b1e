//! The registered check cases, one function per op.

use super::{tolerance, Case, Checker, Outcome};
use crate::dtype::DType;
use crate::error::Result;
use crate::ops;
use crate::tensor::Layout;

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    copy_cases(&mut v);
    v
}

/// How an input view is laid over its buffer.
#[derive(Clone, Copy, Debug)]
enum InputView {
    Contiguous,
    Transposed,
    Narrowed,
    Broadcast,
    Permuted4d,
}

fn copy_cases(v: &mut Vec<Case>) {
    for din in DType::ALL {
        for dout in DType::ALL {
            for view in [InputView::Contiguous, InputView::Transposed, InputView::Narrowed, InputView::Broadcast, InputView::Permuted4d] {
                v.push(Case {
                    op: "copy",
                    name: format!("{din}->{dout}/{view:?}"),
                    dtype: dout,
                    run: Box::new(move |c: &mut Checker| copy_case(c, din, dout, view)),
                });
            }
        }
    }
}

fn copy_case(c: &mut Checker, din: DType, dout: DType, view: InputView) -> Result<Outcome> {
    let x = match view {
        InputView::Contiguous => c.input(din, &[3, 257], 1.0)?.map(|t| Ok(t))?,
        InputView::Transposed => c.input(din, &[64, 33], 1.0)?.map(|t| t.transpose(0, 1))?,
        InputView::Narrowed => c.input(din, &[4, 8, 40], 1.0)?.map(|t| t.narrow(2, 7, 23))?,
        InputView::Broadcast => c.input(din, &[1, 100], 1.0)?.map(|t| t.as_strided(&[5, 100], &[0, 1], 0))?,
        InputView::Permuted4d => c.input(din, &[2, 3, 4, 5], 1.0)?.map(|t| t.transpose(0, 3)?.transpose(1, 2))?,
    };
    let shape = x.gpu.shape().to_vec();
    // Write into a strided window of a larger buffer: rows padded by 3, offset 5.
    let inner = *shape.last().unwrap_or(&1);
    let outer: usize = shape.iter().rev().skip(1).product();
    let mut strides = vec![0; shape.len()];
    let mut acc = inner + 3;
    strides[shape.len() - 1] = 1;
    for d in (0..shape.len() - 1).rev() {
        strides[d] = acc;
        acc *= shape[d];
    }
    let layout = Layout::strided(&shape, &strides, 5)?;
    let y = c.poisoned_output(dout, 5 + outer * (inner + 3) + 2, layout)?;
    ops::copy(c.gpu, &x.gpu, &y.gpu)?;
    ops::copy(&c.cpu, &x.cpu, &y.cpu)?;
    // A copy only rounds once to dout: both sides must agree to the dtype's tolerance.
    c.compare("copy", &format!("{din}->{dout}"), &y, tolerance(dout))
}

impl super::Pair {
    /// The same view operation on both sides.
    fn map(self, f: impl Fn(crate::tensor::Tensor) -> Result<crate::tensor::Tensor>) -> Result<Self> {
        Ok(super::Pair { gpu: f(self.gpu)?, cpu: f(self.cpu)? })
    }
}

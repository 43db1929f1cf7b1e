use std::path::PathBuf;

use clap::{Args, Subcommand};
use decode_kernels::npy::{read_npy, write_npy};
use decode_kernels::{ops, DType, Result, Tensor};

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(subcommand)]
    op: ExecOp,
}

#[derive(Subcommand, Debug)]
enum ExecOp {
    /// OUT = softmax(scale * X + MASK) along the last axis. X.npy is [rows, cols],
    /// M.npy [q_len, cols] (row r uses mask row r % q_len).
    Softmax {
        #[arg(long)]
        x: PathBuf,
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        scale: f32,
        /// Exclude columns after each row's query position (needs --q-len).
        #[arg(long, requires = "q_len")]
        causal: bool,
        /// Rows per query period: row r is query position offset + r % q_len.
        #[arg(long, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        q_len: Option<usize>,
        #[arg(long, default_value_t = 0, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        offset: usize,
        #[arg(long)]
        mask: Option<PathBuf>,
        #[arg(long)]
        dtype: Option<DType>,
        #[arg(long)]
        out: PathBuf,
        /// cpu, cuda, cuda:N or auto (default: DK_DEVICE, else auto).
        #[arg(long)]
        device: Option<String>,
    },
    /// OUT = alpha * A·B + beta * C. A.npy is [M,K] (with --transpose-a, [K,M]),
    /// B.npy [K,N] (with --transpose-b, [N,K]), C.npy and OUT.npy [M,N];
    /// a leading batch dimension is allowed on all of them.
    Matmul {
        #[arg(long)]
        a: PathBuf,
        #[arg(long)]
        b: PathBuf,
        /// Required when beta is not 0.
        #[arg(long)]
        c: Option<PathBuf>,
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        alpha: f32,
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        beta: f32,
        /// A.npy holds A transposed; it is read through strides, not copied.
        #[arg(long)]
        transpose_a: bool,
        /// B.npy holds B transposed ([N,K], the decode layout).
        #[arg(long)]
        transpose_b: bool,
        /// Convert inputs to this dtype (default: A's dtype as stored).
        #[arg(long)]
        dtype: Option<DType>,
        /// Batch b of C reads batch b / group of A.
        #[arg(long, default_value_t = 1, value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        group: usize,
        #[arg(long)]
        out: PathBuf,
        /// cpu, cuda, cuda:N or auto (default: DK_DEVICE, else auto).
        #[arg(long)]
        device: Option<String>,
    },
    /// OUT = softmax(scale * Q K^T) V per head. Q.npy is [B, Hq, Lq, D], K.npy and
    /// V.npy [B, Hkv, Lk, D] with Hq a multiple of Hkv; OUT.npy is [B, Hq, Lq, D].
    /// DK_SDPA_BACKEND picks the path (auto, composed, fused).
    Sdpa {
        #[arg(long)]
        q: PathBuf,
        #[arg(long)]
        k: PathBuf,
        #[arg(long)]
        v: PathBuf,
        /// Default 1/sqrt(D).
        #[arg(long, allow_negative_numbers = true)]
        scale: Option<f32>,
        /// Query i sees keys up to position offset + i.
        #[arg(long)]
        causal: bool,
        /// Position of query 0 (default Lk - Lq); may be negative.
        #[arg(long, allow_negative_numbers = true)]
        offset: Option<i64>,
        /// Convert inputs to this dtype (default: Q's dtype as stored).
        #[arg(long)]
        dtype: Option<DType>,
        #[arg(long)]
        out: PathBuf,
        /// cpu, cuda, cuda:N or auto (default: DK_DEVICE, else auto).
        #[arg(long)]
        device: Option<String>,
    },
    /// OUT = X, converted to --dtype (default: X's dtype).
    Copy {
        #[arg(long)]
        x: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        dtype: Option<DType>,
        /// cpu, cuda, cuda:N or auto (default: DK_DEVICE, else auto).
        #[arg(long)]
        device: Option<String>,
    },
}

/// Reads a .npy file onto the context's device, optionally converted.
fn load(ctx: &decode_kernels::Context, path: &std::path::Path, dtype: Option<DType>) -> Result<Tensor> {
    let arr = read_npy(path, dtype)?;
    Tensor::from_host(ctx, arr.data, &arr.shape)
}

/// The last two dimensions swapped (a view).
fn transposed(t: Tensor) -> Result<Tensor> {
    let r = t.rank();
    if r < 2 {
        return Err(decode_kernels::Error::InvalidArgument {
            op: "exec",
            arg: "transpose".into(),
            expected: "a 2-D or 3-D array".into(),
            got: format!("shape {:?}", t.shape()),
        });
    }
    t.transpose(r - 2, r - 1)
}

pub fn run(a: ExecArgs) -> Result<i32> {
    match a.op {
        ExecOp::Softmax { x, scale, causal, q_len, offset, mask, dtype, out, device } => {
            let ctx = super::open_context(device.as_deref())?;
            let xt = load(&ctx, &x, dtype)?;
            let mt = mask.map(|m| load(&ctx, &m, Some(xt.dtype()))).transpose()?;
            let y = Tensor::empty(&ctx, xt.shape(), xt.dtype())?;
            let causal = match (causal, q_len) {
                (true, Some(q_len)) => Some(decode_kernels::ops::Causal { q_len, offset }),
                _ => None,
            };
            let opts = decode_kernels::ops::SoftmaxOptions { scale, causal, mask: mt.as_ref(), prefs: None };
            ops::softmax(&ctx, &xt, &y, &opts)?;
            write_npy(&out, y.shape(), &y.to_host_data()?)?;
            Ok(0)
        }
        ExecOp::Matmul { a, b, c, alpha, beta, transpose_a, transpose_b, dtype, group, out, device } => {
            let ctx = super::open_context(device.as_deref())?;
            let at = load(&ctx, &a, dtype)?;
            let dtype = dtype.unwrap_or(at.dtype());
            let at = if transpose_a { transposed(at)? } else { at };
            let bt = load(&ctx, &b, Some(dtype))?;
            let bt = if transpose_b { transposed(bt)? } else { bt };
            let ct = match (&c, beta != 0.0) {
                (Some(p), _) => load(&ctx, p, Some(dtype))?,
                (None, true) => {
                    return Err(decode_kernels::Error::InvalidArgument {
                        op: "exec matmul",
                        arg: "--c".into(),
                        expected: "a C.npy file when --beta is not 0".into(),
                        got: "none".into(),
                    })
                }
                (None, false) => {
                    let mut shape = at.shape().to_vec();
                    let n = *bt.shape().last().unwrap_or(&1);
                    if let Some(last) = shape.last_mut() {
                        *last = n;
                    }
                    if bt.rank() == 3 && at.rank() == 3 {
                        shape[0] = bt.shape()[0];
                    } else if bt.rank() == 3 {
                        shape.insert(0, bt.shape()[0]);
                    }
                    Tensor::empty(&ctx, &shape, dtype)?
                }
            };
            let opts = decode_kernels::ops::MatmulOptions { group, prefs: None };
            ops::matmul_with(&ctx, alpha, &at, &bt, beta, &ct, &opts)?;
            write_npy(&out, ct.shape(), &ct.to_host_data()?)?;
            Ok(0)
        }
        ExecOp::Sdpa { q, k, v, scale, causal, offset, dtype, out, device } => {
            let ctx = super::open_context(device.as_deref())?;
            let qt = load(&ctx, &q, dtype)?;
            let dtype = dtype.unwrap_or(qt.dtype());
            let kt = load(&ctx, &k, Some(dtype))?;
            let vt = load(&ctx, &v, Some(dtype))?;
            let o = Tensor::empty(&ctx, qt.shape(), dtype)?;
            ops::sdpa(
                &ctx,
                &qt,
                &kt,
                &vt,
                &o,
                &decode_kernels::ops::SdpaOptions { scale, causal, offset, prefs: None },
            )?;
            write_npy(&out, o.shape(), &o.to_host_data()?)?;
            Ok(0)
        }
        ExecOp::Copy { x, out, dtype, device } => {
            let ctx = super::open_context(device.as_deref())?;
            let xa = read_npy(&x, None)?;
            let xt = Tensor::from_host(&ctx, xa.data, &xa.shape)?;
            let y = Tensor::empty(&ctx, &xa.shape, dtype.unwrap_or(xt.dtype()))?;
            ops::copy(&ctx, &xt, &y)?;
            write_npy(&out, y.shape(), &y.to_host_data()?)?;
            Ok(0)
        }
    }
}

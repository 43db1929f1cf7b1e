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

pub fn run(a: ExecArgs) -> Result<i32> {
    match a.op {
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

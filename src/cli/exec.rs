use std::path::PathBuf;

use crate::npy::{read_header, read_npy, write_tensor, NpyHeader};
use crate::{mem, ops, Context, DType, Result, Tensor};
use clap::{Args, Subcommand};

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
        #[arg(long, default_value_t = 1.0, value_parser = super::args::real_f32, allow_negative_numbers = true)]
        scale: f32,
        /// Exclude columns after each row's query position (needs --q-len).
        #[arg(long, requires = "q_len")]
        causal: bool,
        /// Rows per query period: row r is query position offset + r % q_len
        /// (only with --causal; a mask's rows give its period).
        #[arg(long, requires = "causal", value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        q_len: Option<usize>,
        /// Position of query 0 (only with --causal; default 0). A position
        /// past the last column sees every column.
        #[arg(long, requires = "causal", value_parser = super::args::unsigned::<usize>, allow_negative_numbers = true)]
        offset: Option<usize>,
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
    /// a leading batch dimension is allowed on all of them. A may instead be
    /// quantized blocks (Q8_0, Q4_0, Q4_K, Q6_K): a GGUF tensor (--a-gguf,
    /// --a-tensor) or a raw block file (--a-blocks, --a-type, --a-shape), [M,K]
    /// as stored, multiplied by `ops::quant_matmul` (B and C 2-D, B and OUT in
    /// --dtype, default B's).
    Matmul {
        #[arg(long, required_unless_present_any = ["a_gguf", "a_blocks"], conflicts_with_all = ["a_gguf", "a_blocks"])]
        a: Option<PathBuf>,
        /// A is this GGUF file's tensor --a-tensor (a quantized one, rows as stored).
        #[arg(long, requires = "a_tensor", conflicts_with = "a_blocks")]
        a_gguf: Option<PathBuf>,
        /// The GGUF name of A's tensor (e.g. blk.0.ffn_down.weight).
        #[arg(long, requires = "a_gguf")]
        a_tensor: Option<String>,
        /// A is this file of GGML blocks (--a-type, --a-shape M x K), nothing else in it.
        #[arg(long, requires_all = ["a_type", "a_shape"])]
        a_blocks: Option<PathBuf>,
        /// The block format of --a-blocks: q8_0, q4_0, q4_k or q6_k.
        #[arg(long, requires = "a_blocks")]
        a_type: Option<crate::dtype::QuantKind>,
        /// The shape of --a-blocks: MxK (rows, columns; K a whole number of blocks).
        #[arg(long, requires = "a_blocks", value_parser = super::args::shape_mxk)]
        a_shape: Option<(usize, usize)>,
        #[arg(long)]
        b: PathBuf,
        /// Required when beta is not 0.
        #[arg(long)]
        c: Option<PathBuf>,
        #[arg(long, default_value_t = 1.0, value_parser = super::args::real_f32, allow_negative_numbers = true)]
        alpha: f32,
        #[arg(long, default_value_t = 0.0, value_parser = super::args::real_f32, allow_negative_numbers = true)]
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
        /// Batch b of C reads batch b / group of A (1: no grouping).
        #[arg(long, default_value_t = 1, value_parser = super::args::positive::<usize>, allow_negative_numbers = true)]
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
        #[arg(long, value_parser = super::args::real_f32, allow_negative_numbers = true)]
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
fn load(ctx: &Context, path: &std::path::Path, dtype: Option<DType>) -> Result<Tensor> {
    let arr = read_npy(path, dtype)?;
    Tensor::from_host(ctx, arr.data, &arr.shape)
}

/// The last two dimensions swapped (a view).
fn transposed(t: Tensor) -> Result<Tensor> {
    let r = t.rank();
    if r < 2 {
        return Err(crate::Error::InvalidArgument {
            op: "exec",
            arg: "transpose".into(),
            expected: "a 2-D or 3-D array".into(),
            got: format!("shape {:?}", t.shape()),
        });
    }
    t.transpose(r - 2, r - 1)
}

/// Elements of f64 scratch the CPU backend's copy or softmax holds per call
/// when `exec` feeds it row chunks (8 MB of f64).
const CPU_CHUNK_ELEMS: usize = 1 << 20;

/// Bytes of `numel` elements of `dtype`, checked.
fn bytes(what: &str, numel: usize, dtype: DType) -> Result<u64> {
    mem::bytes_of(what, &[numel], dtype.size_in_bytes())
}

/// The memory an `exec` needs, checked before anything is read: the inputs
/// (as read, converted), the output, and the CPU backend's f64 scratch.
/// On the CPU backend everything lives on the host; on a GPU the host holds
/// one array at a time and the device all of them.
fn check_memory(
    ctx: &Context,
    what: &str,
    inputs: &[(&NpyHeader, Option<DType>)],
    out: u64,
    scratch: u64,
) -> Result<()> {
    let overflow = || mem::overflow(what);
    let mut on_device = out;
    let mut largest_host = out;
    // Fortran-ordered inputs need a second buffer while they are reordered.
    let mut reorder = 0;
    for (h, dt) in inputs {
        let read = h.host_bytes(*dt)?;
        let kept = bytes(what, h.numel, h.dtype(*dt))?;
        largest_host = largest_host.max(read);
        reorder = reorder.max(read - kept);
        on_device = on_device.checked_add(kept).ok_or_else(overflow)?;
    }
    if ctx.is_cuda() {
        mem::check(ctx, what, largest_host, on_device)
    } else {
        mem::check(ctx, what, scratch.checked_add(reorder).ok_or_else(overflow)?, on_device)
    }
}

/// f64 bytes of `numel` elements (the CPU backend's scratch), checked.
fn f64_bytes(what: &str, numel: usize) -> Result<u64> {
    mem::bytes_of(what, &[numel], 8)
}

/// Row chunks for the CPU backend: ranges of whole periods (`period` rows)
/// of about [`CPU_CHUNK_ELEMS`] elements; one range on a GPU.
fn row_chunks(ctx: &Context, rows: usize, cols: usize, period: usize) -> Vec<(usize, usize)> {
    if ctx.is_cuda() || rows == 0 || cols == 0 || period == 0 || rows % period != 0 {
        return vec![(0, rows)];
    }
    let per = (CPU_CHUNK_ELEMS / cols / period).max(1) * period;
    (0..rows).step_by(per).map(|r| (r, per.min(rows - r))).collect()
}

pub fn run(a: ExecArgs) -> Result<i32> {
    match a.op {
        ExecOp::Softmax { x, scale, causal, q_len, offset, mask, dtype, out, device } => {
            crate::fsio::check_output("exec softmax", "--out", &out)?;
            let ctx = super::open_context(device.as_deref())?;
            let xh = read_header(&x)?;
            let xdt = xh.dtype(dtype);
            let mh = mask.as_ref().map(|m| read_header(m)).transpose()?;
            let what = format!("exec softmax on {} (shape {:?})", x.display(), xh.shape);
            let mut inputs = vec![(&xh, dtype)];
            if let Some(mh) = &mh {
                inputs.push((mh, Some(xdt)));
            }
            let out_bytes = bytes(&what, xh.numel, xdt)?;
            let cols = xh.shape.get(1).copied().unwrap_or(1);
            let chunk = CPU_CHUNK_ELEMS.max(cols);
            let mask_f64 = mh.as_ref().map_or(Ok(0), |m| f64_bytes(&what, m.numel))?;
            // Per chunk: the input gathered, the output, each row's values.
            let scratch = f64_bytes(&what, chunk)?.saturating_mul(2).saturating_add(mask_f64);
            check_memory(&ctx, &what, &inputs, out_bytes, scratch)?;

            let xt = load(&ctx, &x, dtype)?;
            let mt = mask.map(|m| load(&ctx, &m, Some(xt.dtype()))).transpose()?;
            let y = Tensor::empty(&ctx, xt.shape(), xt.dtype())?;
            // clap enforces --causal and --q-len together, and --offset only with them.
            let causal = match (causal, q_len) {
                (true, Some(q_len)) => Some(crate::ops::Causal { q_len, offset: offset.unwrap_or(0) }),
                _ => None,
            };
            let opts = crate::ops::SoftmaxOptions { scale, causal, mask: mt.as_ref(), prefs: None };
            // On the CPU backend, whole periods of rows at a time, so its f64
            // scratch stays small whatever the file's size.
            let period = match (&causal, &mt) {
                (Some(c), _) => c.q_len,
                (None, Some(m)) if m.rank() == 2 => m.shape()[0],
                _ => 1,
            };
            let chunks = if xt.rank() == 2 && xt.numel() > 0 {
                row_chunks(&ctx, xt.shape()[0], xt.shape()[1], period)
            } else {
                vec![]
            };
            match chunks.as_slice() {
                [] | [_] => ops::softmax(&ctx, &xt, &y, &opts)?,
                many => {
                    for &(r, n) in many {
                        ops::softmax(&ctx, &xt.narrow(0, r, n)?, &y.narrow(0, r, n)?, &opts)?;
                    }
                }
            }
            drop((xt, mt));
            write_tensor(&out, &y)?;
            Ok(0)
        }
        ExecOp::Matmul {
            a,
            a_gguf,
            a_tensor,
            a_blocks,
            a_type,
            a_shape,
            b,
            c,
            alpha,
            beta,
            transpose_a,
            transpose_b,
            dtype,
            group,
            out,
            device,
        } => {
            crate::fsio::check_output("exec matmul", "--out", &out)?;
            let ctx = super::open_context(device.as_deref())?;
            let quant = match (a_gguf, a_tensor, a_blocks, a_type, a_shape) {
                (Some(file), Some(name), ..) => Some(QuantSource::Gguf { file, name }),
                (.., Some(file), Some(kind), Some((m, k))) => Some(QuantSource::Blocks { file, kind, m, k }),
                _ => None,
            };
            if let Some(src) = quant {
                let opts = QuantExec { b, c, alpha, beta, transpose_a, transpose_b, dtype, group, out };
                return quant_matmul(&ctx, &src, opts);
            }
            let a = a.expect("clap requires --a without a quantized A");
            let ah = read_header(&a)?;
            let dt = ah.dtype(dtype);
            let bh = read_header(&b)?;
            let ch = c.as_ref().map(|p| read_header(p)).transpose()?;
            let what = format!(
                "exec matmul on {} (shape {:?}) and {} (shape {:?})",
                a.display(),
                ah.shape,
                b.display(),
                bh.shape
            );
            // The output is C's shape, or [batch.., M, N] from A and B.
            let out_elems = match &ch {
                Some(ch) => ch.numel,
                None => {
                    let m = if transpose_a { ah.shape.last() } else { ah.shape.iter().rev().nth(1) };
                    let n = if transpose_b { bh.shape.iter().rev().nth(1) } else { bh.shape.last() };
                    let batch = if bh.shape.len() == 3 {
                        bh.shape[0]
                    } else if ah.shape.len() == 3 {
                        ah.shape[0]
                    } else {
                        1
                    };
                    mem::bytes_of(&what, &[*m.unwrap_or(&1), *n.unwrap_or(&1), batch], 1)? as usize
                }
            };
            let mut inputs = vec![(&ah, dtype), (&bh, Some(dt))];
            if let Some(ch) = &ch {
                inputs.push((ch, Some(dt)));
            }
            let scratch = f64_bytes(&what, bh.numel)?
                .saturating_add(f64_bytes(&what, out_elems)?.saturating_mul(2))
                .saturating_add(f64_bytes(&what, ah.shape.last().copied().unwrap_or(0))?);
            check_memory(&ctx, &what, &inputs, bytes(&what, out_elems, dt)?, scratch)?;

            let at = load(&ctx, &a, dtype)?;
            let dtype = dtype.unwrap_or(at.dtype());
            let at = if transpose_a { transposed(at)? } else { at };
            let bt = load(&ctx, &b, Some(dtype))?;
            let bt = if transpose_b { transposed(bt)? } else { bt };
            let ct = match (&c, beta != 0.0) {
                (Some(p), _) => load(&ctx, p, Some(dtype))?,
                (None, true) => {
                    return Err(crate::Error::InvalidArgument {
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
            let opts = crate::ops::MatmulOptions { group, prefs: None };
            ops::matmul_with(&ctx, alpha, &at, &bt, beta, &ct, &opts)?;
            drop((at, bt));
            write_tensor(&out, &ct)?;
            Ok(0)
        }
        ExecOp::Sdpa { q, k, v, scale, causal, offset, dtype, out, device } => {
            crate::fsio::check_output("exec sdpa", "--out", &out)?;
            let ctx = super::open_context(device.as_deref())?;
            let qh = read_header(&q)?;
            let dt = qh.dtype(dtype);
            let (kh, vh) = (read_header(&k)?, read_header(&v)?);
            let what =
                format!("exec sdpa on {} (shape {:?}) and a KV cache of shape {:?}", q.display(), qh.shape, kh.shape);
            let scratch = [qh.numel, kh.numel, vh.numel, qh.numel]
                .iter()
                .try_fold(0u64, |acc, &n| Ok::<_, crate::Error>(acc.saturating_add(f64_bytes(&what, n)?)))?;
            check_memory(
                &ctx,
                &what,
                &[(&qh, dtype), (&kh, Some(dt)), (&vh, Some(dt))],
                bytes(&what, qh.numel, dt)?,
                scratch,
            )?;

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
                &crate::ops::SdpaOptions { scale, causal, offset, prefs: None, fresh_keys: None },
            )?;
            drop((qt, kt, vt));
            write_tensor(&out, &o)?;
            Ok(0)
        }
        ExecOp::Copy { x, out, dtype, device } => {
            crate::fsio::check_output("exec copy", "--out", &out)?;
            let ctx = super::open_context(device.as_deref())?;
            let xh = read_header(&x)?;
            let what = format!("exec copy of {} (shape {:?})", x.display(), xh.shape);
            let out_bytes = bytes(&what, xh.numel, dtype.unwrap_or(xh.dtype(None)))?;
            check_memory(&ctx, &what, &[(&xh, None)], out_bytes, f64_bytes(&what, CPU_CHUNK_ELEMS)?)?;

            let xt = load(&ctx, &x, None)?;
            let y = Tensor::empty(&ctx, &xh.shape, dtype.unwrap_or(xt.dtype()))?;
            // On the CPU backend, flat chunks of the contiguous arrays, so its
            // f64 scratch stays small whatever the file's size.
            match row_chunks(&ctx, xt.numel(), 1, 1).as_slice() {
                [] | [_] => ops::copy(&ctx, &xt, &y)?,
                many => {
                    let (xf, yf) = (xt.reshape(&[xt.numel()])?, y.reshape(&[y.numel()])?);
                    for &(r, n) in many {
                        ops::copy(&ctx, &xf.narrow(0, r, n)?, &yf.narrow(0, r, n)?)?;
                    }
                }
            }
            drop(xt);
            write_tensor(&out, &y)?;
            Ok(0)
        }
    }
}

/// Where `exec matmul` reads a quantized A.
enum QuantSource {
    Gguf { file: PathBuf, name: String },
    Blocks { file: PathBuf, kind: crate::dtype::QuantKind, m: usize, k: usize },
}

/// The rest of `exec matmul`'s arguments, for a quantized A.
struct QuantExec {
    b: PathBuf,
    c: Option<PathBuf>,
    alpha: f32,
    beta: f32,
    transpose_a: bool,
    transpose_b: bool,
    dtype: Option<DType>,
    group: usize,
    out: PathBuf,
}

/// OUT[M, N] = alpha * dequant(A)[M, K] · B + beta * C with A in blocks:
/// `ops::quant_matmul` in its decode layout (x = B^T [N, K], y = OUT^T).
fn quant_matmul(ctx: &Context, src: &QuantSource, o: QuantExec) -> Result<i32> {
    const OP: &str = "exec matmul";
    let invalid = |arg: &str, expected: &str, got: String| crate::Error::InvalidArgument {
        op: OP,
        arg: arg.into(),
        expected: expected.into(),
        got,
    };
    if o.transpose_a {
        return Err(invalid(
            "--transpose-a",
            "absent with a quantized A (its rows are its blocks' rows)",
            "given".into(),
        ));
    }
    if o.group != 1 {
        return Err(invalid("--group", "1 with a quantized A (one matrix)", o.group.to_string()));
    }
    let w = match src {
        QuantSource::Gguf { file, name } => {
            let g = crate::model::gguf::GgufFile::open(file)?;
            let (info, storage, bytes) = g.tensor_raw(name)?;
            let shape = info.shape();
            let kind = match storage {
                crate::model::gguf::Storage::Quant(kind) if shape.len() == 2 => kind,
                _ => {
                    return Err(invalid(
                        "--a-tensor",
                        "a 2-D tensor in Q8_0, Q4_0, Q4_K or Q6_K (use --a with a .npy for plain ones)",
                        format!("`{name}` of GGML type {} and shape {shape:?}", info.ggml_type),
                    ))
                }
            };
            crate::tensor::QuantMatrix::from_bytes(ctx, kind, shape[0], shape[1], bytes)?
        }
        QuantSource::Blocks { file, kind, m, k } => {
            let bytes = std::fs::read(file).map_err(crate::Error::io("reading", file))?;
            let want = crate::tensor::QuantMatrix::byte_len(OP, *kind, *m, *k)?;
            if bytes.len() != want {
                return Err(invalid(
                    "--a-blocks",
                    &format!("{want} bytes ({m} rows of {k} {kind} elements)"),
                    format!("{} bytes in {}", bytes.len(), file.display()),
                ));
            }
            crate::tensor::QuantMatrix::from_bytes(ctx, *kind, *m, *k, &bytes)?
        }
    };
    let (m, k) = (w.rows(), w.cols());
    // x = B^T as [N, K] with contiguous rows (the kernels' layout).
    let bt = load(ctx, &o.b, o.dtype)?;
    let dtype = bt.dtype();
    if bt.rank() != 2 {
        return Err(invalid("--b", "a 2-D array with a quantized A", format!("shape {:?}", bt.shape())));
    }
    let x_view = if o.transpose_b { bt.clone() } else { bt.transpose(0, 1)? };
    if x_view.shape()[1] != k {
        let want = if o.transpose_b { format!("[N, {k}]") } else { format!("[{k}, N]") };
        return Err(invalid("--b", &format!("{want} to match A's {m} x {k}"), format!("shape {:?}", bt.shape())));
    }
    let n = x_view.shape()[0];
    let x = Tensor::empty(ctx, &[n, k], dtype)?;
    ops::copy(ctx, &x_view, &x)?;
    // y = OUT^T [N, M]; C^T first when beta is not 0.
    let y = Tensor::empty(ctx, &[n, m], dtype)?;
    match (&o.c, o.beta != 0.0) {
        (Some(p), _) => {
            let ct = load(ctx, p, Some(dtype))?;
            if ct.shape() != [m, n] {
                return Err(invalid(
                    "--c",
                    &format!("[{m}, {n}] (A's rows, B's columns)"),
                    format!("shape {:?}", ct.shape()),
                ));
            }
            ops::copy(ctx, &ct.transpose(0, 1)?, &y)?;
        }
        (None, true) => return Err(invalid("--c", "a C.npy file when --beta is not 0", "none".into())),
        (None, false) => {}
    }
    ops::quant_matmul(ctx, &w, &x, &y, o.alpha, o.beta)?;
    write_tensor(&o.out, &y.transpose(0, 1)?)?;
    Ok(0)
}

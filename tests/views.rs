//! Views and the validation every op runs, with bad inputs and their messages.

use decode_kernels::tensor::validate::{check_overlap, check_writable, Aliasing};
use decode_kernels::{ops, Context, DType, Layout, Tensor};

fn ctx() -> Context {
    Context::cpu()
}

fn arange(ctx: &Context, shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
    Tensor::from_f32(ctx, &v, shape, dtype).unwrap()
}

#[test]
fn transpose_narrow_reshape_share_the_buffer() {
    let c = ctx();
    let t = arange(&c, &[2, 3], DType::F32);
    let tt = t.transpose(0, 1).unwrap();
    assert_eq!(tt.shape(), &[3, 2]);
    assert_eq!(tt.to_f32_vec().unwrap(), vec![0., 3., 1., 4., 2., 5.]);
    assert!(tt.same_buffer(&t));
    let n = t.narrow(1, 1, 2).unwrap();
    assert_eq!(n.to_f32_vec().unwrap(), vec![1., 2., 4., 5.]);
    assert_eq!(t.reshape(&[3, 2]).unwrap().to_f32_vec().unwrap(), vec![0., 1., 2., 3., 4., 5.]);
    // Broadcast: stride 0 repeats a row.
    let b = t.as_strided(&[3, 3], &[0, 1], 3).unwrap();
    assert_eq!(b.to_f32_vec().unwrap(), vec![3., 4., 5., 3., 4., 5., 3., 4., 5.]);
}

#[test]
fn bad_views_name_the_argument() {
    let c = ctx();
    let t = arange(&c, &[2, 3], DType::F16);
    let e = t.as_strided(&[2, 3], &[4, 1], 0).unwrap_err().to_string();
    assert!(e.contains("view") && e.contains("layout") && e.contains("element 6") && e.contains("holds 6"), "{e}");
    let e = t.as_strided(&[2, 3], &[3], 0).unwrap_err().to_string();
    assert!(e.contains("strides") && e.contains("2 strides"), "{e}");
    let e = t.as_strided(&[1, 1, 1, 1, 1], &[1, 1, 1, 1, 1], 0).unwrap_err().to_string();
    assert!(e.contains("at most 4 dimensions"), "{e}");
    let e = t.transpose(0, 2).unwrap_err().to_string();
    assert!(e.contains("transpose") && e.contains("dim b"), "{e}");
    let e = t.narrow(1, 2, 2).unwrap_err().to_string();
    assert!(e.contains("narrow") && e.contains("at most 3"), "{e}");
    let e = t.transpose(0, 1).unwrap().reshape(&[6]).unwrap_err().to_string();
    assert!(e.contains("reshape") && e.contains("contiguous"), "{e}");
    let e = t.reshape(&[4, 2]).unwrap_err().to_string();
    assert!(e.contains("6 elements"), "{e}");
    let e = Tensor::from_f32(&c, &[1.0, 2.0], &[3], DType::F32).unwrap_err().to_string();
    assert!(e.contains("3 elements for shape [3]"), "{e}");
}

#[test]
fn vector_alignment_rules() {
    let l = Layout::contiguous(&[4, 16]).unwrap();
    assert!(l.is_vector_aligned(8));
    assert!(!l.narrow(1, 1, 8).unwrap().is_vector_aligned(8), "offset 1 is unaligned");
    assert!(!Layout::contiguous(&[4, 12]).unwrap().is_vector_aligned(8), "inner 12 is not a multiple of 8");
    assert!(!l.transpose(0, 1).unwrap().is_vector_aligned(8), "inner stride is not 1");
    assert!(Layout::strided(&[4, 16], &[24, 1], 8).unwrap().is_vector_aligned(8));
    assert!(!Layout::strided(&[4, 16], &[20, 1], 0).unwrap().is_vector_aligned(8));
}

#[test]
fn overlap_rules() {
    let c = ctx();
    let buf = arange(&c, &[100], DType::F32);
    let a = buf.as_strided(&[10], &[1], 0).unwrap();
    let a_again = buf.as_strided(&[10], &[1], 0).unwrap();
    let shifted = buf.as_strided(&[10], &[1], 5).unwrap();
    let disjoint = buf.as_strided(&[10], &[1], 50).unwrap();
    assert!(check_overlap("op", "y", &a, &[("x", &disjoint)], Aliasing::Forbidden).is_ok());
    assert!(check_overlap("op", "y", &a, &[("x", &a_again)], Aliasing::IdenticalAllowed).is_ok());
    let e = check_overlap("op", "y", &a, &[("x", &a_again)], Aliasing::Forbidden).unwrap_err().to_string();
    assert!(e.contains("op: output `y` partially overlaps input `x`"), "{e}");
    let e = check_overlap("op", "y", &shifted, &[("x", &a)], Aliasing::IdenticalAllowed).unwrap_err().to_string();
    assert!(e.contains("`y`") && e.contains("`x`"), "{e}");
    // Another buffer never overlaps.
    let other = arange(&c, &[10], DType::F32);
    assert!(check_overlap("op", "y", &other, &[("x", &a)], Aliasing::Forbidden).is_ok());
}

#[test]
fn outputs_must_not_write_an_element_twice() {
    let c = ctx();
    let buf = arange(&c, &[100], DType::F32);
    assert!(check_writable("op", "y", &buf.as_strided(&[4, 5], &[5, 1], 0).unwrap()).is_ok());
    assert!(check_writable("op", "y", &buf.as_strided(&[4, 5], &[1, 4], 0).unwrap()).is_ok());
    let e = check_writable("op", "y", &buf.as_strided(&[4, 5], &[0, 1], 0).unwrap()).unwrap_err().to_string();
    assert!(e.contains("op: argument `y`") && e.contains("do not overlap"), "{e}");
    assert!(check_writable("op", "y", &buf.as_strided(&[4, 5], &[3, 1], 0).unwrap()).is_err());
}

#[test]
fn copy_converts_and_follows_strides() {
    let c = ctx();
    let x = arange(&c, &[3, 4], DType::F32);
    let y = Tensor::empty(&c, &[4, 3], DType::F16).unwrap();
    ops::copy(&c, &x.transpose(0, 1).unwrap(), &y).unwrap();
    assert_eq!(y.to_f32_vec().unwrap(), vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]);
    // In place (identical view) is allowed and a no-op.
    ops::copy(&c, &x, &x).unwrap();
    assert_eq!(x.to_f32_vec().unwrap()[5], 5.0);
    // Rounding to bf16 is round-to-nearest-even.
    let z = Tensor::from_f32(&c, &[1.0 + 1.0 / 256.0 + 1.0 / 512.0], &[1], DType::F32).unwrap();
    let zb = Tensor::empty(&c, &[1], DType::BF16).unwrap();
    ops::copy(&c, &z, &zb).unwrap();
    assert_eq!(zb.to_f32_vec().unwrap(), vec![1.0 + 1.0 / 128.0]);
}

#[test]
fn copy_rejects_bad_arguments() {
    let c = ctx();
    let x = arange(&c, &[3, 4], DType::F32);
    let e = ops::copy(&c, &x, &Tensor::empty(&c, &[4, 3], DType::F32).unwrap()).unwrap_err().to_string();
    assert!(e.contains("copy: argument `y`: expected shape [3, 4], got shape [4, 3]"), "{e}");
    let buf = arange(&c, &[20], DType::F32);
    let e = ops::copy(&c, &buf.narrow(0, 0, 10).unwrap(), &buf.narrow(0, 5, 10).unwrap()).unwrap_err().to_string();
    assert!(e.contains("copy: output `y` partially overlaps input `x`"), "{e}");
    let e = ops::copy(&c, &x, &buf.as_strided(&[3, 4], &[0, 1], 0).unwrap()).unwrap_err().to_string();
    assert!(e.contains("copy: argument `y`"), "{e}");
}

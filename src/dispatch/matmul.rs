//! Matmul dispatch: which GEMV variant (or cuBLAS) serves a shape, and with
//! what launch sizes.

use std::str::FromStr;

use crate::device::DeviceCaps;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tuning::MatmulTuning;

/// How A[M,K] is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ALayout {
    /// Unit stride along K (weights; the K cache in QK^T).
    KContiguous,
    /// Unit stride along M (V in P.V).
    MContiguous,
    /// Neither.
    Strided,
}

/// Everything dispatch needs to know about one matmul.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatmulDesc {
    /// Rows of A and C.
    pub m: usize,
    /// Columns of B and C: the small dimension (the decode batch) GEMV is for.
    pub n: usize,
    /// The reduction dimension: columns of A, rows of B.
    pub k: usize,
    /// Independent matmuls in the call (the product of the leading dimensions).
    pub batch: usize,
    /// The dtype of A, B and C.
    pub dtype: DType,
    /// Which of A's dimensions has unit stride.
    pub a_layout: ALayout,
    /// A allows 16-byte loads along its contiguous dimension (base, strides and
    /// length multiples of the vector).
    pub a_vec_aligned: bool,
    /// B has unit stride along K and allows 16-byte loads there.
    pub b_vec_aligned: bool,
    /// Every operand has a unit stride cuBLAS can use, and batch strides are uniform.
    pub cublas_layout: bool,
}

/// A GEMV kernel family member (kernels/gemv.cu).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GemvVariant {
    /// Tensor cores, f16/bf16, K-contiguous aligned A and B.
    Mma,
    /// FMA, K-contiguous aligned A and B.
    VecK,
    /// FMA, M-contiguous aligned A.
    VecM,
    /// Any strides and alignment.
    Scalar,
}

impl GemvVariant {
    /// The short name reports and kernel names use ("mma", "veck", ...).
    pub fn name(self) -> &'static str {
        match self {
            GemvVariant::Mma => "mma",
            GemvVariant::VecK => "veck",
            GemvVariant::VecM => "vecm",
            GemvVariant::Scalar => "scalar",
        }
    }

    /// Output rows one CTA computes with one row group (see
    /// [`GemvPlan::row_groups`]).
    pub fn rows_per_cta(self, n: usize, dtype: DType, vecm_tx: u32) -> usize {
        match self {
            GemvVariant::Mma => 16,
            GemvVariant::VecK => veck_rows(n),
            GemvVariant::VecM => vecm_tx as usize * vec_elems(dtype),
            GemvVariant::Scalar => SCALAR_WARPS as usize,
        }
    }
}

/// Elements in a 16-byte vector.
pub fn vec_elems(dtype: DType) -> usize {
    16 / dtype.size_in_bytes()
}

/// Rows per CTA of veck (kernels/gemv.cu: VeckShape).
pub fn veck_rows(n: usize) -> usize {
    if n <= 2 {
        1
    } else if n <= 8 {
        2
    } else {
        4
    }
}

/// The row groups plain veck may put in one CTA (kernels/gemv.cu: RG; each
/// has an entry point at N <= [`VECK_GROUPS_MAX_N`]). The fused launches
/// (ops/fused_gemv.rs) keep one.
pub const VECK_ROW_GROUPS: [u32; 4] = [1, 2, 4, 8];
/// The widest N with veck entry points of more than one row group.
pub const VECK_GROUPS_MAX_N: usize = 2;

/// Row groups a veck CTA computes: the most of [`VECK_ROW_GROUPS`] whose rows
/// (`row_bytes` a group) together read at most `cta_bytes`, no more than a
/// batch's `groups`, and still leave `min_ctas` CTAs over the `batches` (the
/// table's target CTAs a wave: with fewer, too few warps are in flight and
/// the grid ends on a ragged wave, which costs more than the short CTAs
/// saved); 1 above N = [`VECK_GROUPS_MAX_N`] or with `cta_bytes` 0. A plan
/// with groups fills the wave, so it has one K split, as the one-group plan
/// of the same rows would.
pub fn veck_row_groups(
    n: usize,
    row_bytes: usize,
    groups: usize,
    batches: usize,
    min_ctas: usize,
    cta_bytes: usize,
) -> u32 {
    if n > VECK_GROUPS_MAX_N || cta_bytes == 0 {
        return 1;
    }
    VECK_ROW_GROUPS
        .iter()
        .copied()
        .filter(|&g| {
            let g = g as usize;
            g == 1
                || (g * row_bytes <= cta_bytes
                    && g <= groups
                    && groups.div_ceil(g).saturating_mul(batches.max(1)) >= min_ctas)
        })
        .max()
        .unwrap_or(1)
}

/// The CTAs a veck grid with row groups keeps at least: the table's target a
/// wave ([`MatmulTuning::target_ctas_per_sm`] on every SM).
pub fn veck_groups_min_ctas(caps: &DeviceCaps, t: &MatmulTuning) -> usize {
    (caps.sm_count.max(1) as usize).saturating_mul(t.target_ctas_per_sm as usize)
}

/// The largest N one GEMV launch covers; wider B is done in chunks of this.
pub const GEMV_MAX_N: usize = 16;
/// Warps per CTA of the scalar variant, one output row per warp (it ignores
/// the tuned warp count).
pub const SCALAR_WARPS: u32 = 8;
const VECM_THREADS: u32 = 256;

/// A GEMV launch shape for one chunk of up to GEMV_MAX_N columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemvPlan {
    /// The kernel that runs the chunk.
    pub variant: GemvVariant,
    /// Threads per CTA along x (warps*32, or vecm's TX) and y (vecm's TY).
    pub block: (u32, u32),
    /// K splits (grid.y) and the K range of each.
    pub splits: u32,
    /// Elements of K each split covers: a multiple of 256, the last split
    /// covering what remains.
    pub k_per_split: usize,
    /// veck: groups of rows one CTA computes side by side ([`veck_row_groups`];
    /// 1 for the other variants).
    pub row_groups: u32,
}

impl GemvPlan {
    /// Output rows one CTA computes for a chunk of `n` columns.
    pub fn rows_per_cta(&self, n: usize, dtype: DType) -> usize {
        self.variant.rows_per_cta(n, dtype, self.block.0) * self.row_groups as usize
    }

    /// Floats one CTA contributes per split (the split-K workspace tile).
    pub fn tile_elems(&self, n: usize, dtype: DType) -> usize {
        match self.variant {
            GemvVariant::Mma => 16 * n.div_ceil(8) * 8,
            _ => self.rows_per_cta(n, dtype) * n,
        }
    }

    /// The kernel's name for a chunk of `n` columns in `dtype`
    /// (`gemv_veck_n1_g4_f16` with row groups; kernels/gemv.cu).
    pub fn kernel_name(&self, n: usize, dtype: DType) -> String {
        format!("gemv_{}_n{n}{}_{dtype}", self.variant.name(), self.groups_suffix())
    }

    /// The name of the kernel's `w` twin, run where A is fixed
    /// (`Tensor::mark_fixed`; kernels/gemv.cu: gemv_veck's W loads A before
    /// the PDL wait): veck at N <= [`VECK_GROUPS_MAX_N`]
    /// (`gemv_veckw_n1_g4_f16`); None for the other kernels.
    pub fn fixed_a_kernel_name(&self, n: usize, dtype: DType) -> Option<String> {
        (self.variant == GemvVariant::VecK && n <= VECK_GROUPS_MAX_N)
            .then(|| format!("gemv_{}w_n{n}{}_{dtype}", self.variant.name(), self.groups_suffix()))
    }

    /// `_g<row groups>` where a veck CTA has more than one, else empty.
    pub fn groups_suffix(&self) -> String {
        if self.row_groups > 1 {
            format!("_g{}", self.row_groups)
        } else {
            String::new()
        }
    }
}

/// What runs a matmul.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulPlan {
    /// This crate's GEMV kernels, with this launch shape for each chunk of
    /// up to [`GEMV_MAX_N`] columns.
    Gemv(GemvPlan),
    /// One cuBLAS (strided batched) GEMM.
    Cublas,
    /// The CPU backend's reference implementation (no dispatch there).
    Cpu,
}

impl MatmulPlan {
    /// A short name for reports, e.g. "gemv_mma" or "cublas".
    pub fn name(&self) -> String {
        match self {
            MatmulPlan::Gemv(g) => format!("gemv_{}", g.variant.name()),
            MatmulPlan::Cublas => "cublas".into(),
            MatmulPlan::Cpu => "cpu".into(),
        }
    }
}

/// `DK_MATMUL_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MatmulBackend {
    /// GEMV up to the tuning table's N threshold (or `DK_MATMUL_SMALLN`),
    /// cuBLAS above it; GEMV whenever cuBLAS cannot serve the call.
    #[default]
    Auto,
    /// Always the GEMV kernels.
    Gemv,
    /// Always cuBLAS; an error where it is missing or the layout does not suit it.
    Cublas,
}

pub use super::prefs::{MATMUL_BACKEND_ENV as BACKEND_ENV, MATMUL_SMALLN_ENV as SMALLN_ENV};

impl FromStr for MatmulBackend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        super::prefs::parse_choice(BACKEND_ENV, s)
    }
}

/// Caller preferences; `from_env` reads the environment overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MatmulPrefs {
    /// Which implementation to use.
    pub backend: MatmulBackend,
    /// Overrides the tuning table's GEMV/cuBLAS threshold.
    pub smalln_max_n: Option<usize>,
}

/// Picks the plan. `cublas_available`: the cuBLAS library could be loaded.
pub fn plan_matmul(
    d: &MatmulDesc,
    caps: &DeviceCaps,
    t: &MatmulTuning,
    prefs: &MatmulPrefs,
    cublas_available: bool,
) -> Result<MatmulPlan> {
    let cublas_ok = cublas_available && d.cublas_layout;
    match prefs.backend {
        MatmulBackend::Gemv => Ok(MatmulPlan::Gemv(plan_gemv(d, caps, t))),
        MatmulBackend::Cublas => {
            if !cublas_available {
                return Err(Error::Unsupported {
                    op: "matmul",
                    what: format!("{BACKEND_ENV}=cublas, but the cuBLAS library (libcublas) could not be loaded"),
                });
            }
            if !d.cublas_layout {
                return Err(Error::Unsupported {
                    op: "matmul",
                    what: format!(
                        "{BACKEND_ENV}=cublas, but cuBLAS needs a unit stride in each of A, B and C and uniform batch strides; use auto or gemv"
                    ),
                });
            }
            Ok(MatmulPlan::Cublas)
        }
        MatmulBackend::Auto => {
            let max_n = prefs.smalln_max_n.unwrap_or_else(|| t.smalln_max_n_for(d.dtype, (d.m * d.k) as u64));
            if d.n <= max_n || !cublas_ok {
                Ok(MatmulPlan::Gemv(plan_gemv(d, caps, t)))
            } else {
                Ok(MatmulPlan::Cublas)
            }
        }
    }
}

/// The GEMV variant and launch shape for one chunk of min(N, 16) columns.
pub fn plan_gemv(d: &MatmulDesc, caps: &DeviceCaps, t: &MatmulTuning) -> GemvPlan {
    let n = d.n.clamp(1, GEMV_MAX_N);
    let half = matches!(d.dtype, DType::F16 | DType::BF16);
    let variant = match d.a_layout {
        ALayout::KContiguous if d.a_vec_aligned && d.b_vec_aligned => {
            // N = 1 on tensor cores too where the rows are short and the
            // weight streams from DRAM (MatmulTuning::mma_n1_max_k): one
            // matrix past L2, an LM head, whatever the batch.
            let narrow_head =
                n == 1 && d.k <= t.mma_n1_max_k && (d.m * d.k * d.dtype.size_in_bytes()) as u64 > caps.l2_bytes;
            if half && (n >= t.mma_min_n || narrow_head) {
                GemvVariant::Mma
            } else {
                GemvVariant::VecK
            }
        }
        ALayout::MContiguous if d.a_vec_aligned => GemvVariant::VecM,
        _ => GemvVariant::Scalar,
    };
    let warps = t.warps.clamp(1, 8);
    // vecm: block.0 threads walk M (GemvPlan::rows_per_cta reads it).
    let block = match variant {
        GemvVariant::Mma | GemvVariant::VecK => (warps * 32, 1),
        GemvVariant::VecM => {
            let tx = (d.m.div_ceil(vec_elems(d.dtype)) as u32).clamp(1, 32);
            (tx, VECM_THREADS / tx)
        }
        GemvVariant::Scalar => (SCALAR_WARPS * 32, 1),
    };
    let row_groups = if variant == GemvVariant::VecK {
        let row_bytes = d.k * d.dtype.size_in_bytes() * veck_rows(n);
        let groups = d.m.div_ceil(veck_rows(n));
        veck_row_groups(n, row_bytes, groups, d.batch, veck_groups_min_ctas(caps, t), t.veck_cta_bytes)
    } else {
        1
    };
    let mut plan = GemvPlan { variant, block, splits: 1, k_per_split: d.k.max(1), row_groups };
    if variant != GemvVariant::Scalar {
        let ctas = d.m.div_ceil(plan.rows_per_cta(n, d.dtype)) * d.batch.max(1);
        (plan.splits, plan.k_per_split) = choose_splits(ctas, d.k, caps.sm_count, t);
    }
    plan
}

/// K splits so the grid reaches the target CTA count, each split a whole
/// number of 256-element blocks (so 16-byte chunks never straddle splits).
fn choose_splits(ctas: usize, k: usize, sm_count: u32, t: &MatmulTuning) -> (u32, usize) {
    const GRANULE: usize = 256;
    let target = (sm_count.max(1) as usize).saturating_mul(t.target_ctas_per_sm as usize);
    let want = target.div_ceil(ctas.max(1));
    let by_k = (k / t.min_k_per_split.max(1)).max(1);
    let splits = want.min(by_k).min(t.max_splits as usize).max(1);
    let k_per_split = k.div_ceil(splits).div_ceil(GRANULE).max(1) * GRANULE;
    let splits = k.div_ceil(k_per_split).max(1);
    (splits as u32, k_per_split)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuning::TuningTable;

    fn h100() -> DeviceCaps {
        DeviceCaps {
            ordinal: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
            compute_capability: (9, 0),
            sm_count: 132,
            l2_bytes: 50 << 20,
            total_mem_bytes: 80 << 30,
            max_shared_per_block_optin: 227 << 10,
            max_threads_per_sm: 2048,
        }
    }

    fn desc(m: usize, n: usize, k: usize, dtype: DType, a_layout: ALayout) -> MatmulDesc {
        MatmulDesc { m, n, k, batch: 1, dtype, a_layout, a_vec_aligned: true, b_vec_aligned: true, cublas_layout: true }
    }

    fn plan(d: &MatmulDesc, prefs: &MatmulPrefs) -> Result<MatmulPlan> {
        plan_matmul(d, &h100(), &TuningTable::fixed_for_tests().matmul, prefs, true)
    }

    fn gemv(p: MatmulPlan) -> GemvPlan {
        match p {
            MatmulPlan::Gemv(g) => g,
            other => panic!("expected a GEMV plan, got {other:?}"),
        }
    }

    #[test]
    fn auto_uses_gemv_up_to_the_threshold_then_cublas() {
        let t = TuningTable::fixed_for_tests().matmul;
        for dt in DType::ALL {
            let max = t.smalln_max_n_for(dt, 4096 * 4096);
            for n in 1..=max {
                assert!(matches!(
                    plan(&desc(4096, n, 4096, dt, ALayout::KContiguous), &Default::default()).unwrap(),
                    MatmulPlan::Gemv(_)
                ));
            }
            for n in [max + 1, 64, 4096] {
                assert_eq!(
                    plan(&desc(4096, n, 4096, dt, ALayout::KContiguous), &Default::default()).unwrap(),
                    MatmulPlan::Cublas
                );
            }
        }
    }

    #[test]
    fn variant_follows_dtype_layout_and_alignment() {
        let p = Default::default();
        let t = TuningTable::fixed_for_tests().matmul;
        for dt in [DType::F16, DType::BF16] {
            let mma = GemvVariant::Mma;
            assert_eq!(gemv(plan(&desc(4096, 8, 4096, dt, ALayout::KContiguous), &p).unwrap()).variant, mma);
            let below = t.mma_min_n.saturating_sub(1).max(1);
            let v = gemv(plan(&desc(4096, below, 4096, dt, ALayout::KContiguous), &p).unwrap()).variant;
            assert_eq!(v, if below < t.mma_min_n { GemvVariant::VecK } else { mma });
        }
        assert_eq!(
            gemv(plan(&desc(4096, 8, 4096, DType::F32, ALayout::KContiguous), &p).unwrap()).variant,
            GemvVariant::VecK
        );
        assert_eq!(
            gemv(plan(&desc(128, 4, 4096, DType::F16, ALayout::MContiguous), &p).unwrap()).variant,
            GemvVariant::VecM
        );
        let mut unaligned = desc(4096, 4, 4095, DType::F16, ALayout::KContiguous);
        unaligned.a_vec_aligned = false;
        assert_eq!(gemv(plan(&unaligned, &p).unwrap()).variant, GemvVariant::Scalar);
        let mut b_unaligned = desc(4096, 4, 4096, DType::F16, ALayout::KContiguous);
        b_unaligned.b_vec_aligned = false;
        assert_eq!(gemv(plan(&b_unaligned, &p).unwrap()).variant, GemvVariant::Scalar);
        assert_eq!(
            gemv(plan(&desc(64, 4, 64, DType::F32, ALayout::Strided), &p).unwrap()).variant,
            GemvVariant::Scalar
        );
    }

    #[test]
    fn layouts_cublas_cannot_take_stay_on_gemv() {
        let mut d = desc(4096, 64, 4096, DType::F16, ALayout::Strided);
        d.cublas_layout = false;
        assert_eq!(gemv(plan(&d, &Default::default()).unwrap()).variant, GemvVariant::Scalar);
        // And so does everything when cuBLAS is missing.
        let d = desc(4096, 64, 4096, DType::F16, ALayout::KContiguous);
        let p = plan_matmul(&d, &h100(), &TuningTable::fixed_for_tests().matmul, &Default::default(), false).unwrap();
        assert!(matches!(p, MatmulPlan::Gemv(_)));
    }

    #[test]
    fn overrides() {
        let d = desc(4096, 8, 4096, DType::F16, ALayout::KContiguous);
        let cublas = MatmulPrefs { backend: MatmulBackend::Cublas, smalln_max_n: None };
        assert_eq!(plan(&d, &cublas).unwrap(), MatmulPlan::Cublas);
        let gemv_only = MatmulPrefs { backend: MatmulBackend::Gemv, smalln_max_n: None };
        assert!(matches!(
            plan(&desc(4096, 100, 4096, DType::F16, ALayout::KContiguous), &gemv_only).unwrap(),
            MatmulPlan::Gemv(_)
        ));
        let small = MatmulPrefs { backend: MatmulBackend::Auto, smalln_max_n: Some(4) };
        assert_eq!(plan(&d, &small).unwrap(), MatmulPlan::Cublas);
        assert!(matches!(
            plan(&desc(4096, 4, 4096, DType::F16, ALayout::KContiguous), &small).unwrap(),
            MatmulPlan::Gemv(_)
        ));
        // Forcing cuBLAS on a layout it cannot take, or without the library, is an error.
        let mut strided = d;
        strided.cublas_layout = false;
        let e = plan(&strided, &cublas).unwrap_err().to_string();
        assert!(e.contains("DK_MATMUL_BACKEND=cublas") && e.contains("unit stride"), "{e}");
        let e =
            plan_matmul(&d, &h100(), &TuningTable::fixed_for_tests().matmul, &cublas, false).unwrap_err().to_string();
        assert!(e.contains("libcublas"), "{e}");
    }

    #[test]
    fn backend_values_parse_and_bad_ones_name_the_variable() {
        assert_eq!("GEMV".parse::<MatmulBackend>().unwrap(), MatmulBackend::Gemv);
        let e = "fast".parse::<MatmulBackend>().unwrap_err().to_string();
        assert!(e.contains("DK_MATMUL_BACKEND=\"fast\"") && e.contains("auto, gemv, cublas"), "{e}");
    }

    #[test]
    fn split_k_fills_the_gpu_only_when_needed() {
        let p = Default::default();
        // Many rows: no split.
        let big = gemv(plan(&desc(128256, 1, 4096, DType::F16, ALayout::KContiguous), &p).unwrap());
        assert_eq!(big.splits, 1);
        assert!(big.k_per_split >= 4096);
        // Few rows, long K: split.
        let small = gemv(plan(&desc(896, 4, 4864, DType::F16, ALayout::KContiguous), &p).unwrap());
        assert!(small.splits > 1, "{small:?}");
        for (m, k) in [(128, 1024), (896, 4864), (4096, 14336), (16, 8), (1, 1), (4096, 4096)] {
            for dt in DType::ALL {
                for n in 1..=16 {
                    let g = plan_gemv(
                        &desc(m, n, k, dt, ALayout::KContiguous),
                        &h100(),
                        &TuningTable::fixed_for_tests().matmul,
                    );
                    assert!(g.splits >= 1 && g.splits <= 32);
                    assert_eq!(g.k_per_split % 256, 0, "{g:?}");
                    // Splits cover K exactly once: the last split starts inside K.
                    assert!((g.splits as usize - 1) * g.k_per_split < k.max(1), "{m}x{k} n={n}: {g:?}");
                    assert!(g.splits as usize * g.k_per_split >= k);
                    assert!(g.block.0 * g.block.1 <= 256);
                }
            }
        }
    }

    #[test]
    fn veck_row_groups_fill_a_cta_but_keep_an_sm_each() {
        // qwen2.5-0.5b's LM head (K 896, f16: 1792-byte rows): 4 rows a CTA under 8 KB.
        assert_eq!(veck_row_groups(1, 1792, 151936, 1, 792, 8192), 4);
        // 9728 rows: 4 leave 2432 CTAs; at 16 KB, 8 leave 1216.
        assert_eq!(veck_row_groups(1, 1792, 9728, 1, 792, 16384), 8);
        // 896 rows: even 2 a CTA would leave fewer than a wave's CTAs.
        assert_eq!(veck_row_groups(1, 1792, 896, 1, 792, 8192), 1);
        // 4 KB rows: two; 8 KB rows: one; a cap of 0: one.
        assert_eq!(veck_row_groups(1, 4096, 128256, 1, 792, 8192), 2);
        assert_eq!(veck_row_groups(2, 8192, 128256, 1, 792, 8192), 1);
        assert_eq!(veck_row_groups(1, 1792, 151936, 1, 792, 0), 1);
        // A batch of 1000 matrices of 8 rows: as many as the bytes allow (4 of
        // 1.8 KB, 8 of 512 B); of 3 rows: no more groups than rows.
        assert_eq!(veck_row_groups(1, 1792, 8, 1000, 792, 8192), 4);
        assert_eq!(veck_row_groups(1, 512, 8, 1000, 792, 8192), 8);
        assert_eq!(veck_row_groups(1, 512, 3, 1000, 792, 8192), 2);
        // Empty rows under a cap of 0: one.
        assert_eq!(veck_row_groups(1, 0, 151936, 1, 792, 0), 1);
        // Above N = 2: no entry points with groups.
        assert_eq!(veck_row_groups(3, 64, 1 << 20, 1, 792, 8192), 1);
        // The plan: groups in veck's plans only, and counted in its CTAs' rows
        // (the LM head on veck: tensor cores off at N = 1).
        let mut t = TuningTable::fixed_for_tests().matmul;
        t.mma_n1_max_k = 0;
        let head = plan_gemv(&desc(151936, 1, 896, DType::F16, ALayout::KContiguous), &h100(), &t);
        assert_eq!((head.variant, head.row_groups, head.rows_per_cta(1, DType::F16)), (GemvVariant::VecK, 4, 4));
        assert_eq!(head.kernel_name(1, DType::F16), "gemv_veck_n1_g4_f16");
        assert_eq!(head.fixed_a_kernel_name(1, DType::F16).as_deref(), Some("gemv_veckw_n1_g4_f16"));
        assert_eq!(head.fixed_a_kernel_name(3, DType::F16), None);
        assert_eq!(head.tile_elems(1, DType::F16), 4);
        // One split with groups (the wave is full), as without.
        assert_eq!(head.splits, 1);
        let mma = plan_gemv(&desc(151936, 4, 896, DType::F16, ALayout::KContiguous), &h100(), &t);
        assert_eq!((mma.variant, mma.row_groups), (GemvVariant::Mma, 1));
        assert_eq!(mma.kernel_name(4, DType::F16), "gemv_mma_n4_f16");
        assert_eq!(mma.fixed_a_kernel_name(1, DType::F16), None);
    }

    #[test]
    fn tensor_cores_at_n1_for_short_rows_past_l2() {
        let t = TuningTable::fixed_for_tests().matmul;
        let variant = |m, k, dtype| plan_gemv(&desc(m, 1, k, dtype, ALayout::KContiguous), &h100(), &t).variant;
        // qwen2.5-0.5b's LM head (272 MB, K 896): mma; in f32 (no mma) veck.
        assert_eq!(variant(151936, 896, DType::F16), GemvVariant::Mma);
        assert_eq!(variant(151936, 896, DType::BF16), GemvVariant::Mma);
        assert_eq!(variant(151936, 896, DType::F32), GemvVariant::VecK);
        // Within L2 (its MLP, 17 MB) or K past the bound (llama3.2-1b's head): veck.
        assert_eq!(variant(9728, 896, DType::F16), GemvVariant::VecK);
        assert_eq!(variant(128256, 2048, DType::F16), GemvVariant::VecK);
        // A bound of 0: never.
        let off = MatmulTuning { mma_n1_max_k: 0, ..t.clone() };
        assert_eq!(
            plan_gemv(&desc(151936, 1, 896, DType::F16, ALayout::KContiguous), &h100(), &off).variant,
            GemvVariant::VecK
        );
    }

    #[test]
    fn vecm_block_shape_fits() {
        for m in [8, 64, 128, 256, 4096] {
            for dt in DType::ALL {
                let g = plan_gemv(
                    &desc(m, 4, 512, dt, ALayout::MContiguous),
                    &h100(),
                    &TuningTable::fixed_for_tests().matmul,
                );
                assert_eq!(g.variant, GemvVariant::VecM);
                assert!(g.block.0 <= 32 && g.block.0 * g.block.1 <= 256, "{g:?}");
            }
        }
    }
}

//! Softmax dispatch: warp per row (vec) or CTA per row (block), with the row in
//! registers when it fits and streamed when it does not; few long rows are cut
//! into chunks over many CTAs (split) so that they fill the GPU.

use std::str::FromStr;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tuning::SoftmaxTuning;

/// Elements per thread the register variants are compiled for (kernels/softmax.cu).
pub const EPT: [u32; 6] = [1, 2, 4, 8, 16, 32];
/// The 8- and 16-lane row groups are compiled up to this many elements per lane.
const SUBWARP_MAX_EPT: usize = 8;

/// Everything dispatch needs to know about one softmax (over the last
/// dimension, the other dimensions flattened into rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SoftmaxDesc {
    /// Rows normalised independently.
    pub rows: usize,
    /// Elements per row: what picks the variant.
    pub cols: usize,
    /// The dtype of x and y.
    pub dtype: DType,
    /// Rows allow 16-byte loads and stores (x, y and mask).
    pub packable: bool,
    /// The device runs thread-block clusters (compute capability 9.0 and up).
    pub clusters: bool,
}

/// CTAs per row of the cluster variant (kernels/softmax.cu).
pub const CLUSTER_CTAS: u32 = 4;
/// Threads per CTA of the cluster variant.
pub const CLUSTER_THREADS: u32 = 512;
/// Elements per thread of the cluster variant, in registers: a cluster holds
/// rows of up to CTAS x THREADS x EPT = 32768 elements.
pub const CLUSTER_EPT: u32 = 16;

/// Elements per thread of the split variant (kernels/softmax.cu): a chunk is
/// this many times the CTA's threads.
pub const SPLIT_EPT: u32 = 16;
/// CTA sizes the split variant picks from, largest first (see [`split_threads`]).
pub const SPLIT_THREADS: [u32; 5] = [1024, 512, 256, 128, 64];

/// What runs a softmax. `pack` is 1 (scalar) or the elements of 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftmaxPlan {
    /// `lanes` (8, 16 or 32) per row, `ept` elements per lane in registers.
    Vec {
        /// Lanes of a warp per row: 8 or 16 for short rows, else 32.
        lanes: u32,
        /// Elements per lane, one of [`EPT`].
        ept: u32,
        /// Elements per load and store.
        pack: u32,
        /// Warps per CTA, each serving 32 / `lanes` rows.
        warps_per_cta: u32,
    },
    /// A warp per row, two passes over a row of any length.
    VecStream {
        /// Warps per CTA, one row each.
        warps_per_cta: u32,
    },
    /// A CTA of `threads` per row, `ept` elements per thread in registers.
    Block {
        /// Threads per CTA.
        threads: u32,
        /// Elements per thread, one of [`EPT`].
        ept: u32,
        /// Elements per load and store.
        pack: u32,
    },
    /// A CTA per row, two passes over a row of any length.
    BlockStream {
        /// Threads per CTA.
        threads: u32,
    },
    /// A row over a cluster of `ctas` CTAs of `threads`, `ept` elements per thread.
    Cluster {
        /// CTAs in the cluster ([`CLUSTER_CTAS`]).
        ctas: u32,
        /// Threads per CTA ([`CLUSTER_THREADS`]).
        threads: u32,
        /// Elements per thread ([`CLUSTER_EPT`]).
        ept: u32,
        /// Elements per load and store.
        pack: u32,
    },
    /// Each row cut into chunks of `threads` x `ept` columns, a CTA per
    /// (row, chunk), in two launches: each chunk's (max, sum) into the
    /// workspace, then each chunk normalised by its row's combined pairs.
    Split {
        /// Threads per CTA, one of [`SPLIT_THREADS`].
        threads: u32,
        /// Elements per thread ([`SPLIT_EPT`]).
        ept: u32,
        /// Elements per load and store.
        pack: u32,
    },
    /// The CPU backend's reference (no dispatch there).
    Cpu,
}

impl SoftmaxPlan {
    /// The kernel's name suffix, e.g. "vec_e8_p8" or "block_stream".
    pub fn name(&self) -> String {
        match self {
            SoftmaxPlan::Vec { lanes: 32, ept, pack, .. } => format!("vec_e{ept}_p{pack}"),
            SoftmaxPlan::Vec { lanes, ept, pack, .. } => format!("vec{lanes}_e{ept}_p{pack}"),
            SoftmaxPlan::VecStream { .. } => "vec_stream".into(),
            SoftmaxPlan::Block { ept, pack, .. } => format!("block_e{ept}_p{pack}"),
            SoftmaxPlan::BlockStream { .. } => "block_stream".into(),
            SoftmaxPlan::Cluster { ctas, ept, pack, .. } => format!("cluster{ctas}_e{ept}_p{pack}"),
            SoftmaxPlan::Split { ept, pack, .. } => format!("split_e{ept}_p{pack}"),
            SoftmaxPlan::Cpu => "cpu".into(),
        }
    }

    /// CTAs the plan launches for `rows` rows of `cols` columns (the split
    /// variant: in each of its two launches).
    pub fn ctas(&self, rows: usize, cols: usize) -> usize {
        match *self {
            SoftmaxPlan::Vec { lanes, warps_per_cta, .. } => rows.div_ceil((32 / lanes * warps_per_cta) as usize),
            SoftmaxPlan::VecStream { warps_per_cta } => rows.div_ceil(warps_per_cta as usize),
            SoftmaxPlan::Block { .. } | SoftmaxPlan::BlockStream { .. } => rows,
            SoftmaxPlan::Cluster { ctas, .. } => rows * ctas as usize,
            SoftmaxPlan::Split { threads, ept, .. } => rows * split_chunks(cols, threads, ept),
            SoftmaxPlan::Cpu => 0,
        }
    }

    /// The profiling label, e.g. `softmax/block_1024/bf16`.
    pub fn label(&self, dtype: DType) -> String {
        match self {
            SoftmaxPlan::Block { threads, .. }
            | SoftmaxPlan::BlockStream { threads }
            | SoftmaxPlan::Cluster { threads, .. }
            | SoftmaxPlan::Split { threads, .. } => {
                format!("softmax/{}_{threads}/{dtype}", self.name())
            }
            _ => format!("softmax/{}/{dtype}", self.name()),
        }
    }
}

/// `DK_SOFTMAX_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SoftmaxBackend {
    /// Warp per row up to the tuning table's column threshold, then a
    /// cluster (where the device has them and the table enables it) or a CTA
    /// per row; split rows where those would launch too few CTAs for rows
    /// this long (the table's `split_min_cols` and `split_max_ctas`).
    #[default]
    Auto,
    /// Always a warp (or part of one) per row.
    Vec,
    /// Always a CTA (or a cluster) per row.
    Block,
    /// Always rows cut into chunks over several CTAs (two launches).
    Split,
}

pub use super::prefs::SOFTMAX_BACKEND_ENV as BACKEND_ENV;

impl FromStr for SoftmaxBackend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        super::prefs::parse_choice(BACKEND_ENV, s)
    }
}

/// Caller preferences for softmax; the default follows the tuning table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SoftmaxPrefs {
    /// Which family of variants to use.
    pub backend: SoftmaxBackend,
}

/// Elements of 16 bytes.
fn vec_elems(dtype: DType) -> u32 {
    16 / dtype.size_in_bytes() as u32
}

/// The smallest compiled elements-per-thread covering `cols` with `group`
/// threads, and the pack it can use; None when the row does not fit.
fn registers_fit(d: &SoftmaxDesc, group: u32) -> Option<(u32, u32)> {
    let need = d.cols.div_ceil(group as usize).max(1);
    let ept = *EPT.iter().find(|&&e| e as usize >= need)?;
    let v = vec_elems(d.dtype);
    let pack = if d.packable && ept >= v { v } else { 1 };
    Some((ept, pack))
}

/// Chunks per row of the split variant: `cols` in chunks of `threads` x `ept`.
pub fn split_chunks(cols: usize, threads: u32, ept: u32) -> usize {
    cols.div_ceil((threads * ept) as usize).max(1)
}

/// The split variant's CTA size: the largest of [`SPLIT_THREADS`] whose
/// chunks still give the grid `target_ctas` CTAs (rows x chunks), else the
/// smallest (the most chunks a row gets).
pub fn split_threads(rows: usize, cols: usize, target_ctas: usize) -> u32 {
    SPLIT_THREADS
        .into_iter()
        .find(|&th| rows.saturating_mul(split_chunks(cols, th, SPLIT_EPT)) >= target_ctas)
        .unwrap_or(SPLIT_THREADS[SPLIT_THREADS.len() - 1])
}

fn split_plan(d: &SoftmaxDesc, t: &SoftmaxTuning) -> SoftmaxPlan {
    let v = vec_elems(d.dtype);
    let pack = if d.packable { v } else { 1 };
    SoftmaxPlan::Split { threads: split_threads(d.rows, d.cols, t.split_target_ctas), ept: SPLIT_EPT, pack }
}

/// Picks the variant and launch shape for a softmax: registers when the row
/// fits the compiled elements-per-thread, a streaming variant when not, and
/// under auto dispatch the split variant for rows of at least
/// `split_min_cols` columns when the variant a row per CTA (or cluster) would
/// run launches at most `split_max_ctas` CTAs.
pub fn plan_softmax(d: &SoftmaxDesc, t: &SoftmaxTuning, prefs: &SoftmaxPrefs) -> SoftmaxPlan {
    match prefs.backend {
        SoftmaxBackend::Split => split_plan(d, t),
        SoftmaxBackend::Auto => {
            let whole = plan_rows(d, t, SoftmaxBackend::Auto);
            let wide = t.split_min_cols > 0 && d.cols >= t.split_min_cols;
            if wide && whole.ctas(d.rows, d.cols) <= t.split_max_ctas {
                split_plan(d, t)
            } else {
                whole
            }
        }
        backend => plan_rows(d, t, backend),
    }
}

/// The plan with whole rows per warp, CTA or cluster.
fn plan_rows(d: &SoftmaxDesc, t: &SoftmaxTuning, backend: SoftmaxBackend) -> SoftmaxPlan {
    let warps_per_cta = t.vec_warps_per_cta.clamp(1, 8);
    let use_vec = match backend {
        SoftmaxBackend::Vec => true,
        SoftmaxBackend::Block | SoftmaxBackend::Split => false,
        SoftmaxBackend::Auto => d.cols <= t.vec_max_cols,
    };
    if use_vec {
        // Short rows take fewer lanes, so each still does whole 16-byte loads.
        let per_lane = if d.packable { vec_elems(d.dtype) as usize } else { 1 };
        let lanes = [8u32, 16]
            .into_iter()
            .find(|&g| d.cols <= g as usize * per_lane && d.cols <= g as usize * SUBWARP_MAX_EPT)
            .unwrap_or(32);
        return match registers_fit(d, lanes) {
            Some((ept, pack)) => SoftmaxPlan::Vec { lanes, ept, pack, warps_per_cta },
            None => SoftmaxPlan::VecStream { warps_per_cta },
        };
    }
    // Long rows: a cluster of CTAs per row, where the device has clusters.
    let cluster_cols = (CLUSTER_CTAS * CLUSTER_THREADS * CLUSTER_EPT) as usize;
    if d.clusters && t.cluster_min_cols > 0 && d.cols >= t.cluster_min_cols && d.cols <= cluster_cols {
        let v = vec_elems(d.dtype);
        let pack = if d.packable { v } else { 1 };
        return SoftmaxPlan::Cluster { ctas: CLUSTER_CTAS, threads: CLUSTER_THREADS, ept: CLUSTER_EPT, pack };
    }
    let threads = t
        .block_threads
        .iter()
        .find(|&&(max_cols, _)| d.cols <= max_cols)
        .or(t.block_threads.last())
        .map(|&(_, th)| th)
        .unwrap_or(1024);
    match registers_fit(d, threads) {
        Some((ept, pack)) => SoftmaxPlan::Block { threads, ept, pack },
        None => SoftmaxPlan::BlockStream { threads },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuning::TuningTable;

    fn plan(rows: usize, cols: usize, dtype: DType, packable: bool, backend: SoftmaxBackend) -> SoftmaxPlan {
        plan_softmax(
            &SoftmaxDesc { rows, cols, dtype, packable, clusters: true },
            &TuningTable::fixed_for_tests().softmax,
            &SoftmaxPrefs { backend },
        )
    }

    #[test]
    fn auto_picks_vec_for_short_rows_and_block_for_long() {
        assert_eq!(
            plan(16384, 512, DType::F16, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Vec { lanes: 32, ept: 16, pack: 8, warps_per_cta: 4 }
        );
        assert_eq!(
            plan(16384, 128, DType::F16, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Vec { lanes: 16, ept: 8, pack: 8, warps_per_cta: 4 }
        );
        assert_eq!(
            plan(16384, 64, DType::F16, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Vec { lanes: 8, ept: 8, pack: 8, warps_per_cta: 4 }
        );
        assert_eq!(
            plan(16384, 64, DType::F32, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Vec { lanes: 16, ept: 4, pack: 4, warps_per_cta: 4 }
        );
        assert_eq!(
            plan(3, 7, DType::F32, false, SoftmaxBackend::Auto),
            SoftmaxPlan::Vec { lanes: 8, ept: 1, pack: 1, warps_per_cta: 4 }
        );
        assert_eq!(
            plan(16384, 1024, DType::F16, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Block { threads: 128, ept: 8, pack: 8 }
        );
        assert_eq!(
            plan(4, 512, DType::F16, true, SoftmaxBackend::Block),
            SoftmaxPlan::Block { threads: 64, ept: 8, pack: 8 }
        );
        assert_eq!(
            plan(16384, 128, DType::F32, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Vec { lanes: 32, ept: 4, pack: 4, warps_per_cta: 4 }
        );
        assert_eq!(
            plan(512, 2048, DType::F16, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Block { threads: 128, ept: 16, pack: 8 }
        );
        assert_eq!(
            plan(64, 32768, DType::F32, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Cluster { ctas: 4, threads: 512, ept: 16, pack: 4 }
        );
        assert_eq!(
            plan(32, 8192, DType::F16, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Block { threads: 512, ept: 16, pack: 8 }
        );
        assert_eq!(
            plan(32, 16384, DType::F16, true, SoftmaxBackend::Auto),
            SoftmaxPlan::Block { threads: 1024, ept: 16, pack: 8 }
        );
        assert_eq!(
            plan(34, 17001, DType::F16, false, SoftmaxBackend::Auto),
            SoftmaxPlan::Cluster { ctas: 4, threads: 512, ept: 16, pack: 1 }
        );
        // No clusters (before sm_90): one CTA per row.
        let d = SoftmaxDesc { rows: 133, cols: 32768, dtype: DType::F32, packable: true, clusters: false };
        assert_eq!(
            plan_softmax(&d, &TuningTable::fixed_for_tests().softmax, &SoftmaxPrefs::default()),
            SoftmaxPlan::Block { threads: 1024, ept: 32, pack: 4 }
        );
        assert_eq!(
            plan(133, 65537, DType::F32, false, SoftmaxBackend::Auto),
            SoftmaxPlan::BlockStream { threads: 1024 }
        );
        assert_eq!(
            plan(2, 500, DType::BF16, false, SoftmaxBackend::Auto),
            SoftmaxPlan::Vec { lanes: 32, ept: 16, pack: 1, warps_per_cta: 4 }
        );
    }

    #[test]
    fn auto_splits_few_wide_rows() {
        let split = |threads, pack| SoftmaxPlan::Split { threads, ept: SPLIT_EPT, pack };
        // The shapes: one LM-head row, 16 rows of a 152k vocabulary.
        assert_eq!(plan(1, 128256, DType::F16, true, SoftmaxBackend::Auto), split(64, 8));
        assert_eq!(plan(16, 151936, DType::F16, true, SoftmaxBackend::Auto), split(512, 8));
        assert_eq!(plan(16, 151936, DType::BF16, false, SoftmaxBackend::Auto), split(512, 1));
        assert_eq!(plan(16, 262144, DType::F32, true, SoftmaxBackend::Auto), split(512, 4));
        assert_eq!(plan(4, 131072, DType::F32, true, SoftmaxBackend::Auto), split(64, 4));
        // Rows a cluster serves: split while the clusters' CTAs fit in split_max_ctas.
        assert_eq!(plan(33, 32768, DType::F16, true, SoftmaxBackend::Auto), split(256, 8));
        assert!(matches!(plan(34, 32768, DType::F16, true, SoftmaxBackend::Auto), SoftmaxPlan::Cluster { .. }));
        // Beyond the registers (a CTA streams each row): split up to 132 rows.
        assert_eq!(plan(132, 65537, DType::F16, false, SoftmaxBackend::Auto), split(1024, 1));
        // Short rows never split under auto, however few.
        assert!(matches!(plan(1, 16384, DType::F16, true, SoftmaxBackend::Auto), SoftmaxPlan::Block { .. }));
        assert!(matches!(plan(1, 100, DType::F16, true, SoftmaxBackend::Auto), SoftmaxPlan::Vec { .. }));
        // Every forced split covers its row with whole chunks of whole packs.
        for (rows, cols) in [(1, 1), (3, 7), (1, 128256), (16, 151936), (20000, 4096)] {
            let p = plan(rows, cols, DType::F16, true, SoftmaxBackend::Split);
            let SoftmaxPlan::Split { threads, ept, pack } = p else { panic!("{p:?}") };
            assert!(SPLIT_THREADS.contains(&threads) && ept % pack == 0, "{p:?}");
            assert_eq!(p.ctas(rows, cols), rows * cols.div_ceil((threads * ept) as usize), "{p:?}");
        }
        // The table switches it off either way.
        let mut t = TuningTable::fixed_for_tests().softmax;
        let d = SoftmaxDesc { rows: 1, cols: 128256, dtype: DType::F16, packable: true, clusters: true };
        t.split_max_ctas = 0;
        assert_eq!(plan_softmax(&d, &t, &SoftmaxPrefs::default()), SoftmaxPlan::BlockStream { threads: 1024 });
        t.split_max_ctas = 132;
        t.split_min_cols = 0;
        assert_eq!(plan_softmax(&d, &t, &SoftmaxPrefs::default()), SoftmaxPlan::BlockStream { threads: 1024 });
        // ... but a forced split still runs.
        assert_eq!(plan_softmax(&d, &t, &SoftmaxPrefs { backend: SoftmaxBackend::Split }), split(64, 8));
    }

    #[test]
    fn split_chunks_reach_the_target_grid() {
        assert_eq!(split_threads(16, 151936, 264), 512); // 19 chunks of 8192: 304 CTAs
        assert_eq!(split_threads(1, 128256, 264), 64); // the smallest chunk: 126 CTAs
        assert_eq!(split_threads(264, 16384, 264), 1024); // a chunk a row already fills the grid
        assert_eq!(split_threads(usize::MAX, 1 << 20, 264), 1024); // no overflow
        assert_eq!(split_chunks(0, 64, 16), 1);
        assert_eq!(split_chunks(1025, 64, 16), 2);
    }

    #[test]
    fn forced_variants_cover_every_length() {
        for cols in [1, 7, 1024, 1025, 32768, 32769, 65537] {
            for dt in DType::ALL {
                let v = plan(4, cols, dt, true, SoftmaxBackend::Vec);
                assert!(matches!(v, SoftmaxPlan::Vec { .. } | SoftmaxPlan::VecStream { .. }), "{v:?}");
                assert_eq!(matches!(v, SoftmaxPlan::VecStream { .. }), cols > 32 * 32);
                let b = plan(4, cols, dt, true, SoftmaxBackend::Block);
                assert!(
                    matches!(
                        b,
                        SoftmaxPlan::Block { .. } | SoftmaxPlan::BlockStream { .. } | SoftmaxPlan::Cluster { .. }
                    ),
                    "{b:?}"
                );
                if let SoftmaxPlan::Cluster { ctas, threads, ept, .. } = b {
                    assert!((ctas * threads * ept) as usize >= cols, "{b:?} does not cover {cols}");
                }
                if let SoftmaxPlan::Vec { ept, pack, .. } | SoftmaxPlan::Block { ept, pack, .. } = v {
                    assert!(EPT.contains(&ept) && ept % pack == 0);
                }
                if let SoftmaxPlan::Vec { lanes, ept, .. } = v {
                    assert!(lanes == 32 || (lanes == 8 || lanes == 16) && ept as usize <= SUBWARP_MAX_EPT, "{v:?}");
                    assert!(lanes as usize * ept as usize >= cols, "{v:?} does not cover {cols}");
                }
            }
        }
    }

    #[test]
    fn names_labels_and_env_values() {
        assert_eq!(
            SoftmaxPlan::Block { threads: 1024, ept: 8, pack: 8 }.label(DType::BF16),
            "softmax/block_e8_p8_1024/bf16"
        );
        assert_eq!(SoftmaxPlan::VecStream { warps_per_cta: 4 }.name(), "vec_stream");
        assert_eq!(
            SoftmaxPlan::Split { threads: 512, ept: 16, pack: 8 }.label(DType::F16),
            "softmax/split_e16_p8_512/f16"
        );
        assert_eq!("split".parse::<SoftmaxBackend>().unwrap(), SoftmaxBackend::Split);
        assert_eq!("Block".parse::<SoftmaxBackend>().unwrap(), SoftmaxBackend::Block);
        let e = "fast".parse::<SoftmaxBackend>().unwrap_err().to_string();
        assert!(e.contains("DK_SOFTMAX_BACKEND=\"fast\"") && e.contains("auto, vec, block, split"), "{e}");
    }
}

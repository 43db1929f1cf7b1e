//! Softmax dispatch: warp per row (vec) or CTA per row (block), with the row in
//! registers when it fits and streamed when it does not.

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
            SoftmaxPlan::Cpu => "cpu".into(),
        }
    }

    /// The profiling label, e.g. `softmax/block_1024/bf16`.
    pub fn label(&self, dtype: DType) -> String {
        match self {
            SoftmaxPlan::Block { threads, .. }
            | SoftmaxPlan::BlockStream { threads }
            | SoftmaxPlan::Cluster { threads, .. } => {
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
    /// per row.
    #[default]
    Auto,
    /// Always a warp (or part of one) per row.
    Vec,
    /// Always a CTA (or a cluster) per row.
    Block,
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

/// Picks the variant and launch shape for a softmax: registers when the row
/// fits the compiled elements-per-thread, a streaming variant when not.
pub fn plan_softmax(d: &SoftmaxDesc, t: &SoftmaxTuning, prefs: &SoftmaxPrefs) -> SoftmaxPlan {
    let warps_per_cta = t.vec_warps_per_cta.clamp(1, 8);
    let use_vec = match prefs.backend {
        SoftmaxBackend::Vec => true,
        SoftmaxBackend::Block => false,
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
            plan(32, 32768, DType::F32, true, SoftmaxBackend::Auto),
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
            plan(32, 17001, DType::F16, false, SoftmaxBackend::Auto),
            SoftmaxPlan::Cluster { ctas: 4, threads: 512, ept: 16, pack: 1 }
        );
        // No clusters (before sm_90): one CTA per row.
        let d = SoftmaxDesc { rows: 32, cols: 32768, dtype: DType::F32, packable: true, clusters: false };
        assert_eq!(
            plan_softmax(&d, &TuningTable::fixed_for_tests().softmax, &SoftmaxPrefs::default()),
            SoftmaxPlan::Block { threads: 1024, ept: 32, pack: 4 }
        );
        assert_eq!(plan(2, 65537, DType::F32, false, SoftmaxBackend::Auto), SoftmaxPlan::BlockStream { threads: 1024 });
        assert_eq!(
            plan(2, 500, DType::BF16, false, SoftmaxBackend::Auto),
            SoftmaxPlan::Vec { lanes: 32, ept: 16, pack: 1, warps_per_cta: 4 }
        );
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
        assert_eq!("Block".parse::<SoftmaxBackend>().unwrap(), SoftmaxBackend::Block);
        let e = "fast".parse::<SoftmaxBackend>().unwrap_err().to_string();
        assert!(e.contains("DK_SOFTMAX_BACKEND=\"fast\"") && e.contains("auto, vec, block"), "{e}");
    }
}

//! SDPA dispatch: the fused split-KV kernel (tensor cores for f16/bf16 with
//! aligned K/V rows, else the SIMT form), or the composed path through the
//! matmul and softmax dispatchers; and, for the fused kernel, how many splits
//! of the keys fill the device.

use std::str::FromStr;

use crate::device::DeviceCaps;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tuning::SdpaTuning;

/// Head sizes the fused kernels are compiled for (kernels/sdpa.cu).
pub const HEAD_DIMS: [usize; 5] = [64, 80, 96, 128, 256];
/// Keys per split are a multiple of this (the mma kernel's pipeline stage; the
/// SIMT kernel's 32-key tile divides it; mma8's 128-key stage may end a split
/// half full, its rows past the split zero-filled and skipped).
pub const KEY_TILE: usize = 64;
/// Query rows (of one KV head) per CTA of the mma kernel: 16 per warp, 4 warps.
pub const MMA_ROWS_PER_CTA: usize = 64;
/// Query rows (of one KV head) the swapped mma kernel (mmat) serves: the
/// mma's 8 columns.
pub const MMAT_ROWS: usize = 8;
/// The most splits mmat merges in one thread-block cluster, and so the
/// log-sum-exps its receiving area holds a row (kernels/sdpa.cu: CLUSTER_MAX;
/// its CLUSTER_ROWS is [`MMAT_ROWS`]).
pub const CLUSTER_MAX_SPLITS: usize = 16;
/// The most clusters of splits mmat merges a KV head, through the workspace
/// after each cluster's own merge (kernels/sdpa.cu: CLUSTERS_MAX).
pub const CLUSTERS_MAX: usize = 8;
/// Query rows (of one KV head) per CTA of the SIMT kernel.
pub const SIMT_ROWS_PER_CTA: usize = 16;
/// Threads per CTA of the mma and SIMT kernels (mma8: twice as many).
pub const THREADS: u32 = 128;
/// Splits x query rows per CTA the in-kernel merge holds (kernels/sdpa.cu: MAX_MERGE).
pub const MAX_MERGE: usize = 4096;

/// Everything dispatch needs to know about one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SdpaDesc {
    /// Sequences.
    pub batch: usize,
    /// Key/value heads.
    pub hkv: usize,
    /// Query heads per KV head.
    pub group: usize,
    /// Query positions per head (1 in plain decode; more in speculative
    /// decoding or prefill chunks).
    pub lq: usize,
    /// Keys any query may see: Lk, or fewer when a causal offset hides the tail.
    pub kv_len: usize,
    /// Head size: one of [`HEAD_DIMS`] for the fused kernels.
    pub d: usize,
    /// The dtype of Q, K, V and the output.
    pub dtype: DType,
    /// K and V rows are 16-byte aligned with unit stride along D (cp.async).
    pub kv_aligned: bool,
    /// The composed path can express the problem (a causal offset >= 0, Lk >= 1).
    pub composable: bool,
}

impl SdpaDesc {
    /// Query rows per KV head, processed together.
    pub fn rows(&self) -> usize {
        self.group * self.lq
    }
}

/// Which form of the fused attention kernel runs (kernels/sdpa.cu).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusedKernel {
    /// f16/bf16 on tensor cores, K/V tiles staged by cp.async.
    Mma,
    /// The same with eight warps on 128-key stages, for at most 16 query rows
    /// a KV head (a decode step's GQA group) and D <= 128: twice the warps
    /// an SM where the grid has one CTA per SM (at Lk = 4096 on 8 KV heads,
    /// Nsight Compute found mma's four warps stalled at 5.3 cycles an
    /// instruction, the SMs idle 42% of the time). Auto takes it where it
    /// measured faster (`mma8_wins`).
    Mma8,
    /// The mma kernel with the product swapped (S^T = K Q^T, O^T += V^T P^T:
    /// keys and head dimensions as the tensor-core step's 16 rows, the query
    /// rows as its 8 columns), for at most [`MMAT_ROWS`] query rows a KV head
    /// (a decode step's GQA group): half the tensor-core steps of mma, whose
    /// 16-row query tile such a group fills to a half or a quarter.
    MmaT,
    /// mmat on eight warps and 128-key stages (D <= 128): each warp takes 16
    /// keys of a stage, so a split's serial loop is half mmat's. Auto takes
    /// it for a GQA group of 4 to 8 rows at D = 128 on a batch whose plan
    /// needs at most 8 splits (`mmat8_fills`), and of 5 to 8 rows whose
    /// splits merge in one cluster (`mmat_clusters_instead`).
    MmaT8,
    /// Any dtype and strides, FMA.
    Simt,
}

impl FusedKernel {
    /// The short name used in plan names and labels ("mma", "simt").
    pub fn name(self) -> &'static str {
        match self {
            FusedKernel::Mma => "mma",
            FusedKernel::Mma8 => "mma8",
            FusedKernel::MmaT => "mmat",
            FusedKernel::MmaT8 => "mmat8",
            FusedKernel::Simt => "simt",
        }
    }

    /// Threads per CTA.
    pub fn threads(self) -> u32 {
        match self {
            FusedKernel::Mma8 | FusedKernel::MmaT8 => 2 * THREADS,
            FusedKernel::Mma | FusedKernel::MmaT | FusedKernel::Simt => THREADS,
        }
    }

    /// The swapped product (mmat, mmat8): at most [`MMAT_ROWS`] query rows in
    /// one row group, and the splits' merge in a thread-block cluster.
    pub fn swapped(self) -> bool {
        matches!(self, FusedKernel::MmaT | FusedKernel::MmaT8)
    }

    /// Query rows (of one KV head) one CTA processes.
    pub fn rows_per_cta(self) -> usize {
        match self {
            FusedKernel::Mma | FusedKernel::Mma8 => MMA_ROWS_PER_CTA,
            FusedKernel::MmaT | FusedKernel::MmaT8 => MMAT_ROWS,
            FusedKernel::Simt => SIMT_ROWS_PER_CTA,
        }
    }

    /// Dynamic shared memory of one CTA (kernels/sdpa.cu): for mma (and mmat), `stages`
    /// stages of 64 K and 64 V rows (mma8: 128) plus 16 query rows per row
    /// tile, rows padded by 16 bytes; mmat adds its cluster merge's receiving
    /// area (cluster_push_merge: 16 x 8 log-sum-exps, and the 16-byte pieces
    /// of its rows dealt over up to 16 CTAs, rounded up); for SIMT, f32 tiles
    /// of 16 query, 32 K (padded by one) and 32 V rows.
    pub fn smem_bytes(self, d: usize, dtype: DType, stages: u32, rows: usize) -> usize {
        match self {
            FusedKernel::Mma | FusedKernel::Mma8 | FusedKernel::MmaT | FusedKernel::MmaT8 => {
                let stage_keys = KEY_TILE * (self.threads() / THREADS) as usize; // 16 keys a warp
                let q_rows = rows.clamp(1, MMA_ROWS_PER_CTA).div_ceil(16) * 16;
                let tiles = (2 * stages as usize * stage_keys + q_rows) * (d + 8) * dtype.size_in_bytes();
                let recv = match self {
                    FusedKernel::MmaT | FusedKernel::MmaT8 => {
                        // log-sum-exps, then the 16-byte pieces rounded up to whole rounds of the cluster
                        CLUSTER_MAX_SPLITS * MMAT_ROWS * 4
                            + (rows.clamp(1, MMAT_ROWS) * d / 4 + CLUSTER_MAX_SPLITS - 1) * 16
                    }
                    _ => 0,
                };
                tiles + recv
            }
            FusedKernel::Simt => (SIMT_ROWS_PER_CTA * d + 32 * (d + 1) + 32 * d) * 4,
        }
    }

    /// CTAs that fit on one SM by shared memory (the driver reserves 1 KiB per
    /// CTA, the merge's flag and the row statistics take under 2 KiB more);
    /// 0 when one does not fit.
    pub fn resident_per_sm(self, d: usize, dtype: DType, stages: u32, rows: usize, caps: &DeviceCaps) -> usize {
        let per_sm = caps.max_shared_per_block_optin as usize + 1024;
        let smem = self.smem_bytes(d, dtype, stages, rows);
        if smem > caps.max_shared_per_block_optin as usize {
            return 0;
        }
        (per_sm / (smem + 3 * 1024)).clamp(1, (caps.max_threads_per_sm / self.threads()).max(1) as usize)
    }
}

/// The mma or mma8 kernel's pipeline depth: the one that keeps the most K/V bytes in
/// flight per SM (resident CTAs, at most `target` of them, x tiles ahead), the
/// shallower on a tie.
pub fn mma_stages(kernel: FusedKernel, d: usize, dtype: DType, rows: usize, target: u32, caps: &DeviceCaps) -> u32 {
    let in_flight = |s: u32| kernel.resident_per_sm(d, dtype, s, rows, caps).min(target as usize) * (s as usize - 1);
    [2u32, 3, 4].into_iter().fold(2, |best, s| if in_flight(s) > in_flight(best) { s } else { best })
}

/// What runs an attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpaPlan {
    /// One launch: grid (splits, batch * hkv, row_groups).
    Fused {
        /// The kernel's form.
        kernel: FusedKernel,
        /// Key ranges computed by separate CTAs and merged in the kernel.
        splits: u32,
        /// Keys per split, a multiple of [`KEY_TILE`]; the last split takes
        /// what remains.
        keys_per_split: usize,
        /// CTAs along the query rows of one KV head (rows / rows per CTA).
        row_groups: u32,
        /// The mma kernel's pipeline depth (unused by SIMT).
        stages: u32,
        /// 0, or the CTAs of a thread-block cluster (mmat, 2-16, sm_90):
        /// the splits merge in their cluster, not through the workspace,
        /// and where `splits` is several clusters (at most
        /// [`CLUSTERS_MAX`]) the clusters' results merge there.
        cluster: u32,
    },
    /// QK^T (matmul), softmax with causal/offset, P·V (matmul), each dispatched.
    Composed,
    /// The CPU backend's reference.
    Cpu,
}

impl SdpaPlan {
    /// A short name for reports, e.g. "fused_mma_split16" or "composed".
    pub fn name(&self) -> String {
        match self {
            SdpaPlan::Fused { kernel, splits, cluster, .. } => {
                let merge = match *cluster {
                    0 => String::new(),
                    c if c == *splits => "_cluster".into(),
                    c => format!("_cluster{c}"),
                };
                format!("fused_{}_split{splits}{merge}", kernel.name())
            }
            SdpaPlan::Composed => "composed".into(),
            SdpaPlan::Cpu => "cpu".into(),
        }
    }

    /// The profiling label, e.g. `sdpa/fused_mma_split16/f16`.
    pub fn label(&self, dtype: DType) -> String {
        format!("sdpa/{}/{dtype}", self.name())
    }
}

/// `DK_SDPA_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SdpaBackend {
    /// Composed from the tuning table's row threshold up (when the problem
    /// allows it), fused below.
    #[default]
    Auto,
    /// Always the composed path; an error where it cannot express the problem.
    Composed,
    /// Always the fused kernel.
    Fused,
}

pub use super::prefs::SDPA_BACKEND_ENV as BACKEND_ENV;

impl FromStr for SdpaBackend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        super::prefs::parse_choice(BACKEND_ENV, s)
    }
}

pub use super::prefs::SDPA_KERNEL_ENV as KERNEL_ENV;

/// Which fused kernel runs (`DK_SDPA_KERNEL`): auto (the dispatcher's
/// choice) or one by name, where it can serve the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SdpaKernel {
    /// The dispatcher's choice (`plan_fused`).
    #[default]
    Auto,
    /// [`FusedKernel::Mma`].
    Mma,
    /// [`FusedKernel::Mma8`].
    Mma8,
    /// [`FusedKernel::MmaT`].
    MmaT,
    /// [`FusedKernel::MmaT8`].
    MmaT8,
    /// [`FusedKernel::Simt`].
    Simt,
}

impl FromStr for SdpaKernel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        super::prefs::parse_choice(KERNEL_ENV, s)
    }
}

/// Caller preferences for attention; the default follows the tuning table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SdpaPrefs {
    /// Which path to take.
    pub backend: SdpaBackend,
    /// Which fused kernel, on the fused path.
    pub kernel: SdpaKernel,
}

/// The kernel `DK_SDPA_KERNEL` names, if it can serve `d`: the tensor-core
/// ones need f16/bf16 K/V rows 16-byte aligned with unit stride along D,
/// mma8 at most 16 query rows a KV head and D <= 128, mmat at most 8.
fn forced_kernel(d: &SdpaDesc, k: SdpaKernel) -> Result<Option<FusedKernel>> {
    let tc = d.dtype != DType::F32 && d.kv_aligned;
    let (kernel, ok, needs) = match k {
        SdpaKernel::Auto => return Ok(None),
        SdpaKernel::Simt => (FusedKernel::Simt, true, ""),
        SdpaKernel::Mma => (FusedKernel::Mma, tc, "f16/bf16 K/V rows 16-byte aligned with unit stride along D"),
        SdpaKernel::Mma8 => (
            FusedKernel::Mma8,
            tc && d.rows() <= 16 && d.d <= 128,
            "f16/bf16 aligned K/V rows, at most 16 query rows a KV head and D <= 128",
        ),
        SdpaKernel::MmaT => (
            FusedKernel::MmaT,
            tc && d.rows() <= MMAT_ROWS,
            "f16/bf16 aligned K/V rows, at most 8 query rows a KV head",
        ),
        SdpaKernel::MmaT8 => (
            FusedKernel::MmaT8,
            tc && d.rows() <= MMAT_ROWS && d.d <= 128,
            "f16/bf16 aligned K/V rows, at most 8 query rows a KV head, D <= 128",
        ),
    };
    if !ok {
        return Err(Error::Unsupported {
            op: "sdpa",
            what: format!(
                "{KERNEL_ENV}={} for {} {} query rows a KV head, D = {} (it needs {needs})",
                kernel.name(),
                d.dtype,
                d.rows(),
                d.d
            ),
        });
    }
    Ok(Some(kernel))
}

/// Where the eight-warp kernel measured faster than the four-warp one (H200,
/// 2026-11-30, `bench sdpa`, both in one run, f16): D = 128 with 5 to 16 query
/// rows a KV head at every length (GQA 28/4 Lq 1: 8% at 4096 keys, 31% at
/// 16384; GQA 32/8 Lq 4: 11-20% from 576 to 32768), and with 4 rows from
/// 16384 keys (8% at 32768), where each CTA's loop is long; with 4 rows at
/// 576 and 4096 keys (a llama3-8b decode step) it was 2-4% slower, and at
/// D = 64 even or 4% slower. Other head sizes keep the four-warp kernel
/// until measured (but see [`mmat_clusters_instead`]).
fn mma8_wins(d: &SdpaDesc) -> bool {
    d.d == 128 && d.rows() <= 16 && (d.rows() > 4 || d.kv_len >= 16384)
}

/// A GQA group of 4 to 8 rows at D = 128 on eight warps a CTA wherever
/// that plan needs at most [`MMAT8_MAX_SPLITS`] splits (a batch of 16 or
/// more sequence x KV head pairs on 132 SMs), in one cluster or none:
/// against mmat's four warps (llama3-8b, GQA 32/8) or mma8 (qwen2.5-7b,
/// GQA 28/4) with more splits. Steps in a graph at 4096 keys (two H200s,
/// 2026-12-02): llama3-8b batch 2 / 4 / 8 / 16 4913 / 5169 / 5706 / 6631
/// -> 4900 / 5155 / 5618 / 6549 us; qwen2.5-7b batch 4 / 8 / 16 4575 /
/// 4814 / 5310 -> 4561 / 4803 / 5252; batch 16 at 1024 and 16384 keys
/// alike. Fewer pairs (llama3-8b at batch 1: 16 splits, a cluster that is
/// not resident) keep their kernels.
fn mmat8_fills(d: &SdpaDesc, caps: &DeviceCaps, t: &SdpaTuning) -> Option<SdpaPlan> {
    // The pairs alone fill the device at that many splits or fewer (not a
    // short cache of a few pairs, whose one split says nothing of it).
    let pairs = d.batch * d.hkv;
    if d.d != 128 || !(4..=MMAT_ROWS).contains(&d.rows()) || pairs * 2 * MMAT8_MAX_SPLITS < caps.sm_count as usize {
        return None;
    }
    let plan = plan_fused_kernel(d, caps, t, FusedKernel::MmaT8);
    match plan {
        SdpaPlan::Fused { splits, cluster, .. }
            if splits as usize <= MMAT8_MAX_SPLITS && (splits == 1 || cluster == splits) =>
        {
            Some(plan)
        }
        _ => None,
    }
}

/// The most splits [`mmat8_fills`] takes: a portable cluster, which the
/// device holds beside the others of the launch.
const MMAT8_MAX_SPLITS: usize = 8;

/// Where mma8 would serve 5 to 8 rows (a GQA group of 7) and mmat's plan
/// merges its splits in a cluster on at most 8 (sequence, KV head) pairs,
/// mmat serves them: GQA 28/4 at 576 / 4096 keys 8.15 / 9.63 -> 4.43 / 6.91
/// us in a graph, the qwen2.5-7b step at 4096 keys 3964 -> 3950 us. Not
/// where the splits merge globally (more than 16 splits; before sm_90) nor
/// on more pairs (batch 4 and 16: 16 and 64 clusters, not all resident,
/// so the global merge): there mmat lost 31 and 36 us a step (H200,
/// 2026-11-30).
///
/// On longer caches, where mmat's plan is several clusters a KV head, it
/// serves them too: GQA 28/4 D 128 8192 / 32768 keys 13.5 / 25.1 (mma8) ->
/// 10.7 / 24.0 us in a graph (H200, 2026-12-02).
fn mmat_clusters_instead(d: &SdpaDesc, caps: &DeviceCaps, t: &SdpaTuning) -> Option<SdpaPlan> {
    if !(5..=MMAT_ROWS).contains(&d.rows()) || d.batch * d.hkv > 8 {
        return None;
    }
    let plan = plan_fused_kernel(d, caps, t, FusedKernel::MmaT);
    match plan {
        SdpaPlan::Fused { splits, cluster: c @ 2.., .. } if splits > c => Some(plan),
        SdpaPlan::Fused { cluster: 2.., .. } if d.kv_len < 16384 => {
            // One cluster a KV head: on eight warps where that is one cluster
            // too (the qwen2.5-7b step at 576 / 1024 / 2048 / 4096 keys -18 /
            // -9 / -48 / -58 us, H200, 2026-12-02, though alone in a graph
            // GQA 28/4 at 1024 / 2048 keys was 0.5 / 0.3 us slower).
            let eight = plan_fused_kernel(d, caps, t, FusedKernel::MmaT8);
            match eight {
                SdpaPlan::Fused { splits, cluster, .. } if cluster == splits => Some(eight),
                _ => Some(plan),
            }
        }
        _ => None,
    }
}

/// The fused kernel for a problem, and the split of its keys that fills the
/// device in one wave: as many CTAs as fit `target_ctas_per_sm` (or fewer,
/// where shared memory allows fewer) on every SM, no split shorter than
/// `min_keys_per_split` (`cluster_min_keys_per_split` where the splits merge
/// in one cluster: mmat on sm_90).
pub fn plan_fused(d: &SdpaDesc, caps: &DeviceCaps, t: &SdpaTuning) -> SdpaPlan {
    let tensor_cores = d.dtype != DType::F32 && d.kv_aligned;
    if tensor_cores {
        if let Some(plan) = mmat8_fills(d, caps, t) {
            return plan;
        }
    }
    let kernel = match tensor_cores {
        true if mma8_wins(d) => match mmat_clusters_instead(d, caps, t) {
            Some(plan) => return plan,
            None => FusedKernel::Mma8,
        },
        true if d.rows() <= MMAT_ROWS => FusedKernel::MmaT,
        true => FusedKernel::Mma,
        false => FusedKernel::Simt,
    };
    plan_fused_kernel(d, caps, t, kernel)
}

/// [`plan_fused`] for a given kernel.
fn plan_fused_kernel(d: &SdpaDesc, caps: &DeviceCaps, t: &SdpaTuning, kernel: FusedKernel) -> SdpaPlan {
    let row_groups = d.rows().div_ceil(kernel.rows_per_cta()).max(1);
    let base = (d.batch * d.hkv * row_groups).max(1);
    let stages = match kernel {
        FusedKernel::Simt => 2,
        k => mma_stages(k, d.d, d.dtype, d.rows(), t.target_ctas_per_sm, caps),
    };
    let per_sm =
        (t.target_ctas_per_sm as usize).min(kernel.resident_per_sm(d.d, d.dtype, stages, d.rows(), caps)).max(1);
    let want = (per_sm * caps.sm_count as usize) / base;
    let cta_rows = d.rows().min(kernel.rows_per_cta()).max(1);
    let min_keys = t.min_keys_per_split.max(t.min_keys_per_row * cta_rows).max(1);
    let by_keys = d.kv_len.div_ceil(min_keys);
    let most = (t.max_splits as usize).min(MAX_MERGE / cta_rows).max(1);
    let mut splits = want.min(by_keys).min(most).max(1);
    // A short cache whose splits merge in one cluster anyway: finer splits,
    // more CTAs at work (H200, in a graph: GQA 14/2, D 64, 576 / 1024 / 2048
    // keys 5.51 / 5.72 / 5.89 -> 4.58 / 4.84 / 5.49 us; GQA 32/8, D 128, 5.97
    // / 6.81 / 7.90 -> 5.50 / 6.36 / 7.69). Above a cluster's splits the
    // global merge's cost decides, and there the coarser split stays. (Where
    // the op cannot launch the cluster after all, ops::sdpa falls back to
    // the global merge of these finer splits: not measured.)
    let cluster_most = cluster_merge_splits(kernel, caps, t);
    let fine_keys = t.cluster_min_keys_per_split.max(t.min_keys_per_row * cta_rows).max(1);
    if let Some(plan) = several_clusters(d, t, kernel, want, fine_keys, cluster_most, row_groups, stages) {
        return plan;
    }
    // A longer cache of a few KV heads, whose splits would outnumber a
    // cluster: a cluster's splits still, where each reads at most
    // cluster_max_split_bytes of K and V (H200, in a graph, 8192 keys: GQA
    // 14/2 D 64 32 splits merged globally 9.51 us, 16 in a cluster 7.94; GQA
    // 32/8 D 64 11.3 -> 10.3; at 256 KiB a split no gain: GQA 32/8 D 128
    // 8192 keys 15.3 either way and the llama3-8b step 26 us slower, D 64
    // 16384 keys 12.9 -> 13.2).
    if splits > cluster_most && cluster_most >= 2 {
        let split_bytes = d.kv_len.div_ceil(cluster_most) * 2 * d.d * d.dtype.size_in_bytes();
        if split_bytes <= t.cluster_max_split_bytes {
            splits = cluster_most;
        }
    }
    let fits_cluster = splits <= cluster_most;
    if fits_cluster {
        splits = splits.max(want.min(d.kv_len.div_ceil(fine_keys)).min(most).min(cluster_most));
    }
    // Keys per split, a whole number of tiles: the nearest multiple of the
    // tile, not the next. A split's keys are a CTA's serial loop, so the
    // longest split bounds the launch: 640 keys in 3 splits rounded up are
    // 256 + 256 + 128, rounded to the nearest 192 x 3 + 64, a quarter less
    // (a generate step's ragged plan over a cache of 640 positions; measured
    // on an H200: qwen2.5-0.5b 889 -> 913 tok/s).
    let per = d.kv_len.div_ceil(splits);
    let (down, up) = (per / KEY_TILE * KEY_TILE, per.div_ceil(KEY_TILE).max(1) * KEY_TILE);
    // Rounding down adds splits: a finer plan never past its cluster, the
    // table's most, or the CTAs that fill the device.
    let limit = if fits_cluster { cluster_most.min(most).min(want.max(splits)) } else { most };
    let nearer_down = down > 0 && per - down < up - per && d.kv_len.div_ceil(down) <= limit;
    let keys_per_split = if nearer_down { down } else { up };
    let splits = d.kv_len.div_ceil(keys_per_split).max(1);
    // mmat's splits merge inside one thread-block cluster where there are few
    // enough (kernels/sdpa.cu: cluster_push_merge).
    let cluster = if (2..=cluster_merge_splits(kernel, caps, t)).contains(&splits) { splits as u32 } else { 0 };
    SdpaPlan::Fused { kernel, splits: splits as u32, keys_per_split, row_groups: row_groups as u32, stages, cluster }
}

/// Several clusters of splits a KV head (mmat, not mmat8, on sm_90, the table's
/// `cluster_merge_max_clusters` above 1): on a long cache (one cluster's
/// splits would each take `several_clusters_min_keys` or more), where the
/// device-filling count of CTAs holds at least two full clusters a KV head,
/// each cluster's splits at least `cluster_min_keys_per_split` keys, the keys are cut into
/// clusters x cluster size splits; each cluster merges its splits in
/// shared memory and the clusters' results merge through the workspace
/// (kernels/sdpa.cu: cluster_push_merge). Few KV heads (qwen2.5's 2) give
/// one cluster a head only 32 CTAs, each a long serial loop.
#[allow(clippy::too_many_arguments)]
fn several_clusters(
    d: &SdpaDesc,
    t: &SdpaTuning,
    kernel: FusedKernel,
    want: usize,
    fine_keys: usize,
    cluster_most: usize,
    row_groups: usize,
    stages: u32,
) -> Option<SdpaPlan> {
    let most = (t.cluster_merge_max_clusters as usize).min(CLUSTERS_MAX);
    if kernel != FusedKernel::MmaT || cluster_most < 2 || most < 2 || row_groups != 1 {
        return None;
    }
    // Only where one cluster's splits would each take several_clusters_min_keys
    // keys or more: the clusters' merge through the workspace costs ~1.5 us
    // (H200, in a graph: GQA 14/2 D 64, 256 keys a split in one cluster,
    // 2048 / 4096 keys 3.63 / 4.53 -> 4.93 / 5.28 us in 2 / 4 clusters; GQA
    // 28/4 D 128 at 4096 7.10 -> 7.89 in 2; from 512 keys a split: GQA 14/2
    // D 64 8192 / 16384 / 32768 keys 6.91 / 12.6 / 16.1 -> 6.26 / 7.97 /
    // 10.4, GQA 28/4 D 128 8192 keys 13.5 (mma8) -> 10.7).
    if t.several_clusters_min_keys == 0 || d.kv_len.div_ceil(cluster_most) < t.several_clusters_min_keys {
        return None;
    }
    let clusters = most.min(want / cluster_most).min(d.kv_len / (fine_keys * cluster_most));
    if clusters < 2 {
        return None;
    }
    // Whole tiles a split; the splits that cover the keys, dealt evenly over
    // the clusters (the last cluster's last splits may see no key).
    let keys_per_split = d.kv_len.div_ceil(clusters * cluster_most).div_ceil(KEY_TILE) * KEY_TILE;
    let size = d.kv_len.div_ceil(keys_per_split).div_ceil(clusters);
    (size >= 2).then_some(SdpaPlan::Fused {
        kernel,
        splits: (clusters * size) as u32,
        keys_per_split,
        row_groups: 1,
        stages,
        cluster: size as u32,
    })
}

/// The most splits `kernel` merges inside one thread-block cluster on this
/// device (mmat on sm_90 and later, at most 16 CTAs); 0 where it does not.
fn cluster_merge_splits(kernel: FusedKernel, caps: &DeviceCaps, t: &SdpaTuning) -> usize {
    match kernel.swapped() && caps.compute_capability.0 >= 9 {
        true => (t.cluster_merge_max_splits as usize).min(CLUSTER_MAX_SPLITS),
        false => 0,
    }
}

/// Picks the plan: the path the preferences (else the tuning table's row
/// threshold) choose, and for the fused path its kernel and split.
pub fn plan_sdpa(d: &SdpaDesc, caps: &DeviceCaps, t: &SdpaTuning, prefs: &SdpaPrefs) -> Result<SdpaPlan> {
    let composed = match prefs.backend {
        SdpaBackend::Fused => false,
        SdpaBackend::Composed if !d.composable => {
            return Err(Error::Unsupported {
                op: "sdpa",
                what: format!(
                    "{BACKEND_ENV}=composed with a negative causal offset or no keys (the fused path serves these)"
                ),
            })
        }
        SdpaBackend::Composed => true,
        SdpaBackend::Auto => d.composable && t.composed_min_rows > 0 && d.rows() >= t.composed_min_rows,
    };
    if composed {
        return Ok(SdpaPlan::Composed);
    }
    Ok(match forced_kernel(d, prefs.kernel)? {
        Some(kernel) => plan_fused_kernel(d, caps, t, kernel),
        None => plan_fused(d, caps, t),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuning::TuningTable;

    fn desc(batch: usize, hkv: usize, group: usize, lq: usize, kv_len: usize, dtype: DType) -> SdpaDesc {
        SdpaDesc { batch, hkv, group, lq, kv_len, d: 128, dtype, kv_aligned: true, composable: kv_len > 0 }
    }

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

    #[test]
    fn a_named_kernel_runs_where_it_can_serve() {
        let t = TuningTable::sm90().sdpa;
        let kernel_of = |d: &SdpaDesc, k: SdpaKernel| match plan_sdpa(
            d,
            &h100(),
            &t,
            &SdpaPrefs { kernel: k, ..Default::default() },
        ) {
            Ok(SdpaPlan::Fused { kernel, .. }) => Ok(kernel),
            Ok(p) => panic!("{p:?}"),
            Err(e) => Err(e.to_string()),
        };
        let decode = desc(1, 8, 4, 1, 4096, DType::F16);
        for (k, want) in [
            (SdpaKernel::Auto, FusedKernel::MmaT),
            (SdpaKernel::Mma, FusedKernel::Mma),
            (SdpaKernel::Mma8, FusedKernel::Mma8),
            (SdpaKernel::MmaT, FusedKernel::MmaT),
            (SdpaKernel::Simt, FusedKernel::Simt),
        ] {
            assert_eq!(kernel_of(&decode, k), Ok(want), "{k:?}");
        }
        // Where it cannot serve: an error naming the variable, the kernel and what it needs.
        let e = kernel_of(&desc(1, 8, 4, 4, 4096, DType::F16), SdpaKernel::MmaT).unwrap_err();
        assert!(e.contains("DK_SDPA_KERNEL=mmat") && e.contains("16 query rows") && e.contains("at most 8"), "{e}");
        let e = kernel_of(&desc(1, 8, 4, 1, 4096, DType::F32), SdpaKernel::Mma).unwrap_err();
        assert!(e.contains("DK_SDPA_KERNEL=mma ") && e.contains("f16/bf16"), "{e}");
        let e = kernel_of(&SdpaDesc { d: 256, ..decode }, SdpaKernel::Mma8).unwrap_err();
        assert!(e.contains("D <= 128"), "{e}");
        assert_eq!(kernel_of(&desc(1, 8, 4, 1, 4096, DType::F32), SdpaKernel::Simt), Ok(FusedKernel::Simt));
        let e = "mmaa".parse::<SdpaKernel>().unwrap_err().to_string();
        assert!(e.contains("DK_SDPA_KERNEL") && e.contains("mmat"), "{e}");
    }

    #[test]
    fn mmat_merges_in_a_cluster_of_up_to_16_splits() {
        let plan = |d: &SdpaDesc, t: &SdpaTuning, caps: &DeviceCaps| match plan_fused(d, caps, t) {
            SdpaPlan::Fused { kernel, splits, cluster, .. } => (kernel, splits, cluster > 0),
            p => panic!("{p:?}"),
        };
        let t = SdpaTuning { cluster_merge_max_clusters: 1, ..TuningTable::sm90().sdpa };
        // A llama3-8b decode step at 4096 keys: 16 splits, one cluster each.
        let d = desc(1, 8, 4, 1, 4096, DType::F16);
        assert_eq!(plan(&d, &t, &h100()), (FusedKernel::MmaT, 16, true));
        assert!(plan_sdpa(&d, &h100(), &t, &SdpaPrefs::default()).unwrap().name().ends_with("split16_cluster"));
        // Off in the table, before sm_90, beyond 16 splits, one split, or another kernel.
        let off = SdpaTuning { cluster_merge_max_splits: 0, ..t.clone() };
        assert_eq!(plan(&d, &off, &h100()), (FusedKernel::MmaT, 16, false));
        let a100 = DeviceCaps { compute_capability: (8, 0), ..h100() };
        assert!(!plan(&d, &t, &a100).2);
        let (_, splits, cluster) = plan(&SdpaDesc { d: 64, ..desc(1, 2, 7, 1, 32768, DType::F16) }, &t, &h100());
        assert!(splits > 16 && !cluster, "{splits}");
        assert_eq!(plan(&desc(1, 8, 4, 1, 64, DType::F16), &t, &h100()), (FusedKernel::MmaT, 1, false));
        assert!(!plan(&desc(1, 8, 4, 1, 4096, DType::F32), &t, &h100()).2);
        assert!(plan(&desc(1, 4, 7, 1, 4096, DType::F16), &t, &h100()).2, "mmat for 7 rows");
        assert!(!plan(&desc(1, 4, 7, 1, 16384, DType::F16), &t, &h100()).2, "mma8");
    }

    #[test]
    fn few_kv_heads_take_several_clusters_where_the_table_allows() {
        let plan = |d: &SdpaDesc, t: &SdpaTuning, caps: &DeviceCaps| match plan_fused(d, caps, t) {
            SdpaPlan::Fused { splits, keys_per_split, cluster, .. } => (splits, keys_per_split, cluster),
            p => panic!("{p:?}"),
        };
        let t = SdpaTuning { cluster_merge_max_clusters: 8, ..TuningTable::sm90().sdpa };
        let qwen = |kv_len| SdpaDesc { d: 64, ..desc(1, 2, 7, 1, kv_len, DType::F16) };
        // qwen2.5-0.5b at 8192 keys (one cluster's splits would read 128
        // KiB each): 132 CTAs fill the device, 8 clusters of 16 splits of 64
        // keys a KV head.
        assert_eq!(plan(&qwen(8192), &t, &h100()), (128, 64, 16));
        assert!(plan_sdpa(&qwen(8192), &h100(), &t, &SdpaPrefs::default())
            .unwrap()
            .name()
            .ends_with("split128_cluster16"));
        let four = SdpaTuning { cluster_merge_max_clusters: 4, ..t.clone() };
        assert_eq!(plan(&qwen(32768), &four, &h100()), (64, 512, 16));
        // Keys that do not fill the last cluster: splits dealt evenly, every key covered.
        let (splits, kps, size) = plan(&qwen(8193), &t, &h100());
        assert!(splits % size == 0 && (splits / size) >= 2 && splits as usize * kps >= 8193, "{splits} {kps} {size}");
        assert!((splits as usize - 1) * kps < 8193 + size as usize * kps, "{splits} {kps} {size}");
        // A shorter cache (64 KiB a split in one cluster): one cluster.
        assert_eq!(plan(&qwen(4096), &t, &h100()), (16, 256, 16));
        // llama3-8b at 4096 keys (256 a split in one cluster): one cluster;
        // at 8192 its 8 KV heads fill the device with 33 CTAs a head: two clusters.
        assert_eq!(plan(&desc(1, 8, 4, 1, 4096, DType::F16), &t, &h100()), (16, 256, 16));
        assert_eq!(plan(&desc(1, 8, 4, 1, 8192, DType::F16), &t, &h100()), (32, 256, 16));
        // qwen2.5-7b (7 rows a KV head) at 8192 keys: mmat in several clusters, not mma8.
        let (kernel, splits, cluster) = match plan_fused(&desc(1, 4, 7, 1, 8192, DType::F16), &h100(), &t) {
            SdpaPlan::Fused { kernel, splits, cluster, .. } => (kernel, splits, cluster),
            p => panic!("{p:?}"),
        };
        assert!(kernel == FusedKernel::MmaT && splits > cluster && cluster >= 2, "{kernel:?} {splits} {cluster}");
        // Batch 16 of 8 KV heads, the table's 1, its minimum keys 0, or before sm_90: never.
        let (splits, _, size) = plan(&desc(16, 8, 4, 1, 4096, DType::F16), &t, &h100());
        assert!(size == 0 || size == splits, "{splits} {size}");
        let one = SdpaTuning { cluster_merge_max_clusters: 1, ..t.clone() };
        assert_eq!(plan(&qwen(8192), &one, &h100()), (16, 512, 16));
        let never = SdpaTuning { several_clusters_min_keys: 0, ..t.clone() };
        assert_eq!(plan(&qwen(8192), &never, &h100()), (16, 512, 16));
        let a100 = DeviceCaps { compute_capability: (8, 0), ..h100() };
        assert_eq!(plan(&qwen(8192), &t, &a100).2, 0);
    }

    fn fused(d: &SdpaDesc) -> (FusedKernel, u32, usize, u32) {
        match plan_fused(d, &h100(), &TuningTable::sm90().sdpa) {
            SdpaPlan::Fused { kernel, splits, keys_per_split, row_groups, .. } => {
                (kernel, splits, keys_per_split, row_groups)
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn splits_fill_the_device_and_cover_every_key() {
        for (b, hkv, g, lq) in [(1, 32, 1, 1), (1, 8, 4, 16), (4, 8, 4, 4), (1, 1, 32, 16), (16, 32, 1, 1)] {
            for kv_len in [0, 1, 63, 64, 65, 512, 2048, 8191, 32768] {
                for dt in DType::ALL {
                    let d = desc(b, hkv, g, lq, kv_len, dt);
                    let (kernel, splits, kps, groups) = fused(&d);
                    // Tensor cores for f16/bf16: eight warps for 5-16 rows, or 4 and fewer from 16384 keys;
                    // the swapped product for the other groups of 8 rows or fewer.
                    let tc = if g * lq <= 16 && (g * lq > 4 || kv_len >= 16384) {
                        FusedKernel::Mma8
                    } else if g * lq <= MMAT_ROWS {
                        FusedKernel::MmaT
                    } else {
                        FusedKernel::Mma
                    };
                    assert_eq!(kernel, if dt == DType::F32 { FusedKernel::Simt } else { tc });
                    assert_eq!(kps % KEY_TILE, 0);
                    assert!(splits as usize * kps >= kv_len, "{d:?}: keys uncovered");
                    assert!(
                        kv_len == 0 && splits == 1 || (splits as usize - 1) * kps < kv_len,
                        "{d:?}: an empty split"
                    );
                    assert!(splits <= 64 && splits as usize * (g * lq).min(kernel.rows_per_cta()) <= MAX_MERGE);
                    assert_eq!(groups as usize, (g * lq).div_ceil(kernel.rows_per_cta()));
                }
            }
        }
        // MHA, one query, 32 heads, 32768 keys: 32 CTAs of mma8 become 128,
        // one wave at one (eight-warp) CTA per SM.
        let (kernel, splits, kps, _) = fused(&desc(1, 32, 1, 1, 32768, DType::F16));
        assert_eq!((kernel, splits, kps), (FusedKernel::Mma8, 4, 8192));
        // A llama3-8b decode step at 4096 keys takes the swapped four-warp
        // kernel; a qwen2.5-7b one (7 rows) the swapped kernel on eight warps
        // in one cluster (from 8192 keys mmat in several clusters a KV
        // head); four speculative tokens take mma8;
        // qwen2.5-0.5b's (D = 64, 7 rows) the swapped one; 16 rows at D = 64
        // the plain one.
        assert_eq!(fused(&desc(1, 8, 4, 1, 4096, DType::F16)).0, FusedKernel::MmaT);
        assert_eq!(fused(&desc(1, 4, 7, 1, 4096, DType::F16)).0, FusedKernel::MmaT8);
        assert_eq!(fused(&desc(1, 4, 7, 1, 1024, DType::F16)).0, FusedKernel::MmaT8);
        assert_eq!(fused(&desc(1, 4, 7, 1, 16384, DType::F16)).0, FusedKernel::MmaT);
        assert_eq!(fused(&desc(4, 4, 7, 1, 4096, DType::F16)).0, FusedKernel::MmaT8);
        // ... nor where mmat's 17 or more splits would merge globally (one
        // cluster a KV head at most), nor before sm_90 (no cluster).
        let one = SdpaTuning { cluster_merge_max_clusters: 1, ..TuningTable::sm90().sdpa };
        let on_one = plan_fused(&desc(1, 4, 7, 1, 8192, DType::F16), &h100(), &one);
        assert!(matches!(on_one, SdpaPlan::Fused { kernel: FusedKernel::Mma8, .. }), "{on_one:?}");
        let a100 = DeviceCaps { compute_capability: (8, 0), ..h100() };
        let on_a100 = plan_fused(&desc(1, 4, 7, 1, 4096, DType::F16), &a100, &TuningTable::sm90().sdpa);
        assert!(matches!(on_a100, SdpaPlan::Fused { kernel: FusedKernel::Mma8, .. }), "{on_a100:?}");
        assert_eq!(fused(&desc(1, 8, 4, 4, 576, DType::F16)).0, FusedKernel::Mma8);
        assert_eq!(fused(&SdpaDesc { d: 64, ..desc(1, 4, 7, 1, 4096, DType::F16) }).0, FusedKernel::MmaT);
        assert_eq!(fused(&SdpaDesc { d: 64, ..desc(1, 4, 4, 4, 4096, DType::F16) }).0, FusedKernel::Mma);
        // D = 256 holds one CTA per SM: 4 splits.
        let (_, splits, _, _) = fused(&SdpaDesc { d: 256, ..desc(1, 32, 1, 1, 32768, DType::F16) });
        assert_eq!(splits, 4);
        // Pipeline depth (2 CTAs per SM targeted): at D = 128 with one row tile
        // three stages keep two CTAs (2 x 2 tiles ahead, four stages 1 x 3);
        // with 64 rows two CTAs fit only at two stages (2 x 1), four stages
        // give 1 x 3. D = 256 fits one CTA of three stages, D = 64 two of four.
        assert_eq!(mma_stages(FusedKernel::Mma, 128, DType::F16, 1, 2, &h100()), 3);
        assert_eq!(FusedKernel::Mma.resident_per_sm(128, DType::F16, 3, 16, &h100()), 2);
        assert_eq!(mma_stages(FusedKernel::Mma, 128, DType::F16, 64, 2, &h100()), 4);
        assert_eq!(mma_stages(FusedKernel::Mma, 256, DType::F16, 1, 2, &h100()), 3);
        assert_eq!(mma_stages(FusedKernel::Mma, 64, DType::F16, 4, 2, &h100()), 4);
        // mmat's cluster merge receives into its own area (2.5 KiB at D = 128
        // and 4 rows, 4.2 KiB at 7): three stages still keep two CTAs an SM,
        // which the cluster of 16 needs to be resident with the others.
        assert_eq!(
            FusedKernel::MmaT.smem_bytes(128, DType::F16, 3, 4) - FusedKernel::Mma.smem_bytes(128, DType::F16, 3, 4),
            2800
        );
        for rows in [4, 7, 8] {
            assert_eq!(mma_stages(FusedKernel::MmaT, 128, DType::F16, rows, 2, &h100()), 3);
            assert_eq!(FusedKernel::MmaT.resident_per_sm(128, DType::F16, 3, rows, &h100()), 2);
        }
        // Short caches are not split below 256 keys, unless their splits
        // merge in a cluster (mmat on sm_90): then down to 64 keys, at most
        // 16 splits; a 3100-key cache's 194 keys a split do not round down
        // to 192 (17 splits, past the cluster) but up to 256 (13).
        let (_, splits, _, _) = fused(&desc(1, 8, 4, 1, 512, DType::BF16));
        assert_eq!(splits, 8);
        let (_, splits, kps, _) = fused(&desc(1, 8, 4, 1, 2048, DType::F16));
        assert_eq!((splits, kps), (16, 128));
        let (_, splits, kps, _) = fused(&desc(1, 8, 4, 1, 3100, DType::F16));
        assert_eq!((splits, kps), (13, 256));
        let (_, splits, _, _) = fused(&desc(1, 8, 4, 1, 512, DType::F32));
        assert_eq!(splits, 2);
        // Batch 16 fills the device already: eight warps a CTA and no split
        // (mmat8_fills); at batch 4 760 keys take 4 splits of 192 keys there.
        let (kernel, splits, _, _) = fused(&desc(16, 8, 4, 1, 2048, DType::F16));
        assert_eq!((kernel, splits), (FusedKernel::MmaT8, 1));
        assert_eq!(fused(&desc(16, 4, 7, 1, 4096, DType::F16)).0, FusedKernel::MmaT8);
        let (kernel, splits, _, _) = fused(&desc(4, 8, 4, 1, 4096, DType::F16));
        assert_eq!((kernel, splits), (FusedKernel::MmaT8, 4));
        assert_eq!(fused(&SdpaDesc { d: 64, ..desc(16, 8, 4, 1, 4096, DType::F16) }).0, FusedKernel::MmaT);
        let (_, splits, kps, _) = fused(&desc(4, 8, 4, 1, 760, DType::F16));
        assert_eq!((splits, kps), (4, 192));
        // ... not at batch 1 (8 pairs), however short the cache.
        assert_eq!(fused(&desc(1, 8, 4, 1, 64, DType::F16)).0, FusedKernel::MmaT);
        // Before sm_90 (no cluster) short caches keep 256-key splits; a table's
        // max_splits below the cluster's holds after rounding too.
        let t = TuningTable::sm90().sdpa;
        let a100 = DeviceCaps { compute_capability: (8, 0), ..h100() };
        let split_of = |d: &SdpaDesc, caps: &DeviceCaps, t: &SdpaTuning| match plan_fused(d, caps, t) {
            SdpaPlan::Fused { splits, keys_per_split, .. } => (splits, keys_per_split),
            p => panic!("{p:?}"),
        };
        let splits_of = |d: &SdpaDesc, caps: &DeviceCaps, t: &SdpaTuning| split_of(d, caps, t).0;
        assert_eq!(splits_of(&desc(1, 8, 4, 1, 512, DType::F16), &a100, &t), 2);
        // With one cluster a KV head at most: 8192 keys of D = 64 on 2 KV
        // heads: 16 splits of 128 KiB in a cluster, not 32 merged globally;
        // D = 128 (256 KiB a split) and 16384 keys keep the global merge, as
        // does a table without the rule.
        let one = SdpaTuning { cluster_merge_max_clusters: 1, ..t.clone() };
        assert_eq!(splits_of(&SdpaDesc { d: 64, ..desc(1, 2, 7, 1, 8192, DType::F16) }, &h100(), &one), 16);
        assert_eq!(splits_of(&desc(1, 8, 4, 1, 8192, DType::F16), &h100(), &one), 32);
        let splits = splits_of(&SdpaDesc { d: 64, ..desc(1, 2, 7, 1, 16384, DType::F16) }, &h100(), &one);
        assert!(splits > 16, "{splits}");
        let never = SdpaTuning { cluster_max_split_bytes: 0, ..one.clone() };
        let plan = plan_sdpa(
            &SdpaDesc { d: 64, ..desc(1, 2, 7, 1, 8192, DType::F16) },
            &h100(),
            &never,
            &SdpaPrefs::default(),
        );
        assert!(plan.unwrap().name().ends_with("split32"));
        let few = SdpaTuning { max_splits: 8, ..t.clone() };
        for kv_len in [65, 520, 576, 1000, 2048] {
            let s = splits_of(&desc(1, 8, 4, 1, kv_len, DType::F16), &h100(), &few);
            assert!(s <= 8, "{kv_len}: {s}");
        }
        // Keys per split round to the nearest tile: 640 keys in 3 splits would
        // be 256 + 256 + 128; 192 x 3 + 64 shortens the longest CTA's loop
        // (splits merged globally: no cluster before sm_90).
        assert_eq!(split_of(&desc(1, 2, 7, 1, 640, DType::F16), &a100, &t), (4, 192));
        assert_eq!(split_of(&desc(1, 2, 7, 1, 576, DType::F16), &a100, &t), (3, 192));
        // Unaligned K/V rows take the SIMT kernel.
        let d = SdpaDesc { kv_aligned: false, ..desc(1, 8, 4, 1, 512, DType::F16) };
        assert_eq!(fused(&d).0, FusedKernel::Simt);
    }

    #[test]
    fn backend_override_and_its_errors() {
        let t = TuningTable::sm90().sdpa;
        let d = desc(1, 8, 4, 4, 2048, DType::F16);
        let composed = SdpaPrefs { backend: SdpaBackend::Composed, ..Default::default() };
        assert_eq!(plan_sdpa(&d, &h100(), &t, &composed).unwrap(), SdpaPlan::Composed);
        assert!(matches!(
            plan_sdpa(&d, &h100(), &t, &SdpaPrefs { backend: SdpaBackend::Fused, ..Default::default() }).unwrap(),
            SdpaPlan::Fused { .. }
        ));
        let e = plan_sdpa(&SdpaDesc { composable: false, ..d }, &h100(), &t, &composed).unwrap_err().to_string();
        assert!(e.contains("DK_SDPA_BACKEND=composed"), "{e}");
        // Auto crosses to composed at the table's row count, when it can.
        let t2 = SdpaTuning { composed_min_rows: 16, ..t.clone() };
        assert_eq!(plan_sdpa(&d, &h100(), &t2, &SdpaPrefs::default()).unwrap(), SdpaPlan::Composed);
        assert!(matches!(
            plan_sdpa(&SdpaDesc { composable: false, ..d }, &h100(), &t2, &SdpaPrefs::default()).unwrap(),
            SdpaPlan::Fused { .. }
        ));
        assert!(matches!(
            plan_sdpa(&desc(1, 8, 4, 1, 2048, DType::F16), &h100(), &t2, &SdpaPrefs::default()).unwrap(),
            SdpaPlan::Fused { .. }
        ));
        let e = "flash".parse::<SdpaBackend>().unwrap_err().to_string();
        assert!(e.contains("DK_SDPA_BACKEND=\"flash\"") && e.contains("auto, composed, fused"), "{e}");
        assert_eq!(
            SdpaPlan::Fused {
                kernel: FusedKernel::Mma,
                splits: 16,
                keys_per_split: 64,
                row_groups: 1,
                stages: 2,
                cluster: 0
            }
            .label(DType::F16),
            "sdpa/fused_mma_split16/f16"
        );
        let mmat = |splits, cluster| SdpaPlan::Fused {
            kernel: FusedKernel::MmaT,
            splits,
            keys_per_split: 64,
            row_groups: 1,
            stages: 3,
            cluster,
        };
        assert_eq!(mmat(16, 16).name(), "fused_mmat_split16_cluster");
        assert_eq!(mmat(64, 16).name(), "fused_mmat_split64_cluster16");
    }
}

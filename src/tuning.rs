//! Thresholds and launch sizes per device. The sm_90 defaults are embedded
//! (tuning/sm_90.json, from measurements on H100/H200); other architectures
//! start from the same numbers, labelled as generic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dtype::{DType, QuantKind};

use crate::device::DeviceCaps;
use crate::error::{Error, Result};

/// Every dispatcher's thresholds and launch sizes for one device, as stored
/// in a tuning file (JSON; unknown fields are an error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningTable {
    /// What the numbers were measured on.
    pub device: String,
    /// The matmul dispatcher's numbers.
    pub matmul: MatmulTuning,
    /// The softmax dispatcher's numbers.
    pub softmax: SoftmaxTuning,
    /// Absent from a file written before SDPA existed: the embedded defaults.
    #[serde(default)]
    pub sdpa: SdpaTuning,
    /// Absent from a file written before quantized weights: the embedded defaults.
    #[serde(default)]
    pub quant: QuantTuning,
}

/// The quantized GEMV dispatcher's numbers (`ops::quant_matmul`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantTuning {
    /// Per block format (`q8_0`, `q4_0`, `q4_k`, `q6_k`), the most tokens
    /// auto dispatch gives the integer-dot kernel (in launches of up to 8
    /// tokens); above, the tensor-core kernel (0: never the dot kernel). A
    /// format missing here uses [`QuantTuning::DEFAULT_DOT_MAX_N`].
    pub dot_max_n: BTreeMap<String, usize>,
    /// `quant_matmul_rope_append` (ops::fused_gemv) takes RoPE and the cache
    /// append into the integer-dot QKV launch for projections of at most
    /// this many weight elements (rows x K, every part); larger ones run the
    /// GEMV, then `rope_append`. On an H200 (BENCHMARKS.md, 2026-11-30) the
    /// fused launch gained 4-18 us a step on llama3.2-1b (6.3M) and
    /// qwen2.5-0.5b (1M) and lost 25 on llama3-8b (25M); the embedded 12M
    /// keeps qwen2.5-7b's unmeasured 16.5M out too. 0: never. Absent from a
    /// file written before it: the embedded value.
    #[serde(default = "default_rope_fuse_max_weight_elems")]
    pub rope_fuse_max_weight_elems: u64,
    /// A projection stacked from a Q4_K and a Q6_K matrix (Q4_K_M's QKV in
    /// the layers whose V rows are Q6_K) in one launch of the integer-dot
    /// kernel (`ops::quant::quant_matmul_parts` from `pair_min_n` tokens,
    /// and the fused QKV launch with RoPE) instead of one a matrix. false: a
    /// launch a matrix. Absent from a file written before it: the embedded
    /// value.
    #[serde(default = "default_pair_launch")]
    pub pair_launch: bool,
    /// The fewest tokens (rows of x) for which `quant_matmul_parts` takes
    /// the two-matrix launches (fewer: a launch a matrix). On an H200 (BENCHMARKS.md, 2026-11-30,
    /// tenth session) one launch cost llama3-8b Q4_K_M 18-20 us a step at
    /// batch 1 and 37-43 at 2, however its CTAs were split, and gained 9-10
    /// at batch 4 and 83-89 at 16. The fused launch with RoPE (1 or 2
    /// tokens) is not bound by it (llama3.2-1b: -9 us at batch 1). Absent
    /// from a file written before it: the embedded value.
    #[serde(default = "default_pair_min_n")]
    pub pair_min_n: usize,
    /// Per block format, the fewest tokens from which auto dispatch gives
    /// the integer tensor-core kernel (kernels/quant_imma.cu) a launch whose
    /// x is already rounded to 8 bits (a decode step's projections, or x
    /// rounded once: `round_x_min_elems`); 0 or a format missing here:
    /// never. The embedded table: Q4_K from 6, Q6_K from 12, Q8_0 and Q4_0
    /// from 8 (2026-12-01, thirteenth session: at 8 tokens 0.62-0.96x the
    /// dot kernel's time on every shape of llama3-8b; at 6 Q8_0 lost on all
    /// four, Q4_0 on two, a tie and a win). On an H200 (BENCHMARKS.md,
    /// 2026-11-30, eleventh session) Q6_K's kernel tied the dot kernel at 8
    /// tokens; with slices of K (2026-12-01, twelfth session) 13 to 16 tokens
    /// in one chunk beat the dot kernel's two launches on the step (llama3-8b
    /// Q4_K_M batch 13 / 14 / 16: -74 / -100 / -82 us; batch 12 lost 85 us
    /// from 9); with a unit's halves met as integers (2026-12-01,
    /// fourteenth session) it beat the dot kernel at 12 tokens on all six
    /// llama3-8b shapes (0.76-0.96x) and the batch-12 step by 23 us, lost at
    /// 8 on five of six. Absent from a file written before it: the
    /// embedded values.
    #[serde(default = "default_imma_min_n")]
    pub imma_min_n: BTreeMap<String, usize>,
    /// The parts of K the imma kernel cuts each 16-row tile into (1, 2, 4, 8
    /// or 16 warps of a CTA; the largest power of two at most this, the CTA's
    /// warps and a row's super-blocks); 0: chosen by the shape (ops::quant:
    /// the least work a CTA, each group's end priced by `imma_group_cost`).
    /// Absent from a file written before it: 0.
    #[serde(default)]
    pub imma_kparts: usize,
    /// Per block format, what one group's end costs the imma kernel when
    /// the shape chooses the k-parts (`imma_kparts` 0), in super-blocks of
    /// one warp's stream, for a launch of one n-tile (up to 8 tokens) and
    /// of two: the parts' sums meeting at a named barrier, the first
    /// part's adds and its store of y, the copies re-aimed at the next
    /// group's rows. The choice is the fewest group rounds a CTA times (a
    /// warp's super-blocks a group + this). 0 counts the super-blocks
    /// alone (the rule before it counted a group's tiles instead, the same
    /// choice where a row's super-blocks are a multiple of the CTA's warps,
    /// as on every shape measured; it cut a vocabulary-wide LM head into 16
    /// parts, a group's end after every super-block); a format missing
    /// here: [0.25, 0.5]. The embedded table: [0.25, 0.5], Q4_0 [0.25,
    /// 0.25]: on an H200 (BENCHMARKS.md, 2026-12-01, fourteenth session;
    /// six llama3-8b shapes at 8 / 12 / 16 tokens a format, every k-part
    /// count forced) within 0.5-2.4% of the best forced count on average
    /// for each format and n-tile count (0: 1-8%, the LM heads 1.2-1.4x);
    /// Q4_K at one n-tile 0.25, not 0.5, for the Q4_K_M step at batch 8
    /// (3890 against 3952 us). Absent from a file written before it: the
    /// embedded values.
    #[serde(default = "default_imma_group_cost")]
    pub imma_group_cost: BTreeMap<String, [f64; 2]>,
    /// The CTAs of a thread-block cluster (sm_90) that split each imma
    /// slice of K, each with its part of x, the tiles' sums meeting in
    /// distributed shared memory (1, 2, 4 or 8; 1: no clusters); 0: chosen
    /// by the shape (ops::quant::imma_csplit: two where one launch could
    /// not hold x of all K and the rows are few, else none). Absent from a
    /// file written before it: 0.
    #[serde(default)]
    pub imma_csplit: usize,
    /// Where the caller of `quant_matmul` gives x as it is (not already
    /// rounded to 8 bits) and the dot or imma kernel takes the product,
    /// x is rounded once by a launch of its own (`ops::quantize_x`) when it
    /// has at least this many elements (N x K), the kernel then reading those
    /// bytes as a decode step's projections do; else every CTA of the dot
    /// kernel rounds all of x itself, and auto never takes the imma kernel.
    /// 0: never. Both give the same bytes (the same rounding expressions),
    /// only the time differs. The embedded 12288: on an H200 (BENCHMARKS.md,
    /// 2026-12-01, thirteenth session) the extra launch cost 0.3-0.6 us at 1
    /// to 4 tokens of K <= 4096 (x of at most 8192 elements) and won from
    /// x of 14336 elements on (K = 14336 at 1 token 3%, 8 tokens 0.74-0.99x,
    /// 16 tokens on the imma kernel 0.31-0.71x). Absent from a file written
    /// before it: the embedded value.
    #[serde(default = "default_round_x_min_elems")]
    pub round_x_min_elems: usize,
}

fn default_rope_fuse_max_weight_elems() -> u64 {
    TuningTable::sm90().quant.rope_fuse_max_weight_elems
}

fn default_pair_launch() -> bool {
    TuningTable::sm90().quant.pair_launch
}

fn default_pair_min_n() -> usize {
    TuningTable::sm90().quant.pair_min_n
}

fn default_imma_min_n() -> BTreeMap<String, usize> {
    TuningTable::sm90().quant.imma_min_n
}

fn default_imma_group_cost() -> BTreeMap<String, [f64; 2]> {
    TuningTable::sm90().quant.imma_group_cost
}

fn default_round_x_min_elems() -> usize {
    TuningTable::sm90().quant.round_x_min_elems
}

impl QuantTuning {
    /// What a format the table does not name uses.
    pub const DEFAULT_DOT_MAX_N: usize = 16;

    /// The most tokens auto dispatch gives the dot kernel for `kind`.
    pub fn dot_max_n(&self, kind: QuantKind) -> usize {
        self.dot_max_n.get(&kind.name().to_ascii_lowercase()).copied().unwrap_or(Self::DEFAULT_DOT_MAX_N)
    }

    /// The fewest tokens from which auto dispatch gives the integer
    /// tensor-core kernel `kind` (0: never).
    pub fn imma_min_n(&self, kind: QuantKind) -> usize {
        self.imma_min_n.get(&kind.name().to_ascii_lowercase()).copied().unwrap_or(0)
    }

    /// What a format the table's `imma_group_cost` does not name uses.
    pub const DEFAULT_IMMA_GROUP_COST: [f64; 2] = [0.25, 0.5];

    /// The costs a group's end may be given, in super-blocks (the table's,
    /// `bench quant-matmul --group-costs`'s, `tune`'s).
    pub const IMMA_GROUP_COST_RANGE: std::ops::RangeInclusive<f64> = 0.0..=64.0;

    /// The imma kernel's costs of a group's end for `kind`, at one n-tile and at two.
    pub fn imma_group_costs(&self, kind: QuantKind) -> [f64; 2] {
        self.imma_group_cost.get(&kind.name().to_ascii_lowercase()).copied().unwrap_or(Self::DEFAULT_IMMA_GROUP_COST)
    }

    /// The imma kernel's cost of a group's end for `kind` at `n_tiles` (1 or 2) n-tiles.
    pub fn imma_group_cost(&self, kind: QuantKind, n_tiles: usize) -> f64 {
        debug_assert!(matches!(n_tiles, 1 | 2), "the imma kernel runs 1 or 2 n-tiles, not {n_tiles}");
        self.imma_group_costs(kind)[n_tiles.clamp(1, 2) - 1]
    }
}

impl Default for QuantTuning {
    fn default() -> Self {
        TuningTable::sm90().quant
    }
}

/// The attention dispatcher's numbers: the fused kernel's split of the keys
/// and where the composed path takes over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdpaTuning {
    /// The fused kernel splits the keys until the grid has this many CTAs per SM.
    pub target_ctas_per_sm: u32,
    /// A split never gets fewer keys than this (rounded up to the key tile),
    /// except where `cluster_min_keys_per_split` applies.
    pub min_keys_per_split: usize,
    /// ... and no fewer than this many keys per query row of a CTA: each split
    /// writes and the merge reads rows x D f32 partials, so the partials cost
    /// about 2 / this of the K/V traffic.
    pub min_keys_per_row: usize,
    /// The most splits of the keys, whatever the targets above ask for.
    pub max_splits: u32,
    /// Auto dispatch runs the composed path (matmul, softmax, matmul) when the
    /// query rows per KV head (group * Lq) reach this many; 0: never.
    pub composed_min_rows: usize,
    /// The mmat kernel merges its splits inside a thread-block cluster (one
    /// cluster of all a KV head's splits, sm_90) when there are 2 to this
    /// many (at most 16, the hardware's largest cluster); 0: never (the
    /// merge through global memory by the last CTA). Absent from a file
    /// written before it: the embedded value.
    #[serde(default = "default_cluster_merge_max_splits")]
    pub cluster_merge_max_splits: u32,
    /// Where a short cache's splits fit one cluster merge anyway, they are
    /// cut finer, down to this many keys a split, up to the cluster's
    /// `cluster_merge_max_splits` (and no more CTAs than the targets above
    /// fill the device with): a lone CTA an SM is latency-bound, and the
    /// cluster's merge costs little more for 16 splits than for 3. Absent
    /// from a file written before it: the embedded value.
    #[serde(default = "default_cluster_min_keys_per_split")]
    pub cluster_min_keys_per_split: usize,
    /// A cache longer than the targets above split into more CTAs than one
    /// cluster holds still merges in one cluster when its keys, cut into
    /// `cluster_merge_max_splits` splits, give each split at most this many
    /// bytes of K and V: past that, more CTAs and the global merge win.
    /// 0: never. Absent from a file written before it: the embedded value.
    #[serde(default = "default_cluster_max_split_bytes")]
    pub cluster_max_split_bytes: usize,
    /// The most clusters of `cluster_merge_max_splits` splits a KV head (at
    /// most 8): where one cluster a KV head would give each split
    /// `several_clusters_min_keys` keys or more and the CTAs that fill the
    /// device hold two or more full clusters a KV head, mmat cuts the keys
    /// that fine and merges the clusters' results through the workspace
    /// (fewer clusters where the device cannot hold them all at once). 1:
    /// one cluster a KV head. Absent from a file written before it: the
    /// embedded value.
    #[serde(default = "default_cluster_merge_max_clusters")]
    pub cluster_merge_max_clusters: u32,
    /// See `cluster_merge_max_clusters`: a split's serial loop over this many
    /// keys in one cluster costs more than the clusters' merge through the
    /// workspace. Absent from a file written before it: the embedded value.
    #[serde(default = "default_several_clusters_min_keys")]
    pub several_clusters_min_keys: usize,
}

fn default_several_clusters_min_keys() -> usize {
    TuningTable::sm90().sdpa.several_clusters_min_keys
}

fn default_cluster_merge_max_clusters() -> u32 {
    TuningTable::sm90().sdpa.cluster_merge_max_clusters
}

fn default_cluster_merge_max_splits() -> u32 {
    TuningTable::sm90().sdpa.cluster_merge_max_splits
}

fn default_cluster_min_keys_per_split() -> usize {
    TuningTable::sm90().sdpa.cluster_min_keys_per_split
}

fn default_cluster_max_split_bytes() -> usize {
    TuningTable::sm90().sdpa.cluster_max_split_bytes
}

impl Default for SdpaTuning {
    fn default() -> Self {
        TuningTable::sm90().sdpa
    }
}

/// The softmax dispatcher's numbers: where each family of variants takes
/// over and its launch sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftmaxTuning {
    /// Auto dispatch uses a warp per row up to this many columns, a CTA per row above.
    pub vec_max_cols: usize,
    /// Rows (warps) per CTA of the vec variants.
    pub vec_warps_per_cta: u32,
    /// CTA size of the block variants per column bucket: [max_cols, threads],
    /// ascending; longer rows use the last bucket's size.
    pub block_threads: Vec<(usize, u32)>,
    /// Rows of at least this many columns use a cluster of CTAs per row where
    /// the device has clusters (0: never).
    pub cluster_min_cols: usize,
    /// Auto dispatch may split rows of at least this many columns into
    /// chunks over several CTAs (0: never). Absent from a file written
    /// before the split variant: the embedded value.
    #[serde(default = "default_split_min_cols")]
    pub split_min_cols: usize,
    /// ... and does when the variant with a row per CTA (or per cluster)
    /// would launch at most this many CTAs (0: never): about one per SM, so
    /// that few rows no longer leave most SMs idle.
    #[serde(default = "default_split_max_ctas")]
    pub split_max_ctas: usize,
    /// The split variant makes its chunks small enough (down to 64 threads of
    /// 16 elements) for rows x chunks to reach this many CTAs.
    #[serde(default = "default_split_target_ctas")]
    pub split_target_ctas: usize,
}

fn default_split_min_cols() -> usize {
    TuningTable::sm90().softmax.split_min_cols
}
fn default_split_max_ctas() -> usize {
    TuningTable::sm90().softmax.split_max_ctas
}
fn default_split_target_ctas() -> usize {
    TuningTable::sm90().softmax.split_target_ctas
}

/// The matmul dispatcher's numbers: where GEMV hands over to cuBLAS, which
/// GEMV variant, and how K is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatmulTuning {
    /// Per dtype, the largest N served by the GEMV family under auto
    /// dispatch; above it, cuBLAS. A dtype missing here uses 16.
    pub smalln_max_n: BTreeMap<DType, usize>,
    /// f16/bf16 with K-contiguous A use tensor cores from this N up (below: FMA).
    pub mma_min_n: usize,
    /// Below `mma_min_n` at N = 1, f16/bf16: tensor cores still where K is at
    /// most this and the weight exceeds L2, a vocabulary-wide LM head of a
    /// narrow model (H200: qwen2.5-0.5b's 151936 x 896 in 70 us against
    /// veck's 77 and cuBLAS's 69; at K 2048 veck wins, 121 against 129). 0:
    /// never. Absent from a file written before it: the embedded value.
    #[serde(default = "default_mma_n1_max_k")]
    pub mma_n1_max_k: usize,
    /// Warps per CTA of the mma and veck kernels (1..=8).
    pub warps: u32,
    /// Split-K adds K splits until the grid has this many CTAs per SM.
    pub target_ctas_per_sm: u32,
    /// A split never gets fewer K elements than this.
    pub min_k_per_split: usize,
    /// The most K splits, whatever the targets above ask for.
    pub max_splits: u32,
    /// Per weight-size class, the largest N the GEMV family serves (before
    /// `smalln_max_n`, which stays the fallback for dtypes a class omits).
    /// Ascending by `max_weight_elems`; 0 sends every N to cuBLAS.
    #[serde(default)]
    pub size_classes: Vec<SmallnClass>,
    /// `rmsnorm_matmul` (ops::fused_gemv) takes the norm into the GEMV's
    /// launch for weights of at most this many elements (M x K); larger ones
    /// run `rmsnorm`, then the GEMV: the fused loop's extra loads and sums
    /// cost more than the launch they save (on an H200, llama3-8b's QKV
    /// projection, 25M elements, lost 25 us a step fused; BENCHMARKS.md).
    /// 0: never. Absent from a file written before it: the embedded value.
    #[serde(default = "default_norm_fuse_max_weight_elems")]
    pub norm_fuse_max_weight_elems: u64,
    /// The same bound for `rmsnorm_matmul_silu_mul` (both halves of the
    /// gate/up weight counted).
    #[serde(default = "default_norm_glu_fuse_max_weight_elems")]
    pub norm_glu_fuse_max_weight_elems: u64,
    /// Plain veck at N <= 2 puts several rows (row groups) in one CTA while
    /// they read at most this many bytes of A together and the grid keeps
    /// `target_ctas_per_sm` CTAs an SM (dispatch::matmul::veck_row_groups):
    /// a CTA of one short row spends more on its launch and reduction than
    /// on its loads. 0: one group a CTA. Absent from a file written before
    /// it: the embedded value.
    #[serde(default = "default_veck_cta_bytes")]
    pub veck_cta_bytes: usize,
}

fn default_mma_n1_max_k() -> usize {
    TuningTable::sm90().matmul.mma_n1_max_k
}

fn default_veck_cta_bytes() -> usize {
    TuningTable::sm90().matmul.veck_cta_bytes
}

fn default_norm_fuse_max_weight_elems() -> u64 {
    TuningTable::sm90().matmul.norm_fuse_max_weight_elems
}

fn default_norm_glu_fuse_max_weight_elems() -> u64 {
    TuningTable::sm90().matmul.norm_glu_fuse_max_weight_elems
}

/// Matrices of at most `max_weight_elems` elements (M x K).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmallnClass {
    /// The class's upper bound on M x K (inclusive); see [`SIZE_CLASS_LIMITS`].
    pub max_weight_elems: u64,
    /// Per dtype, the largest N the GEMV family serves for matrices of this
    /// class; a dtype missing here falls back to [`MatmulTuning::smalln_max_n`].
    pub smalln_max_n: BTreeMap<DType, usize>,
}

/// The weight-size classes `tune` measures and writes: up to 64M elements
/// (128 MiB in f16: the projections of 7-8B models), and larger (LM heads).
/// No class below: matrices small enough to stay in L2 across the benchmark's
/// rotated copies measure the in-L2 regime, which a decode step streaming a
/// whole model never sees (a class of them alone once sent qwen2.5-0.5b's
/// 896x896 projection to cuBLAS at N = 1, 3% slower per step).
pub const SIZE_CLASS_LIMITS: [u64; 2] = [1 << 26, u64::MAX];

/// Names a tuning file that replaces every other source (see [`TuningSource`]).
pub const TUNING_FILE_ENV: &str = "DK_TUNING_FILE";

/// Where `tune` writes, and the dispatchers look when DK_TUNING_FILE is unset:
/// `<user config folder>/decode-kernels/tuning-<arch>.json`.
pub fn user_file(arch: &str) -> Option<std::path::PathBuf> {
    dirs::config_dir().map(|d| d.join("decode-kernels").join(format!("tuning-{arch}.json")))
}

/// Where the table in force comes from, in the one lookup order every reader
/// uses: `DK_TUNING_FILE` when set, else the user file `tune` wrote for the
/// architecture, else the embedded table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TuningSource {
    /// The file named by `DK_TUNING_FILE` (it must exist and parse).
    EnvFile(std::path::PathBuf),
    /// The user config file `decode-kernels tune` wrote.
    UserFile(std::path::PathBuf),
    /// The table built into the binary.
    Embedded,
}

impl TuningSource {
    /// Where a device of `arch` (e.g. "sm_90") reads its table from.
    pub fn locate(arch: &str) -> Self {
        if let Some(env) = std::env::var_os(TUNING_FILE_ENV).filter(|v| !v.is_empty()) {
            return TuningSource::EnvFile(env.into());
        }
        match user_file(arch).filter(|p| p.is_file()) {
            Some(p) => TuningSource::UserFile(p),
            None => TuningSource::Embedded,
        }
    }

    /// Reads and checks the table (the embedded one for `arch` when no file
    /// is named) and says where it came from.
    pub fn load(&self, arch: &str) -> Result<(TuningTable, String)> {
        let read = |path: &std::path::Path, shown: String, what: &'static str| -> Result<(TuningTable, String)> {
            if path.is_dir() {
                return Err(Error::InvalidArgument {
                    op: "tuning",
                    arg: shown,
                    expected: "a JSON tuning table file".into(),
                    got: "a directory".into(),
                });
            }
            let text = std::fs::read_to_string(path).map_err(Error::io(what, path))?;
            Ok((TuningTable::parse(&text, &shown)?, shown))
        };
        match self {
            TuningSource::EnvFile(p) => read(
                p,
                format!("{} ({TUNING_FILE_ENV})", p.display()),
                "reading the tuning file named by DK_TUNING_FILE",
            ),
            TuningSource::UserFile(p) => read(
                p,
                format!("{} (user config, written by `decode-kernels tune`)", p.display()),
                "reading the tuning file `decode-kernels tune` wrote",
            ),
            TuningSource::Embedded => {
                let t = TuningTable::for_arch(arch);
                let source = format!("embedded: {}", t.device);
                Ok((t, source))
            }
        }
    }
}

impl MatmulTuning {
    /// The GEMV/cuBLAS threshold for `dtype`.
    pub fn smalln_max_n(&self, dtype: DType) -> usize {
        self.smalln_max_n.get(&dtype).copied().unwrap_or(16)
    }

    /// The largest N the GEMV family serves for an M x K weight of `dtype`:
    /// the first size class that holds it and names the dtype, else the flat value.
    pub fn smalln_max_n_for(&self, dtype: DType, weight_elems: u64) -> usize {
        self.size_classes
            .iter()
            .find(|c| weight_elems <= c.max_weight_elems)
            .and_then(|c| c.smalln_max_n.get(&dtype).copied())
            .unwrap_or_else(|| self.smalln_max_n(dtype))
    }
}

const SM90_JSON: &str = include_str!("../tuning/sm_90.json");

impl TuningTable {
    /// The embedded sm_90 table.
    pub fn sm90() -> Self {
        Self::parse(SM90_JSON, "embedded tuning/sm_90.json").expect("the embedded sm_90 table is valid (tested)")
    }

    /// The embedded table for an architecture (sm_90 numbers elsewhere, relabelled).
    pub fn for_arch(arch: &str) -> Self {
        let mut t = Self::sm90();
        if !arch.starts_with("sm_9") {
            t.device = format!("generic defaults (sm_90 numbers) for {arch}");
        }
        t
    }

    /// The table in force for a device (see [`TuningSource::locate`]): a
    /// missing or malformed file is an error, never a silent fallback. The
    /// second value says where it came from.
    pub fn load(caps: &DeviceCaps) -> Result<(Self, String)> {
        let arch = caps.arch();
        TuningSource::locate(&arch).load(&arch)
    }

    /// A fixed table for tests of dispatch logic, independent of the tuned
    /// embedded values: the hand-set sm_90 table from before the first
    /// `tune` run (one GEMV threshold per dtype, no size classes).
    #[doc(hidden)]
    pub fn fixed_for_tests() -> Self {
        let mut t = Self::sm90();
        t.matmul.size_classes.clear();
        t.matmul.smalln_max_n = [(DType::F16, 8), (DType::BF16, 8), (DType::F32, 16)].into_iter().collect();
        t.softmax.vec_max_cols = 512;
        t.softmax.block_threads = vec![(256, 32), (512, 64), (2048, 128), (4096, 256), (8192, 512), (32768, 1024)];
        t.softmax.cluster_min_cols = 16385;
        t.softmax.split_min_cols = 16385;
        t.softmax.split_max_ctas = 132;
        t.softmax.split_target_ctas = 264;
        t.sdpa.composed_min_rows = 0;
        t.matmul.veck_cta_bytes = 8192;
        t.matmul.mma_n1_max_k = 1024;
        t
    }

    /// The table as the JSON a tuning file holds.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a tuning table serialises")
    }

    /// Parses and checks a table; errors name the source and the bad field.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let t: TuningTable = serde_json::from_str(text).map_err(|e| Error::InvalidArgument {
            op: "tuning",
            arg: source.to_string(),
            expected: "a valid tuning table".into(),
            got: format!("line {}, column {}: {e}", e.line(), e.column()),
        })?;
        let m = &t.matmul;
        let bad = |field: &str, expected: &str, got: String| Error::InvalidArgument {
            op: "tuning",
            arg: format!("{source}: {field}"),
            expected: expected.into(),
            got,
        };
        if !(1..=8).contains(&m.warps) {
            return Err(bad("matmul.warps", "1 to 8", m.warps.to_string()));
        }
        if m.target_ctas_per_sm == 0 || m.max_splits == 0 {
            return Err(bad(
                "matmul.target_ctas_per_sm/max_splits",
                "at least 1",
                format!("{}/{}", m.target_ctas_per_sm, m.max_splits),
            ));
        }
        if let Some((dt, n)) = m.smalln_max_n.iter().find(|(_, &n)| n == 0) {
            return Err(bad(&format!("matmul.smalln_max_n.{dt}"), "at least 1", n.to_string()));
        }
        let sm = &t.softmax;
        if !(1..=8).contains(&sm.vec_warps_per_cta) {
            return Err(bad("softmax.vec_warps_per_cta", "1 to 8", sm.vec_warps_per_cta.to_string()));
        }
        if sm.block_threads.is_empty()
            || sm.block_threads.windows(2).any(|w| w[0].0 >= w[1].0)
            || sm.block_threads.iter().any(|&(_, th)| th == 0 || th > 1024 || th % 32 != 0)
        {
            return Err(bad(
                "softmax.block_threads",
                "ascending [max_cols, threads] pairs, threads a multiple of 32 up to 1024",
                format!("{:?}", sm.block_threads),
            ));
        }
        if sm.split_target_ctas == 0 {
            return Err(bad("softmax.split_target_ctas", "at least 1", "0".into()));
        }
        if ![0, 1, 2, 4, 8, 16].contains(&t.quant.imma_kparts) {
            return Err(bad(
                "quant.imma_kparts",
                "0 (by the shape), 1, 2, 4, 8 or 16",
                t.quant.imma_kparts.to_string(),
            ));
        }
        // A per-format map's key: a format's name as the table writes it.
        let is_format = |name: &str| name.parse::<QuantKind>().is_ok_and(|k| k.name().to_ascii_lowercase() == name);
        for (name, costs) in &t.quant.imma_group_cost {
            if !is_format(name) || costs.iter().any(|c| !QuantTuning::IMMA_GROUP_COST_RANGE.contains(c)) {
                return Err(bad(
                    &format!("quant.imma_group_cost.{name}"),
                    "a format (q8_0, q4_0, q4_k, q6_k) mapped to two costs (one and two n-tiles), super-blocks from 0 to 64",
                    format!("{costs:?}"),
                ));
            }
        }
        if ![0, 1, 2, 4, 8].contains(&t.quant.imma_csplit) {
            return Err(bad("quant.imma_csplit", "0 (by the shape), 1, 2, 4 or 8", t.quant.imma_csplit.to_string()));
        }
        for (field, map) in [("dot_max_n", &t.quant.dot_max_n), ("imma_min_n", &t.quant.imma_min_n)] {
            for (name, &n) in map {
                if !is_format(name) || n > 16 {
                    return Err(bad(
                        &format!("quant.{field}.{name}"),
                        "a format (q8_0, q4_0, q4_k, q6_k) mapped to 0..=16 tokens",
                        n.to_string(),
                    ));
                }
            }
        }
        let sd = &t.sdpa;
        if sd.target_ctas_per_sm == 0
            || sd.max_splits == 0
            || sd.min_keys_per_split == 0
            || sd.min_keys_per_row == 0
            || sd.cluster_min_keys_per_split == 0
        {
            return Err(bad(
                "sdpa.target_ctas_per_sm/max_splits/min_keys_per_split/min_keys_per_row/cluster_min_keys_per_split",
                "at least 1",
                format!(
                    "{}/{}/{}/{}/{}",
                    sd.target_ctas_per_sm,
                    sd.max_splits,
                    sd.min_keys_per_split,
                    sd.min_keys_per_row,
                    sd.cluster_min_keys_per_split
                ),
            ));
        }
        if sd.cluster_merge_max_splits > 16 {
            return Err(bad(
                "sdpa.cluster_merge_max_splits",
                "0 to 16 (CTAs of one thread-block cluster)",
                sd.cluster_merge_max_splits.to_string(),
            ));
        }
        if m.size_classes.windows(2).any(|w| w[0].max_weight_elems >= w[1].max_weight_elems) {
            return Err(bad(
                "matmul.size_classes",
                "classes in ascending max_weight_elems",
                format!("{:?}", m.size_classes.iter().map(|c| c.max_weight_elems).collect::<Vec<_>>()),
            ));
        }
        if m.min_k_per_split == 0 {
            return Err(bad("matmul.min_k_per_split", "at least 1", "0".into()));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses() {
        let t = TuningTable::sm90();
        assert_eq!(t.matmul.smalln_max_n(DType::F32), 16);
        assert_eq!(t.matmul.smalln_max_n(DType::F16), 8);
    }

    #[test]
    fn tuning_file_is_read_and_its_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("t.json");
        let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
        v["matmul"]["warps"] = 2.into();
        std::fs::write(&good, v.to_string()).unwrap();
        let (t, source) = TuningSource::EnvFile(good.clone()).load("sm_90").unwrap();
        assert_eq!(t.matmul.warps, 2);
        assert!(source.contains("t.json") && source.contains("DK_TUNING_FILE"), "{source}");
        let missing = dir.path().join("missing.json");
        let e = TuningSource::EnvFile(missing).load("sm_90").unwrap_err().to_string();
        assert!(e.contains("reading the tuning file") && e.contains("missing.json"), "{e}");
        std::fs::write(&good, "{\n  \"device\": 1\n").unwrap();
        let e = TuningSource::EnvFile(good).load("sm_90").unwrap_err().to_string();
        assert!(e.contains("t.json") && e.contains("line"), "{e}");
        // No file: the embedded table, labelled for the device.
        assert!(TuningSource::Embedded.load("sm_90").unwrap().1.starts_with("embedded: sm_90"));
        assert!(TuningSource::Embedded.load("sm_80").unwrap().1.contains("generic defaults"));
    }

    #[test]
    fn bad_tables_name_the_field() {
        let e = TuningTable::parse("{", "t.json").unwrap_err().to_string();
        assert!(e.contains("t.json") && e.contains("line 1"), "{e}");
        let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
        v["matmul"]["warps"] = 9.into();
        let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
        assert!(e.contains("matmul.warps") && e.contains("1 to 8"), "{e}");
        // A misspelt knob is an error, not silently ignored.
        let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
        v["matmul"]["warp"] = 4.into();
        let e = TuningTable::parse(&serde_json::to_string_pretty(&v).unwrap(), "t.json").unwrap_err().to_string();
        assert!(e.contains("unknown field `warp`") && e.contains("line"), "{e}");
        // Size classes must ascend.
        let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
        v["matmul"]["size_classes"] = serde_json::json!([
            {"max_weight_elems": 100, "smalln_max_n": {"f16": 1}},
            {"max_weight_elems": 50, "smalln_max_n": {"f16": 8}}
        ]);
        let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
        assert!(e.contains("matmul.size_classes") && e.contains("ascending") && e.contains("[100, 50]"), "{e}");
        // The quantized GEMV's thresholds: GGML's formats, in lower case, 0..=16 tokens.
        for (name, n) in [("q5_k", 4), ("Q4_K", 4), ("q4_k", 17)] {
            let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
            v["quant"]["dot_max_n"][name] = n.into();
            let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
            assert!(e.contains(&format!("quant.dot_max_n.{name}")) && e.contains("0..=16"), "{e}");
        }
        // A cluster is at most 16 CTAs; a file from before the field gets the embedded value.
        let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
        v["sdpa"]["cluster_merge_max_splits"] = 17.into();
        let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
        assert!(e.contains("sdpa.cluster_merge_max_splits") && e.contains("0 to 16"), "{e}");
        v["sdpa"].as_object_mut().unwrap().remove("cluster_merge_max_splits");
        let t = TuningTable::parse(&v.to_string(), "t.json").unwrap();
        assert_eq!(t.sdpa.cluster_merge_max_splits, TuningTable::sm90().sdpa.cluster_merge_max_splits);
        // Likewise the finer splits' bound, which must be at least 1.
        v["sdpa"]["cluster_min_keys_per_split"] = 0.into();
        let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
        assert!(e.contains("cluster_min_keys_per_split") && e.contains("at least 1"), "{e}");
        v["sdpa"].as_object_mut().unwrap().remove("cluster_min_keys_per_split");
        let t = TuningTable::parse(&v.to_string(), "t.json").unwrap();
        assert_eq!(t.sdpa.cluster_min_keys_per_split, 64);
        // And the bytes a split may read to stay in a cluster (0: never).
        v["sdpa"].as_object_mut().unwrap().remove("cluster_max_split_bytes");
        let t = TuningTable::parse(&v.to_string(), "t.json").unwrap();
        assert_eq!(t.sdpa.cluster_max_split_bytes, 128 << 10);
        // Likewise the fused norm's bound; 0 (never) is a value like any other.
        let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
        v["matmul"].as_object_mut().unwrap().remove("norm_fuse_max_weight_elems");
        v["matmul"].as_object_mut().unwrap().remove("norm_glu_fuse_max_weight_elems");
        let t = TuningTable::parse(&v.to_string(), "t.json").unwrap();
        assert_eq!((t.matmul.norm_fuse_max_weight_elems, t.matmul.norm_glu_fuse_max_weight_elems), (1 << 24, 40 << 20));
        v["matmul"]["norm_glu_fuse_max_weight_elems"] = 7.into();
        assert_eq!(TuningTable::parse(&v.to_string(), "t.json").unwrap().matmul.norm_glu_fuse_max_weight_elems, 7);
        v["quant"].as_object_mut().unwrap().remove("rope_fuse_max_weight_elems");
        assert_eq!(TuningTable::parse(&v.to_string(), "t.json").unwrap().quant.rope_fuse_max_weight_elems, 12 << 20);
        v["quant"].as_object_mut().unwrap().remove("pair_launch");
        v["quant"].as_object_mut().unwrap().remove("pair_min_n");
        let q = TuningTable::parse(&v.to_string(), "t.json").unwrap().quant;
        assert!(q.pair_launch && q.pair_min_n == 3);
    }

    #[test]
    fn quant_thresholds_per_format_with_a_default() {
        let t = TuningTable::sm90().quant;
        for kind in QuantKind::ALL {
            assert_eq!(t.dot_max_n(kind), 16, "{kind}");
        }
        // A file from before quantized weights: the embedded section; a format left out: the default.
        let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
        v.as_object_mut().unwrap().remove("quant");
        assert_eq!(TuningTable::parse(&v.to_string(), "old.json").unwrap().quant, t);
        let q = QuantTuning { dot_max_n: [("q6_k".to_string(), 0)].into_iter().collect(), ..QuantTuning::default() };
        assert_eq!((q.dot_max_n(QuantKind::Q6_K), q.dot_max_n(QuantKind::Q8_0)), (0, QuantTuning::DEFAULT_DOT_MAX_N));
        // The imma kernel: Q4_K from 6 tokens, Q6_K from 12, Q8_0 and Q4_0 from 8.
        assert_eq!(t.imma_min_n(QuantKind::Q4_K), 6);
        assert_eq!(t.imma_min_n(QuantKind::Q6_K), 12);
        for kind in [QuantKind::Q8_0, QuantKind::Q4_0] {
            assert_eq!(t.imma_min_n(kind), 8, "{kind}");
        }
        assert_eq!(t.imma_kparts, 0);
        // A group's end: Q4_0 a quarter super-block at both n-tile counts, the others 0.25 / 0.5.
        assert_eq!((t.imma_group_cost(QuantKind::Q4_0, 1), t.imma_group_cost(QuantKind::Q4_0, 2)), (0.25, 0.25));
        for kind in [QuantKind::Q8_0, QuantKind::Q4_K, QuantKind::Q6_K] {
            assert_eq!((t.imma_group_cost(kind, 1), t.imma_group_cost(kind, 2)), (0.25, 0.5), "{kind}");
        }
        assert_eq!(t.imma_csplit, 0);
        // A file from before the imma kernel: the embedded thresholds, k-parts by the shape.
        let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
        v["quant"].as_object_mut().unwrap().remove("imma_min_n");
        v["quant"].as_object_mut().unwrap().remove("imma_kparts");
        v["quant"].as_object_mut().unwrap().remove("imma_csplit");
        v["quant"].as_object_mut().unwrap().remove("round_x_min_elems");
        v["quant"].as_object_mut().unwrap().remove("imma_group_cost");
        assert_eq!(TuningTable::parse(&v.to_string(), "old.json").unwrap().quant, t);
        // Bad values name their field.
        v["quant"]["imma_kparts"] = 3.into();
        let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
        assert!(e.contains("quant.imma_kparts") && e.contains("16"), "{e}");
        v["quant"]["imma_kparts"] = 16.into();
        v["quant"]["imma_csplit"] = 16.into();
        let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
        assert!(e.contains("quant.imma_csplit") && e.contains("1, 2, 4 or 8"), "{e}");
        v["quant"]["imma_csplit"] = 4.into();
        for bad_cost in [-0.5, 65.0] {
            v["quant"]["imma_group_cost"]["q4_k"] = serde_json::json!([0.25, bad_cost]);
            let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
            assert!(e.contains("quant.imma_group_cost.q4_k") && e.contains("0 to 64"), "{e}");
        }
        v["quant"]["imma_group_cost"] = serde_json::json!({"q5_k": [0.25, 0.5]});
        let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
        assert!(e.contains("quant.imma_group_cost.q5_k") && e.contains("a format"), "{e}");
        // A format left out: the default costs, not the embedded table's
        // (Q4_0's embedded two-n-tile cost, 0.25, is not the default 0.5).
        v["quant"]["imma_group_cost"] = serde_json::json!({"q6_k": [1.0, 2.0]});
        let q = TuningTable::parse(&v.to_string(), "t.json").unwrap().quant;
        assert_eq!((q.imma_group_cost(QuantKind::Q6_K, 1), q.imma_group_cost(QuantKind::Q6_K, 2)), (1.0, 2.0));
        assert_eq!(
            (q.imma_group_cost(QuantKind::Q4_0, 1), q.imma_group_cost(QuantKind::Q4_0, 2)),
            (QuantTuning::DEFAULT_IMMA_GROUP_COST[0], QuantTuning::DEFAULT_IMMA_GROUP_COST[1])
        );
        assert_ne!(
            QuantTuning::DEFAULT_IMMA_GROUP_COST[1],
            TuningTable::sm90().quant.imma_group_cost(QuantKind::Q4_0, 2)
        );
        v["quant"]["imma_group_cost"] = serde_json::json!({});
        v["quant"]["imma_min_n"]["q4_k"] = 17.into();
        let e = TuningTable::parse(&v.to_string(), "t.json").unwrap_err().to_string();
        assert!(e.contains("quant.imma_min_n.q4_k") && e.contains("0..=16"), "{e}");
    }

    #[test]
    fn size_classes_pick_the_first_class_holding_the_weight() {
        let mut t = TuningTable::fixed_for_tests().matmul;
        t.size_classes = vec![
            SmallnClass { max_weight_elems: 1 << 26, smalln_max_n: [(DType::F16, 1)].into_iter().collect() },
            SmallnClass { max_weight_elems: u64::MAX, smalln_max_n: [(DType::F16, 8)].into_iter().collect() },
        ];
        assert_eq!(t.smalln_max_n_for(DType::F16, 4096 * 4096), 1);
        assert_eq!(t.smalln_max_n_for(DType::F16, 128256 * 4096), 8);
        assert_eq!(
            t.smalln_max_n_for(DType::F32, 4096 * 4096),
            16,
            "a dtype a class omits falls back to the flat value"
        );
    }
}

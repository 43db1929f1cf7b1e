//! Thresholds and launch sizes per device. The sm_90 defaults are embedded
//! (tuning/sm_90.json, from measurements on H100/H200); other architectures
//! start from the same numbers, labelled as generic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dtype::DType;

use crate::error::{Error, Result};
use crate::runtime::DeviceCaps;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningTable {
    /// What the numbers were measured on.
    pub device: String,
    pub matmul: MatmulTuning,
    pub softmax: SoftmaxTuning,
    /// Absent from a file written before SDPA existed: the embedded defaults.
    #[serde(default)]
    pub sdpa: SdpaTuning,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdpaTuning {
    /// The fused kernel splits the keys until the grid has this many CTAs per SM.
    pub target_ctas_per_sm: u32,
    /// A split never gets fewer keys than this (rounded up to the key tile).
    pub min_keys_per_split: usize,
    /// ... and no fewer than this many keys per query row of a CTA: each split
    /// writes and the merge reads rows x D f32 partials, so the partials cost
    /// about 2 / this of the K/V traffic.
    pub min_keys_per_row: usize,
    pub max_splits: u32,
    /// Auto dispatch runs the composed path (matmul, softmax, matmul) when the
    /// query rows per KV head (group * Lq) reach this many; 0: never.
    pub composed_min_rows: usize,
}

impl Default for SdpaTuning {
    fn default() -> Self {
        TuningTable::sm90().sdpa
    }
}

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatmulTuning {
    /// Per dtype, the largest N served by the GEMV family under auto
    /// dispatch; above it, cuBLAS. A dtype missing here uses 16.
    pub smalln_max_n: BTreeMap<DType, usize>,
    /// f16/bf16 with K-contiguous A use tensor cores from this N up (below: FMA).
    pub mma_min_n: usize,
    /// Warps per CTA of the mma and veck kernels (1..=8).
    pub warps: u32,
    /// Split-K adds K splits until the grid has this many CTAs per SM.
    pub target_ctas_per_sm: u32,
    /// A split never gets fewer K elements than this.
    pub min_k_per_split: usize,
    pub max_splits: u32,
}

pub const TUNING_FILE_ENV: &str = "DK_TUNING_FILE";

impl MatmulTuning {
    /// The GEMV/cuBLAS threshold for `dtype`.
    pub fn smalln_max_n(&self, dtype: DType) -> usize {
        self.smalln_max_n.get(&dtype).copied().unwrap_or(16)
    }
}

const SM90_JSON: &str = include_str!("../tuning/sm_90.json");

impl TuningTable {
    /// The embedded sm_90 table.
    pub fn sm90() -> Self {
        Self::parse(SM90_JSON, "embedded tuning/sm_90.json").expect("the embedded sm_90 table is valid (tested)")
    }

    /// The embedded table for this device (sm_90 numbers elsewhere, relabelled).
    pub fn for_device(caps: &DeviceCaps) -> Self {
        let mut t = Self::sm90();
        if caps.compute_capability.0 != 9 {
            t.device = format!("generic defaults (sm_90 numbers) for {}", caps.arch());
        }
        t
    }

    /// The table in force: the file named by `DK_TUNING_FILE` if set (a
    /// malformed file is an error, never a silent fallback), else the embedded
    /// one for this device. The second value says where it came from.
    pub fn load(caps: &DeviceCaps) -> Result<(Self, String)> {
        Self::load_from(std::env::var_os(TUNING_FILE_ENV).filter(|v| !v.is_empty()).map(std::path::PathBuf::from), caps)
    }

    /// `load` with the file given explicitly (None: the embedded table).
    pub fn load_from(file: Option<std::path::PathBuf>, caps: &DeviceCaps) -> Result<(Self, String)> {
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(Error::io("reading the tuning file", &path))?;
                let shown = format!("{} ({TUNING_FILE_ENV})", path.display());
                Ok((Self::parse(&text, &shown)?, shown))
            }
            None => {
                let t = Self::for_device(caps);
                let source = format!("embedded: {}", t.device);
                Ok((t, source))
            }
        }
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
            return Err(bad("matmul.target_ctas_per_sm/max_splits", "at least 1", format!("{}/{}", m.target_ctas_per_sm, m.max_splits)));
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
            return Err(bad("softmax.block_threads", "ascending [max_cols, threads] pairs, threads a multiple of 32 up to 1024", format!("{:?}", sm.block_threads)));
        }
        let sd = &t.sdpa;
        if sd.target_ctas_per_sm == 0 || sd.max_splits == 0 || sd.min_keys_per_split == 0 || sd.min_keys_per_row == 0 {
            return Err(bad(
                "sdpa.target_ctas_per_sm/max_splits/min_keys_per_split/min_keys_per_row",
                "at least 1",
                format!("{}/{}/{}/{}", sd.target_ctas_per_sm, sd.max_splits, sd.min_keys_per_split, sd.min_keys_per_row),
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

    fn caps(cc: (i32, i32)) -> DeviceCaps {
        DeviceCaps {
            ordinal: 0,
            name: "test".into(),
            compute_capability: cc,
            sm_count: 132,
            l2_bytes: 50 << 20,
            total_mem_bytes: 80 << 30,
            max_shared_per_block_optin: 227 << 10,
            max_threads_per_sm: 2048,
        }
    }

    #[test]
    fn tuning_file_is_read_and_its_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("t.json");
        let mut v: serde_json::Value = serde_json::from_str(SM90_JSON).unwrap();
        v["matmul"]["warps"] = 2.into();
        std::fs::write(&good, v.to_string()).unwrap();
        let (t, source) = TuningTable::load_from(Some(good.clone()), &caps((9, 0))).unwrap();
        assert_eq!(t.matmul.warps, 2);
        assert!(source.contains("t.json") && source.contains("DK_TUNING_FILE"), "{source}");
        let missing = dir.path().join("missing.json");
        let e = TuningTable::load_from(Some(missing), &caps((9, 0))).unwrap_err().to_string();
        assert!(e.contains("reading the tuning file") && e.contains("missing.json"), "{e}");
        std::fs::write(&good, "{\n  \"device\": 1\n").unwrap();
        let e = TuningTable::load_from(Some(good), &caps((9, 0))).unwrap_err().to_string();
        assert!(e.contains("t.json") && e.contains("line"), "{e}");
        // No file: the embedded table, labelled for the device.
        assert!(TuningTable::load_from(None, &caps((9, 0))).unwrap().1.starts_with("embedded: sm_90"));
        assert!(TuningTable::load_from(None, &caps((8, 0))).unwrap().1.contains("generic defaults"));
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
    }
}

//! Dispatch: from an op's description to a plan. The planners (`matmul`,
//! `softmax`, `sdpa`) are pure functions of the description, the device's
//! capabilities, the tuning table and the caller's preferences, so CI tests
//! them exhaustively without a GPU. [`Dispatcher`] holds those three inputs
//! for one context: every op asks it, and nothing else reads them.

pub mod matmul;
pub mod prefs;
pub mod quant;
pub mod sdpa;
pub mod softmax;

use std::sync::OnceLock;

pub use prefs::Prefs;

use crate::device::DeviceCaps;
use crate::error::Result;
use crate::tuning::{TuningSource, TuningTable};
use matmul::{MatmulDesc, MatmulPlan, MatmulPrefs};
use sdpa::{SdpaDesc, SdpaPlan, SdpaPrefs};
use softmax::{SoftmaxDesc, SoftmaxPlan, SoftmaxPrefs};

/// The architecture whose table a context without a GPU validates (the one
/// an sm_90 GPU here would read), so a bad `DK_TUNING_FILE` is reported on
/// every backend.
const CPU_TABLE_ARCH: &str = "sm_90";

/// The dispatch inputs of one context: the device's capabilities (none on the
/// CPU backend), the tuning table in force and the environment's preferences.
#[derive(Debug)]
pub struct Dispatcher {
    caps: Option<DeviceCaps>,
    table: TuningTable,
    table_source: String,
    /// The DK_* overrides, read on the first op that needs them and kept for
    /// the context's life (an eager op would otherwise pay for several
    /// environment lookups per call). A bad value is an error every time.
    env: OnceLock<Prefs>,
}

impl Dispatcher {
    /// Loads the tuning table for the device (`None`: the CPU backend, which
    /// dispatches nothing but still checks the table a GPU would read). A
    /// missing or malformed tuning file is an error here, when the context
    /// opens.
    pub fn new(caps: Option<DeviceCaps>) -> Result<Self> {
        let arch = caps.as_ref().map_or_else(|| CPU_TABLE_ARCH.to_string(), DeviceCaps::arch);
        let (table, table_source) = TuningSource::locate(&arch).load(&arch)?;
        Ok(Dispatcher { caps, table, table_source, env: OnceLock::new() })
    }

    /// A dispatcher with an explicit table (tests, the tuner, the CPU
    /// reference context); `prefs` None reads the environment as usual.
    pub fn with_table(caps: Option<DeviceCaps>, table: TuningTable, prefs: Option<Prefs>) -> Self {
        let env = OnceLock::new();
        if let Some(p) = prefs {
            let _ = env.set(p);
        }
        Dispatcher { caps, table_source: format!("given by the caller: {}", table.device), table, env }
    }

    /// The device's capabilities; None on the CPU backend.
    pub fn caps(&self) -> Option<&DeviceCaps> {
        self.caps.as_ref()
    }

    /// The tuning table in force.
    pub fn table(&self) -> &TuningTable {
        &self.table
    }

    /// Where the tuning table came from, for reports.
    pub fn table_source(&self) -> &str {
        &self.table_source
    }

    /// The environment's preferences (read once).
    pub fn env_prefs(&self) -> Result<&Prefs> {
        if let Some(p) = self.env.get() {
            return Ok(p);
        }
        let p = Prefs::from_env()?;
        Ok(self.env.get_or_init(|| p))
    }

    /// The caller's preferences where given, else the environment's: the one
    /// place an op's `prefs: None` is resolved.
    pub fn resolve<P: Copy>(&self, given: Option<P>, pick: impl FnOnce(&Prefs) -> P) -> Result<P> {
        match given {
            Some(p) => Ok(p),
            None => Ok(pick(self.env_prefs()?)),
        }
    }

    /// The matmul plan: `MatmulPlan::Cpu` on the CPU backend, else the GEMV
    /// family or cuBLAS per the table and `prefs`.
    pub fn plan_matmul(&self, desc: &MatmulDesc, prefs: &MatmulPrefs, cublas_available: bool) -> Result<MatmulPlan> {
        match &self.caps {
            None => Ok(MatmulPlan::Cpu),
            Some(caps) => matmul::plan_matmul(desc, caps, &self.table.matmul, prefs, cublas_available),
        }
    }

    /// The softmax plan: `SoftmaxPlan::Cpu` on the CPU backend.
    pub fn plan_softmax(&self, desc: &SoftmaxDesc, prefs: &SoftmaxPrefs) -> SoftmaxPlan {
        match &self.caps {
            None => SoftmaxPlan::Cpu,
            Some(_) => softmax::plan_softmax(desc, &self.table.softmax, prefs),
        }
    }

    /// The attention plan on a GPU (the CPU backend's choice between its
    /// reference and the composed path is the op's, see `ops::sdpa`).
    pub fn plan_sdpa(&self, desc: &SdpaDesc, prefs: &SdpaPrefs) -> Result<SdpaPlan> {
        match &self.caps {
            None => Ok(SdpaPlan::Cpu),
            Some(caps) => sdpa::plan_sdpa(desc, caps, &self.table.sdpa, prefs),
        }
    }

    /// Whether the device has thread-block clusters (sm_90 and later).
    pub fn has_clusters(&self) -> bool {
        self.caps.as_ref().is_some_and(|c| c.compute_capability.0 >= 9)
    }
}

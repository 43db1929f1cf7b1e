//! Recording: run ops once with the backend in record mode and keep every
//! launch they would make (function handle, launch shape, argument bytes,
//! label) instead of making it. Replaying the recording is then one
//! `cuLaunchKernel` per launch, with no dispatch, validation or lookup; or the
//! recording is captured once into a CUDA graph and replayed as one launch.
//!
//! The recording keeps alive every buffer its launches address: the tensors
//! each op names as used, the index vectors ([`crate::Indices`]) it names,
//! and the split scratch (workspace) buffers in force while recording, so a replay never touches freed memory. Between replays the
//! contents of those tensors may change (that is the point); their buffers may
//! not be replaced, which holding them here guarantees.

use std::sync::Arc;

use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{CudaFunction, CudaGraph, CudaSlice};

use super::cublas::GemmCall;
use super::{CudaBackend, KernelArgs, LaunchConfig};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::profile::Tag;
use crate::tensor::Storage;

/// One recorded launch. Kernel arguments are boxed: a recording of a few
/// hundred launches stays small, and replay reads them in place.
pub(crate) enum Recorded {
    Kernel { function: CudaFunction, cfg: LaunchConfig, args: Box<KernelArgs>, label: String, bytes: u64 },
    Gemm { dtype: DType, call: GemmCall, alpha: f32, beta: f32, label: String, bytes: u64 },
}

impl Recorded {
    fn label(&self) -> &str {
        match self {
            Recorded::Kernel { label, .. } | Recorded::Gemm { label, .. } => label,
        }
    }
}

/// What the backend accumulates while recording.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) launches: Vec<Recorded>,
    pub(crate) keep: Vec<Arc<Storage>>,
    pub(crate) keep_scratch: Vec<Arc<CudaSlice<u8>>>,
    /// Buffers of index vectors and quantized matrices the launches address.
    pub(crate) keep_buffers: Vec<Arc<crate::tensor::CudaBuffer>>,
}

impl Recorder {
    pub(crate) fn keep_tensors(&mut self, uses: &[&crate::tensor::Tensor]) {
        for t in uses {
            if !self.keep.iter().any(|s| Arc::ptr_eq(s, t.storage())) {
                self.keep.push(t.storage().clone());
            }
        }
    }
}

struct Held {
    launches: Vec<Recorded>,
    _keep: Vec<Arc<Storage>>,
    _keep_scratch: Vec<Arc<CudaSlice<u8>>>,
    _keep_buffers: Vec<Arc<crate::tensor::CudaBuffer>>,
}

/// A recorded sequence of launches, replayable on the backend's stream.
#[derive(Clone)]
pub struct Recording {
    backend: Arc<CudaBackend>,
    held: Arc<Held>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording").field("launches", &self.labels()).finish()
    }
}

impl Recording {
    pub(crate) fn new(backend: Arc<CudaBackend>, r: Recorder) -> Self {
        Recording {
            backend,
            held: Arc::new(Held {
                launches: r.launches,
                _keep: r.keep,
                _keep_scratch: r.keep_scratch,
                _keep_buffers: r.keep_buffers,
            }),
        }
    }

    /// Number of launches.
    pub fn len(&self) -> usize {
        self.held.launches.len()
    }

    /// True when nothing was launched while recording.
    pub fn is_empty(&self) -> bool {
        self.held.launches.is_empty()
    }

    /// The label of each launch, in order.
    pub fn labels(&self) -> Vec<&str> {
        self.held.launches.iter().map(Recorded::label).collect()
    }

    /// Enqueues every launch again, in order (profiled when profiling is on).
    pub fn replay(&self) -> Result<()> {
        self.replay_kept(true, |_| true)
    }

    /// Enqueues the launches whose label `keep` accepts, in order (generic:
    /// the plain replay's `keep` compiles to nothing).
    fn replay_kept(&self, profile: bool, keep: impl Fn(&str) -> bool) -> Result<()> {
        let be = &self.backend;
        for l in self.held.launches.iter().filter(|l| keep(l.label())) {
            match l {
                Recorded::Kernel { function, cfg, args, label, bytes } => {
                    let tag = Tag { label, bytes: *bytes };
                    // SAFETY: the launch was validated by its op when recorded;
                    // the buffers it addresses are held by this recording.
                    unsafe { be.launch_now(tag, profile, function, *cfg, args)? }
                }
                Recorded::Gemm { dtype, call, alpha, beta, label, bytes } => {
                    let tag = Tag { label, bytes: *bytes };
                    // SAFETY: as above: validated when recorded, buffers held.
                    unsafe { be.gemm_now(tag, profile, *dtype, call, *alpha, *beta)? }
                }
            }
        }
        Ok(())
    }

    /// Enqueues every launch unprofiled: kernels as bare `cuLaunchKernel`s
    /// (the floor the host-cost benchmark compares against).
    pub fn replay_bare(&self) -> Result<()> {
        self.replay_kept(false, |_| true)
    }

    /// Captures one replay into a CUDA graph (instantiated, uploaded).
    pub fn capture_graph(&self) -> Result<Graph> {
        self.capture_graph_kept(|_| true)
    }

    /// Captures into a CUDA graph only the launches whose label `keep`
    /// accepts: a profiling aid (what a step costs without some kinds of
    /// launch, overlap included); the outputs of such a graph are not the
    /// step's. Every buffer of the whole recording stays held.
    pub fn capture_graph_kept(&self, keep: impl Fn(&str) -> bool) -> Result<Graph> {
        let stream = self.backend.stream();
        stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(Error::driver("beginning a stream capture"))?;
        // Events cannot bracket nodes of a graph being captured: no per-launch profiling here.
        let replayed = self.replay_kept(false, keep);
        let ended = stream.end_capture(CUgraphInstantiate_flags(0)).map_err(Error::driver("ending a stream capture"));
        replayed?;
        let graph =
            ended?.ok_or_else(|| Error::Unsupported { op: "graph", what: "capturing an empty recording".into() })?;
        graph.upload().map_err(Error::driver("uploading a CUDA graph"))?;
        Ok(Graph { graph, recording: self.clone() })
    }
}

/// An instantiated CUDA graph of a recording; it holds the recording (and so
/// every buffer its nodes address).
pub struct Graph {
    graph: CudaGraph,
    recording: Recording,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").field("nodes", &self.recording.len()).finish()
    }
}

impl Graph {
    /// Launches the whole graph; with profiling on it is one sample, `label`.
    pub fn launch(&self, label: &str, bytes: u64) -> Result<()> {
        let be = &self.recording.backend;
        be.profiler().device(be.context(), be.stream(), Tag { label, bytes }, || {
            self.graph.launch().map_err(Error::driver("launching a CUDA graph"))
        })
    }

    /// The recording the graph was captured from; it can still be replayed.
    pub fn recording(&self) -> &Recording {
        &self.recording
    }
}

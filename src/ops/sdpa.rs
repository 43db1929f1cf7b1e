//! `sdpa(q, k, v, out, opts)`: scaled-dot-product attention over a KV cache.
//! Q and out are [B, Hq, Lq, D], K and V [B, Hkv, Lk, D] (a cache with spare
//! capacity is a view), Hq a multiple of Hkv. Query i sits at position
//! `offset + i` (default `Lk - Lq`); with `causal` it sees keys up to there.
//!
//! Two paths: fused (one split-KV launch, kernels/sdpa.cu) and composed (QK^T,
//! softmax, P·V through their dispatchers, with the scores in a reused scratch
//! buffer). `plan_sdpa` resolves one once for a geometry; `sdpa` plans and runs.

use super::params::SdpaParams;
use crate::context::{Backend, Context};
use crate::dispatch::sdpa::{FusedKernel, SdpaDesc, SdpaPlan, SdpaPrefs, CLUSTERS_MAX, CLUSTER_MAX_SPLITS, MMAT_ROWS};
use crate::error::{Error, Result};
use crate::ops::matmul::{matmul_with, MatmulOptions};
use crate::ops::params::Dims4;
use crate::ops::softmax::{softmax, Causal, SoftmaxOptions};
use crate::profile::Tag;
use crate::runtime::{kernels, CudaBackend, KernelArgs, LaunchConfig};
use crate::spec::sdpa::kv_aligned;
pub use crate::spec::sdpa::{geometry, SdpaGeometry, SdpaOptions};
use crate::tensor::{Indices, Tensor};

const OP: &str = "sdpa";

/// A resolved fused launch.
#[derive(Debug, Clone)]
struct FusedLaunch {
    function: cudarc::driver::CudaFunction,
    cfg: LaunchConfig,
    /// Workspace floats and counters (0, 0 with one split).
    scratch: (usize, usize),
}

/// A plan resolved once for a geometry and launched many times.
#[derive(Debug, Clone)]
pub struct SdpaPlanHandle {
    geometry: SdpaGeometry,
    desc: SdpaDesc,
    plan: SdpaPlan,
    fused: Option<FusedLaunch>,
    label: String,
}

impl SdpaPlanHandle {
    /// What the dispatcher chose (fused kernel and split, or composed).
    pub fn plan(&self) -> &SdpaPlan {
        &self.plan
    }

    /// The geometry planned for.
    pub fn geometry(&self) -> &SdpaGeometry {
        &self.geometry
    }
    /// The profiling label, e.g. `sdpa/fused_mma_split8/f16`.
    pub fn label(&self) -> &str {
        &self.label
    }
}

fn desc(g: &SdpaGeometry, k: &Tensor, v: &Tensor) -> SdpaDesc {
    SdpaDesc {
        batch: g.batch,
        hkv: g.hkv,
        group: g.group,
        lq: g.lq,
        kv_len: g.kv_len(),
        d: g.d,
        dtype: g.dtype,
        kv_aligned: kv_aligned(k, v),
        composable: g.composable(),
    }
}

/// Resolves the path (and for the fused kernel its function, grid and
/// workspace) for these views' geometry; the views' contents are not read.
pub fn plan_sdpa(
    ctx: &Context,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    opts: &SdpaOptions,
) -> Result<SdpaPlanHandle> {
    let g = geometry(ctx.device(), q, k, v, out, opts)?;
    let prefs = ctx.dispatcher().resolve(opts.prefs, |p| p.sdpa)?;
    plan_from(ctx, g, desc(&g, k, v), prefs)
}

/// The plan for a validated geometry.
fn plan_from(ctx: &Context, g: SdpaGeometry, desc: SdpaDesc, prefs: SdpaPrefs) -> Result<SdpaPlanHandle> {
    let (plan, fused) = match ctx.backend() {
        Backend::Cpu(_) => match prefs.backend {
            // The CPU backend composes its own matmul and softmax when asked (a
            // test of the composition); otherwise it runs the reference.
            crate::dispatch::sdpa::SdpaBackend::Composed if g.composable() => (SdpaPlan::Composed, None),
            crate::dispatch::sdpa::SdpaBackend::Composed => {
                return Err(Error::Unsupported {
                    op: OP,
                    what: "the composed path with a negative causal offset or no keys".into(),
                })
            }
            _ => (SdpaPlan::Cpu, None),
        },
        Backend::Cuda(be) => {
            let mut plan = ctx.dispatcher().plan_sdpa(&desc, &prefs)?;
            let mut table = ctx.dispatcher().table().sdpa.clone();
            let fused = loop {
                let SdpaPlan::Fused { kernel, splits, row_groups, stages, cluster, .. } = &mut plan else {
                    break None;
                };
                let f = resolve_fused(be, &g, *kernel, *splits, *row_groups, *stages, *cluster)?;
                let clusters = splits.checked_div(*cluster).unwrap_or(0);
                // Several clusters a KV head whose grid the device cannot
                // hold at once: fewer clusters, down to one a KV head (the
                // global merge of that many splits, resolve_fused's fallback,
                // cost more than either: GQA 14/2 D 64 8192 keys in 8
                // clusters 17.4 us, in 4 5.96, in one 7.10; H200, 2026-12-02).
                if let (true, Some(caps)) = (clusters >= 2 && f.cfg.cluster <= 1, ctx.dispatcher().caps()) {
                    table.cluster_merge_max_clusters = clusters - 1;
                    plan = crate::dispatch::sdpa::plan_sdpa(&desc, caps, &table, &prefs)?;
                    continue;
                }
                // A cluster the device cannot run merges through the workspace instead.
                *cluster = if f.cfg.cluster > 1 { f.cfg.cluster } else { 0 };
                break Some(f);
            };
            (plan, fused)
        }
    };
    let label = plan.label(g.dtype);
    Ok(SdpaPlanHandle { geometry: g, desc, plan, fused, label })
}

fn resolve_fused(
    be: &CudaBackend,
    g: &SdpaGeometry,
    kernel: FusedKernel,
    splits: u32,
    row_groups: u32,
    stages: u32,
    cluster: u32,
) -> Result<FusedLaunch> {
    // mmat serves one row group of at most MMAT_ROWS rows (its CTA takes
    // rows from blockIdx.z x 64, as mma's, but holds only 8 of them).
    if kernel.swapped() && (g.group * g.lq > MMAT_ROWS || row_groups != 1) {
        return Err(Error::Unsupported {
            op: OP,
            what: format!(
                "the mmat kernel for {} query rows a KV head in {row_groups} row groups (at most {MMAT_ROWS} in one)",
                g.group * g.lq
            ),
        });
    }
    // Several clusters a KV head: mmat's build with the clusters' merge (kernels/sdpa.cu: mmat_clusters).
    let several = kernel == FusedKernel::MmaT && cluster > 0 && splits > cluster;
    let name = format!("sdpa_{}{}_d{}_{}", kernel.name(), if several { "_clusters" } else { "" }, g.d, g.dtype);
    let function = be.function(&kernels::SDPA, kernels::dtype_build(g.dtype), &name)?;
    let smem = kernel.smem_bytes(g.d, g.dtype, stages, g.group * g.lq);
    be.allow_shared(OP, &function, &name, smem)?;
    let clustered = cluster > 0;
    if clustered
        && (!kernel.swapped()
            || !(2..=CLUSTER_MAX_SPLITS as u32).contains(&cluster)
            || splits % cluster != 0
            || splits / cluster > CLUSTERS_MAX as u32
            || (kernel == FusedKernel::MmaT8 && splits > cluster))
    {
        return Err(Error::Unsupported {
            op: OP,
            what: format!(
                "a cluster merge of {splits} splits in clusters of {cluster} on the {} kernel (mmat: 2 to \
                 {CLUSTER_MAX_SPLITS} a cluster, at most {CLUSTERS_MAX} clusters a KV head; mmat8: one cluster)",
                kernel.name()
            ),
        });
    }
    let heads = g.batch * g.hkv;
    if heads > 65535 || row_groups > 65535 {
        return Err(Error::Unsupported {
            op: OP,
            what: format!("batch x KV heads = {heads} or {row_groups} row groups exceed the grid limit 65535"),
        });
    }
    let mut cfg = LaunchConfig {
        grid: (splits, heads as u32, row_groups),
        block: (kernel.threads(), 1, 1),
        shared_bytes: smem as u32,
        dependent: true, // kernels/sdpa.cu waits first
        cluster,
    };
    // The plan asks for clusters of its splits. The splits merge through
    // the workspace instead where the device cannot run one of that size (a
    // GPC with fewer free SMs at this shared memory, a partitioned GPU, a
    // driver refusing sizes above 8), and where the grid's clusters would not
    // all be resident at once: a cluster waits for a whole GPC's worth of
    // free slots, so a second wave of them started later than the plain
    // grid's CTAs do (llama3-8b Q4_K_M batch 4 at 4096 keys, 32 clusters of
    // 16: 3073 -> 3360 us a step on an H200, 2026-11-30).
    if clustered {
        let clusters = heads as i64 * row_groups as i64 * (splits / cluster) as i64;
        let fits = be.allow_cluster(OP, &function, &name, cluster).is_ok()
            && i64::from(be.max_active_clusters(&function, &cfg)?) >= clusters;
        if !fits {
            cfg.cluster = 0;
        }
    }
    let rows = g.batch * g.hq * g.lq;
    let scratch = if splits > 1 && cfg.cluster <= 1 {
        // Every split's rows and their log-sum-exps; a counter a (KV head, row group).
        (splits as usize * rows * (g.d + 1), heads * row_groups as usize)
    } else if cfg.cluster > 1 && splits > cfg.cluster {
        // The clusters' merged pieces (D / 4 a row, float4) and a log-sum-exp
        // a piece; a counter a (KV head, rank in the cluster).
        ((splits / cfg.cluster) as usize * rows * g.d / 4 * 5, heads * CLUSTER_MAX_SPLITS)
    } else {
        (0, 0)
    };
    if scratch.0 > 0 {
        be.workspace(scratch.0, scratch.1)?;
    }
    Ok(FusedLaunch { function, cfg, scratch })
}

impl SdpaPlanHandle {
    /// Runs the plan on views of the geometry it was made for.
    pub fn launch(&self, ctx: &Context, q: &Tensor, k: &Tensor, v: &Tensor, out: &Tensor) -> Result<()> {
        let opts = SdpaOptions {
            scale: Some(self.geometry.scale),
            causal: self.geometry.causal,
            offset: Some(self.geometry.offset),
            prefs: None,
            fresh_keys: None,
        };
        let g = geometry(ctx.device(), q, k, v, out, &opts)?;
        if g != self.geometry || desc(&g, k, v) != self.desc {
            return Err(Error::invalid(
                OP,
                "views",
                format!("the geometry the plan was made for ({:?})", self.geometry),
                format!("{g:?} (or other strides or alignment)"),
            ));
        }
        self.run(ctx, &g, q, k, v, out, None, None)
    }

    /// Runs on views already validated to have the plan's geometry `g`;
    /// `kv_lens` (validated: one value per sequence) makes it ragged;
    /// `fresh_keys`: [`SdpaOptions::fresh_keys`].
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        ctx: &Context,
        g: &SdpaGeometry,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        kv_lens: Option<&Indices>,
        fresh_keys: Option<usize>,
    ) -> Result<()> {
        let g = *g;
        if g.batch == 0 || g.hq == 0 || g.lq == 0 {
            return Ok(());
        }
        match (&self.plan, ctx.backend()) {
            (SdpaPlan::Cpu, Backend::Cpu(_)) => {
                ctx.profiler().host(Tag { label: &self.label, bytes: bytes(&g) }, || match kv_lens {
                    None => crate::cpu::sdpa::sdpa(&g, q, k, v, out),
                    Some(lens) => cpu_ragged(&g, q, k, v, out, &lens.host_values().unwrap_or_default()),
                })
            }
            (SdpaPlan::Composed, _) if kv_lens.is_some() => Err(Error::Unsupported {
                op: OP,
                what: "a ragged batch on the composed path (the fused path serves it)".into(),
            }),
            (SdpaPlan::Composed, _) => composed(ctx, &g, q, k, v, out),
            (SdpaPlan::Fused { keys_per_split, stages, .. }, Backend::Cuda(be)) => {
                let f =
                    self.fused.as_ref().ok_or_else(|| Error::invalid(OP, "plan", "a resolved fused launch", "none"))?;
                let lens_ptr = kv_lens.and_then(Indices::device_ptr).unwrap_or(0);
                be.hold_indices(&kv_lens.into_iter().collect::<Vec<_>>());
                let fresh = fresh_keys.map_or(-1, |n| n.min(g.lk) as i64);
                launch_fused(be, f, &self.label, &g, *keys_per_split, *stages, lens_ptr, fresh, q, k, v, out)
            }
            (p, _) => Err(Error::invalid(OP, "plan", "a plan made on this context's backend", format!("{p:?}"))),
        }
    }
}

/// Plans and runs (env overrides apply unless `opts.prefs` is given).
pub fn sdpa(ctx: &Context, q: &Tensor, k: &Tensor, v: &Tensor, out: &Tensor, opts: &SdpaOptions) -> Result<()> {
    // Validate, describe, plan (cached: the plan depends on the geometry, the
    // desc (alignment) and the prefs; strides are read from the views at
    // launch), launch.
    let g = geometry(ctx.device(), q, k, v, out, opts)?;
    let desc = desc(&g, k, v);
    let prefs = ctx.dispatcher().resolve(opts.prefs, |p| p.sdpa)?;
    let shape = (g.batch, g.hq, g.hkv, g.group, g.lq, g.lk, g.d, g.dtype);
    let key = (shape, g.scale.to_bits(), g.causal, g.offset, desc, prefs);
    let plan = ctx.cached_plan(&key, || plan_from(ctx, g, desc, prefs).map(std::sync::Arc::new))?;
    plan.run(ctx, &g, q, k, v, out, None, opts.fresh_keys)
}

/// Attention over a ragged batch: sequence b's cache holds `kv_lens[b]` keys
/// (an [`Indices`] of B values on the context's device, read when the kernel
/// runs, so a recorded step sees the lengths written before each replay);
/// its query i sits at position `kv_lens[b] - Lq + i` and sees the keys
/// below kv_lens[b] (and, with `opts.causal`, none after its own position).
/// K and V are the caches, [B, Hkv, capacity, D]; lengths above the capacity
/// count as the capacity, negative ones as 0 (the row's output is then 0).
/// `opts.offset` must be None. Always the fused kernel (or the CPU reference),
/// planned for the whole capacity.
pub fn sdpa_ragged(
    ctx: &Context,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    kv_lens: &Indices,
    opts: &SdpaOptions,
) -> Result<()> {
    if opts.offset.is_some() {
        return Err(Error::invalid(
            OP,
            "offset",
            "None on a ragged batch (each sequence's offset follows its length)",
            format!("{:?}", opts.offset),
        ));
    }
    // The whole capacity, with no offset clipping the keys: kv_end = Lk.
    let o = SdpaOptions { offset: Some(k.shape().get(2).copied().unwrap_or(0) as i64), ..*opts };
    let g = geometry(ctx.device(), q, k, v, out, &o)?;
    crate::spec::check_indices(OP, "kv_lens", kv_lens, ctx.device(), g.batch)?;
    let g = SdpaGeometry { offset: g.lk as i64, ..g };
    let desc = SdpaDesc { kv_len: g.lk, ..desc(&g, k, v) };
    let prefs = SdpaPrefs { backend: crate::dispatch::sdpa::SdpaBackend::Fused, ..Default::default() };
    let shape = (g.batch, g.hq, g.hkv, g.group, g.lq, g.lk, g.d, g.dtype);
    let key = ("ragged", shape, g.scale.to_bits(), g.causal, desc);
    let plan = ctx.cached_plan(&key, || plan_from(ctx, g, desc, prefs).map(std::sync::Arc::new))?;
    plan.run(ctx, &g, q, k, v, out, Some(kv_lens), opts.fresh_keys)
}

/// The CPU reference of [`sdpa_ragged`]: each sequence on its own keys.
fn cpu_ragged(g: &SdpaGeometry, q: &Tensor, k: &Tensor, v: &Tensor, out: &Tensor, lens: &[i32]) -> Result<()> {
    for (b, &len) in lens.iter().enumerate().take(g.batch) {
        let n = usize::try_from(len.max(0)).unwrap_or(0).min(g.lk);
        let one = |t: &Tensor| t.narrow(0, b, 1);
        let (kb, vb) = (one(k)?.narrow(2, 0, n)?, one(v)?.narrow(2, 0, n)?);
        let gb = SdpaGeometry { batch: 1, lk: n, offset: n as i64 - g.lq as i64, ..*g };
        crate::cpu::sdpa::sdpa(&gb, &one(q)?, &kb, &vb, &one(out)?)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn launch_fused(
    be: &CudaBackend,
    f: &FusedLaunch,
    label: &str,
    g: &SdpaGeometry,
    keys_per_split: usize,
    stages: u32,
    kv_lens: u64,
    fresh: i64,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
) -> Result<()> {
    let ptr = |t: &Tensor, name: &str| super::device_ptr(OP, t, name);
    let (ws, counters) = if f.scratch.0 > 0 { be.workspace(f.scratch.0, f.scratch.1)? } else { (0, 0) };
    let params = SdpaParams {
        sq: Dims4::strides(q.layout()),
        sk: Dims4::strides(k.layout()),
        sv: Dims4::strides(v.layout()),
        so: Dims4::strides(out.layout()),
        batch: g.batch as i64,
        hkv: g.hkv as i64,
        lq: g.lq as i64,
        group: g.group as i64,
        rows: (g.group * g.lq) as i64,
        offset: g.offset,
        keys_per_split: keys_per_split as i64,
        kv_end: g.kv_len() as i64,
        causal: g.causal as i32,
        scale_log2: g.scale * std::f32::consts::LOG2_E,
        stages: stages as i32,
        cluster: if f.cfg.cluster > 1 { f.cfg.cluster as i32 } else { 0 },
        fresh,
        kv_lens,
    };
    let mut args = KernelArgs::new();
    args.push(ptr(q, "q")?)
        .push(ptr(k, "k")?)
        .push(ptr(v, "v")?)
        .push(ptr(out, "out")?)
        .push(ws)
        .push(counters)
        .push(params);
    // SAFETY: geometry() checked the four views in bounds of their buffers, of
    // consistent shapes, out writable and disjoint from the inputs. The kernel
    // reads Q and writes out only at rows < group * lq of heads < hq, reads K
    // and V only at keys < kv_end <= lk (a ragged batch's lengths are clamped
    // to kv_end in the kernel; kv_lens, when not null, holds batch values,
    // checked by sdpa_ragged) and d < D; the mma kernel was chosen
    // only for 16-byte-aligned K/V rows with unit D stride (re-checked by the
    // plan's desc above). The workspace was sized for splits x rows x (D + 1)
    // floats and one counter per (KV head, row group), or with several
    // clusters a KV head for clusters x rows x D x 5 / 4 floats and one
    // counter per (KV head, rank in the cluster); the dynamic shared
    // memory size was allowed on the function when the plan was made.
    unsafe { be.launch(Tag { label, bytes: bytes(g) }, &[q, k, v, out], &f.function, f.cfg, &args) }
}

/// Bytes attention moves at least: Q and out once, K and V once per KV head.
fn bytes(g: &SdpaGeometry) -> u64 {
    let e = g.dtype.size_in_bytes() as u64;
    e * (2 * (g.batch * g.hkv * g.kv_len() * g.d) as u64 + 2 * (g.batch * g.hq * g.lq * g.d) as u64)
}

/// QK^T (scaled) into the scores scratch, softmax in place with the causal
/// rule, then P·V into out; each step through its own dispatcher.
fn composed(ctx: &Context, g: &SdpaGeometry, q: &Tensor, k: &Tensor, v: &Tensor, out: &Tensor) -> Result<()> {
    let (lq, lk, d) = (g.lq, g.lk, g.d);
    let scores = ctx.scratch("sdpa.scores", g.dtype, g.batch * g.hq * lq * lk)?;
    let mm = MatmulOptions { group: g.group, prefs: None };
    // Fold the batch into the head dimension when every view allows it (one
    // launch per matmul); else one pair of launches per batch entry.
    let flat = |t: &Tensor| g.batch == 1 || t.layout().stride(0) == t.layout().dim(1) * t.layout().stride(1);
    let (per, steps) = if [q, k, v, out].into_iter().all(flat) { (g.batch, 1) } else { (1, g.batch) };
    let st = |t: &Tensor, i: usize| t.layout().stride(i);
    for b in 0..steps {
        let off = |t: &Tensor| t.layout().offset() + b * st(t, 0);
        let (bh, bhkv) = (per * g.hq, per * g.hkv);
        let s_off = b * g.hq * lq * lk;
        // S^T[bh][j][i] = scale * K[j] . Q[i]: A = K [Lk, D], B = Q^T [D, Lq].
        let a = k.as_strided(&[bhkv, lk, d], &[st(k, 1), st(k, 2), st(k, 3)], off(k))?;
        let bq = q.as_strided(&[bh, d, lq], &[st(q, 1), st(q, 3), st(q, 2)], off(q))?;
        let c = scores.as_strided(&[bh, lk, lq], &[lq * lk, 1, lk], s_off)?;
        matmul_with(ctx, g.scale, &a, &bq, 0.0, &c, &mm)?;
    }
    let rows = scores.as_strided(&[g.batch * g.hq * lq, lk], &[lk, 1], 0)?;
    let causal = if g.causal {
        let offset = usize::try_from(g.offset)
            .map_err(|_| Error::invalid(OP, "offset", "a non-negative causal offset on the composed path", g.offset))?;
        Some(Causal { q_len: lq, offset })
    } else {
        None
    };
    softmax(ctx, &rows, &rows, &SoftmaxOptions { scale: 1.0, causal, mask: None, prefs: None })?;
    for b in 0..steps {
        let off = |t: &Tensor| t.layout().offset() + b * st(t, 0);
        let (bh, bhkv) = (per * g.hq, per * g.hkv);
        let s_off = b * g.hq * lq * lk;
        // out^T[bh][d][i] = V^T [D, Lk] . P^T [Lk, Lq].
        let a = v.as_strided(&[bhkv, d, lk], &[st(v, 1), st(v, 3), st(v, 2)], off(v))?;
        let p = scores.as_strided(&[bh, lk, lq], &[lq * lk, 1, lk], s_off)?;
        let c = out.as_strided(&[bh, d, lq], &[st(out, 1), st(out, 3), st(out, 2)], off(out))?;
        matmul_with(ctx, 1.0, &a, &p, 0.0, &c, &mm)?;
    }
    Ok(())
}

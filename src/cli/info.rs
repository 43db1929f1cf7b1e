use std::time::Instant;

use crate::context::Backend;
use crate::roofline;
use crate::runtime::{nvrtc, probe};
use crate::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Skip measuring the rooflines.
    #[arg(long)]
    no_roofline: bool,
    /// Timed runs per roofline measurement.
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// cpu, cuda, cuda:N or auto (default: DK_DEVICE, else auto).
    #[arg(long)]
    device: Option<String>,
}

pub fn run(a: InfoArgs) -> Result<i32> {
    let ctx = super::open_context(a.device.as_deref())?;
    let mut j = serde_json::Map::new();
    let mut lines: Vec<String> = vec![format!("decode-kernels {}", env!("CARGO_PKG_VERSION"))];
    let driver = probe::driver_version().map(|(a, b)| format!("{a}.{b}"));
    let nvrtc = nvrtc::Nvrtc::load().ok();
    let nvrtc_version = nvrtc.as_ref().map(|n| format!("{}.{}", n.version.0, n.version.1));
    let include = nvrtc::find_include_dir();
    lines.push(format!(
        "CUDA driver: {}; NVRTC: {}; CUDA headers: {}",
        driver.as_deref().unwrap_or("not found"),
        nvrtc_version.as_deref().unwrap_or("not found"),
        include.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "not found".into())
    ));
    j.insert("driver_cuda_version".into(), driver.clone().into());
    j.insert("nvrtc_version".into(), nvrtc_version.clone().into());
    j.insert("cuda_include_dir".into(), include.map(|p| p.display().to_string()).into());

    match ctx.backend() {
        Backend::Cpu(cpu) => {
            lines.push(format!(
                "backend: cpu ({} threads); no GPU in use, ops run on the CPU reference backend",
                cpu.threads()
            ));
            j.insert("backend".into(), "cpu".into());
            j.insert("cpu_threads".into(), cpu.threads().into());
            // The CPU backend dispatches nothing; say what a GPU here would read.
            let would = match crate::tuning::TuningSource::locate("sm_90") {
                crate::tuning::TuningSource::EnvFile(f) => format!("{} (DK_TUNING_FILE)", f.display()),
                crate::tuning::TuningSource::UserFile(u) => format!("{} (user config)", u.display()),
                crate::tuning::TuningSource::Embedded => "the embedded table".into(),
            };
            lines.push(format!("tuning table: unused on the CPU backend; an sm_90 GPU would use {would}"));
            j.insert("tuning_table".into(), serde_json::Value::Null);
        }
        Backend::Cuda(b) => {
            let c = b.caps();
            lines.push(format!("backend: cuda:{}", c.ordinal));
            lines.push(format!(
                "device: {} ({}, compute capability {}.{}), {} SMs, L2 {:.1} MiB, memory {:.1} GiB",
                c.name,
                c.arch(),
                c.compute_capability.0,
                c.compute_capability.1,
                c.sm_count,
                c.l2_bytes as f64 / (1 << 20) as f64,
                c.total_mem_bytes as f64 / (1u64 << 30) as f64
            ));
            j.insert("backend".into(), format!("cuda:{}", c.ordinal).into());
            j.insert("device".into(), serde_json::to_value(c).unwrap_or_default());
            let pdl = b.dependent_launch();
            lines.push(format!(
                "programmatic dependent launch: {} (DK_PDL; sm_90 and later)",
                if pdl { "on" } else { "off" }
            ));
            j.insert("dependent_launch".into(), pdl.into());

            let tuning_source = ctx.dispatcher().table_source();
            lines.push(format!("tuning table: {tuning_source}"));
            j.insert("tuning_table".into(), tuning_source.into());
            let t = Instant::now();
            ctx.prewarm()?;
            let prewarm_ms = t.elapsed().as_secs_f64() * 1e3;
            let counts = b.cache_counts();
            lines.push(format!(
                "kernel cache: {} (prewarm {:.1} ms: {} disk hits, {} compiled, {} corrupt entries replaced, {} memory hits)",
                b.cache_dir().display(),
                prewarm_ms,
                counts.disk_hits,
                counts.misses,
                counts.corrupt,
                counts.memory_hits
            ));
            j.insert("kernel_cache_dir".into(), b.cache_dir().display().to_string().into());
            j.insert("prewarm_ms".into(), prewarm_ms.into());
            j.insert("kernel_cache".into(), serde_json::to_value(counts).unwrap_or_default());

            if !a.no_roofline {
                let copy = roofline::copy_roofline(b, a.runs)?;
                let read = roofline::read_roofline(b, a.runs)?;
                for (name, r) in [("copy", &copy), ("read", &read)] {
                    lines.push(format!(
                        "{name} roofline: {:.0} GB/s ({:.2} GiB moved in {:.1} us median; min {:.1}, max {:.1}, {} runs)",
                        r.gbps,
                        r.bytes as f64 / (1u64 << 30) as f64,
                        r.stats.median_us,
                        r.stats.min_us,
                        r.stats.max_us,
                        r.stats.runs
                    ));
                    j.insert(format!("{name}_roofline"), serde_json::to_value(r).unwrap_or_default());
                }
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(j)).unwrap_or_default());
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(0)
}

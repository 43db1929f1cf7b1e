use crate::runtime::{kernels, nvrtc};
use crate::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct KernelsArgs {
    /// Target architecture(s), e.g. sm_90.
    #[arg(long, default_value = "sm_90", value_delimiter = ',')]
    arch: Vec<String>,
}

pub fn run(a: KernelsArgs) -> Result<i32> {
    let n = nvrtc::Nvrtc::load()?;
    println!("NVRTC {}.{}", n.version.0, n.version.1);
    println!(
        "{:<8} {:<14} {:<34} {:>5} {:>6} {:>7} {:>7} {:>6}",
        "arch", "source", "function", "regs", "stack", "spill_s", "spill_l", "smem"
    );
    let mut spills = 0;
    for arch in &a.arch {
        for src in kernels::ALL {
            for defines in src.builds {
                let c = n.compile(src, arch, defines, true)?;
                for k in nvrtc::parse_ptxas_report(&c.log) {
                    spills += k.spill_stores + k.spill_loads;
                    println!(
                        "{:<8} {:<14} {:<34} {:>5} {:>6} {:>7} {:>7} {:>6}",
                        arch,
                        src.file,
                        k.function,
                        k.registers,
                        k.stack_bytes,
                        k.spill_stores,
                        k.spill_loads,
                        k.shared_bytes
                    );
                }
            }
        }
    }
    if spills > 0 {
        println!("warning: {spills} bytes of register spills in total");
    }
    Ok(0)
}

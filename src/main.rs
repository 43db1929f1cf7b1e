//! The `decode-kernels` command line.

use clap::Parser;
use decode_kernels::cli;

fn main() {
    let args = cli::Cli::parse();
    let code = match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    };
    // DK_PROFILE=1: every launch the command made, per label, on stderr
    // (and in DK_PROFILE_OUT, .csv or .json, when set).
    let code = match decode_kernels::profile::env_report() {
        Ok(None) => code,
        Ok(Some(r)) => {
            eprintln!("profile (DK_PROFILE):\n{}", r.to_table());
            match std::env::var_os(decode_kernels::profile::PROFILE_OUT_ENV) {
                Some(path) => {
                    let path = std::path::PathBuf::from(path);
                    let text = if path.extension().is_some_and(|e| e == "json") { r.to_json() } else { r.to_csv() };
                    match std::fs::write(&path, text) {
                        Ok(()) => code,
                        Err(e) => {
                            eprintln!("error: writing the profile to {} (DK_PROFILE_OUT): {e}", path.display());
                            1
                        }
                    }
                }
                None => code,
            }
        }
        Err(e) => {
            eprintln!("error: reading the profile: {e}");
            1
        }
    };
    std::process::exit(code)
}

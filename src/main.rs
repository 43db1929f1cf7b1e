//! The `decode-kernels` command line.

use clap::Parser;
use decode_kernels::cli;

/// With `DK_PROFILE` on, the `DK_PROFILE_OUT` path is checked before the
/// command runs, so a bad path fails at once instead of after the work.
fn check_profile_out() -> decode_kernels::Result<()> {
    let on =
        decode_kernels::profile::parse_profile_env(std::env::var(decode_kernels::profile::PROFILE_ENV).ok().as_deref())
            .unwrap_or(false);
    match std::env::var_os(decode_kernels::profile::PROFILE_OUT_ENV) {
        Some(p) if on => decode_kernels::fsio::check_output(
            "decode-kernels",
            decode_kernels::profile::PROFILE_OUT_ENV,
            std::path::Path::new(&p),
        ),
        _ => Ok(()),
    }
}

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = check_profile_out() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
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
                    // A temporary file in the same folder, renamed over the target.
                    match decode_kernels::fsio::write_atomic(&path, text.as_bytes()) {
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

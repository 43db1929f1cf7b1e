//! The command line as a user runs it, on the CPU backend.

use std::process::Command;

use decode_kernels::npy::{read_npy, write_npy};
use decode_kernels::runtime::probe;
use decode_kernels::tensor::HostData;
use decode_kernels::DType;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_decode-kernels"))
}

#[test]
fn info_on_the_cpu_backend_exits_zero() {
    let out = bin().args(["info"]).env("DK_DEVICE", "cpu").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("backend: cpu"), "{stdout}");
    let json = bin().args(["info", "--json"]).env("DK_DEVICE", "cpu").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["backend"], "cpu");
}

#[test]
fn info_without_a_gpu_falls_back_with_a_notice() {
    if probe::driver_lib_present() {
        eprintln!("SKIPPED: this machine has a CUDA driver");
        return;
    }
    let out = bin().args(["info"]).env_remove("DK_DEVICE").output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("using the CPU backend") && stderr.lines().count() == 1, "{stderr}");
    // Asking for CUDA explicitly is an error, not a fallback.
    let out = bin().args(["info", "--device", "cuda"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CUDA is unavailable"));
}

#[test]
fn bad_dk_device_names_the_variable() {
    let out = bin().args(["info"]).env("DK_DEVICE", "tpu").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("DK_DEVICE=\"tpu\"") && e.contains("auto, cpu, cuda, cuda:N"), "{e}");
    let out = bin().args(["info", "--device", "gpu7"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("`--device`"));
}

#[test]
fn exec_copy_round_trips_npy_files() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let y = dir.path().join("y.npy");
    let vals: Vec<f64> = (0..12).map(|i| i as f64 / 3.0).collect();
    write_npy(&x, &[3, 4], &HostData::from_f64_iter(DType::F32, vals.iter().copied())).unwrap();
    let out = bin()
        .args([
            "exec",
            "copy",
            "--x",
            x.to_str().unwrap(),
            "--out",
            y.to_str().unwrap(),
            "--dtype",
            "f16",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let back = read_npy(&y, None).unwrap();
    assert_eq!(back.shape, vec![3, 4]);
    assert_eq!(back.data, HostData::from_f64_iter(DType::F16, vals.iter().copied()));
}

#[test]
fn exec_errors_are_clear() {
    let out = bin().args(["exec", "frobnicate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.npy");
    let out = bin()
        .args(["exec", "copy", "--x", missing.to_str().unwrap(), "--out", "o.npy", "--device", "cpu"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.npy"));
}

#[test]
fn check_and_bench_without_a_gpu_say_so() {
    let out = bin().args(["check", "--device", "cpu"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a CUDA device"));
    let out = bin().args(["bench", "softmax"]).env("DK_DEVICE", "cpu").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("benchmarks need a CUDA device"));
}

#[test]
fn bench_arguments_are_checked_before_the_device() {
    let run = |args: &[&str]| {
        let out = bin().args(args).env("DK_DEVICE", "cpu").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = run(&["bench", "matmul", "--n", "1,0"]);
    assert!(e.contains("`--n`") && e.contains("positive values"), "{e}");
    let e = run(&["bench", "matmul", "--shapes", "4096"]);
    assert!(e.contains("`--shapes`") && e.contains("MxK"), "{e}");
    let e = run(&["bench", "softmax", "--rows", "0"]);
    assert!(e.contains("`--rows`"), "{e}");
    let e = run(&["bench", "softmax", "--cols", "0,8"]);
    assert!(e.contains("`--cols`"), "{e}");
    let e = run(&["bench", "sdpa", "--lk", "512,0"]);
    assert!(e.contains("`--lk`") && e.contains("positive values"), "{e}");
}

#[test]
fn dk_profile_reports_every_launch_of_a_command_at_exit() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let y = dir.path().join("y.npy");
    let report = dir.path().join("profile.json");
    write_npy(&x, &[2, 8], &HostData::from_f64_iter(DType::F32, (0..16).map(|i| i as f64))).unwrap();
    let run = |profile: &str| {
        bin()
            .args(["exec", "copy", "--x", x.to_str().unwrap(), "--out", y.to_str().unwrap(), "--device", "cpu"])
            .env("DK_PROFILE", profile)
            .env("DK_PROFILE_OUT", &report)
            .output()
            .unwrap()
    };
    let off = run("0");
    assert!(off.status.success());
    assert!(!String::from_utf8_lossy(&off.stderr).contains("profile"), "profiling off prints nothing");
    assert!(!report.exists(), "profiling off writes nothing");
    let on = run("1");
    let err = String::from_utf8_lossy(&on.stderr);
    assert!(on.status.success() && err.contains("profile (DK_PROFILE)") && err.contains("copy/cpu/f32_f32"), "{err}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["rows"][0]["label"], "copy/cpu/f32_f32");
    assert_eq!(json["rows"][0]["count"], 1);
}

/// `decode` on the CPU backend as a newcomer reads it: both tables aligned
/// under their headers, no enqueue column (the CPU runs each op when called),
/// small throughputs printed with their digits, and no progress drawn when
/// stderr is not a terminal.
#[test]
fn decode_tables_align_on_the_cpu_backend() {
    let out = bin().args(["decode", "--model", "tiny", "--device", "cpu"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains("random weights") && !stderr.contains("timing"),
        "progress drawn off a terminal: {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let start =
        |head: &str| lines.iter().position(|l| l.starts_with(head)).unwrap_or_else(|| panic!("{head}: {stdout}"));
    let modes: Vec<&str> = lines[start("mode ")..].iter().take_while(|l| !l.starts_with('(')).copied().collect();
    let profile: Vec<&str> = lines[start("label ")..].iter().take_while(|l| !l.is_empty()).copied().collect();
    for table in [&modes, &profile] {
        decode_kernels::table::check_alignment(&table.join("\n")).unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    }
    assert!(!modes[0].contains("enqueue") && modes.len() == 2, "{stdout}");
    assert!(profile[0].contains("bytes/launch") && profile.last().unwrap().starts_with("total"), "{stdout}");
    // GB/s on the CPU is well under 10: printed with significant digits, never as a bare 0.
    let gbps = modes[1].split_whitespace().last().unwrap();
    assert!(gbps.parse::<f64>().unwrap() > 0.0 && gbps.contains('.'), "{stdout}");
}

//! The command line as a user runs it, on the CPU backend.

use std::process::Command;

use decode_kernels::context::Availability;
use decode_kernels::npy::{read_npy, write_npy};
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
    if Availability::probe().driver_lib {
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
    let e = run(&["bench", "sdpa", "--batch", "4,0", "--lk", "512"]);
    assert!(e.contains("`--batch`") && e.contains("positive values"), "{e}");
    // Block formats in `bench matmul --dtype`: K must be whole blocks of each.
    let e = run(&["bench", "matmul", "--dtype", "f16,q4_k", "--shapes", "4096x4096,64x4000"]);
    assert!(e.contains("`--shapes`") && e.contains("Q4_K") && e.contains("64x4000"), "{e}");
    // Well-formed: parsed, then the device is what is missing.
    let e = run(&["bench", "matmul", "--dtype", "q8_0,Q6_K", "--shapes", "256x256", "--n", "1"]);
    assert!(e.contains("CUDA"), "{e}");
    let out = bin().args(["bench", "matmul", "--dtype", "q5_k"]).env("DK_DEVICE", "cpu").output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && e.contains("--dtype") && e.contains("q4_k, q6_k"), "{e}");
    // A variant family that is not one (clap's usage error).
    let out = bin().args(["bench", "softmax", "--variants", "block,auto"]).env("DK_DEVICE", "cpu").output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && e.contains("--variants") && e.contains("vec, block or split"), "{e}");
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

/// Runs the binary on the CPU backend; returns (exit code, stdout, stderr).
fn run_cpu(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().args(args).env("DK_DEVICE", "cpu").env_remove("DK_PROFILE").output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn sizes_beyond_memory_are_refused_before_allocating() {
    // Each once aborted (SIGABRT) or ran into the OOM killer.
    for args in [
        &["decode", "--model", "tiny", "--context", "1000000000"][..],
        &["profile", "--model", "tiny", "--context", "1000000000"],
        &["decode", "--model", "tiny", "--batch", "100000", "--context", "10000000"],
        &["profile", "--model", "tiny", "--batch", "100000", "--context", "10000000"],
    ] {
        let t0 = std::time::Instant::now();
        let (code, _, e) = run_cpu(args);
        assert_eq!(code, Some(1), "{args:?}: {e}");
        assert!(e.contains("needs") && e.contains("host memory") && e.contains("available"), "{args:?}: {e}");
        assert!(e.contains("--context") && e.contains("GB"), "{e}");
        assert!(t0.elapsed().as_secs() < 20, "{args:?} took {:?}", t0.elapsed());
    }
    // A byte count past 64 bits is an error too, not a wrapped size.
    let (code, _, e) = run_cpu(&["decode", "--model", "llama3-8b", "--batch", "4294967296", "--context", "4294967296"]);
    assert_eq!(code, Some(1), "{e}");
    assert!(e.contains("overflow"), "{e}");
}

#[test]
fn exec_refuses_an_input_larger_than_memory() {
    // A sparse file whose header and length say 2^38 float32 elements (1 TiB):
    // refused from the header, before anything is read or allocated.
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (274877906944,), }";
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((dict.len() as u16 + 1).to_le_bytes());
    b.extend(dict.as_bytes());
    b.push(b'\n');
    std::fs::write(&x, &b).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&x).unwrap();
    if f.set_len(b.len() as u64 + (1 << 40)).is_err() {
        eprintln!("SKIPPED: this file system has no 1 TiB sparse files");
        return;
    }
    let y = dir.path().join("y.npy");
    for op in ["copy", "softmax"] {
        let (code, _, e) = run_cpu(&["exec", op, "--x", x.to_str().unwrap(), "--out", y.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{e}");
        assert!(
            e.contains("x.npy") && e.contains("needs") && e.contains("host memory") && e.contains("available"),
            "{e}"
        );
    }
    // A header that claims more than the file holds is truncated, not allocated.
    f.set_len(b.len() as u64 + 8).unwrap();
    let (code, _, e) = run_cpu(&["exec", "copy", "--x", x.to_str().unwrap(), "--out", y.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{e}");
    assert!(e.contains("truncated") && e.contains("1099511627776 data bytes") && e.contains("holds 8"), "{e}");
}

#[test]
fn exec_out_may_be_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let vals: Vec<f64> = (0..12).map(|i| i as f64 / 4.0).collect();
    write_npy(&x, &[3, 4], &HostData::from_f64_iter(DType::F32, vals.iter().copied())).unwrap();
    let xs = x.to_str().unwrap();
    let (code, _, e) = run_cpu(&["exec", "copy", "--x", xs, "--out", xs, "--dtype", "f16"]);
    assert_eq!(code, Some(0), "{e}");
    assert_eq!(read_npy(&x, None).unwrap().data, HostData::from_f64_iter(DType::F16, vals.iter().copied()));
    let (code, _, e) = run_cpu(&["exec", "softmax", "--x", xs, "--out", xs, "--dtype", "f32"]);
    assert_eq!(code, Some(0), "{e}");
    let back = read_npy(&x, None).unwrap();
    let row: f64 = (0..4).map(|j| back.data.get(j)).sum();
    assert!((row - 1.0).abs() < 1e-3, "{:?}", back.data);
    // No temporary file is left beside the output.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("x.npy")]);
}

#[test]
fn output_paths_are_checked_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("nodir").join("x.json");
    let bad = bad.to_str().unwrap();
    for (args, arg) in [
        (vec!["decode", "--model", "tiny", "--json", bad], "`--json`"),
        (vec!["profile", "--model", "tiny", "--csv", bad], "`--csv`"),
        (vec!["profile", "--model", "tiny", "--json", bad], "`--json`"),
        (vec!["exec", "copy", "--x", "missing.npy", "--out", bad], "`--out`"),
        (vec!["bench", "softmax", "--csv", bad], "`--csv`"),
        (vec!["tune", "--from-csv", "missing.csv", "--csv", bad], "`--csv`"),
    ] {
        let (code, out, e) = run_cpu(&args);
        assert_eq!(code, Some(1), "{args:?}: {e}");
        assert!(e.contains(arg) && e.contains("existing folder") && e.contains("nodir"), "{args:?}: {e}");
        assert!(out.is_empty(), "{args:?} ran before failing: {out}");
    }
    // DK_PROFILE_OUT too, when profiling is on.
    let x = dir.path().join("x.npy");
    write_npy(&x, &[2], &HostData::F32(vec![1.0, 2.0])).unwrap();
    let out = bin()
        .args(["exec", "copy", "--x", x.to_str().unwrap(), "--out", dir.path().join("y.npy").to_str().unwrap()])
        .env("DK_DEVICE", "cpu")
        .env("DK_PROFILE", "1")
        .env("DK_PROFILE_OUT", bad)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("DK_PROFILE_OUT") && e.contains("nodir") && !dir.path().join("y.npy").exists(), "{e}");
}

#[test]
fn messages_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    // A truncated .npy file: expected and actual bytes.
    let x = dir.path().join("x.npy");
    write_npy(&x, &[4, 4], &HostData::F32(vec![0.5; 16])).unwrap();
    let len = std::fs::metadata(&x).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&x).unwrap().set_len(len - 6).unwrap();
    let y = dir.path().join("y.npy");
    let (code, _, e) = run_cpu(&["exec", "copy", "--x", x.to_str().unwrap(), "--out", y.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{e}");
    assert!(e.contains("truncated") && e.contains("needs 64 data bytes") && e.contains("holds 58"), "{e}");
    // --device: "expected" once.
    let (code, _, e) = run_cpu(&["info", "--device", "banana"]);
    assert_eq!(code, Some(1), "{e}");
    assert!(!e.contains("expected expected") && e.contains("auto, cpu, cuda, cuda:N") && e.contains("banana"), "{e}");
    // Negative numbers for unsigned options name the option.
    for (args, opt) in [
        (&["decode", "--batch", "-1"][..], "--batch"),
        (&["decode", "--context=-5"], "--context"),
        (&["profile", "--steps", "-2"], "--steps"),
        (&["exec", "softmax", "--x", "x.npy", "--out", "y.npy", "--offset", "-1"], "--offset"),
        (&["bench", "matmul", "--n", "1,-2"], "--n"),
        (&["tune", "--runs", "-3"], "--runs"),
    ] {
        let (code, _, e) = run_cpu(args);
        assert_eq!(code, Some(2), "{args:?}: {e}");
        assert!(e.contains(opt) && e.contains("a negative number") && e.contains("whole number"), "{args:?}: {e}");
        assert!(!e.contains("invalid digit"), "{e}");
    }
}

#[test]
fn exec_peaks_near_twice_the_file_in_host_memory() {
    if !std::path::Path::new("/usr/bin/time").exists() {
        eprintln!("SKIPPED: no /usr/bin/time");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let y = dir.path().join("y.npy");
    let (rows, cols) = (4096usize, 4096usize); // 64 MiB of float32
    write_npy(&x, &[rows, cols], &HostData::F32((0..rows * cols).map(|i| (i % 97) as f32 * 0.01).collect())).unwrap();
    let file_kb = std::fs::metadata(&x).unwrap().len() / 1024;
    for op in ["copy", "softmax"] {
        let out = Command::new("/usr/bin/time")
            .args(["-f", "maxrss_kb=%M", env!("CARGO_BIN_EXE_decode-kernels"), "exec", op])
            .args(["--x", x.to_str().unwrap(), "--out", y.to_str().unwrap(), "--device", "cpu"])
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{e}");
        let kb: u64 = e.lines().find_map(|l| l.strip_prefix("maxrss_kb=")).unwrap().trim().parse().unwrap();
        // Input and output, plus the binary and bounded scratch (< 64 MiB).
        assert!(kb < 2 * file_kb + 64 * 1024, "{op}: peak {kb} kB for a {file_kb} kB file");
    }
}

/// The tuning table is read when a context opens, on every backend: a bad
/// DK_TUNING_FILE is an error on the CPU too, naming the file (and the line
/// for malformed JSON), never a silent fallback.
#[test]
fn a_bad_tuning_file_is_an_error_on_the_cpu_backend() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let malformed = dir.path().join("bad.json");
    std::fs::write(&malformed, "{\n  \"device\": 1,\n").unwrap();
    for (file, says) in [
        (missing.as_path(), "missing.json"),
        (dir.path(), "a directory"),
        (empty.as_path(), "line 1"),
        (malformed.as_path(), "line 2"),
    ] {
        let out = bin().args(["info"]).env("DK_DEVICE", "cpu").env("DK_TUNING_FILE", file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {stderr}", file.display());
        assert!(stderr.contains("DK_TUNING_FILE") && stderr.contains(says), "{}: {stderr}", file.display());
    }
    // A valid file is used; info names it.
    let good = dir.path().join("good.json");
    std::fs::write(&good, decode_kernels::tuning::TuningTable::sm90().to_json()).unwrap();
    let out = bin().args(["info"]).env("DK_DEVICE", "cpu").env("DK_TUNING_FILE", &good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("good.json"));
}

/// `DK_DEVICE` takes exactly the documented values.
#[test]
fn dk_device_takes_only_the_documented_values() {
    let out = bin().args(["info"]).env("DK_DEVICE", "gpu").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("DK_DEVICE") && stderr.contains("auto, cpu, cuda, cuda:N"),
        "{stderr}"
    );
}

/// `exec matmul` with A in blocks: a raw block file and a GGUF tensor,
/// against the f64 product of the dequantized weights; bad block files and
/// options are errors naming the argument.
#[test]
fn exec_matmul_takes_quantized_weights() {
    use decode_kernels::dtype::QuantKind;
    use decode_kernels::model::gguf::{GgufFile, Storage};
    use decode_kernels::spec::quant::{dequantize, random_blocks};
    use std::path::PathBuf;
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    // OUT[M, N] = A[M, K] · B[K, N] in f64 from the dequantized A, B given [N, K] or [K, N].
    let product = |w: &[f32], b_nk: &[f32], m: usize, k: usize, n: usize| -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|kk| w[i * k + kk] as f64 * b_nk[j * k + kk] as f64).sum();
            }
        }
        out
    };
    let bvals =
        |n: usize, k: usize| -> Vec<f32> { (0..n * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 400.0).collect() };
    let close = |got: &[f64], want: &[f64], what: &str| {
        let num: f64 = got.iter().zip(want).map(|(g, w)| (g - w) * (g - w)).sum();
        let den: f64 = want.iter().map(|w| w * w).sum();
        assert!((num / den).sqrt() < 1e-6, "{what}: relative error {}", (num / den).sqrt());
    };

    // A raw Q4_K block file, 6 x 512; B as [N, K] (--transpose-b) and as [K, N].
    let (m, k, n) = (6, 512, 3);
    let blocks = random_blocks(QuantKind::Q4_K, m * k / 256, 9, 1.0);
    std::fs::write(p("w.bin"), &blocks).unwrap();
    let w = dequantize(QuantKind::Q4_K, &blocks, m * k).unwrap();
    let b_nk = bvals(n, k);
    write_npy(&p("b_nk.npy"), &[n, k], &HostData::F32(b_nk.clone())).unwrap();
    let b_kn: Vec<f32> = (0..k * n).map(|i| b_nk[(i % n) * k + i / n]).collect();
    write_npy(&p("b_kn.npy"), &[k, n], &HostData::F32(b_kn)).unwrap();
    let want = product(&w, &b_nk, m, k, n);
    let base = ["exec", "matmul", "--device", "cpu", "--a-blocks"];
    for (b, t) in [("b_nk.npy", true), ("b_kn.npy", false)] {
        let out = p(&format!("out_{t}.npy"));
        let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        args.extend([p("w.bin").display().to_string(), "--a-type".into(), "q4_k".into(), "--a-shape".into()]);
        args.extend([format!("{m}x{k}"), "--b".into(), p(b).display().to_string(), "--out".into()]);
        args.push(out.display().to_string());
        if t {
            args.push("--transpose-b".into());
        }
        let r = bin().args(&args).output().unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let got = read_npy(&out, None).unwrap();
        assert_eq!(got.shape, vec![m, n]);
        close(&(0..m * n).map(|i| got.data.get(i)).collect::<Vec<_>>(), &want, b);
    }

    // A GGUF tensor by name (the Q8_0 fixture's first down projection, rows as stored).
    let gguf = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/qwen2_q8_0.gguf");
    let name = "blk.0.ffn_down.weight";
    let g = GgufFile::open(&gguf).unwrap();
    let (info, storage, bytes) = g.tensor_raw(name).unwrap();
    let Storage::Quant(kind) = storage else { panic!("{name} is not quantized in the fixture") };
    let (gm, gk) = (info.shape()[0], info.shape()[1]);
    let w = dequantize(kind, bytes, gm * gk).unwrap();
    let b_nk = bvals(2, gk);
    write_npy(&p("b2.npy"), &[2, gk], &HostData::F32(b_nk.clone())).unwrap();
    let r = bin()
        .args(["exec", "matmul", "--device", "cpu", "--a-gguf"])
        .arg(&gguf)
        .args(["--a-tensor", name, "--transpose-b", "--b"])
        .arg(p("b2.npy"))
        .arg("--out")
        .arg(p("g.npy"))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let got = read_npy(&p("g.npy"), None).unwrap();
    assert_eq!(got.shape, vec![gm, 2]);
    close(&(0..gm * 2).map(|i| got.data.get(i)).collect::<Vec<_>>(), &product(&w, &b_nk, gm, gk, 2), name);

    // Errors name the argument.
    let fail = |args: &[&str]| {
        let r = bin().args(args).output().unwrap();
        assert_ne!(r.status.code(), Some(0), "{args:?}");
        String::from_utf8_lossy(&r.stderr).to_string()
    };
    let wbin = p("w.bin").display().to_string();
    let bnk = p("b_nk.npy").display().to_string();
    let o = p("x.npy").display().to_string();
    let common = ["exec", "matmul", "--device", "cpu", "--b", &bnk, "--transpose-b", "--out", &o];
    let e = fail(&[&common[..], &["--a-blocks", &wbin, "--a-type", "q4_k", "--a-shape", "6x256"]].concat());
    assert!(e.contains("`--a-blocks`") && e.contains("bytes"), "{e}");
    let e =
        fail(&[&common[..], &["--a-blocks", &wbin, "--a-type", "q4_k", "--a-shape", "6x512", "--beta", "1"]].concat());
    assert!(e.contains("`--c`"), "{e}");
    let e = fail(&[&common[..], &["--a-blocks", &wbin, "--a-type", "q4_k", "--a-shape", "12x256"]].concat());
    assert!(e.contains("`--b`") && e.contains("256"), "{e}");
    let e = fail(&[&common[..], &["--a-blocks", &wbin, "--a-type", "q5_k", "--a-shape", "6x512"]].concat());
    assert!(e.contains("--a-type"), "{e}");
    let e = fail(&[&common[..], &["--a-blocks", &wbin, "--a-type", "q4_k"]].concat());
    assert!(e.contains("--a-shape"), "{e}");
    let e = fail(
        &[&common[..], &["--a-blocks", &wbin, "--a-type", "q4_k", "--a-shape", "6x512", "--transpose-a"]].concat(),
    );
    assert!(e.contains("`--transpose-a`"), "{e}");
    let e =
        fail(&[&common[..], &["--a-blocks", &wbin, "--a-type", "q4_k", "--a-shape", "6x512", "--group", "2"]].concat());
    assert!(e.contains("`--group`"), "{e}");
    let e = fail(
        &[&common[..], &["--a-gguf", &gguf.display().to_string(), "--a-tensor", "blk.0.attn_norm.weight"]].concat(),
    );
    assert!(e.contains("`--a-tensor`") && e.contains("2-D"), "{e}");
}

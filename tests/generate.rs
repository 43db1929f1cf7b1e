//! `decode-kernels generate` end to end on the CPU backend, run as a user runs
//! it (the built binary), on the committed tiny fixtures
//! (tests/fixtures/models, or DK_FIXTURES_DIR): transformers' prompt tokens,
//! greedy tokens and logits; seeded sampling; stop strings; EOS; and the
//! message of every bad argument. Skipped, with a notice, where the fixtures
//! are absent.

mod fixtures_common;

use std::path::Path;
use std::process::{Command, Output};

use decode_kernels::npy::read_npy;
use decode_kernels::DType;
use fixtures_common::{expected, fixtures, ids};
use serde_json::Value;

/// A step whose float32 top-2 margin (transformers') is below this is a
/// near-tie: f32 rounding in another order may pick the other token, so
/// tokens are compared only before the first one.
const TIE: f64 = 1e-3;
/// Bound on the relative L2 error ||ours - transformers'|| / ||transformers'||
/// of each logits row, both computed in float32 (ours: the CPU backend, f64
/// accumulation inside each op, f32 tensors between ops).
const LOGITS_REL_L2: f64 = 1e-4;

/// Runs `generate --model MODEL --device cpu ARGS`.
fn run(model: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_decode-kernels"))
        .args(["generate", "--model", model.to_str().unwrap(), "--device", "cpu"])
        .args(args)
        .env("DK_DEVICE", "cpu")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and returns the JSON report (and the process's output); fails on a
/// non-zero exit.
fn run_json(model: &Path, args: &[&str]) -> (Value, Output) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let mut all = args.to_vec();
    all.extend(["--json", json.to_str().unwrap()]);
    let out = run(model, &all);
    assert!(out.status.success(), "generate {args:?} failed:\n{}", stderr(&out));
    (serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap(), out)
}

fn tokens(v: &Value, seq: usize) -> Vec<u32> {
    ids(&v["sequences"][seq]["tokens"])
}

#[test]
fn greedy_generation_matches_transformers() {
    let Some(root) = fixtures() else { return };
    // llama.gguf: llama3 RoPE scaling recovered from the GGUF's per-pair divisors.
    for name in ["llama", "llama.gguf", "mistral", "qwen2", "qwen2.gguf", "qwen3", "llama256", "llama256.gguf"] {
        let folder = root.join(name.trim_end_matches(".gguf"));
        let exp = expected(&folder);
        let prompts = exp["prompts"].as_array().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let npy = dir.path().join("logits.npy");
        let mut args = vec!["--temperature", "0", "--max-tokens", "16", "--dtype", "f32"];
        args.extend(["--dump-logits", npy.to_str().unwrap()]);
        for p in prompts {
            args.extend(["--prompt", p["text"].as_str().unwrap()]);
        }
        let (v, _) = run_json(&root.join(name), &args);
        let seqs = v["sequences"].as_array().unwrap();
        assert_eq!(seqs.len(), prompts.len(), "{name}");
        let dumped = read_npy(&npy, Some(DType::F32)).unwrap();
        let (steps, vocab) = (dumped.shape[1], dumped.shape[2]);
        assert_eq!(dumped.shape, vec![prompts.len(), steps, 400], "{name}");
        let mut worst: f64 = 0.0;
        for (i, (p, s)) in prompts.iter().zip(seqs).enumerate() {
            let what = format!("{name} prompt {i}");
            assert_eq!(ids(&s["prompt_tokens"]), ids(&p["prompt_tokens"]), "{what}: prompt tokens");
            let (ours, greedy) = (ids(&s["tokens"]), ids(&p["greedy_tokens"]));
            let margins: Vec<f64> = p["top2_margin"].as_array().unwrap().iter().map(|m| m.as_f64().unwrap()).collect();
            // Tokens are compared up to the first near-tie; that step's logits still are
            // (its context equals transformers').
            let tie = margins.iter().position(|&m| m < TIE);
            // transformers generated 16 tokens without stopping at an EOS;
            // generate stops at one, so an EOS among transformers' tokens ends
            // the comparison there (the EOS itself included).
            let eos_at = greedy.iter().position(|&t| s["finish_reason"] == "eos" && Some(&t) == ours.last());
            let same = tie.unwrap_or(16).min(eos_at.map_or(16, |e| e + 1));
            assert!(ours.len() >= same, "{what}: {} tokens ({}), transformers' 16", ours.len(), s["finish_reason"]);
            assert_eq!(ours[..same], greedy[..same], "{what}: greedy tokens");
            match tie {
                Some(t) => eprintln!(
                    "{what}: near-tie at step {t} (margin {} < {TIE}): tokens compared for steps 0..{t} only",
                    margins[t]
                ),
                None if eos_at.is_some() => assert_eq!(ours.len(), same, "{what}: stops at transformers' EOS"),
                None => {
                    assert_eq!(s["finish_reason"], "length", "{what}");
                    assert_eq!(ours.len(), 16, "{what}");
                    if !greedy.iter().any(|&t| t >= 398) {
                        assert_eq!(s["text"], p["greedy_text"], "{what}: text");
                    }
                }
            }
            let want = read_npy(&folder.join(p["logits_file"].as_str().unwrap()), Some(DType::F32)).unwrap();
            let rows = (same + 1).min(ours.len());
            for r in 0..steps {
                let got: Vec<f64> = (0..vocab).map(|c| dumped.data.get((i * steps + r) * vocab + c)).collect();
                if r >= ours.len() {
                    assert!(got.iter().all(|x| x.is_nan()), "{what}: row {r} past the sequence is not NaN padding");
                    continue;
                }
                if r >= rows {
                    continue;
                }
                let w: Vec<f64> = (0..vocab).map(|c| want.data.get(r * vocab + c)).collect();
                let diff = got.iter().zip(&w).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
                let rel = diff / w.iter().map(|b| b * b).sum::<f64>().sqrt();
                assert!(rel < LOGITS_REL_L2, "{what} step {r}: logits relative L2 error {rel:.2e}");
                worst = worst.max(rel);
            }
        }
        eprintln!("{name}: generate --temperature 0 (CPU, f32): logits relative L2 error at most {worst:.2e}");
    }
}

#[test]
fn sampling_is_seeded_and_top_k_1_is_greedy() {
    let Some(root) = fixtures() else { return };
    let model = root.join("qwen2");
    let p = &expected(&model)["prompts"][0];
    let prompt = p["text"].as_str().unwrap();
    let sample = |seed: &str, extra: &[&str]| {
        let mut args = vec!["--prompt", prompt, "--max-tokens", "16", "--temperature", "1.2", "--seed", seed];
        args.extend(extra);
        tokens(&run_json(&model, &args).0, 0)
    };
    let a = sample("7", &["--top-p", "0.95", "--min-p", "0.01"]);
    assert_eq!(a, sample("7", &["--top-p", "0.95", "--min-p", "0.01"]), "same seed, same tokens");
    let seeds: Vec<Vec<u32>> = ["1", "2", "3", "4"].iter().map(|s| sample(s, &[])).collect();
    assert!(seeds.iter().any(|t| *t != seeds[0]), "four seeds gave the same tokens: {seeds:?}");
    // Only the best token left: every draw picks it, whatever the seed.
    assert_eq!(sample("3", &["--top-k", "1"]), ids(&p["greedy_tokens"]), "top-k 1 against greedy");
    // Two prompts in one run: sequence 0 draws as a single run does (row 0),
    // sequence 1 from its own stream (row 1), so the same prompt goes elsewhere.
    let (two, _) = run_json(
        &model,
        &["--prompt", prompt, "--prompt", prompt, "--max-tokens", "16", "--temperature", "1.2", "--seed", "1"],
    );
    assert_eq!(tokens(&two, 0), seeds[0]);
    assert_ne!(tokens(&two, 1), tokens(&two, 0));
    // A repetition penalty changes greedy tokens on a repetitive prompt.
    let p3 = &expected(&model)["prompts"][3];
    let args = ["--prompt", p3["text"].as_str().unwrap(), "--max-tokens", "16", "--temperature", "0"];
    let plain = tokens(&run_json(&model, &args).0, 0);
    assert_eq!(plain, ids(&p3["greedy_tokens"]));
    let mut penalised = args.to_vec();
    penalised.extend(["--repeat-penalty", "2"]);
    assert_ne!(tokens(&run_json(&model, &penalised).0, 0), plain);
}

#[test]
fn a_stop_string_stops_and_is_not_printed() {
    let Some(root) = fixtures() else { return };
    let model = root.join("qwen2");
    let p = &expected(&model)["prompts"][0];
    let greedy_text = p["greedy_text"].as_str().unwrap();
    let stop = " of";
    let cut = greedy_text.find(stop).expect("the fixture's greedy text holds \" of\"");
    let (v, out) = run_json(
        &model,
        &["--prompt", p["text"].as_str().unwrap(), "--temperature", "0", "--stop", stop, "--stop", "zz"],
    );
    let s = &v["sequences"][0];
    assert_eq!(s["finish_reason"], "stop");
    assert_eq!(s["text"], greedy_text[..cut]);
    let greedy = ids(&p["greedy_tokens"]);
    let ours = tokens(&v, 0);
    assert!(ours.len() < 16 && ours[..] == greedy[..ours.len()], "{ours:?}");
    // One prompt: the text streamed to stdout, then a newline; never the stop string.
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{}\n", &greedy_text[..cut]));
    let e = stderr(&out);
    for what in ["load: ", "prompt: 12 tokens", "time to first token", "prefill", "decode: "] {
        assert!(e.contains(what), "stderr lacks {what}: {e}");
    }
}

#[test]
fn an_eos_id_of_generation_config_stops() {
    let Some(root) = fixtures() else { return };
    let src = root.join("qwen2");
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap().path();
        if !f.file_name().unwrap().to_string_lossy().ends_with(".npy") {
            std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
        }
    }
    let p = &expected(&src)["prompts"][0];
    let greedy = ids(&p["greedy_tokens"]);
    // The fourth greedy token, first seen there, made an EOS id by generation_config.json.
    assert!(!greedy[..3].contains(&greedy[3]));
    std::fs::write(
        dir.path().join("generation_config.json"),
        format!("{{\"bos_token_id\": 399, \"eos_token_id\": [{}]}}", greedy[3]),
    )
    .unwrap();
    // With a second prompt that does not reach it: the dumped logits of the
    // shorter sequence are padded with NaN.
    let p1 = &expected(&src)["prompts"][1];
    assert!(!ids(&p1["greedy_tokens"]).contains(&greedy[3]));
    let npy = dir.path().join("logits.npy");
    let args = [
        "--prompt",
        p["text"].as_str().unwrap(),
        "--prompt",
        p1["text"].as_str().unwrap(),
        "--temperature",
        "0",
        "--max-tokens",
        "16",
        "--dump-logits",
        npy.to_str().unwrap(),
    ];
    let (v, _) = run_json(dir.path(), &args);
    let s = &v["sequences"][0];
    assert_eq!(s["finish_reason"], "eos");
    assert_eq!(tokens(&v, 0), greedy[..4], "the EOS id is the last token");
    assert_eq!(
        (v["sequences"][1]["finish_reason"].as_str(), tokens(&v, 1)),
        (Some("length"), ids(&p1["greedy_tokens"]))
    );
    let dumped = read_npy(&npy, Some(DType::F32)).unwrap();
    assert_eq!(dumped.shape, vec![2, 16, 400]);
    let row_nan = |r: usize| (0..400).map(|c| dumped.data.get(r * 400 + c).is_nan()).collect::<Vec<_>>();
    assert!((0..4).all(|r| row_nan(r).iter().all(|n| !n)) && (4..16).all(|r| row_nan(r).iter().all(|n| *n)));
    let tok = decode_kernels::model::Tokenizer::from_file(&dir.path().join("tokenizer.json")).unwrap();
    assert_eq!(s["text"], tok.decode(&greedy[..3], true).unwrap(), "the EOS is not in the text");
    // Without logits kept, decode steps are pipelined (the step after an EOS
    // is queued before the EOS is seen, then discarded): the same sequences.
    let (piped, _) = run_json(dir.path(), &args[..args.len() - 2]);
    for i in 0..2 {
        for field in ["tokens", "text", "finish_reason"] {
            assert_eq!(piped["sequences"][i][field], v["sequences"][i][field], "sequence {i}'s {field}");
        }
    }
}

#[test]
fn bad_arguments_are_named() {
    let Some(root) = fixtures() else { return };
    let model = root.join("qwen2");
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no/such/folder/out.json");
    let p = "The quick brown fox"; // 12 tokens; the model's max_position_embeddings is 256
    let cases: &[(&[&str], &[&str])] = &[
        (&["--temperature", "-1"], &["`--temperature`", "a finite number >= 0", "-1"]),
        (&["--temperature", "nan"], &["`--temperature`", "NaN"]),
        (&["--temperature", "inf"], &["`--temperature`", "inf"]),
        (&["--top-p", "1.5"], &["`--top-p`", "from 0 to 1", "1.5"]),
        (&["--min-p", "-0.1"], &["`--min-p`", "from 0 to 1"]),
        (&["--top-k", "0"], &["`--top-k`", "at least 1"]),
        (&["--top-k", "-1"], &["--top-k", "a negative number"]),
        (&["--repeat-penalty", "0"], &["`--repeat-penalty`", "> 0"]),
        (&["--max-tokens", "0"], &["`--max-tokens`", "at least 1"]),
        (&["--max-tokens", "300"], &["`--max-tokens`", "at most 244", "max_position_embeddings 256"]),
        (&["--max-context", "10"], &["`--max-context`", "at least the prompt's 12 tokens + max_tokens 64 = 76"]),
        (&["--max-context", "1000"], &["`--max-context`", "max_position_embeddings (256)"]),
        (&["--stop", ""], &["`--stop`", "non-empty"]),
        (&["--json", nowhere.to_str().unwrap()], &["`--json`", "existing folder"]),
        (&["--dump-logits", dir.path().to_str().unwrap()], &["`--dump-logits`", "not a folder"]),
        (&["--seed", "x"], &["--seed", "not a whole number"]),
    ];
    for (extra, want) in cases {
        let mut args = vec!["--prompt", p];
        args.extend(*extra);
        let out = run(&model, &args);
        assert!(!out.status.success(), "{extra:?} succeeded");
        let e = stderr(&out);
        for w in *want {
            assert!(e.contains(w), "{extra:?}: {w:?} not in: {e}");
        }
    }
    // The prompt: missing, given twice over, or empty once tokenized (qwen2 adds no BOS).
    let out = run(&model, &["--temperature", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--prompt"), "{}", stderr(&out));
    let file = dir.path().join("prompt.txt");
    std::fs::write(&file, "").unwrap();
    let out = run(&model, &["--prompt", p, "--prompt-file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&model, &["--prompt-file", file.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("`--prompt-file`: expected text that tokenizes to at least 1 token"),
        "{}",
        stderr(&out)
    );
    let out = run(&model, &["--prompt", p, "--prompt", ""]);
    let e = stderr(&out);
    assert!(e.contains("`--prompt`") && e.contains("(prompt 2)"), "{e}");
    let out = run(&dir.path().join("missing"), &["--prompt", p]);
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
    // Graph mode needs a GPU; prompt ids must be ids, and at least one.
    let msg = |args: &[&str]| {
        let out = run(&model, args);
        assert!(!out.status.success(), "{args:?} succeeded");
        stderr(&out)
    };
    let e = msg(&["--prompt", p, "--mode", "graph"]);
    assert!(e.contains("`mode`") && e.contains("graph needs a CUDA device"), "{e}");
    let e = msg(&["--prompt", p, "--mode", "fast"]);
    assert!(e.contains("--mode") && e.contains("eager or graph"), "{e}");
    let e = msg(&["--prompt-ids", "1,x,3"]);
    assert!(e.contains("`--prompt-ids`") && e.contains("comma-separated token ids"), "{e}");
    let e = msg(&["--prompt-ids", ","]);
    assert!(e.contains("`--prompt-ids`") && e.contains("at least 1 token id"), "{e}");
    let e = msg(&["--prompt-ids", "1,400", "--max-tokens", "2"]);
    assert!(e.contains("`tokens`") && e.contains("below the vocabulary size 400"), "{e}");
    // Without a tokenizer: ids work (the ids are printed), text and stop strings are refused.
    let bare = dir.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    for f in ["config.json", "generation_config.json", "model.safetensors.index.json"] {
        if model.join(f).exists() {
            std::fs::copy(model.join(f), bare.join(f)).unwrap();
        }
    }
    for f in std::fs::read_dir(&model).unwrap().filter_map(|e| e.ok()) {
        if f.file_name().to_string_lossy().ends_with(".safetensors") {
            std::fs::copy(f.path(), bare.join(f.file_name())).unwrap();
        }
    }
    let out = run(&bare, &["--prompt-ids", "5,6,7", "--max-tokens", "3", "--temperature", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(printed.split(',').count(), 3, "{printed}");
    let out = run(&bare, &["--prompt", p]);
    let e = stderr(&out);
    assert!(e.contains("no tokenizer.json") && e.contains("--prompt-ids"), "{e}");
    let out = run(&bare, &["--prompt-ids", "5,6,7", "--stop", "x"]);
    let e = stderr(&out);
    assert!(e.contains("stop strings without a tokenizer"), "{e}");
}

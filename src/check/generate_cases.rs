//! Check cases of whole generations: every committed transformers fixture
//! (tests/fixtures/models, or DK_FIXTURES_DIR), its prompts decoded together
//! on the checked context in eager and in graph mode, greedy in f32, against
//! transformers' tokens in expected.json. Registered only where the fixtures
//! are (a checkout's root); the graph cases need a GPU.

use std::path::{Path, PathBuf};

use super::{Case, Checker, Outcome};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::model::generate::{generate_batch, GenerateOptions, SamplingParams, StepMode};
use crate::model::{LoadOptions, Model};

/// transformers' top-two logit margin under which a greedy choice is a near
/// tie: tokens are compared up to the first one (tests/generate.rs likewise).
const TIE: f64 = 1e-3;

fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DK_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("tests/fixtures/models"));
    dir.join("manifest.json").is_file().then_some(dir)
}

pub fn all() -> Vec<Case> {
    let Some(dir) = fixtures_dir() else { return Vec::new() };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    let folder = dir.join(n.trim_end_matches(".gguf"));
                    folder.join("expected.json").is_file() && (n.ends_with(".gguf") || dir.join(n).is_dir())
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut v = Vec::new();
    for name in names {
        for (mode, tag) in [(StepMode::Eager, "eager"), (StepMode::Graph, "graph")] {
            let (dir, name2) = (dir.clone(), name.clone());
            v.push(Case {
                op: "generate",
                name: format!("{name}/{tag}"),
                dtype: DType::F32,
                run: Box::new(move |c: &mut Checker| generate_case(c, &dir, &name2, mode)),
            });
        }
    }
    v
}

fn json_ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_u64()).map(|x| x as u32).collect()).unwrap_or_default()
}

/// The fraction of prompts whose tokenization or greedy tokens differ from
/// transformers' (0 passes); the note says how far each was compared.
fn generate_case(c: &mut Checker, dir: &Path, name: &str, mode: StepMode) -> Result<Outcome> {
    let folder = dir.join(name.trim_end_matches(".gguf"));
    let bad_fixture =
        |what: &str| Error::invalid("check", "fixture", format!("{} with {what}", folder.display()), name);
    let text = std::fs::read_to_string(folder.join("expected.json"))
        .map_err(Error::io("reading", folder.join("expected.json")))?;
    let exp: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad_fixture("a readable expected.json"))?;
    let prompts = exp["prompts"].as_array().ok_or_else(|| bad_fixture("prompts"))?;
    let model =
        Model::load_with(c.gpu, &dir.join(name), &LoadOptions { dtype: Some(DType::F32), ..Default::default() })?;
    let tok = model.tokenizer.as_ref().ok_or_else(|| bad_fixture("a tokenizer"))?;
    let mut ids = Vec::new();
    let mut wrong = 0usize;
    for p in prompts {
        let got = tok.encode(p["text"].as_str().unwrap_or_default(), true)?;
        if got != json_ids(&p["prompt_tokens"]) {
            wrong += 1;
        }
        ids.push(json_ids(&p["prompt_tokens"]));
    }
    let opts = GenerateOptions { max_tokens: 16, sampling: SamplingParams::greedy(), mode, ..Default::default() };
    let gens = generate_batch(c.gpu, &model, &ids, &opts, &mut |_, _| Ok(()))?;
    let mut notes = Vec::new();
    for (i, (p, g)) in prompts.iter().zip(&gens).enumerate() {
        let want = json_ids(&p["greedy_tokens"]);
        let margins: Vec<f64> =
            p["top2_margin"].as_array().map(|a| a.iter().filter_map(|m| m.as_f64()).collect()).unwrap_or_default();
        let tie = margins.iter().position(|&m| m < TIE);
        // generate stops at an EOS (transformers did not): compare up to it.
        let eos_stop = g.finish_reason == crate::model::FinishReason::Eos;
        let upto = tie.unwrap_or(want.len()).min(if eos_stop { g.tokens.len() } else { want.len() });
        let same = g.tokens.len() >= upto && g.tokens[..upto] == want[..upto.min(want.len())];
        if !same {
            wrong += 1;
            notes.push(format!("prompt {i}: {:?} against transformers' {:?}", g.tokens, want));
        } else if let Some(t) = tie {
            notes.push(format!("prompt {i}: near tie at step {t}, compared up to it"));
        }
    }
    Ok(Outcome {
        op: "generate".into(),
        case: String::new(),
        dtype: DType::F32,
        rel_l2: wrong as f64 / prompts.len().max(1) as f64,
        tolerance: 0.0,
        unwritten: 0,
        clobbered: 0,
        error: None,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

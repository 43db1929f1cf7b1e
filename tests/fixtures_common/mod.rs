//! Where the transformers-made fixtures are and how their expectations read,
//! for every test that compares with them.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// tests/fixtures/models, or the folder DK_FIXTURES_DIR names; None (with a
/// notice) where the fixtures are absent.
pub fn fixtures() -> Option<PathBuf> {
    let dir = match std::env::var_os("DK_FIXTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models"),
    };
    if dir.join("manifest.json").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: no fixtures at {} (set DK_FIXTURES_DIR)", dir.display());
        None
    }
}

/// A fixture folder's expected.json.
pub fn expected(folder: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(folder.join("expected.json")).unwrap()).unwrap()
}

/// A JSON array of token ids.
pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

//! Tokenizers: the `tokenizers` crate on a tokenizer.json (normaliser,
//! pre-tokeniser, post-processor and added tokens as transformers uses
//! them), or an equivalent one built from GGUF metadata; and a streaming
//! decoder that only ever emits complete UTF-8 text.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::gguf::{GgufFile, GgufValue};
use super::{bad, unsupported};
use crate::error::Result;

/// Pre-tokeniser split pattern of Llama 3's tokenizer (GGUF `tokenizer.ggml.pre` = "llama-bpe").
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Pre-tokeniser split pattern of Qwen2's tokenizer (`tokenizer.ggml.pre` = "qwen2"): single digits.
const QWEN2_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A tokenizer and where it came from.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("path", &self.path).field("vocab", &self.vocab_size()).finish()
    }
}

impl Tokenizer {
    /// Loads a tokenizer.json.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::error::Error::io("reading", path))?;
        Self::from_json_str(&text, path)
    }

    /// Parses tokenizer.json text; `path` is named in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        let inner: tokenizers::Tokenizer = text
            .parse()
            .map_err(|e| bad(path, "(the whole file)", "a tokenizer.json the tokenizers crate reads", e))?;
        Ok(Tokenizer { inner, path: path.to_path_buf() })
    }

    /// Builds the tokenizer a GGUF file describes (`tokenizer.ggml.*`):
    /// `gpt2` byte-level BPE with merges, or a SentencePiece `llama` vocabulary
    /// (tokens and scores) converted as transformers converts one.
    pub fn from_gguf(g: &GgufFile) -> Result<Self> {
        let path = g.file();
        let json = gguf_tokenizer_json(g)?;
        let inner: tokenizers::Tokenizer = json
            .to_string()
            .parse()
            .map_err(|e| bad(path, "metadata `tokenizer.ggml.*`", "a vocabulary the tokenizers crate accepts", e))?;
        Ok(Tokenizer { inner, path: path.to_path_buf() })
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token (added tokens included).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token ids of `text`; with `add_special_tokens` the post-processor adds
    /// what transformers' `encode` adds (e.g. Llama's BOS).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| bad(&self.path, "encode", "text the tokenizer can encode", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids` (special tokens left out when `skip_special_tokens`).
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| bad(&self.path, "decode", "token ids within the vocabulary", e))
    }

    /// A streaming decoder over this tokenizer.
    pub fn stream(&self, skip_special_tokens: bool) -> StreamDecoder<'_> {
        StreamDecoder { tok: self, ids: Vec::new(), prefix: 0, read: 0, skip_special_tokens }
    }
}

/// Turns tokens into text as they come, emitting only complete UTF-8: a
/// token that ends mid-character (its decoded text ends in U+FFFD) is held
/// back until the character completes. Decodes a window starting one emitted
/// token back, so decoders that treat the first token specially (a leading
/// space stripped) see the same context as a decode of the whole sequence.
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    ids: Vec<u32>,
    /// Start of the decoding window.
    prefix: usize,
    /// Tokens whose text has been emitted.
    read: usize,
    skip_special_tokens: bool,
}

impl StreamDecoder<'_> {
    /// Adds a token; returns the new text, if a complete piece is ready.
    pub fn push(&mut self, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let before = self.tok.decode(&self.ids[self.prefix..self.read], self.skip_special_tokens)?;
        let now = self.tok.decode(&self.ids[self.prefix..], self.skip_special_tokens)?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') {
            let text = match now.strip_prefix(before.as_str()) {
                Some(s) => s.to_string(),
                // The window's text was rewritten (rare): emit what follows the
                // common part, on a character boundary.
                None => {
                    let mut cut = before.len().min(now.len());
                    while !now.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    now[cut..].to_string()
                }
            };
            self.prefix = self.read;
            self.read = self.ids.len();
            return Ok(Some(text));
        }
        Ok(None)
    }

    /// Every token pushed so far.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Text still held back (an incomplete character at the end), decoded as
    /// is; call at the end of generation.
    pub fn flush(&mut self) -> Result<Option<String>> {
        if self.read == self.ids.len() {
            return Ok(None);
        }
        let before = self.tok.decode(&self.ids[self.prefix..self.read], self.skip_special_tokens)?;
        let now = self.tok.decode(&self.ids[self.prefix..], self.skip_special_tokens)?;
        self.prefix = self.read;
        self.read = self.ids.len();
        Ok(now.strip_prefix(before.as_str()).map(str::to_string).filter(|s| !s.is_empty()))
    }
}

fn strings<'a>(g: &'a GgufFile, key: &str) -> Result<Vec<&'a str>> {
    let path = g.file();
    let v = g.get(key).ok_or_else(|| bad(path, &format!("metadata `{key}`"), "an array of strings", "missing"))?;
    let a =
        v.as_array().ok_or_else(|| bad(path, &format!("metadata `{key}`"), "an array of strings", "another type"))?;
    a.iter()
        .map(|s| {
            s.as_str()
                .ok_or_else(|| bad(path, &format!("metadata `{key}`"), "an array of strings", "a non-string element"))
        })
        .collect()
}

/// The tokenizer.json equivalent of a GGUF's `gpt2` tokenizer metadata.
fn gguf_tokenizer_json(g: &GgufFile) -> Result<Value> {
    let path = g.file();
    let model = g.get_str("tokenizer.ggml.model")?;
    if model != "gpt2" && model != "llama" {
        return Err(unsupported(
            path,
            "metadata `tokenizer.ggml.model`",
            format!("{model:?} vocabularies (\"gpt2\" byte-level BPE and \"llama\" SentencePiece BPE are supported)"),
        ));
    }
    let tokens = strings(g, "tokenizer.ggml.tokens")?;
    let types: Vec<u64> = match g.get("tokenizer.ggml.token_type").and_then(GgufValue::as_array) {
        Some(a) => a.iter().map(|v| v.as_u64().unwrap_or(1)).collect(),
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(bad(
            path,
            "metadata `tokenizer.ggml.token_type`",
            format!("one type per token ({})", tokens.len()),
            types.len(),
        ));
    }
    if model == "llama" {
        return spm_tokenizer_json(g, &tokens, &types);
    }
    let merges = strings(g, "tokenizer.ggml.merges")?;
    let pre = g.get("tokenizer.ggml.pre").and_then(GgufValue::as_str).unwrap_or("default");
    let split = |pattern: &str| {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
        ]})
    };
    let (pre_tokenizer, ignore_merges) = match pre {
        "default" | "gpt-2" | "gpt2" => {
            (json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}), false)
        }
        "llama-bpe" | "llama3" => (split(LLAMA3_PATTERN), true),
        "qwen2" => (split(QWEN2_PATTERN), false),
        other => {
            return Err(unsupported(
                path,
                "metadata `tokenizer.ggml.pre`",
                format!("pre-tokenizer {other:?} (default, gpt-2, llama-bpe and qwen2 are known)"),
            ))
        }
    };
    let mut vocab = Map::new();
    let mut added = Vec::new();
    for (id, (tok, ty)) in tokens.iter().zip(&types).enumerate() {
        vocab.insert(tok.to_string(), json!(id));
        // 3 = control, 4 = user-defined: matched whole before the model, as added tokens.
        if *ty == 3 || *ty == 4 {
            added.push(json!({"id": id, "content": tok, "single_word": false, "lstrip": false, "rstrip": false,
                              "normalized": *ty == 4, "special": *ty == 3}));
        }
    }
    let post_processor = bos_template(g, &tokens, false)?;
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges}
    }))
}

/// The post-processor that prepends BOS when `tokenizer.ggml.add_bos_token`
/// (default `default_add`) says so; null otherwise.
fn bos_template(g: &GgufFile, tokens: &[&str], default_add: bool) -> Result<Value> {
    let path = g.file();
    let bos = g.opt_usize("tokenizer.ggml.bos_token_id")?;
    let add_bos = match g.get("tokenizer.ggml.add_bos_token") {
        None => default_add,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| bad(path, "metadata `tokenizer.ggml.add_bos_token`", "a bool", format!("{v:?}")))?,
    };
    match (add_bos, bos) {
        (true, Some(b)) => {
            let t = tokens.get(b).ok_or_else(|| {
                bad(path, "metadata `tokenizer.ggml.bos_token_id`", format!("an id below {}", tokens.len()), b)
            })?;
            let mut special = Map::new();
            special.insert(t.to_string(), json!({"id": t, "ids": [b], "tokens": [t]}));
            Ok(json!({"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": t, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                   "pair": [{"SpecialToken": {"id": t, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                            {"SpecialToken": {"id": t, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                   "special_tokens": special}))
        }
        (true, None) => {
            Err(bad(path, "metadata `tokenizer.ggml.bos_token_id`", "an id (add_bos_token is true)", "missing"))
        }
        (false, _) => Ok(Value::Null),
    }
}

/// The tokenizer.json equivalent of a GGUF's SentencePiece (`llama`)
/// vocabulary, as transformers converts a SentencePiece BPE model: merges of
/// every split of a piece into two pieces, highest piece score first; byte
/// fallback to the `<0xXX>` tokens; "▁" for spaces and a prefix "▁".
fn spm_tokenizer_json(g: &GgufFile, tokens: &[&str], types: &[u64]) -> Result<Value> {
    let path = g.file();
    let scores: Vec<f64> = match g.get("tokenizer.ggml.scores").and_then(GgufValue::as_array) {
        Some(a) if a.len() == tokens.len() => a.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect(),
        Some(a) => {
            return Err(bad(
                path,
                "metadata `tokenizer.ggml.scores`",
                format!("one score per token ({})", tokens.len()),
                a.len(),
            ))
        }
        None => return Err(bad(path, "metadata `tokenizer.ggml.scores`", "an array of scores", "missing")),
    };
    let mut vocab = Map::new();
    let mut ids = std::collections::HashMap::new();
    for (id, tok) in tokens.iter().enumerate() {
        vocab.insert(tok.to_string(), json!(id));
        // A piece listed twice maps to its last id, as in transformers' converter.
        ids.insert(*tok, id);
    }
    // Merges: (left, right, score of the merged piece), per piece ordered by
    // (left id, right id); then all by score, highest first (a stable sort).
    let mut merges: Vec<(usize, usize, f64)> = Vec::new();
    for (id, tok) in tokens.iter().enumerate() {
        let mut local: Vec<(usize, usize, f64)> = tok
            .char_indices()
            .skip(1)
            .filter_map(|(i, _)| {
                let (l, r) = (ids.get(&tok[..i])?, ids.get(&tok[i..])?);
                Some((*l, *r, scores[id]))
            })
            .collect();
        local.sort_by_key(|m| (m.0, m.1));
        merges.extend(local);
    }
    merges.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap_or(std::cmp::Ordering::Equal));
    let merges: Vec<Value> = merges.iter().map(|(l, r, _)| json!([tokens[*l], tokens[*r]])).collect();
    let added: Vec<Value> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(**t, 2..=4))
        .map(|(id, t)| {
            json!({"id": id, "content": tokens[id], "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": *t == 4, "special": *t != 4})
        })
        .collect();
    let unk = g.opt_usize("tokenizer.ggml.unknown_token_id")?.or_else(|| types.iter().position(|t| *t == 2));
    let unk_token = unk.and_then(|u| tokens.get(u)).map(|t| json!(t)).unwrap_or(Value::Null);
    let prefix = match g.get("tokenizer.ggml.add_space_prefix") {
        None => true,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| bad(path, "metadata `tokenizer.ggml.add_space_prefix`", "a bool", format!("{v:?}")))?,
    };
    let replace = json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"});
    let normalizer = if prefix {
        json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u{2581}"}, replace]})
    } else {
        replace
    };
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": null,
        "post_processor": bos_template(g, tokens, true)?,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {"type": "BPE", "dropout": null, "unk_token": unk_token, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                  "vocab": vocab, "merges": merges}
    }))
}

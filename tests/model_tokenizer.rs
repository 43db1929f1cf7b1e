//! Tokenizers: tokenizer.json round trips, BOS from the post-processor, the
//! streaming decoder's whole-character pieces, and the tokenizer built from
//! GGUF metadata agreeing with the tokenizer.json one.

mod model_common;

use std::path::Path;

use decode_kernels::model::{GgufFile, Tokenizer};
use model_common::*;

const TEXTS: [&str; 5] = [
    "hello world",
    "Hello, World! 123 4567",
    "héllo wörld — naïve café",
    "你好，世界 🌍🚀 ok",
    "tabs\tand\nnew lines\r\n  spaces   end ",
];

fn json_tok(add_bos: bool) -> Tokenizer {
    Tokenizer::from_json_str(&tokenizer_json(&vocab(), add_bos), Path::new("/t/tokenizer.json")).unwrap()
}

#[test]
fn round_trip_and_bos() {
    let v = vocab();
    let tok = json_tok(true);
    for text in TEXTS {
        let ids = tok.encode(text, true).unwrap();
        assert_eq!(ids[0], v.bos, "{text}: BOS from the post-processor");
        assert_eq!(tok.encode(text, false).unwrap(), ids[1..], "{text}");
        assert_eq!(tok.decode(&ids, true).unwrap(), text);
    }
    // Merges apply: "hello" is one token, " world" one token.
    let ids = tok.encode("hello world", false).unwrap();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(tok.token_to_id("hello"), Some(ids[0]));
    // Special tokens in the text are matched whole and kept on decode unless skipped.
    let ids = tok.encode("<|eos|>hello", false).unwrap();
    assert_eq!(ids[0], v.eos);
    assert_eq!(tok.decode(&ids, false).unwrap(), "<|eos|>hello");
    assert_eq!(tok.decode(&ids, true).unwrap(), "hello");
    // Without the template, no BOS.
    assert_ne!(json_tok(false).encode("hello", true).unwrap()[0], v.bos);
}

#[test]
fn stream_emits_only_whole_characters() {
    let tok = json_tok(false);
    for text in TEXTS {
        let ids = tok.encode(text, false).unwrap();
        let mut s = tok.stream(true);
        let mut out = String::new();
        let mut held = 0;
        for &id in &ids {
            match s.push(id).unwrap() {
                Some(piece) => {
                    assert!(!piece.contains('\u{FFFD}'), "{text}: piece {piece:?}");
                    out.push_str(&piece);
                }
                None => held += 1,
            }
        }
        if let Some(rest) = s.flush().unwrap() {
            out.push_str(&rest);
        }
        assert_eq!(out, text);
        if !text.is_ascii() {
            assert!(held > 0, "{text}: multi-byte characters span tokens, so some pushes hold back");
        }
    }
    // A stream cut mid-character holds the partial bytes back.
    let ids = tok.encode("é", false).unwrap();
    assert_eq!(ids.len(), 2, "é is two byte tokens");
    let mut s = tok.stream(true);
    assert_eq!(s.push(ids[0]).unwrap(), None);
    assert_eq!(s.push(ids[1]).unwrap().as_deref(), Some("é"));
}

#[test]
fn gguf_tokenizer_equals_tokenizer_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tok.gguf");
    for add_bos in [false, true] {
        let mut kv = vec![("general.architecture", GV::Str("qwen2".into()))];
        kv.extend(tokenizer_kv(&vocab(), add_bos));
        std::fs::write(&path, gguf_bytes(3, &kv, &[], 32)).unwrap();
        let g = GgufFile::open(&path).unwrap();
        let (a, b) = (Tokenizer::from_gguf(&g).unwrap(), json_tok(add_bos));
        assert_eq!(a.vocab_size(), b.vocab_size());
        for text in TEXTS.iter().chain(&["<|bos|>x<|eos|>"]) {
            let ids = a.encode(text, true).unwrap();
            assert_eq!(ids, b.encode(text, true).unwrap(), "{text}");
            assert_eq!(a.decode(&ids, false).unwrap(), b.decode(&ids, false).unwrap());
        }
    }
    // Errors name the key.
    let mut kv = tokenizer_kv(&vocab(), false);
    kv.retain(|(k, _)| *k != "tokenizer.ggml.merges");
    std::fs::write(&path, gguf_bytes(3, &kv, &[], 32)).unwrap();
    let e = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap_err().to_string();
    assert!(e.contains("tok.gguf") && e.contains("tokenizer.ggml.merges"), "{e}");
    let mut kv = tokenizer_kv(&vocab(), false);
    kv[1] = ("tokenizer.ggml.pre", GV::Str("mystery".into()));
    std::fs::write(&path, gguf_bytes(3, &kv, &[], 32)).unwrap();
    let e = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap_err().to_string();
    assert!(e.contains("tokenizer.ggml.pre") && e.contains("mystery"), "{e}");
    // A bad tokenizer.json names the file.
    let e = Tokenizer::from_json_str("{\"model\": 3}", Path::new("/t/tokenizer.json")).unwrap_err().to_string();
    assert!(e.contains("/t/tokenizer.json"), "{e}");
}

#[test]
fn gguf_sentencepiece_vocabulary() {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    let pieces = [
        "▁", "h", "e", "l", "o", "w", "r", "d", "ll", "he", "hell", "hello", "▁hello", "or", "wor", "ld", "world",
        "▁world", "▁w",
    ];
    for p in pieces {
        tokens.push(p.into());
        types.push(1);
    }
    let scores: Vec<GV> = (0..tokens.len()).map(|i| GV::F32(if types[i] == 1 { -(i as f32) } else { 0.0 })).collect();
    let kv = vec![
        ("general.architecture", GV::Str("llama".into())),
        ("tokenizer.ggml.model", GV::Str("llama".into())),
        ("tokenizer.ggml.tokens", GV::strs(&tokens)),
        ("tokenizer.ggml.scores", GV::Arr(6, scores)),
        ("tokenizer.ggml.token_type", GV::Arr(5, types.iter().map(|t| GV::I32(*t)).collect())),
        ("tokenizer.ggml.bos_token_id", GV::U32(1)),
        ("tokenizer.ggml.eos_token_id", GV::U32(2)),
        ("tokenizer.ggml.unknown_token_id", GV::U32(0)),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spm.gguf");
    std::fs::write(&path, gguf_bytes(3, &kv, &[], 32)).unwrap();
    let tok = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    let id = |t: &str| tok.token_to_id(t).unwrap();
    // BOS by default, "▁" for spaces and as a prefix, merges by score.
    assert_eq!(tok.encode("hello world", true).unwrap(), vec![1, id("▁hello"), id("▁world")]);
    // Characters outside the vocabulary fall back to their UTF-8 bytes.
    let ids = tok.encode("hello 你", false).unwrap();
    assert_eq!(ids, vec![id("▁hello"), id("▁"), id("<0xE4>"), id("<0xBD>"), id("<0xA0>")]);
    for text in ["hello world", "hello 你 world", "  two  spaces", "wörld"] {
        let ids = tok.encode(text, true).unwrap();
        assert_eq!(tok.decode(&ids, true).unwrap(), text, "{ids:?}");
        // Streaming gives the same text, in whole characters.
        let mut s = tok.stream(true);
        let mut out = String::new();
        for &i in &ids {
            if let Some(p) = s.push(i).unwrap() {
                assert!(!p.contains('\u{FFFD}'));
                out.push_str(&p);
            }
        }
        assert_eq!(out, text);
    }
}

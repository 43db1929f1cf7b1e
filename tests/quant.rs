//! The GGUF block dequantizers against `gguf.quants.dequantize` of the
//! Python `gguf` package (tests/fixtures/quant, written by
//! scripts/make_quant_fixtures.py): equal bit for bit, and wrong sizes are errors.

use std::path::PathBuf;

use decode_kernels::spec::quant::{dequantize, QuantKind};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quant")
}

fn fixture(kind: QuantKind) -> (Vec<u8>, Vec<f32>) {
    let bytes = std::fs::read(dir().join(format!("{kind}.bin"))).unwrap();
    let f = std::fs::read(dir().join(format!("{kind}.f32"))).unwrap();
    let want = f.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (bytes, want)
}

#[test]
fn every_type_matches_the_python_gguf_package_bit_for_bit() {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap();
    for kind in QuantKind::ALL {
        let (bytes, want) = fixture(kind);
        let m = &manifest["types"][kind.name()];
        assert_eq!(m["ggml_type"].as_u64(), Some(kind.ggml_type() as u64), "{kind}");
        assert_eq!(m["block_bytes"].as_u64(), Some(kind.block_bytes() as u64), "{kind}");
        assert_eq!(m["elements"].as_u64(), Some(want.len() as u64), "{kind}");
        assert!(want.len() >= 3 * kind.block_elems(), "{kind}: a few blocks");
        let got = dequantize(kind, &bytes, want.len()).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{kind} element {i} (block {}): {g} vs {w}", i / kind.block_elems());
        }
        assert!(want.iter().any(|&x| x != 0.0), "{kind}: the fixture is not all zeros");
    }
}

#[test]
fn truncated_or_misaligned_input_is_an_error() {
    for kind in QuantKind::ALL {
        let (bytes, want) = fixture(kind);
        let n = want.len();
        let e = dequantize(kind, &bytes[..bytes.len() - 1], n).unwrap_err().to_string();
        assert!(e.contains(kind.name()) && e.contains("bytes"), "{kind}: {e}");
        let e = dequantize(kind, &bytes, n - 1).unwrap_err().to_string();
        assert!(e.contains(kind.name()) && e.contains("block"), "{kind}: {e}");
        let e = dequantize(kind, &bytes, n - kind.block_elems()).unwrap_err().to_string();
        assert!(e.contains(kind.name()), "{kind}: {e}");
    }
}

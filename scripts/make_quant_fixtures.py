#!/usr/bin/env python3
"""Fixtures for GGUF block-quantized tensors (run by hand, not by CI):

    /work/venv-fixtures/bin/python scripts/make_quant_fixtures.py

1. tests/fixtures/quant/: per type (Q8_0, Q4_0, Q4_K, Q6_K) a few random but
   valid blocks (`<TYPE>.bin`, the raw block bytes; every f16 scale finite and
   moderate, one of them zero and one subnormal) and `gguf.quants.dequantize`'s
   output for them (`<TYPE>.f32`, raw little-endian f32), plus manifest.json
   (element and block counts, versions). tests/quant.rs checks the Rust
   dequantizer against them bit for bit.
2. tests/fixtures/models/qwen2_q8_0.gguf and qwen2_q4_0.gguf: qwen2.gguf
   (written by scripts/make_fixtures.py) with every 2-D matrix, token_embd and
   output included, quantized by `gguf.quants.quantize`; norms and biases stay
   f32, as llama.cpp keeps small 1-D tensors. The python gguf package has no
   quantizer for Q4_K or Q6_K (only dequantize), so there are no K-quant models.
   tests/fixtures/quant/qwen2_<type>.logits0.f32 [prompts, vocab]: a float64
   numpy forward of each quantized model (its weights dequantized by gguf),
   the next-token logits after each prompt of qwen2/expected.json.
"""
import json
import math
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "quant"
MODELS = ROOT / "tests" / "fixtures" / "models"
SEED = 20261129

# type -> (blocks, byte offsets of the f16 scales inside a block)
TYPES = {
    "Q8_0": (T.Q8_0, 8, [0]),
    "Q4_0": (T.Q4_0, 8, [0]),
    "Q4_K": (T.Q4_K, 4, [0, 2]),
    "Q6_K": (T.Q6_K, 3, [208]),
}


def random_blocks(rng: np.random.Generator, qtype, n_blocks: int, scale_at: list[int]) -> np.ndarray:
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    scales = rng.uniform(-0.05, 0.05, size=(n_blocks, len(scale_at))).astype(np.float16)
    scales[0, 0] = np.float16(0.0)             # a zero scale
    if n_blocks > 1:
        scales[1, 0] = np.float16(3.0e-6)       # a subnormal f16 scale
    for j, at in enumerate(scale_at):
        b[:, at:at + 2] = scales[:, j:j + 1].view(np.uint8).reshape(n_blocks, 2)
    assert np.isfinite(scales).all()
    return b.reshape(-1)


def unit_fixtures() -> dict:
    rng = np.random.default_rng(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, (qtype, n_blocks, scale_at) in TYPES.items():
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        raw = random_blocks(rng, qtype, n_blocks, scale_at)
        x = dequantize(raw, qtype)
        assert x.dtype == np.float32 and x.shape == (n_blocks * block_elems,)
        assert np.isfinite(x).all()
        (OUT / f"{name}.bin").write_bytes(raw.tobytes())
        (OUT / f"{name}.f32").write_bytes(x.astype("<f4").tobytes())
        entries[name] = {"ggml_type": int(qtype), "blocks": n_blocks, "elements": n_blocks * block_elems,
                         "block_bytes": block_bytes, "bytes": int(raw.size)}
    return entries


def quantized_model(src: Path, dst: Path, qtype, file_type) -> None:
    r = gguf.GGUFReader(str(src))
    arch = r.fields[gguf.Keys.General.ARCHITECTURE].contents()
    w = gguf.GGUFWriter(str(dst), arch)
    for field in r.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        val = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            val = int(file_type)
        w.add_key_value(field.name, val, vtype, sub_type=sub)
    for t in r.tensors:
        data = np.asarray(t.data)
        if data.ndim == 2:
            q = quantize(data.astype(np.float32), qtype)
            w.add_tensor(t.name, q, raw_dtype=qtype)
        else:
            w.add_tensor(t.name, np.ascontiguousarray(data, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    # Read back: every matrix is stored in qtype and dequantizes near the original.
    back = {t.name: t for t in gguf.GGUFReader(str(dst)).tensors}
    for t in r.tensors:
        b = back[t.name]
        if np.asarray(t.data).ndim == 2:
            assert b.tensor_type == qtype, (t.name, b.tensor_type)
            orig = np.asarray(t.data, dtype=np.float32)
            x = dequantize(np.asarray(b.data), qtype).reshape(orig.shape)
            rel = np.linalg.norm(x - orig) / np.linalg.norm(orig)
            assert rel < 0.2, (t.name, rel)


def first_logits(path: Path, prompts: list) -> np.ndarray:
    """Float64 numpy forward of a qwen2 GGUF (the dequantized weights, NEOX RoPE), as
    make_fixtures.gguf_forward_check: the next-token logits after each prompt."""
    r = gguf.GGUFReader(str(path))
    arch = r.fields["general.architecture"].contents()
    meta = lambda k: r.fields[f"{arch}.{k}"].contents()
    n_layer, n_head, n_kv = meta("block_count"), meta("attention.head_count"), meta("attention.head_count_kv")
    hd, eps, base = meta("rope.dimension_count"), meta("attention.layer_norm_rms_epsilon"), meta("rope.freq_base")
    T = {t.name: dequantize(np.asarray(t.data), t.tensor_type).astype(np.float64).reshape([int(x) for x in reversed(t.shape)]) for t in r.tensors}
    inv_freq = 1.0 / base ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    def rms(x, w): return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
    def rope(x, pos):
        ang = pos[:, None] * inv_freq[None, :]; c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        a, b = x[..., : hd // 2], x[..., hd // 2:]
        return np.concatenate([a * c - b * s, a * s + b * c], -1)
    def forward(tokens):
        L = len(tokens); pos = np.arange(L, dtype=np.float64); x = T["token_embd.weight"][tokens]
        mask = np.triu(np.full((L, L), -np.inf), 1)
        for i in range(n_layer):
            g = lambda n: T[f"blk.{i}.{n}"]
            h = rms(x, g("attn_norm.weight"))
            proj = lambda n: h @ g(f"{n}.weight").T + T.get(f"blk.{i}.{n}.bias", 0.0)
            q = rope(proj("attn_q").reshape(L, n_head, hd), pos); k = rope(proj("attn_k").reshape(L, n_kv, hd), pos)
            v = proj("attn_v").reshape(L, n_kv, hd); heads = []
            for hq in range(n_head):
                kv = hq // (n_head // n_kv)
                a = q[:, hq] @ k[:, kv].T / math.sqrt(hd) + mask
                a = np.exp(a - a.max(-1, keepdims=True)); heads.append((a / a.sum(-1, keepdims=True)) @ v[:, kv])
            x = x + np.concatenate(heads, -1) @ g("attn_output.weight").T
            h = rms(x, g("ffn_norm.weight")); gate = h @ g("ffn_gate.weight").T
            x = x + ((gate / (1 + np.exp(-gate))) * (h @ g("ffn_up.weight").T)) @ g("ffn_down.weight").T
        return rms(x, T["output_norm.weight"]) @ T["output.weight"].T
    return np.stack([forward(np.array(p["prompt_tokens"]))[-1] for p in prompts])


def main() -> None:
    entries = unit_fixtures()
    (OUT / "manifest.json").write_text(json.dumps({
        "generator": "scripts/make_quant_fixtures.py",
        "seed": SEED,
        "gguf": gguf.__version__ if hasattr(gguf, "__version__") else "0.19.0",
        "numpy": np.__version__,
        "reference": "gguf.quants.dequantize",
        "files": "<TYPE>.bin: the blocks' bytes; <TYPE>.f32: dequantized, little-endian f32",
        "types": entries,
    }, indent=1) + "\n")
    for qtype, ft, suffix in [(T.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0, "q8_0"),
                              (T.Q4_0, gguf.LlamaFileType.MOSTLY_Q4_0, "q4_0")]:
        dst = MODELS / f"qwen2_{suffix}.gguf"
        quantized_model(MODELS / "qwen2.gguf", dst, qtype, ft)
        print(f"wrote {dst.relative_to(ROOT)} ({dst.stat().st_size} bytes)")
        # The reference for the Rust run on the quantized model itself (not the f32 one).
        prompts = json.loads((MODELS / "qwen2" / "expected.json").read_text())["prompts"]
        ref = first_logits(dst, prompts).astype("<f4")
        (OUT / f"qwen2_{suffix}.logits0.f32").write_bytes(ref.tobytes())
    print(f"wrote {OUT.relative_to(ROOT)}: {sorted(p.name for p in OUT.iterdir())}")


if __name__ == "__main__":
    main()

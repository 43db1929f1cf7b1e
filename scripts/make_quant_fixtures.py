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
   f32, as llama.cpp keeps small 1-D tensors.
3. tests/fixtures/models/llama256_q4_k_m.gguf: llama256.gguf (every projection
   input width a multiple of 256) in llama.cpp's Q4_K_M mix. The python gguf
   package has no quantizer for Q4_K or Q6_K (only dequantize), so the blocks
   come from quantize_q4_k / quantize_q6_k below: plain per-sub-block fits, not
   llama.cpp's search, but GGML's exact byte layout, checked by dequantizing
   them with `gguf.quants.dequantize` (the relative L2 error of every tensor is
   printed). Types as llama.cpp's Q4_K_M: Q6_K for token_embd (tied, so it is
   also the LM head), and for attn_v and ffn_down of the layers given more bits
   (q4_k_m_more_bits), Q4_K for the other matrices; norms stay f32. Q and K are
   quantized in the GGUF's (permuted) row order.
   tests/fixtures/quant/<model>.logits0.f32 [prompts, vocab]: a float64
   numpy forward of each quantized model (its weights dequantized by gguf),
   the next-token logits after each prompt of the model's expected.json.
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


QK_K = 256


def f16_exact(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16).astype(np.float32)


def quantize_q4_k(w: np.ndarray) -> np.ndarray:
    """Q4_K blocks of `w` (rows a multiple of 256 wide), GGML's block_q4_K bytes:
    d (f16), dmin (f16), 12 bytes of 6-bit sub-block scales and mins, 128 bytes
    of 4-bit values. Element i of sub-block j (32 elements) is
    d * sc[j] * q - dmin * m[j]. Each sub-block's affine fit (min at most 0, as
    llama.cpp) starts from its min/max and is refined by a few least-squares
    steps; then sc and m are rounded to 6 bits and q is chosen again for them."""
    x = w.astype(np.float32).reshape(-1, 8, 32)                 # [blocks, sub-blocks, 32]
    nb = x.shape[0]
    lo = np.minimum(x.min(-1), 0.0)
    hi = x.max(-1)
    scale = (hi - lo) / 15.0
    off = lo                                                     # value = scale * q + off

    def err_of(sc, of):
        q = np.clip(np.rint((x - of[..., None]) / np.where(sc > 0, sc, 1)[..., None]), 0, 15)
        return q, ((sc[..., None] * q + of[..., None] - x) ** 2).sum(-1)

    q, best = err_of(scale, off)
    for _ in range(4):                                          # least squares on the chosen q
        mq, mx = q.mean(-1), x.mean(-1)
        var = ((q - mq[..., None]) ** 2).mean(-1)
        cov = ((q - mq[..., None]) * (x - mx[..., None])).mean(-1)
        s2 = np.where(var > 0, cov / np.where(var > 0, var, 1), scale)
        o2 = mx - s2 * mq
        # the offset may not be positive: refit the scale alone through 0 there
        qq = (q * q).sum(-1)
        s_0 = np.where(qq > 0, (q * x).sum(-1) / np.where(qq > 0, qq, 1), 0.0)
        s2, o2 = np.where(o2 > 0, s_0, s2), np.minimum(o2, 0.0)
        s2 = np.maximum(s2, 0.0)
        q2, e2 = err_of(s2, o2)
        better = e2 < best
        scale, off = np.where(better, s2, scale), np.where(better, o2, off)
        best = np.minimum(best, e2)
        q, _ = err_of(scale, off)
    d = f16_exact(scale.max(-1) / 63.0)
    dmin = f16_exact((-off).max(-1) / 63.0)
    sc = np.clip(np.rint(scale / np.where(d > 0, d, 1)[:, None]), 0, 63).astype(np.uint8)
    mn = np.clip(np.rint(-off / np.where(dmin > 0, dmin, 1)[:, None]), 0, 63).astype(np.uint8)
    s_eff = d[:, None] * sc                                      # what the dequantizer will use
    m_eff = dmin[:, None] * mn
    q = np.clip(np.rint((x + m_eff[..., None]) / np.where(s_eff > 0, s_eff, 1)[..., None]), 0, 15)
    q = q.astype(np.uint8)                                       # [nb, 8, 32]
    scales = np.empty((nb, 12), dtype=np.uint8)
    scales[:, 0:4] = (sc[:, :4] & 63) | ((sc[:, 4:] >> 4) << 6)
    scales[:, 4:8] = (mn[:, :4] & 63) | ((mn[:, 4:] >> 4) << 6)
    scales[:, 8:12] = (sc[:, 4:] & 15) | ((mn[:, 4:] & 15) << 4)
    # 32 bytes per pair of sub-blocks: the first one's values in the low nibbles
    qs = (q[:, 0::2] | (q[:, 1::2] << 4)).reshape(nb, 128)
    out = np.concatenate([d.astype(np.float16).view(np.uint8).reshape(nb, 2),
                          dmin.astype(np.float16).view(np.uint8).reshape(nb, 2), scales, qs], axis=1)
    assert out.shape[1] == gguf.GGML_QUANT_SIZES[T.Q4_K][1]
    return out.reshape(w.shape[0], -1)


def quantize_q6_k(w: np.ndarray) -> np.ndarray:
    """Q6_K blocks of `w` (rows a multiple of 256 wide), GGML's block_q6_K bytes:
    128 bytes of low 4 bits, 64 bytes of high 2 bits, 16 int8 sub-block scales,
    d (f16). Element i of sub-block j (16 elements) is d * scales[j] * (q - 32).
    Symmetric per sub-block: its largest |x| maps to 31."""
    x = w.astype(np.float32).reshape(-1, 16, 16)                # [blocks, sub-blocks, 16]
    nb = x.shape[0]
    scale = np.abs(x).max(-1) / 31.0
    d = f16_exact(scale.max(-1) / 127.0)
    sc = np.clip(np.rint(scale / np.where(d > 0, d, 1)[:, None]), 0, 127).astype(np.int8)
    s_eff = d[:, None] * sc
    q = np.clip(np.rint(x / np.where(s_eff > 0, s_eff, 1)[..., None]), -32, 31)
    q = (q + 32).astype(np.uint8).reshape(nb, 2, 4, 32)         # [blocks, halves, quarter, 32]
    lo, hi = q & 15, q >> 4
    ql = np.concatenate([lo[:, :, 0] | (lo[:, :, 2] << 4), lo[:, :, 1] | (lo[:, :, 3] << 4)], -1)
    qh = hi[:, :, 0] | (hi[:, :, 1] << 2) | (hi[:, :, 2] << 4) | (hi[:, :, 3] << 6)
    out = np.concatenate([ql.reshape(nb, 128), qh.reshape(nb, 64), sc.view(np.uint8),
                          d.astype(np.float16).view(np.uint8).reshape(nb, 2)], axis=1)
    assert out.shape[1] == gguf.GGML_QUANT_SIZES[T.Q6_K][1]
    return out.reshape(w.shape[0], -1)


def quantize_any(data: np.ndarray, qtype) -> np.ndarray:
    if qtype == T.Q4_K:
        return quantize_q4_k(data)
    if qtype == T.Q6_K:
        return quantize_q6_k(data)
    return quantize(data, qtype)


def q4_k_m_more_bits(i: int, layers: int) -> bool:
    """llama.cpp's use_more_bits: the layers whose attn_v and ffn_down Q4_K_M stores in
    Q6_K (the first and last eighth, and every third in between)."""
    eighth = layers // 8
    return i < eighth or i >= layers - eighth or (i - eighth) % 3 == 2


def q4_k_m_type(name: str, layers: int, tied: bool):
    """A 2-D tensor's type in llama.cpp's Q4_K_M mix."""
    if name == "output.weight" or (tied and name == "token_embd.weight"):
        return T.Q6_K
    if name.startswith("blk.") and name.endswith((".attn_v.weight", ".ffn_down.weight")):
        return T.Q6_K if q4_k_m_more_bits(int(name.split(".")[1]), layers) else T.Q4_K
    return T.Q4_K


def quantized_model(src: Path, dst: Path, qtype, file_type, verbose: bool = False) -> None:
    """`src` with every matrix in qtype, or, where qtype is a function, in qtype(name)."""
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
    type_of = qtype if callable(qtype) else (lambda name: qtype)
    for t in r.tensors:
        data = np.asarray(t.data)
        if data.ndim == 2:
            q = quantize_any(data.astype(np.float32), type_of(t.name))
            w.add_tensor(t.name, q, raw_dtype=type_of(t.name))
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
            assert b.tensor_type == type_of(t.name), (t.name, b.tensor_type)
            orig = np.asarray(t.data, dtype=np.float32)
            x = dequantize(np.asarray(b.data), b.tensor_type).reshape(orig.shape)
            rel = np.linalg.norm(x - orig) / np.linalg.norm(orig)
            if verbose:
                print(f"  {t.name:24s} {b.tensor_type.name:5s} {list(orig.shape)} relative L2 error {rel:.4f}")
            assert rel < 0.2, (t.name, rel)
        else:
            assert b.tensor_type == T.F32 and np.array_equal(np.asarray(b.data), np.asarray(t.data)), t.name


def first_logits(path: Path, prompts: list) -> np.ndarray:
    """Float64 numpy forward of a qwen2 or llama GGUF (the dequantized weights; RoPE on NEOX
    halves for qwen2, on interleaved pairs of the permuted Q/K rows for llama; no rope
    scaling), as make_fixtures.gguf_forward_check: the next-token logits after each prompt."""
    r = gguf.GGUFReader(str(path))
    arch = r.fields["general.architecture"].contents()
    meta = lambda k: r.fields[f"{arch}.{k}"].contents()
    n_layer, n_head, n_kv = meta("block_count"), meta("attention.head_count"), meta("attention.head_count_kv")
    hd, eps, base = meta("rope.dimension_count"), meta("attention.layer_norm_rms_epsilon"), meta("rope.freq_base")
    T = {t.name: dequantize(np.asarray(t.data), t.tensor_type).astype(np.float64).reshape([int(x) for x in reversed(t.shape)]) for t in r.tensors}
    inv_freq = 1.0 / base ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    def rms(x, w): return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
    assert "rope_freqs.weight" not in T, "rope scaling is not implemented here"
    def rope(x, pos):
        ang = pos[:, None] * inv_freq[None, :]; c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        if arch == "llama":
            a, b = x[..., 0::2], x[..., 1::2]; y = np.empty_like(x)
            y[..., 0::2], y[..., 1::2] = a * c - b * s, a * s + b * c
            return y
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
        return rms(x, T["output_norm.weight"]) @ T.get("output.weight", T["token_embd.weight"]).T
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
    # Q4_K_M of llama256 (3 layers: layer 2 gets Q6_K attn_v and ffn_down).
    src, dst = MODELS / "llama256.gguf", MODELS / "llama256_q4_k_m.gguf"
    layers = gguf.GGUFReader(str(src)).fields["llama.block_count"].contents()
    tied = not any(t.name == "output.weight" for t in gguf.GGUFReader(str(src)).tensors)
    print(f"{dst.relative_to(ROOT)}: Q4_K_M, {layers} layers, more bits in layers "
          f"{[i for i in range(layers) if q4_k_m_more_bits(i, layers)]}")
    quantized_model(src, dst, lambda name: q4_k_m_type(name, layers, tied),
                    gguf.LlamaFileType.MOSTLY_Q4_K_M, verbose=True)
    print(f"wrote {dst.relative_to(ROOT)} ({dst.stat().st_size} bytes)")
    prompts = json.loads((MODELS / "llama256" / "expected.json").read_text())["prompts"]
    ref = first_logits(dst, prompts).astype("<f4")
    (OUT / "llama256_q4_k_m.logits0.f32").write_bytes(ref.tobytes())
    print(f"wrote {OUT.relative_to(ROOT)}: {sorted(p.name for p in OUT.iterdir())}")


if __name__ == "__main__":
    main()

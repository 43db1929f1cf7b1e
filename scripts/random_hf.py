#!/usr/bin/env python3
"""Write a random-weight Hugging Face model folder of a real model's shape, for timing.

    python3 scripts/random_hf.py MODEL OUTDIR [--dtype f16|bf16|f32] [--shard-gb 5] [--seed 0] [--jobs N]

MODEL is one of the shapes built in below (SHAPES): llama3-8b, llama3.2-1b,
qwen2.5-0.5b, qwen2.5-7b. OUTDIR is created (it must be empty or absent) and gets:

  config.json              as transformers 4 writes it for LlamaForCausalLM / Qwen2ForCausalLM
                           (rope_theta + rope_scaling; llama3 RoPE scaling for llama3.2-1b)
  generation_config.json   bos_token_id and eos_token_id
  model.safetensors        when the weights fit in --shard-gb (10^9 bytes); otherwise
  model-0000i-of-0000n.safetensors + model.safetensors.index.json, split as transformers
                           splits them (tensors in order, a new shard when the next tensor
                           would go past the limit)

Tensor names and shapes are transformers' (model.embed_tokens.weight, model.layers.{i}.*,
model.norm.weight, lm_head.weight unless the embeddings are tied; q/k/v_proj.bias for qwen2).
No tokenizer is written: feed the engine token ids.

The values are random but not independent: one block of 2^24 draws of N(0, 0.02) is made
once (per --seed), converted to the output dtype once, and every matrix and bias is that
block read cyclically from a random offset; RMSNorm weights are 1 + 0.02 * N(0, 1). bf16 is
float32 rounded to nearest even. Nothing but numpy and the standard library is used (no
torch, safetensors or transformers), the safetensors files are written directly (8-byte
little-endian header length, a JSON header padded with spaces to a multiple of 8, then the
data), and the whole model is never in memory: each file is sized first, then its tensors
are written in place with os.pwrite by --jobs threads (default: up to 8), so a 16 GB
model costs about as much as copying 16 GB into the page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# name: (arch, hidden, layers, heads, kv heads, head dim, intermediate, vocab, rope_theta,
#        rms_norm_eps, tied, max_position_embeddings, bos, eos, rope_scaling)
LLAMA3_SCALING = {
    "factor": 32.0,
    "high_freq_factor": 4.0,
    "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3",
}
SHAPES = {
    "llama3-8b": dict(arch="llama", hidden=4096, layers=32, heads=32, kv_heads=8, head_dim=128,
                      inter=14336, vocab=128256, rope_theta=500000.0, eps=1e-5, tied=False,
                      max_pos=8192, bos=128000, eos=128001, rope_scaling=None),
    "llama3.2-1b": dict(arch="llama", hidden=2048, layers=16, heads=32, kv_heads=8, head_dim=64,
                        inter=8192, vocab=128256, rope_theta=500000.0, eps=1e-5, tied=True,
                        max_pos=131072, bos=128000, eos=128001, rope_scaling=LLAMA3_SCALING),
    "qwen2.5-0.5b": dict(arch="qwen2", hidden=896, layers=24, heads=14, kv_heads=2, head_dim=64,
                         inter=4864, vocab=151936, rope_theta=1000000.0, eps=1e-6, tied=True,
                         max_pos=32768, bos=151643, eos=151643, rope_scaling=None),
    "qwen2.5-7b": dict(arch="qwen2", hidden=3584, layers=28, heads=28, kv_heads=4, head_dim=128,
                       inter=18944, vocab=152064, rope_theta=1000000.0, eps=1e-6, tied=False,
                       max_pos=32768, bos=151643, eos=151643, rope_scaling=None),
}

# --dtype: (safetensors dtype, torch_dtype, bytes per element)
DTYPES = {"f16": ("F16", "float16", 2), "bf16": ("BF16", "bfloat16", 2), "f32": ("F32", "float32", 4)}

TRANSFORMERS_VERSION = "4.46.0"  # the config layout written is transformers 4's
BLOCK = 1 << 24  # elements in the random block every matrix is read from
CHUNK = 1 << 22  # elements per pwrite


def config_json(s: dict, torch_dtype: str) -> dict:
    """config.json with the keys transformers 4 writes (sorted, as it writes them)."""
    common = {
        "architectures": ["LlamaForCausalLM" if s["arch"] == "llama" else "Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": s["bos"],
        "eos_token_id": s["eos"],
        "head_dim": s["head_dim"],
        "hidden_act": "silu",
        "hidden_size": s["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": s["inter"],
        "max_position_embeddings": s["max_pos"],
        "model_type": s["arch"],
        "num_attention_heads": s["heads"],
        "num_hidden_layers": s["layers"],
        "num_key_value_heads": s["kv_heads"],
        "rms_norm_eps": s["eps"],
        "rope_scaling": s["rope_scaling"],
        "rope_theta": s["rope_theta"],
        "tie_word_embeddings": s["tied"],
        "torch_dtype": torch_dtype,
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": s["vocab"],
    }
    if s["arch"] == "llama":
        # Llama has no QKV bias unless asked; Qwen2's are implied by the model type.
        common.update(attention_bias=False, mlp_bias=False, pretraining_tp=1)
    else:
        common.update(max_window_layers=s["layers"], sliding_window=s["max_pos"], use_sliding_window=False,
                      use_mrope=False)
    return dict(sorted(common.items()))


def tensor_list(s: dict) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, kind) in transformers' order; kind is "w" (matrix/bias) or "norm"."""
    h, d, hq, hkv, inter, v = s["hidden"], s["head_dim"], s["heads"], s["kv_heads"], s["inter"], s["vocab"]
    out = [("model.embed_tokens.weight", (v, h), "w")]
    for i in range(s["layers"]):
        p = f"model.layers.{i}."
        out.append((p + "input_layernorm.weight", (h,), "norm"))
        for proj, rows in (("q", hq * d), ("k", hkv * d), ("v", hkv * d)):
            out.append((p + f"self_attn.{proj}_proj.weight", (rows, h), "w"))
            if s["arch"] == "qwen2":
                out.append((p + f"self_attn.{proj}_proj.bias", (rows,), "w"))
        out.append((p + "self_attn.o_proj.weight", (h, hq * d), "w"))
        out.append((p + "post_attention_layernorm.weight", (h,), "norm"))
        out.append((p + "mlp.gate_proj.weight", (inter, h), "w"))
        out.append((p + "mlp.up_proj.weight", (inter, h), "w"))
        out.append((p + "mlp.down_proj.weight", (h, inter), "w"))
    out.append(("model.norm.weight", (h,), "norm"))
    if not s["tied"]:
        out.append(("lm_head.weight", (v, h), "w"))
    return out


def to_dtype(x: np.ndarray, dtype: str) -> np.ndarray:
    """float32 -> the little-endian storage words of `dtype` (bf16: round to nearest even)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dtype == "f32":
        return x.astype("<f4")
    if dtype == "f16":
        return x.astype("<f2")
    u = x.view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype("<u2")


def numel(shape) -> int:
    n = 1
    for x in shape:
        n *= x
    return n


def header_bytes(entries: list[tuple[str, tuple[int, ...], int, int]], st_dtype: str) -> bytes:
    """The 8-byte length + JSON header (padded with spaces to a multiple of 8)."""
    hdr = {name: {"dtype": st_dtype, "shape": list(shape), "data_offsets": [b, e]} for name, shape, b, e in entries}
    hdr["__metadata__"] = {"format": "pt"}
    text = json.dumps(hdr, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def plan_shards(tensors, esize: int, limit: int) -> list[list[tuple[str, tuple[int, ...], str]]]:
    total = sum(numel(sh) for _, sh, _ in tensors) * esize
    if total <= limit:
        return [tensors]
    shards, cur, cur_bytes = [], [], 0
    for t in tensors:
        nb = numel(t[1]) * esize
        if cur and cur_bytes + nb > limit:
            shards.append(cur)
            cur, cur_bytes = [], 0
        cur.append(t)
        cur_bytes += nb
    shards.append(cur)
    return shards


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=sorted(SHAPES))
    ap.add_argument("outdir")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    ap.add_argument("--shard-gb", type=float, default=5.0, help="largest shard, in 10^9 bytes (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1), help="writer threads")
    a = ap.parse_args()

    t0 = time.time()
    s = SHAPES[a.model]
    st_dtype, torch_dtype, esize = DTYPES[a.dtype]
    if os.path.exists(a.outdir) and os.listdir(a.outdir):
        sys.exit(f"{a.outdir}: exists and is not empty")
    os.makedirs(a.outdir, exist_ok=True)

    rng = np.random.default_rng(a.seed)
    base = to_dtype(rng.standard_normal(BLOCK, dtype=np.float32) * np.float32(0.02), a.dtype)
    # Twice over, so that any window of up to BLOCK elements from any offset is contiguous.
    ring = np.concatenate([base, base])
    del base

    tensors = tensor_list(s)
    shards = plan_shards(tensors, esize, int(a.shard_gb * 1e9))
    n = len(shards)
    names = ["model.safetensors"] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]

    jobs = []  # (fd, file offset, kind, numel, seed offset)
    fds = []
    weight_map, total = {}, 0
    for fname, shard in zip(names, shards):
        entries, off = [], 0
        for name, shape, _ in shard:
            nb = numel(shape) * esize
            entries.append((name, shape, off, off + nb))
            off += nb
            weight_map[name] = fname
        total += off
        hdr = header_bytes(entries, st_dtype)
        fd = os.open(os.path.join(a.outdir, fname), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        fds.append(fd)
        os.ftruncate(fd, len(hdr) + off)
        os.pwrite(fd, hdr, 0)
        for (name, shape, kind), (_, _, b, _) in zip(shard, entries):
            jobs.append((fd, len(hdr) + b, kind, numel(shape), int(rng.integers(BLOCK))))

    def write(job):
        fd, pos, kind, count, start = job
        if kind == "norm":
            r = np.random.default_rng([a.seed, start])
            data = to_dtype(1.0 + 0.02 * r.standard_normal(count, dtype=np.float32), a.dtype)
            os.pwrite(fd, memoryview(data).cast("B"), pos)
            return
        done = 0
        while done < count:
            k = min(CHUNK, count - done)
            o = (start + done) % BLOCK
            os.pwrite(fd, memoryview(ring[o:o + k]).cast("B"), pos + done * esize)
            done += k

    # Large tensors first so that the threads finish together.
    jobs.sort(key=lambda j: -j[3])
    with ThreadPoolExecutor(max(1, a.jobs)) as ex:
        list(ex.map(write, jobs))
    for fd in fds:
        os.close(fd)

    if n > 1:
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        with open(os.path.join(a.outdir, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2)
            f.write("\n")
    with open(os.path.join(a.outdir, "config.json"), "w") as f:
        json.dump(config_json(s, torch_dtype), f, indent=2)
        f.write("\n")
    gen = {"bos_token_id": s["bos"], "eos_token_id": s["eos"], "transformers_version": TRANSFORMERS_VERSION}
    with open(os.path.join(a.outdir, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
        f.write("\n")

    dt = time.time() - t0
    print(f"{a.model}: {len(tensors)} tensors, {total / 1e9:.2f} GB {a.dtype} in {n} file(s) "
          f"under {a.outdir} in {dt:.1f} s ({total / 1e9 / dt:.2f} GB/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Build tiny random-weight Hugging Face checkpoints and transformers' reference outputs.

Run by hand, never by CI:

    python3 -m venv /work/venv-fixtures
    /work/venv-fixtures/bin/pip install torch transformers tokenizers safetensors gguf numpy
    /work/venv-fixtures/bin/python scripts/make_fixtures.py            # writes tests/fixtures/models/
    /work/venv-fixtures/bin/python scripts/make_fixtures.py --out DIR  # anywhere else (e.g. to diff)

Versions the committed fixtures were made with (also recorded in every expected.json
and in manifest.json; the script warns when the installed ones differ):
    python 3.11.7, torch 2.15.0+cu132 (the PyPI wheel, run on CPU), transformers 5.24.0, tokenizers 0.23.3,
    safetensors 0.8.0, gguf 0.19.0, numpy 2.4.6
(see EXPECTED_VERSIONS below; that dict is the source of truth.)

What it writes (tests/fixtures/models/README.md says the same for users of the files):

  tokenizer   ONE byte-level BPE tokenizer trained here on the corpus embedded below; two
              flavours of the same vocabulary: "llama style" (a TemplateProcessing post-processor
              adds <|begin_of_text|> in front, as Llama 3's does) and "qwen style" (no BOS).
  llama/      LlamaForCausalLM, bf16, tied embeddings, llama3 rope scaling, config in
              transformers-4 style (rope_theta + rope_scaling), llama-style tokenizer
  mistral/    MistralForCausalLM, f16, untied, sliding_window null, config in
              transformers-5 style (rope_parameters), llama-style tokenizer
  qwen2/      Qwen2ForCausalLM, f32, non-zero QKV biases, untied, SHARDED safetensors + index,
              config in transformers-4 style, qwen-style tokenizer
  qwen3/      Qwen3ForCausalLM, bf16, random q/k RMSNorm weights, hidden 96 != 2 heads x 64,
              config in transformers-5 style, qwen-style tokenizer
  llama256/   LlamaForCausalLM, f16, tied, 3 layers, hidden 256, 4 query heads, 2 KV heads,
              intermediate 256 (every projection input width a multiple of 256, for K-quants),
              no rope scaling, config in transformers-4 style, llama-style tokenizer
  llama.gguf, qwen2.gguf, llama256.gguf   the same weights in GGUF (llama.cpp conventions,
              Q/K permuted for llama)
  manifest.json            versions, and size + sha256 of every file

Each model folder also holds expected.json and logits_<i>.npy: greedy generation by
transformers' model.generate in float32 from the stored weights (upcast), see make_expected().

Everything is seeded and single-threaded, so two runs give byte-identical files
(checked by running twice and comparing manifest.json).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

# Single-threaded BLAS / torch so the float32 reference does not depend on the thread count.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
import transformers
import tokenizers
import safetensors
import gguf
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

EXPECTED_VERSIONS = {
    "python": "3.11.7",
    "torch": "2.15.0+cu132",
    "transformers": "5.24.0",
    "tokenizers": "0.23.3",
    "safetensors": "0.8.0",
    "gguf": "0.19.0",
    "numpy": "2.4.6",
}

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "models"

BOS = "<|begin_of_text|>"
EOS = "<|endoftext|>"
BPE_VOCAB = 398          # 256 byte symbols + 142 merges; the 2 special tokens come after: 400 in all
MAX_NEW_TOKENS = 16
SEED = 1234

# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

# Training corpus: English plus accented Latin, Greek, CJK and emoji, so that merges cover common
# English pieces while most non-ASCII characters stay split into several byte-level pieces.
CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps in the sun.",
    "Once upon a time there was a little model that wanted to learn how to speak.",
    "It read the same sentences again and again, and slowly the words began to make sense.",
    "In the morning the sun rises in the east, and in the evening it sets in the west.",
    "Numbers such as 1, 2, 3, 10, 42, 100 and 2024 appear in text as well as words.",
    "She said: \"Hello, world!\" and then she wrote the answer on the board.",
    "What is the capital of France? The capital of France is Paris.",
    "Machine learning models turn text into tokens, and tokens into numbers.",
    "A transformer reads the tokens, attends to the past, and predicts the next token.",
    "This is a test of the tokenizer, with some punctuation: commas, dots; and (brackets).",
    "Café, naïve, résumé, façade, jalapeño, Zürich, São Paulo, Kraków, Ærøskøbing.",
    "Ça va très bien, merci. Où est la gare? Die Straße ist schön. El niño está aquí.",
    "Γειά σου κόσμε. Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλικο σκύλο.",
    "Ωμέγα, άλφα, βήτα, γάμμα, δέλτα: το ελληνικό αλφάβητο.",
    "東京は日本の首都です。北京是中国的首都。今日は良い天気ですね。",
    "我喜欢学习语言模型。こんにちは世界。안녕하세요 세계.",
    "Emoji: 🙂 😀 🚀 🌍 🎉 👍 ❤️ 🐍 🦀 — and a few more: ✨ 🔥 ✅.",
    "Mixed text: the café in 東京 serves 🍣 and ☕, says Ωμέγα.",
]
# Repeat the English part a few times so that common English merges win over rare pairs.
CORPUS = CORPUS[:10] * 3 + CORPUS[10:]


def train_base_tokenizer() -> Tokenizer:
    """Byte-level BPE trained on CORPUS, with the two special tokens appended at the end of
    the vocabulary (ids 398 and 399), the way Llama 3 and Qwen put theirs after the BPE vocab."""
    tok = Tokenizer(models.BPE())
    # GPT-2 style: split with the GPT-2 regex, then map bytes to printable unicode symbols.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 byte symbols
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    assert tok.get_vocab_size() == BPE_VOCAB, tok.get_vocab_size()
    tok.add_special_tokens([BOS, EOS])
    return tok


def hf_tokenizer(base: Tokenizer, style: str) -> PreTrainedTokenizerFast:
    """Wrap a copy of the trained tokenizer in transformers' PreTrainedTokenizerFast.
    style "llama": post-processor adds BOS (single: BOS $A, pair: BOS $A BOS $B, as Llama 3);
    style "qwen": no post-processor, no BOS token."""
    tok = Tokenizer.from_str(base.to_str())
    bos_id = tok.token_to_id(BOS)
    if style == "llama":
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS}:0 $A:0",
            pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1",
            special_tokens=[(BOS, bos_id)],
        )
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS)
    assert style == "qwen"
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

COMMON = dict(
    hidden_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=64,
    intermediate_size=256,
    max_position_embeddings=256,
    hidden_act="silu",
)

# name, class, storage dtype, config style, tokenizer style, extra config, gguf?, sharded?
FIXTURES = [
    dict(
        name="llama", cls=LlamaForCausalLM, cfg_cls=LlamaConfig, dtype=torch.bfloat16,
        config_style="transformers-4", tok_style="llama", gguf_arch="llama", shards=None,
        config=dict(
            tie_word_embeddings=True, rms_norm_eps=1e-5, attention_bias=False, mlp_bias=False,
            rope_theta=500000.0,
            rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                              high_freq_factor=4.0, original_max_position_embeddings=64),
        ),
    ),
    dict(
        name="mistral", cls=MistralForCausalLM, cfg_cls=MistralConfig, dtype=torch.float16,
        config_style="transformers-5", tok_style="llama", gguf_arch=None, shards=None,
        # rope_theta 1e6 (Mistral 7B v0.2+), not the library default 10000: a loader that
        # ignores rope_parameters must not pass by luck
        config=dict(tie_word_embeddings=False, rms_norm_eps=1e-5, rope_theta=1000000.0,
                    sliding_window=None),
    ),
    dict(
        name="qwen2", cls=Qwen2ForCausalLM, cfg_cls=Qwen2Config, dtype=torch.float32,
        config_style="transformers-4", tok_style="qwen", gguf_arch="qwen2", shards="700KB",
        config=dict(tie_word_embeddings=False, rms_norm_eps=1e-6, rope_theta=1000000.0,
                    use_sliding_window=False, sliding_window=None),
    ),
    dict(
        name="qwen3", cls=Qwen3ForCausalLM, cfg_cls=Qwen3Config, dtype=torch.bfloat16,
        config_style="transformers-5", tok_style="qwen", gguf_arch=None, shards=None,
        config=dict(hidden_size=96, tie_word_embeddings=False, rms_norm_eps=1e-6,
                    rope_theta=1000000.0, attention_bias=False, use_sliding_window=False,
                    sliding_window=None),
    ),
    # Every projection's input width (hidden 256, 4 heads x 64 = 256, intermediate 256) is a
    # multiple of 256, so that scripts/make_quant_fixtures.py can write a Q4_K_M GGUF of it
    # (K-quant rows are whole 256-element blocks); 3 layers, so that llama.cpp's Q4_K_M rule
    # gives one layer (the last) Q6_K V and down projections.
    dict(
        name="llama256", cls=LlamaForCausalLM, cfg_cls=LlamaConfig, dtype=torch.float16,
        config_style="transformers-4", tok_style="llama", gguf_arch="llama", shards=None,
        config=dict(
            hidden_size=256, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=256, tie_word_embeddings=True, rms_norm_eps=1e-5,
            attention_bias=False, mlp_bias=False, rope_theta=500000.0,
        ),
    ),
]

WEIGHT_STD = 0.1   # matrices and embeddings: logits end up with std ~1, so few near-ties
BIAS_STD = 0.1     # q/k/v biases (qwen2): clearly non-zero
NORM_STD = 0.1     # every RMSNorm weight is 1 + N(0, NORM_STD): random around 1, not all ones
F16_MIN_NORMAL = 2.0 ** -14


def init_weights(model: torch.nn.Module, seed: int, f16_exact_matrices: bool) -> None:
    """Fill every parameter from one seeded generator, in sorted-name order, independent of
    transformers' own init code. When f16_exact_matrices, 2-D weights are made exactly
    representable in f16 (values below f16's smallest normal set to 0, the rest rounded to f16),
    so that the f16 matrices of the GGUF files hold the very same values as the safetensors."""
    gen = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in sorted(params):
            p = params[name]
            if name.endswith("norm.weight"):
                v = 1.0 + NORM_STD * torch.randn(p.shape, generator=gen)
            elif name.endswith(".bias"):
                v = BIAS_STD * torch.randn(p.shape, generator=gen)
            else:
                assert p.dim() == 2, name
                v = WEIGHT_STD * torch.randn(p.shape, generator=gen)
                if f16_exact_matrices:
                    v = torch.where(v.abs() < F16_MIN_NORMAL, torch.zeros_like(v), v)
                    v = v.to(torch.float16).to(torch.float32)
            p.copy_(v)


def make_config(fx: dict, vocab_size: int, bos_id: int, eos_id: int):
    kw = dict(COMMON)
    kw.update(fx["config"])
    kw.update(vocab_size=vocab_size, bos_token_id=bos_id, eos_token_id=eos_id)
    cfg = fx["cfg_cls"](**kw)
    cfg.architectures = [fx["cls"].__name__]
    return cfg


def rewrite_config_style(path: Path, style: str) -> None:
    """Rewrite config.json by hand into the requested style, whatever transformers wrote:
    transformers-5: rope_parameters {rope_type, rope_theta, ...}, "dtype"
    transformers-4: rope_theta (+ rope_scaling when not default), "torch_dtype"."""
    cfg = json.loads(path.read_text())
    # Gather the rope description from either style.
    if "rope_parameters" in cfg and cfg["rope_parameters"] is not None:
        rp = dict(cfg.pop("rope_parameters"))
    else:
        rp = dict(cfg.get("rope_scaling") or {"rope_type": "default"})
        rp["rope_theta"] = cfg.get("rope_theta")
    cfg.pop("rope_theta", None)
    cfg.pop("rope_scaling", None)
    dtype = cfg.pop("dtype", None) or cfg.pop("torch_dtype", None)
    cfg.pop("torch_dtype", None)
    if style == "transformers-5":
        cfg["rope_parameters"] = rp
        cfg["dtype"] = dtype
    else:
        assert style == "transformers-4"
        cfg["rope_theta"] = rp.pop("rope_theta")
        rp.setdefault("rope_type", "default")
        if rp["rope_type"] != "default":
            cfg["rope_scaling"] = rp
        cfg["torch_dtype"] = dtype
    path.write_text(json.dumps(dict(sorted(cfg.items())), indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# Reference outputs
# --------------------------------------------------------------------------------------------

LONG_PROMPT = (  # 40 tokens with this tokenizer (41 with BOS)
    "In the morning the sun rises in the east, and in the evening it sets in the west. "
    "The dog sleeps."
)
COMMON_PROMPTS = [
    "The quick brown fox",                       # short English
    LONG_PROMPT,                                 # longer (40 tokens)
    "Café naïve Ωμέγα 東京 🙂🚀",                  # accented Latin, Greek, CJK, emoji
]


def single_token_text(tok: PreTrainedTokenizerFast) -> str:
    """A word the trained tokenizer encodes as exactly one (non-special) token."""
    for w in ["The", " the", "the", "and", "a"]:
        if len(tok(w, add_special_tokens=False)["input_ids"]) == 1:
            return w
    raise RuntimeError("no single-token word")


def greedy(model, tok, text: str, dtype: torch.dtype):
    """Greedy generation with model.generate; returns prompt ids, 16 new ids, logits [16, V]."""
    enc = tok(text, return_tensors="pt")  # special tokens included, exactly as tokenizer(text)
    ids = enc["input_ids"]
    # No eos stopping: load_for_reference cleared eos in the model's generation_config (a
    # config passed to generate with eos_token_id=None gets the model's eos filled back in).
    # min_new_tokens is not used: it would mask eos in the scores, and the raw logits' argmax
    # would no longer be the chosen token.
    assert model.generation_config.eos_token_id is None
    gc = copy.deepcopy(model.generation_config)
    gc.eos_token_id = None
    gc.bos_token_id = None
    gc.pad_token_id = tok.convert_tokens_to_ids(EOS)
    gc.do_sample = False
    gc.max_new_tokens = MAX_NEW_TOKENS
    gc.output_logits = True
    gc.return_dict_in_generate = True
    with torch.no_grad():
        out = model.generate(ids, attention_mask=enc["attention_mask"], generation_config=gc)
    new = out.sequences[0, ids.shape[1]:].tolist()
    assert len(new) == MAX_NEW_TOKENS, (text, out.sequences)
    # out.logits: raw logits (before any processor), one [1, V] tensor per generated token.
    logits = torch.stack([l[0] for l in out.logits]).to(torch.float32).numpy()
    assert logits.shape == (MAX_NEW_TOKENS, model.config.vocab_size)
    assert logits.argmax(-1).tolist() == new, "generated tokens are not the logits' argmax"

    # Cross-check against one full forward over prompt + generated tokens (no KV cache).
    with torch.no_grad():
        full = model(out.sequences).logits[0, ids.shape[1] - 1:-1].to(torch.float32).numpy()
    tol = 1e-4 if dtype == torch.float32 else 0.1
    diff = float(np.abs(full - logits).max())
    assert diff < tol, f"cached vs full forward logits differ by {diff}"

    top2 = np.sort(logits, axis=-1)[:, -2:]
    margin = (top2[:, 1] - top2[:, 0]).astype(np.float64)
    return ids[0].tolist(), new, logits, [round(float(m), 6) for m in margin]


def load_for_reference(folder: Path, dtype: torch.dtype):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation="eager")
    model.eval()
    model.generation_config.eos_token_id = None   # always 16 new tokens, see greedy()
    return model


def make_expected(folder: Path, fx: dict, prompts: list[str]) -> dict:
    tok = PreTrainedTokenizerFast.from_pretrained(folder)
    auto = AutoTokenizer.from_pretrained(folder)
    for text in prompts:
        assert auto(text)["input_ids"] == tok(text)["input_ids"], text
    # The reference: stored (bf16/f16/f32) weights loaded and upcast to float32.
    model = load_for_reference(folder, torch.float32)
    check_rope(model, fx)
    entries = []
    for i, text in enumerate(prompts):
        ptoks, new, logits, margin = greedy(model, tok, text, torch.float32)
        assert ptoks == tok(text)["input_ids"]
        np.save(folder / f"logits_{i}.npy", logits)
        entries.append(dict(
            text=text, prompt_tokens=ptoks, greedy_tokens=new,
            greedy_text=tok.decode(new), top2_margin=margin, logits_file=f"logits_{i}.npy",
        ))
    if fx["name"] == "llama":
        # Cheap extra: the same run computed in bf16 (weights as stored, activations bf16).
        # Looser reference: CPU bf16 matmuls round differently across torch builds/CPUs.
        model16 = load_for_reference(folder, torch.bfloat16)
        for i, text in enumerate(prompts):
            _, new, logits, margin = greedy(model16, tok, text, torch.bfloat16)
            np.save(folder / f"logits_bf16_{i}.npy", logits)
            entries[i]["bf16_compute"] = dict(
                greedy_tokens=new, top2_margin=margin, logits_file=f"logits_bf16_{i}.npy")
    return {
        "fixture": fx["name"],
        "model_class": fx["cls"].__name__,
        "storage_dtype": str(fx["dtype"]).replace("torch.", ""),
        "config_style": fx["config_style"],
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "dtype_compute": "float32",
        "attn_implementation": "eager",
        "max_new_tokens": MAX_NEW_TOKENS,
        "eos_stopping": False,
        "vocab_size": model.config.vocab_size,
        "prompts": entries,
    }


def llama3_inv_freq(head_dim: int, theta: float, rs: dict) -> np.ndarray:
    """Llama 3 rope frequencies, written out from the published formula (float64)."""
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    return inv / llama3_rope_factors(inv, rs)


def llama3_rope_factors(inv_freq: np.ndarray, rs: dict) -> np.ndarray:
    """Per-frequency divisors of the llama3 scheme (what llama.cpp stores as rope_freqs.weight):
    1 for short wavelengths, `factor` for long ones, a smooth blend in between."""
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    lo_wavelen, hi_wavelen = old / lo, old / hi
    out = []
    for f in inv_freq:
        wavelen = 2 * math.pi / f
        if wavelen < hi_wavelen:
            out.append(1.0)
        elif wavelen > lo_wavelen:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float64)


def check_rope(model, fx: dict) -> None:
    """The hand-written config style must have been read as intended: compare transformers'
    rope frequencies with the ones computed here from the fixture's parameters."""
    inv = model.model.rotary_emb.inv_freq.double().numpy()
    hd = COMMON["head_dim"]
    theta = fx["config"]["rope_theta"]
    if "rope_scaling" in fx["config"]:
        want = llama3_inv_freq(hd, theta, fx["config"]["rope_scaling"])
        base = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
        # the scaling must really act at these sizes: some factors 1, some 8, some in between
        f = llama3_rope_factors(base, fx["config"]["rope_scaling"])
        assert (f == 1).any() and (f == 8).any() and ((f > 1) & (f < 8)).any(), f
    else:
        want = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    assert np.allclose(inv, want, rtol=1e-6, atol=0), (fx["name"], inv, want)


# --------------------------------------------------------------------------------------------
# GGUF
# --------------------------------------------------------------------------------------------

def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf permutation of Q/K rows for the llama architecture:
    HF orders each head's rotary dims as [first halves | second halves] (rotate_half RoPE);
    GGUF llama orders them as interleaved pairs (x0, x1), (x2, x3), ... within each head.
    Row r = h*D + j*D/2 + i  (j in {0,1}) moves to  h*D + 2*i + j."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_safetensors_folder(folder: Path) -> dict[str, np.ndarray]:
    """All tensors of a checkpoint folder (single file or shards), as float32 numpy arrays."""
    import safetensors.torch as st
    tensors = {}
    for f in sorted(folder.glob("*.safetensors")):
        for k, v in st.load_file(f).items():
            tensors[k] = v.to(torch.float32).numpy()
    return tensors


def gguf_names(n_layers: int, tied: bool) -> dict[str, str]:
    """HF tensor name -> GGUF tensor name (llama.cpp naming)."""
    m = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    if not tied:
        m["lm_head.weight"] = "output.weight"
    for i in range(n_layers):
        hf, g = f"model.layers.{i}.", f"blk.{i}."
        m.update({
            hf + "input_layernorm.weight": g + "attn_norm.weight",
            hf + "self_attn.q_proj.weight": g + "attn_q.weight",
            hf + "self_attn.k_proj.weight": g + "attn_k.weight",
            hf + "self_attn.v_proj.weight": g + "attn_v.weight",
            hf + "self_attn.o_proj.weight": g + "attn_output.weight",
            hf + "self_attn.q_proj.bias": g + "attn_q.bias",
            hf + "self_attn.k_proj.bias": g + "attn_k.bias",
            hf + "self_attn.v_proj.bias": g + "attn_v.bias",
            hf + "post_attention_layernorm.weight": g + "ffn_norm.weight",
            hf + "mlp.gate_proj.weight": g + "ffn_gate.weight",
            hf + "mlp.up_proj.weight": g + "ffn_up.weight",
            hf + "mlp.down_proj.weight": g + "ffn_down.weight",
        })
    return m


def write_gguf(folder: Path, fx: dict, base_tok: Tokenizer, out_path: Path) -> None:
    arch = fx["gguf_arch"]
    cfg = json.loads((folder / "config.json").read_text())
    hp = dict(COMMON)
    hp.update(fx["config"])
    n_head, n_kv, hd = hp["num_attention_heads"], hp["num_key_value_heads"], hp["head_dim"]
    tied = hp["tie_word_embeddings"]
    tensors = load_safetensors_folder(folder)

    w = gguf.GGUFWriter(str(out_path), arch)   # writes general.architecture
    w.add_name(f"decode-kernels fixture {fx['name']}")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_block_count(hp["num_hidden_layers"])
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(hp["rope_theta"])
    w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])

    # Tokenizer: GPT-2 style byte-level BPE ("gpt2" model, GPT-2 pre-tokenizer regex).
    vocab = base_tok.get_vocab(with_added_tokens=True)
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    assert None not in tokens
    special = {BOS, EOS}
    model_json = json.loads(base_tok.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model_json["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL
                       for t in tokens])
    w.add_token_merges(merges)
    eos_id = vocab[EOS]
    if fx["tok_style"] == "llama":
        w.add_bos_token_id(vocab[BOS])
        w.add_add_bos_token(True)
    else:
        # as Qwen2.5's GGUFs: bos id = eos id (from config.json), BOS never added
        w.add_bos_token_id(cfg["bos_token_id"])
        w.add_add_bos_token(False)
        w.add_pad_token_id(eos_id)
    w.add_eos_token_id(eos_id)

    names = gguf_names(hp["num_hidden_layers"], tied)
    for hf_name in sorted(tensors, key=lambda n: gguf_sort_key(names[n])):
        t = tensors[hf_name]
        g = names[hf_name]
        if arch == "llama" and g.endswith("attn_q.weight"):
            t = permute_qk(t, n_head)
        elif arch == "llama" and g.endswith("attn_k.weight"):
            t = permute_qk(t, n_kv)
        if t.ndim == 1:
            w.add_tensor(g, np.ascontiguousarray(t, dtype=np.float32))   # norms, biases: f32
        else:
            t16 = t.astype(np.float16)
            assert np.array_equal(t16.astype(np.float32), t), f"{g} not exact in f16"
            w.add_tensor(g, np.ascontiguousarray(t16))                   # matrices: f16
    if arch == "llama" and "rope_scaling" in hp:
        # llama.cpp's convention for llama3 rope scaling: no scaling keys, a rope_freqs.weight
        # tensor [head_dim/2] of per-frequency divisors (theta_i = pos * base_inv_freq_i / f_i).
        base = 1.0 / hp["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
        w.add_tensor("rope_freqs.weight",
                     llama3_rope_factors(base, hp["rope_scaling"]).astype(np.float32))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_sort_key(name: str):
    """token_embd, then blocks in order, then output_norm / output (llama.cpp's usual order)."""
    if name.startswith("blk."):
        parts = name.split(".")
        return (1, int(parts[1]), ".".join(parts[2:]))
    return (0 if name == "token_embd.weight" else 2, 0, name)


def verify_gguf(path: Path, folder: Path, fx: dict) -> None:
    """Read the GGUF back and check every tensor against the safetensors checkpoint
    (after undoing the Q/K permutation for llama), exactly, and the main metadata."""
    r = gguf.GGUFReader(str(path))
    hp = dict(COMMON)
    hp.update(fx["config"])
    arch = fx["gguf_arch"]

    def field(key):
        f = r.fields[key]
        return f.contents()

    assert field("general.architecture") == arch
    assert field(f"{arch}.block_count") == hp["num_hidden_layers"]
    assert field(f"{arch}.embedding_length") == hp["hidden_size"]
    assert field(f"{arch}.attention.head_count_kv") == hp["num_key_value_heads"]
    assert field(f"{arch}.rope.freq_base") == hp["rope_theta"]
    assert field("tokenizer.ggml.model") == "gpt2"

    want = load_safetensors_folder(folder)
    names = gguf_names(hp["num_hidden_layers"], hp["tie_word_embeddings"])
    inv = {g: h for h, g in names.items()}
    seen = set()
    for t in r.tensors:
        if t.name == "rope_freqs.weight":
            continue
        # reader shape is ggml's (reversed); data is already numpy-ordered
        data = np.array(t.data).astype(np.float32).reshape([int(x) for x in reversed(t.shape)])
        if arch == "llama" and t.name.endswith("attn_q.weight"):
            data = unpermute_qk(data, hp["num_attention_heads"])
        elif arch == "llama" and t.name.endswith("attn_k.weight"):
            data = unpermute_qk(data, hp["num_key_value_heads"])
        h = inv[t.name]
        assert np.array_equal(data, want[h]), t.name
        seen.add(h)
    assert seen == set(want), set(want) ^ seen
    # And the permutation is a real one: the permuted Q differs from the HF Q.
    if arch == "llama":
        q = want["model.layers.0.self_attn.q_proj.weight"]
        assert not np.array_equal(permute_qk(q, hp["num_attention_heads"]), q)
        assert np.array_equal(unpermute_qk(permute_qk(q, 2), 2), q)


def gguf_forward_check(path: Path, folder: Path) -> float:
    """Independent end-to-end check of the GGUF conventions: a plain numpy (float64) forward
    that reads only the GGUF file (tensors and metadata), with llama.cpp's RoPE styles:
    llama = interleaved pairs (x[2i], x[2i+1]) with frequencies divided by rope_freqs.weight,
    qwen2 = NEOX pairs (x[i], x[i + D/2]). It must reproduce transformers' float32 logits for
    every prompt + greedy continuation in expected.json. Returns the largest difference."""
    r = gguf.GGUFReader(str(path))
    arch = r.fields["general.architecture"].contents()
    meta = lambda k: r.fields[f"{arch}.{k}"].contents()
    n_layer, n_head, n_kv = meta("block_count"), meta("attention.head_count"), meta("attention.head_count_kv")
    hd, eps, base = meta("rope.dimension_count"), meta("attention.layer_norm_rms_epsilon"), meta("rope.freq_base")
    T = {t.name: np.array(t.data).astype(np.float64).reshape([int(x) for x in reversed(t.shape)])
         for t in r.tensors}
    inv_freq = 1.0 / base ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    if "rope_freqs.weight" in T:
        inv_freq = inv_freq / T["rope_freqs.weight"]
    out_w = T.get("output.weight", T["token_embd.weight"])   # tied: output = token_embd

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def rope(x, pos):  # x [L, H, D]
        ang = pos[:, None] * inv_freq[None, :]                     # [L, D/2]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        if arch == "llama":                                        # interleaved pairs
            a, b = x[..., 0::2], x[..., 1::2]
            y = np.empty_like(x)
            y[..., 0::2], y[..., 1::2] = a * c - b * s, a * s + b * c
            return y
        a, b = x[..., : hd // 2], x[..., hd // 2:]                   # NEOX halves
        return np.concatenate([a * c - b * s, a * s + b * c], -1)

    def forward(tokens):
        L = len(tokens)
        pos = np.arange(L, dtype=np.float64)
        x = T["token_embd.weight"][tokens]
        mask = np.triu(np.full((L, L), -np.inf), 1)
        for i in range(n_layer):
            g = lambda n: T[f"blk.{i}.{n}"]
            h = rms(x, g("attn_norm.weight"))
            proj = lambda n: h @ g(f"{n}.weight").T + T.get(f"blk.{i}.{n}.bias", 0.0)
            q = rope(proj("attn_q").reshape(L, n_head, hd), pos)
            k = rope(proj("attn_k").reshape(L, n_kv, hd), pos)
            v = proj("attn_v").reshape(L, n_kv, hd)
            heads = []
            for hq in range(n_head):
                kv = hq // (n_head // n_kv)
                a = q[:, hq] @ k[:, kv].T / math.sqrt(hd) + mask
                a = np.exp(a - a.max(-1, keepdims=True))
                heads.append((a / a.sum(-1, keepdims=True)) @ v[:, kv])
            x = x + np.concatenate(heads, -1) @ g("attn_output.weight").T
            h = rms(x, g("ffn_norm.weight"))
            gate = h @ g("ffn_gate.weight").T
            x = x + ((gate / (1 + np.exp(-gate))) * (h @ g("ffn_up.weight").T)) @ g("ffn_down.weight").T
        return rms(x, T["output_norm.weight"]) @ out_w.T

    worst = 0.0
    for p in json.loads((folder / "expected.json").read_text())["prompts"]:
        seq = p["prompt_tokens"] + p["greedy_tokens"]
        P = len(p["prompt_tokens"])
        got = forward(np.array(seq))[P - 1: P - 1 + MAX_NEW_TOKENS]
        want = np.load(folder / p["logits_file"])
        worst = max(worst, float(np.abs(got - want).max()))
        assert got.argmax(-1).tolist() == p["greedy_tokens"], p["text"]
    assert worst < 1e-3, worst
    return worst


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------

def versions() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
        "gguf": getattr(gguf, "__version__", None) or pkg_version("gguf"),
        "numpy": np.__version__,
    }


def pkg_version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


def build_fixture(fx: dict, base_tok: Tokenizer, out: Path, seed: int) -> None:
    folder = out / fx["name"]
    folder.mkdir(parents=True)
    tok = hf_tokenizer(base_tok, fx["tok_style"])
    tok.save_pretrained(folder)
    # transformers 5 names its fast tokenizer class "TokenizersBackend"; Hub checkpoints (Llama 3
    # among them) say "PreTrainedTokenizerFast", which transformers 4 and 5 both load.
    tc_path = folder / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text())
    tc["tokenizer_class"] = "PreTrainedTokenizerFast"
    tc_path.write_text(json.dumps(tc, indent=2, sort_keys=True) + "\n")
    vocab_size = len(tok)
    eos_id = tok.convert_tokens_to_ids(EOS)
    # Llama style: BOS is <|begin_of_text|>. Qwen style: config's bos id = eos id (as Qwen2.5).
    bos_id = tok.convert_tokens_to_ids(BOS) if fx["tok_style"] == "llama" else eos_id

    cfg = make_config(fx, vocab_size, bos_id, eos_id)
    torch.manual_seed(seed)
    model = fx["cls"](cfg)
    init_weights(model, seed, f16_exact_matrices=fx["gguf_arch"] is not None)
    model = model.to(fx["dtype"])
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=eos_id)
    kw = {"max_shard_size": fx["shards"]} if fx["shards"] else {}
    model.save_pretrained(folder, **kw)
    rewrite_config_style(folder / "config.json", fx["config_style"])

    if fx["shards"]:
        n = len(list(folder.glob("model-*.safetensors")))
        assert 2 <= n <= 3 and (folder / "model.safetensors.index.json").exists(), n
    else:
        assert (folder / "model.safetensors").exists()
    stored = load_safetensors_folder(folder)
    assert ("lm_head.weight" in stored) != fx["config"]["tie_word_embeddings"]

    # Prompts: 3 common ones plus a single-token one; for BOS-adding tokenizers the single-token
    # prompt is "" (tokenizer gives just [BOS]) and a one-word prompt ([BOS, word]) is added too.
    prompts = list(COMMON_PROMPTS)
    if fx["tok_style"] == "llama":
        prompts += [single_token_text(tok), ""]
    else:
        prompts += [single_token_text(tok)]
    expected = make_expected(folder, fx, prompts)
    (folder / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


def manifest(out: Path, vers: dict) -> dict:
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name not in ("manifest.json", "README.md"):  # README: by hand
            files[str(p.relative_to(out))] = {
                "bytes": p.stat().st_size,
                "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            }
    return {
        "generator": "scripts/make_fixtures.py",
        "seed": SEED,
        "versions": vers,
        "fixtures": {fx["name"]: {"model_class": fx["cls"].__name__,
                                  "storage_dtype": str(fx["dtype"]).replace("torch.", ""),
                                  "config_style": fx["config_style"],
                                  "tokenizer_style": fx["tok_style"],
                                  "sharded": bool(fx["shards"])} for fx in FIXTURES},
        "total_bytes": sum(f["bytes"] for f in files.values()),
        "files": files,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    vers = versions()
    for k, v in EXPECTED_VERSIONS.items():
        if vers[k] != v:
            print(f"warning: {k} {vers[k]} installed, fixtures were made with {v}", file=sys.stderr)

    out = args.out
    # Build into a fresh temporary folder next to the destination, then swap it in, keeping
    # README.md (hand-written) if it is there.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fixtures-", dir=out.parent))
    try:
        base_tok = train_base_tokenizer()
        for i, fx in enumerate(FIXTURES):
            print(f"[{fx['name']}] building", flush=True)
            build_fixture(fx, base_tok, tmp, SEED + i)
            if fx["gguf_arch"]:
                g = tmp / f"{fx['name']}.gguf"
                write_gguf(tmp / fx["name"], fx, base_tok, g)
                verify_gguf(g, tmp / fx["name"], fx)
                d = gguf_forward_check(g, tmp / fx["name"])
                print(f"[{fx['name']}] gguf written and verified (numpy forward from the gguf "
                      f"matches transformers' logits to {d:.1e})", flush=True)
        if (out / "README.md").exists():
            shutil.copy(out / "README.md", tmp / "README.md")
        m = manifest(tmp, vers)
        (tmp / "manifest.json").write_text(json.dumps(m, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)

    print(f"wrote {out} ({m['total_bytes'] / 1e6:.2f} MB)")
    for fx in FIXTURES:
        e = json.loads((out / fx["name"] / "expected.json").read_text())
        mins = [min(p["top2_margin"]) for p in e["prompts"]]
        print(f"  {fx['name']}: min top-2 margin per prompt {mins}")


if __name__ == "__main__":
    main()

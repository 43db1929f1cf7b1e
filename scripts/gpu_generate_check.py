"""generate on the GPU against transformers' greedy tokens, for every fixture under
tests/fixtures/models (run by hand on the GPU machine, from the repository root):

    python3 scripts/gpu_generate_check.py target/release/decode-kernels OUT_DIR

For each fixture: all its prompts decoded together (one ragged batch) on the GPU in
eager and in graph mode, each prompt alone on the GPU, and the batch on the CPU backend,
all greedy in f32; every run's tokens must equal transformers' (up to an EOS, where
generate stops and transformers did not).

Then each block-quantized GGUF (scripts/make_quant_fixtures.py: <folder>_<type>.gguf):
the GPU keeps the blocks and multiplies them with x rounded to 8 bits per 32 elements
(the dot kernel), the CPU backend expands them at load, so the two are compared with
each other: the batch in eager and graph mode against the CPU's batch, tokens equal up
to the first step whose top-2 logit margin (the CPU's) is below QUANT_TIE, logits rows
of the steps both runs share within QUANT_REL relative L2, and every prompt's first row
within QUANT_REL of the float64 numpy forward of the same blocks
(tests/fixtures/quant/<stem>.logits0.f32). The two bounds are first guesses to be read
against the values printed (the decode check's quantized steps measured 4.3e-3).

Prints one line per run and exits non-zero on a mismatch. DK_GPU_CHECK_DEVICE=cpu
runs the "GPU" side on the CPU backend (to try the script where there is no GPU)."""
import json, os, subprocess, sys

import numpy as np

QUANT_TIE = 0.05
QUANT_REL = 3e-2

binary, out = sys.argv[1], sys.argv[2]
gpu = os.environ.get("DK_GPU_CHECK_DEVICE", "cuda")
root = "tests/fixtures/models"
os.makedirs(out, exist_ok=True)
failed = 0


def run(model, prompts, extra, tag, logits=False):
    """Tokens of each sequence (and, with logits, the [seq, step, vocab] logits), or None and the error."""
    j = os.path.join(out, tag + ".json")
    args = [binary, "generate", "--model", model, "--max-tokens", "16", "--temperature", "0", "--dtype", "f32", "--json", j]
    if logits:
        args += ["--dump-logits", os.path.join(out, tag + ".npy")]
    for p in prompts:
        args += ["--prompt", p]
    r = subprocess.run(args + extra, capture_output=True, text=True)
    with open(os.path.join(out, tag + ".log"), "w") as f:
        f.write(r.stdout + r.stderr)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1:]
    toks = [s["tokens"] for s in json.load(open(j))["sequences"]]
    if logits:
        return (toks, np.load(os.path.join(out, tag + ".npy"))), None
    return toks, None


for name in sorted(os.listdir(root)):
    path = os.path.join(root, name)
    exp_dir = path[:-5] if name.endswith(".gguf") else path
    exp_file = os.path.join(exp_dir, "expected.json")
    if not os.path.exists(exp_file) or not (os.path.isdir(path) or name.endswith(".gguf")):
        continue
    exp = json.load(open(exp_file))
    eos = set()
    for f in ("config.json", "generation_config.json"):
        if os.path.exists(os.path.join(exp_dir, f)):
            e = json.load(open(os.path.join(exp_dir, f))).get("eos_token_id")
            eos |= set(e if isinstance(e, list) else [] if e is None else [e])
    prompts = [p["text"] for p in exp["prompts"]]
    want = [p["greedy_tokens"] for p in exp["prompts"]]
    runs = {
        "cuda_batch_eager": run(path, prompts, ["--device", gpu], f"{name}_cuda_batch_eager"),
        "cuda_batch_graph": run(path, prompts, ["--device", gpu, "--mode", "graph"], f"{name}_cuda_batch_graph"),
        "cpu_batch": run(path, prompts, ["--device", "cpu"], f"{name}_cpu_batch"),
    }
    single = []
    for i, p in enumerate(prompts):
        toks, err = run(path, [p], ["--device", gpu], f"{name}_cuda_single{i}")
        single.append(toks[0] if toks else None)
    runs["cuda_single"] = (single, None)
    for tag, (got, err) in runs.items():
        if got is None:
            print(f"{name:12s} {tag:18s} ERROR {err}")
            failed += 1
            continue
        bad = []
        for i, (g, w) in enumerate(zip(got, want)):
            ok = g is not None and g == w[: len(g)] and (len(g) == len(w) or (g and g[-1] in eos))
            if not ok:
                bad.append(i)
        print(f"{name:12s} {tag:18s} {'ok' if not bad else 'MISMATCH in prompts ' + str(bad)} ({len(got)} prompts)")
        failed += bool(bad)
print("generate check:", "all equal to transformers" if failed == 0 else f"{failed} run(s) differ")


def rel_l2(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b.astype(np.float64)), 1e-30))


quant_failed = 0
for name in sorted(os.listdir(root)):
    stem = name[:-5]
    # <folder>_<type>: the shortest prefix before a "_" that names a fixture folder.
    parts = stem.split("_")
    folders = [os.path.join(root, "_".join(parts[:i])) for i in range(1, len(parts))]
    folder = next((f for f in folders if os.path.isdir(f)), None)
    if not name.endswith(".gguf") or folder is None:
        continue
    path = os.path.join(root, name)
    prompts = [p["text"] for p in json.load(open(os.path.join(folder, "expected.json")))["prompts"]]
    (cpu, err) = run(path, prompts, ["--device", "cpu"], f"{stem}_cpu_batch", logits=True)
    if cpu is None:
        print(f"{name:22s} cpu_batch          ERROR {err}")
        quant_failed += 1
        continue
    cpu_toks, cpu_logits = cpu
    numpy0 = np.fromfile(os.path.join("tests/fixtures/quant", stem + ".logits0.f32"), dtype="<f4").reshape(len(prompts), -1)
    for tag, extra in (("batch_eager", []), ("batch_graph", ["--mode", "graph"])):
        got, err = run(path, prompts, ["--device", gpu] + extra, f"{stem}_{gpu}_{tag}", logits=True)
        if got is None:
            print(f"{name:22s} {tag:18s} ERROR {err}")
            quant_failed += 1
            continue
        toks, logits = got
        worst, worst0, bad, compared = 0.0, 0.0, [], 0
        for i, (g, c) in enumerate(zip(toks, cpu_toks)):
            worst0 = max(worst0, rel_l2(logits[i, 0], numpy0[i]))
            for t in range(min(len(g), len(c))):
                # Step t's logits were computed on the same context in both runs.
                worst = max(worst, rel_l2(logits[i, t], cpu_logits[i, t]))
                top2 = np.sort(cpu_logits[i, t])[-2:]
                if top2[1] - top2[0] < QUANT_TIE:
                    break  # a near tie: later tokens may differ without a fault
                compared += 1
                if g[t] != c[t]:
                    bad.append(i)
                    break
        ok = not bad and worst <= QUANT_REL and worst0 <= QUANT_REL
        print(
            f"{name:22s} {tag:18s} {'ok' if ok else 'MISMATCH'}: tokens {'equal' if not bad else 'differ in prompts ' + str(bad)}"
            f" over {compared} steps before near ties; logits against the CPU {worst:.2e}, first rows against numpy {worst0:.2e}"
            f" (bound {QUANT_REL:.0e})"
        )
        quant_failed += not ok
print("quantized GGUFs:", "GPU within bounds of the CPU" if quant_failed == 0 else f"{quant_failed} run(s) out of bounds")
sys.exit(1 if failed or quant_failed else 0)

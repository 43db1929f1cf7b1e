"""generate on the GPU against transformers' greedy tokens, for every fixture under
tests/fixtures/models (run by hand on the GPU machine, from the repository root):

    python3 scripts/gpu_generate_check.py target/release/decode-kernels OUT_DIR

For each fixture: all its prompts decoded together (one ragged batch) on the GPU in
eager and in graph mode, each prompt alone on the GPU, and the batch on the CPU backend,
all greedy in f32; every run's tokens must equal transformers' (up to an EOS, where
generate stops and transformers did not). Prints one line per run and exits non-zero on
a mismatch."""
import json, os, subprocess, sys

binary, out = sys.argv[1], sys.argv[2]
root = "tests/fixtures/models"
os.makedirs(out, exist_ok=True)
failed = 0


def run(model, prompts, extra, tag):
    j = os.path.join(out, tag + ".json")
    args = [binary, "generate", "--model", model, "--max-tokens", "16", "--temperature", "0", "--dtype", "f32", "--json", j]
    for p in prompts:
        args += ["--prompt", p]
    r = subprocess.run(args + extra, capture_output=True, text=True)
    with open(os.path.join(out, tag + ".log"), "w") as f:
        f.write(r.stdout + r.stderr)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1:]
    return [s["tokens"] for s in json.load(open(j))["sequences"]], None


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
        "cuda_batch_eager": run(path, prompts, ["--device", "cuda"], f"{name}_cuda_batch_eager"),
        "cuda_batch_graph": run(path, prompts, ["--device", "cuda", "--mode", "graph"], f"{name}_cuda_batch_graph"),
        "cpu_batch": run(path, prompts, ["--device", "cpu"], f"{name}_cpu_batch"),
    }
    single = []
    for i, p in enumerate(prompts):
        toks, err = run(path, [p], ["--device", "cuda"], f"{name}_cuda_single{i}")
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
sys.exit(1 if failed else 0)

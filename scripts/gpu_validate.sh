#!/usr/bin/env bash
# Runs on the GPU machine: the GPU-against-CPU check of a binary, the check
# under compute-sanitizer memcheck on the cases named by MEM_FILTERS and
# racecheck on those named by RACE_FILTERS, and the decode step of a few models with this binary and,
# when BASE is set, with an earlier binary in the same run (same card, same
# minute), for a before/after table. Logs and JSON go to $OUT (tarred).
set -uo pipefail
bin=${BIN:-target/release/decode-kernels}
base=${BASE:-}
out=${OUT:-out}
mkdir -p "$out/v"
export DK_CACHE_DIR=/tmp/dk-validate-cache
san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | tee "$out/v/gpu.txt"
"$bin" info > "$out/v/info.txt" 2>&1
step() { local name=$1; shift; local t0=$SECONDS; "$@" > "$out/v/$name.log" 2>&1; echo "$name rc=$? $((SECONDS - t0))s" | tee -a "$out/v/summary.txt"; }
step check "$bin" check --seed 7 --json "$out/v/check.json"
[ -n "$base" ] && step check-base "$base" check --seed 7
for f in ${MEM_FILTERS:-decode softmax/ rmsnorm rope}; do
    tag=$(echo "$f" | tr -c 'a-zA-Z0-9\n' '_')
    step "memcheck-$tag" "$san" --tool memcheck --error-exitcode 99 "$bin" check --seed 1 --filter "$f"
done
for f in ${RACE_FILTERS:-softmax/ rmsnorm rope}; do
    tag=$(echo "$f" | tr -c 'a-zA-Z0-9\n' '_')
    step "racecheck-$tag" "$san" --tool racecheck --error-exitcode 99 "$bin" check --seed 1 --filter "$f"
done
for mb in ${DECODE:-qwen2.5-0.5b:1 qwen2.5-0.5b:16 llama3-8b:1 llama3-8b:16}; do
    m=${mb%:*}; b=${mb#*:}
    step "decode-$m-b$b" "$bin" decode --model "$m" --batch "$b" --context 4096 --steps 100 --mode eager,graph --no-first-step --json "$out/v/decode_${m}_b$b.json"
    [ -n "$base" ] && step "decode-base-$m-b$b" "$base" decode --model "$m" --batch "$b" --context 4096 --steps 100 --mode eager,graph --no-first-step --json "$out/v/decode_base_${m}_b$b.json"
done
grep -h "check:" "$out"/v/check*.log
grep -h "ERROR SUMMARY" "$out"/v/*check-*.log 2>/dev/null | sort | uniq -c
tar -C "$out" -czf "$out/validate.tgz" v && rm -rf "$out/v"

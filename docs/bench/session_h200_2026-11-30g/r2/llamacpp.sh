#!/usr/bin/env bash
# llama.cpp as the speed peer, on the GPU machine, in one run (build outputs are not kept for long there).
#   bash ../shared/peers/llamacpp.sh LLAMA_CPP_SRC [MODELS] [QUANTS]
# LLAMA_CPP_SRC: a trimmed llama.cpp tree copied to the GPU machine (see PERF.md, "Building llama.cpp").
# MODELS: built-in shapes (default "qwen2.5-0.5b llama3-8b"); QUANTS: e.g. "Q8_0 Q4_K_M" (default none).
# Prints llama-bench tg128 at depth 0 and 4096 (one sequence) and llama-batched-bench decode tok/s for
# 1, 4 and 16 sequences of 4096-token prompts. Logs go to $OUT (or /tmp). About 5 min to build, then
# about 30 s per model and 1-2 min per quantization of an 8B.
set -u
SRC=$1; MODELS=${2:-"qwen2.5-0.5b llama3-8b"}; QUANTS=${3:-}
OUT=${OUT:-/tmp}; B=/tmp/llb; here=$(cd "$(dirname "$0")" && pwd)
t0=$(date +%s)
cmake -S "$SRC" -B $B -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DCMAKE_BUILD_TYPE=Release > "$OUT/llama_cmake.log" 2>&1 || { tail -20 "$OUT/llama_cmake.log"; exit 1; }
for m in $MODELS; do python3 "$here/random_gguf.py" "$m" "/tmp/$m-f16.gguf" "$SRC" > /dev/null & done
cmake --build $B -j "$(nproc)" --target llama-bench llama-batched-bench llama-quantize > "$OUT/llama_build.log" 2>&1 || { grep -m5 -i error "$OUT/llama_build.log"; exit 1; }
wait; echo "llama.cpp built, GGUFs written: $(( $(date +%s) - t0 )) s"
for m in $MODELS; do
  files="/tmp/$m-f16.gguf"
  for q in $QUANTS; do $B/bin/llama-quantize "/tmp/$m-f16.gguf" "/tmp/$m-$q.gguf" "$q" "$(nproc)" > /dev/null 2>&1 && files="$files /tmp/$m-$q.gguf"; done
  for f in $files; do
    $B/bin/llama-bench -m "$f" -ngl 99 -fa 1 -p 0 -n 128 -d 0,4096 -r 3 -o md 2>/dev/null | grep -E '^\| [a-z]'
  done
  timeout 200 $B/bin/llama-batched-bench -m "/tmp/$m-f16.gguf" -ngl 99 -fa on -c 70000 -b 2048 -ub 512 -npp 4096 -ntg 64 -npl 1,4,16 2>/dev/null | grep -E '^\|'
done
echo "done: $(( $(date +%s) - t0 )) s"

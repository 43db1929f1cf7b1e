# llama.cpp (vendored in llama-cpp-python 0.3.36, trimmed) on f16 GGUFs of the four built-in shapes, in one call:
#   OUT=$OUT/x SHAPES="..." bash out/llama_peer/run_f16.sh
set -u
here=$(cd "$(dirname "$0")" && pwd); mkdir -p $OUT /tmp/lsrc
tar xzf $here/llama.cpp.tgz -C /tmp/lsrc
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem --format=csv > $OUT/gpu.txt 2>&1
OUT=$OUT bash $here/llamacpp.sh /tmp/lsrc/llama.cpp "${SHAPES:-qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b}" "${QUANTS:-}" 2>&1 | tee $OUT/llama_peer.txt

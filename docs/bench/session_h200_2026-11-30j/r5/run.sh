# Tenth session, call 5: llama.cpp (vendored in llama-cpp-python 0.3.36, trimmed; built here) on a random
# llama3-8b GGUF quantized to Q4_K_M (and Q8_0 if time allows), beside our step on the same card in the same run.
set -u
R=$PWD/out; P=$R/llama_peer; mkdir -p $OUT/q /tmp/lsrc; t0=$(date +%s)
el() { echo "$(( $(date +%s) - t0 )) s"; }
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem --format=csv > $OUT/q/gpu.txt 2>&1
tar xzf $P/llama.cpp.tgz -C /tmp/lsrc; SRC=/tmp/lsrc/llama.cpp; B=/tmp/llb
export DK_CACHE_DIR=/tmp/dkc_fin
cmake -S $SRC -B $B -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DCMAKE_BUILD_TYPE=Release > $OUT/q/llama_cmake.log 2>&1 || { tail -5 $OUT/q/llama_cmake.log; }
python3 $P/random_gguf.py llama3-8b /tmp/l8-f16.gguf $SRC > $OUT/q/gguf.log 2>&1 &
$R/dk_fin10 info > $OUT/q/info.txt 2>&1 &
timeout 420 cmake --build $B -j 16 --target llama-bench llama-batched-bench llama-quantize > $OUT/q/llama_build.log 2>&1; echo "build rc=$? $(el)"
wait; echo "gguf + prewarm done $(el)"
$B/bin/llama-quantize /tmp/l8-f16.gguf /tmp/l8-q4km.gguf Q4_K_M 16 > $OUT/q/quant_q4km.log 2>&1; echo "Q4_K_M quantized rc=$? $(el)"
run() { tag=$1; shift; f=$OUT/q/dec_${tag}_$(echo $*|tr -d ' -.').txt; timeout 40 $R/dk_fin10 decode --model $* --context 4096 --mode graph --no-first-step --steps 50 > $f 2>&1; echo "[ours $tag $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
lb() { $B/bin/llama-bench -m $1 -ngl 99 -fa 1 -p 0 -n 128 -d 4096 -r 3 -o md 2>/dev/null | grep -E '^\| [a-z]'; }
lb /tmp/l8-q4km.gguf | tee $OUT/q/llama_bench_q4km_1.txt
run 1 llama3-8b --dtype q4_k_m --batch 1
lb /tmp/l8-q4km.gguf | tee $OUT/q/llama_bench_q4km_2.txt
run 2 llama3-8b --dtype q4_k_m --batch 1
run 1 llama3-8b --dtype q4_k_m --batch 16
timeout 120 $B/bin/llama-batched-bench -m /tmp/l8-q4km.gguf -ngl 99 -fa on -c 70000 -b 2048 -ub 512 -npp 4096 -ntg 64 -npl 1,4,16 2>/dev/null | grep -E '^\|' | tee $OUT/q/llama_batched_q4km.txt
echo "Q4_K_M done $(el)"
if [ $(( $(date +%s) - t0 )) -lt 470 ]; then
  $B/bin/llama-quantize /tmp/l8-f16.gguf /tmp/l8-q8.gguf Q8_0 16 > $OUT/q/quant_q8.log 2>&1; echo "Q8_0 quantized rc=$? $(el)"
  lb /tmp/l8-q8.gguf | tee $OUT/q/llama_bench_q8.txt
  run 1 llama3-8b --dtype q8_0 --batch 1
fi
echo "elapsed $(el)"
cd $OUT && tar -czf q.tgz q && rm -rf q

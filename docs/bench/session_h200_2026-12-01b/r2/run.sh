# Thirteenth session, call 2 (same machine, warm): llama.cpp's quantized MUL_MAT (test-backend-ops perf, 80
# cases, weights read hot in L2 where they fit) and ours on the same shapes in the same call: bench
# quant-matmul in graphs, hot (same weights every launch, as llama's tool) and cold (copies past L2), f32 x
# rounded by the launch (as llama's MUL_MAT quantizes b) and x given rounded (a step's projections).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s13
J=$R/dk_s13a
$J info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
SKIP_BUILD=1 LLB=$R/llb_ops OUT=$OUT/q/llops PERF_TIMEOUT=330 bash scripts/llama_ops/backend_ops.sh $R/llama_ops/llama_tests.tgz > $OUT/q/llops.log 2>&1; echo "llama ops rc=$? at $(( $(date +%s) - t0 )) s"; tail -3 $OUT/q/llops.log
for cfg in "--hot" "--x-q8" "--hot --x-q8" ""; do for f in q4_k q6_k q8_0 q4_0; do
  left=$(( 575 - $(date +%s) + t0 )); [ $left -gt 20 ] || break
  tag=$(echo "b$cfg" | tr -d ' -')_$f
  timeout $left $J bench quant-matmul --dtype f32 --graph --no-peer --kernel auto --formats $f $cfg --csv $OUT/q/bq_$tag.csv > $OUT/q/bq_$tag.txt 2>&1; echo "bench $tag rc=$? at $(( $(date +%s) - t0 )) s"
done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

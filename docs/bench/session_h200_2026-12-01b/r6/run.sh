# Thirteenth session, call 6 (the head e5e7e51's binary dk_s13d): llama.cpp's test-backend-ops built in the
# background then its Q8_0 / Q4_0 MUL_MAT at 8 and 16 tokens beside ours (hot, as its tool times) in the
# same call; `check` (all cases), memcheck of the decode/ cases; steps llama3-8b Q8_0 with the imma kernel
# from 8 tokens (embedded) against without (tabs/q8off.json), and Q4_K_M.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s13
J=$R/dk_s13d
( LLB=/tmp/llb_ops OUT=$OUT/q/llbuild PERF_TIMEOUT=1 TYPES=q4_0 SHAPES=4096x4096 NS=1 bash scripts/llama_ops/backend_ops.sh $R/llama_ops/llama_tests.tgz > $OUT/q/llbuild.log 2>&1; echo "llama build rc=$? at $(( $(date +%s) - t0 )) s" >> $OUT/q/llbuild.log ) &
BP=$!
$J info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $J check --seed 1307 > $OUT/q/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep -E "FAIL" $OUT/q/check.log | head -5
timeout 90 compute-sanitizer --tool memcheck $J check --seed 1308 --filter decode/ > $OUT/q/memcheck_decode.log 2>&1; echo "memcheck decode/ rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_decode.log | tail -2 | tr '\n' ' ')"
wait $BP; tail -1 $OUT/q/llbuild.log
SKIP_BUILD=1 LLB=/tmp/llb_ops OUT=$OUT/q/llops PERF_TIMEOUT=120 TYPES="q8_0 q4_0" NS="8 16" bash scripts/llama_ops/backend_ops.sh $R/llama_ops/llama_tests.tgz > $OUT/q/llops.log 2>&1; echo "llama ops rc=$? at $(( $(date +%s) - t0 )) s"
for cfg in "--hot" "--hot --x-q8"; do
  tag=$(echo "b$cfg" | tr -d ' -')
  timeout 60 $J bench quant-matmul --dtype f32 --graph --no-peer --kernel auto --formats q8_0,q4_0 --n 8,16 $cfg --csv $OUT/q/bq_$tag.csv > $OUT/q/bq_$tag.txt 2>&1; echo "bench $tag rc=$? at $(( $(date +%s) - t0 )) s"
done
run() { tab=$1; shift; f=$OUT/q/dec_${tab}_$(echo $*|tr -d ' -.').txt; left=$(( 585 - $(date +%s) + t0 )); [ $left -gt 15 ] || return; if [ $tab = emb ]; then env -u DK_TUNING_FILE timeout $left $J decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; else DK_TUNING_FILE=$R/tabs/$tab.json timeout $left $J decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; fi; echo "[$tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8; do run emb llama3-8b --dtype q8_0 --batch $b; run q8off llama3-8b --dtype q8_0 --batch $b; done
run emb llama3-8b --dtype q4_k_m --batch 16
run emb llama3-8b --dtype q4_k_m --batch 1
run emb llama3-8b --dtype q8_0 --batch 1
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

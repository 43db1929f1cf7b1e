# Tenth session, call 4: the landed kernels (dk_fin10: pair launch from 3 tokens, cluster_sync as arrive + wait,
# x_unit_words) on the GPU: the whole check; memcheck on the pair, _q8 and decode/ cases; synccheck and racecheck
# on the single-query attention cases (cluster barrier); the quantized and f16 steps.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_fin
$R/dk_fin10 info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 240 $R/dk_fin10 check --seed 1030 > $OUT/q/check_all.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep -E "FAIL" $OUT/q/check_all.log | head -5
echo "check done $(( $(date +%s) - t0 )) s"
for f in q4_k+q6_k _q8 decode/; do g=$(echo $f|tr -d '/+'); timeout 100 compute-sanitizer --tool memcheck $R/dk_fin10 check --seed 1031 --filter $f > $OUT/q/memcheck_$g.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_$g.log | tail -2 | tr '\n' ' ')"; done
timeout 100 compute-sanitizer --tool synccheck $R/dk_fin10 check --seed 1032 --filter lq1_ > $OUT/q/synccheck_lq1.log 2>&1; echo "synccheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/synccheck_lq1.log | tail -2 | tr '\n' ' ')"
timeout 100 compute-sanitizer --tool racecheck $R/dk_fin10 check --seed 1033 --filter q4_k+q6_k > $OUT/q/racecheck_pair.log 2>&1; echo "racecheck rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|check:' $OUT/q/racecheck_pair.log | tail -2 | tr '\n' ' ')"
echo "sanitizers done $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$(echo $*|tr -d ' -.').txt; timeout 40 $R/dk_fin10 decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in "llama3-8b --dtype q4_k_m --batch 1" "llama3-8b --dtype q4_k_m --batch 4" "llama3-8b --dtype q4_k_m --batch 16" "llama3-8b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q4_k_m --batch 1" "llama3-8b --batch 1" "qwen2.5-7b --batch 1" "llama3.2-1b --batch 1" "qwen2.5-0.5b --batch 1" "llama3-8b --batch 16"; do run $m; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

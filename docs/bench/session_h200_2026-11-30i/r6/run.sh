# Ninth session, call 6: the final Q6_K pairs (dk_q6f: swap from 5 tokens on, + __syncwarp before the cluster
# merge's barrier) checked whole; the experiment dk_early (dk_q6f + small kernels between the quantized GEMVs --
# quantize_x, rmsnorm_q8, silu_mul_q8, rope_append -- let the next launch be scheduled before their wait) checked on
# the cases using them; steps of main 3598099 (dk_m9), dk_q6f and dk_early.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in m9 q6f early; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"; grep -il "error" $OUT/q/info_*.txt
( DK_CACHE_DIR=/tmp/dkc_q6f timeout 240 $R/dk_q6f check --seed 953 > $OUT/q/check_q6f_all.log 2>&1; echo "q6f check all rc=$? $(grep 'check:' $OUT/q/check_q6f_all.log | tail -1)"; grep FAIL $OUT/q/check_q6f_all.log | head -5 ) &
( DK_CACHE_DIR=/tmp/dkc_q6f timeout 240 $S --tool memcheck --error-exitcode 99 $R/dk_q6f check --seed 75 --filter sdpa > $OUT/q/mem_q6f_sdpa.log 2>&1; echo "q6f memcheck sdpa rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_q6f_sdpa.log) $(grep 'check:' $OUT/q/mem_q6f_sdpa.log | tail -1)"
  DK_CACHE_DIR=/tmp/dkc_q6f timeout 100 $S --tool synccheck --error-exitcode 99 $R/dk_q6f check --seed 75 --filter lq1_ > $OUT/q/sync_q6f.log 2>&1; echo "q6f synccheck lq1_ rc=$? $(grep 'ERROR SUMMARY' $OUT/q/sync_q6f.log) $(grep 'check:' $OUT/q/sync_q6f.log | tail -1)" ) &
( for f in _q8 rope decode/ generate; do g=$(echo $f|tr -d '/'); DK_CACHE_DIR=/tmp/dkc_early timeout 200 $R/dk_early check --seed 957 --filter $f > $OUT/q/check_early_$g.log 2>&1; echo "early check $f rc=$? $(grep 'check:' $OUT/q/check_early_$g.log | tail -1)"; grep FAIL $OUT/q/check_early_$g.log | head -3; done
  DK_CACHE_DIR=/tmp/dkc_early timeout 150 $S --tool racecheck --error-exitcode 99 $R/dk_early check --seed 77 --filter decode/ > $OUT/q/race_early.log 2>&1; echo "early racecheck decode/ rc=$? $(grep 'ERROR SUMMARY\|RACECHECK SUMMARY' $OUT/q/race_early.log | tail -1) $(grep 'check:' $OUT/q/race_early.log | tail -1)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$1_$(echo $2|tr -d ' -.')_$3.txt; DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 [$2] r$3 $(grep -E '^ *graph ' $f | head -1 | awk '{print $2}') us $(grep -E 'launches per step' $f | sed -E 's/.*, ([0-9]+ launches).*/\1/')"; }
for r in 1 2; do for v in m9 q6f early; do run $v "llama3-8b --dtype q4_k_m --batch 1" $r; done; done
for m in "llama3-8b --dtype q4_k_m --batch 4" "llama3-8b --dtype q4_k_m --batch 16" "llama3-8b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q4_k_m --batch 1" "qwen2.5-0.5b --dtype q8_0 --batch 1" "llama3-8b --dtype f16 --batch 1"; do for v in q6f early; do run $v "$m" 1; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

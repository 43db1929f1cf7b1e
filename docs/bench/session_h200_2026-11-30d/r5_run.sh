# 2026-11-30 (fourth session) r5: sdpa merge weights by warps (mg1), + partial loads first (mg2), + swapped product mmat (sw) against main's kernels (a2 = 95329e1).
# carry ["out/dk_a2","out/dk_mg1","out/dk_mg2","out/dk_sw","out/run_sw.sh"]
set -u
R=$PWD/out; mkdir -p $OUT/s; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in a2 mg1 mg2 sw; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/s/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_sw
( $R/dk_sw check --seed 161 --filter sdpa > $OUT/s/check_sdpa.log 2>&1; echo "sw check sdpa rc=$? $(grep 'check:' $OUT/s/check_sdpa.log | tail -1)"; grep -E "FAIL|rror" $OUT/s/check_sdpa.log | head -8 ) &
( $R/dk_sw check --seed 162 --filter decode/ > $OUT/s/check_dec.log 2>&1; echo "sw check decode/ rc=$? $(grep 'check:' $OUT/s/check_dec.log | tail -1)"; grep -E "FAIL" $OUT/s/check_dec.log | head -3
  $R/dk_sw check --seed 163 --filter generate > $OUT/s/check_gen.log 2>&1; echo "sw check generate rc=$? $(grep 'check:' $OUT/s/check_gen.log | tail -1)"; grep -E "FAIL" $OUT/s/check_gen.log | head -3 ) &
( timeout 200 $S --tool racecheck --error-exitcode 99 $R/dk_sw check --seed 9 --filter lq1 > $OUT/s/race.log 2>&1; echo "sw racecheck lq1 rc=$? $(grep 'RACECHECK SUMMARY' $OUT/s/race.log)" ) &
( timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_sw check --seed 9 --filter sdpa > $OUT/s/mem.log 2>&1; echo "sw memcheck sdpa rc=$? $(grep 'ERROR SUMMARY' $OUT/s/mem.log)" ) &
( DK_CACHE_DIR=/tmp/dkc_mg2 $R/dk_mg2 check --seed 164 --filter sdpa > $OUT/s/check_mg2.log 2>&1; echo "mg2 check sdpa rc=$? $(grep 'check:' $OUT/s/check_mg2.log | tail -1)"; grep -E "FAIL|rror" $OUT/s/check_mg2.log | head -5 ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
for v in a2 mg1 mg2 sw; do
  for sh in "--hq 32 --hkv 8 --lq 1 --lk 576,4096,32768 --d 128" "--hq 32 --hkv 8 --lq 1 --lk 4096 --d 64" "--hq 14 --hkv 2 --lq 1 --lk 4096 --d 64"; do
    DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph $sh >> $OUT/s/bench_sdpa_$v.txt 2>&1
  done; echo "== bench $v"; grep graph $OUT/s/bench_sdpa_$v.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
done
run() { f=$OUT/s/dec_$1_$3_$(echo $2|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype q4_k_m --batch 1" "llama3.2-1b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1"; do
  echo "== $m"; run a2 "$m" 1; run mg1 "$m" 1; run mg2 "$m" 1; run sw "$m" 1; run a2 "$m" 2; run mg2 "$m" 2; run sw "$m" 2
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf s.tgz s && rm -rf s

# 2026-11-30 (fourth session) r6: the final kernels (merge weights by warps + mmat, without the merge's early partial loads) against r5's sw.
# carry ["out/dk_fin","out/dk_sw","out/run_fin.sh"]
set -u
R=$PWD/out; mkdir -p $OUT/f; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in fin sw; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/f/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_fin
( $R/dk_fin check --seed 171 --filter sdpa > $OUT/f/check_sdpa.log 2>&1; echo "fin check sdpa rc=$? $(grep 'check:' $OUT/f/check_sdpa.log | tail -1)"; grep -E "FAIL|rror" $OUT/f/check_sdpa.log | head -5 ) &
( $R/dk_fin check --seed 172 --filter decode/ > $OUT/f/check_dec.log 2>&1; echo "fin check decode/ rc=$? $(grep 'check:' $OUT/f/check_dec.log | tail -1)"
  $R/dk_fin check --seed 173 --filter generate > $OUT/f/check_gen.log 2>&1; echo "fin check generate rc=$? $(grep 'check:' $OUT/f/check_gen.log | tail -1)" ) &
( timeout 70 $S --tool memcheck --error-exitcode 99 $R/dk_fin check --seed 9 --filter lq1 > $OUT/f/mem.log 2>&1; echo "fin memcheck lq1 rc=$? $(grep 'ERROR SUMMARY' $OUT/f/mem.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/f/dec_$1_$3_$(echo $2|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_$1 timeout 40 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype q4_k_m --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1" "llama3.2-1b --dtype f16 --batch 1"; do
  echo "== $m"; run sw "$m" 1; run fin "$m" 1
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf f.tgz f && rm -rf f

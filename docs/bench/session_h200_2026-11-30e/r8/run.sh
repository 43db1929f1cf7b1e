# carry ["out/dk_m4","out/dk_fin","out/run5.sh"]
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in m4 fin; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
( DK_CACHE_DIR=/tmp/dkc_fin $R/dk_fin check --seed 211 --filter rmsnorm_matmul > $OUT/n/check_fin.log 2>&1; echo "fin check matmul rc=$? $(grep 'check:' $OUT/n/check_fin.log | tail -1)"; grep -E "FAIL" $OUT/n/check_fin.log | head -8; DK_CACHE_DIR=/tmp/dkc_fin $R/dk_fin check --seed 215 --filter matmul_silu_mul > $OUT/n/check_glu.log 2>&1; echo "fin check matmul_silu_mul rc=$? $(grep "check:" $OUT/n/check_glu.log | tail -1)" ) &
( DK_CACHE_DIR=/tmp/dkc_fin $R/dk_fin check --seed 213 --filter decode/ > $OUT/n/check_dec.log 2>&1; echo "fin check decode/ rc=$? $(grep 'check:' $OUT/n/check_dec.log | tail -1)"
  DK_CACHE_DIR=/tmp/dkc_fin $R/dk_fin check --seed 214 --filter generate > $OUT/n/check_gen.log 2>&1; echo "fin check generate rc=$? $(grep 'check:' $OUT/n/check_gen.log | tail -1)" ) &
( DK_CACHE_DIR=/tmp/dkc_fin timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_fin check --seed 9 --filter rmsnorm_matmul > $OUT/n/mem.log 2>&1; echo "fin memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem.log)" ) &
( DK_CACHE_DIR=/tmp/dkc_fin timeout 200 $S --tool racecheck --error-exitcode 99 $R/dk_fin check --seed 9 --filter rmsnorm_matmul_silu_mul/300 > $OUT/n/race.log 2>&1; echo "fin racecheck glu rc=$? $(grep 'RACECHECK SUMMARY' $OUT/n/race.log)"
  DK_CACHE_DIR=/tmp/dkc_fin timeout 100 $S --tool racecheck --error-exitcode 99 $R/dk_fin check --seed 9 --filter rmsnorm_matmul/301 > $OUT/n/race2.log 2>&1; echo "fin racecheck plain rc=$? $(grep 'RACECHECK SUMMARY' $OUT/n/race2.log)" ) &
( DK_CACHE_DIR=/tmp/dkc_fin timeout 200 $S --tool synccheck --error-exitcode 99 $R/dk_fin check --seed 9 --filter rmsnorm_matmul > $OUT/n/sync.log 2>&1; echo "fin synccheck rc=$? $(grep 'ERROR SUMMARY' $OUT/n/sync.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3.2-1b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1"; do
  echo "== $m"; for r in 1 2; do for v in m4 fin; do run $v "$m" $r; done; done
done
for m in "llama3-8b --dtype f16 --batch 1" "llama3.2-1b --dtype bf16 --batch 1" "qwen2.5-0.5b --dtype bf16 --batch 1" "llama3.2-1b --dtype f16 --batch 2"; do
  echo "== $m"; for v in m4 fin; do run $v "$m" 1; done
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

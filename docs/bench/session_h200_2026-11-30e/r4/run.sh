# carry ["out/dk_m4","out/dk_nm","out/run3.sh"]
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in m4 nm; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_nm
( $R/dk_nm check --seed 201 --filter rmsnorm_matmul > $OUT/n/check_nm.log 2>&1; echo "check rmsnorm_matmul rc=$? $(grep 'check:' $OUT/n/check_nm.log | tail -1)"; grep -E "FAIL|rror" $OUT/n/check_nm.log | head -8
  $R/dk_nm check --seed 202 --filter matmul_silu_mul > $OUT/n/check_glu.log 2>&1; echo "check matmul_silu_mul rc=$? $(grep 'check:' $OUT/n/check_glu.log | tail -1)" ) &
( $R/dk_nm check --seed 203 --filter decode/ > $OUT/n/check_dec.log 2>&1; echo "check decode/ rc=$? $(grep 'check:' $OUT/n/check_dec.log | tail -1)"; grep -E "FAIL" $OUT/n/check_dec.log | head -5
  $R/dk_nm check --seed 204 --filter generate > $OUT/n/check_gen.log 2>&1; echo "check generate rc=$? $(grep 'check:' $OUT/n/check_gen.log | tail -1)"; grep -E "FAIL" $OUT/n/check_gen.log | head -5 ) &
( timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_nm check --seed 9 --filter rmsnorm_matmul > $OUT/n/mem.log 2>&1; echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem.log)" ) &
( timeout 200 $S --tool racecheck --error-exitcode 99 $R/dk_nm check --seed 9 --filter rmsnorm_matmul_silu_mul > $OUT/n/race.log 2>&1; echo "racecheck glu rc=$? $(grep "RACECHECK SUMMARY" $OUT/n/race.log)"; timeout 100 $S --tool racecheck --error-exitcode 99 $R/dk_nm check --seed 9 --filter rmsnorm_matmul/ > $OUT/n/race2.log 2>&1; echo "racecheck plain rc=$? $(grep "RACECHECK SUMMARY" $OUT/n/race2.log)" ) &
( timeout 200 $S --tool synccheck --error-exitcode 99 $R/dk_nm check --seed 9 --filter rmsnorm_matmul > $OUT/n/sync.log 2>&1; echo "synccheck rc=$? $(grep 'ERROR SUMMARY' $OUT/n/sync.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
grep -h "note\|rel" $OUT/n/check_nm.log | head -40 > $OUT/n/check_nm_notes.txt
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3.2-1b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1" "llama3-8b --dtype f16 --batch 1" "llama3.2-1b --dtype bf16 --batch 1" "llama3.2-1b --dtype f16 --batch 2" "qwen2.5-0.5b --dtype q8_0 --batch 1"; do
  echo "== $m"; for r in 1 2; do run m4 "$m" $r; run nm "$m" $r; done
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

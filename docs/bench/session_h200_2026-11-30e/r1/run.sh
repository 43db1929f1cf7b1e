# Next session's first device run (prepared 2026-11-30, fourth session).
# out/dk_m3 = main 5b407b3 (mmat, merge weights by warps, DK_SDPA_KERNEL), out/dk_cl = branch x-cluster (mmat merges its splits inside a
# thread-block cluster); out/nocl.json = the x-cluster embedded table with sdpa.cluster_merge_max_splits 0 (cluster off,
# same binary, through DK_TUNING_FILE).
# carry ["out/dk_m3","out/dk_cl","out/nocl.json","out/run_next.sh"]; timeout 500. Then llama.cpp if device time is left:
# OUT=$OUT/x SKIP_MULMAT=1 QUANTS=Q4_K_M BUDGET=420 bash out/llama_peer/run.sh (carry out/llama_peer).
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in m3 cl; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_cl
( $R/dk_cl check --seed 181 --filter sdpa > $OUT/n/check_sdpa.log 2>&1; echo "cl check sdpa rc=$? $(grep 'check:' $OUT/n/check_sdpa.log | tail -1)"; grep -E "FAIL|rror" $OUT/n/check_sdpa.log | head -8 ) &
( $R/dk_cl check --seed 182 --filter decode/ > $OUT/n/check_dec.log 2>&1; echo "cl check decode/ rc=$? $(grep 'check:' $OUT/n/check_dec.log | tail -1)"
  $R/dk_cl check --seed 183 --filter generate > $OUT/n/check_gen.log 2>&1; echo "cl check generate rc=$? $(grep 'check:' $OUT/n/check_gen.log | tail -1)" ) &
( timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_cl check --seed 9 --filter sdpa > $OUT/n/mem.log 2>&1; echo "cl memcheck sdpa rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem.log)" ) &
( timeout 200 $S --tool racecheck --error-exitcode 99 $R/dk_cl check --seed 9 --filter lq1 > $OUT/n/race.log 2>&1; echo "cl racecheck lq1 rc=$? $(grep 'RACECHECK SUMMARY' $OUT/n/race.log)" ) &
( timeout 200 $S --tool synccheck --error-exitcode 99 $R/dk_cl check --seed 9 --filter lq1 > $OUT/n/sync.log 2>&1; echo "cl synccheck lq1 rc=$? $(grep 'ERROR SUMMARY' $OUT/n/sync.log)" ) &
( $R/dk_cl check --seed 184 --filter matmul_silu_mul > $OUT/n/check_glu.log 2>&1; echo "cl check glu rc=$? $(grep 'check:' $OUT/n/check_glu.log | tail -1)"
  timeout 150 $S --tool memcheck --error-exitcode 99 $R/dk_cl check --seed 10 --filter matmul_silu_mul > $OUT/n/memglu.log 2>&1; echo "cl memcheck glu rc=$? $(grep 'ERROR SUMMARY' $OUT/n/memglu.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
B="--hq 32 --hkv 8 --lq 1 --lk 576,4096,8192 --d 128"; B2="--hq 14 --hkv 2 --lq 1 --lk 4096 --d 64"; B3="--hq 32 --hkv 8 --lq 1 --lk 4096 --d 64"
for v in m3 cl clnocl; do
  bin=$R/dk_${v%nocl}; env=""; [ $v = clnocl ] && env="DK_TUNING_FILE=$R/nocl.json"
  for sh in "$B" "$B2" "$B3"; do env $env DK_CACHE_DIR=/tmp/dkc_${v%nocl} $bin bench sdpa --graph $sh >> $OUT/n/bench_$v.txt 2>&1; done
  echo "== bench $v"; grep graph $OUT/n/bench_$v.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
done
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt; bin=$R/dk_${1%nocl}; env=""; [ $1 = clnocl ] && env="DK_TUNING_FILE=$R/nocl.json"
  env $env DK_CACHE_DIR=/tmp/dkc_${1%nocl} timeout 60 $bin decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype q4_k_m --batch 1" "llama3.2-1b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1" "llama3-8b --dtype q4_k_m --batch 4" "qwen2.5-0.5b --dtype q8_0 --batch 1"; do
  echo "== $m"; for r in 1 2; do run m3 "$m" $r; run cl "$m" $r; run clnocl "$m" $r; done
done
# mmat against mma8 where auto takes mma8 unmeasured (5-8 rows at D 128, 4 rows from 16384 keys), and against mma.
for k in mmat mma8 mma; do
  for sh in "--hq 28 --hkv 4 --lq 1 --lk 4096,32768 --d 128" "--hq 32 --hkv 8 --lq 1 --lk 16384,32768 --d 128"; do
    DK_SDPA_KERNEL=$k DK_CACHE_DIR=/tmp/dkc_m3 $R/dk_m3 bench sdpa --graph $sh >> $OUT/n/bench_kernel_$k.txt 2>&1
  done; echo "== DK_SDPA_KERNEL=$k"; grep graph $OUT/n/bench_kernel_$k.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

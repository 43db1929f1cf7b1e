# 2026-11-30 seventh session, call D: the binary to land (dk_new: main f33028a + bf16 weights by shift in gemv_veck
# + short caches split finer within a cluster merge) checked whole on the GPU (every case), compute-sanitizer on
# attention and the bf16 GEMVs, and timed against main f33028a (dk_main): bench sdpa --graph at 576..4096 keys,
# decode steps at contexts 576, 2048 and 4096.
# Predictions: qwen2.5-0.5b f16 at context 576 -20 us a step (24 layers x ~0.9 us), llama3.2-1b -8 (16 x ~0.5);
# at 4096 unchanged.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in main new; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
( DK_CACHE_DIR=/tmp/dkc_new timeout 300 $R/dk_new check --seed 611 > $OUT/n/check_new.log 2>&1; echo "check all (dk_new) rc=$? $(grep 'check:' $OUT/n/check_new.log | tail -1)"; grep -E "FAIL" $OUT/n/check_new.log | head -8 ) &
( timeout 200 $S --tool memcheck --error-exitcode 99 env DK_CACHE_DIR=/tmp/dkc_new $R/dk_new check --seed 23 --filter sdpa > $OUT/n/mem_sdpa.log 2>&1; echo "memcheck sdpa rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem_sdpa.log)"
  timeout 100 $S --tool racecheck --error-exitcode 99 env DK_CACHE_DIR=/tmp/dkc_new $R/dk_new check --seed 24 --filter lk1000 > $OUT/n/race_sdpa.log 2>&1; echo "racecheck sdpa lk1000 rc=$? $(grep 'RACECHECK SUMMARY' $OUT/n/race_sdpa.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
for v in main new; do for sh in "--hq 14 --hkv 2 --d 64" "--hq 32 --hkv 8 --d 128"; do
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph $sh --lq 1 --lk 320,576,1024,2048,4096 >> $OUT/n/bench_sdpa_$v.txt 2>&1; done
  echo "$v"; grep -E "_graph" $OUT/n/bench_sdpa_$v.txt | awk "{print \$1,\$2,\$4,\$6,\$7,\$10}"; done
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 90 $R/dk_$1 decode --model $2 --mode graph --no-first-step --steps 30 > $f 2>&1
  echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "qwen2.5-0.5b --dtype f16 --batch 1 --context 576" "llama3.2-1b --dtype f16 --batch 1 --context 576" "qwen2.5-0.5b --dtype f16 --batch 1 --context 2048" "llama3.2-1b --dtype bf16 --batch 1 --context 2048" "qwen2.5-0.5b --dtype q8_0 --batch 1 --context 1024" "llama3.2-1b --dtype f16 --batch 1 --context 4096"; do
  echo "== $m"; for r in 1 2; do run main "$m" $r; run new "$m" $r; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

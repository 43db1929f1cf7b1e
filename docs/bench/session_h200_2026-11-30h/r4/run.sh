# Eighth session, call 4: the cluster merge's owners reduce a piece over 16 lanes (a lane a split, shuffles) instead
# of one thread looping over the splits, the pusher's weights by ex2.approx (dk_own, working tree after adc5609),
# against adc5609 (dk_lt); and the new table rule cluster_max_split_bytes (128 KiB: 8192 keys of D 64 merge in a
# cluster) against the rule off (sdpa_cmsb0.json). Predicted: 4096 keys 9.18 -> ~8.5 us, 576 4.18 -> ~3.5; steps
# llama3-8b -20 us, qwen2.5-0.5b -15, llama3.2-1b -10; the rule: qwen2.5-0.5b at 8192 -32 us, llama3.2-1b -13.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in lt own; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_own
( $R/dk_own check --seed 921 --filter sdpa > $OUT/q/check_sdpa.log 2>&1; echo "check sdpa rc=$? $(grep 'check:' $OUT/q/check_sdpa.log | tail -1)"; grep -E "FAIL" $OUT/q/check_sdpa.log | head -5
  $R/dk_own check --seed 922 --filter decode/ > $OUT/q/check_dec.log 2>&1; echo "check decode/ rc=$? $(grep 'check:' $OUT/q/check_dec.log | tail -1)"
  $R/dk_own check --seed 923 --filter generate > $OUT/q/check_gen.log 2>&1; echo "check generate rc=$? $(grep 'check:' $OUT/q/check_gen.log | tail -1)" ) &
( timeout 250 $S --tool memcheck --error-exitcode 99 $R/dk_own check --seed 51 --filter sdpa > $OUT/q/mem_sdpa.log 2>&1; echo "memcheck sdpa rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_sdpa.log) $(grep 'check:' $OUT/q/mem_sdpa.log | tail -1)" ) &
( timeout 250 $S --tool racecheck --error-exitcode 99 $R/dk_own check --seed 52 --filter lq1_ > $OUT/q/race_sdpa.log 2>&1; echo "racecheck lq1_ rc=$? $(grep 'RACECHECK SUMMARY' $OUT/q/race_sdpa.log) $(grep 'check:' $OUT/q/race_sdpa.log | tail -1)"
  timeout 150 $S --tool synccheck --error-exitcode 99 $R/dk_own check --seed 53 --filter lq1_ > $OUT/q/sync_sdpa.log 2>&1; echo "synccheck lq1_ rc=$? $(grep 'ERROR SUMMARY' $OUT/q/sync_sdpa.log) $(grep 'check:' $OUT/q/sync_sdpa.log | tail -1)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
for v in lt own; do
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph --hq 32 --hkv 8 --lq 1 --lk 576,2048,4096 --d 128 --runs 50 > $OUT/q/bench_a_$v.txt 2>&1
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph --hq 14 --hkv 2 --lq 1 --lk 576,4096,8192 --d 64 --runs 50 > $OUT/q/bench_b_$v.txt 2>&1
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph --hq 32 --hkv 8 --lq 1 --lk 8192 --d 64 --runs 50 > $OUT/q/bench_c_$v.txt 2>&1
  echo "== $v"; grep -h "_graph" $OUT/q/bench_*_$v.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
done
run() { f=$OUT/q/dec_$1_$3_$(echo $2|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_${1%%_*} timeout 60 env $4 $R/dk_${1%%_*} decode --model $2 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "qwen2.5-0.5b --dtype f16" "llama3.2-1b --dtype f16" "llama3-8b --dtype f16" "llama3-8b --dtype q4_k_m"; do
  echo "== $m"; for r in 1 2; do run lt "$m --batch 1 --context 4096" $r X=1; run own "$m --batch 1 --context 4096" $r X=1; done
done
echo "== context 8192: the rule against off"
for m in "qwen2.5-0.5b --dtype f16" "llama3.2-1b --dtype f16"; do for r in 1 2; do
  run own_rule "$m --batch 1 --context 8192" $r X=1; run own_off "$m --batch 1 --context 8192" $r DK_TUNING_FILE=$R/sdpa_cmsb0.json; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

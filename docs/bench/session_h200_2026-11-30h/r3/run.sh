# Eighth session, call 3: sdpa tile copies at constant shared offsets with a whole-tile fast path (dk_lt) against
# the pushed cluster merge (dk_push = main de4f2af): checks, sanitizers, bench --graph, steps; then, on dk_lt, the
# cluster merge where it is not used now: mmat (cluster) for GQA 7 instead of mma8 (DK_SDPA_KERNEL=mmat), and at most
# 16 splits at 8192+ keys (table max_splits 16: a cluster of 512-key splits) against 32 global; Nsight Compute of dk_lt.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in push lt; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_lt
( $R/dk_lt check --seed 911 --filter sdpa > $OUT/q/check_sdpa.log 2>&1; echo "check sdpa rc=$? $(grep 'check:' $OUT/q/check_sdpa.log | tail -1)"; grep -E "FAIL" $OUT/q/check_sdpa.log | head -5
  DK_TUNING_FILE=$R/sdpa_ms16b.json $R/dk_lt check --seed 914 --filter sdpa > $OUT/q/check_sdpa16.log 2>&1; echo "check sdpa ms16 rc=$? $(grep 'check:' $OUT/q/check_sdpa16.log | tail -1)"
  $R/dk_lt check --seed 912 --filter decode/ > $OUT/q/check_dec.log 2>&1; echo "check decode/ rc=$? $(grep 'check:' $OUT/q/check_dec.log | tail -1)" ) &
( timeout 250 $S --tool memcheck --error-exitcode 99 $R/dk_lt check --seed 41 --filter sdpa > $OUT/q/mem_sdpa.log 2>&1; echo "memcheck sdpa rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_sdpa.log) $(grep 'check:' $OUT/q/mem_sdpa.log | tail -1)" ) &
( timeout 250 $S --tool racecheck --error-exitcode 99 $R/dk_lt check --seed 42 --filter lq1_ > $OUT/q/race_sdpa.log 2>&1; echo "racecheck lq1_ rc=$? $(grep 'RACECHECK SUMMARY' $OUT/q/race_sdpa.log) $(grep 'check:' $OUT/q/race_sdpa.log | tail -1)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
for v in push lt; do
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph --hq 32 --hkv 8 --lq 1 --lk 576,4096,8192 --d 128 --runs 50 > $OUT/q/bench_a_$v.txt 2>&1
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph --hq 14 --hkv 2 --lq 1 --lk 576,4096 --d 64 --runs 50 > $OUT/q/bench_b_$v.txt 2>&1
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph --hq 28 --hkv 4 --lq 1,4 --lk 4096 --d 128 --runs 50 > $OUT/q/bench_c_$v.txt 2>&1
  echo "== $v"; grep -h "_graph" $OUT/q/bench_*_$v.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
done
run() { f=$OUT/q/dec_$1_$3_$(echo $2|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_${1%%_*} timeout 60 env $4 $R/dk_${1%%_*} decode --model $2 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "qwen2.5-0.5b --dtype f16" "llama3.2-1b --dtype f16" "llama3-8b --dtype f16" "llama3-8b --dtype q4_k_m"; do
  echo "== $m"; for r in 1 2; do run push "$m --batch 1 --context 4096" $r X=1; run lt "$m --batch 1 --context 4096" $r X=1; done
done
echo "steps $(( $(date +%s) - t0 )) s"
echo "== mmat (cluster) for GQA 7 (qwen2.5-7b shapes)"
DK_SDPA_KERNEL=mmat $R/dk_lt bench sdpa --graph --hq 28 --hkv 4 --lq 1 --lk 576,4096,8192 --d 128 --runs 50 > $OUT/q/bench_c_mmat.txt 2>&1; grep -h "_graph" $OUT/q/bench_c_mmat.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
$R/dk_lt bench sdpa --graph --hq 28 --hkv 4 --lq 1 --lk 576,8192 --d 128 --runs 50 > $OUT/q/bench_c_auto.txt 2>&1; grep -h "_graph" $OUT/q/bench_c_auto.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
for r in 1 2; do run lt_auto "qwen2.5-7b --dtype f16 --batch 1 --context 4096" $r X=1; run lt_mmat "qwen2.5-7b --dtype f16 --batch 1 --context 4096" $r DK_SDPA_KERNEL=mmat; done
echo "== at most 16 splits (cluster) at 8192+ keys"
for sh in "--hq 32 --hkv 8 --d 128" "--hq 14 --hkv 2 --d 64" "--hq 32 --hkv 8 --d 64"; do
  $R/dk_lt bench sdpa --graph $sh --lq 1 --lk 8192,16384 --runs 50 >> $OUT/q/bench_d_base.txt 2>&1
  DK_TUNING_FILE=$R/sdpa_ms16b.json $R/dk_lt bench sdpa --graph $sh --lq 1 --lk 8192,16384 --runs 50 >> $OUT/q/bench_d_ms16.txt 2>&1; done
echo base; grep -h "_graph" $OUT/q/bench_d_base.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'; echo ms16; grep -h "_graph" $OUT/q/bench_d_ms16.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
for m in "llama3-8b --dtype f16" "qwen2.5-0.5b --dtype f16" "llama3.2-1b --dtype f16"; do for r in 1 2; do
  run lt_base "$m --batch 1 --context 8192" $r X=1; run lt_ms16 "$m --batch 1 --context 8192" $r DK_TUNING_FILE=$R/sdpa_ms16b.json; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 100 $N --kernel-name regex:sdpa_mm --launch-skip 3 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $R/dk_lt bench sdpa --hq 32 --hkv 8 --lq 1 --lk 4096 --d 128 --runs 3 > $OUT/q/src_lt.csv 2> $OUT/q/src_lt.err; echo "ncu src rc=$?"
timeout 100 $N --kernel-name regex:sdpa_mm --launch-skip 3 --launch-count 1 --set full $R/dk_lt bench sdpa --hq 32 --hkv 8 --lq 1 --lk 4096 --d 128 --runs 3 > $OUT/q/det_lt.txt 2>&1; echo "ncu det rc=$?"
grep -E "Duration|Executed Instructions |SM Active Cycles|Elapsed Cycles" $OUT/q/det_lt.txt | head
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

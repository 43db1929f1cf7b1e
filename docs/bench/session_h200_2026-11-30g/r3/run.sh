# 2026-11-30 seventh session, call C: (1) attention split limits by tuning table only: max_splits 16 (every split
# count within a cluster merge), 128, and min_keys 64 with max_splits 16, against the table (256 / 64), bench sdpa
# --graph on the three GQA shapes at 576..32768 keys, mma8 forced on GQA 32/8; decode steps at contexts 8192 and
# 32768 where the split count changes. (2) bf16: dk_bf (shift/mask in every unpack) and dk_bf2 (in gemv_veck's
# weight rows only) against main, three alternating runs each.
# Predictions: ms16 GQA 32/8 D128 8192 keys 15.5 -> ~12.5 us (a cluster of 16, 512 keys a CTA); bf2 llama3.2-1b
# bf16 973 -> ~955 with llama3-8b bf16 unchanged.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in main bf bf2; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
( DK_CACHE_DIR=/tmp/dkc_bf2 timeout 300 $R/dk_bf2 check --seed 511 > $OUT/n/check_bf2.log 2>&1; echo "check all (dk_bf2) rc=$? $(grep 'check:' $OUT/n/check_bf2.log | tail -1)"; grep -E "FAIL" $OUT/n/check_bf2.log | head -8 ) &
( DK_CACHE_DIR=/tmp/dkc_main DK_TUNING_FILE=$R/sdpa_ms16.json $R/dk_main check --seed 512 --filter sdpa > $OUT/n/check_sdpa_ms16.log 2>&1; echo "check sdpa ms16 rc=$? $(grep 'check:' $OUT/n/check_sdpa_ms16.log | tail -1)"; grep FAIL $OUT/n/check_sdpa_ms16.log | head -5
  DK_CACHE_DIR=/tmp/dkc_main DK_TUNING_FILE=$R/sdpa_ms128.json $R/dk_main check --seed 513 --filter sdpa > $OUT/n/check_sdpa_ms128.log 2>&1; echo "check sdpa ms128 rc=$? $(grep 'check:' $OUT/n/check_sdpa_ms128.log | tail -1)"; grep FAIL $OUT/n/check_sdpa_ms128.log | head -5 ) &
( timeout 240 $S --tool memcheck --error-exitcode 99 env DK_CACHE_DIR=/tmp/dkc_bf2 $R/dk_bf2 check --seed 22 --filter rmsnorm_matmul > $OUT/n/mem_bf2.log 2>&1; echo "memcheck bf2 rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem_bf2.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_${1%%_*} timeout 90 env $4 $R/dk_${1%%_*} decode --model $2 --mode graph --no-first-step --steps 30 > $f 2>&1
  echo "$1 $(grep -E 'launches per step' $f | sed -E 's/.*, ([0-9]+ launches).*/\1/') $(grep -E '^ *graph ' $f | head -1)"; }
echo "== bf16"
for m in "llama3.2-1b --dtype bf16 --batch 1 --context 4096" "llama3-8b --dtype bf16 --batch 1 --context 4096"; do echo "== $m"
  for r in 1 2 3; do run main "$m" $r X=1; run bf "$m" $r X=1; run bf2 "$m" $r X=1; done; done
echo "bf16 $(( $(date +%s) - t0 )) s"
echo "== sdpa"
for v in base ms16 ms128 mk64ms16; do e=X=1; [ $v != base ] && e=DK_TUNING_FILE=$R/sdpa_$v.json
  for sh in "--hq 14 --hkv 2 --d 64" "--hq 32 --hkv 8 --d 128" "--hq 28 --hkv 4 --d 128"; do
    DK_CACHE_DIR=/tmp/dkc_main env $e $R/dk_main bench sdpa --graph $sh --lq 1 --lk 576,2048,8192,16384,32768 >> $OUT/n/bench_sdpa_$v.txt 2>&1; done
  echo "$v"; grep -E "_graph" $OUT/n/bench_sdpa_$v.txt | grep "lq=1" | awk "{print \$1,\$2,\$4,\$6,\$7,\$10}"
  for m in "qwen2.5-0.5b --dtype f16 --batch 1 --context 8192" "qwen2.5-0.5b --dtype f16 --batch 1 --context 32768" "llama3-8b --dtype f16 --batch 1 --context 8192" "llama3-8b --dtype q4_k_m --batch 1 --context 8192"; do
    run main_$v "$m" 1 $e; done; done
for v in base ms16; do e=X=1; [ $v != base ] && e=DK_TUNING_FILE=$R/sdpa_$v.json
  DK_SDPA_KERNEL=mma8 DK_CACHE_DIR=/tmp/dkc_main env $e $R/dk_main bench sdpa --graph --hq 32 --hkv 8 --d 128 --lq 1 --lk 4096,8192,16384 > $OUT/n/bench_sdpa_mma8_$v.txt 2>&1
  echo "mma8 $v"; grep -E "_graph" $OUT/n/bench_sdpa_mma8_$v.txt | awk "{print \$1,\$2,\$4,\$6,\$7,\$10}"; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

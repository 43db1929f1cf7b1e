# 2026-11-30 seventh session, call A: issue 16's record table (four models x batch 1/4/16 f16, bf16 at batch 1,
# launches a step) on main f33028a (dk_main), the attention split experiments (sdpa.min_keys_per_split 64 / 128,
# 64 with target_ctas_per_sm 4, against 256: tables out/sdpa_*.json) by bench sdpa --graph and decode steps, and
# branch x-bf16-unpack (dk_bf: bf16 unpack by shift and mask) checked and timed against main.
# Predictions: mk64 qwen2.5-0.5b attention ~8 -> ~5 us a layer (-70 us a step); bf16 unpack llama3.2-1b bf16 974 -> ~950.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.max.mem,power.limit --format=csv > $OUT/n/gpu.txt 2>&1
for v in main bf; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
# checks of the bf16 unpack (every op that unpacks: gemv, fused layer, quant dot activations) and of the 64-key split
( DK_CACHE_DIR=/tmp/dkc_bf timeout 300 $R/dk_bf check --seed 411 > $OUT/n/check_bf.log 2>&1; echo "check all (dk_bf) rc=$? $(grep 'check:' $OUT/n/check_bf.log | tail -1)"; grep -E "FAIL" $OUT/n/check_bf.log | head -8 ) &
( DK_CACHE_DIR=/tmp/dkc_main DK_TUNING_FILE=$R/sdpa_mk64t4.json $R/dk_main check --seed 412 --filter sdpa > $OUT/n/check_sdpa64.log 2>&1; echo "check sdpa mk64t4 rc=$? $(grep 'check:' $OUT/n/check_sdpa64.log | tail -1)"; grep FAIL $OUT/n/check_sdpa64.log | head -5 ) &
( timeout 240 $S --tool memcheck --error-exitcode 99 env DK_CACHE_DIR=/tmp/dkc_bf $R/dk_bf check --seed 21 --filter rmsnorm_matmul > $OUT/n/mem_bf.log 2>&1; echo "memcheck bf rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem_bf.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_${1%%_*} timeout 90 env $4 $R/dk_${1%%_*} decode --model $2 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1
  echo "$1 $(grep -E 'launches per step' $f | sed -E 's/.*, ([0-9]+ launches).*/\1/') $(grep -E '^ *graph ' $f | head -1)"; }
echo "== record table (main)"
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for b in 1 4 16; do
  echo "== $m f16 b$b"; run main "$m --dtype f16 --batch $b" 1 X=1; done
  echo "== $m bf16 b1"; run main "$m --dtype bf16 --batch 1" 1 X=1; run bf "$m --dtype bf16 --batch 1" 1 X=1; done
echo "table $(( $(date +%s) - t0 )) s"
echo "== sdpa splits"
for v in base mk128 mk64 mk64t4; do e=X=1; [ $v != base ] && e=DK_TUNING_FILE=$R/sdpa_$v.json
  for sh in "--hq 14 --hkv 2 --d 64" "--hq 32 --hkv 8 --d 128" "--hq 28 --hkv 4 --d 128"; do
    DK_CACHE_DIR=/tmp/dkc_main env $e $R/dk_main bench sdpa --graph $sh --lq 1 --lk 576,4096,8192,32768 >> $OUT/n/bench_sdpa_$v.txt 2>&1; done
  echo "$v"; grep -E "fused" $OUT/n/bench_sdpa_$v.txt | head -14
  for m in "qwen2.5-0.5b --dtype f16 --batch 1" "llama3.2-1b --dtype f16 --batch 1" "llama3-8b --dtype f16 --batch 1" "llama3-8b --dtype q4_k_m --batch 1" "qwen2.5-0.5b --dtype f16 --batch 16"; do
    run main_$v "$m" 1 $e; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

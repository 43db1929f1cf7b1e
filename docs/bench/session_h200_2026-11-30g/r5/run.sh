# 2026-11-30 seventh session, call E (experiment, not for landing as is): mmat (the swapped product) on eight warps
# and 128-key stages (dk_mt8: DK_MMAT with W = 8, the host's threads and stage size to match; D <= 128 only)
# against main b601413 (dk_new). Prediction: GQA 32/8 D 128 at 4096 keys 10.2 -> ~8 us in a graph (two warps a
# scheduler, half the serial steps a warp), llama3-8b f16 step -60 us.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
for v in new mt8; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
( DK_CACHE_DIR=/tmp/dkc_mt8 timeout 120 $R/dk_mt8 check --seed 711 --filter hq14_hkv2 > $OUT/n/check_mt8.log 2>&1; echo "check mt8 hq14_hkv2 rc=$? $(grep 'check:' $OUT/n/check_mt8.log | tail -1)"; grep FAIL $OUT/n/check_mt8.log | head -5
  DK_CACHE_DIR=/tmp/dkc_mt8 timeout 120 $R/dk_mt8 check --seed 712 --filter decode/ > $OUT/n/check_mt8_dec.log 2>&1; echo "check mt8 decode/ rc=$? $(grep 'check:' $OUT/n/check_mt8_dec.log | tail -1)"; grep FAIL $OUT/n/check_mt8_dec.log | head -5 )
for v in new mt8; do for sh in "--hq 14 --hkv 2 --d 64" "--hq 32 --hkv 8 --d 128"; do
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph $sh --lq 1 --lk 576,2048,4096,8192,32768 >> $OUT/n/bench_sdpa_$v.txt 2>&1; done
  echo "$v"; grep -E "_graph" $OUT/n/bench_sdpa_$v.txt | awk "{print \$1,\$2,\$4,\$6,\$7,\$10}"; done
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 90 $R/dk_$1 decode --model $2 --mode graph --no-first-step --steps 30 > $f 2>&1
  echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "qwen2.5-0.5b --dtype f16 --batch 1 --context 4096" "llama3.2-1b --dtype f16 --batch 1 --context 4096" "llama3-8b --dtype f16 --batch 1 --context 4096" "llama3-8b --dtype q4_k_m --batch 1 --context 4096"; do
  echo "== $m"; for r in 1 2; do run new "$m" $r; run mt8 "$m" $r; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

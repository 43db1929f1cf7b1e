# Eighth session, call 8: batch 4's attention (llama3-8b: 8 splits of 512 keys, 32 clusters of 8 not all resident,
# so the global merge: 27.4 us a launch eager, 55% of the roofline, r7). Do fewer splits that merge in resident
# clusters win? Tables max_splits 4 and 6 (clusters of 4 / 6) against the embedded one (8, global), same binary.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_fin8
$R/dk_fin8 info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$1_$(echo $2|tr -d ' -.').txt; timeout 60 env $3 $R/dk_fin8 decode --model $2 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype f16" "qwen2.5-7b --dtype f16" "llama3-8b --dtype q4_k_m" "qwen2.5-0.5b --dtype f16" "llama3.2-1b --dtype f16"; do echo "== $m b4"
  run base "$m --batch 4" X=1; run ms4 "$m --batch 4" DK_TUNING_FILE=$R/sdpa_ms4.json; run ms6 "$m --batch 4" DK_TUNING_FILE=$R/sdpa_ms6.json; done
DK_TUNING_FILE=$R/sdpa_ms4.json timeout 60 $R/dk_fin8 profile --model llama3-8b --batch 4 --steps 3 > $OUT/q/prof_8b_b4_ms4.txt 2>&1; grep -E "sdpa|total" $OUT/q/prof_8b_b4_ms4.txt
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Ninth session, call 8: two experiments on the final binary's quantized steps: the O projection's x quantized by
# its own quantize_x launch at batch 1 too (dk_oq; it triggers early now), and RoPE fused into llama3-8b's
# quantized QKV launches (table quant.rope_fuse_max_weight_elems 32M instead of 12M), against dk_fin9.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
for v in fin9 oq; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$1_$(echo $2|tr -d ' -.')_$3.txt; DK_CACHE_DIR=/tmp/dkc_${1%%_*} timeout 60 env $4 $R/dk_${1%%_*} decode --model $2 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 [$2] r$3 $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us"}') $(grep -E 'launches per step' $f | sed -E 's/.*, ([0-9]+ launches).*/\1/')"; }
for r in 1 2; do run fin9 "llama3-8b --dtype q4_k_m --batch 1" $r X=1; run oq "llama3-8b --dtype q4_k_m --batch 1" $r X=1; run fin9_rope "llama3-8b --dtype q4_k_m --batch 1" $r DK_TUNING_FILE=$R/quant_rope32m.json; done
for m in "llama3-8b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q4_k_m --batch 1" "qwen2.5-0.5b --dtype q8_0 --batch 1"; do run fin9 "$m" 1 X=1; run oq "$m" 1 X=1; done
run fin9_rope "llama3-8b --dtype q8_0 --batch 1" 1 DK_TUNING_FILE=$R/quant_rope32m.json
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

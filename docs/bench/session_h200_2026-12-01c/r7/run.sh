# Fourteenth session, call 7 (dk_q6): Q6_K on imma from 12 tokens (tabs/q6_12.json) against the embedded 13, llama3-8b
# Q4_K_M at batch 12 (the step where it differs), twice each, alternating.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
Q=$R/dk_q6; export DK_CACHE_DIR=/tmp/dkc_q
$Q info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for i in 1 2; do for v in emb q6_12; do f=$OUT/q/dec_${v}_$i.txt; if [ $v = emb ]; then timeout 30 $Q decode --model llama3-8b --dtype q4_k_m --batch 12 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; else DK_TUNING_FILE=$R/tabs/$v.json timeout 30 $Q decode --model llama3-8b --dtype q4_k_m --batch 12 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; fi; echo "[$v $i b12] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

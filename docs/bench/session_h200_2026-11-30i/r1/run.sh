# Ninth session, call 1: where the quantized step's GEMV time goes by shape (main 3598099): bench quant-matmul
# --graph at N = 1 on llama3-8b Q4_K_M's shapes, the Q4_K_M step and its profile, attention at batch 4.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_m9
$R/dk_m9 info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 150 $R/dk_m9 bench quant-matmul --graph --n 1,4 --formats q4_k,q6_k --kernel dot --shapes 1024x4096,4096x4096,5120x4096,6144x4096,14336x4096,28672x4096,4096x14336,128256x4096 > $OUT/q/qm.txt 2>&1
grep -E "graph|shape|M " $OUT/q/qm.txt | head -60
timeout 60 $R/dk_m9 decode --model llama3-8b --dtype q4_k_m --context 4096 --mode graph --no-first-step --steps 30 > $OUT/q/dec_q4.txt 2>&1; grep -E '^ *graph ' $OUT/q/dec_q4.txt
timeout 60 $R/dk_m9 bench sdpa --graph --batch 1,4 --hq 32 --hkv 8 --lq 1 --lk 576,4096 --d 128 > $OUT/q/sdpa_b4.txt 2>&1; grep -E "graph" $OUT/q/sdpa_b4.txt | head
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Fourteenth session, call 5 (dk_s14g: the group cost per format, Q4_0 [0.25, 0.25]): check of the imma cases, bench
# imma on r3's grid (embedded), llama3-8b Q4_K_M batch 8 / 16 steps, and Nsight Compute (source level) of the Q4_K LM
# head at 16 tokens with its new k-parts (one part: 16 super-blocks a group).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s14g; export DK_CACHE_DIR=/tmp/dkc_g
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 60 $F check --seed 1451 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check imma rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1) at $(( $(date +%s) - t0 )) s"
SH=1024x4096,4096x4096,6144x4096,28672x4096,4096x14336,128256x4096
timeout 60 $F bench quant-matmul --x-q8 --graph --no-peer --kernel imma --formats q4_k,q6_k,q8_0,q4_0 --shapes $SH --n 8,12,16 --csv $OUT/q/bq_emb.csv > $OUT/q/bq_emb.txt 2>&1; echo "bench rc=$? $(( $(date +%s) - t0 )) s"
for b in 16 8; do f=$OUT/q/dec_q4_k_m_b$b.txt; timeout 40 $F decode --model llama3-8b --dtype q4_k_m --batch $b --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[q4_k_m b$b] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; done
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 100 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $F bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 16 --shapes 128256x4096 --no-peer --runs 3 > $OUT/q/ncu_lm_src.csv 2> $OUT/q/ncu_lm_src.err; echo "ncu src rc=$? $(( $(date +%s) - t0 )) s"
timeout 60 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --section SpeedOfLight --section WarpStateStats --section Occupancy --section LaunchStats $F bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 16 --shapes 128256x4096 --no-peer --runs 3 > $OUT/q/ncu_lm.txt 2>&1; echo "ncu rc=$? $(( $(date +%s) - t0 )) s"
grep -E "Duration|Grid Size|Block Size|Registers Per|Achieved Occupancy|Dynamic Shared" $OUT/q/ncu_lm.txt | head
grep _graph $OUT/q/bq_emb.txt | grep q4_0 | awk '{print $2"x"$3,$4,$5,$6}' | tr '\n' ';'; echo
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

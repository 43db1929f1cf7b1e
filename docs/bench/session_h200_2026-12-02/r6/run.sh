# Sixteenth session, call 6 (dk_s16e: N = 1 on tensor cores for K <= matmul.mma_n1_max_k = 1024 and a weight
# past L2): the new check case (36000 x 1000 at N = 1, every dtype) plain and under memcheck, GEMV N = 1 on the
# LM heads and a narrow MLP, the qwen2.5-0.5b batch-1 step. Logs straight into $OUT (a short call).
set -u
R=$PWD/out; t0=$(date +%s)
F=$R/dk_s16e; export DK_CACHE_DIR=/tmp/dkc_e
$F info > $OUT/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 30 $F check --seed 1661 --filter 36000x1000 > $OUT/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/check.log | tail -1)"; grep -E "36000" $OUT/check.log | head -3
timeout 40 compute-sanitizer --tool memcheck $F check --seed 1662 --filter 36000x1000 > $OUT/memcheck.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/memcheck.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
timeout 40 $F bench matmul --shapes 151936x896,9728x896,128256x2048 --n 1 --dtype f16,bf16 --csv $OUT/mm.csv > $OUT/mm.txt 2>&1; echo "bench rc=$? at $(( $(date +%s) - t0 )) s"; grep -E "^(f16|bf16) " $OUT/mm.txt
timeout 30 $F decode --model qwen2.5-0.5b --context 4096 --mode graph --no-first-step --steps 30 --batch 1 > $OUT/dec05.txt 2>&1; echo "[qwen2.5-0.5b b1] $(grep -E '^ *graph ' $OUT/dec05.txt | head -1)"
echo "elapsed $(( $(date +%s) - t0 )) s"

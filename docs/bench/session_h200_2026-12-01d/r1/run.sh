# Fifteenth session, call 1 (the head's binary adfa9ab = dk_s15a): full check (incl. the 36000x1024 imma case
# written after the last call), memcheck of the imma cases, tune --ops quant --quick (the group-cost decision's
# first run on a GPU), qwen2.5-0.5b f16 step and profile, its GEMV shapes against cuBLAS, attention at 8192 keys
# with mma8 forced against auto.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s15a; export DK_CACHE_DIR=/tmp/dkc_a
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $F check --seed 1501 > $OUT/q/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check.log | head -3; grep 36000 $OUT/q/check.log | head -8
timeout 120 compute-sanitizer --tool memcheck $F check --seed 1502 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck imma rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
for lk in 4096 8192 16384; do for k in auto mma8 mma mmat; do timeout 30 env DK_SDPA_KERNEL=$k $F bench sdpa --hq 32 --hkv 8 --lq 1 --lk $lk --d 128 > $OUT/q/sdpa_${lk}_$k.txt 2>&1; echo "sdpa $lk $k: $(grep -iE 'fused' $OUT/q/sdpa_${lk}_$k.txt | head -1)"; done; done
timeout 60 $F bench matmul --shapes 1152x896,896x896,9728x896,896x4864,151936x896 --n 1,4,16 --dtype f16 --csv $OUT/q/mm05.csv > $OUT/q/mm05.txt 2>&1; echo "bench mm rc=$? at $(( $(date +%s) - t0 )) s"
for b in 1 16; do timeout 40 $F decode --model qwen2.5-0.5b --context 4096 --mode graph --steps 30 --batch $b > $OUT/q/dec05_b$b.txt 2>&1; echo "[0.5b b$b] $(grep -E '^ *graph ' $OUT/q/dec05_b$b.txt | head -1)"; done
timeout 60 $F profile --model qwen2.5-0.5b --context 4096 --steps 10 > $OUT/q/prof05.txt 2>&1; echo "profile rc=$?"
left=$(( 560 - $(date +%s) + t0 )); timeout $left $F tune --ops quant --quick --out $OUT/q/tune_quant.json --csv $OUT/q/tune_quant.csv --plots $OUT/q/plots > $OUT/q/tune.txt 2>&1; echo "tune rc=$? at $(( $(date +%s) - t0 )) s"; tail -5 $OUT/q/tune.txt
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Thirteenth session, call 5: the imma kernel for Q8_0 and Q4_0 (dk_s13c): the imma check cases (all four
# formats), memcheck of them, bench quant-matmul dot against imma (forced) with x given rounded, cold and hot.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s13
J=$R/dk_s13c
$J info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 150 $J check --seed 1305 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check imma rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1)"; grep -E "FAIL|error" $OUT/q/check_imma.log | head -5
grep -E "^quant_matmul q(8|4)_0" $OUT/q/check_imma.log | head -8
timeout 150 $J bench quant-matmul --x-q8 --graph --no-peer --kernel dot,imma --formats q8_0,q4_0 --shapes 4096x4096,14336x4096,4096x14336,128256x4096 --n 4,6,8,9,12,16 --csv $OUT/q/bq_cold.csv > $OUT/q/bq_cold.txt 2>&1; echo "bench cold rc=$? at $(( $(date +%s) - t0 )) s"
timeout 100 $J bench quant-matmul --x-q8 --hot --graph --no-peer --kernel imma --formats q8_0,q4_0 --n 8,16 --csv $OUT/q/bq_hot.csv > $OUT/q/bq_hot.txt 2>&1; echo "bench hot rc=$? at $(( $(date +%s) - t0 )) s"
left=$(( 580 - $(date +%s) + t0 ))
timeout $left compute-sanitizer --tool memcheck $J check --seed 1306 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck imma rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ')"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Thirteenth session, call 7: Q8_0/Q4_0 imma quant loads written once (word_at2 with a flag the unrolled loop
# fixes; dk_s13f): the imma cases of both formats, memcheck of them, bench at 8 and 16 tokens (as r5).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s13
J=$R/dk_s13f
$J info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for f in q8_0 q4_0; do timeout 100 $J check --seed 1309 --filter $f/ > $OUT/q/check_$f.log 2>&1; echo "check $f rc=$? $(grep 'check:' $OUT/q/check_$f.log | tail -1)"; grep FAIL $OUT/q/check_$f.log | head -3; done
timeout 120 compute-sanitizer --tool memcheck $J check --seed 1310 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck imma rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ')"
timeout 100 $J bench quant-matmul --x-q8 --graph --no-peer --kernel imma --formats q8_0,q4_0 --shapes 4096x4096,14336x4096,4096x14336,128256x4096 --n 8,16 --csv $OUT/q/bq.csv > $OUT/q/bq.txt 2>&1; echo "bench rc=$?"; grep _graph $OUT/q/bq.txt | awk '{print $2,$3,$4,$5,$6}'
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

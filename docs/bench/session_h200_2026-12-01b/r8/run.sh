# Thirteenth session, call 8 (the head's binary dk_s13g: x's chunk order within a super-block from common.cuh's
# x_sb_chunk in the imma kernel, the dot kernel's x_unit_chunk moved to common.cuh, the clusters' occupancy
# query cached): the quant cases and decode/, memcheck of the imma cases, imma and dot timings as r5/r7, steps.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s13
J=$R/dk_s13g
$J info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 120 $J check --seed 1311 --filter quant > $OUT/q/check_quant.log 2>&1; echo "check quant rc=$? $(grep 'check:' $OUT/q/check_quant.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check_quant.log | head -3
timeout 40 $J check --seed 1312 --filter decode/ > $OUT/q/check_decode.log 2>&1; echo "check decode/ rc=$? $(grep 'check:' $OUT/q/check_decode.log | tail -1)"
timeout 60 compute-sanitizer --tool memcheck $J check --seed 1313 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck imma rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
timeout 40 $J bench quant-matmul --x-q8 --graph --no-peer --kernel imma --formats q4_k,q6_k,q8_0 --shapes 4096x4096,14336x4096,4096x14336,128256x4096 --n 8,16 --csv $OUT/q/bq_imma.csv > $OUT/q/bq_imma.txt 2>&1; echo "bench imma rc=$?"
timeout 30 $J bench quant-matmul --x-q8 --graph --no-peer --kernel dot --formats q4_k,q6_k --shapes 4096x4096,14336x4096,4096x14336 --n 1,2 --csv $OUT/q/bq_dot.csv > $OUT/q/bq_dot.txt 2>&1; echo "bench dot rc=$?"
grep _graph $OUT/q/bq_imma.txt $OUT/q/bq_dot.txt | awk '{print $2,$3,$4,$5,$6}' | sed 's/^.*txt://'
for b in 16 1; do f=$OUT/q/dec_b$b.txt; left=$(( 200 - $(date +%s) + t0 )); [ $left -gt 10 ] || break; timeout $left $J decode --model llama3-8b --dtype q4_k_m --batch $b --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[q4_k_m b$b] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Fourteenth session, call 6: Q6_K's imma loop with a unit's two halves met as integers (dk_q6) against the head
# (dk_s14g): check of every q6_k case and memcheck of the imma cases on dk_q6; bench Q6_K imma (both) and dot (head)
# at 8-16 tokens; llama3-8b Q4_K_M steps at batch 16 / 13 / 8, both binaries.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
H=$R/dk_s14g; Q=$R/dk_q6
DK_CACHE_DIR=/tmp/dkc_h $H info > $OUT/q/info_h.txt 2>&1 & DK_CACHE_DIR=/tmp/dkc_q $Q info > $OUT/q/info_q.txt 2>&1; wait; echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_q
timeout 60 $Q check --seed 1461 --filter q6_k > $OUT/q/check_q6k.log 2>&1; echo "check q6_k rc=$? $(grep 'check:' $OUT/q/check_q6k.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check_q6k.log | head -3
timeout 90 compute-sanitizer --tool memcheck $Q check --seed 1462 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck imma rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
SH=1024x4096,4096x4096,6144x4096,28672x4096,4096x14336,128256x4096
timeout 40 $Q bench quant-matmul --x-q8 --graph --no-peer --kernel imma --formats q6_k --shapes $SH --n 8,12,13,16 --csv $OUT/q/bq_q.csv > $OUT/q/bq_q.txt 2>&1; echo "bench q rc=$?"
DK_CACHE_DIR=/tmp/dkc_h timeout 40 $H bench quant-matmul --x-q8 --graph --no-peer --kernel imma,dot --formats q6_k --shapes $SH --n 8,12,13,16 --csv $OUT/q/bq_h.csv > $OUT/q/bq_h.txt 2>&1; echo "bench h rc=$? $(( $(date +%s) - t0 )) s"
for b in 16 13 8; do for v in h q; do B=$H; [ $v = q ] && B=$Q; f=$OUT/q/dec_${v}_b$b.txt; DK_CACHE_DIR=/tmp/dkc_$v timeout 40 $B decode --model llama3-8b --dtype q4_k_m --batch $b --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$v b$b] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; done; done
for f in bq_h bq_q; do echo "== $f"; grep _graph $OUT/q/$f.txt | awk '{print $2"x"$3,$4,$5,$6}' | sed 's/_xq8_graph//' | tr '\n' ';'; echo; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

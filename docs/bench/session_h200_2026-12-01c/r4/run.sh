# Fourteenth session, call 4 (the head's binary dk_s14f: k-parts by rounds x (super-blocks + a group's cost), the
# embedded [0.25, 0.5]; sm_f16 in common.cuh): full check, memcheck of the imma and dot cases, bench imma embedded
# against gcold (= [0, 0], the rule before), llama3-8b Q4_K_M and Q8_0 steps both ways.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s14f; export DK_CACHE_DIR=/tmp/dkc_f
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $F check --seed 1441 > $OUT/q/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check.log | head -3
timeout 120 compute-sanitizer --tool memcheck $F check --seed 1442 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck imma rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
SH=1024x4096,4096x4096,6144x4096,28672x4096,4096x14336,128256x4096
bq() { v=$1; shift; timeout 60 env "$@" $F bench quant-matmul --x-q8 --graph --no-peer --kernel imma --formats q4_k,q6_k,q8_0,q4_0 --shapes $SH --n 8,12,16 --csv $OUT/q/bq_$v.csv > $OUT/q/bq_$v.txt 2>&1; echo "bench $v rc=$? $(( $(date +%s) - t0 )) s"; }
bq emb X=1; bq gcold DK_TUNING_FILE=$R/tabs/gcold.json
dec() { v=$1; shift; f=$OUT/q/dec_${v}_$(echo $*|tr -d ' -.').txt; if [ $v = emb ]; then timeout 40 $F decode --model llama3-8b --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; else DK_TUNING_FILE=$R/tabs/$v.json timeout 40 $F decode --model llama3-8b --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; fi; echo "[$v $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 12 8 1; do for d in q4_k_m q8_0; do for v in emb gcold; do left=$(( 560 - $(date +%s) + t0 )); [ $left -gt 20 ] || break 3; dec $v --dtype $d --batch $b; done; done; done
left=$(( 570 - $(date +%s) + t0 )); [ $left -gt 30 ] && timeout $left compute-sanitizer --tool memcheck $F check --seed 1443 --filter /dot/ > $OUT/q/memcheck_dot.log 2>&1; echo "memcheck dot rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_dot.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

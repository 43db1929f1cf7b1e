# Fourteenth session, call 3: the imma kernel's k-parts chosen with a cost for each group's end (quant.imma_group_cost,
# tables gc0 = the rule before it .. gc2) and forced (kp1..kp16), one binary (dk_gc, main's kernels); llama3-8b Q4_K_M
# and Q8_0 steps at batch 16 / 8 / 12 under gc0, gc0.5, gc1.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
G=$R/dk_gc; export DK_CACHE_DIR=/tmp/dkc_g
$G info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
SH=1024x4096,4096x4096,6144x4096,28672x4096,4096x14336,128256x4096
bq() { v=$1; shift; DK_TUNING_FILE=$R/tabs/$v.json timeout 60 $G bench quant-matmul --x-q8 --graph --no-peer --kernel imma --formats q4_k,q6_k,q8_0,q4_0 --shapes $SH --n 8,12,16 --csv $OUT/q/bq_$v.csv > $OUT/q/bq_$v.txt 2>&1; echo "bench $v rc=$? $(( $(date +%s) - t0 )) s"; }
for v in gc0 gc0.25 gc0.5 gc1 gc2 kp1 kp2 kp4 kp8 kp16; do bq $v; done
dec() { v=$1; shift; f=$OUT/q/dec_${v}_$(echo $*|tr -d ' -.').txt; DK_TUNING_FILE=$R/tabs/$v.json timeout 40 $G decode --model llama3-8b --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$v $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8 12; do for d in q4_k_m q8_0; do for v in gc0 gc0.5 gc1; do dec $v --dtype $d --batch $b; done; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Fourteenth session, call 2: the imma kernel's copies by lane pairs from one pointer a lane (dk_cp) against main
# (dk_base14); k-parts forced by table (kp1..kp16, the largest allowed at most that) on dk_cp; check + memcheck of
# the imma cases on dk_cp; llama3-8b Q4_K_M / Q8_0 steps at batch 8 and 16, both binaries.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
A=$R/dk_base14; C=$R/dk_cp
DK_CACHE_DIR=/tmp/dkc_a $A info > $OUT/q/info_a.txt 2>&1 & DK_CACHE_DIR=/tmp/dkc_c $C info > $OUT/q/info_c.txt 2>&1; wait; echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_c
timeout 60 $C check --seed 1401 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check imma rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check_imma.log | head -3
SH=1024x4096,4096x4096,6144x4096,28672x4096,4096x14336,128256x4096
bq() { v=$1; B=$2; shift 2; timeout 60 $B bench quant-matmul --x-q8 --graph --no-peer --kernel imma --formats q4_k,q6_k,q8_0,q4_0 --shapes $SH --n 8,12,16 --csv $OUT/q/bq_$v.csv "$@" > $OUT/q/bq_$v.txt 2>&1; echo "bench $v rc=$? $(( $(date +%s) - t0 )) s"; }
DK_CACHE_DIR=/tmp/dkc_a bq a $A
bq c $C
for kp in 1 2 4 8 16; do DK_TUNING_FILE=$R/tabs/kp$kp.json bq c_kp$kp $C; done
DK_CACHE_DIR=/tmp/dkc_a bq a2 $A
bq c2 $C
dec() { v=$1; B=$2; shift 2; f=$OUT/q/dec_${v}_$(echo $*|tr -d ' -.').txt; timeout 40 $B decode --model llama3-8b --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$v $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8; do for d in q4_k_m q8_0; do DK_CACHE_DIR=/tmp/dkc_a dec a $A --dtype $d --batch $b; dec c $C --dtype $d --batch $b; done; done
timeout 150 compute-sanitizer --tool memcheck $C check --seed 1402 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck imma rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
for v in a c c_kp1 c_kp2 c_kp4 c_kp8 c_kp16 a2 c2; do echo "== $v"; grep _graph $OUT/q/bq_$v.txt | awk '{printf "%s %s %s %s\n",$2"x"$3,$4,$5,$6}' | sed 's/imma_//;s/_xq8_graph//' | tr '\n' ';'; echo; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

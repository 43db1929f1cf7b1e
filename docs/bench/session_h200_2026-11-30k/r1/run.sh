# Eleventh session, call 1: the integer tensor-core Q4_K kernel (qimma) first on a GPU: its check cases against the
# CPU (and memcheck), bench quant-matmul dot against imma with x given rounded (graph rows), and the llama3-8b
# Q4_K_M step at batch 16 / 8 / 4 with imma from 9, 3 tokens or never (tables by DK_TUNING_FILE).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_im
B=$R/dk_im1
$B info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 120 $B check --seed 1101 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1)"; grep -E "FAIL|rel" $OUT/q/check_imma.log | head -12
timeout 120 compute-sanitizer --tool memcheck $B check --seed 1102 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ')"
echo "checks done $(( $(date +%s) - t0 )) s"
timeout 200 $B bench quant-matmul --formats q4_k --kernel dot,imma --x-q8 --n 1,4,8,9,16 --shapes 4096x4096,6144x4096,14336x4096,28672x4096,4096x14336 --graph --no-peer --runs 30 > $OUT/q/bench_qm.txt 2>&1; echo "bench rc=$?"
grep -E "graph" $OUT/q/bench_qm.txt | awk '{print $1, $2, $3, $4, $5, $6}' | head -60
echo "bench done $(( $(date +%s) - t0 )) s"
run() { tab=$1; shift; f=$OUT/q/dec_${tab}_$(echo $*|tr -d ' -.').txt; DK_TUNING_FILE=$R/tabs/$tab.json timeout 40 $B decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8 4; do for tab in imma_off imma_9 imma_3; do run $tab llama3-8b --dtype q4_k_m --batch $b; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

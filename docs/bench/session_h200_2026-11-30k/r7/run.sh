# Eleventh session, call 7: imma for Q6_K (an mma.m16n8k16 a 16 elements from C = -32 x's sums, super-blocks at any
# even offset read by funnel shifts): check + memcheck of every imma case, bench dot against imma on Q6_K shapes (x
# given rounded), the llama3-8b Q4_K_M step at batch 16 / 8 / 6 / 4 with imma for Q4_K only (q6_off) and for both (q6_on).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_im
B=$R/dk_im7
$B info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 150 $B check --seed 1141 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1)"; grep -E "FAIL" $OUT/q/check_imma.log | head -8
timeout 150 compute-sanitizer --tool memcheck $B check --seed 1142 --filter q6_k/ > $OUT/q/memcheck_q6.log 2>&1; echo "memcheck q6_k rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_q6.log | tail -2 | tr '\n' ' ')"
echo "checks done $(( $(date +%s) - t0 )) s"
timeout 150 $B bench quant-matmul --formats q6_k --kernel dot,imma --x-q8 --n 1,4,6,8,16 --shapes 1024x4096,4096x14336,28672x4096,128256x4096 --graph --no-peer --runs 20 > $OUT/q/bench_q6.txt 2>&1; echo "bench rc=$?"
grep graph $OUT/q/bench_q6.txt | awk '{k=$2"x"$3" n"$4; v[k]=v[k]" "$5"="$6} END {for (k in v) print k, v[k]}' | sort -t' ' -k1,1 -k2,2V
echo "bench done $(( $(date +%s) - t0 )) s"
run() { tab=$1; shift; f=$OUT/q/dec_${tab}_$(echo $*|tr -d ' -.').txt; DK_TUNING_FILE=$R/tabs/$tab.json timeout 40 $B decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8 6 4; do for tab in q6_off q6_on; do run $tab llama3-8b --dtype q4_k_m --batch $b; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Eleventh session, call 9: after a review found Q4_K's min term (one tf32 mma) imprecise where the two terms nearly
# cancel (x with a mean, zero-mean weights): the min term as three tf32 mmas (hi/lo splits). The new cancel cases (dot
# and imma, Q4_K and Q6_K) and every imma case, memcheck of them, and the Q4_K_M step at batch 16 / 8 (its cost).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_fin11b
B=$R/dk_fin11b
$B info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for f in cancel imma; do timeout 100 $B check --seed 1161 --filter $f > $OUT/q/check_$f.log 2>&1; echo "check $f rc=$? $(grep 'check:' $OUT/q/check_$f.log | tail -1)"; grep -E "cancel|FAIL" $OUT/q/check_$f.log | head -10; done
timeout 100 compute-sanitizer --tool memcheck $B check --seed 1162 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ')"
run() { f=$OUT/q/dec_$(echo $*|tr -d ' -.').txt; timeout 40 $B decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in "llama3-8b --dtype q4_k_m --batch 16" "llama3-8b --dtype q4_k_m --batch 8"; do run $m; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

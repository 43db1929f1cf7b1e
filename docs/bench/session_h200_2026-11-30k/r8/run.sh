# Eleventh session, call 8: the head (31d5411, dk_fin11) on the GPU: the whole check; memcheck on the imma and
# decode/ cases; synccheck on the imma cases; racecheck on two 16-token Q6_K imma cases; the steps with the
# embedded table (llama3-8b Q4_K_M batch 16 / 8 / 4 / 1, Q8_0 1, llama3.2-1b Q4_K_M 1).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_fin11
B=$R/dk_fin11
$B info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $B check --seed 1151 > $OUT/q/check_all.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep -E "FAIL" $OUT/q/check_all.log | head -5
for f in imma decode/; do g=$(echo $f|tr -d '/+'); timeout 120 compute-sanitizer --tool memcheck $B check --seed 1152 --filter $f > $OUT/q/memcheck_$g.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_$g.log | tail -2 | tr '\n' ' ')"; done
timeout 90 compute-sanitizer --tool synccheck $B check --seed 1153 --filter imma > $OUT/q/synccheck_imma.log 2>&1; echo "synccheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/synccheck_imma.log | tail -2 | tr '\n' ' ')"
timeout 90 compute-sanitizer --tool racecheck $B check --seed 1154 --filter q6_k/100x768x16 > $OUT/q/racecheck_q6.log 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|check:' $OUT/q/racecheck_q6.log | tail -2 | tr '\n' ' ')"
echo "sanitizers done $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$(echo $*|tr -d ' -.').txt; timeout 40 $B decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in "llama3-8b --dtype q4_k_m --batch 16" "llama3-8b --dtype q4_k_m --batch 8" "llama3-8b --dtype q4_k_m --batch 4" "llama3-8b --dtype q4_k_m --batch 1" "llama3-8b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q4_k_m --batch 1"; do run $m; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

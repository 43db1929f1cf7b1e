# Eleventh session, call 10: the head (462edbc; dk_fin11b, built before its last doc-comment edits) on the GPU: the
# whole check and memcheck of the decode/ cases (they run imma at batch 16 and 20), and the step at batch 16 and 1.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_fin11c
B=$R/dk_fin11b
timeout 200 $B check --seed 1171 > $OUT/q/check_all.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep -E "FAIL" $OUT/q/check_all.log | head -5
timeout 80 compute-sanitizer --tool memcheck $B check --seed 1172 --filter decode/ > $OUT/q/memcheck_decode.log 2>&1; echo "memcheck decode/ rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_decode.log | tail -2 | tr '\n' ' ')"
for b in 16 1; do f=$OUT/q/dec_b$b.txt; timeout 40 $B decode --model llama3-8b --dtype q4_k_m --batch $b --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[q4_k_m batch $b] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

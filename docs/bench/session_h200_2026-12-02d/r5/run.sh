# Nineteenth session, call 5 (dk_final = the commit after 7386e44: the split softmax's second launch a
# programmatic dependent of the first where the first launch's threads fit the device at once).
# GPU check of softmax and decode, memcheck of the split cases, `bench softmax` on the grid of r4
# (auto and split), PyTorch on the same shapes in the same call.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s); export DK_CACHE_DIR=/tmp/dkc_final
$R/dk_final info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 100 $R/dk_final check --seed 1951 --filter softmax > $OUT/q/check_softmax.log 2>&1; echo "check softmax rc=$? $(grep 'check:' $OUT/q/check_softmax.log | tail -1)"; grep FAIL $OUT/q/check_softmax.log | head -5
timeout 60 $R/dk_final check --seed 1952 --filter decode > $OUT/q/check_decode.log 2>&1; echo "check decode rc=$? $(grep 'check:' $OUT/q/check_decode.log | tail -1) at $(( $(date +%s) - t0 )) s"
timeout 60 $R/dk_final bench softmax --rows 1,4,16,64 --cols 32769,65537,128256,151936,262144 --dtype f16,f32 --modes plain --variants split --runs 30 --csv $OUT/q/bench.csv > $OUT/q/bench.txt 2>&1; echo "bench rc=$? at $(( $(date +%s) - t0 )) s"
timeout 60 python3 docs/bench/session_h200_2026-12-02d/r3/torch_softmax.py > $OUT/q/torch_softmax.txt 2>&1; echo "torch rc=$? at $(( $(date +%s) - t0 )) s"
timeout 60 compute-sanitizer --tool memcheck $R/dk_final check --seed 1953 --filter /split > $OUT/q/memcheck_split.log 2>&1; echo "memcheck /split rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_split.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Nineteenth session, call 4 (dk_spdl = main 7386e44 plus the split softmax's second launch as a
# programmatic dependent of the first: split_stats lets it be scheduled at once, split_norm loads its
# chunk of x before griddepcontrol.wait; dk_head = main 7876814, the same softmax code as 7386e44).
# GPU check of every softmax case, memcheck and racecheck of the split ones; `bench softmax`
# split and block on both binaries, alternating.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
for b in head spdl; do (DK_CACHE_DIR=/tmp/dkc_$b $R/dk_$b info > $OUT/q/info_$b.txt 2>&1) & done; wait; echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_spdl
timeout 100 $R/dk_spdl check --seed 1941 --filter softmax > $OUT/q/check_softmax.log 2>&1; echo "check softmax rc=$? $(grep 'check:' $OUT/q/check_softmax.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check_softmax.log | head -5
bench() { b=$1; r=$2; DK_CACHE_DIR=/tmp/dkc_$b timeout 60 $R/dk_$b bench softmax --rows 1,4,16,64 --cols 32769,65537,128256,151936,262144 --dtype f16,f32 --modes plain --variants split --runs 30 --csv $OUT/q/bench_${b}_$r.csv > $OUT/q/bench_${b}_$r.txt 2>&1; echo "bench $b $r rc=$? at $(( $(date +%s) - t0 )) s"; }
bench head 1; bench spdl 1; bench spdl 2; bench head 2
timeout 100 compute-sanitizer --tool memcheck $R/dk_spdl check --seed 1943 --filter /split > $OUT/q/memcheck_split.log 2>&1; echo "memcheck /split rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_split.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
timeout 150 compute-sanitizer --tool racecheck $R/dk_spdl check --seed 1944 --filter /split > $OUT/q/racecheck_split.log 2>&1; echo "racecheck /split rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY|check:' $OUT/q/racecheck_split.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

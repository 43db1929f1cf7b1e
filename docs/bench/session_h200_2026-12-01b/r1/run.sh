# Thirteenth session, call 1: llama.cpp's test-backend-ops built in the background (out/llb_ops, kept for
# call 2 on the warm machine); the imma cases (d38887c's forced-cluster /cs cases for the first time on a
# GPU) and memcheck of the /cs cases.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s13
J=$R/dk_s13a
( LLB=$R/llb_ops OUT=$OUT/q/llbuild PERF_TIMEOUT=1 TYPES=q4_0 SHAPES=4096x4096 NS=1 bash scripts/llama_ops/backend_ops.sh $R/llama_ops/llama_tests.tgz > $OUT/q/llbuild.log 2>&1; echo "llama build rc=$? at $(( $(date +%s) - t0 )) s" >> $OUT/q/llbuild.log ) &
BP=$!
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem,driver_version --format=csv > $OUT/q/gpu.txt 2>&1
$J info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 150 $J check --seed 1301 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check imma rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1)"; grep -c "/cs" $OUT/q/check_imma.log; grep FAIL $OUT/q/check_imma.log | head -3
grep "/cs" $OUT/q/check_imma.log | head -20
timeout 240 compute-sanitizer --tool memcheck $J check --seed 1302 --filter /cs > $OUT/q/memcheck_cs.log 2>&1; echo "memcheck /cs rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_cs.log | tail -2 | tr '\n' ' ')"
echo "checks done $(( $(date +%s) - t0 )) s"
wait $BP; tail -5 $OUT/q/llbuild.log; ls -la $R/llb_ops/bin/test-backend-ops
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

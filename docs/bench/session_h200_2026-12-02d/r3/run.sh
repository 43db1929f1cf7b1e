# Nineteenth session, call 3 (dk_c16 = main 7386e44 plus the wide cluster softmax: a vocabulary-wide
# row, 32769-262144 columns, over a cluster of 16 CTAs in one launch, x held in registers; auto takes
# it instead of the split variant's two launches). GPU check of every softmax case, memcheck of the
# block ones (the wide cluster forced), `bench softmax` block (= the wide cluster on these shapes)
# against split, and PyTorch's softmax on the same shapes in the same call.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s); export DK_CACHE_DIR=/tmp/dkc_c16
$R/dk_c16 info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"; grep -i 'roofline\|empty' $OUT/q/info.txt | head -4
timeout 150 $R/dk_c16 check --seed 1931 --filter softmax > $OUT/q/check_softmax.log 2>&1; echo "check softmax rc=$? $(grep 'check:' $OUT/q/check_softmax.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check_softmax.log | head -5
timeout 120 $R/dk_c16 bench softmax --rows 1,4,16,64,133 --cols 32769,65537,128256,151936,262144 --dtype f16,f32 --modes plain --variants block,split --runs 30 --csv $OUT/q/bench_softmax.csv > $OUT/q/bench_softmax.txt 2>&1; echo "bench rc=$? at $(( $(date +%s) - t0 )) s"
timeout 90 python3 docs/bench/session_h200_2026-12-02d/r3/torch_softmax.py > $OUT/q/torch_softmax.txt 2>&1; echo "torch rc=$? at $(( $(date +%s) - t0 )) s"
timeout 170 compute-sanitizer --tool memcheck $R/dk_c16 check --seed 1933 --filter /block > $OUT/q/memcheck_block.log 2>&1; echo "memcheck /block rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_block.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Nineteenth session, call 7 (dk_d1 = main 7800886 with gemv_veck's plain K loop written through the same
# two lambdas as the `w` entries' loop (the duplicate loop text removed); dk_final = main 7800886).
# GPU check of the matmul cases on dk_d1 and memcheck of the GEMV-forced ones (as many as fit);
# `bench matmul --no-peer` f16 and f32 at N = 1, 2, 4, 8, 16 on both binaries, alternating;
# qwen2.5-0.5b and llama3-8b steps on both (the `w` kernels, unchanged in source, recompiled beside).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
for b in final d1; do (DK_CACHE_DIR=/tmp/dkc_$b $R/dk_$b info > $OUT/q/info_$b.txt 2>&1) & done; wait; echo "prewarm $(( $(date +%s) - t0 )) s"
DK_CACHE_DIR=/tmp/dkc_d1 timeout 100 $R/dk_d1 check --seed 1971 --filter matmul > $OUT/q/check_matmul.log 2>&1; echo "check matmul rc=$? $(grep 'check:' $OUT/q/check_matmul.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check_matmul.log | head -5
bench() { b=$1; r=$2; DK_CACHE_DIR=/tmp/dkc_$b timeout 90 $R/dk_$b bench matmul --shapes 896x4864,4096x4096,14336x4096,4096x14336,128256x4096,151936x896 --n 1,2,4,8,16 --dtype f16,f32 --no-peer --runs 30 --csv $OUT/q/bench_${b}_$r.csv > $OUT/q/bench_${b}_$r.txt 2>&1; echo "bench $b $r rc=$? at $(( $(date +%s) - t0 )) s"; }
bench final 1; bench d1 1
dec() { b=$1; m=$2; f=$OUT/q/dec_${b}_${m}.txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 30 $R/dk_$b decode --model $m --context 4096 --mode graph --no-first-step --steps 30 --batch 1 > $f 2>&1; echo "[$b $m] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
dec final qwen2.5-0.5b; dec d1 qwen2.5-0.5b; dec final llama3-8b; dec d1 llama3-8b
DK_CACHE_DIR=/tmp/dkc_d1 timeout 80 compute-sanitizer --tool memcheck $R/dk_d1 check --seed 1973 --filter Gemv > $OUT/q/memcheck_gemv.log 2>&1; echo "memcheck Gemv rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_gemv.log | tail -2 | tr '\n' ' ') passed so far $(grep -c ' pass' $OUT/q/memcheck_gemv.log) at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

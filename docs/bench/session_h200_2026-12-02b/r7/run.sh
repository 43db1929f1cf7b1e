# Seventeenth session, call 7 (dk_s17g, as committed: the loads-before-wait path as separate `w` kernel
# entries, the plain entries back to main's code, same registers as main for all 80 of them): check of the
# fixed-A matmul cases and the decode cases (the fused w kernels), two steps at batch 1.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s17g; export DK_CACHE_DIR=/tmp/dkc_g
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 30 $F check --seed 1741 --filter /fixed > $OUT/q/check_fixed.log 2>&1; echo "check fixed rc=$? $(grep 'check:' $OUT/q/check_fixed.log | tail -1)"
timeout 40 $F check --seed 1742 --filter decode > $OUT/q/check_decode.log 2>&1; echo "check decode rc=$? $(grep 'check:' $OUT/q/check_decode.log | tail -1) at $(( $(date +%s) - t0 )) s"
for m in qwen2.5-0.5b llama3.2-1b; do f=$OUT/q/dec_$m.txt; timeout 30 $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 --batch 1 > $f 2>&1; echo "[$m b1] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

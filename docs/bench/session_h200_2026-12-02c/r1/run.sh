# Eighteenth session, call 1 (dk_head = main 3fa1ede): verify the head on the GPU (full check, memcheck of
# the fixed-A and decode cases), then what each kind of launch costs the qwen2.5-0.5b and llama3.2-1b steps
# now (leave-out studies: the step's graph without those launches, outputs not the model's).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_head; export DK_CACHE_DIR=/tmp/dkc_head
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 120 $F check --seed 1801 > $OUT/q/check_full.log 2>&1; echo "check full rc=$? $(grep 'check:' $OUT/q/check_full.log | tail -1) at $(( $(date +%s) - t0 )) s"
for m in qwen2.5-0.5b llama3.2-1b; do f=$OUT/q/dec_$m.txt; timeout 60 $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 --batch 1 --leave-out sdpa --leave-out veckglun --leave-out veckrope --leave-out gemv_veck_n1 --leave-out gemv_mma --leave-out rmsnorm/ > $f 2>&1; echo "[$m b1] rc=$? $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; done
timeout 90 compute-sanitizer --tool memcheck $F check --seed 1802 --filter /fixed > $OUT/q/memcheck_fixed.log 2>&1; echo "memcheck fixed rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_fixed.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
timeout 150 compute-sanitizer --tool memcheck $F check --seed 1803 --filter decode/ > $OUT/q/memcheck_decode.log 2>&1; echo "memcheck decode rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_decode.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

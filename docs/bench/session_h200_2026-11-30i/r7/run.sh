# Ninth session, call 7: the final binary (dk_fin9 = q6k-pairs fb6b573: Q6_K pairs, __syncwarp in the cluster merge,
# early trigger of the quantized step's small kernels) checked whole (check, memcheck, racecheck of our kernels) and
# its quantized and f16 steps; experiment dk_x2 = fin9 + the dense rmsnorm kernels triggering early too.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in fin9 x2; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_fin9
( timeout 240 $R/dk_fin9 check --seed 971 > $OUT/q/check_all.log 2>&1; echo "check all rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep FAIL $OUT/q/check_all.log | head -5
  DK_CACHE_DIR=/tmp/dkc_x2 timeout 60 $R/dk_x2 check --seed 973 --filter rmsnorm > $OUT/q/check_x2.log 2>&1; echo "x2 check rmsnorm rc=$? $(grep 'check:' $OUT/q/check_x2.log | tail -1)" ) &
( for f in _q8 decode/; do g=$(echo $f|tr -d '/'); timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_fin9 check --seed 79 --filter $f > $OUT/q/mem_$g.log 2>&1; echo "memcheck $f rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_$g.log) $(grep 'check:' $OUT/q/mem_$g.log | tail -1)"; done
  timeout 150 $S --tool racecheck --error-exitcode 99 $R/dk_fin9 check --seed 81 --filter _q8 > $OUT/q/race_q8.log 2>&1; echo "racecheck _q8 rc=$? $(grep 'RACECHECK SUMMARY' $OUT/q/race_q8.log) $(grep 'check:' $OUT/q/race_q8.log | tail -1)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$1_$(echo $2|tr -d ' -.')_$3.txt; DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 [$2] r$3 $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -E 'launches per step' $f | sed -E 's/.*, ([0-9]+ launches).*/\1/')"; }
for r in 1 2; do run fin9 "llama3-8b --dtype q4_k_m --batch 1" $r; done
for m in "llama3-8b --dtype q4_k_m --batch 4" "llama3-8b --dtype q4_k_m --batch 16" "llama3-8b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q4_k_m --batch 1" "llama3.2-1b --dtype q8_0 --batch 1" "qwen2.5-0.5b --dtype q8_0 --batch 1" "qwen2.5-0.5b --dtype q4_k_m --batch 1"; do run fin9 "$m" 1; done
for m in "llama3-8b --dtype f16 --batch 1" "llama3.2-1b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1" "qwen2.5-7b --dtype f16 --batch 1" "llama3-8b --dtype f16 --batch 16"; do for v in fin9 x2; do run $v "$m" 1; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

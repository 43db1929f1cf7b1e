# 2026-11-30 sixth session, r6: the x-quant-rope change to land (dk_f): r5's q3 (the slot, bias and angle prepared when
# a tile starts, at most one tile a warp), fused only up to quant.rope_fuse_max_weight_elems = 16M (llama3-8b's 25M
# QKV stays as main). Against main (dk_rope2). Prediction (r5): qwen2.5-0.5b Q8_0 717 -> ~710, llama3.2-1b Q8_0
# 689 -> ~685, Q4_K_M 635 -> ~617, llama3-8b Q4_K_M unchanged.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in rope2 f; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_f
ck() { $R/dk_f check --seed $1 --filter $2 > $OUT/n/check_$3.log 2>&1; echo "check $2 rc=$? $(grep 'check:' $OUT/n/check_$3.log | tail -1)"; grep -E "FAIL|rror" $OUT/n/check_$3.log | head -6; }
( ck 601 quant_matmul_rope_append qr; ck 602 rope/ rope; ck 603 matmul_rope_append mr ) &
( ck 604 decode/ dec; ck 605 generate gen ) &
( timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_f check --seed 9 --filter quant_matmul_rope_append > $OUT/n/mem.log 2>&1; echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem.log)"
  timeout 100 $S --tool memcheck --error-exitcode 99 $R/dk_f check --seed 9 --filter decode/tiny/q4_k_m > $OUT/n/mem2.log 2>&1; echo "memcheck decode q4_k_m rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem2.log)" ) &
( timeout 200 $S --tool racecheck --error-exitcode 99 $R/dk_f check --seed 9 --filter quant_matmul_rope_append/q8_0 > $OUT/n/race.log 2>&1; echo "racecheck rc=$? $(grep 'RACECHECK SUMMARY' $OUT/n/race.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "qwen2.5-0.5b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q4_k_m --batch 1" "llama3-8b --dtype q4_k_m --batch 1"; do
  echo "== $m"; for r in 1 2; do run rope2 "$m" $r; run f "$m" $r; done; done
for m in "llama3.2-1b --dtype q8_0 --batch 2" "qwen2.5-0.5b --dtype q8_0 --batch 2"; do echo "== $m"; run rope2 "$m" 1; run f "$m" 1; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

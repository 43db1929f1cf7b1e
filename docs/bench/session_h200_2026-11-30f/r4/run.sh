# 2026-11-30 sixth session, r4: x-quant-rope (quant_matmul_rope_append: RoPE and the cache append in the integer-dot
# GEMV's epilogue, qgemv_dot_rope; the decode step's quantized QKV at <= 2 rows) against main (dk_rope2 = 5147850's
# kernels and host code). Prediction: one launch fewer a layer (rope_append, ~2 us in a graph): llama3-8b Q4_K_M
# 2177 -> ~2115 us, qwen2.5-0.5b Q8_0 -45, llama3.2-1b Q8_0 / Q4_K_M -30.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in rope2 q; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_q
ck() { $R/dk_q check --seed $1 --filter $2 > $OUT/n/check_$3.log 2>&1; echo "check $2 rc=$? $(grep 'check:' $OUT/n/check_$3.log | tail -1)"; grep -E "FAIL|rror" $OUT/n/check_$3.log | head -6; }
( ck 401 quant_matmul_rope_append qr; ck 402 rope/ rope; ck 403 matmul_rope_append mr ) &
( ck 404 decode/ dec; ck 405 generate gen ) &
( ck 406 quant_matmul/ qm ) &
( timeout 250 $S --tool memcheck --error-exitcode 99 $R/dk_q check --seed 9 --filter quant_matmul_rope_append > $OUT/n/mem.log 2>&1; echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem.log)"
  timeout 120 $S --tool memcheck --error-exitcode 99 $R/dk_q check --seed 9 --filter decode/tiny/q4_k_m > $OUT/n/mem2.log 2>&1; echo "memcheck decode q4_k_m rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem2.log)" ) &
( timeout 250 $S --tool racecheck --error-exitcode 99 $R/dk_q check --seed 9 --filter quant_matmul_rope_append/q4_k+q6_k > $OUT/n/race.log 2>&1; echo "racecheck rc=$? $(grep 'RACECHECK SUMMARY' $OUT/n/race.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
grep -E "quant_matmul_rope_append|rope/b1_hq4" $OUT/n/check_qr.log $OUT/n/check_rope.log | head -20
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype q4_k_m --batch 1" "qwen2.5-0.5b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q8_0 --batch 1"; do
  echo "== $m"; for r in 1 2; do run rope2 "$m" $r; run q "$m" $r; done; done
for m in "llama3.2-1b --dtype q4_k_m --batch 1" "llama3-8b --dtype q4_k_m --batch 2" "llama3-8b --dtype q8_0 --batch 1" "llama3-8b --dtype q4_k_m --batch 4" "llama3.2-1b --dtype f16 --batch 1"; do
  echo "== $m"; run rope2 "$m" 1; run q "$m" 1; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

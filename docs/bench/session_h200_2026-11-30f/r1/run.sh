# Next session's first device run (prepared 2026-11-30, fifth session).
# out/dk_m5 = main c7bb07d (cluster merge, the norm in the GEMV, the launch-config refactor: first GPU run of e9758f2's
# cluster launch path too); out/dk_rope = branch x-qkv-rope 1f9e327 (matmul_rope_append: RoPE + bias + cache append
# in the QKV GEMV's epilogue; six check cases x 3 dtypes, the path of each asserted). Rebuild both if main moved.
# Then, device time permitting, llama.cpp in the same session (the 2x of issue 17 is measured against it):
#   OUT=$OUT/x SKIP_MULMAT=1 QUANTS=Q4_K_M BUDGET=420 bash out/llama_peer/run.sh   (carry out/llama_peer)
# carry ["out/dk_m5","out/dk_rope","out/nocl5.json","out/run_next.sh"]; timeout 500.
# Prediction (x-qkv-rope): one launch fewer a layer for dense QKV at batch 1: qwen2.5-0.5b f16 891 -> ~855 us,
# llama3.2-1b f16 988 -> ~965 (60%), llama3-8b f16 -30..-50 us; risk: gemv_veckropen_n1 has 62 registers (the
# epilogue's double-precision angle), gemv_veckrope_n1 42.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in m5 rope; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_rope
( $R/dk_rope check --seed 301 --filter matmul_rope_append > $OUT/n/check_qr.log 2>&1; echo "check matmul_rope_append rc=$? $(grep 'check:' $OUT/n/check_qr.log | tail -1)"; grep -E "FAIL|rror" $OUT/n/check_qr.log | head -8
  $R/dk_rope check --seed 302 --filter rope > $OUT/n/check_rope.log 2>&1; echo "check rope rc=$? $(grep 'check:' $OUT/n/check_rope.log | tail -1)" ) &
( $R/dk_rope check --seed 303 --filter decode/ > $OUT/n/check_dec.log 2>&1; echo "check decode/ rc=$? $(grep 'check:' $OUT/n/check_dec.log | tail -1)"; grep FAIL $OUT/n/check_dec.log | head -5
  $R/dk_rope check --seed 304 --filter generate > $OUT/n/check_gen.log 2>&1; echo "check generate rc=$? $(grep 'check:' $OUT/n/check_gen.log | tail -1)"; grep FAIL $OUT/n/check_gen.log | head -5 ) &
( DK_CACHE_DIR=/tmp/dkc_m5 $R/dk_m5 check --seed 305 --filter sdpa > $OUT/n/check_sdpa_m5.log 2>&1; echo "m5 check sdpa rc=$? $(grep 'check:' $OUT/n/check_sdpa_m5.log | tail -1)" ) &
( timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_rope check --seed 9 --filter matmul_rope_append > $OUT/n/mem.log 2>&1; echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem.log)" ) &
( timeout 200 $S --tool racecheck --error-exitcode 99 $R/dk_rope check --seed 9 --filter matmul_rope_append/b1 > $OUT/n/race.log 2>&1; echo "racecheck rc=$? $(grep 'RACECHECK SUMMARY' $OUT/n/race.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "qwen2.5-0.5b --dtype f16 --batch 1" "llama3.2-1b --dtype f16 --batch 1" "llama3.2-1b --dtype bf16 --batch 1" "qwen2.5-0.5b --dtype bf16 --batch 1"; do
  echo "== $m"; for r in 1 2; do run m5 "$m" $r; run rope "$m" $r; done; done
for m in "llama3-8b --dtype f16 --batch 1" "llama3.2-1b --dtype f16 --batch 2" "llama3-8b --dtype q4_k_m --batch 1"; do
  echo "== $m"; run m5 "$m" 1; run rope "$m" 1; done
# The cluster merge under PDL with the QKV GEMV's neighbour changed (last session: qwen2.5-0.5b f16 lost 4 us with it).
m="qwen2.5-0.5b --dtype f16 --batch 1"; echo "== $m, cluster off (nocl5.json)"
for v in m5 rope; do f=$OUT/n/dec_${v}_nocl.txt; DK_TUNING_FILE=$R/nocl5.json DK_CACHE_DIR=/tmp/dkc_$v timeout 60 $R/dk_$v decode --model $m --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$v nocl $(grep -E '^ *graph ' $f | head -1)"; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

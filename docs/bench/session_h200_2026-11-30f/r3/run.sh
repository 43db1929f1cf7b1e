# 2026-11-30 sixth session, r3: x-qkv-rope with the cheap RoPE epilogue (rope_sincos: f_i by squaring, angle to the
# turn in double, sincospi in f32; veckrope_n1 42 -> 32 registers, veckropen_n1 62 -> 40) against main c7bb07d (dk_m5)
# and the branch as run in r1 (dk_rope). Prediction: llama3-8b f16 4432 -> ~4270 (QKV 20 -> ~15 us), llama3.2-1b
# f16 980 -> ~960, qwen2.5-0.5b f16 863 -> ~855.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in m5 rope rope2; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_rope2
( $R/dk_rope2 check --seed 311 --filter matmul_rope_append > $OUT/n/check_qr.log 2>&1; echo "check matmul_rope_append rc=$? $(grep 'check:' $OUT/n/check_qr.log | tail -1)"; grep -E "FAIL|rror" $OUT/n/check_qr.log | head -8
  $R/dk_rope2 check --seed 312 --filter rope > $OUT/n/check_rope.log 2>&1; echo "check rope rc=$? $(grep 'check:' $OUT/n/check_rope.log | tail -1)"; grep -E "FAIL" $OUT/n/check_rope.log | head -8 ) &
( $R/dk_rope2 check --seed 313 --filter decode/ > $OUT/n/check_dec.log 2>&1; echo "check decode/ rc=$? $(grep 'check:' $OUT/n/check_dec.log | tail -1)"; grep FAIL $OUT/n/check_dec.log | head -5
  $R/dk_rope2 check --seed 314 --filter generate > $OUT/n/check_gen.log 2>&1; echo "check generate rc=$? $(grep 'check:' $OUT/n/check_gen.log | tail -1)"; grep FAIL $OUT/n/check_gen.log | head -5 ) &
( timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_rope2 check --seed 19 --filter rope > $OUT/n/mem.log 2>&1; echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem.log)" ) &
( timeout 200 $S --tool racecheck --error-exitcode 99 $R/dk_rope2 check --seed 19 --filter matmul_rope_append/b1 > $OUT/n/race.log 2>&1; echo "racecheck rc=$? $(grep 'RACECHECK SUMMARY' $OUT/n/race.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
grep -E "rope" $OUT/n/check_rope.log | head -60 > $OUT/n/check_rope_errs.txt
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype f16 --batch 1" "llama3.2-1b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1"; do
  echo "== $m"; for r in 1 2; do run m5 "$m" $r; run rope2 "$m" $r; done; run rope "$m" 1; done
for m in "llama3.2-1b --dtype bf16 --batch 1" "qwen2.5-0.5b --dtype bf16 --batch 1" "llama3-8b --dtype bf16 --batch 1" "llama3.2-1b --dtype f16 --batch 2" "qwen2.5-0.5b --dtype f16 --batch 2" "llama3-8b --dtype q4_k_m --batch 1"; do
  echo "== $m"; run m5 "$m" 1; run rope2 "$m" 1; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

# 2026-11-30 sixth session, r5: why r4's fused quantized QKV + RoPE lost in a graph. dk_q = r4's kernel (slot, bias and
# angle worked out after the tile's last iteration); dk_q2 = those worked out when the tile starts (rope_prepare),
# behind the weights' copies; dk_q3 = dk_q2 with the launch's grid cut to one tile a warp (leaves SM room for the
# attention launch after it to start its prologue early, under PDL). main = dk_rope2.
# Prediction: if the tail was the loss, q2 beats main by ~1-2 us a layer; if residency under PDL, q3 does.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in rope2 q q2 q3; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_q2
ck() { $R/dk_q2 check --seed $1 --filter $2 > $OUT/n/check_$3.log 2>&1; echo "check $2 rc=$? $(grep 'check:' $OUT/n/check_$3.log | tail -1)"; grep -E "FAIL|rror" $OUT/n/check_$3.log | head -6; }
( ck 501 quant_matmul_rope_append qr; ck 502 rope/ rope; ck 503 matmul_rope_append mr ) &
( ck 504 decode/ dec ) &
( timeout 250 $S --tool memcheck --error-exitcode 99 $R/dk_q2 check --seed 9 --filter rope_append > $OUT/n/mem.log 2>&1; echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype q4_k_m --batch 1" "qwen2.5-0.5b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q8_0 --batch 1"; do
  echo "== $m"; for r in 1 2; do run rope2 "$m" $r; run q "$m" $r; run q2 "$m" $r; run q3 "$m" $r; done; done
for m in "llama3-8b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q4_k_m --batch 1" "llama3.2-1b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1"; do
  echo "== $m"; run rope2 "$m" 1; run q2 "$m" 1; run q3 "$m" 1; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

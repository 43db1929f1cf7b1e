# 2026-11-30 sixth session, r7: dk_f2 = r6's dk_f where the decode step runs the fused op only where it fuses (else its
# own launches into its own qkv buffer, exactly main's). r6 showed llama3-8b Q4_K_M +17 us with the op's composed
# path (same kernels, same launch count, only the qkv buffer differed). Prediction: f2 equals main there.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
for v in rope2 f2; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/n/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_f2
ck() { $R/dk_f2 check --seed $1 --filter $2 > $OUT/n/check_$3.log 2>&1; echo "check $2 rc=$? $(grep 'check:' $OUT/n/check_$3.log | tail -1)"; grep -E "FAIL|rror" $OUT/n/check_$3.log | head -6; }
( ck 701 decode/ dec ) & ( ck 702 generate gen ) & ( ck 703 quant_matmul_rope_append qr ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
m="llama3-8b --dtype q4_k_m --batch 1"; echo "== $m"; for r in 1 2 3; do run rope2 "$m" $r; run f2 "$m" $r; done
for m in "llama3.2-1b --dtype q4_k_m --batch 1" "qwen2.5-0.5b --dtype q8_0 --batch 1"; do echo "== $m"; run rope2 "$m" 1; run f2 "$m" 1; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

# Seventeenth session, call 3 (dk_s17c: no L2 prefetch; veck loads a fixed A into registers before the PDL
# wait where the CTA's K range is one pass of its loop (K <= 2048 in f16), the HEAD loop otherwise; mma as HEAD).
# DK_GEMV_FLAGS: 1 = A fixed, 3 = and trigger early. Decode steps b1 of four models, qwen2.5-0.5b b2.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s17c; export DK_CACHE_DIR=/tmp/dkc_c
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
dec() { fl=$1; m=$2; shift 2; f=$OUT/q/dec_f${fl}_${m}_$(echo $*|tr -d ' -.').txt; DK_GEMV_FLAGS=$fl timeout 40 $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[f$fl $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b; do for fl in 0 1 3 0 3; do dec $fl $m --batch 1; done; done
for m in llama3-8b qwen2.5-7b; do for fl in 0 3; do dec $fl $m --batch 1; done; done
for fl in 0 3; do dec $fl qwen2.5-0.5b --batch 2; dec $fl qwen2.5-0.5b --batch 1 --dtype bf16; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

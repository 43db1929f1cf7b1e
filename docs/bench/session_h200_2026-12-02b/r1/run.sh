# Seventeenth session, call 1 (dk_s17a: veck loads a fixed A before the PDL wait, GemvParams.flags; an
# experiment switch DK_GEMV_FLAGS sets the flags of every GEMV launch: 1 = A fixed, 3 = and trigger early).
# Full check with flags 0 (the kernels' restructured loop and the head's host changes), then decode steps
# b1 of three models under flags 0 / 1 / 2 / 3.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s17a; export DK_CACHE_DIR=/tmp/dkc_a
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $F check --seed 1701 > $OUT/q/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check.log | head -5
dec() { fl=$1; m=$2; shift 2; f=$OUT/q/dec_f${fl}_${m}_$(echo $*|tr -d ' -.').txt; DK_GEMV_FLAGS=$fl timeout 40 $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[f$fl $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b; do for fl in 0 1 2 3; do dec $fl $m --batch 1; done; done
for fl in 0 3; do dec $fl qwen2.5-0.5b --batch 1; dec $fl qwen2.5-0.5b --batch 2; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

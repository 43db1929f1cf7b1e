# Seventeenth session, call 2 (dk_s17b: the loop of r1 undone; a fixed A is prefetched into L2 by
# cp.async.bulk.prefetch before the PDL wait, mma and veck; DK_GEMV_FLAGS as in r1: 1 = A fixed,
# 2 = trigger early, 3 = both). Full check with flags 0; decode/ cases with flags 3 plain and under memcheck;
# decode steps of four models under flags 0 / 1 / 3, qwen2.5-0.5b at batch 4 and 16.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s17b; export DK_CACHE_DIR=/tmp/dkc_b
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $F check --seed 1702 > $OUT/q/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check.log | head -5
DK_GEMV_FLAGS=3 timeout 60 $F check --seed 1703 --filter decode > $OUT/q/check_dec_f3.log 2>&1; echo "check decode f3 rc=$? $(grep 'check:' $OUT/q/check_dec_f3.log | tail -1)"
DK_GEMV_FLAGS=3 timeout 90 compute-sanitizer --tool memcheck $F check --seed 1704 --filter decode/ > $OUT/q/memcheck_dec_f3.log 2>&1; echo "memcheck decode f3 rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_dec_f3.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
dec() { fl=$1; m=$2; shift 2; f=$OUT/q/dec_f${fl}_${m}_$(echo $*|tr -d ' -.').txt; DK_GEMV_FLAGS=$fl timeout 40 $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[f$fl $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for fl in 0 1 3; do dec $fl $m --batch 1; done; done
for b in 4 16; do for fl in 0 3; do dec $fl qwen2.5-0.5b --batch $b; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

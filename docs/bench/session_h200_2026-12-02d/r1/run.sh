# Nineteenth session, call 1: the eighteenth session's r7 as prepared (dk_wf = main 7876814 plus
# session_h200_2026-12-02c/r7/w_first_pass.diff: the `w` GEMV entries' multi-pass CTAs load their
# first pass before the PDL wait; dk_head = main 7876814): check and memcheck of the fixed-A cases
# on dk_wf (300 x 4864 runs several passes); steps at batch 1, alternating binaries.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
for b in head wf; do (DK_CACHE_DIR=/tmp/dkc_$b $R/dk_$b info > $OUT/q/info_$b.txt 2>&1) & done; wait; echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_wf
timeout 20 $R/dk_wf check --seed 1871 --filter /fixed > $OUT/q/check_fixed.log 2>&1; echo "check fixed rc=$? $(grep 'check:' $OUT/q/check_fixed.log | tail -1)"
dec() { b=$1; m=$2; f=$OUT/q/dec_${b}_${m}_$3.txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 20 $R/dk_$b decode --model $m --context 4096 --mode graph --no-first-step --steps 30 --batch 1 > $f 2>&1; echo "[$b $m] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b; do dec head $m 1; dec wf $m 1; dec wf $m 2; dec head $m 2; done
dec head llama3-8b 1; dec wf llama3-8b 1; dec wf llama3-8b 2; dec head llama3-8b 2
dec head qwen2.5-7b 1; dec wf qwen2.5-7b 1
timeout 30 compute-sanitizer --tool memcheck $R/dk_wf check --seed 1873 --filter /fixed > $OUT/q/memcheck_fixed.log 2>&1; echo "memcheck fixed rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_fixed.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Seventeenth session, call 5: dk_s17e (a veck CTA lets the next launch start early only where its loads of
# a fixed A went out before its wait, one pass of its K loop; multi-pass CTAs wait first as before) against
# dk_s17d (every veck CTA of a fixed A triggers early), each twice. Check of the fixed and
# decode/ cases and memcheck on dk_s17e; steps b1 of four models.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
for b in d e; do DK_CACHE_DIR=/tmp/dkc_$b $R/dk_s17$b info > $OUT/q/info_$b.txt 2>&1; echo "prewarm $b at $(( $(date +%s) - t0 )) s"; done
E=$R/dk_s17e
DK_CACHE_DIR=/tmp/dkc_e timeout 60 $E check --seed 1721 --filter /fixed > $OUT/q/check_fixed.log 2>&1; echo "check fixed rc=$? $(grep 'check:' $OUT/q/check_fixed.log | tail -1)"
DK_CACHE_DIR=/tmp/dkc_e timeout 60 $E check --seed 1722 --filter decode > $OUT/q/check_decode.log 2>&1; echo "check decode rc=$? $(grep 'check:' $OUT/q/check_decode.log | tail -1)"
DK_CACHE_DIR=/tmp/dkc_e timeout 80 compute-sanitizer --tool memcheck $E check --seed 1723 --filter decode/ > $OUT/q/memcheck_decode.log 2>&1; echo "memcheck decode/ rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_decode.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
dec() { b=$1; m=$2; shift 2; f=$OUT/q/dec_${b}_${m}_$(echo $*|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 40 $R/dk_s17$b decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$b $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for b in d e e d; do dec $b $m --batch 1; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Seventeenth session, call 6: the final binary (dk_s17f: weights fixed, one-pass veck CTAs load A before
# the PDL wait and trigger early) against main before it (dk_head = f1f47a8), alternating: decode steps b1
# of four models, llama3.2-1b b4, qwen2.5-0.5b bf16; bench matmul N = 1 f16 on the LM heads and two MLP
# shapes (A not fixed in the bench: the unchanged path); check of the fixed-A cases on dk_s17f.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
for b in head s17f; do DK_CACHE_DIR=/tmp/dkc_$b $R/dk_$b info > $OUT/q/info_$b.txt 2>&1; echo "prewarm $b at $(( $(date +%s) - t0 )) s"; done
DK_CACHE_DIR=/tmp/dkc_s17f timeout 60 $R/dk_s17f check --seed 1731 --filter /fixed > $OUT/q/check_fixed.log 2>&1; echo "check fixed rc=$? $(grep 'check:' $OUT/q/check_fixed.log | tail -1)"
dec() { b=$1; m=$2; shift 2; f=$OUT/q/dec_${b}_${m}_$(echo $*|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 40 $R/dk_$b decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$b $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for b in head s17f s17f head; do dec $b $m --batch 1; done; done
for b in head s17f; do dec $b llama3.2-1b --batch 4; dec $b qwen2.5-0.5b --batch 1 --dtype bf16; done
for b in head s17f; do DK_CACHE_DIR=/tmp/dkc_$b timeout 60 $R/dk_$b bench matmul --shapes 151936x896,128256x2048,9728x896,16384x2048,1152x896 --n 1 --dtype f16 --csv $OUT/q/mm_$b.csv > $OUT/q/mm_$b.txt 2>&1; echo "bench $b rc=$? at $(( $(date +%s) - t0 )) s"; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

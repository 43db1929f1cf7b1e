# Seventeenth session, call 4 (dk_s17d, the change as committed: weights marked fixed by the model builders,
# GemvParams.flags GEMV_A_FIXED = one-pass A loads before the PDL wait + early trigger; dk_s17c with no
# DK_GEMV_FLAGS is the before: the same kernels with every flag 0). Full check, memcheck + racecheck of the
# fixed-A matmul cases and the decode/ cases; steps before/after; tune --ops matmul --quick (the head's
# mma_n1_max_k decision, first run on a GPU).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s17d; B=$R/dk_s17c; export DK_CACHE_DIR=/tmp/dkc_d
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $F check --seed 1711 > $OUT/q/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check.log | head -5
for f in /fixed decode/; do for tool in memcheck racecheck; do n=$(echo $f | tr -d '/'); timeout 90 compute-sanitizer --tool $tool $F check --seed 1712 --filter $f > $OUT/q/${tool}_$n.log 2>&1; echo "$tool $f rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|check:' $OUT/q/${tool}_$n.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"; done; done
DK_CACHE_DIR=/tmp/dkc_c $B info > /dev/null 2>&1; echo "prewarm before at $(( $(date +%s) - t0 )) s"
dec() { v=$1; m=$2; shift 2; if [ $v = after ]; then X=$F; C=/tmp/dkc_d; else X=$B; C=/tmp/dkc_c; fi; f=$OUT/q/dec_${v}_${m}_$(echo $*|tr -d ' -.').txt; DK_CACHE_DIR=$C timeout 40 $X decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$v $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for v in before after; do dec $v $m --batch 1; done; done
for v in before after; do dec $v qwen2.5-0.5b --batch 1 --dtype bf16; dec $v qwen2.5-0.5b --batch 4; dec $v qwen2.5-0.5b --batch 16; dec $v llama3.2-1b --batch 4; done
left=$(( 560 - $(date +%s) + t0 )); timeout $left $F tune --ops matmul --quick --runs 20 --out $OUT/q/tune_matmul.json --csv $OUT/q/tune_matmul.csv > $OUT/q/tune.txt 2>&1; echo "tune rc=$? at $(( $(date +%s) - t0 )) s"; grep -E "mma_n1_max_k|veck_cta_bytes|decisions changed" $OUT/q/tune.txt | head
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

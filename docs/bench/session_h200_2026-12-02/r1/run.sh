# Sixteenth session, call 1 (dk_s16a: veck row groups only where the grid keeps the table's CTAs a wave,
# target_ctas_per_sm x SMs): full check (the row-group cases rewritten to reach 8/4/2 groups at 132 SMs),
# memcheck of them, GEMV N=1 on the shapes of four models with the rule (vdef), without groups (vb0), with a
# 32 KB cap (vb32k) and mma at N=1 (mma1); decode steps b1 of four models vb0 against vdef; profile.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s16a; export DK_CACHE_DIR=/tmp/dkc_a
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $F check --seed 1601 > $OUT/q/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check.log | head -5
for f in 6403x 3203x 1601x hq96_hkv32 b2_hq64_hkv8; do timeout 60 compute-sanitizer --tool memcheck $F check --seed 1602 --filter $f > $OUT/q/memcheck_$f.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_$f.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"; done
SH=1152x896,896x896,9728x896,896x4864,151936x896,3072x2048,2048x2048,16384x2048,2048x8192,128256x2048,6144x4096,4096x4096,28672x4096,4096x14336,128256x4096
for v in vdef vb0 mma1 vb32k; do timeout 90 env DK_TUNING_FILE=$R/tabs/$v.json $F bench matmul --shapes $SH --n 1 --dtype f16 --csv $OUT/q/mm_$v.csv > $OUT/q/mm_$v.txt 2>&1; echo "bench $v rc=$? at $(( $(date +%s) - t0 )) s"; done
dec() { v=$1; m=$2; shift 2; f=$OUT/q/dec_${v}_${m}_$(echo $*|tr -d ' -.').txt; DK_TUNING_FILE=$R/tabs/$v.json timeout 40 $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$v $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for v in vb0 vdef; do left=$(( 540 - $(date +%s) + t0 )); [ $left -gt 20 ] || break 2; dec $v $m --batch 1; done; done
dec mma1 qwen2.5-0.5b --batch 1; dec mma1 llama3.2-1b --batch 1
for v in vdef mma1; do DK_TUNING_FILE=$R/tabs/$v.json timeout 40 $F profile --model qwen2.5-0.5b --context 4096 --steps 10 > $OUT/q/prof05_$v.txt 2>&1; echo "profile $v rc=$?"; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

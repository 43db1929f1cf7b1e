# Eighteenth session, call 5 (dk_mlp rebuilt: a ring a warp, no CTA barrier an item): check of the new
# cases, the decode/generate cases, memcheck and racecheck of the new cases; steps with the persistent
# launch (auto) against DK_MLP_BACKEND=composed (main's two launches) in the same binary, alternating;
# the eager profile's line for the new launch.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_mlp; export DK_CACHE_DIR=/tmp/dkc_mlp
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 90 $F check --seed 1851 --filter rmsnorm_mlp > $OUT/q/check_mlp.log 2>&1; echo "check mlp rc=$? $(grep 'check:' $OUT/q/check_mlp.log | tail -1)"; grep -E "FAIL" $OUT/q/check_mlp.log | head -5
timeout 60 $F check --seed 1852 --filter decode > $OUT/q/check_decode.log 2>&1; echo "check decode rc=$? $(grep 'check:' $OUT/q/check_decode.log | tail -1) at $(( $(date +%s) - t0 )) s"
timeout 60 $F check --seed 1853 --filter generate > $OUT/q/check_generate.log 2>&1; echo "check generate rc=$? $(grep 'check:' $OUT/q/check_generate.log | tail -1)"
dec() { tag=$1; m=$2; shift 2; f=$OUT/q/dec_${tag}_${m}_$(echo $*|tr -d ' -.').txt; timeout 40 env $( [ $tag = comp ] && echo DK_MLP_BACKEND=composed ) $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$tag $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b; do for t in comp mlp mlp comp; do dec $t $m --batch 1; done; done
for t in comp mlp; do dec $t llama3-8b --batch 1; dec $t qwen2.5-0.5b --batch 1 --dtype bf16; done
for m in qwen2.5-0.5b llama3-8b; do timeout 60 $F decode --model $m --context 4096 --mode eager --no-first-step --steps 3 > $OUT/q/prof_mlp_$m.txt 2>&1; grep -E "rmsnorm_mlp" $OUT/q/prof_mlp_$m.txt; done
timeout 90 compute-sanitizer --tool memcheck $F check --seed 1854 --filter rmsnorm_mlp > $OUT/q/memcheck_mlp.log 2>&1; echo "memcheck mlp rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_mlp.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
timeout 60 compute-sanitizer --tool racecheck $F check --seed 1855 --filter 'rmsnorm_mlp_residual/4864' > $OUT/q/racecheck_mlp.log 2>&1; echo "racecheck mlp rc=$? $(grep -E 'RACECHECK SUMMARY|check:' $OUT/q/racecheck_mlp.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

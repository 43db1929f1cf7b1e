# Eighteenth session, call 2 (dk_mlp: the MLP block in one persistent launch, ops::rmsnorm_mlp_residual):
# check of the new cases, decode/generate cases, memcheck of the new cases; steps with the persistent
# launch (auto) against DK_MLP_BACKEND=composed (the two launches of main) in the same binary, alternating.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_mlp; export DK_CACHE_DIR=/tmp/dkc_mlp
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 90 $F check --seed 1811 --filter rmsnorm_mlp > $OUT/q/check_mlp.log 2>&1; echo "check mlp rc=$? $(grep 'check:' $OUT/q/check_mlp.log | tail -1)"; grep -E "FAIL|error" $OUT/q/check_mlp.log | head -5
timeout 60 $F check --seed 1812 --filter decode > $OUT/q/check_decode.log 2>&1; echo "check decode rc=$? $(grep 'check:' $OUT/q/check_decode.log | tail -1) at $(( $(date +%s) - t0 )) s"
timeout 60 $F check --seed 1813 --filter generate > $OUT/q/check_generate.log 2>&1; echo "check generate rc=$? $(grep 'check:' $OUT/q/check_generate.log | tail -1)"
dec() { tag=$1; m=$2; shift 2; f=$OUT/q/dec_${tag}_${m}_$(echo $*|tr -d ' -.').txt; timeout 40 env $( [ $tag = comp ] && echo DK_MLP_BACKEND=composed ) $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$tag $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b; do for t in comp mlp mlp comp; do dec $t $m --batch 1; done; done
for m in llama3-8b qwen2.5-7b; do for t in comp mlp; do dec $t $m --batch 1; done; done
for t in comp mlp; do dec $t qwen2.5-0.5b --batch 1 --dtype bf16; dec $t qwen2.5-0.5b --batch 4; done
timeout 40 $F decode --model qwen2.5-0.5b --context 4096 --mode eager --no-first-step --steps 5 > $OUT/q/prof_mlp_qwen.txt 2>&1; grep -E "rmsnorm_mlp|veckglun|gemv_veck_n1/" $OUT/q/prof_mlp_qwen.txt
timeout 120 compute-sanitizer --tool memcheck $F check --seed 1814 --filter rmsnorm_mlp > $OUT/q/memcheck_mlp.log 2>&1; echo "memcheck mlp rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_mlp.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
timeout 100 compute-sanitizer --tool racecheck $F check --seed 1815 --filter 'rmsnorm_mlp_residual/4864' > $OUT/q/racecheck_mlp.log 2>&1; echo "racecheck mlp rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY|check:' $OUT/q/racecheck_mlp.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Eighteenth session, call 6 (dk_mlp with a cp.async twin of the persistent MLP launch, DK_MLP_COPY=cp):
# is the bulk copy what holds it at ~1.6 us an item (r5: 33 us qwen2.5-0.5b, 222 us llama3-8b)? check and
# memcheck of the new cases with the twin; steps composed / bulk / cp.async in one binary; eager profile.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_mlp; export DK_CACHE_DIR=/tmp/dkc_mlp
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
DK_MLP_COPY=cp timeout 60 $F check --seed 1861 --filter rmsnorm_mlp > $OUT/q/check_mlp_cp.log 2>&1; echo "check mlp cp rc=$? $(grep 'check:' $OUT/q/check_mlp_cp.log | tail -1)"; grep -E "FAIL" $OUT/q/check_mlp_cp.log | head -3
dec() { tag=$1; m=$2; shift 2; f=$OUT/q/dec_${tag}_${m}_$(echo $*|tr -d ' -.').txt; case $tag in comp) e=DK_MLP_BACKEND=composed;; cp) e=DK_MLP_COPY=cp;; *) e=DK_X=1;; esac; timeout 40 env $e $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$tag $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b; do for t in comp cp bulk; do dec $t $m --batch 1; done; done
for m in qwen2.5-0.5b llama3-8b; do DK_MLP_COPY=cp timeout 60 $F decode --model $m --context 4096 --mode eager --no-first-step --steps 3 > $OUT/q/prof_cp_$m.txt 2>&1; echo "$m cp: $(grep -E 'rmsnorm_mlp' $OUT/q/prof_cp_$m.txt)"; done
DK_MLP_COPY=cp timeout 60 compute-sanitizer --tool memcheck $F check --seed 1862 --filter rmsnorm_mlp > $OUT/q/memcheck_mlp_cp.log 2>&1; echo "memcheck mlp cp rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_mlp_cp.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Eighth session, call 7: the final binary (dk_fin8 = main c985fe8) checked whole on the GPU (check, memcheck of the
# sdpa and decode cases), the record table (four models x batch 1/4/16, f16, bf16 at batch 1, context 4096, graph),
# and llama3-8b's per-label profile at batch 1, 4 and 16 (where attention stands against the GEMVs).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
export DK_CACHE_DIR=/tmp/dkc_fin8
$R/dk_fin8 info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
( timeout 240 $R/dk_fin8 check --seed 941 > $OUT/q/check_all.log 2>&1; echo "check all rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep -E "FAIL" $OUT/q/check_all.log | head -8 ) &
( for f in sdpa decode/; do timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_fin8 check --seed 71 --filter $f > $OUT/q/mem_$(echo $f|tr -d '/').log 2>&1; echo "memcheck $f rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_$(echo $f|tr -d '/').log) $(grep 'check:' $OUT/q/mem_$(echo $f|tr -d '/').log | tail -1)"; done ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$(echo $1|tr -d ' -.').txt; timeout 60 $R/dk_fin8 decode --model $1 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1: $(grep -E 'launches per step' $f | sed -E 's/.*, ([0-9]+ launches).*/\1/') $(grep -E '^ *graph ' $f | head -1)"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for b in 1 4 16; do run "$m --dtype f16 --batch $b"; done; run "$m --dtype bf16 --batch 1"; done
run "llama3-8b --dtype q4_k_m --batch 1"
echo "table $(( $(date +%s) - t0 )) s"
for b in 1 4 16; do timeout 90 $R/dk_fin8 profile --model llama3-8b --batch $b --steps 3 > $OUT/q/prof_8b_b$b.txt 2>&1; echo "== profile llama3-8b b$b"; grep -iE "sdpa|attention|total|step" $OUT/q/prof_8b_b$b.txt | head -8; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Twelfth session, call 9: the head after the review (dk_s12j: cluster entries trap before sm_90 and unless the
# grid is one group a cluster; new imma cases for slices without clusters (8448 rows at 9 tokens) and one n-tile
# in clusters (K = 18944 at 5 tokens)): the imma cases, memcheck of the new ones, the steps at batch 16 and 8.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s12
J=$R/dk_s12j
$J info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 90 $J check --seed 1291 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check imma rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1)"; grep FAIL $OUT/q/check_imma.log | head -3
grep -E "18944|8448" $OUT/q/check_imma.log | head -8
timeout 60 compute-sanitizer --tool memcheck $J check --seed 1292 --filter 100x18944x5 > $OUT/q/memcheck_new.log 2>&1; echo "memcheck 100x18944x5 rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_new.log | tail -2 | tr '\n' ' ')"
run() { shift 0; f=$OUT/q/dec_$(echo $*|tr -d ' -.').txt; env -u DK_TUNING_FILE timeout 40 $J decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[j $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8; do run llama3-8b --dtype q4_k_m --batch $b; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Twelfth session, call 8: dk_s12i = call 7's binary with clusters only where one launch cannot hold x of all K
# (not Q4_K at 8 tokens): the imma cases, and the steps at batch 8 and 16 against dk_s12e.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s12
I=$R/dk_s12i
$I info > $OUT/q/info.txt 2>&1; $R/dk_s12e info > /dev/null 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 60 $I check --seed 1281 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check imma rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1)"; grep FAIL $OUT/q/check_imma.log | head -3
run() { v=$1; shift; X=$R/dk_s12$v; f=$OUT/q/dec_${v}_$(echo $*|tr -d ' -.').txt; env -u DK_TUNING_FILE timeout 40 $X decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$v $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 8 16; do for v in e i; do run $v llama3-8b --dtype q4_k_m --batch $b; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

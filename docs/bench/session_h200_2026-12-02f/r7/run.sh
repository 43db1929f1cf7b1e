# main + mmat8_fills lowered to plans of at most 8 splits (out/dk_main): check sdpa and decode/,
# memcheck and racecheck of the cases it newly routes to mmat8 (a ragged batch of 5 at GQA 28/4
# D 128: 20 pairs, 6 splits in a cluster); the steps it changes (llama3-8b batch 2, qwen2.5-7b batch 4).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc
$R/dk_main info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for f in sdpa decode/; do timeout 150 $R/dk_main check --seed 9401 --filter $f > $OUT/q/check_$(echo $f | tr -d /).log 2>&1; echo "check $f rc=$? $(tail -1 $OUT/q/check_$(echo $f | tr -d /).log)"; done
for f in ragged_hq28_hkv4_d128 b9_hq28_hkv4_lq1_lk3000; do for tool in memcheck racecheck; do timeout 60 compute-sanitizer --tool $tool $R/dk_main check --seed 9402 --filter $f > $OUT/q/${tool}_$f.log 2>&1; echo "$tool $f rc=$? $(grep -E 'SUMMARY' $OUT/q/${tool}_$f.log | tail -1) $(tail -1 $OUT/q/${tool}_$f.log)"; done; done
dec() { m=$1; b=$2; f=$OUT/q/dec_${m}_b$b.txt; timeout 60 $R/dk_main decode --model $m --batch $b --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "[$m b$b] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; }
dec llama3-8b 2; dec qwen2.5-7b 4
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

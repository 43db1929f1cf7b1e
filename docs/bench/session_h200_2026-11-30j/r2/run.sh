# Tenth session, call 2: the pair launch's CTAs split so no warp takes more bytes than it must (dk_pair2),
# its check cases, and the step A/B (pair_launch off/on), alternating, twice.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_pair
$R/dk_pair2 info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for f in quant_matmul_parts quant_matmul_rope_append; do g=$(echo $f|tr -d '/'); timeout 120 $R/dk_pair2 check --seed 1020 --filter $f > $OUT/q/check_$g.log 2>&1; echo "check $f rc=$? $(grep 'check:' $OUT/q/check_$g.log | tail -1)"; done
run() { tag=$1; shift; f=$OUT/q/dec_${tag}_$(echo $*|tr -d ' -.').txt; timeout 40 $R/dk_pair2 decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$tag $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for rep in 1 2; do
  for m in "llama3-8b --dtype q4_k_m --batch 1" "llama3-8b --dtype q4_k_m --batch 2" "llama3-8b --dtype q4_k_m --batch 4" "llama3-8b --dtype q4_k_m --batch 16" "llama3.2-1b --dtype q4_k_m --batch 1"; do
    DK_TUNING_FILE=$R/tune_nopair.json run off$rep $m; run on$rep $m
  done
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Tenth session, call 3: experiment binary (dk_exp: DK_EXP_PAIR_V sets the V rows' CTAs of the pair launch;
# diff in exp_pair_v.diff): llama3-8b Q4_K_M batch 1 and 2, pair off, pair default split, V on 132 / 198 / 264 CTAs.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_pair
$R/dk_exp info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
run() { tag=$1; shift; f=$OUT/q/dec_${tag}_$(echo $*|tr -d ' -.').txt; timeout 40 $R/dk_exp decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$tag $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for rep in 1 2; do
  for m in "llama3-8b --dtype q4_k_m --batch 1" "llama3-8b --dtype q4_k_m --batch 2"; do
    DK_TUNING_FILE=$R/tune_nopair.json run off$rep $m; run on$rep $m
    for v in 132 198 264; do DK_EXP_PAIR_V=$v run v$v.$rep $m; done
  done
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

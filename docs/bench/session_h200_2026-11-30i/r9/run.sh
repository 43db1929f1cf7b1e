# Ninth session, call 9: the final head (cb2f841 = dk_head) on the GPU: the sdpa and decode/ cases, and the
# quantized steps at batch 1 (the O projection's own rounding at batch 1 now in the binary).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_head
$R/dk_head info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for f in sdpa decode/ _q8; do g=$(echo $f|tr -d '/'); timeout 60 $R/dk_head check --seed 991 --filter $f > $OUT/q/check_$g.log 2>&1; echo "check $f rc=$? $(grep 'check:' $OUT/q/check_$g.log | tail -1)"; done
run() { f=$OUT/q/dec_$(echo $1|tr -d ' -.').txt; timeout 40 $R/dk_head decode --model $1 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$1] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
run "llama3-8b --dtype q4_k_m --batch 1"; run "llama3-8b --dtype q8_0 --batch 1"; run "llama3.2-1b --dtype q4_k_m --batch 1"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

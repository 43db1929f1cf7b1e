# Sixteenth session, call 4 (dk_s16d: tune decides matmul.veck_cta_bytes from rows of bench matmul
# --veck-cta-bytes): tune --ops matmul --quick on the GPU (the decision's first run), and bf16 rows under the
# bounds on the narrow shapes.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s16d; export DK_CACHE_DIR=/tmp/dkc_d
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 330 $F tune --ops matmul --quick --runs 20 --out $OUT/q/tune_matmul.json --csv $OUT/q/tune_matmul.csv --plots $OUT/q/plots > $OUT/q/tune.txt 2>&1; echo "tune rc=$? at $(( $(date +%s) - t0 )) s"; grep -E "veck_cta_bytes|decisions changed" $OUT/q/tune.txt | head
left=$(( 540 - $(date +%s) + t0 )); timeout $left $F bench matmul --shapes 1152x896,9728x896,151936x896,3072x2048,128256x2048 --n 1 --dtype bf16 --veck-cta-bytes 0,4096,8192,16384 --no-peer --csv $OUT/q/mm_bf16.csv > $OUT/q/mm_bf16.txt 2>&1; echo "bench bf16 rc=$? at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

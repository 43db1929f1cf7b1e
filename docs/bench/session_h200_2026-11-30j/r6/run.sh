# Tenth session, call 6: after the review (dk_fin10b: QD_PAIR_STAGES named with a static_assert, comments,
# two more check cases: the Q4_K + Q6_K QKV with RoPE at 2 tokens, the 16-token pair case with x_q8).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_b
$R/dk_fin10b info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for f in quant_matmul_parts quant_matmul_rope_append decode/; do g=$(echo $f|tr -d '/'); timeout 60 $R/dk_fin10b check --seed 1040 --filter $f > $OUT/q/check_$g.log 2>&1; echo "check $f rc=$? $(grep 'check:' $OUT/q/check_$g.log | tail -1)"; done
timeout 60 compute-sanitizer --tool memcheck $R/dk_fin10b check --seed 1041 --filter q4_k+q6_k > $OUT/q/memcheck_pair.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_pair.log | tail -2 | tr '\n' ' ')"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

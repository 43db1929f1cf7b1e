# Ninth session, call 5: a step's marginal cost of each kind of launch, by leaving those launches out of the
# graph (experiment binary dk_skip = main 3598099 + DK_SKIP_LABELS, not landed; outputs are wrong, times are not).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_skip
$R/dk_skip info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$(echo "$1 $2"|tr -d ' -.,/'). ; f=$(echo $f|tr -d ' ').txt; DK_SKIP_LABELS="$2" timeout 60 $R/dk_skip decode --model $1 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 skip[$2] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2}') us"; }
M="llama3-8b --dtype q4_k_m --batch 1"
for s in "" rmsnorm_q8 silu_mul_q8 rope_append sdpa/ qgemv_dot_q6_k "rmsnorm_q8,silu_mul_q8,rope_append" ""; do run "$M" "$s"; done
M="llama3-8b --dtype f16 --batch 1"
for s in "" sdpa/ rmsnorm; do run "$M" "$s"; done
M="qwen2.5-0.5b --dtype f16 --batch 1"
for s in "" sdpa/ rmsnorm matmul_silu_mul matmul_rope_append "gemv_veck_n1" ""; do run "$M" "$s"; done
grep -h "launches per step" $OUT/q/dec_qwen* | head -3
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

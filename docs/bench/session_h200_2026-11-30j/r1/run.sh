# Tenth session, call 1: the Q4_K + Q6_K pair launch (dk_pair = working tree on 1b8bbf7/be7fa11 + qgemv_dot2):
# its check cases and memcheck; the leave-out option's first GPU run; the step A/B (pair_launch on/off), alternating.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_pair
$R/dk_pair info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for f in quant_matmul_parts quant_matmul_rope_append decode/; do g=$(echo $f|tr -d '/'); timeout 120 $R/dk_pair check --seed 1010 --filter $f > $OUT/q/check_$g.log 2>&1; echo "check $f rc=$? $(grep 'check:' $OUT/q/check_$g.log | tail -1)"; done
grep -E "FAIL|error" $OUT/q/check_*.log | head -5
timeout 150 compute-sanitizer --tool memcheck $R/dk_pair check --seed 1011 --filter q4_k+q6_k > $OUT/q/memcheck_pair.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_pair.log | tail -2 | tr '\n' ' ')"
echo "sanitizer done $(( $(date +%s) - t0 )) s"
run() { tag=$1; shift; f=$OUT/q/dec_${tag}_$(echo $*|tr -d ' -.').txt; timeout 40 $R/dk_pair decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$tag $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for rep in 1 2; do
  for m in "llama3-8b --dtype q4_k_m --batch 1" "llama3-8b --dtype q4_k_m --batch 4" "llama3-8b --dtype q4_k_m --batch 16" "llama3.2-1b --dtype q4_k_m --batch 1"; do
    DK_TUNING_FILE=$R/tune_nopair.json run off$rep $m; run on$rep $m
  done
done
timeout 90 $R/dk_pair decode --model llama3-8b --dtype q4_k_m --context 4096 --mode graph --no-first-step --steps 30 --leave-out sdpa/ --leave-out rmsnorm_q8,silu_mul_q8,rope_append --leave-out dot2 > $OUT/q/leave_out.txt 2>&1; echo "leave-out rc=$?"; tail -12 $OUT/q/leave_out.txt
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Ninth session, call 4: Q6_K pairs with odd super-blocks' lanes reading j + 2 first (dk_q6s: x loads on distinct
# banks) against the first pair version (dk_q6a, call 3) and main 3598099 (dk_m9): checks of dk_q6s, bench
# quant-matmul --graph Q6_K N = 1..8, llama3-8b Q4_K_M steps at batch 1, 4, 16.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in m9 q6a q6s; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_q6s
( for f in quant_matmul decode/ generate; do g=$(echo $f|tr -d '/'); timeout 200 $R/dk_q6s check --seed 911 --filter $f > $OUT/q/check_$g.log 2>&1; echo "check $f rc=$? $(grep 'check:' $OUT/q/check_$g.log | tail -1)"; grep -E "FAIL" $OUT/q/check_$g.log | head -5; done ) &
( timeout 250 $S --tool memcheck --error-exitcode 99 $R/dk_q6s check --seed 73 --filter q6_k > $OUT/q/mem_q6k.log 2>&1; echo "memcheck q6_k rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_q6k.log) $(grep 'check:' $OUT/q/mem_q6k.log | tail -1)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
for v in m9 q6a q6s; do DK_CACHE_DIR=/tmp/dkc_$v timeout 120 $R/dk_$v bench quant-matmul --graph --n 1,2,4,8 --formats q6_k --kernel dot --no-peer --shapes 1024x4096,4096x14336,28672x4096,128256x4096 > $OUT/q/qm_$v.txt 2>&1; done
echo "shape main pairs pairs+swap"
paste <(grep _graph $OUT/q/qm_m9.txt | awk '{print $2"x"$3" n"$4, $6}') <(grep _graph $OUT/q/qm_q6a.txt | awk '{print $6}') <(grep _graph $OUT/q/qm_q6s.txt | awk '{print $6, $9"%"}')
run() { f=$OUT/q/dec_$1_$2_$3.txt; DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model llama3-8b --dtype q4_k_m --batch $2 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 b$2 r$3 $(grep -E '^ *graph ' $f | head -1)"; }
for r in 1 2; do for v in m9 q6a q6s; do run $v 1 $r; done; done
for b in 4 16; do for v in m9 q6a q6s; do run $v $b 1; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

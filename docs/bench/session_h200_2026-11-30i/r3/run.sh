# Ninth session, call 3: Q6_K read two sub-blocks at a time (branch q6k-pairs = dk_q6) against main 3598099 (dk_m9):
# check (quant_matmul incl. the fused rope cases, decode/, generate), memcheck of the Q6_K cases, bench
# quant-matmul --graph on Q6_K shapes, llama3-8b Q4_K_M steps, Nsight Compute instruction counts.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in m9 q6; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_q6
( for f in quant_matmul decode/ generate; do g=$(echo $f|tr -d '/'); timeout 200 $R/dk_q6 check --seed 907 --filter $f > $OUT/q/check_$g.log 2>&1; echo "check $f rc=$? $(grep 'check:' $OUT/q/check_$g.log | tail -1)"; grep -E "FAIL" $OUT/q/check_$g.log | head -5; done ) &
( timeout 250 $S --tool memcheck --error-exitcode 99 $R/dk_q6 check --seed 71 --filter q6_k > $OUT/q/mem_q6k.log 2>&1; echo "memcheck q6_k rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_q6k.log) $(grep 'check:' $OUT/q/mem_q6k.log | tail -1)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
for v in m9 q6; do DK_CACHE_DIR=/tmp/dkc_$v timeout 120 $R/dk_$v bench quant-matmul --graph --n 1,2,4,8 --formats q6_k --kernel dot --no-peer --shapes 1024x4096,4096x14336,28672x4096,128256x4096 > $OUT/q/qm_$v.txt 2>&1; done
paste <(grep _graph $OUT/q/qm_m9.txt | awk '{print $2"x"$3" n"$4, $6, $9"%"}') <(grep _graph $OUT/q/qm_q6.txt | awk '{print $6, $9"%"}')
run() { f=$OUT/q/dec_$1_$2_$3.txt; DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model llama3-8b --dtype q4_k_m --batch $2 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 b$2 r$3 $(grep -E '^ *graph ' $f | head -1)"; }
for r in 1 2; do for v in m9 q6; do run $v 1 $r; done; done
for b in 4 16; do for v in m9 q6; do run $v $b 1; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 100 $N --kernel-name regex:qgemv_dot_q6_k_n1 --launch-skip 2 --launch-count 1 --set full $R/dk_q6 bench quant-matmul --n 1 --kernel dot --no-peer --runs 5 --formats q6_k --shapes 28672x4096 > $OUT/q/det_q6.txt 2>&1
grep -E "^ +(Duration|Executed Instructions|Issue Slots Busy|DRAM Throughput|Registers Per Thread) " $OUT/q/det_q6.txt
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

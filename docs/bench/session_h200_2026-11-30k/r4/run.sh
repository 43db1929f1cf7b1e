# Eleventh session, call 3: imma v2 (16 warps a CTA where they fit, one super-block a stage, cp.async copies from
# running pointers, x offsets and scales by fewer instructions): check + memcheck, bench dot against imma (x given
# rounded), the k-parts by table on 28672x4096, Nsight Compute on one 28672x4096 launch of 8 tokens, and the
# llama3-8b Q4_K_M step at batch 16 / 8 / 4 with imma never, from 9, from 5, from 3.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_im
B=$R/dk_im4
$B info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 120 $B check --seed 1111 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1)"; grep -E "FAIL" $OUT/q/check_imma.log | head -8
timeout 150 compute-sanitizer --tool memcheck $B check --seed 1112 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ')"
echo "checks done $(( $(date +%s) - t0 )) s"
timeout 200 $B bench quant-matmul --formats q4_k --kernel dot,imma --x-q8 --n 1,2,3,4,6,8,9,12,16 --shapes 4096x4096,6144x4096,28672x4096,4096x14336 --graph --no-peer --runs 20 > $OUT/q/bench_qm.txt 2>&1; echo "bench rc=$?"
grep graph $OUT/q/bench_qm.txt | awk '{k=$2"x"$3" n"$4; v[k]=v[k]" "$5"="$6} END {for (k in v) print k, v[k]}' | sort -t' ' -k1,1 -k2,2V
for tab in kp4 kp8 kp16; do DK_TUNING_FILE=$R/tabs/$tab.json timeout 60 $B bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 8,16 --shapes 4096x4096,28672x4096,4096x14336 --graph --no-peer --runs 20 > $OUT/q/bench_$tab.txt 2>&1; echo "[$tab] $(grep graph $OUT/q/bench_$tab.txt | awk '{printf "%s/%s/n%s %s  ", $2, $3, $4, $6}')"; done
echo "bench done $(( $(date +%s) - t0 )) s"
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 120 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --set full $B bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 8 --shapes 28672x4096 --no-peer --runs 3 > $OUT/q/ncu_det.txt 2>&1; echo "ncu det rc=$?"
timeout 120 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $B bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 8 --shapes 28672x4096 --no-peer --runs 3 > $OUT/q/ncu_src.csv 2> $OUT/q/ncu_src.err; echo "ncu src rc=$?"
grep -E "Duration|DRAM Throughput|Registers Per|Achieved Occupancy|Issue Slots Busy|No Eligible|Executed Instructions  " $OUT/q/ncu_det.txt | head -12
run() { tab=$1; shift; f=$OUT/q/dec_${tab}_$(echo $*|tr -d ' -.').txt; DK_TUNING_FILE=$R/tabs/$tab.json timeout 40 $B decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8 4; do for tab in imma_off imma_9 imma_5 imma_3; do run $tab llama3-8b --dtype q4_k_m --batch $b; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

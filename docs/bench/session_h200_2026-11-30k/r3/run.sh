# Eleventh session, call 2: why the imma kernel streams Q4_K at ~2.7 TB/s: its k-parts forced by tables
# (quant.imma_kparts 1/2/4/8 against the shape's choice) on 28672x4096 and 4096x4096, and Nsight Compute on one
# 28672x4096 launch of 8 tokens.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_im
B=$R/dk_im3
$B info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for tab in imma_9 kp1 kp2 kp4 kp8; do
  DK_TUNING_FILE=$R/tabs/$tab.json timeout 60 $B bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 1,8,16 --shapes 4096x4096,28672x4096,4096x14336 --graph --no-peer --runs 20 > $OUT/q/bench_$tab.txt 2>&1
  echo "[$tab] $(grep graph $OUT/q/bench_$tab.txt | awk '{printf "%s/%s/n%s %s  ", $2, $3, $4, $6}')"
done
echo "bench done $(( $(date +%s) - t0 )) s"
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 120 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --set full $B bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 8 --shapes 28672x4096 --no-peer --runs 3 > $OUT/q/ncu_det.txt 2>&1; echo "ncu det rc=$?"
timeout 120 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $B bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 8 --shapes 28672x4096 --no-peer --runs 3 > $OUT/q/ncu_src.csv 2> $OUT/q/ncu_src.err; echo "ncu src rc=$? $(wc -l < $OUT/q/ncu_src.csv)"
grep -E "Duration|DRAM Throughput|Registers Per|Achieved Occupancy|Issue Slots Busy|Executed Ipc A|No Eligible|Warp Cycles Per Issued|Executed Instructions  " $OUT/q/ncu_det.txt | head -20
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

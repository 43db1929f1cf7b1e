# Ninth session, call 2: Nsight Compute of the dot kernel at N = 1 (main 3598099): Q6_K and Q4_K at 28672x4096 (the
# steady stream) and Q6_K at 4096x14336 (llama3-8b Q4_K_M's down projection), details and per-line SASS counts.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_m9
$R/dk_m9 info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
B="bench quant-matmul --n 1 --kernel dot --no-peer --runs 5"
for c in "q6_k 28672x4096" "q4_k 28672x4096" "q6_k 4096x14336" "q4_k 4096x14336"; do set -- $c
  timeout 100 $N --kernel-name regex:qgemv_dot_$1_n1 --launch-skip 2 --launch-count 1 --set full $R/dk_m9 $B --formats $1 --shapes $2 > $OUT/q/det_$1_$2.txt 2>&1; echo "ncu $c rc=$?"
  grep -E "^ +(Duration|Executed Instructions|Issue Slots Busy|Memory Throughput|DRAM Throughput|Achieved Occupancy|Registers Per Thread|Theoretical Occupancy|Dynamic Shared Memory Per Block) " $OUT/q/det_$1_$2.txt | head -12
done
for c in "q6_k 28672x4096" "q4_k 28672x4096"; do set -- $c
  timeout 100 $N --kernel-name regex:qgemv_dot_$1_n1 --launch-skip 2 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $R/dk_m9 $B --formats $1 --shapes $2 > $OUT/q/src_$1.csv 2> $OUT/q/src_$1.err; echo "ncu src $c rc=$?"
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

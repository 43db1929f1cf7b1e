# Twelfth session, call 2: where a sliced imma launch's time goes (Nsight Compute on one Q4_K slice of
# 4096x14336 at 16 tokens: 4096 rows x 7168 columns, two n-tiles), and Q6_K's imma threshold on the step
# (llama3-8b Q4_K_M, batch 13 / 14 / 16; tables: embedded (Q6_K never), q6_13, q6_16).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s12
B=$R/dk_s12b
$B info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 120 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --set full $B bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 16 --shapes 4096x14336 --no-peer --runs 3 > $OUT/q/ncu_det.txt 2>&1; echo "ncu det rc=$?"
timeout 120 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $B bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 16 --shapes 4096x14336 --no-peer --runs 3 > $OUT/q/ncu_src.csv 2> $OUT/q/ncu_src.err; echo "ncu src rc=$? $(wc -l < $OUT/q/ncu_src.csv)"
grep -E "Duration|DRAM Throughput|L2 Cache Throughput|Registers Per|Achieved Occupancy|Issue Slots Busy|Executed Ipc A|No Eligible|Warp Cycles Per Issued|Executed Instructions  |Grid Size|Block Size|Dynamic Shared" $OUT/q/ncu_det.txt | head -20
echo "ncu done $(( $(date +%s) - t0 )) s"
run() { tab=$1; shift; f=$OUT/q/dec_${tab}_$(echo $*|tr -d ' -.').txt; if [ $tab = table ]; then env -u DK_TUNING_FILE timeout 40 $B decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; else DK_TUNING_FILE=$R/tabs/$tab.json timeout 40 $B decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; fi; echo "[$tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 13 14 16; do for tab in table q6_13 q6_16; do run $tab llama3-8b --dtype q4_k_m --batch $b; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

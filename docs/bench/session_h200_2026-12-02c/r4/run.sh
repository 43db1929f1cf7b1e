# Eighteenth session, call 4 (dk_mlp with experiment knobs DK_MLP_SLOTS, DK_MLP_SPLIT): why the persistent
# MLP launch streams at ~0.6 TB/s (44 us for qwen2.5-0.5b's 26 MB): ring depth and copy pieces swept in the
# eager profile; Nsight Compute on one launch.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_mlp; export DK_CACHE_DIR=/tmp/dkc_mlp
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for sl in 2 4 15; do for sp in 1 8; do f=$OUT/q/prof_s${sl}_p${sp}.txt; DK_MLP_SLOTS=$sl DK_MLP_SPLIT=$sp timeout 40 $F decode --model qwen2.5-0.5b --context 4096 --mode eager --no-first-step --steps 3 > $f 2>&1; echo "slots $sl split $sp: $(grep -E 'rmsnorm_mlp' $f | awk '{print $4" us"}')"; done; done
f=$OUT/q/prof_8b.txt; DK_MLP_SPLIT=8 timeout 60 $F decode --model llama3-8b --context 4096 --mode eager --no-first-step --steps 2 > $f 2>&1; echo "8b split 8: $(grep -E 'rmsnorm_mlp' $f | awk '{print $4" us"}')"
timeout 150 ncu -k regex:mlp_block -s 5 -c 1 --section SpeedOfLight --section WarpStateStats --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis $F decode --model qwen2.5-0.5b --context 4096 --mode eager --no-first-step --steps 1 > $OUT/q/ncu.txt 2>&1; echo "ncu rc=$?"; grep -E "Duration|Memory Throughput|DRAM Throughput|Stall|Warp Cycles|Registers|Achieved Occ|Block Limit|Shared Memory Config" $OUT/q/ncu.txt | head -30
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

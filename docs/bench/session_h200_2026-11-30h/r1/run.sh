# Eighth session, call 1: where the decode attention's time goes now (main 482abee): bench --graph baseline,
# Nsight Compute per-instruction samples (source page, SASS) of mmat at GQA 32/8 D 128 4096 keys (split16 cluster)
# and GQA 14/2 D 64 4096 keys, and the full section set of each.
set -u
R=$PWD/out; mkdir -p $OUT/p; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_main
$R/dk_main info > $OUT/p/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
$R/dk_main bench sdpa --graph --hq 32 --hkv 8 --lq 1 --lk 576,4096,8192 --d 128 --runs 50 > $OUT/p/bench_a.txt 2>&1
$R/dk_main bench sdpa --graph --hq 14 --hkv 2 --lq 1 --lk 576,4096,8192 --d 64 --runs 50 > $OUT/p/bench_b.txt 2>&1
grep -E "fused" $OUT/p/bench_a.txt $OUT/p/bench_b.txt | cut -c1-200
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for s in "32 8 128 4096" "14 2 64 4096" "32 8 128 8192"; do set -- $s; tag=h$1_$2_d$3_$4
  timeout 150 $N --kernel-name regex:sdpa_mm --launch-skip 3 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $R/dk_main bench sdpa --hq $1 --hkv $2 --lq 1 --lk $4 --d $3 --runs 3 > $OUT/p/src_$tag.csv 2> $OUT/p/src_$tag.err; echo "ncu src $tag rc=$? $(wc -l < $OUT/p/src_$tag.csv)"
  timeout 120 $N --kernel-name regex:sdpa_mm --launch-skip 3 --launch-count 1 --set full $R/dk_main bench sdpa --hq $1 --hkv $2 --lq 1 --lk $4 --d $3 --runs 3 > $OUT/p/det_$tag.txt 2>&1; echo "ncu det $tag rc=$?"
  grep -E "Duration|Executed Instructions |Registers Per|Achieved Occupancy|Issue Slots Busy|DRAM Throughput|Block Limit Shared|Grid Size|Cluster Size" $OUT/p/det_$tag.txt | head -12
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf p.tgz p && rm -rf p

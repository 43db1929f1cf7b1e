# NOT RUN: prepared for the next session (this session's device time ran out).
# Why the mma GEMV reads at 70-75% at N = 9-16 (and 80-83% at N = 2-8) where veck reads at
# 90% at N = 1 and cuBLAS at 85% at N = 16 (BENCHMARKS.md, twenty-first session, items 3-5):
# Nsight Compute's full set on one launch of each on llama3-8b's fused gate/up (28672x4096).
# Carry out/dk_main (main at the session's end). Compare: dram__throughput, lts hit rate,
# sectors per request, the warp stall reasons (long scoreboard vs barrier vs mio), and the
# achieved occupancy, between gemv_mma_n16, gemv_mma_n4, gemv_veck_n1 and cuBLAS's kernel.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc
$R/dk_main info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
prof() { tag=$1; re=$2; n=$3; timeout 150 $N --kernel-name regex:$re --launch-skip 3 --launch-count 1 --set full $R/dk_main bench matmul --shapes 28672x4096 --dtype f16 --n $n --runs 5 > $OUT/q/ncu_$tag.txt 2>&1; echo "ncu $tag rc=$? $(grep -E 'DRAM Throughput|Memory Throughput' $OUT/q/ncu_$tag.txt | head -2 | tr -s ' ' | tr '\n' ' ')"; }
prof mma16 gemv_mma_n16 16
prof mma4 gemv_mma_n4 4
prof veck1 gemv_veck 1
prof cublas16 'gemm|sm90|cutlass' 16
# 2. The first weight-size class up to 2^27 elements (r8/tuning_class27.json; the table's is
#    2^26): llama3-8b's fused gate/up (117M elements) and qwen2.5-7b's down (68M) to cuBLAS at
#    N = 2-8, where `bench matmul` had cuBLAS 8% / 4% faster alone (r3, r4); qwen2.5-7b's
#    gate/up (136M, GEMV 4% faster) stays. Predicted: llama3-8b batch 4 -100..-200 us (r3/r4's
#    cuBLAS-for-all steps), qwen2.5-7b within +-20.
T=docs/bench/session_h200_2026-12-02f/r8/tuning_class27.json
dec() { tag=$1; m=$2; b=$3; shift 3; f=$OUT/q/dec_${m}_b${b}_$tag.txt; env "$@" timeout 60 $R/dk_main decode --model $m --batch $b --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "[$m b$b $tag] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}')"; }
for i in 1 2; do for m in llama3-8b qwen2.5-7b; do for b in 2 4 8; do dec main$i $m $b X=1; dec class27_$i $m $b DK_TUNING_FILE=$T; done; done; done
# 3. The small models (D = 64) at batch 4 / 16: mmat8 (mmat8_fills takes only D = 128) against auto.
for m in llama3.2-1b qwen2.5-0.5b; do for b in 4 16; do dec auto $m $b X=1; dec mmat8 $m $b DK_SDPA_KERNEL=mmat8; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

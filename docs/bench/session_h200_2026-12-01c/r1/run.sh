# Fourteenth session, call 1: the imma kernel's int32 -> f32 conversions as I2F (main) or as the mma's C = bits of
# 1.5 * 2^23 and one FADD (dk_mag): SASS of both, bench imma on four formats x four shapes at 8 / 16 tokens, Nsight
# Compute of the Q4_K LM head at 16 tokens (both), and of attention GQA 32/8 D 128 at 8192 keys (main).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
A=$R/dk_base14; M=$R/dk_mag
DK_CACHE_DIR=/tmp/dkc_a $A info > $OUT/q/info_a.txt 2>&1 & DK_CACHE_DIR=/tmp/dkc_m $M info > $OUT/q/info_m.txt 2>&1; wait; echo "prewarm $(( $(date +%s) - t0 )) s"
for c in base magic; do cuobjdump -sass $R/sass/imma_$c.cubin > $OUT/q/sass_$c.txt 2>&1; done; echo "sass $(wc -l < $OUT/q/sass_base.txt)"
for round in 1 2; do for v in a m; do B=$A; [ $v = m ] && B=$M
 DK_CACHE_DIR=/tmp/dkc_$v timeout 60 $B bench quant-matmul --x-q8 --graph --no-peer --kernel imma --formats q4_k,q6_k,q8_0,q4_0 --shapes 4096x4096,14336x4096,4096x14336,128256x4096 --n 8,16 --csv $OUT/q/bq_${v}$round.csv > $OUT/q/bq_${v}$round.txt 2>&1; echo "bench $v$round rc=$? $(( $(date +%s) - t0 )) s"; done; done
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for v in a m; do B=$A; [ $v = m ] && B=$M
 DK_CACHE_DIR=/tmp/dkc_$v timeout 100 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --set full --print-details all --metrics regex:sm__inst_executed_pipe_.*pct_of_peak_sustained_active $B bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 16 --shapes 128256x4096 --no-peer --runs 3 > $OUT/q/ncu_lm_$v.txt 2>&1; echo "ncu lm $v rc=$? $(( $(date +%s) - t0 )) s"; done
DK_CACHE_DIR=/tmp/dkc_a timeout 100 $N --clock-control none --kernel-name regex:qimma --launch-skip 3 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $A bench quant-matmul --formats q4_k --kernel imma --x-q8 --n 16 --shapes 128256x4096 --no-peer --runs 3 > $OUT/q/ncu_lm_src_a.csv 2> $OUT/q/ncu_lm_src_a.err; echo "ncu src rc=$? $(( $(date +%s) - t0 )) s"
DK_CACHE_DIR=/tmp/dkc_a timeout 100 $N --clock-control none --kernel-name regex:sdpa --launch-skip 2 --launch-count 1 --set full --print-details all $A bench sdpa --hq 32 --hkv 8 --lq 1 --lk 8192 --d 128 --runs 3 > $OUT/q/ncu_sdpa.txt 2>&1; echo "ncu sdpa rc=$? $(( $(date +%s) - t0 )) s"
DK_CACHE_DIR=/tmp/dkc_a timeout 100 $N --clock-control none --kernel-name regex:sdpa --launch-skip 2 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $A bench sdpa --hq 32 --hkv 8 --lq 1 --lk 8192 --d 128 --runs 3 > $OUT/q/ncu_sdpa_src.csv 2> $OUT/q/ncu_sdpa_src.err; echo "ncu sdpa src rc=$? $(( $(date +%s) - t0 )) s"
grep -E "_graph" $OUT/q/bq_a2.txt | awk '{print $2,$3,$4,$5,$6}' | head -40
grep -E "_graph" $OUT/q/bq_m2.txt | awk '{print $2,$3,$4,$5,$6}' | head -40
grep -E "Duration|Issue Slots Busy|No Eligible|Registers Per|Executed Instructions  " $OUT/q/ncu_lm_a.txt $OUT/q/ncu_lm_m.txt $OUT/q/ncu_sdpa.txt | head -30
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

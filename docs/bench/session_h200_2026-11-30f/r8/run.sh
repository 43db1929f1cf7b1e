# 2026-11-30 sixth session, r8 (last ~4 minutes of device time): the final x-quant-rope binary after review fixes:
# quant_matmul K = 0 (y = beta y through the dense product; the kernels would never finish an empty row), the fused
# rope launch against the GPU's own composed ops bit for bit, the decode step's quantized path.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
export DK_CACHE_DIR=/tmp/dkc_g
ck() { timeout 150 $R/dk_g check --seed $1 --filter $2 > $OUT/n/check_$3.log 2>&1; echo "check $2 rc=$? $(grep 'check:' $OUT/n/check_$3.log | tail -1)"; grep -E "FAIL|rror|differ" $OUT/n/check_$3.log | head -6; }
( ck 801 quant_matmul_rope_append qr; ck 802 x0x k0 ) &
( ck 803 decode/tiny dec ) &
( timeout 150 $S --tool memcheck --error-exitcode 99 $R/dk_g check --seed 9 --filter x0x > $OUT/n/mem.log 2>&1; echo "memcheck k0 rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem.log)" ) &
wait; echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

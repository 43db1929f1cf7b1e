# Thirteenth session, call 3: x rounded once by its own launch (quant.round_x_min_k) against every CTA of
# the dot kernel rounding it (tables rx0 / rx1, same binary dk_s13b): bench quant-matmul f16 x as it is,
# auto, cold, graphs; the quant_matmul check cases (dot both ways, /rx0), memcheck of a few.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s13
J=$R/dk_s13b
$J info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
[ -n "${SKIPCHK:-}" ] || timeout 200 $J check --seed 1303 --filter quant_matmul > $OUT/q/check_qm.log 2>&1; echo "check quant_matmul rc=$? $(grep 'check:' $OUT/q/check_qm.log | tail -1)"; grep -c "/rx0" $OUT/q/check_qm.log; grep FAIL $OUT/q/check_qm.log | head -5
[ -n "${SKIPCHK:-}" ] || timeout 120 compute-sanitizer --tool memcheck $J check --seed 1304 --filter 4096x4096x1/ > $OUT/q/memcheck_qm.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_qm.log | tail -2 | tr '\n' ' ')"
for r in 1 2; do for v in 0 1; do for f in q4_k q6_k q8_0; do
  sh=1024x1024,2048x2048,4096x4096,14336x4096,4096x14336,128256x4096; [ $f = q8_0 ] && sh=896x896,4864x896,896x4864,$sh
  left=$(( 560 - $(date +%s) + t0 )); [ $left -gt 20 ] || break
  DK_TUNING_FILE=$R/tabs/rx$v.json timeout $left $J bench quant-matmul --dtype f16 --graph --no-peer --kernel auto --formats $f --shapes $sh --n 1,2,4,8,16 --csv $OUT/q/rx${v}_${f}_r$r.csv > $OUT/q/rx${v}_${f}_r$r.txt 2>&1; echo "bench rx$v $f r$r rc=$? at $(( $(date +%s) - t0 )) s"
done; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

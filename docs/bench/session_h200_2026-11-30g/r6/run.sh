# 2026-11-30 seventh session, call F: the final binary (dk_fin: main 6170e8e + every op's device pointers through
# ops::device_ptr / ops::indices_ptr, host only) checked whole on the GPU, compute-sanitizer on the ops whose
# launch arguments moved (copy, sample, softmax, dequant, decode steps), and a decode step beside main's binary.
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
DK_CACHE_DIR=/tmp/dkc_fin $R/dk_fin info > $OUT/n/info_fin.txt 2>&1
echo "prewarm $(( $(date +%s) - t0 )) s"
( DK_CACHE_DIR=/tmp/dkc_fin timeout 200 $R/dk_fin check --seed 811 > $OUT/n/check_fin.log 2>&1; echo "check all (dk_fin) rc=$? $(grep 'check:' $OUT/n/check_fin.log | tail -1)"; grep -E "FAIL" $OUT/n/check_fin.log | head -8 ) &
( for f in copy sample softmax/1x dequant decode/; do timeout 100 $S --tool memcheck --error-exitcode 99 env DK_CACHE_DIR=/tmp/dkc_fin $R/dk_fin check --seed 31 --filter $f > $OUT/n/mem_$(echo $f|tr -d '/').log 2>&1; echo "memcheck $f rc=$? $(grep 'ERROR SUMMARY' $OUT/n/mem_$(echo $f|tr -d '/').log) $(grep 'check:' $OUT/n/mem_$(echo $f|tr -d '/').log | tail -1)"; done ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
for m in "qwen2.5-0.5b --dtype f16" "llama3-8b --dtype q4_k_m"; do
  DK_CACHE_DIR=/tmp/dkc_fin timeout 60 $R/dk_fin decode --model $m --batch 1 --context 4096 --mode graph --no-first-step --steps 30 > $OUT/n/dec_$(echo $m|tr -d ' -.').txt 2>&1
  echo "$m $(grep -E '^ *graph ' $OUT/n/dec_$(echo $m|tr -d ' -.').txt | head -1)"; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

# Twelfth session, call 1: imma slices of K (dk_s12b) against the previous head (dk_s12a = e3ede09): the whole
# check and memcheck of the imma cases on the new binary; bench quant-matmul of the K = 14336 shapes and the
# Q6_K shapes of a step at 8-16 tokens; llama3-8b Q4_K_M steps at batch 16 / 12 / 8 on both binaries and with
# Q6_K imma from 9 tokens (table q6_9).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s12
A=$R/dk_s12a; B=$R/dk_s12b
$B info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $B check --seed 1201 > $OUT/q/check_all.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep -E "FAIL" $OUT/q/check_all.log | head -5
timeout 100 compute-sanitizer --tool memcheck $B check --seed 1202 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck imma rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ')"
echo "checks done $(( $(date +%s) - t0 )) s"
for bin in A B; do eval X=\$$bin
  timeout 60 $X bench quant-matmul --x-q8 --graph --no-peer --shapes 4096x14336 --formats q4_k,q6_k --n 8,12,16 --kernel dot,imma --csv $OUT/q/bq_k14336_$bin.csv > $OUT/q/bq_k14336_$bin.txt 2>&1
  timeout 60 $X bench quant-matmul --x-q8 --graph --no-peer --shapes 1024x4096,128256x4096 --formats q6_k --n 8,9,12,16 --kernel dot,imma --csv $OUT/q/bq_q6_$bin.csv > $OUT/q/bq_q6_$bin.txt 2>&1
done
echo "bench done $(( $(date +%s) - t0 )) s"
run() { bin=$1; tab=$2; shift 2; eval X=\$$bin; f=$OUT/q/dec_${bin}_${tab}_$(echo $*|tr -d ' -.').txt; if [ $tab = table ]; then env -u DK_TUNING_FILE timeout 40 $X decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; else DK_TUNING_FILE=$R/tabs/$tab.json timeout 40 $X decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; fi; echo "[$bin $tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 12 8; do run A table llama3-8b --dtype q4_k_m --batch $b; run B table llama3-8b --dtype q4_k_m --batch $b; run B q6_9 llama3-8b --dtype q4_k_m --batch $b; done
run B table llama3-8b --dtype q4_k_m --batch 1
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Twelfth session, call 3: the imma prologue's unit constants by 16-byte loads all issued at once and y loaded
# before the k-parts meet (dk_s12c), and slices sized for 16 warps (dk_s12d), against dk_s12b (call 1's slices).
# check of the imma cases on c and d; bench quant-matmul; llama3-8b Q4_K_M steps at batch 16 and 8.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s12
$R/dk_s12c info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for v in c d; do timeout 100 $R/dk_s12$v check --seed 1231 --filter imma > $OUT/q/check_imma_$v.log 2>&1; echo "check imma $v rc=$? $(grep 'check:' $OUT/q/check_imma_$v.log | tail -1)"; grep FAIL $OUT/q/check_imma_$v.log | head -3; done
timeout 100 compute-sanitizer --tool memcheck $R/dk_s12c check --seed 1232 --filter imma > $OUT/q/memcheck_imma_c.log 2>&1; echo "memcheck imma c rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma_c.log | tail -2 | tr '\n' ' ')"
echo "checks done $(( $(date +%s) - t0 )) s"
for v in b c d; do
  timeout 60 $R/dk_s12$v bench quant-matmul --x-q8 --graph --no-peer --shapes 4096x14336,4096x4096,28672x4096,1024x4096 --formats q4_k,q6_k --n 8,16 --kernel imma > $OUT/q/bq_$v.txt 2>&1
done
echo "bench done $(( $(date +%s) - t0 )) s"
for v in b c d; do grep -E "_graph" $OUT/q/bq_$v.txt | awk -v v=$v '{print v, $2"x"$3, $4, $5, $6}'; done | sort -k2,2 -k3,3n -k4,4 | head -60
run() { v=$1; tab=$2; shift 2; X=$R/dk_s12$v; f=$OUT/q/dec_${v}_${tab}_$(echo $*|tr -d ' -.').txt; if [ $tab = table ]; then env -u DK_TUNING_FILE timeout 40 $X decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; else DK_TUNING_FILE=$R/tabs/$tab.json timeout 40 $X decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; fi; echo "[$v $tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8; do for v in b c d; do run $v table llama3-8b --dtype q4_k_m --batch $b; done; done
for v in c d; do run $v q6_16 llama3-8b --dtype q4_k_m --batch 16; run $v q6_13 llama3-8b --dtype q4_k_m --batch 13; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

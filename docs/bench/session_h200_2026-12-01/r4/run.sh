# Twelfth session, call 4: dk_s12e = the unit constants by 16-byte loads (c without the y prefetch) and the
# embedded table's Q6_K imma from 13 tokens, against dk_s12b under that table (q6_13): bench of the imma shapes,
# steps llama3-8b Q4_K_M at batch 16 / 13 / 8 / 1; the whole check and memcheck of the imma and decode/ cases on e.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s12
E=$R/dk_s12e
$E info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $E check --seed 1241 > $OUT/q/check_all.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep -E "FAIL" $OUT/q/check_all.log | head -5
for f in imma decode/; do g=$(echo $f|tr -d '/+'); timeout 120 compute-sanitizer --tool memcheck $E check --seed 1242 --filter $f > $OUT/q/memcheck_$g.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_$g.log | tail -2 | tr '\n' ' ')"; done
echo "checks done $(( $(date +%s) - t0 )) s"
for v in b e; do
  timeout 60 $R/dk_s12$v bench quant-matmul --x-q8 --graph --no-peer --shapes 4096x14336,4096x4096,28672x4096,1024x4096 --formats q4_k,q6_k --n 8,16 --kernel imma > $OUT/q/bq_$v.txt 2>&1
done
for v in b e; do grep -E "_graph" $OUT/q/bq_$v.txt | awk -v v=$v '{print v, $2"x"$3, $4, $5, $6}'; done | sort -k2,2 -k3,3n -k4,4 | head -40
echo "bench done $(( $(date +%s) - t0 )) s"
run() { v=$1; tab=$2; shift 2; X=$R/dk_s12$v; f=$OUT/q/dec_${v}_${tab}_$(echo $*|tr -d ' -.').txt; if [ $tab = table ]; then env -u DK_TUNING_FILE timeout 40 $X decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; else DK_TUNING_FILE=$R/tabs/$tab.json timeout 40 $X decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; fi; echo "[$v $tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 13 8 1; do run b q6_13 llama3-8b --dtype q4_k_m --batch $b; run e table llama3-8b --dtype q4_k_m --batch $b; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

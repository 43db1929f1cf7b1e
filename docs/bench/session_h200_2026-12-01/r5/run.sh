# Twelfth session, call 5: imma in thread-block clusters splitting K (dk_s12f; quant.imma_csplit 0 = by the
# shape; tables cs1/cs2/cs4/cs8 force it): the imma cases under auto and forced 2 and 4 (+ memcheck, racecheck),
# bench quant-matmul at each cluster size, steps llama3-8b Q4_K_M batch 16 / 8 / 1 (auto against cs1 = no clusters).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s12
F=$R/dk_s12f
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 60 $F check --seed 1251 --filter imma > $OUT/q/check_imma.log 2>&1; echo "check imma rc=$? $(grep 'check:' $OUT/q/check_imma.log | tail -1)"; grep FAIL $OUT/q/check_imma.log | head -3
for c in 2 4; do DK_TUNING_FILE=$R/tabs/cs$c.json timeout 60 $F check --seed 125$c --filter imma > $OUT/q/check_imma_cs$c.log 2>&1; echo "check imma cs$c rc=$? $(grep 'check:' $OUT/q/check_imma_cs$c.log | tail -1)"; grep FAIL $OUT/q/check_imma_cs$c.log | head -3; done
timeout 100 compute-sanitizer --tool memcheck $F check --seed 1256 --filter imma > $OUT/q/memcheck_imma.log 2>&1; echo "memcheck imma rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_imma.log | tail -2 | tr '\n' ' ')"
timeout 60 compute-sanitizer --tool racecheck $F check --seed 1257 --filter 4096x4096x16 > $OUT/q/racecheck.log 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY|check:' $OUT/q/racecheck.log | tail -2 | tr '\n' ' ')"
echo "checks done $(( $(date +%s) - t0 )) s"
for c in 1 2 4 8; do
  DK_TUNING_FILE=$R/tabs/cs$c.json timeout 60 $F bench quant-matmul --x-q8 --graph --no-peer --shapes 4096x14336,4096x4096,1024x4096,14336x4096,28672x4096 --formats q4_k,q6_k --n 8,16 --kernel imma > $OUT/q/bq_cs$c.txt 2>&1
done
timeout 60 $F bench quant-matmul --x-q8 --graph --no-peer --shapes 4096x14336,4096x4096,1024x4096,14336x4096,28672x4096 --formats q4_k,q6_k --n 8,16 --kernel imma > $OUT/q/bq_auto.txt 2>&1
for c in 1 2 4 8 auto; do grep -E "_graph" $OUT/q/bq_cs$c.txt $OUT/q/bq_$c.txt 2>/dev/null | awk -v v=$c '{print $3"x"$4, $5, $6, v, $7}'; done | sort -k1,1 -k2,2n -k3,3 | head -100
echo "bench done $(( $(date +%s) - t0 )) s"
run() { tab=$1; shift; f=$OUT/q/dec_${tab}_$(echo $*|tr -d ' -.').txt; if [ $tab = table ]; then env -u DK_TUNING_FILE timeout 40 $F decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; else DK_TUNING_FILE=$R/tabs/$tab.json timeout 40 $F decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; fi; echo "[$tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8 1; do for tab in cs1 table; do run $tab llama3-8b --dtype q4_k_m --batch $b; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

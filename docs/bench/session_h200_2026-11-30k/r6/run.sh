# Eleventh session, call 5: the binary to land (imma v3, auto from 6 tokens of Q4_K with x given rounded): the whole
# check, memcheck on the imma and decode/ cases, synccheck and racecheck on imma cases (named barriers, the shared
# sums), and the steps: llama3-8b Q4_K_M at batch 1 / 4 / 8 / 16 with the table's imma and without (same binary),
# Q8_0 batch 1, f16 batch 1 and 16.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_im
B=$R/dk_im6
$B info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 240 $B check --seed 1131 > $OUT/q/check_all.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep -E "FAIL" $OUT/q/check_all.log | head -5
echo "check done $(( $(date +%s) - t0 )) s"
for f in imma decode/; do g=$(echo $f|tr -d '/+'); timeout 120 compute-sanitizer --tool memcheck $B check --seed 1132 --filter $f > $OUT/q/memcheck_$g.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_$g.log | tail -2 | tr '\n' ' ')"; done
timeout 90 compute-sanitizer --tool synccheck $B check --seed 1133 --filter imma > $OUT/q/synccheck_imma.log 2>&1; echo "synccheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/synccheck_imma.log | tail -2 | tr '\n' ' ')"
timeout 120 compute-sanitizer --tool racecheck $B check --seed 1134 --filter x16/a1/b0/padded/imma > $OUT/q/racecheck_imma.log 2>&1; echo "racecheck rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|check:' $OUT/q/racecheck_imma.log | tail -2 | tr '\n' ' ')"
echo "sanitizers done $(( $(date +%s) - t0 )) s"
run() { tab=$1; shift; f=$OUT/q/dec_${tab}_$(echo $*|tr -d ' -.').txt; if [ $tab = table ]; then env -u DK_TUNING_FILE timeout 40 $B decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; else DK_TUNING_FILE=$R/tabs/$tab.json timeout 40 $B decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; fi; echo "[$tab $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8 4 1; do for tab in imma_none table; do run $tab llama3-8b --dtype q4_k_m --batch $b; done; done
run table llama3-8b --dtype q4_k_m --batch 6
run table llama3-8b --dtype q8_0 --batch 1
run table llama3-8b --batch 1
run table llama3-8b --batch 16
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

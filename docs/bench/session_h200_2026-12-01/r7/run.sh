# Twelfth session, call 7: the binary to land (dk_s12h: call 6's clusters of two in entries of their own, the
# others without cluster code) against dk_s12e (r4's head, slices only): the whole check, memcheck of the imma and decode/ cases,
# bench of the imma shapes, the steps.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s12
H=$R/dk_s12h
$H info > $OUT/q/info.txt 2>&1; $R/dk_s12e info > /dev/null 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $H check --seed 1261 > $OUT/q/check_all.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep -E "FAIL" $OUT/q/check_all.log | head -5
for f in imma decode/; do g=$(echo $f|tr -d '/+'); timeout 120 compute-sanitizer --tool memcheck $H check --seed 1262 --filter $f > $OUT/q/memcheck_$g.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_$g.log | tail -2 | tr '\n' ' ')"; done
echo "checks done $(( $(date +%s) - t0 )) s"
for v in e h; do timeout 60 $R/dk_s12$v bench quant-matmul --x-q8 --graph --no-peer --shapes 4096x14336,4096x4096,1024x4096 --formats q4_k,q6_k --n 8,16 --kernel imma > $OUT/q/bq_$v.txt 2>&1; done
for v in e h; do grep _graph $OUT/q/bq_$v.txt | awk -v v=$v '{print $2"x"$3, $4, substr($5,6,4), v, $6}'; done | sort -k1,1 -k3,3 -k2,2n -k4,4 | awk '{k=$1" "$3" n"$2; a[k]=a[k]" "$4":"$5} END{for(k in a) print k, a[k]}' | sort
run() { v=$1; shift; X=$R/dk_s12$v; f=$OUT/q/dec_${v}_$(echo $*|tr -d ' -.').txt; env -u DK_TUNING_FILE timeout 40 $X decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$v $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8 1; do for v in e h; do run $v llama3-8b --dtype q4_k_m --batch $b; done; done
run h llama3-8b --dtype q4_k_m --batch 13
run h llama3-8b --dtype q4_k_m --batch 4
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

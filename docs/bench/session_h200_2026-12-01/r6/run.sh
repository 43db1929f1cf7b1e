# Twelfth session, call 6: the binary to land (dk_s12g: clusters of two where 16 warps cannot hold x and M is
# small) against dk_s12e (r4's head, slices only): the whole check, memcheck of the imma and decode/ cases,
# racecheck and synccheck of K = 14336 imma cases (clusters), bench of the imma shapes, the steps.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_s12
G=$R/dk_s12g
$G info > $OUT/q/info.txt 2>&1; $R/dk_s12e info > /dev/null 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $G check --seed 1261 > $OUT/q/check_all.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check_all.log | tail -1)"; grep -E "FAIL" $OUT/q/check_all.log | head -5
for f in imma decode/; do g=$(echo $f|tr -d '/+'); timeout 120 compute-sanitizer --tool memcheck $G check --seed 1262 --filter $f > $OUT/q/memcheck_$g.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_$g.log | tail -2 | tr '\n' ' ')"; done
timeout 90 compute-sanitizer --tool racecheck $G check --seed 1263 --filter 64x14336x16/a1/b1/padded/imma > $OUT/q/racecheck.log 2>&1; echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY|check:' $OUT/q/racecheck.log | tail -2 | tr '\n' ' ')"
timeout 90 compute-sanitizer --tool synccheck $G check --seed 1264 --filter imma > $OUT/q/synccheck.log 2>&1; echo "synccheck rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/synccheck.log | tail -2 | tr '\n' ' ')"
echo "checks done $(( $(date +%s) - t0 )) s"
for v in e g; do timeout 60 $R/dk_s12$v bench quant-matmul --x-q8 --graph --no-peer --shapes 4096x14336,4096x4096,1024x4096 --formats q4_k,q6_k --n 8,16 --kernel imma > $OUT/q/bq_$v.txt 2>&1; done
for v in e g; do grep _graph $OUT/q/bq_$v.txt | awk -v v=$v '{print $2"x"$3, $4, substr($5,6,4), v, $6}'; done | sort -k1,1 -k3,3 -k2,2n -k4,4 | awk '{k=$1" "$3" n"$2; a[k]=a[k]" "$4":"$5} END{for(k in a) print k, a[k]}' | sort
run() { v=$1; shift; X=$R/dk_s12$v; f=$OUT/q/dec_${v}_$(echo $*|tr -d ' -.').txt; env -u DK_TUNING_FILE timeout 40 $X decode --model $* --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$v $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for b in 16 8 1; do for v in e g e g; do run $v llama3-8b --dtype q4_k_m --batch $b; done; done
run g llama3-8b --dtype q4_k_m --batch 13
run g llama3-8b --dtype q4_k_m --batch 4
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

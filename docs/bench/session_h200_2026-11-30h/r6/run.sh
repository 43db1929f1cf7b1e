# Eighth session, call 6: tile copies with constant source steps where K/V rows are D apart (a decode cache) and
# mmat (cluster merge) for 5-8 rows below 16384 keys (dk_dn, working tree after a118338) against a118338 (dk_own).
# Predicted: -0.2 to -0.3 us a launch, llama3-8b step -5..-10 us; qwen2.5-7b b1 step -15 us (mmat).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in own dn; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_dn
( $R/dk_dn check --seed 931 --filter sdpa > $OUT/q/check_sdpa.log 2>&1; echo "check sdpa rc=$? $(grep 'check:' $OUT/q/check_sdpa.log | tail -1)"; grep -E "FAIL" $OUT/q/check_sdpa.log | head -5
  $R/dk_dn check --seed 932 --filter decode/ > $OUT/q/check_dec.log 2>&1; echo "check decode/ rc=$? $(grep 'check:' $OUT/q/check_dec.log | tail -1)"
  $R/dk_dn check --seed 933 --filter generate > $OUT/q/check_gen.log 2>&1; echo "check generate rc=$? $(grep 'check:' $OUT/q/check_gen.log | tail -1)" ) &
( timeout 250 $S --tool memcheck --error-exitcode 99 $R/dk_dn check --seed 61 --filter sdpa > $OUT/q/mem_sdpa.log 2>&1; echo "memcheck sdpa rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_sdpa.log) $(grep 'check:' $OUT/q/mem_sdpa.log | tail -1)" ) &
( timeout 250 $S --tool racecheck --error-exitcode 99 $R/dk_dn check --seed 62 --filter lq1_ > $OUT/q/race_sdpa.log 2>&1; echo "racecheck lq1_ rc=$? $(grep 'RACECHECK SUMMARY' $OUT/q/race_sdpa.log) $(grep 'check:' $OUT/q/race_sdpa.log | tail -1)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
for v in own dn; do
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph --hq 32 --hkv 8 --lq 1,4 --lk 576,4096 --d 128 --runs 50 > $OUT/q/bench_a_$v.txt 2>&1
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph --hq 14 --hkv 2 --lq 1 --lk 576,4096,8192 --d 64 --runs 50 > $OUT/q/bench_b_$v.txt 2>&1
  DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph --hq 28 --hkv 4 --lq 1 --lk 576,4096 --d 128 --runs 50 > $OUT/q/bench_c_$v.txt 2>&1
  echo "== $v"; grep -h "_graph" $OUT/q/bench_*_$v.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
done
run() { f=$OUT/q/dec_$1_$3_$(echo $2|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_${1%%_*} timeout 60 env $4 $R/dk_${1%%_*} decode --model $2 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "qwen2.5-0.5b --dtype f16" "llama3.2-1b --dtype f16" "llama3-8b --dtype f16" "llama3-8b --dtype q4_k_m" "qwen2.5-7b --dtype f16"; do
  echo "== $m"; for r in 1 2; do run own "$m --batch 1 --context 4096" $r X=1; run dn "$m --batch 1 --context 4096" $r X=1; done
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# 2026-11-30 (fourth session): sdpa mma with bulk-copied K/V rows (x-attn) against main (051aa9a) in one run.
# carry ["out/dk_m2","out/dk_at","out/run_at.sh"]
set -u
R=$PWD/out; mkdir -p $OUT/a; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for v in m2 at; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/a/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_at
( $R/dk_at check --seed 151 --filter sdpa > $OUT/a/check_sdpa.log 2>&1; echo "at check sdpa rc=$? $(grep 'check:' $OUT/a/check_sdpa.log | tail -1)"; grep -E "FAIL|rror" $OUT/a/check_sdpa.log | head -5 ) &
( $R/dk_at check --seed 152 --filter decode/ > $OUT/a/check_dec.log 2>&1; echo "at check decode/ rc=$? $(grep 'check:' $OUT/a/check_dec.log | tail -1)"
  $R/dk_at check --seed 153 --filter generate > $OUT/a/check_gen.log 2>&1; echo "at check generate rc=$? $(grep 'check:' $OUT/a/check_gen.log | tail -1)" ) &
( timeout 240 $S --tool racecheck --error-exitcode 99 $R/dk_at check --seed 9 --filter fresh > $OUT/a/race.log 2>&1; echo "at racecheck fresh rc=$? $(grep 'RACECHECK SUMMARY' $OUT/a/race.log)" ) &
( timeout 240 $S --tool synccheck --error-exitcode 99 $R/dk_at check --seed 9 --filter fresh > $OUT/a/sync.log 2>&1; echo "at synccheck fresh rc=$? $(grep 'ERROR SUMMARY' $OUT/a/sync.log)" ) &
( timeout 240 $S --tool memcheck --error-exitcode 99 $R/dk_at check --seed 9 --filter sdpa > $OUT/a/mem.log 2>&1; echo "at memcheck sdpa rc=$? $(grep 'ERROR SUMMARY' $OUT/a/mem.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
for v in m2 at; do
  for sh in "--hq 32 --hkv 8 --lq 1,4 --lk 576,4096,32768 --d 128" "--hq 32 --hkv 8 --lq 1 --lk 4096 --d 64" "--hq 14 --hkv 2 --lq 1 --lk 4096,32768 --d 64"; do
    DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v bench sdpa --graph $sh >> $OUT/a/bench_sdpa_$v.txt 2>&1
  done; echo "== bench $v"; grep graph $OUT/a/bench_sdpa_$v.txt
done
run() { f=$OUT/a/dec_$1_$3_$(echo $2|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype q4_k_m --batch 1" "llama3.2-1b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1" "llama3-8b --dtype q4_k_m --batch 16"; do
  echo "== $m"; for r in 1 2; do run m2 "$m" $r; run at "$m" $r; done
done
echo "elapsed $(( $(date +%s) - t0 )) s"
for v in m2 at; do DK_CACHE_DIR=/tmp/dkc_$v timeout 90 $N --kernel-name regex:sdpa_mma --launch-skip 3 --launch-count 1 --metrics smsp__inst_executed.sum,sm__cycles_active.avg,gpu__time_duration.sum,smsp__average_warp_latency_issue_stalled_barrier.ratio $R/dk_$v bench sdpa --hq 32 --hkv 8 --lq 1 --lk 4096 --d 128 --runs 3 > $OUT/a/ncu_$v.txt 2>&1; echo "ncu $v"; grep -E "inst_executed|cycles_active|duration" $OUT/a/ncu_$v.txt; done
cd $OUT && tar -czf a.tgz a && rm -rf a

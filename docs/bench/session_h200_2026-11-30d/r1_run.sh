# Next session's first device run (prepared 2026-11-30, third session).
# Binaries prebuilt: out/dk_main = main after this session (23abd94), out/dk_pro = branch x-prologues (the sdpa prologue's order, bench sdpa --graph, and rmsnorm_q8's loads all issued first),
# out/dk_gp = branch x-gemv-prefetch 5d26911 (the L2 prefetch of dense weights, first wave only, with the DK_GEMV_PREFETCH
# knob; +2% on llama3-8b f16 b1 in 2026-11-30's run r7), out/dk_glu = branch x-glu bebf9e9 (gate/up and SiLU in
# one launch for dense MLPs at batch 1-2: ops::matmul_silu_mul).
# carry ["out/dk_main","out/dk_pro","out/dk_gp","out/dk_glu","out/run_next.sh"]; timeout 590. Then, in a second call, the
# llama.cpp peer in the same session: OUT=$OUT/x SKIP_MULMAT=1 QUANTS=Q4_K_M BUDGET=420 bash out/llama_peer/run.sh
# (carry out/llama_peer) and `decode --model llama3-8b --dtype q4_k_m --batch 1` of dk_main right after it.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
S=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for v in main pro gp glu; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
# main: the two rmsnorm_q8 cases added after the last device run (4128, 2080), the q8 buffers now zeroed.
export DK_CACHE_DIR=/tmp/dkc_main
( $R/dk_main check --seed 131 --filter _q8 > $OUT/q/check_main_q8.log 2>&1; echo "main check _q8 rc=$? $(grep 'check:' $OUT/q/check_main_q8.log | tail -1)"; grep -E "FAIL|error" $OUT/q/check_main_q8.log | head -5 ) &
( timeout 200 $S --tool memcheck --error-exitcode 99 $R/dk_main check --seed 9 --filter rmsnorm_q8 > $OUT/q/mem_main.log 2>&1; echo "main memcheck rmsnorm_q8 rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_main.log)" ) &
( timeout 200 $S --tool initcheck --error-exitcode 99 $R/dk_main check --seed 9 --filter x_q8 > $OUT/q/init_main.log 2>&1; echo "main initcheck x_q8 rc=$? $(grep 'ERROR SUMMARY' $OUT/q/init_main.log)" ) &
# pro: the sdpa prologue reordered, and rmsnorm_q8's loads issued together.
( DK_CACHE_DIR=/tmp/dkc_pro $R/dk_pro check --seed 141 --filter _q8 > $OUT/q/check_pro_q8.log 2>&1; echo "pro check _q8 rc=$? $(grep 'check:' $OUT/q/check_pro_q8.log | tail -1)"; grep -E "FAIL|error" $OUT/q/check_pro_q8.log | head -5 ) &
( DK_CACHE_DIR=/tmp/dkc_pro $R/dk_pro check --seed 137 --filter sdpa > $OUT/q/check_pro_sdpa.log 2>&1; echo "pro check sdpa rc=$? $(grep 'check:' $OUT/q/check_pro_sdpa.log | tail -1)"; grep -E "FAIL|error" $OUT/q/check_pro_sdpa.log | head -5 ) &
( DK_CACHE_DIR=/tmp/dkc_pro timeout 200 $S --tool racecheck --error-exitcode 99 $R/dk_pro check --seed 9 --filter fresh > $OUT/q/race_pro.log 2>&1; echo "pro racecheck fresh rc=$? $(grep 'RACECHECK SUMMARY' $OUT/q/race_pro.log)" ) &
# glu: the fused kernel against the CPU, and whole steps.
( DK_CACHE_DIR=/tmp/dkc_glu $R/dk_glu check --seed 139 --filter matmul_silu_mul > $OUT/q/check_glu.log 2>&1; echo "glu check matmul_silu_mul rc=$? $(grep 'check:' $OUT/q/check_glu.log | tail -1)"; grep -E "FAIL|error" $OUT/q/check_glu.log | head -5
  DK_CACHE_DIR=/tmp/dkc_glu $R/dk_glu check --seed 139 --filter decode/ > $OUT/q/check_glu_dec.log 2>&1; echo "glu check decode/ rc=$? $(grep 'check:' $OUT/q/check_glu_dec.log | tail -1)" ) &
( DK_CACHE_DIR=/tmp/dkc_glu timeout 150 $S --tool memcheck --error-exitcode 99 $R/dk_glu check --seed 9 --filter matmul_silu_mul > $OUT/q/mem_glu.log 2>&1; echo "glu memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/q/mem_glu.log)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$1_$3_$(echo $2|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_$1 timeout 60 $R/dk_$1 decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype q4_k_m --batch 1" "qwen2.5-0.5b --dtype q8_0 --batch 1"; do
  echo "== $m"; for r in 1 2; do run main "$m" $r; run pro "$m" $r; done
done
for m in "qwen2.5-0.5b --dtype f16 --batch 1" "llama3.2-1b --dtype f16 --batch 1" "llama3-8b --dtype f16 --batch 1" "llama3-8b --dtype f16 --batch 2"; do
  echo "== $m (glu)"; for r in 1 2; do run main "$m" $r; run glu "$m" $r; done
done
# x-gemv-prefetch's knob: off (= main's path), wait (the first wave waits inside the variant, no prefetch), prefetch.
for m in "llama3-8b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype f16 --batch 1"; do
  echo "== $m"; for r in 1 2; do run main "$m" $r; for k in off wait prefetch; do DK_GEMV_PREFETCH=$k run gp "$m" ${r}_$k; echo "   (gp: $k)"; done; done
done
DK_CACHE_DIR=/tmp/dkc_main $R/dk_main bench sdpa --hq 32 --hkv 8 --lq 1,4 --lk 576,4096,32768 --d 128 > $OUT/q/bench_sdpa_main.txt 2>&1; echo "bench main"; grep fused $OUT/q/bench_sdpa_main.txt | head -6
DK_CACHE_DIR=/tmp/dkc_pro $R/dk_pro bench sdpa --graph --hq 32 --hkv 8 --lq 1,4 --lk 576,4096,32768 --d 128 > $OUT/q/bench_sdpa_pro.txt 2>&1; echo "bench pro (and graph rows)"; grep fused $OUT/q/bench_sdpa_pro.txt | head -12
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q
# Where the attention's time goes: per-instruction samples of one split-16 launch (Nsight Compute; best effort).
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
( DK_CACHE_DIR=/tmp/dkc_main timeout 150 $N --kernel-name regex:sdpa_mma --launch-skip 3 --launch-count 1 --set full --page source --print-source sass --csv $R/dk_main bench sdpa --hq 32 --hkv 8 --lq 1 --lk 4096 --d 128 --runs 3 > $OUT/ncu_sdpa_source.csv 2> $OUT/ncu_sdpa.err; echo "ncu rc=$? $(wc -l < $OUT/ncu_sdpa_source.csv) lines" )
( DK_CACHE_DIR=/tmp/dkc_main timeout 120 $N --kernel-name regex:sdpa_mma --launch-skip 3 --launch-count 1 --set full $R/dk_main bench sdpa --hq 32 --hkv 8 --lq 1 --lk 4096 --d 128 --runs 3 > $OUT/ncu_sdpa_details.txt 2>&1; echo "ncu details rc=$?" )

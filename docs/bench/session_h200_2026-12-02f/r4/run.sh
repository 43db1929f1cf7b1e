# Experiment (branch exp/gemv-mmas): gemv_mmas, tensor cores on tiles staged in shared
# memory (64 rows a CTA, A and B by cp.async in 64-element K steps, 4 stages), for
# N >= 2 where DK_EXP_MMAS=1. Predicted: N = 9-16 from ~70% to >= 85% of the read
# roofline on 28672x4096 / 4096x14336 (B read once for 64 rows instead of once a
# 16-row tile), N = 2-8 from 82% to ~88%; the 8B steps at batch 16 -300..-600 us.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc
$R/dk_mmas info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
DK_EXP_MMAS=1 timeout 200 $R/dk_mmas check --seed 9101 --filter matmul/ > $OUT/q/check_matmul.log 2>&1; echo "check matmul rc=$? $(tail -1 $OUT/q/check_matmul.log)"
grep -E "FAIL|fail" $OUT/q/check_matmul.log | head -5
DK_EXP_MMAS=1 timeout 200 compute-sanitizer --tool memcheck $R/dk_mmas check --seed 9102 --filter kcontiguous/tokens > $OUT/q/memcheck.log 2>&1; echo "memcheck rc=$? $(grep SUMMARY $OUT/q/memcheck.log | tail -1) $(tail -1 $OUT/q/memcheck.log)"
DK_EXP_MMAS=1 timeout 200 compute-sanitizer --tool racecheck $R/dk_mmas check --seed 9103 --filter 300x520x1 > $OUT/q/racecheck.log 2>&1; echo "racecheck rc=$? $(grep SUMMARY $OUT/q/racecheck.log | tail -1) $(tail -1 $OUT/q/racecheck.log)"
SH=6144x4096,4096x4096,28672x4096,4096x14336,37888x3584,3584x18944,128256x4096
timeout 200 $R/dk_mmas bench matmul --dtype f16 --n 2,4,8,9,12,16 --runs 30 --shapes $SH --csv $OUT/q/bench_main.csv > $OUT/q/bench_main.txt 2>&1; echo "bench main rc=$? $(( $(date +%s) - t0 )) s"
DK_EXP_MMAS=1 timeout 200 $R/dk_mmas bench matmul --dtype f16 --n 2,4,8,9,12,16 --runs 30 --no-peer --shapes $SH --csv $OUT/q/bench_mmas.csv > $OUT/q/bench_mmas.txt 2>&1; echo "bench mmas rc=$? $(( $(date +%s) - t0 )) s"
dec() { tag=$1; m=$2; b=$3; shift 3; f=$OUT/q/dec_${m}_b${b}_$tag.txt; env "$@" timeout 60 $R/dk_mmas decode --model $m --batch $b --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "[$m b$b $tag] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}')"; }
for m in llama3-8b qwen2.5-7b; do for b in 4 16; do
  dec auto $m $b X=1; dec mmas_gemv $m $b DK_EXP_MMAS=1 DK_MATMUL_BACKEND=gemv; dec mmas_auto $m $b DK_EXP_MMAS=1; dec cublas $m $b DK_MATMUL_BACKEND=cublas
done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

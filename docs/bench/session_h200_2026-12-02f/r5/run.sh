# 1. out/dk_new (main + mmat8_fills: GQA groups of 4-8 rows at D = 128 take mmat8 where
#    batch x KV heads > SMs / 4): check sdpa (new cases: b16 GQA 32/8 2048 keys, b9 GQA 28/4
#    3000 keys, a ragged batch of 9 at GQA 32/8 D 128), memcheck and racecheck of them;
#    8B steps at batch 8 / 16 against the kernel main's auto took (mmat, mma8).
# 2. out/dk_u4 (exp/mma-u4: the mma GEMV with 4 u-steps at N > 8 too, main's 2):
#    bench matmul N = 9, 12, 16 with cuBLAS beside it.
set -u
cd out && tar -xJf bins5.tar.xz && cd ..
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
(DK_CACHE_DIR=/tmp/dkc_u4 $R/dk_u4 info > $OUT/q/info_u4.txt 2>&1) &
DK_CACHE_DIR=/tmp/dkc $R/dk_new info > $OUT/q/info.txt 2>&1; wait; echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc
timeout 200 $R/dk_new check --seed 9201 --filter sdpa > $OUT/q/check_sdpa.log 2>&1; echo "check sdpa rc=$? $(tail -1 $OUT/q/check_sdpa.log)"
grep -iE "fail" $OUT/q/check_sdpa.log | head -5
for f in b16_hq32_hkv8_lq1_lk2048 b9_hq28_hkv4_lq1_lk3000 ragged_hq32_hkv8_d128; do for tool in memcheck racecheck; do timeout 120 compute-sanitizer --tool $tool $R/dk_new check --seed 9202 --filter $f > $OUT/q/${tool}_$f.log 2>&1; echo "$tool $f rc=$? $(grep -E 'SUMMARY' $OUT/q/${tool}_$f.log | tail -1) $(tail -1 $OUT/q/${tool}_$f.log)"; done; done
dec() { tag=$1; m=$2; b=$3; c=$4; shift 4; f=$OUT/q/dec_${m}_b${b}_c${c}_$tag.txt; env "$@" timeout 60 $R/dk_new decode --model $m --batch $b --context $c --mode graph --no-first-step --steps 20 > $f 2>&1; echo "[$m b$b ctx $c $tag] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; }
for c in 4096 1024 16384; do dec auto llama3-8b 16 $c X=1; dec mmat llama3-8b 16 $c DK_SDPA_KERNEL=mmat; dec auto qwen2.5-7b 16 $c X=1; dec mma8 qwen2.5-7b 16 $c DK_SDPA_KERNEL=mma8; done
dec auto llama3-8b 8 4096 X=1; dec mmat llama3-8b 8 4096 DK_SDPA_KERNEL=mmat; dec auto qwen2.5-7b 8 4096 X=1; dec mma8 qwen2.5-7b 8 4096 DK_SDPA_KERNEL=mma8
echo "steps $(( $(date +%s) - t0 )) s"
DK_CACHE_DIR=/tmp/dkc_u4 timeout 150 $R/dk_u4 bench matmul --dtype f16 --n 9,12,16 --runs 30 --shapes 6144x4096,4096x4096,28672x4096,4096x14336,37888x3584,3584x18944,128256x4096 --csv $OUT/q/bench_u4.csv > $OUT/q/bench_u4.txt 2>&1; echo "bench u4 rc=$?"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Where batch 4 and 16 lose (main 3c47f92 = out/dk_main): the GEMV family against cuBLAS
# on the 8B models' projection shapes at N = 1..16, and the 8B steps at batch 4 / 16
# with each GEMV backend and each attention kernel.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc
$R/dk_main info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 300 $R/dk_main bench matmul --dtype f16 --n 1,2,4,8,9,12,16 --runs 30 \
  --shapes 6144x4096,4096x4096,28672x4096,4096x14336,4608x3584,3584x3584,37888x3584,3584x18944 \
  --csv $OUT/q/bench_matmul.csv > $OUT/q/bench_matmul.txt 2>&1; echo "bench rc=$? $(( $(date +%s) - t0 )) s"
dec() { tag=$1; m=$2; b=$3; shift 3; f=$OUT/q/dec_${m}_b${b}_$tag.txt; env "$@" timeout 60 $R/dk_main decode --model $m --batch $b --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "[$m b$b $tag] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; }
for m in llama3-8b qwen2.5-7b; do for b in 4 16; do
  dec auto $m $b X=1; dec gemv $m $b DK_MATMUL_BACKEND=gemv; dec cublas $m $b DK_MATMUL_BACKEND=cublas
  for k in mmat mmat8 mma8; do dec $k $m $b DK_SDPA_KERNEL=$k; done
done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

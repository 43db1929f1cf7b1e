# Eighth session, call 9: c985fe8 sends 7 rows (qwen2.5-7b) to mmat; at batch 4 and 16 its clusters may not be
# resident (global merge). Same binary (dk_fin8 = main c985fe8), auto against DK_SDPA_KERNEL=mma8 (the old choice).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_fin8
$R/dk_fin8 info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
run() { f=$OUT/q/dec_$1_$(echo $2|tr -d ' -.').txt; timeout 60 env $3 $R/dk_fin8 decode --model $2 --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for b in 4 16 1; do echo "== qwen2.5-7b b$b"; for r in 1 2; do run auto_$r "qwen2.5-7b --dtype f16 --batch $b" X=1; run mma8_$r "qwen2.5-7b --dtype f16 --batch $b" DK_SDPA_KERNEL=mma8; done; done
$R/dk_fin8 bench sdpa --graph --hq 28 --hkv 4 --lq 1 --lk 576,4096 --d 128 --runs 50 > $OUT/q/bench_auto.txt 2>&1
DK_SDPA_KERNEL=mma8 $R/dk_fin8 bench sdpa --graph --hq 28 --hkv 4 --lq 1 --lk 576,4096 --d 128 --runs 50 > $OUT/q/bench_mma8.txt 2>&1
grep -h "fused" $OUT/q/bench_auto.txt $OUT/q/bench_mma8.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

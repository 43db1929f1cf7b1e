# Eighth session, call 5: the session's attention changes in whole steps (main 482abee = dk_main against a118338 =
# dk_own) at batch 1/4/16 for the four models (context 4096, f16, graph); whether the faster cluster merge now
# makes mmat beat mma8 for GQA 7 (DK_SDPA_KERNEL=mmat) and 16 cluster splits of 256 KiB beat 32 global ones at
# D 128 8192 keys (table cluster_max_split_bytes 256 KiB); Nsight Compute of dk_own at GQA 32/8 D 128 4096 keys.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
for v in main own; do DK_CACHE_DIR=/tmp/dkc_$v $R/dk_$v info > $OUT/q/info_$v.txt 2>&1 & done; wait
echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_own
run() { f=$OUT/q/dec_$1_$3_$(echo $2|tr -d ' -.').txt; DK_CACHE_DIR=/tmp/dkc_${1%%_*} timeout 60 env $4 $R/dk_${1%%_*} decode --model $2 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "$1 $(grep -E 'launches per step' $f | sed -E 's/.*, ([0-9]+ launches).*/\1/') $(grep -E '^ *graph ' $f | head -1)"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for b in 1 4 16; do
  echo "== $m f16 b$b"; run main "$m --dtype f16 --batch $b --context 4096" 1 X=1; run own "$m --dtype f16 --batch $b --context 4096" 1 X=1; done; done
echo "table $(( $(date +%s) - t0 )) s"
echo "== GQA 7: mmat (cluster) against auto (mma8)"
$R/dk_own bench sdpa --graph --hq 28 --hkv 4 --lq 1 --lk 576,4096 --d 128 --runs 50 > $OUT/q/bench_c_auto.txt 2>&1
DK_SDPA_KERNEL=mmat $R/dk_own bench sdpa --graph --hq 28 --hkv 4 --lq 1 --lk 576,4096 --d 128 --runs 50 > $OUT/q/bench_c_mmat.txt 2>&1
grep -h "_graph" $OUT/q/bench_c_auto.txt $OUT/q/bench_c_mmat.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
for r in 1 2; do run own_auto "qwen2.5-7b --dtype f16 --batch 1 --context 4096" $r X=1; run own_mmat "qwen2.5-7b --dtype f16 --batch 1 --context 4096" $r DK_SDPA_KERNEL=mmat; done
echo "== D 128 8192 keys: 16 cluster splits of 256 KiB against 32 global"
for sh in "--hq 32 --hkv 8 --d 128" "--hq 28 --hkv 4 --d 128"; do
  $R/dk_own bench sdpa --graph $sh --lq 1 --lk 8192,16384 --runs 50 >> $OUT/q/bench_d_base.txt 2>&1
  DK_TUNING_FILE=$R/sdpa_cmsb256.json $R/dk_own bench sdpa --graph $sh --lq 1 --lk 8192,16384 --runs 50 >> $OUT/q/bench_d_256.txt 2>&1; done
echo base; grep -h "_graph" $OUT/q/bench_d_base.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'; echo cmsb256; grep -h "_graph" $OUT/q/bench_d_256.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
for r in 1 2; do run own_base "llama3-8b --dtype f16 --batch 1 --context 8192" $r X=1; run own_256 "llama3-8b --dtype f16 --batch 1 --context 8192" $r DK_TUNING_FILE=$R/sdpa_cmsb256.json; done
echo "elapsed $(( $(date +%s) - t0 )) s"
N=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
timeout 100 $N --kernel-name regex:sdpa_mm --launch-skip 3 --launch-count 1 --set full --import-source no --page source --print-source sass --csv $R/dk_own bench sdpa --hq 32 --hkv 8 --lq 1 --lk 4096 --d 128 --runs 3 > $OUT/q/src_own.csv 2> $OUT/q/src_own.err; echo "ncu src rc=$?"
timeout 100 $N --kernel-name regex:sdpa_mm --launch-skip 3 --launch-count 1 --set full $R/dk_own bench sdpa --hq 32 --hkv 8 --lq 1 --lk 4096 --d 128 --runs 3 > $OUT/q/det_own.txt 2>&1; echo "ncu det rc=$?"
grep -E "Duration|Executed Instructions |SM Active Cycles|Elapsed Cycles" $OUT/q/det_own.txt | head
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc
$R/dk_fin info > $OUT/n/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt; env=""; [ $1 = p16 ] && env="DK_TUNING_FILE=$R/p16.json"
  env $env timeout 60 $R/dk_fin decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "qwen2.5-0.5b --dtype f16 --batch 1" "llama3.2-1b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype bf16 --batch 1" "llama3.2-1b --dtype bf16 --batch 1"; do
  echo "== $m"; for r in 1 2; do run ship "$m" $r; run p16 "$m" $r; done; done
m="llama3-8b --dtype f16 --batch 1"; echo "== $m"; run ship "$m" 1; run p16 "$m" 1
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

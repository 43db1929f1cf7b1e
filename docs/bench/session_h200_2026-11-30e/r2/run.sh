# carry ["out/dk_cl","out/nocl.json","out/run2.sh"]
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_cl
$R/dk_cl info > $OUT/n/info.txt 2>&1
$R/dk_cl check --seed 191 --filter sdpa > $OUT/n/check_sdpa.log 2>&1; echo "check sdpa rc=$? $(grep 'check:' $OUT/n/check_sdpa.log | tail -1)"
for v in cl clnocl; do env=""; [ $v = clnocl ] && env="DK_TUNING_FILE=$R/nocl.json"
  for h in "32 8" "64 16" "96 24" "128 32"; do set -- $h
    env $env $R/dk_cl bench sdpa --graph --hq $1 --hkv $2 --lq 1 --lk 4096 --d 128 >> $OUT/n/bench_$v.txt 2>&1; done
  echo "== bench $v"; grep graph $OUT/n/bench_$v.txt | awk '{print $1,$2,$3,$4,$5,$6,$7}'
done
run() { f=$OUT/n/dec_$1_$3_$4_$(echo $2|tr -d ' -.').txt; env="DK_PDL=$4"; [ $1 = clnocl ] && env="$env DK_TUNING_FILE=$R/nocl.json"
  env $env timeout 60 $R/dk_cl decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 pdl=$4 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "llama3-8b --dtype q4_k_m --batch 4" "llama3-8b --dtype q4_k_m --batch 2"; do echo "== $m"; for r in 1 2; do run cl "$m" $r 1; run clnocl "$m" $r 1; done; done
for m in "qwen2.5-0.5b --dtype f16 --batch 1" "qwen2.5-0.5b --dtype q8_0 --batch 1" "llama3.2-1b --dtype q8_0 --batch 1"; do
  echo "== $m"; for r in 1 2; do for p in 1 0; do run cl "$m" $r $p; run clnocl "$m" $r $p; done; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

# carry ["out/dk_A3t","out/nf0.json","out/nf4m.json","out/nf16m.json","out/nf40m.json","out/nfall.json","out/run7.sh"]
set -u
R=$PWD/out; mkdir -p $OUT/n; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc
$R/dk_A3t info > $OUT/n/info.txt 2>&1
echo "prewarm $(( $(date +%s) - t0 )) s"
( $R/dk_A3t check --seed 221 --filter decode/ > $OUT/n/check_dec.log 2>&1; echo "check decode/ rc=$? $(grep 'check:' $OUT/n/check_dec.log | tail -1)" ) &
( $R/dk_A3t check --seed 222 --filter generate > $OUT/n/check_gen.log 2>&1; echo "check generate rc=$? $(grep 'check:' $OUT/n/check_gen.log | tail -1)" ) &
( $R/dk_A3t check --seed 223 --filter rmsnorm_matmul > $OUT/n/check_nm.log 2>&1; echo "check rmsnorm_matmul rc=$? $(grep 'check:' $OUT/n/check_nm.log | tail -1)" ) &
wait; echo "checks $(( $(date +%s) - t0 )) s"
run() { f=$OUT/n/dec_$1_$3_$(echo $2|tr -d ' -.').txt
  DK_TUNING_FILE=$R/$1.json timeout 60 $R/dk_A3t decode --model $2 --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "$1 $(grep -E '^ *graph ' $f | head -1)"; }
for m in "qwen2.5-0.5b --dtype f16 --batch 1" "llama3.2-1b --dtype f16 --batch 1" "llama3.2-1b --dtype bf16 --batch 1" "llama3-8b --dtype f16 --batch 1"; do
  echo "== $m"; for t in nf0 nf4m nf16m nf40m nfall; do run $t "$m" 1; done; run nf0 "$m" 2; run nf16m "$m" 2
done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf n.tgz n && rm -rf n

# Sixteenth session, call 3 (dk_s16c, the change as committed: plain veck only with 2/4/8 row groups,
# matmul.veck_cta_bytes 8192, fused launches one row group): full check, memcheck and racecheck of the group
# cases, GEMV N=1 f16 on four models' shapes (the table, and veck_cta_bytes 0 = before), f32 N=1,2;
# decode b1 of four models with both tables, b1 bf16 qwen2.5-0.5b, profile of qwen2.5-0.5b.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s16c; export DK_CACHE_DIR=/tmp/dkc_c
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $F check --seed 1621 > $OUT/q/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check.log | head -5
for f in 6403x 3203x 1601x; do for tool in memcheck racecheck; do timeout 60 compute-sanitizer --tool $tool $F check --seed 1622 --filter $f > $OUT/q/${tool}_$f.log 2>&1; echo "$tool $f rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|check:' $OUT/q/${tool}_$f.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"; done; done
SH=1152x896,896x896,9728x896,896x4864,151936x896,3072x2048,2048x2048,16384x2048,2048x8192,128256x2048,6144x4096,4096x4096,28672x4096,4096x14336,128256x4096
for v in vdef vb0; do timeout 90 env DK_TUNING_FILE=$R/tabs/$v.json $F bench matmul --shapes $SH --n 1 --dtype f16 --csv $OUT/q/mm_$v.csv > $OUT/q/mm_$v.txt 2>&1; echo "bench $v rc=$? at $(( $(date +%s) - t0 )) s"; done
timeout 60 $F bench matmul --shapes 151936x896,128256x2048,9728x896 --n 1,2 --dtype f32 --csv $OUT/q/mm32.csv > $OUT/q/mm32.txt 2>&1; echo "bench f32 rc=$?"
dec() { v=$1; m=$2; shift 2; f=$OUT/q/dec_${v}_${m}_$(echo $*|tr -d ' -.').txt; DK_TUNING_FILE=$R/tabs/$v.json timeout 40 $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$v $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for v in vb0 vdef; do dec $v $m --batch 1; done; done
for v in vb0 vdef; do dec $v qwen2.5-0.5b --batch 1 --dtype bf16; done
timeout 40 $F profile --model qwen2.5-0.5b --context 4096 --steps 10 > $OUT/q/prof05.txt 2>&1; echo "profile rc=$?"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Sixteenth session, call 2 (dk_s16b: plain veck also with 16 row groups; the fused pair launches' groups by
# their own bound, matmul.veck_pair_cta_bytes, 0 in the table): full check, the fused group cases with pairs
# allowed (pr16k), memcheck of the group cases; GEMV N=1 under plain bounds 0/4K/8K/16K/32K; f32 N=1,2;
# decode b1 of qwen2.5-0.5b and llama3.2-1b under every variant, the 8B models under vdef/p32k/vb0.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s16b; export DK_CACHE_DIR=/tmp/dkc_b
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 200 $F check --seed 1611 > $OUT/q/check.log 2>&1; echo "check rc=$? $(grep 'check:' $OUT/q/check.log | tail -1) at $(( $(date +%s) - t0 )) s"; grep FAIL $OUT/q/check.log | head -5
for f in matmul_silu_mul rmsnorm_matmul matmul_rope_append; do timeout 100 env DK_TUNING_FILE=$R/tabs/pr16k.json $F check --seed 1612 --filter $f > $OUT/q/check_pr16k_$f.log 2>&1; echo "check pr16k $f rc=$? $(grep 'check:' $OUT/q/check_pr16k_$f.log | tail -1)"; done
for f in 12803x 6403x 3203x hq96_hkv32 b2_hq64_hkv8; do timeout 60 env DK_TUNING_FILE=$R/tabs/pr16k.json compute-sanitizer --tool memcheck $F check --seed 1613 --filter $f > $OUT/q/memcheck_$f.log 2>&1; echo "memcheck $f rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_$f.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"; done
SH=1152x896,896x896,9728x896,896x4864,151936x896,3072x2048,2048x2048,16384x2048,2048x8192,128256x2048,6144x4096,4096x4096,28672x4096,4096x14336,128256x4096
NA=1152x896,896x896,9728x896,151936x896,3072x2048,2048x2048,16384x2048,128256x2048
for v in vdef p32k; do timeout 90 env DK_TUNING_FILE=$R/tabs/$v.json $F bench matmul --shapes $SH --n 1 --dtype f16 --csv $OUT/q/mm_$v.csv > $OUT/q/mm_$v.txt 2>&1; echo "bench $v rc=$? at $(( $(date +%s) - t0 )) s"; done
for v in p4k p8k; do timeout 90 env DK_TUNING_FILE=$R/tabs/$v.json $F bench matmul --shapes $NA --n 1 --dtype f16 --csv $OUT/q/mm_$v.csv > $OUT/q/mm_$v.txt 2>&1; echo "bench $v rc=$? at $(( $(date +%s) - t0 )) s"; done
for v in vb0 vdef; do timeout 60 env DK_TUNING_FILE=$R/tabs/$v.json $F bench matmul --shapes 151936x896,128256x2048,9728x896 --n 1,2 --dtype f32 --csv $OUT/q/mm32_$v.csv > $OUT/q/mm32_$v.txt 2>&1; echo "bench f32 $v rc=$? at $(( $(date +%s) - t0 )) s"; done
dec() { v=$1; m=$2; shift 2; f=$OUT/q/dec_${v}_${m}_$(echo $*|tr -d ' -.').txt; DK_TUNING_FILE=$R/tabs/$v.json timeout 40 $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$v $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b; do for v in vb0 vdef p4k p8k p32k pr7k pr16k; do left=$(( 560 - $(date +%s) + t0 )); [ $left -gt 15 ] || break 2; dec $v $m --batch 1; done; done
for m in llama3-8b qwen2.5-7b; do for v in vb0 vdef p32k; do left=$(( 560 - $(date +%s) + t0 )); [ $left -gt 15 ] || break 2; dec $v $m --batch 1; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

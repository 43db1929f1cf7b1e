# Sixteenth session, call 5 (dk_s16d): the narrow layers (hidden 896 / 2048) at N=1 under more CTAs
# (matmul.target_ctas_per_sm 12 / 24: K splits and the row-group rule) and 8 warps a CTA, against the
# table; GEMV N=1 f16 per shape and the batch-1 steps of the two small models.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
F=$R/dk_s16d; export DK_CACHE_DIR=/tmp/dkc_d
$F info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
SH=896x896,896x4864,1152x896,2048x2048,2048x8192,3072x2048,4096x4096,4096x14336,151936x896,128256x2048
for v in base t12 t24 w8 w8t12; do timeout 80 env DK_TUNING_FILE=$R/tabs/$v.json $F bench matmul --shapes $SH --n 1 --dtype f16 --csv $OUT/q/mm_$v.csv > $OUT/q/mm_$v.txt 2>&1; echo "bench $v rc=$? at $(( $(date +%s) - t0 )) s"; done
dec() { v=$1; m=$2; shift 2; f=$OUT/q/dec_${v}_${m}_$(echo $*|tr -d ' -.').txt; DK_TUNING_FILE=$R/tabs/$v.json timeout 40 $F decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$v $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for m in qwen2.5-0.5b llama3.2-1b; do for v in base t12 t24 w8 w8t12; do left=$(( 400 - $(date +%s) + t0 )); [ $left -gt 15 ] || break 2; dec $v $m --batch 1; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

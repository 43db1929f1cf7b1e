# main c9974e9 (out/dk_main). 1. Where mmat8 should start: the 8B steps at batch 2 / 4 / 8
# (8-64 sequence x KV head pairs, below mmat8_fills' 33) auto against DK_SDPA_KERNEL=mmat8
# (the plan a lower threshold would give), interleaved, batch 2 and 4 twice.
# 2. The four-model table at batch 1 / 4 / 16, context 4096; check decode/.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc
$R/dk_main info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
timeout 120 $R/dk_main check --seed 9301 --filter decode/ > $OUT/q/check_decode.log 2>&1; echo "check decode rc=$? $(tail -1 $OUT/q/check_decode.log)"
dec() { tag=$1; m=$2; b=$3; shift 3; f=$OUT/q/dec_${m}_b${b}_$tag.txt; env "$@" timeout 60 $R/dk_main decode --model $m --batch $b --context 4096 --mode graph --no-first-step --steps 20 > $f 2>&1; echo "[$m b$b $tag] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; }
for m in llama3-8b qwen2.5-7b; do for b in 2 4 8; do dec auto $m $b X=1; dec mmat8 $m $b DK_SDPA_KERNEL=mmat8; done; for b in 2 4; do dec auto2 $m $b X=1; dec mmat8_2 $m $b DK_SDPA_KERNEL=mmat8; done; done
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for b in 1 16; do dec table $m $b X=1; done; done
for m in qwen2.5-0.5b llama3.2-1b; do dec table $m 4 X=1; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

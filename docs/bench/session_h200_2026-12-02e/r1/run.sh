# Twentieth session, call 1 (dk_main = main bfe9fec).
# 1. The nineteenth session's prepared r8: the four-model decode table (issue 16) at batch
#    1, 4 and 16, f16, context 4096, graph mode, one binary; bf16 qwen2.5-0.5b at batch 1.
# 2. Attention alone in a graph on the four models' shapes.
# 3. What each kind of launch costs today's step (decode --leave-out; batch 1).
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_main
$R/dk_main info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"; grep -i 'read roofline' $OUT/q/info.txt
dec() { m=$1; b=$2; shift 2; f=$OUT/q/dec_${m}_b$b$(echo $* | tr -d ' -').txt; timeout 40 $R/dk_main decode --model $m --context 4096 --mode graph --no-first-step --steps 30 --batch $b "$@" > $f 2>&1; echo "[$m b$b $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}') $(grep -o '[0-9]* launches per step' $f | head -1)"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for b in 1 4 16; do dec $m $b; done; done
dec qwen2.5-0.5b 1 --dtype bf16
for hk in "14 2 64" "32 8 64" "28 4 128" "32 8 128"; do set -- $hk; timeout 60 $R/dk_main bench sdpa --graph --hq $1 --hkv $2 --d $3 --lq 1 --lk 576,2048,4096,8192 > $OUT/q/sdpa_$1_$2_$3.txt 2>&1; grep -E '_graph' $OUT/q/sdpa_$1_$2_$3.txt | head -8; done
for m in llama3-8b qwen2.5-0.5b llama3.2-1b; do f=$OUT/q/leave_$m.txt; timeout 120 $R/dk_main decode --model $m --context 4096 --mode graph --no-first-step --steps 30 --leave-out sdpa --leave-out rope_append --leave-out silu_mul --leave-out gemv_veck_n1 --leave-out sdpa,rope_append > $f 2>&1; echo "[leave-out $m]"; sed -n '/leave/,$p' $f | head -12; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# NOT RUN: the session's device time ran out before this call; ready for the next session (build main, carry out/dk_main).
# Nineteenth session, call 8 (dk_main = main 2e09566): the four-model decode table (issue 16) at batch
# 1, 4 and 16, f16, context 4096, graph mode, one binary, one call; bf16 qwen2.5-0.5b at batch 1.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s); export DK_CACHE_DIR=/tmp/dkc_main
$R/dk_main info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"; grep -i 'read roofline' $OUT/q/info.txt
dec() { m=$1; b=$2; shift 2; f=$OUT/q/dec_${m}_b$b$(echo $* | tr -d ' -').txt; timeout 40 $R/dk_main decode --model $m --context 4096 --mode graph --no-first-step --steps 30 --batch $b "$@" > $f 2>&1; echo "[$m b$b $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}') $(grep -o '[0-9]* launches per step' $f | head -1)"; }
for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do for b in 1 4 16; do dec $m $b; done; done
dec qwen2.5-0.5b 1 --dtype bf16
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

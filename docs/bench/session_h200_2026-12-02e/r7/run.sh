# Twentieth session, call 7. dk_head = main 1dc42f8 (mmat8 from 2048 keys): qwen2.5-7b at short
# contexts, auto (mmat below 2048 keys) against DK_SDPA_KERNEL=mmat8: where should mmat8 start?
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s); export DK_CACHE_DIR=/tmp/dkc_head
$R/dk_head info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"
for c in 576 1024 576 1024; do for k in auto mmat8; do f=$OUT/q/dec_${k}_$c.txt; DK_SDPA_KERNEL=$k timeout 30 $R/dk_head decode --model qwen2.5-7b --context $c --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$k ctx $c] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Twentieth session, call 6. dk_main = bfe9fec; dk_fin2 = r5's dk_fin with the clusters' merge in
# its own build (mmat_clusters: cluster_push_merge's SEVERAL), mmat8 never several clusters.
# 1. check sdpa and decode/, memcheck sdpa, racecheck of the several-cluster cases.
# 2. Steps at 4096 keys, main against fin2, interleaved (is the one-cluster kernel main's again?);
#    long caches; attention alone on a long cache.
set -u
cd out && tar -xJf bins6.tar.xz && cd ..
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
(DK_CACHE_DIR=/tmp/dkc_main $R/dk_main info > $OUT/q/info_main.txt 2>&1) &
DK_CACHE_DIR=/tmp/dkc_fin2 $R/dk_fin2 info > $OUT/q/info.txt 2>&1; wait; echo "prewarm $(( $(date +%s) - t0 )) s"; grep -i 'read roofline' $OUT/q/info.txt
export DK_CACHE_DIR=/tmp/dkc_fin2
for f in sdpa/ decode/; do timeout 120 $R/dk_fin2 check --seed 6001 --filter $f > $OUT/q/check_$(echo $f | tr -d /).log 2>&1; echo "check $f rc=$? $(tail -1 $OUT/q/check_$(echo $f | tr -d /).log)"; done
timeout 150 compute-sanitizer --tool memcheck $R/dk_fin2 check --seed 6002 --filter sdpa/ > $OUT/q/memcheck_sdpa.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/q/memcheck_sdpa.log | tail -1) $(tail -1 $OUT/q/memcheck_sdpa.log) at $(( $(date +%s) - t0 )) s"
timeout 60 compute-sanitizer --tool racecheck $R/dk_fin2 check --seed 6003 --filter lk819 > $OUT/q/racecheck_lk819.log 2>&1; echo "racecheck lk819 rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/q/racecheck_lk819.log | tail -1) $(tail -1 $OUT/q/racecheck_lk819.log) at $(( $(date +%s) - t0 )) s"
dec() { b=$1; m=$2; c=$3; f=$OUT/q/dec_${b}_${m}_$c.txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 40 $R/dk_$b decode --model $m --context $c --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$b $m ctx $c] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; }
for i in 1 2; do for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do dec main $m 4096; dec fin2 $m 4096; done; done
dec main qwen2.5-0.5b 16384; dec fin2 qwen2.5-0.5b 16384; dec fin2 qwen2.5-7b 8192
timeout 60 $R/dk_fin2 bench sdpa --graph --hq 14 --hkv 2 --d 64 --lq 1 --lk 8192,32768 > $OUT/q/sdpa_14_2.txt 2>&1; grep -E '_graph' $OUT/q/sdpa_14_2.txt
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

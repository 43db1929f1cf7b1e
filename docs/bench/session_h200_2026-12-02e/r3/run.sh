# Twentieth session, call 3. dk_main = main bfe9fec; dk_mc = the working tree: several clusters
# a KV head on long caches (embedded table: cluster_merge_max_clusters 8, fewer where not
# resident, only where one cluster's splits would read >= 128 KiB each).
# 1. check sdpa (dk_mc), memcheck of every sdpa case, racecheck of the new cases.
# 2. bench sdpa --graph, both binaries. 3. qwen2.5-0.5b at long contexts, both.
# 4. main's sdpa table varied (tabs/*.json from main's embedded table) on the 8B and 0.5B steps at 4096.
set -u
cd out && tar -xJf bins3.tar.xz && cd ..
R=$PWD/out; T=$PWD/docs/bench/session_h200_2026-12-02e/r3/tabs; mkdir -p $OUT/q; t0=$(date +%s)
(DK_CACHE_DIR=/tmp/dkc_main $R/dk_main info > $OUT/q/info_main.txt 2>&1) &
DK_CACHE_DIR=/tmp/dkc_mc $R/dk_mc info > $OUT/q/info.txt 2>&1; wait; echo "prewarm $(( $(date +%s) - t0 )) s"; grep -i 'read roofline' $OUT/q/info.txt
export DK_CACHE_DIR=/tmp/dkc_mc
timeout 100 $R/dk_mc check --seed 3001 --filter sdpa/ > $OUT/q/check_sdpa.log 2>&1; echo "check sdpa rc=$? $(tail -1 $OUT/q/check_sdpa.log)"; grep -iE "FAIL|panic" $OUT/q/check_sdpa.log | head -5
grep -E "hq14_hkv2_lq1_lk409|lk32768|lk6002" $OUT/q/check_sdpa.log | head -12
timeout 200 compute-sanitizer --tool memcheck $R/dk_mc check --seed 3002 --filter sdpa/ > $OUT/q/memcheck_sdpa.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/q/memcheck_sdpa.log | tail -1) $(tail -1 $OUT/q/memcheck_sdpa.log) at $(( $(date +%s) - t0 )) s"
for f in hq14_hkv2_lq1_lk409 lk32768 lk6002; do timeout 60 compute-sanitizer --tool racecheck $R/dk_mc check --seed 3003 --filter $f > $OUT/q/racecheck_$f.log 2>&1; echo "racecheck $f rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/q/racecheck_$f.log | tail -1) $(tail -1 $OUT/q/racecheck_$f.log) at $(( $(date +%s) - t0 )) s"; done
for b in main mc; do for hk in "14 2 64 4096,8192,16384,32768" "32 8 64 8192,32768" "32 8 128 8192,32768" "28 4 128 8192,32768" "8 1 128 8192,32768"; do set -- $hk
  f=$OUT/q/sdpa_${b}_$1_$2_$3.txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 60 $R/dk_$b bench sdpa --graph --hq $1 --hkv $2 --d $3 --lq 1 --lk $4 > $f 2>&1; grep -E '_graph' $f | awk -v b=$b '{print b" "$0}'; done
  DK_CACHE_DIR=/tmp/dkc_$b DK_SDPA_KERNEL=mmat timeout 60 $R/dk_$b bench sdpa --graph --hq 28 --hkv 4 --d 128 --lq 1 --lk 8192,32768 > $OUT/q/sdpa_${b}_mmat_28_4.txt 2>&1; grep -E '_graph' $OUT/q/sdpa_${b}_mmat_28_4.txt | awk -v b=$b '{print b" forced "$0}'; done
echo "benches at $(( $(date +%s) - t0 )) s"
for ctx in 16384 32768; do for b in main mc; do f=$OUT/q/dec_${b}_qwen_$ctx.txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 60 $R/dk_$b decode --model qwen2.5-0.5b --context $ctx --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$b qwen2.5-0.5b ctx $ctx] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; done; done
export DK_CACHE_DIR=/tmp/dkc_main
for tab in base t1 t3 ck128 cs8 base; do for m in llama3-8b qwen2.5-0.5b; do f=$OUT/q/dec_tab_${tab}_$m.txt
  if [ $tab = base ]; then unset DK_TUNING_FILE; else export DK_TUNING_FILE=$T/$tab.json; fi
  timeout 40 $R/dk_main decode --model $m --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[main table $tab $m] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

# Twentieth session, call 2: several clusters of splits a KV head (dk_mc = main bfe9fec + the
# working tree's sdpa change; tables tabs/mcN.json = the embedded table with
# sdpa.cluster_merge_max_clusters = N; mc1 is main's plan).
# 1. check sdpa against the CPU under mc8 and mc2, memcheck (mc8) of every sdpa case, racecheck of the new ones.
# 2. bench sdpa --graph under mc1/2/4/8; 3. decode steps at batch 1 (and qwen b4) under mc1/4/8.
set -u
R=$PWD/out; T=$PWD/docs/bench/session_h200_2026-12-02e/r2/tabs; mkdir -p $OUT/q; t0=$(date +%s)
export DK_CACHE_DIR=/tmp/dkc_mc
$R/dk_mc info > $OUT/q/info.txt 2>&1; echo "prewarm $(( $(date +%s) - t0 )) s"; grep -i 'read roofline' $OUT/q/info.txt
for c in 8 2; do DK_TUNING_FILE=$T/mc$c.json timeout 100 $R/dk_mc check --seed 2001 --filter sdpa/ > $OUT/q/check_sdpa_mc$c.log 2>&1; echo "check sdpa mc$c rc=$? $(tail -1 $OUT/q/check_sdpa_mc$c.log)"; grep -iE "fail|error" $OUT/q/check_sdpa_mc$c.log | head -5; done
grep -E "hkv2_lq1_lk409|lk32768|lk6002" $OUT/q/check_sdpa_mc8.log | head -12
DK_TUNING_FILE=$T/mc8.json timeout 150 compute-sanitizer --tool memcheck $R/dk_mc check --seed 2002 --filter sdpa/ > $OUT/q/memcheck_sdpa.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/q/memcheck_sdpa.log | tail -1) $(tail -1 $OUT/q/memcheck_sdpa.log) at $(( $(date +%s) - t0 )) s"
for f in hkv2_lq1_lk409 lk32768 lk6002; do DK_TUNING_FILE=$T/mc8.json timeout 60 compute-sanitizer --tool racecheck $R/dk_mc check --seed 2003 --filter $f > $OUT/q/racecheck_$f.log 2>&1; echo "racecheck $f rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/q/racecheck_$f.log | tail -1) $(tail -1 $OUT/q/racecheck_$f.log) at $(( $(date +%s) - t0 )) s"; done
for c in 1 2 4 8; do for hk in "14 2 64 576,1024,2048,4096,8192,32768" "32 8 64 4096,8192" "32 8 128 2048,4096,8192" "28 4 128 4096"; do set -- $hk
  f=$OUT/q/sdpa_mc${c}_$1_$2_$3.txt; DK_TUNING_FILE=$T/mc$c.json timeout 60 $R/dk_mc bench sdpa --graph --hq $1 --hkv $2 --d $3 --lq 1 --lk $4 > $f 2>&1; grep -E '_graph' $f | awk -v c=$c '{print "mc"c" "$0}'; done; done
echo "benches at $(( $(date +%s) - t0 )) s"
for c in 1 8 4; do for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do
  f=$OUT/q/dec_mc${c}_$m.txt; DK_TUNING_FILE=$T/mc$c.json timeout 40 $R/dk_mc decode --model $m --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1
  echo "[mc$c $m] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; done; done
for c in 1 4; do DK_TUNING_FILE=$T/mc$c.json timeout 40 $R/dk_mc decode --model qwen2.5-0.5b --batch 4 --context 4096 --mode graph --no-first-step --steps 30 > $OUT/q/dec_mc${c}_qwen_b4.txt 2>&1; echo "[mc$c qwen b4] $(grep -E '^ *graph ' $OUT/q/dec_mc${c}_qwen_b4.txt | head -1 | awk '{print $2" us"}') $(grep -oE 'sdpa/[a-z0-9_]+' $OUT/q/dec_mc${c}_qwen_b4.txt | head -1)"; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

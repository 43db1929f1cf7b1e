# Twentieth session, call 5. dk_main = bfe9fec; dk_fin = main cda433f + the working tree: the
# single-cluster merge without divisions, mmat8 for 5-8 rows at D 128 in one cluster from 2048 keys.
# 1. check sdpa and decode/, memcheck sdpa, racecheck of the mmat8 cases.
# 2. Steps at 4096 keys, main against fin, interleaved; qwen2.5-7b at 1024 / 2048 / 8192 keys.
# 3. GQA 28/4 D 128 alone, mmat against mmat8 (the threshold).
set -u
cd out && tar -xJf bins5.tar.xz && cd ..
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
(DK_CACHE_DIR=/tmp/dkc_main $R/dk_main info > $OUT/q/info_main.txt 2>&1) &
DK_CACHE_DIR=/tmp/dkc_fin $R/dk_fin info > $OUT/q/info.txt 2>&1; wait; echo "prewarm $(( $(date +%s) - t0 )) s"; grep -i 'read roofline' $OUT/q/info.txt
export DK_CACHE_DIR=/tmp/dkc_fin
for f in sdpa/ decode/; do timeout 120 $R/dk_fin check --seed 5001 --filter $f > $OUT/q/check_$(echo $f | tr -d /).log 2>&1; echo "check $f rc=$? $(tail -1 $OUT/q/check_$(echo $f | tr -d /).log)"; done
grep -E "hq28_hkv4_lq1_lk4096|hq12_hkv2" $OUT/q/check_sdpa.log | head -6
timeout 200 compute-sanitizer --tool memcheck $R/dk_fin check --seed 5002 --filter sdpa/ > $OUT/q/memcheck_sdpa.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/q/memcheck_sdpa.log | tail -1) $(tail -1 $OUT/q/memcheck_sdpa.log) at $(( $(date +%s) - t0 )) s"
for f in hq28_hkv4_lq1_lk4096 hq12_hkv2; do timeout 60 compute-sanitizer --tool racecheck $R/dk_fin check --seed 5003 --filter $f > $OUT/q/racecheck_$f.log 2>&1; echo "racecheck $f rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/q/racecheck_$f.log | tail -1) $(tail -1 $OUT/q/racecheck_$f.log) at $(( $(date +%s) - t0 )) s"; done
dec() { b=$1; m=$2; c=$3; f=$OUT/q/dec_${b}_${m}_$c.txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 40 $R/dk_$b decode --model $m --context $c --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$b $m ctx $c] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; }
for i in 1 2; do for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do dec main $m 4096; dec fin $m 4096; done; done
for c in 1024 2048 8192; do dec main qwen2.5-7b $c; dec fin qwen2.5-7b $c; done
for k in mmat mmat8; do f=$OUT/q/sdpa_$k.txt; DK_SDPA_KERNEL=$k timeout 60 $R/dk_fin bench sdpa --graph --hq 28 --hkv 4 --d 128 --lq 1 --lk 576,1024,2048,4096 > $f 2>&1; grep -E '_graph' $f; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

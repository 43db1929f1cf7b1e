# Run as prepared in session 2026-12-02e (its r8).
# Build branch next/mmat8-short (mmat8 for 5-8 rows at D = 128 in one cluster at every length,
# its last commit, rebased on main 8429516) as out/dk_short and main as out/dk_main; carry both (tar -cJf out/bins8.tar.xz).
# 1. check sdpa and decode/ on dk_short (the cases b1_hq28_hkv4_lq1_lk576 and b1_hq12_hkv2_lq1_lk1000
#    take mmat8 there: splits of one 64-key tile in a 128-key stage), memcheck and racecheck of them.
# 2. qwen2.5-7b steps at 576 / 1024 / 4096 keys, main against dk_short, interleaved.
# Merge the branch if the checks are clean and the steps match r7 (576: -18 us, 1024: -9 us).
set -u
cd out && tar -xJf bins8.tar.xz && cd ..
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
(DK_CACHE_DIR=/tmp/dkc_main $R/dk_main info > $OUT/q/info_main.txt 2>&1) &
DK_CACHE_DIR=/tmp/dkc_short $R/dk_short info > $OUT/q/info.txt 2>&1; wait; echo "prewarm $(( $(date +%s) - t0 )) s"
export DK_CACHE_DIR=/tmp/dkc_short
for f in sdpa/ decode/; do timeout 120 $R/dk_short check --seed 8001 --filter $f > $OUT/q/check_$(echo $f | tr -d /).log 2>&1; echo "check $f rc=$? $(tail -1 $OUT/q/check_$(echo $f | tr -d /).log)"; done
for f in hq28_hkv4_lq1_lk576 hq12_hkv2_lq1_lk1000; do for tool in memcheck racecheck; do timeout 60 compute-sanitizer --tool $tool $R/dk_short check --seed 8002 --filter $f > $OUT/q/${tool}_$f.log 2>&1; echo "$tool $f rc=$? $(grep -E 'SUMMARY' $OUT/q/${tool}_$f.log | tail -1) $(tail -1 $OUT/q/${tool}_$f.log)"; done; done
dec() { b=$1; c=$2; f=$OUT/q/dec_${b}_$c.txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 40 $R/dk_$b decode --model qwen2.5-7b --context $c --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$b ctx $c] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; }
for i in 1 2; do for c in 576 1024 4096; do dec main $c; dec short $c; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

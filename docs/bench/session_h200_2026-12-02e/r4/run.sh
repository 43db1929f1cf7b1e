# Twentieth session, call 4. dk_main = bfe9fec; dk_new = main cda433f (several clusters a KV head
# on long caches); dk_x = cda433f + branch x-mmat8 (EXPERIMENT: mmat on eight warps, 128-key
# stages, DK_SDPA_KERNEL=mmat8).
# 1. dk_new: check sdpa (its cases at 8192+ keys take several clusters), memcheck, racecheck.
# 2. Steps at 4096 keys, dk_main against dk_new (their plans there are the same), interleaved.
# 3. dk_x: check sdpa under mmat8; attention alone and steps, mmat against mmat8.
set -u
cd out && tar -xJf bins4.tar.xz && cd ..
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
for b in main x; do (DK_CACHE_DIR=/tmp/dkc_$b $R/dk_$b info > $OUT/q/info_$b.txt 2>&1) & done
DK_CACHE_DIR=/tmp/dkc_new $R/dk_new info > $OUT/q/info.txt 2>&1; wait; echo "prewarm $(( $(date +%s) - t0 )) s"; grep -i 'read roofline' $OUT/q/info.txt
export DK_CACHE_DIR=/tmp/dkc_new
timeout 100 $R/dk_new check --seed 4001 --filter sdpa/ > $OUT/q/check_sdpa.log 2>&1; echo "check sdpa rc=$? $(tail -1 $OUT/q/check_sdpa.log)"; grep -iE "FAIL|panic" $OUT/q/check_sdpa.log | head -5
grep -E "lk819|lk32768" $OUT/q/check_sdpa.log | head -15
timeout 200 compute-sanitizer --tool memcheck $R/dk_new check --seed 4002 --filter sdpa/ > $OUT/q/memcheck_sdpa.log 2>&1; echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' $OUT/q/memcheck_sdpa.log | tail -1) $(tail -1 $OUT/q/memcheck_sdpa.log) at $(( $(date +%s) - t0 )) s"
for f in lk819 lk32768; do timeout 80 compute-sanitizer --tool racecheck $R/dk_new check --seed 4003 --filter $f > $OUT/q/racecheck_$f.log 2>&1; echo "racecheck $f rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/q/racecheck_$f.log | tail -1) $(tail -1 $OUT/q/racecheck_$f.log) at $(( $(date +%s) - t0 )) s"; done
dec() { b=$1; m=$2; shift 2; f=$OUT/q/dec_${b}_$m$(echo $* | tr -d ' -=').txt; DK_CACHE_DIR=/tmp/dkc_$b timeout 40 env "$@" $R/dk_$b decode --model $m --context 4096 --mode graph --no-first-step --steps 30 > $f 2>&1; echo "[$b $m $*] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$6"%"}') $(grep -oE 'sdpa/[a-z0-9_]+' $f | head -1)"; }
for i in 1 2; do for m in qwen2.5-0.5b llama3.2-1b llama3-8b qwen2.5-7b; do dec main $m; dec new $m; done; done
export DK_CACHE_DIR=/tmp/dkc_x
DK_SDPA_KERNEL=mmat8 timeout 100 $R/dk_x check --seed 4004 --filter sdpa/ > $OUT/q/check_sdpa_mmat8.log 2>&1; echo "check sdpa mmat8 rc=$? $(tail -1 $OUT/q/check_sdpa_mmat8.log)"
for k in mmat mmat8; do for hk in "32 8 128 576,2048,4096,8192" "14 2 64 4096" "32 8 64 4096" "28 4 128 4096"; do set -- $hk
  f=$OUT/q/sdpa_${k}_$1_$2_$3.txt; DK_SDPA_KERNEL=$k timeout 60 $R/dk_x bench sdpa --graph --hq $1 --hkv $2 --d $3 --lq 1 --lk $4 > $f 2>&1; grep -E '_graph' $f; done; done
for i in 1 2; do for m in llama3-8b qwen2.5-0.5b llama3.2-1b qwen2.5-7b; do dec x $m DK_SDPA_KERNEL=auto; dec x $m DK_SDPA_KERNEL=mmat8; done; done
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

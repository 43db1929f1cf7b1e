# Nineteenth session, call 2 (branch exp/l2-next). Binaries: dk_pf = main 7386e44 plus a GEMV parameter
# naming a fixed weight of a later launch that the `w` kernels' CTAs ask L2 to fetch (prefetch.global.L2,
# a line a thread, each CTA its share, before the PDL wait); the decode step names, at each launch, the
# next layer weight: QKV -> O, O -> gate/up, gate/up -> down, down -> the next QKV, when it is at most
# DK_L2_PREFETCH MiB (default 20, 0 = off; DK_L2_PREFIX=1 fetches that prefix of a larger one).
# dk_pre2 = dk_pf with two passes of loads before the wait at N = 1 (DK_W_PRE 2: the 8B models' K 4096
# CTAs then load all their weights before it), the next launch scheduled after the wait unless one pass
# covers the CTA; dk_pre2e = dk_pre2 scheduling the next launch early whenever the preloaded passes cover it.
set -u
R=$PWD/out; mkdir -p $OUT/q; t0=$(date +%s)
for b in pf pre2 pre2e; do (DK_CACHE_DIR=/tmp/dkc_$b $R/dk_$b info > $OUT/q/info_$b.txt 2>&1) & done; wait; echo "prewarm $(( $(date +%s) - t0 )) s"
ck() { b=$1; n=$2; shift 2; DK_CACHE_DIR=/tmp/dkc_$b timeout 60 $R/dk_$b check --seed 1901 "$@" > $OUT/q/check_$n.log 2>&1; echo "check $n rc=$? $(grep 'check:' $OUT/q/check_$n.log | tail -1)"; grep FAIL $OUT/q/check_$n.log | head -3; }
ck pre2e fixed_pre2e --filter /fixed; ck pre2e decode_pre2e --filter decode; ck pf decode_pf --filter decode; ck pre2 fixed_pre2 --filter /fixed
echo "checks at $(( $(date +%s) - t0 )) s"
dec() { b=$1; pf=$2; m=$3; tag=$4; shift 4; f=$OUT/q/dec_${b}_pf${pf}_${m}_$tag.txt; env ${PX:-DK_L2_PREFIX=0} DK_L2_PREFETCH=$pf DK_CACHE_DIR=/tmp/dkc_$b timeout 30 $R/dk_$b decode --model $m --context 4096 --mode graph --no-first-step --steps 30 "$@" > $f 2>&1; echo "[$b pf=$pf $m $tag] $(grep -E '^ *graph ' $f | head -1 | awk '{print $2" us "$4" tok/s "$6"%"}')"; }
for r in 1 2; do
  for m in qwen2.5-0.5b llama3.2-1b; do
    dec pf 0 $m b1r$r --batch 1; dec pf 20 $m b1r$r --batch 1; dec pf 10 $m b1r$r --batch 1; PX=DK_L2_PREFIX=1; dec pf 20 $m b1px$r --batch 1; PX=
    dec pre2 0 $m b1r$r --batch 1; dec pre2e 0 $m b1r$r --batch 1; dec pre2e 20 $m b1r$r --batch 1
  done
done
dec pf 0 qwen2.5-0.5b bf16 --batch 1 --dtype bf16; dec pf 20 qwen2.5-0.5b bf16 --batch 1 --dtype bf16
dec pf 0 qwen2.5-0.5b b2 --batch 2; dec pf 20 qwen2.5-0.5b b2 --batch 2
for r in 1 2; do for m in llama3-8b qwen2.5-7b; do dec pf 0 $m b1r$r --batch 1; dec pre2 0 $m b1r$r --batch 1; dec pre2e 0 $m b1r$r --batch 1; done; done
echo "steps at $(( $(date +%s) - t0 )) s"
DK_CACHE_DIR=/tmp/dkc_pre2e timeout 120 compute-sanitizer --tool memcheck $R/dk_pre2e check --seed 1903 --filter decode/ > $OUT/q/memcheck_decode_pre2e.log 2>&1; echo "memcheck decode/ pre2e rc=$? $(grep -E 'ERROR SUMMARY|check:' $OUT/q/memcheck_decode_pre2e.log | tail -2 | tr '\n' ' ') at $(( $(date +%s) - t0 )) s"
echo "elapsed $(( $(date +%s) - t0 )) s"
cd $OUT && tar -czf q.tgz q && rm -rf q

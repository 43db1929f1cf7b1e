#!/usr/bin/env bash
# Runs on the GPU machine (see README "On a GPU"): the release binary's info
# (twice: cold and warm kernel cache), the GPU-vs-CPU check, and check under
# compute-sanitizer memcheck, racecheck and initcheck. Logs go to $OUT (or ./out).
set -uo pipefail
bin=${BIN:-target/release/decode-kernels}
out=${OUT:-out}
mkdir -p "$out"
# The cache lives outside $out: only a few files come back from the device.
export DK_CACHE_DIR="${DK_CACHE_DIR:-/tmp/dk-gpu-check-cache}"
rm -rf "$DK_CACHE_DIR"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$out/nvidia-smi.txt"
status=0
run() { # name, command...
    local name=$1; shift
    local t0=$(date +%s.%N)
    "$@" > "$out/$name.log" 2>&1; local rc=$?
    local t1=$(date +%s.%N)
    printf '%-22s rc=%-3s %6.2fs\n' "$name" "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" | tee -a "$out/summary.txt"
    [ $rc -eq 0 ] || status=1
}
run info-cold "$bin" info
run info-warm "$bin" info
run check "$bin" check ${CHECK_ARGS:-}
san=${SANITIZER:-compute-sanitizer}
if command -v "$san" >/dev/null || [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
    command -v "$san" >/dev/null || san=/usr/local/cuda/bin/compute-sanitizer
    for tool in memcheck racecheck initcheck; do
        run "sanitizer-$tool" "$san" --tool "$tool" --error-exitcode 99 "$bin" check ${SANITIZER_CHECK_ARGS:-} --seed 1
    done
fi
cat "$out/info-cold.log" "$out/info-warm.log"
grep -h "check:" "$out"/check.log
grep -h "ERROR SUMMARY\|check:" "$out"/sanitizer-*.log 2>/dev/null
grep -h "FAIL" "$out"/check.log | head -20
cat "$out/summary.txt"
exit $status

#!/usr/bin/env bash
# llama.cpp's own quantized MUL_MAT kernels (ggml CUDA backend, `test-backend-ops perf`), on the GPU machine.
#
#   OUT=<dir> bash backend_ops.sh <path to llama_tests.tgz>
#
# llama_tests.tgz: llama.cpp as vendored in llama-cpp-python 0.3.36, trimmed, with tests/ kept and
# make_test_cases_perf() extended by the cases in tests.diff (q4_K q6_K q8_0 q4_0 weights, F32
# activations, M x K in 4096x4096 14336x4096 4096x14336 128256x4096, N = 1 2 4 8 16).
# Steps: extract to $SRCDIR, configure, build only `test-backend-ops`, then
#   test-backend-ops perf -o MUL_MAT -b CUDA0 -p <regex of exactly those cases> --output sql
# Raw output: $OUT/mul_mat_perf.txt (SQL INSERT lines), compact table: $OUT/mul_mat_table.txt.
# Logs: $OUT/cmake.log, $OUT/build.log, $OUT/mul_mat_perf.err, $OUT/gpu.txt.
#
# Optional environment:
#   LLB=<dir>        build folder (default /tmp/llb_ops). Put it under the repo (e.g. out/llama_ops/build,
#                    git-ignored) to reuse it in a later call while the machine is still warm.
#   SRCDIR=<dir>     where the tree is extracted (default /tmp/llama_ops_src; tree at $SRCDIR/llama.cpp)
#   SKIP_BUILD=1     reuse $LLB/bin/test-backend-ops if it exists (no extract/configure/build)
#   TYPES="q4_K q6_K q8_0 q4_0"  SHAPES="4096x4096 14336x4096 4096x14336 128256x4096"  NS="1 2 4 8 16"
#                    subsets of the added cases to run (M x K = weight rows x columns, N = tokens)
#   PERF_TIMEOUT=420 seconds for the perf run (each case is timed for >= 1 s, and each case first fills
#                    and quantizes its weight on the CPU; the full 80 cases take about 3-4 min)
#   BACKEND=CUDA0    ggml device to time;  GGML_CUDA=ON (OFF + BACKEND=CPU only for a local dry run)
set -euo pipefail

die() { echo "backend_ops.sh: ERROR: $*" >&2; exit 1; }
trap 'echo "backend_ops.sh: failed at line $LINENO (exit $?)" >&2' ERR

TGZ=${1:-}
[ -n "$TGZ" ] || die "usage: OUT=<dir> bash backend_ops.sh <path to llama_tests.tgz>"
OUT=${OUT:-}
[ -n "$OUT" ] || die "set OUT=<dir> for logs and results"
mkdir -p "$OUT" || die "cannot create OUT=$OUT"
OUT=$(cd "$OUT" && pwd)

LLB=${LLB:-/tmp/llb_ops}
SRCDIR=${SRCDIR:-/tmp/llama_ops_src}
TYPES=${TYPES:-"q4_K q6_K q8_0 q4_0"}
SHAPES=${SHAPES:-"4096x4096 14336x4096 4096x14336 128256x4096"}
NS=${NS:-"1 2 4 8 16"}
PERF_TIMEOUT=${PERF_TIMEOUT:-420}
BACKEND=${BACKEND:-CUDA0}
GGML_CUDA=${GGML_CUDA:-ON}
NPROC=$(nproc)
BIN=$LLB/bin/test-backend-ops
t_start=$(date +%s)

for c in cmake tar awk sort timeout; do command -v "$c" > /dev/null || die "'$c' not found in PATH"; done

if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$BIN" ]; then
  echo "== SKIP_BUILD=1: reusing $BIN"
else
  [ -f "$TGZ" ] || die "tarball not found: $TGZ"
  TGZ=$(cd "$(dirname "$TGZ")" && pwd)/$(basename "$TGZ")
  if [ "$GGML_CUDA" = ON ]; then
    if ! command -v nvcc > /dev/null; then
      for d in ${CUDAToolkit_ROOT:+$CUDAToolkit_ROOT/bin} /usr/local/cuda/bin /usr/local/cuda-*/bin; do
        if [ -x "$d/nvcc" ]; then export PATH="$d:$PATH"; break; fi
      done
    fi
    command -v nvcc > /dev/null || die "nvcc not found (not in PATH nor /usr/local/cuda*/bin); set PATH or CUDAToolkit_ROOT"
    echo "== nvcc: $(nvcc --version | tail -n 2 | head -n 1)"
  fi
  echo "== cmake: $(cmake --version | head -n 1); cores: $NPROC"

  # extract (tar keeps the archive's mtimes, so re-extracting over an existing build is incremental)
  mkdir -p "$SRCDIR" || die "cannot create SRCDIR=$SRCDIR"
  rm -rf "$SRCDIR/llama.cpp"
  tar xzf "$TGZ" -C "$SRCDIR" || die "cannot extract $TGZ"
  SRC=$SRCDIR/llama.cpp
  [ -f "$SRC/CMakeLists.txt" ] && [ -f "$SRC/tests/CMakeLists.txt" ] && [ -f "$SRC/tests/test-backend-ops.cpp" ] \
    || die "$TGZ does not hold llama.cpp/{CMakeLists.txt,tests/CMakeLists.txt,tests/test-backend-ops.cpp}"
  grep -q 'decode-kernels peer measurement' "$SRC/tests/test-backend-ops.cpp" \
    || die "tests/test-backend-ops.cpp lacks the added perf cases (tests.diff not applied)"

  # configure
  t0=$(date +%s)
  if ! cmake -S "$SRC" -B "$LLB" -DGGML_CUDA="$GGML_CUDA" -DCMAKE_CUDA_ARCHITECTURES=90-real -DLLAMA_CURL=OFF \
      -DLLAMA_BUILD_TESTS=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
      -DCMAKE_BUILD_TYPE=Release > "$OUT/cmake.log" 2>&1; then
    grep -n -A5 'CMake Error' "$OUT/cmake.log" | head -40 >&2 || tail -n 30 "$OUT/cmake.log" >&2
    die "cmake configure failed (full log: $OUT/cmake.log)"
  fi
  echo "== configured in $(( $(date +%s) - t0 )) s ($LLB)"

  # build only test-backend-ops (it pulls in ggml, ggml-cuda, llama and llama-common)
  t0=$(date +%s)
  if ! cmake --build "$LLB" -j "$NPROC" --target test-backend-ops > "$OUT/build.log" 2>&1; then
    grep -n -i -m 20 -E 'error|fatal' "$OUT/build.log" >&2 || tail -n 30 "$OUT/build.log" >&2
    die "build of test-backend-ops failed (full log: $OUT/build.log)"
  fi
  echo "== test-backend-ops built in $(( $(date +%s) - t0 )) s (-j $NPROC)"
fi
[ -x "$BIN" ] || die "$BIN missing after build"

command -v nvidia-smi > /dev/null \
  && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem,driver_version --format=csv > "$OUT/gpu.txt" 2>&1 \
  || echo "nvidia-smi not available" > "$OUT/gpu.txt"

# params regex: exactly the added cases (vars() of test_mul_mat, see tests.diff)
nalt=""; for n in $NS; do nalt="$nalt${nalt:+|}$n"; done
talt=""; for t in $TYPES; do talt="$talt${talt:+|}$t"; done
salt=""; ncase=0
for s in $SHAPES; do
  m=${s%x*}; k=${s#*x}
  [[ "$m" =~ ^[0-9]+$ && "$k" =~ ^[0-9]+$ ]] || die "bad shape '$s' in SHAPES (want MxK)"
  salt="$salt${salt:+|}m=$m,n=($nalt),k=$k"
done
for t in $TYPES; do for s in $SHAPES; do for n in $NS; do ncase=$((ncase + 1)); done; done; done
RE="^type_a=($talt),type_b=f32,($salt),bs=\[1,1\],nr=\[1,1\],per=\[0,1,2,3\],k_v=0,o=1,src_overlap=0,m_v=0,pad=0\$"
echo "$RE" > "$OUT/params_regex.txt"
echo "== running $ncase MUL_MAT cases on $BACKEND (timeout $PERF_TIMEOUT s; ~1 s timing + CPU weight fill/quantize per case)"

STDBUF=""; command -v stdbuf > /dev/null && STDBUF="stdbuf -oL"   # keep partial output if the timeout hits
t0=$(date +%s)
rc=0
timeout "$PERF_TIMEOUT" $STDBUF "$BIN" perf -o MUL_MAT -b "$BACKEND" -p "$RE" --output sql \
  > "$OUT/mul_mat_perf.txt" 2> "$OUT/mul_mat_perf.err" || rc=$?
echo "== perf run: $(( $(date +%s) - t0 )) s, exit $rc"

nres=$(grep -c "^INSERT INTO test_backend_ops" "$OUT/mul_mat_perf.txt" || true)
nsup=$(grep "^INSERT INTO test_backend_ops" "$OUT/mul_mat_perf.txt" | grep -c "'perf', '1', '1'" || true)

# compact table: GB/s counts what test-backend-ops' op_size() counts for MUL_MAT: quantized weight bytes
# (ggml_nbytes) + F32 activations (K*N*4) + F32 output (M*N*4), over us/run, in 1e9 B/s.
# TFLOPS is the tool's own figure (2*M*N*K per run). "L2" marks weights <= 50 MB (can stay in H200 L2
# across the back-to-back runs, so their GB/s can exceed HBM bandwidth).
grep "^INSERT INTO test_backend_ops" "$OUT/mul_mat_perf.txt" | awk -v q="'" -v types="$TYPES" -v shapes="$SHAPES" '
BEGIN {
  nt = split(types, T, " "); for (i = 1; i <= nt; i++) tord[T[i]] = i
  ns = split(shapes, S, " "); for (i = 1; i <= ns; i++) sord[S[i]] = i
  blk["q4_0"] = 32;  tsz["q4_0"] = 18;  blk["q8_0"] = 32;  tsz["q8_0"] = 34
  blk["q4_K"] = 256; tsz["q4_K"] = 144; blk["q6_K"] = 256; tsz["q6_K"] = 210
}
{
  v = $0; sub("^.*VALUES [(]" q, "", v); sub(q "[)];[ \t\r]*$", "", v)
  nf = split(v, F, q ", " q)
  if (nf < 14) next
  params = F[5]; sup = F[7]; us = F[10]; flops = F[11]; runs = F[14]
  ta = params; sub(/^type_a=/, "", ta); sub(/,.*/, "", ta)
  m = params; sub(/^.*,m=/, "", m); sub(/,.*/, "", m)
  n = params; sub(/^.*,n=/, "", n); sub(/,.*/, "", n)
  k = params; sub(/^.*,k=/, "", k); sub(/,.*/, "", k)
  if (!(ta in blk)) next
  wb = m * k / blk[ta] * tsz[ta]; tot = wb + 4.0 * k * n + 4.0 * m * n
  key = sprintf("%03d %03d %06d", tord[ta], sord[m "x" k], n)
  if (sup != "1") { printf "%s|%-5s %7d %6d %3d  %10s %9s %7s %6s %8s\n", key, ta, m, k, n, "unsupported", "-", "-", "-", "-"; next }
  printf "%s|%-5s %7d %6d %3d  %10.2f %9.1f %7.2f %6.1f %8d%s\n", key, ta, m, k, n, us, tot / (us * 1e3), flops / 1e12, wb / 1e6, runs, (wb <= 50e6 ? "  L2" : "")
}' | sort | cut -d'|' -f2- > "$OUT/mul_mat_table.body" || true
{
  printf "%-5s %7s %6s %3s  %10s %9s %7s %6s %8s\n" type M K N "us/run" "GB/s" TFLOPS "W MB" runs
  cat "$OUT/mul_mat_table.body"
} > "$OUT/mul_mat_table.txt"
rm -f "$OUT/mul_mat_table.body"
echo "== device: $(tail -n +2 "$OUT/gpu.txt" | head -n 1)"
cat "$OUT/mul_mat_table.txt"
echo "== $nres results ($nsup supported) of $ncase expected; raw: $OUT/mul_mat_perf.txt; total $(( $(date +%s) - t_start )) s"

if [ "$nres" -eq 0 ]; then
  tail -n 20 "$OUT/mul_mat_perf.err" >&2 || true
  die "no MUL_MAT results: is backend '$BACKEND' present (see $OUT/mul_mat_perf.err), and does the regex match (see $OUT/params_regex.txt)?"
fi
[ "$rc" -eq 0 ] || die "test-backend-ops exited $rc (124 = timeout after $PERF_TIMEOUT s; results so far are above)"
[ "$nres" -eq "$ncase" ] || die "got $nres results, expected $ncase"
[ "$nsup" -eq "$nres" ] || die "$((nres - nsup)) cases reported 'not supported' on $BACKEND"
echo "== done"

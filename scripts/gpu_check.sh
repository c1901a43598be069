#!/usr/bin/env bash
# One call on a GPU machine: build everything with all cores, check the SASS, run every test on
# the GPU, run the benchmarks, print a short summary table last.
#
#   bash scripts/gpu_check.sh            # everything
#   STEPS="build sass cpp bench" bash scripts/gpu_check.sh   # a subset (build, sass, cpp, python,
#                                                           # sanitize, bench)
#   QUICK=1 ...                          # shorter benchmarks
# Logs and JSON go to $LOG_DIR (default: $OUT if set, else build/gpu_check).
set -uo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-"build sass cpp python sanitize bench"}
LOG_DIR=${LOG_DIR:-${OUT:-build/gpu_check}}
BUILD_DIR=${BUILD_DIR:-build/gpu}
mkdir -p "$LOG_DIR"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
export PYTHONUNBUFFERED=1
[ -d third_party/cutlass/include ] && export CUTLASS_DIR=$PWD/third_party/cutlass
QUICK_FLAG=""
[ "${QUICK:-0}" = 1 ] && QUICK_FLAG="--quick"
summary=()
has_step() { [[ " $STEPS " == *" $1 "* ]]; }
record() { summary+=("| $1 | $2 | $3 |"); }

nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee "$LOG_DIR/device.txt"

if has_step build; then
  start=$(date +%s)
  if python3 -m pip install --no-build-isolation --no-deps -q \
      -Cbuild-dir="$BUILD_DIR" \
      -Ccmake.define.TRIAGEATTENTION_BUILD_TESTS=ON \
      -Ccmake.define.TRIAGEATTENTION_BUILD_BENCHMARKS=ON \
      -Ccmake.define.TRIAGEATTENTION_STRICT_WGMMA=ON . > "$LOG_DIR/build.log" 2>&1; then
    record build ok "$(( $(date +%s) - start )) s"
  else
    tail -40 "$LOG_DIR/build.log"
    record build FAILED "see build.log"
    printf '%s\n' "${summary[@]}"
    exit 1
  fi
fi

if has_step sass; then
  # Every kernel instance must use wgmma (HGMMA) and TMA (UTMALDG); local-memory spills (LDL/STL)
  # are counted and shown (none in the bf16 D 128 and fp16 D 64 attention instances, session 7).
  : > "$LOG_DIR/sass.txt"
  bad=0
  spills=0
  for obj in "$BUILD_DIR"/CMakeFiles/triageattention.dir/generated/*.o; do
    counts=$(cuobjdump --dump-sass "$obj" | grep -oE "HGMMA|UTMALDG|LDL|STL" | sort | uniq -c | tr '\n' ' ')
    echo "$(basename "$obj"): $counts" >> "$LOG_DIR/sass.txt"
    [[ $counts == *HGMMA* && $counts == *UTMALDG* ]] || bad=1
    [[ $counts == *LDL* || $counts == *STL* ]] && spills=$((spills + 1))
  done
  cat "$LOG_DIR/sass.txt"
  record sass "$([ $bad = 0 ] && echo ok || echo CHECK)" "HGMMA+UTMALDG in every instance; $spills instance(s) with LDL/STL"
fi

if has_step cpp; then
  ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 300 -j 8 > "$LOG_DIR/ctest.log" 2>&1
  rc=$?
  grep -E "tests passed|tests failed" "$LOG_DIR/ctest.log"
  [ $rc = 0 ] || grep -E "Failed|\*\*\*" "$LOG_DIR/ctest.log" | head -30
  record "C++ tests (ctest)" "$([ $rc = 0 ] && echo ok || echo FAILED)" "$(grep -oE '[0-9]+% tests passed.*' "$LOG_DIR/ctest.log")"
fi

if has_step python; then
  python3 -m pytest tests/python -q -rs -x > "$LOG_DIR/pytest.log" 2>&1
  rc=$?
  tail -5 "$LOG_DIR/pytest.log"
  record "Python tests (pytest)" "$([ $rc = 0 ] && echo ok || echo FAILED)" "$(tail -1 "$LOG_DIR/pytest.log")"
fi

if has_step sanitize; then
  bash scripts/sanitize.sh "$BUILD_DIR" > "$LOG_DIR/sanitize.log" 2>&1
  rc=$?
  tail -6 "$LOG_DIR/sanitize.log"
  record "compute-sanitizer" "$([ $rc = 0 ] && echo ok || echo FAILED)" "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$LOG_DIR/sanitize.log" | sort | uniq -c | tr '\n' ' ')"
fi

if has_step bench; then
  timeout 300 "$BUILD_DIR"/benchmarks/bench_sparse_gemm $QUICK_FLAG --json "$LOG_DIR/gemm_cpp.json" > "$LOG_DIR/gemm_cpp.md" 2> "$LOG_DIR/gemm_cpp.err"
  record "bench_sparse_gemm" "$([ $? = 0 ] && echo ok || echo FAILED)" "gemm_cpp.md"
  timeout 300 "$BUILD_DIR"/benchmarks/bench_attention $QUICK_FLAG > "$LOG_DIR/attention_cpp.md" 2> "$LOG_DIR/attention_cpp.err"
  record "bench_attention (C++)" "$([ $? = 0 ] && echo ok || echo FAILED)" "attention_cpp.md"
  for suite in gemm attention triage; do
    if [ -f benchmarks/bench_$suite.py ]; then
      timeout 400 python3 benchmarks/bench_$suite.py $QUICK_FLAG --json "$LOG_DIR/${suite}_py.json" > "$LOG_DIR/${suite}_py.md" 2> "$LOG_DIR/${suite}_py.err"
      record "bench_$suite.py" "$([ $? = 0 ] && echo ok || echo FAILED)" "${suite}_py.md"
    fi
  done
  timeout 400 python3 benchmarks/bench_decode.py $QUICK_FLAG --json "$LOG_DIR/decode_py.json" > "$LOG_DIR/decode_py.md" 2> "$LOG_DIR/decode_py.err"
  record "bench_decode.py" "$([ $? = 0 ] && echo ok || echo FAILED)" "decode_py.md"
  for f in gemm_cpp attention_cpp gemm_py attention_py triage_py decode_py; do
    [ -f "$LOG_DIR/$f.md" ] && { echo "== $f"; grep -E "^\|" "$LOG_DIR/$f.md"; }
  done
fi

echo
echo "| step | result | detail |"
echo "|---|---|---|"
printf '%s\n' "${summary[@]}"

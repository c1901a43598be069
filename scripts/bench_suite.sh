#!/usr/bin/env bash
# Every benchmark suite in one go on a GPU machine, then the roofline and the reproducibility
# check, then a summary table. Method: docs/BENCHMARKING.md, docs/ROOFLINE.md.
#
#   bash scripts/bench_suite.sh [--quick] [--out DIR] [--build]
#
#   --quick  the suites' --quick sizes (attention: key blocks $ATTENTION_QUICK_BS only, default
#            128,16: every Flex block size is another compilation) and a time budget of BUDGET_S
#            (default 285) seconds for the whole run, issue #6's "under 5 minutes on an H100": a
#            step is skipped when under 15 s remain and cut at the budget (the suites leave 20 s
#            for the roofline), both shown as such.
#   --out    where reports, logs, roofline.png and the repro tables go (default $OUT, else
#            build/bench). Suite NAME writes NAME.md (its table), NAME.err (progress, checks)
#            and NAME.json.
#   --build  first build and install the package and C++ benchmarks (STEPS=build
#            scripts/gpu_check.sh); not counted in the budget.
# Environment: BUILD_DIR (C++ build, default build/gpu), REPRO (reports to rerun for the repro
# check; default gemm_cpp decode_py triage_py with --quick, else every suite with rows of ours).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

QUICK=0
BUILD=0
OUT_DIR=${OUT:-build/bench}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --build) BUILD=1 ;;
    --out) OUT_DIR=${2:?--out needs a directory}; shift ;;
    -h|--help) sed -n '/^set -uo/q; 2,$p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
BUILD_DIR=${BUILD_DIR:-build/gpu}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
if [ $QUICK = 1 ]; then
  QUICK_FLAG=--quick
  BUDGET_S=${BUDGET_S:-285}
  REPRO=${REPRO:-"gemm_cpp decode_py triage_py"}
  ATTENTION_ARGS=(--bs "${ATTENTION_QUICK_BS:-128,16}")
else
  QUICK_FLAG=
  BUDGET_S=0  # no budget
  REPRO=${REPRO:-"gemm_cpp gemm_py attention_py triage_py decode_py"}
  ATTENTION_ARGS=()
fi
STEP_LIMIT_S=1800  # per step, without a budget: a hung suite must not hold the machine
MIN_STEP_S=15
RESERVE_S=20  # of the budget, kept from the suites for the roofline

if [ $BUILD = 1 ]; then
  STEPS=build LOG_DIR="$OUT_DIR" BUILD_DIR="$BUILD_DIR" bash scripts/gpu_check.sh || exit 1
fi
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader \
  > "$OUT_DIR/device.txt" 2>&1

START=$(date +%s)
summary=()
jsons=()
status=0
record() { summary+=("| $1 | $2 | $3 | $4 |"); }

# run_step NAME STDOUT_FILE COMMAND...: runs COMMAND under the step limit (the rest of the
# budget with --quick), stderr to NAME.err, and records the result.
run_step() {
  local name=$1 stdout=$2
  shift 2
  local limit=$STEP_LIMIT_S
  if [ "$BUDGET_S" -gt 0 ]; then
    limit=$(( BUDGET_S - RESERVE_S - ($(date +%s) - START) ))
    if [ $limit -lt $MIN_STEP_S ]; then
      record "$name" "SKIPPED" "-" "time budget of $BUDGET_S s spent"
      status=1
      return
    fi
  fi
  echo "[$(( $(date +%s) - START )) s] $name: $*" >&2
  local t0 rc result
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" > "$stdout" 2> "$OUT_DIR/$name.err"
  rc=$?
  if [ $rc = 0 ]; then
    result=ok
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    result="TIMEOUT ($limit s)"
  else
    result="FAILED (exit $rc)"
  fi
  [ $rc = 0 ] || status=1
  record "$name" "$result" "$(( $(date +%s) - t0 ))" "$(basename "$stdout"), $name.err"
}

# json_step NAME COMMAND...: a suite that takes --json; its report joins the roofline's inputs.
json_step() {
  local name=$1
  shift
  rm -f "$OUT_DIR/$name.json"  # a stale report must not pass for this run's
  run_step "$name" "$OUT_DIR/$name.md" "$@" --json "$OUT_DIR/$name.json"
  [ -f "$OUT_DIR/$name.json" ] && jsons+=("$OUT_DIR/$name.json")
}

json_step ceilings python3 benchmarks/bench_ceilings.py $QUICK_FLAG
if [ -x "$BUILD_DIR/benchmarks/bench_sparse_gemm" ]; then
  json_step gemm_cpp "$BUILD_DIR/benchmarks/bench_sparse_gemm" $QUICK_FLAG
else
  record gemm_cpp "not built" "-" "$BUILD_DIR/benchmarks/bench_sparse_gemm (use --build)"
fi
if [ -x "$BUILD_DIR/benchmarks/bench_attention" ]; then
  # Markdown only (no --json): not in the roofline; bench_attention.py covers the same kernel.
  run_step attention_cpp "$OUT_DIR/attention_cpp.md" "$BUILD_DIR/benchmarks/bench_attention" \
    $QUICK_FLAG
else
  record attention_cpp "not built" "-" "$BUILD_DIR/benchmarks/bench_attention (use --build)"
fi
# Quick suites first, so that a spent budget cuts the slow Flex compilations, not the rest.
json_step decode_py python3 benchmarks/bench_decode.py $QUICK_FLAG
json_step triage_py python3 benchmarks/bench_triage.py $QUICK_FLAG
json_step gemm_py python3 benchmarks/bench_gemm.py $QUICK_FLAG
json_step attention_py python3 benchmarks/bench_attention.py $QUICK_FLAG "${ATTENTION_ARGS[@]}"

RESERVE_S=0
if [ ${#jsons[@]} -gt 0 ]; then
  run_step roofline "$OUT_DIR/roofline.log" python3 benchmarks/roofline.py "${jsons[@]}" \
    --out "$OUT_DIR/roofline.png" --md "$OUT_DIR/roofline.md"
fi

# One rerun per step, so that a spent budget skips whole suites rather than cutting one short.
for name in $REPRO; do
  if [ -f "$OUT_DIR/$name.json" ]; then
    run_step "repro_$name" "$OUT_DIR/repro_$name.md" python3 benchmarks/repro_check.py \
      --rerun "$OUT_DIR/$name.json" --dir "$OUT_DIR/repro"
  else
    record "repro_$name" "SKIPPED" "-" "no $name.json from this run"
  fi
done

echo
echo "== device: $(cat "$OUT_DIR/device.txt")"
if [ -f "$OUT_DIR/roofline.md" ]; then
  echo "== roofline: $OUT_DIR/roofline.png, table $OUT_DIR/roofline.md"
  grep -E "^- (copy|compute) ceiling" "$OUT_DIR/roofline.md"
fi
for name in $REPRO; do
  [ -f "$OUT_DIR/repro_$name.md" ] && echo "== repro $name: $(grep -E '^- result' \
    "$OUT_DIR/repro_$name.md" | cut -c 3-)"
done
echo
echo "| step | result | seconds | output (in $OUT_DIR) |"
echo "|---|---|---:|---|"
printf '%s\n' "${summary[@]}"
echo
echo "total: $(( $(date +%s) - START )) s$([ $QUICK = 1 ] && echo " (budget $BUDGET_S s)")"
exit $status

#!/usr/bin/env bash
# The GPU test suite under compute-sanitizer: memcheck on every C++ test (the 100-run determinism
# test is left to the plain run); racecheck and synccheck, which are far slower, on one GEMM and
# one attention configuration per block size, plus triage and decode subsets. Set
# SANITIZE_PYTHON=1 to add memcheck on the Python GPU tests (slow: torch's own start-up runs
# under the tool too).
#   bash scripts/sanitize.sh [build dir]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build/gpu}
TESTS="$BUILD_DIR/tests/triageattention_tests"
FILTER='-*BitwiseIdenticalOver100Runs*'
status=0
echo "== compute-sanitizer --tool memcheck"
compute-sanitizer --tool memcheck --error-exitcode 1 "$TESTS" --gtest_filter="$FILTER" --gtest_brief=1 || status=1
SUBSET='BsrGemmAllConfigs.*/bf16_outsame_*:AttentionGrid.*/bf16_d128_*_qb128*:BsrGemm.MalformedIndicesAreSafe:TriageGrid.*/bf16_d128_bs16_qb128*:Triage.AdversarialInputs:Decode.*'
for tool in racecheck synccheck; do
  echo "== compute-sanitizer --tool $tool"
  compute-sanitizer --tool "$tool" --error-exitcode 1 "$TESTS" --gtest_filter="$SUBSET" --gtest_brief=1 || status=1
done
if [ "${SANITIZE_PYTHON:-0}" = 1 ] && python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  echo "== compute-sanitizer --tool memcheck (Python GPU tests)"
  compute-sanitizer --tool memcheck --error-exitcode 1 python3 -m pytest tests/python -q -x -k "not 100 and not compile" || status=1
fi
exit $status

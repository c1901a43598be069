#!/usr/bin/env bash
# The GPU test suite under compute-sanitizer: memcheck, racecheck and synccheck on the C++ tests
# (the long determinism test is left to the plain run), memcheck on the Python GPU tests.
#   bash scripts/sanitize.sh [build dir]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build/gpu}
TESTS="$BUILD_DIR/tests/triageattention_tests"
FILTER='-*BitwiseIdenticalOver100Runs*'
status=0
for tool in memcheck racecheck synccheck; do
  echo "== compute-sanitizer --tool $tool"
  compute-sanitizer --tool "$tool" --error-exitcode 1 "$TESTS" --gtest_filter="$FILTER" --gtest_brief=1 || status=1
done
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  echo "== compute-sanitizer --tool memcheck (Python GPU tests)"
  compute-sanitizer --tool memcheck --error-exitcode 1 python3 -m pytest tests/python -q -x -k "not 100 and not compile" || status=1
fi
exit $status

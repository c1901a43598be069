#!/usr/bin/env bash
# Builds everything once (library, Python extension, C++ tests, benchmarks) and runs every test:
# the C++ suite and the downstream-package check through ctest, then the Python suite.
# GPU tests skip with a reason on machines without a Hopper GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/test}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}

python3 -m pip install -q -r requirements-dev.txt
python3 -m pip install --no-build-isolation \
  -Cbuild-dir="$BUILD_DIR" \
  -Ccmake.define.TRIAGEATTENTION_BUILD_TESTS=ON \
  -Ccmake.define.TRIAGEATTENTION_BUILD_BENCHMARKS=ON \
  -Ccmake.define.TRIAGEATTENTION_STRICT_WGMMA=ON \
  ${TRIAGEATTENTION_CMAKE_ARGS:-} .
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$CMAKE_BUILD_PARALLEL_LEVEL"
python3 -m pytest tests/python -q -rs

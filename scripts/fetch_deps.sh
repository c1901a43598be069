#!/usr/bin/env bash
# Unpacks the pinned CUTLASS/CuTe headers (nvidia-cutlass 4.2.0.0 wheel) into third_party/cutlass,
# and copies GoogleTest's sources into third_party/googletest when the system has them. Both
# folders are git-ignored; they are what a build machine without network access needs.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p third_party

if [ ! -f third_party/cutlass/include/cutlass/cutlass.h ]; then
  src=$(python3 -c "import cutlass_library, os; print(os.path.join(os.path.dirname(cutlass_library.__file__), 'source', 'include'))" 2>/dev/null || true)
  if [ -z "$src" ] || [ ! -d "$src" ]; then
    tmp=$(mktemp -d)
    python3 -m pip download --no-deps --only-binary=:all: -d "$tmp" nvidia-cutlass==4.2.0.0
    python3 -m zipfile -e "$tmp"/nvidia_cutlass-*.whl "$tmp/wheel"
    src="$tmp/wheel/cutlass_library/source/include"
  fi
  mkdir -p third_party/cutlass
  cp -r "$src" third_party/cutlass/include
  echo "CUTLASS headers: third_party/cutlass/include"
fi

if [ ! -f third_party/googletest/CMakeLists.txt ] && [ -f /usr/src/googletest/CMakeLists.txt ]; then
  cp -r /usr/src/googletest third_party/googletest
  echo "GoogleTest sources: third_party/googletest"
fi

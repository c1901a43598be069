#!/usr/bin/env bash
# Session 21, call 2: the whole GPU suite on the tree that lands (build, SASS, ctest, pytest,
# compute-sanitizer), then bench_sparse_gemm, so that the cuSPARSE Blocked-ELL and cuBLAS peers
# are measured in the same run as this kernel (the README's cuSPARSE column dated from
# 2026-11-25). From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session21/run2.sh   # ~450 s
STEPS="build sass cpp python sanitize" LOG_DIR=$OUT/suite bash scripts/gpu_check.sh 2>&1 | tail -n 12
timeout 150 build/gpu/benchmarks/bench_sparse_gemm --runs 20 --json "$OUT/gemm_cpp.json" \
  > "$OUT/gemm_cpp.md" 2> "$OUT/gemm_cpp.err"
echo "bench_sparse_gemm rc=$?"
grep -E "^\|" "$OUT/gemm_cpp.md" | cut -c1-160

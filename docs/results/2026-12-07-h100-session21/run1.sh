#!/usr/bin/env bash
# Session 21, call 1: session 20's two prepared general-form candidates together, and the whole
# suite on the tree that would land. From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session21/run1.sh   # ~550 s
# Trees (one-config builds bs 16/32/64/128 bf16, installed side by side):
#   a:  this tree (session 20's final tree);
#   go: ../2026-12-07-h100-session20/cand_prefetch.patch and cand_row_order.patch there.
#       gp, the prefetch: the producer prefetches into L1 the next item's crow entries and the
#       row order entry of the item after; 32-bit item arithmetic. Prediction: torch BSR GEMM
#       kernel 313.7 -> 306-309 us, bench torch BSR bs 64 12.5% 424 -> 430-440; top-k rows
#       within +-0.5%.
#       o, the row order in one CTA (BlockRadixSort) up to 4096 block-rows. Prediction: one
#       ~2-3 us kernel in place of 1.2 + 4.2 us and a launch gap: a further +2-3 us per torch
#       BSR call; top-k rows unchanged.
#       The two touch different kernels, so kernel_times.py separates them (the GEMM kernel's
#       time is gp's, the row order's kernels are o's).
# go is also built in full: its GEMM tests and sanitizers, then after the timings its whole ctest
# and pytest suites, bs 16/32, its SASS and compute-sanitizer on the whole C++ suite (most
# useful first: the device time left may cut the call short; every step is packed).
R=$PWD
P=$R/docs/results/2026-12-07-h100-session20
source scripts/ab_tree.sh
ab_run_start
CAND=go gemm_candidate_builds "$P/cand_prefetch.patch" "$P/cand_row_order.patch"
gemm_checks "$R/build/src_go" "$L" go
stamp checks
pack
gemm_kernel_times "$L" "$R/build/site_a" "$R/build/site_go"
stamp "kernel times"
pack
gemm_ab_round 1 "$L" 64,128 "$R/build/site_a" "$R/build/site_go"
stamp "round 1"
pack
gemm_ab_round 2 "$L" 64,128 "$R/build/site_go" "$R/build/site_a"
stamp "round 2"
pack
(cd "$L" && grep "torch BSR)\|top-k)" gemm_*.md | grep -v ":ok" \
  | sed "s/M8192 N8192 K8192 //; s/TriageAttention bsr_matmul //" | cut -c1-110)
(cd "$R/build/src_go" && STEPS="cpp python" LOG_DIR="$L/suite_go" BUILD_DIR=build/gpu \
  bash scripts/gpu_check.sh 2>&1 | tail -n 4 | tee -a "$L/times.txt")
stamp "suite on go"
pack
gemm_ab_round _small "$L" 16,32 "$R/build/site_a" "$R/build/site_go"
stamp "bs 16 and 32"
pack
(cd "$R/build/src_go" && STEPS="sass" LOG_DIR="$L/sass_go" BUILD_DIR=build/gpu \
  bash scripts/gpu_check.sh 2>&1 | tail -n 1 | tee -a "$L/times.txt")
(cd "$R/build/src_go" && timeout 240 bash scripts/sanitize.sh build/gpu > "$L/sanitize_go.txt" 2>&1
 echo "sanitize go rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$L/sanitize_go.txt" | tr '\n' ' ')" \
   | tee -a "$L/times.txt")
stamp "sanitize on go"
pack

#!/usr/bin/env bash
# Prepared in session 20, not run (no device time was left; call 4 ran gp's A/B in a longer form
# and was lost when the machine was taken back). One call per candidate, from the repository
# root, carry ["third_party"], about 350 s each:
#   bash docs/results/2026-12-07-h100-session20/next_run.sh cand_prefetch.patch
#   bash docs/results/2026-12-07-h100-session20/next_run.sh cand_row_order.patch
# The two patches touch different files and apply in either order; `.ci/run` passes on each.
# a is this tree (the consumers' item walk landed after call 3); dyn is this tree with the patch.
#
# gp, cand_prefetch.patch: the producer prefetches into L1 the next item's crow entries and the
#   row order entry of the item after (no registers held: the walk spilled in the producer's 40),
#   and the schedule's item arithmetic moves to 32 bits (its 64-bit divisions were what spilled;
#   the host now rejects more than 2^31 work items). No spills at bs 16/32/64/128 bf16 or bs 64
#   fp32 out. Prediction (what is left after the walk is taken to be the producer's item start:
#   row order, then crow, then the first columns, three dependent L2 reads): the torch BSR GEMM
#   kernel 313.7 -> 306-309 us (kernel_times.py), bench_gemm torch BSR bs 64 12.5% 424 -> 430-440,
#   bs 128 12.5% 588 -> 595-610; the top-k rows within +-0.5%.
# o, cand_row_order.patch: the general form's row order in one launch for up to 4,096 block-rows
#   (one CTA reads the clamped lengths and sorts them with CUB's BlockRadixSort, stable in its
#   blocked arrangement) instead of a lengths kernel and CUB's device-wide sort (1.2 + 4.2 us of
#   kernel time and a launch gap at 128 rows). New GPU test BsrGemm.RowOrderIsLongestFirstAndStable,
#   not run yet. 93 registers, 16.9 KB shared memory, no spills. Prediction: one ~2-3 us kernel in
#   place of the two; torch BSR rows +2-3 us per call (bs 64 12.5% ~424 -> ~427-428); top-k rows
#   unchanged.
# Order: builds, the candidate's GEMM tests and sanitizers, kernel times, the A/B rounds (bs 64/128
# twice in opposite orders, bs 16/32 once), then the candidate's whole ctest and pytest suites;
# each step stamped and packed.
R=$PWD
D=$R/docs/results/2026-12-07-h100-session20
source scripts/ab_tree.sh
ab_run_start
gemm_candidate_builds "$D/$1"
gemm_checks $R/build/src_dyn $L dyn
stamp checks
pack
gemm_kernel_times $L $R/build/site_a $R/build/site_dyn
stamp "kernel times"
pack
gemm_ab_rounds
(cd $R/build/src_dyn && STEPS="cpp python" LOG_DIR="$L/suite_dyn" BUILD_DIR=build/gpu \
  bash scripts/gpu_check.sh 2>&1 | tail -n 4)
stamp "suite on the candidate"
pack

#!/usr/bin/env bash
# Prepared in session 20, not run (call 4 ran it in a longer form and was lost when the machine
# was taken back; no device time was left after). From the repository root, carry
# ["third_party"]:  bash docs/results/2026-12-07-h100-session20/next_run.sh    # ~300 s
# Trees:
#   a:   this tree (the consumers' item walk, landed after call 3);
#   dyn: gp, cand_prefetch.patch: the producer prefetches into L1 the next item's crow entries and
#        the row order entry of the item after (no registers held: the walk spilled in the
#        producer's 40), and the schedule's item arithmetic in 32 bits (its 64-bit divisions were
#        what spilled; the host now rejects more than 2^31 work items). No spills at bs 16/32/64/
#        128 bf16 or bs 64 fp32 out.
# Prediction (what is left after the walk is taken to be the producer's item start: row order,
# then crow, then the first columns, three dependent L2 reads): the torch BSR GEMM kernel 313.7 ->
# 306-309 us (kernel_times.py), bench_gemm torch BSR bs 64 12.5% 424 -> 430-440, bs 128 12.5%
# 588 -> 595-610; the top-k rows within +-0.5%.
# Order: builds, gp's GEMM tests and sanitizers, the A/B rounds (bs 64/128 twice in opposite
# orders, bs 16/32 once), then gp's whole ctest and pytest suites; each step stamped and packed.
R=$PWD
D=$R/docs/results/2026-12-07-h100-session20
source scripts/ab_tree.sh
ab_run_start
gemm_candidate_builds $D/cand_prefetch.patch
gemm_checks $R/build/src_dyn $L dyn
stamp checks
pack
gemm_ab_rounds
(cd $R/build/src_dyn && STEPS="cpp python" LOG_DIR="$L/suite_dyn" BUILD_DIR=build/gpu \
  bash scripts/gpu_check.sh 2>&1 | tail -n 4)
stamp "suite on gp"
pack

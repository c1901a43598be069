#!/usr/bin/env bash
# Session 20, call 4. From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session20/run4.sh    # ~520 s
# Call 3 measured g (cand_walk.patch: the consumers' item walk): the torch BSR form's GEMM kernel
# 318.5 -> 313.7 us (kernel_times.py), against 304.1-304.6 for the top-k form; bench_gemm bs 64
# 12.5% torch BSR 418 -> 424. What is left of the gap is taken to be the producer's item start:
# row order, then crow, then the first columns, three dependent L2 reads.
# Trees:
#   a:   this tree;
#   dyn: gp (cand_walk_prefetch.patch): g, plus the producer prefetching into L1 the next item's
#        crow entries and the row order entry of the item after (no registers held: its own walk
#        spilled), and the schedule's item arithmetic in 32 bits (the 64-bit divisions were what
#        spilled; the host now rejects more than 2^31 work items).
#        Prediction: torch BSR GEMM kernel 313.7 -> 306-309 us; bench_gemm torch BSR bs 64 12.5%
#        424 -> 430-440, bs 128 12.5% 588 -> 595-610; top-k rows within +-0.5%.
# Order: builds, one A/B round, the full GPU suite on gp (it is the candidate for landing), the
# second round in the other order, bs 16/32, kernel times; each step stamped and packed.
R=$PWD
D=$R/docs/results/2026-12-07-h100-session20
source scripts/ab_tree.sh
ab_run_start
gemm_candidate_builds $D/cand_walk_prefetch.patch
gemm_ab_round 1 "$L" 64,128 "$R/build/site_a" "$R/build/site_dyn"
stamp "round 1"
pack
(cd $R/build/src_dyn && STEPS="cpp python sanitize" LOG_DIR="$L/suite_dyn" BUILD_DIR=build/gpu \
  bash scripts/gpu_check.sh 2>&1 | tail -n 8)
stamp "full suite on gp"
pack
gemm_ab_round 2 "$L" 64,128 "$R/build/site_dyn" "$R/build/site_a"
stamp "round 2"
pack
gemm_ab_round _small "$L" 16,32 "$R/build/site_a" "$R/build/site_dyn"
stamp "bs 16 and 32"
pack
for w in bsr_matmul_topk bsr_matmul_torch_bsr; do
  PYTHONPATH=$R/build/site_dyn timeout 60 python3 scripts/profile/kernel_times.py $w 2>&1 \
    | grep -E "us " | sed "s/^/dyn /" | tee -a $L/kernel_times.txt
done
stamp "kernel times"
pack

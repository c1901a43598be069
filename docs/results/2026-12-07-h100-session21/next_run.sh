#!/usr/bin/env bash
# Prepared in session 21, not run (one device call fitted the session). From the repository
# root, carry ["third_party"]:  bash docs/results/2026-12-07-h100-session21/next_run.sh   # ~560 s
# Trees (one-config builds bs 16/32/64/128 bf16, installed side by side):
#   a:    this tree;
#   nrl:  three patches here:
#         np, cand_no_prefetch.patch: the producer's L1 prefetch removed (session 21: the torch
#         BSR GEMM kernel 313.0 -> 313.2 us with it; in the top-k form it skips the loads but
#         still computes the next item's schedule entry at every item start);
#         r, cand_rank_order.patch: the general form's row order for up to 1,024 block-rows in
#         one CTA that ranks each row by counting the rows before it (longer, or as long with a
#         lower index); CUB beyond. New sizes 1024/1025 in BsrGemm.RowOrderIsLongestFirstAndStable
#         cover both paths. Prediction: ~2 us of kernel for 128 rows against 1.3 + 4.2 us and a
#         launch gap (kernel_times.py shows it apart from the GEMM kernel): torch BSR rows +1%;
#         la, cand_look_ahead.patch: the consumers' walk computes the schedule entry of the item
#         after next (two 32-bit divisions) under the item's first wgmma batch instead of at the
#         item boundary. Why: session 21's 32-bit item arithmetic made the top-k GEMM kernel 0.9%
#         faster (305.5 -> 302.7 us), so integer work at the boundary is on the critical path
#         (the next stages are loaded during the epilogue; the consumers' own work there delays
#         the tensor cores).
#         Prediction for np + la: the top-k form +0.2-0.5% (bs 64 12.5% ~449 -> ~450-451).
#   nrlz: nrl plus cand_scale_zero.patch: the item's first wgmma overwrites the accumulators
#         (ScaleOut::Zero) instead of a clear before it (up to 128 register writes per thread at
#         the item boundary; an empty row still clears). Prediction, on the same reasoning: a
#         further +0.3-0.7% at bs 64/128 12.5% (16 and 8 stages per item), less at 50%.
# Then Nsight Compute on one GEMM launch of each form in a: the general form's GEMM kernel runs
# 10 us behind the top-k form's at bs 64 12.5% with the same schedule, loads and epilogue (the
# workload is called without the torch profiler, which would share CUPTI with ncu). The whole
# suite on nrlz last (nrlz is built in full and checked first).
R=$PWD
S=$R/docs/results/2026-12-07-h100-session21
source scripts/ab_tree.sh
ab_run_start
patched_copy "$R/build/src_nrl" "$S/cand_no_prefetch.patch" "$S/cand_rank_order.patch" \
  "$S/cand_look_ahead.patch"
one_config_build "$R/build/src_nrl" "$R/build/site_nrl" "16;32;64;128" > "$L/build_nrl.log" 2>&1 &
CAND=nrlz gemm_candidate_builds "$S/cand_no_prefetch.patch" "$S/cand_rank_order.patch" \
  "$S/cand_look_ahead.patch" "$S/cand_scale_zero.patch"
gemm_checks "$R/build/src_nrlz" "$L" nrlz
stamp checks
pack
gemm_kernel_times "$L" "$R/build/site_a" "$R/build/site_nrl" "$R/build/site_nrlz"
stamp "kernel times"
pack
gemm_ab_round 1 "$L" 64,128 "$R/build/site_a" "$R/build/site_nrl" "$R/build/site_nrlz"
gemm_ab_round 2 "$L" 64,128 "$R/build/site_nrlz" "$R/build/site_nrl" "$R/build/site_a"
stamp "rounds 1 and 2"
pack
gemm_ncu_forms "$L" "$R/build/site_a"
stamp ncu
pack
candidate_suite "$R/build/src_nrlz" nrlz
stamp "suite on nrlz"
pack
gemm_ab_round _small "$L" 16,32 "$R/build/site_a" "$R/build/site_nrl" "$R/build/site_nrlz"
stamp "bs 16 and 32"
pack

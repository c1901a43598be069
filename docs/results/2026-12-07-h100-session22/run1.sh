#!/usr/bin/env bash
# Session 22, run 1: session 21's next_run.sh cut to fit what refused starts left of the budget.
# Two trees only: a (this tree) and nrlz (the four patches of
# ../2026-12-07-h100-session21/, applied in order: np, r, la, z; predictions there). The nrl tree
# and the Nsight Compute pass are dropped. Order by what landing needs: the bs 64/128 rounds, the
# GEMM checks, the whole suite on nrlz, then bs 16/32 and the per-kernel times.
R=$PWD
S=$R/docs/results/2026-12-07-h100-session21
source scripts/ab_tree.sh
ab_run_start
CAND=nrlz gemm_candidate_builds "$S/cand_no_prefetch.patch" "$S/cand_rank_order.patch" \
  "$S/cand_look_ahead.patch" "$S/cand_scale_zero.patch"
gemm_ab_round 1 "$L" 64,128 "$R/build/site_a" "$R/build/site_nrlz"
gemm_ab_round 2 "$L" 64,128 "$R/build/site_nrlz" "$R/build/site_a"
stamp "rounds 1 and 2"
pack
gemm_checks "$R/build/src_nrlz" "$L" nrlz
stamp checks
pack
candidate_suite "$R/build/src_nrlz" nrlz
stamp "suite on nrlz"
pack
gemm_ab_round _small "$L" 16,32 "$R/build/site_a" "$R/build/site_nrlz"
stamp "bs 16 and 32"
pack
gemm_kernel_times "$L" "$R/build/site_a" "$R/build/site_nrlz"
stamp "kernel times"
pack

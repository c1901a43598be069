#!/usr/bin/env bash
# Session 20, call 5: run4.sh cut to the device time left after call 4 was lost (the machine was
# taken back mid-run; nothing came back). The item walk (g) has landed since (call 3 measured it
# and ran its GEMM tests), so a is g and dyn is gp less g: cand_prefetch.patch. Prediction as in
# run4.sh. From the
# repository root, carry ["third_party"]:  bash docs/results/2026-12-07-h100-session20/run5.sh
# Order: builds, gp's GEMM tests and sanitizers, two A/B rounds (bs 64/128, opposite orders), then
# gp's whole ctest and pytest suites; each step stamped and packed.
R=$PWD
D=$R/docs/results/2026-12-07-h100-session20
source scripts/ab_tree.sh
ab_run_start
gemm_candidate_builds $D/cand_prefetch.patch
gemm_checks $R/build/src_dyn $L dyn
stamp checks
pack
gemm_ab_round 1 "$L" 64,128 "$R/build/site_a" "$R/build/site_dyn"
stamp "round 1"
pack
gemm_ab_round 2 "$L" 64,128 "$R/build/site_dyn" "$R/build/site_a"
stamp "round 2"
pack
(cd $R/build/src_dyn && STEPS="cpp python" LOG_DIR="$L/suite_dyn" BUILD_DIR=build/gpu \
  bash scripts/gpu_check.sh 2>&1 | tail -n 4)
stamp "suite on gp"
pack

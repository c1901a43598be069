#!/usr/bin/env bash
# Session 19, device call 5: the GEMM tests and sanitizers on this tree, which adds cand_w0.patch
# (stages freed as soon as their batch is done) to run 4's tree, whose full suite passed.
# From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session19/run5.sh    # about 250 s
source scripts/ab_tree.sh
ab_run_start
(STEPS="build sass" LOG_DIR=$L/suite bash scripts/gpu_check.sh > $L/suite_build.txt 2>&1)
stamp build
tail -n 2 $L/suite_build.txt
pack
gemm_checks $PWD $L w
stamp checks
pack

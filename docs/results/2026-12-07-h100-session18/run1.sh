#!/usr/bin/env bash
# Session 18's second and third device calls. From the repository root, carry ["third_party"]:
#   bash docs/results/2026-12-07-h100-session18/run1.sh [candidate patch]    # about 550 s
# The candidate (default cand_dyn3.patch here: GEMM step 12 with the claims' costs moved off the
# critical path) against this tree: builds (a and dyn one-config, bs 16/32/64/128; dyn in full),
# GEMM A/B rounds 1 and 2 at bs 64 and 128 in opposite order and one round at bs 16 and 32, then
# the full suite on dyn (C++, Python, sanitizers) in whatever time is left. Every step packs
# $OUT/results.tgz.
R=$PWD
CANDIDATE=$(realpath "${1:-docs/results/2026-12-07-h100-session18/cand_dyn3.patch}")
source scripts/ab_tree.sh
ab_run_start
gemm_candidate_builds "$CANDIDATE"
gemm_ab_rounds
left=$(( 575 - ($(date +%s) - ab_started) ))
(cd $R/build/src_dyn && STEPS="cpp python sanitize" LOG_DIR=$L/suite_dyn \
  timeout $left bash scripts/gpu_check.sh 2>&1 | tail -n 7 > $L/suite_dyn.txt)
stamp "suite (limit $left s)"
cat $L/suite_dyn.txt
grep -E "^=========     at " $L/suite_dyn/sanitize.log | sed 's/+0x[0-9a-f]*//' | sort | uniq -c | head
pack
